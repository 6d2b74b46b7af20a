//! Running blocking code on worker threads (Trio's `trio.to_thread`).
//!
//! ```
//! # trio::run(async {
//! // A blocking call, pushed off the run loop's thread:
//! let n = trio::to_thread::run_sync(|| std::fs::read_dir(".").map(|d| d.count())).await??;
//! assert!(n > 0);
//! # Ok(()) }).unwrap();
//! ```
//!
//! # What a call costs, and batching
//!
//! A round trip — hand a closure to a worker, run it, wake the task with its
//! result — is two cross-thread hand-offs, so its cost is that of waking threads,
//! and it depends on what else the machine does. Measured with the benchmark
//! suite (`cargo run --release -p trio-bench -- --only
//! to_thread,to_thread_batched,to_thread_cold --runtimes trio --runs 5`: median
//! [min–max]; AMD EPYC VM with 2 vCPUs, cpuidle driver `haltpoll`; "quiet":
//! load average 0.8; "busy": other builds running, load average 1.7, plus two or
//! four CPU-bound shell loops `while :; do :; done`):
//!
//! | calls one after the other, trivial work | quiet | builds running | + 2 busy loops | + 4 busy loops |
//! |---|---:|---:|---:|---:|
//! | one item per call (`to_thread`), per call | 2.5 µs [2.2–2.7] | 2.3 µs [1.8–2.8] | 6.2 µs [4.3–8.5] | 14 µs [11–63] |
//! | 100 items per call (`to_thread_batched`), per item | 23 ns [19–26] | 21 ns [19–31] | 47 ns [45–251] | 228 ns [75–607] |
//! | one call after a 0.5 ms pause (`to_thread_cold`) | 73 µs [71–75] | 66 µs [63–73] | 61 µs [36–97] | 200 µs [158–271] |
//!
//! The first row is the good case: a worker that finishes a job watches for the
//! next one for 50 µs before it sleeps, so back-to-back calls find it awake — as
//! long as a core is free for it. When the worker has gone to sleep (third row),
//! the call pays for waking a halted vCPU. So a call pays off for work of tens
//! of microseconds or more; for short items — a line to hash, a record to parse
//! — **batch**: one call per few hundred items, not one per item. One call per
//! line of a file makes a pipeline several times slower than doing the work on
//! the loop; one call per batch costs next to nothing:
//!
//! ```
//! # fn checksum(line: &str) -> u64 { line.bytes().map(u64::from).sum() }
//! # trio::run(async {
//! let text: String = (0..10_000).map(|i| format!("line {i}\n")).collect();
//! let lines: Vec<String> = text.lines().map(str::to_owned).collect();
//! let mut total = 0u64;
//! // 500 lines per trip to a worker thread, not one.
//! for batch in lines.chunks(500) {
//!     let batch = batch.to_vec(); // the closure must own what it works on
//!     total += trio::to_thread::run_sync(move || batch.iter().map(|l| checksum(l)).sum::<u64>())
//!         .await?;
//! }
//! assert_eq!(total, lines.iter().map(|l| checksum(l)).sum::<u64>());
//! # Ok(()) }).unwrap();
//! ```
//!
//! For work that is CPU-bound all the time rather than blocking, several loops
//! ([`run_loops`](crate::run_loops)) may serve better (see [`loops`](crate::loops)).
//!
//! # Why it is built this way
//!
//! A trio run is one thread. Anything that blocks that thread — a file-system call,
//! a DNS lookup through the C library, a long computation, a foreign library with a
//! synchronous API — stalls every task of the run. [`run_sync`] moves such a call to
//! another thread and suspends only the calling task until it is done.
//!
//! **A cache of threads, not a pool.** Starting an OS thread costs tens of
//! microseconds, so workers are reused: a worker that finishes a job waits for the
//! next one and retires after about 10 seconds without work (Trio's thread cache,
//! `_thread_cache.py`). The cache is shared by the whole process (threads are a
//! process resource, and several runs may live side by side) and has no size of its
//! own: a fixed-size pool deadlocks as soon as threads wait for each other — say, a
//! worker calls back into trio with [`from_thread::run`](crate::from_thread::run),
//! and the task it runs calls `to_thread::run_sync` again. A worker marks itself idle
//! *before* it reports its result, so that a task running one call after another is
//! served by one thread, not by a new thread per call.
//!
//! **Limits belong to a [`CapacityLimiter`].** How many threads run at once is
//! decided per call by a limiter: by default the run's own, 40 tokens
//! ([`current_default_thread_limiter`], a [`RunVar`], so
//! each run has its own), or one you pass to [`Builder::limiter`]. The token is
//! borrowed on behalf of a fresh [`Borrower`] that stands for the thread (Trio's
//! `ThreadPlaceholder`) and is given back only when the thread has *really*
//! finished — so the limiter bounds running threads, not waiting tasks, even when
//! tasks stop waiting early.
//!
//! **Cancellation is a choice, made per call.** No OS offers a general way to stop
//! an arbitrary function running in a thread. Once the thread has started, either
//! the caller keeps waiting (the default): the call is not cancellable, its result
//! is returned, and the cancellation is reported by the task's *next* checkpoint —
//! the operation did happen, so it must not be reported as cancelled. Or, with
//! [`Builder::abandon_on_cancel`], the caller gets `Err(Cancelled)` at once and the
//! thread is left to finish on its own; its result (or panic) is discarded, and its
//! limiter token is returned when it finishes (never, if the run ends first). Use
//! that only for work without side effects worth waiting for.
//!
//! **How results come back.** The worker runs the function under `catch_unwind`,
//! then hands the outcome to [`TrioToken::run_sync_soon`]: the callback runs on the
//! loop thread, returns the limiter token, stores the outcome in the call's slot and
//! wakes the waiting task, which returns the value or resumes the panic. The limiter
//! is `Rc`-based, so the callback — which must be `Send` — carries only an id and
//! the outcome; the token's bookkeeping waits in a run-local table (and is dropped
//! with the run if an abandoned thread outlives it).
//!
//! **The wait is an ordinary trio suspension**: a
//! [`CancelRegistration`] with the task's
//! cancel status, plus a waker in the call's slot. Cancellation wakes it;
//! [`wait_all_tasks_blocked`](crate::testing::wait_all_tasks_blocked) sees it
//! blocked; nothing polls.
//!
//! **Coming back to trio.** While a worker runs, a thread-local records its call,
//! which is how [`from_thread`](crate::from_thread) finds the loop. Without
//! `abandon_on_cancel`, the waiting task itself runs what the thread sends it (so it
//! runs under that task's cancel scopes, as in Trio); with it, a system task does.
//!
//! # Alternatives not taken
//!
//! * A new thread per call: simple, but the start-up cost dominates short calls.
//! * tokio's `spawn_blocking` handle, which detaches the thread when dropped: that
//!   is `abandon_on_cancel` for everybody, including writes whose completion the
//!   caller needs to know about.
//! * Borrowing the limiter (`&CapacityLimiter`): an abandoned thread gives its token
//!   back after the caller has returned, so the call must own a handle to it —
//!   hence `Rc<CapacityLimiter>`.

