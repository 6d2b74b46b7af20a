//! `open_tcp_stream` / `TcpConnect` (happy eyeballs). Ported from Python Trio's
//! `src/trio/_tests/test_highlevel_open_tcp_stream.py` (each test names the one it
//! ports): a few real loopback tests, then the fake-network scenarios, run under
//! the mock clock with Trio's scripted socket factory and resolver.
//!
//! Not ported: `test_close_all` (a Python helper; here every attempt owns its
//! socket, which is closed when dropped — checked by every scenario),
//! `test_reorder_for_rfc_6555_section_5_4` and `test_format_host_port` (ported as
//! unit tests in `src/net/tcp_connect.rs`), `test_open_tcp_stream_input_validation`
//! (the host is a `&str` and the port a `u16`).

mod net_support;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use net_support::os_error;
use trio::abc::{AsyncResource, ReceiveStream, SendStream};
use trio::net::socket::{
    AddrInfo, AddrInfoHints, BoxFuture, CustomSocket, Domain, HostnameResolver, Protocol, SockAddr,
    Socket, SocketFactory, Type, set_custom_hostname_resolver, set_custom_socket_factory,
};
use trio::net::{SocketStream, TcpConnect, open_tcp_stream};
use trio::testing::MockClock;
use trio::{Error, ErrorKind, Instant, current_time};

// ---- real sockets -----------------------------------------------------------------

// Ported from test_open_tcp_stream_real_socket_smoketest.
#[trio::test]
async fn real_socket_smoketest() -> trio::Result<()> {
    let listen_sock = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    listen_sock.bind("127.0.0.1:0".parse::<SocketAddr>().unwrap())?;
    listen_sock.listen(1)?;
    let port = listen_sock.local_addr()?.as_socket().unwrap().port();
    let client_stream = open_tcp_stream("127.0.0.1", port).await?;
    let (server_sock, _) = listen_sock.accept().await?;
    client_stream.send_all(b"x").await?;
    let mut buf = [0u8; 1];
    assert_eq!(server_sock.recv(&mut buf).await?, 1);
    assert_eq!(&buf, b"x");
    client_stream.aclose().await?;
    Ok(())
}

// A real name, resolved on a worker thread ("localhost" may also give ::1, which
// is refused at once: the next address is tried without waiting).
#[trio::test]
async fn real_host_name() -> trio::Result<()> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let s = open_tcp_stream("localhost", port).await?;
    assert_eq!(s.peer_addr()?, listener.local_addr()?);
    Ok(())
}

fn can_bind_127_0_0_2() -> bool {
    std::net::TcpListener::bind("127.0.0.2:0").is_ok()
}

// Ported from test_local_address_real.
#[trio::test]
async fn local_address_real() -> trio::Result<()> {
    let listener = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    listener.bind("127.0.0.1:0".parse::<SocketAddr>().unwrap())?;
    listener.listen(8)?;
    let port = listener.local_addr()?.as_socket().unwrap().port();

    // On Linux any 127.x.y.z is loopback, so a non-default local address can be
    // tested for real; elsewhere this is only a smoke test.
    let local: IpAddr = if can_bind_127_0_0_2() {
        "127.0.0.2".parse().unwrap()
    } else {
        "127.0.0.1".parse().unwrap()
    };
    let client = TcpConnect::new("127.0.0.1", port)
        .local_address(local)
        .connect()
        .await?;
    assert_eq!(client.local_addr()?.ip(), local);
    #[cfg(any(target_os = "linux", target_os = "android"))]
    assert_ne!(
        client
            .socket()
            .option(libc::IPPROTO_IP, libc::IP_BIND_ADDRESS_NO_PORT)?,
        0
    );
    let (server, remote) = listener.accept().await?;
    assert_eq!(remote.as_socket().unwrap().ip(), local);
    client.aclose().await?;
    drop(server);

    // An IPv4 target with the IPv6 wildcard as local address fails.
    let e = TcpConnect::new("127.0.0.1", port)
        .local_address("::".parse().unwrap())
        .connect()
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains(&format!(
            "all attempts to connect to 127.0.0.1:{port} failed"
        )),
        "{e}"
    );
    let cause = std::error::Error::source(&e)
        .unwrap()
        .downcast_ref::<Error>()
        .unwrap();
    assert!(
        cause
            .to_string()
            .contains("is incompatible with remote address"),
        "{cause}"
    );

    // But the IPv4 wildcard works.
    let client = TcpConnect::new("127.0.0.1", port)
        .local_address("0.0.0.0".parse().unwrap())
        .connect()
        .await?;
    let (server, remote) = listener.accept().await?;
    assert_eq!(remote.as_socket(), Some(client.local_addr()?));
    drop(server);
    Ok(())
}

