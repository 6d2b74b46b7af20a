// Ported from Python Trio's `trio/_tests/test_threads.py` (the `from_thread` half):
// `test_do_in_trio_thread`, `test_do_in_trio_thread_from_trio_thread`,
// `test_await_in_trio_thread_while_main_exits`, `test_trio_from_thread_run_sync`,
// `test_trio_from_thread_run`, `test_trio_from_thread_token`,
// `test_trio_from_thread_token_kwarg`, `test_from_thread_no_token`,
// `test_from_thread_inside_trio_thread`, `test_from_thread_run_during_shutdown`,
// `test_from_thread_reuses_task`, `test_recursive_to_thread`,
// `test_from_thread_host_cancelled`, `test_from_thread_check_cancelled_no_abandon`,
// `test_from_thread_check_cancelled_abandon_on_cancel`,
// `test_from_thread_check_cancelled_raises_in_foreign_threads`,
// `test_reentry_doesnt_deadlock`.
//
// Not ported: `test_run_in_trio_thread_ki` (KeyboardInterrupt delivery),
// `test_run_fn_as_system_task_caught_badly_typed_token`, the "passed an async
// function to run_sync" cases (ruled out by the types), the contextvars tests,
// `test_trio_token_weak_referenceable`.
//
// Rust mapping: Python exceptions raised by the called function are panics here
// (resumed in the calling thread) or `Err` values returned through. Trio objects
// that are not `Send` (cancel scopes, events) are reached from `from_thread`
// closures through a thread-local of the loop thread, since those closures run
// there.
//
// Plus: `from_thread` from 100 threads at once, both ways; `RunFinished` after the
// run has ended, also for an abandoned worker.

use std::cell::RefCell;
use std::sync::mpsc;
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::Duration;

use trio::lowlevel::{checkpoint, current_task, current_trio_token, spawn_system_task};
use trio::sync::CapacityLimiter;
use trio::testing::wait_all_tasks_blocked;
use trio::to_thread::{self, Builder};
use trio::{CancelScope, ErrorKind, from_thread};

thread_local! {
    /// A cancel scope of the current test, reachable from `from_thread` closures
    /// (they run on the loop thread).
    static SCOPE: RefCell<Option<CancelScope>> = const { RefCell::new(None) };
}

fn cancel_the_scope() {
    SCOPE.with(|s| s.borrow().as_ref().expect("scope set").cancel());
}

/// Waits, without blocking the loop, for a plain thread to finish.
async fn join<T: Send + 'static>(t: thread::JoinHandle<T>) -> trio::Result<T> {
    to_thread::run_sync(move || t.join().expect("thread panicked")).await
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

#[trio::test]
async fn do_in_trio_thread() -> trio::Result<()> {
    // test_do_in_trio_thread: from a foreign thread, with a token.
    let trio_thread = thread::current().id();
    let token = current_trio_token();

    type Record = Arc<Mutex<Vec<String>>>;
    fn start(record: &Record) {
        record
            .lock()
            .unwrap()
            .push(format!("start {:?}", thread::current().id()));
    }

    // run_sync_with_token, returning.
    let record: Record = Arc::default();
    let (r, t) = (record.clone(), token.clone());
    let child = thread::spawn(move || {
        start(&r);
        let r2 = r.clone();
        let x = from_thread::run_sync_with_token(&t, move || {
            r2.lock()
                .unwrap()
                .push(format!("f {:?}", thread::current().id()));
            2
        });
        r.lock().unwrap().push(format!("got {}", x.unwrap()));
        thread::current().id()
    });
    let child_id = join(child).await?;
    assert_eq!(
        *record.lock().unwrap(),
        [
            format!("start {child_id:?}"),
            format!("f {trio_thread:?}"),
            "got 2".into()
        ]
    );

    // run_sync_with_token, panicking: the panic reaches the calling thread.
    let t = token.clone();
    let child = thread::spawn(move || {
        std::panic::catch_unwind(move || {
            from_thread::run_sync_with_token(&t, || -> u8 { panic!("ValueError") })
        })
        .map_err(|p| panic_message(&*p))
    });
    assert_eq!(join(child).await?.unwrap_err(), "ValueError");

    // run_with_token, returning after a checkpoint.
    let t = token.clone();
    let child = thread::spawn(move || {
        from_thread::run_with_token(&t, || async {
            checkpoint().await?;
            Ok(thread::current().id())
        })
    });
    assert_eq!(join(child).await??, trio_thread);

    // run_with_token, panicking after a checkpoint.
    let t = token.clone();
    let child = thread::spawn(move || {
        std::panic::catch_unwind(move || {
            from_thread::run_with_token(&t, || async {
                checkpoint().await?;
                if true {
                    panic!("KeyError");
                }
                Ok(())
            })
        })
        .map_err(|p| panic_message(&*p))
    });
    assert_eq!(join(child).await?.unwrap_err(), "KeyError");

    // run_with_token, failing: the error comes back as a value.
    let t = token.clone();
    let child = thread::spawn(move || {
        from_thread::run_with_token(&t, || async {
            Err::<(), _>(trio::Error::new(ErrorKind::Other, "KeyError"))
        })
    });
    assert_eq!(join(child).await?.unwrap_err().to_string(), "KeyError");
    Ok(())
}

