//! The run loop: [`run`], [`Runtime`] and its [`Builder`].
//!
//! # One iteration
//!
//! 1. **Batch**: poll every root task that is runnable now (the main task and
//!    system tasks), in wake-up order or reversed, on a coin flip of the run's
//!    seeded generator (as Trio does). Polling a
//!    root task polls, down the tree, every nursery with runnable children; each
//!    nursery runs its own batch. Tasks woken during the batch wait for the next.
//! 2. **Timeout**: zero if anything is runnable; otherwise until the next deadline
//!    (asked of the clock), shortened to the smallest `wait_all_tasks_blocked`
//!    cushion or the mock clock's autojump threshold.
//! 3. **I/O wait**: `epoll_wait` for that long — skipped entirely when the timeout is
//!    zero and no task waits for I/O (cross-thread wake-ups are seen through an
//!    atomic flag, so nothing is missed).
//! 4. **Entry queue**: run callbacks from other threads, replay their wake-ups,
//!    deliver a pending Ctrl-C.
//! 5. **Deadlines**: cancel every scope whose deadline has passed.
//! 6. **Idle**: if nothing became runnable and the loop slept for a whole cushion,
//!    wake the `wait_all_tasks_blocked` waiters with that cushion — or, with a mock
//!    clock, jump the clock to the next deadline.
//!
//! This is Trio's `unrolled_run`, step for step.

use std::any::Any;
use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use super::cancel::{CancelWait, ScopeState, check_cancelled, outside_trio};
use super::context::{self, PollGuard, RunnerGuard};
use super::deadlines::{Deadlines, Expired};
use super::dump::DumpOnSignal;
use super::entry_queue::{Job, LoopShared, TrioToken};
use super::instrument::Instrument;
use super::io::Reactor;
use super::ki::KiGuard;
use super::nursery::{NurseryCore, NurseryState};
use super::task::Task;
use super::task::{TaskCell, WakerRef};
use super::task_tree::Deadlock;
use super::wait::{self, RawWait};
use super::watchdog::{self, Report, Watchdog};
use crate::error::{CancelSource, Error, ErrorKind, Result};
use crate::time::{Clock, Instant, SystemClock};

/// The longest single `epoll_wait`; the loop re-checks its state at least this often.
const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);

static NEXT_LOOP_ID: AtomicU64 = AtomicU64::new(1);

pub(crate) struct IdleSlot {
    fired: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

/// The state of one run.
pub(crate) struct Runner {
    pub(crate) loop_id: u64,
    clock: Rc<dyn Clock>,
    pub(crate) deadlines: RefCell<Deadlines>,
    /// What the last expiry found due, kept empty between passes for its vectors.
    expired: Cell<Expired>,
    pub(crate) io: Reactor,
    pub(crate) shared: Arc<LoopShared>,
    rng: RefCell<fastrand::Rng>,
    shuffle: bool,
    seed: u64,
    /// Schedule points a task may skip per step (`Builder::schedule_budget`).
    pub(crate) schedule_budget: u32,
    instruments: RefCell<Vec<Rc<dyn Instrument>>>,
    instrumented: Cell<bool>,
    next_id: Cell<u64>,
    tasks_living: Cell<usize>,
    /// The system nursery: the main task and the system tasks are its children.
    pub(crate) system: Rc<NurseryState<'static>>,
    init_task: Arc<TaskCell>,
    main_scope: Rc<ScopeState>,
    main_task: RefCell<Option<Arc<TaskCell>>>,
    idle: RefCell<BTreeMap<(Duration, u64), Rc<IdleSlot>>>,
    idle_seq: Cell<u64>,
    pub(crate) run_vars: RefCell<super::run_var::RunVarTable>,
    interrupted: Cell<bool>,
    deadlock_detection: bool,
    /// `Builder::channel_deadlock_grace`.
    channel_deadlock_grace: Option<Duration>,
    /// Since when (real time) only thread-safe channels could still wake a task,
    /// with nothing happening meanwhile.
    channel_deadlock_since: Cell<Option<std::time::Instant>>,
    /// This run handles Ctrl-C (which can cancel a `sleep_forever`).
    ctrl_c_handled: Cell<bool>,
    /// The deadlock found, if any (the run is then being stopped).
    deadlock: RefCell<Option<Deadlock>>,
    /// The last task found waiting on something outside the loop: checked first
    /// next time (it usually still is).
    external_hint: RefCell<Option<Arc<TaskCell>>>,
    pub(crate) watchdog: Option<Watchdog>,
}

impl Runner {
    pub(crate) fn next_id(&self) -> u64 {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        id
    }

    pub(crate) fn current_time(&self) -> Instant {
        self.clock.current_time()
    }

    /// True if a nursery whose `ready` children are the only runnable tasks may run
    /// its next batch at once: a pass of the run loop would have nothing to do but
    /// come back to it. That is the case when no task waits for I/O (the loop
    /// would skip `epoll_wait` anyway), no other thread queued work or a Ctrl-C,
    /// no deadline is due, no instrument watches the loop's passes, and no task
    /// anywhere else is runnable.
    pub(crate) fn quiet_for(&self, ready: usize) -> bool {
        if context::runnable_count() != ready
            || self.io.waiters() != 0
            || self.shared.has_pending()
            || self.instrumented.get()
        {
            return false;
        }
        let mut d = self.deadlines.borrow_mut();
        if d.is_empty() {
            return true;
        }
        // `any_due` first: when nothing at all is due, the queue need not look for
        // its earliest live entry, which would raise its threshold ahead of the
        // clock (see deadlines.rs).
        let now = self.clock.current_time();
        !d.any_due(now) || d.next_deadline().is_none_or(|next| next > now)
    }

    /// A seeded coin flip for scheduling choices (always `false` when deterministic).
    pub(crate) fn coin(&self) -> bool {
        self.shuffle && self.rng.borrow_mut().bool()
    }

    /// Orders a batch as Trio does: reversed on a seeded coin flip, so that each
    /// task can run before or after any other (Trio's `_run.py`: "50% chance of
    /// reversing the batch"). Trio once shuffled batches fully; reversing keeps the
    /// wake-up order's memory locality (a full shuffle cost 7–20% on large
    /// batches and 8% on `tcp_echo`) with the same guarantee against code that
    /// assumes an order.
    pub(crate) fn shuffle(&self, batch: &mut [usize]) {
        if self.shuffle && self.rng.borrow_mut().bool() {
            batch.reverse();
        }
    }

    // ---- instruments ----

    pub(crate) fn add_instrument(&self, i: Rc<dyn Instrument>) {
        let mut v = self.instruments.borrow_mut();
        if !v.iter().any(|x| Rc::ptr_eq(x, &i)) {
            v.push(i);
        }
        self.instrumented.set(true);
    }

    pub(crate) fn remove_instrument(&self, i: &Rc<dyn Instrument>) -> bool {
        let mut v = self.instruments.borrow_mut();
        let before = v.len();
        v.retain(|x| !Rc::ptr_eq(x, i));
        self.instrumented.set(!v.is_empty());
        v.len() != before
    }

    fn call_instruments(&self, f: impl Fn(&dyn Instrument)) {
        let list: Vec<Rc<dyn Instrument>> = self.instruments.borrow().clone();
        for i in list {
            if catch_unwind(AssertUnwindSafe(|| f(&*i))).is_err() {
                eprintln!("trio: an instrument panicked and was removed");
                self.remove_instrument(&i);
            }
        }
    }

