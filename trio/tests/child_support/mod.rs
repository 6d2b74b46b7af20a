//! Scenarios that need a process of their own (signals go to the whole process):
//! the test binary re-executes itself, running only one "child" test with an
//! environment variable naming the scenario, and the parent synchronises on the
//! lines the child prints.
#![allow(dead_code)] // each test file uses its own part

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};

/// Prints one line on stdout at once (the parent waits for it).
pub fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").unwrap();
    out.flush().unwrap();
}

/// This test binary, set to run only the test `child_test` with `var=scenario`,
/// its stdout piped (adjust stdin/stderr before spawning).
pub fn self_command(child_test: &str, var: &str, scenario: &str) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", child_test, "--nocapture", "--test-threads=1"])
        .env(var, scenario)
        .stdout(Stdio::piped());
    cmd
}

/// Spawns `cmd` and returns the child with an iterator over its stdout lines.
pub fn spawn_lines(mut cmd: Command) -> (Child, impl Iterator<Item = String>) {
    let mut child = cmd.spawn().unwrap();
    let lines = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map(|l| l.unwrap());
    (child, lines)
}

/// Reads lines until one ends with `want` (libtest prints "test name ... "
/// without a newline first); returns the lines read. Panics if the child's
/// output ends first.
pub fn wait_for(lines: &mut impl Iterator<Item = String>, want: &str) -> Vec<String> {
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let done = line.ends_with(want);
        seen.push(line);
        if done {
            return seen;
        }
    }
    panic!("child exited before printing {want:?}; it printed {seen:?}");
}

/// Sends `signal` to the child.
#[cfg(unix)]
pub fn signal(child: &Child, signal: libc::c_int) {
    // SAFETY: plain kill(2) on our own child's pid.
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, signal) };
    assert_eq!(rc, 0);
}

/// Waits for `child` and returns its exit code and everything it printed on
/// the pipes still in it (stdout, then stderr).
pub fn finish(mut child: Child) -> (Option<i32>, String) {
    use std::io::Read;
    let (mut out, mut err) = (String::new(), String::new());
    if let Some(mut s) = child.stdout.take() {
        s.read_to_string(&mut out).unwrap();
    }
    if let Some(mut s) = child.stderr.take() {
        s.read_to_string(&mut err).unwrap();
    }
    (child.wait().unwrap().code(), out + &err)
}

/// Yields at schedule points that do not look at cancellation until the
/// task's scope is cancelled — seen in the very pass that delivered the
/// cancellation — then spins without a checkpoint, forever.
pub async fn busy_once_cancelled() -> trio::Result<()> {
    loop {
        trio::lowlevel::cancel_shielded_checkpoint().await?;
        if trio::current_effective_deadline() == trio::Instant::NEG_INFINITY {
            let mut x: u64 = 0;
            loop {
                x = std::hint::black_box(x.wrapping_add(1));
            }
        }
    }
}
