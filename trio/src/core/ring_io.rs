//! [`RingIo`]: the public face of the ring's I/O operations (`uring_ops.rs`
//! has the machinery and the essay on cancellation).

use std::cell::Cell;
use std::future::poll_fn;
use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{FromRawFd, OwnedFd};
use std::rc::Rc;
use std::task::{Context, Poll};

use socket2::SockAddr;

use super::cancel::{CancelRegistration, check_cancelled};
use super::checkpoint::cancel_shielded_checkpoint;
use super::uring_ops::{
    MAX_BUF, OpKind, RingOpState, Stash, not_available, ring_active, ring_op, submit_detached,
};
use crate::error::{Error, Result};
use crate::sys::source::RawSource as RawFd;

/// One socket's (or pipe's) operations on the io_uring — receive, send,
/// accept, connect, datagrams with their addresses, vectored forms, pipe
/// reads and writes — with Trio's abort protocol: a cancelled operation
/// either did not happen, or it completed and its result is delivered. It is
/// what trio's own sockets and pipes use when the run's reactor is io_uring
/// ([`IoBackend::Uring`](crate::lowlevel::IoBackend)); a socket type of your
/// own keeps one `RingIo` per fd, next to it.
///
/// The kernel never reads or writes the caller's buffers: each operation owns
/// a buffer of the reactor's, copied from (send) or into (receive) the
/// caller's, and freed only by the operation's completion — so a cancelled or
/// dropped operation never leaves the kernel writing into freed memory.
/// A receive whose future is *dropped* (not cancelled) while in the kernel
/// cannot hand its bytes to anyone: they are kept here, and the socket's next
/// receive returns them first ([`take_stashed`](Self::take_stashed) for a
/// poll-based reader). A dropped *send* may still have sent its bytes; cancel
/// through a [`CancelScope`](crate::CancelScope) to learn how many.
///
/// Linux only. Only one operation per direction (receive, accept, read; or
/// send, connect, write) may be in flight per fd.
///
/// # Examples
///
/// ```
/// use std::os::fd::AsRawFd;
/// use trio::lowlevel::{IoBackend, RingIo};
/// # trio::Runtime::builder().io_backend(IoBackend::Auto).build().run(async {
/// let (a, b) = std::os::unix::net::UnixStream::pair()?;
/// if RingIo::is_available() {
///     let (ra, rb) = (RingIo::new(), RingIo::new());
///     assert_eq!(ra.send(a.as_raw_fd(), b"ping").await?, 4);
///     let mut buf = [0u8; 16];
///     let n = rb.recv(b.as_raw_fd(), &mut buf).await?;
///     assert_eq!(&buf[..n], b"ping");
/// }
/// # Ok::<(), trio::Error>(()) }).unwrap();
/// ```
#[derive(Default)]
pub struct RingIo {
    pub(in crate::core) stash: Rc<Stash>,
    /// Each direction's last operation state, for reuse.
    pub(in crate::core) spare: [Cell<Option<Rc<RingOpState>>>; 2],
}

impl std::fmt::Debug for RingIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RingIo")
            .field("stashed", &self.stashed())
            .field("orphans", &self.stash.orphans.get())
            .field("end", &self.stash.end.get())
            .field("sending", &self.stash.sending.get())
            .finish()
    }
}

impl RingIo {
    /// The most bytes one operation moves (4 MiB): a longer send or write is
    /// a partial one, a longer receive a short one, and a longer datagram is
    /// refused (`EMSGSIZE`).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trio::lowlevel::RingIo::MAX_LEN, 4 << 20);
    /// ```
    pub const MAX_LEN: usize = MAX_BUF;

    /// A socket's ring state, with nothing stashed.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trio::lowlevel::RingIo::new().stashed(), 0);
    /// ```
    pub fn new() -> RingIo {
        RingIo::default()
    }

