//! Persistent fd registrations with readiness tracking.
//!
//! # Why a second way to wait for fds
//!
//! [`wait_readable`](crate::lowlevel::wait_readable) is Trio's contract: level
//! semantics on any raw fd, one `epoll_ctl` per wait to re-arm it. That is right
//! for occasional waits, but a socket that is read and written in a loop pays two
//! extra system calls per round trip for it. An [`IoRegistration`] registers its fd
//! once, edge-triggered, for both directions, and remembers what the kernel
//! reported: a read that would block clears the "readable" bit, and the next edge
//! sets it again. Waiting costs no system call at all.
//!
//! # The tick
//!
//! Clearing readiness after a failed read races with the event that makes the fd
//! readable again: if that event was processed between the read and the clear, the
//! clear would erase it and the task would sleep forever. So every readiness report
//! carries the reactor's *tick* for that fd (incremented on every event), and
//! [`IoRegistration::clear_ready`] only clears if no event came in since the
//! report it is given — the approach tokio's `ScheduledIo` takes.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use super::cancel::{CancelWait, check_cancelled, outside_trio};
use super::context;
use super::wait::{self, RawWait};
use crate::error::{Error, Result};
use crate::sys::source::RawSource as RawFd;

/// Token bit that marks a registration (raw-fd waits use the fd as the token).
pub(in crate::core) const REG_BIT: usize = 1 << 62;

const READ: u8 = 1;
const WRITE: u8 = 2;
const READ_CLOSED: u8 = 4;
const WRITE_CLOSED: u8 = 8;

/// One registration's state, shared by the reactor and the [`IoRegistration`].
#[derive(Default)]
pub(in crate::core) struct RegState {
    ready: Cell<u8>,
    tick: Cell<u32>,
    read_waker: RefCell<Option<Waker>>,
    write_waker: RefCell<Option<Waker>>,
    /// Windows: a report has been asked for since the last one (mio's AFD polls
    /// report once; see `sys/source.rs`). io_uring: the multishot poll has been
    /// asked for (it is armed at the first wait, so that a socket whose
    /// operations are ring operations never pays for reports nobody reads).
    #[cfg(any(windows, target_os = "linux"))]
    armed: Cell<bool>,
}

impl RegState {
    /// Records an event from the kernel and wakes the interested tasks.
    pub(in crate::core) fn on_event(&self, ev: &mio::event::Event) {
        let mut bits = 0;
        if ev.is_readable() || ev.is_error() {
            bits |= READ;
        }
        if ev.is_read_closed() {
            bits |= READ | READ_CLOSED;
        }
        if ev.is_writable() || ev.is_error() {
            bits |= WRITE;
        }
        if ev.is_write_closed() {
            bits |= WRITE | WRITE_CLOSED;
        }
        self.on_bits(bits);
    }

    /// Records a report from io_uring: the `poll(2)` mask a multishot
    /// `POLL_ADD` completed with, or an error (negative), which makes both
    /// directions ready so that the next operation meets the error. Read as mio
    /// reads epoll's events.
    #[cfg(target_os = "linux")]
    pub(in crate::core) fn on_poll_result(&self, res: i32) {
        if res < 0 {
            self.on_bits(READ | WRITE);
            return;
        }
        let has = |flag: libc::c_short| res & i32::from(flag) != 0;
        let (input, output) = (has(libc::POLLIN), has(libc::POLLOUT));
        let (err, hup, rdhup) = (has(libc::POLLERR), has(libc::POLLHUP), has(libc::POLLRDHUP));
        let mut bits = 0;
        if input || err {
            bits |= READ;
        }
        if hup || (input && rdhup) {
            bits |= READ | READ_CLOSED;
        }
        if output || err {
            bits |= WRITE;
        }
        if hup || err && (output || !input) {
            bits |= WRITE | WRITE_CLOSED;
        }
        self.on_bits(bits);
    }

    #[inline]
    fn on_bits(&self, bits: u8) {
        self.ready.set(self.ready.get() | bits);
        self.tick.set(self.tick.get().wrapping_add(1));
        #[cfg(windows)]
        self.armed.set(false);
        if bits & READ != 0 {
            if let Some(w) = self.read_waker.borrow_mut().take() {
                w.wake();
            }
        }
        if bits & WRITE != 0 {
            if let Some(w) = self.write_waker.borrow_mut().take() {
                w.wake();
            }
        }
    }
}

