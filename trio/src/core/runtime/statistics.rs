//! [`RunStatistics`]: a snapshot of the loop (Trio's `current_statistics`).

use std::time::Duration;

use super::super::context::{self};

/// A snapshot of the run loop's state (Trio's `RunStatistics`).
///
/// Returned by [`current_statistics`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// # trio::run(async {
/// trio::open_nursery(async |n| {
///     n.start_soon(trio::sleep(Duration::from_secs(3600)))?;
///     n.start_soon(trio::sleep_forever())?;
///     trio::testing::wait_all_tasks_blocked().await?;
///     let s = trio::lowlevel::current_statistics();
///     assert_eq!(s.tasks_living, 3); // main and two children
///     assert_eq!(s.tasks_runnable, 0); // everyone else is blocked
///     let next = s.seconds_to_next_deadline.unwrap();
///     assert!(next > Duration::ZERO && next <= Duration::from_secs(3600));
///     assert_eq!((s.io_waiting_read, s.io_waiting_write), (0, 0));
///     n.cancel_scope().cancel();
///     Ok(())
/// }).await
/// # }).unwrap();
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct RunStatistics {
    /// Tasks alive (spawned and not finished), including the main task.
    pub tasks_living: usize,
    /// Tasks runnable now, anywhere in the task tree.
    pub tasks_runnable: usize,
    /// Time to the next deadline (`None`: no deadline pending).
    pub seconds_to_next_deadline: Option<Duration>,
    /// Tasks waiting to read a file descriptor.
    pub io_waiting_read: usize,
    /// Tasks waiting to write a file descriptor.
    pub io_waiting_write: usize,
    /// Callbacks queued with `run_sync_soon` and not yet run.
    pub run_sync_soon_queue_size: usize,
    /// The reactor the run uses (`Epoll` or `Uring`; see
    /// [`Builder::io_backend`](crate::Builder::io_backend)).
    pub io_backend: crate::lowlevel::IoBackend,
    /// Operations the io_uring reactor has in the kernel, cancelled ones whose
    /// last completion has not arrived included (always 0 on epoll).
    pub io_ops_in_flight: usize,
    /// Socket receives and sends the io_uring reactor has submitted as ring
    /// operations since the run began (always 0 on epoll).
    pub io_ring_ops: usize,
}

/// Statistics of the current run (Trio's `current_statistics`).
///
/// # Panics
///
/// Outside [`trio::run`](crate::run).
///
/// # Examples
///
/// ```
/// # trio::run(async {
/// let s = trio::lowlevel::current_statistics();
/// assert!(s.tasks_living >= 1);
/// # Ok(()) }).unwrap();
/// ```
pub fn current_statistics() -> RunStatistics {
    context::with_runner(|r| {
        let now = r.current_time();
        let next = r.deadlines.borrow_mut().next_deadline();
        let (rd, wr) = r.io.statistics();
        RunStatistics {
            tasks_living: r.tasks_living.get(),
            tasks_runnable: context::runnable_count(),
            seconds_to_next_deadline: next.map(|d| d - now),
            io_waiting_read: rd,
            io_waiting_write: wr,
            run_sync_soon_queue_size: r.shared.queue_len(),
            io_backend: r.io.backend(),
            io_ops_in_flight: r.io.ops_in_flight(),
            io_ring_ops: r.io.ring_ops(),
        }
    })
    .expect("current_statistics called outside trio::run")
}
