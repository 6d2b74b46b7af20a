//! The state of a memory channel, and every transition of it.
//!
//! The state is the same for both flavours; only the lock around it differs
//! (`flavour.rs`). Every function here runs with the lock held and never wakes
//! anyone itself: it returns the wakers to wake, and the caller wakes them after
//! unlocking — so a waker that runs code (or takes another lock) can never deadlock
//! or re-enter the channel.
//!
//! Invariants:
//! * a receiver waits only when the buffer is empty and no sender waits;
//! * a sender waits only when the buffer is full (`len == max`) and no receiver
//!   waits;
//! * a waiting entry is in its FIFO (`queued`) until it is served or ended; a served
//!   entry stays in the slab, carrying its outcome, until its future collects it.

use std::collections::{BTreeMap, VecDeque};
use std::task::Waker;

use slab::Slab;

use crate::error::ErrorKind;

/// A FIFO of waiting operations with O(1) removal from the middle.
#[allow(missing_debug_implementations)]
pub struct WaitQueue<E> {
    slots: Slab<(E, u64, bool)>,
    order: VecDeque<(usize, u64)>,
    seq: u64,
    queued: usize,
}

impl<E> WaitQueue<E> {
    fn new() -> Self {
        WaitQueue {
            slots: Slab::new(),
            order: VecDeque::new(),
            seq: 0,
            queued: 0,
        }
    }

    pub(crate) fn push(&mut self, e: E) -> usize {
        self.seq += 1;
        let key = self.slots.insert((e, self.seq, true));
        self.order.push_back((key, self.seq));
        self.queued += 1;
        key
    }

    /// Takes the longest-waiting entry out of the FIFO (it stays in the slab).
    pub(crate) fn pop_front(&mut self) -> Option<usize> {
        while let Some((key, seq)) = self.order.pop_front() {
            if let Some((_, s, queued)) = self.slots.get_mut(key) {
                if *s == seq && *queued {
                    *queued = false;
                    self.queued -= 1;
                    return Some(key);
                }
            }
        }
        None
    }

    pub(crate) fn get_mut(&mut self, key: usize) -> Option<&mut E> {
        self.slots.get_mut(key).map(|(e, _, _)| e)
    }

    /// Removes an entry (served or not).
    pub(crate) fn remove(&mut self, key: usize) -> Option<E> {
        if !self.slots.contains(key) {
            return None;
        }
        let (e, _, queued) = self.slots.remove(key);
        if queued {
            self.queued -= 1;
            if self.order.len() > 32 && self.order.len() > 2 * self.queued {
                let slots = &self.slots;
                self.order
                    .retain(|(k, seq)| slots.get(*k).is_some_and(|(_, s, q)| s == seq && *q));
            }
        }
        Some(e)
    }

    /// Ends every queued entry for which `pick` says so (it is dequeued; `end` sets
    /// its outcome and returns its waker).
    fn end_where(
        &mut self,
        mut pick: impl FnMut(&E) -> bool,
        mut end: impl FnMut(&mut E) -> Option<Waker>,
        wake: &mut Vec<Waker>,
    ) {
        for (_, (e, _, queued)) in self.slots.iter_mut() {
            if *queued && pick(e) {
                *queued = false;
                self.queued -= 1;
                wake.extend(end(e));
            }
        }
    }

    pub(crate) fn waiting(&self) -> usize {
        self.queued
    }
}

/// A sender blocked because the buffer was full. It keeps its value until a
/// receiver takes it (then `taken`) or the wait ends with an error.
#[allow(missing_debug_implementations)]
pub struct SendWaiter<T> {
    pub(crate) waker: Option<Waker>,
    pub(crate) value: Option<T>,
    pub(crate) taken: bool,
    pub(crate) ended: Option<ErrorKind>,
    pub(crate) handle: usize,
}

