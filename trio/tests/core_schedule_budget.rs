//! `Builder::schedule_budget` (python-trio/trio#1757): with a budget, a task skips up to
//! `n` schedule points per step, but every checkpoint still checks cancellation.
//! The default (no budget) is Trio's rule and is covered by the checkpoint tests in
//! `core_lowlevel.rs` and `core_timeouts.rs`.

use std::cell::RefCell;

use trio::lowlevel::{checkpoint, should_yield};
use trio::{CancelScope, Runtime};

fn record_two_tasks(budget: u32, steps: usize) -> Vec<&'static str> {
    Runtime::builder()
        .schedule_budget(budget)
        .deterministic(true)
        .build()
        .run(async {
            let record = RefCell::new(Vec::new());
            let r = &record;
            trio::open_nursery(async |n| {
                for name in ["a", "b"] {
                    n.start_soon(async move {
                        for _ in 0..steps {
                            r.borrow_mut().push(name);
                            checkpoint().await?;
                        }
                        Ok(())
                    })?;
                }
                Ok(())
            })
            .await?;
            Ok::<_, trio::Error>(record.into_inner())
        })
        .unwrap()
}

#[test]
fn without_a_budget_every_checkpoint_switches_tasks() {
    assert_eq!(record_two_tasks(0, 3), ["a", "b", "a", "b", "a", "b"]);
}

#[test]
fn with_a_budget_a_task_runs_that_many_checkpoints_before_switching() {
    // Budget 2: each step runs 3 checkpoints (2 skipped, the 3rd yields).
    assert_eq!(
        record_two_tasks(2, 6),
        ["a", "a", "a", "b", "b", "b", "a", "a", "a", "b", "b", "b"]
    );
}

#[test]
fn with_a_budget_cancellation_is_still_checked_at_every_checkpoint() {
    Runtime::builder()
        .schedule_budget(1000)
        .build()
        .run(async {
            let scope = CancelScope::new();
            let s = scope.clone();
            let r = scope
                .run(async move {
                    checkpoint().await?;
                    s.cancel();
                    checkpoint().await?; // credit left, but cancelled: fails here
                    unreachable!("the cancelled checkpoint must fail");
                    #[allow(unreachable_code)]
                    Ok::<_, trio::Error>(())
                })
                .await?;
            assert_eq!(r, None);
            Ok::<_, trio::Error>(())
        })
        .unwrap();
}

#[test]
fn with_a_budget_channel_operations_that_complete_at_once_do_not_switch() {
    Runtime::builder()
        .schedule_budget(64)
        .build()
        .run(async {
            let (tx, rx) = trio::open_local_memory_channel::<u32>(8);
            let order = RefCell::new(Vec::new());
            let o = &order;
            trio::open_nursery(async |n| {
                n.start_soon(async move {
                    for i in 0..4 {
                        tx.send(i).await?;
                        o.borrow_mut().push("sent");
                    }
                    Ok(())
                })?;
                n.start_soon(async move {
                    while rx.receive_or_end().await?.is_some() {
                        o.borrow_mut().push("received");
                    }
                    Ok(())
                })?;
                Ok(())
            })
            .await?;
            let order = order.into_inner();
            let first_received = order.iter().position(|e| *e == "received");
            let last_sent = order.iter().rposition(|e| *e == "sent");
            // The sender filled the buffer in one step, without switching.
            assert!(first_received > last_sent, "{order:?}");
            Ok::<_, trio::Error>(())
        })
        .unwrap();
}

#[test]
fn should_yield_is_always_true_by_default() {
    trio::run(async {
        for _ in 0..10 {
            assert!(should_yield());
        }
        Ok(())
    })
    .unwrap();
}
