//! Scale: 10,000 concurrent loopback connections served by trio, and cancelling
//! 10,000 in-flight connects and 10,000 in-flight reads leaves no file descriptor
//! behind.
//!
//! The machine's hard limit on open files may be as low as 20,000 and a test cannot
//! raise it, while 10,000 connections need 20,000 descriptors (both ends). So the
//! server runs in a second process: this test binary again, with
//! `TRIO_SCALE_SERVER` set, running `server_process` (ignored unless asked for).
//! Both processes are trio programs; the client side keeps every connection open
//! until all 10,000 are established, and the server reports the peak number of
//! connections it had open at once.
//!
//! Everything runs in one `#[test]` because it counts this process's open file
//! descriptors, which other tests running in parallel would disturb.
#![cfg(unix)] // file-descriptor limits (setrlimit) and /proc fd counts

mod net_support;

use std::cell::Cell;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use net_support::fd_count;
use trio::abc::{Listener, ReceiveStream, SendStream};
use trio::net::{SocketStream, TcpConnect, TcpListen, open_tcp_stream};
use trio::sync::Event;
use trio::testing::wait_all_tasks_blocked;
use trio::{CancelScope, ErrorKind};

const N: usize = 10_000;

/// Raises the soft limit on open files towards `want`; returns the new soft limit.
// (`rlim_t` is unsigned on Linux and macOS, signed on FreeBSD: the casts are
// needed on some of them only.)
#[allow(clippy::unnecessary_cast)]
fn raise_fd_limit(want: u64) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to an rlimit.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        lim.rlim_cur = lim.rlim_max.min(want as libc::rlim_t);
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
    }
    lim.rlim_cur as u64
}

/// The server half, run in a child process: accepts `N` connections; each handler
/// echoes one byte, then waits for the client to close. Prints `PORT p` once
/// listening, and `SERVED n PEAK p` at the end.
#[test]
#[ignore = "the server half of `scale`, run in a child process"]
fn server_process() {
    if std::env::var_os("TRIO_SCALE_SERVER").is_none() {
        return;
    }
    assert!(raise_fd_limit(N as u64 + 500) >= N as u64 + 500);
    trio::run(async {
        let listener = TcpListen::new(0).host("127.0.0.1").open().await?.remove(0);
        println!("PORT {}", listener.local_addr()?.port());
        let (open, peak, served) = (Cell::new(0usize), Cell::new(0usize), Cell::new(0usize));
        let (open, peak, served) = (&open, &peak, &served);
        trio::open_nursery(async |n| {
            for _ in 0..N {
                let s: SocketStream = listener.accept().await?;
                n.start_soon(async move {
                    open.set(open.get() + 1);
                    peak.set(peak.get().max(open.get()));
                    let mut buf = [0u8; 1];
                    assert_eq!(s.receive_some(&mut buf).await?, 1);
                    s.send_all(&buf).await?;
                    // The client keeps the connection open until all are up.
                    match s.receive_some(&mut buf).await {
                        Ok(0) => {}
                        Ok(_) => panic!("unexpected data"),
                        Err(e) if e.kind() == ErrorKind::BrokenResource => {}
                        Err(e) => return Err(e),
                    }
                    open.set(open.get() - 1);
                    served.set(served.get() + 1);
                    Ok(())
                })?;
            }
            Ok(())
        })
        .await?;
        println!("SERVED {} PEAK {}", served.get(), peak.get());
        Ok::<_, trio::Error>(())
    })
    .unwrap();
}

/// Starts `server_process` in a child; returns it, its stdout and its port.
fn start_server() -> (Child, BufReader<std::process::ChildStdout>, u16) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["server_process", "--exact", "--ignored", "--nocapture"])
        .args(["--test-threads", "1"])
        .env("TRIO_SCALE_SERVER", "1")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let port = loop {
        let mut line = String::new();
        assert_ne!(out.read_line(&mut line).unwrap(), 0, "server exited early");
        // libtest may print "test server_process ... " on the same line.
        if let Some((_, p)) = line.trim().split_once("PORT ") {
            break p.parse().unwrap();
        }
    };
    (child, out, port)
}

/// Waits for the server's `SERVED` line; returns (served, peak).
fn server_report(
    mut child: Child,
    mut out: BufReader<std::process::ChildStdout>,
) -> (usize, usize) {
    let report = loop {
        let mut line = String::new();
        assert_ne!(
            out.read_line(&mut line).unwrap(),
            0,
            "server exited without a report"
        );
        if let Some((_, r)) = line.trim().split_once("SERVED ") {
            break r.to_string();
        }
    };
    assert!(child.wait().unwrap().success());
    let parts: Vec<usize> = report.split(" PEAK ").map(|x| x.parse().unwrap()).collect();
    (parts[0], parts[1])
}

