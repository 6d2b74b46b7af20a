//! `trio::process::open_process` and `Process`, ported from Python Trio's
//! `src/trio/_tests/test_subprocess.py` (the `open_process` half of its
//! `background_process` parametrization; the `run_process`-in-a-nursery half is
//! in `process_run.rs`).
//!
//! Ported: `test_basic`, `test_auto_update_returncode`, `test_multi_wait`,
//! `test_pipes`, `test_interactive`, `test_stderr_stdout` (with `take_stdio`, and
//! with stdout sent to an fd of ours), `test_signals`, `test_wait_reapable_fails`,
//! `test_subprocess_pidfd_unnotified`. The `_no_pidfd` variants are unit tests in
//! `src/process/mod.rs` (the fallback can only be forced from inside the crate).
//!
//! Not ported: `test_errors` (Rust's types rule out the bad arguments),
//! `test_waitid_eintr` (PyPy-only EINTR handling; our `waitid` loop retries EINTR
//! by construction).
//!
//! Trio's children are Python one-liners; these use `sh`, `cat`, `sleep`, `true`,
//! `false` and `printf`. Every test holds a lock: one of them ignores `SIGCHLD`
//! process-wide, which would disturb the others.
//!
//! Linux only: the tests ask `/proc` and pidfds what the kernel thinks of a
//! child (running, a zombie, reaped).
#![cfg(target_os = "linux")]
// The test lock is a std mutex held for a whole test, across awaits: each test runs
// its own single-threaded run loop, so nothing else on that thread can want it.
#![allow(clippy::await_holding_lock)]

mod process_support;

use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use process_support::{is_our_child, serial, wait_until_reaped, wait_until_zombie};
use trio::abc::{AsyncResource, HalfCloseableStream, ReceiveStream, SendStream};
use trio::process::{PipeReceiveStream, Process, open_process};
use trio::testing::wait_all_tasks_blocked;
use trio::{ErrorKind, Result};

fn sleep_cmd(seconds: u32) -> Command {
    let mut c = Command::new("sleep");
    c.arg(seconds.to_string());
    c
}

fn sh(script: &str) -> Command {
    let mut c = Command::new("sh");
    c.args(["-c", script]);
    c
}

/// Trio's `open_process_then_kill`: whatever happens in `body`, the child is killed
/// and reaped afterwards.
async fn with_process<T>(
    cmd: Command,
    body: impl AsyncFnOnce(&mut Process) -> Result<T>,
) -> Result<(Process, T)> {
    let mut proc = open_process(cmd).await?;
    let r = body(&mut proc).await;
    proc.kill()?;
    trio::CancelScope::new().shielded().run(proc.wait()).await?;
    Ok((proc, r?))
}

async fn read_to_end(stream: &PipeReceiveStream) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.receive_some(&mut buf).await?;
        if n == 0 {
            return Ok(out);
        }
        out.extend_from_slice(&buf[..n]);
    }
}

#[trio::test]
async fn basic() -> Result<()> {
    // test_basic
    let _serial = serial();
    let (proc, ()) = with_process(Command::new("true"), async |p| {
        p.wait().await?;
        Ok(())
    })
    .await?;
    assert_eq!(proc.returncode().unwrap().code(), Some(0));
    let repr = format!("{proc:?}");
    assert!(repr.contains("exited with status 0"), "{repr}");
    assert!(repr.contains("\"true\""), "{repr}");

    let (proc, ()) = with_process(Command::new("false"), async |p| {
        p.wait().await?;
        Ok(())
    })
    .await?;
    assert_eq!(proc.returncode().unwrap().code(), Some(1));
    assert!(format!("{proc:?}").contains("exited with status 1"));
    Ok(())
}

#[trio::test]
async fn uses_a_pidfd_on_linux() -> Result<()> {
    // Trio's `assert proc._pidfd is not None` side of test_basic: this kernel has
    // pidfds (Linux 5.3+), so no helper thread is used.
    let _serial = serial();
    let (proc, ()) = with_process(Command::new("true"), async |p| {
        assert!(p.uses_pidfd());
        p.wait().await?;
        Ok(())
    })
    .await?;
    assert!(proc.returncode().is_some());
    Ok(())
}

