// Ported from Python Trio's `trio/_tests/test_sync.py`: `test_Semaphore`,
// `test_Semaphore_bounded`.
//
// Rust mappings: `Semaphore(1, max_value=1)` is `Semaphore::with_max(1, 1)`;
// Trio's `TypeError`/`ValueError` for bad arguments become the type system
// (`usize`) or `ErrorKind::InvalidInput`; `async with s` is a `SemaphorePermit`.
//
// Plus: cancellation leaves the value alone, FIFO hand-off order, dropped
// waiters pass their unit on, and permit `forget`.

mod sync_support;

use std::cell::RefCell;
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use sync_support::{assert_checkpoints, assert_no_checkpoints, run_cancelled};
use trio::sync::Semaphore;
use trio::testing::wait_all_tasks_blocked;
use trio::{CancelScope, ErrorKind};

#[trio::test]
async fn semaphore() -> trio::Result<()> {
    // test_Semaphore
    let s = Semaphore::new(1);
    let _ = format!("{s:?}");
    assert_eq!(s.value(), 1);
    assert_eq!(s.max_value(), None);
    s.release()?;
    assert_eq!(s.value(), 2);
    assert_eq!(s.statistics().tasks_waiting, 0);
    s.acquire_nowait()?.forget();
    assert_eq!(s.value(), 1);
    assert_checkpoints(s.acquire()).await?.forget();
    assert_eq!(s.value(), 0);
    assert_eq!(
        s.acquire_nowait().unwrap_err().kind(),
        ErrorKind::WouldBlock
    );

    s.release()?;
    assert_eq!(s.value(), 1);
    assert_checkpoints(async {
        let _permit = s.acquire().await?;
        assert_eq!(s.value(), 0);
        Ok::<_, trio::Error>(())
    })
    .await?;
    assert_eq!(s.value(), 1);
    s.acquire_nowait()?.forget();

    let record = RefCell::new(Vec::new());
    let (s, record) = (&s, &record);
    trio::open_nursery(async |n| {
        n.start_soon(async move {
            record.borrow_mut().push("started");
            s.acquire().await?.forget();
            record.borrow_mut().push("finished");
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        assert_eq!(*record.borrow(), ["started"]);
        assert_eq!(s.value(), 0);
        s.release()?;
        // Fairness:
        assert_eq!(s.value(), 0);
        assert_eq!(
            s.acquire_nowait().unwrap_err().kind(),
            ErrorKind::WouldBlock
        );
        Ok(())
    })
    .await?;
    assert_eq!(*record.borrow(), ["started", "finished"]);
    Ok(())
}

/// Trio separates a bad value (`ValueError`: a semaphore over its maximum) from a
/// misuse (`RuntimeError`: releasing a lock the task does not hold).
#[test]
fn values_past_the_maximum_are_invalid_input_misuse_is_usage() -> trio::Result<()> {
    let e = Semaphore::with_max(3, 2).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert_eq!(
        std::io::Error::from(e).kind(),
        std::io::ErrorKind::InvalidInput
    );
    let full = Semaphore::with_max(2, 2)?;
    assert_eq!(full.release().unwrap_err().kind(), ErrorKind::InvalidInput);
    trio::run(async {
        let lock = trio::sync::Lock::new();
        assert_eq!(lock.release().unwrap_err().kind(), ErrorKind::Usage);
        Ok(())
    })
}

#[test]
fn semaphore_bounded() -> trio::Result<()> {
    // test_Semaphore_bounded (needs no run loop)
    let e = Semaphore::with_max(2, 1).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(
        e.to_string()
            .contains("max_value must be >= its initial value"),
        "{e}"
    );
    let bs = Semaphore::with_max(1, 1)?;
    assert_eq!(bs.max_value(), Some(1));
    let _ = format!("{bs:?}");
    let e = bs.release().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(e.to_string().contains("released too many times"), "{e}");
    assert_eq!(bs.value(), 1);
    bs.acquire_nowait()?.forget();
    assert_eq!(bs.value(), 0);
    bs.release()?;
    assert_eq!(bs.value(), 1);
    Ok(())
}

#[trio::test]
async fn nowait_and_release_are_not_checkpoints() -> trio::Result<()> {
    let s = Semaphore::new(1);
    let p = assert_no_checkpoints(async { s.acquire_nowait() }).await?;
    assert_no_checkpoints(async { drop(p) }).await;
    assert_no_checkpoints(async { s.release() }).await?;
    Ok(())
}

#[trio::test]
async fn cancelled_acquire_did_nothing() -> trio::Result<()> {
    let s = Semaphore::new(1);
    assert!(run_cancelled(s.acquire()).await?.is_none());
    assert_eq!(s.value(), 1);

    let s = Semaphore::new(0);
    let scope = CancelScope::new();
    let (s, sc) = (&s, &scope);
    trio::open_nursery(async |n| {
        n.start_soon(async move {
            assert!(
                sc.run(async { s.acquire().await.map(drop) })
                    .await?
                    .is_none()
            );
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        assert_eq!(s.statistics().tasks_waiting, 1);
        scope.cancel();
        wait_all_tasks_blocked().await?;
        assert_eq!(s.statistics().tasks_waiting, 0);
        Ok(())
    })
    .await?;
    assert_eq!(s.value(), 0);
    s.release()?;
    assert_eq!(s.value(), 1); // nobody took it
    Ok(())
}

#[trio::test]
async fn handoff_beats_a_later_cancellation() -> trio::Result<()> {
    let s = Semaphore::new(0);
    let scope = CancelScope::new();
    let (s, sc) = (&s, &scope);
    trio::open_nursery(async |n| {
        let mut h = n.spawn(async move {
            let got = sc
                .run(async { s.acquire().await.map(|p| p.forget()) })
                .await?;
            Ok(got.is_some())
        })?;
        wait_all_tasks_blocked().await?;
        s.release()?;
        scope.cancel();
        assert!(h.join().await?);
        Ok(())
    })
    .await?;
    assert_eq!(s.value(), 0); // the child kept its unit
    Ok(())
}

#[trio::test]
async fn waiters_are_served_in_fifo_order() -> trio::Result<()> {
    let s = Semaphore::new(0);
    let order = RefCell::new(Vec::new());
    let (s, order) = (&s, &order);
    trio::open_nursery(async |n| {
        for i in 0..5 {
            n.start_soon(async move {
                s.acquire().await?.forget();
                order.borrow_mut().push(i);
                Ok(())
            })?;
            wait_all_tasks_blocked().await?;
        }
        for _ in 0..5 {
            s.release()?;
            wait_all_tasks_blocked().await?;
        }
        Ok(())
    })
    .await?;
    assert_eq!(*order.borrow(), [0, 1, 2, 3, 4]);
    Ok(())
}

#[trio::test]
async fn dropped_waiter_passes_its_unit_on() -> trio::Result<()> {
    let s = Semaphore::new(0);
    let s = &s;
    trio::open_nursery(async |n| {
        let mut first = Box::pin(s.acquire());
        std::future::poll_fn(|cx| {
            assert!(first.as_mut().poll(cx).is_pending());
            Poll::Ready(())
        })
        .await;
        let mut second = n.spawn(async move { s.acquire().await.map(|p| p.forget()) })?;
        wait_all_tasks_blocked().await?;
        assert_eq!(s.statistics().tasks_waiting, 2);
        s.release()?; // handed to `first`...
        drop(first); // ...which goes away unpolled: the unit moves on
        second.join().await?;
        Ok(())
    })
    .await?;
    assert_eq!(s.value(), 0);
    // With nobody waiting, a dropped hand-off goes back into the value.
    let mut fut = Box::pin(s.acquire());
    std::future::poll_fn(|cx| {
        assert!(fut.as_mut().poll(cx).is_pending());
        Poll::Ready(())
    })
    .await;
    s.release()?;
    drop(fut);
    assert_eq!(s.value(), 1);
    Ok(())
}

#[trio::test]
async fn dropped_fast_path_acquire_releases() -> trio::Result<()> {
    let s = Semaphore::new(1);
    {
        let mut fut = pin!(s.acquire());
        std::future::poll_fn(|cx| {
            assert!(fut.as_mut().poll(cx).is_pending()); // in its shielded yield
            Poll::Ready(())
        })
        .await;
        assert_eq!(s.value(), 0);
    }
    assert_eq!(s.value(), 1);
    Ok(())
}

#[trio::test]
async fn permit_drop_never_exceeds_max() -> trio::Result<()> {
    let s = Semaphore::with_max(1, 1)?;
    let p = s.acquire().await?;
    s.release()?; // an extra, Trio-style release
    assert_eq!(s.value(), 1);
    drop(p); // would exceed max_value: dropped quietly
    assert_eq!(s.value(), 1);
    Ok(())
}

#[trio::test(autojump)]
async fn bounded_concurrency_over_time() -> trio::Result<()> {
    let s = Semaphore::new(2);
    let start = trio::current_time();
    let s = &s;
    trio::open_nursery(async |n| {
        for _ in 0..6 {
            n.start_soon(async move {
                let _p = s.acquire().await?;
                trio::sleep(Duration::from_secs(1)).await
            })?;
        }
        Ok(())
    })
    .await?;
    assert_eq!(trio::current_time() - start, Duration::from_secs(3));
    Ok(())
}
