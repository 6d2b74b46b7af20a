//! [`AsyncFile`]: a `std::fs::File` whose operations run on worker threads
//! (Trio's `AsyncIOWrapper`, from `open_file` / `wrap_file`).
//!
//! The file lives in a `Mutex` shared with the worker threads: an operation locks
//! it on the worker, so operations run one after the other in the order they
//! started, even when a future is dropped while its thread still works (the next
//! operation then waits for that one).
//!
//! Reads are buffered as by `std::io::BufReader` (64 KiB), inside the shared
//! state. A read or `read_line` that the buffer can serve alone does not go to a
//! thread: it takes a checkpoint and copies from memory — which is what makes
//! [`AsyncFile::lines`] cost one thread trip per buffer, not per line. Writes and
//! seeks first give back the read-ahead (seeking the OS file back), so the file
//! position is always the one the reader sees.
//!
//! On Linux, when the run's reactor is io_uring, `read` and `write` on an idle
//! file are ring operations instead of thread trips (`file/ring.rs`, which
//! says how the order of operations is kept).

use std::cell::Cell;
use std::fmt;
use std::fs::{File, Metadata, OpenOptions, Permissions};
use std::future::Future;
use std::io::{self, BufRead, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

#[cfg(target_os = "linux")]
mod ring;

use super::blocking;
use crate::abc::AsyncResource;
use crate::lowlevel::{checkpoint, checkpoint_if_cancelled};
use crate::{CancelScope, Error, ErrorKind};

/// Size of the read buffer.
const BUF_CAP: usize = 64 * 1024;
/// The most a single `read` or `write` moves through a worker at once (as tokio).
const MAX_CHUNK: usize = 2 * 1024 * 1024;

type Shared = Arc<Mutex<Option<FileState>>>;

/// The read of one line by [`Lines`].
type LineRead = Pin<Box<dyn Future<Output = io::Result<Option<String>>>>>;

/// The file and its read buffer; `None` in the `Mutex` once closed.
struct FileState {
    file: File,
    /// Allocated on the first buffered read.
    buf: Box<[u8]>,
    /// The unread bytes are `buf[pos..filled]`.
    pos: usize,
    filled: usize,
}

impl FileState {
    fn new(file: File) -> FileState {
        FileState {
            file,
            buf: Box::default(),
            pos: 0,
            filled: 0,
        }
    }

    fn unread(&self) -> &[u8] {
        &self.buf[self.pos..self.filled]
    }

    /// Puts `bytes` before the unread read-ahead (bytes a dropped ring read
    /// took from the OS file).
    #[cfg(target_os = "linux")]
    fn unread_first(&mut self, bytes: &[u8]) {
        let mut buf = bytes.to_vec();
        buf.extend_from_slice(self.unread());
        let filled = buf.len();
        buf.resize(filled.max(BUF_CAP), 0);
        self.buf = buf.into_boxed_slice();
        self.pos = 0;
        self.filled = filled;
    }

    fn clear_buffer(&mut self) {
        self.pos = 0;
        self.filled = 0;
    }

    /// Moves the OS file position back over the read-ahead and empties the buffer,
    /// so that the OS position is the logical one (before writing, or handing the
    /// file out).
    fn give_back_read_ahead(&mut self) -> io::Result<()> {
        let unread = self.filled - self.pos;
        if unread > 0 {
            self.file.seek(SeekFrom::Current(-(unread as i64)))?;
            self.clear_buffer();
        }
        Ok(())
    }

    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let unread = (self.filled - self.pos) as i64;
        let to = match pos {
            SeekFrom::Current(n) => SeekFrom::Current(n.checked_sub(unread).ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidInput, "seek offset overflowed")
            })?),
            other => other,
        };
        let at = self.file.seek(to)?;
        self.clear_buffer();
        Ok(at)
    }

    fn stream_position(&mut self) -> io::Result<u64> {
        let unread = (self.filled - self.pos) as u64;
        Ok(self.file.stream_position()? - unread)
    }

    fn read_to_end(&mut self, out: &mut Vec<u8>) -> io::Result<usize> {
        let buffered = self.filled - self.pos;
        out.extend_from_slice(self.unread());
        self.clear_buffer();
        Ok(buffered + self.file.read_to_end(out)?)
    }

    /// Takes a complete line (with its `\n`) from the buffer, if it holds one.
    fn take_buffered_line(&mut self) -> Option<io::Result<String>> {
        let unread = self.unread();
        let end = unread.iter().position(|b| *b == b'\n')? + 1;
        let line = std::str::from_utf8(&unread[..end]).map(str::to_owned);
        self.consume(end);
        Some(line.map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                "stream did not contain valid UTF-8",
            )
        }))
    }
}

