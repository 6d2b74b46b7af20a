// Ported from Python Trio's `trio/_core/_tests/test_mock_clock.py` (MockClock basics,
// rate, autojump and its interplay with `wait_all_tasks_blocked`) and the
// `wait_all_tasks_blocked` tests of `trio/_tests/test_testing.py` (busy tasks,
// cancellation, sleepers and the mock clock, cushion ordering).
//
// Python swaps the clock's real-time source for a fake; we cannot, so the tests that
// depend on real time (rate, autojump thresholds, cushions) use generous bounds.

use std::cell::{Cell, RefCell};
use std::time::Duration;

use std::rc::Rc;

use trio::lowlevel::{Instrument, ParkingLot, checkpoint};
use trio::testing::{MockClock, wait_all_tasks_blocked, wait_all_tasks_blocked_with};
use trio::{Clock, Instant, Runtime, current_time, sleep};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn ms(m: u64) -> Duration {
    Duration::from_millis(m)
}

fn at(s: u64) -> Instant {
    Instant::ZERO + secs(s)
}

/// Real time we allow for things that should take (almost) none.
const GENEROUS: Duration = Duration::from_secs(5);

fn run_with<F, T>(clock: &MockClock, main: F) -> trio::Result<T>
where
    F: std::future::Future<Output = trio::Result<T>>,
{
    Runtime::builder()
        .handle_ctrl_c(false)
        .clock(clock.clone())
        .build()
        .run(main)
}

#[test]
fn mock_clock_basics() {
    let c = MockClock::new();
    assert_eq!(c.rate(), 0.0);
    assert_eq!(c.autojump_threshold(), None);
    assert_eq!(c.current_time(), Instant::ZERO);
    assert!(!format!("{c:?}").is_empty());
    c.jump(Duration::from_millis(1200));
    assert_eq!(
        c.current_time(),
        Instant::ZERO + Duration::from_millis(1200)
    );
    // Frozen: time does not move by itself.
    assert_eq!(c.current_time(), c.current_time());

    let t = |ms: u64| Instant::ZERO + Duration::from_millis(ms);
    assert_eq!(c.deadline_to_sleep_time(t(1100)), Duration::ZERO);
    assert_eq!(c.deadline_to_sleep_time(t(1200)), Duration::ZERO);
    assert!(c.deadline_to_sleep_time(t(1300)) > secs(999_999));

    for bad in [-1.0, f64::NAN, f64::INFINITY] {
        let e = c.set_rate(bad).unwrap_err();
        assert_eq!(e.kind(), trio::ErrorKind::InvalidInput, "rate {bad}");
    }
    assert_eq!(c.rate(), 0.0);
    assert_eq!(c.current_time(), t(1200));

    // Changing the rate keeps the current time.
    c.set_rate(2.0).unwrap();
    assert_eq!(c.rate(), 2.0);
    let now = c.current_time();
    assert!(now >= t(1200) && now < t(1200) + 2 * GENEROUS, "{now:?}");
    // deadline_to_sleep_time divides by the rate: 1 virtual second = 0.5 real.
    let sleep = c.deadline_to_sleep_time(c.current_time() + secs(1));
    assert!(sleep <= ms(500) && sleep > ms(250), "{sleep:?}");
    assert_eq!(c.deadline_to_sleep_time(t(0)), Duration::ZERO);

    c.set_rate(0.5).unwrap();
    let sleep = c.deadline_to_sleep_time(c.current_time() + secs(1));
    assert!(sleep <= secs(2) && sleep > secs(1), "{sleep:?}");

    // Freezing again: the time stays where it was.
    c.set_rate(0.0).unwrap();
    let frozen = c.current_time();
    assert!(frozen >= t(1200));
    assert_eq!(c.current_time(), frozen);
    c.jump(ms(800));
    assert_eq!(c.current_time(), frozen + ms(800));
}

