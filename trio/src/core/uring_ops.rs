//! I/O operations on the io_uring: a socket's receive, send, accept and
//! connect, a datagram's receive and send with its address, a pipe's read and
//! write — what [`RingIo`](super::RingIo) (`ring_io.rs`) offers, and what
//! trio's sockets and pipes use when the run's reactor is the ring.
//!
//! # Buffers the backend owns
//!
//! The kernel reads from / writes into an operation's buffer until the
//! operation's *last completion*, whatever happens to the future that asked for
//! it. So the buffer is never the caller's slice: it is a `Vec<u8>` moved into
//! the reactor's slab entry (`Op::Io`). A receive copies from it into the
//! caller's slice when the completion is delivered; a send copies the caller's
//! bytes into it before submitting. An address and a message header (a
//! connect's, a datagram's) live in a `Box<Msg>` owned the same way. The
//! entry, and the buffer with it, are freed only by the operation's completion
//! (see the `SAFETY` note in `UringReactor::submit_io`) — also when the run
//! ends with operations in flight: the reactor cancels them and waits for
//! their completions before it goes (`Drop for UringReactor`).
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
//!   is closed if the listener is gone — never leaked. A dropped datagram
//!   receive's datagram is stashed whole, with its sender (datagrams are never
//!   merged), and a dropped pipe read's bytes like a socket's.
//! * A cancelled connect either did not start (`Cancelled`) or finished (its
//!   result is returned); the caller closes a socket whose connect was
//!   cancelled, as on the readiness path.
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
//!   lets whichever call runs first take it. Sockets' `recv`/`send`,
//!   `recv_from`/`send_to`, `accept` and `connect`, pipes' reads and
//!   writes, and stream sockets' poll-based `AsyncRead`/`AsyncWrite` use the
//!   ring.
//!
//! # Poll-based reads and writes: detached operations
//!
//! A poll-based read has no future whose drop could orphan its operation,
//! and its caller may never poll again. So `RingIo::poll_recv` submits a
//! *detached* receive — orphaned from the start (`submit_detached`): its
//! bytes, or the end of stream or error it found (`Stash::end`), go to the
//! stash, and the next read of either kind takes them (an async receive
//! waits for a detached one still in the kernel, as for a dropped one).
//! Nothing is lost whoever reads next; closing the socket cancels it, so it
//! never holds the socket open.
//!
//! `poll_write` cannot return `Pending` once the kernel has the bytes (the
//! caller may then write other bytes, or none). So `RingIo::poll_send` is a
//! *write-behind*: it copies up to 64 KiB into an owned buffer, submits a
//! send with `MSG_WAITALL` (the kernel retries a partial one) and returns
//! the count at once. One is in flight per socket: the next write of either
//! kind waits for it, so bytes go in order; `poll_flush`, `poll_close` and
//! `send_eof` wait for it too, and its failure is kept for the next of
//! them. Closing a socket cancels a write-behind that still waits for room
//! (a peer that does not read): flush first.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::poll_fn;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::ptr;
use std::rc::{Rc, Weak};
use std::task::{Poll, Waker};

use super::RingIo;
use super::cancel::{CancelRegistration, check_cancelled};
use super::context;
use super::io::Dir;
use super::io_uring::{UringReactor, idx};
use super::reactor::Reactor;
use super::registration::IoDirection;
use super::wait::{self, RawWait};
use crate::error::{Error, ErrorKind, Result};
use crate::sys::source::RawSource as RawFd;
use socket2::{SockAddr, SockAddrStorage};

/// What one ring operation is: its opcode, and the direction of the fd it
/// occupies (one operation per fd and direction).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(in crate::core) enum OpKind {
    /// `IORING_OP_RECV` into the buffer.
    Recv,
    /// `IORING_OP_SEND` of the buffer.
    Send,
    /// `IORING_OP_ACCEPT`: the result is a new fd.
    Accept,
    /// `IORING_OP_CONNECT` to the `Msg`'s address.
    Connect,
    /// `IORING_OP_RECVMSG` into the buffer, the sender's address into the `Msg`.
    RecvFrom,
    /// `IORING_OP_SENDMSG` of the buffer to the `Msg`'s address.
    SendTo,
    /// `IORING_OP_READ` at the file's position (a pipe).
    Read,
    /// `IORING_OP_WRITE` at the file's position (a pipe).
    Write,
}

impl OpKind {
    /// A dropped operation of this kind is waited for by the next receive,
    /// accept or read on the same `RingIo` (its result comes first; a file's
    /// next operation must not overtake a dropped write).
    pub(in crate::core) fn keeps_order(self) -> bool {
        !matches!(self, OpKind::Send | OpKind::SendTo | OpKind::Connect)
    }

