//! TLS over TCP in one call (Trio's `_highlevel_ssl_helpers.py`):
//! [`open_ssl_over_tcp_stream`] / [`SslConnect`], [`open_ssl_over_tcp_listeners`],
//! and [`serve_ssl_over_tcp`] / [`ServeSslOverTcp`], shaped like their TCP
//! counterparts in [`net`](crate::net).

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::{ClientConfig, ServerConfig};

use super::{DEFAULT_HANDSHAKE_TIMEOUT, SslListener, SslStream};
use crate::net::{
    ConnectionErrorHook, SocketListener, SocketStream, TcpConnect, TcpListen, serve_listeners,
};
use crate::{Error, Nursery, Result, TaskStatus};

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// Connects to `host` on `port` over TCP (with happy eyeballs, as
/// [`open_tcp_stream`](crate::net::open_tcp_stream)) and wraps the connection in
/// a client-side [`SslStream`] that verifies the server's certificate for `host`
/// (Trio's `open_ssl_over_tcp_stream`). See [`SslConnect`] for the options.
///
/// The handshake is not done yet: the first `send_all` or `receive_some` does it,
/// or call [`SslStream::do_handshake`]. `config` is usually
/// [`client_config()`](super::client_config).
///
/// # Errors
///
/// As [`open_tcp_stream`](crate::net::open_tcp_stream);
/// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) if `host` is not a valid TLS
/// server name.
///
/// # Cancellation
///
/// A checkpoint; no connection is left open if cancelled.
///
/// # Examples
///
/// ```no_run
/// use trio::abc::{ReceiveStream, SendStream};
/// # trio::run(async {
/// let s = trio::tls::open_ssl_over_tcp_stream("example.com", 443, trio::tls::client_config()).await?;
/// s.do_handshake().await?; // checks the certificate of example.com
/// s.send_all(b"HEAD / HTTP/1.0\r\nHost: example.com\r\n\r\n").await?;
/// let mut buf = [0u8; 1024];
/// let n = s.receive_some(&mut buf).await?;
/// println!("{}", String::from_utf8_lossy(&buf[..n]));
/// # Ok::<_, trio::Error>(()) }).unwrap();
/// ```
pub async fn open_ssl_over_tcp_stream(
    host: &str,
    port: u16,
    config: Arc<ClientConfig>,
) -> Result<SslStream<SocketStream>> {
    SslConnect::new(host, port, config).connect().await
}

/// Options for [`open_ssl_over_tcp_stream`], with every knob.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use trio::abc::{Listener, ReceiveStream, SendStream};
/// use trio::tls::{ClientConfigBuilder, SslConnect, SslListener, server_config};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let key = trio::tls::pem_private_key(include_bytes!("testdata/localhost.key"))?;
/// # let cert = trio::tls::pem_certificates(include_bytes!("testdata/localhost.crt"))?.remove(0);
/// # let server_cfg = server_config(vec![cert.clone()], key.clone_key())?;
/// # let client_cfg = ClientConfigBuilder::without_roots().add_root_certificate(cert.clone())?.build()?;
/// trio::run(async {
///     let tcp = trio::net::SocketListener::bind("127.0.0.1:0".parse().unwrap())?;
///     let port = tcp.local_addr()?.port();
///     let listener = SslListener::new(tcp, server_cfg);
///     let listener = &listener;
///     trio::open_nursery(async |n| {
///         n.start_soon(async move { listener.accept().await?.send_all(b"hi").await })?;
///         // Connect to an address, but check the certificate of a name:
///         let s = SslConnect::new("127.0.0.1", port, client_cfg)
///             .server_name("server.test")
///             .https_compatible(true)
///             .happy_eyeballs_delay(Duration::from_millis(100))
///             .connect()
///             .await?;
///         let mut buf = [0u8; 2];
///         assert_eq!(s.receive_some(&mut buf).await?, 2);
///         assert!(s.is_https_compatible());
///         Ok(())
///     })
///     .await
/// })?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
#[must_use = "call `connect` to connect"]
pub struct SslConnect<'a> {
    tcp: TcpConnect<'a>,
    host: &'a str,
    server_name: Option<&'a str>,
    config: Arc<ClientConfig>,
    https_compatible: bool,
}

