//! [`Lock`] and [`StrictFifoLock`]: a fair, non-reentrant, single-owner mutex.
//!
//! The lock is an owner (a [`Task`]) plus a [`ParkingLot`] of waiters. Releasing
//! with waiters queued does not make the lock free: it *hands* it to the
//! longest-waiting task, which becomes the owner before it even runs (Trio's
//! `self._owner, = self._lot.unpark(count=1)`). So a task that releases and at
//! once tries to acquire again finds the lock held and joins the back of the
//! queue: nobody can barge.
//!
//! # Invariants
//!
//! * `held == 0` means free; otherwise `held` is the id of the current
//!   *acquisition*. Every acquisition (a successful `acquire`, a hand-off) gets a
//!   fresh id from `next`, so an id is never reused for a different acquisition.
//! * `held == 0` implies the lot is empty: a task only queues when the lock is held,
//!   and a release with waiters hands the lock over instead of freeing it.
//! * `owner` is the task that took the current acquisition, and that task is
//!   registered as a breaker of `lot` (Trio 0.25+): if it exits while the lock is
//!   held, the lot breaks, every waiter gets `BrokenResource`, and so does every
//!   later acquire. A broken lock stays broken.
//!
//! # Why acquisition ids
//!
//! Rust adds two ways of "releasing" that Trio does not have, and ids keep them
//! from releasing the wrong thing:
//!
//! * A [`LockGuard`] remembers the id it was made for and releases on drop only if
//!   the lock still holds *that* acquisition. A guard whose acquisition was already
//!   ended — by an explicit [`Lock::release`], or by a [`Condition::wait`] whose
//!   future was dropped half-way — does nothing when dropped, instead of releasing
//!   a later owner's lock. `Condition::wait` gives the lock back under the id it
//!   had, so a guard survives a completed `wait`.
//! * A hand-off travels as a [`Handoff`] value through the parking lot. If the
//!   woken task's future is dropped before it runs (the task was torn down, or the
//!   future lost a `select`), the value is dropped unclaimed and its `Drop` passes
//!   the lock on to the next waiter — a dropped acquire never leaves the lock held
//!   by nobody.
//!
//! [`Condition::wait`]: super::Condition::wait

use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::{Rc, Weak};

use crate::lowlevel::{ParkingLot, Task, cancel_shielded_checkpoint, checkpoint_if_cancelled};
use crate::{Error, ErrorKind, Result};

/// The state shared by a lock's handles (a [`Lock`] and the [`Condition`]s made
/// on it) and by the hand-offs in flight.
///
/// [`Condition`]: super::Condition
pub(super) struct LockState {
    lot: ParkingLot<Handoff>,
    /// The task that owns the current acquisition (`None` when free).
    owner: RefCell<Option<Task>>,
    /// The id of the current acquisition; 0 when the lock is free.
    held: Cell<u64>,
    /// The last id handed out.
    next: Cell<u64>,
}

/// Ownership of a lock, in flight from a releasing task to a woken waiter.
///
/// Claimed by the waiter when its `park` returns; dropped unclaimed (the waiting
/// future went away after it was chosen), it releases the lock again.
pub(super) struct Handoff {
    lock: Weak<LockState>,
    acquisition: u64,
    armed: bool,
}

impl Handoff {
    /// Takes the acquisition: the lock is now the caller's.
    pub(super) fn claim(mut self) -> u64 {
        self.armed = false;
        self.acquisition
    }
}

impl Drop for Handoff {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Some(state) = self.lock.upgrade() {
            if state.held.get() == self.acquisition {
                release_now(&state);
            }
        }
    }
}

impl fmt::Debug for Handoff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handoff")
            .field("acquisition", &self.acquisition)
            .finish()
    }
}

/// Ends the current acquisition: hands the lock to the longest waiter, or frees it.
fn release_now(state: &Rc<LockState>) {
    let previous = state.owner.borrow_mut().take();
    if let Some(task) = &previous {
        // Fails only if the owner already exited and broke the lot.
        let _ = state.lot.remove_breaker(task);
    }
    if state.lot.is_empty() {
        // Nobody waits (the common case): the lock is free, with no hand-off to
        // build and take back.
        state.held.set(0);
        return;
    }
    let id = next_id(state);
    state.held.set(id);
    let handoff = Handoff {
        lock: Rc::downgrade(state),
        acquisition: id,
        armed: true,
    };
    match state.lot.unpark_with(handoff) {
        Ok(task) => {
            if let Some(task) = &task {
                state.lot.add_breaker(task);
            }
            *state.owner.borrow_mut() = task;
        }
        Err(handoff) => {
            let _ = handoff.claim();
            state.held.set(0);
        }
    }
}