#[trio::test]
async fn auto_update_returncode() -> Result<()> {
    // test_auto_update_returncode: returncode looks for itself, no wait() needed.
    let _serial = serial();
    with_process(sleep_cmd(9999), async |p| {
        assert_eq!(p.returncode(), None);
        assert!(format!("{p:?}").contains("running"));
        p.kill()?;
        // Trio calls the blocking `Popen.wait()` here; we let the kernel get there.
        let pid = p.pid();
        wait_until_zombie(pid);
        let status = p.returncode().expect("exited");
        assert_eq!(status.signal(), Some(libc::SIGKILL));
        assert!(format!("{p:?}").contains("exited with signal 9"));
        // Reaped by returncode itself.
        assert!(!is_our_child(pid));
        Ok(())
    })
    .await?;
    Ok(())
}

#[trio::test]
async fn multi_wait() -> Result<()> {
    // test_multi_wait: several waiters, cancelled ones included.
    let _serial = serial();
    with_process(sleep_cmd(10), async |p| {
        let p = &*p;
        trio::open_nursery(async |n| {
            for _ in 0..3 {
                n.start_soon(async move { p.wait().await.map(drop) })?;
            }
            wait_all_tasks_blocked().await?;
            n.cancel_scope().cancel();
            Ok(())
        })
        .await?;
        assert_eq!(p.returncode(), None);
        trio::open_nursery(async |n| {
            for _ in 0..3 {
                n.start_soon(async move {
                    assert_eq!(p.wait().await?.signal(), Some(libc::SIGKILL));
                    Ok(())
                })?;
            }
            wait_all_tasks_blocked().await?;
            p.kill()
        })
        .await
    })
    .await?;
    Ok(())
}

#[trio::test]
async fn pipes() -> Result<()> {
    // test_pipes: feed stdin, read stdout and stderr at once. (Trio's child writes
    // stderr reversed; this one writes each line to both.)
    let _serial = serial();
    let mut cmd =
        sh(r#"while IFS= read -r l; do printf '%s\n' "$l"; printf '%s\n' "$l" >&2; done"#);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let (proc, ()) = with_process(cmd, async |p| {
        let msg = b"the quick brown fox\njumps over the lazy dog\n";
        let (stdin, stdout, stderr) =
            (p.stdin().unwrap(), p.stdout().unwrap(), p.stderr().unwrap());
        trio::fail_after(Duration::from_secs(30), async {
            trio::open_nursery(async |n| {
                n.start_soon(async move {
                    stdin.send_all(msg).await?;
                    stdin.aclose().await
                })?;
                n.start_soon(async move {
                    assert_eq!(read_to_end(stdout).await?, msg);
                    Ok(())
                })?;
                n.start_soon(async move {
                    assert_eq!(read_to_end(stderr).await?, msg);
                    Ok(())
                })?;
                Ok(())
            })
            .await
        })
        .await?;
        assert!(p.wait().await?.success());
        Ok(())
    })
    .await?;
    assert_eq!(proc.returncode().unwrap().code(), Some(0));
    Ok(())
}

#[trio::test]
async fn interactive() -> Result<()> {
    // test_interactive: back and forth with a child. Given a number n, it answers
    // with n copies of the digit 2*i on stdout and 2n copies of 2*i+1 on stderr.
    let _serial = serial();
    let script = r#"
        idx=0
        while IFS= read -r n; do
            s=''; i=0; while [ $i -lt $n ]; do s="$s$((idx * 2))"; i=$((i + 1)); done
            printf '%s\n' "$s"
            s=''; i=0; while [ $i -lt $((n * 2)) ]; do s="$s$((idx * 2 + 1))"; i=$((i + 1)); done
            printf '%s\n' "$s" >&2
            idx=$((idx + 1))
        done"#;
    let mut cmd = sh(script);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    with_process(cmd, async |p| {
        let (stdin, stdout, stderr) =
            (p.stdin().unwrap(), p.stdout().unwrap(), p.stderr().unwrap());

        async fn drain_one(stream: &PipeReceiveStream, mut count: usize, digit: u8) -> Result<()> {
            let mut buf = vec![0u8; count.max(1)];
            while count > 0 {
                let n = stream.receive_some(&mut buf[..count]).await?;
                assert!(
                    buf[..n].iter().all(|&b| b == b'0' + digit),
                    "{:?}",
                    &buf[..n]
                );
                count -= n;
            }
            let n = stream.receive_some(&mut buf[..1]).await?;
            assert_eq!(&buf[..n], b"\n");
            Ok(())
        }
        let expect = async |idx: u8, request: usize| -> Result<()> {
            trio::open_nursery(async |n| {
                n.start_soon(drain_one(stdout, request, idx * 2))?;
                n.start_soon(drain_one(stderr, request * 2, idx * 2 + 1))?;
                Ok(())
            })
            .await
            .map(drop)
        };

        trio::fail_after(Duration::from_secs(30), async {
            stdin.send_all(b"12").await?;
            stdin.send_all(b"345\n").await?;
            expect(0, 12345).await?;
            stdin.send_all(b"100\n200\n").await?;
            expect(1, 100).await?;
            expect(2, 200).await?;
            stdin.send_all(b"0\n").await?;
            expect(3, 0).await?;
            stdin.send_all(b"999").await?;
            // Half a line: no answer yet.
            let r = trio::move_on_after(Duration::from_millis(100), expect(4, 0)).await?;
            assert!(r.is_none());
            stdin.send_all(b"\n").await?;
            expect(4, 999).await?;
            stdin.aclose().await?;
            assert_eq!(stdout.receive_some(&mut [0u8; 1]).await?, 0);
            assert_eq!(stderr.receive_some(&mut [0u8; 1]).await?, 0);
            assert!(p.wait().await?.success());
            Ok(())
        })
        .await
    })
    .await?;
    Ok(())
}

