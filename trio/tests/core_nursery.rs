//! Nursery tests, ported from Python Trio's `src/trio/_core/_tests/test_run.py`:
//! `test_nursery_main_block_error_basic`, `test_child_crash_basic`,
//! `test_basic_interleave`, `test_task_crash_propagation`,
//! `test_main_and_task_both_crash`, `test_two_child_crashes`,
//! `test_child_crash_wakes_parent`, `test_nursery_explicit_exception`,
//! `test_cancel_scope_multierror_filtering` (now `..._exceptiongroup_filtering`),
//! `test_precancelled_task`, `test_cancel_inheritance`, `test_nursery_closure`,
//! `test_task_nursery_stack`, `test_current_task`, `test_root_task`,
//! `test_task_tree_introspection`, `test_spawn_name`,
//! `test_nursery_stop_async_iteration` (a nursery inside a loop), `test_trivial_yields`
//! (the nursery part).
//!
//! Rust-only additions, for what Python gets for free or does not have: panics in
//! children (Trio's "BaseException in a child"), children borrowing from the
//! enclosing scope, and `Nursery::spawn` / `TaskHandle`.
//!
//! Deliberate mappings: a nursery returns one error as itself and several as an
//! `ErrorKind::Group`, in which duplicate cancellations collapse into one.

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use trio::lowlevel::{
    ParkingLot, Task, checkpoint, current_root_task, current_task, spawn_system_task,
};
use trio::testing::wait_all_tasks_blocked;
use trio::{CancelScope, CancelSource, Error, ErrorKind, Nursery};

/// A one-shot event built on the parking lot (no sleeping to wait for a task).
#[derive(Default)]
struct Event {
    flag: Cell<bool>,
    lot: ParkingLot,
}

impl Event {
    fn set(&self) {
        self.flag.set(true);
        self.lot.unpark_all();
    }

    async fn wait(&self) -> trio::Result<()> {
        while !self.flag.get() {
            self.lot.park().await?;
        }
        Ok(())
    }
}

fn err(msg: &'static str) -> Error {
    Error::new(ErrorKind::Other, msg)
}

fn messages(e: &Error) -> HashSet<String> {
    e.errors().iter().map(|e| e.to_string()).collect()
}

fn set(items: &[&str]) -> HashSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

// ---- basics ---------------------------------------------------------------------

#[trio::test]
async fn nursery_waits_for_children_and_returns_body_value() -> trio::Result<()> {
    let record = RefCell::new(Vec::new());
    let r = &record;
    let out = trio::open_nursery(async |n| {
        n.start_soon(async move {
            checkpoint().await?;
            r.borrow_mut().push("a");
            Ok(())
        })?;
        n.start_soon(async move {
            checkpoint().await?;
            checkpoint().await?;
            r.borrow_mut().push("b");
            Ok(())
        })?;
        // start_soon does not run the child right away.
        assert!(r.borrow().is_empty());
        r.borrow_mut().push("body");
        Ok(42)
    })
    .await?
    .expect("the body returned");
    assert_eq!(out, 42);
    assert_eq!(*record.borrow(), ["body", "a", "b"]);
    Ok(())
}

#[trio::test]
async fn basic_interleave() -> trio::Result<()> {
    // test_basic_interleave: each checkpoint lets the other task run.
    let record = RefCell::new(Vec::new());
    let r = &record;
    let looper = |who: &'static str| async move {
        for i in 0..3 {
            r.borrow_mut().push((who, i));
            checkpoint().await?;
        }
        Ok(())
    };
    trio::open_nursery(async |n| {
        n.start_soon(looper("a"))?;
        n.start_soon(looper("b"))?;
        Ok(())
    })
    .await?;
    let rec = record.borrow();
    assert_eq!(rec.len(), 6);
    for (round, pair) in rec.chunks(2).enumerate() {
        let got: HashSet<_> = pair.iter().copied().collect();
        let want: HashSet<_> = [("a", round), ("b", round)].into_iter().collect();
        assert_eq!(got, want, "round {round}: {rec:?}");
    }
    Ok(())
}

#[trio::test]
async fn body_error_comes_out_of_the_nursery() {
    // test_nursery_main_block_error_basic / test_nursery_explicit_exception
    let r: trio::Result<Option<()>> = trio::open_nursery(async |_n| Err(err("whoops"))).await;
    let e = r.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Other);
    assert_eq!(e.to_string(), "whoops");
}

#[trio::test]
async fn child_error_reaches_the_parent() {
    // test_child_crash_basic
    let r = trio::open_nursery(async |n| {
        n.start_soon(async { Err(err("uh oh")) })?;
        Ok(())
    })
    .await;
    let e = r.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Other);
    assert_eq!(e.to_string(), "uh oh");
}

#[trio::test]
async fn child_error_cancels_siblings() {
    // test_task_crash_propagation
    let looper_record = RefCell::new(Vec::new());
    let r = &looper_record;
    let res = trio::open_nursery(async |n| {
        n.start_soon(async move {
            loop {
                if let Err(e) = checkpoint().await {
                    assert_eq!(e.cancelled().unwrap().source(), CancelSource::Nursery);
                    r.borrow_mut().push("cancelled");
                    return Err(e);
                }
            }
        })?;
        n.start_soon(async { Err(err("argh")) })?;
        Ok(())
    })
    .await;
    assert_eq!(*looper_record.borrow(), ["cancelled"]);
    let e = res.unwrap_err();
    // The looper's Cancelled was caused by the nursery and is filtered out.
    assert_eq!(e.kind(), ErrorKind::Other);
    assert_eq!(e.to_string(), "argh");
}

