//! `trio::process::run_process`, ported from Python Trio's
//! `src/trio/_tests/test_subprocess.py`.
//!
//! Ported: `test_run`, `test_run_check`, `test_run_with_broken_pipe`,
//! `test_stderr_stdout` (the `run_process` parts), `test_custom_deliver_cancel`,
//! `test_bad_deliver_cancel`, `test_warn_on_cancel_SIGKILL_escalation` (the
//! escalation itself: a child that ignores `SIGTERM` is killed and reaped; there
//! is no warning to check), `test_run_process_background_fail`,
//! `test_for_leaking_fds`, and the `run_process in nursery` half of the
//! `background_process` tests (`test_basic`, `test_pipes`, `test_signals`).
//!
//! Not ported: `test_warn_on_failed_cancel_terminate` (it monkeypatches
//! `Process.terminate` to fail and checks a warning; we have neither),
//! `test_run_process_internal_error` (it monkeypatches `_open_process`), the
//! `UnicodeError` for text stdin (Rust's types), and the `ValueError`s for pipes
//! without `nursery.start` (here a pipe nobody can reach is captured or closed
//! instead; see `pipes_nobody_can_reach_are_captured_or_closed`).
//!
//! Every test holds a lock: some count this process's fds or children.
//!
//! Linux only: the tests ask `/proc` and pidfds what the kernel thinks of a
//! child (running, a zombie, reaped).
#![cfg(target_os = "linux")]
// The test lock is a std mutex held for a whole test, across awaits: each test runs
// its own single-threaded run loop, so nothing else on that thread can want it.
#![allow(clippy::await_holding_lock)]

mod process_support;

use std::cell::Cell;
use std::future::IntoFuture;
use std::os::unix::process::ExitStatusExt;
use std::pin::pin;
use std::process::{Command, Stdio};
use std::task::Poll;
use std::time::Duration;

use process_support::{is_our_child, serial, wait_until_reaped};
use trio::abc::{AsyncResource, ReceiveStream, SendStream};
use trio::process::{Process, ProcessError, TerminateThenKill, run_process};
use trio::testing::{MockClock, wait_all_tasks_blocked};
use trio::{ErrorKind, Result};

fn sh(script: &str) -> Command {
    let mut c = Command::new("sh");
    c.args(["-c", script]);
    c
}

fn sleep_cmd(seconds: u32) -> Command {
    let mut c = Command::new("sleep");
    c.arg(seconds.to_string());
    c
}

/// Deterministic "random" bytes.
fn data(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x1234_5678;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

#[trio::test]
async fn run() -> Result<()> {
    let _serial = serial();
    // test_run
    let input = data(1 << 18);
    let done = run_process(Command::new("cat"))
        .input(input.clone())
        .capture_stdout(true)
        .capture_stderr(true)
        .await?;
    assert_eq!(done.args, ["cat"]);
    assert!(done.status.success());
    assert_eq!(done.stdout.as_deref(), Some(&input[..]));
    assert_eq!(done.stderr.as_deref(), Some(&b""[..]));

    // The default input is empty.
    let done = run_process(Command::new("cat"))
        .capture_stdout(true)
        .await?;
    assert_eq!(done.stdout.as_deref(), Some(&b""[..]));
    assert_eq!(done.stderr, None);

    // stdout and stderr at once (Trio's child reverses the data on stderr).
    let done = run_process(sh("cat; printf done >&2"))
        .input(input.clone())
        .capture_stdout(true)
        .capture_stderr(true)
        .await?;
    assert_eq!(done.stdout.as_deref(), Some(&input[..]));
    assert_eq!(done.stderr.as_deref(), Some(&b"done"[..]));

    // Contradictory options.
    let e = run_process(Command::new("cat"))
        .capture_stdout(true)
        .stdout(Stdio::null())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert_eq!(
        e.message(),
        Some("can't specify both stdout and capture_stdout")
    );
    let e = run_process(Command::new("cat"))
        .capture_stderr(true)
        .stderr(Stdio::inherit())
        .await
        .unwrap_err();
    assert_eq!(
        e.message(),
        Some("can't specify both stderr and capture_stderr")
    );
    let e = run_process(Command::new("cat"))
        .stderr_to_stdout(true)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    Ok(())
}

#[trio::test]
async fn stdin_stdout_round_trip_with_cat() -> Result<()> {
    let _serial = serial();
    // A round trip: bytes in through stdin, the same bytes out.
    let done = run_process(Command::new("cat"))
        .input(&b"round trip\0with a nul"[..])
        .capture_stdout(true)
        .await?;
    assert_eq!(done.stdout.unwrap(), b"round trip\0with a nul");
    Ok(())
}

#[trio::test]
async fn run_check() -> Result<()> {
    let _serial = serial();
    // test_run_check: a failure is an error that carries the status and output.
    let cmd = || sh("printf 'test\\n' >&2; exit 1");
    let e = run_process(cmd())
        .stdin(Stdio::null())
        .capture_stderr(true)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Other);
    let failed = ProcessError::find(&e).expect("a ProcessError");
    assert_eq!(failed.args, ["sh", "-c", "printf 'test\\n' >&2; exit 1"]);
    assert_eq!(failed.status.code(), Some(1));
    assert_eq!(failed.stderr.as_deref(), Some(&b"test\n"[..]));
    assert_eq!(failed.stdout, None);
    // Reachable as the source, too.
    let src = std::error::Error::source(&e).unwrap();
    assert!(src.downcast_ref::<ProcessError>().is_some());
    assert!(e.to_string().contains("exited with status 1"), "{e}");

    let done = run_process(cmd())
        .capture_stdout(true)
        .capture_stderr(true)
        .check(false)
        .await?;
    assert_eq!(done.stdout.as_deref(), Some(&b""[..]));
    assert_eq!(done.stderr.as_deref(), Some(&b"test\n"[..]));
    assert_eq!(done.status.code(), Some(1));

    // Killed by a signal is a failure too.
    let e = run_process(sh("kill -TERM $$")).await.unwrap_err();
    let failed = ProcessError::find(&e).unwrap();
    assert_eq!(failed.status.signal(), Some(libc::SIGTERM));
    assert!(e.to_string().contains("exited with signal 15"), "{e}");
    Ok(())
}