impl Read for FileState {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.filled && out.len() >= BUF_CAP {
            return self.file.read(out); // large reads bypass the buffer
        }
        let avail = self.fill_buf()?;
        let n = avail.len().min(out.len());
        out[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl FileState {
    /// Reads into the buffer (with room for `want` bytes at least) if it
    /// holds nothing unread.
    fn fill_for(&mut self, want: usize) -> io::Result<()> {
        if self.pos == self.filled {
            if self.buf.len() < want.max(BUF_CAP) {
                self.buf = vec![0; want.max(BUF_CAP)].into_boxed_slice();
            }
            let n = self.file.read(&mut self.buf)?;
            self.pos = 0;
            self.filled = n;
        }
        Ok(())
    }
}

impl BufRead for FileState {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos == self.filled {
            if self.buf.is_empty() {
                self.buf = vec![0; BUF_CAP].into_boxed_slice();
            }
            let n = self.file.read(&mut self.buf)?;
            self.pos = 0;
            self.filled = n;
        }
        Ok(self.unread())
    }

    fn consume(&mut self, amt: usize) {
        self.pos = (self.pos + amt).min(self.filled);
    }
}

fn lock(shared: &Shared) -> MutexGuard<'_, Option<FileState>> {
    // std's file calls do not panic; recover from a poisoned lock regardless.
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

fn closed_error() -> io::Error {
    io::Error::from(Error::new(
        ErrorKind::ClosedResource,
        "this file was closed",
    ))
}

/// Runs `f` with the file on a worker thread.
async fn with_file<R, F>(shared: &Shared, f: F) -> io::Result<R>
where
    F: FnOnce(&mut FileState) -> io::Result<R> + Send + 'static,
    R: Send + 'static,
{
    let shared = shared.clone();
    blocking(move || match lock(&shared).as_mut() {
        Some(state) => f(state),
        None => Err(closed_error()),
    })
    .await
}

/// Runs `f` on the loop thread if the file is idle and `f` can serve the request
/// from the buffer (returns `Some`).
fn from_buffer<R>(shared: &Shared, f: impl FnOnce(&mut FileState) -> Option<R>) -> Option<R> {
    let mut guard = shared.try_lock().ok()?;
    f(guard.as_mut()?)
}

/// Reads a line (with its terminator) and appends it to `out`; returns its length.
async fn read_line(shared: &Shared, out: &mut String) -> io::Result<usize> {
    if from_buffer(shared, |st| st.unread().contains(&b'\n').then_some(())).is_some() {
        checkpoint().await?;
        if let Some(line) = from_buffer(shared, FileState::take_buffered_line) {
            let line = line?;
            out.push_str(&line);
            return Ok(line.len());
        }
    }
    let line = with_file(shared, |st| {
        let mut line = String::new();
        st.read_line(&mut line)?;
        Ok(line)
    })
    .await?;
    out.push_str(&line);
    Ok(line.len())
}

/// An open file whose operations run on worker threads (Trio's asynchronous file
/// object, from [`open_file`] / [`wrap_file`]).
///
/// Each operation is a [`to_thread::run_sync`](crate::to_thread::run_sync) call
/// (using the run's default thread limiter), except reads that the read buffer
/// serves alone. Close it with [`aclose`](AsyncResource::aclose), which closes on a
/// worker thread; dropping it closes the file on the spot.
///
/// # Errors
///
/// Operations return [`io::Result`] like their `std::fs::File` counterparts. After
/// [`aclose`](AsyncResource::aclose) they fail with an error that converts into a
/// [`trio::Error`](crate::Error) of kind [`ErrorKind::ClosedResource`].
///
/// # Cancellation
///
/// As in Trio, every operation is a checkpoint before it starts — cancelled there,
/// it did nothing — and cannot be cancelled once its worker thread has started: it
/// completes and returns its result, and the task's next checkpoint reports the
/// cancellation. (Trio's file methods are `to_thread.run_sync` calls without
/// `abandon_on_cancel`; abandoning a write would leave its effect unknown.) A
/// cancelled `Err` converts into a cancellation that a
/// [`CancelScope`](crate::CancelScope) recognises, also through `io::Error`. A
/// [`read`](Self::read) whose future is dropped while its worker reads loses
/// nothing: the worker fills the read buffer, and the bytes are returned by
/// the next read.
///
/// On Linux, when the run's reactor is io_uring
/// ([`IoBackend::Uring`](crate::lowlevel::IoBackend)), [`read`](Self::read) and
/// [`write`](Self::write) on an idle file are ring operations, not thread
/// trips, and follow the ring's abort protocol instead: a cancelled one asks
/// the kernel to cancel it and waits for the verdict — it did not happen
/// (`Cancelled`), or it completed and its count is returned. A dropped read's
/// bytes are not lost: the next operation sees them first (as read-ahead).
/// Operations keep their order either way. Trio's files have no such path:
/// this is where Rust's runtime goes further on purpose.
///
/// # Examples
///
/// ```
/// use std::io::SeekFrom;
/// use trio::abc::AsyncResource;
/// # trio::run(async {
/// # let dir = std::env::temp_dir().join(format!("trio-doc-asyncfile-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// let path = dir.join("notes.txt");
/// let mut f = trio::fs::AsyncFile::create(&path).await?;
/// f.write_all(b"first\nsecond\n").await?;
/// f.aclose().await?;
///
/// let mut f = trio::fs::AsyncFile::open(&path).await?;
/// let mut line = String::new();
/// f.read_line(&mut line).await?;
/// assert_eq!(line, "first\n");
/// f.seek(SeekFrom::Start(0)).await?;
/// let mut all = String::new();
/// f.read_to_string(&mut all).await?;
/// assert_eq!(all, "first\nsecond\n");
/// f.aclose().await?;
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(()) }).unwrap();
/// ```
pub struct AsyncFile {
    /// Declared first: dropped (ending the file's ring operations) before
    /// the file can close.
    #[cfg(target_os = "linux")]
    ring: ring::RingKey,
    shared: Shared,
    /// `aclose` was called on this handle.
    closed: Cell<bool>,
}