mod host;
mod thread_cache;

pub(crate) use host::{Host, Message, current_parent, dispatch};

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::thread;

use crate::lowlevel::{
    CancelRegistration, ParkingLot, RunVar, TrioToken, checkpoint, current_trio_token,
};
use crate::sync::{Borrower, CapacityLimiter};
use crate::{Cancelled, Error, ErrorKind, Result};

use host::{LocalFuture, Parent, ParentGuard};

/// Tokens of the default limiter of each run (Trio's `DEFAULT_LIMIT`).
const DEFAULT_LIMIT: usize = 40;

/// The loop-side state of threads in one run.
struct RunThreads {
    default_limiter: Rc<CapacityLimiter>,
    /// Tokens held by running threads: call id -> (limiter, the thread's borrower).
    loans: RefCell<HashMap<u64, (Rc<CapacityLimiter>, Borrower)>>,
    next_id: Cell<u64>,
    /// Threads started and not yet finished (abandoned ones included).
    active: Cell<usize>,
    /// Tasks in `wait_all_threads_completed`.
    idle: ParkingLot,
}

static RUN_THREADS: RunVar<Rc<RunThreads>> = RunVar::with_default("trio::to_thread", || {
    Rc::new(RunThreads {
        default_limiter: Rc::new(CapacityLimiter::new(DEFAULT_LIMIT)),
        loans: RefCell::new(HashMap::new()),
        next_id: Cell::new(0),
        active: Cell::new(0),
        idle: ParkingLot::new(),
    })
});