#[trio::test]
async fn do_in_trio_thread_from_trio_thread() -> trio::Result<()> {
    // test_do_in_trio_thread_from_trio_thread / test_from_thread_no_token /
    // test_from_thread_inside_trio_thread: it would deadlock, so it is refused.
    assert_eq!(
        from_thread::run_sync(|| ()).unwrap_err().kind(),
        ErrorKind::Usage
    );
    assert_eq!(
        from_thread::run(|| async { Ok(()) }).unwrap_err().kind(),
        ErrorKind::Usage
    );
    let token = current_trio_token();
    let not_called = || -> () { unreachable!("must not run") };
    assert_eq!(
        from_thread::run_sync_with_token(&token, not_called)
            .unwrap_err()
            .kind(),
        ErrorKind::Usage
    );
    assert_eq!(
        from_thread::run_with_token(&token, || async { Ok(()) })
            .unwrap_err()
            .kind(),
        ErrorKind::Usage
    );
    // Also from a loop callback (on the loop thread, outside any task).
    let (tx, rx) = mpsc::channel();
    let t = token.clone();
    token.run_sync_soon(move || {
        tx.send(from_thread::run_sync_with_token(&t, || ()).map_err(|e| e.kind()))
            .unwrap();
    })?;
    wait_all_tasks_blocked().await?;
    checkpoint().await?;
    let r = to_thread::run_sync(move || rx.recv_timeout(Duration::from_secs(10)).unwrap()).await?;
    assert_eq!(r, Err(ErrorKind::Usage));
    Ok(())
}

#[test]
fn from_thread_no_token_in_a_foreign_thread() {
    // test_from_thread_no_token, from a thread trio did not start.
    let e = thread::spawn(|| from_thread::run_sync(|| ()).unwrap_err().kind())
        .join()
        .unwrap();
    assert_eq!(e, ErrorKind::Usage);
    let e = thread::spawn(|| from_thread::run(|| async { Ok(()) }).unwrap_err().kind())
        .join()
        .unwrap();
    assert_eq!(e, ErrorKind::Usage);
}

#[test]
fn await_in_trio_thread_while_main_exits() {
    // test_await_in_trio_thread_while_main_exits: a system task still running when
    // main returns is cancelled, and the thread gets the `Cancelled`.
    let record = Arc::new(Mutex::new(Vec::new()));
    let (rec, rec_main) = (record.clone(), record.clone());
    let thread = trio::run(async move {
        let token = current_trio_token();
        let (started_tx, started_rx) = mpsc::channel();
        let thread = thread::spawn(move || {
            let rec2 = rec.clone();
            let r = from_thread::run_with_token(&token, move || async move {
                rec2.lock().unwrap().push("sleeping");
                started_tx.send(()).unwrap();
                trio::sleep_forever().await
            });
            if r.unwrap_err().is_cancelled() {
                rec.lock().unwrap().push("cancelled");
            }
        });
        to_thread::run_sync(move || started_rx.recv().unwrap()).await?;
        assert_eq!(*rec_main.lock().unwrap(), ["sleeping"]);
        Ok(thread)
    })
    .unwrap();
    thread.join().unwrap();
    assert_eq!(*record.lock().unwrap(), ["sleeping", "cancelled"]);
}

