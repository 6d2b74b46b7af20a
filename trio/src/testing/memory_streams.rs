//! In-memory streams for tests (Trio's `trio.testing` memory streams): byte streams
//! with no operating system underneath, whose every moving part you can reach.
//!
//! # What they are for
//!
//! Protocol code — a TLS layer, an HTTP client, a framing codec — is written
//! against the [`abc`](crate::abc) stream traits. To test it you want a peer that is
//! fast, deterministic and *adjustable*: one where you can see exactly what was
//! sent, inject bytes, delay delivery, trickle data one byte at a time, or stall a
//! direction altogether. Sockets give none of that. [`memory_stream_pair`] gives a
//! connected two-way pair with unlimited buffering that behaves like a socket pair;
//! [`lockstep_stream_pair`](super::lockstep_stream_pair) gives one with *no*
//! buffering at all, the extreme case for flow-control bugs.
//!
//! # Why they are shaped this way
//!
//! A memory pair is not one opaque object but three public pieces, as in Trio: a
//! [`MemorySendStream`] with an outgoing buffer, a [`MemoryReceiveStream`] with an
//! incoming buffer, and [`memory_stream_pump`], which moves bytes from the first to
//! the second. [`memory_stream_one_way_pair`] wires them with *hooks*: the send
//! stream's `send_all` hook and close hook run the pump, so data flows at once.
//! Replace a hook and the wire behaves differently — that is the whole
//! configuration story, with no options struct to outgrow.
//!
//! * **Handles are shared.** Cloning a memory stream gives another handle to the
//!   same stream (as a second Python reference would). A hook on one stream must
//!   reach another stream — the pump on the send side needs the receive side — and
//!   a cloned handle is how it gets there without borrowing.
//! * **Hooks are values in slots.** Each hook lives in a [`HookSlot`] you can
//!   [`set`](HookSlot::set), [`take`](HookSlot::take) and
//!   [`replace`](HookSlot::replace) at any time, so a test can stall a direction
//!   (take the pump hook), let it flow again (put it back), or wrap it. Async hooks
//!   are `async` closures; every hook is passed the stream it is installed on, so a
//!   hook that works on its own stream needs no handle to it (and makes no
//!   reference cycle).
//! * **Misuse is detected, not prevented.** Every method takes `&self` (see
//!   [`abc`](crate::abc)), so two tasks *can* call `send_all` at once; the second
//!   gets [`ErrorKind::BusyResource`] (Trio's `ConflictDetector`). `send_all` and
//!   `receive_some` pass two checkpoints while holding the detector, to give a
//!   racing task more chances to be caught.
//! * **Waiting is trio's waiting.** Blocked reads park in a
//!   [`ParkingLot`](crate::lowlevel::ParkingLot), so they are cancellable and
//!   checkpoints like everything else; a cancelled `receive_some` or `get_data`
//!   consumed nothing.
//!
//! Three small departures from Trio: writing zero bytes does not wake a blocked
//! reader (Trio's would trip an internal assertion); a `receive_some` with an
//! empty buffer is an [`InvalidInput`](ErrorKind::InvalidInput) error at once, before any
//! checkpoint (the `max_bytes < 1` `ValueError` of Trio); and `send_eof` on an end
//! of a [`memory_stream_pair`] is refused with `BusyResource` while a send is
//! running, and does nothing if cancelled (Trio falls back to a bare `aclose`),
//! as the [`HalfCloseableStream`](crate::abc::HalfCloseableStream) contract asks.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use crate::abc::{AsyncResource, ReceiveStream, SendStream};
use crate::conflict::ConflictDetector;
use crate::error::{Error, ErrorKind, Result};
use crate::lowlevel::{ParkingLot, checkpoint};
use crate::stapled::StapledStream;

// ---------------------------------------------------------------------------
// Conflict detection
// ---------------------------------------------------------------------------

pub(crate) fn closed_error() -> Error {
    Error::new(ErrorKind::ClosedResource, "this stream was closed")
}

pub(crate) fn empty_buffer_error() -> Error {
    Error::new(
        ErrorKind::InvalidInput,
        "receive_some needs a buffer of at least one byte",
    )
}

// ---------------------------------------------------------------------------
// The unbounded byte queue
// ---------------------------------------------------------------------------

/// Trio's `_UnboundedByteQueue`: a buffer with one reader at a time. `close` acts
/// like closing the send side of a channel: later `put`s fail, and reads drain what
/// is left and then return nothing (end of stream).
///
/// Invariant: `lot` holds at most one task (the reader, guarded by `fetch`), and it
/// is parked only while `data` is empty and `closed` is false.
struct ByteQueue {
    data: RefCell<VecDeque<u8>>,
    closed: Cell<bool>,
    lot: ParkingLot,
    fetch: ConflictDetector,
}

impl ByteQueue {
    fn new() -> ByteQueue {
        ByteQueue {
            data: RefCell::new(VecDeque::new()),
            closed: Cell::new(false),
            lot: ParkingLot::new(),
            fetch: ConflictDetector::new("another task is already fetching data"),
        }
    }

    fn close(&self) {
        self.closed.set(true);
        self.lot.unpark_all();
    }

    fn close_and_wipe(&self) {
        self.data.borrow_mut().clear();
        self.close();
    }

    fn put(&self, data: &[u8]) -> Result<()> {
        if self.closed.get() {
            return Err(Error::new(
                ErrorKind::ClosedResource,
                "virtual connection closed",
            ));
        }
        if !data.is_empty() {
            self.data.borrow_mut().extend(data);
            self.lot.unpark_all();
        }
        Ok(())
    }

    fn len(&self) -> usize {
        self.data.borrow().len()
    }

    fn ready(&self) -> bool {
        self.closed.get() || !self.data.borrow().is_empty()
    }

    fn check_max_bytes(max_bytes: Option<usize>) -> Result<usize> {
        match max_bytes {
            None => Ok(usize::MAX),
            Some(0) => Err(Error::new(
                ErrorKind::InvalidInput,
                "max_bytes must be >= 1",
            )),
            Some(n) => Ok(n),
        }
    }