#[test]
fn clones_share_one_clock() {
    let a = MockClock::new();
    let b = a.clone();
    a.jump(secs(3));
    assert_eq!(b.current_time(), at(3));
    b.set_autojump_threshold(Duration::ZERO);
    assert_eq!(a.autojump_threshold(), Some(Duration::ZERO));
    a.disable_autojump();
    assert_eq!(b.autojump_threshold(), None);
}

#[test]
fn run_reads_the_mock_clock() {
    let clock = MockClock::new();
    let c = clock.clone();
    run_with(&clock, async move {
        // test_run.py test_current_time_with_mock_clock
        assert_eq!(current_time(), Instant::ZERO);
        assert_eq!(c.current_time(), current_time());
        c.jump(Duration::from_millis(3150));
        assert_eq!(current_time(), Instant::ZERO + Duration::from_millis(3150));
        assert_eq!(c.current_time(), current_time());
        Ok(())
    })
    .unwrap();
}

#[test]
fn rate_makes_virtual_time_follow_real_time() {
    // 1 virtual second at 10 virtual seconds per real second: about 100 ms of real time.
    let clock = MockClock::new();
    clock.set_rate(10.0).unwrap();
    let real = std::time::Instant::now();
    run_with(&clock, async {
        let start = current_time();
        sleep(secs(1)).await?;
        assert!(current_time() >= start + secs(1));
        Ok(())
    })
    .unwrap();
    let elapsed = real.elapsed();
    assert!(elapsed >= ms(99), "woke too early: {elapsed:?}");
    assert!(elapsed < GENEROUS, "took too long: {elapsed:?}");
}

