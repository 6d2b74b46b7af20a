// Ported from Python Trio's low-level core tests:
// * `trio/_core/_tests/test_run.py` — checkpoints (`test_cancel_points`,
//   `test_yield_briefly_checks_for_timeout`), `test_run_nesting`, `test_root_task`,
//   `test_current_statistics`, `test_spawn_system_task`, `test_system_task_crash*`,
//   the `TrioToken` tests (`test_TrioToken_identity`, `..._run_sync_soon_basic`,
//   `..._too_late`, `..._after_main_crash`, `..._crashes`, `..._FIFO`);
// * `trio/_core/_tests/test_parking_lot.py` — basic FIFO, unpark counts, cancel,
//   repark, repark with count, breaking a lot;
// * `trio/_core/_tests/test_local.py` — RunVar;
// * `trio/_core/_tests/test_io.py` — wait_readable / wait_writable / notify_closing on
//   a socket pair;
// * `trio/_tests/test_scheduler_determinism.py` — seeded scheduling replays.
//
// Rust mappings: cancellation is `Err(Cancelled)`; a scope's `run` returns `Ok(None)`
// when it caught its cancellation; `ParkingLot<T>` can hand a value to the woken task.

mod common;

use std::cell::{Cell, RefCell};
#[cfg(unix)]
use std::io::{Read, Write};
#[cfg(unix)]
use std::os::fd::AsRawFd;
#[cfg(unix)]
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use common::assert_is_schedule_point;
use trio::lowlevel::{
    Instrument, ParkingLot, RunVar, cancel_shielded_checkpoint, checkpoint,
    checkpoint_if_cancelled, current_root_task, current_seed, current_task, current_trio_token,
    spawn_system_task,
};
#[cfg(unix)]
use trio::lowlevel::{current_statistics, notify_closing, wait_readable, wait_writable};
use trio::testing::{MockClock, wait_all_tasks_blocked};
use trio::{CancelScope, CancelSource, Error, ErrorKind, Instant, Runtime};

