//! Synchronization primitives (Trio's `Event`, `Lock`, `StrictFIFOLock`,
//! `Semaphore`, `CapacityLimiter`, `Condition`).
//!
//! | type | what it is for |
//! |---|---|
//! | [`Event`] | a one-shot flag: wait until something has happened |
//! | [`Lock`] | one task at a time; fair, not reentrant, owned |
//! | [`StrictFifoLock`] | a `Lock` whose strict FIFO order your code relies on |
//! | [`Semaphore`] | a counter that never drops below zero |
//! | [`CapacityLimiter`] | at most *n* borrowers at once, each [`Borrower`] known |
//! | [`Condition`] | wait on a [`Lock`] until another task notifies |
//!
//! All of them are for tasks of one trio run (they are not `Send`); to talk
//! across threads, use [`TrioToken`](crate::lowlevel::TrioToken). To pass
//! *values* between tasks, use a memory channel.
//!
//! ```
//! use trio::sync::{Event, Lock};
//! # trio::run(async {
//! let (lock, done) = (Lock::new(), Event::new());
//! let (lock, done) = (&lock, &done);
//! trio::open_nursery(async |n| {
//!     n.start_soon(async move {
//!         let _guard = lock.lock().await?; // released when dropped
//!         done.set();
//!         Ok(())
//!     })?;
//!     done.wait().await
//! }).await
//! # }).unwrap();
//! ```
//!
//! # One queue under everything
//!
//! Every primitive here is a little state (a flag, an owner, a count, a ledger of
//! borrowers) next to a [`ParkingLot`](crate::lowlevel::ParkingLot) — the fair
//! FIFO wait queue of the core — and is written only against the public
//! [`lowlevel`](crate::lowlevel) API, as any library could. That is Trio's design,
//! and the reason is that the hard parts of blocking are the same for every
//! primitive: keeping waiters in order, taking a cancelled waiter out of line,
//! waking exactly the right one, breaking a queue whose owner died. The lot does
//! them once; a primitive only decides *when* to wake whom. (tokio makes the same
//! choice with one `batch_semaphore` under its sync types.)
//!
//! # Hand-off fairness
//!
//! When a lock is released, a semaphore unit or limiter token returned, and tasks
//! are waiting, the resource is not put back for anyone to take: it is *handed*
//! to the longest waiter, who owns it before it even runs. So:
//!
//! * a task that releases and at once acquires again (a loop around `lock()`)
//!   goes to the back of the line: nobody barges, nobody starves;
//! * statistics are exact at every moment (`owner`, `borrowers` name the task
//!   that was handed the resource);
//! * a `*_nowait` call fails while anybody is queued, even if the resource looks
//!   free for an instant.
//!
//! The hand-off travels through the lot as a value (`ParkingLot<T>` can give the
//! woken task a value). If the woken task's future is dropped before it runs — a
//! Rust-only way to stop waiting, by `drop` rather than by cancellation — that
//! value's `Drop` passes the resource on, so it is never lost.
//!
//! # What "checkpoint" means for each operation
//!
//! Every operation that can block is a *checkpoint*, always — also when it does
//! not need to block — so that a loop calling it cannot starve other tasks, and
//! cancellation is seen at the same places whatever the timing:
//!
//! * [`Lock::lock`], [`Lock::acquire`], [`Semaphore::acquire`],
//!   [`CapacityLimiter::acquire`] follow Trio exactly: first
//!   [`checkpoint_if_cancelled`](crate::lowlevel::checkpoint_if_cancelled) (if
//!   cancelled, return `Err(Cancelled)` having done nothing); then try to take the
//!   resource; on success, a
//!   [`cancel_shielded_checkpoint`](crate::lowlevel::cancel_shielded_checkpoint)
//!   (yield to the scheduler, but don't fail: the resource is ours now, and giving
//!   it back would be a side effect); otherwise park. A cancelled park left the
//!   queue and got nothing; a park that was handed the resource before the
//!   cancellation was noticed succeeds, because the hand-off happened first.
//!
//!   With a [schedule budget](crate::Builder::schedule_budget) the schedule point
//!   comes *before* the attempt instead. Trio's order makes a lock round-robin
//!   among tasks that keep re-acquiring it, because each yields while holding it;
//!   under a budget, the one yield the budget does not cover would make every
//!   other task queue behind the holder, and from then on each acquisition would
//!   be a hand-off (a lock convoy: `mutex_uncontended` ran 0.8× tokio's speed that
//!   way, 3.2× with the schedule point first).
//! * [`Event::wait`] parks, or, when the event is already set, does a full
//!   [`checkpoint`](crate::lowlevel::checkpoint) (as Trio): it yields, and fails if
//!   cancelled — there is nothing to undo.
//! * [`Condition::wait`] releases the lock and parks; if cancelled while asleep,
//!   it takes the lock back under a shielded [`CancelScope`](crate::CancelScope)
//!   before returning `Err(Cancelled)`, so the caller holds the lock either way.
//! * Everything else — `set`, `release`, `notify`, the `*_nowait` and `try_*`
//!   forms, dropping a guard or permit, statistics — never blocks and is not a
//!   checkpoint.
//!
//! "A cancelled operation did not happen" holds throughout: a cancelled acquire
//! holds nothing and is no longer queued; a cancelled `Event::wait` consumed
//! nothing (there is nothing to consume).
//!
//! # Guards, permits and ownership
//!
//! Rust code gets RAII: [`LockGuard`], [`SemaphorePermit`] and [`CapacityPermit`]
//! give the resource back on drop. The Trio-style calls (`acquire` with no guard,
//! `release`) are there too, and the two can be mixed: a guard or limiter permit
//! whose acquisition was already ended by an explicit `release` does nothing when
//! dropped. Since guards can be moved between tasks, dropping a guard releases the
//! lock whoever drops it; only the explicit `release` checks that the caller owns
//! it. A lock's owner remains the task that acquired it: if that task exits while
//! the lock is still held (a leaked guard, or one moved to a longer-lived task),
//! the lock breaks, and its waiters and later acquirers get
//! [`ErrorKind::BrokenResource`](crate::ErrorKind::BrokenResource) instead of
//! waiting forever (Trio 0.25+ parking lot breakers).

