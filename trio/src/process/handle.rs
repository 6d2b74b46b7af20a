//! [`Process`] (a handle on a child) and [`open_process`].

use std::borrow::BorrowMut;
use std::ffi::OsString;
use std::fmt;
#[cfg(unix)]
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus};
use std::rc::Rc;

use super::child::ChildState;
use super::pipe::{PipeReceiveStream, PipeSendStream};
use crate::StapledStream;
use crate::lowlevel::{cancel_shielded_checkpoint, checkpoint_if_cancelled};
use crate::{Error, Result};

/// A child process: like [`std::process::Child`], but its pipes are trio streams
/// and waiting for it is a trio checkpoint (Trio's `trio.Process`).
///
/// Get one from [`open_process`], or — for a child that is supervised for you,
/// killed when cancelled and always reaped — from
/// [`run_process`](super::run_process) started with
/// [`Nursery::start`](crate::Nursery::start).
///
/// Every method takes `&self`. The status is kept up to date without you asking:
/// [`returncode`](Self::returncode) and [`poll`](Self::poll) look (with a
/// non-blocking `waitpid`, on Windows a zero-timeout wait on the process handle)
/// whenever they are called.
///
/// # Dropping
///
/// Dropping a `Process` neither kills nor waits for the child (as with std's
/// `Child`), and never leaves a zombie behind: if the child still runs, a
/// process-wide reaper thread waits for its exit and reaps it. Dropping closes
/// the pipes still held by this handle.
///
/// On Windows there are no zombies: dropping closes the process handle (the
/// child runs on, detached) and stops the thread that waited for its exit, if
/// any; the pipes' threads end with their pipes. Nothing is left behind and
/// nothing blocks.
///
/// # Windows
///
/// The same handle, with what has no meaning there left out: no
/// `send_signal` and no `uses_pidfd` (POSIX signals and Linux pidfds);
/// [`terminate`](Self::terminate) and [`kill`](Self::kill) are both
/// `TerminateProcess`. See the module's "Windows" section.
///
/// # Examples
///
/// ```
/// use std::process::{Command, Stdio};
/// use trio::abc::{AsyncResource, ReceiveStream, SendStream};
/// # trio::run(async {
/// let mut cmd = Command::new("cat");
/// cmd.stdin(Stdio::piped()).stdout(Stdio::piped());
/// let proc = trio::process::open_process(&mut cmd).await?;
/// let (stdin, stdout) = (proc.stdin().unwrap(), proc.stdout().unwrap());
/// stdin.send_all(b"ping").await?;
/// stdin.aclose().await?;
/// let mut buf = [0u8; 16];
/// let n = stdout.receive_some(&mut buf).await?;
/// assert_eq!(&buf[..n], b"ping");
/// assert!(proc.wait().await?.success());
/// # Ok(()) }).unwrap();
/// ```
pub struct Process {
    child: Rc<ChildState>,
    args: Rc<[OsString]>,
    stdin: Option<PipeSendStream>,
    stdout: Option<PipeReceiveStream>,
    stderr: Option<PipeReceiveStream>,
}

/// `program` followed by its arguments.
pub(crate) fn command_args(cmd: &Command) -> Vec<OsString> {
    std::iter::once(cmd.get_program().to_owned())
        .chain(cmd.get_args().map(|a| a.to_owned()))
        .collect()
}

/// Starts `command` as a child process (Trio's `trio.lowlevel.open_process`).
///
/// The command is spawned as [`Command::spawn`] would (same defaults: stdio
/// inherited unless you configure it). Each standard stream you set to
/// [`Stdio::piped()`](std::process::Stdio::piped) becomes a trio stream on the
/// returned [`Process`]: [`stdin`](Process::stdin) a [`PipeSendStream`],
/// [`stdout`](Process::stdout) and [`stderr`](Process::stderr)
/// [`PipeReceiveStream`]s.
///
/// Nothing supervises the child: wait for it, or kill it, yourself. (Dropped
/// handles are still reaped; see [`Process`].) For "run this and give me the
/// result", with cancellation handled, use [`run_process`](super::run_process).
///
/// `fork`/`exec` runs on the calling thread: `spawn` returns as soon as the child
/// has exec'd (std uses `posix_spawn` or `vfork`-like clones where it can), so it
/// does not stall the loop in practice. (On Windows, `CreateProcess` does, on the
/// calling thread too.)
///
/// # Errors
///
/// The [`Io`](crate::ErrorKind::Io) error of `spawn` (for example, the program
/// was not found); `Cancelled` if the caller was cancelled before spawning.
///
/// # Cancellation
///
/// A checkpoint: a cancelled `open_process` started nothing. Once the child is
/// spawned the call completes.
///
/// # Examples
///
/// ```
/// use std::process::Command;
/// # trio::run(async {
/// let proc = trio::process::open_process(Command::new("false")).await?;
/// let status = proc.wait().await?;
/// assert_eq!(status.code(), Some(1));
///
/// let err = trio::process::open_process(Command::new("/no/such/program")).await.unwrap_err();
/// assert_eq!(err.kind(), trio::ErrorKind::Io);
/// # Ok(()) }).unwrap();
/// ```
pub async fn open_process(mut command: impl BorrowMut<Command>) -> Result<Process> {
    open_process_with(command.borrow_mut(), true).await
}