impl fmt::Debug for AsyncFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("AsyncFile");
        match self.shared.try_lock() {
            Ok(g) => match g.as_ref() {
                Some(st) => d.field("file", &st.file),
                None => d.field("file", &"<closed>"),
            },
            Err(_) => d.field("file", &"<busy>"),
        };
        d.finish()
    }
}

impl From<File> for AsyncFile {
    fn from(file: File) -> AsyncFile {
        AsyncFile::from_std(file)
    }
}

/// Opens `path` with `options` on a worker thread (Trio's `trio.open_file`; the
/// options replace Python's mode string).
///
/// # Errors
///
/// The errors of [`OpenOptions::open`], naming the path; `Cancelled`.
///
/// # Cancellation
///
/// A checkpoint before the thread starts; not cancellable afterwards (the file is
/// opened and returned). See [`AsyncFile`].
///
/// # Examples
///
/// ```
/// use std::fs::OpenOptions;
/// use trio::abc::AsyncResource;
/// # trio::run(async {
/// # let dir = std::env::temp_dir().join(format!("trio-doc-open-file-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// let path = dir.join("log.txt");
/// let mut log = trio::fs::open_file(&path, OpenOptions::new().append(true).create(true)).await?;
/// log.write_all(b"started\n").await?;
/// log.aclose().await?;
/// assert_eq!(trio::fs::read_to_string(&path).await?, "started\n");
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(()) }).unwrap();
/// ```
pub async fn open_file(path: impl AsRef<Path>, options: &OpenOptions) -> io::Result<AsyncFile> {
    let options = options.clone();
    let file = super::on_path("opening", path, move |p| options.open(p)).await?;
    Ok(AsyncFile::from_std(file))
}

/// Wraps an open `std::fs::File` (Trio's `trio.wrap_file`); the same as
/// [`AsyncFile::from_std`].
///
/// # Examples
///
/// ```
/// # trio::run(async {
/// let f = trio::fs::wrap_file(std::fs::File::open(".")?);
/// assert!(f.metadata().await?.is_dir());
/// # Ok(()) }).unwrap();
/// ```
pub fn wrap_file(file: File) -> AsyncFile {
    AsyncFile::from_std(file)
}

impl AsyncFile {
    /// Opens a file for reading (as [`File::open`]).
    ///
    /// # Errors
    ///
    /// The errors of [`File::open`]; `Cancelled`.
    ///
    /// # Cancellation
    ///
    /// As [`open_file`].
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// let err = trio::fs::AsyncFile::open("/no/such/file").await.unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    /// # Ok(()) }).unwrap();
    /// ```
    pub async fn open(path: impl AsRef<Path>) -> io::Result<AsyncFile> {
        open_file(path, OpenOptions::new().read(true)).await
    }

