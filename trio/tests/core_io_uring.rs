//! The io_uring reactor (`Builder::io_backend(IoBackend::Uring)`): the run says
//! which reactor it uses, sockets work over it, a cancelled wait leaves nothing
//! behind (no stale completion, the reactor's slab back to empty), other threads
//! and timers wake a loop blocked in `io_uring_enter`.
//!
//! Where the kernel refuses io_uring the runs fall back to epoll; the tests then
//! check the fallback and what holds on either reactor.
#![cfg(target_os = "linux")]

mod net_support;

use std::future::Future;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::task::Poll;
use std::time::{Duration, Instant};

use trio::abc::{HalfCloseableStream, Listener, ReceiveStream, SendStream};
use trio::lowlevel::{IoBackend, current_io_backend, current_statistics, wait_readable};
use trio::net::{SocketListener, SocketStream};

use net_support::drained;

/// Whether this kernel gives io_uring to a run that asks.
fn uring_available() -> bool {
    let rt = trio::Runtime::builder().io_backend(IoBackend::Auto).build();
    rt.run(async { Ok::<_, trio::Error>(current_io_backend() == IoBackend::Uring) })
        .unwrap()
}

fn run_uring<T>(f: impl Future<Output = trio::Result<T>>) -> trio::Result<T> {
    trio::Runtime::builder()
        .io_backend(IoBackend::Uring)
        .build()
        .run(f)
}

#[test]
fn a_run_reports_its_backend() {
    let avail = uring_available();
    let got = run_uring(async { Ok(current_io_backend()) }).unwrap();
    assert_eq!(
        got,
        if avail {
            IoBackend::Uring
        } else {
            IoBackend::Epoll
        }
    );
    let stats = run_uring(async { Ok(current_statistics()) }).unwrap();
    assert_eq!(stats.io_backend, got);
    // Asking for epoll gets epoll; guest runs always do (tested in core_guest).
    let got = trio::Runtime::builder()
        .io_backend(IoBackend::Epoll)
        .build()
        .run(async { Ok::<_, trio::Error>(current_io_backend()) })
        .unwrap();
    assert_eq!(got, IoBackend::Epoll);
    // `.ci/run` reads this line to decide whether to run the suites on io_uring.
    println!("io_uring available: {}", if avail { "yes" } else { "no" });
}

#[test]
fn socket_echo_over_loopback() {
    run_uring(async {
        let listener = SocketListener::bind("127.0.0.1:0".parse().unwrap())?;
        let port = listener.local_addr()?.port();
        let l = &listener;
        trio::open_nursery(async |n| {
            n.start_soon(async move {
                let s: SocketStream = l.accept().await?;
                let mut buf = [0u8; 4096];
                loop {
                    let k = s.receive_some(&mut buf).await?;
                    if k == 0 {
                        return s.send_eof().await;
                    }
                    s.send_all(&buf[..k]).await?;
                }
            })?;
            let c = trio::net::open_tcp_stream("127.0.0.1", port).await?;
            let mut buf = [0u8; 4096];
            for i in 0..200u32 {
                let msg = format!("message {i} {}", "x".repeat((i as usize * 37) % 3000));
                c.send_all(msg.as_bytes()).await?;
                let mut got = Vec::new();
                while got.len() < msg.len() {
                    let k = c.receive_some(&mut buf).await?;
                    assert!(k > 0);
                    got.extend_from_slice(&buf[..k]);
                }
                assert_eq!(got, msg.as_bytes());
            }
            c.send_eof().await?;
            assert_eq!(c.receive_some(&mut buf).await?, 0);
            Ok(())
        })
        .await
    })
    .unwrap();
}

/// Polls `wait_readable(fd)` once (registering the wait with the reactor), then
/// drops it: the abort path of a cancelled or abandoned wait.
async fn start_and_abandon(fd: i32) {
    let mut w = std::pin::pin!(wait_readable(fd));
    std::future::poll_fn(|cx| {
        assert!(w.as_mut().poll(cx).is_pending(), "nothing to read yet");
        Poll::Ready(())
    })
    .await;
}

