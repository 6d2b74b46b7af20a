//! Lockstep streams (Trio's `lockstep_stream_pair`): in-memory streams with no
//! buffering at all. Each `send_all` waits until every byte has been taken by a
//! `receive_some` — the extreme case for flow-control bugs, and the "clogged"
//! stream the [`check_streams`](super::check_one_way_stream) suites want.
//!
//! One state object, `LockstepQueue`, is shared by the two ends. Every change of
//! state wakes every waiter (there are at most three: a sender, a sender waiting
//! for a receiver, and a receiver), and each waiter re-checks its own condition —
//! Trio's "something happened" design, which keeps the logic small.
//!
//! One departure from Trio: a cancelled `send_all` takes back the bytes the
//! receiver has not taken yet, so it sent exactly a prefix, and the stream stays
//! usable (Trio leaves them in place, and its next `send_all` trips an assertion).

use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::Rc;

use super::memory_streams::{closed_error, empty_buffer_error, make_stapled_pair};
use crate::abc::{AsyncResource, ReceiveStream, SendStream};
use crate::conflict::ConflictDetector;
use crate::error::{Error, ErrorKind, Result};
use crate::lowlevel::{ParkingLot, checkpoint};
use crate::stapled::StapledStream;

/// The state both ends share.
///
/// Invariant: `data` is non-empty only while a `send_all` is waiting for it to be
/// taken, or after the sender or receiver closed during that wait.
struct LockstepQueue {
    data: RefCell<Vec<u8>>,
    sender_closed: Cell<bool>,
    receiver_closed: Cell<bool>,
    /// A `receive_some` is waiting for data (what `wait_send_all_might_not_block`
    /// waits for).
    receiver_waiting: Cell<bool>,
    waiters: ParkingLot,
    send_conflict: ConflictDetector,
    receive_conflict: ConflictDetector,
}

fn broken_error() -> Error {
    Error::new(
        ErrorKind::BrokenResource,
        "the receiving end of the lockstep stream was closed",
    )
}

/// Resets a flag when dropped (a `finally`).
struct ResetOnDrop<'a>(&'a Cell<bool>);

impl Drop for ResetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.set(false);
    }
}

/// Takes back untaken bytes when a `send_all` stops waiting early (cancelled, or
/// its future dropped).
struct Retract<'a> {
    queue: &'a LockstepQueue,
    armed: bool,
}

impl Drop for Retract<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.queue.data.borrow_mut().clear();
            self.queue.something_happened();
        }
    }
}

impl LockstepQueue {
    fn new() -> LockstepQueue {
        LockstepQueue {
            data: RefCell::new(Vec::new()),
            sender_closed: Cell::new(false),
            receiver_closed: Cell::new(false),
            receiver_waiting: Cell::new(false),
            waiters: ParkingLot::new(),
            send_conflict: ConflictDetector::new("another task is already sending"),
            receive_conflict: ConflictDetector::new("another task is already receiving"),
        }
    }

    fn something_happened(&self) {
        self.waiters.unpark_all();
    }

    /// Waits until `done()` or either side is closed (everyone reacts to that),
    /// then passes a checkpoint.
    async fn wait_for(&self, done: impl Fn() -> bool) -> Result<()> {
        while !done() && !self.sender_closed.get() && !self.receiver_closed.get() {
            self.waiters.park().await?;
        }
        checkpoint().await
    }

    fn close_sender(&self) {
        self.sender_closed.set(true);
        self.something_happened();
    }

    fn close_receiver(&self) {
        self.receiver_closed.set(true);
        self.something_happened();
    }

    async fn send_all(&self, data: &[u8]) -> Result<()> {
        let _busy = self.send_conflict.enter()?;
        if self.sender_closed.get() {
            return Err(closed_error());
        }
        if self.receiver_closed.get() {
            return Err(broken_error());
        }
        debug_assert!(self.data.borrow().is_empty());
        self.data.borrow_mut().extend_from_slice(data);
        self.something_happened();
        let mut retract = Retract {
            queue: self,
            armed: true,
        };
        self.wait_for(|| self.data.borrow().is_empty()).await?;
        retract.armed = false;
        if self.sender_closed.get() {
            return Err(closed_error());
        }
        if !self.data.borrow().is_empty() && self.receiver_closed.get() {
            return Err(broken_error());
        }
        Ok(())
    }

