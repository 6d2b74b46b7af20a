//! [`open_nursery`], and [`Driver`], the future that drives a nursery from its
//! body's first poll to its result.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use super::super::context::{self, PollGuard};
use super::super::wait::{self, RawWait};
use super::Nursery;
use super::state::{AbandonOnDrop, MAX_INLINE_BATCHES, NurseryState};
use crate::error::{Error, Result};

/// Opens a nursery, runs `body` with it, and returns when the body *and every child*
/// have finished (Trio's `open_nursery`).
///
/// The body and the children run inside the nursery's cancel scope: if the body or
/// any child fails, the scope is cancelled, so everyone else sees `Err(Cancelled)` at
/// their next checkpoint; then all errors come out together.
///
/// Returns `Ok(Some(v))` with the body's value, or `Ok(None)` when the body did not
/// produce one because the nursery's own scope was cancelled (by
/// [`n.cancel_scope().cancel()`](Nursery::cancel_scope)) and caught the body's
/// `Cancelled` — the way [`CancelScope::run`](crate::CancelScope::run) reports the cancellation it caught.
/// This is what makes the idiomatic way to stop everything in a nursery correct
/// with the code everyone writes: the body passes the cancellation on with `?`,
/// the nursery swallows it, and `open_nursery(...).await?` simply goes on after
/// the block, as Trio's `async with` does. With a body that returns `()`, the
/// `Option<()>` can be ignored; in a function whose last expression the nursery
/// is, write `open_nursery(...).await?; Ok(())` (or `.await.map(drop)`).
///
/// As at any cancel scope's exit, the nursery's scope reports
/// [`cancelled_caught`](crate::CancelScope::cancelled_caught) once it swallowed a
/// cancellation it caused (a failing child's, or an explicit cancel's).
///
/// # Errors
///
/// The body's error and every child's error: one error as itself, several as an
/// [`ErrorKind::Group`](crate::ErrorKind::Group). The cancellations the nursery caused itself are removed.
///
/// # Cancellation
///
/// Cancelling an enclosing scope cancels the body and all children; the nursery
/// still waits for them all to finish before returning, and then returns that
/// cancellation (it is the enclosing scope's to catch).
///
/// # Panics
///
/// A panic in the body or a child cancels the rest and is resumed here once every
/// child has finished.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// # trio::run(async {
/// let r = trio::open_nursery(async |n| {
///     n.start_soon(async { Err(trio::Error::new(trio::ErrorKind::Other, "boom")) })?;
///     n.start_soon(async { trio::sleep(Duration::from_secs(3600)).await })?; // cancelled
///     Ok(())
/// }).await;
/// assert_eq!(r.unwrap_err().to_string(), "boom");
/// # Ok(()) }).unwrap();
/// ```
///
/// Stopping everything from inside: cancel the nursery's scope. The body, blocked
/// at that moment, gets `Err(Cancelled)` and passes it on with `?`; the nursery
/// catches it and the code after the block runs:
///
/// ```
/// # trio::run(async {
/// let value = trio::open_nursery(async |n| {
///     n.start_soon(trio::sleep_forever())?; // a server, say
///     let scope = n.cancel_scope();
///     n.start_soon(async move {
///         trio::testing::wait_all_tasks_blocked().await?; // "time to stop"
///         scope.cancel();
///         Ok(())
///     })?;
///     trio::sleep_forever().await?; // cancelled here
///     Ok("never reached")
/// })
/// .await?;
/// assert_eq!(value, None); // the body was stopped before it had a value
/// # Ok(()) }).unwrap();
/// ```
pub async fn open_nursery<'env, B, T>(body: B) -> Result<Option<T>>
where
    B: for<'n> AsyncFnOnce(&'n Nursery<'env>) -> Result<T>,
{
    let state: Rc<NurseryState<'env>> = NurseryState::open()?;
    let _guard = AbandonOnDrop(state.clone());
    let nursery = Nursery::new(state);
    let body = std::pin::pin!(body(&nursery));
    Driver {
        state: &nursery.state,
        body,
        phase: Phase::Body {
            waits_on: RawWait::OTHER,
        },
    }
    .await
}

/// Where a nursery is in its life.
enum Phase<T> {
    /// The body runs; `waits_on` is what it waits on (from its last poll, see
    /// `wait.rs`), which is what the parent task waits on meanwhile.
    Body { waits_on: RawWait },
    /// The body has finished (with `value` if it succeeded); the children may not
    /// have. `yielded`: Trio's leaving a nursery is a schedule point even when there
    /// is nothing to wait for, so the nursery has returned `Pending` once since.
    Children { value: Option<T>, yielded: bool },
}

