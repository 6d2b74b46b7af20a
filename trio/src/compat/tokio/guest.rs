//! trio as a guest of a tokio runtime: a tokio application adopts trio one piece
//! at a time.
//!
//! [`spawn_guest`] starts a trio run in guest mode
//! ([`Runtime::start_guest`](crate::Runtime::start_guest)) on the current thread,
//! with a tokio *local* task as its host: the callbacks trio asks to run arrive
//! on an unbounded channel, and the local task runs them one after another. tokio
//! keeps the thread; trio's steps are tokio task polls among the others, and its
//! I/O waits happen on trio's helper thread, so the tokio loop never blocks on
//! trio. Like every `!Send` tokio work, it needs a `tokio::task::LocalSet` (or a
//! `current_thread` runtime driving one).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use ::tokio::sync::{mpsc, oneshot};

use crate::{Error, ErrorKind, GuestRun, Result, Runtime};

/// A trio run hosted by tokio, from [`spawn_guest`]: await it for the main
/// task's result. Dropping it cancels the run (which then ends in the
/// background).
///
/// # Examples
///
/// See [`spawn_guest`].
#[derive(Debug)]
#[must_use = "dropping the handle cancels the trio run"]
pub struct TokioGuest<T, E = Error> {
    result: oneshot::Receiver<std::result::Result<T, E>>,
    guest: GuestRun,
}

impl<T, E> TokioGuest<T, E> {
    /// Cancels the trio run's main task; awaiting the handle then gives its
    /// result (usually `Cancelled`).
    ///
    /// # Examples
    ///
    /// See [`spawn_guest`].
    pub fn cancel(&self) {
        self.guest.cancel();
    }

    /// Asks the trio run's main task to stop gracefully, cancelling what is left
    /// after `grace` ([`GuestRun::cancel_gracefully`]).
    ///
    /// # Examples
    ///
    /// ```
    /// # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    /// # tokio::task::LocalSet::new().block_on(&rt, async {
    /// let guest = trio::compat::tokio::spawn_guest(async {
    ///     trio::wait_stop_requested().await?;
    ///     Ok::<_, trio::Error>("stopped cleanly")
    /// })
    /// .unwrap();
    /// guest.cancel_gracefully(std::time::Duration::from_secs(5));
    /// assert_eq!(guest.await.unwrap(), "stopped cleanly");
    /// # });
    /// ```
    pub fn cancel_gracefully(&self, grace: Duration) {
        self.guest.cancel_gracefully(grace);
    }
}

impl<T, E> Drop for TokioGuest<T, E> {
    fn drop(&mut self) {
        self.guest.cancel();
    }
}

impl<T, E: From<Error>> Future for TokioGuest<T, E> {
    type Output = std::result::Result<T, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match Pin::new(&mut self.result).poll(cx) {
            Poll::Ready(Ok(r)) => Poll::Ready(r),
            // The host task was dropped (its LocalSet ended) before the run did.
            Poll::Ready(Err(_)) => Poll::Ready(Err(E::from(Error::new(
                ErrorKind::RunFinished,
                "the tokio task hosting the trio run ended before the run did",
            )))),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Starts `main` as a trio run hosted by tokio on the current thread, and returns
/// a handle to await its result. Everything trio does runs on this thread, as
/// tokio local tasks' polls; the trio run can use all of trio (nurseries, cancel
/// scopes, sockets, timers) while tokio's own tasks go on around it.
///
/// # Errors
///
/// Setting up the trio run ([`Runtime::start_guest`]).
///
/// # Panics
///
/// Outside a `tokio::task::LocalSet` (as `tokio::task::spawn_local`).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
/// tokio::task::LocalSet::new().block_on(&rt, async {
///     let guest = trio::compat::tokio::spawn_guest(async {
///         trio::sleep(Duration::from_millis(5)).await?;
///         trio::sleep_forever().await
///     })
///     .unwrap();
///     // tokio's own timer runs meanwhile; then the host stops trio.
///     tokio::time::sleep(Duration::from_millis(20)).await;
///     guest.cancel();
///     assert!(guest.await.unwrap_err().is_cancelled());
/// });
/// ```
pub fn spawn_guest<F, T, E>(main: F) -> Result<TokioGuest<T, E>>
where
    F: Future<Output = std::result::Result<T, E>> + 'static,
    T: 'static,
    E: From<Error> + 'static,
{
    spawn_guest_with(Runtime::new(), main)
}

/// [`spawn_guest`] with a configured trio runtime (a clock, instruments, a
/// graceful Ctrl-C, ...).
///
/// # Errors
///
/// As [`spawn_guest`].
///
/// # Panics
///
/// As [`spawn_guest`].
///
/// # Examples
///
/// ```
/// # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
/// # tokio::task::LocalSet::new().block_on(&rt, async {
/// let runtime = trio::Runtime::builder().seed(7).build();
/// let guest = trio::compat::tokio::spawn_guest_with(runtime, async {
///     Ok::<_, trio::Error>(trio::lowlevel::current_seed())
/// })
/// .unwrap();
/// assert_eq!(guest.await.unwrap(), 7);
/// # });
/// ```
pub fn spawn_guest_with<F, T, E>(runtime: Runtime, main: F) -> Result<TokioGuest<T, E>>
where
    F: Future<Output = std::result::Result<T, E>> + 'static,
    T: 'static,
    E: From<Error> + 'static,
{
    let (tx, mut rx) = mpsc::unbounded_channel::<Box<dyn FnOnce() + Send>>();
    let (done_tx, result) = oneshot::channel();
    // The host: a local task running trio's steps. It ends when trio drops its
    // last sender, at the end of the run.
    ::tokio::task::spawn_local(async move {
        while let Some(step) = rx.recv().await {
            step();
        }
    });
    let guest = runtime.start_guest(
        main,
        move |step| {
            let _ = tx.send(step);
        },
        move |r| {
            let _ = done_tx.send(r);
        },
    )?;
    Ok(TokioGuest { result, guest })
}
