//! Ctrl-C (SIGINT) handling. Modelled on Trio's `test_ki.py` (the parts that apply
//! to Rust: the main task is cancelled, clean-up runs, `run` reports the
//! interrupt), plus what Rust needs on top: a second Ctrl-C kills the process, and
//! so does one Ctrl-C when the program never reaches a checkpoint.
//!
//! SIGINT goes to the whole process, so every scenario runs in a child process:
//! this test binary re-executed with `TRIO_KI_SCENARIO` set, running the
//! `ki_scenario_child` test. The parent synchronises on lines the child prints.
#![cfg(unix)] // Ctrl-C as SIGINT, sent to a child process with kill(2)

mod child_support;

use std::os::unix::process::ExitStatusExt;
use std::process::Child;
use std::time::Duration;

use child_support::{busy_once_cancelled, say, self_command, spawn_lines, wait_for};

use trio::{CancelScope, ErrorKind};

/// The child side: runs one scenario and exits.
#[test]
fn ki_scenario_child() {
    let Ok(scenario) = std::env::var("TRIO_KI_SCENARIO") else {
        return; // run normally as part of the suite: nothing to do
    };
    let mut builder = trio::Runtime::builder();
    if scenario == "no_exit" {
        builder = builder.ctrl_c_exits(false);
    }
    if scenario.starts_with("graceful") {
        builder = builder.stop_gracefully_on_ctrl_c(Duration::from_secs(600));
    }
    if scenario.starts_with("term") {
        builder = builder.stop_gracefully_on_sigterm(Duration::from_secs(600));
    }
    if scenario == "busy_reported" {
        builder = builder.on_diagnostic(|d: &trio::lowlevel::Diagnostic| {
            say(&format!("diagnostic {:?}: {d}", d.kind()))
        });
    }
    let res = builder.build().run(async {
        match scenario.as_str() {
            "cleanup" => {
                say("ready");
                let err = trio::sleep_forever().await.unwrap_err();
                say(&format!(
                    "cancelled by {}",
                    err.cancelled().unwrap().source()
                ));
                CancelScope::new()
                    .shielded()
                    .run(async {
                        trio::sleep(Duration::from_millis(20)).await?;
                        say("cleanup done");
                        Ok::<_, trio::Error>(())
                    })
                    .await?;
                Err(err)
            }
            "second" => {
                say("ready");
                let _ = trio::sleep_forever().await;
                say("stuck");
                // A clean-up that never ends: only a second Ctrl-C gets us out.
                CancelScope::new()
                    .shielded()
                    .run(trio::sleep_forever())
                    .await?;
                Ok(())
            }
            "no_exit" => {
                say("ready");
                let err = trio::sleep_forever().await.unwrap_err();
                say("stuck");
                // A clean-up that ends when the parent says so, after it has
                // sent more Ctrl-Cs: with `ctrl_c_exits(false)` they must not
                // end the process.
                CancelScope::new()
                    .shielded()
                    .run(trio::to_thread::run_sync(|| {
                        let mut line = String::new();
                        std::io::stdin().read_line(&mut line).map(|_| line)
                    }))
                    .await?
                    .expect("a shielded scope is not cancelled from outside")?;
                say("cleanup done");
                Err(err)
            }
            "graceful" | "graceful_second" | "term_clean" | "term_twice" => {
                say("ready");
                trio::wait_stop_requested().await?;
                say("stop requested");
                // Nothing is cancelled during the grace period.
                trio::lowlevel::checkpoint().await?;
                say("still running");
                if scenario.ends_with("second") || scenario.ends_with("twice") {
                    let e = trio::sleep_forever().await.unwrap_err();
                    say(&format!("cancelled by {}", e.cancelled().unwrap().source()));
                    return Err(e);
                }
                Ok(())
            }
            "own_error" => {
                say("ready");
                let _ = trio::sleep_forever().await;
                // The clean-up after Ctrl-C fails on its own: that error must
                // not be lost behind the interrupt.
                Err(trio::Error::from("the clean-up failed"))
            }
            "busy_after_cancel" => {
                say("ready");
                busy_once_cancelled().await
            }
            "busy" | "busy_reported" => {
                say("ready");
                let mut x: u64 = 0;
                loop {
                    // Never reaches a checkpoint.
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            }
            other => panic!("unknown scenario {other}"),
        }
    });
    match res {
        Ok(()) => {
            say("run returned Ok");
            std::process::exit(0)
        }
        Err(e) if e.kind() == ErrorKind::Interrupted => {
            if let Some(src) = std::error::Error::source(&e) {
                say(&format!("source: {src}"));
            }
            say("run returned Interrupted");
            std::process::exit(0)
        }
        other => {
            say(&format!("run returned {other:?}"));
            std::process::exit(1)
        }
    }
}

fn spawn(scenario: &str) -> (Child, impl Iterator<Item = String>) {
    spawn_lines(self_command(
        "ki_scenario_child",
        "TRIO_KI_SCENARIO",
        scenario,
    ))
}

fn sigint(child: &Child) {
    child_support::signal(child, libc::SIGINT);
}

#[test]
fn ctrl_c_cancels_main_runs_cleanup_and_reports_interrupt() {
    let (mut child, mut lines) = spawn("cleanup");
    wait_for(&mut lines, "ready");
    sigint(&child);
    let rest: Vec<String> = lines.collect();
    let status = child.wait().unwrap();
    assert_eq!(
        rest,
        vec![
            "cancelled by ctrl-c",
            "cleanup done",
            "run returned Interrupted"
        ],
        "status {status:?}"
    );
    assert!(status.success(), "{status:?}");
}

#[test]
fn second_ctrl_c_kills_a_stuck_cleanup() {
    let (mut child, mut lines) = spawn("second");
    wait_for(&mut lines, "ready");
    sigint(&child);
    wait_for(&mut lines, "stuck");
    sigint(&child);
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGINT), "{status:?}");
}