impl<'a> SslConnect<'a> {
    /// A TLS connection to `host` on `port`, with `config`.
    ///
    /// # Examples
    ///
    /// See [`SslConnect`].
    pub fn new(host: &'a str, port: u16, config: Arc<ClientConfig>) -> SslConnect<'a> {
        SslConnect {
            tcp: TcpConnect::new(host, port),
            host,
            server_name: None,
            config,
            https_compatible: false,
        }
    }

    /// The name to send (SNI) and to check the certificate against, instead of
    /// `host`: for connecting to an address while checking a name.
    ///
    /// # Examples
    ///
    /// See [`SslConnect`].
    pub fn server_name(mut self, name: &'a str) -> SslConnect<'a> {
        self.server_name = Some(name);
        self
    }

    /// See [`SslStream::https_compatible`] (default off). Set it for HTTPS.
    ///
    /// # Examples
    ///
    /// See [`SslConnect`].
    pub fn https_compatible(mut self, on: bool) -> SslConnect<'a> {
        self.https_compatible = on;
        self
    }

    /// See [`TcpConnect::happy_eyeballs_delay`].
    ///
    /// # Examples
    ///
    /// See [`SslConnect`].
    pub fn happy_eyeballs_delay(mut self, delay: Duration) -> SslConnect<'a> {
        self.tcp = self.tcp.happy_eyeballs_delay(delay);
        self
    }

    /// See [`TcpConnect::local_address`].
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// let listener = trio::net::SocketListener::bind("127.0.0.1:0".parse().unwrap())?;
    /// let port = listener.local_addr()?.port();
    /// let s = trio::tls::SslConnect::new("127.0.0.1", port, trio::tls::client_config())
    ///     .local_address("127.0.0.1".parse().unwrap())
    ///     .connect()
    ///     .await?;
    /// assert!(s.transport_stream().local_addr()?.ip().is_loopback());
    /// # Ok::<_, trio::Error>(()) }).unwrap();
    /// ```
    pub fn local_address(mut self, ip: IpAddr) -> SslConnect<'a> {
        self.tcp = self.tcp.local_address(ip);
        self
    }

    /// Connects over TCP and wraps the connection (no handshake yet).
    ///
    /// # Errors
    ///
    /// As [`open_ssl_over_tcp_stream`].
    ///
    /// # Cancellation
    ///
    /// As [`open_ssl_over_tcp_stream`].
    ///
    /// # Examples
    ///
    /// See [`SslConnect`].
    pub async fn connect(self) -> Result<SslStream<SocketStream>> {
        let name = self.server_name.unwrap_or(self.host);
        // Check the name before connecting: a bad one wastes no connection.
        if let Err(e) = rustls::pki_types::ServerName::try_from(name) {
            return Err(crate::Error::build(
                crate::ErrorKind::InvalidInput,
                Some(format!("invalid TLS server name {name:?}").into()),
                Some(Box::new(e)),
            ));
        }
        let tcp = self.tcp.connect().await?;
        Ok(SslStream::client(tcp, self.config, name)?.https_compatible(self.https_compatible))
    }
}

/// Opens TCP listeners on `port` (as [`open_tcp_listeners`](crate::net::open_tcp_listeners))
/// and wraps each in an [`SslListener`] with `config` (Trio's
/// `open_ssl_over_tcp_listeners`). For HTTPS, make them
/// [`https_compatible`](SslListener::https_compatible).
///
/// # Errors
///
/// As [`open_tcp_listeners`](crate::net::open_tcp_listeners).
///
/// # Cancellation
///
/// A checkpoint; nothing is left open if cancelled.
///
/// # Examples
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let key = trio::tls::pem_private_key(include_bytes!("testdata/localhost.key"))?;
/// # let cert = trio::tls::pem_certificates(include_bytes!("testdata/localhost.crt"))?.remove(0);
/// # let config = trio::tls::server_config(vec![cert.clone()], key.clone_key())?;
/// trio::run(async {
///     let listeners = trio::tls::open_ssl_over_tcp_listeners(0, Some("127.0.0.1"), config).await?;
///     assert_eq!(listeners.len(), 1);
///     let listeners: Vec<_> = listeners.into_iter().map(|l| l.https_compatible(true)).collect();
///     assert!(listeners[0].transport_listener().local_addr()?.ip().is_loopback());
///     Ok::<_, trio::Error>(())
/// })?;
/// # Ok(()) }
/// ```
pub async fn open_ssl_over_tcp_listeners(
    port: u16,
    host: Option<&str>,
    config: Arc<ServerConfig>,
) -> Result<Vec<SslListener<SocketListener>>> {
    let listeners = crate::net::open_tcp_listeners(port, host).await?;
    Ok(listeners
        .into_iter()
        .map(|l| SslListener::new(l, config.clone()))
        .collect())
}

