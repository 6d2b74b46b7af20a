//! TLS streams on rustls (feature `tls`): Trio's `SSLStream`, `SSLListener`,
//! `open_ssl_over_tcp_stream`, `open_ssl_over_tcp_listeners` and
//! `serve_ssl_over_tcp`.
//!
//! * [`SslStream`]: TLS over any [`Stream`](crate::abc::Stream) — a TCP
//!   connection, a Unix socket, an in-memory pair, another `SslStream`.
//! * [`SslListener`]: wraps any [`Listener`](crate::abc::Listener) so that its
//!   connections come out as server-side `SslStream`s.
//! * Over TCP in one call: [`open_ssl_over_tcp_stream`] / [`SslConnect`],
//!   [`open_ssl_over_tcp_listeners`], [`serve_ssl_over_tcp`].
//! * Configurations with secure defaults: [`client_config`],
//!   [`ClientConfigBuilder`], [`server_config`], [`ServerConfigBuilder`], and
//!   [`pem_certificates`] / [`pem_private_key`] to load PEM files. Any
//!   [`rustls::ClientConfig`] or [`rustls::ServerConfig`] works; the `rustls`
//!   crate is re-exported as [`tls::rustls`](rustls) so that your version
//!   matches ours.
//!
//! ```
//! use trio::abc::{ReceiveStream, SendStream};
//! use trio::net::SocketStream;
//! use trio::tls::{ClientConfigBuilder, SslStream, serve_ssl_over_tcp, server_config};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A server certificate for 127.0.0.1 and its key (PEM files, say
//! // std::fs::read("cert.pem")?), and a client that trusts that certificate.
//! let certs = trio::tls::pem_certificates(include_bytes!("testdata/localhost.crt"))?;
//! let key = trio::tls::pem_private_key(include_bytes!("testdata/localhost.key"))?;
//! let server_cfg = server_config(certs.clone(), key)?;
//! let client_cfg = ClientConfigBuilder::without_roots().add_root_certificate(certs[0].clone())?.build()?;
//!
//! let greet = async |s: SslStream<SocketStream>| s.send_all(b"hello, TLS").await;
//! trio::run(async {
//!     trio::open_nursery(async |n| {
//!         let listeners = n
//!             .start(async |status| {
//!                 serve_ssl_over_tcp(greet, 0, server_cfg)
//!                     .host("127.0.0.1")
//!                     .on_connection_error(|e| eprintln!("greet: a connection failed: {e}"))
//!                     .task_status(status)
//!                     .await
//!             })
//!             .await?;
//!         let port = listeners[0].transport_listener().local_addr()?.port();
//!         let s = trio::tls::open_ssl_over_tcp_stream("127.0.0.1", port, client_cfg).await?;
//!         let mut buf = [0u8; 32];
//!         let got = s.receive_some(&mut buf).await?;
//!         assert_eq!(&buf[..got], b"hello, TLS");
//!         n.cancel_scope().cancel();
//!         Ok(())
//!     })
//!     .await
//! })?;
//! # Ok(()) }
//! ```
//!
//! # How it works, and why this way
//!
//! **A sans-I/O engine, driven by hand.** Trio drives OpenSSL through
//! `ssl.SSLObject` and two memory buffers ("BIOs"): the engine never touches the
//! network; it takes the bytes received and hands out the bytes to send, and
//! Trio moves them. A [`rustls::Connection`] works the same way (`read_tls`,
//! `process_new_packets`, `write_tls`), so Trio's design carries over nearly one
//! to one, and so does its test suite. The alternative used by tokio-rustls —
//! a `poll_read`/`poll_write` adapter over a poll-based transport — does not fit
//! trio's streams, whose operations are `async fn`s on `&self`, run concurrently
//! by two tasks, and must be checkpoints. rustls's lower-level "unbuffered" API
//! saves a copy but gives up exactly the buffering that makes the shared-state
//! reasoning below simple.
//!
//! **One driver for every operation** (Trio's `_retry`, "probably the single
//! trickiest function in Trio"). The handshake, reading, writing, sending
//! `close_notify` and waiting for the peer's are each a *synchronous* step on
//! the TLS state that ends by saying "done", "call me again" or "I need bytes
//! from the peer". The driver runs the step, takes whatever rustls now wants
//! to send, and then does **exactly one** thing that may block — send that
//! output if there is any, otherwise receive more — and loops. Two rules keep
//! concurrent callers correct: the TLS state (in a `RefCell`) is borrowed only
//! between awaits, never across one; and after every await the step is run
//! again from fresh state, since another task may have moved things along
//! meanwhile (for example received the very bytes we were about to wait for).
//!
//! **Full duplex, and two inner locks.** A sender and a receiver may use a
//! stream at once. Mostly that maps onto the transport as it is — `send_all`
//! only sends, `receive_some` only receives — but not always: the handshake
//! needs both directions (and may run in the receiving task while another
//! waits in `wait_send_all_might_not_block`), and `aclose` sends its
//! `close_notify` whoever else is sending. So transport sends go through a
//! strictly FIFO lock, and receives through another lock with a counter (a
//! task that waited while someone else received tries its step again before
//! receiving more). One improvement on Trio: the bytes rustls makes go into
//! one shared queue, in the order it made them, with counters of bytes queued
//! and sent; whoever holds the send lock sends the whole queue, and a task
//! waits only until the bytes it needs are out. So a task cancelled while
//! waiting for the lock leaves its records queued for the next sender instead
//! of losing them (a gap in the record sequence would break the connection for
//! the peer).
//!
//! **Reads never send.** In Trio (OpenSSL) a read may have to write, which is
//! what makes `_retry` so hard. Here, what a read makes rustls write — the
//! answer to a TLS 1.3 `KeyUpdate`, the refusal of a TLS 1.2 renegotiation — is
//! queued for the next thing the stream sends, which RFC 8446 allows ("prior to
//! sending its next Application Data record"). Sending it from `receive_some`
//! would block a reader on the transport's sending side (a deadlock on a
//! transport that waits for its reader, if the peer is itself waiting for us to
//! read), and a `receive_some` cancelled there would lose the data it had
//! already decrypted.
//!
//! **Records are fed one at a time.** rustls would take every byte offered. We
//! read the transport in big chunks but give rustls bytes only up to the end of
//! the current TLS record, and stop for good after the peer's `close_notify`:
//! that is how [`SslStream::unwrap`] can hand back the bytes that followed it
//! (OpenSSL gets this for free by reading records from its BIO). It also means
//! a slow reader leaves data in the transport, not in our buffers:
//! backpressure still works.
//!
//! **Session tickets wait** (Trio's `_delayed_outgoing`). A TLS 1.3 server
//! finishes its handshake by sending session tickets that the client does not
//! wait for. Sending them at once can deadlock on a transport that blocks until
//! the peer reads (the conformance suite's "clogged" streams; a client that
//! sends a big request before reading): the server's handshake would wait for
//! a client that is busy sending. So the server's last flight is queued without
//! waiting, and goes out with the next bytes it sends.
//!
//! **One handshake, shared.** The first operation that needs the handshake runs
//! it; others wait on an [`Event`](crate::sync::Event) for it (Trio's `_Once`).
//! If it fails, is cancelled, or its future is dropped, the stream is marked
//! broken *and the waiters are woken* to see that (in Trio they would wait
//! forever).
//!
//! **Cancellation breaks what it must, and nothing more.** Everything here is a
//! checkpoint, and the stream's contract is Trio's: a cancelled `receive_some`
//! consumed nothing, and the stream goes on. But a handshake cut short, or a
//! transport `send_all` cut short in the middle of a record, leaves the TLS
//! state undefined: the stream is then broken, and every later operation but
//! `aclose` fails with [`BrokenResource`](crate::ErrorKind::BrokenResource). A
//! cancellation that arrives before an operation touched anything (say, a
//! `send_all` in an already cancelled scope) changes nothing, where Trio would
//! break the stream too.
//!
//! **Closing.** `aclose` sends `close_notify` and closes the transport without
//! waiting for the peer's reply: a peer busy sending might never read it, and
//! the specifications allow it. A transport that ends without the peer's
//! `close_notify` is a possible truncation attack, reported as
//! [`BrokenResource`](crate::ErrorKind::BrokenResource) — unless the stream is
//! [`https_compatible`](SslStream::https_compatible), for protocols (HTTPS)
//! whose peers commonly skip it and that mark their own ends of messages.
//!
//! **What does not carry over.** Renegotiation, the bane of Trio's `_retry`,
//! does not exist here: TLS 1.3 removed it and rustls refuses it in TLS 1.2 —
//! the only post-handshake handshake messages left (key updates, tickets) take
//! the same paths. `SslStream` is not half-closeable, as in Trio. Server names
//! are not IDNA-encoded for you (Trio does): pass the `xn--` form.
//!
//! **Where things are.** `stream.rs`: [`SslStream`] and its driver; `config.rs`:
//! the configuration builders and PEM loading; `listener.rs`: [`SslListener`];
//! `helpers.rs`: TLS over TCP in one call. The tests are `tests/tls_*.rs`:
//! Trio's `test_ssl.py` and `test_highlevel_ssl_helpers.py` ported, the stream
//! conformance suite over memory, lockstep and TCP transports, and OpenSSL's
//! `s_client` / `s_server` and `curl` as peers.

pub use rustls;

mod config;
mod describe;
mod helpers;
mod listener;
mod stream;

pub use config::{
    ClientConfigBuilder, ServerConfigBuilder, client_config, pem_certificates, pem_private_key,
    server_config,
};
pub use helpers::{
    ServeSslOverTcp, SslConnect, open_ssl_over_tcp_listeners, open_ssl_over_tcp_stream,
    serve_ssl_over_tcp,
};
pub use listener::{DEFAULT_HANDSHAKE_TIMEOUT, SslListener};
pub use stream::{SslStream, UnwrapError};
