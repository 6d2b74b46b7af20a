//! The I/O reactor: waiting for file descriptors on `mio` (epoll / kqueue).
//!
//! This is the default reactor; `reactor.rs` chooses between it and the io_uring
//! one (`io_uring.rs`, Linux, opt-in), which keeps the same contract.
//!
//! # Contract
//!
//! [`wait_readable`] / [`wait_writable`] block until a raw file descriptor is
//! readable / writable, with *level* semantics as in Trio: if the fd is ready when
//! the wait starts, it returns at the next scheduler pass. At most one task may wait
//! for each direction of an fd (a second gets [`ErrorKind::BusyResource`]).
//! [`notify_closing`] wakes the waiters of an fd that is about to be closed with
//! [`ErrorKind::ClosedResource`].
//!
//! # How level semantics come out of mio
//!
//! mio registers fds edge-triggered. Each new wait re-arms the registration
//! (`EPOLL_CTL_MOD`, or `ADD` the first time), which makes the kernel re-evaluate
//! readiness and report the fd again if it is ready now — exactly Trio's epoll
//! backend, which uses `EPOLLONESHOT` and a `MOD` per wait. The registration is kept
//! between waits (no `DEL` per wait); if the fd was closed and its number reused,
//! the `MOD` fails with `ENOENT` and we `ADD` instead.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use mio::{Events, Interest, Poll as MioPoll, Token};

use super::cancel::{CancelWait, check_cancelled};
use super::context;
use super::registration::{IoDirection, REG_BIT, RegState};
use super::wait::{self, RawWait};
use crate::error::{Error, ErrorKind, Result};
use crate::sys::source::{RawSource as RawFd, Registered};

pub(in crate::core) const WAKER_TOKEN: Token = Token(usize::MAX);

/// A persistent registration's token, and what it watches.
fn reg_token(key: usize) -> Token {
    Token(REG_BIT | key)
}
const REG_INTEREST: Interest = Interest::READABLE.add(Interest::WRITABLE);

/// What one `wait_readable`/`wait_writable` waits on, shared with the reactor.
pub(in crate::core) struct IoSlot {
    fired: Cell<bool>,
    closed: Cell<bool>,
    /// An OS error the kernel reported for the wait (0: none; only the io_uring
    /// reactor reports one, epoll refuses a bad fd when the wait registers).
    err: Cell<i32>,
    waker: RefCell<Option<Waker>>,
}

impl IoSlot {
    /// Ends the wait with an OS error (`errno`), waking the waiter.
    #[cfg(target_os = "linux")]
    pub(in crate::core) fn fail(&self, errno: i32) {
        self.err.set(errno);
        self.fire(false);
    }

    pub(in crate::core) fn fire(&self, closed: bool) {
        if closed {
            self.closed.set(true);
        } else {
            self.fired.set(true);
        }
        if let Some(w) = self.waker.borrow_mut().take() {
            w.wake();
        }
    }
}

#[derive(Default)]
struct FdEntry {
    registered: Option<Registered>,
    read: Option<Rc<IoSlot>>,
    write: Option<Rc<IoSlot>>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(in crate::core) enum Dir {
    Read,
    Write,
}

/// The epoll (kqueue, Windows AFD) reactor of one run loop.
pub(in crate::core) struct EpollReactor {
    /// Where fds are registered (a clone of the poller's own: registering needs
    /// no access to the poller, which a guest run lends to its I/O thread).
    registry: mio::Registry,
    /// The poller and its event buffer; `None` while lent out (`take_poller`).
    poller: RefCell<Option<Poller>>,
    fds: RefCell<HashMap<RawFd, FdEntry>>,
    /// Persistent registrations (`IoRegistration`), by token key.
    regs: RefCell<slab::Slab<(Rc<RegState>, Registered)>>,
    waiting_read: Cell<usize>,
    waiting_write: Cell<usize>,
}

/// The kernel-facing half of the reactor: the poller and its event buffer. It is
/// `Send`, so that a guest run can wait for I/O on a helper thread while the
/// rest of the run stays on the host's.
pub(in crate::core) struct Poller {
    poll: MioPoll,
    events: Events,
}

impl Poller {
    /// Blocks for at most `timeout` until an event arrives (`EINTR` is not an
    /// error: nothing arrived).
    pub(in crate::core) fn wait(&mut self, timeout: Duration) -> io::Result<()> {
        match self.poll.poll(&mut self.events, Some(timeout)) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                self.events.clear();
                Ok(())
            }
            r => r,
        }
    }
}

