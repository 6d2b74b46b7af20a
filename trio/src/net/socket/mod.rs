//! The low-level socket layer (Trio's `trio.socket`): [`Socket`], an async socket
//! with Trio's semantics, name resolution ([`getaddrinfo`]), and the hooks that let
//! tests replace sockets and resolvers ([`set_custom_socket_factory`],
//! [`set_custom_hostname_resolver`]).
//!
//! Most programs want the high-level layer instead:
//! [`SocketStream`](crate::net::SocketStream),
//! [`open_tcp_stream`](crate::net::open_tcp_stream),
//! [`serve_tcp`](crate::net::serve_tcp).
//!
//! # Why it is built this way
//!
//! **Try first, then wait.** Every operation first makes the system call, and only
//! if it would block waits for readiness and tries again (Trio's `_try_sync` /
//! `_nonblocking_helper`). Waiting first would be simpler, but wrong: a socket in a
//! state where the call fails at once (say, `accept` before `listen`) may never
//! become "ready", and the caller would hang instead of getting the error.
//!
//! **Every operation is a checkpoint,** as in Trio: it checks for cancellation
//! before doing anything, and if it completes without blocking it still yields to
//! the scheduler afterwards (a shielded schedule point), so a task that always
//! finds data waiting cannot starve the others. A cancelled operation did nothing:
//! a cancelled `recv` consumed no bytes, a cancelled `accept` accepted no
//! connection. (A cancelled `send` sent nothing; a cancelled *stream* `send_all`
//! may have sent a prefix, see [`SendStream`](crate::abc::SendStream).)
//!
//! **Registered once, lazily, edge-triggered.** A socket is registered with the
//! reactor ([`IoRegistration`](crate::lowlevel::IoRegistration)) the first time an
//! operation would block — never, for sockets that never block — and stays
//! registered until it is closed, so waiting costs no `epoll_ctl`. Readiness is
//! remembered per direction; a call that would block forgets it with the report it
//! was given (a race-free clear, see `IoRegistration::clear_ready`), and a short
//! read on a stream socket counts as "drained", which saves the failing `recv` that
//! would otherwise end each burst.
//!
//! **One waiter per direction.** As in Trio, two tasks may not wait to receive (or
//! to send) on one socket at once: the second gets
//! [`BusyResource`](crate::ErrorKind::BusyResource). An operation that succeeds
//! without waiting is never refused.
//!
//! **Closing wakes the blocked.** [`Socket::close`] (and dropping) deregisters the
//! fd, closes it, and wakes every task blocked on it, which then fails with
//! [`ClosedResource`](crate::ErrorKind::ClosedResource) — Trio's `notify_closing`
//! discipline. Since every method takes `&self`, closing from one task while
//! another is blocked is an ordinary, supported thing to do. A cancelled `connect`
//! closes the socket, because a half-made connection cannot be taken back (Trio
//! does the same).
//!
//! **Two kinds of socket, one type.** A [`Socket`] is either an operating-system
//! socket or a [`CustomSocket`] made by a [`SocketFactory`] (a fake network in
//! tests). It is an enum, not a trait object, so the OS path — the only one that
//! matters for speed — is a plain match and direct calls; only custom sockets pay
//! for boxed futures.
//!
//! A socket belongs to the run loop that first waits on it: it is neither `Send` nor
//! `Sync`.

mod custom;
mod os;
pub(crate) use os::address_error;
mod resolve;

use std::fmt;
use std::io::{self, IoSlice, IoSliceMut};
use std::net::{Shutdown, SocketAddr};
#[cfg(unix)]
use std::os::fd::{AsRawFd, RawFd};
use std::task::{Context, Poll};

pub use custom::{BoxFuture, CustomSocket, SocketFactory, set_custom_socket_factory};
pub use resolve::{
    AddrInfo, AddrInfoHints, GaiError, HostnameResolver, getaddrinfo, set_custom_hostname_resolver,
};
pub use socket2::{Domain, Protocol, SockAddr, Type};

use crate::lowlevel::IoDirection;
use crate::{Error, ErrorKind, Result};
use os::OsSocket;

/// An async socket (Trio's `trio.socket.SocketType`).
///
/// Every method takes `&self`: one task may send while another receives, and any
/// task may [`close`](Self::close) the socket, waking the others. See the
/// [module documentation](self) for the rules it follows.
///
/// # Examples
///
/// A TCP echo on loopback, at the socket level:
///
/// ```
/// use trio::net::socket::{Domain, Socket, Type};
/// # trio::run(async {
/// let listener = Socket::new(Domain::IPV4, Type::STREAM, None)?;
/// listener.bind("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap())?;
/// listener.listen(16)?;
/// let addr = listener.local_addr()?;
///
/// let client = Socket::new(Domain::IPV4, Type::STREAM, None)?;
/// client.connect(addr).await?;
/// let (server, _peer) = listener.accept().await?;
/// client.send(b"ping").await?;
/// let mut buf = [0u8; 4];
/// assert_eq!(server.recv(&mut buf).await?, 4);
/// assert_eq!(&buf, b"ping");
/// # Ok(()) }).unwrap();
/// ```
pub struct Socket {
    repr: Repr,
}

#[expect(
    clippy::large_enum_variant,
    reason = "almost every socket is an OS socket: boxing it would cost each one an allocation"
)]
enum Repr {
    Os(OsSocket),
    Custom(Box<dyn CustomSocket>, std::cell::Cell<bool>),
}

