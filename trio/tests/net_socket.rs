//! `trio::net::socket`: the low-level socket layer. Ported from Python Trio's
//! `src/trio/_tests/test_socket.py` where it applies (each test names the one it
//! ports); loopback and socket pairs only.
//!
//! Not ported: `test__try_sync` (an internal helper; its behaviour is covered by
//! `non_blocking_paths`), `test_socket_has_some_reexports`, `test_from_fd`,
//! `test_fromshare`, `test_sniff_sockopts` (Python construction details; see
//! `from_socket2_keeps_family_and_type`), `test_SocketType_dup`, the
//! `test_SocketType_resolve` / `test_SocketType_unresolved_names` address-resolution
//! tests (our `bind`/`connect` take resolved addresses: resolution is
//! `getaddrinfo`'s job, tested below), `test_idna` (IDNA is not implemented),
//! `test_getnameinfo` / `test_getprotobyname` (not implemented),
//! `test_SocketType_is_abstract` (a Python-only concern), `recvmsg`/`sendmsg`
//! variants, and the `setsockopt` argument-type errors (the type system).
#![cfg(unix)] // the low-level socket layer with Unix options, fds and socket pairs

mod net_support;

use std::cell::{Cell, RefCell};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::Duration;

use net_support::{TempDir, can_bind_ipv6, io_kind, os_error};
use trio::lowlevel::checkpoint;
use trio::net::socket::{
    AddrInfo, AddrInfoHints, BoxFuture, CustomSocket, Domain, GaiError, HostnameResolver, Protocol,
    SockAddr, Socket, SocketFactory, Type, getaddrinfo, set_custom_hostname_resolver,
    set_custom_socket_factory,
};
use trio::testing::assert_checkpoints;
use trio::testing::wait_all_tasks_blocked;
use trio::{CancelScope, ErrorKind};

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn pair() -> (Socket, Socket) {
    Socket::pair(Domain::UNIX, Type::STREAM, None).unwrap()
}

// Ported from test_socketpair_simple.
#[trio::test]
async fn socketpair_simple() -> trio::Result<()> {
    let (a, b) = pair();
    let mut buf = [0u8; 8];
    let (a, b, buf) = (&a, &b, &mut buf);
    trio::open_nursery(async |n| {
        n.start_soon(async move {
            assert_eq!(a.send(b"x").await?, 1);
            Ok(())
        })?;
        assert_eq!(b.recv(buf).await?, 1);
        Ok(())
    })
    .await?;
    assert_eq!(buf[0], b'x');
    Ok(())
}

// Ported from test_SocketType_basics.
#[trio::test]
async fn socket_basics() -> trio::Result<()> {
    let sock = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    assert!(sock.as_raw_fd() >= 0);
    assert!(!sock.is_closed());
    // Non-blocking and close-on-exec.
    assert!(sock.as_socket2(|s| s.nonblocking())?);
    // SAFETY: a valid fd; F_GETFD has no other effect.
    let flags = unsafe { libc::fcntl(sock.as_raw_fd(), libc::F_GETFD) };
    assert_ne!(flags & libc::FD_CLOEXEC, 0);

    sock.set_option(libc::IPPROTO_TCP, libc::TCP_NODELAY, 0)?;
    assert_eq!(sock.option(libc::IPPROTO_TCP, libc::TCP_NODELAY)?, 0);
    sock.set_option(libc::IPPROTO_TCP, libc::TCP_NODELAY, 1)?;
    assert_ne!(sock.option(libc::IPPROTO_TCP, libc::TCP_NODELAY)?, 0);
    assert!(!format!("{sock:?}").is_empty());

    // Closed sockets have fd -1 and refuse everything.
    sock.close();
    assert_eq!(sock.as_raw_fd(), -1);
    assert!(sock.is_closed());
    sock.close(); // twice is fine
    assert_eq!(
        sock.local_addr().unwrap_err().kind(),
        ErrorKind::ClosedResource
    );
    assert_eq!(
        sock.set_option(libc::IPPROTO_TCP, libc::TCP_NODELAY, 1)
            .unwrap_err()
            .kind(),
        ErrorKind::ClosedResource
    );

    // Detach.
    let sock = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    let fd = sock.as_raw_fd();
    let raw = sock.into_socket2()?;
    assert_eq!(raw.as_raw_fd(), fd);
    Ok(())
}

