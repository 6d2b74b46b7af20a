//! The loop itself: one iteration after another, as the module essay describes,
//! plus what it does between batches (the entry queue, the idle waiters).

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::super::diagnostic::DiagnosticKind;
use super::super::entry_queue::Job;
use super::super::task::step;
use super::*;
use crate::error::{CancelSource, Error, ErrorKind};

/// What the first half of a pass of the loop decided (see `run_batch`).
pub(super) struct Pass {
    /// How long the loop may block waiting for I/O.
    pub(super) timeout: Duration,
    idle: Idle,
    /// Whether to ask the kernel at all (a zero timeout with no fd to watch
    /// skips it).
    pub(super) wait_for_io: bool,
}

#[derive(PartialEq)]
enum Idle {
    No,
    Waiters(Duration),
    Autojump,
}

impl Runner {
    pub(super) fn poll_main<T>(
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
            // SAFETY: `cell` is borrowed from `main_task` (an `Arc`) for the whole
            // step; nothing takes it out meanwhile (see above).
            unsafe {
                step(self, Arc::as_ptr(cell), &self.main_scope, |cx| {
                    main.as_mut().poll(cx)
                })
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

    pub(super) fn run_loop<T>(
        &self,
        mut main: Pin<&mut (dyn Future<Output = T> + '_)>,
    ) -> std::thread::Result<T> {
        let mut main_out: Option<std::thread::Result<T>> = None;
        let main_key = self.main_key();
        loop {
            let Some(pass) = self.run_batch(main.as_mut(), &mut main_out, main_key) else {
                return main_out.take().expect("the run ends when main has");
            };
            if pass.wait_for_io {
                if let Err(e) = self
                    .wake_cause
                    .during(Wake::Io, || self.io.wait(pass.timeout))
                {
                    self.io_wait_failed(e);
                }
            }
            self.finish_pass(pass);
        }
    }

    /// The main task's slot in the system nursery.
    pub(super) fn main_key(&self) -> usize {
        self.main_task
            .borrow()
            .as_ref()
            .map(|c| c.l().key.get() as usize)
            .expect("main task exists at start")
    }

    pub(super) fn io_wait_failed(&self, e: std::io::Error) {
        self.diagnose(
            DiagnosticKind::IoWaitFailed,
            format!("the I/O wait failed: {e}"),
        );
    }

    /// The first half of a pass of the loop: runs a batch, then decides how long
    /// the loop may wait for I/O (and calls `before_io_wait`). `None` once the
    /// run is over: main has finished and so have the system tasks.
    pub(super) fn run_batch<T>(
        &self,
        mut main: Pin<&mut (dyn Future<Output = T> + '_)>,
        main_out: &mut Option<std::thread::Result<T>>,
        main_key: usize,
    ) -> Option<Pass> {
        // 1. batch
        let core = &self.system.core;
        let batch = core.take_batch();
        if !batch.is_empty() {
            // Something ran: whatever looked like a deadlock may be over.
            self.channel_deadlock_since.set(None);
        }
        for &key in &batch {
            if key == main_key && main_out.is_none() {
                self.poll_main(main.as_mut(), main_out);
            } else {
                self.system.poll_child(key);
            }
        }
        core.return_batch(batch);
        if main_out.is_some() && self.system.is_empty() {
            return None;
        }
        // 2. timeout
        let runnable = core.has_ready() || self.shared.has_pending();
        // Only a loop about to sleep needs the next deadline (finding it may
        // pop stale entries): with something runnable the timeout is zero,
        // and so is any autojump.
        let next_deadline = if runnable {
            None
        } else {
            self.deadlines.borrow_mut().next_deadline()
        };
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
        // 3. I/O (the caller waits)
        let wait_for_io = !timeout.is_zero() || self.io.waiters() > 0;
        if wait_for_io && self.instrumented.get() {
            self.call_instruments(|i| i.before_io_wait(timeout));
        }
        Some(Pass {
            timeout,
            idle,
            wait_for_io,
        })
    }

    /// The second half of a pass, after the I/O wait: `after_io_wait`, the entry
    /// queue and Ctrl-C, expired deadlines, idle waiters and autojump.
    pub(super) fn finish_pass(&self, pass: Pass) {
        let Pass {
            timeout,
            mut idle,
            wait_for_io,
        } = pass;
        if wait_for_io && self.instrumented.get() {
            self.call_instruments(|i| i.after_io_wait(timeout));
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
            self.wake_cause.during(Wake::Timer, || due.fire());
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

    /// Runs what other threads queued; true if there was anything.
    pub(super) fn process_entry_queue(&self) -> bool {
        if !self.shared.has_pending() {
            return false;
        }
        // Before a Ctrl-C is taken below: a ping answers only a pass after
        // the one that delivered the cancellation.
        self.shared.ki_ping.store(false, Ordering::Release);
        if self.shared.ki_pending.swap(false, Ordering::AcqRel) {
            self.shared.ki_seen.store(true, Ordering::Release);
            self.interrupted.set(true);
            let count = self.shared.ki_count.load(Ordering::Acquire);
            match self.shared.ctrl_c_grace {
                Some(grace) if count <= 1 => self
                    .main_scope
                    .cancel_gracefully(grace, CancelSource::CtrlC),
                _ => self.main_scope.cancel(CancelSource::CtrlC, None),
            }
        }
        let jobs = self.shared.drain();
        let any = !jobs.is_empty();
        self.wake_cause.during(Wake::Thread, || {
            for job in jobs {
                match job {
                    Job::Wake(w) => w.wake(),
                    Job::Release(w) => drop(w),
                    Job::Call(f) => self.run_callback(f),
                }
            }
        });
        any
    }

    pub(super) fn run_callback(&self, f: Box<dyn FnOnce() + Send + 'static>) {
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

    pub(super) fn wake_idle(&self, cushion: Duration) {
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
