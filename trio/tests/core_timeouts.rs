// Ported from Python Trio's `trio/_tests/test_timeouts.py` (sleep, sleep_until,
// move_on_*, fail_*, shielded timeouts, relative deadlines resolved on entry), plus
// the timeout parts of `trio/_core/_tests/test_run.py` (`test_basic_timeout`,
// `test_cancel_scope_nesting`, `test_current_effective_deadline`,
// `test_yield_briefly_checks_for_timeout`).
//
// Python measures real time with a fudge factor; here every test runs on the mock
// clock (`#[trio::test(autojump)]` or `mock_clock`), so nothing takes real time and
// the virtual times are asserted exactly.

mod common;

use std::cell::RefCell;
use std::io;
use std::time::Duration;

use common::assert_is_schedule_point;
use trio::lowlevel::checkpoint;
use trio::testing::MockClock;
use trio::{
    CancelScope, CancelSource, ErrorKind, Instant, TooSlow, current_effective_deadline,
    current_time, fail_after, fail_at, move_on_after, move_on_at, sleep, sleep_forever,
    sleep_until,
};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// The virtual instant `s` seconds after the mock clock's origin.
fn at(s: u64) -> Instant {
    Instant::ZERO + secs(s)
}

#[trio::test(autojump)]
async fn sleep_and_sleep_until_take_exact_virtual_time() -> trio::Result<()> {
    assert_eq!(current_time(), Instant::ZERO);
    sleep(secs(1)).await?;
    assert_eq!(current_time(), at(1));
    sleep_until(at(5)).await?;
    assert_eq!(current_time(), at(5));
    sleep(Duration::from_millis(1500)).await?;
    assert_eq!(current_time(), at(5) + Duration::from_millis(1500));
    Ok(())
}

#[trio::test(autojump)]
async fn sleeps_in_several_tasks_wake_in_deadline_order() -> trio::Result<()> {
    let woke = RefCell::new(Vec::new());
    let w = &woke;
    trio::open_nursery(async |n| {
        for s in [3u64, 1, 2] {
            n.start_soon(async move {
                sleep(secs(s)).await?;
                w.borrow_mut().push((s, current_time()));
                Ok(())
            })?;
        }
        Ok(())
    })
    .await?;
    assert_eq!(woke.into_inner(), vec![(1, at(1)), (2, at(2)), (3, at(3))]);
    Ok(())
}

#[trio::test(autojump)]
async fn sleep_zero_is_a_schedule_point() {
    assert_is_schedule_point(|| sleep(Duration::ZERO)).await;
}

#[trio::test(autojump)]
async fn sleep_zero_is_a_cancel_point() -> trio::Result<()> {
    // Trio: `with move_on_at(current_time()): with raises(Cancelled): await sleep(0)`
    let seen = RefCell::new(None);
    let r = move_on_at(current_time(), async {
        let res = sleep(Duration::ZERO).await;
        *seen.borrow_mut() = Some(res.as_ref().map_err(|e| e.kind()).copied());
        res
    })
    .await?;
    assert_eq!(r, None);
    assert_eq!(seen.into_inner(), Some(Err(ErrorKind::Cancelled)));
    // No virtual time passed.
    assert_eq!(current_time(), Instant::ZERO);
    Ok(())
}

#[trio::test(autojump)]
async fn sleep_until_in_the_past_still_checkpoints() -> trio::Result<()> {
    sleep(secs(10)).await?;
    // A schedule point ...
    assert_is_schedule_point(|| sleep_until(at(3))).await;
    assert_is_schedule_point(|| sleep_until(current_time())).await;
    assert_eq!(current_time(), at(10));
    // ... and a cancel point.
    let scope = CancelScope::new();
    scope.cancel();
    let r = scope
        .run(async {
            let e = sleep_until(at(3)).await.unwrap_err();
            assert!(e.is_cancelled());
            Err::<(), _>(e)
        })
        .await?;
    assert_eq!(r, None);
    assert!(scope.cancelled_caught());
    Ok(())
}

