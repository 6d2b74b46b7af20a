//! `Builder::task_tree_on_signal`: `kill -USR1 <pid>` prints the task tree of a
//! running program on stderr. The signal goes to the whole process, so the program
//! is this test binary re-executed as a child (as in `core_ctrl_c.rs`).

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

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
                println!("ready");
                std::io::stdout().flush().unwrap();
                Ok(())
            })
            .await
        })
        .unwrap_or_else(|e| panic!("{e}"));
    std::process::exit(0);
}

#[test]
fn sigusr1_prints_the_tree_on_stderr() {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "dump_child", "--nocapture", "--test-threads=1"])
        .env("TRIO_DUMP_CHILD", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    loop {
        let line = out.next().expect("child exited early").unwrap();
        if line.ends_with("ready") {
            break;
        }
    }
    // SAFETY: plain kill(2) on our own child's pid.
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGUSR1) };
    assert_eq!(rc, 0);
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
