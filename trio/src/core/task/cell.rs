//! Task cells: the identity of a logical task, and its waker.
//!
//! # Why a task cell
//!
//! A child's *future* lives in its nursery and is polled only by it (that is what
//! lets children borrow; see `nursery.rs`). But a child is also a task of the run
//! loop: it has an id, a name, a place in the task tree, and above all a
//! [`Waker`] that can be cloned, sent to any thread and woken at any time — even
//! after the child has finished. The [`TaskCell`] is that identity: a small,
//! non-generic, reference-counted object that carries no future and no lifetime.
//!
//! # Waking without atomics on the loop thread
//!
//! `Waker` must be `Send + Sync`, so the cell lives in an `Arc`. Only the reference
//! count is atomic. Everything else (the `scheduled` flag, the slot in the nursery,
//! the owning nursery) is loop-local state kept in `Cell`s and touched only from the
//! thread that runs the loop: a wake-up on that thread pushes the task's slot onto
//! its nursery's ready queue directly; a wake-up from any other thread is forwarded
//! through the loop's cross-thread queue (`entry_queue.rs`) and replayed on the loop
//! thread. So the fast path is a thread-local read, a flag and a `Vec::push`.
//!
//! Parking clones the task's waker (a channel's wait entry, a cancel registration)
//! and drops the clones again, several times per blocking operation. Atomic
//! increments were 30% of a ping-pong round trip, so the waker in each poll's
//! `Context` is a *local* waker: its clones count in a plain `Cell` on the loop
//! thread, and the pool of local wakers holds one atomic count between them (see
//! the vtables below). Measured (`trio-bench --only ping_pong --trio-schedule-budget
//! 64`): 173 → 145 ns per round trip, against 241 for tokio current_thread.
//!
//! # Invariants
//!
//! * `local` is only read or written on the thread whose token is `thread`
//!   ([`TaskCell::local`] checks). This is what makes the `Send`/`Sync` impls sound.
//! * When a task finishes (or its nursery drops it), `release` runs on the loop
//!   thread and empties every `Rc` held in `local`; what remains after that is plain
//!   data, so the last `Arc` may be dropped on any thread. If a cell is ever dropped
//!   off-thread with loop-local references still inside, they are leaked, never
//!   touched.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::mem::ManuallyDrop;
use std::panic::Location;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::task::{RawWaker, RawWakerVTable, Waker};

use super::super::cancel::ScopeState;
use super::super::context;
use super::super::nursery::NurseryCore;
use super::super::runtime::Wake;
use super::super::wait::RawWait;

/// The loop-local part of a task cell.
pub(in crate::core) struct TaskLocal {
    /// The task is in its nursery's ready queue (or about to be polled).
    pub(in crate::core) scheduled: Cell<bool>,
    /// The task has not finished; wake-ups of a finished task are ignored.
    pub(in crate::core) alive: Cell<bool>,
    /// The task's slot in its nursery (index into the nursery's slabs).
    pub(in crate::core) key: Cell<u32>,
    /// The nursery that polls this task: where wake-ups are queued.
    pub(in crate::core) owner: RefCell<Option<Rc<NurseryCore>>>,
    /// The cancel status the task starts from: its nursery's scope.
    pub(in crate::core) status: RefCell<Option<Rc<ScopeState>>>,
    /// Loop-local wakers of this task alive now (clones made on the loop thread),
    /// counting the task's own life while `pinned`. While it is non-zero, the
    /// cell holds one `Arc` strong count on behalf of all of them.
    local_wakers: Cell<u32>,
    /// The live task holds one `local_wakers` count (taken at the first local
    /// clone, given back by `release`), so a task that parks again and again
    /// never touches the atomic count.
    pinned: Cell<bool>,
    /// The nursery this task opened most recently and has not closed yet; older
    /// open ones follow through `NurseryCore::next_open` (an intrusive list, so
    /// opening a nursery allocates nothing here).
    pub(in crate::core) nurseries: RefCell<Option<Weak<NurseryCore>>>,
    /// `Arc::as_ptr` of the `Arc` the cell lives in (with the provenance needed to
    /// reach its reference counts), set once by `TaskCell::new`.
    this: Cell<*const TaskCell>,
    /// What the task waits on while blocked (recorded by the primitive it blocks in;
    /// see `wait.rs`).
    pub(in crate::core) wait: Cell<RawWait>,
    /// What made the task runnable last, `None` before its first scheduling (its
    /// spawn); kept only when the run's scheduling policy asks (see
    /// `runtime/policy.rs`).
    pub(in crate::core) woke: Cell<Option<Wake>>,
    /// Rarely used links, allocated on first use (most tasks never hold a lock
    /// when they exit): this keeps every task cell small.
    extras: RefCell<Option<Box<TaskExtras>>>,
}

