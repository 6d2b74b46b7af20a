//! The receiving side of a memory channel.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::flavour::{Flavour, ThreadSafe};
use super::handle::Handle;
use super::send::wake_opt;
use super::state::{RecvWaiter, Side};
use super::statistics::MemoryChannelStatistics;
use crate::error::{Error, ErrorKind, Result};
use crate::lowlevel::{
    BlockedOn, CancelRegistration, ChannelOp, checkpoint_if_cancelled, record_blocked_on,
    should_yield,
};

fn recv_error(kind: ErrorKind) -> Error {
    let msg = match kind {
        ErrorKind::ClosedResource => "this receive channel was closed",
        ErrorKind::EndOfChannel => "every sender is closed and the buffer is drained",
        ErrorKind::WouldBlock => "the channel is empty",
        _ => "receive failed",
    };
    Error::new(kind, msg)
}

/// The receiving end of a memory channel (Trio's `MemoryReceiveChannel`).
///
/// Each item goes to exactly one receiver. Clone it to share the work among several
/// receivers; each clone is closed separately. When every receiver is closed,
/// senders get [`ErrorKind::BrokenResource`] and the buffer is dropped.
///
/// It is also a [`Stream`](futures_core::Stream) of `Result<T>` that ends at the
/// end of the channel.
///
/// # Examples
///
/// ```
/// # trio::run(async {
/// let (tx, rx) = trio::open_memory_channel::<&str>(4);
/// tx.send("a").await?;
/// tx.send("b").await?;
/// drop(tx);
/// assert_eq!(rx.receive().await?, "a");
/// assert_eq!(rx.receive_or_end().await?, Some("b"));
/// assert_eq!(rx.receive_or_end().await?, None);
/// assert_eq!(rx.receive().await.unwrap_err().kind(), trio::ErrorKind::EndOfChannel);
/// # Ok(()) }).unwrap();
/// ```
pub struct MemoryReceiveChannel<T, F: Flavour = ThreadSafe> {
    h: Handle<T, F>,
    /// The receive in progress through the `Stream` interface. (Its cancel
    /// registration is `Send`, bound to its loop at run time, so a [`ThreadSafe`]
    /// handle stays `Send`.)
    stream_op: Option<RecvOp<T>>,
}

impl<T, F: Flavour> MemoryReceiveChannel<T, F> {
    pub(crate) fn new(shared: F::Shared<T>) -> Self {
        MemoryReceiveChannel {
            h: Handle::open(shared, Side::Receive),
            stream_op: None,
        }
    }

