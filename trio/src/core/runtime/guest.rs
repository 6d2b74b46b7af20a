//! Guest mode: a trio run inside another event loop (Trio's `start_guest_run`).
//!
//! # Why
//!
//! A program built on another loop — a tokio application, a GUI toolkit — cannot
//! hand its thread to `trio::run`. In guest mode the host keeps its thread and
//! its loop; trio borrows the thread in short steps. The host gives one thing:
//! a way to run a callback on its thread soon, callable from any thread (tokio's
//! channel into a local task, a GUI's "post to the main thread"). This lets an
//! application adopt trio one piece at a time.
//!
//! # How
//!
//! A run's loop alternates two halves: run a batch of tasks, then block in the
//! kernel until I/O, a deadline or another thread needs it (see `mod.rs`). In
//! guest mode, each *step* is one pass on the host's thread — the batch, then the
//! bookkeeping of the previous wait — and the blocking half moves to a helper
//! thread: the reactor's poller (`Poller`, which is `Send`; fds are registered
//! through a cloned `mio::Registry` meanwhile) waits there, and when it returns,
//! the helper asks the host to run the next step. A pass with more work ready
//! asks the host for the next step at once, so the host's own events interleave
//! with trio's batches instead of waiting behind them.
//!
//! Between steps, the run's thread-local context is put away
//! (`RunnerGuard::suspend`), so the host's code on the thread sees no trio run;
//! wake-ups from it reach trio the way other threads' do (through the loop's
//! entry queue and waker, which also ends the helper's wait).
//!
//! # What differs from `trio::run`
//!
//! * The host owns the process's signals: Ctrl-C is not handled unless the
//!   builder says `handle_ctrl_c(true)`.
//! * Something outside may cancel the run ([`GuestRun::cancel`]), so
//!   `sleep_forever` does not count as a deadlock (as with
//!   `Builder::cancelled_from_outside`). Deadlock detection otherwise works as
//!   usual: a task waiting on the host's futures (through a waker trio did not
//!   make) never counts as deadlocked.
//! * The main future must be `'static` (the run outlives the call that starts
//!   it), and its result arrives in the `done` callback on the host's thread; a
//!   panic in it is resumed in the host's callback that ran the last step.
//! * Each step is a callback on the host: a host that blocks its thread blocks
//!   trio too, and a host that stops running callbacks stops trio.
//! * The reactor is always epoll (mio): `Builder::io_backend(IoBackend::Uring)`
//!   and `TRIO_IO_BACKEND` are not honoured here, because the helper thread waits
//!   with a poller lent to it, and the io_uring reactor's ring stays on the loop's
//!   thread.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::panic::resume_unwind;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use super::super::context;
use super::super::entry_queue::WeakTrioToken;
use super::super::io::Poller;
use super::run::Run;
use super::run_loop::Pass;
use super::*;
use crate::error::{CancelSource, Error, ErrorKind, Result};

/// The host's "run this on your thread soon" (Trio's `run_sync_soon_threadsafe`).
type Host = Arc<dyn Fn(Box<dyn FnOnce() + Send>) + Send + Sync>;

/// A guest run's state between steps, by type-erased handle.
trait Step {
    /// Runs one step; `io` is what the helper's wait returned, if the previous
    /// step handed the poller to it. True when the run has ended.
    fn step(&mut self, io: Option<(Poller, io::Result<()>)>) -> bool;
}

thread_local! {
    /// The guest runs living on this thread, by id, between their steps.
    static GUESTS: RefCell<HashMap<u64, Box<dyn Step>>> = RefCell::new(HashMap::new());
}

/// Runs the next step of guest run `id` (on the host's thread).
fn run_step(id: u64, io: Option<(Poller, io::Result<()>)>) {
    let Some(mut guest) = GUESTS.with(|g| g.borrow_mut().remove(&id)) else {
        return; // ended
    };
    // Taken out of the map for the step: the step may start another guest run.
    if !guest.step(io) {
        GUESTS.with(|g| g.borrow_mut().insert(id, guest));
    }
}

