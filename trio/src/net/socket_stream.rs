//! [`SocketStream`] and [`SocketListener`] (Trio's `_highlevel_socket.py`): the
//! [`abc`](crate::abc) stream interfaces on a connected socket, and a listener that
//! accepts them.

use std::future::poll_fn;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use crate::abc::{AsyncResource, HalfCloseableStream, Listener, ReceiveStream, SendStream};
use crate::conflict::ConflictDetector;
use crate::lowlevel::checkpoint;
use crate::net::socket::{self, Domain, Socket, Type};
use crate::{Error, ErrorKind, Result};

const SENDING: &str = "another task is currently sending data on this SocketStream";
const RECEIVING: &str = "another task is currently receiving data on this SocketStream";

/// Trio's `_translate_socket_errors_to_stream_errors`: an OS error means the
/// connection broke (`EBADF`: it was closed); trio's own errors pass through.
fn translate(e: Error) -> Error {
    if e.kind() != ErrorKind::Io {
        return e;
    }
    if socket::os_error(&e) == Some(libc::EBADF) {
        return Error::new(ErrorKind::ClosedResource, "this socket was already closed");
    }
    let msg = format!("socket connection broken: {e}");
    e.context(ErrorKind::BrokenResource, msg)
}

/// A byte stream over a connected socket (Trio's `SocketStream`): TCP, or a Unix
/// stream socket. Implements [`HalfCloseableStream`], and also
/// [`futures_io::AsyncRead`] / [`futures_io::AsyncWrite`].
///
/// TCP streams get `TCP_NODELAY`, and `TCP_NOTSENT_LOWAT` of 16 KiB where the
/// system has it (Trio's defaults: send small messages at once; keep the kernel's
/// unsent backlog short so that `wait_send_all_might_not_block` means something).
/// Change them through [`socket`](Self::socket).
///
/// Two tasks may use a stream at once — one sending, one receiving. Two senders
/// (or two receivers) at once get [`ErrorKind::BusyResource`].
///
/// # Examples
///
/// ```
/// use trio::abc::{ReceiveStream, SendStream};
/// use trio::net::SocketStream;
/// # trio::run(async {
/// let (a, b) = SocketStream::pair()?;
/// a.send_all(b"hello").await?;
/// let mut buf = [0u8; 16];
/// let n = b.receive_some(&mut buf).await?;
/// assert_eq!(&buf[..n], b"hello");
/// # Ok(()) }).unwrap();
/// ```
#[derive(Debug)]
pub struct SocketStream {
    socket: Socket,
    sending: ConflictDetector,
    receiving: ConflictDetector,
}

