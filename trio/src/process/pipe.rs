//! Pipe streams (Trio's `FdStream`): [`PipeSendStream`] and [`PipeReceiveStream`].
//!
//! # Invariants
//!
//! * `fd` is `None` exactly when the stream was closed. Every system call borrows
//!   the fd for the duration of the call only, so a `close` from another task can
//!   happen only *between* calls, and the next poll sees `None` and reports
//!   `ClosedResource` (python-trio/trio#661: no `EBADF`, never an operation on a
//!   recycled fd number).
//! * `reg` is `Some` only while `fd` is `Some`: it is created on the first
//!   operation that would block (so a stream made outside trio, or one that never
//!   blocks, costs no `epoll_ctl`) and dropped *before* the fd is closed.
//! * `busy` is set for the whole of one operation (Trio's `ConflictDetector`): a
//!   second task calling into the same stream meanwhile gets `BusyResource` at
//!   once, whether or not it would have had to wait.
//! * `waker` is the waker of the task blocked in the operation, so that `close`
//!   can wake it (the registration's own wakers are only woken by kernel events).
//! * `kept` holds bytes a `receive_some` read whose future was dropped at its
//!   closing schedule point (after the read): the next `receive_some` returns
//!   them first, so a dropped receive loses nothing.
//! * On the io_uring reactor (Linux), `receive_some` and `send_all` are ring
//!   reads and writes (`ring`, a `lowlevel::RingIo`): bytes a dropped read got
//!   are kept there for the next `receive_some`. `close` ends them through
//!   `notify_closing`, as it ends readiness waits. A kernel that answers a
//!   ring read on a non-blocking pipe with `EAGAIN` sends the call down the
//!   readiness path.

use std::cell::RefCell;
use std::fmt;
use std::future::poll_fn;
use std::io::{self, IoSliceMut};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::task::{Context, Poll, Waker};

use crate::abc::{AsyncResource, ReceiveStream, SendStream};
use crate::conflict::ConflictDetector;
use crate::kept::{Keep, KeepInto, take_kept};
use crate::lowlevel::{
    CancelRegistration, IoDirection, IoRegistration, cancel_shielded_checkpoint, checkpoint,
    checkpoint_if_cancelled, notify_closing, try_current_task,
};
use crate::sys;
use crate::{Error, ErrorKind, Result};

fn closed_error() -> Error {
    Error::new(ErrorKind::ClosedResource, "this pipe was already closed")
}

/// A failed system call on a pipe: `EBADF` means closed (it cannot happen with
/// the `Option` discipline above, but stays mapped as Trio maps it); anything else
/// means the pipe is broken (for a send, typically `EPIPE`: the reader is gone).
fn io_error(e: io::Error, what: &'static str) -> Error {
    if e.raw_os_error() == Some(libc::EBADF) {
        return closed_error();
    }
    Error::from(e).context(ErrorKind::BrokenResource, what)
}

/// One non-blocking fd and the bookkeeping of one direction of I/O on it.
struct FdCore {
    fd: RefCell<Option<OwnedFd>>,
    raw: RawFd,
    reg: RefCell<Option<IoRegistration>>,
    busy: ConflictDetector,
    waker: RefCell<Option<Waker>>,
    /// The fd was in blocking mode when we took it: put back on close, so that a
    /// shared open file description (a dup of stdin, say) is left as we found it.
    was_blocking: bool,
    /// Bytes a `receive_some` read whose future was dropped before returning
    /// them (at its closing schedule point): the next one returns them first.
    kept: RefCell<Vec<u8>>,
    #[cfg(target_os = "linux")]
    ring: crate::lowlevel::RingIo,
}

impl FdCore {
    /// `busy_message`: the `BusyResource` error's, for a second concurrent caller.
    fn new(fd: OwnedFd, busy_message: &'static str) -> Result<FdCore> {
        let raw = fd.as_raw_fd();
        let was_nonblocking = sys::fd::set_nonblocking(raw, true)?;
        Ok(FdCore {
            fd: RefCell::new(Some(fd)),
            raw,
            reg: RefCell::new(None),
            busy: ConflictDetector::new(busy_message),
            waker: RefCell::new(None),
            was_blocking: !was_nonblocking,
            kept: RefCell::new(Vec::new()),
            #[cfg(target_os = "linux")]
            ring: crate::lowlevel::RingIo::new(),
        })
    }

