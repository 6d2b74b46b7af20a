//! The thread-local context of the run loop: which loop runs on this thread, which
//! task is being polled, and which cancel status is current.
//!
//! Why thread-locals: a task is a tree of nested futures polled by nested nurseries;
//! the only thing every level shares is the thread it runs on. Each level that
//! changes the context (the run loop for a root task, a nursery for a child, a cancel
//! scope for its body) sets it for the duration of one `poll` and restores it after,
//! through a guard, so a panic unwinding out of a poll restores it too.
//!
//! Invariant: the raw pointers stored here point to objects kept alive by the code
//! that set them, for as long as the guard that set them lives. They are only read
//! while that guard is alive (inside the poll it wraps).

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use super::cancel::ScopeState;
use super::runtime::Runner;
use super::task::TaskCell;

thread_local! {
    static RUNNER: RefCell<Option<Rc<Runner>>> = const { RefCell::new(None) };
    static LOOP_ID: Cell<u64> = const { Cell::new(0) };
    static TASK: Cell<*const TaskCell> = const { Cell::new(std::ptr::null()) };
    static STATUS: Cell<*const ScopeState> = const { Cell::new(std::ptr::null()) };
    static THREAD_TOKEN: u8 = const { 0 };
    /// Tasks whose `scheduled` flag is set, anywhere in the tree.
    static RUNNABLE: Cell<usize> = const { Cell::new(0) };
    /// Schedule points the task being polled may still skip in this step (see
    /// `Builder::schedule_budget`; always 0 by default).
    static CREDIT: Cell<u32> = const { Cell::new(0) };
}

/// Gives the task about to be polled its credit of skippable schedule points.
#[inline]
pub(in crate::core) fn set_credit(n: u32) {
    CREDIT.with(|c| c.set(n));
}

/// Whether a schedule point must yield now: `false` (and one credit spent) while
/// the current step has credit left.
#[inline]
pub(in crate::core) fn yield_needed() -> bool {
    CREDIT.with(|c| {
        let n = c.get();
        if n == 0 {
            true
        } else {
            c.set(n - 1);
            false
        }
    })
}

/// One more task is runnable.
#[inline]
pub(in crate::core) fn runnable_inc() {
    RUNNABLE.with(|r| r.set(r.get() + 1));
}

/// One task fewer is runnable.
#[inline]
pub(in crate::core) fn runnable_dec() {
    RUNNABLE.with(|r| r.set(r.get().saturating_sub(1)));
}

/// How many tasks are runnable now.
pub(in crate::core) fn runnable_count() -> usize {
    RUNNABLE.with(Cell::get)
}

/// A number unique to this thread while it lives.
#[inline]
pub(in crate::core) fn thread_token() -> usize {
    THREAD_TOKEN.with(|t| t as *const u8 as usize)
}

/// The id of the loop running on this thread, or 0.
#[inline]
pub(in crate::core) fn current_loop_id() -> u64 {
    LOOP_ID.with(Cell::get)
}

/// Runs `f` with the runner of this thread's loop, if one is running.
#[inline]
pub(in crate::core) fn with_runner<R>(f: impl FnOnce(&Rc<Runner>) -> R) -> Option<R> {
    RUNNER.with(|r| r.borrow().as_ref().map(f))
}

/// The runner of this thread's loop, if one is running.
pub(in crate::core) fn runner() -> Option<Rc<Runner>> {
    RUNNER.with(|r| r.borrow().clone())
}

/// Installs `runner` as this thread's loop until the guard drops.
pub(in crate::core) struct RunnerGuard(());

impl RunnerGuard {
    pub(in crate::core) fn enter(runner: Rc<Runner>) -> RunnerGuard {
        LOOP_ID.with(|l| l.set(runner.loop_id));
        RUNNABLE.with(|r| r.set(0));
        RUNNER.with(|r| *r.borrow_mut() = Some(runner));
        RunnerGuard(())
    }
}

impl RunnerGuard {
    /// Leaves the loop's thread-local context for a while (a guest run between
    /// two of its steps, while the host runs its own code on this thread).
    pub(in crate::core) fn suspend(self) -> SuspendedRunner {
        let runnable = RUNNABLE.with(Cell::get);
        let runner = RUNNER
            .with(|r| r.borrow_mut().take())
            .expect("a guard's runner is installed");
        drop(self);
        SuspendedRunner { runner, runnable }
    }
}

