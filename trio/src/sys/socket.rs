//! Sockets where the systems differ: creating one non-blocking, asking a socket
//! its family and protocol, never raising `SIGPIPE`, sharing a port among
//! listeners, and the options only some systems have.
//!
//! Contract:
//! * [`new_nonblocking`] returns a close-on-exec, non-blocking socket that never
//!   raises `SIGPIPE` when sent to with [`SEND_FLAGS`] (one system call on Linux;
//!   elsewhere two more, with `SO_NOSIGPIPE` on Apple systems, which lack
//!   `MSG_NOSIGNAL`);
//! * [`domain_of`] tells any socket's family on Linux; elsewhere (no
//!   `SO_DOMAIN`) only a bound or connected socket's, with a `Usage` error saying
//!   so for the others; [`protocol_of`] is `None` where the system cannot tell;
//! * [`REUSE_PORT`] is the option that lets live listeners share a port *and
//!   spreads connections among them* where the system can;
//! * an option some systems lack is an `Option` here: `None` means "nothing to
//!   set on this system".

use std::io;

use socket2::{Domain, Protocol, Type};

use crate::Result;

/// `send` flags: never raise `SIGPIPE` for a peer that went away. Apple systems
/// say it on the socket instead (`SO_NOSIGPIPE`, see [`no_sigpipe`]).
#[cfg(all(unix, not(target_vendor = "apple")))]
pub(crate) const SEND_FLAGS: libc::c_int = libc::MSG_NOSIGNAL;
/// `send` flags: nothing on Apple systems, where the socket itself says
/// `SO_NOSIGPIPE` (see [`no_sigpipe`]).
#[cfg(any(target_vendor = "apple", windows))]
pub(crate) const SEND_FLAGS: i32 = 0;

/// The option that lets several live listeners share a port and spreads the
/// port's incoming connections among them: `SO_REUSEPORT` on Linux, where it
/// balances. FreeBSD's `SO_REUSEPORT` only shares the port, leaving every
/// connection to one of the listeners; its balancing option is
/// `SO_REUSEPORT_LB`. macOS has no balancing option: there the listeners share
/// the port, and the connections go to one of them.
#[cfg(target_os = "freebsd")]
pub(crate) const REUSE_PORT: libc::c_int = libc::SO_REUSEPORT_LB;
/// See the FreeBSD variant: `SO_REUSEPORT` elsewhere.
#[cfg(all(unix, not(target_os = "freebsd")))]
pub(crate) const REUSE_PORT: libc::c_int = libc::SO_REUSEPORT;
/// Windows has no option that shares a port among live listeners and spreads
/// connections (`SO_REUSEADDR` there lets another program steal the port):
/// `LoopListener::reuse_port` is refused, use `handoff`.
#[cfg(windows)]
pub(crate) const REUSE_PORT: i32 = -1;

/// `(level, option)` of `TCP_NOTSENT_LOWAT`, which keeps unsent data in the
/// application (where a cancelled send can still take it back) rather than in
/// the kernel: Linux only.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) const TCP_NOTSENT_LOWAT: Option<(libc::c_int, libc::c_int)> =
    Some((libc::IPPROTO_TCP, libc::TCP_NOTSENT_LOWAT));
/// Not on this system.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) const TCP_NOTSENT_LOWAT: Option<(i32, i32)> = None;

/// `(level, option)` of `IP_BIND_ADDRESS_NO_PORT`: bind an outgoing socket's
/// address without taking a port until `connect` knows the peer. Linux only.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) const IP_BIND_ADDRESS_NO_PORT: Option<(libc::c_int, libc::c_int)> =
    Some((libc::IPPROTO_IP, libc::IP_BIND_ADDRESS_NO_PORT));
/// Not on this system.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) const IP_BIND_ADDRESS_NO_PORT: Option<(i32, i32)> = None;

