//! Awaiting tokio futures from trio (feature `tokio`).
//!
//! Many crates only work under tokio: they expect tokio's reactor and timer in
//! the thread that polls them (reqwest, sqlx, tonic, anything built on
//! `tokio::net` or `tokio::time`). Polled from trio's loop they panic with
//! "there is no reactor running". [`run`] hands such a future to a tokio
//! runtime and waits, as a trio checkpoint, for its output:
//!
//! ```
//! use std::time::Duration;
//! # trio::run(async {
//! let n = trio::compat::tokio::run(async {
//!     tokio::time::sleep(Duration::from_millis(1)).await; // needs tokio's timer
//!     21 * 2
//! })
//! .await?;
//! assert_eq!(n, 42);
//! # Ok(()) }).unwrap();
//! ```
//!
//! # Why it is shaped this way
//!
//! **A background runtime.** The future must run where tokio is — on a tokio
//! thread — so it crosses threads: it must be `Send + 'static` (it cannot borrow
//! from the trio task; move owned data in, or clone an `Arc`). The runtime is
//! started on first use, once per process, and lives until the process exits: a
//! `multi_thread` runtime with one worker (tokio-only code is usually I/O bound,
//! and one worker keeps the cost at one mostly idle thread) and every driver
//! enabled. Install your own with [`init`] before first use, or use a runtime you
//! already have with [`run_with`].
//!
//! **Cancellation, as Trio would do it.** Trio's rule is that a cancelled
//! operation did not happen, and that nothing keeps running behind the caller's
//! back once the call has returned. A tokio future cannot be interrupted from
//! another thread, but it can be *aborted*: tokio drops it at its next `.await`
//! (or at once if it is idle). So when the trio scope is cancelled, [`run`]
//! aborts the tokio task and then **waits, uncancellably, until the abort has
//! taken effect** — until the future has been dropped on the tokio side, with
//! its destructors run — and only then returns `Err(Cancelled)`. This is
//! `to_thread::run_sync` without `abandon_on_cancel` (the thread is waited for),
//! with the improvement that the work is actually stopped. If the future had
//! already finished when the abort arrived, its output is returned: the work was
//! done, and the cancellation is delivered at the caller's next checkpoint, as
//! in Trio. A future that blocks its thread without awaiting delays the return
//! by as long.
//!
//! **Make tokio objects inside the future.** Many tokio constructors
//! (`tokio::time::sleep`, `timeout`, `TcpStream::from_std`, …) look for the
//! runtime when they are *called*, and the trio thread has none: write
//! `run(async { tokio::time::sleep(d).await })`, not `run(tokio::time::sleep(d))`,
//! or enter the background runtime first with [`handle`]`().enter()`.
//!
//! **Dropping** the future returned by [`run`] (the last-resort cancellation)
//! aborts the tokio task too, but cannot wait for it.
//!
//! **Panics** in the tokio future are caught by tokio and resumed in the trio
//! task (and so reach its nursery, as a panic of that task would).
//!
//! # The other way round: trio inside tokio
//!
//! [`spawn_guest`] runs trio as a *guest* of a tokio runtime (Trio's guest
//! mode): a tokio application that cannot give its thread to `trio::run` adopts
//! trio piece by piece, on the same thread, with trio's I/O waits on a helper
//! thread so that tokio's loop never blocks on them.

use std::future::Future;
use std::panic::resume_unwind;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};

use ::tokio::runtime::{Handle, Runtime};
use ::tokio::task::JoinHandle;

use crate::lowlevel::{CancelRegistration, checkpoint};

mod guest;
use crate::{Error, ErrorKind, Result};
pub use guest::{TokioGuest, spawn_guest, spawn_guest_with};

static RUNTIME: OnceLock<Runtime> = OnceLock::new();

fn runtime() -> &'static Runtime {
    RUNTIME.get_or_init(|| {
        ::tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("trio-compat-tokio")
            .enable_all()
            .build()
            .expect("trio::compat::tokio: could not start the background tokio runtime")
    })
}

/// Installs `runtime` as the background runtime that [`run`] and [`handle`]
/// use, instead of the default one (one worker thread). Call it before their
/// first use. The runtime then lives until the process exits.
///
/// # Errors
///
/// Gives `runtime` back if a background runtime is already in place.
///
/// # Examples
///
/// ```
/// let rt = tokio::runtime::Builder::new_multi_thread()
///     .worker_threads(2)
///     .enable_all()
///     .build()
///     .unwrap();
/// if trio::compat::tokio::init(rt).is_err() {
///     // Too late: the default runtime already started (fine in this example).
/// }
/// # trio::run(async { assert_eq!(trio::compat::tokio::run(async { 1 }).await?, 1); Ok(()) }).unwrap();
/// ```
pub fn init(runtime: Runtime) -> std::result::Result<(), Runtime> {
    RUNTIME.set(runtime)
}

