//! `lowlevel::IoRegistration`: persistent, edge-triggered fd registrations with
//! readiness tracking (the building block for trio's sockets). Loopback only: Unix
//! socket pairs made by the test.
#![cfg(unix)] // raw fds and Unix socket pairs

use std::cell::Cell;
use std::io::{ErrorKind as IoKind, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use trio::lowlevel::{IoDirection, IoRegistration, checkpoint};
use trio::testing::wait_all_tasks_blocked;

fn pair() -> std::io::Result<(UnixStream, UnixStream)> {
    let (a, b) = UnixStream::pair()?;
    a.set_nonblocking(true)?;
    b.set_nonblocking(true)?;
    Ok((a, b))
}

#[trio::test]
async fn readable_after_the_peer_writes_and_cleared_after_would_block() -> trio::Result<()> {
    let (mut a, mut b) = pair()?;
    let reg = IoRegistration::new(a.as_raw_fd())?;
    let woke = Cell::new(false);
    let (w, r) = (&woke, &reg);
    trio::open_nursery(async |n| {
        n.start_soon(async move {
            r.ready(IoDirection::Read).await?;
            w.set(true);
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        assert!(!woke.get(), "nothing to read yet");
        b.write_all(b"ping")?;
        Ok(())
    })
    .await?;
    assert!(woke.get());
    let ready = reg.ready(IoDirection::Read).await?;
    let mut buf = [0u8; 8];
    assert_eq!(a.read(&mut buf)?, 4);
    assert_eq!(a.read(&mut buf).unwrap_err().kind(), IoKind::WouldBlock);
    reg.clear_ready(IoDirection::Read, ready);
    // Now a wait blocks again (until cancelled here).
    let r = trio::move_on_after(Duration::from_millis(20), reg.ready(IoDirection::Read)).await?;
    assert!(r.is_none());
    Ok(())
}

#[trio::test]
async fn a_stale_report_does_not_clear_newer_readiness() -> trio::Result<()> {
    let (mut a, mut b) = pair()?;
    let reg = IoRegistration::new(a.as_raw_fd())?;
    b.write_all(b"1")?;
    let first = reg.ready(IoDirection::Read).await?;
    let mut buf = [0u8; 8];
    assert_eq!(a.read(&mut buf)?, 1);
    // More data arrives and the loop processes the event before we clear.
    b.write_all(b"2")?;
    checkpoint().await?;
    reg.clear_ready(IoDirection::Read, first);
    // The newer edge was kept: this returns at once.
    let r = trio::move_on_after(Duration::from_secs(5), reg.ready(IoDirection::Read)).await?;
    assert!(r.is_some());
    assert_eq!(a.read(&mut buf)?, 1);
    Ok(())
}

#[trio::test]
async fn writable_at_once_and_closed_when_the_peer_goes() -> trio::Result<()> {
    let (a, b) = pair()?;
    let reg = IoRegistration::new(a.as_raw_fd())?;
    assert!(!reg.ready(IoDirection::Write).await?.is_closed());
    drop(b);
    let r = reg.ready(IoDirection::Read).await?;
    assert!(r.is_closed(), "end of file is reported as read-closed");
    Ok(())
}

#[trio::test]
async fn dropping_deregisters_so_the_fd_can_be_registered_again() -> trio::Result<()> {
    let (a, _b) = pair()?;
    let reg = IoRegistration::new(a.as_raw_fd())?;
    drop(reg);
    let again = IoRegistration::new(a.as_raw_fd())?;
    assert_eq!(again.fd(), a.as_raw_fd());
    Ok(())
}

#[trio::test]
async fn io_is_not_starved_by_tasks_that_keep_yielding() -> trio::Result<()> {
    // While a registration exists the loop polls the kernel on every pass, even
    // when other tasks are always runnable.
    let (a, mut b) = pair()?;
    let reg = IoRegistration::new(a.as_raw_fd())?;
    let done = Cell::new(false);
    let (d, r) = (&done, &reg);
    trio::open_nursery(async |n| {
        n.start_soon(async move {
            r.ready(IoDirection::Read).await?;
            d.set(true);
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        b.write_all(b"x")?;
        n.start_soon(async move {
            for _ in 0..10_000 {
                if d.get() {
                    return Ok(());
                }
                checkpoint().await?;
            }
            panic!("the reader was starved");
        })?;
        Ok(())
    })
    .await?;
    assert!(done.get());
    Ok(())
}

#[test]
fn registering_outside_trio_is_a_usage_error() {
    let (a, _b) = pair().unwrap();
    let e = IoRegistration::new(a.as_raw_fd()).unwrap_err();
    assert_eq!(e.kind(), trio::ErrorKind::Usage);
}

/// The last bytes of a stream and its end can arrive in one kernel report. A read
/// that drains those bytes may clear readiness (a short read means "drained"), but
/// the end of stream must survive it: the kernel will not report it again.
#[trio::test]
async fn end_of_stream_survives_clearing_after_the_last_bytes() -> trio::Result<()> {
    let (mut a, mut b) = pair()?;
    let reg = IoRegistration::new(a.as_raw_fd())?;
    b.write_all(b"last")?;
    drop(b); // data and end of stream, before the reactor looks
    let ready = reg.ready(IoDirection::Read).await?;
    checkpoint().await?; // let the reactor see everything
    let ready = if ready.is_closed() {
        ready
    } else {
        reg.ready(IoDirection::Read).await?
    };
    assert!(ready.is_closed());
    let mut buf = [0u8; 8];
    assert_eq!(a.read(&mut buf)?, 4);
    reg.clear_ready(IoDirection::Read, ready); // as after a short read
    let again = trio::fail_after(Duration::from_secs(10), reg.ready(IoDirection::Read)).await?;
    assert!(again.is_closed());
    assert_eq!(a.read(&mut buf)?, 0);
    Ok(())
}