#[trio::test]
async fn from_thread_run_sync() -> trio::Result<()> {
    // test_trio_from_thread_run_sync: the token is handed to the worker.
    let before = trio::current_time();
    let trio_time = to_thread::run_sync(|| from_thread::run_sync(trio::current_time)).await??;
    assert!(trio_time >= before && trio_time <= trio::current_time());
    Ok(())
}

#[trio::test]
async fn from_thread_run() -> trio::Result<()> {
    // test_trio_from_thread_run
    let record = Arc::new(Mutex::new(Vec::new()));
    let r = record.clone();
    to_thread::run_sync(move || {
        r.lock().unwrap().push("in thread");
        let r2 = r.clone();
        from_thread::run(move || async move {
            trio::current_time(); // we are in trio
            checkpoint().await?;
            r2.lock().unwrap().push("back in trio");
            Ok(())
        })
    })
    .await??;
    assert_eq!(*record.lock().unwrap(), ["in thread", "back in trio"]);
    Ok(())
}

#[trio::test]
async fn from_thread_token() -> trio::Result<()> {
    // test_trio_from_thread_token / test_trio_from_thread_token_kwarg
    let caller = current_trio_token();
    let callee = to_thread::run_sync(|| from_thread::run_sync(current_trio_token)).await??;
    assert_eq!(callee, caller);
    let t = caller.clone();
    let callee =
        to_thread::run_sync(move || from_thread::run_sync_with_token(&t, current_trio_token))
            .await??;
    assert_eq!(callee, caller);
    Ok(())
}

#[test]
fn from_thread_run_during_shutdown() {
    // test_from_thread_run_during_shutdown. A system task, shielded while the run
    // shuts down, goes through a thread back into trio.
    //
    // Host-task variant: the call runs in the waiting (shielded) task: "clean".
    // Token variant: the call runs in a new system task. Trio's asyncgen finalizer
    // runs after the system nursery has closed and gets `RunFinishedError`; here the
    // system nursery is still open (our task is in it), and a system task started
    // while the run shuts down starts cancelled: the call reports `Cancelled`.
    for use_system_task in [false, true] {
        let record = Arc::new(Mutex::new(Vec::new()));
        let rec = record.clone();
        trio::run(async move {
            let token = use_system_task.then(current_trio_token);
            spawn_system_task("shutdown-worker", async move {
                let e = trio::sleep_forever().await.unwrap_err();
                assert!(e.is_cancelled());
                let r = CancelScope::new()
                    .shielded()
                    .run(to_thread::run_sync(move || {
                        let zero = || async { trio::sleep(Duration::ZERO).await };
                        match &token {
                            Some(t) => from_thread::run_with_token(t, zero),
                            None => from_thread::run(zero),
                        }
                    }))
                    .await?
                    .expect("shielded");
                rec.lock().unwrap().push(match r {
                    Ok(()) => "clean".to_string(),
                    Err(e) => format!("{:?}", e.kind()),
                });
                Ok(())
            })?;
            Ok(())
        })
        .unwrap();
        let expected = if use_system_task {
            "Cancelled"
        } else {
            "clean"
        };
        assert_eq!(*record.lock().unwrap(), [expected]);
    }
}

