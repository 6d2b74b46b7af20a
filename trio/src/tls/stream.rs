//! [`SslStream`] (Trio's `trio.SSLStream`): TLS over any trio [`Stream`], on a
//! rustls connection driven by hand.
//!
//! See the essay in the [module documentation](super) for the design; the
//! invariants live next to the fields below.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io::{self, BufRead, Read, Write};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{
    ClientConfig, ClientConnection, Connection, ProtocolVersion, ServerConfig, ServerConnection,
    SupportedCipherSuite,
};

use super::describe::describe;
use crate::abc::{AsyncResource, ReceiveStream, SendStream, Stream, aclose_forcefully};
use crate::conflict::ConflictDetector;
use crate::lowlevel::{cancel_shielded_checkpoint, checkpoint, checkpoint_if_cancelled};
use crate::sync::{Event, Lock, StrictFifoLock};
use crate::{Error, ErrorKind, Result, fail_after};

const SENDING: &str = "another task is currently sending data on this SslStream";
const RECEIVING: &str = "another task is currently receiving data on this SslStream";

/// The first size of the buffer the transport is read into (Trio's
/// `STARTING_RECEIVE_SIZE`: more than TCP's usual initial burst of ~15 000 bytes).
const STARTING_RECEIVE_SIZE: usize = 16384;
/// The buffer doubles whenever a read fills it, up to this (it stays allocated
/// with the stream: a server may hold many).
const MAX_RECEIVE_SIZE: usize = 1 << 16;
/// A TLS record header: type (1), version (2), length (2).
const RECORD_HEADER: usize = 5;

/// The life of a stream (Trio's `_State`). `Closed` is final: nothing turns it
/// back into `Broken`, so a task that fails after a concurrent `aclose` still
/// reports `ClosedResource` to the next caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Ok,
    Broken,
    Closed,
}

/// What an operation on the TLS state asks its driver ([`SslStream::retry`]) to do
/// next. "Output" is whatever rustls queued for the wire during the call.
enum Step<T> {
    /// Finished: send the output, then return the value.
    Done(T),
    /// Finished, and the output may wait for the next operation that sends
    /// (the TLS 1.3 server's session tickets; see the essay).
    DoneQuietly(T),
    /// Made progress without needing the peer: send the output, call again.
    Again,
    /// Needs bytes from the peer: send the output if any, else receive.
    WantRead,
    /// Needs bytes from the peer: receive; the output may wait for the next
    /// operation that sends (what a read makes rustls write: answers nobody
    /// waits for, see [`read_step`]).
    Receive,
}

/// Why an operation on the TLS state failed.
enum Failure {
    /// rustls rejected what the peer sent (or our own configuration).
    Tls(rustls::Error),
    /// rustls refused bytes (its buffers), or an `io::Error` from it.
    Io(io::Error),
    /// The transport ended without a `close_notify`: a truncated stream.
    Eof(&'static str),
    /// Some other fault that breaks the stream.
    Broken(&'static str),
    /// An error to report as is, without breaking the stream (the stream was
    /// closed under a running operation).
    Plain(Error),
}

/// The rustls connection and the byte queues around it (Trio's `SSLObject` and
/// its two memory BIOs). Only touched between awaits, through a `RefCell` borrow
/// that never lives across one.
struct Tls {
    conn: Connection,
    /// Bytes received from the transport, not yet given to rustls, from
    /// `incoming_start` on. Fed one TLS record at a time (see [`Tls::feed`]), so
    /// that after the peer's `close_notify` the rest is still here for `unwrap`.
    incoming: Vec<u8>,
    incoming_start: usize,
    /// Bytes of the current record not yet given to rustls; 0 between records.
    record_remaining: usize,
    /// The transport returned end of stream.
    transport_eof: bool,
    /// rustls has been told about `transport_eof`.
    eof_told: bool,
    /// The peer's `close_notify` was processed: no more bytes go to rustls.
    peer_closed: bool,
    /// TLS bytes taken out of rustls, in order, waiting to go on the wire.
    /// Invariant: `SslStream::sent + outgoing.len() == queued`.
    outgoing: Vec<u8>,
    /// How many bytes were ever appended to `outgoing`.
    queued: u64,
}

impl Tls {
    fn new(conn: Connection) -> Tls {
        Tls {
            conn,
            incoming: Vec::new(),
            incoming_start: 0,
            record_remaining: 0,
            transport_eof: false,
            eof_told: false,
            peer_closed: false,
            outgoing: Vec::new(),
            queued: 0,
        }
    }

    fn pending_incoming(&self) -> &[u8] {
        &self.incoming[self.incoming_start..]
    }

    fn push_incoming(&mut self, data: &[u8]) {
        if self.incoming_start == self.incoming.len() {
            self.incoming.clear();
            self.incoming_start = 0;
        } else if self.incoming_start > self.incoming.len() / 2 {
            self.incoming.drain(..self.incoming_start);
            self.incoming_start = 0;
        }
        self.incoming.extend_from_slice(data);
    }

    /// Moves everything rustls wants to send into `outgoing`.
    fn collect_output(&mut self) {
        while self.conn.wants_write() {
            let before = self.outgoing.len();
            // Writing into a Vec cannot fail.
            let _ = self.conn.write_tls(&mut self.outgoing);
            let n = self.outgoing.len() - before;
            if n == 0 {
                break;
            }
            self.queued += n as u64;
        }
    }

    /// Gives rustls the next bytes of the current TLS record (never past its end)
    /// and processes them. Returns whether anything was given.
    ///
    /// Feeding stops for good once the peer's `close_notify` was processed: the
    /// bytes after it are not TLS any more (Trio's "trailing data" of `unwrap`).
    fn feed(&mut self) -> std::result::Result<bool, Failure> {
        if self.peer_closed {
            return Ok(false);
        }
        if self.record_remaining == 0 {
            let pending = self.pending_incoming();
            if pending.len() < RECORD_HEADER {
                return Ok(false);
            }
            let len = u16::from_be_bytes([pending[3], pending[4]]) as usize;
            self.record_remaining = RECORD_HEADER + len;
        }
        let available = self.pending_incoming().len().min(self.record_remaining);
        if available == 0 {
            return Ok(false);
        }
        let mut fed = 0;
        while fed < available {
            let start = self.incoming_start + fed;
            let mut chunk = &self.incoming[start..start + (available - fed)];
            let n = self.conn.read_tls(&mut chunk).map_err(Failure::Io)?;
            if n == 0 {
                // rustls takes nothing more only after a close_notify, which is
                // processed below, or when its buffer is full, which a record
                // never makes it.
                break;
            }
            fed += n;
            let io_state = self.conn.process_new_packets().map_err(Failure::Tls)?;
            if io_state.peer_has_closed() {
                self.peer_closed = true;
                break;
            }
        }
        self.incoming_start += fed;
        self.record_remaining -= fed;
        if fed == 0 {
            return Err(Failure::Broken("rustls refused a TLS record"));
        }
        Ok(true)
    }

    /// Tells rustls about the transport's end of stream (once).
    fn tell_eof(&mut self) {
        if !self.eof_told {
            self.eof_told = true;
            // An empty reader is end of stream; it cannot fail.
            let _ = self.conn.read_tls(&mut io::empty());
        }
    }

    fn is_server(&self) -> bool {
        matches!(self.conn, Connection::Server(_))
    }
}

/// Marks the stream broken when dropped, unless disarmed: held across an await
/// after which the TLS state would be undefined if the operation stopped there
/// (an error, a cancellation, or the future being dropped).
struct BreakOnDrop<'a> {
    state: &'a Cell<State>,
    armed: bool,
}

impl<'a> BreakOnDrop<'a> {
    fn new(state: &'a Cell<State>) -> Self {
        BreakOnDrop { state, armed: true }
    }

    fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for BreakOnDrop<'_> {
    fn drop(&mut self) {
        if self.armed {
            break_state(self.state);
        }
    }
}

fn break_state(state: &Cell<State>) {
    if state.get() == State::Ok {
        state.set(State::Broken);
    }
}

/// Ends a handshake however it stops: wakes the tasks waiting for it, and breaks
/// the stream unless it succeeded (also when the future is dropped midway).
struct HandshakeGuard<'a> {
    state: &'a Cell<State>,
    ok: &'a Cell<bool>,
    done: &'a Event,
}

impl Drop for HandshakeGuard<'_> {
    fn drop(&mut self) {
        if !self.ok.get() {
            break_state(self.state);
        }
        self.done.set();
    }
}

/// A TLS stream over a transport [`Stream`] (Trio's `SSLStream`): what you send is
/// encrypted and sent on the transport, what you receive was received from the
/// transport and decrypted.
///
/// Make one with [`client`](Self::client) or [`server`](Self::server) (or let
/// [`open_ssl_over_tcp_stream`](super::open_ssl_over_tcp_stream) and
/// [`SslListener`](super::SslListener) make it). It implements
/// [`SendStream`] and [`ReceiveStream`], so it is a [`Stream`]; it is **not** a
/// [`HalfCloseableStream`](crate::abc::HalfCloseableStream), as in Trio.
///
/// * **Handshake.** Done on the first `send_all` or `receive_some`, or explicitly
///   with [`do_handshake`](Self::do_handshake) (to look at the peer's certificate
///   or the ALPN protocol first). Tasks calling it at once share one handshake.
/// * **Full duplex.** One task may send while another receives. Two senders (or
///   two receivers) at once get [`ErrorKind::BusyResource`].
/// * **Closing.** [`aclose`](AsyncResource::aclose) sends `close_notify` and closes
///   the transport without waiting for the peer's reply;
///   [`unwrap`](Self::unwrap) exchanges `close_notify`s and hands the transport
///   back. A peer that closes the transport without a `close_notify` has
///   truncated the stream: [`ErrorKind::BrokenResource`] — unless the stream is
///   [`https_compatible`](Self::https_compatible).
/// * **Cancellation.** A cancelled `receive_some` consumed nothing. But a
///   cancelled handshake, or a `send_all` cancelled while the transport was
///   sending its bytes, leaves the TLS state undefined: the stream is then
///   *broken*, and every later operation but `aclose` fails with
///   [`ErrorKind::BrokenResource`].
/// * **Errors.** TLS failures (a bad certificate, a corrupt record, a truncated
///   stream) are [`ErrorKind::BrokenResource`], with the [`rustls::Error`] (or an
///   [`std::io::Error`] of kind `UnexpectedEof` for a truncation) as their
///   [`source`](std::error::Error::source), and a message that says it in a
///   sentence: "TLS error: the server's certificate is a CA certificate, not one
///   for a server (CaUsedAsEndEntity)". Errors of the transport pass through
///   unchanged.
///
/// # Examples
///
/// A client and a server over an in-memory pair:
///
/// ```
/// use trio::abc::{ReceiveStream, SendStream};
/// use trio::tls::{ClientConfigBuilder, SslStream, server_config};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // A certificate for "example.test" (your server would load its own).
/// let key = trio::tls::pem_private_key(include_bytes!("testdata/localhost.key"))?;
/// let cert = trio::tls::pem_certificates(include_bytes!("testdata/localhost.crt"))?.remove(0);
/// let server_cfg = server_config(vec![cert.clone()], key.clone_key())?;
/// let client_cfg = ClientConfigBuilder::without_roots().add_root_certificate(cert.clone())?.build()?;
///
/// trio::run(async {
///     let (a, b) = trio::testing::memory_stream_pair();
///     let client = SslStream::client(a, client_cfg, "example.test")?;
///     let server = SslStream::server(b, server_cfg)?;
///     let (client, server) = (&client, &server);
///     trio::open_nursery(async |n| {
///         n.start_soon(async move {
///             let mut buf = [0u8; 16];
///             let n = server.receive_some(&mut buf).await?;
///             server.send_all(&buf[..n].to_ascii_uppercase()).await
///         })?;
///         client.send_all(b"hello").await?;
///         let mut buf = [0u8; 16];
///         let n = client.receive_some(&mut buf).await?;
///         assert_eq!(&buf[..n], b"HELLO");
///         Ok(())
///     })
///     .await
/// })?;
/// # Ok(()) }
/// ```
pub struct SslStream<S> {
    transport: S,
    tls: RefCell<Tls>,
    state: Cell<State>,
    https_compatible: bool,
    /// How long the handshake may take, from its start (`None`: no limit).
    handshake_timeout: Option<Duration>,
    /// The name the client verifies the server's certificate against.
    server_name: Option<String>,
    /// The handshake was started (by some task).
    hs_started: Cell<bool>,
    /// The handshake finished, successfully.
    hs_ok: Cell<bool>,
    /// Set when the handshake finished, however (Trio's `_Once._done`).
    hs_done: Event,
    /// Held while the transport sends (Trio's `_inner_send_lock`): strictly FIFO,
    /// so that bytes leave in the order rustls made them.
    send_lock: StrictFifoLock,
    /// Held while the transport receives (Trio's `_inner_recv_lock`).
    recv_lock: Lock,
    /// How many transport receives completed (Trio's `_inner_recv_count`): a
    /// task that waited for the lock while another received tries the TLS state
    /// again before receiving more.
    recv_count: Cell<u64>,
    /// How many bytes of `Tls::outgoing` the transport has taken.
    sent: Cell<u64>,
    /// The buffer the transport is read into (taken out while receiving).
    recv_buf: Cell<Vec<u8>>,
    recv_size: Cell<usize>,
    /// The last failure was a truncation (the transport ended early).
    broken_by_eof: Cell<bool>,
    /// `https_compatible` end of stream was reported: report it again.
    eof_reported: Cell<bool>,
    outer_send: ConflictDetector,
    outer_recv: ConflictDetector,
}

