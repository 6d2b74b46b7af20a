//! [`Semaphore`]: a counter that tasks decrement, waiting while it is zero.
//!
//! A value plus a [`ParkingLot`]. A release with tasks waiting does not raise the
//! value: it hands the unit straight to the longest waiter (so the value stays 0
//! and a task calling `acquire_nowait` right after cannot steal it). Hence the
//! invariant: *the value is positive only when nobody waits*.
//!
//! The unit travels through the lot as a [`Unit`]; if the woken task's future is
//! dropped before it runs, the unit's `Drop` releases it again, so a dropped
//! acquire never loses a unit.

use std::cell::Cell;
use std::fmt;
use std::rc::{Rc, Weak};

use crate::lowlevel::{ParkingLot, cancel_shielded_checkpoint, checkpoint_if_cancelled};
use crate::{Error, ErrorKind, Result};

struct SemState {
    lot: ParkingLot<Unit>,
    /// Positive only when `lot` is empty.
    value: Cell<usize>,
    max: Option<usize>,
}

/// One unit of a semaphore in flight to a woken waiter; released again if
/// dropped unclaimed.
struct Unit {
    sem: Weak<SemState>,
    armed: bool,
}

impl Unit {
    fn claim(mut self) {
        self.armed = false;
    }
}

impl Drop for Unit {
    fn drop(&mut self) {
        if self.armed {
            if let Some(state) = self.sem.upgrade() {
                // The unit was in transit, so the value cannot be at max unless
                // extra releases happened meanwhile; then the unit is dropped.
                let _ = release(&state);
            }
        }
    }
}

fn release(state: &Rc<SemState>) -> Result<()> {
    let unit = Unit {
        sem: Rc::downgrade(state),
        armed: true,
    };
    match state.lot.unpark_with(unit) {
        Ok(_) => Ok(()),
        Err(unit) => {
            unit.claim();
            let v = state.value.get();
            if state.max.is_some_and(|max| v >= max) {
                return Err(Error::new(
                    ErrorKind::InvalidInput,
                    "semaphore released too many times (the value would exceed max_value)",
                ));
            }
            state.value.set(v + 1);
            Ok(())
        }
    }
}

/// A counting semaphore (Trio's `Semaphore`).
///
/// It holds a value that [`acquire`](Self::acquire) decrements and
/// [`release`](Self::release) increments; the value never drops below zero:
/// `acquire` waits while it is zero. Waiters are served first come, first served,
/// and a release with tasks waiting goes straight to the longest waiter.
///
/// A *bounded* semaphore ([`with_max`](Self::with_max)) refuses to be released
/// past its maximum value. To limit how many tasks use a resource at once, a
/// [`CapacityLimiter`](super::CapacityLimiter) (which also tracks *who* holds
/// each token) is usually the better tool.
///
/// # Examples
///
/// ```
/// use std::cell::Cell;
/// use trio::sync::Semaphore;
/// # trio::run(async {
/// let sem = Semaphore::new(2);
/// let (active, peak) = (Cell::new(0), Cell::new(0));
/// let (sem, active, peak) = (&sem, &active, &peak);
/// trio::open_nursery(async |n| {
///     for _ in 0..6 {
///         n.start_soon(async move {
///             let _permit = sem.acquire().await?;
///             active.set(active.get() + 1);
///             peak.set(peak.get().max(active.get()));
///             trio::sleep(std::time::Duration::from_millis(1)).await?;
///             active.set(active.get() - 1);
///             Ok(())
///         })?;
///     }
///     Ok(())
/// }).await?;
/// assert_eq!(peak.get(), 2);
/// assert_eq!(sem.value(), 2);
/// # Ok(()) }).unwrap();
/// ```
pub struct Semaphore {
    state: Rc<SemState>,
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("value", &self.state.value.get())
            .field("max_value", &self.state.max)
            .field("tasks_waiting", &self.state.lot.len())
            .finish()
    }
}

/// Statistics of a [`Semaphore`].
///
/// # Examples
///
/// ```
/// let sem = trio::sync::Semaphore::new(0);
/// assert_eq!(sem.statistics().tasks_waiting, 0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SemaphoreStatistics {
    /// Tasks blocked in [`Semaphore::acquire`].
    pub tasks_waiting: usize,
}