#[test]
fn ctrl_c_stops_a_program_that_never_checkpoints() {
    let (mut child, mut lines) = spawn("busy");
    wait_for(&mut lines, "ready");
    let t0 = std::time::Instant::now();
    sigint(&child);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{status:?}");
    // The grace period is 3 s; allow a generous margin on a loaded machine.
    assert!(t0.elapsed() < Duration::from_secs(30), "{:?}", t0.elapsed());
}

#[test]
fn ctrl_c_stops_a_task_that_stops_checkpointing_once_cancelled() {
    // The task resumes in the very pass that delivers the cancellation, at a
    // point that does not look at it, and spins from then on: the loop took
    // the Ctrl-C, but never comes back to its scheduler.
    let (mut child, mut lines) = spawn("busy_after_cancel");
    wait_for(&mut lines, "ready");
    sigint(&child);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{status:?}");
}

#[test]
fn ctrl_c_keeps_the_main_tasks_own_error() {
    let (mut child, mut lines) = spawn("own_error");
    wait_for(&mut lines, "ready");
    sigint(&child);
    let rest: Vec<String> = lines.collect();
    let status = child.wait().unwrap();
    assert_eq!(
        rest,
        vec!["source: the clean-up failed", "run returned Interrupted"],
        "status {status:?}"
    );
    assert!(status.success(), "{status:?}");
}

#[test]
fn with_ctrl_c_exits_off_more_ctrl_cs_never_end_the_process() {
    let mut cmd = self_command("ki_scenario_child", "TRIO_KI_SCENARIO", "no_exit");
    cmd.stdin(std::process::Stdio::piped());
    let (mut child, mut lines) = spawn_lines(cmd);
    wait_for(&mut lines, "ready");
    sigint(&child);
    wait_for(&mut lines, "stuck");
    sigint(&child);
    sigint(&child);
    use std::io::Write;
    writeln!(child.stdin.take().unwrap(), "go").unwrap();
    let rest: Vec<String> = lines.collect();
    let status = child.wait().unwrap();
    assert_eq!(
        rest,
        vec!["cleanup done", "run returned Interrupted"],
        "status {status:?}"
    );
    assert!(status.success(), "{status:?}");
}

