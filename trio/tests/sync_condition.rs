// Ported from Python Trio's `trio/_tests/test_sync.py`: `test_Condition`.
//
// Rust mappings: `Condition(lock)` is `Condition::with_lock(&lock)` (the
// `TypeError` for a non-`Lock` argument is the type system); `async with c` is
// `let _g = c.lock().await?`; Trio's `RuntimeError` is `ErrorKind::Usage`.
//
// Plus: a cancellation that arrives while asleep re-acquires the lock under a
// shield (waiting its turn), notified waiters queue behind earlier lock waiters,
// shared locks, guards across `wait`, a dropped `wait` future, a lock broken while
// re-acquiring.

mod sync_support;

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::future::Future;
use std::task::Poll;
use std::time::Duration;

use sync_support::{assert_checkpoints, assert_no_checkpoints};
use trio::lowlevel::current_task;
use trio::sync::{Condition, Event, Lock};
use trio::testing::wait_all_tasks_blocked;
use trio::{CancelScope, ErrorKind};

#[trio::test]
async fn condition() -> trio::Result<()> {
    // test_Condition
    let l = Lock::new();
    let c = Condition::with_lock(&l);
    assert!(!l.locked());
    assert!(!c.locked());
    assert_checkpoints(c.acquire()).await?;
    assert!(l.locked());
    assert!(c.locked());

    let c = Condition::new();
    assert!(!c.locked());
    c.acquire_nowait()?;
    assert!(c.locked());
    assert_eq!(c.acquire_nowait().unwrap_err().kind(), ErrorKind::Usage);
    c.release()?;

    // Can't wait without holding the lock.
    assert_eq!(c.wait().await.unwrap_err().kind(), ErrorKind::Usage);
    // Can't notify without holding the lock.
    assert_eq!(c.notify(1).unwrap_err().kind(), ErrorKind::Usage);
    assert_eq!(c.notify_all().unwrap_err().kind(), ErrorKind::Usage);

    let finished = RefCell::new(HashSet::new());
    let (c, finished) = (&c, &finished);
    let waiter = async move |i: u32| {
        {
            let _g = c.lock().await?;
            c.wait().await?;
        }
        finished.borrow_mut().insert(i);
        Ok(())
    };

    trio::open_nursery(async |n| {
        for i in 0..3 {
            n.start_soon(waiter(i))?;
            wait_all_tasks_blocked().await?;
        }
        {
            let _g = c.lock().await?;
            c.notify(1)?;
        }
        assert!(c.locked()); // handed to the notified waiter
        wait_all_tasks_blocked().await?;
        assert_eq!(*finished.borrow(), HashSet::from([0]));
        {
            let _g = c.lock().await?;
            c.notify_all()?;
        }
        wait_all_tasks_blocked().await?;
        assert_eq!(*finished.borrow(), HashSet::from([0, 1, 2]));
        Ok(())
    })
    .await?;

    finished.borrow_mut().clear();
    trio::open_nursery(async |n| {
        for i in 0..3 {
            n.start_soon(waiter(i))?;
            wait_all_tasks_blocked().await?;
        }
        {
            let _g = c.lock().await?;
            c.notify(2)?;
            let stats = c.statistics();
            assert_eq!(stats.tasks_waiting, 1);
            assert_eq!(stats.lock_statistics.tasks_waiting, 2);
        }
        // Releasing hands the lock off to the first task.
        assert_eq!(c.statistics().lock_statistics.tasks_waiting, 1);
        wait_all_tasks_blocked().await?;
        assert_eq!(*finished.borrow(), HashSet::from([0, 1]));
        let _g = c.lock().await?;
        c.notify_all()
    })
    .await?;

    // After being cancelled, we still hold the lock (!)
    let scope = CancelScope::new();
    let r = scope
        .run(async {
            let _g = c.lock().await?;
            scope.cancel();
            let r = c.wait().await;
            assert!(c.locked());
            assert_eq!(c.statistics().lock_statistics.owner, Some(current_task()));
            r
        })
        .await?;
    assert_eq!(r, None);
    assert!(!c.locked());
    Ok(())
}

#[trio::test]
async fn notify_is_not_a_checkpoint() -> trio::Result<()> {
    let c = Condition::new();
    let _g = c.lock().await?;
    assert_no_checkpoints(async { c.notify(1) }).await?;
    assert_no_checkpoints(async { c.notify_all() }).await?;
    Ok(())
}

#[trio::test]
async fn notify_wakes_the_longest_waiter_first() -> trio::Result<()> {
    let c = Condition::new();
    let woke = RefCell::new(Vec::new());
    let (c, woke) = (&c, &woke);
    trio::open_nursery(async |n| {
        for i in 0..4 {
            n.start_soon(async move {
                let _g = c.lock().await?;
                c.wait().await?;
                woke.borrow_mut().push(i);
                Ok(())
            })?;
            wait_all_tasks_blocked().await?;
        }
        for _ in 0..4 {
            let g = c.lock().await?;
            c.notify(1)?;
            drop(g);
            wait_all_tasks_blocked().await?;
        }
        Ok(())
    })
    .await?;
    assert_eq!(*woke.borrow(), [0, 1, 2, 3]);
    Ok(())
}

