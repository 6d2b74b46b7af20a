//! `AsyncFile` on the io_uring (`IORING_OP_READ` / `WRITE` at the file's
//! position): reads and writes are ring operations; a dropped read's bytes
//! come first at the next operation (as read-ahead: positions stay right); a
//! dropped write never lets a later operation overtake it; a read waiting on
//! a FIFO (a blocking file: the kernel waits for it with an internal poll) is
//! cancelled and loses nothing.
//!
//! Skipped (with a message) where the kernel refuses io_uring.
#![cfg(target_os = "linux")]

#[path = "net_support/mod.rs"]
mod net_support;

use std::fs::OpenOptions;
use std::io::SeekFrom;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use trio::abc::AsyncResource;
use trio::fs::AsyncFile;
use trio::lowlevel::current_statistics;
use trio::testing::wait_all_tasks_blocked;

use net_support::{drained, fd_baseline, fd_count, poll_once_and_drop, run_uring};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("trio-fs-uring-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A file stays `Send`, like `std::fs::File` (its ring state lives with the
/// loop's thread, not in the file).
#[test]
fn a_file_is_still_send() {
    fn assert_send<T: Send>() {}
    assert_send::<AsyncFile>();
}

#[test]
fn reads_and_writes_use_ring_operations_in_order_with_the_rest() {
    let dir = temp_dir("ops");
    let path = dir.join("f");
    run_uring(async {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let before = current_statistics().io_ring_ops;
        let mut f = AsyncFile::create(&path).await?;
        for chunk in data.chunks(10_000) {
            let mut rest = chunk;
            while !rest.is_empty() {
                let n = f.write(rest).await?;
                rest = &rest[n..];
            }
        }
        f.write_all(b"\nline one\nline two\n").await?;
        f.aclose().await?;
        let mut f = AsyncFile::open(&path).await?;
        let mut got = Vec::new();
        let mut buf = vec![0u8; 7_000];
        while got.len() < data.len() {
            let want = (data.len() - got.len()).min(buf.len());
            let n = f.read(&mut buf[..want]).await?;
            got.extend_from_slice(&buf[..n]);
        }
        assert!(got == data, "the bytes read differ from those written");
        assert_eq!(f.stream_position().await?, data.len() as u64);
        let mut line = String::new();
        f.read_line(&mut line).await?;
        assert_eq!(line, "\n");
        line.clear();
        f.read_line(&mut line).await?;
        assert_eq!(line, "line one\n");
        // Served from the read-ahead, then the ring again after a seek.
        let n = f.read(&mut buf).await?;
        assert_eq!(&buf[..n], b"line two\n");
        f.seek(SeekFrom::Start(3)).await?;
        let n = f.read(&mut buf[..4]).await?;
        assert_eq!(&buf[..n], &data[3..7]);
        let ops = current_statistics().io_ring_ops - before;
        assert!(ops >= 60, "only {ops} ring operations");
        Ok(())
    });
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn dropped_reads_lose_nothing_and_positions_stay_right() {
    let dir = temp_dir("dropped-reads");
    let path = dir.join("f");
    let data: Vec<u8> = (0..50_000u32).map(|i| (i % 241) as u8).collect();
    std::fs::write(&path, &data).unwrap();
    let fds = fd_baseline();
    run_uring(async {
        let mut f = AsyncFile::open(&path).await?;
        let mut got = Vec::new();
        let mut i = 0;
        while got.len() < data.len() {
            let mut buf = [0u8; 100];
            if i % 3 != 2 {
                // Polled once and dropped: its bytes, once it completes,
                // wait for the next operation.
                poll_once_and_drop(f.read(&mut buf[..37])).await;
                if i % 2 == 0 {
                    wait_all_tasks_blocked().await?;
                }
            }
            if i % 5 == 0 {
                // The logical position counts only what was returned.
                assert_eq!(f.stream_position().await?, got.len() as u64);
            }
            let n = f.read(&mut buf).await?;
            got.extend_from_slice(&buf[..n]);
            i += 1;
        }
        assert!(got == data, "a dropped read lost or reordered bytes");
        assert_eq!(f.read(&mut [0u8; 10]).await?, 0);
        drop(f);
        drained().await
    });
    assert_eq!(fd_count(), fds, "an fd was left open");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_dropped_read_at_the_end_does_not_hide_what_comes_later() {
    let dir = temp_dir("dropped-at-end");
    let path = dir.join("f");
    std::fs::write(&path, b"start").unwrap();
    run_uring(async {
        let mut f = AsyncFile::open(&path).await?;
        let mut buf = [0u8; 16];
        let n = f.read(&mut buf).await?;
        assert_eq!(&buf[..n], b"start");
        // Dropped at the end of the file: its end of file is no answer for
        // later reads, the file may grow (or the position move).
        poll_once_and_drop(f.read(&mut buf)).await;
        wait_all_tasks_blocked().await?;
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)?
            .write_all(b", more")?;
        let n = f.read(&mut buf).await?;
        assert_eq!(&buf[..n], b", more");
        poll_once_and_drop(f.read(&mut buf)).await;
        wait_all_tasks_blocked().await?;
        f.seek(SeekFrom::Start(0)).await?;
        let n = f.read(&mut buf).await?;
        assert_eq!(&buf[..n], b"start, more");
        Ok(())
    });
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_dropped_write_is_never_overtaken() {
    let dir = temp_dir("dropped-writes");
    let path = dir.join("f");
    run_uring(async {
        let mut f = AsyncFile::create(&path).await?;
        let mut kept = Vec::new();
        let mut dropped = Vec::new();
        for i in 0..200u32 {
            let part = format!("<{i}>");
            if i % 3 == 0 {
                poll_once_and_drop(f.write(part.as_bytes())).await;
                dropped.push(part);
            } else {
                f.write_all(part.as_bytes()).await?;
                kept.push(part);
            }
        }
        f.aclose().await?;
        // Every kept part is there, in order; a dropped one is there whole
        // and in its place, or not at all.
        let text = std::fs::read_to_string(&path)?;
        let mut parts = Vec::new();
        for p in text.split_inclusive('>') {
            parts.push(p.to_string());
        }
        let numbers: Vec<u32> = parts
            .iter()
            .map(|p| p.trim_matches(['<', '>']).parse().expect("a torn part"))
            .collect();
        assert!(
            numbers.windows(2).all(|w| w[0] < w[1]),
            "out of order: {text}"
        );
        let kept_seen: Vec<&String> = parts.iter().filter(|p| kept.contains(p)).collect();
        assert_eq!(kept_seen.len(), kept.len(), "a write went missing");
        Ok(())
    });
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_read_waiting_on_a_fifo_is_cancelled_and_loses_nothing() {
    let dir = temp_dir("fifo");
    let path = dir.join("fifo");
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: `c` is a NUL-terminated path that outlives the call.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    run_uring(async {
        // Read and write: opening a FIFO so never waits for a peer (Linux).
        let mut opts = OpenOptions::new();
        opts.read(true).write(true);
        let mut f = trio::fs::open_file(&path, &opts).await?;
        let mut writer = std::fs::OpenOptions::new().write(true).open(&path)?;
        for _ in 0..20 {
            // Nothing to read: the read waits in the kernel (an internal
            // poll, the FIFO being blocking) until the cancel ends it.
            let res = trio::move_on_after(Duration::from_millis(20), f.read(&mut [0u8; 8])).await?;
            assert!(res.is_none(), "read {res:?} from an empty FIFO");
        }
        std::io::Write::write_all(&mut writer, b"after")?;
        let mut buf = [0u8; 8];
        let n = trio::fail_after(Duration::from_secs(5), f.read(&mut buf)).await?;
        assert_eq!(&buf[..n], b"after");
        drop(f);
        drained().await
    });
    std::fs::remove_dir_all(&dir).unwrap();
}
