//! `Builder::schedule_policy`: the built-in policies (`CoinFlipReverse`, `Fifo`,
//! `Shuffle`, `Pct`) and a user's, what each policy sees of a batch (task ids,
//! names, what woke each task), and that the order it chooses is the order the
//! tasks run in. No sleeping: events, `wait_all_tasks_blocked` and the mock clock.

use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::Rc;
use std::time::Duration;

use trio::lowlevel::{
    CoinFlipReverse, Fifo, Pct, SchedulePolicy, ScheduleRng, Shuffle, TaskInfo, Wake, checkpoint,
};
use trio::sync::Event;
use trio::testing::{MockClock, wait_all_tasks_blocked};
use trio::{Builder, Runtime};

/// Every batch a policy saw: each task's name and what woke it.
type Seen = Rc<RefCell<Vec<Vec<(String, Wake)>>>>;

/// Sets a policy on a builder.
type WithPolicy = fn(Builder) -> Builder;

/// Runs `tasks` children that each record their number, then checkpoint,
/// `steps` times; returns the record.
fn record(builder: Builder, tasks: usize, steps: usize) -> Vec<usize> {
    let record = RefCell::new(Vec::new());
    let r = &record;
    builder
        .build()
        .run(async {
            trio::open_nursery(async |n| {
                for i in 0..tasks {
                    n.start_soon(async move {
                        for _ in 0..steps {
                            r.borrow_mut().push(i);
                            checkpoint().await?;
                        }
                        Ok(())
                    })?;
                }
                Ok(())
            })
            .await
        })
        .unwrap();
    record.into_inner()
}

/// The builders of each built-in policy.
fn builtins() -> Vec<(&'static str, WithPolicy)> {
    vec![
        ("CoinFlipReverse", |b| b.schedule_policy(CoinFlipReverse)),
        ("Fifo", |b| b.schedule_policy(Fifo)),
        ("Shuffle", |b| b.schedule_policy(Shuffle)),
        ("Pct", |b| b.schedule_policy(Pct::new(3, 50))),
    ]
}

#[test]
fn same_seed_same_order_under_each_builtin_policy() {
    for (name, with) in builtins() {
        for seed in [1, 7, 12345] {
            let a = record(with(Runtime::builder().seed(seed)), 6, 4);
            let b = record(with(Runtime::builder().seed(seed)), 6, 4);
            assert_eq!(a, b, "{name}, seed {seed}");
            assert_eq!(a.len(), 24, "{name}: every step ran");
        }
    }
}

#[test]
fn default_is_coin_flip_reverse() {
    for seed in 0..10 {
        assert_eq!(
            record(Runtime::builder().seed(seed), 5, 3),
            record(
                Runtime::builder()
                    .seed(seed)
                    .schedule_policy(CoinFlipReverse),
                5,
                3
            ),
            "seed {seed}"
        );
    }
}

#[test]
fn fifo_gives_spawn_order() {
    let expected: Vec<usize> = (0..3).flat_map(|_| 0..8).collect();
    for seed in 0..5 {
        assert_eq!(
            record(Runtime::builder().seed(seed).schedule_policy(Fifo), 8, 3),
            expected
        );
        assert_eq!(
            record(Runtime::builder().seed(seed).deterministic(true), 8, 3),
            expected
        );
    }
}

#[test]
fn shuffle_orders_vary_with_the_seed_and_are_permutations() {
    let mut distinct = HashSet::new();
    for seed in 0..20 {
        let order = record(Runtime::builder().seed(seed).schedule_policy(Shuffle), 8, 1);
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..8).collect::<Vec<_>>(), "seed {seed}: {order:?}");
        distinct.insert(order);
    }
    // Coin-flip reversal could only give two orders; a shuffle gives many.
    assert!(distinct.len() > 2, "{distinct:?}");
}

