//! The sending side of a memory channel.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use super::flavour::{Flavour, ThreadSafe};
use super::handle::Handle;
use super::state::{SendFail, SendWaiter, Side};
use super::statistics::MemoryChannelStatistics;
use crate::error::{Error, ErrorKind};
use crate::lowlevel::{
    BlockedOn, CancelRegistration, ChannelOp, checkpoint_if_cancelled, record_blocked_on,
    should_yield,
};

/// A failed send: the error, and the value that was not delivered.
///
/// Converts into [`Error`] (dropping the value) so `?` works in functions returning
/// [`trio::Result`](crate::Result).
///
/// # Examples
///
/// ```
/// let (tx, rx) = trio::open_memory_channel::<String>(0);
/// drop(rx);
/// let err = tx.send_nowait("hello".to_string()).unwrap_err();
/// assert_eq!(err.kind(), trio::ErrorKind::BrokenResource);
/// assert_eq!(err.into_inner(), "hello"); // nothing is lost
/// ```
pub struct SendError<T> {
    error: Error,
    value: T,
}

impl<T> SendError<T> {
    pub(crate) fn new(kind: ErrorKind, value: T) -> SendError<T> {
        let msg = match kind {
            ErrorKind::ClosedResource => "this send channel was closed",
            ErrorKind::BrokenResource => "every receive channel is closed: nobody can receive",
            ErrorKind::WouldBlock => "the channel's buffer is full",
            _ => "send failed",
        };
        SendError {
            error: Error::new(kind, msg),
            value,
        }
    }

    pub(crate) fn from_error(error: Error, value: T) -> SendError<T> {
        SendError { error, value }
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.error.kind()
    }

    /// The error, as a trio [`Error`].
    pub fn error(&self) -> &Error {
        &self.error
    }

    /// True if the send was cancelled (and delivered nothing).
    pub fn is_cancelled(&self) -> bool {
        self.error.is_cancelled()
    }

    /// The value that was not sent.
    pub fn into_inner(self) -> T {
        self.value
    }

    /// The error and the value.
    pub fn into_parts(self) -> (Error, T) {
        (self.error, self.value)
    }
}

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendError")
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}

impl<T> std::error::Error for SendError<T> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl<T> From<SendError<T>> for Error {
    fn from(e: SendError<T>) -> Error {
        e.error
    }
}

impl<T> From<SendError<T>> for std::io::Error {
    fn from(e: SendError<T>) -> std::io::Error {
        e.error.into()
    }
}

/// The sending end of a memory channel (Trio's `MemorySendChannel`).
///
/// Clone it to have several senders; each clone is closed separately (by
/// [`close`](Self::close) or by dropping it). When every sender is closed, receivers
/// drain the buffer and then see the end of the channel.
///
/// `F` is the [`Flavour`]: [`ThreadSafe`] by default (then the handle is `Send` when
/// `T` is, and can be used from another trio loop on another thread), or
/// [`Local`](super::Local) for a channel used inside one loop.
///
/// # Examples
///
/// ```
/// # trio::run(async {
/// let (tx, rx) = trio::open_memory_channel::<u32>(1);
/// trio::open_nursery(async |n| {
///     n.start_soon(async move {
///         for i in 0..3 {
///             tx.send(i).await?;
///         }
///         Ok(()) // tx dropped: end of channel
///     })?;
///     let mut got = Vec::new();
///     while let Some(v) = rx.receive_or_end().await? {
///         got.push(v);
///     }
///     assert_eq!(got, [0, 1, 2]);
///     Ok(())
/// }).await
/// # }).unwrap();
/// ```
pub struct MemorySendChannel<T, F: Flavour = ThreadSafe> {
    h: Handle<T, F>,
}

impl<T, F: Flavour> MemorySendChannel<T, F> {
    pub(crate) fn new(shared: F::Shared<T>) -> Self {
        MemorySendChannel {
            h: Handle::open(shared, Side::Send),
        }
    }