// ---- the fake network ---------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq)]
enum Outcome {
    Success,
    Error,
    PostconnectFail,
}
use Outcome::*;

#[derive(Debug, Default)]
struct FakeState {
    ip: Cell<Option<IpAddr>>,
    port: Cell<Option<u16>>,
    succeeded: Cell<bool>,
    closed: Cell<bool>,
    failing: Cell<bool>,
}

#[derive(Debug)]
struct FakeSocket {
    scenario: Rc<Scenario>,
    domain: Domain,
    state: Rc<FakeState>,
}

impl CustomSocket for FakeSocket {
    fn domain(&self) -> Domain {
        self.domain
    }
    fn ty(&self) -> Type {
        Type::STREAM
    }
    fn connect<'a>(&'a self, addr: &'a SockAddr) -> BoxFuture<'a, trio::Result<()>> {
        Box::pin(async move {
            let addr = addr.as_socket().unwrap();
            let ip = addr.ip();
            self.state.ip.set(Some(ip));
            self.state.port.set(Some(addr.port()));
            let sc = &self.scenario;
            assert!(!sc.sockets.borrow().contains_key(&ip));
            sc.sockets.borrow_mut().insert(ip, self.state.clone());
            sc.connect_times
                .borrow_mut()
                .insert(ip, current_time() - Instant::ZERO);
            let (delay, result) = sc.ip_dict[&ip];
            trio::sleep(delay).await?;
            match result {
                Error => return Err(std::io::Error::other("sorry").into()),
                PostconnectFail => self.state.failing.set(true),
                Success => {}
            }
            self.state.succeeded.set(true);
            Ok(())
        })
    }
    fn peer_addr(&self) -> trio::Result<SockAddr> {
        Ok(SocketAddr::new(self.state.ip.get().unwrap(), self.state.port.get().unwrap()).into())
    }
    fn close(&self) {
        self.state.closed.set(true);
    }
    // Called when the SocketStream is made.
    fn set_option(&self, _: i32, _: i32, _: &[u8]) -> trio::Result<()> {
        if self.state.failing.get() {
            // Not an OS error: SocketStream passes it on.
            return Err(trio::Error::new(ErrorKind::Other, "KeyboardInterrupt"));
        }
        Ok(())
    }
}

#[derive(Debug)]
struct Scenario {
    port: u16,
    ip_order: Vec<IpAddr>,
    ip_dict: HashMap<IpAddr, (Duration, Outcome)>,
    supported: Vec<Domain>,
    socket_count: Cell<usize>,
    sockets: RefCell<HashMap<IpAddr, Rc<FakeState>>>,
    connect_times: RefCell<HashMap<IpAddr, Duration>>,
    me: RefCell<std::rc::Weak<Scenario>>,
}

impl SocketFactory for Scenario {
    fn socket(&self, domain: Domain, ty: Type, protocol: Option<Protocol>) -> trio::Result<Socket> {
        assert_eq!(ty, Type::STREAM);
        let _ = protocol;
        if !self.supported.contains(&domain) {
            return Err(std::io::Error::other("pretending not to support this family").into());
        }
        self.socket_count.set(self.socket_count.get() + 1);
        Ok(Socket::from_custom(FakeSocket {
            scenario: self.me.borrow().upgrade().unwrap(),
            domain,
            state: Rc::new(FakeState::default()),
        }))
    }
}

