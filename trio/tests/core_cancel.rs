//! Cancel scope tests, ported from Python Trio's `src/trio/_core/_tests/test_run.py`:
//! `test_cancel_points`, `test_cancel_edge_cases`, `test_cancel_shielding`,
//! `test_cancel_shield_abort`, `test_basic_timeout`, `test_cancel_scope_nesting`,
//! `test_unshield_while_cancel_propagating`, `test_cancel_unbound`,
//! `test_yield_briefly_checks_for_timeout`, `test_current_effective_deadline`,
//! `test_very_deep_cancel_scope_nesting`, `test_cancel_scope_deadline_duplicates`,
//! `test_cancel_scope_no_cancellederror`; and from
//! `src/trio/_core/_tests/test_cancelled.py`: `test_cancel_reason`,
//! `test_cancel_reason_not_overwritten`, `test_cancel_reason_not_overwritten_2`,
//! `test_nested_child_source`.
//!
//! Deliberate mappings: `with scope:` is `scope.run(fut)`, which returns `Ok(None)`
//! when the scope caught its own cancellation; `pytest.raises(Cancelled)` is an
//! `Err` whose `is_cancelled()` is true. Rust-only: `io::Error` carries a
//! cancellation through `?`, and a scope still recognises it.

use std::cell::{Cell, RefCell};
use std::io;
use std::time::Duration;

use trio::lowlevel::{ParkingLot, cancel_shielded_checkpoint, checkpoint, checkpoint_if_cancelled};
use trio::testing::{MockClock, wait_all_tasks_blocked};
use trio::{
    CancelScope, CancelSource, Error, ErrorKind, Instant, MaybeCancelled,
    current_effective_deadline, current_time,
};

const fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[track_caller]
fn assert_cancelled<T: std::fmt::Debug>(r: trio::Result<T>) -> Error {
    let e = r.expect_err("expected Err(Cancelled)");
    assert!(e.is_cancelled(), "expected a cancellation, got {e:?}");
    e
}

// ---- cancel points and level-triggering -----------------------------------------

#[test]
fn cancel_points() {
    // test_cancel_points, main1..main4
    trio::run(async {
        let scope = CancelScope::new();
        let r = scope
            .run(async {
                checkpoint_if_cancelled()?;
                scope.cancel();
                assert_cancelled(checkpoint_if_cancelled());
                Ok::<_, Error>("done")
            })
            .await?;
        // No error escaped: the block finished normally, nothing to catch.
        assert_eq!(r, Some("done"));
        assert!(!scope.cancelled_caught());
        Ok(())
    })
    .unwrap();

    in_new_scope(async |scope| {
        checkpoint().await?;
        scope.cancel();
        assert_cancelled(checkpoint().await);
        Ok(())
    });
    in_new_scope(async |scope| {
        scope.cancel();
        assert_cancelled(trio::sleep_forever().await);
        Ok(())
    });
    in_new_scope(async |scope| {
        scope.cancel();
        cancel_shielded_checkpoint().await?;
        cancel_shielded_checkpoint().await?;
        assert_cancelled(checkpoint().await);
        Ok(())
    });
}

/// Runs `body` in a new run, inside a fresh cancel scope that it is given.
fn in_new_scope(body: impl AsyncFnOnce(&CancelScope) -> trio::Result<()>) {
    trio::run(async {
        let scope = CancelScope::new();
        scope.run(body(&scope)).await?;
        Ok(())
    })
    .unwrap();
}

#[trio::test]
async fn cancel_is_idempotent_and_caught() -> trio::Result<()> {
    // test_cancel_edge_cases, part 1
    let scope = CancelScope::new();
    assert!(!scope.cancel_called());
    let r = scope
        .run(async {
            scope.cancel();
            scope.cancel();
            checkpoint().await?;
            Ok::<_, Error>("unreachable")
        })
        .await?;
    assert_eq!(r, None);
    assert!(scope.cancel_called());
    assert!(scope.cancelled_caught());
    Ok(())
}

#[trio::test(autojump)]
async fn cancellation_is_level_triggered() -> trio::Result<()> {
    // test_cancel_edge_cases, part 2, extended to every kind of checkpoint.
    let scope = CancelScope::new();
    let lot = ParkingLot::<()>::new();
    let r = scope
        .run(async {
            scope.cancel();
            for _ in 0..3 {
                assert_cancelled(trio::sleep_forever().await);
                assert_cancelled(checkpoint().await);
                assert_cancelled(checkpoint_if_cancelled());
                assert_cancelled(trio::sleep(secs(1)).await);
                assert_cancelled(trio::sleep(Duration::ZERO).await);
                assert_cancelled(trio::sleep_until(current_time() + secs(1)).await);
                assert_cancelled(lot.park().await);
                assert_cancelled(wait_all_tasks_blocked().await);
                // An operation that is not a checkpoint is not affected.
                cancel_shielded_checkpoint().await?;
            }
            // A nursery opened in a cancelled scope: body and children are
            // cancelled too.
            let r = trio::open_nursery(async |n| {
                n.start_soon(trio::sleep_forever())?;
                checkpoint().await
            })
            .await;
            assert_cancelled(r);
            assert!(lot.is_empty(), "a cancelled park left the queue");
            checkpoint().await?;
            Ok::<_, Error>(())
        })
        .await?;
    assert_eq!(r, None);
    assert!(scope.cancelled_caught());
    // Outside the scope, no more cancellation; no time passed either.
    checkpoint().await?;
    trio::sleep(secs(1)).await?;
    assert_eq!(current_time(), Instant::ZERO + secs(1));
    Ok(())
}

