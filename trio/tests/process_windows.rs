//! `trio::process` on Windows: `run_process` (output, input, merged output, a
//! failing child, cancellation), `open_process` and waiting, dropping a handle
//! whose child runs, and the thread-backed pipe streams (the conformance suite,
//! a cancelled receive, closing a blocked send).
//!
//! The children are the system's own programs: `cmd`, `find`, `ping`. The tests
//! also run under Wine, which differs from Windows here:
//!
//! * Wine's `findstr` ignores its standard input and `sort` does not exist, so
//!   the input test uses `find`;
//! * starting a process takes Wine a good part of a second, so each test starts
//!   few, and deadlines are generous.
#![cfg(windows)]

use std::cell::RefCell;
use std::future::IntoFuture;
use std::os::windows::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use trio::abc::{AsyncResource, ReceiveStream, SendStream};
use trio::process::{ProcessError, open_process, pipe, run_process};
use trio::testing::{check_one_way_stream, wait_all_tasks_blocked};
use trio::{ErrorKind, Result};

/// `cmd /C <script>`, the script passed as it is (std would quote it).
fn cmd(script: &str) -> Command {
    let mut c = Command::new("cmd");
    c.arg("/C").raw_arg(script);
    c
}

#[trio::test]
async fn run_process_captures_stdout() -> Result<()> {
    let done = run_process(cmd("echo hello")).capture_stdout(true).await?;
    assert!(done.status.success());
    assert_eq!(done.stdout.as_deref(), Some(&b"hello\r\n"[..]));
    assert_eq!(done.stderr, None);
    Ok(())
}

#[trio::test]
async fn input_is_fed_to_the_child() -> Result<()> {
    // `find "x"` copies the lines of its standard input that contain an x.
    let mut find = Command::new("find");
    find.raw_arg("\"x\"");
    let done = run_process(find)
        .input(&b"axb\r\nccc\r\nx\r\n"[..])
        .capture_stdout(true)
        .await?;
    assert_eq!(done.stdout.as_deref(), Some(&b"axb\r\nx\r\n"[..]));
    Ok(())
}

#[trio::test]
async fn stderr_to_stdout_merges_both_into_one_pipe() -> Result<()> {
    let done = run_process(cmd("echo out& echo err 1>&2"))
        .capture_stdout(true)
        .stderr_to_stdout(true)
        .await?;
    assert_eq!(done.stdout.as_deref(), Some(&b"out\r\nerr \r\n"[..]));
    assert_eq!(done.stderr, None);
    Ok(())
}

#[trio::test]
async fn a_failing_command_is_a_process_error() -> Result<()> {
    let err = run_process(cmd("echo oops 1>&2& exit 3"))
        .capture_stderr(true)
        .await
        .unwrap_err();
    let failed = ProcessError::find(&err).expect("a ProcessError");
    assert_eq!(failed.status.code(), Some(3));
    assert_eq!(failed.stderr.as_deref(), Some(&b"oops \r\n"[..]));
    assert!(err.to_string().ends_with("exited with status 3"), "{err}");

    let done = run_process(cmd("exit 3")).check(false).await?;
    assert_eq!(done.status.code(), Some(3));
    Ok(())
}

#[trio::test]
async fn cancelled_run_process_kills_and_waits_for_the_child() -> Result<()> {
    // `ping -n 100` runs for about 99 seconds.
    let mut ping = Command::new("ping");
    ping.args(["-n", "100", "127.0.0.1"]).stdout(Stdio::null());
    let started = RefCell::new(None);
    let t0 = Instant::now();
    let r = trio::open_nursery(async |n| {
        let proc = n
            .start(async |status| {
                run_process(&mut ping).task_status(status).await?;
                Ok(())
            })
            .await?;
        assert_eq!(proc.returncode(), None);
        *started.borrow_mut() = Some(proc);
        // A deadline on the nursery, set once the child runs (Wine is slow to
        // start one): what move_on_after does, below.
        n.cancel_scope()
            .set_deadline(trio::current_time() + Duration::from_millis(200));
        trio::sleep_forever().await
    })
    .await?;
    assert!(r.is_none(), "the deadline cancelled it");
    let proc = started.take().expect("the child started");
    // run_process returned only once it had seen the child exit: the status is
    // already recorded (Debug shows it without looking), and the process handle
    // closed. TerminateProcess's exit code is 1.
    let shown = format!("{proc:?}");
    assert!(shown.contains("exited with status 1"), "{shown}");
    let status = proc.returncode().expect("the child exited");
    assert_eq!(status.code(), Some(1));
    assert_eq!(proc.wait().await?, status);
    assert!(t0.elapsed() < Duration::from_secs(60));

    // The plain form, as a caller writes it.
    let r = trio::move_on_after(
        Duration::from_millis(500),
        run_process(&mut ping).into_future(),
    )
    .await?;
    assert!(r.is_none());
    assert!(t0.elapsed() < Duration::from_secs(60));
    Ok(())
}

