//! [`run_process`]: run a command to completion, supervised.

use std::borrow::BorrowMut;
use std::cell::{Cell, RefCell};
use std::ffi::OsString;
use std::fmt;
use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::pin::Pin;
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

use super::handle::{Process, describe_status, open_process};
use super::pipe::{PipeReceiveStream, PipeSendStream};
use crate::abc::{ReceiveStream, SendStream};
use crate::sys;
use crate::{CancelScope, Error, ErrorKind, Result, TaskStatus, open_nursery};

/// How `run_process` makes a cancelled child exit (Trio's `deliver_cancel`).
///
/// When [`run_process`] is cancelled it calls `deliver_cancel` with the child,
/// in a task of its own, shielded from the cancellation; meanwhile it waits for
/// the child to exit. As soon as the child has exited the task is cancelled —
/// so a `deliver_cancel` that sends `SIGTERM`, sleeps and then sends `SIGKILL`
/// never gets to the `SIGKILL` if the child obeyed the `SIGTERM`. Whatever
/// `deliver_cancel` does, `run_process` returns only once the child has exited
/// and has been reaped.
///
/// Implemented by [`TerminateThenKill`] (the default) and by every `async`
/// closure taking `&Process` and returning `trio::Result<()>`.
///
/// # Examples
///
/// ```
/// use std::process::Command;
/// use std::time::Duration;
/// use trio::process::{Process, run_process};
/// # trio::run(async {
/// let mut cmd = Command::new("sleep");
/// cmd.arg("100");
/// let run = run_process(&mut cmd).deliver_cancel(async |p: &Process| p.kill());
/// let r = trio::move_on_after(Duration::from_millis(10), run.into_future()).await?;
/// assert!(r.is_none()); // cancelled; the child was killed and reaped
/// # Ok(()) }).unwrap();
/// ```
pub trait DeliverCancel {
    /// Makes `process` exit (or starts to: `run_process` waits for the exit
    /// either way).
    ///
    /// # Errors
    ///
    /// Whatever went wrong; `run_process` reports it (together with the
    /// cancellation, which the cancelling scope then absorbs) once the child
    /// has exited.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::process::Command;
    /// use trio::process::{DeliverCancel, TerminateThenKill};
    /// # trio::run(async {
    /// let proc = trio::process::open_process(Command::new("sleep").arg("100")).await?;
    /// TerminateThenKill::default().deliver_cancel(&proc).await.ok(); // sends SIGTERM, then waits
    /// # proc.wait().await?;
    /// # Ok(()) }).unwrap();
    /// ```
    fn deliver_cancel(self, process: &Process) -> impl Future<Output = Result<()>>;
}

impl<F> DeliverCancel for F
where
    F: AsyncFnOnce(&Process) -> Result<()>,
{
    fn deliver_cancel(self, process: &Process) -> impl Future<Output = Result<()>> {
        self(process)
    }
}

/// The default [`DeliverCancel`]: `SIGTERM`, then `SIGKILL` if the child is still
/// there after a grace period (5 seconds by default, as in Trio).
///
/// On Windows both steps are `TerminateProcess` (see [`Process::terminate`]): the
/// child ends at the first, and the grace period never runs out.
///
/// # Examples
///
/// A child that ignores `SIGTERM` is killed after the grace period:
///
/// ```
/// use std::process::Command;
/// use std::time::Duration;
/// use trio::process::{TerminateThenKill, run_process};
/// # trio::run(async {
/// let mut cmd = Command::new("sh");
/// cmd.args(["-c", "trap '' TERM; echo ready; exec sleep 100"]);
/// trio::open_nursery(async |n| {
///     let proc = n.start(async |status| {
///         run_process(&mut cmd)
///             .stdout(std::process::Stdio::piped())
///             .deliver_cancel(TerminateThenKill::new(Duration::from_millis(50)))
///             .task_status(status)
///             .await?;
///         Ok(())
///     }).await?;
///     use trio::abc::ReceiveStream;
///     proc.stdout().unwrap().receive_some(&mut [0u8; 16]).await?; // "ready": the trap is set
///     n.cancel_scope().cancel();
///     Ok(())
/// }).await?;
/// # Ok(()) }).unwrap();
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TerminateThenKill {
    grace: Duration,
}