impl<S: fmt::Debug> fmt::Debug for SslStream<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SslStream")
            .field("transport", &self.transport)
            .field("server_side", &self.is_server_side())
            .field("server_name", &self.server_name)
            .field("state", &self.state.get())
            .field("https_compatible", &self.https_compatible)
            .field("handshake_done", &self.hs_ok.get())
            .finish()
    }
}

/// [`SslStream::unwrap`] failed: the error, and the stream, now closed or broken,
/// so that it can still be closed (which closes the transport).
///
/// Converts into [`Error`] (dropping the stream) so that `?` works.
///
/// # Examples
///
/// ```
/// use trio::tls::{SslStream, client_config};
/// # trio::run(async {
/// let (a, _b) = trio::testing::memory_stream_pair();
/// let s = SslStream::client(a, client_config(), "example.com")?;
/// trio::abc::aclose_forcefully(&s).await?;
/// let err = s.unwrap().await.unwrap_err();
/// assert_eq!(err.error().kind(), trio::ErrorKind::ClosedResource);
/// let (_error, _stream) = err.into_parts();
/// # Ok(()) }).unwrap();
/// ```
pub struct UnwrapError<S> {
    error: Error,
    stream: SslStream<S>,
}

impl<S> UnwrapError<S> {
    /// Why `unwrap` failed.
    ///
    /// # Examples
    ///
    /// See [`UnwrapError`].
    pub fn error(&self) -> &Error {
        &self.error
    }

    /// The stream, to close it (closing it closes the transport).
    ///
    /// # Examples
    ///
    /// See [`UnwrapError`].
    pub fn into_stream(self) -> SslStream<S> {
        self.stream
    }

    /// The error and the stream.
    ///
    /// # Examples
    ///
    /// See [`UnwrapError`].
    pub fn into_parts(self) -> (Error, SslStream<S>) {
        (self.error, self.stream)
    }
}

impl<S> fmt::Debug for UnwrapError<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnwrapError")
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl<S> fmt::Display for UnwrapError<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}

impl<S> std::error::Error for UnwrapError<S> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl<S> From<UnwrapError<S>> for Error {
    fn from(e: UnwrapError<S>) -> Error {
        e.error
    }
}

/// rustls refused an argument (a configuration, an exporter's output size).
fn invalid(msg: &'static str) -> impl FnOnce(rustls::Error) -> Error {
    move |e| {
        let msg = format!("{msg}: {e}");
        Error::build(ErrorKind::InvalidInput, Some(msg.into()), Some(Box::new(e)))
    }
}

fn need_handshake() -> Error {
    Error::new(
        ErrorKind::Usage,
        "the TLS handshake has not completed: call do_handshake() first",
    )
}

impl<S> SslStream<S> {
    fn new(transport: S, conn: Connection, server_name: Option<String>) -> SslStream<S> {
        SslStream {
            transport,
            tls: RefCell::new(Tls::new(conn)),
            state: Cell::new(State::Ok),
            https_compatible: false,
            handshake_timeout: None,
            server_name,
            hs_started: Cell::new(false),
            hs_ok: Cell::new(false),
            hs_done: Event::new(),
            send_lock: StrictFifoLock::new(),
            recv_lock: Lock::new(),
            recv_count: Cell::new(0),
            sent: Cell::new(0),
            recv_buf: Cell::new(Vec::new()),
            recv_size: Cell::new(STARTING_RECEIVE_SIZE),
            broken_by_eof: Cell::new(false),
            eof_reported: Cell::new(false),
            outer_send: ConflictDetector::new(SENDING),
            outer_recv: ConflictDetector::new(RECEIVING),
        }
    }

    /// The client side of a TLS connection over `transport`, to the server called
    /// `server_name`: a DNS name (sent as SNI, and checked against the server's
    /// certificate) or an IP address (checked against the certificate's IP
    /// addresses). Nothing is sent until the handshake.
    ///
    /// Internationalized names must be given in their ASCII (`xn--`) form; Trio
    /// encodes them for you with IDNA 2008.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`] if `server_name` is neither a valid DNS name nor
    /// an IP address, or rustls rejects `config`.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::tls::{SslStream, client_config};
    /// let (a, _b) = trio::testing::memory_stream_pair();
    /// let s = SslStream::client(a, client_config(), "example.com")?;
    /// assert!(!s.is_server_side());
    /// assert_eq!(s.server_name().as_deref(), Some("example.com"));
    ///
    /// let (a, _b) = trio::testing::memory_stream_pair();
    /// let bad = SslStream::client(a, client_config(), "not a host name").unwrap_err();
    /// assert_eq!(bad.kind(), trio::ErrorKind::InvalidInput);
    /// # Ok::<_, trio::Error>(())
    /// ```
    pub fn client(
        transport: S,
        config: Arc<ClientConfig>,
        server_name: &str,
    ) -> Result<SslStream<S>> {
        let name = ServerName::try_from(server_name.to_owned()).map_err(|e| {
            Error::build(
                ErrorKind::InvalidInput,
                Some(format!("invalid TLS server name {server_name:?}").into()),
                Some(Box::new(e)),
            )
        })?;
        let conn = ClientConnection::new(config, name)
            .map_err(invalid("rustls rejected the client configuration"))?;
        Ok(SslStream::new(
            transport,
            Connection::Client(conn),
            Some(server_name.to_owned()),
        ))
    }

    /// The server side of a TLS connection over `transport`. Nothing is received
    /// until the handshake.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`] if rustls rejects `config`.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::tls::{SslStream, server_config};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let key = trio::tls::pem_private_key(include_bytes!("testdata/localhost.key"))?;
    /// let cert = trio::tls::pem_certificates(include_bytes!("testdata/localhost.crt"))?.remove(0);
    /// let config = server_config(vec![cert.clone()], key.clone_key())?;
    ///
    /// let (_a, b) = trio::testing::memory_stream_pair();
    /// let s = SslStream::server(b, config)?;
    /// assert!(s.is_server_side());
    /// assert_eq!(s.server_name(), None); // until the client says, in the handshake
    /// # Ok(()) }
    /// ```
    pub fn server(transport: S, config: Arc<ServerConfig>) -> Result<SslStream<S>> {
        let conn = ServerConnection::new(config)
            .map_err(invalid("rustls rejected the server configuration"))?;
        Ok(SslStream::new(transport, Connection::Server(conn), None))
    }

