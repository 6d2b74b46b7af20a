//! Pipe streams on Windows: [`PipeSendStream`] and [`PipeReceiveStream`], each
//! with a helper thread that makes the blocking system calls.
//!
//! # Invariants
//!
//! * `pipe` is `None` exactly when the stream was closed. The handle lives in the
//!   `Pipe`, shared with the helper thread, and is closed when both have let go:
//!   at once if the thread never started or has ended, else as soon as the thread
//!   has left its system call (closing interrupts it) and seen `closed`.
//! * The thread starts with the first operation that needs it, and ends when the
//!   stream is closed, at the end of the stream, or at the first error.
//! * Reading is on demand: the thread reads only when a receive asks (`wanted`,
//!   at most that many bytes) and nobody else's read is in progress (`reading`).
//!   What it read and no receive took — the receive was cancelled, or the next one
//!   has a smaller buffer — stays in `buf` for the next receive: a cancelled
//!   receive loses nothing.
//! * Writing is by chunks of at most [`CHUNK`] bytes: `send_all` hands the thread
//!   one chunk (`chunk`) when it is idle, and waits for it to be written before
//!   handing the next. A chunk handed over is written even if `send_all` is
//!   cancelled meanwhile, as bytes a kernel accepted would be: that is the prefix
//!   a cancelled send sent. The next send waits for it first, so bytes never
//!   overtake each other.
//! * `busy` is set for the whole of one operation (Trio's `ConflictDetector`): a
//!   second task calling into the same stream meanwhile gets `BusyResource`.

use std::cell::RefCell;
use std::fmt;
use std::io;
use std::os::windows::io::{AsHandle, AsRawHandle, OwnedHandle, RawHandle};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::shared::Shared;
use crate::abc::{AsyncResource, ReceiveStream, SendStream};
use crate::conflict::ConflictDetector;
use crate::lowlevel::{cancel_shielded_checkpoint, checkpoint, checkpoint_if_cancelled};
use crate::sys;
use crate::{Error, ErrorKind, Result};

/// The most one system call reads or writes, and what a helper thread buffers.
const CHUNK: usize = 64 * 1024;

/// How long closing keeps trying to interrupt a thread that is about to enter its
/// system call, or has just left it. The window is a few instructions, unless the
/// thread is not scheduled meanwhile; past the bound the thread is left to end
/// when its call does (when the other end writes, reads or closes).
const INTERRUPT_PATIENCE: Duration = Duration::from_millis(100);

fn closed_error() -> Error {
    Error::new(ErrorKind::ClosedResource, "this pipe was already closed")
}

/// A failed system call on a pipe: the pipe is broken (for a send, typically
/// `ERROR_NO_DATA`: the reader is gone).
fn io_error(e: &io::Error, what: &'static str) -> Error {
    // Kept for every later call: a copy each time.
    let copy = match e.raw_os_error() {
        Some(code) => io::Error::from_raw_os_error(code),
        None => io::Error::new(e.kind(), e.to_string()),
    };
    Error::from(copy).context(ErrorKind::BrokenResource, what)
}

/// The handle and what the stream and its thread share.
struct Pipe<S> {
    handle: OwnedHandle,
    shared: Shared<S>,
}

/// One end of a pipe: the shared part, the thread once started, and the
/// bookkeeping of one direction.
struct PipeCore<S> {
    pipe: RefCell<Option<Arc<Pipe<S>>>>,
    thread: RefCell<Option<JoinHandle<()>>>,
    /// The handle's value, for `as_raw_handle` (a number, so the stream stays
    /// `Send`).
    raw: usize,
    busy: ConflictDetector,
}

impl<S> PipeCore<S> {
    fn new(handle: OwnedHandle, state: S, busy_message: &'static str) -> PipeCore<S> {
        PipeCore {
            raw: handle.as_raw_handle() as usize,
            pipe: RefCell::new(Some(Arc::new(Pipe {
                handle,
                shared: Shared::new(state),
            }))),
            thread: RefCell::new(None),
            busy: ConflictDetector::new(busy_message),
        }
    }

    fn is_closed(&self) -> bool {
        self.pipe.borrow().is_none()
    }

