//! The parking lot: the fair FIFO wait queue under every trio primitive.
//!
//! Trio builds every synchronization primitive on one object, `ParkingLot`: tasks
//! `park` in FIFO order, and the primitive decides when to `unpark` the longest
//! waiter. Keeping the queueing, cancellation and fairness logic in one place means
//! every primitive gets them right in the same way. We do the same, with one Rust
//! addition: `unpark` can hand the woken task a value (`ParkingLot<T>`), which is how
//! a channel gives an item straight to a waiting receiver, and a lock gives itself to
//! the next owner, without a window where a third task could barge in.
//!
//! Waiting is cancellable in Trio's sense: a `park` that is cancelled left the queue
//! and received nothing; a `park` that was unparked returns its value even if a
//! cancellation arrived in the meantime (the unpark happened first, so the operation
//! did happen).
//!
//! Each waiter is a small shared slot (`Rc<Slot>`) that the queue and the waiting
//! future both point to; the future finds its slot wherever `repark` moved it.
//! The queue is a slab plus a FIFO of `(key, seq)` pairs; removing a waiter from the
//! middle (cancellation) leaves a stale pair that is skipped later, and the FIFO is
//! compacted when stale pairs outnumber live ones.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};

use slab::Slab;

use super::cancel::{CancelWait, check_cancelled};
use super::context;
use super::task::LotBreaker;
use super::task::Task;
use super::wait::{self, RawWait};
use crate::error::{Error, ErrorKind, Result};

enum SlotState<T> {
    Waiting,
    Unparked(T),
    Broken,
    Done,
}

struct Slot<T> {
    state: RefCell<SlotState<T>>,
    waker: RefCell<Option<Waker>>,
    /// The lot the slot is queued in now (it changes on `repark`).
    lot: RefCell<Weak<RefCell<LotInner<T>>>>,
    key: Cell<usize>,
    task: Option<Task>,
}

struct LotInner<T> {
    slots: Slab<(Rc<Slot<T>>, u64)>,
    order: VecDeque<(usize, u64)>,
    seq: u64,
    broken: bool,
    /// Which primitive this lot belongs to (for the task tree), and its index
    /// among the names (`wait::name_index`), recorded by a waiting task.
    name: &'static str,
    name_index: u8,
}

impl<T> LotInner<T> {
    fn push(&mut self, slot: Rc<Slot<T>>, me: &Weak<RefCell<LotInner<T>>>) {
        self.seq += 1;
        let seq = self.seq;
        *slot.lot.borrow_mut() = me.clone();
        let key = self.slots.insert((slot.clone(), seq));
        slot.key.set(key);
        self.order.push_back((key, seq));
    }

    fn pop(&mut self) -> Option<Rc<Slot<T>>> {
        while let Some((key, seq)) = self.order.pop_front() {
            if self.slots.get(key).is_some_and(|(_, s)| *s == seq) {
                return Some(self.slots.remove(key).0);
            }
        }
        None
    }

    fn remove(&mut self, slot: &Slot<T>) {
        let key = slot.key.get();
        if let Some((s, _)) = self.slots.get(key) {
            if std::ptr::eq(Rc::as_ptr(s), slot) {
                self.slots.remove(key);
                if self.order.len() > 32 && self.order.len() > 2 * self.slots.len() {
                    let slots = &self.slots;
                    self.order
                        .retain(|(k, seq)| slots.get(*k).is_some_and(|(_, s)| s == seq));
                }
            }
        }
    }
}

/// A fair FIFO queue of parked tasks (Trio's `trio.lowlevel.ParkingLot`), optionally
/// handing each woken task a value of type `T`.
///
/// # Examples
///
/// ```
/// use trio::lowlevel::ParkingLot;
/// # trio::run(async {
/// let lot: ParkingLot<u32> = ParkingLot::new();
/// let lot = &lot;
/// trio::open_nursery(async |n| {
///     n.start_soon(async move {
///         assert_eq!(lot.park().await?, 7);
///         Ok(())
///     })?;
///     trio::testing::wait_all_tasks_blocked().await?;
///     assert!(lot.unpark_with(7).is_ok());
///     Ok(())
/// }).await
/// # }).unwrap();
/// ```
pub struct ParkingLot<T = ()> {
    inner: Rc<RefCell<LotInner<T>>>,
}

impl<T> Default for ParkingLot<T> {
    fn default() -> Self {
        ParkingLot::new()
    }
}

impl<T> fmt::Debug for ParkingLot<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParkingLot")
            .field("tasks_waiting", &self.len())
            .finish()
    }
}

