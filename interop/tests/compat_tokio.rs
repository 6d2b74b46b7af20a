//! `trio::compat::tokio`: tokio futures awaited from trio — results, tokio's
//! timers and sockets, cancellation that reaches the tokio side before `run`
//! returns, panics, and a runtime that goes away.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use trio::abc::{Listener, ReceiveStream, SendStream};
use trio::compat::tokio as tk;
use trio::testing::wait_all_tasks_blocked;
use trio::{CancelScope, ErrorKind};

/// Sets a flag when dropped (on whichever thread drops it).
struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[trio::test]
async fn results_come_back() -> trio::Result<()> {
    assert_eq!(tk::run(async { 6 * 7 }).await?, 42);
    let name = tk::run(async { std::thread::current().name().map(str::to_owned) }).await?;
    assert_eq!(name.as_deref(), Some("trio-compat-tokio"));
    // Owned data goes in and comes out.
    let v = tk::run(async move { vec![1, 2, 3].into_iter().map(|x| x * 2).collect::<Vec<_>>() })
        .await?;
    assert_eq!(v, [2, 4, 6]);
    // Several at once, from several trio tasks.
    let total = AtomicUsize::new(0);
    let total = &total;
    trio::open_nursery(async |n| {
        for i in 0..10usize {
            n.start_soon(async move {
                let x = tk::run(async move {
                    tokio::task::yield_now().await;
                    i
                })
                .await?;
                total.fetch_add(x, Ordering::SeqCst);
                Ok(())
            })?;
        }
        Ok(())
    })
    .await?;
    assert_eq!(total.load(Ordering::SeqCst), 45);
    Ok(())
}

#[trio::test]
async fn tokio_timers_work_inside() -> trio::Result<()> {
    let waited = tk::run(async {
        let t0 = tokio::time::Instant::now();
        tokio::time::sleep(Duration::from_millis(20)).await;
        t0.elapsed()
    })
    .await?;
    assert!(waited >= Duration::from_millis(20));
    // A tokio timeout around tokio work (made inside the async block: tokio's
    // timers look for their runtime when they are created).
    let r = tk::run(async {
        tokio::time::timeout(Duration::from_millis(1), std::future::pending::<()>()).await
    })
    .await?;
    assert!(r.is_err());
    Ok(())
}

/// A tokio `TcpStream` (on the tokio side) talks to a trio listener (on the
/// trio side).
#[trio::test]
async fn tokio_sockets_work_inside() -> trio::Result<()> {
    let listener = trio::net::SocketListener::bind("127.0.0.1:0".parse().unwrap())?;
    let addr = listener.local_addr()?;
    trio::open_nursery(async |n| {
        n.start_soon(async {
            let conn = listener.accept().await?;
            let mut buf = [0u8; 5];
            let mut got = 0;
            while got < 5 {
                got += conn.receive_some(&mut buf[got..]).await?;
            }
            assert_eq!(&buf, b"hello");
            conn.send_all(b"HELLO").await
        })?;
        let reply = tk::run(async move {
            let mut s = tokio::net::TcpStream::connect(addr).await?;
            s.write_all(b"hello").await?;
            let mut buf = [0u8; 5];
            s.read_exact(&mut buf).await?;
            Ok::<_, std::io::Error>(buf)
        })
        .await??;
        assert_eq!(&reply, b"HELLO");
        Ok(())
    })
    .await?;
    Ok(())
}

/// Cancelling the trio scope aborts the tokio task: by the time `run` returns,
/// the future has been dropped on the tokio side (the guard's flag is set, the
/// oneshot sender sees its receiver gone).
#[trio::test]
async fn cancellation_reaches_the_tokio_side() -> trio::Result<()> {
    let dropped = Arc::new(AtomicBool::new(false));
    let guard = SetOnDrop(dropped.clone());
    let (mut tx, rx) = tokio::sync::oneshot::channel::<()>();
    let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
    let scope = CancelScope::new();
    trio::open_nursery(async |n| {
        n.start_soon(async {
            let r = scope
                .run(tk::run(async move {
                    let _guard = guard;
                    started_tx.send(()).unwrap();
                    let _ = rx.await; // never sent
                }))
                .await?;
            assert!(r.is_none());
            // The abort took effect before `run` returned.
            assert!(dropped.load(Ordering::SeqCst));
            Ok(())
        })?;
        // Wait (on the tokio side) until the future runs, then cancel.
        tk::run(started_rx).await?.unwrap();
        scope.cancel();
        Ok(())
    })
    .await?;
    assert!(scope.cancelled_caught());
    // The receiver was dropped with the future.
    tk::run(async move { tx.closed().await }).await?;
    Ok(())
}

