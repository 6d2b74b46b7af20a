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

use std::io;
use std::thread::JoinHandle;

use signal_hook::iterator::{Handle, Signals};

use super::context;
use super::entry_queue;

pub(crate) struct DumpOnSignal {
    handle: Handle,
    thread: Option<JoinHandle<()>>,
}

impl DumpOnSignal {
    pub(crate) fn start(signal: i32, loop_id: u64) -> io::Result<DumpOnSignal> {
        let mut signals = Signals::new([signal])?;
        let handle = signals.handle();
        let thread = std::thread::Builder::new()
            .name("trio-task-tree-dump".into())
            .spawn(move || {
                for _ in signals.forever() {
                    entry_queue::call_on_loop(loop_id, Box::new(print_tree));
                }
            })?;
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