/// Statistics of a [`ParkingLot`].
///
/// # Examples
///
/// ```
/// use trio::lowlevel::ParkingLot;
/// # trio::run(async {
/// let lot = ParkingLot::<()>::new();
/// let lot = &lot;
/// assert_eq!(lot.statistics().tasks_waiting, 0);
/// trio::open_nursery(async |n| {
///     for _ in 0..2 {
///         n.start_soon(async move { lot.park().await })?;
///     }
///     trio::testing::wait_all_tasks_blocked().await?;
///     assert_eq!(lot.statistics().tasks_waiting, 2);
///     lot.unpark_all();
///     Ok(())
/// }).await
/// # }).unwrap();
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ParkingLotStatistics {
    /// Tasks parked in the lot now.
    pub tasks_waiting: usize,
}

impl<T> ParkingLot<T> {
    /// An empty lot.
    ///
    /// # Examples
    ///
    /// ```
    /// let lot: trio::lowlevel::ParkingLot<String> = trio::lowlevel::ParkingLot::new();
    /// assert!(lot.is_empty());
    /// assert!(!lot.is_broken());
    /// // Nobody to hand the value to: it comes back.
    /// assert_eq!(lot.unpark_with("hi".to_string()).unwrap_err(), "hi");
    /// ```
    pub fn new() -> ParkingLot<T> {
        Self::with_name("ParkingLot")
    }

    /// An empty lot belonging to a primitive called `name`: a task waiting in it
    /// shows in [`task_tree`](crate::lowlevel::task_tree) as blocked on
    /// [`BlockedOn::Sync`](crate::lowlevel::BlockedOn::Sync) with this name.
    /// trio's own primitives are built this way (`"Lock"`, `"Semaphore"`, ...).
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::lowlevel::{BlockedOn, ParkingLot, task_tree};
    /// # trio::run(async {
    /// let gate: ParkingLot = ParkingLot::with_name("Gate");
    /// assert_eq!(gate.name(), "Gate");
    /// let gate = &gate;
    /// trio::open_nursery(async |n| {
    ///     n.start_soon_named("visitor", async move { gate.park().await })?;
    ///     trio::testing::wait_all_tasks_blocked().await?;
    ///     let tree = task_tree();
    ///     let visitor = tree.find("visitor").unwrap();
    ///     assert!(matches!(visitor.blocked_on, Some(BlockedOn::Sync { primitive: "Gate", .. })));
    ///     gate.unpark_all();
    ///     Ok(())
    /// })
    /// .await
    /// # }).unwrap();
    /// ```
    pub fn with_name(name: &'static str) -> ParkingLot<T> {
        ParkingLot {
            inner: Rc::new(RefCell::new(LotInner {
                slots: Slab::new(),
                order: VecDeque::new(),
                seq: 0,
                broken: false,
                name,
                name_index: wait::name_index(name),
            })),
        }
    }

