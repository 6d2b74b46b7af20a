//! `Nursery::start` tests, ported from Python Trio's
//! `src/trio/_core/_tests/test_run.py`: `test_nursery_start`,
//! `test_nursery_start_with_cancelled_nursery`,
//! `test_nursery_start_keeps_nursery_open`, the `start` part of
//! `test_task_tree_introspection`; and from `src/trio/_core/_tests/test_cancelled.py`
//! `test_cancel_reason_nursery3` (a failed start cancels nothing).
//!
//! Not ported:
//! * "calling started twice": `TaskStatus::started` consumes the status, so a second
//!   call is a compile error;
//! * "errors in calling convention" and `TASK_STATUS_IGNORED`: the closure's type is
//!   checked by the compiler, and there is no public way to make a `TaskStatus`.

use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use trio::lowlevel::{Task, checkpoint, current_task};
use trio::testing::wait_all_tasks_blocked;
use trio::{
    CancelScope, CancelSource, Error, ErrorKind, Nursery, TaskStatus, current_effective_deadline,
    current_time,
};

const fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn err(msg: &'static str) -> Error {
    Error::new(ErrorKind::Other, msg)
}

/// A bound so that a core bug makes a test fail instead of hang (autojump tests).
const GUARD: Duration = Duration::from_secs(1_000_000);

async fn sleep_then_start(seconds: u64, status: TaskStatus<u64>) -> trio::Result<()> {
    trio::sleep(secs(seconds)).await?;
    status.started(seconds);
    trio::sleep(secs(seconds)).await
}

#[trio::test(autojump)]
async fn start_returns_the_started_value() -> trio::Result<()> {
    // test_nursery_start, happy path: start waits for started(), returns its value,
    // and the nursery then waits for the child.
    for seconds in [1, 2] {
        let t0 = current_time();
        trio::open_nursery(async |n| {
            assert!(n.info().child_tasks().is_empty());
            let v = n
                .start(async move |st| sleep_then_start(seconds, st).await)
                .await?;
            assert_eq!(v, seconds);
            assert_eq!(current_time() - t0, secs(seconds));
            assert_eq!(n.info().child_tasks().len(), 1);
            Ok(())
        })
        .await?;
        assert_eq!(current_time() - t0, secs(2 * seconds));
    }
    // Any value type, moved out of the child.
    trio::open_nursery(async |n| {
        let v: (String, Vec<u8>) = n
            .start(async |st| {
                st.started(("ready".to_string(), vec![1, 2]));
                Ok(())
            })
            .await?;
        assert_eq!(v, ("ready".to_string(), vec![1, 2]));
        Ok(())
    })
    .await?;
    Ok(())
}

#[trio::test]
async fn error_before_started_comes_out_of_start() -> trio::Result<()> {
    // test_nursery_start: "child crashes before calling started -> error comes out
    // of .start()". The nursery itself is not affected.
    let sibling_ok = Cell::new(false);
    let so = &sibling_ok;
    trio::open_nursery(async |n| {
        n.start_soon(async move {
            wait_all_tasks_blocked().await?;
            checkpoint().await?;
            so.set(true);
            Ok(())
        })?;
        let e = n
            .start(async |_st: TaskStatus<()>| {
                checkpoint().await?;
                Err(err("oops"))
            })
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Other);
        assert_eq!(e.to_string(), "oops");
        assert!(!n.cancel_scope().cancel_called());
        checkpoint().await?;
        Ok(())
    })
    .await?;
    assert!(sibling_ok.get(), "the sibling was not cancelled");
    Ok(())
}

#[trio::test]
async fn failed_start_does_not_cancel_siblings_but_the_callers_error_does() {
    // test_cancelled.py: test_cancel_reason_nursery3 — the body lets start()'s error
    // escape, so the nursery is cancelled by the body, not by start itself.
    let seen = RefCell::new(None);
    let s = &seen;
    let r = trio::open_nursery(async |n| {
        n.start_soon(async move {
            let e = trio::sleep_forever().await.unwrap_err();
            *s.borrow_mut() = Some(e.cancelled().unwrap().source());
            Err(e)
        })?;
        wait_all_tasks_blocked().await?;
        n.start(async |_st: TaskStatus<()>| Err(err("ValueError")))
            .await
    })
    .await;
    assert_eq!(r.unwrap_err().to_string(), "ValueError");
    assert_eq!(*seen.borrow(), Some(CancelSource::Nursery));
}

