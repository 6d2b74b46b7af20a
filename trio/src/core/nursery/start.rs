//! The `start` protocol (Trio's `nursery.start`): the child runs in a private
//! nursery "under" the `start()` call — inside the caller's cancel scopes — until
//! it calls [`TaskStatus::started`]; from that instant it is a child of the target
//! nursery, and `start` returns the value it reported.
//!
//! The move has two halves. `started` does the part anyone can observe, at once:
//! the private nursery's scope (the root of the child's cancel status) moves under
//! the target's scope, and the child's parent nursery is the target (see
//! `NurseryCore::hand_over`). The child's future cannot move then — it is being
//! polled — so [`Starting`], the future `start` awaits, moves it into the target
//! when the step ends, with anything the child left behind (errors, a panic).
//!
//! While a `start` is in flight the target stays open (`PendingStart`): a nursery
//! whose body and children are done still waits for a child about to arrive.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::panic::{Location, resume_unwind};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use super::super::wait::{self, RawWait};
use super::state::{AbandonOnDrop, NurseryCore, NurseryState};
use crate::error::{Error, ErrorKind, Result};

/// Starts `f` as a child of `target` through a private nursery and waits until it
/// calls `started` (or finishes): [`Nursery::start`](super::Nursery::start).
pub(super) async fn start_child<'env, V, F>(
    target: &Rc<NurseryState<'env>>,
    name: Cow<'static, str>,
    f: F,
    at: &'static Location<'static>,
) -> Result<V>
where
    F: AsyncFnOnce(TaskStatus<V>) -> Result<()> + 'env,
    V: 'env,
{
    if target.core.closed.get() {
        return Err(Error::new(
            ErrorKind::NurseryClosed,
            "this nursery has finished and accepts no new children",
        ));
    }
    let temp: Rc<NurseryState<'env>> = NurseryState::open()?;
    let shared = Rc::new(StartShared {
        value: RefCell::new(None),
        from: temp.core.clone(),
        to: target.core.clone(),
        handed_over: Cell::new(false),
    });
    let status = TaskStatus {
        shared: shared.clone(),
    };
    let starting = Starting {
        target: target.clone(),
        _pending: PendingStart::new(&target.core),
        _temp_guard: AbandonOnDrop(temp.clone()),
        temp,
        shared,
    };
    starting
        .temp
        .spawn(name, Box::pin(async move { f(status).await }), at)?;
    starting.await
}

/// The future a `start()` call awaits: runs the private nursery's batches until
/// the child has called `started` (then moves it) or has finished.
struct Starting<'env, V> {
    target: Rc<NurseryState<'env>>,
    /// The private nursery the child runs in until `started`.
    temp: Rc<NurseryState<'env>>,
    shared: Rc<StartShared<V>>,
    _pending: PendingStart,
    /// Drops the child if `start` is dropped before it finished.
    _temp_guard: AbandonOnDrop<'env>,
}

impl<V> Starting<'_, V> {
    /// After `started`: the child's future (if it still runs) joins the target,
    /// and so do its errors and panic (its failures already cancelled the target,
    /// see `NurseryState::add_error`).
    fn complete_move(&self) -> Result<V> {
        let (temp, target) = (&self.temp, &self.target);
        for (cell, fut) in temp.take_children() {
            target.adopt(cell, fut);
        }
        temp.core.scope.reparent_children(&target.core.scope);
        target.core.arrived(&temp.core);
        target.take_failures_of(temp);
        temp.close();
        let v = self.shared.value.borrow_mut().take();
        v.ok_or_else(|| Error::new(ErrorKind::Internal, "started recorded no value"))
    }

    /// The child finished under `start`: its failure, or the value it reported
    /// (`started` called while the caller was cancelled), or a usage error.
    fn finish_here(&self) -> Result<V> {
        let temp = &self.temp;
        temp.close();
        if let Some(p) = temp.take_panic() {
            resume_unwind(p);
        }
        if let Some(e) = Error::group(temp.take_errors()) {
            return Err(e);
        }
        self.shared.value.borrow_mut().take().ok_or_else(|| {
            Error::new(
                ErrorKind::Usage,
                "a task started with Nursery::start returned without calling TaskStatus::started",
            )
        })
    }
}

