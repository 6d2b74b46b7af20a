// Ported from Python Trio's `trio/_tests/test_sync.py`: the generic lock tests
// `test_generic_lock_exclusion`, `test_generic_lock_fifo_fairness`,
// `test_generic_lock_acquire_nowait_blocks_acquire`, run over
// `CapacityLimiter(1)`, `Semaphore(1)`, `Lock` and `StrictFifoLock`.
//
// Each test runs twice per primitive: Trio-style (`acquire` ... `release`, what
// `async with` does) and Rust-style (an RAII guard or permit dropped at the end).
//
// Not ported: the `ChannelLock1/2/3` factories (locks built from memory
// channels), which belong with the channel tests.

use std::cell::{Cell, RefCell};
use std::fmt::Debug;

use trio::sync::{CapacityLimiter, Lock, Semaphore, StrictFifoLock};
use trio::testing::wait_all_tasks_blocked;

trait LockLike {
    async fn acquire(&self) -> trio::Result<()>;
    fn acquire_nowait(&self) -> trio::Result<()>;
    fn release(&self) -> trio::Result<()>;
    /// Acquires and returns the RAII guard/permit (boxed: only its drop matters).
    async fn guard(&self) -> trio::Result<Box<dyn Debug + '_>>;
}

impl LockLike for CapacityLimiter {
    async fn acquire(&self) -> trio::Result<()> {
        CapacityLimiter::acquire(self).await.map(|p| p.forget())
    }
    fn acquire_nowait(&self) -> trio::Result<()> {
        CapacityLimiter::acquire_nowait(self).map(|p| p.forget())
    }
    fn release(&self) -> trio::Result<()> {
        CapacityLimiter::release(self)
    }
    async fn guard(&self) -> trio::Result<Box<dyn Debug + '_>> {
        Ok(Box::new(CapacityLimiter::acquire(self).await?))
    }
}

impl LockLike for Semaphore {
    async fn acquire(&self) -> trio::Result<()> {
        Semaphore::acquire(self).await.map(|p| p.forget())
    }
    fn acquire_nowait(&self) -> trio::Result<()> {
        Semaphore::acquire_nowait(self).map(|p| p.forget())
    }
    fn release(&self) -> trio::Result<()> {
        Semaphore::release(self)
    }
    async fn guard(&self) -> trio::Result<Box<dyn Debug + '_>> {
        Ok(Box::new(Semaphore::acquire(self).await?))
    }
}

macro_rules! impl_lock_like {
    ($T:ty) => {
        impl LockLike for $T {
            async fn acquire(&self) -> trio::Result<()> {
                <$T>::acquire(self).await
            }
            fn acquire_nowait(&self) -> trio::Result<()> {
                <$T>::acquire_nowait(self)
            }
            fn release(&self) -> trio::Result<()> {
                <$T>::release(self)
            }
            async fn guard(&self) -> trio::Result<Box<dyn Debug + '_>> {
                Ok(Box::new(<$T>::lock(self).await?))
            }
        }
    };
}
impl_lock_like!(Lock);
impl_lock_like!(StrictFifoLock);

/// Runs `body` holding `lock`, the Trio way or the RAII way.
async fn with_lock<L: LockLike, T>(
    lock: &L,
    raii: bool,
    body: impl AsyncFnOnce() -> trio::Result<T>,
) -> trio::Result<T> {
    if raii {
        let _guard = lock.guard().await?;
        body().await
    } else {
        lock.acquire().await?;
        let out = body().await;
        lock.release()?;
        out
    }
}

