//! Instrument dispatch: the hooks of Trio's `Instrument` interface, called from
//! the run loop and the task step. The flag check is inline and cheap; the calls
//! are out of line, so that a run without instruments pays one branch per hook.
//! An instrument that panics is removed (Trio does the same).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;

use super::super::diagnostic::DiagnosticKind;
use super::super::instrument::Instrument;
use super::super::task::Task;
use super::super::task::TaskCell;
use super::*;

impl Runner {
    pub(in crate::core) fn add_instrument(&self, i: Rc<dyn Instrument>) {
        let mut v = self.instruments.borrow_mut();
        if !v.iter().any(|x| Rc::ptr_eq(x, &i)) {
            v.push(i);
        }
        self.instrumented.set(true);
        self.hooked.set(true);
    }

    pub(in crate::core) fn remove_instrument(&self, i: &Rc<dyn Instrument>) -> bool {
        let mut v = self.instruments.borrow_mut();
        let before = v.len();
        v.retain(|x| !Rc::ptr_eq(x, i));
        self.instrumented.set(!v.is_empty());
        self.hooked.set(!v.is_empty() || self.track_wakes);
        v.len() != before
    }

    pub(super) fn call_instruments(&self, f: impl Fn(&dyn Instrument)) {
        let list: Vec<Rc<dyn Instrument>> = self.instruments.borrow().clone();
        for i in list {
            if catch_unwind(AssertUnwindSafe(|| f(&*i))).is_err() {
                self.diagnose(
                    DiagnosticKind::InstrumentPanicked,
                    "an instrument panicked and was removed".into(),
                );
                self.remove_instrument(&i);
            }
        }
    }

    /// The per-step instrument hooks: a flag check inline on the hot path (these run
    /// several times per task step), the calls out of line.
    #[inline(always)]
    pub(super) fn task_hook(&self, cell: &TaskCell, f: impl Fn(&dyn Instrument, &Task)) {
        if self.instrumented.get() {
            self.task_hook_slow(cell, &f);
        }
    }

    #[cold]
    #[inline(never)]
    pub(super) fn task_hook_slow(&self, cell: &TaskCell, f: &dyn Fn(&dyn Instrument, &Task)) {
        let task = Task::from_cell(cell.arc());
        self.call_instruments(|i| f(i, &task));
    }

    #[inline]
    pub(in crate::core) fn task_spawned(&self, cell: &TaskCell) {
        self.tasks_living.set(self.tasks_living.get() + 1);
        self.task_hook(cell, |i, t| i.task_spawned(t));
    }

    #[inline]
    pub(in crate::core) fn task_scheduled(&self, cell: &TaskCell) {
        // One flag for both reasons to look closer, so that the default path is
        // the single branch it was before scheduling policies.
        if self.hooked.get() {
            self.task_scheduled_slow(cell);
        }
    }

    #[cold]
    #[inline(never)]
    fn task_scheduled_slow(&self, cell: &TaskCell) {
        if self.track_wakes {
            // A task is first scheduled when it is spawned (later, `scheduled`
            // keeps a queued task from being scheduled again).
            let woke = &cell.l().woke;
            woke.set(Some(match woke.get() {
                None => Wake::Spawned,
                Some(_) => self.wake_cause.get(),
            }));
        }
        if self.instrumented.get() {
            self.task_hook_slow(cell, &|i, t| i.task_scheduled(t));
        }
    }

    #[inline]
    pub(in crate::core) fn before_task_step(&self, cell: &TaskCell) {
        self.task_hook(cell, |i, t| i.before_task_step(t));
    }

    #[inline]
    pub(in crate::core) fn after_task_step(&self, cell: &TaskCell) {
        self.task_hook(cell, |i, t| i.after_task_step(t));
    }

    #[inline]
    pub(in crate::core) fn task_exited(&self, cell: &TaskCell) {
        self.tasks_living
            .set(self.tasks_living.get().saturating_sub(1));
        self.task_hook(cell, |i, t| i.task_exited(t));
    }
}
