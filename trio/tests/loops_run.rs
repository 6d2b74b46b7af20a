//! Several trio loops in one program (`trio::run_loops`, `trio::Loops`,
//! `trio::LoopContext`): each loop runs main with its index; the loops are
//! siblings (the first failure cancels the others, a panic comes out once all have
//! finished); loops reach each other through tokens, `run_on` and thread-safe
//! channels; deadlock detection per loop; Ctrl-C cancels every loop (in a child
//! process, as in `core_ctrl_c.rs`).

mod child_support;

use std::collections::HashSet;
#[cfg(unix)]
use std::os::unix::process::ExitStatusExt;
use std::panic::{AssertUnwindSafe, catch_unwind};
#[cfg(unix)]
use std::process::Child;
use std::rc::Rc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

#[cfg(unix)]
use child_support::{say, self_command, spawn_lines, wait_for};
use trio::{CancelScope, CancelSource, Error, ErrorKind, LoopContext, Loops};

fn boom(msg: &str) -> Error {
    Error::new(ErrorKind::Other, msg.to_string())
}

#[test]
fn each_loop_runs_main_with_its_index_on_its_own_thread() {
    let caller = std::thread::current().id();
    let seen = trio::run_loops(4, |cx: LoopContext| async move {
        assert_eq!(cx.count(), 4);
        // The future need not be Send: it was made on this loop's thread.
        let local = Rc::new(cx.index());
        trio::lowlevel::checkpoint().await?;
        let me = std::thread::current();
        assert_eq!(
            me.name(),
            Some(format!("trio-loop-{}", cx.index()).as_str())
        );
        Ok((*local, me.id()))
    })
    .unwrap();
    let indexes: Vec<usize> = seen.iter().map(|(i, _)| *i).collect();
    assert_eq!(indexes, [0, 1, 2, 3]);
    let threads: HashSet<_> = seen.iter().map(|(_, t)| *t).collect();
    assert_eq!(threads.len(), 4);
    assert!(!threads.contains(&caller));
}

#[test]
fn main_borrows_from_the_caller() {
    let counter = AtomicUsize::new(0);
    let names = vec!["a", "b", "c"];
    // An async closure: it borrows what it uses.
    let got = trio::run_loops(3, async |cx| {
        counter.fetch_add(1, Ordering::Relaxed);
        Ok(names[cx.index()])
    })
    .unwrap();
    assert_eq!(got, names);
    assert_eq!(counter.load(Ordering::Relaxed), 3);
}

#[test]
fn configure_runs_on_each_loop_thread() {
    // A MockClock is not Send: it must be made on the loop's own thread.
    let got = Loops::new(2)
        .configure(|i, b| {
            let clock = trio::testing::MockClock::new();
            clock.set_autojump_threshold(Duration::ZERO);
            b.clock(clock).seed(40 + i as u64)
        })
        .run(|_cx| async {
            trio::sleep(Duration::from_secs(3600)).await?; // instant: autojump
            Ok((trio::lowlevel::current_seed(), trio::current_time()))
        })
        .unwrap();
    let hour = trio::Instant::ZERO + Duration::from_secs(3600);
    assert_eq!(got, [(40, hour), (41, hour)]);
}

#[test]
fn zero_loops_and_nested_runs_are_refused() {
    let e = trio::run_loops(0, |_cx| async { Ok(()) }).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    trio::run(async {
        let e = trio::run_loops(2, |_cx| async { Ok(()) }).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NestedRun);
        Ok(())
    })
    .unwrap();
}