fn run_threads() -> Result<Rc<RunThreads>> {
    RUN_THREADS.get()
}

impl RunThreads {
    /// A thread finished (or never started): returns its token.
    fn finished(&self, id: u64) {
        let loan = self.loans.borrow_mut().remove(&id);
        if let Some((limiter, borrower)) = loan {
            let _ = limiter.release_on_behalf_of(&borrower);
        }
        let n = self.active.get().saturating_sub(1);
        self.active.set(n);
        if n == 0 {
            self.idle.unpark_all();
        }
    }
}

/// The default [`CapacityLimiter`] of [`run_sync`]: one per run, with 40 tokens
/// (Trio's `current_default_thread_limiter`).
///
/// Change its size with [`CapacityLimiter::set_total_tokens`] to allow more (or
/// fewer) threads at once for every call that does not bring its own limiter —
/// including the [`fs`](crate::fs) functions.
///
/// # Panics
///
/// Outside [`trio::run`](crate::run).
///
/// # Examples
///
/// ```
/// # trio::run(async {
/// let limiter = trio::to_thread::current_default_thread_limiter();
/// assert_eq!(limiter.total_tokens(), 40);
/// limiter.set_total_tokens(4); // for the rest of this run
/// assert_eq!(trio::to_thread::current_default_thread_limiter().total_tokens(), 4);
/// # Ok(()) }).unwrap();
/// // Each run has its own.
/// # trio::run(async {
/// assert_eq!(trio::to_thread::current_default_thread_limiter().total_tokens(), 40);
/// # Ok(()) }).unwrap();
/// ```
pub fn current_default_thread_limiter() -> Rc<CapacityLimiter> {
    run_threads()
        .expect("current_default_thread_limiter called outside trio::run")
        .default_limiter
        .clone()
}

/// Worker threads of this run still running a function: started by [`run_sync`]
/// and not finished, abandoned ones included (Trio's
/// `trio.testing.active_thread_count`).
///
/// Unlike Trio, which stops counting a call when it returns, a thread abandoned by
/// a cancelled call counts until it really finishes.
///
/// # Panics
///
/// Outside [`trio::run`](crate::run).
///
/// # Examples
///
/// ```
/// use std::sync::mpsc;
/// # trio::run(async {
/// assert_eq!(trio::to_thread::active_thread_count(), 0);
/// let (tx, rx) = mpsc::channel::<()>();
/// trio::open_nursery(async |n| {
///     n.start_soon(async move { trio::to_thread::run_sync(move || rx.recv()).await.map(drop) })?;
///     trio::testing::wait_all_tasks_blocked().await?;
///     assert_eq!(trio::to_thread::active_thread_count(), 1);
///     tx.send(()).unwrap();
///     Ok(())
/// }).await?;
/// assert_eq!(trio::to_thread::active_thread_count(), 0);
/// # Ok(()) }).unwrap();
/// ```
pub fn active_thread_count() -> usize {
    run_threads()
        .expect("active_thread_count called outside trio::run")
        .active
        .get()
}