    fn raw_handle(&self) -> RawHandle {
        if self.is_closed() {
            std::ptr::null_mut()
        } else {
            self.raw as RawHandle
        }
    }

    /// The shared part, or `ClosedResource`.
    fn pipe(&self) -> Result<Arc<Pipe<S>>> {
        self.pipe.borrow().clone().ok_or_else(closed_error)
    }

    /// Closes the stream: the thread is told, and interrupted if it is in its
    /// system call; a task blocked here wakes with `ClosedResource`. Never
    /// blocks (beyond [`INTERRUPT_PATIENCE`] in the worst case). Idempotent.
    fn close(&self) {
        let Some(pipe) = self.pipe.borrow_mut().take() else {
            return;
        };
        let thread = self.thread.borrow_mut().take();
        if !pipe.shared.close() {
            return;
        }
        let thread = thread.as_ref().map(|t| t.as_handle());
        let give_up = Instant::now() + INTERRUPT_PATIENCE;
        // Until the thread is out of its call: once closed, it starts no other,
        // so `in_io` means the same call. A cancel that answers NotFound came
        // before the thread was in the call (or after); one that answers
        // success may still miss it — Wine's can, on a synchronous pipe write
        // that is about to wait for room — so a success is not taken on trust.
        while pipe.shared.in_io() && Instant::now() < give_up {
            match sys::handle::cancel_io(pipe.handle.as_handle(), thread) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return,
                _ => std::thread::yield_now(),
            }
        }
    }
}

impl<S: Send + 'static> PipeCore<S> {
    /// Starts the helper thread, once.
    fn start(&self, pipe: &Arc<Pipe<S>>, name: &str, main: fn(Arc<Pipe<S>>)) -> Result<()> {
        let mut thread = self.thread.borrow_mut();
        if thread.is_none() {
            let pipe = pipe.clone();
            *thread = Some(
                std::thread::Builder::new()
                    .name(name.into())
                    .spawn(move || main(pipe))?,
            );
        }
        Ok(())
    }
}

impl<S> Drop for PipeCore<S> {
    fn drop(&mut self) {
        self.close();
    }
}

impl<S> fmt::Debug for PipeCore<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipeCore")
            .field("handle", &(self.raw as *const ()))
            .field("closed", &self.pipe.borrow().is_none())
            .field("busy", &self.busy.is_held())
            .finish()
    }
}

/// What a receive stream and its reading thread share.
#[derive(Debug, Default)]
struct Reading {
    /// A receive asks for up to this many bytes; the thread takes it and reads.
    wanted: Option<usize>,
    /// The thread is reading.
    reading: bool,
    /// Read and not yet received, from `pos` on.
    buf: Vec<u8>,
    pos: usize,
    /// The write end was closed: every receive from now on gets `Ok(0)`.
    eof: bool,
    /// The read failed: every receive from now on gets `BrokenResource`.
    error: Option<io::Error>,
}

/// Makes one blocking system call `f` for the thread, unless the stream was
/// closed: `in_io` is set, under the lock, only after `closed` was seen unset, so
/// a close either comes first (and `f` is not called) or finds `in_io` and
/// interrupts `f`. `None`: closed, before or during the call.
fn call<S, R>(pipe: &Pipe<S>, f: impl FnOnce() -> R) -> Option<R> {
    {
        let mut g = pipe.shared.lock();
        if g.closed {
            return None;
        }
        g.in_io = true;
    }
    let r = f();
    let mut g = pipe.shared.lock();
    g.in_io = false;
    (!g.closed).then_some(r)
}

