//! A scheduling policy of one's own: tasks whose name starts with `urgent` run
//! first in every batch, the others after them in wake-up order.
//!
//! ```sh
//! cargo run --example schedule_policy
//! ```

use std::cell::RefCell;

use trio::lowlevel::{SchedulePolicy, ScheduleRng, TaskInfo, Wake, checkpoint};

/// Urgent tasks first; prints every batch it orders.
struct UrgentFirst;

impl SchedulePolicy for UrgentFirst {
    fn order(&mut self, batch: &mut [TaskInfo<'_>], _rng: &mut ScheduleRng) {
        // A stable sort: within each group, the wake-up order stays.
        batch.sort_by_key(|t| !t.name().starts_with("urgent"));
        let described: Vec<String> = batch
            .iter()
            .map(|t| {
                let why = match t.wake() {
                    Wake::Spawned => "new",
                    _ => "woken",
                };
                format!("{} #{} ({why})", t.name(), t.id())
            })
            .collect();
        println!("batch: {}", described.join(", "));
    }
}

fn main() {
    let ran = RefCell::new(Vec::new());
    let r = &ran;
    trio::Runtime::builder()
        .schedule_policy(UrgentFirst)
        .build()
        .run(async {
            trio::open_nursery(async |n| {
                for name in ["report", "urgent-alarm", "cleanup", "urgent-page"] {
                    n.start_soon_named(name, async move {
                        for step in 0..2 {
                            r.borrow_mut().push(format!("{name}:{step}"));
                            checkpoint().await?;
                        }
                        Ok(())
                    })?;
                }
                Ok(())
            })
            .await
        })
        .unwrap();
    println!("ran: {}", ran.borrow().join(" "));
    assert!(ran.borrow()[0].starts_with("urgent-alarm"));
}
