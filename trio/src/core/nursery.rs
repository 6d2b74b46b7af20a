//! Nurseries: where every task lives.
//!
//! # Why children are polled inside the nursery's future
//!
//! Children may borrow from the code that opened the nursery (`'env` data), with no
//! `'static` bound and no `Arc`. That is sound only if a child can never run after
//! the data it borrows is gone. Two things could make it run: the run loop polling it
//! directly, and a child surviving its nursery. So the run loop never sees children
//! at all: a child's future is owned by its nursery's state and polled only from the
//! nursery future's `poll` — which runs only while the code that opened the nursery
//! is itself being polled, i.e. while `'env` is alive. If the nursery future is
//! leaked (`mem::forget`), its children are leaked with it and never polled again;
//! if it is dropped, its `Drop` drops every child first. No lifetime is erased:
//! children are stored as `Pin<Box<dyn Future + 'env>>` in a `NurseryState<'env>`.
//!
//! # Tasks nonetheless
//!
//! Each child is still a logical task of the run loop: it has a [`TaskCell`] (id,
//! name, waker) that is non-generic, so the task tree, instruments and statistics can
//! see it. A child's waker queues the child's slot in its nursery's ready queue and,
//! if that queue was empty, wakes the task that polls the nursery; wake-ups climb the
//! tree that way up to a root task, which the run loop polls. A nursery polls only its
//! ready children, in batches: the batch is taken before the body is polled, so a
//! child woken (or started) during a batch runs in the next one, as in Trio.
//!
//! # Errors
//!
//! A child's error (not a cancellation) cancels the nursery's scope — so the body and
//! every sibling see `Err(Cancelled)` at their next checkpoint — and is kept. When
//! everything has finished, the nursery's scope swallows the cancellations it caused
//! and the rest come out as one error or a group. A panic cancels the same way and
//! is resumed in the parent once every child has finished, as `std::thread::scope`
//! does.

use std::any::Any;
use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::{Future, poll_fn};
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, Location, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use slab::Slab;
use smallvec::SmallVec;

use super::cancel::{CancelScope, ScopeState, outside_trio};
use super::context::{self, PollGuard};
use super::parking_lot::ParkingLot;
use super::task::{TaskCell, TaskLocal, WakerRef};
use super::wait::{self, RawWait};
use super::watchdog;
use crate::error::{CancelSource, Error, ErrorKind, Result};

/// At most this many batches run back to back inside one nursery poll before
/// control goes back to the run loop (which then checks I/O, deadlines and other
/// threads' requests as usual).
const MAX_INLINE_BATCHES: usize = 64;

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
pub(crate) type Batch = SmallVec<[usize; 4]>;

pub(crate) type ChildFuture<'env> = Pin<Box<dyn Future<Output = Result<()>> + 'env>>;
type Panic = Box<dyn Any + Send + 'static>;

/// The non-generic part of a nursery: ready queue, scope, and the cells of its
/// children (for the task tree). Shared with the children's cells (`owner`).
pub(crate) struct NurseryCore {
    pub(crate) id: u64,
    /// Slots of children woken since the last batch (inline up to a few: most
    /// nurseries have few children, and this saves them two allocations).
    ready: RefCell<Batch>,
    /// A spare vector, swapped with `ready` at each batch to avoid allocating.
    spare: RefCell<Batch>,
    /// True while the nursery is being polled: wake-ups then need not wake the parent.
    polling: Cell<bool>,
    /// The waker of the task that polls this nursery (`None` for the run loop's roots).
    parent_waker: RefCell<Option<Waker>>,
    pub(crate) scope: Rc<ScopeState>,
    pub(crate) parent_task: Option<Arc<TaskCell>>,
    /// The cells of the live children; slot numbers match `NurseryState::futures`.
    pub(crate) children: RefCell<Slab<Arc<TaskCell>>>,
    closed: Cell<bool>,
    /// The next older nursery still open in the same parent task (see
    /// `TaskLocal::nurseries`).
    pub(crate) next_open: RefCell<Option<Weak<NurseryCore>>>,
    /// `start()` calls in flight whose child will move here: the nursery waits for them.
    pending_starts: Cell<usize>,
    /// Set only while a `start()` child moves between nurseries (see `StartLink`);
    /// boxed, so that it costs every other nursery one word.
    start_link: RefCell<Option<Box<StartLink>>>,
}

/// The two ends of a `TaskStatus::started` hand-over, for the rest of the step in
/// which it happened (the futures move when the step ends).
#[derive(Default)]
struct StartLink {
    /// On a `start()` call's private nursery: the nursery its tasks belong to now.
    moved_to: Option<Rc<NurseryCore>>,
    /// On the target: the private nurseries whose tasks were handed over to it and
    /// have not physically arrived yet.
    arriving: Vec<Weak<NurseryCore>>,
}