impl TerminateThenKill {
    /// `SIGTERM`, then `SIGKILL` after `grace`.
    ///
    /// # Examples
    ///
    /// ```
    /// let d = trio::process::TerminateThenKill::new(std::time::Duration::from_millis(100));
    /// assert_eq!(d.grace(), std::time::Duration::from_millis(100));
    /// ```
    pub fn new(grace: Duration) -> TerminateThenKill {
        TerminateThenKill { grace }
    }

    /// How long the child has between `SIGTERM` and `SIGKILL`.
    ///
    /// # Examples
    ///
    /// ```
    /// let d = trio::process::TerminateThenKill::default();
    /// assert_eq!(d.grace(), std::time::Duration::from_secs(5));
    /// ```
    pub fn grace(&self) -> Duration {
        self.grace
    }
}

/// Five seconds of grace, as Trio.
///
/// # Examples
///
/// ```
/// let d = trio::process::TerminateThenKill::default();
/// assert_eq!(d, trio::process::TerminateThenKill::new(std::time::Duration::from_secs(5)));
/// ```
impl Default for TerminateThenKill {
    fn default() -> Self {
        TerminateThenKill::new(Duration::from_secs(5))
    }
}

impl DeliverCancel for TerminateThenKill {
    /// Sends `SIGTERM`, sleeps for the grace period, sends `SIGKILL`. A failure
    /// to send `SIGTERM` does not stop the `SIGKILL`; both errors are reported.
    async fn deliver_cancel(self, process: &Process) -> Result<()> {
        let terminated = process.terminate();
        crate::sleep(self.grace).await?;
        // (Trio warns here that the child ignored SIGTERM; a library has no
        // warnings channel in Rust, so the escalation is silent.)
        let killed = process.kill();
        terminated.and(killed)
    }
}

/// What a finished [`run_process`] returns (Python's
/// `subprocess.CompletedProcess`).
///
/// # Examples
///
/// ```
/// use std::process::Command;
/// # trio::run(async {
/// let done = trio::process::run_process(Command::new("printf").arg("hi")).capture_stdout(true).await?;
/// assert_eq!(done.args, ["printf", "hi"]);
/// assert!(done.status.success());
/// assert_eq!(done.stdout.as_deref(), Some(&b"hi"[..]));
/// assert_eq!(done.stderr, None); // not captured
/// # Ok(()) }).unwrap();
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CompletedProcess {
    /// The program and its arguments.
    pub args: Vec<OsString>,
    /// How the child exited.
    pub status: ExitStatus,
    /// Everything the child wrote to its standard output, if captured.
    pub stdout: Option<Vec<u8>>,
    /// Everything the child wrote to its standard error, if captured.
    pub stderr: Option<Vec<u8>>,
}

/// A child run by [`run_process`] with `check` on (the default) exited
/// unsuccessfully (Python's `subprocess.CalledProcessError`).
///
/// It reaches you inside a [`trio::Error`](crate::Error) of kind
/// [`Other`](crate::ErrorKind::Other), as its
/// [`source`](std::error::Error::source); [`ProcessError::find`] digs it out (also
/// from a nursery's error group).
///
/// # Examples
///
/// ```
/// use std::process::Command;
/// use trio::process::ProcessError;
/// # trio::run(async {
/// let mut cmd = Command::new("sh");
/// cmd.args(["-c", "echo oops >&2; exit 3"]);
/// let err = trio::process::run_process(&mut cmd).capture_stderr(true).await.unwrap_err();
/// let failed = ProcessError::find(&err).unwrap();
/// assert_eq!(failed.status.code(), Some(3));
/// assert_eq!(failed.stderr.as_deref(), Some(&b"oops\n"[..]));
/// assert_eq!(failed.stdout, None);
/// # Ok(()) }).unwrap();
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProcessError {
    /// The program and its arguments.
    pub args: Vec<OsString>,
    /// How the child exited (unsuccessfully).
    pub status: ExitStatus,
    /// Its standard output, if captured.
    pub stdout: Option<Vec<u8>>,
    /// Its standard error, if captured.
    pub stderr: Option<Vec<u8>>,
}

