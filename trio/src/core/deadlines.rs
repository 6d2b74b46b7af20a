//! The deadline queue: when each cancel scope with a deadline expires and each
//! sleeping task wakes.
//!
//! # Structure: a radix heap with an exact `near` heap
//!
//! Entries are ordered by `(deadline, seq)`. A deadline is mapped to an
//! order-preserving `u64` key (the `i64` nanoseconds with the sign bit flipped:
//! `NEG_INFINITY` is 0, `INFINITY` is `u64::MAX`), and the queue keeps a threshold
//! `last`:
//!
//! - `near`, a binary heap exactly ordered by `(deadline, seq)`, holds the entries
//!   whose key is `<= last`;
//! - `buckets[b]`, an unordered `Vec`, holds the entries whose key is `> last` and
//!   first differs from `last` at bit `b`. Every key in bucket `b` is below every
//!   key in bucket `b + 1`, and each bucket remembers its smallest key.
//!
//! The earliest entry is therefore `near`'s top, or else in the lowest non-empty
//! bucket, whose smallest key is known without a search. [`Deadlines::advance`]
//! empties that bucket by raising `last` to a key inside it and re-filing the
//! bucket's entries, each into `near` or a *lower* bucket (the buckets above stay
//! valid: the new `last` agrees with the old one on their bits). An entry moves a
//! few times in its life, by sequential scans of `Vec`s, where a binary heap of
//! 100,000 entries does 17 levels of cache-missing comparisons per pop.
//! `expire(now)` goes further: it raises `last` as far as `now` at once, so a
//! bucket whose keys are all due moves to the due list without any re-filing, and
//! the due list is sorted once.
//!
//! # Exactness
//!
//! A textbook radix heap (a monotone priority queue) cannot take a key below
//! `last`; a timer queue gets one whenever a scope's deadline is already past, or a
//! new timer is earlier than the deadline `next_deadline` just looked at. Such keys
//! go to `near`, which is why `near` is a heap and not a list. Nothing is clamped
//! or rounded: `next_deadline` is the exact earliest live deadline (the mock
//! clock's autojump lands exactly on it), and `expire` hands out the due entries
//! in `(deadline, seq)` order — the order of the binary heap this replaced, so a
//! seeded run replays the same interleaving.
//!
//! `near` must stay small for the structure to pay, so `last` should not run
//! ahead of the clock: `next_deadline` has to raise it to the earliest key (to
//! isolate that entry), and with timeouts of random length (`timeout_yield`) every
//! later, earlier-expiring timeout went to `near` — which then was the whole
//! binary heap again (its push and pop were back at 14% of that profile). Hence:
//! `Runner::quiet_for`, which only asks "is anything due now?", uses
//! [`Deadlines::any_due`] and calls `next_deadline` only if something is; the run
//! loop calls `next_deadline` only when it is about to sleep; and each rebuild (see
//! below) files the survivors afresh relative to the earliest of them, bringing
//! `last` back down.
//!
//! # Lazy deletion
//!
//! As in Trio, when a scope exits or moves its deadline (or a sleep is cancelled),
//! its old entry is not searched for: the owner forgets the entry's sequence number
//! (`ScopeState::deadline_seq`, `SleeperSlot::seq`), and the entry is discarded when
//! it comes due or reaches the front. Entering and leaving a scope thus costs one
//! push onto a `Vec`, and an expiry check looks at `near`'s top or at one bucket
//! minimum. Stale entries are counted, and when they outnumber the live ones (and
//! there are more than a thousand) the queue is rebuilt without them, so a program
//! that keeps setting long timeouts it never reaches (the `timers_cancel` pattern)
//! holds a bounded queue. Vectors keep their allocation between uses (a rebuild
//! gives it back): growing a large vector afresh at every expiry made glibc
//! consolidate its free lists each time, 12% of `timers_sleep`.
//!
//! # Measurements
//!
//! `trio-bench --runs 1 --only timers_sleep,timers_cancel,timeout_yield --runtimes
//! trio`, ns/op, the binary-heap build and this one run alternately six times each
//! on a 2-vCPU VM (median [min–max]):
//!
//! | structure | timers_sleep | timers_cancel | timeout_yield |
//! |---|---:|---:|---:|
//! | `BinaryHeap<(deadline, seq)>` | 712 [606–726] | 95.6 [93.3–97.5] | 148 [144–162] |
//! | radix heap + `near` (this) | 599 [561–635] | 74.5 [73.4–75.9] | 131 [130–132] |
//!
//! The steps, in `timers_sleep` profiles: with the binary heap, `BinaryHeap::pop`
//! was 17% and the queue 21% in all. A plain radix heap (pop one entry at a time)
//! brought the queue to 19%: fewer moves, but each liveness check (a read of the
//! scope or sleep slot, a cache miss the heap's sift-down used to hide) was now
//! exposed. Gathering the due entries first and checking them in one pass over a
//! vector (the CPU overlaps the misses), moving whole due buckets at once and
//! sorting by one `u128` rank: 13%, plus the vector growth noted above, which the
//! reuse of `due` and of the run loop's `Expired` removed. A hierarchical timer
//! wheel (tokio's) was considered: it works in ticks, so exact ordering would need
//! a sort inside the current slot, and its cursor has the same "ahead of the
//! clock" problem as `last`; the radix heap is a wheel whose slot widths follow the
//! distance to the threshold, with no tick and no cascade schedule.