/// [`open_process`], with the pidfd optional (tests force the fallback).
pub(crate) async fn open_process_with(command: &mut Command, use_pidfd: bool) -> Result<Process> {
    checkpoint_if_cancelled()?;
    let child = command.spawn()?;
    let process = Process::from_std(child, command_args(command), use_pidfd);
    // If this future is dropped in the schedule point below, nobody ever gets the
    // handle: the child is killed (and reaped by the reaper).
    let unclaimed = Unclaimed(Some(process));
    cancel_shielded_checkpoint().await?;
    Ok(unclaimed.claim())
}

/// A spawned child whose handle was not handed out yet.
struct Unclaimed(Option<Process>);

impl Unclaimed {
    fn claim(mut self) -> Process {
        self.0.take().expect("claimed once")
    }
}

impl Drop for Unclaimed {
    fn drop(&mut self) {
        if let Some(p) = &self.0 {
            let _ = p.kill();
        }
    }
}

impl Process {
    #[cfg(unix)]
    fn from_std(mut child: std::process::Child, args: Vec<OsString>, use_pidfd: bool) -> Process {
        let state = Rc::new(ChildState::new(child.id() as libc::pid_t, use_pidfd));
        // Making the fds non-blocking cannot fail for pipes std just made; should
        // it ever, the stream is dropped (closed) rather than handed out blocking.
        let stdin = child
            .stdin
            .take()
            .and_then(|s| PipeSendStream::try_from(s).ok());
        let stdout = child
            .stdout
            .take()
            .and_then(|s| PipeReceiveStream::try_from(s).ok());
        let stderr = child
            .stderr
            .take()
            .and_then(|s| PipeReceiveStream::try_from(s).ok());
        // std's `Child` neither kills nor waits on drop: the pid is ours to manage.
        drop(child);
        Process {
            child: state,
            args: args.into(),
            stdin,
            stdout,
            stderr,
        }
    }

    /// Windows: no pidfds, and std's pipes are wrapped as they are (a stream's
    /// helper thread starts only when it is used).
    #[cfg(windows)]
    fn from_std(mut child: std::process::Child, args: Vec<OsString>, _use_pidfd: bool) -> Process {
        let stdin = child
            .stdin
            .take()
            .and_then(|s| PipeSendStream::try_from(s).ok());
        let stdout = child
            .stdout
            .take()
            .and_then(|s| PipeReceiveStream::try_from(s).ok());
        let stderr = child
            .stderr
            .take()
            .and_then(|s| PipeReceiveStream::try_from(s).ok());
        Process {
            child: Rc::new(ChildState::new(child)),
            args: args.into(),
            stdin,
            stdout,
            stderr,
        }
    }

    /// A second handle on the same child, taking this one's pipes with it (for
    /// `run_process`, which keeps one handle and hands out the other).
    pub(crate) fn split_off(&mut self) -> Process {
        Process {
            child: self.child.clone(),
            args: self.args.clone(),
            stdin: self.stdin.take(),
            stdout: self.stdout.take(),
            stderr: self.stderr.take(),
        }
    }

    pub(crate) fn args_vec(&self) -> Vec<OsString> {
        self.args.to_vec()
    }

    /// The child's process id (as [`std::process::Child::id`]).
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// let proc = trio::process::open_process(std::process::Command::new("true")).await?;
    /// assert!(proc.pid() > 0);
    /// proc.wait().await?;
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn pid(&self) -> u32 {
        #[cfg(unix)]
        let pid = self.child.pid() as u32;
        #[cfg(windows)]
        let pid = self.child.pid();
        pid
    }

