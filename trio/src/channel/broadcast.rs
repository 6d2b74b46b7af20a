//! Broadcast channels: every receiver sees every item (python-trio/trio#987).
//!
//! # Slow receivers: backpressure, not loss
//!
//! The buffer holds each item until *every* receiver has taken it. A send waits
//! while the buffer is full, so the slowest receiver sets the pace for everyone.
//! The alternative — letting fast senders overwrite items a slow receiver has not
//! read and reporting a "lagged" error to it, as `tokio::sync::broadcast` does —
//! loses items, and trio's rule is that nothing is lost silently. If a consumer
//! must not hold others up, give it its own task that drains its receiver into a
//! bounded memory channel and drops or coalesces there, where the policy is
//! visible.
//!
//! # Positions
//!
//! A receiver has a cursor into the sequence of items. A clone of a receiver starts
//! at the same cursor (it will see the same items); [`BroadcastSender::subscribe`]
//! makes a receiver that sees only items sent from then on.
//!
//! The channel is thread-safe (a `Mutex` around the state), like the default
//! memory channel: handles are `Send` when `T` is.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use slab::Slab;

use super::send::SendError;
use crate::error::{Error, ErrorKind, Result};
use crate::lowlevel::{CancelRegistration, checkpoint_if_cancelled, should_yield};

struct Cursor {
    next: u64,
    closed: bool,
    waker: Option<Waker>,
}

struct SendWait<T> {
    waker: Option<Waker>,
    value: Option<T>,
    handle: usize,
    done: bool,
    ended: Option<ErrorKind>,
}

struct State<T> {
    /// Items `head .. head + buf.len()`.
    buf: VecDeque<T>,
    head: u64,
    cap: usize,
    receivers: Slab<Cursor>,
    open_recv: usize,
    senders: Slab<bool>, // closed?
    open_send: usize,
    send_waiters: Slab<SendWait<T>>,
    send_order: VecDeque<usize>,
}

impl<T> State<T> {
    fn tail(&self) -> u64 {
        self.head + self.buf.len() as u64
    }

    /// Drops items every open receiver has taken; moves waiting senders' items in
    /// (FIFO) while there is room; returns the wakers to wake.
    fn settle(&mut self, wake: &mut Vec<Waker>) {
        let min = self
            .receivers
            .iter()
            .filter(|(_, c)| !c.closed)
            .map(|(_, c)| c.next)
            .min()
            .unwrap_or(self.tail());
        while self.head < min && !self.buf.is_empty() {
            self.buf.pop_front();
            self.head += 1;
        }
        let mut pushed = false;
        while self.buf.len() < self.cap {
            let Some(key) = self.send_order.pop_front() else {
                break;
            };
            let Some(w) = self.send_waiters.get_mut(key) else {
                continue;
            };
            if w.done || w.ended.is_some() {
                continue;
            }
            self.buf
                .push_back(w.value.take().expect("a waiting sender holds its value"));
            w.done = true;
            wake.extend(w.waker.take());
            pushed = true;
        }
        if pushed {
            self.wake_receivers(wake);
        }
    }

    fn wake_receivers(&mut self, wake: &mut Vec<Waker>) {
        for (_, c) in self.receivers.iter_mut() {
            wake.extend(c.waker.take());
        }
    }
}

type Shared<T> = Arc<Mutex<State<T>>>;

fn with<T, R>(s: &Shared<T>, f: impl FnOnce(&mut State<T>) -> R) -> R {
    let mut g = s.lock().unwrap_or_else(|e| e.into_inner());
    f(&mut g)
}

fn wake_all(w: Vec<Waker>) {
    for w in w {
        w.wake();
    }
}