impl HostnameResolver for Scenario {
    fn getaddrinfo<'a>(
        &'a self,
        host: Option<&'a str>,
        port: u16,
        hints: AddrInfoHints,
    ) -> BoxFuture<'a, trio::Result<Vec<AddrInfo>>> {
        Box::pin(async move {
            assert_eq!(host, Some("test.example.com"));
            assert_eq!(port, self.port);
            assert_eq!(hints.domain, None);
            assert_eq!(hints.ty, Some(Type::STREAM));
            assert_eq!(hints.protocol, None);
            assert_eq!(hints.flags, 0);
            Ok(self
                .ip_order
                .iter()
                .map(|ip| {
                    AddrInfo::new(
                        SocketAddr::new(*ip, self.port),
                        Type::STREAM,
                        Some(Protocol::TCP),
                    )
                })
                .collect())
        })
    }
}

impl Scenario {
    /// Every socket made was connected; every one but the winner is closed.
    fn check(&self, succeeded: Option<IpAddr>) {
        assert_eq!(self.socket_count.get(), self.sockets.borrow().len());
        for (ip, s) in self.sockets.borrow().iter() {
            assert!(self.ip_dict.contains_key(ip));
            if Some(*ip) != succeeded {
                assert!(s.closed.get(), "{ip} was not closed");
            } else {
                assert!(!s.closed.get(), "the winner {ip} was closed");
            }
            assert_eq!(s.port.get(), Some(self.port));
        }
    }

    fn times(&self) -> HashMap<IpAddr, Duration> {
        self.connect_times.borrow().clone()
    }
}

struct Options {
    ipv4_supported: bool,
    ipv6_supported: bool,
    delay: Option<Duration>,
}

const DEFAULTS: Options = Options {
    ipv4_supported: true,
    ipv6_supported: true,
    delay: None,
};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Trio's `run_scenario`: install the fake network, connect to
/// "test.example.com", and check the sockets.
async fn run_scenario(
    port: u16,
    ip_list: &[(&str, Duration, Outcome)],
    opts: Options,
) -> (trio::Result<SocketStream>, Rc<Scenario>) {
    let mut supported = Vec::new();
    if opts.ipv4_supported {
        supported.push(Domain::IPV4);
    }
    if opts.ipv6_supported {
        supported.push(Domain::IPV6);
    }
    let ip_order: Vec<IpAddr> = ip_list.iter().map(|(s, _, _)| ip(s)).collect();
    let ip_dict: HashMap<_, _> = ip_list.iter().map(|(s, d, r)| (ip(s), (*d, *r))).collect();
    assert_eq!(ip_dict.len(), ip_order.len(), "ips must be unique");
    let scenario = Rc::new(Scenario {
        port,
        ip_order,
        ip_dict,
        supported,
        socket_count: Cell::new(0),
        sockets: RefCell::new(HashMap::new()),
        connect_times: RefCell::new(HashMap::new()),
        me: RefCell::new(std::rc::Weak::new()),
    });
    *scenario.me.borrow_mut() = Rc::downgrade(&scenario);
    set_custom_hostname_resolver(Some(scenario.clone())).unwrap();
    set_custom_socket_factory(Some(scenario.clone())).unwrap();

    let mut b = TcpConnect::new("test.example.com", port);
    if let Some(d) = opts.delay {
        b = b.happy_eyeballs_delay(d);
    }
    let r = b.connect().await;
    match &r {
        Ok(stream) => scenario.check(Some(stream.peer_addr().unwrap().ip())),
        Err(e) if e.is_cancelled() => {}
        Err(_) => scenario.check(None),
    }
    (r, scenario)
}

fn at(d: Duration) -> Instant {
    Instant::ZERO + d
}

