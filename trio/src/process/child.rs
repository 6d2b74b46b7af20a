//! The state of one child process, shared by every [`Process`](super::Process)
//! handle for it (the one `run_process` keeps and the one it hands out).
//!
//! # Invariants
//!
//! * `status` is `Some` exactly when the child has been reaped — by us, with
//!   `waitpid`, exactly once. Before that the pid is still ours (a zombie keeps it),
//!   so signalling it can never hit an unrelated process; after it, nothing is
//!   ever sent to the pid again.
//! * `exit_fd` polls readable once the child has exited: the pidfd, or the read
//!   end of the pipe whose write end the fallback helper thread closes when
//!   `waitid(WNOWAIT)` returns. It is created at spawn (pidfd) or at the first
//!   wait (thread), and closed as soon as the child is reaped, after
//!   `notify_closing` (a task waiting on it then wakes with `ClosedResource`, and
//!   finds `status` set).
//! * Only the holder of `wait_lock` waits on `exit_fd` (one waiter per fd, as the
//!   reactor requires); the other waiters queue on the lock and find `status` set
//!   when their turn comes.
//! * When the last handle goes away before the child was reaped, the pid and its
//!   `exit_fd` go to the process-wide reaper thread (`reaper.rs`): never a zombie.

use std::cell::{Cell, RefCell};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

use super::reaper;
use crate::lowlevel::{notify_closing, try_current_task, wait_readable};
use crate::sync::Lock;
use crate::sys;
use crate::{ErrorKind, Result};

/// Where the "child has exited" readiness comes from.
pub(crate) enum ExitFd {
    /// A pidfd (Linux 5.3+).
    Pidfd(OwnedFd),
    /// The read end of a pipe whose write end a helper thread closes once
    /// `waitid(WEXITED | WNOWAIT)` returns.
    Thread(OwnedFd),
}

impl ExitFd {
    pub(crate) fn into_fd(self) -> OwnedFd {
        match self {
            ExitFd::Pidfd(fd) | ExitFd::Thread(fd) => fd,
        }
    }

    fn raw(&self) -> RawFd {
        match self {
            ExitFd::Pidfd(fd) | ExitFd::Thread(fd) => fd.as_raw_fd(),
        }
    }
}

/// Starts the fallback helper thread for `pid`: returns the read end that becomes
/// readable (end of file) once the child has exited.
fn spawn_exit_thread(pid: libc::pid_t) -> std::io::Result<OwnedFd> {
    let (r, w) = sys::fd::pipe()?;
    std::thread::Builder::new()
        .name(format!("trio-waitid-{pid}"))
        .spawn(move || {
            // Whatever waitid says (exited, or ECHILD because the child is not
            // ours to wait for), closing `w` tells the loop to look.
            let _ = sys::process::wait_exited_no_reap(pid);
            drop(w);
        })?;
    Ok(r)
}

pub(crate) struct ChildState {
    pid: libc::pid_t,
    exit_fd: RefCell<Option<ExitFd>>,
    status: Cell<Option<ExitStatus>>,
    wait_lock: Lock,
}

impl ChildState {
    /// Takes charge of a freshly spawned child. `use_pidfd = false` forces the
    /// helper-thread fallback (for tests).
    pub(crate) fn new(pid: libc::pid_t, use_pidfd: bool) -> ChildState {
        let exit_fd = if use_pidfd {
            sys::process::pidfd_open(pid).map(ExitFd::Pidfd)
        } else {
            None
        };
        ChildState {
            pid,
            exit_fd: RefCell::new(exit_fd),
            status: Cell::new(None),
            wait_lock: Lock::new(),
        }
    }

    pub(crate) fn pid(&self) -> libc::pid_t {
        self.pid
    }

    pub(crate) fn uses_pidfd(&self) -> bool {
        matches!(&*self.exit_fd.borrow(), Some(ExitFd::Pidfd(_)))
    }