#[trio::test]
async fn stdio_staple_with_stderr_merged() -> Result<()> {
    // test_stderr_stdout, first part: stdin and stdout as one stream, stderr sent
    // into the same pipe as stdout.
    let _serial = serial();
    let (ours, theirs) = UnixStream::pair()?;
    let theirs = OwnedFd::from(theirs);
    let mut cmd = sh("cat; printf 4321 >&2");
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::from(theirs.try_clone()?))
        .stderr(Stdio::from(theirs));
    let mut proc = open_process(cmd).await?; // `cmd` (and our copies of `theirs`) dropped
    assert!(proc.stdout().is_none() && proc.stderr().is_none());
    assert!(proc.take_stdio().is_none(), "no stdout pipe: no staple");
    let output = PipeReceiveStream::new(OwnedFd::from(ours))?;
    proc.stdin().unwrap().send_all(b"1234").await?;
    proc.take_stdin().unwrap().aclose().await?;
    assert_eq!(read_to_end(&output).await?, b"12344321");
    assert!(proc.wait().await?.success());

    // With both stdin and stdout piped, they staple into one half-closeable stream.
    let mut cmd = sh("cat; printf 4321");
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped());
    let mut proc = open_process(cmd).await?;
    let stdio = proc.take_stdio().unwrap();
    assert!(proc.stdin().is_none() && proc.stdout().is_none());
    stdio.send_all(b"1234").await?;
    stdio.send_eof().await?;
    let mut out = Vec::new();
    let mut buf = [0u8; 16];
    loop {
        let n = stdio.receive_some(&mut buf).await?;
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    assert_eq!(out, b"12344321");
    assert!(proc.wait().await?.success());
    Ok(())
}

#[trio::test]
async fn signals() -> Result<()> {
    // test_signals: kill, terminate, and an arbitrary signal.
    let _serial = serial();
    type SendIt = fn(&Process) -> Result<()>;
    let cases: [(SendIt, i32); 3] = [
        (Process::kill, libc::SIGKILL),
        (Process::terminate, libc::SIGTERM),
        (|p| p.send_signal(libc::SIGUSR1), libc::SIGUSR1),
    ];
    for (send_it, signum) in cases {
        let (proc, ()) = trio::fail_after(
            Duration::from_secs(10),
            with_process(sleep_cmd(3600), async |p| {
                send_it(p)?;
                p.wait().await?;
                Ok(())
            }),
        )
        .await?;
        assert_eq!(proc.returncode().unwrap().signal(), Some(signum));
    }
    Ok(())
}

#[trio::test]
async fn signalling_a_reaped_child_does_nothing() -> Result<()> {
    // Once reaped, the pid may belong to someone else: never signal it again.
    let _serial = serial();
    let proc = open_process(Command::new("true")).await?;
    proc.wait().await?;
    proc.kill()?;
    proc.terminate()?;
    assert_eq!(proc.returncode().unwrap().code(), Some(0));
    Ok(())
}