#[trio::test]
async fn body_and_child_both_fail_gives_a_group() {
    // test_main_and_task_both_crash
    let r: trio::Result<Option<()>> = trio::open_nursery(async |n| {
        n.start_soon(async { Err(err("ValueError")) })?;
        Err(err("KeyError"))
    })
    .await;
    let e = r.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Group);
    assert!(!e.is_cancelled());
    assert_eq!(messages(&e), set(&["ValueError", "KeyError"]));
}

#[trio::test]
async fn two_child_failures_give_a_group() {
    // test_two_child_crashes
    let r = trio::open_nursery(async |n| {
        n.start_soon(async { Err(err("KeyError")) })?;
        n.start_soon(async { Err(err("ValueError")) })?;
        Ok(())
    })
    .await;
    let e = r.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Group);
    assert_eq!(e.errors().len(), 2);
    assert_eq!(messages(&e), set(&["KeyError", "ValueError"]));
}

#[trio::test]
async fn child_error_wakes_a_sleeping_body() {
    // test_child_crash_wakes_parent: the body's own Cancelled is filtered out.
    let body_saw = RefCell::new(None);
    let b = &body_saw;
    let r = trio::open_nursery(async |n| {
        n.start_soon(async { Err(err("crash")) })?;
        let res = trio::sleep_forever().await;
        *b.borrow_mut() = Some(res.as_ref().map_err(|e| e.kind()).copied());
        res
    })
    .await;
    assert_eq!(*body_saw.borrow(), Some(Err(ErrorKind::Cancelled)));
    let e = r.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Other);
    assert_eq!(e.to_string(), "crash");
}

#[trio::test]
async fn cancelling_the_nursery_scope_is_not_an_error() -> trio::Result<()> {
    let seen = RefCell::new(Vec::new());
    let s = &seen;
    let out = trio::open_nursery(async |n| {
        for _ in 0..3 {
            n.start_soon(async move {
                let e = trio::sleep_forever().await.unwrap_err();
                s.borrow_mut().push(e.cancelled().unwrap().source());
                Err(e)
            })?;
        }
        wait_all_tasks_blocked().await?;
        assert!(!n.cancel_scope().cancel_called());
        n.cancel_scope().cancel();
        assert!(n.cancel_scope().cancel_called());
        Ok("body value")
    })
    .await?
    .expect("the body returned");
    assert_eq!(out, "body value");
    assert_eq!(*seen.borrow(), [CancelSource::Explicit; 3]);
    Ok(())
}

#[trio::test]
async fn nursery_scope_cancelled_and_body_returns_its_cancelled() {
    // The body has no value to give when it returns the nursery's own Cancelled: the
    // nursery catches it, as Trio's does, and says so with `Ok(None)`.
    let mut scope = None;
    let r: trio::Result<Option<()>> = trio::open_nursery(async |n| {
        scope = Some(n.cancel_scope());
        n.start_soon(trio::sleep_forever())?;
        n.cancel_scope().cancel();
        checkpoint().await?;
        unreachable!("the checkpoint is cancelled");
    })
    .await;
    assert_eq!(r.unwrap(), None);
    assert!(scope.unwrap().cancelled_caught());
}

#[trio::test]
async fn nursery_inside_a_cancelled_scope_keeps_cancelled_in_its_group() -> trio::Result<()> {
    // test_cancel_scope_multierror_filtering: the outer scope is cancelled before the
    // nursery exits, so the cancellations inside keep going up to it; the outer scope
    // then strips them, leaving the real error. (Trio counts 4 Cancelled + KeyError;
    // here duplicate cancellations collapse into one member of the group.)
    let outer = CancelScope::new();
    let o = &outer;
    let inner_err = RefCell::new(None);
    let ie = &inner_err;
    let r = outer
        .run(async move {
            let res = trio::open_nursery(async |n| {
                n.start_soon(trio::sleep_forever())?; // t1
                n.start_soon(trio::sleep_forever())?; // t2
                n.cancel_scope().cancel();
                CancelScope::new()
                    .shielded()
                    .run(wait_all_tasks_blocked())
                    .await?;
                n.start_soon(trio::sleep_forever())?; // t3: cancelled by `outer`
                o.cancel();
                n.start_soon(async { Err(err("KeyError")) })?; // t4
                Ok(())
            })
            .await;
            let e = res.unwrap_err();
            *ie.borrow_mut() = Some((
                e.kind(),
                e.errors().iter().filter(|m| m.is_cancelled()).count(),
                e.errors()
                    .iter()
                    .filter(|m| !m.is_cancelled())
                    .map(|m| m.to_string())
                    .collect::<Vec<_>>(),
            ));
            Err::<(), _>(e)
        })
        .await;
    assert_eq!(
        inner_err.borrow_mut().take(),
        Some((ErrorKind::Group, 1, vec!["KeyError".to_string()]))
    );
    let e = r.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Other);
    assert_eq!(e.to_string(), "KeyError");
    assert!(outer.cancelled_caught());
    Ok(())
}

