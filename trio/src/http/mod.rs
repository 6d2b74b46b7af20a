//! HTTP on trio with [hyper] 1.x (feature `hyper`): hyper's runtime traits for
//! trio, and helpers that make serving and fetching a few lines.
//!
//! hyper 1 is runtime-agnostic: it asks for I/O ([`hyper::rt::Read`] /
//! [`hyper::rt::Write`]), a [`Timer`](hyper::rt::Timer) and an
//! [`Executor`](hyper::rt::Executor). hyper-util provides them for tokio
//! (`TokioIo`, `TokioTimer`, `TokioExecutor`); this module provides them for
//! trio — [`TrioIo`] and [`StreamIo`], [`TrioTimer`], [`TrioExecutor`] — and,
//! on top:
//!
//! * serving: [`serve`] (a whole server, shaped like
//!   [`net::serve_tcp`](crate::net::serve_tcp), usable with
//!   [`Nursery::start`](crate::Nursery::start)), [`Http`] (one connection:
//!   HTTP/1, HTTP/2 or both, told apart by the first bytes), [`service_fn`]
//!   (an async closure as a hyper service — one that may borrow);
//! * fetching: [`get`] and [`request`] (HTTP/1.1 or HTTP/2, plain `http://`;
//!   bodies up to [`DEFAULT_BODY_LIMIT`], or what [`Client::body_limit`] says).
//!
//! ```
//! use http_body_util::Full;
//! use hyper::body::{Bytes, Incoming};
//! use hyper::{Request, Response};
//! # trio::run(async {
//! let hello = trio::http::service_fn(async |req: Request<Incoming>| {
//!     let body = format!("hello from {}", req.uri().path());
//!     Ok::<_, trio::Error>(Response::new(Full::new(Bytes::from(body))))
//! });
//! trio::open_nursery(async |n| {
//!     let listeners = n
//!         .start(async |status| trio::http::serve(&hello, 0).host("127.0.0.1").task_status(status).await)
//!         .await?;
//!     let port = listeners[0].local_addr()?.port();
//!     let resp = trio::http::get(&format!("http://127.0.0.1:{port}/trio")).await?;
//!     assert_eq!(resp.body(), "hello from /trio");
//!     n.cancel_scope().cancel(); // stops the server
//!     Ok(())
//! })
//! .await
//! # }).unwrap();
//! ```
//!
//! # Why it is shaped this way
//!
//! **I/O.** hyper polls; trio's stream traits ([`abc`](crate::abc)) are
//! `async fn`s, whose futures borrow the stream. Two adapters, then.
//! [`SocketStream`](crate::net::SocketStream) already has poll-based methods
//! (`futures-io`'s `AsyncRead`/`AsyncWrite`) that honour cancellation and
//! consume nothing when they return `Pending`; [`TrioIo`] adapts *those*, for
//! every type that has them, and keeps no bytes of its own between calls, so a
//! read that hyper abandons lost nothing. hyper hands out uninitialised
//! buffers; rather than `unsafe`, reads land in one per-thread scratch buffer
//! and are copied over in the same call. Any other trio stream (TLS, memory
//! streams, stapled pipes) goes through [`StreamIo`], which keeps the stream in
//! an `Rc` and its one receive and one send in flight as boxed futures — a
//! pending receive survives until hyper asks again, so nothing is lost there
//! either, at the price of a boxed future per operation and a copy of what is
//! written (its writes are write-behind: accepted, then sent before the next
//! write or flush completes).
//!
//! **Timers.** hyper requires `Send + Sync` sleeps and expects them to fire only
//! at their deadline; trio's [`sleep`](crate::sleep) is neither `Send` nor
//! deaf to cancellation (it is a checkpoint). [`TrioSleep`] is plain data in a
//! per-run table, woken by one system task that sleeps on trio's own deadline
//! queue — which is what makes a [`MockClock`](crate::testing::MockClock) with
//! autojump drive hyper's timeouts too: a test of a 30-second header timeout
//! takes no real time. No core hook was needed. (Rejected: wrapping trio's
//! `Sleep` in a shielded scope behind an `unsafe impl Send` — it needs `unsafe`,
//! and a scope belongs to the task that entered it, while nothing stops hyper
//! from polling a timer in another task. The cost of
//! the design chosen is one extra task wake-up per timer that fires; timers
//! dropped before firing — nearly all of hyper's — cost a map insert and remove.)
//!
//! **Tasks.** hyper spawns tasks only for HTTP/2 (a task per request stream).
//! Trio has no "spawn and forget": [`TrioExecutor`] spawns into a nursery, and
//! each HTTP/2 connection gets its own, so a connection's streams are its
//! children — cancelled with it, waited for by it, free to borrow and to be
//! `!Send`.
//!
//! **Cancellation.** Inside hyper, a trio cancellation is an I/O error carrying
//! `Cancelled`. Everything here turns hyper's errors back into trio's: an error
//! that carries a trio error becomes that error again, so `Cancelled` reaches the
//! cancel scope that caused it and is absorbed there (a `move_on_after` around
//! [`get`] returns `Ok(None)`, not an I/O error). The client helpers are
//! checkpoints even where hyper waits on its own channels. Shutting a server
//! down is cancelling the nursery it runs in.
//!
//! **Bodies.** A response body can only be read while its connection is driven.
//! The structured answer is for [`request`] to drive the connection in a
//! nursery that ends with the call, and so to return the whole body. For
//! streaming, drive hyper's `client::conn` yourself with [`TrioIo`] in a
//! nursery that outlives the reading (see [`TrioIo`]'s example), and convert
//! hyper's errors with `?` (`From<hyper::Error> for trio::Error` is here).
//!
//! **Not here.** `https` in [`get`]/[`request`] (TLS is separate: with feature
//! `tls`, wrap the TCP stream in trio's TLS stream and give it to hyper through
//! [`StreamIo`]), HTTP/1 upgrades (hyper requires `Send` I/O for them), connection
//! pools and graceful shutdown (hyper's `graceful_shutdown` is reachable when
//! you drive connections yourself).

