//! Checkpoints and sleeping.
//!
//! A *checkpoint* is where a task may be cancelled and where the scheduler may
//! switch to another task. Every blocking trio operation is one; so is
//! [`checkpoint`], which blocks for no reason but to be one. Trio's rule, kept here:
//! a checkpoint first yields to the scheduler (a schedule point), then checks for
//! cancellation — so that deadlines the scheduler just expired are seen.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use super::cancel::{CancelWait, check_cancelled, outside_trio};
use super::context;
use super::deadlines::SleeperSlot;
use super::wait::{self, RawWait};
use crate::error::Result;
use crate::time::Instant;

/// The future of [`checkpoint`] and [`cancel_shielded_checkpoint`].
///
/// # Errors
///
/// From [`checkpoint`]: `Cancelled` inside an effectively cancelled scope,
/// [`ErrorKind::Usage`](crate::ErrorKind::Usage) outside trio. From
/// [`cancel_shielded_checkpoint`]: never.
///
/// # Cancellation
///
/// Always a schedule point (it yields once); a cancellation point only when made by
/// [`checkpoint`].
///
/// # Examples
///
/// ```
/// use trio::lowlevel::{Checkpoint, cancel_shielded_checkpoint, checkpoint};
/// # trio::run(async {
/// let scope = trio::CancelScope::new();
/// scope.cancel();
/// scope.run(async {
///     let shielded: Checkpoint = cancel_shielded_checkpoint();
///     assert!(shielded.await.is_ok());
///     let plain: Checkpoint = checkpoint();
///     assert!(plain.await.unwrap_err().is_cancelled());
///     Ok::<_, trio::Error>(())
/// }).await?;
/// # Ok(()) }).unwrap();
/// ```
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct Checkpoint {
    yielded: bool,
    check: bool,
}

impl Future for Checkpoint {
    type Output = Result<()>;

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        if !self.yielded {
            self.yielded = true;
            if context::yield_needed() {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
        }
        if self.check {
            Poll::Ready(check_cancelled())
        } else {
            Poll::Ready(Ok(()))
        }
    }
}

/// Whether a schedule point here must actually yield to the scheduler: always,
/// unless the run has a [schedule budget](crate::Builder::schedule_budget) and the
/// current task still has credit in this step (then one credit is spent and the
/// caller goes on without yielding). Primitives written outside trio's core call
/// it where they would yield after completing at once.
///
/// # Examples
///
/// ```
/// # trio::run(async {
/// assert!(trio::lowlevel::should_yield()); // default: every schedule point yields
/// # Ok(()) }).unwrap();
/// ```
#[inline]
pub fn should_yield() -> bool {
    context::yield_needed()
}

/// The run's [schedule budget](crate::Builder::schedule_budget): how many
/// schedule points a task may skip per step (0, Trio's rule, by default and
/// outside trio).
///
/// Primitives that take something and then yield (Trio's `acquire`) use it to
/// place their schedule point: with a budget they yield *before* taking, so a
/// task never yields while holding a lock it got at once — otherwise the first
/// yield that the budget does not cover lets every other task queue behind the
/// holder, and each later acquisition becomes a hand-off.
///
/// # Examples
///
/// ```
/// # trio::run(async {
/// assert_eq!(trio::lowlevel::current_schedule_budget(), 0);
/// # Ok(()) }).unwrap();
/// let rt = trio::Runtime::builder().schedule_budget(64).build();
/// rt.run(async {
///     assert_eq!(trio::lowlevel::current_schedule_budget(), 64);
///     Ok::<_, trio::Error>(())
/// }).unwrap();
/// ```
pub fn current_schedule_budget() -> u32 {
    context::with_runner(|r| r.schedule_budget).unwrap_or(0)
}

/// A checkpoint: yields to the scheduler, then returns `Err(Cancelled)` if the
/// current code is cancelled (Trio's `trio.lowlevel.checkpoint`).
///
/// # Errors
///
/// `Cancelled` inside an effectively cancelled scope; [`ErrorKind::Usage`]
/// outside trio.
///
/// [`ErrorKind::Usage`]: crate::ErrorKind::Usage
///
/// # Cancellation
///
/// This *is* the cancellation point.
///
/// # Examples
///
/// ```
/// # trio::run(async {
/// for _ in 0..3 {
///     trio::lowlevel::checkpoint().await?; // lets other tasks run
/// }
/// # Ok(()) }).unwrap();
/// ```
#[inline]
pub fn checkpoint() -> Checkpoint {
    Checkpoint {
        yielded: false,
        check: true,
    }
}

