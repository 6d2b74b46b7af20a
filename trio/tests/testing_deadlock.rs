//! A `#[trio::test]` that can never finish fails instead of hanging — also when
//! its tasks wait on the thread-safe `open_memory_channel`, which deadlock
//! detection alone must not call a deadlock (another thread might hold the other
//! end): after the test's grace (5 s of nothing happening) it fails with the task
//! tree, printed for people, its spawn locations in this file.
//!
//! The deadlocked test runs in a child process (this binary re-executed with
//! `TRIO_DEADLOCK_SCENARIO` set), so that the parent can watch it fail, and time it.

mod child_support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use child_support::{finish, self_command};

/// The child: deadlocked on a thread-safe channel (its sender is alive, held by
/// the main task, which waits for the receiver's task).
#[trio::test]
async fn deadlock_scenario_child() -> trio::Result<()> {
    let Ok(scenario) = std::env::var("TRIO_DEADLOCK_SCENARIO") else {
        return Ok(()); // run normally as part of the suite: nothing to do
    };
    let (tx, rx) = trio::open_memory_channel::<u32>(0);
    match scenario.as_str() {
        "receive" => {
            trio::open_nursery(async |n| {
                n.start_soon_named(
                    "waits for a value",
                    async move { rx.receive().await.map(drop) },
                )?;
                Ok(())
            })
            .await?;
        }
        "send" => {
            let _rx = rx;
            tx.send(7).await?; // nobody receives
        }
        other => panic!("unknown scenario {other}"),
    }
    drop(tx);
    Ok(())
}

/// Runs the child scenario; returns its exit success, everything it printed,
/// and how long it took.
fn run_child(scenario: &str) -> (bool, String, Duration) {
    let mut cmd = self_command(
        "deadlock_scenario_child",
        "TRIO_DEADLOCK_SCENARIO",
        scenario,
    );
    cmd.stderr(Stdio::piped()).env("RUST_BACKTRACE", "0");
    let t0 = Instant::now();
    let (code, output) = finish(cmd.spawn().unwrap());
    (code == Some(0), output, t0.elapsed())
}

#[test]
fn a_deadlocked_test_on_a_thread_safe_channel_fails_with_the_tree() {
    for (scenario, op) in [("receive", "receive on"), ("send", "send on")] {
        let (ok, output, took) = run_child(scenario);
        assert!(!ok, "the deadlocked test passed:\n{output}");
        // The default grace is 5 s; generous bounds for a busy machine.
        assert!(took >= Duration::from_secs(5), "{took:?}\n{output}");
        assert!(took < Duration::from_secs(60), "{took:?}\n{output}");
        assert!(output.contains("deadlock"), "{output}");
        assert!(
            output.contains(&format!("{op} thread-safe channel")),
            "{output}"
        );
        // Readable: the tree's Display, not a Debug dump of the error.
        assert!(output.contains("the task tree:"), "{output}");
        assert!(!output.contains("Error {"), "{output}");
        // Spawned in this file, not in trio's testing module.
        assert!(output.contains("tests/testing_deadlock.rs:"), "{output}");
        assert!(!output.contains("src/testing/mod.rs"), "{output}");
        // And the seed to replay it.
        assert!(output.contains("TRIO_SEED="), "{output}");
        if scenario == "receive" {
            assert!(output.contains("\"waits for a value\""), "{output}");
        }
    }
}

/// Not a deadlock: a thread the run does not know sends on the channel, well
/// within the grace; the test waits for it and passes.
#[trio::test]
async fn a_thread_that_sends_later_is_waited_for() -> trio::Result<()> {
    let (tx, rx) = trio::open_memory_channel::<u32>(1);
    let (go, wait) = std::sync::mpsc::channel::<()>();
    let producer = std::thread::spawn(move || {
        wait.recv().unwrap(); // told once the run has blocked
        tx.send_nowait(42).unwrap();
    });
    let rx = &rx;
    trio::open_nursery(async |n| {
        n.start_soon(async move {
            // Every other task is blocked (the receive below): let the thread go.
            trio::testing::wait_all_tasks_blocked().await?;
            go.send(()).unwrap();
            Ok(())
        })?;
        assert_eq!(rx.receive().await?, 42);
        Ok(())
    })
    .await?;
    producer.join().unwrap();
    Ok(())
}