    /// Sends `value`, waiting while the buffer is full (Trio's `send`). With a
    /// buffer of 0, waits until a receiver takes the value.
    ///
    /// # Errors
    ///
    /// The value comes back in the [`SendError`]: [`ErrorKind::ClosedResource`] if
    /// this handle was closed (also while waiting), [`ErrorKind::BrokenResource`] if
    /// every receiver is closed, `Cancelled` if cancelled.
    ///
    /// # Cancellation
    ///
    /// A checkpoint. A cancelled send delivered nothing and returns the value; a send
    /// whose value a receiver already took succeeded, even if a cancellation came
    /// after. Dropping the future while it waits withdraws the value (and drops it).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// # trio::run(async {
    /// let (tx, _rx) = trio::open_memory_channel::<&str>(0); // nobody receives
    /// let scope = trio::CancelScope::with_timeout(Duration::from_millis(5));
    /// let mut back = None;
    /// scope.run(async {
    ///     tx.send("item").await.map_err(|e| {
    ///         let (err, value) = e.into_parts();
    ///         back = Some(value); // handed back: nothing is lost
    ///         err
    ///     })
    /// }).await?;
    /// assert!(scope.cancelled_caught());
    /// assert_eq!(back, Some("item"));
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn send(&self, value: T) -> SendFuture<'_, T, F> {
        SendFuture {
            chan: self,
            value: Some(value),
            phase: SendPhase::Start,
            cancel: CancelRegistration::new(),
        }
    }

    /// Sends `value` if that needs no waiting (Trio's `send_nowait`).
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send), plus [`ErrorKind::WouldBlock`] if the buffer is full.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, _rx) = trio::open_memory_channel::<u8>(1);
    /// tx.send_nowait(1).unwrap();
    /// assert_eq!(tx.send_nowait(2).unwrap_err().kind(), trio::ErrorKind::WouldBlock);
    /// ```
    pub fn send_nowait(&self, value: T) -> Result<(), SendError<T>> {
        let r = self.h.with(|s| s.try_send(self.h.id, value));
        match r {
            Ok(w) => {
                if let Some(w) = w {
                    w.wake();
                }
                Ok(())
            }
            Err(SendFail::Error(kind, v)) => Err(SendError::new(kind, v)),
            Err(SendFail::Full(v)) => Err(SendError::new(ErrorKind::WouldBlock, v)),
        }
    }

    /// Closes this handle (Trio's `close`/`aclose`): it can no longer send, and its
    /// own blocked sends fail with [`ErrorKind::ClosedResource`]. Closing the last
    /// sender ends the channel for receivers once the buffer is drained. Closing
    /// twice is fine. Dropping the handle closes it too.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = trio::open_memory_channel::<u8>(1);
    /// tx.send_nowait(7).unwrap();
    /// tx.close();
    /// assert_eq!(tx.send_nowait(8).unwrap_err().kind(), trio::ErrorKind::ClosedResource);
    /// assert_eq!(rx.receive_nowait().unwrap(), 7); // the buffer drains first
    /// assert_eq!(rx.receive_nowait().unwrap_err().kind(), trio::ErrorKind::EndOfChannel);
    /// ```
    pub fn close(&self) {
        self.h.close();
    }

    /// True once this handle is closed.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, _rx) = trio::open_memory_channel::<u8>(1);
    /// let tx2 = tx.clone();
    /// tx.close();
    /// assert!(tx.is_closed() && !tx2.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.h.is_closed()
    }

    /// The channel's statistics (Trio's `statistics()`, plus `peak_buffer_used`).
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, _rx) = trio::open_memory_channel::<u8>(4);
    /// tx.send_nowait(1).unwrap();
    /// let s = tx.statistics();
    /// assert_eq!((s.current_buffer_used, s.max_buffer_size, s.open_send_channels), (1, 4, 1));
    /// ```
    pub fn statistics(&self) -> MemoryChannelStatistics {
        self.h.statistics()
    }
}

impl<T, F: Flavour> Clone for MemorySendChannel<T, F> {
    /// Another sender on the same channel. A clone of a closed handle is closed
    /// (Trio's `clone` raises `ClosedResourceError`): it cannot reopen the channel.
    fn clone(&self) -> Self {
        MemorySendChannel {
            h: self.h.duplicate(),
        }
    }
}

impl<T, F: Flavour> fmt::Debug for MemorySendChannel<T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemorySendChannel")
            .field("statistics", &self.statistics())
            .finish()
    }
}

enum SendPhase {
    Start,
    /// Sent at once; yielding once (Trio's `cancel_shielded_checkpoint`).
    Yield,
    Wait(usize),
    Done,
}

/// The future of [`MemorySendChannel::send`].
///
/// # Panics
///
/// If polled again after it completed (outside the [`Future`] contract): its
/// [`SendError`] would have to hand back a value it no longer holds.
#[must_use = "futures do nothing unless awaited"]
pub struct SendFuture<'a, T, F: Flavour = ThreadSafe> {
    chan: &'a MemorySendChannel<T, F>,
    value: Option<T>,
    phase: SendPhase,
    cancel: CancelRegistration,
}

