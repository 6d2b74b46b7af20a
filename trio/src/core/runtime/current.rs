//! The low-level entry points that ask the running loop: the current task, the
//! root task, the loop's token, the seed, and system tasks.

use std::borrow::Cow;
use std::future::Future;

use super::super::cancel::outside_trio;
use super::super::context::{self};
use super::super::entry_queue::TrioToken;
use super::super::task::Task;
use crate::error::{CancelSource, Result};

/// The task that is running now (Trio's `current_task`).
///
/// # Panics
///
/// Outside a trio task.
///
/// # Examples
///
/// ```
/// # trio::run(async {
/// assert_eq!(trio::lowlevel::current_task().name(), "<main>");
/// # Ok(()) }).unwrap();
/// ```
pub fn current_task() -> Task {
    Task::from_cell(context::current_task_arc().expect("current_task called outside a trio task"))
}

/// The task that is running now, or `None` outside a trio task: the non-panicking
/// form of [`current_task`], for primitives that must report misuse as an error.
///
/// # Examples
///
/// ```
/// assert!(trio::lowlevel::try_current_task().is_none()); // not in trio
/// # trio::run(async {
/// assert!(trio::lowlevel::try_current_task().is_some());
/// # Ok(()) }).unwrap();
/// ```
pub fn try_current_task() -> Option<Task> {
    context::current_task_arc().map(Task::from_cell)
}

/// The root of the task tree (Trio's `current_root_task`): a task that is never
/// polled, parent of the system nursery that holds the main task and system tasks.
///
/// # Panics
///
/// Outside [`trio::run`](crate::run).
///
/// # Examples
///
/// ```
/// # trio::run(async {
/// let root = trio::lowlevel::current_root_task();
/// let system = &root.child_nurseries()[0];
/// assert!(system.child_tasks().contains(&trio::lowlevel::current_task()));
/// # Ok(()) }).unwrap();
/// ```
pub fn current_root_task() -> Task {
    context::with_runner(|r| Task::from_cell(r.init_task.clone()))
        .expect("current_root_task called outside trio::run")
}

/// A token for reaching this run from other threads (Trio's `current_trio_token`).
///
/// # Panics
///
/// Outside [`trio::run`](crate::run).
///
/// # Examples
///
/// ```
/// # trio::run(async {
/// let a = trio::lowlevel::current_trio_token();
/// assert_eq!(a, trio::lowlevel::current_trio_token());
/// # Ok(()) }).unwrap();
/// ```
pub fn current_trio_token() -> TrioToken {
    context::with_runner(|r| TrioToken::new(r.shared.clone()))
        .expect("current_trio_token called outside trio::run")
}

/// Cancels the main task of the run on this thread, with `source` as the reason
/// its tasks will see on [`Cancelled`](crate::Cancelled), as Ctrl-C does with
/// [`CancelSource::CtrlC`]. For something outside the main task that must stop
/// the whole program: a supervisor of several loops ([`trio::Loops`](crate::Loops)
/// does this), a callback from another thread queued with
/// [`TrioToken::run_sync_soon`](crate::lowlevel::TrioToken::run_sync_soon). System
/// tasks are cancelled in turn when the main task ends.
///
/// # Errors
///
/// [`ErrorKind::Usage`](crate::ErrorKind::Usage) outside trio.
///
/// # Examples
///
/// ```
/// use trio::{CancelSource, ErrorKind};
/// let err = trio::run(async {
///     trio::lowlevel::cancel_main_task(CancelSource::Explicit)?;
///     trio::sleep_forever().await
/// })
/// .unwrap_err();
/// // The main task's own cancellation comes out of `run` as `Cancelled`.
/// assert_eq!(err.kind(), ErrorKind::Cancelled);
/// assert_eq!(err.cancelled().unwrap().source(), CancelSource::Explicit);
/// ```
pub fn cancel_main_task(source: CancelSource) -> Result<()> {
    context::with_runner(|r| r.main_scope.cancel(source, None)).ok_or_else(|| {
        crate::Error::new(
            crate::ErrorKind::Usage,
            "cancel_main_task must be called inside trio::run",
        )
    })
}

/// The scheduling seed of the current run (to replay it with
/// [`Builder::seed`](crate::Builder::seed) or `TRIO_SEED`).
///
/// # Panics
///
/// Outside [`trio::run`](crate::run).
///
/// # Examples
///
/// ```
/// let rt = trio::Runtime::builder().seed(99).build();
/// rt.run(async { assert_eq!(trio::lowlevel::current_seed(), 99); Ok::<_, trio::Error>(()) }).unwrap();
/// ```
pub fn current_seed() -> u64 {
    context::with_runner(|r| r.seed).expect("current_seed called outside trio::run")
}

/// Starts a system task (Trio's `spawn_system_task`): a child of the system nursery,
/// outside the main task's scopes. System tasks are cancelled when the main task
/// finishes; the run waits for them. A system task that fails (other than by that
/// cancellation) or panics is an internal error: it cancels everything and `run`
/// returns [`ErrorKind::Internal`](crate::ErrorKind::Internal). A system task started while the run is shutting
/// down starts cancelled.
///
/// # Errors
///
/// [`ErrorKind::Usage`](crate::ErrorKind::Usage) outside trio.
///
/// # Examples
///
/// ```
/// # trio::run(async {
/// trio::lowlevel::spawn_system_task("ticker", async {
///     loop { trio::sleep(std::time::Duration::from_millis(1)).await?; }
/// })?;
/// trio::sleep(std::time::Duration::from_millis(3)).await?;
/// # Ok(()) }).unwrap(); // the ticker is cancelled when main returns
/// ```
#[track_caller]
pub fn spawn_system_task<F>(name: impl Into<Cow<'static, str>>, fut: F) -> Result<Task>
where
    F: Future<Output = Result<()>> + 'static,
{
    let at = std::panic::Location::caller();
    let runner = context::runner().ok_or_else(outside_trio)?;
    let cell = runner.system.spawn(name.into(), Box::pin(fut), at)?;
    Ok(Task::from_cell(cell))
}
