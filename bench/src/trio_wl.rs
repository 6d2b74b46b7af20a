//! The workloads on trio, written the idiomatic trio way: nurseries and
//! `start_soon`, memory channels, checkpoints, cancel scopes, `trio::sync::Lock`.
//! Each body returns the wall-clock of its timed section and checks its result.
//! `tcp_echo` is in `trio_tcp.rs`, `udp_echo` in `trio_udp.rs`.

use std::cell::Cell;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::time::{Duration, Instant};

use trio::channel::Flavour;
use trio::fs::AsyncFile;
use trio::lowlevel::checkpoint;
use trio::{CancelScope, MemoryReceiveChannel, MemorySendChannel, Nursery, Result, open_nursery};

use crate::params::*;

/// Opens a memory channel of one flavour (`open_local_memory_channel` or
/// `open_memory_channel`).
pub type Opener<F> = fn(usize) -> (MemorySendChannel<u64, F>, MemoryReceiveChannel<u64, F>);

pub async fn spawn_many() -> Result<Duration> {
    let ran = Cell::new(0);
    let ran = &ran;
    let t0 = Instant::now();
    open_nursery(async |n| {
        for _ in 0..SPAWN_MANY_N {
            n.start_soon(async move {
                ran.set(ran.get() + 1);
                Ok(())
            })?;
        }
        Ok(())
    })
    .await?;
    let d = t0.elapsed();
    assert_eq!(ran.get(), SPAWN_MANY_N);
    Ok(d)
}

fn node(depth: u32, count: &Cell<usize>) -> Pin<Box<dyn Future<Output = Result<()>> + '_>> {
    Box::pin(async move {
        count.set(count.get() + 1);
        if depth > 1 {
            open_nursery(async |n| {
                for _ in 0..TREE_FANOUT {
                    n.start_soon(node(depth - 1, count))?;
                }
                Ok(())
            })
            .await?;
        }
        Ok(())
    })
}

pub async fn spawn_join_nested() -> Result<Duration> {
    let count = Cell::new(0);
    let count = &count;
    let t0 = Instant::now();
    open_nursery(async |n| n.start_soon(node(TREE_DEPTH, count))).await?;
    let d = t0.elapsed();
    assert_eq!(count.get(), TREE_TASKS);
    Ok(d)
}

fn link<'env>(
    n: Nursery<'env>,
    k: usize,
    count: &'env Cell<usize>,
) -> Pin<Box<dyn Future<Output = Result<()>> + 'env>> {
    Box::pin(async move {
        count.set(count.get() + 1);
        if k > 0 {
            n.start_soon(link(n.clone(), k - 1, count))?;
        }
        Ok(())
    })
}

pub async fn chained_spawn() -> Result<Duration> {
    let count = Cell::new(0);
    let count = &count;
    let t0 = Instant::now();
    open_nursery(async |n| n.start_soon(link(n.clone(), CHAIN_N, count))).await?;
    let d = t0.elapsed();
    assert_eq!(count.get(), CHAIN_N + 1);
    Ok(d)
}

pub async fn ping_pong<F: Flavour>(open: Opener<F>) -> Result<Duration> {
    let (a_tx, a_rx) = open(1);
    let (b_tx, b_rx) = open(1);
    let result = Cell::new(0);
    let result = &result;
    let t0 = Instant::now();
    open_nursery(async |n| {
        n.start_soon(async move {
            let mut v = 0;
            for _ in 0..PING_PONG_N {
                a_tx.send(v).await?;
                v = b_rx.receive().await?;
            }
            drop(a_tx);
            result.set(v);
            Ok(())
        })?;
        n.start_soon(async move {
            while let Some(x) = a_rx.receive_or_end().await? {
                b_tx.send(x + 1).await?;
            }
            Ok(())
        })
    })
    .await?;
    let d = t0.elapsed();
    assert_eq!(result.get(), PING_PONG_N);
    Ok(d)
}