struct Guest<F, T, E, D>
where
    F: Future<Output = std::result::Result<T, E>>,
{
    id: u64,
    run: Option<Run>,
    suspended: Option<super::super::context::SuspendedRunner>,
    /// `None` only while being leaked (see `Drop`).
    main: Option<Pin<Box<F>>>,
    main_out: Option<std::thread::Result<std::result::Result<T, E>>>,
    main_key: usize,
    /// The pass whose I/O wait the helper is doing.
    waiting: Option<Pass>,
    helper: Option<mpsc::Sender<(Poller, Duration)>>,
    host: Host,
    done: Option<D>,
}

impl<F, T, E, D> Step for Guest<F, T, E, D>
where
    F: Future<Output = std::result::Result<T, E>>,
    E: From<Error> + 'static,
    D: FnOnce(std::result::Result<T, E>),
{
    fn step(&mut self, io: Option<(Poller, io::Result<()>)>) -> bool {
        let run = self.run.as_mut().expect("a live guest has its run");
        run.guard = Some(
            self.suspended
                .take()
                .expect("suspended between steps")
                .resume(),
        );
        let runner = run.runner.clone();
        if let Some((poller, res)) = io {
            runner.io.process(&poller);
            runner.io.return_poller(poller);
            if let Err(e) = res {
                runner.io_wait_failed(e);
            }
            if let Some(pass) = self.waiting.take() {
                runner.finish_pass(pass);
            }
        }
        let main: Pin<&mut dyn Future<Output = std::result::Result<T, E>>> = self
            .main
            .as_mut()
            .expect("a live guest has its main")
            .as_mut();
        match runner.run_batch(main, &mut self.main_out, self.main_key) {
            None => {
                self.finish();
                return true;
            }
            Some(pass) if pass.timeout.is_zero() => {
                // More to do at once: check I/O without blocking, and ask the
                // host for the next step (its own events go first meanwhile).
                if pass.wait_for_io {
                    if let Err(e) = runner.io.wait(Duration::ZERO) {
                        runner.io_wait_failed(e);
                    }
                }
                runner.finish_pass(pass);
                let id = self.id;
                (self.host)(Box::new(move || run_step(id, None)));
            }
            Some(pass) => {
                // Block on the helper thread; it asks the host for the next step.
                let poller = runner.io.take_poller();
                let timeout = pass.timeout;
                self.waiting = Some(pass);
                let helper = self.helper.as_ref().expect("the helper lives with the run");
                if helper.send((poller, timeout)).is_err() {
                    unreachable!("the helper thread ends only when the run does");
                }
            }
        }
        let guard = self
            .run
            .as_mut()
            .expect("a live guest has its run")
            .guard
            .take()
            .expect("resumed above");
        self.suspended = Some(guard.suspend());
        false
    }
}

impl<F, T, E, D> Drop for Guest<F, T, E, D>
where
    F: Future<Output = std::result::Result<T, E>>,
{
    fn drop(&mut self) {
        if self.run.is_some() {
            // Abandoned before its end (its thread is exiting with the run still
            // going, or its host stopped calling): its tasks and main future
            // cannot be dropped outside their run, so they are leaked, with
            // everything they hold, rather than torn down half-way.
            std::mem::forget(self.main.take());
            std::mem::forget(self.run.take());
            std::mem::forget(self.suspended.take());
        }
    }
}

impl<F, T, E, D> Guest<F, T, E, D>
where
    F: Future<Output = std::result::Result<T, E>>,
    E: From<Error> + 'static,
    D: FnOnce(std::result::Result<T, E>),
{
    /// The run is over: take it apart (the helper thread ends with its channel)
    /// and hand the result to the host.
    fn finish(&mut self) {
        self.helper = None;
        let ended = self.run.take().expect("finished once").tear_down();
        let outcome = self.main_out.take().expect("the run ends when main has");
        let main_result = match outcome {
            Ok(r) => r,
            Err(p) => resume_unwind(p),
        };
        let result = ended.result(main_result);
        if let Some(done) = self.done.take() {
            done(result);
        }
    }
}

