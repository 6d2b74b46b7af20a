//! Signal numbers and dispositions: which signals a program may receive, and
//! whether one is handled the default way.
//!
//! Contract: [`check_signal`] accepts exactly the signals a handler can be
//! installed for and that trio does not own (SIGINT is Ctrl-C's), with an
//! `InvalidInput` error naming the signal otherwise; [`NSIG`] is one past the
//! largest signal number of the system, so tables indexed by signal number
//! cover every signal.

use std::io;
use std::mem::MaybeUninit;

use libc::c_int;

use crate::{Error, ErrorKind, Result};

/// One past the largest signal number: Linux's `SIGRTMAX` is 64, FreeBSD's
/// 126, macOS has 31 signals.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) const NSIG: usize = 65;
/// One past the largest signal number: Linux's `SIGRTMAX` is 64, FreeBSD's
/// 126, macOS has 31 signals.
#[cfg(target_os = "freebsd")]
pub(crate) const NSIG: usize = 127;
/// One past the largest signal number: Linux's `SIGRTMAX` is 64, FreeBSD's
/// 126, macOS has 31 signals.
#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
pub(crate) const NSIG: usize = 32;

/// True if the signal's disposition is the default (`SIG_DFL`).
pub(crate) fn disposition_is_default(sig: c_int) -> io::Result<bool> {
    let mut old = MaybeUninit::<libc::sigaction>::zeroed();
    // SAFETY: with a null new action, sigaction only writes the current one into
    // `old`, which is valid storage for a `struct sigaction`.
    if unsafe { libc::sigaction(sig, std::ptr::null(), old.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: sigaction succeeded and filled in `old` (it was zeroed before, too).
    let old = unsafe { old.assume_init() };
    Ok(old.sa_sigaction == libc::SIG_DFL)
}

/// Whether `sig` can be received by a trio program: in range, not SIGINT (trio's
/// Ctrl-C handling owns it), and neither uncatchable (SIGKILL, SIGSTOP) nor a
/// synchronous fault (SIGSEGV, SIGBUS, SIGILL, SIGFPE).
///
/// # Errors
///
/// [`ErrorKind::InvalidInput`] naming the signal and why.
pub(crate) fn check_signal(sig: c_int) -> Result<()> {
    if sig <= 0 || sig as usize >= NSIG {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!("signal number {sig} is out of range"),
        ));
    }
    if sig == libc::SIGINT {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            "SIGINT belongs to trio's Ctrl-C handling and cannot be received \
             (see trio::Builder::handle_ctrl_c)",
        ));
    }
    if signal_hook::consts::FORBIDDEN.contains(&sig) || sig == libc::SIGBUS {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!(
                "signal {} cannot be received (it cannot be caught, or is a synchronous fault)",
                signal_hook::low_level::signal_name(sig).unwrap_or("?")
            ),
        ));
    }
    Ok(())
}

/// Writes one byte to `fd` from inside a signal handler (the self-pipe trick):
/// one `write(2)`, which is async-signal-safe; errors (a full pipe) are ignored.
/// The caller keeps `fd` open for as long as the handler may run.
pub(crate) fn write_byte_in_handler(fd: std::os::fd::RawFd, byte: u8) {
    let byte = [byte];
    // SAFETY: write(2) is async-signal-safe; `byte` is valid for one byte for the
    // whole call; an invalid fd would be EBADF, not undefined behaviour.
    unsafe { libc::write(fd, byte.as_ptr().cast(), 1) };
}