// Ported from test_SocketType_basics (the "type family proto" part) and
// test_from_stdlib_socket.
#[trio::test]
async fn from_socket2_keeps_family_and_type() -> trio::Result<()> {
    let std_sock = socket2::Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    assert!(!std_sock.nonblocking()?);
    let sock = Socket::from_socket2(std_sock)?;
    assert_eq!(sock.domain(), Domain::IPV4);
    assert_eq!(sock.ty(), Type::DGRAM);
    assert_eq!(sock.protocol(), Some(Protocol::UDP));
    assert!(sock.as_socket2(|s| s.nonblocking())?);

    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let sock = Socket::from_socket2(listener.into())?;
    assert!(sock.is_listening()?);
    assert_eq!(sock.local_addr()?.as_socket().unwrap().port(), port);
    Ok(())
}

// Ported from test_SocketType_setsockopt (the option paths that exist here).
#[trio::test]
async fn setsockopt_with_bytes_and_ints() -> trio::Result<()> {
    let sock = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    sock.set_option_bytes(libc::IPPROTO_TCP, libc::TCP_NODELAY, &1i32.to_ne_bytes())?;
    let mut buf = [0u8; 4];
    assert_eq!(
        sock.option_bytes(libc::IPPROTO_TCP, libc::TCP_NODELAY, &mut buf)?,
        4
    );
    assert_ne!(i32::from_ne_bytes(buf), 0);
    // An unknown option is an OS error.
    let e = sock.set_option(libc::IPPROTO_TCP, 9999, 1).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io);
    assert_eq!(os_error(&e), Some(libc::ENOPROTOOPT));
    Ok(())
}

// Ported from test_SocketType_shutdown.
#[trio::test]
async fn shutdown() -> trio::Result<()> {
    let mut buf = [0u8; 1];
    let (a, b) = pair();
    a.send(b"x").await?;
    assert_eq!(b.recv(&mut buf).await?, 1);
    assert!(!a.did_shutdown_write());
    assert!(!b.did_shutdown_write());
    a.shutdown(Shutdown::Write)?;
    assert!(a.did_shutdown_write());
    assert!(!b.did_shutdown_write());
    assert_eq!(b.recv(&mut buf).await?, 0);
    b.send(b"y").await?;
    assert_eq!(a.recv(&mut buf).await?, 1);
    assert_eq!(&buf, b"y");

    let (a, _b) = pair();
    a.shutdown(Shutdown::Read)?;
    assert!(!a.did_shutdown_write());

    let (a, _b) = pair();
    a.shutdown(Shutdown::Both)?;
    assert!(a.did_shutdown_write());
    Ok(())
}

async fn simple_server(domain: Domain, bind: SocketAddr) -> trio::Result<()> {
    let listener = Socket::new(domain, Type::STREAM, None)?;
    let client = Socket::new(domain, Type::STREAM, None)?;
    listener.bind(bind)?;
    listener.listen(20)?;
    let laddr = listener.local_addr()?;
    let (client_ref, laddr_ref) = (&client, &laddr);
    let (server, client_addr) = trio::open_nursery(async |n| {
        n.start_soon(async move { client_ref.connect(laddr_ref.clone()).await })?;
        listener.accept().await
    })
    .await?
    .expect("the body returned");
    assert_eq!(client_addr.as_socket(), server.peer_addr()?.as_socket());
    assert_eq!(client_addr.as_socket(), client.local_addr()?.as_socket());
    server.send(b"x").await?;
    let mut buf = [0u8; 1];
    assert_eq!(client.recv(&mut buf).await?, 1);
    assert_eq!(&buf, b"x");
    Ok(())
}

// Ported from test_SocketType_simple_server (IPv4).
#[trio::test]
async fn simple_server_ipv4() -> trio::Result<()> {
    simple_server(Domain::IPV4, addr("127.0.0.1:0")).await
}

// Ported from test_SocketType_simple_server (IPv6, skipped without ::1).
#[trio::test]
async fn simple_server_ipv6() -> trio::Result<()> {
    if !can_bind_ipv6() {
        eprintln!("skipped: cannot bind ::1");
        return Ok(());
    }
    simple_server(Domain::IPV6, addr("[::1]:0")).await
}