    /// The per-step instrument hooks: a flag check inline on the hot path (these run
    /// several times per task step), the calls out of line.
    #[inline(always)]
    fn task_hook(&self, cell: &TaskCell, f: impl Fn(&dyn Instrument, &Task)) {
        if self.instrumented.get() {
            self.task_hook_slow(cell, &f);
        }
    }

    #[cold]
    #[inline(never)]
    fn task_hook_slow(&self, cell: &TaskCell, f: &dyn Fn(&dyn Instrument, &Task)) {
        let task = Task::from_cell(cell.arc());
        self.call_instruments(|i| f(i, &task));
    }

    #[inline]
    pub(crate) fn task_spawned(&self, cell: &TaskCell) {
        self.tasks_living.set(self.tasks_living.get() + 1);
        self.task_hook(cell, |i, t| i.task_spawned(t));
    }

    #[inline]
    pub(crate) fn task_scheduled(&self, cell: &TaskCell) {
        self.task_hook(cell, |i, t| i.task_scheduled(t));
    }

    #[inline]
    pub(crate) fn before_task_step(&self, cell: &TaskCell) {
        self.task_hook(cell, |i, t| i.before_task_step(t));
    }

    #[inline]
    pub(crate) fn after_task_step(&self, cell: &TaskCell) {
        self.task_hook(cell, |i, t| i.after_task_step(t));
    }

    #[inline]
    pub(crate) fn task_exited(&self, cell: &TaskCell) {
        self.tasks_living
            .set(self.tasks_living.get().saturating_sub(1));
        self.task_hook(cell, |i, t| i.task_exited(t));
    }

    /// A snapshot of the task tree (see `task_tree.rs`).
    pub(crate) fn task_tree(&self) -> super::task_tree::TaskTree {
        let main = self.main_task.try_borrow().ok().and_then(|m| m.clone());
        let mut roots: Vec<Arc<TaskCell>> = Vec::new();
        if let Some(m) = &main {
            roots.push(m.clone());
        }
        for (_, c) in self.system.core.children.borrow().iter() {
            if !main.as_ref().is_some_and(|m| Arc::ptr_eq(m, c)) {
                roots.push(c.clone());
            }
        }
        super::task_tree::snapshot(&roots, main.as_ref().map(Arc::as_ptr))
    }

    // ---- the loop ----

