//! [`Shared`]: the state a helper thread and the trio side share, and the two
//! ways they wake each other.
//!
//! # Invariants
//!
//! * Everything either side reads or changes is under the one mutex, so a change
//!   and its wake-up cannot cross: the thread changes the state and takes the
//!   waker in one critical section; the trio side looks at the state and leaves
//!   its waker in one.
//! * The thread sleeps only on the condition variable (or in its system call), and
//!   the trio side notifies it after every change it makes.
//! * `waker` is the waker of the one trio task waiting; the callers make sure there
//!   is at most one (a stream's conflict detector, a process's wait lock).
//! * `closed` is set once, by the trio side, and ends the thread: it checks the
//!   flag under the lock before each system call and after it.
//! * `in_io` is true exactly while the thread is in (or about to enter) a blocking
//!   system call that only cancelling can end: whoever closes must then interrupt
//!   it, and may retry until the flag falls.

use std::future::poll_fn;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::task::{Poll, Waker};

use crate::Result;
use crate::lowlevel::{BlockedOn, CancelRegistration, record_blocked_on};

/// What the lock guards: the caller's state `S`, and the bookkeeping of the
/// hand-off.
#[derive(Debug)]
pub(super) struct Inner<S> {
    pub(super) state: S,
    pub(super) closed: bool,
    pub(super) in_io: bool,
    waker: Option<Waker>,
}

/// State shared by a helper thread and the trio side (see the module's
/// invariants).
#[derive(Debug)]
pub(super) struct Shared<S> {
    inner: Mutex<Inner<S>>,
    cond: Condvar,
}

impl<S> Shared<S> {
    pub(super) fn new(state: S) -> Shared<S> {
        Shared {
            inner: Mutex::new(Inner {
                state,
                closed: false,
                in_io: false,
                waker: None,
            }),
            cond: Condvar::new(),
        }
    }

    /// Locks the state. A panic while it was held (there is no code that panics
    /// under it) would leave it consistent: every update is a plain assignment.
    pub(super) fn lock(&self) -> MutexGuard<'_, Inner<S>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Thread side: sleeps until `ready` gives a value, or the trio side closed
    /// (`None`). `ready` runs under the lock.
    pub(super) fn wait_for_work<R>(
        &self,
        mut ready: impl FnMut(&mut S) -> Option<R>,
    ) -> Option<(MutexGuard<'_, Inner<S>>, R)> {
        let mut g = self.lock();
        loop {
            if g.closed {
                return None;
            }
            if let Some(r) = ready(&mut g.state) {
                return Some((g, r));
            }
            g = self.cond.wait(g).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Thread side: lets go of the lock and wakes the waiting trio task, if any.
    pub(super) fn wake(&self, mut g: MutexGuard<'_, Inner<S>>) {
        let waker = g.waker.take();
        drop(g);
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Trio side: marks the state closed, wakes both the thread and the waiting
    /// task, and says whether the thread is in a system call that must be
    /// interrupted. Idempotent.
    pub(super) fn close(&self) -> bool {
        let mut g = self.lock();
        g.closed = true;
        let in_io = g.in_io;
        self.cond.notify_all();
        self.wake(g);
        in_io
    }

    /// Trio side: changes the state and tells the thread.
    pub(super) fn update(&self, f: impl FnOnce(&mut S)) {
        let mut g = self.lock();
        f(&mut g.state);
        self.cond.notify_all();
    }

    /// Trio side: whether the thread is still in its system call.
    pub(super) fn in_io(&self) -> bool {
        self.lock().in_io
    }

    /// Trio side: waits until `ready` gives a value — a cancellable trio wait that
    /// the thread ends by changing the state and waking. `ready` runs under the
    /// lock, on every wake-up; the thread is notified after each call that did
    /// not finish the wait (`ready` may have asked it for something). Returns the
    /// value and whether the task had to wait.
    ///
    /// Cancelled, it returns `Err(Cancelled)` and leaves the state as `ready`
    /// last left it.
    pub(super) async fn wait<R>(
        &self,
        mut ready: impl FnMut(&mut Inner<S>) -> Option<R>,
    ) -> Result<(R, bool)> {
        let mut cancel = CancelRegistration::new();
        let mut blocked = false;
        poll_fn(|cx| {
            let mut g = self.lock();
            if let Some(r) = ready(&mut g) {
                g.waker = None;
                cancel.clear();
                return Poll::Ready(Ok((r, blocked)));
            }
            if !g.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                g.waker = Some(cx.waker().clone());
            }
            self.cond.notify_all();
            drop(g);
            if let Poll::Ready(e) = cancel.poll_cancelled(cx) {
                self.lock().waker = None;
                return Poll::Ready(Err(e));
            }
            blocked = true;
            record_blocked_on(cx, BlockedOn::Thread);
            Poll::Pending
        })
        .await
    }
}