impl SocketStream {
    /// Wraps a connected stream socket, setting Trio's default options.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`] if the socket is not a `Type::STREAM` socket. Errors
    /// setting the default options are ignored if they come from the operating
    /// system (Unix sockets have no `TCP_NODELAY`) and returned otherwise (a
    /// custom socket may fail on purpose).
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::net::SocketStream;
    /// use trio::net::socket::{Domain, Socket, Type};
    /// # trio::run(async {
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let sock = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    /// sock.connect(listener.local_addr()?).await?;
    /// let stream = SocketStream::from_socket(sock)?;
    /// assert_eq!(stream.socket().option(libc::IPPROTO_TCP, libc::TCP_NODELAY)?, 1);
    ///
    /// let udp = Socket::new(Domain::IPV4, Type::DGRAM, None)?;
    /// assert_eq!(SocketStream::from_socket(udp).unwrap_err().kind(), trio::ErrorKind::InvalidInput);
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn from_socket(socket: Socket) -> Result<SocketStream> {
        if socket.ty() != Type::STREAM {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "SocketStream requires a SOCK_STREAM socket",
            ));
        }
        let ip = matches!(socket.domain(), d if d == Domain::IPV4 || d == Domain::IPV6);
        if ip || socket.is_custom() {
            ignore_os_errors(socket.set_option(
                crate::sys::socket::opt::IPPROTO_TCP,
                crate::sys::socket::opt::TCP_NODELAY,
                1,
            ))?;
            if let Some((level, option)) = crate::sys::socket::TCP_NOTSENT_LOWAT {
                ignore_os_errors(socket.set_option(level, option, 1 << 14))?;
            }
        }
        Ok(SocketStream {
            socket,
            sending: ConflictDetector::new(SENDING),
            receiving: ConflictDetector::new(RECEIVING),
        })
    }

    /// A connected pair of Unix-domain stream sockets (Trio's
    /// `SocketStream(socketpair())`), handy for tests.
    ///
    /// # Errors
    ///
    /// The operating system's (for example, out of file descriptors).
    ///
    /// # Examples
    ///
    /// See [`SocketStream`].
    pub fn pair() -> Result<(SocketStream, SocketStream)> {
        let (a, b) = Socket::pair(Domain::UNIX, Type::STREAM, None)?;
        Ok((SocketStream::from_socket(a)?, SocketStream::from_socket(b)?))
    }

    /// The socket, for options and addresses (Trio's `stream.socket`).
    ///
    /// # Examples
    ///
    /// ```
    /// # use trio::net::SocketStream;
    /// let (a, _b) = SocketStream::pair()?;
    /// assert_eq!(a.socket().domain(), trio::net::socket::Domain::UNIX);
    /// # Ok::<_, trio::Error>(())
    /// ```
    pub fn socket(&self) -> &Socket {
        &self.socket
    }

    /// Unwraps the socket.
    ///
    /// # Examples
    ///
    /// ```
    /// # use trio::net::SocketStream;
    /// let (a, _b) = SocketStream::pair()?;
    /// let sock = a.into_socket();
    /// assert!(!sock.is_closed());
    /// # Ok::<_, trio::Error>(())
    /// ```
    pub fn into_socket(self) -> Socket {
        self.socket
    }

    /// The local IP address and port.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Usage`] for a non-IP (Unix) socket; the operating system's
    /// otherwise; [`ErrorKind::ClosedResource`] after `aclose`.
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// let listener = trio::net::SocketListener::bind("127.0.0.1:0".parse().unwrap())?;
    /// let port = listener.local_addr()?.port();
    /// let s = trio::net::open_tcp_stream("127.0.0.1", port).await?;
    /// assert_eq!(s.peer_addr()?, listener.local_addr()?);
    /// assert!(s.local_addr()?.ip().is_loopback());
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn local_addr(&self) -> Result<SocketAddr> {
        socket::ip_addr(self.socket.local_addr()?)
    }

    /// The peer's IP address and port.
    ///
    /// # Errors
    ///
    /// As [`local_addr`](Self::local_addr).
    ///
    /// # Examples
    ///
    /// See [`local_addr`](Self::local_addr).
    pub fn peer_addr(&self) -> Result<SocketAddr> {
        socket::ip_addr(self.socket.peer_addr()?)
    }
}

fn ignore_os_errors(r: Result<()>) -> Result<()> {
    match r {
        Err(e) if e.kind() != ErrorKind::Io => Err(e),
        _ => Ok(()),
    }
}

impl AsyncResource for SocketStream {
    /// Closes the socket (waking any task blocked on it with `ClosedResource`),
    /// then checkpoints.
    async fn aclose(&self) -> Result<()> {
        self.socket.close();
        checkpoint().await
    }
}

impl SendStream for SocketStream {
    async fn send_all(&self, data: &[u8]) -> Result<()> {
        if self.socket.did_shutdown_write() {
            return Err(Error::new(
                ErrorKind::ClosedResource,
                "can't send data after sending EOF",
            ));
        }
        let _busy = self.sending.enter()?;
        if data.is_empty() {
            if self.socket.is_closed() {
                return Err(Error::new(
                    ErrorKind::ClosedResource,
                    "this socket was already closed",
                ));
            }
            return checkpoint().await;
        }
        let mut sent = 0;
        while sent < data.len() {
            sent += self.socket.send(&data[sent..]).await.map_err(translate)?;
        }
        Ok(())
    }

