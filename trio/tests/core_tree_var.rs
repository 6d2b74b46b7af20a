//! Tree variables (`trio::TreeVar`): a value bound for a block, seen by the code
//! in it and by every task started into a nursery opened in it — decided by where
//! a task runs in the tree, not by who spawned it.

use std::cell::RefCell;
use std::time::Duration;

use trio::testing::wait_all_tasks_blocked;
use trio::{CancelScope, TreeVar};

static REQUEST: TreeVar<u32> = TreeVar::new("request");
static TENANT: TreeVar<String> = TreeVar::new("tenant");
static UNNAMED: TreeVar<u8> = TreeVar::new("");

#[trio::test]
async fn unbound_is_none_and_bound_is_seen_until_the_block_ends() {
    assert_eq!(REQUEST.get(), None);
    let inside = REQUEST.with(7, async { REQUEST.get() }).await;
    assert_eq!(inside, Some(7));
    assert_eq!(REQUEST.get(), None);
}

#[trio::test]
async fn an_inner_binding_shadows_an_outer_one_for_its_block_only() {
    REQUEST
        .with(1, async {
            REQUEST
                .with(2, async {
                    assert_eq!(REQUEST.get(), Some(2));
                    // Another variable is independent.
                    TENANT
                        .with("acme".to_string(), async {
                            assert_eq!(REQUEST.get(), Some(2));
                            assert_eq!(TENANT.get().as_deref(), Some("acme"));
                        })
                        .await;
                    assert_eq!(TENANT.get(), None);
                })
                .await;
            assert_eq!(REQUEST.get(), Some(1));
        })
        .await;
}

#[trio::test]
async fn children_see_the_value_where_their_nursery_was_opened() -> trio::Result<()> {
    let seen = RefCell::new(Vec::new());
    let seen = &seen;
    REQUEST
        .with(1, async {
            trio::open_nursery(async |outer| {
                REQUEST
                    .with(2, async {
                        trio::open_nursery(async |inner| {
                            inner.start_soon(async move {
                                seen.borrow_mut().push(("inner child", REQUEST.get()));
                                Ok(())
                            })?;
                            // Started from inside the binding of 2, into the nursery
                            // opened under 1: sees 1.
                            outer.start_soon(async move {
                                seen.borrow_mut().push(("outer child", REQUEST.get()));
                                Ok(())
                            })?;
                            Ok(())
                        })
                        .await
                    })
                    .await?;
                // And after the inner block is gone, a child of the outer nursery
                // still sees 1.
                outer.start_soon(async move {
                    seen.borrow_mut().push(("late outer child", REQUEST.get()));
                    Ok(())
                })?;
                Ok(())
            })
            .await
        })
        .await?;
    let mut seen = seen.take();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("inner child", Some(2)),
            ("late outer child", Some(1)),
            ("outer child", Some(1)),
        ]
    );
    Ok(())
}

#[trio::test]
async fn grandchildren_inherit_through_nested_nurseries() -> trio::Result<()> {
    let got = RefCell::new(None);
    let got = &got;
    REQUEST
        .with(5, async {
            trio::open_nursery(async |n| {
                n.start_soon(async move {
                    trio::open_nursery(async |m| {
                        m.start_soon(async move {
                            *got.borrow_mut() = REQUEST.get();
                            Ok(())
                        })?;
                        Ok(())
                    })
                    .await?;
                    Ok(())
                })?;
                Ok(())
            })
            .await
        })
        .await?;
    assert_eq!(got.take(), Some(5));
    Ok(())
}

#[trio::test]
async fn a_started_task_sees_its_target_nursery_after_started() -> trio::Result<()> {
    let log = RefCell::new(Vec::new());
    let log = &log;
    REQUEST
        .with(1, async {
            trio::open_nursery(async |target| {
                REQUEST
                    .with(2, async {
                        target
                            .start(async |status| {
                                // Before `started`, the task runs where `start` was
                                // called (Trio: inside start's private nursery).
                                log.borrow_mut().push(("before started", REQUEST.get()));
                                status.started(());
                                log.borrow_mut().push(("after started", REQUEST.get()));
                                Ok(())
                            })
                            .await
                    })
                    .await
            })
            .await
        })
        .await?;
    assert_eq!(
        *log.borrow(),
        [("before started", Some(2)), ("after started", Some(1))]
    );
    Ok(())
}

#[trio::test]
async fn bindings_pass_through_shields_and_cancellation_passes_through_bindings() -> trio::Result<()>
{
    let scope = CancelScope::new();
    let caught = scope
        .run(REQUEST.with(3, async {
            CancelScope::new()
                .shielded()
                .run(async {
                    assert_eq!(REQUEST.get(), Some(3));
                    Ok::<_, trio::Error>(())
                })
                .await?;
            scope.cancel();
            trio::sleep(Duration::from_secs(1)).await
        }))
        .await?;
    // The binding did not swallow the cancellation: the scope caught it.
    assert_eq!(caught, None);
    assert!(scope.cancelled_caught());
    Ok(())
}

#[trio::test]
async fn system_tasks_and_spawned_handles_follow_the_same_rule() -> trio::Result<()> {
    REQUEST
        .with(9, async {
            // A system task lives in the system nursery, outside main: no value.
            let (tx, rx) = trio::open_memory_channel(1);
            trio::lowlevel::spawn_system_task("system", async move {
                let _ = tx.send(REQUEST.get()).await;
                Ok(())
            })?;
            assert_eq!(rx.receive().await?, None);
            trio::open_nursery(async |n| {
                let mut h = n.spawn(async { Ok(REQUEST.get()) })?;
                assert_eq!(h.join().await?, Some(9));
                Ok(())
            })
            .await?;
            Ok(())
        })
        .await
}

#[trio::test]
async fn the_task_tree_shows_named_bindings() -> trio::Result<()> {
    REQUEST
        .with(42, async {
            TENANT
                .with("acme".to_string(), async {
                    UNNAMED
                        .with(1, async {
                            trio::open_nursery(async |n| {
                                n.start_soon_named("worker", trio::sleep_forever())?;
                                wait_all_tasks_blocked().await?;
                                let tree = trio::lowlevel::task_tree();
                                let worker = tree.find("worker").unwrap();
                                assert_eq!(
                                    worker.context,
                                    [("request", "42".to_string()), ("tenant", "\"acme\"".to_string())]
                                );
                                let text = tree.to_string();
                                assert!(text.contains(r#""worker": blocked on sleep forever [request=42] [tenant="acme"]"#), "{text}");
                                assert!(tree.to_json().contains(r#""context":{"request":"42","tenant":"\"acme\""}"#));
                                n.cancel_scope().cancel();
                                Ok(())
                            })
                            .await?;
                            Ok(())
                        })
                        .await
                })
                .await
        })
        .await
}

#[test]
fn outside_trio_there_is_no_binding() {
    assert_eq!(REQUEST.get(), None);
    // `with` still runs the future (with no binding).
    let v = futures_lite_block_on(REQUEST.with(1, async { REQUEST.get() }));
    assert_eq!(v, None);
}

/// A minimal executor for one ready-at-once future, outside any trio run.
fn futures_lite_block_on<F: std::future::Future>(fut: F) -> F::Output {
    use std::task::{Context, Poll, Waker};
    let mut fut = std::pin::pin!(fut);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("the future was expected to be ready"),
    }
}
