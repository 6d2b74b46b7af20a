//! Which reactor a run waits with: [`IoBackend`], and the [`Reactor`] that
//! dispatches to the chosen one.
//!
//! # Contract
//!
//! A run has one reactor, chosen when it starts (`Builder::io_backend`, else the
//! `TRIO_IO_BACKEND` environment variable, else epoll) and fixed for its life:
//!
//! * **epoll** (`io.rs`, on mio: epoll on Linux, kqueue on the BSDs and macOS,
//!   AFD polling on Windows) — the default everywhere;
//! * **io_uring** (`io_uring.rs`, Linux only) — asked for with
//!   [`IoBackend::Uring`] or [`IoBackend::Auto`]. A kernel that has no io_uring,
//!   or refuses it (`ENOSYS`, `EPERM` from a seccomp filter, a kernel too old for
//!   what the reactor needs), gets epoll instead: the run carries on, and says
//!   which it uses ([`current_io_backend`], `RunStatistics::io_backend`). A guest
//!   run (`start_guest_run`) always uses epoll: its waits happen on a helper
//!   thread with a poller that can be lent out, which the ring is not.
//!
//! Both reactors offer the same internal interface (the methods below), so the
//! rest of the core — `WaitFd`, `IoRegistration`, the loop — does not know which
//! one it talks to. The dispatch is one `match` on a two-variant enum per call;
//! the epoll reactor's code is untouched by the second one.
//!
//! The cross-thread wake-up ([`LoopWaker`]) follows the reactor: mio's waker (an
//! eventfd mio watches) for epoll, an eventfd the ring watches for io_uring.

use std::io;
use std::rc::Rc;
use std::time::Duration;

use super::context;
use super::io::{Dir, EpollReactor, IoSlot, Poller};
use super::registration::RegState;
use crate::error::Result;
use crate::sys::source::RawSource as RawFd;

/// Which kernel interface a run waits for I/O with ([`Builder::io_backend`](crate::Builder::io_backend)).
///
/// The default is [`Epoll`](IoBackend::Epoll), unless the environment variable
/// `TRIO_IO_BACKEND` is `uring` (or `io_uring`), `auto` or `epoll`: it sets the
/// default of every run that does not choose (so a test suite can run on either
/// reactor). A run says what it got with
/// [`current_io_backend`](crate::lowlevel::current_io_backend): `Epoll` or `Uring`,
/// never `Auto`.
///
/// **Which to choose.** The same program runs on both. On io_uring sockets'
/// receives and sends (async and poll-based), accepts, connects, pipes and
/// files are ring operations: about 0.05 system calls per echo round trip
/// instead of four. Whether that is faster depends on what a system call
/// costs on the machine: on a 2-vCPU AMD EPYC VM, `tcp_echo` ran 1.20× tokio's
/// `current_thread` runtime on io_uring and 1.01× on epoll; on a 2-vCPU Intel
/// Xeon VM 0.92× and 0.95×. File reads from the page cache are 4–8× faster on
/// the ring (no worker thread). A bulk transfer (`tcp_bulk`: 64 KiB writes
/// over one connection) takes about 15% longer on it than on epoll: every byte
/// is copied through a buffer the reactor owns, so that cancellation never
/// leaves the kernel writing into freed memory. Measure your workload; the
/// figures are in the repository's `BENCHMARKS.md`.
///
/// # Examples
///
/// ```
/// use trio::lowlevel::{IoBackend, current_io_backend};
/// trio::Runtime::builder()
///     .io_backend(IoBackend::Epoll)
///     .build()
///     .run(async {
///         assert_eq!(current_io_backend(), IoBackend::Epoll);
///         Ok::<_, trio::Error>(())
///     })
///     .unwrap();
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum IoBackend {
    /// mio's poller: epoll on Linux, kqueue on macOS and the BSDs, AFD polling on
    /// Windows.
    #[default]
    Epoll,
    /// io_uring (Linux 5.13 or later). Where io_uring is unavailable or refused
    /// (another system, `ENOSYS`, `EPERM` from a seccomp filter), and in guest
    /// runs, the run uses epoll instead.
    Uring,
    /// io_uring if the kernel allows it, else epoll.
    Auto,
}

impl IoBackend {
    /// The default: `TRIO_IO_BACKEND`, else `Epoll`.
    pub(in crate::core) fn from_env() -> IoBackend {
        match std::env::var_os("TRIO_IO_BACKEND") {
            Some(v) => match v.to_str().map(str::to_ascii_lowercase).as_deref() {
                Some("uring" | "io_uring" | "io-uring") => IoBackend::Uring,
                Some("auto") => IoBackend::Auto,
                _ => IoBackend::Epoll,
            },
            None => IoBackend::Epoll,
        }
    }
}

/// The reactor a run uses for the current run (`Epoll` or `Uring`; see
/// [`IoBackend`]).
///
/// # Panics
///
/// Outside [`trio::run`](crate::run).
///
/// # Examples
///
/// ```
/// # trio::run(async {
/// let b = trio::lowlevel::current_io_backend();
/// assert_ne!(b, trio::lowlevel::IoBackend::Auto);
/// # Ok(()) }).unwrap();
/// ```
pub fn current_io_backend() -> IoBackend {
    context::with_runner(|r| r.io.backend())
        .expect("trio::lowlevel::current_io_backend called outside trio::run")
}

/// Wakes a run loop blocked in its reactor, from any thread.
pub(in crate::core) enum LoopWaker {
    Mio(mio::Waker),
    /// An eventfd the ring has a poll on (shared: the reactor reads it).
    #[cfg(target_os = "linux")]
    EventFd(std::sync::Arc<std::os::fd::OwnedFd>),
}

