//! Socket receive and send as io_uring operations (`IORING_OP_RECV`/`SEND`):
//! stream sockets use them on the ring; a cancelled receive loses no byte; a
//! dropped receive leaks nothing (the reactor's slab back to empty, no fd left
//! open) and its bytes come first at the next receive; a cancelled send reports
//! exactly what it sent.
//!
//! Skipped (with a message) where the kernel refuses io_uring.
#![cfg(target_os = "linux")]

mod net_support;

use std::future::Future;
use std::pin::pin;
use std::sync::Mutex;
use std::task::Poll;
use std::time::Duration;

use trio::abc::{AsyncResource, HalfCloseableStream, ReceiveStream, SendStream};
use trio::lowlevel::{IoBackend, current_statistics};
use trio::net::SocketListener;
use trio::testing::wait_all_tasks_blocked;

use net_support::{drained, fd_baseline, fd_count, poll_once_and_drop, run_uring, tcp_pair};

/// The tests count fds and ring operations: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

#[test]
fn echo_uses_ring_operations() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    run_uring(async {
        let before = current_statistics().io_ring_ops;
        let (a, b) = tcp_pair().await?;
        let mut buf = [0u8; 1000];
        for i in 0..100u32 {
            let msg = format!("message {i}");
            a.send_all(msg.as_bytes()).await?;
            let n = b.receive_some(&mut buf).await?;
            assert_eq!(&buf[..n], msg.as_bytes());
            b.send_all(&buf[..n]).await?;
            let n = a.receive_some(&mut buf).await?;
            assert_eq!(&buf[..n], msg.as_bytes());
        }
        let ops = current_statistics().io_ring_ops - before;
        assert!(ops >= 400, "only {ops} ring operations");
        Ok(())
    });
}

#[test]
fn cancelled_receives_lose_nothing() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    run_uring(async {
        let (a, b) = tcp_pair().await?;
        let (a, b) = (&a, &b);
        let mut sent: Vec<u8> = Vec::new();
        let mut got: Vec<u8> = Vec::new();
        let mut counter = 0u32;
        for i in 0..600u32 {
            let scope = trio::CancelScope::new();
            let s = &scope;
            let got_ref = &mut got;
            let mut chunk = Vec::new();
            for _ in 0..(i % 7 + 1) {
                chunk.extend_from_slice(&counter.to_le_bytes());
                counter += 1;
            }
            trio::open_nursery(async |n| {
                n.start_soon(async move {
                    let mut buf = [0u8; 13];
                    if let Some(k) = s.run(b.receive_some(&mut buf)).await? {
                        got_ref.extend_from_slice(&buf[..k]);
                    }
                    Ok(())
                })?;
                wait_all_tasks_blocked().await?;
                // A deterministic pattern of races: cancel before the data,
                // right after sending it (the completion may be on its way),
                // or after the receive had every chance to complete.
                match i % 3 {
                    0 => scope.cancel(),
                    1 => {
                        a.send_all(&chunk).await?;
                        scope.cancel();
                    }
                    _ => {
                        a.send_all(&chunk).await?;
                        wait_all_tasks_blocked().await?;
                        scope.cancel();
                    }
                }
                Ok(())
            })
            .await?;
            if i % 3 == 0 {
                a.send_all(&chunk).await?;
            }
            sent.extend_from_slice(&chunk);
        }
        a.send_eof().await?;
        let mut buf = [0u8; 4096];
        loop {
            let k = b.receive_some(&mut buf).await?;
            if k == 0 {
                break;
            }
            got.extend_from_slice(&buf[..k]);
        }
        assert_eq!(got.len(), sent.len());
        assert!(got == sent, "the received bytes differ from the sent ones");
        Ok(())
    });
}

