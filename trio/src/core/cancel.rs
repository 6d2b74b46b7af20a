//! Cancel scopes and the cancel status tree.
//!
//! # The model (Trio's, mapped to `Result`)
//!
//! Every [`CancelScope`] that has been entered is a node of a tree: its parent is
//! the scope that was current when it was entered; the scope of a nursery is the
//! parent of its children's code. A node is *effectively cancelled* when its own
//! `cancel()` was called, or when its parent is effectively cancelled and it is not
//! shielded. The flag is cached in each node and recomputed eagerly, top-down, when
//! something changes (`recalc`), so a checkpoint answers "am I cancelled?" with one
//! load.
//!
//! Cancellation is *level-triggered*: it is not an event that is delivered once, it
//! is a state. Every checkpoint inside an effectively cancelled scope returns
//! `Err(Cancelled)`, again and again, until the code leaves the scope. A blocked
//! task learns of it because every suspension registers its waker with the node it
//! suspended in (`CancelWait`); when a node becomes cancelled, `recalc` wakes
//! every waiter of every node in the now-cancelled subtree, and each one, re-polled,
//! finds itself cancelled, undoes its registration and returns `Err(Cancelled)`.
//!
//! When the code leaves the scope with an error that is a cancellation, the scope
//! swallows it if it is effectively cancelled and its parent's cancellation is not
//! visible to it (otherwise an outer scope is the one unwinding, and the error goes
//! on up to it). That is Trio's rule, and it means a `Cancelled` always reaches the
//! outermost cancelled scope and stops there.
//!
//! # Catching errors without catching cancellation
//!
//! Because a cancellation is an ordinary `Err`, a catch-all `Err(e) => ...` arm
//! in user code would swallow it: the scope never sees its `Cancelled`, and the
//! next checkpoint is cancelled again, far from the arm. Handle errors through
//! [`ResultExt::catch`](crate::ResultExt::catch), which hands the cancellation
//! back to `?` first — Rust's form of Trio's rule that `except Exception:` does
//! not catch `Cancelled`. Every example that handles errors does so.
//!
//! # Graceful stop: cancellation in two phases
//!
//! Servers need "stop taking new work, finish what is in flight for up to N
//! seconds, then cancel the rest" (python-trio/trio#147), and hand-made versions
//! (a shielded connection nursery, an accept scope, a watcher that cancels one and
//! moves the other's deadline) get it subtly wrong. So it is part of the scope:
//! [`CancelScope::cancel_gracefully`]`(grace)` is the first phase, and the second
//! is an ordinary cancellation at the grace period's end. The rules:
//!
//! 1. A stop request is a state of the tree, like cancellation: each node caches
//!    *effectively stopping* = its own request, or its own cancellation, or (not
//!    shielded) its parent's. [`stop_requested`] reads it with one load;
//!    [`wait_stop_requested`] registers with the node and is woken by `recalc`.
//! 2. It reaches everything under the scope — nested scopes, nurseries opened
//!    there, their children — and stops at a shield, as cancellation does: code
//!    that is protected from the hard cancel has nothing to wind down for.
//! 3. Nothing is cancelled by the request itself; checkpoints do not fail. The
//!    scope's deadline becomes the grace period's end when that is sooner, and
//!    passing it cancels the scope with the request's source (`Explicit`, or
//!    `CtrlC` / `Terminated` when the builder turned those signals into stops).
//! 4. Requests compose by taking the earliest end: a shorter grace asked later
//!    wins, a longer one changes nothing, an earlier deadline still wins (and says
//!    `Deadline`), and `cancel()` cancels at once. An outright cancellation counts
//!    as a stop request too (rule 1), so code waiting for a request wakes — and,
//!    being at a checkpoint, gets `Cancelled`.
//! 5. A scope that was cancelled or has exited ignores requests.
//!
//! Servers use it through [`crate::until_stop_requested`]: their accept loops stop
//! at once and close the listeners (new connections are refused), the handlers
//! in progress run on, HTTP connections are shut down the protocol's way, and
//! whatever still runs at the grace period's end is cancelled.
//!
//! # Alternatives not taken
//!
//! * Walking up the tree at each checkpoint instead of caching the flag: cheaper
//!   scope entry, but every checkpoint would cost the depth of the tree.
//! * Registering tasks rather than suspensions: cheaper parking, but our tasks are
//!   nested futures, and a future blocked under a foreign combinator (say a
//!   `FuturesUnordered` branch) would never be re-polled by waking its task.
//!   Registering each suspension's own waker reaches it wherever it sits.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use slab::Slab;

use super::context::{self, PollGuard};
use super::runtime::Wake;
use super::task::TaskCell;
use super::task_tree::display_name;
use crate::error::{
    CancelSource, Cancelled, Error, ErrorKind, MaybeCancelled, SourceTask, TooSlow,
};
use crate::time::Instant;