#[test]
fn the_first_failure_cancels_the_others_and_its_error_comes_out() {
    let cancelled_by = Mutex::new(Vec::new());
    let cleaned_up = AtomicUsize::new(0);
    let err = trio::run_loops(4, |cx: LoopContext| {
        let (cancelled_by, cleaned_up) = (&cancelled_by, &cleaned_up);
        async move {
            if cx.index() == 2 {
                return Err::<(), _>(boom("loop 2 failed"));
            }
            let e = trio::sleep_forever().await.unwrap_err();
            cancelled_by
                .lock()
                .unwrap()
                .push(e.cancelled().unwrap().source());
            // Clean-up still runs, shielded, before run_loops returns.
            CancelScope::new()
                .shielded()
                .run(trio::lowlevel::checkpoint())
                .await?;
            cleaned_up.fetch_add(1, Ordering::Relaxed);
            Err(e)
        }
    })
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Other, "{err:?}");
    assert_eq!(err.to_string(), "loop 2 failed");
    assert_eq!(
        *cancelled_by.lock().unwrap(),
        [CancelSource::Nursery; 3],
        "every other loop was cancelled as a nursery sibling"
    );
    assert_eq!(cleaned_up.load(Ordering::Relaxed), 3);
}

#[test]
fn errors_of_several_loops_come_as_a_group() {
    let (tx, rx) = trio::open_memory_channel::<()>(1);
    let err = trio::run_loops(2, |cx: LoopContext| {
        let (tx, rx) = (&tx, &rx);
        async move {
            if cx.index() == 1 {
                tx.send_nowait(()).unwrap(); // loop 1 is running main
                return Err::<(), _>(boom("b"));
            }
            // Loop 0 fails too, whatever loop 1 did meanwhile.
            CancelScope::new().shielded().run(rx.receive()).await?;
            Err(boom("a"))
        }
    })
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Group);
    let mut msgs: Vec<String> = err.errors().iter().map(|e| e.to_string()).collect();
    msgs.sort();
    assert_eq!(msgs, ["a", "b"]);
}

#[test]
fn a_panic_comes_out_after_every_loop_has_finished() {
    let (tx, rx) = trio::open_memory_channel::<()>(1);
    let cleaned_up = AtomicBool::new(false);
    let r = catch_unwind(AssertUnwindSafe(|| {
        trio::run_loops(2, |cx: LoopContext| {
            let (tx, rx, cleaned_up) = (&tx, &rx, &cleaned_up);
            async move {
                if cx.index() == 1 {
                    rx.receive().await?; // loop 0 is in main
                    panic!("loop 1 panicked");
                }
                tx.send(()).await?;
                let e = trio::sleep_forever().await.unwrap_err();
                CancelScope::new()
                    .shielded()
                    .run(trio::sleep(Duration::from_millis(5)))
                    .await?;
                cleaned_up.store(true, Ordering::Relaxed);
                Err::<(), _>(e)
            }
        })
    }));
    let p = r.unwrap_err();
    assert_eq!(p.downcast_ref::<&str>(), Some(&"loop 1 panicked"));
    assert!(
        cleaned_up.load(Ordering::Relaxed),
        "the panic came out only after loop 0 had finished its clean-up"
    );
}

#[test]
fn a_panic_while_configuring_a_loop_stops_the_others() {
    let ran_main = AtomicUsize::new(0);
    let r = catch_unwind(AssertUnwindSafe(|| {
        Loops::new(3)
            .configure(|i, b| {
                if i == 2 {
                    panic!("cannot configure loop 2");
                }
                b
            })
            .run(async |_cx: LoopContext| {
                ran_main.fetch_add(1, Ordering::Relaxed);
                trio::sleep_forever().await
            })
    }));
    let p = r.unwrap_err();
    assert_eq!(p.downcast_ref::<&str>(), Some(&"cannot configure loop 2"));
    // main runs only once every loop has started: here, never.
    assert_eq!(ran_main.load(Ordering::Relaxed), 0);
}