#[trio::test]
async fn child_started_in_cancelled_nursery_runs_until_first_checkpoint() -> trio::Result<()> {
    // test_precancelled_task
    let record = RefCell::new(Vec::new());
    let r = &record;
    trio::open_nursery(async |n| {
        n.cancel_scope().cancel();
        n.start_soon(async move {
            r.borrow_mut().push("started");
            trio::sleep_forever().await?;
            r.borrow_mut().push("unreachable");
            Ok(())
        })?;
        Ok(())
    })
    .await?;
    assert_eq!(*record.borrow(), ["started"]);
    Ok(())
}

#[trio::test]
async fn cancellation_reaches_every_descendant() -> trio::Result<()> {
    // test_cancel_inheritance
    let record = RefCell::new(HashSet::new());
    let r = &record;
    let leaf = move |ident: String| async move {
        let e = trio::sleep_forever().await.unwrap_err();
        r.borrow_mut().insert(ident);
        Err(e)
    };
    let worker = move |ident: &'static str| async move {
        trio::open_nursery(async |n| {
            n.start_soon(leaf(format!("{ident}-l1")))?;
            n.start_soon(leaf(format!("{ident}-l2")))?;
            Ok(())
        })
        .await
        .map(drop)
    };
    trio::open_nursery(async |n| {
        n.start_soon(worker("w1"))?;
        n.start_soon(worker("w2"))?;
        wait_all_tasks_blocked().await?;
        n.cancel_scope().cancel();
        Ok(())
    })
    .await?;
    assert_eq!(*record.borrow(), set(&["w1-l1", "w1-l2", "w2-l1", "w2-l2"]));
    Ok(())
}

// ---- nested nurseries and the task tree -----------------------------------------

#[trio::test]
async fn nested_nurseries_track_child_nurseries() -> trio::Result<()> {
    // test_task_nursery_stack
    let task = current_task();
    assert!(task.child_nurseries().is_empty());
    trio::open_nursery(async |n1| {
        assert_eq!(task.child_nurseries(), [n1.info()]);
        let r: trio::Result<Option<()>> = trio::open_nursery(async |n2| {
            assert_eq!(task.child_nurseries(), [n1.info(), n2.info()]);
            Err(err("KeyError"))
        })
        .await;
        assert_eq!(r.unwrap_err().to_string(), "KeyError");
        assert_eq!(task.child_nurseries(), [n1.info()]);
        Ok(())
    })
    .await?;
    assert!(task.child_nurseries().is_empty());
    Ok(())
}