impl EpollReactor {
    pub(in crate::core) fn new() -> io::Result<(EpollReactor, mio::Waker)> {
        let poll = MioPoll::new()?;
        let waker = mio::Waker::new(poll.registry(), WAKER_TOKEN)?;
        Ok((
            EpollReactor {
                registry: poll.registry().try_clone()?,
                poller: RefCell::new(Some(Poller {
                    poll,
                    events: Events::with_capacity(1024),
                })),
                fds: RefCell::new(HashMap::new()),
                regs: RefCell::new(slab::Slab::new()),
                waiting_read: Cell::new(0),
                waiting_write: Cell::new(0),
            },
            waker,
        ))
    }

    /// Number of tasks blocked on raw-fd waits, plus live registrations: while
    /// either is non-zero the loop must poll the kernel on every pass.
    pub(in crate::core) fn waiters(&self) -> usize {
        self.waiting_read.get() + self.waiting_write.get() + self.regs.borrow().len()
    }

    pub(in crate::core) fn add_registration(
        &self,
        fd: RawFd,
        state: Rc<RegState>,
    ) -> io::Result<usize> {
        let mut regs = self.regs.borrow_mut();
        let entry = regs.vacant_entry();
        let key = entry.key();
        let registered = Registered::register(&self.registry, fd, reg_token(key), REG_INTEREST)?;
        entry.insert((state, registered));
        Ok(key)
    }

    pub(in crate::core) fn remove_registration(&self, key: usize) {
        let mut regs = self.regs.borrow_mut();
        if regs.contains(key) {
            let (_, mut registered) = regs.remove(key);
            registered.deregister(&self.registry);
        }
    }

    /// Asks for the next report on a persistent registration (needed on Windows,
    /// where each report must be re-armed; see `sys/source.rs`).
    #[cfg(windows)]
    pub(in crate::core) fn rearm_registration(&self, key: usize) -> io::Result<()> {
        match self.regs.borrow_mut().get_mut(key) {
            Some((_, registered)) => registered.rearm(&self.registry, reg_token(key), REG_INTEREST),
            None => Ok(()),
        }
    }

    pub(in crate::core) fn statistics(&self) -> (usize, usize) {
        (self.waiting_read.get(), self.waiting_write.get())
    }

    /// Waits for events (at most `timeout`) and wakes their waiters. Returns true if
    /// the cross-thread waker fired.
    pub(in crate::core) fn wait(&self, timeout: Duration) -> io::Result<bool> {
        let mut poller = self.take_poller();
        let res = poller.wait(timeout);
        let woke = self.process(&poller);
        self.return_poller(poller);
        res.map(|()| woke)
    }

    /// Lends the poller out (a guest run's I/O thread waits with it).
    pub(in crate::core) fn take_poller(&self) -> Poller {
        self.poller
            .borrow_mut()
            .take()
            .expect("the poller is home between waits")
    }

    pub(in crate::core) fn return_poller(&self, poller: Poller) {
        *self.poller.borrow_mut() = Some(poller);
    }

    /// Wakes the waiters of the events `poller` collected; true if the
    /// cross-thread waker fired.
    pub(in crate::core) fn process(&self, poller: &Poller) -> bool {
        let events = &poller.events;
        let mut woke = false;
        let mut to_fire: Vec<(Rc<IoSlot>, bool)> = Vec::new();
        {
            let mut fds = self.fds.borrow_mut();
            for ev in events.iter() {
                if ev.token() == WAKER_TOKEN {
                    woke = true;
                    continue;
                }
                if ev.token().0 & REG_BIT != 0 {
                    let state = self
                        .regs
                        .borrow()
                        .get(ev.token().0 & !REG_BIT)
                        .map(|(state, _)| state.clone());
                    if let Some(state) = state {
                        state.on_event(ev);
                    }
                    continue;
                }
                let fd = ev.token().0 as RawFd;
                let Some(entry) = fds.get_mut(&fd) else {
                    continue;
                };
                let err = ev.is_error();
                if ev.is_readable() || ev.is_read_closed() || err {
                    if let Some(s) = entry.read.take() {
                        to_fire.push((s, false));
                    }
                }
                if ev.is_writable() || ev.is_write_closed() || err {
                    if let Some(s) = entry.write.take() {
                        to_fire.push((s, false));
                    }
                }
            }
        }
        for (slot, closed) in to_fire {
            slot.fire(closed);
        }
        woke
    }

