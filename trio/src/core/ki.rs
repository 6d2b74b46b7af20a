//! Ctrl-C (SIGINT on Unix; Ctrl-C and Ctrl-Break on Windows) while a run is
//! active.
//!
//! # What happens
//!
//! 1. The first Ctrl-C cancels the main task's scope with source
//!    [`CancelSource::CtrlC`](crate::CancelSource::CtrlC). Clean-up code runs,
//!    shielded scopes included, and `run` returns [`ErrorKind::Interrupted`] so the
//!    caller can tell an interrupted run from a normal result.
//! 2. A second Ctrl-C kills the process the default way, whatever the program is
//!    doing (stuck clean-up included).
//! 3. If the loop does not notice the first Ctrl-C within [`GRACE`] — a task that
//!    never reaches a checkpoint keeps it from running — the process exits with
//!    status 130, after saying why as a diagnostic
//!    ([`DiagnosticKind::CtrlCUnhandled`](crate::lowlevel::DiagnosticKind::CtrlCUnhandled)).
//!    Noticing means the loop's scheduler delivered the cancellation *and*
//!    came back once more: a task that resumed in the pass that delivered it,
//!    at a schedule point that does not look at cancellation, and then never
//!    checkpoints again, is caught too.
//!
//! 2 and 3 are the default; with `Builder::ctrl_c_exits(false)` trio never ends
//! the process: further Ctrl-Cs only cancel again (a no-op), and a stuck loop
//! stays stuck.
//!
//! With `Builder::stop_gracefully_on_ctrl_c(grace)` the first Ctrl-C only asks
//! the main task to stop ([`CancelScope::cancel_gracefully`](crate::CancelScope::cancel_gracefully)
//! on its scope, source `CtrlC`): servers stop accepting and finish what is in
//! flight, and the main task is cancelled when `grace` ends. The second Ctrl-C
//! cancels outright, and the third ends the process.
//!
//! # Why a watchdog thread
//!
//! Rust cannot raise an exception inside running code as Python does, and almost
//! nothing is allowed inside a signal handler. So on Unix the handler only does two
//! async-signal-safe things (via `signal-hook`): it arms the "second Ctrl-C kills"
//! flag, and writes a byte to a pipe. (On Windows a console control handler runs
//! on a thread Windows makes for it, and does the watchdog's work itself.) A watchdog thread, started once per process,
//! reads the pipe, tells the loop that owns Ctrl-C (setting a flag and waking it
//! through its cross-thread waker), and waits for the loop to acknowledge.
//!
//! Only one run at a time owns Ctrl-C: the first to start while none does. When no
//! run owns it, the "kill" flag is set, so Ctrl-C behaves as if trio were not there.
//!
//! [`ErrorKind::Interrupted`]: crate::ErrorKind::Interrupted

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::diagnostic::{Diagnostic, DiagnosticKind, emit};
use super::entry_queue::LoopShared;

/// How long a run that handles Ctrl-C has to notice one before trio ends the
/// process with status 130 (unless [`Builder::ctrl_c_exits`](crate::Builder::ctrl_c_exits)
/// is off): a task that never reaches a checkpoint keeps the loop from noticing.
///
/// # Examples
///
/// ```
/// assert_eq!(trio::lowlevel::CTRL_C_GRACE, std::time::Duration::from_secs(3));
/// ```
pub const CTRL_C_GRACE: Duration = Duration::from_secs(3);
use CTRL_C_GRACE as GRACE;

struct KiGlobal {
    /// True: SIGINT performs its default action (kills the process).
    kill: Arc<AtomicBool>,
    owner: Mutex<Option<Arc<LoopShared>>>,
}

static KI: OnceLock<Option<KiGlobal>> = OnceLock::new();

#[cfg(unix)]
fn global() -> Option<&'static KiGlobal> {
    KI.get_or_init(|| {
        if cfg!(miri) {
            return None; // Miri cannot install signal handlers: no Ctrl-C there.
        }
        let kill = Arc::new(AtomicBool::new(true));
        let (mut reader, writer) = std::os::unix::net::UnixStream::pair().ok()?;
        // SIGINT kills while `kill` is set: when no run owns Ctrl-C, and once the
        // owner has been told of one Ctrl-C and may be ended by the next (the
        // watchdog arms it, see `watchdog_notify`).
        signal_hook::flag::register_conditional_default(signal_hook::consts::SIGINT, kill.clone())
            .ok()?;
        signal_hook::low_level::pipe::register(signal_hook::consts::SIGINT, writer).ok()?;
        std::thread::Builder::new()
            .name("trio-ctrl-c".into())
            .spawn(move || {
                use std::io::Read;
                let mut byte = [0u8; 1];
                while let Ok(n) = reader.read(&mut byte) {
                    if n == 0 {
                        break;
                    }
                    watchdog_notify();
                }
            })
            .ok()?;
        Some(KiGlobal {
            kill,
            owner: Mutex::new(None),
        })
    })
    .as_ref()
}

