//! Helpers shared by the `process_*` test binaries: what the kernel says about a
//! pid, and a lock to serialize tests that change process-wide state.
#![allow(dead_code)]

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

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

/// Polls the kernel (not another task: there is nothing to wait on) until `pred`
/// holds, for at most 20 seconds of real time.
pub fn eventually(what: &str, mut pred: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !pred() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The number of pipes, sockets and pidfds this process has open (what a
/// subprocess could leak; not the epoll and eventfd instances that run loops of
/// concurrently starting tests create).
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter(|target| {
            let t = target.to_string_lossy();
            t.starts_with("pipe:") || t.starts_with("socket:") || t.contains("pidfd")
        })
        .count()
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