/// The rarely used part of a task's loop-local state.
#[derive(Default)]
pub(in crate::core) struct TaskExtras {
    /// Parking lots to break when this task exits (Trio's parking lot breakers).
    pub(in crate::core) breakers: Vec<Weak<dyn LotBreaker>>,
}

impl TaskLocal {
    /// The extras, allocated if needed.
    pub(in crate::core) fn extras_mut(&self) -> std::cell::RefMut<'_, TaskExtras> {
        std::cell::RefMut::map(self.extras.borrow_mut(), |e| {
            &mut **e.get_or_insert_with(Default::default)
        })
    }
}

/// A parking lot seen from a task that must break it on exit.
pub(in crate::core) trait LotBreaker {
    /// Breaks the lot: its waiters (and later parkers) get `BrokenResource`.
    fn break_for_exit(&self);
}

impl TaskLocal {
    /// Counts one more loop-local waker of `cell` (the cell of this state).
    #[inline]
    fn add_local_waker(&self, cell: *const TaskCell) {
        let mut n = self.local_wakers.get();
        if n == 0 {
            // SAFETY: `cell` is alive (a waker or `WakerRef` for it is being
            // cloned); this count belongs to the pool of local wakers.
            unsafe { Arc::increment_strong_count(cell) };
            if self.alive.get() {
                self.pinned.set(true);
                n += 1;
            }
        }
        self.local_wakers.set(n + 1);
    }

    /// Gives back one loop-local count of `cell`; the last one releases the pool's
    /// strong count, which may free the cell.
    ///
    /// # Safety
    ///
    /// `cell` is the cell of this state and the caller owns one local count. If
    /// this is the last, the cell may be freed: `self` must not be used after.
    #[inline]
    unsafe fn release_local_waker(&self, cell: *const TaskCell) {
        let n = self.local_wakers.get() - 1;
        self.local_wakers.set(n);
        if n == 0 {
            // SAFETY: the pool held this strong count since `local_wakers` left 0.
            unsafe { Arc::decrement_strong_count(cell) };
        }
    }

    /// Clears the `scheduled` flag (the task is being polled, moved or ended).
    #[inline]
    pub(in crate::core) fn unschedule(&self) {
        if self.scheduled.replace(false) {
            context::runnable_dec();
        }
    }
}

/// The identity and waker target of one logical task.
pub(in crate::core) struct TaskCell {
    thread: usize,
    pub(in crate::core) loop_id: u64,
    pub(in crate::core) id: u64,
    pub(in crate::core) name: Cow<'static, str>,
    /// Where the task was spawned (`#[track_caller]`).
    pub(in crate::core) spawned_at: Option<&'static Location<'static>>,
    /// The task's span, entered around each step (feature `tracing`).
    #[cfg(feature = "tracing")]
    pub(in crate::core) span: tracing::Span,
    local: TaskLocal,
}

// SAFETY: the only fields read off the loop thread are `thread`, `loop_id`, `id` and
// `name`, which are immutable plain data. `local` (which holds `Rc`s and `Cell`s) is
// reachable only through `TaskCell::local`, which returns `None` on any thread other
// than the one recorded in `thread`; `Drop` leaks rather than drops `local` off-thread.
unsafe impl Send for TaskCell {}
// SAFETY: see the `Send` impl: shared access from other threads never reaches `local`.
unsafe impl Sync for TaskCell {}

/// The span of a task, named and shaped as tokio's (`runtime.spawn` under the
/// `tokio::task` target, with `kind`, `task.name`, `task.id` and `loc.*` fields), so
/// that tools built for tokio — `tokio-console`'s subscriber among them — list
/// trio's tasks too.
#[cfg(feature = "tracing")]
fn task_span(id: u64, name: &str, at: Option<&'static Location<'static>>) -> tracing::Span {
    tracing::trace_span!(
        target: "tokio::task",
        "runtime.spawn",
        kind = "task",
        task.name = super::super::task_tree::display_name(name),
        task.id = id,
        loc.file = at.map(|l| l.file()),
        loc.line = at.map(|l| l.line()),
        loc.col = at.map(|l| l.column()),
    )
}

