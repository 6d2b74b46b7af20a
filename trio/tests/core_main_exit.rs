//! How a `#[trio::main]` program leaves: after Ctrl-C with status 130 and no
//! message (whether `main` returns `()` or a `Result`); after an error with
//! status 1 and the error's `Display` and causes — never a `Debug` dump.
//!
//! This test has a `main` of its own (`harness = false`): it re-executes itself
//! with `TRIO_MAIN_SCENARIO` set, and the child runs one of the `#[trio::main]`
//! functions below while the parent watches it (and sends the Ctrl-C).

mod child_support;

use std::process::{Command, ExitCode, Stdio};
use std::time::Duration;

use child_support::{finish, say};
#[cfg(unix)]
use child_support::{signal, spawn_lines, wait_for};

/// Waits for Ctrl-C, returning nothing.
#[trio::main]
async fn unit_main() {
    say("ready");
    trio::sleep_forever().await.unwrap_err(); // cancelled by Ctrl-C
}

/// Waits for Ctrl-C, returning a `trio::Result`.
#[trio::main]
async fn result_main() -> trio::Result<()> {
    say("ready");
    trio::sleep(Duration::from_secs(3600)).await
}

/// Fails with an error that has a cause.
#[trio::main]
async fn failing_main() -> trio::Result<()> {
    let cause = std::io::Error::new(std::io::ErrorKind::NotFound, "settings.toml is missing");
    Err(trio::Error::other(cause).context(trio::ErrorKind::Io, "cannot load the settings"))
}

/// Fails with an error type of its own (any `Into<Box<dyn Error>>`).
#[trio::main]
async fn boxed_main() -> Result<(), Box<dyn std::error::Error>> {
    Err("no luck today".into())
}

/// Runs `scenario` in a child; returns its exit code and what it wrote to
/// stderr (after "ready", for a child that is interrupted).
fn run(scenario: &str, interrupt: bool) -> (Option<i32>, String) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.env("TRIO_MAIN_SCENARIO", scenario)
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .stderr(Stdio::piped());
    if !interrupt {
        cmd.stdout(Stdio::null());
        return finish(cmd.spawn().unwrap());
    }
    interrupt_child(cmd)
}

/// Starts the child, waits until it is ready, sends it Ctrl-C (SIGINT).
#[cfg(unix)]
fn interrupt_child(mut cmd: Command) -> (Option<i32>, String) {
    let (mut child, mut lines) = spawn_lines({
        cmd.stdout(Stdio::piped());
        cmd
    });
    wait_for(&mut lines, "ready");
    signal(&child, libc::SIGINT);
    lines.for_each(drop);
    child.stdout = None;
    finish(child)
}

#[cfg(windows)]
fn interrupt_child(_cmd: Command) -> (Option<i32>, String) {
    unreachable!("Ctrl-C to a child is a Unix-only scenario here")
}

fn parent() {
    // Ctrl-C sent to a child: SIGINT on Unix. (Windows would need a console
    // control event to another process group; not tried here.)
    #[cfg(unix)]
    for scenario in ["unit", "result"] {
        let (code, err) = run(scenario, true);
        assert_eq!(code, Some(130), "{scenario}: {err}");
        assert!(err.lines().count() <= 1, "{scenario}: {err}");
        assert!(
            !err.contains("Error {") && !err.contains("kind:"),
            "{scenario}: {err}"
        );
    }
    let (code, err) = run("failing", false);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.starts_with("Error: "), "{err}");
    assert!(err.contains("cannot load the settings"), "{err}");
    assert!(err.contains("settings.toml is missing"), "{err}");
    assert!(!err.contains("Error {") && !err.contains("kind:"), "{err}");
    let (code, err) = run("boxed", false);
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(err.trim_end(), "Error: no luck today");
    println!("core_main_exit: scenarios passed");
}

fn main() -> ExitCode {
    match std::env::var("TRIO_MAIN_SCENARIO").as_deref() {
        Ok("unit") => unit_main(),
        Ok("result") => result_main(),
        Ok("failing") => failing_main(),
        Ok("boxed") => boxed_main(),
        Ok(other) => panic!("unknown scenario {other}"),
        Err(_) => {
            parent();
            ExitCode::SUCCESS
        }
    }
}
