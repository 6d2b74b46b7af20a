//! Sockets that are not operating-system sockets, and the factory that makes them
//! (Trio's `SocketFactory` and `set_custom_socket_factory`): the seam through which
//! tests plug in a fake network.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::Shutdown;
use std::pin::Pin;
use std::rc::Rc;

use socket2::{Domain, Protocol, SockAddr, Type};

use super::Socket;
use crate::lowlevel::RunVar;
use crate::{Error, Result};

/// A boxed, non-`Send` future: what the methods of [`CustomSocket`] and
/// [`HostnameResolver`](super::HostnameResolver) return (trait objects cannot have
/// `async fn`s).
///
/// # Examples
///
/// ```
/// use trio::net::socket::BoxFuture;
/// fn answer<'a>(x: &'a u32) -> BoxFuture<'a, u32> {
///     Box::pin(async move { *x + 1 })
/// }
/// # let _ = answer(&1);
/// ```
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

fn unsupported(what: &str) -> Error {
    Error::from(io::Error::new(
        io::ErrorKind::Unsupported,
        format!("{what} is not supported by this custom socket"),
    ))
}

/// A socket implemented in user code (Trio: a subclass of `trio.socket.SocketType`),
/// held by [`Socket::from_custom`]. Mostly useful for tests: a fake network whose
/// connects succeed or fail on a script, under the mock clock.
///
/// Every method has a default that fails with an "unsupported" I/O error (or, for
/// [`close`](Self::close), does nothing), so a fake implements only what the code
/// under test uses. The async methods must follow trio's rules themselves: be
/// checkpoints, and have done nothing when they return `Cancelled`.
///
/// # Examples
///
/// A socket whose connect always fails after a second:
///
/// ```
/// use std::time::Duration;
/// use trio::net::socket::{BoxFuture, CustomSocket, Domain, SockAddr, Socket, Type};
///
/// #[derive(Debug)]
/// struct Unreachable;
///
/// impl CustomSocket for Unreachable {
///     fn domain(&self) -> Domain { Domain::IPV4 }
///     fn ty(&self) -> Type { Type::STREAM }
///     fn connect<'a>(&'a self, _addr: &'a SockAddr) -> BoxFuture<'a, trio::Result<()>> {
///         Box::pin(async {
///             trio::sleep(Duration::from_secs(1)).await?;
///             Err(std::io::Error::from(std::io::ErrorKind::HostUnreachable).into())
///         })
///     }
/// }
///
/// # let clock = trio::testing::MockClock::new();
/// # clock.set_autojump_threshold(Duration::ZERO);
/// # trio::Runtime::builder().clock(clock).build().run(async {
/// let sock = Socket::from_custom(Unreachable);
/// let err = sock.connect("10.0.0.1:80".parse::<std::net::SocketAddr>().unwrap()).await.unwrap_err();
/// assert_eq!(err.kind(), trio::ErrorKind::Io);
/// # Ok::<_, trio::Error>(()) }).unwrap();
/// ```
pub trait CustomSocket: fmt::Debug {
    /// The address family.
    fn domain(&self) -> Domain;
    /// The socket type (`Type::STREAM`, `Type::DGRAM`, ...).
    fn ty(&self) -> Type;
    /// The protocol, if known.
    fn protocol(&self) -> Option<Protocol> {
        None
    }
    /// As [`Socket::bind`].
    fn bind(&self, addr: &SockAddr) -> Result<()> {
        let _ = addr;
        Err(unsupported("bind"))
    }
    /// As [`Socket::listen`].
    fn listen(&self, backlog: i32) -> Result<()> {
        let _ = backlog;
        Err(unsupported("listen"))
    }
    /// As [`Socket::connect`].
    fn connect<'a>(&'a self, addr: &'a SockAddr) -> BoxFuture<'a, Result<()>> {
        let _ = addr;
        Box::pin(async { Err(unsupported("connect")) })
    }
    /// Sets a datagram socket's default peer, at once (what
    /// [`UdpSocket::connect`](crate::net::UdpSocket::connect) asks, which is not
    /// async: a datagram connect sends nothing).
    fn connect_datagram(&self, addr: &SockAddr) -> Result<()> {
        let _ = addr;
        Err(unsupported("a datagram connect"))
    }
    /// As [`Socket::accept`].
    fn accept(&self) -> BoxFuture<'_, Result<(Socket, SockAddr)>> {
        Box::pin(async { Err(unsupported("accept")) })
    }
    /// As [`Socket::recv`].
    fn recv<'a>(&'a self, buf: &'a mut [u8]) -> BoxFuture<'a, Result<usize>> {
        let _ = buf;
        Box::pin(async { Err(unsupported("recv")) })
    }
    /// As [`Socket::send`].
    fn send<'a>(&'a self, buf: &'a [u8]) -> BoxFuture<'a, Result<usize>> {
        let _ = buf;
        Box::pin(async { Err(unsupported("send")) })
    }
    /// As [`Socket::recv_from`].
    fn recv_from<'a>(&'a self, buf: &'a mut [u8]) -> BoxFuture<'a, Result<(usize, SockAddr)>> {
        let _ = buf;
        Box::pin(async { Err(unsupported("recv_from")) })
    }
    /// As [`Socket::send_to`].
    fn send_to<'a>(&'a self, buf: &'a [u8], addr: &'a SockAddr) -> BoxFuture<'a, Result<usize>> {
        let _ = (buf, addr);
        Box::pin(async { Err(unsupported("send_to")) })
    }
    /// As [`Socket::wait_readable`].
    fn wait_readable(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async { Err(unsupported("wait_readable")) })
    }
    /// As [`Socket::wait_writable`].
    fn wait_writable(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async { Err(unsupported("wait_writable")) })
    }
    /// As [`Socket::shutdown`].
    fn shutdown(&self, how: Shutdown) -> Result<()> {
        let _ = how;
        Err(unsupported("shutdown"))
    }
    /// As [`Socket::local_addr`].
    fn local_addr(&self) -> Result<SockAddr> {
        Err(unsupported("local_addr"))
    }
    /// As [`Socket::peer_addr`].
    fn peer_addr(&self) -> Result<SockAddr> {
        Err(unsupported("peer_addr"))
    }
    /// As [`Socket::set_option_bytes`].
    fn set_option(&self, level: i32, name: i32, value: &[u8]) -> Result<()> {
        let _ = (level, name, value);
        Err(unsupported("setsockopt"))
    }
    /// As [`Socket::option_bytes`]: fills `buf`, returns the length used.
    fn option(&self, level: i32, name: i32, buf: &mut [u8]) -> Result<usize> {
        let _ = (level, name, buf);
        Err(unsupported("getsockopt"))
    }
    /// Closes the socket; called by [`Socket::close`] (at most once) and when the
    /// [`Socket`] is dropped unclosed.
    fn close(&self) {}
}

