//! The low-level API (Trio's `trio.lowlevel`): what the rest of trio — and libraries
//! built on trio — use to write new primitives.
//!
//! Everything in trio outside the core is written only against this module and the
//! crate root.

pub use crate::core::cancel::CancelRegistration;
pub use crate::core::checkpoint::{
    Checkpoint, cancel_shielded_checkpoint, checkpoint, checkpoint_if_cancelled,
    current_schedule_budget, should_yield,
};
pub use crate::core::diagnostic::{
    Diagnostic, DiagnosticKind, print_diagnostic, report_diagnostic,
};
pub use crate::core::entry_queue::TrioToken;
pub use crate::core::instrument::{Instrument, add_instrument, remove_instrument};
pub use crate::core::io::{WaitFd, notify_closing, wait_readable, wait_writable};
pub use crate::core::parking_lot::{Park, ParkingLot, ParkingLotStatistics};
pub use crate::core::registration::{IoDirection, IoReady, IoRegistration};
pub use crate::core::run_var::{RunVar, RunVarToken};
pub use crate::core::runtime::{
    RunStatistics, current_root_task, current_seed, current_statistics, current_task,
    current_trio_token, spawn_system_task, try_current_task,
};
pub use crate::core::task::{NurseryInfo, Task};
pub use crate::core::task_tree::{Deadlock, NurseryNode, TaskNode, TaskState, TaskTree, task_tree};
pub use crate::core::wait::{BlockedOn, ChannelOp};
pub use crate::core::watchdog::SlowStep;
pub use crate::report::{INTERRUPTED_EXIT_STATUS, MainResult, error_report, report_main_result};
