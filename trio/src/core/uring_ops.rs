//! Socket receive and send as io_uring operations (`IORING_OP_RECV`,
//! `IORING_OP_SEND`), used by OS sockets when the run's reactor is the ring.
//!
//! # Buffers the backend owns
//!
//! The kernel reads from / writes into an operation's buffer until the
//! operation's *last completion*, whatever happens to the future that asked for
//! it. So the buffer is never the caller's slice: it is a `Vec<u8>` moved into
//! the reactor's slab entry (`Op::Io`). A receive copies from it into the
//! caller's slice when the completion is delivered; a send copies the caller's
//! bytes into it before submitting. The entry, and the buffer with it, are freed
//! only by the operation's completion (see the `SAFETY` note in
//! `UringReactor::submit_io`).
//!
//! # Cancellation that cannot lie
//!
//! Trio's abort protocol, as its IOCP backend does it: a cancelled operation
//! either did not happen, or it completed and its result is delivered.
//!
//! * A waiting task that is cancelled queues `IORING_OP_ASYNC_CANCEL` for its
//!   operation and keeps waiting. If the completion says `-ECANCELED`, the
//!   operation did not happen: the task gets `Cancelled`. Otherwise its result is
//!   delivered — bytes received or sent — and the cancellation is seen at the
//!   next checkpoint (a cancelled `send_all` stops there, having sent a prefix,
//!   as the stream contract allows; no received byte is lost).
//! * A future that is dropped cannot wait: the entry is marked orphaned, the
//!   cancel queued, and the slab keeps the entry (and its buffer) until the last
//!   completion. Bytes a dropped receive got go to the socket's stash (if the
//!   socket is still alive), which the next receive returns first.
//! * An accept follows the same rules: a cancelled one either took no
//!   connection or returns it; a dropped one's connection goes to the
//!   listener's stash, for its next accept (which first waits for dropped
//!   accepts still in the kernel: a connection they get is first in line), and
//!   is closed if the listener is gone — never leaked.
//! * `notify_closing` (closing the socket) cancels the fd's operations at once
//!   and wakes their tasks with `ClosedResource`; the operations are orphaned.
//!
//! # Details that matter
//!
//! * The kernel tries a receive or send at once, when the loop submits it (a
//!   socket can be asked without blocking); one that would block waits as an
//!   internal poll, which a cancel or the peer's reset ends — never in a kernel
//!   worker thread. (Sends were first made with `IORING_RECVSEND_POLL_FIRST`,
//!   which skips that first try: every send then went through a poll, 10% of
//!   the echo benchmark's time.) Sockets use ring operations on Linux 5.19 or
//!   later (`COOP_TASKRUN`); older kernels keep the readiness path.
//! * A receive that starts while a dropped receive's operation is still in the
//!   kernel waits for that one's completion first: its bytes, if any, were
//!   received earlier and go first (through the stash).
//! * The semantics differ from readiness in one visible way: an operation in the
//!   kernel holds its place, so a second receive on the socket while one waits
//!   does not get data that arrives (the first does), where the readiness loop
//!   lets whichever call runs first take it. Stream sockets' `recv`/`send`
//!   and listeners' `accept` use the ring; datagrams, `connect` and the
//!   poll-based `AsyncRead`/`AsyncWrite` keep readiness. A poll-based read on
//!   the same socket takes the stash's bytes first, and waits while a dropped
//!   receive is still in the kernel (`RingIo::take_stashed`), so it never takes
//!   bytes ahead of that receive's.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::poll_fn;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};

use super::cancel::{CancelRegistration, check_cancelled};
use super::checkpoint::cancel_shielded_checkpoint;
use super::context;
use super::io::Dir;
use super::io_uring::{UringReactor, idx};
use super::reactor::Reactor;
use super::registration::IoDirection;
use super::wait::{self, RawWait};
use crate::error::{Error, ErrorKind, Result};
use crate::sys::source::RawSource as RawFd;