    /// Takes up to `max` bytes (empty at end of stream).
    fn take(&self, max: usize) -> Vec<u8> {
        let mut data = self.data.borrow_mut();
        let n = max.min(data.len());
        data.drain(..n).collect()
    }

    fn take_into(&self, buf: &mut [u8]) -> usize {
        let mut data = self.data.borrow_mut();
        let n = buf.len().min(data.len());
        for (dst, src) in buf.iter_mut().zip(data.drain(..n)) {
            *dst = src;
        }
        n
    }

    /// Waits until there is data or the queue is closed: parks if it must, and
    /// otherwise passes one full checkpoint, so it is always a checkpoint.
    async fn wait_ready(&self) -> Result<()> {
        if self.ready() {
            return checkpoint().await;
        }
        while !self.ready() {
            self.lot.park().await?;
        }
        Ok(())
    }

    fn get_nowait(&self, max_bytes: Option<usize>) -> Result<Vec<u8>> {
        let _busy = self.fetch.enter()?;
        let max = Self::check_max_bytes(max_bytes)?;
        if !self.ready() {
            return Err(Error::new(ErrorKind::WouldBlock, "no data to retrieve"));
        }
        Ok(self.take(max))
    }

    async fn get(&self, max_bytes: Option<usize>) -> Result<Vec<u8>> {
        let _busy = self.fetch.enter()?;
        let max = Self::check_max_bytes(max_bytes)?;
        self.wait_ready().await?;
        Ok(self.take(max))
    }

    async fn get_into(&self, buf: &mut [u8]) -> Result<usize> {
        let _busy = self.fetch.enter()?;
        self.wait_ready().await?;
        Ok(self.take_into(buf))
    }
}

// ---------------------------------------------------------------------------
// Hooks
// ---------------------------------------------------------------------------

type HookFuture<'a> = Pin<Box<dyn Future<Output = Result<()>> + 'a>>;

/// Makes the compiler give a closure the higher-ranked signature the hook needs.
fn hook_fn<T, F>(f: F) -> F
where
    F: for<'a> Fn(&'a T) -> HookFuture<'a>,
{
    f
}

/// An async hook: an `async` closure called with the stream it is installed on
/// (Trio's `send_all_hook`, `wait_send_all_might_not_block_hook` and
/// `receive_some_hook`). Cheap to clone; clones are the same hook.
///
/// # Examples
///
/// ```
/// use trio::testing::{AsyncHook, MemorySendStream};
/// # trio::run(async {
/// let hook = AsyncHook::new(async |s: &MemorySendStream| {
///     assert_eq!(s.get_data_nowait(None)?, b"seen by the hook");
///     Ok(())
/// });
/// let s = MemorySendStream::new();
/// s.send_all_hook().replace(Some(hook.clone()));
/// trio::abc::SendStream::send_all(&s, b"seen by the hook").await?;
/// assert!(s.send_all_hook().get().unwrap().ptr_eq(&hook));
/// # Ok(()) }).unwrap();
/// ```
pub struct AsyncHook<T> {
    f: Rc<dyn for<'a> Fn(&'a T) -> HookFuture<'a>>,
}

impl<T> Clone for AsyncHook<T> {
    fn clone(&self) -> Self {
        AsyncHook { f: self.f.clone() }
    }
}

impl<T> fmt::Debug for AsyncHook<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AsyncHook({:p})", Rc::as_ptr(&self.f) as *const ())
    }
}

impl<T: 'static> AsyncHook<T> {
    /// Wraps an `async` closure as a hook.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::testing::{AsyncHook, MemoryReceiveStream};
    /// let hook = AsyncHook::new(async |r: &MemoryReceiveStream| r.put_data(b"more"));
    /// # let _ = hook;
    /// ```
    pub fn new<F>(f: F) -> AsyncHook<T>
    where
        F: AsyncFn(&T) -> Result<()> + 'static,
    {
        let f = Rc::new(f);
        AsyncHook {
            f: Rc::new(hook_fn(move |target: &T| -> HookFuture<'_> {
                let f = f.clone();
                Box::pin(async move { f(target).await })
            })),
        }
    }

    /// Runs the hook on `target` (for a test that wraps another hook).
    ///
    /// # Errors
    ///
    /// Whatever the hook returns.
    ///
    /// # Cancellation
    ///
    /// As the hook's.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    /// use trio::testing::{AsyncHook, MemorySendStream};
    /// # trio::run(async {
    /// let calls = Rc::new(Cell::new(0));
    /// let c = calls.clone();
    /// let hook = AsyncHook::new(async move |_: &MemorySendStream| {
    ///     c.set(c.get() + 1);
    ///     Ok(())
    /// });
    /// hook.call(&MemorySendStream::new()).await?;
    /// assert_eq!(calls.get(), 1);
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn call<'a>(&self, target: &'a T) -> impl Future<Output = Result<()>> + use<'a, T> {
        (self.f)(target)
    }

    /// True if both are clones of the same hook (Python's `is`).
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::testing::{AsyncHook, MemorySendStream};
    /// let a = AsyncHook::new(async |_: &MemorySendStream| Ok(()));
    /// let b = AsyncHook::new(async |_: &MemorySendStream| Ok(()));
    /// assert!(a.ptr_eq(&a.clone()));
    /// assert!(!a.ptr_eq(&b));
    /// ```
    pub fn ptr_eq(&self, other: &AsyncHook<T>) -> bool {
        Rc::ptr_eq(&self.f, &other.f)
    }
}

