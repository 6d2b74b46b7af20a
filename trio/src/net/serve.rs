//! [`serve_listeners`] and [`serve_tcp`] (Trio's `_highlevel_serve_listeners.py` and
//! `serve_tcp`): accept loops that start a handler task per connection.
//!
//! Both return builders that are themselves the server's future (polling starts
//! the server), so the options Trio passes as keywords read the same way here:
//!
//! ```
//! # use trio::abc::SendStream;
//! # trio::run(async {
//! # let handler = async |s: trio::net::SocketStream| s.send_all(b"hi").await;
//! trio::open_nursery(async |n| {
//!     let listeners = n
//!         .start(async |status| {
//!             trio::net::serve_tcp(handler, 0)
//!                 .host("127.0.0.1")
//!                 .on_connection_error(|e| eprintln!("a connection failed: {e}"))
//!                 .task_status(status)
//!                 .await
//!         })
//!         .await?;
//!     let port = listeners[0].local_addr()?.port();
//!     // ... connect to `port` ...
//!     n.cancel_scope().cancel();
//!     Ok(())
//! })
//! .await
//! # }).unwrap();
//! ```

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::abc::{AsyncResource, Listener};
use crate::net::isolate::isolated;
use crate::net::socket::{self, BoxFuture};
use crate::net::{SocketListener, TcpListen};
use crate::{Error, Nursery, Result, TaskStatus, open_nursery};

/// Errors of `accept(2)` that mean the system is overloaded: log, wait, retry.
const ACCEPT_CAPACITY_ERRNOS: &[(i32, &str)] = &[
    (libc::EMFILE, "EMFILE"),
    (libc::ENFILE, "ENFILE"),
    (libc::ENOMEM, "ENOMEM"),
    (libc::ENOBUFS, "ENOBUFS"),
];

/// How long to wait after one of those errors before accepting again.
const SLEEP_TIME: Duration = Duration::from_millis(100);

/// What a server calls with the failure of one connection.
pub(crate) type ConnectionErrorHook<'h> = Rc<dyn Fn(&Error) + 'h>;

/// Serves connections from `listeners`: for each one accepted, starts a task
/// running `handler(stream)` (Trio's `serve_listeners`). Await the returned
/// [`ServeListeners`], after setting options on it if needed.
///
/// It takes the listeners over and closes them when it stops. It returns `Ok`
/// only after a graceful stop (below); otherwise it stops with an error —
/// `Cancelled` when cancelled, or the first error of a listener or (without a
/// handler nursery) of a handler, which also stops everything else.
///
/// **Graceful stop.** When an enclosing scope is asked to stop
/// ([`CancelScope::cancel_gracefully`](crate::CancelScope::cancel_gracefully),
/// or the first Ctrl-C / `SIGTERM` with
/// [`Builder::stop_gracefully_on_ctrl_c`](crate::Builder::stop_gracefully_on_ctrl_c)),
/// it stops accepting at once and closes its listeners (new connections are
/// refused), lets the handlers in progress run — they can ask
/// [`trio::stop_requested`](crate::stop_requested) to wind down — and returns
/// `Ok` when they have finished; handlers still running when the grace period
/// ends are cancelled.
///
/// **One bad client.** As in Trio, a handler's error (and panic) reaches the
/// server and stops it, unless the handler catches its own errors — or the
/// server is given [`on_connection_error`](ServeListeners::on_connection_error),
/// which makes every connection's failure, panics included, its own: reported
/// to the hook, the connection closed, the server still serving. Real servers
/// want that: a client that resets its connection, sends garbage or fails a TLS
/// handshake is an error of that connection only.
///
/// The handler owns its stream: when it returns, the stream is dropped, which
/// closes it at once (Trio closes it with `aclose_forcefully`).
///
/// **Overload.** If `accept` fails with `EMFILE`, `ENFILE`, `ENOBUFS` or
/// `ENOMEM`, it reports a diagnostic
/// ([`DiagnosticKind::AcceptBackoff`](crate::lowlevel::DiagnosticKind::AcceptBackoff),
/// see [`Builder::on_diagnostic`](crate::Builder::on_diagnostic)) and tries again
/// after 100 ms, instead of crashing; other errors stop the server.
///
/// With [`task_status`](ServeListeners::task_status) it can be started with
/// [`Nursery::start`], which then returns the listeners (shared: `Rc`) once the
/// handlers are ready to be started.
///
/// # Errors
///
/// As above.
///
/// # Cancellation
///
/// Cancelling stops accepting and closes the listeners; handlers in the internal
/// nursery are cancelled and waited for; handlers in a
/// [`handler_nursery`](ServeListeners::handler_nursery) keep running.
///
/// # Examples
///
/// ```
/// use trio::abc::{ReceiveStream, SendStream};
/// use trio::net::{SocketListener, SocketStream, serve_listeners};
/// # trio::run(async {
/// let listener = SocketListener::bind("127.0.0.1:0".parse().unwrap())?;
/// let port = listener.local_addr()?.port();
/// let handler = async |s: SocketStream| s.send_all(b"hello").await;
/// trio::open_nursery(async |n| {
///     n.start(async |status| {
///         serve_listeners(handler, vec![listener])
///             .on_connection_error(|e| eprintln!("a connection failed: {e}"))
///             .task_status(status)
///             .await
///     })
///     .await?;
///     let client = trio::net::open_tcp_stream("127.0.0.1", port).await?;
///     let mut buf = [0u8; 8];
///     assert_eq!(client.receive_some(&mut buf).await?, 5);
///     n.cancel_scope().cancel();
///     Ok(())
/// })
/// .await
/// # }).unwrap();
/// ```
pub fn serve_listeners<'n, 'h, L, H>(
    handler: H,
    listeners: Vec<L>,
) -> ServeListeners<'n, 'h, L, H> {
    ServeListeners {
        handler: Some(handler),
        listeners,
        handler_nursery: None,
        on_error: None,
        task_status: None,
        running: None,
    }
}

