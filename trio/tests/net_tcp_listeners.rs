//! `open_tcp_listeners` / `TcpListen`, `SocketListener::bind` and `serve_tcp`.
//! Ported from Python Trio's `src/trio/_tests/test_highlevel_open_tcp_listeners.py`
//! (each test names the one it ports), with its fake socket factory and resolver.
//!
//! Not ported: `test_open_tcp_listeners_port_checking` and
//! `test_open_tcp_listeners_backlog_float_error` (argument types are checked by
//! the compiler: the port is a `u16`, the backlog a `u32`).
#![cfg(unix)] // checks the Unix socket options trio sets, on fake sockets (TCP listeners on Windows are exercised by net_serve, net_open_tcp_stream and net_socket_stream)

mod net_support;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;

use net_support::{can_bind_ipv6, os_error};
use trio::abc::{AsyncResource, Listener, ReceiveStream, SendStream};
use trio::net::socket::{
    AddrInfo, AddrInfoHints, BoxFuture, CustomSocket, Domain, HostnameResolver, Protocol, SockAddr,
    Socket, SocketFactory, Type, set_custom_hostname_resolver, set_custom_socket_factory,
};
use trio::net::{SocketListener, SocketStream, TcpListen, open_tcp_listeners, serve_tcp};
use trio::{Error, ErrorKind};

/// Trio's `open_stream_to_socket_listener`: connect to a listener, replacing a
/// wildcard address by the loopback address of its family.
async fn open_stream_to(listener: &SocketListener) -> trio::Result<SocketStream> {
    let addr = listener.local_addr()?;
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::from([127, 0, 0, 1]),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::from([0, 0, 0, 0, 0, 0, 0, 1]),
        ip => ip,
    };
    trio::net::open_tcp_stream(&ip.to_string(), addr.port()).await
}

// Ported from test_open_tcp_listeners_basic.
#[trio::test]
async fn open_tcp_listeners_basic() -> trio::Result<()> {
    let listeners = open_tcp_listeners(0, None).await?;
    assert!(!listeners.is_empty());
    for l in &listeners {
        // Binds to the wildcard addresses by default.
        assert!(l.local_addr()?.ip().is_unspecified());
        assert!([Domain::IPV4, Domain::IPV6].contains(&l.socket().domain()));
    }
    if can_bind_ipv6() {
        let families: Vec<Domain> = listeners.iter().map(|l| l.socket().domain()).collect();
        assert!(families.contains(&Domain::IPV4) && families.contains(&Domain::IPV6));
        // Each IPv6 listener is IPv6-only.
        for l in listeners
            .iter()
            .filter(|l| l.socket().domain() == Domain::IPV6)
        {
            assert_eq!(l.socket().option(libc::IPPROTO_IPV6, libc::IPV6_V6ONLY)?, 1);
        }
    }
    for l in &listeners {
        assert_ne!(l.socket().option(libc::SOL_SOCKET, libc::SO_REUSEADDR)?, 0);
    }

    let listener = &listeners[0];
    // The backlog is at least 2.
    let c1 = open_stream_to(listener).await?;
    let c2 = open_stream_to(listener).await?;
    let s1 = listener.accept().await?;
    let s2 = listener.accept().await?;
    // We don't know which client is connected to which server stream.
    s1.send_all(b"x").await?;
    s2.send_all(b"x").await?;
    let mut buf = [0u8; 1];
    assert_eq!(c1.receive_some(&mut buf).await?, 1);
    assert_eq!(c2.receive_some(&mut buf).await?, 1);
    for r in [&c1, &c2, &s1, &s2] {
        r.aclose().await?;
    }
    for l in &listeners {
        l.aclose().await?;
    }
    Ok(())
}

// Ported from test_open_tcp_listeners_specific_port_specific_host.
#[trio::test]
async fn open_tcp_listeners_specific_port_specific_host() -> trio::Result<()> {
    // Pick a port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let listeners = open_tcp_listeners(port, Some("127.0.0.1")).await?;
    assert_eq!(listeners.len(), 1);
    assert_eq!(
        listeners[0].local_addr()?,
        SocketAddr::from(([127, 0, 0, 1], port))
    );
    Ok(())
}

// Ported from test_open_tcp_listeners_ipv6_v6only (skipped without ::1).
#[trio::test]
async fn open_tcp_listeners_ipv6_v6only() -> trio::Result<()> {
    if !can_bind_ipv6() {
        eprintln!("skipped: cannot bind ::1");
        return Ok(());
    }
    let listeners = open_tcp_listeners(0, Some("::1")).await?;
    assert_eq!(listeners.len(), 1);
    let port = listeners[0].local_addr()?.port();
    let e = trio::net::open_tcp_stream("127.0.0.1", port)
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains(&format!(
            "all attempts to connect to 127.0.0.1:{port} failed"
        )),
        "{e}"
    );
    Ok(())
}