fn builder() -> trio::Builder {
    Runtime::builder().handle_ctrl_c(false)
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

// ---- checkpoints ----------------------------------------------------------------

#[trio::test]
async fn checkpoint_is_a_schedule_point() {
    assert_is_schedule_point(checkpoint).await;
}

#[trio::test]
async fn checkpoint_yields_even_when_cancelled() {
    // In a cancelled scope, a checkpoint still yields first, then fails.
    assert_is_schedule_point(|| async {
        let scope = CancelScope::new();
        scope.cancel();
        let r = scope.run(checkpoint()).await;
        assert_eq!(r.unwrap(), None);
        Ok(())
    })
    .await;
}

#[trio::test]
async fn cancel_shielded_checkpoint_yields_but_never_fails() {
    assert_is_schedule_point(|| async {
        let scope = CancelScope::new();
        scope.cancel();
        let r = scope.run(cancel_shielded_checkpoint()).await;
        assert_eq!(r.unwrap(), Some(()));
        Ok(())
    })
    .await;
}

#[trio::test]
async fn checkpoint_if_cancelled_only_checks() -> trio::Result<()> {
    checkpoint_if_cancelled()?;
    let scope = CancelScope::new();
    let r = scope
        .run(async {
            checkpoint_if_cancelled()?;
            scope.cancel();
            // Level-triggered: fails again and again while inside the scope.
            for _ in 0..3 {
                assert!(checkpoint_if_cancelled().unwrap_err().is_cancelled());
            }
            checkpoint_if_cancelled()
        })
        .await?;
    assert_eq!(r, None);
    assert!(scope.cancelled_caught());
    Ok(())
}

#[test]
fn checkpoint_checks_for_cancellation_after_yielding() {
    // FIFO scheduling: A runs before B in each batch. A enters its scope and
    // checkpoints; B, later in the same batch, cancels A's scope; A's checkpoint,
    // resumed in the next batch, must see it.
    let scope = CancelScope::new();
    let outcome = RefCell::new(None);
    let (s, o) = (&scope, &outcome);
    builder()
        .deterministic(true)
        .build()
        .run(async {
            trio::open_nursery(async |n| {
                n.start_soon(async move {
                    let r = s
                        .run(async {
                            let r = checkpoint().await;
                            *o.borrow_mut() = Some(r.as_ref().map_err(|e| e.kind()).copied());
                            r
                        })
                        .await?;
                    assert_eq!(r, None);
                    Ok(())
                })?;
                n.start_soon(async move {
                    s.cancel();
                    Ok(())
                })?;
                Ok(())
            })
            .await
        })
        .unwrap();
    assert_eq!(outcome.into_inner(), Some(Err(ErrorKind::Cancelled)));
}

#[trio::test(mock_clock)]
async fn checkpoint_sees_a_deadline_that_passed_while_yielded(
    clock: MockClock,
) -> trio::Result<()> {
    // test_yield_briefly_checks_for_timeout
    let scope = CancelScope::with_deadline(trio::current_time() + secs(5));
    let r = scope
        .run(async {
            checkpoint().await?;
            clock.jump(secs(10));
            checkpoint().await
        })
        .await?;
    assert_eq!(r, None);
    assert!(scope.cancelled_caught());
    Ok(())
}

// ---- ParkingLot -----------------------------------------------------------------

#[trio::test]
async fn parking_lot_basic_fifo() -> trio::Result<()> {
    // test_parking_lot_basic
    let lot: ParkingLot = ParkingLot::new();
    let record = RefCell::new(Vec::new());
    let (lot, r) = (&lot, &record);
    let waiter = |i: usize| async move {
        r.borrow_mut().push(format!("sleep {i}"));
        lot.park().await?;
        r.borrow_mut().push(format!("wake {i}"));
        Ok(())
    };

    assert!(lot.is_empty());
    assert_eq!(lot.len(), 0);
    assert_eq!(lot.statistics().tasks_waiting, 0);
    trio::open_nursery(async |n| {
        for i in 0..3 {
            n.start_soon(waiter(i))?;
        }
        wait_all_tasks_blocked().await?;
        assert_eq!(record.borrow().len(), 3);
        assert!(!lot.is_empty());
        assert_eq!(lot.len(), 3);
        assert_eq!(lot.statistics().tasks_waiting, 3);
        assert_eq!(lot.unpark_all(), 3);
        assert_eq!(lot.statistics().tasks_waiting, 0);
        wait_all_tasks_blocked().await?;
        assert_eq!(record.borrow().len(), 6);
        Ok(())
    })
    .await?;

    // One-by-one wake-ups are strict FIFO.
    record.borrow_mut().clear();
    trio::open_nursery(async |n| {
        for i in 0..3 {
            n.start_soon(waiter(i))?;
            wait_all_tasks_blocked().await?;
        }
        for _ in 0..3 {
            assert!(lot.unpark().is_some());
            wait_all_tasks_blocked().await?;
        }
        Ok(())
    })
    .await?;
    assert_eq!(
        *record.borrow(),
        [
            "sleep 0", "sleep 1", "sleep 2", "wake 0", "wake 1", "wake 2"
        ]
    );

    // Unparking an empty lot is a no-op.
    assert!(lot.unpark().is_none());
    assert_eq!(lot.unpark_count(1), 0);
    assert_eq!(lot.unpark_count(100), 0);
    assert_eq!(lot.unpark_all(), 0);

    // unpark_count wakes the longest-waiting ones.
    record.borrow_mut().clear();
    trio::open_nursery(async |n| {
        for i in 0..3 {
            n.start_soon(waiter(i))?;
            wait_all_tasks_blocked().await?;
        }
        assert_eq!(lot.unpark_count(2), 2);
        wait_all_tasks_blocked().await?;
        let rec = record.borrow().clone();
        assert_eq!(rec[..3], ["sleep 0", "sleep 1", "sleep 2"]);
        let mut woke = rec[3..].to_vec();
        woke.sort();
        assert_eq!(woke, ["wake 0", "wake 1"]);
        assert_eq!(lot.len(), 1);
        assert_eq!(lot.unpark_all(), 1);
        Ok(())
    })
    .await?;
    Ok(())
}

#[trio::test]
async fn parking_lot_unpark_returns_the_woken_task() -> trio::Result<()> {
    let lot: ParkingLot = ParkingLot::new();
    let tasks = RefCell::new(Vec::new());
    let (lot, t) = (&lot, &tasks);
    trio::open_nursery(async |n| {
        for _ in 0..2 {
            n.start_soon(async move {
                t.borrow_mut().push(current_task());
                lot.park().await
            })?;
            wait_all_tasks_blocked().await?;
        }
        let first = lot.unpark().expect("a task was parked");
        let second = lot.unpark().expect("a task was parked");
        assert_eq!(first, tasks.borrow()[0]);
        assert_eq!(second, tasks.borrow()[1]);
        Ok(())
    })
    .await?;
    Ok(())
}

#[trio::test]
async fn parking_lot_unpark_with_hands_values_in_fifo_order() -> trio::Result<()> {
    let lot: ParkingLot<String> = ParkingLot::new();
    let got = RefCell::new(Vec::new());
    let (lot, g) = (&lot, &got);
    // No one waiting: the value comes back.
    assert_eq!(
        lot.unpark_with("lost?".to_string()),
        Err("lost?".to_string())
    );
    trio::open_nursery(async |n| {
        for i in 0..3 {
            n.start_soon(async move {
                let v = lot.park().await?;
                g.borrow_mut().push((i, v));
                Ok(())
            })?;
            wait_all_tasks_blocked().await?;
        }
        for v in ["a", "b", "c"] {
            assert!(lot.unpark_with(v.to_string()).is_ok());
        }
        assert_eq!(lot.unpark_with("d".to_string()), Err("d".to_string()));
        Ok(())
    })
    .await?;
    let mut got = got.into_inner();
    got.sort();
    assert_eq!(
        got,
        [
            (0, "a".to_string()),
            (1, "b".to_string()),
            (2, "c".to_string())
        ]
    );
    Ok(())
}

/// Trio's `cancellable_waiter`: parks inside `scope`, recording what happened.
async fn cancellable_waiter(
    name: usize,
    lot: &ParkingLot,
    scope: &CancelScope,
    record: &RefCell<Vec<String>>,
) -> trio::Result<()> {
    let r = scope
        .run(async {
            record.borrow_mut().push(format!("sleep {name}"));
            lot.park().await
        })
        .await?;
    record.borrow_mut().push(match r {
        Some(()) => format!("wake {name}"),
        None => format!("cancelled {name}"),
    });
    Ok(())
}

/// Starts one `cancellable_waiter` per scope (named 1, 2, …) in `lot`, each parked
/// before the next starts, so they queue in that order.
async fn park_waiters<'a>(
    n: &trio::Nursery<'a>,
    lot: &'a ParkingLot,
    scopes: &'a [CancelScope],
    record: &'a RefCell<Vec<String>>,
) -> trio::Result<()> {
    for (i, scope) in scopes.iter().enumerate() {
        n.start_soon(cancellable_waiter(i + 1, lot, scope, record))?;
        wait_all_tasks_blocked().await?;
    }
    Ok(())
}

#[trio::test]
async fn parking_lot_cancel_removes_the_waiter() -> trio::Result<()> {
    // test_parking_lot_cancel
    let lot: ParkingLot = ParkingLot::new();
    let scopes = [CancelScope::new(), CancelScope::new(), CancelScope::new()];
    let record = RefCell::new(Vec::new());
    let (l, s, r) = (&lot, &scopes, &record);
    trio::open_nursery(async |n| {
        park_waiters(n, l, s, r).await?;
        assert_eq!(record.borrow().len(), 3);
        scopes[1].cancel();
        wait_all_tasks_blocked().await?;
        assert_eq!(record.borrow().len(), 4);
        assert_eq!(lot.len(), 2);
        assert_eq!(lot.unpark_all(), 2);
        wait_all_tasks_blocked().await?;
        assert_eq!(record.borrow().len(), 6);
        Ok(())
    })
    .await?;
    let rec = record.into_inner();
    assert_eq!(rec[..4], ["sleep 1", "sleep 2", "sleep 3", "cancelled 2"]);
    let mut woke = rec[4..].to_vec();
    woke.sort();
    assert_eq!(woke, ["wake 1", "wake 3"]);
    Ok(())
}