    /// The name the task tree shows for a task waiting here
    /// ([`with_name`](Self::with_name); `"ParkingLot"` for a bare lot).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trio::lowlevel::ParkingLot::<()>::new().name(), "ParkingLot");
    /// ```
    pub fn name(&self) -> &'static str {
        self.inner.borrow().name
    }

    /// Parks the current task until another task unparks it.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::BrokenResource`] if the lot is (or becomes) broken by
    /// [`break_lot`](Self::break_lot).
    ///
    /// # Cancellation
    ///
    /// A checkpoint: if cancelled, the task leaves the queue and `park` returns
    /// `Err(Cancelled)` having received nothing. If it was unparked before the
    /// cancellation was noticed, it returns the value.
    ///
    /// Dropping the future before it completes also leaves the queue; a value
    /// handed to it in the meantime is dropped.
    ///
    /// # Examples
    ///
    /// A cancelled waiter leaves the queue:
    ///
    /// ```
    /// use trio::lowlevel::ParkingLot;
    /// # trio::run(async {
    /// let lot = ParkingLot::<()>::new();
    /// let scope = trio::CancelScope::new();
    /// let (lot, s) = (&lot, &scope);
    /// trio::open_nursery(async |n| {
    ///     n.start_soon(async move {
    ///         assert_eq!(s.run(lot.park()).await?, None);
    ///         Ok(())
    ///     })?;
    ///     trio::testing::wait_all_tasks_blocked().await?;
    ///     assert_eq!(lot.len(), 1);
    ///     scope.cancel();
    ///     trio::testing::wait_all_tasks_blocked().await?;
    ///     assert!(lot.is_empty());
    ///     Ok(())
    /// }).await
    /// # }).unwrap();
    /// ```
    #[inline]
    pub fn park(&self) -> Park<T> {
        Park {
            lot: Rc::downgrade(&self.inner),
            slot: None,
            cancel: CancelWait::default(),
            wait: RawWait::sync(
                self.inner.borrow().name_index,
                Rc::as_ptr(&self.inner) as usize,
            ),
        }
    }

    /// Wakes the longest-waiting task, handing it `value`; returns the task, or the
    /// value back if nobody was waiting.
    ///
    /// # Errors
    ///
    /// `Err(value)` when no task is parked.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::lowlevel::ParkingLot;
    /// # trio::run(async {
    /// let lot = ParkingLot::<&str>::new();
    /// let lot = &lot;
    /// assert_eq!(lot.unpark_with("lost").unwrap_err(), "lost");
    /// trio::open_nursery(async |n| {
    ///     let mut h = n.spawn(async move { lot.park().await })?;
    ///     trio::testing::wait_all_tasks_blocked().await?;
    ///     let woken = lot.unpark_with("hello").unwrap();
    ///     assert_eq!(woken.as_ref(), Some(h.task()));
    ///     assert_eq!(h.join().await?, "hello");
    ///     Ok(())
    /// }).await
    /// # }).unwrap();
    /// ```
    pub fn unpark_with(&self, value: T) -> std::result::Result<Option<Task>, T> {
        let slot = self.inner.borrow_mut().pop();
        match slot {
            None => Err(value),
            Some(slot) => {
                *slot.state.borrow_mut() = SlotState::Unparked(value);
                let w = slot.waker.borrow_mut().take();
                if let Some(w) = w {
                    w.wake();
                }
                Ok(slot.task.clone())
            }
        }
    }

    /// Moves up to `count` waiters, longest-waiting first, to the back of `other`
    /// (Trio's `repark`); they stay parked. Returns how many moved.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::lowlevel::ParkingLot;
    /// # trio::run(async {
    /// let (a, b) = (ParkingLot::<()>::new(), ParkingLot::<()>::new());
    /// let (a, b) = (&a, &b);
    /// trio::open_nursery(async |n| {
    ///     for _ in 0..3 {
    ///         n.start_soon(async move { a.park().await })?;
    ///     }
    ///     trio::testing::wait_all_tasks_blocked().await?;
    ///     assert_eq!(a.repark(b, 2), 2);
    ///     assert_eq!((a.len(), b.len()), (1, 2));
    ///     assert_eq!(b.unpark_all(), 2); // the moved waiters wake from `b`
    ///     assert_eq!(a.unpark_all(), 1);
    ///     Ok(())
    /// }).await
    /// # }).unwrap();
    /// ```
    pub fn repark(&self, other: &ParkingLot<T>, count: usize) -> usize {
        let mut moved = 0;
        while moved < count {
            let Some(slot) = self.inner.borrow_mut().pop() else {
                break;
            };
            if other.is_broken() {
                // Moving into a broken lot breaks the wait: nobody will unpark it.
                slot.break_slot();
            } else {
                let me = Rc::downgrade(&other.inner);
                other.inner.borrow_mut().push(slot, &me);
            }
            moved += 1;
        }
        moved
    }

    /// Moves every waiter to `other` (Trio's `repark_all`).
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::lowlevel::ParkingLot;
    /// # trio::run(async {
    /// let (a, b) = (ParkingLot::<()>::new(), ParkingLot::<()>::new());
    /// let (a, b) = (&a, &b);
    /// trio::open_nursery(async |n| {
    ///     for _ in 0..2 {
    ///         n.start_soon(async move { a.park().await })?;
    ///     }
    ///     trio::testing::wait_all_tasks_blocked().await?;
    ///     assert_eq!(a.repark_all(b), 2);
    ///     assert!(a.is_empty());
    ///     assert_eq!(b.unpark_all(), 2);
    ///     Ok(())
    /// }).await
    /// # }).unwrap();
    /// ```
    pub fn repark_all(&self, other: &ParkingLot<T>) -> usize {
        self.repark(other, usize::MAX)
    }

    /// Breaks the lot: every parked task, and every later `park`, gets
    /// [`ErrorKind::BrokenResource`] (Trio's `break_lot`).
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::lowlevel::ParkingLot;
    /// # trio::run(async {
    /// let lot = ParkingLot::<()>::new();
    /// let lot = &lot;
    /// trio::open_nursery(async |n| {
    ///     n.start_soon(async move {
    ///         let e = lot.park().await.unwrap_err();
    ///         assert_eq!(e.kind(), trio::ErrorKind::BrokenResource);
    ///         Ok(())
    ///     })?;
    ///     trio::testing::wait_all_tasks_blocked().await?;
    ///     lot.break_lot();
    ///     Ok(())
    /// }).await?;
    /// // Later parks fail at once.
    /// assert_eq!(lot.park().await.unwrap_err().kind(), trio::ErrorKind::BrokenResource);
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn break_lot(&self) {
        let slots: Vec<Rc<Slot<T>>> = {
            let mut inner = self.inner.borrow_mut();
            inner.broken = true;
            let mut v = Vec::new();
            while let Some(s) = inner.pop() {
                v.push(s);
            }
            v
        };
        for slot in slots {
            slot.break_slot();
        }
    }

    /// True if [`break_lot`](Self::break_lot) was called.
    ///
    /// # Examples
    ///
    /// ```
    /// let lot = trio::lowlevel::ParkingLot::<()>::new();
    /// assert!(!lot.is_broken());
    /// lot.break_lot();
    /// assert!(lot.is_broken());
    /// ```
    pub fn is_broken(&self) -> bool {
        self.inner.borrow().broken
    }

    /// The number of parked tasks.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::lowlevel::ParkingLot;
    /// # trio::run(async {
    /// let lot = ParkingLot::<()>::new();
    /// let lot = &lot;
    /// trio::open_nursery(async |n| {
    ///     for _ in 0..3 {
    ///         n.start_soon(async move { lot.park().await })?;
    ///     }
    ///     trio::testing::wait_all_tasks_blocked().await?;
    ///     assert_eq!(lot.len(), 3);
    ///     lot.unpark();
    ///     assert_eq!(lot.len(), 2);
    ///     lot.unpark_all();
    ///     Ok(())
    /// }).await
    /// # }).unwrap();
    /// ```
    pub fn len(&self) -> usize {
        self.inner.borrow().slots.len()
    }

    /// True if no task is parked.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::lowlevel::ParkingLot;
    /// # trio::run(async {
    /// let lot = ParkingLot::<()>::new();
    /// let lot = &lot;
    /// assert!(lot.is_empty());
    /// trio::open_nursery(async |n| {
    ///     n.start_soon(async move { lot.park().await })?;
    ///     trio::testing::wait_all_tasks_blocked().await?;
    ///     assert!(!lot.is_empty());
    ///     lot.unpark();
    ///     Ok(())
    /// }).await?;
    /// assert!(lot.is_empty());
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The lot's statistics.
    ///
    /// # Examples
    ///
    /// ```
    /// let lot = trio::lowlevel::ParkingLot::<()>::new();
    /// assert_eq!(lot.statistics().tasks_waiting, lot.len());
    /// ```
    pub fn statistics(&self) -> ParkingLotStatistics {
        ParkingLotStatistics {
            tasks_waiting: self.len(),
        }
    }
}