impl TaskCell {
    pub(in crate::core) fn new(
        loop_id: u64,
        id: u64,
        name: Cow<'static, str>,
        spawned_at: Option<&'static Location<'static>>,
    ) -> Arc<TaskCell> {
        // A plain `Arc::new` and a raw pointer to ourselves rather than a `Weak`
        // (`Arc::new_cyclic`): the weak count's atomic operations were measured at
        // about a tenth of a spawn.
        let cell = Arc::new(TaskCell {
            thread: context::thread_token(),
            loop_id,
            id,
            #[cfg(feature = "tracing")]
            span: task_span(id, &name, spawned_at),
            name,
            spawned_at,
            local: TaskLocal {
                scheduled: Cell::new(false),
                alive: Cell::new(true),
                key: Cell::new(u32::MAX),
                owner: RefCell::new(None),
                status: RefCell::new(None),
                nurseries: RefCell::new(None),
                local_wakers: Cell::new(0),
                pinned: Cell::new(false),
                extras: RefCell::new(None),
                wait: Cell::new(RawWait::OTHER),
                woke: Cell::new(None),
                this: Cell::new(std::ptr::null()),
            },
        });
        cell.local.this.set(Arc::as_ptr(&cell));
        cell
    }

    /// A strong reference to this cell (it always lives in an `Arc`); on the loop
    /// thread only.
    pub(in crate::core) fn arc(&self) -> Arc<TaskCell> {
        let p = self.l().this.get();
        // SAFETY: `this` is `Arc::as_ptr` of the `Arc` this cell lives in (set in
        // `new`, so it can reach the reference counts); the cell is alive — we
        // hold `&self`, and every reference to a cell comes from a strong
        // reference or a waker that holds one — so adding a count and rebuilding
        // an `Arc` from the pointer is sound.
        unsafe {
            Arc::increment_strong_count(p);
            Arc::from_raw(p)
        }
    }

    /// The loop-local state, if called on the loop's thread.
    #[inline]
    pub(in crate::core) fn local(&self) -> Option<&TaskLocal> {
        if self.thread == context::thread_token() {
            Some(&self.local)
        } else {
            None
        }
    }

    /// The loop-local state; must be called on the loop thread.
    #[inline]
    pub(in crate::core) fn l(&self) -> &TaskLocal {
        self.local()
            .expect("trio task state touched outside its loop thread")
    }

    /// Marks the task runnable and queues it in its nursery (loop thread only).
    #[inline]
    pub(in crate::core) fn schedule_local(&self, l: &TaskLocal) {
        if l.scheduled.get() || !l.alive.get() {
            return;
        }
        l.scheduled.set(true);
        context::runnable_inc();
        let owner = l.owner.borrow();
        if let Some(core) = owner.as_ref() {
            core.push_ready(l.key.get() as usize);
            context::with_runner(|r| r.task_scheduled(self));
        }
    }

    fn wake_by_ref_impl(this: &Arc<TaskCell>) {
        if this.loop_id == context::current_loop_id() {
            if let Some(l) = this.local() {
                this.schedule_local(l);
                return;
            }
        }
        super::super::entry_queue::forward_wake(this.loop_id, Waker::from_cell(this.clone()));
    }

    /// Ends the task's life as a task: called on the loop thread when it finishes
    /// or is dropped by its nursery. Empties every loop-local reference.
    pub(in crate::core) fn release(&self) {
        let l = self.l();
        l.alive.set(false);
        if l.pinned.replace(false) {
            // SAFETY: `self` lives in an `Arc` the caller holds, besides the pool
            // count this may release, so the cell is not freed here. `this` comes
            // from `Arc::as_ptr`, so it may reach the reference counts.
            unsafe { l.release_local_waker(l.this.get()) };
        }
        l.unschedule();
        l.owner.borrow_mut().take();
        l.status.borrow_mut().take();
        l.nurseries.borrow_mut().take();
        let extras = l.extras.borrow_mut().take();
        let breakers = extras.map(|e| e.breakers).unwrap_or_default();
        for b in breakers.iter().filter_map(Weak::upgrade) {
            b.break_for_exit();
        }
    }
}

impl Drop for TaskCell {
    fn drop(&mut self) {
        if self.thread != context::thread_token() {
            // Off the loop thread: never touch the `Rc`s. `release` normally emptied
            // them already; if not, leaking is the only safe choice.
            let owner = self.local.owner.get_mut().take();
            let status = self.local.status.get_mut().take();
            let nurseries = self.local.nurseries.get_mut().take();
            let extras = self.local.extras.get_mut().take();
            std::mem::forget((owner, status, nurseries, extras));
        }
    }
}