fn next_id(state: &LockState) -> u64 {
    let id = state.next.get() + 1;
    state.next.set(id);
    id
}

/// The implementation shared by [`Lock`], [`StrictFifoLock`] and
/// [`Condition`](super::Condition): a handle on a [`LockState`].
#[derive(Clone)]
pub(super) struct LockImpl {
    state: Rc<LockState>,
}

impl LockImpl {
    pub(super) fn new() -> LockImpl {
        LockImpl {
            state: Rc::new(LockState {
                lot: ParkingLot::with_name("Lock"),
                owner: RefCell::new(None),
                held: Cell::new(0),
                next: Cell::new(0),
            }),
        }
    }

    pub(super) fn lot(&self) -> &ParkingLot<Handoff> {
        &self.state.lot
    }

    /// The id of the current acquisition (0 when free).
    pub(super) fn acquisition(&self) -> u64 {
        self.state.held.get()
    }

    /// Renames the current acquisition (used by `Condition::wait` to give the lock
    /// back under the id the caller's guard knows).
    pub(super) fn set_acquisition(&self, id: u64) {
        debug_assert!(self.state.held.get() != 0 && id != 0);
        self.state.held.set(id);
    }

    pub(super) fn is_owned_by(&self, task: &Task) -> bool {
        self.state.owner.borrow().as_ref() == Some(task)
    }

    pub(super) fn locked(&self) -> bool {
        self.state.held.get() != 0
    }

    pub(super) fn release_now(&self) {
        release_now(&self.state);
    }

    fn broken_error(&self) -> Error {
        match &*self.state.owner.borrow() {
            Some(t) => Error::new(
                ErrorKind::BrokenResource,
                format!(
                    "the owner of this lock exited without releasing it: task {:?} (id {})",
                    t.name(),
                    t.id()
                ),
            ),
            None => Error::new(
                ErrorKind::BrokenResource,
                "the owner of this lock exited without releasing it",
            ),
        }
    }

    /// Takes the lock for the current task if it is free; returns the acquisition.
    pub(super) fn try_acquire(&self) -> Result<u64> {
        let me = super::me()?;
        if self.is_owned_by(&me) {
            return Err(Error::new(
                ErrorKind::Usage,
                "attempt to re-acquire a lock this task already holds (trio locks are not reentrant)",
            ));
        }
        if self.state.lot.is_broken() {
            return Err(self.broken_error());
        }
        if self.state.held.get() != 0 || !self.state.lot.is_empty() {
            return Err(Error::new(
                ErrorKind::WouldBlock,
                "the lock is held by another task",
            ));
        }
        let id = next_id(&self.state);
        self.state.held.set(id);
        self.state.lot.add_breaker(&me);
        *self.state.owner.borrow_mut() = Some(me);
        Ok(id)
    }

    pub(super) fn try_lock(&self) -> Result<LockGuard<'_>> {
        let acquisition = self.try_acquire()?;
        Ok(LockGuard {
            lock: self,
            acquisition,
        })
    }

    /// Trio's `acquire`: `checkpoint_if_cancelled`; the fast path then
    /// `cancel_shielded_checkpoint`; else wait in the lot for a hand-off.
    pub(super) async fn lock(&self) -> Result<LockGuard<'_>> {
        checkpoint_if_cancelled()?;
        let yielded = super::schedule_point_first().await?;
        match self.try_lock() {
            Ok(guard) => {
                // If this future is dropped during the yield, `guard` releases.
                if !yielded {
                    cancel_shielded_checkpoint().await?;
                }
                Ok(guard)
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => match self.state.lot.park().await {
                Ok(handoff) => Ok(LockGuard {
                    lock: self,
                    acquisition: handoff.claim(),
                }),
                Err(e) if e.kind() == ErrorKind::BrokenResource => Err(self.broken_error()),
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        }
    }

    pub(super) fn release(&self) -> Result<()> {
        let me = super::me()?;
        if !self.is_owned_by(&me) {
            let msg = if self.locked() {
                "can't release a lock held by another task"
            } else {
                "can't release a lock that is not held"
            };
            return Err(Error::new(ErrorKind::Usage, msg));
        }
        self.release_now();
        Ok(())
    }

    pub(super) fn statistics(&self) -> LockStatistics {
        LockStatistics {
            locked: self.locked(),
            owner: self.state.owner.borrow().clone(),
            tasks_waiting: self.state.lot.len(),
        }
    }
}

