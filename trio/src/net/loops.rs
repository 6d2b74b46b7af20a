//! [`LoopListener`]: one TCP server on every loop of a [`run_loops`](crate::run_loops).
//!
//! The trade-offs are on [`LoopListener`] itself (this module is private).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};

use socket2::{Domain, Type};

use crate::abc::{AsyncResource, Listener};
use crate::channel::{MemoryReceiveChannel, MemorySendChannel};
use crate::lowlevel::checkpoint;
use crate::net::serve::{ConnectionErrorHook, back_off_if_overloaded};
use crate::net::socket::{BoxFuture, Socket};
use crate::net::tcp_listeners::compute_backlog;
use crate::net::{SocketListener, SocketStream, serve_listeners};
use crate::sys::socket::REUSE_PORT;
use crate::{Error, ErrorKind, Result, open_memory_channel, open_nursery};

/// How many handed-off connections may wait for a loop before the accepting loop
/// tries the next one.
const HANDOFF_QUEUE: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    ReusePort,
    Handoff,
}

type Raw = socket2::Socket;

/// A TCP listening address served by every loop of a
/// [`run_loops`](crate::run_loops): the kernel spreads the connections
/// ([`reuse_port`](Self::reuse_port)), or loop 0 accepts them and hands them out
/// ([`handoff`](Self::handoff)).
///
/// Make it before the loops start, share it by reference, and have loop `i` call
/// [`serve`](Self::serve)`(i, handler)`.
///
/// # Two ways to spread connections
///
/// Two ways to spread connections over loops, each with its trade-off:
///
/// * **`SO_REUSEPORT`** ([`LoopListener::reuse_port`]): every loop has a listening
///   socket of its own on the same port, and the kernel spreads incoming
///   connections among them by a hash of the addresses. Nothing is shared: the
///   accept is on the loop that serves. The split is statistical (a few busy
///   clients may land on one loop), and a loop that stops listening leaves its
///   queued connections to be reset.
///
///   **Locality.** When a loop runs pinned to one CPU
///   ([`Loops::pin_to_cpus`](crate::Loops::pin_to_cpus)), its socket also gets
///   `SO_INCOMING_CPU` = that CPU, and Linux (6.1 and later) then gives each
///   connection to the listener of the CPU that processed its first packet — the
///   CPU the network card's hash (or, on loopback, the connecting thread) chose.
///   Every packet of a connection is then handled by the kernel and by trio on
///   one CPU: no socket state moves between CPUs. This is what makes a
///   connection cost the same on N loops as on one; without it, a connection
///   whose packets arrive on one CPU and are served on another costs much more
///   (two loops on `tcp_echo`: 1617 ns per round trip pinned, 2834 not; see the
///   [`loops`](crate::loops) module).
/// * **Hand-off** ([`LoopListener::handoff`]): loop 0 accepts every connection and
///   hands it — a plain `socket2::Socket`, which is `Send` — to the loops in turn
///   over thread-safe memory channels, skipping a loop whose queue is full. The
///   split is exact, at the price of a channel hop (a cross-thread wake-up) per
///   connection, and loop 0 does all the accepting.
///
/// Both bind every socket at once, before the loops start, so port 0 works (all
/// loops share the port the system picked) and clients may connect as soon as
/// the `LoopListener` exists.
///
/// # Examples
///
/// ```
/// use trio::abc::{ReceiveStream, SendStream};
/// use trio::net::{LoopListener, SocketStream};
///
/// let listener = LoopListener::reuse_port("127.0.0.1:0".parse().unwrap(), 2)?;
/// let port = listener.local_addr().port();
/// let (stop_tx, stop_rx) = trio::open_memory_channel::<()>(1);
/// trio::run_loops(2, async |cx| {
///     let echo = async |s: SocketStream| {
///         let mut buf = [0u8; 64];
///         let n = s.receive_some(&mut buf).await?;
///         s.send_all(&buf[..n]).await
///     };
///     trio::open_nursery(async |n| {
///         let server = listener
///             .serve(cx.index(), echo)
///             .on_connection_error(|e| eprintln!("echo: a connection failed: {e}"));
///         n.start_soon(server)?;
///         if cx.index() == 0 {
///             // A client; whichever loop the kernel picks answers it.
///             let c = trio::net::open_tcp_stream("127.0.0.1", port).await?;
///             c.send_all(b"ping").await?;
///             let mut buf = [0u8; 4];
///             assert_eq!(c.receive_some(&mut buf).await?, 4);
///             stop_tx.send(()).await?; // stop loop 1
///         } else {
///             stop_rx.receive().await?;
///         }
///         n.cancel_scope().cancel(); // stop this loop's server
///         Ok(())
///     })
///     .await
/// })?;
/// # Ok::<_, trio::Error>(())
/// ```
#[derive(Debug)]
pub struct LoopListener {
    addr: SocketAddr,
    loops: usize,
    mode: Mode,
    /// The listening sockets not taken yet: one per loop (`reuse_port`), or loop
    /// 0's only (`handoff`).
    sockets: Mutex<Vec<Option<Raw>>>,
    /// `handoff`: a channel per loop for the accepted connections.
    queues: Vec<(MemorySendChannel<Raw>, MemoryReceiveChannel<Raw>)>,
}