/// A synchronous hook: a closure called with the stream it is installed on (Trio's
/// `close_hook`). Cheap to clone; clones are the same hook.
///
/// # Examples
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
/// use trio::testing::{MemoryReceiveStream, SyncHook};
/// let closed = Rc::new(Cell::new(false));
/// let c = closed.clone();
/// let r = MemoryReceiveStream::new();
/// r.close_hook().replace(Some(SyncHook::new(move |_: &MemoryReceiveStream| c.set(true))));
/// r.close();
/// assert!(closed.get());
/// ```
pub struct SyncHook<T> {
    f: Rc<dyn Fn(&T)>,
}

impl<T> Clone for SyncHook<T> {
    fn clone(&self) -> Self {
        SyncHook { f: self.f.clone() }
    }
}

impl<T> fmt::Debug for SyncHook<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SyncHook({:p})", Rc::as_ptr(&self.f) as *const ())
    }
}

impl<T: 'static> SyncHook<T> {
    /// Wraps a closure as a hook.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::testing::{MemorySendStream, SyncHook};
    /// let hook = SyncHook::new(|s: &MemorySendStream| println!("closing {s:?}"));
    /// # let _ = hook;
    /// ```
    pub fn new<F>(f: F) -> SyncHook<T>
    where
        F: Fn(&T) + 'static,
    {
        SyncHook { f: Rc::new(f) }
    }

    /// Runs the hook on `target`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    /// use trio::testing::{MemorySendStream, SyncHook};
    /// let hook = SyncHook::new(|s: &MemorySendStream| s.close());
    /// let s = MemorySendStream::new();
    /// hook.call(&s);
    /// assert_eq!(s.get_data_nowait(None).unwrap(), b""); // closed: end of stream
    /// ```
    pub fn call(&self, target: &T) {
        (self.f)(target)
    }

    /// True if both are clones of the same hook (Python's `is`).
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::testing::{MemorySendStream, SyncHook};
    /// let a = SyncHook::new(|_: &MemorySendStream| {});
    /// assert!(a.ptr_eq(&a.clone()));
    /// assert!(!a.ptr_eq(&SyncHook::new(|_: &MemorySendStream| {})));
    /// ```
    pub fn ptr_eq(&self, other: &SyncHook<T>) -> bool {
        Rc::ptr_eq(&self.f, &other.f)
    }
}

/// Where a stream keeps one hook: empty, or holding an [`AsyncHook`] or
/// [`SyncHook`]. You can change it at any time, also while the stream is in use;
/// an operation that already started runs the hook it found.
///
/// # Examples
///
/// Stall a one-way pair, then let it flow again (Trio's
/// `test_memory_stream_one_way_pair`):
///
/// ```
/// use trio::abc::{ReceiveStream, SendStream};
/// # trio::run(async {
/// let (s, r) = trio::testing::memory_stream_one_way_pair();
/// let pump = s.send_all_hook().take(); // nothing moves the bytes now
/// s.send_all(b"456").await?;
/// assert!(r.receive_some_hook().get().is_none());
/// s.send_all_hook().replace(pump);     // and now it does again
/// s.send_all(b"789").await?;
/// let mut buf = [0u8; 10];
/// let n = r.receive_some(&mut buf).await?;
/// assert_eq!(&buf[..n], b"456789");
/// # Ok(()) }).unwrap();
/// ```
pub struct HookSlot<H> {
    hook: RefCell<Option<H>>,
}

impl<H> Default for HookSlot<H> {
    fn default() -> Self {
        HookSlot {
            hook: RefCell::new(None),
        }
    }
}

impl<H> fmt::Debug for HookSlot<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HookSlot")
            .field("is_set", &self.hook.borrow().is_some())
            .finish()
    }
}

impl<H: Clone> HookSlot<H> {
    /// The hook in the slot, if any (a clone: the same hook).
    ///
    /// # Examples
    ///
    /// ```
    /// let (s, r) = trio::testing::memory_stream_one_way_pair();
    /// assert!(s.send_all_hook().get().is_some()); // the pump
    /// assert!(r.receive_some_hook().get().is_none());
    /// ```
    pub fn get(&self) -> Option<H> {
        self.hook.borrow().clone()
    }

    /// True if the slot holds a hook.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = trio::testing::MemorySendStream::new();
    /// assert!(!s.close_hook().is_set());
    /// s.close_hook().set(|_| {});
    /// assert!(s.close_hook().is_set());
    /// ```
    pub fn is_set(&self) -> bool {
        self.hook.borrow().is_some()
    }

    /// Empties the slot, returning the hook it held.
    ///
    /// # Examples
    ///
    /// ```
    /// let (s, _r) = trio::testing::memory_stream_one_way_pair();
    /// let pump = s.send_all_hook().take();
    /// assert!(pump.is_some());
    /// assert!(!s.send_all_hook().is_set());
    /// ```
    pub fn take(&self) -> Option<H> {
        self.hook.borrow_mut().take()
    }

    /// Puts `hook` in the slot (or empties it, with `None`), returning the hook it
    /// held before.
    ///
    /// # Examples
    ///
    /// ```
    /// let (s, _r) = trio::testing::memory_stream_one_way_pair();
    /// let pump = s.send_all_hook().replace(None);
    /// assert!(!s.send_all_hook().is_set());
    /// assert!(s.send_all_hook().replace(pump).is_none());
    /// assert!(s.send_all_hook().is_set());
    /// ```
    pub fn replace(&self, hook: Option<H>) -> Option<H> {
        std::mem::replace(&mut *self.hook.borrow_mut(), hook)
    }
}

impl<T: 'static> HookSlot<AsyncHook<T>> {
    /// Installs an `async` closure as the hook, replacing any other.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::abc::ReceiveStream;
    /// # trio::run(async {
    /// let r = trio::testing::MemoryReceiveStream::new();
    /// // Every receive first adds some bytes of its own.
    /// r.receive_some_hook().set(async |r| r.put_data(b"xxx"));
    /// r.put_data(b"yyy")?;
    /// let mut buf = [0u8; 10];
    /// let n = r.receive_some(&mut buf).await?;
    /// assert_eq!(&buf[..n], b"yyyxxx");
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn set<F>(&self, hook: F)
    where
        F: AsyncFn(&T) -> Result<()> + 'static,
    {
        self.replace(Some(AsyncHook::new(hook)));
    }
}

