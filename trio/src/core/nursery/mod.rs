//! Nurseries: where every task lives.
//!
//! # Why children are polled inside the nursery's future
//!
//! Children may borrow from the code that opened the nursery (`'env` data), with no
//! `'static` bound and no `Arc`. That is sound only if a child can never run after
//! the data it borrows is gone. Two things could make it run: the run loop polling it
//! directly, and a child surviving its nursery. So the run loop never sees children
//! at all: a child's future is owned by its nursery's state and polled only from the
//! nursery future's `poll` — which runs only while the code that opened the nursery
//! is itself being polled, i.e. while `'env` is alive. If the nursery future is
//! leaked (`mem::forget`), its children are leaked with it and never polled again;
//! if it is dropped, its `Drop` drops every child first. No lifetime is erased:
//! children are stored as `Pin<Box<dyn Future + 'env>>` in a `NurseryState<'env>`.
//!
//! # Tasks nonetheless
//!
//! Each child is still a logical task of the run loop: it has a [`TaskCell`] (id,
//! name, waker) that is non-generic, so the task tree, instruments and statistics can
//! see it. A child's waker queues the child's slot in its nursery's ready queue and,
//! if that queue was empty, wakes the task that polls the nursery; wake-ups climb the
//! tree that way up to a root task, which the run loop polls. A nursery polls only its
//! ready children, in batches: the batch is taken before the body is polled, so a
//! child woken (or started) during a batch runs in the next one, as in Trio. The
//! run's [scheduling policy](crate::lowlevel::SchedulePolicy) orders each batch
//! (and may keep some of it for the next) and decides whether the body runs
//! before or after it.
//!
//! # Errors
//!
//! A child's error (not a cancellation) cancels the nursery's scope — so the body and
//! every sibling see `Err(Cancelled)` at their next checkpoint — and is kept. When
//! everything has finished, the nursery's scope swallows the cancellations it caused
//! and the rest come out as one error or a group. A panic cancels the same way and
//! is resumed in the parent once every child has finished, as `std::thread::scope`
//! does.
//!
//! # Where things are
//!
//! | file | concept |
//! |---|---|
//! | `mod.rs` | [`Nursery`], the handle the body and the children start tasks with |
//! | `state.rs` | the engine: a nursery's state, its children's futures, batches, errors |
//! | `open.rs` | [`open_nursery`] and the future that drives a nursery to its end |
//! | `start.rs` | the `start` protocol: [`TaskStatus`] and the move into the target |
//! | `task_handle.rs` | [`Nursery::spawn`]'s [`TaskHandle`] |
//!
//! The public [`Task`](crate::lowlevel::Task) and
//! [`NurseryInfo`](crate::lowlevel::NurseryInfo), the task tree seen from outside,
//! live beside the task cell (`core/task/`).

mod open;
mod start;
mod state;
mod task_handle;

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::Location;
use std::rc::Rc;

use super::cancel::CancelScope;
use super::task::NurseryInfo;
use crate::error::Result;

pub use open::open_nursery;
pub use start::TaskStatus;
pub(in crate::core) use state::{Batch, NurseryCore, NurseryState};
pub use task_handle::TaskHandle;

/// Handle to an open nursery, given to the body of [`open_nursery`] (Trio's `Nursery`).
///
/// Start children with [`start_soon`](Self::start_soon), [`start`](Self::start) or
/// [`spawn`](Self::spawn). Clone it into children so they can start siblings
/// ("nursery passing"). Children may borrow anything that outlives the
/// `open_nursery` call (the `'env` lifetime) — bind references outside and move them
/// in with `async move`.
///
/// A child cannot borrow data created inside the body, because the child may outlive
/// the body (this is the nursery's soundness rule, checked by the compiler):
///
/// ```compile_fail,E0597
/// # trio::run(async {
/// trio::open_nursery(async |n| {
///     let local = vec![1, 2, 3];
///     let r = &local;
///     n.start_soon(async move { println!("{:?}", r); Ok(()) })?; // error: `local` does not live long enough
///     Ok(())
/// }).await
/// # }).unwrap();
/// ```
///
/// # Examples
///
/// ```
/// use std::cell::Cell;
/// # trio::run(async {
/// let total = Cell::new(0);
/// let t = &total;
/// trio::open_nursery(async |n| {
///     for i in 1..=3 {
///         n.start_soon(async move { t.set(t.get() + i); Ok(()) })?;
///     }
///     Ok(())
/// }).await?;
/// assert_eq!(total.get(), 6);
/// # Ok(()) }).unwrap();
/// ```
pub struct Nursery<'env> {
    state: Rc<NurseryState<'env>>,
    _invariant: PhantomData<&'env mut &'env ()>,
}

