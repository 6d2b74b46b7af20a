//! The io_uring reactor (Linux): readiness waits as ring operations.
//!
//! # Why a completion ring
//!
//! epoll tells the loop *that* an fd is ready; every wait that re-arms costs an
//! `epoll_ctl`, and the wait itself an `epoll_wait`. io_uring is a pair of rings
//! shared with the kernel: the loop writes requests (SQEs) into one without a
//! system call, the kernel writes results (CQEs) into the other, and one
//! `io_uring_enter` both hands over everything queued since the last and waits for
//! results. Re-arming a wait, cancelling one, and the loop's sleep are then one
//! system call per pass of the loop, not one per fd. And the same ring carries
//! the operations themselves (`recv`, `send`, `accept`, `connect`, `read`,
//! `write`), which is where a completion ring pays most — see "I/O operations
//! on the ring" below.
//!
//! # How readiness is mapped
//!
//! This first layer keeps trio's readiness model, so that every socket, pipe and
//! process type works unchanged on either reactor:
//!
//! * `wait_readable` / `wait_writable` — one **one-shot** `IORING_OP_POLL_ADD`
//!   per wait (`POLLIN | POLLRDHUP`, or `POLLOUT`). The kernel checks readiness
//!   when it arms the poll, so an fd that is ready now completes at once: the
//!   *level* semantics of Trio's epoll backend (`EPOLLONESHOT` plus a `MOD` per
//!   wait). Any completion wakes the waiter; an error (`EBADF`: the fd is not
//!   open) ends the wait with that error.
//! * `IoRegistration` (sockets' persistent registrations) — one **multishot**
//!   `POLL_ADD` (`IORING_POLL_ADD_MULTI`) for both directions, armed once, at
//!   the registration's first wait (a socket whose receives and sends are ring
//!   operations may never wait for readiness, and a poll armed at registration
//!   would post a report for every packet, read by nobody): every
//!   wake-up of the file posts a completion with the current mask, which
//!   `RegState::on_poll_result` reads as mio reads an epoll event (edge-style
//!   reports, as the registration's tick protocol expects). If the kernel ends
//!   a multishot poll (a completion without `IORING_CQE_F_MORE`), it is armed
//!   again at once.
//! * the cross-thread wake-up — an eventfd with a one-shot poll on it, drained and
//!   re-armed after each report (the waker writes to it: `LoopWaker::EventFd`).
//! * the loop's wait — ONE `io_uring_enter` with `IORING_ENTER_EXT_ARG`
//!   (`submit_with_args` and a timespec): it submits the queued SQEs and sleeps
//!   until a completion or the timeout. A pass with a zero timeout enters only if
//!   there is something to submit; completions are read from the shared ring
//!   without a system call.
//!
//! # The abort protocol, and why `user_data` is a slab index
//!
//! Trio's abort: a waiting task that is cancelled (or whose future is dropped)
//! must leave nothing behind that could wake it later. With epoll that is a field
//! cleared under the loop's control. With io_uring the kernel owns the operation
//! until it posts its *last* completion, and that completion may already be on its
//! way when the cancel is requested. So:
//!
//! * every operation lives in a slab owned by the reactor (`ops`), and its SQE's
//!   `user_data` is the slab **index** (with a generation, below) — never a
//!   pointer to a future or a slot, which the task may have freed by the time
//!   the completion comes;
//! * cancelling marks the entry `Cancelled` (dropping what it pointed to) and
//!   queues an `IORING_OP_POLL_REMOVE` for that `user_data`. Its own
//!   completion is read for one answer: `EALREADY` means the poll was being
//!   woken at that moment and was not removed — a multishot poll then simply
//!   goes on, holding a reference to its file, so a closed socket stayed open
//!   (no reset sent to its peer, whose send waited forever). The removal is
//!   queued again until it takes;
//! * the entry stays in the slab, its index unused by anyone else, until the
//!   operation's last completion arrives — the poll's own (`-ECANCELED`, or a
//!   result that raced with the removal) — and only then is it freed. A
//!   completion never finds a reused index, and none is ever left pointing at
//!   freed memory. `RunStatistics::io_ops_in_flight` is the slab's size: after
//!   cancelled waits it returns to zero;
//! * the high half of `user_data` is the entry's *generation* (a counter bumped
//!   on every insertion), the low half its index. A removal that reaches the
//!   kernel after its target completed and the index was reused names the old
//!   generation, so it finds nothing instead of cancelling the newcomer; a
//!   completion whose generation does not match its entry is ignored.
//!
//! Closing an fd while a poll is armed on it does not close the file: the poll
//! holds a reference. So `notify_closing` and dropping a registration submit
//! their removals at once, not at the next pass. And an SQE names its fd by
//! *number*, resolved when the kernel takes it: `notify_closing` submits
//! everything queued before the fd is closed, so that no queued request
//! lands on the next file to get that number.
//!
//! Measured on the benchmark's `tcp_echo` (`strace -c -f`, one quick run): 2,068
//! `epoll_wait` and 259 `epoll_ctl` on epoll, 161 `io_uring_enter` on the ring;
//! the `recvfrom`/`sendto` calls, the bulk, are the same on both (before
//! receives and sends became ring operations, below).
//!
//! # I/O operations on the ring
//!
//! On this reactor, a socket's `recv` and `send` (`Socket::recv`/`send`,
//! hence `SocketStream::receive_some`/`send_all`) are `IORING_OP_RECV` /
//! `IORING_OP_SEND`, a datagram's `recv_from`/`send_to` are `RECVMSG` /
//! `SENDMSG` (the address in a `Msg` the entry owns), a listener's `accept`
//! is `IORING_OP_ACCEPT`, `connect` is `IORING_OP_CONNECT`, and pipes' and
//! files' reads and writes are `IORING_OP_READ` / `WRITE` at the file's
//! position (`Op::Io`, `uring_ops.rs`; their public face is `RingIo`,
//! `ring_io.rs`): no readiness wait and no system call of their own. Their
//! buffers belong to the slab entry, never to the caller (a cancelled read
//! must not leave the kernel writing into memory the task has freed), and
//! their cancellation follows the abort protocol above with one difference:
//! the task waits for the verdict, so a cancelled operation either did not
//! happen or its result is delivered (see `uring_ops.rs`).
//! `RunStatistics::io_ring_ops` counts them.
//!
//! So are a socket stream's poll-based `AsyncRead`/`AsyncWrite` (hyper's
//! path): a read submits a *detached* receive whose result waits in the
//! socket's stash for the next read, a write is a *write-behind* that
//! `poll_flush` waits for (`RingIo::poll_recv`/`poll_send`).
//!
//! Measured on `tcp_echo` (`BENCHMARKS.md`): 0.05 system calls per round trip
//! (all `io_uring_enter`) against 4.05 on epoll. The time per round trip
//! depends on what a system call costs on the machine: on an Intel Xeon VM
//! about 5% above epoll's (the kernel's TCP work is the same, and trio's own
//! share per operation — shared state, fd map, slab, a copy — is larger); on
//! an AMD EPYC VM, where system calls cost more, about 14% below (1.20×
//! tokio's `current_thread` runtime, against epoll's 1.01×).
//!
//! # Not done yet
//!
//! Buffer rings with multishot receives (one copy and one armed receive per
//! call today). Guest runs use epoll.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use io_uring::{IoUring, cqueue, opcode, squeue, types};

