//! Catching Unix signals (Trio's `trio.open_signal_receiver`).
//!
//! [`open_signal_receiver`] starts listening for some signals and returns a
//! [`SignalReceiver`]: an async stream of signal numbers. Closing (or dropping) it
//! stops listening.
//!
//! ```standalone_crate
//! # trio::run(async {
//! let receiver = trio::signal::open_signal_receiver(&[libc::SIGUSR1])?;
//! signal_hook::low_level::raise(libc::SIGUSR1)?; // or `kill -USR1 <pid>` from outside
//! assert_eq!(receiver.next().await?, libc::SIGUSR1);
//! # Ok(()) }).unwrap();
//! ```
//!
//! A daemon reloading its configuration on `SIGHUP` (Trio's example):
//!
//! ```no_run
//! # async fn reload_configuration() -> trio::Result<()> { Ok(()) }
//! # trio::run(async {
//! let hups = trio::signal::open_signal_receiver(&[libc::SIGHUP])?;
//! loop {
//!     hups.next().await?;
//!     reload_configuration().await?;
//! }
//! # #[allow(unreachable_code)] Ok(()) }).unwrap();
//! ```
//!
//! # Why it is built this way
//!
//! **Delivery through a self-pipe.** Almost nothing may be done inside a signal
//! handler — no locks, no allocation, no waking of a task — and a signal arrives on
//! whatever thread the kernel picks. So each receiver owns a socket pair. For each
//! of its signals it registers, through `signal-hook`'s low-level registry (which
//! multiplexes one real handler per signal between all its users), an action that
//! does two async-signal-safe things: it sets the receiver's flag for that signal,
//! and — if the flag was not already set — writes the signal number as one byte
//! into the socket. The read end sits in the run loop's reactor on an
//! [`IoRegistration`]; a task in
//! [`next`](SignalReceiver::next) wakes when it turns readable, drains it (socket
//! first, then flags, the order `signal-hook` prescribes so that nothing is lost),
//! and takes the oldest pending signal. A handler runs on the thread that
//! `raise`d the signal before `raise` returns, so a signal you raise yourself is
//! pending by the time `raise` returns.
//!
//! **Coalescing.** As the kernel does for standard signals, repeats of a signal
//! that is still pending collapse into one: the receiver keeps an ordered set of
//! pending signals, not a queue of deliveries. Distinct signals come out in the
//! order they first arrived, so a signal that keeps arriving cannot starve another
//! (Trio's `test_open_signal_receiver_no_starvation`). Signals mean "something
//! happened at least once", never "n times".
//!
//! **Re-delivery on close.** A signal that arrived but was never taken out of the
//! receiver has not been handled. When the receiver closes, it first stops
//! listening, then *re-raises* every pending signal — which now meets whatever
//! handling the process had before: an enclosing receiver for the same signal, or
//! the signal's default action (for `SIGTERM` or `SIGHUP`, terminating the
//! process). This closes the race Trio documents: a signal that arrives just
//! before the receiver closes is not silently eaten.
//!
//! **Restoring the previous handling.** While a receiver listens for a signal, the
//! signal goes to it and its default action is suppressed. Receivers for the same
//! signal nest: the most recently opened one gets it (as when Trio replaces a
//! handler), and closing it hands the signal back to the previous one. When the
//! last receiver closes, the signal is handled as before trio listened — which
//! needs care, because `signal-hook` never uninstalls its real handler (that
//! would be unsound with several users), and with no action registered it would
//! quietly *ignore* the signal. So the first time trio listens for a signal whose
//! disposition is the default, it registers one permanent fallback action that
//! performs the default action (`signal-hook`'s `emulate_default_handler`) whenever
//! no trio receiver listens. A signal that already had a handler or was ignored
//! needs nothing: `signal-hook` keeps calling a previous handler — also while a
//! receiver listens, the one difference from Trio's replace-and-restore — and
//! keeps ignoring an ignored signal.
//!
//! **Only one task at a time** may wait in [`next`](SignalReceiver::next): a
//! second one gets [`BusyResource`](crate::ErrorKind::BusyResource), as in Trio.
//!
//! # What you cannot listen for
//!
//! * `SIGINT`: it belongs to trio's Ctrl-C handling (see [`run`](crate::run)),
//!   which cancels the main task on the first Ctrl-C and kills the process on the
//!   second. Turn that off with
//!   [`Builder::handle_ctrl_c(false)`](crate::Builder::handle_ctrl_c) and handle
//!   `SIGINT` with `signal-hook` yourself if you need to.
//! * `SIGKILL` and `SIGSTOP` (they cannot be caught) and the synchronous fault
//!   signals `SIGSEGV`, `SIGBUS`, `SIGILL` and `SIGFPE` (returning from their
//!   handler re-runs the faulting instruction).
//!
//! # Mixing with other signal handling
//!
//! Handlers registered with `signal-hook` by other code keep running alongside a
//! trio receiver (`signal-hook` runs every registered action). If you register
//! `signal-hook` actions for a signal *after* trio listened for it while its
//! disposition was the default, trio's fallback still performs the default action
//! whenever no trio receiver listens: handle such a signal either through trio or
//! without it, not both.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::future::poll_fn;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use libc::c_int;
use signal_hook::SigId;