fn wake_all(waiters: &RefCell<Slab<Waker>>) {
    let wakers: Vec<Waker> = waiters.borrow().iter().map(|(_, w)| w.clone()).collect();
    let wake = || {
        for w in wakers {
            w.wake();
        }
    };
    match context::runner() {
        Some(r) if r.track_wakes => r.wake_cause.during(Wake::Cancel, wake),
        _ => wake(),
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    Fresh,
    Active,
    Exited,
}

/// One node of the cancel status tree (and the state of one cancel scope).
pub(in crate::core) struct ScopeState {
    me: Weak<ScopeState>,
    /// The scope that was current when this one was entered. Set once, on entry.
    parent: RefCell<Option<Rc<ScopeState>>>,
    /// Our slot in the parent's `children`.
    key_in_parent: Cell<usize>,
    /// Entered scopes whose parent is this one (weak: a child unlinks itself on exit).
    children: RefCell<Slab<Weak<ScopeState>>>,
    /// Wakers of suspensions currently blocked with this node as their status.
    waiters: RefCell<Slab<Waker>>,
    cancel_called: Cell<bool>,
    /// Source and reason of the first `cancel` call.
    reason: RefCell<Option<Cancelled>>,
    shield: Cell<bool>,
    deadline: Cell<Instant>,
    /// A deadline relative to entry, resolved when the scope is entered.
    relative: Cell<Option<Duration>>,
    /// Cached: `cancel_called || (!shield && parent.effectively_cancelled)`.
    effectively_cancelled: Cell<bool>,
    cancelled_caught: Cell<bool>,
    phase: Cell<Phase>,
    /// Sequence number of this scope's live entry in the deadline heap (0: none).
    pub(in crate::core) deadline_seq: Cell<u64>,
    /// A graceful stop was asked of this scope (`CancelScope::cancel_gracefully`).
    stop_requested: Cell<bool>,
    /// Cached: `stop_requested || cancel_called || (!shield && parent.stopping)`:
    /// the code under this node has been asked to stop.
    effectively_stopping: Cell<bool>,
    /// Wakers of `wait_stop_requested` calls blocked with this node as their status.
    stop_waiters: RefCell<Slab<Waker>>,
    /// When the earliest grace period asked of this scope ends, and what the
    /// cancellation at that moment names as its source.
    grace_end: Cell<Instant>,
    grace_source: Cell<CancelSource>,
    /// A tree variable's value bound for the code under this node (`TreeVar::with`);
    /// such a node never cancels anything.
    pub(in crate::core) binding: Option<Box<super::tree_var::Binding>>,
}

impl ScopeState {
    pub(in crate::core) fn new() -> Rc<ScopeState> {
        Self::with_binding(None)
    }

    /// A node that binds a tree variable for the code under it.
    pub(in crate::core) fn with_binding(
        binding: Option<Box<super::tree_var::Binding>>,
    ) -> Rc<ScopeState> {
        Rc::new_cyclic(|me| ScopeState {
            me: me.clone(),
            parent: RefCell::new(None),
            key_in_parent: Cell::new(usize::MAX),
            children: RefCell::new(Slab::new()),
            waiters: RefCell::new(Slab::new()),
            cancel_called: Cell::new(false),
            reason: RefCell::new(None),
            shield: Cell::new(false),
            deadline: Cell::new(Instant::INFINITY),
            relative: Cell::new(None),
            effectively_cancelled: Cell::new(false),
            cancelled_caught: Cell::new(false),
            phase: Cell::new(Phase::Fresh),
            deadline_seq: Cell::new(0),
            stop_requested: Cell::new(false),
            effectively_stopping: Cell::new(false),
            stop_waiters: RefCell::new(Slab::new()),
            grace_end: Cell::new(Instant::INFINITY),
            grace_source: Cell::new(CancelSource::Deadline),
            binding,
        })
    }

    /// Calls `f` on this node and each of its ancestors, nearest first, until it
    /// returns `Some`. (Tree variables are looked up this way: bindings pass
    /// through shields, which only stop cancellation.)
    pub(in crate::core) fn find_up<R>(
        &self,
        mut f: impl FnMut(&ScopeState) -> Option<R>,
    ) -> Option<R> {
        if let Some(r) = f(self) {
            return Some(r);
        }
        let mut cur = self.parent.borrow().clone();
        while let Some(node) = cur {
            if let Some(r) = f(&node) {
                return Some(r);
            }
            cur = node.parent.borrow().clone();
        }
        None
    }

    pub(in crate::core) fn rc(&self) -> Rc<ScopeState> {
        self.me
            .upgrade()
            .expect("scope state is alive while borrowed")
    }

    #[inline]
    pub(in crate::core) fn effectively_cancelled(&self) -> bool {
        self.effectively_cancelled.get()
    }

    pub(in crate::core) fn cancel_called(&self) -> bool {
        self.cancel_called.get()
    }

    /// Links this scope under `parent` and arms its deadline. Errors if it was
    /// entered before.
    pub(in crate::core) fn enter(&self, parent: Option<Rc<ScopeState>>) -> Result<(), Error> {
        if self.phase.get() != Phase::Fresh {
            return Err(Error::new(
                ErrorKind::Usage,
                "a cancel scope can be entered only once",
            ));
        }
        self.phase.set(Phase::Active);
        if let Some(p) = &parent {
            let key = p.children.borrow_mut().insert(self.me.clone());
            self.key_in_parent.set(key);
        }
        *self.parent.borrow_mut() = parent;
        // Only a scope with a deadline needs the clock (a nursery's has none).
        if self.relative.get().is_some() || self.deadline.get() != Instant::INFINITY {
            let now = context::with_runner(|r| r.current_time());
            if let Some(rel) = self.relative.take() {
                self.deadline
                    .set(now.unwrap_or(Instant::ZERO).saturating_add(rel));
            }
            // As in Trio, a scope whose deadline has already passed is cancelled
            // from its first instant, not from the run loop's next look at the clock.
            if now.is_some_and(|now| now >= self.deadline.get()) {
                self.deadline_passed();
            }
        }
        self.arm_deadline();
        self.recalc();
        Ok(())
    }

    /// Records that the scope swallowed a cancellation on its way out.
    pub(in crate::core) fn set_cancelled_caught(&self) {
        self.cancelled_caught.set(true);
    }

    /// Unlinks this scope from its parent; its deadline entry goes stale.
    pub(in crate::core) fn exit(&self) {
        if self.phase.get() != Phase::Active {
            return;
        }
        self.phase.set(Phase::Exited);
        self.forget_deadline();
        if let Some(p) = self.parent.borrow_mut().take() {
            let key = self.key_in_parent.get();
            let mut ch = p.children.borrow_mut();
            if ch.contains(key) {
                ch.remove(key);
            }
        }
    }

    /// Makes this scope's heap entry (if any) stale.
    fn forget_deadline(&self) {
        if self.deadline_seq.replace(0) != 0 {
            context::with_runner(|r| r.deadlines.borrow_mut().note_stale());
        }
    }

    fn arm_deadline(&self) {
        // A cancelled scope stays cancelled: its deadline no longer matters.
        if self.phase.get() != Phase::Active || self.cancel_called.get() {
            return;
        }
        self.forget_deadline();
        let d = self.deadline.get();
        if d == Instant::INFINITY {
            return;
        }
        let seq =
            context::with_runner(|r| r.deadlines.borrow_mut().add(d, self.me.clone())).unwrap_or(0);
        self.deadline_seq.set(seq);
    }

    pub(in crate::core) fn set_deadline(&self, d: Instant) {
        self.relative.set(None);
        self.deadline.set(d);
        self.arm_deadline();
    }

    pub(in crate::core) fn deadline(&self) -> Instant {
        match self.relative.get() {
            Some(rel) => context::with_runner(|r| r.current_time())
                .unwrap_or(Instant::ZERO)
                .saturating_add(rel),
            None => self.deadline.get(),
        }
    }

    /// Cancels the scope, naming no task as the source (a deadline, Ctrl-C, the run
    /// loop itself).
    pub(in crate::core) fn cancel(&self, source: CancelSource, reason: Option<Arc<str>>) {
        self.cancel_from(source, reason, None);
    }

    /// Cancels the scope on behalf of `task` (the task that called `cancel`, or the
    /// child whose failure cancels its nursery).
    pub(in crate::core) fn cancel_from(
        &self,
        source: CancelSource,
        reason: Option<Arc<str>>,
        task: Option<&TaskCell>,
    ) {
        if self.cancel_called.get() {
            return;
        }
        let task = task.map(|t| SourceTask::new(t.id, display_name(&t.name)));
        *self.reason.borrow_mut() = Some(Cancelled::new(source, reason, task));
        self.cancel_called.set(true);
        self.recalc();
    }

    pub(in crate::core) fn set_shield(&self, shield: bool) {
        self.shield.set(shield);
        self.recalc();
    }

    /// True if an enclosing scope's cancellation reaches through this one.
    pub(in crate::core) fn parent_cancellation_visible(&self) -> bool {
        !self.shield.get()
            && self
                .parent
                .borrow()
                .as_ref()
                .is_some_and(|p| p.effectively_cancelled())
    }

    /// Moves every scope entered directly under this one to `new_parent` (a task
    /// started with `Nursery::start` moving into its target nursery, as Trio's
    /// `TaskStatus.started` reparents the old nursery's cancel status children).
    pub(in crate::core) fn reparent_children(&self, new_parent: &Rc<ScopeState>) {
        let children: Vec<Rc<ScopeState>> = std::mem::take(&mut *self.children.borrow_mut())
            .into_iter()
            .filter_map(|(_, c)| c.upgrade())
            .collect();
        for c in children {
            let key = new_parent.children.borrow_mut().insert(c.me.clone());
            c.key_in_parent.set(key);
            *c.parent.borrow_mut() = Some(new_parent.clone());
            c.recalc();
        }
    }

    /// Moves this (entered) scope, with everything below it, under `new_parent`
    /// (the private nursery of a `start()` call, when its child calls `started`).
    pub(in crate::core) fn reparent_to(&self, new_parent: &Rc<ScopeState>) {
        if let Some(old) = self.parent.borrow_mut().take() {
            let key = self.key_in_parent.get();
            let mut ch = old.children.borrow_mut();
            if ch.contains(key) {
                ch.remove(key);
            }
        }
        let key = new_parent.children.borrow_mut().insert(self.me.clone());
        self.key_in_parent.set(key);
        *self.parent.borrow_mut() = Some(new_parent.clone());
        self.recalc();
    }

    /// Recomputes the cached flag here and, if it changed, in the subtree below;
    /// wakes every suspension in a subtree that became cancelled.
    fn recalc(&self) {
        let (parent_cancelled, parent_stopping) = match self.parent.borrow().as_ref() {
            Some(p) => (p.effectively_cancelled(), p.effectively_stopping()),
            None => (false, false),
        };
        let shielded = self.shield.get();
        let cancelled = self.cancel_called.get() || (!shielded && parent_cancelled);
        let stopping =
            self.stop_requested.get() || self.cancel_called.get() || (!shielded && parent_stopping);
        let cancel_changed = cancelled != self.effectively_cancelled.get();
        let stop_changed = stopping != self.effectively_stopping.get();
        if !cancel_changed && !stop_changed {
            return;
        }
        self.effectively_cancelled.set(cancelled);
        self.effectively_stopping.set(stopping);
        if cancel_changed && cancelled {
            wake_all(&self.waiters);
        }
        if stop_changed && stopping {
            wake_all(&self.stop_waiters);
        }
        let children: Vec<Rc<ScopeState>> = self
            .children
            .borrow()
            .iter()
            .filter_map(|(_, c)| c.upgrade())
            .collect();
        for c in children {
            c.recalc();
        }
    }

    /// True if the code under this node has been asked to stop (gracefully or
    /// outright).
    #[inline]
    pub(in crate::core) fn effectively_stopping(&self) -> bool {
        self.effectively_stopping.get()
    }

    /// Asks the code under this scope to stop, and cancels the scope `grace`
    /// from now (sooner if its deadline is sooner) with `source` as the reason.
    /// A shorter grace asked later wins; a longer one changes nothing.
    pub(in crate::core) fn cancel_gracefully(&self, grace: Duration, source: CancelSource) {
        if self.cancel_called.get() || self.phase.get() == Phase::Exited {
            return;
        }
        if let Some(now) = context::with_runner(|r| r.current_time()) {
            let end = now.saturating_add(grace);
            if end < self.grace_end.get() {
                self.grace_end.set(end);
                self.grace_source.set(source);
            }
            if end < self.deadline() {
                self.set_deadline(end);
            }
        }
        self.stop_requested.set(true);
        self.recalc();
    }

    /// Cancels the scope because its deadline passed: the reason is the graceful
    /// stop's source when the deadline in force is a grace period's end.
    pub(in crate::core) fn deadline_passed(&self) {
        let source = if self.deadline.get() >= self.grace_end.get() {
            self.grace_source.get()
        } else {
            CancelSource::Deadline
        };
        self.cancel(source, None);
    }

    /// Registers `waker` to be woken when the code under this node is asked to
    /// stop; returns the key to unregister it.
    pub(in crate::core) fn add_stop_waiter(&self, waker: Waker) -> usize {
        self.stop_waiters.borrow_mut().insert(waker)
    }

    pub(in crate::core) fn remove_stop_waiter(&self, key: usize) {
        let mut w = self.stop_waiters.borrow_mut();
        if w.contains(key) {
            w.remove(key);
        }
    }

    /// The error a checkpoint delivers in this (effectively cancelled) scope: it
    /// names the cancelled scope that reaches here.
    pub(in crate::core) fn cancelled_error(&self) -> Error {
        let mut cur = Some(self.rc());
        while let Some(s) = cur {
            if s.cancel_called.get() {
                if let Some(c) = s.reason.borrow().clone() {
                    return Error::from_cancelled(c);
                }
            }
            if s.shield.get() {
                break;
            }
            cur = s.parent.borrow().clone();
        }
        Error::from_cancelled(Cancelled::new(CancelSource::Explicit, None, None))
    }

    /// The nearest deadline that applies here, or -infinity if cancelled.
    pub(in crate::core) fn effective_deadline(&self) -> Instant {
        if self.effectively_cancelled() {
            return Instant::NEG_INFINITY;
        }
        let mut best = Instant::INFINITY;
        let mut cur = Some(self.rc());
        while let Some(s) = cur {
            best = best.min(s.deadline.get());
            if s.shield.get() {
                break;
            }
            cur = s.parent.borrow().clone();
        }
        best
    }

    /// Registers a suspension's waker; returns its key.
    fn add_waiter(&self, waker: &Waker) -> usize {
        self.waiters.borrow_mut().insert(waker.clone())
    }

    fn remove_waiter(&self, key: usize) {
        let mut w = self.waiters.borrow_mut();
        if w.contains(key) {
            w.remove(key);
        }
    }

    fn update_waiter(&self, key: usize, waker: &Waker) {
        if let Some(w) = self.waiters.borrow_mut().get_mut(key) {
            if !w.will_wake(waker) {
                *w = waker.clone();
            }
        }
    }
}

impl Drop for ScopeState {
    fn drop(&mut self) {
        if let Some(p) = self.parent.get_mut().take() {
            let key = self.key_in_parent.get();
            let mut ch = p.children.borrow_mut();
            if ch.contains(key) {
                ch.remove(key);
            }
        }
    }
}

/// The part of every suspension that listens for cancellation: registered with the
/// current cancel status while blocked, so that cancelling the scope wakes it.
///
/// It is `Send`, so that futures holding it can be (a thread-safe channel's
/// receiver keeps one in its pending `Stream` receive): the registration it holds
/// belongs to one loop's cancel tree and is only touched on the thread that made it
/// (`thread`). Used on another thread, it abandons that registration — leaking it
/// rather than touching it — and registers afresh there; dropped on another thread,
/// it leaks it. Either costs a few bytes and at worst one spurious wake-up, and
/// happens only when a blocked operation is moved between threads.
#[derive(Default)]
pub(in crate::core) struct CancelWait {
    reg: Option<(Rc<ScopeState>, usize)>,
    thread: usize,
}

// SAFETY: the only non-`Send` content is the `Rc<ScopeState>` in `reg`, which is
// read, cloned or dropped only when `thread` is the current thread (checked in
// `own_reg`, `clear` and `Drop`); on any other thread it is leaked untouched.
unsafe impl Send for CancelWait {}
// SAFETY: no `&self` method touches `reg` (all access goes through `&mut self`).
unsafe impl Sync for CancelWait {}

impl CancelWait {
    /// The registration, if it was made on this thread; a foreign one is leaked.
    fn own_reg(&mut self) -> &mut Option<(Rc<ScopeState>, usize)> {
        if self.reg.is_some() && self.thread != context::thread_token() {
            std::mem::forget(self.reg.take());
        }
        &mut self.reg
    }

    /// `Ready(err)` if the current status is cancelled (registration undone);
    /// otherwise registers `cx`'s waker with it and returns `Pending`.
    pub(in crate::core) fn poll_cancelled(&mut self, cx: &Context<'_>) -> Poll<Error> {
        context::with_current_status(|status| {
            let Some(status) = status else {
                return Poll::Ready(outside_trio());
            };
            if status.effectively_cancelled() {
                self.clear();
                return Poll::Ready(status.cancelled_error());
            }
            match self.own_reg() {
                Some((s, key)) if std::ptr::eq(Rc::as_ptr(s), status) => {
                    s.update_waiter(*key, cx.waker());
                }
                _ => {
                    self.clear();
                    let key = status.add_waiter(cx.waker());
                    self.reg = Some((status.rc(), key));
                    self.thread = context::thread_token();
                }
            }
            Poll::Pending
        })
    }

    /// Undoes the registration, if any.
    pub(in crate::core) fn clear(&mut self) {
        if let Some((s, key)) = self.own_reg().take() {
            s.remove_waiter(key);
        }
    }
}

impl Drop for CancelWait {
    fn drop(&mut self) {
        self.clear();
    }
}

/// The cancellation side of a custom blocking operation: Trio's
/// `wait_task_rescheduled` abort path, in Rust form.
///
/// A primitive that keeps its own queue of wakers (say, one shared with other
/// threads) holds a `CancelRegistration` in its future and calls
/// [`poll_cancelled`](Self::poll_cancelled) on every poll while blocked: it returns
/// `Ready(err)` once the current code is cancelled — the future must then undo its
/// registration in its own queue and return `err` — and otherwise arranges for the
/// task to be woken if that happens. This is the same mechanism every trio
/// suspension uses (`ParkingLot::park`, I/O waits, sleeps).
///
/// # Examples
///
/// A future that waits for a flag set from anywhere, and honours cancellation:
///
/// ```
/// use std::future::Future;
/// use std::pin::Pin;
/// use std::task::{Context, Poll};
/// use trio::lowlevel::CancelRegistration;
///
/// struct Never(CancelRegistration);
/// impl Future for Never {
///     type Output = trio::Result<()>;
///     fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<trio::Result<()>> {
///         match self.0.poll_cancelled(cx) {
///             Poll::Ready(cancelled) => Poll::Ready(Err(cancelled)),
///             Poll::Pending => Poll::Pending, // (a real primitive also checks its own state)
///         }
///     }
/// }
/// # trio::run(async {
/// let r = trio::move_on_after(std::time::Duration::from_millis(1), Never(CancelRegistration::new())).await?;
/// assert_eq!(r, None);
/// # Ok(()) }).unwrap();
/// ```
#[derive(Default)]
pub struct CancelRegistration {
    inner: CancelWait,
}

impl fmt::Debug for CancelRegistration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelRegistration")
            .field("registered", &self.inner.reg.is_some())
            .finish()
    }
}

