//! The testing kit (Trio's `trio.testing`): a mock clock, waiting for quiescence,
//! a sequencer to force an order on tasks, in-memory streams
//! ([`memory_stream_pair`], [`lockstep_stream_pair`]), conformance suites for
//! stream implementations ([`check_half_closeable_stream`] and friends),
//! deterministic simulation of several hosts and their network ([`sim`]), and the
//! support behind `#[trio::test]`.

mod check_streams;
mod checkpoints;
mod lockstep;
mod memory_streams;
mod mock_clock;
mod open_stream;
mod sequencer;
pub mod sim;

use std::time::Duration;

pub use crate::lowlevel::IdleWait;
pub use check_streams::{
    StreamMaker, check_half_closeable_stream, check_one_way_stream, check_two_way_stream,
};
pub use checkpoints::{assert_checkpoints, assert_no_checkpoints};
pub use lockstep::{
    LockstepReceiveStream, LockstepSendStream, lockstep_stream_one_way_pair, lockstep_stream_pair,
};
pub use memory_streams::{
    AsyncHook, HookSlot, MemoryReceiveStream, MemorySendStream, SyncHook,
    memory_stream_one_way_pair, memory_stream_pair, memory_stream_pump,
};
pub use mock_clock::MockClock;
pub use open_stream::open_stream_to_socket_listener;
pub use sequencer::{Sequencer, SequencerGuard};

/// Waits until every other task is blocked (Trio's `wait_all_tasks_blocked`, with
/// no cushion): the way to let the rest of a test settle without sleeping.
///
/// # Errors
///
/// `Cancelled` if the caller is cancelled.
///
/// # Cancellation
///
/// A checkpoint.
///
/// # Examples
///
/// ```
/// use std::cell::Cell;
/// # trio::run(async {
/// let ready = Cell::new(false);
/// let r = &ready;
/// trio::open_nursery(async |n| {
///     n.start_soon(async move { r.set(true); trio::sleep_forever().await })?;
///     trio::testing::wait_all_tasks_blocked().await?;
///     assert!(ready.get());
///     n.cancel_scope().cancel();
///     Ok(())
/// }).await
/// # }).unwrap();
/// ```
pub fn wait_all_tasks_blocked() -> IdleWait {
    IdleWait::new(Duration::ZERO)
}

/// Waits until every other task has been blocked for `cushion` of real time (Trio's
/// `wait_all_tasks_blocked(cushion)`). Waiters with a smaller cushion wake first.
///
/// # Errors
///
/// `Cancelled` if the caller is cancelled.
///
/// # Cancellation
///
/// A checkpoint.
///
/// # Examples
///
/// ```
/// # trio::run(async {
/// trio::testing::wait_all_tasks_blocked_with(std::time::Duration::from_millis(1)).await?;
/// # Ok(()) }).unwrap();
/// ```
pub fn wait_all_tasks_blocked_with(cushion: Duration) -> IdleWait {
    IdleWait::new(cushion)
}

#[doc(hidden)]
pub mod __private {
    //! Support for `#[trio::test]`; not a public API.

    use std::any::Any;
    use std::fmt::Debug;
    use std::future::Future;
    use std::time::Duration;

    use super::MockClock;

    /// What a test body may return.
    pub trait TestOutput {
        fn into_test_result(self) -> Result<(), String>;
    }

    impl TestOutput for () {
        fn into_test_result(self) -> Result<(), String> {
            Ok(())
        }
    }

    /// A trio error reads best as its message and causes; anything else as
    /// `Debug` (what `cargo test` prints for a `main` that returns an error).
    impl<E: Debug + 'static> TestOutput for Result<(), E> {
        fn into_test_result(self) -> Result<(), String> {
            self.map_err(|e| match (&e as &dyn Any).downcast_ref::<crate::Error>() {
                Some(e) => crate::lowlevel::error_report(e),
                None => format!("{e:?}"),
            })
        }
    }

    /// How long a test may sit blocked on thread-safe channels that no other
    /// thread uses before it fails as deadlocked (`channel_deadlock_grace_secs`).
    pub const CHANNEL_DEADLOCK_GRACE: Duration = Duration::from_secs(5);

    /// Options from the attribute.
    #[derive(Debug)]
    pub struct TestConfig {
        pub mock_clock: bool,
        pub autojump: bool,
        pub seed: Option<u64>,
        pub channel_deadlock_grace: Option<Duration>,
    }

    /// Runs one test body; on failure, prints the seed that replays it. The
    /// main task's spawn location is the caller's: the user's test.
    #[track_caller]
    pub fn run_test<F, Fut, O>(name: &str, config: TestConfig, body: F)
    where
        F: FnOnce(MockClock) -> Fut,
        Fut: Future<Output = O>,
        O: TestOutput,
    {
        let clock = MockClock::new();
        if config.autojump {
            clock.set_autojump_threshold(Duration::ZERO);
        }
        let mut builder = crate::Runtime::builder()
            .handle_ctrl_c(false)
            .channel_deadlock_grace(config.channel_deadlock_grace);
        if config.mock_clock || config.autojump {
            builder = builder.clock(clock.clone());
        }
        if let Some(seed) = config.seed {
            builder = builder.seed(seed);
        }
        let rt = builder.build();
        let seed = rt.seed();
        let fut = body(clock);
        let hint = || {
            eprintln!(
                "trio: test {name} failed with scheduling seed {seed}; replay it with TRIO_SEED={seed}"
            )
        };
        /// Prints the hint if the run panics (a guard rather than
        /// `catch_unwind`: a closure would hide the caller's location from the
        /// `#[track_caller]` chain that names the test as the main task's spawn
        /// site).
        struct HintOnPanic<F: Fn()>(F);
        impl<F: Fn()> Drop for HintOnPanic<F> {
            fn drop(&mut self) {
                if std::thread::panicking() {
                    (self.0)()
                }
            }
        }
        let guard = HintOnPanic(&hint);
        let res = rt.run(async move { Ok::<_, crate::Error>(fut.await) });
        drop(guard);
        match res {
            Err(e) => {
                hint();
                panic!("trio run failed: {}", crate::lowlevel::error_report(&e))
            }
            Ok(out) => {
                if let Err(msg) = out.into_test_result() {
                    hint();
                    panic!("test returned an error: {msg}")
                }
            }
        }
    }
}