fn winner(r: &trio::Result<SocketStream>) -> IpAddr {
    r.as_ref().unwrap().peer_addr().unwrap().ip()
}

// Ported from test_one_host_quick_success.
#[trio::test(autojump)]
async fn one_host_quick_success(_c: MockClock) {
    let (r, _) = run_scenario(80, &[("1.2.3.4", ms(123), Success)], DEFAULTS).await;
    assert_eq!(winner(&r), ip("1.2.3.4"));
    assert_eq!(current_time(), at(ms(123)));
}

// Ported from test_one_host_slow_success.
#[trio::test(autojump)]
async fn one_host_slow_success(_c: MockClock) {
    let (r, _) = run_scenario(81, &[("1.2.3.4", ms(100_000), Success)], DEFAULTS).await;
    assert_eq!(winner(&r), ip("1.2.3.4"));
    assert_eq!(current_time(), at(ms(100_000)));
}

// Ported from test_one_host_quick_fail.
#[trio::test(autojump)]
async fn one_host_quick_fail(_c: MockClock) {
    let (r, _) = run_scenario(82, &[("1.2.3.4", ms(123), Error)], DEFAULTS).await;
    assert_eq!(r.unwrap_err().kind(), ErrorKind::Io);
    assert_eq!(current_time(), at(ms(123)));
}

// Ported from test_one_host_slow_fail.
#[trio::test(autojump)]
async fn one_host_slow_fail(_c: MockClock) {
    let (r, _) = run_scenario(83, &[("1.2.3.4", ms(100_000), Error)], DEFAULTS).await;
    assert_eq!(r.unwrap_err().kind(), ErrorKind::Io);
    assert_eq!(current_time(), at(ms(100_000)));
}

// Ported from test_one_host_failed_after_connect.
#[trio::test(autojump)]
async fn one_host_failed_after_connect(_c: MockClock) {
    let (r, _) = run_scenario(83, &[("1.2.3.4", ms(1000), PostconnectFail)], DEFAULTS).await;
    let e = r.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Other);
    assert_eq!(e.to_string(), "KeyboardInterrupt");
}

// Ported from test_basic_fallthrough: with the default 250 ms delay, the third
// attempt wins.
#[trio::test(autojump)]
async fn basic_fallthrough(_c: MockClock) {
    let (r, sc) = run_scenario(
        80,
        &[
            ("1.1.1.1", ms(1000), Success),
            ("2.2.2.2", ms(1000), Success),
            ("3.3.3.3", ms(200), Success),
        ],
        DEFAULTS,
    )
    .await;
    assert_eq!(winner(&r), ip("3.3.3.3"));
    assert_eq!(current_time(), at(ms(250 + 250 + 200)));
    assert_eq!(
        sc.times(),
        HashMap::from([
            (ip("1.1.1.1"), ms(0)),
            (ip("2.2.2.2"), ms(250)),
            (ip("3.3.3.3"), ms(500)),
        ])
    );
}

// Ported from test_early_success.
#[trio::test(autojump)]
async fn early_success(_c: MockClock) {
    let (r, sc) = run_scenario(
        80,
        &[
            ("1.1.1.1", ms(1000), Success),
            ("2.2.2.2", ms(100), Success),
            ("3.3.3.3", ms(200), Success),
        ],
        DEFAULTS,
    )
    .await;
    assert_eq!(winner(&r), ip("2.2.2.2"));
    assert_eq!(current_time(), at(ms(250 + 100)));
    // 3.3.3.3 was never even started.
    assert_eq!(
        sc.times(),
        HashMap::from([(ip("1.1.1.1"), ms(0)), (ip("2.2.2.2"), ms(250))])
    );
}

