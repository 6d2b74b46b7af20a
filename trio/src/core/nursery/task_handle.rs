//! [`Nursery::spawn`](super::Nursery::spawn)'s [`TaskHandle`]: a child whose value
//! can be awaited and which can be cancelled alone (anyio's `TaskHandle`). The
//! child runs its future in a scope of its own; its value goes to the handle, its
//! error (as any child's) to the nursery.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::rc::Rc;

use super::super::cancel::CancelScope;
use super::super::parking_lot::ParkingLot;
use super::super::task::Task;
use super::state::NurseryState;
use crate::error::{Error, ErrorKind, Result};

/// Starts `fut` in `nursery` with a handle on its value: [`Nursery::spawn`](super::Nursery::spawn).
pub(super) fn spawn<'env, T, F>(
    nursery: &NurseryState<'env>,
    name: Cow<'static, str>,
    fut: F,
    at: &'static Location<'static>,
) -> Result<TaskHandle<T>>
where
    F: Future<Output = Result<T>> + 'env,
    T: 'env,
{
    let shared = Rc::new(HandleShared {
        result: RefCell::new(None),
        done: ParkingLot::with_name("TaskHandle"),
        scope: CancelScope::new(),
    });
    let s = shared.clone();
    let child = async move {
        let out = s.scope.run(fut).await;
        let (slot, ret) = match out {
            Ok(Some(v)) => (Ok(v), Ok(())),
            Ok(None) => (Err(Error::from_kind(ErrorKind::TaskCancelled)), Ok(())),
            Err(e) => (
                Err(Error::new(
                    ErrorKind::TaskFailed,
                    format!("the task failed: {e}"),
                )),
                Err(e),
            ),
        };
        *s.result.borrow_mut() = Some(slot);
        s.done.unpark_all();
        ret
    };
    let cell = nursery.spawn(name, Box::pin(child), at)?;
    Ok(TaskHandle {
        shared,
        task: Task::from_cell(cell),
    })
}

struct HandleShared<T> {
    result: RefCell<Option<Result<T>>>,
    done: ParkingLot,
    scope: CancelScope,
}

/// A child started with [`Nursery::spawn`](crate::Nursery::spawn): await its value, or cancel it alone.
///
/// # Examples
///
/// ```
/// # trio::run(async {
/// trio::open_nursery(async |n| {
///     let mut h = n.spawn(async { trio::sleep_forever().await?; Ok(()) })?;
///     h.cancel();
///     let err = h.join().await.unwrap_err();
///     assert_eq!(err.kind(), trio::ErrorKind::TaskCancelled);
///     Ok(())
/// }).await
/// # }).unwrap();
/// ```
pub struct TaskHandle<T> {
    shared: Rc<HandleShared<T>>,
    task: Task,
}

impl<T> fmt::Debug for TaskHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskHandle")
            .field("task", &self.task)
            .field("finished", &self.is_finished())
            .finish()
    }
}

impl<T> TaskHandle<T> {
    /// Waits for the child to finish and takes its value.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::TaskCancelled`] if the child was cancelled through
    /// [`cancel`](Self::cancel); [`ErrorKind::TaskFailed`] if it failed (its error went
    /// to the nursery); [`ErrorKind::Usage`] if the value was already taken.
    ///
    /// # Cancellation
    ///
    /// A checkpoint. If the caller is cancelled, `join` returns `Err(Cancelled)` and
    /// the value stays in the handle for a later `join`.
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// trio::open_nursery(async |n| {
    ///     let mut h = n.spawn(async { Ok("done") })?;
    ///     assert_eq!(h.join().await?, "done");
    ///     assert_eq!(h.join().await.unwrap_err().kind(), trio::ErrorKind::Usage);
    ///     Ok(())
    /// }).await
    /// # }).unwrap();
    /// ```
    pub async fn join(&mut self) -> Result<T> {
        loop {
            let taken = self.shared.result.borrow_mut().as_mut().map(|r| {
                std::mem::replace(
                    r,
                    Err(Error::new(
                        ErrorKind::Usage,
                        "the task's value was already taken by join",
                    )),
                )
            });
            if let Some(taken) = taken {
                if let Err(e) = crate::lowlevel::checkpoint().await {
                    // Cancelled: nothing was consumed; the value stays for a later join.
                    *self.shared.result.borrow_mut() = Some(taken);
                    return Err(e);
                }
                return taken;
            }
            self.shared.done.park().await?;
        }
    }

    /// Cancels the child alone (its siblings and the nursery go on).
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// trio::open_nursery(async |n| {
    ///     let mut stuck = n.spawn(async { trio::sleep_forever().await?; Ok(0) })?;
    ///     let mut quick = n.spawn(async { trio::lowlevel::checkpoint().await?; Ok(1) })?;
    ///     stuck.cancel();
    ///     assert_eq!(stuck.join().await.unwrap_err().kind(), trio::ErrorKind::TaskCancelled);
    ///     assert_eq!(quick.join().await?, 1); // the sibling was not cancelled
    ///     assert!(!n.cancel_scope().cancel_called());
    ///     Ok(())
    /// }).await
    /// # }).unwrap();
    /// ```
    pub fn cancel(&self) {
        self.shared.scope.cancel();
    }

    /// True once the child has finished.
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// trio::open_nursery(async |n| {
    ///     let h = n.spawn(async { Ok("value") })?;
    ///     assert!(!h.is_finished()); // not even started yet
    ///     trio::testing::wait_all_tasks_blocked().await?;
    ///     assert!(h.is_finished());
    ///     Ok(())
    /// }).await
    /// # }).unwrap();
    /// ```
    pub fn is_finished(&self) -> bool {
        self.shared.result.borrow().is_some()
    }

    /// The child's task.
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// trio::open_nursery(async |n| {
    ///     let mut h = n.spawn_named("child", async {
    ///         Ok(trio::lowlevel::current_task())
    ///     })?;
    ///     let task = h.task().clone();
    ///     assert_eq!(task.name(), "child");
    ///     assert_eq!(h.join().await?, task); // the same task, seen from inside
    ///     Ok(())
    /// }).await
    /// # }).unwrap();
    /// ```
    pub fn task(&self) -> &Task {
        &self.task
    }
}
