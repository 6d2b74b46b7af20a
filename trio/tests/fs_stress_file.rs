//! A file read under random cancellation, on each reactor: reads under a
//! random deadline or dropped mid-flight (on epoll a worker thread may be
//! reading when the future goes; on io_uring the kernel), position checks in
//! between. No byte is lost, repeated or reordered, and the position the file
//! reports is always the count of bytes returned.
#![cfg(unix)]

#[path = "net_support/mod.rs"]
mod net_support;

use trio::fs::AsyncFile;
use trio::lowlevel::{IoBackend, current_io_backend};

use net_support::{Attempts, Rng, random_attempt, run_on_backend};

const BYTES: usize = 4_000_000;

fn pattern(pos: usize) -> u8 {
    (pos.wrapping_mul(37) ^ (pos >> 10)) as u8
}

async fn stress(path: std::path::PathBuf, seed: u64) -> trio::Result<()> {
    let rng = Rng::new(seed);
    let mut f = AsyncFile::open(&path).await?;
    let mut pos = 0;
    let attempts = Attempts::default();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let want = 1 + rng.next() as usize % buf.len();
        if rng.next() % 4 == 1 {
            assert_eq!(
                f.stream_position().await?,
                pos as u64,
                "the position is off"
            );
            continue;
        }
        let read = async { Ok(f.read(&mut buf[..want]).await?) };
        let Some(n) = random_attempt(&rng, &attempts, || rng.deadline(100), read).await? else {
            continue;
        };
        if n == 0 {
            break;
        }
        for (i, &b) in buf[..n].iter().enumerate() {
            assert_eq!(b, pattern(pos + i), "byte {} is wrong", pos + i);
        }
        pos += n;
    }
    assert_eq!(pos, BYTES, "bytes lost");
    let (cancelled, dropped) = (attempts.cancelled.get(), attempts.dropped.get());
    println!(
        "{:?}: {cancelled} reads cancelled, {dropped} dropped",
        current_io_backend()
    );
    assert!(dropped > 0, "{cancelled} {dropped}");
    Ok(())
}

fn run_on(backend: IoBackend, name: &str) {
    let dir = std::env::temp_dir().join(format!("trio-fs-stress-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("f");
    std::fs::write(&path, (0..BYTES).map(pattern).collect::<Vec<u8>>()).unwrap();
    for seed in [1, 0x5eed, 0xdead_beef] {
        if run_on_backend(backend, stress(path.clone(), seed)).is_none() {
            break;
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn random_cancellation_loses_nothing_on_epoll() {
    run_on(IoBackend::Epoll, "epoll");
}

#[cfg(target_os = "linux")]
#[test]
fn random_cancellation_loses_nothing_on_io_uring() {
    run_on(IoBackend::Uring, "uring");
}