/// Waits until no worker thread of this run is running a function (Trio's
/// `trio.testing.wait_all_threads_completed`). Threads abandoned by cancelled
/// calls count until they really finish.
///
/// # Errors
///
/// `Cancelled`; [`ErrorKind::Usage`] outside trio.
///
/// # Cancellation
///
/// A checkpoint.
///
/// # Examples
///
/// ```
/// use std::sync::mpsc;
/// use std::time::Duration;
/// # trio::run(async {
/// let (tx, rx) = mpsc::channel::<()>();
/// // Abandoned by its deadline, the thread goes on...
/// let r = trio::move_on_after(Duration::from_millis(10), async {
///     trio::to_thread::Builder::new()
///         .abandon_on_cancel(true)
///         .run_sync(move || rx.recv())
///         .await
/// }).await?;
/// assert!(r.is_none());
/// assert_eq!(trio::to_thread::active_thread_count(), 1);
/// // ...until it is released.
/// tx.send(()).unwrap();
/// trio::to_thread::wait_all_threads_completed().await?;
/// assert_eq!(trio::to_thread::active_thread_count(), 0);
/// # Ok(()) }).unwrap();
/// ```
pub async fn wait_all_threads_completed() -> Result<()> {
    checkpoint().await?;
    let threads = run_threads()?;
    while threads.active.get() != 0 {
        threads.idle.park().await?;
    }
    Ok(())
}

/// Runs `f` on a worker thread and waits for its result, without blocking the
/// run loop (Trio's `trio.to_thread.run_sync`), with the default options: the
/// run's default limiter, and no abandoning on cancellation. See [`Builder`] for
/// the options.
///
/// The worker is one of a cache of reused threads. While it runs `f`,
/// [`from_thread::run`](crate::from_thread::run) and
/// [`from_thread::run_sync`](crate::from_thread::run_sync) called from it run
/// code back in this task, and [`from_thread::check_cancelled`] tells it whether
/// this call was cancelled.
///
/// A function that returns a `Result` gives a nested one: `run_sync(f).await??`.
///
/// [`from_thread::check_cancelled`]: crate::from_thread::check_cancelled
///
/// # Errors
///
/// * `Cancelled` if the task is cancelled before the thread starts (also while
///   waiting for a limiter token); nothing ran.
/// * [`ErrorKind::Io`] if no thread could be started.
/// * [`ErrorKind::Usage`] outside trio.
///
/// # Cancellation
///
/// A checkpoint before the thread starts. Once it has started, the call cannot be
/// cancelled: it waits for `f` to finish and returns its result; the cancellation
/// is reported by the task's next checkpoint. (Use
/// [`Builder::abandon_on_cancel`] to stop waiting instead.) If the future is
/// dropped, the thread runs on and its result is discarded.
///
/// # Panics
///
/// If `f` panics, the panic is resumed here, in the calling task.
///
/// # Examples
///
/// ```
/// # trio::run(async {
/// let loop_thread = std::thread::current().id();
/// let (sum, worker) = trio::to_thread::run_sync(|| {
///     ((1..=100u32).sum::<u32>(), std::thread::current().id())
/// }).await?;
/// assert_eq!(sum, 5050);
/// assert_ne!(worker, loop_thread);
/// # Ok(()) }).unwrap();
/// ```
///
/// A panic comes back to the caller:
///
/// ```should_panic
/// # trio::run(async {
/// trio::to_thread::run_sync(|| panic!("boom")).await?;
/// # Ok(()) }).unwrap();
/// ```
pub async fn run_sync<F, T>(f: F) -> Result<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    Builder::new().run_sync(f).await
}

