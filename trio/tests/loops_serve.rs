//! Serving TCP on every loop of a `run_loops` (`trio::net::LoopListener`,
//! `reuse_port` options): the kernel spreads connections over `SO_REUSEPORT`
//! listeners, or loop 0 accepts and hands connections to the loops in turn. Only
//! loopback addresses.

use std::sync::atomic::{AtomicUsize, Ordering};

use trio::abc::{ReceiveStream, SendStream};
use trio::net::{LoopListener, SocketStream};
use trio::{ErrorKind, LoopContext, MemoryReceiveChannel, MemorySendChannel};

/// A handler that answers one byte, the index of the loop that serves it.
async fn answer_with_index(index: usize, s: SocketStream) -> trio::Result<()> {
    let mut buf = [0u8; 1];
    if s.receive_some(&mut buf).await? == 1 {
        s.send_all(&[index as u8]).await?;
    }
    Ok(())
}

/// A client: which loop served it?
async fn ask(port: u16) -> trio::Result<usize> {
    let c = trio::net::open_tcp_stream("127.0.0.1", port).await?;
    c.send_all(b"?").await?;
    let mut buf = [0u8; 1];
    assert_eq!(c.receive_some(&mut buf).await?, 1);
    Ok(buf[0] as usize)
}

/// Loop 0 runs `clients`, every loop serves `listener`; when the clients are
/// done, loop 0 stops the others (one message each) and itself.
fn serve_and_ask(
    loops: usize,
    listener: &LoopListener,
    clients: impl AsyncFn(u16) -> trio::Result<Vec<usize>> + Sync,
) -> Vec<usize> {
    let (stop_tx, stop_rx): (MemorySendChannel<()>, MemoryReceiveChannel<()>) =
        trio::open_memory_channel(loops);
    let port = listener.local_addr().port();
    let mut out = trio::run_loops(loops, async |cx: LoopContext| {
        let i = cx.index();
        trio::open_nursery(async |n| {
            n.start_soon(listener.serve(i, async |s| answer_with_index(i, s).await))?;
            let served = if i == 0 {
                let served = clients(port).await?;
                for _ in 1..loops {
                    stop_tx.send(()).await?;
                }
                served
            } else {
                stop_rx.receive().await?;
                Vec::new()
            };
            n.cancel_scope().cancel();
            Ok(served)
        })
        .await
        .map(|v| v.expect("the body returned"))
    })
    .unwrap();
    out.swap_remove(0)
}

#[test]
fn reuse_port_spreads_connections_over_the_loops() {
    const LOOPS: usize = 2;
    const CONNS: usize = 64;
    let listener = LoopListener::reuse_port("127.0.0.1:0".parse().unwrap(), LOOPS).unwrap();
    let served = serve_and_ask(LOOPS, &listener, async |port| {
        // Concurrent clients, each from its own source port: the kernel hashes
        // the addresses, so with 64 connections each loop gets some (the chance
        // that one loop gets none is 2^-63).
        let served = std::sync::Mutex::new(Vec::new());
        trio::open_nursery(async |n| {
            for _ in 0..CONNS {
                n.start_soon(async {
                    let i = ask(port).await?;
                    served.lock().unwrap().push(i);
                    Ok(())
                })?;
            }
            Ok(())
        })
        .await?;
        Ok(served.into_inner().unwrap())
    });
    assert_eq!(served.len(), CONNS, "every connection was served");
    for l in 0..LOOPS {
        let k = served.iter().filter(|&&i| i == l).count();
        assert!(k >= 1, "loop {l} served no connection: {served:?}");
    }
}

#[test]
fn handoff_gives_the_connections_to_the_loops_in_turn() {
    const LOOPS: usize = 3;
    let listener = LoopListener::handoff("127.0.0.1:0".parse().unwrap(), LOOPS).unwrap();
    let served = serve_and_ask(LOOPS, &listener, async |port| {
        // One at a time: no queue is ever full, so the turn is exact.
        let mut served = Vec::new();
        for _ in 0..4 * LOOPS {
            served.push(ask(port).await?);
        }
        Ok(served)
    });
    assert_eq!(served, [0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2]);
}

