//! The stream interfaces (Trio's `trio.abc`): what every byte stream and listener in
//! trio implements, so that protocols (TLS, HTTP) and tests are written once.
//!
//! # Why `&self`
//!
//! Every method takes `&self`. A stream is full duplex: one task sends while another
//! receives, both borrowing the same stream from their nursery's parent. Misuse that
//! the borrow checker cannot rule out — two tasks calling `send_all` at once, or two
//! calling `receive_some` at once — is reported at run time with
//! [`ErrorKind::BusyResource`](crate::ErrorKind::BusyResource), as Trio does.
//!
//! # The contracts (Trio's, restated)
//!
//! - [`SendStream::send_all`] sends every byte or fails; a cancelled `send_all` may
//!   have sent some of them, after which the stream is in an unknown state: only
//!   closing it is safe (a later call may fail with
//!   [`ErrorKind::BrokenResource`](crate::ErrorKind::BrokenResource)).
//! - [`ReceiveStream::receive_some`] waits until at least one byte is available and
//!   returns `Ok(0)` only at end of stream; a cancelled `receive_some` consumed
//!   nothing.
//! - [`AsyncResource::aclose`] always closes, even when cancelled (then it returns
//!   `Err(Cancelled)` *after* closing); closing twice is fine; any other use after
//!   closing fails with [`ErrorKind::ClosedResource`](crate::ErrorKind::ClosedResource).
//!   Closing a stream also wakes its own blocked operations with that error.
//! - Every method is a checkpoint.
//!
//! On top of the traits: [`copy`] and [`copy_bidirectional`] (with half-close)
//! move bytes between any two streams, and [`aclose_forcefully`] closes one at
//! once.
//!
//! The methods are `async fn`s in traits: trio's futures need not be `Send` (one loop
//! per thread), so the traits are used through generics, not `dyn`.
#![allow(async_fn_in_trait)]

use std::rc::Rc;

use crate::Result;

pub use crate::copy::{
    COPY_CHUNK, CopyProgress, copy, copy_bidirectional, copy_bidirectional_with, copy_with,
};

/// Something that must be closed, asynchronously (Trio's `AsyncResource`).
///
/// # Examples
///
/// ```
/// use trio::abc::AsyncResource;
/// # trio::run(async {
/// let (a, _b) = trio::testing::memory_stream_pair();
/// a.aclose().await?;
/// a.aclose().await?; // closing twice is fine
/// # Ok(()) }).unwrap();
/// ```
pub trait AsyncResource {
    /// Closes the resource: afterwards every operation on it fails with
    /// [`ErrorKind::ClosedResource`](crate::ErrorKind::ClosedResource), and operations
    /// blocked on it in other tasks wake with that error.
    ///
    /// # Errors
    ///
    /// `Cancelled` when cancelled — the resource is closed all the same (perhaps
    /// less gracefully: a TLS stream skips its goodbye). Protocol-specific errors
    /// while saying goodbye; the resource is closed all the same.
    ///
    /// # Cancellation
    ///
    /// A checkpoint; closing is never undone by cancellation.
    async fn aclose(&self) -> Result<()>;
}

/// Closes `resource` at once, without waiting for a graceful goodbye: runs
/// [`aclose`](AsyncResource::aclose) in an already-cancelled scope (Trio's
/// `aclose_forcefully`).
///
/// # Errors
///
/// None: the `Cancelled` it causes is absorbed by its own scope.
///
/// # Cancellation
///
/// Returns as soon as the resource is closed; not a cancellation point.
///
/// # Examples
///
/// ```
/// use trio::abc::{SendStream, aclose_forcefully};
/// # trio::run(async {
/// let (a, _b) = trio::testing::memory_stream_pair();
/// aclose_forcefully(&a).await?;
/// assert_eq!(a.send_all(b"x").await.unwrap_err().kind(), trio::ErrorKind::ClosedResource);
/// # Ok(()) }).unwrap();
/// ```
pub async fn aclose_forcefully<R: AsyncResource + ?Sized>(resource: &R) -> Result<()> {
    let scope = crate::CancelScope::new();
    scope.cancel();
    match scope.run(resource.aclose()).await {
        Ok(_) => Ok(()),
        Err(e) if e.is_cancelled() => Ok(()),
        Err(e) => Err(e),
    }
}