    /// Opens a file for writing, creating or truncating it (as [`File::create`]).
    ///
    /// # Errors
    ///
    /// The errors of [`File::create`]; `Cancelled`.
    ///
    /// # Cancellation
    ///
    /// As [`open_file`].
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// # let dir = std::env::temp_dir().join(format!("trio-doc-create-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir)?;
    /// let mut f = trio::fs::AsyncFile::create(dir.join("new.bin")).await?;
    /// assert_eq!(f.write(b"abc").await?, 3);
    /// # drop(f);
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok(()) }).unwrap();
    /// ```
    pub async fn create(path: impl AsRef<Path>) -> io::Result<AsyncFile> {
        open_file(
            path,
            OpenOptions::new().write(true).create(true).truncate(true),
        )
        .await
    }

    /// Wraps an open `std::fs::File` (Trio's `wrap_file`).
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// let dir = trio::fs::AsyncFile::from_std(std::fs::File::open(".")?);
    /// assert!(dir.metadata().await?.is_dir());
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn from_std(file: File) -> AsyncFile {
        AsyncFile {
            #[cfg(target_os = "linux")]
            ring: ring::RingKey::new(),
            shared: Arc::new(Mutex::new(Some(FileState::new(file)))),
            closed: Cell::new(false),
        }
    }

    fn check_open(&self) -> io::Result<()> {
        if self.closed.get() {
            Err(closed_error())
        } else {
            Ok(())
        }
    }

    /// The start of every operation: the file is open, and ring operations
    /// whose futures were dropped are settled (see `file/ring.rs`).
    async fn begin(&self) -> io::Result<()> {
        self.check_open()?;
        #[cfg(target_os = "linux")]
        self.ring.settle(&self.shared).await?;
        Ok(())
    }

    /// Reads some bytes into `buf`; returns how many (0 at the end of the file),
    /// as [`Read::read`]. Moves at most 2 MiB per call.
    ///
    /// # Errors
    ///
    /// The errors of [`Read::read`]; `Cancelled`; closed.
    ///
    /// # Cancellation
    ///
    /// A checkpoint; cancelled, nothing was read. Not cancellable once its thread
    /// has started; on io_uring, a cancelled read either read nothing or
    /// returns what it read (see [`AsyncFile`]).
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// # let dir = std::env::temp_dir().join(format!("trio-doc-read-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir)?;
    /// # let path = dir.join("f");
    /// trio::fs::write(&path, b"hello").await?;
    /// let mut f = trio::fs::AsyncFile::open(&path).await?;
    /// let mut buf = [0u8; 3];
    /// assert_eq!(f.read(&mut buf).await?, 3);
    /// assert_eq!(&buf, b"hel");
    /// assert_eq!(f.read(&mut buf).await?, 2);
    /// assert_eq!(f.read(&mut buf).await?, 0); // end of file
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok(()) }).unwrap();
    /// ```
    pub async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.begin().await?;
        if from_buffer(&self.shared, |st| (st.pos < st.filled).then_some(())).is_some() {
            checkpoint().await?;
            let served = from_buffer(&self.shared, |st| {
                (st.pos < st.filled).then(|| st.read(buf))
            });
            if let Some(n) = served {
                return n;
            }
        }
        #[cfg(target_os = "linux")]
        if let Some(r) = self.ring.read(&self.shared, buf).await {
            return r;
        }
        // The worker fills the read buffer and consumes nothing: the bytes
        // are taken here, on the loop's thread. A read whose future is
        // dropped while its worker reads so leaves them as read-ahead, for
        // the next operation — none is lost.
        let want = buf.len().min(MAX_CHUNK);
        with_file(&self.shared, move |st| st.fill_for(want)).await?;
        match lock(&self.shared).as_mut() {
            Some(st) => {
                let n = st.unread().len().min(buf.len());
                buf[..n].copy_from_slice(&st.unread()[..n]);
                st.consume(n);
                Ok(n)
            }
            None => Err(closed_error()),
        }
    }

    /// Reads to the end of the file, appending to `buf`; returns how many bytes
    /// were read (as [`Read::read_to_end`]).
    ///
    /// # Errors
    ///
    /// The errors of [`Read::read_to_end`]; `Cancelled`; closed.
    ///
    /// # Cancellation
    ///
    /// A checkpoint; cancelled, nothing was read. Not cancellable once its thread
    /// has started.
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// # let dir = std::env::temp_dir().join(format!("trio-doc-read-to-end-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir)?;
    /// # let path = dir.join("f");
    /// trio::fs::write(&path, [1, 2, 3]).await?;
    /// let mut f = trio::fs::AsyncFile::open(&path).await?;
    /// let mut v = vec![0];
    /// assert_eq!(f.read_to_end(&mut v).await?, 3);
    /// assert_eq!(v, [0, 1, 2, 3]);
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok(()) }).unwrap();
    /// ```
    pub async fn read_to_end(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        self.begin().await?;
        let data = with_file(&self.shared, |st| {
            let mut data = Vec::new();
            st.read_to_end(&mut data)?;
            Ok(data)
        })
        .await?;
        let n = data.len();
        if buf.is_empty() {
            *buf = data;
        } else {
            buf.extend_from_slice(&data);
        }
        Ok(n)
    }

    /// Reads to the end of the file, appending to `buf`; returns how many bytes
    /// were read (as [`Read::read_to_string`]).
    ///
    /// # Errors
    ///
    /// [`io::ErrorKind::InvalidData`] if the data is not UTF-8 (then `buf` is
    /// unchanged, and the data consumed); the errors of reading; `Cancelled`;
    /// closed.
    ///
    /// # Cancellation
    ///
    /// A checkpoint; cancelled, nothing was read. Not cancellable once its thread
    /// has started.
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// # let dir = std::env::temp_dir().join(format!("trio-doc-read-to-string-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir)?;
    /// # let path = dir.join("f");
    /// trio::fs::write(&path, "héllo").await?;
    /// let mut s = String::new();
    /// trio::fs::AsyncFile::open(&path).await?.read_to_string(&mut s).await?;
    /// assert_eq!(s, "héllo");
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok(()) }).unwrap();
    /// ```
    pub async fn read_to_string(&mut self, buf: &mut String) -> io::Result<usize> {
        self.begin().await?;
        let data = with_file(&self.shared, |st| {
            let mut data = Vec::new();
            st.read_to_end(&mut data)?;
            String::from_utf8(data).map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    "stream did not contain valid UTF-8",
                )
            })
        })
        .await?;
        let n = data.len();
        if buf.is_empty() {
            *buf = data;
        } else {
            buf.push_str(&data);
        }
        Ok(n)
    }

    /// Reads one line, with its `\n` (if any), and appends it to `buf`; returns
    /// its length in bytes, 0 at the end of the file (as [`BufRead::read_line`]).
    ///
    /// # Errors
    ///
    /// [`io::ErrorKind::InvalidData`] if the line is not UTF-8; the errors of
    /// reading; `Cancelled`; closed.
    ///
    /// # Cancellation
    ///
    /// A checkpoint; cancelled, nothing was read. A line already in the read
    /// buffer is taken without a thread; otherwise not cancellable once its thread
    /// has started.
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// # let dir = std::env::temp_dir().join(format!("trio-doc-read-line-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir)?;
    /// # let path = dir.join("f");
    /// trio::fs::write(&path, "a\nb").await?;
    /// let mut f = trio::fs::AsyncFile::open(&path).await?;
    /// let mut line = String::new();
    /// assert_eq!(f.read_line(&mut line).await?, 2);
    /// assert_eq!(f.read_line(&mut line).await?, 1);
    /// assert_eq!(line, "a\nb");
    /// assert_eq!(f.read_line(&mut line).await?, 0);
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok(()) }).unwrap();
    /// ```
    pub async fn read_line(&mut self, buf: &mut String) -> io::Result<usize> {
        self.begin().await?;
        read_line(&self.shared, buf).await
    }

    /// The lines of the file, from the current position, without their `\n` or
    /// `\r\n` (as [`BufRead::lines`]; Trio's `async for line in f`, which keeps the
    /// terminator). Call [`Lines::next_line`], or use it as a
    /// [`Stream`](futures_core::Stream).
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// # let dir = std::env::temp_dir().join(format!("trio-doc-lines-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir)?;
    /// # let path = dir.join("f");
    /// trio::fs::write(&path, "one\r\ntwo\nthree").await?;
    /// let mut f = trio::fs::AsyncFile::open(&path).await?;
    /// let mut lines = f.lines();
    /// let mut got = Vec::new();
    /// while let Some(line) = lines.next_line().await? {
    ///     got.push(line);
    /// }
    /// assert_eq!(got, ["one", "two", "three"]);
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn lines(&mut self) -> Lines<'_> {
        Lines {
            file: self,
            pending: None,
        }
    }

    /// Writes some of `buf`; returns how many bytes were written (as
    /// [`Write::write`]). Moves at most 2 MiB per call.
    ///
    /// # Errors
    ///
    /// The errors of [`Write::write`]; `Cancelled`; closed.
    ///
    /// # Cancellation
    ///
    /// A checkpoint; cancelled, nothing was written. Not cancellable once its
    /// thread has started: the write happens and its count is returned. On
    /// io_uring, a cancelled write either wrote nothing or returns its count
    /// (see [`AsyncFile`]).
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// # let dir = std::env::temp_dir().join(format!("trio-doc-write-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir)?;
    /// let mut f = trio::fs::AsyncFile::create(dir.join("f")).await?;
    /// let n = f.write(b"some bytes").await?;
    /// assert!(n > 0);
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok(()) }).unwrap();
    /// ```
    pub async fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.begin().await?;
        #[cfg(target_os = "linux")]
        if let Some(r) = self.ring.write(&self.shared, buf).await {
            return r;
        }
        let data = buf[..buf.len().min(MAX_CHUNK)].to_vec();
        with_file(&self.shared, move |st| {
            st.give_back_read_ahead()?;
            st.file.write(&data)
        })
        .await
    }

    /// Writes all of `buf` (as [`Write::write_all`]), in one trip to a worker
    /// thread.
    ///
    /// # Errors
    ///
    /// The errors of [`Write::write_all`]; `Cancelled`; closed.
    ///
    /// # Cancellation
    ///
    /// A checkpoint; cancelled, nothing was written. Not cancellable once its
    /// thread has started: everything is written (or an I/O error returned).
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// # let dir = std::env::temp_dir().join(format!("trio-doc-write-all-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir)?;
    /// # let path = dir.join("f");
    /// let mut f = trio::fs::AsyncFile::create(&path).await?;
    /// f.write_all(b"all of it").await?;
    /// assert_eq!(trio::fs::read(&path).await?, b"all of it");
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok(()) }).unwrap();
    /// ```
    pub async fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.begin().await?;
        let data = buf.to_vec();
        with_file(&self.shared, move |st| {
            st.give_back_read_ahead()?;
            st.file.write_all(&data)
        })
        .await
    }

    /// Moves the file position (as [`Seek::seek`]); returns the new position from
    /// the start. Discards the read-ahead.
    ///
    /// # Errors
    ///
    /// The errors of [`Seek::seek`]; `Cancelled`; closed.
    ///
    /// # Cancellation
    ///
    /// A checkpoint; cancelled, the position did not change. Not cancellable once
    /// its thread has started.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::SeekFrom;
    /// # trio::run(async {
    /// # let dir = std::env::temp_dir().join(format!("trio-doc-seek-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir)?;
    /// # let path = dir.join("f");
    /// trio::fs::write(&path, "0123456789").await?;
    /// let mut f = trio::fs::AsyncFile::open(&path).await?;
    /// assert_eq!(f.seek(SeekFrom::End(-3)).await?, 7);
    /// let mut s = String::new();
    /// f.read_to_string(&mut s).await?;
    /// assert_eq!(s, "789");
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok(()) }).unwrap();
    /// ```
    pub async fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.begin().await?;
        with_file(&self.shared, move |st| st.seek(pos)).await
    }

    /// The current position from the start of the file, as the reader sees it
    /// (Python's `tell`; [`Seek::stream_position`]).
    ///
    /// # Errors
    ///
    /// The errors of [`Seek::stream_position`]; `Cancelled`; closed.
    ///
    /// # Cancellation
    ///
    /// A checkpoint. Not cancellable once its thread has started.
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// # let dir = std::env::temp_dir().join(format!("trio-doc-position-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir)?;
    /// # let path = dir.join("f");
    /// trio::fs::write(&path, "ab\ncd\n").await?;
    /// let mut f = trio::fs::AsyncFile::open(&path).await?;
    /// let mut line = String::new();
    /// f.read_line(&mut line).await?; // reads ahead into the buffer...
    /// assert_eq!(f.stream_position().await?, 3); // ...but the position is after the line
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok(()) }).unwrap();
    /// ```
    pub async fn stream_position(&mut self) -> io::Result<u64> {
        self.begin().await?;
        with_file(&self.shared, FileState::stream_position).await
    }

    /// Flushes written data to the OS (as [`Write::flush`]; a `File` keeps no
    /// write buffer, so this only waits for earlier operations).
    ///
    /// # Errors
    ///
    /// `Cancelled`; closed.
    ///
    /// # Cancellation
    ///
    /// A checkpoint. Not cancellable once its thread has started.
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// # let dir = std::env::temp_dir().join(format!("trio-doc-flush-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir)?;
    /// let mut f = trio::fs::AsyncFile::create(dir.join("f")).await?;
    /// f.write_all(b"x").await?;
    /// f.flush().await?;
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok(()) }).unwrap();
    /// ```
    pub async fn flush(&mut self) -> io::Result<()> {
        self.begin().await?;
        with_file(&self.shared, |st| st.file.flush()).await
    }

    /// Flushes data and metadata to the storage device (as [`File::sync_all`]).
    ///
    /// # Errors
    ///
    /// The errors of [`File::sync_all`]; `Cancelled`; closed.
    ///
    /// # Cancellation
    ///
    /// A checkpoint. Not cancellable once its thread has started.
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// # let dir = std::env::temp_dir().join(format!("trio-doc-sync-all-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir)?;
    /// let mut f = trio::fs::AsyncFile::create(dir.join("f")).await?;
    /// f.write_all(b"durable").await?;
    /// f.sync_all().await?;
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok(()) }).unwrap();
    /// ```
    pub async fn sync_all(&self) -> io::Result<()> {
        self.begin().await?;
        with_file(&self.shared, |st| st.file.sync_all()).await
    }

    /// Flushes data (not necessarily metadata) to the storage device (as
    /// [`File::sync_data`]).
    ///
    /// # Errors
    ///
    /// The errors of [`File::sync_data`]; `Cancelled`; closed.
    ///
    /// # Cancellation
    ///
    /// A checkpoint. Not cancellable once its thread has started.
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// # let dir = std::env::temp_dir().join(format!("trio-doc-sync-data-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir)?;
    /// let mut f = trio::fs::AsyncFile::create(dir.join("f")).await?;
    /// f.write_all(b"data").await?;
    /// f.sync_data().await?;
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok(()) }).unwrap();
    /// ```
    pub async fn sync_data(&self) -> io::Result<()> {
        self.begin().await?;
        with_file(&self.shared, |st| st.file.sync_data()).await
    }

    /// Truncates or extends the file to `size` bytes (as [`File::set_len`];
    /// Python's `truncate`). The position does not move.
    ///
    /// # Errors
    ///
    /// The errors of [`File::set_len`]; `Cancelled`; closed.
    ///
    /// # Cancellation
    ///
    /// A checkpoint; cancelled, the size did not change. Not cancellable once its
    /// thread has started.
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// # let dir = std::env::temp_dir().join(format!("trio-doc-set-len-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir)?;
    /// let mut f = trio::fs::AsyncFile::create(dir.join("f")).await?;
    /// f.write_all(b"0123456789").await?;
    /// f.set_len(4).await?;
    /// assert_eq!(f.metadata().await?.len(), 4);
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok(()) }).unwrap();
    /// ```
    pub async fn set_len(&self, size: u64) -> io::Result<()> {
        self.begin().await?;
        with_file(&self.shared, move |st| st.file.set_len(size)).await
    }

    /// The file's metadata (as [`File::metadata`]).
    ///
    /// # Errors
    ///
    /// The errors of [`File::metadata`]; `Cancelled`; closed.
    ///
    /// # Cancellation
    ///
    /// A checkpoint. Not cancellable once its thread has started.
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// # let dir = std::env::temp_dir().join(format!("trio-doc-file-metadata-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir)?;
    /// let mut f = trio::fs::AsyncFile::create(dir.join("f")).await?;
    /// f.write_all(b"abc").await?;
    /// let m = f.metadata().await?;
    /// assert!(m.is_file());
    /// assert_eq!(m.len(), 3);
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok(()) }).unwrap();
    /// ```
    pub async fn metadata(&self) -> io::Result<Metadata> {
        self.begin().await?;
        with_file(&self.shared, |st| st.file.metadata()).await
    }

    /// Changes the file's permissions (as [`File::set_permissions`]).
    ///
    /// # Errors
    ///
    /// The errors of [`File::set_permissions`]; `Cancelled`; closed.
    ///
    /// # Cancellation
    ///
    /// A checkpoint; cancelled, nothing changed. Not cancellable once its thread
    /// has started.
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// # let dir = std::env::temp_dir().join(format!("trio-doc-file-perms-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir)?;
    /// let f = trio::fs::AsyncFile::create(dir.join("f")).await?;
    /// let mut perms = f.metadata().await?.permissions();
    /// perms.set_readonly(true);
    /// f.set_permissions(perms).await?;
    /// assert!(f.metadata().await?.permissions().readonly());
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok(()) }).unwrap();
    /// ```
    pub async fn set_permissions(&self, perm: Permissions) -> io::Result<()> {
        self.begin().await?;
        with_file(&self.shared, move |st| st.file.set_permissions(perm)).await
    }

    /// Gives the `std::fs::File` back, positioned where this reader was (the
    /// read-ahead is given back by seeking, where the file allows it). Waits for
    /// an operation still running in a worker (from a dropped future).
    ///
    /// # Errors
    ///
    /// `Cancelled`; closed.
    ///
    /// # Cancellation
    ///
    /// A checkpoint; if cancelled there, `self` is dropped, which closes the file.
    /// Not cancellable once its thread has started.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Read;
    /// # trio::run(async {
    /// # let dir = std::env::temp_dir().join(format!("trio-doc-into-std-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir)?;
    /// # let path = dir.join("f");
    /// trio::fs::write(&path, "line\nrest").await?;
    /// let mut f = trio::fs::AsyncFile::open(&path).await?;
    /// let mut line = String::new();
    /// f.read_line(&mut line).await?;
    /// let mut std_file = f.into_std().await?;
    /// let mut rest = String::new();
    /// std_file.read_to_string(&mut rest)?;
    /// assert_eq!(rest, "rest");
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok(()) }).unwrap();
    /// ```
    pub async fn into_std(self) -> io::Result<File> {
        self.begin().await?;
        #[cfg(target_os = "linux")]
        self.ring.forget();
        let shared = self.shared.clone();
        blocking(move || {
            let mut state = lock(&shared).take().ok_or_else(closed_error)?;
            let _ = state.give_back_read_ahead();
            Ok(state.file)
        })
        .await
    }
}