/// A schedule point that ignores cancellation (Trio's `cancel_shielded_checkpoint`).
///
/// # Errors
///
/// Never fails.
///
/// # Cancellation
///
/// Not a cancellation point.
///
/// # Examples
///
/// ```
/// # trio::run(async {
/// let s = trio::CancelScope::new();
/// s.cancel();
/// s.run(async {
///     trio::lowlevel::cancel_shielded_checkpoint().await?; // not cancelled
///     Ok::<_, trio::Error>(())
/// }).await?;
/// # Ok(()) }).unwrap();
/// ```
#[inline]
pub fn cancel_shielded_checkpoint() -> Checkpoint {
    Checkpoint {
        yielded: false,
        check: false,
    }
}

/// Returns `Err(Cancelled)` if the current code is cancelled, without yielding
/// otherwise (Trio's `checkpoint_if_cancelled`).
///
/// # Errors
///
/// As [`checkpoint`].
///
/// # Cancellation
///
/// A cancellation point but not a schedule point.
///
/// # Examples
///
/// ```
/// # trio::run(async {
/// trio::lowlevel::checkpoint_if_cancelled()?;
/// # Ok(()) }).unwrap();
/// ```
#[inline]
pub fn checkpoint_if_cancelled() -> Result<()> {
    check_cancelled()
}

/// The future of [`sleep_forever`].
///
/// # Errors
///
/// Always `Cancelled`, once an enclosing scope is cancelled (or
/// [`ErrorKind::Usage`](crate::ErrorKind::Usage) outside trio).
///
/// # Cancellation
///
/// A checkpoint; cancellation is the only way it completes.
///
/// # Examples
///
/// ```
/// # trio::run(async {
/// let scope = trio::CancelScope::new();
/// let s = &scope;
/// trio::open_nursery(async |n| {
///     n.start_soon(async move {
///         let forever: trio::SleepForever = trio::sleep_forever();
///         assert_eq!(s.run(forever).await?, None);
///         Ok(())
///     })?;
///     trio::testing::wait_all_tasks_blocked().await?;
///     scope.cancel();
///     Ok(())
/// }).await?;
/// assert!(scope.cancelled_caught());
/// # Ok(()) }).unwrap();
/// ```
#[must_use = "futures do nothing unless awaited"]
#[derive(Default)]
pub struct SleepForever {
    cancel: CancelWait,
}

impl std::fmt::Debug for SleepForever {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SleepForever")
    }
}

impl Future for SleepForever {
    type Output = Result<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        match self.cancel.poll_cancelled(cx) {
            Poll::Ready(e) => Poll::Ready(Err(e)),
            Poll::Pending => {
                wait::set(cx, RawWait::sleep(Instant::INFINITY));
                Poll::Pending
            }
        }
    }
}

/// Sleeps until cancelled (Trio's `sleep_forever`). Never returns `Ok`.
///
/// # Errors
///
/// Always: `Cancelled` once an enclosing scope is cancelled.
///
/// # Cancellation
///
/// A checkpoint; the only way out.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// # trio::run(async {
/// let r = trio::move_on_after(Duration::from_millis(1), trio::sleep_forever()).await?;
/// assert_eq!(r, None);
/// # Ok(()) }).unwrap();
/// ```
pub fn sleep_forever() -> SleepForever {
    SleepForever::default()
}

enum When {
    After(Duration),
    At(Instant),
}

enum SleepState {
    Start,
    /// The deadline had passed: behaving as a checkpoint.
    Yielded,
    Waiting,
    Done,
}

/// The future of [`sleep`] and [`sleep_until`].
///
/// A sleeping task costs one small entry in the run's deadline heap (its waker),
/// not a cancel scope.
///
/// # Errors
///
/// `Cancelled` if an enclosing scope is cancelled first; [`ErrorKind::Usage`]
/// outside trio.
///
/// [`ErrorKind::Usage`]: crate::ErrorKind::Usage
///
/// # Cancellation
///
/// A checkpoint, even when the deadline has already passed.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// # trio::run(async {
/// let nap: trio::Sleep = trio::sleep(Duration::from_millis(1));
/// nap.await?;
/// # Ok(()) }).unwrap();
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct Sleep {
    when: When,
    state: SleepState,
    slot: Option<Rc<SleeperSlot>>,
    cancel: CancelWait,
}

impl std::fmt::Debug for Sleep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("Sleep");
        match self.when {
            When::After(t) => d.field("after", &t),
            When::At(t) => d.field("until", &t),
        };
        d.finish()
    }
}