/// True if this run's stream sockets receive and send as io_uring operations.
fn ring_operations() -> bool {
    cfg!(target_os = "linux")
        && trio::lowlevel::current_io_backend() == trio::lowlevel::IoBackend::Uring
}

// Ported from test_SocketType_is_readable.
#[trio::test]
async fn is_readable() -> trio::Result<()> {
    let (a, b) = pair();
    assert!(!a.is_readable()?);
    b.send(b"x").await?;
    a.wait_readable().await?;
    assert!(a.is_readable()?);
    let mut buf = [0u8; 1];
    assert_eq!(a.recv(&mut buf).await?, 1);
    assert!(!a.is_readable()?);
    Ok(())
}

// Ported from test_SocketType_non_blocking_paths: every path through the
// try-then-wait loop, with `recv` standing in for all operations.
#[trio::test]
async fn non_blocking_paths() -> trio::Result<()> {
    if ring_operations() {
        // Readiness semantics (the try-then-wait loop): on the io_uring
        // reactor a stream receive is a ring operation that holds its place in
        // the kernel (`net_uring_ops` tests that model).
        println!("skipped: stream receives are ring operations on this run");
        return Ok(());
    }
    let (ta, tb) = pair();
    let mut buf = [0u8; 10];

    // Cancelled before even calling: nothing consumed.
    tb.send(b"1").await?;
    let scope = CancelScope::new();
    scope.cancel();
    let r = scope
        .run(async { ta.recv(&mut buf).await.map(|_| ()) })
        .await?;
    assert_eq!(r, None);
    // Immediate success (and the cancelled attempt read nothing): still a
    // schedule point.
    let n = assert_checkpoints(ta.recv(&mut buf)).await?;
    assert_eq!(&buf[..n], b"1");

    // Block, then succeed.
    let (ta, tb) = (&ta, &tb);
    trio::open_nursery(async |n| {
        n.start_soon(async move {
            let mut buf = [0u8; 10];
            let n = assert_checkpoints(ta.recv(&mut buf)).await?;
            assert_eq!(&buf[..n], b"2");
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        tb.send(b"2").await?;
        Ok(())
    })
    .await?;

    // Block, then cancelled: nothing consumed.
    trio::open_nursery(async |n| {
        n.start_soon(async move {
            let mut buf = [0u8; 10];
            let e = ta.recv(&mut buf).await.unwrap_err();
            assert!(e.is_cancelled());
            Err(e)
        })?;
        wait_all_tasks_blocked().await?;
        n.cancel_scope().cancel();
        Ok(())
    })
    .await?;
    tb.send(b"3").await?;
    let n = ta.recv(&mut buf).await?;
    assert_eq!(&buf[..n], b"3", "the cancelled recv consumed nothing");

    // Woken, but the data was stolen meanwhile: go back to sleep and try again.
    // Two tasks each wait on one socket; both are woken at once and whichever
    // runs first steals the other's data.
    let (ra, rb) = (&ta, &tb);
    trio::open_nursery(async |n| {
        n.start_soon(async move {
            let mut buf = [0u8; 1];
            assert_eq!(assert_checkpoints(ra.recv(&mut buf)).await?, 1);
            assert_eq!(&buf, b"a");
            assert_eq!(assert_checkpoints(rb.recv(&mut buf)).await?, 1);
            assert_eq!(&buf, b"b");
            Ok(())
        })?;
        n.start_soon(async move {
            let mut buf = [0u8; 1];
            assert_eq!(assert_checkpoints(rb.recv(&mut buf)).await?, 1);
            assert_eq!(&buf, b"b");
            assert_eq!(assert_checkpoints(ra.recv(&mut buf)).await?, 1);
            assert_eq!(&buf, b"a");
            Ok(())
        })?;
        // `ra` is fed by `tb`, `rb` by `ta`; the sends are plain system calls
        // (no schedule point between them), as in Trio's test.
        let feed = || -> trio::Result<()> {
            tb.as_socket2(|s| s.send(b"a"))?;
            ta.as_socket2(|s| s.send(b"b"))?;
            Ok(())
        };
        wait_all_tasks_blocked().await?;
        feed()?;
        wait_all_tasks_blocked().await?;
        feed()?;
        Ok(())
    })
    .await?;
    Ok(())
}

// Ported from test_SocketType_connect_paths: cancelled before we start.
#[trio::test]
async fn connect_cancelled_before_start_closes_the_socket() -> trio::Result<()> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let sock = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    let scope = CancelScope::new();
    scope.cancel();
    let r = scope.run(sock.connect(listener.local_addr()?)).await?;
    assert_eq!(r, None);
    assert!(sock.is_closed(), "a cancelled connect closes the socket");
    assert_eq!(sock.as_raw_fd(), -1);
    Ok(())
}

/// A loopback listener whose accept queue is full, so that further connects stay
/// in progress (Linux drops the SYN), plus the connections that filled it.
fn clogged_listener() -> (std::net::TcpListener, Vec<socket2::Socket>) {
    let listener = socket2::Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    listener.bind(&addr("127.0.0.1:0").into()).unwrap();
    listener.listen(0).unwrap();
    let target: SockAddr = listener.local_addr().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..4 {
        let s = socket2::Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        s.set_nonblocking(true).unwrap();
        let _ = s.connect(&target);
        fillers.push(s);
    }
    (listener.into(), fillers)
}

// Ported from test_SocketType_connect_paths: cancelled in between the connect()
// call and the connect completing (a real in-progress connect on loopback).
#[trio::test]
async fn connect_cancelled_while_in_progress_closes_the_socket() -> trio::Result<()> {
    let (listener, _fillers) = clogged_listener();
    let target = listener.local_addr()?;
    for _ in 0..16 {
        let sock = Socket::new(Domain::IPV4, Type::STREAM, None)?;
        let r = trio::move_on_after(Duration::from_millis(200), sock.connect(target)).await?;
        if r.is_none() {
            assert!(sock.is_closed(), "a cancelled connect closes the socket");
            assert_eq!(sock.as_raw_fd(), -1);
            return Ok(());
        }
    }
    panic!("every connect completed: could not clog the listener's accept queue");
}

// Ported from test_SocketType_connect_paths (failed connect) and
// test_address_in_socket_error.
#[trio::test]
async fn failed_connect_names_the_address() -> trio::Result<()> {
    // A port nobody listens on: bind one, then close it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let sock = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    let e = sock
        .connect(addr(&format!("127.0.0.1:{port}")))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io);
    assert_eq!(io_kind(&e), Some(std::io::ErrorKind::ConnectionRefused));
    assert_eq!(os_error(&e), Some(libc::ECONNREFUSED));
    assert!(
        e.to_string()
            .contains(&format!("error connecting to 127.0.0.1:{port}")),
        "{e}"
    );
    // A failed (not cancelled) connect leaves the socket open, as in Trio.
    assert!(!sock.is_closed());
    // And the error converts to an io::Error of the right kind.
    let io: std::io::Error = e.into();
    assert_eq!(io.kind(), std::io::ErrorKind::ConnectionRefused);
    Ok(())
}