impl CancelRegistration {
    /// A registration that is not registered yet.
    pub fn new() -> CancelRegistration {
        CancelRegistration::default()
    }

    /// `Ready(err)` if the current code is cancelled (the registration is undone);
    /// otherwise registers `cx`'s waker to be woken on cancellation and returns
    /// `Pending`. Also `Ready` (with [`ErrorKind::Usage`]) outside trio.
    pub fn poll_cancelled(&mut self, cx: &Context<'_>) -> Poll<Error> {
        self.inner.poll_cancelled(cx)
    }

    /// Undoes the registration (done automatically on drop).
    pub fn clear(&mut self) {
        self.inner.clear();
    }
}

pub(in crate::core) fn outside_trio() -> Error {
    Error::new(
        ErrorKind::Usage,
        "trio operation used outside trio::run (no trio loop on this thread)",
    )
}

/// Is the current task effectively cancelled? (`Err` outside trio.)
pub(in crate::core) fn check_cancelled() -> Result<(), Error> {
    context::with_current_status(|s| match s {
        None => Err(outside_trio()),
        Some(s) if s.effectively_cancelled() => Err(s.cancelled_error()),
        Some(_) => Ok(()),
    })
}

// ---- the public cancel scope -------------------------------------------------

/// A region of code that can be cancelled, by a call or by a deadline (Trio's
/// `CancelScope`).
///
/// Code runs inside a scope through [`run`](CancelScope::run). While the scope is
/// cancelled, every checkpoint inside it returns `Err(Cancelled)` (again and again,
/// until the code leaves the scope); when the code leaves with that error, the scope
/// swallows it and `run` returns `Ok(None)`. A scope is a cheap handle: clone it and
/// hand the clone to another task to cancel it from there.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// # trio::run(async {
/// let scope = trio::CancelScope::with_timeout(Duration::from_millis(10));
/// let out = scope.run(async {
///     trio::sleep(Duration::from_secs(3600)).await?;
///     Ok::<_, trio::Error>("slept")
/// }).await?;
/// assert_eq!(out, None);
/// assert!(scope.cancelled_caught());
/// # Ok(()) }).unwrap();
/// ```
///
/// Cancelling from another task:
///
/// ```
/// # trio::run(async {
/// let scope = trio::CancelScope::new();
/// let handle = scope.clone();
/// trio::open_nursery(async |n| {
///     n.start_soon(async move {
///         trio::testing::wait_all_tasks_blocked().await?;
///         handle.cancel();
///         Ok(())
///     })?;
///     let r = scope.run(trio::sleep_forever()).await?;
///     assert!(r.is_none());
///     Ok(())
/// }).await
/// # }).unwrap();
/// ```
///
/// # Cancellation
///
/// A scope swallows only the cancellation it is responsible for: if an enclosing
/// scope is cancelled too (and this one is not shielded), the error goes on to it.
#[derive(Clone)]
pub struct CancelScope {
    state: Rc<ScopeState>,
}

