//! Copying between streams: [`copy`] (one way, until the end of the stream) and
//! [`copy_bidirectional`] (both ways at once, passing each end of stream on as a
//! half-close) — the core of every proxy.
//!
//! # What cancellation can cost
//!
//! Both are loops of `receive_some` then `send_all`. trio's stream contracts
//! say what a cancellation at either point means ([`abc`](crate::abc)): a
//! cancelled `receive_some` took nothing, so a copy cancelled while it waits
//! for bytes — the usual case, an idle connection — has lost nothing: every
//! byte it received has been sent, the rest is still in the source. A cancelled
//! `send_all` may have sent part of its bytes, and leaves the destination in an
//! unknown state (only closing it is safe): a copy cancelled while the
//! destination was not taking bytes may have sent only part of its last chunk
//! (at most [`COPY_CHUNK`] bytes). The copy cannot know how much; it does know
//! how much it received and how much it had sent before that chunk, and
//! [`CopyProgress`] reports both, also after a cancellation. The alternative —
//! finishing the chunk in a shielded scope — would let a peer that stops
//! reading hold off a cancellation forever, which trio never allows.

use std::cell::Cell;

use crate::abc::{HalfCloseableStream, ReceiveStream, SendStream};
use crate::{Result, open_nursery};

/// The most a copy receives, and then sends, at once: 16 KiB (one buffer of
/// this size per direction).
///
/// # Examples
///
/// ```
/// assert_eq!(trio::abc::COPY_CHUNK, 16 * 1024);
/// ```
pub const COPY_CHUNK: usize = 16 * 1024;

/// How far one direction of a copy got, readable while it runs and after it
/// ended — also after it was cancelled or failed, when the copy's own return
/// value is gone. [`in_flight`](Self::in_flight) is what may not have arrived.
///
/// A copy is a loop of `receive_some` then `send_all`. Cancelled while it
/// waits for bytes (an idle connection: the usual case), it has lost nothing —
/// a cancelled `receive_some` takes nothing, and every byte received was sent.
/// Cancelled while the destination would not take bytes, its last chunk (at
/// most [`COPY_CHUNK`]) may be partly sent, how much nobody can tell, and the
/// destination must be closed (see [`abc`](crate::abc)'s contracts): those
/// bytes are the `in_flight` ones. Finishing the chunk in a shielded scope
/// instead would let a peer that stops reading hold off a cancellation forever.
///
/// # Examples
///
/// ```
/// use trio::abc::{CopyProgress, SendStream, copy_with};
/// use std::time::Duration;
/// # trio::run(async {
/// let (src_tx, src_rx) = trio::testing::memory_stream_one_way_pair();
/// let (dst_tx, _dst_rx) = trio::testing::memory_stream_one_way_pair();
/// src_tx.send_all(b"hello").await?;
/// let progress = CopyProgress::new();
/// // Cancelled while waiting for more: nothing was lost.
/// let r = trio::move_on_after(Duration::from_millis(10), copy_with(&src_rx, &dst_tx, &progress)).await?;
/// assert!(r.is_none());
/// assert_eq!((progress.received(), progress.sent(), progress.in_flight()), (5, 5, 0));
/// # Ok(()) }).unwrap();
/// ```
#[derive(Debug, Default)]
pub struct CopyProgress {
    received: Cell<u64>,
    sent: Cell<u64>,
}

impl CopyProgress {
    /// Nothing copied yet.
    ///
    /// # Examples
    ///
    /// ```
    /// let p = trio::abc::CopyProgress::new();
    /// assert_eq!(p.received(), 0);
    /// ```
    pub fn new() -> CopyProgress {
        CopyProgress::default()
    }

    /// Bytes received from the source.
    ///
    /// # Examples
    ///
    /// See [`CopyProgress`].
    pub fn received(&self) -> u64 {
        self.received.get()
    }

    /// Bytes the destination took (their `send_all` finished).
    ///
    /// # Examples
    ///
    /// See [`CopyProgress`].
    pub fn sent(&self) -> u64 {
        self.sent.get()
    }

