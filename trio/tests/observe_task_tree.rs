//! `lowlevel::task_tree()`: the live tree, each task's state, what it is blocked on
//! and where it was spawned, as text and as JSON (parsed back with serde_json in
//! the interop tests).

#[cfg(unix)]
use std::time::Duration;

#[cfg(unix)]
use trio::lowlevel::{BlockedOn, ChannelOp, IoDirection, TaskState, task_tree};
#[cfg(unix)]
use trio::testing::wait_all_tasks_blocked;

#[cfg(unix)]
#[test]
fn tree_shows_nurseries_children_states_and_spawn_lines() {
    trio::run(async {
        trio::open_nursery(async |n| {
            let spawn_line = line!() + 1;
            n.start_soon_named("sleeper", trio::sleep(Duration::from_secs(100)))?;
            n.start_soon_named("parent", async {
                trio::open_nursery(async |inner| {
                    inner.start_soon_named("grandchild", trio::sleep_forever())?;
                    Ok(())
                })
                .await
                .map(drop)
            })?;
            wait_all_tasks_blocked().await?;
            let tree = task_tree();
            assert_eq!(tree.roots.len(), 1, "{tree}");
            let main = &tree.roots[0];
            assert_eq!(main.name, "<main>");
            assert_eq!(main.state, TaskState::Running);
            assert!(!main.system);
            assert_eq!(main.nurseries.len(), 1);
            let names: Vec<&str> = main.nurseries[0]
                .children
                .iter()
                .map(|c| c.name.as_str())
                .collect();
            assert_eq!(names, ["sleeper", "parent"]);

            let sleeper = tree.find("sleeper").unwrap();
            assert_eq!(sleeper.state, TaskState::Blocked);
            let until = trio::current_time().saturating_add(Duration::from_secs(100));
            match sleeper.blocked_on {
                Some(BlockedOn::Sleep { until: t }) => {
                    assert!(t <= until && t > trio::current_time(), "{t:?}")
                }
                ref other => panic!("{other:?}"),
            }
            let at = sleeper.spawned_at.unwrap();
            assert_eq!((at.file(), at.line()), (file!(), spawn_line));

            // A task whose body has finished waits for the children of its nursery.
            let parent = tree.find("parent").unwrap();
            let inner_id = parent.nurseries[0].id;
            assert_eq!(parent.blocked_on, Some(BlockedOn::Nursery { id: inner_id }));
            let grandchild = &parent.nurseries[0].children[0];
            assert_eq!(grandchild.name, "grandchild");
            assert_eq!(grandchild.blocked_on, Some(BlockedOn::SleepForever));
            assert_eq!(tree.len(), 4);

            // Printed as an indented tree.
            let text = format!("{tree}");
            assert!(
                text.contains("\n    task ")
                    && text.contains("\"grandchild\": blocked on sleep forever"),
                "{text}"
            );
            let with_locations = format!("{tree:#}");
            assert!(with_locations.contains(&format!("spawned at {}:{spawn_line}:", file!())));
            n.cancel_scope().cancel();
            Ok(())
        })
        .await
    })
    .unwrap();
}

#[cfg(unix)]
#[test]
fn runnable_tasks_are_marked() {
    trio::run(async {
        trio::open_nursery(async |n| {
            n.start_soon_named("fresh", async { Ok(()) })?;
            // Not yet run: it sits in its nursery's ready queue.
            assert_eq!(
                task_tree().find("fresh").unwrap().state,
                TaskState::Runnable
            );
            assert_eq!(task_tree().find("fresh").unwrap().blocked_on, None);
            Ok(())
        })
        .await
    })
    .unwrap();
}