impl fmt::Debug for TaskCell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskCell")
            .field("id", &self.id)
            .field("name", &self.name)
            .finish()
    }
}

// ---- the waker ---------------------------------------------------------------

// Two kinds of waker point at a task cell. A *shared* waker (`VTABLE`) owns one
// atomic strong count: it is what any other thread gets. A *local* waker
// (`LOCAL_VTABLE`) owns one count of `TaskLocal::local_wakers`, a plain `Cell`
// touched only on the loop thread; the pool of local wakers owns one strong count
// between them. The waker in every poll's `Context` is local, so the clones that
// parking makes (a channel entry, a cancel registration) cost no atomic operation.
// A local waker cloned on another thread yields a shared one; dropped or woken on
// another thread, it is sent back to the loop thread (`entry_queue::forward_local`)
// to be dropped or woken there — or leaked if that loop has ended.
/// The loop-local state of the task `waker` wakes, if it is a trio task waker
/// (not one a combinator wrapped) and we are on that task's loop thread.
#[inline]
pub(in crate::core) fn local_of(waker: &Waker) -> Option<&TaskLocal> {
    let vt = waker.vtable();
    if !std::ptr::eq(vt, &LOCAL_VTABLE) && !std::ptr::eq(vt, &VTABLE) {
        return None;
    }
    // SAFETY: wakers with these two vtables are made only from pointers to task
    // cells (`Arc::as_ptr` / `Arc::into_raw`), and a waker keeps its cell alive
    // while it exists (it owns a count, or, as a `WakerRef`, borrows a live cell);
    // `waker` is borrowed for the returned lifetime. `local` checks the thread.
    let cell: &TaskCell = unsafe { &*(waker.data() as *const TaskCell) };
    cell.local()
}

static VTABLE: RawWakerVTable = RawWakerVTable::new(clone_raw, wake_raw, wake_by_ref_raw, drop_raw);
static LOCAL_VTABLE: RawWakerVTable =
    RawWakerVTable::new(clone_local, wake_local, wake_by_ref_raw, drop_local);

/// The local vtable's `clone`: another local waker of the same cell (one more
/// local count), or a shared one when cloned off the loop thread.
///
/// # Safety
///
/// `p` is the data pointer of a live waker made with `LOCAL_VTABLE`: a pointer to
/// a `TaskCell` kept alive by that waker's local count (or by the `WakerRef`'s
/// borrow) for the whole call.
unsafe fn clone_local(p: *const ()) -> RawWaker {
    // SAFETY: `p` is the cell of a live local waker (or `WakerRef`), which keeps it
    // alive for this call.
    let cell = unsafe { &*(p as *const TaskCell) };
    match cell.local() {
        Some(l) => {
            l.add_local_waker(p as *const TaskCell);
            RawWaker::new(p, &LOCAL_VTABLE)
        }
        None => {
            // SAFETY: as in `clone_raw`: a new strong count for a shared waker.
            unsafe { Arc::increment_strong_count(p as *const TaskCell) };
            RawWaker::new(p, &VTABLE)
        }
    }
}

/// The local vtable's `wake`: schedules the task (on its loop thread) and gives
/// back the waker's local count; off the loop thread, forwards both to the loop.
///
/// # Safety
///
/// `p` is the data pointer of a waker made with `LOCAL_VTABLE` that owns one
/// local count, which this call consumes; the waker is not used after.
unsafe fn wake_local(p: *const ()) {
    // SAFETY: the local waker being consumed keeps the cell alive.
    let cell = unsafe { &*(p as *const TaskCell) };
    match cell.local() {
        Some(l) => {
            if cell.loop_id == context::current_loop_id() {
                cell.schedule_local(l);
            }
            // SAFETY: we own this waker's local count; `cell` is not used after.
            unsafe { l.release_local_waker(p as *const TaskCell) };
        }
        None => {
            // SAFETY: we own the local count; the rebuilt waker takes it over.
            let w = unsafe { Waker::from_raw(RawWaker::new(p, &LOCAL_VTABLE)) };
            super::super::entry_queue::forward_local(cell.loop_id, w, true);
        }
    }
}

/// The local vtable's `drop`: gives back the waker's local count (forwarded to
/// the loop thread when dropped elsewhere).
///
/// # Safety
///
/// As [`wake_local`]: `p` belongs to a `LOCAL_VTABLE` waker owning one local
/// count, consumed here.
unsafe fn drop_local(p: *const ()) {
    // SAFETY: the local waker being dropped keeps the cell alive.
    let cell = unsafe { &*(p as *const TaskCell) };
    match cell.local() {
        // SAFETY: we own this waker's local count; `cell` is not used after.
        Some(l) => unsafe { l.release_local_waker(p as *const TaskCell) },
        None => {
            // SAFETY: we own the local count; the rebuilt waker takes it over.
            let w = unsafe { Waker::from_raw(RawWaker::new(p, &LOCAL_VTABLE)) };
            super::super::entry_queue::forward_local(cell.loop_id, w, false);
        }
    }
}

