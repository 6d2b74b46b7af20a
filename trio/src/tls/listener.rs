//! [`SslListener`] (Trio's `trio.SSLListener`): a listener whose connections come
//! out wrapped in [`SslStream`]s.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;

use super::SslStream;
use crate::Result;
use crate::abc::{AsyncResource, Listener, Stream};

/// A [`Listener`] that wraps every connection of another listener in a server-side
/// [`SslStream`] (Trio's `SSLListener`).
///
/// `accept` does not do the handshake: the first `send_all` or `receive_some` on
/// the stream does (or call [`SslStream::do_handshake`]), in the connection's own
/// task, so that one slow client cannot hold up the accept loop. The handshake
/// must finish within [`DEFAULT_HANDSHAKE_TIMEOUT`] (30 s) of its start, or it
/// fails with [`ErrorKind::TooSlow`](crate::ErrorKind::TooSlow): a client that
/// connects and says nothing cannot hold a connection forever. Change it with
/// [`handshake_timeout`](Self::handshake_timeout).
///
/// # Examples
///
/// ```
/// use trio::abc::{Listener, ReceiveStream, SendStream};
/// use trio::net::SocketListener;
/// use trio::tls::{ClientConfigBuilder, SslListener, server_config};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let key = trio::tls::pem_private_key(include_bytes!("testdata/localhost.key"))?;
/// # let cert = trio::tls::pem_certificates(include_bytes!("testdata/localhost.crt"))?.remove(0);
/// # let server_cfg = server_config(vec![cert.clone()], key.clone_key())?;
/// # let client_cfg = ClientConfigBuilder::without_roots().add_root_certificate(cert.clone())?.build()?;
/// trio::run(async {
///     let tcp = SocketListener::bind("127.0.0.1:0".parse().unwrap())?;
///     let port = tcp.local_addr()?.port();
///     let listener = SslListener::new(tcp, server_cfg);
///     let listener = &listener;
///     trio::open_nursery(async |n| {
///         n.start_soon(async move {
///             let conn = listener.accept().await?;
///             conn.send_all(b"hello over TLS").await
///         })?;
///         let client = trio::tls::open_ssl_over_tcp_stream("127.0.0.1", port, client_cfg).await?;
///         let mut buf = [0u8; 32];
///         let n = client.receive_some(&mut buf).await?;
///         assert_eq!(&buf[..n], b"hello over TLS");
///         Ok(())
///     })
///     .await
/// })?;
/// # Ok(()) }
/// ```
pub struct SslListener<L> {
    transport_listener: L,
    config: Arc<ServerConfig>,
    https_compatible: bool,
    handshake_timeout: Option<Duration>,
}

/// How long a server-side handshake may take by default, from its start: 30
/// seconds (as long as an HTTP server waits for a request's head). See
/// [`SslListener::handshake_timeout`].
///
/// # Examples
///
/// ```
/// assert_eq!(trio::tls::DEFAULT_HANDSHAKE_TIMEOUT, std::time::Duration::from_secs(30));
/// ```
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

impl<L: fmt::Debug> fmt::Debug for SslListener<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SslListener")
            .field("transport_listener", &self.transport_listener)
            .field("https_compatible", &self.https_compatible)
            .field("handshake_timeout", &self.handshake_timeout)
            .finish_non_exhaustive()
    }
}

impl<L> SslListener<L> {
    /// Wraps `transport_listener`; its connections get server-side TLS with
    /// `config`.
    ///
    /// # Examples
    ///
    /// See [`SslListener`].
    pub fn new(transport_listener: L, config: Arc<ServerConfig>) -> SslListener<L> {
        SslListener {
            transport_listener,
            config,
            https_compatible: false,
            handshake_timeout: Some(DEFAULT_HANDSHAKE_TIMEOUT),
        }
    }

    /// How long each accepted stream's handshake may take, from its start
    /// (default [`DEFAULT_HANDSHAKE_TIMEOUT`]; `None`: no limit). See
    /// [`SslStream::handshake_timeout`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use trio::tls::{SslListener, server_config};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let certs = trio::tls::pem_certificates(include_bytes!("testdata/localhost.crt"))?;
    /// # let key = trio::tls::pem_private_key(include_bytes!("testdata/localhost.key"))?;
    /// # let config = server_config(certs, key)?;
    /// let tcp = trio::net::SocketListener::bind("127.0.0.1:0".parse().unwrap())?;
    /// let listener = SslListener::new(tcp, config).handshake_timeout(Duration::from_secs(5));
    /// assert_eq!(listener.get_handshake_timeout(), Some(Duration::from_secs(5)));
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn handshake_timeout(mut self, timeout: impl Into<Option<Duration>>) -> SslListener<L> {
        self.handshake_timeout = timeout.into();
        self
    }

