//! [`until_stop_requested`]: run a future unless a graceful stop is requested
//! first — the building block of a server that stops taking new work.

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::task::Poll;

use crate::wait_stop_requested;

/// Runs `fut` and returns its output, unless the code running now is asked to
/// stop first ([`CancelScope::cancel_gracefully`](crate::CancelScope::cancel_gracefully)
/// on an enclosing scope): then `fut` is dropped and the result is `None`. A
/// stop already requested returns `None` without polling `fut`.
///
/// Use it around what takes *new* work — an `accept`, a `receive` from a job
/// queue — where dropping the future half-way loses nothing: trio's listeners
/// and channels are such futures (a dropped `accept` leaves the connection in
/// the kernel's queue; a dropped `receive` took nothing).
///
/// # Cancellation
///
/// As `fut`: an outright cancellation reaches `fut`'s own checkpoints (it is not
/// reported as a stop).
///
/// # Examples
///
/// A job loop that finishes the job it has and takes no new one:
///
/// ```
/// use std::time::Duration;
/// # trio::run(async {
/// let (tx, rx) = trio::open_memory_channel::<u32>(16);
/// let done = std::cell::Cell::new(0);
/// let (rx, done) = (&rx, &done);
/// trio::open_nursery(async |n| {
///     n.start_soon(async move {
///         while let Some(job) = trio::until_stop_requested(rx.receive()).await {
///             let _job = job?;
///             trio::sleep(Duration::from_millis(1)).await?; // the work
///             done.set(done.get() + 1);
///         }
///         Ok(())
///     })?;
///     for i in 0..3 {
///         tx.send(i).await?;
///     }
///     trio::testing::wait_all_tasks_blocked_with(Duration::from_millis(5)).await?;
///     n.cancel_scope().cancel_gracefully(Duration::from_secs(10));
///     Ok(())
/// })
/// .await?;
/// assert_eq!(done.get(), 3);
/// # Ok(()) }).unwrap();
/// ```
pub async fn until_stop_requested<F: Future>(fut: F) -> Option<F::Output> {
    // `stop_requested` is also true under an outright cancellation, which is
    // not a stop: `fut` hears that one at its own checkpoint.
    if crate::stop_requested() && crate::lowlevel::checkpoint_if_cancelled().is_ok() {
        return None;
    }
    let mut fut = pin!(fut);
    let mut stop = Some(wait_stop_requested());
    poll_fn(|cx| {
        if let Poll::Ready(v) = fut.as_mut().poll(cx) {
            return Poll::Ready(Some(v));
        }
        if let Some(s) = stop.as_mut() {
            match std::pin::Pin::new(s).poll(cx) {
                Poll::Ready(Ok(())) => return Poll::Ready(None),
                // Cancelled outright: `fut` hears it at its own checkpoint.
                Poll::Ready(Err(_)) => stop = None,
                Poll::Pending => {}
            }
        }
        Poll::Pending
    })
    .await
}