use super::io::{Dir, IoSlot, dir_word};
use super::registration::RegState;
use super::uring_ops::{Msg, OpKind, RingOpState};
use crate::error::{Error, ErrorKind, Result};
use crate::sys::source::RawSource as RawFd;

/// `user_data` of the eventfd's poll.
const WAKER: u64 = u64::MAX;
/// `user_data` of requests whose completion means nothing (cancellations).
const IGNORED: u64 = u64::MAX - 1;
/// Set in a poll removal's `user_data` (the target's `user_data` otherwise):
/// bit 31, above any slab index.
const REMOVAL: u64 = 1 << 31;
/// Submission queue entries (the completion queue is twice as large; the
/// kernel keeps overflowing completions, `IORING_FEAT_NODROP`).
const ENTRIES: u32 = 256;
/// Bytes of spare operation buffers the reactor keeps, per direction: 256
/// buffers of 4 KiB, or 16 of 64 KiB.
const POOL_BYTES: usize = 1 << 20;

/// A map keyed by fd. An fd is a small integer the kernel hands out densely,
/// so it is its own hash: no SipHash on the path of every operation.
type FdMap<V> = HashMap<RawFd, V, BuildHasherDefault<FdHasher>>;

/// The identity hash of an fd (see [`FdMap`]).
#[derive(Default)]
struct FdHasher(u64);

