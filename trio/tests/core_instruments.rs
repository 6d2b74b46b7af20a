// Ported from Python Trio's instrument tests (`trio/_core/_tests/test_instrumentation.py`,
// formerly part of `test_run.py`): hook order for a simple run, interleaving of two
// tasks, before/after_run, task_spawned/task_exited, adding and removing instruments
// during a run, and a crashing instrument being removed while the run goes on; plus
// before/after_io_wait, checked exactly with the mock clock's autojump threshold.

use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::Rc;
use std::time::Duration;

use trio::lowlevel::{
    Instrument, Task, add_instrument, checkpoint, current_task, remove_instrument,
};
use trio::testing::MockClock;
use trio::{ErrorKind, Runtime};

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Ev {
    BeforeRun,
    AfterRun,
    Spawned(u64),
    Scheduled(u64),
    Before(u64),
    After(u64),
    Exited(u64),
    BeforeIo(Duration),
    AfterIo(Duration),
}

impl Ev {
    fn task(&self) -> Option<u64> {
        match self {
            Ev::Spawned(t) | Ev::Scheduled(t) | Ev::Before(t) | Ev::After(t) | Ev::Exited(t) => {
                Some(*t)
            }
            _ => None,
        }
    }
}

/// Records every hook; also checks that the step hooks run "as" the task.
#[derive(Default)]
struct Recorder {
    record: RefCell<Vec<Ev>>,
    wrong_current_task: RefCell<Vec<String>>,
}

impl Recorder {
    fn push(&self, e: Ev) {
        self.record.borrow_mut().push(e);
    }

    fn check_current(&self, hook: &str, task: &Task) {
        let cur = std::panic::catch_unwind(current_task).ok();
        if cur.as_ref() != Some(task) {
            self.wrong_current_task.borrow_mut().push(format!(
                "{hook}: expected {task:?}, current_task() = {cur:?}"
            ));
        }
    }

    fn events(&self) -> Vec<Ev> {
        self.record.borrow().clone()
    }

    /// Events about the given tasks, plus before_run/after_run (Trio's filter_tasks).
    fn filter_tasks(&self, tasks: &[u64]) -> Vec<Ev> {
        self.events()
            .into_iter()
            .filter(|e| match e.task() {
                Some(t) => tasks.contains(&t),
                None => matches!(e, Ev::BeforeRun | Ev::AfterRun),
            })
            .collect()
    }
}

impl Instrument for Recorder {
    fn before_run(&self) {
        self.push(Ev::BeforeRun);
    }
    fn after_run(&self) {
        self.push(Ev::AfterRun);
    }
    fn task_spawned(&self, task: &Task) {
        self.push(Ev::Spawned(task.id()));
    }
    fn task_scheduled(&self, task: &Task) {
        self.push(Ev::Scheduled(task.id()));
    }
    fn before_task_step(&self, task: &Task) {
        self.check_current("before_task_step", task);
        self.push(Ev::Before(task.id()));
    }
    fn after_task_step(&self, task: &Task) {
        self.check_current("after_task_step", task);
        self.push(Ev::After(task.id()));
    }
    fn task_exited(&self, task: &Task) {
        self.push(Ev::Exited(task.id()));
    }
    fn before_io_wait(&self, timeout: Duration) {
        self.push(Ev::BeforeIo(timeout));
    }
    fn after_io_wait(&self, timeout: Duration) {
        self.push(Ev::AfterIo(timeout));
    }
}

fn builder() -> trio::Builder {
    Runtime::builder().handle_ctrl_c(false)
}

/// Checks `actual` against `expected`, where each group of `expected` may appear in
/// any order (Trio's `check_sequence_matches`).
fn check_sequence_matches(actual: &[Ev], expected: &[Vec<Ev>]) {
    let mut i = 0;
    for group in expected {
        let n = group.len();
        assert!(
            i + n <= actual.len(),
            "too short: {actual:?}\nexpected {expected:?}"
        );
        let got: HashSet<&Ev> = actual[i..i + n].iter().collect();
        let want: HashSet<&Ev> = group.iter().collect();
        assert_eq!(got, want, "at {i} in {actual:?}");
        i += n;
    }
    assert_eq!(i, actual.len(), "too long: {actual:?}");
}

fn single(e: Ev) -> Vec<Ev> {
    vec![e]
}

