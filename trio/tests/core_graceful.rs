//! Graceful (two-phase) cancellation: `CancelScope::cancel_gracefully(grace)`
//! asks the code under a scope to stop (`trio::stop_requested`,
//! `trio::wait_stop_requested`) and cancels the scope when the grace period ends.
//! All on the mock clock: the grace periods take no real time.

use std::cell::{Cell, RefCell};
use std::time::Duration;

use trio::testing::{MockClock, wait_all_tasks_blocked};
use trio::{CancelScope, CancelSource, Instant, stop_requested, wait_stop_requested};

const GRACE: Duration = Duration::from_secs(10);

fn at(clock: &MockClock) -> Duration {
    clock.current_time() - Instant::ZERO
}

#[trio::test(autojump)]
async fn a_worker_that_stops_when_asked_is_never_cancelled(clock: MockClock) -> trio::Result<()> {
    let items = Cell::new(0);
    let items = &items;
    let start = at(&clock);
    let caught = trio::open_nursery(async |n| {
        n.start_soon(async move {
            while !stop_requested() {
                trio::sleep(Duration::from_secs(1)).await?;
                items.set(items.get() + 1);
            }
            Ok(())
        })?;
        trio::sleep(Duration::from_millis(3500)).await?;
        n.cancel_scope().cancel_gracefully(GRACE);
        assert!(!n.cancel_scope().cancel_called());
        Ok(())
    })
    .await?;
    // The nursery finished on its own (not swallowed: Some), after the worker's
    // item in progress — long before the grace period's end.
    assert_eq!(caught, Some(()));
    assert_eq!(items.get(), 4);
    assert_eq!(at(&clock) - start, Duration::from_secs(4));
    Ok(())
}

#[trio::test(autojump)]
async fn a_worker_that_ignores_the_request_is_cancelled_when_the_grace_ends(
    clock: MockClock,
) -> trio::Result<()> {
    let start = at(&clock);
    let scope = CancelScope::new();
    let seen = RefCell::new(None);
    let seen = &seen;
    let s = &scope;
    let out = scope
        .run(async move {
            s.cancel_gracefully(GRACE);
            assert!(stop_requested());
            let e = trio::sleep_forever().await.unwrap_err();
            *seen.borrow_mut() = e.cancelled().map(|c| c.source());
            Err::<(), _>(e)
        })
        .await?;
    assert_eq!(out, None);
    assert!(scope.cancelled_caught());
    assert_eq!(*seen.borrow(), Some(CancelSource::Explicit));
    assert_eq!(at(&clock) - start, GRACE);
    Ok(())
}

#[trio::test(autojump)]
async fn the_request_reaches_nested_scopes_and_children_but_not_through_shields(
    _clock: MockClock,
) -> trio::Result<()> {
    let log = RefCell::new(Vec::new());
    let log = &log;
    let outer = CancelScope::new();
    let o = &outer;
    outer
        .run(async move {
            trio::open_nursery(async |n| {
                n.start_soon(async move {
                    wait_stop_requested().await?;
                    log.borrow_mut().push("child heard");
                    Ok(())
                })?;
                n.start_soon(async move {
                    CancelScope::new()
                        .shielded()
                        .run(async {
                            trio::sleep(Duration::from_secs(1)).await?;
                            log.borrow_mut().push(if stop_requested() {
                                "shielded heard"
                            } else {
                                "shielded did not hear"
                            });
                            Ok::<_, trio::Error>(())
                        })
                        .await?;
                    Ok(())
                })?;
                wait_all_tasks_blocked().await?;
                // A nested scope with a deadline of its own hears it too.
                CancelScope::with_deadline(trio::current_time() + Duration::from_secs(3600))
                    .run(async {
                        o.cancel_gracefully(GRACE);
                        assert!(stop_requested());
                        Ok::<_, trio::Error>(())
                    })
                    .await?;
                Ok(())
            })
            .await?;
            Ok::<_, trio::Error>(())
        })
        .await?;
    let mut log = log.take();
    log.sort();
    assert_eq!(log, ["child heard", "shielded did not hear"]);
    Ok(())
}

