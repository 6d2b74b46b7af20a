//! [`Builder`]: a run's options, checked where the run's `Result` comes out.

use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use super::super::diagnostic::{Diagnostic, Sink};
use super::super::instrument::Instrument;
use super::super::reactor::IoBackend;
use super::super::watchdog::{Report, Watchdog};
use super::*;
use crate::time::Clock;

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
    pub(super) clock: Option<Rc<dyn Clock>>,
    pub(super) instruments: Vec<Rc<dyn Instrument>>,
    pub(super) seed: Option<u64>,
    /// `None`: Trio's coin flip.
    pub(super) policy: Option<Policy>,
    pub(super) handle_ctrl_c: Option<bool>,
    pub(super) schedule_budget: u32,
    pub(super) no_deadlock_detection: bool,
    pub(super) channel_deadlock_grace: Option<Duration>,
    pub(super) watchdog: Option<(Duration, Report)>,
    pub(super) dump_signal: Option<i32>,
    pub(super) cancelled_from_outside: bool,
    pub(in crate::core) diagnostics: Option<Sink>,
    /// `Some(false)`: `ctrl_c_exits(false)`.
    pub(super) ctrl_c_exits: Option<bool>,
    pub(super) ctrl_c_grace: Option<Duration>,
    pub(super) sigterm_grace: Option<Duration>,
    /// `None`: `TRIO_IO_BACKEND`, else epoll.
    pub(super) io_backend: Option<IoBackend>,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("seed", &self.seed)
            .field("policy", &self.policy)
            .finish()
    }
}

impl Builder {
    /// Uses `clock` instead of the [`SystemClock`](crate::SystemClock).
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

    /// Seeds the scheduler's random choices (by default, whether each batch runs
    /// in wake-up order or reversed; with a [`schedule_policy`](Self::schedule_policy),
    /// the [`ScheduleRng`](crate::lowlevel::ScheduleRng) it draws from): the same
    /// seed replays the same interleaving (of a program whose I/O and clock
    /// behave the same). Default: the `TRIO_SEED` environment variable, else a
    /// random seed.
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

    /// Chooses the kernel interface the run waits for I/O with (default:
    /// [`IoBackend::Epoll`](crate::lowlevel::IoBackend::Epoll), or what the
    /// `TRIO_IO_BACKEND` environment variable says: `uring`, `auto`, `epoll`).
    ///
    /// [`IoBackend::Uring`](crate::lowlevel::IoBackend::Uring) and
    /// [`IoBackend::Auto`](crate::lowlevel::IoBackend::Auto) ask for io_uring (Linux
    /// 5.13 or later): readiness waits become ring operations and the loop's sleep
    /// one `io_uring_enter` that also submits them. Where io_uring is missing or
    /// refused (another system, an old kernel, `ENOSYS`, `EPERM` from a seccomp
    /// filter) the run uses epoll instead, as it does in guest runs
    /// ([`start_guest_run`](crate::lowlevel::start_guest_run)); ask
    /// [`current_io_backend`](crate::lowlevel::current_io_backend) which one it got.
    /// Every trio type works the same on both.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::lowlevel::{IoBackend, current_io_backend};
    /// trio::Runtime::builder()
    ///     .io_backend(IoBackend::Auto)
    ///     .build()
    ///     .run(async {
    ///         let got = current_io_backend(); // Uring where the kernel allows it
    ///         assert!(got == IoBackend::Uring || got == IoBackend::Epoll);
    ///         assert_eq!(trio::lowlevel::current_statistics().io_backend, got);
    ///         trio::sleep(std::time::Duration::from_millis(1)).await // a timer, in the ring
    ///     })
    ///     .unwrap();
    /// ```
    pub fn io_backend(mut self, backend: crate::lowlevel::IoBackend) -> Builder {
        self.io_backend = Some(backend);
        self
    }

