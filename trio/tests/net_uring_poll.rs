//! The poll-based `AsyncRead`/`AsyncWrite` of socket streams on io_uring:
//! reads and writes are ring operations (no `recv`/`send` system call of their
//! own); a read abandoned while its receive is in the kernel loses nothing —
//! its bytes, or the end of stream or error it found, go to the next read,
//! poll-based or async; closing such a socket really closes it; writes are
//! write-behinds that `poll_flush` and `poll_close` wait for, kept in order
//! with async sends, and a failed one reports its failure.
//!
//! Skipped (with a message) where the kernel refuses io_uring.
#![cfg(target_os = "linux")]

mod net_support;

use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Mutex;

use futures_io::{AsyncRead, AsyncWrite};
use trio::abc::{ReceiveStream, SendStream};
use trio::lowlevel::current_statistics;
use trio::net::SocketStream;
use trio::testing::wait_all_tasks_blocked;

use net_support::{drained, fd_baseline, fd_count, reset_on_close, run_uring, tcp_pair};

/// The tests count fds and ring operations: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

async fn poll_read(mut s: &SocketStream, buf: &mut [u8]) -> trio::Result<usize> {
    Ok(poll_fn(|cx| Pin::new(&mut s).poll_read(cx, buf)).await?)
}

async fn poll_write(mut s: &SocketStream, data: &[u8]) -> trio::Result<usize> {
    Ok(poll_fn(|cx| Pin::new(&mut s).poll_write(cx, data)).await?)
}

async fn poll_flush(mut s: &SocketStream) -> trio::Result<()> {
    Ok(poll_fn(|cx| Pin::new(&mut s).poll_flush(cx)).await?)
}

/// Writes all of `data` with the poll-based write, then the end of stream.
async fn poll_write_all_then_eof(s: &SocketStream, data: &[u8]) -> trio::Result<()> {
    let mut sent = 0;
    while sent < data.len() {
        sent += poll_write(s, &data[sent..]).await?;
    }
    trio::abc::HalfCloseableStream::send_eof(s).await
}

/// Receives until the end of the stream, `chunk` bytes at most at a time.
async fn read_to_end(s: &SocketStream, chunk: usize) -> trio::Result<Vec<u8>> {
    let mut got = Vec::new();
    let mut buf = vec![0u8; chunk];
    loop {
        let n = s.receive_some(&mut buf).await?;
        if n == 0 {
            return Ok(got);
        }
        got.extend_from_slice(&buf[..n]);
    }
}

/// Polls a read once — it must wait, so that its receive is in the kernel —
/// and walks away from it.
async fn abandon_read(mut s: &SocketStream) {
    let mut buf = [0u8; 64];
    poll_fn(|cx| {
        assert!(
            Pin::new(&mut s).poll_read(cx, &mut buf).is_pending(),
            "nothing to read yet"
        );
        std::task::Poll::Ready(())
    })
    .await;
}

#[test]
fn poll_reads_and_writes_are_ring_operations() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    run_uring(async {
        let (a, b) = tcp_pair().await?;
        let before = current_statistics().io_ring_ops;
        let mut buf = [0u8; 100];
        for i in 0..50u32 {
            let msg = format!("message {i}");
            assert_eq!(poll_write(&a, msg.as_bytes()).await?, msg.len());
            poll_flush(&a).await?;
            let n = poll_read(&b, &mut buf).await?;
            assert_eq!(&buf[..n], msg.as_bytes());
        }
        let ops = current_statistics().io_ring_ops - before;
        assert!(ops >= 100, "only {ops} ring operations");
        Ok(())
    });
}

#[test]
fn an_abandoned_read_loses_nothing() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    run_uring(async {
        let (a, b) = tcp_pair().await?;
        // Abandoned, then the bytes come: an async receive gets them.
        abandon_read(&b).await;
        a.send_all(b"first").await?;
        let mut buf = [0u8; 64];
        let n = b.receive_some(&mut buf).await?;
        assert_eq!(&buf[..n], b"first");
        // Abandoned, then a poll-based read with a smaller buffer: the bytes
        // come in order, across reads.
        abandon_read(&b).await;
        a.send_all(b"second").await?;
        let mut small = [0u8; 4];
        let n = poll_read(&b, &mut small).await?;
        assert_eq!(&small[..n], b"seco");
        let n = poll_read(&b, &mut small).await?;
        assert_eq!(&small[..n], b"nd");
        // Abandoned, then the end of stream: the next read sees it.
        abandon_read(&b).await;
        trio::abc::HalfCloseableStream::send_eof(&a).await?;
        wait_all_tasks_blocked().await?;
        assert_eq!(b.receive_some(&mut buf).await?, 0);
        Ok(())
    });
}