use std::cell::{Cell, RefCell};
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::rc::{Rc, Weak};
use std::task::Waker;

use super::cancel::ScopeState;
use crate::time::Instant;

/// What a deadline is for: a cancel scope (cancelled when it passes) or a sleeping
/// task (woken). A sleep does not need a whole cancel scope — only its waker — so
/// it costs one small allocation instead of a scope node.
enum Target {
    Scope(Weak<ScopeState>),
    Sleeper(Weak<SleeperSlot>),
}

/// The queue side of one `sleep`: the sleeping task's waker. `seq` is the live
/// entry's number, or 0 once the deadline fired.
pub(in crate::core) struct SleeperSlot {
    pub(in crate::core) waker: RefCell<Option<Waker>>,
    pub(in crate::core) seq: Cell<u64>,
}

struct Entry {
    deadline: Instant,
    seq: u64,
    target: Target,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.rank() == other.rank()
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
        self.rank().cmp(&other.rank())
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

    fn key(&self) -> u64 {
        key(self.deadline)
    }

    /// `(deadline, seq)` as one integer, so that ordering is one comparison
    /// (sorting a large batch by it is faster than by the pair).
    fn rank(&self) -> u128 {
        (u128::from(self.key()) << 64) | u128::from(self.seq)
    }
}

/// The deadline as an order-preserving unsigned key: `a < b` iff `key(a) < key(b)`
/// (`NEG_INFINITY` is 0, `INFINITY` is `u64::MAX`).
fn key(d: Instant) -> u64 {
    (d.as_nanos() as u64) ^ (1 << 63)
}

/// Entries whose key is above `last` and first differs from it at one bit.
struct Bucket {
    entries: Vec<Entry>,
    /// The smallest key in `entries` (meaningless while `entries` is empty).
    min: u64,
}

/// The run's deadlines (see the module documentation).
///
/// Invariants:
/// - every entry of `near` has `key <= last`;
/// - every entry of `buckets[b]` has `key > last` and `63 - (key ^ last).leading_zeros() == b`;
/// - bit `b` of `nonempty` is set iff `buckets[b].entries` is not empty, and then
///   `buckets[b].min` is the smallest key there;
/// - `len` counts the entries of `near` and of all buckets, live or stale;
/// - `stale` is at most the number of stale entries queued (it may be lower: an
///   entry whose owner was dropped without calling `note_stale` is stale uncounted).
pub(in crate::core) struct Deadlines {
    near: BinaryHeap<Reverse<Entry>>,
    buckets: [Bucket; 64],
    nonempty: u64,
    /// The threshold between `near` and the buckets: the earliest key when the
    /// queue last looked for it, or the time of the last expiry.
    last: u64,
    len: usize,
    seq: u64,
    stale: usize,
    /// `expire`'s list of due entries, kept (empty) between calls for its
    /// allocation: growing a large vector afresh at every expiry was 12% of
    /// `timers_sleep` (glibc consolidates its free lists on each large `realloc`).
    due: Vec<Entry>,
}

impl Default for Deadlines {
    fn default() -> Self {
        Deadlines {
            near: BinaryHeap::new(),
            buckets: std::array::from_fn(|_| Bucket {
                entries: Vec::new(),
                min: u64::MAX,
            }),
            nonempty: 0,
            last: 0,
            len: 0,
            seq: 0,
            stale: 0,
            due: Vec::new(),
        }
    }
}