/// The server of [`serve_listeners`]: set options, then `.await` it (or pass it
/// on as a future).
///
/// # Examples
///
/// ```
/// use trio::net::{SocketListener, SocketStream, serve_listeners};
/// # trio::run(async {
/// let handler = async |_s: SocketStream| Ok(());
/// let server: trio::net::ServeListeners<'_, '_, SocketListener, _> =
///     serve_listeners(handler, vec![SocketListener::bind("127.0.0.1:0".parse().unwrap())?]);
/// // Stop it after a moment.
/// let r = trio::move_on_after(std::time::Duration::from_millis(1), server).await?;
/// assert!(r.is_none());
/// # Ok(()) }).unwrap();
/// ```
#[must_use = "a server does nothing unless awaited"]
pub struct ServeListeners<'n, 'h, L, H> {
    handler: Option<H>,
    listeners: Vec<L>,
    handler_nursery: Option<&'n Nursery<'h>>,
    on_error: Option<ConnectionErrorHook<'h>>,
    task_status: Option<TaskStatus<Vec<Rc<L>>>>,
    running: Option<BoxFuture<'n, Result<()>>>,
}

// Never pinned structurally: the options are moved out on the first poll, and the
// running server is boxed.
impl<L, H> Unpin for ServeListeners<'_, '_, L, H> {}

impl<L, H> std::fmt::Debug for ServeListeners<'_, '_, L, H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeListeners")
            .field("listeners", &self.listeners.len())
            .field("handler_nursery", &self.handler_nursery)
            .field("on_connection_error", &self.on_error.is_some())
            .finish()
    }
}