/// A stream you can send bytes into (Trio's `SendStream`).
///
/// # Examples
///
/// ```
/// use trio::abc::{ReceiveStream, SendStream};
/// # trio::run(async {
/// let (a, b) = trio::testing::memory_stream_pair();
/// a.send_all(b"hi").await?;
/// let mut buf = [0u8; 8];
/// let n = b.receive_some(&mut buf).await?;
/// assert_eq!(&buf[..n], b"hi");
/// # Ok(()) }).unwrap();
/// ```
pub trait SendStream: AsyncResource {
    /// Sends all of `data`; returns once the stream has taken every byte (not once
    /// the peer has received them).
    ///
    /// # Errors
    ///
    /// [`BusyResource`](crate::ErrorKind::BusyResource) if another task is in
    /// `send_all` or `wait_send_all_might_not_block` on this stream;
    /// [`ClosedResource`](crate::ErrorKind::ClosedResource) after *this* handle was
    /// closed; [`BrokenResource`](crate::ErrorKind::BrokenResource) if the peer is
    /// gone or an earlier send was cancelled midway.
    ///
    /// # Cancellation
    ///
    /// A checkpoint. If cancelled, some prefix of `data` may have been sent.
    async fn send_all(&self, data: &[u8]) -> Result<()>;

    /// Waits until a `send_all` would probably not block (for example, the socket
    /// has room). It may return early — a hint, never a promise.
    ///
    /// # Errors
    ///
    /// As [`send_all`](Self::send_all).
    ///
    /// # Cancellation
    ///
    /// A checkpoint.
    async fn wait_send_all_might_not_block(&self) -> Result<()>;
}

/// A stream you can receive bytes from (Trio's `ReceiveStream`).
///
/// # Examples
///
/// ```
/// use trio::abc::{AsyncResource, ReceiveStream, SendStream};
/// # trio::run(async {
/// let (a, b) = trio::testing::memory_stream_pair();
/// a.send_all(b"bye").await?;
/// a.aclose().await?;
/// let mut buf = [0u8; 8];
/// assert_eq!(b.receive_some(&mut buf).await?, 3);
/// assert_eq!(b.receive_some(&mut buf).await?, 0); // end of stream
/// # Ok(()) }).unwrap();
/// ```
pub trait ReceiveStream: AsyncResource {
    /// Waits until some bytes are available, copies at most `buf.len()` of them into
    /// `buf`, and returns how many. `Ok(0)` means end of stream (and then again on
    /// every later call).
    ///
    /// # Errors
    ///
    /// [`InvalidInput`](crate::ErrorKind::InvalidInput) if `buf` is empty;
    /// [`BusyResource`](crate::ErrorKind::BusyResource) if another task is in
    /// `receive_some` on this stream; [`ClosedResource`](crate::ErrorKind::ClosedResource)
    /// after *this* handle was closed; [`BrokenResource`](crate::ErrorKind::BrokenResource)
    /// if the stream broke (for example, the connection was reset).
    ///
    /// # Cancellation
    ///
    /// A checkpoint. A cancelled `receive_some` consumed nothing.
    async fn receive_some(&self, buf: &mut [u8]) -> Result<usize>;
}

/// A stream you can both send to and receive from (Trio's `Stream`); implemented
/// for everything that is both.
///
/// # Examples
///
/// ```
/// use trio::abc::Stream;
/// fn takes_a_stream(_: &impl Stream) {}
/// let (a, _b) = trio::testing::memory_stream_pair();
/// takes_a_stream(&a);
/// ```
pub trait Stream: SendStream + ReceiveStream {}

impl<T: SendStream + ReceiveStream + ?Sized> Stream for T {}

/// A stream whose sending side can be closed on its own (Trio's
/// `HalfCloseableStream`), as TCP's `shutdown(SHUT_WR)` does.
///
/// # Examples
///
/// ```
/// use trio::abc::{HalfCloseableStream, ReceiveStream, SendStream};
/// # trio::run(async {
/// let (a, b) = trio::testing::memory_stream_pair();
/// a.send_eof().await?;
/// let mut buf = [0u8; 8];
/// assert_eq!(b.receive_some(&mut buf).await?, 0); // b sees end of stream...
/// b.send_all(b"still open").await?;              // ...but can still send
/// assert_eq!(a.receive_some(&mut buf).await?, 8);
/// # Ok(()) }).unwrap();
/// ```
pub trait HalfCloseableStream: Stream {
    /// Closes the sending side: the peer's `receive_some` sees end of stream once it
    /// has read everything sent before. Receiving still works. Calling it twice is
    /// fine.
    ///
    /// # Errors
    ///
    /// [`BusyResource`](crate::ErrorKind::BusyResource) if a `send_all` is running;
    /// [`ClosedResource`](crate::ErrorKind::ClosedResource) after `aclose`.
    ///
    /// # Cancellation
    ///
    /// A checkpoint.
    async fn send_eof(&self) -> Result<()>;
}