    pub(in crate::core) fn dir(self) -> Dir {
        match self {
            OpKind::Recv | OpKind::Accept | OpKind::RecvFrom | OpKind::Read => Dir::Read,
            OpKind::Send | OpKind::Connect | OpKind::SendTo | OpKind::Write => Dir::Write,
        }
    }
}

/// The address (and, for a datagram, the message header pointing at it and
/// at the buffer) an operation hands the kernel. Boxed, and owned like the
/// buffer by the operation's slab entry: its address does not move.
pub(in crate::core) struct Msg {
    pub(in crate::core) addr: SockAddrStorage,
    pub(in crate::core) addr_len: libc::socklen_t,
    pub(in crate::core) hdr: libc::msghdr,
    pub(in crate::core) iov: libc::iovec,
}

impl Msg {
    /// Parts holding `addr` (a connect's, a datagram send's), or room for
    /// one (`None`: a datagram receive's sender).
    fn new(addr: Option<&SockAddr>) -> Box<Msg> {
        let (storage, len) = match addr {
            Some(a) => (a.clone().as_storage(), a.len()),
            None => {
                let s = SockAddrStorage::zeroed();
                let len = s.size_of();
                (s, len)
            }
        };
        Box::new(Msg {
            addr: storage,
            addr_len: len,
            // SAFETY: `msghdr` is a plain C struct of pointers and integers;
            // all zeroes (null pointers, zero lengths) is a valid value.
            hdr: unsafe { std::mem::zeroed() },
            iov: libc::iovec {
                iov_base: ptr::null_mut(),
                iov_len: 0,
            },
        })
    }

    /// The address the kernel wrote (a datagram receive's sender).
    pub(in crate::core) fn sender(&mut self) -> SockAddr {
        let storage = std::mem::replace(&mut self.addr, SockAddrStorage::zeroed());
        // SAFETY: the completed `IORING_OP_RECVMSG` wrote the sender's address
        // into `addr` (the header's `msg_name`) and its length into
        // `msg_namelen`, at most the storage's size (the header said so).
        unsafe { SockAddr::new(storage, self.hdr.msg_namelen) }
    }
}

/// Bytes dropped receives got, kept for the socket's next receive.
#[derive(Default)]
pub(in crate::core) struct Stash {
    /// The bytes, in the order they were received.
    pub(in crate::core) bytes: RefCell<Vec<u8>>,
    /// Orphaned operations still in the kernel that later ones wait for
    /// (`OpKind::keeps_order`): a receive's bytes, if any, come before those
    /// of any later receive, so a new receive waits for them first.
    pub(in crate::core) orphans: Cell<usize>,
    /// The receive waiting for `orphans` to reach zero.
    pub(in crate::core) waker: RefCell<Option<Waker>>,
    /// Connections a dropped accept got, for the listener's next accept.
    pub(in crate::core) accepted: RefCell<VecDeque<OwnedFd>>,
    /// Datagrams (with their senders) dropped datagram receives got.
    pub(in crate::core) datagrams: RefCell<VecDeque<(Vec<u8>, SockAddr)>>,
    /// How an orphaned socket receive ended when it got no bytes — the end of
    /// the stream (0) or an error (`-errno`) — for the next receive.
    pub(in crate::core) end: Cell<Option<i32>>,
    /// A write-behind (`RingIo::poll_send`) is in the kernel.
    pub(in crate::core) sending: Cell<bool>,
    /// How the last write-behind failed, for the next write or flush.
    pub(in crate::core) send_error: RefCell<Option<io::Error>>,
    /// The writer waiting for `sending` to end.
    pub(in crate::core) send_waker: RefCell<Option<Waker>>,
}

