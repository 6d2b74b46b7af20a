//! Ctrl-C (SIGINT) handling. Modelled on Trio's `test_ki.py` (the parts that apply
//! to Rust: the main task is cancelled, clean-up runs, `run` reports the
//! interrupt), plus what Rust needs on top: a second Ctrl-C kills the process, and
//! so does one Ctrl-C when the program never reaches a checkpoint.
//!
//! SIGINT goes to the whole process, so every scenario runs in a child process:
//! this test binary re-executed with `TRIO_KI_SCENARIO` set, running the
//! `ki_scenario_child` test. The parent synchronises on lines the child prints.

mod child_support;

use std::os::unix::process::ExitStatusExt;
use std::process::Child;
use std::time::Duration;

use child_support::{say, self_command, spawn_lines, wait_for};

use trio::{CancelScope, ErrorKind};

/// The child side: runs one scenario and exits.
#[test]
fn ki_scenario_child() {
    let Ok(scenario) = std::env::var("TRIO_KI_SCENARIO") else {
        return; // run normally as part of the suite: nothing to do
    };
    let res = trio::run(async {
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
            "own_error" => {
                say("ready");
                let _ = trio::sleep_forever().await;
                // The clean-up after Ctrl-C fails on its own: that error must
                // not be lost behind the interrupt.
                Err(trio::Error::from("the clean-up failed"))
            }
            "busy" => {
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