/// One unit of a [`Semaphore`], released when dropped.
///
/// Call [`forget`](Self::forget) to keep the unit (and release it later with
/// [`Semaphore::release`]). A permit knows nothing about other releases: don't
/// both keep a permit and call `release` for the same unit. If dropping a permit
/// would raise a bounded semaphore past its maximum (because of such extra
/// releases), the unit is dropped instead.
///
/// # Examples
///
/// ```
/// use trio::sync::Semaphore;
/// # trio::run(async {
/// let sem = Semaphore::new(1);
/// let permit = sem.acquire().await?;
/// assert_eq!(sem.value(), 0);
/// drop(permit);
/// assert_eq!(sem.value(), 1);
/// # Ok(()) }).unwrap();
/// ```
#[must_use = "dropping the permit releases it at once; use `forget` to keep the unit"]
pub struct SemaphorePermit<'a> {
    sem: &'a Semaphore,
}

impl SemaphorePermit<'_> {
    /// Keeps the unit acquired: the permit goes away without releasing it.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::sync::Semaphore;
    /// # trio::run(async {
    /// let sem = Semaphore::new(1);
    /// sem.acquire().await?.forget();
    /// assert_eq!(sem.value(), 0);
    /// sem.release()?; // Trio-style, by hand
    /// assert_eq!(sem.value(), 1);
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn forget(self) {
        std::mem::forget(self);
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        let _ = release(&self.sem.state);
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit")
            .field("semaphore", self.sem)
            .finish()
    }
}

impl Semaphore {
    /// An unbounded semaphore with value `initial`.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = trio::sync::Semaphore::new(3);
    /// assert_eq!(sem.value(), 3);
    /// assert_eq!(sem.max_value(), None);
    /// ```
    pub fn new(initial: usize) -> Semaphore {
        Semaphore::build(initial, None)
    }

