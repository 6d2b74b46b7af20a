//! The run loop: [`run`], [`Runtime`] and its [`Builder`].
//!
//! # One iteration
//!
//! 1. **Batch**: poll every root task that is runnable now (the main task and
//!    system tasks), in the order of the run's [`SchedulePolicy`] — by default
//!    in wake-up order or reversed, on a coin flip of the run's seeded generator
//!    (as Trio does). Polling a
//!    root task polls, down the tree, every nursery with runnable children; each
//!    nursery runs its own batch. Tasks woken during the batch wait for the next.
//! 2. **Timeout**: zero if anything is runnable; otherwise until the next deadline
//!    (asked of the clock), shortened to the smallest `wait_all_tasks_blocked`
//!    cushion or the mock clock's autojump threshold.
//! 3. **I/O wait**: `epoll_wait` for that long (on the io_uring reactor, one
//!    `io_uring_enter` that also submits the pass's queued polls and removals) —
//!    skipped entirely when the timeout is zero and no task waits for I/O
//!    (cross-thread wake-ups are seen through an atomic flag, so nothing is
//!    missed).
//! 4. **Entry queue**: run callbacks from other threads, replay their wake-ups,
//!    deliver a pending Ctrl-C.
//! 5. **Deadlines**: cancel every scope whose deadline has passed.
//! 6. **Idle**: if nothing became runnable and the loop slept for a whole cushion,
//!    wake the `wait_all_tasks_blocked` waiters with that cushion — or, with a mock
//!    clock, jump the clock to the next deadline.
//!
//! This is Trio's `unrolled_run`, step for step.

//!
//! # Where things are
//!
//! | file | concept |
//! |---|---|
//! | `runner.rs` | [`Runner`], the state of one run |
//! | `run_loop.rs` | the iterations above |
//! | `deadlock.rs` | deciding that nothing can wake any task |
//! | `instruments.rs` | calling the instruments' hooks |
//! | `builder.rs` | [`Builder`], a run's options |
//! | `policy.rs` | [`SchedulePolicy`]: who orders each batch, and the built-in policies |
//! | `run.rs` | [`Runtime::run`]: set-up, the loop, teardown, the result |
//! | `current.rs` | `current_task`, `current_root_task`, `spawn_system_task`, ... |
//! | `statistics.rs` | [`RunStatistics`] |
//! | `idle.rs` | [`IdleWait`], the future of `wait_all_tasks_blocked` |

mod builder;
mod current;
mod deadlock;
mod guest;
mod idle;
mod instruments;
mod policy;
mod run;
mod run_loop;
mod runner;
mod statistics;

pub(in crate::core) use crate::error::panic_message;
pub use builder::Builder;
pub use current::{
    cancel_main_task, current_root_task, current_seed, current_task, current_trio_token,
    spawn_system_task, try_current_task,
};
use deadlock::Verdict;
pub use guest::{GuestRun, start_guest_run};
pub use idle::IdleWait;
pub(in crate::core) use policy::Policy;
pub use policy::{
    CoinFlipReverse, Fifo, Pct, SchedulePolicy, ScheduleRng, Shuffle, TaskInfo, Wake,
};
pub use run::{Runtime, run};
pub(in crate::core) use runner::{IdleSlot, Runner};
use runner::{MAX_TIMEOUT, NEXT_LOOP_ID};
pub use statistics::{RunStatistics, current_statistics};