    /// A ring read's or write's error as the readiness path reports it.
    #[cfg(target_os = "linux")]
    fn ring_error(e: Error, what: &'static str) -> Error {
        match e.kind() {
            ErrorKind::ClosedResource => closed_error(),
            ErrorKind::Io => io_error(io::Error::from(e), what),
            _ => e,
        }
    }

    fn is_closed(&self) -> bool {
        self.fd.borrow().is_none()
    }

    fn raw_fd(&self) -> RawFd {
        if self.is_closed() { -1 } else { self.raw }
    }

    /// Closes the fd: deregisters it, tells the reactor (so raw `wait_readable`
    /// waiters on it wake with `ClosedResource`), restores its blocking mode,
    /// closes it, and wakes the task blocked here. Idempotent.
    fn close(&self) {
        let Some(fd) = self.fd.borrow_mut().take() else {
            return;
        };
        drop(self.reg.borrow_mut().take());
        if try_current_task().is_some() {
            notify_closing(self.raw);
        }
        if self.was_blocking {
            let _ = sys::fd::set_nonblocking(self.raw, false);
        }
        drop(fd);
        if let Some(w) = self.waker.borrow_mut().take() {
            w.wake();
        }
    }

    /// Runs `op` until it is done, waiting for `dir` whenever it would block, with
    /// Trio's checkpoint rules: a cancellation point first; if it completes without
    /// blocking, a schedule point after. `op` keeps its own progress (a partial
    /// write) across `WouldBlock`s.
    async fn io<R>(
        &self,
        dir: IoDirection,
        what: &'static str,
        op: impl FnMut(RawFd) -> io::Result<R>,
    ) -> Result<R> {
        let (res, blocked) = self.io_op(dir, what, op).await?;
        if res.is_ok() && !blocked {
            cancel_shielded_checkpoint().await?;
        }
        res
    }

    /// [`io`](Self::io) without its closing schedule point: the result, and
    /// whether it had to wait (then it was a schedule point).
    async fn io_op<R>(
        &self,
        dir: IoDirection,
        what: &'static str,
        mut op: impl FnMut(RawFd) -> io::Result<R>,
    ) -> Result<(Result<R>, bool)> {
        checkpoint_if_cancelled()?;
        let mut cancel = CancelRegistration::new();
        let mut blocked = false;
        let res = poll_fn(|cx| {
            let p = self.poll_io(cx, dir, what, &mut op, &mut cancel);
            blocked |= p.is_pending();
            p
        })
        .await;
        self.waker.borrow_mut().take();
        Ok((res, blocked))
    }

    fn poll_io<R>(
        &self,
        cx: &mut Context<'_>,
        dir: IoDirection,
        what: &'static str,
        op: &mut impl FnMut(RawFd) -> io::Result<R>,
        cancel: &mut CancelRegistration,
    ) -> Poll<Result<R>> {
        loop {
            let raw = match &*self.fd.borrow() {
                Some(fd) => fd.as_raw_fd(),
                None => return Poll::Ready(Err(closed_error())),
            };
            // Never registered: just try (most pipes that never block never cost an
            // epoll_ctl). Registered: try only when the direction may be ready.
            let report = match &*self.reg.borrow() {
                None => None,
                Some(reg) => match reg.poll_ready(cx, dir) {
                    Poll::Ready(r) => Some(r),
                    Poll::Pending => {
                        let mut w = self.waker.borrow_mut();
                        if !w.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                            *w = Some(cx.waker().clone());
                        }
                        drop(w);
                        if let Poll::Ready(e) = cancel.poll_cancelled(cx) {
                            return Poll::Ready(Err(e));
                        }
                        return Poll::Pending;
                    }
                },
            };
            match op(raw) {
                Ok(r) => {
                    cancel.clear();
                    return Poll::Ready(Ok(r));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => match report {
                    Some(report) => {
                        if let Some(reg) = &*self.reg.borrow() {
                            reg.clear_ready(dir, report);
                        }
                    }
                    None => match IoRegistration::new(raw) {
                        Ok(reg) => *self.reg.borrow_mut() = Some(reg),
                        Err(e) => {
                            cancel.clear();
                            return Poll::Ready(Err(e));
                        }
                    },
                },
                Err(e) => {
                    cancel.clear();
                    return Poll::Ready(Err(io_error(e, what)));
                }
            }
        }
    }
}