impl<'n, 'h, L, H> ServeListeners<'n, 'h, L, H> {
    /// Starts the handlers in `nursery` instead of an internal one: they then
    /// outlive the server, and their errors go to that nursery.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::abc::SendStream;
    /// use trio::net::{SocketListener, SocketStream, serve_listeners};
    /// # trio::run(async {
    /// let handler = async |s: SocketStream| s.send_all(b"hi").await;
    /// trio::open_nursery(async |handlers| {
    ///     let listener = SocketListener::bind("127.0.0.1:0".parse().unwrap())?;
    ///     trio::open_nursery(async |n| {
    ///         n.start(async |status| {
    ///             serve_listeners(handler, vec![listener])
    ///                 .on_connection_error(|e| eprintln!("a connection failed: {e}"))
    ///                 .handler_nursery(handlers)
    ///                 .task_status(status)
    ///                 .await
    ///         })
    ///         .await?;
    ///         n.cancel_scope().cancel(); // stops accepting; handlers live on in `handlers`
    ///         Ok(())
    ///     })
    ///     .await
    /// })
    /// .await
    /// # }).unwrap();
    /// ```
    pub fn handler_nursery<'n2, 'h2>(
        self,
        nursery: &'n2 Nursery<'h2>,
    ) -> ServeListeners<'n2, 'h2, L, H>
    where
        'h: 'h2,
    {
        ServeListeners {
            handler: self.handler,
            listeners: self.listeners,
            handler_nursery: Some(nursery),
            on_error: self.on_error.map(|h| h as ConnectionErrorHook<'h2>),
            task_status: self.task_status,
            running: None,
        }
    }

    /// Makes each connection's failure its own: a handler's error (other than
    /// a cancellation) or panic is given to `hook`, that connection's stream is
    /// closed, and the server goes on serving the others. Without it, a
    /// handler's error stops the server (Trio's rule; see [`serve_listeners`]).
    ///
    /// A panic reaches the hook as an [`ErrorKind::Other`](crate::ErrorKind::Other)
    /// error carrying the panic's message (the panic hook has printed it too, as
    /// for any panic). To drop the errors silently, pass `|_| {}`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    /// use trio::abc::{ReceiveStream, SendStream};
    /// use trio::net::{SocketListener, SocketStream, serve_listeners};
    /// # trio::run(async {
    /// let listener = SocketListener::bind("127.0.0.1:0".parse().unwrap())?;
    /// let port = listener.local_addr()?.port();
    /// let failures = Cell::new(0);
    /// // Fails for a client that sends "boom": only that client is affected.
    /// let handler = async |s: SocketStream| {
    ///     let mut buf = [0u8; 16];
    ///     let n = s.receive_some(&mut buf).await?;
    ///     if &buf[..n] == b"boom" {
    ///         return Err(trio::Error::new(trio::ErrorKind::Other, "bad request"));
    ///     }
    ///     s.send_all(b"ok").await
    /// };
    /// trio::open_nursery(async |n| {
    ///     n.start(async |status| {
    ///         serve_listeners(handler, vec![listener])
    ///             .on_connection_error(|_e| failures.set(failures.get() + 1))
    ///             .task_status(status)
    ///             .await
    ///     })
    ///     .await?;
    ///     let bad = trio::net::open_tcp_stream("127.0.0.1", port).await?;
    ///     bad.send_all(b"boom").await?;
    ///     assert_eq!(bad.receive_some(&mut [0u8; 8]).await?, 0); // closed by the server
    ///     let good = trio::net::open_tcp_stream("127.0.0.1", port).await?;
    ///     good.send_all(b"hello").await?;
    ///     let mut buf = [0u8; 8];
    ///     assert_eq!(good.receive_some(&mut buf).await?, 2); // still serving
    ///     n.cancel_scope().cancel();
    ///     Ok(())
    /// })
    /// .await?;
    /// assert_eq!(failures.get(), 1);
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn on_connection_error(mut self, hook: impl Fn(&Error) + 'h) -> Self {
        self.on_error = Some(Rc::new(hook));
        self
    }

    /// [`on_connection_error`](Self::on_connection_error) with a hook in hand.
    pub(crate) fn with_hook(mut self, hook: Option<ConnectionErrorHook<'h>>) -> Self {
        self.on_error = hook;
        self
    }

    /// Reports the listeners through `status` once serving (for [`Nursery::start`]).
    ///
    /// # Examples
    ///
    /// See [`serve_listeners`].
    pub fn task_status(mut self, status: TaskStatus<Vec<Rc<L>>>) -> Self {
        self.task_status = Some(status);
        self
    }
}

/// The server runs when polled: `.await` it, or hand it to anything that takes a
/// future (`start_soon`, `move_on_after`, ...).
impl<'n, 'h, L, H> Future for ServeListeners<'n, 'h, L, H>
where
    L: Listener + 'h,
    L::Stream: 'h,
    H: AsyncFn(L::Stream) -> Result<()> + 'h,
{
    type Output = Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let this = self.get_mut();
        let running = this.running.get_or_insert_with(|| {
            let handler = this.handler.take().expect("a server is started once");
            Box::pin(serve(
                handler,
                std::mem::take(&mut this.listeners)
                    .into_iter()
                    .map(Rc::new)
                    .collect(),
                this.handler_nursery,
                this.on_error.take(),
                this.task_status.take(),
            ))
        });
        running.as_mut().poll(cx)
    }
}