#[trio::test]
async fn returning_without_started_is_a_usage_error() -> trio::Result<()> {
    // test_nursery_start: "child exiting cleanly before calling started"
    trio::open_nursery(async |n| {
        let e = n
            .start(async |_st: TaskStatus<u8>| {
                checkpoint().await?;
                Ok(())
            })
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Usage);
        assert!(e.to_string().contains("without calling"), "{e}");
        // Immediately, too.
        let e = n
            .start(async |_st: TaskStatus<u8>| Ok(()))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Usage);
        Ok(())
    })
    .await?;
    Ok(())
}

#[trio::test(mock_clock)]
async fn start_on_a_closed_nursery_fails_at_once() -> trio::Result<()> {
    // test_nursery_start: "trying to start in a closed nursery raises an error
    // immediately"
    let ran = Cell::new(false);
    let kept: RefCell<Option<Nursery<'_>>> = RefCell::new(None);
    let k = &kept;
    trio::open_nursery(async |n| {
        *k.borrow_mut() = Some(n.clone());
        Ok(())
    })
    .await?;
    let closed = kept.borrow_mut().take().unwrap();
    let t0 = current_time();
    let e = closed
        .start(async |st: TaskStatus<u64>| {
            ran.set(true);
            sleep_then_start(7, st).await
        })
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NurseryClosed);
    assert!(!ran.get());
    assert_eq!(current_time(), t0);
    Ok(())
}

// ---- cancellation before `started` ----------------------------------------------

#[trio::test]
async fn cancelled_caller_cancels_child_before_started() -> trio::Result<()> {
    // test_nursery_start: "if the call to start() is cancelled, then the call to
    // started() does nothing -- the child keeps executing under start(). The value
    // it passed is ignored; start() raises Cancelled."
    trio::open_nursery(async |n| {
        let cs = CancelScope::new();
        let r = cs
            .run(async {
                cs.cancel();
                n.start(async |st| {
                    st.started("hi");
                    checkpoint().await
                })
                .await
            })
            .await?;
        assert_eq!(r, None, "start() returned Err(Cancelled), caught by cs");
        assert!(cs.cancelled_caught());
        assert!(n.info().child_tasks().is_empty(), "the child did not move");
        Ok(())
    })
    .await?;
    Ok(())
}

#[trio::test]
async fn cancelled_caller_child_without_checkpoint_succeeds() -> trio::Result<()> {
    // test_nursery_start: "if the task does not execute any checkpoints, and exits,
    // then start() doesn't raise Cancelled, since the task completed successfully."
    trio::open_nursery(async |n| {
        let cs = CancelScope::new();
        let r = cs
            .run(async {
                cs.cancel();
                n.start(async |st| {
                    st.started(5);
                    Ok(())
                })
                .await
            })
            .await?;
        assert_eq!(r, Some(5));
        assert!(!cs.cancelled_caught());
        Ok(())
    })
    .await?;
    Ok(())
}

#[trio::test]
async fn cancelled_caller_error_after_started_comes_out_of_start() -> trio::Result<()> {
    // test_nursery_start: "since starting in a cancelled context makes started() a
    // no-op, if the child crashes after calling started(), the error can *still*
    // come out of start()"
    trio::open_nursery(async |n| {
        let cs = CancelScope::new();
        let r = cs
            .run(async {
                cs.cancel();
                n.start(async |st| {
                    st.started(());
                    Err(err("whoopsiedaisy"))
                })
                .await
            })
            .await;
        let e = r.unwrap_err();
        assert_eq!(e.to_string(), "whoopsiedaisy");
        assert!(
            !n.cancel_scope().cancel_called(),
            "the error did not go to the nursery"
        );
        Ok(())
    })
    .await?;
    Ok(())
}