impl<T: 'static> HookSlot<SyncHook<T>> {
    /// Installs a closure as the hook, replacing any other.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    /// let count = Rc::new(Cell::new(0));
    /// let c = count.clone();
    /// let s = trio::testing::MemorySendStream::new();
    /// s.close_hook().set(move |_| c.set(c.get() + 1));
    /// s.close();
    /// s.close();
    /// assert_eq!(count.get(), 2); // the hook runs on every close
    /// ```
    pub fn set<F>(&self, hook: F)
    where
        F: Fn(&T) + 'static,
    {
        self.replace(Some(SyncHook::new(hook)));
    }
}

// ---------------------------------------------------------------------------
// MemorySendStream
// ---------------------------------------------------------------------------

struct SendInner {
    conflict: ConflictDetector,
    outgoing: ByteQueue,
    send_all_hook: HookSlot<AsyncHook<MemorySendStream>>,
    wait_send_all_might_not_block_hook: HookSlot<AsyncHook<MemorySendStream>>,
    close_hook: HookSlot<SyncHook<MemorySendStream>>,
}

/// An in-memory [`SendStream`] (Trio's `MemorySendStream`): `send_all` appends to
/// an internal buffer, which a test reads with [`get_data`](Self::get_data), then
/// calls the [`send_all_hook`](Self::send_all_hook).
///
/// Cloning gives another handle to the same stream.
///
/// # Examples
///
/// ```
/// use trio::abc::{AsyncResource, SendStream};
/// use trio::testing::MemorySendStream;
/// # trio::run(async {
/// let s = MemorySendStream::new();
/// s.send_all(b"123").await?;
/// assert_eq!(s.get_data_nowait(1)?, b"1");
/// assert_eq!(s.get_data(None).await?, b"23");
/// s.aclose().await?;
/// assert_eq!(s.get_data(None).await?, b""); // closed: end of stream
/// # Ok(()) }).unwrap();
/// ```
#[derive(Clone)]
pub struct MemorySendStream {
    inner: Rc<SendInner>,
}

impl Default for MemorySendStream {
    fn default() -> Self {
        MemorySendStream::new()
    }
}

impl fmt::Debug for MemorySendStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        f.debug_struct("MemorySendStream")
            .field("buffered", &i.outgoing.len())
            .field("closed", &i.outgoing.closed.get())
            .field("send_all_hook", &i.send_all_hook.is_set())
            .field(
                "wait_send_all_might_not_block_hook",
                &i.wait_send_all_might_not_block_hook.is_set(),
            )
            .field("close_hook", &i.close_hook.is_set())
            .finish()
    }
}

impl MemorySendStream {
    /// A new, open stream with an empty buffer and no hooks.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = trio::testing::MemorySendStream::new();
    /// assert!(!s.send_all_hook().is_set());
    /// assert!(!s.wait_send_all_might_not_block_hook().is_set());
    /// assert!(!s.close_hook().is_set());
    /// ```
    pub fn new() -> MemorySendStream {
        MemorySendStream {
            inner: Rc::new(SendInner {
                conflict: ConflictDetector::new("another task is using this stream"),
                outgoing: ByteQueue::new(),
                send_all_hook: HookSlot::default(),
                wait_send_all_might_not_block_hook: HookSlot::default(),
                close_hook: HookSlot::default(),
            }),
        }
    }

    /// The hook [`send_all`](SendStream::send_all) calls after buffering the data.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::abc::SendStream;
    /// # trio::run(async {
    /// let s = trio::testing::MemorySendStream::new();
    /// // The hook runs after the data is in the buffer, so it can pull it out.
    /// s.send_all_hook().set(async |s| {
    ///     assert_eq!(s.get_data_nowait(None)?, b"abc");
    ///     Ok(())
    /// });
    /// s.send_all(b"abc").await?;
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn send_all_hook(&self) -> &HookSlot<AsyncHook<MemorySendStream>> {
        &self.inner.send_all_hook
    }

    /// The hook [`wait_send_all_might_not_block`](SendStream::wait_send_all_might_not_block)
    /// calls (by default there is none, and it returns at once).
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::abc::SendStream;
    /// # trio::run(async {
    /// let s = trio::testing::MemorySendStream::new();
    /// let gate = std::rc::Rc::new(trio::sync::Event::new());
    /// let g = gate.clone();
    /// s.wait_send_all_might_not_block_hook().set(async move |_| g.wait().await);
    /// gate.set();
    /// s.wait_send_all_might_not_block().await?;
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn wait_send_all_might_not_block_hook(&self) -> &HookSlot<AsyncHook<MemorySendStream>> {
        &self.inner.wait_send_all_might_not_block_hook
    }

    /// The hook [`close`](Self::close) and [`aclose`](AsyncResource::aclose) call
    /// after closing — on every call, also repeated ones.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    /// let closed = Rc::new(Cell::new(false));
    /// let c = closed.clone();
    /// let s = trio::testing::MemorySendStream::new();
    /// s.close_hook().set(move |_| c.set(true));
    /// s.close();
    /// assert!(closed.get());
    /// ```
    pub fn close_hook(&self) -> &HookSlot<SyncHook<MemorySendStream>> {
        &self.inner.close_hook
    }

    /// Closes the stream at once (the synchronous form of
    /// [`aclose`](AsyncResource::aclose)), then calls the close hook. Later sends
    /// fail with [`ClosedResource`](ErrorKind::ClosedResource); the buffer can still
    /// be drained, and then reads as end of stream.
    ///
    /// Closing does not interrupt a `send_all` or `wait_send_all_might_not_block`
    /// blocked in a hook (as in Trio; the default hooks never block).
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::abc::SendStream;
    /// # trio::run(async {
    /// let s = trio::testing::MemorySendStream::new();
    /// s.send_all(b"x").await?;
    /// s.close();
    /// assert_eq!(s.send_all(b"y").await.unwrap_err().kind(), trio::ErrorKind::ClosedResource);
    /// assert_eq!(s.get_data_nowait(None)?, b"x");
    /// assert_eq!(s.get_data_nowait(None)?, b"");
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn close(&self) {
        self.inner.outgoing.close();
        if let Some(hook) = self.inner.close_hook.get() {
            hook.call(self);
        }
    }

