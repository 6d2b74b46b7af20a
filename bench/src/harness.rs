//! The measuring loop, identical for every runtime: the runtime is
//! built once per (runtime, workload) measurement and reused for all its
//! iterations; each iteration runs the workload body inside a spawned root task;
//! one untimed warm-up, then timed iterations until the budget or the cap.

use std::cell::Cell;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_executor::{Executor, LocalExecutor};

use crate::params::Workload;

/// How much to measure.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    pub budget: Duration,
    pub warmup: bool,
    /// `--quick`: exactly one timed iteration per pair.
    pub quick: bool,
}

impl Plan {
    pub fn meter(&self, w: Workload) -> Meter {
        Meter {
            cap: if self.quick { 1 } else { w.cap() },
            budget: self.budget,
            warmup_pending: self.warmup,
            iters: 0,
            total: Duration::ZERO,
            ops_per_iter: w.ops(),
        }
    }
}

/// Counts the timed iterations of one measurement.
#[derive(Debug)]
pub struct Meter {
    cap: u32,
    budget: Duration,
    warmup_pending: bool,
    iters: u32,
    total: Duration,
    ops_per_iter: u64,
}

impl Meter {
    /// Records one iteration's timed section; true if another iteration is due.
    pub fn record(&mut self, d: Duration) -> bool {
        if std::mem::take(&mut self.warmup_pending) {
            return true;
        }
        self.iters += 1;
        self.total += d;
        self.iters < self.cap && self.total < self.budget
    }

    pub fn sample(&self) -> Sample {
        Sample {
            ops: self.ops_per_iter * u64::from(self.iters),
            total: self.total,
        }
    }
}

/// The result of one (runtime, workload) measurement.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    /// Operations timed (iterations x ops per iteration).
    pub ops: u64,
    pub total: Duration,
}

impl Sample {
    pub fn ns_per_op(&self) -> f64 {
        self.total.as_nanos() as f64 / self.ops as f64
    }
}

// ---- trio ------------------------------------------------------------------------

/// `--trio-deterministic`: build trio's runtimes with FIFO batches (a
/// diagnostic: what the randomized scheduling costs).
pub static TRIO_DETERMINISTIC: AtomicBool = AtomicBool::new(false);

/// `--trio-schedule-budget N`: build trio's runtimes with
/// `Builder::schedule_budget(N)` (python-trio/trio#1757; the default, 0, is Trio's rule).
pub static TRIO_SCHEDULE_BUDGET: std::sync::atomic::AtomicU32 =
    std::sync::atomic::AtomicU32::new(0);

/// `--trio-loops-unpinned`: run `trio-2loops` without pinning its loops to CPUs
/// (a diagnostic: what connection locality is worth).
pub static TRIO_LOOPS_UNPINNED: AtomicBool = AtomicBool::new(false);

/// A trio runtime as the suite builds it.
pub fn trio_runtime() -> trio::Runtime {
    trio::Runtime::builder()
        .handle_ctrl_c(false)
        .deterministic(TRIO_DETERMINISTIC.load(Ordering::Relaxed))
        .schedule_budget(TRIO_SCHEDULE_BUDGET.load(Ordering::Relaxed))
        .build()
}

/// One `trio::run` for the whole measurement; each iteration's body runs as the
/// child of a nursery (trio's "spawned root task").
pub fn trio_run<M, F>(mut meter: Meter, make: M) -> Sample
where
    M: Fn() -> F,
    F: Future<Output = trio::Result<Duration>>,
{
    trio_runtime()
        .run(async {
            loop {
                let out = Cell::new(None);
                let (out_ref, make_ref) = (&out, &make);
                trio::open_nursery(async |n| {
                    n.start_soon(async move {
                        out_ref.set(Some(make_ref().await?));
                        Ok(())
                    })?;
                    Ok(())
                })
                .await?;
                let d = out.get().expect("the body ran");
                if !meter.record(d) {
                    break;
                }
            }
            Ok::<_, trio::Error>(meter.sample())
        })
        .expect("the trio run failed")
}

// ---- tokio -----------------------------------------------------------------------

pub fn tokio_runtime(multi_thread: bool) -> tokio::runtime::Runtime {
    if multi_thread {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime")
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime")
    }
}

/// `rt.block_on(handle)` of a task spawned on `rt`, per iteration.
pub fn tokio_run<M, F>(multi_thread: bool, mut meter: Meter, make: M) -> Sample
where
    M: Fn() -> F,
    F: Future<Output = Duration> + Send + 'static,
{
    let rt = tokio_runtime(multi_thread);
    loop {
        let handle = rt.spawn(make());
        let d = rt.block_on(handle).expect("the body panicked");
        if !meter.record(d) {
            break;
        }
    }
    meter.sample()
}

// ---- smol ------------------------------------------------------------------------

thread_local! {
    /// smol-local's executor: thread-local, driven by `async_io::block_on` on the
    /// main thread.
    pub static LOCAL_EX: LocalExecutor<'static> = const { LocalExecutor::new() };
}

/// smol-exec2's executor, run by two threads per measurement.
pub static GLOBAL_EX: Executor<'static> = Executor::new();

/// `block_on(ex.run(ex.spawn(body)))` on the thread-local `LocalExecutor`.
pub fn smol_local_run<M, F>(mut meter: Meter, make: M) -> Sample
where
    M: Fn() -> F,
    F: Future<Output = Duration> + 'static,
{
    LOCAL_EX.with(|ex| {
        loop {
            let d = async_io::block_on(ex.run(ex.spawn(make())));
            if !meter.record(d) {
                break;
            }
        }
    });
    meter.sample()
}

/// Two threads run `async_io::block_on(EX.run(shutdown))`; the main thread only
/// waits on `EX.spawn(body)`.
pub fn smol_exec2_run<M, F>(mut meter: Meter, make: M) -> Sample
where
    M: Fn() -> F,
    F: Future<Output = Duration> + Send + 'static,
{
    let (stop_tx, stop_rx) = async_channel::bounded::<()>(1);
    let threads: Vec<_> = (0..2)
        .map(|i| {
            let stop = stop_rx.clone();
            std::thread::Builder::new()
                .name(format!("smol-exec2-{i}"))
                .spawn(move || {
                    async_io::block_on(GLOBAL_EX.run(async {
                        let _ = stop.recv().await;
                    }))
                })
                .expect("spawn an executor thread")
        })
        .collect();
    loop {
        let d = futures_lite::future::block_on(GLOBAL_EX.spawn(make()));
        if !meter.record(d) {
            break;
        }
    }
    drop(stop_tx);
    for t in threads {
        t.join().expect("executor thread");
    }
    meter.sample()
}
