//! Scheduling policies: who decides the order of a batch.
//!
//! # What a policy sees
//!
//! Children are polled inside their nursery's future (see the `core::nursery`
//! essay), so a *batch* is one nursery's ready queue — the children woken since
//! it last ran — and not a global run queue. Before each batch of two or more
//! tasks, the run's policy orders it; a batch of one has only one order and the
//! policy is not asked. A policy may also keep some of the ordered tasks for a
//! later batch ([`SchedulePolicy::run_now`]), and it decides whether a nursery's
//! body runs before or after the batch of its children
//! ([`SchedulePolicy::children_first`]).
//!
//! # Cost
//!
//! The run keeps its policy as an enum: the built-in [`CoinFlipReverse`] (the
//! default), [`Fifo`] and [`Shuffle`] are matched directly and reorder the slots
//! of the batch in place, with nothing built per task. Only a policy of another
//! type — a user's, or [`Pct`] — is called through `dyn`, with a [`TaskInfo`] per
//! task, and only then does the run record what woke each task.
//!
//! Python Trio only sketched custom scheduling policies; its scheduler has the
//! coin flip alone.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeSet, HashMap};
use std::fmt;

/// The seeded random source a policy draws from: derived from the run's seed
/// ([`Builder::seed`](crate::Builder::seed)), so the same seed replays the same
/// choices.
///
/// # Examples
///
/// ```
/// use trio::lowlevel::ScheduleRng;
/// let (mut a, mut b) = (ScheduleRng::with_seed(3), ScheduleRng::with_seed(3));
/// assert_eq!(a.u64(), b.u64());
/// assert!(a.below(10) < 10);
/// ```
pub struct ScheduleRng(fastrand::Rng);

impl ScheduleRng {
    /// A generator seeded with `seed` (a run seeds its own from the run's seed;
    /// this is for testing a policy on its own).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut rng = trio::lowlevel::ScheduleRng::with_seed(1);
    /// let _coin: bool = rng.bool();
    /// ```
    pub fn with_seed(seed: u64) -> ScheduleRng {
        ScheduleRng(fastrand::Rng::with_seed(seed))
    }

    /// A random `u64`.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut rng = trio::lowlevel::ScheduleRng::with_seed(1);
    /// assert_ne!(rng.u64(), rng.u64()); // (with overwhelming probability)
    /// ```
    #[inline]
    pub fn u64(&mut self) -> u64 {
        self.0.u64(..)
    }

    /// A random number in `0..n`.
    ///
    /// # Panics
    ///
    /// If `n` is zero.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut rng = trio::lowlevel::ScheduleRng::with_seed(1);
    /// assert!(rng.below(3) < 3);
    /// ```
    #[inline]
    pub fn below(&mut self, n: usize) -> usize {
        assert!(n > 0, "ScheduleRng::below(0)");
        self.0.usize(..n)
    }

    /// A fair coin flip.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut rng = trio::lowlevel::ScheduleRng::with_seed(1);
    /// let heads = (0..1000).filter(|_| rng.bool()).count();
    /// assert!((400..600).contains(&heads));
    /// ```
    #[inline]
    pub fn bool(&mut self) -> bool {
        self.0.bool()
    }
}

impl fmt::Debug for ScheduleRng {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ScheduleRng")
    }
}

/// What made a task runnable, as far as the run knows cheaply.
///
/// # Examples
///
/// ```
/// use trio::lowlevel::{TaskInfo, Wake};
/// let t = TaskInfo::new(7, "worker", Wake::Spawned);
/// assert_eq!(t.wake(), Wake::Spawned);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Wake {
    /// The task has not run yet: it was just spawned.
    Spawned,
    /// A plain waker wake-up on the loop thread: another task, a channel, a
    /// lock, an event, a `wait_all_tasks_blocked`.
    Waker,
    /// A deadline passed: the task slept.
    Timer,
    /// The file descriptor (or handle) it waited on became ready.
    Io,
    /// A cancel scope it runs under was cancelled (including by a deadline).
    Cancel,
    /// A waker was woken from another thread.
    Thread,
}

/// One runnable task of a batch, as a policy sees it.
///
/// # Examples
///
/// ```
/// use trio::lowlevel::{TaskInfo, Wake};
/// let t = TaskInfo::new(7, "urgent-1", Wake::Waker);
/// assert_eq!((t.id(), t.name(), t.wake()), (7, "urgent-1", Wake::Waker));
/// ```
#[derive(Clone, Debug)]
pub struct TaskInfo<'a> {
    id: u64,
    name: &'a str,
    wake: Wake,
    /// The task's slot in its nursery.
    pub(super) key: usize,
}