/// Serves TLS over TCP on `port`: for each connection, starts a task running
/// `handler(stream)` with a server-side [`SslStream`] (Trio's
/// `serve_ssl_over_tcp`: [`open_ssl_over_tcp_listeners`] then
/// [`serve_listeners`]). Await the returned [`ServeSslOverTcp`], after setting
/// options on it if needed.
///
/// The handshake happens in the handler's task, on its first `send_all` or
/// `receive_some` (or [`SslStream::do_handshake`]), and must finish within
/// [`DEFAULT_HANDSHAKE_TIMEOUT`] (change it with
/// [`handshake_timeout`](ServeSslOverTcp::handshake_timeout)): a client that
/// fails it — it speaks plain HTTP to the TLS port, sends garbage, resets, or
/// says nothing — fails only its own handler. As with
/// [`serve_tcp`](crate::net::serve_tcp), a handler's error stops the server
/// unless you set [`on_connection_error`](ServeSslOverTcp::on_connection_error)
/// (or catch the errors inside the handler): a real server does.
///
/// With [`task_status`](ServeSslOverTcp::task_status) it can be started with
/// [`Nursery::start`], which returns the listeners once they accept connections.
///
/// # Errors
///
/// Those of [`open_tcp_listeners`](crate::net::open_tcp_listeners) and of
/// [`serve_listeners`].
///
/// # Cancellation
///
/// As [`serve_listeners`]: it only stops when cancelled (or failing).
///
/// # Examples
///
/// ```
/// use trio::abc::{ReceiveStream, SendStream};
/// use trio::net::SocketStream;
/// use trio::tls::{ClientConfigBuilder, SslStream, serve_ssl_over_tcp, server_config};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let key = trio::tls::pem_private_key(include_bytes!("testdata/localhost.key"))?;
/// # let cert = trio::tls::pem_certificates(include_bytes!("testdata/localhost.crt"))?.remove(0);
/// # let server_cfg = server_config(vec![cert.clone()], key.clone_key())?;
/// # let client_cfg = ClientConfigBuilder::without_roots().add_root_certificate(cert.clone())?.build()?;
/// let echo = async |s: SslStream<SocketStream>| {
///     let mut buf = [0u8; 1024];
///     loop {
///         let n = s.receive_some(&mut buf).await?;
///         if n == 0 { return Ok(()); }
///         s.send_all(&buf[..n]).await?;
///     }
/// };
/// trio::run(async {
///     trio::open_nursery(async |n| {
///         let listeners = n
///             .start(async |status| {
///                 serve_ssl_over_tcp(echo, 0, server_cfg)
///                     .host("127.0.0.1")
///                     .on_connection_error(|e| eprintln!("echo: a connection failed: {e}"))
///                     .task_status(status)
///                     .await
///             })
///             .await?;
///         let port = listeners[0].transport_listener().local_addr()?.port();
///         // A client that speaks plain HTTP to the TLS port fails its own handshake...
///         let confused = trio::net::open_tcp_stream("127.0.0.1", port).await?;
///         confused.send_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n").await?;
///         let mut junk = [0u8; 64];
///         while confused.receive_some(&mut junk).await? > 0 {} // an alert, then closed
///         // ...and the server goes on.
///         let client = trio::tls::open_ssl_over_tcp_stream("127.0.0.1", port, client_cfg).await?;
///         client.send_all(b"ping").await?;
///         let mut buf = [0u8; 4];
///         assert_eq!(client.receive_some(&mut buf).await?, 4);
///         assert_eq!(&buf, b"ping");
///         n.cancel_scope().cancel();
///         Ok(())
///     })
///     .await
/// })?;
/// # Ok(()) }
/// ```
pub fn serve_ssl_over_tcp<'a, 'n, 'h, H>(
    handler: H,
    port: u16,
    config: Arc<ServerConfig>,
) -> ServeSslOverTcp<'a, 'n, 'h, H> {
    ServeSslOverTcp {
        listen: TcpListen::new(port),
        config,
        https_compatible: false,
        handshake_timeout: Some(DEFAULT_HANDSHAKE_TIMEOUT),
        handler: Some(handler),
        handler_nursery: None,
        on_error: None,
        task_status: None,
        running: None,
    }
}

