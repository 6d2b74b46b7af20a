//! [`UdpSocket`]: datagrams over IP, on a [`Socket`].

use std::net::SocketAddr;

use crate::net::socket::{self, Domain, Socket, Type};
use crate::{Error, ErrorKind, Result};

/// A UDP socket (a `Type::DGRAM` [`Socket`] with IP addresses).
///
/// Every method takes `&self`; as for any socket, one task may wait to receive
/// while another sends, and a second concurrent receiver gets
/// [`ErrorKind::BusyResource`].
///
/// # Examples
///
/// ```
/// use trio::net::UdpSocket;
/// # trio::run(async {
/// let a = UdpSocket::bind("127.0.0.1:0".parse().unwrap())?;
/// let b = UdpSocket::bind("127.0.0.1:0".parse().unwrap())?;
/// a.send_to(b"ping", b.local_addr()?).await?;
/// let mut buf = [0u8; 16];
/// let (n, from) = b.recv_from(&mut buf).await?;
/// assert_eq!((&buf[..n], from), (&b"ping"[..], a.local_addr()?));
/// # Ok(()) }).unwrap();
/// ```
#[derive(Debug)]
pub struct UdpSocket {
    socket: Socket,
}

impl UdpSocket {
    /// A UDP socket bound to `addr` (port 0: the system picks one).
    ///
    /// # Errors
    ///
    /// The operating system's (for example `EADDRINUSE`).
    ///
    /// # Examples
    ///
    /// ```
    /// let s = trio::net::UdpSocket::bind("127.0.0.1:0".parse().unwrap())?;
    /// assert_ne!(s.local_addr()?.port(), 0);
    /// # Ok::<_, trio::Error>(())
    /// ```
    pub fn bind(addr: SocketAddr) -> Result<UdpSocket> {
        let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, None)?;
        socket.bind(addr)?;
        Ok(UdpSocket { socket })
    }

    /// Wraps a datagram socket.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`] if it is not a `Type::DGRAM` socket.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::net::socket::{Domain, Socket, Type};
    /// let s = trio::net::UdpSocket::from_socket(Socket::new_os(Domain::IPV4, Type::DGRAM, None)?)?;
    /// # let _ = s;
    /// # Ok::<_, trio::Error>(())
    /// ```
    pub fn from_socket(socket: Socket) -> Result<UdpSocket> {
        if socket.ty() != Type::DGRAM {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "UdpSocket requires a SOCK_DGRAM socket",
            ));
        }
        Ok(UdpSocket { socket })
    }

    /// Sets the default destination, and accepts datagrams only from it
    /// (`connect(2)` on a datagram socket; never blocks).
    ///
    /// # Errors
    ///
    /// The operating system's; [`ErrorKind::ClosedResource`] after `close`.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::net::UdpSocket;
    /// # trio::run(async {
    /// let a = UdpSocket::bind("127.0.0.1:0".parse().unwrap())?;
    /// let b = UdpSocket::bind("127.0.0.1:0".parse().unwrap())?;
    /// a.connect(b.local_addr()?)?;
    /// assert_eq!(a.peer_addr()?, b.local_addr()?);
    /// a.send(b"one").await?;
    /// a.send(b"two").await?; // each send is its own datagram
    /// let mut buf = [0u8; 8];
    /// assert_eq!(b.recv(&mut buf).await?, 3);
    /// assert_eq!(&buf[..3], b"one");
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn connect(&self, addr: SocketAddr) -> Result<()> {
        if let Some(c) = self.socket.custom() {
            return c.connect_datagram(&addr.into());
        }
        self.socket.as_socket2(|s| s.connect(&addr.into()))
    }

    /// Sends a datagram to the connected peer.
    ///
    /// # Errors
    ///
    /// As [`Socket::send`]; `ENOTCONN`/`EDESTADDRREQ` if not connected.
    ///
    /// # Cancellation
    ///
    /// A checkpoint; a cancelled send sent nothing.
    ///
    /// # Examples
    ///
    /// See [`connect`](Self::connect).
    pub async fn send(&self, buf: &[u8]) -> Result<usize> {
        self.socket.send(buf).await
    }

    /// Receives a datagram (from the connected peer, if connected); a datagram
    /// longer than `buf` is truncated.
    ///
    /// # Errors
    ///
    /// As [`Socket::recv`].
    ///
    /// # Cancellation
    ///
    /// A checkpoint; a cancelled receive consumed nothing.
    ///
    /// # Examples
    ///
    /// See [`connect`](Self::connect).
    pub async fn recv(&self, buf: &mut [u8]) -> Result<usize> {
        self.socket.recv(buf).await
    }

    /// Sends a datagram to `addr`.
    ///
    /// # Errors
    ///
    /// As [`Socket::send_to`].
    ///
    /// # Cancellation
    ///
    /// A checkpoint; a cancelled send sent nothing.
    ///
    /// # Examples
    ///
    /// See [`UdpSocket`].
    pub async fn send_to(&self, buf: &[u8], addr: SocketAddr) -> Result<usize> {
        self.socket.send_to(buf, addr).await
    }

    /// Receives a datagram and the address it came from.
    ///
    /// # Errors
    ///
    /// As [`Socket::recv_from`]; [`ErrorKind::Usage`] if the sender's address is
    /// not an IP address.
    ///
    /// # Cancellation
    ///
    /// A checkpoint; a cancelled receive consumed nothing.
    ///
    /// # Examples
    ///
    /// See [`UdpSocket`].
    pub async fn recv_from(&self, buf: &mut [u8]) -> Result<(usize, SocketAddr)> {
        let (n, from) = self.socket.recv_from(buf).await?;
        Ok((n, socket::ip_addr(from)?))
    }

    /// The local address.
    ///
    /// # Errors
    ///
    /// The operating system's; [`ErrorKind::ClosedResource`] after `close`.
    ///
    /// # Examples
    ///
    /// See [`bind`](Self::bind).
    pub fn local_addr(&self) -> Result<SocketAddr> {
        socket::ip_addr(self.socket.local_addr()?)
    }

    /// The connected peer's address.
    ///
    /// # Errors
    ///
    /// As [`local_addr`](Self::local_addr); `ENOTCONN` if not connected.
    ///
    /// # Examples
    ///
    /// See [`connect`](Self::connect).
    pub fn peer_addr(&self) -> Result<SocketAddr> {
        socket::ip_addr(self.socket.peer_addr()?)
    }

    /// The socket, for options (broadcast, multicast, buffer sizes...).
    ///
    /// # Examples
    ///
    /// ```
    /// let s = trio::net::UdpSocket::bind("127.0.0.1:0".parse().unwrap())?;
    /// s.socket().as_socket2(|s| s.set_broadcast(true))?;
    /// # Ok::<_, trio::Error>(())
    /// ```
    pub fn socket(&self) -> &Socket {
        &self.socket
    }

    /// Closes the socket; tasks blocked on it wake with
    /// [`ErrorKind::ClosedResource`]. Dropping closes too.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = trio::net::UdpSocket::bind("127.0.0.1:0".parse().unwrap())?;
    /// s.close();
    /// assert_eq!(s.local_addr().unwrap_err().kind(), trio::ErrorKind::ClosedResource);
    /// # Ok::<_, trio::Error>(())
    /// ```
    pub fn close(&self) {
        self.socket.close();
    }
}