impl<T> LotBreaker for RefCell<LotInner<T>> {
    fn break_for_exit(&self) {
        let slots: Vec<Rc<Slot<T>>> = {
            let mut inner = self.borrow_mut();
            inner.broken = true;
            std::iter::from_fn(|| inner.pop()).collect()
        };
        for slot in slots {
            slot.break_slot();
        }
    }
}

impl<T> Slot<T> {
    fn break_slot(&self) {
        *self.state.borrow_mut() = SlotState::Broken;
        let w = self.waker.borrow_mut().take();
        if let Some(w) = w {
            w.wake();
        }
    }
}

impl<T: 'static> ParkingLot<T> {
    /// Registers `task` as a breaker of this lot: when `task` exits, the lot is
    /// broken (Trio's `add_parking_lot_breaker`). This is how a lock whose owner
    /// exits without releasing it turns its waiters' wait into
    /// [`ErrorKind::BrokenResource`] instead of a hang.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::lowlevel::ParkingLot;
    /// # trio::run(async {
    /// let lot: ParkingLot = ParkingLot::new();
    /// let lot = &lot;
    /// trio::open_nursery(async |n| {
    ///     n.start_soon(async move {
    ///         lot.add_breaker(&trio::lowlevel::current_task());
    ///         Ok(()) // exits: the lot breaks
    ///     })?;
    ///     Ok(())
    /// }).await?;
    /// assert!(lot.is_broken());
    /// # Ok(()) }).unwrap();
    /// ```
    #[inline]
    pub fn add_breaker(&self, task: &Task) {
        if let Some(l) = task.cell_ref().local() {
            if !l.alive.get() {
                self.break_lot();
                return;
            }
            let weak: Weak<dyn LotBreaker> = Rc::downgrade(&self.inner) as Weak<dyn LotBreaker>;
            l.extras_mut().breakers.push(weak);
        }
    }

    /// Undoes [`add_breaker`](Self::add_breaker) (Trio's `remove_parking_lot_breaker`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Usage`] if `task` is not a breaker of this lot.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::lowlevel::{ParkingLot, current_task};
    /// # trio::run(async {
    /// let lot: ParkingLot = ParkingLot::new();
    /// lot.add_breaker(&current_task());
    /// lot.remove_breaker(&current_task())?;
    /// assert!(lot.remove_breaker(&current_task()).is_err());
    /// # Ok(()) }).unwrap();
    /// ```
    #[inline]
    pub fn remove_breaker(&self, task: &Task) -> Result<()> {
        let me = Rc::as_ptr(&self.inner) as *const ();
        if let Some(l) = task.cell_ref().local() {
            let mut extras = l.extras_mut();
            let b = &mut extras.breakers;
            // By address: no upgrade (a count up and down) and no virtual call per
            // entry. A dead lot's entry cannot match: `self` keeps this one alive.
            if let Some(i) = b.iter().position(|w| Weak::as_ptr(w) as *const () == me) {
                b.swap_remove(i);
                return Ok(());
            }
        }
        Err(Error::new(
            ErrorKind::Usage,
            "that task is not registered as a breaker of this parking lot",
        ))
    }
}