/// Opens a broadcast channel whose buffer holds `capacity` items: every receiver
/// gets a clone of every item sent while it exists; a send waits while the slowest
/// receiver has `capacity` items left to read.
///
/// # Slow receivers
///
/// They apply backpressure: nothing is ever dropped or overwritten, so the slowest
/// receiver sets the pace (unlike `tokio::sync::broadcast`, which lets a lagging
/// receiver miss items and tells it so). A consumer that must not hold the others
/// up should drain its receiver into a memory channel of its own and apply its
/// dropping policy there, in plain sight. A receiver's clone starts at the same
/// position; [`BroadcastSender::subscribe`] starts at the newest item.
///
/// # Panics
///
/// If `capacity` is 0: an item must be held until every receiver has read it.
///
/// # Examples
///
/// ```
/// # trio::run(async {
/// let (tx, rx1) = trio::channel::open_broadcast_channel::<u32>(4);
/// let rx2 = rx1.clone();
/// tx.send(7).await?;
/// assert_eq!(rx1.receive().await?, 7);
/// assert_eq!(rx2.receive().await?, 7); // both see it
/// # Ok(()) }).unwrap();
/// ```
pub fn open_broadcast_channel<T: Clone>(
    capacity: usize,
) -> (BroadcastSender<T>, BroadcastReceiver<T>) {
    assert!(
        capacity > 0,
        "a broadcast channel needs a capacity of at least 1"
    );
    let shared = Arc::new(Mutex::new(State {
        buf: VecDeque::new(),
        head: 0,
        cap: capacity,
        receivers: Slab::new(),
        open_recv: 0,
        senders: Slab::new(),
        open_send: 0,
        send_waiters: Slab::new(),
        send_order: VecDeque::new(),
    }));
    let rx = BroadcastReceiver::at(shared.clone(), 0);
    (BroadcastSender::new(shared), rx)
}

/// The sending end of a broadcast channel.
///
/// # Examples
///
/// ```
/// let (tx, rx) = trio::channel::open_broadcast_channel::<&str>(2);
/// tx.send_nowait("hello").unwrap();
/// assert_eq!(rx.receive_nowait().unwrap(), "hello");
/// ```
pub struct BroadcastSender<T> {
    shared: Shared<T>,
    handle: usize,
}

impl<T> BroadcastSender<T> {
    fn new(shared: Shared<T>) -> Self {
        let handle = with(&shared, |s| {
            s.open_send += 1;
            s.senders.insert(false)
        });
        BroadcastSender { shared, handle }
    }

    /// Sends `value` to every receiver, waiting while the buffer is full.
    ///
    /// # Errors
    ///
    /// The value comes back in the [`SendError`]: [`ErrorKind::ClosedResource`] if
    /// this handle was closed, [`ErrorKind::BrokenResource`] if no receiver is open,
    /// `Cancelled` if cancelled.
    ///
    /// # Cancellation
    ///
    /// A checkpoint. A cancelled send delivered nothing (no receiver saw it) and
    /// returns the value.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// # trio::run(async {
    /// let (tx, _rx) = trio::channel::open_broadcast_channel::<u8>(1);
    /// tx.send(1).await?; // fills the buffer; nobody reads
    /// let r = trio::move_on_after(Duration::from_millis(2), async {
    ///     tx.send(2).await.map_err(trio::Error::from)
    /// }).await?;
    /// assert_eq!(r, None); // cancelled while waiting for room
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn send(&self, value: T) -> BroadcastSend<'_, T> {
        BroadcastSend {
            chan: self,
            value: Some(value),
            key: None,
            yielded: false,
            cancel: CancelRegistration::new(),
        }
    }

    fn try_send(
        &self,
        s: &mut State<T>,
        value: T,
        wake: &mut Vec<Waker>,
    ) -> std::result::Result<(), (ErrorKind, T)> {
        if s.senders.get(self.handle).is_none_or(|c| *c) {
            return Err((ErrorKind::ClosedResource, value));
        }
        if s.open_recv == 0 {
            return Err((ErrorKind::BrokenResource, value));
        }
        s.settle(wake);
        if s.buf.len() < s.cap && s.send_order.is_empty() {
            s.buf.push_back(value);
            s.wake_receivers(wake);
            return Ok(());
        }
        Err((ErrorKind::WouldBlock, value))
    }

    /// Sends if there is room now.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send), plus [`ErrorKind::WouldBlock`] if the buffer is full.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, _rx) = trio::channel::open_broadcast_channel::<u8>(1);
    /// tx.send_nowait(1).unwrap();
    /// assert_eq!(tx.send_nowait(2).unwrap_err().kind(), trio::ErrorKind::WouldBlock);
    /// ```
    pub fn send_nowait(&self, value: T) -> std::result::Result<(), SendError<T>> {
        let mut wake = Vec::new();
        let r = with(&self.shared, |s| self.try_send(s, value, &mut wake));
        wake_all(wake);
        r.map_err(|(k, v)| SendError::new(k, v))
    }

    /// A new receiver that will see the items sent from now on.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = trio::channel::open_broadcast_channel::<u8>(4);
    /// tx.send_nowait(1).unwrap();
    /// let late = tx.subscribe();
    /// tx.send_nowait(2).unwrap();
    /// assert_eq!(rx.receive_nowait().unwrap(), 1);
    /// assert_eq!(late.receive_nowait().unwrap(), 2); // did not see 1
    /// ```
    pub fn subscribe(&self) -> BroadcastReceiver<T> {
        let tail = with(&self.shared, |s| s.tail());
        BroadcastReceiver::at(self.shared.clone(), tail)
    }

    /// Closes this sender; when every sender is closed, receivers read what is left
    /// and then get [`ErrorKind::EndOfChannel`]. Dropping the sender closes it.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = trio::channel::open_broadcast_channel::<u8>(2);
    /// tx.send_nowait(5).unwrap();
    /// tx.close();
    /// assert_eq!(rx.receive_nowait().unwrap(), 5);
    /// assert_eq!(rx.receive_nowait().unwrap_err().kind(), trio::ErrorKind::EndOfChannel);
    /// ```
    pub fn close(&self) {
        let mut wake = Vec::new();
        with(&self.shared, |s| {
            let Some(c) = s.senders.get_mut(self.handle) else {
                return;
            };
            if *c {
                return;
            }
            *c = true;
            s.open_send -= 1;
            for (_, w) in s.send_waiters.iter_mut() {
                if w.handle == self.handle && !w.done && w.ended.is_none() {
                    w.ended = Some(ErrorKind::ClosedResource);
                    wake.extend(w.waker.take());
                }
            }
            if s.open_send == 0 {
                s.wake_receivers(&mut wake);
            }
        });
        wake_all(wake);
    }

    /// The channel's statistics.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = trio::channel::open_broadcast_channel::<u8>(3);
    /// let _rx2 = rx.clone();
    /// tx.send_nowait(1).unwrap();
    /// let s = tx.statistics();
    /// assert_eq!((s.current_buffer_used, s.open_receive_channels), (1, 2));
    /// ```
    pub fn statistics(&self) -> BroadcastStatistics {
        with(&self.shared, BroadcastStatistics::of)
    }
}

