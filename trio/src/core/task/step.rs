//! One step of a task: the one place where the future of a task — a nursery's
//! child or the run's main task — is polled.
//!
//! A step is more than a `poll`: the task becomes the current task (and its cancel
//! status the current status) for its duration, it gets its credit of skippable
//! schedule points, instruments hear `before_task_step` / `after_task_step`, the
//! task's record of what it waits on is reset (the poll records it anew), its
//! `tracing` span is entered, the watchdog times it, and a panic is caught so that
//! it can be handed to the task's nursery instead of unwinding through the loop.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::task::{Context, Poll};

use super::super::cancel::ScopeState;
use super::super::context::{self, PollGuard};
use super::super::runtime::Runner;
use super::super::wait::RawWait;
use super::super::watchdog;
use super::cell::{TaskCell, WakerRef};

/// The end of a step: `None` while the task is pending, else its output or panic.
pub(in crate::core) type StepOutcome<T> = Option<std::thread::Result<T>>;

/// Runs one step of the task whose cell is at `cell`: calls `poll` with the task's
/// waker, as the task, under `status`.
///
/// # Safety
///
/// `cell` must come from `Arc::as_ptr` of an `Arc<TaskCell>` that the caller keeps
/// alive for the whole call (the waker handed to `poll` borrows it, and clones of
/// it take their own counts through that provenance).
#[inline(always)]
pub(in crate::core) unsafe fn step<T>(
    runner: &Runner,
    cell: *const TaskCell,
    status: &Rc<ScopeState>,
    poll: impl FnOnce(&mut Context<'_>) -> Poll<T>,
) -> StepOutcome<T> {
    // SAFETY: the caller keeps the cell alive for the whole call.
    let task: &TaskCell = unsafe { &*cell };
    // The step hooks run as the task (Trio: `current_task()` is the task).
    let _g = PollGuard::task(cell, status);
    context::set_credit(runner.schedule_budget);
    runner.before_task_step(task);
    // SAFETY: as above: `cell` comes from `Arc::as_ptr` and outlives this call.
    let waker = unsafe { WakerRef::from_ptr(cell) };
    let mut cx = Context::from_waker(&waker);
    task.l().wait.set(RawWait::OTHER);
    #[cfg(feature = "tracing")]
    let _span = task.span.enter();
    let res = watchdog::timed(runner.watchdog.as_ref(), task, || {
        catch_unwind(AssertUnwindSafe(|| poll(&mut cx)))
    });
    let outcome = match res {
        Ok(Poll::Pending) => None,
        Ok(Poll::Ready(v)) => Some(Ok(v)),
        Err(p) => Some(Err(p)),
    };
    runner.after_task_step(task);
    outcome
}