impl Drop for FdCore {
    fn drop(&mut self) {
        self.close();
    }
}

impl fmt::Debug for FdCore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FdCore")
            .field("fd", &self.raw_fd())
            .field("busy", &self.busy.is_held())
            .finish()
    }
}

/// The sending end of a pipe — for example a child's standard input — as a
/// trio [`SendStream`] (Trio's `FdStream`, send side).
///
/// The stream owns its fd, puts it in non-blocking mode, and closes it when
/// closed or dropped (restoring the blocking mode it found). Only one task may
/// send at a time: a second concurrent `send_all` or
/// `wait_send_all_might_not_block` fails with
/// [`BusyResource`](crate::ErrorKind::BusyResource).
///
/// Writing to a pipe whose reader is gone fails with `EPIPE`, reported as
/// [`BrokenResource`](crate::ErrorKind::BrokenResource) — provided `SIGPIPE` is
/// ignored, as Rust programs arrange before `main` (pipes have no `MSG_NOSIGNAL`).
///
/// On io_uring (Linux) `send_all` is a series of ring writes; cancelled, it
/// stops after a write that completed, having sent a prefix, as the stream
/// contract allows.
///
/// # Examples
///
/// ```
/// use trio::abc::{ReceiveStream, SendStream};
/// # trio::run(async {
/// let (send, receive) = trio::process::pipe()?;
/// send.send_all(b"hello").await?;
/// let mut buf = [0u8; 16];
/// let n = receive.receive_some(&mut buf).await?;
/// assert_eq!(&buf[..n], b"hello");
/// # Ok(()) }).unwrap();
/// ```
#[derive(Debug)]
pub struct PipeSendStream {
    core: FdCore,
}

/// The receiving end of a pipe — for example a child's standard output — as a
/// trio [`ReceiveStream`] (Trio's `FdStream`, receive side).
///
/// The stream owns its fd, puts it in non-blocking mode, and closes it when
/// closed or dropped (restoring the blocking mode it found). Only one task may
/// receive at a time: a second concurrent `receive_some` fails with
/// [`BusyResource`](crate::ErrorKind::BusyResource). End of stream (`Ok(0)`) comes
/// once every copy of the write end is closed — for a child's output, once the
/// child (and anything it passed the pipe on to) has exited or closed it.
///
/// On io_uring (Linux) `receive_some` is a ring read: cancelled, it either
/// read nothing or returns what it read; a dropped one's bytes come first at
/// the next `receive_some` — none is lost.
///
/// # Examples
///
/// ```
/// use trio::abc::{AsyncResource, ReceiveStream, SendStream};
/// # trio::run(async {
/// let (send, receive) = trio::process::pipe()?;
/// send.send_all(b"bye").await?;
/// send.aclose().await?;
/// let mut buf = [0u8; 16];
/// assert_eq!(receive.receive_some(&mut buf).await?, 3);
/// assert_eq!(receive.receive_some(&mut buf).await?, 0); // end of stream
/// # Ok(()) }).unwrap();
/// ```
#[derive(Debug)]
pub struct PipeReceiveStream {
    core: FdCore,
}

/// Makes a new pipe and wraps both ends: `(send end, receive end)`.
///
/// Both ends are close-on-exec and non-blocking. Works outside trio too (the ends
/// register with the run loop the first time they have to wait).
///
/// # Errors
///
/// An [`Io`](crate::ErrorKind::Io) error if the system is out of file descriptors.
///
/// # Examples
///
/// ```
/// use trio::abc::{ReceiveStream, SendStream};
/// # trio::run(async {
/// let (send, receive) = trio::process::pipe()?;
/// trio::open_nursery(async |n| {
///     n.start_soon(async { send.send_all(&[7u8; 100_000]).await })?; // more than a pipe holds
///     let mut total = 0;
///     let mut buf = vec![0u8; 8192];
///     while total < 100_000 {
///         total += receive.receive_some(&mut buf).await?;
///     }
///     Ok(())
/// }).await?;
/// # Ok(()) }).unwrap();
/// ```
pub fn pipe() -> Result<(PipeSendStream, PipeReceiveStream)> {
    let (r, w) = sys::fd::pipe()?;
    Ok((PipeSendStream::new(w)?, PipeReceiveStream::new(r)?))
}

