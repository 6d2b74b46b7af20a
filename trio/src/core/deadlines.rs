//! The deadline heap: when each cancel scope with a deadline expires.
//!
//! A binary heap ordered by `(deadline, seq)` with *lazy deletion*, as in Trio: when
//! a scope exits or moves its deadline, its old entry is not searched for; the scope
//! simply forgets the entry's sequence number, and the entry is discarded when it
//! reaches the top. Entering and leaving a scope thus costs one `push`, and an
//! expiry check looks only at the top. Stale entries are counted, and when they
//! outnumber the live ones (and there are more than a thousand) the heap is rebuilt
//! without them, so a program that keeps setting long timeouts it never reaches
//! (the `timers_cancel` pattern) holds a bounded heap.
//!
//! Alternative measured against: a hierarchical timer wheel gives O(1) insert but
//! needs a tick and cascading, and trio's deadlines are exact instants from a
//! pluggable clock; the heap's O(log n) insert stays small at the sizes that occur.

use std::cell::{Cell, RefCell};
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::rc::{Rc, Weak};
use std::task::Waker;

use super::cancel::ScopeState;
use crate::error::CancelSource;
use crate::time::Instant;

/// What a deadline is for: a cancel scope (cancelled when it passes) or a sleeping
/// task (woken). A sleep does not need a whole cancel scope — only its waker — so
/// it costs one small allocation instead of a scope node.
enum Target {
    Scope(Weak<ScopeState>),
    Sleeper(Weak<SleeperSlot>),
}

/// The heap side of one `sleep`: the sleeping task's waker. `seq` is the live
/// entry's number, or 0 once the deadline fired.
pub(crate) struct SleeperSlot {
    pub(crate) waker: RefCell<Option<Waker>>,
    pub(crate) seq: Cell<u64>,
}

struct Entry {
    deadline: Instant,
    seq: u64,
    target: Target,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.deadline, self.seq) == (other.deadline, other.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.deadline, self.seq).cmp(&(other.deadline, other.seq))
    }
}

enum Due {
    Scope(Rc<ScopeState>),
    Sleeper(Rc<SleeperSlot>),
}

impl Entry {
    fn live(&self) -> Option<Due> {
        match &self.target {
            Target::Scope(w) => {
                let s = w.upgrade()?;
                (s.deadline_seq.get() == self.seq).then_some(Due::Scope(s))
            }
            Target::Sleeper(w) => {
                let s = w.upgrade()?;
                (s.seq.get() == self.seq).then_some(Due::Sleeper(s))
            }
        }
    }
}

#[derive(Default)]
pub(crate) struct Deadlines {
    heap: BinaryHeap<Reverse<Entry>>,
    seq: u64,
    stale: usize,
}

impl Deadlines {
    /// Adds an entry for a scope; returns its sequence number (never 0).
    pub(crate) fn add(&mut self, deadline: Instant, scope: Weak<ScopeState>) -> u64 {
        self.push(deadline, Target::Scope(scope))
    }

    /// Adds an entry for a sleeper; returns its sequence number (never 0).
    pub(crate) fn add_sleeper(&mut self, deadline: Instant, slot: Weak<SleeperSlot>) -> u64 {
        self.push(deadline, Target::Sleeper(slot))
    }

    fn push(&mut self, deadline: Instant, target: Target) -> u64 {
        self.seq += 1;
        self.heap.push(Reverse(Entry {
            deadline,
            seq: self.seq,
            target,
        }));
        self.seq
    }

    /// Records that one entry went stale (its scope exited or moved its deadline).
    pub(crate) fn note_stale(&mut self) {
        self.stale += 1;
        if self.stale > 1000 && self.stale > self.heap.len() / 2 {
            let old = std::mem::take(&mut self.heap).into_vec();
            self.heap = old
                .into_iter()
                .filter(|Reverse(e)| e.live().is_some())
                .collect();
            self.stale = 0;
        }
    }

    /// The earliest live deadline.
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(Reverse(top)) = self.heap.peek() {
            if top.live().is_some() {
                return Some(top.deadline);
            }
            self.heap.pop();
            self.stale = self.stale.saturating_sub(1);
        }
        None
    }

    /// True if no entry (live or stale) is queued.
    pub(crate) fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Pops every entry due at `now`: returns the scopes to cancel and the wakers of
    /// the sleepers to wake (the caller acts on them after releasing the heap).
    pub(crate) fn expire(&mut self, now: Instant) -> (Vec<Rc<ScopeState>>, Vec<Waker>) {
        let mut scopes = Vec::new();
        let mut wakers = Vec::new();
        while let Some(Reverse(top)) = self.heap.peek() {
            if top.deadline > now {
                break;
            }
            let Reverse(e) = self.heap.pop().expect("peeked");
            match e.live() {
                Some(Due::Scope(s)) => {
                    s.deadline_seq.set(0);
                    scopes.push(s);
                }
                Some(Due::Sleeper(s)) => {
                    s.seq.set(0);
                    wakers.extend(s.waker.borrow_mut().take());
                }
                None => self.stale = self.stale.saturating_sub(1),
            }
        }
        (scopes, wakers)
    }
}

/// Cancels every scope in `due` because its deadline passed.
pub(crate) fn cancel_due(due: Vec<Rc<ScopeState>>) {
    for s in due {
        s.cancel(CancelSource::Deadline, None);
    }
}