// Ported from test_custom_delay: with a 450 ms delay, the first attempt wins.
#[trio::test(autojump)]
async fn custom_delay(_c: MockClock) {
    let (r, sc) = run_scenario(
        80,
        &[
            ("1.1.1.1", ms(1000), Success),
            ("2.2.2.2", ms(1000), Success),
            ("3.3.3.3", ms(200), Success),
        ],
        Options {
            delay: Some(ms(450)),
            ..DEFAULTS
        },
    )
    .await;
    assert_eq!(winner(&r), ip("1.1.1.1"));
    assert_eq!(current_time(), at(ms(1000)));
    assert_eq!(
        sc.times(),
        HashMap::from([
            (ip("1.1.1.1"), ms(0)),
            (ip("2.2.2.2"), ms(450)),
            (ip("3.3.3.3"), ms(900)),
        ])
    );
}

// Ported from test_none_default: asking for the default delay explicitly is the
// same as test_basic_fallthrough.
#[trio::test(autojump)]
async fn explicit_default_delay(_c: MockClock) {
    let (r, sc) = run_scenario(
        80,
        &[
            ("1.1.1.1", ms(1000), Success),
            ("2.2.2.2", ms(1000), Success),
            ("3.3.3.3", ms(200), Success),
        ],
        Options {
            delay: Some(trio::net::DEFAULT_HAPPY_EYEBALLS_DELAY),
            ..DEFAULTS
        },
    )
    .await;
    assert_eq!(winner(&r), ip("3.3.3.3"));
    assert_eq!(current_time(), at(ms(250 + 250 + 200)));
    assert_eq!(
        sc.times(),
        HashMap::from([
            (ip("1.1.1.1"), ms(0)),
            (ip("2.2.2.2"), ms(250)),
            (ip("3.3.3.3"), ms(500)),
        ])
    );
}

// Ported from test_custom_errors_expedite: a failure starts the next attempt at once.
#[trio::test(autojump)]
async fn errors_expedite(_c: MockClock) {
    let (r, sc) = run_scenario(
        80,
        &[
            ("1.1.1.1", ms(100), Error),
            ("2.2.2.2", ms(200), Error),
            ("3.3.3.3", ms(10_000), Success),
            // 250 ms is the default delay.
            ("4.4.4.4", ms(250), Success),
        ],
        DEFAULTS,
    )
    .await;
    assert_eq!(winner(&r), ip("4.4.4.4"));
    assert_eq!(current_time(), at(ms(100 + 200 + 250 + 250)));
    assert_eq!(
        sc.times(),
        HashMap::from([
            (ip("1.1.1.1"), ms(0)),
            (ip("2.2.2.2"), ms(100)),
            (ip("3.3.3.3"), ms(100 + 200)),
            (ip("4.4.4.4"), ms(100 + 200 + 250)),
        ])
    );
}

// Ported from test_all_fail: the error keeps every attempt's error.
#[trio::test(autojump)]
async fn all_fail(_c: MockClock) {
    let (r, sc) = run_scenario(
        80,
        &[
            ("1.1.1.1", ms(100), Error),
            ("2.2.2.2", ms(200), Error),
            ("3.3.3.3", ms(10_000), Error),
            ("4.4.4.4", ms(250), Error),
        ],
        DEFAULTS,
    )
    .await;
    let e = r.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io);
    // Every attempt's reason, in the order they failed.
    assert_eq!(
        e.to_string(),
        "I/O error: all attempts to connect to test.example.com:80 failed: sorry; sorry; sorry; sorry"
    );
    let group = std::error::Error::source(&e)
        .unwrap()
        .downcast_ref::<Error>()
        .unwrap();
    assert_eq!(group.kind(), ErrorKind::Group);
    assert_eq!(group.errors().len(), 4);
    for sub in group.errors() {
        assert_eq!(sub.kind(), ErrorKind::Io);
        assert!(sub.to_string().ends_with("sorry"), "{sub}");
    }
    assert_eq!(current_time(), at(ms(100 + 200 + 10_000)));
    assert_eq!(
        sc.times(),
        HashMap::from([
            (ip("1.1.1.1"), ms(0)),
            (ip("2.2.2.2"), ms(100)),
            (ip("3.3.3.3"), ms(100 + 200)),
            (ip("4.4.4.4"), ms(100 + 200 + 250)),
        ])
    );
}

