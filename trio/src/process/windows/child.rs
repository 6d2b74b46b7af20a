//! The state of one child process on Windows, shared by every
//! [`Process`](crate::process::Process) handle for it.
//!
//! # Invariants
//!
//! * `status` is `Some` exactly when the child's exit was seen (its process
//!   handle signalled, its exit code read); `process` is `None` from then on: the
//!   handle is closed as soon as the exit is known — Windows' equivalent of
//!   reaping — and nothing is ever done to the child again (its pid may be reused
//!   once no handle to it is open).
//! * The watcher thread is started by the first `wait` that has to wait, and
//!   owns a duplicate of the process handle. It ends when the child exits (it
//!   then sets `exited` and wakes the waiting task) or when the watcher is
//!   dropped (its `stop` event is set) — never later: dropping a `Process`
//!   whose child runs on leaves no thread behind.
//! * Only the holder of `wait_lock` waits for the watcher (one waker in the
//!   shared state); the other waiters queue on the lock and find `status` set
//!   when their turn comes.

use std::cell::{Cell, RefCell};
use std::os::windows::io::{AsHandle, OwnedHandle};
use std::os::windows::process::ExitStatusExt;
use std::process::ExitStatus;
use std::sync::Arc;

use super::shared::Shared;
use crate::sync::Lock;
use crate::sys;
use crate::sys::handle::Event;
use crate::{Error, ErrorKind, Result};

/// The exit code `terminate` gives a child, as std's `Child::kill` and Python's
/// `Popen.terminate` do on Windows.
const TERMINATED: u32 = 1;

/// The thread that waits for the child's exit.
struct Watcher {
    /// `true` once the thread has seen the exit (or failed to wait: look then).
    shared: Arc<Shared<bool>>,
    stop: Arc<Event>,
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.stop.set();
    }
}

pub(crate) struct ChildState {
    pid: u32,
    process: RefCell<Option<OwnedHandle>>,
    status: Cell<Option<ExitStatus>>,
    watcher: RefCell<Option<Watcher>>,
    wait_lock: Lock,
}

impl ChildState {
    /// Takes charge of a freshly spawned child (its pipes already taken).
    pub(crate) fn new(child: std::process::Child) -> ChildState {
        ChildState {
            pid: child.id(),
            process: RefCell::new(Some(OwnedHandle::from(child))),
            status: Cell::new(None),
            watcher: RefCell::new(None),
            wait_lock: Lock::new(),
        }
    }

    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// The status if the exit was seen; otherwise a look without blocking.
    pub(crate) fn poll(&self) -> Option<ExitStatus> {
        if let Some(s) = self.status.get() {
            return Some(s);
        }
        let code = match &*self.process.borrow() {
            Some(h) => sys::process::exit_code(h.as_handle()),
            None => return None,
        };
        match code {
            Ok(Some(code)) => Some(self.record(code)),
            // Asking about our own open process handle does not fail; should it,
            // the child counts as running.
            Ok(None) | Err(_) => None,
        }
    }

    /// Records the exit: the status; the process handle is closed, the watcher
    /// stopped.
    fn record(&self, code: u32) -> ExitStatus {
        let status = ExitStatus::from_raw(code);
        self.status.set(Some(status));
        drop(self.process.borrow_mut().take());
        drop(self.watcher.borrow_mut().take());
        status
    }

    /// Waits for the child to exit and returns its status.
    pub(crate) async fn wait(&self) -> Result<ExitStatus> {
        let _turn = self.wait_lock.lock().await?;
        if let Some(s) = self.poll() {
            return Ok(s);
        }
        let shared = self.ensure_watcher()?;
        shared.wait(|inner| inner.state.then_some(())).await?;
        self.poll().ok_or_else(|| {
            Error::new(
                ErrorKind::Io,
                "waiting for the child failed, and it has not exited",
            )
        })
    }

    /// The watcher's shared state, starting the thread if there is none.
    fn ensure_watcher(&self) -> Result<Arc<Shared<bool>>> {
        let mut slot = self.watcher.borrow_mut();
        if let Some(w) = &*slot {
            return Ok(w.shared.clone());
        }
        let process = match &*self.process.borrow() {
            Some(h) => h.try_clone()?,
            None => return Err(Error::new(ErrorKind::Internal, "no process handle")),
        };
        let shared = Arc::new(Shared::new(false));
        let stop = Arc::new(Event::new()?);
        let (thread_shared, thread_stop) = (shared.clone(), stop.clone());
        std::thread::Builder::new()
            .name(format!("trio-wait-{}", self.pid))
            .spawn(move || {
                // Exited, or the wait failed (then the loop looks for itself): tell
                // the loop. Stopped: nobody waits any more.
                if !matches!(
                    sys::process::wait_exit(process.as_handle(), &thread_stop),
                    Ok(false)
                ) {
                    let mut g = thread_shared.lock();
                    g.state = true;
                    thread_shared.wake(g);
                }
            })?;
        *slot = Some(Watcher {
            shared: shared.clone(),
            stop,
        });
        Ok(shared)
    }

    pub(crate) fn status(&self) -> Option<ExitStatus> {
        self.status.get()
    }

    /// Ends the child (`TerminateProcess`, exit code 1), unless its exit was
    /// already seen (then this does nothing).
    pub(crate) fn terminate(&self) -> std::io::Result<()> {
        let r = match &*self.process.borrow() {
            Some(h) => sys::process::terminate(h.as_handle(), TERMINATED),
            None => return Ok(()),
        };
        match r {
            // Refused because it has already exited (as std's `kill` checks).
            Err(_) if self.poll().is_some() => Ok(()),
            r => r,
        }
    }
}