/// Two nurseries open side by side in one task (polled by one hand-written
/// join): the older one closes first, and the task's list keeps the other.
#[trio::test]
async fn side_by_side_nurseries_leave_the_task_tree_in_any_order() -> trio::Result<()> {
    let task = current_task();
    let first_done = trio::sync::Event::new();
    let (infos, fd) = (RefCell::new(Vec::new()), &first_done);
    let infos = &infos;
    let first = std::pin::pin!(trio::open_nursery(async |n| {
        infos.borrow_mut().push(n.info());
        Ok(())
    }));
    let second = std::pin::pin!(trio::open_nursery(async |n| {
        infos.borrow_mut().push(n.info());
        fd.wait().await // stays open until the first has closed
    }));
    let (mut first, mut second) = (Some(first), Some(second));
    std::future::poll_fn(|cx| {
        use std::task::Poll;
        // `first` is polled first, so it is the older of the two (the tail of
        // the task's list), and it closes first: a removal behind the head.
        if let Some(f) = first.as_mut() {
            if let Poll::Ready(r) = f.as_mut().poll(cx) {
                r.unwrap();
                first = None;
                let open = task.child_nurseries();
                assert_eq!(open.len(), 1);
                assert_eq!(open[0], infos.borrow()[1]);
                fd.set();
            }
        }
        if let Some(f) = second.as_mut() {
            if let Poll::Ready(r) = f.as_mut().poll(cx) {
                r.unwrap();
                second = None;
            }
        }
        if first.is_none() && second.is_none() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    assert!(task.child_nurseries().is_empty());
    Ok(())
}

#[trio::test]
async fn error_in_inner_nursery_reaches_the_outer_one() {
    let outer_sibling = Cell::new(false);
    let os = &outer_sibling;
    let r = trio::open_nursery(async |outer| {
        outer.start_soon(async move {
            let e = trio::sleep_forever().await.unwrap_err();
            os.set(true);
            Err(e)
        })?;
        outer.start_soon(async {
            trio::open_nursery(async |inner| {
                inner.start_soon(async { Err(err("deep")) })?;
                trio::sleep_forever().await
            })
            .await
            .map(drop)
            .map(drop)
        })?;
        Ok(())
    })
    .await;
    assert!(outer_sibling.get(), "the outer sibling was cancelled");
    let e = r.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Other);
    assert_eq!(e.to_string(), "deep");
}

#[trio::test]
async fn current_task_parent_links() -> trio::Result<()> {
    // test_current_task
    let parent = current_task();
    let checked = Cell::new(false);
    let c = &checked;
    let p = &parent;
    trio::open_nursery(async |n| {
        let info = n.info();
        n.start_soon(async move {
            let me = current_task();
            assert_ne!(&me, p);
            let pn = me.parent_nursery().expect("a child has a parent nursery");
            assert_eq!(pn, info);
            assert_eq!(pn.parent_task().as_ref(), Some(p));
            assert!(pn.child_tasks().contains(&me));
            c.set(true);
            Ok(())
        })?;
        Ok(())
    })
    .await?;
    assert!(checked.get());
    Ok(())
}

#[trio::test]
async fn root_task() -> trio::Result<()> {
    // test_root_task
    let root = current_root_task();
    assert!(root.parent_nursery().is_none());
    let me = current_task();
    assert_ne!(root, me);
    // The main task lives in the system nursery, whose parent is the root task.
    let system = me
        .parent_nursery()
        .expect("the main task has a parent nursery");
    assert_eq!(system.parent_task(), Some(root.clone()));
    assert!(root.child_nurseries().contains(&system));
    // Walking up from any task ends at the root, with no error.
    trio::open_nursery(async |n| {
        n.start_soon(async {
            let mut t = current_task();
            let mut hops = 0;
            while let Some(nursery) = t.parent_nursery() {
                t = nursery
                    .parent_task()
                    .expect("every nursery has a parent task");
                hops += 1;
            }
            assert_eq!(t, current_root_task());
            assert_eq!(hops, 2); // child -> main -> root
            Ok(())
        })
    })
    .await?;
    Ok(())
}

#[trio::test]
async fn task_tree_introspection() -> trio::Result<()> {
    // test_task_tree_introspection (without the "upward links survive exit" part:
    // here a finished task reports no parent nursery, as documented).
    #[derive(Default)]
    struct Seen {
        parent: Option<Task>,
        child1: Option<Task>,
        child2: Option<Task>,
        parent_nursery: Option<trio::lowlevel::NurseryInfo>,
        child1_nursery: Option<trio::lowlevel::NurseryInfo>,
    }
    let seen = RefCell::new(Seen::default());
    let s = &seen;
    let child2 = move || async move {
        let me = current_task();
        s.borrow_mut().child2 = Some(me.clone());
        let seen = s.borrow();
        let parent = seen.parent.as_ref().unwrap();
        let child1 = seen.child1.as_ref().unwrap();
        let pn = seen.parent_nursery.as_ref().unwrap();
        let c1n = seen.child1_nursery.as_ref().unwrap();
        assert_eq!(parent.child_nurseries(), std::slice::from_ref(pn));
        assert_eq!(pn.child_tasks(), std::slice::from_ref(child1));
        assert_eq!(child1.child_nurseries(), std::slice::from_ref(c1n));
        assert_eq!(c1n.child_tasks(), std::slice::from_ref(&me));
        assert!(me.child_nurseries().is_empty());
        Ok(())
    };
    let child1 = move |status: trio::TaskStatus<()>| async move {
        let me = current_task();
        s.borrow_mut().child1 = Some(me.clone());
        {
            let seen = s.borrow();
            let before = me.parent_nursery().unwrap();
            // Before `started`, the child runs under start(): in a nursery of the
            // caller, not yet in the target nursery.
            assert_eq!(before.parent_task().as_ref(), seen.parent.as_ref());
            assert_ne!(Some(&before), seen.parent_nursery.as_ref());
        }
        status.started(());
        // Let start() return and move us.
        wait_all_tasks_blocked().await?;
        assert_eq!(
            me.parent_nursery().as_ref(),
            s.borrow().parent_nursery.as_ref()
        );
        trio::open_nursery(async |n| {
            s.borrow_mut().child1_nursery = Some(n.info());
            n.start_soon(child2())
        })
        .await
        .map(drop)
    };
    let parent = async move {
        let me = current_task();
        s.borrow_mut().parent = Some(me.clone());
        assert!(me.child_nurseries().is_empty());
        trio::open_nursery(async |n1| {
            trio::open_nursery(async |n2| {
                assert_eq!(me.child_nurseries(), [n1.info(), n2.info()]);
                Ok(())
            })
            .await
        })
        .await?;
        assert!(me.child_nurseries().is_empty());
        let pn = trio::open_nursery(async |n| {
            s.borrow_mut().parent_nursery = Some(n.info());
            n.start(async |st| child1(st).await).await?;
            Ok(n.info())
        })
        .await?
        .expect("the body returned");
        // Upward links of nurseries survive after they exit.
        assert!(pn.is_closed());
        assert_eq!(pn.parent_task(), Some(me));
        let seen = s.borrow();
        let c1n = seen.child1_nursery.as_ref().unwrap();
        assert!(c1n.is_closed());
        assert_eq!(c1n.parent_task().as_ref(), seen.child1.as_ref());
        // Finished tasks are no longer alive.
        assert!(!seen.child1.as_ref().unwrap().is_alive());
        assert!(!seen.child2.as_ref().unwrap().is_alive());
        Ok(())
    };
    trio::open_nursery(async |n| n.start_soon(parent)).await?;
    assert!(seen.borrow().child2.is_some());
    Ok(())
}

// ---- nursery passing and closing ------------------------------------------------

#[trio::test]
async fn nursery_passing_and_closed_nursery() -> trio::Result<()> {
    // test_nursery_closure: children may add siblings while the nursery waits for
    // them; once it has finished, it refuses new children.
    let record = RefCell::new(Vec::new());
    let kept: RefCell<Option<Nursery<'_>>> = RefCell::new(None);
    let r = &record;
    let k = &kept;
    trio::open_nursery(async |n| {
        *k.borrow_mut() = Some(n.clone());
        let handle = n.clone();
        n.start_soon(async move {
            r.borrow_mut().push("child1");
            checkpoint().await?;
            // The body has returned by now: the nursery is waiting in its exit.
            handle.start_soon(async move {
                checkpoint().await?;
                r.borrow_mut().push("child2");
                Ok(())
            })?;
            Ok(())
        })?;
        r.borrow_mut().push("body done");
        Ok(())
    })
    .await?;
    // The nursery waited for the sibling the child started.
    assert_eq!(*record.borrow(), ["body done", "child1", "child2"]);

    let n = kept.borrow_mut().take().unwrap();
    assert!(n.info().is_closed());
    let e = n.start_soon(async { Ok(()) }).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NurseryClosed);
    let e = n.start_soon_named("late", async { Ok(()) }).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NurseryClosed);
    let e = n.spawn(async { Ok(1) }).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NurseryClosed);
    let e = n
        .start(async |status: trio::TaskStatus<()>| {
            status.started(());
            Ok(())
        })
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NurseryClosed);
    Ok(())
}