impl Default for CancelScope {
    fn default() -> Self {
        CancelScope::new()
    }
}

impl fmt::Debug for CancelScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelScope")
            .field("deadline", &self.state.deadline.get())
            .field("shield", &self.state.shield.get())
            .field("cancel_called", &self.state.cancel_called.get())
            .field("cancelled_caught", &self.state.cancelled_caught.get())
            .finish()
    }
}

impl CancelScope {
    /// A scope with no deadline.
    ///
    /// # Examples
    ///
    /// ```
    /// let scope = trio::CancelScope::new();
    /// assert!(!scope.cancel_called());
    /// assert_eq!(scope.deadline(), trio::Instant::INFINITY);
    /// ```
    pub fn new() -> CancelScope {
        CancelScope {
            state: ScopeState::new(),
        }
    }

    pub(in crate::core) fn from_state(state: Rc<ScopeState>) -> CancelScope {
        CancelScope { state }
    }

    /// A scope that is cancelled when the clock reaches `deadline`.
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// let scope = trio::CancelScope::with_deadline(trio::current_time());
    /// assert_eq!(scope.run(trio::sleep_forever()).await?, None);
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn with_deadline(deadline: Instant) -> CancelScope {
        let s = CancelScope::new();
        s.state.deadline.set(deadline);
        s
    }