#[trio::test]
async fn from_thread_reuses_task() -> trio::Result<()> {
    // test_from_thread_reuses_task (tasks are not `Send`: compare their ids)
    let task = current_task().id();
    let seen = to_thread::run_sync(|| from_thread::run_sync(|| current_task().id())).await??;
    assert_eq!(seen, task);
    let seen =
        to_thread::run_sync(|| from_thread::run(|| async { Ok(current_task().id()) })).await??;
    assert_eq!(seen, task);

    // With abandon_on_cancel the code runs elsewhere: in a system task for `run`,
    // outside any task for `run_sync`.
    let seen = Builder::new()
        .abandon_on_cancel(true)
        .run_sync(|| from_thread::run(|| async { Ok(current_task().id()) }))
        .await??;
    assert_ne!(seen, task);
    let outside = Builder::new()
        .abandon_on_cancel(true)
        .run_sync(|| from_thread::run_sync(|| trio::lowlevel::try_current_task().is_none()))
        .await??;
    assert!(outside);
    Ok(())
}

#[trio::test]
async fn recursive_to_thread() -> trio::Result<()> {
    // test_recursive_to_thread
    let (outer, inner) = to_thread::run_sync(|| {
        let outer = thread::current().id();
        let inner =
            from_thread::run(|| async { to_thread::run_sync(|| thread::current().id()).await });
        (outer, inner)
    })
    .await?;
    assert_ne!(outer, inner?);
    Ok(())
}

#[trio::test]
async fn from_thread_host_cancelled() -> trio::Result<()> {
    // test_from_thread_host_cancelled
    let (q_tx, q_rx) = mpsc::channel::<bool>();
    let q_rx = Arc::new(Mutex::new(q_rx));
    let queue_get = |q_rx: &Arc<Mutex<mpsc::Receiver<bool>>>| {
        let q = q_rx.clone();
        to_thread::run_sync(move || {
            q.lock()
                .unwrap()
                .recv_timeout(Duration::from_secs(10))
                .unwrap()
        })
    };

    // sync_check: a synchronous function never sees the cancellation.
    let sync_check = |q: mpsc::Sender<bool>| {
        move || {
            from_thread::run_sync(cancel_the_scope).unwrap();
            let r = from_thread::run_sync(|| true);
            q.send(r.is_err()).unwrap(); // sync functions don't get Cancelled
        }
    };

    for abandon in [false, true] {
        let scope = CancelScope::new();
        SCOPE.with(|s| *s.borrow_mut() = Some(scope.clone()));
        scope
            .run(
                Builder::new()
                    .abandon_on_cancel(abandon)
                    .run_sync(sync_check(q_tx.clone())),
            )
            .await?;
        // Without abandoning, the call returned normally (no checkpoint after the
        // cancel); with it, the call was abandoned and the scope caught that.
        assert_eq!(scope.cancelled_caught(), abandon);
        assert!(!queue_get(&q_rx).await?);
    }

    // async_check: a future without checkpoints doesn't see it either.
    let async_check = |q: mpsc::Sender<bool>| {
        move || {
            from_thread::run_sync(cancel_the_scope).unwrap();
            let r = from_thread::run(|| async { Ok(true) });
            q.send(r.is_err()).unwrap();
        }
    };
    for abandon in [false, true] {
        let scope = CancelScope::new();
        SCOPE.with(|s| *s.borrow_mut() = Some(scope.clone()));
        scope
            .run(
                Builder::new()
                    .abandon_on_cancel(abandon)
                    .run_sync(async_check(q_tx.clone())),
            )
            .await?;
        assert_eq!(scope.cancelled_caught(), abandon);
        assert!(!queue_get(&q_rx).await?);
    }

    // async_time_bomb: a future in the host task that cancels the host's scope
    // sees the cancellation at its next checkpoint (long before its own 10 s
    // deadline), and the `Cancelled` travels back through the thread to the scope.
    let scope = CancelScope::new();
    SCOPE.with(|s| *s.borrow_mut() = Some(scope.clone()));
    scope
        .run(async {
            to_thread::run_sync(|| {
                from_thread::run(|| async {
                    cancel_the_scope();
                    trio::fail_after(Duration::from_secs(10), trio::sleep_forever()).await
                })
            })
            .await?
        })
        .await?;
    assert!(scope.cancelled_caught());
    Ok(())
}