    async fn wait_send_all_might_not_block(&self) -> Result<()> {
        let _busy = self.sending.enter()?;
        if self.socket.is_closed() {
            return Err(Error::new(
                ErrorKind::ClosedResource,
                "this socket was already closed",
            ));
        }
        self.socket.wait_writable().await.map_err(translate)
    }
}

impl ReceiveStream for SocketStream {
    async fn receive_some(&self, buf: &mut [u8]) -> Result<usize> {
        if buf.is_empty() {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "receive_some needs a buffer of at least one byte",
            ));
        }
        let _busy = self.receiving.enter()?;
        self.socket.recv(buf).await.map_err(translate)
    }
}

impl HalfCloseableStream for SocketStream {
    async fn send_eof(&self) -> Result<()> {
        let _busy = self.sending.enter()?;
        checkpoint().await?;
        // Idempotent (macOS fails a second shutdown with ENOTCONN).
        if self.socket.did_shutdown_write() {
            return Ok(());
        }
        // Bytes a poll-based write took go before the end of stream.
        poll_fn(|cx| self.socket.poll_flush(cx))
            .await
            .map_err(|e| translate(Error::from(e)))?;
        self.socket.shutdown(Shutdown::Write).map_err(translate)
    }
}

// ---- futures-io ------------------------------------------------------------------

fn poll_read(s: &SocketStream, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
    if buf.is_empty() {
        return Poll::Ready(Ok(0));
    }
    if let Err(e) = s.receiving.check() {
        return Poll::Ready(Err(e.into()));
    }
    s.socket.poll_recv(cx, buf)
}

fn poll_write(s: &SocketStream, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
    if let Err(e) = s.sending.check() {
        return Poll::Ready(Err(e.into()));
    }
    if s.socket.did_shutdown_write() {
        return Poll::Ready(Err(Error::new(
            ErrorKind::ClosedResource,
            "can't send data after sending EOF",
        )
        .into()));
    }
    if buf.is_empty() {
        return Poll::Ready(Ok(0));
    }
    s.socket.poll_send(cx, buf)
}

fn poll_flush(s: &SocketStream, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
    if let Err(e) = s.sending.check() {
        return Poll::Ready(Err(e.into()));
    }
    s.socket.poll_flush(cx)
}

fn poll_close(s: &SocketStream, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
    if s.socket.did_shutdown_write() {
        return Poll::Ready(Ok(()));
    }
    ready!(poll_flush(s, cx))?;
    Poll::Ready(s.socket.shutdown(Shutdown::Write).map_err(io::Error::from))
}

/// Poll-based reading for code written against `futures-io`. Honours trio
/// cancellation: inside a cancelled scope it fails with an [`io::Error`] that
/// carries trio's `Cancelled` (so the scope recognises and absorbs it). Unlike
/// [`receive_some`](ReceiveStream::receive_some) it is not a schedule point when
/// data is already there. OS errors keep their [`io::ErrorKind`].
///
/// On the io_uring reactor a read that waits has a receive in the kernel; if
/// the caller stops polling, what it gets (bytes, the end of the stream, an
/// error) is kept for the next read, poll-based or not: nothing is lost.
///
/// # Examples
///
/// ```
/// use futures_io::AsyncRead;
/// use trio::abc::SendStream;
/// # trio::run(async {
/// let (a, mut b) = trio::net::SocketStream::pair()?;
/// a.send_all(b"hi").await?;
/// let mut buf = [0u8; 2];
/// let n = std::future::poll_fn(|cx| std::pin::Pin::new(&mut b).poll_read(cx, &mut buf)).await?;
/// assert_eq!(&buf[..n], b"hi");
/// # Ok(()) }).unwrap();
/// ```
impl futures_io::AsyncRead for SocketStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        poll_read(&self, cx, buf)
    }
}

/// As for `SocketStream`; a shared reference reads too (one reader at a time).
impl futures_io::AsyncRead for &SocketStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        poll_read(&self, cx, buf)
    }
}

