//! [`Event`]: a flag that tasks can wait for.
//!
//! A flag plus a [`ParkingLot`]: `set` raises the flag and unparks everyone; `wait`
//! parks unless the flag is up. The flag never goes down again, so there is no
//! lost-wake-up race to worry about: whether `set` comes before or after `wait`,
//! the waiter gets through.

use std::cell::Cell;
use std::fmt;

use crate::Result;
use crate::lowlevel::{ParkingLot, checkpoint};

/// A waitable flag for one-shot signalling between tasks (Trio's `Event`).
///
/// The event starts unset; [`set`](Self::set) sets it and wakes every task blocked
/// in [`wait`](Self::wait); later `wait`s return at once. It cannot be cleared —
/// an event that happened cannot un-happen (make a new `Event` for the next
/// occurrence; they are cheap).
///
/// # Examples
///
/// ```
/// use trio::sync::Event;
/// # trio::run(async {
/// let ready = Event::new();
/// let ready = &ready;
/// trio::open_nursery(async |n| {
///     for _ in 0..3 {
///         n.start_soon(async move { ready.wait().await })?;
///     }
///     trio::testing::wait_all_tasks_blocked().await?;
///     assert_eq!(ready.statistics().tasks_waiting, 3);
///     ready.set(); // wakes all three
///     Ok(())
/// }).await?;
/// assert!(ready.is_set());
/// # Ok(()) }).unwrap();
/// ```
pub struct Event {
    flag: Cell<bool>,
    lot: ParkingLot<()>,
}

impl Default for Event {
    fn default() -> Self {
        Event::new()
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("is_set", &self.flag.get())
            .field("tasks_waiting", &self.lot.len())
            .finish()
    }
}

/// Statistics of an [`Event`] (Trio's `EventStatistics`).
///
/// # Examples
///
/// ```
/// let e = trio::sync::Event::new();
/// assert_eq!(e.statistics().tasks_waiting, 0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct EventStatistics {
    /// Tasks blocked in [`Event::wait`].
    pub tasks_waiting: usize,
}

impl Event {
    /// A new, unset event.
    ///
    /// # Examples
    ///
    /// ```
    /// let e = trio::sync::Event::new();
    /// assert!(!e.is_set());
    /// ```
    pub fn new() -> Event {
        Event {
            flag: Cell::new(false),
            lot: ParkingLot::with_name("Event"),
        }
    }

    /// True once [`set`](Self::set) was called.
    ///
    /// # Examples
    ///
    /// ```
    /// let e = trio::sync::Event::new();
    /// assert!(!e.is_set());
    /// e.set();
    /// assert!(e.is_set());
    /// ```
    pub fn is_set(&self) -> bool {
        self.flag.get()
    }

    /// Sets the event and wakes every task waiting for it. Idempotent.
    ///
    /// Works anywhere, also outside a trio run.
    ///
    /// # Cancellation
    ///
    /// Not a checkpoint: never blocks, never yields.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::sync::Event;
    /// # trio::run(async {
    /// let done = Event::new();
    /// let done = &done;
    /// trio::open_nursery(async |n| {
    ///     n.start_soon(async move {
    ///         trio::sleep(std::time::Duration::from_millis(1)).await?;
    ///         done.set();
    ///         done.set(); // a second set does nothing
    ///         Ok(())
    ///     })?;
    ///     done.wait().await
    /// }).await
    /// # }).unwrap();
    /// ```
    pub fn set(&self) {
        if !self.flag.replace(true) {
            self.lot.unpark_all();
        }
    }

    /// Waits until the event is set; returns at once if it already is.
    ///
    /// # Errors
    ///
    /// `Cancelled` if cancelled first; [`ErrorKind::Usage`](crate::ErrorKind::Usage)
    /// outside trio.
    ///
    /// # Cancellation
    ///
    /// A checkpoint — also when the event is already set (as in Trio, `wait` then
    /// yields once and can still be cancelled). A cancelled `wait` left the queue.
    /// If the event was set before the cancellation was noticed, a blocked `wait`
    /// returns `Ok`.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::sync::Event;
    /// # trio::run(async {
    /// let e = Event::new();
    /// e.set();
    /// e.wait().await?; // already set: returns after one checkpoint
    ///
    /// // Even when set, a cancelled scope makes `wait` fail.
    /// let scope = trio::CancelScope::new();
    /// scope.cancel();
    /// assert_eq!(scope.run(e.wait()).await?, None);
    /// # Ok(()) }).unwrap();
    /// ```
    pub async fn wait(&self) -> Result<()> {
        if self.flag.get() {
            checkpoint().await
        } else {
            self.lot.park().await
        }
    }

    /// The event's statistics: how many tasks are blocked in [`wait`](Self::wait).
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::sync::Event;
    /// # trio::run(async {
    /// let e = Event::new();
    /// let e = &e;
    /// trio::open_nursery(async |n| {
    ///     n.start_soon(e.wait())?;
    ///     trio::testing::wait_all_tasks_blocked().await?;
    ///     assert_eq!(e.statistics().tasks_waiting, 1);
    ///     e.set();
    ///     assert_eq!(e.statistics().tasks_waiting, 0);
    ///     Ok(())
    /// }).await
    /// # }).unwrap();
    /// ```
    pub fn statistics(&self) -> EventStatistics {
        EventStatistics {
            tasks_waiting: self.lot.len(),
        }
    }
}