// Ported from test_send_recv_variants (the datagram part).
#[trio::test]
async fn datagram_send_to_recv_from_and_connected() -> trio::Result<()> {
    let a = Socket::new(Domain::IPV4, Type::DGRAM, None)?;
    let b = Socket::new(Domain::IPV4, Type::DGRAM, None)?;
    a.bind(addr("127.0.0.1:0"))?;
    b.bind(addr("127.0.0.1:0"))?;
    assert_eq!(a.send_to(b"xxx", b.local_addr()?).await?, 3);
    let mut buf = [0u8; 10];
    let (n, from) = b.recv_from(&mut buf).await?;
    assert_eq!(&buf[..n], b"xxx");
    assert_eq!(from.as_socket(), a.local_addr()?.as_socket());

    // send on a connected UDP socket; each call creates a separate datagram.
    let a = Socket::new(Domain::IPV4, Type::DGRAM, None)?;
    a.connect(b.local_addr()?).await?;
    a.send(b"xxx").await?;
    a.send(b"yyy").await?;
    assert_eq!(b.recv(&mut buf).await?, 3);
    assert_eq!(&buf[..3], b"xxx");
    assert_eq!(b.recv(&mut buf).await?, 3);
    assert_eq!(&buf[..3], b"yyy");
    Ok(())
}