    /// A scope cancelled `timeout` after it is entered (Trio's `relative_deadline`).
    ///
    /// # Examples
    ///
    /// ```
    /// let scope = trio::CancelScope::with_timeout(std::time::Duration::from_secs(1));
    /// assert_eq!(scope.relative_deadline(), Some(std::time::Duration::from_secs(1)));
    /// ```
    pub fn with_timeout(timeout: Duration) -> CancelScope {
        let s = CancelScope::new();
        s.state.relative.set(Some(timeout));
        s
    }

    /// Makes a fresh scope shielded (builder form of [`set_shield`](Self::set_shield)).
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(trio::CancelScope::new().shielded().shield());
    /// ```
    pub fn shielded(self) -> CancelScope {
        self.state.shield.set(true);
        self
    }

    /// Runs `fut` inside this scope.
    ///
    /// Returns `Ok(Some(v))` when `fut` finished with `Ok(v)`, `Ok(None)` when the
    /// scope caught the cancellation it caused, and `Err(e)` for any other error
    /// (including a cancellation that belongs to an enclosing scope).
    ///
    /// # Errors
    ///
    /// The errors of `fut`; an error of kind [`ErrorKind::Usage`] if the scope was
    /// entered before (a scope is entered once), or if called outside trio.
    ///
    /// # Cancellation
    ///
    /// Not a checkpoint by itself: entering and leaving a scope never blocks.
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// let scope = trio::CancelScope::new();
    /// scope.cancel();
    /// let r = scope.run(async { trio::lowlevel::checkpoint().await?; Ok::<_, trio::Error>(1) }).await?;
    /// assert_eq!(r, None);
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn run<F, T, E>(&self, fut: F) -> ScopeRun<F>
    where
        F: Future<Output = Result<T, E>>,
        E: MaybeCancelled + From<Error>,
    {
        ScopeRun {
            state: self.state.clone(),
            fut,
            entered: false,
        }
    }

    /// Runs `fut` inside this scope, failing with [`TooSlow`] if the scope catches a
    /// cancellation — its deadline's, or an explicit [`cancel`](Self::cancel), as in
    /// Trio, where `fail_after`'s scope raises `TooSlowError` whenever its
    /// `cancelled_caught` is true. This is [`fail_after`] / [`fail_at`] with the
    /// scope in your hands: to shield it, move its deadline, cancel it, or read
    /// [`cancelled_caught`](Self::cancelled_caught) afterwards.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::TooSlow`] (or [`std::io::ErrorKind::TimedOut`] for `io::Error`)
    /// when the scope caught a cancellation; otherwise as [`run`](Self::run).
    ///
    /// # Cancellation
    ///
    /// As [`run`](Self::run): an enclosing cancellation passes through as itself,
    /// not as `TooSlow`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// # trio::run(async {
    /// let scope = trio::CancelScope::with_timeout(Duration::from_secs(10));
    /// let r = scope.run_or_fail(async {
    ///     scope.cancel(); // an explicit cancel fails too
    ///     trio::sleep_forever().await
    /// }).await;
    /// assert_eq!(r.unwrap_err().kind(), trio::ErrorKind::TooSlow);
    /// assert!(scope.cancelled_caught());
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn run_or_fail<F, T, E>(&self, fut: F) -> FailAfter<F>
    where
        F: Future<Output = Result<T, E>>,
        E: MaybeCancelled + From<Error> + From<TooSlow>,
    {
        FailAfter {
            inner: self.run(fut),
        }
    }

    /// Cancels the scope: every checkpoint inside it now returns `Err(Cancelled)`
    /// (source [`CancelSource::Explicit`]). Idempotent; after the scope exited it only
    /// records the call in [`cancel_called`](Self::cancel_called), as in Trio.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = trio::CancelScope::new();
    /// s.cancel();
    /// assert!(s.cancel_called());
    /// ```
    pub fn cancel(&self) {
        context::with_current_task(|t| self.state.cancel_from(CancelSource::Explicit, None, t));
    }

    /// Asks the code under this scope to stop, and cancels the scope once `grace`
    /// has passed (a graceful, two-phase cancellation). Until then nothing is
    /// cancelled: code under the scope learns of the request by asking
    /// ([`stop_requested`](crate::stop_requested)) or by waiting for it
    /// ([`wait_stop_requested`](crate::wait_stop_requested)), stops taking new
    /// work and finishes what is in flight. When the grace period ends the scope
    /// is cancelled as by a deadline (the scope's deadline becomes the grace
    /// period's end if that is sooner; [`Cancelled::source`](crate::Cancelled::source)
    /// says [`CancelSource::Explicit`]).
    ///
    /// The rules (the cancellation essay has them all): the request reaches
    /// everything under the scope, nested scopes and nurseries included, but not
    /// through a shielded scope; a shorter grace asked later wins, a longer one
    /// changes nothing; [`cancel`](Self::cancel) still cancels at once; a scope
    /// that was cancelled or has exited ignores the request. A cancelled scope
    /// counts as asked to stop too.
    ///
    /// # Examples
    ///
    /// A worker that finishes its current item when asked to stop:
    ///
    /// ```
    /// use std::time::Duration;
    /// # trio::run(async {
    /// let done = std::cell::Cell::new(0);
    /// let done = &done;
    /// trio::open_nursery(async |n| {
    ///     n.start_soon(async move {
    ///         while !trio::stop_requested() {
    ///             trio::sleep(Duration::from_millis(1)).await?; // one item of work
    ///             done.set(done.get() + 1);
    ///         }
    ///         Ok(())
    ///     })?;
    ///     trio::sleep(Duration::from_millis(10)).await?;
    ///     n.cancel_scope().cancel_gracefully(Duration::from_secs(5));
    ///     Ok(())
    /// })
    /// .await?;
    /// // The worker stopped on its own, long before the grace period ended.
    /// assert!(done.get() > 0);
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn cancel_gracefully(&self, grace: Duration) {
        self.state.cancel_gracefully(grace, CancelSource::Explicit);
    }

    /// True once a graceful stop was asked of this scope itself
    /// ([`cancel_gracefully`](Self::cancel_gracefully)) or it was cancelled.
    /// (Code inside it asks [`trio::stop_requested`](crate::stop_requested), which
    /// also sees the requests made of enclosing scopes.)
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// let scope = trio::CancelScope::new();
    /// assert!(!scope.stop_requested());
    /// scope.cancel_gracefully(std::time::Duration::from_secs(1));
    /// assert!(scope.stop_requested());
    /// assert!(!scope.cancel_called()); // not yet: the grace period runs
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn stop_requested(&self) -> bool {
        self.state.stop_requested.get() || self.state.cancel_called.get()
    }

    /// Cancels the scope, recording `reason` in the resulting [`Cancelled`].
    ///
    /// # Examples
    ///
    /// ```
    /// let s = trio::CancelScope::new();
    /// s.cancel_with_reason("shutting down");
    /// assert!(s.cancel_called());
    /// ```
    pub fn cancel_with_reason(&self, reason: impl Into<String>) {
        let r: Arc<str> = Arc::from(reason.into());
        context::with_current_task(|t| self.state.cancel_from(CancelSource::Explicit, Some(r), t));
    }

