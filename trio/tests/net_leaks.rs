//! Nothing leaks: cancelled and failed operations of `trio::net` leave no file
//! descriptor behind. Each test counts the entries of `/proc/self/fd` before and
//! after; the tests of this file take a lock so that they never run at the same
//! time (file descriptors belong to the whole process).
#![cfg(unix)] // counts open file descriptors in /proc

mod net_support;

use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::sync::Mutex;
use std::time::Duration;

use net_support::{TempDir, can_bind_ipv6, fd_count};
use trio::abc::{AsyncResource, Listener, ReceiveStream, SendStream};
use trio::net::socket::{
    AddrInfo, AddrInfoHints, BoxFuture, Domain, HostnameResolver, SockAddr, Socket, Type,
    set_custom_hostname_resolver,
};
use trio::net::{SocketListener, SocketStream, open_tcp_listeners, open_tcp_stream, serve_tcp};
use trio::testing::wait_all_tasks_blocked;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn lock() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs a test body on a fresh trio loop; panics on error.
fn run(body: impl std::future::Future<Output = trio::Result<()>>) {
    trio::Runtime::builder()
        .handle_ctrl_c(false)
        .build()
        .run(body)
        .unwrap();
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
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

#[test]
fn cancelled_connect_leaves_no_fd() {
    // The lock is taken before the run starts: a run opens descriptors too.
    let _g = lock();
    run(async {
        let (listener, _fillers) = clogged_listener();
        let target = listener.local_addr()?;
        let before = fd_count();
        let mut cancelled = 0;
        let mut kept = Vec::new();
        for _ in 0..16 {
            let sock = Socket::new(Domain::IPV4, Type::STREAM, None)?;
            if trio::move_on_after(Duration::from_millis(100), sock.connect(target))
                .await?
                .is_none()
            {
                cancelled += 1;
                // Closed by the cancellation itself, before the socket is dropped.
                assert!(sock.is_closed());
                if cancelled == 3 {
                    break;
                }
            } else {
                kept.push(sock);
            }
        }
        assert_eq!(cancelled, 3, "connects were not left in progress");
        assert_eq!(fd_count(), before + kept.len());
        drop(kept);
        assert_eq!(fd_count(), before);
        Ok(())
    })
}

#[test]
fn cancelled_open_tcp_stream_leaves_no_fd() {
    // The lock is taken before the run starts: a run opens descriptors too.
    let _g = lock();
    run(async {
        let (listener, _fillers) = clogged_listener();
        let port = listener.local_addr()?.port();
        let before = fd_count();
        let mut cancelled = 0;
        let mut kept = Vec::new();
        for _ in 0..16 {
            match trio::move_on_after(
                Duration::from_millis(100),
                open_tcp_stream("127.0.0.1", port),
            )
            .await?
            {
                None => {
                    cancelled += 1;
                    assert_eq!(fd_count(), before + kept.len());
                    if cancelled == 2 {
                        break;
                    }
                }
                Some(s) => kept.push(s),
            }
        }
        assert_eq!(cancelled, 2);
        drop(kept);
        assert_eq!(fd_count(), before);
        Ok(())
    })
}

#[derive(Debug)]
struct Fixed(Vec<SocketAddr>);

impl HostnameResolver for Fixed {
    fn getaddrinfo<'a>(
        &'a self,
        _: Option<&'a str>,
        _: u16,
        _: AddrInfoHints,
    ) -> BoxFuture<'a, trio::Result<Vec<AddrInfo>>> {
        Box::pin(async move {
            Ok(self
                .0
                .iter()
                .map(|a| AddrInfo::new(*a, Type::STREAM, None))
                .collect())
        })
    }
}

#[test]
fn failed_happy_eyeballs_leaves_no_fd() {
    // The lock is taken before the run starts: a run opens descriptors too.
    let _g = lock();
    run(async {
        // Ports nobody listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let mut targets = vec![SocketAddr::new(IpAddr::from([127, 0, 0, 1]), port)];
        if can_bind_ipv6() {
            targets.push(SocketAddr::new("::1".parse().unwrap(), port));
        }
        targets.push(SocketAddr::new(IpAddr::from([127, 0, 0, 1]), port));
        let n = targets.len();
        set_custom_hostname_resolver(Some(Rc::new(Fixed(targets))))?;
        let before = fd_count();
        let e = open_tcp_stream("nowhere.test", port).await.unwrap_err();
        let group = std::error::Error::source(&e)
            .unwrap()
            .downcast_ref::<trio::Error>()
            .unwrap();
        assert_eq!(group.errors().len(), n);
        assert_eq!(fd_count(), before);
        Ok(())
    })
}

