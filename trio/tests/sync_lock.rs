// Ported from Python Trio's `trio/_tests/test_sync.py`:
// * `test_Lock_and_StrictFIFOLock` (run for both `Lock` and `StrictFifoLock`);
// * `test_lock_acquire_unowned_lock`, `test_lock_multiple_acquire`,
//   `test_lock_handover` (parking lot breakers, trio 0.25+: an owner that exits
//   holding the lock breaks it).
//
// Rust mappings: `async with lock` is `let _guard = lock.lock().await?`; Trio's
// `RuntimeError` is `ErrorKind::Usage`; the breaker registry Trio's tests inspect
// (`GLOBAL_PARKING_LOT_BREAKER`) is checked by its effects instead.
//
// Plus what Rust adds: guards moved between tasks, leaked guards, inert guards
// after an explicit `release`, dropped acquire futures (before and after a
// hand-off), and the hand-off fairness seen from the releasing task.

mod sync_support;

use std::cell::RefCell;
use std::future::Future;
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use sync_support::{assert_checkpoints, assert_no_checkpoints, run_cancelled};
use trio::lowlevel::current_task;
use trio::sync::{Event, Lock, StrictFifoLock};
use trio::testing::wait_all_tasks_blocked;
use trio::{CancelScope, ErrorKind};

/// Polls `fut` once (it must not complete) and returns it.
async fn poll_once<F: Future>(mut fut: std::pin::Pin<&mut F>) {
    std::future::poll_fn(|cx| {
        assert!(fut.as_mut().poll(cx).is_pending(), "expected to block");
        Poll::Ready(())
    })
    .await
}

