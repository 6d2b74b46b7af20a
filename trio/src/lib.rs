//! # trio — structured concurrency for Rust
//!
//! A native async runtime with Python Trio's structured concurrency: every task
//! lives in a **nursery**, which does not return until all its children have
//! finished; **cancel scopes** with deadlines and shields; cancellation that is
//! **level-triggered** and delivered as `Err(Cancelled)` at **checkpoints**; and
//! children that **borrow** from the code that started them — no `'static`, no
//! `Arc`.
//!
//! ## A short tour
//!
//! ```
//! use std::cell::Cell;
//! use std::time::Duration;
//!
//! let done = trio::run(async {
//!     let counter = Cell::new(0);
//!     let c = &counter; // children borrow: no Arc, no 'static
//!
//!     // A nursery waits for all its children.
//!     trio::open_nursery(async |n| {
//!         for i in 0..3 {
//!             n.start_soon(async move {
//!                 trio::sleep(Duration::from_millis(10 * i)).await?;
//!                 c.set(c.get() + 1);
//!                 Ok(())
//!             })?;
//!         }
//!         Ok(())
//!     })
//!     .await?;
//!     assert_eq!(counter.get(), 3);
//!
//!     // Timeouts are cancel scopes: the cancelled code sees Err(Cancelled) at its
//!     // next checkpoint, and the scope swallows it.
//!     let r = trio::move_on_after(Duration::from_millis(5), async {
//!         trio::sleep(Duration::from_secs(3600)).await?;
//!         Ok::<_, trio::Error>("too late")
//!     })
//!     .await?;
//!     assert_eq!(r, None);
//!
//!     // A failing child cancels its siblings; the error reaches the parent.
//!     let err = trio::open_nursery(async |n| {
//!         n.start_soon(trio::sleep_forever())?;
//!         n.start_soon(async { Err(trio::Error::new(trio::ErrorKind::Other, "boom")) })?;
//!         Ok(())
//!     })
//!     .await
//!     .unwrap_err();
//!     assert_eq!(err.to_string(), "boom");
//!     Ok("done")
//! })
//! .unwrap();
//! assert_eq!(done, "done");
//! ```
//!
//! ## Map
//!
//! * Guides: [`guide::coming_from_tokio`] (tokio's idioms in trio terms).
//! * Entering trio: [`run`], [`Runtime`], [`Builder`], `#[trio::main]`, `#[trio::test]`.
//! * Every core: [`run_loops`] / [`Loops`] run one loop per core, shared-nothing,
//!   each with a [`LoopContext`] (its index, the other loops' tokens,
//!   [`LoopContext::run_on`]); [`net::LoopListener`] spreads a server's
//!   connections over the loops ([`loops`]: when to use one loop, several, or
//!   `to_thread`).
//! * Tasks: [`open_nursery`], [`Nursery`] (`start_soon`, `start`, `spawn`),
//!   [`TaskStatus`], [`TaskHandle`].
//! * Cancellation and time: [`CancelScope`], [`move_on_after`], [`move_on_at`],
//!   [`fail_after`], [`fail_at`], [`current_effective_deadline`], [`sleep`],
//!   [`sleep_until`], [`sleep_forever`], [`current_time`], [`Instant`], [`Clock`].
//! * Graceful (two-phase) stops: [`CancelScope::cancel_gracefully`] asks the
//!   code under a scope to stop and cancels what is left after a grace period;
//!   code learns of it with [`stop_requested`], [`wait_stop_requested`],
//!   [`until_stop_requested`]; servers stop accepting and finish what is in
//!   flight; [`Builder::stop_gracefully_on_ctrl_c`] and
//!   [`Builder::stop_gracefully_on_sigterm`] make the signals ask first.
//! * Context that follows the task tree: [`TreeVar`] (a value bound for a block,
//!   seen by the tasks started into nurseries opened in it).
//! * trio inside another event loop: [`Runtime::start_guest`] (guest mode;
//!   `trio::compat::tokio::spawn_guest` with tokio as the host).
//! * Errors: [`Error`], [`ErrorKind`], [`Cancelled`], [`CancelSource`], [`SourceTask`],
//!   [`TooSlow`], [`MaybeCancelled`], [`ResultExt::catch`] (handle errors, let
//!   cancellation through).
//! * Coordination: [`sync`] (locks, semaphores, events, conditions, capacity
//!   limiters), [`open_memory_channel`], [`channel`] (broadcast channels).
//! * Streams and networking: [`abc`] (the stream traits; [`abc::copy`] and
//!   [`abc::copy_bidirectional`] between streams), [`StapledStream`],
//!   [`net`] (TCP, Unix and UDP sockets, `open_tcp_stream` with happy eyeballs,
//!   `serve_tcp`), [`net::socket`] (the low-level socket layer).
//! * Blocking work and the operating system: [`to_thread`], [`from_thread`],
//!   [`fs`], [`process`] (`run_process`, `open_process`), [`signal`]
//!   (`open_signal_receiver`).
//! * Optional features: `tls` (`trio::tls`: TLS streams on rustls), `hyper`
//!   (`trio::http`: hyper 1.x on trio), `tokio` (`trio::compat::tokio`: futures of
//!   tokio-only crates, cancellable from trio), `tracing` (a span per task).
//! * [`lowlevel`]: checkpoints, the parking lot, tasks, tokens, instruments, I/O waits.
//! * The reactor: epoll (kqueue, AFD polling) by default; on Linux a run may ask
//!   for io_uring ([`Builder::io_backend`], or `TRIO_IO_BACKEND=uring` for every
//!   run that does not choose), falling back to epoll where the kernel refuses it;
//!   there, sockets' receives, sends, datagrams, accepts and connects, pipes'
//!   reads and writes and files' reads and writes are ring operations
//!   (`lowlevel::RingIo`) whose cancellation never loses a byte, a datagram or
//!   a connection.
//! * Seeing inside a running program: [`lowlevel::task_tree`] (every task, its
//!   state, what it waits on, where it was spawned; printable and as JSON),
//!   deadlock detection ([`Builder::deadlock_detection`], on by default: a run whose
//!   tasks can never be woken stops with [`ErrorKind::Deadlock`] and the tree), a
//!   watchdog for steps that block the loop ([`Builder::watchdog`]), the tree on a
//!   signal ([`Builder::task_tree_on_signal`]), and — feature `tracing` — a span
//!   per task that `tokio-console`-style tools understand.
//! * [`testing`]: [`testing::MockClock`], [`testing::wait_all_tasks_blocked`],
//!   [`testing::Sequencer`], in-memory streams ([`testing::memory_stream_pair`],
//!   [`testing::lockstep_stream_pair`]) and stream conformance suites
//!   ([`testing::check_half_closeable_stream`]); deterministic simulation
//!   ([`testing::sim`]): several hosts and a faulty network in one seeded run,
//!   the unchanged [`net`] API on top, a seed explorer and a determinism check.
//!
//! ## Supported platforms
//!
//! Rust 1.85 or later. trio is developed and tested on **Linux** (x86_64).
//! **Windows** (x86_64) is tested too: CI lints trio for it and runs its test
//! suite under Wine. **macOS** (x86_64 and aarch64) and **FreeBSD** (x86_64)
//! build: CI type-checks and lints the crate for them, with every feature, but
//! does not run it there. What differs between the Unix systems:
//!
//! * Subprocesses: Linux 5.3 and later watch each child through a pidfd;
//!   elsewhere (and on older kernels) a helper thread per waited-for child blocks
//!   in `waitid(WNOWAIT)`, which waits for the exit without reaping.
//! * Every core: [`Loops::pin_to_cpus`] pins on Linux and FreeBSD; macOS cannot
//!   pin a thread, and its loops run unpinned. Connection locality
//!   (`SO_INCOMING_CPU`) is Linux only. `SO_REUSEPORT` spreads connections on
//!   Linux, and `SO_REUSEPORT_LB` (which trio sets there) on FreeBSD; macOS
//!   shares the port without spreading — use [`net::LoopListener::handoff`].
//! * `SIGPIPE`: sends say `MSG_NOSIGNAL`; on Apple systems, which lack it, each
//!   socket is made `SO_NOSIGPIPE`.
//! * [`net::socket::Socket::from_socket2`] learns a socket's family from
//!   `SO_DOMAIN` on Linux, from its address elsewhere.
//! * Signals (Ctrl-C, `trio::signal`) are delivered through `signal-hook`'s
//!   self-pipe on every Unix.
//!
//! ### Windows
//!
//! The same API, less what has no Windows meaning — absent at compile time
//! (`cfg(unix)`), never a run-time panic:
//!
//! * No POSIX signals: no `trio::signal` module, no
//!   `Builder::stop_gracefully_on_sigterm` and no `Builder::task_tree_on_signal`.
//!   Ctrl-C and Ctrl-Break arrive through a console control handler and do what
//!   Ctrl-C does on Unix (cancel the main task, or ask it to stop with
//!   [`Builder::stop_gracefully_on_ctrl_c`]); a run reports them as
//!   [`ErrorKind::Interrupted`], source [`CancelSource::CtrlC`].
//! * The reactor is mio's Windows backend (`\Device\Afd` polling through a
//!   completion port), which watches sockets only. [`process`] therefore waits
//!   for a child on a helper thread (its process handle) and moves pipe bytes on
//!   a helper thread per stream, with the same guarantees: a cancelled
//!   [`process::run_process`] kills the child and waits for it, a cancelled
//!   receive loses nothing, no child is left running unwatched. Its "Windows"
//!   section says more. `Process::send_signal` is Unix only; `terminate` and
//!   `kill` are `TerminateProcess` (exit code 1).
//! * Sockets: TCP, UDP, happy eyeballs, TLS and HTTP as on Unix; Unix-domain
//!   sockets where Windows has them (10 1803 and later). Windows has no
//!   `socketpair`: [`net::socket::Socket::pair`] and [`net::SocketStream::pair`]
//!   connect two TCP sockets over loopback instead, as Python's
//!   `socket.socketpair` does there.
//!   `SO_REUSEADDR` is never set (on Windows it would let another socket steal
//!   the port), and since Windows cannot spread one port's connections among
//!   several sockets, [`net::LoopListener::reuse_port`] hands off from one
//!   listener instead (as [`net::LoopListener::handoff`]).
//! * [`Loops::pin_to_cpus`] leaves loops unpinned; threads are not named.
//! * Files, [`to_thread`], [`from_thread`], the testing kit, task trees and
//!   deadlock detection are the same.
//!
//! //! ## Design
//!
//! One run loop per thread; futures need not be `Send`; several cores are used by
//! several loops ([`loops`]), never by moving a task between threads. Children are polled inside
//! their nursery's future, which is what makes borrowing sound (see the
//! `core::nursery` essay). Every blocking operation is a checkpoint. As in Trio, the
//! scheduler runs each batch of runnable tasks in wake-up order or reversed, on a
//! coin flip from a seeded generator: the same seed replays the same interleaving
//! (`TRIO_SEED`, [`Builder::seed`]). That rule is the default
//! [scheduling policy](lowlevel::SchedulePolicy); [`Builder::schedule_policy`]
//! chooses another — FIFO, a full shuffle, probabilistic concurrency testing
//! ([`lowlevel::Pct`]) or one's own, which sees each task's id, name and what woke
//! it. Python Trio only sketched custom scheduling policies.
//!
//! ## Differences from Python Trio
//!
//! trio follows Trio's documented behaviour, checked scenario by scenario against
//! Python Trio. Where it differs, it is on purpose, because Rust is not Python:
//!
//! * **Cancellation is a value, not an exception.** A checkpoint returns
//!   `Err(Cancelled)`; `?` carries it out to the scope that caused it, which
//!   swallows it. Python makes `Cancelled` a `BaseException` so that
//!   `except Exception:` lets it through; in Rust a catch-all `Err(e) =>` arm would
//!   catch it, so handle errors through [`ResultExt::catch`], which takes the
//!   cancellation out first.
//! * **A `with` block is a future.** `with CancelScope() as s:` is
//!   [`CancelScope::run`]; `move_on_after` / `fail_after` take the future to run.
//!   Because a block that was cancelled has no value, [`CancelScope::run`] and
//!   [`open_nursery`] return `Ok(None)` when their own scope caught the
//!   cancellation (where Trio's block simply ends); `fail_after`'s scope is
//!   [`FailAfter::cancel_scope`] or [`CancelScope::run_or_fail`].
//! * **One error type.** Exceptions become [`Error`] with an [`ErrorKind`]:
//!   `RuntimeError` is [`ErrorKind::Usage`], `ValueError` is
//!   [`ErrorKind::InvalidInput`], `TooSlowError` is [`ErrorKind::TooSlow`]. A
//!   nursery returns one error as itself and several as an [`ErrorKind::Group`]
//!   (flattened, duplicate cancellations collapsed), where Trio always raises an
//!   `ExceptionGroup`.
//! * **Panics are not exceptions.** A panicking child cancels its siblings like a
//!   failing one, and the panic is resumed in the parent once every child has
//!   finished, as `std::thread::scope` does.
//! * **Ctrl-C cancels instead of raising.** Trio raises `KeyboardInterrupt` inside
//!   the running task; Rust has no asynchronous exceptions, so Ctrl-C cancels the
//!   main task ([`CancelSource::CtrlC`]) and [`run`] returns
//!   [`ErrorKind::Interrupted`] (with the main task's own error, if any, as its
//!   source). A second Ctrl-C, or one the program does not reach a checkpoint to
//!   see within 3 s, ends the process with status 130.
//! * **Dropping is a last-resort cancel.** A Rust future can be dropped half-way;
//!   a dropped nursery drops its children, a dropped operation undoes what it
//!   registered. Cancellation through scopes is still the normal way.
//! * **The type system checks what Trio checks at run time.** `TaskStatus::started`
//!   consumes the status (a second call does not compile); a child cannot outlive
//!   what it borrows.
//! * **Values from Python that have no Rust form:** `math.inf` deadlines are
//!   [`Instant::INFINITY`]; a capacity limiter with no limit has `usize::MAX`
//!   tokens, and its [`available_tokens`](sync::CapacityLimiter::available_tokens)
//!   saturates at `isize::MAX`; durations cannot be negative.
//! * **Additions Trio does not have:** [`Nursery::spawn`] / [`TaskHandle`] (a
//!   child's value, or cancelling one child); deadlock detection, on by default
//!   ([`Builder::deadlock_detection`]); several loops, one per core ([`loops`]);
//!   graceful stops ([`CancelScope::cancel_gracefully`], long discussed for Trio
//!   in python-trio/trio#147); [`TreeVar`] (python-trio/trio#1523);
//!   [`Cancelled::source`] also says [`CancelSource::Deadlock`],
//!   [`CancelSource::Shutdown`] and [`CancelSource::Terminated`].
//! * **Guest mode's host interface** is a closure (`run_sync_soon`) and a `done`
//!   callback, as Trio's `run_sync_soon_threadsafe` and `done_callback`; the main
//!   future must be `'static`, and the host owns Ctrl-C unless asked otherwise.