#[trio::test]
async fn run_with_broken_pipe() -> Result<()> {
    let _serial = serial();
    // test_run_with_broken_pipe: the child closes stdin without reading; feeding it
    // is not an error.
    let done = run_process(sh("exec 0<&-"))
        .input(vec![b'x'; 131072])
        .await?;
    assert!(done.status.success());
    assert_eq!((done.stdout, done.stderr), (None, None));
    Ok(())
}

#[trio::test]
async fn stderr_to_stdout() -> Result<()> {
    let _serial = serial();
    // test_stderr_stdout, the run_process part (Trio: capture_stdout=True,
    // stderr=STDOUT).
    let done = run_process(sh("cat; printf 4321 >&2"))
        .input(&b"1234"[..])
        .capture_stdout(true)
        .stderr_to_stdout(true)
        .await?;
    assert!(done.status.success());
    assert_eq!(done.stdout.as_deref(), Some(&b"12344321"[..]));
    assert_eq!(done.stderr, None);
    Ok(())
}

#[trio::test]
async fn pipes_nobody_can_reach_are_captured_or_closed() -> Result<()> {
    let _serial = serial();
    // Trio refuses stdin/stdout=PIPE without nursery.start. Here a pipe configured
    // on the Command is captured (output) or closed at once (input), as std's
    // `Command::output` does.
    let mut cmd = sh("cat; printf err >&2");
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let done = run_process(&mut cmd).stdin(Stdio::piped()).await?;
    assert_eq!(done.stdout.as_deref(), Some(&b""[..]));
    assert_eq!(done.stderr.as_deref(), Some(&b"err"[..]));
    Ok(())
}

#[trio::test]
async fn start_hands_back_the_running_process() -> Result<()> {
    let _serial = serial();
    // `await nursery.start(run_process, ...)` returns the Process (Trio's
    // `run_process_in_nursery`): test_basic and test_pipes through it.
    let mut cmd = Command::new("cat");
    cmd.stdout(Stdio::piped());
    let finished = Cell::new(false);
    let fin = &finished;
    let pid = Cell::new(0);
    trio::open_nursery(async |n| {
        let proc: Process = n
            .start(async |status| {
                let done = run_process(&mut cmd)
                    .stdin(Stdio::piped())
                    .task_status(status)
                    .await?;
                assert!(done.status.success());
                assert_eq!(done.stdout, None); // it was handed out, not captured
                fin.set(true);
                Ok(())
            })
            .await?;
        pid.set(proc.pid());
        assert!(proc.pid() > 0);
        assert_eq!(proc.returncode(), None);
        assert!(is_our_child(proc.pid()));
        let (stdin, stdout) = (proc.stdin().unwrap(), proc.stdout().unwrap());
        stdin.send_all(b"through the handle").await?;
        stdin.aclose().await?;
        let mut buf = [0u8; 64];
        let n = stdout.receive_some(&mut buf).await?;
        assert_eq!(&buf[..n], b"through the handle");
        assert!(proc.wait().await?.success());
        Ok(())
    })
    .await?;
    assert!(finished.get());
    assert!(!is_our_child(pid.get()));
    Ok(())
}