fn bind(addr: SocketAddr, reuse_port: bool) -> Result<Raw> {
    let sock = Raw::new(Domain::for_address(addr), Type::STREAM, None)?;
    // What every trio listener gets on Unix (see `tcp_listeners.rs`).
    #[cfg(unix)]
    sock.set_reuse_address(true)?;
    if reuse_port {
        crate::sys::socket::setsockopt_bytes(
            &sock,
            crate::sys::socket::opt::SOL_SOCKET,
            REUSE_PORT,
            &1i32.to_ne_bytes(),
        )?;
    }
    if addr.is_ipv6() {
        sock.set_only_v6(true)?;
    }
    let sock_addr = addr.into();
    sock.bind(&sock_addr)
        .map_err(|e| crate::net::socket::address_error("binding to", &sock_addr, e))?;
    sock.listen(compute_backlog(None))?;
    sock.set_nonblocking(true)?;
    Ok(sock)
}

fn usage(msg: String) -> Error {
    Error::new(ErrorKind::Usage, msg)
}

fn invalid(msg: String) -> Error {
    Error::new(ErrorKind::InvalidInput, msg)
}

impl LoopListener {
    /// Binds `loops` listening sockets to `addr` with `SO_REUSEPORT` (port 0: the
    /// first picks a free port, the others take the same), one for each loop. The
    /// kernel spreads the connections among the loops that serve.
    ///
    /// On FreeBSD the option is `SO_REUSEPORT_LB`, its balancing form. macOS
    /// has no balancing option: there the loops' sockets share the port, every
    /// connection is served, but the kernel gives them all to one of the
    /// sockets. To spread connections on macOS, use [`handoff`](Self::handoff).
    ///
    /// Windows has no option that shares a port among live listeners (its
    /// `SO_REUSEADDR` lets any socket take over a port): there `reuse_port` is
    /// [`handoff`](Self::handoff), so the same program serves on every loop on
    /// every system ([`take_listener`](Self::take_listener) is then refused, as
    /// for any hand-off listener).
    ///
    /// Works outside trio (no `await`): call it before [`run_loops`](crate::run_loops).
    ///
    /// # Errors
    ///
    /// The operating system's (for example `EADDRINUSE` when another socket
    /// without `SO_REUSEPORT` has the port); [`ErrorKind::InvalidInput`] for zero loops.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = trio::net::LoopListener::reuse_port("127.0.0.1:0".parse().unwrap(), 4)?;
    /// assert_ne!(l.local_addr().port(), 0);
    /// assert_eq!(l.loops(), 4);
    /// # Ok::<_, trio::Error>(())
    /// ```
    pub fn reuse_port(addr: SocketAddr, loops: usize) -> Result<LoopListener> {
        if loops == 0 {
            return Err(invalid("LoopListener needs at least one loop".into()));
        }
        if cfg!(windows) {
            return Self::handoff(addr, loops);
        }
        let first = bind(addr, true)?;
        let addr = first
            .local_addr()?
            .as_socket()
            .ok_or_else(|| usage("LoopListener: not an IP address".into()))?;
        let mut sockets = vec![Some(first)];
        for _ in 1..loops {
            sockets.push(Some(bind(addr, true)?));
        }
        Ok(LoopListener {
            addr,
            loops,
            mode: Mode::ReusePort,
            sockets: Mutex::new(sockets),
            queues: Vec::new(),
        })
    }