impl ProcessError {
    /// The `ProcessError` inside `err`: its source, or the source of a member of
    /// an error group.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::process::Command;
    /// use trio::process::{ProcessError, run_process};
    /// # trio::run(async {
    /// // A failing run_process started in a nursery: the error comes out of the nursery.
    /// let err = trio::open_nursery(async |n| {
    ///     n.start(async |status| { run_process(Command::new("false")).task_status(status).await?; Ok(()) }).await?;
    ///     Ok(())
    /// }).await.unwrap_err();
    /// assert_eq!(ProcessError::find(&err).unwrap().status.code(), Some(1));
    /// assert!(ProcessError::find(&trio::Error::new(trio::ErrorKind::Other, "x")).is_none());
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn find(err: &Error) -> Option<&ProcessError> {
        if let Some(pe) = std::error::Error::source(err).and_then(|s| s.downcast_ref()) {
            return Some(pe);
        }
        err.errors().iter().find_map(ProcessError::find)
    }
}

/// "command [\"false\"] exited with status 1".
///
/// # Examples
///
/// ```
/// use std::process::Command;
/// # trio::run(async {
/// let err = trio::process::run_process(Command::new("false")).await.unwrap_err();
/// assert_eq!(err.to_string(), r#"command ["false"] exited with status 1"#);
/// # Ok(()) }).unwrap();
/// ```
impl fmt::Display for ProcessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "command {:?} {}",
            self.args,
            describe_status(self.status)
        )
    }
}

impl std::error::Error for ProcessError {}

enum StdinFrom {
    Input(Vec<u8>),
    Stdio(Stdio),
}

/// A [`run_process`] call being configured: set options with the builder
/// methods, then `.await` it (it is [`IntoFuture`]).
///
/// # Examples
///
/// ```
/// use std::process::Command;
/// # trio::run(async {
/// let done = trio::process::run_process(Command::new("cat"))
///     .input(b"round trip")
///     .capture_stdout(true)
///     .await?;
/// assert_eq!(done.stdout.unwrap(), b"round trip");
/// # Ok(()) }).unwrap();
/// ```
#[must_use = "run_process does nothing until awaited"]
pub struct RunProcess<'a, C, D = TerminateThenKill> {
    command: C,
    stdin: StdinFrom,
    capture_stdout: bool,
    capture_stderr: bool,
    stderr_to_stdout: bool,
    stdout: Option<Stdio>,
    stderr: Option<Stdio>,
    check: bool,
    deliver_cancel: D,
    task_status: Option<TaskStatus<Process>>,
    _lifetime: PhantomData<&'a ()>,
}

