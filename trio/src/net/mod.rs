//! Networking (Trio's socket layer and high-level networking): TCP, Unix and UDP
//! sockets on the core's reactor.
//!
//! * Streams: [`SocketStream`] (TCP or Unix, implements
//!   [`HalfCloseableStream`](crate::abc::HalfCloseableStream) and `futures-io`'s
//!   `AsyncRead`/`AsyncWrite`), [`SocketListener`]
//!   ([`Listener`](crate::abc::Listener)).
//! * Connecting: [`open_tcp_stream`] / [`TcpConnect`] (happy eyeballs),
//!   [`open_unix_socket`].
//! * Listening and serving: [`open_tcp_listeners`] / [`TcpListen`],
//!   [`SocketListener::bind`], [`open_unix_listener`], [`serve_listeners`],
//!   [`serve_tcp`] (with `on_connection_error`, one client's failure stays its
//!   own).
//! * Between streams: [`copy`](crate::abc::copy) and
//!   [`copy_bidirectional`](crate::abc::copy_bidirectional) (a proxy's core).
//! * Serving on every loop of a [`run_loops`](crate::run_loops): [`LoopListener`]
//!   (`SO_REUSEPORT`, or one loop accepting and handing connections to the others),
//!   [`TcpListen::reuse_port`], [`ServeTcp::reuse_port`].
//! * Datagrams: [`UdpSocket`].
//! * The socket layer underneath, resolution, and the hooks for fake networks in
//!   tests: [`socket`].
//!
//! # Examples
//!
//! ```
//! use trio::abc::{ReceiveStream, SendStream};
//! use trio::net::{SocketStream, open_tcp_stream, serve_tcp};
//! # trio::run(async {
//! let upper = async |s: SocketStream| {
//!     let mut buf = [0u8; 64];
//!     let n = s.receive_some(&mut buf).await?;
//!     s.send_all(&buf[..n].to_ascii_uppercase()).await
//! };
//! trio::open_nursery(async |n| {
//!     let listeners = n
//!         .start(async |status| {
//!             serve_tcp(upper, 0)
//!                 .host("127.0.0.1")
//!                 // One client's failure (a reset, garbage) is that client's only.
//!                 .on_connection_error(|e| eprintln!("upper: {e}"))
//!                 .task_status(status)
//!                 .await
//!         })
//!         .await?;
//!     let port = listeners[0].local_addr()?.port();
//!     let client = open_tcp_stream("127.0.0.1", port).await?;
//!     client.send_all(b"hello").await?;
//!     let mut buf = [0u8; 5];
//!     client.receive_some(&mut buf).await?;
//!     assert_eq!(&buf, b"HELLO");
//!     n.cancel_scope().cancel();
//!     Ok(())
//! })
//! .await
//! # }).unwrap();
//! ```

pub mod socket;

mod isolate;
mod loops;
mod serve;
mod socket_stream;
mod tcp_connect;
mod tcp_listeners;
mod udp;
mod unix;

pub use loops::{LoopListener, ServeLoop};
#[cfg(feature = "tls")]
pub(crate) use serve::ConnectionErrorHook;
pub use serve::{ServeListeners, ServeTcp, serve_listeners, serve_tcp};
pub use socket_stream::{SocketListener, SocketStream};
pub use tcp_connect::{DEFAULT_HAPPY_EYEBALLS_DELAY, TcpConnect, open_tcp_stream};
pub use tcp_listeners::{TcpListen, open_tcp_listeners};
pub use udp::UdpSocket;
pub use unix::{open_unix_listener, open_unix_socket};