    fn poll_main<T>(
        &self,
        mut main: Pin<&mut (dyn Future<Output = T> + '_)>,
        out: &mut Option<std::thread::Result<T>>,
    ) {
        let done = {
            // Borrowed, not cloned: no atomic reference counting on every loop pass.
            // Nothing else borrows `main_task` mutably while main is polled.
            let guard = self.main_task.borrow();
            let Some(cell) = guard.as_ref() else {
                return;
            };
            let l = cell.l();
            if !l.scheduled.get() {
                return;
            }
            l.unschedule();
            // The step hooks run as the task (Trio: `current_task()` is the task).
            let _g = PollGuard::task(Arc::as_ptr(cell), &self.main_scope);
            context::set_credit(self.schedule_budget);
            self.before_task_step(cell);
            let waker = WakerRef::new(cell);
            let mut cx = Context::from_waker(&waker);
            l.wait.set(RawWait::OTHER);
            #[cfg(feature = "tracing")]
            let _span = cell.span.enter();
            let res = watchdog::timed(self.watchdog.as_ref(), cell, || {
                catch_unwind(AssertUnwindSafe(|| main.as_mut().poll(&mut cx)))
            });
            self.after_task_step(cell);
            match res {
                Ok(Poll::Pending) => None,
                Ok(Poll::Ready(v)) => Some(Ok(v)),
                Err(p) => Some(Err(p)),
            }
        };
        if let Some(d) = done {
            *out = Some(d);
            let cell = self
                .main_task
                .borrow_mut()
                .take()
                .expect("main was just polled");
            let key = cell.l().key.get() as usize;
            self.system.release_slot(key);
            self.task_exited(&cell);
            cell.release();
            self.main_scope.exit();
            // Main is done: system tasks are cancelled.
            let reason: Arc<str> = Arc::from("the main task finished: shutting down system tasks");
            self.system
                .core
                .scope
                .cancel_from(CancelSource::Shutdown, Some(reason), Some(&cell));
        }
    }

    fn run_loop<T>(
        &self,
        mut main: Pin<&mut (dyn Future<Output = T> + '_)>,
    ) -> std::thread::Result<T> {
        let mut main_out: Option<std::thread::Result<T>> = None;
        let main_key = self
            .main_task
            .borrow()
            .as_ref()
            .map(|c| c.l().key.get() as usize)
            .expect("main task exists at start");
        loop {
            // 1. batch
            let core = &self.system.core;
            let batch = core.take_batch();
            if !batch.is_empty() {
                // Something ran: whatever looked like a deadlock may be over.
                self.channel_deadlock_since.set(None);
            }
            for &key in &batch {
                if key == main_key && main_out.is_none() {
                    self.poll_main(main.as_mut(), &mut main_out);
                } else {
                    self.system.poll_child(key);
                }
            }
            core.return_batch(batch);
            if main_out.is_some() && self.system.is_empty() {
                return main_out.take().expect("checked");
            }
            // 2. timeout
            let runnable = core.has_ready() || self.shared.has_pending();
            let next_deadline = self.deadlines.borrow_mut().next_deadline();
            let mut timeout = if runnable {
                Duration::ZERO
            } else {
                match next_deadline {
                    Some(d) => self.clock.deadline_to_sleep_time(d),
                    None => MAX_TIMEOUT,
                }
            };
            timeout = timeout.min(MAX_TIMEOUT);
            if !runnable && timeout == MAX_TIMEOUT {
                match self.deadlock_verdict() {
                    Verdict::Live => self.channel_deadlock_since.set(None),
                    Verdict::Deadlocked => {
                        self.stop_deadlocked(None);
                        timeout = Duration::ZERO;
                    }
                    Verdict::OnlyThreadSafeChannels(grace) => {
                        let since = match self.channel_deadlock_since.get() {
                            Some(t) => t,
                            None => {
                                let now = std::time::Instant::now();
                                self.channel_deadlock_since.set(Some(now));
                                now
                            }
                        };
                        let waited = since.elapsed();
                        if waited >= grace {
                            self.channel_deadlock_since.set(None);
                            self.stop_deadlocked(Some(grace));
                            timeout = Duration::ZERO;
                        } else {
                            // Wake up when the grace is over, to look again.
                            timeout = grace - waited;
                        }
                    }
                }
            }
            #[derive(PartialEq)]
            enum Idle {
                No,
                Waiters(Duration),
                Autojump,
            }
            let mut idle = Idle::No;
            let first_cushion = self.idle.borrow().keys().next().map(|k| k.0);
            if let Some(cushion) = first_cushion {
                if cushion < timeout {
                    timeout = cushion;
                    idle = Idle::Waiters(cushion);
                }
            } else if let Some(th) = self.clock.autojump_threshold() {
                // (With no finite deadline there is nothing to jump to.)
                if th < timeout && next_deadline.is_some_and(|d| d.is_finite()) {
                    timeout = th;
                    idle = Idle::Autojump;
                }
            }
            // 3. I/O
            if !timeout.is_zero() || self.io.waiters() > 0 {
                if self.instrumented.get() {
                    self.call_instruments(|i| i.before_io_wait(timeout));
                }
                if let Err(e) = self.io.wait(timeout) {
                    eprintln!("trio: I/O wait failed: {e}");
                }
                if self.instrumented.get() {
                    self.call_instruments(|i| i.after_io_wait(timeout));
                }
            }
            // 4. entry queue and Ctrl-C (a pass that ran a callback was not idle: in
            // Trio, callbacks run in a task)
            if self.process_entry_queue() {
                idle = Idle::No;
                self.channel_deadlock_since.set(None);
            }
            // 5. deadlines
            // (The clock is read only when some deadline is pending.)
            if !self.deadlines.borrow().is_empty() {
                let now = self.clock.current_time();
                let mut due = self.expired.take();
                self.deadlines.borrow_mut().expire(now, &mut due);
                if !due.is_empty() {
                    idle = Idle::No;
                }
                due.fire();
                self.expired.set(due);
            }
            // 6. idle
            if !self.system.core.has_ready() && !self.shared.has_pending() {
                match idle {
                    Idle::Waiters(cushion) => self.wake_idle(cushion),
                    Idle::Autojump => {
                        let next = self.deadlines.borrow_mut().next_deadline();
                        if let Some(d) = next {
                            if d.is_finite() {
                                self.clock.autojump(d);
                            }
                        }
                    }
                    Idle::No => {}
                }
            }
        }
    }

    /// Whether anything could still wake a task (see `Builder::deadlock_detection`
    /// and `Builder::channel_deadlock_grace`). Called only when the loop is about
    /// to wait with no deadline.
    fn deadlock_verdict(&self) -> Verdict {
        if !self.deadlock_detection
            || self.system.core.has_ready()
            || self.shared.has_pending()
            || self.shared.tokens_out()
            || !self.idle.borrow().is_empty()
        {
            return Verdict::Live;
        }
        if let Some(d) = self.deadlines.borrow_mut().next_deadline() {
            if d.is_finite() {
                return Verdict::Live;
            }
        }
        let ki = self.ctrl_c_handled.get();
        let grace = self.channel_deadlock_grace;
        if let Some(hint) = self.external_hint.borrow().as_ref() {
            if hint.local().is_some_and(|l| l.alive.get())
                && wait_class(hint, ki) == WaitClass::Outside
            {
                return Verdict::Live;
            }
        }
        let mut on_channels = false;
        let mut stack: Vec<Arc<TaskCell>> = self
            .system
            .core
            .children
            .borrow()
            .iter()
            .map(|(_, c)| c.clone())
            .collect();
        while let Some(cell) = stack.pop() {
            match wait_class(&cell, ki) {
                WaitClass::Inside => {}
                WaitClass::ThreadSafeChannel if grace.is_some() => on_channels = true,
                WaitClass::ThreadSafeChannel | WaitClass::Outside => {
                    *self.external_hint.borrow_mut() = Some(cell);
                    return Verdict::Live;
                }
            }
            for n in Task::from_cell(cell).child_nurseries() {
                stack.extend(n.core().children.borrow().iter().map(|(_, c)| c.clone()));
            }
        }
        match (on_channels, grace) {
            (true, Some(grace)) => Verdict::OnlyThreadSafeChannels(grace),
            _ => Verdict::Deadlocked,
        }
    }

    /// Records the tree and cancels everything; `run` returns the error once the
    /// tasks have unwound.
    fn stop_deadlocked(&self, channel_grace: Option<Duration>) {
        let tree = self.task_tree();
        let mut slot = self.deadlock.borrow_mut();
        if slot.is_some() {
            // Cancelled, yet still deadlocked: tasks blocked inside shielded scopes.
            // Nothing can end them; say so rather than hang.
            panic!(
                "trio: deadlock in shielded cancel scopes; the run cannot be stopped:\n{:#}",
                tree
            );
        }
        *slot = Some(Deadlock {
            tree,
            channel_grace,
        });
        drop(slot);
        self.main_scope.cancel(CancelSource::Deadlock, None);
        self.system.core.scope.cancel(CancelSource::Deadlock, None);
    }

    /// Runs what other threads queued; true if there was anything.
    fn process_entry_queue(&self) -> bool {
        if !self.shared.has_pending() {
            return false;
        }
        if self.shared.ki_pending.swap(false, Ordering::AcqRel) {
            self.shared.ki_seen.store(true, Ordering::Release);
            if !self.interrupted.replace(true) {
                self.main_scope.cancel(CancelSource::CtrlC, None);
            }
        }
        let jobs = self.shared.drain();
        let any = !jobs.is_empty();
        for job in jobs {
            match job {
                Job::Wake(w) => w.wake(),
                Job::Release(w) => drop(w),
                Job::Call(f) => self.run_callback(f),
            }
        }
        any
    }

    fn run_callback(&self, f: Box<dyn FnOnce() + Send + 'static>) {
        if let Err(p) = catch_unwind(AssertUnwindSafe(f)) {
            // Trio: a crashing run_sync_soon callback is a TrioInternalError.
            self.system.add_error(
                Error::new(
                    ErrorKind::Internal,
                    format!("a run_sync_soon callback panicked: {}", panic_message(&p)),
                ),
                None,
            );
        }
    }

    fn wake_idle(&self, cushion: Duration) {
        let mut idle = self.idle.borrow_mut();
        let keys: Vec<(Duration, u64)> = idle
            .keys()
            .take_while(|k| k.0 == cushion)
            .copied()
            .collect();
        let slots: Vec<Rc<IdleSlot>> = keys.iter().filter_map(|k| idle.remove(k)).collect();
        drop(idle);
        for s in slots {
            s.fired.set(true);
            if let Some(w) = s.waker.borrow_mut().take() {
                w.wake();
            }
        }
    }
}

/// What a run looks like to the deadlock detector.
enum Verdict {
    /// Something could still wake a task.
    Live,
    /// Nothing can.
    Deadlocked,
    /// Only a thread the run does not know, using a thread-safe channel, could;
    /// declared a deadlock after this long with nothing happening.
    OnlyThreadSafeChannels(Duration),
}

/// Who could end a task's wait.
#[derive(Clone, Copy, PartialEq, Eq)]
enum WaitClass {
    /// Only another task of this loop.
    Inside,
    /// A task of this loop, or a thread holding the other end of a thread-safe
    /// memory channel.
    ThreadSafeChannel,
    /// Something outside the loop (an fd, a deadline, a thread, an unknown
    /// future), or the task is runnable.
    Outside,
}

fn wait_class(cell: &TaskCell, ctrl_c_handled: bool) -> WaitClass {
    match cell.local() {
        Some(l) if l.scheduled.get() => WaitClass::Outside,
        Some(l) => {
            let w = l.wait.get();
            if w.is_internal(ctrl_c_handled) {
                WaitClass::Inside
            } else if w.is_thread_safe_channel() {
                WaitClass::ThreadSafeChannel
            } else {
                WaitClass::Outside
            }
        }
        None => WaitClass::Outside,
    }
}

pub(crate) fn panic_message(p: &(dyn Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_string()
    }
}

// ---- entering trio ---------------------------------------------------------------

/// Configures a run: clock, instruments, scheduling seed, Ctrl-C handling.
///
/// # Examples
///
/// ```
/// let clock = trio::testing::MockClock::new();
/// clock.set_autojump_threshold(std::time::Duration::ZERO);
/// let rt = trio::Runtime::builder().clock(clock).seed(42).build();
/// rt.run(async {
///     trio::sleep(std::time::Duration::from_secs(3600)).await // instant with autojump
/// }).unwrap();
/// ```
#[derive(Default)]
pub struct Builder {
    clock: Option<Rc<dyn Clock>>,
    instruments: Vec<Rc<dyn Instrument>>,
    seed: Option<u64>,
    deterministic: bool,
    handle_ctrl_c: Option<bool>,
    schedule_budget: u32,
    no_deadlock_detection: bool,
    channel_deadlock_grace: Option<Duration>,
    watchdog: Option<(Duration, Report)>,
    dump_signal: Option<i32>,
    cancelled_from_outside: bool,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("seed", &self.seed)
            .field("deterministic", &self.deterministic)
            .finish()
    }
}

impl Builder {
    /// Uses `clock` instead of the [`SystemClock`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let clock = trio::testing::MockClock::new(); // frozen at Instant::ZERO
    /// let c = clock.clone();
    /// trio::Runtime::builder().clock(clock).build().run(async move {
    ///     assert_eq!(trio::current_time(), trio::Instant::ZERO);
    ///     c.jump(Duration::from_secs(1));
    ///     assert_eq!(trio::current_time(), trio::Instant::ZERO + Duration::from_secs(1));
    ///     Ok::<_, trio::Error>(())
    /// }).unwrap();
    /// ```
    pub fn clock(mut self, clock: impl Clock) -> Builder {
        self.clock = Some(Rc::new(clock));
        self
    }