/// Runs `command` to completion (Trio's `trio.run_process`): the child is
/// supervised — fed its input, its output collected, its exit status checked —
/// and, if the call is cancelled, terminated; in every case `run_process`
/// returns only after the child has exited and has been reaped.
///
/// The options, set on the returned [`RunProcess`] before `.await`:
///
/// | option | default | |
/// |---|---|---|
/// | [`input(bytes)`](RunProcess::input) | empty | bytes fed to the child's stdin, followed by end of file |
/// | [`stdin(Stdio)`](RunProcess::stdin) | — | the child's stdin comes from there instead (`Stdio::inherit()` for yours) |
/// | [`capture_stdout(bool)`](RunProcess::capture_stdout) | `false` | collect stdout into [`CompletedProcess::stdout`] |
/// | [`capture_stderr(bool)`](RunProcess::capture_stderr) | `false` | collect stderr into [`CompletedProcess::stderr`] |
/// | [`stdout(Stdio)`](RunProcess::stdout) / [`stderr(Stdio)`](RunProcess::stderr) | the command's own | where output goes if not captured |
/// | [`stderr_to_stdout(bool)`](RunProcess::stderr_to_stdout) | `false` | interleave stderr into the captured stdout |
/// | [`check(bool)`](RunProcess::check) | `true` | an unsuccessful exit is an error ([`ProcessError`]) |
/// | [`deliver_cancel(f)`](RunProcess::deliver_cancel) | [`TerminateThenKill`] (5 s) | how a cancelled child is made to exit |
/// | [`task_status(status)`](RunProcess::task_status) | — | report the running [`Process`] to [`Nursery::start`](crate::Nursery::start) |
///
/// As in Trio, the defaults differ from std's `Command::output`: stdin is empty
/// rather than inherited (a child that unexpectedly reads stdin sees end of file
/// instead of stealing yours), and failure is an error (errors should never pass
/// silently). Output that is not captured goes where the `Command` says
/// (inherited by default). Pipes you configure on the `Command` yourself with
/// `Stdio::piped()` go to the [`Process`] handed to `task_status`; without
/// `task_status` nobody could reach them, so output pipes are captured and an
/// input pipe is closed at once.
///
/// # Running in the background
///
/// Start it with [`Nursery::start`](crate::Nursery::start) and
/// [`task_status`](RunProcess::task_status) to get the running [`Process`] back
/// (Trio's `await nursery.start(run_process, ...)`), while `run_process` keeps
/// supervising it in the nursery:
///
/// ```
/// use std::process::{Command, Stdio};
/// use trio::abc::{AsyncResource, ReceiveStream, SendStream};
/// use trio::process::run_process;
/// # trio::run(async {
/// let mut cmd = Command::new("cat");
/// cmd.stdin(Stdio::piped()).stdout(Stdio::piped());
/// trio::open_nursery(async |n| {
///     let proc = n.start(async |status| {
///         run_process(&mut cmd).stdin(Stdio::piped()).task_status(status).await?;
///         Ok(())
///     }).await?;
///     proc.stdin().unwrap().send_all(b"live").await?;
///     proc.stdin().unwrap().aclose().await?;
///     let mut buf = [0u8; 8];
///     assert_eq!(proc.stdout().unwrap().receive_some(&mut buf).await?, 4);
///     Ok(())
/// }).await?;
/// # Ok(()) }).unwrap();
/// ```
///
/// # The `Command`
///
/// Pass it by value or as `&mut Command`. `run_process` sets its stdin, and its
/// stdout and stderr where you asked for capturing or gave a `Stdio`, and leaves
/// it configured that way (except that a pipe made for
/// [`stderr_to_stdout`](RunProcess::stderr_to_stdout) is replaced with
/// `Stdio::inherit()` after spawning, so that the parent holds no copy of it).
///
/// # Errors
///
/// * the [`Io`](crate::ErrorKind::Io) error of spawning;
/// * with `check` on, an unsuccessful exit: kind [`Other`](crate::ErrorKind::Other)
///   with a [`ProcessError`] as its source (see [`ProcessError::find`]);
/// * [`InvalidInput`](crate::ErrorKind::InvalidInput) for contradictory options (capturing a
///   stream that is also given a `Stdio`, or `stderr_to_stdout` without
///   `capture_stdout`);
/// * `Cancelled` if cancelled (after the child has exited), together with any
///   error of `deliver_cancel`.
///
/// # Cancellation
///
/// A checkpoint. When cancelled, the child is made to exit with
/// [`deliver_cancel`](RunProcess::deliver_cancel) (by default `SIGTERM`, then
/// `SIGKILL` 5 seconds later), and `run_process` waits — shielded — until it has
/// exited and has been reaped, then returns `Err(Cancelled)`. A child that
/// ignores `SIGTERM` therefore delays the cancellation by the grace period. (On
/// Windows the default ends the child at once: `TerminateProcess`.)
///
/// Dropping the future instead (not the trio way to cancel) cannot wait: a child
/// still running is sent `SIGKILL` at once, and the process-wide reaper reaps it.
///
/// # Examples
///
/// ```
/// use std::process::Command;
/// # trio::run(async {
/// let done = trio::process::run_process(Command::new("true")).await?;
/// assert!(done.status.success());
///
/// let err = trio::process::run_process(Command::new("false")).await.unwrap_err();
/// assert_eq!(trio::process::ProcessError::find(&err).unwrap().status.code(), Some(1));
///
/// let done = trio::process::run_process(Command::new("false")).check(false).await?;
/// assert_eq!(done.status.code(), Some(1));
/// # Ok(()) }).unwrap();
/// ```
pub fn run_process<'a, C: BorrowMut<Command> + 'a>(command: C) -> RunProcess<'a, C> {
    RunProcess {
        command,
        stdin: StdinFrom::Input(Vec::new()),
        capture_stdout: false,
        capture_stderr: false,
        stderr_to_stdout: false,
        stdout: None,
        stderr: None,
        check: true,
        deliver_cancel: TerminateThenKill::default(),
        task_status: None,
        _lifetime: PhantomData,
    }
}