    /// True if the current run takes I/O operations on its ring: its
    /// reactor is io_uring, on Linux 5.19 or later. False outside trio.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::lowlevel::{IoBackend, RingIo};
    /// let on = trio::Runtime::builder().io_backend(IoBackend::Epoll).build()
    ///     .run(async { Ok::<_, trio::Error>(RingIo::is_available()) })?;
    /// assert!(!on);
    /// # Ok::<(), trio::Error>(())
    /// ```
    pub fn is_available() -> bool {
        ring_active()
    }

    /// Bytes that dropped receives got and nobody has read yet.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trio::lowlevel::RingIo::new().stashed(), 0);
    /// ```
    pub fn stashed(&self) -> usize {
        self.stash.bytes.borrow().len()
    }

    /// For a poll-based reader (`AsyncRead`) on the same socket: what dropped
    /// receives left for the next read. `Ready(Some(Ok(n)))` with `n` stashed
    /// bytes moved into `buf`; `Ready(Some(Ok(0)))` or `Ready(Some(Err(_)))`
    /// if a dropped receive found the end of the stream or an error and got
    /// no bytes (the kernel reports a reset only once: this is where it is);
    /// `Pending` while a dropped receive is still in the kernel (its result
    /// comes first; `cx` is woken when it completes); `Ready(None)` if nothing
    /// is left and nothing is on its way, or `buf` is empty — read the socket.
    ///
    /// # Errors
    ///
    /// The error a dropped receive got (`ECONNRESET`…), as an I/O error, once.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::task::Poll;
    /// # trio::run(async {
    /// let ring = trio::lowlevel::RingIo::new();
    /// let mut buf = [0u8; 8];
    /// let got = std::future::poll_fn(|cx| Poll::Ready(ring.take_stashed(cx, &mut buf))).await;
    /// assert!(matches!(got, Poll::Ready(None)), "nothing was dropped");
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn take_stashed(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<Option<Result<usize>>> {
        if self.stash.orphans.get() > 0 {
            *self.stash.waker.borrow_mut() = Some(cx.waker().clone());
            return Poll::Pending;
        }
        if buf.is_empty() {
            return Poll::Ready(None);
        }
        if self.stashed() > 0 {
            return Poll::Ready(Some(Ok(self.stash.take_into(buf))));
        }
        Poll::Ready(self.stash.take_end())
    }

    /// Receives into `buf` from the stream socket `fd` (`IORING_OP_RECV`):
    /// stashed bytes first, else what the kernel has, waiting for some.
    /// `Ok(0)` is the end of the stream (or an empty `buf`).
    ///
    /// `fd` must stay open until the future completes; close it after
    /// [`notify_closing`](crate::lowlevel::notify_closing), which ends the
    /// socket's ring operations with `ClosedResource`.
    ///
    /// # Errors
    ///
    /// `Cancelled`; [`ErrorKind::Usage`](crate::ErrorKind::Usage) if the run
    /// does not take ring operations ([`is_available`](Self::is_available));
    /// `BusyResource` if another receive on `fd` is in flight;
    /// `ClosedResource` if `fd` is closed meanwhile; the kernel's error
    /// (`ECONNRESET`, `EBADF`, `ENOTSOCK`…) as an I/O error.
    ///
    /// # Cancellation
    ///
    /// A cancellation point. A cancelled receive asks the kernel to cancel it
    /// and waits for the verdict: `Cancelled` means no byte was taken; if the
    /// bytes came anyway they are returned (the cancellation is seen at the
    /// next checkpoint). A dropped receive's bytes are stashed (see the type's
    /// notes).
    ///
    /// # Examples
    ///
    /// See the [type's example](RingIo).
    pub async fn recv(&self, fd: RawFd, buf: &mut [u8]) -> Result<usize> {
        self.read_op(fd, OpKind::Recv, &mut [IoSliceMut::new(buf)])
            .await
    }

    /// Sends from `data` on the stream socket `fd` (`IORING_OP_SEND`, from a
    /// copy the reactor owns): how many bytes went, which may be fewer than
    /// `data.len()` (at most 4 MiB per call), as with `send(2)`.
    ///
    /// `fd` must stay open until the future completes (see
    /// [`recv`](Self::recv)).
    ///
    /// # Errors
    ///
    /// As [`recv`](Self::recv), with `EPIPE` when the peer is gone.
    ///
    /// # Cancellation
    ///
    /// A cancellation point. A cancelled send asks the kernel to cancel it and
    /// waits for the verdict: `Cancelled` means nothing was sent, else the
    /// count of bytes sent is returned. A *dropped* send may have sent its
    /// bytes without telling anyone.
    ///
    /// # Examples
    ///
    /// See the [type's example](RingIo).
    pub async fn send(&self, fd: RawFd, data: &[u8]) -> Result<usize> {
        self.write_op(fd, OpKind::Send, &[IoSlice::new(data)], None)
            .await
    }
}

/// Poll-based reads and writes (`AsyncRead` / `AsyncWrite`), on the ring.
impl RingIo {
    /// The most bytes one [`poll_send`](Self::poll_send) takes (64 KiB).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trio::lowlevel::RingIo::WRITE_BEHIND_LEN, 64 * 1024);
    /// ```
    pub const WRITE_BEHIND_LEN: usize = 64 * 1024;