    /// The program and its arguments, as given to the [`Command`] (Trio's `args`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::process::Command;
    /// # trio::run(async {
    /// let proc = trio::process::open_process(Command::new("echo").arg("hi").stdout(std::process::Stdio::null())).await?;
    /// assert_eq!(proc.args(), ["echo", "hi"]);
    /// proc.wait().await?;
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn args(&self) -> &[OsString] {
        &self.args
    }

    /// True while the child is watched through a Linux pidfd: false on other
    /// systems and old kernels, where a helper thread does the watching, and once
    /// the child was reaped (the pidfd is closed then).
    ///
    /// Unix only: Windows has no pidfds (a helper thread always waits there).
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// let proc = trio::process::open_process(std::process::Command::new("true")).await?;
    /// # let _ =
    /// proc.uses_pidfd(); // true on Linux 5.3 and later
    /// proc.wait().await?;
    /// # Ok(()) }).unwrap();
    /// ```
    #[cfg(unix)]
    pub fn uses_pidfd(&self) -> bool {
        self.child.uses_pidfd()
    }

    /// The child's standard input, if it was piped and is still held here.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::process::{Command, Stdio};
    /// use trio::abc::AsyncResource;
    /// # trio::run(async {
    /// let proc = trio::process::open_process(Command::new("cat").stdin(Stdio::piped())).await?;
    /// proc.stdin().unwrap().aclose().await?; // cat sees end of file and exits
    /// assert!(proc.wait().await?.success());
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn stdin(&self) -> Option<&PipeSendStream> {
        self.stdin.as_ref()
    }

    /// The child's standard output, if it was piped and is still held here.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::process::{Command, Stdio};
    /// use trio::abc::ReceiveStream;
    /// # trio::run(async {
    /// let proc = trio::process::open_process(Command::new("printf").arg("out").stdout(Stdio::piped())).await?;
    /// let mut buf = [0u8; 8];
    /// assert_eq!(proc.stdout().unwrap().receive_some(&mut buf).await?, 3);
    /// proc.wait().await?;
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn stdout(&self) -> Option<&PipeReceiveStream> {
        self.stdout.as_ref()
    }

    /// The child's standard error, if it was piped and is still held here.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::process::{Command, Stdio};
    /// use trio::abc::ReceiveStream;
    /// # trio::run(async {
    /// let mut cmd = Command::new("sh");
    /// cmd.args(["-c", "printf err >&2"]).stderr(Stdio::piped());
    /// let proc = trio::process::open_process(cmd).await?;
    /// let mut buf = [0u8; 8];
    /// assert_eq!(proc.stderr().unwrap().receive_some(&mut buf).await?, 3);
    /// proc.wait().await?;
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn stderr(&self) -> Option<&PipeReceiveStream> {
        self.stderr.as_ref()
    }

    /// Takes the standard input stream out of the handle (to move it elsewhere).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::process::{Command, Stdio};
    /// # trio::run(async {
    /// let mut proc = trio::process::open_process(Command::new("cat").stdin(Stdio::piped())).await?;
    /// let stdin = proc.take_stdin().unwrap();
    /// assert!(proc.stdin().is_none());
    /// drop(stdin); // closes it: cat exits
    /// proc.wait().await?;
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn take_stdin(&mut self) -> Option<PipeSendStream> {
        self.stdin.take()
    }

    /// Takes the standard output stream out of the handle.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::process::{Command, Stdio};
    /// # trio::run(async {
    /// let mut proc = trio::process::open_process(Command::new("true").stdout(Stdio::piped())).await?;
    /// let stdout = proc.take_stdout();
    /// assert!(stdout.is_some() && proc.stdout().is_none());
    /// proc.wait().await?;
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn take_stdout(&mut self) -> Option<PipeReceiveStream> {
        self.stdout.take()
    }

    /// Takes the standard error stream out of the handle.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::process::{Command, Stdio};
    /// # trio::run(async {
    /// let mut proc = trio::process::open_process(Command::new("true").stderr(Stdio::piped())).await?;
    /// assert!(proc.take_stderr().is_some());
    /// proc.wait().await?;
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn take_stderr(&mut self) -> Option<PipeReceiveStream> {
        self.stderr.take()
    }