use crate::abc::AsyncResource;
use crate::conflict::ConflictDetector;
use crate::lowlevel::{
    CancelRegistration, IoDirection, IoRegistration, cancel_shielded_checkpoint, checkpoint,
    checkpoint_if_cancelled,
};
use crate::sys::signal::{NSIG, check_signal, disposition_is_default};
use crate::{Error, ErrorKind, Result};

/// For each signal, the id of the receiver that gets it now (the most recently
/// opened one still listening), or 0 when no trio receiver listens. Read by the
/// signal-handler actions, written under [`REGISTRY`].
static CURRENT: [AtomicU64; NSIG] = [const { AtomicU64::new(0) }; NSIG];

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Process-wide bookkeeping, outside the signal handlers.
struct Registry {
    /// For each signal, the receivers listening for it, oldest first.
    stacks: [Vec<u64>; NSIG],
    /// For each signal, whether its disposition was checked (and the fallback
    /// registered if it was the default).
    checked: [bool; NSIG],
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    stacks: [const { Vec::new() }; NSIG],
    checked: [false; NSIG],
});

fn registry() -> MutexGuard<'static, Registry> {
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner())
}

/// What the signal handler actions of one receiver touch: atomics and an fd.
struct HandlerShared {
    /// `flags[s]`: signal `s` arrived and was not taken out yet.
    flags: [AtomicBool; NSIG],
    /// The write end of the self-pipe, non-blocking. Open for as long as any of the
    /// receiver's actions exists (they hold this `Arc`), so a handler never writes
    /// to a closed — or recycled — fd.
    write: OwnedFd,
}

/// The first time trio listens for `sig`: if its disposition is the default,
/// register the permanent fallback that performs the default action whenever no
/// trio receiver listens (see the module notes).
fn ensure_fallback(reg: &mut Registry, sig: c_int) -> io::Result<()> {
    let s = sig as usize;
    if reg.checked[s] {
        return Ok(());
    }
    if disposition_is_default(sig)? {
        let action = move || {
            if CURRENT[s].load(Ordering::SeqCst) == 0 {
                let _ = signal_hook::low_level::emulate_default_handler(sig);
            }
        };
        // SAFETY: the action runs inside a signal handler. It loads an atomic and
        // calls `emulate_default_handler`, which signal-hook documents as
        // async-signal-safe (it uses only sigaction, sigprocmask, raise and abort);
        // it neither allocates, locks nor panics.
        unsafe { signal_hook::low_level::register(sig, action) }?;
    }
    reg.checked[s] = true;
    Ok(())
}

/// Registers the action that delivers `sig` to receiver `id`.
fn install(reg: &mut Registry, sig: c_int, id: u64, shared: &Arc<HandlerShared>) -> Result<SigId> {
    ensure_fallback(reg, sig)?;
    let s = sig as usize;
    let shared = shared.clone();
    let action = move || {
        if CURRENT[s].load(Ordering::SeqCst) != id {
            return; // a newer receiver has it, or this one is closing
        }
        if !shared.flags[s].swap(true, Ordering::SeqCst) {
            // The fd stays open while this action exists (see `HandlerShared`). A
            // full socket (EAGAIN) is fine: the reader is awake then, and the flag
            // is set.
            crate::sys::signal::write_byte_in_handler(shared.write.as_raw_fd(), sig as u8);
        }
    };
    // SAFETY: the action runs inside a signal handler: it loads and swaps atomics
    // and calls write(2), all async-signal-safe; it neither allocates, locks nor
    // panics. (signal-hook saves and restores errno around it.)
    let id_sig = unsafe { signal_hook::low_level::register(sig, action) }?;
    reg.stacks[s].push(id);
    CURRENT[s].store(id, Ordering::SeqCst);
    Ok(id_sig)
}

