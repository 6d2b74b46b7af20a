//! What a blocked task waits on.
//!
//! # Why the primitives say what they wait on
//!
//! A task tree that only says "blocked" answers little; "blocked on lock 0x5f30,
//! which task 12 holds" answers the question a user asks of a hung program. And a
//! run can only be declared deadlocked if the loop knows that *nothing outside it*
//! could wake any task: that every blocked task waits on something that only another
//! task of this loop could release (a lock, a local channel, a child nursery) —
//! never on a file descriptor, a deadline, a thread, or a future trio does not know.
//!
//! So each blocking primitive, when it is about to return `Poll::Pending`, records
//! what it waits on in the task's cell, found through the waker in its `Context`
//! ([`set`]). The nursery that polls the task resets the record before each poll. A
//! primitive trio does not know records nothing, so its task shows
//! [`BlockedOn::Other`] — which also tells the deadlock detector to stay quiet.
//!
//! Cost: a store per blocking operation and one per task step. (A first version
//! kept the record in a thread-local slot: +8% instructions on ping_pong, because
//! the thread-local accesses were not inlined; through the waker it is a pointer
//! compare and a store. See BENCHMARKS.md, "seeing inside, switched off".)

use std::fmt;
use std::task::Context;

use super::registration::IoDirection;
use super::task::local_of;
use crate::time::Instant;

/// What a blocking primitive waits on, packed in one word (it lives in every task
/// cell: idle-task memory is one of the benchmark targets). Bits 0–3: the kind;
/// 4–7: the I/O direction or the channel operation; 8–63: a signed payload — a
/// deadline's nanoseconds (saturated to ±2^55 ns, about 417 days), an object's
/// address, a file descriptor, a nursery id. A sync wait is laid out apart: bits
/// 4–11 hold its lot's name index, 12–63 the lot's address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(in crate::core) struct RawWait(u64);

const PAYLOAD_MAX: i64 = (1 << 55) - 1;
/// A sync wait's identity (an address) in 52 bits.
const SYNC_ID_MAX: u64 = (1 << 52) - 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum Kind {
    // (at most 16 kinds: four bits)
    Other,
    Sleep,
    SleepForever,
    Sync,
    Channel,
    ThreadSafeChannel,
    Fd,
    Thread,
    Nursery,
    Idle,
}

/// The names of the parking lots' owners (`ParkingLot::with_name`), by index:
/// a wait on a lot records the index, the task tree reads the name back. Index 0
/// is a bare lot; a name beyond the 255th distinct one shows as that.
static NAMES: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());

const BARE_LOT: &str = "ParkingLot";

thread_local! {
    /// The last name looked up on this thread and its index: primitives of one
    /// kind are usually made in a row, so most look-ups stop here.
    static LAST_NAME: std::cell::Cell<(usize, usize, u8)> = const { std::cell::Cell::new((0, 0, 0)) };
}

/// The index of `name` in [`NAMES`], adding it if it is new. Called when a
/// parking lot is made, and for a user's `BlockedOn::Sync` record.
#[inline]
pub(in crate::core) fn name_index(name: &'static str) -> u8 {
    if name == BARE_LOT {
        return 0;
    }
    let key = (name.as_ptr() as usize, name.len());
    let last = LAST_NAME.with(|l| l.get());
    if (last.0, last.1) == key {
        return last.2;
    }
    let i = name_index_slow(name);
    LAST_NAME.with(|l| l.set((key.0, key.1, i)));
    i
}

fn name_index_slow(name: &'static str) -> u8 {
    let mut names = NAMES.lock().unwrap_or_else(|e| e.into_inner());
    if names.is_empty() {
        names.push(BARE_LOT);
    }
    if let Some(i) = names.iter().position(|n| *n == name) {
        return i as u8;
    }
    if names.len() > u8::MAX as usize {
        return 0;
    }
    names.push(name);
    (names.len() - 1) as u8
}

fn name_of(index: u8) -> &'static str {
    let names = NAMES.lock().unwrap_or_else(|e| e.into_inner());
    names.get(index as usize).copied().unwrap_or(BARE_LOT)
}

impl RawWait {
    pub(in crate::core) const OTHER: RawWait = RawWait::new(Kind::Other, 0, 0);