pub async fn channel_throughput<F: Flavour>(open: Opener<F>) -> Result<Duration> {
    let (tx, rx) = open(CHAN_CAP);
    let sum = Cell::new(0);
    let sum = &sum;
    let t0 = Instant::now();
    open_nursery(async |n| {
        n.start_soon(async move {
            for i in 0..CHAN_N {
                tx.send(i).await?;
            }
            Ok(())
        })?;
        n.start_soon(async move {
            let mut s = 0;
            while let Some(v) = rx.receive_or_end().await? {
                s += v;
            }
            sum.set(s);
            Ok(())
        })
    })
    .await?;
    let d = t0.elapsed();
    assert_eq!(sum.get(), CHAN_N * (CHAN_N - 1) / 2);
    Ok(d)
}

pub async fn yield_many() -> Result<Duration> {
    let total = Cell::new(0);
    let total = &total;
    let t0 = Instant::now();
    open_nursery(async |n| {
        for _ in 0..YIELD_TASKS {
            n.start_soon(async move {
                for _ in 0..YIELD_N {
                    checkpoint().await?;
                }
                total.set(total.get() + YIELD_N);
                Ok(())
            })?;
        }
        Ok(())
    })
    .await?;
    let d = t0.elapsed();
    assert_eq!(total.get(), YIELD_TASKS * YIELD_N);
    Ok(d)
}

pub async fn timers_sleep() -> Result<Duration> {
    let durations = sleep_durations();
    let woke = Cell::new(0);
    let woke = &woke;
    let t0 = Instant::now();
    open_nursery(async |n| {
        for d in durations {
            n.start_soon(async move {
                trio::sleep(d).await?;
                woke.set(woke.get() + 1);
                Ok(())
            })?;
        }
        Ok(())
    })
    .await?;
    let d = t0.elapsed();
    assert_eq!(woke.get(), TIMERS_N);
    Ok(d)
}

/// `with CancelScope(deadline=now + 10 s + jitter): pass` — entering the scope
/// pushes its deadline into the run loop's deadline heap (eagerly), leaving it
/// makes the entry stale.
pub async fn timers_cancel() -> Result<Duration> {
    let durations = cancel_durations();
    let t0 = Instant::now();
    let mut completed = 0;
    for d in durations {
        let scope = CancelScope::with_deadline(trio::current_time() + d);
        if scope
            .run(async { Ok::<_, trio::Error>(()) })
            .await?
            .is_some()
        {
            completed += 1;
        }
    }
    let d = t0.elapsed();
    assert_eq!(completed, CANCEL_N);
    Ok(d)
}

pub async fn timeout_yield() -> Result<Duration> {
    let durations = cancel_durations();
    let t0 = Instant::now();
    let mut completed = 0;
    for d in durations {
        if trio::move_on_after(d, checkpoint()).await?.is_some() {
            completed += 1;
        }
    }
    let d = t0.elapsed();
    assert_eq!(completed, CANCEL_N);
    Ok(d)
}

async fn mutex_workload(hold_across_yield: bool) -> Result<Duration> {
    let lock = trio::sync::Lock::new();
    let counter = Cell::new(0u64);
    let (lock, counter) = (&lock, &counter);
    let t0 = Instant::now();
    open_nursery(async |n| {
        for _ in 0..MUTEX_TASKS {
            n.start_soon(async move {
                for _ in 0..MUTEX_N {
                    let guard = lock.lock().await?;
                    counter.set(counter.get() + 1);
                    if hold_across_yield {
                        checkpoint().await?;
                    }
                    drop(guard);
                }
                Ok(())
            })?;
        }
        Ok(())
    })
    .await?;
    let d = t0.elapsed();
    assert_eq!(counter.get(), (MUTEX_TASKS * MUTEX_N) as u64);
    Ok(d)
}

pub async fn mutex_contention() -> Result<Duration> {
    mutex_workload(true).await
}

pub async fn mutex_uncontended() -> Result<Duration> {
    mutex_workload(false).await
}