/// Stops receiver `id` from listening for `signals`: the signal goes back to the
/// previous receiver (or to the fallback), then the actions are unregistered
/// (signal-hook waits for running handlers before dropping them).
fn detach(reg: &mut Registry, id: u64, signals: &[c_int], sig_ids: Vec<SigId>) {
    for &sig in signals {
        let stack = &mut reg.stacks[sig as usize];
        stack.retain(|&x| x != id);
        CURRENT[sig as usize].store(stack.last().copied().unwrap_or(0), Ordering::SeqCst);
    }
    for sid in sig_ids {
        signal_hook::low_level::unregister(sid);
    }
}

/// Starts listening for `signals` (Trio's `open_signal_receiver`): from now on
/// they are delivered to the returned [`SignalReceiver`] instead of being handled
/// the usual way, until it is closed or dropped. Duplicates in `signals` are
/// ignored.
///
/// Works in any thread (Python's main-thread restriction does not apply), and may
/// be called outside trio; receiving needs a trio task.
///
/// # Errors
///
/// [`InvalidInput`](crate::ErrorKind::InvalidInput) if `signals` is empty, holds a number out of
/// range, `SIGINT` (trio's Ctrl-C handling owns it), `SIGKILL`, `SIGSTOP`, or a
/// synchronous fault signal (`SIGSEGV`, `SIGBUS`, `SIGILL`, `SIGFPE`); an
/// [`Io`](crate::ErrorKind::Io) error if the system refuses. On error nothing was
/// changed: no signal is listened for.
///
/// # Examples
///
/// ```standalone_crate
/// use trio::signal::open_signal_receiver;
/// # trio::run(async {
/// let receiver = open_signal_receiver(&[libc::SIGUSR1, libc::SIGUSR2])?;
/// signal_hook::low_level::raise(libc::SIGUSR2)?;
/// assert_eq!(receiver.next().await?, libc::SIGUSR2);
///
/// let err = open_signal_receiver(&[libc::SIGINT]).unwrap_err();
/// assert_eq!(err.kind(), trio::ErrorKind::InvalidInput);
/// assert_eq!(open_signal_receiver(&[]).unwrap_err().kind(), trio::ErrorKind::InvalidInput);
/// # Ok(()) }).unwrap();
/// ```
pub fn open_signal_receiver(signals: &[c_int]) -> Result<SignalReceiver> {
    if signals.is_empty() {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            "no signals were provided",
        ));
    }
    let mut set: Vec<c_int> = Vec::with_capacity(signals.len());
    for &sig in signals {
        check_signal(sig)?;
        if !set.contains(&sig) {
            set.push(sig);
        }
    }
    let (read, write) = UnixStream::pair()?;
    read.set_nonblocking(true)?;
    write.set_nonblocking(true)?;
    let shared = Arc::new(HandlerShared {
        flags: [const { AtomicBool::new(false) }; NSIG],
        write: OwnedFd::from(write),
    });
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let mut sig_ids = Vec::with_capacity(set.len());
    {
        let mut reg = registry();
        for (i, &sig) in set.iter().enumerate() {
            match install(&mut reg, sig, id, &shared) {
                Ok(sid) => sig_ids.push(sid),
                Err(e) => {
                    detach(&mut reg, id, &set[..i], sig_ids);
                    return Err(e);
                }
            }
        }
    }
    Ok(SignalReceiver {
        id,
        signals: set,
        shared,
        read: RefCell::new(Some(read)),
        reg: RefCell::new(None),
        sig_ids: RefCell::new(sig_ids),
        pending: RefCell::new(VecDeque::new()),
        busy: ConflictDetector::new("only one task can iterate on a signal receiver at a time"),
        waker: RefCell::new(None),
    })
}