#[trio::test]
async fn parking_lot_cancelled_waiter_loses_nothing() -> trio::Result<()> {
    // A cancelled park received nothing: the next unpark_with goes to the next
    // waiter, or comes back if there is none.
    let lot: ParkingLot<u32> = ParkingLot::new();
    let scope = CancelScope::new();
    let got = RefCell::new(Vec::new());
    let (l, s, g) = (&lot, &scope, &got);
    trio::open_nursery(async |n| {
        n.start_soon(async move {
            let r = s.run(l.park()).await?;
            g.borrow_mut().push(("first", r));
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        n.start_soon(async move {
            let v = l.park().await?;
            g.borrow_mut().push(("second", Some(v)));
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        scope.cancel();
        wait_all_tasks_blocked().await?;
        assert_eq!(lot.len(), 1);
        assert!(lot.unpark_with(7).is_ok());
        assert_eq!(lot.unpark_with(8), Err(8));
        Ok(())
    })
    .await?;
    assert_eq!(got.into_inner(), [("first", None), ("second", Some(7))]);
    Ok(())
}

#[trio::test]
async fn parking_lot_unpark_wins_over_a_later_cancel() -> trio::Result<()> {
    // Unparked first, cancelled before it ran: the park did happen, so the value is
    // delivered (Trio: the task was rescheduled before the cancel arrived).
    let lot: ParkingLot<u32> = ParkingLot::new();
    let scope = CancelScope::new();
    let got = RefCell::new(None);
    let (l, s, g) = (&lot, &scope, &got);
    trio::open_nursery(async |n| {
        n.start_soon(async move {
            let r = s.run(l.park()).await?;
            *g.borrow_mut() = Some(r);
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        assert!(lot.unpark_with(42).is_ok());
        scope.cancel();
        Ok(())
    })
    .await?;
    assert_eq!(got.into_inner(), Some(Some(42)));
    assert!(!scope.cancelled_caught());
    Ok(())
}

#[trio::test]
async fn parking_lot_park_when_already_cancelled_does_not_queue() -> trio::Result<()> {
    let lot: ParkingLot = ParkingLot::new();
    let scope = CancelScope::new();
    scope.cancel();
    let r = scope
        .run(async {
            let r = lot.park().await;
            assert_eq!(lot.len(), 0);
            r
        })
        .await?;
    assert_eq!(r, None);
    assert!(lot.is_empty());
    Ok(())
}

#[trio::test]
async fn parking_lot_dropping_a_park_leaves_the_queue() -> trio::Result<()> {
    use std::future::Future;
    use std::pin::Pin;
    use std::task::Poll;
    let lot: ParkingLot<u8> = ParkingLot::new();
    let mut park = lot.park();
    std::future::poll_fn(|cx| {
        assert!(Pin::new(&mut park).poll(cx).is_pending());
        Poll::Ready(())
    })
    .await;
    assert_eq!(lot.len(), 1);
    drop(park);
    assert_eq!(lot.len(), 0);
    assert_eq!(lot.unpark_with(1), Err(1));
    Ok(())
}

#[trio::test]
async fn parking_lot_repark() -> trio::Result<()> {
    // test_parking_lot_repark
    let lot1: ParkingLot = ParkingLot::new();
    let lot2: ParkingLot = ParkingLot::new();
    let scopes = [CancelScope::new(), CancelScope::new(), CancelScope::new()];
    let record = RefCell::new(Vec::new());
    let (l1, s, r) = (&lot1, &scopes, &record);
    trio::open_nursery(async |n| {
        park_waiters(n, l1, s, r).await?;
        assert_eq!(record.borrow().len(), 3);
        assert_eq!(lot1.len(), 3);
        assert_eq!(lot1.repark(&lot2, 1), 1);
        assert_eq!(lot1.len(), 2);
        assert_eq!(lot2.len(), 1);
        assert_eq!(lot2.unpark_all(), 1);
        wait_all_tasks_blocked().await?;
        assert_eq!(
            *record.borrow(),
            ["sleep 1", "sleep 2", "sleep 3", "wake 1"]
        );

        assert_eq!(lot1.repark_all(&lot2), 2);
        assert_eq!(lot1.len(), 0);
        assert_eq!(lot2.len(), 2);

        // A reparked waiter that is cancelled leaves its new lot.
        scopes[1].cancel();
        wait_all_tasks_blocked().await?;
        assert_eq!(lot2.len(), 1);
        assert_eq!(
            *record.borrow(),
            ["sleep 1", "sleep 2", "sleep 3", "wake 1", "cancelled 2"]
        );

        assert_eq!(lot2.unpark_all(), 1);
        wait_all_tasks_blocked().await?;
        assert_eq!(
            *record.borrow(),
            [
                "sleep 1",
                "sleep 2",
                "sleep 3",
                "wake 1",
                "cancelled 2",
                "wake 3"
            ]
        );
        Ok(())
    })
    .await?;
    Ok(())
}

#[trio::test]
async fn parking_lot_repark_with_count_keeps_fifo_order() -> trio::Result<()> {
    // test_parking_lot_repark_with_count
    let lot1: ParkingLot = ParkingLot::new();
    let lot2: ParkingLot = ParkingLot::new();
    let scopes = [CancelScope::new(), CancelScope::new(), CancelScope::new()];
    let record = RefCell::new(Vec::new());
    let (l1, s, r) = (&lot1, &scopes, &record);
    trio::open_nursery(async |n| {
        park_waiters(n, l1, s, r).await?;
        assert_eq!(lot1.len(), 3);
        assert_eq!(lot2.len(), 0);
        assert_eq!(lot1.repark(&lot2, 2), 2);
        assert_eq!(lot1.len(), 1);
        assert_eq!(lot2.len(), 2);
        while !lot2.is_empty() {
            lot2.unpark();
            wait_all_tasks_blocked().await?;
        }
        assert_eq!(
            *record.borrow(),
            ["sleep 1", "sleep 2", "sleep 3", "wake 1", "wake 2"]
        );
        // Reparking more than there are moves what there is.
        assert_eq!(lot1.repark(&lot2, 10), 1);
        assert_eq!(lot2.unpark_all(), 1);
        Ok(())
    })
    .await?;
    Ok(())
}

#[trio::test]
async fn parking_lot_break_lot() -> trio::Result<()> {
    // test_parking_lot_breaker_basic / test_parking_lot_break_parking_tasks: parked
    // tasks and every later park get BrokenResource.
    let lot: ParkingLot<u8> = ParkingLot::new();
    let errors = RefCell::new(Vec::new());
    let (l, e) = (&lot, &errors);
    trio::open_nursery(async |n| {
        for _ in 0..2 {
            n.start_soon(async move {
                let err = l.park().await.unwrap_err();
                e.borrow_mut().push(err.kind());
                Ok(())
            })?;
        }
        wait_all_tasks_blocked().await?;
        assert_eq!(lot.len(), 2);
        assert!(!lot.is_broken());
        lot.break_lot();
        assert!(lot.is_broken());
        assert_eq!(lot.len(), 0);
        Ok(())
    })
    .await?;
    assert_eq!(
        errors.into_inner(),
        [ErrorKind::BrokenResource, ErrorKind::BrokenResource]
    );
    assert_eq!(
        lot.park().await.unwrap_err().kind(),
        ErrorKind::BrokenResource
    );
    // Breaking again is fine; unparking a broken lot finds nobody.
    lot.break_lot();
    assert_eq!(lot.unpark_with(1), Err(1));
    Ok(())
}

// ---- RunVar ---------------------------------------------------------------------

static T1: RunVar<String> = RunVar::new("test1");
static T2: RunVar<String> = RunVar::with_default("test2", || "catfish".to_string());

#[test]
fn runvar_smoketest() {
    // test_runvar_smoketest: values are per run; a second run starts fresh.
    builder()
        .build()
        .run(async {
            assert_eq!(T1.get().unwrap_err().kind(), ErrorKind::Usage);
            let _ = T1.set("swordfish".to_string())?;
            assert_eq!(T1.get()?, "swordfish");
            assert_eq!(T2.get()?, "catfish");
            let _ = T2.set("goldfish".to_string())?;
            assert_eq!(T2.get()?, "goldfish");
            T2.with(|v| v.push('!'))?;
            assert_eq!(T2.get()?, "goldfish!");
            Ok::<_, Error>(())
        })
        .unwrap();
    builder()
        .build()
        .run(async {
            assert_eq!(T1.get().unwrap_err().kind(), ErrorKind::Usage);
            assert_eq!(T2.get()?, "catfish");
            Ok::<_, Error>(())
        })
        .unwrap();
}

#[test]
fn runvar_resetting() {
    // test_runvar_resetting
    static R1: RunVar<String> = RunVar::new("r1");
    static R2: RunVar<String> = RunVar::with_default("r2", || "dogfish".to_string());
    static R3: RunVar<String> = RunVar::new("r3");
    builder()
        .build()
        .run(async {
            let token = R1.set("moonfish".to_string())?;
            assert_eq!(R1.get()?, "moonfish");
            R1.reset(token)?;
            assert_eq!(R1.get().unwrap_err().kind(), ErrorKind::Usage);

            let token2 = R2.set("catdogfish".to_string())?;
            assert_eq!(R2.get()?, "catdogfish");
            R2.reset(token2)?;
            assert_eq!(R2.get()?, "dogfish");

            // Nested sets unwind in order.
            let a = R2.set("a".to_string())?;
            let b = R2.set("b".to_string())?;
            assert_eq!(R2.get()?, "b");
            R2.reset(b)?;
            assert_eq!(R2.get()?, "a");
            R2.reset(a)?;
            assert_eq!(R2.get()?, "dogfish");

            // A token is for its own variable only.
            let token3 = R3.set("basculin".to_string())?;
            assert_eq!(R3.get()?, "basculin");
            assert_eq!(
                R1.reset(token3).unwrap_err().kind(),
                ErrorKind::InvalidInput
            );
            assert_eq!(R3.get()?, "basculin");
            Ok::<_, Error>(())
        })
        .unwrap();
}

#[test]
fn runvar_is_shared_by_every_task_of_the_run() {
    // test_runvar_sync
    static V: RunVar<String> = RunVar::new("shared");
    builder()
        .build()
        .run(async {
            trio::open_nursery(async |n| {
                let token = V.set("cod".to_string())?;
                assert_eq!(V.get()?, "cod");
                n.start_soon(async {
                    let _ = V.set("plaice".to_string())?;
                    assert_eq!(V.get()?, "plaice");
                    Ok(())
                })?;
                wait_all_tasks_blocked().await?;
                assert_eq!(V.get()?, "plaice");
                n.start_soon(async move {
                    V.reset(token)?;
                    assert_eq!(V.get().unwrap_err().kind(), ErrorKind::Usage);
                    let _ = V.set("haddock".to_string())?;
                    Ok(())
                })?;
                wait_all_tasks_blocked().await?;
                assert_eq!(V.get()?, "haddock");
                Ok(())
            })
            .await
        })
        .unwrap();
}

#[test]
fn runvar_outside_a_run_fails() {
    // test_accessing_runvar_outside_run_call_fails
    static V: RunVar<u32> = RunVar::with_default("outside", || 1);
    assert_eq!(V.set(5).unwrap_err().kind(), ErrorKind::Usage);
    assert_eq!(V.get().unwrap_err().kind(), ErrorKind::Usage);
    let token = builder()
        .build()
        .run(async { Ok::<_, Error>((V.get()?, V.set(2)?)) })
        .unwrap();
    assert_eq!(token.0, 1);
    assert_eq!(V.reset(token.1).unwrap_err().kind(), ErrorKind::Usage);
}

#[test]
fn runvar_values_are_per_run_even_on_concurrent_runs() {
    static V: RunVar<u32> = RunVar::with_default("per-run", || 0);
    let other = std::thread::spawn(|| {
        builder()
            .build()
            .run(async {
                let _ = V.set(2)?;
                V.get()
            })
            .unwrap()
    });
    let here = builder()
        .build()
        .run(async {
            let _ = V.set(1)?;
            trio::lowlevel::checkpoint().await?;
            V.get()
        })
        .unwrap();
    assert_eq!(here, 1);
    assert_eq!(other.join().unwrap(), 2);
}

// ---- TrioToken ------------------------------------------------------------------

#[test]
fn trio_token_identity() {
    let get = || {
        builder()
            .build()
            .run(async {
                let token = current_trio_token();
                assert_eq!(token, current_trio_token());
                Ok::<_, Error>(token)
            })
            .unwrap()
    };
    let t1 = get();
    let t2 = get();
    assert_ne!(t1, t2);
}

#[trio::test]
async fn run_sync_soon_runs_later_on_the_loop() -> trio::Result<()> {
    // test_TrioToken_run_sync_soon_basic + _FIFO
    let record = Arc::new(Mutex::new(Vec::new()));
    let token = current_trio_token();
    let r = record.clone();
    token.run_sync_soon(move || r.lock().unwrap().push(("cb", 1)))?;
    assert!(record.lock().unwrap().is_empty());
    wait_all_tasks_blocked().await?;
    assert_eq!(*record.lock().unwrap(), [("cb", 1)]);

    let fifo = Arc::new(Mutex::new(Vec::new()));
    for i in 0..100 {
        let f = fifo.clone();
        token.run_sync_soon(move || f.lock().unwrap().push(i))?;
    }
    wait_all_tasks_blocked().await?;
    assert_eq!(*fifo.lock().unwrap(), (0..100).collect::<Vec<_>>());
    Ok(())
}

thread_local! {
    static FROM_THREAD: ParkingLot<std::thread::ThreadId> = ParkingLot::new();
}

/// Tells another thread (once) that the loop is about to block in its I/O wait.
struct SignalIoWait(RefCell<Option<mpsc::Sender<()>>>);

impl Instrument for SignalIoWait {
    fn before_io_wait(&self, _timeout: Duration) {
        if let Some(tx) = self.0.borrow_mut().take() {
            tx.send(()).unwrap();
        }
    }
}

#[test]
fn run_sync_soon_from_another_thread_wakes_the_blocked_loop() {
    let (tx, rx) = mpsc::channel();
    let rt = builder()
        .instrument(Rc::new(SignalIoWait(RefCell::new(Some(tx)))))
        .build();
    let real_start = std::time::Instant::now();
    let ran_on = rt
        .run(async {
            let token = current_trio_token();
            let helper = std::thread::spawn(move || {
                // Wait until the loop is blocked in epoll, then call in.
                rx.recv().unwrap();
                token
                    .run_sync_soon(|| {
                        // Runs on the loop thread: the thread-local lot is the one
                        // the main task parks in.
                        FROM_THREAD.with(|lot| {
                            lot.unpark_with(std::thread::current().id()).unwrap();
                        });
                    })
                    .unwrap();
            });
            // A generous real-time guard: without the wake-up, this would fail.
            let ran_on = trio::fail_after(secs(30), FROM_THREAD.with(|lot| lot.park())).await?;
            helper.join().unwrap();
            Ok::<_, Error>(ran_on)
        })
        .unwrap();
    assert_eq!(ran_on, std::thread::current().id());
    assert!(real_start.elapsed() < secs(10));
}

#[test]
fn run_sync_soon_after_the_run_is_run_finished() {
    // test_TrioToken_run_sync_soon_too_late
    let token = builder()
        .build()
        .run(async { Ok::<_, Error>(current_trio_token()) })
        .unwrap();
    let ran = Arc::new(Mutex::new(false));
    let r = ran.clone();
    let e = token
        .run_sync_soon(move || *r.lock().unwrap() = true)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::RunFinished);
    assert!(!*ran.lock().unwrap());
    // From another thread too.
    let e = std::thread::spawn(move || token.run_sync_soon(|| ()).unwrap_err().kind())
        .join()
        .unwrap();
    assert_eq!(e, ErrorKind::RunFinished);
}

#[test]
fn run_sync_soon_queued_before_main_crashes_still_runs() {
    // test_TrioToken_run_sync_soon_after_main_crash: any call that did not fail with
    // RunFinished is processed before run() returns.
    let record = Arc::new(Mutex::new(Vec::new()));
    let r = record.clone();
    let e = builder()
        .build()
        .run(async move {
            let token = current_trio_token();
            token.run_sync_soon(move || r.lock().unwrap().push("sync-cb"))?;
            Err::<(), _>(Error::new(ErrorKind::Other, "error text"))
        })
        .unwrap_err();
    assert_eq!(e.to_string(), "error text");
    assert_eq!(*record.lock().unwrap(), ["sync-cb"]);
}

#[test]
fn run_sync_soon_callback_panic_is_an_internal_error() {
    // test_TrioToken_run_sync_soon_crashes: the crash cancels everything, later
    // callbacks still run, and run() reports an internal error.
    let record = Arc::new(Mutex::new(Vec::new()));
    let r1 = record.clone();
    let r2 = record.clone();
    let e = builder()
        .build()
        .run(async move {
            let token = current_trio_token();
            token.run_sync_soon(|| panic!("nope"))?;
            token.run_sync_soon(move || r1.lock().unwrap().push("2nd run_sync_soon ran"))?;
            let res = trio::sleep_forever().await;
            if res.as_ref().is_err_and(|e| e.is_cancelled()) {
                r2.lock().unwrap().push("cancelled!");
            }
            res
        })
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Internal);
    let mut rec = record.lock().unwrap().clone();
    rec.sort();
    assert_eq!(rec, ["2nd run_sync_soon ran", "cancelled!"]);
}

// ---- system tasks, the root task, nested runs -------------------------------------

#[trio::test]
async fn system_task_runs_outside_the_main_task_scopes() -> trio::Result<()> {
    // test_spawn_system_task
    let record = Rc::new(RefCell::new(Vec::new()));
    let scope = CancelScope::new();
    scope.cancel();
    let r = record.clone();
    let spawned = scope
        .run(async {
            // Spawned from inside a cancelled scope, it is not inside that scope.
            let t = spawn_system_task("sys", async move {
                r.borrow_mut().push("started");
                checkpoint().await?;
                r.borrow_mut().push("checkpointed");
                Ok(())
            })?;
            Ok::<_, Error>(t)
        })
        .await?
        .expect("spawning is not a checkpoint");
    assert_eq!(spawned.name(), "sys");
    wait_all_tasks_blocked().await?;
    assert_eq!(*record.borrow(), ["started", "checkpointed"]);
    assert!(!spawned.is_alive());
    Ok(())
}

#[test]
fn system_tasks_are_cancelled_when_main_finishes() {
    let record = Rc::new(RefCell::new(Vec::new()));
    let r = record.clone();
    let out = builder()
        .build()
        .run(async move {
            spawn_system_task("sleeper", async move {
                let res = trio::sleep_forever().await;
                let e = res.as_ref().unwrap_err();
                r.borrow_mut().push(e.cancelled().map(|c| c.source()));
                res
            })?;
            wait_all_tasks_blocked().await?;
            Ok::<_, Error>("main done")
        })
        .unwrap();
    assert_eq!(out, "main done");
    assert_eq!(*record.borrow(), [Some(CancelSource::Shutdown)]);
}

#[test]
fn run_waits_for_a_shielded_system_task() {
    let clock = MockClock::new();
    clock.set_autojump_threshold(Duration::ZERO);
    let record = Rc::new(RefCell::new(Vec::new()));
    let r = record.clone();
    builder()
        .clock(clock.clone())
        .build()
        .run(async move {
            spawn_system_task("cleanup", async move {
                let shield = CancelScope::new().shielded();
                shield.run(trio::sleep(secs(5))).await?;
                r.borrow_mut().push(trio::current_time());
                Ok(())
            })?;
            Ok::<_, Error>(())
        })
        .unwrap();
    assert_eq!(*record.borrow(), [Instant::ZERO + secs(5)]);
}

#[test]
fn failing_system_task_is_an_internal_error() {
    // test_system_task_crash
    let main_saw = Rc::new(Cell::new(None));
    let m = main_saw.clone();
    let e = builder()
        .build()
        .run(async move {
            spawn_system_task("crasher", async {
                Err(Error::new(ErrorKind::Other, "boom"))
            })?;
            let r = trio::sleep_forever().await;
            m.set(r.as_ref().err().map(|e| e.kind()));
            r
        })
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Internal);
    assert!(format!("{e:?}").contains("boom"), "{e:?}");
    // The crash cancelled the main task.
    assert_eq!(main_saw.get(), Some(ErrorKind::Cancelled));
}

#[test]
fn panicking_system_task_is_an_internal_error() {
    let e = builder()
        .build()
        .run(async {
            spawn_system_task("panicker", async { panic!("kaboom") })?;
            trio::sleep_forever().await
        })
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Internal);
    assert!(format!("{e:?}").contains("kaboom"), "{e:?}");
}

#[test]
fn system_task_failing_after_main_cancellation_is_still_reported() {
    // test_system_task_crash_plus_Cancelled: a system task that turns the shutdown
    // cancellation into an error is still an internal error.
    let e = builder()
        .build()
        .run(async {
            spawn_system_task("crasher", async {
                let _ = trio::sleep_forever().await;
                Err(Error::new(ErrorKind::Other, "value error"))
            })?;
            Ok::<_, Error>(())
        })
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Internal);
}

#[trio::test]
async fn root_task_and_task_tree() -> trio::Result<()> {
    // test_root_task / test_current_task
    let root = current_root_task();
    assert!(root.parent_nursery().is_none());
    let me = current_task();
    let system = me.parent_nursery().expect("main is in the system nursery");
    assert_eq!(system.parent_task(), Some(root.clone()));
    assert!(root.child_nurseries().contains(&system));
    assert!(system.child_tasks().contains(&me));

    let parent = me.clone();
    trio::open_nursery(async |n| {
        n.start_soon(async move {
            let p = current_task().parent_nursery().unwrap().parent_task();
            assert_eq!(p, Some(parent));
            Ok(())
        })
    })
    .await?;

    let sys = spawn_system_task("sys", async { Ok(()) })?;
    assert_eq!(sys.parent_nursery(), Some(system));
    Ok(())
}

#[test]
fn run_inside_run_is_nested_run() {
    // test_run_nesting
    builder()
        .build()
        .run(async {
            let e = trio::run(async { Ok(()) }).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::NestedRun);
            let e = builder()
                .build()
                .run(async { Ok::<_, Error>(()) })
                .unwrap_err();
            assert_eq!(e.kind(), ErrorKind::NestedRun);
            // The outer run is unharmed.
            checkpoint().await?;
            Ok::<_, Error>(())
        })
        .unwrap();
    // And after it, runs work again.
    assert_eq!(trio::run(async { Ok(5) }).unwrap(), 5);
}