#[cfg_attr(
    miri,
    ignore = "leaves an idle to_thread worker behind, which Miri reports as a leaked thread"
)]
#[cfg(unix)]
#[test]
fn each_primitive_says_what_it_waits_on() {
    trio::run(async {
        let lock = trio::sync::Lock::new();
        let sem = trio::sync::Semaphore::new(0);
        let event = trio::sync::Event::new();
        let limiter = trio::sync::CapacityLimiter::new(1);
        let (tx, rx) = trio::open_local_memory_channel::<u8>(0);
        let (ts_tx, ts_rx) = trio::open_memory_channel::<u8>(0);
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        lock.acquire().await?;
        let _borrowed = limiter.acquire().await?;
        let _keep = (&tx, &ts_rx, &b);
        trio::open_nursery(async |n| {
            n.start_soon_named("lock", async { lock.acquire().await.map(drop) })?;
            n.start_soon_named("sem", async { sem.acquire().await.map(drop) })?;
            n.start_soon_named("event", event.wait())?;
            n.start_soon_named("limiter", async { limiter.acquire().await.map(drop) })?;
            n.start_soon_named("recv", async { rx.receive().await.map(drop) })?;
            n.start_soon_named("send", async { ts_tx.send(1).await.map_err(|e| e.into()) })?;
            n.start_soon_named("fd", async {
                use std::os::fd::AsRawFd;
                trio::lowlevel::wait_readable(a.as_raw_fd()).await
            })?;
            let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
            n.start_soon_named("thread", async move {
                // The worker waits until the test has looked at the tree.
                let _ = trio::to_thread::run_sync(move || release_rx.recv()).await?;
                Ok(())
            })?;
            let h = n.spawn_named("joined", trio::sleep_forever())?;
            n.start_soon_named("joiner", async move {
                let mut h = h;
                h.join().await
            })?;
            wait_all_tasks_blocked().await?;
            let tree = task_tree();
            let on = |name: &str| tree.find(name).unwrap().blocked_on.unwrap();
            let prim = |name: &str| match on(name) {
                BlockedOn::Sync { primitive, .. } => primitive,
                other => panic!("{name}: {other:?}"),
            };
            assert_eq!(prim("lock"), "Lock");
            assert_eq!(prim("sem"), "Semaphore");
            assert_eq!(prim("event"), "Event");
            assert_eq!(prim("limiter"), "CapacityLimiter");
            assert_eq!(prim("joiner"), "TaskHandle");
            assert!(matches!(
                on("recv"),
                BlockedOn::Channel {
                    operation: ChannelOp::Receive,
                    thread_safe: false,
                    ..
                }
            ));
            assert!(matches!(
                on("send"),
                BlockedOn::Channel {
                    operation: ChannelOp::Send,
                    thread_safe: true,
                    ..
                }
            ));
            {
                use std::os::fd::AsRawFd;
                assert_eq!(
                    on("fd"),
                    BlockedOn::Fd {
                        fd: a.as_raw_fd(),
                        direction: IoDirection::Read
                    }
                );
            }
            assert_eq!(on("thread"), BlockedOn::Thread);
            release_tx.send(()).unwrap();
            // Two waits on the same lock report the same id; different locks differ.
            let BlockedOn::Sync { id: lock_id, .. } = on("lock") else {
                unreachable!()
            };
            let BlockedOn::Sync { id: sem_id, .. } = on("sem") else {
                unreachable!()
            };
            assert_ne!(lock_id, sem_id);
            n.cancel_scope().cancel();
            Ok(())
        })
        .await
    })
    .unwrap();
}

#[cfg(unix)]
#[test]
fn system_tasks_are_roots() {
    trio::run(async {
        trio::lowlevel::spawn_system_task("ticker", trio::sleep_forever())?;
        wait_all_tasks_blocked().await?;
        let tree = task_tree();
        assert_eq!(tree.roots.len(), 2);
        assert_eq!(tree.roots[0].name, "<main>");
        assert_eq!(tree.roots[1].name, "ticker");
        assert!(tree.roots[1].system);
        Ok(())
    })
    .unwrap();
}

#[cfg(unix)]
#[test]
fn the_task_that_started_another_waits_for_it() {
    trio::run(async {
        trio::open_nursery(async |n| {
            let target = n.clone();
            n.start_soon_named("starter", async move {
                target
                    .start_named("slow start", async |status: trio::TaskStatus<()>| {
                        trio::sleep_forever().await?;
                        status.started(());
                        Ok(())
                    })
                    .await
            })?;
            wait_all_tasks_blocked().await?;
            let tree = task_tree();
            let starter = tree.find("starter").unwrap();
            // The task being started runs in a nursery of the starter.
            assert_eq!(starter.nurseries.len(), 1);
            assert_eq!(starter.nurseries[0].children[0].name, "slow start");
            assert_eq!(
                starter.blocked_on,
                Some(BlockedOn::Nursery {
                    id: starter.nurseries[0].id
                })
            );
            n.cancel_scope().cancel();
            Ok(())
        })
        .await
    })
    .unwrap();
}