/// The reading thread: one read per request, until closed, the end, or an error.
fn reader_main(pipe: Arc<Pipe<Reading>>) {
    let io = sys::handle::BlockingIo::new(pipe.handle.as_handle());
    let mut chunk = Vec::new();
    loop {
        let Some((mut g, want)) = pipe.shared.wait_for_work(|r| {
            let want = r.wanted.take()?;
            r.reading = true;
            Some(want)
        }) else {
            return;
        };
        let io = match &io {
            Ok(io) => io,
            Err(e) => {
                g.state.error = Some(io::Error::new(e.kind(), e.to_string()));
                g.state.reading = false;
                pipe.shared.wake(g);
                return;
            }
        };
        drop(g);
        chunk.resize(want, 0);
        // A zero-byte completion (a zero-byte write at the other end) is neither
        // data nor the end: read again.
        let r = loop {
            match call(&pipe, || io.read(pipe.handle.as_handle(), &mut chunk)) {
                None => return,
                Some(Ok(Some(0))) => {}
                Some(r) => break r,
            }
        };
        let mut g = pipe.shared.lock();
        g.state.reading = false;
        let end = match r {
            Ok(None) => {
                g.state.eof = true;
                true
            }
            Ok(Some(n)) => {
                g.state.buf.extend_from_slice(&chunk[..n]);
                false
            }
            Err(e) => {
                g.state.error = Some(e);
                true
            }
        };
        pipe.shared.wake(g);
        if end {
            return;
        }
    }
}

/// What a send stream and its writing thread share.
#[derive(Debug, Default)]
struct Writing {
    /// Handed to the thread, not taken yet (empty: nothing to do).
    chunk: Vec<u8>,
    /// The thread is writing a chunk.
    writing: bool,
    /// A write failed: every send from now on gets `BrokenResource`.
    error: Option<io::Error>,
}

impl Writing {
    fn idle(&self) -> bool {
        !self.writing && self.chunk.is_empty()
    }
}

/// The writing thread: writes each chunk it is handed, until closed or an error.
fn writer_main(pipe: Arc<Pipe<Writing>>) {
    let io = sys::handle::BlockingIo::new(pipe.handle.as_handle());
    loop {
        let Some((mut g, chunk)) = pipe.shared.wait_for_work(|w| {
            if w.chunk.is_empty() {
                return None;
            }
            w.writing = true;
            Some(std::mem::take(&mut w.chunk))
        }) else {
            return;
        };
        let io = match &io {
            Ok(io) => io,
            Err(e) => {
                g.state.error = Some(io::Error::new(e.kind(), e.to_string()));
                g.state.writing = false;
                pipe.shared.wake(g);
                return;
            }
        };
        drop(g);
        let mut done = 0;
        let r = loop {
            if done == chunk.len() {
                break Ok(());
            }
            match call(&pipe, || io.write(pipe.handle.as_handle(), &chunk[done..])) {
                None => return,
                Some(Ok(0)) => break Err(io::Error::from(io::ErrorKind::WriteZero)),
                Some(Ok(n)) => done += n,
                Some(Err(e)) => break Err(e),
            }
        };
        let mut g = pipe.shared.lock();
        g.state.writing = false;
        let failed = r.is_err();
        if let Err(e) = r {
            g.state.error = Some(e);
        }
        pipe.shared.wake(g);
        if failed {
            return;
        }
    }
}

/// The sending end of a pipe — for example a child's standard input — as a
/// trio [`SendStream`] (Trio's `FdStream`, send side), on Windows.
///
/// The stream owns its handle and closes it when closed or dropped. A pipe
/// handle cannot be waited on by the run loop, so a helper thread, started by
/// the first send, makes the blocking writes: `send_all` hands it the data in
/// chunks of at most 64 KiB and waits (a trio wait, cancellable) until each has
/// been written. Only one task may send at a time: a second concurrent
/// `send_all` or `wait_send_all_might_not_block` fails with
/// [`BusyResource`](crate::ErrorKind::BusyResource).
///
/// Writing to a pipe whose reader is gone fails with
/// [`BrokenResource`](crate::ErrorKind::BrokenResource), and so does every send
/// after it.
///
/// # Cancellation
///
/// A cancelled `send_all` sent a prefix of its data: the chunk the thread was
/// writing is still written (as bytes a kernel had accepted would be), the rest
/// is not; the next `send_all` waits for that chunk first. Closing the stream
/// interrupts the write in progress.
///
/// # Examples
///
/// ```no_run
/// use trio::abc::{ReceiveStream, SendStream};
/// # trio::run(async {
/// let (send, receive) = trio::process::pipe()?;
/// send.send_all(b"hello").await?;
/// let mut buf = [0u8; 16];
/// let n = receive.receive_some(&mut buf).await?;
/// assert_eq!(&buf[..n], b"hello");
/// # Ok(()) }).unwrap();
/// ```
#[derive(Debug)]
pub struct PipeSendStream {
    core: PipeCore<Writing>,
}