#[test]
fn current_seed_is_the_builder_seed() {
    let s = builder()
        .seed(1234)
        .build()
        .run(async { Ok::<_, Error>(current_seed()) })
        .unwrap();
    assert_eq!(s, 1234);
}

// ---- statistics -----------------------------------------------------------------

#[cfg(unix)]
#[trio::test(mock_clock)]
async fn current_statistics_fields() -> trio::Result<()> {
    // test_current_statistics
    wait_all_tasks_blocked().await?;
    let stats = current_statistics();
    assert_eq!(stats.tasks_living, 1); // the main task
    assert_eq!(stats.tasks_runnable, 0);
    assert_eq!(stats.run_sync_soon_queue_size, 0);
    assert_eq!(stats.seconds_to_next_deadline, None);
    assert_eq!((stats.io_waiting_read, stats.io_waiting_write), (0, 0));

    let (a, _b) = UnixStream::pair()?;
    let fd = a.as_raw_fd();
    trio::open_nursery(async |n| {
        n.start_soon(trio::sleep_forever())?;
        n.start_soon(async move { wait_readable(fd).await })?;
        wait_all_tasks_blocked().await?;
        let token = current_trio_token();
        token.run_sync_soon(|| ())?;
        token.run_sync_soon(|| ())?;
        let stats = current_statistics();
        assert_eq!(stats.tasks_living, 3);
        assert_eq!(stats.tasks_runnable, 0);
        assert_eq!(stats.run_sync_soon_queue_size, 2);
        assert_eq!(stats.io_waiting_read, 1);
        assert_eq!(stats.io_waiting_write, 0);
        n.cancel_scope().cancel();
        Ok(())
    })
    .await?;
    checkpoint().await?;
    let stats = current_statistics();
    assert_eq!(stats.tasks_living, 1);
    assert_eq!(stats.run_sync_soon_queue_size, 0);
    assert_eq!(stats.io_waiting_read, 0);

    let scope = CancelScope::with_deadline(trio::current_time() + secs(5));
    scope
        .run(async {
            assert_eq!(current_statistics().seconds_to_next_deadline, Some(secs(5)));
            Ok::<_, Error>(())
        })
        .await?;
    assert_eq!(current_statistics().seconds_to_next_deadline, None);

    // A root task (here a system task) that becomes runnable is counted.
    let lot: Rc<ParkingLot> = Rc::new(ParkingLot::new());
    let l = lot.clone();
    spawn_system_task("parked", async move { l.park().await })?;
    wait_all_tasks_blocked().await?;
    assert_eq!(current_statistics().tasks_living, 2);
    assert_eq!(current_statistics().tasks_runnable, 0);
    lot.unpark();
    assert_eq!(current_statistics().tasks_runnable, 1);
    wait_all_tasks_blocked().await?;
    assert_eq!(current_statistics().tasks_living, 1);

    // So is a task nested in a nursery inside the (running) main task.
    let lot2: ParkingLot = ParkingLot::new();
    let l2 = &lot2;
    trio::open_nursery(async |n| {
        n.start_soon(async move { l2.park().await })?;
        n.start_soon(async move { l2.park().await })?;
        wait_all_tasks_blocked().await?;
        assert_eq!(current_statistics().tasks_runnable, 0);
        l2.unpark();
        assert_eq!(current_statistics().tasks_runnable, 1);
        l2.unpark();
        assert_eq!(current_statistics().tasks_runnable, 2);
        Ok(())
    })
    .await?;
    assert_eq!(current_statistics().tasks_runnable, 0);
    Ok(())
}

