//! Calling back into trio from other threads (Trio's `trio.from_thread`).
//!
//! A thread started by [`to_thread::run_sync`](crate::to_thread::run_sync) knows
//! its way back: [`run`] and [`run_sync`] run code on its run loop and block the
//! thread until it is done. Any other thread needs a [`TrioToken`] (from
//! [`current_trio_token`](crate::lowlevel::current_trio_token)) and uses
//! [`run_with_token`] / [`run_sync_with_token`].
//!
//! ```
//! # trio::run(async {
//! let doubled = trio::to_thread::run_sync(|| {
//!     // On a worker thread: go back to trio for a moment.
//!     trio::from_thread::run(|| async {
//!         trio::sleep(std::time::Duration::from_millis(1)).await?;
//!         Ok(21 * 2)
//!     })
//! }).await??;
//! assert_eq!(doubled, 42);
//! # Ok(()) }).unwrap();
//! ```
//!
//! # Where the code runs (Trio's rules)
//!
//! * From a thread of a `to_thread::run_sync` call **without**
//!   `abandon_on_cancel` (the default): in the task that waits in that call —
//!   under its cancel scopes, with its [`current_task`](crate::lowlevel::current_task).
//!   If that task is cancelled, the future sees `Err(Cancelled)` at its
//!   checkpoints, and the error travels back to the thread as any other result; a
//!   synchronous function is never interrupted.
//! * From a thread of a call **with** `abandon_on_cancel`, or with an explicit
//!   token: in a new system task (for [`run`]), or directly in the loop's
//!   callback (for [`run_sync`]), outside any task — the waiting task may already
//!   be gone. A system task is cancelled when the run shuts down.
//!
//! # Why a closure that returns the future
//!
//! Trio's futures need not be `Send`, so the future cannot be built on the calling
//! thread and sent over. [`run`] takes a `Send` closure instead and calls it on the
//! loop thread; only the closure and the result cross threads.

use std::future::{Future, poll_fn};
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::pin;
use std::sync::Arc;
use std::sync::mpsc::{self, SyncSender};
use std::task::Poll;
use std::thread;

use crate::lowlevel::{RunVar, TrioToken};
use crate::to_thread::{Host, Message, current_parent, dispatch};
use crate::{Error, ErrorKind, Result};

/// Runs the future made by `f` on the trio loop of this worker thread and blocks
/// until it finishes; returns its result (Trio's `trio.from_thread.run`).
///
/// `f` is called on the loop thread, so the future need not be `Send`. It runs in
/// the task waiting in [`to_thread::run_sync`](crate::to_thread::run_sync) for
/// this thread (under that task's cancel scopes), or, if that call abandons its
/// thread on cancellation, in a new system task. See the [module
/// docs](self#where-the-code-runs-trios-rules).
///
/// # Errors
///
/// * The future's own errors — among them `Cancelled` if the task it runs in is
///   cancelled (or, in a system task, if the run shuts down) while it runs.
/// * [`ErrorKind::RunFinished`] if the run has finished (or is finishing and
///   accepts no new system task).
/// * [`ErrorKind::Usage`] if this thread was not started by `to_thread::run_sync`
///   (use [`run_with_token`]), or if called on a trio loop's thread (it would
///   deadlock).
///
/// # Panics
///
/// If `f` or the future panics, the panic is resumed here, in the calling thread.
///
/// # Examples
///
/// ```
/// # trio::run(async {
/// let task = trio::lowlevel::current_task().id();
/// let seen = trio::to_thread::run_sync(|| {
///     trio::from_thread::run(|| async { Ok(trio::lowlevel::current_task().id()) })
/// }).await??;
/// assert_eq!(seen, task); // it ran in the task waiting for the thread
/// # Ok(()) }).unwrap();
/// ```
pub fn run<F, Fut, T>(f: F) -> Result<T>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<T>> + 'static,
    T: Send + 'static,
{
    let parent = current_parent().ok_or_else(no_parent)?;
    refuse_on_trio_thread()?;
    let host = (!parent.abandon_on_cancel).then(|| parent.host.clone());
    call(&parent.token, host, |tx| async_message(f, tx))?
}