impl LoopWaker {
    pub(in crate::core) fn wake(&self) -> io::Result<()> {
        match self {
            LoopWaker::Mio(w) => w.wake(),
            #[cfg(target_os = "linux")]
            LoopWaker::EventFd(fd) => super::io_uring::wake_eventfd(fd),
        }
    }
}

/// The reactor of one run loop: epoll (mio) or io_uring.
pub(in crate::core) enum Reactor {
    Epoll(EpollReactor),
    #[cfg(target_os = "linux")]
    /// Boxed: the ring is larger than mio's poller, and the epoll variant
    /// should not pay for it.
    Uring(Box<super::io_uring::UringReactor>),
}

macro_rules! dispatch {
    ($self:ident, $r:ident => $e:expr) => {
        match $self {
            Reactor::Epoll($r) => $e,
            #[cfg(target_os = "linux")]
            Reactor::Uring($r) => $e,
        }
    };
}

impl Reactor {
    /// The reactor `want` asks for, or epoll where that cannot be had (see the
    /// module's contract); `guest` runs always get epoll.
    pub(in crate::core) fn new(want: IoBackend, guest: bool) -> io::Result<(Reactor, LoopWaker)> {
        #[cfg(target_os = "linux")]
        if want != IoBackend::Epoll && !guest {
            if let Ok((r, fd)) = super::io_uring::UringReactor::new() {
                return Ok((Reactor::Uring(Box::new(r)), LoopWaker::EventFd(fd)));
            }
        }
        let _ = (want, guest);
        let (r, w) = EpollReactor::new()?;
        Ok((Reactor::Epoll(r), LoopWaker::Mio(w)))
    }

    pub(in crate::core) fn backend(&self) -> IoBackend {
        match self {
            Reactor::Epoll(_) => IoBackend::Epoll,
            #[cfg(target_os = "linux")]
            Reactor::Uring(_) => IoBackend::Uring,
        }
    }

    /// Operations the kernel holds for this reactor (io_uring: the slab's size,
    /// cancelled operations whose last completion has not come yet included;
    /// epoll: 0).
    pub(in crate::core) fn ops_in_flight(&self) -> usize {
        match self {
            Reactor::Epoll(_) => 0,
            #[cfg(target_os = "linux")]
            Reactor::Uring(r) => r.ops_in_flight(),
        }
    }

    /// Socket receives and sends submitted to the ring (0 on epoll).
    pub(in crate::core) fn ring_ops(&self) -> usize {
        match self {
            Reactor::Epoll(_) => 0,
            #[cfg(target_os = "linux")]
            Reactor::Uring(r) => r.ring_ops(),
        }
    }

    #[inline]
    pub(in crate::core) fn waiters(&self) -> usize {
        dispatch!(self, r => r.waiters())
    }

    #[inline]
    pub(in crate::core) fn add_registration(
        &self,
        fd: RawFd,
        state: Rc<RegState>,
    ) -> io::Result<usize> {
        dispatch!(self, r => r.add_registration(fd, state))
    }

    #[inline]
    pub(in crate::core) fn remove_registration(&self, key: usize) {
        dispatch!(self, r => r.remove_registration(key))
    }

    #[cfg(windows)]
    pub(in crate::core) fn rearm_registration(&self, key: usize) -> io::Result<()> {
        match self {
            Reactor::Epoll(r) => r.rearm_registration(key),
        }
    }

    /// io_uring: arms the registration's multishot poll, which waits for the
    /// first wait on it (epoll registers at once: nothing to do).
    #[cfg(target_os = "linux")]
    pub(in crate::core) fn arm_registration(&self, key: usize) {
        match self {
            Reactor::Epoll(_) => {}
            Reactor::Uring(r) => r.arm_registration(key),
        }
    }

    pub(in crate::core) fn statistics(&self) -> (usize, usize) {
        dispatch!(self, r => r.statistics())
    }

    /// Waits for events (at most `timeout`) and wakes their waiters. Returns
    /// true if the cross-thread waker fired.
    #[inline]
    pub(in crate::core) fn wait(&self, timeout: Duration) -> io::Result<bool> {
        dispatch!(self, r => r.wait(timeout))
    }

    /// Lends the poller out (guest runs, which always use epoll).
    pub(in crate::core) fn take_poller(&self) -> Poller {
        match self {
            Reactor::Epoll(r) => r.take_poller(),
            #[cfg(target_os = "linux")]
            Reactor::Uring(_) => unreachable!("guest runs use the epoll reactor"),
        }
    }

    pub(in crate::core) fn return_poller(&self, poller: Poller) {
        match self {
            Reactor::Epoll(r) => r.return_poller(poller),
            #[cfg(target_os = "linux")]
            Reactor::Uring(_) => unreachable!("guest runs use the epoll reactor"),
        }
    }

    pub(in crate::core) fn process(&self, poller: &Poller) -> bool {
        match self {
            Reactor::Epoll(r) => r.process(poller),
            #[cfg(target_os = "linux")]
            Reactor::Uring(_) => unreachable!("guest runs use the epoll reactor"),
        }
    }

    #[inline]
    pub(in crate::core) fn add_waiter(&self, fd: RawFd, dir: Dir, slot: Rc<IoSlot>) -> Result<()> {
        dispatch!(self, r => r.add_waiter(fd, dir, slot))
    }

    #[inline]
    pub(in crate::core) fn remove_waiter(&self, fd: RawFd, dir: Dir, slot: &Rc<IoSlot>) {
        dispatch!(self, r => r.remove_waiter(fd, dir, slot))
    }

    pub(in crate::core) fn notify_closing(&self, fd: RawFd) {
        dispatch!(self, r => r.notify_closing(fd))
    }
}