/// Options of a [`run_sync`] call (Trio's `thread_name`, `abandon_on_cancel` and
/// `limiter` keyword arguments).
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use trio::sync::CapacityLimiter;
/// use trio::to_thread::Builder;
/// # trio::run(async {
/// let disk = Rc::new(CapacityLimiter::new(2)); // at most two disk threads
/// let len = Builder::new()
///     .limiter(disk.clone())
///     .abandon_on_cancel(false)
///     .name("disk reader")
///     .run_sync(|| std::fs::metadata(".").map(|m| m.is_dir()))
///     .await??;
/// assert!(len);
/// assert_eq!(disk.borrowed_tokens(), 0); // given back when the thread finished
/// # Ok(()) }).unwrap();
/// ```
#[derive(Clone, Default)]
#[must_use = "a Builder does nothing until `run_sync` is awaited"]
pub struct Builder {
    limiter: Option<Rc<CapacityLimiter>>,
    abandon_on_cancel: bool,
    name: Option<String>,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("limiter", &self.limiter)
            .field("abandon_on_cancel", &self.abandon_on_cancel)
            .field("name", &self.name)
            .finish()
    }
}

impl Builder {
    /// The default options: the run's default limiter, no abandoning, no name.
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// assert_eq!(trio::to_thread::Builder::new().run_sync(|| 7).await?, 7);
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Limits threads with `limiter` instead of the run's default one
    /// ([`current_default_thread_limiter`]). A token is borrowed before the thread
    /// starts and given back when it finishes.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::rc::Rc;
    /// use trio::sync::CapacityLimiter;
    /// # trio::run(async {
    /// let closed = Rc::new(CapacityLimiter::new(0)); // lets nobody through
    /// let r = trio::move_on_after(std::time::Duration::from_millis(5), async {
    ///     trio::to_thread::Builder::new().limiter(closed.clone()).run_sync(|| ()).await
    /// }).await?;
    /// assert!(r.is_none()); // it waited for a token, and was cancelled waiting
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn limiter(mut self, limiter: Rc<CapacityLimiter>) -> Builder {
        self.limiter = Some(limiter);
        self
    }

    /// If `yes`, a cancellation after the thread has started returns
    /// `Err(Cancelled)` at once and abandons the thread: it runs on, its result or
    /// panic is discarded, and its limiter token is given back only when it
    /// finishes (never, if the run ends first). Off by default: the call then
    /// waits for the thread whatever happens.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use std::time::Duration;
    /// # trio::run(async {
    /// let (tx, rx) = mpsc::channel::<()>();
    /// let r = trio::move_on_after(Duration::from_millis(5), async {
    ///     trio::to_thread::Builder::new()
    ///         .abandon_on_cancel(true)
    ///         .run_sync(move || rx.recv()) // blocks until we send
    ///         .await
    /// }).await?;
    /// assert!(r.is_none()); // cancelled while the thread still blocks
    /// tx.send(()).unwrap(); // let it finish
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn abandon_on_cancel(mut self, yes: bool) -> Builder {
        self.abandon_on_cancel = yes;
        self
    }

    /// Names the OS thread while it runs the function (Trio's `thread_name`), as
    /// tools like `ps -eT`, `top -H` and debuggers show it: ASCII, other
    /// characters replaced by `?`, cut to 15 bytes. The worker takes its own name
    /// (`trio thread N`) back afterwards. `std::thread::current().name()` keeps
    /// showing the worker's own name. Without this, threads are not renamed
    /// (renaming costs a system call).
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// let name = trio::to_thread::Builder::new()
    ///     .name("fetch config")
    ///     .run_sync(|| std::fs::read_to_string("/proc/thread-self/comm"))
    ///     .await?;
    /// # #[cfg(target_os = "linux")]
    /// assert_eq!(name?.trim_end(), "fetch config");
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Builder {
        self.name = Some(name.into());
        self
    }