/// Bytes dropped receives got, kept for the socket's next receive.
#[derive(Default)]
pub(in crate::core) struct Stash {
    /// The bytes, in the order they were received.
    pub(in crate::core) bytes: RefCell<Vec<u8>>,
    /// Orphaned receives still in the kernel: their bytes, if any, come before
    /// those of any later receive, so a new receive waits for them first.
    pub(in crate::core) orphans: Cell<usize>,
    /// The receive waiting for `orphans` to reach zero.
    pub(in crate::core) waker: RefCell<Option<Waker>>,
    /// Connections a dropped accept got, for the listener's next accept.
    pub(in crate::core) accepted: RefCell<VecDeque<OwnedFd>>,
}

impl Stash {
    /// Moves the first bytes into `buf`; how many.
    fn take_into(&self, buf: &mut [u8]) -> usize {
        let mut s = self.bytes.borrow_mut();
        let n = s.len().min(buf.len());
        buf[..n].copy_from_slice(&s[..n]);
        s.drain(..n);
        n
    }

    /// One orphaned receive completed (its bytes, if any, already stashed).
    pub(in crate::core) fn orphan_done(&self) {
        self.orphans.set(self.orphans.get().saturating_sub(1));
        if self.orphans.get() == 0 {
            if let Some(w) = self.waker.borrow_mut().take() {
                w.wake();
            }
        }
    }
}

/// The largest buffer one operation owns (longer sends are partial sends,
/// longer receives short ones, as with `recv`/`send`). Large: a reader that
/// asks for a megabyte at a time must get it, or TCP keeps its window small
/// and the reader looks slower than it is.
const MAX_BUF: usize = 4 << 20;

/// What one ring operation shares between its future and the reactor.
pub(in crate::core) struct RingOpState {
    /// The completion's result, once it came.
    pub(in crate::core) result: Cell<Option<i32>>,
    /// The buffer, handed back by the completion.
    pub(in crate::core) buf: RefCell<Vec<u8>>,
    /// The fd was closed (`notify_closing`) while the operation was in flight.
    pub(in crate::core) closed: Cell<bool>,
    /// Nobody waits any more (the future was dropped, or the fd closed).
    pub(in crate::core) orphaned: Cell<bool>,
    /// Where an orphaned receive's bytes (or accept's connection) go.
    pub(in crate::core) stash: Weak<Stash>,
    /// An `accept` (a read whose result is a new fd), not a `recv`.
    pub(in crate::core) accept: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

impl RingOpState {
    /// Keeps a completed operation's result that nobody will take (its future
    /// was dropped): an accept's connection goes to the listener's stash, or is
    /// closed if the listener is gone or closed — never leaked; a receive's
    /// bytes go to the socket's stash (if it is still there and open), so that
    /// none is lost.
    pub(in crate::core) fn keep_untaken(&self, dir: Dir, res: i32, buf: &[u8]) {
        if self.accept.get() {
            if res >= 0 {
                // SAFETY: `res` is the result of a completed `IORING_OP_ACCEPT`
                // that nobody took: a new fd that nothing else owns.
                let conn = unsafe { OwnedFd::from_raw_fd(res) };
                if let Some(stash) = self.stash.upgrade().filter(|_| !self.closed.get()) {
                    stash.accepted.borrow_mut().push_back(conn);
                }
            }
        } else if dir == Dir::Read && res > 0 && !self.closed.get() {
            if let Some(stash) = self.stash.upgrade() {
                stash
                    .bytes
                    .borrow_mut()
                    .extend_from_slice(&buf[..res as usize]);
            }
        }
    }