impl<V> Future for Starting<'_, V> {
    type Output = Result<V>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<V>> {
        let temp = &self.temp;
        temp.run_batches_once(cx);
        if self.shared.handed_over.get() {
            return Poll::Ready(self.complete_move());
        }
        if temp.is_empty() {
            return Poll::Ready(self.finish_here());
        }
        if temp.core.has_ready() {
            cx.waker().wake_by_ref();
        }
        // The caller waits for the task it started (which runs in `temp`).
        wait::set(cx, RawWait::nursery(temp.core.id));
        Poll::Pending
    }
}

/// Keeps a target nursery open while a `start()` is in flight.
struct PendingStart(Rc<NurseryCore>);

impl PendingStart {
    fn new(core: &Rc<NurseryCore>) -> PendingStart {
        core.pending_starts.set(core.pending_starts.get() + 1);
        PendingStart(core.clone())
    }
}

impl Drop for PendingStart {
    fn drop(&mut self) {
        let c = &self.0;
        c.pending_starts.set(c.pending_starts.get() - 1);
        if c.pending_starts.get() == 0 {
            c.wake_parent();
        }
    }
}

struct StartShared<V> {
    value: RefCell<Option<V>>,
    /// The `start()` call's private nursery, where the child runs until `started`.
    from: Rc<NurseryCore>,
    /// The nursery `start` was called on.
    to: Rc<NurseryCore>,
    /// Set by `started` when it moved the child (it does not while the `start()`
    /// caller is cancelled, as in Trio).
    handed_over: Cell<bool>,
}

/// Given to a child started with [`Nursery::start`](crate::Nursery::start): call
/// [`started`](TaskStatus::started) once the child is ready (Trio's `task_status`).
///
/// # Examples
///
/// ```
/// # trio::run(async {
/// trio::open_nursery(async |n| {
///     let v = n.start(async |status: trio::TaskStatus<&str>| {
///         status.started("ready");
///         Ok(())
///     }).await?;
///     assert_eq!(v, "ready");
///     Ok(())
/// }).await
/// # }).unwrap();
/// ```
pub struct TaskStatus<V> {
    shared: Rc<StartShared<V>>,
}

impl<V> TaskStatus<V> {
    /// Reports that the child is ready: `start()` returns `value`, and the child
    /// moves into the nursery at once — before its next line runs, it is a child of
    /// the nursery `start` was called on, under that nursery's cancel scope.
    /// Consumes the status, so it can be called only once.
    ///
    /// As in Trio, a call made while the `start()` caller is cancelled only records
    /// the value: the child stays under `start` (where its cancellation is caught)
    /// until it finishes.
    ///
    /// # Examples
    ///
    /// The child keeps running in the nursery after `start` returns:
    ///
    /// ```
    /// use std::cell::Cell;
    /// # trio::run(async {
    /// let done = Cell::new(false);
    /// let d = &done;
    /// trio::open_nursery(async |n| {
    ///     let v = n.start(async move |status: trio::TaskStatus<u32>| {
    ///         status.started(7);
    ///         trio::lowlevel::checkpoint().await?;
    ///         d.set(true);
    ///         Ok(())
    ///     }).await?;
    ///     assert_eq!(v, 7);
    ///     assert!(!d.get());
    ///     assert_eq!(n.info().child_tasks().len(), 1);
    ///     Ok(())
    /// }).await?;
    /// assert!(done.get());
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn started(self, value: V) {
        let s = &self.shared;
        *s.value.borrow_mut() = Some(value);
        // As in Trio: while the `start()` caller is cancelled the call only records
        // the value (the child stays where cancelled scopes can catch its
        // cancellation); so it does once `start` has given up on the child.
        if s.from.closed.get() || s.from.scope.effectively_cancelled() {
            return;
        }
        s.from.hand_over(&s.to);
        s.handed_over.set(true);
    }
}

impl<V> fmt::Debug for TaskStatus<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TaskStatus")
    }
}
