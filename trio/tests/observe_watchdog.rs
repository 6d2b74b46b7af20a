//! The loop watchdog: a step that blocks the loop (here a busy loop standing in for
//! a blocking sleep or a synchronous call, the classic mistake) is reported with the task's name and spawn location — once, as
//! itself, not again as each of its ancestors.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use trio::Runtime;
use trio::lowlevel::SlowStep;

/// Holds the loop thread for `d` without a checkpoint, as a blocking call would.
fn block_the_loop(d: Duration) {
    let until = std::time::Instant::now() + d;
    while std::time::Instant::now() < until {
        std::hint::spin_loop();
    }
}

fn watched(threshold: Duration) -> (Runtime, Rc<RefCell<Vec<SlowStep>>>) {
    let seen = Rc::new(RefCell::new(Vec::new()));
    let s = seen.clone();
    let rt = Runtime::builder()
        .handle_ctrl_c(false)
        .watchdog_with(threshold, move |step: &SlowStep| {
            s.borrow_mut().push(step.clone())
        })
        .build();
    (rt, seen)
}

#[test]
fn a_blocking_sleep_is_reported_with_name_and_spawn_location() {
    let (rt, seen) = watched(Duration::from_millis(40));
    let mut spawn_line = 0;
    rt.run(async {
        trio::open_nursery(async |n| {
            n.start_soon_named("fast", async {
                for _ in 0..100 {
                    trio::lowlevel::checkpoint().await?;
                }
                Ok(())
            })?;
            spawn_line = line!() + 1;
            n.start_soon_named("blocker", async {
                trio::lowlevel::checkpoint().await?;
                // Blocks the whole loop: what the watchdog is for.
                block_the_loop(Duration::from_millis(120));
                trio::lowlevel::checkpoint().await
            })?;
            Ok(())
        })
        .await
    })
    .unwrap();
    let seen = seen.borrow();
    // Reported once: not as `<main>` too, although main's step contained it.
    assert_eq!(seen.len(), 1, "{seen:?}");
    let step = &seen[0];
    assert_eq!(step.task_name, "blocker");
    assert!(step.duration >= Duration::from_millis(120), "{step:?}");
    let at = step.spawned_at.unwrap();
    assert_eq!((at.file(), at.line()), (file!(), spawn_line));
    let text = step.to_string();
    assert!(text.contains("\"blocker\" held the loop for"), "{text}");
    assert!(
        text.contains(&format!("spawned at {}:{spawn_line}", file!())),
        "{text}"
    );
}

#[test]
fn the_main_task_is_watched_too() {
    let (rt, seen) = watched(Duration::from_millis(20));
    rt.run(async {
        block_the_loop(Duration::from_millis(40));
        trio::lowlevel::checkpoint().await
    })
    .unwrap();
    let seen = seen.borrow();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].task_name, "<main>");
    assert_eq!(seen[0].spawned_at.unwrap().file(), file!());
}

#[test]
fn steps_under_the_threshold_are_not_reported() {
    let (rt, seen) = watched(Duration::from_secs(10));
    rt.run(async {
        trio::open_nursery(async |n| {
            for _ in 0..10 {
                n.start_soon(trio::sleep(Duration::from_millis(1)))?;
            }
            Ok(())
        })
        .await
    })
    .unwrap();
    assert!(seen.borrow().is_empty());
}