    /// The limit set by [`handshake_timeout`](Self::handshake_timeout).
    ///
    /// # Examples
    ///
    /// See [`handshake_timeout`](Self::handshake_timeout).
    pub fn get_handshake_timeout(&self) -> Option<Duration> {
        self.handshake_timeout
    }

    /// Makes the accepted streams [`https_compatible`](SslStream::https_compatible)
    /// (default off).
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::tls::{SslListener, server_config};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let key = trio::tls::pem_private_key(include_bytes!("testdata/localhost.key"))?;
    /// # let cert = trio::tls::pem_certificates(include_bytes!("testdata/localhost.crt"))?.remove(0);
    /// # let config = server_config(vec![cert.clone()], key.clone_key())?;
    /// let tcp = trio::net::SocketListener::bind("127.0.0.1:0".parse().unwrap())?;
    /// let listener = SslListener::new(tcp, config).https_compatible(true);
    /// assert!(listener.is_https_compatible());
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn https_compatible(mut self, on: bool) -> SslListener<L> {
        self.https_compatible = on;
        self
    }

    /// Whether the accepted streams are [`https_compatible`](SslStream::https_compatible).
    ///
    /// # Examples
    ///
    /// See [`https_compatible`](Self::https_compatible).
    pub fn is_https_compatible(&self) -> bool {
        self.https_compatible
    }

    /// The wrapped listener (Trio's `transport_listener`), for example for its
    /// address.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::tls::{SslListener, server_config};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let key = trio::tls::pem_private_key(include_bytes!("testdata/localhost.key"))?;
    /// # let cert = trio::tls::pem_certificates(include_bytes!("testdata/localhost.crt"))?.remove(0);
    /// # let config = server_config(vec![cert.clone()], key.clone_key())?;
    /// let tcp = trio::net::SocketListener::bind("127.0.0.1:0".parse().unwrap())?;
    /// let listener = SslListener::new(tcp, config);
    /// assert_ne!(listener.transport_listener().local_addr()?.port(), 0);
    /// # Ok(()) }
    /// ```
    pub fn transport_listener(&self) -> &L {
        &self.transport_listener
    }

    /// The server configuration of the accepted streams.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::tls::{SslListener, server_config};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let key = trio::tls::pem_private_key(include_bytes!("testdata/localhost.key"))?;
    /// # let cert = trio::tls::pem_certificates(include_bytes!("testdata/localhost.crt"))?.remove(0);
    /// # let config = server_config(vec![cert.clone()], key.clone_key())?;
    /// let tcp = trio::net::SocketListener::bind("127.0.0.1:0".parse().unwrap())?;
    /// let listener = SslListener::new(tcp, config.clone());
    /// assert!(std::sync::Arc::ptr_eq(listener.config(), &config));
    /// # Ok(()) }
    /// ```
    pub fn config(&self) -> &Arc<ServerConfig> {
        &self.config
    }

    /// Unwraps the transport listener.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::tls::{SslListener, server_config};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let key = trio::tls::pem_private_key(include_bytes!("testdata/localhost.key"))?;
    /// # let cert = trio::tls::pem_certificates(include_bytes!("testdata/localhost.crt"))?.remove(0);
    /// # let config = server_config(vec![cert.clone()], key.clone_key())?;
    /// let tcp = trio::net::SocketListener::bind("127.0.0.1:0".parse().unwrap())?;
    /// let tcp = SslListener::new(tcp, config).into_inner();
    /// assert!(tcp.socket().is_listening()?);
    /// # Ok(()) }
    /// ```
    pub fn into_inner(self) -> L {
        self.transport_listener
    }
}

impl<L: Listener> AsyncResource for SslListener<L> {
    /// Closes the transport listener.
    ///
    /// # Errors
    ///
    /// Those of the transport listener's `aclose`.
    ///
    /// # Cancellation
    ///
    /// As the transport listener's `aclose`.
    async fn aclose(&self) -> Result<()> {
        self.transport_listener.aclose().await
    }
}

impl<L> Listener for SslListener<L>
where
    L: Listener,
    L::Stream: Stream,
{
    type Stream = SslStream<L::Stream>;

    /// Accepts the next connection of the transport listener and wraps it in a
    /// server-side [`SslStream`] (no handshake yet), with this listener's
    /// `https_compatible` and handshake timeout.
    ///
    /// # Errors
    ///
    /// Those of the transport listener's `accept`;
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) if rustls rejects
    /// the configuration.
    ///
    /// # Cancellation
    ///
    /// As the transport listener's `accept`.
    async fn accept(&self) -> Result<SslStream<L::Stream>> {
        let transport = self.transport_listener.accept().await?;
        Ok(SslStream::server(transport, self.config.clone())?
            .https_compatible(self.https_compatible)
            .handshake_timeout(self.handshake_timeout))
    }
}