impl NurseryCore {
    pub(crate) fn new(id: u64, scope: Rc<ScopeState>, parent_task: Option<Arc<TaskCell>>) -> Self {
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
    fn logical(self: &Rc<Self>) -> Rc<NurseryCore> {
        self.moved_to().unwrap_or_else(|| self.clone())
    }

    /// The live children, as the task tree sees them: the tasks handed over to this
    /// nursery by `started` count as its children from that instant.
    fn live_children(&self) -> Vec<Arc<TaskCell>> {
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
    fn hand_over(self: &Rc<Self>, to: &Rc<NurseryCore>) {
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
    fn arrived(&self, from: &Rc<NurseryCore>) {
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
    pub(crate) fn link_into(self: &Rc<Self>, l: &TaskLocal) {
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
    pub(crate) fn push_ready(&self, key: usize) {
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

    pub(crate) fn wake_parent(&self) {
        // `wake_by_ref` under a shared borrow: waking schedules the parent in *its*
        // nursery (another object), so nothing here is borrowed mutably meanwhile.
        if let Some(w) = self.parent_waker.borrow().as_ref() {
            w.wake_by_ref();
        }
    }

    pub(crate) fn ready_len(&self) -> usize {
        self.ready.borrow().len()
    }

    pub(crate) fn has_ready(&self) -> bool {
        !self.ready.borrow().is_empty()
    }

    fn set_parent_waker(&self, waker: &Waker) {
        let mut pw = self.parent_waker.borrow_mut();
        if !pw.as_ref().is_some_and(|w| w.will_wake(waker)) {
            *pw = Some(waker.clone());
        }
    }

    /// Takes the current ready queue as a batch (reversed or not per the run's seed).
    pub(crate) fn take_batch(&self) -> Batch {
        let mut batch = std::mem::take(&mut *self.spare.borrow_mut());
        std::mem::swap(&mut batch, &mut *self.ready.borrow_mut());
        if batch.len() > 1 {
            context::with_runner(|r| r.shuffle(&mut batch));
        }
        batch
    }

    pub(crate) fn return_batch(&self, mut batch: Batch) {
        batch.clear();
        let mut spare = self.spare.borrow_mut();
        if spare.capacity() < batch.capacity() {
            *spare = batch;
        }
    }
}

/// Everything a nursery owns, including its children's futures (`'env`).
pub(crate) struct NurseryState<'env> {
    pub(crate) core: Rc<NurseryCore>,
    futures: RefCell<Slab<Option<ChildFuture<'env>>>>,
    errors: RefCell<Vec<Error>>,
    panic: RefCell<Option<Panic>>,
}

impl<'env> NurseryState<'env> {
    /// A nursery whose scope is entered under the current status, belonging to the
    /// current task.
    pub(crate) fn open() -> Result<Rc<NurseryState<'env>>> {
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

    pub(crate) fn with_core(core: Rc<NurseryCore>) -> NurseryState<'env> {
        NurseryState {
            core,
            futures: RefCell::new(Slab::new()),
            errors: RefCell::new(Vec::new()),
            panic: RefCell::new(None),
        }
    }

    /// Reserves a slot with no future (the run loop's main task uses this).
    pub(crate) fn reserve_slot(&self, cell: Arc<TaskCell>) -> usize {
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
    pub(crate) fn release_slot(&self, key: usize) {
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

    pub(crate) fn spawn(
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
    fn adopt(&self, cell: Arc<TaskCell>, fut: ChildFuture<'env>) {
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

    /// Removes a child without ending it (to move it to another nursery).
    fn take_child(&self, key: usize) -> Option<(Arc<TaskCell>, ChildFuture<'env>)> {
        let fut = {
            let mut f = self.futures.borrow_mut();
            if !f.contains(key) {
                return None;
            }
            f.remove(key)?
        };
        let cell = self.core.children.borrow_mut().remove(key);
        Some((cell, fut))
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.futures.borrow().is_empty()
    }

    /// Keeps `e` for the nursery's result and, unless it is a cancellation, cancels
    /// the nursery (the one its tasks belong to, see `NurseryCore::logical`) on
    /// behalf of `by`, the task that failed.
    pub(crate) fn add_error(&self, e: Error, by: Option<&TaskCell>) {
        self.core.logical().fail(&e, by);
        self.errors.borrow_mut().push(e);
    }

    /// Keeps the first panic for the nursery's end and cancels the nursery.
    pub(crate) fn add_panic(&self, p: Panic, by: Option<&TaskCell>) {
        let reason: Arc<str> = Arc::from("a task in the nursery panicked");
        self.core
            .logical()
            .scope
            .cancel_from(CancelSource::Nursery, Some(reason), by);
        self.keep_panic(p);
    }

    fn keep_panic(&self, p: Panic) {
        let mut slot = self.panic.borrow_mut();
        if slot.is_none() {
            *slot = Some(p);
        }
    }

    pub(crate) fn take_errors(&self) -> Vec<Error> {
        std::mem::take(&mut *self.errors.borrow_mut())
    }

    pub(crate) fn take_panic(&self) -> Option<Panic> {
        self.panic.borrow_mut().take()
    }

    /// Polls one batch of ready children.
    pub(crate) fn run_batch(&self, batch: &[usize]) {
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
    pub(crate) fn poll_child(&self, key: usize) {
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
        let outcome = {
            // The step hooks run as the task (Trio: `current_task()` is the task).
            let _g = PollGuard::task(cell_ptr, &status);
            context::set_credit(runner.schedule_budget);
            runner.before_task_step(cell);
            // SAFETY: see above: the cell outlives this poll.
            let waker = unsafe { WakerRef::from_ptr(cell_ptr) };
            let mut cx = Context::from_waker(&waker);
            l.wait.set(RawWait::OTHER);
            #[cfg(feature = "tracing")]
            let _span = cell.span.enter();
            let res = watchdog::timed(runner.watchdog.as_ref(), cell, || {
                catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(&mut cx)))
            });
            let outcome = match res {
                Ok(Poll::Pending) => None,
                Ok(Poll::Ready(r)) => Some(Ok(r)),
                Err(p) => Some(Err(p)),
            };
            runner.after_task_step(cell);
            outcome
        };
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
    pub(crate) fn abandon(&self) {
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

    fn close(&self) {
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

/// Handle to an open nursery, given to the body of [`open_nursery`] (Trio's `Nursery`).
///
/// Start children with [`start_soon`](Self::start_soon), [`start`](Self::start) or
/// [`spawn`](Self::spawn). Clone it into children so they can start siblings
/// ("nursery passing"). Children may borrow anything that outlives the
/// `open_nursery` call (the `'env` lifetime) — bind references outside and move them
/// in with `async move`.
///
/// A child cannot borrow data created inside the body, because the child may outlive
/// the body (this is the nursery's soundness rule, checked by the compiler):
///
/// ```compile_fail,E0597
/// # trio::run(async {
/// trio::open_nursery(async |n| {
///     let local = vec![1, 2, 3];
///     let r = &local;
///     n.start_soon(async move { println!("{:?}", r); Ok(()) })?; // error: `local` does not live long enough
///     Ok(())
/// }).await
/// # }).unwrap();
/// ```
///
/// # Examples
///
/// ```
/// use std::cell::Cell;
/// # trio::run(async {
/// let total = Cell::new(0);
/// let t = &total;
/// trio::open_nursery(async |n| {
///     for i in 1..=3 {
///         n.start_soon(async move { t.set(t.get() + i); Ok(()) })?;
///     }
///     Ok(())
/// }).await?;
/// assert_eq!(total.get(), 6);
/// # Ok(()) }).unwrap();
/// ```
pub struct Nursery<'env> {
    state: Rc<NurseryState<'env>>,
    _invariant: PhantomData<&'env mut &'env ()>,
}

impl Clone for Nursery<'_> {
    fn clone(&self) -> Self {
        Nursery {
            state: self.state.clone(),
            _invariant: PhantomData,
        }
    }
}

impl fmt::Debug for Nursery<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Nursery")
            .field("id", &self.state.core.id)
            .field("children", &self.state.core.children.borrow().len())
            .field("closed", &self.state.core.closed.get())
            .finish()
    }
}

/// The default task name: the future's type name (trimmed when read, see `Task::name`).
fn default_name<F>() -> Cow<'static, str> {
    Cow::Borrowed(std::any::type_name::<F>())
}

impl<'env> Nursery<'env> {
    /// Starts `fut` as a new child; it begins running at the next batch (Trio's
    /// `start_soon`). Its name is taken from the future's type.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NurseryClosed`] if the nursery has already finished (only
    /// possible through a clone of the handle kept past the nursery).
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// trio::open_nursery(async |n| {
    ///     n.start_soon(async { trio::sleep(std::time::Duration::from_millis(1)).await })?;
    ///     Ok(())
    /// }).await
    /// # }).unwrap();
    /// ```
    #[track_caller]
    pub fn start_soon<F>(&self, fut: F) -> Result<()>
    where
        F: Future<Output = Result<()>> + 'env,
    {
        self.state
            .spawn(default_name::<F>(), Box::pin(fut), Location::caller())
            .map(drop)
    }

    /// [`start_soon`](Self::start_soon) with an explicit task name.
    ///
    /// # Errors
    ///
    /// As [`start_soon`](Self::start_soon).
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// trio::open_nursery(async |n| {
    ///     n.start_soon_named("worker-1", async {
    ///         assert_eq!(trio::lowlevel::current_task().name(), "worker-1");
    ///         Ok(())
    ///     })?;
    ///     Ok(())
    /// }).await
    /// # }).unwrap();
    /// ```
    #[track_caller]
    pub fn start_soon_named<F>(&self, name: impl Into<Cow<'static, str>>, fut: F) -> Result<()>
    where
        F: Future<Output = Result<()>> + 'env,
    {
        self.state
            .spawn(name.into(), Box::pin(fut), Location::caller())
            .map(drop)
    }

    /// Starts a child and waits until it reports that it is ready (Trio's
    /// `nursery.start`).
    ///
    /// `f` receives a [`TaskStatus`]; the child runs "under" this call — inside the
    /// caller's cancel scopes — until it calls [`TaskStatus::started`], whose value
    /// `start` returns. From the moment of that call it is a child of this nursery:
    /// its [`parent_nursery`](crate::lowlevel::Task::parent_nursery) is this one,
    /// this nursery's cancellation and deadlines reach it (and the caller's no
    /// longer do), and a failure of it fails this nursery.
    ///
    /// # Errors
    ///
    /// An error of the child before it called `started`; [`ErrorKind::Usage`] if it
    /// returned without calling `started`; [`ErrorKind::NurseryClosed`] if the
    /// nursery has finished.
    ///
    /// # Cancellation
    ///
    /// Cancelling the caller before `started` cancels the child, and `start` returns
    /// the child's result (normally `Err(Cancelled)`). As in Trio, a `started` call
    /// made while the caller is cancelled is ignored: the child stays under `start`
    /// until it finishes, and `start` returns its error, or the value if it succeeded.
    ///
    /// # Panics
    ///
    /// A panic in the child before `started` is resumed here.
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// trio::open_nursery(async |n| {
    ///     let port: u16 = n.start(async |status| {
    ///         status.started(8080);
    ///         trio::sleep(std::time::Duration::from_millis(1)).await
    ///     }).await?;
    ///     assert_eq!(port, 8080);
    ///     Ok(())
    /// }).await
    /// # }).unwrap();
    /// ```
    #[track_caller]
    pub fn start<V, F>(&self, f: F) -> impl Future<Output = Result<V>>
    where
        F: AsyncFnOnce(TaskStatus<V>) -> Result<()> + 'env,
        V: 'env,
    {
        self.start_inner(default_name::<F>(), f, Location::caller())
    }

    /// [`start`](Self::start) with an explicit task name.
    ///
    /// # Errors
    ///
    /// As [`start`](Self::start).
    ///
    /// # Cancellation
    ///
    /// As [`start`](Self::start).
    ///
    /// # Panics
    ///
    /// As [`start`](Self::start).
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// trio::open_nursery(async |n| {
    ///     n.start_named("server", async |status| { status.started(()); Ok(()) }).await
    /// }).await
    /// # }).unwrap();
    /// ```
    #[track_caller]
    pub fn start_named<V, F>(
        &self,
        name: impl Into<Cow<'static, str>>,
        f: F,
    ) -> impl Future<Output = Result<V>>
    where
        F: AsyncFnOnce(TaskStatus<V>) -> Result<()> + 'env,
        V: 'env,
    {
        self.start_inner(name.into(), f, Location::caller())
    }

    async fn start_inner<V, F>(
        &self,
        name: Cow<'static, str>,
        f: F,
        at: &'static Location<'static>,
    ) -> Result<V>
    where
        F: AsyncFnOnce(TaskStatus<V>) -> Result<()> + 'env,
        V: 'env,
    {
        let target = self.state.clone();
        if target.core.closed.get() {
            return Err(Error::new(
                ErrorKind::NurseryClosed,
                "this nursery has finished and accepts no new children",
            ));
        }
        let temp: Rc<NurseryState<'env>> = NurseryState::open()?;
        let shared = Rc::new(StartShared {
            value: RefCell::new(None),
            from: temp.core.clone(),
            to: target.core.clone(),
            handed_over: Cell::new(false),
        });
        let status = TaskStatus {
            shared: shared.clone(),
        };
        let _pending = PendingStart::new(&target.core);
        let _temp_guard = AbandonOnDrop(temp.clone());
        temp.spawn(name, Box::pin(async move { f(status).await }), at)?;
        poll_fn(|cx| {
            temp.core.set_parent_waker(cx.waker());
            temp.core.polling.set(true);
            let batch = temp.core.take_batch();
            temp.run_batch(&batch);
            temp.core.return_batch(batch);
            temp.core.polling.set(false);
            if shared.handed_over.get() {
                // `started` made the child a child of the target; now that its step
                // is over, move its future there too (if it still runs).
                let keys: Vec<usize> = temp.futures.borrow().iter().map(|(k, _)| k).collect();
                for k in keys {
                    if let Some((cell, fut)) = temp.take_child(k) {
                        target.adopt(cell, fut);
                    }
                }
                temp.core.scope.reparent_children(&target.core.scope);
                target.core.arrived(&temp.core);
                // Failures after `started` already cancelled the target (see
                // `add_error`); they are the target's to report.
                target.errors.borrow_mut().extend(temp.take_errors());
                if let Some(p) = temp.take_panic() {
                    target.keep_panic(p);
                }
                temp.close();
                let v = shared.value.borrow_mut().take();
                return Poll::Ready(v.ok_or_else(|| {
                    Error::new(ErrorKind::Internal, "started recorded no value")
                }));
            }
            if temp.is_empty() {
                temp.close();
                if let Some(p) = temp.take_panic() {
                    resume_unwind(p);
                }
                if let Some(e) = Error::group(temp.take_errors()) {
                    return Poll::Ready(Err(e));
                }
                return Poll::Ready(shared.value.borrow_mut().take().ok_or_else(|| {
                    Error::new(
                        ErrorKind::Usage,
                        "a task started with Nursery::start returned without calling TaskStatus::started",
                    )
                }));
            }
            if temp.core.has_ready() {
                cx.waker().wake_by_ref();
            }
            // The caller waits for the task it started (which runs in `temp`).
            wait::set(cx, RawWait::nursery(temp.core.id));
            Poll::Pending
        })
        .await
    }

    /// Starts `fut` as a child and returns a handle to await its value or cancel it
    /// on its own (anyio's `TaskHandle`).
    ///
    /// The child runs in its own cancel scope inside the nursery. Its `Ok` value goes
    /// to the handle; an error still goes to the nursery (cancelling the siblings),
    /// as for any child, and the handle reports [`ErrorKind::TaskFailed`].
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NurseryClosed`] if the nursery has finished.
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// trio::open_nursery(async |n| {
    ///     let mut h = n.spawn(async { Ok(6 * 7) })?;
    ///     assert_eq!(h.join().await?, 42);
    ///     Ok(())
    /// }).await
    /// # }).unwrap();
    /// ```
    #[track_caller]
    pub fn spawn<T, F>(&self, fut: F) -> Result<TaskHandle<T>>
    where
        F: Future<Output = Result<T>> + 'env,
        T: 'env,
    {
        self.spawn_inner(default_name::<F>(), fut, Location::caller())
    }

    /// [`spawn`](Self::spawn) with an explicit task name.
    ///
    /// # Errors
    ///
    /// As [`spawn`](Self::spawn).
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// trio::open_nursery(async |n| {
    ///     let h = n.spawn_named("compute", async { Ok(1) })?;
    ///     assert_eq!(h.task().name(), "compute");
    ///     Ok(())
    /// }).await
    /// # }).unwrap();
    /// ```
    #[track_caller]
    pub fn spawn_named<T, F>(
        &self,
        name: impl Into<Cow<'static, str>>,
        fut: F,
    ) -> Result<TaskHandle<T>>
    where
        F: Future<Output = Result<T>> + 'env,
        T: 'env,
    {
        self.spawn_inner(name.into(), fut, Location::caller())
    }

    fn spawn_inner<T, F>(
        &self,
        name: Cow<'static, str>,
        fut: F,
        at: &'static Location<'static>,
    ) -> Result<TaskHandle<T>>
    where
        F: Future<Output = Result<T>> + 'env,
        T: 'env,
    {
        let shared = Rc::new(HandleShared {
            result: RefCell::new(None),
            done: ParkingLot::of_kind(super::wait::LotKind::TaskHandle),
            scope: CancelScope::new(),
        });
        let s = shared.clone();
        let child = async move {
            let out = s.scope.run(fut).await;
            let (slot, ret) = match out {
                Ok(Some(v)) => (Ok(v), Ok(())),
                Ok(None) => (Err(Error::from_kind(ErrorKind::TaskCancelled)), Ok(())),
                Err(e) => (
                    Err(Error::new(
                        ErrorKind::TaskFailed,
                        format!("the task failed: {e}"),
                    )),
                    Err(e),
                ),
            };
            *s.result.borrow_mut() = Some(slot);
            s.done.unpark_all();
            ret
        };
        let cell = self.state.spawn(name, Box::pin(child), at)?;
        Ok(TaskHandle {
            shared,
            task: Task::from_cell(cell),
        })
    }

    /// The nursery's cancel scope: cancelling it cancels the body and every child.
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// trio::open_nursery(async |n| {
    ///     n.start_soon(trio::sleep_forever())?;
    ///     n.cancel_scope().cancel();
    ///     Ok(())
    /// }).await
    /// # }).unwrap();
    /// ```
    pub fn cancel_scope(&self) -> CancelScope {
        CancelScope::from_state(self.state.core.scope.clone())
    }

    /// A handle to inspect the nursery in the task tree.
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// let info = trio::open_nursery(async |n| {
    ///     let info = n.info();
    ///     assert_eq!(info.parent_task(), Some(trio::lowlevel::current_task()));
    ///     assert!(!info.is_closed());
    ///     Ok(info)
    /// }).await?.expect("the body returned");
    /// assert!(info.is_closed()); // the handle outlives the nursery
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn info(&self) -> NurseryInfo {
        NurseryInfo {
            core: self.state.core.clone(),
        }
    }
}

/// Keeps a target nursery open while a `start()` is in flight.
struct PendingStart(Rc<NurseryCore>);

impl PendingStart {
    fn new(core: &Rc<NurseryCore>) -> PendingStart {
        core.pending_starts.set(core.pending_starts.get() + 1);
        PendingStart(core.clone())
    }
}

impl Drop for PendingStart {
    fn drop(&mut self) {
        let c = &self.0;
        c.pending_starts.set(c.pending_starts.get() - 1);
        if c.pending_starts.get() == 0 {
            c.wake_parent();
        }
    }
}

struct AbandonOnDrop<'env>(Rc<NurseryState<'env>>);

impl Drop for AbandonOnDrop<'_> {
    fn drop(&mut self) {
        if !self.0.core.closed.get() {
            self.0.abandon();
        }
    }
}

struct StartShared<V> {
    value: RefCell<Option<V>>,
    /// The `start()` call's private nursery, where the child runs until `started`.
    from: Rc<NurseryCore>,
    /// The nursery `start` was called on.
    to: Rc<NurseryCore>,
    /// Set by `started` when it moved the child (it does not while the `start()`
    /// caller is cancelled, as in Trio).
    handed_over: Cell<bool>,
}

/// Given to a child started with [`Nursery::start`]: call
/// [`started`](TaskStatus::started) once the child is ready (Trio's `task_status`).
///
/// # Examples
///
/// ```
/// # trio::run(async {
/// trio::open_nursery(async |n| {
///     let v = n.start(async |status: trio::TaskStatus<&str>| {
///         status.started("ready");
///         Ok(())
///     }).await?;
///     assert_eq!(v, "ready");
///     Ok(())
/// }).await
/// # }).unwrap();
/// ```
pub struct TaskStatus<V> {
    shared: Rc<StartShared<V>>,
}

impl<V> TaskStatus<V> {
    /// Reports that the child is ready: `start()` returns `value`, and the child
    /// moves into the nursery at once — before its next line runs, it is a child of
    /// the nursery `start` was called on, under that nursery's cancel scope.
    /// Consumes the status, so it can be called only once.
    ///
    /// As in Trio, a call made while the `start()` caller is cancelled only records
    /// the value: the child stays under `start` (where its cancellation is caught)
    /// until it finishes.
    ///
    /// # Examples
    ///
    /// The child keeps running in the nursery after `start` returns:
    ///
    /// ```
    /// use std::cell::Cell;
    /// # trio::run(async {
    /// let done = Cell::new(false);
    /// let d = &done;
    /// trio::open_nursery(async |n| {
    ///     let v = n.start(async move |status: trio::TaskStatus<u32>| {
    ///         status.started(7);
    ///         trio::lowlevel::checkpoint().await?;
    ///         d.set(true);
    ///         Ok(())
    ///     }).await?;
    ///     assert_eq!(v, 7);
    ///     assert!(!d.get());
    ///     assert_eq!(n.info().child_tasks().len(), 1);
    ///     Ok(())
    /// }).await?;
    /// assert!(done.get());
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn started(self, value: V) {
        let s = &self.shared;
        *s.value.borrow_mut() = Some(value);
        // As in Trio: while the `start()` caller is cancelled the call only records
        // the value (the child stays where cancelled scopes can catch its
        // cancellation); so it does once `start` has given up on the child.
        if s.from.closed.get() || s.from.scope.effectively_cancelled() {
            return;
        }
        s.from.hand_over(&s.to);
        s.handed_over.set(true);
    }
}

impl<V> fmt::Debug for TaskStatus<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TaskStatus")
    }
}

struct HandleShared<T> {
    result: RefCell<Option<Result<T>>>,
    done: ParkingLot,
    scope: CancelScope,
}

/// A child started with [`Nursery::spawn`]: await its value, or cancel it alone.
///
/// # Examples
///
/// ```
/// # trio::run(async {
/// trio::open_nursery(async |n| {
///     let mut h = n.spawn(async { trio::sleep_forever().await?; Ok(()) })?;
///     h.cancel();
///     let err = h.join().await.unwrap_err();
///     assert_eq!(err.kind(), trio::ErrorKind::TaskCancelled);
///     Ok(())
/// }).await
/// # }).unwrap();
/// ```
pub struct TaskHandle<T> {
    shared: Rc<HandleShared<T>>,
    task: Task,
}

impl<T> fmt::Debug for TaskHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskHandle")
            .field("task", &self.task)
            .field("finished", &self.is_finished())
            .finish()
    }
}

impl<T> TaskHandle<T> {
    /// Waits for the child to finish and takes its value.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::TaskCancelled`] if the child was cancelled through
    /// [`cancel`](Self::cancel); [`ErrorKind::TaskFailed`] if it failed (its error went
    /// to the nursery); [`ErrorKind::Usage`] if the value was already taken.
    ///
    /// # Cancellation
    ///
    /// A checkpoint. If the caller is cancelled, `join` returns `Err(Cancelled)` and
    /// the value stays in the handle for a later `join`.
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// trio::open_nursery(async |n| {
    ///     let mut h = n.spawn(async { Ok("done") })?;
    ///     assert_eq!(h.join().await?, "done");
    ///     assert_eq!(h.join().await.unwrap_err().kind(), trio::ErrorKind::Usage);
    ///     Ok(())
    /// }).await
    /// # }).unwrap();
    /// ```
    pub async fn join(&mut self) -> Result<T> {
        loop {
            let taken = self.shared.result.borrow_mut().as_mut().map(|r| {
                std::mem::replace(
                    r,
                    Err(Error::new(
                        ErrorKind::Usage,
                        "the task's value was already taken by join",
                    )),
                )
            });
            if let Some(taken) = taken {
                if let Err(e) = crate::lowlevel::checkpoint().await {
                    // Cancelled: nothing was consumed; the value stays for a later join.
                    *self.shared.result.borrow_mut() = Some(taken);
                    return Err(e);
                }
                return taken;
            }
            self.shared.done.park().await?;
        }
    }