impl<T> Clone for BroadcastSender<T> {
    /// Another sender. A clone of a closed sender is closed: it cannot reopen the
    /// channel (as for memory channels, and Trio).
    fn clone(&self) -> Self {
        let handle = with(&self.shared, |s| {
            let closed = s.senders.get(self.handle).is_none_or(|c| *c);
            if !closed {
                s.open_send += 1;
            }
            s.senders.insert(closed)
        });
        BroadcastSender {
            shared: self.shared.clone(),
            handle,
        }
    }
}

impl<T> Drop for BroadcastSender<T> {
    fn drop(&mut self) {
        self.close();
        with(&self.shared, |s| {
            if s.senders.contains(self.handle) {
                s.senders.remove(self.handle);
            }
        });
    }
}

impl<T> fmt::Debug for BroadcastSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BroadcastSender")
            .field("statistics", &self.statistics())
            .finish()
    }
}

/// The future of [`BroadcastSender::send`].
///
/// # Panics
///
/// If polled again after it completed (outside the [`Future`] contract): its
/// [`SendError`] would have to hand back a value it no longer holds.
#[must_use = "futures do nothing unless awaited"]
pub struct BroadcastSend<'a, T> {
    chan: &'a BroadcastSender<T>,
    value: Option<T>,
    key: Option<usize>,
    yielded: bool,
    cancel: CancelRegistration,
}

impl<T> Unpin for BroadcastSend<'_, T> {}

impl<T> fmt::Debug for BroadcastSend<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BroadcastSend")
    }
}

