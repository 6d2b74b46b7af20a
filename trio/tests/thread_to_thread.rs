// Ported from Python Trio's `trio/_tests/test_threads.py` (the `to_thread` half):
// `test_run_in_worker_thread`, `test_run_in_worker_thread_cancellation`,
// `test_run_in_worker_thread_abandoned`, `test_run_in_worker_thread_limiter`,
// `test_run_in_worker_thread_custom_limiter`, `test_named_thread`,
// `test_named_thread_os`, `test_trio_to_thread_run_sync_token`,
// `test_wait_all_threads_completed`, `test_wait_all_threads_completed_no_threads`;
// and from `trio/_core/_tests/test_thread_cache.py`: `test_thread_cache_basics`,
// `test_thread_cache_deref`/reuse (as `worker_threads_are_reused`).
//
// Not ported: `test_run_in_worker_thread_limiter_error` and the custom-limiter
// duck typing (Rust's limiter is the concrete `CapacityLimiter`, whose release
// cannot fail), `test_run_in_worker_thread_fail_to_spawn` (no way to make the OS
// refuse a thread from a test), `test_trio_to_thread_run_sync_expected_error` /
// `test_unsafe_abandon_on_cancel_kwarg` (ruled out by the types),
// `test_trio_to_thread_run_sync_contextvars` / `test_worker_thread_context_not_leaked`
// (no contextvars / sniffio). The idle-timeout test of the thread cache is a unit
// test in `src/to_thread/thread_cache.rs` (it lowers the timeout).
//
// Plus: 50 calls through a limiter of 3 never run more than 3 threads; the
// abandoned thread keeps its token until it finishes; panics propagate.

use std::collections::HashSet;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use trio::lowlevel::{checkpoint, current_trio_token};
use trio::sync::{CapacityLimiter, Event};
use trio::testing::wait_all_tasks_blocked;
use trio::to_thread::{self, Builder};
use trio::{CancelScope, ErrorKind};

/// A gate threads wait at until it is opened (Python's `threading.Event`).
#[derive(Clone, Default)]
struct Gate(Arc<(Mutex<bool>, Condvar)>);

impl Gate {
    fn open(&self) {
        *self.0.0.lock().unwrap() = true;
        self.0.1.notify_all();
    }
    fn wait(&self) {
        let mut open = self.0.0.lock().unwrap();
        while !*open {
            open = self.0.1.wait(open).unwrap();
        }
    }
}

/// Blocks a worker (with its own one-token limiter, so it never competes with the
/// limiter under test) until `n` messages arrive on `rx`.
async fn receive_n(rx: mpsc::Receiver<()>, n: usize) -> trio::Result<()> {
    Builder::new()
        .limiter(Rc::new(CapacityLimiter::new(1)))
        .run_sync(move || {
            for _ in 0..n {
                rx.recv_timeout(Duration::from_secs(10))
                    .expect("a worker should have signalled");
            }
        })
        .await
}

#[trio::test]
async fn run_in_worker_thread() -> trio::Result<()> {
    // test_run_in_worker_thread
    let trio_thread = std::thread::current().id();
    let (x, child) = to_thread::run_sync(|| (1, std::thread::current().id())).await?;
    assert_eq!(x, 1);
    assert_ne!(child, trio_thread);

    // A function's own error comes back as its return value.
    let err = to_thread::run_sync(|| "x".parse::<u8>())
        .await?
        .unwrap_err();
    assert_eq!(err.to_string(), "invalid digit found in string");
    Ok(())
}

#[trio::test]
#[should_panic(expected = "boom from a worker")]
async fn panics_propagate_to_the_caller() {
    // test_run_in_worker_thread (the `raise ValueError` half)
    let _ = to_thread::run_sync(|| -> () { panic!("boom from a worker") }).await;
}

#[trio::test]
async fn a_panicking_call_returns_its_token_and_leaves_the_pool_usable() -> trio::Result<()> {
    let limiter = Rc::new(CapacityLimiter::new(1));
    let call = Builder::new()
        .limiter(limiter.clone())
        .run_sync(|| -> u8 { panic!("worker panic") });
    let payload = futures_catch(call).await.unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"worker panic"));
    assert_eq!(limiter.borrowed_tokens(), 0);
    assert_eq!(to_thread::active_thread_count(), 0);
    assert_eq!(to_thread::run_sync(|| 5).await?, 5);
    Ok(())
}