    pub(in crate::core) fn add_waiter(&self, fd: RawFd, dir: Dir, slot: Rc<IoSlot>) -> Result<()> {
        let mut fds = self.fds.borrow_mut();
        let entry = fds.entry(fd).or_default();
        let taken = match dir {
            Dir::Read => &mut entry.read,
            Dir::Write => &mut entry.write,
        };
        if taken.is_some() {
            return Err(Error::new(
                ErrorKind::BusyResource,
                format!(
                    "another task is already waiting for fd {fd} to become {}",
                    dir_word(dir)
                ),
            ));
        }
        *taken = Some(slot);
        let interest = match (entry.read.is_some(), entry.write.is_some()) {
            (true, true) => Interest::READABLE | Interest::WRITABLE,
            (false, true) => Interest::WRITABLE,
            _ => Interest::READABLE,
        };
        let token = Token(fd as usize);
        let res = match &mut entry.registered {
            Some(r) => r.rearm(&self.registry, token, interest),
            None => Registered::register(&self.registry, fd, token, interest)
                .map(|r| entry.registered = Some(r)),
        };
        match res {
            Ok(()) => {
                match dir {
                    Dir::Read => self.waiting_read.set(self.waiting_read.get() + 1),
                    Dir::Write => self.waiting_write.set(self.waiting_write.get() + 1),
                }
                Ok(())
            }
            Err(e) => {
                match dir {
                    Dir::Read => entry.read = None,
                    Dir::Write => entry.write = None,
                }
                Err(Error::from(e))
            }
        }
    }

    pub(in crate::core) fn remove_waiter(&self, fd: RawFd, dir: Dir, slot: &Rc<IoSlot>) {
        match dir {
            Dir::Read => self.waiting_read.set(self.waiting_read.get() - 1),
            Dir::Write => self.waiting_write.set(self.waiting_write.get() - 1),
        }
        let mut fds = self.fds.borrow_mut();
        if let Some(entry) = fds.get_mut(&fd) {
            let s = match dir {
                Dir::Read => &mut entry.read,
                Dir::Write => &mut entry.write,
            };
            if s.as_ref().is_some_and(|s| Rc::ptr_eq(s, slot)) {
                *s = None;
            }
        }
    }

    pub(in crate::core) fn notify_closing(&self, fd: RawFd) {
        let entry = self.fds.borrow_mut().remove(&fd);
        if let Some(mut entry) = entry {
            if let Some(mut r) = entry.registered.take() {
                r.deregister(&self.registry);
            }
            for s in [entry.read, entry.write].into_iter().flatten() {
                s.fire(true);
            }
        }
    }
}

pub(in crate::core) fn dir_word(dir: Dir) -> &'static str {
    match dir {
        Dir::Read => "readable",
        Dir::Write => "writable",
    }
}

/// The future of [`wait_readable`] and [`wait_writable`].
///
/// # Errors
///
/// As [`wait_readable`]: [`ErrorKind::BusyResource`] if another task already waits
/// for the same fd in the same direction, [`ErrorKind::ClosedResource`] after
/// [`notify_closing`], an I/O error if the fd cannot be registered.
///
/// # Cancellation
///
/// A checkpoint; a cancelled or dropped `WaitFd` leaves nothing registered.
///
/// # Examples
///
/// One waiter per fd and direction; a cancelled waiter frees its place:
///
/// ```
/// use std::io::Write;
/// use std::os::fd::AsRawFd;
/// use trio::lowlevel::{WaitFd, wait_readable};
/// # trio::run(async {
/// let (a, mut b) = std::os::unix::net::UnixStream::pair()?;
/// let fd = a.as_raw_fd();
/// let scope = trio::CancelScope::new();
/// let s = &scope;
/// trio::open_nursery(async |n| {
///     n.start_soon(async move {
///         let wait: WaitFd = wait_readable(fd);
///         assert_eq!(s.run(wait).await?, None); // cancelled below
///         Ok(())
///     })?;
///     trio::testing::wait_all_tasks_blocked().await?;
///     let e = wait_readable(fd).await.unwrap_err();
///     assert_eq!(e.kind(), trio::ErrorKind::BusyResource);
///     scope.cancel();
///     Ok(())
/// }).await?;
/// b.write_all(b"x")?;
/// wait_readable(fd).await?; // the fd is free again
/// # Ok(()) }).unwrap();
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct WaitFd {
    fd: RawFd,
    dir: Dir,
    slot: Option<Rc<IoSlot>>,
    cancel: CancelWait,
}

impl std::fmt::Debug for WaitFd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaitFd")
            .field("fd", &self.fd)
            .field("dir", &self.dir)
            .finish()
    }
}

impl WaitFd {
    fn unregister(&mut self) {
        if let Some(slot) = self.slot.take() {
            context::with_runner(|r| r.io.remove_waiter(self.fd, self.dir, &slot));
        }
    }
}

