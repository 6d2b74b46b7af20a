//! [`TrioIo`] and [`StreamIo`]: hyper's `Read`/`Write` on trio streams.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};
use hyper::rt::{Read, ReadBufCursor, Write};

use crate::abc::Stream;

/// The largest read done in one `poll_read` (the size of the scratch buffer).
const SCRATCH_LEN: usize = 16 * 1024;

thread_local! {
    /// One scratch buffer per thread (per run loop), shared by every `TrioIo`:
    /// reads land here and are copied into hyper's buffer in the same call, so it
    /// never holds bytes between calls and no connection pays for its own.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Adapts a trio stream to hyper's I/O traits, [`hyper::rt::Read`] and
/// [`hyper::rt::Write`] (hyper-util's `TokioIo`, for trio).
///
/// It wraps anything that implements `futures-io`'s `AsyncRead` / `AsyncWrite` —
/// [`SocketStream`](crate::net::SocketStream) and `&SocketStream` among them —
/// and [`http::serve`](super::serve) and [`http::request`](super::request) use it
/// for you. `poll_shutdown` is `AsyncWrite::poll_close` (for a socket stream:
/// `shutdown(SHUT_WR)`, the socket stays open for reading).
///
/// Reads go through a per-thread scratch buffer and are copied into hyper's
/// buffer in the same call: hyper hands out uninitialised memory, and this keeps
/// the adapter free of `unsafe` at the cost of one copy of the bytes read
/// (at most 16 KiB a read).
///
/// # Cancellation
///
/// The socket stream's poll methods honour trio cancellation: inside a cancelled
/// scope they fail with an [`io::Error`] carrying trio's `Cancelled`, which hyper
/// passes on as the connection's error, and [`trio::http`](super)'s helpers turn
/// back into `Err(Cancelled)` so the scope absorbs it. A read that is pending
/// when hyper drops its interest (or the whole connection) consumed nothing: no
/// byte is lost, because bytes are taken from the socket only in the call that
/// hands them to hyper.
///
/// # Examples
///
/// Driving a hyper HTTP/1 client connection by hand:
///
/// ```
/// use http_body_util::{BodyExt, Empty, Full};
/// use hyper::body::{Bytes, Incoming};
/// use hyper::{Request, Response};
/// use trio::http::TrioIo;
/// # trio::run(async {
/// let hello = trio::http::service_fn(async |_req: Request<Incoming>| {
///     Ok::<_, trio::Error>(Response::new(Full::new(Bytes::from("hello"))))
/// });
/// trio::open_nursery(async |n| {
///     let listeners = n
///         .start(async |status| trio::http::serve(&hello, 0).host("127.0.0.1").task_status(status).await)
///         .await?;
///     let stream = trio::net::open_tcp_stream("127.0.0.1", listeners[0].local_addr()?.port()).await?;
///     // hyper's errors convert to trio's (`?`), cancellation included.
///     let (mut sender, conn) = hyper::client::conn::http1::handshake(TrioIo::new(stream)).await?;
///     n.start_soon(async move { Ok(conn.await?) })?;
///     let req = Request::get("/").header("host", "localhost").body(Empty::<Bytes>::new()).unwrap();
///     let resp = sender.send_request(req).await?;
///     let body = resp.into_body().collect().await?.to_bytes();
///     assert_eq!(body, "hello");
///     n.cancel_scope().cancel();
///     Ok(())
/// })
/// .await
/// # }).unwrap();
/// ```
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TrioIo<T> {
    inner: T,
}

impl<T> TrioIo<T> {
    /// Wraps `inner`.
    ///
    /// # Examples
    ///
    /// ```
    /// let (a, _b) = trio::net::SocketStream::pair()?;
    /// let io = trio::http::TrioIo::new(a);
    /// # let _ = io;
    /// # Ok::<_, trio::Error>(())
    /// ```
    pub fn new(inner: T) -> TrioIo<T> {
        TrioIo { inner }
    }

    /// The wrapped stream.
    ///
    /// # Examples
    ///
    /// ```
    /// let (a, _b) = trio::net::SocketStream::pair()?;
    /// let io = trio::http::TrioIo::new(a);
    /// assert!(!io.inner().socket().is_closed());
    /// # Ok::<_, trio::Error>(())
    /// ```
    pub fn inner(&self) -> &T {
        &self.inner
    }

    /// The wrapped stream, mutably.
    ///
    /// # Examples
    ///
    /// ```
    /// let (a, _b) = trio::net::SocketStream::pair()?;
    /// let mut io = trio::http::TrioIo::new(a);
    /// let _stream: &mut trio::net::SocketStream = io.inner_mut();
    /// # Ok::<_, trio::Error>(())
    /// ```
    pub fn inner_mut(&mut self) -> &mut T {
        &mut self.inner
    }

    /// Unwraps the stream.
    ///
    /// # Examples
    ///
    /// ```
    /// let (a, _b) = trio::net::SocketStream::pair()?;
    /// let stream: trio::net::SocketStream = trio::http::TrioIo::new(a).into_inner();
    /// # let _ = stream;
    /// # Ok::<_, trio::Error>(())
    /// ```
    pub fn into_inner(self) -> T {
        self.inner
    }
}

/// Reads through the thread's scratch buffer (see [`TrioIo`]).
impl<T: AsyncRead + Unpin> Read for TrioIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let want = buf.remaining().min(SCRATCH_LEN);
        if want == 0 {
            return Poll::Ready(Ok(()));
        }
        let inner = &mut self.get_mut().inner;
        let mut read = |scratch: &mut Vec<u8>| {
            if scratch.len() < want {
                scratch.resize(want, 0);
            }
            match Pin::new(&mut *inner).poll_read(cx, &mut scratch[..want]) {
                Poll::Ready(Ok(n)) => {
                    buf.put_slice(&scratch[..n]);
                    Poll::Ready(Ok(()))
                }
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                Poll::Pending => Poll::Pending,
            }
        };
        SCRATCH.with(|s| match s.try_borrow_mut() {
            Ok(mut scratch) => read(&mut scratch),
            // A stream that itself reads through a `TrioIo` (nested adapters).
            Err(_) => read(&mut Vec::new()),
        })
    }
}