    /// Receives into `buf` from the stream socket `fd`, poll-style (for an
    /// `AsyncRead`): `Ready` with bytes kept from earlier receives, or the end
    /// of stream or error one found; else `Pending`, with a receive of up to
    /// `buf.len()` bytes submitted (or already in the kernel) and `cx` woken
    /// when it completes. A poll-based receive has no future to drop, so its
    /// operation is *detached*: what it gets is kept here for whichever
    /// receive comes next — this one polled again, a later one with another
    /// buffer, or an async [`recv`](Self::recv) — and nothing is lost if the
    /// caller loses interest. `Ready(Ok(0))` is the end of the stream (or an
    /// empty `buf`).
    ///
    /// `fd` must stay open until the receive completes; close it after
    /// [`notify_closing`](crate::lowlevel::notify_closing), which cancels it.
    ///
    /// # Errors
    ///
    /// As [`recv`](Self::recv) (`BusyResource` if an async receive on `fd`
    /// is in flight).
    ///
    /// # Cancellation
    ///
    /// Not a cancellation point: a task cancelled while waiting here learns
    /// it from its own cancel registration (as trio's sockets do); the
    /// receive stays in the kernel and its bytes wait for the next receive.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::fd::AsRawFd;
    /// use trio::lowlevel::{IoBackend, RingIo};
    /// # trio::Runtime::builder().io_backend(IoBackend::Auto).build().run(async {
    /// let (a, b) = std::os::unix::net::UnixStream::pair()?;
    /// if RingIo::is_available() {
    ///     let (ra, rb) = (RingIo::new(), RingIo::new());
    ///     let n = std::future::poll_fn(|cx| ra.poll_send(cx, a.as_raw_fd(), b"ping")).await?;
    ///     assert_eq!(n, 4); // taken; on its way
    ///     std::future::poll_fn(|cx| ra.poll_flush(cx)).await?; // sent
    ///     let mut buf = [0u8; 16];
    ///     let n = std::future::poll_fn(|cx| rb.poll_recv(cx, b.as_raw_fd(), &mut buf)).await?;
    ///     assert_eq!(&buf[..n], b"ping");
    /// }
    /// # Ok::<(), trio::Error>(()) }).unwrap();
    /// ```
    pub fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        fd: RawFd,
        buf: &mut [u8],
    ) -> Poll<Result<usize>> {
        if !ring_active() {
            return Poll::Ready(Err(not_available()));
        }
        let stash = &self.stash;
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        // Bytes kept so far were received before any still in the kernel.
        if self.stashed() > 0 {
            return Poll::Ready(Ok(stash.take_into(buf)));
        }
        if stash.orphans.get() == 0 {
            if let Some(end) = stash.take_end() {
                return Poll::Ready(end);
            }
            if let Err(e) = submit_detached(fd, OpKind::Recv, buf.len(), self, |_| {}) {
                return Poll::Ready(Err(e));
            }
        }
        *stash.waker.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }

    /// Sends from `data` on the stream socket `fd`, poll-style (for an
    /// `AsyncWrite`), as a *write-behind*: up to
    /// [`WRITE_BEHIND_LEN`](Self::WRITE_BEHIND_LEN) bytes are copied into a
    /// buffer the reactor owns and submitted whole, and their count is
    /// returned at once; the send completes in the kernel.
    /// [`poll_flush`](Self::poll_flush) waits for it. While one is in the
    /// kernel, the next `poll_send` waits (`Pending`, `cx` woken when it
    /// completes): one write-behind per socket, so bytes go in order — an
    /// async [`send`](Self::send) waits for it too.
    ///
    /// `fd` must stay open until the send completes: flush before closing
    /// (or shutting down) the socket — [`notify_closing`](crate::lowlevel::notify_closing)
    /// cancels a write-behind that still waits for room in the socket.
    ///
    /// # Errors
    ///
    /// The previous write-behind's failure (`EPIPE`, `ECONNRESET`…, or a
    /// [`WriteZero`](std::io::ErrorKind::WriteZero) I/O error if the socket
    /// took only part of it), once; else as [`send`](Self::send).
    ///
    /// # Cancellation
    ///
    /// As [`poll_recv`](Self::poll_recv): bytes taken are sent whatever
    /// happens to the task.
    ///
    /// # Examples
    ///
    /// See [`poll_recv`](Self::poll_recv).
    pub fn poll_send(&self, cx: &mut Context<'_>, fd: RawFd, data: &[u8]) -> Poll<Result<usize>> {
        if !ring_active() {
            return Poll::Ready(Err(not_available()));
        }
        match self.poll_flush(cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        }
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let n = data.len().min(Self::WRITE_BEHIND_LEN);
        let fill = |b: &mut Vec<u8>| b.extend_from_slice(&data[..n]);
        Poll::Ready(submit_detached(fd, OpKind::Send, n, self, fill).map(|()| n))
    }

    /// Waits for the write-behind in the kernel, if any
    /// ([`poll_send`](Self::poll_send)): `Ready(Ok(()))` once every byte
    /// `poll_send` took is in the socket.
    ///
    /// # Errors
    ///
    /// The write-behind's failure, once (see [`poll_send`](Self::poll_send)).
    ///
    /// # Cancellation
    ///
    /// As [`poll_recv`](Self::poll_recv).
    ///
    /// # Examples
    ///
    /// See [`poll_recv`](Self::poll_recv).
    pub fn poll_flush(&self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let stash = &self.stash;
        if stash.sending.get() {
            *stash.send_waker.borrow_mut() = Some(cx.waker().clone());
            return Poll::Pending;
        }
        match stash.send_error.borrow_mut().take() {
            Some(e) => Poll::Ready(Err(Error::from(e))),
            None => Poll::Ready(Ok(())),
        }
    }
}