impl<T> Future for BroadcastSend<'_, T> {
    type Output = std::result::Result<(), SendError<T>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        if this.yielded {
            return Poll::Ready(Ok(()));
        }
        let mut wake = Vec::new();
        let out = match this.key {
            None => {
                let Some(value) = this.value.take() else {
                    panic!("a BroadcastSend was polled after it completed");
                };
                if let Err(e) = checkpoint_if_cancelled() {
                    return Poll::Ready(Err(SendError::from_error(e, value)));
                }
                let chan = this.chan;
                let r = with(&chan.shared, |s| match chan.try_send(s, value, &mut wake) {
                    Err((ErrorKind::WouldBlock, v)) => {
                        let key = s.send_waiters.insert(SendWait {
                            waker: Some(cx.waker().clone()),
                            value: Some(v),
                            handle: chan.handle,
                            done: false,
                            ended: None,
                        });
                        s.send_order.push_back(key);
                        Err(Ok(key))
                    }
                    Err((k, v)) => Err(Err((k, v))),
                    Ok(()) => Ok(()),
                });
                match r {
                    Ok(()) if !should_yield() => Some(Ok(())),
                    Ok(()) => {
                        this.yielded = true;
                        cx.waker().wake_by_ref();
                        None
                    }
                    Err(Err((k, v))) => Some(Err(SendError::new(k, v))),
                    Err(Ok(key)) => {
                        this.key = Some(key);
                        let _ = this.cancel.poll_cancelled(cx);
                        None
                    }
                }
            }
            Some(key) => {
                let cancel = &mut this.cancel;
                with(&this.chan.shared, |s| {
                    let w = s
                        .send_waiters
                        .get_mut(key)
                        .expect("our entry lives until removed");
                    if w.done {
                        s.send_waiters.remove(key);
                        return Some(Ok(()));
                    }
                    if let Some(k) = w.ended {
                        let w = s.send_waiters.remove(key);
                        return Some(Err(SendError::new(k, w.value.expect("unserved"))));
                    }
                    if let Poll::Ready(e) = cancel.poll_cancelled(cx) {
                        let w = s.send_waiters.remove(key);
                        return Some(Err(SendError::from_error(e, w.value.expect("unserved"))));
                    }
                    w.waker = Some(cx.waker().clone());
                    None
                })
            }
        };
        wake_all(wake);
        match out {
            Some(r) => {
                this.key = None;
                this.cancel.clear();
                Poll::Ready(r)
            }
            None => Poll::Pending,
        }
    }
}

impl<T> Drop for BroadcastSend<'_, T> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            let w = with(&self.chan.shared, |s| {
                s.send_waiters
                    .contains(key)
                    .then(|| s.send_waiters.remove(key))
            });
            drop(w);
        }
    }
}

/// The receiving end of a broadcast channel: it reads every item from its position
/// on.
///
/// # Examples
///
/// ```
/// # trio::run(async {
/// let (tx, rx) = trio::channel::open_broadcast_channel::<u8>(2);
/// drop(tx);
/// assert_eq!(rx.receive_or_end().await?, None);
/// # Ok(()) }).unwrap();
/// ```
pub struct BroadcastReceiver<T> {
    shared: Shared<T>,
    handle: usize,
}

impl<T> BroadcastReceiver<T> {
    fn at(shared: Shared<T>, next: u64) -> Self {
        let handle = with(&shared, |s| {
            s.open_recv += 1;
            s.receivers.insert(Cursor {
                next,
                closed: false,
                waker: None,
            })
        });
        BroadcastReceiver { shared, handle }
    }

    /// Reads the next item if one is there (or the end of the channel).
    fn try_receive(
        &self,
        s: &mut State<T>,
        wake: &mut Vec<Waker>,
    ) -> std::result::Result<T, ErrorKind>
    where
        T: Clone,
    {
        let (head, tail) = (s.head, s.tail());
        let Some(c) = s.receivers.get_mut(self.handle) else {
            return Err(ErrorKind::ClosedResource);
        };
        if c.closed {
            return Err(ErrorKind::ClosedResource);
        }
        if c.next < tail {
            let idx = (c.next.max(head) - head) as usize;
            c.next = c.next.max(head) + 1;
            let v = s.buf[idx].clone();
            s.settle(wake);
            return Ok(v);
        }
        if s.open_send == 0 {
            return Err(ErrorKind::EndOfChannel);
        }
        Err(ErrorKind::WouldBlock)
    }

    /// Receives the next item, waiting for one.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::EndOfChannel`] when every sender is closed and this receiver has
    /// read everything; [`ErrorKind::ClosedResource`] if this receiver was closed;
    /// `Cancelled` if cancelled.
    ///
    /// # Cancellation
    ///
    /// A checkpoint; a cancelled receive read nothing (its position is unchanged).
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// let (tx, rx) = trio::channel::open_broadcast_channel::<u8>(1);
    /// trio::open_nursery(async |n| {
    ///     n.start_soon(async move { tx.send(3).await?; Ok(()) })?;
    ///     assert_eq!(rx.receive().await?, 3);
    ///     Ok(())
    /// }).await
    /// # }).unwrap();
    /// ```
    pub async fn receive(&self) -> Result<T>
    where
        T: Clone,
    {
        BroadcastReceive {
            chan: self,
            value: None,
            waiting: false,
            cancel: CancelRegistration::new(),
        }
        .await
    }