/// A handle to the background runtime, starting it if needed: to spawn on it, or
/// to enter its context (`handle().enter()`) for constructors that look for a
/// tokio runtime.
///
/// # Panics
///
/// If the runtime cannot be started (the system refused a thread).
///
/// # Examples
///
/// ```
/// let handle = trio::compat::tokio::handle();
/// let _guard = handle.enter(); // tokio::net and tokio::time work on this thread now
/// let sleep = tokio::time::sleep(std::time::Duration::from_millis(1));
/// # drop(sleep);
/// ```
pub fn handle() -> Handle {
    runtime().handle().clone()
}

/// Runs `fut` on the background tokio runtime and waits for its output (a
/// checkpoint). See the [module docs](self) for the reasoning.
///
/// # Errors
///
/// `Cancelled` if the enclosing scope is cancelled — after the tokio task has
/// been aborted and its future dropped; [`ErrorKind::BrokenResource`] if the
/// runtime shut down before the future finished.
///
/// # Cancellation
///
/// A checkpoint. If already cancelled, `fut` is not started. Once started,
/// cancellation aborts the tokio task and waits until the future is dropped
/// (its destructors have run) before returning `Err(Cancelled)`; if the future
/// finished first, its output is returned instead.
///
/// # Panics
///
/// A panic of `fut` (or of its destructor during the abort) is resumed here.
/// Panics if the background runtime cannot be started.
///
/// # Examples
///
/// Cancellation reaches the tokio side before `run` returns:
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::time::Duration;
///
/// struct SetOnDrop(Arc<AtomicBool>);
/// impl Drop for SetOnDrop {
///     fn drop(&mut self) { self.0.store(true, Ordering::SeqCst); }
/// }
///
/// # trio::run(async {
/// let dropped = Arc::new(AtomicBool::new(false));
/// let guard = SetOnDrop(dropped.clone());
/// let r = trio::move_on_after(Duration::from_millis(10), trio::compat::tokio::run(async move {
///     let _guard = guard;
///     tokio::time::sleep(Duration::from_secs(3600)).await;
/// }))
/// .await?;
/// assert!(r.is_none());
/// assert!(dropped.load(Ordering::SeqCst)); // already dropped on the tokio thread
/// # Ok(()) }).unwrap();
/// ```
pub async fn run<F>(fut: F) -> Result<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    run_with(runtime().handle(), fut).await
}

/// [`run`] on the runtime of `handle` (one you already have).
///
/// # Errors
///
/// As [`run`].
///
/// # Cancellation
///
/// As [`run`].
///
/// # Panics
///
/// A panic of `fut` is resumed here.
///
/// # Examples
///
/// ```
/// let rt = tokio::runtime::Builder::new_multi_thread()
///     .worker_threads(1)
///     .thread_name("my-tokio")
///     .enable_all()
///     .build()
///     .unwrap();
/// let handle = rt.handle().clone();
/// trio::run(async move {
///     let here = trio::compat::tokio::run_with(&handle, async {
///         std::thread::current().name().map(str::to_owned)
///     })
///     .await?;
///     assert_eq!(here.as_deref(), Some("my-tokio"));
///     Ok(())
/// })
/// .unwrap();
/// ```
pub async fn run_with<F>(handle: &Handle, fut: F) -> Result<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    checkpoint().await?;
    Join {
        task: handle.spawn(fut),
        cancel: CancelRegistration::new(),
        cancelled: None,
        done: false,
    }
    .await
}

/// Waits for a tokio task; aborts it (and goes on waiting) on cancellation.
struct Join<T> {
    task: JoinHandle<T>,
    cancel: CancelRegistration,
    /// The cancellation that made us abort, to return once the abort is done.
    cancelled: Option<Error>,
    done: bool,
}

impl<T> Future for Join<T> {
    type Output = Result<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        let this = &mut *self;
        if this.cancelled.is_none() {
            if let Poll::Ready(e) = this.cancel.poll_cancelled(cx) {
                this.task.abort();
                this.cancelled = Some(e);
            }
        }
        let out = match Pin::new(&mut this.task).poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(out) => out,
        };
        this.done = true;
        this.cancel.clear();
        Poll::Ready(match out {
            Ok(v) => Ok(v),
            Err(e) if e.is_panic() => resume_unwind(e.into_panic()),
            Err(_) => match this.cancelled.take() {
                Some(cancelled) => Err(cancelled),
                None => Err(Error::new(
                    ErrorKind::BrokenResource,
                    "the tokio runtime shut down before the future finished",
                )),
            },
        })
    }
}

impl<T> Drop for Join<T> {
    fn drop(&mut self) {
        if !self.done {
            self.task.abort();
        }
    }
}