/// Windows: a console control handler, for Ctrl-C and Ctrl-Break. Windows runs
/// it on a thread of its own, where anything may be done (nothing like a signal
/// handler's limits): it is the watchdog. Returning `FALSE` lets the next
/// handler — in the end the default one, which ends the process — have the
/// event: that is what `kill` means here.
#[cfg(windows)]
fn global() -> Option<&'static KiGlobal> {
    KI.get_or_init(|| {
        use windows_sys::Win32::System::Console::SetConsoleCtrlHandler;
        // SAFETY: `console_handler` is a plain function with the signature
        // Windows expects, valid for the whole process.
        let ok = unsafe { SetConsoleCtrlHandler(Some(console_handler), 1) };
        (ok != 0).then(|| KiGlobal {
            kill: Arc::new(AtomicBool::new(true)),
            owner: Mutex::new(None),
        })
    })
    .as_ref()
}

#[cfg(windows)]
// SAFETY: Windows calls it with the handler signature it declares; it touches
// only atomics, a mutex and the watchdog, all safe from any thread.
unsafe extern "system" fn console_handler(event: u32) -> windows_sys::core::BOOL {
    use windows_sys::Win32::System::Console::{CTRL_BREAK_EVENT, CTRL_C_EVENT};
    if event != CTRL_C_EVENT && event != CTRL_BREAK_EVENT {
        return 0;
    }
    let Some(g) = KI.get().and_then(Option::as_ref) else {
        return 0;
    };
    if g.kill.load(Ordering::Acquire) {
        return 0; // no run owns Ctrl-C, or this is the one that ends the process
    }
    watchdog_notify();
    1
}

fn watchdog_notify() {
    let Some(g) = global() else { return };
    let owner = g.owner.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let Some(shared) = owner else {
        return;
    };
    let count = shared.ki_count.fetch_add(1, Ordering::AcqRel) + 1;
    shared.ki_seen.store(false, Ordering::Release);
    shared.ki_pending.store(true, Ordering::Release);
    shared.wake_loop();
    if !shared.ctrl_c_exits {
        return; // `Builder::ctrl_c_exits(false)`: trio never ends the process.
    }
    // The next Ctrl-C ends the process the default way — after the one that
    // cancels outright, when the first only asked for a graceful stop.
    if shared.ctrl_c_grace.is_none() || count >= 2 {
        g.kill.store(true, Ordering::Release);
    }
    // Two proofs, both within the grace period: the loop took the Ctrl-C
    // (its scheduler delivered the cancellation), and then came back to its
    // scheduler once more. The second catches a task that resumed in the very
    // pass that delivered the cancellation, at a point that does not look at
    // it, and then never reaches a checkpoint. (A run that ended after it
    // took the Ctrl-C has answered: nothing of it is stuck.)
    let start = Instant::now();
    let within_grace = |done: &dyn Fn() -> bool| {
        while start.elapsed() < GRACE {
            if done() {
                return true;
            }
            std::thread::park_timeout(Duration::from_millis(20));
        }
        done()
    };
    let seen = within_grace(&|| shared.ki_seen.load(Ordering::Acquire)) && {
        shared.ki_ping.store(true, Ordering::Release);
        shared.wake_loop();
        within_grace(&|| !shared.ki_ping.load(Ordering::Acquire) || shared.is_closed())
    };
    if !seen {
        emit(
            shared.diagnostics.as_ref(),
            Diagnostic::new(
                DiagnosticKind::CtrlCUnhandled,
                format!(
                    "Ctrl-C was not handled within {GRACE:?} (a task never reached a \
                     checkpoint); exiting with status 130"
                ),
            ),
        );
        std::process::exit(130);
    }
}

/// While alive, the run it was made for owns Ctrl-C.
pub(in crate::core) struct KiGuard {
    shared: Arc<LoopShared>,
}

impl KiGuard {
    /// Claims Ctrl-C for `shared`'s loop, unless another run owns it.
    pub(in crate::core) fn claim(shared: &Arc<LoopShared>) -> Option<KiGuard> {
        let g = global()?;
        let mut owner = g.owner.lock().unwrap_or_else(|e| e.into_inner());
        if owner.is_some() {
            return None;
        }
        *owner = Some(shared.clone());
        g.kill.store(false, Ordering::Release);
        Some(KiGuard {
            shared: shared.clone(),
        })
    }
}

impl Drop for KiGuard {
    fn drop(&mut self) {
        if let Some(g) = global() {
            let mut owner = g.owner.lock().unwrap_or_else(|e| e.into_inner());
            if owner.as_ref().is_some_and(|o| Arc::ptr_eq(o, &self.shared)) {
                *owner = None;
                g.kill.store(true, Ordering::Release);
            }
        }
    }
}