    /// Installs an instrument from the start of the run.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    /// #[derive(Default)]
    /// struct Lifecycle { runs: Cell<u32>, spawned: Cell<u32> }
    /// impl trio::lowlevel::Instrument for Lifecycle {
    ///     fn before_run(&self) { self.runs.set(self.runs.get() + 1); }
    ///     fn task_spawned(&self, _: &trio::lowlevel::Task) { self.spawned.set(self.spawned.get() + 1); }
    /// }
    /// let seen = Rc::new(Lifecycle::default());
    /// let rt = trio::Runtime::builder().instrument(seen.clone()).build();
    /// rt.run(async {
    ///     trio::open_nursery(async |n| {
    ///         n.start_soon(async { Ok(()) })?;
    ///         n.start_soon(async { Ok(()) })
    ///     }).await
    /// }).unwrap();
    /// assert_eq!(seen.runs.get(), 1);
    /// assert_eq!(seen.spawned.get(), 3); // the main task and two children
    /// ```
    pub fn instrument(mut self, instrument: Rc<dyn Instrument>) -> Builder {
        self.instruments.push(instrument);
        self
    }

    /// Seeds the scheduler's random choices (whether each batch runs in wake-up
    /// order or reversed): the same seed replays the same interleaving
    /// (of a program whose I/O and clock behave the same). Default: the
    /// `TRIO_SEED` environment variable, else a random seed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::RefCell;
    /// fn interleaving(seed: u64) -> Vec<u32> {
    ///     let order = RefCell::new(Vec::new());
    ///     let o = &order;
    ///     trio::Runtime::builder().seed(seed).build().run(async {
    ///         assert_eq!(trio::lowlevel::current_seed(), seed);
    ///         trio::open_nursery(async |n| {
    ///             for i in 0..8 {
    ///                 n.start_soon(async move { o.borrow_mut().push(i); Ok(()) })?;
    ///             }
    ///             Ok(())
    ///         }).await
    ///     }).unwrap();
    ///     order.into_inner()
    /// }
    /// assert_eq!(interleaving(42), interleaving(42)); // same seed, same order
    /// ```
    pub fn seed(mut self, seed: u64) -> Builder {
        self.seed = Some(seed);
        self
    }

    /// Runs each batch in FIFO order instead of reversing it on a coin flip.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::RefCell;
    /// let order = RefCell::new(Vec::new());
    /// let o = &order;
    /// trio::Runtime::builder().deterministic(true).build().run(async {
    ///     trio::open_nursery(async |n| {
    ///         for i in 0..5 {
    ///             n.start_soon(async move { o.borrow_mut().push(i); Ok(()) })?;
    ///         }
    ///         Ok(())
    ///     }).await
    /// }).unwrap();
    /// assert_eq!(order.into_inner(), [0, 1, 2, 3, 4]); // in the order started
    /// ```
    pub fn deterministic(mut self, yes: bool) -> Builder {
        self.deterministic = yes;
        self
    }

    /// Lets each task skip up to `n` schedule points per step (Trio issue #1757;
    /// default 0: Trio's rule, every checkpoint yields to the scheduler).
    ///
    /// A checkpoint is both a *cancel point* and a *schedule point*. With a budget,
    /// every checkpoint still checks for cancellation, but a task that has not
    /// blocked yields only once it has passed `n` schedule points since it was
    /// last scheduled — as tokio's cooperative budget does. Operations that
    /// complete at once (a send into a channel with room, an uncontended lock)
    /// then cost no task switch; fairness is bounded by `n`. Blocking is unchanged.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    /// let rt = trio::Runtime::builder().schedule_budget(64).build();
    /// rt.run(async {
    ///     let turns = Cell::new(0);
    ///     let t = &turns;
    ///     trio::open_nursery(async |n| {
    ///         n.start_soon(async move {
    ///             for _ in 0..10 {
    ///                 trio::lowlevel::checkpoint().await?; // does not yield: budget left
    ///             }
    ///             t.set(t.get() + 1);
    ///             Ok(())
    ///         })?;
    ///         Ok(())
    ///     }).await?;
    ///     assert_eq!(turns.get(), 1);
    ///     Ok::<_, trio::Error>(())
    /// }).unwrap();
    /// ```
    pub fn schedule_budget(mut self, n: u32) -> Builder {
        self.schedule_budget = n;
        self
    }

    /// Whether the run stops with an [`ErrorKind::Deadlock`] error when every task
    /// is blocked and nothing can wake any of them (default: yes).
    ///
    /// The loop declares a deadlock only when nothing is runnable, no deadline is
    /// pending, no other thread holds a [`TrioToken`] of the run (worker threads of
    /// `to_thread` hold one while they run), no `wait_all_tasks_blocked` waits, and
    /// every task waits on something only another task of the run can end: a lock,
    /// semaphore, event, condition, capacity limiter, `TaskHandle::join`, a
    /// loop-local memory channel, or its children (and `sleep_forever`, when the run
    /// does not handle Ctrl-C: otherwise that is how a program waits for Ctrl-C). A task blocked on
    /// a file descriptor, a sleep, a thread, a thread-safe channel (unless
    /// [`channel_deadlock_grace`](Self::channel_deadlock_grace) says otherwise) or a
    /// future trio does not know keeps the run waiting, as before. Then every task is cancelled,
    /// and once they have unwound, `run` returns the error with the task tree
    /// ([`Error::deadlock`]).
    ///
    /// Switch it off for a program that waits on the outside world in a way trio
    /// cannot see: a future that selects between a trio primitive and something
    /// another thread completes (the task then looks blocked on the trio primitive).
    ///
    /// # Examples
    ///
    /// ```
    /// let event = trio::sync::Event::new();
    /// let err = trio::run(async { event.wait().await }).unwrap_err(); // nobody sets it
    /// assert_eq!(err.kind(), trio::ErrorKind::Deadlock);
    ///
    /// // Off: the run would wait; here a deadline ends it.
    /// let rt = trio::Runtime::builder().deadlock_detection(false).build();
    /// let r = rt.run(async {
    ///     trio::move_on_after(std::time::Duration::from_millis(1), event.wait()).await
    /// });
    /// assert!(r.unwrap().is_none());
    /// ```
    pub fn deadlock_detection(mut self, yes: bool) -> Builder {
        self.no_deadlock_detection = !yes;
        self
    }