#[test]
fn cancelled_waits_leave_no_stale_completion() {
    run_uring(async {
        let (mut a, mut b) = std::os::unix::net::UnixStream::pair()?;
        a.set_nonblocking(true)?;
        let fd = a.as_raw_fd();
        // Dropped waits, 10,000 of them, with a loop pass now and then (so that
        // removals race with the ring).
        for i in 0..10_000 {
            start_and_abandon(fd).await;
            if i % 100 == 0 {
                trio::lowlevel::checkpoint().await?;
            }
        }
        // Waits cancelled by their scope while blocked, then the fd reused.
        for _ in 0..50 {
            let scope = trio::CancelScope::new();
            let s = &scope;
            trio::open_nursery(async |n| {
                n.start_soon(async move {
                    assert!(s.run(wait_readable(fd)).await?.is_none());
                    Ok(())
                })?;
                trio::testing::wait_all_tasks_blocked().await?;
                scope.cancel();
                Ok(())
            })
            .await?;
        }
        drained().await?;
        assert_eq!(current_statistics().io_ops_in_flight, 0);
        assert_eq!(current_statistics().io_waiting_read, 0);
        // No stale completion fires a new wait: with nothing to read it times out.
        let r = trio::move_on_after(Duration::from_millis(50), wait_readable(fd)).await?;
        assert!(r.is_none(), "a wait with nothing to read returned");
        // And a real event still reaches a new wait, many times over.
        for _ in 0..100 {
            b.write_all(b"x")?;
            trio::fail_after(Duration::from_secs(5), wait_readable(fd)).await?;
            let mut buf = [0u8; 8];
            assert_eq!(a.read(&mut buf)?, 1);
            start_and_abandon(fd).await;
        }
        drained().await?;
        Ok(())
    })
    .unwrap();
}

#[test]
fn run_sync_soon_wakes_a_loop_blocked_in_the_ring() {
    run_uring(async {
        let token = trio::lowlevel::current_trio_token();
        let (tx, rx) = trio::open_memory_channel::<Instant>(1);
        let (go, wait) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || {
            // Called once the loop has nothing else to do but wait in the ring.
            wait.recv().unwrap();
            token
                .run_sync_soon(move || {
                    let _ = tx.send_nowait(Instant::now());
                })
                .unwrap();
        });
        trio::testing::wait_all_tasks_blocked().await?;
        go.send(()).unwrap();
        // The loop sleeps in the ring (nothing else to do) until the callback.
        trio::fail_after(Duration::from_secs(10), rx.receive()).await?;
        t.join().unwrap();
        Ok(())
    })
    .unwrap();
}

#[test]
fn timers_fire_while_blocked_in_the_ring() {
    run_uring(async {
        let (a, _b) = std::os::unix::net::UnixStream::pair()?;
        let fd = a.as_raw_fd();
        // A task blocked on an fd keeps an operation in the ring; the sleep must
        // still end on time.
        trio::open_nursery(async |n| {
            n.start_soon(async move {
                let r = trio::move_on_after(Duration::from_secs(30), wait_readable(fd)).await?;
                assert!(r.is_none());
                Ok(())
            })?;
            for ms in [1u64, 20, 50] {
                let t0 = Instant::now();
                trio::sleep(Duration::from_millis(ms)).await?;
                let took = t0.elapsed();
                assert!(took >= Duration::from_millis(ms), "{took:?}");
                assert!(took < Duration::from_millis(ms + 2000), "{took:?}");
            }
            n.cancel_scope().cancel();
            Ok(())
        })
        .await?;
        drained().await
    })
    .unwrap();
}

#[test]
fn notify_closing_and_errors_on_the_ring() {
    run_uring(async {
        let (a, _b) = std::os::unix::net::UnixStream::pair()?;
        let fd = a.as_raw_fd();
        trio::open_nursery(async |n| {
            n.start_soon(async move {
                let e = wait_readable(fd).await.unwrap_err();
                assert_eq!(e.kind(), trio::ErrorKind::ClosedResource);
                Ok(())
            })?;
            trio::testing::wait_all_tasks_blocked().await?;
            trio::lowlevel::notify_closing(fd);
            Ok(())
        })
        .await?;
        drop(a);
        // A wait on an fd that is not open fails.
        assert!(wait_readable(fd).await.is_err());
        assert!(wait_readable(-1).await.is_err());
        drained().await
    })
    .unwrap();
}

#[test]
fn the_environment_variable_sets_the_default() {
    let avail = uring_available();
    let want = match std::env::var("TRIO_IO_BACKEND").as_deref() {
        Ok("uring" | "auto") if avail => IoBackend::Uring,
        _ => IoBackend::Epoll,
    };
    let got = trio::Runtime::new()
        .run(async { Ok::<_, trio::Error>(current_io_backend()) })
        .unwrap();
    assert_eq!(got, want);
    // `#[trio::test]` and `trio::run` build their runs the same way.
    let got = trio::run(async { Ok::<_, trio::Error>(current_io_backend()) }).unwrap();
    assert_eq!(got, want);
}