#[trio::test(autojump)]
async fn child_runs_under_the_callers_deadline_until_started() -> trio::Result<()> {
    let t0 = current_time();
    let child_saw = RefCell::new(Vec::new());
    let c = &child_saw;
    trio::open_nursery(async |n| {
        let r = trio::move_on_after(secs(5), async {
            n.start(async |st: TaskStatus<()>| {
                c.borrow_mut().push(current_effective_deadline());
                let e = trio::sleep(secs(10)).await.unwrap_err();
                assert_eq!(e.cancelled().unwrap().source(), CancelSource::Deadline);
                c.borrow_mut().push(current_time());
                // Level-triggered: still cancelled.
                assert!(checkpoint().await.unwrap_err().is_cancelled());
                st.started(());
                Err(e)
            })
            .await
        })
        .await?;
        assert_eq!(r, None);
        assert!(n.info().child_tasks().is_empty());
        Ok(())
    })
    .await?;
    assert_eq!(*child_saw.borrow(), [t0 + secs(5), t0 + secs(5)]);
    Ok(())
}

#[trio::test(autojump)]
async fn cancelled_start_keeps_waiting_for_a_child_that_ignores_it() -> trio::Result<()> {
    // "the child keeps executing under start()": start returns only when the child
    // is done, here after a shielded sleep.
    let t0 = current_time();
    trio::open_nursery(async |n| {
        let cs = CancelScope::new();
        let r = cs
            .run(async {
                cs.cancel();
                n.start(async |st| {
                    st.started(1);
                    CancelScope::new()
                        .shielded()
                        .run(trio::sleep(secs(3)))
                        .await?;
                    Ok(())
                })
                .await
            })
            .await?;
        assert_eq!(r, Some(1));
        assert_eq!(current_time(), t0 + secs(3));
        Ok(())
    })
    .await?;
    Ok(())
}

// ---- after `started`: the child belongs to the target nursery -------------------

#[trio::test(autojump)]
async fn after_started_the_child_belongs_to_the_target() -> trio::Result<()> {
    let t0 = current_time();
    // The nursery body runs in this task: the caller of start().
    let caller_task = current_task();
    let child = RefCell::new(None::<Task>);
    let done = Cell::new(None);
    let (c, d, ct) = (&child, &done, &caller_task);
    trio::open_nursery(async |n| {
        let caller = CancelScope::new();
        caller
            .run(async {
                let target = n.info();
                n.start(async move |st: TaskStatus<()>| {
                    let me = current_task();
                    *c.borrow_mut() = Some(me.clone());
                    // Before started: in a nursery of the caller, not in the target.
                    let before = me.parent_nursery().unwrap();
                    assert_ne!(before, target);
                    assert_eq!(before.parent_task().as_ref(), Some(ct));
                    st.started(());
                    trio::sleep(secs(10)).await?;
                    d.set(Some(current_time()));
                    Ok(())
                })
                .await?;
                let me = child.borrow().clone().unwrap();
                assert_eq!(me.parent_nursery(), Some(n.info()));
                assert!(n.info().child_tasks().contains(&me));
                // Cancelling the caller's scope no longer affects the child.
                caller.cancel();
                checkpoint().await
            })
            .await?;
        assert!(caller.cancelled_caught());
        Ok(())
    })
    .await?;
    assert_eq!(done.get(), Some(t0 + secs(10)));
    Ok(())
}

#[trio::test(autojump)]
async fn after_started_the_child_sees_the_targets_deadline() -> trio::Result<()> {
    let t0 = current_time();
    let seen = RefCell::new(Vec::new());
    let s = &seen;
    trio::move_on_after(secs(100), async {
        trio::open_nursery(async |n| {
            trio::move_on_after(secs(5), async {
                n.start(async |st: TaskStatus<()>| {
                    s.borrow_mut().push(current_effective_deadline());
                    st.started(());
                    checkpoint().await?;
                    s.borrow_mut().push(current_effective_deadline());
                    trio::sleep(secs(10)).await?; // outlives the caller's 5 s
                    s.borrow_mut().push(current_effective_deadline());
                    Ok(())
                })
                .await?;
                trio::sleep_forever().await
            })
            .await?;
            assert_eq!(current_time(), t0 + secs(5));
            Ok(())
        })
        .await
    })
    .await?;
    assert_eq!(
        *seen.borrow(),
        [t0 + secs(5), t0 + secs(100), t0 + secs(100)]
    );
    assert_eq!(current_time(), t0 + secs(10));
    Ok(())
}

