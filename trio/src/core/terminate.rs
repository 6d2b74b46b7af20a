//! `SIGTERM` as a graceful stop (opt-in: `Builder::stop_gracefully_on_sigterm`).
//!
//! Service managers stop a program with `SIGTERM`, wait, then kill it. A server
//! should use the wait: stop accepting, finish what is in flight, leave. With the
//! option set, the first `SIGTERM` asks the main task's scope to stop gracefully
//! (source [`CancelSource::Terminated`]); the second cancels it outright; the
//! third ends the process the default way.
//!
//! As with Ctrl-C (`ki.rs`), the handler does only async-signal-safe things
//! through `signal-hook`: a conditional default action (armed when no run owns
//! `SIGTERM`, and after the second one) and a byte written to a pipe. A thread,
//! started once per process, reads the pipe and queues the stop on the owning
//! run's loop by its id (it holds no token, so deadlock detection still works).
//! One run at a time owns `SIGTERM`; when none does, it terminates the process as
//! if trio were not there.

#[cfg(unix)]
mod imp {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex, OnceLock};
    use std::time::Duration;

    use super::super::context;
    use super::super::entry_queue;
    use crate::error::CancelSource;

    struct TermGlobal {
        /// True: SIGTERM performs its default action (ends the process).
        kill: Arc<AtomicBool>,
        /// The owning run: its loop id and grace period.
        owner: Mutex<Option<(u64, Duration)>>,
        /// SIGTERMs delivered to the current owner.
        count: AtomicUsize,
    }

    static TERM: OnceLock<Option<TermGlobal>> = OnceLock::new();

    fn global() -> Option<&'static TermGlobal> {
        TERM.get_or_init(|| {
            if cfg!(miri) {
                return None; // Miri cannot install signal handlers.
            }
            let kill = Arc::new(AtomicBool::new(true));
            let (mut reader, writer) = std::os::unix::net::UnixStream::pair().ok()?;
            signal_hook::flag::register_conditional_default(
                signal_hook::consts::SIGTERM,
                kill.clone(),
            )
            .ok()?;
            signal_hook::low_level::pipe::register(signal_hook::consts::SIGTERM, writer).ok()?;
            std::thread::Builder::new()
                .name("trio-sigterm".into())
                .spawn(move || {
                    use std::io::Read;
                    let mut byte = [0u8; 1];
                    while let Ok(n) = reader.read(&mut byte) {
                        if n == 0 {
                            break;
                        }
                        notify();
                    }
                })
                .ok()?;
            Some(TermGlobal {
                kill,
                owner: Mutex::new(None),
                count: AtomicUsize::new(0),
            })
        })
        .as_ref()
    }

    /// One SIGTERM arrived: queue its stop on the owning run's loop.
    fn notify() {
        let Some(g) = global() else { return };
        let Some((loop_id, grace)) = *g.owner.lock().unwrap_or_else(|e| e.into_inner()) else {
            return;
        };
        let count = g.count.fetch_add(1, Ordering::AcqRel) + 1;
        if count >= 2 {
            // The next one ends the process the default way.
            g.kill.store(true, Ordering::Release);
        }
        entry_queue::call_on_loop(
            loop_id,
            Box::new(move || {
                context::with_runner(|r| {
                    r.terminated.set(true);
                    if count == 1 {
                        r.main_scope
                            .cancel_gracefully(grace, CancelSource::Terminated);
                    } else {
                        r.main_scope.cancel(CancelSource::Terminated, None);
                    }
                });
            }),
        );
    }

    /// While alive, the run it was made for owns SIGTERM.
    pub(in crate::core) struct TermGuard(());

    impl TermGuard {
        /// Claims SIGTERM for the loop `loop_id`, unless another run owns it (or the
        /// handler cannot be installed).
        pub(in crate::core) fn claim(loop_id: u64, grace: Duration) -> Option<TermGuard> {
            let g = global()?;
            let mut owner = g.owner.lock().unwrap_or_else(|e| e.into_inner());
            if owner.is_some() {
                return None;
            }
            *owner = Some((loop_id, grace));
            g.count.store(0, Ordering::Release);
            g.kill.store(false, Ordering::Release);
            Some(TermGuard(()))
        }
    }

    impl Drop for TermGuard {
        fn drop(&mut self) {
            if let Some(g) = global() {
                *g.owner.lock().unwrap_or_else(|e| e.into_inner()) = None;
                g.kill.store(true, Ordering::Release);
            }
        }
    }
}
#[cfg(unix)]
pub(in crate::core) use imp::TermGuard;

/// Windows has no SIGTERM: the option has no effect there, and no run ever owns
/// it.
#[cfg(windows)]
pub(in crate::core) struct TermGuard(());

#[cfg(windows)]
impl TermGuard {
    pub(in crate::core) fn claim(_loop_id: u64, _grace: std::time::Duration) -> Option<TermGuard> {
        None
    }
}