impl fmt::Debug for LockImpl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lock")
            .field("locked", &self.locked())
            .field("owner", &*self.state.owner.borrow())
            .field("tasks_waiting", &self.state.lot.len())
            .finish()
    }
}

/// Statistics of a [`Lock`] or [`StrictFifoLock`] (Trio's `LockStatistics`).
///
/// # Examples
///
/// ```
/// use trio::sync::Lock;
/// # trio::run(async {
/// let lock = Lock::new();
/// let guard = lock.lock().await?;
/// let stats = lock.statistics();
/// assert!(stats.locked);
/// assert_eq!(stats.owner, Some(trio::lowlevel::current_task()));
/// assert_eq!(stats.tasks_waiting, 0);
/// drop(guard);
/// assert_eq!(lock.statistics().owner, None);
/// # Ok(()) }).unwrap();
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LockStatistics {
    /// True while the lock is held.
    pub locked: bool,
    /// The task that holds the lock (the one that acquired it, even if it moved
    /// its guard elsewhere), or `None` when free.
    pub owner: Option<Task>,
    /// Tasks blocked in `acquire`/`lock` (including [`Condition`](super::Condition)
    /// waiters that were notified and now wait for the lock).
    pub tasks_waiting: usize,
}

/// Proof of holding a [`Lock`] or [`StrictFifoLock`]: releases it when dropped.
///
/// A guard may be moved to, and dropped by, another task: dropping it releases the
/// lock without asking who drops it (only the explicit `release` checks the
/// owner). The lock's *owner* stays the task that acquired it until then — that
/// task is the one whose exit breaks the lock.
///
/// A guard whose acquisition already ended (the owner called `release`
/// explicitly) does nothing when dropped.
///
/// # Examples
///
/// ```
/// use trio::sync::Lock;
/// # trio::run(async {
/// let lock = Lock::new();
/// {
///     let _guard = lock.lock().await?;
///     assert!(lock.locked());
/// } // released here
/// assert!(!lock.locked());
/// # Ok(()) }).unwrap();
/// ```
#[must_use = "if unused the lock is released at once"]
pub struct LockGuard<'a> {
    lock: &'a LockImpl,
    acquisition: u64,
}

impl LockGuard<'_> {
    /// Releases the lock now (same as dropping the guard). If tasks are waiting,
    /// the longest-waiting one becomes the owner at once.
    ///
    /// # Cancellation
    ///
    /// Not a checkpoint: never blocks, never yields.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::sync::Lock;
    /// # trio::run(async {
    /// let lock = Lock::new();
    /// let guard = lock.lock().await?;
    /// guard.unlock();
    /// assert!(!lock.locked());
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn unlock(self) {
        drop(self);
    }

    /// Gives up the guard without releasing (the lock stays held; for
    /// Trio-style `acquire`). Returns the acquisition id.
    pub(super) fn into_acquisition(self) -> u64 {
        let id = self.acquisition;
        std::mem::forget(self);
        id
    }
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        if self.lock.acquisition() == self.acquisition {
            self.lock.release_now();
        }
    }
}

impl fmt::Debug for LockGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockGuard")
            .field("lock", self.lock)
            .field("active", &(self.lock.acquisition() == self.acquisition))
            .finish()
    }
}