    /// True once [`cancel`](Self::cancel) was called or the deadline expired.
    ///
    /// As in Trio, a scope that is not entered yet (or still running) whose
    /// deadline has passed reports `true` — and is cancelled — even before the run
    /// loop noticed the deadline.
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// let s = trio::CancelScope::new();
    /// assert!(!s.cancel_called());
    /// s.cancel();
    /// assert!(s.cancel_called());
    ///
    /// // A deadline that has passed counts too.
    /// let late = trio::CancelScope::with_deadline(trio::current_time());
    /// assert!(late.cancel_called());
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn cancel_called(&self) -> bool {
        let s = &self.state;
        if !s.cancel_called.get() && s.phase.get() != Phase::Exited {
            let now = context::with_runner(|r| r.current_time());
            if now.is_some_and(|now| now >= s.deadline.get()) {
                s.deadline_passed();
            }
        }
        s.cancel_called.get()
    }

    /// True if the scope swallowed a cancellation on exit.
    ///
    /// A scope can be cancelled without catching anything: when the code inside
    /// finishes without reaching a checkpoint.
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// let s = trio::CancelScope::new();
    /// let r = s.run(async {
    ///     s.cancel();
    ///     Ok::<_, trio::Error>("no checkpoint")
    /// }).await?;
    /// assert_eq!(r, Some("no checkpoint"));
    /// assert!(s.cancel_called() && !s.cancelled_caught());
    ///
    /// let s = trio::CancelScope::new();
    /// s.run(async {
    ///     s.cancel();
    ///     trio::lowlevel::checkpoint().await
    /// }).await?;
    /// assert!(s.cancelled_caught());
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn cancelled_caught(&self) -> bool {
        self.state.cancelled_caught.get()
    }

    /// The absolute deadline ([`Instant::INFINITY`] if none). For an unentered scope
    /// made with [`with_timeout`](Self::with_timeout), the deadline it would have if
    /// entered now.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = trio::CancelScope::new();
    /// assert_eq!(s.deadline(), trio::Instant::INFINITY);
    /// ```
    pub fn deadline(&self) -> Instant {
        self.state.deadline()
    }

    /// Changes the deadline, also while the scope is running: moving it earlier
    /// cancels sooner, moving it later (or to [`Instant::INFINITY`]) postpones.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = trio::CancelScope::new();
    /// s.set_deadline(trio::Instant::ZERO);
    /// assert_eq!(s.deadline(), trio::Instant::ZERO);
    /// ```
    pub fn set_deadline(&self, deadline: Instant) {
        self.state.set_deadline(deadline);
    }

    /// The time left until the deadline (Trio's `relative_deadline`): before the
    /// scope is entered, the timeout it was made with (`None` for a scope with an
    /// absolute deadline or none); once entered, the time remaining until its
    /// deadline (`None` if it has none).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let clock = trio::testing::MockClock::new();
    /// let c = clock.clone();
    /// trio::Runtime::builder().clock(clock).build().run(async move {
    ///     assert_eq!(trio::CancelScope::new().relative_deadline(), None);
    ///     let s = trio::CancelScope::with_timeout(Duration::from_secs(30));
    ///     assert_eq!(s.relative_deadline(), Some(Duration::from_secs(30)));
    ///     s.run(async {
    ///         c.jump(Duration::from_secs(10));
    ///         assert_eq!(s.relative_deadline(), Some(Duration::from_secs(20)));
    ///         Ok::<_, trio::Error>(())
    ///     }).await?;
    ///     Ok::<_, trio::Error>(())
    /// }).unwrap();
    /// ```
    pub fn relative_deadline(&self) -> Option<Duration> {
        let st = &self.state;
        if st.phase.get() == Phase::Fresh {
            return st.relative.get();
        }
        let d = st.deadline.get();
        if d == Instant::INFINITY {
            return None;
        }
        let now = context::with_runner(|r| r.current_time())?;
        Some(d - now)
    }

    /// Sets a deadline relative to entry; on a scope already entered, sets the
    /// deadline to now + `timeout`.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = trio::CancelScope::new();
    /// s.set_relative_deadline(std::time::Duration::from_secs(2));
    /// assert_eq!(s.relative_deadline(), Some(std::time::Duration::from_secs(2)));
    /// ```
    pub fn set_relative_deadline(&self, timeout: Duration) {
        if self.state.phase.get() == Phase::Fresh {
            self.state.relative.set(Some(timeout));
        } else {
            let now = context::with_runner(|r| r.current_time()).unwrap_or(Instant::ZERO);
            self.state.set_deadline(now.saturating_add(timeout));
        }
    }

    /// Whether the deadline is relative to entry (Trio's `is_relative`): `None` once
    /// the scope was entered; before, `Some(true)` for a scope made with
    /// [`with_timeout`](Self::with_timeout) (or given a
    /// [`set_relative_deadline`](Self::set_relative_deadline)), `Some(false)`
    /// otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// # trio::run(async {
    /// let scope = trio::CancelScope::with_timeout(Duration::from_secs(3));
    /// assert_eq!(scope.is_relative(), Some(true));
    /// assert_eq!(trio::CancelScope::new().is_relative(), Some(false));
    /// assert_eq!(trio::CancelScope::with_deadline(trio::Instant::ZERO).is_relative(), Some(false));
    /// scope.run(async {
    ///     assert_eq!(scope.is_relative(), None); // resolved on entry
    ///     Ok::<_, trio::Error>(())
    /// }).await?;
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn is_relative(&self) -> Option<bool> {
        match self.state.phase.get() {
            Phase::Fresh => Some(self.state.relative.get().is_some()),
            _ => None,
        }
    }

    /// True if the scope is shielded: cancellations of enclosing scopes do not reach
    /// inside it (its own `cancel` and deadline still do).
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// let outer = trio::CancelScope::new();
    /// outer.cancel();
    /// outer.run(async {
    ///     let inner = trio::CancelScope::new().shielded();
    ///     assert!(inner.shield());
    ///     inner.run(trio::lowlevel::checkpoint()).await?.unwrap(); // not cancelled
    ///     trio::lowlevel::checkpoint().await // cancelled: outside the shield
    /// }).await?;
    /// assert!(outer.cancelled_caught());
    /// assert!(!trio::CancelScope::new().shield());
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn shield(&self) -> bool {
        self.state.shield.get()
    }

    /// Shields or unshields the scope, also while it runs.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = trio::CancelScope::new();
    /// s.set_shield(true);
    /// assert!(s.shield());
    /// ```
    pub fn set_shield(&self, shield: bool) {
        self.state.set_shield(shield);
    }
}

/// True if the code running now has been asked to stop: an enclosing scope (not
/// beyond a shielded one) was asked to stop gracefully
/// ([`CancelScope::cancel_gracefully`]) or was cancelled. False outside trio.
///
/// Servers and long-running loops check it between units of work; nothing is
/// cancelled until the grace period ends.
///
/// # Examples
///
/// ```
/// # trio::run(async {
/// assert!(!trio::stop_requested());
/// let scope = trio::CancelScope::new();
/// scope
///     .run(async {
///         scope.cancel_gracefully(std::time::Duration::from_secs(60));
///         assert!(trio::stop_requested());
///         trio::lowlevel::checkpoint().await // not cancelled: the grace period runs
///     })
///     .await?;
/// # Ok(()) }).unwrap();
/// ```
pub fn stop_requested() -> bool {
    context::with_current_status(|s| s.is_some_and(ScopeState::effectively_stopping))
}