impl Hasher for FdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }

    fn write_i32(&mut self, n: i32) {
        // Spread the bits over the whole word: hashbrown takes its control
        // bits from the top.
        self.0 = u64::from(n as u32).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// An I/O operation's completion, read from the ring: its state, buffer,
/// address parts and result.
type Completed = (Rc<RingOpState>, Vec<u8>, Option<Box<Msg>>, i32);

/// One operation the kernel holds, by its slab index (its `user_data`).
enum Op {
    /// A one-shot poll of `wait_readable` / `wait_writable`.
    Wait {
        fd: RawFd,
        dir: Dir,
        slot: Rc<IoSlot>,
    },
    /// A persistent registration's multishot poll (`armed`: the kernel holds
    /// one; not after the poll ended with an error).
    Reg {
        fd: RawFd,
        state: Rc<RegState>,
        armed: bool,
    },
    /// An I/O operation (`uring_ops.rs`): the buffer the kernel reads or
    /// writes, and the address parts, live here until its completion.
    Io {
        fd: RawFd,
        kind: OpKind,
        buf: Vec<u8>,
        msg: Option<Box<Msg>>,
        state: Rc<RingOpState>,
    },
    /// Cancelled: waits for its last completion to free the index.
    Cancelled,
}

/// The io_uring reactor of one run loop (see the module notes).
pub(in crate::core) struct UringReactor {
    ring: RefCell<IoUring>,
    /// Operations by index, each with its generation (see `user_data`).
    ops: RefCell<slab::Slab<(u32, Op)>>,
    /// The last generation handed out.
    generation: Cell<u32>,
    /// The waits on each fd: slab indices of its read and write polls.
    fds: RefCell<FdMap<[Option<usize>; 2]>>,
    waiting_read: Cell<usize>,
    waiting_write: Cell<usize>,
    eventfd: Arc<OwnedFd>,
    /// The eventfd's poll is armed (or queued).
    waker_armed: Cell<bool>,
    /// The ring receives and sends on each fd: slab indices, by direction.
    io_fds: RefCell<FdMap<[Option<usize>; 2]>>,
    /// Buffers of completed ring operations, for the next ones: receives'
    /// (kept at their length, so one of the same size is not zeroed again)
    /// and sends' (filled by copying).
    free_bufs: [RefCell<Vec<Vec<u8>>>; 2],
    /// The bytes `free_bufs` hold, by direction (at most `POOL_BYTES`).
    free_bytes: [Cell<usize>; 2],
    /// `process`'s list of completed I/O operations, kept between calls so
    /// that a batch of completions allocates nothing.
    completed: RefCell<Vec<Completed>>,
    /// Ring receives and sends submitted (`RunStatistics::io_ring_ops`).
    ring_ops: Cell<usize>,
    /// The kernel takes socket receives and sends as ring operations (5.19 or
    /// later, with `COOP_TASKRUN`); else sockets wait for readiness.
    ops_supported: bool,
}

/// The ring. `COOP_TASKRUN` (5.19): the kernel's task work for this ring (a
/// poll that fired, an operation to finish) is not signalled to the thread,
/// interrupting whatever it runs, but waits for the loop's next
/// `io_uring_enter`; `TASKRUN_FLAG` sets a flag in the shared ring when there
/// is such work, so that a pass that must not sleep still enters the kernel
/// to run it (`wait`). Older kernels get a plain ring.
///
/// `DEFER_TASKRUN` (6.1, with `SINGLE_ISSUER`) goes further — task work run
/// only by an `io_uring_enter` that asks for completions — but it did not pay:
/// on `tcp_echo` (AMD EPYC, Linux 6.18) three alternating runs each way took
/// 9.7–13.1 µs per round trip with it and 9.3–9.7 µs without, so it is not
/// used.
fn new_ring() -> io::Result<IoUring> {
    if let Ok(r) = IoUring::builder()
        .setup_coop_taskrun()
        .setup_taskrun_flag()
        .build(ENTRIES)
    {
        return Ok(r);
    }
    IoUring::new(ENTRIES)
}

/// True if the running kernel is 5.19 or later.
fn kernel_at_least_5_19() -> bool {
    // SAFETY: `uname` fills in a plain struct of byte arrays.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `u` is valid for writes for the duration of the call.
    if unsafe { libc::uname(&mut u) } != 0 {
        return false;
    }
    let release: String = u
        .release
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8 as char)
        .collect();
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let minor: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    (major, minor) >= (5, 19)
}

/// Frees `fd`'s slot in direction `dir` if it still holds `key` (and the
/// fd's entry once both are free).
fn release_slot(map: &mut FdMap<[Option<usize>; 2]>, fd: RawFd, dir: Dir, key: usize) {
    if let Some(entry) = map.get_mut(&fd) {
        if entry[idx(dir)] == Some(key) {
            entry[idx(dir)] = None;
            if entry.iter().all(Option::is_none) {
                map.remove(&fd);
            }
        }
    }
}

/// Frees `fd`'s slot in direction `dir` if it still holds `key`, keeping the
/// fd's entry: its next operation, usually soon, finds it in place (an entry
/// with both slots free is the same as none; `notify_closing` removes it).
fn release_io_slot(map: &mut FdMap<[Option<usize>; 2]>, fd: RawFd, dir: Dir, key: usize) {
    if let Some(entry) = map.get_mut(&fd) {
        if entry[idx(dir)] == Some(key) {
            entry[idx(dir)] = None;
        }
    }
}

pub(in crate::core) fn idx(dir: Dir) -> usize {
    match dir {
        Dir::Read => 0,
        Dir::Write => 1,
    }
}

fn mask(dir: Dir) -> u32 {
    match dir {
        Dir::Read => (libc::POLLIN | libc::POLLRDHUP) as u32,
        Dir::Write => libc::POLLOUT as u32,
    }
}

const REG_MASK: u32 = (libc::POLLIN | libc::POLLOUT | libc::POLLRDHUP) as u32;

/// Writes to the loop's eventfd (the cross-thread wake-up).
pub(in crate::core) fn wake_eventfd(fd: &OwnedFd) -> io::Result<()> {
    let one: u64 = 1;
    // SAFETY: writes 8 bytes from a live local to an fd the `Arc` keeps open.
    let n = unsafe { libc::write(fd.as_raw_fd(), (&one as *const u64).cast(), 8) };
    if n < 0 {
        let e = io::Error::last_os_error();
        // EAGAIN: the counter is full, so the loop is woken already.
        if e.kind() != io::ErrorKind::WouldBlock {
            return Err(e);
        }
    }
    Ok(())
}