#[trio::test]
async fn from_thread_check_cancelled_no_abandon() -> trio::Result<()> {
    // test_from_thread_check_cancelled_no_abandon, both parametrizations.
    for cancel_it in [false, true] {
        let (q_tx, q_rx) = mpsc::channel::<String>();
        let (ev_tx, ev_rx) = mpsc::channel::<()>();
        let record = RefCell::new(Vec::<String>::new());
        let scope = CancelScope::new();
        let (rec, sc) = (&record, &scope);
        trio::open_nursery(async |n| {
            n.start_soon(async move {
                sc.run(async {
                    rec.borrow_mut().push("start".into());
                    let r = to_thread::run_sync(move || {
                        q_tx.send(match from_thread::check_cancelled() {
                            Err(e) => e.to_string(),
                            Ok(()) => "Not Cancelled".into(),
                        })
                        .unwrap();
                        ev_rx.recv().unwrap();
                        from_thread::check_cancelled()
                    })
                    .await;
                    let r = match r {
                        Ok(Err(e)) => {
                            rec.borrow_mut().push(e.to_string());
                            Err(e)
                        }
                        other => other.map(drop),
                    };
                    rec.borrow_mut().push("exit".into());
                    r
                })
                .await
                .map(drop)
            })?;
            wait_all_tasks_blocked().await?;
            assert_eq!(record.borrow()[0], "start");
            let first =
                to_thread::run_sync(move || q_rx.recv_timeout(Duration::from_secs(10)).unwrap())
                    .await?;
            assert_eq!(first, "Not Cancelled");
            if cancel_it {
                scope.cancel();
                // Trio delivers the cancellation to the waiting task inside
                // `cancel()`; here the task notices it when next scheduled.
                wait_all_tasks_blocked().await?;
            }
            ev_tx.send(()).unwrap();
            Ok(())
        })
        .await?;
        if !cancel_it {
            assert_eq!(*record.borrow(), ["start", "exit"]);
        } else {
            assert!(scope.cancelled_caught());
            let by_main = format!(
                "cancelled (explicit, from task \"<main>\" #{})",
                trio::lowlevel::current_task().id()
            );
            assert_eq!(*record.borrow(), ["start", &by_main, "exit"]);
        }
    }
    Ok(())
}

#[trio::test]
async fn from_thread_check_cancelled_abandon_on_cancel() -> trio::Result<()> {
    // test_from_thread_check_cancelled_abandon_on_cancel
    let (q_tx, q_rx) = mpsc::channel::<String>();
    let (ev_tx, ev_rx) = mpsc::channel::<()>();
    let record = RefCell::new(Vec::<String>::new());
    let scope = CancelScope::new();
    let (rec, sc) = (&record, &scope);
    trio::open_nursery(async |n| {
        n.start_soon(async move {
            sc.run(async {
                rec.borrow_mut().push("start".into());
                let r = Builder::new()
                    .abandon_on_cancel(true)
                    .run_sync(move || {
                        ev_rx.recv().unwrap();
                        q_tx.send(match from_thread::check_cancelled() {
                            Err(e) => e.to_string(),
                            Ok(()) => "Not Cancelled".into(),
                        })
                        .unwrap();
                    })
                    .await;
                if let Err(e) = &r {
                    rec.borrow_mut().push(e.to_string());
                }
                rec.borrow_mut().push("exit".into());
                r
            })
            .await
            .map(drop)
        })?;
        wait_all_tasks_blocked().await?;
        assert_eq!(record.borrow()[0], "start");
        scope.cancel();
        Ok(())
    })
    .await?;
    // The nursery is done before the thread checks.
    ev_tx.send(()).unwrap();
    assert!(scope.cancelled_caught());
    let by_main = format!(
        "cancelled (explicit, from task \"<main>\" #{})",
        trio::lowlevel::current_task().id()
    );
    assert_eq!(*record.borrow(), ["start", &by_main, "exit"]);
    let res =
        to_thread::run_sync(move || q_rx.recv_timeout(Duration::from_secs(10)).unwrap()).await?;
    assert_eq!(res, by_main);
    Ok(())
}