/// Drives an open nursery to its end: polls the body and the batches of ready
/// children, and, once all have finished, turns what they left behind into the
/// nursery's result.
struct Driver<'a, 'env, F, T> {
    state: &'a Rc<NurseryState<'env>>,
    body: Pin<&'a mut F>,
    phase: Phase<T>,
}

// Nothing in a `Driver` is pinned: the body is behind a `Pin<&mut F>`, and the
// body's value is moved out of `phase` by value.
impl<F, T> Unpin for Driver<'_, '_, F, T> {}

impl<'env, F, T> Driver<'_, 'env, F, T>
where
    F: Future<Output = Result<T>>,
{
    /// Polls the body once, as part of the parent task, under the nursery's scope.
    fn poll_body(&mut self, cx: &mut Context<'_>) {
        let Phase::Body { waits_on } = &mut self.phase else {
            return;
        };
        let state = self.state;
        let polled = {
            let _g = PollGuard::status(&state.core.scope);
            catch_unwind(AssertUnwindSafe(|| self.body.as_mut().poll(cx)))
        };
        let value = match polled {
            Ok(Poll::Pending) => {
                *waits_on = wait::get(cx);
                return;
            }
            Ok(Poll::Ready(Ok(v))) => Some(v),
            Ok(Poll::Ready(Err(e))) => {
                context::with_current_task(|t| state.add_error(e, t));
                None
            }
            Err(p) => {
                context::with_current_task(|t| state.add_panic(p, t));
                None
            }
        };
        self.phase = Phase::Children {
            value,
            yielded: false,
        };
    }

    /// Everything has finished: the nursery's result.
    fn finish(&mut self, value: Option<T>) -> Result<Option<T>> {
        let state = self.state;
        let scope = &state.core.scope;
        let catchable = scope.effectively_cancelled() && !scope.parent_cancellation_visible();
        state.close();
        if let Some(p) = state.take_panic() {
            resume_unwind(p);
        }
        let mut errors = state.take_errors();
        if catchable {
            // The cancellations the nursery's own scope caused end here, as they
            // would at any scope's exit (Trio: `cancelled_caught`).
            errors = errors
                .into_iter()
                .filter_map(|e| {
                    if e.cancelled().is_some() {
                        scope.set_cancelled_caught();
                    }
                    e.strip_cancelled_inner()
                })
                .collect();
        }
        match Error::group(errors) {
            Some(e) => Err(e),
            // No value and no error: the body's cancellation was caught.
            None => Ok(value),
        }
    }
}

impl<'env, F, T> Future for Driver<'_, 'env, F, T>
where
    F: Future<Output = Result<T>>,
{
    type Output = Result<Option<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let state = this.state;
        let core = &state.core;
        core.set_parent_waker(cx.waker());
        core.polling.set(true);
        let batch = core.take_batch();
        // The body is part of the parent task and the batch holds the children: in
        // Trio they would all be in one batch, in either order, so the seed decides
        // whether the body goes before or after the children this time.
        let body_running = matches!(this.phase, Phase::Body { .. });
        let children_first = !batch.is_empty()
            && body_running
            && context::with_runner(|r| r.coin()).unwrap_or(false);
        if children_first {
            state.run_batch(&batch);
        }
        this.poll_body(cx);
        if !children_first {
            state.run_batch(&batch);
        }
        core.return_batch(batch);
        // The loop's fast path: while this nursery's children are the only runnable
        // tasks and the run loop has nothing to do between batches, run the next
        // batch here instead of unwinding to the loop (see `Runner::quiet_for`).
        let mut extra = 0;
        while extra < MAX_INLINE_BATCHES
            && core.has_ready()
            && context::with_runner(|r| r.quiet_for(core.ready_len())).unwrap_or(false)
        {
            let batch = core.take_batch();
            state.run_batch(&batch);
            core.return_batch(batch);
            extra += 1;
        }
        core.polling.set(false);
        let all_done = state.is_empty() && core.pending_starts.get() == 0;
        match &mut this.phase {
            Phase::Children { value, yielded } if all_done => {
                if !*yielded {
                    *yielded = true;
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                let value = value.take();
                return Poll::Ready(this.finish(value));
            }
            Phase::Children { yielded, .. } => {
                *yielded = true;
                wait::set(cx, RawWait::nursery(core.id));
            }
            Phase::Body { waits_on } => wait::set(cx, *waits_on),
        }
        if core.has_ready() {
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }
}