#[test]
fn dropped_receives_leak_nothing_and_lose_nothing() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let fds = fd_baseline();
    run_uring(async {
        let (a, b) = tcp_pair().await?;
        let mut sent = Vec::new();
        let mut got = Vec::new();
        for i in 0..200u32 {
            let mut buf = [0u8; 64];
            {
                let mut f = pin!(b.receive_some(&mut buf));
                std::future::poll_fn(|cx| {
                    assert!(f.as_mut().poll(cx).is_pending(), "nothing to read yet");
                    Poll::Ready(())
                })
                .await;
                let msg = i.to_le_bytes();
                a.send_all(&msg).await?;
                sent.extend_from_slice(&msg);
                if i % 2 == 0 {
                    // Let the completion arrive before the drop.
                    wait_all_tasks_blocked().await?;
                }
            }
            // Dropped: the bytes it got (if any) come first now.
            if i % 4 == 1 {
                let k = b.receive_some(&mut buf).await?;
                got.extend_from_slice(&buf[..k]);
            }
        }
        a.send_eof().await?;
        let mut buf = [0u8; 4096];
        loop {
            let k = b.receive_some(&mut buf).await?;
            if k == 0 {
                break;
            }
            got.extend_from_slice(&buf[..k]);
        }
        assert!(got == sent, "the received bytes differ from the sent ones");
        // Abandon some more, then close: the slab empties.
        for _ in 0..50 {
            let mut buf = [0u8; 64];
            let mut f = pin!(a.receive_some(&mut buf));
            std::future::poll_fn(|cx| {
                let _ = f.as_mut().poll(cx);
                Poll::Ready(())
            })
            .await;
        }
        drop((a, b));
        drained().await?;
        Ok(())
    });
    assert_eq!(fd_count(), fds, "an fd was left open");
}

#[test]
fn cancelled_sends_report_what_they_sent() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    run_uring(async {
        let (a, b) = tcp_pair().await?;
        let data: Vec<u8> = (0..2_000_000u32).map(|i| (i % 251) as u8).collect();
        let (a, b, data) = (&a, &b, &data);
        let mut sent = 0usize;
        let mut got = Vec::new();
        let mut cancelled = 0;
        trio::open_nursery(async |n| {
            let got = &mut got;
            n.start_soon(async move {
                let mut buf = vec![0u8; 100_000];
                loop {
                    let k = b.receive_some(&mut buf).await?;
                    if k == 0 {
                        return Ok(());
                    }
                    got.extend_from_slice(&buf[..k]);
                    // A slow reader: the sender's buffer fills, its sends block.
                    trio::sleep(Duration::from_millis(1)).await?;
                }
            })?;
            // Sends that are cancelled after a short time: each reports what it
            // sent, or Cancelled when it sent nothing.
            while sent < data.len() {
                let scope = trio::CancelScope::new();
                scope.set_deadline(trio::current_time() + Duration::from_micros(200));
                match scope.run(a.socket().send(&data[sent..])).await? {
                    Some(k) => sent += k,
                    None => cancelled += 1,
                }
            }
            a.send_eof().await?;
            Ok(())
        })
        .await?;
        assert_eq!(sent, data.len());
        assert!(got == *data, "the receiver got other bytes than were sent");
        println!("{cancelled} sends cancelled");
        assert!(
            cancelled > 0,
            "no send was cancelled: the test tests nothing"
        );
        Ok(())
    });
}

#[test]
fn a_send_to_a_peer_that_never_reads_can_be_cancelled() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    run_uring(async {
        let (a, _b) = tcp_pair().await?;
        let big = vec![7u8; 1 << 20];
        let r = trio::move_on_after(Duration::from_millis(200), async {
            loop {
                a.send_all(&big).await?;
            }
            #[allow(unreachable_code)]
            Ok::<(), trio::Error>(())
        })
        .await?;
        assert!(r.is_none());
        Ok(())
    });
}

