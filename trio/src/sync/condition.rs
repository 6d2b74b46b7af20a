//! [`Condition`]: a condition variable on a trio [`Lock`].
//!
//! Two parking lots: the condition's own, where `wait`ers sleep, and its lock's.
//! `notify` does not wake anybody: it *moves* waiters from the condition's lot to
//! the back of the lock's lot (Trio's `self._lot.repark(self._lock._lot)`), so a
//! notified waiter next wakes up already owning the lock, handed to it by a
//! release in FIFO order. There is no window where it is awake without the lock,
//! and no thundering herd on `notify_all`.

use std::fmt;

use super::lock::{Handoff, Lock, LockGuard, LockImpl, LockStatistics};
use crate::lowlevel::{ParkingLot, checkpoint_if_cancelled};
use crate::{CancelScope, Error, ErrorKind, Result};

/// A classic condition variable (Trio's `Condition`), built on a [`Lock`].
///
/// A task holding the lock calls [`wait`](Self::wait), which releases the lock,
/// sleeps until another task holding the lock calls [`notify`](Self::notify) or
/// [`notify_all`](Self::notify_all), and takes the lock back before returning.
/// Always wait in a loop that re-checks the condition.
///
/// The condition owns its lock ([`new`](Self::new)), or shares an existing
/// [`Lock`] ([`with_lock`](Self::with_lock)), so that several conditions can
/// cover the same state. Either way, lock it through the condition
/// ([`lock`](Self::lock), [`acquire`](Self::acquire)) or through the `Lock`: they
/// are the same lock.
///
/// # Examples
///
/// ```
/// use std::cell::Cell;
/// use trio::sync::Condition;
/// # trio::run(async {
/// let cond = Condition::new();
/// let items = Cell::new(0);
/// let (cond, items) = (&cond, &items);
/// trio::open_nursery(async |n| {
///     n.start_soon(async move {
///         let _guard = cond.lock().await?;
///         while items.get() == 0 {
///             cond.wait().await?; // releases the lock while asleep
///         }
///         items.set(items.get() - 1);
///         Ok(())
///     })?;
///     trio::testing::wait_all_tasks_blocked().await?;
///     let _guard = cond.lock().await?;
///     items.set(1);
///     cond.notify(1)
/// }).await?;
/// assert_eq!(items.get(), 0);
/// # Ok(()) }).unwrap();
/// ```
pub struct Condition {
    lock: LockImpl,
    lot: ParkingLot<Handoff>,
}

impl Default for Condition {
    fn default() -> Self {
        Condition::new()
    }
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condition")
            .field("lock", &self.lock)
            .field("tasks_waiting", &self.lot.len())
            .finish()
    }
}

/// Statistics of a [`Condition`] (Trio's `ConditionStatistics`).
///
/// # Examples
///
/// ```
/// let cond = trio::sync::Condition::new();
/// let stats = cond.statistics();
/// assert_eq!(stats.tasks_waiting, 0);
/// assert!(!stats.lock_statistics.locked);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConditionStatistics {
    /// Tasks blocked in [`Condition::wait`] that were not notified yet.
    pub tasks_waiting: usize,
    /// The statistics of the underlying lock (notified waiters count in its
    /// `tasks_waiting`).
    pub lock_statistics: LockStatistics,
}

fn must_hold(message: &'static str) -> Error {
    Error::new(ErrorKind::Usage, message)
}

impl Condition {
    /// A condition with its own, new [`Lock`].
    ///
    /// # Examples
    ///
    /// ```
    /// let cond = trio::sync::Condition::new();
    /// assert!(!cond.locked());
    /// ```
    pub fn new() -> Condition {
        Condition {
            lock: LockImpl::new(),
            lot: ParkingLot::with_name("Condition"),
        }
    }

    /// A condition on an existing `lock` (Trio's `Condition(lock)`): the
    /// condition and `lock` are two handles on the same lock, and several
    /// conditions may share one lock.
    ///
    /// Only a [`Lock`] can back a condition, not a
    /// [`StrictFifoLock`](super::StrictFifoLock) (as in Trio): notified waiters
    /// queue for the lock behind tasks that came later.
    ///
    /// ```compile_fail,E0308
    /// let strict = trio::sync::StrictFifoLock::new();
    /// let cond = trio::sync::Condition::with_lock(&strict); // a Lock is required
    /// ```
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::sync::{Condition, Lock};
    /// # trio::run(async {
    /// let lock = Lock::new();
    /// let (not_empty, not_full) = (Condition::with_lock(&lock), Condition::with_lock(&lock));
    /// let _guard = lock.lock().await?;
    /// assert!(not_empty.locked() && not_full.locked());
    /// not_empty.notify_all()?; // we hold the shared lock
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn with_lock(lock: &Lock) -> Condition {
        Condition {
            lock: lock.inner.clone(),
            lot: ParkingLot::with_name("Condition"),
        }
    }