// Ported from test_open_tcp_listeners_rebind.
#[trio::test]
async fn open_tcp_listeners_rebind() -> trio::Result<()> {
    let l1 = open_tcp_listeners(0, Some("127.0.0.1")).await?.remove(0);
    let sockaddr1 = l1.local_addr()?;

    // Plain old rebinding while it's still there fails, even with SO_REUSEADDR.
    let probe = socket2::Socket::new(Domain::IPV4, Type::STREAM, None)?;
    probe.set_reuse_address(true)?;
    let e = probe.bind(&sockaddr1.into()).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::AddrInUse);

    // Connections in various states do not stop a second listener from binding
    // once the first one is closed.
    let c_established = open_stream_to(&l1).await?;
    let s_established = l1.accept().await?;
    let c_time_wait = open_stream_to(&l1).await?;
    let s_time_wait = l1.accept().await?;
    // A server-initiated close leaves the socket in TIME_WAIT.
    s_time_wait.aclose().await?;
    l1.aclose().await?;

    let l2 = open_tcp_listeners(sockaddr1.port(), Some("127.0.0.1"))
        .await?
        .remove(0);
    let sockaddr2 = l2.local_addr()?;
    assert_eq!(sockaddr1, sockaddr2);
    assert_eq!(s_established.local_addr()?, sockaddr2);
    assert_eq!(c_time_wait.peer_addr()?, sockaddr2);
    for r in [&c_established, &s_established, &c_time_wait] {
        r.aclose().await?;
    }
    l2.aclose().await
}

// SocketListener::bind is the one-address form of the same.
#[trio::test]
async fn socket_listener_bind_sets_the_same_options() -> trio::Result<()> {
    let l = SocketListener::bind("127.0.0.1:0".parse().unwrap())?;
    assert_ne!(l.local_addr()?.port(), 0);
    assert!(l.socket().is_listening()?);
    assert_ne!(l.socket().option(libc::SOL_SOCKET, libc::SO_REUSEADDR)?, 0);
    if can_bind_ipv6() {
        let l6 = SocketListener::bind("[::1]:0".parse().unwrap())?;
        assert_eq!(
            l6.socket().option(libc::IPPROTO_IPV6, libc::IPV6_V6ONLY)?,
            1
        );
    }
    Ok(())
}

// ---- Trio's fakes -----------------------------------------------------------

#[derive(Debug, Default)]
struct FakeState {
    closed: Cell<bool>,
    poison_listen: Cell<bool>,
    backlog: Cell<Option<i32>>,
}

#[derive(Debug)]
struct FakeSocket {
    domain: Domain,
    ty: Type,
    protocol: Option<Protocol>,
    state: Rc<FakeState>,
}

impl CustomSocket for FakeSocket {
    fn domain(&self) -> Domain {
        self.domain
    }
    fn ty(&self) -> Type {
        self.ty
    }
    fn protocol(&self) -> Option<Protocol> {
        self.protocol
    }
    fn option(&self, level: i32, name: i32, buf: &mut [u8]) -> trio::Result<usize> {
        assert_eq!((level, name), (libc::SOL_SOCKET, libc::SO_ACCEPTCONN));
        buf[..4].copy_from_slice(&1i32.to_ne_bytes());
        Ok(4)
    }
    fn set_option(&self, _: i32, _: i32, _: &[u8]) -> trio::Result<()> {
        Ok(())
    }
    fn bind(&self, _: &SockAddr) -> trio::Result<()> {
        Ok(())
    }
    fn listen(&self, backlog: i32) -> trio::Result<()> {
        assert!(self.state.backlog.get().is_none());
        self.state.backlog.set(Some(backlog));
        if self.state.poison_listen.get() {
            return Err(std::io::Error::other("whoops").into());
        }
        Ok(())
    }
    fn close(&self) {
        self.state.closed.set(true);
    }
}

#[derive(Debug, Default)]
struct FakeSocketFactory {
    poison_after: Cell<i32>,
    sockets: RefCell<Vec<(Domain, Rc<FakeState>)>>,
    raise_on_family: HashMap<i32, i32>,
}

impl FakeSocketFactory {
    fn new(poison_after: i32) -> FakeSocketFactory {
        FakeSocketFactory {
            poison_after: Cell::new(poison_after),
            ..Default::default()
        }
    }
}