impl Deadlines {
    /// Adds an entry for a scope; returns its sequence number (never 0).
    pub(in crate::core) fn add(&mut self, deadline: Instant, scope: Weak<ScopeState>) -> u64 {
        self.push(deadline, Target::Scope(scope))
    }

    /// Adds an entry for a sleeper; returns its sequence number (never 0).
    pub(in crate::core) fn add_sleeper(
        &mut self,
        deadline: Instant,
        slot: Weak<SleeperSlot>,
    ) -> u64 {
        self.push(deadline, Target::Sleeper(slot))
    }

    fn push(&mut self, deadline: Instant, target: Target) -> u64 {
        self.seq += 1;
        self.len += 1;
        self.file(Entry {
            deadline,
            seq: self.seq,
            target,
        });
        self.seq
    }

    /// Puts `e` where the invariants want it, relative to the current `last`.
    fn file(&mut self, e: Entry) {
        let k = e.key();
        if k <= self.last {
            self.near.push(Reverse(e));
            return;
        }
        let b = 63 - (k ^ self.last).leading_zeros() as usize;
        let bucket = &mut self.buckets[b];
        if bucket.entries.is_empty() || k < bucket.min {
            bucket.min = k;
        }
        bucket.entries.push(e);
        self.nonempty |= 1 << b;
    }

    /// The smallest key outside `near`, if any entry is outside `near`.
    fn bucket_min(&self) -> Option<u64> {
        (self.nonempty != 0).then(|| self.buckets[self.nonempty.trailing_zeros() as usize].min)
    }

    /// With `near` empty, empties the lowest bucket: raises `last` to `new_last`
    /// and re-files the bucket's entries relative to it, except that those with a
    /// key `<= new_last` go to `due` if given (else to `near`). `new_last` must lie
    /// between the bucket's smallest key and its top (`last` with every bit up to the
    /// bucket's set). Then every entry of the bucket lands in `due`, `near` or a
    /// lower bucket: they all share `last`'s bits above the bucket's bit and have
    /// that bit set, as `new_last` does. The higher buckets stay valid: `new_last`
    /// agrees with the old `last` on their bits.
    fn advance(&mut self, new_last: u64, mut due: Option<&mut Vec<Entry>>) {
        debug_assert!(self.near.is_empty() && self.nonempty != 0);
        let b = self.nonempty.trailing_zeros() as usize;
        debug_assert!(self.buckets[b].min <= new_last && new_last <= self.bucket_top(b));
        self.nonempty &= !(1 << b);
        self.last = new_last;
        let mut entries = std::mem::take(&mut self.buckets[b].entries);
        for e in entries.drain(..) {
            match &mut due {
                Some(due) if e.key() <= new_last => due.push(e),
                _ => self.file(e),
            }
        }
        // Keep the allocation: the bucket is likely to fill again — unless it is
        // large next to everything queued (a crowd of timers set at once, now
        // spread over lower buckets), which would hold memory for nothing.
        if entries.capacity() <= 1024 || entries.capacity() <= self.len / 2 {
            self.buckets[b].entries = entries;
        }
    }

    /// The largest key bucket `b` can hold.
    fn bucket_top(&self, b: usize) -> u64 {
        self.last | (u64::MAX >> (63 - b))
    }

    /// Records that one entry went stale (its scope exited or moved its deadline).
    pub(in crate::core) fn note_stale(&mut self) {
        self.stale += 1;
        if self.stale > 1000 && self.stale > self.len / 2 {
            self.drop_stale();
        }
    }

    /// Filters every stale entry out and gives back the memory they held. The
    /// live entries are filed afresh relative to the earliest of them, which also
    /// brings `last` back down if `next_deadline` had pushed it ahead of later
    /// additions (those went to `near`).
    fn drop_stale(&mut self) {
        let mut live = std::mem::take(&mut self.due);
        live.extend(self.near.drain().map(|Reverse(e)| e));
        self.near.shrink_to_fit();
        for bucket in &mut self.buckets {
            live.append(&mut bucket.entries);
            bucket.entries.shrink_to_fit();
        }
        self.nonempty = 0;
        live.retain(|e| e.live().is_some());
        if let Some(min) = live.iter().map(Entry::key).min() {
            self.last = min;
        }
        self.len = live.len();
        for e in live.drain(..) {
            self.file(e);
        }
        live.shrink_to_fit();
        self.due = live;
        self.stale = 0;
    }

