//! [`assert_checkpoints`] and [`assert_no_checkpoints`] (Trio's
//! `trio.testing.assert_checkpoints` / `assert_no_checkpoints`).
//!
//! They count the current task's trips through the scheduler with an
//! [`Instrument`]: a future that completes without one made no schedule point.
//! Trio's versions also check the cancel-point half of a checkpoint; the run loop
//! does not count cancellation checks, so these check schedule points only.

use std::cell::Cell;
use std::future::Future;
use std::panic::Location;
use std::rc::Rc;

use crate::lowlevel::{Instrument, Task, add_instrument, current_task, remove_instrument};

/// Counts the steps of one task.
struct StepCounter {
    task: Task,
    steps: Cell<usize>,
}

impl Instrument for StepCounter {
    fn after_task_step(&self, task: &Task) {
        if *task == self.task {
            self.steps.set(self.steps.get() + 1);
        }
    }
}

/// Removes the instrument however the counted future ends (even if dropped).
struct Uninstall(Rc<dyn Instrument>);

impl Drop for Uninstall {
    fn drop(&mut self) {
        let _ = remove_instrument(&self.0);
    }
}

/// Runs `fut` and counts how many times the current task yielded to the
/// scheduler meanwhile.
///
/// # Panics
///
/// Outside trio.
pub(crate) async fn count_schedule_points<F: Future>(fut: F) -> (F::Output, usize) {
    let counter = Rc::new(StepCounter {
        task: current_task(),
        steps: Cell::new(0),
    });
    let instrument: Rc<dyn Instrument> = counter.clone();
    add_instrument(instrument.clone()).expect("inside trio (current_task worked)");
    let _uninstall = Uninstall(instrument);
    let out = fut.await;
    (out, counter.steps.get())
}

/// Runs `fut` and asserts that the current task yielded to the scheduler at least
/// once meanwhile: that `fut` contained a schedule point (Trio's
/// `assert_checkpoints`, its schedule-point half). Returns `fut`'s output.
///
/// # Panics
///
/// If `fut` completed without yielding (naming the caller's location), or
/// outside trio.
///
/// # Cancellation
///
/// Whatever `fut` does.
///
/// # Examples
///
/// ```
/// use trio::testing::assert_checkpoints;
/// # trio::run(async {
/// assert_checkpoints(trio::lowlevel::checkpoint()).await?;
/// # Ok(()) }).unwrap();
/// ```
#[track_caller]
pub fn assert_checkpoints<F: Future>(fut: F) -> impl Future<Output = F::Output> {
    let caller = Location::caller();
    async move {
        let (out, steps) = count_schedule_points(fut).await;
        assert!(steps > 0, "completed without a schedule point [{caller}]");
        out
    }
}

/// Runs `fut` and asserts that the current task did not yield to the scheduler
/// meanwhile (Trio's `assert_no_checkpoints`). Returns `fut`'s output.
///
/// # Panics
///
/// If `fut` yielded (naming the caller's location), or outside trio.
///
/// # Cancellation
///
/// Whatever `fut` does.
///
/// # Examples
///
/// ```
/// use trio::testing::assert_no_checkpoints;
/// # trio::run(async {
/// let event = trio::sync::Event::new();
/// assert_no_checkpoints(async { event.set() }).await;
/// # Ok::<_, trio::Error>(()) }).unwrap();
/// ```
#[track_caller]
pub fn assert_no_checkpoints<F: Future>(fut: F) -> impl Future<Output = F::Output> {
    let caller = Location::caller();
    async move {
        let (out, steps) = count_schedule_points(fut).await;
        assert_eq!(steps, 0, "yielded to the scheduler [{caller}]");
        out
    }
}
