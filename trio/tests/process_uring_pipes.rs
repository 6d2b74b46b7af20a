//! Pipes on the io_uring (`IORING_OP_READ` / `WRITE`): pipe streams use ring
//! operations; cancelled and dropped reads lose no byte; closing a pipe ends
//! a read the kernel holds with `ClosedResource`; nothing is left open or in
//! the kernel afterwards.
//!
//! Skipped (with a message) where the kernel refuses io_uring.
#![cfg(target_os = "linux")]

#[path = "net_support/mod.rs"]
mod net_support;

use std::sync::Mutex;
use std::time::Duration;

use trio::ErrorKind;
use trio::abc::{ReceiveStream, SendStream};
use trio::lowlevel::current_statistics;
use trio::testing::wait_all_tasks_blocked;

use net_support::{drained, fd_baseline, fd_count, poll_once_and_drop, run_uring};

/// The tests count fds and ring operations: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

#[test]
fn pipes_use_ring_operations() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    run_uring(async {
        let (s, r) = trio::process::pipe()?;
        let before = current_statistics().io_ring_ops;
        let mut buf = [0u8; 64];
        for i in 0..100u32 {
            let msg = format!("line {i}");
            s.send_all(msg.as_bytes()).await?;
            let n = r.receive_some(&mut buf).await?;
            assert_eq!(&buf[..n], msg.as_bytes());
        }
        // More than the pipe holds: the write waits in the kernel for the reader.
        let big: Vec<u8> = (0..1_000_000u32).map(|i| i as u8).collect();
        let mut got = Vec::new();
        trio::open_nursery(async |n| {
            n.start_soon(async {
                s.send_all(&big).await?;
                s.close();
                Ok(())
            })?;
            let mut buf = vec![0u8; 100_000];
            loop {
                let k = r.receive_some(&mut buf).await?;
                if k == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..k]);
            }
            Ok(())
        })
        .await?;
        assert!(got == big, "the bytes read differ from those written");
        let ops = current_statistics().io_ring_ops - before;
        assert!(ops >= 200, "only {ops} ring operations");
        Ok(())
    });
}

#[test]
fn cancelled_and_dropped_pipe_reads_lose_nothing() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let fds = fd_baseline();
    run_uring(async {
        let (s, r) = trio::process::pipe()?;
        let r = &r;
        let mut sent = Vec::new();
        let mut got = Vec::new();
        for i in 0..300u32 {
            let chunk: Vec<u8> = i.to_le_bytes().repeat(i as usize % 5 + 1);
            if i % 4 == 3 {
                // Dropped after one poll: before the bytes, or after.
                let mut buf = [0u8; 7];
                poll_once_and_drop(r.receive_some(&mut buf)).await;
                s.send_all(&chunk).await?;
                if i % 8 == 3 {
                    wait_all_tasks_blocked().await?;
                }
            } else {
                let scope = trio::CancelScope::new();
                let sc = &scope;
                let got_ref = &mut got;
                trio::open_nursery(async |n| {
                    n.start_soon(async move {
                        let mut buf = [0u8; 7];
                        if let Some(k) = sc.run(r.receive_some(&mut buf)).await? {
                            got_ref.extend_from_slice(&buf[..k]);
                        }
                        Ok(())
                    })?;
                    wait_all_tasks_blocked().await?;
                    // Cancel before the bytes, right after them (the
                    // completion may be on its way), or after every chance.
                    if i % 4 != 0 {
                        s.send_all(&chunk).await?;
                        if i % 4 == 2 {
                            wait_all_tasks_blocked().await?;
                        }
                    }
                    scope.cancel();
                    Ok(())
                })
                .await?;
                if i % 4 == 0 {
                    s.send_all(&chunk).await?;
                }
            }
            sent.extend_from_slice(&chunk);
        }
        s.close();
        let mut buf = [0u8; 4096];
        loop {
            let k = r.receive_some(&mut buf).await?;
            if k == 0 {
                break;
            }
            got.extend_from_slice(&buf[..k]);
        }
        assert_eq!(got.len(), sent.len());
        assert!(got == sent, "the bytes read differ from those written");
        Ok(())
    });
    assert_eq!(fd_count(), fds, "an fd was left open");
}

#[test]
fn closing_a_pipe_ends_its_ring_read() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let fds = fd_baseline();
    run_uring(async {
        let (s, r) = trio::process::pipe()?;
        let r = &r;
        trio::open_nursery(async |n| {
            n.start_soon(async move {
                let mut buf = [0u8; 16];
                let err = r.receive_some(&mut buf).await.unwrap_err();
                assert_eq!(err.kind(), ErrorKind::ClosedResource, "{err}");
                Ok(())
            })?;
            wait_all_tasks_blocked().await?;
            assert_eq!(current_statistics().io_ops_in_flight, 1);
            r.close();
            Ok(())
        })
        .await?;
        // Once the kernel let go of the read, the pipe's read end is closed:
        // the writer sees the reader gone.
        drained().await?;
        let err = trio::fail_after(Duration::from_secs(5), s.send_all(b"x"))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BrokenResource, "{err}");
        Ok(())
    });
    assert_eq!(fd_count(), fds, "an fd was left open");
}

/// A future polled once and dropped, its pipe closed at once: the read is
/// ended in the kernel, nothing stays behind.
#[test]
fn a_pipe_dropped_with_a_read_in_the_kernel_leaves_nothing() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let fds = fd_baseline();
    run_uring(async {
        for _ in 0..100 {
            let (s, r) = trio::process::pipe()?;
            {
                let mut buf = [0u8; 16];
                poll_once_and_drop(r.receive_some(&mut buf)).await;
            }
            drop((s, r));
        }
        drained().await
    });
    assert_eq!(fd_count(), fds, "an fd was left open");
}