/// A loop's context while a guest run is between steps (`RunnerGuard::suspend`).
pub(in crate::core) struct SuspendedRunner {
    runner: Rc<Runner>,
    runnable: usize,
}

impl SuspendedRunner {
    /// Installs the loop again, as it was.
    pub(in crate::core) fn resume(self) -> RunnerGuard {
        let guard = RunnerGuard::enter(self.runner);
        RUNNABLE.with(|r| r.set(self.runnable));
        guard
    }
}

impl Drop for RunnerGuard {
    fn drop(&mut self) {
        LOOP_ID.with(|l| l.set(0));
        let old = RUNNER.with(|r| r.borrow_mut().take());
        drop(old);
        TASK.with(|t| t.set(std::ptr::null()));
        STATUS.with(|s| s.set(std::ptr::null()));
    }
}

/// The task being polled on this thread, as a strong reference.
pub(in crate::core) fn current_task_arc() -> Option<std::sync::Arc<TaskCell>> {
    let p = TASK.with(Cell::get);
    if p.is_null() {
        return None;
    }
    // SAFETY: the pointer was stored by `PollGuard::task`, whose contract is that it
    // comes from `Arc::as_ptr` (provenance over the whole `Arc` allocation, counts
    // included) and stays alive while the guard lives (module invariant); so adding a
    // strong count and rebuilding an `Arc` from it is sound.
    unsafe {
        std::sync::Arc::increment_strong_count(p);
        Some(std::sync::Arc::from_raw(p))
    }
}

/// Runs `f` with the task being polled on this thread, if any.
pub(in crate::core) fn with_current_task<R>(f: impl FnOnce(Option<&TaskCell>) -> R) -> R {
    let p = TASK.with(Cell::get);
    // SAFETY: as in `current_task_arc`: a non-null pointer was set by a live
    // `PollGuard::task`, whose creator keeps the cell alive while the guard lives.
    let task = unsafe { p.as_ref() };
    f(task)
}

/// Runs `f` with the current cancel status, if any.
#[inline]
pub(in crate::core) fn with_current_status<R>(f: impl FnOnce(Option<&ScopeState>) -> R) -> R {
    let p = STATUS.with(Cell::get);
    // SAFETY: as in `current_task_arc`: a non-null pointer was set by a live guard
    // whose creator keeps the `ScopeState` alive (an `Rc` held for the guard's life).
    let status = unsafe { p.as_ref() };
    f(status)
}

/// The current cancel status as a strong reference.
pub(in crate::core) fn current_status() -> Option<Rc<ScopeState>> {
    with_current_status(|s| s.map(ScopeState::rc))
}

/// Sets the current task and cancel status for one poll; restores them on drop.
pub(in crate::core) struct PollGuard {
    prev_task: *const TaskCell,
    prev_status: *const ScopeState,
}

impl PollGuard {
    /// `task` must come from `Arc::as_ptr` (so that it carries the provenance of the
    /// whole `Arc` allocation, which `current_task_arc` relies on), and the caller
    /// must keep it and `status` alive while the guard lives.
    #[inline]
    pub(in crate::core) fn task(task: *const TaskCell, status: &Rc<ScopeState>) -> PollGuard {
        let prev_task = TASK.with(|t| t.replace(task));
        let prev_status = STATUS.with(|s| s.replace(Rc::as_ptr(status)));
        PollGuard {
            prev_task,
            prev_status,
        }
    }

    /// Sets only the cancel status (a cancel scope around part of a task).
    #[inline]
    pub(in crate::core) fn status(status: &Rc<ScopeState>) -> PollGuard {
        let prev_task = TASK.with(Cell::get);
        let prev_status = STATUS.with(|s| s.replace(Rc::as_ptr(status)));
        PollGuard {
            prev_task,
            prev_status,
        }
    }
}

impl Drop for PollGuard {
    #[inline]
    fn drop(&mut self) {
        TASK.with(|t| t.set(self.prev_task));
        STATUS.with(|s| s.set(self.prev_status));
    }
}
