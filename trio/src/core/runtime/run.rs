//! [`Runtime`] and [`run`]: setting a run up, running its loop, tearing it down,
//! and turning what happened into the run's result.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::panic::resume_unwind;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::super::cancel::ScopeState;
use super::super::context::{self, RunnerGuard};
use super::super::deadlines::{Deadlines, Expired};
use super::super::diagnostic::Sink;
use super::super::dump::DumpOnSignal;
use super::super::entry_queue::{Job, LoopShared};
use super::super::instrument::Instrument;
use super::super::ki::KiGuard;
use super::super::nursery::{NurseryCore, NurseryState};
use super::super::reactor::{IoBackend, Reactor};
use super::super::task::TaskCell;
use super::super::task_tree::Deadlock;
use super::super::terminate::TermGuard;
use super::super::watchdog::{Report, Watchdog};
use super::policy::WakeCause;
use super::*;
use crate::error::{Error, ErrorKind, Result};
use crate::time::{Clock, SystemClock};

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
    pub(super) clock: Option<Rc<dyn Clock>>,
    pub(super) instruments: Vec<Rc<dyn Instrument>>,
    pub(super) seed: u64,
    pub(super) policy: Policy,
    /// `None`: the default, which differs between a run and a guest run.
    pub(super) handle_ctrl_c: Option<bool>,
    pub(super) schedule_budget: u32,
    pub(super) deadlock_detection: bool,
    pub(super) channel_deadlock_grace: Option<Duration>,
    pub(super) watchdog: Option<(Duration, Report)>,
    pub(super) dump_signal: Option<i32>,
    pub(super) cancelled_from_outside: bool,
    pub(super) diagnostics: Option<Sink>,
    pub(super) ctrl_c_exits: bool,
    pub(super) ctrl_c_grace: Option<Duration>,
    pub(super) sigterm_grace: Option<Duration>,
    pub(super) io_backend: IoBackend,
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
    pub(in crate::core) fn run_at<F, T, E>(
        self,
        main: F,
        main_at: &'static std::panic::Location<'static>,
    ) -> std::result::Result<T, E>
    where
        F: Future<Output = std::result::Result<T, E>>,
        E: From<Error> + 'static,
    {
        if context::current_loop_id() != 0 {
            return Err(E::from(Error::new(
                ErrorKind::NestedRun,
                "trio::run was called from inside a running trio loop; use a nursery instead",
            )));
        }
        let run = match self.set_up(main_at, false) {
            Ok(run) => run,
            Err(e) => return Err(E::from(e)),
        };
        let mut main = std::pin::pin!(main);
        let main_dyn: Pin<&mut dyn Future<Output = std::result::Result<T, E>>> = main.as_mut();
        let outcome = run.runner.run_loop(main_dyn);
        let ended = run.tear_down();
        let main_result = match outcome {
            Ok(r) => r,
            Err(p) => resume_unwind(p),
        };
        ended.result(main_result)
    }

    /// Everything a run needs before its main task's first step: the reactor, the
    /// options that can be wrong (checked here, before anything started), the
    /// runner with its system nursery and main task, Ctrl-C handling.
    pub(super) fn set_up(
        self,
        main_at: &'static std::panic::Location<'static>,
        guest: bool,
    ) -> Result<Run> {
        let (io, waker) = Reactor::new(self.io_backend, guest)?;
        let loop_id = NEXT_LOOP_ID.fetch_add(1, Ordering::Relaxed);
        let dump = self
            .dump_signal
            .map(|sig| DumpOnSignal::start(sig, loop_id))
            .transpose()?;
        let shared = LoopShared::new(
            loop_id,
            waker,
            self.diagnostics,
            self.ctrl_c_exits,
            self.ctrl_c_grace,
        );
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

        let track_wakes = self.policy.needs_info();
        let runner = Rc::new(Runner {
            loop_id,
            clock: clock.clone(),
            deadlines: RefCell::new(Deadlines::default()),
            expired: Cell::new(Expired::default()),
            io,
            shared: shared.clone(),
            rng: RefCell::new(ScheduleRng::with_seed(self.seed)),
            track_wakes,
            wake_cause: WakeCause::new(),
            policy: self.policy,
            seed: self.seed,
            schedule_budget: self.schedule_budget,
            instrumented: Cell::new(!self.instruments.is_empty()),
            hooked: Cell::new(!self.instruments.is_empty() || track_wakes),
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
            terminated: Cell::new(false),
            deadlock_detection: self.deadlock_detection,
            channel_deadlock_grace: self.channel_deadlock_grace,
            channel_deadlock_since: Cell::new(None),
            ctrl_c_handled: Cell::new(false),
            deadlock: RefCell::new(None),
            external_hint: RefCell::new(None),
            watchdog: self.watchdog.map(|(t, r)| Watchdog::new(t, r)),
        });
        let guard = RunnerGuard::enter(runner.clone());
        // A guest's host owns the process's signals unless asked otherwise.
        let ki = if self.handle_ctrl_c.unwrap_or(!guest) {
            KiGuard::claim(&shared)
        } else {
            None
        };
        let term = self
            .sigterm_grace
            .and_then(|grace| TermGuard::claim(loop_id, grace));
        clock.start_clock();
        runner
            .ctrl_c_handled
            .set(ki.is_some() || term.is_some() || self.cancelled_from_outside || guest);
        if runner.instrumented.get() {
            runner.call_instruments(|i| i.before_run());
        }

        let main_cell = TaskCell::new(
            loop_id,
            runner.next_id(),
            Cow::Borrowed("<main>"),
            Some(main_at),
        );
        system.reserve_slot(main_cell.clone());
        *main_cell.l().status.borrow_mut() = Some(main_scope.clone());
        runner.task_spawned(&main_cell);
        *runner.main_task.borrow_mut() = Some(main_cell.clone());
        main_cell.schedule_local(main_cell.l());
        Ok(Run {
            runner,
            guard: Some(guard),
            ki,
            term,
            dump,
            root_scope,
        })
    }
}