/// Enter + exit of a `CancelScope` (no deadline) around a ready future.
pub async fn cancel_scope() -> Result<Duration> {
    let t0 = Instant::now();
    let mut completed = 0;
    for _ in 0..SCOPE_N {
        if CancelScope::new()
            .run(async { Ok::<_, trio::Error>(()) })
            .await?
            .is_some()
        {
            completed += 1;
        }
    }
    let d = t0.elapsed();
    assert_eq!(completed, SCOPE_N);
    Ok(d)
}

/// A lone task's `trio::lowlevel::checkpoint()`.
pub async fn checkpoint_alone() -> Result<Duration> {
    let t0 = Instant::now();
    for _ in 0..SCOPE_N {
        checkpoint().await?;
    }
    Ok(t0.elapsed())
}

/// Memory child: `n` children sleeping for an hour in one nursery; reports the RSS
/// growth once all of them are blocked, and exits.
pub fn idle_tasks(n: usize) -> ! {
    crate::harness::trio_runtime()
        .run(async {
            let before = crate::memory::rss_bytes();
            open_nursery(async |nursery| -> trio::Result<()> {
                for _ in 0..n {
                    nursery.start_soon(trio::sleep(IDLE_SLEEP))?;
                }
                trio::testing::wait_all_tasks_blocked().await?;
                let after = crate::memory::rss_bytes();
                crate::memory::report_and_exit("trio", n, before, after)
            })
            .await
        })
        .expect("the trio run failed");
    unreachable!("the memory child exits from inside the run")
}

/// `to_thread`: `THREAD_N` round trips to a worker thread, one after the other.
pub async fn to_thread() -> Result<Duration> {
    let t0 = Instant::now();
    let mut sum = 0u64;
    for i in 0..THREAD_N as u64 {
        sum += trio::to_thread::run_sync(move || i).await?;
    }
    let d = t0.elapsed();
    assert_eq!(sum, (THREAD_N as u64 - 1) * THREAD_N as u64 / 2);
    Ok(d)
}

/// `to_thread_batched`: the same `THREAD_N` items, `THREAD_BATCH` per round
/// trip (the batching `trio::to_thread`'s docs show).
pub async fn to_thread_batched() -> Result<Duration> {
    let t0 = Instant::now();
    let items: Vec<u64> = (0..THREAD_N as u64).collect();
    let mut sum = 0u64;
    for batch in items.chunks(THREAD_BATCH) {
        let batch = batch.to_vec();
        sum += trio::to_thread::run_sync(move || batch.iter().sum::<u64>()).await?;
    }
    let d = t0.elapsed();
    assert_eq!(sum, (THREAD_N as u64 - 1) * THREAD_N as u64 / 2);
    Ok(d)
}

/// `to_thread_cold`: `THREAD_COLD_N` round trips, each after a pause in which
/// the worker goes to sleep; only the round trips are timed.
pub async fn to_thread_cold() -> Result<Duration> {
    let mut timed = Duration::ZERO;
    for i in 0..THREAD_COLD_N as u64 {
        trio::sleep(THREAD_COLD_PAUSE).await?;
        let t0 = Instant::now();
        assert_eq!(trio::to_thread::run_sync(move || i).await?, i);
        timed += t0.elapsed();
    }
    Ok(timed)
}

/// `file_read`: the file read in `FILE_CHUNK` reads with `trio::fs::AsyncFile`
/// (a worker-thread trip per read; ring operations with the io_uring reactor).
/// Only the reads are timed.
pub async fn file_read(path: &Path) -> Result<Duration> {
    let mut f = AsyncFile::open(path).await?;
    let mut buf = vec![0u8; FILE_CHUNK];
    let t0 = Instant::now();
    let mut total = 0;
    loop {
        let n = f.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        total += n;
    }
    let d = t0.elapsed();
    assert_eq!(total, FILE_LEN);
    Ok(d)
}