#[test]
fn handoff_delivers_every_connection_under_load() {
    const LOOPS: usize = 2;
    const CONNS: usize = 200;
    let listener = LoopListener::handoff("127.0.0.1:0".parse().unwrap(), LOOPS).unwrap();
    let served = serve_and_ask(LOOPS, &listener, async |port| {
        let per_loop = [AtomicUsize::new(0), AtomicUsize::new(0)];
        let per_loop = &per_loop;
        trio::open_nursery(async |n| {
            for _ in 0..CONNS {
                n.start_soon(async move {
                    let i = ask(port).await?;
                    per_loop[i].fetch_add(1, Ordering::Relaxed);
                    Ok(())
                })?;
            }
            Ok(())
        })
        .await?;
        Ok(per_loop.iter().map(|c| c.load(Ordering::Relaxed)).collect())
    });
    assert_eq!(served.iter().sum::<usize>(), CONNS, "{served:?}");
    assert!(served.iter().all(|&k| k > 0), "{served:?}");
}

/// Windows cannot share a port among live listeners: there `reuse_port` hands
/// off, and so refuses to give out a listener.
#[cfg(windows)]
#[test]
fn reuse_port_hands_off_on_windows() {
    let l = LoopListener::reuse_port("127.0.0.1:0".parse().unwrap(), 2).unwrap();
    assert_eq!(l.loops(), 2);
    let e = l.take_listener(0).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Usage);
    assert!(e.to_string().contains("hands off"), "{e}");
}

