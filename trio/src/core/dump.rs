//! Printing the task tree when the process receives a signal (opt-in:
//! [`Builder::task_tree_on_signal`](crate::Builder::task_tree_on_signal)).
//!
//! A hung program is best asked from outside: `kill -USR1 <pid>`. A small thread
//! waits for the signal (through `signal-hook`, so nothing unsafe runs in the
//! handler) and queues a callback on the loop, which prints
//! [`task_tree`](crate::lowlevel::task_tree) to stderr between two batches. The
//! thread holds no [`TrioToken`](crate::lowlevel::TrioToken) — it finds the loop by
//! id — so it does not keep the deadlock detector quiet; it stops when the run ends.
//!
//! `signal-hook` cannot uninstall its handler: after the run the signal is ignored
//! rather than taking its default action.

#[cfg(unix)]
pub(in crate::core) use imp::DumpOnSignal;

/// Windows has no signals to ask a program with: `Builder::task_tree_on_signal`
/// is refused there.
#[cfg(windows)]
pub(in crate::core) struct DumpOnSignal(());

#[cfg(windows)]
impl DumpOnSignal {
    pub(in crate::core) fn start(signal: i32, _loop_id: u64) -> crate::Result<DumpOnSignal> {
        Err(crate::Error::new(
            crate::ErrorKind::InvalidInput,
            format!("Builder::task_tree_on_signal({signal}): there are no such signals on Windows"),
        ))
    }
}

#[cfg(unix)]
mod imp {
    use std::thread::JoinHandle;

    use signal_hook::iterator::{Handle, Signals};

    use super::super::context;
    use super::super::entry_queue;
    use crate::{Error, ErrorKind, Result};

    pub(in crate::core) struct DumpOnSignal {
        handle: Handle,
        thread: Option<JoinHandle<()>>,
    }

    impl DumpOnSignal {
        /// Starts listening for `signal`: [`ErrorKind::InvalidInput`] for a signal
        /// that cannot be received (as `trio::signal::open_signal_receiver` refuses it), an I/O
        /// error if the handler or the thread cannot be set up.
        ///
        pub(in crate::core) fn start(signal: i32, loop_id: u64) -> Result<DumpOnSignal> {
            crate::sys::signal::check_signal(signal).map_err(|e| {
                let why = e.message().unwrap_or("it cannot be received");
                Error::new(e.kind(), format!("Builder::task_tree_on_signal: {why}"))
            })?;
            let os_error = |e: std::io::Error| {
                let msg =
                    format!("Builder::task_tree_on_signal({signal}): cannot set up the handler");
                Error::build(ErrorKind::Io, Some(msg.into()), Some(Box::new(e)))
            };
            let mut signals = Signals::new([signal]).map_err(os_error)?;
            let handle = signals.handle();
            let thread = std::thread::Builder::new()
                .name("trio-task-tree-dump".into())
                .spawn(move || {
                    for _ in signals.forever() {
                        entry_queue::call_on_loop(loop_id, Box::new(print_tree));
                    }
                })
                .map_err(os_error)?;
            Ok(DumpOnSignal {
                handle,
                thread: Some(thread),
            })
        }
    }

    fn print_tree() {
        if let Some(tree) = context::with_runner(|r| r.task_tree()) {
            eprint!("trio: task tree (pid {}):\n{tree:#}", std::process::id());
        }
    }

    impl Drop for DumpOnSignal {
        fn drop(&mut self) {
            self.handle.close();
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
    }
}