    const fn new(kind: Kind, sub: u8, a: u64) -> RawWait {
        let a = if (a as i64) > PAYLOAD_MAX {
            PAYLOAD_MAX
        } else if (a as i64) < -PAYLOAD_MAX {
            -PAYLOAD_MAX
        } else {
            a as i64
        };
        RawWait(((a as u64) << 8) | (((sub & 0xf) as u64) << 4) | kind as u64)
    }

    fn kind(self) -> Kind {
        const KINDS: [Kind; 10] = [
            Kind::Other,
            Kind::Sleep,
            Kind::SleepForever,
            Kind::Sync,
            Kind::Channel,
            Kind::ThreadSafeChannel,
            Kind::Fd,
            Kind::Thread,
            Kind::Nursery,
            Kind::Idle,
        ];
        KINDS
            .get((self.0 & 0xf) as usize)
            .copied()
            .unwrap_or(Kind::Other)
    }

    fn sub(self) -> u8 {
        ((self.0 >> 4) & 0xf) as u8
    }

    fn payload(self) -> i64 {
        (self.0 as i64) >> 8
    }

    pub(in crate::core) fn sleep(until: Instant) -> RawWait {
        if until.is_finite() {
            Self::new(Kind::Sleep, 0, until.as_nanos() as u64)
        } else {
            Self::new(Kind::SleepForever, 0, 0)
        }
    }

    #[inline]
    pub(in crate::core) fn sync(name_index: u8, id: usize) -> RawWait {
        let id = (id as u64).min(SYNC_ID_MAX);
        RawWait((id << 12) | ((name_index as u64) << 4) | Kind::Sync as u64)
    }

    pub(in crate::core) fn channel(id: usize, send: bool, thread_safe: bool) -> RawWait {
        let kind = if thread_safe {
            Kind::ThreadSafeChannel
        } else {
            Kind::Channel
        };
        Self::new(kind, send as u8, id as u64)
    }

    /// A wait on a raw fd (or, on Windows, socket: `RawSource` widened).
    pub(in crate::core) fn fd(fd: i64, dir: IoDirection) -> RawWait {
        let sub = match dir {
            IoDirection::Read => 0,
            IoDirection::Write => 1,
        };
        Self::new(Kind::Fd, sub, fd as u64)
    }

    pub(in crate::core) const THREAD: RawWait = RawWait::new(Kind::Thread, 0, 0);
    pub(in crate::core) const IDLE: RawWait = RawWait::new(Kind::Idle, 0, 0);

    pub(in crate::core) fn nursery(id: u64) -> RawWait {
        Self::new(Kind::Nursery, 0, id)
    }

    /// Only another task of this loop can end this wait (or a cancellation, which
    /// itself comes from a task, a deadline or another thread). `sleep_forever` is
    /// the idiom for "wait for Ctrl-C": it counts as internal only when the run
    /// does not handle Ctrl-C.
    pub(in crate::core) fn is_internal(self, ctrl_c_handled: bool) -> bool {
        match self.kind() {
            Kind::Sync | Kind::Channel | Kind::Nursery => true,
            Kind::SleepForever => !ctrl_c_handled,
            _ => false,
        }
    }

    /// A wait on a thread-safe memory channel (see `Builder::channel_deadlock_grace`).
    pub(in crate::core) fn is_thread_safe_channel(self) -> bool {
        self.kind() == Kind::ThreadSafeChannel
    }

    pub(in crate::core) fn public(self) -> BlockedOn {
        let (sub, a) = (self.sub(), self.payload());
        match self.kind() {
            Kind::Other => BlockedOn::Other,
            Kind::Sleep => BlockedOn::Sleep {
                until: Instant::from_nanos(a),
            },
            Kind::SleepForever => BlockedOn::SleepForever,
            Kind::Sync => BlockedOn::Sync {
                primitive: name_of((self.0 >> 4) as u8),
                id: self.0 >> 12,
            },
            Kind::Channel | Kind::ThreadSafeChannel => BlockedOn::Channel {
                id: a as u64,
                operation: if sub == 1 {
                    ChannelOp::Send
                } else {
                    ChannelOp::Receive
                },
                thread_safe: self.kind() == Kind::ThreadSafeChannel,
            },
            Kind::Fd => BlockedOn::Fd {
                fd: a as i32,
                direction: if sub == 1 {
                    IoDirection::Write
                } else {
                    IoDirection::Read
                },
            },
            Kind::Thread => BlockedOn::Thread,
            Kind::Nursery => BlockedOn::Nursery { id: a as u64 },
            Kind::Idle => BlockedOn::AllTasksBlocked,
        }
    }
}