#![warn(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![deny(clippy::missing_safety_doc)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_debug_implementations)]

pub mod abc;
pub mod channel;
#[cfg(feature = "tokio")]
pub mod compat;
mod conflict;
mod copy;
mod core;
mod error;
pub mod from_thread;
pub mod fs;
pub mod guide;
#[cfg(feature = "hyper")]
pub mod http;
mod kept;
pub mod loops;
pub mod lowlevel;
pub mod net;
pub mod process;
mod report;
#[cfg(unix)]
pub mod signal;
mod stapled;
mod stop;
pub mod sync;
mod sys;
pub mod testing;
mod time;
#[cfg(feature = "tls")]
pub mod tls;
pub mod to_thread;

pub use crate::channel::{
    LocalMemoryReceiveChannel, LocalMemorySendChannel, MemoryChannelStatistics,
    MemoryReceiveChannel, MemorySendChannel, SendError, open_local_memory_channel,
    open_memory_channel,
};
pub use crate::core::{
    Builder, CancelScope, FailAfter, GuestRun, Nursery, Runtime, ScopeRun, Sleep, SleepForever,
    TaskHandle, TaskStatus, TreeVar, WaitStopRequested, WithValue, current_effective_deadline,
    current_time, fail_after, fail_at, move_on_after, move_on_at, open_nursery, run, sleep,
    sleep_forever, sleep_until, stop_requested, wait_stop_requested,
};
pub use crate::error::{
    CancelSource, Cancelled, Error, ErrorKind, MaybeCancelled, Result, ResultExt, SourceTask,
    TooSlow,
};
pub use crate::loops::{LoopContext, Loops, run_loops};
pub use crate::stapled::StapledStream;
pub use crate::stop::until_stop_requested;
pub use crate::time::{Clock, Instant, SystemClock};