/// The receiving end of a pipe — for example a child's standard output — as a
/// trio [`ReceiveStream`] (Trio's `FdStream`, receive side), on Windows.
///
/// The stream owns its handle and closes it when closed or dropped. A helper
/// thread, started by the first receive, makes the blocking reads, one per
/// receive that finds nothing buffered, of at most that receive's buffer (and
/// 64 KiB). Only one task may receive at a time: a second concurrent
/// `receive_some` fails with [`BusyResource`](crate::ErrorKind::BusyResource).
/// End of stream (`Ok(0)`) comes once every handle to the write end is closed —
/// for a child's output, once the child (and anything it passed the pipe on to)
/// has exited or closed it.
///
/// # Cancellation
///
/// A cancelled `receive_some` took nothing: bytes the thread reads for it
/// afterwards wait for the next receive.
///
/// # Examples
///
/// ```no_run
/// use trio::abc::{AsyncResource, ReceiveStream, SendStream};
/// # trio::run(async {
/// let (send, receive) = trio::process::pipe()?;
/// send.send_all(b"bye").await?;
/// send.aclose().await?;
/// let mut buf = [0u8; 16];
/// assert_eq!(receive.receive_some(&mut buf).await?, 3);
/// assert_eq!(receive.receive_some(&mut buf).await?, 0); // end of stream
/// # Ok(()) }).unwrap();
/// ```
#[derive(Debug)]
pub struct PipeReceiveStream {
    core: PipeCore<Reading>,
}

/// Makes a new pipe and wraps both ends: `(send end, receive end)`.
///
/// On Windows this is a named pipe with a unique name, local only, opened for
/// overlapped I/O at both ends (what std makes for a child's pipes), and neither
/// end is inheritable. The streams' helper threads start with their first
/// operation. Works outside trio too, until an operation has to wait.
///
/// # Errors
///
/// An [`Io`](crate::ErrorKind::Io) error if the system refuses the pipe.
///
/// # Examples
///
/// ```no_run
/// use trio::abc::{ReceiveStream, SendStream};
/// # trio::run(async {
/// let (send, receive) = trio::process::pipe()?;
/// trio::open_nursery(async |n| {
///     n.start_soon(async { send.send_all(&[7u8; 100_000]).await })?; // more than a pipe holds
///     let mut total = 0;
///     let mut buf = vec![0u8; 8192];
///     while total < 100_000 {
///         total += receive.receive_some(&mut buf).await?;
///     }
///     Ok(())
/// }).await?;
/// # Ok(()) }).unwrap();
/// ```
pub fn pipe() -> Result<(PipeSendStream, PipeReceiveStream)> {
    let (r, w) = sys::handle::pipe(true, true)?;
    Ok((PipeSendStream::new(w)?, PipeReceiveStream::new(r)?))
}

impl PipeSendStream {
    /// Wraps the write end of a pipe (or a console, or a file), taking ownership
    /// of the handle. The handle may be opened for overlapped I/O or not: the
    /// helper thread asks the system which, and calls accordingly.
    ///
    /// Closing interrupts a write in progress (`CancelIoEx`). Should the system
    /// refuse to cancel it, the thread, and the handle with it, ends when the
    /// write does.
    ///
    /// # Errors
    ///
    /// None so far on Windows (a `Result` as on Unix): the helper thread starts
    /// with the first send, which reports a failure to start it.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::os::windows::io::OwnedHandle;
    /// use trio::abc::SendStream;
    /// # trio::run(async {
    /// let file = std::fs::File::create("out.txt")?;
    /// let send = trio::process::PipeSendStream::new(OwnedHandle::from(file))?;
    /// send.send_all(b"x").await?;
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn new(handle: OwnedHandle) -> Result<PipeSendStream> {
        Ok(PipeSendStream {
            core: PipeCore::new(
                handle,
                Writing::default(),
                "another task is using this pipe for sending",
            ),
        })
    }