#[trio::test]
async fn nursery_in_a_loop() -> trio::Result<()> {
    // test_nursery_stop_async_iteration, reduced: a nursery per iteration collects
    // values computed concurrently into a borrowed buffer.
    let mut result = Vec::new();
    for round in 0..3u32 {
        let items = RefCell::new([0u32; 2]);
        let it = &items;
        trio::open_nursery(async |n| {
            for i in 0..2 {
                n.start_soon(async move {
                    checkpoint().await?;
                    it.borrow_mut()[i] = round * 10 + i as u32;
                    Ok(())
                })?;
            }
            Ok(())
        })
        .await?;
        result.push(items.into_inner());
    }
    assert_eq!(result, [[0, 1], [10, 11], [20, 21]]);
    Ok(())
}

// ---- panics ---------------------------------------------------------------------

#[test]
fn child_panic_cancels_siblings_and_is_resumed_after_they_finish() {
    let record = RefCell::new(Vec::<String>::new());
    let r = &record;
    let res = catch_unwind(AssertUnwindSafe(|| {
        trio::run(async {
            let _: Option<()> = trio::open_nursery(async |n| {
                n.start_soon(async move {
                    let e = trio::sleep_forever().await.unwrap_err();
                    let source = e.cancelled().unwrap().source();
                    r.borrow_mut()
                        .push(format!("sibling cancelled by {source}"));
                    // Clean-up taking several checkpoints, shielded: the panic must
                    // wait for it.
                    CancelScope::new()
                        .shielded()
                        .run(async {
                            for _ in 0..3 {
                                checkpoint().await?;
                            }
                            Ok::<_, Error>(())
                        })
                        .await?;
                    r.borrow_mut().push("sibling cleaned up".into());
                    Err(e)
                })?;
                n.start_soon(async move {
                    wait_all_tasks_blocked().await?;
                    r.borrow_mut().push("panicking".into());
                    panic!("child panic");
                })?;
                let e = trio::sleep_forever().await.unwrap_err();
                r.borrow_mut().push("body cancelled".into());
                Err(e)
            })
            .await?;
            r.borrow_mut().push("after nursery".into());
            Ok(())
        })
    }));
    let payload = res.expect_err("the child's panic is resumed by trio::run");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"child panic"));
    let rec = record.borrow();
    assert_eq!(rec[0], "panicking");
    let rest: HashSet<&str> = rec[1..].iter().map(String::as_str).collect();
    assert_eq!(
        rest,
        HashSet::from([
            "sibling cancelled by nursery",
            "sibling cleaned up",
            "body cancelled"
        ])
    );
    assert!(!rec.iter().any(|s| s == "after nursery"));
}

#[test]
fn body_panic_cancels_children_and_is_resumed_after_they_finish() {
    let record = RefCell::new(Vec::<&str>::new());
    let r = &record;
    let res = catch_unwind(AssertUnwindSafe(|| {
        trio::run(async {
            let _: Option<()> = trio::open_nursery(async |n| {
                for _ in 0..2 {
                    n.start_soon(async move {
                        let e = trio::sleep_forever().await.unwrap_err();
                        checkpoint().await.unwrap_err(); // still cancelled
                        CancelScope::new().shielded().run(checkpoint()).await?;
                        r.borrow_mut().push("child finished");
                        Err(e)
                    })?;
                }
                wait_all_tasks_blocked().await?;
                panic!("body panic");
            })
            .await?;
            Ok(())
        })
    }));
    let payload = res.expect_err("the body's panic is resumed");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"body panic"));
    assert_eq!(*record.borrow(), ["child finished", "child finished"]);
}

#[test]
fn panic_and_error_together_resume_the_panic() {
    let res = catch_unwind(AssertUnwindSafe(|| {
        trio::run(async {
            trio::open_nursery(async |n| {
                n.start_soon(async { Err(err("plain error")) })?;
                n.start_soon(async {
                    checkpoint().await.ok();
                    panic!("{}", String::from("formatted panic"));
                })?;
                Ok(())
            })
            .await
        })
    }));
    let payload = res.expect_err("a panic wins over errors");
    assert_eq!(
        payload.downcast_ref::<String>().map(String::as_str),
        Some("formatted panic")
    );
}

// ---- borrowing ------------------------------------------------------------------

