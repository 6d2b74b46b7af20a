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
//!
//! Each function retries `EINTR` where a retry is the right answer.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;

use super::fd::cvt;

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

/// `kill(pid, sig)`.
pub(crate) fn kill(pid: libc::pid_t, sig: libc::c_int) -> io::Result<()> {
    // SAFETY: kill takes plain integers and touches no memory.
    cvt(unsafe { libc::kill(pid, sig) }).map(drop)
}

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
