//! Tasks: the cell that is a task's identity and waker (`cell.rs`), the one
//! function that runs a step of a task (`step.rs`), and the task tree as user code
//! sees it, [`Task`] and [`NurseryInfo`] (`info.rs`).

mod cell;
mod info;
mod step;

pub(in crate::core) use cell::*;
pub use info::{NurseryInfo, Task};
pub(in crate::core) use step::step;