#[trio::test]
async fn wait_then_returncode() -> Result<()> {
    let proc = open_process(cmd("exit 7")).await?;
    assert!(proc.pid() > 0);
    assert_eq!(proc.args()[0], "cmd");
    let status = proc.wait().await?;
    assert_eq!(status.code(), Some(7));
    assert_eq!(proc.returncode(), Some(status));
    assert_eq!(proc.poll(), Some(status));
    assert!(format!("{proc:?}").contains("exited with status 7"));
    // The exit was seen: killing does nothing.
    proc.kill()?;
    proc.terminate()?;

    let err = open_process(Command::new("no-such-program-here"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io);
    Ok(())
}

#[trio::test]
async fn dropping_a_process_whose_child_runs_does_not_block() -> Result<()> {
    // The child waits for a line on its standard input: it runs until the pipe
    // closes, which dropping the handle does.
    let mut c = cmd("set /p LINE=");
    c.stdin(Stdio::piped()).stdout(Stdio::piped());
    let proc = open_process(c).await?;
    // Start the helper threads: a wait and a receive, both cancelled once blocked.
    let mut buf = [0u8; 16];
    trio::open_nursery(async |n| {
        n.start_soon(async { proc.wait().await.map(drop) })?;
        n.start_soon(async {
            proc.stdout()
                .unwrap()
                .receive_some(&mut buf)
                .await
                .map(drop)
        })?;
        wait_all_tasks_blocked().await?;
        n.cancel_scope().cancel();
        Ok(())
    })
    .await?;
    assert_eq!(proc.returncode(), None);
    let t0 = Instant::now();
    drop(proc);
    assert!(t0.elapsed() < Duration::from_secs(1));
    Ok(())
}

#[trio::test]
async fn pipes_pass_the_conformance_suite() -> Result<()> {
    trio::fail_after(
        Duration::from_secs(60),
        check_one_way_stream(&async || pipe(), None),
    )
    .await
}

#[trio::test]
async fn a_cancelled_receive_loses_nothing() -> Result<()> {
    let (s, r) = pipe()?;
    let r = &r;
    // The receive is cancelled while the helper thread is blocked reading for it.
    trio::open_nursery(async |n| {
        n.start_soon(async move {
            let mut buf = [0u8; 8];
            let e = r.receive_some(&mut buf).await.unwrap_err();
            assert!(e.is_cancelled());
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        n.cancel_scope().cancel();
        Ok(())
    })
    .await?;
    // What the thread reads now waits for the next receive.
    s.send_all(b"abc").await?;
    let mut buf = [0u8; 8];
    let n = r.receive_some(&mut buf).await?;
    assert_eq!(&buf[..n], b"abc");
    // A smaller buffer leaves the rest for later.
    s.send_all(b"defgh").await?;
    let mut small = [0u8; 2];
    let mut got = Vec::new();
    while got.len() < 5 {
        let n = r.receive_some(&mut small).await?;
        got.extend_from_slice(&small[..n]);
    }
    assert_eq!(got, b"defgh");
    Ok(())
}

#[trio::test]
async fn closing_wakes_a_blocked_send() -> Result<()> {
    // Nobody reads: a megabyte does not fit in the pipe, so the send blocks.
    let (s, _r) = pipe()?;
    let s = &s;
    let big = vec![b'x'; 1 << 20];
    trio::open_nursery(async |n| {
        n.start_soon(async {
            let e = s.send_all(&big).await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::ClosedResource);
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        let e = s.send_all(b"x").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BusyResource);
        s.aclose().await
    })
    .await?;
    assert!(s.is_closed());
    Ok(())
}