impl PipeSendStream {
    /// Wraps the write end of a pipe (or a tty, a FIFO, a socket — anything that
    /// supports non-blocking writes and `epoll`), taking ownership of it and
    /// putting it in non-blocking mode.
    ///
    /// Non-blocking mode belongs to the open file description, so it is shared
    /// with every `dup` of the fd and with other processes that inherited it:
    /// wrap a shared fd (your own stdout, say) only if nobody else uses it
    /// meanwhile. It is restored when the stream is closed.
    ///
    /// # Errors
    ///
    /// An [`Io`](crate::ErrorKind::Io) error if the fd's flags cannot be changed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::fd::OwnedFd;
    /// use trio::abc::SendStream;
    /// # trio::run(async {
    /// let (a, b) = std::os::unix::net::UnixStream::pair()?;
    /// let send = trio::process::PipeSendStream::new(OwnedFd::from(a))?;
    /// send.send_all(b"x").await?;
    /// # drop(b);
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn new(fd: OwnedFd) -> Result<PipeSendStream> {
        Ok(PipeSendStream {
            core: FdCore::new(fd, "another task is using this pipe for sending")?,
        })
    }

    /// Closes the stream now, without a checkpoint (the synchronous half of
    /// [`aclose`](AsyncResource::aclose)); a task blocked in `send_all` wakes with
    /// [`ClosedResource`](crate::ErrorKind::ClosedResource). Closing twice is fine.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::abc::SendStream;
    /// # trio::run(async {
    /// let (send, _receive) = trio::process::pipe()?;
    /// send.close();
    /// let err = send.send_all(b"x").await.unwrap_err();
    /// assert_eq!(err.kind(), trio::ErrorKind::ClosedResource);
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn close(&self) {
        self.core.close();
    }

    /// True once the stream was closed.
    ///
    /// # Examples
    ///
    /// ```
    /// let (send, _receive) = trio::process::pipe().unwrap();
    /// assert!(!send.is_closed());
    /// send.close();
    /// assert!(send.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.core.is_closed()
    }
}

impl PipeReceiveStream {
    /// Wraps the read end of a pipe (or a tty, a FIFO, a socket — anything that
    /// supports non-blocking reads and `epoll`), taking ownership of it and
    /// putting it in non-blocking mode.
    ///
    /// Non-blocking mode belongs to the open file description, so it is shared
    /// with every `dup` of the fd and with other processes that inherited it:
    /// wrap a shared fd (your own stdin, say) only if nobody else uses it
    /// meanwhile. It is restored when the stream is closed.
    ///
    /// # Errors
    ///
    /// An [`Io`](crate::ErrorKind::Io) error if the fd's flags cannot be changed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Write;
    /// use std::os::fd::OwnedFd;
    /// use trio::abc::ReceiveStream;
    /// # trio::run(async {
    /// let (a, mut b) = std::os::unix::net::UnixStream::pair()?;
    /// let receive = trio::process::PipeReceiveStream::new(OwnedFd::from(a))?;
    /// b.write_all(b"x")?;
    /// let mut buf = [0u8; 4];
    /// assert_eq!(receive.receive_some(&mut buf).await?, 1);
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn new(fd: OwnedFd) -> Result<PipeReceiveStream> {
        Ok(PipeReceiveStream {
            core: FdCore::new(fd, "another task is using this pipe for receiving")?,
        })
    }

    /// Closes the stream now, without a checkpoint (the synchronous half of
    /// [`aclose`](AsyncResource::aclose)); a task blocked in `receive_some` wakes
    /// with [`ClosedResource`](crate::ErrorKind::ClosedResource). Closing twice is
    /// fine.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::abc::ReceiveStream;
    /// # trio::run(async {
    /// let (_send, receive) = trio::process::pipe()?;
    /// receive.close();
    /// let err = receive.receive_some(&mut [0u8; 4]).await.unwrap_err();
    /// assert_eq!(err.kind(), trio::ErrorKind::ClosedResource);
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn close(&self) {
        self.core.close();
    }