/// The server of [`serve_ssl_over_tcp`]: set options, then `.await` it (or pass it
/// on as a future).
///
/// # Examples
///
/// ```
/// use trio::net::SocketStream;
/// use trio::tls::{SslStream, serve_ssl_over_tcp, server_config};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let key = trio::tls::pem_private_key(include_bytes!("testdata/localhost.key"))?;
/// # let cert = trio::tls::pem_certificates(include_bytes!("testdata/localhost.crt"))?.remove(0);
/// # let config = server_config(vec![cert.clone()], key.clone_key())?;
/// let handler = async |_s: SslStream<SocketStream>| Ok(());
/// trio::run(async {
///     let server = serve_ssl_over_tcp(handler, 0, config)
///         .host("127.0.0.1")
///         .backlog(64)
///         .https_compatible(true)
///         .handshake_timeout(std::time::Duration::from_secs(10))
///         .on_connection_error(|e| eprintln!("a connection failed: {e}"));
///     let r = trio::move_on_after(std::time::Duration::from_millis(1), server).await?;
///     assert!(r.is_none());
///     Ok::<_, trio::Error>(())
/// })?;
/// # Ok(()) }
/// ```
#[must_use = "a server does nothing unless awaited"]
pub struct ServeSslOverTcp<'a, 'n, 'h, H> {
    listen: TcpListen<'a>,
    config: Arc<ServerConfig>,
    https_compatible: bool,
    handshake_timeout: Option<Duration>,
    handler: Option<H>,
    handler_nursery: Option<&'n Nursery<'h>>,
    on_error: Option<ConnectionErrorHook<'h>>,
    #[allow(clippy::type_complexity)]
    task_status: Option<TaskStatus<Vec<Rc<SslListener<SocketListener>>>>>,
    running: Option<BoxFuture<'n, Result<()>>>,
}

// Never pinned structurally: the options are moved out on the first poll, and the
// running server is boxed (as `ServeTcp`).
impl<H> Unpin for ServeSslOverTcp<'_, '_, '_, H> {}

impl<H> std::fmt::Debug for ServeSslOverTcp<'_, '_, '_, H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeSslOverTcp")
            .field("listen", &self.listen)
            .field("https_compatible", &self.https_compatible)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("handler_nursery", &self.handler_nursery)
            .field("on_connection_error", &self.on_error.is_some())
            .finish_non_exhaustive()
    }
}

impl<'a, 'n, 'h, H> ServeSslOverTcp<'a, 'n, 'h, H> {
    /// Listen only on the addresses of `host` (see [`TcpListen::host`]).
    ///
    /// # Examples
    ///
    /// See [`ServeSslOverTcp`].
    pub fn host(mut self, host: &'a str) -> Self {
        self.listen = self.listen.host(host);
        self
    }

    /// The `listen(2)` backlog (see [`TcpListen::backlog`]).
    ///
    /// # Examples
    ///
    /// See [`ServeSslOverTcp`].
    pub fn backlog(mut self, backlog: u32) -> Self {
        self.listen = self.listen.backlog(backlog);
        self
    }

    /// Makes the streams [`https_compatible`](SslStream::https_compatible)
    /// (default off). Set it for HTTPS.
    ///
    /// # Examples
    ///
    /// See [`ServeSslOverTcp`].
    pub fn https_compatible(mut self, on: bool) -> Self {
        self.https_compatible = on;
        self
    }

