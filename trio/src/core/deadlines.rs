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

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::rc::{Rc, Weak};

use super::cancel::ScopeState;
use crate::error::CancelSource;
use crate::time::Instant;

struct Entry {
    deadline: Instant,
    seq: u64,
    scope: Weak<ScopeState>,
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

impl Entry {
    fn live(&self) -> Option<Rc<ScopeState>> {
        let s = self.scope.upgrade()?;
        (s.deadline_seq.get() == self.seq).then_some(s)
    }
}

#[derive(Default)]
pub(crate) struct Deadlines {
    heap: BinaryHeap<Reverse<Entry>>,
    seq: u64,
    stale: usize,
}

impl Deadlines {
    /// Adds an entry; returns its sequence number (never 0).
    pub(crate) fn add(&mut self, deadline: Instant, scope: Weak<ScopeState>) -> u64 {
        self.seq += 1;
        self.heap.push(Reverse(Entry {
            deadline,
            seq: self.seq,
            scope,
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

    /// Pops every entry due at `now`; returns the scopes to cancel.
    pub(crate) fn expire(&mut self, now: Instant) -> Vec<Rc<ScopeState>> {
        let mut due = Vec::new();
        while let Some(Reverse(top)) = self.heap.peek() {
            if top.deadline > now {
                break;
            }
            let Reverse(e) = self.heap.pop().expect("peeked");
            match e.live() {
                Some(s) => {
                    s.deadline_seq.set(0);
                    due.push(s);
                }
                None => self.stale = self.stale.saturating_sub(1),
            }
        }
        due
    }
}

/// Cancels every scope in `due` because its deadline passed.
pub(crate) fn cancel_due(due: Vec<Rc<ScopeState>>) {
    for s in due {
        s.cancel(CancelSource::Deadline, None);
    }
}