#[test]
fn a_send_to_a_peer_that_resets_fails() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    run_uring(async {
        for _ in 0..20 {
            let (a, b) = tcp_pair().await?;
            let big = vec![7u8; 1 << 20];
            let (a, b) = (&a, &b);
            trio::open_nursery(async |n| {
                n.start_soon(async move {
                    let mut buf = [0u8; 1000];
                    b.receive_some(&mut buf).await?;
                    b.aclose().await
                })?;
                let r = trio::fail_after(Duration::from_secs(5), a.send_all(&big)).await;
                assert!(r.is_err());
                assert!(!r.unwrap_err().is_cancelled());
                Ok(())
            })
            .await?;
        }
        Ok(())
    });
}

#[test]
fn dropped_accepts_keep_their_connection() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let before = fd_baseline();
    for backend in [IoBackend::Epoll, IoBackend::Uring] {
        let run = trio::Runtime::builder().io_backend(backend).build();
        run.run(async {
            let listener = SocketListener::bind("127.0.0.1:0".parse().unwrap())?;
            let addr = listener.local_addr()?;
            for i in 0..100 {
                // An accept polled once and dropped: before the client
                // connects (the accept waits, or is in the kernel), or after
                // (it may have taken the connection already).
                let early = i % 2 == 0;
                let late_client = if early {
                    None
                } else {
                    Some(std::net::TcpStream::connect(addr)?)
                };
                {
                    let mut acc = pin!(trio::abc::Listener::accept(&listener));
                    let first = std::future::poll_fn(|cx| Poll::Ready(acc.as_mut().poll(cx))).await;
                    assert!(first.is_pending());
                }
                let client = match late_client {
                    Some(c) => c,
                    None => std::net::TcpStream::connect(addr)?,
                };
                // The connection is not lost: the next accept returns it.
                let conn = trio::fail_after(
                    Duration::from_secs(5),
                    trio::abc::Listener::accept(&listener),
                )
                .await?;
                assert_eq!(conn.peer_addr()?, client.local_addr()?);
            }
            drop(listener);
            drained().await
        })
        .unwrap();
    }
    assert_eq!(fd_count(), before, "fds leaked");
}

#[test]
fn cancelled_accepts_lose_and_leak_no_connection() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let before = fd_baseline();
    run_uring(async {
        let listener = SocketListener::bind("127.0.0.1:0".parse().unwrap())?;
        let addr = listener.local_addr()?;
        let listener = &listener;
        let mut clients = Vec::new();
        let mut accepted = 0;
        for i in 0..300 {
            let scope = trio::CancelScope::new();
            let s = &scope;
            let mut got = None;
            let got_ref = &mut got;
            trio::open_nursery(async |n| {
                n.start_soon(async move {
                    *got_ref = s.run(trio::abc::Listener::accept(listener)).await?;
                    Ok(())
                })?;
                wait_all_tasks_blocked().await?;
                // Cancel with no client, right after one connects (the
                // completion may be on its way), or after it had every chance.
                match i % 3 {
                    0 => scope.cancel(),
                    1 => {
                        clients.push(std::net::TcpStream::connect(addr)?);
                        scope.cancel();
                    }
                    _ => {
                        clients.push(std::net::TcpStream::connect(addr)?);
                        wait_all_tasks_blocked().await?;
                        scope.cancel();
                    }
                }
                Ok(())
            })
            .await?;
            accepted += usize::from(got.is_some());
        }
        // Every client's connection is accepted exactly once: those the
        // cancelled accepts did not return are still there.
        while accepted < clients.len() {
            trio::fail_after(
                Duration::from_secs(5),
                trio::abc::Listener::accept(listener),
            )
            .await?;
            accepted += 1;
        }
        assert_eq!(accepted, clients.len());
        drop(clients);
        drained().await
    });
    assert_eq!(fd_count(), before, "fds leaked");
}

