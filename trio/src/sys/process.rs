//! Children: watching for a child's exit, signalling it, reaping it. (Pipes and
//! the other calls on plain file descriptors are in `fd.rs`.)
//!
//! # The platform contract
//!
//! * On Linux 5.3+ a child is watched through a *pidfd* (`pidfd_open`), which polls
//!   readable once the child has exited, and signalled through `pidfd_send_signal`,
//!   which can never hit a recycled pid. Elsewhere, or when the kernel refuses
//!   pidfds (old kernels, some sandboxes), a helper thread blocks in
//!   `waitid(WEXITED | WNOWAIT)` — which waits for the exit *without* reaping — and
//!   then closes the write end of a pipe, whose read end stands in for the pidfd.
//! * Reaping is always `waitpid` on the child's pid, done exactly once, by whoever
//!   sees the child exit first (see `child.rs`).
//! * On Windows a child is its process handle, which std gives us: a helper thread
//!   waits on it ([`wait_exit`], together with an event that stops the wait), and
//!   [`exit_code`] asks without blocking. There are no zombies to reap: closing
//!   the handle is the whole clean-up. There are no signals either; the one way to
//!   end a child from outside is [`terminate`] (`TerminateProcess`).
//!
//! Each function retries `EINTR` where a retry is the right answer.

#[cfg(unix)]
use std::io;
#[cfg(unix)]
use std::mem::MaybeUninit;
#[cfg(unix)]
use std::os::fd::OwnedFd;

#[cfg(unix)]
use super::fd::cvt;
#[cfg(windows)]
pub(crate) use windows::{exit_code, terminate, wait_exit};

#[cfg(unix)]
/// `pidfd_open(pid, 0)`: an fd that polls readable once `pid` has exited. `None`
/// where the kernel (or the platform) has no pidfds.
pub(crate) fn pidfd_open(pid: libc::pid_t) -> Option<OwnedFd> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use std::os::fd::{FromRawFd, RawFd};
        // SAFETY: the pidfd_open system call takes a pid and flags and returns a
        // new fd (or -1); it touches no memory of ours.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if fd >= 0 {
            // SAFETY: the kernel just gave us this fd; nobody else owns it. pidfds
            // are created close-on-exec.
            return Some(unsafe { OwnedFd::from_raw_fd(fd as RawFd) });
        }
        None
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        let _ = pid;
        None
    }
}

/// Sends `sig` through a pidfd (never reaches a recycled pid).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn pidfd_send_signal(pidfd: &OwnedFd, sig: libc::c_int) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: pidfd_send_signal(fd, sig, NULL, 0): a null siginfo is allowed (the
    // kernel fills in one as kill(2) would); no memory of ours is touched.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

#[cfg(unix)]
/// `kill(pid, sig)`.
pub(crate) fn kill(pid: libc::pid_t, sig: libc::c_int) -> io::Result<()> {
    // SAFETY: kill takes plain integers and touches no memory.
    cvt(unsafe { libc::kill(pid, sig) }).map(drop)
}

#[cfg(unix)]
/// What `waitpid` said about a child.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reaped {
    /// Reaped now, with this raw wait status.
    Status(libc::c_int),
    /// Still running (only with `WNOHANG`).
    Running,
    /// Not our child any more (`ECHILD`): someone else reaped it, or `SIGCHLD` is
    /// ignored and the kernel reaped it. Its status is lost.
    Gone,
}

#[cfg(unix)]
/// `waitpid(pid, ..)`, retrying `EINTR`; `block = false` adds `WNOHANG`.
pub(crate) fn waitpid(pid: libc::pid_t, block: bool) -> io::Result<Reaped> {
    let flags = if block { 0 } else { libc::WNOHANG };
    loop {
        let mut status: libc::c_int = 0;
        // SAFETY: `status` is a valid int for waitpid to write.
        let r = unsafe { libc::waitpid(pid, &mut status, flags) };
        if r == pid {
            return Ok(Reaped::Status(status));
        }
        if r == 0 {
            return Ok(Reaped::Running);
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::ECHILD) => return Ok(Reaped::Gone),
            _ => return Err(e),
        }
    }
}

#[cfg(unix)]
/// Blocks until `pid` has exited, without reaping it (`waitid(WEXITED | WNOWAIT)`),
/// retrying `EINTR`. For the helper thread of the no-pidfd fallback.
pub(crate) fn wait_exited_no_reap(pid: libc::pid_t) -> io::Result<()> {
    loop {
        let mut info = MaybeUninit::<libc::siginfo_t>::zeroed();
        // SAFETY: `info` is valid, zeroed storage for one siginfo_t.
        let r = unsafe {
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                info.as_mut_ptr(),
                libc::WEXITED | libc::WNOWAIT,
            )
        };
        if r == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    }
}

#[cfg(windows)]
mod windows {
    use std::io;
    use std::os::windows::io::{AsRawHandle, BorrowedHandle};

    use windows_sys::Win32::Foundation::{FALSE, WAIT_FAILED, WAIT_OBJECT_0, WAIT_TIMEOUT};
    use windows_sys::Win32::System::Threading::{
        GetExitCodeProcess, INFINITE, TerminateProcess, WaitForMultipleObjects, WaitForSingleObject,
    };

    use crate::sys::handle::Event;

    /// The exit code of `process` if it has exited, `None` while it runs (never
    /// blocks; a process that exits with code 259, `STILL_ACTIVE`, is not mistaken
    /// for a running one).
    pub(crate) fn exit_code(process: BorrowedHandle<'_>) -> io::Result<Option<u32>> {
        let h = process.as_raw_handle();
        // SAFETY: `h` is a process handle, open for the call; a zero timeout.
        match unsafe { WaitForSingleObject(h, 0) } {
            WAIT_OBJECT_0 => {}
            WAIT_TIMEOUT => return Ok(None),
            _ => return Err(io::Error::last_os_error()),
        }
        let mut code = 0u32;
        // SAFETY: as above; `code` is valid for the write.
        if unsafe { GetExitCodeProcess(h, &mut code) } == FALSE {
            return Err(io::Error::last_os_error());
        }
        Ok(Some(code))
    }

    /// Blocks until `process` has exited (`Ok(true)`) or `stop` is set
    /// (`Ok(false)`).
    pub(crate) fn wait_exit(process: BorrowedHandle<'_>, stop: &Event) -> io::Result<bool> {
        let handles = [process.as_raw_handle(), stop.handle().as_raw_handle()];
        // SAFETY: two handles, both open for the call (the caller holds them),
        // and we pass their number; wait for any one, for ever.
        match unsafe { WaitForMultipleObjects(2, handles.as_ptr(), FALSE, INFINITE) } {
            WAIT_OBJECT_0 => Ok(true),
            WAIT_FAILED => Err(io::Error::last_os_error()),
            _ => Ok(false),
        }
    }

    /// Ends `process` at once with exit code `code` (`TerminateProcess`). It dies
    /// asynchronously: wait for it.
    pub(crate) fn terminate(process: BorrowedHandle<'_>, code: u32) -> io::Result<()> {
        // SAFETY: `process` is a process handle, open for the call.
        if unsafe { TerminateProcess(process.as_raw_handle(), code) } == FALSE {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}
