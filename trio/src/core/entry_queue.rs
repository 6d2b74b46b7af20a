//! Reaching the loop from other threads: [`TrioToken`] and forwarded wake-ups.
//!
//! The run loop owns everything single-threaded; other threads reach it through one
//! `Mutex`-protected queue of jobs (a callback to run, or a waker to replay on the
//! loop thread), an atomic "something is queued" flag the loop checks cheaply on
//! every iteration, and a waker (an eventfd: mio's, or the one the io_uring reactor
//! watches) that interrupts the loop when it is blocked in `epoll_wait` or
//! `io_uring_enter`. When the run ends the queue is closed: later
//! `run_sync_soon` calls get [`ErrorKind::RunFinished`], and forwarded wake-ups are
//! dropped (their tasks are gone).
//!
//! Loops are found by id through a small global registry, so a task's waker only
//! stores a number, not a reference to the loop.

use super::diagnostic::Sink;
use super::reactor::LoopWaker;
use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::Waker;
use std::time::Duration;

use crate::error::{Error, ErrorKind, Result};

pub(in crate::core) enum Job {
    Wake(Waker),
    /// A loop-local waker dropped on another thread, to be dropped here.
    Release(Waker),
    Call(Box<dyn FnOnce() + Send + 'static>),
}

struct Queue {
    jobs: VecDeque<Job>,
    closed: bool,
}

/// The part of a loop shared with other threads.
pub(in crate::core) struct LoopShared {
    pub(in crate::core) loop_id: u64,
    queue: Mutex<Queue>,
    pending: AtomicBool,
    waker: LoopWaker,
    /// Set by the Ctrl-C watchdog; consumed by the loop.
    pub(in crate::core) ki_pending: AtomicBool,
    /// Set by the loop when it has seen a Ctrl-C (the watchdog waits for it).
    pub(in crate::core) ki_seen: AtomicBool,
    /// Set by the watchdog once the loop has seen a Ctrl-C; cleared by the
    /// loop's next pass through its entry queue — proof that the tasks of the
    /// pass that delivered the cancellation have yielded.
    pub(in crate::core) ki_ping: AtomicBool,
    /// [`TrioToken`]s alive: while there is one, another thread may call in, so
    /// the loop does not declare a deadlock. Counted apart from the `Arc`'s strong
    /// count, which other threads also raise for a moment (to forward a wake-up)
    /// and lower without waking the loop.
    tokens: AtomicUsize,
    /// Where the run's diagnostics go (`Builder::on_diagnostic`).
    pub(in crate::core) diagnostics: Option<Sink>,
    /// Whether trio may end the process on a Ctrl-C it cannot handle
    /// (`Builder::ctrl_c_exits`).
    pub(in crate::core) ctrl_c_exits: bool,
    /// The first Ctrl-C asks the main task to stop gracefully with this grace
    /// period (`Builder::stop_gracefully_on_ctrl_c`) instead of cancelling it.
    pub(in crate::core) ctrl_c_grace: Option<Duration>,
    /// Ctrl-Cs delivered to this run so far.
    pub(in crate::core) ki_count: AtomicUsize,
}

static REGISTRY: Mutex<Vec<(u64, Weak<LoopShared>)>> = Mutex::new(Vec::new());

impl LoopShared {
    pub(in crate::core) fn new(
        loop_id: u64,
        waker: LoopWaker,
        diagnostics: Option<Sink>,
        ctrl_c_exits: bool,
        ctrl_c_grace: Option<Duration>,
    ) -> Arc<LoopShared> {
        let shared = Arc::new(LoopShared {
            loop_id,
            queue: Mutex::new(Queue {
                jobs: VecDeque::new(),
                closed: false,
            }),
            pending: AtomicBool::new(false),
            waker,
            ki_pending: AtomicBool::new(false),
            ki_seen: AtomicBool::new(false),
            ki_ping: AtomicBool::new(false),
            tokens: AtomicUsize::new(0),
            diagnostics,
            ctrl_c_exits,
            ctrl_c_grace,
            ki_count: AtomicUsize::new(0),
        });
        let mut reg = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
        reg.retain(|(_, w)| w.strong_count() > 0);
        reg.push((loop_id, Arc::downgrade(&shared)));
        shared
    }