#[trio::test]
async fn start_then_signal_through_the_handle() -> Result<()> {
    let _serial = serial();
    // test_signals with `run_process in nursery` (check=False).
    for (signum, send) in [
        (libc::SIGKILL, Process::kill as fn(&Process) -> Result<()>),
        (libc::SIGTERM, Process::terminate),
        (libc::SIGUSR1, |p: &Process| p.send_signal(libc::SIGUSR1)),
    ] {
        trio::fail_after(Duration::from_secs(10), async {
            trio::open_nursery(async |n| {
                let proc = n
                    .start(async |status| {
                        let done = run_process(sleep_cmd(3600))
                            .check(false)
                            .task_status(status)
                            .await?;
                        assert_eq!(done.status.signal(), Some(signum));
                        Ok(())
                    })
                    .await?;
                send(&proc)?;
                assert_eq!(proc.wait().await?.signal(), Some(signum));
                Ok(())
            })
            .await
        })
        .await?;
    }
    Ok(())
}

#[trio::test]
async fn run_process_background_fail() -> Result<()> {
    let _serial = serial();
    // test_run_process_background_fail: check=True in the background fails the
    // nursery.
    let pid = Cell::new(0);
    let e = trio::open_nursery(async |n| {
        let proc = n
            .start(async |status| {
                run_process(Command::new("false"))
                    .task_status(status)
                    .await?;
                Ok(())
            })
            .await?;
        pid.set(proc.pid());
        Ok(())
    })
    .await
    .unwrap_err();
    assert_eq!(ProcessError::find(&e).unwrap().status.code(), Some(1));
    assert!(!is_our_child(pid.get()));
    Ok(())
}

/// Starts `cmd` under run_process in `n` with stdout piped, and waits until the
/// child has written its first line (so its `trap` is set).
async fn start_and_wait_ready<'a, D: trio::process::DeliverCancel + 'a>(
    n: &trio::Nursery<'a>,
    cmd: &'a mut Command,
    deliver: D,
    outcome: &'a Cell<Option<trio::Error>>,
) -> Result<Process> {
    cmd.stdout(Stdio::piped());
    let proc = n
        .start(async move |status| {
            let r = run_process(cmd)
                .deliver_cancel(deliver)
                .task_status(status)
                .await;
            let e = r.expect_err("cancelled");
            let is_cancelled = e.is_cancelled();
            outcome.set(Some(e));
            if is_cancelled {
                Ok(())
            } else {
                Err(trio::Error::new(ErrorKind::Other, "not cancelled"))
            }
        })
        .await?;
    let mut buf = [0u8; 16];
    let n = proc.stdout().unwrap().receive_some(&mut buf).await?;
    assert_eq!(&buf[..n], b"ready\n");
    Ok(proc)
}

const IGNORES_TERM: &str = "trap '' TERM; echo ready; exec sleep 100";

#[trio::test(autojump)]
async fn cancel_kills_a_child_that_ignores_sigterm(clock: MockClock) -> Result<()> {
    // test_warn_on_cancel_SIGKILL_escalation: the default deliver_cancel sends
    // SIGTERM, waits 5 s (mock time), sends SIGKILL — and run_process waits for
    // the child and reaps it before returning.
    let _serial = serial();
    let mut cmd = sh(IGNORES_TERM);
    let outcome = Cell::new(None);
    let pid = Cell::new(0);
    let t0 = Cell::new(trio::current_time());
    let status = Cell::new(None);
    trio::open_nursery(async |n| {
        let proc =
            start_and_wait_ready(n, &mut cmd, TerminateThenKill::default(), &outcome).await?;
        pid.set(proc.pid());
        t0.set(trio::current_time());
        n.cancel_scope().cancel();
        // (Shielded: our own scope is cancelled.)
        status.set(trio::CancelScope::new().shielded().run(proc.wait()).await?);
        Ok(())
    })
    .await?;
    let status = status.get().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL), "SIGTERM was ignored");
    assert!(clock.current_time() - t0.get() >= Duration::from_secs(5));
    assert!(outcome.take().unwrap().is_cancelled());
    // Reaped: not even a zombie.
    assert!(!is_our_child(pid.get()));
    assert!(
        process_support::proc_stat(pid.get()).is_none_or(|(state, _)| state != 'Z'),
        "a zombie was left behind"
    );
    Ok(())
}

#[trio::test]
async fn cancel_with_a_short_grace_period() -> Result<()> {
    // The same with the real clock and a configurable grace period.
    let _serial = serial();
    let mut cmd = sh(IGNORES_TERM);
    let outcome = Cell::new(None);
    let pid = Cell::new(0);
    let started = std::time::Instant::now();
    trio::open_nursery(async |n| {
        let proc = start_and_wait_ready(
            n,
            &mut cmd,
            TerminateThenKill::new(Duration::from_millis(50)),
            &outcome,
        )
        .await?;
        pid.set(proc.pid());
        n.cancel_scope().cancel();
        Ok(())
    })
    .await?;
    assert!(outcome.take().unwrap().is_cancelled());
    assert!(!is_our_child(pid.get()));
    assert!(started.elapsed() < Duration::from_secs(20));
    Ok(())
}