#[test]
fn cancelled_recv_and_accept_leave_no_fd() {
    // The lock is taken before the run starts: a run opens descriptors too.
    let _g = lock();
    run(async {
        let before = fd_count();
        {
            let (a, b) = SocketStream::pair()?;
            let listener = SocketListener::bind(addr("127.0.0.1:0"))?;
            let (a, l) = (&a, &listener);
            trio::open_nursery(async |n| {
                n.start_soon(async move {
                    let mut buf = [0u8; 1];
                    a.receive_some(&mut buf).await.map(drop)
                })?;
                n.start_soon(async move { l.accept().await.map(drop) })?;
                wait_all_tasks_blocked().await?;
                n.cancel_scope().cancel();
                Ok(())
            })
            .await?;
            assert_eq!(fd_count(), before + 3);
            // Still usable, and nothing was consumed.
            b.send_all(b"k").await?;
            let mut buf = [0u8; 1];
            assert_eq!(a.receive_some(&mut buf).await?, 1);
        }
        assert_eq!(fd_count(), before);
        Ok(())
    })
}

#[test]
fn cancelled_server_leaves_no_fd() {
    // The lock is taken before the run starts: a run opens descriptors too.
    let _g = lock();
    run(async {
        let before = fd_count();
        let handler = async |s: SocketStream| {
            // Hold the connection open until cancelled.
            let mut buf = [0u8; 1];
            while s.receive_some(&mut buf).await? != 0 {}
            Ok(())
        };
        trio::open_nursery(async |n| {
            let listeners = n
                .start(async |status| {
                    serve_tcp(handler, 0)
                        .host("127.0.0.1")
                        .task_status(status)
                        .await
                })
                .await?;
            let port = listeners[0].local_addr()?.port();
            let mut clients = Vec::new();
            for _ in 0..5 {
                clients.push(open_tcp_stream("127.0.0.1", port).await?);
            }
            wait_all_tasks_blocked().await?;
            // Listener + 5 clients + 5 server ends.
            assert_eq!(fd_count(), before + 11);
            drop(clients);
            n.cancel_scope().cancel();
            Ok(())
        })
        .await?;
        assert_eq!(fd_count(), before);
        Ok(())
    })
}

#[test]
fn failed_open_tcp_listeners_leaves_no_fd() {
    // The lock is taken before the run starts: a run opens descriptors too.
    let _g = lock();
    run(async {
        // The port is taken on IPv4.
        let taken = std::net::TcpListener::bind("127.0.0.1:0")?;
        let port = taken.local_addr()?.port();
        let before = fd_count();
        let e = open_tcp_listeners(port, Some("127.0.0.1"))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), trio::ErrorKind::Io);
        assert_eq!(fd_count(), before);

        // Taken on IPv6 only: the IPv4 listener opened first is closed again.
        if can_bind_ipv6() {
            let v6 = socket2::Socket::new(Domain::IPV6, Type::STREAM, None)?;
            v6.set_only_v6(true)?;
            v6.bind(&addr("[::]:0").into())?;
            v6.listen(1)?;
            let port = v6.local_addr()?.as_socket().unwrap().port();
            if std::net::TcpListener::bind(("0.0.0.0", port)).is_ok() {
                let before = fd_count();
                let e = open_tcp_listeners(port, None).await.unwrap_err();
                assert_eq!(e.kind(), trio::ErrorKind::Io);
                assert_eq!(fd_count(), before);
            }
        }
        Ok(())
    })
}

#[test]
fn failed_open_unix_socket_leaves_no_fd() {
    // The lock is taken before the run starts: a run opens descriptors too.
    let _g = lock();
    run(async {
        let dir = TempDir::new("leak");
        let before = fd_count();
        assert!(trio::net::open_unix_socket(dir.path("none")).await.is_err());
        assert_eq!(fd_count(), before);
        let l = trio::net::open_unix_listener(dir.path("l"))?;
        let c = trio::net::open_unix_socket(dir.path("l")).await?;
        let s = l.accept().await?;
        assert_eq!(fd_count(), before + 3);
        l.aclose().await?;
        c.aclose().await?;
        s.aclose().await?;
        assert_eq!(fd_count(), before);
        Ok(())
    })
}