    /// Closes the stream now, without a checkpoint (the synchronous half of
    /// [`aclose`](AsyncResource::aclose)); a task blocked in `send_all` wakes with
    /// [`ClosedResource`](crate::ErrorKind::ClosedResource), and a write in
    /// progress is interrupted. Closing twice is fine.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use trio::abc::SendStream;
    /// # trio::run(async {
    /// let (send, _receive) = trio::process::pipe()?;
    /// send.close();
    /// let err = send.send_all(b"x").await.unwrap_err();
    /// assert_eq!(err.kind(), trio::ErrorKind::ClosedResource);
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn close(&self) {
        self.core.close();
    }

    /// True once the stream was closed.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let (send, _receive) = trio::process::pipe().unwrap();
    /// assert!(!send.is_closed());
    /// send.close();
    /// assert!(send.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.core.is_closed()
    }
}

impl PipeReceiveStream {
    /// Wraps the read end of a pipe (or a console, or a file), taking ownership
    /// of the handle. The handle may be opened for overlapped I/O or not: the
    /// helper thread asks the system which, and calls accordingly.
    ///
    /// Closing interrupts a read in progress (`CancelIoEx`). Should the system
    /// refuse to cancel it, the thread, and the handle with it, ends when the
    /// read does.
    ///
    /// # Errors
    ///
    /// None so far on Windows (a `Result` as on Unix): the helper thread starts
    /// with the first receive, which reports a failure to start it.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::os::windows::io::OwnedHandle;
    /// use trio::abc::ReceiveStream;
    /// # trio::run(async {
    /// let file = std::fs::File::open("Cargo.toml")?;
    /// let receive = trio::process::PipeReceiveStream::new(OwnedHandle::from(file))?;
    /// let mut buf = [0u8; 4];
    /// assert!(receive.receive_some(&mut buf).await? > 0);
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn new(handle: OwnedHandle) -> Result<PipeReceiveStream> {
        Ok(PipeReceiveStream {
            core: PipeCore::new(
                handle,
                Reading::default(),
                "another task is using this pipe for receiving",
            ),
        })
    }

    /// Closes the stream now, without a checkpoint (the synchronous half of
    /// [`aclose`](AsyncResource::aclose)); a task blocked in `receive_some` wakes
    /// with [`ClosedResource`](crate::ErrorKind::ClosedResource), and a read in
    /// progress is interrupted. Closing twice is fine.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use trio::abc::ReceiveStream;
    /// # trio::run(async {
    /// let (_send, receive) = trio::process::pipe()?;
    /// receive.close();
    /// let err = receive.receive_some(&mut [0u8; 4]).await.unwrap_err();
    /// assert_eq!(err.kind(), trio::ErrorKind::ClosedResource);
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn close(&self) {
        self.core.close();
    }

    /// True once the stream was closed.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let (_send, receive) = trio::process::pipe().unwrap();
    /// receive.close();
    /// assert!(receive.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.core.is_closed()
    }
}

/// The handle, or null once the stream is closed (Trio's `fileno()`).
///
/// # Examples
///
/// ```no_run
/// use std::os::windows::io::AsRawHandle;
/// let (send, _receive) = trio::process::pipe().unwrap();
/// assert!(!send.as_raw_handle().is_null());
/// send.close();
/// assert!(send.as_raw_handle().is_null());
/// ```
impl AsRawHandle for PipeSendStream {
    fn as_raw_handle(&self) -> RawHandle {
        self.core.raw_handle()
    }
}

/// The handle, or null once the stream is closed (Trio's `fileno()`).
///
/// # Examples
///
/// ```no_run
/// use std::os::windows::io::AsRawHandle;
/// let (_send, receive) = trio::process::pipe().unwrap();
/// assert!(!receive.as_raw_handle().is_null());
/// ```
impl AsRawHandle for PipeReceiveStream {
    fn as_raw_handle(&self) -> RawHandle {
        self.core.raw_handle()
    }
}

