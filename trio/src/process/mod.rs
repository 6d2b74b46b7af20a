//! Subprocesses (Trio's `run_process`, `open_process`, `Process` and `FdStream`).
//!
//! * [`run_process`] runs a command to completion — input fed, output captured,
//!   exit status checked, the child terminated if you are cancelled — and is
//!   what you usually want. Started with [`Nursery::start`](crate::Nursery::start)
//!   it hands back the running [`Process`] and supervises it in the background.
//! * [`open_process`] starts a child and leaves it to you: a [`Process`] with
//!   [`wait`](Process::wait), [`kill`](Process::kill) and its pipes as trio
//!   streams.
//! * [`PipeSendStream`] and [`PipeReceiveStream`] (and [`pipe`]) are the pipe
//!   streams, usable for any pipe, FIFO or tty.
//!
//! On Windows too, with helper threads in place of the reactor: see
//! [Windows](#windows).
//!
//! Commands are std's own [`std::process::Command`]: build one as you would for
//! `spawn`, and hand it (by value or `&mut`) to trio.
//!
//! ```
//! use std::process::Command;
//! # trio::run(async {
//! let out = trio::process::run_process(Command::new("echo").arg("hello"))
//!     .capture_stdout(true)
//!     .await?;
//! assert_eq!(out.stdout.unwrap(), b"hello\n");
//! # Ok(()) }).unwrap();
//! ```
//!
//! # Why it is built this way
//!
//! **Waiting without `SIGCHLD`.** The classic way to learn that a child exited is
//! a `SIGCHLD` handler — process-wide state that every library in the process
//! fights over, and that makes every system call of every thread fail with
//! `EINTR`. On Linux 5.3+ trio instead opens a *pidfd* for each child
//! (`pidfd_open`): an fd that polls readable once the child has exited. It goes
//! into the run loop's reactor like any socket
//! ([`wait_readable`](crate::lowlevel::wait_readable)), so waiting for a child
//! costs no thread and no signal handler, and is cancellable like any other wait.
//! Once it is readable, `waitpid` reaps the child at once. The pidfd also makes
//! signalling exact: `pidfd_send_signal` cannot reach another process that
//! happens to reuse the pid. Where pidfds do not exist (other systems, old
//! kernels, some sandboxes), each child that is waited for gets one helper thread
//! blocked in `waitid(WEXITED | WNOWAIT)` — which waits for the exit without
//! reaping — and the thread closes a pipe whose read end stands in for the pidfd.
//! (This is Trio's design: pidfd on Linux, kqueue on BSDs, a `waitid` thread
//! elsewhere.)
//!
//! **Never a zombie.** A child that exits and is not reaped lingers as a zombie
//! until its parent exits. Trio's rule is that every child is reaped exactly once,
//! by us:
//!
//! * [`Process::wait`] reaps; [`Process::returncode`] / [`Process::poll`] reap
//!   if the child already exited (a non-blocking `waitpid`);
//! * [`run_process`] *always* waits for the child before it returns — also when
//!   it is cancelled, also when a `deliver_cancel` fails;
//! * a [`Process`] dropped while its child still runs does not kill the child
//!   (std's `Child` does not either), but hands the pid and its exit fd to a
//!   process-wide **reaper thread**, which polls the exit fds of all such orphans
//!   and reaps each one as soon as it exits — even after the trio run that spawned
//!   it has finished;
//! * dropping the `run_process` future (not the trio way to cancel: it cannot
//!   wait) sends the child `SIGKILL` and leaves it to the reaper.
//!
//! Once a child is reaped its pid is never signalled again — it may already
//! belong to someone else.
//!
//! **Cancellation is delivered, then awaited.** Killing a child is not
//! instantaneous and not always polite: a cancelled `run_process` calls its
//! [`DeliverCancel`] — by default [`TerminateThenKill`]: `SIGTERM`, then `SIGKILL`
//! after 5 seconds — in a shielded task, while it waits (shielded too) for the
//! child to exit; as soon as the child is gone the `deliver_cancel` task is
//! cancelled, so an obedient child never gets the `SIGKILL`. Only then does
//! `run_process` return `Err(Cancelled)`. A cancelled scope can therefore take up
//! to the grace period to unwind; choose a shorter one (or a plain `kill`) when
//! that matters.
//!
//! **Pipes are streams.** A child's stdin/stdout/stderr pipes are non-blocking
//! fds on an edge-triggered [`IoRegistration`](crate::lowlevel::IoRegistration),
//! registered lazily on the first operation that would block, and implement the
//! [`abc`](crate::abc) stream traits with Trio's `FdStream` semantics
//! ([`BusyResource`](crate::ErrorKind::BusyResource) for concurrent use,
//! [`ClosedResource`](crate::ErrorKind::ClosedResource) after closing, closing
//! wakes blocked operations). They pass the
//! [`check_one_way_stream`](crate::testing::check_one_way_stream) conformance
//! suite.
//!
//! # Differences from Trio
//!
//! * Commands are `std::process::Command`s; stdio is configured with std's
//!   [`Stdio`](std::process::Stdio), and `Stdio::piped()` is Trio's
//!   `subprocess.PIPE`. `shell=True` is `Command::new("sh").args(["-c", ...])`.
//! * The exit status is std's [`ExitStatus`](std::process::ExitStatus) rather than
//!   an integer (negative for signals): use `.code()` and, on Unix, `.signal()`
//!   from `std::os::unix::process::ExitStatusExt`.
//! * `open_process` spawns on the loop thread (Trio uses a worker thread for
//!   `Popen`): std's `spawn` returns as soon as the child has exec'd.
//! * The `SIGKILL` escalation of the default `deliver_cancel` is silent (Trio
//!   issues a `RuntimeWarning`).
//! * `run_process` without `task_status` captures output pipes configured on the
//!   `Command` (and closes an input pipe at once) where Trio raises `ValueError`
//!   for `stdout=PIPE` without `nursery.start`: std's `Stdio` cannot be inspected
//!   before spawning, and capturing is what std's `Command::output` does.
//! * Dropping a `Process` hands a still-running child to a reaper thread (Python
//!   reaps such children the next time a `Popen` is created).
//!
//! # Windows
//!
//! The same API, where it has a meaning there; type-checked and linted for
//! `x86_64-pc-windows-gnu`, and tested (`tests/process_windows.rs`) under Wine.
//!
//! * **Helper threads instead of the reactor.** trio's reactor on Windows watches
//!   sockets only; a process handle and the pipes std makes for a child cannot
//!   join it. So each pipe stream has a helper thread, started by its first
//!   operation, that makes the blocking reads or writes, and a child that is
//!   waited for has one that waits on its process handle. The trio side of each
//!   is an ordinary cancellable wait; the thread wakes it. A thread ends with what
//!   it serves: closing a stream interrupts its thread's read or write
//!   (`CancelIoEx`), dropping the last handle on a child stops its waiting thread.
//!   Nothing waits for a thread to end: dropping never blocks, and leaves no
//!   thread behind. (Why, and what was not taken: the essay of `windows/mod.rs`.)
//! * **The streams keep Trio's semantics**: `BusyResource` for concurrent use,
//!   `ClosedResource` after closing, closing wakes blocked operations, and a
//!   cancelled `receive_some` took nothing (what the thread reads for it waits in
//!   the stream for the next receive). A cancelled `send_all` sent a prefix, as on
//!   Unix: data goes to the thread in chunks of at most 64 KiB, and the chunk
//!   being written is still written. [`pipe`] exists there too: a named pipe with
//!   a unique name, as std makes for a child's pipes, served the same way.
//! * **No zombies, no reaper.** A child is its process handle; once its exit is
//!   seen the handle is closed, which is all the clean-up Windows needs. A
//!   dropped `Process` closes its handle (the child runs on, detached, as with
//!   std). [`run_process`] still kills a cancelled child and waits for it before
//!   returning.
//! * **No signals.** `Process::send_signal` and `Process::uses_pidfd` do not exist
//!   there. [`Process::terminate`] and [`Process::kill`] are both
//!   `TerminateProcess` with exit code 1 (as std's `Child::kill` and Python's
//!   `terminate` there), so [`TerminateThenKill`] ends the child at its first
//!   step, and its grace period never runs out.
//! * **Exit statuses** are exit codes: `.code()` is always `Some` (an `NTSTATUS`
//!   such as `0xC0000005` for a crash, shown in hexadecimal by the errors).
//! * Commands are as std runs them: `cmd /C ...` for the shell, and std's rules
//!   for quoting arguments (`CommandExt::raw_arg` for programs, like `cmd` and
//!   `find`, that parse their command line their own way).