/// Records what the task polled with `cx` is about to wait on. Written straight
/// into the task's cell through its waker: no thread-local lookup. A waker that is
/// not a trio task's own (a combinator wrapped it) records nothing, and the task
/// shows [`BlockedOn::Other`] — the conservative answer.
#[inline]
pub(in crate::core) fn set(cx: &Context<'_>, w: RawWait) {
    if let Some(l) = local_of(cx.waker()) {
        l.wait.set(w);
    }
}

/// Records what the task polled with `cx` is about to wait on, for
/// [`task_tree`](crate::lowlevel::task_tree) and deadlock detection: call it
/// just before returning `Poll::Pending` from a primitive of your own (trio's
/// parking lots, channels, fd waits and `to_thread` do so themselves). The task
/// shows this until its next step.
///
/// Record only what is true: a wait recorded as [`BlockedOn::Sync`],
/// [`BlockedOn::Channel`] (not thread-safe) or [`BlockedOn::Nursery`] tells the
/// deadlock detector that only another task of this run can end it. A waker
/// that is not a trio task's own (a combinator wrapped it) records nothing.
///
/// # Examples
///
/// A primitive that waits for a flag set by another task:
///
/// ```
/// use std::cell::{Cell, RefCell};
/// use std::task::{Poll, Waker};
/// use trio::lowlevel::{BlockedOn, TaskState, record_blocked_on, task_tree};
///
/// #[derive(Default)]
/// struct Flag { set: Cell<bool>, waiter: RefCell<Option<Waker>> }
///
/// impl Flag {
///     async fn wait(&self) {
///         std::future::poll_fn(|cx| {
///             if self.set.get() {
///                 return Poll::Ready(());
///             }
///             *self.waiter.borrow_mut() = Some(cx.waker().clone());
///             record_blocked_on(cx, BlockedOn::Sync { primitive: "Flag", id: self as *const _ as u64 });
///             Poll::Pending
///         })
///         .await
///     }
/// }
///
/// # trio::run(async {
/// let flag = Flag::default();
/// let f = &flag;
/// trio::open_nursery(async |n| {
///     n.start_soon_named("waiter", async move { f.wait().await; Ok(()) })?;
///     trio::testing::wait_all_tasks_blocked().await?;
///     let tree = task_tree();
///     let waiter = tree.find("waiter").unwrap();
///     assert_eq!(waiter.state, TaskState::Blocked);
///     assert!(matches!(waiter.blocked_on, Some(BlockedOn::Sync { primitive: "Flag", .. })));
///     f.set.set(true);
///     if let Some(w) = f.waiter.take() { w.wake() }
///     Ok(())
/// })
/// .await
/// # }).unwrap();
/// ```
#[inline(always)]
pub fn record_blocked_on(cx: &Context<'_>, on: BlockedOn) {
    let raw = match on {
        BlockedOn::Other => RawWait::OTHER,
        BlockedOn::Sleep { until } => RawWait::sleep(until),
        BlockedOn::SleepForever => RawWait::sleep(Instant::INFINITY),
        BlockedOn::Sync { primitive, id } => RawWait::sync(name_index(primitive), id as usize),
        BlockedOn::Channel {
            id,
            operation,
            thread_safe,
        } => RawWait::channel(id as usize, operation == ChannelOp::Send, thread_safe),
        BlockedOn::Fd { fd, direction } => RawWait::fd(i64::from(fd), direction),
        BlockedOn::Thread => RawWait::THREAD,
        BlockedOn::Nursery { id } => RawWait::nursery(id),
        BlockedOn::AllTasksBlocked => RawWait::IDLE,
    };
    set(cx, raw);
}