    /// The status if the child was reaped; otherwise one `waitpid(WNOHANG)`.
    pub(crate) fn poll(&self) -> Option<ExitStatus> {
        if let Some(s) = self.status.get() {
            return Some(s);
        }
        match sys::process::waitpid(self.pid, false) {
            Ok(sys::process::Reaped::Running) => None,
            Ok(r) => Some(self.record(r)),
            // waitpid(WNOHANG) on our own child fails only with ECHILD (mapped to
            // Gone) or EINVAL (impossible flags): treat anything else as running.
            Err(_) => None,
        }
    }

    /// Records the reaping: the status, and the exit fd is closed.
    fn record(&self, r: sys::process::Reaped) -> ExitStatus {
        let status = match r {
            sys::process::Reaped::Status(raw) => ExitStatus::from_raw(raw),
            // The exit status is unknowable (SIGCHLD ignored, or reaped behind our
            // back): report success, as Python's subprocess does.
            sys::process::Reaped::Gone | sys::process::Reaped::Running => ExitStatus::from_raw(0),
        };
        self.status.set(Some(status));
        if let Some(fd) = self.exit_fd.borrow_mut().take() {
            if try_current_task().is_some() {
                notify_closing(fd.raw());
            }
            drop(fd);
        }
        status
    }

    /// Waits for the child to exit and reaps it.
    pub(crate) async fn wait(&self) -> Result<ExitStatus> {
        let _turn = self.wait_lock.lock().await?;
        if let Some(s) = self.poll() {
            return Ok(s);
        }
        let raw = self.ensure_exit_fd()?;
        match wait_readable(raw).await {
            Ok(()) => {}
            // `poll` reaped the child (and closed the fd) while we waited.
            Err(e) if e.kind() == ErrorKind::ClosedResource => {}
            Err(e) => return Err(e),
        }
        if let Some(s) = self.status.get() {
            return Ok(s);
        }
        // The child has exited: this returns at once. (Blocking rather than
        // WNOHANG covers kernels that report the exit a moment before waitpid can
        // see it, as Trio notes for kqueue.)
        let r = sys::process::waitpid(self.pid, true)?;
        Ok(self.record(r))
    }

    /// The exit fd, starting the helper thread if there is no pidfd.
    fn ensure_exit_fd(&self) -> Result<RawFd> {
        let mut slot = self.exit_fd.borrow_mut();
        if slot.is_none() {
            *slot = Some(ExitFd::Thread(spawn_exit_thread(self.pid)?));
        }
        Ok(slot.as_ref().map(ExitFd::raw).expect("just set"))
    }

    pub(crate) fn status(&self) -> Option<ExitStatus> {
        self.status.get()
    }

    /// Sends `sig`, unless the child was already reaped (then the pid may belong to
    /// someone else, and this does nothing).
    pub(crate) fn send_signal(&self, sig: libc::c_int) -> std::io::Result<()> {
        if self.status.get().is_some() {
            return Ok(());
        }
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if let Some(ExitFd::Pidfd(fd)) = &*self.exit_fd.borrow() {
            return match sys::process::pidfd_send_signal(fd, sig) {
                // Exited but not reaped yet: nothing to signal.
                Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(()),
                r => r,
            };
        }
        // No pidfd: reap first if it already exited, as Python's subprocess does, to
        // shrink the window in which a child auto-reaped behind our back (SIGCHLD
        // ignored) could have its pid recycled.
        if self.poll().is_some() {
            return Ok(());
        }
        match sys::process::kill(self.pid, sig) {
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(()),
            r => r,
        }
    }
}

impl Drop for ChildState {
    fn drop(&mut self) {
        if self.poll().is_some() {
            return;
        }
        // Still running: the reaper thread waits for it. It needs an exit fd; make
        // one if we never waited (no pidfd and no helper thread yet).
        let fd = match self.exit_fd.borrow_mut().take() {
            Some(fd) => {
                if try_current_task().is_some() {
                    // Leave the reactor: the fd is about to live elsewhere.
                    notify_closing(fd.raw());
                }
                Some(fd.into_fd())
            }
            None => spawn_exit_thread(self.pid).ok(),
        };
        reaper::adopt(self.pid, fd);
    }
}