#[test]
fn a_loop_that_finishes_early_does_not_stop_the_others() {
    let (tx, rx) = trio::open_memory_channel::<u32>(0);
    let got = trio::run_loops(2, |cx: LoopContext| {
        let (tx, rx) = (&tx, &rx);
        async move {
            if cx.index() == 0 {
                return Ok(0); // done at once
            }
            // Loop 1 keeps going after loop 0 has finished: it talks to itself.
            trio::open_nursery(async |n| {
                n.start_soon(async move { tx.send(7).await.map_err(Into::into) })?;
                rx.receive().await
            })
            .await
            .map(|v| v.expect("the body returned"))
        }
    })
    .unwrap();
    assert_eq!(got, [0, 7]);
}

#[test]
fn run_sync_soon_through_another_loops_token() {
    // Each loop calls the other; neither finishes before the other was answered.
    let answered = [
        trio::open_memory_channel::<()>(1),
        trio::open_memory_channel::<()>(1),
    ];
    let got = trio::run_loops(2, async |cx: LoopContext| {
        let (me, other) = (cx.index(), 1 - cx.index());
        assert_eq!(cx.token(me), trio::lowlevel::current_trio_token());
        let (tx, rx) = trio::open_memory_channel::<String>(1);
        cx.token(other).run_sync_soon(move || {
            let name = std::thread::current().name().unwrap().to_string();
            tx.send_nowait(name).unwrap();
        })?;
        let name = rx.receive().await?;
        answered[other].0.send(()).await?; // "I was answered"
        answered[me].1.receive().await?; // the other was answered too
        Ok(name)
    })
    .unwrap();
    assert_eq!(got, ["trio-loop-1", "trio-loop-0"]);
}

#[test]
fn run_on_runs_a_function_on_another_loop() {
    thread_local! {
        static LOCAL: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
    }
    let (done_tx, done_rx) = trio::open_memory_channel::<()>(0);
    let got = trio::run_loops(2, |cx: LoopContext| {
        let (done_tx, done_rx) = (&done_tx, &done_rx);
        async move {
            if cx.index() == 1 {
                done_rx.receive().await?; // keep loop 1 alive while loop 0 calls it
                return Ok(LOCAL.with(|l| l.get()));
            }
            for i in 1..=10 {
                // The future runs on loop 1 (a system task there), with loop 1's state.
                let (thread, n) = cx
                    .run_on(1, || async {
                        trio::lowlevel::checkpoint().await?;
                        let n = LOCAL.with(|l| {
                            l.set(l.get() + 1);
                            l.get()
                        });
                        Ok((std::thread::current().name().unwrap().to_string(), n))
                    })
                    .await?;
                assert_eq!(thread, "trio-loop-1");
                assert_eq!(n, i);
            }
            // Errors come back as they are.
            let e = cx
                .run_on(1, || async { Err::<(), _>(boom("remote")) })
                .await
                .unwrap_err();
            assert_eq!(e.to_string(), "remote");
            // Calling its own loop works too.
            let me = cx
                .run_on(0, || async {
                    Ok(std::thread::current().name().unwrap().to_string())
                })
                .await?;
            assert_eq!(me, "trio-loop-0");
            // A loop that does not exist is an invalid argument, not a panic.
            let e = cx.run_on(2, || async { Ok(()) }).await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidInput);
            assert!(e.to_string().contains("there is no loop 2"), "{e}");
            done_tx.send(()).await?;
            Ok(LOCAL.with(|l| l.get()))
        }
    })
    .unwrap();
    assert_eq!(got, [0, 10]);
}