#[trio::test(autojump)]
async fn sleep_in_a_cancelled_scope_fails_without_time_passing() -> trio::Result<()> {
    let scope = CancelScope::new();
    scope.cancel();
    let r = scope.run(sleep(secs(100))).await?;
    assert_eq!(r, None);
    assert_eq!(current_time(), Instant::ZERO);
    Ok(())
}

#[trio::test(autojump)]
async fn sleep_forever_ends_only_by_cancellation() -> trio::Result<()> {
    let r = move_on_after(secs(10), sleep_forever()).await?;
    assert_eq!(r, None);
    assert_eq!(current_time(), at(10));
    // The error it gets is a deadline cancellation.
    let scope = CancelScope::with_deadline(at(20));
    let r = scope
        .run(async {
            let e = sleep_forever().await.unwrap_err();
            assert_eq!(
                e.cancelled().map(|c| c.source()),
                Some(CancelSource::Deadline)
            );
            Err::<(), _>(e)
        })
        .await?;
    assert_eq!(r, None);
    assert_eq!(current_time(), at(20));
    Ok(())
}

#[trio::test(autojump)]
async fn move_on_after_cancels_at_the_timeout() -> trio::Result<()> {
    // Trio's test_move_on_after: `with move_on_after(TARGET): await sleep(100)`
    let scope_done = move_on_after(secs(1), sleep(secs(100))).await?;
    assert_eq!(scope_done, None);
    assert_eq!(current_time(), at(1));
    Ok(())
}

#[trio::test(autojump)]
async fn move_on_after_returns_the_value_when_in_time() -> trio::Result<()> {
    let r = move_on_after(secs(5), async {
        sleep(secs(2)).await?;
        Ok::<_, trio::Error>("done")
    })
    .await?;
    assert_eq!(r, Some("done"));
    assert_eq!(current_time(), at(2));
    // The expired scope leaves nothing armed behind: a later sleep runs its full length.
    sleep(secs(10)).await?;
    assert_eq!(current_time(), at(12));
    Ok(())
}

#[trio::test(autojump)]
async fn move_on_at_uses_an_absolute_deadline() -> trio::Result<()> {
    sleep(secs(2)).await?;
    let r = move_on_at(at(7), sleep_forever()).await?;
    assert_eq!(r, None);
    assert_eq!(current_time(), at(7));
    // A deadline already passed cancels at the first checkpoint.
    let r = move_on_at(at(1), async {
        checkpoint().await?;
        Ok::<_, trio::Error>(())
    })
    .await?;
    assert_eq!(r, None);
    assert_eq!(current_time(), at(7));
    Ok(())
}

#[trio::test(autojump)]
async fn fail_after_and_fail_at_raise_too_slow() -> trio::Result<()> {
    // Trio's test_fail.
    let e = fail_at(current_time() + secs(1), sleep(secs(100)))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TooSlow);
    assert!(!e.is_cancelled());
    assert_eq!(current_time(), at(1));

    fail_at(current_time() + secs(100), sleep(Duration::ZERO)).await?;
    assert_eq!(current_time(), at(1));

    let e = fail_after(secs(1), sleep(secs(100))).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TooSlow);
    assert_eq!(current_time(), at(2));

    fail_after(secs(100), sleep(Duration::ZERO)).await?;
    let v = fail_after(secs(100), async {
        sleep(secs(3)).await?;
        Ok::<_, trio::Error>(42)
    })
    .await?;
    assert_eq!(v, 42);
    assert_eq!(current_time(), at(5));
    Ok(())
}