/// Receives signals (see the [module notes](self)): made by
/// [`open_signal_receiver`].
///
/// Take signals out with [`next`](Self::next) — the trio way: a checkpoint,
/// cancellable, one task at a time — or through its
/// [`futures_core::Stream`] implementation. Pending repeats of a signal
/// coalesce. Close it with [`close`](Self::close) (or
/// [`aclose`](AsyncResource::aclose), or by dropping it): it stops listening, and
/// every signal still pending in it is re-raised.
///
/// # Examples
///
/// ```standalone_crate
/// use signal_hook::low_level::raise;
/// # trio::run(async {
/// let receiver = trio::signal::open_signal_receiver(&[libc::SIGUSR1, libc::SIGWINCH])?;
/// raise(libc::SIGUSR1)?;
/// raise(libc::SIGUSR1)?; // still pending: coalesced
/// raise(libc::SIGWINCH)?;
/// assert_eq!(receiver.statistics().signals_pending, 2);
/// assert_eq!(receiver.next().await?, libc::SIGUSR1);
/// assert_eq!(receiver.next().await?, libc::SIGWINCH);
/// receiver.close();
/// # Ok(()) }).unwrap();
/// ```
pub struct SignalReceiver {
    id: u64,
    signals: Vec<c_int>,
    shared: Arc<HandlerShared>,
    /// The self-pipe's read end; `None` once closed.
    read: RefCell<Option<UnixStream>>,
    /// Registered on the first wait; dropped before `read` is closed.
    reg: RefCell<Option<IoRegistration>>,
    sig_ids: RefCell<Vec<SigId>>,
    /// Signals taken out of the pipe and not yet handed out: an ordered set.
    pending: RefCell<VecDeque<c_int>>,
    /// A task is in `next` (Trio's `ConflictDetector`).
    busy: ConflictDetector,
    /// The waker of the task blocked in `next`, for `close`.
    waker: RefCell<Option<Waker>>,
}

/// A snapshot of a [`SignalReceiver`] (see [`SignalReceiver::statistics`]).
///
/// # Examples
///
/// ```standalone_crate
/// let receiver = trio::signal::open_signal_receiver(&[libc::SIGWINCH]).unwrap();
/// let s: trio::signal::SignalReceiverStatistics = receiver.statistics();
/// assert_eq!((s.signals_pending, s.tasks_waiting), (0, 0));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SignalReceiverStatistics {
    /// Distinct signals that arrived and were not taken out yet.
    pub signals_pending: usize,
    /// Tasks in [`next`](SignalReceiver::next) (0 or 1).
    pub tasks_waiting: usize,
}

fn closed_error() -> Error {
    Error::new(
        ErrorKind::ClosedResource,
        "this signal receiver was already closed",
    )
}

impl SignalReceiver {
    /// The signals this receiver listens for (without duplicates).
    ///
    /// # Examples
    ///
    /// ```standalone_crate
    /// let r = trio::signal::open_signal_receiver(&[libc::SIGHUP, libc::SIGHUP]).unwrap();
    /// assert_eq!(r.signals(), [libc::SIGHUP]);
    /// ```
    pub fn signals(&self) -> &[c_int] {
        &self.signals
    }

