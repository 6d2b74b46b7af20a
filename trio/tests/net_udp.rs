//! `UdpSocket`. Trio has no UDP wrapper: these follow the datagram parts of Python
//! Trio's `test_socket.py` (`test_send_recv_variants`, each test says which) and
//! the socket rules (busy receivers, closing wakes, cancellation consumes nothing).

mod net_support;

use std::net::SocketAddr;
use std::time::Duration;

use net_support::can_bind_ipv6;
use trio::net::UdpSocket;
use trio::net::socket::{Domain, Socket, Type};
use trio::testing::assert_checkpoints;
use trio::testing::wait_all_tasks_blocked;
use trio::{CancelScope, ErrorKind};

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

// Ported from test_send_recv_variants (recvfrom + sendto).
#[trio::test]
async fn send_to_and_recv_from() -> trio::Result<()> {
    let a = UdpSocket::bind(addr("127.0.0.1:0"))?;
    let b = UdpSocket::bind(addr("127.0.0.1:0"))?;
    assert_eq!(
        assert_checkpoints(a.send_to(b"xxx", b.local_addr()?)).await?,
        3
    );
    let mut buf = [0u8; 10];
    let (n, from) = assert_checkpoints(b.recv_from(&mut buf)).await?;
    assert_eq!(&buf[..n], b"xxx");
    assert_eq!(from, a.local_addr()?);
    // A datagram longer than the buffer is truncated; the rest is gone.
    a.send_to(b"0123456789abc", b.local_addr()?).await?;
    a.send_to(b"next", b.local_addr()?).await?;
    assert_eq!(b.recv(&mut buf).await?, 10);
    assert_eq!(b.recv(&mut buf).await?, 4);
    assert_eq!(&buf[..4], b"next");
    Ok(())
}

// Ported from test_send_recv_variants (send on a connected UDP socket: each call
// creates a separate datagram).
#[trio::test]
async fn connected_send_and_recv() -> trio::Result<()> {
    let a = UdpSocket::bind(addr("127.0.0.1:0"))?;
    let b = UdpSocket::bind(addr("127.0.0.1:0"))?;
    a.connect(b.local_addr()?)?;
    assert_eq!(a.peer_addr()?, b.local_addr()?);
    a.send(b"xxx").await?;
    a.send(b"yyy").await?;
    let mut buf = [0u8; 10];
    assert_eq!(b.recv(&mut buf).await?, 3);
    assert_eq!(&buf[..3], b"xxx");
    assert_eq!(b.recv(&mut buf).await?, 3);
    assert_eq!(&buf[..3], b"yyy");
    // Not connected: send fails.
    let e = b.send(b"z").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io);
    Ok(())
}

#[trio::test]
async fn ipv6_loopback() -> trio::Result<()> {
    if !can_bind_ipv6() {
        eprintln!("skipped: cannot bind ::1");
        return Ok(());
    }
    let a = UdpSocket::bind(addr("[::1]:0"))?;
    let b = UdpSocket::bind(addr("[::1]:0"))?;
    a.send_to(b"v6", b.local_addr()?).await?;
    let mut buf = [0u8; 4];
    let (n, from) = b.recv_from(&mut buf).await?;
    assert_eq!((&buf[..n], from), (&b"v6"[..], a.local_addr()?));
    Ok(())
}

// A cancelled receive consumed nothing; a second receiver is busy; closing wakes
// the blocked receiver.
#[trio::test]
async fn receive_rules() -> trio::Result<()> {
    let a = UdpSocket::bind(addr("127.0.0.1:0"))?;
    let b = UdpSocket::bind(addr("127.0.0.1:0"))?;
    let mut buf = [0u8; 4];
    let r = trio::move_on_after(Duration::from_millis(1), b.recv(&mut buf)).await?;
    assert!(r.is_none());
    a.send_to(b"one", b.local_addr()?).await?;
    let scope = CancelScope::new();
    scope.cancel();
    assert_eq!(scope.run(b.recv(&mut buf)).await?, None);
    assert_eq!(
        b.recv(&mut buf).await?,
        3,
        "the cancelled receive took nothing"
    );

    let b = &b;
    trio::open_nursery(async |n| {
        n.start_soon(async move {
            let mut buf = [0u8; 4];
            let e = b.recv(&mut buf).await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::ClosedResource);
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        let mut buf = [0u8; 4];
        assert_eq!(
            b.recv_from(&mut buf).await.unwrap_err().kind(),
            ErrorKind::BusyResource
        );
        b.close();
        Ok(())
    })
    .await?;
    assert_eq!(
        b.local_addr().unwrap_err().kind(),
        ErrorKind::ClosedResource
    );
    Ok(())
}

#[trio::test]
async fn from_socket_wants_a_datagram_socket() -> trio::Result<()> {
    let s = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    assert_eq!(
        UdpSocket::from_socket(s).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    let s = Socket::new(Domain::IPV4, Type::DGRAM, None)?;
    let u = UdpSocket::from_socket(s)?;
    u.socket().bind(addr("127.0.0.1:0"))?;
    u.socket().as_socket2(|s| s.set_broadcast(true))?;
    assert!(u.socket().as_socket2(|s| s.broadcast())?);
    Ok(())
}