#[trio::test(autojump)]
async fn fail_after_works_through_io_errors() -> trio::Result<()> {
    async fn io_op() -> io::Result<u8> {
        // `?` turns trio's Cancelled into an io::Error that still carries it.
        sleep(secs(60)).await?;
        Ok(1)
    }
    let e: io::Error = fail_after(secs(5), io_op()).await.unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::TimedOut);
    assert!(e.get_ref().is_some_and(|inner| inner.is::<TooSlow>()));
    assert_eq!(current_time(), at(5));
    // ... and back into a trio::Error, it is TooSlow again.
    assert_eq!(trio::Error::from(e).kind(), ErrorKind::TooSlow);

    let e = fail_at(at(8), io_op()).await.unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::TimedOut);
    assert_eq!(current_time(), at(8));

    // In time: the value comes back.
    let v = fail_after(secs(100), io_op()).await?;
    assert_eq!(v, 1);
    assert_eq!(current_time(), at(68));

    // move_on_after with io::Error: the scope swallows its own cancellation.
    let r = move_on_after(secs(1), io_op()).await?;
    assert_eq!(r, None);
    assert_eq!(current_time(), at(69));
    Ok(())
}

#[trio::test(autojump)]
async fn nested_timeouts_inner_shorter() -> trio::Result<()> {
    let inner_result = RefCell::new(None);
    let outer = move_on_after(secs(10), async {
        let inner = move_on_after(secs(3), sleep_forever()).await?;
        *inner_result.borrow_mut() = Some((inner, current_time()));
        // The outer scope is still live and fires at its own deadline.
        sleep_forever().await?;
        Ok::<_, trio::Error>(())
    })
    .await?;
    assert_eq!(outer, None);
    assert_eq!(inner_result.into_inner(), Some((None, at(3))));
    assert_eq!(current_time(), at(10));
    Ok(())
}

#[trio::test(autojump)]
async fn nested_timeouts_inner_longer() -> trio::Result<()> {
    let inner_saw = RefCell::new(None);
    let outer = move_on_after(secs(3), async {
        let inner = move_on_after(secs(10), sleep_forever()).await;
        // The cancellation belongs to the outer scope: the inner one lets it through.
        let e = inner.unwrap_err();
        *inner_saw.borrow_mut() = Some(e.kind());
        Err::<(), _>(e)
    })
    .await?;
    assert_eq!(outer, None);
    assert_eq!(inner_saw.into_inner(), Some(ErrorKind::Cancelled));
    assert_eq!(current_time(), at(3));

    // An outer move_on beats an inner fail_after: no TooSlow.
    let outer = move_on_after(secs(2), fail_after(secs(10), sleep_forever())).await?;
    assert_eq!(outer, None);
    assert_eq!(current_time(), at(5));

    // An inner fail_after that expires first: TooSlow escapes the outer move_on.
    let e = move_on_after(secs(10), fail_after(secs(2), sleep_forever()))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TooSlow);
    assert_eq!(current_time(), at(7));
    Ok(())
}

#[trio::test(autojump)]
async fn nested_timeouts_firing_together_outer_wins() -> trio::Result<()> {
    // test_run.py test_cancel_scope_nesting: "if two triggering at once, the outer
    // one wins".
    let outer = CancelScope::with_deadline(at(5));
    let inner = CancelScope::with_deadline(at(5));
    let r = outer
        .run(async {
            let r = inner.run(sleep_forever()).await;
            assert!(r.unwrap_err().is_cancelled());
            sleep_forever().await
        })
        .await?;
    assert_eq!(r, None);
    assert!(outer.cancelled_caught());
    assert!(inner.cancel_called());
    assert!(!inner.cancelled_caught());
    assert_eq!(current_time(), at(5));
    Ok(())
}

#[trio::test(mock_clock)]
async fn checkpoint_checks_for_a_deadline_passed_while_it_yielded(
    clock: MockClock,
) -> trio::Result<()> {
    // test_run.py test_yield_briefly_checks_for_timeout.
    let scope = CancelScope::with_deadline(current_time() + secs(5));
    let r = scope
        .run(async {
            checkpoint().await?;
            clock.jump(secs(10));
            let e = checkpoint().await.unwrap_err();
            assert!(e.is_cancelled());
            Err::<(), _>(e)
        })
        .await?;
    assert_eq!(r, None);
    Ok(())
}