/// A run that is set up: what its teardown must end, in order.
pub(super) struct Run {
    pub(super) runner: Rc<Runner>,
    /// `None` while a guest run is between steps (`guest.rs`).
    pub(super) guard: Option<RunnerGuard>,
    ki: Option<KiGuard>,
    term: Option<TermGuard>,
    dump: Option<DumpOnSignal>,
    root_scope: Rc<ScopeState>,
}

/// What a finished run left behind, besides its main task's result.
pub(super) struct Ended {
    system_errors: Vec<Error>,
    system_panic: Option<Box<dyn std::any::Any + Send>>,
    interrupted: bool,
    terminated: bool,
    deadlock: Option<Deadlock>,
}

impl Run {
    /// Closes the doors and takes the run apart: later `run_sync_soon` calls get
    /// `RunFinished`; calls accepted before that still run (Trio: every call that
    /// did not fail with `RunFinished` is processed before `run` returns); wake-ups
    /// have no task left.
    pub(super) fn tear_down(self) -> Ended {
        let Run {
            runner,
            guard,
            ki,
            term,
            dump,
            root_scope,
        } = self;
        for job in runner.shared.close() {
            if let Job::Call(f) = job {
                runner.run_callback(f);
            }
        }
        if runner.instrumented.get() {
            runner.call_instruments(|i| i.after_run());
        }
        // The Ctrl-C, SIGTERM and dump handlers go before the errors are read.
        drop((ki, term, dump));
        let system_errors: Vec<Error> = runner
            .system
            .take_errors()
            .into_iter()
            .filter_map(|e| e.strip_cancelled_inner())
            .collect();
        let system_panic = runner.system.take_panic();
        root_scope.exit();
        runner.init_task.release();
        let ended = Ended {
            system_errors,
            system_panic,
            interrupted: runner.interrupted.get(),
            terminated: runner.terminated.get(),
            deadlock: runner.deadlock.borrow_mut().take(),
        };
        drop(runner);
        drop(guard);
        ended
    }
}

impl Ended {
    /// The run's result: a failed system task, a deadlock and Ctrl-C take
    /// precedence over the main task's result (whose own error, under Ctrl-C, is
    /// kept as the source).
    pub(super) fn result<T, E: From<Error> + 'static>(
        self,
        main_result: std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        if let Some(p) = self.system_panic {
            return Err(E::from(Error::new(
                ErrorKind::Internal,
                format!("a system task panicked: {}", panic_message(&*p)),
            )));
        }
        if let Some(e) = Error::group(self.system_errors) {
            return Err(E::from(
                e.context(ErrorKind::Internal, "a system task failed"),
            ));
        }
        if let Some(deadlock) = self.deadlock {
            drop(main_result);
            return Err(E::from(Error::build(
                ErrorKind::Deadlock,
                None,
                Some(Box::new(deadlock)),
            )));
        }
        if self.interrupted {
            return Err(match main_result {
                Ok(_) => E::from(interrupted_error(CTRL_C, None)),
                Err(e) => interrupted_with(CTRL_C, e),
            });
        }
        if self.terminated {
            // A clean finish within the grace period is the run's result; a main
            // task the SIGTERM cancelled is an interruption.
            return main_result.map_err(|e| interrupted_with(SIGTERM, e));
        }
        main_result
    }
}

const CTRL_C: &str = "the run was interrupted by Ctrl-C";
const SIGTERM: &str = "the run was stopped by SIGTERM";

/// The error of a run that Ctrl-C (or SIGTERM) interrupted; the main task's own
/// error, if it had one besides the cancellation, is its source.
fn interrupted_error(message: &'static str, main_error: Option<Error>) -> Error {
    match main_error {
        None => Error::new(ErrorKind::Interrupted, message),
        Some(e) => e.context(ErrorKind::Interrupted, message),
    }
}

/// The main task failed in a run that Ctrl-C interrupted. A trio or I/O error
/// becomes [`ErrorKind::Interrupted`], keeping whatever is not the Ctrl-C
/// cancellation as its source; an error of another type is returned as it is
/// (trio cannot look inside it), so nothing is dropped either way.
fn interrupted_with<E: From<Error> + 'static>(message: &'static str, e: E) -> E {
    let any: Box<dyn std::any::Any> = Box::new(e);
    let trio_error = match any.downcast::<Error>() {
        Ok(e) => *e,
        Err(any) => match any.downcast::<std::io::Error>() {
            Ok(io) => Error::from(*io),
            Err(any) => return *any.downcast::<E>().expect("the value put in above"),
        },
    };
    E::from(interrupted_error(
        message,
        trio_error.strip_cancelled_inner(),
    ))
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