#[trio::test]
async fn wait_reapable_fails() -> Result<()> {
    // test_wait_reapable_fails: with SIGCHLD ignored the kernel reaps children
    // itself; wait() still returns, with the status unknowable (success, as
    // Python's subprocess says).
    let _serial = serial();
    // SAFETY: installs SIG_IGN for SIGCHLD (restored below); no handler code runs.
    let old = unsafe { libc::signal(libc::SIGCHLD, libc::SIG_IGN) };
    let r = async {
        let (proc, ()) = with_process(sleep_cmd(3600), async |p| {
            let p = &*p;
            trio::fail_after(Duration::from_secs(10), async {
                trio::open_nursery(async |n| {
                    n.start_soon(async move { p.wait().await.map(drop) })?;
                    wait_all_tasks_blocked().await?;
                    p.kill()
                })
                .await
                .map(drop)
            })
            .await
        })
        .await?;
        assert_eq!(proc.returncode().unwrap().code(), Some(0));
        Ok::<_, trio::Error>(())
    }
    .await;
    // SAFETY: puts back the disposition saved above.
    unsafe { libc::signal(libc::SIGCHLD, old) };
    r
}

#[trio::test]
async fn pidfd_closed_by_poll_wakes_the_waiter() -> Result<()> {
    // test_subprocess_pidfd_unnotified (python-trio/trio#2209): poll() reaps the child
    // and closes the pidfd while another task waits on it; that task must wake.
    let _serial = serial();
    let proc = open_process(sleep_cmd(9999)).await?;
    let p = &proc;
    let noticed = trio::sync::Event::new();
    let noticed_ref = &noticed;
    trio::open_nursery(async |n| {
        n.start_soon(async move {
            assert_eq!(p.wait().await?.signal(), Some(libc::SIGTERM));
            noticed_ref.set();
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        p.terminate()?;
        // Without giving trio a chance to notice: wait until it has exited...
        let pid = p.pid();
        wait_until_zombie(pid);
        // ...and reap it with poll (which closes the pidfd).
        assert!(p.poll().is_some());
        trio::fail_after(Duration::from_secs(5), noticed.wait()).await?;
        Ok(())
    })
    .await?;
    assert!(noticed.is_set());
    Ok(())
}

#[trio::test]
async fn spawn_errors_are_io_errors_and_leak_nothing() -> Result<()> {
    let _serial = serial();
    let before = process_support::open_fd_set();
    let mut cmd = Command::new("/definitely/not/a/program");
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped());
    let e = open_process(&mut cmd).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io);
    drop(cmd);
    assert_eq!(process_support::new_fds(&before), []);
    Ok(())
}

#[trio::test]
async fn cancelled_open_process_starts_nothing() -> Result<()> {
    let _serial = serial();
    let before = process_support::children();
    let scope = trio::CancelScope::new();
    scope.cancel();
    let r = scope.run(open_process(sleep_cmd(3600))).await?;
    assert!(r.is_none());
    assert_eq!(process_support::children(), before);
    Ok(())
}

#[trio::test]
async fn a_dropped_process_is_reaped_when_it_exits() -> Result<()> {
    // No zombies: a Process dropped while its child runs hands the child to the
    // reaper thread, which reaps it when it exits (here: when we kill it by pid).
    let _serial = serial();
    let proc = open_process(sleep_cmd(3600)).await?;
    let pid = proc.pid();
    drop(proc);
    assert!(is_our_child(pid), "dropping does not kill");
    // SAFETY: kill(2) on our own child, which nobody has reaped yet.
    assert_eq!(unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) }, 0);
    wait_until_reaped(pid);

    // And one that exits on its own, dropped before anybody waited.
    let mut cmd = sh("read x");
    cmd.stdin(Stdio::piped());
    let proc = open_process(cmd).await?;
    let pid = proc.pid();
    drop(proc); // closes its stdin too: `read` gets end of file and the child exits
    wait_until_reaped(pid);
    Ok(())
}

#[test]
fn a_process_outliving_its_run_is_still_reaped() {
    // The reaper is process-wide: a Process dropped after its trio run ended is
    // still reaped.
    let _serial = serial();
    let proc = trio::run(async { open_process(sleep_cmd(3600)).await }).unwrap();
    let pid = proc.pid();
    assert_eq!(proc.returncode(), None);
    drop(proc);
    // SAFETY: kill(2) on our own child, which nobody has reaped yet.
    assert_eq!(unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) }, 0);
    wait_until_reaped(pid);
}
