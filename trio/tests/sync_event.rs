// Ported from Python Trio's `trio/_tests/test_sync.py`: `test_Event`.
//
// Plus Rust-side checks: `wait` on a set event is a full checkpoint (cancellable),
// a cancelled `wait` leaves the queue, a `set` that lands before the cancellation
// is noticed wins, and the helpers in `sync_support` behave.

mod sync_support;

use std::cell::RefCell;
use std::time::Duration;

use sync_support::{assert_checkpoints, assert_no_checkpoints, run_cancelled};
use trio::sync::Event;
use trio::testing::{MockClock, wait_all_tasks_blocked};
use trio::{CancelScope, Instant};

#[trio::test]
async fn support_helpers_detect_schedule_points() {
    assert_checkpoints(trio::lowlevel::checkpoint())
        .await
        .unwrap();
    assert_checkpoints(trio::lowlevel::cancel_shielded_checkpoint())
        .await
        .unwrap();
    assert_no_checkpoints(async {}).await;
    assert_no_checkpoints(async { trio::lowlevel::checkpoint_if_cancelled() })
        .await
        .unwrap();
}

#[trio::test]
#[should_panic(expected = "completed without a schedule point")]
async fn support_helpers_reject_a_future_that_does_not_yield() {
    assert_checkpoints(async {}).await;
}

#[trio::test]
async fn event() -> trio::Result<()> {
    // test_Event
    let e = Event::new();
    assert!(!e.is_set());
    assert_eq!(e.statistics().tasks_waiting, 0);

    e.set();
    assert!(e.is_set());
    assert_checkpoints(e.wait()).await?;

    let e = Event::new();
    let record = RefCell::new(Vec::new());
    let (e, record) = (&e, &record);
    trio::open_nursery(async |n| {
        for _ in 0..2 {
            n.start_soon(async move {
                record.borrow_mut().push("sleeping");
                e.wait().await?;
                record.borrow_mut().push("woken");
                Ok(())
            })?;
        }
        wait_all_tasks_blocked().await?;
        assert_eq!(*record.borrow(), ["sleeping", "sleeping"]);
        assert_eq!(e.statistics().tasks_waiting, 2);
        e.set();
        wait_all_tasks_blocked().await?;
        assert_eq!(*record.borrow(), ["sleeping", "sleeping", "woken", "woken"]);
        Ok(())
    })
    .await?;
    Ok(())
}

#[trio::test]
async fn event_wait_when_set_is_a_cancellation_point() -> trio::Result<()> {
    // Trio: `if self._flag: await trio.lowlevel.checkpoint()`.
    let e = Event::new();
    e.set();
    assert_eq!(run_cancelled(e.wait()).await?, None);
    // Shielded from the cancellation, it succeeds.
    let outer = CancelScope::new();
    outer.cancel();
    let e = &e;
    outer
        .run(async move {
            let r = CancelScope::new().shielded().run(e.wait()).await?;
            assert_eq!(r, Some(()));
            Ok::<_, trio::Error>(())
        })
        .await?;
    Ok(())
}

#[trio::test]
async fn event_cancelled_wait_leaves_the_queue() -> trio::Result<()> {
    let e = Event::new();
    assert_eq!(run_cancelled(e.wait()).await?, None);
    assert_eq!(e.statistics().tasks_waiting, 0);

    let scope = CancelScope::new();
    let (e, s) = (&e, &scope);
    trio::open_nursery(async |n| {
        n.start_soon(async move {
            assert_eq!(s.run(e.wait()).await?, None);
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        assert_eq!(e.statistics().tasks_waiting, 1);
        scope.cancel();
        wait_all_tasks_blocked().await?;
        assert_eq!(e.statistics().tasks_waiting, 0);
        Ok(())
    })
    .await?;
    assert!(!e.is_set());
    Ok(())
}

#[trio::test]
async fn event_set_before_cancel_is_noticed_wins() -> trio::Result<()> {
    // The waiter was woken by `set` first: the wait happened, so it returns Ok even
    // though its scope is cancelled before it runs again.
    let e = Event::new();
    let scope = CancelScope::new();
    let (e, s) = (&e, &scope);
    trio::open_nursery(async |n| {
        let mut h = n.spawn(async move { s.run(e.wait()).await })?;
        wait_all_tasks_blocked().await?;
        e.set();
        scope.cancel();
        assert_eq!(h.join().await?, Some(()));
        Ok(())
    })
    .await?;
    Ok(())
}

#[test]
fn event_set_works_outside_trio() {
    let e = Event::new();
    e.set();
    e.set();
    assert!(e.is_set());
    // ...and a waiter in a later run gets through.
    trio::run(async move { e.wait().await }).unwrap();
}

#[trio::test(autojump)]
async fn event_waiters_time_out_or_get_through(clock: MockClock) -> trio::Result<()> {
    let e = Event::new();
    let outcomes = RefCell::new(Vec::new());
    let (e, o) = (&e, &outcomes);
    trio::open_nursery(async |n| {
        for timeout in [5, 20] {
            n.start_soon(async move {
                let r = trio::move_on_after(Duration::from_secs(timeout), e.wait()).await?;
                o.borrow_mut().push((timeout, r.is_some()));
                Ok(())
            })?;
        }
        trio::sleep(Duration::from_secs(10)).await?;
        assert_eq!(e.statistics().tasks_waiting, 1);
        e.set();
        Ok(())
    })
    .await?;
    let mut outcomes = outcomes.into_inner();
    outcomes.sort();
    assert_eq!(outcomes, [(5, false), (20, true)]);
    assert_eq!(
        clock.current_time(),
        Instant::ZERO + Duration::from_secs(10)
    );
    Ok(())
}