macro_rules! lock_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        pub struct $name {
            pub(super) inner: LockImpl,
        }

        impl Default for $name {
            fn default() -> Self {
                $name::new()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("locked", &self.inner.locked())
                    .field("owner", &*self.inner.state.owner.borrow())
                    .field("tasks_waiting", &self.inner.state.lot.len())
                    .finish()
            }
        }

        impl $name {
            /// A new, unlocked lock.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let lock = trio::sync::", stringify!($name), "::new();")]
            /// assert!(!lock.locked());
            /// ```
            pub fn new() -> $name {
                $name {
                    inner: LockImpl::new(),
                }
            }

            /// Acquires the lock, waiting in line if another task holds it; returns
            /// a guard that releases it when dropped.
            ///
            /// Waiters are served strictly first come, first served, and a release
            /// hands the lock directly to the longest waiter.
            ///
            /// # Errors
            ///
            /// * [`ErrorKind::Usage`] if the current task already owns the lock
            ///   (locks are not reentrant).
            /// * [`ErrorKind::BrokenResource`] if the owner exits without releasing
            ///   (while we wait, or at any time before).
            /// * `Cancelled`; [`ErrorKind::Usage`] outside trio.
            ///
            /// # Cancellation
            ///
            /// A checkpoint, even when the lock is free. A cancelled `lock` did
            /// nothing: it does not hold the lock and left the queue. If the lock
            /// was handed over before the cancellation was noticed, `lock` succeeds
            /// (the hand-off happened first). Dropping the future also leaves the
            /// queue; a hand-off that already reached it is passed on to the next
            /// waiter.
            ///
            /// # Examples
            ///
            /// ```
            /// use std::cell::RefCell;
            /// # trio::run(async {
            #[doc = concat!("let lock = trio::sync::", stringify!($name), "::new();")]
            /// let log = RefCell::new(Vec::new());
            /// let (lock, log) = (&lock, &log);
            /// trio::open_nursery(async |n| {
            ///     for i in 0..3 {
            ///         n.start_soon(async move {
            ///             let _guard = lock.lock().await?;
            ///             log.borrow_mut().push(i);
            ///             trio::sleep(std::time::Duration::from_millis(1)).await?;
            ///             log.borrow_mut().push(i); // nobody got in between
            ///             Ok(())
            ///         })?;
            ///     }
            ///     Ok(())
            /// }).await?;
            /// let log = log.borrow();
            /// assert!(log.chunks(2).all(|pair| pair[0] == pair[1]));
            /// # Ok(()) }).unwrap();
            /// ```
            pub async fn lock(&self) -> Result<LockGuard<'_>> {
                self.inner.lock().await
            }

            /// Acquires the lock if it is free, without blocking.
            ///
            /// # Errors
            ///
            /// * [`ErrorKind::WouldBlock`] if another task holds the lock (or tasks
            ///   are queued for it).
            /// * [`ErrorKind::Usage`] if the current task already owns it.
            /// * [`ErrorKind::BrokenResource`] if its owner exited holding it.
            /// * [`ErrorKind::Usage`](crate::ErrorKind::Usage) outside a trio task.
            ///
            /// # Cancellation
            ///
            /// Not a checkpoint.
            ///
            /// # Examples
            ///
            /// ```
            /// # trio::run(async {
            #[doc = concat!("let lock = trio::sync::", stringify!($name), "::new();")]
            /// let guard = lock.try_lock()?;
            /// assert_eq!(lock.try_lock().unwrap_err().kind(), trio::ErrorKind::Usage);
            /// drop(guard);
            /// assert!(lock.try_lock().is_ok());
            /// # Ok(()) }).unwrap();
            /// ```
            pub fn try_lock(&self) -> Result<LockGuard<'_>> {
                self.inner.try_lock()
            }

            /// Acquires the lock with no guard (Trio's `acquire`): the current task
            /// must later call [`release`](Self::release).
            ///
            /// # Errors
            ///
            /// As [`lock`](Self::lock).
            ///
            /// # Cancellation
            ///
            /// As [`lock`](Self::lock): a checkpoint; cancelled, it did nothing.
            ///
            /// # Examples
            ///
            /// ```
            /// # trio::run(async {
            #[doc = concat!("let lock = trio::sync::", stringify!($name), "::new();")]
            /// lock.acquire().await?;
            /// assert!(lock.locked());
            /// lock.release()?;
            /// assert!(!lock.locked());
            /// # Ok(()) }).unwrap();
            /// ```
            pub async fn acquire(&self) -> Result<()> {
                self.inner.lock().await.map(|g| {
                    g.into_acquisition();
                })
            }

            /// Acquires the lock if it is free, with no guard (Trio's
            /// `acquire_nowait`).
            ///
            /// # Errors
            ///
            /// As [`try_lock`](Self::try_lock).
            /// [`ErrorKind::Usage`](crate::ErrorKind::Usage) outside a trio task.
            ///
            /// # Cancellation
            ///
            /// Not a checkpoint.
            ///
            /// # Examples
            ///
            /// ```
            /// # trio::run(async {
            #[doc = concat!("let lock = trio::sync::", stringify!($name), "::new();")]
            /// lock.acquire_nowait()?;
            /// let again = lock.acquire_nowait().unwrap_err();
            /// assert_eq!(again.kind(), trio::ErrorKind::Usage); // not reentrant
            /// lock.release()?;
            /// # Ok(()) }).unwrap();
            /// ```
            pub fn acquire_nowait(&self) -> Result<()> {
                self.inner.try_acquire().map(drop)
            }

            /// Releases the lock held by the current task (Trio's `release`). If
            /// tasks are waiting, the longest-waiting one becomes the owner at once.
            ///
            /// A [`LockGuard`] of the acquisition released here becomes inert.
            ///
            /// # Errors
            ///
            /// [`ErrorKind::Usage`] if the lock is not held, or is held by another
            /// task.
            /// [`ErrorKind::Usage`](crate::ErrorKind::Usage) outside a trio task.
            ///
            /// # Cancellation
            ///
            /// Not a checkpoint.
            ///
            /// # Examples
            ///
            /// ```
            /// # trio::run(async {
            #[doc = concat!("let lock = trio::sync::", stringify!($name), "::new();")]
            /// assert_eq!(lock.release().unwrap_err().kind(), trio::ErrorKind::Usage);
            /// let lock = &lock;
            /// trio::open_nursery(async |n| {
            ///     n.start_soon(async move { let _g = lock.lock().await?; trio::sleep_forever().await })?;
            ///     trio::testing::wait_all_tasks_blocked().await?;
            ///     // Only the owner may release.
            ///     assert_eq!(lock.release().unwrap_err().kind(), trio::ErrorKind::Usage);
            ///     n.cancel_scope().cancel();
            ///     Ok(())
            /// }).await
            /// # }).unwrap();
            /// ```
            pub fn release(&self) -> Result<()> {
                self.inner.release()
            }

            /// True while the lock is held.
            ///
            /// # Examples
            ///
            /// ```
            /// # trio::run(async {
            #[doc = concat!("let lock = trio::sync::", stringify!($name), "::new();")]
            /// assert!(!lock.locked());
            /// let _guard = lock.lock().await?;
            /// assert!(lock.locked());
            /// # Ok(()) }).unwrap();
            /// ```
            pub fn locked(&self) -> bool {
                self.inner.locked()
            }

            /// The lock's statistics: whether it is held, by whom, and how many
            /// tasks wait for it.
            ///
            /// # Examples
            ///
            /// ```
            /// # trio::run(async {
            #[doc = concat!("let lock = trio::sync::", stringify!($name), "::new();")]
            /// let lock = &lock;
            /// trio::open_nursery(async |n| {
            ///     let _g = lock.lock().await?;
            ///     n.start_soon(async move { lock.lock().await.map(drop) })?;
            ///     trio::testing::wait_all_tasks_blocked().await?;
            ///     let stats = lock.statistics();
            ///     assert!(stats.locked);
            ///     assert_eq!(stats.owner, Some(trio::lowlevel::current_task()));
            ///     assert_eq!(stats.tasks_waiting, 1);
            ///     Ok(())
            /// }).await
            /// # }).unwrap();
            /// ```
            pub fn statistics(&self) -> LockStatistics {
                self.inner.statistics()
            }
        }
    };
}