mod capacity_limiter;
mod condition;
mod event;
mod lock;
mod semaphore;

/// The current task, or a usage error outside trio (primitives report misuse as
/// errors, never panics).
pub(crate) fn me() -> crate::Result<crate::lowlevel::Task> {
    crate::lowlevel::try_current_task().ok_or_else(|| {
        crate::Error::new(
            crate::ErrorKind::Usage,
            "this operation needs a trio task: it was called outside trio::run",
        )
    })
}

/// Where an acquisition's schedule point goes. Trio's order — take at once, then
/// yield holding it — is kept by default (it is what makes `Lock` round-robin
/// in Trio's fairness test). With a schedule budget the yield comes *first*, so a
/// budget-exhausted yield never happens while holding: see
/// [`current_schedule_budget`](crate::lowlevel::current_schedule_budget).
pub(crate) async fn schedule_point_first() -> crate::Result<bool> {
    if crate::lowlevel::current_schedule_budget() > 0 {
        crate::lowlevel::cancel_shielded_checkpoint().await?;
        Ok(true)
    } else {
        Ok(false)
    }
}

pub use capacity_limiter::{Borrower, CapacityLimiter, CapacityLimiterStatistics, CapacityPermit};
pub use condition::{Condition, ConditionStatistics};
pub use event::{Event, EventStatistics};
pub use lock::{Lock, LockGuard, LockStatistics, StrictFifoLock};
pub use semaphore::{Semaphore, SemaphorePermit, SemaphoreStatistics};