/// Errors of `accept(2)` that concern one incoming connection, not the listener:
/// skipped (Trio's `_ignorable_accept_errnos`, after Twisted, Tornado, libuv and
/// asyncio; see the essay in Trio's `_highlevel_socket.py`).
#[cfg(unix)]
pub(crate) const IGNORABLE_ACCEPT_ERRNOS: &[i32] = &[
    libc::EPERM,
    libc::ECONNABORTED,
    libc::EPROTO,
    libc::ENETDOWN,
    libc::ENOPROTOOPT,
    libc::EHOSTDOWN,
    #[cfg(any(target_os = "linux", target_os = "android"))]
    libc::ENONET,
    libc::EHOSTUNREACH,
    libc::EOPNOTSUPP,
    libc::ENETUNREACH,
    #[cfg(any(target_os = "linux", target_os = "android"))]
    libc::ENOSR,
    libc::ESOCKTNOSUPPORT,
    libc::EPROTONOSUPPORT,
    libc::ETIMEDOUT,
    libc::ECONNRESET,
];

/// Asks the kernel for the connections that arrive on `cpu` (`SO_INCOMING_CPU`,
/// Linux); elsewhere nothing, and connections go where the system sends them.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn set_incoming_cpu(sock: &socket2::Socket, cpu: usize) -> io::Result<()> {
    sock.set_cpu_affinity(cpu)
}

/// Asks the kernel for the connections that arrive on `cpu`: not on this
/// system (the connections go where the system sends them).
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn set_incoming_cpu(_sock: &socket2::Socket, _cpu: usize) -> io::Result<()> {
    Ok(())
}

#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn new_nonblocking(
    domain: Domain,
    ty: Type,
    protocol: Option<Protocol>,
) -> io::Result<socket2::Socket> {
    // One system call: SOCK_NONBLOCK here, SOCK_CLOEXEC added by socket2.
    socket2::Socket::new(domain, ty.nonblocking(), protocol)
}

#[cfg(all(unix, not(any(target_os = "linux", target_os = "android"))))]
pub(crate) fn new_nonblocking(
    domain: Domain,
    ty: Type,
    protocol: Option<Protocol>,
) -> io::Result<socket2::Socket> {
    let s = socket2::Socket::new(domain, ty, protocol)?;
    s.set_nonblocking(true)?;
    no_sigpipe(&s)?;
    Ok(s)
}

/// The socket's address family: `SO_DOMAIN`.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn domain_of(sock: &socket2::Socket) -> Result<Domain> {
    Ok(sock.domain()?)
}

/// The socket's address family. macOS and the BSDs have no `SO_DOMAIN`; the
/// family of the local address tells it, once the socket has one.
#[cfg(all(unix, not(any(target_os = "linux", target_os = "android"))))]
pub(crate) fn domain_of(sock: &socket2::Socket) -> Result<Domain> {
    let family = sock.local_addr()?.family();
    if family == libc::AF_UNSPEC as libc::sa_family_t {
        return Err(crate::Error::new(
            crate::ErrorKind::Usage,
            "cannot tell the address family of a socket with no address on this system: \
             bind or connect it before adopting it",
        ));
    }
    Ok(Domain::from(libc::c_int::from(family)))
}

/// The socket's protocol (`SO_PROTOCOL`), where the system tells it.
#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
pub(crate) fn protocol_of(sock: &socket2::Socket) -> Option<Protocol> {
    sock.protocol().ok().flatten()
}

/// The socket's protocol: unknown on systems without `SO_PROTOCOL`.
#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
pub(crate) fn protocol_of(_sock: &socket2::Socket) -> Option<Protocol> {
    None
}

/// Apple systems have no `MSG_NOSIGNAL` for `send`: the socket itself is told
/// never to raise `SIGPIPE` (`SO_NOSIGPIPE`). Elsewhere each send says so.
#[cfg(target_vendor = "apple")]
pub(crate) fn no_sigpipe(sock: &socket2::Socket) -> io::Result<()> {
    sock.set_nosigpipe(true)
}

/// Each send says `MSG_NOSIGNAL` here (or, on Windows, there is no `SIGPIPE`):
/// nothing to set on the socket.
#[cfg(not(target_vendor = "apple"))]
pub(crate) fn no_sigpipe(_sock: &socket2::Socket) -> io::Result<()> {
    Ok(())
}

/// `setsockopt` with a buffer, on a socket2 socket (for the options socket2 has
/// no method for).
#[cfg(unix)]
pub(crate) fn setsockopt_bytes(
    s: &socket2::Socket,
    level: i32,
    name: i32,
    value: &[u8],
) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: a valid fd (the socket is open while borrowed), a pointer/length
    // pair describing `value`, which outlives the call.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            level,
            name,
            value.as_ptr().cast(),
            value.len() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `getsockopt` into a buffer, on a socket2 socket; returns the length the