    /// True once the stream was closed.
    ///
    /// # Examples
    ///
    /// ```
    /// let (_send, receive) = trio::process::pipe().unwrap();
    /// receive.close();
    /// assert!(receive.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.core.is_closed()
    }
}

/// The fd, or `-1` once the stream is closed (Trio's `fileno()`).
///
/// # Examples
///
/// ```
/// use std::os::fd::AsRawFd;
/// let (send, _receive) = trio::process::pipe().unwrap();
/// assert!(send.as_raw_fd() >= 0);
/// send.close();
/// assert_eq!(send.as_raw_fd(), -1);
/// ```
impl AsRawFd for PipeSendStream {
    fn as_raw_fd(&self) -> RawFd {
        self.core.raw_fd()
    }
}

/// The fd, or `-1` once the stream is closed (Trio's `fileno()`).
///
/// # Examples
///
/// ```
/// use std::os::fd::AsRawFd;
/// let (_send, receive) = trio::process::pipe().unwrap();
/// assert!(receive.as_raw_fd() >= 0);
/// ```
impl AsRawFd for PipeReceiveStream {
    fn as_raw_fd(&self) -> RawFd {
        self.core.raw_fd()
    }
}

/// Wraps a child's standard input, piped with `Stdio::piped()`.
///
/// # Examples
///
/// ```
/// use std::process::{Command, Stdio};
/// use trio::abc::AsyncResource;
/// # trio::run(async {
/// let mut child = Command::new("cat").stdin(Stdio::piped()).stdout(Stdio::null()).spawn()?;
/// let stdin = trio::process::PipeSendStream::try_from(child.stdin.take().unwrap())?;
/// stdin.aclose().await?;
/// assert!(child.wait()?.success());
/// # Ok(()) }).unwrap();
/// ```
impl TryFrom<std::process::ChildStdin> for PipeSendStream {
    type Error = Error;

    fn try_from(s: std::process::ChildStdin) -> Result<Self> {
        PipeSendStream::new(OwnedFd::from(s))
    }
}

/// Wraps a child's standard output, piped with `Stdio::piped()`.
///
/// # Examples
///
/// ```
/// use std::process::{Command, Stdio};
/// use trio::abc::ReceiveStream;
/// # trio::run(async {
/// let mut child = Command::new("printf").arg("hi").stdout(Stdio::piped()).spawn()?;
/// let stdout = trio::process::PipeReceiveStream::try_from(child.stdout.take().unwrap())?;
/// let mut buf = [0u8; 8];
/// assert_eq!(stdout.receive_some(&mut buf).await?, 2);
/// assert!(child.wait()?.success());
/// # Ok(()) }).unwrap();
/// ```
impl TryFrom<std::process::ChildStdout> for PipeReceiveStream {
    type Error = Error;

    fn try_from(s: std::process::ChildStdout) -> Result<Self> {
        PipeReceiveStream::new(OwnedFd::from(s))
    }
}

/// Wraps a child's standard error, piped with `Stdio::piped()`.
///
/// # Examples
///
/// ```
/// use std::process::{Command, Stdio};
/// use trio::abc::ReceiveStream;
/// # trio::run(async {
/// let mut child = Command::new("sh").args(["-c", "printf oops >&2"]).stderr(Stdio::piped()).spawn()?;
/// let stderr = trio::process::PipeReceiveStream::try_from(child.stderr.take().unwrap())?;
/// let mut buf = [0u8; 8];
/// assert_eq!(stderr.receive_some(&mut buf).await?, 4);
/// assert!(child.wait()?.success());
/// # Ok(()) }).unwrap();
/// ```
impl TryFrom<std::process::ChildStderr> for PipeReceiveStream {
    type Error = Error;

    fn try_from(s: std::process::ChildStderr) -> Result<Self> {
        PipeReceiveStream::new(OwnedFd::from(s))
    }
}

impl AsyncResource for PipeSendStream {
    /// Closes the pipe (see [`close`](PipeSendStream::close)), then checkpoints.
    async fn aclose(&self) -> Result<()> {
        self.core.close();
        checkpoint().await
    }
}