#[trio::test]
async fn children_borrow_from_the_enclosing_scope() -> trio::Result<()> {
    let log = RefCell::new(Vec::new());
    let greeting = String::from("hello");
    let mut data = vec![0u32; 6];
    {
        let (left, right) = data.split_at_mut(3);
        let log = &log;
        let greeting = greeting.as_str();
        trio::open_nursery(async move |n| {
            // Disjoint &mut borrows handed to two children.
            n.start_soon(async move {
                for x in left.iter_mut() {
                    checkpoint().await?;
                    *x += 1;
                }
                log.borrow_mut().push(format!("{greeting} from left"));
                Ok(())
            })?;
            n.start_soon(async move {
                for x in right.iter_mut() {
                    *x += 10;
                    checkpoint().await?;
                }
                log.borrow_mut().push(format!("{greeting} from right"));
                Ok(())
            })?;
            Ok(())
        })
        .await?;
    }
    assert_eq!(data, [1, 1, 1, 10, 10, 10]);
    let mut log = log.into_inner();
    log.sort();
    assert_eq!(log, ["hello from left", "hello from right"]);
    Ok(())
}

#[trio::test]
async fn children_coordinate_through_borrowed_event() -> trio::Result<()> {
    let ev = Event::default();
    let order = RefCell::new(Vec::new());
    let (e, o) = (&ev, &order);
    trio::open_nursery(async |n| {
        for i in 0..3 {
            n.start_soon(async move {
                e.wait().await?;
                o.borrow_mut().push(i);
                Ok(())
            })?;
        }
        wait_all_tasks_blocked().await?;
        assert!(o.borrow().is_empty());
        e.set();
        Ok(())
    })
    .await?;
    let mut got = order.into_inner();
    got.sort();
    assert_eq!(got, [0, 1, 2]);
    Ok(())
}

// ---- spawn / TaskHandle ---------------------------------------------------------

#[trio::test]
async fn spawn_join_returns_the_value() -> trio::Result<()> {
    trio::open_nursery(async |n| {
        let mut h = n.spawn(async {
            checkpoint().await?;
            Ok(String::from("value"))
        })?;
        assert!(!h.is_finished());
        assert_eq!(h.join().await?, "value");
        assert!(h.is_finished());
        let again = h.join().await.unwrap_err();
        assert_eq!(again.kind(), ErrorKind::Usage);
        Ok(())
    })
    .await?;
    Ok(())
}

#[trio::test(autojump)]
async fn spawn_cancel_cancels_that_child_alone() -> trio::Result<()> {
    let cancelled = Cell::new(false);
    let c = &cancelled;
    trio::open_nursery(async |n| {
        let mut forever = n.spawn(async move {
            let r = trio::sleep_forever().await;
            c.set(r.is_err());
            r
        })?;
        let mut sibling = n.spawn(async {
            trio::sleep(Duration::from_secs(1)).await?;
            Ok(5)
        })?;
        wait_all_tasks_blocked().await?;
        forever.cancel();
        let e = forever.join().await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::TaskCancelled);
        assert!(cancelled.get());
        // The sibling and the body are not affected.
        assert!(!sibling.is_finished());
        assert_eq!(sibling.join().await?, 5);
        assert!(!n.cancel_scope().cancel_called());
        checkpoint().await?;
        Ok(())
    })
    .await?;
    Ok(())
}

#[trio::test]
async fn spawn_failed_child_reports_task_failed_and_error_reaches_nursery() {
    let mut handle = None;
    let h = &mut handle;
    let sibling_cancelled = Cell::new(false);
    let sc = &sibling_cancelled;
    let r = trio::open_nursery(async |n| {
        n.start_soon(async move {
            let r = trio::sleep_forever().await;
            sc.set(r.is_err());
            r
        })?;
        *h = Some(n.spawn(async {
            checkpoint().await?;
            Err::<u32, _>(err("child failed"))
        })?);
        Ok(())
    })
    .await;
    // The error went to the nursery (cancelling the sibling)...
    assert!(sibling_cancelled.get());
    let e = r.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Other);
    assert_eq!(e.to_string(), "child failed");
    // ...and the handle reports TaskFailed.
    let mut handle = handle.unwrap();
    assert!(handle.is_finished());
    let je = handle.join().await.unwrap_err();
    assert_eq!(je.kind(), ErrorKind::TaskFailed);
    assert!(je.to_string().contains("child failed"), "{je}");
}

#[trio::test]
async fn join_is_a_checkpoint_and_keeps_the_value_when_cancelled() -> trio::Result<()> {
    trio::open_nursery(async |n| {
        let mut h = n.spawn(async { Ok(7) })?;
        wait_all_tasks_blocked().await?;
        assert!(h.is_finished());
        let scope = CancelScope::new();
        scope.cancel();
        let r = scope.run(h.join()).await?;
        assert_eq!(r, None);
        assert!(scope.cancelled_caught());
        assert_eq!(h.join().await?, 7);
        Ok(())
    })
    .await?;
    Ok(())
}

// ---- task names -----------------------------------------------------------------

async fn record_name(out: &RefCell<Vec<String>>) -> trio::Result<()> {
    out.borrow_mut().push(current_task().name().to_string());
    Ok(())
}