#[test]
fn from_thread_check_cancelled_raises_in_foreign_threads() {
    // test_from_thread_check_cancelled_raises_in_foreign_threads
    assert_eq!(
        from_thread::check_cancelled().unwrap_err().kind(),
        ErrorKind::Usage
    );
    let e = thread::spawn(|| from_thread::check_cancelled().unwrap_err().kind())
        .join()
        .unwrap();
    assert_eq!(e, ErrorKind::Usage);
    // Also on the loop thread.
    trio::run(async {
        assert_eq!(
            from_thread::check_cancelled().unwrap_err().kind(),
            ErrorKind::Usage
        );
        Ok(())
    })
    .unwrap();
}

#[trio::test]
async fn reentry_doesnt_deadlock() -> trio::Result<()> {
    // test_reentry_doesnt_deadlock (a fixed number of rounds instead of 2 s)
    trio::open_nursery(async |n| {
        for _ in 0..4 {
            n.start_soon(async {
                for _ in 0..50 {
                    to_thread::run_sync(|| {
                        from_thread::run(|| async { trio::sleep(Duration::ZERO).await })
                    })
                    .await??;
                }
                Ok(())
            })?;
        }
        Ok(())
    })
    .await?;
    Ok(())
}

#[trio::test]
async fn from_thread_from_100_worker_threads_at_once() -> trio::Result<()> {
    // 100 workers (a limiter of 100, and a barrier that only opens when all 100
    // run at once) each call back into their waiting task at the same moment; each
    // call blocks in trio until the main task takes its item.
    let limiter = std::rc::Rc::new(CapacityLimiter::new(100));
    let barrier = Arc::new(Barrier::new(100));
    let (tx, rx) = trio::open_memory_channel::<usize>(0);
    let l = &limiter;
    let results = RefCell::new(Vec::new());
    let res = &results;
    trio::open_nursery(async |n| {
        for i in 0..100 {
            let (barrier, tx) = (barrier.clone(), tx.clone());
            n.start_soon(async move {
                let host = current_task().id();
                let ran_in = Builder::new()
                    .limiter(l.clone())
                    .run_sync(move || {
                        barrier.wait();
                        from_thread::run(move || async move {
                            tx.send(i).await?;
                            Ok(current_task().id())
                        })
                    })
                    .await??;
                assert_eq!(ran_in, host);
                res.borrow_mut().push(i);
                Ok(())
            })?;
        }
        drop(tx);
        let mut got = Vec::new();
        while let Some(i) = rx.receive_or_end().await? {
            got.push(i);
        }
        got.sort();
        assert_eq!(got, (0..100).collect::<Vec<_>>());
        Ok(())
    })
    .await?;
    assert_eq!(results.borrow().len(), 100);
    assert_eq!(limiter.borrowed_tokens(), 0);
    Ok(())
}

#[trio::test]
async fn from_thread_from_100_foreign_threads_at_once() -> trio::Result<()> {
    let token = current_trio_token();
    let barrier = Arc::new(Barrier::new(100));
    let (tx, rx) = trio::open_memory_channel::<usize>(0);
    let threads: Vec<_> = (0..100)
        .map(|i| {
            let (token, barrier, tx) = (token.clone(), barrier.clone(), tx.clone());
            thread::spawn(move || {
                barrier.wait();
                let sync = from_thread::run_sync_with_token(&token, move || i * 2)?;
                let r#async = from_thread::run_with_token(&token, move || async move {
                    tx.send(i).await?;
                    Ok(i * 3)
                })?;
                Ok::<_, trio::Error>((sync, r#async))
            })
        })
        .collect();
    drop(tx);
    let mut got = Vec::new();
    while let Some(i) = rx.receive_or_end().await? {
        got.push(i);
    }
    got.sort();
    assert_eq!(got, (0..100).collect::<Vec<_>>());
    for (i, t) in threads.into_iter().enumerate() {
        assert_eq!(join(t).await??, (i * 2, i * 3));
    }
    Ok(())
}