#[test]
fn an_abandoned_read_passes_on_a_reset() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    run_uring(async {
        let (a, b) = tcp_pair().await?;
        abandon_read(&b).await;
        reset_on_close(&a)?;
        drop(a);
        wait_all_tasks_blocked().await?;
        drained().await?;
        let mut buf = [0u8; 64];
        let e = b.receive_some(&mut buf).await.unwrap_err();
        assert_eq!(e.kind(), trio::ErrorKind::BrokenResource, "{e}");
        Ok(())
    });
}

#[test]
fn closing_a_socket_with_an_abandoned_read_closes_it() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let fds = fd_baseline();
    run_uring(async {
        let (a, b) = tcp_pair().await?;
        abandon_read(&b).await;
        assert_eq!(current_statistics().io_ops_in_flight, 1);
        drop(b);
        // The receive in the kernel held the file: it was cancelled, so the
        // socket closed and the peer sees the end of the stream.
        let mut buf = [0u8; 8];
        assert_eq!(a.receive_some(&mut buf).await?, 0);
        drained().await
    });
    assert_eq!(fd_count(), fds, "an fd was left open");
}

#[test]
fn write_behinds_keep_their_order() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    run_uring(async {
        let (a, b) = tcp_pair().await?;
        let mut sent = Vec::new();
        for i in 0..100u32 {
            let msg = format!("<{i}>");
            if i % 3 == 0 {
                a.send_all(msg.as_bytes()).await?;
            } else {
                // Taken at once; the next write (either kind) waits for it.
                assert_eq!(poll_write(&a, msg.as_bytes()).await?, msg.len());
            }
            sent.extend_from_slice(msg.as_bytes());
        }
        // Closing the sending side flushes first: every byte, then the end.
        let mut a_ref = &a;
        poll_fn(|cx| Pin::new(&mut a_ref).poll_close(cx)).await?;
        let got = read_to_end(&b, 1000).await?;
        assert!(got == sent, "the received bytes differ from the sent ones");
        Ok(())
    });
}

#[test]
fn a_large_write_behind_goes_whole_before_the_end() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    run_uring(async {
        let (a, b) = tcp_pair().await?;
        let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
        let (a, b, data) = (&a, &b, &data);
        let mut got = Vec::new();
        trio::open_nursery(async |n| {
            n.start_soon(poll_write_all_then_eof(a, data))?;
            got = read_to_end(b, 70_000).await?;
            Ok(())
        })
        .await?;
        assert!(got == *data, "the received bytes differ from the sent ones");
        Ok(())
    });
}

#[test]
fn a_write_behind_that_waits_for_room_still_goes_whole() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    run_uring(async {
        let (a, b) = tcp_pair().await?;
        a.socket()
            .as_socket2(|s| s.set_send_buffer_size(16 * 1024))?;
        b.socket()
            .as_socket2(|s| s.set_recv_buffer_size(16 * 1024))?;
        let data: Vec<u8> = (0..4_000_000u32).map(|i| (i % 253) as u8).collect();
        let (a, b, data) = (&a, &b, &data);
        let mut got = Vec::new();
        trio::open_nursery(async |n| {
            n.start_soon(poll_write_all_then_eof(a, data))?;
            // Nobody reads yet: the socket fills, and a write-behind waits in
            // the kernel with part of its bytes sent.
            wait_all_tasks_blocked().await?;
            assert_eq!(current_statistics().io_ops_in_flight, 1);
            got = read_to_end(b, 50_000).await?;
            Ok(())
        })
        .await?;
        assert!(got == *data, "the received bytes differ from the sent ones");
        Ok(())
    });
}

#[test]
fn a_failed_write_behind_reports_its_failure() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    run_uring(async {
        let (a, b) = tcp_pair().await?;
        reset_on_close(&b)?;
        drop(b);
        wait_all_tasks_blocked().await?;
        // The peer is gone: a write is taken, then fails in the kernel; the
        // failure comes back from the flush (or from the next write).
        let chunk = [7u8; 1000];
        let mut failure = None;
        for _ in 0..10 {
            let r = match poll_write(&a, &chunk).await {
                Ok(_) => poll_flush(&a).await,
                Err(e) => Err(e),
            };
            if let Err(e) = r {
                failure = Some(e);
                break;
            }
        }
        let e = failure.expect("writes to a reset connection never failed");
        assert_eq!(e.kind(), trio::ErrorKind::Io, "{e}");
        Ok(())
    });
}