#[cfg(unix)]
#[test]
fn taking_listeners_and_misuse() {
    let l = LoopListener::reuse_port("127.0.0.1:0".parse().unwrap(), 2).unwrap();
    assert_eq!(l.loops(), 2);
    let a = l.take_listener(0).unwrap();
    let b = l.take_listener(1).unwrap();
    assert_eq!(a.local_addr().unwrap(), l.local_addr());
    assert_eq!(b.local_addr().unwrap(), l.local_addr());
    assert_eq!(l.take_listener(1).unwrap_err().kind(), ErrorKind::Usage);
    assert_eq!(
        l.take_listener(2).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    trio::run(async {
        // serve on a loop whose socket was taken, or that does not exist
        let h = async |_s: SocketStream| Ok(());
        assert_eq!(l.serve(0, h).await.unwrap_err().kind(), ErrorKind::Usage);
        assert_eq!(
            l.serve(5, h).await.unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        let hand = LoopListener::handoff("127.0.0.1:0".parse().unwrap(), 2)?;
        assert_eq!(hand.take_listener(0).unwrap_err().kind(), ErrorKind::Usage);
        assert_eq!(
            hand.serve(2, h).await.unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        Ok(())
    })
    .unwrap();
    assert_eq!(
        LoopListener::reuse_port("127.0.0.1:0".parse().unwrap(), 0)
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidInput
    );
}

#[cfg(unix)]
#[test]
fn reuse_port_lets_each_loop_serve_a_fixed_port() {
    // serve_tcp(..).reuse_port(true) on every loop, on a port loop 0 picks.
    let (port_tx, port_rx) = trio::open_memory_channel::<u16>(1);
    let (listening_tx, listening_rx) = trio::open_memory_channel::<()>(1);
    let (stop_tx, stop_rx) = trio::open_memory_channel::<()>(1);
    let served = trio::run_loops(2, async |cx: LoopContext| {
        let i = cx.index();
        let handler = async |s| answer_with_index(i, s).await;
        trio::open_nursery(async |n| {
            if i == 0 {
                let ls = n
                    .start(async |st| {
                        trio::net::serve_tcp(handler, 0)
                            .host("127.0.0.1")
                            .reuse_port(true)
                            .task_status(st)
                            .await
                    })
                    .await?;
                let port = ls[0].local_addr()?.port();
                port_tx.send(port).await?;
                listening_rx.receive().await?;
                // Both loops listen: the kernel spreads the connections. Ask until
                // loop 1 has answered (each try has about even odds).
                let mut asked = 0;
                while ask(port).await? != 1 {
                    asked += 1;
                    assert!(asked < 1_000, "loop 1 never served");
                }
                stop_tx.send(()).await?;
            } else {
                let port = port_rx.receive().await?;
                n.start(async move |st| {
                    trio::net::serve_tcp(handler, port)
                        .host("127.0.0.1")
                        .reuse_port(true)
                        .task_status(st)
                        .await
                })
                .await?;
                listening_tx.send(()).await?;
                stop_rx.receive().await?;
            }
            n.cancel_scope().cancel();
            Ok(i)
        })
        .await
        .map(|v| v.expect("the body returned"))
    })
    .unwrap();
    assert_eq!(served, [0, 1]);
}

#[cfg(unix)]
#[test]
fn a_port_taken_without_reuse_port_is_refused() {
    trio::run(async {
        let a = trio::net::TcpListen::new(0)
            .host("127.0.0.1")
            .reuse_port(true)
            .open()
            .await?;
        let port = a[0].local_addr()?.port();
        let e = trio::net::TcpListen::new(port)
            .host("127.0.0.1")
            .open()
            .await
            .unwrap_err();
        let io = std::io::Error::from(e);
        assert_eq!(io.raw_os_error(), Some(libc::EADDRINUSE), "{io}");
        Ok(())
    })
    .unwrap();
}

#[cfg(target_os = "linux")]
/// Linux 6.1 and later give a connection to the `SO_REUSEPORT` listener whose
/// `SO_INCOMING_CPU` is the CPU that processed its first packet.
fn kernel_at_least(major: u32, minor: u32) -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut parts = release
        .trim()
        .split(['.', '-'])
        .map(|p| p.parse::<u32>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(a), Some(b)) => (a, b) >= (major, minor),
        _ => false,
    }
}

#[cfg(target_os = "linux")]
#[test]
fn pinned_loops_serve_the_connections_their_cpu_receives() {
    const LOOPS: usize = 2;
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cpus < LOOPS || !kernel_at_least(6, 1) {
        eprintln!("skipped: needs {LOOPS} CPUs and Linux 6.1 (SO_INCOMING_CPU selection)");
        return;
    }
    let listener = LoopListener::reuse_port("127.0.0.1:0".parse().unwrap(), LOOPS).unwrap();
    let port = listener.local_addr().port();
    // A barrier of the loops, waited for on a worker thread (the loop goes on).
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(LOOPS));
    let all_loops_here = async || {
        let b = barrier.clone();
        trio::to_thread::run_sync(move || {
            b.wait();
        })
        .await
    };
    let served = trio::Loops::new(LOOPS)
        .pin_to_cpus(true)
        .run(async |cx: LoopContext| {
            let i = cx.index();
            trio::open_nursery(async |n| {
                n.start_soon(listener.serve(i, async |s| answer_with_index(i, s).await))?;
                // Serving has started (the socket has its CPU) on every loop.
                trio::testing::wait_all_tasks_blocked().await?;
                all_loops_here().await?;
                // Each loop's clients connect from its own CPU: the kernel hands
                // each connection to this loop's listener.
                let mut by = Vec::new();
                for _ in 0..20 {
                    by.push(ask(port).await?);
                }
                all_loops_here().await?;
                n.cancel_scope().cancel();
                Ok(by)
            })
            .await
            .map(|v| v.expect("the body returned"))
        })
        .unwrap();
    for (i, by) in served.iter().enumerate() {
        assert!(
            by.iter().all(|&j| j == i),
            "loop {i}'s clients were served by {by:?}"
        );
    }
}