    /// Takes data out of the buffer, waiting until at least one byte is there: at
    /// most `max_bytes` bytes, or everything buffered with `None`. Returns an empty
    /// vector once the stream is closed and drained.
    ///
    /// # Errors
    ///
    /// [`InvalidInput`](ErrorKind::InvalidInput) if `max_bytes` is `Some(0)`;
    /// [`BusyResource`](ErrorKind::BusyResource) if another task is getting data.
    ///
    /// # Cancellation
    ///
    /// A checkpoint; a cancelled `get_data` took nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::abc::SendStream;
    /// # trio::run(async {
    /// let s = trio::testing::MemorySendStream::new();
    /// let s = &s;
    /// trio::open_nursery(async |n| {
    ///     n.start_soon(async move {
    ///         assert_eq!(s.get_data(None).await?, b"late");
    ///         Ok(())
    ///     })?;
    ///     trio::testing::wait_all_tasks_blocked().await?; // the reader is waiting
    ///     s.send_all(b"late").await
    /// }).await?;
    /// # Ok(()) }).unwrap();
    /// ```
    pub async fn get_data(&self, max_bytes: impl Into<Option<usize>>) -> Result<Vec<u8>> {
        self.inner.outgoing.get(max_bytes.into()).await
    }

    /// Takes data out of the buffer without waiting; see [`get_data`](Self::get_data).
    ///
    /// # Errors
    ///
    /// [`WouldBlock`](ErrorKind::WouldBlock) if the buffer is empty and the stream
    /// open; [`InvalidInput`](ErrorKind::InvalidInput) if `max_bytes` is `Some(0)`;
    /// [`BusyResource`](ErrorKind::BusyResource) if another task is getting data.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = trio::testing::MemorySendStream::new();
    /// assert_eq!(s.get_data_nowait(None).unwrap_err().kind(), trio::ErrorKind::WouldBlock);
    /// ```
    pub fn get_data_nowait(&self, max_bytes: impl Into<Option<usize>>) -> Result<Vec<u8>> {
        self.inner.outgoing.get_nowait(max_bytes.into())
    }
}

impl AsyncResource for MemorySendStream {
    /// [`close`](MemorySendStream::close), then a checkpoint.
    ///
    /// # Errors
    ///
    /// `Cancelled` if cancelled — the stream is closed all the same.
    ///
    /// # Cancellation
    ///
    /// A checkpoint, after closing.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::abc::AsyncResource;
    /// # trio::run(async {
    /// let s = trio::testing::MemorySendStream::new();
    /// s.aclose().await?;
    /// s.aclose().await?;
    /// assert_eq!(s.get_data(None).await?, b"");
    /// # Ok(()) }).unwrap();
    /// ```
    async fn aclose(&self) -> Result<()> {
        self.close();
        checkpoint().await
    }
}

impl SendStream for MemorySendStream {
    /// Appends `data` to the buffer, then calls the send-all hook, if any.
    ///
    /// # Errors
    ///
    /// [`BusyResource`](ErrorKind::BusyResource) if another task is in `send_all`
    /// or `wait_send_all_might_not_block`; [`ClosedResource`](ErrorKind::ClosedResource)
    /// after `close`; whatever the hook returns.
    ///
    /// # Cancellation
    ///
    /// Two checkpoints before anything is buffered: if cancelled there, nothing
    /// was sent. A hook may be cancelled after the data was buffered.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::abc::SendStream;
    /// # trio::run(async {
    /// let s = trio::testing::MemorySendStream::new();
    /// s.send_all(b"").await?; // sending nothing is fine, and means nothing
    /// s.send_all(b"abc").await?;
    /// assert_eq!(s.get_data_nowait(None)?, b"abc");
    /// # Ok(()) }).unwrap();
    /// ```
    async fn send_all(&self, data: &[u8]) -> Result<()> {
        let _busy = self.inner.conflict.enter()?;
        checkpoint().await?;
        checkpoint().await?;
        self.inner.outgoing.put(data)?;
        if let Some(hook) = self.inner.send_all_hook.get() {
            hook.call(self).await?;
        }
        Ok(())
    }

    /// Checks the stream is open, then calls the wait hook, if any, and returns.
    ///
    /// # Errors
    ///
    /// As [`send_all`](SendStream::send_all).
    ///
    /// # Cancellation
    ///
    /// Two checkpoints before the hook.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::abc::SendStream;
    /// # trio::run(async {
    /// let s = trio::testing::MemorySendStream::new();
    /// s.wait_send_all_might_not_block().await?;
    /// s.close();
    /// let e = s.wait_send_all_might_not_block().await.unwrap_err();
    /// assert_eq!(e.kind(), trio::ErrorKind::ClosedResource);
    /// # Ok(()) }).unwrap();
    /// ```
    async fn wait_send_all_might_not_block(&self) -> Result<()> {
        let _busy = self.inner.conflict.enter()?;
        checkpoint().await?;
        checkpoint().await?;
        self.inner.outgoing.put(b"")?; // fails if closed
        if let Some(hook) = self.inner.wait_send_all_might_not_block_hook.get() {
            hook.call(self).await?;
        }
        Ok(())
    }
}