impl fmt::Debug for Socket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Os(os) => f
                .debug_struct("Socket")
                .field("fd", &os.raw_fd())
                .field("domain", &os.domain())
                .field("type", &os.ty())
                .finish(),
            Repr::Custom(c, closed) => f
                .debug_struct("Socket")
                .field("custom", c)
                .field("closed", &closed.get())
                .finish(),
        }
    }
}

impl Socket {
    /// A new socket (Trio's `trio.socket.socket`): an operating-system socket,
    /// non-blocking and close-on-exec — or, if a
    /// [custom socket factory](set_custom_socket_factory) is installed in this
    /// run, whatever it makes.
    ///
    /// # Errors
    ///
    /// The operating system's (for example `EAFNOSUPPORT`), as
    /// [`ErrorKind::Io`]; or the factory's.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::net::socket::{Domain, Socket, Type};
    /// let s = Socket::new(Domain::IPV4, Type::DGRAM, None)?;
    /// assert_eq!(s.ty(), Type::DGRAM);
    /// # Ok::<_, trio::Error>(())
    /// ```
    pub fn new(domain: Domain, ty: Type, protocol: Option<Protocol>) -> Result<Socket> {
        if let Some(factory) = custom::custom_socket_factory() {
            return factory.socket(domain, ty, protocol);
        }
        Socket::new_os(domain, ty, protocol)
    }

    /// A new operating-system socket, whatever factory is installed.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::net::socket::{Domain, Socket, Type};
    /// let s = Socket::new_os(Domain::UNIX, Type::STREAM, None)?;
    /// assert!(s.as_socket2(|s| s.nonblocking())?);
    /// # Ok::<_, trio::Error>(())
    /// ```
    pub fn new_os(domain: Domain, ty: Type, protocol: Option<Protocol>) -> Result<Socket> {
        let sock = crate::sys::socket::new_nonblocking(domain, ty, protocol)?;
        Ok(Socket::os(OsSocket::new(sock, domain, ty, protocol)))
    }

    /// A pair of connected sockets (Trio's `trio.socket.socketpair`), never from
    /// the custom factory. Usually `Domain::UNIX`.
    ///
    /// # Errors
    ///
    /// The operating system's.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::net::socket::{Domain, Socket, Type};
    /// # trio::run(async {
    /// let (a, b) = Socket::pair(Domain::UNIX, Type::STREAM, None)?;
    /// a.send(b"x").await?;
    /// let mut buf = [0u8; 1];
    /// assert_eq!(b.recv(&mut buf).await?, 1);
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn pair(domain: Domain, ty: Type, protocol: Option<Protocol>) -> Result<(Socket, Socket)> {
        let (domain, a, b) = crate::sys::socket::socketpair(domain, ty, protocol)?;
        for s in [&a, &b] {
            s.set_nonblocking(true)?;
            crate::sys::socket::no_sigpipe(s)?;
        }
        Ok((
            Socket::os(OsSocket::new(a, domain, ty, protocol)),
            Socket::os(OsSocket::new(b, domain, ty, protocol)),
        ))
    }

    /// Adopts a `socket2` socket (Trio's `from_stdlib_socket`); it is switched to
    /// non-blocking mode. Works for anything `socket2` can hold, e.g.
    /// `socket2::Socket::from(std_tcp_stream)`.
    ///
    /// The address family comes from `SO_DOMAIN` on Linux and Android; elsewhere
    /// (macOS, the BSDs) from the socket's local address, so there the socket
    /// must be bound, connected or listening — any socket std hands out is. The
    /// protocol is read where the system tells it (Linux, Android, FreeBSD) and
    /// is `None` elsewhere.
    ///
    /// # Errors
    ///
    /// The operating system's, if the socket's mode, type or family cannot be
    /// read or set; [`ErrorKind::Usage`] on macOS and the
    /// BSDs for a socket with no address yet.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::net::socket::{Socket, Type};
    /// let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let s = Socket::from_socket2(std_listener.into())?;
    /// assert_eq!(s.ty(), Type::STREAM);
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_socket2(sock: socket2::Socket) -> Result<Socket> {
        sock.set_nonblocking(true)?;
        let domain = crate::sys::socket::domain_of(&sock)?;
        let ty = sock.r#type()?;
        let protocol = crate::sys::socket::protocol_of(&sock);
        crate::sys::socket::no_sigpipe(&sock)?;
        Ok(Socket::os(OsSocket::new(sock, domain, ty, protocol)))
    }

    /// Wraps a [`CustomSocket`].
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::net::socket::{CustomSocket, Domain, Socket, Type};
    /// #[derive(Debug)]
    /// struct Fake;
    /// impl CustomSocket for Fake {
    ///     fn domain(&self) -> Domain { Domain::IPV4 }
    ///     fn ty(&self) -> Type { Type::STREAM }
    /// }
    /// let s = Socket::from_custom(Fake);
    /// assert!(s.is_custom());
    /// assert_eq!(s.as_raw_fd(), -1);
    /// # use std::os::fd::AsRawFd;
    /// ```
    pub fn from_custom(imp: impl CustomSocket + 'static) -> Socket {
        Socket {
            repr: Repr::Custom(Box::new(imp), std::cell::Cell::new(false)),
        }
    }

    fn os(os: OsSocket) -> Socket {
        Socket { repr: Repr::Os(os) }
    }

    /// True if this socket is a [`CustomSocket`].
    ///
    /// # Examples
    ///
    /// ```
    /// # use trio::net::socket::{Domain, Socket, Type};
    /// assert!(!Socket::new_os(Domain::IPV4, Type::STREAM, None)?.is_custom());
    /// # Ok::<_, trio::Error>(())
    /// ```
    pub fn is_custom(&self) -> bool {
        matches!(self.repr, Repr::Custom(..))
    }