    /// True if some entry, live or stale, is due at `now`: a check that needs no
    /// search. When it is false, the earliest live deadline is later than `now` (or
    /// there is none) — which is all a caller that only compares with `now` needs,
    /// without [`next_deadline`](Self::next_deadline) raising `last` ahead of the
    /// clock.
    pub(in crate::core) fn any_due(&self, now: Instant) -> bool {
        match self.near.peek() {
            Some(Reverse(top)) => top.deadline <= now,
            None => self.bucket_min().is_some_and(|k| k <= key(now)),
        }
    }

    /// The earliest live deadline (exact).
    pub(in crate::core) fn next_deadline(&mut self) -> Option<Instant> {
        loop {
            match self.near.peek() {
                Some(Reverse(top)) => {
                    if top.live().is_some() {
                        return Some(top.deadline);
                    }
                    self.near.pop();
                    self.len -= 1;
                    self.stale = self.stale.saturating_sub(1);
                }
                None => self.advance(self.bucket_min()?, None),
            }
        }
    }

    /// True if no entry (live or stale) is queued.
    pub(in crate::core) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Takes out every entry due at `now`, in `(deadline, seq)` order, appending to
    /// `out` the scopes to cancel and the wakers of the sleepers to wake (the caller
    /// acts on them after releasing the queue).
    ///
    /// The due entries are gathered first and checked for liveness afterwards, in
    /// one pass: each check reads the entry's scope or sleep slot, usually a cache
    /// miss, and a pass over a vector lets the CPU overlap those misses. A whole
    /// bucket whose keys are all due moves to `due` at once, without being re-filed.
    pub(in crate::core) fn expire(&mut self, now: Instant, out: &mut Expired) {
        let now_key = key(now);
        let mut due = std::mem::take(&mut self.due);
        while let Some(Reverse(top)) = self.near.peek() {
            if top.deadline > now {
                break;
            }
            due.push(self.near.pop().expect("peeked").0);
        }
        if self.near.is_empty() {
            // Everything left is in the buckets, above `last`.
            while let Some(min) = self.bucket_min() {
                if min > now_key {
                    break;
                }
                let b = self.nonempty.trailing_zeros() as usize;
                let new_last = now_key.min(self.bucket_top(b));
                self.advance(new_last, Some(&mut due));
            }
        }
        // `near` gave its entries in order; the buckets' come unordered.
        due.sort_unstable_by_key(Entry::rank);
        self.len -= due.len();
        for e in due.drain(..) {
            match e.live() {
                Some(Due::Scope(s)) => {
                    s.deadline_seq.set(0);
                    out.scopes.push(s);
                }
                Some(Due::Sleeper(s)) => {
                    s.seq.set(0);
                    out.wakers.extend(s.waker.borrow_mut().take());
                }
                None => self.stale = self.stale.saturating_sub(1),
            }
        }
        self.due = due;
    }
}

/// What [`Deadlines::expire`] found due. The run loop keeps one and reuses its
/// vectors (as `Deadlines` does its `due`): a fresh `Vec<Waker>` grown to a large
/// batch at every expiry cost as much again as the whole queue in `timers_sleep`.
#[derive(Default)]
pub(in crate::core) struct Expired {
    /// Scopes to cancel, in deadline order.
    pub(in crate::core) scopes: Vec<Rc<ScopeState>>,
    /// Wakers of sleepers to wake, in deadline order.
    pub(in crate::core) wakers: Vec<Waker>,
}

impl Expired {
    pub(in crate::core) fn is_empty(&self) -> bool {
        self.scopes.is_empty() && self.wakers.is_empty()
    }