impl AsyncResource for AsyncFile {
    /// Closes the file on a worker thread (Trio's `aclose`): afterwards every
    /// operation fails with [`ErrorKind::ClosedResource`]. Closing twice is fine.
    ///
    /// # Errors
    ///
    /// `Cancelled` if the task is cancelled — the file is closed all the same.
    ///
    /// # Cancellation
    ///
    /// A checkpoint. The close itself is shielded, so it always happens; a
    /// cancellation is reported after it (as Trio does).
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::abc::AsyncResource;
    /// # trio::run(async {
    /// # let dir = std::env::temp_dir().join(format!("trio-doc-aclose-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir)?;
    /// let mut f = trio::fs::AsyncFile::create(dir.join("f")).await?;
    /// f.aclose().await?;
    /// f.aclose().await?; // twice is fine
    /// let err = trio::Error::from(f.write_all(b"late").await.unwrap_err());
    /// assert_eq!(err.kind(), trio::ErrorKind::ClosedResource);
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok(()) }).unwrap();
    /// ```
    async fn aclose(&self) -> crate::Result<()> {
        if self.closed.replace(true) {
            return checkpoint().await;
        }
        #[cfg(target_os = "linux")]
        self.ring.closing();
        let shared = self.shared.clone();
        let closing = CancelScope::new().shielded().run(async move {
            crate::to_thread::run_sync(move || drop(lock(&shared).take())).await
        });
        if closing.await.is_err() {
            // No worker thread could be started: close here instead.
            drop(lock(&self.shared).take());
        }
        checkpoint_if_cancelled()
    }
}