#[test]
fn a_cancelled_run_on_cancels_the_call_and_waits_for_it() {
    static REMOTE_CANCELLED: AtomicBool = AtomicBool::new(false);
    let (done_tx, done_rx) = trio::open_memory_channel::<()>(0);
    trio::run_loops(2, |cx: LoopContext| {
        let (done_tx, done_rx) = (&done_tx, &done_rx);
        async move {
            if cx.index() == 1 {
                return done_rx.receive().await;
            }
            let (started_tx, started_rx) = trio::open_memory_channel::<()>(1);
            let scope = CancelScope::new();
            trio::open_nursery(async |n| {
                n.start_soon(async {
                    started_rx.receive().await?; // the call runs on loop 1
                    scope.cancel();
                    Ok(())
                })?;
                let r = scope
                    .run(cx.run_on(1, move || async move {
                        started_tx.send_nowait(()).unwrap();
                        let e = trio::sleep_forever().await.unwrap_err();
                        // Clean-up over there, before the caller may go on.
                        CancelScope::new()
                            .shielded()
                            .run(trio::sleep(Duration::from_millis(5)))
                            .await?;
                        REMOTE_CANCELLED.store(true, Ordering::SeqCst);
                        Err::<(), _>(e)
                    }))
                    .await?;
                assert_eq!(r, None, "the caller's scope caught its cancellation");
                assert!(
                    REMOTE_CANCELLED.load(Ordering::SeqCst),
                    "run_on returned only once the call had finished"
                );
                Ok(())
            })
            .await?;
            done_tx.send(()).await?;
            Ok(())
        }
    })
    .unwrap();
}

#[test]
fn a_panic_in_run_on_is_resumed_in_the_caller() {
    let (_done_tx, done_rx) = trio::open_memory_channel::<()>(0);
    let r = catch_unwind(AssertUnwindSafe(|| {
        trio::run_loops(2, |cx: LoopContext| {
            let done_rx = &done_rx;
            async move {
                if cx.index() == 1 {
                    // Loop 1 did not panic: it is cancelled when loop 0 does.
                    return done_rx.receive().await;
                }
                cx.run_on(1, || async {
                    if true {
                        panic!("remote panic");
                    }
                    Ok(())
                })
                .await
            }
        })
    }));
    let p = r.unwrap_err();
    assert_eq!(p.downcast_ref::<&str>(), Some(&"remote panic"));
}