async fn serve<'h, L, H>(
    handler: H,
    listeners: Vec<Rc<L>>,
    handler_nursery: Option<&Nursery<'h>>,
    on_error: Option<ConnectionErrorHook<'h>>,
    task_status: Option<TaskStatus<Vec<Rc<L>>>>,
) -> Result<()>
where
    L: Listener + 'h,
    L::Stream: 'h,
    H: AsyncFn(L::Stream) -> Result<()> + 'h,
{
    let handler = Rc::new(handler);
    let (handler, listeners, on_error) = (&handler, &listeners, &on_error);
    open_nursery(async |n| {
        for l in listeners {
            let (l, h, e) = (l.clone(), handler.clone(), on_error.clone());
            match handler_nursery {
                Some(hn) => n.start_soon(serve_one(l, hn.clone(), h, e))?,
                None => n.start_soon(serve_one(l, n.clone(), h, e))?,
            }
        }
        // The listeners are already queueing connections; report them only now in
        // case starting the tasks failed.
        if let Some(status) = task_status {
            status.started(listeners.clone());
        }
        Ok(())
    })
    .await
    .map(drop)
}

/// One listener's accept loop; closes the listener when it ends.
async fn serve_one<'x, L, H>(
    listener: Rc<L>,
    nursery: Nursery<'x>,
    handler: Rc<H>,
    on_error: Option<ConnectionErrorHook<'x>>,
) -> Result<()>
where
    L: Listener + 'x,
    L::Stream: 'x,
    H: AsyncFn(L::Stream) -> Result<()> + 'x,
{
    let ended: Result<()> = loop {
        // A graceful stop ends the loop: no new connections (closing the listener
        // below refuses them); those in progress finish in their nursery.
        let Some(accepted) = crate::until_stop_requested(listener.accept()).await else {
            break Ok(());
        };
        match accepted {
            Ok(stream) => {
                let (h, hook) = (handler.clone(), on_error.clone());
                let started = nursery.start_soon(async move {
                    match hook {
                        Some(hook) => isolated((*h)(stream), &*hook).await,
                        None => (*h)(stream).await,
                    }
                });
                if let Err(e) = started {
                    break Err(e);
                }
            }
            Err(e) => {
                if let Err(e) = back_off_if_overloaded(e, "serve_listeners").await {
                    break Err(e);
                }
            }
        }
    };
    // Trio's `async with listener`: closed however the loop ended.
    match (ended, listener.aclose().await) {
        (Err(err), Err(close_err)) if !close_err.is_cancelled() => {
            Err(Error::group(vec![err, close_err]).expect("two errors"))
        }
        (Ok(()), Err(close_err)) if !close_err.is_cancelled() => Err(close_err),
        (ended, _) => ended,
    }
}

/// After an `accept` error: if it means the system is overloaded (`EMFILE`, ...),
/// reports it as a diagnostic (`DiagnosticKind::AcceptBackoff`), waits
/// [`SLEEP_TIME`] and returns `Ok` (accept again); any other error is returned.
pub(crate) async fn back_off_if_overloaded(e: Error, who: &str) -> Result<()> {
    let capacity =
        socket::os_error(&e).and_then(|n| ACCEPT_CAPACITY_ERRNOS.iter().find(|(c, _)| *c == n));
    match capacity {
        Some((_, name)) => {
            crate::lowlevel::report_diagnostic(
                crate::lowlevel::DiagnosticKind::AcceptBackoff,
                format!(
                    "trio::net::{who}: accept returned {name} ({e}); retrying in {} ms",
                    SLEEP_TIME.as_millis()
                ),
            );
            crate::sleep(SLEEP_TIME).await
        }
        None => Err(e),
    }
}