impl Stash {
    /// Moves the first bytes into `buf`; how many.
    pub(in crate::core) fn take_into(&self, buf: &mut [u8]) -> usize {
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

    /// The write-behind completed (its failure, if any, already kept).
    pub(in crate::core) fn send_done(&self) {
        self.sending.set(false);
        if let Some(w) = self.send_waker.borrow_mut().take() {
            w.wake();
        }
    }

    /// The end a receive found and nobody took, as a receive's result.
    pub(in crate::core) fn take_end(&self) -> Option<Result<usize>> {
        self.end.take().map(|res| match res {
            0 => Ok(0),
            e => Err(Error::from(io::Error::from_raw_os_error(-e))),
        })
    }
}

/// The largest buffer one operation owns (longer sends are partial sends,
/// longer receives short ones, as with `recv`/`send`). Large: a reader that
/// asks for a megabyte at a time must get it, or TCP keeps its window small
/// and the reader looks slower than it is. (A longer datagram is not cut:
/// its socket keeps the readiness path.)
pub(in crate::core) const MAX_BUF: usize = 4 << 20;

/// What one ring operation shares between its future and the reactor.
pub(in crate::core) struct RingOpState {
    /// The completion's result, once it came.
    pub(in crate::core) result: Cell<Option<i32>>,
    /// The buffer, handed back by the completion.
    pub(in crate::core) buf: RefCell<Vec<u8>>,
    /// The address parts, handed back by the completion.
    pub(in crate::core) msg: RefCell<Option<Box<Msg>>>,
    /// The fd was closed (`notify_closing`) while the operation was in flight.
    pub(in crate::core) closed: Cell<bool>,
    /// Nobody waits any more (the future was dropped, or the fd closed).
    pub(in crate::core) orphaned: Cell<bool>,
    /// Nobody ever waited: a poll-based read's or write's operation
    /// (`submit_detached`), orphaned from the start.
    pub(in crate::core) detached: Cell<bool>,
    /// Where an orphaned receive's bytes (or accept's connection) go.
    pub(in crate::core) stash: Weak<Stash>,
    pub(in crate::core) kind: Cell<OpKind>,
    waker: RefCell<Option<Waker>>,
}

impl RingOpState {
    /// Keeps a completed operation's result that nobody will take (its future
    /// was dropped, or it was detached): an accept's connection goes to the
    /// listener's stash, or is closed if the listener is gone or closed —
    /// never leaked; a receive's or read's bytes (a datagram receive's
    /// datagram), or the end of stream or error a stream socket's receive
    /// found, go to the stash (if the socket is still there and open), so
    /// that none is lost; so does a write-behind's failure.
    pub(in crate::core) fn keep_untaken(&self, res: i32, buf: &[u8], msg: Option<&mut Msg>) {
        let stash = self.stash.upgrade().filter(|_| !self.closed.get());
        match self.kind.get() {
            OpKind::Accept if res >= 0 => {
                // SAFETY: `res` is the result of a completed `IORING_OP_ACCEPT`
                // that nobody took: a new fd that nothing else owns.
                let conn = unsafe { OwnedFd::from_raw_fd(res) };
                if let Some(stash) = stash {
                    stash.accepted.borrow_mut().push_back(conn);
                }
            }
            OpKind::Recv | OpKind::Read if res > 0 => {
                if let Some(stash) = stash {
                    let bytes = &buf[..res as usize];
                    stash.bytes.borrow_mut().extend_from_slice(bytes);
                }
            }
            // A socket's end of stream or error, said once, is the next
            // receive's. Not a file's or pipe's end: a file may grow or its
            // position move, and the next read asks the kernel again.
            OpKind::Recv if res != -libc::ECANCELED => {
                if let Some(stash) = stash {
                    stash.end.set(Some(res));
                }
            }
            OpKind::Send if self.detached.get() && res != -libc::ECANCELED => {
                let failure = if res < 0 {
                    Some(io::Error::from_raw_os_error(-res))
                } else if (res as usize) < buf.len() {
                    Some(io::Error::new(
                        io::ErrorKind::WriteZero,
                        format!(
                            "the socket took {res} of the {} bytes written before it failed",
                            buf.len()
                        ),
                    ))
                } else {
                    None
                };
                if let (Some(stash), Some(e)) = (stash, failure) {
                    *stash.send_error.borrow_mut() = Some(e);
                }
            }
            OpKind::RecvFrom if res >= 0 => {
                if let (Some(stash), Some(msg)) = (stash, msg) {
                    let datagram = buf[..res as usize].to_vec();
                    let from = msg.sender();
                    stash.datagrams.borrow_mut().push_back((datagram, from));
                }
            }
            _ => {}
        }
    }

    pub(in crate::core) fn wake(&self) {
        if let Some(w) = self.waker.borrow_mut().take() {
            w.wake();
        }
    }
}

pub(in crate::core) fn with_ring<T>(f: impl FnOnce(&UringReactor) -> T) -> Option<T> {
    context::with_runner(|r| match &r.io {
        Reactor::Uring(u) => Some(f(u)),
        Reactor::Epoll(_) => None,
    })
    .flatten()
}

/// True if the current run's reactor is the ring, on a kernel that takes
/// socket operations (5.19 or later).
pub(in crate::core) fn ring_active() -> bool {
    with_ring(UringReactor::ops_supported).unwrap_or(false)
}

/// Orphans the operation if its future goes away before its completion; if the
/// completion came but was never taken (the future dropped in between), a
/// receive's bytes go to the stash.
struct Guard {
    key: usize,
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
            Some(n) if !self.taken => {
                let mut msg = state.msg.borrow_mut();
                state.keep_untaken(n, &state.buf.borrow(), msg.as_deref_mut());
            }
            _ => {}
        }
    }
}