#[cfg(unix)]
mod child;
mod handle;
#[cfg(unix)]
mod pipe;
#[cfg(unix)]
mod reaper;
mod run;
#[cfg(windows)]
mod windows;
#[cfg(windows)]
use windows::{child, pipe};

pub use handle::{Process, open_process};
pub use pipe::{PipeReceiveStream, PipeSendStream, pipe};
pub use run::{
    CompletedProcess, DeliverCancel, ProcessError, RunProcess, TerminateThenKill, run_process,
};

#[cfg(all(test, unix))]
mod tests {
    //! The no-pidfd fallback (Trio's `test_basic_no_pidfd`,
    //! `test_multi_wait_no_pidfd`, `test_wait_reapable_fails_no_pidfd` minus the
    //! SIGCHLD part): forced here, since the integration tests run on kernels that
    //! have pidfds.

    use std::os::unix::process::ExitStatusExt;
    use std::process::Command;

    use super::handle::open_process_with;

    #[test]
    fn wait_works_through_the_helper_thread() {
        crate::run(async {
            let proc = open_process_with(&mut Command::new("true"), false).await?;
            assert!(!proc.uses_pidfd());
            assert!(proc.wait().await?.success());

            let proc = open_process_with(&mut Command::new("false"), false).await?;
            assert_eq!(proc.wait().await?.code(), Some(1));
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn multi_wait_and_cancelled_waits_through_the_helper_thread() {
        crate::run(async {
            let mut cmd = Command::new("sleep");
            cmd.arg("100");
            let proc = open_process_with(&mut cmd, false).await?;
            let p = &proc;
            // Waits that are cancelled reap nothing...
            crate::open_nursery(async |n| {
                for _ in 0..3 {
                    n.start_soon(async move { p.wait().await.map(drop) })?;
                }
                crate::testing::wait_all_tasks_blocked().await?;
                n.cancel_scope().cancel();
                Ok(())
            })
            .await?;
            assert_eq!(proc.returncode(), None);
            // ...and waiting for real wakes every waiter.
            crate::open_nursery(async |n| {
                for _ in 0..3 {
                    n.start_soon(async move {
                        assert_eq!(p.wait().await?.signal(), Some(libc::SIGKILL));
                        Ok(())
                    })?;
                }
                crate::testing::wait_all_tasks_blocked().await?;
                p.kill()
            })
            .await?;
            Ok(())
        })
        .unwrap();
    }

    #[test]
    #[cfg(target_os = "linux")] // asks /proc whether the child is still ours
    fn a_dropped_process_is_reaped_through_the_helper_thread() {
        // Never waited for: no exit fd yet. Dropping starts the helper thread and
        // hands the child to the reaper.
        let is_our_child = |pid: u32| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
                let rest = &stat[stat.rfind(')').unwrap() + 2..];
                rest.split_whitespace().nth(1) == Some(&std::process::id().to_string())
            })
        };
        let pid = crate::run(async {
            let mut cmd = Command::new("sleep");
            cmd.arg("100");
            let proc = open_process_with(&mut cmd, false).await?;
            Ok(proc.pid())
        })
        .unwrap();
        assert!(is_our_child(pid));
        // SAFETY: kill(2) on our own child, not reaped yet.
        assert_eq!(unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) }, 0);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while is_our_child(pid) {
            assert!(std::time::Instant::now() < deadline, "never reaped");
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    }
}