impl crate::abc::EndSend for MemorySendStream {
    /// Ends the direction by closing this end, as Trio's `StapledStream.send_eof`
    /// does for a send stream without `send_eof` — except that it is refused
    /// with [`BusyResource`](crate::ErrorKind::BusyResource) while a `send_all`
    /// or `wait_send_all_might_not_block` is running, and a cancelled call
    /// closed nothing. Calling it again is fine.
    ///
    /// # Errors
    ///
    /// [`BusyResource`](crate::ErrorKind::BusyResource), as above.
    ///
    /// # Cancellation
    ///
    /// A checkpoint, before closing.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::abc::{HalfCloseableStream, ReceiveStream, SendStream};
    /// # trio::run(async {
    /// let (a, b) = trio::testing::memory_stream_pair(); // send halves: MemorySendStream
    /// a.send_all(b"last words").await?;
    /// a.send_eof().await?; // ends a's send half
    /// let mut buf = [0u8; 32];
    /// assert_eq!(b.receive_some(&mut buf).await?, 10);
    /// assert_eq!(b.receive_some(&mut buf).await?, 0);
    /// // The other direction still works.
    /// b.send_all(b"ok").await?;
    /// assert_eq!(a.receive_some(&mut buf).await?, 2);
    /// # Ok(()) }).unwrap();
    /// ```
    async fn end_send(&self) -> Result<()> {
        let _busy = self.inner.conflict.enter()?;
        checkpoint().await?;
        self.close();
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// MemoryReceiveStream
// ---------------------------------------------------------------------------

struct ReceiveInner {
    conflict: ConflictDetector,
    incoming: ByteQueue,
    /// Whether *we* were closed (`incoming.closed` only says an EOF arrived).
    closed: Cell<bool>,
    receive_some_hook: HookSlot<AsyncHook<MemoryReceiveStream>>,
    close_hook: HookSlot<SyncHook<MemoryReceiveStream>>,
}

/// An in-memory [`ReceiveStream`] (Trio's `MemoryReceiveStream`): a test feeds it
/// with [`put_data`](Self::put_data) and [`put_eof`](Self::put_eof), and
/// `receive_some` calls the [`receive_some_hook`](Self::receive_some_hook) and then
/// reads the internal buffer.
///
/// Cloning gives another handle to the same stream.
///
/// # Examples
///
/// ```
/// use trio::abc::ReceiveStream;
/// use trio::testing::MemoryReceiveStream;
/// # trio::run(async {
/// let r = MemoryReceiveStream::new();
/// r.put_data(b"abc")?;
/// r.put_eof();
/// let mut buf = [0u8; 2];
/// assert_eq!(r.receive_some(&mut buf).await?, 2);
/// assert_eq!(r.receive_some(&mut buf).await?, 1);
/// assert_eq!(r.receive_some(&mut buf).await?, 0); // end of stream
/// # Ok(()) }).unwrap();
/// ```
#[derive(Clone)]
pub struct MemoryReceiveStream {
    inner: Rc<ReceiveInner>,
}

impl Default for MemoryReceiveStream {
    fn default() -> Self {
        MemoryReceiveStream::new()
    }
}

impl fmt::Debug for MemoryReceiveStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        f.debug_struct("MemoryReceiveStream")
            .field("buffered", &i.incoming.len())
            .field("eof", &i.incoming.closed.get())
            .field("closed", &i.closed.get())
            .field("receive_some_hook", &i.receive_some_hook.is_set())
            .field("close_hook", &i.close_hook.is_set())
            .finish()
    }
}

impl MemoryReceiveStream {
    /// A new, open stream with an empty buffer and no hooks.
    ///
    /// # Examples
    ///
    /// ```
    /// let r = trio::testing::MemoryReceiveStream::new();
    /// assert!(!r.receive_some_hook().is_set());
    /// assert!(!r.close_hook().is_set());
    /// ```
    pub fn new() -> MemoryReceiveStream {
        MemoryReceiveStream {
            inner: Rc::new(ReceiveInner {
                conflict: ConflictDetector::new("another task is using this stream"),
                incoming: ByteQueue::new(),
                closed: Cell::new(false),
                receive_some_hook: HookSlot::default(),
                close_hook: HookSlot::default(),
            }),
        }
    }

    /// The hook [`receive_some`](ReceiveStream::receive_some) calls before reading
    /// the buffer.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::abc::ReceiveStream;
    /// # trio::run(async {
    /// let r = trio::testing::MemoryReceiveStream::new();
    /// r.receive_some_hook().set(async |r| r.put_data(b"fresh"));
    /// let mut buf = [0u8; 8];
    /// let n = r.receive_some(&mut buf).await?;
    /// assert_eq!(&buf[..n], b"fresh");
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn receive_some_hook(&self) -> &HookSlot<AsyncHook<MemoryReceiveStream>> {
        &self.inner.receive_some_hook
    }

    /// The hook [`close`](Self::close) and [`aclose`](AsyncResource::aclose) call
    /// after closing — on every call.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    /// let closed = Rc::new(Cell::new(0));
    /// let c = closed.clone();
    /// let r = trio::testing::MemoryReceiveStream::new();
    /// r.close_hook().set(move |_| c.set(c.get() + 1));
    /// r.close();
    /// assert_eq!(closed.get(), 1);
    /// ```
    pub fn close_hook(&self) -> &HookSlot<SyncHook<MemoryReceiveStream>> {
        &self.inner.close_hook
    }

    /// Closes the stream at once (the synchronous form of
    /// [`aclose`](AsyncResource::aclose)): pending data is discarded, later
    /// receives and a `receive_some` blocked in another task fail with
    /// [`ClosedResource`](ErrorKind::ClosedResource), later
    /// [`put_data`](Self::put_data) fails too. Then calls the close hook.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::abc::ReceiveStream;
    /// # trio::run(async {
    /// let r = trio::testing::MemoryReceiveStream::new();
    /// r.put_data(b"lost on close")?;
    /// r.close();
    /// let mut buf = [0u8; 16];
    /// let e = r.receive_some(&mut buf).await.unwrap_err();
    /// assert_eq!(e.kind(), trio::ErrorKind::ClosedResource);
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn close(&self) {
        self.inner.closed.set(true);
        self.inner.incoming.close_and_wipe();
        if let Some(hook) = self.inner.close_hook.get() {
            hook.call(self);
        }
    }