/// Makes the sockets of [`Socket::new`] in this run (Trio's `SocketFactory`);
/// installed with [`set_custom_socket_factory`].
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use trio::net::socket::{Domain, Protocol, Socket, SocketFactory, Type};
///
/// #[derive(Debug)]
/// struct NoIpv6;
/// impl SocketFactory for NoIpv6 {
///     fn socket(&self, domain: Domain, ty: Type, protocol: Option<Protocol>) -> trio::Result<Socket> {
///         if domain == Domain::IPV6 {
///             return Err(std::io::Error::from(std::io::ErrorKind::Unsupported).into());
///         }
///         Socket::new_os(domain, ty, protocol)
///     }
/// }
///
/// # trio::run(async {
/// trio::net::socket::set_custom_socket_factory(Some(Rc::new(NoIpv6)))?;
/// assert!(Socket::new(Domain::IPV6, Type::STREAM, None).is_err());
/// assert!(Socket::new(Domain::IPV4, Type::STREAM, None).is_ok());
/// # Ok(()) }).unwrap();
/// ```
pub trait SocketFactory: fmt::Debug {
    /// Makes a socket, like [`Socket::new_os`] would.
    ///
    /// # Errors
    ///
    /// Whatever the factory reports; callers such as
    /// [`open_tcp_listeners`](crate::net::open_tcp_listeners) treat
    /// `EAFNOSUPPORT` as "this family is not available here".
    fn socket(&self, domain: Domain, ty: Type, protocol: Option<Protocol>) -> Result<Socket>;
}

static SOCKET_FACTORY: RunVar<Option<Rc<dyn SocketFactory>>> =
    RunVar::with_default("trio.net.socket_factory", || None);

/// Installs `factory` as the maker of every socket that [`Socket::new`] — and
/// through it every high-level function of [`trio::net`](crate::net) — creates for
/// the rest of this run; `None` restores the operating system's sockets (Trio's
/// `set_custom_socket_factory`). Returns the previous factory.
///
/// Sockets made from existing ones ([`Socket::from_socket2`], [`Socket::pair`],
/// accepted connections) are never affected.
///
/// # Errors
///
/// [`ErrorKind::Usage`](crate::ErrorKind::Usage) outside a trio run.
///
/// # Examples
///
/// ```
/// # use std::rc::Rc;
/// # use trio::net::socket::{Domain, Protocol, Socket, SocketFactory, Type};
/// # #[derive(Debug)] struct Plain;
/// # impl SocketFactory for Plain {
/// #     fn socket(&self, d: Domain, t: Type, p: Option<Protocol>) -> trio::Result<Socket> { Socket::new_os(d, t, p) }
/// # }
/// use trio::net::socket::set_custom_socket_factory;
/// # trio::run(async {
/// assert!(set_custom_socket_factory(Some(Rc::new(Plain)))?.is_none());
/// assert!(set_custom_socket_factory(None)?.is_some()); // hands back `Plain`
/// # Ok(()) }).unwrap();
/// ```
pub fn set_custom_socket_factory(
    factory: Option<Rc<dyn SocketFactory>>,
) -> Result<Option<Rc<dyn SocketFactory>>> {
    SOCKET_FACTORY.with(|f| std::mem::replace(f, factory))
}

/// The factory installed in this run, if any (none outside trio).
pub(crate) fn custom_socket_factory() -> Option<Rc<dyn SocketFactory>> {
    SOCKET_FACTORY.get().ok().flatten()
}