#[test]
fn hooks_order_for_a_simple_task_and_add_remove_during_the_run() {
    // test_instruments: r1 sees everything; r2 is removed and r3 added in the middle
    // of a step, so r1's record is exactly r2's followed by r3's.
    let r1 = Rc::new(Recorder::default());
    let r2 = Rc::new(Recorder::default());
    let r3 = Rc::new(Recorder::default());
    let task_id = RefCell::new(None);
    let (r2d, r3d): (Rc<dyn Instrument>, Rc<dyn Instrument>) = (r2.clone(), r3.clone());
    let (tid, r2d, r3d) = (&task_id, &r2d, &r3d);

    builder()
        .instrument(r1.clone())
        .instrument(r2.clone())
        .build()
        .run(async {
            trio::open_nursery(async |n| {
                n.start_soon(async move {
                    *tid.borrow_mut() = Some(current_task().id());
                    for _ in 0..4 {
                        checkpoint().await?;
                    }
                    remove_instrument(r2d)?;
                    let e = remove_instrument(r2d).unwrap_err();
                    assert_eq!(e.kind(), ErrorKind::Usage);
                    // add is idempotent
                    add_instrument(r3d.clone())?;
                    add_instrument(r3d.clone())?;
                    checkpoint().await?;
                    Ok(())
                })
            })
            .await
        })
        .unwrap();

    let t = task_id.into_inner().expect("the task ran");
    let mut expected = vec![Ev::BeforeRun, Ev::Spawned(t), Ev::Scheduled(t)];
    for _ in 0..5 {
        // checkpoint() reschedules the task while it is still stepping.
        expected.extend([Ev::Before(t), Ev::Scheduled(t), Ev::After(t)]);
    }
    expected.extend([Ev::Before(t), Ev::After(t), Ev::Exited(t), Ev::AfterRun]);
    assert_eq!(r1.filter_tasks(&[t]), expected);

    let mut joined = r2.events();
    joined.extend(r3.events());
    assert_eq!(r1.events(), joined);
    assert!(!r2.events().is_empty() && !r3.events().is_empty());
    // r3 was added once: no duplicated events.
    assert_eq!(
        r3.events().iter().filter(|e| **e == Ev::AfterRun).count(),
        1
    );

    assert_eq!(*r1.wrong_current_task.borrow(), Vec::<String>::new());
}

#[test]
fn hooks_interleave_two_tasks() {
    // test_instruments_interleave
    let r = Rc::new(Recorder::default());
    let ids = RefCell::new([0u64; 2]);
    let ids_ref = &ids;
    builder()
        .instrument(r.clone())
        .build()
        .run(async {
            trio::open_nursery(async |n| {
                for i in 0..2 {
                    n.start_soon(async move {
                        ids_ref.borrow_mut()[i] = current_task().id();
                        checkpoint().await
                    })?;
                }
                Ok(())
            })
            .await
        })
        .unwrap();
    let [t1, t2] = ids.into_inner();
    let expected = vec![
        single(Ev::BeforeRun),
        single(Ev::Spawned(t1)),
        single(Ev::Scheduled(t1)),
        single(Ev::Spawned(t2)),
        single(Ev::Scheduled(t2)),
        // First batch: the order of the two tasks is up to the scheduler.
        vec![
            Ev::Before(t1),
            Ev::Scheduled(t1),
            Ev::After(t1),
            Ev::Before(t2),
            Ev::Scheduled(t2),
            Ev::After(t2),
        ],
        vec![
            Ev::Before(t1),
            Ev::After(t1),
            Ev::Exited(t1),
            Ev::Before(t2),
            Ev::After(t2),
            Ev::Exited(t2),
        ],
        single(Ev::AfterRun),
    ];
    let got = r.filter_tasks(&[t1, t2]);
    check_sequence_matches(&got, &expected);
    // Within a batch each task's own events stay in order.
    for t in [t1, t2] {
        let mine: Vec<Ev> = got
            .iter()
            .filter(|e| e.task() == Some(t))
            .cloned()
            .collect();
        assert_eq!(
            mine,
            [
                Ev::Spawned(t),
                Ev::Scheduled(t),
                Ev::Before(t),
                Ev::Scheduled(t),
                Ev::After(t),
                Ev::Before(t),
                Ev::After(t),
                Ev::Exited(t),
            ]
        );
    }
}

