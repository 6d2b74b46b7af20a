//! Pipe streams (`trio::process::{PipeSendStream, PipeReceiveStream, pipe}`),
//! ported from Python Trio's `src/trio/_tests/test_unix_pipes.py`.
//!
//! Ported: `test_send_pipe`, `test_receive_pipe`, `test_pipes_combined`,
//! `test_pipe_errors` (the empty-buffer half), `test_del`, `test_async_with`,
//! `test_misdirected_aclose_regression`, `test_close_at_bad_time_for_receive_some`
//! and `..._for_send_all` (without monkeypatching: the close lands between the
//! wake-up and the system call by running in the same scheduler batch),
//! `test_bizarro_OSError_from_receive`, `test_pipe_fully` (the conformance suite,
//! with a clogged pipe).
//!
//! Not ported: the `TypeError` half of `test_pipe_errors` (`FdStream(None)`; Rust's
//! types rule it out).
//!
//! Tests that look at fd numbers use pipes moved to numbers from 1000 up, which the
//! other tests (running in parallel threads, getting the lowest free numbers) never
//! reuse, and hold a lock against each other.
//!
//! Linux only: the tests ask `/proc` and pidfds what the kernel thinks of a
//! child (running, a zombie, reaped).
#![cfg(target_os = "linux")]
// The test lock is a std mutex held for a whole test, across awaits: each test runs
// its own single-threaded run loop, so nothing else on that thread can want it.
#![allow(clippy::await_holding_lock)]

mod process_support;

use std::cell::Cell;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use process_support::serial;
use trio::abc::{AsyncResource, ReceiveStream, SendStream, aclose_forcefully};
use trio::process::{PipeReceiveStream, PipeSendStream, pipe};
use trio::testing::{check_one_way_stream, wait_all_tasks_blocked};
use trio::{ErrorKind, Result};

fn raw_pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two fds pipe(2) writes.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: pipe succeeded; the fds are ours alone.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

/// Moves `fd` to the lowest free number at or above `at`. The other tests of this
/// binary run in parallel threads and get the lowest free numbers, so numbers this
/// high are ours alone: a closed one is not reused behind our back.
fn move_high(fd: OwnedFd, at: RawFd) -> OwnedFd {
    // SAFETY: F_DUPFD_CLOEXEC makes a new fd (>= `at`) for the same file.
    let new = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, at) };
    assert!(new >= at);
    // SAFETY: fcntl succeeded; the new fd is ours alone.
    unsafe { OwnedFd::from_raw_fd(new) }
}

/// A pipe whose fds are numbered from 1000 up: `(send end, receive end)`.
fn high_pipe() -> Result<(PipeSendStream, PipeReceiveStream)> {
    let (r, w) = raw_pipe();
    Ok((
        PipeSendStream::new(move_high(w, 1000))?,
        PipeReceiveStream::new(move_high(r, 1000))?,
    ))
}

fn raw_write(fd: RawFd, data: &[u8]) -> std::io::Result<usize> {
    // SAFETY: `data` is valid for `data.len()` bytes.
    let n = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
    if n < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

fn raw_read(fd: RawFd, buf: &mut [u8]) -> std::io::Result<usize> {
    // SAFETY: `buf` is valid for `buf.len()` bytes.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// True if `fd` is not open (closing it fails with EBADF).
fn fd_is_closed(fd: RawFd) -> bool {
    // SAFETY: F_GETFD only queries the fd.
    let r = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    r == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EBADF)
}

async fn make_pipe() -> Result<(PipeSendStream, PipeReceiveStream)> {
    pipe()
}

/// A pipe whose buffer is full (Trio's `make_clogged_pipe`): writes of more than
/// `PIPE_BUF` bytes, so that a half-full buffer still takes a partial write.
async fn make_clogged_pipe() -> Result<(PipeSendStream, PipeReceiveStream)> {
    let (s, r) = pipe()?;
    let chunk = vec![b'x'; 2 * libc::PIPE_BUF];
    loop {
        match raw_write(s.as_raw_fd(), &chunk) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => return Err(e.into()),
        }
    }
    Ok((s, r))
}

#[trio::test]
async fn send_pipe() -> Result<()> {
    // test_send_pipe
    let (r, w) = raw_pipe();
    let w_fd = w.as_raw_fd();
    let send = PipeSendStream::new(w)?;
    assert_eq!(send.as_raw_fd(), w_fd);
    send.send_all(b"123").await?;
    let mut buf = [0u8; 8];
    assert_eq!(raw_read(r.as_raw_fd(), &mut buf)?, 3);
    assert_eq!(&buf[..3], b"123");
    send.aclose().await
}