    /// Also declares a deadlock when tasks wait on **thread-safe** memory
    /// channels ([`open_memory_channel`](crate::open_memory_channel)) that no
    /// other thread uses: when every task is blocked as
    /// [`deadlock_detection`](Self::deadlock_detection) requires, except that
    /// some wait on thread-safe channels, and `grace` of real time passes with
    /// nothing happening — no task runs, no other thread sends a wake-up (default:
    /// off; `#[trio::test]` sets 5 s).
    ///
    /// Why a grace and not at once: a thread-safe channel's other end may be held
    /// by a thread trio knows nothing of (a `std::thread` that will send when its
    /// work is done), so "blocked on a thread-safe channel" cannot be proved
    /// permanent. What can be seen is that nothing inside the run can end it and
    /// that nothing from outside has for `grace`. In a test, where such helper
    /// threads are rare and quick, that is a deadlock, and failing with the task
    /// tree beats hanging. A program with a slow producer thread should leave it
    /// off, or give a grace longer than the producer's silences.
    ///
    /// The error is [`ErrorKind::Deadlock`], its [`Deadlock`](crate::lowlevel::Deadlock)
    /// says that the grace ran out ([`channel_grace`](crate::lowlevel::Deadlock::channel_grace)).
    /// Switched off with `deadlock_detection(false)` too.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let rt = trio::Runtime::builder()
    ///     .channel_deadlock_grace(Duration::from_millis(50))
    ///     .build();
    /// let err = rt
    ///     .run(async {
    ///         let (_tx, rx) = trio::open_memory_channel::<u32>(0);
    ///         rx.receive().await.map(drop) // nobody will ever send
    ///     })
    ///     .unwrap_err();
    /// assert_eq!(err.kind(), trio::ErrorKind::Deadlock);
    /// let d = err.deadlock().unwrap();
    /// assert_eq!(d.channel_grace, Some(Duration::from_millis(50)));
    /// assert!(d.to_string().contains("waited 50ms with no other thread using them"), "{d}");
    /// assert!(d.to_string().contains("receive on thread-safe channel"), "{d}");
    /// ```
    pub fn channel_deadlock_grace(mut self, grace: impl Into<Option<Duration>>) -> Builder {
        self.channel_deadlock_grace = grace.into();
        self
    }

    /// Reports every task step that holds the loop for `threshold` or longer (not
    /// counting its children's steps) on stderr, with the task's name, id and spawn
    /// location (default: off).
    ///
    /// Steps are timed with the real clock, also under a mock clock.
    ///
    /// # Examples
    ///
    /// ```
    /// // trio watchdog: task 3 "blocker" held the loop for 50.1 ms in one step (spawned at src/main.rs:9:15)
    /// trio::Runtime::builder()
    ///     .watchdog(std::time::Duration::from_millis(100))
    ///     .build()
    ///     .run(async { trio::lowlevel::checkpoint().await })
    ///     .unwrap();
    /// ```
    pub fn watchdog(self, threshold: Duration) -> Builder {
        self.watchdog_with_report(threshold, Watchdog::default_report())
    }

    /// [`watchdog`](Self::watchdog) with a function that receives each
    /// [`SlowStep`](crate::lowlevel::SlowStep) instead of printing it. `report` runs
    /// on the loop thread, right after the slow step.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let slow = std::rc::Rc::new(std::cell::Cell::new(0));
    /// let s = slow.clone();
    /// trio::Runtime::builder()
    ///     .watchdog_with(Duration::from_millis(10), move |_step| s.set(s.get() + 1))
    ///     .build()
    ///     .run(async {
    ///         std::thread::sleep(Duration::from_millis(30)); // the main task's step
    ///         trio::lowlevel::checkpoint().await
    ///     })
    ///     .unwrap();
    /// assert_eq!(slow.get(), 1);
    /// ```
    pub fn watchdog_with(
        self,
        threshold: Duration,
        report: impl Fn(&crate::lowlevel::SlowStep) + 'static,
    ) -> Builder {
        self.watchdog_with_report(threshold, Rc::new(report))
    }

    /// Prints the task tree to stderr whenever the process receives `signal`
    /// (for example `libc::SIGUSR1`; default: off), so a hung program can be asked
    /// what it is doing: `kill -USR1 <pid>`.
    ///
    /// The tree is printed by the loop between two batches: a loop stuck inside
    /// one task step (see [`watchdog`](Self::watchdog)) prints it when the step
    /// ends. After the run, the signal is ignored (its handler cannot be removed).
    ///
    /// # Errors
    ///
    /// Reported by [`Runtime::run`], before the run starts:
    /// [`ErrorKind::InvalidInput`] for a signal that cannot be received (one out
    /// of range, one that cannot be caught such as `SIGKILL`, or `SIGINT`, which
    /// trio's Ctrl-C handling owns: the signals
    /// [`open_signal_receiver`](crate::signal::open_signal_receiver) refuses); an
    /// I/O error if the handler cannot be installed.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// // Then, from a shell: kill -USR1 <pid>
    /// trio::Runtime::builder()
    ///     .task_tree_on_signal(10) // SIGUSR1 on Linux
    ///     .build()
    ///     .run(async { trio::sleep_forever().await })
    ///     .unwrap();
    /// ```
    pub fn task_tree_on_signal(mut self, signal: i32) -> Builder {
        self.dump_signal = Some(signal);
        self
    }

    fn watchdog_with_report(mut self, threshold: Duration, report: Report) -> Builder {
        self.watchdog = Some((threshold, report));
        self
    }

    /// Something outside the run may cancel its main task (crate-private, for
    /// `trio::loops`: the supervisor of several loops does, on Ctrl-C or when a
    /// sibling loop fails). The run then counts `sleep_forever` — the idiom for
    /// "wait until cancelled" — as a wait that can end, as a run that handles
    /// Ctrl-C itself does, so deadlock detection does not stop it.
    pub(crate) fn cancelled_from_outside(mut self, yes: bool) -> Builder {
        self.cancelled_from_outside = yes;
        self
    }

    /// Whether the run handles Ctrl-C (default: yes, if no other run does already).
    ///
    /// With `false`, the run leaves SIGINT alone: Ctrl-C does whatever the process
    /// would do without trio (by default, terminate it).
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = trio::Runtime::builder().handle_ctrl_c(false).build();
    /// let v = rt.run(async { trio::lowlevel::checkpoint().await.map(|()| "ran") }).unwrap();
    /// assert_eq!(v, "ran");
    /// ```
    pub fn handle_ctrl_c(mut self, yes: bool) -> Builder {
        self.handle_ctrl_c = Some(yes);
        self
    }

