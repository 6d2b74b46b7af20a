//! The link between a worker thread and the trio task waiting for it (Trio's
//! `PARENT_TASK_DATA` and the `Run` / `RunSync` messages of `_threads.py`).
//!
//! While a worker runs a job for [`to_thread::run_sync`](super::run_sync), a
//! thread-local [`Parent`] names the loop (its [`TrioToken`]), the waiting call
//! (a [`Host`]) and whether that call abandons its thread on cancellation. The
//! functions of [`from_thread`](crate::from_thread) read it to find their way back.
//!
//! What goes back is a [`Message`]: a `Send` closure that runs on the loop thread
//! and, for `from_thread::run`, *creates* the future there (trio futures need not
//! be `Send`). A message is delivered in one of two ways, as in Trio:
//!
//! * to the **host task** — the task blocked in `to_thread::run_sync`, which runs
//!   the message inside its own poll, so the future sees that task's cancel status
//!   and `current_task()`. Used when the thread was started without
//!   `abandon_on_cancel`: the host then certainly still waits for the thread.
//! * to the **system nursery** (a system task, or for a synchronous message the
//!   `run_sync_soon` callback itself) — when the thread may have been abandoned,
//!   when an explicit token was given, or when the host is gone (its future was
//!   dropped).

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::lowlevel::{TrioToken, spawn_system_task};
use crate::{Cancelled, Result};

/// A future created on the loop thread by a [`Message`].
pub(crate) type LocalFuture = Pin<Box<dyn Future<Output = ()>>>;

/// Work sent from a thread to the loop. Called on the loop thread; returns the
/// future still to run, if any. It reports its own outcome to the thread that
/// sent it (dropping it unrun tells that thread the run is gone).
pub(crate) type Message = Box<dyn FnOnce() -> Option<LocalFuture> + Send>;

/// The loop side of one `to_thread::run_sync` call, as its thread sees it.
pub(crate) trait Host: Send + Sync {
    /// Queues `msg` for the host task and wakes it; gives it back if the host
    /// task no longer waits. Called on the loop thread.
    fn post(&self, msg: Message) -> std::result::Result<(), Message>;

    /// The cancellation the host task has seen while waiting, if any.
    fn cancelled(&self) -> Option<Cancelled>;
}

/// What a worker thread knows about the call it runs for.
#[derive(Clone)]
pub(crate) struct Parent {
    pub(crate) token: TrioToken,
    pub(crate) host: Arc<dyn Host>,
    pub(crate) abandon_on_cancel: bool,
}

thread_local! {
    static PARENT: RefCell<Option<Parent>> = const { RefCell::new(None) };
}

/// Sets the current thread's [`Parent`] until dropped.
pub(crate) struct ParentGuard {
    prev: Option<Parent>,
}

impl ParentGuard {
    pub(crate) fn enter(parent: Parent) -> ParentGuard {
        let prev = PARENT.with(|p| p.borrow_mut().replace(parent));
        ParentGuard { prev }
    }
}

impl Drop for ParentGuard {
    fn drop(&mut self) {
        let prev = self.prev.take();
        PARENT.with(|p| *p.borrow_mut() = prev);
    }
}

/// The parent of the current thread, if it is running a `to_thread` job.
pub(crate) fn current_parent() -> Option<Parent> {
    PARENT.with(|p| p.borrow().clone())
}

/// Runs `msg` outside any host task: a synchronous message right here, a future as
/// a system task. If the system nursery is closed the future is dropped, which
/// tells its thread that the run has finished. Call on the loop thread.
pub(crate) fn run_in_system(msg: Message) {
    if let Some(fut) = msg() {
        let _ = spawn_system_task("trio::from_thread::run", async move {
            fut.await;
            Ok(())
        });
    }
}

/// Sends `msg` to the loop of `token`: to `host` if given (falling back to the
/// system nursery if the host is gone), else to the system nursery.
///
/// # Errors
///
/// [`ErrorKind::RunFinished`](crate::ErrorKind::RunFinished) if the run has ended.
pub(crate) fn dispatch(token: &TrioToken, host: Option<Arc<dyn Host>>, msg: Message) -> Result<()> {
    token.run_sync_soon(move || match host {
        Some(host) => {
            if let Err(msg) = host.post(msg) {
                run_in_system(msg);
            }
        }
        None => run_in_system(msg),
    })
}