    /// Sets Trio's `https_compatible` mode (default off); set it before using the
    /// stream.
    ///
    /// TLS says that each side sends a signed `close_notify` before closing, so
    /// that an attacker who closes the connection cannot cut the data short
    /// unnoticed (a *truncation attack*). Many HTTPS implementations skip it —
    /// harmlessly, since HTTP marks the end of its messages itself. With
    /// `https_compatible`, this stream does the same: [`aclose`](AsyncResource::aclose)
    /// sends no `close_notify`, and a peer that closes without one gives a normal
    /// end of stream (`Ok(0)`), also during the handshake, instead of
    /// [`ErrorKind::BrokenResource`]. Use it for HTTPS and protocols like it, and
    /// only for those.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::tls::{SslStream, client_config};
    /// let (a, _b) = trio::testing::memory_stream_pair();
    /// let s = SslStream::client(a, client_config(), "example.com")?.https_compatible(true);
    /// assert!(s.is_https_compatible());
    /// # Ok::<_, trio::Error>(())
    /// ```
    #[must_use]
    pub fn https_compatible(mut self, on: bool) -> SslStream<S> {
        self.https_compatible = on;
        self
    }

    /// Whether the stream is [`https_compatible`](Self::https_compatible).
    ///
    /// # Examples
    ///
    /// See [`https_compatible`](Self::https_compatible).
    pub fn is_https_compatible(&self) -> bool {
        self.https_compatible
    }

    /// Limits how long the handshake may take, counted from its start on the
    /// run's clock (`None`, the default for a stream made here: no limit). A
    /// handshake that takes longer fails with [`ErrorKind::TooSlow`] and breaks
    /// the stream, as a cancelled handshake does. Servers should set one: a
    /// client that connects and says nothing otherwise holds its connection
    /// forever. [`SslListener`](super::SslListener) and
    /// [`serve_ssl_over_tcp`](super::serve_ssl_over_tcp) do, with
    /// [`DEFAULT_HANDSHAKE_TIMEOUT`](super::DEFAULT_HANDSHAKE_TIMEOUT).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use trio::abc::ReceiveStream;
    /// use trio::tls::{SslStream, server_config};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let certs = trio::tls::pem_certificates(include_bytes!("testdata/localhost.crt"))?;
    /// # let key = trio::tls::pem_private_key(include_bytes!("testdata/localhost.key"))?;
    /// let config = server_config(certs, key)?;
    /// let clock = trio::testing::MockClock::new();
    /// clock.set_autojump_threshold(Duration::ZERO); // sleeps take no real time
    /// trio::Runtime::builder().clock(clock).build().run(async {
    ///     let (_silent_client, b) = trio::testing::memory_stream_pair();
    ///     let server = SslStream::server(b, config)?.handshake_timeout(Duration::from_secs(10));
    ///     assert_eq!(server.get_handshake_timeout(), Some(Duration::from_secs(10)));
    ///     let err = server.receive_some(&mut [0u8; 16]).await.unwrap_err();
    ///     assert_eq!(err.kind(), trio::ErrorKind::TooSlow);
    ///     assert_eq!(trio::current_time().as_secs_f64(), 10.0);
    ///     Ok::<_, trio::Error>(())
    /// })?;
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn handshake_timeout(mut self, timeout: impl Into<Option<Duration>>) -> SslStream<S> {
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

    /// The transport stream (Trio's `transport_stream`), for example to set a
    /// socket option. Sending or receiving on it directly corrupts the TLS stream.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::tls::{SslStream, client_config};
    /// let (a, _b) = trio::net::SocketStream::pair()?;
    /// let s = SslStream::client(a, client_config(), "example.com")?;
    /// assert!(!s.transport_stream().socket().is_closed());
    /// # Ok::<_, trio::Error>(())
    /// ```
    pub fn transport_stream(&self) -> &S {
        &self.transport
    }

    /// Whether this is the server side (Trio's `server_side`).
    ///
    /// # Examples
    ///
    /// See [`client`](Self::client) and [`server`](Self::server).
    pub fn is_server_side(&self) -> bool {
        self.tls.borrow().is_server()
    }

    /// The server's name: for a client, the one given to
    /// [`client`](Self::client); for a server, the one the client sent (SNI), once
    /// the handshake has received it (Trio's `server_hostname`).
    ///
    /// # Examples
    ///
    /// See [`client`](Self::client); a server's is shown in
    /// [`do_handshake`](Self::do_handshake).
    pub fn server_name(&self) -> Option<String> {
        match &self.tls.borrow().conn {
            Connection::Client(_) => self.server_name.clone(),
            Connection::Server(s) => s.server_name().map(str::to_owned),
        }
    }

    /// Whether the handshake has completed successfully.
    ///
    /// # Examples
    ///
    /// See [`do_handshake`](Self::do_handshake).
    pub fn is_handshake_done(&self) -> bool {
        self.hs_ok.get()
    }

    fn after_handshake<T>(&self, f: impl FnOnce(&Connection) -> Option<T>) -> Result<T> {
        if !self.hs_ok.get() {
            return Err(need_handshake());
        }
        f(&self.tls.borrow().conn).ok_or_else(need_handshake)
    }

    /// The application protocol agreed with ALPN (for example `b"h2"`), or `None`
    /// if the peers agreed on none (Trio's `selected_alpn_protocol`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Usage`] before the handshake has completed (Trio's
    /// `NeedHandshakeError`).
    ///
    /// # Examples
    ///
    /// See [`do_handshake`](Self::do_handshake).
    pub fn alpn_protocol(&self) -> Result<Option<Vec<u8>>> {
        self.after_handshake(|c| Some(c.alpn_protocol().map(<[u8]>::to_vec)))
    }

    /// The TLS version agreed (Trio's `version`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Usage`] before the handshake has completed.
    ///
    /// # Examples
    ///
    /// See [`do_handshake`](Self::do_handshake).
    pub fn protocol_version(&self) -> Result<ProtocolVersion> {
        self.after_handshake(|c| c.protocol_version())
    }

    /// The cipher suite agreed (Trio's `cipher`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Usage`] before the handshake has completed.
    ///
    /// # Examples
    ///
    /// See [`do_handshake`](Self::do_handshake).
    pub fn cipher_suite(&self) -> Result<SupportedCipherSuite> {
        self.after_handshake(|c| c.negotiated_cipher_suite())
    }

    /// The peer's certificate chain, end-entity certificate first, or `None` if it
    /// sent none (a client without client authentication) (Trio's
    /// `getpeercert(binary_form=True)`, with the whole chain).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Usage`] before the handshake has completed.
    ///
    /// # Examples
    ///
    /// See [`do_handshake`](Self::do_handshake).
    pub fn peer_certificates(&self) -> Result<Option<Vec<CertificateDer<'static>>>> {
        self.after_handshake(|c| Some(c.peer_certificates().map(<[_]>::to_vec)))
    }