impl<'a, C, D> RunProcess<'a, C, D> {
    /// Feeds `data` to the child's standard input, then closes it (the default is
    /// no data: the child sees end of file at once). A child that exits without
    /// reading it all is fine.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::process::Command;
    /// # trio::run(async {
    /// let done = trio::process::run_process(Command::new("wc").arg("-c"))
    ///     .input(vec![b'x'; 100_000]) // more than a pipe holds
    ///     .capture_stdout(true)
    ///     .await?;
    /// assert_eq!(String::from_utf8(done.stdout.unwrap()).unwrap().trim(), "100000");
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn input(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.stdin = StdinFrom::Input(data.into());
        self
    }

    /// Connects the child's standard input to `stdio` instead of feeding it input:
    /// `Stdio::inherit()` (your own stdin, Trio's `stdin=None`), `Stdio::null()`, a
    /// file, or `Stdio::piped()` — with [`task_status`](Self::task_status) the pipe
    /// is then on the returned [`Process`]; without, it is closed at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::process::{Command, Stdio};
    /// # trio::run(async {
    /// let done = trio::process::run_process(Command::new("cat"))
    ///     .stdin(Stdio::null())
    ///     .capture_stdout(true)
    ///     .await?;
    /// assert_eq!(done.stdout.unwrap(), b"");
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn stdin(mut self, stdio: impl Into<Stdio>) -> Self {
        self.stdin = StdinFrom::Stdio(stdio.into());
        self
    }

    /// Collects everything the child writes to its standard output into
    /// [`CompletedProcess::stdout`] (and [`ProcessError::stdout`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::process::Command;
    /// # trio::run(async {
    /// let done = trio::process::run_process(Command::new("echo").arg("hi")).capture_stdout(true).await?;
    /// assert_eq!(done.stdout.unwrap(), b"hi\n");
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn capture_stdout(mut self, yes: bool) -> Self {
        self.capture_stdout = yes;
        self
    }

    /// Collects everything the child writes to its standard error into
    /// [`CompletedProcess::stderr`] (and [`ProcessError::stderr`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::process::Command;
    /// # trio::run(async {
    /// let mut cmd = Command::new("sh");
    /// cmd.args(["-c", "echo err >&2"]);
    /// let done = trio::process::run_process(cmd).capture_stderr(true).await?;
    /// assert_eq!(done.stderr.unwrap(), b"err\n");
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn capture_stderr(mut self, yes: bool) -> Self {
        self.capture_stderr = yes;
        self
    }