    fn push(&self, job: Job) -> std::result::Result<(), Job> {
        {
            let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
            if q.closed {
                return Err(job);
            }
            q.jobs.push_back(job);
        }
        if !self.pending.swap(true, Ordering::AcqRel) {
            self.wake_loop();
        }
        Ok(())
    }

    pub(in crate::core) fn wake_loop(&self) {
        let _ = self.waker.wake();
    }

    /// True if jobs are waiting (cheap; checked on every loop iteration).
    #[inline]
    pub(in crate::core) fn has_pending(&self) -> bool {
        self.pending.load(Ordering::Acquire)
            || self.ki_pending.load(Ordering::Acquire)
            || self.ki_ping.load(Ordering::Acquire)
    }

    /// Takes every queued job.
    pub(in crate::core) fn drain(&self) -> VecDeque<Job> {
        if !self.pending.load(Ordering::Acquire) || !self.pending.swap(false, Ordering::AcqRel) {
            return VecDeque::new();
        }
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::take(&mut q.jobs)
    }

    pub(in crate::core) fn queue_len(&self) -> usize {
        self.queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .jobs
            .len()
    }

    /// True once the run has ended (the queue refuses jobs).
    pub(in crate::core) fn is_closed(&self) -> bool {
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).closed
    }

    /// True while a [`TrioToken`] of this loop exists.
    pub(in crate::core) fn tokens_out(&self) -> bool {
        self.tokens.load(Ordering::Acquire) > 0
    }

    /// Refuses new jobs; returns those still queued.
    pub(in crate::core) fn close(&self) -> VecDeque<Job> {
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        q.closed = true;
        std::mem::take(&mut q.jobs)
    }
}

impl Drop for LoopShared {
    fn drop(&mut self) {
        if let Ok(mut reg) = REGISTRY.lock() {
            reg.retain(|(id, w)| *id != self.loop_id && w.strong_count() > 0);
        }
    }
}

fn lookup(loop_id: u64) -> Option<Arc<LoopShared>> {
    let reg = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
    reg.iter()
        .find(|(id, _)| *id == loop_id)
        .and_then(|(_, w)| w.upgrade())
}

/// Runs `f` on the loop `loop_id` soon, if that loop is still running (like
/// `TrioToken::run_sync_soon`, without holding a token).
#[cfg(unix)]
pub(in crate::core) fn call_on_loop(loop_id: u64, f: Box<dyn FnOnce() + Send + 'static>) {
    if let Some(shared) = lookup(loop_id) {
        let _ = shared.push(Job::Call(f));
    }
}

/// Replays `waker` on its loop's thread (a wake-up from another thread).
pub(in crate::core) fn forward_wake(loop_id: u64, waker: Waker) {
    if let Some(shared) = lookup(loop_id) {
        // If the loop has finished, the task is gone: dropping the waker is right.
        let _ = shared.push(Job::Wake(waker));
    }
}

/// Sends a loop-local waker used on another thread back to its loop, to be woken
/// (`wake`) or just dropped there. If the loop has ended, the waker is leaked:
/// dropping it here would only send it back again.
pub(in crate::core) fn forward_local(loop_id: u64, waker: Waker, wake: bool) {
    let job = if wake {
        Job::Wake(waker)
    } else {
        Job::Release(waker)
    };
    match lookup(loop_id) {
        Some(shared) => {
            if let Err(job) = shared.push(job) {
                std::mem::forget(job);
            }
        }
        None => std::mem::forget(job),
    }
}

/// A handle to a run loop, usable from any thread (Trio's `TrioToken`).
///
/// # Examples
///
/// ```
/// use std::sync::mpsc;
/// # trio::run(async {
/// let token = trio::lowlevel::current_trio_token();
/// let (tx, rx) = mpsc::channel();
/// std::thread::spawn(move || {
///     token.run_sync_soon(move || tx.send(std::thread::current().id()).unwrap()).unwrap();
/// }).join().unwrap();
/// trio::sleep(std::time::Duration::from_millis(1)).await?;
/// assert_eq!(rx.recv().unwrap(), std::thread::current().id()); // ran on the loop thread
/// # Ok(()) }).unwrap();
/// ```
pub struct TrioToken {
    shared: Arc<LoopShared>,
}