    /// Locks the underlying lock (as [`Lock::lock`]).
    ///
    /// # Errors
    ///
    /// As [`Lock::lock`]: [`ErrorKind::Usage`] if the current task holds it
    /// already, [`ErrorKind::BrokenResource`] if its owner exited holding it,
    /// `Cancelled`; [`ErrorKind::Usage`] outside trio.
    ///
    /// # Cancellation
    ///
    /// A checkpoint; a cancelled `lock` did nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// let cond = trio::sync::Condition::new();
    /// let guard = cond.lock().await?;
    /// assert!(cond.locked());
    /// drop(guard);
    /// assert!(!cond.locked());
    /// # Ok(()) }).unwrap();
    /// ```
    pub async fn lock(&self) -> Result<LockGuard<'_>> {
        self.lock.lock().await
    }

    /// Locks the underlying lock if it is free (as [`Lock::try_lock`]).
    ///
    /// # Errors
    ///
    /// As [`Lock::try_lock`]: [`ErrorKind::WouldBlock`] if it is held,
    /// [`ErrorKind::Usage`] if the current task holds it.
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
    /// let cond = trio::sync::Condition::new();
    /// let _guard = cond.try_lock()?;
    /// assert_eq!(cond.try_lock().unwrap_err().kind(), trio::ErrorKind::Usage);
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn try_lock(&self) -> Result<LockGuard<'_>> {
        self.lock.try_lock()
    }

    /// Acquires the underlying lock with no guard (as [`Lock::acquire`]).
    ///
    /// # Errors
    ///
    /// As [`lock`](Self::lock).
    ///
    /// # Cancellation
    ///
    /// A checkpoint; a cancelled `acquire` did nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// let cond = trio::sync::Condition::new();
    /// cond.acquire().await?;
    /// cond.notify_all()?;
    /// cond.release()?;
    /// # Ok(()) }).unwrap();
    /// ```
    pub async fn acquire(&self) -> Result<()> {
        self.lock.lock().await.map(|g| {
            g.into_acquisition();
        })
    }

    /// Acquires the underlying lock if it is free, with no guard (as
    /// [`Lock::acquire_nowait`]).
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
    /// let cond = trio::sync::Condition::new();
    /// cond.acquire_nowait()?;
    /// assert!(cond.locked());
    /// cond.release()?;
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn acquire_nowait(&self) -> Result<()> {
        self.lock.try_acquire().map(drop)
    }

    /// Releases the underlying lock (as [`Lock::release`]).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Usage`] if the current task does not hold it.
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
    /// let cond = trio::sync::Condition::new();
    /// assert_eq!(cond.release().unwrap_err().kind(), trio::ErrorKind::Usage);
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn release(&self) -> Result<()> {
        self.lock.release()
    }

    /// True while the underlying lock is held.
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// let cond = trio::sync::Condition::new();
    /// assert!(!cond.locked());
    /// let _g = cond.lock().await?;
    /// assert!(cond.locked());
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn locked(&self) -> bool {
        self.lock.locked()
    }

    /// Releases the lock, waits for a [`notify`](Self::notify), and takes the
    /// lock back before returning. The current task must hold the lock.
    ///
    /// On return — `Ok` or `Err(Cancelled)` — the task holds the lock again, under
    /// the same acquisition: a [`LockGuard`] it held stays valid. A woken waiter
    /// gets the lock by FIFO hand-off, after the tasks that were already queued
    /// for it.
    ///
    /// # Errors
    ///
    /// * [`ErrorKind::Usage`] if the current task does not hold the lock.
    /// * `Cancelled` (holding the lock again, see below).
    /// * [`ErrorKind::BrokenResource`] if, while we wait for the lock, its owner
    ///   exits without releasing it; then we do *not* hold it.
    /// * [`ErrorKind::Usage`](crate::ErrorKind::Usage) outside a trio task.
    ///
    /// # Cancellation
    ///
    /// A checkpoint. If the task is already cancelled when it calls `wait`, `wait`
    /// returns `Err(Cancelled)` at once, still holding the lock and having released
    /// nothing. If the cancellation arrives while it sleeps, it stops waiting and
    /// re-acquires the lock *inside a shielded scope* before returning
    /// `Err(Cancelled)` (as Trio does), so cancellation may be less prompt: it
    /// waits its turn for the lock. This is what makes `let _g =
    /// cond.lock().await?; cond.wait().await?;` correct: the guard never ends up
    /// releasing a lock its task no longer holds.
    ///
    /// If the `wait` future is dropped before it completes, the task does not
    /// hold the lock afterwards, and a guard it held becomes inert.
    ///
    /// # Examples
    ///
    /// A cancelled `wait` still returns holding the lock:
    ///
    /// ```
    /// use std::time::Duration;
    /// use trio::sync::Condition;
    /// # trio::run(async {
    /// let cond = Condition::new();
    /// let guard = cond.lock().await?;
    /// let r = trio::move_on_after(Duration::from_millis(1), cond.wait()).await?;
    /// assert_eq!(r, None); // timed out...
    /// assert!(cond.locked()); // ...holding the lock again
    /// drop(guard);
    /// assert!(!cond.locked());
    /// # Ok(()) }).unwrap();
    /// ```
    pub async fn wait(&self) -> Result<()> {
        if !self.lock.is_owned_by(&super::me()?) {
            return Err(must_hold("must hold the condition's lock to wait"));
        }
        checkpoint_if_cancelled()?;
        let acquisition = self.lock.acquisition();
        self.lock.release_now();
        match self.lot.park().await {
            Ok(handoff) => {
                // Notified, reparked into the lock's lot, and handed the lock.
                handoff.claim();
                self.lock.set_acquisition(acquisition);
                Ok(())
            }
            Err(e) => {
                let shield = CancelScope::new().shielded();
                match shield.run(self.lock.lock()).await? {
                    Some(guard) => {
                        guard.into_acquisition();
                        self.lock.set_acquisition(acquisition);
                        Err(e)
                    }
                    // A shielded scope that nobody cancels catches nothing.
                    None => Err(e),
                }
            }
        }
    }

    /// Wakes up to `n` tasks blocked in [`wait`](Self::wait), longest-waiting
    /// first. They do not run yet: they queue for the lock (behind tasks already
    /// queued for it) and each returns from `wait` once the lock is handed to it.
    /// The current task must hold the lock.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Usage`] if the current task does not hold the lock.
    /// [`ErrorKind::Usage`](crate::ErrorKind::Usage) outside a trio task.
    ///
    /// # Cancellation
    ///
    /// Not a checkpoint.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::sync::Condition;
    /// # trio::run(async {
    /// let cond = Condition::new();
    /// assert_eq!(cond.notify(1).unwrap_err().kind(), trio::ErrorKind::Usage);
    /// let cond = &cond;
    /// trio::open_nursery(async |n| {
    ///     for _ in 0..3 {
    ///         n.start_soon(async move {
    ///             let _g = cond.lock().await?;
    ///             cond.wait().await
    ///         })?;
    ///     }
    ///     trio::testing::wait_all_tasks_blocked().await?;
    ///     let _g = cond.lock().await?;
    ///     cond.notify(2)?;
    ///     let stats = cond.statistics();
    ///     assert_eq!(stats.tasks_waiting, 1);
    ///     assert_eq!(stats.lock_statistics.tasks_waiting, 2);
    ///     cond.notify_all()
    /// }).await
    /// # }).unwrap();
    /// ```
    pub fn notify(&self, n: usize) -> Result<()> {
        if !self.lock.is_owned_by(&super::me()?) {
            return Err(must_hold("must hold the condition's lock to notify"));
        }
        self.lot.repark(self.lock.lot(), n);
        Ok(())
    }

    /// Wakes every task blocked in [`wait`](Self::wait) (see
    /// [`notify`](Self::notify)). The current task must hold the lock.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Usage`] if the current task does not hold the lock.
    /// [`ErrorKind::Usage`](crate::ErrorKind::Usage) outside a trio task.
    ///
    /// # Cancellation
    ///
    /// Not a checkpoint.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    /// use trio::sync::Condition;
    /// # trio::run(async {
    /// let (cond, go, woke) = (Condition::new(), Cell::new(false), Cell::new(0));
    /// let (cond, go, woke) = (&cond, &go, &woke);
    /// trio::open_nursery(async |n| {
    ///     for _ in 0..3 {
    ///         n.start_soon(async move {
    ///             let _g = cond.lock().await?;
    ///             while !go.get() {
    ///                 cond.wait().await?;
    ///             }
    ///             woke.set(woke.get() + 1);
    ///             Ok(())
    ///         })?;
    ///     }
    ///     trio::testing::wait_all_tasks_blocked().await?;
    ///     let _g = cond.lock().await?;
    ///     go.set(true);
    ///     cond.notify_all()
    /// }).await?;
    /// assert_eq!(woke.get(), 3);
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn notify_all(&self) -> Result<()> {
        self.notify(usize::MAX)
    }

    /// The condition's statistics: tasks waiting to be notified, and the lock's
    /// statistics.
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// let cond = trio::sync::Condition::new();
    /// let _g = cond.lock().await?;
    /// let stats = cond.statistics();
    /// assert_eq!(stats.tasks_waiting, 0);
    /// assert!(stats.lock_statistics.locked);
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn statistics(&self) -> ConditionStatistics {
        ConditionStatistics {
            tasks_waiting: self.lot.len(),
            lock_statistics: self.lock.statistics(),
        }
    }
}
