//! Datagrams and connects as io_uring operations (`IORING_OP_RECVMSG` /
//! `SENDMSG` / `CONNECT`): UDP sockets and `connect` use them on the ring; a
//! cancelled datagram receive loses no datagram; a dropped one keeps its
//! datagram whole, with its sender, for the next receive; a failed connect
//! names its address; cancelled and dropped connects leave no fd open and
//! nothing in the kernel.
//!
//! Skipped (with a message) where the kernel refuses io_uring.
#![cfg(target_os = "linux")]

mod net_support;

use std::net::SocketAddr;
use std::sync::Mutex;

use trio::lowlevel::{RingIo, current_statistics};
use trio::net::UdpSocket;
use trio::net::socket::{Domain, Socket, Type};
use trio::testing::wait_all_tasks_blocked;

use net_support::{drained, fd_baseline, fd_count, poll_once_and_drop, run_uring};

/// The tests count fds and ring operations: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn udp() -> trio::Result<UdpSocket> {
    UdpSocket::bind("127.0.0.1:0".parse().unwrap())
}

#[test]
fn datagrams_use_ring_operations_and_keep_their_senders() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    run_uring(async {
        let (a, b, c) = (udp()?, udp()?, udp()?);
        let before = current_statistics().io_ring_ops;
        let mut buf = [0u8; 100];
        for i in 0..50u32 {
            let (from, sender) = if i % 2 == 0 { (&a, &a) } else { (&c, &c) };
            let msg = format!("datagram {i}");
            from.send_to(msg.as_bytes(), b.local_addr()?).await?;
            let (n, addr) = b.recv_from(&mut buf).await?;
            assert_eq!(&buf[..n], msg.as_bytes());
            assert_eq!(addr, sender.local_addr()?);
        }
        // A connected socket's `send`/`recv` keep datagram boundaries too.
        a.connect(b.local_addr()?)?;
        a.send(b"one").await?;
        a.send(b"two!").await?;
        assert_eq!(b.recv_from(&mut buf).await?.0, 3);
        b.connect(a.local_addr()?)?;
        assert_eq!(b.recv(&mut buf).await?, 4);
        assert_eq!(&buf[..4], b"two!");
        let ops = current_statistics().io_ring_ops - before;
        assert!(ops >= 104, "only {ops} ring operations");
        Ok(())
    });
}

#[test]
fn cancelled_datagram_receives_lose_no_datagram() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    run_uring(async {
        let (a, b) = (udp()?, udp()?);
        let to = b.local_addr()?;
        let b = &b;
        let mut got: Vec<u32> = Vec::new();
        for i in 0..300u32 {
            let scope = trio::CancelScope::new();
            let s = &scope;
            let got_ref = &mut got;
            trio::open_nursery(async |n| {
                n.start_soon(async move {
                    let mut buf = [0u8; 16];
                    if let Some((k, _)) = s.run(b.recv_from(&mut buf)).await? {
                        assert_eq!(k, 4, "a datagram was cut or merged");
                        got_ref.push(u32::from_le_bytes(buf[..4].try_into().unwrap()));
                    }
                    Ok(())
                })?;
                wait_all_tasks_blocked().await?;
                // Cancel before the datagram, right after it was sent (the
                // completion may be on its way), or after it had every chance.
                if i % 3 != 0 {
                    a.send_to(&i.to_le_bytes(), to).await?;
                    if i % 3 == 2 {
                        wait_all_tasks_blocked().await?;
                    }
                }
                scope.cancel();
                Ok(())
            })
            .await?;
            if i % 3 == 0 {
                a.send_to(&i.to_le_bytes(), to).await?;
            }
        }
        // Whatever the cancelled receives did not return is still there.
        let mut buf = [0u8; 16];
        while got.len() < 300 {
            let (k, from) =
                trio::fail_after(std::time::Duration::from_secs(5), b.recv_from(&mut buf)).await?;
            assert_eq!((k, from), (4, a.local_addr()?));
            got.push(u32::from_le_bytes(buf[..4].try_into().unwrap()));
        }
        got.sort_unstable();
        assert_eq!(got, (0..300).collect::<Vec<_>>(), "a datagram was lost");
        Ok(())
    });
}