impl TrioToken {
    /// A new token of `shared`'s loop (counted: see `LoopShared::tokens`).
    pub(in crate::core) fn new(shared: Arc<LoopShared>) -> TrioToken {
        shared.tokens.fetch_add(1, Ordering::Relaxed);
        TrioToken { shared }
    }

    /// A reference to the same loop that does not count as a token: holding it
    /// leaves the loop's deadlock detection on (a live `TrioToken` means "another
    /// thread may call in", which keeps it off), and it does not keep the run's
    /// shared part alive. [`WeakTrioToken::upgrade`] gives a token back while the
    /// run lasts.
    ///
    /// # Examples
    ///
    /// ```
    /// let weak = trio::run(async {
    ///     let weak = trio::lowlevel::current_trio_token().downgrade();
    ///     assert!(weak.upgrade().is_some());
    ///     Ok(weak)
    /// })
    /// .unwrap();
    /// assert!(weak.upgrade().is_none()); // the run is over
    /// ```
    pub fn downgrade(&self) -> WeakTrioToken {
        WeakTrioToken {
            shared: Arc::downgrade(&self.shared),
        }
    }

    /// Schedules `f` to run on the loop's thread soon, and wakes the loop (Trio's
    /// `run_sync_soon`). Callbacks run in order, outside any task; a callback that
    /// panics crashes the run with an internal error.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::RunFinished`] if the run has ended; `f` is dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// let token = trio::run(async { Ok(trio::lowlevel::current_trio_token()) }).unwrap();
    /// let err = token.run_sync_soon(|| ()).unwrap_err();
    /// assert_eq!(err.kind(), trio::ErrorKind::RunFinished);
    /// ```
    pub fn run_sync_soon<F>(&self, f: F) -> Result<()>
    where
        F: FnOnce() + Send + 'static,
    {
        self.shared.push(Job::Call(Box::new(f))).map_err(|_| {
            Error::new(
                ErrorKind::RunFinished,
                "run_sync_soon: the trio run this token belongs to has finished",
            )
        })
    }
}

/// A [`TrioToken`] that does not count as one (from [`TrioToken::downgrade`]):
/// it leaves the loop's deadlock detection on and ends with the run.
///
/// # Examples
///
/// ```
/// # trio::run(async {
/// let weak = trio::lowlevel::current_trio_token().downgrade();
/// let token = weak.upgrade().expect("the run is still going");
/// assert_eq!(token, trio::lowlevel::current_trio_token());
/// # Ok(()) }).unwrap();
/// ```
#[derive(Clone)]
pub struct WeakTrioToken {
    shared: Weak<LoopShared>,
}

impl WeakTrioToken {
    /// A token of the loop, or `None` once its run has ended.
    ///
    /// # Examples
    ///
    /// See [`TrioToken::downgrade`].
    pub fn upgrade(&self) -> Option<TrioToken> {
        let shared = self.shared.upgrade()?;
        if shared.is_closed() {
            return None;
        }
        Some(TrioToken::new(shared))
    }
}

impl fmt::Debug for WeakTrioToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WeakTrioToken").finish_non_exhaustive()
    }
}

impl Clone for TrioToken {
    fn clone(&self) -> Self {
        TrioToken::new(self.shared.clone())
    }
}

impl Drop for TrioToken {
    fn drop(&mut self) {
        // A token given back by another thread may be what kept the loop from
        // declaring a deadlock (see `Runner::is_deadlocked`): let it look again —
        // after the count went down, so that the loop cannot miss it. On the
        // loop's own thread the loop is running, and will look anyway.
        self.shared.tokens.fetch_sub(1, Ordering::Release);
        if super::context::current_loop_id() != self.shared.loop_id {
            self.shared.wake_loop();
        }
    }
}

impl PartialEq for TrioToken {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

impl Eq for TrioToken {}

impl fmt::Debug for TrioToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrioToken")
            .field("loop_id", &self.shared.loop_id)
            .finish()
    }
}