macro_rules! lock_tests {
    ($modname:ident, $Lock:ty) => {
        mod $modname {
            use super::*;

            fn new_lock() -> $Lock {
                <$Lock>::new()
            }

            #[trio::test]
            async fn lock_basics() -> trio::Result<()> {
                // test_Lock_and_StrictFIFOLock
                let l = new_lock();
                assert!(!l.locked());
                let name = stringify!($Lock);
                assert!(format!("{l:?}").starts_with(name));

                assert_checkpoints(async {
                    let _g = l.lock().await?;
                    assert!(l.locked());
                    let _ = format!("{l:?}");
                    Ok::<_, trio::Error>(())
                })
                .await?;
                assert!(!l.locked());
                l.acquire_nowait()?;
                assert!(l.locked());
                l.release()?;
                assert!(!l.locked());
                assert_checkpoints(l.acquire()).await?;
                assert!(l.locked());
                l.release()?;
                assert!(!l.locked());

                l.acquire_nowait()?;
                // Error out if we already own the lock.
                assert_eq!(l.acquire_nowait().unwrap_err().kind(), ErrorKind::Usage);
                l.release()?;
                // Error out if we don't own the lock.
                assert_eq!(l.release().unwrap_err().kind(), ErrorKind::Usage);

                let holder_task = RefCell::new(None);
                let (l, ht) = (&l, &holder_task);
                let holder = async move || {
                    *ht.borrow_mut() = Some(current_task());
                    let _g = l.lock().await?;
                    trio::sleep_forever().await
                };
                trio::open_nursery(async |n| {
                    assert!(!l.locked());
                    n.start_soon(holder())?;
                    wait_all_tasks_blocked().await?;
                    assert!(l.locked());
                    // WouldBlock if someone else holds the lock.
                    assert_eq!(
                        l.acquire_nowait().unwrap_err().kind(),
                        ErrorKind::WouldBlock
                    );
                    // Can't release a lock someone else holds.
                    assert_eq!(l.release().unwrap_err().kind(), ErrorKind::Usage);

                    let stats = l.statistics();
                    assert!(stats.locked);
                    assert_eq!(stats.owner, holder_task.borrow().clone());
                    assert_eq!(stats.tasks_waiting, 0);

                    n.start_soon(holder())?;
                    wait_all_tasks_blocked().await?;
                    assert_eq!(l.statistics().tasks_waiting, 1);

                    n.cancel_scope().cancel();
                    Ok(())
                })
                .await?;

                let stats = l.statistics();
                assert!(!stats.locked);
                assert_eq!(stats.owner, None);
                assert_eq!(stats.tasks_waiting, 0);
                Ok(())
            }

            #[trio::test]
            async fn nowait_forms_are_not_checkpoints() -> trio::Result<()> {
                let l = new_lock();
                assert_no_checkpoints(async { l.acquire_nowait() }).await?;
                assert_no_checkpoints(async { l.release() }).await?;
                let g = assert_no_checkpoints(async { l.try_lock() }).await?;
                assert_no_checkpoints(async { g.unlock() }).await;
                Ok(())
            }

            #[trio::test]
            async fn reentrant_lock_is_a_usage_error() -> trio::Result<()> {
                let l = new_lock();
                let _g = l.lock().await?;
                let e = l.lock().await.unwrap_err();
                assert_eq!(e.kind(), ErrorKind::Usage);
                assert!(e.to_string().contains("reentrant"), "{e}");
                assert_eq!(l.acquire().await.unwrap_err().kind(), ErrorKind::Usage);
                assert_eq!(l.try_lock().unwrap_err().kind(), ErrorKind::Usage);
                Ok(())
            }

            #[trio::test]
            async fn release_errors_are_descriptive() -> trio::Result<()> {
                let l = new_lock();
                let e = l.release().unwrap_err();
                assert_eq!(e.kind(), ErrorKind::Usage);
                assert!(e.to_string().contains("not held"), "{e}");
                let l = &l;
                trio::open_nursery(async |n| {
                    n.start_soon(async move {
                        let _g = l.lock().await?;
                        trio::sleep_forever().await
                    })?;
                    wait_all_tasks_blocked().await?;
                    let e = l.release().unwrap_err();
                    assert_eq!(e.kind(), ErrorKind::Usage);
                    assert!(e.to_string().contains("another task"), "{e}");
                    n.cancel_scope().cancel();
                    Ok(())
                })
                .await?;
                Ok(())
            }

            #[trio::test]
            async fn cancelled_lock_did_nothing() -> trio::Result<()> {
                // Free lock, cancelled scope: Err(Cancelled), not acquired.
                let l = new_lock();
                assert_eq!(run_cancelled(l.lock()).await?.map(drop), None);
                assert!(!l.locked());
                assert_eq!(run_cancelled(l.acquire()).await?, None);
                assert!(!l.locked());

                // Cancelled while queued: leaves the queue, never gets the lock.
                let scope = CancelScope::new();
                let (l, s) = (&l, &scope);
                trio::open_nursery(async |n| {
                    let g = l.lock().await?;
                    n.start_soon(async move {
                        assert!(s.run(l.lock()).await?.is_none());
                        Ok(())
                    })?;
                    wait_all_tasks_blocked().await?;
                    assert_eq!(l.statistics().tasks_waiting, 1);
                    scope.cancel();
                    wait_all_tasks_blocked().await?;
                    assert_eq!(l.statistics().tasks_waiting, 0);
                    drop(g);
                    assert!(!l.locked());
                    Ok(())
                })
                .await
                .map(drop)
            }

            #[trio::test]
            async fn handoff_beats_a_later_cancellation() -> trio::Result<()> {
                // The lock was handed to the waiter before its cancellation was
                // noticed: the acquire happened, so it returns the guard.
                let l = new_lock();
                let scope = CancelScope::new();
                let (l, s) = (&l, &scope);
                trio::open_nursery(async |n| {
                    let g = l.lock().await?;
                    let mut h = n.spawn(async move {
                        let got = s.run(async { l.lock().await.map(|g| g.unlock()) }).await?;
                        Ok(got.is_some())
                    })?;
                    wait_all_tasks_blocked().await?;
                    drop(g); // hand-off
                    assert_eq!(l.statistics().owner.as_ref(), Some(h.task()));
                    scope.cancel();
                    assert!(h.join().await?);
                    Ok(())
                })
                .await?;
                assert!(!l.locked());
                Ok(())
            }

            #[trio::test]
            async fn releaser_cannot_barge_back_in() -> trio::Result<()> {
                // FIFO hand-off seen from the releasing task: after releasing with
                // a waiter queued, the lock already belongs to the waiter.
                let l = new_lock();
                let order = RefCell::new(Vec::new());
                let (l, order) = (&l, &order);
                trio::open_nursery(async |n| {
                    let g = l.lock().await?;
                    let mut h = n.spawn(async move {
                        let _g = l.lock().await?;
                        order.borrow_mut().push("waiter");
                        Ok(())
                    })?;
                    wait_all_tasks_blocked().await?;
                    drop(g);
                    assert!(l.locked());
                    assert_eq!(l.statistics().owner.as_ref(), Some(h.task()));
                    assert_eq!(l.try_lock().unwrap_err().kind(), ErrorKind::WouldBlock);
                    let _g = l.lock().await?; // queues behind the waiter
                    order.borrow_mut().push("releaser");
                    h.join().await?;
                    Ok(())
                })
                .await?;
                assert_eq!(*order.borrow(), ["waiter", "releaser"]);
                Ok(())
            }

            #[trio::test]
            async fn strict_fifo_order() -> trio::Result<()> {
                let l = new_lock();
                let got = RefCell::new(Vec::new());
                let (l, got) = (&l, &got);
                trio::open_nursery(async |n| {
                    let g = l.lock().await?;
                    for i in 0..10 {
                        n.start_soon(async move {
                            let _g = l.lock().await?;
                            got.borrow_mut().push(i);
                            trio::lowlevel::checkpoint().await
                        })?;
                        wait_all_tasks_blocked().await?;
                    }
                    drop(g);
                    Ok(())
                })
                .await?;
                assert_eq!(*got.borrow(), (0..10).collect::<Vec<_>>());
                Ok(())
            }

            #[trio::test]
            async fn lock_acquire_unowned_lock() -> trio::Result<()> {
                // test_lock_acquire_unowned_lock: the owner exits holding the lock.
                let l = new_lock();
                let l = &l;
                let owner = trio::open_nursery(async |n| {
                    let h = n.spawn(l.acquire())?;
                    Ok(h.task().clone())
                })
                .await?
                .expect("the body returned");
                assert!(l.locked());
                assert_eq!(l.statistics().owner.as_ref(), Some(&owner));
                let e = l.acquire().await.unwrap_err();
                assert_eq!(e.kind(), ErrorKind::BrokenResource);
                let msg = e.to_string();
                assert!(
                    msg.contains("the owner of this lock exited without releasing it: task")
                        && msg.contains(&format!("(id {})", owner.id())),
                    "{msg}"
                );
                // Broken for good, also for the non-blocking forms.
                assert_eq!(l.try_lock().unwrap_err().kind(), ErrorKind::BrokenResource);
                assert_eq!(
                    l.lock().await.unwrap_err().kind(),
                    ErrorKind::BrokenResource
                );
                Ok(())
            }

            #[trio::test]
            async fn lock_multiple_acquire() {
                // test_lock_multiple_acquire: the second acquirer is waiting when
                // the first exits holding the lock.
                let l = new_lock();
                let l = &l;
                let e = trio::open_nursery(async |n| {
                    n.start_soon(l.acquire())?;
                    n.start_soon(l.acquire())?;
                    Ok(())
                })
                .await
                .unwrap_err();
                assert_eq!(e.kind(), ErrorKind::BrokenResource);
                assert!(
                    e.to_string()
                        .contains("the owner of this lock exited without releasing it"),
                    "{e}"
                );
            }

            #[trio::test]
            async fn lock_handover() -> trio::Result<()> {
                // test_lock_handover: the breaker moves with ownership. This task
                // acquires, hands the lock over to a child, and the child exits
                // holding it: the lock breaks on the child's exit, not ours.
                let l = new_lock();
                l.acquire_nowait()?;
                let l = &l;
                let child = trio::open_nursery(async |n| {
                    let h = n.spawn(l.acquire())?;
                    wait_all_tasks_blocked().await?;
                    l.release()?; // hand over to the child
                    assert_eq!(l.statistics().owner.as_ref(), Some(h.task()));
                    Ok(h.task().clone())
                })
                .await?
                .expect("the body returned");
                let e = l.acquire().await.unwrap_err();
                assert_eq!(e.kind(), ErrorKind::BrokenResource);
                assert!(
                    e.to_string().contains(&format!("(id {})", child.id())),
                    "{e}"
                );
                Ok(())
            }

            #[trio::test]
            async fn released_owner_exiting_does_not_break() -> trio::Result<()> {
                // The reverse: a child acquires, hands the lock to us, and exits;
                // its breaker went away with the ownership.
                let l = new_lock();
                let go = Event::new();
                let (l, go) = (&l, &go);
                trio::open_nursery(async |n| {
                    n.start_soon(async move {
                        l.acquire().await?;
                        go.wait().await?;
                        l.release()
                    })?;
                    wait_all_tasks_blocked().await?;
                    go.set();
                    l.acquire().await?; // handed over by the child, which then exits
                    Ok(())
                })
                .await?;
                assert_eq!(l.statistics().owner, Some(current_task()));
                l.release()?;
                let _g = l.lock().await?; // not broken
                Ok(())
            }

            #[trio::test]
            async fn guard_moved_to_another_task_releases_there() -> trio::Result<()> {
                let l = new_lock();
                let l = &l;
                let me = current_task();
                trio::open_nursery(async |n| {
                    let g = l.lock().await?;
                    let me = me.clone();
                    n.start_soon(async move {
                        // The owner is still the task that acquired it...
                        assert_eq!(l.statistics().owner, Some(me));
                        // ...so only it may `release` explicitly,
                        assert_eq!(l.release().unwrap_err().kind(), ErrorKind::Usage);
                        trio::lowlevel::checkpoint().await?;
                        // but dropping the guard here releases.
                        drop(g);
                        assert!(!l.locked());
                        Ok(())
                    })?;
                    Ok(())
                })
                .await?;
                assert!(!l.locked());
                Ok(())
            }

            #[trio::test]
            async fn guard_outliving_its_owner_breaks_the_lock() -> trio::Result<()> {
                // A child acquires and moves its guard out to us, then exits: the
                // owner left while the lock was held. Waiters then get
                // BrokenResource; dropping the guard afterwards frees the lock but
                // it stays broken.
                let l = new_lock();
                let l = &l;
                let slot = RefCell::new(None);
                let slot = &slot;
                let errs = RefCell::new(Vec::new());
                let errs = &errs;
                trio::open_nursery(async |n| {
                    n.start_soon(async move {
                        let g = l.lock().await?;
                        *slot.borrow_mut() = Some(g);
                        wait_all_tasks_blocked().await // let the waiter queue
                    })?;
                    n.start_soon(async move {
                        trio::lowlevel::checkpoint().await?;
                        let e = l.lock().await.unwrap_err();
                        errs.borrow_mut().push(e.kind());
                        Ok(())
                    })?;
                    Ok(())
                })
                .await?;
                assert_eq!(*errs.borrow(), [ErrorKind::BrokenResource]);
                assert!(l.locked());
                drop(slot.borrow_mut().take());
                assert!(!l.locked());
                assert_eq!(
                    l.lock().await.unwrap_err().kind(),
                    ErrorKind::BrokenResource
                );
                Ok(())
            }

            #[trio::test]
            async fn leaked_guard_breaks_the_lock_when_its_task_exits() -> trio::Result<()> {
                let l = new_lock();
                let l = &l;
                trio::open_nursery(async |n| {
                    n.start_soon(async move {
                        std::mem::forget(l.lock().await?);
                        Ok(())
                    })?;
                    Ok(())
                })
                .await?;
                assert_eq!(
                    l.acquire().await.unwrap_err().kind(),
                    ErrorKind::BrokenResource
                );
                Ok(())
            }

            #[trio::test]
            async fn guard_after_explicit_release_is_inert() -> trio::Result<()> {
                let l = new_lock();
                let l = &l;
                let old = l.lock().await?;
                l.release()?; // ends the guard's acquisition
                trio::open_nursery(async |n| {
                    let h = n.spawn(async move {
                        let _g = l.lock().await?;
                        trio::sleep_forever().await
                    })?;
                    wait_all_tasks_blocked().await?;
                    drop(old); // must not release the child's lock
                    assert_eq!(l.statistics().owner.as_ref(), Some(h.task()));
                    h.cancel();
                    Ok(())
                })
                .await?;
                assert!(!l.locked());
                Ok(())
            }

            #[trio::test]
            async fn dropped_waiter_hands_the_lock_to_the_next() -> trio::Result<()> {
                // A waiter is handed the lock, but its future is dropped before it
                // runs: the hand-off passes on to the next waiter.
                let l = new_lock();
                let l = &l;
                let release = Event::new();
                let release = &release;
                trio::open_nursery(async |n| {
                    n.start_soon(async move {
                        let _g = l.lock().await?;
                        release.wait().await
                    })?;
                    wait_all_tasks_blocked().await?;
                    // Queue a `lock` future of this task by polling it once.
                    let mut first = Box::pin(l.lock());
                    poll_once(first.as_mut()).await;
                    let mut second = n.spawn(async move {
                        let _g = l.lock().await?;
                        Ok(l.statistics().owner == Some(current_task()))
                    })?;
                    wait_all_tasks_blocked().await?;
                    assert_eq!(l.statistics().tasks_waiting, 2);
                    release.set();
                    wait_all_tasks_blocked().await?;
                    // The holder released: we (the first waiter) own the lock...
                    assert_eq!(l.statistics().owner, Some(current_task()));
                    // ...until the future that was handed it is dropped unpolled.
                    drop(first);
                    assert!(second.join().await?);
                    Ok(())
                })
                .await?;
                assert!(!l.locked());
                let _g = l.lock().await?; // not broken
                Ok(())
            }

            #[trio::test]
            async fn dropped_fast_path_acquire_releases() -> trio::Result<()> {
                // `acquire` took the free lock and is yielding in its
                // cancel-shielded checkpoint when its future is dropped.
                let l = new_lock();
                {
                    let mut fut = pin!(l.acquire());
                    poll_once(fut.as_mut()).await;
                    assert!(l.locked());
                }
                assert!(!l.locked());
                let _g = l.lock().await?;
                Ok(())
            }

            #[trio::test(autojump)]
            async fn timed_out_waiters() -> trio::Result<()> {
                let l = new_lock();
                let l = &l;
                trio::open_nursery(async |n| {
                    n.start_soon(async move {
                        let _g = l.lock().await?;
                        trio::sleep(Duration::from_secs(10)).await
                    })?;
                    wait_all_tasks_blocked().await?;
                    let r = trio::move_on_after(Duration::from_secs(5), l.lock()).await?;
                    assert!(r.is_none());
                    assert_eq!(l.statistics().tasks_waiting, 0);
                    let r = trio::move_on_after(Duration::from_secs(10), l.lock()).await?;
                    assert!(r.is_some());
                    Ok(())
                })
                .await
                .map(drop)
            }
        }
    };
}

lock_tests!(lock, Lock);
lock_tests!(strict_fifo_lock, StrictFifoLock);

/// With a schedule budget an acquisition yields *before* taking a free lock, so
/// a budget-exhausted yield never happens while holding it and tasks that never
/// await inside the critical section never queue (no lock convoy).
#[test]
fn budget_mode_takes_free_lock_after_its_schedule_point() {
    let rt = trio::Runtime::builder().schedule_budget(3).build();
    rt.run(async {
        let lock = Lock::new();
        let waiting_seen = std::cell::Cell::new(0usize);
        let acquisitions = std::cell::Cell::new(0usize);
        trio::open_nursery(async |n| {
            for _ in 0..4 {
                n.start_soon(async {
                    for _ in 0..20 {
                        let _g = lock.lock().await?;
                        waiting_seen.set(waiting_seen.get() + lock.statistics().tasks_waiting);
                        acquisitions.set(acquisitions.get() + 1);
                    }
                    Ok(())
                })?;
            }
            Ok(())
        })
        .await?;
        assert_eq!(acquisitions.get(), 80);
        assert_eq!(
            waiting_seen.get(),
            0,
            "a task queued behind a lock held across a yield"
        );
        Ok::<_, trio::Error>(())
    })
    .unwrap();
}