impl Future for Sleep {
    type Output = Result<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let this = &mut *self;
        match this.state {
            SleepState::Start => {
                let Some(now) = context::with_runner(|r| r.current_time()) else {
                    this.state = SleepState::Done;
                    return Poll::Ready(Err(outside_trio()));
                };
                let deadline = match this.when {
                    When::After(d) => now.saturating_add(d),
                    When::At(t) => t,
                };
                if deadline <= now {
                    // Trio: sleeping until the past is a checkpoint.
                    if !context::yield_needed() {
                        this.state = SleepState::Done;
                        return Poll::Ready(check_cancelled());
                    }
                    this.state = SleepState::Yielded;
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                if let Err(e) = check_cancelled() {
                    this.state = SleepState::Done;
                    return Poll::Ready(Err(e));
                }
                let slot = Rc::new(SleeperSlot {
                    waker: RefCell::new(Some(cx.waker().clone())),
                    seq: Cell::new(0),
                });
                let weak = Rc::downgrade(&slot);
                let seq =
                    context::with_runner(|r| r.deadlines.borrow_mut().add_sleeper(deadline, weak))
                        .expect("checked above: inside trio");
                slot.seq.set(seq);
                this.slot = Some(slot);
                this.state = SleepState::Waiting;
                this.when = When::At(deadline);
                if let Poll::Ready(e) = this.cancel.poll_cancelled(cx) {
                    this.forget();
                    return Poll::Ready(Err(e));
                }
                wait::set(cx, RawWait::sleep(deadline));
                Poll::Pending
            }
            SleepState::Yielded => {
                this.state = SleepState::Done;
                Poll::Ready(check_cancelled())
            }
            SleepState::Waiting => {
                let slot = this.slot.as_ref().expect("a waiting sleep has its slot");
                if slot.seq.get() == 0 {
                    this.slot = None;
                    this.state = SleepState::Done;
                    this.cancel.clear();
                    return Poll::Ready(Ok(()));
                }
                if let Poll::Ready(e) = this.cancel.poll_cancelled(cx) {
                    this.forget();
                    return Poll::Ready(Err(e));
                }
                let mut w = slot.waker.borrow_mut();
                if !w.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    *w = Some(cx.waker().clone());
                }
                if let When::At(t) = this.when {
                    wait::set(cx, RawWait::sleep(t));
                }
                Poll::Pending
            }
            SleepState::Done => Poll::Ready(Err(crate::error::Error::new(
                crate::error::ErrorKind::Usage,
                "a Sleep future was polled after it completed",
            ))),
        }
    }
}

impl Sleep {
    /// Gives up the heap entry (cancelled or dropped before the deadline).
    fn forget(&mut self) {
        self.state = SleepState::Done;
        if let Some(slot) = self.slot.take() {
            if slot.seq.replace(0) != 0 {
                context::with_runner(|r| r.deadlines.borrow_mut().note_stale());
            }
        }
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        self.forget();
    }
}

/// Sleeps for `duration` on the run's clock (Trio's `sleep`). `sleep(ZERO)` is a
/// checkpoint. The deadline is computed when the future is first polled.
///
/// # Errors
///
/// `Cancelled` if an enclosing scope is cancelled first.
///
/// # Cancellation
///
/// A checkpoint.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// # trio::run(async {
/// let t0 = trio::current_time();
/// trio::sleep(Duration::from_millis(10)).await?;
/// assert!(trio::current_time() - t0 >= Duration::from_millis(10));
/// # Ok(()) }).unwrap();
/// ```
pub fn sleep(duration: Duration) -> Sleep {
    Sleep {
        when: When::After(duration),
        state: SleepState::Start,
        slot: None,
        cancel: CancelWait::default(),
    }
}

/// Sleeps until the run's clock reaches `deadline` (Trio's `sleep_until`).
///
/// # Errors
///
/// `Cancelled` if an enclosing scope is cancelled first.
///
/// # Cancellation
///
/// A checkpoint, even if `deadline` has passed.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// # trio::run(async {
/// let wake = trio::current_time() + Duration::from_millis(5);
/// trio::sleep_until(wake).await?;
/// assert!(trio::current_time() >= wake);
/// # Ok(()) }).unwrap();
/// ```
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        when: When::At(deadline),
        state: SleepState::Start,
        slot: None,
        cancel: CancelWait::default(),
    }
}

/// The current time on the run's clock (Trio's `current_time`).
///
/// # Panics
///
/// If called outside [`trio::run`](crate::run).
///
/// # Examples
///
/// ```
/// # trio::run(async {
/// let a = trio::current_time();
/// assert!(trio::current_time() >= a);
/// # Ok(()) }).unwrap();
/// ```
pub fn current_time() -> Instant {
    context::with_runner(|r| r.current_time()).expect("trio::current_time called outside trio::run")
}