/// Waits until the code running now is asked to stop (see [`stop_requested`]):
/// the way to hear a graceful stop request while blocked, for instance racing
/// it against `accept` in a server.
///
/// # Errors
///
/// `Cancelled` if an enclosing scope is cancelled first (an outright cancel
/// wins over the stop request it implies); [`ErrorKind::Usage`] outside trio.
///
/// # Cancellation
///
/// A checkpoint: even when a stop was requested already, it yields once.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// # trio::run(async {
/// trio::open_nursery(async |n| {
///     n.start_soon(async {
///         trio::wait_stop_requested().await?;
///         // ... stop taking new work, finish what is in flight ...
///         Ok(())
///     })?;
///     trio::testing::wait_all_tasks_blocked().await?;
///     n.cancel_scope().cancel_gracefully(Duration::from_secs(10));
///     Ok(())
/// })
/// .await?;
/// # Ok(()) }).unwrap();
/// ```
pub fn wait_stop_requested() -> WaitStopRequested {
    WaitStopRequested {
        state: StopWaitState::Start,
        cancel: CancelWait::default(),
    }
}

/// The future of [`wait_stop_requested`].
///
/// # Errors
///
/// As [`wait_stop_requested`].
///
/// # Cancellation
///
/// As [`wait_stop_requested`].
///
/// # Examples
///
/// ```
/// # trio::run(async {
/// let scope = trio::CancelScope::new();
/// scope.cancel_gracefully(std::time::Duration::from_secs(1));
/// scope
///     .run(async {
///         let w: trio::WaitStopRequested = trio::wait_stop_requested();
///         w.await
///     })
///     .await?;
/// # Ok(()) }).unwrap();
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct WaitStopRequested {
    state: StopWaitState,
    cancel: CancelWait,
}

enum StopWaitState {
    Start,
    /// A stop was requested already: the schedule point was taken.
    Yielded,
    /// Registered with this node's stop waiters under this key.
    Waiting(Rc<ScopeState>, usize),
    Done,
}

impl fmt::Debug for WaitStopRequested {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitStopRequested").finish_non_exhaustive()
    }
}

impl WaitStopRequested {
    fn unregister(&mut self) {
        if let StopWaitState::Waiting(node, key) =
            std::mem::replace(&mut self.state, StopWaitState::Done)
        {
            node.remove_stop_waiter(key);
        }
        self.cancel.clear();
    }
}

impl Drop for WaitStopRequested {
    fn drop(&mut self) {
        self.unregister();
    }
}

impl Future for WaitStopRequested {
    type Output = Result<(), Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = &mut *self;
        match &this.state {
            StopWaitState::Start => {
                if let Err(e) = check_cancelled() {
                    this.state = StopWaitState::Done;
                    return Poll::Ready(Err(e));
                }
                let Some(node) = context::current_status() else {
                    this.state = StopWaitState::Done;
                    return Poll::Ready(Err(outside_trio()));
                };
                if node.effectively_stopping() {
                    this.state = StopWaitState::Yielded;
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                let key = node.add_stop_waiter(cx.waker().clone());
                this.state = StopWaitState::Waiting(node, key);
                if let Poll::Ready(e) = this.cancel.poll_cancelled(cx) {
                    this.unregister();
                    return Poll::Ready(Err(e));
                }
                Poll::Pending
            }
            StopWaitState::Yielded => {
                this.state = StopWaitState::Done;
                Poll::Ready(check_cancelled())
            }
            StopWaitState::Waiting(node, key) => {
                if let Poll::Ready(e) = this.cancel.poll_cancelled(cx) {
                    this.unregister();
                    return Poll::Ready(Err(e));
                }
                if node.effectively_stopping() {
                    this.unregister();
                    return Poll::Ready(Ok(()));
                }
                // Polled again without a stop (another branch of a select woke
                // the task): keep the newest waker.
                let (node, key) = (node.clone(), *key);
                node.remove_stop_waiter(key);
                let key = node.add_stop_waiter(cx.waker().clone());
                this.state = StopWaitState::Waiting(node, key);
                Poll::Pending
            }
            StopWaitState::Done => Poll::Ready(Err(Error::new(
                ErrorKind::Usage,
                "a WaitStopRequested future was polled after it completed",
            ))),
        }
    }
}

pin_project_lite::pin_project! {
    /// The future returned by [`CancelScope::run`] and [`move_on_after`].
    ///
    /// Output: `Result<Option<T>, E>` — `Ok(None)` when the scope caught its cancellation.
    ///
    /// # Errors
    ///
    /// As [`CancelScope::run`]: the errors of the inner future (minus the
    /// cancellation the scope caught), and [`ErrorKind::Usage`] if the scope was
    /// entered before.
    ///
    /// # Cancellation
    ///
    /// Not a checkpoint itself; the inner future's checkpoints see this scope's
    /// cancellation.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::ScopeRun;
    /// # trio::run(async {
    /// let scope = trio::CancelScope::new();
    /// let first: ScopeRun<_> = scope.run(async { Ok::<_, trio::Error>(1) });
    /// assert_eq!(first.await?, Some(1));
    /// // A scope is entered once: a second run is refused.
    /// let again = scope.run(async { Ok::<_, trio::Error>(2) }).await;
    /// assert_eq!(again.unwrap_err().kind(), trio::ErrorKind::Usage);
    /// # Ok(()) }).unwrap();
    /// ```
    #[must_use = "futures do nothing unless awaited"]
    pub struct ScopeRun<F> {
        state: Rc<ScopeState>,
        #[pin]
        fut: F,
        entered: bool,
    }

    impl<F> PinnedDrop for ScopeRun<F> {
        fn drop(this: Pin<&mut Self>) {
            if this.entered {
                this.state.exit();
            }
        }
    }
}

impl<F> ScopeRun<F> {
    /// The scope this future runs its inner future in: to cancel it, move its
    /// deadline or read [`cancelled_caught`](CancelScope::cancelled_caught) once it
    /// finished.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// # trio::run(async {
    /// let run = trio::move_on_after(Duration::from_secs(60), trio::sleep_forever());
    /// let scope = run.cancel_scope();
    /// scope.cancel();
    /// assert_eq!(run.await?, None);
    /// assert!(scope.cancelled_caught());
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn cancel_scope(&self) -> CancelScope {
        CancelScope::from_state(self.state.clone())
    }
}

impl<F, T, E> Future for ScopeRun<F>
where
    F: Future<Output = Result<T, E>>,
    E: MaybeCancelled + From<Error>,
{
    type Output = Result<Option<T>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if !*this.entered {
            let parent = context::current_status();
            if parent.is_none() {
                return Poll::Ready(Err(E::from(outside_trio())));
            }
            if let Err(e) = this.state.enter(parent) {
                return Poll::Ready(Err(E::from(e)));
            }
            *this.entered = true;
        }
        let out = {
            let _g = PollGuard::status(this.state);
            match this.fut.poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(out) => out,
            }
        };
        let state = this.state;
        let catchable = state.effectively_cancelled() && !state.parent_cancellation_visible();
        state.exit();
        *this.entered = false;
        Poll::Ready(match out {
            Ok(v) => Ok(Some(v)),
            Err(e) if catchable => {
                let had_cancel = e.contains_cancelled();
                match e.strip_cancelled() {
                    None => {
                        state.cancelled_caught.set(true);
                        Ok(None)
                    }
                    Some(rest) => {
                        if had_cancel {
                            state.cancelled_caught.set(true);
                        }
                        Err(rest)
                    }
                }
            }
            Err(e) => Err(e),
        })
    }
}

