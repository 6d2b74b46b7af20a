//! Deadlock detection: a run whose tasks can never be woken stops with
//! `ErrorKind::Deadlock` and the task tree — and only such a run (every case here
//! where something outside the loop could still wake a task must not trip it).

use std::time::Duration;

use trio::lowlevel::{BlockedOn, ChannelOp, TaskState};
use trio::{ErrorKind, Runtime};

fn rt() -> Runtime {
    // Ctrl-C handling off: with it on, a `sleep_forever` counts as waiting for
    // Ctrl-C (tested separately below).
    Runtime::builder().handle_ctrl_c(false).build()
}

/// Signals once the loop is about to block with nothing runnable and no deadline —
/// i.e. right after the deadlock detector looked and found none.
struct WhenIdle(std::sync::Mutex<Option<std::sync::mpsc::Sender<()>>>);
impl trio::lowlevel::Instrument for WhenIdle {
    fn before_io_wait(&self, timeout: Duration) {
        if timeout >= Duration::from_secs(3600) {
            if let Some(tx) = self.0.lock().unwrap().take() {
                tx.send(()).unwrap();
            }
        }
    }
}

/// A runtime, and a receiver that gets a message once the loop has found
/// everything blocked and decided it is not a deadlock (the other thread then
/// plays the outside world that wakes the run).
fn rt_idle() -> (Runtime, std::sync::mpsc::Receiver<()>) {
    let (tx, rx) = std::sync::mpsc::channel();
    let rt = Runtime::builder()
        .handle_ctrl_c(false)
        .instrument(std::rc::Rc::new(WhenIdle(std::sync::Mutex::new(Some(tx)))))
        .build();
    (rt, rx)
}

#[test]
fn two_tasks_waiting_on_each_others_channel() {
    let cleanups = std::cell::Cell::new(0);
    let err = rt()
        .run(async {
            let (to_a, from_b) = trio::open_local_memory_channel::<u32>(0);
            let (to_b, from_a) = trio::open_local_memory_channel::<u32>(0);
            let cleanups = &cleanups;
            trio::open_nursery(async |n| {
                n.start_soon_named("a", async move {
                    let _c = scopeguard(cleanups);
                    let v = from_b.receive().await?; // waits for b...
                    to_b.send(v + 1).await?;
                    Ok(())
                })?;
                n.start_soon_named("b", async move {
                    let _c = scopeguard(cleanups);
                    let v = from_a.receive().await?; // ...which waits for a
                    to_a.send(v + 1).await?;
                    Ok(())
                })?;
                Ok(())
            })
            .await
        })
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Deadlock);
    // Every task was cancelled and unwound before `run` returned.
    assert_eq!(cleanups.get(), 2);
    let tree = &err.deadlock().expect("a deadlock carries its tree").tree;
    let main = &tree.roots[0];
    assert_eq!(main.name, "<main>");
    let nursery = &main.nurseries[0];
    assert_eq!(main.blocked_on, Some(BlockedOn::Nursery { id: nursery.id }));
    let names: Vec<&str> = nursery.children.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    let (a, b) = (&nursery.children[0], &nursery.children[1]);
    for t in [a, b] {
        assert_eq!(t.state, TaskState::Blocked);
        assert!(
            matches!(
                t.blocked_on,
                Some(BlockedOn::Channel {
                    operation: ChannelOp::Receive,
                    thread_safe: false,
                    ..
                })
            ),
            "{:?}",
            t.blocked_on
        );
    }
    // Different channels.
    assert_ne!(a.blocked_on, b.blocked_on);
    let text = err.deadlock().unwrap().to_string();
    assert!(
        text.contains("\"a\": blocked on receive on channel"),
        "{text}"
    );
}

struct Guard<'a>(&'a std::cell::Cell<u32>);
impl Drop for Guard<'_> {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}
fn scopeguard(c: &std::cell::Cell<u32>) -> Guard<'_> {
    Guard(c)
}

#[test]
fn main_waiting_for_an_event_nobody_sets() {
    let event = trio::sync::Event::new();
    let err = rt().run(async { event.wait().await }).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Deadlock);
    let tree = &err.deadlock().unwrap().tree;
    assert!(matches!(
        tree.roots[0].blocked_on,
        Some(BlockedOn::Sync {
            primitive: "Event",
            ..
        })
    ));
}

#[test]
fn sleep_forever_is_a_deadlock_only_without_ctrl_c_handling() {
    let err = rt().run(trio::sleep_forever()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Deadlock);
    // With Ctrl-C handled, sleep_forever is how a program waits for Ctrl-C: a
    // deadline stands in for the user here.
    let rt = Runtime::builder().handle_ctrl_c(true).build();
    let r = rt.run(trio::move_on_after(
        Duration::from_millis(20),
        trio::sleep_forever(),
    ));
    assert!(r.unwrap().is_none());
}

