//! `trio::signal::open_signal_receiver`, ported from Python Trio's
//! `src/trio/_tests/test_signals.py`.
//!
//! Ported: `test_open_signal_receiver` (coalescing; use after close),
//! `test_open_signal_receiver_restore_handler_after_one_bad_signal`,
//! `test_open_signal_receiver_empty_fail`,
//! `test_open_signal_receiver_restore_handler_after_duplicate_signal`,
//! `test_open_signal_receiver_conflict` (BusyResource),
//! `test_open_signal_receiver_no_starvation`,
//! `test_catch_signals_race_condition_on_exit` (re-delivery on close, to a previous
//! handler; with `SIG_IGN`; "exception chaining" has no Rust counterpart).
//!
//! Not ported: `test_catch_signals_wrong_thread` (Python's main-thread limit does
//! not exist here; instead `a_signal_from_another_thread_wakes_the_receiver`).
//!
//! Signals are process-wide, so every in-process test holds one lock, uses only
//! `SIGUSR1`, `SIGUSR2`, `SIGHUP` and `SIGWINCH`, and runs with a "safety net":
//! `signal-hook` flags registered for those signals before any receiver exists,
//! so that a signal re-delivered by a failing test sets a flag instead of killing
//! the test binary (and so that the flags can observe re-delivery). What needs the
//! default disposition — re-delivery that terminates the process, the default
//! action coming back after close — runs in a child process: the test binary
//! re-executed with `--exact child_scenarios` and `TRIO_SIGNAL_SCENARIO` set.
#![cfg(unix)]
// POSIX signals

// The test lock is a std mutex held for a whole test, across awaits: each test runs
// its own single-threaded run loop, so nothing else on that thread can want it.
#![allow(clippy::await_holding_lock)]

use std::os::unix::process::ExitStatusExt;
use std::pin::Pin;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, Once};
use std::time::Duration;

use libc::{SIGHUP, SIGUSR1, SIGUSR2, SIGWINCH, c_int};
use signal_hook::low_level::raise;
use trio::abc::AsyncResource;
use trio::signal::{SignalReceiver, open_signal_receiver};
use trio::testing::wait_all_tasks_blocked;
use trio::{ErrorKind, Result};

static USR1_SEEN: AtomicBool = AtomicBool::new(false);
static USR2_SEEN: AtomicBool = AtomicBool::new(false);
static HUP_SEEN: AtomicBool = AtomicBool::new(false);
static WINCH_SEEN: AtomicBool = AtomicBool::new(false);

fn seen(sig: c_int) -> &'static AtomicBool {
    match sig {
        SIGUSR1 => &USR1_SEEN,
        SIGUSR2 => &USR2_SEEN,
        SIGHUP => &HUP_SEEN,
        SIGWINCH => &WINCH_SEEN,
        _ => unreachable!(),
    }
}

/// Takes the lock and installs the safety net (once).
fn setup() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    static NET: Once = Once::new();
    let guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    NET.call_once(|| {
        for sig in [SIGUSR1, SIGUSR2, SIGHUP, SIGWINCH] {
            signal_hook::flag::register(sig, seen(sig)).unwrap();
        }
    });
    for sig in [SIGUSR1, SIGUSR2, SIGHUP, SIGWINCH] {
        seen(sig).store(false, Ordering::SeqCst);
    }
    guard
}

fn pending(r: &SignalReceiver) -> usize {
    r.statistics().signals_pending
}

#[trio::test]
async fn open_signal_receiver_coalesces() -> Result<()> {
    // test_open_signal_receiver
    let _g = setup();
    let receiver = open_signal_receiver(&[SIGUSR1])?;
    // Raise it a few times, to exercise coalescing both in the signal handler (the
    // flag is still set: no second byte) and in the receiver (already taken out of
    // the self-pipe: still one pending signal).
    raise(SIGUSR1)?;
    raise(SIGUSR1)?;
    wait_all_tasks_blocked().await?;
    assert_eq!(pending(&receiver), 1);
    raise(SIGUSR1)?;
    wait_all_tasks_blocked().await?;
    assert_eq!(pending(&receiver), 1);
    assert_eq!(receiver.next().await?, SIGUSR1);
    assert_eq!(pending(&receiver), 0);
    raise(SIGUSR1)?;
    assert_eq!(receiver.next().await?, SIGUSR1);
    assert_eq!(pending(&receiver), 0);
    receiver.close();
    let e = receiver.next().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ClosedResource);
    Ok(())
}