#[trio::test]
async fn task_names() -> trio::Result<()> {
    // test_spawn_name
    let names = RefCell::new(Vec::new());
    let out = &names;
    let system_name = std::rc::Rc::new(RefCell::new(String::new()));
    trio::open_nursery(async |n| {
        n.start_soon(record_name(out))?;
        n.start_soon_named("explicit", record_name(out))?;
        n.start_soon_named(format!("worker-{}", 7), record_name(out))?;
        let h = n.spawn_named("compute", async { Ok(1) })?;
        assert_eq!(h.task().name(), "compute");
        let h2 = n.spawn(async { Ok(2) })?;
        assert!(
            h2.task().name().contains("task_names"),
            "{}",
            h2.task().name()
        );
        n.start_named("starter", async |status: trio::TaskStatus<()>| {
            status.started(());
            record_name(out).await
        })
        .await?;
        let sn = system_name.clone();
        let t = spawn_system_task("system-task", async move {
            *sn.borrow_mut() = current_task().name().to_string();
            Ok(())
        })?;
        assert_eq!(t.name(), "system-task");
        Ok(())
    })
    .await?;
    wait_all_tasks_blocked().await?;
    assert_eq!(*system_name.borrow(), "system-task");
    let names = names.into_inner();
    assert_eq!(names.len(), 4, "{names:?}");
    // The default name comes from the future's type: the async fn's path.
    assert!(
        names.iter().any(|n| n.ends_with("record_name")),
        "default name from the type: {names:?}"
    );
    for want in ["explicit", "worker-7", "starter"] {
        assert!(names.iter().any(|n| n == want), "{want} in {names:?}");
    }
    Ok(())
}

// ---- the nursery's exit ---------------------------------------------------------

#[trio::test]
async fn nursery_exit_does_not_check_for_cancellation() -> trio::Result<()> {
    // test_trivial_yields (current Trio): "opening and closing a nursery schedules,
    // but doesn't check for cancellation (unless something inside the nursery does)"
    let cs = CancelScope::new();
    let r = cs
        .run(async {
            cs.cancel();
            trio::open_nursery(async |_n| Ok(())).await?;
            trio::open_nursery(async |n| n.start_soon(async { Ok(()) })).await?;
            Ok::<_, Error>("no checkpoint inside")
        })
        .await?;
    assert_eq!(r, Some("no checkpoint inside"));
    assert!(!cs.cancelled_caught());
    // A failing body in a cancelled scope: the error alone, no Cancelled added.
    let cs = CancelScope::new();
    let r = cs
        .run(async {
            cs.cancel();
            trio::open_nursery(async |_n| Err::<(), _>(err("KeyError"))).await
        })
        .await;
    let e = r.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Other);
    assert_eq!(e.to_string(), "KeyError");
    Ok(())
}

#[test]
fn empty_nursery_exit_is_a_schedule_point() {
    // test_trivial_yields: `task._schedule_points` grows across an empty nursery.
    // Observable here: the main task is stepped once more by the run loop.
    struct MainSteps(Cell<usize>);
    impl trio::lowlevel::Instrument for MainSteps {
        fn before_task_step(&self, task: &trio::lowlevel::Task) {
            if task.name() == "<main>" {
                self.0.set(self.0.get() + 1);
            }
        }
    }
    let steps = std::rc::Rc::new(MainSteps(Cell::new(0)));
    let s = steps.clone();
    trio::Runtime::builder()
        .instrument(steps.clone())
        .build()
        .run(async move {
            let before = s.0.get();
            trio::open_nursery(async |_n| Ok(())).await?;
            assert_eq!(
                s.0.get(),
                before + 1,
                "leaving an empty nursery yields once"
            );
            Ok::<_, trio::Error>(())
        })
        .unwrap();
}

// ---- the nursery's own scope, as Trio's: `cancelled_caught`, and leaving quietly ----

// A failing child cancels a sleeping sibling: the nursery's scope caught that
// cancellation (Trio: `nursery.cancel_scope.cancelled_caught` is true).
#[trio::test]
async fn nursery_scope_reports_the_cancellation_a_failing_child_caused() -> trio::Result<()> {
    let mut scope = None;
    let r = trio::open_nursery(async |n| {
        scope = Some(n.cancel_scope());
        n.start_soon(trio::sleep_forever())?;
        n.start_soon(async {
            checkpoint().await?;
            Err(err("ValueError"))
        })?;
        Ok(())
    })
    .await;
    assert_eq!(r.unwrap_err().to_string(), "ValueError");
    assert!(scope.unwrap().cancelled_caught());
    Ok(())
}

// Cancelling the nursery's scope stops a sleeping child: caught, as in Trio.
#[trio::test]
async fn nursery_scope_reports_an_explicit_cancel_it_caught() -> trio::Result<()> {
    let mut scope = None;
    let out = trio::open_nursery(async |n| {
        scope = Some(n.cancel_scope());
        n.start_soon(trio::sleep_forever())?;
        wait_all_tasks_blocked().await?;
        n.cancel_scope().cancel();
        Ok("body done")
    })
    .await?;
    assert_eq!(out, Some("body done"));
    assert!(scope.unwrap().cancelled_caught());
    Ok(())
}

