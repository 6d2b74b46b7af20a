//! The process-wide cache of worker threads (Trio's `_thread_cache.py`).
//!
//! Starting an OS thread costs tens of microseconds; a worker that has finished a
//! job therefore waits, parked on its own condition variable, for the next one, and
//! retires after [`IDLE_TIMEOUT`] without work. `start_thread_soon` hands the job
//! to the worker that went idle most recently (LIFO, so the surplus ones are the
//! ones that age out) or starts a new one.
//!
//! A job has two halves, mirroring Trio's `fn` / `deliver`: the job proper runs the
//! blocking work and returns the *delivery*, a closure that reports the result
//! (it must not block). Between the two the worker marks itself idle, so that
//! whoever receives the result and immediately submits the next job finds this
//! same worker waiting, instead of starting a second thread (Trio's docstring
//! describes the race this avoids).
//!
//! Invariants:
//! * a worker is in `IDLE` only while its `job` slot is empty and it is not running
//!   a job — except for the short window between marking itself idle and calling
//!   the delivery, during which a new job simply waits in the slot;
//! * whoever pops a worker from `IDLE` owns its slot and fills it at once; a worker
//!   whose idle wait timed out retires only if it can still remove itself from
//!   `IDLE` — if it cannot, somebody popped it and a job is on its way.
//!
//! Before parking, a worker watches its `has_job` flag for [`SPIN`] (50 µs): a
//! task that calls `run_sync` in a loop submits the next job within a few
//! microseconds, and finding the worker awake saves a wake-up of a sleeping
//! thread, which on an idle virtual machine costs tens of microseconds (measured:
//! a `to_thread` round trip went from 40–60 µs to 8 µs; tokio's `spawn_blocking`
//! takes 17–25 µs there). The cost is at most 50 µs of one CPU after each job.
//!
//! Locks are never nested: `IDLE` and a worker's slot are taken one at a time.

use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The delivery half of a job: reports the result; must not block.
pub(crate) type Deliver = Box<dyn FnOnce() + Send>;
/// A job: runs the blocking work and returns its delivery.
pub(crate) type Job = Box<dyn FnOnce() -> Deliver + Send>;

/// How long an idle worker waits for a job before it exits (Trio's
/// `IDLE_TIMEOUT`).
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// The idle timeout in use, in milliseconds (lowered by unit tests).
static IDLE_TIMEOUT_MS: AtomicU64 = AtomicU64::new(IDLE_TIMEOUT.as_millis() as u64);

/// Names new workers `trio thread N` (Trio's `Trio thread N`).
static NEXT_NUMBER: AtomicUsize = AtomicUsize::new(0);

/// Workers waiting for a job, the most recently idle last.
static IDLE: Mutex<Vec<Arc<Worker>>> = Mutex::new(Vec::new());