/// Wraps a child's standard input, piped with `Stdio::piped()`.
///
/// # Examples
///
/// ```no_run
/// use std::process::{Command, Stdio};
/// use trio::abc::AsyncResource;
/// # trio::run(async {
/// let mut child = Command::new("findstr").arg("x").stdin(Stdio::piped()).spawn()?;
/// let stdin = trio::process::PipeSendStream::try_from(child.stdin.take().unwrap())?;
/// stdin.aclose().await?;
/// child.wait()?;
/// # Ok(()) }).unwrap();
/// ```
impl TryFrom<std::process::ChildStdin> for PipeSendStream {
    type Error = Error;

    fn try_from(s: std::process::ChildStdin) -> Result<Self> {
        PipeSendStream::new(OwnedHandle::from(s))
    }
}

/// Wraps a child's standard output, piped with `Stdio::piped()`.
///
/// # Examples
///
/// ```no_run
/// use std::process::{Command, Stdio};
/// use trio::abc::ReceiveStream;
/// # trio::run(async {
/// let mut child = Command::new("cmd").args(["/C", "echo hi"]).stdout(Stdio::piped()).spawn()?;
/// let stdout = trio::process::PipeReceiveStream::try_from(child.stdout.take().unwrap())?;
/// let mut buf = [0u8; 8];
/// assert!(stdout.receive_some(&mut buf).await? > 0);
/// child.wait()?;
/// # Ok(()) }).unwrap();
/// ```
impl TryFrom<std::process::ChildStdout> for PipeReceiveStream {
    type Error = Error;

    fn try_from(s: std::process::ChildStdout) -> Result<Self> {
        PipeReceiveStream::new(OwnedHandle::from(s))
    }
}

/// Wraps a child's standard error, piped with `Stdio::piped()`.
///
/// # Examples
///
/// ```no_run
/// use std::process::{Command, Stdio};
/// use trio::abc::ReceiveStream;
/// # trio::run(async {
/// let mut child = Command::new("cmd").args(["/C", "echo oops 1>&2"]).stderr(Stdio::piped()).spawn()?;
/// let stderr = trio::process::PipeReceiveStream::try_from(child.stderr.take().unwrap())?;
/// let mut buf = [0u8; 8];
/// assert!(stderr.receive_some(&mut buf).await? > 0);
/// child.wait()?;
/// # Ok(()) }).unwrap();
/// ```
impl TryFrom<std::process::ChildStderr> for PipeReceiveStream {
    type Error = Error;

    fn try_from(s: std::process::ChildStderr) -> Result<Self> {
        PipeReceiveStream::new(OwnedHandle::from(s))
    }
}

impl AsyncResource for PipeSendStream {
    /// Closes the pipe (see [`close`](PipeSendStream::close)), then checkpoints.
    async fn aclose(&self) -> Result<()> {
        self.core.close();
        checkpoint().await
    }
}

impl SendStream for PipeSendStream {
    async fn send_all(&self, data: &[u8]) -> Result<()> {
        let _busy = self.core.busy.enter()?;
        let pipe = self.core.pipe()?;
        checkpoint_if_cancelled()?;
        if !data.is_empty() {
            self.core.start(&pipe, "trio-pipe-writer", writer_main)?;
        }
        let mut blocked = false;
        let mut rest = data;
        loop {
            // Wait until the thread is idle (a cancelled send's chunk may still be
            // on its way), then hand it the next chunk.
            let (r, waited) = pipe
                .shared
                .wait(|inner| {
                    if inner.closed {
                        return Some(Err(closed_error()));
                    }
                    if let Some(e) = &inner.state.error {
                        return Some(Err(io_error(e, "writing to the pipe failed")));
                    }
                    inner.state.idle().then_some(Ok(()))
                })
                .await?;
            blocked |= waited;
            r?;
            if rest.is_empty() {
                break;
            }
            let (now, later) = rest.split_at(rest.len().min(CHUNK));
            pipe.shared.update(|w| w.chunk.extend_from_slice(now));
            rest = later;
        }
        if !blocked {
            cancel_shielded_checkpoint().await?;
        }
        Ok(())
    }

