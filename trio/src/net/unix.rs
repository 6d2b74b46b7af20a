//! Unix-domain stream sockets (Trio's `_highlevel_open_unix_stream.py`).
//!
//! As in Trio there is no separate Unix stream type: a connected Unix socket is a
//! [`SocketStream`] (it has every stream method; TCP options such as `TCP_NODELAY`
//! are simply not set), and a listening one is a [`SocketListener`].

use std::path::Path;

use crate::Result;
use crate::net::socket::{Domain, SockAddr, Socket, Type};
use crate::net::{SocketListener, SocketStream};

/// Connects to the Unix-domain stream socket at `path` (Trio's `open_unix_socket`).
/// You need write permission on the socket file.
///
/// # Errors
///
/// [`ErrorKind::Io`](crate::ErrorKind::Io): for example `NotFound` if nothing
/// is there, `ConnectionRefused` if nobody listens, `InvalidInput` if the path is
/// too long for a socket address, `WouldBlock` if the listener's queue is full.
///
/// # Cancellation
///
/// A checkpoint; a cancelled call leaves no socket behind.
///
/// # Examples
///
/// ```
/// use trio::abc::{Listener, ReceiveStream, SendStream};
/// # trio::run(async {
/// let dir = std::env::temp_dir().join(format!("trio-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let path = dir.join("open_unix_socket.sock");
/// # let _ = std::fs::remove_file(&path);
/// let listener = trio::net::open_unix_listener(&path)?;
/// let client = trio::net::open_unix_socket(&path).await?;
/// let server = listener.accept().await?;
/// client.send_all(b"hi").await?;
/// let mut buf = [0u8; 2];
/// assert_eq!(server.receive_some(&mut buf).await?, 2);
/// # std::fs::remove_file(&path)?;
/// # Ok(()) }).unwrap();
/// ```
pub async fn open_unix_socket(path: impl AsRef<Path>) -> Result<SocketStream> {
    let addr = SockAddr::unix(path)?;
    // Dropping the socket on error closes it (Trio's `close_on_error`).
    let sock = Socket::new(Domain::UNIX, Type::STREAM, None)?;
    sock.connect(addr).await?;
    SocketStream::from_socket(sock)
}

/// Binds a Unix-domain stream socket at `path` and listens on it, with the largest
/// backlog the system allows. The socket file is created; remove it when done (a
/// stale file makes the next bind fail with `AddrInUse`).
///
/// # Errors
///
/// [`ErrorKind::Io`](crate::ErrorKind::Io): for example `AddrInUse` if the file
/// exists, `InvalidInput` if the path is too long.
///
/// # Examples
///
/// See [`open_unix_socket`].
pub fn open_unix_listener(path: impl AsRef<Path>) -> Result<SocketListener> {
    let addr = SockAddr::unix(path)?;
    let sock = Socket::new(Domain::UNIX, Type::STREAM, None)?;
    sock.bind(addr)?;
    sock.listen(0xFFFF)?;
    SocketListener::from_socket(sock)
}
