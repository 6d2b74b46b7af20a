//! Serving HTTP: [`service_fn`], [`Http`] (one connection) and [`serve`] (a
//! whole server, in the shape of [`net::serve_tcp`](crate::net::serve_tcp)).

use std::error::Error as StdError;
use std::fmt;
use std::future::{Future, poll_fn};
use std::io;
use std::marker::PhantomData;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::{Body, Incoming};
use hyper::rt::{Read, ReadBuf, ReadBufCursor, Write};
use hyper::server::conn::{http1, http2};
use hyper::service::Service;
use hyper::{Request, Response};

use super::graceful::StopAware;
use super::idle::{Counted, InFlight, serve_with_idle_limit};
use super::{TrioExecutor, TrioIo, TrioTimer, from_hyper};
use crate::net::{SocketListener, SocketStream, TcpListen, serve_listeners};
use crate::{CancelScope, Error, ErrorKind, Result, TaskStatus, open_nursery};

type BoxError = Box<dyn StdError + Send + Sync>;

// ---- service_fn ----------------------------------------------------------------

/// Makes a hyper [`Service`] out of an async closure (hyper's `service_fn`, for
/// trio): `async |req| -> Result<Response<B>, E>`.
///
/// Unlike hyper's, the closure may borrow (counters, caches, a database handle
/// of the enclosing function: no `Arc`, no `'static`, nothing `Send`), because
/// the request futures are boxed with the closure's lifetime `'h` and run inside
/// trio's nurseries. The service is a cheap handle (`Clone`, an `Rc` inside).
///
/// The error type is anything hyper accepts (`Into<Box<dyn Error + Send + Sync>>`),
/// [`trio::Error`](crate::Error) included. An error ends the connection for
/// HTTP/1 and resets the stream for HTTP/2; to answer with an error *status*,
/// return `Ok` with that response.
///
/// # Examples
///
/// ```
/// use std::cell::Cell;
/// use http_body_util::Full;
/// use hyper::body::{Bytes, Incoming};
/// use hyper::{Request, Response};
/// # trio::run(async {
/// let hits = Cell::new(0);
/// let service = trio::http::service_fn(async |req: Request<Incoming>| {
///     hits.set(hits.get() + 1); // borrows `hits`
///     let body = format!("{} {}", req.method(), req.uri().path());
///     Ok::<_, trio::Error>(Response::new(Full::new(Bytes::from(body))))
/// });
/// trio::open_nursery(async |n| {
///     let listeners = n
///         .start(async |status| trio::http::serve(&service, 0).host("127.0.0.1").task_status(status).await)
///         .await?;
///     let port = listeners[0].local_addr()?.port();
///     let resp = trio::http::get(&format!("http://127.0.0.1:{port}/hello")).await?;
///     assert_eq!(resp.body(), "GET /hello");
///     n.cancel_scope().cancel();
///     Ok(())
/// })
/// .await?;
/// assert_eq!(hits.get(), 1);
/// # Ok(()) }).unwrap();
/// ```
pub fn service_fn<'h, H>(handler: H) -> ServiceFn<'h, H> {
    ServiceFn {
        handler: Rc::new(handler),
        _lifetime: PhantomData,
    }
}

/// The service of [`service_fn`].
///
/// # Examples
///
/// ```
/// use http_body_util::Empty;
/// use hyper::body::{Bytes, Incoming};
/// use hyper::{Request, Response};
/// let service = trio::http::service_fn(async |_req: Request<Incoming>| {
///     Ok::<_, trio::Error>(Response::new(Empty::<Bytes>::new()))
/// });
/// let copy = service.clone(); // shares the closure
/// # let _ = copy;
/// ```
pub struct ServiceFn<'h, H> {
    handler: Rc<H>,
    _lifetime: PhantomData<&'h ()>,
}

impl<H> Clone for ServiceFn<'_, H> {
    fn clone(&self) -> Self {
        ServiceFn {
            handler: self.handler.clone(),
            _lifetime: PhantomData,
        }
    }
}

impl<H> fmt::Debug for ServiceFn<'_, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceFn").finish_non_exhaustive()
    }
}