    /// Binds one listening socket to `addr`, which loop 0 accepts on; each
    /// connection is handed to a loop in turn (loop 0 included), skipping loops
    /// whose queue of waiting connections is full.
    ///
    /// Works outside trio (no `await`): call it before [`run_loops`](crate::run_loops).
    ///
    /// # Errors
    ///
    /// The operating system's; [`ErrorKind::InvalidInput`] for zero loops.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::abc::SendStream;
    /// use trio::net::{LoopListener, SocketStream};
    /// let listener = LoopListener::handoff("127.0.0.1:0".parse().unwrap(), 2)?;
    /// let addr = listener.local_addr();
    /// let served_by = trio::run_loops(2, async |cx| {
    ///     let (tx, rx) = trio::open_memory_channel::<usize>(1);
    ///     // Each loop serves one connection (hand-off is round-robin), then stops.
    ///     let hello = async |s: SocketStream| {
    ///         s.send_all(b"hi").await?;
    ///         tx.send(cx.index()).await?;
    ///         Ok(())
    ///     };
    ///     trio::open_nursery(async |n| {
    ///         n.start_soon(listener.serve(cx.index(), hello).on_connection_error(|_| {}))?;
    ///         if cx.index() == 0 {
    ///             for _ in 0..2 {
    ///                 // A plain blocking connect: the backlog takes it at once.
    ///                 let _c = std::net::TcpStream::connect(addr)?;
    ///             }
    ///         }
    ///         let i = rx.receive().await?;
    ///         n.cancel_scope().cancel();
    ///         Ok(i)
    ///     })
    ///     .await
    ///     .map(|v| v.expect("the body returned"))
    /// })?;
    /// assert_eq!(served_by, [0, 1]);
    /// # Ok::<_, trio::Error>(())
    /// ```
    pub fn handoff(addr: SocketAddr, loops: usize) -> Result<LoopListener> {
        if loops == 0 {
            return Err(invalid("LoopListener needs at least one loop".into()));
        }
        let sock = bind(addr, false)?;
        let addr = sock
            .local_addr()?
            .as_socket()
            .ok_or_else(|| usage("LoopListener: not an IP address".into()))?;
        Ok(LoopListener {
            addr,
            loops,
            mode: Mode::Handoff,
            sockets: Mutex::new(vec![Some(sock)]),
            queues: (0..loops)
                .map(|_| open_memory_channel(HANDOFF_QUEUE))
                .collect(),
        })
    }

    /// The address every loop serves (with the port the system picked for 0).
    ///
    /// # Examples
    ///
    /// See [`reuse_port`](Self::reuse_port).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The number of loops it was made for.
    ///
    /// # Examples
    ///
    /// See [`reuse_port`](Self::reuse_port).
    pub fn loops(&self) -> usize {
        self.loops
    }

    /// Takes loop `index`'s listening socket as a [`SocketListener`], to serve it
    /// another way — for example with `trio::http::serve` (feature
    /// `hyper`), which takes listeners. Only for [`reuse_port`](Self::reuse_port).
    /// Called on a loop pinned to one CPU, it gives the socket that CPU as its
    /// `SO_INCOMING_CPU` (see [locality](Self#two-ways-to-spread-connections)).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`] if `index` is not below [`loops`](Self::loops);
    /// [`ErrorKind::Usage`] if the socket was already taken (by this or by
    /// [`serve`](Self::serve)), or for a [`handoff`](Self::handoff) listener; the
    /// operating system's otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = trio::net::LoopListener::reuse_port("127.0.0.1:0".parse().unwrap(), 2)?;
    /// let l1 = l.take_listener(1)?;
    /// assert_eq!(l1.local_addr()?, l.local_addr());
    /// assert_eq!(l.take_listener(1).unwrap_err().kind(), trio::ErrorKind::Usage); // taken
    /// assert_eq!(l.take_listener(2).unwrap_err().kind(), trio::ErrorKind::InvalidInput); // no loop 2
    /// # Ok::<_, trio::Error>(())
    /// ```
    pub fn take_listener(&self, index: usize) -> Result<SocketListener> {
        if self.mode != Mode::ReusePort {
            return Err(usage(
                "LoopListener::take_listener is for reuse_port listeners \
                 (on Windows, reuse_port hands off too)"
                    .into(),
            ));
        }
        self.take(index)
    }