    async fn wait_send_all_might_not_block(&self) -> Result<()> {
        let _busy = self.send_conflict.enter()?;
        if self.sender_closed.get() {
            return Err(closed_error());
        }
        if self.receiver_closed.get() {
            return checkpoint().await;
        }
        self.wait_for(|| self.receiver_waiting.get()).await?;
        if self.sender_closed.get() {
            return Err(closed_error());
        }
        Ok(())
    }

    async fn send_eof(&self) -> Result<()> {
        let _busy = self.send_conflict.enter()?;
        checkpoint().await?;
        self.close_sender();
        Ok(())
    }

    async fn receive_some(&self, buf: &mut [u8]) -> Result<usize> {
        let _busy = self.receive_conflict.enter()?;
        if buf.is_empty() {
            return Err(empty_buffer_error());
        }
        if self.receiver_closed.get() {
            return Err(closed_error());
        }
        loop {
            {
                // Wake wait_send_all_might_not_block, and wait for data.
                self.receiver_waiting.set(true);
                let _waiting = ResetOnDrop(&self.receiver_waiting);
                self.something_happened();
                self.wait_for(|| !self.data.borrow().is_empty()).await?;
            }
            if self.receiver_closed.get() {
                return Err(closed_error());
            }
            let mut data = self.data.borrow_mut();
            if !data.is_empty() {
                let n = buf.len().min(data.len());
                buf[..n].copy_from_slice(&data[..n]);
                data.drain(..n);
                drop(data);
                self.something_happened();
                return Ok(n);
            }
            if self.sender_closed.get() {
                return Ok(0);
            }
            // The sender was cancelled and took its bytes back while we passed
            // our checkpoint: wait again.
        }
    }
}

/// The sending end of a [`lockstep_stream_one_way_pair`]: `send_all` returns only
/// once a `receive_some` has taken every byte.
///
/// # Examples
///
/// ```
/// use trio::abc::{ReceiveStream, SendStream};
/// # trio::run(async {
/// let (s, r) = trio::testing::lockstep_stream_one_way_pair();
/// let (s, r) = (&s, &r);
/// trio::open_nursery(async |n| {
///     n.start_soon(async move { s.send_all(b"abc").await })?;
///     let mut buf = [0u8; 2];
///     assert_eq!(r.receive_some(&mut buf).await?, 2); // the sender still waits...
///     assert_eq!(r.receive_some(&mut buf).await?, 1); // ...until now
///     Ok(())
/// }).await?;
/// # Ok(()) }).unwrap();
/// ```
pub struct LockstepSendStream {
    queue: Rc<LockstepQueue>,
}

impl fmt::Debug for LockstepSendStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockstepSendStream")
            .field("closed", &self.queue.sender_closed.get())
            .field("pending", &self.queue.data.borrow().len())
            .finish()
    }
}

impl LockstepSendStream {
    /// Closes the sending end at once (the synchronous form of
    /// [`aclose`](AsyncResource::aclose)): the receiver sees end of stream, and
    /// this end's blocked and later operations fail with
    /// [`ClosedResource`](ErrorKind::ClosedResource).
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::abc::ReceiveStream;
    /// # trio::run(async {
    /// let (s, r) = trio::testing::lockstep_stream_one_way_pair();
    /// s.close();
    /// assert_eq!(r.receive_some(&mut [0u8; 4]).await?, 0);
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn close(&self) {
        self.queue.close_sender();
    }
}

impl AsyncResource for LockstepSendStream {
    /// [`close`](LockstepSendStream::close), then a checkpoint.
    ///
    /// # Errors
    ///
    /// `Cancelled` if cancelled — closed all the same.
    ///
    /// # Cancellation
    ///
    /// A checkpoint, after closing.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::abc::{AsyncResource, SendStream};
    /// # trio::run(async {
    /// let (s, _r) = trio::testing::lockstep_stream_one_way_pair();
    /// s.aclose().await?;
    /// assert_eq!(s.send_all(b"x").await.unwrap_err().kind(), trio::ErrorKind::ClosedResource);
    /// # Ok(()) }).unwrap();
    /// ```
    async fn aclose(&self) -> Result<()> {
        self.close();
        checkpoint().await
    }
}