#[trio::test]
async fn receive_pipe() -> Result<()> {
    // test_receive_pipe
    let (r, w) = raw_pipe();
    let r_fd = r.as_raw_fd();
    let recv = PipeReceiveStream::new(r)?;
    assert_eq!(recv.as_raw_fd(), r_fd);
    raw_write(w.as_raw_fd(), b"123")?;
    let mut buf = [0u8; 8];
    let n = recv.receive_some(&mut buf).await?;
    assert_eq!(&buf[..n], b"123");
    drop(w);
    assert_eq!(recv.receive_some(&mut buf).await?, 0);
    recv.aclose().await
}

#[trio::test]
async fn pipes_combined() -> Result<()> {
    // test_pipes_combined: a mebibyte through a pipe, the reader starting late.
    let (write, read) = make_pipe().await?;
    const COUNT: usize = 1 << 20;
    let (w, r) = (&write, &read);
    trio::open_nursery(async |n| {
        n.start_soon(async move { w.send_all(&vec![0u8; COUNT]).await })?;
        n.start_soon(async move {
            wait_all_tasks_blocked().await?;
            let mut received = 0;
            let mut buf = vec![0u8; 4096];
            while received < COUNT {
                received += r.receive_some(&mut buf).await?;
            }
            assert_eq!(received, COUNT);
            Ok(())
        })?;
        Ok(())
    })
    .await?;
    read.aclose().await?;
    write.aclose().await
}

#[trio::test]
async fn pipe_errors() -> Result<()> {
    // test_pipe_errors: receive_some needs room for a byte.
    let (r, w) = raw_pipe();
    drop(w);
    let s = PipeReceiveStream::new(r)?;
    let e = s.receive_some(&mut []).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    s.aclose().await
}

#[trio::test]
async fn dropping_closes_the_fds() -> Result<()> {
    // test_del
    let _serial = serial();
    let (w, r) = high_pipe()?;
    let (f1, f2) = (w.as_raw_fd(), r.as_raw_fd());
    drop((w, r));
    assert!(fd_is_closed(f1));
    assert!(fd_is_closed(f2));
    Ok(())
}

#[trio::test]
async fn aclose_closes_the_fds() -> Result<()> {
    // test_async_with
    let _serial = serial();
    let (w, r) = high_pipe()?;
    let (f1, f2) = (w.as_raw_fd(), r.as_raw_fd());
    w.aclose().await?;
    r.aclose().await?;
    assert_eq!(w.as_raw_fd(), -1);
    assert_eq!(r.as_raw_fd(), -1);
    assert!(w.is_closed() && r.is_closed());
    assert!(fd_is_closed(f1));
    assert!(fd_is_closed(f2));
    Ok(())
}