impl<T> Drop for ParkingLot<T> {
    /// Tasks still parked in a lot that goes away are woken with
    /// [`ErrorKind::BrokenResource`]: nobody is left to unpark them.
    fn drop(&mut self) {
        if !self.is_empty() {
            self.break_lot();
        }
    }
}

impl<T: Default> ParkingLot<T> {
    /// Wakes the longest-waiting task (with `T::default()`); returns it if there was one.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::lowlevel::ParkingLot;
    /// # trio::run(async {
    /// let lot = ParkingLot::<u32>::new();
    /// let lot = &lot;
    /// assert!(lot.unpark().is_none()); // nobody waiting
    /// trio::open_nursery(async |n| {
    ///     let mut h = n.spawn(async move { lot.park().await })?;
    ///     trio::testing::wait_all_tasks_blocked().await?;
    ///     assert_eq!(lot.unpark().as_ref(), Some(h.task()));
    ///     assert_eq!(h.join().await?, 0); // u32::default()
    ///     Ok(())
    /// }).await
    /// # }).unwrap();
    /// ```
    pub fn unpark(&self) -> Option<Task> {
        self.unpark_with(T::default()).unwrap_or_default()
    }

    /// Wakes up to `count` tasks, longest-waiting first; returns how many woke.
    ///
    /// # Examples
    ///
    /// FIFO order: the first tasks to park are the first to wake (tasks woken
    /// together then run in the scheduler's order).
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use trio::lowlevel::ParkingLot;
    /// # trio::run(async {
    /// let lot = ParkingLot::<()>::new();
    /// let woke = RefCell::new(Vec::new());
    /// let (lot, w) = (&lot, &woke);
    /// trio::open_nursery(async |n| {
    ///     for i in 0..3 {
    ///         n.start_soon(async move {
    ///             lot.park().await?;
    ///             w.borrow_mut().push(i);
    ///             Ok(())
    ///         })?;
    ///         trio::testing::wait_all_tasks_blocked().await?; // park in order 0, 1, 2
    ///     }
    ///     assert_eq!(lot.unpark_count(2), 2);
    ///     trio::testing::wait_all_tasks_blocked().await?;
    ///     w.borrow_mut().sort();
    ///     assert_eq!(*w.borrow(), [0, 1]); // task 2 is still parked
    ///     assert_eq!(lot.unpark_count(5), 1); // only one was left
    ///     Ok(())
    /// }).await?;
    /// assert_eq!(*woke.borrow(), [0, 1, 2]);
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn unpark_count(&self, count: usize) -> usize {
        let mut n = 0;
        while n < count && self.unpark_with(T::default()).is_ok() {
            n += 1;
        }
        n
    }