// Ported from test_multi_success.
#[trio::test(autojump)]
async fn multi_success(_c: MockClock) {
    let (r, sc) = run_scenario(
        80,
        &[
            ("1.1.1.1", ms(500), Error),
            ("2.2.2.2", ms(10_000), Success),
            ("3.3.3.3", ms(10_000 - 1000), Success),
            ("4.4.4.4", ms(10_000 - 2000), Success),
            ("5.5.5.5", ms(500), Error),
        ],
        Options {
            delay: Some(ms(1000)),
            ..DEFAULTS
        },
    )
    .await;
    let sockets = sc.sockets.borrow();
    assert!(!sockets[&ip("1.1.1.1")].succeeded.get());
    assert!(
        sockets[&ip("2.2.2.2")].succeeded.get()
            || sockets[&ip("3.3.3.3")].succeeded.get()
            || sockets[&ip("4.4.4.4")].succeeded.get()
    );
    assert!(!sockets[&ip("5.5.5.5")].succeeded.get());
    assert!([ip("2.2.2.2"), ip("3.3.3.3"), ip("4.4.4.4")].contains(&winner(&r)));
    assert_eq!(current_time(), at(ms(500 + 10_000)));
    assert_eq!(
        sc.times(),
        HashMap::from([
            (ip("1.1.1.1"), ms(0)),
            (ip("2.2.2.2"), ms(500)),
            (ip("3.3.3.3"), ms(1500)),
            (ip("4.4.4.4"), ms(2500)),
            (ip("5.5.5.5"), ms(3500)),
        ])
    );
}

// Ported from test_does_reorder: the second attempt uses the other family.
#[trio::test(autojump)]
async fn does_reorder(_c: MockClock) {
    let (r, sc) = run_scenario(
        80,
        &[
            ("1.1.1.1", ms(10_000), Error),
            // This would win if we tried it first...
            ("2.2.2.2", ms(1000), Success),
            // ...but this is tried first, being of the other family.
            ("::3", ms(500), Success),
        ],
        Options {
            delay: Some(ms(1000)),
            ..DEFAULTS
        },
    )
    .await;
    assert_eq!(winner(&r), ip("::3"));
    assert_eq!(current_time(), at(ms(1000 + 500)));
    assert_eq!(
        sc.times(),
        HashMap::from([(ip("1.1.1.1"), ms(0)), (ip("::3"), ms(1000))])
    );
}

// Ported from test_handles_no_ipv4: the IPv4 sockets fail at creation.
#[trio::test(autojump)]
async fn handles_no_ipv4(_c: MockClock) {
    let (r, sc) = run_scenario(
        80,
        &[
            ("::1", ms(10_000), Success),
            ("2.2.2.2", ms(0), Success),
            ("::3", ms(100), Success),
            ("4.4.4.4", ms(0), Success),
        ],
        Options {
            delay: Some(ms(1000)),
            ipv4_supported: false,
            ..DEFAULTS
        },
    )
    .await;
    assert_eq!(winner(&r), ip("::3"));
    assert_eq!(current_time(), at(ms(1000 + 100)));
    assert_eq!(
        sc.times(),
        HashMap::from([(ip("::1"), ms(0)), (ip("::3"), ms(1000))])
    );
}

// Ported from test_handles_no_ipv6.
#[trio::test(autojump)]
async fn handles_no_ipv6(_c: MockClock) {
    let (r, sc) = run_scenario(
        80,
        &[
            ("::1", ms(0), Success),
            ("2.2.2.2", ms(10_000), Success),
            ("::3", ms(0), Success),
            ("4.4.4.4", ms(100), Success),
        ],
        Options {
            delay: Some(ms(1000)),
            ipv6_supported: false,
            ..DEFAULTS
        },
    )
    .await;
    assert_eq!(winner(&r), ip("4.4.4.4"));
    assert_eq!(current_time(), at(ms(1000 + 100)));
    assert_eq!(
        sc.times(),
        HashMap::from([(ip("2.2.2.2"), ms(0)), (ip("4.4.4.4"), ms(1000))])
    );
}