    /// Fills `output` with keying material derived from the session (RFC 5705 /
    /// RFC 8446 exporters): the modern replacement for Trio's
    /// `get_channel_binding` (see RFC 9266, `tls-exporter`). Both peers get the
    /// same bytes for the same `label` and `context`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Usage`] before the handshake has completed;
    /// [`ErrorKind::InvalidInput`] if `output` is empty.
    ///
    /// # Examples
    ///
    /// See [`do_handshake`](Self::do_handshake).
    pub fn export_keying_material(
        &self,
        output: &mut [u8],
        label: &[u8],
        context: Option<&[u8]>,
    ) -> Result<()> {
        if !self.hs_ok.get() {
            return Err(need_handshake());
        }
        self.tls
            .borrow()
            .conn
            .export_keying_material(output, label, context)
            .map(|_| ())
            .map_err(invalid("cannot export keying material"))
    }

    /// Calls `f` with the rustls connection, to read anything the accessors above
    /// do not show (Trio forwards the `SSLObject`'s attributes). `f` cannot change
    /// the connection: all changes go through the stream's own methods.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::tls::{SslStream, client_config};
    /// let (a, _b) = trio::testing::memory_stream_pair();
    /// let s = SslStream::client(a, client_config(), "example.com")?;
    /// assert!(s.with_connection(|c| c.is_handshaking()));
    /// # Ok::<_, trio::Error>(())
    /// ```
    pub fn with_connection<R>(&self, f: impl FnOnce(&Connection) -> R) -> R {
        f(&self.tls.borrow().conn)
    }

    fn check_status(&self) -> Result<()> {
        match self.state.get() {
            State::Ok => Ok(()),
            State::Broken => Err(Error::new(
                ErrorKind::BrokenResource,
                "this SslStream is broken: an earlier operation failed or was cancelled midway",
            )),
            State::Closed => Err(Error::new(
                ErrorKind::ClosedResource,
                "this SslStream was already closed",
            )),
        }
    }

    /// Turns a failure of a TLS operation into the caller's error; anything but
    /// `Plain` breaks the stream.
    fn fail(&self, failure: Failure) -> Error {
        let (message, source): (String, Box<dyn std::error::Error + Send + Sync>) = match failure {
            Failure::Plain(e) => return e,
            Failure::Tls(e) => {
                let peer = if self.is_server_side() {
                    "client"
                } else {
                    "server"
                };
                (format!("TLS error: {}", describe(&e, peer)), Box::new(e))
            }
            Failure::Io(e) => (format!("TLS error: {e}"), Box::new(e)),
            Failure::Eof(what) => {
                self.broken_by_eof.set(true);
                (
                    what.to_owned(),
                    Box::new(io::Error::new(io::ErrorKind::UnexpectedEof, what)),
                )
            }
            Failure::Broken(what) => {
                break_state(&self.state);
                return Error::new(ErrorKind::BrokenResource, what);
            }
        };
        break_state(&self.state);
        Error::build(
            ErrorKind::BrokenResource,
            Some(message.into()),
            Some(source),
        )
    }
}

impl<S: Stream> SslStream<S> {
    /// Trio's `_retry`: runs `op` on the TLS state until it is done, sending what
    /// it makes rustls write and receiving what it needs, in a loop. See the
    /// essay for why each iteration does at most one thing that blocks.
    ///
    /// A checkpoint. With `send_alert`, the alert rustls queues when `op` fails
    /// is sent (best effort) before the error is returned: during a handshake
    /// the peer waits for our answer and learns why it failed.
    async fn retry<T>(
        &self,
        send_alert: bool,
        mut op: impl FnMut(&mut Tls) -> std::result::Result<Step<T>, Failure>,
    ) -> Result<T> {
        checkpoint_if_cancelled()?;
        let mut yielded = false;
        loop {
            let (step, target) = {
                let mut tls = self.tls.borrow_mut();
                let before = tls.queued;
                let step = op(&mut tls);
                tls.collect_output();
                (step, (tls.queued > before).then_some(tls.queued))
            };
            match step {
                Err(failure) => {
                    let err = self.fail(failure);
                    if let (true, Some(target)) = (send_alert, target) {
                        let _ = self.flush(target).await;
                    }
                    return Err(err);
                }
                Ok(Step::Done(value)) => {
                    if let Some(target) = target {
                        self.flush(target).await?;
                        yielded = true;
                    }
                    if !yielded {
                        cancel_shielded_checkpoint().await?;
                    }
                    return Ok(value);
                }
                Ok(Step::DoneQuietly(value)) => {
                    if !yielded {
                        cancel_shielded_checkpoint().await?;
                    }
                    return Ok(value);
                }
                Ok(Step::Again) => {
                    if let Some(target) = target {
                        self.flush(target).await?;
                        yielded = true;
                    }
                }
                Ok(Step::WantRead) => {
                    match target {
                        Some(target) => self.flush(target).await?,
                        None => self.receive_more().await?,
                    }
                    yielded = true;
                }
                Ok(Step::Receive) => {
                    self.receive_more().await?;
                    yielded = true;
                }
            }
        }
    }

    /// Waits until the transport has taken every queued byte up to `target`,
    /// sending them ourselves if nobody else is.
    async fn flush(&self, target: u64) -> Result<()> {
        let _lock = self.send_lock.lock().await?;
        if self.sent.get() >= target {
            // Another task sent our bytes while we waited.
            return Ok(());
        }
        let mut data = std::mem::take(&mut self.tls.borrow_mut().outgoing);
        // Some of these bytes may reach the peer and some not: if we stop here,
        // the stream is undefined.
        let breaker = BreakOnDrop::new(&self.state);
        self.transport.send_all(&data).await?;
        breaker.disarm();
        self.sent.set(self.sent.get() + data.len() as u64);
        data.clear();
        let mut tls = self.tls.borrow_mut();
        if tls.outgoing.is_empty() {
            tls.outgoing = data; // reuse the allocation
        }
        Ok(())
    }

    /// Receives once from the transport into the TLS state, unless another task
    /// received while we waited for the lock.
    async fn receive_more(&self) -> Result<()> {
        let count = self.recv_count.get();
        let _lock = self.recv_lock.lock().await?;
        if self.recv_count.get() != count {
            return Ok(());
        }
        let size = self.recv_size.get();
        let mut buf = self.recv_buf.take();
        if buf.len() < size {
            buf.resize(size, 0);
        }
        let result = self.transport.receive_some(&mut buf[..size]).await;
        if let Ok(n) = result {
            let mut tls = self.tls.borrow_mut();
            if n == 0 {
                tls.transport_eof = true;
            } else {
                tls.push_incoming(&buf[..n]);
                if n == size && size < MAX_RECEIVE_SIZE {
                    self.recv_size.set(size * 2);
                }
            }
            self.recv_count.set(count + 1);
        }
        self.recv_buf.set(buf);
        result.map(drop)
    }

