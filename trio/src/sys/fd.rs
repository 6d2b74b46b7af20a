//! Plain file descriptors: pipes, non-blocking mode, `read`, `write`, `poll`.
//!
//! Contract: pipes are created close-on-exec (atomically where the system can,
//! with `pipe2`); [`set_nonblocking`] reports the previous mode so that a caller
//! can put it back; [`poll_now`] never blocks; [`poll_blocking`] retries
//! `EINTR`. Errors are the OS's own (`io::Error::last_os_error`).

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// `-1` becomes the current `errno`.
pub(crate) fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// Sets or clears `O_NONBLOCK`; returns whether the fd was non-blocking before.
pub(crate) fn set_nonblocking(fd: RawFd, nonblocking: bool) -> io::Result<bool> {
    // SAFETY: `fcntl` with F_GETFL/F_SETFL only reads and writes the file status
    // flags of `fd`; an invalid fd is reported as EBADF, not undefined behaviour.
    let flags = cvt(unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
    let was = flags & libc::O_NONBLOCK != 0;
    let new = if nonblocking {
        flags | libc::O_NONBLOCK
    } else {
        flags & !libc::O_NONBLOCK
    };
    if new != flags {
        // SAFETY: as above.
        cvt(unsafe { libc::fcntl(fd, libc::F_SETFL, new) })?;
    }
    Ok(was)
}

/// A new pipe, both ends close-on-exec: `(read end, write end)`.
pub(crate) fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [-1 as libc::c_int; 2];
    #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
    {
        // SAFETY: `fds` is a valid array of two ints for pipe2 to fill in.
        cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    }
    #[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
    {
        // SAFETY: `fds` is a valid array of two ints for pipe to fill in.
        cvt(unsafe { libc::pipe(fds.as_mut_ptr()) })?;
        for fd in fds {
            // SAFETY: `fd` was just returned by pipe and is open.
            cvt(unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) })?;
        }
    }
    // SAFETY: pipe2/pipe succeeded, so both fds are open and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// `read(2)` into `buf`.
pub(crate) fn read(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes for the whole call.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// `write(2)` from `buf`.
pub(crate) fn write(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for reads of `buf.len()` bytes for the whole call.
    let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// A zero-timeout `poll(2)`: `Ok` if any of `events` (or an error or hang-up) is
/// reported now, `WouldBlock` otherwise.
pub(crate) fn poll_now(fd: RawFd, events: libc::c_short) -> io::Result<()> {
    let mut pfd = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    // SAFETY: `pfd` is one valid pollfd, and we pass a count of 1.
    let n = cvt(unsafe { libc::poll(&mut pfd, 1, 0) })?;
    if n == 0 {
        Err(io::ErrorKind::WouldBlock.into())
    } else {
        Ok(())
    }
}

/// Blocks in `poll(2)` on `fds` until one is ready, or until `timeout_ms`
/// milliseconds have passed (`None`: no timeout).
pub(crate) fn poll_blocking(fds: &mut [libc::pollfd], timeout_ms: Option<i32>) -> io::Result<()> {
    loop {
        let timeout = timeout_ms.unwrap_or(-1);
        // SAFETY: `fds` is a valid slice of pollfds and we pass its length.
        match cvt(unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) }) {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}