impl SendStream for LockstepSendStream {
    /// Hands `data` to the receiving end and waits until all of it was taken.
    ///
    /// # Errors
    ///
    /// [`BusyResource`](ErrorKind::BusyResource) if another task is sending or
    /// waiting to send; [`ClosedResource`](ErrorKind::ClosedResource) if this end
    /// is (or, while waiting, becomes) closed;
    /// [`BrokenResource`](ErrorKind::BrokenResource) if the receiving end is (or,
    /// with bytes untaken, becomes) closed.
    ///
    /// # Cancellation
    ///
    /// A checkpoint. If cancelled, the bytes not yet taken are taken back: the
    /// receiver got a prefix of `data` (perhaps all of it, perhaps none).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use trio::abc::SendStream;
    /// # trio::run(async {
    /// let (s, _r) = trio::testing::lockstep_stream_one_way_pair();
    /// // Nobody receives: the send can only time out.
    /// let r = trio::move_on_after(Duration::from_millis(1), s.send_all(b"x")).await?;
    /// assert_eq!(r, None);
    /// # Ok(()) }).unwrap();
    /// ```
    async fn send_all(&self, data: &[u8]) -> Result<()> {
        self.queue.send_all(data).await
    }

    /// Waits until a `receive_some` is waiting on the other end (or that end is
    /// closed).
    ///
    /// # Errors
    ///
    /// [`BusyResource`](ErrorKind::BusyResource) if another task is sending or
    /// waiting to send; [`ClosedResource`](ErrorKind::ClosedResource) if this end
    /// is (or becomes) closed.
    ///
    /// # Cancellation
    ///
    /// A checkpoint.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::abc::{ReceiveStream, SendStream};
    /// # trio::run(async {
    /// let (s, r) = trio::testing::lockstep_stream_one_way_pair();
    /// let (s, r) = (&s, &r);
    /// trio::open_nursery(async |n| {
    ///     n.start_soon(async move {
    ///         s.wait_send_all_might_not_block().await?; // returns once r waits
    ///         s.send_all(b"!").await
    ///     })?;
    ///     assert_eq!(r.receive_some(&mut [0u8; 1]).await?, 1);
    ///     Ok(())
    /// }).await?;
    /// # Ok(()) }).unwrap();
    /// ```
    async fn wait_send_all_might_not_block(&self) -> Result<()> {
        self.queue.wait_send_all_might_not_block().await
    }
}

impl crate::abc::EndSend for LockstepSendStream {
    /// Ends the direction by closing this end, as for a
    /// [`MemorySendStream`](crate::testing::MemorySendStream): refused with
    /// [`BusyResource`](crate::ErrorKind::BusyResource) while a send is running;
    /// a cancelled call closed nothing; calling it again is fine.
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
    /// let (a, b) = trio::testing::lockstep_stream_pair();
    /// a.send_eof().await?;
    /// assert_eq!(b.receive_some(&mut [0u8; 4]).await?, 0);
    /// let e = a.send_all(b"x").await.unwrap_err();
    /// assert_eq!(e.kind(), trio::ErrorKind::ClosedResource);
    /// # Ok(()) }).unwrap();
    /// ```
    async fn end_send(&self) -> Result<()> {
        self.queue.send_eof().await
    }
}

/// The receiving end of a [`lockstep_stream_one_way_pair`].
///
/// # Examples
///
/// ```
/// use trio::abc::{AsyncResource, ReceiveStream, SendStream};
/// # trio::run(async {
/// let (s, r) = trio::testing::lockstep_stream_one_way_pair();
/// r.aclose().await?;
/// // Nobody will ever receive: the sender learns it at once.
/// assert_eq!(s.send_all(b"x").await.unwrap_err().kind(), trio::ErrorKind::BrokenResource);
/// # Ok(()) }).unwrap();
/// ```
pub struct LockstepReceiveStream {
    queue: Rc<LockstepQueue>,
}

impl fmt::Debug for LockstepReceiveStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockstepReceiveStream")
            .field("closed", &self.queue.receiver_closed.get())
            .field("waiting", &self.queue.receiver_waiting.get())
            .finish()
    }
}

impl LockstepReceiveStream {
    /// Closes the receiving end at once (the synchronous form of
    /// [`aclose`](AsyncResource::aclose)): this end's blocked and later receives
    /// fail with [`ClosedResource`](ErrorKind::ClosedResource), and the sender's
    /// with [`BrokenResource`](ErrorKind::BrokenResource).
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::abc::ReceiveStream;
    /// # trio::run(async {
    /// let (_s, r) = trio::testing::lockstep_stream_one_way_pair();
    /// r.close();
    /// let e = r.receive_some(&mut [0u8; 4]).await.unwrap_err();
    /// assert_eq!(e.kind(), trio::ErrorKind::ClosedResource);
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn close(&self) {
        self.queue.close_receiver();
    }
}

