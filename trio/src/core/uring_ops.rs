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
//! * `notify_closing` (closing the socket) cancels the fd's operations at once
//!   and wakes their tasks with `ClosedResource`; the operations are orphaned.
//!
//! # Details that matter
//!
//! * A send is submitted with `IORING_RECVSEND_POLL_FIRST`: one that would block
//!   waits as an internal poll, which a cancel or the peer's reset ends. Without
//!   it the kernel may hand a blocked send to a worker thread, where a peer
//!   that reset the connection was seen to leave it hung. The flag needs Linux
//!   5.19, so older kernels keep the readiness path for sockets.
//! * A receive that starts while a dropped receive's operation is still in the
//!   kernel waits for that one's completion first: its bytes, if any, were
//!   received earlier and go first (through the stash).
//! * The semantics differ from readiness in one visible way: an operation in the
//!   kernel holds its place, so a second receive on the socket while one waits
//!   does not get data that arrives (the first does), where the readiness loop
//!   lets whichever call runs first take it. Only stream sockets' `recv`/`send`
//!   use the ring; datagrams, `accept`, `connect` and the poll-based
//!   `AsyncRead`/`AsyncWrite` keep readiness (the poll-based read takes the
//!   stash's bytes first).

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::io;
use std::rc::{Rc, Weak};
use std::task::{Poll, Waker};

use super::cancel::{CancelRegistration, check_cancelled};
use super::checkpoint::cancel_shielded_checkpoint;
use super::context;
use super::io::Dir;
use super::io_uring::UringReactor;
use super::reactor::Reactor;
use super::registration::IoDirection;
use super::wait::{self, RawWait};
use crate::error::{Error, ErrorKind, Result};
use crate::sys::source::RawSource as RawFd;

/// Bytes a dropped receive got, kept for the socket's next receive.
pub(crate) type RecvStash = Rc<Stash>;

/// A socket's stash (see [`RecvStash`]).
#[derive(Default)]
pub(crate) struct Stash {
    /// The bytes, in the order they were received.
    pub(in crate::core) bytes: RefCell<Vec<u8>>,
    /// Orphaned receives still in the kernel: their bytes, if any, come before
    /// those of any later receive, so a new receive waits for them first.
    pub(in crate::core) orphans: Cell<usize>,
    /// The receive waiting for `orphans` to reach zero.
    pub(in crate::core) waker: RefCell<Option<Waker>>,
}

impl Stash {
    /// True if no byte waits here.
    pub(crate) fn bytes_empty(&self) -> bool {
        self.bytes.borrow().is_empty()
    }

    /// Moves the first bytes into `buf`; how many.
    pub(crate) fn take_into(&self, buf: &mut [u8]) -> usize {
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
/// longer receives short ones, as with `recv`/`send`).
const MAX_BUF: usize = 64 * 1024;

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
    /// Where an orphaned receive's bytes go.
    pub(in crate::core) stash: Weak<Stash>,
    waker: RefCell<Option<Waker>>,
}

impl RingOpState {
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
pub(crate) fn ring_active() -> bool {
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
            Some(n) if n > 0 && !self.taken && self.dir == Dir::Read && !state.closed.get() => {
                if let Some(stash) = state.stash.upgrade() {
                    stash
                        .bytes
                        .borrow_mut()
                        .extend_from_slice(&state.buf.borrow()[..n as usize]);
                }
            }
            _ => {}
        }
    }
}

/// Submits one operation and waits for its completion with the abort protocol
/// above. `fill` prepares the owned buffer; `take` reads it at completion.
async fn ring_op<R>(
    fd: RawFd,
    dir: Dir,
    len: usize,
    stash: &RecvStash,
    fill: impl FnOnce(&mut Vec<u8>),
    take: impl FnOnce(&[u8], usize) -> R,
) -> Result<R> {
    check_cancelled()?;
    let state = Rc::new(RingOpState {
        result: Cell::new(None),
        buf: RefCell::new(Vec::new()),
        closed: Cell::new(false),
        orphaned: Cell::new(false),
        stash: Rc::downgrade(stash),
        waker: RefCell::new(None),
    });
    let key = with_ring(|u| {
        let mut buf = u.take_buf(len.min(MAX_BUF));
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
            with_ring(|u| u.give_buf(buf));
            Ok(out)
        }
    };
    drop(guard);
    out
}

/// `recv` on the ring into a buffer the reactor owns, copied into `buf` at
/// completion; bytes in `stash` come first. `None` if the run's reactor is not
/// the ring.
pub(crate) async fn ring_recv(
    fd: RawFd,
    buf: &mut [u8],
    stash: &RecvStash,
) -> Option<Result<usize>> {
    if !ring_active() {
        return None;
    }
    if stash.orphans.get() > 0 {
        // Bytes of a dropped receive may still come: they are first in line.
        let mut cancel = CancelRegistration::new();
        let r = poll_fn(|cx| {
            if stash.orphans.get() == 0 {
                return Poll::Ready(Ok(()));
            }
            if let Poll::Ready(e) = cancel.poll_cancelled(cx) {
                return Poll::Ready(Err(e));
            }
            *stash.waker.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        })
        .await;
        if let Err(e) = r {
            return Some(Err(e));
        }
    }
    if !stash.bytes.borrow().is_empty() {
        if let Err(e) = check_cancelled() {
            return Some(Err(e));
        }
        // The schedule point first: a future dropped there has taken nothing.
        if let Err(e) = cancel_shielded_checkpoint().await {
            return Some(Err(e));
        }
        return Some(Ok(stash.take_into(buf)));
    }
    let len = buf.len();
    Some(
        ring_op(
            fd,
            Dir::Read,
            len,
            stash,
            |_| {},
            |owned, n| {
                buf[..n].copy_from_slice(&owned[..n]);
                n
            },
        )
        .await,
    )
}

/// `send` on the ring from a copy of `data` the reactor owns (at most 64 KiB:
/// longer is a partial send). `None` if the run's reactor is not the ring.
pub(crate) async fn ring_send(fd: RawFd, data: &[u8], stash: &RecvStash) -> Option<Result<usize>> {
    if !ring_active() {
        return None;
    }
    Some(
        ring_op(
            fd,
            Dir::Write,
            data.len(),
            stash,
            |owned| {
                let n = owned.len();
                owned.copy_from_slice(&data[..n]);
            },
            |_, n| n,
        )
        .await,
    )
}
