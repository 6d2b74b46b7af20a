//! Helpers shared by the `process_*` test binaries: what the kernel says about a
//! pid, and a lock to serialize tests that change process-wide state.
#![allow(dead_code)]

use std::sync::{Mutex, MutexGuard};

/// Serializes the tests of one binary that change process-wide state (the
/// `SIGCHLD` disposition) or count open fds.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// `(state, parent pid)` from `/proc/<pid>/stat`, or `None` if there is no such
/// process.
pub fn proc_stat(pid: u32) -> Option<(char, i32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) S ppid ...": comm may hold spaces and parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((state, ppid))
}

/// True while `pid` is a child of this process (running or a zombie).
pub fn is_our_child(pid: u32) -> bool {
    let me = std::process::id() as i32;
    proc_stat(pid).is_some_and(|(_, ppid)| ppid == me)
}

/// True if `pid` is a zombie child of ours.
pub fn is_our_zombie(pid: u32) -> bool {
    let me = std::process::id() as i32;
    proc_stat(pid).is_some_and(|(state, ppid)| state == 'Z' && ppid == me)
}

/// Blocks until the kernel reports `events` on a pidfd of `pid` (opened here),
/// for at most 20 seconds; returns whether it did. `POLLIN`: the process exited;
/// `0`: only `POLLHUP`, which Linux (6.9+) reports once the process is reaped.
/// `false` if `pid` is already gone (it cannot be opened).
fn wait_pidfd(pid: u32, events: libc::c_short) -> bool {
    // SAFETY: pidfd_open(2) takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return false;
    }
    let fd = fd as libc::c_int;
    let mut p = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    // SAFETY: one valid pollfd; the fd is ours and closed right after.
    let n = unsafe { libc::poll(&mut p, 1, 20_000) };
    // SAFETY: closing the fd opened above, once.
    unsafe { libc::close(fd) };
    n == 1
}

/// Waits (blocking the thread: it is the kernel we wait for, not a task) until
/// our child `pid` has exited and is a zombie.
pub fn wait_until_zombie(pid: u32) {
    wait_pidfd(pid, libc::POLLIN);
    assert!(is_our_zombie(pid), "child {pid} did not become a zombie");
}

/// Waits (blocking the thread) until `pid` is no longer our child: somebody —
/// trio's reaper thread — reaped it.
pub fn wait_until_reaped(pid: u32) {
    if is_our_child(pid) {
        wait_pidfd(pid, 0);
    }
    assert!(!is_our_child(pid), "child {pid} was not reaped");
}

/// The pipes, sockets and pidfds this process has open, as (fd, what it is —
/// `pipe:[inode]`, ...): what a subprocess could leak; not the epoll and
/// eventfd instances that run loops of concurrently starting tests create.
pub fn open_fd_set() -> std::collections::BTreeSet<(String, String)> {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let target = std::fs::read_link(e.path()).ok()?;
            Some((
                e.file_name().to_string_lossy().into_owned(),
                target.to_string_lossy().into_owned(),
            ))
        })
        .filter(|(_, t)| t.starts_with("pipe:") || t.starts_with("socket:") || t.contains("pidfd"))
        .collect()
}

/// The pipes, sockets and pidfds open now that were not in `before`: what a
/// test leaked. (Counting would also see a reaper thread of an earlier test
/// closing its pipe meanwhile.)
pub fn new_fds(before: &std::collections::BTreeSet<(String, String)>) -> Vec<(String, String)> {
    open_fd_set().difference(before).cloned().collect()
}

/// The pids of this process's children (as `/proc/self/task/*/children` lists
/// them).
pub fn children() -> Vec<u32> {
    let mut pids = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        if let Ok(s) = std::fs::read_to_string(task.path().join("children")) {
            pids.extend(s.split_whitespace().filter_map(|p| p.parse::<u32>().ok()));
        }
    }
    pids
}