#[test]
fn an_unhandled_ctrl_c_is_a_diagnostic_not_a_print() {
    // Without a callback (and without the `tracing` feature) trio says nothing
    // on stderr before it exits with status 130.
    let mut cmd = self_command("ki_scenario_child", "TRIO_KI_SCENARIO", "busy");
    cmd.stderr(std::process::Stdio::piped());
    let (child, mut lines) = spawn_lines(cmd);
    wait_for(&mut lines, "ready");
    sigint(&child);
    let rest: Vec<String> = lines.collect();
    let (code, stderr) = child_support::finish(child);
    assert_eq!(code, Some(130));
    assert!(rest.is_empty(), "{rest:?}");
    assert_eq!(stderr, "", "trio printed on its own");

    // With a callback, the callback hears why.
    let (mut child, mut lines) = spawn("busy_reported");
    wait_for(&mut lines, "ready");
    sigint(&child);
    let rest: Vec<String> = lines.collect();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{status:?}");
    assert_eq!(rest.len(), 1, "{rest:?}");
    assert!(
        rest[0].starts_with("diagnostic CtrlCUnhandled: Ctrl-C was not handled within 3s"),
        "{rest:?}"
    );
}

#[test]
fn a_graceful_ctrl_c_asks_first_and_cancels_on_the_second() {
    // One Ctrl-C: the main task hears the request, finishes on its own; the run
    // still reports the interruption.
    let (mut child, mut lines) = spawn("graceful");
    wait_for(&mut lines, "ready");
    sigint(&child);
    let rest: Vec<String> = lines.collect();
    let status = child.wait().unwrap();
    assert_eq!(
        rest,
        [
            "stop requested",
            "still running",
            "run returned Interrupted"
        ],
        "status {status:?}"
    );
    assert!(status.success(), "{status:?}");

    // A second Ctrl-C cancels outright (it does not end the process).
    let (mut child, mut lines) = spawn("graceful_second");
    wait_for(&mut lines, "ready");
    sigint(&child);
    wait_for(&mut lines, "still running");
    sigint(&child);
    let rest: Vec<String> = lines.collect();
    let status = child.wait().unwrap();
    assert_eq!(
        rest,
        ["cancelled by ctrl-c", "run returned Interrupted"],
        "status {status:?}"
    );
    assert!(status.success(), "{status:?}");
}

#[test]
fn sigterm_can_be_a_graceful_stop() {
    // One SIGTERM: a clean finish within the grace period is a clean run.
    let (mut child, mut lines) = spawn("term_clean");
    wait_for(&mut lines, "ready");
    child_support::signal(&child, libc::SIGTERM);
    let rest: Vec<String> = lines.collect();
    let status = child.wait().unwrap();
    assert_eq!(
        rest,
        ["stop requested", "still running", "run returned Ok"],
        "status {status:?}"
    );
    assert!(status.success(), "{status:?}");

    // A second SIGTERM cancels outright: the run is interrupted.
    let (mut child, mut lines) = spawn("term_twice");
    wait_for(&mut lines, "ready");
    child_support::signal(&child, libc::SIGTERM);
    wait_for(&mut lines, "still running");
    child_support::signal(&child, libc::SIGTERM);
    let rest: Vec<String> = lines.collect();
    let status = child.wait().unwrap();
    assert_eq!(
        rest,
        ["cancelled by sigterm", "run returned Interrupted"],
        "status {status:?}"
    );
    assert!(status.success(), "{status:?}");
}