impl SocketFactory for FakeSocketFactory {
    fn socket(&self, domain: Domain, ty: Type, protocol: Option<Protocol>) -> trio::Result<Socket> {
        if let Some(&errno) = self.raise_on_family.get(&i32::from(domain)) {
            return Err(Error::from(std::io::Error::from_raw_os_error(errno))
                .context(ErrorKind::Io, "nope"));
        }
        let state = Rc::new(FakeState::default());
        self.poison_after.set(self.poison_after.get() - 1);
        if self.poison_after.get() == 0 {
            state.poison_listen.set(true);
        }
        self.sockets.borrow_mut().push((domain, state.clone()));
        Ok(Socket::from_custom(FakeSocket {
            domain,
            ty,
            protocol,
            state,
        }))
    }
}

#[derive(Debug)]
struct FakeHostnameResolver {
    addrs: Vec<IpAddr>,
}

impl HostnameResolver for FakeHostnameResolver {
    fn getaddrinfo<'a>(
        &'a self,
        _host: Option<&'a str>,
        port: u16,
        _hints: AddrInfoHints,
    ) -> BoxFuture<'a, trio::Result<Vec<AddrInfo>>> {
        Box::pin(async move {
            Ok(self
                .addrs
                .iter()
                .map(|ip| AddrInfo::new(SocketAddr::new(*ip, port), Type::STREAM, None))
                .collect())
        })
    }
}

fn v4(i: u8) -> IpAddr {
    IpAddr::from([i, i, i, i])
}

fn v6(i: u16) -> IpAddr {
    IpAddr::from([0, 0, 0, 0, 0, 0, 0, i])
}

// Ported from test_open_tcp_listeners_multiple_host_cleanup_on_error.
#[trio::test]
async fn open_tcp_listeners_multiple_host_cleanup_on_error() -> trio::Result<()> {
    let fsf = Rc::new(FakeSocketFactory::new(3));
    set_custom_socket_factory(Some(fsf.clone()))?;
    set_custom_hostname_resolver(Some(Rc::new(FakeHostnameResolver {
        addrs: vec![v4(1), v4(2), v4(3)],
    })))?;
    let e = open_tcp_listeners(80, Some("example.org"))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("whoops"), "{e}");
    let sockets = fsf.sockets.borrow();
    assert_eq!(sockets.len(), 3);
    for (_, s) in sockets.iter() {
        assert!(s.closed.get(), "every socket was closed");
    }
    Ok(())
}

// Ported from test_open_tcp_listeners_some_address_families_unavailable (all
// nine combinations).
#[trio::test]
async fn open_tcp_listeners_some_address_families_unavailable() -> trio::Result<()> {
    let families = [
        vec![Domain::IPV4],
        vec![Domain::IPV6],
        vec![Domain::IPV4, Domain::IPV6],
    ];
    for try_families in &families {
        for fail_families in &families {
            let fsf = Rc::new(FakeSocketFactory {
                poison_after: Cell::new(10),
                raise_on_family: fail_families
                    .iter()
                    .map(|d| (i32::from(*d), libc::EAFNOSUPPORT))
                    .collect(),
                ..Default::default()
            });
            set_custom_socket_factory(Some(fsf.clone()))?;
            let addrs = try_families
                .iter()
                .map(|d| if *d == Domain::IPV4 { v4(1) } else { v6(1) })
                .collect();
            set_custom_hostname_resolver(Some(Rc::new(FakeHostnameResolver { addrs })))?;

            let mut should_succeed: Vec<Domain> = try_families
                .iter()
                .copied()
                .filter(|d| !fail_families.contains(d))
                .collect();
            if should_succeed.is_empty() {
                let e = open_tcp_listeners(80, Some("example.org"))
                    .await
                    .unwrap_err();
                assert_eq!(e.kind(), ErrorKind::Io);
                assert!(e.to_string().contains("This system doesn't support"), "{e}");
                // The cause lists every unsupported family.
                let cause = std::error::Error::source(&e)
                    .unwrap()
                    .downcast_ref::<Error>()
                    .unwrap();
                let subs: Vec<&Error> = if cause.kind() == ErrorKind::Group {
                    cause.errors().iter().collect()
                } else {
                    vec![cause]
                };
                assert_eq!(subs.len(), try_families.len());
                for sub in subs {
                    assert!(sub.to_string().contains("nope"));
                    assert_eq!(os_error(sub), Some(libc::EAFNOSUPPORT));
                }
            } else {
                // Numeric: `None` resolves to the system's wildcards, not the fake
                // resolver (as in Trio).
                let listeners = if try_families.len() == 2 {
                    open_tcp_listeners(80, None).await?
                } else {
                    open_tcp_listeners(80, Some("example.org")).await?
                };
                for l in &listeners {
                    let d = l.socket().domain();
                    let i = should_succeed.iter().position(|x| *x == d).unwrap();
                    should_succeed.remove(i);
                }
                assert!(should_succeed.is_empty());
            }
        }
    }
    Ok(())
}