lock_type! {
    /// A classic mutex (Trio's `Lock`): non-reentrant, single-owner, fair.
    ///
    /// Unlike `std::sync::Mutex` it guards no data: it orders tasks. Put the data
    /// in a `RefCell` next to it, or use it to serialize access to a resource.
    ///
    /// **Two vocabularies, one lock.** Use [`lock`](Self::lock) /
    /// [`try_lock`](Self::try_lock): they return a [`LockGuard`], which releases
    /// the lock when dropped, so no early return, `?` or cancellation can leave
    /// it held — the Rust way, and the one to reach for. Trio's names,
    /// [`acquire`](Self::acquire) / [`acquire_nowait`](Self::acquire_nowait) /
    /// [`release`](Self::release), hold the lock with no guard: for code whose
    /// acquire and release cannot sit in one scope (a lock taken in one callback
    /// and given back in another, a port of Python code). Both act on the same
    /// acquisition — `release` ends a guard's acquisition too, and the guard then
    /// does nothing when dropped — so they can be mixed, but a program reads
    /// best with one.
    ///
    /// * **Fair**: waiters get the lock in the order they asked for it, and a
    ///   release hands it straight to the longest waiter — the releasing task
    ///   cannot take it back before them, even if it tries at once.
    /// * **Not reentrant**: acquiring a lock the current task owns is an
    ///   [`ErrorKind::Usage`] error, not a deadlock.
    /// * **Owned**: only the owner may [`release`](Self::release) it. A guard may
    ///   be moved to another task and dropped there; that releases the lock.
    /// * **Broken by its owner's exit**: if the task that acquired the lock exits
    ///   while still holding it (a leaked guard, a guard moved to a longer-lived
    ///   task, a missing `release`), the lock is broken for good: waiters and
    ///   later acquires get [`ErrorKind::BrokenResource`] instead of hanging.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use trio::sync::Lock;
    /// # trio::run(async {
    /// let lock = Lock::new();
    /// let shared = RefCell::new(String::new());
    /// let (lock, shared) = (&lock, &shared);
    /// trio::open_nursery(async |n| {
    ///     for word in ["hello", "world"] {
    ///         n.start_soon(async move {
    ///             let _guard = lock.lock().await?;
    ///             for c in word.chars() {
    ///                 shared.borrow_mut().push(c);
    ///                 trio::lowlevel::checkpoint().await?; // others run, but not here
    ///             }
    ///             Ok(())
    ///         })?;
    ///     }
    ///     Ok(())
    /// }).await?;
    /// let s = shared.borrow();
    /// assert!(*s == "helloworld" || *s == "worldhello");
    /// # Ok(()) }).unwrap();
    /// ```
    ///
    /// The owner exiting while holding the lock breaks it:
    ///
    /// ```
    /// use trio::sync::Lock;
    /// # trio::run(async {
    /// let lock = Lock::new();
    /// let lock = &lock;
    /// trio::open_nursery(async |n| {
    ///     n.start_soon(lock.acquire())?; // acquires, then exits holding it
    ///     Ok(())
    /// }).await?;
    /// let err = lock.lock().await.unwrap_err();
    /// assert_eq!(err.kind(), trio::ErrorKind::BrokenResource);
    /// # Ok(()) }).unwrap();
    /// ```
    Lock
}