/// The shared vtable's `clone`: one more strong count of the cell.
///
/// # Safety
///
/// `p` came from `Arc::into_raw` / `Arc::as_ptr` of an `Arc<TaskCell>` that is
/// alive for the whole call (held by the waker being cloned).
unsafe fn clone_raw(p: *const ()) -> RawWaker {
    // SAFETY: `p` came from `Arc::into_raw` / `Arc::as_ptr` of a live `Arc<TaskCell>`
    // (every RawWaker with this vtable holds one strong count, or borrows one that
    // outlives it); adding a count for the clone keeps the books balanced.
    unsafe { Arc::increment_strong_count(p as *const TaskCell) };
    RawWaker::new(p, &VTABLE)
}

/// The shared vtable's `wake`: wakes the task and releases the waker's strong
/// count.
///
/// # Safety
///
/// `p` came from `Arc::into_raw` and the waker being consumed owns that strong
/// count; it is not used after.
unsafe fn wake_raw(p: *const ()) {
    // SAFETY: an owned waker holds one strong count, which we take back here.
    let arc = unsafe { Arc::from_raw(p as *const TaskCell) };
    TaskCell::wake_by_ref_impl(&arc);
}

/// `wake_by_ref` of both vtables: wakes the task, releasing nothing.
///
/// # Safety
///
/// `p` points to a `TaskCell` that the waker (shared or local) keeps alive for
/// the whole call.
unsafe fn wake_by_ref_raw(p: *const ()) {
    // SAFETY: the waker's count keeps the cell alive for this call; `ManuallyDrop`
    // stops us from releasing a count we do not own.
    let arc = ManuallyDrop::new(unsafe { Arc::from_raw(p as *const TaskCell) });
    TaskCell::wake_by_ref_impl(&arc);
}

/// The shared vtable's `drop`: releases the waker's strong count.
///
/// # Safety
///
/// `p` came from `Arc::into_raw` and the waker being dropped owns that strong
/// count; it is not used after.
unsafe fn drop_raw(p: *const ()) {
    // SAFETY: an owned waker holds one strong count, released here.
    drop(unsafe { Arc::from_raw(p as *const TaskCell) });
}

pub(in crate::core) trait WakerExt {
    fn from_cell(cell: Arc<TaskCell>) -> Waker;
}

impl WakerExt for Waker {
    fn from_cell(cell: Arc<TaskCell>) -> Waker {
        let raw = RawWaker::new(Arc::into_raw(cell) as *const (), &VTABLE);
        // SAFETY: the vtable functions uphold the RawWaker contract for a pointer
        // obtained from `Arc::into_raw` (see each function's SAFETY note).
        unsafe { Waker::from_raw(raw) }
    }
}

/// A waker that borrows `cell` without touching its reference count: used for the
/// one `Context` of each poll, so polling costs no atomic operation.
pub(in crate::core) struct WakerRef<'a> {
    waker: ManuallyDrop<Waker>,
    _cell: std::marker::PhantomData<&'a Arc<TaskCell>>,
}

impl WakerRef<'static> {
    /// A borrowed waker for the cell at `ptr`.
    ///
    /// # Safety
    ///
    /// `ptr` must come from `Arc::as_ptr` of an `Arc<TaskCell>` that stays alive for
    /// as long as the returned value (and the `Context`s made from it) are used.
    #[inline]
    pub(in crate::core) unsafe fn from_ptr(ptr: *const TaskCell) -> WakerRef<'static> {
        let raw = RawWaker::new(ptr as *const (), &LOCAL_VTABLE);
        // SAFETY: the caller guarantees the cell outlives the value, so the
        // borrowed waker never dangles; the `ManuallyDrop` never runs `drop_raw`,
        // so no count is released that was not taken. Clones made from it take
        // their own counts.
        let waker = ManuallyDrop::new(unsafe { Waker::from_raw(raw) });
        WakerRef {
            waker,
            _cell: std::marker::PhantomData,
        }
    }
}

impl std::ops::Deref for WakerRef<'_> {
    type Target = Waker;
    fn deref(&self) -> &Waker {
        &self.waker
    }
}