    fn take(&self, index: usize) -> Result<SocketListener> {
        let mut sockets = self.sockets.lock().unwrap_or_else(|e| e.into_inner());
        let slot = sockets.get_mut(index).ok_or_else(|| {
            invalid(format!(
                "LoopListener: loop {index} does not exist (there are {} loops)",
                self.loops
            ))
        })?;
        let raw = slot.take().ok_or_else(|| {
            usage(format!(
                "LoopListener: loop {index}'s socket was already taken"
            ))
        })?;
        if self.mode == Mode::ReusePort {
            if let Some(cpu) = crate::sys::affinity::pinned_cpu() {
                // This loop runs on one CPU only: ask the kernel for the
                // connections that CPU receives (see the module docs).
                crate::sys::socket::set_incoming_cpu(&raw, cpu)?;
            }
        }
        SocketListener::from_socket(Socket::from_socket2(raw)?)
    }

    /// Serves the connections that reach loop `index`: for each, starts a task
    /// running `handler(stream)`, as [`serve_listeners`] does (whose overload
    /// handling and error rules apply). Await the returned [`ServeLoop`], after
    /// setting [`on_connection_error`](ServeLoop::on_connection_error) on it for
    /// a real server. Call it once on each loop, from that
    /// loop, with that loop's index ([`LoopContext::index`](crate::LoopContext::index)).
    /// With [`handoff`](Self::handoff), loop 0's call also does the accepting
    /// for everyone, so loop 0 must serve for the others to get connections.
    /// With [`reuse_port`](Self::reuse_port), on a loop pinned to one CPU, the
    /// loop's socket gets that CPU as its `SO_INCOMING_CPU` (see
    /// [locality](Self#two-ways-to-spread-connections)).
    ///
    /// It never returns `Ok` while serving.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`] if `index` is not below [`loops`](Self::loops);
    /// [`ErrorKind::Usage`] if loop `index` is already served (its socket was
    /// taken); errors of accepting and (as in [`serve_listeners`], unless the hook
    /// is set) of handlers.
    ///
    /// # Cancellation
    ///
    /// Cancelling stops serving: this loop's listening socket is closed (with
    /// `reuse_port`, the kernel then sends new connections to the other loops;
    /// with `handoff`, cancelling loop 0 stops the accepting) and its handlers are
    /// cancelled and waited for.
    ///
    /// # Examples
    ///
    /// See [`LoopListener`] and [`handoff`](Self::handoff).
    pub fn serve<H>(&self, index: usize, handler: H) -> ServeLoop<'_, H>
    where
        H: AsyncFn(SocketStream) -> Result<()>,
    {
        ServeLoop {
            listener: self,
            index,
            handler: Some(handler),
            on_error: None,
            running: None,
        }
    }

    async fn serve_inner<'a, H>(
        &'a self,
        index: usize,
        handler: H,
        on_error: Option<ConnectionErrorHook<'a>>,
    ) -> Result<()>
    where
        H: AsyncFn(SocketStream) -> Result<()> + 'a,
    {
        match self.mode {
            Mode::ReusePort => {
                let listener = self.take(index)?;
                serve_listeners(handler, vec![listener])
                    .with_hook(on_error)
                    .await
            }
            Mode::Handoff => {
                let (_, rx) = self.queues.get(index).ok_or_else(|| {
                    invalid(format!(
                        "LoopListener: loop {index} does not exist (there are {} loops)",
                        self.loops
                    ))
                })?;
                let incoming = Incoming { rx: rx.clone() };
                if index != 0 {
                    return serve_listeners(handler, vec![incoming])
                        .with_hook(on_error)
                        .await;
                }
                let listener = self.take(0)?;
                let listener = &listener;
                open_nursery(async |n| {
                    n.start_soon(self.dispatch(listener))?;
                    serve_listeners(handler, vec![incoming])
                        .with_hook(on_error)
                        .await
                })
                .await
                .map(drop)
            }
        }
    }

    /// Loop 0's accept loop in hand-off mode; closes the listener when it ends.
    async fn dispatch(&self, listener: &SocketListener) -> Result<()> {
        let n = self.queues.len();
        let mut next = 0;
        let err = loop {
            let sock = match listener.accept_socket().await {
                Ok(s) => s,
                Err(e) => match back_off_if_overloaded(e, "LoopListener").await {
                    Ok(()) => continue,
                    Err(e) => break e,
                },
            };
            // Unregistered from this loop's reactor, still open.
            let Ok(raw) = sock.into_socket2() else {
                continue;
            };
            let mut unsent = Some(raw);
            for k in 0..n {
                let target = (next + k) % n;
                let raw = unsent.take().expect("not sent yet");
                match self.queues[target].0.send_nowait(raw) {
                    Ok(()) => {
                        next = (target + 1) % n;
                        break;
                    }
                    Err(e) => unsent = Some(e.into_inner()),
                }
            }
            if let Some(raw) = unsent {
                // Every queue is full: wait for the loop whose turn it is.
                if let Err(e) = self.queues[next].0.send(raw).await {
                    break Error::from(e);
                }
                next = (next + 1) % n;
            }
        };
        let _ = listener.aclose().await;
        Err(err)
    }
}