    /// Cancels the child alone (its siblings and the nursery go on).
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// trio::open_nursery(async |n| {
    ///     let mut stuck = n.spawn(async { trio::sleep_forever().await?; Ok(0) })?;
    ///     let mut quick = n.spawn(async { trio::lowlevel::checkpoint().await?; Ok(1) })?;
    ///     stuck.cancel();
    ///     assert_eq!(stuck.join().await.unwrap_err().kind(), trio::ErrorKind::TaskCancelled);
    ///     assert_eq!(quick.join().await?, 1); // the sibling was not cancelled
    ///     assert!(!n.cancel_scope().cancel_called());
    ///     Ok(())
    /// }).await
    /// # }).unwrap();
    /// ```
    pub fn cancel(&self) {
        self.shared.scope.cancel();
    }

    /// True once the child has finished.
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// trio::open_nursery(async |n| {
    ///     let h = n.spawn(async { Ok("value") })?;
    ///     assert!(!h.is_finished()); // not even started yet
    ///     trio::testing::wait_all_tasks_blocked().await?;
    ///     assert!(h.is_finished());
    ///     Ok(())
    /// }).await
    /// # }).unwrap();
    /// ```
    pub fn is_finished(&self) -> bool {
        self.shared.result.borrow().is_some()
    }

