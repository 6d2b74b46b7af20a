//! What the reactor watches: a raw file descriptor on Unix, a raw socket on
//! Windows, and how it is registered with mio.
//!
//! Contract: [`RawSource`] is the platform's raw handle for things the reactor
//! can watch. [`Registered::register`] makes the kernel report readiness for it
//! under a token (level or edge semantics as mio gives them); the caller keeps the
//! handle open while it is registered and calls [`Registered::deregister`] before
//! closing it. [`Registered::rearm`] asks for the next report:
//!
//! * on Unix (epoll, kqueue) registration is *persistent*: `rearm` re-states the
//!   interest (`EPOLL_CTL_MOD`), which also reports current readiness again —
//!   the one-shot, level-style waits use it;
//! * on Windows (mio's AFD polling) a registration reports *once*, and must be
//!   re-armed after each report before the next can come — every wait that has to
//!   block calls it, and persistent registrations call it when an operation would
//!   block. mio can only watch the sockets its own types hold, so the raw socket is
//!   lent to a `mio::net::TcpStream` that never closes it (any socket type polls
//!   the same way underneath).

use std::io;

use mio::{Interest, Registry, Token};

/// A raw file descriptor (Unix) or raw socket (Windows): what `wait_readable`,
/// `wait_writable`, `notify_closing` and `IoRegistration` take.
#[cfg(unix)]
pub type RawSource = std::os::fd::RawFd;
/// A raw file descriptor (Unix) or raw socket (Windows): what `wait_readable`,
/// `wait_writable`, `notify_closing` and `IoRegistration` take.
#[cfg(windows)]
pub type RawSource = std::os::windows::io::RawSocket;

/// A handle that is no handle (a closed socket's, a custom socket's).
#[cfg(unix)]
pub(crate) const INVALID: RawSource = -1;
/// A handle that is no handle (a closed socket's, a custom socket's).
#[cfg(windows)]
pub(crate) const INVALID: RawSource =
    windows_sys::Win32::Networking::WinSock::INVALID_SOCKET as RawSource;

/// A raw source registered with a reactor (see the module's contract).
pub(crate) struct Registered {
    #[cfg(unix)]
    fd: RawSource,
    /// Lent to mio, never closed by it: `Drop` takes the socket back out with
    /// `into_raw_socket`. (`Some` until then.)
    #[cfg(windows)]
    sock: Option<mio::net::TcpStream>,
}

impl Registered {
    /// Registers `raw` for `interest` under `token`.
    pub(crate) fn register(
        registry: &Registry,
        raw: RawSource,
        token: Token,
        interest: Interest,
    ) -> io::Result<Registered> {
        #[cfg(unix)]
        {
            let fd = raw;
            match registry.register(&mut mio::unix::SourceFd(&fd), token, interest) {
                // Registered already (by an earlier wait that was not cleaned up
                // the usual way): take it over.
                Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                    registry.reregister(&mut mio::unix::SourceFd(&fd), token, interest)?
                }
                r => r?,
            }
            Ok(Registered { fd })
        }
        #[cfg(windows)]
        {
            use std::os::windows::io::FromRawSocket;
            // SAFETY: `raw` is a socket the caller keeps open while registered;
            // the `TcpStream` made from it never closes it: `Drop` takes the
            // socket back out with `into_raw_socket`, which closes nothing. mio
            // only polls it (AFD), whatever the socket's type.
            let std_sock = unsafe { std::net::TcpStream::from_raw_socket(raw) };
            let mut me = Registered {
                sock: Some(mio::net::TcpStream::from_std(std_sock)),
            };
            registry.register(me.sock_mut(), token, interest)?;
            Ok(me)
        }
    }

    /// Asks for the next readiness report (see the module's contract).
    pub(crate) fn rearm(
        &mut self,
        registry: &Registry,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        #[cfg(unix)]
        {
            match registry.reregister(&mut mio::unix::SourceFd(&self.fd), token, interest) {
                // The fd was closed and reopened behind our back: register anew.
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                    registry.register(&mut mio::unix::SourceFd(&self.fd), token, interest)
                }
                r => r,
            }
        }
        #[cfg(windows)]
        {
            registry.reregister(self.sock_mut(), token, interest)
        }
    }

    /// Stops watching (errors are ignored: the source may be closed already).
    /// Drop it afterwards.
    pub(crate) fn deregister(&mut self, registry: &Registry) {
        #[cfg(unix)]
        {
            let _ = registry.deregister(&mut mio::unix::SourceFd(&self.fd));
        }
        #[cfg(windows)]
        {
            let _ = registry.deregister(self.sock_mut());
        }
    }
}

#[cfg(windows)]
impl Registered {
    fn sock_mut(&mut self) -> &mut mio::net::TcpStream {
        self.sock.as_mut().expect("present until dropped")
    }
}

#[cfg(windows)]
impl Drop for Registered {
    fn drop(&mut self) {
        use std::os::windows::io::IntoRawSocket;
        if let Some(sock) = self.sock.take() {
            // The socket is the caller's: taken back out, not closed.
            let _ = sock.into_raw_socket();
        }
    }
}
