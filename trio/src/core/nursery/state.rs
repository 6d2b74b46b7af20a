//! The engine of a nursery: its non-generic core (ready queue, scope, the cells of
//! its children) and its state (the children's futures, which may borrow `'env`
//! data, and what they left behind: errors and a panic).
//!
//! Invariant: `NurseryState::futures` and `NurseryCore::children` have the same
//! occupied keys; a child's slot number is its key in both, and its cell stores it
//! (`TaskLocal::key`), so that its waker can queue it in `NurseryCore::ready`.

use std::any::Any;
use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::task::{Context, Waker};

use slab::Slab;
use smallvec::SmallVec;

use super::super::cancel::{ScopeState, outside_trio};
use super::super::context::{self, PollGuard};
use super::super::task::{TaskCell, TaskLocal, step};
use crate::error::{CancelSource, Error, ErrorKind, Result};

/// At most this many batches run back to back inside one nursery poll before
/// control goes back to the run loop (which then checks I/O, deadlines and other
/// threads' requests as usual).
pub(super) const MAX_INLINE_BATCHES: usize = 64;

/// How many children ahead of the one being polled `run_batch` prefetches.
const PREFETCH_AHEAD: usize = 4;

/// A hint to load the cache line at `p`; never faults, whatever `p` is.
#[inline(always)]
fn prefetch(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: a prefetch is only a hint: it never faults or reads memory in a
        // way the program can observe, whatever the address (SSE is part of the
        // x86_64 baseline).
        unsafe { _mm_prefetch::<_MM_HINT_T0>(p.cast::<i8>()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// A child's slot number as its cell stores it.
fn slot_u32(key: usize) -> u32 {
    u32::try_from(key).expect("more than 4 billion children in one nursery")
}

/// A batch of ready child slots.
pub(in crate::core) type Batch = SmallVec<[usize; 4]>;

pub(in crate::core) type ChildFuture<'env> = Pin<Box<dyn Future<Output = Result<()>> + 'env>>;
type Panic = Box<dyn Any + Send + 'static>;

/// The non-generic part of a nursery: ready queue, scope, and the cells of its
/// children (for the task tree). Shared with the children's cells (`owner`).
pub(in crate::core) struct NurseryCore {
    pub(in crate::core) id: u64,
    /// Slots of children woken since the last batch (inline up to a few: most
    /// nurseries have few children, and this saves them two allocations).
    pub(in crate::core) ready: RefCell<Batch>,
    /// A spare vector, swapped with `ready` at each batch to avoid allocating.
    pub(in crate::core) spare: RefCell<Batch>,
    /// True while the nursery is being polled: wake-ups then need not wake the parent.
    pub(in crate::core) polling: Cell<bool>,
    /// The waker of the task that polls this nursery (`None` for the run loop's roots).
    pub(in crate::core) parent_waker: RefCell<Option<Waker>>,
    pub(in crate::core) scope: Rc<ScopeState>,
    pub(in crate::core) parent_task: Option<Arc<TaskCell>>,
    /// The cells of the live children; slot numbers match `NurseryState::futures`.
    pub(in crate::core) children: RefCell<Slab<Arc<TaskCell>>>,
    pub(in crate::core) closed: Cell<bool>,
    /// The next older nursery still open in the same parent task (see
    /// `TaskLocal::nurseries`).
    pub(in crate::core) next_open: RefCell<Option<Weak<NurseryCore>>>,
    /// `start()` calls in flight whose child will move here: the nursery waits for them.
    pub(in crate::core) pending_starts: Cell<usize>,
    /// Set only while a `start()` child moves between nurseries (see `StartLink`);
    /// boxed, so that it costs every other nursery one word.
    pub(in crate::core) start_link: RefCell<Option<Box<StartLink>>>,
}

/// The two ends of a `TaskStatus::started` hand-over, for the rest of the step in
/// which it happened (the futures move when the step ends).
#[derive(Default)]
pub(in crate::core) struct StartLink {
    /// On a `start()` call's private nursery: the nursery its tasks belong to now.
    moved_to: Option<Rc<NurseryCore>>,
    /// On the target: the private nurseries whose tasks were handed over to it and
    /// have not physically arrived yet.
    arriving: Vec<Weak<NurseryCore>>,
}

impl NurseryCore {
    pub(in crate::core) fn new(
        id: u64,
        scope: Rc<ScopeState>,
        parent_task: Option<Arc<TaskCell>>,
    ) -> Self {
        NurseryCore {
            id,
            ready: RefCell::new(Batch::new()),
            spare: RefCell::new(Batch::new()),
            polling: Cell::new(false),
            parent_waker: RefCell::new(None),
            scope,
            parent_task,
            children: RefCell::new(Slab::new()),
            closed: Cell::new(false),
            next_open: RefCell::new(None),
            pending_starts: Cell::new(0),
            start_link: RefCell::new(None),
        }
    }

    fn moved_to(&self) -> Option<Rc<NurseryCore>> {
        self.start_link.borrow().as_ref()?.moved_to.clone()
    }

    /// The nursery this one's tasks logically belong to: itself, or the target of
    /// the `start()` call it serves once its child called `started`.
    pub(in crate::core) fn logical(self: &Rc<Self>) -> Rc<NurseryCore> {
        self.moved_to().unwrap_or_else(|| self.clone())
    }

    /// The live children, as the task tree sees them: the tasks handed over to this
    /// nursery by `started` count as its children from that instant.
    pub(in crate::core) fn live_children(&self) -> Vec<Arc<TaskCell>> {
        let link = self.start_link.borrow();
        if link.as_ref().is_some_and(|l| l.moved_to.is_some()) {
            return Vec::new();
        }
        let mut out: Vec<Arc<TaskCell>> = self
            .children
            .borrow()
            .iter()
            .map(|(_, c)| c.clone())
            .collect();
        let arriving = link.iter().flat_map(|l| l.arriving.iter());
        for from in arriving.filter_map(Weak::upgrade) {
            out.extend(from.children.borrow().iter().map(|(_, c)| c.clone()));
        }
        out
    }

    /// `TaskStatus::started`: from this instant the tasks of this private `start()`
    /// nursery are children of `to` (Trio moves them at once). Logically: their
    /// parent nursery is `to`, and their cancel status hangs under `to`'s scope
    /// instead of the `start()` caller's — done by moving this nursery's scope (the
    /// root of their status) under `to`'s; it is never cancelled itself, so it is
    /// transparent there. Physically the futures stay here until the current step
    /// ends (the step is polling one of them), then `start` moves them.
    pub(super) fn hand_over(self: &Rc<Self>, to: &Rc<NurseryCore>) {
        self.start_link
            .borrow_mut()
            .get_or_insert_default()
            .moved_to = Some(to.clone());
        to.start_link
            .borrow_mut()
            .get_or_insert_default()
            .arriving
            .push(Rc::downgrade(self));
        self.scope.reparent_to(&to.scope);
    }

    /// The end of a hand-over: `from`'s tasks have physically arrived here.
    pub(super) fn arrived(&self, from: &Rc<NurseryCore>) {
        let mut link = self.start_link.borrow_mut();
        if let Some(l) = link.as_mut() {
            l.arriving
                .retain(|w| !std::ptr::eq(w.as_ptr(), Rc::as_ptr(from)));
            if l.arriving.is_empty() && l.moved_to.is_none() {
                *link = None;
            }
        }
    }

    /// Fails the nursery for `e` (unless it is a cancellation): cancels its scope,
    /// naming `by` as the task that caused it.
    fn fail(&self, e: &Error, by: Option<&TaskCell>) {
        if !e.is_cancelled() && !self.scope.cancel_called() {
            let reason: Arc<str> = Arc::from(format!("a task in the nursery failed: {e}"));
            self.scope
                .cancel_from(CancelSource::Nursery, Some(reason), by);
        }
    }

    /// Puts this (new) nursery at the head of its parent task's open nurseries.
    pub(in crate::core) fn link_into(self: &Rc<Self>, l: &TaskLocal) {
        let older = l.nurseries.borrow_mut().replace(Rc::downgrade(self));
        *self.next_open.borrow_mut() = older;
    }

    /// Takes this nursery out of its parent task's open nurseries. Every nursery in
    /// that list is alive (a nursery leaves it when closed, and one that is never
    /// closed was leaked, so it is never freed either).
    fn unlink_from(&self, l: &TaskLocal) {
        let me: *const NurseryCore = self;
        let next = self.next_open.borrow_mut().take();
        let mut head = l.nurseries.borrow_mut();
        if head.as_ref().is_some_and(|w| w.as_ptr() == me) {
            *head = next;
            return;
        }
        let mut cur = head.as_ref().and_then(Weak::upgrade);
        drop(head);
        while let Some(core) = cur {
            let mut link = core.next_open.borrow_mut();
            if link.as_ref().is_some_and(|w| w.as_ptr() == me) {
                *link = next;
                return;
            }
            let following = link.as_ref().and_then(Weak::upgrade);
            drop(link);
            cur = following;
        }
    }

    /// Queues a child slot for the next batch; wakes the parent if needed.
    #[inline]
    pub(in crate::core) fn push_ready(&self, key: usize) {
        let was_empty = {
            let mut r = self.ready.borrow_mut();
            let was_empty = r.is_empty();
            r.push(key);
            was_empty
        };
        if was_empty && !self.polling.get() {
            self.wake_parent();
        }
    }

    pub(in crate::core) fn wake_parent(&self) {
        // `wake_by_ref` under a shared borrow: waking schedules the parent in *its*
        // nursery (another object), so nothing here is borrowed mutably meanwhile.
        if let Some(w) = self.parent_waker.borrow().as_ref() {
            w.wake_by_ref();
        }
    }

    pub(in crate::core) fn ready_len(&self) -> usize {
        self.ready.borrow().len()
    }

    pub(in crate::core) fn has_ready(&self) -> bool {
        !self.ready.borrow().is_empty()
    }

    pub(super) fn set_parent_waker(&self, waker: &Waker) {
        let mut pw = self.parent_waker.borrow_mut();
        if !pw.as_ref().is_some_and(|w| w.will_wake(waker)) {
            *pw = Some(waker.clone());
        }
    }

    /// Takes the current ready queue as a batch, in the order the run's policy
    /// chose (which may leave some for the next batch).
    pub(in crate::core) fn take_batch(&self) -> Batch {
        let mut batch = std::mem::take(&mut *self.spare.borrow_mut());
        std::mem::swap(&mut batch, &mut *self.ready.borrow_mut());
        if batch.len() > 1 {
            context::with_runner(|r| r.order(&mut batch, self));
        }
        batch
    }

    pub(in crate::core) fn return_batch(&self, mut batch: Batch) {
        batch.clear();
        let mut spare = self.spare.borrow_mut();
        if spare.capacity() < batch.capacity() {
            *spare = batch;
        }
    }
}

/// Everything a nursery owns, including its children's futures (`'env`).
pub(in crate::core) struct NurseryState<'env> {
    pub(in crate::core) core: Rc<NurseryCore>,
    futures: RefCell<Slab<Option<ChildFuture<'env>>>>,
    errors: RefCell<Vec<Error>>,
    panic: RefCell<Option<Panic>>,
}

impl<'env> NurseryState<'env> {
    /// A nursery whose scope is entered under the current status, belonging to the
    /// current task.
    pub(in crate::core) fn open() -> Result<Rc<NurseryState<'env>>> {
        let runner = context::runner().ok_or_else(outside_trio)?;
        let parent = context::current_status().ok_or_else(outside_trio)?;
        let scope = ScopeState::new();
        scope.enter(Some(parent))?;
        let parent_task = context::current_task_arc();
        let core = Rc::new(NurseryCore::new(runner.next_id(), scope, parent_task));
        if let Some(t) = &core.parent_task {
            if let Some(l) = t.local() {
                core.link_into(l);
            }
        }
        Ok(Rc::new(NurseryState::with_core(core)))
    }

    pub(in crate::core) fn with_core(core: Rc<NurseryCore>) -> NurseryState<'env> {
        NurseryState {
            core,
            futures: RefCell::new(Slab::new()),
            errors: RefCell::new(Vec::new()),
            panic: RefCell::new(None),
        }
    }

    /// Reserves a slot with no future (the run loop's main task uses this).
    pub(in crate::core) fn reserve_slot(&self, cell: Arc<TaskCell>) -> usize {
        let key = self.futures.borrow_mut().insert(None);
        let k2 = self.core.children.borrow_mut().insert(cell.clone());
        debug_assert_eq!(key, k2);
        let l = cell.l();
        l.key.set(slot_u32(key));
        *l.owner.borrow_mut() = Some(self.core.clone());
        *l.status.borrow_mut() = Some(self.core.scope.clone());
        key
    }

    /// Frees a slot made with `reserve_slot` (the main task, when it finishes).
    pub(in crate::core) fn release_slot(&self, key: usize) {
        let mut f = self.futures.borrow_mut();
        if f.contains(key) {
            f.remove(key);
        }
        drop(f);
        let mut c = self.core.children.borrow_mut();
        if c.contains(key) {
            c.remove(key);
        }
    }

    pub(in crate::core) fn spawn(
        &self,
        name: Cow<'static, str>,
        fut: ChildFuture<'env>,
        at: &'static Location<'static>,
    ) -> Result<Arc<TaskCell>> {
        if self.core.closed.get() {
            return Err(Error::new(
                ErrorKind::NurseryClosed,
                "this nursery has finished and accepts no new children",
            ));
        }
        let runner = context::runner().ok_or_else(outside_trio)?;
        let cell = TaskCell::new(runner.loop_id, runner.next_id(), name, Some(at));
        self.link(&cell, fut);
        // Trio's order: `task_spawned`, then `task_scheduled`.
        runner.task_spawned(&cell);
        cell.schedule_local(cell.l());
        Ok(cell)
    }

    /// Makes `cell`/`fut` a child of this nursery and schedules it.
    pub(super) fn adopt(&self, cell: Arc<TaskCell>, fut: ChildFuture<'env>) {
        self.link(&cell, fut);
        cell.schedule_local(cell.l());
    }

    /// Makes `cell`/`fut` a child of this nursery, not yet scheduled.
    fn link(&self, cell: &Arc<TaskCell>, fut: ChildFuture<'env>) {
        let key = self.futures.borrow_mut().insert(Some(fut));
        let k2 = self.core.children.borrow_mut().insert(cell.clone());
        debug_assert_eq!(key, k2);
        let l = cell.l();
        l.key.set(slot_u32(key));
        *l.owner.borrow_mut() = Some(self.core.clone());
        *l.status.borrow_mut() = Some(self.core.scope.clone());
        l.unschedule();
    }

    /// Removes every child without ending it (to move them to another nursery).
    pub(super) fn take_children(&self) -> Vec<(Arc<TaskCell>, ChildFuture<'env>)> {
        let futures = std::mem::take(&mut *self.futures.borrow_mut());
        let mut cells = self.core.children.borrow_mut();
        futures
            .into_iter()
            .filter_map(|(k, f)| Some((cells.remove(k), f?)))
            .collect()
    }

    /// Takes over the errors and the panic `other` collected (the private nursery
    /// of a `start` whose child moved here; its failures already cancelled us).
    pub(super) fn take_failures_of(&self, other: &NurseryState<'env>) {
        self.errors.borrow_mut().extend(other.take_errors());
        if let Some(p) = other.take_panic() {
            self.keep_panic(p);
        }
    }

    pub(in crate::core) fn is_empty(&self) -> bool {
        self.futures.borrow().is_empty()
    }

    /// Keeps `e` for the nursery's result and, unless it is a cancellation, cancels
    /// the nursery (the one its tasks belong to, see `NurseryCore::logical`) on
    /// behalf of `by`, the task that failed.
    pub(in crate::core) fn add_error(&self, e: Error, by: Option<&TaskCell>) {
        self.core.logical().fail(&e, by);
        self.errors.borrow_mut().push(e);
    }

    /// Keeps the first panic for the nursery's end and cancels the nursery.
    pub(in crate::core) fn add_panic(&self, p: Panic, by: Option<&TaskCell>) {
        let reason: Arc<str> = Arc::from("a task in the nursery panicked");
        self.core
            .logical()
            .scope
            .cancel_from(CancelSource::Nursery, Some(reason), by);
        self.keep_panic(p);
    }

    pub(super) fn keep_panic(&self, p: Panic) {
        let mut slot = self.panic.borrow_mut();
        if slot.is_none() {
            *slot = Some(p);
        }
    }

    pub(in crate::core) fn take_errors(&self) -> Vec<Error> {
        std::mem::take(&mut *self.errors.borrow_mut())
    }

    pub(in crate::core) fn take_panic(&self) -> Option<Panic> {
        self.panic.borrow_mut().take()
    }

    /// Runs one batch of this nursery's ready children on behalf of the task that
    /// polls it (`cx`): the whole poll of a `start()` call's private nursery.
    pub(super) fn run_batches_once(&self, cx: &Context<'_>) {
        let core = &self.core;
        core.set_parent_waker(cx.waker());
        core.polling.set(true);
        let batch = core.take_batch();
        self.run_batch(&batch);
        core.return_batch(batch);
        core.polling.set(false);
    }

    /// Polls one batch of ready children.
    pub(in crate::core) fn run_batch(&self, batch: &[usize]) {
        for (i, &key) in batch.iter().enumerate() {
            if let Some(&ahead) = batch.get(i + PREFETCH_AHEAD) {
                self.prefetch_child(ahead);
            }
            self.poll_child(key);
        }
    }

    /// Asks the CPU to start loading the cell and future of the child in slot
    /// `key`, which will be polled soon. A large batch visits children in wake-up
    /// order (or reversed), which is rarely memory order, and without this the
    /// first touch of each child's cell and future is a cache miss the hardware
    /// does not predict (measured: over half of `poll_child`'s time with 10,000
    /// children).
    #[inline]
    fn prefetch_child(&self, key: usize) {
        if let Some(c) = self.core.children.borrow().get(key) {
            let p = Arc::as_ptr(c).cast::<u8>();
            prefetch(p);
            prefetch(p.wrapping_add(64));
        }
        if let Some(Some(f)) = self.futures.borrow().get(key) {
            let p: *const (dyn Future<Output = Result<()>> + 'env) = &**f;
            prefetch(p.cast::<u8>());
        }
    }

    /// Polls the child in slot `key` if it is scheduled.
    pub(in crate::core) fn poll_child(&self, key: usize) {
        // A raw pointer rather than an `Arc` clone: two atomic operations fewer on
        // every poll of every task.
        let cell_ptr: *const TaskCell = match self.core.children.borrow().get(key) {
            Some(c) => Arc::as_ptr(c),
            None => return,
        };
        // SAFETY: the `Arc` in `core.children[key]` keeps the cell alive; only
        // `child_done`, `take_child` or `abandon` vacate that slot, and none can run
        // before this function's own `child_done` (a child's poll cannot reach its
        // nursery's internals; a nursery is not dropped while being polled).
        let cell: &TaskCell = unsafe { &*cell_ptr };
        let l = cell.l();
        if !l.scheduled.get() {
            return;
        }
        let Some(mut fut) = self
            .futures
            .borrow_mut()
            .get_mut(key)
            .and_then(Option::take)
        else {
            return;
        };
        l.unschedule();
        let status = l.status.borrow().clone().expect("a live task has a status");
        let runner = context::runner().expect("children are polled inside the run loop");
        // SAFETY: see above: the cell outlives this step.
        let outcome = unsafe { step(&runner, cell_ptr, &status, |cx| fut.as_mut().poll(cx)) };
        match outcome {
            None => {
                if let Some(slot) = self.futures.borrow_mut().get_mut(key) {
                    *slot = Some(fut);
                }
            }
            Some(o) => {
                {
                    // Drop the future as the task, so its destructors see their task.
                    let _g = PollGuard::task(cell_ptr, &status);
                    drop(fut);
                }
                self.child_done(key, o);
            }
        }
    }

    fn child_done(&self, key: usize, outcome: std::result::Result<Result<()>, Panic>) {
        {
            let mut f = self.futures.borrow_mut();
            if f.contains(key) {
                f.remove(key);
            }
        }
        let cell = self.core.children.borrow_mut().remove(key);
        context::with_runner(|r| r.task_exited(&cell));
        cell.release();
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(e)) => self.add_error(e, Some(&cell)),
            Err(p) => self.add_panic(p, Some(&cell)),
        }
    }

    /// Drops every child (the nursery future was dropped before finishing).
    pub(in crate::core) fn abandon(&self) {
        let futures: Vec<Option<ChildFuture<'env>>> =
            std::mem::take(&mut *self.futures.borrow_mut())
                .into_iter()
                .map(|(_, f)| f)
                .collect();
        let cells: Vec<Arc<TaskCell>> = std::mem::take(&mut *self.core.children.borrow_mut())
            .into_iter()
            .map(|(_, c)| c)
            .collect();
        for (fut, cell) in futures.into_iter().zip(cells) {
            {
                let status = cell.l().status.borrow().clone();
                let _g = status
                    .as_ref()
                    .map(|s| PollGuard::task(Arc::as_ptr(&cell), s));
                drop(fut);
            }
            context::with_runner(|r| r.task_exited(&cell));
            cell.release();
        }
        self.close();
    }

    pub(super) fn close(&self) {
        if self.core.closed.replace(true) {
            return;
        }
        self.core.scope.exit();
        if let Some(t) = &self.core.parent_task {
            if let Some(l) = t.local() {
                self.core.unlink_from(l);
            }
        }
        self.core.parent_waker.borrow_mut().take();
    }
}

/// Drops every child of a nursery whose future is dropped before it finished.
pub(super) struct AbandonOnDrop<'env>(pub(super) Rc<NurseryState<'env>>);

impl Drop for AbandonOnDrop<'_> {
    fn drop(&mut self) {
        if !self.0.core.closed.get() {
            self.0.abandon();
        }
    }
}