    /// Trio's `_handshook.ensure`: runs the handshake, or waits for the task
    /// running it. With `checkpoint`, a finished handshake still checkpoints.
    ///
    /// Returns `Ok` also when another task's handshake failed: callers check the
    /// state afterwards.
    async fn ensure_handshake(&self, checkpoint_if_done: bool) -> Result<()> {
        if self.hs_done.is_set() {
            if checkpoint_if_done {
                checkpoint().await?;
            }
            return Ok(());
        }
        if self.hs_started.get() {
            return self.hs_done.wait().await;
        }
        // Nothing has happened yet: a cancellation here leaves the stream as it was.
        checkpoint_if_cancelled()?;
        self.hs_started.set(true);
        let _guard = HandshakeGuard {
            state: &self.state,
            ok: &self.hs_ok,
            done: &self.hs_done,
        };
        match self.handshake_timeout {
            None => self.retry(true, handshake_step).await?,
            // Cut short, the handshake breaks the stream (the guard's drop), as a
            // cancelled one does.
            Some(limit) => fail_after(limit, self.retry(true, handshake_step))
                .await
                .map_err(|e| match e.kind() {
                    ErrorKind::TooSlow => e.context(
                        ErrorKind::TooSlow,
                        format!("the TLS handshake took longer than {limit:?}"),
                    ),
                    _ => e,
                })?,
        }
        self.hs_ok.set(true);
        Ok(())
    }

    /// Performs the handshake now, if it has not been done yet; waits for it if
    /// another task is doing it; returns at once (after a checkpoint) if it is
    /// done. You rarely need it: the first `send_all` or `receive_some` does the
    /// handshake. Call it to look at the peer's certificate or the protocol agreed
    /// before exchanging data.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::BrokenResource`] if the handshake fails (the peer's certificate
    /// is not trusted or not for this name, no protocol version or cipher suite
    /// in common, the peer closed the connection, ...; the
    /// [`rustls::Error`] is the [`source`](std::error::Error::source)), also when
    /// it failed in another task, and whenever the stream is broken;
    /// [`ErrorKind::ClosedResource`] after `aclose`; the transport's errors.
    ///
    /// # Cancellation
    ///
    /// A checkpoint. Cancelling the handshake midway breaks the stream (as in
    /// Trio): every later operation but `aclose` fails with
    /// [`ErrorKind::BrokenResource`].
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::tls::{ClientConfigBuilder, ServerConfigBuilder, SslStream};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let key = trio::tls::pem_private_key(include_bytes!("testdata/localhost.key"))?;
    /// let cert = trio::tls::pem_certificates(include_bytes!("testdata/localhost.crt"))?.remove(0);
    /// let server_cfg = ServerConfigBuilder::new(vec![cert.clone()], key.clone_key())
    ///     .alpn_protocols(["h2", "http/1.1"])
    ///     .build()?;
    /// let client_cfg = ClientConfigBuilder::without_roots()
    ///     .add_root_certificate(cert.clone())?
    ///     .alpn_protocols(["http/1.1"])
    ///     .build()?;
    ///
    /// trio::run(async {
    ///     let (a, b) = trio::testing::memory_stream_pair();
    ///     let client = SslStream::client(a, client_cfg, "example.test")?;
    ///     let server = SslStream::server(b, server_cfg)?;
    ///     // Nothing is known before the handshake.
    ///     assert_eq!(client.alpn_protocol().unwrap_err().kind(), trio::ErrorKind::Usage);
    ///     let (c, s) = (&client, &server);
    ///     trio::open_nursery(async |n| {
    ///         n.start_soon(c.do_handshake())?;
    ///         n.start_soon(s.do_handshake())?;
    ///         Ok(())
    ///     })
    ///     .await?;
    ///     assert!(client.is_handshake_done() && server.is_handshake_done());
    ///     assert_eq!(client.alpn_protocol()?.as_deref(), Some(&b"http/1.1"[..]));
    ///     assert_eq!(server.server_name().as_deref(), Some("example.test"));
    ///     assert_eq!(client.protocol_version()?, rustls::ProtocolVersion::TLSv1_3);
    ///     assert_eq!(client.peer_certificates()?.unwrap()[0], cert);
    ///     assert_eq!(server.peer_certificates()?, None);
    ///     let (mut x, mut y) = ([0u8; 32], [0u8; 32]);
    ///     client.export_keying_material(&mut x, b"EXPORTER-Channel-Binding", None)?;
    ///     server.export_keying_material(&mut y, b"EXPORTER-Channel-Binding", None)?;
    ///     assert_eq!(x, y);
    ///     client.do_handshake().await?; // done already: just a checkpoint
    ///     Ok::<_, trio::Error>(())
    /// })?;
    /// # Ok(()) }
    /// ```
    pub async fn do_handshake(&self) -> Result<()> {
        self.check_status()?;
        self.ensure_handshake(true).await?;
        self.check_status()
    }

    /// Sends a TLS 1.3 `KeyUpdate`: from now on we encrypt with fresh keys, and
    /// the peer is asked to do the same (rustls also does this by itself before
    /// a key has encrypted too much). It is TLS 1.3's replacement for
    /// renegotiation. The peer answers before the next data it sends; an
    /// `SslStream` peer's [`receive_some`](ReceiveStream::receive_some) queues the
    /// answer for its next `send_all` (see the module essay).
    ///
    /// It sends, so it counts as a sender: it conflicts with `send_all` and
    /// `wait_send_all_might_not_block`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Usage`] if the connection is not TLS 1.3;
    /// [`ErrorKind::BusyResource`] if another task is sending; otherwise as
    /// [`send_all`](SendStream::send_all).
    ///
    /// # Cancellation
    ///
    /// As [`send_all`](SendStream::send_all).
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::abc::{ReceiveStream, SendStream};
    /// use trio::tls::{ClientConfigBuilder, SslStream, server_config};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let key = trio::tls::pem_private_key(include_bytes!("testdata/localhost.key"))?;
    /// # let cert = trio::tls::pem_certificates(include_bytes!("testdata/localhost.crt"))?.remove(0);
    /// # let server_cfg = server_config(vec![cert.clone()], key.clone_key())?;
    /// # let client_cfg = ClientConfigBuilder::without_roots().add_root_certificate(cert.clone())?.build()?;
    /// trio::run(async {
    ///     let (a, b) = trio::testing::memory_stream_pair();
    ///     let client = SslStream::client(a, client_cfg, "example.test")?;
    ///     let server = SslStream::server(b, server_cfg)?;
    ///     let (c, s) = (&client, &server);
    ///     trio::open_nursery(async |n| {
    ///         n.start_soon(async move {
    ///             let mut buf = [0u8; 8];
    ///             let got = s.receive_some(&mut buf).await?; // answers the key update
    ///             s.send_all(&buf[..got]).await
    ///         })?;
    ///         c.do_handshake().await?;
    ///         c.update_keys().await?;
    ///         c.send_all(b"rekeyed").await?;
    ///         let mut buf = [0u8; 8];
    ///         let got = c.receive_some(&mut buf).await?;
    ///         assert_eq!(&buf[..got], b"rekeyed");
    ///         Ok(())
    ///     })
    ///     .await
    /// })?;
    /// # Ok(()) }
    /// ```
    pub async fn update_keys(&self) -> Result<()> {
        let _busy = self.outer_send.enter()?;
        self.check_status()?;
        self.ensure_handshake(false).await?;
        self.check_status()?;
        self.retry(false, |tls| {
            tls.conn.refresh_traffic_keys().map_err(|e| {
                Failure::Plain(Error::build(
                    ErrorKind::Usage,
                    Some("cannot update the keys of this connection (TLS 1.3 only)".into()),
                    Some(Box::new(e)),
                ))
            })?;
            Ok(Step::Done(()))
        })
        .await
    }