impl<'h, H, B, E> Service<Request<Incoming>> for ServiceFn<'h, H>
where
    H: AsyncFn(Request<Incoming>) -> std::result::Result<Response<B>, E> + 'h,
    B: 'h,
    E: 'h,
{
    type Response = Response<B>;
    type Error = E;
    type Future = Pin<Box<dyn Future<Output = std::result::Result<Response<B>, E>> + 'h>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let handler = self.handler.clone();
        Box::pin(async move { (*handler)(req).await })
    }
}

// ---- one connection --------------------------------------------------------------

/// Which HTTP versions a server speaks.
///
/// # Examples
///
/// ```
/// let http = trio::http::Http::new().protocol(trio::http::Protocol::Http1);
/// assert_eq!(http.get_protocol(), trio::http::Protocol::Http1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Protocol {
    /// HTTP/1.1, or HTTP/2 with prior knowledge, told apart by the first bytes
    /// (HTTP/2's connection preface). The default.
    #[default]
    Auto,
    /// HTTP/1.x only.
    Http1,
    /// HTTP/2 only (prior knowledge, "h2c": no upgrade from HTTP/1).
    Http2,
}

type H1Config = Rc<dyn Fn(&mut http1::Builder)>;
type ErrorHook<'a> = Rc<dyn Fn(&Error) + 'a>;
type H2Config = Rc<dyn for<'e> Fn(&mut http2::Builder<TrioExecutor<'e>>)>;

/// How to serve HTTP on a connection: protocol and timeouts, with hyper's own
/// builders reachable for everything else (in the spirit of hyper 0.14's `Http`
/// and hyper-util's `auto::Builder`).
///
/// Defaults: [`Protocol::Auto`], keep-alive on, a 30-second header-read timeout
/// (hyper's default; it also closes an HTTP/1 connection idle between
/// requests), a 60-second HTTP/2 idle timeout ([`DEFAULT_HTTP2_IDLE_TIMEOUT`]),
/// on [`TrioTimer`]; HTTP/2 streams run in a nursery of the connection
/// ([`TrioExecutor`]).
///
/// **Timeouts, and how to change them.** Every connection is bounded by default:
/// an HTTP/1 client must send each request's head within the header-read timeout
/// ([`header_read_timeout`](Http::header_read_timeout)), and an HTTP/2
/// connection with no request in progress is closed after the idle timeout
/// ([`idle_timeout`](Http::idle_timeout)). HTTP/2 keep-alive pings, which
/// detect a peer that vanished during a long request, are off as in hyper:
/// switch them on through [`http2`](Http::http2) (`keep_alive_interval`,
/// `keep_alive_timeout`; they run on [`TrioTimer`]). Over TLS, the handshake has
/// its own limit (`trio::tls::DEFAULT_HANDSHAKE_TIMEOUT`, feature `tls`).
///
/// # Examples
///
/// Serving a connection accepted by hand:
///
/// ```
/// use http_body_util::Full;
/// use hyper::body::{Bytes, Incoming};
/// use hyper::{Request, Response};
/// use trio::abc::Listener;
/// use trio::http::{Http, TrioIo};
/// # trio::run(async {
/// let listener = trio::net::SocketListener::bind("127.0.0.1:0".parse().unwrap())?;
/// let port = listener.local_addr()?.port();
/// let service = trio::http::service_fn(async |_req: Request<Incoming>| {
///     Ok::<_, trio::Error>(Response::new(Full::new(Bytes::from("hi"))))
/// });
/// let http = Http::new().header_read_timeout(std::time::Duration::from_secs(5));
/// trio::open_nursery(async |n| {
///     n.start_soon(async {
///         let stream = listener.accept().await?;
///         http.serve_connection(TrioIo::new(stream), &service).await
///     })?;
///     let resp = trio::http::get(&format!("http://127.0.0.1:{port}/")).await?;
///     assert_eq!(resp.body(), "hi");
///     Ok(())
/// })
/// .await
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct Http {
    protocol: Protocol,
    header_read_timeout: Option<Duration>,
    idle_timeout: Option<Duration>,
    keep_alive: bool,
    http1: Option<H1Config>,
    http2: Option<H2Config>,
}

impl Default for Http {
    fn default() -> Self {
        Http::new()
    }
}

impl fmt::Debug for Http {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Http")
            .field("protocol", &self.protocol)
            .field("header_read_timeout", &self.header_read_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("keep_alive", &self.keep_alive)
            .field("http1", &self.http1.is_some())
            .field("http2", &self.http2.is_some())
            .finish()
    }
}

