//! [`StapledStream`]: two one-way streams stapled into one two-way stream (Trio's
//! `trio.StapledStream`).
//!
//! # Half-closing without specialization
//!
//! Trio's `StapledStream.send_eof` asks at run time whether the send half has a
//! `send_eof` method: if it has, it is called; if not, the send half is closed with
//! `aclose` (for a one-way stream, closing it *is* sending end-of-stream). Rust
//! cannot ask that question of a generic type without specialization, so the
//! answer is given by a trait, [`EndSend`]: every [`HalfCloseableStream`] has it
//! (by `send_eof`), and a one-way send stream whose close ends its direction
//! implements it by closing — trio's in-memory ones do, and so can yours. A staple
//! whose send half is an `EndSend` is half-closeable.
//!
//! With any other send half the staple is still a full
//! [`Stream`](crate::abc::Stream), only not half-closeable.

use std::fmt;

use crate::Result;
use crate::abc::{AsyncResource, EndSend, HalfCloseableStream, ReceiveStream, SendStream};

/// Two one-way streams stapled together into one two-way stream (Trio's
/// `StapledStream`): sending goes to `send_stream`, receiving comes from
/// `receive_stream`.
///
/// It is a [`Stream`](crate::abc::Stream) whenever `S` is a [`SendStream`] and `R` a
/// [`ReceiveStream`]. It is a [`HalfCloseableStream`] when the send half can end
/// its direction ([`EndSend`]): a half-closeable send half (then `send_eof` calls
/// its `send_eof`), or a one-way send stream whose close ends it, such as trio's
/// [`MemorySendStream`](crate::testing::MemorySendStream) and
/// [`LockstepSendStream`](crate::testing::LockstepSendStream) (then `send_eof`
/// closes it, as Trio does for a send half without `send_eof`).
///
/// # Examples
///
/// A silly way to make a stream that echoes back whatever you write to it:
///
/// ```
/// use trio::StapledStream;
/// use trio::abc::{ReceiveStream, SendStream};
/// # trio::run(async {
/// let (left, right) = trio::testing::memory_stream_one_way_pair();
/// let echo = StapledStream::new(left, right);
/// echo.send_all(b"x").await?;
/// let mut buf = [0u8; 4];
/// let n = echo.receive_some(&mut buf).await?;
/// assert_eq!(&buf[..n], b"x");
/// # Ok(()) }).unwrap();
/// ```
///
/// With a send half of your own that cannot end its direction (no [`EndSend`]),
/// the staple is a [`Stream`](crate::abc::Stream) but not a
/// [`HalfCloseableStream`]:
///
/// ```compile_fail,E0277
/// use trio::abc::{AsyncResource, HalfCloseableStream, SendStream, Stream};
/// struct MySend;
/// impl AsyncResource for MySend {
///     async fn aclose(&self) -> trio::Result<()> { Ok(()) }
/// }
/// impl SendStream for MySend {
///     async fn send_all(&self, _: &[u8]) -> trio::Result<()> { Ok(()) }
///     async fn wait_send_all_might_not_block(&self) -> trio::Result<()> { Ok(()) }
/// }
/// fn stream(_: &impl Stream) {}
/// fn half_closeable(_: &impl HalfCloseableStream) {}
/// let (_s, r) = trio::testing::memory_stream_one_way_pair();
/// let stapled = trio::StapledStream::new(MySend, r);
/// stream(&stapled);         // fine
/// half_closeable(&stapled); // error: `MySend` cannot end its direction
/// ```
#[derive(Clone, Default)]
pub struct StapledStream<S, R> {
    send_stream: S,
    receive_stream: R,
}

impl<S: fmt::Debug, R: fmt::Debug> fmt::Debug for StapledStream<S, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StapledStream")
            .field("send_stream", &self.send_stream)
            .field("receive_stream", &self.receive_stream)
            .finish()
    }
}

impl<S, R> StapledStream<S, R> {
    /// Staples `send_stream` (used for sending) and `receive_stream` (used for
    /// receiving) together.
    ///
    /// # Examples
    ///
    /// ```
    /// let (s, r) = trio::testing::memory_stream_one_way_pair();
    /// let stapled = trio::StapledStream::new(s, r);
    /// # let _ = stapled;
    /// ```
    pub fn new(send_stream: S, receive_stream: R) -> StapledStream<S, R> {
        StapledStream {
            send_stream,
            receive_stream,
        }
    }

    /// The send half: `send_all` and `wait_send_all_might_not_block` go to it.
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// use trio::abc::SendStream;
    /// let (a, _b) = trio::testing::memory_stream_pair();
    /// // Stall the left-to-right direction: the bytes stay in a's send half.
    /// a.send_stream().send_all_hook().take();
    /// a.send_all(b"abc").await?;
    /// assert_eq!(a.send_stream().get_data_nowait(None)?, b"abc");
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn send_stream(&self) -> &S {
        &self.send_stream
    }

    /// The receive half: `receive_some` comes from it.
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// use trio::abc::ReceiveStream;
    /// let (a, _b) = trio::testing::memory_stream_pair();
    /// a.receive_stream().put_data(b"injected")?;
    /// let mut buf = [0u8; 16];
    /// let n = a.receive_some(&mut buf).await?;
    /// assert_eq!(&buf[..n], b"injected");
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn receive_stream(&self) -> &R {
        &self.receive_stream
    }