#[test]
fn dropped_datagram_receives_keep_datagrams_whole() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let fds = fd_baseline();
    run_uring(async {
        let (a, b, c) = (udp()?, udp()?, udp()?);
        let to = b.local_addr()?;
        for i in 0..100usize {
            let mut buf = [0u8; 64];
            poll_once_and_drop(b.recv_from(&mut buf)).await;
            // Two datagrams of different sizes from two senders: the first
            // may be in the dropped receive's hands, or not yet.
            a.send_to(&vec![1u8; i % 7 + 1], to).await?;
            if i % 2 == 0 {
                wait_all_tasks_blocked().await?;
            }
            c.send_to(&vec![2u8; i % 5 + 10], to).await?;
            let (n, from) = b.recv_from(&mut buf).await?;
            assert_eq!((n, from), (i % 7 + 1, a.local_addr()?));
            assert!(buf[..n].iter().all(|&x| x == 1));
            let (n, from) = b.recv_from(&mut buf).await?;
            assert_eq!((n, from), (i % 5 + 10, c.local_addr()?));
        }
        drop((a, b, c));
        drained().await
    });
    assert_eq!(fd_count(), fds, "an fd was left open");
}

#[test]
fn a_datagram_longer_than_the_ring_takes_is_refused_whole() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    run_uring(async {
        let (a, b) = (udp()?, udp()?);
        let to = socket2::SockAddr::from(b.local_addr()?);
        let big = vec![0u8; RingIo::MAX_LEN + 1];
        let err = RingIo::new()
            .send_to(a.socket().as_socket2(|s| Ok(raw(s)))?, &big, &to)
            .await
            .unwrap_err();
        assert_eq!(
            std::io::Error::from(err).raw_os_error(),
            Some(libc::EMSGSIZE)
        );
        Ok(())
    });
}

fn raw(s: &socket2::Socket) -> i32 {
    use std::os::fd::AsRawFd;
    s.as_raw_fd()
}

#[test]
fn connects_use_ring_operations_and_failures_name_the_address() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    run_uring(async {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let before = current_statistics().io_ring_ops;
        let s = Socket::new(Domain::IPV4, Type::STREAM, None)?;
        s.connect(addr).await?;
        assert_eq!(s.peer_addr()?.as_socket(), Some(addr));
        assert!(current_statistics().io_ring_ops > before);
        drop(listener);
        let s = Socket::new(Domain::IPV4, Type::STREAM, None)?;
        let err = s.connect(addr).await.unwrap_err();
        assert!(err.to_string().contains(&addr.to_string()), "{err}");
        assert_eq!(
            std::io::Error::from(err).raw_os_error(),
            Some(libc::ECONNREFUSED)
        );
        Ok(())
    });
}

#[test]
fn cancelled_and_dropped_connects_leave_nothing_behind() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let fds = fd_baseline();
    run_uring(async {
        // A listener whose backlog is full: the kernel drops further SYNs,
        // so a connect to it waits (retransmitting) until cancelled.
        let listener = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
        listener.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())?;
        listener.listen(0)?;
        let addr = listener.local_addr()?.as_socket().unwrap();
        let mut fillers = Vec::new();
        for _ in 0..4 {
            let f = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
            f.set_nonblocking(true)?;
            let _ = f.connect(&addr.into());
            fillers.push(f);
        }
        for i in 0..40 {
            let s = Socket::new(Domain::IPV4, Type::STREAM, None)?;
            if i % 2 == 0 {
                poll_once_and_drop(s.connect(addr)).await;
            } else {
                let scope = trio::CancelScope::new();
                let sr = &scope;
                let s = &s;
                trio::open_nursery(async |n| {
                    n.start_soon(async move {
                        let res = sr.run(s.connect(addr)).await;
                        assert!(
                            matches!(res, Ok(None)),
                            "iteration {i}: the connect was not cancelled: {res:?}"
                        );
                        Ok(())
                    })?;
                    wait_all_tasks_blocked().await?;
                    scope.cancel();
                    Ok(())
                })
                .await?;
                assert!(s.is_closed(), "a cancelled connect closes its socket");
            }
        }
        drop((listener, fillers));
        drained().await
    });
    assert_eq!(fd_count(), fds, "an fd was left open");
}
