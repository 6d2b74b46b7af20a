//! [`open_stream_to_socket_listener`] (Trio's `trio.testing.open_stream_to_socket_listener`).

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::Result;
#[cfg(unix)]
use crate::net::open_unix_socket;
use crate::net::{SocketListener, SocketStream, TcpConnect};

/// Connects to `listener` — handy in tests that start a server on port 0 and need
/// a client. A listener bound to a wildcard address (`0.0.0.0` or `::`) is reached
/// on the matching loopback address; a Unix listener through its path.
///
/// # Errors
///
/// The operating system's, if the listener's address cannot be read or the
/// connection is refused (for example, the listener was closed).
///
/// # Cancellation
///
/// A checkpoint; a cancelled call leaves no socket open.
///
/// # Examples
///
/// ```
/// use trio::abc::{Listener, ReceiveStream, SendStream};
/// use trio::testing::open_stream_to_socket_listener;
/// # trio::run(async {
/// let listener = trio::net::SocketListener::bind("0.0.0.0:0".parse().unwrap())?;
/// let client = open_stream_to_socket_listener(&listener).await?;
/// let server = listener.accept().await?;
/// client.send_all(b"hi").await?;
/// let mut buf = [0u8; 2];
/// assert_eq!(server.receive_some(&mut buf).await?, 2);
/// # Ok(()) }).unwrap();
/// ```
pub async fn open_stream_to_socket_listener(listener: &SocketListener) -> Result<SocketStream> {
    #[cfg(unix)]
    if let Some(path) = listener.socket().local_addr()?.as_pathname() {
        return open_unix_socket(path).await;
    }
    let addr: SocketAddr = listener.local_addr()?;
    let ip = match addr {
        SocketAddr::V4(a) if a.ip().is_unspecified() => Ipv4Addr::LOCALHOST.into(),
        SocketAddr::V6(a) if a.ip().is_unspecified() => Ipv6Addr::LOCALHOST.into(),
        a => a.ip(),
    };
    TcpConnect::new(&ip.to_string(), addr.port())
        .connect()
        .await
}