/// A loop's share of a hand-off listener: the connections handed to it.
struct Incoming {
    rx: MemoryReceiveChannel<Raw>,
}

impl AsyncResource for Incoming {
    async fn aclose(&self) -> Result<()> {
        self.rx.close();
        checkpoint().await
    }
}

impl Listener for Incoming {
    type Stream = SocketStream;

    async fn accept(&self) -> Result<SocketStream> {
        loop {
            let raw = self.rx.receive().await?;
            // A connection that cannot be wrapped concerns that connection only.
            if let Ok(stream) = Socket::from_socket2(raw).and_then(SocketStream::from_socket) {
                return Ok(stream);
            }
        }
    }
}

/// One loop's server of a [`LoopListener`] ([`LoopListener::serve`]): set
/// options, then `.await` it (or pass it on as a future).
///
/// # Examples
///
/// ```
/// use trio::net::{LoopListener, SocketStream};
/// let listener = LoopListener::reuse_port("127.0.0.1:0".parse().unwrap(), 1)?;
/// trio::run(async {
///     let handler = async |_s: SocketStream| Ok(());
///     let server = listener
///         .serve(0, handler)
///         .on_connection_error(|e| eprintln!("a connection failed: {e}"));
///     let r = trio::move_on_after(std::time::Duration::from_millis(1), server).await?;
///     assert!(r.is_none());
///     Ok(())
/// })?;
/// # Ok::<_, trio::Error>(())
/// ```
#[must_use = "a server does nothing unless awaited"]
pub struct ServeLoop<'a, H> {
    listener: &'a LoopListener,
    index: usize,
    handler: Option<H>,
    on_error: Option<ConnectionErrorHook<'a>>,
    running: Option<BoxFuture<'a, Result<()>>>,
}

// Never pinned structurally: the options move out on the first poll, and the
// running server is boxed (as `ServeListeners`).
impl<H> Unpin for ServeLoop<'_, H> {}

impl<H> std::fmt::Debug for ServeLoop<'_, H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeLoop")
            .field("index", &self.index)
            .field("on_connection_error", &self.on_error.is_some())
            .finish_non_exhaustive()
    }
}

impl<'a, H> ServeLoop<'a, H> {
    /// Makes each connection's failure its own, reported to `hook` (see
    /// [`ServeListeners::on_connection_error`](crate::net::ServeListeners::on_connection_error)).
    ///
    /// # Examples
    ///
    /// See [`ServeLoop`].
    pub fn on_connection_error(mut self, hook: impl Fn(&Error) + 'a) -> Self {
        self.on_error = Some(std::rc::Rc::new(hook));
        self
    }
}

/// The server runs when polled.
impl<'a, H> Future for ServeLoop<'a, H>
where
    H: AsyncFn(SocketStream) -> Result<()> + 'a,
{
    type Output = Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let this = self.get_mut();
        let running = this.running.get_or_insert_with(|| {
            let handler = this.handler.take().expect("a server is started once");
            Box::pin(
                this.listener
                    .serve_inner(this.index, handler, this.on_error.take()),
            )
        });
        running.as_mut().poll(cx)
    }
}