#[trio::test]
async fn cancel_with_an_obedient_child_sends_no_sigkill() -> Result<()> {
    // The child exits on SIGTERM: deliver_cancel is cancelled before its SIGKILL,
    // and run_process returns long before the grace period.
    let _serial = serial();
    let started = std::time::Instant::now();
    let status = Cell::new(None);
    trio::open_nursery(async |n| {
        let proc = n
            .start(async |st| {
                run_process(sleep_cmd(3600))
                    .deliver_cancel(TerminateThenKill::new(Duration::from_secs(3600)))
                    .task_status(st)
                    .await?;
                Ok(())
            })
            .await?;
        n.cancel_scope().cancel();
        status.set(trio::CancelScope::new().shielded().run(proc.wait()).await?);
        Ok(())
    })
    .await?;
    assert_eq!(status.get().unwrap().signal(), Some(libc::SIGTERM));
    assert!(started.elapsed() < Duration::from_secs(60));
    Ok(())
}

#[trio::test]
async fn custom_deliver_cancel() -> Result<()> {
    let _serial = serial();
    // test_custom_deliver_cancel: it is called, cancelled once the child exits, and
    // the child has really exited by then.
    let called = Cell::new(false);
    let (called_ref, exited_when_cancelled) = (&called, &Cell::new(false));
    trio::open_nursery(async |n| {
        n.start_soon(async move {
            run_process(sleep_cmd(9999))
                .deliver_cancel(async |p: &Process| {
                    called_ref.set(true);
                    p.terminate()?;
                    let r = trio::sleep_forever().await;
                    exited_when_cancelled.set(p.returncode().is_some());
                    r
                })
                .await
                .map(drop)
        })?;
        wait_all_tasks_blocked().await?;
        n.cancel_scope().cancel();
        Ok(())
    })
    .await?;
    assert!(called.get());
    assert!(exited_when_cancelled.get());
    Ok(())
}

#[trio::test]
async fn bad_deliver_cancel() -> Result<()> {
    let _serial = serial();
    // test_bad_deliver_cancel: its error comes out (after the child exited), next
    // to the cancellation, which the nursery's scope absorbs.
    let e = trio::open_nursery(async |n| {
        n.start_soon(async {
            run_process(sleep_cmd(9999))
                .deliver_cancel(async |p: &Process| {
                    p.terminate()?;
                    Err(trio::Error::new(ErrorKind::Other, "foo"))
                })
                .await
                .map(drop)
        })?;
        wait_all_tasks_blocked().await?;
        n.cancel_scope().cancel();
        Ok(())
    })
    .await
    .unwrap_err();
    assert!(!e.is_cancelled());
    assert_eq!(e.to_string(), "foo");
    Ok(())
}

#[trio::test]
async fn dropping_the_future_kills_the_child() -> Result<()> {
    // The last-resort cancel: a dropped run_process cannot wait, so it sends
    // SIGKILL and leaves the reaping to the reaper.
    let _serial = serial();
    let before = process_support::children();
    for polls in [1, 2] {
        {
            let mut fut = pin!(run_process(sleep_cmd(3600)).into_future());
            // The first poll spawns the child (and stops at a schedule point); the
            // second one gets to waiting for it.
            for _ in 0..polls {
                let p = std::future::poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await;
                assert!(p.is_pending());
                trio::lowlevel::checkpoint().await?;
            }
            let new: Vec<u32> = process_support::children()
                .into_iter()
                .filter(|p| !before.contains(p))
                .collect();
            assert_eq!(new.len(), 1, "one child was spawned");
        }
        let new: Vec<u32> = process_support::children()
            .into_iter()
            .filter(|p| !before.contains(p))
            .collect();
        for pid in new {
            wait_until_reaped(pid);
        }
        assert_eq!(process_support::children(), before);
    }
    Ok(())
}

#[trio::test]
async fn no_leaking_fds() -> Result<()> {
    // test_for_leaking_fds
    let _serial = serial();
    let before = process_support::open_fd_set();
    run_process(Command::new("true")).await?;
    assert_eq!(process_support::new_fds(&before), []);

    let e = run_process(Command::new("false")).await.unwrap_err();
    assert!(ProcessError::find(&e).is_some());
    assert_eq!(process_support::new_fds(&before), []);

    let e = run_process(Command::new("/dev/null"))
        .capture_stdout(true)
        .capture_stderr(true)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io); // permission denied
    assert_eq!(process_support::new_fds(&before), []);

    run_process(sh("printf x; printf y >&2"))
        .capture_stdout(true)
        .stderr_to_stdout(true)
        .await?;
    assert_eq!(process_support::new_fds(&before), []);
    Ok(())
}