    /// Receives the next item, waiting while there is none (Trio's `receive`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::EndOfChannel`] once every sender is closed and the buffer is
    /// drained; [`ErrorKind::ClosedResource`] if this handle was closed (also while
    /// waiting); `Cancelled` if cancelled.
    ///
    /// # Cancellation
    ///
    /// A checkpoint. A cancelled receive took nothing. If an item was handed to it
    /// before the cancellation was noticed, it returns the item. Dropping the future
    /// after an item was handed to it puts the item back at the front of the channel.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// # trio::run(async {
    /// let (tx, rx) = trio::open_memory_channel::<u8>(1);
    /// let r = trio::move_on_after(Duration::from_millis(2), rx.receive()).await?;
    /// assert_eq!(r, None); // cancelled: took nothing
    /// tx.send(9).await?;
    /// assert_eq!(rx.receive().await?, 9);
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn receive(&self) -> ReceiveFuture<'_, T, F> {
        ReceiveFuture {
            chan: self,
            op: RecvOp::new(),
        }
    }

    /// Like [`receive`](Self::receive), but the end of the channel is `Ok(None)`:
    /// the shape of a loop over every item.
    ///
    /// # Errors
    ///
    /// As [`receive`](Self::receive), except [`ErrorKind::EndOfChannel`].
    ///
    /// # Cancellation
    ///
    /// As [`receive`](Self::receive).
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// let (tx, rx) = trio::open_memory_channel::<u8>(4);
    /// tx.send(1).await?;
    /// drop(tx);
    /// let mut sum = 0;
    /// while let Some(v) = rx.receive_or_end().await? {
    ///     sum += v;
    /// }
    /// assert_eq!(sum, 1);
    /// # Ok(()) }).unwrap();
    /// ```
    pub async fn receive_or_end(&self) -> Result<Option<T>> {
        match self.receive().await {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.kind() == ErrorKind::EndOfChannel => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Receives an item if one is ready (Trio's `receive_nowait`).
    ///
    /// # Errors
    ///
    /// As [`receive`](Self::receive), plus [`ErrorKind::WouldBlock`] if nothing is
    /// ready.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = trio::open_memory_channel::<u8>(1);
    /// assert_eq!(rx.receive_nowait().unwrap_err().kind(), trio::ErrorKind::WouldBlock);
    /// tx.send_nowait(3).unwrap();
    /// assert_eq!(rx.receive_nowait().unwrap(), 3);
    /// ```
    pub fn receive_nowait(&self) -> Result<T> {
        match self.h.with(|s| s.try_receive(self.h.id)) {
            Ok((v, _, w)) => {
                wake_opt(w);
                Ok(v)
            }
            Err(kind) => Err(recv_error(kind)),
        }
    }

    /// Closes this handle: it can no longer receive, and its own blocked receives
    /// fail with [`ErrorKind::ClosedResource`]. Closing the last receiver breaks the
    /// channel for senders and drops the buffered items. Closing twice is fine;
    /// dropping the handle closes it too.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = trio::open_memory_channel::<u8>(1);
    /// rx.close();
    /// assert_eq!(tx.send_nowait(1).unwrap_err().kind(), trio::ErrorKind::BrokenResource);
    /// assert_eq!(rx.receive_nowait().unwrap_err().kind(), trio::ErrorKind::ClosedResource);
    /// ```
    pub fn close(&self) {
        self.h.close();
    }

    /// True once this handle is closed.
    ///
    /// # Examples
    ///
    /// ```
    /// let (_tx, rx) = trio::open_memory_channel::<u8>(1);
    /// rx.close();
    /// assert!(rx.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.h.is_closed()
    }

    /// The channel's statistics.
    ///
    /// # Examples
    ///
    /// ```
    /// let (_tx, rx) = trio::open_memory_channel::<u8>(0);
    /// assert_eq!(rx.statistics().max_buffer_size, 0);
    /// ```
    pub fn statistics(&self) -> MemoryChannelStatistics {
        self.h.statistics()
    }
}

impl<T, F: Flavour> Clone for MemoryReceiveChannel<T, F> {
    /// Another receiver on the same channel. A clone of a closed handle is closed
    /// (Trio's `clone` raises `ClosedResourceError`): it cannot reopen the channel.
    fn clone(&self) -> Self {
        MemoryReceiveChannel {
            h: self.h.duplicate(),
            stream_op: None,
        }
    }
}

impl<T, F: Flavour> Drop for MemoryReceiveChannel<T, F> {
    fn drop(&mut self) {
        if let Some(mut op) = self.stream_op.take() {
            op.abandon::<F>(&self.h.shared, self.h.id);
        }
        // (Then the handle field drops, which closes it.)
    }
}

impl<T, F: Flavour> fmt::Debug for MemoryReceiveChannel<T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryReceiveChannel")
            .field("statistics", &self.statistics())
            .finish()
    }
}

impl<T, F: Flavour> Unpin for MemoryReceiveChannel<T, F> {}

impl<T, F: Flavour> futures_core::Stream for MemoryReceiveChannel<T, F> {
    type Item = Result<T>;

    /// Each item is a `receive`; the stream ends at the end of the channel.
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<T>>> {
        let this = &mut *self;
        let op = this.stream_op.get_or_insert_with(RecvOp::new);
        let r = op.poll::<F>(&this.h.shared, this.h.id, cx);
        match r {
            Poll::Pending => Poll::Pending,
            Poll::Ready(r) => {
                this.stream_op = None;
                match r {
                    Ok(v) => Poll::Ready(Some(Ok(v))),
                    Err(e) if e.kind() == ErrorKind::EndOfChannel => Poll::Ready(None),
                    Err(e) => Poll::Ready(Some(Err(e))),
                }
            }
        }
    }
}

enum RecvPhase {
    Start,
    /// Received at once; yielding once (Trio's `cancel_shielded_checkpoint`).
    Yield,
    Wait(usize),
    Done,
}

/// One receive operation: the state machine shared by [`ReceiveFuture`] and the
/// `Stream` implementation.
pub(crate) struct RecvOp<T> {
    phase: RecvPhase,
    value: Option<T>,
    /// The delivery number of `value`, to put it back in its place if dropped.
    seq: u64,
    cancel: CancelRegistration,
}

impl<T> RecvOp<T> {
    fn new() -> Self {
        RecvOp {
            phase: RecvPhase::Start,
            value: None,
            seq: 0,
            cancel: CancelRegistration::new(),
        }
    }

    fn poll<F: Flavour>(
        &mut self,
        shared: &F::Shared<T>,
        handle: usize,
        cx: &mut Context<'_>,
    ) -> Poll<Result<T>> {
        let r = self.poll_inner::<F>(shared, handle, cx);
        if r.is_pending() && matches!(self.phase, RecvPhase::Wait(_)) {
            record_blocked_on(
                cx,
                BlockedOn::Channel {
                    id: F::id(shared) as u64,
                    operation: ChannelOp::Receive,
                    thread_safe: F::THREAD_SAFE,
                },
            );
        }
        r
    }