    /// Where the child's standard output goes when not captured (otherwise: where
    /// the `Command` says). With [`task_status`](Self::task_status),
    /// `Stdio::piped()` puts the pipe on the returned [`Process`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::process::{Command, Stdio};
    /// # trio::run(async {
    /// let done = trio::process::run_process(Command::new("echo").arg("quiet")).stdout(Stdio::null()).await?;
    /// assert!(done.status.success());
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn stdout(mut self, stdio: impl Into<Stdio>) -> Self {
        self.stdout = Some(stdio.into());
        self
    }

    /// Where the child's standard error goes when not captured; as
    /// [`stdout`](Self::stdout).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::process::{Command, Stdio};
    /// # trio::run(async {
    /// let mut cmd = Command::new("sh");
    /// cmd.args(["-c", "echo hidden >&2"]);
    /// let done = trio::process::run_process(cmd).stderr(Stdio::null()).await?;
    /// assert!(done.status.success());
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn stderr(mut self, stdio: impl Into<Stdio>) -> Self {
        self.stderr = Some(stdio.into());
        self
    }

    /// Sends the child's standard error into its captured standard output, the
    /// two interleaved in the order written (Python's `stderr=STDOUT` with
    /// `capture_stdout=True`). Needs [`capture_stdout`](Self::capture_stdout).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::process::Command;
    /// # trio::run(async {
    /// let mut cmd = Command::new("sh");
    /// cmd.args(["-c", "printf 1; printf 2 >&2; printf 3"]);
    /// let done = trio::process::run_process(cmd).capture_stdout(true).stderr_to_stdout(true).await?;
    /// assert_eq!(done.stdout.unwrap(), b"123");
    /// assert_eq!(done.stderr, None);
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn stderr_to_stdout(mut self, yes: bool) -> Self {
        self.stderr_to_stdout = yes;
        self
    }

    /// Whether an unsuccessful exit is an error (default `true`). With `false`,
    /// look at [`CompletedProcess::status`] yourself.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::process::Command;
    /// # trio::run(async {
    /// let done = trio::process::run_process(Command::new("false")).check(false).await?;
    /// assert!(!done.status.success());
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn check(mut self, yes: bool) -> Self {
        self.check = yes;
        self
    }

    /// How to make the child exit when `run_process` is cancelled: a
    /// [`TerminateThenKill`] with another grace period, or any `async` closure
    /// taking `&Process` (see [`DeliverCancel`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::unix::process::ExitStatusExt;
    /// use std::process::Command;
    /// use std::time::Duration;
    /// use trio::process::{Process, run_process};
    /// # trio::run(async {
    /// trio::open_nursery(async |n| {
    ///     let proc = n.start(async |status| {
    ///         run_process(Command::new("sleep").arg("100"))
    ///             .deliver_cancel(async |p: &Process| p.send_signal(libc::SIGUSR1))
    ///             .task_status(status)
    ///             .await?;
    ///         Ok(())
    ///     }).await?;
    ///     n.cancel_scope().cancel();
    ///     trio::CancelScope::new().shielded().run(async {
    ///         assert_eq!(proc.wait().await?.signal(), Some(libc::SIGUSR1));
    ///         Ok::<_, trio::Error>(())
    ///     }).await?;
    ///     Ok(())
    /// }).await?;
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn deliver_cancel<D2: DeliverCancel>(self, deliver_cancel: D2) -> RunProcess<'a, C, D2> {
        RunProcess {
            command: self.command,
            stdin: self.stdin,
            capture_stdout: self.capture_stdout,
            capture_stderr: self.capture_stderr,
            stderr_to_stdout: self.stderr_to_stdout,
            stdout: self.stdout,
            stderr: self.stderr,
            check: self.check,
            deliver_cancel,
            task_status: self.task_status,
            _lifetime: PhantomData,
        }
    }

    /// Reports the running child to [`Nursery::start`](crate::Nursery::start) as
    /// soon as it is spawned (Trio's `task_status`): `start` returns a [`Process`]
    /// holding the pipes not used by `run_process` itself, while `run_process`
    /// keeps supervising the child in the nursery.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::process::Command;
    /// use trio::process::run_process;
    /// # trio::run(async {
    /// trio::open_nursery(async |n| {
    ///     let proc = n.start(async |status| {
    ///         run_process(Command::new("sleep").arg("100")).task_status(status).await?;
    ///         Ok(())
    ///     }).await?;
    ///     assert_eq!(proc.returncode(), None); // running
    ///     n.cancel_scope().cancel(); // run_process terminates it
    ///     Ok(())
    /// }).await?;
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn task_status(mut self, status: TaskStatus<Process>) -> Self {
        self.task_status = Some(status);
        self
    }
}