    /// True once the receiver was closed.
    ///
    /// # Examples
    ///
    /// ```standalone_crate
    /// let r = trio::signal::open_signal_receiver(&[libc::SIGWINCH]).unwrap();
    /// r.close();
    /// assert!(r.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.read.borrow().is_none()
    }

    /// Counts what is pending and waiting (Trio keeps the pending count as a test
    /// helper). A signal raised on this thread is pending as soon as `raise`
    /// returns.
    ///
    /// # Examples
    ///
    /// ```standalone_crate
    /// let r = trio::signal::open_signal_receiver(&[libc::SIGWINCH]).unwrap();
    /// signal_hook::low_level::raise(libc::SIGWINCH).unwrap();
    /// assert_eq!(r.statistics().signals_pending, 1);
    /// ```
    pub fn statistics(&self) -> SignalReceiverStatistics {
        self.drain();
        SignalReceiverStatistics {
            signals_pending: self.pending.borrow().len(),
            tasks_waiting: usize::from(self.busy.is_held()),
        }
    }

    /// Waits for a signal and returns its number; the oldest pending one first.
    ///
    /// # Errors
    ///
    /// [`BusyResource`](crate::ErrorKind::BusyResource) if another task is in
    /// `next`; [`ClosedResource`](crate::ErrorKind::ClosedResource) once the
    /// receiver is closed (also for a task blocked here when it closes);
    /// `Cancelled`; [`Usage`](crate::ErrorKind::Usage) outside trio.
    ///
    /// # Cancellation
    ///
    /// A checkpoint. A cancelled `next` took no signal out.
    ///
    /// # Examples
    ///
    /// ```standalone_crate
    /// use std::time::Duration;
    /// # trio::run(async {
    /// let r = trio::signal::open_signal_receiver(&[libc::SIGWINCH])?;
    /// // Nothing arrives: the wait is cancelled, and nothing was consumed.
    /// let got = trio::move_on_after(Duration::from_millis(5), r.next()).await?;
    /// assert_eq!(got, None);
    /// signal_hook::low_level::raise(libc::SIGWINCH)?;
    /// assert_eq!(r.next().await?, libc::SIGWINCH);
    /// # Ok(()) }).unwrap();
    /// ```
    pub async fn next(&self) -> Result<c_int> {
        let _busy = self.busy.enter()?;
        if self.is_closed() {
            return Err(closed_error());
        }
        checkpoint_if_cancelled()?;
        self.drain();
        if !self.pending.borrow().is_empty() {
            cancel_shielded_checkpoint().await?;
            // (Closed meanwhile? Then everything pending was re-delivered.)
            return self
                .pending
                .borrow_mut()
                .pop_front()
                .ok_or_else(closed_error);
        }
        self.ensure_registered()?;
        let mut cancel = CancelRegistration::new();
        let r = poll_fn(|cx| self.poll_signal(cx, Some(&mut cancel))).await;
        self.waker.borrow_mut().take();
        r
    }

    /// Stops listening and closes the receiver (Trio's leaving the `with` block).
    /// Every signal still pending — including one whose handler ran just now — is
    /// then re-raised, to be handled as if this receiver had never existed (by an
    /// enclosing receiver, or the signal's default action). A task blocked in
    /// [`next`](Self::next) wakes with
    /// [`ClosedResource`](crate::ErrorKind::ClosedResource). Closing twice is fine.
    ///
    /// # Examples
    ///
    /// Nested receivers: what the inner one did not take goes to the outer one.
    ///
    /// ```standalone_crate
    /// use signal_hook::low_level::raise;
    /// use trio::signal::open_signal_receiver;
    /// # trio::run(async {
    /// let outer = open_signal_receiver(&[libc::SIGUSR2])?;
    /// let inner = open_signal_receiver(&[libc::SIGUSR2])?;
    /// raise(libc::SIGUSR2)?;
    /// assert_eq!(outer.statistics().signals_pending, 0); // the newest receiver has it
    /// inner.close();
    /// assert_eq!(outer.next().await?, libc::SIGUSR2);   // re-delivered
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn close(&self) {
        if self.is_closed() {
            return;
        }
        let sig_ids = std::mem::take(&mut *self.sig_ids.borrow_mut());
        detach(&mut registry(), self.id, &self.signals, sig_ids);
        // No action of ours runs any more: what they delivered is all there is.
        self.drain();
        drop(self.reg.borrow_mut().take());
        drop(self.read.borrow_mut().take());
        if let Some(w) = self.waker.borrow_mut().take() {
            w.wake();
        }
        let pending = std::mem::take(&mut *self.pending.borrow_mut());
        for sig in pending {
            let _ = signal_hook::low_level::raise(sig);
        }
    }

    fn ensure_registered(&self) -> Result<()> {
        if self.reg.borrow().is_some() {
            return Ok(());
        }
        let fd = match &*self.read.borrow() {
            Some(r) => r.as_raw_fd(),
            None => return Err(closed_error()),
        };
        *self.reg.borrow_mut() = Some(IoRegistration::new(fd)?);
        Ok(())
    }

    /// Moves what the handlers delivered into `pending`: the socket first, then the
    /// flags (signal-hook's order: nothing is lost, at worst a wake-up is
    /// spurious).
    fn drain(&self) {
        if let Some(read) = &*self.read.borrow() {
            let mut buf = [0u8; 64];
            loop {
                match (&*read).read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        for &b in &buf[..n] {
                            self.take_flag(c_int::from(b));
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
        }
        // A full socket drops bytes, never flags.
        for &sig in &self.signals {
            self.take_flag(sig);
        }
    }

    fn take_flag(&self, sig: c_int) {
        let s = sig as usize;
        if s < NSIG && self.shared.flags[s].swap(false, Ordering::SeqCst) {
            let mut pending = self.pending.borrow_mut();
            if !pending.contains(&sig) {
                pending.push_back(sig);
            }
        }
    }

    /// The wait of `next` (with a cancel registration) and of `poll_next`
    /// (without).
    fn poll_signal(
        &self,
        cx: &mut Context<'_>,
        mut cancel: Option<&mut CancelRegistration>,
    ) -> Poll<Result<c_int>> {
        loop {
            if self.is_closed() {
                return Poll::Ready(Err(closed_error()));
            }
            if let Some(sig) = self.pending.borrow_mut().pop_front() {
                if let Some(c) = cancel.as_deref_mut() {
                    c.clear();
                }
                return Poll::Ready(Ok(sig));
            }
            let reg = self.reg.borrow();
            let Some(reg) = reg.as_ref() else {
                return Poll::Ready(Err(closed_error()));
            };
            match reg.poll_ready(cx, IoDirection::Read) {
                Poll::Ready(report) => {
                    self.drain(); // reads until WouldBlock: the readiness is used up
                    reg.clear_ready(IoDirection::Read, report);
                }
                Poll::Pending => {
                    let mut w = self.waker.borrow_mut();
                    if !w.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                        *w = Some(cx.waker().clone());
                    }
                    drop(w);
                    if let Some(c) = cancel.as_deref_mut() {
                        if let Poll::Ready(e) = c.poll_cancelled(cx) {
                            return Poll::Ready(Err(e));
                        }
                    }
                    return Poll::Pending;
                }
            }
        }
    }
}