    async fn wait_send_all_might_not_block(&self) -> Result<()> {
        let _busy = self.core.busy.enter()?;
        let pipe = self.core.pipe()?;
        checkpoint_if_cancelled()?;
        // A send would not block once the thread is idle — or has failed (the
        // send then fails at once).
        let (r, blocked) = pipe
            .shared
            .wait(|inner| {
                if inner.closed {
                    return Some(Err(closed_error()));
                }
                (inner.state.idle() || inner.state.error.is_some()).then_some(Ok(()))
            })
            .await?;
        r?;
        if !blocked {
            cancel_shielded_checkpoint().await?;
        }
        Ok(())
    }
}

impl AsyncResource for PipeReceiveStream {
    /// Closes the pipe (see [`close`](PipeReceiveStream::close)), then checkpoints.
    async fn aclose(&self) -> Result<()> {
        self.core.close();
        checkpoint().await
    }
}

impl ReceiveStream for PipeReceiveStream {
    async fn receive_some(&self, buf: &mut [u8]) -> Result<usize> {
        let _busy = self.core.busy.enter()?;
        let pipe = self.core.pipe()?;
        if buf.is_empty() {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "receive_some needs a buffer with room for at least one byte",
            ));
        }
        checkpoint_if_cancelled()?;
        self.core.start(&pipe, "trio-pipe-reader", reader_main)?;
        let want = buf.len().min(CHUNK);
        let (r, blocked) = pipe
            .shared
            .wait(|inner| {
                if inner.closed {
                    return Some(Err(closed_error()));
                }
                let st = &mut inner.state;
                if st.pos < st.buf.len() {
                    let n = want.min(st.buf.len() - st.pos);
                    buf[..n].copy_from_slice(&st.buf[st.pos..st.pos + n]);
                    st.pos += n;
                    if st.pos == st.buf.len() {
                        st.buf.clear();
                        st.pos = 0;
                    }
                    return Some(Ok(n));
                }
                if let Some(e) = &st.error {
                    return Some(Err(io_error(e, "reading from the pipe failed")));
                }
                if st.eof {
                    return Some(Ok(0));
                }
                if st.wanted.is_none() && !st.reading {
                    st.wanted = Some(want);
                }
                None
            })
            .await?;
        let n = r?;
        if !blocked {
            cancel_shielded_checkpoint().await?;
        }
        Ok(n)
    }
}

/// A staple whose send half is a pipe (as [`Process::take_stdio`] gives) can end
/// its direction: `send_eof` closes the pipe, as Trio's `StapledStream` does for a
/// send half without `send_eof` of its own.
///
/// [`Process::take_stdio`]: crate::process::Process::take_stdio
impl<R: ReceiveStream> crate::abc::HalfCloseableStream for crate::StapledStream<PipeSendStream, R> {
    /// Closes the send half (the pipe), so the reader sees end of file; receiving
    /// still works.
    ///
    /// # Errors
    ///
    /// `Cancelled` if cancelled — the pipe is closed all the same.
    ///
    /// # Cancellation
    ///
    /// A checkpoint.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use trio::abc::{HalfCloseableStream, ReceiveStream};
    /// # trio::run(async {
    /// let (s, r) = trio::process::pipe()?;
    /// let (s2, r2) = trio::process::pipe()?;
    /// let stapled = trio::StapledStream::new(s, r2);
    /// stapled.send_eof().await?;
    /// assert_eq!(r.receive_some(&mut [0u8; 4]).await?, 0);
    /// drop(s2);
    /// assert_eq!(stapled.receive_some(&mut [0u8; 4]).await?, 0);
    /// # Ok(()) }).unwrap();
    /// ```
    async fn send_eof(&self) -> Result<()> {
        self.send_stream().aclose().await
    }
}

#[cfg(test)]
mod tests {
    //! The synchronous-handle path (a pipe opened without `FILE_FLAG_OVERLAPPED`,
    //! as `CreatePipe` makes them): closing a stream interrupts its thread's
    //! blocking call, the thread ends and lets go of the handle, and the other end
    //! sees it (a broken pipe, the end of the stream). The integration tests cover
    //! the overlapped path (std's child pipes, `pipe()`).