impl AsyncResource for LockstepReceiveStream {
    /// [`close`](LockstepReceiveStream::close), then a checkpoint.
    ///
    /// # Errors
    ///
    /// `Cancelled` if cancelled — closed all the same.
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
    /// let (_s, r) = trio::testing::lockstep_stream_one_way_pair();
    /// r.aclose().await?;
    /// r.aclose().await?;
    /// # Ok(()) }).unwrap();
    /// ```
    async fn aclose(&self) -> Result<()> {
        self.close();
        checkpoint().await
    }
}

impl ReceiveStream for LockstepReceiveStream {
    /// Waits for a sender's bytes and takes up to `buf.len()` of them; `Ok(0)` once
    /// the sending end is closed.
    ///
    /// # Errors
    ///
    /// [`InvalidInput`](ErrorKind::InvalidInput) if `buf` is empty;
    /// [`BusyResource`](ErrorKind::BusyResource) if another task is receiving;
    /// [`ClosedResource`](ErrorKind::ClosedResource) if this end is (or, while
    /// waiting, becomes) closed.
    ///
    /// # Cancellation
    ///
    /// A checkpoint; a cancelled `receive_some` took nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::abc::{ReceiveStream, SendStream};
    /// # trio::run(async {
    /// let (s, r) = trio::testing::lockstep_stream_one_way_pair();
    /// let (s, r) = (&s, &r);
    /// trio::open_nursery(async |n| {
    ///     n.start_soon(async move { s.send_all(b"hi").await })?;
    ///     let mut buf = [0u8; 8];
    ///     let k = r.receive_some(&mut buf).await?;
    ///     assert_eq!(&buf[..k], b"hi");
    ///     Ok(())
    /// }).await?;
    /// # Ok(()) }).unwrap();
    /// ```
    async fn receive_some(&self, buf: &mut [u8]) -> Result<usize> {
        self.queue.receive_some(buf).await
    }
}

/// A connected one-way stream in memory with no buffering at all (Trio's
/// `lockstep_stream_one_way_pair`): each `send_all` blocks until a `receive_some`
/// has taken every byte of it.
///
/// Use it to test flow control in the extreme case, or as the "clogged" stream
/// maker of the [`check_one_way_stream`](super::check_one_way_stream) suites. Both
/// ends also have a synchronous `close`.
///
/// # Examples
///
/// ```
/// use trio::abc::{AsyncResource, ReceiveStream, SendStream};
/// # trio::run(async {
/// let (s, r) = trio::testing::lockstep_stream_one_way_pair();
/// let (s, r) = (&s, &r);
/// trio::open_nursery(async |n| {
///     n.start_soon(async move {
///         s.send_all(b"x").await?;
///         s.aclose().await
///     })?;
///     let mut buf = [0u8; 4];
///     assert_eq!(r.receive_some(&mut buf).await?, 1);
///     assert_eq!(r.receive_some(&mut buf).await?, 0);
///     Ok(())
/// }).await?;
/// # Ok(()) }).unwrap();
/// ```
pub fn lockstep_stream_one_way_pair() -> (LockstepSendStream, LockstepReceiveStream) {
    let queue = Rc::new(LockstepQueue::new());
    (
        LockstepSendStream {
            queue: queue.clone(),
        },
        LockstepReceiveStream { queue },
    )
}

/// A connected two-way stream in memory with no buffering at all (Trio's
/// `lockstep_stream_pair`): two [`lockstep_stream_one_way_pair`]s stapled
/// together with [`StapledStream`]. Both ends are
/// [`HalfCloseableStream`](crate::abc::HalfCloseableStream)s.
///
/// # Examples
///
/// ```
/// use trio::abc::{ReceiveStream, SendStream};
/// # trio::run(async {
/// let (a, b) = trio::testing::lockstep_stream_pair();
/// let (a, b) = (&a, &b);
/// trio::open_nursery(async |n| {
///     n.start_soon(async move { a.send_all(b"ping").await })?;
///     let mut buf = [0u8; 4];
///     assert_eq!(b.receive_some(&mut buf).await?, 4);
///     Ok(())
/// }).await?;
/// # Ok(()) }).unwrap();
/// ```
pub fn lockstep_stream_pair() -> (
    StapledStream<LockstepSendStream, LockstepReceiveStream>,
    StapledStream<LockstepSendStream, LockstepReceiveStream>,
) {
    make_stapled_pair(lockstep_stream_one_way_pair)
}
