// Ported from Python Trio's `trio/_tests/test_file_io.py`: `test_open`,
// `test_open_context_manager`, `test_async_iter`, `test_aclose_cancelled`.
//
// Not ported: the tests of the duck-typed wrapper itself (`test_wrap_invalid`,
// `test_wrap_non_iobase`, `test_wrapped_property`, `test_dir_matches_wrapped`,
// `test_unsupported_not_forwarded`, `test_type_stubs_match_lists`,
// `test_sync_attrs_*`, `test_async_methods_*`, `test_detach_rewraps_asynciobase`):
// `AsyncFile` wraps exactly `std::fs::File`, with methods written out, so there is
// no attribute forwarding to test.
//
// Plus: the read buffer (lines of a large file agree with std; writes, seeks and
// positions see the logical position; big reads bypass it; a line served from the
// buffer is still a checkpoint), closing, `into_std`, and — on Unix, with a FIFO
// that blocks `open` — that a started operation is not cancelled, the next one is.

use std::io::{BufRead, SeekFrom};
#[cfg(unix)]
use std::path::Path;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};

use trio::abc::AsyncResource;
use trio::fs::{self, AsyncFile};
use trio::{CancelScope, ErrorKind, MaybeCancelled};

/// A directory of its own for one test, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "trio-fs-file-{test}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn trio_kind(e: std::io::Error) -> ErrorKind {
    trio::Error::from(e).kind()
}

#[trio::test]
async fn open() -> trio::Result<()> {
    // test_open
    let dir = TempDir::new("open");
    let f = fs::open_file(
        dir.join("test"),
        std::fs::OpenOptions::new().write(true).create(true),
    )
    .await?;
    f.aclose().await?;
    assert!(dir.join("test").exists());
    Ok(())
}

#[trio::test]
async fn open_context_manager() -> trio::Result<()> {
    // test_open_context_manager: after aclose, the file is closed.
    let dir = TempDir::new("closed");
    let mut f = AsyncFile::create(dir.join("test")).await?;
    assert!(format!("{f:?}").contains("File"));
    f.aclose().await?;
    assert!(format!("{f:?}").contains("<closed>"));
    assert_eq!(
        trio_kind(f.write_all(b"x").await.unwrap_err()),
        ErrorKind::ClosedResource
    );
    let mut buf = [0u8; 4];
    assert_eq!(
        trio_kind(f.read(&mut buf).await.unwrap_err()),
        ErrorKind::ClosedResource
    );
    assert_eq!(
        trio_kind(f.metadata().await.unwrap_err()),
        ErrorKind::ClosedResource
    );
    assert_eq!(
        trio_kind(f.lines().next_line().await.unwrap_err()),
        ErrorKind::ClosedResource
    );
    f.aclose().await?; // closing twice is fine
    assert_eq!(
        trio_kind(f.into_std().await.unwrap_err()),
        ErrorKind::ClosedResource
    );
    Ok(())
}

#[trio::test]
async fn async_iter() -> trio::Result<()> {
    // test_async_iter: the lines agree with the synchronous file's.
    let dir = TempDir::new("iter");
    let path = dir.join("f");
    fs::write(&path, "test\nfoo\nbar").await?;
    let expected: Vec<String> = std::io::BufReader::new(std::fs::File::open(&path)?)
        .lines()
        .collect::<Result<_, _>>()?;
    let mut f = AsyncFile::open(&path).await?;
    let mut got = Vec::new();
    let mut lines = f.lines();
    while let Some(line) = lines.next_line().await? {
        got.push(line);
    }
    assert_eq!(got, expected);
    assert_eq!(got, ["test", "foo", "bar"]);
    Ok(())
}

#[trio::test]
async fn lines_is_a_stream() -> trio::Result<()> {
    use futures_core::Stream;
    let dir = TempDir::new("stream");
    let path = dir.join("f");
    fs::write(&path, "a\r\nb\n\nc\n").await?;
    let mut f = AsyncFile::open(&path).await?;
    let mut lines = f.lines();
    let mut got = Vec::new();
    while let Some(line) = std::future::poll_fn(|cx| Pin::new(&mut lines).poll_next(cx)).await {
        got.push(line?);
    }
    assert_eq!(got, ["a", "b", "", "c"]);
    Ok(())
}

#[trio::test]
async fn lines_of_a_large_file_agree_with_std() -> trio::Result<()> {
    // Many buffers' worth, lines of every length, some CRLF, no final newline.
    let dir = TempDir::new("large");
    let path = dir.join("f");
    let mut text = String::new();
    for i in 0..20_000 {
        text.push_str(&"x".repeat(i % 97));
        text.push_str(&i.to_string());
        text.push_str(if i % 7 == 0 { "\r\n" } else { "\n" });
    }
    text.push_str("tail");
    fs::write(&path, &text).await?;
    let expected: Vec<String> = text.lines().map(str::to_owned).collect();

    let mut f = AsyncFile::open(&path).await?;
    let mut got = Vec::new();
    let mut lines = f.lines();
    while let Some(line) = lines.next_line().await? {
        got.push(line);
    }
    assert_eq!(got.len(), expected.len());
    assert_eq!(got, expected);
    Ok(())
}