// Ported from test_unix_domain_socket.
#[trio::test]
async fn unix_domain_socket() -> trio::Result<()> {
    let dir = TempDir::new("unix-socket");
    for name in ["sock", "sock1"] {
        let path = dir.path(name);
        let lsock = Socket::new(Domain::UNIX, Type::STREAM, None)?;
        lsock.bind(SockAddr::unix(&path)?)?;
        lsock.listen(10)?;
        let csock = Socket::new(Domain::UNIX, Type::STREAM, None)?;
        csock.connect(SockAddr::unix(&path)?).await?;
        let (ssock, _) = lsock.accept().await?;
        csock.send(b"x").await?;
        let mut buf = [0u8; 1];
        assert_eq!(ssock.recv(&mut buf).await?, 1);
        assert_eq!(&buf, b"x");
    }
    Ok(())
}

// Ported from test_interrupted_by_close: closing a socket wakes the tasks blocked
// on it, with ClosedResource.
#[trio::test]
async fn interrupted_by_close() -> trio::Result<()> {
    let (a, _b) = pair();
    // Fill the send buffer so that a send blocks.
    let data = vec![b'x'; 99_999];
    a.as_socket2(|s| {
        loop {
            match s.send(&data) {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    })?;
    let (a, data) = (&a, &data);
    trio::open_nursery(async |n| {
        n.start_soon(async move {
            let e = a.send(data).await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::ClosedResource);
            Ok(())
        })?;
        n.start_soon(async move {
            let mut buf = [0u8; 1];
            let e = a.recv(&mut buf).await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::ClosedResource);
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        a.close();
        Ok(())
    })
    .await?;
    Ok(())
}

// Ported from test_many_sockets: many fds waited on at once, then cancelled.
#[trio::test]
async fn many_sockets() -> trio::Result<()> {
    let mut socks = Vec::new();
    for _ in 0..250 {
        let (a, b) = pair();
        socks.push(a);
        socks.push(b);
    }
    let socks = &socks;
    trio::open_nursery(async |n| {
        for s in socks {
            n.start_soon(async move {
                let e = s.wait_readable().await.unwrap_err();
                assert!(e.is_cancelled());
                Err(e)
            })?;
        }
        wait_all_tasks_blocked().await?;
        n.cancel_scope().cancel();
        Ok(())
    })
    .await?;
    Ok(())
}

// Trio: "another task is already waiting" (wait_readable's BusyResource) for
// every operation that would have to wait while another task waits in the same
// direction; the refused call does not disturb the waiting task.
#[trio::test]
async fn a_second_waiter_in_one_direction_is_busy() -> trio::Result<()> {
    let (a, b) = pair();
    let listener = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    listener.bind(addr("127.0.0.1:0"))?;
    listener.listen(8)?;
    let (a, b, listener) = (&a, &b, &listener);
    trio::open_nursery(async |n| {
        n.start_soon(async move {
            let mut buf = [0u8; 1];
            assert_eq!(a.recv(&mut buf).await?, 1);
            assert_eq!(&buf, b"w");
            Ok(())
        })?;
        n.start_soon(async move {
            let (conn, _) = listener.accept().await?;
            drop(conn);
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        let mut buf = [0u8; 1];
        let e = a.recv(&mut buf).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BusyResource);
        let e = listener.accept().await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BusyResource);
        let e = a.wait_readable().await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BusyResource);
        // The other direction is free.
        a.send(b"ok").await?;
        // The waiting tasks are still woken by their events.
        b.send(b"w").await?;
        let c = Socket::new(Domain::IPV4, Type::STREAM, None)?;
        c.connect(listener.local_addr()?).await?;
        Ok(())
    })
    .await?;
    let mut buf = [0u8; 4];
    assert_eq!(b.recv(&mut buf).await?, 2);
    // Once the waiter is gone, the direction is free again.
    let r = trio::move_on_after(Duration::from_millis(1), a.recv(&mut buf)).await?;
    assert!(r.is_none());
    Ok(())
}

// A call refused as busy still succeeds if it does not have to wait (Trio tries
// the call before waiting).
#[trio::test]
async fn a_call_that_need_not_wait_is_not_busy() -> trio::Result<()> {
    if ring_operations() {
        // Readiness semantics (the try-then-wait loop): on the io_uring
        // reactor a stream receive is a ring operation that holds its place in
        // the kernel (`net_uring_ops` tests that model).
        println!("skipped: stream receives are ring operations on this run");
        return Ok(());
    }
    let (a, b) = pair();
    let (a, b) = (&a, &b);
    trio::open_nursery(async |n| {
        n.start_soon(async move {
            let mut buf = [0u8; 1];
            let e = a.recv(&mut buf).await.unwrap_err();
            assert!(e.is_cancelled());
            Err(e)
        })?;
        wait_all_tasks_blocked().await?;
        // Data arrives; before the waiter runs, another task takes it.
        b.as_socket2(|s| s.send(b"q"))?;
        let mut buf = [0u8; 1];
        assert_eq!(a.recv(&mut buf).await?, 1);
        assert_eq!(&buf, b"q");
        n.cancel_scope().cancel();
        Ok(())
    })
    .await?;
    Ok(())
}

#[derive(Debug, Default)]
struct FakeState {
    closed: Cell<bool>,
    bound: RefCell<Option<SocketAddr>>,
}

#[derive(Debug)]
struct FakeSock {
    domain: Domain,
    ty: Type,
    protocol: Option<Protocol>,
    state: Rc<FakeState>,
}

impl CustomSocket for FakeSock {
    fn domain(&self) -> Domain {
        self.domain
    }
    fn ty(&self) -> Type {
        self.ty
    }
    fn protocol(&self) -> Option<Protocol> {
        self.protocol
    }
    fn bind(&self, addr: &SockAddr) -> trio::Result<()> {
        *self.state.bound.borrow_mut() = addr.as_socket();
        Ok(())
    }
    fn close(&self) {
        self.state.closed.set(true);
    }
}

/// What the factory was asked for, and the state of what it made.
type Made = (Domain, Type, Option<Protocol>, Rc<FakeState>);

#[derive(Debug, Default)]
struct Factory {
    made: RefCell<Vec<Made>>,
}

impl SocketFactory for Factory {
    fn socket(&self, domain: Domain, ty: Type, protocol: Option<Protocol>) -> trio::Result<Socket> {
        let state = Rc::new(FakeState::default());
        self.made
            .borrow_mut()
            .push((domain, ty, protocol, state.clone()));
        Ok(Socket::from_custom(FakeSock {
            domain,
            ty,
            protocol,
            state,
        }))
    }
}

// Ported from test_custom_socket_factory.
#[trio::test]
async fn custom_socket_factory() -> trio::Result<()> {
    let f = Rc::new(Factory::default());
    assert!(set_custom_socket_factory(Some(f.clone()))?.is_none());

    let s = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    assert!(s.is_custom());
    let s2 = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP))?;
    assert_eq!(s2.domain(), Domain::IPV6);
    assert_eq!(s2.protocol(), Some(Protocol::UDP));
    {
        let made = f.made.borrow();
        assert_eq!(made.len(), 2);
        assert_eq!(
            (made[0].0, made[0].1, made[0].2),
            (Domain::IPV4, Type::STREAM, None)
        );
        assert_eq!(
            (made[1].0, made[1].1, made[1].2),
            (Domain::IPV6, Type::DGRAM, Some(Protocol::UDP))
        );
    }
    // Operations reach the custom socket; what it does not implement is an
    // "unsupported" I/O error.
    s.bind(addr("1.2.3.4:5"))?;
    assert_eq!(
        *f.made.borrow()[0].3.bound.borrow(),
        Some(addr("1.2.3.4:5"))
    );
    let e = s.listen(5).unwrap_err();
    assert_eq!(io_kind(&e), Some(std::io::ErrorKind::Unsupported));
    // Closing (or dropping) reaches it once.
    s.close();
    assert!(f.made.borrow()[0].3.closed.get());
    assert_eq!(
        s.bind(addr("1.2.3.4:5")).unwrap_err().kind(),
        ErrorKind::ClosedResource
    );
    drop(s2);
    assert!(f.made.borrow()[1].3.closed.get());

    // Sockets made from existing ones do not go through the factory.
    let (a, b) = pair();
    assert!(!a.is_custom() && !b.is_custom());
    let std_sock = socket2::Socket::new(Domain::IPV4, Type::STREAM, None)?;
    assert!(!Socket::from_socket2(std_sock)?.is_custom());
    assert!(!Socket::new_os(Domain::IPV4, Type::STREAM, None)?.is_custom());
    assert_eq!(f.made.borrow().len(), 2);

    // Restoring hands the old factory back.
    let old = set_custom_socket_factory(None)?.expect("the factory");
    assert!(Rc::ptr_eq(&old, &(f.clone() as Rc<dyn SocketFactory>)));
    assert!(!Socket::new(Domain::IPV4, Type::STREAM, None)?.is_custom());
    Ok(())
}