/// Submits one operation and waits for its completion with the abort protocol
/// above. `len`: the owned buffer's size (a receive's) or capacity (a
/// send's); `fill` prepares it; `addr`: the address a connect or datagram
/// send goes to; `take` reads the buffer (and the sender, for a datagram
/// receive) at completion.
pub(in crate::core) async fn ring_op<R>(
    fd: RawFd,
    kind: OpKind,
    len: usize,
    ring: &RingIo,
    fill: impl FnOnce(&mut Vec<u8>),
    addr: Option<&SockAddr>,
    take: impl FnOnce(&[u8], usize, Option<&mut Msg>) -> R,
) -> Result<R> {
    check_cancelled()?;
    let dir = kind.dir();
    let spare = &ring.spare[idx(dir)];
    let state = op_state(ring, kind);
    let msg = match kind {
        OpKind::Connect | OpKind::SendTo | OpKind::RecvFrom => Some(Msg::new(addr)),
        _ => None,
    };
    let key = with_ring(|u| {
        let mut buf = u.take_buf(dir, len.min(MAX_BUF));
        fill(&mut buf);
        u.submit_io(fd, kind, buf, msg, state.clone())
    })
    .unwrap_or_else(|| Err(super::cancel::outside_trio()))?;
    let mut guard = Guard {
        key,
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
            format!("fd {fd} was closed while a task used it"),
        ));
    }
    let out = match (res, cancelled) {
        (r, Some(e)) if r == -libc::ECANCELED => Err(e),
        (r, _) if r < 0 => Err(Error::from(io::Error::from_raw_os_error(-r))),
        (r, _) => {
            let buf = state.buf.take();
            let out = take(&buf, r as usize, state.msg.borrow_mut().as_deref_mut());
            with_ring(|u| u.give_buf(dir, buf));
            Ok(out)
        }
    };
    let state = guard.state.clone();
    drop(guard);
    spare.set(Some(state));
    out
}

/// A fresh state for an operation of `kind`: the last one of its direction,
/// if nobody else holds it any more (the reactor lets go at the completion) —
/// one allocation less per operation.
fn op_state(ring: &RingIo, kind: OpKind) -> Rc<RingOpState> {
    match ring.spare[idx(kind.dir())].take() {
        Some(st) if Rc::strong_count(&st) == 1 => {
            st.result.set(None);
            st.closed.set(false);
            st.orphaned.set(false);
            st.detached.set(false);
            st.kind.set(kind);
            st
        }
        _ => Rc::new(RingOpState {
            result: Cell::new(None),
            buf: RefCell::new(Vec::new()),
            msg: RefCell::new(None),
            closed: Cell::new(false),
            orphaned: Cell::new(false),
            detached: Cell::new(false),
            stash: Rc::downgrade(&ring.stash),
            kind: Cell::new(kind),
            waker: RefCell::new(None),
        }),
    }
}

/// Submits a receive (of up to `len` bytes) or a send (of what `fill` puts
/// in its buffer) that no future waits for: a poll-based read's or write's
/// (`RingIo::poll_recv` / `poll_send`). It is orphaned from the start: its
/// result goes to the stash when it completes — a receive's bytes or end,
/// a write-behind's failure — and the socket's next operation in its
/// direction waits for it (a receive counts in `orphans`, a send sets
/// `sending`). A send goes whole (`MSG_WAITALL`: the kernel retries a
/// partial one).
pub(in crate::core) fn submit_detached(
    fd: RawFd,
    kind: OpKind,
    len: usize,
    ring: &RingIo,
    fill: impl FnOnce(&mut Vec<u8>),
) -> Result<()> {
    let dir = kind.dir();
    let state = op_state(ring, kind);
    state.orphaned.set(true);
    state.detached.set(true);
    with_ring(|u| {
        let mut buf = u.take_buf(dir, len.min(MAX_BUF));
        fill(&mut buf);
        u.submit_io(fd, kind, buf, None, state.clone())
    })
    .unwrap_or_else(|| Err(super::cancel::outside_trio()))?;
    ring.spare[idx(dir)].set(Some(state));
    if kind.keeps_order() {
        ring.stash.orphans.set(ring.stash.orphans.get() + 1);
    } else {
        ring.stash.sending.set(true);
    }
    Ok(())
}

pub(in crate::core) fn not_available() -> Error {
    Error::new(
        ErrorKind::Usage,
        "this run does not take I/O operations on an io_uring (see RingIo::is_available)",
    )
}