/// Serves TCP connections on `port`: [`open_tcp_listeners`](crate::net::open_tcp_listeners)
/// then [`serve_listeners`] (Trio's `serve_tcp`). Await the returned [`ServeTcp`],
/// after setting options on it if needed.
///
/// With [`task_status`](ServeTcp::task_status) it can be started with
/// [`Nursery::start`], which returns the listeners once they accept connections:
/// the way for a test to learn the port the system picked for port 0.
///
/// Give a real server [`on_connection_error`](ServeTcp::on_connection_error):
/// then a client that resets its connection, sends garbage, or makes the
/// handler fail or panic ends its own connection only.
///
/// # Errors
///
/// Those of [`open_tcp_listeners`](crate::net::open_tcp_listeners) and of
/// [`serve_listeners`].
///
/// # Cancellation
///
/// As [`serve_listeners`].
///
/// # Examples
///
/// ```
/// use trio::abc::{ReceiveStream, SendStream};
/// use trio::net::{SocketStream, serve_tcp};
/// # trio::run(async {
/// let echo = async |s: SocketStream| {
///     let mut buf = [0u8; 1024];
///     loop {
///         let n = s.receive_some(&mut buf).await?;
///         if n == 0 { return Ok(()); }
///         s.send_all(&buf[..n]).await?;
///     }
/// };
/// trio::open_nursery(async |n| {
///     let listeners = n
///         .start(async |status| {
///             serve_tcp(echo, 0)
///                 .host("127.0.0.1")
///                 .on_connection_error(|e| eprintln!("echo: a connection failed: {e}"))
///                 .task_status(status)
///                 .await
///         })
///         .await?;
///     let port = listeners[0].local_addr()?.port();
///     // A client that resets its connection fails only its own handler...
///     let rude = std::net::TcpStream::connect(("127.0.0.1", port))?;
///     socket2::SockRef::from(&rude).set_linger(Some(std::time::Duration::ZERO))?;
///     drop(rude); // closed with a reset (RST)
///     // ...and the server goes on.
///     let client = trio::net::open_tcp_stream("127.0.0.1", port).await?;
///     client.send_all(b"ping").await?;
///     let mut buf = [0u8; 4];
///     assert_eq!(client.receive_some(&mut buf).await?, 4);
///     assert_eq!(&buf, b"ping");
///     n.cancel_scope().cancel();
///     Ok(())
/// })
/// .await
/// # }).unwrap();
/// ```
pub fn serve_tcp<'a, 'n, 'h, H>(handler: H, port: u16) -> ServeTcp<'a, 'n, 'h, H> {
    ServeTcp {
        listen: TcpListen::new(port),
        handler: Some(handler),
        handler_nursery: None,
        on_error: None,
        task_status: None,
        running: None,
    }
}

/// The server of [`serve_tcp`]: set options, then `.await` it (or pass it on as a
/// future).
///
/// # Examples
///
/// ```
/// use trio::net::{SocketStream, serve_tcp};
/// # trio::run(async {
/// let handler = async |_s: SocketStream| Ok(());
/// let server = serve_tcp(handler, 0).host("127.0.0.1").backlog(64);
/// let r = trio::move_on_after(std::time::Duration::from_millis(1), server).await?;
/// assert!(r.is_none());
/// # Ok(()) }).unwrap();
/// ```
#[must_use = "a server does nothing unless awaited"]
pub struct ServeTcp<'a, 'n, 'h, H> {
    listen: TcpListen<'a>,
    handler: Option<H>,
    handler_nursery: Option<&'n Nursery<'h>>,
    on_error: Option<ConnectionErrorHook<'h>>,
    task_status: Option<TaskStatus<Vec<Rc<SocketListener>>>>,
    running: Option<BoxFuture<'n, Result<()>>>,
}

// As for `ServeListeners`: never pinned structurally.
impl<H> Unpin for ServeTcp<'_, '_, '_, H> {}

impl<H> std::fmt::Debug for ServeTcp<'_, '_, '_, H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeTcp")
            .field("listen", &self.listen)
            .field("handler_nursery", &self.handler_nursery)
            .field("on_connection_error", &self.on_error.is_some())
            .finish()
    }
}

impl<'a, 'n, 'h, H> ServeTcp<'a, 'n, 'h, H> {
    /// Listen only on the addresses of `host` (see [`TcpListen::host`]).
    ///
    /// # Examples
    ///
    /// See [`ServeTcp`].
    pub fn host(mut self, host: &'a str) -> Self {
        self.listen = self.listen.host(host);
        self
    }