    /// Runs each batch in FIFO order instead of reversing it on a coin flip:
    /// `deterministic(true)` is [`schedule_policy(Fifo)`](Self::schedule_policy)
    /// ([`Fifo`](crate::lowlevel::Fifo)), `deterministic(false)` the default,
    /// [`CoinFlipReverse`](crate::lowlevel::CoinFlipReverse). The later call of
    /// the two wins.
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
        self.policy = Some(if yes { Policy::Fifo } else { Policy::CoinFlip });
        self
    }

    /// Chooses who orders each batch of runnable tasks (default:
    /// [`CoinFlipReverse`](crate::lowlevel::CoinFlipReverse), Trio's rule). The
    /// built-in [`Fifo`](crate::lowlevel::Fifo), [`Shuffle`](crate::lowlevel::Shuffle)
    /// and [`CoinFlipReverse`](crate::lowlevel::CoinFlipReverse) cost nothing
    /// per task; any other policy, [`Pct`](crate::lowlevel::Pct) included, is
    /// given a [`TaskInfo`](crate::lowlevel::TaskInfo) per task. See
    /// [`SchedulePolicy`](crate::lowlevel::SchedulePolicy).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::RefCell;
    /// let order = RefCell::new(Vec::new());
    /// let o = &order;
    /// trio::Runtime::builder()
    ///     .seed(3)
    ///     .schedule_policy(trio::lowlevel::Shuffle)
    ///     .build()
    ///     .run(async {
    ///         trio::open_nursery(async |n| {
    ///             for i in 0..5 {
    ///                 n.start_soon(async move { o.borrow_mut().push(i); Ok(()) })?;
    ///             }
    ///             Ok(())
    ///         }).await
    ///     }).unwrap();
    /// let mut seen = order.into_inner();
    /// seen.sort();
    /// assert_eq!(seen, [0, 1, 2, 3, 4]); // each once, in some order
    /// ```
    pub fn schedule_policy(mut self, policy: impl SchedulePolicy + 'static) -> Builder {
        self.policy = Some(Policy::of(policy));
        self
    }

    /// Lets each task skip up to `n` schedule points per step (python-trio/trio#1757;
    /// default 0: Trio's rule, every checkpoint yields to the scheduler).
    ///
    /// A checkpoint is both a *cancel point* and a *schedule point*. With a budget,
    /// every checkpoint still checks for cancellation, but a task that has not
    /// blocked yields only once it has passed `n` schedule points since it was
    /// last scheduled — as tokio's cooperative budget does. Operations that
    /// complete at once (a send into a channel with room, an uncontended lock)
    /// then cost no task switch; fairness is bounded by `n`. Blocking is unchanged.
    ///
    /// **Why it is off by default.** It changes what Trio's users can observe:
    /// Trio documents that every checkpoint lets other tasks run, code relies on
    /// it (a `checkpoint()` in a loop to be fair, `assert_checkpoints` in tests),
    /// and a program tested under one rule and run under the other meets
    /// interleavings its tests never saw. What it keeps: every checkpoint is still
    /// a cancel point; `Lock`, `Semaphore` and `CapacityLimiter` stay FIFO-fair
    /// (under a budget they take their schedule point *before* taking a free
    /// resource); the budget is counted, not timed, so a seed still replays the
    /// same run. What it buys, measured (BENCHMARKS.md, `n` = 64): channel
    /// throughput 2.6× tokio's `current_thread` instead of 0.75×, ping-pong 1.7×
    /// instead of 1.3×, an uncontended lock 3.6× instead of 1.0×. A program that
    /// wants throughput over Trio's exact scheduling asks for it here.
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

    /// Whether the run stops with an [`ErrorKind::Deadlock`](crate::ErrorKind::Deadlock) error when every task
    /// is blocked and nothing can wake any of them (default: yes).
    ///
    /// The loop declares a deadlock only when nothing is runnable, no deadline is
    /// pending, no other thread holds a [`TrioToken`](crate::lowlevel::TrioToken) of the run (worker threads of
    /// `to_thread` hold one while they run), no `wait_all_tasks_blocked` waits, and
    /// every task waits on something only another task of the run can end: a lock,
    /// semaphore, event, condition, capacity limiter, `TaskHandle::join`, a
    /// loop-local memory channel, or its children (and `sleep_forever`, when the run
    /// does not handle Ctrl-C: otherwise that is how a program waits for Ctrl-C). A task blocked on
    /// a file descriptor, a sleep, a thread, a thread-safe channel (unless
    /// [`channel_deadlock_grace`](Self::channel_deadlock_grace) says otherwise) or a
    /// future trio does not know keeps the run waiting, as before. Then every task is cancelled,
    /// and once they have unwound, `run` returns the error with the task tree
    /// ([`Error::deadlock`](crate::Error::deadlock)).
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
    /// The error is [`ErrorKind::Deadlock`](crate::ErrorKind::Deadlock), its [`Deadlock`](crate::lowlevel::Deadlock)
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
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) for a signal that cannot be received (one out
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
    ///
    /// Unix only: Windows has no signals to ask a program with (there, a
    /// deadlock or [`lowlevel::task_tree`](crate::lowlevel::task_tree) shows
    /// the tree).
    #[cfg(unix)]
    pub fn task_tree_on_signal(mut self, signal: i32) -> Builder {
        self.dump_signal = Some(signal);
        self
    }

    fn watchdog_with_report(mut self, threshold: Duration, report: Report) -> Builder {
        self.watchdog = Some((threshold, report));
        self
    }

    /// Tells the run that something outside it may cancel its main task
    /// ([`lowlevel::cancel_main_task`](crate::lowlevel::cancel_main_task) from a
    /// callback another thread queues; [`trio::Loops`](crate::Loops)' supervisor
    /// does so on Ctrl-C or when a sibling loop fails). Default: no. The run then
    /// counts `sleep_forever` — the idiom for "wait until cancelled" — as a wait
    /// that can end, as a run that handles Ctrl-C itself does, so deadlock
    /// detection does not stop it.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = trio::Runtime::builder()
    ///     .handle_ctrl_c(false)
    ///     .cancelled_from_outside(true)
    ///     .build();
    /// let r = rt.run(async {
    ///     let token = trio::lowlevel::current_trio_token();
    ///     std::thread::spawn(move || {
    ///         token.run_sync_soon(|| {
    ///             trio::lowlevel::cancel_main_task(trio::CancelSource::Explicit).unwrap();
    ///         })
    ///     });
    ///     trio::sleep_forever().await // not a deadlock: the thread will cancel it
    /// });
    /// assert!(r.unwrap_err().is_cancelled());
    /// ```
    pub fn cancelled_from_outside(mut self, yes: bool) -> Builder {
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

    /// Where the run's diagnostics go: what it has to say that is no call's error
    /// (an instrument that panicked and was removed, a failed I/O wait, a server
    /// backing off from `EMFILE`, a Ctrl-C it is about to exit for; see
    /// [`DiagnosticKind`](crate::lowlevel::DiagnosticKind)). trio never prints on
    /// its own: without a callback, diagnostics become `tracing` events (level
    /// `WARN`, target `trio`) with the `tracing` feature, and are dropped without
    /// it. [`print_diagnostic`](crate::lowlevel::print_diagnostic) writes them to
    /// stderr. The callback may be called from the loop's thread and from trio's
    /// Ctrl-C watchdog thread.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// let count = Arc::new(AtomicUsize::new(0));
    /// let c = count.clone();
    /// trio::Runtime::builder()
    ///     .on_diagnostic(move |d: &trio::lowlevel::Diagnostic| {
    ///         eprintln!("my-app: {d}");
    ///         c.fetch_add(1, Ordering::Relaxed);
    ///     })
    ///     .build()
    ///     .run(async { Ok::<_, trio::Error>(()) })
    ///     .unwrap();
    /// assert_eq!(count.load(Ordering::Relaxed), 0); // a quiet run says nothing
    /// ```
    pub fn on_diagnostic(
        mut self,
        callback: impl Fn(&Diagnostic) + Send + Sync + 'static,
    ) -> Builder {
        self.diagnostics = Some(Sink::new(callback));
        self
    }

    /// Whether trio may end the process on a Ctrl-C it cannot handle (default:
    /// yes, as a program without trio would end). With the run handling Ctrl-C, the
    /// first Ctrl-C cancels the main task; trio then ends the process (status 130,
    /// by the signal for a second Ctrl-C) when a second Ctrl-C comes, or when the
    /// loop has not seen the first within 3 s because a task never reaches a
    /// checkpoint. With `false`, it never does: further Ctrl-Cs are ignored while
    /// the clean-up runs, and a loop stuck in a task's step stays stuck.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = trio::Runtime::builder().ctrl_c_exits(false).build();
    /// rt.run(async { Ok::<_, trio::Error>(()) }).unwrap();
    /// ```
    pub fn ctrl_c_exits(mut self, yes: bool) -> Builder {
        self.ctrl_c_exits = Some(yes);
        self
    }

    /// Makes the first Ctrl-C a graceful stop (default: it cancels the main task
    /// at once): the main task's scope is asked to stop
    /// ([`CancelScope::cancel_gracefully`](crate::CancelScope::cancel_gracefully),
    /// source [`CancelSource::CtrlC`](crate::CancelSource::CtrlC)) and cancelled
    /// when `grace` has passed. Servers (`serve_tcp`, `serve_listeners`,
    /// `trio::http::serve`) stop accepting at once and let the connections in
    /// flight finish. A second Ctrl-C cancels outright; a third ends the process
    /// (unless [`ctrl_c_exits(false)`](Self::ctrl_c_exits)). The run still returns
    /// [`ErrorKind::Interrupted`](crate::ErrorKind::Interrupted). No effect on a run
    /// that does not handle Ctrl-C.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let rt = trio::Runtime::builder()
    ///     .stop_gracefully_on_ctrl_c(Duration::from_secs(10))
    ///     .build();
    /// rt.run(async { Ok::<_, trio::Error>(()) }).unwrap();
    /// ```
    pub fn stop_gracefully_on_ctrl_c(mut self, grace: Duration) -> Builder {
        self.ctrl_c_grace = Some(grace);
        self
    }

    /// Makes `SIGTERM` (what service managers and `kill` send) a graceful stop
    /// (default: trio leaves `SIGTERM` alone, and it ends the process): the first
    /// asks the main task's scope to stop, with source
    /// [`CancelSource::Terminated`](crate::CancelSource::Terminated), and cancels
    /// it when `grace` has passed; a second cancels outright; a third ends the
    /// process the default way. One run at a time handles `SIGTERM` (the first
    /// to start while none does); after it, `SIGTERM` ends the process again.
    ///
    /// A main task that finishes cleanly within the grace period makes the run
    /// return its result as usual (a clean shutdown: exit status 0 under
    /// `#[trio::main]`); one stopped by the cancellation makes it return
    /// [`ErrorKind::Interrupted`](crate::ErrorKind::Interrupted).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let rt = trio::Runtime::builder()
    ///     .stop_gracefully_on_sigterm(Duration::from_secs(30))
    ///     .build();
    /// rt.run(async { Ok::<_, trio::Error>(()) }).unwrap();
    /// ```
    ///
    /// Unix only: Windows has no `SIGTERM` (a console window closing, a logoff
    /// or a shutdown end a console program there, which trio does not
    /// intercept); Ctrl-C and Ctrl-Break go through
    /// [`stop_gracefully_on_ctrl_c`](Self::stop_gracefully_on_ctrl_c).
    #[cfg(unix)]
    pub fn stop_gracefully_on_sigterm(mut self, grace: Duration) -> Builder {
        self.sigterm_grace = Some(grace);
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
            policy: self.policy.unwrap_or(Policy::CoinFlip),
            handle_ctrl_c: self.handle_ctrl_c,
            schedule_budget: self.schedule_budget,
            deadlock_detection: !self.no_deadlock_detection,
            channel_deadlock_grace: self.channel_deadlock_grace,
            watchdog: self.watchdog,
            dump_signal: self.dump_signal,
            cancelled_from_outside: self.cancelled_from_outside,
            diagnostics: self.diagnostics,
            ctrl_c_exits: self.ctrl_c_exits.unwrap_or(true),
            ctrl_c_grace: self.ctrl_c_grace,
            sigterm_grace: self.sigterm_grace,
            io_backend: self.io_backend.unwrap_or_else(IoBackend::from_env),
        }
    }
}