/// Polls `fut`, catching a panic raised while polling it.
async fn futures_catch<F: std::future::Future>(fut: F) -> std::thread::Result<F::Output> {
    let mut fut = std::pin::pin!(fut);
    std::future::poll_fn(move |cx| {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
            Ok(std::task::Poll::Pending) => std::task::Poll::Pending,
            Ok(std::task::Poll::Ready(v)) => std::task::Poll::Ready(Ok(v)),
            Err(p) => std::task::Poll::Ready(Err(p)),
        }
    })
    .await
}

#[trio::test]
async fn run_in_worker_thread_cancellation() -> trio::Result<()> {
    // test_run_in_worker_thread_cancellation
    let register = Arc::new(Mutex::new("none"));
    let record = std::cell::RefCell::new(Vec::new());

    async fn child(
        abandon: bool,
        release: mpsc::Receiver<()>,
        register: Arc<Mutex<&'static str>>,
        record: &std::cell::RefCell<Vec<&'static str>>,
    ) -> trio::Result<()> {
        record.borrow_mut().push("start");
        let r = Builder::new()
            .abandon_on_cancel(abandon)
            .run_sync(move || {
                *register.lock().unwrap() = "blocking";
                release.recv().unwrap();
                *register.lock().unwrap() = "finished";
            })
            .await;
        record.borrow_mut().push("exit");
        r
    }

    // abandon_on_cancel: the task leaves at once, the thread does not.
    let (release, rx) = mpsc::channel();
    let (reg, rec) = (register.clone(), &record);
    trio::open_nursery(async |n| {
        n.start_soon(child(true, rx, reg, rec))?;
        wait_all_tasks_blocked().await?;
        assert_eq!(*record.borrow(), ["start"]);
        n.cancel_scope().cancel();
        Ok(())
    })
    .await?;
    assert_eq!(*record.borrow(), ["start", "exit"]);
    assert_ne!(*register.lock().unwrap(), "finished");
    release.send(()).unwrap();
    to_thread::wait_all_threads_completed().await?;
    assert_eq!(*register.lock().unwrap(), "finished");

    // Without it the call can't be cancelled once the thread runs.
    record.borrow_mut().clear();
    let (release, rx) = mpsc::channel();
    let (reg, rec) = (register.clone(), &record);
    trio::open_nursery(async |n| {
        n.start_soon(child(false, rx, reg, rec))?;
        wait_all_tasks_blocked().await?;
        n.cancel_scope().cancel();
        CancelScope::new()
            .shielded()
            .run(async {
                for _ in 0..10 {
                    checkpoint().await?;
                }
                Ok::<_, trio::Error>(())
            })
            .await?;
        // It's still running.
        assert_eq!(*record.borrow(), ["start"]);
        release.send(()).unwrap();
        Ok(())
    })
    .await?;
    assert_eq!(*record.borrow(), ["start", "exit"]);

    // But if we cancel *before* it enters, the entry is itself a cancellation point.
    record.borrow_mut().clear();
    let (_release, rx) = mpsc::channel();
    let scope = CancelScope::new();
    scope.cancel();
    let r = scope
        .run(child(false, rx, register.clone(), &record))
        .await?;
    assert_eq!(r, None);
    assert!(scope.cancelled_caught());
    assert_eq!(to_thread::active_thread_count(), 0); // no thread was started
    Ok(())
}

