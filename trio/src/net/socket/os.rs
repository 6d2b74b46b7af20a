//! The operating-system side of [`Socket`](super::Socket): a non-blocking `socket2`
//! socket, registered lazily with the reactor, with Trio's "try, then wait" loop.
//!
//! # Invariants
//!
//! * `sock` is `None` exactly when the socket was closed (or detached). Every system
//!   call borrows it for the duration of the call only, so closing from another task
//!   can only happen *between* calls, and the next call sees `None`.
//! * `reg` is `Some` only while `sock` is `Some`: it is created on the first operation
//!   that would block, and dropped (deregistering the fd) *before* the fd is closed.
//! * `dirs[d].busy` is set while one operation owns the wait in direction `d`; a
//!   second operation that would have to wait meanwhile fails with `BusyResource`
//!   (Trio: one waiter per fd and direction). `dirs[d].waker` is the waker of the task
//!   blocked in that direction, so that `close` can wake it (the registration's own
//!   wakers are only ever woken by kernel events).

use crate::sys::source::RawSource as RawFd;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::poll_fn;
use std::io::{self, IoSlice, IoSliceMut, Read};
use std::mem::MaybeUninit;
use std::task::{Context, Poll, Waker};

use socket2::{Domain, Protocol, SockAddr, Type};

use crate::kept::{Keep, KeepInto, scatter, take_kept};
use crate::lowlevel::{
    CancelRegistration, IoDirection, IoReady, IoRegistration, cancel_shielded_checkpoint,
    checkpoint_if_cancelled, notify_closing, try_current_task,
};
use crate::{Error, ErrorKind, Result};

use crate::sys::socket::SEND_FLAGS;

pub(super) fn closed_error() -> Error {
    Error::new(ErrorKind::ClosedResource, "this socket was already closed")
}

fn closed_io() -> io::Error {
    io::Error::from(closed_error())
}

fn index(dir: IoDirection) -> usize {
    match dir {
        IoDirection::Read => 0,
        IoDirection::Write => 1,
    }
}

/// The wait state of one direction.
#[derive(Default)]
struct DirWait {
    busy: Cell<bool>,
    waker: RefCell<Option<Waker>>,
    /// The cancel registration of the poll-based API (`AsyncRead`/`AsyncWrite`),
    /// which has no future of its own to keep it in.
    poll_cancel: RefCell<CancelRegistration>,
}

pub(super) struct OsSocket {
    // Field order matters only for clarity: `close` drops `reg` before `sock`.
    reg: RefCell<Option<IoRegistration>>,
    sock: RefCell<Option<socket2::Socket>>,
    fd: RawFd,
    domain: Domain,
    ty: Type,
    protocol: Option<Protocol>,
    shut_wr: Cell<bool>,
    /// Bytes a receive took whose future was dropped before returning them
    /// (at its closing schedule point): the next receive returns them first.
    kept: RefCell<Vec<u8>>,
    /// A connection an accept took whose future was dropped before returning
    /// it: the next accept returns it.
    kept_conn: RefCell<Option<(socket2::Socket, SockAddr)>>,
    /// Datagrams (with their senders) receives took whose futures were
    /// dropped before returning them: the next receives return them first.
    kept_datagrams: RefCell<VecDeque<(Vec<u8>, SockAddr)>>,
    dirs: [DirWait; 2],
    /// Bytes a dropped ring receive got (io_uring reactor), returned first by
    /// the next receive.
    #[cfg(target_os = "linux")]
    ring: crate::lowlevel::RingIo,
}

/// Ownership of a direction's wait by one operation; released on drop.
struct Owner<'a> {
    dir: &'a DirWait,
    owns: bool,
}

impl Drop for Owner<'_> {
    fn drop(&mut self) {
        if self.owns {
            self.dir.busy.set(false);
            self.dir.waker.borrow_mut().take();
        }
    }
}