#[trio::test(mock_clock)]
async fn jump_wakes_sleepers(clock: MockClock) -> trio::Result<()> {
    // test_testing.py test_wait_all_tasks_blocked_with_timeouts
    let record = RefCell::new(Vec::new());
    let r = &record;
    trio::open_nursery(async |n| {
        n.start_soon(async move {
            r.borrow_mut().push("tt start");
            sleep(secs(5)).await?;
            r.borrow_mut().push("tt finished");
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        assert_eq!(*record.borrow(), ["tt start"]);
        // Not far enough.
        clock.jump(secs(4));
        wait_all_tasks_blocked().await?;
        assert_eq!(*record.borrow(), ["tt start"]);
        clock.jump(secs(6));
        wait_all_tasks_blocked().await?;
        assert_eq!(*record.borrow(), ["tt start", "tt finished"]);
        Ok(())
    })
    .await?;
    assert_eq!(current_time(), at(10));
    Ok(())
}

#[trio::test(mock_clock)]
async fn autojump_sleeps_take_exact_virtual_and_no_real_time(clock: MockClock) -> trio::Result<()> {
    // test_mock_clock.py test_mock_clock_autojump
    assert_eq!(clock.autojump_threshold(), None);
    clock.set_autojump_threshold(Duration::ZERO);
    assert_eq!(clock.autojump_threshold(), Some(Duration::ZERO));

    let real_start = std::time::Instant::now();
    let mut virtual_start = current_time();
    for i in 0..10 {
        sleep(secs(10 * i)).await?;
        assert_eq!(current_time(), virtual_start + secs(10 * i));
        virtual_start = current_time();
    }
    assert_eq!(current_time(), at(450));
    assert!(real_start.elapsed() < GENEROUS);

    clock.set_autojump_threshold(ms(20));
    let t = current_time();
    // These wake up before the autojump threshold triggers: time does not change.
    wait_all_tasks_blocked().await?;
    assert_eq!(current_time(), t);
    wait_all_tasks_blocked_with(ms(10)).await?;
    assert_eq!(current_time(), t);

    // A huge threshold, then zero: the change takes effect at once (else the sleep
    // below would block for hours).
    clock.set_autojump_threshold(secs(10_000));
    wait_all_tasks_blocked().await?;
    clock.set_autojump_threshold(Duration::ZERO);
    let real_start = std::time::Instant::now();
    sleep(secs(100_000)).await?;
    assert_eq!(current_time(), t + secs(100_000));
    assert!(real_start.elapsed() < GENEROUS);
    Ok(())
}

#[trio::test(mock_clock)]
async fn autojump_of_another_clock_does_not_interfere(clock: MockClock) -> trio::Result<()> {
    // test_mock_clock.py test_mock_clock_autojump_interference
    clock.set_autojump_threshold(ms(20));
    let other = MockClock::new();
    // Not installed in this run: it must have no effect. If its 10 ms threshold were
    // in effect, the autojump would keep preempting the 15 ms cushion below.
    other.set_autojump_threshold(ms(10));
    wait_all_tasks_blocked_with(ms(15)).await?;
    // But the installed clock's 20 ms threshold does apply.
    let real_start = std::time::Instant::now();
    sleep(secs(100_000)).await?;
    assert_eq!(current_time(), at(100_000));
    assert!(real_start.elapsed() < GENEROUS);
    assert_eq!(other.current_time(), Instant::ZERO);
    Ok(())
}

#[test]
fn autojump_threshold_set_before_the_run_is_used() {
    // test_mock_clock.py test_mock_clock_autojump_preset
    let clock = MockClock::new();
    clock.set_autojump_threshold(ms(100));
    clock.set_autojump_threshold(ms(10));
    let real_start = std::time::Instant::now();
    run_with(&clock, sleep(secs(10_000))).unwrap();
    assert!(real_start.elapsed() < GENEROUS);
    assert_eq!(clock.current_time(), at(10_000));
}

thread_local! {
    static WAKE_MAIN: ParkingLot = ParkingLot::new();
}

/// Records the timeout of every I/O wait; with `wake`, also ends the wait at once by
/// queueing a callback (through the trio token) that unparks whoever waits on
/// `WAKE_MAIN`.
#[derive(Default)]
struct WakeOnIoWait {
    timeouts: RefCell<Vec<Duration>>,
    wake: bool,
}

impl Instrument for WakeOnIoWait {
    fn before_io_wait(&self, timeout: Duration) {
        self.timeouts.borrow_mut().push(timeout);
        if !self.wake {
            return;
        }
        trio::lowlevel::current_trio_token()
            .run_sync_soon(|| {
                WAKE_MAIN.with(|lot| lot.unpark());
            })
            .unwrap();
    }
}

#[test]
fn disabled_autojump_does_not_jump() {
    let clock = MockClock::new();
    clock.set_autojump_threshold(Duration::ZERO);
    clock.disable_autojump();
    let io_waits = Rc::new(WakeOnIoWait {
        wake: true,
        ..Default::default()
    });
    let rt = Runtime::builder()
        .handle_ctrl_c(false)
        .clock(clock.clone())
        .instrument(io_waits.clone())
        .build();
    let c = clock.clone();
    rt.run(async move {
        trio::open_nursery(async |n| {
            n.start_soon(async {
                sleep(secs(1)).await?;
                panic!("the frozen clock jumped");
            })?;
            // Every task is blocked now: with autojump on, the loop would jump the
            // clock; with it off, it blocks in an I/O wait with no end in sight
            // (ended here by the instrument's callback).
            WAKE_MAIN.with(|lot| lot.park()).await?;
            assert_eq!(c.current_time(), Instant::ZERO);
            n.cancel_scope().cancel();
            Ok(())
        })
        .await
    })
    .unwrap();
    let waits = io_waits.timeouts.borrow();
    assert!(!waits.is_empty());
    assert!(waits.iter().all(|t| *t >= secs(3600)), "{waits:?}");
    assert_eq!(clock.current_time(), Instant::ZERO);
}

#[test]
fn autojump_threshold_is_the_io_wait_timeout() {
    // The loop waits exactly one threshold before jumping.
    let clock = MockClock::new();
    clock.set_autojump_threshold(ms(5));
    let io_waits = Rc::new(WakeOnIoWait::default());
    let rt = Runtime::builder()
        .handle_ctrl_c(false)
        .clock(clock.clone())
        .instrument(io_waits.clone())
        .build();
    let real_start = std::time::Instant::now();
    rt.run(sleep(secs(3600))).unwrap();
    assert!(real_start.elapsed() >= ms(5));
    assert_eq!(clock.current_time(), at(3600));
    let waits = io_waits.timeouts.borrow();
    assert!(waits.contains(&ms(5)), "{waits:?}");
    assert!(waits.iter().all(|t| *t <= ms(5)), "{waits:?}");
}

#[trio::test(mock_clock)]
async fn autojump_waits_until_every_task_is_blocked(clock: MockClock) -> trio::Result<()> {
    clock.set_autojump_threshold(Duration::ZERO);
    let busy_done = Cell::new(false);
    let seen = Cell::new(None);
    let (busy, s) = (&busy_done, &seen);
    trio::open_nursery(async |n| {
        n.start_soon(async move {
            sleep(secs(1)).await?;
            s.set(Some((busy.get(), current_time())));
            Ok(())
        })?;
        n.start_soon(async move {
            for _ in 0..200 {
                checkpoint().await?;
                // No time passes while some task is runnable.
                assert_eq!(current_time(), Instant::ZERO);
            }
            busy.set(true);
            Ok(())
        })?;
        Ok(())
    })
    .await?;
    assert_eq!(seen.get(), Some((true, at(1))));
    Ok(())
}

#[trio::test(mock_clock)]
async fn autojump_threshold_is_real_idle_time(clock: MockClock) -> trio::Result<()> {
    // With a threshold of 50 ms, each jump needs 50 ms of real idleness.
    clock.set_autojump_threshold(ms(50));
    let real_start = std::time::Instant::now();
    sleep(secs(3600)).await?;
    let elapsed = real_start.elapsed();
    assert_eq!(current_time(), at(3600));
    assert!(
        elapsed >= ms(50),
        "jumped before the threshold: {elapsed:?}"
    );
    assert!(elapsed < GENEROUS, "{elapsed:?}");
    // Threshold zero: immediate.
    clock.set_autojump_threshold(Duration::ZERO);
    let real_start = std::time::Instant::now();
    for _ in 0..20 {
        sleep(secs(3600)).await?;
    }
    assert_eq!(current_time(), at(21 * 3600));
    assert!(
        real_start.elapsed() < ms(50 * 20),
        "{:?}",
        real_start.elapsed()
    );
    Ok(())
}

#[trio::test(mock_clock)]
async fn autojump_0_and_wait_all_tasks_blocked_0(clock: MockClock) -> trio::Result<()> {
    // test_mock_clock.py: autojump_threshold=0 does not interfere with
    // wait_all_tasks_blocked(): the waiter wakes first, without the clock moving.
    clock.set_autojump_threshold(Duration::ZERO);
    let record = RefCell::new(Vec::new());
    let r = &record;
    trio::open_nursery(async |n| {
        n.start_soon(async move {
            sleep(secs(100)).await?;
            r.borrow_mut().push(("yawn", current_time()));
            Ok(())
        })?;
        n.start_soon(async move {
            wait_all_tasks_blocked().await?;
            r.borrow_mut().push(("waiter woke", current_time()));
            sleep(secs(1000)).await?;
            r.borrow_mut().push(("waiter done", current_time()));
            Ok(())
        })?;
        Ok(())
    })
    .await?;
    assert_eq!(
        record.into_inner(),
        [
            ("waiter woke", Instant::ZERO),
            ("yawn", at(100)),
            ("waiter done", at(1000))
        ]
    );
    Ok(())
}

#[trio::test(mock_clock)]
async fn autojump_0_and_wait_all_tasks_blocked_nonzero(clock: MockClock) -> trio::Result<()> {
    // test_mock_clock.py: while a task waits with a cushion, the clock does not
    // autojump; the waiter wakes after its cushion (real time), then the clock jumps.
    clock.set_autojump_threshold(Duration::ZERO);
    let record = RefCell::new(Vec::new());
    let r = &record;
    trio::open_nursery(async |n| {
        n.start_soon(async move {
            sleep(secs(100)).await?;
            r.borrow_mut().push(("yawn", current_time()));
            Ok(())
        })?;
        n.start_soon(async move {
            wait_all_tasks_blocked_with(ms(50)).await?;
            r.borrow_mut().push(("waiter done", current_time()));
            Ok(())
        })?;
        Ok(())
    })
    .await?;
    assert_eq!(
        record.into_inner(),
        [("waiter done", Instant::ZERO), ("yawn", at(100))]
    );
    Ok(())
}

// ---- wait_all_tasks_blocked (test_testing.py) ------------------------------------

#[trio::test]
async fn wait_all_tasks_blocked_waits_for_busy_tasks() -> trio::Result<()> {
    let record = RefCell::new(Vec::new());
    let r = &record;
    trio::open_nursery(async |n| {
        n.start_soon(async move {
            for _ in 0..10 {
                checkpoint().await?;
            }
            r.borrow_mut().push("busy bee exhausted");
            Ok(())
        })?;
        for _ in 0..2 {
            n.start_soon(async move {
                wait_all_tasks_blocked().await?;
                r.borrow_mut().push("quiet at last!");
                Ok(())
            })?;
        }
        Ok(())
    })
    .await?;
    assert_eq!(
        record.into_inner(),
        ["busy bee exhausted", "quiet at last!", "quiet at last!"]
    );
    Ok(())
}

#[trio::test]
async fn wait_all_tasks_blocked_is_cancellable() -> trio::Result<()> {
    let record = RefCell::new(Vec::new());
    let r = &record;
    trio::open_nursery(async |n| {
        n.start_soon(async move {
            let res = wait_all_tasks_blocked().await;
            if res.as_ref().is_err_and(|e| e.is_cancelled()) {
                r.borrow_mut().push("ok");
            }
            res
        })?;
        n.cancel_scope().cancel();
        Ok(())
    })
    .await?;
    assert_eq!(record.into_inner(), ["ok"]);

    // Already cancelled: fails at once.
    let scope = trio::CancelScope::new();
    scope.cancel();
    assert_eq!(scope.run(wait_all_tasks_blocked()).await?, None);
    // And a cancelled waiter does not linger: a later waiter still works.
    wait_all_tasks_blocked().await?;
    Ok(())
}

#[trio::test]
async fn wait_all_tasks_blocked_cushions_wake_smallest_first() -> trio::Result<()> {
    // test_testing.py test_wait_all_tasks_blocked_with_cushion (real clock). The
    // blinking task's 50 ms sleeps keep the loop from ever being idle for 100 ms until
    // it is done, so the order does not depend on machine speed (stalls under 50 ms).
    let record = RefCell::new(Vec::new());
    let r = &record;
    trio::open_nursery(async |n| {
        n.start_soon(async move {
            r.borrow_mut().push("blink start");
            for _ in 0..3 {
                sleep(ms(50)).await?;
            }
            r.borrow_mut().push("blink end");
            Ok(())
        })?;
        // Started in an order different from the expected wake order.
        n.start_soon(async move {
            wait_all_tasks_blocked_with(ms(150)).await?;
            r.borrow_mut().push("wait_big_cushion end");
            Ok(())
        })?;
        for _ in 0..2 {
            n.start_soon(async move {
                wait_all_tasks_blocked_with(ms(100)).await?;
                r.borrow_mut().push("wait_small_cushion end");
                Ok(())
            })?;
        }
        n.start_soon(async move {
            wait_all_tasks_blocked().await?;
            r.borrow_mut().push("wait_no_cushion end");
            Ok(())
        })?;
        Ok(())
    })
    .await?;
    assert_eq!(
        record.into_inner(),
        [
            "blink start",
            "wait_no_cushion end",
            "blink end",
            "wait_small_cushion end",
            "wait_small_cushion end",
            "wait_big_cushion end",
        ]
    );
    Ok(())
}

#[trio::test]
async fn wait_all_tasks_blocked_equal_cushions_wake_together() -> trio::Result<()> {
    // Each waiter, once woken, stays busy (runnable) until it has seen the other one
    // wake. While one is busy the loop is never idle, so the other can only wake if
    // both were woken in the same pass.
    for cushion in [Duration::ZERO, ms(10)] {
        let woke = [Cell::new(false), Cell::new(false)];
        let w = &woke;
        trio::open_nursery(async |n| {
            for me in 0..2 {
                n.start_soon(async move {
                    wait_all_tasks_blocked_with(cushion).await?;
                    w[me].set(true);
                    for _ in 0..100 {
                        if w[1 - me].get() {
                            return Ok(());
                        }
                        checkpoint().await?;
                    }
                    panic!("waiters with equal cushions ({cushion:?}) did not wake together");
                })?;
            }
            Ok(())
        })
        .await?;
        assert!(woke.iter().all(Cell::get));
    }
    Ok(())
}

#[trio::test]
async fn wait_all_tasks_blocked_smaller_cushion_wakes_alone() -> trio::Result<()> {
    // The converse: when the small-cushion waiter wakes and stays busy, the one with
    // the larger cushion does not wake until the loop has been idle long enough.
    let big_woke = Cell::new(false);
    let b = &big_woke;
    trio::open_nursery(async |n| {
        n.start_soon(async move {
            wait_all_tasks_blocked_with(ms(40)).await?;
            b.set(true);
            Ok(())
        })?;
        n.start_soon(async move {
            wait_all_tasks_blocked_with(ms(5)).await?;
            for _ in 0..100 {
                assert!(!b.get(), "the larger cushion woke with the smaller one");
                checkpoint().await?;
            }
            Ok(())
        })?;
        Ok(())
    })
    .await?;
    assert!(big_woke.get());
    Ok(())
}

/// Counts I/O waits; during the first `interrupt` of them, posts a no-op
/// `run_sync_soon` callback, which ends the wait at once.
struct InterruptIoWaits {
    waits: Cell<usize>,
    interrupt: usize,
}

impl Instrument for InterruptIoWaits {
    fn before_io_wait(&self, _timeout: Duration) {
        let n = self.waits.get() + 1;
        self.waits.set(n);
        if n <= self.interrupt {
            trio::lowlevel::current_trio_token()
                .run_sync_soon(|| ())
                .unwrap();
        }
    }
}

#[test]
fn callbacks_from_outside_count_as_activity_for_cushions() {
    // Trio runs run_sync_soon callbacks in a task, so a loop pass that ran one was
    // not idle: a cushion counts from the last such pass.
    let waits = Rc::new(InterruptIoWaits {
        waits: Cell::new(0),
        interrupt: 3,
    });
    let w = waits.clone();
    let real_start = std::time::Instant::now();
    Runtime::builder()
        .handle_ctrl_c(false)
        .instrument(waits.clone())
        .build()
        .run(async move {
            wait_all_tasks_blocked_with(ms(50)).await?;
            // Three interrupted waits, then one that lasted the whole cushion.
            assert_eq!(w.waits.get(), 4);
            Ok::<_, trio::Error>(())
        })
        .unwrap();
    assert!(real_start.elapsed() >= ms(50));
}

#[test]
fn callbacks_from_outside_count_as_activity_for_autojump() {
    let clock = MockClock::new();
    clock.set_autojump_threshold(ms(50));
    let waits = Rc::new(InterruptIoWaits {
        waits: Cell::new(0),
        interrupt: 3,
    });
    let w = waits.clone();
    let real_start = std::time::Instant::now();
    run_with_instrument(&clock, waits.clone(), async move {
        sleep(secs(60)).await?;
        // The jump came only after a wait that was not interrupted.
        assert!(w.waits.get() >= 4, "{}", w.waits.get());
        Ok(())
    });
    assert!(real_start.elapsed() >= ms(50));
    assert_eq!(clock.current_time(), at(60));
}

fn run_with_instrument(
    clock: &MockClock,
    instrument: Rc<dyn Instrument>,
    main: impl std::future::Future<Output = trio::Result<()>>,
) {
    Runtime::builder()
        .handle_ctrl_c(false)
        .clock(clock.clone())
        .instrument(instrument)
        .build()
        .run(main)
        .unwrap();
}