    /// Cancels the scopes (their deadline passed), then wakes the sleepers; leaves
    /// both lists empty, with their allocations.
    pub(in crate::core) fn fire(&mut self) {
        for s in self.scopes.drain(..) {
            s.deadline_passed();
        }
        for w in self.wakers.drain(..) {
            w.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};
    use std::task::Wake;

    /// A waker that records its id in a shared log when woken.
    struct IdWaker {
        id: u64,
        log: Arc<Mutex<Vec<u64>>>,
    }

    impl Wake for IdWaker {
        fn wake(self: Arc<Self>) {
            self.log.lock().unwrap().push(self.id);
        }
    }

    /// Sleepers with ids, and the order in which `expire` hands them out.
    #[derive(Default)]
    struct Harness {
        d: Deadlines,
        log: Arc<Mutex<Vec<u64>>>,
        slots: BTreeMap<u64, Rc<SleeperSlot>>,
        /// Skip the (linear) invariant check after each operation.
        unchecked: bool,
    }

    impl Harness {
        fn sleep(&mut self, id: u64, at: Instant) -> u64 {
            let slot = Rc::new(SleeperSlot {
                waker: RefCell::new(Some(Waker::from(Arc::new(IdWaker {
                    id,
                    log: self.log.clone(),
                })))),
                seq: Cell::new(0),
            });
            let seq = self.d.add_sleeper(at, Rc::downgrade(&slot));
            slot.seq.set(seq);
            self.slots.insert(id, slot);
            self.check();
            seq
        }

        /// Cancels sleeper `id` the way `Sleep::forget` does.
        fn forget(&mut self, id: u64) {
            let slot = self.slots.remove(&id).expect("known sleeper");
            assert_ne!(slot.seq.replace(0), 0);
            self.d.note_stale();
            self.check();
        }

        /// The ids due at `now`, in the order `expire` gave them.
        fn expire(&mut self, now: Instant) -> Vec<u64> {
            let mut out = Expired::default();
            self.d.expire(now, &mut out);
            self.check();
            assert!(out.scopes.is_empty());
            out.fire();
            let ids = std::mem::take(&mut *self.log.lock().unwrap());
            for id in &ids {
                let slot = self.slots.remove(id).expect("woken once");
                assert_eq!(slot.seq.get(), 0, "a fired entry is marked fired");
            }
            ids
        }

        fn check(&self) {
            if !self.unchecked {
                self.d.check();
            }
        }
    }

    impl Deadlines {
        /// Asserts the invariants written on `Deadlines`.
        fn check(&self) {
            let mut len = self.near.len();
            for Reverse(e) in self.near.iter() {
                assert!(e.key() <= self.last);
            }
            for (b, bucket) in self.buckets.iter().enumerate() {
                assert_eq!(self.nonempty & (1 << b) != 0, !bucket.entries.is_empty());
                for e in &bucket.entries {
                    assert!(e.key() > self.last);
                    assert_eq!(63 - (e.key() ^ self.last).leading_zeros() as usize, b);
                }
                if let Some(min) = bucket.entries.iter().map(Entry::key).min() {
                    assert_eq!(bucket.min, min);
                }
                len += bucket.entries.len();
            }
            assert_eq!(self.len, len);
        }
    }

    fn t(nanos: i64) -> Instant {
        Instant::from_nanos(nanos)
    }

    #[test]
    fn keys_keep_the_order_of_instants() {
        let xs = [
            i64::MIN,
            i64::MIN + 1,
            -1_000,
            -1,
            0,
            1,
            1_000,
            i64::MAX - 1,
            i64::MAX,
        ];
        for w in xs.windows(2) {
            assert!(key(t(w[0])) < key(t(w[1])), "{w:?}");
        }
        assert_eq!(key(Instant::NEG_INFINITY), 0);
        assert_eq!(key(Instant::INFINITY), u64::MAX);
    }

    #[test]
    fn ties_fire_in_the_order_they_were_added() {
        let mut h = Harness::default();
        h.sleep(1, t(500));
        h.sleep(2, t(100));
        h.sleep(3, t(500));
        h.sleep(4, t(100));
        h.sleep(5, t(300));
        h.sleep(6, t(500));
        assert_eq!(h.d.next_deadline(), Some(t(100)));
        assert_eq!(h.expire(t(99)), Vec::<u64>::new());
        assert_eq!(h.expire(t(500)), [2, 4, 5, 1, 3, 6]);
        assert!(h.d.is_empty());
        assert_eq!(h.d.next_deadline(), None);
    }

    #[test]
    fn a_large_batch_fires_in_deadline_order() {
        // Many entries due at once, spread over many buckets, with duplicates.
        let mut h = Harness::default();
        let mut rng = fastrand::Rng::with_seed(7);
        let mut want = Vec::new();
        for id in 0..5_000 {
            let at = 1_000_000 + rng.i64(0..10_000_000) / 64 * 64;
            let seq = h.sleep(id, t(at));
            want.push((at, seq, id));
        }
        want.sort();
        let want: Vec<u64> = want.into_iter().map(|(_, _, id)| id).collect();
        let mut got = h.expire(t(1_000_000 + 3_000_000));
        got.extend(h.expire(t(1_000_000 + 3_000_001)));
        assert_eq!(h.d.next_deadline().map(key), Some(h.d.last));
        got.extend(h.expire(t(i64::MAX - 1)));
        assert_eq!(got, want);
    }

    #[test]
    fn an_entry_earlier_than_the_one_looked_at_is_exact() {
        // `next_deadline` raises `last` to the earliest key; adding a deadline
        // below it afterwards must not be rounded up to it.
        let mut h = Harness::default();
        h.sleep(1, t(1_000_000));
        h.sleep(2, t(2_000_000));
        assert_eq!(h.d.next_deadline(), Some(t(1_000_000)));
        h.sleep(3, t(999_999));
        assert_eq!(h.d.next_deadline(), Some(t(999_999)));
        // A deadline already in the past goes before everything else.
        h.sleep(4, t(5));
        h.sleep(5, Instant::NEG_INFINITY);
        h.sleep(6, t(1_000_000));
        assert_eq!(h.d.next_deadline(), Some(Instant::NEG_INFINITY));
        assert_eq!(h.expire(t(10)), [5, 4]);
        assert_eq!(h.d.next_deadline(), Some(t(999_999)));
        assert_eq!(h.expire(t(1_000_000)), [3, 1, 6]);
        assert_eq!(h.expire(t(2_000_000)), [2]);
    }

    #[test]
    fn past_deadlines_after_expire_fire_first_and_in_order() {
        let mut h = Harness::default();
        h.sleep(1, t(50_000));
        h.sleep(2, t(60_000));
        h.sleep(3, t(4_000_000));
        assert_eq!(h.expire(t(55_000)), [1]);
        // `last` is now 55_000: these are all below it.
        h.sleep(4, t(54_000));
        h.sleep(5, t(-3));
        h.sleep(6, t(54_000));
        h.sleep(7, t(55_000));
        assert_eq!(h.d.next_deadline(), Some(t(-3)));
        assert_eq!(h.expire(t(60_000)), [5, 4, 6, 7, 2]);
        assert_eq!(h.d.next_deadline(), Some(t(4_000_000)));
    }

    #[test]
    fn infinite_and_extreme_deadlines() {
        let mut h = Harness::default();
        h.sleep(1, Instant::INFINITY);
        h.sleep(2, t(i64::MAX - 1));
        h.sleep(3, t(i64::MIN + 1));
        h.sleep(4, Instant::NEG_INFINITY);
        h.sleep(5, t(0));
        h.sleep(6, t(-1));
        h.sleep(7, t(1));
        assert_eq!(h.d.next_deadline(), Some(Instant::NEG_INFINITY));
        assert_eq!(h.expire(t(-1)), [4, 3, 6]);
        assert_eq!(h.d.next_deadline(), Some(t(0)));
        assert_eq!(h.expire(t(i64::MAX - 2)), [5, 7]);
        assert_eq!(h.d.next_deadline(), Some(t(i64::MAX - 1)));
        assert_eq!(h.expire(t(i64::MAX - 1)), [2]);
        assert_eq!(h.d.next_deadline(), Some(Instant::INFINITY));
        assert_eq!(h.expire(Instant::INFINITY), [1]);
        assert!(h.d.is_empty());
    }

    #[test]
    fn stale_entries_are_skipped() {
        let mut h = Harness::default();
        for id in 0..10 {
            h.sleep(id, t(1_000 * (id as i64 + 1)));
        }
        h.forget(0);
        h.forget(1);
        h.forget(5);
        // A slot dropped without `note_stale` is stale too.
        h.slots.remove(&2);
        assert_eq!(h.d.next_deadline(), Some(t(4_000)));
        assert_eq!(h.expire(t(7_000)), [3, 4, 6]);
        // Three entries were counted stale, four discarded: the count saturates.
        assert_eq!(h.d.stale, 0);
        // Forgetting the head after `next_deadline` looked at it.
        assert_eq!(h.d.next_deadline(), Some(t(8_000)));
        h.forget(7);
        assert_eq!(h.d.next_deadline(), Some(t(9_000)));
        h.forget(8);
        h.forget(9);
        assert_eq!(h.d.next_deadline(), None);
        assert!(h.d.is_empty());
        assert_eq!(h.expire(Instant::INFINITY), Vec::<u64>::new());
    }

    #[test]
    fn abandoned_deadlines_are_dropped_and_memory_stays_bounded() {
        // The `timers_cancel` pattern: far deadlines set and abandoned, with one
        // long-lived entry and one scope in the mix.
        let mut h = Harness {
            unchecked: true,
            ..Harness::default()
        };
        h.sleep(u64::MAX, t(20_000_000_000));
        let scope = ScopeState::new();
        let seq = h.d.add(t(15_000_000_000), Rc::downgrade(&scope));
        scope.deadline_seq.set(seq);
        let mut rng = fastrand::Rng::with_seed(0xc4_9ce1);
        // A burst of 50,000 abandoned at once: its memory is given back.
        for id in 1_000_000..1_050_000 {
            h.sleep(id, t(10_000_000_000 + rng.i64(0..10_000_000)));
        }
        for id in 1_000_000..1_050_000 {
            h.forget(id);
        }
        for id in 0..100_000 {
            h.sleep(id, t(10_000_000_000 + rng.i64(0..10_000_000)));
            h.forget(id);
            assert!(h.d.len <= 2_003, "{} entries queued", h.d.len);
        }
        h.d.check();
        let cap: usize = h.d.buckets.iter().map(|b| b.entries.capacity()).sum();
        assert!(cap <= 4_096, "capacity {cap}");
        assert_eq!(h.d.next_deadline(), Some(t(15_000_000_000)));
        let mut out = Expired::default();
        h.d.expire(Instant::INFINITY, &mut out);
        assert_eq!(out.scopes.len(), 1);
        assert!(Rc::ptr_eq(&out.scopes[0], &scope));
        assert_eq!(scope.deadline_seq.get(), 0);
        assert_eq!(out.wakers.len(), 1);
        assert!(h.d.is_empty());
    }

    #[test]
    fn a_rebuild_brings_the_threshold_back_down() {
        let mut h = Harness::default();
        h.sleep(0, t(9_000_000));
        h.sleep(1, t(10_000_000));
        // `next_deadline` raises `last` to 9 ms: later additions below it go to
        // `near`, a binary heap.
        assert_eq!(h.d.next_deadline(), Some(t(9_000_000)));
        for id in 2..3_000 {
            h.sleep(id, t(5_000_000 + id as i64));
        }
        assert!(h.d.near.len() >= 2_999);
        for id in 3..2_500 {
            h.forget(id);
        }
        // The rebuild filed the survivors relative to the earliest of them.
        assert_eq!(h.d.last, key(t(5_000_002)));
        assert_eq!(h.d.near.len(), 1);
        assert_eq!(h.d.next_deadline(), Some(t(5_000_002)));
        let mut want = vec![2];
        want.extend(2_500..3_000);
        want.extend([0, 1]);
        assert_eq!(h.expire(t(10_000_000)), want);
    }

    #[test]
    fn any_due_sees_the_earliest_entry_live_or_stale() {
        let mut h = Harness::default();
        assert!(!h.d.any_due(Instant::INFINITY));
        h.sleep(1, t(1_000));
        h.sleep(2, t(2_000));
        assert!(!h.d.any_due(t(999)));
        assert!(h.d.any_due(t(1_000)));
        h.forget(1);
        // Stale entries count: `any_due` is a bound that needs no search.
        assert!(h.d.any_due(t(1_000)));
        assert_eq!(h.d.next_deadline(), Some(t(2_000)));
        assert!(!h.d.any_due(t(1_999)));
        // Below `last`, in `near`.
        h.sleep(3, t(1_500));
        assert!(h.d.any_due(t(1_500)));
        assert!(!h.d.any_due(t(1_499)));
        assert_eq!(h.expire(t(2_000)), [3, 2]);
        assert!(!h.d.any_due(Instant::INFINITY));
    }

    #[test]
    fn scopes_fire_in_deadline_order() {
        let mut d = Deadlines::default();
        let scopes: Vec<_> = (0..4).map(|_| ScopeState::new()).collect();
        for (s, at) in scopes.iter().zip([30, 10, 20, 10]) {
            let seq = d.add(t(at), Rc::downgrade(s));
            s.deadline_seq.set(seq);
        }
        // The scope moved its deadline: its old entry is stale.
        scopes[2].deadline_seq.set(0);
        d.note_stale();
        let seq = d.add(t(5), Rc::downgrade(&scopes[2]));
        scopes[2].deadline_seq.set(seq);
        let mut out = Expired::default();
        d.expire(t(30), &mut out);
        assert!(out.wakers.is_empty());
        let order: Vec<usize> = out
            .scopes
            .iter()
            .map(|s| scopes.iter().position(|x| Rc::ptr_eq(x, s)).unwrap())
            .collect();
        assert_eq!(order, [2, 1, 3, 0]);
        assert!(d.is_empty());
    }

    /// Random interleavings of add, forget, `next_deadline`, `any_due` and
    /// `expire`, checked against a sorted map of the live entries. Odd seeds forget
    /// most of what they add, so that stale entries pile up and get dropped.
    #[test]
    fn matches_a_sorted_map() {
        let mut rebuilds = 0;
        for seed in 0..40 {
            let mut rng = fastrand::Rng::with_seed(seed);
            let mut h = Harness::default();
            let mut live: BTreeMap<(Instant, u64), u64> = BTreeMap::new();
            let mut now: i64 = rng.i64(-1_000_000..1_000_000);
            let mut next_id = 0;
            // Each seed favours a different scale of deadlines.
            let spread = 1i64 << rng.u32(1..40);
            // Cumulative weights (out of 100) of add, forget, next_deadline, any_due;
            // the rest is expire, which moves the clock by up to `spread / step`.
            let (ops, weights, step) = if seed % 2 == 0 {
                (3_000, [50, 65, 75, 80], 4)
            } else {
                (8_000, [52, 92, 95, 97], 256)
            };
            for _ in 0..ops {
                let op = rng.u32(0..100);
                if op < weights[0] {
                    let at = match rng.u32(0..20) {
                        0 => Instant::NEG_INFINITY,
                        1 => Instant::INFINITY,
                        2 => t(i64::MAX - rng.i64(1..4)),
                        3..=5 => t(now - rng.i64(0..spread)),
                        // Duplicates of a live deadline.
                        6..=8 => match live.keys().nth(rng.usize(0..live.len().max(1))) {
                            Some(&(at, _)) => at,
                            None => t(now),
                        },
                        _ => t(now.saturating_add(rng.i64(0..spread))),
                    };
                    let seq = h.sleep(next_id, at);
                    live.insert((at, seq), next_id);
                    next_id += 1;
                } else if op < weights[1] {
                    if let Some(&k) = live.keys().nth(rng.usize(0..live.len().max(1))) {
                        let id = live.remove(&k).unwrap();
                        let stale = h.d.stale;
                        h.forget(id);
                        if h.d.stale <= stale {
                            rebuilds += 1;
                        }
                    }
                } else if op < weights[2] {
                    let want = live.keys().next().map(|&(at, _)| at);
                    assert_eq!(h.d.next_deadline(), want, "seed {seed}");
                    h.check();
                } else if op < weights[3] {
                    // `Runner::quiet_for`'s test: is nothing live due at `now`?
                    let at = t(now.saturating_add(rng.i64(-spread..spread)));
                    let want = live.keys().next().is_none_or(|&(first, _)| first > at);
                    let got = !h.d.any_due(at) || h.d.next_deadline().is_none_or(|n| n > at);
                    assert_eq!(got, want, "seed {seed}");
                    h.check();
                } else {
                    now = now.saturating_add(rng.i64(0..spread / step + 1));
                    let rest = live.split_off(&(t(now), u64::MAX));
                    let want: Vec<u64> = std::mem::replace(&mut live, rest).into_values().collect();
                    assert_eq!(h.expire(t(now)), want, "seed {seed}");
                }
            }
            let want: Vec<u64> = live.into_values().collect();
            assert_eq!(h.expire(Instant::INFINITY), want, "seed {seed}");
            assert_eq!(h.d.next_deadline(), None);
        }
        assert!(rebuilds >= 20, "only {rebuilds} rebuilds");
    }
}
