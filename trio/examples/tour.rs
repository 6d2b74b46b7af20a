//! A tour of trio: nurseries, borrowing, cancel scopes, `start`, task handles,
//! shielding and the task tree. Run it with:
//!
//! ```text
//! cargo run --release --example tour
//! ```

use std::cell::RefCell;
use std::time::Duration;

use trio::{CancelScope, Error, ErrorKind};

fn section(title: &str) {
    println!("\n== {title}");
}

#[trio::main]
async fn main() -> trio::Result<()> {
    let t0 = trio::current_time();
    let elapsed = move || format!("{:>4} ms", (trio::current_time() - t0).as_millis());

    section("1. A nursery waits for all its children; children borrow local data");
    let log = RefCell::new(Vec::new());
    let log_ref = &log;
    trio::open_nursery(async |n| {
        for (name, ms) in [("slow", 30), ("fast", 10), ("medium", 20)] {
            n.start_soon_named(name, async move {
                trio::sleep(Duration::from_millis(ms)).await?;
                log_ref.borrow_mut().push(name);
                Ok(())
            })?;
        }
        Ok(())
    })
    .await?;
    println!("{}  finished in order: {:?}", elapsed(), log.borrow());

    section("2. Timeouts are cancel scopes: cancelled code sees Err(Cancelled)");
    let r = trio::move_on_after(Duration::from_millis(20), async {
        trio::sleep(Duration::from_secs(3600)).await?;
        Ok::<_, Error>("slept an hour")
    })
    .await?;
    println!("{}  move_on_after gave up: {r:?}", elapsed());
    let r = trio::fail_after(Duration::from_millis(10), trio::sleep_forever()).await;
    println!("{}  fail_after: {}", elapsed(), r.unwrap_err());

    section("3. A failing child cancels its siblings; the error reaches the parent");
    let err = trio::open_nursery(async |n| {
        n.start_soon_named("worker", async {
            match trio::sleep(Duration::from_secs(3600)).await {
                Err(e) => {
                    println!("           worker was told: {e}");
                    Err(e)
                }
                Ok(()) => Ok(()),
            }
        })?;
        n.start_soon_named("faulty", async {
            trio::sleep(Duration::from_millis(5)).await?;
            Err(Error::new(ErrorKind::Other, "the database is on fire"))
        })?;
        Ok(())
    })
    .await
    .unwrap_err();
    println!("{}  the nursery returned: {err}", elapsed());

    section("4. nursery.start: wait until a child says it is ready");
    trio::open_nursery(async |n| {
        let port: u16 = n
            .start(async |status| {
                trio::sleep(Duration::from_millis(5)).await?; // "binding a socket"
                status.started(8080);
                trio::sleep(Duration::from_millis(5)).await // "serving"
            })
            .await?;
        println!("{}  server is ready on port {port}", elapsed());
        Ok(())
    })
    .await?;

    section("5. Task handles: await a child's value, or cancel it alone");
    trio::open_nursery(async |n| {
        let mut answer = n.spawn(async {
            trio::sleep(Duration::from_millis(5)).await?;
            Ok(6 * 7)
        })?;
        let mut forever = n.spawn(async {
            trio::sleep_forever().await?;
            Ok("never")
        })?;
        println!("{}  answer = {}", elapsed(), answer.join().await?);
        forever.cancel();
        println!(
            "{}  the other one: {}",
            elapsed(),
            forever.join().await.unwrap_err()
        );
        Ok(())
    })
    .await?;

    section("6. Shielding: clean-up that must finish even when cancelled");
    let outer = CancelScope::with_timeout(Duration::from_millis(10));
    outer
        .run(async {
            let r = trio::sleep(Duration::from_secs(3600)).await;
            println!("{}  cancelled: {}", elapsed(), r.unwrap_err());
            CancelScope::new()
                .shielded()
                .run(async {
                    trio::sleep(Duration::from_millis(10)).await?; // still sleeps
                    println!("{}  shielded clean-up finished", elapsed());
                    Ok::<_, Error>(())
                })
                .await?;
            trio::lowlevel::checkpoint().await?; // and now we leave
            Ok::<_, Error>(())
        })
        .await?;
    println!(
        "{}  outer scope caught its cancellation: {}",
        elapsed(),
        outer.cancelled_caught()
    );

    section("7. The task tree");
    trio::open_nursery(async |n| {
        n.start_soon_named("child-a", trio::sleep_forever())?;
        n.start_soon_named("child-b", trio::sleep_forever())?;
        trio::testing::wait_all_tasks_blocked().await?;
        print_tree(&trio::lowlevel::current_root_task(), 0);
        n.cancel_scope().cancel();
        Ok(())
    })
    .await?;
    Ok(())
}

fn print_tree(task: &trio::lowlevel::Task, depth: usize) {
    println!("{}{} (#{})", "  ".repeat(depth + 5), task.name(), task.id());
    for nursery in task.child_nurseries() {
        for child in nursery.child_tasks() {
            print_tree(&child, depth + 1);
        }
    }
}