/// The first bytes an HTTP/2 client with prior knowledge sends.
const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// How long an HTTP/2 connection may go with no request in progress before it
/// is closed (gracefully, with GOAWAY), by default: 60 seconds. See
/// [`Http::idle_timeout`].
///
/// # Examples
///
/// ```
/// assert_eq!(trio::http::DEFAULT_HTTP2_IDLE_TIMEOUT, std::time::Duration::from_secs(60));
/// ```
pub const DEFAULT_HTTP2_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

impl Http {
    /// The defaults (see [`Http`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let http = trio::http::Http::new();
    /// assert_eq!(http.get_protocol(), trio::http::Protocol::Auto);
    /// ```
    pub fn new() -> Http {
        Http {
            protocol: Protocol::Auto,
            header_read_timeout: Some(Duration::from_secs(30)),
            idle_timeout: Some(DEFAULT_HTTP2_IDLE_TIMEOUT),
            keep_alive: true,
            http1: None,
            http2: None,
        }
    }

    /// Which versions to speak.
    ///
    /// # Examples
    ///
    /// ```
    /// let http = trio::http::Http::new().protocol(trio::http::Protocol::Http2);
    /// # let _ = http;
    /// ```
    pub fn protocol(mut self, protocol: Protocol) -> Http {
        self.protocol = protocol;
        self
    }

    /// The versions this configuration speaks.
    ///
    /// # Examples
    ///
    /// See [`Protocol`].
    pub fn get_protocol(&self) -> Protocol {
        self.protocol
    }

    /// How long a client may take to send a request's head (HTTP/1; with
    /// [`Protocol::Auto`] also the wait for the first bytes). `None`: no limit.
    /// Measured on the run's clock, so a mock clock drives it.
    ///
    /// # Examples
    ///
    /// ```
    /// let http = trio::http::Http::new().header_read_timeout(None);
    /// # let _ = http;
    /// ```
    pub fn header_read_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Http {
        self.header_read_timeout = timeout.into();
        self
    }

    /// How long an HTTP/2 connection may go with no request in progress before
    /// it is closed (default [`DEFAULT_HTTP2_IDLE_TIMEOUT`]; `None`: no limit).
    /// A request is in progress from the moment the service is called until its
    /// response body has been sent: a slow handler or a long-lived streaming
    /// response keeps the connection, a client that only sends pings or nothing
    /// at all does not. The connection is then shut down gracefully (GOAWAY,
    /// and a PING whose answer tells that the client has seen it); a client
    /// that does not answer within a second is dropped. Either way this is the
    /// normal end of an idle connection, not a connection error. Measured on
    /// the run's clock, so a mock clock drives it.
    ///
    /// (HTTP/1's counterpart is the [header-read timeout](Self::header_read_timeout),
    /// which hyper also applies between keep-alive requests.)
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let http = trio::http::Http::new().idle_timeout(Duration::from_secs(300));
    /// assert_eq!(http.get_idle_timeout(), Some(Duration::from_secs(300)));
    /// ```
    pub fn idle_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Http {
        self.idle_timeout = timeout.into();
        self
    }

    /// The HTTP/2 idle timeout (see [`idle_timeout`](Self::idle_timeout)).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trio::http::Http::new().get_idle_timeout(), Some(trio::http::DEFAULT_HTTP2_IDLE_TIMEOUT));
    /// ```
    pub fn get_idle_timeout(&self) -> Option<Duration> {
        self.idle_timeout
    }

    /// HTTP/1 keep-alive (default on).
    ///
    /// # Examples
    ///
    /// ```
    /// let http = trio::http::Http::new().keep_alive(false);
    /// # let _ = http;
    /// ```
    pub fn keep_alive(mut self, yes: bool) -> Http {
        self.keep_alive = yes;
        self
    }

    /// Adjusts hyper's HTTP/1 builder for every connection (after this
    /// configuration's own settings).
    ///
    /// # Examples
    ///
    /// ```
    /// let http = trio::http::Http::new().http1(|b| {
    ///     b.max_buf_size(64 * 1024).title_case_headers(true);
    /// });
    /// # let _ = http;
    /// ```
    pub fn http1(mut self, f: impl Fn(&mut http1::Builder) + 'static) -> Http {
        self.http1 = Some(Rc::new(f));
        self
    }

