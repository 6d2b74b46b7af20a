//! The trace of a simulated run: every task step and every network event, each
//! stamped with the virtual time. Two runs of one seed must give equal traces;
//! the first place they differ is where something outside the simulation (the
//! real clock, the operating system's randomness, a thread) got in.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::rc::Rc;

use crate::Instant;
use crate::lowlevel::{Instrument, Task};
use crate::testing::MockClock;

/// One event of a simulated run.
///
/// # Examples
///
/// ```
/// use trio::testing::sim;
/// let out = sim::Config::new(3).run(async |sim| {
///     sim.add_host("a")?;
///     Ok(())
/// });
/// let first = &out.trace.events()[0];
/// assert_eq!(first.at, trio::Instant::ZERO);
/// assert!(!first.what.is_empty());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// The virtual time it happened at.
    pub at: Instant,
    /// What happened (a task step, a message sent, a partition, ...).
    pub what: String,
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:>12.6}s  {}", self.at.as_secs_f64(), self.what)
    }
}

/// The events of a simulated run, in order (a cheap handle: clones share them).
///
/// # Examples
///
/// ```
/// use trio::testing::sim;
/// let a = sim::Config::new(9).run(async |_sim| Ok(()));
/// let b = sim::Config::new(9).run(async |_sim| Ok(()));
/// assert_eq!(a.trace.first_difference(&b.trace), None);
/// ```
#[derive(Clone, Default)]
pub struct Trace {
    events: Rc<RefCell<Vec<Event>>>,
    clock: Option<MockClock>,
}

impl fmt::Debug for Trace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Trace")
            .field("events", &self.events.borrow().len())
            .finish()
    }
}

impl Trace {
    pub(super) fn new(clock: MockClock) -> Trace {
        Trace {
            events: Rc::default(),
            clock: Some(clock),
        }
    }

    pub(super) fn push(&self, what: String) {
        let at = self
            .clock
            .as_ref()
            .map_or(Instant::ZERO, MockClock::current_time);
        self.events.borrow_mut().push(Event { at, what });
    }

    /// The events so far.
    ///
    /// # Examples
    ///
    /// See [`Event`].
    pub fn events(&self) -> std::cell::Ref<'_, Vec<Event>> {
        self.events.borrow()
    }

    /// The number of events.
    ///
    /// # Examples
    ///
    /// ```
    /// let t = trio::testing::sim::Trace::default();
    /// assert_eq!(t.len(), 0);
    /// assert!(t.is_empty());
    /// ```
    pub fn len(&self) -> usize {
        self.events.borrow().len()
    }

    /// True if there are no events.
    ///
    /// # Examples
    ///
    /// See [`len`](Self::len).
    pub fn is_empty(&self) -> bool {
        self.events.borrow().is_empty()
    }

    /// The index of the first event where the two traces differ (one being
    /// shorter counts), or `None` if they are equal.
    ///
    /// # Examples
    ///
    /// See [`Trace`].
    pub fn first_difference(&self, other: &Trace) -> Option<usize> {
        let (a, b) = (self.events.borrow(), other.events.borrow());
        let common = a.len().min(b.len());
        (0..common)
            .find(|&i| a[i] != b[i])
            .or((a.len() != b.len()).then_some(common))
    }

    /// The last `n` events, one per line.
    ///
    /// # Examples
    ///
    /// ```
    /// let out = trio::testing::sim::Config::new(1).run(async |_sim| Ok(()));
    /// assert!(out.trace.tail(5).lines().count() <= 5);
    /// ```
    pub fn tail(&self, n: usize) -> String {
        let e = self.events.borrow();
        let from = e.len().saturating_sub(n);
        let mut s = String::new();
        for ev in &e[from..] {
            s.push_str(&format!("{ev}\n"));
        }
        s
    }
}

impl Trace {
    /// The last `n` events other than task steps (the network's events, crashes,
    /// partitions, notes), one per line.
    ///
    /// # Examples
    ///
    /// ```
    /// let out = trio::testing::sim::Config::new(1).run(async |sim| {
    ///     sim.note("here");
    ///     Ok(())
    /// });
    /// assert!(out.trace.tail_without_steps(1).contains("note: here"));
    /// ```
    pub fn tail_without_steps(&self, n: usize) -> String {
        let e = self.events.borrow();
        let mut picked: Vec<&Event> = e
            .iter()
            .rev()
            .filter(|ev| !ev.what.starts_with("step "))
            .take(n)
            .collect();
        picked.reverse();
        picked.iter().map(|ev| format!("{ev}\n")).collect()
    }
}

/// Records each task step in the trace: the task's name and its number in the
/// order tasks were first seen in this run (task ids are process-wide).
pub(super) struct Tracer {
    trace: Trace,
    numbers: RefCell<HashMap<u64, usize>>,
}

impl Tracer {
    pub(super) fn new(trace: Trace) -> Tracer {
        Tracer {
            trace,
            numbers: RefCell::default(),
        }
    }
}

impl Instrument for Tracer {
    fn before_task_step(&self, task: &Task) {
        let n = {
            let mut m = self.numbers.borrow_mut();
            let next = m.len();
            *m.entry(task.id()).or_insert(next)
        };
        self.trace.push(format!("step #{n} {}", task.name()));
    }
}