#[trio::test]
async fn a_cancelled_next_consumes_nothing() -> Result<()> {
    let _g = setup();
    let receiver = open_signal_receiver(&[SIGUSR1])?;
    let r = trio::move_on_after(Duration::from_millis(10), receiver.next()).await?;
    assert_eq!(r, None);
    // Cancelled while a signal is pending: it stays pending.
    raise(SIGUSR1)?;
    let scope = trio::CancelScope::new();
    scope.cancel();
    assert_eq!(scope.run(receiver.next()).await?, None);
    assert_eq!(pending(&receiver), 1);
    assert_eq!(receiver.next().await?, SIGUSR1);
    Ok(())
}

#[trio::test]
async fn restore_after_one_bad_signal() -> Result<()> {
    // test_open_signal_receiver_restore_handler_after_one_bad_signal: signal 32 is
    // reserved by glibc (sigaction refuses it), so SIGUSR1 is installed first and
    // must be undone. (That it really is undone is checked in a child process, in
    // `child_scenarios`, "bad_signal".)
    let _g = setup();
    let e = open_signal_receiver(&[SIGUSR1, 32]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io);
    let e = open_signal_receiver(&[SIGUSR1, 1_234_567]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    // SIGUSR1 is free for a new receiver, which gets it alone.
    let receiver = open_signal_receiver(&[SIGUSR1])?;
    raise(SIGUSR1)?;
    assert_eq!(receiver.next().await?, SIGUSR1);
    Ok(())
}

#[trio::test]
async fn empty_and_forbidden_signal_sets_fail() -> Result<()> {
    // test_open_signal_receiver_empty_fail, and the signals trio refuses.
    let _g = setup();
    assert_eq!(
        open_signal_receiver(&[]).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    for sig in [
        libc::SIGINT,
        libc::SIGKILL,
        libc::SIGSTOP,
        libc::SIGSEGV,
        libc::SIGBUS,
        libc::SIGILL,
        libc::SIGFPE,
        0,
        -1,
        65,
    ] {
        let e = open_signal_receiver(&[SIGUSR1, sig]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "signal {sig}");
    }
    Ok(())
}

#[trio::test]
async fn duplicate_signals_are_one() -> Result<()> {
    // test_open_signal_receiver_restore_handler_after_duplicate_signal (the
    // restoring is checked in `child_scenarios`, "restore").
    let _g = setup();
    let receiver = open_signal_receiver(&[SIGHUP, SIGHUP])?;
    assert_eq!(receiver.signals(), [SIGHUP]);
    raise(SIGHUP)?;
    assert_eq!(receiver.next().await?, SIGHUP);
    receiver.close();
    Ok(())
}

#[trio::test]
async fn conflict() -> Result<()> {
    // test_open_signal_receiver_conflict: only one task may iterate.
    let _g = setup();
    let receiver = open_signal_receiver(&[SIGUSR1])?;
    let r = &receiver;
    let e = trio::open_nursery(async |n| {
        n.start_soon(async move { r.next().await.map(drop) })?;
        n.start_soon(async move { r.next().await.map(drop) })?;
        Ok(())
    })
    .await
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BusyResource);
    Ok(())
}

#[trio::test]
async fn no_starvation() -> Result<()> {
    // test_open_signal_receiver_no_starvation: with two signals always pending, the
    // receiver alternates between them.
    let _g = setup();
    let receiver = open_signal_receiver(&[SIGUSR1, SIGUSR2])?;
    let mut previous = None;
    for _ in 0..10 {
        raise(SIGUSR1)?;
        raise(SIGUSR2)?;
        let got = receiver.next().await?;
        assert!(got == SIGUSR1 || got == SIGUSR2);
        if let Some(p) = previous {
            assert_ne!(got, p);
        }
        previous = Some(got);
    }
    // Clear out the last one so that it is not re-delivered.
    while pending(&receiver) != 0 {
        receiver.next().await?;
    }
    Ok(())
}

#[trio::test]
async fn pending_signals_are_redelivered_on_close() -> Result<()> {
    // test_catch_signals_race_condition_on_exit, cases 1 and 2: signals still in
    // the receiver when it closes go to the previous handler (here the safety-net
    // flags, which signal-hook also runs while the receiver listens: reset them
    // after raising, so that only a re-delivery can set them again).
    let _g = setup();

    // 1. Still in the self-pipe (never drained) when the receiver closes.
    let receiver = open_signal_receiver(&[SIGUSR1, SIGUSR2])?;
    raise(SIGUSR1)?;
    raise(SIGUSR2)?;
    USR1_SEEN.store(false, Ordering::SeqCst);
    USR2_SEEN.store(false, Ordering::SeqCst);
    receiver.close();
    assert!(USR1_SEEN.load(Ordering::SeqCst));
    assert!(USR2_SEEN.load(Ordering::SeqCst));

    // 2. Already drained into the pending set; closing by dropping.
    let receiver = open_signal_receiver(&[SIGUSR1, SIGUSR2])?;
    raise(SIGUSR1)?;
    raise(SIGUSR2)?;
    wait_all_tasks_blocked().await?;
    assert_eq!(pending(&receiver), 2);
    USR1_SEEN.store(false, Ordering::SeqCst);
    USR2_SEEN.store(false, Ordering::SeqCst);
    drop(receiver);
    assert!(USR1_SEEN.load(Ordering::SeqCst));
    assert!(USR2_SEEN.load(Ordering::SeqCst));

    // A signal that was taken out is not re-delivered.
    let receiver = open_signal_receiver(&[SIGUSR1])?;
    raise(SIGUSR1)?;
    assert_eq!(receiver.next().await?, SIGUSR1);
    USR1_SEEN.store(false, Ordering::SeqCst);
    receiver.aclose().await?;
    assert!(!USR1_SEEN.load(Ordering::SeqCst));
    Ok(())
}

#[trio::test]
async fn nested_receivers_hand_signals_back() -> Result<()> {
    // The newest receiver for a signal gets it; closing it re-delivers what it did
    // not take to the previous one. Closing out of order works too.
    let _g = setup();
    let outer = open_signal_receiver(&[SIGUSR2, SIGWINCH])?;
    let inner = open_signal_receiver(&[SIGUSR2])?;
    raise(SIGUSR2)?;
    raise(SIGWINCH)?;
    assert_eq!(pending(&inner), 1);
    assert_eq!(pending(&outer), 1); // SIGWINCH only
    assert_eq!(outer.next().await?, SIGWINCH);
    inner.close();
    assert_eq!(pending(&outer), 1);
    assert_eq!(outer.next().await?, SIGUSR2);

    // Out of order: closing the older receiver leaves the newer one in charge.
    let inner = open_signal_receiver(&[SIGUSR2])?;
    outer.close();
    raise(SIGUSR2)?;
    assert_eq!(inner.next().await?, SIGUSR2);
    inner.close();
    Ok(())
}

#[trio::test]
async fn close_wakes_a_blocked_next() -> Result<()> {
    let _g = setup();
    let receiver = open_signal_receiver(&[SIGWINCH])?;
    let r = &receiver;
    trio::open_nursery(async |n| {
        n.start_soon(async move {
            let e = r.next().await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::ClosedResource);
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        assert_eq!(r.statistics().tasks_waiting, 1);
        r.close();
        Ok(())
    })
    .await?;
    Ok(())
}

#[trio::test]
async fn a_signal_from_another_thread_wakes_the_receiver() -> Result<()> {
    // A process-directed signal, sent from another thread: whichever thread the
    // kernel picks runs the handler, and the receiver blocked in the run loop wakes
    // through the reactor.
    let _g = setup();
    let receiver = open_signal_receiver(&[SIGHUP])?;
    let r = &receiver;
    trio::fail_after(Duration::from_secs(10), async {
        trio::open_nursery(async |n| {
            n.start_soon(async move {
                assert_eq!(r.next().await?, SIGHUP);
                Ok(())
            })?;
            wait_all_tasks_blocked().await?;
            std::thread::spawn(|| {
                // SAFETY: kill(2) on our own process with a signal we listen for.
                unsafe { libc::kill(libc::getpid(), SIGHUP) };
            })
            .join()
            .unwrap();
            Ok(())
        })
        .await
    })
    .await?;
    Ok(())
}

#[trio::test]
async fn stream_of_signals() -> Result<()> {
    // The futures_core::Stream impl: yields signals, ends after close.
    use futures_core::Stream;
    let _g = setup();
    let mut receiver = open_signal_receiver(&[SIGUSR1, SIGWINCH])?;
    let next = async |r: &mut SignalReceiver| {
        std::future::poll_fn(|cx| Pin::new(&mut *r).poll_next(cx)).await
    };
    raise(SIGWINCH)?;
    raise(SIGUSR1)?;
    assert_eq!(next(&mut receiver).await, Some(SIGWINCH));
    assert_eq!(next(&mut receiver).await, Some(SIGUSR1));
    receiver.close();
    assert_eq!(next(&mut receiver).await, None);
    Ok(())
}

/// One scenario run in a child process, where the signals still have their
/// default dispositions. Each is expected to end the process (by the signal)
/// unless it says "survived".
async fn run_scenario(name: &str) -> Result<()> {
    {
        match name {
            // Re-delivery on close meets the default action: the process dies.
            "redeliver" => {
                let r = open_signal_receiver(&[SIGUSR2])?;
                raise(SIGUSR2)?;
                assert_eq!(r.statistics().signals_pending, 1); // alive so far
                println!("pending");
                r.close(); // dies here
            }
            // While listening the default action is suppressed; after close it is
            // back (even after a duplicate in the set).
            "restore" => {
                let r = open_signal_receiver(&[SIGUSR2, SIGUSR2])?;
                raise(SIGUSR2)?;
                assert_eq!(r.next().await?, SIGUSR2);
                r.close();
                println!("closed");
                raise(SIGUSR2)?; // dies here
            }
            // A failed open leaves nothing behind.
            "bad_signal" => {
                assert!(open_signal_receiver(&[SIGUSR2, 32]).is_err());
                println!("failed");
                raise(SIGUSR2)?; // dies here
            }
            // test_catch_signals_race_condition_on_exit, cases 3 and 4: an ignored
            // signal stays ignored, re-delivered or not.
            "ignored" => {
                // SAFETY: sets SIG_IGN; no handler code runs.
                unsafe { libc::signal(SIGUSR2, libc::SIG_IGN) };
                let r = open_signal_receiver(&[SIGUSR2])?;
                raise(SIGUSR2)?;
                assert_eq!(r.next().await?, SIGUSR2);
                raise(SIGUSR2)?;
                r.close(); // re-delivered: ignored
                raise(SIGUSR2)?;
            }
            other => panic!("unknown scenario {other}"),
        }
        println!("survived");
        Ok(())
    }
}

#[trio::test]
async fn child_scenarios() -> Result<()> {
    if let Ok(name) = std::env::var("TRIO_SIGNAL_SCENARIO") {
        return run_scenario(&name).await; // child mode
    }
    for (name, expect_signal, last_words) in [
        ("redeliver", Some(SIGUSR2), "pending"),
        ("restore", Some(SIGUSR2), "closed"),
        ("bad_signal", Some(SIGUSR2), "failed"),
        ("ignored", None, "survived"),
    ] {
        let mut cmd = Command::new(std::env::current_exe()?);
        cmd.args([
            "--exact",
            "child_scenarios",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env("TRIO_SIGNAL_SCENARIO", name);
        let done = trio::process::run_process(cmd)
            .check(false)
            .capture_stdout(true)
            .capture_stderr(true)
            .await?;
        let out = String::from_utf8_lossy(done.stdout.as_deref().unwrap());
        let err = String::from_utf8_lossy(done.stderr.as_deref().unwrap());
        let context = format!("scenario {name}: {:?}\n{out}\n{err}", done.status);
        match expect_signal {
            Some(sig) => {
                assert_eq!(done.status.signal(), Some(sig), "{context}");
                assert!(out.contains(last_words), "{context}");
                assert!(!out.contains("survived"), "{context}");
            }
            None => {
                assert!(done.status.success(), "{context}");
                assert!(out.contains(last_words), "{context}");
            }
        }
    }
    Ok(())
}