/// Runs `f` on the trio loop of this worker thread and blocks until it returns;
/// returns its result (Trio's `trio.from_thread.run_sync`).
///
/// `f` runs in the task waiting in
/// [`to_thread::run_sync`](crate::to_thread::run_sync) for this thread, or, if
/// that call abandons its thread on cancellation, in a loop callback outside any
/// task. It is never interrupted by cancellation. See the [module
/// docs](self#where-the-code-runs-trios-rules).
///
/// # Errors
///
/// * [`ErrorKind::RunFinished`] if the run has finished.
/// * [`ErrorKind::Usage`] if this thread was not started by `to_thread::run_sync`
///   (use [`run_sync_with_token`]), or if called on a trio loop's thread.
///
/// # Panics
///
/// If `f` panics, the panic is resumed here, in the calling thread.
///
/// # Examples
///
/// ```
/// # trio::run(async {
/// let loop_thread = std::thread::current().id();
/// let ran_on = trio::to_thread::run_sync(|| {
///     trio::from_thread::run_sync(|| std::thread::current().id())
/// }).await??;
/// assert_eq!(ran_on, loop_thread);
/// # Ok(()) }).unwrap();
/// ```
pub fn run_sync<F, T>(f: F) -> Result<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let parent = current_parent().ok_or_else(no_parent)?;
    refuse_on_trio_thread()?;
    let host = (!parent.abandon_on_cancel).then(|| parent.host.clone());
    call(&parent.token, host, |tx| sync_message(f, tx))
}

/// Runs the future made by `f` on the loop of `token`, in a new system task, and
/// blocks until it finishes (Trio's `from_thread.run(..., trio_token=token)`).
/// Works from any thread but the loop's own.
///
/// # Errors
///
/// * The future's own errors — among them `Cancelled` if the run shuts down
///   while it runs (system tasks are cancelled then).
/// * [`ErrorKind::RunFinished`] if the run has finished, or is finishing and
///   accepts no new system task.
/// * [`ErrorKind::Usage`] if called on a trio loop's thread (it would deadlock).
///
/// # Panics
///
/// If `f` or the future panics, the panic is resumed here, in the calling thread.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// # trio::run(async {
/// let token = trio::lowlevel::current_trio_token();
/// let t = std::thread::spawn(move || {
///     trio::from_thread::run_with_token(&token, || async {
///         trio::sleep(Duration::from_millis(1)).await?;
///         Ok("slept in trio")
///     })
/// });
/// // Wait for the plain thread without blocking the loop.
/// let r = trio::to_thread::run_sync(move || t.join().unwrap()).await?;
/// assert_eq!(r?, "slept in trio");
/// # Ok(()) }).unwrap();
/// ```
pub fn run_with_token<F, Fut, T>(token: &TrioToken, f: F) -> Result<T>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<T>> + 'static,
    T: Send + 'static,
{
    refuse_on_trio_thread()?;
    call(token, None, |tx| async_message(f, tx))?
}

/// Runs `f` on the loop of `token`, in a loop callback outside any task, and
/// blocks until it returns (Trio's `from_thread.run_sync(..., trio_token=token)`).
/// Works from any thread but the loop's own.
///
/// # Errors
///
/// * [`ErrorKind::RunFinished`] if the run has finished.
/// * [`ErrorKind::Usage`] if called on a trio loop's thread (it would deadlock).
///
/// # Panics
///
/// If `f` panics, the panic is resumed here, in the calling thread.
///
/// # Examples
///
/// ```
/// # trio::run(async {
/// let token = trio::lowlevel::current_trio_token();
/// let t = std::thread::spawn(move || {
///     trio::from_thread::run_sync_with_token(&token, || trio::current_time())
/// });
/// let now = trio::to_thread::run_sync(move || t.join().unwrap()).await??;
/// assert!(now <= trio::current_time());
///
/// // Once the run is over:
/// # Ok(()) }).unwrap();
/// let token = trio::run(async { Ok(trio::lowlevel::current_trio_token()) }).unwrap();
/// let err = trio::from_thread::run_sync_with_token(&token, || ()).unwrap_err();
/// assert_eq!(err.kind(), trio::ErrorKind::RunFinished);
/// ```
pub fn run_sync_with_token<F, T>(token: &TrioToken, f: F) -> Result<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    refuse_on_trio_thread()?;
    call(token, None, |tx| sync_message(f, tx))
}