    /// Finishes the configuration.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = trio::Runtime::builder().seed(5).deterministic(true).build();
    /// assert_eq!(rt.seed(), 5);
    /// assert_eq!(rt.run(async { Ok::<_, trio::Error>(trio::lowlevel::current_seed()) }).unwrap(), 5);
    /// ```
    pub fn build(self) -> Runtime {
        let seed = self.seed.unwrap_or_else(|| {
            std::env::var("TRIO_SEED")
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or_else(|| fastrand::u64(..))
        });
        Runtime {
            clock: self.clock,
            instruments: self.instruments,
            seed,
            deterministic: self.deterministic,
            handle_ctrl_c: self.handle_ctrl_c.unwrap_or(true),
            schedule_budget: self.schedule_budget,
            deadlock_detection: !self.no_deadlock_detection,
            channel_deadlock_grace: self.channel_deadlock_grace,
            watchdog: self.watchdog,
            dump_signal: self.dump_signal,
            cancelled_from_outside: self.cancelled_from_outside,
        }
    }
}

/// A configured trio run loop. Make one with [`Runtime::builder`] (or
/// [`Runtime::new`] for the defaults) and start it with [`Runtime::run`].
///
/// # Examples
///
/// ```
/// let rt = trio::Runtime::builder().seed(7).build();
/// assert_eq!(rt.seed(), 7);
/// let v = rt.run(async { Ok::<_, trio::Error>(1 + 1) }).unwrap();
/// assert_eq!(v, 2);
/// ```
pub struct Runtime {
    clock: Option<Rc<dyn Clock>>,
    instruments: Vec<Rc<dyn Instrument>>,
    seed: u64,
    deterministic: bool,
    handle_ctrl_c: bool,
    schedule_budget: u32,
    deadlock_detection: bool,
    channel_deadlock_grace: Option<Duration>,
    watchdog: Option<(Duration, Report)>,
    dump_signal: Option<i32>,
    cancelled_from_outside: bool,
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime").field("seed", &self.seed).finish()
    }
}

impl Default for Runtime {
    fn default() -> Self {
        Runtime::new()
    }
}

impl Runtime {
    /// A builder with the defaults.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = trio::Runtime::builder().seed(3).build();
    /// assert_eq!(rt.seed(), 3);
    /// assert_eq!(rt.run(async { Ok::<_, trio::Error>(2 * 21) }).unwrap(), 42);
    /// ```
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// A runtime with the defaults (system clock, random seed, Ctrl-C handled).
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = trio::Runtime::new();
    /// let seed = rt.seed();
    /// let seen = rt.run(async { Ok::<_, trio::Error>(trio::lowlevel::current_seed()) }).unwrap();
    /// assert_eq!(seen, seed);
    /// ```
    pub fn new() -> Runtime {
        Builder::default().build()
    }

    /// The scheduling seed this runtime will use.
    ///
    /// Known before the run starts, so a test harness can print it for replay.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = trio::Runtime::builder().seed(1234).build();
    /// assert_eq!(rt.seed(), 1234);
    /// rt.run(async {
    ///     assert_eq!(trio::lowlevel::current_seed(), 1234);
    ///     Ok::<_, trio::Error>(())
    /// }).unwrap();
    /// ```
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Runs `main` as the main task of a new run loop on this thread, until it and
    /// every system task have finished.
    ///
    /// # Errors
    ///
    /// The main task's error; [`ErrorKind::NestedRun`] if this thread is already
    /// running trio; [`ErrorKind::Interrupted`] if Ctrl-C cancelled the run (the
    /// main task's own error, if any, is its source); [`ErrorKind::Internal`] if a
    /// system task or a `run_sync_soon` callback failed; an I/O error if the
    /// reactor could not be created.
    ///
    /// # Panics
    ///
    /// A panic of the main task is resumed here, after system tasks finished.
    /// With deadlock detection on, a run whose tasks are deadlocked inside
    /// shielded cancel scopes panics with the task tree: no cancellation can end
    /// those tasks, so the run can neither finish nor be stopped.
    ///
    /// # Examples
    ///
    /// The error type is yours, as long as a trio [`Error`] converts into it:
    ///
    /// ```
    /// use std::time::Duration;
    /// let r: std::io::Result<u8> = trio::Runtime::new().run(async {
    ///     trio::sleep(Duration::from_millis(1)).await?; // trio::Error -> io::Error
    ///     Ok(8)
    /// });
    /// assert_eq!(r.unwrap(), 8);
    ///
    /// // Failing and panicking main tasks:
    /// let e = trio::Runtime::new()
    ///     .run(async { Err::<(), _>(trio::Error::new(trio::ErrorKind::Other, "bad")) })
    ///     .unwrap_err();
    /// assert_eq!(e.to_string(), "bad");
    /// let panicked = std::panic::catch_unwind(|| {
    ///     trio::Runtime::new().run(async {
    ///         if true { panic!("oops") }
    ///         Ok::<(), trio::Error>(())
    ///     })
    /// });
    /// assert!(panicked.is_err());
    /// ```
    #[track_caller]
    pub fn run<F, T, E>(self, main: F) -> std::result::Result<T, E>
    where
        F: Future<Output = std::result::Result<T, E>>,
        E: From<Error> + 'static,
    {
        self.run_at(main, std::panic::Location::caller())
    }