#[derive(Debug, Default)]
struct Resolver {
    calls: RefCell<Vec<(Option<String>, u16, AddrInfoHints)>>,
}

impl HostnameResolver for Resolver {
    fn getaddrinfo<'a>(
        &'a self,
        host: Option<&'a str>,
        port: u16,
        hints: AddrInfoHints,
    ) -> BoxFuture<'a, trio::Result<Vec<AddrInfo>>> {
        Box::pin(async move {
            checkpoint().await?;
            self.calls
                .borrow_mut()
                .push((host.map(String::from), port, hints));
            Ok(vec![AddrInfo::new(addr("10.1.2.3:99"), Type::STREAM, None)])
        })
    }
}

// Ported from test_custom_hostname_resolver.
#[trio::test]
async fn custom_hostname_resolver() -> trio::Result<()> {
    let r = Rc::new(Resolver::default());
    assert!(set_custom_hostname_resolver(Some(r.clone()))?.is_none());
    // The arguments are passed through.
    for hints in [
        AddrInfoHints {
            domain: Some(Domain::IPV4),
            ..Default::default()
        },
        AddrInfoHints {
            ty: Some(Type::STREAM),
            ..Default::default()
        },
        AddrInfoHints {
            protocol: Some(Protocol::TCP),
            ..Default::default()
        },
        AddrInfoHints {
            flags: libc::AI_CANONNAME,
            ..Default::default()
        },
    ] {
        let got = getaddrinfo(Some("localhost"), 80, hints).await?;
        assert_eq!(got[0].addr, addr("10.1.2.3:99"));
        assert_eq!(
            r.calls.borrow().last().unwrap(),
            &(Some("localhost".to_string()), 80, hints)
        );
    }
    // Numeric hosts never reach it.
    let got = getaddrinfo(Some("127.0.0.1"), 80, AddrInfoHints::default()).await?;
    assert!(got.iter().all(|ai| ai.addr == addr("127.0.0.1:80")));
    assert_eq!(r.calls.borrow().len(), 4);

    // Set it back: the system answers again.
    let old = set_custom_hostname_resolver(None)?.expect("the resolver");
    assert!(Rc::ptr_eq(&old, &(r.clone() as Rc<dyn HostnameResolver>)));
    let got = getaddrinfo(
        Some("localhost"),
        80,
        AddrInfoHints {
            domain: Some(Domain::IPV4),
            ty: Some(Type::STREAM),
            ..Default::default()
        },
    )
    .await?;
    assert!(got.iter().any(|ai| ai.addr.ip().is_loopback()));
    assert_eq!(r.calls.borrow().len(), 4);
    Ok(())
}