    use std::os::windows::io::AsHandle;
    use std::sync::Arc;
    use std::time::Duration;

    use super::{Pipe, PipeCore, PipeReceiveStream, PipeSendStream};
    use crate::abc::{ReceiveStream, SendStream};
    use crate::lowlevel::checkpoint;
    use crate::testing::wait_all_tasks_blocked;
    use crate::{ErrorKind, Result};

    fn sync_pipe() -> (PipeSendStream, PipeReceiveStream) {
        let (r, w) = crate::sys::handle::pipe(false, false).unwrap();
        (
            PipeSendStream::new(w).unwrap(),
            PipeReceiveStream::new(r).unwrap(),
        )
    }

    /// Yields until the stream's thread has been in its system call for a while
    /// (as seen from 50 schedule points in a row: a write that the pipe can take
    /// comes out of it sooner), and returns its shared part.
    async fn until_blocked<S>(core: &PipeCore<S>) -> Result<Arc<Pipe<S>>> {
        let pipe = core.pipe()?;
        let mut seen = 0;
        while seen < 50 {
            seen = if pipe.shared.in_io() { seen + 1 } else { 0 };
            checkpoint().await?;
        }
        Ok(pipe)
    }

    /// Yields until the helper thread has let go of `pipe` (it has ended).
    async fn until_thread_ended<S>(pipe: Arc<Pipe<S>>) -> Result<()> {
        crate::fail_after(Duration::from_secs(20), async {
            while Arc::strong_count(&pipe) > 1 {
                checkpoint().await?;
            }
            Ok::<_, crate::Error>(())
        })
        .await
    }

    #[test]
    fn closing_interrupts_a_synchronous_read() {
        crate::run(async {
            let (s, r) = sync_pipe();
            let r = &r;
            let pipe = crate::open_nursery(async |n| {
                n.start_soon(async move {
                    let e = r.receive_some(&mut [0u8; 8]).await.unwrap_err();
                    assert_eq!(e.kind(), ErrorKind::ClosedResource);
                    Ok(())
                })?;
                wait_all_tasks_blocked().await?;
                let pipe = until_blocked(&r.core).await?;
                r.close();
                Ok(pipe)
            })
            .await?
            .unwrap();
            until_thread_ended(pipe).await?;
            // The read end is closed: writing breaks.
            let e = s.send_all(b"x").await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::BrokenResource);
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn closing_interrupts_a_synchronous_write() {
        crate::run(async {
            let (s, r) = sync_pipe();
            let s = &s;
            let big = vec![b'x'; 1 << 20]; // more than the pipe holds
            let pipe = crate::open_nursery(async |n| {
                n.start_soon(async {
                    let e = s.send_all(&big).await.unwrap_err();
                    assert_eq!(e.kind(), ErrorKind::ClosedResource);
                    Ok(())
                })?;
                wait_all_tasks_blocked().await?;
                let pipe = until_blocked(&s.core).await?;
                s.close();
                Ok(pipe)
            })
            .await?
            .unwrap();
            until_thread_ended(pipe).await?;
            // The write end is closed: what was written, then the end.
            let mut buf = vec![0u8; 1 << 16];
            while r.receive_some(&mut buf).await? > 0 {}
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn a_zero_byte_write_is_not_the_end() -> Result<()> {
        crate::run(async {
            let (s, r) = super::pipe()?;
            let w = s.core.pipe()?;
            let io = crate::sys::handle::BlockingIo::new(w.handle.as_handle())?;
            crate::open_nursery(async |n| {
                n.start_soon(async {
                    let mut buf = [0u8; 4];
                    let n = r.receive_some(&mut buf).await?;
                    assert_eq!(&buf[..n], b"ok");
                    Ok(())
                })?;
                wait_all_tasks_blocked().await?;
                until_blocked(&r.core).await?;
                // A zero-byte write, as some programs make: the reader must not
                // take its zero-byte completion for the end of the stream.
                assert_eq!(io.write(w.handle.as_handle(), &[])?, 0);
                s.send_all(b"ok").await
            })
            .await?;
            Ok(())
        })
    }
}