    /// The child's task.
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// trio::open_nursery(async |n| {
    ///     let mut h = n.spawn_named("child", async {
    ///         Ok(trio::lowlevel::current_task())
    ///     })?;
    ///     let task = h.task().clone();
    ///     assert_eq!(task.name(), "child");
    ///     assert_eq!(h.join().await?, task); // the same task, seen from inside
    ///     Ok(())
    /// }).await
    /// # }).unwrap();
    /// ```
    pub fn task(&self) -> &Task {
        &self.task
    }
}

/// Opens a nursery, runs `body` with it, and returns when the body *and every child*
/// have finished (Trio's `open_nursery`).
///
/// The body and the children run inside the nursery's cancel scope: if the body or
/// any child fails, the scope is cancelled, so everyone else sees `Err(Cancelled)` at
/// their next checkpoint; then all errors come out together.
///
/// Returns `Ok(Some(v))` with the body's value, or `Ok(None)` when the body did not
/// produce one because the nursery's own scope was cancelled (by
/// [`n.cancel_scope().cancel()`](Nursery::cancel_scope)) and caught the body's
/// `Cancelled` — the way [`CancelScope::run`] reports the cancellation it caught.
/// This is what makes the idiomatic way to stop everything in a nursery correct
/// with the code everyone writes: the body passes the cancellation on with `?`,
/// the nursery swallows it, and `open_nursery(...).await?` simply goes on after
/// the block, as Trio's `async with` does. With a body that returns `()`, the
/// `Option<()>` can be ignored; in a function whose last expression the nursery
/// is, write `open_nursery(...).await?; Ok(())` (or `.await.map(drop)`).
///
/// As at any cancel scope's exit, the nursery's scope reports
/// [`cancelled_caught`](CancelScope::cancelled_caught) once it swallowed a
/// cancellation it caused (a failing child's, or an explicit cancel's).
///
/// # Errors
///
/// The body's error and every child's error: one error as itself, several as an
/// [`ErrorKind::Group`]. The cancellations the nursery caused itself are removed.
///
/// # Cancellation
///
/// Cancelling an enclosing scope cancels the body and all children; the nursery
/// still waits for them all to finish before returning, and then returns that
/// cancellation (it is the enclosing scope's to catch).
///
/// # Panics
///
/// A panic in the body or a child cancels the rest and is resumed here once every
/// child has finished.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// # trio::run(async {
/// let r = trio::open_nursery(async |n| {
///     n.start_soon(async { Err(trio::Error::new(trio::ErrorKind::Other, "boom")) })?;
///     n.start_soon(async { trio::sleep(Duration::from_secs(3600)).await })?; // cancelled
///     Ok(())
/// }).await;
/// assert_eq!(r.unwrap_err().to_string(), "boom");
/// # Ok(()) }).unwrap();
/// ```
///
/// Stopping everything from inside: cancel the nursery's scope. The body, blocked
/// at that moment, gets `Err(Cancelled)` and passes it on with `?`; the nursery
/// catches it and the code after the block runs:
///
/// ```
/// # trio::run(async {
/// let value = trio::open_nursery(async |n| {
///     n.start_soon(trio::sleep_forever())?; // a server, say
///     let scope = n.cancel_scope();
///     n.start_soon(async move {
///         trio::testing::wait_all_tasks_blocked().await?; // "time to stop"
///         scope.cancel();
///         Ok(())
///     })?;
///     trio::sleep_forever().await?; // cancelled here
///     Ok("never reached")
/// })
/// .await?;
/// assert_eq!(value, None); // the body was stopped before it had a value
/// # Ok(()) }).unwrap();
/// ```
pub async fn open_nursery<'env, B, T>(body: B) -> Result<Option<T>>
where
    B: for<'n> AsyncFnOnce(&'n Nursery<'env>) -> Result<T>,
{
    let state: Rc<NurseryState<'env>> = NurseryState::open()?;
    let _guard = AbandonOnDrop(state.clone());
    let nursery = Nursery {
        state,
        _invariant: PhantomData,
    };
    let body_fut = body(&nursery);
    let mut body_fut = std::pin::pin!(body_fut);
    let mut body_out: Option<Result<T>> = None;
    let mut body_done = false;
    // Trio: leaving a nursery is a schedule point even when there is nothing to
    // wait for (`cancel_shielded_checkpoint`); waiting for children is one already.
    let mut yielded_since_body_done = false;
    // What the body waits on (recorded by its last poll; see `wait.rs`).
    let mut body_wait = RawWait::OTHER;
    let state = &nursery.state;
    poll_fn(move |cx| {
        let core = &state.core;
        core.set_parent_waker(cx.waker());
        core.polling.set(true);
        let batch = core.take_batch();
        // The body is part of the parent task and the batch holds the children: in
        // Trio they would all be in one batch, in either order, so the seed decides whether
        // the body goes before or after the children this time.
        let children_first =
            !batch.is_empty() && !body_done && context::with_runner(|r| r.coin()).unwrap_or(false);
        if children_first {
            state.run_batch(&batch);
        }
        if !body_done {
            let _g = PollGuard::status(&core.scope);
            match catch_unwind(AssertUnwindSafe(|| body_fut.as_mut().poll(cx))) {
                Ok(Poll::Pending) => body_wait = wait::get(cx),
                Ok(Poll::Ready(r)) => {
                    body_done = true;
                    body_out = Some(r);
                }
                Err(p) => {
                    body_done = true;
                    context::with_current_task(|t| state.add_panic(p, t));
                }
            }
        }
        if let Some(Err(_)) = &body_out {
            if let Some(Err(e)) = body_out.take() {
                context::with_current_task(|t| state.add_error(e, t));
            }
        }
        if !children_first {
            state.run_batch(&batch);
        }
        core.return_batch(batch);
        // The loop's fast path: while this nursery's children are the only runnable
        // tasks and the run loop has nothing to do between batches, run the next
        // batch here instead of unwinding to the loop (see `Runner::quiet_for`).
        let mut extra = 0;
        while extra < MAX_INLINE_BATCHES
            && core.has_ready()
            && context::with_runner(|r| r.quiet_for(core.ready_len())).unwrap_or(false)
        {
            let batch = core.take_batch();
            state.run_batch(&batch);
            core.return_batch(batch);
            extra += 1;
        }
        core.polling.set(false);
        if body_done && state.is_empty() && core.pending_starts.get() == 0 {
            if !yielded_since_body_done {
                yielded_since_body_done = true;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            let catchable =
                core.scope.effectively_cancelled() && !core.scope.parent_cancellation_visible();
            state.close();
            if let Some(p) = state.take_panic() {
                resume_unwind(p);
            }
            let mut errors = state.take_errors();
            if catchable {
                // The cancellations the nursery's own scope caused end here, as
                // they would at any scope's exit (Trio: `cancelled_caught`).
                errors = errors
                    .into_iter()
                    .filter_map(|e| {
                        if e.cancelled().is_some() {
                            core.scope.set_cancelled_caught();
                        }
                        e.strip_cancelled_inner()
                    })
                    .collect();
            }
            return Poll::Ready(match Error::group(errors) {
                Some(e) => Err(e),
                // No value and no error: the body's cancellation was caught.
                None => Ok(match body_out.take() {
                    Some(Ok(v)) => Some(v),
                    _ => None,
                }),
            });
        }
        if core.has_ready() {
            cx.waker().wake_by_ref();
        }
        if body_done {
            yielded_since_body_done = true;
            wait::set(cx, RawWait::nursery(core.id));
        } else {
            wait::set(cx, body_wait);
        }
        Poll::Pending
    })
    .await
}

// ---- the task tree -------------------------------------------------------------

/// A task of the run loop (Trio's `trio.lowlevel.Task`): its name, id and place in
/// the task tree.
///
/// # Examples
///
/// ```
/// # trio::run(async {
/// let me = trio::lowlevel::current_task();
/// assert!(me.parent_nursery().is_some());
/// println!("running in {} (#{})", me.name(), me.id());
/// # Ok(()) }).unwrap();
/// ```
#[derive(Clone)]
pub struct Task {
    cell: Arc<TaskCell>,
    _not_send: PhantomData<Rc<()>>,
}

impl Task {
    pub(crate) fn from_cell(cell: Arc<TaskCell>) -> Task {
        Task {
            cell,
            _not_send: PhantomData,
        }
    }

    pub(crate) fn cell_ref(&self) -> &Arc<TaskCell> {
        &self.cell
    }

    /// Where the task was spawned: the `start_soon` / `spawn` / `start` /
    /// `spawn_system_task` call (`#[track_caller]`), or the `run` call for the main
    /// task.
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// trio::open_nursery(async |n| {
    ///     let h = n.spawn(async { Ok(()) })?; let line = line!();
    ///     assert_eq!(h.task().spawned_at().unwrap().line(), line);
    ///     Ok(())
    /// }).await
    /// # }).unwrap();
    /// ```
    pub fn spawned_at(&self) -> Option<&'static std::panic::Location<'static>> {
        self.cell.spawned_at
    }

    /// The task's name: given at spawn, or derived from the future's type (for an
    /// `async` block in `fn serve`, something like `my_crate::serve`).
    ///
    /// # Examples
    ///
    /// ```
    /// async fn serve() -> trio::Result<()> {
    ///     trio::lowlevel::checkpoint().await
    /// }
    /// # trio::run(async {
    /// trio::open_nursery(async |n| {
    ///     let named = n.spawn_named("worker", async { Ok(()) })?;
    ///     assert_eq!(named.task().name(), "worker");
    ///     let unnamed = n.spawn(serve())?;
    ///     assert!(unnamed.task().name().ends_with("serve"));
    ///     Ok(())
    /// }).await
    /// # }).unwrap();
    /// ```
    pub fn name(&self) -> &str {
        super::task_tree::display_name(&self.cell.name)
    }

    /// The task's id, unique within the run.
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// let me = trio::lowlevel::current_task();
    /// trio::open_nursery(async |n| {
    ///     let a = n.spawn(async { Ok(()) })?;
    ///     let b = n.spawn(async { Ok(()) })?;
    ///     assert_ne!(a.task().id(), b.task().id());
    ///     assert_ne!(a.task().id(), me.id());
    ///     Ok(())
    /// }).await?;
    /// assert_eq!(trio::lowlevel::current_task().id(), me.id());
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn id(&self) -> u64 {
        self.cell.id
    }

    /// True until the task finishes.
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// let task = trio::open_nursery(async |n| {
    ///     let h = n.spawn(trio::sleep_forever())?;
    ///     trio::testing::wait_all_tasks_blocked().await?;
    ///     assert!(h.task().is_alive());
    ///     h.cancel();
    ///     Ok(h.task().clone())
    /// }).await?.expect("the body returned");
    /// assert!(!task.is_alive());
    /// assert!(trio::lowlevel::current_task().is_alive());
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn is_alive(&self) -> bool {
        self.cell.local().is_some_and(|l| l.alive.get())
    }

    /// The nursery this task is a child of (`None` for the root task and for tasks
    /// that have finished).
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// let task = trio::open_nursery(async |n| {
    ///     let h = n.spawn(async { trio::lowlevel::checkpoint().await })?;
    ///     assert_eq!(h.task().parent_nursery(), Some(n.info()));
    ///     Ok(h.task().clone())
    /// }).await?.expect("the body returned");
    /// assert_eq!(task.parent_nursery(), None); // finished
    /// assert_eq!(trio::lowlevel::current_root_task().parent_nursery(), None);
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn parent_nursery(&self) -> Option<NurseryInfo> {
        let l = self.cell.local()?;
        let core = l.owner.borrow().clone()?;
        Some(NurseryInfo {
            core: core.logical(),
        })
    }

    /// The nurseries currently open inside this task.
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// let me = trio::lowlevel::current_task();
    /// assert!(me.child_nurseries().is_empty());
    /// trio::open_nursery(async |n| {
    ///     assert_eq!(me.child_nurseries(), [n.info()]);
    ///     Ok(())
    /// }).await?;
    /// assert!(me.child_nurseries().is_empty()); // closed nurseries leave the tree
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn child_nurseries(&self) -> Vec<NurseryInfo> {
        let Some(l) = self.cell.local() else {
            return Vec::new();
        };
        let mut found = Vec::new();
        let mut cur = l.nurseries.borrow().as_ref().and_then(Weak::upgrade);
        while let Some(core) = cur {
            cur = core.next_open.borrow().as_ref().and_then(Weak::upgrade);
            found.push(NurseryInfo { core });
        }
        found.reverse(); // oldest first
        found
    }
}

impl PartialEq for Task {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.cell, &other.cell)
    }
}