mod client;
mod executor;
mod graceful;
mod idle;
mod io;
mod server;
mod timer;

use std::error::Error as StdError;
use std::future::{Future, poll_fn};
use std::pin::pin;
use std::task::Poll;

pub use client::{Client, DEFAULT_BODY_LIMIT, get, request};
pub use executor::TrioExecutor;
pub use io::{StreamIo, TrioIo};
pub use server::{
    Bind, DEFAULT_HTTP2_IDLE_TIMEOUT, Http, Protocol, ServeHttp, ServiceFn, serve, service_fn,
};
pub use timer::{TrioSleep, TrioTimer};

use crate::lowlevel::{CancelRegistration, checkpoint_if_cancelled};
use crate::{Error, ErrorKind, Result};

/// hyper's errors as trio's, so that `?` works on hyper's results in trio code.
///
/// A trio error that came through hyper (from the I/O, or returned by a
/// service) is itself again — a cancellation above all, so that the cancel
/// scope that caused it absorbs it (HTTP/2 keeps only the text of I/O errors:
/// an I/O error converted while the current code is cancelled is that
/// cancellation). Otherwise: hyper's timeouts are
/// [`ErrorKind::TooSlow`], I/O failures [`ErrorKind::BrokenResource`], the rest
/// [`ErrorKind::Other`]; the hyper error is the source.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// # trio::run(async {
/// let (a, _b) = trio::net::SocketStream::pair()?;
/// let (_sender, conn) = hyper::client::conn::http1::handshake::<_, http_body_util::Empty<hyper::body::Bytes>>(
///     trio::http::TrioIo::new(a),
/// )
/// .await?;
/// // Cancelled while hyper waits for the socket: hyper reports an I/O error
/// // carrying trio's `Cancelled`, which converts back, and the scope absorbs it.
/// let r = trio::move_on_after(Duration::from_millis(5), async {
///     conn.await?;
///     Ok::<_, trio::Error>(())
/// })
/// .await?;
/// assert!(r.is_none());
/// # Ok(()) }).unwrap();
/// ```
impl From<hyper::Error> for Error {
    fn from(e: hyper::Error) -> Error {
        let mut trio_kind = None;
        let mut io_error_kind = None;
        let mut source: Option<&(dyn StdError + 'static)> = StdError::source(&e);
        while let Some(s) = source {
            let inner = match s.downcast_ref::<std::io::Error>() {
                Some(io) => {
                    io_error_kind.get_or_insert(io.kind());
                    io.get_ref().map(|i| i as &(dyn StdError + 'static))
                }
                None => Some(s),
            };
            if let Some(t) = inner.and_then(|i| i.downcast_ref::<Error>()) {
                if let Some(c) = t.cancelled() {
                    if t.is_cancelled() {
                        return Error::from(c.clone());
                    }
                }
                trio_kind = Some(t.kind());
                break;
            }
            source = s.source();
        }
        // HTTP/2 keeps only the kind and text of I/O errors (h2's errors are
        // `Clone`), so a cancellation that came through the I/O arrives as an
        // `io::Error` of kind `Other` with no trio error inside: while the
        // current code is cancelled, that is what it is.
        if trio_kind.is_none() && io_error_kind == Some(std::io::ErrorKind::Other) {
            if let Err(c) = checkpoint_if_cancelled() {
                if c.is_cancelled() {
                    return c;
                }
            }
        }
        let kind = match trio_kind {
            Some(k) => k,
            None if e.is_timeout() => ErrorKind::TooSlow,
            None if io_error_kind.is_some() => ErrorKind::BrokenResource,
            None => ErrorKind::Other,
        };
        let msg = format!("HTTP: {e}");
        Error::other(e).context(kind, msg)
    }
}

fn from_hyper(e: hyper::Error) -> Error {
    Error::from(e)
}

/// Runs a future that knows nothing of trio (hyper's channels) as a checkpoint:
/// `Err(Cancelled)` — dropping the future — as soon as the enclosing scope is
/// cancelled.
pub(crate) async fn cancellable<F: Future>(fut: F) -> Result<F::Output> {
    let mut fut = pin!(fut);
    let mut reg = CancelRegistration::new();
    poll_fn(|cx| {
        if let Poll::Ready(e) = reg.poll_cancelled(cx) {
            return Poll::Ready(Err(e));
        }
        fut.as_mut().poll(cx).map(Ok)
    })
    .await
}
