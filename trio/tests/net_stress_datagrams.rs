//! Datagrams under random cancellation, on each reactor: numbered datagrams
//! of random sizes between UDP sockets on loopback, every send and receive
//! under a random deadline, receives also dropped mid-flight. Every datagram
//! arrives exactly once, whole, in order, from its sender; no fd or reactor
//! operation is left behind.
//!
//! A semaphore keeps at most `WINDOW` datagrams in flight, so the kernel never
//! drops one for want of buffer space: any loss would be trio's.
#![cfg(unix)]

mod net_support;

use std::cell::Cell;
use std::sync::Mutex;
use std::time::Duration;

use trio::lowlevel::{IoBackend, current_io_backend};
use trio::net::UdpSocket;
use trio::sync::Semaphore;

use net_support::{Attempts, Rng, drained, random_attempt, stress_on_backend};

/// The test counts fds: one run at a time.
static SERIAL: Mutex<()> = Mutex::new(());

const DATAGRAMS: u32 = 3_000;
const WINDOW: usize = 64;

/// Datagram `k`: its number, then bytes that depend on it and their position.
fn datagram(k: u32, len: usize) -> Vec<u8> {
    let mut d = k.to_le_bytes().to_vec();
    d.extend((4..len).map(|i| (i as u32 ^ k.wrapping_mul(2_654_435_761)) as u8));
    d
}

async fn stress(seed: u64) -> trio::Result<()> {
    let (a, b) = (
        UdpSocket::bind("127.0.0.1:0".parse().unwrap())?,
        UdpSocket::bind("127.0.0.1:0".parse().unwrap())?,
    );
    let (from, to) = (a.local_addr()?, b.local_addr()?);
    let credits = Semaphore::new(WINDOW);
    let (sends_cancelled, receives) = (Cell::new(0usize), Attempts::default());
    let (a, b, credits) = (&a, &b, &credits);
    let (sends_cancelled, receives) = (&sends_cancelled, &receives);
    trio::fail_after(
        Duration::from_secs(120),
        trio::open_nursery(async |n| {
            n.start_soon(async move {
                let rng = Rng::new(seed);
                for k in 0..DATAGRAMS {
                    credits.acquire().await?.forget();
                    let d = datagram(k, 4 + rng.next() as usize % 1_400);
                    // Cancelled: not sent; send it again.
                    loop {
                        match trio::move_on_after(rng.deadline(50), a.send_to(&d, to)).await? {
                            Some(sent) => {
                                assert_eq!(sent, d.len());
                                break;
                            }
                            None => sends_cancelled.set(sends_cancelled.get() + 1),
                        }
                    }
                }
                Ok(())
            })?;
            n.start_soon(async move {
                let rng = Rng::new(seed.rotate_left(17));
                let mut buf = [0u8; 2_048];
                let mut expected = 0u32;
                while expected < DATAGRAMS {
                    let deadline = || rng.deadline(50);
                    let got =
                        random_attempt(&rng, receives, deadline, b.recv_from(&mut buf)).await?;
                    let Some((len, sender)) = got else {
                        continue;
                    };
                    assert_eq!(sender, from);
                    let k = u32::from_le_bytes(buf[..4].try_into().unwrap());
                    assert_eq!(k, expected, "a datagram was lost, repeated or reordered");
                    assert!(
                        buf[..len] == datagram(k, len)[..],
                        "datagram {k} was cut or torn"
                    );
                    expected += 1;
                    credits.release()?;
                }
                Ok(())
            })?;
            Ok(())
        }),
    )
    .await?;
    let (sends, recvs, drops) = (
        sends_cancelled.get(),
        receives.cancelled.get(),
        receives.dropped.get(),
    );
    println!(
        "{:?}: {sends} sends and {recvs} receives cancelled, {drops} receives dropped",
        current_io_backend()
    );
    assert!(recvs > 0 && drops > 0, "{sends} {recvs} {drops}");
    drained().await
}

fn run_on(backend: IoBackend) {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    stress_on_backend(backend, stress);
}

#[test]
fn random_cancellation_loses_no_datagram_on_epoll() {
    run_on(IoBackend::Epoll);
}

#[cfg(target_os = "linux")]
#[test]
fn random_cancellation_loses_no_datagram_on_io_uring() {
    run_on(IoBackend::Uring);
}