    /// Takes the stream apart again: `(send_stream, receive_stream)`.
    ///
    /// # Examples
    ///
    /// ```
    /// let (a, _b) = trio::testing::memory_stream_pair();
    /// let (send, receive) = a.into_inner();
    /// # let _ = (send, receive);
    /// ```
    pub fn into_inner(self) -> (S, R) {
        (self.send_stream, self.receive_stream)
    }
}

impl<S: SendStream, R: ReceiveStream> AsyncResource for StapledStream<S, R> {
    /// Closes both halves: the send half first, then the receive half — always
    /// both, even when the first fails or is cancelled.
    ///
    /// # Errors
    ///
    /// The error of whichever half failed; if both failed, a group of both (two
    /// cancellations collapse into one).
    ///
    /// # Cancellation
    ///
    /// A checkpoint (each half's `aclose` is); both halves are closed all the same.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::abc::{AsyncResource, ReceiveStream, SendStream};
    /// # trio::run(async {
    /// let (a, _b) = trio::testing::memory_stream_pair();
    /// a.aclose().await?;
    /// assert_eq!(a.send_all(b"x").await.unwrap_err().kind(), trio::ErrorKind::ClosedResource);
    /// let mut buf = [0u8; 1];
    /// assert_eq!(a.receive_some(&mut buf).await.unwrap_err().kind(), trio::ErrorKind::ClosedResource);
    /// # Ok(()) }).unwrap();
    /// ```
    async fn aclose(&self) -> Result<()> {
        let sent = self.send_stream.aclose().await;
        let received = self.receive_stream.aclose().await;
        match (sent, received) {
            (Ok(()), Ok(())) => Ok(()),
            (Err(e), Ok(())) | (Ok(()), Err(e)) => Err(e),
            (Err(a), Err(b)) => Err(crate::Error::group(vec![a, b]).expect("two errors")),
        }
    }
}

impl<S: SendStream, R: ReceiveStream> SendStream for StapledStream<S, R> {
    /// Calls `self.send_stream().send_all(data)`.
    ///
    /// # Errors
    ///
    /// Those of the send half.
    ///
    /// # Cancellation
    ///
    /// As the send half's.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::abc::SendStream;
    /// # trio::run(async {
    /// let (s, r) = trio::testing::memory_stream_one_way_pair();
    /// s.send_all_hook().take(); // keep the bytes in the send half
    /// let stapled = trio::StapledStream::new(s, r);
    /// stapled.send_all(b"kept").await?;
    /// assert_eq!(stapled.send_stream().get_data_nowait(None)?, b"kept");
    /// # Ok(()) }).unwrap();
    /// ```
    async fn send_all(&self, data: &[u8]) -> Result<()> {
        self.send_stream.send_all(data).await
    }

    /// Calls `self.send_stream().wait_send_all_might_not_block()`.
    ///
    /// # Errors
    ///
    /// Those of the send half.
    ///
    /// # Cancellation
    ///
    /// As the send half's.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::abc::SendStream;
    /// # trio::run(async {
    /// let (a, _b) = trio::testing::memory_stream_pair();
    /// a.wait_send_all_might_not_block().await?; // memory streams never block
    /// # Ok(()) }).unwrap();
    /// ```
    async fn wait_send_all_might_not_block(&self) -> Result<()> {
        self.send_stream.wait_send_all_might_not_block().await
    }
}

impl<S: SendStream, R: ReceiveStream> ReceiveStream for StapledStream<S, R> {
    /// Calls `self.receive_stream().receive_some(buf)`.
    ///
    /// # Errors
    ///
    /// Those of the receive half.
    ///
    /// # Cancellation
    ///
    /// As the receive half's.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::abc::{ReceiveStream, SendStream};
    /// # trio::run(async {
    /// let (a, b) = trio::testing::memory_stream_pair();
    /// b.send_all(b"pong").await?;
    /// let mut buf = [0u8; 2];
    /// assert_eq!(a.receive_some(&mut buf).await?, 2);
    /// assert_eq!(&buf, b"po");
    /// # Ok(()) }).unwrap();
    /// ```
    async fn receive_some(&self, buf: &mut [u8]) -> Result<usize> {
        self.receive_stream.receive_some(buf).await
    }
}

impl<S: EndSend, R: ReceiveStream> HalfCloseableStream for StapledStream<S, R> {
    /// Ends the send half's direction: [`end_send`](EndSend::end_send), which is
    /// `send_eof` for a half-closeable send half and closing for a one-way one
    /// (trio's in-memory streams, or yours: see [`EndSend`]).
    ///
    /// # Errors
    ///
    /// Those of the send half.
    ///
    /// # Cancellation
    ///
    /// As the send half's.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::StapledStream;
    /// use trio::abc::{HalfCloseableStream, ReceiveStream};
    /// # trio::run(async {
    /// // Staple two two-way streams: sending goes to `a`, receiving comes from `d`.
    /// let (a, b) = trio::testing::memory_stream_pair();
    /// let (_c, d) = trio::testing::memory_stream_pair();
    /// let stapled = StapledStream::new(a, d);
    /// stapled.send_eof().await?; // a.send_eof()
    /// assert_eq!(b.receive_some(&mut [0u8; 4]).await?, 0);
    /// # Ok(()) }).unwrap();
    /// ```
    async fn send_eof(&self) -> Result<()> {
        self.send_stream.end_send().await
    }
}