/// A receiver blocked because nothing was available. A sender hands it a value
/// directly, or the wait ends with an error.
#[allow(missing_debug_implementations)]
pub struct RecvWaiter<T> {
    pub(crate) waker: Option<Waker>,
    pub(crate) value: Option<T>,
    /// The delivery number of `value` (see `State::returned`).
    pub(crate) seq: u64,
    pub(crate) ended: Option<ErrorKind>,
    pub(crate) handle: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Send,
    Receive,
}

pub(crate) struct HandleState {
    pub(crate) side: Side,
    pub(crate) closed: bool,
}

/// Everything a channel is. (`pub` only so the sealed flavour trait can name it;
/// the module is private.)
#[allow(missing_debug_implementations)]
pub struct State<T> {
    pub(crate) buffer: VecDeque<T>,
    /// Items that reached a receiver whose future was then dropped, keyed by their
    /// delivery number: they come out again first, in their original order. (An
    /// item leaves the channel only from the front, so returned items always
    /// precede the buffer.)
    pub(crate) returned: BTreeMap<u64, T>,
    /// How many items have left the channel (numbers deliveries).
    pub(crate) out_seq: u64,
    pub(crate) max: usize,
    pub(crate) peak: usize,
    pub(crate) handles: Slab<HandleState>,
    pub(crate) open_send: usize,
    pub(crate) open_recv: usize,
    pub(crate) senders: WaitQueue<SendWaiter<T>>,
    pub(crate) receivers: WaitQueue<RecvWaiter<T>>,
}

/// Why an immediate send could not happen (the value comes back).
pub(crate) enum SendFail<T> {
    Error(ErrorKind, T),
    Full(T),
}

impl<T> State<T> {
    pub(crate) fn new(max: usize) -> State<T> {
        State {
            buffer: VecDeque::new(),
            returned: BTreeMap::new(),
            out_seq: 0,
            max,
            peak: 0,
            handles: Slab::new(),
            open_send: 0,
            open_recv: 0,
            senders: WaitQueue::new(),
            receivers: WaitQueue::new(),
        }
    }

    pub(crate) fn add_handle(&mut self, side: Side) -> usize {
        match side {
            Side::Send => self.open_send += 1,
            Side::Receive => self.open_recv += 1,
        }
        self.handles.insert(HandleState {
            side,
            closed: false,
        })
    }

    /// A new handle on the same side as `handle`: open if `handle` is, closed (and
    /// not counted) if it is not — so a clone can never reopen a channel whose
    /// senders or receivers have all closed (Trio's `clone` raises
    /// `ClosedResourceError` on a closed handle).
    pub(crate) fn clone_handle(&mut self, handle: usize) -> usize {
        let side = self.handles[handle].side;
        if self.is_closed(handle) {
            self.handles.insert(HandleState { side, closed: true })
        } else {
            self.add_handle(side)
        }
    }

    pub(crate) fn is_closed(&self, handle: usize) -> bool {
        self.handles.get(handle).is_none_or(|h| h.closed)
    }

    /// Sends at once if possible: to the longest-waiting receiver, else into the
    /// buffer.
    pub(crate) fn try_send(
        &mut self,
        handle: usize,
        value: T,
    ) -> Result<Option<Waker>, SendFail<T>> {
        if self.is_closed(handle) {
            return Err(SendFail::Error(ErrorKind::ClosedResource, value));
        }
        if self.open_recv == 0 {
            return Err(SendFail::Error(ErrorKind::BrokenResource, value));
        }
        if let Some(key) = self.receivers.pop_front() {
            let seq = self.next_out();
            let r = self.receivers.get_mut(key).expect("popped key is live");
            r.value = Some(value);
            r.seq = seq;
            return Ok(r.waker.take());
        }
        if self.buffer.len() < self.max {
            self.buffer.push_back(value);
            self.peak = self.peak.max(self.buffer.len());
            return Ok(None);
        }
        Err(SendFail::Full(value))
    }