// ---- I/O readiness --------------------------------------------------------------

#[cfg(unix)]
fn socket_pair() -> std::io::Result<(UnixStream, UnixStream)> {
    let (a, b) = UnixStream::pair()?;
    a.set_nonblocking(true)?;
    b.set_nonblocking(true)?;
    Ok((a, b))
}

#[cfg(unix)]
#[cfg_attr(miri, ignore = "uses a socketpair, whose ioctl Miri does not support")]
#[trio::test]
async fn wait_writable_on_a_fresh_socket_returns() -> trio::Result<()> {
    let (a, _b) = socket_pair()?;
    wait_writable(a.as_raw_fd()).await?;
    // Level-triggered: again.
    wait_writable(a.as_raw_fd()).await?;
    Ok(())
}

#[cfg(unix)]
#[cfg_attr(miri, ignore = "uses a socketpair, whose ioctl Miri does not support")]
#[trio::test]
async fn wait_readable_returns_after_the_peer_writes() -> trio::Result<()> {
    let (mut a, mut b) = socket_pair()?;
    let fd = a.as_raw_fd();
    let done = Cell::new(false);
    let d = &done;
    trio::open_nursery(async |n| {
        n.start_soon(async move {
            wait_readable(fd).await?;
            d.set(true);
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        assert!(!done.get());
        assert_eq!(current_statistics().io_waiting_read, 1);
        b.write_all(b"x")?;
        wait_all_tasks_blocked().await?;
        assert!(done.get());
        assert_eq!(current_statistics().io_waiting_read, 0);
        Ok(())
    })
    .await?;
    let mut buf = [0u8; 8];
    assert_eq!(a.read(&mut buf)?, 1);
    assert_eq!(&buf[..1], b"x");
    Ok(())
}

#[cfg(unix)]
#[cfg_attr(miri, ignore = "uses a socketpair, whose ioctl Miri does not support")]
#[trio::test]
async fn readiness_is_level_triggered() -> trio::Result<()> {
    let (mut a, mut b) = socket_pair()?;
    b.write_all(b"hello")?;
    // Data is there: the wait returns every time until it is read.
    for _ in 0..3 {
        wait_readable(a.as_raw_fd()).await?;
    }
    let mut buf = [0u8; 16];
    assert_eq!(a.read(&mut buf)?, 5);
    // Drained: now it blocks (a timeout shows it).
    let r = trio::move_on_after(Duration::from_millis(20), wait_readable(a.as_raw_fd())).await?;
    assert_eq!(r, None);
    Ok(())
}

#[cfg(unix)]
#[cfg_attr(miri, ignore = "uses a socketpair, whose ioctl Miri does not support")]
#[trio::test]
async fn two_readers_on_one_fd_is_busy() -> trio::Result<()> {
    let (a, _b) = socket_pair()?;
    let fd = a.as_raw_fd();
    trio::open_nursery(async |n| {
        n.start_soon(async move { wait_readable(fd).await })?;
        wait_all_tasks_blocked().await?;
        let e = wait_readable(fd).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BusyResource);
        // The other direction is independent.
        wait_writable(fd).await?;
        // The first reader is still waiting.
        assert_eq!(current_statistics().io_waiting_read, 1);
        n.cancel_scope().cancel();
        Ok(())
    })
    .await?;
    Ok(())
}

#[cfg(unix)]
#[cfg_attr(miri, ignore = "uses a socketpair, whose ioctl Miri does not support")]
#[trio::test]
async fn notify_closing_wakes_waiters_with_closed_resource() -> trio::Result<()> {
    let (a, _b) = socket_pair()?;
    let fd = a.as_raw_fd();
    let got = RefCell::new(None);
    let g = &got;
    trio::open_nursery(async |n| {
        n.start_soon(async move {
            let e = wait_readable(fd).await.unwrap_err();
            *g.borrow_mut() = Some(e.kind());
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        notify_closing(fd);
        Ok(())
    })
    .await?;
    assert_eq!(got.into_inner(), Some(ErrorKind::ClosedResource));
    assert_eq!(current_statistics().io_waiting_read, 0);
    // No waiter: nothing happens.
    notify_closing(fd);
    drop(a);
    Ok(())
}

#[cfg(unix)]
#[cfg_attr(miri, ignore = "uses a socketpair, whose ioctl Miri does not support")]
#[trio::test]
async fn cancelled_wait_unregisters() -> trio::Result<()> {
    let (a, mut b) = socket_pair()?;
    let fd = a.as_raw_fd();
    let scope = CancelScope::new();
    let outcome = RefCell::new(None);
    let (s, o) = (&scope, &outcome);
    trio::open_nursery(async |n| {
        n.start_soon(async move {
            *o.borrow_mut() = Some(s.run(wait_readable(fd)).await?);
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        assert_eq!(current_statistics().io_waiting_read, 1);
        scope.cancel();
        wait_all_tasks_blocked().await?;
        assert_eq!(current_statistics().io_waiting_read, 0);
        Ok(())
    })
    .await?;
    assert_eq!(outcome.into_inner(), Some(None));
    // Nothing stayed registered: a new wait is not Busy, and works.
    b.write_all(b"!")?;
    wait_readable(fd).await?;
    Ok(())
}

#[cfg(unix)]
#[cfg_attr(miri, ignore = "uses a socketpair, whose ioctl Miri does not support")]
#[trio::test(autojump)]
async fn io_waits_count_as_blocked_for_autojump() -> trio::Result<()> {
    let (a, _b) = socket_pair()?;
    let r = trio::move_on_after(secs(10), wait_readable(a.as_raw_fd())).await?;
    assert_eq!(r, None);
    assert_eq!(trio::current_time(), Instant::ZERO + secs(10));
    Ok(())
}

#[cfg(unix)]
#[trio::test]
async fn waiting_on_a_bad_fd_is_an_io_error() -> trio::Result<()> {
    let e = wait_readable(-1).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io);
    Ok(())
}

// ---- seeded scheduling ------------------------------------------------------------

/// Ten tasks that each record their number after each of four checkpoints.
fn scheduler_trace(b: trio::Builder) -> Vec<usize> {
    let trace = RefCell::new(Vec::new());
    let t = &trace;
    b.build()
        .run(async {
            trio::open_nursery(async |n| {
                for i in 0..10 {
                    n.start_soon(async move {
                        for _ in 0..4 {
                            checkpoint().await?;
                            t.borrow_mut().push(i);
                        }
                        Ok(())
                    })?;
                }
                Ok(())
            })
            .await
        })
        .unwrap();
    trace.into_inner()
}

#[test]
fn same_seed_replays_the_same_interleaving() {
    // test_the_trio_scheduler_is_deterministic_if_seeded
    for seed in [0, 1, 42, u64::MAX] {
        let first = scheduler_trace(builder().seed(seed));
        assert_eq!(first.len(), 40);
        for _ in 0..3 {
            assert_eq!(scheduler_trace(builder().seed(seed)), first, "seed {seed}");
        }
    }
}

#[test]
fn different_seeds_give_different_interleavings() {
    // test_the_trio_scheduler_is_not_deterministic: with 10 tasks a batch has 10!
    // orders, so eight seeds giving one trace is practically impossible.
    let traces: std::collections::HashSet<Vec<usize>> = (1..=8)
        .map(|seed| scheduler_trace(builder().seed(seed)))
        .collect();
    assert!(traces.len() > 1);
    // Each trace is still made of batches in which every task runs once.
    for t in &traces {
        for batch in t.chunks(10) {
            let mut b = batch.to_vec();
            b.sort();
            assert_eq!(b, (0..10).collect::<Vec<_>>());
        }
    }
}

#[test]
fn deterministic_scheduling_is_fifo() {
    let fifo: Vec<usize> = (0..4).flat_map(|_| 0..10).collect();
    for seed in [3, 4] {
        assert_eq!(
            scheduler_trace(builder().seed(seed).deterministic(true)),
            fifo
        );
    }
}

// ---- regressions ------------------------------------------------------------------

static NESTED_A: RunVar<u32> = RunVar::with_default("nested_a", || 1);
static NESTED_B: RunVar<u32> = RunVar::with_default("nested_b", || NESTED_A.get().unwrap() + 1);

#[trio::test]
async fn run_var_closures_and_defaults_may_use_other_run_vars() -> trio::Result<()> {
    // The default of B reads A; the closure given to A.with reads B.
    let sum = NESTED_A.with(|a| *a + NESTED_B.get().unwrap())?;
    assert_eq!(sum, 3);
    NESTED_A.with(|a| *a = 10)?;
    assert_eq!(NESTED_A.get()?, 10);
    Ok(())
}

#[trio::test]
async fn dropping_a_parking_lot_breaks_it_for_its_waiters() -> trio::Result<()> {
    let lot: RefCell<Option<ParkingLot>> = RefCell::new(Some(ParkingLot::new()));
    let got: RefCell<Option<ErrorKind>> = RefCell::new(None);
    let (l, g) = (&lot, &got);
    trio::open_nursery(async |n| {
        let park = l.borrow().as_ref().unwrap().park();
        n.start_soon(async move {
            *g.borrow_mut() = Some(park.await.unwrap_err().kind());
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        drop(l.borrow_mut().take());
        Ok(())
    })
    .await?;
    assert_eq!(*got.borrow(), Some(ErrorKind::BrokenResource));
    Ok(())
}

/// A task's waker cloned on the loop thread is loop-local (no atomic count);
/// cloned, dropped or woken on another thread it must still work: the clone is a
/// shared waker, and the local ones are sent back to the loop to be dropped or
/// woken there. (Run under Miri to check the reference counting.)
#[test]
fn task_waker_cloned_dropped_and_woken_on_other_threads() {
    trio::run(async {
        let rounds = Cell::new(0);
        std::future::poll_fn(|cx| {
            rounds.set(rounds.get() + 1);
            match rounds.get() {
                1 => {
                    // Dropped elsewhere, and woken elsewhere by value.
                    let dropped = cx.waker().clone();
                    let woken = cx.waker().clone();
                    std::thread::spawn(move || {
                        drop(dropped);
                        woken.wake();
                    })
                    .join()
                    .unwrap();
                    std::task::Poll::Pending
                }
                2 => {
                    // Cloned elsewhere (a shared waker), woken by reference there.
                    let local = cx.waker().clone();
                    std::thread::spawn(move || {
                        let shared = local.clone();
                        drop(local);
                        shared.wake_by_ref();
                    })
                    .join()
                    .unwrap();
                    std::task::Poll::Pending
                }
                _ => std::task::Poll::Ready(()),
            }
        })
        .await;
        assert_eq!(rounds.get(), 3);
        Ok::<_, Error>(())
    })
    .unwrap();
}