/// The lines of an [`AsyncFile`], without their terminators; from
/// [`AsyncFile::lines`].
///
/// Also a [`Stream`](futures_core::Stream) of `io::Result<String>`.
///
/// # Examples
///
/// ```
/// # trio::run(async {
/// # let dir = std::env::temp_dir().join(format!("trio-doc-lines-type-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// # let path = dir.join("f");
/// trio::fs::write(&path, "x\ny\n").await?;
/// let mut f = trio::fs::AsyncFile::open(&path).await?;
/// let mut lines: trio::fs::Lines<'_> = f.lines();
/// assert_eq!(lines.next_line().await?.as_deref(), Some("x"));
/// assert_eq!(lines.next_line().await?.as_deref(), Some("y"));
/// assert_eq!(lines.next_line().await?, None);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(()) }).unwrap();
/// ```
#[must_use = "streams do nothing unless polled"]
pub struct Lines<'a> {
    file: &'a mut AsyncFile,
    /// The read of the next line, if one is under way (kept across a dropped
    /// `next_line` future, so no line is lost).
    pending: Option<LineRead>,
}

impl fmt::Debug for Lines<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lines")
            .field("file", &self.file)
            .field("reading", &self.pending.is_some())
            .finish()
    }
}

async fn next_line_owned(shared: Shared, closed: bool) -> io::Result<Option<String>> {
    if closed {
        return Err(closed_error());
    }
    let mut line = String::new();
    if read_line(&shared, &mut line).await? == 0 {
        return Ok(None);
    }
    if line.ends_with('\n') {
        line.pop();
        if line.ends_with('\r') {
            line.pop();
        }
    }
    Ok(Some(line))
}