impl UringReactor {
    /// A ring, or the reason there is none (no io_uring, refused, or a kernel
    /// without `EXT_ARG` waits or multishot polls: older than 5.13).
    pub(in crate::core) fn new() -> io::Result<(UringReactor, Arc<OwnedFd>)> {
        let ring = new_ring()?;
        let p = ring.params();
        if !p.is_feature_ext_arg() || !p.is_feature_resource_tagging() || !p.is_feature_nodrop() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "this kernel's io_uring is older than 5.13",
            ));
        }
        // SAFETY: `eventfd` takes no pointers; a non-negative result is a new fd
        // that nothing else owns.
        let raw = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh fd, owned by nobody else.
        let eventfd = Arc::new(unsafe { OwnedFd::from_raw_fd(raw) });
        Ok((
            UringReactor {
                ring: RefCell::new(ring),
                ops: RefCell::new(slab::Slab::new()),
                generation: Cell::new(0),
                fds: RefCell::default(),
                waiting_read: Cell::new(0),
                waiting_write: Cell::new(0),
                eventfd: eventfd.clone(),
                waker_armed: Cell::new(false),
                io_fds: RefCell::default(),
                free_bufs: Default::default(),
                free_bytes: Default::default(),
                completed: RefCell::default(),
                ring_ops: Cell::new(0),
                ops_supported: kernel_at_least_5_19(),
            },
            eventfd,
        ))
    }

    /// Queues an SQE, submitting the queue first if it is full.
    fn push(&self, entry: &squeue::Entry) {
        let mut ring = self.ring.borrow_mut();
        loop {
            // Every SQE this reactor queues is a poll add, a poll removal, a
            // cancel, or an I/O operation (`submit_io`). They carry an fd
            // number (resolved by the kernel when it takes the request, and
            // kept referenced by the operation itself, so a close meanwhile
            // cannot make it dangle) or a `user_data` to find.
            // SAFETY: the only pointers an SQE carries are an I/O operation's
            // buffer and address parts, owned by its slab entry and freed only
            // by its last completion (see `submit_io`).
            let pushed = unsafe { ring.submission().push(entry) };
            if pushed.is_ok() {
                return;
            }
            // Full: hand the queue to the kernel and try again.
            if let Err(e) = ring.submit() {
                if e.kind() != io::ErrorKind::Interrupted && e.raw_os_error() != Some(libc::EBUSY) {
                    // Should not happen; the entry is dropped and the wait never
                    // completes, so say so rather than spin.
                    panic!("io_uring submission failed: {e}");
                }
            }
        }
    }

    /// Submits what is queued now (removals that must not wait for the next pass).
    fn submit_now(&self) {
        let ring = self.ring.borrow();
        let _ = ring.submit();
    }

    /// Puts `op` in the slab: its index, and the `user_data` of its SQEs.
    fn insert(&self, op: Op) -> usize {
        let generation = self.generation.get().wrapping_add(1);
        self.generation.set(generation);
        let key = self.ops.borrow_mut().insert((generation, op));
        assert!(
            (key as u64) < REMOVAL,
            "more than 2^31 io_uring operations at once"
        );
        key
    }

    /// The `user_data` of the operation at `key`: its index in the low half,
    /// its generation in the high half.
    fn user_data(&self, key: usize) -> u64 {
        let generation = self.ops.borrow().get(key).map_or(0, |(g, _)| *g);
        (u64::from(generation) << 32) | key as u64
    }

    fn poll_add(&self, fd: RawFd, mask: u32, multi: bool, key: usize) {
        let sqe = opcode::PollAdd::new(types::Fd(fd), mask)
            .multi(multi)
            .build()
            .user_data(self.user_data(key));
        self.push(&sqe);
    }

    /// Cancels the operation at `key`: marks it `Cancelled` and queues its
    /// removal. The entry is freed by its last completion.
    fn cancel(&self, key: usize) {
        let data = self.user_data(key);
        if let Some((_, op)) = self.ops.borrow_mut().get_mut(key) {
            *op = Op::Cancelled;
        }
        self.push_removal(data);
    }

    /// Queues the removal of the poll with `user_data` `data`. Its completion
    /// carries `data` with `REMOVAL` set: a removal the kernel answers with
    /// `EALREADY` (the poll was being woken at that moment: a multishot poll
    /// then goes on, holding its file open) is queued again.
    fn push_removal(&self, data: u64) {
        let sqe = opcode::PollRemove::new(data)
            .build()
            .user_data(data | REMOVAL);
        self.push(&sqe);
    }

    /// A buffer for a ring operation (reused when possible): for a receive,
    /// `len` bytes; for a send, empty, with room for `len`.
    pub(in crate::core) fn take_buf(&self, dir: Dir, len: usize) -> Vec<u8> {
        let mut buf = self.free_bufs[idx(dir)]
            .borrow_mut()
            .pop()
            .unwrap_or_default();
        let held = &self.free_bytes[idx(dir)];
        held.set(held.get() - buf.capacity());
        match dir {
            Dir::Read => buf.resize(len, 0),
            Dir::Write => {
                buf.clear();
                buf.reserve(len);
            }
        }
        buf
    }

    /// Gives a completed operation's buffer back for reuse.
    pub(in crate::core) fn give_buf(&self, dir: Dir, buf: Vec<u8>) {
        // Enough for every operation in flight of a few hundred sockets of
        // small messages (fewer send the allocator to the kernel, `brk`, over
        // and over, and a fresh receive buffer is zeroed), no large buffers,
        // and at most `POOL_BYTES` per direction held back.
        let held = &self.free_bytes[idx(dir)];
        let cap = buf.capacity();
        if cap <= 64 * 1024 && held.get() + cap <= POOL_BYTES {
            held.set(held.get() + cap);
            self.free_bufs[idx(dir)].borrow_mut().push(buf);
        }
    }

    /// Submits the operation `kind` on `fd`: a receive or read into all of
    /// `buf`, a send or write of all of `buf`, with the address parts `msg`
    /// (a connect's, a datagram's); the completion goes to `state`. Returns
    /// the slab index.
    pub(in crate::core) fn submit_io(
        &self,
        fd: RawFd,
        kind: OpKind,
        buf: Vec<u8>,
        msg: Option<Box<Msg>>,
        state: Rc<RingOpState>,
    ) -> Result<usize> {
        if fd < 0 {
            return Err(Error::from(io::Error::from_raw_os_error(libc::EBADF)));
        }
        let dir = kind.dir();
        // A write-behind goes whole: the kernel retries a partial send.
        let send_flags = match state.detached.get() {
            true => crate::sys::socket::SEND_FLAGS | libc::MSG_WAITALL,
            false => crate::sys::socket::SEND_FLAGS,
        };
        let key = {
            let mut fds = self.io_fds.borrow_mut();
            let entry = fds.entry(fd).or_default();
            if entry[idx(dir)].is_some() {
                return Err(Error::new(
                    ErrorKind::BusyResource,
                    format!("another task is already using fd {fd} in that direction"),
                ));
            }
            let key = self.insert(Op::Io {
                fd,
                kind,
                buf,
                msg,
                state,
            });
            entry[idx(dir)] = Some(key);
            key
        };
        // SAFETY: the pointers the SQE carries are the heap block of the
        // `Vec` and the `Box<Msg>` (address, message header, iovec — the
        // header points at the other two and at the buffer) now owned by the
        // slab entry at `key`. Neither block moves when the slab grows (the
        // `Vec` and `Box` headers move, their heap blocks do not), and the
        // entry is removed — and both dropped — only by `process`, when the
        // operation's one and only completion arrives (a cancelled or dropped
        // operation stays `Op::Io`, orphaned, until then; `cancel_io` never
        // turns it into `Op::Cancelled`, which would drop them). Nothing else
        // touches them meanwhile: the future sees the bytes and the address
        // only after the completion moved them into its state. So the kernel
        // never reads or writes freed or aliased memory, whatever the task
        // does — cancelled, dropped, or its fd closed.
        let sqe = {
            let mut ops = self.ops.borrow_mut();
            let Some((_, Op::Io { buf, msg, .. })) = ops.get_mut(key) else {
                unreachable!("just inserted")
            };
            let (ptr, len) = (
                buf.as_mut_ptr(),
                u32::try_from(buf.len()).unwrap_or(u32::MAX),
            );
            let fd = types::Fd(fd);
            match (kind, msg.as_deref_mut()) {
                (OpKind::Accept, _) => {
                    opcode::Accept::new(fd, std::ptr::null_mut(), std::ptr::null_mut())
                        .flags(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC)
                        .build()
                }
                (OpKind::Recv, _) => opcode::Recv::new(fd, ptr, len).build(),
                (OpKind::Send, _) => opcode::Send::new(fd, ptr, len).flags(send_flags).build(),
                (OpKind::Read, _) => opcode::Read::new(fd, ptr, len).offset(u64::MAX).build(),
                (OpKind::Write, _) => opcode::Write::new(fd, ptr, len).offset(u64::MAX).build(),
                (OpKind::Connect, Some(m)) => {
                    let addr = (&raw const m.addr).cast::<libc::sockaddr>();
                    opcode::Connect::new(fd, addr, m.addr_len).build()
                }
                (OpKind::RecvFrom | OpKind::SendTo, Some(m)) => {
                    m.iov = libc::iovec {
                        iov_base: ptr.cast(),
                        iov_len: buf.len(),
                    };
                    m.hdr.msg_name = (&raw mut m.addr).cast();
                    m.hdr.msg_namelen = m.addr_len;
                    m.hdr.msg_iov = &raw mut m.iov;
                    m.hdr.msg_iovlen = 1;
                    if kind == OpKind::RecvFrom {
                        opcode::RecvMsg::new(fd, &raw mut m.hdr).build()
                    } else {
                        opcode::SendMsg::new(fd, &raw const m.hdr)
                            .flags(crate::sys::socket::SEND_FLAGS as u32)
                            .build()
                    }
                }
                (OpKind::Connect | OpKind::RecvFrom | OpKind::SendTo, None) => {
                    unreachable!("these operations carry their address parts")
                }
            }
        }
        .user_data(self.user_data(key));
        self.push(&sqe);
        self.ring_ops.set(self.ring_ops.get() + 1);
        Ok(key)
    }

    /// Asks the kernel to cancel the ring operation at `key` (if it is still
    /// `state`'s); its completion still comes, and frees the entry. `orphan`:
    /// nobody will wait for it (a dropped future).
    pub(in crate::core) fn cancel_io(&self, key: usize, state: &Rc<RingOpState>, orphan: bool) {
        let (fd, kind) = match self.ops.borrow().get(key) {
            Some((
                _,
                Op::Io {
                    fd, kind, state: s, ..
                },
            )) if Rc::ptr_eq(s, state) => (*fd, *kind),
            _ => return,
        };
        let dir = kind.dir();
        if orphan && !state.orphaned.get() {
            state.orphaned.set(true);
            if kind.keeps_order() {
                if let Some(stash) = state.stash.upgrade() {
                    stash.orphans.set(stash.orphans.get() + 1);
                }
            }
            self.forget_io(fd, dir, key);
        }
        let sqe = opcode::AsyncCancel::new(self.user_data(key))
            .build()
            .user_data(IGNORED);
        self.push(&sqe);
    }

    fn forget_io(&self, fd: RawFd, dir: Dir, key: usize) {
        release_io_slot(&mut self.io_fds.borrow_mut(), fd, dir, key);
    }

    /// Whether sockets may use ring receives and sends on this kernel.
    pub(in crate::core) fn ops_supported(&self) -> bool {
        self.ops_supported
    }

    /// Ring receives and sends submitted so far.
    pub(in crate::core) fn ring_ops(&self) -> usize {
        self.ring_ops.get()
    }

    pub(in crate::core) fn ops_in_flight(&self) -> usize {
        self.ops.borrow().len()
    }

    /// Operations in the kernel: while there are any, the loop looks at the
    /// ring on every pass (reading completions costs no system call).
    pub(in crate::core) fn waiters(&self) -> usize {
        self.ops.borrow().len()
    }

    pub(in crate::core) fn statistics(&self) -> (usize, usize) {
        (self.waiting_read.get(), self.waiting_write.get())
    }

    pub(in crate::core) fn add_registration(
        &self,
        fd: RawFd,
        state: Rc<RegState>,
    ) -> io::Result<usize> {
        // As epoll does: refuse what is not open, and regular files and
        // directories (always "ready"; a poll on them means nothing).
        // SAFETY: `st` is a plain struct `fstat` fills in.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: `st` is valid for writes for the duration of the call.
        if unsafe { libc::fstat(fd, &mut st) } < 0 {
            return Err(io::Error::last_os_error());
        }
        let kind = st.st_mode & libc::S_IFMT;
        if kind == libc::S_IFREG || kind == libc::S_IFDIR {
            return Err(io::Error::from_raw_os_error(libc::EPERM));
        }
        // Armed at the first wait (`arm_registration`): a socket whose
        // receives and sends are ring operations may never wait for readiness,
        // and its poll would only post reports nobody reads.
        Ok(self.insert(Op::Reg {
            fd,
            state,
            armed: false,
        }))
    }

    /// Arms the registration's multishot poll, the first time it is waited for.
    pub(in crate::core) fn arm_registration(&self, key: usize) {
        let fd = match self.ops.borrow_mut().get_mut(key) {
            Some((_, Op::Reg { fd, armed, .. })) if !*armed => {
                *armed = true;
                *fd
            }
            _ => return,
        };
        self.poll_add(fd, REG_MASK, true, key);
    }

    pub(in crate::core) fn remove_registration(&self, key: usize) {
        let armed = match self.ops.borrow().get(key) {
            Some((_, Op::Reg { armed, .. })) => *armed,
            _ => return,
        };
        if armed {
            self.cancel(key);
            // The fd is about to be closed: let the kernel drop the poll's
            // reference to the file now, so the close is a close.
            self.submit_now();
        } else {
            self.ops.borrow_mut().remove(key);
        }
    }

    pub(in crate::core) fn add_waiter(&self, fd: RawFd, dir: Dir, slot: Rc<IoSlot>) -> Result<()> {
        if fd < 0 {
            return Err(Error::from(io::Error::from_raw_os_error(libc::EBADF)));
        }
        let key = {
            let mut fds = self.fds.borrow_mut();
            let entry = fds.entry(fd).or_default();
            if entry[idx(dir)].is_some() {
                return Err(Error::new(
                    ErrorKind::BusyResource,
                    format!(
                        "another task is already waiting for fd {fd} to become {}",
                        dir_word(dir)
                    ),
                ));
            }
            let key = self.insert(Op::Wait { fd, dir, slot });
            entry[idx(dir)] = Some(key);
            key
        };
        self.poll_add(fd, mask(dir), false, key);
        match dir {
            Dir::Read => self.waiting_read.set(self.waiting_read.get() + 1),
            Dir::Write => self.waiting_write.set(self.waiting_write.get() + 1),
        }
        Ok(())
    }

    /// The waiter is done with its wait (it fired, or the task was cancelled or
    /// dropped its future): if the poll is still in the kernel, cancel it.
    pub(in crate::core) fn remove_waiter(&self, fd: RawFd, dir: Dir, slot: &Rc<IoSlot>) {
        match dir {
            Dir::Read => self.waiting_read.set(self.waiting_read.get() - 1),
            Dir::Write => self.waiting_write.set(self.waiting_write.get() - 1),
        }
        let key = {
            let mut fds = self.fds.borrow_mut();
            let Some(entry) = fds.get_mut(&fd) else {
                return;
            };
            let Some(key) = entry[idx(dir)] else {
                return;
            };
            let ours = matches!(
                self.ops.borrow().get(key),
                Some((_, Op::Wait { slot: s, .. })) if Rc::ptr_eq(s, slot)
            );
            if !ours {
                return;
            }
            entry[idx(dir)] = None;
            if entry.iter().all(Option::is_none) {
                fds.remove(&fd);
            }
            key
        };
        self.cancel(key);
    }

    /// The fd is about to be closed: its operations end (`ClosedResource`
    /// for their tasks), and everything queued is submitted *now*. An SQE
    /// names its fd by number, resolved when the kernel takes it: one still
    /// queued when the fd closes — a dropped operation's, whose fd slot is
    /// already free — would otherwise act on whatever file gets the number
    /// next (a new socket's connect found itself `EALREADY`, the old
    /// connect having gone to the new socket).
    pub(in crate::core) fn notify_closing(&self, fd: RawFd) {
        let queued = !self.ring.borrow_mut().submission().is_empty();
        if queued {
            self.submit_now();
        }
        let io = self.io_fds.borrow_mut().remove(&fd);
        if let Some(io) = io {
            let mut states = Vec::new();
            for key in io.into_iter().flatten() {
                if let Some((_, Op::Io { state, .. })) = self.ops.borrow().get(key) {
                    states.push((key, state.clone()));
                }
            }
            for (key, state) in states {
                state.closed.set(true);
                self.cancel_io(key, &state, true);
                state.wake();
            }
            self.submit_now();
        }
        let Some(entry) = self.fds.borrow_mut().remove(&fd) else {
            return;
        };
        let mut slots = Vec::new();
        for key in entry.into_iter().flatten() {
            if let Some((_, Op::Wait { slot, .. })) = self.ops.borrow().get(key) {
                slots.push(slot.clone());
            }
            self.cancel(key);
        }
        self.submit_now();
        for s in slots {
            s.fire(true);
        }
    }

    /// Submits the queued SQEs and waits (at most `timeout`) for completions —
    /// one `io_uring_enter` — then wakes their waiters. True if the
    /// cross-thread waker fired.
    pub(in crate::core) fn wait(&self, timeout: Duration) -> io::Result<bool> {
        if !self.waker_armed.replace(true) {
            let sqe =
                opcode::PollAdd::new(types::Fd(self.eventfd.as_raw_fd()), libc::POLLIN as u32)
                    .build()
                    .user_data(WAKER);
            self.push(&sqe);
        }
        let res = {
            let mut ring = self.ring.borrow_mut();
            let ready = !ring.completion().is_empty();
            // Queued SQEs, or completions the kernel holds back (the completion
            // queue overflowed): either needs a system call even when the loop
            // must not sleep.
            let queued = {
                let sq = ring.submission();
                !sq.is_empty() || sq.cq_overflow() || sq.taskrun()
            };
            if timeout.is_zero() || ready {
                if queued {
                    ring.submit().map(drop)
                } else {
                    Ok(())
                }
            } else {
                let ts = types::Timespec::new()
                    .sec(timeout.as_secs())
                    .nsec(timeout.subsec_nanos());
                let args = types::SubmitArgs::new().timespec(&ts);
                ring.submitter().submit_with_args(1, &args).map(drop)
            }
        };
        let res = match res {
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ETIME | libc::EINTR | libc::EBUSY | libc::EAGAIN)
                ) =>
            {
                Ok(())
            }
            r => r,
        };
        let woke = self.process();
        res.map(|()| woke)
    }

    /// Cancels every I/O operation still in the kernel and waits (at most
    /// `limit`) for their completions, freeing their entries; true if none is
    /// left.
    fn drain_io(&self, limit: Duration) -> bool {
        let io_keys = || -> Vec<usize> {
            let ops = self.ops.borrow();
            ops.iter()
                .filter(|(_, (_, op))| matches!(op, Op::Io { .. }))
                .map(|(k, _)| k)
                .collect()
        };
        for key in io_keys() {
            let sqe = opcode::AsyncCancel::new(self.user_data(key))
                .build()
                .user_data(IGNORED);
            self.push(&sqe);
        }
        let deadline = std::time::Instant::now() + limit;
        while !io_keys().is_empty() {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return false;
            }
            let ts = types::Timespec::from(left.min(Duration::from_millis(100)));
            let args = types::SubmitArgs::new().timespec(&ts);
            let mut ring = self.ring.borrow_mut();
            let _ = ring.submitter().submit_with_args(1, &args);
            let mut ops = self.ops.borrow_mut();
            for cqe in ring.completion() {
                let data = cqe.user_data();
                if data == WAKER || data == IGNORED || data & REMOVAL != 0 {
                    continue;
                }
                let key = (data & 0xffff_ffff) as usize;
                if matches!(ops.get(key), Some((g, Op::Io { .. })) if u64::from(*g) == data >> 32) {
                    // Its last completion: the kernel is done with the buffer.
                    ops.remove(key);
                }
            }
        }
        true
    }

    /// Reads the completion queue and wakes the waiters.
    fn process(&self) -> bool {
        let mut woke = false;
        let mut fire: Vec<(Rc<IoSlot>, i32)> = Vec::new();
        let mut regs: Vec<(Rc<RegState>, i32)> = Vec::new();
        let mut rearm: Vec<(RawFd, usize)> = Vec::new();
        let mut retry: Vec<u64> = Vec::new();
        let mut done = std::mem::take(&mut *self.completed.borrow_mut());
        {
            let mut ring = self.ring.borrow_mut();
            let mut ops = self.ops.borrow_mut();
            let mut fds = self.fds.borrow_mut();
            for cqe in ring.completion() {
                let (data, res, more) = (cqe.user_data(), cqe.result(), cqueue::more(cqe.flags()));
                if data == WAKER {
                    woke = true;
                    self.waker_armed.set(false);
                    let mut buf = 0u64;
                    // SAFETY: reads 8 bytes into a live local from the eventfd,
                    // which `self` keeps open (non-blocking: EAGAIN is fine).
                    let _ = unsafe {
                        libc::read(self.eventfd.as_raw_fd(), (&mut buf as *mut u64).cast(), 8)
                    };
                    continue;
                }
                if data == IGNORED {
                    continue;
                }
                if data & REMOVAL != 0 {
                    if res == -libc::EALREADY {
                        retry.push(data & !REMOVAL);
                    }
                    continue;
                }
                let key = (data & 0xffff_ffff) as usize;
                let generation = (data >> 32) as u32;
                // A completion for an index that has been freed and reused since
                // (a removal that found nothing left): not this operation's.
                let op = match ops.get_mut(key) {
                    Some((g, op)) if *g == generation => Some(op),
                    _ => None,
                };
                match op {
                    Some(Op::Wait { fd, dir, .. }) => {
                        release_slot(&mut fds, *fd, *dir, key);
                        if let (_, Op::Wait { slot, .. }) = ops.remove(key) {
                            fire.push((slot, res));
                        }
                    }
                    Some(Op::Reg { fd, state, armed }) => {
                        regs.push((state.clone(), res));
                        if !more {
                            if res >= 0 || res == -libc::ECANCELED {
                                rearm.push((*fd, key));
                            } else {
                                *armed = false;
                            }
                        }
                    }
                    Some(Op::Io { fd, kind, .. }) => {
                        // An I/O operation has exactly one completion: the
                        // entry, and its buffer, can go now (and only now).
                        let (fd, dir) = (*fd, kind.dir());
                        release_io_slot(&mut self.io_fds.borrow_mut(), fd, dir, key);
                        if let (
                            _,
                            Op::Io {
                                buf, msg, state, ..
                            },
                        ) = ops.remove(key)
                        {
                            done.push((state, buf, msg, res));
                        }
                    }
                    Some(Op::Cancelled) if !more => {
                        ops.remove(key);
                    }
                    Some(Op::Cancelled) | None => {}
                }
            }
        }
        for (fd, key) in rearm {
            self.poll_add(fd, REG_MASK, true, key);
        }
        for data in retry {
            // Still waiting for its last completion: remove it again.
            let key = (data & 0xffff_ffff) as usize;
            let cancelled = matches!(
                self.ops.borrow().get(key),
                Some((g, Op::Cancelled)) if u64::from(*g) == data >> 32
            );
            if cancelled {
                self.push_removal(data);
            }
        }
        for (slot, res) in fire {
            if res < 0 && res != -libc::ECANCELED {
                slot.fail(-res);
            } else {
                slot.fire(false);
            }
        }
        for (state, res) in regs {
            state.on_poll_result(res);
        }
        for (state, buf, mut msg, res) in done.drain(..) {
            let kind = state.kind.get();
            let dir = kind.dir();
            if state.orphaned.get() {
                // Nobody waits: the result goes to the socket's stash.
                state.keep_untaken(res, &buf, msg.as_deref_mut());
                if let Some(stash) = state.stash.upgrade() {
                    if kind.keeps_order() {
                        stash.orphan_done();
                    } else if state.detached.get() {
                        stash.send_done();
                    }
                }
                self.give_buf(dir, buf);
                continue;
            }
            state.result.set(Some(res));
            *state.buf.borrow_mut() = buf;
            *state.msg.borrow_mut() = msg;
            state.wake();
        }
        *self.completed.borrow_mut() = done;
        woke
    }
}