    /// Closes the TLS layer cleanly — sends our `close_notify` and waits for the
    /// peer's — and hands back the transport, with the bytes already received
    /// after the peer's `close_notify` (Trio's `unwrap`). Those bytes came before
    /// anything the transport will return: treat them as if returned by its
    /// `receive_some`. Protocols like STARTTLS's reverse use it to go on in
    /// plaintext; you almost certainly don't need it.
    ///
    /// It consumes the stream, so no other task can be using it.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::BrokenResource`] if the stream is broken, the handshake or the
    /// exchange fails, the transport ends before the peer's `close_notify`, or the
    /// peer sends data instead of its `close_notify` (data received but not yet
    /// read counts too); [`ErrorKind::ClosedResource`] after `aclose`; the
    /// transport's errors. The error comes with the stream ([`UnwrapError`]):
    /// close it to close the transport.
    ///
    /// # Cancellation
    ///
    /// A checkpoint. Cancelled after the exchange started, the stream comes back
    /// broken.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::abc::{ReceiveStream, SendStream};
    /// use trio::tls::{ClientConfigBuilder, SslStream, server_config};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let key = trio::tls::pem_private_key(include_bytes!("testdata/localhost.key"))?;
    /// # let cert = trio::tls::pem_certificates(include_bytes!("testdata/localhost.crt"))?.remove(0);
    /// # let server_cfg = server_config(vec![cert.clone()], key.clone_key())?;
    /// # let client_cfg = ClientConfigBuilder::without_roots().add_root_certificate(cert.clone())?.build()?;
    /// trio::run(async {
    ///     let (a, b) = trio::testing::memory_stream_pair();
    ///     let client = SslStream::client(a, client_cfg, "example.test")?;
    ///     let server = SslStream::server(b, server_cfg)?;
    ///     trio::open_nursery(async |n| {
    ///         n.start_soon(async move {
    ///             client.send_all(b"secret").await?;
    ///             let (raw, trailing) = client.unwrap().await?;
    ///             assert!(trailing.is_empty());
    ///             raw.send_all(b"in the clear").await
    ///         })?;
    ///         let mut buf = [0u8; 12];
    ///         assert_eq!(server.receive_some(&mut buf).await?, 6);
    ///         let (raw, mut plain) = server.unwrap().await?;
    ///         // Some plaintext may have come in with the client's close_notify.
    ///         while plain.len() < 12 {
    ///             let n = raw.receive_some(&mut buf).await?;
    ///             plain.extend_from_slice(&buf[..n]);
    ///         }
    ///         assert_eq!(plain, b"in the clear");
    ///         Ok(())
    ///     })
    ///     .await
    /// })?;
    /// # Ok(()) }
    /// ```
    pub async fn unwrap(self) -> std::result::Result<(S, Vec<u8>), UnwrapError<S>> {
        let started = Cell::new(false);
        let result = async {
            self.check_status()?;
            self.ensure_handshake(false).await?;
            self.check_status()?;
            self.retry(false, |tls| {
                started.set(true);
                tls.conn.send_close_notify();
                unwrap_step(tls)
            })
            .await
        }
        .await;
        match result {
            Ok(()) => {
                let tls = self.tls.into_inner();
                Ok((self.transport, tls.pending_incoming().to_vec()))
            }
            Err(error) => {
                if started.get() {
                    break_state(&self.state);
                }
                Err(UnwrapError {
                    error,
                    stream: self,
                })
            }
        }
    }

    /// The graceful part of `aclose`: the handshake if needed (Trio: a
    /// `close_notify` needs keys), then our `close_notify`, without waiting for the
    /// peer's.
    async fn say_goodbye(&self) -> Result<()> {
        self.ensure_handshake(false).await?;
        if !self.hs_ok.get() {
            // It failed in another task, which reported why.
            return Ok(());
        }
        let sent = self
            .retry(false, |tls| {
                tls.conn.send_close_notify();
                Ok(Step::Done(()))
            })
            .await;
        match sent {
            // The peer may have closed first (both sides may close at once), or
            // another task may hold the transport: then we close uncleanly.
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::BrokenResource | ErrorKind::BusyResource
                ) =>
            {
                Ok(())
            }
            other => other,
        }
    }
}

/// The handshake, as an operation on the TLS state.
fn handshake_step(tls: &mut Tls) -> std::result::Result<Step<()>, Failure> {
    loop {
        if !tls.conn.is_handshaking() {
            // A TLS 1.3 server's last flight is its session tickets, which the
            // client does not wait for: they go out with the next thing we send
            // (Trio's `_delayed_outgoing`, for the same deadlock).
            let quiet =
                tls.is_server() && tls.conn.protocol_version() == Some(ProtocolVersion::TLSv1_3);
            return Ok(if quiet {
                Step::DoneQuietly(())
            } else {
                Step::Done(())
            });
        }
        if tls.feed()? {
            continue;
        }
        if tls.transport_eof {
            return Err(Failure::Eof(
                "the peer closed the connection during the TLS handshake",
            ));
        }
        return Ok(Step::WantRead);
    }
}