/// Runs `fut` with a timeout: cancels it `timeout` after it starts and returns
/// `Ok(None)` in that case (Trio's `move_on_after`).
///
/// # Errors
///
/// The errors of `fut`, except the cancellation caused by the timeout.
///
/// # Cancellation
///
/// `fut` sees the timeout as `Err(Cancelled)` at its checkpoints; an enclosing
/// cancellation passes through as an error.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// # trio::run(async {
/// let r = trio::move_on_after(Duration::from_millis(5), trio::sleep_forever()).await?;
/// assert!(r.is_none());
/// let r = trio::move_on_after(Duration::from_secs(5), async { Ok::<_, trio::Error>(7) }).await?;
/// assert_eq!(r, Some(7));
/// # Ok(()) }).unwrap();
/// ```
pub fn move_on_after<F, T, E>(timeout: Duration, fut: F) -> ScopeRun<F>
where
    F: Future<Output = Result<T, E>>,
    E: MaybeCancelled + From<Error>,
{
    CancelScope::with_timeout(timeout).run(fut)
}

/// Runs `fut` until `deadline`; `Ok(None)` if the deadline cancelled it (Trio's
/// `move_on_at`).
///
/// # Errors
///
/// As [`move_on_after`].
///
/// # Cancellation
///
/// As [`move_on_after`].
///
/// # Examples
///
/// ```
/// # trio::run(async {
/// let at = trio::current_time() + std::time::Duration::from_millis(5);
/// assert!(trio::move_on_at(at, trio::sleep_forever()).await?.is_none());
/// # Ok(()) }).unwrap();
/// ```
pub fn move_on_at<F, T, E>(deadline: Instant, fut: F) -> ScopeRun<F>
where
    F: Future<Output = Result<T, E>>,
    E: MaybeCancelled + From<Error>,
{
    CancelScope::with_deadline(deadline).run(fut)
}

pin_project_lite::pin_project! {
    /// The future returned by [`fail_after`] and [`fail_at`].
    ///
    /// Output: `Result<T, E>` — the inner future's value, or [`TooSlow`] converted
    /// into `E` when the deadline cancelled it.
    ///
    /// # Errors
    ///
    /// As [`fail_after`].
    ///
    /// # Cancellation
    ///
    /// As [`move_on_after`]; an enclosing cancellation passes through as an error,
    /// not as `TooSlow`.
    ///
    /// # Examples
    ///
    /// Works with any error type that can hold a trio cancellation and a
    /// [`TooSlow`], such as [`std::io::Error`]:
    ///
    /// ```
    /// use std::time::Duration;
    /// # trio::run(async {
    /// let slow: trio::FailAfter<_> = trio::fail_after(Duration::from_millis(1), async {
    ///     trio::sleep_forever().await?;
    ///     Ok::<(), std::io::Error>(())
    /// });
    /// assert_eq!(slow.await.unwrap_err().kind(), std::io::ErrorKind::TimedOut);
    /// # Ok(()) }).unwrap();
    /// ```
    #[must_use = "futures do nothing unless awaited"]
    pub struct FailAfter<F> {
        #[pin]
        inner: ScopeRun<F>,
    }
}

impl<F> FailAfter<F> {
    /// The scope of this `fail_after` (Trio's `with fail_after(...) as scope`):
    /// cancelling it explicitly fails with [`TooSlow`] as its deadline would.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// # trio::run(async {
    /// let run = trio::fail_after(Duration::from_secs(60), trio::sleep_forever());
    /// let scope = run.cancel_scope();
    /// scope.cancel();
    /// assert_eq!(run.await.unwrap_err().kind(), trio::ErrorKind::TooSlow);
    /// assert!(scope.cancelled_caught());
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn cancel_scope(&self) -> CancelScope {
        self.inner.cancel_scope()
    }
}

impl<F, T, E> Future for FailAfter<F>
where
    F: Future<Output = Result<T, E>>,
    E: MaybeCancelled + From<Error> + From<TooSlow>,
{
    type Output = Result<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().inner.poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(Some(v))) => Poll::Ready(Ok(v)),
            Poll::Ready(Ok(None)) => Poll::Ready(Err(E::from(TooSlow::new()))),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
        }
    }
}

/// Runs `fut` with a timeout, failing with [`TooSlow`] if it expires (Trio's
/// `fail_after`).
///
/// # Errors
///
/// [`ErrorKind::TooSlow`] (or [`std::io::ErrorKind::TimedOut`] for `io::Error`) when
/// the timeout cancelled `fut`; otherwise the errors of `fut`.
///
/// # Cancellation
///
/// As [`move_on_after`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// # trio::run(async {
/// let r = trio::fail_after(Duration::from_millis(1), trio::sleep_forever()).await;
/// assert_eq!(r.unwrap_err().kind(), trio::ErrorKind::TooSlow);
/// # Ok(()) }).unwrap();
/// ```
pub fn fail_after<F, T, E>(timeout: Duration, fut: F) -> FailAfter<F>
where
    F: Future<Output = Result<T, E>>,
    E: MaybeCancelled + From<Error> + From<TooSlow>,
{
    CancelScope::with_timeout(timeout).run_or_fail(fut)
}

/// Runs `fut` until `deadline`, failing with [`TooSlow`] if it is reached (Trio's
/// `fail_at`).
///
/// # Errors
///
/// As [`fail_after`].
///
/// # Cancellation
///
/// As [`move_on_after`].
///
/// # Examples
///
/// ```
/// # trio::run(async {
/// let r = trio::fail_at(trio::current_time(), trio::sleep_forever()).await;
/// assert!(r.is_err());
/// # Ok(()) }).unwrap();
/// ```
pub fn fail_at<F, T, E>(deadline: Instant, fut: F) -> FailAfter<F>
where
    F: Future<Output = Result<T, E>>,
    E: MaybeCancelled + From<Error> + From<TooSlow>,
{
    CancelScope::with_deadline(deadline).run_or_fail(fut)
}

/// The nearest deadline that applies to the current code: the minimum over the
/// enclosing cancel scopes up to the nearest shield, [`Instant::INFINITY`] if none,
/// [`Instant::NEG_INFINITY`] if the code is already cancelled.
///
/// # Panics
///
/// If called outside [`trio::run`](crate::run).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// # trio::run(async {
/// assert_eq!(trio::current_effective_deadline(), trio::Instant::INFINITY);
/// trio::move_on_after(Duration::from_secs(5), async {
///     assert!(trio::current_effective_deadline() < trio::Instant::INFINITY);
///     Ok::<_, trio::Error>(())
/// }).await?;
/// # Ok(()) }).unwrap();
/// ```
pub fn current_effective_deadline() -> Instant {
    context::with_current_status(|s| {
        s.expect("trio::current_effective_deadline called outside trio::run")
            .effective_deadline()
    })
}
