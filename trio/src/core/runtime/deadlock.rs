//! Deadlock detection: when the loop would wait with no deadline, is there
//! anything left that could wake a task? (See `Builder::deadlock_detection`, and
//! `wait.rs` for what each task records about its wait.)

use std::sync::Arc;
use std::time::Duration;

use super::super::task::Task;
use super::super::task::TaskCell;
use super::super::task_tree::Deadlock;
use super::*;
use crate::error::CancelSource;

impl Runner {
    /// Whether anything could still wake a task (see `Builder::deadlock_detection`
    /// and `Builder::channel_deadlock_grace`). Called only when the loop is about
    /// to wait with no deadline.
    pub(super) fn deadlock_verdict(&self) -> Verdict {
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
    pub(super) fn stop_deadlocked(&self, channel_grace: Option<Duration>) {
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
}

/// What a run looks like to the deadlock detector.
pub(super) enum Verdict {
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
pub(super) enum WaitClass {
    /// Only another task of this loop.
    Inside,
    /// A task of this loop, or a thread holding the other end of a thread-safe
    /// memory channel.
    ThreadSafeChannel,
    /// Something outside the loop (an fd, a deadline, a thread, an unknown
    /// future), or the task is runnable.
    Outside,
}

pub(super) fn wait_class(cell: &TaskCell, ctrl_c_handled: bool) -> WaitClass {
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
