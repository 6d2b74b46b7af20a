//! Networking under random cancellation, on each reactor: streams of bytes
//! through loopback TCP where every receive and send may be cancelled by a
//! random deadline, and receives may also be dropped mid-flight. No byte is
//! lost, duplicated or reordered, and no fd or reactor operation is left behind.
//!
//! Sends are cancelled through scopes (a cancelled send says how much it sent);
//! receives are cancelled or dropped (a dropped receive's bytes come first at
//! the next one). A third of them are the poll-based `AsyncWrite`/`AsyncRead`
//! instead (on io_uring: write-behinds, and detached receives whose bytes
//! wait for the next read). On io_uring these are ring operations with the
//! abort protocol; on epoll, readiness waits.
#![cfg(unix)]

mod net_support;

use std::cell::Cell;
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::Duration;

use futures_io::{AsyncRead, AsyncWrite};

use trio::lowlevel::{IoBackend, current_io_backend};
use trio::net::{SocketListener, SocketStream};

use net_support::{Attempts, Rng, drained, random_attempt, stress_on_backend};

/// The test counts fds: one run at a time.
static SERIAL: Mutex<()> = Mutex::new(());

const CONNS: usize = 6;
const BYTES: usize = 300_000;

/// The byte at `pos` of connection `conn`'s stream: position-dependent, so a
/// lost, repeated or misplaced byte shows.
fn pattern(conn: usize, pos: usize) -> u8 {
    (pos.wrapping_mul(31) ^ (pos >> 9) ^ conn.wrapping_mul(77)) as u8
}

/// `s.socket().send` or, one time in three, the poll-based write.
async fn send(mut s: &SocketStream, data: &[u8], poll_based: bool) -> trio::Result<usize> {
    if poll_based {
        Ok(poll_fn(|cx| Pin::new(&mut s).poll_write(cx, data)).await?)
    } else {
        s.socket().send(data).await
    }
}

/// `s.socket().recv` or, one time in three, the poll-based read.
async fn recv(mut s: &SocketStream, buf: &mut [u8], poll_based: bool) -> trio::Result<usize> {
    if poll_based {
        Ok(poll_fn(|cx| Pin::new(&mut s).poll_read(cx, buf)).await?)
    } else {
        s.socket().recv(buf).await
    }
}

async fn sender(s: &SocketStream, conn: usize, rng: &Rng) -> trio::Result<usize> {
    let mut pos = 0;
    let mut cancelled = 0;
    while pos < BYTES {
        let len = (1 + rng.next() as usize % 20_000).min(BYTES - pos);
        let chunk: Vec<u8> = (pos..pos + len).map(|i| pattern(conn, i)).collect();
        let poll_based = rng.next() % 3 == 0;
        match trio::move_on_after(rng.deadline(300), send(s, &chunk, poll_based)).await? {
            Some(n) => pos += n,
            None => cancelled += 1,
        }
    }
    Ok(cancelled)
}

async fn receiver(s: &SocketStream, conn: usize, rng: &Rng) -> trio::Result<(usize, usize)> {
    let mut pos = 0;
    let attempts = Attempts::default();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let want = 1 + rng.next() as usize % buf.len();
        let deadline = || rng.deadline(300) / 8;
        let poll_based = rng.next() % 3 == 0;
        let receive = recv(s, &mut buf[..want], poll_based);
        let Some(n) = random_attempt(rng, &attempts, deadline, receive).await? else {
            continue;
        };
        if n == 0 {
            break;
        }
        for (i, &b) in buf[..n].iter().enumerate() {
            assert_eq!(
                b,
                pattern(conn, pos + i),
                "connection {conn}: byte {} is wrong",
                pos + i
            );
        }
        pos += n;
    }
    assert_eq!(pos, BYTES, "connection {conn}: bytes lost");
    Ok((attempts.cancelled.get(), attempts.dropped.get()))
}

async fn stress(seed: u64) -> trio::Result<()> {
    let listener = SocketListener::bind("127.0.0.1:0".parse().unwrap())?;
    let port = listener.local_addr()?.port();
    let mut pairs = Vec::new();
    for _ in 0..CONNS {
        let c = trio::net::open_tcp_stream("127.0.0.1", port).await?;
        let s = trio::abc::Listener::accept(&listener).await?;
        pairs.push((c, s));
    }
    let totals = Cell::new((0usize, 0usize, 0usize));
    let totals = &totals;
    trio::fail_after(
        Duration::from_secs(120),
        trio::open_nursery(async |n| {
            for (conn, (c, s)) in pairs.iter().enumerate() {
                let (c, s): (&SocketStream, &SocketStream) = (c, s);
                n.start_soon(async move {
                    let rng = Rng::new(seed ^ (conn as u64 + 1).wrapping_mul(0x9e37_79b9));
                    let cancelled = sender(c, conn, &rng).await?;
                    trio::abc::HalfCloseableStream::send_eof(c).await?;
                    let t = totals.get();
                    totals.set((t.0 + cancelled, t.1, t.2));
                    Ok(())
                })?;
                n.start_soon(async move {
                    let rng = Rng::new(seed ^ (conn as u64 + 101).wrapping_mul(0x85eb_ca6b));
                    let (cancelled, dropped) = receiver(s, conn, &rng).await?;
                    let t = totals.get();
                    totals.set((t.0, t.1 + cancelled, t.2 + dropped));
                    Ok(())
                })?;
            }
            Ok(())
        }),
    )
    .await?;
    let (sends, recvs, drops) = totals.get();
    println!(
        "{:?}: {sends} sends and {recvs} receives cancelled, {drops} receives dropped",
        current_io_backend()
    );
    // The random deadlines did land (the test tests something).
    assert!(sends + recvs > 0 && drops > 0, "{sends} {recvs} {drops}");
    drop(pairs);
    drop(listener);
    // Every operation the reactor held has ended.
    drained().await
}

fn run_on(backend: IoBackend) {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    stress_on_backend(backend, stress);
}

#[test]
fn random_cancellation_loses_nothing_on_epoll() {
    run_on(IoBackend::Epoll);
}

#[cfg(target_os = "linux")]
#[test]
fn random_cancellation_loses_nothing_on_io_uring() {
    run_on(IoBackend::Uring);
}