#[trio::test(autojump)]
async fn scopes_opened_before_started_move_with_the_child() -> trio::Result<()> {
    // The child opens a nursery (and a cancel scope) before calling started: after
    // the move, the target's deadline and cancellation reach inside them.
    let t0 = current_time();
    let seen = RefCell::new(Vec::new());
    let s = &seen;
    let r = trio::fail_after(GUARD, async {
        trio::move_on_after(secs(100), async {
            trio::open_nursery(async |target| {
                target
                    .start(async |st: TaskStatus<()>| {
                        trio::open_nursery(async |inner| {
                            inner.start_soon(async move {
                                let r = CancelScope::new()
                                    .run(async {
                                        wait_all_tasks_blocked().await?;
                                        s.borrow_mut().push(current_effective_deadline());
                                        trio::sleep_forever().await
                                    })
                                    .await;
                                s.borrow_mut().push(current_time());
                                r.map(|_| ())
                            })?;
                            wait_all_tasks_blocked().await?;
                            st.started(());
                            trio::sleep_forever().await
                        })
                        .await
                        .map(drop)
                    })
                    .await?;
                trio::sleep_forever().await
            })
            .await
        })
        .await
    })
    .await?;
    assert_eq!(r, None);
    assert_eq!(*seen.borrow(), [t0 + secs(100), t0 + secs(100)]);
    assert_eq!(current_time(), t0 + secs(100));
    Ok(())
}

#[trio::test(autojump)]
async fn start_with_cancelled_target_nursery() -> trio::Result<()> {
    // test_nursery_start_with_cancelled_nursery: sleeping grandchildren are moved
    // into a target nursery cancelled just before / just after started(); the
    // cancellation must reach them (a bug would hang: the guard turns it into
    // TooSlow).
    for cancel_before in [true, false] {
        let grandchildren_cancelled = Cell::new(0);
        let g = &grandchildren_cancelled;
        trio::fail_after(GUARD, async {
            trio::open_nursery(async |n| {
                // setup_nursery: a nursery handed out through start.
                let target: Nursery<'_> = n
                    .start(async |st| {
                        trio::open_nursery(async |inner| {
                            st.started(inner.clone());
                            let e = trio::sleep_forever().await.unwrap_err();
                            assert!(e.is_cancelled());
                            Ok(())
                        })
                        .await
                        .map(drop)
                    })
                    .await?;
                let t = target.clone();
                target
                    .start(async move |st: TaskStatus<()>| {
                        trio::open_nursery(async |nn| {
                            for _ in 0..2 {
                                nn.start_soon(async move {
                                    let e = trio::sleep_forever().await.unwrap_err();
                                    g.set(g.get() + 1);
                                    Err(e)
                                })?;
                            }
                            wait_all_tasks_blocked().await?;
                            if cancel_before {
                                t.cancel_scope().cancel();
                            }
                            st.started(());
                            trio::sleep_forever().await
                        })
                        .await
                        .map(drop)
                    })
                    .await?;
                if !cancel_before {
                    target.cancel_scope().cancel();
                }
                Ok(())
            })
            .await
        })
        .await?;
        assert_eq!(
            grandchildren_cancelled.get(),
            2,
            "cancel_before={cancel_before}"
        );
    }
    Ok(())
}

// ---- starting into a nursery from outside it ------------------------------------

#[trio::test(autojump)]
async fn nursery_waits_for_pending_starts() -> trio::Result<()> {
    // test_nursery_start_keeps_nursery_open, part 1: the only thing keeping
    // nursery2 open is start() calls made from nursery1's children.
    async fn sleep_a_bit(st: TaskStatus<()>) -> trio::Result<()> {
        trio::sleep(secs(2)).await?;
        st.started(());
        trio::sleep(secs(3)).await
    }
    let t0 = current_time();
    trio::open_nursery(async |n1| {
        trio::open_nursery(async |n2| {
            let h = n2.clone();
            n1.start_soon(async move { h.start(sleep_a_bit).await })?;
            trio::sleep(secs(1)).await?;
            let h = n2.clone();
            n1.start_soon(async move { h.start(sleep_a_bit).await })?;
            Ok(())
        })
        .await?;
        assert_eq!(current_time() - t0, secs(6));
        Ok(())
    })
    .await?;
    Ok(())
}