#[test]
fn run_finished_after_the_run() {
    // RunFinishedError: with a token of a finished run...
    let token = trio::run(async { Ok(current_trio_token()) }).unwrap();
    assert_eq!(
        from_thread::run_sync_with_token(&token, || ())
            .unwrap_err()
            .kind(),
        ErrorKind::RunFinished
    );
    assert_eq!(
        from_thread::run_with_token(&token, || async { Ok(()) })
            .unwrap_err()
            .kind(),
        ErrorKind::RunFinished
    );

    // ...and from an abandoned worker whose run has ended.
    let (release, rx) = mpsc::channel::<()>();
    let (out_tx, out_rx) = mpsc::channel();
    trio::run(async move {
        trio::open_nursery(async |n| {
            n.start_soon(async move {
                Builder::new()
                    .abandon_on_cancel(true)
                    .run_sync(move || {
                        rx.recv().unwrap();
                        let a = from_thread::run_sync(|| ()).map_err(|e| e.kind());
                        let b = from_thread::run(|| async { Ok(()) }).map_err(|e| e.kind());
                        out_tx.send((a, b)).unwrap();
                    })
                    .await
            })?;
            wait_all_tasks_blocked().await?;
            n.cancel_scope().cancel();
            Ok(())
        })
        .await
    })
    .unwrap();
    release.send(()).unwrap();
    let (a, b) = out_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(a, Err(ErrorKind::RunFinished));
    assert_eq!(b, Err(ErrorKind::RunFinished));
}

#[trio::test]
#[should_panic(expected = "panic back in trio")]
async fn a_panic_in_from_thread_reaches_the_to_thread_caller() {
    // The panic is resumed in the worker, which does not catch it; the worker's
    // panic is resumed in the task.
    let _ =
        to_thread::run_sync(|| from_thread::run_sync(|| -> () { panic!("panic back in trio") }))
            .await;
}

#[trio::test]
async fn a_panic_in_a_from_thread_future_reaches_the_thread() -> trio::Result<()> {
    let msg = to_thread::run_sync(|| {
        std::panic::catch_unwind(|| {
            from_thread::run(|| async {
                checkpoint().await?;
                if true {
                    panic!("future panicked");
                }
                Ok(())
            })
        })
        .map_err(|p| panic_message(&*p))
    })
    .await?;
    assert_eq!(msg.unwrap_err(), "future panicked");
    // The task that hosted it is fine.
    checkpoint().await?;
    Ok(())
}

#[trio::test]
async fn dropped_host_sends_later_calls_to_a_system_task() -> trio::Result<()> {
    // A waiting `to_thread` future that is dropped (not cancelled) leaves its thread
    // running; what the thread sends (queued before the drop, or after it) runs
    // outside the dropped task: a sync call in a loop callback, an async one in a
    // system task.
    let (release, rx) = mpsc::channel::<()>();
    let (out_tx, out_rx) = mpsc::channel();
    let host = current_task().id();
    {
        let fut = to_thread::run_sync(move || {
            rx.recv().unwrap();
            let outside = from_thread::run_sync(|| trio::lowlevel::try_current_task().is_none());
            let seen = from_thread::run(|| async { Ok(current_task().id()) });
            out_tx
                .send((outside.map_err(|e| e.kind()), seen.map_err(|e| e.kind())))
                .unwrap();
        });
        let mut fut = Box::pin(fut);
        // Start it (past the limiter's schedule point) by hand, then drop it.
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        for _ in 0..3 {
            let _ = fut.as_mut().poll(&mut cx);
            checkpoint().await?;
        }
        assert_eq!(to_thread::active_thread_count(), 1);
        release.send(()).unwrap();
        for _ in 0..3 {
            checkpoint().await?;
        }
    }
    let (outside, seen) =
        to_thread::run_sync(move || out_rx.recv_timeout(Duration::from_secs(10)).unwrap()).await?;
    assert_eq!(outside, Ok(true));
    assert_ne!(seen.expect("ran in a system task"), host);
    to_thread::wait_all_threads_completed().await?;
    Ok(())
}
