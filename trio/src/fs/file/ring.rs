//! [`AsyncFile`](super::AsyncFile)'s `read` and `write` as io_uring operations
//! (`IORING_OP_READ` / `WRITE` at the file's position), on Linux when the
//! run's reactor is the ring: no trip to a worker thread, and Trio's abort
//! protocol instead of "not cancellable once started" — a cancelled read or
//! write either did not happen or its result is returned.
//!
//! # Order
//!
//! The file's operations must happen in the order they started, whichever
//! way each goes. So:
//!
//! * an operation takes the ring only when the file is idle: no worker thread
//!   holds or waits to take the shared state (its `Arc` has no other owner),
//!   and no read-ahead is buffered (a write would have to give it back first,
//!   a read must be served from it);
//! * before *any* operation, [`FileRing::settle`] waits for ring operations
//!   whose futures were dropped (still in the kernel), and moves the bytes a
//!   dropped read got into the read buffer, first in line — so a worker-thread
//!   operation after a dropped ring read sees them as read-ahead, and gives
//!   them back (seeking the OS position back over them) before a write or
//!   seek, as it does for its own read-ahead;
//! * the fd is announced closed (`notify_closing`) before the file is closed,
//!   so that no queued request lands on a file that gets its number next.
//!
//! # Why a table
//!
//! A [`RingIo`] belongs to its loop's thread (it shares state with the
//! reactor), and an `AsyncFile` may be sent between threads, as a
//! `std::fs::File` can. So the file holds only a key ([`RingKey`], `Send`),
//! and its `RingIo` lives in a table of the thread that used the ring for it,
//! made at its first ring operation and dropped when the file is closed or
//! dropped there.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::{Future, poll_fn};
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};

use super::{MAX_CHUNK, Shared, closed_error, with_file};
use crate::ErrorKind;
use crate::lowlevel::RingIo;

thread_local! {
    /// The ring state of the files that used this thread's ring, by key.
    static RINGS: RefCell<HashMap<u64, Rc<FileRing>>> = RefCell::default();
}

/// Where the next key comes from.
static NEXT_KEY: AtomicU64 = AtomicU64::new(1);

/// An `AsyncFile`'s key into [`RINGS`]. Dropping it (with the file) ends the
/// file's ring operations before the file closes.
pub(super) struct RingKey(u64);

impl RingKey {
    pub(super) fn new() -> RingKey {
        RingKey(NEXT_KEY.fetch_add(1, Ordering::Relaxed))
    }

    fn get(&self) -> Option<Rc<FileRing>> {
        RINGS.with(|r| r.borrow().get(&self.0).cloned())
    }

    /// See [`FileRing::settle`]; at once if this file never used the ring
    /// here. The future owns what it needs (a line reader boxes it).
    pub(super) fn settle(&self, shared: &Shared) -> impl Future<Output = io::Result<()>> + 'static {
        let ring = self.get();
        let shared = shared.clone();
        async move {
            match ring {
                Some(ring) => ring.settle(&shared).await,
                None => Ok(()),
            }
        }
    }

    /// Reads into `buf` on the ring, or `None`: take a worker thread.
    pub(super) async fn read(&self, shared: &Shared, buf: &mut [u8]) -> Option<io::Result<usize>> {
        let (ring, fd) = self.ring_for(shared)?;
        let len = buf.len().min(MAX_CHUNK);
        ring_result(ring.io.read(fd, &mut buf[..len]).await)
    }

    /// Writes from `buf` on the ring, or `None`: take a worker thread.
    pub(super) async fn write(&self, shared: &Shared, buf: &[u8]) -> Option<io::Result<usize>> {
        let (ring, fd) = self.ring_for(shared)?;
        let len = buf.len().min(MAX_CHUNK);
        ring_result(ring.io.write(fd, &buf[..len]).await)
    }

    /// The file's ring state (made here if need be) and fd, if this operation
    /// may take the ring (see the order rules above).
    fn ring_for(&self, shared: &Shared) -> Option<(Rc<FileRing>, RawFd)> {
        if !RingIo::is_available() || Arc::strong_count(shared) != 1 {
            return None;
        }
        let fd = {
            let guard = shared.try_lock().ok()?;
            let st = guard.as_ref()?;
            if st.pos != st.filled {
                return None;
            }
            st.file.as_raw_fd()
        };
        let ring = RINGS.with(|r| r.borrow_mut().entry(self.0).or_default().clone());
        ring.fd.set(Some(fd));
        Some((ring, fd))
    }

    /// Lets go of the file's ring state (the file is handed out, its ring
    /// operations settled).
    pub(super) fn forget(&self) -> Option<Rc<FileRing>> {
        // `try_with`: a file dropped while its thread exits has no table left.
        RINGS
            .try_with(|r| r.borrow_mut().remove(&self.0))
            .ok()
            .flatten()
    }

    /// The file is about to be closed: its ring operations end, and what is
    /// queued reaches the kernel first.
    pub(super) fn closing(&self) {
        if let Some(fd) = self.forget().and_then(|r| r.fd.get()) {
            if crate::lowlevel::try_current_task().is_some() {
                crate::lowlevel::notify_closing(fd);
            }
        }
    }
}

impl Drop for RingKey {
    fn drop(&mut self) {
        self.closing();
    }
}

/// A file's ring state on one thread: the ring's stash, and the file's fd.
#[derive(Default)]
pub(super) struct FileRing {
    io: RingIo,
    fd: Cell<Option<RawFd>>,
}

impl FileRing {
    /// Waits until no dropped ring operation of this file is in the kernel,
    /// and hands the bytes dropped reads got to the read buffer. They stay in
    /// the ring's stash until the file's lock is in hand (taken on this
    /// thread, never on a worker's), so a cancelled or dropped `settle` loses
    /// none: a worker thread that holds the file is waited for with a no-op
    /// of its own, then the lock is tried again.
    async fn settle(&self, shared: &Shared) -> io::Result<()> {
        loop {
            // An empty buffer: only waits while dropped reads are in flight.
            poll_fn(|cx| self.io.take_stashed(cx, &mut []).map(drop)).await;
            if self.io.stashed() == 0 {
                return Ok(());
            }
            if let Ok(mut guard) = shared.try_lock() {
                let mut bytes = Vec::with_capacity(self.io.stashed());
                let mut cx = Context::from_waker(Waker::noop());
                let mut chunk = [0u8; 4096];
                while let Poll::Ready(Some(Ok(n))) = self.io.take_stashed(&mut cx, &mut chunk) {
                    bytes.extend_from_slice(&chunk[..n]);
                }
                if let Some(st) = guard.as_mut() {
                    st.unread_first(&bytes);
                }
                return Ok(());
            }
            with_file(shared, |_| Ok(())).await?;
        }
    }
}

/// A ring result as the file's methods report it; `None` for `WouldBlock` (a
/// kernel that answers a non-blocking file with `EAGAIN`: take a thread).
fn ring_result(r: crate::Result<usize>) -> Option<io::Result<usize>> {
    match r {
        Ok(n) => Some(Ok(n)),
        Err(e) if e.kind() == ErrorKind::WouldBlock => None,
        Err(e) if e.kind() == ErrorKind::ClosedResource => Some(Err(closed_error())),
        Err(e) => Some(Err(io::Error::from(e))),
    }
}