impl OsSocket {
    /// Wraps a socket that is already non-blocking and close-on-exec.
    pub(super) fn new(
        sock: socket2::Socket,
        domain: Domain,
        ty: Type,
        protocol: Option<Protocol>,
    ) -> OsSocket {
        OsSocket {
            reg: RefCell::new(None),
            fd: crate::sys::socket::raw_source(&sock),
            sock: RefCell::new(Some(sock)),
            domain,
            ty,
            protocol,
            shut_wr: Cell::new(false),
            kept: RefCell::new(Vec::new()),
            kept_conn: RefCell::new(None),
            kept_datagrams: RefCell::new(VecDeque::new()),
            dirs: Default::default(),
            #[cfg(target_os = "linux")]
            ring: Default::default(),
        }
    }

    pub(super) fn domain(&self) -> Domain {
        self.domain
    }

    pub(super) fn ty(&self) -> Type {
        self.ty
    }

    pub(super) fn protocol(&self) -> Option<Protocol> {
        self.protocol
    }

    pub(super) fn raw_fd(&self) -> RawFd {
        if self.sock.borrow().is_some() {
            self.fd
        } else {
            crate::sys::source::INVALID
        }
    }

    pub(super) fn is_closed(&self) -> bool {
        self.sock.borrow().is_none()
    }

    pub(super) fn did_shutdown_write(&self) -> bool {
        self.shut_wr.get()
    }

    /// Runs one system call on the socket (`ClosedResource` once closed).
    #[inline]
    pub(super) fn sys<R>(
        &self,
        f: impl FnOnce(&socket2::Socket) -> io::Result<R>,
    ) -> io::Result<R> {
        match &*self.sock.borrow() {
            Some(s) => f(s),
            None => Err(closed_io()),
        }
    }

    pub(super) fn with_socket2<R>(
        &self,
        f: impl FnOnce(&socket2::Socket) -> io::Result<R>,
    ) -> Result<R> {
        self.sys(f).map_err(Error::from)
    }

    pub(super) fn shutdown(&self, how: std::net::Shutdown) -> Result<()> {
        self.sys(|s| s.shutdown(how))?;
        if matches!(how, std::net::Shutdown::Write | std::net::Shutdown::Both) {
            self.shut_wr.set(true);
        }
        Ok(())
    }

    /// Closes the fd: deregisters it, tells the reactor (so raw `wait_readable`
    /// waiters wake with `ClosedResource`), closes it, and wakes the tasks blocked
    /// on it here. Idempotent.
    pub(super) fn close(&self) {
        let Some(sock) = self.sock.borrow_mut().take() else {
            return;
        };
        drop(self.reg.borrow_mut().take());
        if try_current_task().is_some() {
            notify_closing(self.fd);
        }
        drop(sock);
        for d in &self.dirs {
            if let Some(w) = d.waker.borrow_mut().take() {
                w.wake();
            }
        }
    }

    /// Takes the socket out (detach): deregistered, not closed. The reactor
    /// lets go of it as of a closed one (`notify_closing`): a ring operation
    /// of a dropped future still in the kernel is cancelled, so that it does
    /// not take bytes or a connection from the socket's new owner.
    pub(super) fn detach(&self) -> Option<socket2::Socket> {
        let sock = self.sock.borrow_mut().take()?;
        drop(self.reg.borrow_mut().take());
        if try_current_task().is_some() {
            notify_closing(self.fd);
        }
        for d in &self.dirs {
            if let Some(w) = d.waker.borrow_mut().take() {
                w.wake();
            }
        }
        Some(sock)
    }