/// A trio run living as a guest in another event loop, from
/// [`Runtime::start_guest`] or [`start_guest_run`](crate::lowlevel::start_guest_run).
/// Dropping it leaves the run going; it ends when its main task does.
///
/// # Examples
///
/// See [`Runtime::start_guest`].
#[derive(Clone, Debug)]
pub struct GuestRun {
    token: WeakTrioToken,
}

impl GuestRun {
    /// Cancels the run's main task (its tasks are cancelled in turn; the `done`
    /// callback then receives the main task's result). Callable from any thread
    /// that has the handle; false if the run has already ended.
    ///
    /// # Examples
    ///
    /// See [`Runtime::start_guest`].
    pub fn cancel(&self) -> bool {
        self.token.upgrade().is_some_and(|t| {
            t.run_sync_soon(|| {
                let _ = crate::lowlevel::cancel_main_task(CancelSource::Explicit);
            })
            .is_ok()
        })
    }

    /// Asks the run's main task to stop gracefully
    /// ([`CancelScope::cancel_gracefully`](crate::CancelScope::cancel_gracefully)
    /// on its scope): servers stop accepting and finish what is in flight, and
    /// what is left is cancelled when `grace` has passed. False if the run has
    /// already ended.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::sync::mpsc;
    /// # let (tx, rx) = mpsc::channel::<Box<dyn FnOnce() + Send>>();
    /// # let (done_tx, done_rx) = mpsc::channel();
    /// let guest = trio::Runtime::builder()
    ///     .build()
    ///     .start_guest(
    ///         async { trio::wait_stop_requested().await },
    ///         move |f| tx.send(f).unwrap(),
    ///         move |r| done_tx.send(r.is_ok()).unwrap(),
    ///     )
    ///     .unwrap();
    /// guest.cancel_gracefully(std::time::Duration::from_secs(5));
    /// # while done_rx.try_recv().is_err() { rx.recv().unwrap()(); }
    /// ```
    pub fn cancel_gracefully(&self, grace: Duration) -> bool {
        self.token.upgrade().is_some_and(|t| {
            t.run_sync_soon(move || {
                let _ = context::with_runner(|r| {
                    r.main_scope
                        .cancel_gracefully(grace, CancelSource::Explicit)
                });
            })
            .is_ok()
        })
    }
}