impl Eq for Task {}

impl std::hash::Hash for Task {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        Arc::as_ptr(&self.cell).hash(state)
    }
}

impl fmt::Debug for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task")
            .field("id", &self.cell.id)
            .field("name", &self.cell.name)
            .finish()
    }
}

/// A nursery seen from the task tree.
///
/// # Examples
///
/// ```
/// # trio::run(async {
/// trio::open_nursery(async |n| {
///     n.start_soon(trio::sleep_forever())?;
///     trio::testing::wait_all_tasks_blocked().await?;
///     assert_eq!(n.info().child_tasks().len(), 1);
///     n.cancel_scope().cancel();
///     Ok(())
/// }).await
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct NurseryInfo {
    core: Rc<NurseryCore>,
}

impl NurseryInfo {
    pub(crate) fn core(&self) -> &Rc<NurseryCore> {
        &self.core
    }

    /// The task that opened the nursery.
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// trio::open_nursery(async |n| {
    ///     let parent = n.info().parent_task().unwrap();
    ///     assert_eq!(parent, trio::lowlevel::current_task());
    ///     assert_eq!(parent.name(), "<main>");
    ///     Ok(())
    /// }).await
    /// # }).unwrap();
    /// ```
    pub fn parent_task(&self) -> Option<Task> {
        self.core.parent_task.clone().map(Task::from_cell)
    }