/// Spawn a bunch of workers that take a lock and then yield; make sure that only
/// one worker is ever in the critical section at a time.
async fn generic_lock_exclusion<L: LockLike>(lock: L, raii: bool) -> trio::Result<()> {
    const LOOPS: usize = 10;
    const WORKERS: usize = 5;
    let in_critical_section = Cell::new(false);
    let acquires = Cell::new(0);
    let (lock, ics, acquires_r) = (&lock, &in_critical_section, &acquires);
    trio::open_nursery(async |n| {
        for _ in 0..WORKERS {
            n.start_soon(async move {
                for _ in 0..LOOPS {
                    with_lock(lock, raii, async || {
                        acquires_r.set(acquires_r.get() + 1);
                        assert!(!ics.get());
                        ics.set(true);
                        trio::lowlevel::checkpoint().await?;
                        trio::lowlevel::checkpoint().await?;
                        assert!(ics.get());
                        ics.set(false);
                        Ok(())
                    })
                    .await?;
                }
                Ok(())
            })?;
        }
        Ok(())
    })
    .await?;
    assert!(!in_critical_section.get());
    assert_eq!(acquires.get(), LOOPS * WORKERS);
    Ok(())
}

/// Several workers queue on the same lock; make sure they each get it, in order.
async fn generic_lock_fifo_fairness<L: LockLike>(lock: L, raii: bool) -> trio::Result<()> {
    const LOOPS: usize = 5;
    let initial_order = RefCell::new(Vec::new());
    let record = RefCell::new(Vec::new());
    let (lock, io, rec) = (&lock, &initial_order, &record);
    trio::open_nursery(async |n| {
        for name in 1..=3 {
            n.start_soon(async move {
                // Record the order each task was initially scheduled in.
                io.borrow_mut().push(name);
                for _ in 0..LOOPS {
                    with_lock(lock, raii, async || {
                        rec.borrow_mut().push(name);
                        Ok(())
                    })
                    .await?;
                }
                Ok(())
            })?;
        }
        Ok(())
    })
    .await?;
    // The first three could be in any order due to scheduling randomness, but
    // after that they should repeat in the same order.
    let (initial_order, record) = (initial_order.into_inner(), record.into_inner());
    for i in 0..LOOPS {
        assert_eq!(record[3 * i..3 * (i + 1)], initial_order[..], "{record:?}");
    }
    Ok(())
}

async fn generic_lock_acquire_nowait_blocks_acquire<L: LockLike>(
    lock: L,
    raii: bool,
) -> trio::Result<()> {
    let record = RefCell::new(Vec::new());
    let (lock, rec) = (&lock, &record);
    trio::open_nursery(async |n| {
        lock.acquire_nowait()?;
        n.start_soon(async move {
            rec.borrow_mut().push("started");
            with_lock(lock, raii, async || Ok(())).await?;
            rec.borrow_mut().push("finished");
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        assert_eq!(*rec.borrow(), ["started"]);
        lock.release()
    })
    .await?;
    assert_eq!(*record.borrow(), ["started", "finished"]);
    Ok(())
}

macro_rules! generic_lock_tests {
    ($($modname:ident => $factory:expr;)*) => {$(
        mod $modname {
            use super::*;

            #[trio::test]
            async fn exclusion() -> trio::Result<()> {
                generic_lock_exclusion($factory, false).await
            }

            #[trio::test]
            async fn exclusion_raii() -> trio::Result<()> {
                generic_lock_exclusion($factory, true).await
            }

            #[trio::test]
            async fn fifo_fairness() -> trio::Result<()> {
                generic_lock_fifo_fairness($factory, false).await
            }

            #[trio::test]
            async fn fifo_fairness_raii() -> trio::Result<()> {
                generic_lock_fifo_fairness($factory, true).await
            }

            #[trio::test]
            async fn acquire_nowait_blocks_acquire() -> trio::Result<()> {
                generic_lock_acquire_nowait_blocks_acquire($factory, false).await
            }

            #[trio::test]
            async fn acquire_nowait_blocks_acquire_raii() -> trio::Result<()> {
                generic_lock_acquire_nowait_blocks_acquire($factory, true).await
            }
        }
    )*};
}

generic_lock_tests! {
    capacity_limiter_1 => CapacityLimiter::new(1);
    semaphore_1 => Semaphore::new(1);
    lock => Lock::new();
    strict_fifo_lock => StrictFifoLock::new();
}