    /// Bytes received but not known to be sent: 0 unless the copy stopped (was
    /// cancelled or failed) in the middle of a send, when up to this many bytes
    /// of the last chunk may not have reached the destination.
    ///
    /// # Examples
    ///
    /// See [`CopyProgress`].
    pub fn in_flight(&self) -> u64 {
        self.received.get() - self.sent.get()
    }
}

/// Copies everything `from` receives into `to`, until `from` reaches the end of
/// its stream; returns the number of bytes copied. It neither closes nor
/// half-closes `to` (see [`copy_bidirectional`] for a copy that passes the end
/// on).
///
/// # Errors
///
/// The errors of `from.receive_some` and `to.send_all`, as they come: for a
/// socket, [`ErrorKind::BrokenResource`](crate::ErrorKind::BrokenResource)
/// when a peer goes away.
///
/// # Cancellation
///
/// A checkpoint. Cancelled while waiting for bytes, it has sent everything it
/// received. Cancelled while `to` would not take bytes, the last chunk (at most
/// [`COPY_CHUNK`]) may be partly sent and `to` must then be closed; use
/// [`copy_with`] to learn how many bytes that concerns (see [`CopyProgress`]).
///
/// # Examples
///
/// ```
/// use trio::abc::{HalfCloseableStream, ReceiveStream, SendStream};
/// # trio::run(async {
/// let (a, b) = trio::testing::memory_stream_pair();
/// let (c, d) = trio::testing::memory_stream_pair();
/// a.send_all(b"through the pipe").await?;
/// a.send_eof().await?;
/// let n = trio::abc::copy(&b, &c).await?; // b's bytes into c, until b's end
/// assert_eq!(n, 16);
/// let mut buf = [0u8; 32];
/// let got = d.receive_some(&mut buf).await?;
/// assert_eq!(&buf[..got], b"through the pipe");
/// # Ok(()) }).unwrap();
/// ```
pub async fn copy<R, S>(from: &R, to: &S) -> Result<u64>
where
    R: ReceiveStream + ?Sized,
    S: SendStream + ?Sized,
{
    copy_with(from, to, &CopyProgress::new()).await
}

/// [`copy`], reporting its progress in `progress` as it goes (see
/// [`CopyProgress`]); the counts add to what `progress` held.
///
/// # Errors
///
/// As [`copy`].
///
/// # Cancellation
///
/// As [`copy`]; afterwards `progress` says what was received and sent.
///
/// # Examples
///
/// See [`CopyProgress`].
pub async fn copy_with<R, S>(from: &R, to: &S, progress: &CopyProgress) -> Result<u64>
where
    R: ReceiveStream + ?Sized,
    S: SendStream + ?Sized,
{
    let mut buf = vec![0u8; COPY_CHUNK];
    let mut copied = 0u64;
    loop {
        let n = from.receive_some(&mut buf).await?;
        if n == 0 {
            return Ok(copied);
        }
        progress.received.set(progress.received.get() + n as u64);
        to.send_all(&buf[..n]).await?;
        progress.sent.set(progress.sent.get() + n as u64);
        copied += n as u64;
    }
}