    /// The nursery's live children.
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// trio::open_nursery(async |n| {
    ///     let a = n.spawn_named("a", trio::sleep_forever())?;
    ///     n.start_soon_named("b", async { Ok(()) })?;
    ///     assert_eq!(n.info().child_tasks().len(), 2);
    ///     trio::testing::wait_all_tasks_blocked().await?; // "b" finishes
    ///     assert_eq!(n.info().child_tasks(), [a.task().clone()]);
    ///     a.cancel();
    ///     Ok(())
    /// }).await
    /// # }).unwrap();
    /// ```
    pub fn child_tasks(&self) -> Vec<Task> {
        self.core
            .live_children()
            .into_iter()
            .map(Task::from_cell)
            .collect()
    }

    /// The nursery's id, unique within the run.
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// trio::open_nursery(async |outer| {
    ///     trio::open_nursery(async |inner| {
    ///         assert_ne!(outer.info().id(), inner.info().id());
    ///         assert_eq!(outer.info().id(), outer.info().id());
    ///         Ok(())
    ///     }).await
    /// }).await
    /// # }).unwrap();
    /// ```
    pub fn id(&self) -> u64 {
        self.core.id
    }

    /// True once the nursery has finished.
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// let info = trio::open_nursery(async |n| {
    ///     assert!(!n.info().is_closed());
    ///     Ok(n.info())
    /// }).await?.expect("the body returned");
    /// assert!(info.is_closed());
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn is_closed(&self) -> bool {
        self.core.closed.get()
    }
}

impl PartialEq for NurseryInfo {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.core, &other.core)
    }
}

impl fmt::Debug for NurseryInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NurseryInfo")
            .field("id", &self.core.id)
            .field("children", &self.core.children.borrow().len())
            .finish()
    }
}