#[test]
fn a_pending_deadline_is_not_a_deadlock() {
    let event = trio::sync::Event::new();
    let r = rt()
        .run(async { trio::move_on_after(Duration::from_millis(20), event.wait()).await })
        .unwrap();
    assert!(r.is_none());
}

#[test]
fn a_mock_clock_deadline_is_not_a_deadlock_either() {
    let clock = trio::testing::MockClock::new();
    clock.set_autojump_threshold(Duration::ZERO);
    let rt = Runtime::builder().clock(clock).handle_ctrl_c(false).build();
    let event = trio::sync::Event::new();
    let r = rt
        .run(async { trio::move_on_after(Duration::from_secs(3600), event.wait()).await })
        .unwrap();
    assert!(r.is_none());
}

#[cfg(unix)]
#[test]
fn waiting_on_a_file_descriptor_is_not_a_deadlock() {
    let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
    let (rt, idle) = rt_idle();
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        idle.recv().unwrap();
        (&b).write_all(b"x").unwrap();
        b
    });
    rt.run(async {
        use std::os::fd::AsRawFd;
        trio::lowlevel::wait_readable(a.as_raw_fd()).await
    })
    .unwrap();
    writer.join().unwrap();
}

#[test]
fn a_worker_thread_is_not_a_deadlock() {
    let (rt, idle) = rt_idle();
    let idle = std::sync::Mutex::new(idle);
    let v = rt
        .run(async {
            trio::to_thread::run_sync(move || {
                idle.lock().unwrap().recv().unwrap(); // the loop went idle meanwhile
                7
            })
            .await
        })
        .unwrap();
    assert_eq!(v, 7);
}

#[test]
fn a_thread_safe_channel_fed_by_a_plain_thread_is_not_a_deadlock() {
    let (tx, rx) = trio::open_memory_channel::<u32>(0);
    let (rt, idle) = rt_idle();
    let feeder = std::thread::spawn(move || {
        idle.recv().unwrap();
        loop {
            match tx.send_nowait(5) {
                Ok(()) => break,
                Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::yield_now(),
                Err(e) => panic!("{e}"),
            }
        }
    });
    let v = rt.run(async { rx.receive().await }).unwrap();
    assert_eq!(v, 5);
    feeder.join().unwrap();
}

#[test]
fn a_token_held_by_another_thread_keeps_the_run_waiting() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let given_back = std::sync::Arc::new(AtomicBool::new(false));
    let event = trio::sync::Event::new();
    let mut thread = None;
    let (rt, idle) = rt_idle();
    let err = rt
        .run(async {
            let token = trio::lowlevel::current_trio_token();
            let g = given_back.clone();
            thread = Some(std::thread::spawn(move || {
                // While this thread holds the token it could call into the loop:
                // the run must wait (go idle), not declare a deadlock.
                idle.recv().unwrap();
                g.store(true, Ordering::SeqCst);
                drop(token);
            }));
            event.wait().await
        })
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Deadlock);
    assert!(
        given_back.load(Ordering::SeqCst),
        "declared while a token was out"
    );
    thread.unwrap().join().unwrap();
}

#[test]
fn a_foreign_future_is_not_a_deadlock() {
    // A future trio does not know, completed by another thread.
    let (tx, rx) = futures_oneshot();
    let (rt, idle) = rt_idle();
    let t = std::thread::spawn(move || {
        idle.recv().unwrap();
        tx.send(3);
    });
    let v = rt.run(async { Ok::<_, trio::Error>(rx.await) }).unwrap();
    assert_eq!(v, 3);
    t.join().unwrap();
}

#[test]
fn opting_out_keeps_the_run_waiting() {
    let rt = Runtime::builder()
        .handle_ctrl_c(false)
        .deadlock_detection(false)
        .build();
    let event = trio::sync::Event::new();
    let r = rt.run(async {
        trio::open_nursery(async |n| {
            n.start_soon(async {
                // Found blocked by the detector if it were on.
                event.wait().await
            })?;
            trio::testing::wait_all_tasks_blocked().await?;
            event.set();
            Ok(())
        })
        .await
    });
    r.unwrap();
}

/// A minimal oneshot completed by another thread (a future trio does not know).
fn futures_oneshot() -> (Sender, Receiver) {
    let shared = std::sync::Arc::new(std::sync::Mutex::new((None, None)));
    (Sender(shared.clone()), Receiver(shared))
}
type Shared = std::sync::Arc<std::sync::Mutex<(Option<u32>, Option<std::task::Waker>)>>;
struct Sender(Shared);
struct Receiver(Shared);
impl Sender {
    fn send(self, v: u32) {
        let mut g = self.0.lock().unwrap();
        g.0 = Some(v);
        if let Some(w) = g.1.take() {
            w.wake();
        }
    }
}
impl std::future::Future for Receiver {
    type Output = u32;
    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<u32> {
        let mut g = self.0.lock().unwrap();
        match g.0.take() {
            Some(v) => std::task::Poll::Ready(v),
            None => {
                g.1 = Some(cx.waker().clone());
                std::task::Poll::Pending
            }
        }
    }
}