    /// The custom implementation, if this is a custom socket (for tests to inspect
    /// their fakes: downcast it with `std::any::Any` on your own type).
    ///
    /// # Examples
    ///
    /// ```
    /// # use trio::net::socket::{CustomSocket, Domain, Socket, Type};
    /// # #[derive(Debug)] struct Fake;
    /// # impl CustomSocket for Fake { fn domain(&self) -> Domain { Domain::IPV4 } fn ty(&self) -> Type { Type::STREAM } }
    /// let s = Socket::from_custom(Fake);
    /// assert!(format!("{:?}", s.custom().unwrap()).contains("Fake"));
    /// ```
    pub fn custom(&self) -> Option<&dyn CustomSocket> {
        match &self.repr {
            Repr::Custom(c, _) => Some(&**c),
            Repr::Os(_) => None,
        }
    }

    /// The address family.
    ///
    /// # Examples
    ///
    /// ```
    /// # use trio::net::socket::{Domain, Socket, Type};
    /// let s = Socket::new_os(Domain::IPV4, Type::DGRAM, None)?;
    /// assert_eq!(s.domain(), Domain::IPV4);
    /// # Ok::<_, trio::Error>(())
    /// ```
    pub fn domain(&self) -> Domain {
        match &self.repr {
            Repr::Os(os) => os.domain(),
            Repr::Custom(c, _) => c.domain(),
        }
    }

    /// The socket type (without the `SOCK_NONBLOCK`/`SOCK_CLOEXEC` flags).
    ///
    /// # Examples
    ///
    /// ```
    /// # use trio::net::socket::{Domain, Socket, Type};
    /// assert_eq!(Socket::new_os(Domain::IPV4, Type::STREAM, None)?.ty(), Type::STREAM);
    /// # Ok::<_, trio::Error>(())
    /// ```
    pub fn ty(&self) -> Type {
        match &self.repr {
            Repr::Os(os) => os.ty(),
            Repr::Custom(c, _) => c.ty(),
        }
    }

    /// The protocol, if known.
    ///
    /// # Examples
    ///
    /// ```
    /// # use trio::net::socket::{Domain, Protocol, Socket, Type};
    /// let s = Socket::new_os(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    /// assert_eq!(s.protocol(), Some(Protocol::TCP));
    /// # Ok::<_, trio::Error>(())
    /// ```
    pub fn protocol(&self) -> Option<Protocol> {
        match &self.repr {
            Repr::Os(os) => os.protocol(),
            Repr::Custom(c, _) => c.protocol(),
        }
    }

    /// True once the socket was closed.
    ///
    /// # Examples
    ///
    /// ```
    /// # use trio::net::socket::{Domain, Socket, Type};
    /// let s = Socket::new_os(Domain::IPV4, Type::STREAM, None)?;
    /// s.close();
    /// assert!(s.is_closed());
    /// # Ok::<_, trio::Error>(())
    /// ```
    pub fn is_closed(&self) -> bool {
        match &self.repr {
            Repr::Os(os) => os.is_closed(),
            Repr::Custom(_, closed) => closed.get(),
        }
    }

    /// Binds to a local address (IP `SocketAddr`, or `SockAddr::unix(path)`).
    ///
    /// Unlike Trio's, it is not async: the address is already resolved, and the
    /// filesystem work of binding a Unix socket path is done inline.
    ///
    /// # Errors
    ///
    /// [`ClosedResource`](ErrorKind::ClosedResource) after `close`; the operating
    /// system's (for example `EADDRINUSE`) as [`ErrorKind::Io`], its message naming
    /// the address.
    ///
    /// # Examples
    ///
    /// ```
    /// # use trio::net::socket::{Domain, Socket, Type};
    /// let s = Socket::new_os(Domain::IPV4, Type::DGRAM, None)?;
    /// s.bind("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap())?;
    /// let addr = s.local_addr()?.as_socket().unwrap();
    /// assert_ne!(addr.port(), 0);
    ///
    /// let again = Socket::new_os(Domain::IPV4, Type::DGRAM, None)?;
    /// let busy = again.bind(addr).unwrap_err();
    /// assert!(busy.to_string().contains(&format!("binding to {addr}")), "{busy}");
    /// # Ok::<_, trio::Error>(())
    /// ```
    pub fn bind(&self, addr: impl Into<SockAddr>) -> Result<()> {
        let addr = addr.into();
        match &self.repr {
            Repr::Os(os) => os
                .sys(|s| s.bind(&addr))
                .map_err(|e| os::address_error("binding to", &addr, e)),
            Repr::Custom(c, closed) => {
                check_open(closed)?;
                c.bind(&addr)
            }
        }
    }

    /// Starts listening for connections, with a queue of `backlog` (capped by the
    /// system).
    ///
    /// # Errors
    ///
    /// As [`bind`](Self::bind).
    ///
    /// # Examples
    ///
    /// ```
    /// # use trio::net::socket::{Domain, Socket, Type};
    /// let s = Socket::new_os(Domain::IPV4, Type::STREAM, None)?;
    /// s.bind("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap())?;
    /// s.listen(128)?;
    /// assert!(s.is_listening()?);
    /// # Ok::<_, trio::Error>(())
    /// ```
    pub fn listen(&self, backlog: i32) -> Result<()> {
        match &self.repr {
            Repr::Os(os) => os.with_socket2(|s| s.listen(backlog)),
            Repr::Custom(c, closed) => {
                check_open(closed)?;
                c.listen(backlog)
            }
        }
    }