impl RingIo {
    /// Accepts a connection on the listening socket `fd` (`IORING_OP_ACCEPT`,
    /// the new fd non-blocking and close-on-exec): connections a dropped
    /// accept got come first.
    ///
    /// `fd` must stay open until the future completes (see
    /// [`recv`](Self::recv)).
    ///
    /// # Errors
    ///
    /// As [`recv`](Self::recv); `EMFILE` and the like as I/O errors.
    ///
    /// # Cancellation
    ///
    /// A cancellation point. A cancelled accept asks the kernel to cancel it
    /// and waits for the verdict: `Cancelled` means no connection was taken;
    /// if one was, it is returned. A *dropped* accept's connection is kept
    /// for the next accept (closed with this `RingIo` if none comes): never
    /// leaked.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::fd::AsRawFd;
    /// use trio::lowlevel::{IoBackend, RingIo};
    /// # trio::Runtime::builder().io_backend(IoBackend::Auto).build().run(async {
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let addr = listener.local_addr()?;
    /// if RingIo::is_available() {
    ///     let ring = RingIo::new();
    ///     let _client = std::net::TcpStream::connect(addr)?;
    ///     let conn = std::net::TcpStream::from(ring.accept(listener.as_raw_fd()).await?);
    ///     assert_eq!(conn.local_addr()?, addr);
    /// }
    /// # Ok::<(), trio::Error>(()) }).unwrap();
    /// ```
    pub async fn accept(&self, fd: RawFd) -> Result<OwnedFd> {
        if !ring_active() {
            return Err(not_available());
        }
        // A dropped accept still in the kernel may yet get a connection: it
        // is first in line (else this accept would wait in the kernel while
        // that connection waits here).
        self.orphans_done().await?;
        if !self.stash.accepted.borrow().is_empty() {
            check_cancelled()?;
            // The schedule point first: a future dropped there has taken nothing.
            cancel_shielded_checkpoint().await?;
            if let Some(conn) = self.stash.accepted.borrow_mut().pop_front() {
                return Ok(conn);
            }
        }
        let n = ring_op(fd, OpKind::Accept, 0, self, |_| {}, None, |_, n, _| n).await?;
        let n =
            i32::try_from(n).map_err(|_| Error::from(io::Error::from_raw_os_error(libc::EBADF)))?;
        // SAFETY: `n` is the result of a completed `IORING_OP_ACCEPT` that this
        // call took: a new fd that nothing else owns.
        Ok(unsafe { OwnedFd::from_raw_fd(n) })
    }