    /// Adjusts hyper's HTTP/2 builder for every connection (after this
    /// configuration's own settings).
    ///
    /// # Examples
    ///
    /// ```
    /// let http = trio::http::Http::new().http2(|b| {
    ///     b.max_concurrent_streams(100)
    ///         .keep_alive_interval(std::time::Duration::from_secs(20));
    /// });
    /// # let _ = http;
    /// ```
    pub fn http2(
        mut self,
        f: impl for<'e> Fn(&mut http2::Builder<TrioExecutor<'e>>) + 'static,
    ) -> Http {
        self.http2 = Some(Rc::new(f));
        self
    }

    /// Serves HTTP on one connection until the client closes it (or the
    /// connection fails), calling `service` for each request. For HTTP/2, the
    /// request streams run in a nursery of their own that this call waits for.
    ///
    /// `io` is any hyper I/O, usually a [`TrioIo`] around a trio stream. Pass the
    /// service by reference (`&service`) to share it between connections.
    ///
    /// # Errors
    ///
    /// hyper's connection errors (a malformed request, the header-read timeout —
    /// as [`ErrorKind::TooSlow`] —, an error of the service, the connection
    /// breaking), with the hyper error as their source; trio errors that came
    /// through the I/O are themselves again.
    ///
    /// # Cancellation
    ///
    /// Cancelling stops serving at once (the I/O fails with `Cancelled`, which is
    /// returned); the connection is not closed gracefully. HTTP/2 streams are
    /// cancelled with it.
    ///
    /// # Examples
    ///
    /// See [`Http`].
    pub async fn serve_connection<I, S, B>(&self, mut io: I, service: S) -> Result<()>
    where
        I: Read + Write + Unpin,
        S: Service<Request<Incoming>, Response = Response<B>>,
        S::Error: Into<BoxError>,
        B: Body + 'static,
        B::Error: Into<BoxError>,
    {
        let h2 = match self.protocol {
            Protocol::Http1 => false,
            Protocol::Http2 => true,
            Protocol::Auto => {
                // A connection that has sent nothing yet when the server is asked
                // to stop is closed at once.
                let Some(sniffed) = crate::until_stop_requested(async {
                    match self.header_read_timeout {
                        Some(t) => CancelScope::with_timeout(t).run(sniff(&mut io)).await,
                        None => Ok(Some(sniff(&mut io).await?)),
                    }
                })
                .await
                else {
                    return Ok(());
                };
                let sniffed = sniffed?;
                let Some((h2, prefix)) = sniffed else {
                    return Err(Error::new(
                        ErrorKind::TooSlow,
                        "the client sent nothing within the header read timeout",
                    ));
                };
                let io = Rewind::new(prefix, io);
                return if h2 {
                    self.serve_h2(io, service).await
                } else {
                    self.serve_h1(io, service).await
                };
            }
        };
        if h2 {
            self.serve_h2(io, service).await
        } else {
            self.serve_h1(io, service).await
        }
    }

    async fn serve_h1<I, S, B>(&self, io: I, service: S) -> Result<()>
    where
        I: Read + Write + Unpin,
        S: Service<Request<Incoming>, Response = Response<B>>,
        S::Error: Into<BoxError>,
        B: Body + 'static,
        B::Error: Into<BoxError>,
    {
        let mut b = http1::Builder::new();
        b.timer(TrioTimer)
            .keep_alive(self.keep_alive)
            .header_read_timeout(self.header_read_timeout);
        if let Some(f) = &self.http1 {
            f(&mut b);
        }
        StopAware::new(b.serve_connection(io, service))
            .await
            .map_err(from_hyper)
    }

    async fn serve_h2<I, S, B>(&self, io: I, service: S) -> Result<()>
    where
        I: Read + Write + Unpin,
        S: Service<Request<Incoming>, Response = Response<B>>,
        S::Error: Into<BoxError>,
        B: Body + 'static,
        B::Error: Into<BoxError>,
    {
        open_nursery(async move |n| {
            let mut b = http2::Builder::new(TrioExecutor::new(n));
            b.timer(TrioTimer);
            if let Some(f) = &self.http2 {
                f(&mut b);
            }
            match self.idle_timeout {
                None => StopAware::new(b.serve_connection(io, service))
                    .await
                    .map_err(from_hyper),
                Some(limit) => {
                    let in_flight = InFlight::new();
                    let service = Counted {
                        inner: service,
                        in_flight: in_flight.clone(),
                    };
                    let conn = StopAware::new(b.serve_connection(io, service));
                    serve_with_idle_limit(conn, &in_flight, limit).await
                }
            }
        })
        .await
        .map(drop)
    }
}