    /// The `listen(2)` backlog (see [`TcpListen::backlog`]).
    ///
    /// # Examples
    ///
    /// See [`ServeTcp`].
    pub fn backlog(mut self, backlog: u32) -> Self {
        self.listen = self.listen.backlog(backlog);
        self
    }

    /// Sets `SO_REUSEPORT` on the listeners (see [`TcpListen::reuse_port`]): every
    /// loop of a [`run_loops`](crate::run_loops) can then serve the same port, and
    /// the kernel spreads the connections among them.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::net::{SocketStream, serve_tcp};
    /// # trio::run(async {
    /// let handler = async |_s: SocketStream| Ok(());
    /// trio::open_nursery(async |n| {
    ///     // Two servers on one port (in a real program: one per loop).
    ///     let first = n
    ///         .start(async |st| serve_tcp(handler, 0).host("127.0.0.1").reuse_port(true).task_status(st).await)
    ///         .await?;
    ///     let port = first[0].local_addr()?.port();
    ///     let second = n
    ///         .start(async move |st| serve_tcp(handler, port).host("127.0.0.1").reuse_port(true).task_status(st).await)
    ///         .await?;
    ///     assert_eq!(second[0].local_addr()?.port(), port);
    ///     n.cancel_scope().cancel();
    ///     Ok(())
    /// })
    /// .await
    /// # }).unwrap();
    /// ```
    pub fn reuse_port(mut self, yes: bool) -> Self {
        self.listen = self.listen.reuse_port(yes);
        self
    }

    /// Starts the handlers in `nursery` (see [`ServeListeners::handler_nursery`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::net::{SocketStream, serve_tcp};
    /// # trio::run(async {
    /// let handler = async |_s: SocketStream| Ok(());
    /// trio::open_nursery(async |handlers| {
    ///     let server = serve_tcp(handler, 0).host("127.0.0.1").handler_nursery(handlers);
    ///     trio::move_on_after(std::time::Duration::from_millis(1), server).await?;
    ///     Ok(())
    /// })
    /// .await
    /// # }).unwrap();
    /// ```
    pub fn handler_nursery<'n2, 'h2>(self, nursery: &'n2 Nursery<'h2>) -> ServeTcp<'a, 'n2, 'h2, H>
    where
        'h: 'h2,
    {
        ServeTcp {
            listen: self.listen,
            handler: self.handler,
            handler_nursery: Some(nursery),
            on_error: self.on_error.map(|h| h as ConnectionErrorHook<'h2>),
            task_status: self.task_status,
            running: None,
        }
    }

    /// Makes each connection's failure its own, reported to `hook` (see
    /// [`ServeListeners::on_connection_error`]).
    ///
    /// # Examples
    ///
    /// See [`serve_tcp`].
    pub fn on_connection_error(mut self, hook: impl Fn(&Error) + 'h) -> Self {
        self.on_error = Some(Rc::new(hook));
        self
    }

    /// Reports the listeners through `status` once serving (for [`Nursery::start`]).
    ///
    /// # Examples
    ///
    /// See [`serve_tcp`].
    pub fn task_status(mut self, status: TaskStatus<Vec<Rc<SocketListener>>>) -> Self {
        self.task_status = Some(status);
        self
    }
}

/// The server runs when polled: `.await` it, or hand it to anything that takes a
/// future (`start_soon`, `move_on_after`, ...).
impl<'a, 'n, 'h, H> Future for ServeTcp<'a, 'n, 'h, H>
where
    'a: 'n,
    H: AsyncFn(crate::net::SocketStream) -> Result<()> + 'h,
{
    type Output = Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let this = self.get_mut();
        let running = this.running.get_or_insert_with(|| {
            let handler = this.handler.take().expect("a server is started once");
            let listen = this.listen.clone();
            let handler_nursery = this.handler_nursery;
            let on_error = this.on_error.take();
            let task_status = this.task_status.take();
            Box::pin(async move {
                let listeners = listen.open().await?;
                serve(
                    handler,
                    listeners.into_iter().map(Rc::new).collect(),
                    handler_nursery,
                    on_error,
                    task_status,
                )
                .await
            })
        });
        running.as_mut().poll(cx)
    }
}