/// Copies both ways between `a` and `b` at once, until both directions have
/// ended; returns the bytes copied `(a to b, b to a)`.
///
/// When `a` reaches the end of its stream, `b` is half-closed
/// ([`send_eof`](HalfCloseableStream::send_eof)) and the copy from `b` to `a`
/// goes on until `b` ends too (and the other way round) — so a client that
/// half-closes after its request still gets the whole answer, as through a
/// direct connection. The streams are not closed: drop or close them after.
///
/// # Errors
///
/// The first error of either direction (a receive, a send or a `send_eof`),
/// which cancels the other direction.
///
/// # Cancellation
///
/// A checkpoint; both directions are cancelled, with what [`copy`] says of
/// each. Use [`copy_bidirectional_with`] to learn how far each got.
///
/// # Examples
///
/// A TCP proxy: each connection to the proxy is copied both ways to the
/// server behind it.
///
/// ```
/// use trio::abc::{HalfCloseableStream, ReceiveStream, SendStream, copy_bidirectional};
/// use trio::net::{SocketListener, SocketStream, open_tcp_stream, serve_listeners, serve_tcp};
/// # trio::run(async {
/// // The server behind the proxy: answers with its input in capitals, once its
/// // client is done.
/// let upper = async |s: SocketStream| {
///     let mut all = Vec::new();
///     let mut buf = [0u8; 1024];
///     loop {
///         let n = s.receive_some(&mut buf).await?;
///         if n == 0 { break; }
///         all.extend_from_slice(&buf[..n]);
///     }
///     s.send_all(&all.to_ascii_uppercase()).await
/// };
/// let upstream = SocketListener::bind("127.0.0.1:0".parse().unwrap())?;
/// let upstream_port = upstream.local_addr()?.port();
/// // The proxy's handler.
/// let proxy = async |client: SocketStream| {
///     let server = open_tcp_stream("127.0.0.1", upstream_port).await?;
///     copy_bidirectional(&client, &server).await.map(drop)
/// };
/// trio::open_nursery(async |n| {
///     n.start_soon(serve_listeners(upper, vec![upstream]).on_connection_error(|_| {}))?;
///     let listeners = n
///         .start(async |st| {
///             serve_tcp(proxy, 0)
///                 .host("127.0.0.1")
///                 .on_connection_error(|e| eprintln!("proxy: a connection failed: {e}"))
///                 .task_status(st)
///                 .await
///         })
///         .await?;
///     let client = open_tcp_stream("127.0.0.1", listeners[0].local_addr()?.port()).await?;
///     client.send_all(b"hello through the proxy").await?;
///     client.send_eof().await?; // passed on to the server, which then answers
///     let mut got = Vec::new();
///     let mut buf = [0u8; 64];
///     loop {
///         let k = client.receive_some(&mut buf).await?;
///         if k == 0 { break; }
///         got.extend_from_slice(&buf[..k]);
///     }
///     assert_eq!(got, b"HELLO THROUGH THE PROXY");
///     n.cancel_scope().cancel();
///     Ok(())
/// })
/// .await
/// # }).unwrap();
/// ```
pub async fn copy_bidirectional<A, B>(a: &A, b: &B) -> Result<(u64, u64)>
where
    A: HalfCloseableStream + ?Sized,
    B: HalfCloseableStream + ?Sized,
{
    copy_bidirectional_with(a, b, &CopyProgress::new(), &CopyProgress::new()).await
}

/// [`copy_bidirectional`], reporting each direction's progress (see
/// [`CopyProgress`]).
///
/// # Errors
///
/// As [`copy_bidirectional`].
///
/// # Cancellation
///
/// As [`copy_bidirectional`]; afterwards the two progresses say what each
/// direction received and sent.
///
/// # Examples
///
/// ```
/// use trio::abc::{CopyProgress, HalfCloseableStream, ReceiveStream, SendStream, copy_bidirectional_with};
/// # trio::run(async {
/// let (client, a) = trio::testing::memory_stream_pair();
/// let (b, server) = trio::testing::memory_stream_pair();
/// let (up, down) = (CopyProgress::new(), CopyProgress::new());
/// client.send_all(b"ping").await?;
/// client.send_eof().await?;
/// server.send_all(b"pong!").await?;
/// server.send_eof().await?;
/// let (a_to_b, b_to_a) = copy_bidirectional_with(&a, &b, &up, &down).await?;
/// assert_eq!((a_to_b, b_to_a), (4, 5));
/// assert_eq!((up.sent(), down.sent()), (4, 5));
/// # Ok(()) }).unwrap();
/// ```
pub async fn copy_bidirectional_with<A, B>(
    a: &A,
    b: &B,
    a_to_b: &CopyProgress,
    b_to_a: &CopyProgress,
) -> Result<(u64, u64)>
where
    A: HalfCloseableStream + ?Sized,
    B: HalfCloseableStream + ?Sized,
{
    let (forward, backward) = (Cell::new(0), Cell::new(0));
    let (fw, bw) = (&forward, &backward);
    open_nursery(async |n| {
        n.start_soon(async move {
            fw.set(copy_with(a, b, a_to_b).await?);
            b.send_eof().await
        })?;
        bw.set(copy_with(b, a, b_to_a).await?);
        a.send_eof().await
    })
    .await?;
    Ok((forward.get(), backward.get()))
}
