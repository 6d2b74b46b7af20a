//! Waiting for idleness: the future of `wait_all_tasks_blocked`, woken by the
//! loop once nothing has been runnable for a whole cushion.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use super::super::cancel::{CancelWait, check_cancelled, outside_trio};
use super::super::context::{self};
use super::super::wait::{self, RawWait};
use super::*;
use crate::error::Result;

/// The future of [`wait_all_tasks_blocked`](crate::testing::wait_all_tasks_blocked)
/// and [`wait_all_tasks_blocked_with`](crate::testing::wait_all_tasks_blocked_with).
///
/// # Errors
///
/// `Cancelled` if the waiting task is cancelled; [`ErrorKind::Usage`](crate::ErrorKind::Usage) outside trio.
///
/// # Cancellation
///
/// A checkpoint: a cancelled wait stops waiting and is forgotten by the run loop.
///
/// # Examples
///
/// ```
/// use std::cell::Cell;
/// use trio::testing::{IdleWait, wait_all_tasks_blocked};
/// # trio::run(async {
/// let steps = Cell::new(0);
/// let s = &steps;
/// trio::open_nursery(async |n| {
///     n.start_soon(async move {
///         for _ in 0..10 {
///             trio::lowlevel::checkpoint().await?;
///             s.set(s.get() + 1);
///         }
///         Ok(())
///     })?;
///     let idle: IdleWait = wait_all_tasks_blocked();
///     idle.await?; // returns only once the child has finished all its steps
///     assert_eq!(s.get(), 10);
///     Ok(())
/// }).await?;
/// // In a cancelled scope, the wait is cancelled like any checkpoint.
/// let scope = trio::CancelScope::new();
/// scope.cancel();
/// assert_eq!(scope.run(wait_all_tasks_blocked()).await?, None);
/// # Ok(()) }).unwrap();
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct IdleWait {
    cushion: Duration,
    key: Option<(Duration, u64)>,
    slot: Option<Rc<IdleSlot>>,
    cancel: CancelWait,
}

impl fmt::Debug for IdleWait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdleWait")
            .field("cushion", &self.cushion)
            .finish()
    }
}

impl IdleWait {
    /// A wait that ends once every other task has been blocked for `cushion` of
    /// real time: what [`wait_all_tasks_blocked_with`](crate::testing::wait_all_tasks_blocked_with)
    /// returns (and [`wait_all_tasks_blocked`](crate::testing::wait_all_tasks_blocked)
    /// with no cushion).
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// trio::lowlevel::IdleWait::new(std::time::Duration::ZERO).await?;
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn new(cushion: Duration) -> IdleWait {
        IdleWait {
            cushion,
            key: None,
            slot: None,
            cancel: CancelWait::default(),
        }
    }

    fn unregister(&mut self) {
        if let Some(k) = self.key.take() {
            context::with_runner(|r| r.idle.borrow_mut().remove(&k));
        }
        self.slot = None;
    }
}

impl Future for IdleWait {
    type Output = Result<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let this = &mut *self;
        if this.slot.is_none() {
            check_cancelled()?;
            let slot = Rc::new(IdleSlot {
                fired: Cell::new(false),
                waker: RefCell::new(None),
            });
            let cushion = this.cushion;
            let s2 = slot.clone();
            let key = context::with_runner(|r| {
                let seq = r.idle_seq.get() + 1;
                r.idle_seq.set(seq);
                r.idle.borrow_mut().insert((cushion, seq), s2);
                (cushion, seq)
            })
            .ok_or_else(outside_trio)?;
            this.key = Some(key);
            this.slot = Some(slot);
        }
        let slot = this.slot.clone().expect("set above");
        if slot.fired.get() {
            this.key = None;
            this.slot = None;
            this.cancel.clear();
            return Poll::Ready(Ok(()));
        }
        if let Poll::Ready(e) = this.cancel.poll_cancelled(cx) {
            this.unregister();
            return Poll::Ready(Err(e));
        }
        *slot.waker.borrow_mut() = Some(cx.waker().clone());
        wait::set(cx, RawWait::IDLE);
        Poll::Pending
    }
}

impl Drop for IdleWait {
    fn drop(&mut self) {
        self.unregister();
    }
}