struct Worker {
    /// The next job (filled by whoever popped this worker from `IDLE`).
    job: Mutex<Option<Job>>,
    /// Set with `job`: lets a worker that just finished notice a new job while
    /// spinning, before it sleeps on `wake`.
    has_job: AtomicBool,
    wake: Condvar,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while holding these locks; recover anyway rather than
    // poison the whole pool.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `job` on a cached worker thread, starting a new one if none is idle.
///
/// # Errors
///
/// The OS refused to start a thread; `job` has been dropped.
pub(crate) fn start_thread_soon(job: Job) -> io::Result<()> {
    let idle = lock(&IDLE).pop();
    if let Some(worker) = idle {
        *lock(&worker.job) = Some(job);
        worker.has_job.store(true, Ordering::Release);
        worker.wake.notify_one();
        return Ok(());
    }
    let worker = Arc::new(Worker {
        job: Mutex::new(Some(job)),
        has_job: AtomicBool::new(true),
        wake: Condvar::new(),
    });
    let n = NEXT_NUMBER.fetch_add(1, Ordering::Relaxed);
    std::thread::Builder::new()
        .name(default_name(n))
        .spawn(move || work(worker, n))
        .map(drop)
}

fn default_name(n: usize) -> String {
    format!("trio thread {n}")
}

fn idle_timeout() -> Duration {
    Duration::from_millis(IDLE_TIMEOUT_MS.load(Ordering::Relaxed))
}

/// How long a worker that just finished a job watches for the next one before it
/// sleeps. Handing a job to a sleeping thread costs a wake-up, which on an idle
/// virtual machine takes tens of microseconds; a task that calls `run_sync` in a
/// loop hands the next job over within a few.
const SPIN: Duration = Duration::from_micros(50);

/// Watches `me.has_job` for up to `SPIN`.
fn spin_for_job(me: &Worker) {
    let start = Instant::now();
    while !me.has_job.load(Ordering::Acquire) {
        if start.elapsed() >= SPIN {
            return;
        }
        std::hint::spin_loop();
    }
}

/// The body of a worker thread.
fn work(me: Arc<Worker>, number: usize) {
    loop {
        spin_for_job(&me);
        let job = {
            let mut slot = lock(&me.job);
            let deadline = Instant::now() + idle_timeout();
            loop {
                if let Some(job) = slot.take() {
                    me.has_job.store(false, Ordering::Relaxed);
                    break Some(job);
                }
                let now = Instant::now();
                if now >= deadline {
                    break None;
                }
                slot = me
                    .wake
                    .wait_timeout(slot, deadline - now)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
        };
        match job {
            Some(job) => {
                // The job catches the user's panics itself; this is a last guard so
                // that a bug here cannot leave a dead worker listed as idle.
                let Ok(deliver) = catch_unwind(AssertUnwindSafe(job)) else {
                    return;
                };
                current_name_guard::restore(number);
                lock(&IDLE).push(me.clone());
                if catch_unwind(AssertUnwindSafe(deliver)).is_err() {
                    crate::lowlevel::report_diagnostic(
                        crate::lowlevel::DiagnosticKind::WorkerDeliveryPanicked,
                        "handing a worker thread's result back to its task panicked",
                    );
                }
            }
            None => {
                let mut idle = lock(&IDLE);
                if let Some(i) = idle.iter().position(|w| Arc::ptr_eq(w, &me)) {
                    idle.remove(i);
                    return;
                }
                // Somebody popped us just now: their job is on its way.
            }
        }
    }
}

/// Renaming the OS thread for the duration of a job (Trio's `thread_name`).
pub(crate) mod current_name_guard {
    use std::cell::Cell;

    thread_local! {
        /// True while the OS name of this worker is not its default one.
        static RENAMED: Cell<bool> = const { Cell::new(false) };
    }

    /// Sets the OS name of the current thread (as `pthread_setname_np` sees it:
    /// ASCII, non-ASCII characters replaced by `?`, at most 15 bytes — Trio's
    /// rule). `std::thread::current().name()` is not affected.
    pub(crate) fn rename(name: &str) {
        RENAMED.with(|r| r.set(true));
        crate::sys::thread::set_current_name(name);
    }

    /// Puts the worker's default name back if a job renamed it.
    pub(crate) fn restore(number: usize) {
        if RENAMED.with(|r| r.replace(false)) {
            crate::sys::thread::set_current_name(&super::default_name(number));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::sync::mpsc;

    thread_local! {
        static ON_EXIT: RefCell<Option<mpsc::Sender<()>>> = const { RefCell::new(None) };
    }

    // Trio's `test_idle_threads_exit` (from `_core/_tests/test_thread_cache.py`): a
    // worker with nothing to do exits after the idle timeout.
    #[test]
    fn idle_workers_retire() {
        IDLE_TIMEOUT_MS.store(20, Ordering::Relaxed);
        let (exit_tx, exit_rx) = mpsc::channel::<()>();
        let (done_tx, done_rx) = mpsc::channel();
        start_thread_soon(Box::new(move || {
            // Dropped (closing the channel) only when the thread itself exits.
            ON_EXIT.with(|e| *e.borrow_mut() = Some(exit_tx));
            Box::new(move || done_tx.send(()).unwrap())
        }))
        .unwrap();
        done_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(
            exit_rx.recv_timeout(Duration::from_secs(10)),
            Err(mpsc::RecvTimeoutError::Disconnected),
            "the idle worker should have exited"
        );
        IDLE_TIMEOUT_MS.store(IDLE_TIMEOUT.as_millis() as u64, Ordering::Relaxed);
    }

    // Jobs submitted from several places at once, while workers go idle and (with
    // the lowered timeout of the test above) retire, all run exactly once.
    #[test]
    fn every_job_runs_once() {
        let (tx, rx) = mpsc::channel();
        for i in 0..200 {
            let tx = tx.clone();
            start_thread_soon(Box::new(move || Box::new(move || tx.send(i).unwrap()))).unwrap();
            if i % 20 == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        let mut got: Vec<i32> = (0..200)
            .map(|_| rx.recv_timeout(Duration::from_secs(10)).unwrap())
            .collect();
        got.sort();
        assert_eq!(got, (0..200).collect::<Vec<_>>());
    }
}