impl Runtime {
    /// Starts this run as a *guest* of another event loop on the current thread
    /// (Trio's `start_guest_run`), and returns at once. The host's loop keeps the
    /// thread; trio runs in steps, each one a callback that `run_sync_soon`
    /// (the host's "run this on my thread soon", callable from any thread) hands
    /// to the host. Blocking for I/O happens on a helper thread, so the host's
    /// loop never blocks on trio. When the main task has finished and the run
    /// has ended, `done` receives its result, on the host's thread.
    ///
    /// What differs from [`run`](Self::run) is listed in the guest-mode essay
    /// (`core/runtime/guest.rs`): the host owns Ctrl-C unless the builder says
    /// [`handle_ctrl_c(true)`](crate::Builder::handle_ctrl_c); `sleep_forever`
    /// counts as waiting for the host ([`GuestRun::cancel`]); a panic in the
    /// main task is resumed in the host's callback.
    ///
    /// # Errors
    ///
    /// Setting up the run (the reactor, a builder option that is wrong);
    /// [`ErrorKind::NestedRun`](crate::ErrorKind::NestedRun) inside a task of a
    /// running trio loop.
    ///
    /// # Examples
    ///
    /// A minimal host: a loop that runs the callbacks sent to it.
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use std::time::Duration;
    ///
    /// let (tx, rx) = mpsc::channel::<Box<dyn FnOnce() + Send>>();
    /// let (done_tx, done_rx) = mpsc::channel();
    /// let guest = trio::Runtime::builder()
    ///     .build()
    ///     .start_guest(
    ///         async {
    ///             trio::sleep(Duration::from_millis(10)).await?;
    ///             trio::sleep_forever().await // until the host cancels
    ///         },
    ///         move |f| tx.send(f).unwrap(),
    ///         move |r: trio::Result<()>| done_tx.send(r).unwrap(),
    ///     )
    ///     .unwrap();
    /// let mut cancelled = false;
    /// loop {
    ///     // The host's loop: its own work, and trio's steps.
    ///     if let Ok(r) = done_rx.try_recv() {
    ///         assert!(r.unwrap_err().is_cancelled());
    ///         break;
    ///     }
    ///     let step = rx.recv_timeout(Duration::from_millis(50));
    ///     match step {
    ///         Ok(f) => f(),
    ///         Err(_) if !cancelled => cancelled = guest.cancel(),
    ///         Err(_) => {}
    ///     }
    /// }
    /// ```
    #[track_caller]
    pub fn start_guest<F, T, E>(
        self,
        main: F,
        run_sync_soon: impl Fn(Box<dyn FnOnce() + Send>) + Send + Sync + 'static,
        done: impl FnOnce(std::result::Result<T, E>) + 'static,
    ) -> Result<GuestRun>
    where
        F: Future<Output = std::result::Result<T, E>> + 'static,
        T: 'static,
        E: From<Error> + 'static,
    {
        if context::current_loop_id() != 0 {
            return Err(Error::new(
                ErrorKind::NestedRun,
                "a guest run was started from inside a running trio loop",
            ));
        }
        let host: Host = Arc::new(run_sync_soon);
        let mut run = self.set_up(std::panic::Location::caller(), true)?;
        let runner = run.runner.clone();
        let id = runner.loop_id;
        let token = runner.shared.clone();
        let weak = super::super::entry_queue::TrioToken::new(token).downgrade();
        // The helper: waits for I/O with the poller it is lent, then asks the
        // host for the next step. It ends when the run drops its sender.
        let (helper, requests) = mpsc::channel::<(Poller, Duration)>();
        let helper_host = host.clone();
        std::thread::Builder::new()
            .name("trio-guest-io".into())
            .spawn(move || {
                while let Ok((mut poller, timeout)) = requests.recv() {
                    let res = poller.wait(timeout);
                    helper_host(Box::new(move || run_step(id, Some((poller, res)))));
                }
            })
            .map_err(Error::from)?;
        let main_key = runner.main_key();
        let suspended = run.guard.take().expect("set up with its guard").suspend();
        let guest = Guest {
            id,
            run: Some(run),
            suspended: Some(suspended),
            main: Some(Box::pin(main)),
            main_out: None,
            main_key,
            waiting: None,
            helper: Some(helper),
            host: host.clone(),
            done: Some(done),
        };
        GUESTS.with(|g| g.borrow_mut().insert(id, Box::new(guest)));
        host(Box::new(move || run_step(id, None)));
        Ok(GuestRun { token: weak })
    }
}

/// Starts a trio run as a guest of another event loop, with the default options:
/// [`Runtime::start_guest`] on `Runtime::new()` (Trio's `start_guest_run`).
///
/// # Errors
///
/// As [`Runtime::start_guest`].
///
/// # Examples
///
/// ```
/// use std::sync::mpsc;
/// let (tx, rx) = mpsc::channel::<Box<dyn FnOnce() + Send>>();
/// let (done_tx, done_rx) = mpsc::channel();
/// trio::lowlevel::start_guest_run(
///     async { Ok::<_, trio::Error>(6 * 7) },
///     move |f| tx.send(f).unwrap(),
///     move |r| done_tx.send(r).unwrap(),
/// )
/// .unwrap();
/// let answer = loop {
///     if let Ok(r) = done_rx.try_recv() {
///         break r.unwrap();
///     }
///     rx.recv().unwrap()(); // the host runs trio's next step
/// };
/// assert_eq!(answer, 42);
/// ```
#[track_caller]
pub fn start_guest_run<F, T, E>(
    main: F,
    run_sync_soon: impl Fn(Box<dyn FnOnce() + Send>) + Send + Sync + 'static,
    done: impl FnOnce(std::result::Result<T, E>) + 'static,
) -> Result<GuestRun>
where
    F: Future<Output = std::result::Result<T, E>> + 'static,
    T: 'static,
    E: From<Error> + 'static,
{
    Runtime::new().start_guest(main, run_sync_soon, done)
}