    /// Runs `f` on a worker thread with these options and waits for its result;
    /// see [`run_sync`](fn@run_sync).
    ///
    /// # Errors
    ///
    /// * `Cancelled` if the task is cancelled before the thread starts (also while
    ///   waiting for a limiter token) — nothing ran — or, with
    ///   [`abandon_on_cancel`](Self::abandon_on_cancel), while the thread runs.
    /// * [`ErrorKind::Io`] if no thread could be started.
    /// * [`ErrorKind::Usage`] outside trio.
    ///
    /// # Cancellation
    ///
    /// A checkpoint before the thread starts. Afterwards, as chosen by
    /// [`abandon_on_cancel`](Self::abandon_on_cancel): waits for the thread and
    /// returns its result (the default), or returns `Err(Cancelled)` at once.
    ///
    /// # Panics
    ///
    /// If `f` panics (and the call was not abandoned), the panic is resumed here.
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// let v = trio::to_thread::Builder::new()
    ///     .abandon_on_cancel(true)
    ///     .run_sync(|| vec![1, 2, 3])
    ///     .await?;
    /// assert_eq!(v, [1, 2, 3]);
    /// # Ok(()) }).unwrap();
    /// ```
    pub async fn run_sync<F, T>(self, f: F) -> Result<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let threads = run_threads()?;
        let limiter = self
            .limiter
            .unwrap_or_else(|| threads.default_limiter.clone());
        // A checkpoint (checks for cancellation first): cancelled here, nothing ran.
        let borrower = Borrower::new();
        limiter.acquire_on_behalf_of(&borrower).await?.forget();

        let id = threads.next_id.get() + 1;
        threads.next_id.set(id);
        threads.loans.borrow_mut().insert(id, (limiter, borrower));
        threads.active.set(threads.active.get() + 1);

        let call = Arc::new(Call::new());
        let token = current_trio_token();
        let job = make_job(
            f,
            call.clone(),
            id,
            token.clone(),
            self.name,
            self.abandon_on_cancel,
        );
        if let Err(e) = thread_cache::start_thread_soon(job) {
            threads.finished(id);
            return Err(Error::from(e).context(ErrorKind::Io, "could not start a worker thread"));
        }
        let wait = Wait {
            call,
            token,
            cancel: CancelRegistration::new(),
            abandon: self.abandon_on_cancel,
            cancel_seen: false,
            hosted: None,
            finished: false,
        };
        match wait.await? {
            Ok(v) => Ok(v),
            Err(panic) => resume_unwind(panic),
        }
    }
}

/// Builds the job a worker runs for one call.
fn make_job<F, T>(
    f: F,
    call: Arc<Call<T>>,
    id: u64,
    token: TrioToken,
    name: Option<String>,
    abandon_on_cancel: bool,
) -> thread_cache::Job
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    Box::new(move || {
        let outcome = {
            let _parent = ParentGuard::enter(Parent {
                token: token.clone(),
                host: call.clone(),
                abandon_on_cancel,
            });
            if let Some(name) = &name {
                thread_cache::current_name_guard::rename(name);
            }
            catch_unwind(AssertUnwindSafe(f))
        };
        Box::new(move || {
            // If the run has finished, the task is long gone: drop the outcome.
            let _ = token.run_sync_soon(move || deliver(call, id, outcome));
        })
    })
}

/// On the loop thread: the thread of call `id` finished with `outcome`.
fn deliver<T>(call: Arc<Call<T>>, id: u64, outcome: thread::Result<T>) {
    // Give the token back first (as Trio does): the woken task sees it returned.
    if let Ok(threads) = run_threads() {
        threads.finished(id);
    }
    let mut inner = call.lock();
    if inner.host_gone {
        // Abandoned: the outcome (a value or a panic) is discarded.
        drop(inner);
        drop(outcome);
        return;
    }
    inner.outcome = Some(outcome);
    let waker = inner.waker.take();
    drop(inner);
    if let Some(w) = waker {
        w.wake();
    }
}

/// One call's slot, shared by the waiting task and the worker thread.
struct Call<T> {
    inner: Mutex<CallInner<T>>,
}