// Ported from test_getaddrinfo (numeric addresses, no host, errors).
#[trio::test]
async fn getaddrinfo_numeric_and_errors() -> trio::Result<()> {
    let stream = AddrInfoHints {
        ty: Some(Type::STREAM),
        ..Default::default()
    };
    let got = getaddrinfo(Some("127.0.0.1"), 12345, stream).await?;
    assert_eq!(
        got,
        vec![AddrInfo::new(
            addr("127.0.0.1:12345"),
            Type::STREAM,
            Some(Protocol::TCP)
        )]
    );
    let got = getaddrinfo(Some("::1"), 12345, stream).await?;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].addr, addr("[::1]:12345"));

    // No host, passive: the wildcards.
    let passive = AddrInfoHints {
        flags: libc::AI_PASSIVE,
        ..stream
    };
    let got = getaddrinfo(None, 80, passive).await?;
    assert!(got.iter().all(|ai| ai.addr.ip().is_unspecified()));
    assert!(!got.is_empty());

    // A name that cannot be resolved: a GaiError inside.
    let e = getaddrinfo(Some("1.2:3"), 80, stream).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io);
    let io = std::error::Error::source(&e)
        .and_then(|s| s.downcast_ref::<std::io::Error>())
        .expect("an io::Error");
    assert!(io.get_ref().unwrap().downcast_ref::<GaiError>().is_some());

    // A NUL in the host is an invalid argument.
    let e = getaddrinfo(Some("a\0b"), 80, stream).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);

    // A checkpoint: cancelled before it starts.
    let scope = CancelScope::new();
    scope.cancel();
    let r = scope
        .run(async { getaddrinfo(Some("127.0.0.1"), 80, stream).await.map(drop) })
        .await?;
    assert_eq!(r, None);
    let _ = assert_checkpoints(getaddrinfo(Some("127.0.0.1"), 80, stream)).await?;
    Ok(())
}