#[trio::test]
async fn notified_waiters_queue_behind_earlier_lock_waiters() -> trio::Result<()> {
    let c = Condition::new();
    let order = RefCell::new(Vec::new());
    let (c, order) = (&c, &order);
    trio::open_nursery(async |n| {
        n.start_soon(async move {
            let _g = c.lock().await?;
            c.wait().await?;
            order.borrow_mut().push("notified waiter");
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        let g = c.lock().await?;
        n.start_soon(async move {
            let _g = c.lock().await?;
            order.borrow_mut().push("lock waiter");
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        c.notify_all()?; // moves the waiter to the back of the lock's queue
        assert_eq!(c.statistics().lock_statistics.tasks_waiting, 2);
        drop(g);
        Ok(())
    })
    .await?;
    assert_eq!(*order.borrow(), ["lock waiter", "notified waiter"]);
    Ok(())
}

#[trio::test]
async fn wait_cancelled_while_asleep_reacquires_under_a_shield() -> trio::Result<()> {
    // The cancellation arrives while `wait` sleeps and another task holds the
    // lock: `wait` must wait its turn for the lock (shielded), and returns
    // `Err(Cancelled)` holding it.
    let c = Condition::new();
    let scope = CancelScope::new();
    let release = Event::new();
    let log = RefCell::new(Vec::new());
    let (c, s, release, log) = (&c, &scope, &release, &log);
    trio::open_nursery(async |n| {
        n.start_soon(async move {
            let r = s
                .run(async {
                    let _g = c.lock().await?;
                    let r = c.wait().await;
                    log.borrow_mut().push("wait returned");
                    assert!(r.as_ref().unwrap_err().is_cancelled());
                    assert_eq!(c.statistics().lock_statistics.owner, Some(current_task()));
                    r
                })
                .await?;
            assert!(r.is_none());
            assert!(!c.locked());
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        n.start_soon(async move {
            let _g = c.lock().await?;
            release.wait().await?;
            log.borrow_mut().push("holder released");
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        scope.cancel();
        wait_all_tasks_blocked().await?;
        // The waiter left the condition and now queues for the lock.
        assert_eq!(c.statistics().tasks_waiting, 0);
        assert_eq!(c.statistics().lock_statistics.tasks_waiting, 1);
        assert!(log.borrow().is_empty());
        release.set();
        Ok(())
    })
    .await?;
    assert_eq!(*log.borrow(), ["holder released", "wait returned"]);
    assert!(!c.locked());
    Ok(())
}

#[trio::test]
async fn wait_cancelled_after_notify_requeues() -> trio::Result<()> {
    // Cancelled after being moved to the lock's queue: it leaves that queue and
    // re-acquires (shielded) from the back.
    let c = Condition::new();
    let scope = CancelScope::new();
    let order = RefCell::new(Vec::new());
    let (c, s, order) = (&c, &scope, &order);
    trio::open_nursery(async |n| {
        n.start_soon(async move {
            s.run(async {
                let _g = c.lock().await?;
                let r = c.wait().await;
                order.borrow_mut().push("cancelled waiter");
                r
            })
            .await?;
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        let g = c.lock().await?;
        c.notify_all()?;
        n.start_soon(async move {
            let _g = c.lock().await?;
            order.borrow_mut().push("later lock waiter");
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        scope.cancel();
        wait_all_tasks_blocked().await?;
        assert_eq!(c.statistics().lock_statistics.tasks_waiting, 2);
        drop(g);
        Ok(())
    })
    .await?;
    assert_eq!(*order.borrow(), ["later lock waiter", "cancelled waiter"]);
    Ok(())
}

#[trio::test]
async fn wait_already_cancelled_keeps_the_lock() -> trio::Result<()> {
    // Cancelled before it starts, `wait` does nothing: the lock never leaves us,
    // even with another task queued for it.
    let c = Condition::new();
    let c = &c;
    trio::open_nursery(async |n| {
        let g = c.lock().await?;
        let mut h = n.spawn(async move { c.lock().await.map(drop) })?;
        wait_all_tasks_blocked().await?;
        let scope = CancelScope::new();
        scope.cancel();
        assert!(scope.run(c.wait()).await?.is_none());
        assert_eq!(c.statistics().lock_statistics.owner, Some(current_task()));
        assert_eq!(c.statistics().lock_statistics.tasks_waiting, 1);
        drop(g);
        h.join().await
    })
    .await?;
    Ok(())
}

#[trio::test]
async fn guard_stays_valid_across_wait() -> trio::Result<()> {
    let c = Condition::new();
    let ready = Cell::new(false);
    let (c, ready) = (&c, &ready);
    trio::open_nursery(async |n| {
        n.start_soon(async move {
            let g = c.lock().await?;
            while !ready.get() {
                c.wait().await?;
            }
            assert!(c.locked());
            drop(g); // releases: the acquisition survived the wait
            assert!(!c.locked());
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        let _g = c.lock().await?;
        c.notify_all()?; // spurious: `ready` is still false
        drop(_g);
        wait_all_tasks_blocked().await?;
        assert_eq!(c.statistics().tasks_waiting, 1); // back to sleep
        let _g = c.lock().await?;
        ready.set(true);
        c.notify_all()
    })
    .await?;
    assert!(!c.locked());
    Ok(())
}

#[trio::test]
async fn dropped_wait_leaves_the_guard_inert() -> trio::Result<()> {
    let c = Condition::new();
    let c = &c;
    let g = c.lock().await?;
    let mut fut = Box::pin(c.wait());
    std::future::poll_fn(|cx| {
        assert!(fut.as_mut().poll(cx).is_pending()); // lock released, asleep
        Poll::Ready(())
    })
    .await;
    assert!(!c.locked());
    trio::open_nursery(async |n| {
        let h = n.spawn(async move {
            let _g = c.lock().await?;
            trio::sleep_forever().await
        })?;
        wait_all_tasks_blocked().await?;
        drop(fut);
        assert_eq!(c.statistics().tasks_waiting, 0);
        drop(g); // must not release the child's lock
        assert_eq!(
            c.statistics().lock_statistics.owner.as_ref(),
            Some(h.task())
        );
        h.cancel();
        Ok(())
    })
    .await?;
    assert!(!c.locked());
    Ok(())
}

#[trio::test]
async fn conditions_sharing_a_lock() -> trio::Result<()> {
    let lock = Lock::new();
    let (a, b) = (Condition::with_lock(&lock), Condition::with_lock(&lock));
    let woke = RefCell::new(Vec::new());
    let (lock, a, b, woke) = (&lock, &a, &b, &woke);
    trio::open_nursery(async |n| {
        for (name, cond) in [("a", a), ("b", b)] {
            n.start_soon(async move {
                let _g = cond.lock().await?;
                cond.wait().await?;
                woke.borrow_mut().push(name);
                Ok(())
            })?;
        }
        wait_all_tasks_blocked().await?;
        assert!(!lock.locked());
        {
            let _g = lock.lock().await?; // the shared lock, through the Lock
            assert!(a.locked() && b.locked());
            b.notify_all()?;
        }
        wait_all_tasks_blocked().await?;
        assert_eq!(*woke.borrow(), ["b"]);
        assert_eq!(a.statistics().tasks_waiting, 1);
        let _g = a.lock().await?;
        a.notify_all()
    })
    .await?;
    assert_eq!(*woke.borrow(), ["b", "a"]);
    Ok(())
}

#[trio::test]
async fn lock_broken_while_reacquiring() -> trio::Result<()> {
    // The waiter was notified (queued for the lock), then the notifier exits
    // holding the lock: the waiter gets BrokenResource and does not hold it.
    let c = Condition::new();
    let c = &c;
    let e = trio::open_nursery(async |n| {
        n.start_soon(async move {
            let _g = c.lock().await?;
            let e = c.wait().await.unwrap_err();
            assert!(!c.locked() || c.statistics().lock_statistics.owner != Some(current_task()));
            Err(e)
        })?;
        wait_all_tasks_blocked().await?;
        n.start_soon(async move {
            c.acquire().await?;
            c.notify_all()
            // exits holding the lock
        })?;
        Ok(())
    })
    .await
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BrokenResource);
    Ok(())
}

#[trio::test(autojump)]
async fn producer_consumer_with_timeouts() -> trio::Result<()> {
    let c = Condition::new();
    let items = RefCell::new(Vec::new());
    let consumed = RefCell::new(Vec::new());
    let (c, items, consumed) = (&c, &items, &consumed);
    trio::open_nursery(async |n| {
        n.start_soon(async move {
            loop {
                let r = trio::move_on_after(Duration::from_secs(5), async {
                    let _g = c.lock().await?;
                    while items.borrow().is_empty() {
                        c.wait().await?;
                    }
                    Ok::<_, trio::Error>(items.borrow_mut().remove(0))
                })
                .await?;
                match r {
                    Some(item) => consumed.borrow_mut().push(item),
                    None => return Ok(()), // idle for 5 s: done
                }
            }
        })?;
        for i in 0..3 {
            trio::sleep(Duration::from_secs(1)).await?;
            let _g = c.lock().await?;
            items.borrow_mut().push(i);
            c.notify(1)?;
        }
        Ok(())
    })
    .await?;
    assert_eq!(*consumed.borrow(), [0, 1, 2]);
    assert!(!c.locked());
    Ok(())
}