    /// Claims direction `dir` for one operation (released on drop).
    #[cfg(target_os = "linux")]
    fn claim(&self, dir: IoDirection) -> Owner<'_> {
        let d = &self.dirs[index(dir)];
        d.busy.set(true);
        Owner { dir: d, owns: true }
    }

    fn is_registered(&self) -> bool {
        self.reg.borrow().is_some()
    }

    fn ensure_registered(&self) -> io::Result<()> {
        if self.reg.borrow().is_some() {
            return Ok(());
        }
        let fd = match &*self.sock.borrow() {
            Some(s) => crate::sys::socket::raw_source(s),
            None => return Err(closed_io()),
        };
        let reg = IoRegistration::new(fd).map_err(io::Error::from)?;
        *self.reg.borrow_mut() = Some(reg);
        Ok(())
    }

    /// Readiness of `dir`: the report if ready, `ClosedResource` if closed, else
    /// `Pending` with `cx` registered for readiness and for `close`.
    fn poll_dir(&self, cx: &mut Context<'_>, dir: IoDirection) -> Poll<io::Result<IoReady>> {
        let reg = self.reg.borrow();
        let Some(reg) = reg.as_ref() else {
            return Poll::Ready(Err(closed_io()));
        };
        match reg.poll_ready(cx, dir) {
            Poll::Ready(r) => Poll::Ready(Ok(r)),
            Poll::Pending => {
                let mut w = self.dirs[index(dir)].waker.borrow_mut();
                if !w.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    *w = Some(cx.waker().clone());
                }
                Poll::Pending
            }
        }
    }

    fn clear_ready(&self, dir: IoDirection, seen: IoReady) {
        if let Some(reg) = self.reg.borrow().as_ref() {
            reg.clear_ready(dir, seen);
        }
    }

    /// The heart of every operation: try `f` when the direction may be ready, wait
    /// when it would block. `owner` is `Some` for the async API (it claims the
    /// direction while waiting) and `None` for the poll API (it only checks).
    fn poll_io<R>(
        &self,
        cx: &mut Context<'_>,
        dir: IoDirection,
        f: &mut impl FnMut(&socket2::Socket) -> io::Result<R>,
        drained: impl Fn(&R) -> bool,
        cancel: &mut CancelRegistration,
        owner: Option<&mut Owner<'_>>,
    ) -> Poll<io::Result<R>> {
        if !self.is_registered() {
            // Never waited on yet: try the call first (Trio's `_try_sync`), and
            // register only if it would block. Most sockets that never block never
            // cost an `epoll_ctl`.
            match self.sys(&mut *f) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.ensure_registered()?,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => self.ensure_registered()?,
                other => return Poll::Ready(other),
            }
        }
        let d = &self.dirs[index(dir)];
        if d.busy.get() && !owner.as_ref().is_some_and(|o| o.owns) {
            // Another task waits in this direction: we must not register our
            // waker over its own. Trio refuses a second waiter only if the call
            // would block, so try it once.
            return match self.sys(&mut *f) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    Poll::Ready(Err(busy_error(dir).into()))
                }
                other => Poll::Ready(other),
            };
        }
        loop {
            match self.poll_dir(cx, dir) {
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(report)) => match self.sys(&mut *f) {
                    Ok(r) => {
                        if drained(&r) {
                            // A short read drained the socket: forget the readiness
                            // now instead of after a failed read (a newer edge
                            // survives, and so does an end of stream that arrived
                            // with the data: see `IoRegistration::clear_ready`).
                            self.clear_ready(dir, report);
                        }
                        cancel.clear();
                        return Poll::Ready(Ok(r));
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        self.clear_ready(dir, report)
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        cancel.clear();
                        return Poll::Ready(Err(e));
                    }
                },
                Poll::Pending => {
                    if let Some(o) = owner {
                        if !o.owns {
                            self.dirs[index(dir)].busy.set(true);
                            o.owns = true;
                        }
                    }
                    if let Poll::Ready(e) = cancel.poll_cancelled(cx) {
                        return Poll::Ready(Err(e.into()));
                    }
                    return Poll::Pending;
                }
            }
        }
    }

    /// An async operation with Trio's checkpoint rules: a cancellation point first;
    /// if it completes without blocking, a schedule point after.
    async fn io<R>(
        &self,
        dir: IoDirection,
        f: impl FnMut(&socket2::Socket) -> io::Result<R>,
        drained: impl Fn(&R) -> bool,
    ) -> Result<R> {
        let (res, blocked) = self.io_op(dir, f, drained).await?;
        if !blocked {
            cancel_shielded_checkpoint().await?;
        }
        res.map_err(Error::from)
    }

    /// An [`io_op`](Self::io_op) result's value; an error only after the
    /// schedule point the operation owes if it did not wait.
    async fn ok_or_checkpoint<R>(&self, res: io::Result<R>, blocked: bool) -> Result<R> {
        match res {
            Ok(v) => Ok(v),
            Err(e) => {
                if !blocked {
                    cancel_shielded_checkpoint().await?;
                }
                Err(Error::from(e))
            }
        }
    }

    /// The operation of [`io`](Self::io) without its closing schedule point:
    /// the result, and whether it had to wait (then it was a schedule point).
    async fn io_op<R>(
        &self,
        dir: IoDirection,
        mut f: impl FnMut(&socket2::Socket) -> io::Result<R>,
        drained: impl Fn(&R) -> bool,
    ) -> Result<(io::Result<R>, bool)> {
        checkpoint_if_cancelled()?;
        let mut cancel = CancelRegistration::new();
        let mut owner = Owner {
            dir: &self.dirs[index(dir)],
            owns: false,
        };
        let mut blocked = false;
        let res = poll_fn(|cx| {
            let p = self.poll_io(cx, dir, &mut f, &drained, &mut cancel, Some(&mut owner));
            if p.is_pending() {
                blocked = true;
            }
            p
        })
        .await;
        drop(owner);
        Ok((res, blocked))
    }

    /// Waits until `dir` is ready, as a checkpoint. The "operation" is a
    /// zero-timeout `poll(2)`, so a stale readiness report is never taken for the
    /// real thing (Trio's `wait_readable` is exact, not a hint).
    pub(super) async fn wait(&self, dir: IoDirection) -> Result<()> {
        self.ensure_registered()?;
        let write = dir == IoDirection::Write;
        self.io(dir, |s| crate::sys::socket::poll_now(s, write), |_| false)
            .await
    }

    /// True if a receive would not block now (Trio's `is_readable`).
    pub(super) fn is_readable(&self) -> Result<bool> {
        match self.sys(|s| crate::sys::socket::poll_now(s, false)) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(Error::from(e)),
        }
    }

    /// Uses a ring operation (`lowlevel::RingIo`) for this socket's operation
    /// in `dir` on `len` bytes: on the io_uring reactor, with no other task
    /// busy in that direction; for a stream, a non-empty buffer; for a
    /// datagram, one the ring takes whole (a longer one keeps readiness, so
    /// that it is never cut).
    #[cfg(target_os = "linux")]
    fn ring_ok(&self, dir: IoDirection, len: usize) -> bool {
        use crate::lowlevel::RingIo;
        let size_ok = if self.ty == Type::STREAM {
            len > 0
        } else {
            len <= RingIo::MAX_LEN
        };
        RingIo::is_available()
            && size_ok
            && !self.dirs[index(dir)].busy.get()
            && self.sock.borrow().is_some()
    }

    pub(super) async fn recv(&self, buf: &mut [u8]) -> Result<usize> {
        #[cfg(target_os = "linux")]
        if self.ring_ok(IoDirection::Read, buf.len()) {
            let _owner = self.claim(IoDirection::Read);
            if self.ty != Type::STREAM {
                // A datagram receive keeps datagrams whole if dropped.
                return Ok(self.ring.recv_from(self.fd, buf).await?.0);
            }
            return self.ring.recv(self.fd, buf).await;
        }
        self.recv_ready(&mut [IoSliceMut::new(buf)]).await
    }

    pub(super) async fn recv_vectored(&self, bufs: &mut [IoSliceMut<'_>]) -> Result<usize> {
        #[cfg(target_os = "linux")]
        if self.ty == Type::STREAM && self.ring_ok(IoDirection::Read, total_len(bufs)) {
            let _owner = self.claim(IoDirection::Read);
            return self.ring.recv_vectored(self.fd, bufs).await;
        }
        self.recv_ready(bufs).await
    }

    /// A receive on the readiness path: kept bytes first, then the socket.
    async fn recv_ready(&self, bufs: &mut [IoSliceMut<'_>]) -> Result<usize> {
        if self.ty != Type::STREAM {
            return Ok(self.recv_datagram(bufs).await?.0);
        }
        let len = total_len(bufs);
        if len > 0 && !self.kept.borrow().is_empty() {
            // Bytes a dropped receive took: the schedule point first, so a
            // future dropped there has taken nothing.
            checkpoint_if_cancelled()?;
            cancel_shielded_checkpoint().await?;
            return Ok(take_kept(&self.kept, bufs));
        }
        let (res, blocked) = self
            .io_op(IoDirection::Read, |s| recv(s, bufs), |&n| n > 0 && n < len)
            .await?;
        let n = self.ok_or_checkpoint(res, blocked).await?;
        if !blocked {
            // The bytes are taken: if the future is dropped at the schedule
            // point, they are kept for the next receive.
            let keep = Keep {
                into: KeepInto::Bytes(&self.kept),
                parts: bufs,
                n,
            };
            cancel_shielded_checkpoint().await?;
            std::mem::forget(keep);
        }
        Ok(n)
    }

    /// A datagram receive on the readiness path: datagrams dropped receives
    /// took first (whole, with their senders), then the socket.
    async fn recv_datagram(&self, bufs: &mut [IoSliceMut<'_>]) -> Result<(usize, SockAddr)> {
        if !self.kept_datagrams.borrow().is_empty() {
            // The schedule point first: a future dropped there has taken nothing.
            checkpoint_if_cancelled()?;
            cancel_shielded_checkpoint().await?;
            if let Some((d, from)) = self.kept_datagrams.borrow_mut().pop_front() {
                return Ok((scatter(&d, bufs), from));
            }
        }
        let (res, blocked) = self
            .io_op(IoDirection::Read, |s| recv_from(s, bufs), |_| false)
            .await?;
        let (n, from) = self.ok_or_checkpoint(res, blocked).await?;
        if !blocked {
            // Taken: if the future is dropped at the schedule point, the
            // datagram is kept, whole, for the next receive.
            let keep = Keep {
                into: KeepInto::Datagram(&self.kept_datagrams, from.clone()),
                parts: bufs,
                n,
            };
            cancel_shielded_checkpoint().await?;
            std::mem::forget(keep);
        }
        Ok((n, from))
    }

    pub(super) async fn recv_from(&self, buf: &mut [u8]) -> Result<(usize, SockAddr)> {
        #[cfg(target_os = "linux")]
        if self.ty != Type::STREAM && self.ring_ok(IoDirection::Read, buf.len()) {
            let _owner = self.claim(IoDirection::Read);
            return self.ring.recv_from(self.fd, buf).await;
        }
        if self.ty != Type::STREAM {
            return self.recv_datagram(&mut [IoSliceMut::new(buf)]).await;
        }
        self.io(
            IoDirection::Read,
            |s| recv_from(s, &mut [IoSliceMut::new(buf)]),
            |_| false,
        )
        .await
    }

    pub(super) async fn send(&self, buf: &[u8]) -> Result<usize> {
        #[cfg(target_os = "linux")]
        if self.ring_ok(IoDirection::Write, buf.len()) {
            let _owner = self.claim(IoDirection::Write);
            return self.ring.send(self.fd, buf).await;
        }
        self.io(
            IoDirection::Write,
            |s| s.send_with_flags(buf, SEND_FLAGS),
            |_| false,
        )
        .await
    }

    pub(super) async fn send_vectored(&self, bufs: &[IoSlice<'_>]) -> Result<usize> {
        #[cfg(target_os = "linux")]
        if self.ring_ok(IoDirection::Write, bufs.iter().map(|b| b.len()).sum()) {
            let _owner = self.claim(IoDirection::Write);
            return self.ring.send_vectored(self.fd, bufs).await;
        }
        self.io(
            IoDirection::Write,
            |s| s.send_vectored_with_flags(bufs, SEND_FLAGS),
            |_| false,
        )
        .await
    }

    pub(super) async fn send_to(&self, buf: &[u8], addr: &SockAddr) -> Result<usize> {
        #[cfg(target_os = "linux")]
        if self.ty != Type::STREAM && self.ring_ok(IoDirection::Write, buf.len()) {
            let _owner = self.claim(IoDirection::Write);
            return self.ring.send_to(self.fd, buf, addr).await;
        }
        self.io(
            IoDirection::Write,
            |s| s.send_to_with_flags(buf, addr, SEND_FLAGS),
            |_| false,
        )
        .await
    }

    pub(super) async fn accept(&self) -> Result<(OsSocket, SockAddr)> {
        #[cfg(target_os = "linux")]
        if self.ring_ok(IoDirection::Read, 1) {
            let _owner = self.claim(IoDirection::Read);
            let sock = socket2::Socket::from(self.ring.accept(self.fd).await?);
            // A peer that reset the connection at once has no address any
            // more (`ENOTCONN`): the connection is still handed over, as
            // `accept4` would, with an unspecified address of its family; its
            // first read reports the reset. An accept never fails for one
            // client's behaviour.
            let addr = sock
                .peer_addr()
                .unwrap_or_else(|_| unspecified_addr(self.domain));
            return Ok((
                OsSocket::new(sock, self.domain, self.ty, self.protocol),
                addr,
            ));
        }
        if self.kept_conn.borrow().is_some() {
            // The schedule point first: a future dropped there has taken nothing.
            checkpoint_if_cancelled()?;
            cancel_shielded_checkpoint().await?;
            if let Some((sock, addr)) = self.kept_conn.borrow_mut().take() {
                return Ok((
                    OsSocket::new(sock, self.domain, self.ty, self.protocol),
                    addr,
                ));
            }
        }
        let (res, blocked) = self.io_op(IoDirection::Read, accept, |_| false).await?;
        let (sock, addr) = self.ok_or_checkpoint(res, blocked).await?;
        let (sock, addr) = if blocked {
            (sock, addr)
        } else {
            // Taken: if the future is dropped at the schedule point, the
            // connection is kept for the next accept, not closed.
            *self.kept_conn.borrow_mut() = Some((sock, addr));
            cancel_shielded_checkpoint().await?;
            self.kept_conn
                .borrow_mut()
                .take()
                .expect("only this accept takes it back")
        };
        Ok((
            OsSocket::new(sock, self.domain, self.ty, self.protocol),
            addr,
        ))
    }

    /// Trio's non-blocking connect: start it, wait until writable, read `SO_ERROR`.
    /// The caller closes the socket if this is cancelled.
    pub(super) async fn connect(&self, addr: &SockAddr) -> Result<()> {
        #[cfg(target_os = "linux")]
        if self.ring_ok(IoDirection::Write, 1) {
            let _owner = self.claim(IoDirection::Write);
            return match self.ring.connect(self.fd, addr).await {
                Err(e) if e.kind() == ErrorKind::Io => Err(connect_error(addr, e.into())),
                r => r,
            };
        }
        checkpoint_if_cancelled()?;
        match self.sys(|s| s.connect(addr)) {
            Ok(()) => {
                cancel_shielded_checkpoint().await?;
                return Ok(());
            }
            Err(e) if crate::sys::socket::connect_in_progress(&e) => {}
            Err(e) => {
                cancel_shielded_checkpoint().await?;
                return Err(connect_error(addr, e));
            }
        }
        self.ensure_registered()?;
        let mut cancel = CancelRegistration::new();
        let mut owner = Owner {
            dir: &self.dirs[index(IoDirection::Write)],
            owns: false,
        };
        // "Writable" may be a stale report from before the connect started; the
        // operation below tells a finished connect from one still in progress
        // (`getpeername` fails with `ENOTCONN` until it is done).
        let res = poll_fn(|cx| {
            self.poll_io(
                cx,
                IoDirection::Write,
                &mut |s: &socket2::Socket| match s.take_error()? {
                    Some(e) => Ok(Err(e)),
                    None => match s.peer_addr() {
                        Ok(_) => Ok(Ok(())),
                        Err(e) if crate::sys::socket::is_not_connected(&e) => {
                            Err(io::ErrorKind::WouldBlock.into())
                        }
                        Err(e) => Ok(Err(e)),
                    },
                },
                |_| false,
                &mut cancel,
                Some(&mut owner),
            )
        })
        .await;
        match res {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(connect_error(addr, e)),
            Err(e) => Err(Error::from(e)),
        }
    }

    // ---- the poll API -------------------------------------------------------------

    pub(super) fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if let Err(e) = checkpoint_if_cancelled() {
            return Poll::Ready(Err(e.into()));
        }
        // Bytes dropped ring receives got come first (io_uring reactor),
        // including those of one still in the kernel.
        if !buf.is_empty() && !self.kept.borrow().is_empty() {
            return Poll::Ready(Ok(take_kept(&self.kept, &mut [IoSliceMut::new(buf)])));
        }
        let len = buf.len();
        let stream = self.ty == Type::STREAM;
        #[cfg(target_os = "linux")]
        if stream && self.ring_ok(IoDirection::Read, len) {
            return self.poll_ring(cx, IoDirection::Read, |ring, cx| {
                ring.poll_recv(cx, self.fd, buf)
            });
        }
        #[cfg(target_os = "linux")]
        match self.ring.take_stashed(cx, buf) {
            Poll::Ready(Some(got)) => return Poll::Ready(got.map_err(io::Error::from)),
            Poll::Pending => return Poll::Pending,
            Poll::Ready(None) => {}
        }
        let d = &self.dirs[index(IoDirection::Read)];
        let mut cancel = d.poll_cancel.borrow_mut();
        self.poll_io(
            cx,
            IoDirection::Read,
            &mut |s| recv(s, &mut [IoSliceMut::new(buf)]),
            |&n| stream && n > 0 && n < len,
            &mut cancel,
            None,
        )
    }

    pub(super) fn poll_send(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if let Err(e) = checkpoint_if_cancelled() {
            return Poll::Ready(Err(e.into()));
        }
        #[cfg(target_os = "linux")]
        if self.ty == Type::STREAM && self.ring_ok(IoDirection::Write, buf.len()) {
            return self.poll_ring(cx, IoDirection::Write, |ring, cx| {
                ring.poll_send(cx, self.fd, buf)
            });
        }
        let d = &self.dirs[index(IoDirection::Write)];
        let mut cancel = d.poll_cancel.borrow_mut();
        self.poll_io(
            cx,
            IoDirection::Write,
            &mut |s| s.send_with_flags(buf, SEND_FLAGS),
            |_| false,
            &mut cancel,
            None,
        )
    }

    /// Waits until every byte a poll-based send took is in the socket (on
    /// the io_uring reactor, sends from `poll_send` complete in the kernel
    /// after it returns; elsewhere there is nothing to wait for).
    pub(super) fn poll_flush(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        #[cfg(target_os = "linux")]
        return self.poll_ring(cx, IoDirection::Write, |ring, cx| ring.poll_flush(cx));
        #[cfg(not(target_os = "linux"))]
        {
            let _ = cx;
            Poll::Ready(Ok(()))
        }
    }

    /// One poll of a ring operation in `dir`, woken by cancellation too.
    #[cfg(target_os = "linux")]
    fn poll_ring<R>(
        &self,
        cx: &mut Context<'_>,
        dir: IoDirection,
        f: impl FnOnce(&crate::lowlevel::RingIo, &mut Context<'_>) -> Poll<Result<R>>,
    ) -> Poll<io::Result<R>> {
        let mut cancel = self.dirs[index(dir)].poll_cancel.borrow_mut();
        match f(&self.ring, cx) {
            Poll::Ready(r) => {
                cancel.clear();
                Poll::Ready(r.map_err(io::Error::from))
            }
            Poll::Pending => match cancel.poll_cancelled(cx) {
                Poll::Ready(e) => Poll::Ready(Err(e.into())),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

fn busy_error(dir: IoDirection) -> Error {
    Error::new(
        ErrorKind::BusyResource,
        match dir {
            IoDirection::Read => "another task is already waiting to receive on this socket",
            IoDirection::Write => "another task is already waiting to send on this socket",
        },
    )
}

fn total_len(bufs: &[IoSliceMut<'_>]) -> usize {
    bufs.iter().map(|b| b.len()).sum()
}

/// One `recv` (into one buffer) or `recvmsg` (several).
fn recv(s: &socket2::Socket, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
    let len = total_len(bufs);
    let res = match bufs {
        [buf] => {
            // SAFETY: `recv` only writes initialised bytes into the buffer, and
            // a `[u8]` is a valid `[MaybeUninit<u8>]` of the same length
            // (socket2's documented idiom).
            let buf = unsafe { &mut *(&mut **buf as *mut [u8] as *mut [MaybeUninit<u8>]) };
            s.recv(buf)
        }
        // socket2's `Read` takes initialised buffers as they are.
        _ => { s }.read_vectored(bufs),
    };
    match res {
        // A datagram cut to the buffer (Windows reports it as an error).
        Err(e) if crate::sys::socket::is_truncated_datagram(&e) => Ok(len),
        r => r,
    }
}

/// One `recvfrom` into `bufs` (several buffers: into one, then scattered).
fn recv_from(s: &socket2::Socket, bufs: &mut [IoSliceMut<'_>]) -> io::Result<(usize, SockAddr)> {
    let [buf] = bufs else {
        let mut all = vec![0u8; total_len(bufs)];
        let (n, from) = recv_from(s, &mut [IoSliceMut::new(&mut all)])?;
        scatter(&all[..n], bufs);
        return Ok((n, from));
    };
    #[cfg(windows)]
    {
        // Windows reports a datagram cut to the buffer as an error that loses the
        // sender's address: peek the sender first, then take the datagram.
        let from = s.peek_sender()?;
        let n = recv(s, &mut [IoSliceMut::new(buf)])?;
        Ok((n, from))
    }
    #[cfg(unix)]
    {
        // SAFETY: as in `recv`.
        let buf = unsafe { &mut *(&mut **buf as *mut [u8] as *mut [MaybeUninit<u8>]) };
        s.recv_from(buf)
    }
}

#[cfg(any(
    target_os = "linux",
    target_os = "android",
    target_os = "freebsd",
    target_os = "netbsd",
    target_os = "openbsd",
    target_os = "dragonfly",
    target_os = "illumos",
))]
fn accept(s: &socket2::Socket) -> io::Result<(socket2::Socket, SockAddr)> {
    s.accept4(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC)
}

#[cfg(not(any(
    target_os = "linux",
    target_os = "android",
    target_os = "freebsd",
    target_os = "netbsd",
    target_os = "openbsd",
    target_os = "dragonfly",
    target_os = "illumos",
)))]
fn accept(s: &socket2::Socket) -> io::Result<(socket2::Socket, SockAddr)> {
    let (sock, addr) = s.accept()?;
    sock.set_nonblocking(true)?;
    crate::sys::socket::no_sigpipe(&sock)?;
    Ok((sock, addr))
}

/// The unspecified address of `domain` (port 0), for a peer whose address is
/// gone.
#[cfg(target_os = "linux")]
fn unspecified_addr(domain: Domain) -> SockAddr {
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
    match domain {
        Domain::IPV6 => SockAddr::from(SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0))),
        Domain::UNIX => SockAddr::unix("")
            .unwrap_or_else(|_| SockAddr::from(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)))),
        _ => SockAddr::from(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0))),
    }
}

/// A failed connect: the OS error, with the address in the message (Trio's
/// "Error connecting to ...").
pub(super) fn connect_error(addr: &SockAddr, e: io::Error) -> Error {
    address_error("connecting to", addr, e)
}

/// The OS error of `doing` something with `addr` ("binding to", "connecting
/// to"): an [`ErrorKind::Io`] error whose message names the address and whose
/// source is the OS error, so that it displays as "error connecting to
/// 127.0.0.1:9: connection refused (os error 111)" and still converts back into
/// that OS error (its `raw_os_error` intact). A trio error inside `e` (a
/// cancellation, a closed socket) comes out unchanged.
pub(crate) fn address_error(doing: &'static str, addr: &SockAddr, e: io::Error) -> Error {
    if e.get_ref().is_some_and(|i| i.is::<Error>()) {
        return Error::from(e);
    }
    let msg = format!("error {doing} {}", super::display_addr(addr));
    Error::build(ErrorKind::Io, Some(msg.into()), Some(Box::new(e)))
}