    pub(in crate::core) fn wake(&self) {
        if let Some(w) = self.waker.borrow_mut().take() {
            w.wake();
        }
    }
}

fn with_ring<T>(f: impl FnOnce(&UringReactor) -> T) -> Option<T> {
    context::with_runner(|r| match &r.io {
        Reactor::Uring(u) => Some(f(u)),
        Reactor::Epoll(_) => None,
    })
    .flatten()
}

/// True if the current run's reactor is the ring, on a kernel that takes
/// socket operations (5.19 or later).
fn ring_active() -> bool {
    with_ring(UringReactor::ops_supported).unwrap_or(false)
}

/// Orphans the operation if its future goes away before its completion; if the
/// completion came but was never taken (the future dropped in between), a
/// receive's bytes go to the stash.
struct Guard {
    key: usize,
    dir: Dir,
    state: Rc<RingOpState>,
    taken: bool,
}

impl Drop for Guard {
    fn drop(&mut self) {
        let state = &self.state;
        match state.result.get() {
            None if !state.orphaned.get() => {
                with_ring(|u| u.cancel_io(self.key, state, true));
            }
            Some(n) if !self.taken => state.keep_untaken(self.dir, n, &state.buf.borrow()),
            _ => {}
        }
    }
}

/// Submits one operation and waits for its completion with the abort protocol
/// above. `fill` prepares the owned buffer; `take` reads it at completion.
async fn ring_op<R>(
    fd: RawFd,
    dir: Dir,
    accept: bool,
    len: usize,
    ring: &RingIo,
    fill: impl FnOnce(&mut Vec<u8>),
    take: impl FnOnce(&[u8], usize) -> R,
) -> Result<R> {
    check_cancelled()?;
    let spare = &ring.spare[idx(dir)];
    // The last operation's state, if nobody else holds it any more (the
    // reactor lets go at the completion): one allocation less per operation.
    let state = match spare.take() {
        Some(st) if Rc::strong_count(&st) == 1 => {
            st.result.set(None);
            st.closed.set(false);
            st.orphaned.set(false);
            st.accept.set(accept);
            st
        }
        _ => Rc::new(RingOpState {
            result: Cell::new(None),
            buf: RefCell::new(Vec::new()),
            closed: Cell::new(false),
            orphaned: Cell::new(false),
            stash: Rc::downgrade(&ring.stash),
            accept: Cell::new(accept),
            waker: RefCell::new(None),
        }),
    };
    let key = with_ring(|u| {
        let mut buf = u.take_buf(dir, len.min(MAX_BUF));
        fill(&mut buf);
        u.submit_io(fd, dir, buf, state.clone())
    })
    .unwrap_or_else(|| Err(super::cancel::outside_trio()))?;
    let mut guard = Guard {
        key,
        dir,
        state,
        taken: false,
    };
    let mut cancel = CancelRegistration::new();
    let mut cancelled: Option<Error> = None;
    let res = poll_fn(|cx| {
        let state = &guard.state;
        if let Some(res) = state.result.get() {
            return Poll::Ready(res);
        }
        if state.closed.get() {
            return Poll::Ready(-libc::EBADF);
        }
        if cancelled.is_none() {
            if let Poll::Ready(e) = cancel.poll_cancelled(cx) {
                // Ask the kernel to cancel, and wait for the verdict.
                cancelled = Some(e);
                with_ring(|u| u.cancel_io(guard.key, state, false));
            }
        }
        let mut w = state.waker.borrow_mut();
        if !w.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            *w = Some(cx.waker().clone());
        }
        let d = match dir {
            Dir::Read => IoDirection::Read,
            Dir::Write => IoDirection::Write,
        };
        wait::set(cx, RawWait::fd(fd as i64, d));
        Poll::Pending
    })
    .await;
    guard.taken = true;
    let state = &guard.state;
    if state.closed.get() && state.result.get().is_none() {
        return Err(Error::new(
            ErrorKind::ClosedResource,
            "this socket was closed while a task used it",
        ));
    }
    let out = match (res, cancelled) {
        (r, Some(e)) if r == -libc::ECANCELED => Err(e),
        (r, _) if r < 0 => Err(Error::from(io::Error::from_raw_os_error(-r))),
        (r, _) => {
            let buf = state.buf.take();
            let out = take(&buf, r as usize);
            with_ring(|u| u.give_buf(dir, buf));
            Ok(out)
        }
    };
    let state = guard.state.clone();
    drop(guard);
    spare.set(Some(state));
    out
}