// Ported from test_no_hosts.
#[trio::test(autojump)]
async fn no_hosts(_c: MockClock) {
    let (r, _) = run_scenario(80, &[], DEFAULTS).await;
    let e = r.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io);
    assert!(e.to_string().contains("no results found"), "{e}");
}

// Ported from test_cancel: cancelled from outside, every socket is closed.
#[trio::test(autojump)]
async fn cancel(_c: MockClock) {
    let scenario = RefCell::new(None);
    let r = trio::move_on_after(Duration::from_secs(5), async {
        let (r, sc) = run_scenario(
            80,
            &[
                ("1.1.1.1", ms(10_000), Success),
                ("2.2.2.2", ms(10_000), Success),
                ("3.3.3.3", ms(10_000), Success),
                ("4.4.4.4", ms(10_000), Success),
            ],
            DEFAULTS,
        )
        .await;
        *scenario.borrow_mut() = Some(sc);
        // What comes out is the cancellation of this scope.
        let e = r.unwrap_err();
        assert!(e.is_cancelled());
        Err::<(), _>(e)
    })
    .await
    .unwrap();
    assert_eq!(r, None, "the scope caught its cancellation");
    assert_eq!(current_time(), at(Duration::from_secs(5)));
    let sc = scenario.into_inner().unwrap();
    assert_eq!(sc.times().len(), 4);
    sc.check(None);
}

// Errors that are not OS errors are not attempt failures: they stop everything.
#[trio::test(autojump)]
async fn a_non_os_error_stops_everything(_c: MockClock) {
    #[derive(Debug)]
    struct Broken;
    impl SocketFactory for Broken {
        fn socket(&self, _: Domain, _: Type, _: Option<Protocol>) -> trio::Result<Socket> {
            Err(trio::Error::new(ErrorKind::Usage, "factory bug"))
        }
    }
    set_custom_socket_factory(Some(Rc::new(Broken))).unwrap();
    let e = open_tcp_stream("127.0.0.1", 80).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Usage);
    assert_eq!(os_error(&e), None);
}

// The winner is a working stream (a real socket behind the fake resolver).
#[trio::test]
async fn resolver_and_real_sockets() -> trio::Result<()> {
    #[derive(Debug)]
    struct To(SocketAddr);
    impl HostnameResolver for To {
        fn getaddrinfo<'a>(
            &'a self,
            _: Option<&'a str>,
            _: u16,
            _: AddrInfoHints,
        ) -> BoxFuture<'a, trio::Result<Vec<AddrInfo>>> {
            Box::pin(async move { Ok(vec![AddrInfo::new(self.0, Type::STREAM, None)]) })
        }
    }
    let listener = trio::net::SocketListener::bind("127.0.0.1:0".parse().unwrap())?;
    set_custom_hostname_resolver(Some(Rc::new(To(listener.local_addr()?))))?;
    let s = open_tcp_stream("my.service", 1).await?;
    let server = trio::abc::Listener::accept(&listener).await?;
    s.send_all(b"hi").await?;
    let mut buf = [0u8; 2];
    assert_eq!(server.receive_some(&mut buf).await?, 2);
    Ok(())
}

/// The `Display` of a refused connection says so — with the address — not only
/// its `Debug` chain.
#[trio::test]
async fn a_refused_connection_says_connection_refused() -> trio::Result<()> {
    // A port nobody listens on: bind one, then close it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let e = trio::net::open_tcp_stream("127.0.0.1", port)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io);
    let text = e.to_string();
    assert!(
        text.starts_with("I/O error: all attempts to connect to"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "error connecting to 127.0.0.1:{port}: connection refused"
        )),
        "{text}"
    );
    // Said once, not twice.
    assert_eq!(text.matches("connection refused").count(), 1, "{text}");
    Ok(())
}