/// What the task polled with `cx` last recorded.
#[inline]
pub(in crate::core) fn get(cx: &Context<'_>) -> RawWait {
    local_of(cx.waker()).map_or(RawWait::OTHER, |l| l.wait.get())
}

/// Which way a channel operation goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelOp {
    /// Waiting for room (or a receiver) to send.
    Send,
    /// Waiting for a value.
    Receive,
}

/// What a blocked task waits on, as shown by [`lowlevel::task_tree`](crate::lowlevel::task_tree).
///
/// ```
/// use trio::lowlevel::{BlockedOn, TaskState, task_tree};
///
/// # trio::run(async {
/// let lock = trio::sync::Lock::new();
/// let _held = lock.acquire().await?;
/// trio::open_nursery(async |n| {
///     n.start_soon_named("waiter", async { lock.acquire().await.map(drop) })?;
///     trio::testing::wait_all_tasks_blocked().await?;
///     let tree = task_tree();
///     let waiter = tree.find("waiter").expect("the waiter is in the tree");
///     assert_eq!(waiter.state, TaskState::Blocked);
///     assert!(matches!(waiter.blocked_on, Some(BlockedOn::Sync { primitive: "Lock", .. })));
///     n.cancel_scope().cancel();
///     Ok(())
/// })
/// .await
/// # }).unwrap();
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum BlockedOn {
    /// A future trio does not know (for the deadlock detector: something outside
    /// the loop might wake it).
    Other,
    /// `sleep` / `sleep_until` until this time on the run's clock.
    Sleep {
        /// The deadline.
        until: Instant,
    },
    /// `sleep_forever`, or a sleep with an infinite deadline.
    SleepForever,
    /// A sync primitive (or a bare `ParkingLot`).
    Sync {
        /// The name its parking lot was given
        /// ([`ParkingLot::with_name`](crate::lowlevel::ParkingLot::with_name)):
        /// `"Lock"`, `"Semaphore"`, `"Event"`, `"Condition"`, `"CapacityLimiter"`,
        /// `"TaskHandle"` (`join`) for trio's own, `"ParkingLot"` for a bare lot.
        primitive: &'static str,
        /// The primitive's identity (stable while it lives).
        id: u64,
    },
    /// A memory channel.
    Channel {
        /// The channel's identity (shared by its senders and receivers).
        id: u64,
        /// Which way the task waits.
        operation: ChannelOp,
        /// A thread-safe channel (another thread might end the wait).
        thread_safe: bool,
    },
    /// A file descriptor becoming readable or writable.
    Fd {
        /// The descriptor.
        fd: i32,
        /// Which readiness.
        direction: IoDirection,
    },
    /// A worker thread (`to_thread`) or an answer from another thread.
    Thread,
    /// The children of this nursery: the task's nursery body has finished, or
    /// the task waits in `Nursery::start` for the task it started.
    Nursery {
        /// The nursery's id.
        id: u64,
    },
    /// `testing::wait_all_tasks_blocked`.
    AllTasksBlocked,
}

impl fmt::Display for BlockedOn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlockedOn::Other => f.write_str("a future trio does not know"),
            BlockedOn::Sleep { until } => {
                write!(f, "sleep until t={:.6}s", until.as_secs_f64())
            }
            BlockedOn::SleepForever => f.write_str("sleep forever"),
            BlockedOn::Sync { primitive, id } => write!(f, "{primitive} {id:#x}"),
            BlockedOn::Channel {
                id,
                operation,
                thread_safe,
            } => {
                let op = match operation {
                    ChannelOp::Send => "send on",
                    ChannelOp::Receive => "receive on",
                };
                let ts = if *thread_safe { "thread-safe " } else { "" };
                write!(f, "{op} {ts}channel {id:#x}")
            }
            BlockedOn::Fd { fd, direction } => {
                let d = match direction {
                    IoDirection::Read => "readable",
                    IoDirection::Write => "writable",
                };
                write!(f, "fd {fd} {d}")
            }
            BlockedOn::Thread => f.write_str("a thread"),
            BlockedOn::Nursery { id } => write!(f, "children of nursery {id}"),
            BlockedOn::AllTasksBlocked => f.write_str("all tasks blocked"),
        }
    }
}