#[trio::test(autojump)]
async fn nursery_waits_for_a_pending_start_that_fails() -> trio::Result<()> {
    // test_nursery_start_keeps_nursery_open, part 2: the started task crashes and
    // never enters the nursery; the error comes out of start(), not the nursery.
    let caught = Cell::new(false);
    let c = &caught;
    let t0 = current_time();
    trio::open_nursery(async |n1| {
        trio::open_nursery(async |n2| {
            let h = n2.clone();
            n1.start_soon(async move {
                let e = h
                    .start(async |_st: TaskStatus<()>| {
                        trio::sleep(secs(7)).await?;
                        Err(err("KeyError"))
                    })
                    .await
                    .unwrap_err();
                assert_eq!(e.to_string(), "KeyError");
                c.set(true);
                Ok(())
            })?;
            wait_all_tasks_blocked().await?;
            Ok(())
        })
        .await?;
        assert_eq!(current_time() - t0, secs(7));
        Ok(())
    })
    .await?;
    assert!(caught.get());
    Ok(())
}

#[trio::test(autojump)]
async fn start_into_a_nursery_from_a_sibling_of_its_body() -> trio::Result<()> {
    let caller = current_task();
    let child = RefCell::new(None::<Task>);
    let c = &child;
    let finished = Cell::new(false);
    let f = &finished;
    trio::open_nursery(async |outer| {
        let target: Nursery<'_> = outer
            .start(async |st| {
                trio::open_nursery(async |inner| {
                    st.started(inner.clone());
                    let e = trio::sleep_forever().await.unwrap_err();
                    assert!(e.is_cancelled());
                    Ok(())
                })
                .await
                .map(drop)
            })
            .await?;
        let v = target
            .start_named("moved", async |st: TaskStatus<&str>| {
                let me = current_task();
                assert_eq!(me.name(), "moved");
                // Before started: under the caller (this body's task).
                assert_eq!(
                    me.parent_nursery().unwrap().parent_task(),
                    Some(caller.clone())
                );
                *c.borrow_mut() = Some(me);
                st.started("in");
                let r = trio::sleep_forever().await;
                f.set(true);
                r
            })
            .await?;
        assert_eq!(v, "in");
        let me = child.borrow().clone().unwrap();
        assert_eq!(me.parent_nursery(), Some(target.info()));
        assert_eq!(target.info().child_tasks(), std::slice::from_ref(&me));
        assert_ne!(target.info().parent_task(), Some(caller.clone()));
        // Cancelling the target stops the moved child, not the caller.
        assert!(!finished.get());
        target.cancel_scope().cancel();
        wait_all_tasks_blocked().await?;
        assert!(finished.get());
        assert!(!outer.cancel_scope().cancel_called());
        checkpoint().await?;
        Ok(())
    })
    .await?;
    Ok(())
}

// ---- errors and panics after `started` ------------------------------------------

#[trio::test]
async fn error_after_started_goes_to_the_target_nursery() {
    let body_cancelled = Cell::new(false);
    let b = &body_cancelled;
    let r = trio::open_nursery(async |n| {
        let v = n
            .start(async |st| {
                st.started(3);
                checkpoint().await?;
                Err(err("late failure"))
            })
            .await?;
        assert_eq!(v, 3);
        let r = trio::sleep_forever().await;
        b.set(r.is_err());
        r
    })
    .await;
    assert!(body_cancelled.get());
    let e = r.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Other);
    assert_eq!(e.to_string(), "late failure");
}

#[test]
fn panic_before_started_is_resumed_from_start() {
    let after_start = Cell::new(false);
    let res = catch_unwind(AssertUnwindSafe(|| {
        trio::run(async {
            trio::open_nursery(async |n| {
                let _: () = n
                    .start(async |_st: TaskStatus<()>| {
                        checkpoint().await?;
                        panic!("early panic");
                    })
                    .await?;
                after_start.set(true);
                Ok(())
            })
            .await
        })
    }));
    let p = res.unwrap_err();
    assert_eq!(p.downcast_ref::<&str>(), Some(&"early panic"));
    assert!(!after_start.get());
}

