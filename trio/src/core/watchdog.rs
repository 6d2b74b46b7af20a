//! The loop watchdog: reports task steps that hold the loop too long.
//!
//! # Why measure steps, and only a step's own time
//!
//! A single-threaded loop is only as responsive as its longest step: a task that
//! calls a blocking function (`std::thread::sleep`, a synchronous DNS lookup, a
//! CPU-bound loop) between two checkpoints stalls every other task. The watchdog
//! times each step with the real clock (never the run's [`Clock`](crate::Clock): a
//! mock clock does not move while a thread sleeps) and reports the steps that took
//! longer than the threshold, with the task's name and where it was spawned.
//!
//! Children are polled inside their parent's poll (see `nursery.rs`), so a parent's
//! step contains its children's. Each step's *own* time is its duration minus the
//! steps nested in it: one slow child is reported once, as itself, not again as
//! each of its ancestors.
//!
//! Off by default; when off, the loop pays one `Option` check per step.

use std::cell::Cell;
use std::fmt;
use std::panic::Location;
use std::rc::Rc;
use std::time::{Duration, Instant as StdInstant};

use super::task::TaskCell;
use super::task_tree::display_name;

/// A task step that held the loop longer than the watchdog's threshold (see
/// [`Builder::watchdog`](crate::Builder::watchdog)).
///
/// ```
/// use std::time::Duration;
/// use std::rc::Rc;
/// use std::cell::RefCell;
///
/// let seen = Rc::new(RefCell::new(Vec::new()));
/// let s = seen.clone();
/// trio::Runtime::builder()
///     .watchdog_with(Duration::from_millis(20), move |step: &trio::lowlevel::SlowStep| {
///         s.borrow_mut().push(step.task_name.clone());
///     })
///     .build()
///     .run(async {
///         trio::open_nursery(async |n| {
///             n.start_soon_named("blocker", async {
///                 std::thread::sleep(Duration::from_millis(50)); // blocks the loop
///                 Ok(())
///             })
///         })
///         .await
///     })
///     .unwrap();
/// assert_eq!(*seen.borrow(), ["blocker"]);
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SlowStep {
    /// The task's id.
    pub task_id: u64,
    /// The task's name.
    pub task_name: String,
    /// Where the task was spawned.
    pub spawned_at: Option<&'static Location<'static>>,
    /// How long the step held the loop (not counting its children's steps).
    pub duration: Duration,
}

impl fmt::Display for SlowStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "task {} {:?} held the loop for {:.1} ms in one step",
            self.task_id,
            self.task_name,
            self.duration.as_secs_f64() * 1e3
        )?;
        if let Some(l) = self.spawned_at {
            write!(f, " (spawned at {l})")?;
        }
        Ok(())
    }
}

pub(in crate::core) type Report = Rc<dyn Fn(&SlowStep)>;

/// Runs one task step (`step`), timed if the watchdog is on. Off, this is a branch
/// on an `Option` and nothing else (the step is not moved through a closure state
/// that the hot path would have to carry).
#[inline(always)]
pub(in crate::core) fn timed<R>(
    wd: Option<&Watchdog>,
    cell: &TaskCell,
    step: impl FnOnce() -> R,
) -> R {
    match wd {
        None => step(),
        Some(w) => {
            let start = w.begin();
            let r = step();
            w.end(start, cell);
            r
        }
    }
}

pub(in crate::core) struct Watchdog {
    threshold: Duration,
    report: Report,
    /// Time spent in steps nested in the step being measured now.
    nested: Cell<Duration>,
}

/// What `Watchdog::begin` hands to `Watchdog::end`.
pub(in crate::core) struct StepStart {
    at: StdInstant,
    outer_nested: Duration,
}

impl Watchdog {
    pub(in crate::core) fn new(threshold: Duration, report: Report) -> Watchdog {
        Watchdog {
            threshold,
            report,
            nested: Cell::new(Duration::ZERO),
        }
    }

    pub(in crate::core) fn default_report() -> Report {
        Rc::new(|s: &SlowStep| eprintln!("trio watchdog: {s}"))
    }

    pub(in crate::core) fn begin(&self) -> StepStart {
        StepStart {
            at: StdInstant::now(),
            outer_nested: self.nested.replace(Duration::ZERO),
        }
    }

    pub(in crate::core) fn end(&self, start: StepStart, cell: &TaskCell) {
        let total = start.at.elapsed();
        let own = total.saturating_sub(self.nested.get());
        self.nested.set(start.outer_nested + total);
        if own >= self.threshold {
            (self.report)(&SlowStep {
                task_id: cell.id,
                task_name: display_name(&cell.name).to_string(),
                spawned_at: cell.spawned_at,
                duration: own,
            });
        }
    }
}