    /// True if the socket is listening (`SO_ACCEPTCONN`).
    ///
    /// # Errors
    ///
    /// As [`option`](Self::option).
    ///
    /// # Examples
    ///
    /// ```
    /// # use trio::net::socket::{Domain, Socket, Type};
    /// let s = Socket::new_os(Domain::IPV4, Type::STREAM, None)?;
    /// assert!(!s.is_listening()?);
    /// # Ok::<_, trio::Error>(())
    /// ```
    pub fn is_listening(&self) -> Result<bool> {
        use crate::sys::socket::opt;
        Ok(self.option(opt::SOL_SOCKET, opt::SO_ACCEPTCONN)? != 0)
    }

    /// Connects to `addr` (Trio's `connect`): starts a non-blocking connect, waits
    /// until it finishes, and reports its outcome.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`] if the connection fails; the [`std::io::Error`] inside
    /// keeps the OS error's kind (for example `ConnectionRefused`) and names the
    /// address. [`ClosedResource`](ErrorKind::ClosedResource) if the socket is closed.
    ///
    /// # Cancellation
    ///
    /// A checkpoint. A connect cannot be taken back once started, so a cancelled
    /// `connect` — or one whose future is dropped — **closes the socket**, as in
    /// Trio: nothing is left half-connected.
    ///
    /// # Examples
    ///
    /// ```
    /// # use trio::net::socket::{Domain, Socket, Type};
    /// # trio::run(async {
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let s = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    /// s.connect(listener.local_addr()?).await?;
    /// assert_eq!(s.peer_addr()?.as_socket(), Some(listener.local_addr()?));
    /// # Ok(()) }).unwrap();
    /// ```
    pub async fn connect(&self, addr: impl Into<SockAddr>) -> Result<()> {
        let addr = addr.into();
        struct CloseUnlessDone<'a>(Option<&'a Socket>);
        impl Drop for CloseUnlessDone<'_> {
            fn drop(&mut self) {
                if let Some(s) = self.0 {
                    s.close();
                }
            }
        }
        let mut guard = CloseUnlessDone(Some(self));
        let res = match &self.repr {
            Repr::Os(os) => os.connect(&addr).await,
            Repr::Custom(c, closed) => match check_open(closed) {
                Ok(()) => c.connect(&addr).await,
                Err(e) => Err(e),
            },
        };
        match &res {
            Err(e) if e.is_cancelled() => {}
            _ => guard.0 = None,
        }
        res
    }

    /// Accepts a connection: the connected socket (non-blocking, close-on-exec)
    /// and the peer's address.
    ///
    /// # Errors
    ///
    /// [`BusyResource`](ErrorKind::BusyResource) if another task is already
    /// waiting to accept; [`ClosedResource`](ErrorKind::ClosedResource) if the
    /// socket is (or gets) closed; the operating system's otherwise.
    ///
    /// # Cancellation
    ///
    /// A checkpoint; a cancelled `accept` accepted nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// # use trio::net::socket::{Domain, Socket, Type};
    /// # trio::run(async {
    /// let l = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    /// l.bind("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap())?;
    /// l.listen(8)?;
    /// let client = std::net::TcpStream::connect(l.local_addr()?.as_socket().unwrap())?;
    /// let (conn, peer) = l.accept().await?;
    /// assert_eq!(peer.as_socket(), Some(client.local_addr()?));
    /// # drop(conn);
    /// # Ok(()) }).unwrap();
    /// ```
    pub async fn accept(&self) -> Result<(Socket, SockAddr)> {
        match &self.repr {
            Repr::Os(os) => {
                let (s, addr) = os.accept().await?;
                Ok((Socket::os(s), addr))
            }
            Repr::Custom(c, closed) => {
                check_open(closed)?;
                c.accept().await
            }
        }
    }

    /// Receives into `buf`; returns how many bytes arrived (`0`: end of stream, or
    /// an empty datagram).
    ///
    /// # Errors
    ///
    /// [`BusyResource`](ErrorKind::BusyResource) if another task is already
    /// waiting to receive; [`ClosedResource`](ErrorKind::ClosedResource) if the
    /// socket is (or gets) closed; the operating system's otherwise.
    ///
    /// # Cancellation
    ///
    /// A checkpoint; a cancelled `recv` consumed nothing, or (on io_uring, if
    /// the bytes came while the cancellation was on its way to the kernel)
    /// returns what it received. A stream socket's `recv` whose future is
    /// dropped after it took bytes keeps them: the next `recv` returns them
    /// first. On io_uring (Linux) an OS socket's receives, sends, datagrams,
    /// accepts and connects are ring operations (`trio::lowlevel::RingIo`),
    /// where a dropped datagram receive keeps its datagram, whole, for the
    /// next one.
    ///
    /// # Examples
    ///
    /// ```
    /// # use trio::net::socket::{Domain, Socket, Type};
    /// # trio::run(async {
    /// let (a, b) = Socket::pair(Domain::UNIX, Type::STREAM, None)?;
    /// a.send(b"hello").await?;
    /// let mut buf = [0u8; 16];
    /// let n = b.recv(&mut buf).await?;
    /// assert_eq!(&buf[..n], b"hello");
    /// # Ok(()) }).unwrap();
    /// ```
    pub async fn recv(&self, buf: &mut [u8]) -> Result<usize> {
        match &self.repr {
            Repr::Os(os) => os.recv(buf).await,
            Repr::Custom(c, closed) => {
                check_open(closed)?;
                c.recv(buf).await
            }
        }
    }

    /// Receives a datagram into `buf`, with the sender's address.
    ///
    /// # Errors
    ///
    /// As [`recv`](Self::recv).
    ///
    /// # Cancellation
    ///
    /// As [`recv`](Self::recv).
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::net::SocketAddr;
    /// # use trio::net::socket::{Domain, Socket, Type};
    /// # trio::run(async {
    /// let a = Socket::new(Domain::IPV4, Type::DGRAM, None)?;
    /// let b = Socket::new(Domain::IPV4, Type::DGRAM, None)?;
    /// a.bind("127.0.0.1:0".parse::<SocketAddr>().unwrap())?;
    /// b.bind("127.0.0.1:0".parse::<SocketAddr>().unwrap())?;
    /// a.send_to(b"xyz", b.local_addr()?).await?;
    /// let mut buf = [0u8; 8];
    /// let (n, from) = b.recv_from(&mut buf).await?;
    /// assert_eq!((n, from.as_socket()), (3, a.local_addr()?.as_socket()));
    /// # Ok(()) }).unwrap();
    /// ```
    pub async fn recv_from(&self, buf: &mut [u8]) -> Result<(usize, SockAddr)> {
        match &self.repr {
            Repr::Os(os) => os.recv_from(buf).await,
            Repr::Custom(c, closed) => {
                check_open(closed)?;
                c.recv_from(buf).await
            }
        }
    }

    /// Sends from `buf`; returns how many bytes were sent (perhaps fewer than
    /// `buf.len()` on a stream socket).
    ///
    /// # Errors
    ///
    /// [`BusyResource`](ErrorKind::BusyResource) if another task is already
    /// waiting to send; [`ClosedResource`](ErrorKind::ClosedResource) if the socket
    /// is (or gets) closed; the operating system's otherwise (never `SIGPIPE`).
    ///
    /// # Cancellation
    ///
    /// A checkpoint; a cancelled `send` sent nothing — or, on io_uring, if it
    /// completed while the cancellation was on its way to the kernel, returns
    /// how much it sent.
    ///
    /// # Examples
    ///
    /// ```
    /// # use trio::net::socket::{Domain, Socket, Type};
    /// # trio::run(async {
    /// let (a, _b) = Socket::pair(Domain::UNIX, Type::STREAM, None)?;
    /// assert_eq!(a.send(b"abc").await?, 3);
    /// # Ok(()) }).unwrap();
    /// ```
    pub async fn send(&self, buf: &[u8]) -> Result<usize> {
        match &self.repr {
            Repr::Os(os) => os.send(buf).await,
            Repr::Custom(c, closed) => {
                check_open(closed)?;
                c.send(buf).await
            }
        }
    }

    /// Receives into several buffers, filled in order (`recvmsg` with several
    /// buffers; one ring receive, scattered, on io_uring); returns how many
    /// bytes arrived in all (`0`: end of stream, or an empty datagram).
    ///
    /// A [`custom`](Self::from_custom) socket receives into the first
    /// non-empty buffer (as `std::io::Read::read_vectored` does by default).
    ///
    /// # Errors
    ///
    /// As [`recv`](Self::recv).
    ///
    /// # Cancellation
    ///
    /// As [`recv`](Self::recv): no byte is lost.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::IoSliceMut;
    /// # use trio::net::socket::{Domain, Socket, Type};
    /// # trio::run(async {
    /// let (a, b) = Socket::pair(Domain::UNIX, Type::STREAM, None)?;
    /// a.send(b"head,body").await?;
    /// let (mut head, mut body) = ([0u8; 5], [0u8; 16]);
    /// let n = b
    ///     .recv_vectored(&mut [IoSliceMut::new(&mut head), IoSliceMut::new(&mut body)])
    ///     .await?;
    /// assert_eq!((n, &head, &body[..4]), (9, b"head,", &b"body"[..]));
    /// # Ok(()) }).unwrap();
    /// ```
    pub async fn recv_vectored(&self, bufs: &mut [IoSliceMut<'_>]) -> Result<usize> {
        match &self.repr {
            Repr::Os(os) => os.recv_vectored(bufs).await,
            Repr::Custom(c, closed) => {
                check_open(closed)?;
                match bufs.iter_mut().find(|b| !b.is_empty()) {
                    Some(buf) => c.recv(buf).await,
                    None => c.recv(&mut []).await,
                }
            }
        }
    }

    /// Sends from several buffers, in order (`sendmsg` with several buffers;
    /// one ring send of their gathered copy on io_uring); returns how many
    /// bytes were sent (perhaps fewer than all on a stream socket). On a
    /// datagram socket, the buffers make one datagram.
    ///
    /// A [`custom`](Self::from_custom) socket sends the first non-empty buffer
    /// (as `std::io::Write::write_vectored` does by default).
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    ///
    /// # Cancellation
    ///
    /// As [`send`](Self::send).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::IoSlice;
    /// # use trio::net::socket::{Domain, Socket, Type};
    /// # trio::run(async {
    /// let (a, b) = Socket::pair(Domain::UNIX, Type::STREAM, None)?;
    /// let n = a.send_vectored(&[IoSlice::new(b"head,"), IoSlice::new(b"body")]).await?;
    /// assert_eq!(n, 9);
    /// let mut buf = [0u8; 16];
    /// assert_eq!(b.recv(&mut buf).await?, 9);
    /// # Ok(()) }).unwrap();
    /// ```
    pub async fn send_vectored(&self, bufs: &[IoSlice<'_>]) -> Result<usize> {
        match &self.repr {
            Repr::Os(os) => os.send_vectored(bufs).await,
            Repr::Custom(c, closed) => {
                check_open(closed)?;
                let buf = bufs
                    .iter()
                    .find(|b| !b.is_empty())
                    .map_or(&[][..], |b| &**b);
                c.send(buf).await
            }
        }
    }

    /// Sends a datagram to `addr`.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    ///
    /// # Cancellation
    ///
    /// As [`send`](Self::send).
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::net::SocketAddr;
    /// # use trio::net::socket::{Domain, Socket, Type};
    /// # trio::run(async {
    /// let a = Socket::new(Domain::IPV4, Type::DGRAM, None)?;
    /// let target = std::net::UdpSocket::bind("127.0.0.1:0")?;
    /// assert_eq!(a.send_to(b"hi", target.local_addr()?).await?, 2);
    /// let mut buf = [0u8; 2];
    /// assert_eq!(target.recv(&mut buf)?, 2);
    /// # Ok(()) }).unwrap();
    /// ```
    pub async fn send_to(&self, buf: &[u8], addr: impl Into<SockAddr>) -> Result<usize> {
        let addr = addr.into();
        match &self.repr {
            Repr::Os(os) => os.send_to(buf, &addr).await,
            Repr::Custom(c, closed) => {
                check_open(closed)?;
                c.send_to(buf, &addr).await
            }
        }
    }

    /// Waits until the socket is readable (data, end of stream, a connection to
    /// accept, or an error) (Trio's `wait_readable` on a socket).
    ///
    /// # Errors
    ///
    /// [`BusyResource`](ErrorKind::BusyResource) if another task is already
    /// waiting to receive; [`ClosedResource`](ErrorKind::ClosedResource) if the
    /// socket is (or gets) closed.
    ///
    /// # Cancellation
    ///
    /// A checkpoint.
    ///
    /// # Examples
    ///
    /// ```
    /// # use trio::net::socket::{Domain, Socket, Type};
    /// # trio::run(async {
    /// let (a, b) = Socket::pair(Domain::UNIX, Type::STREAM, None)?;
    /// assert!(!b.is_readable()?);
    /// a.send(b"x").await?;
    /// b.wait_readable().await?;
    /// assert!(b.is_readable()?);
    /// # Ok(()) }).unwrap();
    /// ```
    pub async fn wait_readable(&self) -> Result<()> {
        match &self.repr {
            Repr::Os(os) => os.wait(IoDirection::Read).await,
            Repr::Custom(c, closed) => {
                check_open(closed)?;
                c.wait_readable().await
            }
        }
    }

    /// Waits until the socket is writable (Trio's `wait_writable`).
    ///
    /// # Errors
    ///
    /// As [`wait_readable`](Self::wait_readable), for the sending side.
    ///
    /// # Cancellation
    ///
    /// A checkpoint.
    ///
    /// # Examples
    ///
    /// ```
    /// # use trio::net::socket::{Domain, Socket, Type};
    /// # trio::run(async {
    /// let (a, _b) = Socket::pair(Domain::UNIX, Type::STREAM, None)?;
    /// a.wait_writable().await?; // an empty buffer has room
    /// # Ok(()) }).unwrap();
    /// ```
    pub async fn wait_writable(&self) -> Result<()> {
        match &self.repr {
            Repr::Os(os) => os.wait(IoDirection::Write).await,
            Repr::Custom(c, closed) => {
                check_open(closed)?;
                c.wait_writable().await
            }
        }
    }

    /// True if a receive would not block right now (Trio's `is_readable`).
    ///
    /// # Errors
    ///
    /// [`ClosedResource`](ErrorKind::ClosedResource) after `close`; an
    /// "unsupported" I/O error for custom sockets.
    ///
    /// # Examples
    ///
    /// See [`wait_readable`](Self::wait_readable).
    pub fn is_readable(&self) -> Result<bool> {
        match &self.repr {
            Repr::Os(os) => os.is_readable(),
            Repr::Custom(..) => Err(Error::from(io::Error::from(io::ErrorKind::Unsupported))),
        }
    }

    /// Shuts down one or both directions (`shutdown(2)`).
    ///
    /// # Errors
    ///
    /// [`ClosedResource`](ErrorKind::ClosedResource) after `close`; the operating
    /// system's (for example `ENOTCONN`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::Shutdown;
    /// # use trio::net::socket::{Domain, Socket, Type};
    /// # trio::run(async {
    /// let (a, b) = Socket::pair(Domain::UNIX, Type::STREAM, None)?;
    /// a.shutdown(Shutdown::Write)?;
    /// assert!(a.did_shutdown_write());
    /// let mut buf = [0u8; 1];
    /// assert_eq!(b.recv(&mut buf).await?, 0); // end of stream
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn shutdown(&self, how: Shutdown) -> Result<()> {
        match &self.repr {
            Repr::Os(os) => os.shutdown(how),
            Repr::Custom(c, closed) => {
                check_open(closed)?;
                c.shutdown(how)
            }
        }
    }

    /// True once the sending side was shut down through [`shutdown`](Self::shutdown)
    /// (Trio's `did_shutdown_SHUT_WR`). Always false for custom sockets.
    ///
    /// # Examples
    ///
    /// See [`shutdown`](Self::shutdown).
    pub fn did_shutdown_write(&self) -> bool {
        match &self.repr {
            Repr::Os(os) => os.did_shutdown_write(),
            Repr::Custom(..) => false,
        }
    }

    /// The local address (`getsockname`).
    ///
    /// # Errors
    ///
    /// [`ClosedResource`](ErrorKind::ClosedResource) after `close`; the operating
    /// system's.
    ///
    /// # Examples
    ///
    /// See [`bind`](Self::bind).
    pub fn local_addr(&self) -> Result<SockAddr> {
        match &self.repr {
            Repr::Os(os) => os.with_socket2(|s| s.local_addr()),
            Repr::Custom(c, closed) => {
                check_open(closed)?;
                c.local_addr()
            }
        }
    }

    /// The peer's address (`getpeername`).
    ///
    /// # Errors
    ///
    /// As [`local_addr`](Self::local_addr); `ENOTCONN` if not connected.
    ///
    /// # Examples
    ///
    /// See [`connect`](Self::connect).
    pub fn peer_addr(&self) -> Result<SockAddr> {
        match &self.repr {
            Repr::Os(os) => os.with_socket2(|s| s.peer_addr()),
            Repr::Custom(c, closed) => {
                check_open(closed)?;
                c.peer_addr()
            }
        }
    }

    /// Sets an integer socket option (`setsockopt` with an `int`), e.g.
    /// `set_option(libc::IPPROTO_TCP, libc::TCP_NODELAY, 1)`.
    ///
    /// # Errors
    ///
    /// [`ClosedResource`](ErrorKind::ClosedResource) after `close`; the operating
    /// system's (for example `ENOPROTOOPT`).
    ///
    /// # Examples
    ///
    /// ```
    /// # use trio::net::socket::{Domain, Socket, Type};
    /// let s = Socket::new_os(Domain::IPV4, Type::STREAM, None)?;
    /// s.set_option(libc::IPPROTO_TCP, libc::TCP_NODELAY, 1)?;
    /// assert_eq!(s.option(libc::IPPROTO_TCP, libc::TCP_NODELAY)?, 1);
    /// # Ok::<_, trio::Error>(())
    /// ```
    pub fn set_option(&self, level: i32, name: i32, value: i32) -> Result<()> {
        self.set_option_bytes(level, name, &value.to_ne_bytes())
    }

    /// Reads an integer socket option (`getsockopt` with an `int`).
    ///
    /// # Errors
    ///
    /// As [`set_option`](Self::set_option).
    ///
    /// # Examples
    ///
    /// See [`set_option`](Self::set_option).
    pub fn option(&self, level: i32, name: i32) -> Result<i32> {
        let mut buf = [0u8; 4];
        let n = self.option_bytes(level, name, &mut buf)?;
        let mut full = [0u8; 4];
        full[..n.min(4)].copy_from_slice(&buf[..n.min(4)]);
        Ok(i32::from_ne_bytes(full))
    }

    /// Sets a socket option from raw bytes (`setsockopt` with a buffer).
    ///
    /// # Errors
    ///
    /// As [`set_option`](Self::set_option).
    ///
    /// # Examples
    ///
    /// ```
    /// # use trio::net::socket::{Domain, Socket, Type};
    /// let s = Socket::new_os(Domain::IPV4, Type::STREAM, None)?;
    /// s.set_option_bytes(libc::SOL_SOCKET, libc::SO_KEEPALIVE, &1i32.to_ne_bytes())?;
    /// assert!(s.as_socket2(|s| s.keepalive())?);
    /// # Ok::<_, trio::Error>(())
    /// ```
    pub fn set_option_bytes(&self, level: i32, name: i32, value: &[u8]) -> Result<()> {
        match &self.repr {
            Repr::Os(os) => {
                os.with_socket2(|s| crate::sys::socket::setsockopt_bytes(s, level, name, value))
            }
            Repr::Custom(c, closed) => {
                check_open(closed)?;
                c.set_option(level, name, value)
            }
        }
    }

    /// Reads a socket option into `buf`; returns the length the system filled.
    ///
    /// # Errors
    ///
    /// As [`set_option`](Self::set_option).
    ///
    /// # Examples
    ///
    /// ```
    /// # use trio::net::socket::{Domain, Socket, Type};
    /// let s = Socket::new_os(Domain::IPV4, Type::STREAM, None)?;
    /// let mut buf = [0u8; 4];
    /// assert_eq!(s.option_bytes(libc::SOL_SOCKET, libc::SO_TYPE, &mut buf)?, 4);
    /// assert_eq!(i32::from_ne_bytes(buf), libc::SOCK_STREAM);
    /// # Ok::<_, trio::Error>(())
    /// ```
    pub fn option_bytes(&self, level: i32, name: i32, buf: &mut [u8]) -> Result<usize> {
        match &self.repr {
            Repr::Os(os) => {
                os.with_socket2(|s| crate::sys::socket::getsockopt_bytes(s, level, name, buf))
            }
            Repr::Custom(c, closed) => {
                check_open(closed)?;
                c.option(level, name, buf)
            }
        }
    }

    /// Runs `f` on the underlying `socket2` socket: every typed option socket2
    /// offers (`set_keepalive`, `set_recv_buffer_size`, multicast, ...). Do not
    /// perform blocking I/O through it.
    ///
    /// # Errors
    ///
    /// `f`'s error as [`ErrorKind::Io`]; [`ClosedResource`](ErrorKind::ClosedResource)
    /// after `close`; an "unsupported" I/O error for custom sockets.
    ///
    /// # Examples
    ///
    /// ```
    /// # use trio::net::socket::{Domain, Socket, Type};
    /// let s = Socket::new_os(Domain::IPV4, Type::STREAM, None)?;
    /// s.as_socket2(|s| s.set_keepalive(true))?;
    /// assert!(s.as_socket2(|s| s.keepalive())?);
    /// # Ok::<_, trio::Error>(())
    /// ```
    pub fn as_socket2<R>(&self, f: impl FnOnce(&socket2::Socket) -> io::Result<R>) -> Result<R> {
        match &self.repr {
            Repr::Os(os) => os.with_socket2(f),
            Repr::Custom(..) => Err(Error::from(io::Error::new(
                io::ErrorKind::Unsupported,
                "a custom socket has no socket2 socket",
            ))),
        }
    }

    /// Takes the `socket2` socket out, unregistered and still open (Trio's
    /// `detach`); this `Socket` is closed afterwards. Bytes (or connections)
    /// that receives (or accepts) whose futures were dropped had taken and
    /// nobody read yet stay with this `Socket`, and go with it.
    ///
    /// # Errors
    ///
    /// [`ClosedResource`](ErrorKind::ClosedResource) if already closed;
    /// [`ErrorKind::Usage`] for custom sockets.
    ///
    /// # Examples
    ///
    /// ```
    /// # use trio::net::socket::{Domain, Socket, Type};
    /// let s = Socket::new_os(Domain::IPV4, Type::STREAM, None)?;
    /// let raw: socket2::Socket = s.into_socket2()?;
    /// assert!(raw.nonblocking()?);
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// ```
    pub fn into_socket2(self) -> Result<socket2::Socket> {
        match &self.repr {
            Repr::Os(os) => os.detach().ok_or_else(os::closed_error),
            Repr::Custom(..) => Err(Error::new(
                ErrorKind::Usage,
                "a custom socket has no socket2 socket",
            )),
        }
    }

    /// Closes the socket: the fd is closed, and tasks blocked on it wake with
    /// [`ClosedResource`](ErrorKind::ClosedResource); later operations fail with it
    /// too. Closing twice is fine. Dropping a socket closes it.
    ///
    /// # Panics
    ///
    /// If called from inside the closure given to [`as_socket2`](Self::as_socket2)
    /// on the same socket.
    ///
    /// # Examples
    ///
    /// ```
    /// # use trio::net::socket::{Domain, Socket, Type};
    /// # trio::run(async {
    /// let (a, b) = Socket::pair(Domain::UNIX, Type::STREAM, None)?;
    /// let a = &a;
    /// trio::open_nursery(async |n| {
    ///     n.start_soon(async move {
    ///         let mut buf = [0u8; 1];
    ///         let e = a.recv(&mut buf).await.unwrap_err();
    ///         assert_eq!(e.kind(), trio::ErrorKind::ClosedResource);
    ///         Ok(())
    ///     })?;
    ///     trio::testing::wait_all_tasks_blocked().await?;
    ///     a.close(); // wakes the receiver
    ///     Ok(())
    /// }).await?;
    /// # drop(b);
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn close(&self) {
        match &self.repr {
            Repr::Os(os) => os.close(),
            Repr::Custom(c, closed) => {
                if !closed.replace(true) {
                    c.close();
                }
            }
        }
    }

    // ---- the poll API (for AsyncRead / AsyncWrite) -----------------------------

    pub(crate) fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match &self.repr {
            Repr::Os(os) => os.poll_recv(cx, buf),
            Repr::Custom(..) => Poll::Ready(Err(poll_unsupported())),
        }
    }

    pub(crate) fn poll_send(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match &self.repr {
            Repr::Os(os) => os.poll_send(cx, buf),
            Repr::Custom(..) => Poll::Ready(Err(poll_unsupported())),
        }
    }

    pub(crate) fn poll_flush(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &self.repr {
            Repr::Os(os) => os.poll_flush(cx),
            Repr::Custom(..) => Poll::Ready(Ok(())),
        }
    }
}