lock_type! {
    /// A [`Lock`] that guarantees tasks acquire it in strict first-come,
    /// first-served order (Trio's `StrictFIFOLock`).
    ///
    /// Today it behaves exactly like [`Lock`] — trio's `Lock` is already strictly
    /// FIFO, with direct hand-off. Use this type when your code *relies* on that
    /// order, as an executable reminder: for instance, a task that takes turns with
    /// a shared protocol state machine in one scheduling quantum (no `.await`) and
    /// then queues on a `StrictFifoLock` to send the bytes the state machine
    /// produced, knowing the chunks go out in the order they were made. Should
    /// `Lock` ever trade strict order for throughput, `StrictFifoLock` will not.
    ///
    /// As in Trio, only a plain [`Lock`] can back a [`Condition`](super::Condition):
    /// a condition's waiters rejoin the lock's queue at the back when notified,
    /// which is not the arrival order a `StrictFifoLock` promises.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use trio::sync::StrictFifoLock;
    /// # trio::run(async {
    /// let lock = StrictFifoLock::new();
    /// let sent = RefCell::new(Vec::new());
    /// let (lock, sent) = (&lock, &sent);
    /// trio::open_nursery(async |n| {
    ///     let _held = lock.lock().await?;
    ///     for chunk in 0..4 {
    ///         n.start_soon(async move {
    ///             let _turn = lock.lock().await?;
    ///             sent.borrow_mut().push(chunk);
    ///             Ok(())
    ///         })?;
    ///         trio::testing::wait_all_tasks_blocked().await?; // queue in order 0..4
    ///     }
    ///     Ok(())
    /// }).await?;
    /// assert_eq!(*sent.borrow(), [0, 1, 2, 3]);
    /// # Ok(()) }).unwrap();
    /// ```
    StrictFifoLock
}