/// Runs an `async fn main` on a trio run loop.
///
/// ```no_run
/// #[trio::main]
/// async fn main() -> trio::Result<()> {
///     trio::sleep(std::time::Duration::from_millis(1)).await
/// }
/// ```
///
/// `main` may return `()` or `Result<(), E>` for any error that converts into
/// `Box<dyn Error>` (`trio::Result<()>`, `std::io::Result<()>`,
/// `Result<(), Box<dyn Error>>`, `anyhow::Result<()>`, ...). The function becomes
/// a `fn main() -> ExitCode` that hands the result to
/// [`lowlevel::report_main_result`]:
///
/// * `Ok`: status 0.
/// * Ctrl-C (the run stopped with [`ErrorKind::Interrupted`]): status 130, as
///   shells expect of a program stopped by Ctrl-C, and nothing printed — it is
///   not a crash.
/// * Any other error: `Error: ` and the error's `Display` on stderr, then each
///   of its causes on a line of its own ([`lowlevel::error_report`]) — not
///   Rust's `Debug` dump — and status 1.
///
/// A panic in `main` (or resumed from a child) is a panic as usual: message and
/// status 101.
pub use trio_macros::main;

/// Runs an `async fn` test on a trio run loop; a failure prints the scheduling seed
/// that replays it (`TRIO_SEED=…`).
///
/// Options: `#[trio::test(autojump)]` runs on a [`MockClock`](testing::MockClock)
/// with autojump (sleeps take no real time), `#[trio::test(mock_clock)]` on a frozen
/// one, `#[trio::test(seed = 42)]` with a fixed seed. A test may take the clock as a
/// parameter and may return `()` or a `Result` (a `trio::Error` is printed with
/// its causes).
///
/// **A test that can never finish fails.** Deadlock detection is on
/// ([`Builder::deadlock_detection`]): a test whose tasks all wait on each other
/// fails at once with [`ErrorKind::Deadlock`] and the task tree, each task with
/// what it waits on and where it was spawned (the test's own lines). Tasks
/// blocked on the thread-safe [`open_memory_channel`] are a deadlock only if no
/// other thread uses the channel: a test fails that way after 5 seconds with
/// nothing happening ([`Builder::channel_deadlock_grace`];
/// `#[trio::test(channel_deadlock_grace_secs = 30)]` for a test whose helper
/// thread takes longer, `= 0` to switch it off). A test blocked on the outside
/// world (a socket nobody connects to) is not a deadlock and waits, as in Trio:
/// bound it with [`fail_after`].
///
/// ```
/// #[trio::test(autojump)]
/// async fn timeout_fires(clock: trio::testing::MockClock) -> trio::Result<()> {
///     let r = trio::move_on_after(std::time::Duration::from_secs(60), trio::sleep_forever()).await?;
///     assert!(r.is_none());
///     assert_eq!(clock.current_time(), trio::Instant::ZERO + std::time::Duration::from_secs(60));
///     Ok(())
/// }
/// # fn main() {}
/// ```
pub use trio_macros::test;

/// The crate README's examples, compiled and run as doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