impl<'env> Nursery<'env> {
    fn new(state: Rc<NurseryState<'env>>) -> Nursery<'env> {
        Nursery {
            state,
            _invariant: PhantomData,
        }
    }
}

impl Clone for Nursery<'_> {
    fn clone(&self) -> Self {
        Nursery {
            state: self.state.clone(),
            _invariant: PhantomData,
        }
    }
}

impl fmt::Debug for Nursery<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Nursery")
            .field("id", &self.state.core.id)
            .field("children", &self.state.core.children.borrow().len())
            .field("closed", &self.state.core.closed.get())
            .finish()
    }
}

/// The default task name: the future's type name (trimmed when read, see `Task::name`).
fn default_name<F>() -> Cow<'static, str> {
    Cow::Borrowed(std::any::type_name::<F>())
}

impl<'env> Nursery<'env> {
    /// Starts `fut` as a new child; it begins running at the next batch (Trio's
    /// `start_soon`). Its name is taken from the future's type.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NurseryClosed`](crate::ErrorKind::NurseryClosed) if the nursery has already finished (only
    /// possible through a clone of the handle kept past the nursery).
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// trio::open_nursery(async |n| {
    ///     n.start_soon(async { trio::sleep(std::time::Duration::from_millis(1)).await })?;
    ///     Ok(())
    /// }).await
    /// # }).unwrap();
    /// ```
    #[track_caller]
    pub fn start_soon<F>(&self, fut: F) -> Result<()>
    where
        F: Future<Output = Result<()>> + 'env,
    {
        self.state
            .spawn(default_name::<F>(), Box::pin(fut), Location::caller())
            .map(drop)
    }