/// A direction of readiness.
///
/// # Examples
///
/// ```
/// assert_ne!(trio::lowlevel::IoDirection::Read, trio::lowlevel::IoDirection::Write);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoDirection {
    /// The fd can be read (or has reached end of file, or an error).
    Read,
    /// The fd can be written (or the peer went away, or an error).
    Write,
}

impl IoDirection {
    fn bit(self) -> u8 {
        match self {
            IoDirection::Read => READ,
            IoDirection::Write => WRITE,
        }
    }
}

/// A readiness report: pass it back to [`IoRegistration::clear_ready`] after an
/// operation would block.
///
/// # Examples
///
/// ```
/// # use std::io::Write;
/// # use std::os::fd::AsRawFd;
/// # trio::run(async {
/// let (a, mut b) = std::os::unix::net::UnixStream::pair()?;
/// a.set_nonblocking(true)?;
/// let reg = trio::lowlevel::IoRegistration::new(a.as_raw_fd())?;
/// b.write_all(b"x")?;
/// let ready: trio::lowlevel::IoReady = reg.ready(trio::lowlevel::IoDirection::Read).await?;
/// assert!(!ready.is_closed());
/// # Ok(()) }).unwrap();
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IoReady {
    tick: u32,
    closed: bool,
}

impl IoReady {
    /// True if the kernel reported the direction closed (end of file for reads,
    /// the peer gone for writes).
    pub fn is_closed(&self) -> bool {
        self.closed
    }
}

/// An fd registered once with the run loop's reactor, with readiness tracked for
/// both directions (edge-triggered; see the module notes in `registration.rs`).
///
/// The fd is not owned: keep it open while the registration lives, and drop the
/// registration before closing it. The fd should be in non-blocking mode.
///
/// The usual loop: wait with [`ready`](Self::ready) (or
/// [`poll_ready`](Self::poll_ready)), try the operation, and on `WouldBlock` call
/// [`clear_ready`](Self::clear_ready) with the report, then wait again.
///
/// # Examples
///
/// ```
/// use std::io::{Read, Write};
/// use std::os::fd::AsRawFd;
/// use trio::lowlevel::{IoDirection, IoRegistration};
/// # trio::run(async {
/// let (mut a, mut b) = std::os::unix::net::UnixStream::pair()?;
/// a.set_nonblocking(true)?;
/// let reg = IoRegistration::new(a.as_raw_fd())?;
/// b.write_all(b"hello")?;
/// let mut buf = [0u8; 16];
/// let n = loop {
///     let ready = reg.ready(IoDirection::Read).await?;
///     match a.read(&mut buf) {
///         Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => reg.clear_ready(IoDirection::Read, ready),
///         other => break other?,
///     }
/// };
/// assert_eq!(&buf[..n], b"hello");
/// # Ok(()) }).unwrap();
/// ```
pub struct IoRegistration {
    fd: RawFd,
    key: usize,
    state: Rc<RegState>,
    _not_send: std::marker::PhantomData<Rc<()>>,
}

impl fmt::Debug for IoRegistration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IoRegistration")
            .field("fd", &self.fd)
            .field("ready", &self.state.ready.get())
            .finish()
    }
}

impl IoRegistration {
    /// Registers `fd` with the current run's reactor, for both directions.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Usage`](crate::ErrorKind::Usage) outside trio; an I/O error if the kernel refuses the fd
    /// (for example, it is not open, or is a regular file).
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// let err = trio::lowlevel::IoRegistration::new(-1).unwrap_err();
    /// assert_eq!(err.kind(), trio::ErrorKind::Io);
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn new(fd: RawFd) -> Result<IoRegistration> {
        let state = Rc::new(RegState::default());
        let key = context::with_runner(|r| r.io.add_registration(fd, state.clone()))
            .ok_or_else(outside_trio)?
            .map_err(Error::from)?;
        #[cfg(windows)]
        state.armed.set(true);
        Ok(IoRegistration {
            fd,
            key,
            state,
            _not_send: std::marker::PhantomData,
        })
    }