/// system filled.
#[cfg(unix)]
pub(crate) fn getsockopt_bytes(
    s: &socket2::Socket,
    level: i32,
    name: i32,
    buf: &mut [u8],
) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    let mut len = buf.len() as libc::socklen_t;
    // SAFETY: a valid fd (the socket is open while borrowed), a buffer and its
    // length as the in/out length.
    let rc = unsafe {
        libc::getsockopt(
            s.as_raw_fd(),
            level,
            name,
            buf.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if rc == 0 {
        Ok(len as usize)
    } else {
        Err(io::Error::last_os_error())
    }
}

// ---- the same, on Windows --------------------------------------------------------

/// Errors of `accept` that concern one incoming connection, not the listener
/// (Windows' error numbers for the same cases as on Unix).
#[cfg(windows)]
pub(crate) const IGNORABLE_ACCEPT_ERRNOS: &[i32] = {
    use windows_sys::Win32::Networking::WinSock as ws;
    &[
        ws::WSAECONNRESET,
        ws::WSAECONNABORTED,
        ws::WSAENETDOWN,
        ws::WSAENOPROTOOPT,
        ws::WSAEHOSTDOWN,
        ws::WSAEHOSTUNREACH,
        ws::WSAEOPNOTSUPP,
        ws::WSAENETUNREACH,
        ws::WSAETIMEDOUT,
    ]
};

/// Windows: a socket made non-blocking (sockets there are not inherited by
/// children unless asked; there is no `SIGPIPE`).
#[cfg(windows)]
pub(crate) fn new_nonblocking(
    domain: Domain,
    ty: Type,
    protocol: Option<Protocol>,
) -> io::Result<socket2::Socket> {
    let s = socket2::Socket::new(domain, ty, protocol)?;
    s.set_nonblocking(true)?;
    Ok(s)
}

/// Windows: the family of the socket's local address (bind or connect it before
/// adopting it).
#[cfg(windows)]
pub(crate) fn domain_of(sock: &socket2::Socket) -> Result<Domain> {
    let addr = sock.local_addr()?;
    match addr.as_socket() {
        Some(a) => Ok(Domain::for_address(a)),
        None => Err(crate::Error::new(
            crate::ErrorKind::Usage,
            "cannot tell the address family of a socket with no address on this system: \
             bind or connect it before adopting it",
        )),
    }
}

/// `setsockopt` with a buffer (Windows).
#[cfg(windows)]
pub(crate) fn setsockopt_bytes(
    s: &socket2::Socket,
    level: i32,
    name: i32,
    value: &[u8],
) -> io::Result<()> {
    use std::os::windows::io::AsRawSocket;
    // SAFETY: a valid socket (open while borrowed), a pointer/length pair
    // describing `value`, which outlives the call.
    let rc = unsafe {
        windows_sys::Win32::Networking::WinSock::setsockopt(
            s.as_raw_socket() as usize,
            level,
            name,
            value.as_ptr(),
            value.len() as i32,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `getsockopt` into a buffer (Windows); returns the length filled.
#[cfg(windows)]
pub(crate) fn getsockopt_bytes(
    s: &socket2::Socket,
    level: i32,
    name: i32,
    buf: &mut [u8],
) -> io::Result<usize> {
    use std::os::windows::io::AsRawSocket;
    let mut len = buf.len() as i32;
    // SAFETY: a valid socket (open while borrowed), a buffer and its length as
    // the in/out length.
    let rc = unsafe {
        windows_sys::Win32::Networking::WinSock::getsockopt(
            s.as_raw_socket() as usize,
            level,
            name,
            buf.as_mut_ptr(),
            &mut len,
        )
    };
    if rc == 0 {
        Ok(len as usize)
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `Ok` if the socket reports `write` (or read) readiness now, `WouldBlock`
/// otherwise (a zero-timeout poll).
pub(crate) fn poll_now(sock: &socket2::Socket, write: bool) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        let events = if write { libc::POLLOUT } else { libc::POLLIN };
        super::fd::poll_now(sock.as_raw_fd(), events)
    }
    #[cfg(windows)]
    {
        use std::os::windows::io::AsRawSocket;
        use windows_sys::Win32::Networking::WinSock as ws;
        let mut pfd = ws::WSAPOLLFD {
            fd: sock.as_raw_socket() as usize,
            events: if write {
                ws::POLLWRNORM
            } else {
                ws::POLLRDNORM
            },
            revents: 0,
        };
        // SAFETY: one valid `WSAPOLLFD`, a count of one, and no timeout.
        let n = unsafe { ws::WSAPoll(&mut pfd, 1, 0) };
        match n {
            n if n < 0 => Err(io::Error::last_os_error()),
            0 => Err(io::ErrorKind::WouldBlock.into()),
            _ => Ok(()),
        }
    }
}

/// Socket option names, by platform (`setsockopt` levels and options trio sets).
pub(crate) mod opt {
    #[cfg(unix)]
    pub(crate) use libc::{
        IPPROTO_IPV6, IPPROTO_TCP, IPV6_V6ONLY, SO_ACCEPTCONN, SO_REUSEADDR, SOL_SOCKET,
        TCP_NODELAY,
    };
    #[cfg(windows)]
    pub(crate) use windows_sys::Win32::Networking::WinSock::{
        IPPROTO_IPV6, IPPROTO_TCP, IPV6_V6ONLY, SO_ACCEPTCONN, SOL_SOCKET, TCP_NODELAY,
    };
}

/// The raw handle of a socket2 socket, as the reactor takes it.
pub(crate) fn raw_source(sock: &socket2::Socket) -> super::source::RawSource {
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        sock.as_raw_fd()
    }
    #[cfg(windows)]
    {
        use std::os::windows::io::AsRawSocket;
        sock.as_raw_socket()
    }
}

/// A connected pair of sockets; the domain they really have comes back with them.
/// Windows has no `socketpair`: as Python's `socket.socketpair` does there, two
/// TCP sockets are connected through a listener on loopback (streams only).
pub(crate) fn socketpair(
    domain: Domain,
    ty: Type,
    protocol: Option<Protocol>,
) -> io::Result<(Domain, socket2::Socket, socket2::Socket)> {
    #[cfg(unix)]
    {
        let (a, b) = socket2::Socket::pair(domain, ty, protocol)?;
        Ok((domain, a, b))
    }
    #[cfg(windows)]
    {
        let _ = (domain, protocol);
        if ty != Type::STREAM {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "socket pairs on Windows are TCP streams over loopback: only Type::STREAM",
            ));
        }
        let listener = socket2::Socket::new(Domain::IPV4, Type::STREAM, None)?;
        listener.bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into())?;
        listener.listen(1)?;
        let a = socket2::Socket::new(Domain::IPV4, Type::STREAM, None)?;
        a.connect(&listener.local_addr()?)?;
        let (b, _) = listener.accept()?;
        Ok((Domain::IPV4, a, b))
    }
}