#[test]
fn pct_depth_one_runs_each_task_to_completion_in_priority_order() {
    let mut firsts = HashSet::new();
    for seed in [3, 4, 5, 6] {
        let order = record(
            Runtime::builder()
                .seed(seed)
                .schedule_policy(Pct::new(1, 100)),
            4,
            5,
        );
        // Depth 1: no priority change, so the highest-priority task runs until
        // it finishes (its checkpoints notwithstanding), then the next one.
        let runs: Vec<usize> = order.chunks(5).map(|c| c[0]).collect();
        for (chunk, &t) in order.chunks(5).zip(&runs) {
            assert!(chunk.iter().all(|&x| x == t), "seed {seed}: {order:?}");
        }
        let mut sorted = runs.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, [0, 1, 2, 3], "seed {seed}: {order:?}");
        firsts.insert(runs[0]);
    }
    assert!(firsts.len() > 1, "the priorities come from the seed");
}

#[test]
fn pct_with_change_points_interleaves_and_replays() {
    let a = record(
        Runtime::builder().seed(9).schedule_policy(Pct::new(4, 12)),
        3,
        6,
    );
    let b = record(
        Runtime::builder().seed(9).schedule_policy(Pct::new(4, 12)),
        3,
        6,
    );
    assert_eq!(a, b);
    assert_eq!(a.len(), 18);
}

/// A user's policy: tasks named `urgent*` first, and every batch it saw.
struct UrgentFirst {
    seen: Seen,
}