fn poll_unsupported() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "custom sockets do not support AsyncRead/AsyncWrite",
    )
}

fn check_open(closed: &std::cell::Cell<bool>) -> Result<()> {
    if closed.get() {
        Err(os::closed_error())
    } else {
        Ok(())
    }
}

#[cfg(unix)]
impl AsRawFd for Socket {
    /// The fd; `-1` once closed, and for custom sockets (like Python's `fileno()`).
    fn as_raw_fd(&self) -> RawFd {
        match &self.repr {
            Repr::Os(os) => os.raw_fd(),
            Repr::Custom(..) => -1,
        }
    }
}

#[cfg(windows)]
impl std::os::windows::io::AsRawSocket for Socket {
    /// The socket; `INVALID_SOCKET` once closed, and for custom sockets.
    fn as_raw_socket(&self) -> std::os::windows::io::RawSocket {
        match &self.repr {
            Repr::Os(os) => os.raw_fd(),
            Repr::Custom(..) => crate::sys::source::INVALID,
        }
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        self.close();
    }
}

/// An address for messages: `ip:port`, `[ip6]:port`, a Unix path, or a
/// description.
pub(crate) fn display_addr(addr: &SockAddr) -> String {
    if let Some(a) = addr.as_socket() {
        return a.to_string();
    }
    #[cfg(unix)]
    if let Some(u) = addr.as_unix() {
        if let Some(p) = u.as_pathname() {
            return p.display().to_string();
        }
        return "<unnamed unix socket>".into();
    }
    format!("<address of family {}>", addr.family())
}

/// The `SocketAddr` of an IP socket address, or a `Usage` error.
pub(crate) fn ip_addr(addr: SockAddr) -> Result<SocketAddr> {
    addr.as_socket().ok_or_else(|| {
        Error::new(
            ErrorKind::Usage,
            format!("not an IP socket address: {}", display_addr(&addr)),
        )
    })
}

/// The OS error number somewhere inside `e` (through trio errors' sources and
/// `io::Error`s' inner errors), if any.
pub(crate) fn os_error(e: &Error) -> Option<i32> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(x) = cur {
        if let Some(io) = x.downcast_ref::<io::Error>() {
            if let Some(n) = io.raw_os_error() {
                return Some(n);
            }
            if let Some(inner) = io.get_ref() {
                cur = Some(inner);
                continue;
            }
        }
        cur = x.source();
    }
    None
}