// Ported from test_open_tcp_listeners_socket_fails_not_afnosupport.
#[trio::test]
async fn open_tcp_listeners_socket_fails_not_afnosupport() -> trio::Result<()> {
    let fsf = Rc::new(FakeSocketFactory {
        poison_after: Cell::new(10),
        raise_on_family: [
            (i32::from(Domain::IPV4), libc::EAFNOSUPPORT),
            (i32::from(Domain::IPV6), libc::EINVAL),
        ]
        .into_iter()
        .collect(),
        ..Default::default()
    });
    set_custom_socket_factory(Some(fsf))?;
    set_custom_hostname_resolver(Some(Rc::new(FakeHostnameResolver {
        addrs: vec![v4(1), v6(1)],
    })))?;
    let e = open_tcp_listeners(80, Some("example.org"))
        .await
        .unwrap_err();
    assert_eq!(os_error(&e), Some(libc::EINVAL));
    assert!(e.to_string().contains("nope"));
    assert!(!e.to_string().contains("doesn't support"));
    Ok(())
}

// Ported from test_open_tcp_listeners_backlog.
#[trio::test]
async fn open_tcp_listeners_backlog() -> trio::Result<()> {
    let fsf = Rc::new(FakeSocketFactory::new(99));
    set_custom_socket_factory(Some(fsf.clone()))?;
    for (given, expected) in [
        (None, 0xFFFF),
        (Some(99_999_999), 0xFFFF),
        (Some(10), 10),
        (Some(1), 1),
    ] {
        let before = fsf.sockets.borrow().len();
        let mut b = TcpListen::new(0);
        if let Some(g) = given {
            b = b.backlog(g);
        }
        let listeners = b.open().await?;
        assert!(!listeners.is_empty());
        let sockets = fsf.sockets.borrow();
        assert_eq!(sockets.len() - before, listeners.len());
        for (_, s) in &sockets[before..] {
            assert_eq!(s.backlog.get(), Some(expected));
        }
    }
    Ok(())
}

// Ported from test_serve_tcp.
#[trio::test]
async fn serve_tcp_hands_back_the_listeners() -> trio::Result<()> {
    let handler = async |s: SocketStream| s.send_all(b"x").await;
    trio::open_nursery(async |n| {
        let listeners = n
            .start(async |status| serve_tcp(handler, 0).task_status(status).await)
            .await?;
        assert!(!listeners.is_empty());
        let stream = open_stream_to(&listeners[0]).await?;
        let mut buf = [0u8; 1];
        assert_eq!(stream.receive_some(&mut buf).await?, 1);
        assert_eq!(&buf, b"x");
        n.cancel_scope().cancel();
        Ok(())
    })
    .await?;
    Ok(())
}

/// A port in use: the error says which address, whichever way it was bound.
#[trio::test]
async fn a_busy_port_names_the_address() -> trio::Result<()> {
    let taken = SocketListener::bind("127.0.0.1:0".parse().unwrap())?;
    let port = taken.local_addr()?.port();
    let busy = format!("binding to 127.0.0.1:{port}");
    let check = |e: Error| {
        assert_eq!(e.kind(), ErrorKind::Io);
        assert_eq!(os_error(&e), Some(libc::EADDRINUSE), "{e:?}");
        let text = e.to_string();
        assert!(text.contains(&busy), "{text}");
        assert!(text.contains("address already in use"), "{text}");
    };
    check(SocketListener::bind(format!("127.0.0.1:{port}").parse().unwrap()).unwrap_err());
    check(
        open_tcp_listeners(port, Some("127.0.0.1"))
            .await
            .unwrap_err(),
    );
    let handler = async |_s: SocketStream| Ok(());
    check(
        serve_tcp(handler, port)
            .host("127.0.0.1")
            .await
            .unwrap_err(),
    );
    let e = trio::net::LoopListener::handoff(format!("127.0.0.1:{port}").parse().unwrap(), 1)
        .unwrap_err();
    check(e);
    drop(taken);
    Ok(())
}