    /// Takes standard input and output together as one two-way stream (Trio's
    /// `Process.stdio`), if both were piped and are still held here. Its
    /// [`send_eof`](crate::abc::HalfCloseableStream::send_eof) closes the child's
    /// standard input.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::process::{Command, Stdio};
    /// use trio::abc::{HalfCloseableStream, ReceiveStream, SendStream};
    /// # trio::run(async {
    /// let mut cmd = Command::new("cat");
    /// cmd.stdin(Stdio::piped()).stdout(Stdio::piped());
    /// let mut proc = trio::process::open_process(cmd).await?;
    /// let stdio = proc.take_stdio().unwrap();
    /// stdio.send_all(b"echo").await?;
    /// stdio.send_eof().await?;
    /// let mut buf = [0u8; 8];
    /// assert_eq!(stdio.receive_some(&mut buf).await?, 4);
    /// proc.wait().await?;
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn take_stdio(&mut self) -> Option<StapledStream<PipeSendStream, PipeReceiveStream>> {
        if self.stdin.is_none() || self.stdout.is_none() {
            return None;
        }
        Some(StapledStream::new(self.stdin.take()?, self.stdout.take()?))
    }

    /// Waits for the child to exit, reaps it, and returns its status (Trio's
    /// `Process.wait`).
    ///
    /// Several tasks may wait at once; they are served in turn, and all get the
    /// same status. On Linux the wait is a pidfd in the run loop's reactor; without
    /// pidfds a helper thread per child waits (started once, however often `wait`
    /// is cancelled and called again).
    ///
    /// If `SIGCHLD` is ignored, the kernel reaps children itself and their status
    /// is lost: the status is then reported as success, as Python does.
    ///
    /// On Windows a helper thread per child waits on its process handle (started
    /// by the first `wait` that has to wait, ended by the exit or by dropping the
    /// last handle); once the exit is seen, the process handle is closed.
    ///
    /// # Errors
    ///
    /// `Cancelled` if cancelled; an [`Io`](crate::ErrorKind::Io) error if the
    /// helper thread cannot be started.
    ///
    /// # Cancellation
    ///
    /// A checkpoint. A cancelled `wait` reaped nothing: wait again later (or drop
    /// the handle and let the reaper do it).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::unix::process::ExitStatusExt;
    /// use std::process::Command;
    /// # trio::run(async {
    /// let proc = trio::process::open_process(Command::new("sleep").arg("100")).await?;
    /// proc.kill()?;
    /// let status = proc.wait().await?;
    /// assert_eq!(status.signal(), Some(libc::SIGKILL));
    /// assert_eq!(proc.returncode(), Some(status)); // remembered
    /// # Ok(()) }).unwrap();
    /// ```
    pub async fn wait(&self) -> Result<ExitStatus> {
        self.child.wait().await
    }

    /// The exit status if the child has exited, `None` while it runs (Trio's
    /// `Process.returncode`). Looks now, with a non-blocking `waitpid`, reaping the
    /// child if it has exited.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::process::Command;
    /// # trio::run(async {
    /// let proc = trio::process::open_process(Command::new("sleep").arg("100")).await?;
    /// assert_eq!(proc.returncode(), None);
    /// proc.kill()?;
    /// proc.wait().await?;
    /// assert!(proc.returncode().is_some());
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn returncode(&self) -> Option<ExitStatus> {
        self.child.poll()
    }

    /// The same as [`returncode`](Self::returncode) (Trio's `Process.poll`, kept for
    /// code ported from `subprocess`; std calls it `try_wait`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::process::Command;
    /// # trio::run(async {
    /// let proc = trio::process::open_process(Command::new("true")).await?;
    /// let status = proc.wait().await?;
    /// assert_eq!(proc.poll(), Some(status));
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn poll(&self) -> Option<ExitStatus> {
        self.child.poll()
    }

    /// Sends signal `sig` to the child (Trio's `Process.send_signal`). Does nothing
    /// if the child was already reaped. On Linux the signal goes through the
    /// pidfd, so it can never reach a process that happens to reuse the pid.
    ///
    /// Unix only: Windows has no POSIX signals (use [`terminate`](Self::terminate)
    /// or [`kill`](Self::kill) there).
    ///
    /// # Errors
    ///
    /// An [`Io`](crate::ErrorKind::Io) error from the kernel (an invalid signal
    /// number, or no permission).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::unix::process::ExitStatusExt;
    /// use std::process::Command;
    /// # trio::run(async {
    /// let proc = trio::process::open_process(Command::new("sleep").arg("100")).await?;
    /// proc.send_signal(libc::SIGUSR1)?;
    /// assert_eq!(proc.wait().await?.signal(), Some(libc::SIGUSR1));
    /// proc.send_signal(libc::SIGUSR1)?; // reaped: nothing happens
    /// # Ok(()) }).unwrap();
    /// ```
    #[cfg(unix)]
    pub fn send_signal(&self, sig: libc::c_int) -> Result<()> {
        self.child.send_signal(sig).map_err(Error::from)
    }