    /// Appends `data` to the buffer, waking a blocked `receive_some`.
    ///
    /// # Errors
    ///
    /// [`ClosedResource`](ErrorKind::ClosedResource) after
    /// [`put_eof`](Self::put_eof) or [`close`](Self::close).
    ///
    /// # Examples
    ///
    /// ```
    /// let r = trio::testing::MemoryReceiveStream::new();
    /// r.put_data(b"123")?;
    /// r.put_eof();
    /// assert_eq!(r.put_data(b"---").unwrap_err().kind(), trio::ErrorKind::ClosedResource);
    /// # Ok::<(), trio::Error>(())
    /// ```
    pub fn put_data(&self, data: &[u8]) -> Result<()> {
        self.inner.incoming.put(data)
    }

    /// Marks the end of the data: once the buffer is drained, `receive_some`
    /// returns `Ok(0)`. Idempotent.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::abc::ReceiveStream;
    /// # trio::run(async {
    /// let r = trio::testing::MemoryReceiveStream::new();
    /// r.put_eof();
    /// r.put_eof();
    /// assert_eq!(r.receive_some(&mut [0u8; 4]).await?, 0);
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn put_eof(&self) {
        self.inner.incoming.close();
    }
}

impl AsyncResource for MemoryReceiveStream {
    /// [`close`](MemoryReceiveStream::close), then a checkpoint.
    ///
    /// # Errors
    ///
    /// `Cancelled` if cancelled — the stream is closed all the same.
    ///
    /// # Cancellation
    ///
    /// A checkpoint, after closing.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::abc::AsyncResource;
    /// # trio::run(async {
    /// let r = trio::testing::MemoryReceiveStream::new();
    /// r.aclose().await?;
    /// assert!(r.put_data(b"x").is_err());
    /// # Ok(()) }).unwrap();
    /// ```
    async fn aclose(&self) -> Result<()> {
        self.close();
        checkpoint().await
    }
}

impl ReceiveStream for MemoryReceiveStream {
    /// Calls the receive hook, if any, then waits for data and copies up to
    /// `buf.len()` bytes of it into `buf`; `Ok(0)` after [`put_eof`](MemoryReceiveStream::put_eof)
    /// once the buffer is drained.
    ///
    /// # Errors
    ///
    /// [`InvalidInput`](ErrorKind::InvalidInput) if `buf` is empty (at once);
    /// [`BusyResource`](ErrorKind::BusyResource) if another task is receiving;
    /// [`ClosedResource`](ErrorKind::ClosedResource) if the stream is (or, while
    /// waiting, becomes) closed; whatever the hook returns.
    ///
    /// # Cancellation
    ///
    /// A checkpoint (two, then the wait); a cancelled `receive_some` consumed
    /// nothing from the buffer (a hook may have had its effects).
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::abc::ReceiveStream;
    /// # trio::run(async {
    /// let r = trio::testing::MemoryReceiveStream::new();
    /// r.put_data(b"abc")?;
    /// let mut one = [0u8; 1];
    /// assert_eq!(r.receive_some(&mut one).await?, 1);
    /// assert_eq!(&one, b"a");
    /// let e = r.receive_some(&mut []).await.unwrap_err();
    /// assert_eq!(e.kind(), trio::ErrorKind::InvalidInput);
    /// # Ok(()) }).unwrap();
    /// ```
    async fn receive_some(&self, buf: &mut [u8]) -> Result<usize> {
        if buf.is_empty() {
            return Err(empty_buffer_error());
        }
        let _busy = self.inner.conflict.enter()?;
        checkpoint().await?;
        checkpoint().await?;
        if self.inner.closed.get() {
            return Err(closed_error());
        }
        if let Some(hook) = self.inner.receive_some_hook.get() {
            hook.call(self).await?;
        }
        // `close` sends an EOF to wake us and sets `closed`: check again after.
        let n = self.inner.incoming.get_into(buf).await?;
        if self.inner.closed.get() {
            return Err(closed_error());
        }
        Ok(n)
    }
}

// ---------------------------------------------------------------------------
// Wiring
// ---------------------------------------------------------------------------

/// Moves data from `send_stream`'s buffer into `receive_stream`'s: at most
/// `max_bytes` bytes, or all of it with `None`; if `send_stream` is closed and
/// drained, passes the end of stream on ([`put_eof`](MemoryReceiveStream::put_eof)).
/// Returns whether it moved anything (data or end of stream).
///
/// This is what the hooks of [`memory_stream_one_way_pair`] call; call it from
/// your own hooks to move data your way.
///
/// # Errors
///
/// [`BrokenResource`](ErrorKind::BrokenResource) if `receive_stream` was closed
/// (the bytes taken are lost, as on a real connection);
/// [`InvalidInput`](ErrorKind::InvalidInput) if `max_bytes` is `Some(0)`;
/// [`BusyResource`](ErrorKind::BusyResource) if a task is in
/// [`get_data`](MemorySendStream::get_data) on `send_stream`.
///
/// # Examples
///
/// ```
/// use trio::abc::{ReceiveStream, SendStream};
/// use trio::testing::{MemoryReceiveStream, MemorySendStream, memory_stream_pump};
/// # trio::run(async {
/// let (s, r) = (MemorySendStream::new(), MemoryReceiveStream::new());
/// assert!(!memory_stream_pump(&s, &r, None)?); // nothing to move
/// s.send_all(b"456").await?;
/// assert!(memory_stream_pump(&s, &r, 1)?);
/// let mut buf = [0u8; 10];
/// assert_eq!(r.receive_some(&mut buf).await?, 1);
/// assert_eq!(buf[0], b'4');
/// # Ok(()) }).unwrap();
/// ```
pub fn memory_stream_pump(
    send_stream: &MemorySendStream,
    receive_stream: &MemoryReceiveStream,
    max_bytes: impl Into<Option<usize>>,
) -> Result<bool> {
    let data = match send_stream.get_data_nowait(max_bytes) {
        Ok(data) => data,
        Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
        Err(e) => return Err(e),
    };
    let put = if data.is_empty() {
        receive_stream.put_eof();
        Ok(())
    } else {
        receive_stream.put_data(&data)
    };
    match put {
        Err(e) if e.kind() == ErrorKind::ClosedResource => Err(Error::new(
            ErrorKind::BrokenResource,
            "MemoryReceiveStream was closed",
        )),
        Err(e) => Err(e),
        Ok(()) => Ok(true),
    }
}