/// Returns `Err(Cancelled)` if the task waiting in
/// [`to_thread::run_sync`](crate::to_thread::run_sync) for this thread has been
/// cancelled (Trio's `trio.from_thread.check_cancelled`).
///
/// The way for a long job to stop early: poll it between steps, and return the
/// error. Works with and without `abandon_on_cancel` — without it, the waiting
/// task keeps waiting, so returning early is how the job honours the
/// cancellation; with it, the task has already gone and the job can stop wasting
/// effort.
///
/// As in Trio, this reports a cancellation the waiting task has *seen* while
/// waiting, and keeps reporting it even if a shield raised later would hide it.
/// (Trio's waiting task sees it inside `cancel()` itself; here, when the task is
/// next scheduled after the cancel — one scheduling round later.)
///
/// # Errors
///
/// * `Cancelled` as above. Returned through the job's result, it reaches the
///   cancel scope that caused it, which swallows it.
/// * [`ErrorKind::Usage`] if this thread was not started by `to_thread::run_sync`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// # trio::run(async {
/// let r = trio::move_on_after(Duration::from_millis(5), async {
///     // Works in steps until cancelled; the scope swallows the cancellation.
///     trio::to_thread::run_sync(|| -> trio::Result<()> {
///         loop {
///             trio::from_thread::check_cancelled()?;
///             std::thread::sleep(Duration::from_millis(1)); // one step of work
///         }
///     }).await?
/// }).await?;
/// assert_eq!(r, None::<()>);
///
/// // Elsewhere it is a usage error.
/// assert_eq!(trio::from_thread::check_cancelled().unwrap_err().kind(), trio::ErrorKind::Usage);
/// # Ok(()) }).unwrap();
/// ```
pub fn check_cancelled() -> Result<()> {
    let parent = current_parent().ok_or_else(|| {
        Error::new(
            ErrorKind::Usage,
            "check_cancelled: this thread wasn't started by trio::to_thread::run_sync",
        )
    })?;
    match parent.host.cancelled() {
        Some(c) => Err(Error::from(c)),
        None => Ok(()),
    }
}

fn no_parent() -> Error {
    Error::new(
        ErrorKind::Usage,
        "this thread wasn't started by trio::to_thread::run_sync; \
         use run_with_token / run_sync_with_token",
    )
}

/// Answers "is a trio run active on this thread?" (a run-local value exists only
/// inside a run, on its thread).
static ON_TRIO_THREAD: RunVar<()> = RunVar::with_default("trio::from_thread probe", || ());

fn refuse_on_trio_thread() -> Result<()> {
    if ON_TRIO_THREAD.with(|_| ()).is_ok() {
        return Err(Error::new(
            ErrorKind::Usage,
            "trio::from_thread blocks the calling thread: call it from another thread, \
             not from a trio loop's thread",
        ));
    }
    Ok(())
}

fn run_finished() -> Error {
    Error::new(
        ErrorKind::RunFinished,
        "the trio run finished before the call from this thread could complete",
    )
}

/// Sends the message built by `make` to the loop and blocks for its reply.
fn call<R, M>(token: &TrioToken, host: Option<Arc<dyn Host>>, make: M) -> Result<R>
where
    R: Send + 'static,
    M: FnOnce(SyncSender<thread::Result<R>>) -> Message,
{
    let (tx, rx) = mpsc::sync_channel(1);
    dispatch(token, host, make(tx))?;
    match rx.recv() {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(panic)) => resume_unwind(panic),
        // The message was dropped unrun: the run (or its system nursery) is gone.
        Err(_) => Err(run_finished()),
    }
}

fn sync_message<F, T>(f: F, tx: SyncSender<thread::Result<T>>) -> Message
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    Box::new(move || {
        let _ = tx.send(catch_unwind(AssertUnwindSafe(f)));
        None
    })
}

fn async_message<F, Fut, T>(f: F, tx: SyncSender<thread::Result<Result<T>>>) -> Message
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<T>> + 'static,
    T: Send + 'static,
{
    Box::new(move || {
        let fut = match catch_unwind(AssertUnwindSafe(f)) {
            Ok(fut) => fut,
            Err(panic) => {
                let _ = tx.send(Err(panic));
                return None;
            }
        };
        Some(Box::pin(async move {
            let mut fut = pin!(fut);
            let outcome =
                poll_fn(
                    |cx| match catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
                        Ok(Poll::Pending) => Poll::Pending,
                        Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
                        Err(panic) => Poll::Ready(Err(panic)),
                    },
                )
                .await;
            let _ = tx.send(outcome);
        }))
    })
}