    /// The registered fd.
    pub fn fd(&self) -> RawFd {
        self.fd
    }

    /// `Ready(report)` if `dir` is ready now; otherwise remembers `cx`'s waker (the
    /// last poller of a direction is the one woken) and returns `Pending`. This is
    /// the building block for `AsyncRead`/`AsyncWrite`; it does not check for
    /// cancellation — [`ready`](Self::ready) does.
    pub fn poll_ready(&self, cx: &mut Context<'_>, dir: IoDirection) -> Poll<IoReady> {
        let ready = self.state.ready.get();
        if ready & dir.bit() != 0 {
            return Poll::Ready(self.report(dir));
        }
        let slot = match dir {
            IoDirection::Read => &self.state.read_waker,
            IoDirection::Write => &self.state.write_waker,
        };
        let mut w = slot.borrow_mut();
        if !w.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            *w = Some(cx.waker().clone());
        }
        #[cfg(windows)]
        self.rearm();
        #[cfg(target_os = "linux")]
        if !self.state.armed.replace(true) {
            context::with_runner(|r| r.io.arm_registration(self.key));
        }
        wait::set(cx, RawWait::fd(self.fd as i64, dir));
        Poll::Pending
    }

    /// Windows: asks for the next report unless one was asked for since the last
    /// (a failure shows as an error report, so the waiter wakes and finds it).
    #[cfg(windows)]
    fn rearm(&self) {
        if self.state.armed.replace(true) {
            return;
        }
        let rearmed = context::with_runner(|r| r.io.rearm_registration(self.key));
        if let Some(Err(_)) = rearmed {
            self.state.ready.set(self.state.ready.get() | READ | WRITE);
        }
    }

    fn report(&self, dir: IoDirection) -> IoReady {
        let ready = self.state.ready.get();
        let closed = match dir {
            IoDirection::Read => ready & READ_CLOSED != 0,
            IoDirection::Write => ready & WRITE_CLOSED != 0,
        };
        IoReady {
            tick: self.state.tick.get(),
            closed,
        }
    }

    /// Waits until `dir` is ready.
    ///
    /// # Errors
    ///
    /// `Cancelled` if cancelled; [`ErrorKind::Usage`](crate::ErrorKind::Usage) outside trio.
    ///
    /// # Cancellation
    ///
    /// A cancellation point when it has to wait. When the direction is already
    /// ready it returns at once without a schedule point: the operation that
    /// follows it is where a stream checkpoints.
    pub async fn ready(&self, dir: IoDirection) -> Result<IoReady> {
        if self.state.ready.get() & dir.bit() != 0 {
            return Ok(self.report(dir));
        }
        check_cancelled()?;
        let mut cancel = CancelWait::default();
        std::future::poll_fn(|cx| {
            if let Poll::Ready(r) = self.poll_ready(cx, dir) {
                cancel.clear();
                return Poll::Ready(Ok(r));
            }
            match cancel.poll_cancelled(cx) {
                Poll::Ready(e) => Poll::Ready(Err(e)),
                Poll::Pending => Poll::Pending,
            }
        })
        .await
    }

    /// Forgets that `dir` was ready — call it when an operation would block —
    /// unless the kernel reported new readiness since `seen` was taken.
    ///
    /// A direction whose peer has closed ([`IoReady::is_closed`]) stays ready: end
    /// of stream or a hang-up is permanent, operations on it no longer block, and
    /// the kernel will not report it again. (A read that drained the last bytes of
    /// a stream whose end arrived with them must not forget that end.)
    pub fn clear_ready(&self, dir: IoDirection, seen: IoReady) {
        if self.state.tick.get() == seen.tick {
            let (bit, closed) = match dir {
                IoDirection::Read => (READ, READ_CLOSED),
                IoDirection::Write => (WRITE, WRITE_CLOSED),
            };
            let ready = self.state.ready.get();
            if ready & closed == 0 {
                self.state.ready.set(ready & !bit);
                #[cfg(windows)]
                self.rearm();
            }
        }
    }
}

impl Drop for IoRegistration {
    fn drop(&mut self) {
        context::with_runner(|r| r.io.remove_registration(self.key));
    }
}