/// Reads the first bytes, as far as they agree with HTTP/2's preface: `(true,
/// preface)` for HTTP/2, `(false, bytes read)` otherwise (at end of stream too).
async fn sniff<I: Read + Unpin>(io: &mut I) -> Result<(bool, Vec<u8>)> {
    let mut buf = [0u8; H2_PREFACE.len()];
    let mut len = 0;
    loop {
        if buf[..len] != H2_PREFACE[..len] {
            return Ok((false, buf[..len].to_vec()));
        }
        if len == buf.len() {
            return Ok((true, buf.to_vec()));
        }
        let n = poll_fn(|cx| {
            let mut rb = ReadBuf::new(&mut buf[len..]);
            match Pin::new(&mut *io).poll_read(cx, rb.unfilled()) {
                Poll::Ready(Ok(())) => Poll::Ready(Ok(rb.filled().len())),
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                Poll::Pending => Poll::Pending,
            }
        })
        .await?;
        if n == 0 {
            return Ok((false, buf[..len].to_vec()));
        }
        len += n;
    }
}

/// I/O that gives back the bytes [`sniff`] read before reading on.
struct Rewind<I> {
    prefix: Vec<u8>,
    pos: usize,
    io: I,
}

impl<I> Rewind<I> {
    fn new(prefix: Vec<u8>, io: I) -> Rewind<I> {
        Rewind { prefix, pos: 0, io }
    }
}

impl<I: Read + Unpin> Read for Rewind<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.pos < this.prefix.len() {
            let n = buf.remaining().min(this.prefix.len() - this.pos);
            buf.put_slice(&this.prefix[this.pos..this.pos + n]);
            this.pos += n;
            if this.pos == this.prefix.len() {
                this.prefix = Vec::new();
                this.pos = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl<I: Write + Unpin> Write for Rewind<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }
}

// ---- a whole server ------------------------------------------------------------

/// Where [`serve`] listens: a TCP port (on every address, or those of
/// [`ServeHttp::host`]), or listeners you opened.
///
/// # Examples
///
/// ```
/// use trio::http::Bind;
/// let on_port: Bind = 8080.into();
/// let listener = trio::net::SocketListener::bind("127.0.0.1:0".parse().unwrap())?;
/// let on_listener: Bind = listener.into();
/// # let _ = (on_port, on_listener);
/// # Ok::<_, trio::Error>(())
/// ```
#[derive(Debug)]
pub enum Bind {
    /// Open TCP listeners on this port (0: the system picks one).
    Port(u16),
    /// Serve on these listeners.
    Listeners(Vec<SocketListener>),
}

impl From<u16> for Bind {
    fn from(port: u16) -> Bind {
        Bind::Port(port)
    }
}

impl From<SocketListener> for Bind {
    fn from(listener: SocketListener) -> Bind {
        Bind::Listeners(vec![listener])
    }
}

impl From<Vec<SocketListener>> for Bind {
    fn from(listeners: Vec<SocketListener>) -> Bind {
        Bind::Listeners(listeners)
    }
}