impl<'a> TaskInfo<'a> {
    /// A task description (to test a policy on its own; a run builds its own).
    ///
    /// # Examples
    ///
    /// ```
    /// let t = trio::lowlevel::TaskInfo::new(1, "a", trio::lowlevel::Wake::Spawned);
    /// assert_eq!(t.name(), "a");
    /// ```
    pub fn new(id: u64, name: &'a str, wake: Wake) -> TaskInfo<'a> {
        TaskInfo {
            id,
            name,
            wake,
            key: usize::MAX,
        }
    }

    /// The task's id, unique in its run: [`Task::id`](crate::lowlevel::Task::id),
    /// as the task tree shows it.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trio::lowlevel::TaskInfo::new(9, "x", trio::lowlevel::Wake::Waker).id(), 9);
    /// ```
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The task's name ([`Nursery::start_soon_named`](crate::Nursery::start_soon_named)).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trio::lowlevel::TaskInfo::new(9, "x", trio::lowlevel::Wake::Waker).name(), "x");
    /// ```
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// What made the task runnable.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::lowlevel::{TaskInfo, Wake};
    /// assert_eq!(TaskInfo::new(9, "x", Wake::Timer).wake(), Wake::Timer);
    /// ```
    pub fn wake(&self) -> Wake {
        self.wake
    }
}

/// Decides the order in which a batch of runnable tasks runs
/// ([`Builder::schedule_policy`](crate::Builder::schedule_policy)).
///
/// A batch is one nursery's runnable children (two or more); see
/// [`TaskInfo`] for what is known of each. All choices should come from the
/// [`ScheduleRng`] (or be deterministic), so that a seed replays a run.
///
/// # Panics
///
/// A policy must not panic: a panic in one of its methods leaves the batch
/// unrun and unwinds out of the task that polls the nursery (or, for the root
/// tasks' batch, out of [`Runtime::run`](crate::Runtime::run)).
///
/// # Examples
///
/// Tasks whose name starts with `urgent` first, the rest as they came:
///
/// ```
/// use trio::lowlevel::{SchedulePolicy, ScheduleRng, TaskInfo};
/// struct UrgentFirst;
/// impl SchedulePolicy for UrgentFirst {
///     fn order(&mut self, batch: &mut [TaskInfo<'_>], _rng: &mut ScheduleRng) {
///         batch.sort_by_key(|t| !t.name().starts_with("urgent")); // stable
///     }
/// }
/// let order = std::cell::RefCell::new(Vec::new());
/// let o = &order;
/// trio::Runtime::builder().schedule_policy(UrgentFirst).build().run(async {
///     trio::open_nursery(async |n| {
///         n.start_soon_named("slow", async move { o.borrow_mut().push("slow"); Ok(()) })?;
///         n.start_soon_named("urgent", async move { o.borrow_mut().push("urgent"); Ok(()) })?;
///         Ok(())
///     }).await
/// }).unwrap();
/// assert_eq!(order.into_inner(), ["urgent", "slow"]);
/// ```
pub trait SchedulePolicy {
    /// Puts `batch` in the order its tasks should run.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::lowlevel::{SchedulePolicy, ScheduleRng, TaskInfo, Wake, Fifo};
    /// let mut batch = [TaskInfo::new(1, "a", Wake::Spawned), TaskInfo::new(2, "b", Wake::Waker)];
    /// Fifo.order(&mut batch, &mut ScheduleRng::with_seed(0));
    /// assert_eq!(batch[0].id(), 1);
    /// ```
    fn order(&mut self, batch: &mut [TaskInfo<'_>], rng: &mut ScheduleRng);

    /// How many of the ordered tasks run in this batch; the others stay runnable
    /// and come back in the next one (default: all). Values of 0 count as 1, so
    /// the run always progresses.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::lowlevel::{SchedulePolicy, TaskInfo, Wake, Fifo};
    /// let batch = [TaskInfo::new(1, "a", Wake::Spawned), TaskInfo::new(2, "b", Wake::Waker)];
    /// assert_eq!(Fifo.run_now(&batch), 2);
    /// ```
    fn run_now(&mut self, ordered: &[TaskInfo<'_>]) -> usize {
        ordered.len()
    }

    /// Whether a nursery's children run before its body this time, when both
    /// are runnable (the body is part of the parent task; in Trio they would be
    /// in one batch, in either order). Default: a coin flip.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::lowlevel::{SchedulePolicy, ScheduleRng, Fifo};
    /// assert!(!Fifo.children_first(&mut ScheduleRng::with_seed(0)));
    /// ```
    fn children_first(&mut self, rng: &mut ScheduleRng) -> bool {
        rng.bool()
    }
}

/// Trio's rule, the default: each batch runs in wake-up order or reversed, on a
/// coin flip. Every task can thus run before or after any other, while the
/// batch keeps its memory locality.
///
/// # Examples
///
/// ```
/// use trio::lowlevel::{SchedulePolicy, ScheduleRng, TaskInfo, Wake, CoinFlipReverse};
/// let mut batch = [TaskInfo::new(1, "a", Wake::Spawned), TaskInfo::new(2, "b", Wake::Spawned)];
/// CoinFlipReverse.order(&mut batch, &mut ScheduleRng::with_seed(4));
/// assert!(matches!((batch[0].id(), batch[1].id()), (1, 2) | (2, 1)));
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct CoinFlipReverse;

impl SchedulePolicy for CoinFlipReverse {
    fn order(&mut self, batch: &mut [TaskInfo<'_>], rng: &mut ScheduleRng) {
        if rng.bool() {
            batch.reverse();
        }
    }
}

/// Wake-up order, always; the body before its children
/// ([`Builder::deterministic`](crate::Builder::deterministic) selects it).
///
/// # Examples
///
/// ```
/// let rt = trio::Runtime::builder().schedule_policy(trio::lowlevel::Fifo).build();
/// rt.run(async { Ok::<_, trio::Error>(()) }).unwrap();
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Fifo;

impl SchedulePolicy for Fifo {
    fn order(&mut self, _batch: &mut [TaskInfo<'_>], _rng: &mut ScheduleRng) {}

    fn children_first(&mut self, _rng: &mut ScheduleRng) -> bool {
        false
    }
}

/// A full Fisher–Yates shuffle of every batch: any order, not only the two of
/// [`CoinFlipReverse`] (at the price of the batch's memory locality).
///
/// # Examples
///
/// ```
/// use trio::lowlevel::{SchedulePolicy, ScheduleRng, TaskInfo, Wake, Shuffle};
/// let mut batch: Vec<_> = (0..5).map(|i| TaskInfo::new(i, "t", Wake::Spawned)).collect();
/// Shuffle.order(&mut batch, &mut ScheduleRng::with_seed(1));
/// let mut ids: Vec<u64> = batch.iter().map(|t| t.id()).collect();
/// ids.sort();
/// assert_eq!(ids, [0, 1, 2, 3, 4]);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Shuffle;

impl SchedulePolicy for Shuffle {
    fn order(&mut self, batch: &mut [TaskInfo<'_>], rng: &mut ScheduleRng) {
        shuffle(batch, rng);
    }
}

/// Fisher–Yates.
fn shuffle<T>(items: &mut [T], rng: &mut ScheduleRng) {
    for i in (1..items.len()).rev() {
        items.swap(i, rng.below(i + 1));
    }
}

/// Probabilistic concurrency testing (Burckhardt, Kothari, Musuvathi and
/// Nagarakatte, "A randomized scheduler with probabilistic guarantees of finding
/// bugs", ASPLOS 2010).
///
/// Each task gets a random priority, distinct from all others, the first time
/// the policy sees it, and only the highest-priority task of a batch runs (the
/// rest wait for the next batch). At `depth - 1` steps chosen at random among
/// the first `steps` scheduling steps, the task about to run has its priority
/// dropped below every other. A bug that needs `depth` ordering constraints
/// between `n` tasks is then found in a run with probability at least
/// `1 / (n * steps^(depth - 1))`: run many seeds.
///
/// Priorities compare within a batch, that is among the children of one
/// nursery. A task that spins (checks a flag at checkpoints until another task
/// sets it) may starve under this policy, as under PCT itself.
///
/// # Examples
///
/// ```
/// let rt = trio::Runtime::builder()
///     .seed(11)
///     .schedule_policy(trio::lowlevel::Pct::new(2, 100))
///     .build();
/// rt.run(async {
///     trio::open_nursery(async |n| {
///         for _ in 0..3 {
///             n.start_soon(async { trio::lowlevel::checkpoint().await })?;
///         }
///         Ok(())
///     }).await
/// }).unwrap();
/// ```
#[derive(Debug)]
pub struct Pct {
    depth: u32,
    steps: u64,
    step: u64,
    /// The steps at which a priority drops, chosen at the first step.
    change_points: Option<Vec<u64>>,
    priorities: HashMap<u64, u64>,
    used: BTreeSet<u64>,
}

impl Pct {
    /// PCT looking for bugs of depth `depth` in runs of about `steps` scheduling
    /// steps (batches of two or more tasks).
    ///
    /// # Panics
    ///
    /// If `depth` is zero.
    ///
    /// # Examples
    ///
    /// ```
    /// let _pct = trio::lowlevel::Pct::new(3, 1000);
    /// ```
    pub fn new(depth: u32, steps: u64) -> Pct {
        assert!(depth > 0, "Pct depth must be at least 1");
        Pct {
            depth,
            steps: steps.max(1),
            step: 0,
            change_points: None,
            priorities: HashMap::new(),
            used: BTreeSet::new(),
        }
    }

    fn priority(&mut self, id: u64, rng: &mut ScheduleRng) -> u64 {
        if let Some(&p) = self.priorities.get(&id) {
            return p;
        }
        // Initial priorities are all at least `depth`; the i-th change point
        // lowers a task to `depth - i`, below every initial one.
        let floor = u64::from(self.depth);
        let p = loop {
            let p = floor + rng.u64() % (u64::MAX - floor);
            if self.used.insert(p) {
                break p;
            }
        };
        self.priorities.insert(id, p);
        p
    }
}

impl SchedulePolicy for Pct {
    fn order(&mut self, batch: &mut [TaskInfo<'_>], rng: &mut ScheduleRng) {
        let change_points = self.change_points.get_or_insert_with(|| {
            let mut points: Vec<u64> = (0..self.depth - 1)
                .map(|_| 1 + rng.u64() % self.steps)
                .collect();
            points.sort_unstable();
            points
        });
        self.step += 1;
        let step = self.step;
        let changes: Vec<usize> = change_points
            .iter()
            .enumerate()
            .filter(|&(_, &k)| k == step)
            .map(|(i, _)| i + 1)
            .collect();
        let mut keyed: Vec<(u64, usize)> = batch
            .iter()
            .enumerate()
            .map(|(i, t)| (self.priority(t.id, rng), i))
            .collect();
        for i in changes {
            // The task about to run drops below everyone.
            if let Some(top) = keyed.iter_mut().max_by_key(|(p, _)| *p) {
                top.0 = u64::from(self.depth) - i as u64;
                self.priorities.insert(batch[top.1].id, top.0);
            }
        }
        keyed.sort_unstable_by_key(|&(p, _)| std::cmp::Reverse(p));
        let ordered: Vec<TaskInfo<'_>> = keyed.iter().map(|&(_, i)| batch[i].clone()).collect();
        batch.clone_from_slice(&ordered);
    }

    fn run_now(&mut self, _ordered: &[TaskInfo<'_>]) -> usize {
        1
    }
}

/// The run's policy: the built-ins matched directly, any other through `dyn`.
pub(in crate::core) enum Policy {
    CoinFlip,
    Fifo,
    Shuffle,
    Custom(RefCell<Box<dyn SchedulePolicy>>),
}

impl Policy {
    /// `policy`, as a built-in if it is one.
    pub(in crate::core) fn of<P: SchedulePolicy + 'static>(policy: P) -> Policy {
        let any: &dyn Any = &policy;
        if any.is::<CoinFlipReverse>() {
            Policy::CoinFlip
        } else if any.is::<Fifo>() {
            Policy::Fifo
        } else if any.is::<Shuffle>() {
            Policy::Shuffle
        } else {
            Policy::Custom(RefCell::new(Box::new(policy)))
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Policy::CoinFlip => "CoinFlipReverse",
            Policy::Fifo => "Fifo",
            Policy::Shuffle => "Shuffle",
            Policy::Custom(_) => "custom",
        }
    }

    /// Whether the run must record what woke each task.
    pub(in crate::core) fn needs_info(&self) -> bool {
        matches!(self, Policy::Custom(_))
    }
}

impl fmt::Debug for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The ambient cause of wake-ups: set by the run loop (and cancellation) around
/// the places that wake tasks for a reason other than a plain waker.
pub(in crate::core) struct WakeCause(Cell<Wake>);

impl WakeCause {
    pub(in crate::core) fn new() -> WakeCause {
        WakeCause(Cell::new(Wake::Waker))
    }

    pub(in crate::core) fn get(&self) -> Wake {
        self.0.get()
    }

    /// Runs `f` with `cause` as the cause of its wake-ups.
    pub(in crate::core) fn during<R>(&self, cause: Wake, f: impl FnOnce() -> R) -> R {
        let before = self.0.replace(cause);
        let r = f();
        self.0.set(before);
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pct_depth_one_is_a_fixed_priority_order() {
        let mut pct = Pct::new(1, 10);
        let mut rng = ScheduleRng::with_seed(5);
        let mut b: Vec<_> = (0..4)
            .map(|i| TaskInfo::new(i, "t", Wake::Spawned))
            .collect();
        pct.order(&mut b, &mut rng);
        let first: Vec<u64> = b.iter().map(TaskInfo::id).collect();
        b.reverse();
        pct.order(&mut b, &mut rng);
        assert_eq!(first, b.iter().map(TaskInfo::id).collect::<Vec<_>>());
    }
}
