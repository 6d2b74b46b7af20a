//! The core: the only layer that touches run-loop internals.
//!
//! Everything outside `core` (sync primitives, channels, networking, threads, …) is
//! built only on what `core` exports publicly — re-exported below, and reaching
//! users through the crate root and [`crate::lowlevel`]. The modules are private
//! and their crate-internal items `pub(in crate::core)`, so the compiler refuses
//! any other way in; `tests/layers.rs` checks what it cannot (that the core and
//! the foundation under it name nothing of the toolkit above). Inside, one
//! concept per file:
//!
//! | file | concept |
//! |---|---|
//! | `context.rs` | thread-local context: current loop, task, cancel status |
//! | `task/` | the task cell (identity, waker), the one function that steps a task, the public `Task` and `NurseryInfo` |
//! | `nursery/` | the nursery's state and engine, `open_nursery`, `start`, `spawn`/`TaskHandle` |
//! | `cancel.rs` | cancel scopes and the cancel status tree |
//! | `checkpoint.rs` | checkpoints and sleeping |
//! | `parking_lot.rs` | the one fair FIFO wait queue every primitive uses |
//! | `wait.rs` | what a blocked task waits on (for the task tree and deadlock detection) |
//! | `deadlines.rs` | the deadline queue (a radix heap: scope deadlines and sleeps) |
//! | `io.rs` | the reactor on mio; raw-fd waits (Trio's contract) |
//! | `io_uring.rs` | the io_uring reactor (Linux, opt-in): readiness as ring operations |
//! | `uring_ops.rs` | I/O operations on the ring: owned buffers, the abort protocol |
//! | `ring_io.rs` | `RingIo`: receive, send, accept, connect, datagrams, pipes on the ring |
//! | `reactor.rs` | which reactor a run uses (`IoBackend`), and the dispatch to it |
//! | `registration.rs` | persistent fd registrations with readiness tracking |
//! | `entry_queue.rs` | cross-thread entry: `TrioToken`, forwarded wake-ups |
//! | `ki.rs` | Ctrl-C |
//! | `terminate.rs` | SIGTERM as a graceful stop (opt-in) |
//! | `instrument.rs` | instruments |
//! | `diagnostic.rs` | what a run has to say that is no call's error |
//! | `run_var.rs` | run-local variables |
//! | `tree_var.rs` | tree variables: context that follows the task tree |
//! | `task_tree.rs`, `dump.rs`, `watchdog.rs` | seeing inside: the task tree, printing it on a signal, slow steps |
//! | `runtime/` | the run loop: `Builder`, `Runtime::run`, the loop, deadlock detection, idle waits, statistics |
//!
//! # One way to block
//!
//! Every suspension of a trio operation is one of: a [`ParkingLot`] park, an fd
//! wait, an idle wait, or `sleep_forever`; each registers with the current cancel
//! status through the same `CancelWait`, so cancellation reaches every blocked
//! task the same way. Sync primitives are all built on [`ParkingLot`].
//!
//! [`ParkingLot`]: crate::lowlevel::ParkingLot

mod cancel;
mod checkpoint;
mod context;
mod deadlines;
mod diagnostic;
mod dump;
mod entry_queue;
mod instrument;
mod io;
#[cfg(target_os = "linux")]
mod io_uring;
mod ki;
mod nursery;
mod parking_lot;
mod reactor;
mod registration;
#[cfg(target_os = "linux")]
mod ring_io;
mod run_var;
mod runtime;
mod task;
mod task_tree;
mod terminate;
mod tree_var;
#[cfg(target_os = "linux")]
mod uring_ops;
mod wait;
mod watchdog;

// The core's surface: everything the rest of the crate may name, re-exported by
// the crate root and `lowlevel`. The modules themselves are private and their
// crate-internal items are `pub(in crate::core)`, so the compiler refuses any
// other way in (and `tests/layers.rs` refuses a path into `core` from outside).
pub use cancel::{
    CancelRegistration, CancelScope, FailAfter, ScopeRun, WaitStopRequested,
    current_effective_deadline, fail_after, fail_at, move_on_after, move_on_at, stop_requested,
    wait_stop_requested,
};
pub use checkpoint::{
    Checkpoint, Sleep, SleepForever, cancel_shielded_checkpoint, checkpoint,
    checkpoint_if_cancelled, current_schedule_budget, current_time, should_yield, sleep,
    sleep_forever, sleep_until,
};
pub use diagnostic::{Diagnostic, DiagnosticKind, print_diagnostic, report_diagnostic};
pub use entry_queue::{TrioToken, WeakTrioToken};
pub use instrument::{Instrument, add_instrument, remove_instrument};
pub use io::{WaitFd, notify_closing, wait_readable, wait_writable};
pub use ki::CTRL_C_GRACE;
pub use nursery::{Nursery, TaskHandle, TaskStatus, open_nursery};
pub use parking_lot::{Park, ParkingLot, ParkingLotStatistics};
pub use reactor::{IoBackend, current_io_backend};
pub use registration::{IoDirection, IoReady, IoRegistration};
#[cfg(target_os = "linux")]
pub use ring_io::RingIo;
pub use run_var::{RunVar, RunVarToken};
pub use runtime::{
    Builder, CoinFlipReverse, Fifo, GuestRun, IdleWait, Pct, RunStatistics, Runtime,
    SchedulePolicy, ScheduleRng, Shuffle, TaskInfo, Wake, cancel_main_task, current_root_task,
    current_seed, current_statistics, current_task, current_trio_token, run, spawn_system_task,
    start_guest_run, try_current_task,
};
pub use task::{NurseryInfo, Task};
pub use task_tree::{Deadlock, NurseryNode, TaskNode, TaskState, TaskTree, task_tree};
pub use tree_var::{TreeVar, WithValue};
pub use wait::{BlockedOn, ChannelOp, record_blocked_on};
pub use watchdog::SlowStep;