#[test]
fn registrations_on_the_ring_report_each_new_edge() {
    use trio::lowlevel::{IoDirection, IoRegistration};
    run_uring(async {
        let (mut a, mut b) = std::os::unix::net::UnixStream::pair()?;
        a.set_nonblocking(true)?;
        let reg = IoRegistration::new(a.as_raw_fd())?;
        let mut buf = [0u8; 64];
        for round in 0..200u32 {
            b.write_all(&round.to_le_bytes())?;
            let mut got = Vec::new();
            while got.len() < 4 {
                let ready =
                    trio::fail_after(Duration::from_secs(5), reg.ready(IoDirection::Read)).await?;
                match a.read(&mut buf) {
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        reg.clear_ready(IoDirection::Read, ready)
                    }
                    r => got.extend_from_slice(&buf[..r?]),
                }
            }
            assert_eq!(got, round.to_le_bytes());
        }
        // The peer's close wakes the reader, which reads the end of stream.
        drop(b);
        loop {
            let ready =
                trio::fail_after(Duration::from_secs(5), reg.ready(IoDirection::Read)).await?;
            match a.read(&mut buf) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    reg.clear_ready(IoDirection::Read, ready)
                }
                r => {
                    assert_eq!(r?, 0); // end of stream
                    break;
                }
            }
        }
        // Dropping the registration removes its multishot poll.
        drop(reg);
        drained().await?;
        // Regular files are refused, as epoll refuses them.
        let f = std::fs::File::open("/proc/self/exe")?;
        assert!(IoRegistration::new(f.as_raw_fd()).is_err());
        Ok(())
    })
    .unwrap();
}

#[test]
fn more_completions_than_the_ring_holds() {
    // 900 waits that are all ready at once: more than the submission queue
    // (256) and the completion queue (512) hold, so submissions are flushed
    // early and completions overflow into the kernel's list.
    run_uring(async {
        let mut pairs = Vec::new();
        for _ in 0..300 {
            let (a, mut b) = std::os::unix::net::UnixStream::pair()?;
            b.write_all(b"x")?;
            pairs.push((a, b));
        }
        let done = std::cell::Cell::new(0);
        let d = &done;
        trio::fail_after(Duration::from_secs(10), async {
            trio::open_nursery(async |n| {
                for (a, b) in &pairs {
                    let (fa, fb) = (a.as_raw_fd(), b.as_raw_fd());
                    n.start_soon(async move {
                        wait_readable(fa).await?;
                        d.set(d.get() + 1);
                        Ok(())
                    })?;
                    n.start_soon(async move {
                        trio::lowlevel::wait_writable(fa).await?;
                        d.set(d.get() + 1);
                        Ok(())
                    })?;
                    n.start_soon(async move {
                        trio::lowlevel::wait_writable(fb).await?;
                        d.set(d.get() + 1);
                        Ok(())
                    })?;
                }
                Ok(())
            })
            .await
        })
        .await?;
        assert_eq!(done.get(), 900);
        drained().await
    })
    .unwrap();
}

#[test]
fn a_registration_removed_while_it_fires_still_lets_its_file_close() {
    // Dropping a registration while its multishot poll is being woken (the peer
    // wrote a moment before) once left the poll in place, holding the socket
    // open after its fd was closed: the peer never saw the end of the stream.
    use std::pin::pin;
    use trio::lowlevel::{IoDirection, IoRegistration, RingIo};
    run_uring(async {
        if !RingIo::is_available() {
            return Ok(());
        }
        for _ in 0..200 {
            let (a, mut b) = std::os::unix::net::UnixStream::pair()?;
            a.set_nonblocking(true)?;
            b.set_nonblocking(true)?;
            let reg = IoRegistration::new(a.as_raw_fd())?;
            reg.ready(IoDirection::Write).await?; // armed
            // A ring send to `a`, queued: the removal below is submitted in the
            // same system call, right after it, so the poll is being woken by
            // the send as the removal arrives.
            let ring = RingIo::new();
            let mut send = pin!(ring.send(b.as_raw_fd(), b"x"));
            let first = std::future::poll_fn(|cx| Poll::Ready(send.as_mut().poll(cx))).await;
            assert!(first.is_pending());
            drop(reg);
            drop(a);
            assert_eq!(send.await?, 1);
            trio::fail_after(Duration::from_secs(5), wait_readable(b.as_raw_fd())).await?;
            // The end of the stream, or a reset (the closed end left unread data).
            let mut buf = [0u8; 8];
            match b.read(&mut buf) {
                Ok(n) => assert_eq!(n, 0, "the peer's end is closed"),
                Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset),
            }
        }
        drained().await
    })
    .unwrap();
}