    /// [`run`](Self::run), with the main task's spawn location given (for
    /// `#[trio::test]`, whose caller is the user's test).
    pub(crate) fn run_at<F, T, E>(
        self,
        main: F,
        main_at: &'static std::panic::Location<'static>,
    ) -> std::result::Result<T, E>
    where
        F: Future<Output = std::result::Result<T, E>>,
        E: From<Error> + 'static,
    {
        let main_at = Some(main_at);
        if context::current_loop_id() != 0 {
            return Err(E::from(Error::new(
                ErrorKind::NestedRun,
                "trio::run was called from inside a running trio loop; use a nursery instead",
            )));
        }
        let (io, waker) = match Reactor::new() {
            Ok(x) => x,
            Err(e) => return Err(E::from(Error::from(e))),
        };
        let loop_id = NEXT_LOOP_ID.fetch_add(1, Ordering::Relaxed);
        // Options that can be wrong fail here, before anything has started.
        let dump = self
            .dump_signal
            .map(|sig| DumpOnSignal::start(sig, loop_id));
        let dump = match dump.transpose() {
            Ok(dump) => dump,
            Err(e) => return Err(E::from(e)),
        };
        let shared = LoopShared::new(loop_id, waker);
        let clock: Rc<dyn Clock> = self.clock.unwrap_or_else(|| Rc::new(SystemClock::new()));

        let root_scope = ScopeState::new();
        root_scope.enter(None).expect("fresh scope");
        let init_task = TaskCell::new(loop_id, 0, Cow::Borrowed("<init>"), None);
        let system_core = Rc::new(NurseryCore::new(
            1,
            root_scope.clone(),
            Some(init_task.clone()),
        ));
        system_core.link_into(init_task.l());
        let system = Rc::new(NurseryState::with_core(system_core));
        let main_scope = ScopeState::new();
        main_scope
            .enter(Some(root_scope.clone()))
            .expect("fresh scope");

        let runner = Rc::new(Runner {
            loop_id,
            clock: clock.clone(),
            deadlines: RefCell::new(Deadlines::default()),
            expired: Cell::new(Expired::default()),
            io,
            shared: shared.clone(),
            rng: RefCell::new(fastrand::Rng::with_seed(self.seed)),
            shuffle: !self.deterministic,
            seed: self.seed,
            schedule_budget: self.schedule_budget,
            instrumented: Cell::new(!self.instruments.is_empty()),
            instruments: RefCell::new(self.instruments),
            next_id: Cell::new(2),
            tasks_living: Cell::new(0),
            system: system.clone(),
            init_task: init_task.clone(),
            main_scope: main_scope.clone(),
            main_task: RefCell::new(None),
            idle: RefCell::new(BTreeMap::new()),
            idle_seq: Cell::new(0),
            run_vars: RefCell::new(Default::default()),
            interrupted: Cell::new(false),
            deadlock_detection: self.deadlock_detection,
            channel_deadlock_grace: self.channel_deadlock_grace,
            channel_deadlock_since: Cell::new(None),
            ctrl_c_handled: Cell::new(false),
            deadlock: RefCell::new(None),
            external_hint: RefCell::new(None),
            watchdog: self.watchdog.map(|(t, r)| Watchdog::new(t, r)),
        });
        let guard = RunnerGuard::enter(runner.clone());
        let ki = if self.handle_ctrl_c {
            KiGuard::claim(&shared)
        } else {
            None
        };
        clock.start_clock();
        runner
            .ctrl_c_handled
            .set(ki.is_some() || self.cancelled_from_outside);
        if runner.instrumented.get() {
            runner.call_instruments(|i| i.before_run());
        }

        let main_cell = TaskCell::new(loop_id, runner.next_id(), Cow::Borrowed("<main>"), main_at);
        system.reserve_slot(main_cell.clone());
        *main_cell.l().status.borrow_mut() = Some(main_scope.clone());
        runner.task_spawned(&main_cell);
        *runner.main_task.borrow_mut() = Some(main_cell.clone());
        main_cell.schedule_local(main_cell.l());

        let mut main = std::pin::pin!(main);
        let main_dyn: Pin<&mut dyn Future<Output = std::result::Result<T, E>>> = main.as_mut();
        let outcome = runner.run_loop(main_dyn);

        // Close the doors: later run_sync_soon calls get RunFinished. Calls accepted
        // before that still run (Trio: every call that did not fail with
        // RunFinished is processed before `run` returns); wake-ups have no task left.
        for job in shared.close() {
            if let Job::Call(f) = job {
                runner.run_callback(f);
            }
        }
        if runner.instrumented.get() {
            runner.call_instruments(|i| i.after_run());
        }
        drop(ki);
        drop(dump);
        let system_errors: Vec<Error> = system
            .take_errors()
            .into_iter()
            .filter_map(|e| e.strip_cancelled_inner())
            .collect();
        let system_panic = system.take_panic();
        root_scope.exit();
        init_task.release();
        let interrupted = runner.interrupted.get();
        let deadlock = runner.deadlock.borrow_mut().take();
        drop(runner);
        drop(guard);
        let main_result = match outcome {
            Ok(r) => r,
            Err(p) => resume_unwind(p),
        };
        if let Some(p) = system_panic {
            return Err(E::from(Error::new(
                ErrorKind::Internal,
                format!("a system task panicked: {}", panic_message(&*p)),
            )));
        }
        if let Some(e) = Error::group(system_errors) {
            return Err(E::from(
                e.context(ErrorKind::Internal, "a system task failed"),
            ));
        }
        if let Some(deadlock) = deadlock {
            drop(main_result);
            return Err(E::from(Error::build(
                ErrorKind::Deadlock,
                None,
                Some(Box::new(deadlock)),
            )));
        }
        if interrupted {
            return Err(match main_result {
                Ok(_) => E::from(interrupted_error(None)),
                Err(e) => interrupted_with(e),
            });
        }
        main_result
    }
}

/// The error of a run that Ctrl-C interrupted; the main task's own error, if it
/// had one besides the cancellation, is its source.
fn interrupted_error(main_error: Option<Error>) -> Error {
    const MESSAGE: &str = "the run was interrupted by Ctrl-C";
    match main_error {
        None => Error::new(ErrorKind::Interrupted, MESSAGE),
        Some(e) => e.context(ErrorKind::Interrupted, MESSAGE),
    }
}

/// The main task failed in a run that Ctrl-C interrupted. A trio or I/O error
/// becomes [`ErrorKind::Interrupted`], keeping whatever is not the Ctrl-C
/// cancellation as its source; an error of another type is returned as it is
/// (trio cannot look inside it), so nothing is dropped either way.
fn interrupted_with<E: From<Error> + 'static>(e: E) -> E {
    let any: Box<dyn std::any::Any> = Box::new(e);
    let trio_error = match any.downcast::<Error>() {
        Ok(e) => *e,
        Err(any) => match any.downcast::<std::io::Error>() {
            Ok(io) => Error::from(*io),
            Err(any) => return *any.downcast::<E>().expect("the value put in above"),
        },
    };
    E::from(interrupted_error(trio_error.strip_cancelled_inner()))
}

/// Runs `main` on a new trio run loop on this thread and returns its result (Trio's
/// `trio.run`). Futures need not be `Send`.
///
/// # Errors
///
/// See [`Runtime::run`].
///
/// # Panics
///
/// A panic of the main task is resumed here.
///
/// # Examples
///
/// ```
/// let answer = trio::run(async {
///     trio::sleep(std::time::Duration::from_millis(1)).await?;
///     Ok(42)
/// }).unwrap();
/// assert_eq!(answer, 42);
///
/// // run inside run is refused:
/// trio::run(async {
///     let e = trio::run(async { Ok(()) }).unwrap_err();
///     assert_eq!(e.kind(), trio::ErrorKind::NestedRun);
///     Ok(())
/// }).unwrap();
/// ```
#[track_caller]
pub fn run<F, T>(main: F) -> Result<T>
where
    F: Future<Output = Result<T>>,
{
    Runtime::new().run(main)
}

// ---- low-level entry points ------------------------------------------------------

/// The task that is running now (Trio's `current_task`).
///
/// # Panics
///
/// Outside a trio task.
///
/// # Examples
///
/// ```
/// # trio::run(async {
/// assert_eq!(trio::lowlevel::current_task().name(), "<main>");
/// # Ok(()) }).unwrap();
/// ```
pub fn current_task() -> Task {
    Task::from_cell(context::current_task_arc().expect("current_task called outside a trio task"))
}

/// The task that is running now, or `None` outside a trio task: the non-panicking
/// form of [`current_task`], for primitives that must report misuse as an error.
///
/// # Examples
///
/// ```
/// assert!(trio::lowlevel::try_current_task().is_none()); // not in trio
/// # trio::run(async {
/// assert!(trio::lowlevel::try_current_task().is_some());
/// # Ok(()) }).unwrap();
/// ```
pub fn try_current_task() -> Option<Task> {
    context::current_task_arc().map(Task::from_cell)
}

/// The root of the task tree (Trio's `current_root_task`): a task that is never
/// polled, parent of the system nursery that holds the main task and system tasks.
///
/// # Panics
///
/// Outside [`trio::run`](crate::run).
///
/// # Examples
///
/// ```
/// # trio::run(async {
/// let root = trio::lowlevel::current_root_task();
/// let system = &root.child_nurseries()[0];
/// assert!(system.child_tasks().contains(&trio::lowlevel::current_task()));
/// # Ok(()) }).unwrap();
/// ```
pub fn current_root_task() -> Task {
    context::with_runner(|r| Task::from_cell(r.init_task.clone()))
        .expect("current_root_task called outside trio::run")
}

/// A token for reaching this run from other threads (Trio's `current_trio_token`).
///
/// # Panics
///
/// Outside [`trio::run`](crate::run).
///
/// # Examples
///
/// ```
/// # trio::run(async {
/// let a = trio::lowlevel::current_trio_token();
/// assert_eq!(a, trio::lowlevel::current_trio_token());
/// # Ok(()) }).unwrap();
/// ```
pub fn current_trio_token() -> TrioToken {
    context::with_runner(|r| TrioToken::new(r.shared.clone()))
        .expect("current_trio_token called outside trio::run")
}

/// Cancels the main task's scope of the run on this thread, as Ctrl-C does (with
/// `source`); false outside trio. Crate-private, for `trio::loops`: a failing loop
/// (or a Ctrl-C) stops the other loops, by queueing a call to this on each of them.
pub(crate) fn cancel_current_main(source: CancelSource) -> bool {
    context::with_runner(|r| r.main_scope.cancel(source, None)).is_some()
}