#[trio::test]
async fn cancel_without_abandon_returns_the_result_then_reports_the_cancellation()
-> trio::Result<()> {
    let record = std::cell::RefCell::new(Vec::new());
    let (release, rx) = mpsc::channel::<u32>();
    let scope = CancelScope::new();
    let (rec, sc) = (&record, &scope);
    trio::open_nursery(async |n| {
        n.start_soon(async move {
            let r = sc
                .run(async {
                    let v = to_thread::run_sync(move || rx.recv().unwrap()).await?;
                    rec.borrow_mut().push(format!("got {v}"));
                    checkpoint().await?; // the cancellation shows up here
                    rec.borrow_mut().push("unreachable".into());
                    Ok::<_, trio::Error>(())
                })
                .await?;
            assert_eq!(r, None);
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        scope.cancel();
        wait_all_tasks_blocked().await?;
        assert!(record.borrow().is_empty(), "the call waits for its thread");
        release.send(7).unwrap();
        Ok(())
    })
    .await?;
    assert_eq!(*record.borrow(), ["got 7"]);
    assert!(scope.cancelled_caught());
    Ok(())
}

#[test]
fn run_in_worker_thread_abandoned() {
    // test_run_in_worker_thread_abandoned: the run ends before its abandoned thread
    // does; the late result is dropped quietly.
    let (release, rx) = mpsc::channel::<()>();
    let (done_tx, done_rx) = mpsc::channel();
    trio::run(async move {
        trio::open_nursery(async |n| {
            n.start_soon(async move {
                Builder::new()
                    .abandon_on_cancel(true)
                    .run_sync(move || {
                        rx.recv().unwrap();
                        done_tx.send(std::thread::current().id()).unwrap();
                        "late result"
                    })
                    .await
                    .map(drop)
            })?;
            wait_all_tasks_blocked().await?;
            n.cancel_scope().cancel();
            Ok(())
        })
        .await
    })
    .unwrap();
    release.send(()).unwrap();
    // The thread really ran to the end, after the run was over.
    done_rx.recv_timeout(Duration::from_secs(10)).unwrap();
}

/// One case of Trio's `test_run_in_worker_thread_limiter`.
async fn limiter_case(max: usize, cancel: bool, use_default: bool) -> trio::Result<()> {
    let count = 2 * max;
    let limiter = if use_default {
        let c = to_thread::current_default_thread_limiter();
        c.set_total_tokens(max);
        c
    } else {
        Rc::new(CapacityLimiter::new(max))
    };

    #[derive(Default)]
    struct State {
        ran: usize,
        running: usize,
        high_water: usize,
        parked: usize,
    }
    let state = Arc::new(Mutex::new(State::default()));
    let gate = Gate::default();
    let (parked_tx, parked_rx) = mpsc::channel();
    let token = current_trio_token();

    thread_local! {
        // The tasks' cancel scopes, reachable from `from_thread` callbacks (which
        // run on this thread).
        static SCOPES: std::cell::RefCell<Vec<CancelScope>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    SCOPES.with(|s| s.borrow_mut().clear());

    let events: Vec<Event> = (0..count).map(|_| Event::new()).collect();
    let (limiter_ref, events_ref) = (&limiter, &events);
    trio::open_nursery(async |n| {
        for (i, event) in events_ref.iter().enumerate() {
            let scope = CancelScope::new();
            SCOPES.with(|s| s.borrow_mut().push(scope.clone()));
            let (state, gate, parked_tx, token) = (
                state.clone(),
                gate.clone(),
                parked_tx.clone(),
                token.clone(),
            );
            let mut builder = Builder::new().abandon_on_cancel(cancel);
            if !use_default {
                builder = builder.limiter(limiter_ref.clone());
            }
            n.start_soon(async move {
                scope
                    .run(builder.run_sync(move || {
                        trio::from_thread::run_sync_with_token(&token, move || {
                            SCOPES.with(|s| s.borrow()[i].cancel())
                        })
                        .unwrap();
                        {
                            let mut st = state.lock().unwrap();
                            st.ran += 1;
                            st.running += 1;
                            st.high_water = st.high_water.max(st.running);
                            st.parked += 1;
                        }
                        let _ = parked_tx.send(());
                        gate.wait();
                        let mut st = state.lock().unwrap();
                        st.parked -= 1;
                        st.running -= 1;
                    }))
                    .await?;
                event.set();
                Ok(())
            })?;
            wait_all_tasks_blocked().await?;
        }
        if cancel {
            // The cancelled tasks must not have given their tokens back: wait until
            // one has left, and everything has settled.
            events_ref[0].wait().await?;
            wait_all_tasks_blocked().await?;
        }
        // The first `max` threads are parked at the gate...
        receive_n(parked_rx, max).await?;
        wait_all_tasks_blocked().await?;
        assert_eq!(state.lock().unwrap().parked, max);
        // ...and the next `max` tasks wait for a token.
        assert_eq!(limiter_ref.statistics().tasks_waiting, max);
        gate.open();
        Ok(())
    })
    .await?;

    assert_eq!(state.lock().unwrap().high_water, max);
    if cancel {
        // Abandoned threads may still be finishing; they hold their tokens until
        // they do.
        to_thread::wait_all_threads_completed().await?;
    }
    assert_eq!(limiter.borrowed_tokens(), 0);
    let st = state.lock().unwrap();
    assert_eq!(st.ran, count);
    assert_eq!(st.running, 0);
    if use_default {
        limiter.set_total_tokens(40);
    }
    Ok(())
}

#[trio::test]
async fn run_in_worker_thread_limiter() -> trio::Result<()> {
    // test_run_in_worker_thread_limiter, every parametrization
    for max in [3, 5, 10] {
        for cancel in [false, true] {
            for use_default in [false, true] {
                limiter_case(max, cancel, use_default).await?;
            }
        }
    }
    Ok(())
}

#[trio::test]
async fn limiter_never_runs_more_threads_than_its_tokens() -> trio::Result<()> {
    let limiter = Rc::new(CapacityLimiter::new(3));
    let running = Arc::new(AtomicUsize::new(0));
    let max_seen = Arc::new(AtomicUsize::new(0));
    let gate = Gate::default();
    let (parked_tx, parked_rx) = mpsc::channel();
    let l = &limiter;
    trio::open_nursery(async |n| {
        for _ in 0..50 {
            let (running, max_seen, gate, parked_tx) = (
                running.clone(),
                max_seen.clone(),
                gate.clone(),
                parked_tx.clone(),
            );
            n.start_soon(async move {
                Builder::new()
                    .limiter(l.clone())
                    .run_sync(move || {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        max_seen.fetch_max(now, Ordering::SeqCst);
                        let _ = parked_tx.send(());
                        gate.wait(); // the first three hold their tokens here
                        running.fetch_sub(1, Ordering::SeqCst);
                    })
                    .await
            })?;
        }
        receive_n(parked_rx, 3).await?;
        wait_all_tasks_blocked().await?;
        assert_eq!(running.load(Ordering::SeqCst), 3);
        assert_eq!(l.statistics().tasks_waiting, 47);
        gate.open();
        Ok(())
    })
    .await?;
    assert_eq!(max_seen.load(Ordering::SeqCst), 3);
    assert_eq!(limiter.borrowed_tokens(), 0);
    Ok(())
}

#[trio::test]
async fn run_in_worker_thread_custom_limiter() -> trio::Result<()> {
    // test_run_in_worker_thread_custom_limiter: a token is borrowed for the thread
    // while it runs (by a borrower that is not the task), and given back after.
    let limiter = Rc::new(CapacityLimiter::new(1));
    let (release, rx) = mpsc::channel::<()>();
    let l = &limiter;
    trio::open_nursery(async |n| {
        n.start_soon(async move {
            Builder::new()
                .limiter(l.clone())
                .run_sync(move || rx.recv())
                .await
                .map(drop)
        })?;
        wait_all_tasks_blocked().await?;
        let stats = l.statistics();
        assert_eq!(stats.borrowed_tokens, 1);
        assert_eq!(
            stats.borrowers[0].task(),
            None,
            "the borrower stands for the thread"
        );
        release.send(()).unwrap();
        Ok(())
    })
    .await?;
    assert_eq!(limiter.borrowed_tokens(), 0);
    Ok(())
}

#[trio::test]
async fn abandoned_thread_keeps_its_token_until_it_finishes() -> trio::Result<()> {
    let limiter = Rc::new(CapacityLimiter::new(1));
    let (release, rx) = mpsc::channel::<()>();
    let (finished_tx, finished_rx) = mpsc::channel::<()>();

    let scope = CancelScope::new();
    let l = limiter.clone();
    let sc = &scope;
    trio::open_nursery(async |n| {
        n.start_soon(async move {
            let r = sc
                .run(
                    Builder::new()
                        .limiter(l)
                        .abandon_on_cancel(true)
                        .run_sync(move || {
                            rx.recv().unwrap();
                            finished_tx.send(()).unwrap();
                        }),
                )
                .await?;
            assert_eq!(r, None);
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        scope.cancel();
        Ok(())
    })
    .await?;
    // The caller has gone; the thread has not.
    assert!(scope.cancelled_caught());
    assert_eq!(limiter.borrowed_tokens(), 1);
    assert_eq!(to_thread::active_thread_count(), 1);

    // A second call waits for the token the abandoned thread still holds.
    let got_in = std::cell::Cell::new(false);
    let (l, g) = (&limiter, &got_in);
    trio::open_nursery(async |n| {
        n.start_soon(async move {
            Builder::new().limiter(l.clone()).run_sync(|| ()).await?;
            g.set(true);
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        assert_eq!(l.statistics().tasks_waiting, 1);
        assert!(!got_in.get());
        release.send(()).unwrap();
        Ok(())
    })
    .await?;
    assert!(got_in.get());
    finished_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    to_thread::wait_all_threads_completed().await?;
    assert_eq!(limiter.borrowed_tokens(), 0);
    assert_eq!(to_thread::active_thread_count(), 0);
    Ok(())
}

#[trio::test]
async fn default_limiter_is_per_run_with_40_tokens() -> trio::Result<()> {
    let a = to_thread::current_default_thread_limiter();
    assert_eq!(a.total_tokens(), 40);
    assert!(Rc::ptr_eq(&a, &to_thread::current_default_thread_limiter()));
    // The default limiter is the one calls use.
    let (release, rx) = mpsc::channel::<()>();
    let a2 = &a;
    trio::open_nursery(async |n| {
        n.start_soon(async move { to_thread::run_sync(move || rx.recv()).await.map(drop) })?;
        wait_all_tasks_blocked().await?;
        assert_eq!(a2.borrowed_tokens(), 1);
        release.send(()).unwrap();
        Ok(())
    })
    .await?;
    assert_eq!(a.borrowed_tokens(), 0);
    Ok(())
}

#[test]
fn outside_a_run_is_a_usage_error() {
    // Polling the future by hand, outside trio.
    let fut = to_thread::run_sync(|| ());
    let mut fut = std::pin::pin!(fut);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match fut.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(r) => assert_eq!(r.unwrap_err().kind(), ErrorKind::Usage),
        std::task::Poll::Pending => panic!("should fail at once"),
    }
}

#[trio::test]
async fn worker_threads_are_reused() -> trio::Result<()> {
    // Trio's thread-cache reuse (test_thread_cache_basics / deref): one call after
    // another is served by an idle worker, not a new thread. Other tests of this
    // process share the cache and may take our worker meanwhile, so we look for
    // reuse among 20 calls; without a cache, all 20 ids would differ.
    let mut ids = Vec::new();
    for _ in 0..20 {
        let (id, name) = to_thread::run_sync(|| {
            let t = std::thread::current();
            (t.id(), t.name().map(str::to_owned))
        })
        .await?;
        let name = name.unwrap();
        assert!(name.starts_with("trio thread "), "worker named {name:?}");
        ids.push(id);
    }
    let distinct: HashSet<_> = ids.iter().collect();
    assert!(
        distinct.len() < ids.len(),
        "no worker thread was reused: {ids:?}"
    );
    Ok(())
}

#[cfg(target_os = "linux")]
fn os_thread_name() -> String {
    std::fs::read_to_string("/proc/thread-self/comm")
        .unwrap()
        .trim_end_matches('\n')
        .to_owned()
}

#[cfg(target_os = "linux")]
#[trio::test]
async fn named_thread_os() -> trio::Result<()> {
    // test_named_thread_os / test_named_thread: the OS name is set for the call
    // (cut to 15 bytes, non-ASCII as '?') and put back afterwards.
    for (name, expected) in [
        ("", ""),
        ("fobiedoo", "fobiedoo"),
        ("name_longer_than_15_characters", "name_longer_tha"),
        ("💙", "?"),
    ] {
        let (seen, rust_name, id) = Builder::new()
            .name(name)
            .run_sync(|| {
                let t = std::thread::current();
                (os_thread_name(), t.name().unwrap().to_owned(), t.id())
            })
            .await?;
        assert_eq!(seen, expected);
        // Rust's own name is the worker's.
        assert!(rust_name.starts_with("trio thread "));
        // The next call on the same worker (if it gets it) sees the default name.
        let (after, id2) =
            to_thread::run_sync(|| (os_thread_name(), std::thread::current().id())).await?;
        if id2 == id {
            assert_eq!(after, rust_name[..rust_name.len().min(15)]);
        }
        assert!(after.starts_with("trio thread"), "{after:?}");
    }
    // Unnamed calls are not renamed.
    let (os, rust) = to_thread::run_sync(|| {
        (
            os_thread_name(),
            std::thread::current().name().unwrap().to_owned(),
        )
    })
    .await?;
    assert_eq!(os, rust[..rust.len().min(15)]);
    Ok(())
}

#[trio::test]
async fn to_thread_run_sync_token() -> trio::Result<()> {
    // test_trio_to_thread_run_sync_token
    let caller = current_trio_token();
    let callee = to_thread::run_sync(|| trio::from_thread::run_sync(current_trio_token)).await??;
    assert_eq!(callee, caller);
    Ok(())
}

#[trio::test]
async fn wait_all_threads_completed() -> trio::Result<()> {
    // test_wait_all_threads_completed
    let no_threads_left = std::cell::Cell::new(false);
    let (tx1, rx1) = trio::open_memory_channel::<()>(0);
    let (tx2, rx2) = trio::open_memory_channel::<()>(0);
    let e1_exited = Event::new();
    let e2_exited = Event::new();

    async fn wait_event(rx: trio::MemoryReceiveChannel<()>, exited: &Event) -> trio::Result<()> {
        to_thread::run_sync(move || {
            trio::from_thread::run(move || async move { rx.receive().await })
        })
        .await??;
        exited.set();
        Ok(())
    }

    let (ntl, e1x, e2x) = (&no_threads_left, &e1_exited, &e2_exited);
    trio::open_nursery(async |n| {
        n.start_soon(wait_event(rx1, e1x))?;
        n.start_soon(wait_event(rx2, e2x))?;
        wait_all_tasks_blocked().await?;
        n.start_soon(async move {
            to_thread::wait_all_threads_completed().await?;
            ntl.set(true);
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        assert!(!ntl.get());
        assert_eq!(to_thread::active_thread_count(), 2);

        tx1.send(()).await?;
        e1x.wait().await?;
        wait_all_tasks_blocked().await?;
        assert!(!ntl.get());
        assert_eq!(to_thread::active_thread_count(), 1);

        tx2.send(()).await?;
        e2x.wait().await?;
        wait_all_tasks_blocked().await?;
        assert!(ntl.get());
        assert_eq!(to_thread::active_thread_count(), 0);
        Ok(())
    })
    .await?;
    Ok(())
}

#[trio::test]
async fn wait_all_threads_completed_no_threads() -> trio::Result<()> {
    // test_wait_all_threads_completed_no_threads
    to_thread::wait_all_threads_completed().await?;
    assert_eq!(to_thread::active_thread_count(), 0);
    // And it is a checkpoint.
    let scope = CancelScope::new();
    scope.cancel();
    assert_eq!(
        scope.run(to_thread::wait_all_threads_completed()).await?,
        None
    );
    Ok(())
}

#[trio::test]
async fn waiting_task_counts_as_blocked() -> trio::Result<()> {
    // The wait is a real trio suspension: wait_all_tasks_blocked returns while a
    // task waits for its thread, and the thread is still busy.
    let (release, rx) = mpsc::channel::<()>();
    let done = std::cell::Cell::new(false);
    let d = &done;
    trio::open_nursery(async |n| {
        n.start_soon(async move {
            to_thread::run_sync(move || rx.recv()).await?.unwrap();
            d.set(true);
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        assert!(!done.get());
        assert_eq!(trio::lowlevel::current_statistics().tasks_runnable, 0);
        release.send(()).unwrap();
        Ok(())
    })
    .await?;
    assert!(done.get());
    Ok(())
}