impl Future for WaitFd {
    type Output = Result<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let this = &mut *self;
        let slot = match &this.slot {
            Some(s) => s.clone(),
            None => {
                check_cancelled()?;
                let slot = Rc::new(IoSlot {
                    fired: Cell::new(false),
                    closed: Cell::new(false),
                    err: Cell::new(0),
                    waker: RefCell::new(Some(cx.waker().clone())),
                });
                let fd = this.fd;
                let dir = this.dir;
                let s2 = slot.clone();
                context::with_runner(|r| r.io.add_waiter(fd, dir, s2))
                    .unwrap_or_else(|| Err(super::cancel::outside_trio()))?;
                this.slot = Some(slot.clone());
                slot
            }
        };
        if slot.fired.get() {
            this.unregister();
            this.cancel.clear();
            return Poll::Ready(match slot.err.get() {
                0 => Ok(()),
                errno => Err(Error::from(io::Error::from_raw_os_error(errno))),
            });
        }
        if slot.closed.get() {
            this.unregister();
            this.cancel.clear();
            return Poll::Ready(Err(Error::new(
                ErrorKind::ClosedResource,
                format!("fd {} was closed while a task waited on it", this.fd),
            )));
        }
        if let Poll::Ready(e) = this.cancel.poll_cancelled(cx) {
            this.unregister();
            return Poll::Ready(Err(e));
        }
        let mut w = slot.waker.borrow_mut();
        if !w.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            *w = Some(cx.waker().clone());
        }
        wait::set(
            cx,
            RawWait::fd(
                this.fd as i64,
                match this.dir {
                    Dir::Read => IoDirection::Read,
                    Dir::Write => IoDirection::Write,
                },
            ),
        );
        Poll::Pending
    }
}

impl Drop for WaitFd {
    fn drop(&mut self) {
        self.unregister();
    }
}

/// Blocks until `fd` is readable (Trio's `wait_readable`).
///
/// The fd is not owned: the caller keeps it open for the duration of the wait,
/// and calls [`notify_closing`] before closing it while others may be waiting.
///
/// # Errors
///
/// [`ErrorKind::BusyResource`] if another task waits for the same fd to be readable;
/// [`ErrorKind::ClosedResource`] if [`notify_closing`] was called; an I/O error if
/// the fd cannot be registered (for example, it is not open).
///
/// # Cancellation
///
/// A checkpoint; a cancelled wait leaves nothing registered.
///
/// # Examples
///
/// ```
/// use std::io::Write;
/// use std::os::fd::AsRawFd;
/// # trio::run(async {
/// let (a, mut b) = std::os::unix::net::UnixStream::pair()?;
/// b.write_all(b"x")?;
/// trio::lowlevel::wait_readable(a.as_raw_fd()).await?;
/// # Ok(()) }).unwrap();
/// ```
pub fn wait_readable(fd: RawFd) -> WaitFd {
    WaitFd {
        fd,
        dir: Dir::Read,
        slot: None,
        cancel: CancelWait::default(),
    }
}

/// Blocks until `fd` is writable (Trio's `wait_writable`).
///
/// # Errors
///
/// As [`wait_readable`].
///
/// # Cancellation
///
/// As [`wait_readable`].
///
/// # Examples
///
/// ```
/// use std::os::fd::AsRawFd;
/// # trio::run(async {
/// let (a, _b) = std::os::unix::net::UnixStream::pair()?;
/// trio::lowlevel::wait_writable(a.as_raw_fd()).await?;
/// # Ok(()) }).unwrap();
/// ```
pub fn wait_writable(fd: RawFd) -> WaitFd {
    WaitFd {
        fd,
        dir: Dir::Write,
        slot: None,
        cancel: CancelWait::default(),
    }
}

/// Tells trio that `fd` is about to be closed: tasks waiting on it get
/// [`ErrorKind::ClosedResource`], and its registration is dropped (Trio's
/// `notify_closing`).
///
/// # Panics
///
/// If called outside [`trio::run`](crate::run).
///
/// # Examples
///
/// ```
/// use std::os::fd::AsRawFd;
/// # trio::run(async {
/// let (a, _b) = std::os::unix::net::UnixStream::pair()?;
/// let fd = a.as_raw_fd();
/// trio::open_nursery(async |n| {
///     n.start_soon(async move {
///         let e = trio::lowlevel::wait_readable(fd).await.unwrap_err();
///         assert_eq!(e.kind(), trio::ErrorKind::ClosedResource);
///         Ok(())
///     })?;
///     trio::testing::wait_all_tasks_blocked().await?;
///     trio::lowlevel::notify_closing(fd);
///     Ok(())
/// }).await?;
/// drop(a);
/// # Ok(()) }).unwrap();
/// ```
pub fn notify_closing(fd: RawFd) {
    context::with_runner(|r| r.io.notify_closing(fd))
        .expect("trio::lowlevel::notify_closing called outside trio::run");
}
