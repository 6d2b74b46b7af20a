//! [`TrioExecutor`]: hyper's background tasks as children of a nursery.

use std::fmt;
use std::future::Future;

use crate::Nursery;

/// hyper's [`Executor`](hyper::rt::Executor) for trio: every future hyper spawns
/// becomes a child of a [`Nursery`] (hyper-util's `TokioExecutor`, but
/// structured).
///
/// hyper spawns tasks for HTTP/2 only: one per request stream on a server, the
/// connection and request-body pumps on a client. Give each connection its own
/// nursery (as [`Http::serve_connection`](super::Http::serve_connection) and
/// [`http::request`](super::request) do) and the connection's tasks live and die
/// with it: cancelling the nursery cancels them, and the nursery does not return
/// while one is still running. The futures may borrow anything the nursery's
/// children may (`'env`), and need not be `Send`.
///
/// A task is named `"hyper"`. Its output is discarded (hyper's tasks return `()`).
/// If the nursery has already closed, the future is dropped unpolled, which hyper
/// sees as the stream ending.
///
/// # Examples
///
/// ```
/// use hyper::rt::Executor;
/// use std::cell::Cell;
/// # trio::run(async {
/// let ran = Cell::new(false);
/// let r = &ran;
/// trio::open_nursery(async |n| {
///     let exec = trio::http::TrioExecutor::new(n);
///     exec.execute(async move { r.set(true) });
///     Ok(())
/// })
/// .await?;
/// assert!(ran.get());
/// # Ok(()) }).unwrap();
/// ```
#[derive(Clone)]
pub struct TrioExecutor<'env> {
    nursery: Nursery<'env>,
}

impl<'env> TrioExecutor<'env> {
    /// An executor that starts its tasks in `nursery`.
    ///
    /// # Examples
    ///
    /// See [`TrioExecutor`].
    pub fn new(nursery: &Nursery<'env>) -> TrioExecutor<'env> {
        TrioExecutor {
            nursery: nursery.clone(),
        }
    }

    /// The nursery the tasks go to.
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// trio::open_nursery(async |n| {
    ///     let exec = trio::http::TrioExecutor::new(n);
    ///     assert_eq!(exec.nursery().info(), n.info());
    ///     Ok(())
    /// })
    /// .await
    /// # }).unwrap();
    /// ```
    pub fn nursery(&self) -> &Nursery<'env> {
        &self.nursery
    }
}

impl fmt::Debug for TrioExecutor<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrioExecutor")
            .field("nursery", &self.nursery)
            .finish()
    }
}

impl<'env, F> hyper::rt::Executor<F> for TrioExecutor<'env>
where
    F: Future + 'env,
{
    fn execute(&self, fut: F) {
        // A closed nursery: nowhere to run it; dropping it ends hyper's stream.
        let _ = self.nursery.start_soon_named("hyper", async move {
            fut.await;
            Ok(())
        });
    }
}