/// While the tokio future is busy (not at an `.await`), the cancelled `run`
/// waits for it: nothing keeps running behind the caller's back.
#[trio::test]
async fn cancelled_run_waits_for_the_abort_to_take_effect() -> trio::Result<()> {
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let (gate_tx, gate_rx) = mpsc::channel::<()>();
    let dropped = Arc::new(AtomicBool::new(false));
    let guard = SetOnDrop(dropped.clone());
    let returned = AtomicBool::new(false);
    let scope = CancelScope::new();
    trio::open_nursery(async |n| {
        n.start_soon(async {
            let r = scope
                .run(tk::run(async move {
                    let _guard = guard;
                    started_tx.send(()).unwrap();
                    // Blocks the tokio thread: the abort cannot take effect yet.
                    gate_rx.recv().unwrap();
                    std::future::pending::<()>().await;
                }))
                .await?;
            assert!(r.is_none());
            returned.store(true, Ordering::SeqCst);
            Ok(())
        })?;
        trio::to_thread::run_sync(move || started_rx.recv().unwrap()).await?;
        scope.cancel();
        wait_all_tasks_blocked().await?;
        // Cancelled, but still waiting for the tokio side.
        assert!(!returned.load(Ordering::SeqCst));
        assert!(!dropped.load(Ordering::SeqCst));
        gate_tx.send(()).unwrap();
        Ok(())
    })
    .await?;
    assert!(returned.load(Ordering::SeqCst));
    assert!(dropped.load(Ordering::SeqCst));
    Ok(())
}

/// Already cancelled: the future is not even started.
#[trio::test]
async fn already_cancelled_runs_nothing() -> trio::Result<()> {
    let ran = Arc::new(AtomicBool::new(false));
    let r2 = ran.clone();
    let scope = CancelScope::new();
    scope.cancel();
    let r = scope
        .run(tk::run(async move { r2.store(true, Ordering::SeqCst) }))
        .await?;
    assert!(r.is_none());
    // Make sure anything started would have run by now.
    tk::run(tokio::task::yield_now()).await?;
    assert!(!ran.load(Ordering::SeqCst));
    Ok(())
}

/// A future that finishes before the abort lands: its output is kept (the work
/// was done), as Trio's `to_thread` does.
#[trio::test]
async fn output_wins_over_a_late_abort() -> trio::Result<()> {
    let (gate_tx, gate_rx) = mpsc::channel::<()>();
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let scope = CancelScope::new();
    trio::open_nursery(async |n| {
        n.start_soon(async {
            // No await after the gate: the abort can only land once it is done.
            let r = scope
                .run(async {
                    let v = tk::run(async move {
                        started_tx.send(()).unwrap();
                        gate_rx.recv().unwrap();
                        "done"
                    })
                    .await?;
                    Ok::<_, trio::Error>(v)
                })
                .await?;
            assert_eq!(r, Some("done"));
            Ok(())
        })?;
        trio::to_thread::run_sync(move || started_rx.recv().unwrap()).await?;
        scope.cancel();
        wait_all_tasks_blocked().await?;
        gate_tx.send(()).unwrap();
        Ok(())
    })
    .await?;
    Ok(())
}

#[test]
fn panics_propagate_to_the_trio_task() {
    let r = catch_unwind(AssertUnwindSafe(|| {
        trio::run(async {
            tk::run(async {
                if true {
                    panic!("boom on the tokio side");
                }
            })
            .await
        })
    }));
    let payload = r.unwrap_err();
    let msg = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap();
    assert!(msg.contains("boom on the tokio side"), "{msg}");
    // The background runtime survives a panicking task.
    trio::run(async { tk::run(async { 1 }).await }).unwrap();
}

/// `run_with` on a runtime of ours; when that runtime shuts down under a
/// pending future, `run_with` fails with `BrokenResource`.
#[trio::test]
async fn run_with_and_a_runtime_that_shuts_down() -> trio::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("ours")
        .enable_all()
        .build()
        .unwrap();
    let handle = rt.handle().clone();
    let name = tk::run_with(&handle, async {
        std::thread::current().name().map(str::to_owned)
    })
    .await?;
    assert_eq!(name.as_deref(), Some("ours"));
    let rt = std::cell::Cell::new(Some(rt));
    trio::open_nursery(async |n| {
        n.start_soon(async {
            let e = tk::run_with(&handle, std::future::pending::<()>())
                .await
                .unwrap_err();
            assert_eq!(e.kind(), ErrorKind::BrokenResource);
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        rt.take().unwrap().shutdown_background();
        Ok(())
    })
    .await?;
    Ok(())
}

/// `handle()` gives the background runtime: a tokio object made in its context
/// works from `run`.
#[trio::test]
async fn handle_enters_the_background_runtime() -> trio::Result<()> {
    let sleep = {
        let _guard = tk::handle().enter();
        tokio::time::sleep(Duration::from_millis(1))
    };
    tk::run(sleep).await?;
    Ok(())
}