impl<T, F: Flavour> Unpin for SendFuture<'_, T, F> {}

impl<T, F: Flavour> fmt::Debug for SendFuture<'_, T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendFuture")
    }
}

impl<T, F: Flavour> Future for SendFuture<'_, T, F> {
    type Output = Result<(), SendError<T>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let r = self.as_mut().poll_inner(cx);
        if r.is_pending() && matches!(self.phase, SendPhase::Wait(_)) {
            let shared = &self.chan.h.shared;
            record_blocked_on(
                cx,
                BlockedOn::Channel {
                    id: F::id(shared) as u64,
                    operation: ChannelOp::Send,
                    thread_safe: F::THREAD_SAFE,
                },
            );
        }
        r
    }
}

impl<T, F: Flavour> SendFuture<'_, T, F> {
    fn poll_inner(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), SendError<T>>> {
        let this = &mut *self;
        match this.phase {
            SendPhase::Start => {
                let value = this.value.take().expect("value is present at start");
                if let Err(e) = checkpoint_if_cancelled() {
                    this.phase = SendPhase::Done;
                    return Poll::Ready(Err(SendError::from_error(e, value)));
                }
                let handle = this.chan.h.id;
                let r = this.chan.h.with(|s| match s.try_send(handle, value) {
                    Err(SendFail::Full(v)) => Err(Ok(s.senders.push(SendWaiter {
                        waker: Some(cx.waker().clone()),
                        value: Some(v),
                        taken: false,
                        ended: None,
                        handle,
                    }))),
                    Err(SendFail::Error(kind, v)) => Err(Err((kind, v))),
                    Ok(w) => Ok(w),
                });
                match r {
                    Ok(w) => {
                        wake_opt(w);
                        if !should_yield() {
                            this.phase = SendPhase::Done;
                            return Poll::Ready(Ok(()));
                        }
                        this.phase = SendPhase::Yield;
                        cx.waker().wake_by_ref();
                        Poll::Pending
                    }
                    Err(Err((kind, v))) => {
                        this.phase = SendPhase::Done;
                        Poll::Ready(Err(SendError::new(kind, v)))
                    }
                    Err(Ok(key)) => {
                        this.phase = SendPhase::Wait(key);
                        // Registers for cancellation (we just checked: not cancelled).
                        let _ = this.cancel.poll_cancelled(cx);
                        Poll::Pending
                    }
                }
            }
            SendPhase::Yield => {
                this.phase = SendPhase::Done;
                Poll::Ready(Ok(()))
            }
            SendPhase::Wait(key) => {
                let cancel = &mut this.cancel;
                let out = this.chan.h.with(|s| {
                    let w = s
                        .senders
                        .get_mut(key)
                        .expect("our wait entry lives until we remove it");
                    if w.taken {
                        s.senders.remove(key);
                        return Some(Ok(()));
                    }
                    if let Some(kind) = w.ended {
                        let v = w.value.take().expect("an unserved sender keeps its value");
                        s.senders.remove(key);
                        return Some(Err(SendError::new(kind, v)));
                    }
                    if let Poll::Ready(e) = cancel.poll_cancelled(cx) {
                        let w = s.senders.remove(key).expect("present");
                        let v = w.value.expect("an unserved sender keeps its value");
                        return Some(Err(SendError::from_error(e, v)));
                    }
                    if !w
                        .waker
                        .as_ref()
                        .is_some_and(|old| old.will_wake(cx.waker()))
                    {
                        w.waker = Some(cx.waker().clone());
                    }
                    None
                });
                match out {
                    Some(r) => {
                        this.phase = SendPhase::Done;
                        this.cancel.clear();
                        Poll::Ready(r)
                    }
                    None => Poll::Pending,
                }
            }
            SendPhase::Done => panic!("a SendFuture was polled after it completed"),
        }
    }
}

impl<T, F: Flavour> Drop for SendFuture<'_, T, F> {
    fn drop(&mut self) {
        if let SendPhase::Wait(key) = self.phase {
            // Withdraw the offer; an unserved value is dropped with the future.
            let w = self.chan.h.with(|s| s.senders.remove(key));
            drop(w);
        }
    }
}

pub(crate) fn wake_opt(w: Option<Waker>) {
    if let Some(w) = w {
        w.wake();
    }
}
