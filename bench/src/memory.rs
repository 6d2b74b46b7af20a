//! Bytes per idle task: RSS growth (from `/proc/self/statm`) while `n` tasks sleep.
//! Each measurement runs in a child process (this binary re-executed with
//! `--mem-child <runtime> <n>`), so one runtime's freed memory does not skew the
//! other's.

use std::io::Write;
use std::process::Command;

/// `AT_PAGESZ` in the auxiliary vector.
const AT_PAGESZ: u64 = 6;

/// The page size, read from `/proc/self/auxv` (4096 if unreadable).
fn page_size() -> u64 {
    let Ok(auxv) = std::fs::read("/proc/self/auxv") else {
        return 4096;
    };
    auxv.chunks_exact(16)
        .map(|kv| {
            let k = u64::from_ne_bytes(kv[..8].try_into().expect("8 bytes"));
            let v = u64::from_ne_bytes(kv[8..].try_into().expect("8 bytes"));
            (k, v)
        })
        .find(|&(k, _)| k == AT_PAGESZ)
        .map_or(4096, |(_, v)| v)
}

/// The resident set size of this process, in bytes.
pub fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("read /proc/self/statm");
    let resident: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("statm's second field");
    resident * page_size()
}

/// Prints `<runtime> idle_task_bytes <n> <bytes per task>` and exits at once (no
/// teardown of a million tasks).
pub fn report_and_exit(runtime: &str, n: usize, before: u64, after: u64) -> ! {
    let per_task = after.saturating_sub(before) as f64 / n as f64;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{runtime} idle_task_bytes {n} {per_task:.1}");
    let _ = out.flush();
    std::process::exit(0)
}

/// The child process's entry point.
pub fn child(runtime: &str, n: usize) -> ! {
    match runtime {
        "trio" => crate::trio_wl::idle_tasks(n),
        "tokio-ct" => crate::tokio_wl::idle_tasks(n),
        other => {
            eprintln!("no memory measurement for {other}");
            std::process::exit(2)
        }
    }
}

/// Runs the measurement for `runtime` in a child process; bytes per idle task.
pub fn measure(runtime: &str, n: usize) -> Option<f64> {
    let exe = std::env::current_exe().ok()?;
    let mut cmd = Command::new(exe);
    cmd.args(["--mem-child", runtime, &n.to_string()]);
    if crate::harness::TRIO_DETERMINISTIC.load(std::sync::atomic::Ordering::Relaxed) {
        cmd.arg("--trio-deterministic");
    }
    let out = cmd.output().ok()?;
    if !out.status.success() {
        eprintln!(
            "memory child for {runtime} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.starts_with(runtime))?;
    line.split_whitespace().nth(3)?.parse().ok()
}