#[test]
fn scale() {
    assert!(
        raise_fd_limit(N as u64 + 500) >= N as u64 + 500,
        "this test needs {} open files",
        N + 500
    );
    // The first run installs the process-wide Ctrl-C machinery (a socket pair kept
    // for the life of the process): count descriptors after it.
    trio::run(async { Ok::<_, trio::Error>(()) }).unwrap();
    let fds_at_start = fd_count();

    // 1. 10,000 concurrent connections, all open at the same time.
    let (child, out, port) = start_server();
    trio::run(async {
        let up = Cell::new(0usize);
        let all_up = Event::new();
        let (up, all_up) = (&up, &all_up);
        trio::fail_after(
            Duration::from_secs(120),
            trio::open_nursery(async |n| {
                for i in 0..N {
                    n.start_soon(async move {
                        let s = open_tcp_stream("127.0.0.1", port).await?;
                        s.send_all(&[i as u8]).await?;
                        let mut buf = [0u8; 1];
                        assert_eq!(s.receive_some(&mut buf).await?, 1);
                        assert_eq!(buf[0], i as u8);
                        up.set(up.get() + 1);
                        if up.get() == N {
                            all_up.set();
                        }
                        all_up.wait().await // hold the connection until all are up
                    })?;
                }
                Ok(())
            }),
        )
        .await?;
        assert_eq!(up.get(), N);
        Ok::<_, trio::Error>(())
    })
    .unwrap();
    assert_eq!(server_report(child, out), (N, N));
    assert_eq!(fd_count(), fds_at_start, "connections left open");

    // 2. 10,000 in-flight reads, cancelled: the server echoes one byte and then
    // waits; the client waits for a second byte that never comes.
    let (child, out, port) = start_server();
    trio::run(async {
        let base = fd_count();
        let scope = CancelScope::new();
        let reading = Cell::new(0usize);
        let all_reading = Event::new();
        let (reading, all_reading) = (&reading, &all_reading);
        scope
            .run(trio::open_nursery(async |n| {
                for i in 0..N {
                    n.start_soon(async move {
                        let s = open_tcp_stream("127.0.0.1", port).await?;
                        s.send_all(&[i as u8]).await?;
                        let mut buf = [0u8; 1];
                        assert_eq!(s.receive_some(&mut buf).await?, 1);
                        reading.set(reading.get() + 1);
                        if reading.get() == N {
                            all_reading.set();
                        }
                        s.receive_some(&mut buf).await?; // blocks until cancelled
                        unreachable!("nothing more was sent");
                    })?;
                }
                all_reading.wait().await?;
                wait_all_tasks_blocked().await?;
                assert_eq!(fd_count(), base + N);
                scope.cancel();
                Ok(())
            }))
            .await?;
        assert!(scope.cancelled_caught());
        Ok::<_, trio::Error>(())
    })
    .unwrap();
    assert_eq!(server_report(child, out), (N, N)); // (this also closes its pipe)
    assert_eq!(
        fd_count(),
        fds_at_start,
        "cancelled reads left descriptors open"
    );

    // 3. 10,000 in-flight connects, cancelled: a listener with a tiny backlog that
    // never accepts, so the handshakes cannot complete (the kernel drops the SYNs).
    trio::run(async {
        let listener = TcpListen::new(0)
            .host("127.0.0.1")
            .backlog(1)
            .open()
            .await?
            .remove(0);
        let port = listener.local_addr()?.port();
        let base = fd_count();
        let scope = CancelScope::new();
        scope
            .run(trio::open_nursery(async |n| {
                for _ in 0..N {
                    n.start_soon(async move {
                        TcpConnect::new("127.0.0.1", port).connect().await?;
                        Ok(()) // a few may get through the backlog; they close at once
                    })?;
                }
                wait_all_tasks_blocked().await?;
                // All but the few the backlog let through are still connecting.
                assert!(fd_count() >= base + N - 16, "connects are in flight");
                scope.cancel();
                Ok(())
            }))
            .await?;
        assert!(scope.cancelled_caught());
        drop(listener);
        Ok::<_, trio::Error>(())
    })
    .unwrap();
    assert_eq!(
        fd_count(),
        fds_at_start,
        "cancelled connects left descriptors open"
    );
}