/// Serves HTTP with `service` on a port or on listeners: accepts connections and
/// serves each in its own task ([`Http::serve_connection`] on a [`TrioIo`]).
/// Await the returned [`ServeHttp`], after setting options on it if needed; it is
/// [`net::serve_tcp`](crate::net::serve_tcp) for HTTP.
///
/// Pass the service by reference (`&service`) to keep it for later, or by
/// value. A connection that fails — a client that resets, sends garbage or is
/// too slow, a service that returns an error or **panics** — ends that
/// connection only: the others and the listener go on (as with hyper on tokio);
/// see [`ServeHttp::on_connection_error`]. Idle connections are closed (see
/// [`Http`]'s timeouts).
///
///
/// **Graceful stop.** Asked to stop ([`CancelScope::cancel_gracefully`](crate::CancelScope::cancel_gracefully)
/// on an enclosing scope, or the first Ctrl-C / `SIGTERM` with
/// [`Builder::stop_gracefully_on_ctrl_c`](crate::Builder::stop_gracefully_on_ctrl_c)),
/// it stops accepting at once (new connections are refused), closes idle
/// keep-alive connections, finishes the HTTP/1 requests in progress with
/// `Connection: close`, sends HTTP/2 clients GOAWAY and finishes their streams,
/// and returns `Ok` when every connection has ended; what still runs at the grace
/// period's end is cancelled.
///
/// # Errors
///
/// Those of opening the listeners and of accepting
/// ([`serve_listeners`](crate::net::serve_listeners)); never `Ok` while serving.
///
/// # Cancellation
///
/// Cancelling stops the server: it closes the listeners and cancels every
/// connection (see [`Http::serve_connection`]), waiting for them. This is how a
/// trio server shuts down: cancel the nursery it runs in.
///
/// # Examples
///
/// ```
/// use http_body_util::Full;
/// use hyper::body::{Bytes, Incoming};
/// use hyper::{Request, Response};
/// # trio::run(async {
/// let hello = trio::http::service_fn(async |_req: Request<Incoming>| {
///     Ok::<_, trio::Error>(Response::new(Full::new(Bytes::from("hello"))))
/// });
/// trio::open_nursery(async |n| {
///     let listeners = n
///         .start(async |status| trio::http::serve(&hello, 0).host("127.0.0.1").task_status(status).await)
///         .await?;
///     let url = format!("http://127.0.0.1:{}/", listeners[0].local_addr()?.port());
///     let resp = trio::http::get(&url).await?;
///     assert_eq!(resp.status(), 200);
///     assert_eq!(resp.body(), "hello");
///     n.cancel_scope().cancel(); // shuts the server down
///     Ok(())
/// })
/// .await
/// # }).unwrap();
/// ```
pub fn serve<'a, S>(service: S, bind: impl Into<Bind>) -> ServeHttp<'a, S> {
    ServeHttp {
        service: Some(service),
        bind: Some(bind.into()),
        host: None,
        backlog: None,
        reuse_port: false,
        http: Http::new(),
        task_status: None,
        on_error: None,
        running: None,
    }
}

/// The server of [`serve`]: set options, then `.await` it (or pass it on as a
/// future, to `start_soon` or `move_on_after`).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use http_body_util::Empty;
/// use hyper::body::{Bytes, Incoming};
/// use hyper::{Request, Response};
/// # trio::run(async {
/// let service = trio::http::service_fn(async |_req: Request<Incoming>| {
///     Ok::<_, trio::Error>(Response::new(Empty::<Bytes>::new()))
/// });
/// let server = trio::http::serve(service, 0)
///     .host("127.0.0.1")
///     .backlog(128)
///     .http(trio::http::Http::new().protocol(trio::http::Protocol::Http1))
///     .on_connection_error(|e| eprintln!("connection failed: {e}"));
/// let r = trio::move_on_after(Duration::from_millis(1), server).await?;
/// assert!(r.is_none());
/// # Ok(()) }).unwrap();
/// ```
#[must_use = "a server does nothing unless awaited"]
pub struct ServeHttp<'a, S> {
    service: Option<S>,
    bind: Option<Bind>,
    host: Option<&'a str>,
    backlog: Option<u32>,
    reuse_port: bool,
    http: Http,
    task_status: Option<TaskStatus<Vec<Rc<SocketListener>>>>,
    on_error: Option<ErrorHook<'a>>,
    running: Option<Pin<Box<dyn Future<Output = Result<()>> + 'a>>>,
}

// Never pinned structurally: the options move out on the first poll, and the
// running server is boxed.
impl<S> Unpin for ServeHttp<'_, S> {}

impl<S> fmt::Debug for ServeHttp<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServeHttp")
            .field("bind", &self.bind)
            .field("host", &self.host)
            .field("backlog", &self.backlog)
            .field("http", &self.http)
            .field("running", &self.running.is_some())
            .finish()
    }
}