    /// Starts the handlers in `nursery` (see
    /// [`ServeListeners::handler_nursery`](crate::net::ServeListeners::handler_nursery)).
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::net::SocketStream;
    /// use trio::tls::{SslStream, serve_ssl_over_tcp, server_config};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let key = trio::tls::pem_private_key(include_bytes!("testdata/localhost.key"))?;
    /// # let cert = trio::tls::pem_certificates(include_bytes!("testdata/localhost.crt"))?.remove(0);
    /// # let config = server_config(vec![cert.clone()], key.clone_key())?;
    /// let handler = async |_s: SslStream<SocketStream>| Ok(());
    /// trio::run(async {
    ///     trio::open_nursery(async |handlers| {
    ///         let server = serve_ssl_over_tcp(handler, 0, config).host("127.0.0.1").handler_nursery(handlers);
    ///         trio::move_on_after(std::time::Duration::from_millis(1), server).await?;
    ///         Ok(())
    ///     })
    ///     .await
    /// })?;
    /// # Ok(()) }
    /// ```
    pub fn handler_nursery<'n2, 'h2>(
        self,
        nursery: &'n2 Nursery<'h2>,
    ) -> ServeSslOverTcp<'a, 'n2, 'h2, H>
    where
        'h: 'h2,
    {
        ServeSslOverTcp {
            listen: self.listen,
            config: self.config,
            https_compatible: self.https_compatible,
            handshake_timeout: self.handshake_timeout,
            handler: self.handler,
            handler_nursery: Some(nursery),
            on_error: self.on_error.map(|h| h as ConnectionErrorHook<'h2>),
            task_status: self.task_status,
            running: None,
        }
    }

    /// How long each connection's handshake may take, from its start (default
    /// [`DEFAULT_HANDSHAKE_TIMEOUT`]; `None`: no limit). See
    /// [`SslStream::handshake_timeout`].
    ///
    /// # Examples
    ///
    /// See [`ServeSslOverTcp`].
    pub fn handshake_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.handshake_timeout = timeout.into();
        self
    }

    /// Makes each connection's failure its own — a failed handshake, a reset,
    /// an error or panic of the handler —, reported to `hook` (see
    /// [`ServeListeners::on_connection_error`](crate::net::ServeListeners::on_connection_error)).
    ///
    /// # Examples
    ///
    /// See [`serve_ssl_over_tcp`].
    pub fn on_connection_error(mut self, hook: impl Fn(&Error) + 'h) -> Self {
        self.on_error = Some(Rc::new(hook));
        self
    }

    /// Reports the listeners through `status` once serving (for
    /// [`Nursery::start`]).
    ///
    /// # Examples
    ///
    /// See [`serve_ssl_over_tcp`].
    pub fn task_status(mut self, status: TaskStatus<Vec<Rc<SslListener<SocketListener>>>>) -> Self {
        self.task_status = Some(status);
        self
    }
}

/// The server runs when polled: `.await` it, or hand it to anything that takes a
/// future (`start_soon`, `move_on_after`, ...).
impl<'a, 'n, 'h, H> Future for ServeSslOverTcp<'a, 'n, 'h, H>
where
    'a: 'n,
    H: AsyncFn(SslStream<SocketStream>) -> Result<()> + 'h,
{
    type Output = Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let this = self.get_mut();
        let running = this.running.get_or_insert_with(|| {
            let handler = this.handler.take().expect("a server is started once");
            let listen = this.listen.clone();
            let config = this.config.clone();
            let https_compatible = this.https_compatible;
            let handshake_timeout = this.handshake_timeout;
            let handler_nursery = this.handler_nursery;
            let on_error = this.on_error.take();
            let task_status = this.task_status.take();
            Box::pin(async move {
                let listeners: Vec<_> = listen
                    .open()
                    .await?
                    .into_iter()
                    .map(|l| {
                        SslListener::new(l, config.clone())
                            .https_compatible(https_compatible)
                            .handshake_timeout(handshake_timeout)
                    })
                    .collect();
                let server = serve_listeners(handler, listeners).with_hook(on_error);
                let server = match task_status {
                    Some(status) => server.task_status(status),
                    None => server,
                };
                match handler_nursery {
                    Some(nursery) => server.handler_nursery(nursery).await,
                    None => server.await,
                }
            })
        });
        running.as_mut().poll(cx)
    }
}
