//! Pipes under random cancellation, on each reactor: a stream of bytes
//! through several pipes, every receive under a random deadline or dropped
//! mid-flight. No byte is lost, repeated or reordered; no fd or reactor
//! operation is left behind.
#![cfg(unix)]

#[path = "net_support/mod.rs"]
mod net_support;

use std::cell::Cell;
use std::sync::Mutex;
use std::time::Duration;

use trio::abc::{ReceiveStream, SendStream};
use trio::lowlevel::{IoBackend, current_io_backend};
use trio::process::{PipeReceiveStream, PipeSendStream};

use net_support::{Attempts, Rng, drained, random_attempt, stress_on_backend};

/// The test counts fds: one run at a time.
static SERIAL: Mutex<()> = Mutex::new(());

const PIPES: usize = 4;
const BYTES: usize = 300_000;

fn pattern(pipe: usize, pos: usize) -> u8 {
    (pos.wrapping_mul(29) ^ (pos >> 11) ^ pipe.wrapping_mul(53)) as u8
}

async fn sender(s: &PipeSendStream, pipe: usize, rng: &Rng) -> trio::Result<()> {
    let mut pos = 0;
    while pos < BYTES {
        let len = (1 + rng.next() as usize % 30_000).min(BYTES - pos);
        let chunk: Vec<u8> = (pos..pos + len).map(|i| pattern(pipe, i)).collect();
        s.send_all(&chunk).await?;
        pos += len;
    }
    s.close();
    Ok(())
}

async fn receiver(r: &PipeReceiveStream, pipe: usize, rng: &Rng) -> trio::Result<(usize, usize)> {
    let mut pos = 0;
    let attempts = Attempts::default();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let want = 1 + rng.next() as usize % buf.len();
        let deadline = || rng.deadline(40);
        let Some(n) =
            random_attempt(rng, &attempts, deadline, r.receive_some(&mut buf[..want])).await?
        else {
            continue;
        };
        if n == 0 {
            break;
        }
        for (i, &b) in buf[..n].iter().enumerate() {
            assert_eq!(
                b,
                pattern(pipe, pos + i),
                "pipe {pipe}: byte {} is wrong",
                pos + i
            );
        }
        pos += n;
    }
    assert_eq!(pos, BYTES, "pipe {pipe}: bytes lost");
    Ok((attempts.cancelled.get(), attempts.dropped.get()))
}

async fn stress(seed: u64) -> trio::Result<()> {
    let mut pipes = Vec::new();
    for _ in 0..PIPES {
        pipes.push(trio::process::pipe()?);
    }
    let totals = Cell::new((0usize, 0usize));
    let totals = &totals;
    trio::fail_after(
        Duration::from_secs(120),
        trio::open_nursery(async |n| {
            for (pipe, (s, r)) in pipes.iter().enumerate() {
                n.start_soon(async move {
                    sender(s, pipe, &Rng::new(seed ^ ((pipe as u64 + 1) * 0x9e37))).await
                })?;
                n.start_soon(async move {
                    let rng = Rng::new(seed ^ ((pipe as u64 + 7) * 0x85eb));
                    let (c, d) = receiver(r, pipe, &rng).await?;
                    let t = totals.get();
                    totals.set((t.0 + c, t.1 + d));
                    Ok(())
                })?;
            }
            Ok(())
        }),
    )
    .await?;
    let (cancelled, dropped) = totals.get();
    println!(
        "{:?}: {cancelled} receives cancelled, {dropped} dropped",
        current_io_backend()
    );
    assert!(cancelled > 0 && dropped > 0, "{cancelled} {dropped}");
    drop(pipes);
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