    /// Wakes every parked task; returns how many woke.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::lowlevel::ParkingLot;
    /// # trio::run(async {
    /// let lot = ParkingLot::<()>::new();
    /// let lot = &lot;
    /// assert_eq!(lot.unpark_all(), 0);
    /// trio::open_nursery(async |n| {
    ///     for _ in 0..4 {
    ///         n.start_soon(async move { lot.park().await })?;
    ///     }
    ///     trio::testing::wait_all_tasks_blocked().await?;
    ///     assert_eq!(lot.unpark_all(), 4);
    ///     assert!(lot.is_empty());
    ///     Ok(())
    /// }).await
    /// # }).unwrap();
    /// ```
    pub fn unpark_all(&self) -> usize {
        self.unpark_count(usize::MAX)
    }
}

/// The future of [`ParkingLot::park`].
///
/// # Errors
///
/// As [`ParkingLot::park`]: [`ErrorKind::BrokenResource`] if the lot is broken (or
/// was already dropped when the `Park` is first polled), and [`ErrorKind::Usage`] if
/// polled again after it completed.
///
/// # Cancellation
///
/// As [`ParkingLot::park`]: a checkpoint; a cancelled or dropped `Park` leaves the
/// queue.
///
/// # Examples
///
/// ```
/// use trio::lowlevel::{Park, ParkingLot};
/// # trio::run(async {
/// let lot = ParkingLot::<u8>::new();
/// let lot = &lot;
/// trio::open_nursery(async |n| {
///     n.start_soon(async move {
///         let wait: Park<u8> = lot.park();
///         assert_eq!(wait.await?, 5);
///         Ok(())
///     })?;
///     trio::testing::wait_all_tasks_blocked().await?;
///     lot.unpark_with(5).unwrap();
///     Ok(())
/// }).await?;
/// // A `Park` that is dropped unpolled never joins the queue.
/// drop(lot.park());
/// assert!(lot.is_empty());
/// # Ok(()) }).unwrap();
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct Park<T> {
    lot: Weak<RefCell<LotInner<T>>>,
    slot: Option<Rc<Slot<T>>>,
    cancel: CancelWait,
    wait: RawWait,
}

impl<T> fmt::Debug for Park<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Park")
            .field("parked", &self.slot.is_some())
            .finish()
    }
}

impl<T> Unpin for Park<T> {}

fn broken() -> Error {
    Error::new(ErrorKind::BrokenResource, "the parking lot was broken")
}

impl<T> Slot<T> {
    fn leave_lot(&self) {
        let lot = self.lot.borrow().upgrade();
        if let Some(lot) = lot {
            lot.borrow_mut().remove(self);
        }
    }
}

impl<T> Future for Park<T> {
    type Output = Result<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        let this = &mut *self;
        let slot = match &this.slot {
            Some(s) => s.clone(),
            None => {
                check_cancelled()?;
                let Some(lot) = this.lot.upgrade() else {
                    return Poll::Ready(Err(broken()));
                };
                if lot.borrow().broken {
                    return Poll::Ready(Err(broken()));
                }
                let slot = Rc::new(Slot {
                    state: RefCell::new(SlotState::Waiting),
                    waker: RefCell::new(None),
                    lot: RefCell::new(Weak::new()),
                    key: Cell::new(usize::MAX),
                    task: context::current_task_arc().map(Task::from_cell),
                });
                lot.borrow_mut().push(slot.clone(), &this.lot);
                this.slot = Some(slot.clone());
                slot
            }
        };
        let state = std::mem::replace(&mut *slot.state.borrow_mut(), SlotState::Done);
        match state {
            SlotState::Unparked(v) => {
                this.cancel.clear();
                this.slot = None;
                Poll::Ready(Ok(v))
            }
            SlotState::Broken => {
                this.cancel.clear();
                this.slot = None;
                Poll::Ready(Err(broken()))
            }
            SlotState::Done => Poll::Ready(Err(Error::new(
                ErrorKind::Usage,
                "a Park future was polled after it completed",
            ))),
            SlotState::Waiting => {
                *slot.state.borrow_mut() = SlotState::Waiting;
                if let Poll::Ready(e) = this.cancel.poll_cancelled(cx) {
                    slot.leave_lot();
                    this.slot = None;
                    return Poll::Ready(Err(e));
                }
                let mut w = slot.waker.borrow_mut();
                if !w.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    *w = Some(cx.waker().clone());
                }
                wait::set(cx, this.wait);
                Poll::Pending
            }
        }
    }
}

impl<T> Drop for Park<T> {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            slot.leave_lot();
        }
    }
}