/// One stream socket's receives and sends as io_uring operations
/// (`IORING_OP_RECV` / `IORING_OP_SEND`), with Trio's abort protocol: a
/// cancelled operation either did not happen, or it completed and its result
/// is delivered. It is what trio's own sockets use when the run's reactor is
/// io_uring ([`IoBackend::Uring`](crate::lowlevel::IoBackend)); a socket type
/// of your own keeps one `RingIo` per socket, next to its fd.
///
/// The kernel never reads or writes the caller's buffers: each operation owns
/// a buffer of the reactor's, copied from (send) or into (receive) the
/// caller's, and freed only by the operation's completion — so a cancelled or
/// dropped operation never leaves the kernel writing into freed memory.
/// A receive whose future is *dropped* (not cancelled) while in the kernel
/// cannot hand its bytes to anyone: they are kept here, and the socket's next
/// receive returns them first ([`take_stashed`](Self::take_stashed) for a
/// poll-based reader). A dropped *send* may still have sent its bytes; cancel
/// through a [`CancelScope`](crate::CancelScope) to learn how many.
///
/// Linux only. Only one receive and one send may be in flight per fd.
///
/// # Examples
///
/// ```
/// use std::os::fd::AsRawFd;
/// use trio::lowlevel::{IoBackend, RingIo};
/// # trio::Runtime::builder().io_backend(IoBackend::Auto).build().run(async {
/// let (a, b) = std::os::unix::net::UnixStream::pair()?;
/// if RingIo::is_available() {
///     let (ra, rb) = (RingIo::new(), RingIo::new());
///     assert_eq!(ra.send(a.as_raw_fd(), b"ping").await?, 4);
///     let mut buf = [0u8; 16];
///     let n = rb.recv(b.as_raw_fd(), &mut buf).await?;
///     assert_eq!(&buf[..n], b"ping");
/// }
/// # Ok::<(), trio::Error>(()) }).unwrap();
/// ```
#[derive(Default)]
pub struct RingIo {
    stash: Rc<Stash>,
    /// Each direction's last operation state, for reuse.
    spare: [Cell<Option<Rc<RingOpState>>>; 2],
}

impl std::fmt::Debug for RingIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RingIo")
            .field("stashed", &self.stashed())
            .field("orphans", &self.stash.orphans.get())
            .finish()
    }
}

impl RingIo {
    /// A socket's ring state, with nothing stashed.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trio::lowlevel::RingIo::new().stashed(), 0);
    /// ```
    pub fn new() -> RingIo {
        RingIo::default()
    }

    /// True if the current run takes socket operations on its ring: its
    /// reactor is io_uring, on Linux 5.19 or later. False outside trio.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::lowlevel::{IoBackend, RingIo};
    /// let on = trio::Runtime::builder().io_backend(IoBackend::Epoll).build()
    ///     .run(async { Ok::<_, trio::Error>(RingIo::is_available()) })?;
    /// assert!(!on);
    /// # Ok::<(), trio::Error>(())
    /// ```
    pub fn is_available() -> bool {
        ring_active()
    }

    /// Bytes that dropped receives got and nobody has read yet.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trio::lowlevel::RingIo::new().stashed(), 0);
    /// ```
    pub fn stashed(&self) -> usize {
        self.stash.bytes.borrow().len()
    }