/// Poll-based writing for code written against `futures-io`, with trio
/// cancellation as for [`AsyncRead`](futures_io::AsyncRead). `poll_close`
/// shuts the sending side down, like [`send_eof`](HalfCloseableStream::send_eof)
/// — the socket stays open for reading.
///
/// On the io_uring reactor a write is a *write-behind*: `poll_write` copies up
/// to 64 KiB into a buffer the reactor owns, submits it, and returns at once;
/// the next write waits for it, and `poll_flush` (as `poll_close` and
/// `send_eof`) waits until it is in the socket, returning its error if it
/// failed. Flush before dropping the stream. On epoll `poll_flush` has
/// nothing to wait for.
///
/// # Examples
///
/// ```
/// use futures_io::AsyncWrite;
/// use trio::abc::ReceiveStream;
/// # trio::run(async {
/// let (mut a, b) = trio::net::SocketStream::pair()?;
/// let n = std::future::poll_fn(|cx| std::pin::Pin::new(&mut a).poll_write(cx, b"yo")).await?;
/// assert_eq!(n, 2);
/// std::future::poll_fn(|cx| std::pin::Pin::new(&mut a).poll_close(cx)).await?;
/// let mut buf = [0u8; 4];
/// assert_eq!(b.receive_some(&mut buf).await?, 2);
/// assert_eq!(b.receive_some(&mut buf).await?, 0); // end of stream
/// # Ok(()) }).unwrap();
/// ```
impl futures_io::AsyncWrite for SocketStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        poll_write(&self, cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        poll_flush(&self, cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        poll_close(&self, cx)
    }
}

/// As for `SocketStream`; a shared reference writes too (one writer at a time).
impl futures_io::AsyncWrite for &SocketStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        poll_write(&self, cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        poll_flush(&self, cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        poll_close(&self, cx)
    }
}

// ---- the listener ----------------------------------------------------------------

use crate::sys::socket::IGNORABLE_ACCEPT_ERRNOS;

/// A [`Listener`] on a listening socket, accepting [`SocketStream`]s (Trio's
/// `SocketListener`). It owns the socket: closing the listener closes it.
///
/// # Examples
///
/// ```
/// use trio::abc::{Listener, ReceiveStream, SendStream};
/// # trio::run(async {
/// let listener = trio::net::SocketListener::bind("127.0.0.1:0".parse().unwrap())?;
/// let addr = listener.local_addr()?;
/// let client = trio::net::open_tcp_stream("127.0.0.1", addr.port()).await?;
/// let server = listener.accept().await?;
/// client.send_all(b"x").await?;
/// let mut buf = [0u8; 1];
/// assert_eq!(server.receive_some(&mut buf).await?, 1);
/// # Ok(()) }).unwrap();
/// ```
#[derive(Debug)]
pub struct SocketListener {
    socket: Socket,
}