/// The signals as a [`futures_core::Stream`]: yields signal numbers, and ends
/// (`None`) once the receiver is closed. Exclusive access (`Pin<&mut Self>`) rules
/// out concurrent use.
///
/// Unlike [`next`](SignalReceiver::next), polling the stream is not a trio
/// checkpoint and does not see trio cancellation (a `Stream` cannot return an
/// error): use it with combinators that are cancelled by being dropped. The
/// stream also ends if it cannot register with the run loop (outside trio).
///
/// # Examples
///
/// ```standalone_crate
/// use std::future::poll_fn;
/// use std::pin::Pin;
/// use futures_core::Stream;
/// # trio::run(async {
/// let mut r = trio::signal::open_signal_receiver(&[libc::SIGWINCH])?;
/// signal_hook::low_level::raise(libc::SIGWINCH)?;
/// let got = poll_fn(|cx| Pin::new(&mut r).poll_next(cx)).await;
/// assert_eq!(got, Some(libc::SIGWINCH));
/// r.close();
/// assert_eq!(poll_fn(|cx| Pin::new(&mut r).poll_next(cx)).await, None);
/// # Ok(()) }).unwrap();
/// ```
impl futures_core::Stream for SignalReceiver {
    type Item = c_int;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<c_int>> {
        let this = self.get_mut();
        if this.is_closed() {
            return Poll::Ready(None);
        }
        this.drain();
        if this.pending.borrow().is_empty() && this.ensure_registered().is_err() {
            return Poll::Ready(None);
        }
        match this.poll_signal(cx, None) {
            Poll::Ready(r) => Poll::Ready(r.ok()),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncResource for SignalReceiver {
    /// [`close`](SignalReceiver::close)s the receiver, then checkpoints.
    async fn aclose(&self) -> Result<()> {
        self.close();
        checkpoint().await
    }
}

impl Drop for SignalReceiver {
    fn drop(&mut self) {
        self.close();
    }
}

impl fmt::Debug for SignalReceiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignalReceiver")
            .field("signals", &self.signals)
            .field("pending", &*self.pending.borrow())
            .field("closed", &self.is_closed())
            .finish()
    }
}