    /// For a poll-based reader (`AsyncRead`) on the same socket: `Ready(Some(n))`
    /// with `n` stashed bytes moved into `buf`; `Pending` while a dropped
    /// receive is still in the kernel (its bytes, if any, come first; `cx` is
    /// woken when it completes); `Ready(None)` if nothing is stashed and
    /// nothing is on its way — read the socket.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::task::Poll;
    /// # trio::run(async {
    /// let ring = trio::lowlevel::RingIo::new();
    /// let mut buf = [0u8; 8];
    /// let got = std::future::poll_fn(|cx| Poll::Ready(ring.take_stashed(cx, &mut buf))).await;
    /// assert!(got.is_ready());
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn take_stashed(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<Option<usize>> {
        if self.stash.orphans.get() > 0 {
            *self.stash.waker.borrow_mut() = Some(cx.waker().clone());
            return Poll::Pending;
        }
        if buf.is_empty() || self.stashed() == 0 {
            return Poll::Ready(None);
        }
        Poll::Ready(Some(self.stash.take_into(buf)))
    }

    /// Receives into `buf` from the stream socket `fd` (`IORING_OP_RECV`):
    /// stashed bytes first, else what the kernel has, waiting for some.
    /// `Ok(0)` is the end of the stream (or an empty `buf`).
    ///
    /// `fd` must stay open until the future completes; close it after
    /// [`notify_closing`](crate::lowlevel::notify_closing), which ends the
    /// socket's ring operations with `ClosedResource`.
    ///
    /// # Errors
    ///
    /// `Cancelled`; [`ErrorKind::Usage`](crate::ErrorKind::Usage) if the run
    /// does not take ring operations ([`is_available`](Self::is_available));
    /// `BusyResource` if another receive on `fd` is in flight;
    /// `ClosedResource` if `fd` is closed meanwhile; the kernel's error
    /// (`ECONNRESET`, `EBADF`, `ENOTSOCK`…) as an I/O error.
    ///
    /// # Cancellation
    ///
    /// A cancellation point. A cancelled receive asks the kernel to cancel it
    /// and waits for the verdict: `Cancelled` means no byte was taken; if the
    /// bytes came anyway they are returned (the cancellation is seen at the
    /// next checkpoint). A dropped receive's bytes are stashed (see the type's
    /// notes).
    ///
    /// # Examples
    ///
    /// See the [type's example](RingIo).
    pub async fn recv(&self, fd: RawFd, buf: &mut [u8]) -> Result<usize> {
        if !ring_active() {
            return Err(not_available());
        }
        let stash = &self.stash;
        // Bytes of a dropped receive may still come: they are first in line.
        self.orphans_done().await?;
        if !stash.bytes.borrow().is_empty() {
            check_cancelled()?;
            // The schedule point first: a future dropped there has taken nothing.
            cancel_shielded_checkpoint().await?;
            return Ok(stash.take_into(buf));
        }
        let len = buf.len();
        ring_op(
            fd,
            Dir::Read,
            false,
            len,
            self,
            |_| {},
            |owned, n| {
                buf[..n].copy_from_slice(&owned[..n]);
                n
            },
        )
        .await
    }

    /// Sends from `data` on the stream socket `fd` (`IORING_OP_SEND`, from a
    /// copy the reactor owns): how many bytes went, which may be fewer than
    /// `data.len()` (at most 4 MiB per call), as with `send(2)`.
    ///
    /// `fd` must stay open until the future completes (see
    /// [`recv`](Self::recv)).
    ///
    /// # Errors
    ///
    /// As [`recv`](Self::recv), with `EPIPE` when the peer is gone.
    ///
    /// # Cancellation
    ///
    /// A cancellation point. A cancelled send asks the kernel to cancel it and
    /// waits for the verdict: `Cancelled` means nothing was sent, else the
    /// count of bytes sent is returned. A *dropped* send may have sent its
    /// bytes without telling anyone.
    ///
    /// # Examples
    ///
    /// See the [type's example](RingIo).
    pub async fn send(&self, fd: RawFd, data: &[u8]) -> Result<usize> {
        if !ring_active() {
            return Err(not_available());
        }
        ring_op(
            fd,
            Dir::Write,
            false,
            data.len(),
            self,
            |owned| owned.extend_from_slice(&data[..data.len().min(MAX_BUF)]),
            |_, n| n,
        )
        .await
    }
}

impl RingIo {
    /// Accepts a connection on the listening socket `fd` (`IORING_OP_ACCEPT`,
    /// the new fd non-blocking and close-on-exec): connections a dropped
    /// accept got come first.
    ///
    /// `fd` must stay open until the future completes (see
    /// [`recv`](Self::recv)).
    ///
    /// # Errors
    ///
    /// As [`recv`](Self::recv); `EMFILE` and the like as I/O errors.
    ///
    /// # Cancellation
    ///
    /// A cancellation point. A cancelled accept asks the kernel to cancel it
    /// and waits for the verdict: `Cancelled` means no connection was taken;
    /// if one was, it is returned. A *dropped* accept's connection is kept
    /// for the next accept (closed with this `RingIo` if none comes): never
    /// leaked.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::fd::AsRawFd;
    /// use trio::lowlevel::{IoBackend, RingIo};
    /// # trio::Runtime::builder().io_backend(IoBackend::Auto).build().run(async {
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let addr = listener.local_addr()?;
    /// if RingIo::is_available() {
    ///     let ring = RingIo::new();
    ///     let _client = std::net::TcpStream::connect(addr)?;
    ///     let conn = std::net::TcpStream::from(ring.accept(listener.as_raw_fd()).await?);
    ///     assert_eq!(conn.local_addr()?, addr);
    /// }
    /// # Ok::<(), trio::Error>(()) }).unwrap();
    /// ```
    pub async fn accept(&self, fd: RawFd) -> Result<OwnedFd> {
        if !ring_active() {
            return Err(not_available());
        }
        // A dropped accept still in the kernel may yet get a connection: it
        // is first in line (else this accept would wait in the kernel while
        // that connection waits here).
        self.orphans_done().await?;
        if !self.stash.accepted.borrow().is_empty() {
            check_cancelled()?;
            // The schedule point first: a future dropped there has taken nothing.
            cancel_shielded_checkpoint().await?;
            if let Some(conn) = self.stash.accepted.borrow_mut().pop_front() {
                return Ok(conn);
            }
        }
        let n = ring_op(fd, Dir::Read, true, 0, self, |_| {}, |_, n| n).await?;
        let n =
            i32::try_from(n).map_err(|_| Error::from(io::Error::from_raw_os_error(libc::EBADF)))?;
        // SAFETY: `n` is the result of a completed `IORING_OP_ACCEPT` that this
        // call took: a new fd that nothing else owns.
        Ok(unsafe { OwnedFd::from_raw_fd(n) })
    }

    /// Waits until no dropped receive or accept of this socket is still in
    /// the kernel (their results, if any, are then in the stash).
    async fn orphans_done(&self) -> Result<()> {
        let stash = &self.stash;
        if stash.orphans.get() == 0 {
            return Ok(());
        }
        let mut cancel = CancelRegistration::new();
        poll_fn(|cx| {
            if stash.orphans.get() == 0 {
                return Poll::Ready(Ok(()));
            }
            if let Poll::Ready(e) = cancel.poll_cancelled(cx) {
                return Poll::Ready(Err(e));
            }
            *stash.waker.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }

    /// Connections dropped accepts got that nobody has taken yet.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trio::lowlevel::RingIo::new().accepted(), 0);
    /// ```
    pub fn accepted(&self) -> usize {
        self.stash.accepted.borrow().len()
    }
}

fn not_available() -> Error {
    Error::new(
        ErrorKind::Usage,
        "this run does not take socket operations on an io_uring (see RingIo::is_available)",
    )
}