impl SocketListener {
    /// Wraps a listening stream socket.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`] if the socket is not a `Type::STREAM` socket, or
    /// is not listening (where the system can tell: `SO_ACCEPTCONN`) (Trio's
    /// `ValueError`).
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::net::SocketListener;
    /// use trio::net::socket::{Domain, Socket, Type};
    /// let sock = Socket::new_os(Domain::IPV4, Type::STREAM, None)?;
    /// sock.bind("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap())?;
    /// let err = SocketListener::from_socket(sock).unwrap_err(); // not listening
    /// assert_eq!(err.kind(), trio::ErrorKind::InvalidInput);
    /// # Ok::<_, trio::Error>(())
    /// ```
    pub fn from_socket(socket: Socket) -> Result<SocketListener> {
        if socket.ty() != Type::STREAM {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "SocketListener requires a SOCK_STREAM socket",
            ));
        }
        // Where SO_ACCEPTCONN is not available (macOS), trust the caller.
        if let Ok(false) = socket.is_listening() {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "SocketListener requires a listening socket",
            ));
        }
        Ok(SocketListener { socket })
    }

    /// Binds a TCP listener to `addr` and starts listening: `SO_REUSEADDR` (so a
    /// restarted server can rebind at once), `IPV6_V6ONLY` for IPv6 addresses, and
    /// the largest backlog the system allows — as
    /// [`open_tcp_listeners`](crate::net::open_tcp_listeners) does for each address.
    /// Port 0 picks a free port; see [`local_addr`](Self::local_addr).
    ///
    /// # Errors
    ///
    /// The operating system's, naming the address (for example `EADDRINUSE`:
    /// "I/O error: error binding to 127.0.0.1:8080: address already in use (os
    /// error 98)").
    ///
    /// # Examples
    ///
    /// ```
    /// let listener = trio::net::SocketListener::bind("127.0.0.1:0".parse().unwrap())?;
    /// let addr = listener.local_addr()?;
    /// assert_ne!(addr.port(), 0);
    /// let busy = trio::net::SocketListener::bind(addr).unwrap_err();
    /// assert!(busy.to_string().contains(&format!("binding to {addr}")), "{busy}");
    /// # Ok::<_, trio::Error>(())
    /// ```
    pub fn bind(addr: SocketAddr) -> Result<SocketListener> {
        let sock = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
        crate::net::tcp_listeners::prepare_listener(&sock, addr, None, false)?;
        SocketListener::from_socket(sock)
    }

    /// The socket (Trio's `listener.socket`).
    ///
    /// # Examples
    ///
    /// ```
    /// let listener = trio::net::SocketListener::bind("127.0.0.1:0".parse().unwrap())?;
    /// assert!(listener.socket().is_listening()?);
    /// # Ok::<_, trio::Error>(())
    /// ```
    pub fn socket(&self) -> &Socket {
        &self.socket
    }

    /// Unwraps the socket.
    ///
    /// # Examples
    ///
    /// ```
    /// let listener = trio::net::SocketListener::bind("127.0.0.1:0".parse().unwrap())?;
    /// let sock = listener.into_socket();
    /// assert!(sock.is_listening()?);
    /// # Ok::<_, trio::Error>(())
    /// ```
    pub fn into_socket(self) -> Socket {
        self.socket
    }

    /// The local IP address and port (for port 0: the one the system picked).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Usage`] for a Unix listener; the operating system's
    /// otherwise; [`ErrorKind::ClosedResource`] after `aclose`.
    ///
    /// # Examples
    ///
    /// See [`bind`](Self::bind).
    pub fn local_addr(&self) -> Result<SocketAddr> {
        socket::ip_addr(self.socket.local_addr()?)
    }
}

impl AsyncResource for SocketListener {
    /// Closes the listening socket (a task blocked in `accept` wakes with
    /// `ClosedResource`), then checkpoints.
    async fn aclose(&self) -> Result<()> {
        self.socket.close();
        checkpoint().await
    }
}

impl Listener for SocketListener {
    type Stream = SocketStream;

    /// Accepts the next connection, skipping errors that concern only that
    /// connection (`ECONNABORTED`, `EPERM` from a firewall, ...). Resource
    /// exhaustion (`EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`) is returned, not
    /// handled: [`serve_listeners`](crate::net::serve_listeners) handles it.
    async fn accept(&self) -> Result<SocketStream> {
        SocketStream::from_socket(self.accept_socket().await?)
    }
}

impl SocketListener {
    /// [`accept`](Listener::accept) without the stream: the connected socket, for
    /// a connection that another loop will serve (`net::LoopListener::handoff`).
    pub(crate) async fn accept_socket(&self) -> Result<Socket> {
        loop {
            match self.socket.accept().await {
                Ok((sock, _)) => return Ok(sock),
                Err(e) => match socket::os_error(&e) {
                    Some(libc::EBADF) => {
                        return Err(Error::new(
                            ErrorKind::ClosedResource,
                            "this listener was already closed",
                        ));
                    }
                    Some(n) if IGNORABLE_ACCEPT_ERRNOS.contains(&n) => {}
                    _ => return Err(e),
                },
            }
        }
    }
}