/// A send stream that can end its direction — what makes a
/// [`StapledStream`](crate::StapledStream) half-closeable with it as its send half.
///
/// Every [`HalfCloseableStream`] is one (its `send_eof` ends the direction). A
/// one-way send stream is one when closing it *is* its end of stream, as for a
/// pipe or trio's in-memory one-way streams: implement [`end_send`](Self::end_send)
/// by closing it (Trio's `StapledStream.send_eof` falls back to `aclose` for
/// such a send half; Rust asks for it by type instead).
///
/// # Examples
///
/// ```
/// use trio::abc::{AsyncResource, EndSend, HalfCloseableStream, SendStream};
/// struct Pipe;
/// impl AsyncResource for Pipe {
///     async fn aclose(&self) -> trio::Result<()> { Ok(()) }
/// }
/// impl SendStream for Pipe {
///     async fn send_all(&self, _: &[u8]) -> trio::Result<()> { Ok(()) }
///     async fn wait_send_all_might_not_block(&self) -> trio::Result<()> { Ok(()) }
/// }
/// impl EndSend for Pipe {
///     async fn end_send(&self) -> trio::Result<()> { self.aclose().await }
/// }
/// fn half_closeable(_: &impl HalfCloseableStream) {}
/// let (_s, r) = trio::testing::memory_stream_one_way_pair();
/// half_closeable(&trio::StapledStream::new(Pipe, r));
/// ```
pub trait EndSend: SendStream {
    /// Ends this direction: the peer sees end of stream once it has read
    /// everything sent before.
    ///
    /// # Errors
    ///
    /// The implementation's (for trio's own: `BusyResource` while a send is
    /// running, `ClosedResource` after `aclose` for a half-closeable stream).
    ///
    /// # Cancellation
    ///
    /// The implementation's; trio's own are checkpoints, and a cancelled call
    /// ended nothing.
    async fn end_send(&self) -> Result<()>;
}

impl<T: HalfCloseableStream> EndSend for T {
    /// Calls [`send_eof`](HalfCloseableStream::send_eof).
    async fn end_send(&self) -> Result<()> {
        self.send_eof().await
    }
}

/// Something that accepts connections (Trio's `Listener`).
///
/// # Examples
///
/// ```
/// use trio::abc::{Listener, ReceiveStream, SendStream};
/// # trio::run(async {
/// let listener = trio::net::SocketListener::bind("127.0.0.1:0".parse().unwrap())?;
/// let addr = listener.local_addr()?;
/// trio::open_nursery(async |n| {
///     n.start_soon(async move {
///         let s = trio::net::open_tcp_stream("127.0.0.1", addr.port()).await?;
///         s.send_all(b"hi").await
///     })?;
///     let conn = listener.accept().await?;
///     let mut buf = [0u8; 2];
///     assert_eq!(conn.receive_some(&mut buf).await?, 2);
///     Ok(())
/// })
/// .await?;
/// # Ok(()) }).unwrap();
/// ```
pub trait Listener: AsyncResource {
    /// The kind of stream a connection gives.
    type Stream;

    /// Waits for the next connection.
    ///
    /// # Errors
    ///
    /// [`BusyResource`](crate::ErrorKind::BusyResource) if another task is accepting
    /// on this listener; [`ClosedResource`](crate::ErrorKind::ClosedResource) after
    /// `aclose`; operating-system errors (for example, too many open files) as
    /// [`ErrorKind::Io`](crate::ErrorKind::Io).
    ///
    /// # Cancellation
    ///
    /// A checkpoint; a cancelled `accept` accepted nothing.
    async fn accept(&self) -> Result<Self::Stream>;
}

macro_rules! forward {
    ($($ptr:ty),*) => {$(
        impl<T: AsyncResource + ?Sized> AsyncResource for $ptr {
            async fn aclose(&self) -> Result<()> {
                (**self).aclose().await
            }
        }
        impl<T: SendStream + ?Sized> SendStream for $ptr {
            async fn send_all(&self, data: &[u8]) -> Result<()> {
                (**self).send_all(data).await
            }
            async fn wait_send_all_might_not_block(&self) -> Result<()> {
                (**self).wait_send_all_might_not_block().await
            }
        }
        impl<T: ReceiveStream + ?Sized> ReceiveStream for $ptr {
            async fn receive_some(&self, buf: &mut [u8]) -> Result<usize> {
                (**self).receive_some(buf).await
            }
        }
        impl<T: HalfCloseableStream + ?Sized> HalfCloseableStream for $ptr {
            async fn send_eof(&self) -> Result<()> {
                (**self).send_eof().await
            }
        }
    )*};
}

forward!(&T, Box<T>, Rc<T>);
