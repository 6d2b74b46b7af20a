//! Helpers shared by the `tests/sync_*.rs` files (`mod sync_support;`).

#![allow(dead_code)]

use std::cell::Cell;
use std::future::Future;

use std::rc::Rc;

use trio::lowlevel::{Instrument, Task, add_instrument, current_task, remove_instrument};

/// Counts the steps of one task (an instrument).
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

/// How many times the current task yielded to the scheduler while running `fut`.
async fn count_yields<T>(fut: impl Future<Output = T>) -> (T, usize) {
    let counter = Rc::new(StepCounter {
        task: current_task(),
        steps: Cell::new(0),
    });
    let inst: Rc<dyn Instrument> = counter.clone();
    add_instrument(inst.clone()).unwrap();
    let out = fut.await;
    remove_instrument(&inst).unwrap();
    (out, counter.steps.get())
}

/// Trio's `assert_checkpoints` (its schedule-point half): asserts that `fut`
/// yielded to the scheduler at least once.
pub async fn assert_checkpoints<T>(fut: impl Future<Output = T>) -> T {
    let (out, yields) = count_yields(fut).await;
    assert!(yields > 0, "the operation was not a schedule point");
    out
}

/// Trio's `assert_no_checkpoints`: asserts that `fut` completed without yielding.
pub async fn assert_no_checkpoints<T>(fut: impl Future<Output = T>) -> T {
    let (out, yields) = count_yields(fut).await;
    assert_eq!(yields, 0, "the operation yielded to the scheduler");
    out
}

/// Runs `fut` inside an already-cancelled scope and returns what it returned
/// (`Ok(None)` when it reported the cancellation).
pub async fn run_cancelled<T>(
    fut: impl Future<Output = trio::Result<T>>,
) -> trio::Result<Option<T>> {
    let scope = trio::CancelScope::new();
    scope.cancel();
    scope.run(fut).await
}
