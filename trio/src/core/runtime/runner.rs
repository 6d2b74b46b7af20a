//! The state of one run ([`Runner`]): the clock and the deadlines, the reactor,
//! the scheduler's seeded generator, the system nursery with the main task, the
//! idle waiters and the run's options; and the small questions the rest of the
//! core asks it (the time, the order of a batch, whether the loop is quiet).

use super::super::diagnostic::{Diagnostic, DiagnosticKind, emit};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::task::Waker;
use std::time::Duration;

use super::super::cancel::ScopeState;
use super::super::context::{self};
use super::super::deadlines::{Deadlines, Expired};
use super::super::entry_queue::LoopShared;
use super::super::instrument::Instrument;
use super::super::nursery::{Batch, NurseryCore, NurseryState};
use super::super::reactor::Reactor;
use super::super::task::TaskCell;
use super::super::task_tree::Deadlock;
use super::super::watchdog::Watchdog;
use super::policy::{Policy, SchedulePolicy, ScheduleRng, TaskInfo, Wake, WakeCause};
use crate::time::{Clock, Instant};

pub(super) const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);

pub(super) static NEXT_LOOP_ID: AtomicU64 = AtomicU64::new(1);

pub(in crate::core) struct IdleSlot {
    pub(super) fired: Cell<bool>,
    pub(super) waker: RefCell<Option<Waker>>,
}

/// The state of one run.
pub(in crate::core) struct Runner {
    pub(in crate::core) loop_id: u64,
    pub(super) clock: Rc<dyn Clock>,
    pub(in crate::core) deadlines: RefCell<Deadlines>,
    /// What the last expiry found due, kept empty between passes for its vectors.
    pub(super) expired: Cell<Expired>,
    pub(in crate::core) io: Reactor,
    pub(in crate::core) shared: Arc<LoopShared>,
    pub(super) rng: RefCell<ScheduleRng>,
    /// The scheduling policy (`Builder::schedule_policy`).
    pub(super) policy: Policy,
    /// The policy needs to know what woke each task (`Policy::needs_info`).
    pub(in crate::core) track_wakes: bool,
    /// What the wake-ups happening now are due to (read only when `track_wakes`).
    pub(in crate::core) wake_cause: WakeCause,
    pub(super) seed: u64,
    /// Schedule points a task may skip per step (`Builder::schedule_budget`).
    pub(in crate::core) schedule_budget: u32,
    pub(super) instruments: RefCell<Vec<Rc<dyn Instrument>>>,
    pub(super) instrumented: Cell<bool>,
    /// `instrumented || track_wakes`: `task_scheduled` has work to do.
    pub(super) hooked: Cell<bool>,
    pub(super) next_id: Cell<u64>,
    pub(super) tasks_living: Cell<usize>,
    /// The system nursery: the main task and the system tasks are its children.
    pub(in crate::core) system: Rc<NurseryState<'static>>,
    pub(super) init_task: Arc<TaskCell>,
    pub(in crate::core) main_scope: Rc<ScopeState>,
    pub(super) main_task: RefCell<Option<Arc<TaskCell>>>,
    pub(super) idle: RefCell<BTreeMap<(Duration, u64), Rc<IdleSlot>>>,
    pub(super) idle_seq: Cell<u64>,
    pub(in crate::core) run_vars: RefCell<super::super::run_var::RunVarTable>,
    pub(super) interrupted: Cell<bool>,
    /// A SIGTERM reached the run (`Builder::stop_gracefully_on_sigterm`).
    pub(in crate::core) terminated: Cell<bool>,
    pub(super) deadlock_detection: bool,
    /// `Builder::channel_deadlock_grace`.
    pub(super) channel_deadlock_grace: Option<Duration>,
    /// Since when (real time) only thread-safe channels could still wake a task,
    /// with nothing happening meanwhile.
    pub(super) channel_deadlock_since: Cell<Option<std::time::Instant>>,
    /// This run handles Ctrl-C (which can cancel a `sleep_forever`).
    pub(super) ctrl_c_handled: Cell<bool>,
    /// The deadlock found, if any (the run is then being stopped).
    pub(super) deadlock: RefCell<Option<Deadlock>>,
    /// The last task found waiting on something outside the loop: checked first
    /// next time (it usually still is).
    pub(super) external_hint: RefCell<Option<Arc<TaskCell>>>,
    pub(in crate::core) watchdog: Option<Watchdog>,
}