// A real lookup (not numeric) goes to a worker thread and comes back.
#[trio::test]
async fn getaddrinfo_resolves_localhost_on_a_thread() -> trio::Result<()> {
    let got = getaddrinfo(
        Some("localhost"),
        80,
        AddrInfoHints {
            ty: Some(Type::STREAM),
            ..Default::default()
        },
    )
    .await?;
    assert!(!got.is_empty());
    assert!(
        got.iter()
            .all(|ai| ai.addr.ip().is_loopback() && ai.addr.port() == 80)
    );
    Ok(())
}

// The checkpoint rule for the other operations: send, accept, connect.
#[trio::test]
async fn operations_are_checkpoints() -> trio::Result<()> {
    let (a, b) = pair();
    assert_checkpoints(a.send(b"x")).await?;
    let mut buf = [0u8; 1];
    assert_checkpoints(b.recv(&mut buf)).await?;
    let l = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    l.bind(addr("127.0.0.1:0"))?;
    l.listen(8)?;
    let c = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    assert_checkpoints(c.connect(l.local_addr()?)).await?;
    let _ = assert_checkpoints(l.accept()).await?;
    assert_checkpoints(a.wait_writable()).await?;
    // And cancellation points: in a cancelled scope they do nothing.
    let cancelled = || {
        let scope = CancelScope::new();
        scope.cancel();
        scope
    };
    let r = cancelled()
        .run(async { a.send(b"y").await.map(drop) })
        .await?;
    assert_eq!(r, None);
    let r = cancelled()
        .run(async { l.accept().await.map(drop) })
        .await?;
    assert_eq!(r, None);
    assert!(!b.is_readable()?, "the cancelled send sent nothing");
    Ok(())
}

// Data and end of stream reported together: the short read that takes the data
// must not make the socket forget the end of stream (found by Trio's stream
// conformance suite over TCP).
#[trio::test]
async fn end_of_stream_right_behind_the_data_is_not_lost() -> trio::Result<()> {
    let l = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    l.bind(addr("127.0.0.1:0"))?;
    l.listen(1)?;
    let client = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    client.connect(l.local_addr()?).await?;
    let (server, _) = l.accept().await?;
    let (ua, ub) = pair();
    for (writer, reader) in [(&client, &server), (&ua, &ub)] {
        trio::open_nursery(async |n| {
            n.start_soon(async move {
                let mut buf = [0u8; 16];
                assert_eq!(reader.recv(&mut buf).await?, 1); // a short read
                let r = trio::fail_after(Duration::from_secs(10), reader.recv(&mut buf)).await;
                assert_eq!(r?, 0, "the end of stream was seen");
                Ok(())
            })?;
            wait_all_tasks_blocked().await?;
            // Both arrive before the reader runs again.
            writer.as_socket2(|s| s.send(b"x"))?;
            writer.shutdown(Shutdown::Write)?;
            Ok(())
        })
        .await?;
    }
    Ok(())
}