    fn poll_inner<F: Flavour>(
        &mut self,
        shared: &F::Shared<T>,
        handle: usize,
        cx: &mut Context<'_>,
    ) -> Poll<Result<T>> {
        match self.phase {
            RecvPhase::Start => {
                if let Err(e) = checkpoint_if_cancelled() {
                    self.phase = RecvPhase::Done;
                    return Poll::Ready(Err(e));
                }
                let r = F::with(shared, |s| match s.try_receive(handle) {
                    Err(ErrorKind::WouldBlock) => Err(Ok(s.receivers.push(RecvWaiter {
                        waker: Some(cx.waker().clone()),
                        value: None,
                        seq: 0,
                        ended: None,
                        handle,
                    }))),
                    Err(kind) => Err(Err(kind)),
                    Ok(x) => Ok(x),
                });
                match r {
                    Ok((v, seq, w)) => {
                        wake_opt(w);
                        if !should_yield() {
                            self.phase = RecvPhase::Done;
                            return Poll::Ready(Ok(v));
                        }
                        self.value = Some(v);
                        self.seq = seq;
                        self.phase = RecvPhase::Yield;
                        cx.waker().wake_by_ref();
                        Poll::Pending
                    }
                    Err(Err(kind)) => {
                        self.phase = RecvPhase::Done;
                        Poll::Ready(Err(recv_error(kind)))
                    }
                    Err(Ok(key)) => {
                        self.phase = RecvPhase::Wait(key);
                        let _ = self.cancel.poll_cancelled(cx);
                        Poll::Pending
                    }
                }
            }
            RecvPhase::Yield => {
                self.phase = RecvPhase::Done;
                Poll::Ready(Ok(self.value.take().expect("received value is kept")))
            }
            RecvPhase::Wait(key) => {
                let cancel = &mut self.cancel;
                let out = F::with(shared, |s| {
                    let w = s
                        .receivers
                        .get_mut(key)
                        .expect("our wait entry lives until we remove it");
                    if let Some(v) = w.value.take() {
                        s.receivers.remove(key);
                        return Some(Ok(v));
                    }
                    if let Some(kind) = w.ended {
                        s.receivers.remove(key);
                        return Some(Err(recv_error(kind)));
                    }
                    if let Poll::Ready(e) = cancel.poll_cancelled(cx) {
                        s.receivers.remove(key);
                        return Some(Err(e));
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
                        self.phase = RecvPhase::Done;
                        self.cancel.clear();
                        Poll::Ready(r)
                    }
                    None => Poll::Pending,
                }
            }
            RecvPhase::Done => Poll::Ready(Err(Error::new(
                ErrorKind::Usage,
                "a ReceiveFuture was polled after it completed",
            ))),
        }
    }

    /// The operation is dropped before finishing: an item it holds goes back.
    fn abandon<F: Flavour>(&mut self, shared: &F::Shared<T>, _handle: usize) {
        let phase = std::mem::replace(&mut self.phase, RecvPhase::Done);
        let r = match phase {
            RecvPhase::Yield => match self.value.take() {
                Some(v) => F::with(shared, |s| s.put_back(v, self.seq)),
                None => Ok(None),
            },
            RecvPhase::Wait(key) => F::with(shared, |s| match s.receivers.remove(key) {
                Some(RecvWaiter {
                    value: Some(v),
                    seq,
                    ..
                }) => s.put_back(v, seq),
                _ => Ok(None),
            }),
            _ => Ok(None),
        };
        // An item nobody can receive is dropped here, with the state unlocked: its
        // `Drop` may use this very channel.
        match r {
            Ok(w) => wake_opt(w),
            Err(value) => drop(value),
        }
    }
}

/// The future of [`MemoryReceiveChannel::receive`].
///
/// Polled again after it completed (outside the [`Future`] contract), it gives an
/// [`ErrorKind::Usage`] error.
#[must_use = "futures do nothing unless awaited"]
pub struct ReceiveFuture<'a, T, F: Flavour = ThreadSafe> {
    chan: &'a MemoryReceiveChannel<T, F>,
    op: RecvOp<T>,
}

impl<T, F: Flavour> Unpin for ReceiveFuture<'_, T, F> {}

impl<T, F: Flavour> fmt::Debug for ReceiveFuture<'_, T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReceiveFuture")
    }
}

impl<T, F: Flavour> Future for ReceiveFuture<'_, T, F> {
    type Output = Result<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        let this = &mut *self;
        this.op.poll::<F>(&this.chan.h.shared, this.chan.h.id, cx)
    }
}

impl<T, F: Flavour> Drop for ReceiveFuture<'_, T, F> {
    fn drop(&mut self) {
        self.op.abandon::<F>(&self.chan.h.shared, self.chan.h.id);
    }
}