impl SchedulePolicy for UrgentFirst {
    fn order(&mut self, batch: &mut [TaskInfo<'_>], _rng: &mut ScheduleRng) {
        self.seen.borrow_mut().push(
            batch
                .iter()
                .map(|t| (t.name().to_owned(), t.wake()))
                .collect(),
        );
        batch.sort_by_key(|t| !t.name().starts_with("urgent"));
    }
}

#[test]
fn a_user_policy_sees_the_names_and_its_order_is_obeyed() {
    let seen = Rc::new(RefCell::new(Vec::new()));
    let policy = UrgentFirst { seen: seen.clone() };
    let ran = RefCell::new(Vec::new());
    let r = &ran;
    Runtime::builder()
        .schedule_policy(policy)
        .build()
        .run(async {
            trio::open_nursery(async |n| {
                for name in ["slow-0", "urgent-1", "slow-2", "urgent-3"] {
                    n.start_soon_named(name, async move {
                        r.borrow_mut().push(name);
                        Ok(())
                    })?;
                }
                Ok(())
            })
            .await
        })
        .unwrap();
    assert_eq!(
        ran.into_inner(),
        ["urgent-1", "urgent-3", "slow-0", "slow-2"]
    );
    let seen = seen.borrow();
    let batch = seen
        .iter()
        .find(|b| b.iter().any(|(n, _)| n == "urgent-1"))
        .expect("the policy saw the children's batch");
    assert_eq!(
        *batch,
        [
            ("slow-0".to_owned(), Wake::Spawned),
            ("urgent-1".to_owned(), Wake::Spawned),
            ("slow-2".to_owned(), Wake::Spawned),
            ("urgent-3".to_owned(), Wake::Spawned),
        ]
    );
}

/// Records every batch a run's policy sees; keeps the wake-up order.
struct Recorder(Seen);

impl SchedulePolicy for Recorder {
    fn order(&mut self, batch: &mut [TaskInfo<'_>], _rng: &mut ScheduleRng) {
        self.0.borrow_mut().push(
            batch
                .iter()
                .map(|t| (t.name().to_owned(), t.wake()))
                .collect(),
        );
    }
}

fn batches_seen(
    builder: Builder,
    main: impl AsyncFnOnce() -> trio::Result<()>,
) -> Vec<Vec<(String, Wake)>> {
    let seen = Rc::new(RefCell::new(Vec::new()));
    builder
        .schedule_policy(Recorder(seen.clone()))
        .build()
        .run(main())
        .unwrap();
    seen.take()
}

#[test]
fn wake_reports_spawned_versus_woken_by_an_event() {
    let event = Event::new();
    let e = &event;
    let seen = batches_seen(Runtime::builder(), async || {
        trio::open_nursery(async |n| {
            n.start_soon_named("waiter", async move { e.wait().await })?;
            wait_all_tasks_blocked().await?;
            // One step: a new task and a wake-up land in the same batch.
            n.start_soon_named("fresh", async { Ok(()) })?;
            e.set();
            Ok(())
        })
        .await
        .map(drop)
    });
    let batch = [
        ("fresh".to_owned(), Wake::Spawned),
        ("waiter".to_owned(), Wake::Waker),
    ];
    assert!(seen.contains(&batch.to_vec()), "{seen:?}");
}

#[test]
fn wake_reports_timers_and_cancellation() {
    let clock = MockClock::new();
    clock.set_autojump_threshold(Duration::ZERO);
    let seen = batches_seen(Runtime::builder().clock(clock), async || {
        trio::open_nursery(async |n| {
            for name in ["sleeper-a", "sleeper-b"] {
                n.start_soon_named(name, trio::sleep(Duration::from_secs(5)))?;
            }
            Ok(())
        })
        .await?;
        trio::open_nursery(async |n| {
            for name in ["parked-a", "parked-b"] {
                n.start_soon_named(name, trio::sleep_forever())?;
            }
            wait_all_tasks_blocked().await?;
            n.cancel_scope().cancel();
            Ok(())
        })
        .await
        .map(drop)
    });
    let timers = [
        ("sleeper-a".to_owned(), Wake::Timer),
        ("sleeper-b".to_owned(), Wake::Timer),
    ];
    let cancels = [
        ("parked-a".to_owned(), Wake::Cancel),
        ("parked-b".to_owned(), Wake::Cancel),
    ];
    assert!(seen.contains(&timers.to_vec()), "{seen:?}");
    assert!(seen.contains(&cancels.to_vec()), "{seen:?}");
}

#[test]
fn a_policy_may_keep_tasks_for_the_next_batch() {
    /// Runs one task per batch, the last woken first.
    struct OneAtATime;
    impl SchedulePolicy for OneAtATime {
        fn order(&mut self, batch: &mut [TaskInfo<'_>], _rng: &mut ScheduleRng) {
            batch.reverse();
        }
        fn run_now(&mut self, _ordered: &[TaskInfo<'_>]) -> usize {
            0 // counts as 1
        }
    }
    let order = record(Runtime::builder().schedule_policy(OneAtATime), 3, 2);
    assert_eq!(order.len(), 6);
    let mut sorted = order.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, [0, 0, 1, 1, 2, 2]);
}

#[test]
fn a_policy_decides_whether_children_run_before_the_body() {
    /// Children before the body, or after, always.
    struct ChildrenFirst(bool);
    impl SchedulePolicy for ChildrenFirst {
        fn order(&mut self, _batch: &mut [TaskInfo<'_>], _rng: &mut ScheduleRng) {}
        fn children_first(&mut self, _rng: &mut ScheduleRng) -> bool {
            self.0
        }
    }
    let run = |children_first: bool| {
        let ran = RefCell::new(Vec::new());
        let r = &ran;
        Runtime::builder()
            .schedule_policy(ChildrenFirst(children_first))
            .build()
            .run(async {
                trio::open_nursery(async |n| {
                    n.start_soon(async move {
                        r.borrow_mut().push("child");
                        Ok(())
                    })?;
                    // The body yields: next time, it and the child are both runnable.
                    checkpoint().await?;
                    r.borrow_mut().push("body");
                    Ok(())
                })
                .await
            })
            .unwrap();
        ran.into_inner()
    };
    assert_eq!(run(true), ["child", "body"]);
    assert_eq!(run(false), ["body", "child"]);
}
