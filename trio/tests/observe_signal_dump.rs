//! `Builder::task_tree_on_signal`: `kill -USR1 <pid>` prints the task tree of a
//! running program on stderr. The signal goes to the whole process, so the program
//! is this test binary re-executed as a child (as in `core_ctrl_c.rs`).
#![cfg(unix)] // the task tree on a POSIX signal

mod child_support;

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use child_support::{say, self_command, spawn_lines, wait_for};

#[test]
fn dump_child() {
    if std::env::var("TRIO_DUMP_CHILD").is_err() {
        return; // part of the normal suite: nothing to do
    }
    let event = trio::sync::Event::new();
    trio::Runtime::builder()
        .handle_ctrl_c(false)
        .task_tree_on_signal(libc::SIGUSR1)
        .build()
        .run(async {
            trio::open_nursery(async |n| {
                n.start_soon_named("waiting-for-godot", event.wait())?;
                n.start_soon_named("reader", async {
                    // Blocks on stdin: the parent ends the program by closing it.
                    trio::lowlevel::wait_readable(0).await
                })?;
                trio::testing::wait_all_tasks_blocked().await?;
                say("ready");
                Ok(())
            })
            .await
        })
        .unwrap_or_else(|e| panic!("{e}"));
    std::process::exit(0);
}

#[test]
fn sigusr1_prints_the_tree_on_stderr() {
    let mut cmd = self_command("dump_child", "TRIO_DUMP_CHILD", "1");
    cmd.stdin(Stdio::piped()).stderr(Stdio::piped());
    let (mut child, mut out) = spawn_lines(cmd);
    wait_for(&mut out, "ready");
    child_support::signal(&child, libc::SIGUSR1);
    let mut err = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut dump = Vec::new();
    for line in err.by_ref() {
        let line = line.unwrap();
        let done = line.contains("\"reader\"");
        dump.push(line);
        if done {
            break;
        }
    }
    // The dump is what this test is about: end the child.
    child.kill().unwrap();
    let _ = child.wait();
    let text = dump.join("\n");
    assert!(text.contains("trio: task tree (pid "), "{text}");
    assert!(
        text.contains("task 2 \"<main>\": blocked on children of nursery"),
        "{text}"
    );
    assert!(
        text.contains("\"waiting-for-godot\": blocked on Event"),
        "{text}"
    );
    assert!(
        text.contains("\"reader\": blocked on fd 0 readable"),
        "{text}"
    );
    assert!(
        text.contains(&format!("(spawned at {}:", file!())),
        "{text}"
    );
}

/// A signal that cannot be caught is an error of `run`, before the main task
/// starts: never a panic inside the run.
#[test]
fn an_unreceivable_signal_is_an_error_of_run() {
    for sig in [libc::SIGKILL, libc::SIGSTOP, libc::SIGINT, 0, -3, 4096] {
        let ran = std::cell::Cell::new(false);
        let e = trio::Runtime::builder()
            .handle_ctrl_c(false)
            .task_tree_on_signal(sig)
            .build()
            .run(async {
                ran.set(true);
                Ok::<_, trio::Error>(())
            })
            .unwrap_err();
        assert_eq!(e.kind(), trio::ErrorKind::InvalidInput, "signal {sig}: {e}");
        assert!(e.to_string().contains("task_tree_on_signal"), "{e}");
        assert!(!ran.get(), "signal {sig}: the main task ran");
    }
}