    /// Like [`receive`](Self::receive), with the end of the channel as `Ok(None)`.
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
    /// let (tx, rx) = trio::channel::open_broadcast_channel::<u8>(2);
    /// tx.send(1).await?;
    /// drop(tx);
    /// assert_eq!(rx.receive_or_end().await?, Some(1));
    /// assert_eq!(rx.receive_or_end().await?, None);
    /// # Ok(()) }).unwrap();
    /// ```
    pub async fn receive_or_end(&self) -> Result<Option<T>>
    where
        T: Clone,
    {
        match self.receive().await {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.kind() == ErrorKind::EndOfChannel => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Receives an item if one is ready.
    ///
    /// # Errors
    ///
    /// As [`receive`](Self::receive), plus [`ErrorKind::WouldBlock`].
    ///
    /// # Examples
    ///
    /// ```
    /// let (_tx, rx) = trio::channel::open_broadcast_channel::<u8>(1);
    /// assert_eq!(rx.receive_nowait().unwrap_err().kind(), trio::ErrorKind::WouldBlock);
    /// ```
    pub fn receive_nowait(&self) -> Result<T>
    where
        T: Clone,
    {
        let mut wake = Vec::new();
        let r = with(&self.shared, |s| self.try_receive(s, &mut wake));
        wake_all(wake);
        r.map_err(recv_error)
    }

    /// Closes this receiver; it stops holding items back. When every receiver is
    /// closed, senders get [`ErrorKind::BrokenResource`]. Dropping closes it too.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = trio::channel::open_broadcast_channel::<u8>(1);
    /// rx.close();
    /// assert_eq!(tx.send_nowait(1).unwrap_err().kind(), trio::ErrorKind::BrokenResource);
    /// ```
    pub fn close(&self) {
        let mut wake = Vec::new();
        let dropped = with(&self.shared, |s| {
            let Some(c) = s.receivers.get_mut(self.handle) else {
                return VecDeque::new();
            };
            if c.closed {
                return VecDeque::new();
            }
            c.closed = true;
            wake.extend(c.waker.take());
            s.open_recv -= 1;
            if s.open_recv == 0 {
                for (_, w) in s.send_waiters.iter_mut() {
                    if !w.done && w.ended.is_none() {
                        w.ended = Some(ErrorKind::BrokenResource);
                        wake.extend(w.waker.take());
                    }
                }
                s.head += s.buf.len() as u64;
                std::mem::take(&mut s.buf)
            } else {
                s.settle(&mut wake);
                VecDeque::new()
            }
        });
        drop(dropped);
        wake_all(wake);
    }

    /// The channel's statistics.
    ///
    /// # Examples
    ///
    /// ```
    /// let (_tx, rx) = trio::channel::open_broadcast_channel::<u8>(5);
    /// assert_eq!(rx.statistics().max_buffer_size, 5);
    /// ```
    pub fn statistics(&self) -> BroadcastStatistics {
        with(&self.shared, BroadcastStatistics::of)
    }
}

impl<T> Clone for BroadcastReceiver<T> {
    /// A receiver at the same position: it will read the same items. A clone of a
    /// closed receiver is closed.
    fn clone(&self) -> Self {
        let handle = with(&self.shared, |s| {
            let (next, closed) = s
                .receivers
                .get(self.handle)
                .map_or((s.tail(), true), |c| (c.next, c.closed));
            if !closed {
                s.open_recv += 1;
            }
            s.receivers.insert(Cursor {
                next,
                closed,
                waker: None,
            })
        });
        BroadcastReceiver {
            shared: self.shared.clone(),
            handle,
        }
    }
}

impl<T> Drop for BroadcastReceiver<T> {
    fn drop(&mut self) {
        self.close();
        with(&self.shared, |s| {
            if s.receivers.contains(self.handle) {
                s.receivers.remove(self.handle);
            }
        });
    }
}

impl<T> fmt::Debug for BroadcastReceiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BroadcastReceiver")
            .field("statistics", &self.statistics())
            .finish()
    }
}