impl<C, D> fmt::Debug for RunProcess<'_, C, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunProcess")
            .field(
                "input",
                &match &self.stdin {
                    StdinFrom::Input(d) => format!("{} bytes", d.len()),
                    StdinFrom::Stdio(_) => "from a Stdio".to_string(),
                },
            )
            .field("capture_stdout", &self.capture_stdout)
            .field("capture_stderr", &self.capture_stderr)
            .field("stderr_to_stdout", &self.stderr_to_stdout)
            .field("check", &self.check)
            .field("started", &self.task_status.is_some())
            .finish_non_exhaustive()
    }
}

impl<'a, C, D> IntoFuture for RunProcess<'a, C, D>
where
    C: BorrowMut<Command> + 'a,
    D: DeliverCancel + 'a,
{
    type Output = Result<CompletedProcess>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<CompletedProcess>> + 'a>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}

/// Contradictory options: Trio's `ValueError`.
fn invalid(msg: &'static str) -> Error {
    Error::new(ErrorKind::InvalidInput, msg)
}

/// Last resort when the `run_process` future is dropped mid-run: the child gets
/// `SIGKILL` (there is no way to wait here; the reaper reaps it).
struct KillIfRunning<'p>(&'p Process);

impl Drop for KillIfRunning<'_> {
    fn drop(&mut self) {
        if self.0.returncode().is_none() {
            let _ = self.0.kill();
        }
    }
}

async fn feed_input(stream: PipeSendStream, data: &[u8]) -> Result<()> {
    let r = match stream.send_all(data).await {
        // The child closed its stdin, or exited, without reading everything.
        Err(e) if e.kind() == ErrorKind::BrokenResource => Ok(()),
        r => r,
    };
    stream.close();
    r
}

async fn read_output(stream: PipeReceiveStream, out: &RefCell<Vec<u8>>) -> Result<()> {
    let mut chunk = vec![0u8; 65536];
    loop {
        let n = stream.receive_some(&mut chunk).await?;
        if n == 0 {
            break;
        }
        out.borrow_mut().extend_from_slice(&chunk[..n]);
    }
    stream.close();
    Ok(())
}