#[trio::test]
async fn cancel_before_entering() -> trio::Result<()> {
    // test_cancel_unbound, "Cancel before entry"
    let scope = CancelScope::new();
    scope.cancel();
    assert!(scope.cancel_called());
    let ran = Cell::new(false);
    let r = scope
        .run(async {
            ran.set(true);
            trio::sleep_forever().await?;
            Ok::<_, Error>(())
        })
        .await?;
    assert!(ran.get(), "the body runs until its first checkpoint");
    assert_eq!(r, None);
    assert!(scope.cancelled_caught());

    // Same, entered by a child task, under a fail_after that must not fire.
    let scope = CancelScope::new();
    scope.cancel();
    let s = &scope;
    trio::open_nursery(async |n| {
        n.start_soon(async move {
            let r = s
                .run(trio::fail_after(secs(1), trio::sleep_forever()))
                .await?;
            assert_eq!(r, None);
            Ok(())
        })
    })
    .await?;
    assert!(scope.cancelled_caught());
    Ok(())
}

#[trio::test]
async fn cancel_from_another_task_through_a_clone() -> trio::Result<()> {
    // test_cancel_unbound, "Cancel after entry"
    let scope = CancelScope::new();
    let handle = scope.clone();
    let caught = Cell::new(false);
    let (s, c) = (&scope, &caught);
    trio::open_nursery(async |n| {
        n.start_soon(async move {
            let r = s.run(trio::sleep_forever()).await?;
            c.set(r.is_none());
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        assert!(!caught.get());
        handle.cancel();
        Ok(())
    })
    .await?;
    assert!(caught.get());
    assert!(scope.cancelled_caught());
    // The other direction: the body's scope cancelled by a child holding a clone.
    let scope = CancelScope::new();
    let handle = scope.clone();
    let r = trio::open_nursery(async |n| {
        n.start_soon(async move {
            wait_all_tasks_blocked().await?;
            handle.cancel();
            Ok(())
        })?;
        scope.run(trio::sleep_forever()).await
    })
    .await?;
    assert_eq!(
        r,
        Some(None),
        "the body's scope caught it; the nursery's did not"
    );
    Ok(())
}

// ---- nesting --------------------------------------------------------------------

#[trio::test]
async fn outer_scope_wins_when_both_are_cancelled() -> trio::Result<()> {
    // test_cancel_scope_nesting, part 1
    let (s1, s2, s3) = (CancelScope::new(), CancelScope::new(), CancelScope::new());
    let r = s1
        .run(async {
            let r = s2
                .run(async {
                    let r = s3
                        .run(async {
                            s3.cancel();
                            s2.cancel();
                            trio::sleep_forever().await
                        })
                        .await;
                    // s3 does not catch: s2's cancellation reaches through it.
                    Err::<(), _>(assert_cancelled(r))
                })
                .await?;
            assert_eq!(r, None);
            Ok::<_, Error>("s1 body done")
        })
        .await?;
    assert_eq!(r, Some("s1 body done"));
    assert!(s3.cancel_called());
    assert!(!s3.cancelled_caught());
    assert!(s2.cancel_called());
    assert!(s2.cancelled_caught());
    assert!(!s1.cancel_called());
    assert!(!s1.cancelled_caught());
    Ok(())
}

#[trio::test]
async fn inner_scope_does_not_catch_outer_cancellation() -> trio::Result<()> {
    let outer = CancelScope::new();
    let inner = CancelScope::new();
    let r = outer
        .run(async {
            let r = inner
                .run(async {
                    outer.cancel();
                    checkpoint().await?;
                    Ok::<_, Error>(())
                })
                .await;
            let e = assert_cancelled(r);
            assert_eq!(e.cancelled().unwrap().source(), CancelSource::Explicit);
            assert!(!inner.cancelled_caught());
            Err::<(), _>(e)
        })
        .await?;
    assert_eq!(r, None);
    assert!(outer.cancelled_caught());
    assert!(!inner.cancel_called());
    Ok(())
}

#[trio::test]
async fn cancel_pending_when_scope_exits_is_not_delivered() -> trio::Result<()> {
    // test_cancel_scope_nesting, part 3
    let scope = CancelScope::new();
    let r = scope
        .run(async {
            scope.cancel();
            cancel_shielded_checkpoint().await?;
            Ok::<_, Error>(1)
        })
        .await?;
    assert_eq!(r, Some(1));
    checkpoint().await?;
    assert!(scope.cancel_called());
    assert!(!scope.cancelled_caught());
    Ok(())
}

#[trio::test]
async fn unshield_while_cancel_propagating() -> trio::Result<()> {
    // test_unshield_while_cancel_propagating (regression test for Trio #1175):
    // shielding the inner scope while its Cancelled is on the way out.
    let outer = CancelScope::new();
    let inner = CancelScope::new();
    outer
        .run(async {
            inner
                .run(async {
                    outer.cancel();
                    let r = checkpoint().await;
                    inner.set_shield(true);
                    r
                })
                .await
        })
        .await?;
    assert!(outer.cancelled_caught());
    assert!(!inner.cancelled_caught());
    Ok(())
}

#[trio::test]
async fn scope_catching_group_without_cancelled() {
    // test_cancel_scope_no_cancellederror: a group with no Cancelled goes through
    // a cancelled scope untouched and does not set cancelled_caught.
    let scope = CancelScope::new();
    let r: trio::Result<Option<()>> = scope
        .run(async {
            scope.cancel();
            Err(Error::group(vec![
                Error::new(ErrorKind::Other, "a"),
                Error::new(ErrorKind::Other, "b"),
            ])
            .unwrap())
        })
        .await;
    let e = r.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Group);
    assert_eq!(e.errors().len(), 2);
    assert!(!scope.cancelled_caught());
}

// ---- shielding ------------------------------------------------------------------

#[trio::test]
async fn shielding() -> trio::Result<()> {
    // test_cancel_shielding
    let outer = CancelScope::new();
    let inner = CancelScope::new();
    outer
        .run(async {
            let r = inner
                .run(async {
                    checkpoint().await?;
                    outer.cancel();
                    assert_cancelled(checkpoint().await);

                    assert!(!inner.shield());
                    inner.set_shield(true);
                    assert!(inner.shield());
                    // The shield protects us from `outer`.
                    checkpoint().await?;

                    // ...but not from a scope inside it.
                    let innerest = CancelScope::new();
                    let r = innerest
                        .run(async {
                            innerest.cancel();
                            checkpoint().await?;
                            Ok::<_, Error>(())
                        })
                        .await?;
                    assert_eq!(r, None);
                    checkpoint().await?;

                    // The shield can be dropped again...
                    inner.set_shield(false);
                    assert_cancelled(checkpoint().await);

                    // ...and re-raised.
                    inner.set_shield(true);
                    checkpoint().await?;
                    // A shield does not protect from the scope itself.
                    inner.cancel();
                    checkpoint().await?;
                    Ok::<_, Error>(())
                })
                .await?;
            assert_eq!(r, None);
            assert!(inner.cancelled_caught());
            Ok::<_, Error>(())
        })
        .await?;
    Ok(())
}

#[trio::test]
async fn shield_before_entry() -> trio::Result<()> {
    // test_cancel_unbound, "Shield before entry"
    let outer = CancelScope::new();
    let scope = CancelScope::new().shielded();
    assert!(scope.shield());
    outer
        .run(async {
            scope
                .run(async {
                    outer.cancel();
                    checkpoint().await?;
                    scope.set_shield(false);
                    assert_cancelled(checkpoint().await);
                    Ok::<_, Error>(())
                })
                .await
        })
        .await?;
    Ok(())
}

#[trio::test]
async fn unshielding_wakes_a_blocked_child() -> trio::Result<()> {
    // test_cancel_shield_abort
    let outer = CancelScope::new();
    let record = RefCell::new(Vec::new());
    let r = &record;
    let res = outer
        .run(async {
            trio::open_nursery(async |n| {
                outer.cancel();
                n.cancel_scope().set_shield(true);
                // The outer scope is cancelled, but the shield lets the child sleep.
                n.start_soon(async move {
                    r.borrow_mut().push("sleeping");
                    let res = trio::sleep_forever().await;
                    if res.is_err() {
                        r.borrow_mut().push("cancelled");
                    }
                    res
                })?;
                wait_all_tasks_blocked().await?;
                assert_eq!(*r.borrow(), ["sleeping"]);
                // Unshielding must abort the sleep.
                n.cancel_scope().set_shield(false);
                // Check before the nursery's exit, which would hide the bug.
                CancelScope::new()
                    .shielded()
                    .run(async {
                        wait_all_tasks_blocked().await?;
                        assert_eq!(*r.borrow(), ["sleeping", "cancelled"]);
                        Ok::<_, Error>(())
                    })
                    .await?;
                Ok(())
            })
            .await
        })
        .await?;
    assert_eq!(res, None);
    assert!(outer.cancelled_caught());
    Ok(())
}

#[trio::test]
async fn shielded_cleanup_after_cancellation() -> trio::Result<()> {
    // Async clean-up after cancellation: a shielded scope may block.
    let scope = CancelScope::new();
    let lot = ParkingLot::<u32>::new();
    let cleaned = Cell::new(0);
    let (l, c, sc) = (&lot, &cleaned, &scope);
    trio::open_nursery(async |n| {
        n.start_soon(async move {
            let r = sc
                .run(async {
                    let e = trio::sleep_forever().await.unwrap_err();
                    let v = CancelScope::new()
                        .shielded()
                        .run(l.park())
                        .await?
                        .expect("not cancelled");
                    c.set(v);
                    Err::<(), _>(e)
                })
                .await?;
            assert_eq!(r, None);
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        scope.cancel();
        wait_all_tasks_blocked().await?;
        assert_eq!(
            l.len(),
            1,
            "the shielded park is blocked despite the cancel"
        );
        l.unpark_with(7).unwrap();
        Ok(())
    })
    .await?;
    assert_eq!(cleaned.get(), 7);
    Ok(())
}

// ---- deadlines ------------------------------------------------------------------

#[trio::test(mock_clock)]
async fn basic_timeout(clock: MockClock) -> trio::Result<()> {
    // test_basic_timeout
    let start = current_time();
    let scope = CancelScope::new();
    scope
        .run(async {
            assert_eq!(scope.deadline(), Instant::INFINITY);
            scope.set_deadline(start + secs(1));
            assert_eq!(scope.deadline(), start + secs(1));
            Ok::<_, Error>(())
        })
        .await?;
    assert!(!scope.cancel_called());
    clock.jump(secs(2));
    checkpoint().await?;
    checkpoint().await?;
    checkpoint().await?;
    assert!(
        !scope.cancel_called(),
        "an exited scope's deadline does not fire"
    );

    let start = current_time();
    let scope = CancelScope::with_deadline(start + secs(1));
    let r = scope
        .run(async {
            clock.jump(secs(2));
            trio::sleep_forever().await
        })
        .await?;
    assert_eq!(r, None);
    assert!(scope.cancel_called());
    assert!(scope.cancelled_caught());

    // Changing the deadline while inside.
    let start = current_time();
    let scope = CancelScope::new();
    let r = scope
        .run(async {
            checkpoint().await?;
            scope.set_deadline(start + secs(10));
            checkpoint().await?;
            clock.jump(secs(5));
            checkpoint().await?;
            scope.set_deadline(start + secs(1));
            let e = assert_cancelled(checkpoint().await);
            assert_eq!(e.cancelled().unwrap().source(), CancelSource::Deadline);
            assert_cancelled(checkpoint().await);
            Ok::<_, Error>(())
        })
        .await?;
    assert_eq!(r, Some(()));
    Ok(())
}

#[trio::test(mock_clock)]
async fn checkpoint_sees_a_deadline_that_passed_before_it(clock: MockClock) -> trio::Result<()> {
    // test_yield_briefly_checks_for_timeout
    let scope = CancelScope::with_deadline(current_time() + secs(5));
    let r = scope
        .run(async {
            checkpoint().await?;
            clock.jump(secs(10));
            assert_cancelled(checkpoint().await);
            Ok::<_, Error>(())
        })
        .await?;
    assert_eq!(r, Some(()));
    assert!(scope.cancel_called());
    Ok(())
}

#[trio::test(mock_clock)]
async fn moving_the_deadline_earlier_wakes_a_sleeper() -> trio::Result<()> {
    // No time passes on this frozen clock: the new deadline is already due.
    let scope = CancelScope::with_deadline(current_time() + secs(100));
    let s = &scope;
    trio::open_nursery(async |n| {
        n.start_soon(async move {
            let r = s.run(trio::sleep_forever()).await?;
            assert_eq!(r, None);
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        assert!(!scope.cancel_called());
        scope.set_deadline(current_time());
        Ok(())
    })
    .await?;
    assert!(scope.cancelled_caught());
    assert_eq!(current_time(), Instant::ZERO);
    Ok(())
}

#[trio::test(autojump)]
async fn deadline_changes_while_running(clock: MockClock) -> trio::Result<()> {
    let t0 = current_time();
    // Earlier: a sleeper under a far deadline is cancelled at the new one.
    let scope = CancelScope::with_deadline(t0 + secs(100));
    let s = &scope;
    trio::open_nursery(async |n| {
        n.start_soon(async move {
            let r = s.run(trio::sleep_forever()).await?;
            assert_eq!(r, None);
            assert_eq!(current_time(), t0 + secs(2));
            Ok(())
        })?;
        trio::sleep(secs(1)).await?;
        assert_eq!(s.deadline(), t0 + secs(100));
        s.set_deadline(current_time() + secs(1));
        Ok(())
    })
    .await?;
    assert_eq!(clock.current_time(), t0 + secs(2));

    // To infinity: postponed for good.
    let t0 = current_time();
    let scope = CancelScope::with_deadline(t0 + secs(5));
    let s = &scope;
    trio::open_nursery(async |n| {
        n.start_soon(async move {
            let r = s.run(trio::sleep(secs(10))).await?;
            assert_eq!(r, Some(()));
            Ok(())
        })?;
        trio::sleep(secs(1)).await?;
        s.set_deadline(Instant::INFINITY);
        Ok(())
    })
    .await?;
    assert_eq!(current_time(), t0 + secs(10));
    assert!(!scope.cancel_called());

    // Later: postponed to the new deadline.
    let t0 = current_time();
    let scope = CancelScope::with_deadline(t0 + secs(5));
    let r = scope
        .run(async {
            trio::sleep(secs(1)).await?;
            scope.set_deadline(t0 + secs(8));
            trio::sleep_forever().await
        })
        .await?;
    assert_eq!(r, None);
    assert_eq!(current_time(), t0 + secs(8));
    Ok(())
}

#[trio::test(autojump)]
async fn relative_deadline_starts_at_entry() -> trio::Result<()> {
    let scope = CancelScope::with_timeout(secs(5));
    assert_eq!(scope.relative_deadline(), Some(secs(5)));
    // Not entered yet: the deadline it would have if entered now.
    assert_eq!(scope.deadline(), current_time() + secs(5));
    trio::sleep(secs(3)).await?;
    let t_enter = current_time();
    let r = scope.run(trio::sleep_forever()).await?;
    assert_eq!(r, None);
    assert_eq!(current_time(), t_enter + secs(5));
    assert_eq!(scope.deadline(), t_enter + secs(5));
    Ok(())
}

#[trio::test(autojump)]
async fn move_on_and_fail_after() -> trio::Result<()> {
    let t0 = current_time();
    assert_eq!(
        trio::move_on_after(secs(3), trio::sleep_forever()).await?,
        None
    );
    assert_eq!(current_time(), t0 + secs(3));
    assert_eq!(
        trio::move_on_after(secs(3), async {
            trio::sleep(secs(1)).await?;
            Ok::<_, Error>(9)
        })
        .await?,
        Some(9)
    );
    let e = trio::fail_after(secs(2), trio::sleep_forever())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TooSlow);
    assert_eq!(current_time(), t0 + secs(6));
    let r: trio::Result<()> = trio::fail_at(t0 + secs(7), trio::sleep_forever()).await;
    assert_eq!(r.unwrap_err().kind(), ErrorKind::TooSlow);
    assert_eq!(current_time(), t0 + secs(7));
    assert_eq!(
        trio::move_on_at(t0 + secs(8), trio::sleep_forever()).await?,
        None
    );
    assert_eq!(current_time(), t0 + secs(8));
    // fail_after inside a scope cancelled by somebody else is not TooSlow.
    let scope = CancelScope::new();
    let r = scope
        .run(async {
            scope.cancel();
            trio::fail_after(secs(1), trio::sleep_forever()).await
        })
        .await?;
    assert_eq!(r, None);
    Ok(())
}

#[trio::test(mock_clock)]
async fn current_effective_deadline_nesting_and_shields() -> trio::Result<()> {
    // test_current_effective_deadline (on a frozen mock clock, as there)
    let at = |s| Instant::ZERO + secs(s);
    assert_eq!(current_effective_deadline(), Instant::INFINITY);
    let scope1 = CancelScope::with_deadline(at(5));
    let scope2 = CancelScope::with_deadline(at(10));
    scope1
        .run(async {
            scope2
                .run(async {
                    assert_eq!(current_effective_deadline(), at(5));
                    scope2.set_deadline(at(3));
                    assert_eq!(current_effective_deadline(), at(3));
                    scope2.set_deadline(at(10));
                    assert_eq!(current_effective_deadline(), at(5));
                    scope2.set_shield(true);
                    assert_eq!(current_effective_deadline(), at(10));
                    scope2.set_shield(false);
                    assert_eq!(current_effective_deadline(), at(5));
                    scope1.cancel();
                    assert_eq!(current_effective_deadline(), Instant::NEG_INFINITY);
                    scope2.set_shield(true);
                    assert_eq!(current_effective_deadline(), at(10));
                    Ok::<_, Error>(())
                })
                .await?;
            assert_eq!(current_effective_deadline(), Instant::NEG_INFINITY);
            Ok::<_, Error>(())
        })
        .await?;
    assert_eq!(current_effective_deadline(), Instant::INFINITY);
    Ok(())
}

#[trio::test(mock_clock)]
async fn current_effective_deadline_in_children() -> trio::Result<()> {
    let at = |s| Instant::ZERO + secs(s);
    let scope = CancelScope::with_deadline(at(7));
    scope
        .run(async {
            trio::open_nursery(async |n| {
                n.start_soon(async {
                    assert_eq!(current_effective_deadline(), at(7));
                    trio::move_on_at(at(9), async {
                        assert_eq!(current_effective_deadline(), at(7));
                        Ok::<_, Error>(())
                    })
                    .await?;
                    trio::move_on_at(at(4), async {
                        assert_eq!(current_effective_deadline(), at(4));
                        Ok::<_, Error>(())
                    })
                    .await?;
                    Ok(())
                })
            })
            .await?;
            // A shielded nursery cuts the enclosing deadline off from its children.
            trio::open_nursery(async |n| {
                n.cancel_scope().set_shield(true);
                n.start_soon(async {
                    assert_eq!(current_effective_deadline(), Instant::INFINITY);
                    Ok(())
                })
            })
            .await
        })
        .await?;
    Ok(())
}

#[cfg_attr(miri, ignore = "many deadline changes: too slow under Miri")]
#[trio::test(autojump)]
async fn many_deadline_changes_leave_no_stale_timer() -> trio::Result<()> {
    // test_cancel_scope_deadline_duplicates, plus: the stale entries must not fire.
    let now = current_time();
    let scope = CancelScope::new();
    let r = scope
        .run(async {
            for _ in 0..2000 {
                scope.set_deadline(now + secs(1));
                scope.set_deadline(now + secs(9999));
            }
            trio::sleep(secs(10)).await?;
            Ok::<_, Error>(())
        })
        .await?;
    assert_eq!(r, Some(()));
    assert!(!scope.cancel_called());
    assert_eq!(current_time(), now + secs(10));
    Ok(())
}

#[cfg_attr(miri, ignore = "thousands of nested scopes: minutes under Miri")]
#[test]
fn very_deep_cancel_scope_nesting() {
    // test_very_deep_cancel_scope_nesting: 5000 nested scopes, the outermost is
    // cancelled; the Cancelled goes through all of them to it. Run on a thread with
    // a big stack: 5000 nested futures are polled recursively.
    fn nest<'a>(
        depth: usize,
        outermost: &'a CancelScope,
    ) -> std::pin::Pin<Box<dyn Future<Output = trio::Result<()>> + 'a>> {
        Box::pin(async move {
            if depth == 0 {
                outermost.cancel();
                checkpoint().await?;
                unreachable!("cancelled");
            }
            let scope = CancelScope::new();
            let r = scope.run(nest(depth - 1, outermost)).await;
            assert!(!scope.cancelled_caught());
            r.map(|_| ())
        })
    }
    std::thread::Builder::new()
        .stack_size(512 << 20)
        .spawn(|| {
            trio::run(async {
                let outermost = CancelScope::new();
                let r = outermost.run(nest(5000, &outermost)).await?;
                assert_eq!(r, None);
                assert!(outermost.cancelled_caught());
                Ok(())
            })
            .unwrap();
        })
        .unwrap()
        .join()
        .unwrap();
}

// ---- misuse: entering twice -----------------------------------------------------

#[trio::test]
async fn scope_cannot_be_reused_or_reentered() -> trio::Result<()> {
    // test_cancel_unbound, "Can't reuse"
    let scope = CancelScope::new();
    scope.run(checkpoint()).await?;
    scope.cancel();
    checkpoint().await?;
    assert!(scope.cancel_called());
    assert!(!scope.cancelled_caught());
    let e = scope.run(async { Ok::<_, Error>(()) }).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Usage);

    // "Can't reenter"
    let scope = CancelScope::new();
    let r = scope
        .run(async {
            let ran = Cell::new(false);
            let e = scope
                .run(async {
                    ran.set(true);
                    Ok::<_, Error>(())
                })
                .await
                .unwrap_err();
            assert!(!ran.get());
            assert_eq!(e.kind(), ErrorKind::Usage);
            Ok::<_, Error>(())
        })
        .await?;
    assert_eq!(r, Some(()));

    // "Can't enter from multiple tasks simultaneously"
    let scope = CancelScope::new();
    let s = &scope;
    trio::open_nursery(async |n| {
        n.start_soon_named("this one", async move {
            s.run(trio::sleep_forever()).await?;
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        let e = scope.run(async { Ok::<_, Error>(()) }).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Usage);
        n.cancel_scope().cancel();
        Ok(())
    })
    .await?;
    Ok(())
}

#[trio::test(mock_clock)]
async fn unentered_scope_with_passed_deadline_reports_cancel_called() {
    // test_cancel_unbound, last part: if not yet entered, cancel_called is true
    // when the deadline has passed, and never becomes false again.
    let scope = CancelScope::with_deadline(current_time() + secs(1));
    assert!(!scope.cancel_called());
    scope.set_deadline(scope.deadline() - secs(1));
    assert!(scope.cancel_called());
    scope.set_deadline(scope.deadline() + secs(1));
    assert!(scope.cancel_called());
}

// ---- sources and reasons --------------------------------------------------------

async fn cancelled_source_in(scope: &CancelScope) -> Error {
    let e = scope
        .run(async { Ok::<_, Error>(trio::sleep_forever().await.unwrap_err()) })
        .await
        .unwrap()
        .unwrap();
    assert!(e.is_cancelled());
    e
}

#[trio::test]
async fn cancel_reason() -> trio::Result<()> {
    // test_cancelled.py: test_cancel_reason
    let scope = CancelScope::new();
    scope.cancel_with_reason("hello");
    let e = cancelled_source_in(&scope).await;
    let c = e.cancelled().unwrap();
    assert_eq!(c.source(), CancelSource::Explicit);
    assert_eq!(c.reason(), Some("hello"));
    let me = trio::lowlevel::current_task().id();
    assert_eq!(
        e.to_string(),
        format!("cancelled (explicit, from task \"<main>\" #{me}): hello")
    );

    let scope = CancelScope::new();
    scope.cancel();
    let e = cancelled_source_in(&scope).await;
    assert_eq!(e.cancelled().unwrap().source(), CancelSource::Explicit);
    assert_eq!(e.cancelled().unwrap().reason(), None);

    let scope = CancelScope::with_deadline(Instant::NEG_INFINITY);
    let e = cancelled_source_in(&scope).await;
    assert_eq!(e.cancelled().unwrap().source(), CancelSource::Deadline);
    assert_eq!(e.to_string(), "cancelled (deadline)");

    let scope = CancelScope::new();
    let r = scope
        .run(async {
            scope.set_deadline(Instant::NEG_INFINITY);
            let e = assert_cancelled(checkpoint().await);
            assert_eq!(e.cancelled().unwrap().source(), CancelSource::Deadline);
            Err::<(), _>(e)
        })
        .await?;
    assert_eq!(r, None);
    Ok(())
}

#[trio::test]
async fn cancel_reason_not_overwritten() -> trio::Result<()> {
    // test_cancel_reason_not_overwritten and ..._2: the first cause sticks.
    let scope = CancelScope::new();
    scope
        .run(async {
            scope.cancel_with_reason("first");
            let e = assert_cancelled(checkpoint().await);
            assert_eq!(e.cancelled().unwrap().reason(), Some("first"));
            scope.set_deadline(Instant::NEG_INFINITY);
            scope.cancel_with_reason("second");
            let e = assert_cancelled(checkpoint().await);
            assert_eq!(e.cancelled().unwrap().source(), CancelSource::Explicit);
            assert_eq!(e.cancelled().unwrap().reason(), Some("first"));
            Err::<(), _>(e)
        })
        .await?;

    let scope = CancelScope::new();
    scope
        .run(async {
            scope.set_deadline(Instant::NEG_INFINITY);
            let e = assert_cancelled(checkpoint().await);
            assert_eq!(e.cancelled().unwrap().source(), CancelSource::Deadline);
            scope.cancel_with_reason("too late");
            let e = assert_cancelled(checkpoint().await);
            assert_eq!(e.cancelled().unwrap().source(), CancelSource::Deadline);
            assert_eq!(e.cancelled().unwrap().reason(), None);
            Err::<(), _>(e)
        })
        .await?;
    Ok(())
}

#[trio::test(autojump)]
async fn cancel_sources() -> trio::Result<()> {
    // Deadline
    let out = trio::move_on_after(secs(1), async {
        let e = trio::sleep_forever().await.unwrap_err();
        assert_eq!(e.cancelled().unwrap().source(), CancelSource::Deadline);
        Err::<(), _>(e)
    })
    .await?;
    assert_eq!(out, None);

    // Nursery: a failing sibling (test_cancel_reason_nursery*), and a failing body
    // (test_nested_child_source).
    let seen = RefCell::new(Vec::new());
    let s = &seen;
    let r: trio::Result<Option<()>> = trio::open_nursery(async |n| {
        n.start_soon(async move {
            let e = trio::sleep_forever().await.unwrap_err();
            s.borrow_mut().push(e.cancelled().unwrap().source());
            Err(e)
        })?;
        n.start_soon(async {
            wait_all_tasks_blocked().await?;
            Err(Error::new(ErrorKind::Other, "ValueError"))
        })?;
        let e = trio::sleep_forever().await.unwrap_err();
        s.borrow_mut().push(e.cancelled().unwrap().source());
        Err(e)
    })
    .await;
    assert_eq!(r.unwrap_err().to_string(), "ValueError");
    assert_eq!(*seen.borrow(), [CancelSource::Nursery; 2]);

    seen.borrow_mut().clear();
    let r: trio::Result<Option<()>> = trio::open_nursery(async |n| {
        n.start_soon(async move {
            let e = trio::sleep_forever().await.unwrap_err();
            s.borrow_mut().push(e.cancelled().unwrap().source());
            Err(e)
        })?;
        wait_all_tasks_blocked().await?;
        Err(Error::new(ErrorKind::Other, "ValueError"))
    })
    .await;
    assert_eq!(r.unwrap_err().to_string(), "ValueError");
    assert_eq!(*seen.borrow(), [CancelSource::Nursery]);

    // An outer scope's cause is seen through an inner, uncancelled one; a shield
    // in between stops it.
    let outer = CancelScope::new();
    outer.cancel_with_reason("outer reason");
    let r = outer
        .run(async {
            let inner = CancelScope::new();
            let e = cancelled_source_in(&inner).await;
            assert_eq!(e.cancelled().unwrap().reason(), Some("outer reason"));
            assert!(!inner.cancelled_caught());
            let shielded = CancelScope::new().shielded();
            let r = shielded.run(checkpoint()).await?;
            assert_eq!(r, Some(()));
            checkpoint().await
        })
        .await?;
    assert_eq!(r, None);
    Ok(())
}

// ---- io::Error carries the cancellation -----------------------------------------

async fn io_op() -> io::Result<usize> {
    trio::sleep_forever().await?; // trio::Error -> io::Error
    Ok(1)
}

async fn trio_op() -> trio::Result<usize> {
    Ok(io_op().await?) // io::Error -> trio::Error, recovering the cancellation
}

#[trio::test(autojump)]
async fn io_error_carries_cancellation() -> trio::Result<()> {
    // A scope whose code returns io::Error still catches its own cancellation.
    let scope = CancelScope::new();
    scope.cancel();
    let r = scope.run(io_op()).await?;
    assert_eq!(r, None);
    assert!(scope.cancelled_caught());

    // The io::Error itself: recognisable, never `Interrupted`, and it converts back.
    let scope = CancelScope::new();
    scope.cancel_with_reason("via io");
    let r = scope
        .run(async {
            let e = io_op().await.unwrap_err();
            assert!(MaybeCancelled::is_cancelled(&e));
            assert_ne!(e.kind(), io::ErrorKind::Interrupted);
            let back = Error::from(e);
            assert!(back.is_cancelled());
            assert_eq!(back.cancelled().unwrap().reason(), Some("via io"));
            Err::<(), _>(io::Error::from(back))
        })
        .await
        .map_err(Error::from)?;
    assert_eq!(r, None);

    // Timeouts with io::Error.
    let r = trio::move_on_after(secs(1), io_op())
        .await
        .map_err(Error::from)?;
    assert_eq!(r, None);
    let e = trio::fail_after(secs(1), io_op()).await.unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::TimedOut);

    // Through `?` both ways, back into trio::Error.
    assert_eq!(trio::move_on_after(secs(1), trio_op()).await?, None);

    // An inner uncancelled scope lets the io-wrapped Cancelled through to the outer.
    let outer = CancelScope::new();
    let inner = CancelScope::new();
    let r = outer
        .run(async {
            let r = inner
                .run(async {
                    outer.cancel();
                    io_op().await
                })
                .await;
            let e = r.unwrap_err();
            assert!(MaybeCancelled::is_cancelled(&e));
            Err::<(), _>(e)
        })
        .await
        .map_err(Error::from)?;
    assert_eq!(r, None);
    assert!(outer.cancelled_caught());
    assert!(!inner.cancelled_caught());
    Ok(())
}

// ---- a scope whose deadline already passed is cancelled on entry ----

#[trio::test]
async fn a_scope_entered_after_its_deadline_is_cancelled_from_the_start() -> trio::Result<()> {
    let inside = RefCell::new(Vec::new());
    let scope = CancelScope::with_timeout(Duration::ZERO);
    let r = scope
        .run(async {
            inside.borrow_mut().push(current_effective_deadline());
            let r = checkpoint_if_cancelled();
            inside.borrow_mut().push(if r.is_err() {
                Instant::NEG_INFINITY
            } else {
                Instant::INFINITY
            });
            r
        })
        .await?;
    assert_eq!(r, None);
    assert_eq!(*inside.borrow(), [Instant::NEG_INFINITY; 2]);
    assert!(scope.cancel_called() && scope.cancelled_caught());

    // An absolute deadline in the past, and `move_on_after(ZERO)`, the same.
    let past = CancelScope::with_deadline(current_time() - secs(1));
    assert_eq!(past.run(async { checkpoint_if_cancelled() }).await?, None);
    assert!(past.cancelled_caught());
    let r = trio::move_on_after(Duration::ZERO, async {
        assert_eq!(current_effective_deadline(), Instant::NEG_INFINITY);
        checkpoint_if_cancelled()
    })
    .await?;
    assert_eq!(r, None);
    Ok(())
}

// `cancel_called` after the fact, without looking at the clock on the way out.
#[test]
fn a_scope_entered_after_its_deadline_reports_cancel_called_afterwards() {
    let clock = MockClock::new();
    trio::Runtime::builder()
        .clock(clock)
        .build()
        .run(async {
            let scope = CancelScope::with_deadline(current_time());
            scope.run(async { Ok::<_, Error>(()) }).await?;
            assert!(scope.cancel_called());
            assert!(!scope.cancelled_caught(), "no checkpoint inside");
            Ok::<_, Error>(())
        })
        .unwrap();
}

// ---- the scope of fail_after, is_relative, source_task ----

#[trio::test]
async fn an_explicit_cancel_of_a_fail_after_scope_fails_too() -> trio::Result<()> {
    let run = trio::fail_after(secs(60), trio::sleep_forever());
    let scope = run.cancel_scope();
    assert_eq!(scope.relative_deadline(), Some(secs(60)));
    scope.cancel();
    assert_eq!(run.await.unwrap_err().kind(), ErrorKind::TooSlow);
    assert!(scope.cancelled_caught());

    let scope = CancelScope::with_deadline(Instant::INFINITY).shielded();
    let r = scope
        .run_or_fail(async {
            scope.cancel();
            checkpoint().await
        })
        .await;
    assert_eq!(r.unwrap_err().kind(), ErrorKind::TooSlow);
    // Finished before the deadline: the value, nothing caught.
    let scope = CancelScope::with_timeout(secs(60));
    assert_eq!(scope.run_or_fail(async { Ok::<_, Error>(5) }).await?, 5);
    assert!(!scope.cancelled_caught());
    Ok(())
}

#[trio::test]
async fn is_relative_as_in_trio() -> trio::Result<()> {
    let rel = CancelScope::with_timeout(secs(3));
    assert_eq!(rel.is_relative(), Some(true));
    assert_eq!(CancelScope::new().is_relative(), Some(false));
    assert_eq!(
        CancelScope::with_deadline(current_time()).is_relative(),
        Some(false)
    );
    let later = CancelScope::new();
    later.set_relative_deadline(secs(1));
    assert_eq!(later.is_relative(), Some(true));
    rel.run(async {
        assert_eq!(rel.is_relative(), None);
        Ok::<_, Error>(())
    })
    .await?;
    assert_eq!(rel.is_relative(), None);
    Ok(())
}

#[trio::test]
async fn an_explicit_cancel_names_the_task_that_called_it() -> trio::Result<()> {
    let scope = CancelScope::new();
    let by = RefCell::new(None);
    trio::open_nursery(async |n| {
        n.start_soon_named("canceller", async {
            wait_all_tasks_blocked().await?;
            scope.cancel_with_reason("enough");
            Ok(())
        })?;
        scope
            .run(async {
                let e = trio::sleep_forever().await.unwrap_err();
                *by.borrow_mut() = Some(e.to_string());
                let c = e.cancelled().unwrap();
                assert_eq!(c.source_task().unwrap().name(), "canceller");
                Err::<(), _>(e)
            })
            .await?;
        Ok(())
    })
    .await?;
    let text = by.take().unwrap();
    assert!(
        text.starts_with("cancelled (explicit, from task \"canceller\" #")
            && text.ends_with("): enough"),
        "{text}"
    );
    // A deadline names no task.
    let r = trio::move_on_after(Duration::ZERO, async {
        let e = checkpoint().await.unwrap_err();
        assert!(e.cancelled().unwrap().source_task().is_none());
        Err::<(), _>(e)
    })
    .await?;
    assert_eq!(r, None);
    Ok(())
}
