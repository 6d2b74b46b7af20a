//! The low-level API (Trio's `trio.lowlevel`): what the rest of trio — and libraries
//! built on trio — use to write new primitives.
//!
//! Everything in trio outside the core is written only against this module and the
//! crate root.

#[cfg(target_os = "linux")]
pub use crate::core::RingIo;
pub use crate::core::{
    BlockedOn, CTRL_C_GRACE, CancelRegistration, ChannelOp, Checkpoint, CoinFlipReverse, Deadlock,
    Diagnostic, DiagnosticKind, Fifo, IdleWait, Instrument, IoBackend, IoDirection, IoReady,
    IoRegistration, NurseryInfo, NurseryNode, Park, ParkingLot, ParkingLotStatistics, Pct,
    RunStatistics, RunVar, RunVarToken, SchedulePolicy, ScheduleRng, Shuffle, SlowStep, Task,
    TaskInfo, TaskNode, TaskState, TaskTree, TrioToken, WaitFd, Wake, WeakTrioToken,
    add_instrument, cancel_main_task, cancel_shielded_checkpoint, checkpoint,
    checkpoint_if_cancelled, current_io_backend, current_root_task, current_schedule_budget,
    current_seed, current_statistics, current_task, current_trio_token, notify_closing,
    print_diagnostic, record_blocked_on, remove_instrument, report_diagnostic, should_yield,
    spawn_system_task, start_guest_run, task_tree, try_current_task, wait_readable, wait_writable,
};
pub use crate::report::{INTERRUPTED_EXIT_STATUS, MainResult, error_report, report_main_result};