#[trio::test]
async fn misdirected_aclose_regression() -> Result<()> {
    // test_misdirected_aclose_regression (python-trio/trio#661): closing an already
    // closed stream again must not touch a new fd that reuses its number.
    let _serial = serial();
    let (w, r) = high_pipe()?;
    let old_r_fd = r.as_raw_fd();
    w.aclose().await?;
    r.aclose().await?;

    // A new pipe whose read end gets the old number (the lowest free one that
    // high up: Trio does a little dup2 dance instead).
    let (r2, w2) = raw_pipe();
    let r2 = PipeReceiveStream::new(move_high(r2, old_r_fd))?;
    assert_eq!(r2.as_raw_fd(), old_r_fd);
    let r2 = &r2;
    let w2 = Cell::new(Some(w2));
    trio::open_nursery(async |n| {
        n.start_soon(async move {
            assert_eq!(r2.receive_some(&mut [0u8; 10]).await?, 0);
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        // The key test: closing the *old* handle again leaves the task blocked on
        // the new one alone.
        r.aclose().await?;
        wait_all_tasks_blocked().await?;
        assert!(!r2.is_closed());
        assert!(!fd_is_closed(old_r_fd));
        // Close the new write end so that the task gets end of file.
        drop(w2.take());
        Ok(())
    })
    .await?;
    r2.aclose().await
}

#[trio::test]
async fn close_at_bad_time_for_receive_some() -> Result<()> {
    // test_close_at_bad_time_for_receive_some: the pipe becomes readable and is
    // closed before the woken receiver gets to read.
    let (s, r) = make_pipe().await?;
    let (s, r) = (&s, &r);
    trio::open_nursery(async |n| {
        n.start_soon(async move {
            let e = r.receive_some(&mut [0u8; 10]).await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::ClosedResource);
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        // The pipe turns readable (no yield here: the receiver cannot run yet)...
        raw_write(s.as_raw_fd(), b"x")?;
        // ...and is closed before the woken receiver gets to read.
        aclose_forcefully(r).await
    })
    .await?;
    s.aclose().await
}

#[trio::test]
async fn close_at_bad_time_for_send_all() -> Result<()> {
    // test_close_at_bad_time_for_send_all: the pipe drains and the sender is closed
    // before the woken sender gets to write.
    let (s, r) = make_clogged_pipe().await?;
    let (s, r) = (&s, &r);
    trio::open_nursery(async |n| {
        n.start_soon(async move {
            let e = s.send_all(&[b'x'; 100]).await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::ClosedResource);
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        let mut buf = vec![0u8; 1 << 16];
        // Drain the pipe without yielding in between, then close the sender.
        while let Ok(n) = raw_read(r.as_raw_fd(), &mut buf) {
            if n == 0 {
                break;
            }
        }
        aclose_forcefully(s).await
    })
    .await?;
    r.aclose().await
}

#[trio::test]
async fn bizarre_os_error_from_receive_is_broken_resource() -> Result<()> {
    // test_bizarro_OSError_from_receive: the fd turns into a directory, read fails
    // with EISDIR: BrokenResource.
    let (s, r) = make_pipe().await?;
    let dir = std::fs::File::open("/")?;
    // SAFETY: dup2 replaces r's fd with a copy of the directory fd; r still owns
    // (and will close) that number.
    assert_ne!(unsafe { libc::dup2(dir.as_raw_fd(), r.as_raw_fd()) }, -1);
    let e = r.receive_some(&mut [0u8; 10]).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BrokenResource);
    r.aclose().await?;
    s.aclose().await
}

#[trio::test]
async fn pipe_fully() -> Result<()> {
    // test_pipe_fully: the one-way stream conformance suite, with a clogged pipe
    // for the blocking checks.
    trio::fail_after(
        Duration::from_secs(60),
        check_one_way_stream(&make_pipe, Some(&make_clogged_pipe)),
    )
    .await
}

#[trio::test]
async fn two_receivers_or_two_senders_are_busy() -> Result<()> {
    // Trio's ConflictDetector: a second task in the same direction is refused at
    // once, even while the first one is blocked.
    let (s, r) = make_clogged_pipe().await?;
    let (s, r) = (&s, &r);
    let (s2, r2) = make_pipe().await?;
    let r2 = &r2;
    trio::open_nursery(async |n| {
        n.start_soon(async move { s.send_all(b"more").await })?;
        n.start_soon(async move { r2.receive_some(&mut [0u8; 4]).await.map(drop) })?;
        wait_all_tasks_blocked().await?;
        let e = s.send_all(b"x").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BusyResource);
        let e = s.wait_send_all_might_not_block().await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BusyResource);
        let e = r2.receive_some(&mut [0u8; 4]).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BusyResource);
        // Unblock both.
        s2.send_all(b"y").await?;
        let mut buf = vec![0u8; 1 << 16];
        while raw_read(r.as_raw_fd(), &mut buf).is_ok() {}
        Ok(())
    })
    .await?;
    Ok(())
}

#[trio::test]
async fn writing_to_a_pipe_without_reader_is_broken_resource() -> Result<()> {
    let (s, r) = make_pipe().await?;
    r.aclose().await?;
    let e = s.send_all(b"nobody listens").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BrokenResource);
    // And it stays broken.
    let e = s.send_all(b"still nobody").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BrokenResource);
    s.aclose().await
}

#[trio::test]
async fn closing_restores_blocking_mode() -> Result<()> {
    // Non-blocking mode is a property of the open file description, shared with
    // every dup: put it back as we found it.
    let (r, _w) = raw_pipe();
    let dup = r.try_clone()?;
    let stream = PipeReceiveStream::new(r)?;
    // SAFETY: F_GETFL only reads the status flags.
    let flags = || unsafe { libc::fcntl(dup.as_raw_fd(), libc::F_GETFL) };
    assert_ne!(flags() & libc::O_NONBLOCK, 0);
    stream.aclose().await?;
    assert_eq!(flags() & libc::O_NONBLOCK, 0);
    Ok(())
}

#[test]
fn streams_can_be_made_and_dropped_outside_trio() {
    // Registration with the reactor is lazy: nothing needs a run loop until an
    // operation has to wait.
    let (s, r) = pipe().unwrap();
    drop(s);
    drop(r);
}