/// Reading plaintext into `buf`, as an operation on the TLS state.
///
/// What reading makes rustls write is never sent by the read itself, but queued
/// for the next thing we send: the answer to a TLS 1.3 `KeyUpdate` (which RFC 8446
/// asks for only "prior to sending its next Application Data record"), or the
/// refusal of a TLS 1.2 renegotiation. Sending it here would make a
/// `receive_some` block on the transport's sending side — on a transport that
/// waits for its reader, while the peer waits for us to read: a deadlock — and a
/// `receive_some` cancelled in that send would lose the data it had decrypted.
fn read_step(tls: &mut Tls, buf: &mut [u8]) -> std::result::Result<Step<usize>, Failure> {
    loop {
        match tls.conn.reader().read(buf) {
            // Ok(0): the peer's close_notify.
            Ok(n) => return Ok(Step::DoneQuietly(n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                return Err(Failure::Eof(
                    "the peer closed the connection without sending TLS close_notify \
                     (the data may have been truncated)",
                ));
            }
            Err(e) => return Err(Failure::Io(e)),
        }
        if tls.feed()? {
            continue;
        }
        if tls.transport_eof && !tls.eof_told {
            tls.tell_eof();
            continue;
        }
        return Ok(Step::Receive);
    }
}

/// Waiting for the peer's `close_notify`, as an operation on the TLS state.
fn unwrap_step(tls: &mut Tls) -> std::result::Result<Step<()>, Failure> {
    loop {
        let has_data = match tls.conn.reader().fill_buf() {
            Ok(chunk) => !chunk.is_empty(),
            Err(_) => false,
        };
        if has_data {
            return Err(Failure::Broken(
                "received application data while waiting for the peer's close_notify",
            ));
        }
        if tls.peer_closed {
            return Ok(Step::Done(()));
        }
        if tls.feed()? {
            continue;
        }
        if tls.transport_eof {
            return Err(Failure::Eof(
                "the peer closed the connection without sending TLS close_notify",
            ));
        }
        return Ok(Step::WantRead);
    }
}

impl<S: Stream> AsyncResource for SslStream<S> {
    /// Closes the stream and the transport (Trio's `SSLStream.aclose`).
    ///
    /// Unless the stream is [`https_compatible`](SslStream::https_compatible) or
    /// broken, it first sends a `close_notify` — doing the handshake first if it
    /// was never done — and then closes the transport at once, without waiting
    /// for the peer's `close_notify` (which a peer busy sending might never
    /// read; the TLS specifications allow it).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::BrokenResource`] if the handshake this needed failed; `Cancelled`
    /// if cancelled; the transport's `aclose` errors. The stream and the transport
    /// are closed however it ends (without a `close_notify` when it failed). A
    /// peer that closed first is not an error.
    ///
    /// # Cancellation
    ///
    /// A checkpoint; a cancelled `aclose` still closes, uncleanly.
    async fn aclose(&self) -> Result<()> {
        let previous = self.state.replace(State::Closed);
        if previous == State::Closed {
            return checkpoint().await;
        }
        if previous == State::Broken || self.https_compatible {
            return self.transport.aclose().await;
        }
        match self.say_goodbye().await {
            Ok(()) => self.transport.aclose().await,
            Err(e) => {
                aclose_forcefully(&self.transport).await?;
                Err(e)
            }
        }
    }
}

impl<S: Stream> SendStream for SslStream<S> {
    /// Encrypts `data` and sends it on the transport, doing the handshake first
    /// if needed.
    ///
    /// # Errors
    ///
    /// As [`SendStream::send_all`]; TLS failures (also of the handshake) are
    /// [`ErrorKind::BrokenResource`].
    ///
    /// # Cancellation
    ///
    /// A checkpoint. Cancelled during the handshake, or while the transport was
    /// sending, the stream is broken afterwards (Trio: "it may leave the
    /// SSLStream in an unusable state"). Cancelled while another task held the
    /// transport (its handshake, or `aclose`), the records already encrypted
    /// stay queued and go out, in order, with the next bytes this stream sends:
    /// as the contract says, some prefix of `data` may have been sent.
    async fn send_all(&self, data: &[u8]) -> Result<()> {
        let _busy = self.outer_send.enter()?;
        self.check_status()?;
        self.ensure_handshake(false).await?;
        self.check_status()?;
        if data.is_empty() {
            return checkpoint().await;
        }
        let mut rest = data;
        let state = &self.state;
        self.retry(false, |tls| {
            if state.get() != State::Ok {
                // Closed (or broken) by another task between two records.
                return Err(Failure::Plain(match state.get() {
                    State::Closed => Error::new(
                        ErrorKind::ClosedResource,
                        "this SslStream was closed while sending",
                    ),
                    _ => Error::new(ErrorKind::BrokenResource, "this SslStream broke"),
                }));
            }
            // rustls takes up to its buffer limit (64 KiB) at a time: we send that
            // before encrypting more, which bounds memory and keeps backpressure.
            let n = tls.conn.writer().write(rest).map_err(Failure::Io)?;
            if n == 0 {
                return Err(Failure::Broken(
                    "rustls refused to encrypt more data on this connection",
                ));
            }
            rest = &rest[n..];
            Ok(if rest.is_empty() {
                Step::Done(())
            } else {
                Step::Again
            })
        })
        .await
    }

    /// Waits until the transport's [`wait_send_all_might_not_block`](SendStream::wait_send_all_might_not_block)
    /// returns (after any transport send in progress in another task: a
    /// handshake, or `aclose`'s `close_notify`). Does not do the handshake.
    ///
    /// # Errors
    ///
    /// As [`SendStream::wait_send_all_might_not_block`].
    ///
    /// # Cancellation
    ///
    /// A checkpoint.
    async fn wait_send_all_might_not_block(&self) -> Result<()> {
        let _busy = self.outer_send.enter()?;
        self.check_status()?;
        // Another task's handshake may be sending on the transport: wait for it
        // rather than report a conflict the caller did not cause.
        let _lock = self.send_lock.lock().await?;
        self.transport.wait_send_all_might_not_block().await
    }
}

impl<S: Stream> ReceiveStream for SslStream<S> {
    /// Receives data from the transport and decrypts it into `buf`, doing the
    /// handshake first if needed. `Ok(0)` after the peer's `close_notify` (or, when
    /// [`https_compatible`](SslStream::https_compatible), after the transport ended).
    ///
    /// # Errors
    ///
    /// As [`ReceiveStream::receive_some`]; TLS failures (also of the handshake)
    /// are [`ErrorKind::BrokenResource`] — among them a transport that ends
    /// without a `close_notify`, unless `https_compatible`.
    ///
    /// # Cancellation
    ///
    /// A checkpoint. A cancelled `receive_some` consumed no data (it never sends:
    /// see the module essay); but cancelled during the handshake, it breaks the
    /// stream.
    async fn receive_some(&self, buf: &mut [u8]) -> Result<usize> {
        if buf.is_empty() {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "receive_some needs a buffer of at least one byte",
            ));
        }
        let _busy = self.outer_recv.enter()?;
        if self.eof_reported.get() && self.state.get() != State::Closed {
            checkpoint().await?;
            return Ok(0);
        }
        self.check_status()?;
        let eof_is_fine = |e: &Error| {
            self.https_compatible
                && e.kind() == ErrorKind::BrokenResource
                && self.broken_by_eof.get()
                && self.state.get() != State::Closed
        };
        if let Err(e) = self.ensure_handshake(false).await {
            if eof_is_fine(&e) {
                self.eof_reported.set(true);
                checkpoint().await?;
                return Ok(0);
            }
            return Err(e);
        }
        if let Err(e) = self.check_status() {
            if eof_is_fine(&e) {
                self.eof_reported.set(true);
                checkpoint().await?;
                return Ok(0);
            }
            return Err(e);
        }
        match self.retry(false, |tls| read_step(tls, buf)).await {
            Err(e) if eof_is_fine(&e) => {
                // As in Trio, the stream is broken: sending fails from now on.
                self.eof_reported.set(true);
                checkpoint().await?;
                Ok(0)
            }
            other => other,
        }
    }
}
