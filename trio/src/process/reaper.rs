//! The reaper: a process-wide thread that reaps children whose every
//! [`Process`](super::Process) handle was dropped while they still ran.
//!
//! # Why a thread, and why only one
//!
//! A child that exits and is never `waitpid`ed stays a zombie until its parent
//! exits. Dropping a handle must not kill the child (std's `Child` does not,
//! and a detached child is sometimes what you want), and it cannot wait for it
//! either — `drop` is synchronous, and may even run after the trio run that
//! spawned the child has finished. So the pid is handed over to something that
//! outlives every run: one thread per process, started the first time it is
//! needed, blocked in `poll(2)` on the exit fds of all its orphans (pidfds, or the
//! pipes of the fallback helper threads) plus a wake-up socket. When an exit fd
//! turns readable, the child has exited and `waitpid` reaps it at once.
//!
//! (Python's `subprocess` keeps such children in a list and reaps them the next
//! time a `Popen` is created; a thread reaps them when they exit, not later.)
//!
//! An orphan without an exit fd — only if the system refused even the helper
//! thread's pipe — is polled with `WNOHANG` every 100 ms instead.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::{Mutex, OnceLock};

use crate::sys;

struct Orphan {
    pid: libc::pid_t,
    exit_fd: Option<OwnedFd>,
}

struct Reaper {
    incoming: Mutex<Vec<Orphan>>,
    wake: UnixStream,
}

static REAPER: OnceLock<Option<Reaper>> = OnceLock::new();

fn reaper() -> Option<&'static Reaper> {
    REAPER
        .get_or_init(|| {
            let (wake, mut wake_rx) = UnixStream::pair().ok()?;
            wake.set_nonblocking(true).ok()?;
            wake_rx.set_nonblocking(true).ok()?;
            std::thread::Builder::new()
                .name("trio-reaper".into())
                .spawn(move || {
                    let mut orphans: Vec<Orphan> = Vec::new();
                    loop {
                        let mut byte = [0u8; 64];
                        while matches!(wake_rx.read(&mut byte), Ok(n) if n > 0) {}
                        if let Some(r) = REAPER.get().and_then(Option::as_ref) {
                            let mut incoming = r.incoming.lock().unwrap_or_else(|e| e.into_inner());
                            orphans.append(&mut incoming);
                        }
                        reap_ready(&mut orphans);
                        wait_for_news(&wake_rx, &orphans);
                    }
                })
                .ok()?;
            Some(Reaper {
                incoming: Mutex::new(Vec::new()),
                wake,
            })
        })
        .as_ref()
}

/// Reaps every orphan that has exited.
fn reap_ready(orphans: &mut Vec<Orphan>) {
    orphans.retain(|o| {
        // An exit fd that is readable means "exited": then a blocking waitpid
        // returns at once. Without one, or not readable yet, only look.
        let exited = o
            .exit_fd
            .as_ref()
            .is_some_and(|fd| sys::fd::poll_now(fd.as_raw_fd(), libc::POLLIN).is_ok());
        !matches!(
            sys::process::waitpid(o.pid, exited),
            Ok(sys::process::Reaped::Status(_) | sys::process::Reaped::Gone) | Err(_)
        )
    });
}

/// Blocks until an orphan's exit fd or the wake-up socket is readable (or 100 ms
/// pass, if some orphan has no exit fd).
fn wait_for_news(wake_rx: &UnixStream, orphans: &[Orphan]) {
    let mut fds = vec![libc::pollfd {
        fd: wake_rx.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    }];
    let mut blind = false;
    for o in orphans {
        match &o.exit_fd {
            Some(fd) => fds.push(libc::pollfd {
                fd: fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            }),
            None => blind = true,
        }
    }
    if blind {
        let _ = sys::fd::poll_blocking(&mut fds, Some(100));
    } else {
        let _ = sys::fd::poll_blocking(&mut fds, None);
    }
}

/// Hands `pid` over to the reaper thread (started on first use).
///
/// If the thread cannot be started (the system is out of threads), the child is
/// reaped with a last `WNOHANG` try only — the one case where a zombie can remain.
pub(crate) fn adopt(pid: libc::pid_t, exit_fd: Option<OwnedFd>) {
    let Some(r) = reaper() else {
        let _ = sys::process::waitpid(pid, false);
        return;
    };
    r.incoming
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(Orphan { pid, exit_fd });
    let _ = (&r.wake).write(&[1]);
}