#[test]
fn a_dropped_receive_never_reads_from_the_next_socket_with_its_number() {
    use std::io::Write;
    use trio::net::socket::{Domain, Socket, Type};
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    run_uring(async {
        for _ in 0..50 {
            let (a, b) = Socket::pair(Domain::UNIX, Type::STREAM, None)?;
            {
                // Queued, not yet submitted, when its socket closes: the
                // kernel must take it before the fd number is handed out again.
                let mut buf = [0u8; 16];
                poll_once_and_drop(b.recv(&mut buf)).await;
            }
            drop((a, b));
            // The next pair gets the same two numbers.
            let (mut c, d) = std::os::unix::net::UnixStream::pair()?;
            c.write_all(b"for d")?;
            let d = Socket::from_socket2(socket2::Socket::from(std::os::fd::OwnedFd::from(d)))?;
            let mut buf = [0u8; 16];
            let n = trio::fail_after(Duration::from_secs(5), d.recv(&mut buf)).await?;
            assert_eq!(&buf[..n], b"for d", "another receive took d's bytes");
        }
        drained().await
    });
}

#[test]
fn a_run_that_ends_with_a_receive_in_the_kernel_takes_it_back_first() {
    use std::io::{Read, Write};
    use std::os::fd::AsRawFd;
    use trio::lowlevel::RingIo;
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    for _ in 0..50 {
        let (mut a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
        // A receive in the kernel when the run ends (its future forgotten,
        // so nothing cancelled it): the run must not end with the kernel
        // still able to write into that receive's buffer.
        let fd = b.as_raw_fd();
        let submitted = run_uring(async move {
            let ring = Box::leak(Box::new(RingIo::new()));
            let buf = Box::leak(Box::new([0u8; 16]));
            let mut f = Box::pin(ring.recv(fd, buf));
            std::future::poll_fn(|cx| {
                assert!(f.as_mut().poll(cx).is_pending());
                Poll::Ready(())
            })
            .await;
            trio::lowlevel::checkpoint().await?; // a pass of the loop: submitted
            std::mem::forget(f);
            Ok(())
        });
        if submitted.is_none() {
            return;
        }
        b.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        a.write_all(b"after the run").unwrap();
        let mut buf = [0u8; 16];
        let n = b
            .read(&mut buf)
            .expect("the bytes went to a receive of the ended run");
        assert_eq!(&buf[..n], b"after the run");
    }
}

/// What a dropped receive found when it got no bytes — a reset, the end of
/// the stream — is what a poll-based reader on the same socket takes next
/// from `RingIo::take_stashed`, once (the kernel reports a reset only once).
#[test]
fn a_dropped_receive_leaves_its_reset_or_end_for_a_poll_based_reader() {
    use std::os::fd::AsRawFd;
    use trio::lowlevel::RingIo;
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    run_uring(async {
        for reset in [true, false] {
            let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
            let a = std::net::TcpStream::connect(listener.local_addr()?)?;
            let (b, _) = listener.accept()?;
            b.set_nonblocking(true)?;
            let ring = RingIo::new();
            let mut buf = [0u8; 16];
            poll_once_and_drop(ring.recv(b.as_raw_fd(), &mut buf)).await;
            if reset {
                socket2::SockRef::from(&a).set_linger(Some(Duration::ZERO))?;
            }
            drop(a);
            // Pending until the dropped receive has its verdict.
            let got = std::future::poll_fn(|cx| ring.take_stashed(cx, &mut buf)).await;
            match got.expect("the dropped receive's end is kept") {
                Err(e) => {
                    assert!(reset, "a clean close is no error: {e}");
                    let e = std::io::Error::from(e);
                    assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}");
                }
                Ok(n) => {
                    assert!(!reset, "the reset was lost");
                    assert_eq!(n, 0, "the end of the stream");
                }
            }
            let again = std::future::poll_fn(|cx| Poll::Ready(ring.take_stashed(cx, &mut buf)));
            assert!(matches!(again.await, Poll::Ready(None)), "taken once");
        }
        drained().await
    });
}