/// A non-blocking `connect` that has started and will finish later (`EINPROGRESS`;
/// Windows says `WSAEWOULDBLOCK`).
pub(crate) fn connect_in_progress(e: &io::Error) -> bool {
    #[cfg(unix)]
    {
        e.raw_os_error() == Some(libc::EINPROGRESS)
    }
    #[cfg(windows)]
    {
        e.kind() == io::ErrorKind::WouldBlock
            || e.raw_os_error() == Some(windows_sys::Win32::Networking::WinSock::WSAEINPROGRESS)
    }
}

/// The socket is not connected (yet): `ENOTCONN` / `WSAENOTCONN`.
pub(crate) fn is_not_connected(e: &io::Error) -> bool {
    #[cfg(unix)]
    {
        e.raw_os_error() == Some(libc::ENOTCONN)
    }
    #[cfg(windows)]
    {
        e.raw_os_error() == Some(windows_sys::Win32::Networking::WinSock::WSAENOTCONN)
    }
}

/// A datagram larger than the buffer was received truncated: Unix returns the
/// truncated length, Windows fails with `WSAEMSGSIZE` (the datagram is consumed
/// all the same). True for the Windows error, which callers turn into the
/// buffer's length.
pub(crate) fn is_truncated_datagram(e: &io::Error) -> bool {
    #[cfg(unix)]
    {
        let _ = e;
        false
    }
    #[cfg(windows)]
    {
        e.raw_os_error() == Some(windows_sys::Win32::Networking::WinSock::WSAEMSGSIZE)
    }
}