#[trio::test]
async fn aclose_cancelled() -> trio::Result<()> {
    // test_aclose_cancelled
    let dir = TempDir::new("aclose-cancelled");
    let path = dir.join("test");
    let scope = CancelScope::new();
    let mut f = None;
    let slot = &mut f;
    let r = scope
        .run(async {
            let f = slot.insert(AsyncFile::create(&path).await?);
            scope.cancel();
            let e = f.write_all(b"a").await.unwrap_err();
            assert!(e.is_cancelled());
            let e = f.aclose().await.unwrap_err();
            assert!(e.is_cancelled());
            Err::<(), _>(e)
        })
        .await?;
    assert_eq!(r, None);
    let f = f.unwrap();
    // Closed all the same, and the cancelled write wrote nothing.
    assert_eq!(
        trio_kind(f.metadata().await.unwrap_err()),
        ErrorKind::ClosedResource
    );
    assert_eq!(fs::read(&path).await?, b"");
    Ok(())
}

#[trio::test]
async fn writes_land_at_the_logical_position() -> trio::Result<()> {
    // A read-ahead does not move where the next write goes.
    let dir = TempDir::new("rw");
    let path = dir.join("f");
    fs::write(&path, "line1\nline2\nline3\n").await?;
    let mut f = fs::open_file(&path, std::fs::OpenOptions::new().read(true).write(true)).await?;
    let mut line = String::new();
    f.read_line(&mut line).await?;
    assert_eq!(line, "line1\n");
    assert_eq!(f.stream_position().await?, 6);
    f.write_all(b"LINE2\n").await?;
    assert_eq!(f.stream_position().await?, 12);
    line.clear();
    f.read_line(&mut line).await?;
    assert_eq!(line, "line3\n");
    f.aclose().await?;
    assert_eq!(fs::read_to_string(&path).await?, "line1\nLINE2\nline3\n");
    Ok(())
}

#[trio::test]
async fn reads_mix_with_the_buffer() -> trio::Result<()> {
    let dir = TempDir::new("mix");
    let path = dir.join("f");
    fs::write(&path, "abc\ndefghij\nrest of it").await?;
    let mut f = AsyncFile::open(&path).await?;
    let mut line = String::new();
    assert_eq!(f.read_line(&mut line).await?, 4);
    let mut four = [0u8; 4];
    assert_eq!(f.read(&mut four).await?, 4); // served by the buffer
    assert_eq!(&four, b"defg");
    // Seeking relative to the logical position skips "h".
    assert_eq!(f.seek(SeekFrom::Current(1)).await?, 9);
    let mut rest = Vec::new();
    assert_eq!(f.read_to_end(&mut rest).await?, 13);
    assert_eq!(rest, b"ij\nrest of it");
    assert_eq!(f.read(&mut four).await?, 0);
    f.seek(SeekFrom::Start(0)).await?;
    let mut all = String::from(">");
    f.read_to_string(&mut all).await?;
    assert_eq!(all, ">abc\ndefghij\nrest of it");
    Ok(())
}

#[trio::test]
async fn big_reads_and_writes() -> trio::Result<()> {
    let dir = TempDir::new("big");
    let path = dir.join("f");
    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let mut f = AsyncFile::create(&path).await?;
    f.write_all(&data).await?;
    f.sync_all().await?;
    f.aclose().await?;

    let mut f = AsyncFile::open(&path).await?;
    let mut got = Vec::new();
    let mut chunk = vec![0u8; 100_000]; // larger than the buffer: read directly
    loop {
        let n = f.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        got.extend_from_slice(&chunk[..n]);
    }
    assert_eq!(got, data);
    Ok(())
}

#[trio::test]
async fn a_buffered_line_is_still_a_checkpoint() -> trio::Result<()> {
    let dir = TempDir::new("checkpoint");
    let path = dir.join("f");
    fs::write(&path, "one\ntwo\n").await?;
    let mut f = AsyncFile::open(&path).await?;
    let mut line = String::new();
    f.read_line(&mut line).await?; // "two\n" is now in the buffer
    let scope = CancelScope::new();
    scope.cancel();
    let mut l2 = String::new();
    let r = scope.run(f.read_line(&mut l2)).await?;
    assert_eq!(r, None);
    assert!(l2.is_empty());
    // Nothing was consumed.
    assert_eq!(f.lines().next_line().await?.as_deref(), Some("two"));
    Ok(())
}