impl SendStream for PipeSendStream {
    async fn send_all(&self, data: &[u8]) -> Result<()> {
        let _busy = self.core.busy.enter()?;
        if self.core.is_closed() {
            return Err(closed_error());
        }
        let mut sent = 0;
        #[cfg(target_os = "linux")]
        while sent < data.len() && crate::lowlevel::RingIo::is_available() {
            match self.core.ring.write(self.core.raw, &data[sent..]).await {
                Ok(0) => break,
                Ok(n) => sent += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => return Err(FdCore::ring_error(e, "writing to the pipe failed")),
            }
        }
        if sent > 0 && sent == data.len() {
            return Ok(());
        }
        self.core
            .io(IoDirection::Write, "writing to the pipe failed", |fd| {
                while sent < data.len() {
                    sent += sys::fd::write(fd, &data[sent..])?;
                }
                Ok(())
            })
            .await
    }

    async fn wait_send_all_might_not_block(&self) -> Result<()> {
        let _busy = self.core.busy.enter()?;
        if self.core.is_closed() {
            return Err(closed_error());
        }
        // The "operation" is a zero-timeout poll(2), so a stale readiness report is
        // never taken for the real thing.
        self.core
            .io(IoDirection::Write, "polling the pipe failed", |fd| {
                sys::fd::poll_now(fd, libc::POLLOUT)
            })
            .await
    }
}

impl AsyncResource for PipeReceiveStream {
    /// Closes the pipe (see [`close`](PipeReceiveStream::close)), then checkpoints.
    async fn aclose(&self) -> Result<()> {
        self.core.close();
        checkpoint().await
    }
}

impl ReceiveStream for PipeReceiveStream {
    async fn receive_some(&self, buf: &mut [u8]) -> Result<usize> {
        let _busy = self.core.busy.enter()?;
        if self.core.is_closed() {
            return Err(closed_error());
        }
        if buf.is_empty() {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "receive_some needs a buffer with room for at least one byte",
            ));
        }
        let core = &self.core;
        if !core.kept.borrow().is_empty() {
            // Bytes a dropped receive read: the schedule point first, so a
            // future dropped there has taken nothing.
            checkpoint_if_cancelled()?;
            cancel_shielded_checkpoint().await?;
            return Ok(take_kept(&core.kept, &mut [IoSliceMut::new(buf)]));
        }
        #[cfg(target_os = "linux")]
        if crate::lowlevel::RingIo::is_available() {
            match core.ring.read(core.raw, buf).await {
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                r => return r.map_err(|e| FdCore::ring_error(e, "reading from the pipe failed")),
            }
        }
        let (res, blocked) = core
            .io_op(IoDirection::Read, "reading from the pipe failed", |fd| {
                sys::fd::read(fd, buf)
            })
            .await?;
        let n = res?;
        if !blocked {
            // Read: if the future is dropped at the schedule point, the bytes
            // are kept for the next receive.
            let parts = [IoSliceMut::new(buf)];
            let keep = Keep {
                into: KeepInto::Bytes(&core.kept),
                parts: &parts,
                n,
            };
            cancel_shielded_checkpoint().await?;
            std::mem::forget(keep);
        }
        Ok(n)
    }
}

/// A staple whose send half is a pipe (as [`Process::take_stdio`] gives) can end
/// its direction: `send_eof` closes the pipe, as Trio's `StapledStream` does for a
/// send half without `send_eof` of its own.
///
/// [`Process::take_stdio`]: super::Process::take_stdio
impl<R: ReceiveStream> crate::abc::HalfCloseableStream for crate::StapledStream<PipeSendStream, R> {
    /// Closes the send half (the pipe), so the reader sees end of file; receiving
    /// still works.
    ///
    /// # Errors
    ///
    /// `Cancelled` if cancelled — the pipe is closed all the same.
    ///
    /// # Cancellation
    ///
    /// A checkpoint.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::abc::{HalfCloseableStream, ReceiveStream};
    /// # trio::run(async {
    /// let (s, r) = trio::process::pipe()?;
    /// let (s2, r2) = trio::process::pipe()?;
    /// let stapled = trio::StapledStream::new(s, r2);
    /// stapled.send_eof().await?;
    /// assert_eq!(r.receive_some(&mut [0u8; 4]).await?, 0);
    /// drop(s2);
    /// assert_eq!(stapled.receive_some(&mut [0u8; 4]).await?, 0);
    /// # Ok(()) }).unwrap();
    /// ```
    async fn send_eof(&self) -> Result<()> {
        self.send_stream().aclose().await
    }
}
