//! Seeing inside a running program: the task tree, the watchdog and the deadlock
//! detector.
//!
//! ```sh
//! cargo run --release --example observe
//! ```

use std::time::Duration;

fn main() {
    // 1. The task tree: who is running, who waits on what, spawned where.
    trio::run(async {
        let lock = trio::sync::Lock::new();
        let (tx, rx) = trio::open_local_memory_channel::<u32>(0);
        lock.acquire().await?;
        trio::open_nursery(async |n| {
            n.start_soon_named("wants the lock", async { lock.acquire().await })?;
            n.start_soon_named("consumer", async move { rx.receive().await.map(drop) })?;
            n.start_soon_named("napper", trio::sleep(Duration::from_secs(5)))?;
            trio::testing::wait_all_tasks_blocked().await?;
            println!("== task tree ({{:#}} adds spawn locations)");
            print!("{:#}", trio::lowlevel::task_tree());
            println!("== as JSON\n{}", trio::lowlevel::task_tree().to_json());
            tx.send(1).await?;
            n.cancel_scope().cancel();
            Ok(())
        })
        .await
    })
    .unwrap();

    // 2. The watchdog: a step that blocks the loop is reported (on stderr by
    //    default; here to stdout through `watchdog_with`).
    println!("\n== watchdog (threshold 50 ms)");
    trio::Runtime::builder()
        .watchdog_with(Duration::from_millis(50), |step| println!("{step}"))
        .build()
        .run(async {
            trio::open_nursery(async |n| {
                n.start_soon_named("blocking call", async {
                    std::thread::sleep(Duration::from_millis(80)); // the mistake
                    Ok(())
                })
            })
            .await
        })
        .unwrap();

    // 3. A deadlock: two tasks, each waiting for the other. Instead of hanging,
    //    the run stops and says why.
    println!("\n== deadlock");
    let err = trio::run(async {
        let (to_a, from_b) = trio::open_local_memory_channel::<u32>(0);
        let (to_b, from_a) = trio::open_local_memory_channel::<u32>(0);
        trio::open_nursery(async |n| {
            n.start_soon_named("a", async move {
                let v = from_b.receive().await?;
                to_b.send(v).await.map_err(Into::into)
            })?;
            n.start_soon_named("b", async move {
                let v = from_a.receive().await?;
                to_a.send(v).await.map_err(Into::into)
            })?;
            Ok(())
        })
        .await
    })
    .unwrap_err();
    // The error's message includes the tree; `err.deadlock()` gives it as data.
    println!("run returned: {err}");
    assert_eq!(err.deadlock().expect("a deadlock").tree.len(), 3);
}