impl<'a, S> ServeHttp<'a, S> {
    /// Listen only on the addresses of `host` (for a port; see
    /// [`TcpListen::host`]).
    ///
    /// # Examples
    ///
    /// See [`ServeHttp`].
    pub fn host(mut self, host: &'a str) -> Self {
        self.host = Some(host);
        self
    }

    /// The `listen(2)` backlog (for a port; see [`TcpListen::backlog`]).
    ///
    /// # Examples
    ///
    /// See [`ServeHttp`].
    pub fn backlog(mut self, backlog: u32) -> Self {
        self.backlog = Some(backlog);
        self
    }

    /// Sets `SO_REUSEPORT` (for a port; see [`TcpListen::reuse_port`]): each loop
    /// of a [`run_loops`](crate::run_loops) can serve the same port. For port 0,
    /// bind the loops' listeners at once with
    /// [`LoopListener`](crate::net::LoopListener) and pass each loop its
    /// listener instead.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use http_body_util::Empty;
    /// use hyper::body::{Bytes, Incoming};
    /// use hyper::{Request, Response};
    /// # trio::run(async {
    /// let service = trio::http::service_fn(async |_req: Request<Incoming>| {
    ///     Ok::<_, trio::Error>(Response::new(Empty::<Bytes>::new()))
    /// });
    /// let server = trio::http::serve(&service, 0).host("127.0.0.1").reuse_port(true);
    /// assert!(trio::move_on_after(Duration::from_millis(1), server).await?.is_none());
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn reuse_port(mut self, yes: bool) -> Self {
        self.reuse_port = yes;
        self
    }

    /// How to serve each connection (protocol, timeouts, hyper's builders).
    ///
    /// # Examples
    ///
    /// See [`ServeHttp`].
    pub fn http(mut self, http: Http) -> Self {
        self.http = http;
        self
    }

    /// Called with the error of each connection that fails (not for
    /// cancellation); a service that panicked on a request gives an
    /// [`ErrorKind::Other`] error with the panic's message. By default such
    /// errors are dropped: they concern one client.
    ///
    /// # Examples
    ///
    /// See [`ServeHttp`].
    pub fn on_connection_error(mut self, f: impl Fn(&Error) + 'a) -> Self {
        self.on_error = Some(Rc::new(f));
        self
    }

    /// Reports the listeners through `status` once serving (for
    /// [`Nursery::start`](crate::Nursery::start)): the way to learn the port the
    /// system picked for port 0.
    ///
    /// # Examples
    ///
    /// See [`serve`].
    pub fn task_status(mut self, status: TaskStatus<Vec<Rc<SocketListener>>>) -> Self {
        self.task_status = Some(status);
        self
    }
}

/// The server runs when polled.
impl<'a, S, B> Future for ServeHttp<'a, S>
where
    S: Service<Request<Incoming>, Response = Response<B>> + 'a,
    S::Error: Into<BoxError>,
    B: Body + 'static,
    B::Error: Into<BoxError>,
{
    type Output = Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let this = self.get_mut();
        let running = this.running.get_or_insert_with(|| {
            let service = this.service.take().expect("a server is started once");
            let bind = this.bind.take().expect("a server is started once");
            let (host, backlog, reuse_port) = (this.host, this.backlog, this.reuse_port);
            let http = this.http.clone();
            let on_error = this.on_error.take();
            let task_status = this.task_status.take();
            Box::pin(async move {
                let listeners = match bind {
                    Bind::Listeners(l) => l,
                    Bind::Port(port) => {
                        let mut listen = TcpListen::new(port);
                        if let Some(h) = host {
                            listen = listen.host(h);
                        }
                        if let Some(b) = backlog {
                            listen = listen.backlog(b);
                        }
                        listen.reuse_port(reuse_port).open().await?
                    }
                };
                let (service, http) = (&service, &http);
                let handler = async move |stream: SocketStream| -> Result<()> {
                    http.serve_connection(TrioIo::new(stream), service).await
                };
                // Every connection is isolated, panics included: one bad request
                // ends its own connection only.
                let hook: ErrorHook<'_> = on_error.unwrap_or_else(|| Rc::new(|_| {}));
                let server = serve_listeners(handler, listeners).with_hook(Some(hook));
                match task_status {
                    Some(status) => server.task_status(status).await,
                    None => server.await,
                }
            })
        });
        running.as_mut().poll(cx)
    }
}