/// The scheduling seed of the current run (to replay it with
/// [`Builder::seed`] or `TRIO_SEED`).
///
/// # Panics
///
/// Outside [`trio::run`](crate::run).
///
/// # Examples
///
/// ```
/// let rt = trio::Runtime::builder().seed(99).build();
/// rt.run(async { assert_eq!(trio::lowlevel::current_seed(), 99); Ok::<_, trio::Error>(()) }).unwrap();
/// ```
pub fn current_seed() -> u64 {
    context::with_runner(|r| r.seed).expect("current_seed called outside trio::run")
}

/// Starts a system task (Trio's `spawn_system_task`): a child of the system nursery,
/// outside the main task's scopes. System tasks are cancelled when the main task
/// finishes; the run waits for them. A system task that fails (other than by that
/// cancellation) or panics is an internal error: it cancels everything and `run`
/// returns [`ErrorKind::Internal`]. A system task started while the run is shutting
/// down starts cancelled.
///
/// # Errors
///
/// [`ErrorKind::Usage`] outside trio.
///
/// # Examples
///
/// ```
/// # trio::run(async {
/// trio::lowlevel::spawn_system_task("ticker", async {
///     loop { trio::sleep(std::time::Duration::from_millis(1)).await?; }
/// })?;
/// trio::sleep(std::time::Duration::from_millis(3)).await?;
/// # Ok(()) }).unwrap(); // the ticker is cancelled when main returns
/// ```
#[track_caller]
pub fn spawn_system_task<F>(name: impl Into<Cow<'static, str>>, fut: F) -> Result<Task>
where
    F: Future<Output = Result<()>> + 'static,
{
    let at = std::panic::Location::caller();
    let runner = context::runner().ok_or_else(outside_trio)?;
    let cell = runner.system.spawn(name.into(), Box::pin(fut), at)?;
    Ok(Task::from_cell(cell))
}

/// A snapshot of the run loop's state (Trio's `RunStatistics`).
///
/// Returned by [`current_statistics`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// # trio::run(async {
/// trio::open_nursery(async |n| {
///     n.start_soon(trio::sleep(Duration::from_secs(3600)))?;
///     n.start_soon(trio::sleep_forever())?;
///     trio::testing::wait_all_tasks_blocked().await?;
///     let s = trio::lowlevel::current_statistics();
///     assert_eq!(s.tasks_living, 3); // main and two children
///     assert_eq!(s.tasks_runnable, 0); // everyone else is blocked
///     let next = s.seconds_to_next_deadline.unwrap();
///     assert!(next > Duration::ZERO && next <= Duration::from_secs(3600));
///     assert_eq!((s.io_waiting_read, s.io_waiting_write), (0, 0));
///     n.cancel_scope().cancel();
///     Ok(())
/// }).await
/// # }).unwrap();
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct RunStatistics {
    /// Tasks alive (spawned and not finished), including the main task.
    pub tasks_living: usize,
    /// Tasks runnable now, anywhere in the task tree.
    pub tasks_runnable: usize,
    /// Time to the next deadline (`None`: no deadline pending).
    pub seconds_to_next_deadline: Option<Duration>,
    /// Tasks waiting to read a file descriptor.
    pub io_waiting_read: usize,
    /// Tasks waiting to write a file descriptor.
    pub io_waiting_write: usize,
    /// Callbacks queued with `run_sync_soon` and not yet run.
    pub run_sync_soon_queue_size: usize,
}

/// Statistics of the current run (Trio's `current_statistics`).
///
/// # Panics
///
/// Outside [`trio::run`](crate::run).
///
/// # Examples
///
/// ```
/// # trio::run(async {
/// let s = trio::lowlevel::current_statistics();
/// assert!(s.tasks_living >= 1);
/// # Ok(()) }).unwrap();
/// ```
pub fn current_statistics() -> RunStatistics {
    context::with_runner(|r| {
        let now = r.current_time();
        let next = r.deadlines.borrow_mut().next_deadline();
        let (rd, wr) = r.io.statistics();
        RunStatistics {
            tasks_living: r.tasks_living.get(),
            tasks_runnable: context::runnable_count(),
            seconds_to_next_deadline: next.map(|d| d - now),
            io_waiting_read: rd,
            io_waiting_write: wr,
            run_sync_soon_queue_size: r.shared.queue_len(),
        }
    })
    .expect("current_statistics called outside trio::run")
}

// ---- waiting for idleness --------------------------------------------------------

/// The future of [`wait_all_tasks_blocked`](crate::testing::wait_all_tasks_blocked)
/// and [`wait_all_tasks_blocked_with`](crate::testing::wait_all_tasks_blocked_with).
///
/// # Errors
///
/// `Cancelled` if the waiting task is cancelled; [`ErrorKind::Usage`] outside trio.
///
/// # Cancellation
///
/// A checkpoint: a cancelled wait stops waiting and is forgotten by the run loop.
///
/// # Examples
///
/// ```
/// use std::cell::Cell;
/// use trio::testing::{IdleWait, wait_all_tasks_blocked};
/// # trio::run(async {
/// let steps = Cell::new(0);
/// let s = &steps;
/// trio::open_nursery(async |n| {
///     n.start_soon(async move {
///         for _ in 0..10 {
///             trio::lowlevel::checkpoint().await?;
///             s.set(s.get() + 1);
///         }
///         Ok(())
///     })?;
///     let idle: IdleWait = wait_all_tasks_blocked();
///     idle.await?; // returns only once the child has finished all its steps
///     assert_eq!(s.get(), 10);
///     Ok(())
/// }).await?;
/// // In a cancelled scope, the wait is cancelled like any checkpoint.
/// let scope = trio::CancelScope::new();
/// scope.cancel();
/// assert_eq!(scope.run(wait_all_tasks_blocked()).await?, None);
/// # Ok(()) }).unwrap();
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct IdleWait {
    cushion: Duration,
    key: Option<(Duration, u64)>,
    slot: Option<Rc<IdleSlot>>,
    cancel: CancelWait,
}

impl fmt::Debug for IdleWait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdleWait")
            .field("cushion", &self.cushion)
            .finish()
    }
}

impl IdleWait {
    pub(crate) fn new(cushion: Duration) -> IdleWait {
        IdleWait {
            cushion,
            key: None,
            slot: None,
            cancel: CancelWait::default(),
        }
    }

    fn unregister(&mut self) {
        if let Some(k) = self.key.take() {
            context::with_runner(|r| r.idle.borrow_mut().remove(&k));
        }
        self.slot = None;
    }
}

impl Future for IdleWait {
    type Output = Result<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let this = &mut *self;
        if this.slot.is_none() {
            check_cancelled()?;
            let slot = Rc::new(IdleSlot {
                fired: Cell::new(false),
                waker: RefCell::new(None),
            });
            let cushion = this.cushion;
            let s2 = slot.clone();
            let key = context::with_runner(|r| {
                let seq = r.idle_seq.get() + 1;
                r.idle_seq.set(seq);
                r.idle.borrow_mut().insert((cushion, seq), s2);
                (cushion, seq)
            })
            .ok_or_else(outside_trio)?;
            this.key = Some(key);
            this.slot = Some(slot);
        }
        let slot = this.slot.clone().expect("set above");
        if slot.fired.get() {
            this.key = None;
            this.slot = None;
            this.cancel.clear();
            return Poll::Ready(Ok(()));
        }
        if let Poll::Ready(e) = this.cancel.poll_cancelled(cx) {
            this.unregister();
            return Poll::Ready(Err(e));
        }
        *slot.waker.borrow_mut() = Some(cx.waker().clone());
        wait::set(cx, RawWait::IDLE);
        Poll::Pending
    }
}

impl Drop for IdleWait {
    fn drop(&mut self) {
        self.unregister();
    }
}
