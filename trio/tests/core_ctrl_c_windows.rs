//! Ctrl-Break (and Ctrl-C, which Windows delivers the same way) on Windows: a
//! console control event cancels the main task, clean-up runs, and `run`
//! reports the interrupt — as SIGINT does on Unix (see `core_ctrl_c.rs`).
//!
//! A control event goes to a whole process group of the console, so the scenario
//! runs in a child: this test binary re-executed in a new process group, to which
//! the parent sends Ctrl-Break (Windows sends Ctrl-C only to a console's first
//! group, which holds the test runner too).
//!
//! Under Wine (where CI runs the Windows suite) consoles cannot send control
//! events to another process; there the parent sends SIGINT to the child's host
//! process with the host's shell, and Wine turns it into the console's Ctrl-C
//! event — the same handler runs.
#![cfg(windows)]

mod child_support;
mod net_support;

use std::os::windows::process::CommandExt;
use std::process::Child;
use std::time::Duration;

use child_support::{finish, say, self_command, spawn_lines, wait_for};
use trio::CancelScope;

// kernel32's `GenerateConsoleCtrlEvent`: two DWORDs in, a BOOL out. Calls to it
// are unsafe and say why at each call.
#[link(name = "kernel32")]
// SAFETY: the declaration matches that signature exactly.
unsafe extern "system" {
    fn GenerateConsoleCtrlEvent(event: u32, process_group: u32) -> i32;
}

const CTRL_BREAK_EVENT: u32 = 1;
const CREATE_NEW_PROCESS_GROUP: u32 = 0x200;

/// The child side: waits to be interrupted, cleans up, reports.
#[test]
fn ctrl_break_child() {
    if std::env::var_os("TRIO_CTRL_BREAK_CHILD").is_none() {
        return; // run normally as part of the suite: nothing to do
    }
    let res = trio::run(async {
        say("ready");
        let err = trio::sleep_forever().await.unwrap_err();
        say(&format!(
            "cancelled by {}",
            err.cancelled().unwrap().source()
        ));
        CancelScope::new()
            .shielded()
            .run(trio::sleep(Duration::from_millis(20)))
            .await?;
        say("cleanup done");
        Err::<(), _>(err)
    });
    say(&format!("run returned {:?}", res.map_err(|e| e.kind())));
}

/// Sends Ctrl-Break to `child`'s process group; false if the system refuses.
fn ctrl_break(child: &Child) -> bool {
    // SAFETY: a plain call with two integers; the group is our own child's.
    unsafe { GenerateConsoleCtrlEvent(CTRL_BREAK_EVENT, child.id()) != 0 }
}

/// Under Wine: SIGINT to the host process whose command line has `marker`,
/// through the host's shell (Wine runs a host program given its path, with a
/// `PATH` of Windows directories: the script names its programs in full, and
/// Wine does not wait for it). The search looks at each thread's command line,
/// as Wine may end a process's first thread early (leaving its
/// `/proc/<pid>/cmdline` empty), and skips the shell itself, whose command line
/// has the marker too.
fn sigint_under_wine(marker: &str) -> bool {
    let script = format!(
        "for f in /proc/[0-9]*/task/[0-9]*/cmdline; do \
           p=${{f#/proc/}}; p=${{p%%/*}}; [ \"$p\" = $$ ] && continue; \
           case \"$(/usr/bin/tr '\\0' ' ' < \"$f\" 2>/dev/null)\" in \
             *{marker}*) kill -INT \"$p\"; exit;; \
           esac; \
         done"
    );
    std::process::Command::new(r"Z:\bin\sh")
        .args(["-c", &script])
        .spawn()
        .is_ok()
}

#[test]
fn ctrl_break_cancels_main_runs_cleanup_and_reports_interrupt() {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let marker = format!("trio-ctrl-break-{}-{nanos}", std::process::id());
    let mut cmd = self_command("ctrl_break_child", "TRIO_CTRL_BREAK_CHILD", "1");
    // An argument that names the child for the search under Wine (a filter
    // that skips nothing).
    cmd.args(["--skip", &marker]);
    let wine = net_support::under_wine();
    if !wine {
        // Its own group, for Ctrl-Break (a new group ignores Ctrl-C, which is
        // what Wine makes of SIGINT: not under Wine, then).
        cmd.creation_flags(CREATE_NEW_PROCESS_GROUP);
    }
    let (mut child, mut lines) = spawn_lines(cmd);
    wait_for(&mut lines, "ready");
    let sent = if wine {
        sigint_under_wine(&marker)
    } else {
        ctrl_break(&child)
    };
    if !sent {
        let _ = child.kill();
        panic!("could not interrupt the child");
    }
    // The rest of its output, read on a thread so that a child the interrupt
    // never reached is ended rather than waited for.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(wait_for(&mut lines, "run returned Err(Interrupted)"));
        lines.for_each(drop); // libtest's summary: the pipe stays open for it
    });
    let Ok(seen) = rx.recv_timeout(Duration::from_secs(120)) else {
        let _ = child.kill();
        panic!("the child did not report the interrupt");
    };
    assert!(
        seen.iter().any(|l| l == "cancelled by ctrl-c"),
        "the cancellation names its source: {seen:?}"
    );
    assert!(seen.iter().any(|l| l == "cleanup done"), "{seen:?}");
    let (code, _) = finish(child);
    assert_eq!(code, Some(0));
}