fn recv_error(kind: ErrorKind) -> Error {
    let msg = match kind {
        ErrorKind::ClosedResource => "this broadcast receiver was closed",
        ErrorKind::EndOfChannel => "every sender is closed and everything was read",
        ErrorKind::WouldBlock => "no new item",
        ErrorKind::BusyResource => "another task is already receiving on this broadcast receiver",
        _ => "receive failed",
    };
    Error::new(kind, msg)
}

struct BroadcastReceive<'a, T> {
    chan: &'a BroadcastReceiver<T>,
    value: Option<T>,
    waiting: bool,
    cancel: CancelRegistration,
}

impl<T> Unpin for BroadcastReceive<'_, T> {}

impl<T: Clone> Future for BroadcastReceive<'_, T> {
    type Output = Result<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        let this = &mut *self;
        if let Some(v) = this.value.take() {
            return Poll::Ready(Ok(v)); // after the schedule point
        }
        if !this.waiting {
            checkpoint_if_cancelled()?;
        }
        let mut wake = Vec::new();
        let chan = this.chan;
        let waiting = this.waiting;
        let r = with(&chan.shared, |s| match chan.try_receive(s, &mut wake) {
            Err(ErrorKind::WouldBlock) => {
                let c = s.receivers.get_mut(chan.handle).expect("open receiver");
                if !waiting && c.waker.is_some() {
                    // One position, one reader at a time.
                    return Err(ErrorKind::BusyResource);
                }
                c.waker = Some(cx.waker().clone());
                Err(ErrorKind::WouldBlock)
            }
            r => r,
        });
        wake_all(wake);
        match r {
            Ok(v) if !this.waiting && !should_yield() => {
                this.cancel.clear();
                Poll::Ready(Ok(v))
            }
            Ok(v) if !this.waiting => {
                // Read at once: yield once before returning it (a schedule point).
                this.value = Some(v);
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            Ok(v) => {
                this.waiting = false;
                this.cancel.clear();
                Poll::Ready(Ok(v))
            }
            Err(ErrorKind::WouldBlock) => {
                this.waiting = true;
                if let Poll::Ready(e) = this.cancel.poll_cancelled(cx) {
                    this.waiting = false;
                    with(&chan.shared, |s| {
                        if let Some(c) = s.receivers.get_mut(chan.handle) {
                            c.waker = None;
                        }
                    });
                    return Poll::Ready(Err(e));
                }
                Poll::Pending
            }
            Err(k) => {
                if this.waiting {
                    this.waiting = false;
                    with(&chan.shared, |s| {
                        if let Some(c) = s.receivers.get_mut(chan.handle) {
                            c.waker = None;
                        }
                    });
                }
                this.cancel.clear();
                Poll::Ready(Err(recv_error(k)))
            }
        }
    }
}

impl<T> Drop for BroadcastReceive<'_, T> {
    fn drop(&mut self) {
        if self.waiting {
            with(&self.chan.shared, |s| {
                if let Some(c) = s.receivers.get_mut(self.chan.handle) {
                    c.waker = None;
                }
            });
        }
    }
}

/// A snapshot of a broadcast channel.
///
/// # Examples
///
/// ```
/// let (tx, _rx) = trio::channel::open_broadcast_channel::<u8>(2);
/// assert_eq!(tx.statistics().open_send_channels, 1);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct BroadcastStatistics {
    /// Items held now (not yet read by every receiver).
    pub current_buffer_used: usize,
    /// The capacity.
    pub max_buffer_size: usize,
    /// Senders not yet closed.
    pub open_send_channels: usize,
    /// Receivers not yet closed.
    pub open_receive_channels: usize,
    /// Tasks blocked in `send`.
    pub tasks_waiting_send: usize,
    /// Tasks blocked in `receive`.
    pub tasks_waiting_receive: usize,
}

impl BroadcastStatistics {
    fn of<T>(s: &mut State<T>) -> BroadcastStatistics {
        BroadcastStatistics {
            current_buffer_used: s.buf.len(),
            max_buffer_size: s.cap,
            open_send_channels: s.open_send,
            open_receive_channels: s.open_recv,
            tasks_waiting_send: s
                .send_waiters
                .iter()
                .filter(|(_, w)| !w.done && w.ended.is_none())
                .count(),
            tasks_waiting_receive: s
                .receivers
                .iter()
                .filter(|(_, c)| c.waker.is_some())
                .count(),
        }
    }
}