#[test]
fn null_instrument_is_fine() {
    struct Nothing;
    impl Instrument for Nothing {}
    builder()
        .instrument(Rc::new(Nothing))
        .build()
        .run(checkpoint())
        .unwrap();
}

#[test]
fn before_and_after_run() {
    // test_instrument_before_after_run
    #[derive(Default)]
    struct BeforeAfterRun(RefCell<Vec<&'static str>>);
    impl Instrument for BeforeAfterRun {
        fn before_run(&self) {
            self.0.borrow_mut().push("before_run");
        }
        fn after_run(&self) {
            self.0.borrow_mut().push("after_run");
        }
    }
    let i = Rc::new(BeforeAfterRun::default());
    let seen_inside = builder()
        .instrument(i.clone())
        .build()
        .run(async { Ok::<_, trio::Error>(i.0.borrow().clone()) })
        .unwrap();
    assert_eq!(seen_inside, ["before_run"]);
    assert_eq!(*i.0.borrow(), ["before_run", "after_run"]);
}

#[test]
fn task_spawned_and_exited_for_the_main_task() {
    // test_instrument_task_spawn_exit
    let r = Rc::new(Recorder::default());
    let main_id = builder()
        .instrument(r.clone())
        .build()
        .run(async { Ok::<_, trio::Error>(current_task().id()) })
        .unwrap();
    let ev = r.events();
    let pos = |e: Ev| ev.iter().position(|x| *x == e);
    let spawned = pos(Ev::Spawned(main_id)).expect("spawned");
    let exited = pos(Ev::Exited(main_id)).expect("exited");
    assert!(pos(Ev::BeforeRun).unwrap() < spawned);
    assert!(spawned < exited);
    assert!(exited < pos(Ev::AfterRun).unwrap());
    assert_eq!(ev.last(), Some(&Ev::AfterRun));
}

#[test]
fn a_panicking_instrument_is_removed_and_the_run_goes_on() {
    // test_instruments_crash: the broken instrument's first hook call panics (it is
    // the main task being scheduled, before the main task even starts).
    struct Broken(Rc<RefCell<Vec<&'static str>>>);
    impl Instrument for Broken {
        fn task_scheduled(&self, _task: &Task) {
            self.0.borrow_mut().push("scheduled");
            panic!("oops");
        }
    }
    let record = Rc::new(RefCell::new(Vec::new()));
    let r = Rc::new(Recorder::default());
    let rec = record.clone();
    let diagnostics = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let diags = diagnostics.clone();
    let main_id = builder()
        .instrument(r.clone())
        .instrument(Rc::new(Broken(record.clone())))
        .on_diagnostic(move |d: &trio::lowlevel::Diagnostic| {
            diags.lock().unwrap().push((d.kind(), d.to_string()))
        })
        .build()
        .run(async move {
            rec.borrow_mut().push("main ran");
            // More scheduling: the broken instrument must not be called again.
            checkpoint().await?;
            checkpoint().await?;
            Ok::<_, trio::Error>(current_task().id())
        })
        .unwrap();
    assert_eq!(*record.borrow(), ["scheduled", "main ran"]);
    // The removal is reported to the run's diagnostics callback, once.
    assert_eq!(
        *diagnostics.lock().unwrap(),
        [(
            trio::lowlevel::DiagnosticKind::InstrumentPanicked,
            "an instrument panicked and was removed".to_string()
        )]
    );
    // The recorder kept going throughout.
    let ev = r.events();
    assert!(ev.contains(&Ev::After(main_id)));
    assert_eq!(ev.last(), Some(&Ev::AfterRun));
    assert_eq!(
        ev.iter().filter(|e| **e == Ev::Scheduled(main_id)).count(),
        3
    );
}

#[test]
fn a_panicking_instrument_added_during_the_run_is_removed() {
    struct PanicsOnStep(RefCell<usize>);
    impl Instrument for PanicsOnStep {
        fn after_task_step(&self, _task: &Task) {
            *self.0.borrow_mut() += 1;
            panic!("instrument bug");
        }
    }
    let broken = Rc::new(PanicsOnStep(RefCell::new(0)));
    let b: Rc<dyn Instrument> = broken.clone();
    let b2 = b.clone();
    let out = builder()
        .build()
        .run(async move {
            add_instrument(b2.clone())?;
            for _ in 0..3 {
                checkpoint().await?;
            }
            // It was removed: removing it again is an error.
            assert_eq!(remove_instrument(&b2).unwrap_err().kind(), ErrorKind::Usage);
            Ok::<_, trio::Error>("finished")
        })
        .unwrap();
    assert_eq!(out, "finished");
    assert_eq!(*broken.0.borrow(), 1);
}

#[test]
fn removing_an_uninstalled_instrument_errors() {
    struct Nothing;
    impl Instrument for Nothing {}
    builder()
        .build()
        .run(async {
            let i: Rc<dyn Instrument> = Rc::new(Nothing);
            assert_eq!(remove_instrument(&i).unwrap_err().kind(), ErrorKind::Usage);
            add_instrument(i.clone())?;
            remove_instrument(&i)?;
            assert_eq!(remove_instrument(&i).unwrap_err().kind(), ErrorKind::Usage);
            // Another instance of the same type is another instrument.
            add_instrument(i.clone())?;
            let other: Rc<dyn Instrument> = Rc::new(Nothing);
            assert!(remove_instrument(&other).is_err());
            remove_instrument(&i)?;
            Ok::<_, trio::Error>(())
        })
        .unwrap();
    // Outside a run: Usage too.
    let i: Rc<dyn Instrument> = Rc::new(Nothing);
    assert_eq!(
        add_instrument(i.clone()).unwrap_err().kind(),
        ErrorKind::Usage
    );
    assert_eq!(remove_instrument(&i).unwrap_err().kind(), ErrorKind::Usage);
}

#[test]
fn instruments_added_and_removed_during_a_run_see_only_that_window() {
    // test_instruments_monkeypatch, Rust version: hooks reach an instrument only
    // while it is installed.
    let r = Rc::new(Recorder::default());
    let rd: Rc<dyn Instrument> = r.clone();
    let me = builder()
        .build()
        .run(async {
            checkpoint().await?;
            add_instrument(rd.clone())?;
            checkpoint().await?;
            checkpoint().await?;
            remove_instrument(&rd)?;
            checkpoint().await?;
            checkpoint().await?;
            Ok::<_, trio::Error>(current_task().id())
        })
        .unwrap();
    let ev = r.events();
    assert_eq!(
        ev.iter().filter(|e| **e == Ev::Before(me)).count(),
        2,
        "{ev:?}"
    );
    assert!(!ev.contains(&Ev::BeforeRun));
    assert!(!ev.contains(&Ev::AfterRun));
}

#[test]
fn io_wait_hooks_bracket_each_wait_with_its_timeout() {
    // With autojump after 5 ms of idleness, a long sleep is: one I/O wait of exactly
    // 5 ms, then a jump.
    let clock = MockClock::new();
    clock.set_autojump_threshold(Duration::from_millis(5));
    let r = Rc::new(Recorder::default());
    builder()
        .clock(clock.clone())
        .instrument(r.clone())
        .build()
        .run(async {
            trio::sleep(Duration::from_secs(60)).await?;
            trio::sleep(Duration::from_secs(60)).await
        })
        .unwrap();
    let io: Vec<Ev> = r
        .events()
        .into_iter()
        .filter(|e| matches!(e, Ev::BeforeIo(_) | Ev::AfterIo(_)))
        .collect();
    let five = Duration::from_millis(5);
    assert_eq!(
        io,
        [
            Ev::BeforeIo(five),
            Ev::AfterIo(five),
            Ev::BeforeIo(five),
            Ev::AfterIo(five)
        ]
    );
    // No task step happens while the loop waits.
    let ev = r.events();
    for (i, e) in ev.iter().enumerate() {
        if matches!(e, Ev::BeforeIo(_)) {
            assert!(matches!(ev[i + 1], Ev::AfterIo(_)), "{ev:?}");
        }
    }
    assert_eq!(
        clock.current_time(),
        trio::Instant::ZERO + Duration::from_secs(120)
    );
}

#[test]
fn no_io_wait_when_always_runnable() {
    // A run that never blocks never waits for I/O.
    let r = Rc::new(Recorder::default());
    builder()
        .instrument(r.clone())
        .build()
        .run(async {
            for _ in 0..5 {
                checkpoint().await?;
            }
            Ok::<_, trio::Error>(())
        })
        .unwrap();
    assert!(
        !r.events()
            .iter()
            .any(|e| matches!(e, Ev::BeforeIo(_) | Ev::AfterIo(_)))
    );
}