    /// Waits until no dropped receive or accept of this socket is still in
    /// the kernel (their results, if any, are then in the stash).
    async fn orphans_done(&self) -> Result<()> {
        let stash = &self.stash;
        if stash.orphans.get() == 0 {
            return Ok(());
        }
        let mut cancel = CancelRegistration::new();
        poll_fn(|cx| {
            if stash.orphans.get() == 0 {
                return Poll::Ready(Ok(()));
            }
            if let Poll::Ready(e) = cancel.poll_cancelled(cx) {
                return Poll::Ready(Err(e));
            }
            *stash.waker.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }

    /// Connections dropped accepts got that nobody has taken yet.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trio::lowlevel::RingIo::new().accepted(), 0);
    /// ```
    pub fn accepted(&self) -> usize {
        self.stash.accepted.borrow().len()
    }
}

/// Datagrams, connect, pipes and the vectored forms.
impl RingIo {
    /// Connects the socket `fd` to `addr` (`IORING_OP_CONNECT`).
    ///
    /// `fd` must stay open until the future completes (see
    /// [`recv`](Self::recv)).
    ///
    /// # Errors
    ///
    /// As [`recv`](Self::recv); `ECONNREFUSED`, `ENETUNREACH` and the like as
    /// I/O errors.
    ///
    /// # Cancellation
    ///
    /// A cancellation point. A cancelled connect asks the kernel to cancel it
    /// and waits for the verdict: `Cancelled`, or the connect's own result if
    /// it finished first. Either way a socket whose connect was cancelled is
    /// best closed (Trio's rule): its state is not worth guessing.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::fd::AsRawFd;
    /// use trio::lowlevel::{IoBackend, RingIo};
    /// # trio::Runtime::builder().io_backend(IoBackend::Auto).build().run(async {
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let addr = socket2::SockAddr::from(listener.local_addr()?);
    /// if RingIo::is_available() {
    ///     let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    ///     sock.set_nonblocking(true)?;
    ///     RingIo::new().connect(sock.as_raw_fd(), &addr).await?;
    ///     assert_eq!(sock.peer_addr()?.as_socket(), addr.as_socket());
    /// }
    /// # Ok::<(), trio::Error>(()) }).unwrap();
    /// ```
    pub async fn connect(&self, fd: RawFd, addr: &SockAddr) -> Result<()> {
        if !ring_active() {
            return Err(not_available());
        }
        ring_op(
            fd,
            OpKind::Connect,
            0,
            self,
            |_| {},
            Some(addr),
            |_, _, _| (),
        )
        .await
    }

    /// Receives one datagram into `buf` from the socket `fd`, with its sender
    /// (`IORING_OP_RECVMSG`): datagrams dropped receives got come first. A
    /// datagram longer than `buf` is cut to it, as with `recvfrom(2)`.
    ///
    /// # Errors
    ///
    /// As [`recv`](Self::recv).
    ///
    /// # Cancellation
    ///
    /// As [`recv`](Self::recv): `Cancelled` means no datagram was taken; a
    /// dropped receive's datagram is kept, whole and with its sender, for the
    /// next `recv_from`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::fd::AsRawFd;
    /// use trio::lowlevel::{IoBackend, RingIo};
    /// # trio::Runtime::builder().io_backend(IoBackend::Auto).build().run(async {
    /// let a = std::net::UdpSocket::bind("127.0.0.1:0")?;
    /// let b = std::net::UdpSocket::bind("127.0.0.1:0")?;
    /// if RingIo::is_available() {
    ///     let ring = RingIo::new();
    ///     let to = socket2::SockAddr::from(b.local_addr()?);
    ///     assert_eq!(ring.send_to(a.as_raw_fd(), b"ping", &to).await?, 4);
    ///     let mut buf = [0u8; 16];
    ///     let (n, from) = RingIo::new().recv_from(b.as_raw_fd(), &mut buf).await?;
    ///     assert_eq!((&buf[..n], from.as_socket()), (&b"ping"[..], Some(a.local_addr()?)));
    /// }
    /// # Ok::<(), trio::Error>(()) }).unwrap();
    /// ```
    pub async fn recv_from(&self, fd: RawFd, buf: &mut [u8]) -> Result<(usize, SockAddr)> {
        if !ring_active() {
            return Err(not_available());
        }
        self.orphans_done().await?;
        if !self.stash.datagrams.borrow().is_empty() {
            check_cancelled()?;
            // The schedule point first: a future dropped there has taken nothing.
            cancel_shielded_checkpoint().await?;
            if let Some((datagram, from)) = self.stash.datagrams.borrow_mut().pop_front() {
                let n = datagram.len().min(buf.len());
                buf[..n].copy_from_slice(&datagram[..n]);
                return Ok((n, from));
            }
        }
        let len = buf.len();
        ring_op(
            fd,
            OpKind::RecvFrom,
            len,
            self,
            |_| {},
            None,
            |owned, n, msg| {
                buf[..n].copy_from_slice(&owned[..n]);
                let from = msg.map(|m| m.sender());
                (
                    n,
                    from.expect("a datagram receive carries its address parts"),
                )
            },
        )
        .await
    }

    /// Sends one datagram from `data` to `addr` on the socket `fd`
    /// (`IORING_OP_SENDMSG`, from a copy the reactor owns): how many bytes
    /// went.
    ///
    /// # Errors
    ///
    /// As [`recv`](Self::recv); `EMSGSIZE` for a datagram longer than 4 MiB
    /// (the ring's limit) or than the socket takes.
    ///
    /// # Cancellation
    ///
    /// As [`send`](Self::send).
    ///
    /// # Examples
    ///
    /// See [`recv_from`](Self::recv_from).
    pub async fn send_to(&self, fd: RawFd, data: &[u8], addr: &SockAddr) -> Result<usize> {
        if !ring_active() {
            return Err(not_available());
        }
        if data.len() > MAX_BUF {
            check_cancelled()?;
            return Err(Error::from(io::Error::from_raw_os_error(libc::EMSGSIZE)));
        }
        self.write_op(fd, OpKind::SendTo, &[IoSlice::new(data)], Some(addr))
            .await
    }

    /// Reads into `buf` from the pipe (or other stream file) `fd` at its
    /// position (`IORING_OP_READ`): stashed bytes first. `Ok(0)` is the end of
    /// the file.
    ///
    /// # Errors
    ///
    /// As [`recv`](Self::recv). A kernel that answers `EAGAIN` for a
    /// non-blocking file (before Linux 5.19 some did) gives a
    /// [`WouldBlock`](crate::ErrorKind::WouldBlock) error: wait for readiness
    /// and read yourself.
    ///
    /// # Cancellation
    ///
    /// As [`recv`](Self::recv).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Write;
    /// use std::os::fd::AsRawFd;
    /// use trio::lowlevel::{IoBackend, RingIo};
    /// # trio::Runtime::builder().io_backend(IoBackend::Auto).build().run(async {
    /// let (r, mut w) = std::io::pipe()?;
    /// if RingIo::is_available() {
    ///     w.write_all(b"hello")?;
    ///     let mut buf = [0u8; 16];
    ///     let n = RingIo::new().read(r.as_raw_fd(), &mut buf).await?;
    ///     assert_eq!(&buf[..n], b"hello");
    /// }
    /// # Ok::<(), trio::Error>(()) }).unwrap();
    /// ```
    pub async fn read(&self, fd: RawFd, buf: &mut [u8]) -> Result<usize> {
        self.read_op(fd, OpKind::Read, &mut [IoSliceMut::new(buf)])
            .await
    }

    /// Writes from `data` to the pipe (or other stream file) `fd` at its
    /// position (`IORING_OP_WRITE`, from a copy the reactor owns): how many
    /// bytes went (at most 4 MiB per call).
    ///
    /// # Errors
    ///
    /// As [`read`](Self::read), with `EPIPE` when the reader is gone.
    ///
    /// # Cancellation
    ///
    /// As [`send`](Self::send).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Read;
    /// use std::os::fd::AsRawFd;
    /// use trio::lowlevel::{IoBackend, RingIo};
    /// # trio::Runtime::builder().io_backend(IoBackend::Auto).build().run(async {
    /// let (mut r, w) = std::io::pipe()?;
    /// if RingIo::is_available() {
    ///     assert_eq!(RingIo::new().write(w.as_raw_fd(), b"hello").await?, 5);
    ///     let mut buf = [0u8; 5];
    ///     r.read_exact(&mut buf)?;
    ///     assert_eq!(&buf, b"hello");
    /// }
    /// # Ok::<(), trio::Error>(()) }).unwrap();
    /// ```
    pub async fn write(&self, fd: RawFd, data: &[u8]) -> Result<usize> {
        self.write_op(fd, OpKind::Write, &[IoSlice::new(data)], None)
            .await
    }

    /// Receives into several buffers, filled in order, from the stream socket
    /// `fd` (one `IORING_OP_RECV`, scattered): how many bytes in all.
    ///
    /// # Errors
    ///
    /// As [`recv`](Self::recv).
    ///
    /// # Cancellation
    ///
    /// As [`recv`](Self::recv).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::{IoSlice, IoSliceMut};
    /// use std::os::fd::AsRawFd;
    /// use trio::lowlevel::{IoBackend, RingIo};
    /// # trio::Runtime::builder().io_backend(IoBackend::Auto).build().run(async {
    /// let (a, b) = std::os::unix::net::UnixStream::pair()?;
    /// if RingIo::is_available() {
    ///     let parts = [IoSlice::new(b"head,"), IoSlice::new(b"body")];
    ///     assert_eq!(RingIo::new().send_vectored(a.as_raw_fd(), &parts).await?, 9);
    ///     let (mut x, mut y) = ([0u8; 3], [0u8; 8]);
    ///     let mut bufs = [IoSliceMut::new(&mut x), IoSliceMut::new(&mut y)];
    ///     let n = RingIo::new().recv_vectored(b.as_raw_fd(), &mut bufs).await?;
    ///     assert_eq!((n, &x, &y[..6]), (9, b"hea", &b"d,body"[..]));
    /// }
    /// # Ok::<(), trio::Error>(()) }).unwrap();
    /// ```
    pub async fn recv_vectored(&self, fd: RawFd, bufs: &mut [IoSliceMut<'_>]) -> Result<usize> {
        self.read_op(fd, OpKind::Recv, bufs).await
    }

    /// Sends from several buffers, in order, on the stream socket `fd` (one
    /// `IORING_OP_SEND` of their gathered copy): how many bytes went (at most
    /// 4 MiB per call).
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    ///
    /// # Cancellation
    ///
    /// As [`send`](Self::send).
    ///
    /// # Examples
    ///
    /// See [`recv_vectored`](Self::recv_vectored).
    pub async fn send_vectored(&self, fd: RawFd, bufs: &[IoSlice<'_>]) -> Result<usize> {
        self.write_op(fd, OpKind::Send, bufs, None).await
    }

    /// A stream receive or read: bytes dropped receives got first (waiting
    /// for those still in the kernel), else one ring operation, scattered
    /// into `bufs`.
    async fn read_op(&self, fd: RawFd, kind: OpKind, bufs: &mut [IoSliceMut<'_>]) -> Result<usize> {
        if !ring_active() {
            return Err(not_available());
        }
        // Bytes of a dropped receive may still come: they are first in line.
        self.orphans_done().await?;
        if !self.stash.bytes.borrow().is_empty() {
            check_cancelled()?;
            // The schedule point first: a future dropped there has taken nothing.
            cancel_shielded_checkpoint().await?;
            let mut bytes = self.stash.bytes.borrow_mut();
            let n = scatter(&bytes, bufs);
            bytes.drain(..n);
            return Ok(n);
        }
        if self.stash.end.get().is_some() {
            check_cancelled()?;
            cancel_shielded_checkpoint().await?;
            if let Some(end) = self.stash.take_end() {
                return end;
            }
        }
        let len = bufs.iter().map(|b| b.len()).sum();
        ring_op(
            fd,
            kind,
            len,
            self,
            |_| {},
            None,
            |owned, n, _| scatter(&owned[..n], bufs),
        )
        .await
    }

    /// A send or write of `bufs` gathered into one owned buffer (to `addr`,
    /// for a datagram).
    async fn write_op(
        &self,
        fd: RawFd,
        kind: OpKind,
        bufs: &[IoSlice<'_>],
        addr: Option<&SockAddr>,
    ) -> Result<usize> {
        if !ring_active() {
            return Err(not_available());
        }
        // A write-behind still in the kernel goes first (and its failure,
        // if it failed, is this send's). Most sends have none: no wait set up.
        if self.stash.sending.get() || self.stash.send_error.borrow().is_some() {
            let mut cancel = CancelRegistration::new();
            poll_fn(|cx| match self.poll_flush(cx) {
                Poll::Pending => match cancel.poll_cancelled(cx) {
                    Poll::Ready(e) => Poll::Ready(Err(e)),
                    Poll::Pending => Poll::Pending,
                },
                done => done,
            })
            .await?;
        }
        let len = bufs.iter().map(|b| b.len()).sum();
        let fill = |owned: &mut Vec<u8>| {
            for b in bufs {
                let room = MAX_BUF - owned.len();
                owned.extend_from_slice(&b[..b.len().min(room)]);
            }
        };
        ring_op(fd, kind, len, self, fill, addr, |_, n, _| n).await
    }
}

/// Copies `src` into `bufs` in order, as far as they hold: how many bytes.
fn scatter(src: &[u8], bufs: &mut [IoSliceMut<'_>]) -> usize {
    let mut done = 0;
    for b in bufs {
        let n = b.len().min(src.len() - done);
        b[..n].copy_from_slice(&src[done..done + n]);
        done += n;
    }
    done
}
