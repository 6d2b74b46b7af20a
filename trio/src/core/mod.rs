//! The core: the only layer that touches run-loop internals.
//!
//! Everything outside `core` (sync primitives, channels, networking, threads, …) is
//! built only on what `core` exports publicly through [`crate::lowlevel`] and the
//! crate root. Inside, one concept per file:
//!
//! | file | concept |
//! |---|---|
//! | `context.rs` | thread-local context: current loop, task, cancel status |
//! | `task.rs` | task cells: identity and wakers of logical tasks |
//! | `nursery.rs` | nurseries, `start`, `spawn`/`TaskHandle`, the task tree |
//! | `cancel.rs` | cancel scopes and the cancel status tree |
//! | `checkpoint.rs` | checkpoints and sleeping |
//! | `parking_lot.rs` | the one fair FIFO wait queue every primitive uses |
//! | `deadlines.rs` | the deadline queue (a radix heap: scope deadlines and sleeps) |
//! | `io.rs` | the reactor on mio; raw-fd waits (Trio's contract) |
//! | `registration.rs` | persistent fd registrations with readiness tracking |
//! | `entry_queue.rs` | cross-thread entry: `TrioToken`, forwarded wake-ups |
//! | `ki.rs` | Ctrl-C |
//! | `instrument.rs` | instruments |
//! | `run_var.rs` | run-local variables |
//! | `runner.rs` | the run loop, `Runtime`, statistics, idle waits |
//!
//! # One way to block
//!
//! Every suspension of a trio operation is one of: a [`ParkingLot`] park, an fd
//! wait, an idle wait, or `sleep_forever`; each registers with the current cancel
//! status through the same `CancelWait`, so cancellation reaches every blocked
//! task the same way. Sync primitives are all built on [`ParkingLot`].
//!
//! [`ParkingLot`]: crate::lowlevel::ParkingLot

pub(crate) mod cancel;
pub(crate) mod checkpoint;
pub(crate) mod context;
pub(crate) mod deadlines;
pub(crate) mod diagnostic;
pub(crate) mod dump;
pub(crate) mod entry_queue;
pub(crate) mod instrument;
pub(crate) mod io;
pub(crate) mod ki;
pub(crate) mod nursery;
pub(crate) mod parking_lot;
pub(crate) mod registration;
pub(crate) mod run_var;
pub(crate) mod runtime;
pub(crate) mod task;
pub(crate) mod task_tree;
pub(crate) mod wait;
pub(crate) mod watchdog;