// A cancelled nursery with nothing to cancel caught nothing (Trio: false).
#[trio::test]
async fn nursery_scope_cancelled_without_a_checkpoint_caught_nothing() -> trio::Result<()> {
    let mut scope = None;
    let out = trio::open_nursery(async |n| {
        scope = Some(n.cancel_scope());
        n.cancel_scope().cancel();
        Ok(())
    })
    .await?;
    assert_eq!(out, Some(()));
    let scope = scope.unwrap();
    assert!(scope.cancel_called() && !scope.cancelled_caught());
    Ok(())
}

// The idiomatic stop: cancel the nursery's scope while the body is blocked. The
// body's `?` hands the cancellation to the nursery, which swallows it: the block
// just exits (`Ok(None)`), and the code after it runs, as after Trio's
// `async with`.
#[trio::test]
async fn a_nursery_stopped_by_its_own_scope_just_exits() -> trio::Result<()> {
    let after = Cell::new(false);
    let out: Option<u32> = trio::open_nursery(async |n| {
        n.start_soon(trio::sleep_forever())?;
        let scope = n.cancel_scope();
        n.start_soon(async move {
            wait_all_tasks_blocked().await?;
            scope.cancel();
            Ok(())
        })?;
        trio::sleep_forever().await?; // Err(Cancelled), passed on with `?`
        Ok(1)
    })
    .await?; // no stray `Cancelled` comes out here
    after.set(true);
    assert_eq!(out, None);
    assert!(after.get());
    // The task is not cancelled any more: it goes on checkpointing normally.
    checkpoint().await?;
    Ok(())
}

// The stray cancellation used to escape, end the whole run as an error that no
// scope caught, and skip cancelling the siblings of the nursery's parent on the way.
#[test]
fn a_nested_self_stopping_nursery_does_not_end_the_run() {
    let sibling_ran_on = Cell::new(false);
    let s = &sibling_ran_on;
    let r = trio::run(async {
        trio::open_nursery(async |outer| {
            outer.start_soon(async move {
                // The inner nursery stops itself; its parent task goes on.
                trio::open_nursery(async |inner| {
                    inner.cancel_scope().cancel();
                    trio::sleep_forever().await
                })
                .await?;
                checkpoint().await?;
                s.set(true);
                Ok(())
            })?;
            Ok(())
        })
        .await?;
        Ok(7)
    });
    assert_eq!(r.unwrap(), 7);
    assert!(sibling_ran_on.get());
}

// A cancellation that belongs to an enclosing scope is not the nursery's to catch:
// it goes on up, and the nursery's scope caught nothing.
#[trio::test]
async fn an_enclosing_cancellation_passes_through_the_nursery() -> trio::Result<()> {
    let outer = CancelScope::new();
    let mut inner_scope = None;
    let r = outer
        .run(async {
            trio::open_nursery(async |n| {
                inner_scope = Some(n.cancel_scope());
                n.cancel_scope().cancel();
                outer.cancel();
                trio::sleep_forever().await
            })
            .await
        })
        .await?;
    assert_eq!(r, None, "the outer scope caught it");
    assert!(outer.cancelled_caught());
    assert!(!inner_scope.unwrap().cancelled_caught());
    Ok(())
}

// `Cancelled::source_task`: the failing child (Trio: `source_task` is the child
// that raised), or the parent task when the body failed.
#[trio::test]
async fn cancellations_name_the_task_that_caused_them() -> trio::Result<()> {
    let seen = RefCell::new(Vec::new());
    let s = &seen;
    let record = move || async move {
        let e = trio::sleep_forever().await.unwrap_err();
        let c = e.cancelled().unwrap();
        s.borrow_mut()
            .push((c.source(), c.source_task().map(|t| t.name().to_string())));
        Err(e)
    };
    let r = trio::open_nursery(async |n| {
        n.start_soon_named("sleeper", record())?;
        wait_all_tasks_blocked().await?;
        n.start_soon_named("failing", async { Err(err("boom")) })?;
        Ok(())
    })
    .await;
    assert_eq!(r.unwrap_err().to_string(), "boom");
    let me = current_task().name().to_string();
    let r = trio::open_nursery(async |n| {
        n.start_soon_named("sleeper", record())?;
        wait_all_tasks_blocked().await?;
        Err::<(), _>(err("body failed"))
    })
    .await;
    assert_eq!(r.unwrap_err().to_string(), "body failed");
    assert_eq!(
        *seen.borrow(),
        [
            (CancelSource::Nursery, Some("failing".to_string())),
            (CancelSource::Nursery, Some(me)),
        ]
    );
    Ok(())
}

// System tasks are told why they are cancelled at the end of the run (Trio:
// "main task done, shutting down system tasks", from the main task).
#[test]
fn system_tasks_get_a_reason_for_the_shutdown_cancellation() {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(None));
    let s = seen.clone();
    trio::run(async move {
        spawn_system_task("watcher", async move {
            let e = trio::sleep_forever().await.unwrap_err();
            let c = e.cancelled().unwrap().clone();
            *s.lock().unwrap() = Some(c);
            Err(e)
        })?;
        wait_all_tasks_blocked().await?;
        Ok(())
    })
    .unwrap();
    let c = seen
        .lock()
        .unwrap()
        .take()
        .expect("the system task was cancelled");
    assert_eq!(c.source(), CancelSource::Shutdown);
    assert_eq!(
        c.reason(),
        Some("the main task finished: shutting down system tasks")
    );
    assert_eq!(c.source_task().map(|t| t.name()), Some("<main>"));
}