impl Lines<'_> {
    /// The next line, without its `\n` or `\r\n`; `None` at the end of the file.
    ///
    /// # Errors
    ///
    /// As [`AsyncFile::read_line`].
    ///
    /// # Cancellation
    ///
    /// As [`AsyncFile::read_line`]. If this future is dropped while a worker
    /// reads, the line is not lost: the next call returns it.
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// # let dir = std::env::temp_dir().join(format!("trio-doc-next-line-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir)?;
    /// # let path = dir.join("f");
    /// trio::fs::write(&path, "only\n").await?;
    /// let mut f = trio::fs::AsyncFile::open(&path).await?;
    /// let mut lines = f.lines();
    /// assert_eq!(lines.next_line().await?, Some("only".to_string()));
    /// assert_eq!(lines.next_line().await?, None);
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok(()) }).unwrap();
    /// ```
    pub async fn next_line(&mut self) -> io::Result<Option<String>> {
        std::future::poll_fn(|cx| self.poll_next_line(cx)).await
    }

    fn poll_next_line(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<String>>> {
        let pending = self.pending.get_or_insert_with(|| {
            let shared = self.file.shared.clone();
            let closed = self.file.closed.get();
            #[cfg(target_os = "linux")]
            let settle = self.file.ring.settle(&shared);
            Box::pin(async move {
                #[cfg(target_os = "linux")]
                settle.await?;
                next_line_owned(shared, closed).await
            })
        });
        let out = std::task::ready!(pending.as_mut().poll(cx));
        self.pending = None;
        Poll::Ready(out)
    }
}

impl futures_core::Stream for Lines<'_> {
    type Item = io::Result<String>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_next_line(cx).map(Result::transpose)
    }
}