#[test]
fn run_on_a_finished_loop_is_run_finished() {
    trio::run_loops(2, |cx: LoopContext| async move {
        if cx.index() == 1 {
            return Ok(()); // loop 1 ends at once; its system tasks are cancelled
        }
        // Whether the call reaches loop 1 before or after it has ended, loop 1
        // cannot complete it.
        let e = cx.run_on(1, trio::sleep_forever).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::RunFinished);
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_thread_safe_channel_connects_loops_and_loses_nothing() {
    const PRODUCERS: usize = 3;
    const ITEMS: u64 = 20_000;
    let (tx, rx) = trio::open_memory_channel::<(usize, u64)>(16);
    let got = trio::run_loops(PRODUCERS + 1, |cx: LoopContext| {
        let (tx, rx) = (&tx, &rx);
        async move {
            if cx.index() > 0 {
                for i in 0..ITEMS {
                    tx.send((cx.index(), i)).await?; // blocks when full: backpressure
                }
                return Ok(0);
            }
            let mut next = [0u64; PRODUCERS + 1];
            let mut sum = 0;
            for _ in 0..PRODUCERS as u64 * ITEMS {
                let (from, i) = rx.receive().await?;
                assert_eq!(i, next[from], "FIFO per producer");
                next[from] += 1;
                sum += i;
            }
            Ok(sum)
        }
    })
    .unwrap();
    assert_eq!(got[0], PRODUCERS as u64 * (ITEMS * (ITEMS - 1) / 2));
    assert_eq!(
        rx.receive_nowait().unwrap_err().kind(),
        ErrorKind::WouldBlock,
        "nothing left over"
    );
}

#[test]
fn a_loop_deadlocks_once_no_other_loop_can_reach_it() {
    let (never_tx, never_rx) = trio::open_memory_channel::<()>(1);
    let err = trio::run_loops(2, |cx: LoopContext| {
        let never_rx = &never_rx;
        async move {
            let index = cx.index();
            drop(cx); // no tokens of the other loop: it may declare a deadlock
            if index == 0 {
                // Nobody can ever set this event.
                let event = trio::sync::Event::new();
                event.wait().await?;
                return Ok(());
            }
            // Loop 1 waits on the outside world (a thread-safe channel): not a
            // deadlock; it is cancelled when loop 0 fails.
            never_rx.receive().await
        }
    })
    .unwrap_err();
    drop(never_tx);
    assert_eq!(err.kind(), ErrorKind::Deadlock);
}

// ---- Ctrl-C -------------------------------------------------------------------------

#[cfg(unix)]
#[test]
fn loops_ki_scenario_child() {
    let Ok(scenario) = std::env::var("TRIO_LOOPS_KI_SCENARIO") else {
        return; // run normally as part of the suite: nothing to do
    };
    const N: usize = 3;
    let (ready_tx, ready_rx) = trio::open_memory_channel::<()>(N);
    let res = trio::run_loops(N, |cx: LoopContext| {
        let (ready_tx, ready_rx, scenario) = (&ready_tx, &ready_rx, &scenario);
        async move {
            ready_tx.send(()).await?;
            if cx.index() == 0 {
                for _ in 0..N {
                    ready_rx.receive().await?;
                }
                say("ready"); // every loop is in main
            }
            if scenario == "busy_after_cancel" && cx.index() == 1 {
                child_support::busy_once_cancelled().await?;
            }
            if scenario == "busy" && cx.index() == 1 {
                let mut x: u64 = 0;
                loop {
                    // Never reaches a checkpoint.
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            }
            let e = trio::sleep_forever().await.unwrap_err();
            say(&format!(
                "loop {} cancelled by {}",
                cx.index(),
                e.cancelled().unwrap().source()
            ));
            Err::<(), _>(e)
        }
    });
    match res {
        Err(e) if e.kind() == ErrorKind::Interrupted => {
            say("run_loops returned Interrupted");
            std::process::exit(0)
        }
        other => {
            say(&format!("run_loops returned {other:?}"));
            std::process::exit(1)
        }
    }
}

#[cfg(unix)]
fn spawn(scenario: &str) -> (Child, impl Iterator<Item = String>) {
    spawn_lines(self_command(
        "loops_ki_scenario_child",
        "TRIO_LOOPS_KI_SCENARIO",
        scenario,
    ))
}

#[cfg(unix)]
fn sigint(child: &Child) {
    child_support::signal(child, libc::SIGINT);
}

#[cfg(unix)]
#[test]
fn ctrl_c_cancels_every_loop_and_run_loops_reports_interrupt() {
    let (mut child, mut lines) = spawn("sleep");
    wait_for(&mut lines, "ready");
    sigint(&child);
    let mut rest: Vec<String> = lines.collect();
    let status = child.wait().unwrap();
    let last = rest.pop();
    rest.sort();
    assert_eq!(
        rest,
        [
            "loop 0 cancelled by ctrl-c",
            "loop 1 cancelled by ctrl-c",
            "loop 2 cancelled by ctrl-c",
        ],
        "status {status:?}"
    );
    assert_eq!(last.as_deref(), Some("run_loops returned Interrupted"));
    assert!(status.success(), "{status:?}");
}

#[cfg(unix)]
#[test]
fn ctrl_c_stops_loops_when_one_stops_checkpointing_once_cancelled() {
    // The loop took the cancellation (its scheduler ran the supervisor's
    // request), but its task resumed in that very pass and spins: the loop
    // never answers again, and the process must still end.
    let (mut child, mut lines) = spawn("busy_after_cancel");
    wait_for(&mut lines, "ready");
    sigint(&child);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{status:?}");
}

#[cfg(unix)]
#[test]
fn ctrl_c_stops_loops_when_one_never_checkpoints() {
    let (mut child, mut lines) = spawn("busy");
    wait_for(&mut lines, "ready");
    let t0 = std::time::Instant::now();
    sigint(&child);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{status:?}");
    assert_eq!(status.signal(), None);
    // The grace period is 3 s; allow a generous margin on a loaded machine.
    assert!(t0.elapsed() < Duration::from_secs(30), "{:?}", t0.elapsed());
}