    /// Receives at once if possible: from the buffer (refilling it from the
    /// longest-waiting sender), else straight from a waiting sender.
    pub(crate) fn try_receive(
        &mut self,
        handle: usize,
    ) -> Result<(T, u64, Option<Waker>), ErrorKind> {
        if self.is_closed(handle) {
            return Err(ErrorKind::ClosedResource);
        }
        if let Some((seq, v)) = self.returned.pop_first() {
            return Ok((v, seq, None));
        }
        if let Some(v) = self.buffer.pop_front() {
            let seq = self.next_out();
            let mut waker = None;
            // (The buffer can be over `max` after a `put_back`: then no room yet.)
            if self.buffer.len() < self.max {
                if let Some(key) = self.senders.pop_front() {
                    let s = self.senders.get_mut(key).expect("popped key is live");
                    self.buffer
                        .push_back(s.value.take().expect("a waiting sender holds its value"));
                    s.taken = true;
                    waker = s.waker.take();
                }
            }
            return Ok((v, seq, waker));
        }
        if let Some(key) = self.senders.pop_front() {
            let seq = self.next_out();
            let s = self.senders.get_mut(key).expect("popped key is live");
            let v = s.value.take().expect("a waiting sender holds its value");
            s.taken = true;
            return Ok((v, seq, s.waker.take()));
        }
        if self.open_send == 0 {
            return Err(ErrorKind::EndOfChannel);
        }
        Err(ErrorKind::WouldBlock)
    }

    /// Gives back a value a receiver got but could not return (its future was
    /// dropped): to the next waiting receiver, else to the front of the buffer
    /// (which may then hold more than `max` items). `Err(value)` if nobody can
    /// receive it any more: the caller drops it, as the buffer was, after unlocking.
    pub(crate) fn put_back(&mut self, value: T, seq: u64) -> Result<Option<Waker>, T> {
        if self.open_recv == 0 {
            return Err(value);
        }
        if let Some(key) = self.receivers.pop_front() {
            let r = self.receivers.get_mut(key).expect("popped key is live");
            r.value = Some(value);
            r.seq = seq;
            return Ok(r.waker.take());
        }
        self.returned.insert(seq, value);
        Ok(None)
    }

    fn next_out(&mut self) -> u64 {
        self.out_seq += 1;
        self.out_seq
    }

    /// Items held now: the buffer and the returned items.
    pub(crate) fn held(&self) -> usize {
        self.buffer.len() + self.returned.len()
    }

    /// Closes one handle; returns the wakers of the waits this ends.
    pub(crate) fn close(&mut self, handle: usize) -> (Vec<Waker>, VecDeque<T>) {
        let mut wake = Vec::new();
        let mut dropped = VecDeque::new();
        let Some(h) = self.handles.get_mut(handle) else {
            return (wake, dropped);
        };
        if h.closed {
            return (wake, dropped);
        }
        h.closed = true;
        match h.side {
            Side::Send => {
                self.open_send -= 1;
                self.senders.end_where(
                    |s| s.handle == handle,
                    |s| {
                        s.ended = Some(ErrorKind::ClosedResource);
                        s.waker.take()
                    },
                    &mut wake,
                );
                if self.open_send == 0 {
                    self.receivers.end_where(
                        |_| true,
                        |r| {
                            r.ended = Some(ErrorKind::EndOfChannel);
                            r.waker.take()
                        },
                        &mut wake,
                    );
                }
            }
            Side::Receive => {
                self.open_recv -= 1;
                self.receivers.end_where(
                    |r| r.handle == handle,
                    |r| {
                        r.ended = Some(ErrorKind::ClosedResource);
                        r.waker.take()
                    },
                    &mut wake,
                );
                if self.open_recv == 0 {
                    dropped = std::mem::take(&mut self.returned).into_values().collect();
                    dropped.append(&mut self.buffer);
                    self.senders.end_where(
                        |_| true,
                        |s| {
                            s.ended = Some(ErrorKind::BrokenResource);
                            s.waker.take()
                        },
                        &mut wake,
                    );
                }
            }
        }
        (wake, dropped)
    }

    /// Forgets a closed handle entirely (its value was dropped).
    pub(crate) fn forget_handle(&mut self, handle: usize) {
        if self.handles.contains(handle) {
            self.handles.remove(handle);
        }
    }
}