/// The kernel may still write into the buffers of I/O operations in flight
/// when the run ends — one whose fd outlives the run, or whose future was
/// forgotten (never dropped). Closing the ring does not wait for them: the
/// kernel cancels a closed ring's requests later, on its own schedule (and a
/// kernel worker in the middle of a read finishes it). So they are cancelled
/// and waited for here, before the slab and its buffers go; if the kernel
/// does not answer within five seconds, the slab is leaked — never freed under
/// the kernel.
impl Drop for UringReactor {
    fn drop(&mut self) {
        if !self.drain_io(Duration::from_secs(5)) {
            std::mem::forget(std::mem::take(&mut *self.ops.borrow_mut()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The spare-buffer pool keeps every buffer of many small operations in
    /// flight, up to `POOL_BYTES` per direction, and no large buffer.
    #[test]
    fn the_buffer_pool_is_bounded_by_bytes() {
        let Ok((ring, _eventfd)) = UringReactor::new() else {
            return; // no io_uring here
        };
        let bufs: Vec<Vec<u8>> = (0..300).map(|_| ring.take_buf(Dir::Read, 4096)).collect();
        for b in bufs {
            ring.give_buf(Dir::Read, b);
        }
        assert_eq!(
            ring.free_bufs[idx(Dir::Read)].borrow().len(),
            POOL_BYTES / 4096
        );
        assert_eq!(ring.free_bytes[idx(Dir::Read)].get(), POOL_BYTES);
        assert!(ring.free_bufs[idx(Dir::Write)].borrow().is_empty());

        // A pooled receive buffer comes back at its length, not zeroed again.
        let mut b = ring.take_buf(Dir::Read, 4096);
        assert_eq!(ring.free_bytes[idx(Dir::Read)].get(), POOL_BYTES - 4096);
        b[0] = 7;
        ring.give_buf(Dir::Read, b);
        assert_eq!(ring.take_buf(Dir::Read, 100)[0], 7);

        ring.give_buf(Dir::Write, Vec::with_capacity(128 * 1024));
        assert!(ring.free_bufs[idx(Dir::Write)].borrow().is_empty());
    }
}