    /// A bounded semaphore with value `initial` that may never exceed `max`
    /// (Trio's `Semaphore(initial, max_value=max)`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`] if `initial > max` (Trio's `ValueError`).
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::sync::Semaphore;
    /// let sem = Semaphore::with_max(1, 1)?;
    /// assert_eq!(sem.max_value(), Some(1));
    /// assert_eq!(Semaphore::with_max(2, 1).unwrap_err().kind(), trio::ErrorKind::InvalidInput);
    /// # Ok::<(), trio::Error>(())
    /// ```
    pub fn with_max(initial: usize, max: usize) -> Result<Semaphore> {
        if initial > max {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "a semaphore's max_value must be >= its initial value",
            ));
        }
        Ok(Semaphore::build(initial, Some(max)))
    }

    fn build(initial: usize, max: Option<usize>) -> Semaphore {
        Semaphore {
            state: Rc::new(SemState {
                lot: ParkingLot::with_name("Semaphore"),
                value: Cell::new(initial),
                max,
            }),
        }
    }

    /// The current value.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = trio::sync::Semaphore::new(1);
    /// assert_eq!(sem.value(), 1);
    /// ```
    pub fn value(&self) -> usize {
        self.state.value.get()
    }

    /// The maximum value, `None` if unbounded.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::sync::Semaphore;
    /// assert_eq!(Semaphore::new(0).max_value(), None);
    /// assert_eq!(Semaphore::with_max(0, 4)?.max_value(), Some(4));
    /// # Ok::<(), trio::Error>(())
    /// ```
    pub fn max_value(&self) -> Option<usize> {
        self.state.max
    }

    /// Decrements the value, waiting in line while it is zero; returns a permit
    /// that increments it again when dropped.
    ///
    /// # Errors
    ///
    /// `Cancelled`; [`ErrorKind::Usage`] outside trio.
    ///
    /// # Cancellation
    ///
    /// A checkpoint, even when the value is positive. A cancelled `acquire` did
    /// nothing: the value is unchanged and it left the queue. If a release handed
    /// it a unit before the cancellation was noticed, it succeeds. A dropped
    /// `acquire` future that had already been handed a unit releases it again.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::sync::Semaphore;
    /// # trio::run(async {
    /// let sem = Semaphore::new(0);
    /// let sem = &sem;
    /// trio::open_nursery(async |n| {
    ///     n.start_soon(async move {
    ///         let _permit = sem.acquire().await?;
    ///         Ok(())
    ///     })?;
    ///     trio::testing::wait_all_tasks_blocked().await?;
    ///     assert_eq!(sem.statistics().tasks_waiting, 1);
    ///     sem.release()?; // handed straight to the waiter
    ///     assert_eq!(sem.value(), 0);
    ///     Ok(())
    /// }).await?;
    /// assert_eq!(sem.value(), 1); // its permit was dropped
    /// # Ok(()) }).unwrap();
    /// ```
    pub async fn acquire(&self) -> Result<SemaphorePermit<'_>> {
        checkpoint_if_cancelled()?;
        let yielded = super::schedule_point_first().await?;
        match self.acquire_nowait() {
            Ok(permit) => {
                // If this future is dropped during the yield, `permit` releases.
                if !yielded {
                    cancel_shielded_checkpoint().await?;
                }
                Ok(permit)
            }
            Err(_) => {
                let unit = self.state.lot.park().await?;
                unit.claim();
                Ok(SemaphorePermit { sem: self })
            }
        }
    }

    /// Decrements the value if it is positive, without blocking.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::WouldBlock`] if the value is zero.
    ///
    /// # Cancellation
    ///
    /// Not a checkpoint.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = trio::sync::Semaphore::new(1);
    /// let permit = sem.acquire_nowait()?;
    /// assert_eq!(sem.acquire_nowait().unwrap_err().kind(), trio::ErrorKind::WouldBlock);
    /// drop(permit);
    /// assert!(sem.acquire_nowait().is_ok());
    /// # Ok::<(), trio::Error>(())
    /// ```
    pub fn acquire_nowait(&self) -> Result<SemaphorePermit<'_>> {
        let v = self.state.value.get();
        if v == 0 {
            return Err(Error::new(
                ErrorKind::WouldBlock,
                "the semaphore's value is 0",
            ));
        }
        debug_assert!(self.state.lot.is_empty());
        self.state.value.set(v - 1);
        Ok(SemaphorePermit { sem: self })
    }

    /// Increments the value — or, if tasks are waiting, hands the unit directly
    /// to the longest-waiting one (the value stays 0).
    ///
    /// Works anywhere, also outside a trio run.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`] if nobody waits and the value is already at
    /// [`max_value`](Self::max_value): released too many times (Trio's
    /// `ValueError`; unlike releasing a [`Lock`](super::Lock) the task does not
    /// hold, which is a misuse, [`ErrorKind::Usage`]).
    ///
    /// # Cancellation
    ///
    /// Not a checkpoint.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::sync::Semaphore;
    /// let sem = Semaphore::with_max(0, 1)?;
    /// sem.release()?;
    /// assert_eq!(sem.value(), 1);
    /// assert_eq!(sem.release().unwrap_err().kind(), trio::ErrorKind::InvalidInput);
    /// assert_eq!(sem.value(), 1);
    /// # Ok::<(), trio::Error>(())
    /// ```
    pub fn release(&self) -> Result<()> {
        release(&self.state)
    }

    /// The semaphore's statistics: how many tasks wait in
    /// [`acquire`](Self::acquire).
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::sync::Semaphore;
    /// # trio::run(async {
    /// let sem = Semaphore::new(0);
    /// let sem = &sem;
    /// trio::open_nursery(async |n| {
    ///     n.start_soon(async move { sem.acquire().await.map(drop) })?;
    ///     trio::testing::wait_all_tasks_blocked().await?;
    ///     assert_eq!(sem.statistics().tasks_waiting, 1);
    ///     sem.release()
    /// }).await
    /// # }).unwrap();
    /// ```
    pub fn statistics(&self) -> SemaphoreStatistics {
        SemaphoreStatistics {
            tasks_waiting: self.state.lot.len(),
        }
    }
}