    /// [`start_soon`](Self::start_soon) with an explicit task name.
    ///
    /// # Errors
    ///
    /// As [`start_soon`](Self::start_soon).
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// trio::open_nursery(async |n| {
    ///     n.start_soon_named("worker-1", async {
    ///         assert_eq!(trio::lowlevel::current_task().name(), "worker-1");
    ///         Ok(())
    ///     })?;
    ///     Ok(())
    /// }).await
    /// # }).unwrap();
    /// ```
    #[track_caller]
    pub fn start_soon_named<F>(&self, name: impl Into<Cow<'static, str>>, fut: F) -> Result<()>
    where
        F: Future<Output = Result<()>> + 'env,
    {
        self.state
            .spawn(name.into(), Box::pin(fut), Location::caller())
            .map(drop)
    }

    /// Starts a child and waits until it reports that it is ready (Trio's
    /// `nursery.start`).
    ///
    /// `f` receives a [`TaskStatus`]; the child runs "under" this call — inside the
    /// caller's cancel scopes — until it calls [`TaskStatus::started`], whose value
    /// `start` returns. From the moment of that call it is a child of this nursery:
    /// its [`parent_nursery`](crate::lowlevel::Task::parent_nursery) is this one,
    /// this nursery's cancellation and deadlines reach it (and the caller's no
    /// longer do), and a failure of it fails this nursery.
    ///
    /// # Errors
    ///
    /// An error of the child before it called `started`; [`ErrorKind::Usage`](crate::ErrorKind::Usage) if it
    /// returned without calling `started`; [`ErrorKind::NurseryClosed`](crate::ErrorKind::NurseryClosed) if the
    /// nursery has finished.
    ///
    /// # Cancellation
    ///
    /// Cancelling the caller before `started` cancels the child, and `start` returns
    /// the child's result (normally `Err(Cancelled)`). As in Trio, a `started` call
    /// made while the caller is cancelled is ignored: the child stays under `start`
    /// until it finishes, and `start` returns its error, or the value if it succeeded.
    ///
    /// # Panics
    ///
    /// A panic in the child before `started` is resumed here.
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// trio::open_nursery(async |n| {
    ///     let port: u16 = n.start(async |status| {
    ///         status.started(8080);
    ///         trio::sleep(std::time::Duration::from_millis(1)).await
    ///     }).await?;
    ///     assert_eq!(port, 8080);
    ///     Ok(())
    /// }).await
    /// # }).unwrap();
    /// ```
    #[track_caller]
    pub fn start<V, F>(&self, f: F) -> impl Future<Output = Result<V>>
    where
        F: AsyncFnOnce(TaskStatus<V>) -> Result<()> + 'env,
        V: 'env,
    {
        start::start_child(&self.state, default_name::<F>(), f, Location::caller())
    }

    /// [`start`](Self::start) with an explicit task name.
    ///
    /// # Errors
    ///
    /// As [`start`](Self::start).
    ///
    /// # Cancellation
    ///
    /// As [`start`](Self::start).
    ///
    /// # Panics
    ///
    /// As [`start`](Self::start).
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// trio::open_nursery(async |n| {
    ///     n.start_named("server", async |status| { status.started(()); Ok(()) }).await
    /// }).await
    /// # }).unwrap();
    /// ```
    #[track_caller]
    pub fn start_named<V, F>(
        &self,
        name: impl Into<Cow<'static, str>>,
        f: F,
    ) -> impl Future<Output = Result<V>>
    where
        F: AsyncFnOnce(TaskStatus<V>) -> Result<()> + 'env,
        V: 'env,
    {
        start::start_child(&self.state, name.into(), f, Location::caller())
    }

    /// Starts `fut` as a child and returns a handle to await its value or cancel it
    /// on its own (anyio's `TaskHandle`).
    ///
    /// The child runs in its own cancel scope inside the nursery. Its `Ok` value goes
    /// to the handle; an error still goes to the nursery (cancelling the siblings),
    /// as for any child, and the handle reports [`ErrorKind::TaskFailed`](crate::ErrorKind::TaskFailed).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NurseryClosed`](crate::ErrorKind::NurseryClosed) if the nursery has finished.
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// trio::open_nursery(async |n| {
    ///     let mut h = n.spawn(async { Ok(6 * 7) })?;
    ///     assert_eq!(h.join().await?, 42);
    ///     Ok(())
    /// }).await
    /// # }).unwrap();
    /// ```
    #[track_caller]
    pub fn spawn<T, F>(&self, fut: F) -> Result<TaskHandle<T>>
    where
        F: Future<Output = Result<T>> + 'env,
        T: 'env,
    {
        task_handle::spawn(&self.state, default_name::<F>(), fut, Location::caller())
    }

    /// [`spawn`](Self::spawn) with an explicit task name.
    ///
    /// # Errors
    ///
    /// As [`spawn`](Self::spawn).
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// trio::open_nursery(async |n| {
    ///     let h = n.spawn_named("compute", async { Ok(1) })?;
    ///     assert_eq!(h.task().name(), "compute");
    ///     Ok(())
    /// }).await
    /// # }).unwrap();
    /// ```
    #[track_caller]
    pub fn spawn_named<T, F>(
        &self,
        name: impl Into<Cow<'static, str>>,
        fut: F,
    ) -> Result<TaskHandle<T>>
    where
        F: Future<Output = Result<T>> + 'env,
        T: 'env,
    {
        task_handle::spawn(&self.state, name.into(), fut, Location::caller())
    }

    /// The nursery's cancel scope: cancelling it cancels the body and every child.
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// trio::open_nursery(async |n| {
    ///     n.start_soon(trio::sleep_forever())?;
    ///     n.cancel_scope().cancel();
    ///     Ok(())
    /// }).await
    /// # }).unwrap();
    /// ```
    pub fn cancel_scope(&self) -> CancelScope {
        CancelScope::from_state(self.state.core.scope.clone())
    }

    /// A handle to inspect the nursery in the task tree.
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// let info = trio::open_nursery(async |n| {
    ///     let info = n.info();
    ///     assert_eq!(info.parent_task(), Some(trio::lowlevel::current_task()));
    ///     assert!(!info.is_closed());
    ///     Ok(info)
    /// }).await?.expect("the body returned");
    /// assert!(info.is_closed()); // the handle outlives the nursery
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn info(&self) -> NurseryInfo {
        NurseryInfo::new(self.state.core.clone())
    }
}