#[test]
fn panic_after_started_is_resumed_from_the_target_nursery() {
    let record = RefCell::new(Vec::new());
    let r = &record;
    let res = catch_unwind(AssertUnwindSafe(|| {
        trio::run(async {
            trio::open_nursery::<_, ()>(async |n| {
                n.start(async |st| {
                    st.started(());
                    wait_all_tasks_blocked().await?;
                    panic!("late panic");
                })
                .await?;
                r.borrow_mut().push("start returned");
                let e = trio::sleep_forever().await.unwrap_err();
                r.borrow_mut().push("body cancelled");
                Err(e)
            })
            .await
        })
    }));
    let p = res.unwrap_err();
    assert_eq!(p.downcast_ref::<&str>(), Some(&"late panic"));
    assert_eq!(*record.borrow(), ["start returned", "body cancelled"]);
}

#[trio::test]
async fn start_task_name_and_value_from_the_start() -> trio::Result<()> {
    trio::open_nursery(async |n| {
        let name = n
            .start_named("server", async |st| {
                st.started(current_task().name().to_string());
                Ok(())
            })
            .await?;
        assert_eq!(name, "server");
        // The default name comes from the closure's type.
        let name = n
            .start(async |st| {
                st.started(current_task().name().to_string());
                Ok(())
            })
            .await?;
        assert!(name.contains("start_task_name"), "{name}");
        Ok(())
    })
    .await?;
    Ok(())
}

// ---- `started` moves the child at once ----

// Right after `started`, in the same step: the child's parent nursery is the
// target, the target lists it, and the target's cancellation (not the caller's)
// reaches it at its next checkpoint (Trio moves the task inside `started`).
#[trio::test]
async fn started_moves_the_child_before_it_takes_another_step() -> trio::Result<()> {
    let seen = RefCell::new(Vec::new());
    let s = &seen;
    trio::open_nursery(async |target| {
        let (info, t) = (target.info(), target.cancel_scope());
        target
            .start(async move |st: TaskStatus<()>| {
                let me = current_task();
                assert_ne!(
                    me.parent_nursery().as_ref(),
                    Some(&info),
                    "under start first"
                );
                st.started(());
                s.borrow_mut()
                    .push(me.parent_nursery().as_ref() == Some(&info));
                s.borrow_mut().push(info.child_tasks().contains(&me));
                t.cancel();
                let r = trio::lowlevel::checkpoint_if_cancelled();
                s.borrow_mut().push(r.is_err());
                r
            })
            .await
    })
    .await?;
    assert_eq!(*seen.borrow(), [true, true, true]);
    Ok(())
}

// The scopes a child entered before `started` follow it too, in the same step.
#[trio::test]
async fn started_inside_a_scope_moves_the_scope_too() -> trio::Result<()> {
    let cancelled_in_scope = Cell::new(false);
    let c = &cancelled_in_scope;
    trio::open_nursery(async |target| {
        let t = target.cancel_scope();
        target
            .start(async move |st: TaskStatus<()>| {
                let inner = CancelScope::new();
                inner
                    .run(async {
                        st.started(());
                        t.cancel();
                        let r = trio::lowlevel::checkpoint_if_cancelled();
                        c.set(r.is_err());
                        r
                    })
                    .await?;
                // Outside the inner scope, still the target's cancellation.
                trio::lowlevel::checkpoint_if_cancelled()
            })
            .await
    })
    .await?;
    assert!(cancelled_in_scope.get());
    Ok(())
}

// A child that fails right after `started`, in the same step, fails the target
// nursery (its siblings are cancelled), not the caller of `start`.
#[trio::test]
async fn a_failure_right_after_started_belongs_to_the_target() -> trio::Result<()> {
    let sibling = Cell::new(None);
    let sb = &sibling;
    let r = trio::open_nursery(async |target| {
        target.start_soon(async move {
            let e = trio::sleep_forever().await.unwrap_err();
            let by = e
                .cancelled()
                .unwrap()
                .source_task()
                .map(|t| t.name().to_string());
            sb.set(Some(by));
            Err(e)
        })?;
        wait_all_tasks_blocked().await?;
        target
            .start_named("quitter", async |st: TaskStatus<u8>| {
                st.started(1);
                Err(err("failed after started"))
            })
            .await?;
        Ok(())
    })
    .await;
    assert_eq!(r.unwrap_err().to_string(), "failed after started");
    assert_eq!(sibling.take(), Some(Some("quitter".to_string())));
    Ok(())
}