/// A connected one-way stream in memory, with unlimited buffering (Trio's
/// `memory_stream_one_way_pair`): a no-operating-system `pipe`, with data flowing
/// from left to right.
///
/// The send stream's [`send_all_hook`](MemorySendStream::send_all_hook) and
/// [`close_hook`](MemorySendStream::close_hook) call [`memory_stream_pump`], so
/// data (and the end of stream) reaches the receive stream at once. Change the
/// hooks to change that: take the send-all hook to stall the pipe, or pump a byte
/// at a time.
///
/// # Examples
///
/// ```
/// use trio::abc::{AsyncResource, ReceiveStream, SendStream};
/// # trio::run(async {
/// let (s, r) = trio::testing::memory_stream_one_way_pair();
/// s.send_all(b"123").await?;
/// s.aclose().await?;
/// let mut buf = [0u8; 10];
/// assert_eq!(r.receive_some(&mut buf).await?, 3);
/// assert_eq!(r.receive_some(&mut buf).await?, 0);
/// # Ok(()) }).unwrap();
/// ```
pub fn memory_stream_one_way_pair() -> (MemorySendStream, MemoryReceiveStream) {
    let send_stream = MemorySendStream::new();
    let receive_stream = MemoryReceiveStream::new();
    let r = receive_stream.clone();
    send_stream.send_all_hook().set(async move |s| {
        memory_stream_pump(s, &r, None)?;
        Ok(())
    });
    let r = receive_stream.clone();
    send_stream.close_hook().set(move |s| {
        // The pump can only fail here if the receiver was closed with bytes still
        // in our buffer; those are lost either way, as on a real connection.
        let _ = memory_stream_pump(s, &r, None);
    });
    (send_stream, receive_stream)
}

/// Two one-way pairs, stapled crosswise into a two-way pair.
pub(crate) fn make_stapled_pair<S, R>(
    one_way_pair: impl Fn() -> (S, R),
) -> (StapledStream<S, R>, StapledStream<S, R>) {
    let (send1, receive1) = one_way_pair();
    let (send2, receive2) = one_way_pair();
    (
        StapledStream::new(send1, receive2),
        StapledStream::new(send2, receive1),
    )
}

/// A connected two-way stream in memory, with unlimited buffering (Trio's
/// `memory_stream_pair`): a no-operating-system `socketpair`.
///
/// It is two [`memory_stream_one_way_pair`]s stapled together with
/// [`StapledStream`], so every piece can be reached and rewired:
/// `left.send_stream()` is the [`MemorySendStream`] feeding
/// `right.receive_stream()`. Both ends are
/// [`HalfCloseableStream`](crate::abc::HalfCloseableStream)s: `send_eof` closes
/// the end's send half.
///
/// # Examples
///
/// Simple tests just send back and forth:
///
/// ```
/// use trio::abc::{HalfCloseableStream, ReceiveStream, SendStream};
/// # trio::run(async {
/// let (left, right) = trio::testing::memory_stream_pair();
/// left.send_all(b"123").await?;
/// right.send_all(b"456").await?;
/// let mut buf = [0u8; 10];
/// let n = right.receive_some(&mut buf).await?;
/// assert_eq!(&buf[..n], b"123");
/// let n = left.receive_some(&mut buf).await?;
/// assert_eq!(&buf[..n], b"456");
/// left.send_eof().await?;
/// assert_eq!(right.receive_some(&mut buf).await?, 0);
/// # Ok(()) }).unwrap();
/// ```
///
/// Data from left to right can be made to trickle in one byte per second (on the
/// mock clock, the test still takes no time) while right to left flows at full
/// speed:
///
/// ```
/// use std::time::Duration;
/// use trio::abc::{HalfCloseableStream, ReceiveStream, SendStream};
/// use trio::testing::{MockClock, memory_stream_pump};
///
/// let clock = MockClock::new();
/// clock.set_autojump_threshold(Duration::ZERO);
/// let rt = trio::Runtime::builder().clock(clock).build();
/// rt.run(async {
///     let (left, right) = trio::testing::memory_stream_pair();
///     let to_right = right.receive_stream().clone();
///     left.send_stream().send_all_hook().set(async move |s| {
///         while memory_stream_pump(s, &to_right, 1)? {
///             trio::sleep(Duration::from_secs(1)).await?;
///         }
///         Ok(())
///     });
///     let start = trio::current_time();
///     let (left, right) = (&left, &right);
///     trio::open_nursery(async |n| {
///         n.start_soon(async move {
///             left.send_all(b"12345").await?;
///             left.send_eof().await
///         })?;
///         let mut got = Vec::new();
///         let mut buf = [0u8; 16];
///         loop {
///             let k = right.receive_some(&mut buf).await?;
///             if k == 0 {
///                 break;
///             }
///             got.push(buf[..k].to_vec());
///         }
///         assert_eq!(got, [b"1", b"2", b"3", b"4", b"5"]);
///         Ok(())
///     })
///     .await?;
///     assert_eq!(trio::current_time() - start, Duration::from_secs(5));
///     Ok::<(), trio::Error>(())
/// })
/// .unwrap();
/// ```
pub fn memory_stream_pair() -> (
    StapledStream<MemorySendStream, MemoryReceiveStream>,
    StapledStream<MemorySendStream, MemoryReceiveStream>,
) {
    make_stapled_pair(memory_stream_one_way_pair)
}