impl<T: AsyncWrite + Unpin> Write for TrioIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_close(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }
}

// ---- any abc::Stream ---------------------------------------------------------

type ReadFuture<'a> = Pin<Box<dyn Future<Output = (Vec<u8>, crate::Result<usize>)> + 'a>>;
type WriteFuture<'a> = Pin<Box<dyn Future<Output = (Vec<u8>, crate::Result<()>)> + 'a>>;
type CloseFuture<'a> = Pin<Box<dyn Future<Output = crate::Result<()>> + 'a>>;

/// The most a `StreamIo` accepts into its write-behind buffer in one call.
const WRITE_CHUNK: usize = 64 * 1024;

/// Adapts any trio [`Stream`](crate::abc::Stream) — a TLS stream, a memory
/// stream in a test, a [`StapledStream`](crate::StapledStream) — to hyper's I/O
/// traits. For a type that also has `futures-io`'s traits (a
/// [`SocketStream`](crate::net::SocketStream)), [`TrioIo`] is cheaper.
///
/// The stream's methods are `async fn`s, whose futures borrow it; so the stream
/// is kept in an `Rc`, and the one receive and the one send in flight are boxed
/// futures stored here, with buffers of their own:
///
/// * **Reads** start a [`receive_some`](crate::abc::ReceiveStream::receive_some)
///   of at most hyper's free space (16 KiB at most); a read that is pending when
///   hyper stops asking stays in flight, and its bytes go to the next
///   `poll_read` — none is lost while the adapter lives (and by the stream
///   contract, a receive dropped with the adapter consumed nothing).
/// * **Writes** are write-behind: `poll_write` takes up to 64 KiB into a buffer
///   and starts [`send_all`](crate::abc::SendStream::send_all) on it, and the
///   next `poll_write` or `poll_flush` waits for it to finish (hyper flushes
///   after every message).
/// * **Shutdown** flushes, then [`aclose`](crate::abc::AsyncResource::aclose)s
///   the stream (for TLS: `close_notify`); hyper shuts down only a connection it
///   is done with.
///
/// # Cancellation
///
/// The stream's methods are checkpoints: in a cancelled scope they fail with
/// `Cancelled`, which reaches hyper as an [`io::Error`] carrying it (see
/// [`TrioIo`]). A `send_all` cancelled midway leaves the stream broken, as the
/// [`SendStream`](crate::abc::SendStream) contract says: the connection is over.
///
/// # Examples
///
/// HTTP over an in-memory stream pair:
///
/// ```
/// use http_body_util::{BodyExt, Empty, Full};
/// use hyper::body::{Bytes, Incoming};
/// use hyper::{Request, Response};
/// use trio::http::{Http, StreamIo};
/// # trio::run(async {
/// let (client, server) = trio::testing::memory_stream_pair();
/// let service = trio::http::service_fn(async |_req: Request<Incoming>| {
///     Ok::<_, trio::Error>(Response::new(Full::new(Bytes::from("over memory"))))
/// });
/// let http = Http::new();
/// trio::open_nursery(async |n| {
///     n.start_soon(http.serve_connection(StreamIo::new(server), &service))?;
///     let (mut sender, conn) = hyper::client::conn::http1::handshake(StreamIo::new(client)).await?;
///     n.start_soon(async move { Ok(conn.await?) })?;
///     let req = Request::get("/").header("host", "memory").body(Empty::<Bytes>::new()).unwrap();
///     let resp = sender.send_request(req).await?;
///     assert_eq!(resp.into_body().collect().await?.to_bytes(), "over memory");
///     n.cancel_scope().cancel();
///     Ok(())
/// })
/// .await
/// # }).unwrap();
/// ```
pub struct StreamIo<'a, S> {
    stream: Rc<S>,
    read: Option<ReadFuture<'a>>,
    /// Bytes received that hyper had no room for.
    leftover: Vec<u8>,
    leftover_pos: usize,
    /// A buffer to reuse for the next receive or send.
    spare_read: Vec<u8>,
    spare_write: Vec<u8>,
    write: Option<WriteFuture<'a>>,
    close: Option<CloseFuture<'a>>,
}