#[trio::test(autojump)]
async fn shielded_timeout_shields_from_outer_but_still_fires() -> trio::Result<()> {
    // test_context_shields_from_outer + test_move_on_after_moves_on_even_if_shielded.
    let outer = CancelScope::new();
    let inner = CancelScope::with_timeout(secs(1)).shielded();
    let r = outer
        .run(async {
            let r = inner
                .run(async {
                    outer.cancel();
                    checkpoint()
                        .await
                        .expect("the shield keeps the outer cancel out");
                    // The shielded scope's own deadline still fires.
                    sleep_forever().await
                })
                .await?;
            assert_eq!(r, None);
            assert_eq!(current_time(), at(1));
            // Outside the shield, the outer cancellation arrives.
            checkpoint().await
        })
        .await?;
    assert_eq!(r, None);
    assert!(inner.cancelled_caught());
    assert!(outer.cancelled_caught());

    // Unshielding lets the outer cancellation in at once.
    let outer = CancelScope::new();
    let inner = CancelScope::with_timeout(secs(1)).shielded();
    let r = outer
        .run(async {
            inner
                .run(async {
                    outer.cancel();
                    checkpoint().await?;
                    inner.set_shield(false);
                    let e = checkpoint().await.unwrap_err();
                    assert!(e.is_cancelled());
                    Err::<(), _>(e)
                })
                .await
        })
        .await?;
    assert_eq!(r, None);
    assert!(!inner.cancelled_caught());
    assert_eq!(current_time(), at(1));
    Ok(())
}

#[trio::test(autojump)]
async fn shielded_fail_after_still_fails() -> trio::Result<()> {
    // test_fail_after_fails_even_if_shielded: `fail_after(TARGET, shield=True)` under
    // a cancelled outer scope still fails with TooSlow at its own deadline.
    let outer = CancelScope::new();
    let seen = RefCell::new(None);
    let r = outer
        .run(async {
            outer.cancel();
            let shield = CancelScope::new().shielded();
            let r = shield.run(fail_after(secs(1), sleep_forever())).await;
            *seen.borrow_mut() = Some((r.map_err(|e| e.kind()), current_time()));
            // Outside the shield the outer cancellation is delivered.
            checkpoint().await
        })
        .await?;
    assert_eq!(r, None);
    assert_eq!(seen.into_inner(), Some((Err(ErrorKind::TooSlow), at(1))));
    Ok(())
}

#[trio::test(mock_clock)]
async fn relative_timeout_is_measured_from_entry(clock: MockClock) -> trio::Result<()> {
    // test_timeout_deadline_on_entry.
    let scope = CancelScope::with_timeout(secs(5));
    assert_eq!(scope.relative_deadline(), Some(secs(5)));
    clock.jump(secs(3));
    let start = current_time();
    assert_eq!(start, at(3));
    scope
        .run(async {
            assert_eq!(scope.deadline(), start + secs(5));
            // Once entered, the relative deadline is the time remaining (Trio).
            assert_eq!(scope.relative_deadline(), Some(secs(5)));
            Ok::<_, trio::Error>(())
        })
        .await?;

    // move_on_after / fail_after are the same: created now, timed from first poll.
    let fut = move_on_after(secs(5), async {
        assert_eq!(current_effective_deadline(), at(10) + secs(5));
        Ok::<_, trio::Error>(())
    });
    clock.jump(secs(7));
    assert_eq!(fut.await?, Some(()));
    let fut = fail_after(secs(5), async {
        assert_eq!(current_effective_deadline(), at(12) + secs(5));
        Ok::<_, trio::Error>(())
    });
    clock.jump(secs(2));
    fut.await?;
    Ok(())
}

#[trio::test(autojump)]
async fn timeout_cancels_every_task_inside_it() -> trio::Result<()> {
    let finished = RefCell::new(Vec::new());
    let f = &finished;
    let r = move_on_after(secs(4), async {
        trio::open_nursery(async |n| {
            for s in [1u64, 3, 5, 7] {
                n.start_soon(async move {
                    sleep(secs(s)).await?;
                    f.borrow_mut().push(s);
                    Ok(())
                })?;
            }
            Ok(())
        })
        .await
    })
    .await?;
    assert_eq!(r, None);
    assert_eq!(finished.into_inner(), vec![1, 3]);
    assert_eq!(current_time(), at(4));
    Ok(())
}