impl<C: BorrowMut<Command>, D: DeliverCancel> RunProcess<'_, C, D> {
    async fn run(self) -> Result<CompletedProcess> {
        let RunProcess {
            mut command,
            stdin,
            capture_stdout,
            capture_stderr,
            stderr_to_stdout,
            stdout,
            stderr,
            check,
            deliver_cancel,
            task_status,
            _lifetime,
        } = self;
        if capture_stdout && stdout.is_some() {
            return Err(invalid("can't specify both stdout and capture_stdout"));
        }
        if capture_stderr && stderr.is_some() {
            return Err(invalid("can't specify both stderr and capture_stderr"));
        }
        if stderr_to_stdout && !capture_stdout {
            return Err(invalid("stderr_to_stdout needs capture_stdout"));
        }
        if stderr_to_stdout && (capture_stderr || stderr.is_some()) {
            return Err(invalid(
                "stderr_to_stdout sends stderr to the captured stdout: don't also capture or redirect it",
            ));
        }
        let background = task_status.is_some();
        let cmd = command.borrow_mut();

        let input = match stdin {
            StdinFrom::Input(data) => {
                cmd.stdin(Stdio::piped());
                Some(data)
            }
            StdinFrom::Stdio(s) => {
                cmd.stdin(s);
                None
            }
        };
        let mut merged = None;
        if capture_stdout {
            if stderr_to_stdout {
                #[cfg(unix)]
                let (r, w) = sys::fd::pipe()?;
                // Our end overlapped, the child's (both its outputs) synchronous.
                #[cfg(windows)]
                let (r, w) = sys::handle::pipe(true, false)?;
                let w2 = w.try_clone()?;
                merged = Some(PipeReceiveStream::new(r)?);
                cmd.stdout(Stdio::from(w)).stderr(Stdio::from(w2));
            } else {
                cmd.stdout(Stdio::piped());
            }
        } else if let Some(s) = stdout {
            cmd.stdout(s);
        }
        if capture_stderr {
            cmd.stderr(Stdio::piped());
        } else if let Some(s) = stderr {
            cmd.stderr(s);
        }

        let spawned = open_process(&mut *cmd).await;
        if merged.is_some() {
            // The command holds the parent's copies of the merged pipe's write end:
            // drop them, or end of file would never come.
            cmd.stdout(Stdio::inherit()).stderr(Stdio::inherit());
        }
        let mut proc = spawned?;

        // Our streams. A pipe nobody can reach (no task_status) is captured
        // (output) or closed at once (input).
        let feed = if input.is_some() || !background {
            proc.take_stdin()
        } else {
            None
        };
        let out_stream = match merged {
            Some(m) => Some(m),
            None if capture_stdout || !background => proc.take_stdout(),
            None => None,
        };
        let err_stream = if capture_stderr || !background {
            proc.take_stderr()
        } else {
            None
        };
        let (captured_out, captured_err) = (out_stream.is_some(), err_stream.is_some());
        let started = task_status.map(|status| (status, proc.split_off()));
        let _kill_if_dropped = KillIfRunning(&proc);

        let out_buf = RefCell::new(Vec::new());
        let err_buf = RefCell::new(Vec::new());
        let killer = CancelScope::new().shielded();
        let deliver = Cell::new(Some(deliver_cancel));
        let input = input.unwrap_or_default();
        let (proc_ref, out_ref, err_ref, killer_ref, deliver_ref, input_ref) =
            (&proc, &out_buf, &err_buf, &killer, &deliver, &input[..]);

        let status = open_nursery(async move |n| {
            let body = async {
                if let Some(s) = feed {
                    n.start_soon(feed_input(s, input_ref))?;
                }
                if let Some(s) = out_stream {
                    n.start_soon(read_output(s, out_ref))?;
                }
                if let Some(s) = err_stream {
                    n.start_soon(read_output(s, err_ref))?;
                }
                if let Some((status, handle)) = started {
                    status.started(handle);
                }
                proc_ref.wait().await
            }
            .await;
            let err = match body {
                Ok(status) => return Ok(status),
                Err(e) => e,
            };
            // Cancelled (or something else went wrong): the child must exit, and
            // we must see it exit, whatever happens to us meanwhile.
            let waited = CancelScope::new()
                .shielded()
                .run(async {
                    if let Some(d) = deliver_ref.take() {
                        n.start_soon(async move {
                            killer_ref.run(d.deliver_cancel(proc_ref)).await.map(drop)
                        })?;
                    }
                    let r = proc_ref.wait().await;
                    killer_ref.cancel();
                    r
                })
                .await;
            match waited {
                Ok(_) => Err(err),
                Err(e2) => Err(Error::group(vec![err, e2]).expect("two errors")),
            }
        })
        .await?
        // Nothing outside can cancel this nursery's own scope.
        .ok_or_else(|| Error::new(ErrorKind::Internal, "the process nursery gave no status"))?;

        let stdout = captured_out.then(|| out_buf.take());
        let stderr = captured_err.then(|| err_buf.take());
        if check && !status.success() {
            return Err(Error::other(ProcessError {
                args: proc.args_vec(),
                status,
                stdout,
                stderr,
            }));
        }
        Ok(CompletedProcess {
            args: proc.args_vec(),
            status,
            stdout,
            stderr,
        })
    }
}