#[trio::test]
async fn file_metadata_and_friends() -> trio::Result<()> {
    let dir = TempDir::new("meta");
    let path = dir.join("f");
    let mut f = AsyncFile::create(&path).await?;
    f.write(b"0123456789").await?;
    f.flush().await?;
    f.sync_data().await?;
    assert_eq!(f.metadata().await?.len(), 10);
    f.set_len(3).await?;
    assert_eq!(f.metadata().await?.len(), 3);
    let mut perms = f.metadata().await?.permissions();
    perms.set_readonly(true);
    f.set_permissions(perms).await?;
    assert!(std::fs::metadata(&path)?.permissions().readonly());
    f.aclose().await?;
    Ok(())
}

#[trio::test]
async fn into_std_and_back() -> trio::Result<()> {
    use std::io::Read;
    let dir = TempDir::new("into-std");
    let path = dir.join("f");
    fs::write(&path, "first\nsecond\n").await?;
    let mut f = fs::wrap_file(std::fs::File::open(&path)?);
    let mut line = String::new();
    f.read_line(&mut line).await?;
    let mut std_file = f.into_std().await?;
    let mut rest = String::new();
    std_file.read_to_string(&mut rest)?;
    assert_eq!(rest, "second\n");
    let mut again = AsyncFile::from(std_file);
    assert_eq!(again.read(&mut [0u8; 8]).await?, 0);
    Ok(())
}

#[trio::test]
async fn invalid_utf8() -> trio::Result<()> {
    let dir = TempDir::new("utf8");
    let path = dir.join("f");
    fs::write(&path, [0xff, 0xfe, b'\n']).await?;
    let mut f = AsyncFile::open(&path).await?;
    let mut s = String::new();
    let e = f.read_to_string(&mut s).await.unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
    assert!(s.is_empty());
    Ok(())
}

#[trio::test]
async fn cancelled_before_the_thread_starts_does_nothing() -> trio::Result<()> {
    let dir = TempDir::new("cancelled");
    let path = dir.join("f");
    let mut f = AsyncFile::create(&path).await?;
    let scope = CancelScope::new();
    scope.cancel();
    let r = scope.run(f.write_all(b"never")).await?;
    assert_eq!(r, None);
    let scope = CancelScope::new();
    scope.cancel();
    assert!(scope.run(f.set_len(100)).await?.is_none());
    assert_eq!(f.metadata().await?.len(), 0);
    let scope = CancelScope::new();
    scope.cancel();
    assert!(scope.run(AsyncFile::create(dir.join("g"))).await?.is_none());
    assert!(!dir.join("g").exists());
    Ok(())
}

#[cfg(unix)]
fn mkfifo(path: &Path) {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: `c` is a valid NUL-terminated path that outlives the call.
    let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
    assert_eq!(rc, 0, "mkfifo failed: {}", std::io::Error::last_os_error());
}

#[cfg(unix)]
#[trio::test]
async fn a_started_open_is_not_cancelled_the_next_operation_is() -> trio::Result<()> {
    // Opening a FIFO for reading blocks until a writer comes: the `open` is under
    // way in its thread when we cancel. It completes (Trio: no abandon_on_cancel for
    // files); the next operation is cancelled at its checkpoint.
    let dir = TempDir::new("fifo");
    let fifo = dir.join("fifo");
    mkfifo(&fifo);
    let record = std::cell::RefCell::new(Vec::new());
    let scope = CancelScope::new();
    let (rec, sc, path) = (&record, &scope, &fifo);
    trio::open_nursery(async |n| {
        n.start_soon(async move {
            let r = sc
                .run(async {
                    let mut f = AsyncFile::open(path).await?;
                    rec.borrow_mut().push("opened");
                    let mut s = String::new();
                    f.read_to_string(&mut s).await?;
                    rec.borrow_mut().push("read");
                    Ok::<_, std::io::Error>(s)
                })
                .await?;
            assert_eq!(r, None);
            Ok(())
        })?;
        trio::testing::wait_all_tasks_blocked().await?;
        scope.cancel();
        trio::testing::wait_all_tasks_blocked().await?;
        assert!(record.borrow().is_empty(), "still opening");
        assert_eq!(trio::to_thread::active_thread_count(), 1);
        // Be the writer: this lets the open finish.
        let p = path.clone();
        // (The reader may close before our write: ignore the write result.)
        let _ = trio::to_thread::run_sync(move || std::fs::write(p, "data")).await?;
        Ok(())
    })
    .await?;
    assert_eq!(*record.borrow(), ["opened"]);
    assert!(scope.cancelled_caught());
    Ok(())
}