impl<S> fmt::Debug for StreamIo<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamIo")
            .field("reading", &self.read.is_some())
            .field("writing", &self.write.is_some())
            .field("closing", &self.close.is_some())
            .field("leftover", &(self.leftover.len() - self.leftover_pos))
            .finish()
    }
}

impl<'a, S: Stream + 'a> StreamIo<'a, S> {
    /// Wraps `stream`.
    ///
    /// # Examples
    ///
    /// See [`StreamIo`].
    pub fn new(stream: S) -> StreamIo<'a, S> {
        StreamIo {
            stream: Rc::new(stream),
            read: None,
            leftover: Vec::new(),
            leftover_pos: 0,
            spare_read: Vec::new(),
            spare_write: Vec::new(),
            write: None,
            close: None,
        }
    }

    /// The wrapped stream.
    ///
    /// # Examples
    ///
    /// ```
    /// let (a, _b) = trio::testing::memory_stream_pair();
    /// let io = trio::http::StreamIo::new(a);
    /// let _stream = io.get_ref();
    /// ```
    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    fn poll_write_done(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Some(fut) = self.write.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        let (buf, r) = std::task::ready!(fut.as_mut().poll(cx));
        self.write = None;
        self.spare_write = buf;
        Poll::Ready(r.map_err(io::Error::from))
    }
}

impl<'a, S: Stream + 'a> Read for StreamIo<'a, S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let room = buf.remaining();
        if room == 0 {
            return Poll::Ready(Ok(()));
        }
        if this.leftover_pos < this.leftover.len() {
            let n = room.min(this.leftover.len() - this.leftover_pos);
            buf.put_slice(&this.leftover[this.leftover_pos..this.leftover_pos + n]);
            this.leftover_pos += n;
            return Poll::Ready(Ok(()));
        }
        let fut = this.read.get_or_insert_with(|| {
            let stream = this.stream.clone();
            let mut data = std::mem::take(&mut this.spare_read);
            data.resize(room.min(SCRATCH_LEN), 0);
            Box::pin(async move {
                let r = stream.receive_some(&mut data).await;
                (data, r)
            })
        });
        let (data, r) = std::task::ready!(fut.as_mut().poll(cx));
        this.read = None;
        let r = r.map(|n| {
            let now = n.min(room);
            buf.put_slice(&data[..now]);
            if now < n {
                this.leftover.clear();
                this.leftover.extend_from_slice(&data[now..n]);
                this.leftover_pos = 0;
            }
        });
        this.spare_read = data;
        Poll::Ready(r.map_err(io::Error::from))
    }
}

impl<'a, S: Stream + 'a> Write for StreamIo<'a, S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        std::task::ready!(this.poll_write_done(cx))?;
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let n = buf.len().min(WRITE_CHUNK);
        let mut data = std::mem::take(&mut this.spare_write);
        data.clear();
        data.extend_from_slice(&buf[..n]);
        let stream = this.stream.clone();
        this.write = Some(Box::pin(async move {
            let r = stream.send_all(&data).await;
            (data, r)
        }));
        // Start sending now; an error shows at the next write or flush.
        if let Poll::Ready(Err(e)) = this.poll_write_done(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_write_done(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        std::task::ready!(this.poll_write_done(cx))?;
        let fut = this.close.get_or_insert_with(|| {
            let stream = this.stream.clone();
            Box::pin(async move { stream.aclose().await })
        });
        let r = std::task::ready!(fut.as_mut().poll(cx));
        this.close = None;
        Poll::Ready(r.map_err(io::Error::from))
    }
}