    /// Asks the child to terminate: `SIGTERM` (Trio's `Process.terminate`). A child
    /// may ignore it.
    ///
    /// On Windows, which has no polite request, this is
    /// [`kill`](Self::kill): `TerminateProcess`, exit code 1 (as Python's
    /// `terminate` there).
    ///
    /// # Errors
    ///
    /// An [`Io`](crate::ErrorKind::Io) error from the system: on Unix as
    /// `send_signal`'s, on Windows `TerminateProcess`'s (access denied).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::unix::process::ExitStatusExt;
    /// use std::process::Command;
    /// # trio::run(async {
    /// let proc = trio::process::open_process(Command::new("sleep").arg("100")).await?;
    /// proc.terminate()?;
    /// assert_eq!(proc.wait().await?.signal(), Some(libc::SIGTERM));
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn terminate(&self) -> Result<()> {
        #[cfg(unix)]
        let r = self.send_signal(libc::SIGTERM);
        #[cfg(windows)]
        let r = self.child.terminate().map_err(Error::from);
        r
    }

    /// Kills the child: `SIGKILL` (Trio's `Process.kill`), which it cannot ignore.
    /// The child dies asynchronously: [`wait`](Self::wait) for it. Does nothing if
    /// the child's exit was already seen.
    ///
    /// On Windows: `TerminateProcess` with exit code 1 (as std's `Child::kill` and
    /// Python's `kill` there), so the status of a killed child is `code() ==
    /// Some(1)`.
    ///
    /// # Errors
    ///
    /// An [`Io`](crate::ErrorKind::Io) error from the system: on Unix as
    /// `send_signal`'s, on Windows `TerminateProcess`'s (access denied).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::unix::process::ExitStatusExt;
    /// use std::process::Command;
    /// # trio::run(async {
    /// let proc = trio::process::open_process(Command::new("sleep").arg("100")).await?;
    /// proc.kill()?;
    /// assert_eq!(proc.wait().await?.signal(), Some(libc::SIGKILL));
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn kill(&self) -> Result<()> {
        #[cfg(unix)]
        let r = self.send_signal(libc::SIGKILL);
        #[cfg(windows)]
        let r = self.child.terminate().map_err(Error::from);
        r
    }
}

/// Shows the command, the pid, and "running" or how it exited.
///
/// # Examples
///
/// ```
/// use std::process::Command;
/// # trio::run(async {
/// let proc = trio::process::open_process(Command::new("true")).await?;
/// proc.wait().await?;
/// let s = format!("{proc:?}");
/// assert!(s.contains("\"true\"") && s.contains("exited with status 0"), "{s}");
/// # Ok(()) }).unwrap();
/// ```
impl fmt::Debug for Process {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.child.status() {
            None => "running".to_string(),
            Some(s) => describe_status(s),
        };
        f.debug_struct("Process")
            .field("args", &self.args)
            .field("pid", &self.child.pid())
            .field("status", &format_args!("{state}"))
            .finish()
    }
}

/// "exited with status N" / "exited with signal N" (Trio's `repr`).
#[cfg(unix)]
pub(crate) fn describe_status(s: ExitStatus) -> String {
    match (s.code(), s.signal()) {
        (Some(c), _) => format!("exited with status {c}"),
        (None, Some(sig)) => format!("exited with signal {sig}"),
        (None, None) => format!("exited ({s})"),
    }
}

/// "exited with status N" (Trio's `repr`); an `NTSTATUS` code (a crash, say
/// `0xC0000005`) in hexadecimal.
#[cfg(windows)]
pub(crate) fn describe_status(s: ExitStatus) -> String {
    match s.code() {
        Some(c) if c < 0 => format!("exited with status {:#010X}", c as u32),
        Some(c) => format!("exited with status {c}"),
        None => format!("exited ({s})"),
    }
}