impl Runner {
    /// Reports a diagnostic of this run (see `diagnostic.rs`).
    pub(in crate::core) fn diagnose(&self, kind: DiagnosticKind, message: String) {
        emit(
            self.shared.diagnostics.as_ref(),
            Diagnostic::new(kind, message),
        );
    }

    pub(in crate::core) fn next_id(&self) -> u64 {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        id
    }

    pub(in crate::core) fn current_time(&self) -> Instant {
        self.clock.current_time()
    }

    /// True if a nursery whose `ready` children are the only runnable tasks may run
    /// its next batch at once: a pass of the run loop would have nothing to do but
    /// come back to it. That is the case when no task waits for I/O (the loop
    /// would skip `epoll_wait` anyway), no other thread queued work or a Ctrl-C,
    /// no deadline is due, no instrument watches the loop's passes, and no task
    /// anywhere else is runnable.
    #[inline]
    pub(in crate::core) fn quiet_for(&self, ready: usize) -> bool {
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

    /// Whether a nursery's children run before its body this time (a seeded
    /// coin flip by default, never under `Fifo`).
    pub(in crate::core) fn coin(&self) -> bool {
        match &self.policy {
            Policy::CoinFlip | Policy::Shuffle => self.rng.borrow_mut().bool(),
            Policy::Fifo => false,
            Policy::Custom(p) => p.borrow_mut().children_first(&mut self.rng.borrow_mut()),
        }
    }

    /// Orders a batch of two or more child slots per the run's policy.
    ///
    /// The default is Trio's: reversed on a seeded coin flip, so that each
    /// task can run before or after any other (Trio's `_run.py`: "50% chance of
    /// reversing the batch"). Trio once shuffled batches fully; reversing keeps the
    /// wake-up order's memory locality (a full shuffle cost 7–20% on large
    /// batches and 8% on `tcp_echo`) with the same guarantee against code that
    /// assumes an order. The built-ins work on the slots directly; only another
    /// policy gets a `TaskInfo` per task (see `policy.rs`).
    #[inline(always)]
    pub(in crate::core) fn order(&self, batch: &mut Batch, core: &NurseryCore) {
        if let Policy::CoinFlip = self.policy {
            // The default, as lean as it was before policies existed.
            if self.rng.borrow_mut().bool() {
                batch.reverse();
            }
        } else {
            self.order_other(batch, core);
        }
    }

    /// Orders a batch under any policy but the default.
    #[cold]
    #[inline(never)]
    fn order_other(&self, batch: &mut Batch, core: &NurseryCore) {
        match &self.policy {
            Policy::CoinFlip => {
                if self.rng.borrow_mut().bool() {
                    batch.reverse();
                }
            }
            Policy::Fifo => {}
            Policy::Shuffle => {
                let mut rng = self.rng.borrow_mut();
                for i in (1..batch.len()).rev() {
                    batch.swap(i, rng.below(i + 1));
                }
            }
            Policy::Custom(p) => self.order_custom(&mut **p.borrow_mut(), batch, core),
        }
    }

    /// A user's policy (or `Pct`): describe the tasks, let it order them, run
    /// the first `run_now` and queue the rest again for the next batch.
    #[inline(never)]
    fn order_custom(&self, policy: &mut dyn SchedulePolicy, batch: &mut Batch, core: &NurseryCore) {
        let children = core.children.borrow();
        // A slot whose child has finished since it was queued is skipped by
        // `poll_child` anyway: leave it out.
        let mut infos: Vec<TaskInfo<'_>> = batch
            .iter()
            .filter_map(|&key| {
                let c = children.get(key)?;
                let mut t = TaskInfo::new(c.id, &c.name, c.l().woke.get().unwrap_or(Wake::Spawned));
                t.key = key;
                Some(t)
            })
            .collect();
        let mut rng = self.rng.borrow_mut();
        if infos.len() > 1 {
            policy.order(&mut infos, &mut rng);
        }
        let n = policy.run_now(&infos).clamp(1, infos.len().max(1));
        batch.clear();
        batch.extend(infos[..n.min(infos.len())].iter().map(|t| t.key));
        if n < infos.len() {
            core.ready
                .borrow_mut()
                .extend(infos[n..].iter().map(|t| t.key));
        }
    }

    /// A snapshot of the task tree (see `task_tree.rs`).
    pub(in crate::core) fn task_tree(&self) -> super::super::task_tree::TaskTree {
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
        super::super::task_tree::snapshot(&roots, main.as_ref().map(Arc::as_ptr))
    }
}