#[trio::test(autojump)]
async fn a_shorter_grace_wins_a_longer_one_changes_nothing_and_cancel_is_at_once(
    clock: MockClock,
) -> trio::Result<()> {
    // Shorter later: wins.
    let start = at(&clock);
    let scope = CancelScope::new();
    scope
        .run(async {
            scope.cancel_gracefully(Duration::from_secs(100));
            scope.cancel_gracefully(Duration::from_secs(5));
            scope.cancel_gracefully(Duration::from_secs(50)); // changes nothing
            trio::sleep_forever().await
        })
        .await?;
    assert_eq!(at(&clock) - start, Duration::from_secs(5));

    // An outright cancel after a graceful request: at once.
    let start = at(&clock);
    let scope = CancelScope::new();
    scope
        .run(async {
            scope.cancel_gracefully(GRACE);
            trio::sleep(Duration::from_secs(1)).await?;
            scope.cancel();
            trio::sleep_forever().await
        })
        .await?;
    assert_eq!(at(&clock) - start, Duration::from_secs(1));

    // An earlier deadline still wins, and says so.
    let start = at(&clock);
    let scope = CancelScope::with_deadline(trio::current_time() + Duration::from_secs(2));
    let source = scope
        .run(async {
            scope.cancel_gracefully(GRACE);
            let e = trio::sleep_forever().await.unwrap_err();
            Ok::<_, trio::Error>(e.cancelled().unwrap().source())
        })
        .await?;
    assert_eq!(source, Some(CancelSource::Deadline));
    assert_eq!(at(&clock) - start, Duration::from_secs(2));
    Ok(())
}

#[trio::test(autojump)]
async fn wait_stop_requested_is_a_checkpoint_and_an_outright_cancel_wins(
    _clock: MockClock,
) -> trio::Result<()> {
    // Already requested: returns Ok (after a schedule point).
    let scope = CancelScope::new();
    scope.cancel_gracefully(GRACE);
    let r = scope.run(wait_stop_requested()).await?;
    assert_eq!(r, Some(()));

    // Cancelled outright while waiting: Cancelled (caught by the scope).
    let scope = CancelScope::new();
    let s = &scope;
    trio::open_nursery(async |n| {
        n.start_soon(async move {
            assert_eq!(s.run(wait_stop_requested()).await?, None);
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        scope.cancel();
        Ok(())
    })
    .await?;
    assert!(scope.cancelled_caught());

    // Outside a stop request, in a cancelled scope: Cancelled at once.
    let scope = CancelScope::new();
    scope.cancel();
    assert_eq!(scope.run(wait_stop_requested()).await?, None);
    Ok(())
}

/// `until_stop_requested` reports a graceful stop as `None` without polling its
/// future, but an outright cancellation is not a stop, though `stop_requested`
/// is true under it: the future hears it at its own checkpoint.
#[trio::test(autojump)]
async fn until_stop_requested_tells_a_stop_from_a_cancellation(
    _clock: MockClock,
) -> trio::Result<()> {
    let polled = Cell::new(false);
    let scope = CancelScope::new();
    scope.cancel_gracefully(GRACE);
    let r = scope
        .run(async {
            Ok::<_, trio::Error>(
                trio::until_stop_requested(async {
                    polled.set(true);
                })
                .await,
            )
        })
        .await?;
    assert_eq!(r, Some(None), "a stop already requested: None");
    assert!(
        !polled.get(),
        "a stop already requested: the future is not polled"
    );

    for already in [true, false] {
        let scope = CancelScope::new();
        if already {
            scope.cancel();
        }
        let s = &scope;
        trio::open_nursery(async |n| {
            n.start_soon(async move {
                let r = s
                    .run(async {
                        trio::until_stop_requested(trio::sleep_forever())
                            .await
                            .expect("a cancellation is not a stop")
                    })
                    .await?;
                assert!(r.is_none(), "sleep_forever never returns");
                Ok(())
            })?;
            wait_all_tasks_blocked().await?;
            scope.cancel();
            Ok(())
        })
        .await?;
        assert!(
            scope.cancelled_caught(),
            "the future's own Cancelled reached the scope"
        );
    }
    Ok(())
}

#[trio::test(autojump)]
async fn a_scope_cancelled_or_exited_ignores_the_request(_clock: MockClock) -> trio::Result<()> {
    let scope = CancelScope::new();
    scope.run(async { Ok::<_, trio::Error>(()) }).await?;
    scope.cancel_gracefully(GRACE); // exited: nothing to do
    assert!(!scope.stop_requested());
    let cancelled = CancelScope::new();
    cancelled.cancel();
    cancelled.cancel_gracefully(GRACE);
    assert!(cancelled.stop_requested()); // a cancel counts as a stop request
    Ok(())
}

#[test]
fn outside_trio_nothing_is_requested() {
    assert!(!stop_requested());
    let scope = CancelScope::new();
    scope.cancel_gracefully(GRACE); // no clock: only the request is recorded
    assert!(scope.stop_requested());
    assert!(!scope.cancel_called());
}