struct CallInner<T> {
    /// The thread's outcome, once delivered.
    outcome: Option<thread::Result<T>>,
    /// `from_thread` work for the host task, in order.
    messages: VecDeque<Message>,
    /// The waiting task's waker.
    waker: Option<Waker>,
    /// The waiting task no longer waits (it finished, abandoned the thread, or its
    /// future was dropped): later messages go to the system nursery and the
    /// outcome is discarded.
    host_gone: bool,
    /// The cancellation the waiting task saw (for `from_thread::check_cancelled`).
    cancelled: Option<Cancelled>,
}

impl<T> Call<T> {
    fn new() -> Call<T> {
        Call {
            inner: Mutex::new(CallInner {
                outcome: None,
                messages: VecDeque::new(),
                waker: None,
                host_gone: false,
                cancelled: None,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, CallInner<T>> {
        // Nothing panics while holding it; recover rather than propagate.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<T: Send> Host for Call<T> {
    fn post(&self, msg: Message) -> std::result::Result<(), Message> {
        let mut inner = self.lock();
        if inner.host_gone {
            return Err(msg);
        }
        inner.messages.push_back(msg);
        let waker = inner.waker.take();
        drop(inner);
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }

    fn cancelled(&self) -> Option<Cancelled> {
        self.lock().cancelled.clone()
    }
}

/// The waiting task's side of a call: a trio suspension that ends when the
/// outcome is delivered, runs `from_thread` messages meanwhile, and — if
/// abandoning — ends early on cancellation.
struct Wait<T> {
    call: Arc<Call<T>>,
    token: TrioToken,
    cancel: CancelRegistration,
    abandon: bool,
    /// The cancellation was seen (and recorded) already.
    cancel_seen: bool,
    /// A `from_thread::run` future running in this task.
    hosted: Option<LocalFuture>,
    finished: bool,
}

impl<T> Future for Wait<T> {
    type Output = Result<thread::Result<T>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        loop {
            if let Some(hosted) = this.hosted.as_mut() {
                if hosted.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                this.hosted = None;
            }
            let msg = {
                let mut inner = this.call.lock();
                if let Some(outcome) = inner.outcome.take() {
                    inner.host_gone = true;
                    inner.waker = None;
                    this.finished = true;
                    return Poll::Ready(Ok(outcome));
                }
                match inner.messages.pop_front() {
                    Some(msg) => msg,
                    None => {
                        if !inner
                            .waker
                            .as_ref()
                            .is_some_and(|w| w.will_wake(cx.waker()))
                        {
                            inner.waker = Some(cx.waker().clone());
                        }
                        break;
                    }
                }
            };
            // Runs in this task (its cancel status, its `current_task`).
            this.hosted = msg();
        }
        if !this.cancel_seen {
            if let Poll::Ready(err) = this.cancel.poll_cancelled(cx) {
                this.cancel_seen = true;
                let mut inner = this.call.lock();
                inner.cancelled = err.cancelled().cloned();
                if this.abandon {
                    // Messages of an abandoning call never come here (they go to
                    // the system nursery), so none is left behind.
                    inner.host_gone = true;
                    inner.waker = None;
                    this.finished = true;
                    return Poll::Ready(Err(err));
                }
                // Not abandoning: keep waiting, no longer listening for
                // cancellation (it stays recorded for `check_cancelled`).
            }
        }
        crate::lowlevel::record_blocked_on(cx, crate::lowlevel::BlockedOn::Thread);
        Poll::Pending
    }
}

impl<T> Drop for Wait<T> {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        // Dropped while the thread runs: nobody waits any more. Work the thread
        // sent meanwhile (and sends later) runs in the system nursery instead —
        // from a loop callback, not from inside this drop, which may happen while
        // a nursery is being torn down. (If the run is over, the messages are
        // dropped and their threads get `RunFinished`.)
        let pending = {
            let mut inner = self.call.lock();
            inner.host_gone = true;
            inner.waker = None;
            std::mem::take(&mut inner.messages)
        };
        self.hosted = None;
        if !pending.is_empty() {
            let _ = self.token.run_sync_soon(move || {
                for msg in pending {
                    host::run_in_system(msg);
                }
            });
        }
    }
}
