//! The task tree seen from user code: [`Task`] (a task's name, id, parent nursery
//! and open nurseries) and [`NurseryInfo`] (a nursery's parent task and children).
//! Both are handles on the loop-local cells and nursery cores; they do not keep a
//! task alive as a task (a finished task has no parent nursery).

use std::fmt;
use std::marker::PhantomData;
use std::rc::{Rc, Weak};
use std::sync::Arc;

use super::super::nursery::NurseryCore;
use super::cell::TaskCell;

/// A task of the run loop (Trio's `trio.lowlevel.Task`): its name, id and place in
/// the task tree.
///
/// # Examples
///
/// ```
/// # trio::run(async {
/// let me = trio::lowlevel::current_task();
/// assert!(me.parent_nursery().is_some());
/// println!("running in {} (#{})", me.name(), me.id());
/// # Ok(()) }).unwrap();
/// ```
#[derive(Clone)]
pub struct Task {
    cell: Arc<TaskCell>,
    _not_send: PhantomData<Rc<()>>,
}

impl Task {
    pub(in crate::core) fn from_cell(cell: Arc<TaskCell>) -> Task {
        Task {
            cell,
            _not_send: PhantomData,
        }
    }

    pub(in crate::core) fn cell_ref(&self) -> &Arc<TaskCell> {
        &self.cell
    }

    /// Where the task was spawned: the `start_soon` / `spawn` / `start` /
    /// `spawn_system_task` call (`#[track_caller]`), or the `run` call for the main
    /// task.
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// trio::open_nursery(async |n| {
    ///     let h = n.spawn(async { Ok(()) })?; let line = line!();
    ///     assert_eq!(h.task().spawned_at().unwrap().line(), line);
    ///     Ok(())
    /// }).await
    /// # }).unwrap();
    /// ```
    pub fn spawned_at(&self) -> Option<&'static std::panic::Location<'static>> {
        self.cell.spawned_at
    }

    /// The task's name: given at spawn, or derived from the future's type (for an
    /// `async` block in `fn serve`, something like `my_crate::serve`).
    ///
    /// # Examples
    ///
    /// ```
    /// async fn serve() -> trio::Result<()> {
    ///     trio::lowlevel::checkpoint().await
    /// }
    /// # trio::run(async {
    /// trio::open_nursery(async |n| {
    ///     let named = n.spawn_named("worker", async { Ok(()) })?;
    ///     assert_eq!(named.task().name(), "worker");
    ///     let unnamed = n.spawn(serve())?;
    ///     assert!(unnamed.task().name().ends_with("serve"));
    ///     Ok(())
    /// }).await
    /// # }).unwrap();
    /// ```
    pub fn name(&self) -> &str {
        super::super::task_tree::display_name(&self.cell.name)
    }

    /// The task's id, unique within the run.
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// let me = trio::lowlevel::current_task();
    /// trio::open_nursery(async |n| {
    ///     let a = n.spawn(async { Ok(()) })?;
    ///     let b = n.spawn(async { Ok(()) })?;
    ///     assert_ne!(a.task().id(), b.task().id());
    ///     assert_ne!(a.task().id(), me.id());
    ///     Ok(())
    /// }).await?;
    /// assert_eq!(trio::lowlevel::current_task().id(), me.id());
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn id(&self) -> u64 {
        self.cell.id
    }

    /// True until the task finishes.
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// let task = trio::open_nursery(async |n| {
    ///     let h = n.spawn(trio::sleep_forever())?;
    ///     trio::testing::wait_all_tasks_blocked().await?;
    ///     assert!(h.task().is_alive());
    ///     h.cancel();
    ///     Ok(h.task().clone())
    /// }).await?.expect("the body returned");
    /// assert!(!task.is_alive());
    /// assert!(trio::lowlevel::current_task().is_alive());
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn is_alive(&self) -> bool {
        self.cell.local().is_some_and(|l| l.alive.get())
    }

    /// The nursery this task is a child of (`None` for the root task and for tasks
    /// that have finished).
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// let task = trio::open_nursery(async |n| {
    ///     let h = n.spawn(async { trio::lowlevel::checkpoint().await })?;
    ///     assert_eq!(h.task().parent_nursery(), Some(n.info()));
    ///     Ok(h.task().clone())
    /// }).await?.expect("the body returned");
    /// assert_eq!(task.parent_nursery(), None); // finished
    /// assert_eq!(trio::lowlevel::current_root_task().parent_nursery(), None);
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn parent_nursery(&self) -> Option<NurseryInfo> {
        let l = self.cell.local()?;
        let core = l.owner.borrow().clone()?;
        Some(NurseryInfo {
            core: core.logical(),
        })
    }

    /// The nurseries currently open inside this task.
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// let me = trio::lowlevel::current_task();
    /// assert!(me.child_nurseries().is_empty());
    /// trio::open_nursery(async |n| {
    ///     assert_eq!(me.child_nurseries(), [n.info()]);
    ///     Ok(())
    /// }).await?;
    /// assert!(me.child_nurseries().is_empty()); // closed nurseries leave the tree
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn child_nurseries(&self) -> Vec<NurseryInfo> {
        let Some(l) = self.cell.local() else {
            return Vec::new();
        };
        let mut found = Vec::new();
        let mut cur = l.nurseries.borrow().as_ref().and_then(Weak::upgrade);
        while let Some(core) = cur {
            cur = core.next_open.borrow().as_ref().and_then(Weak::upgrade);
            found.push(NurseryInfo { core });
        }
        found.reverse(); // oldest first
        found
    }
}

impl PartialEq for Task {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.cell, &other.cell)
    }
}

impl Eq for Task {}

impl std::hash::Hash for Task {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        Arc::as_ptr(&self.cell).hash(state)
    }
}

impl fmt::Debug for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task")
            .field("id", &self.cell.id)
            .field("name", &self.cell.name)
            .finish()
    }
}

/// A nursery seen from the task tree.
///
/// # Examples
///
/// ```
/// # trio::run(async {
/// trio::open_nursery(async |n| {
///     n.start_soon(trio::sleep_forever())?;
///     trio::testing::wait_all_tasks_blocked().await?;
///     assert_eq!(n.info().child_tasks().len(), 1);
///     n.cancel_scope().cancel();
///     Ok(())
/// }).await
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct NurseryInfo {
    core: Rc<NurseryCore>,
}

impl NurseryInfo {
    pub(in crate::core) fn new(core: Rc<NurseryCore>) -> NurseryInfo {
        NurseryInfo { core }
    }

    pub(in crate::core) fn core(&self) -> &Rc<NurseryCore> {
        &self.core
    }

    /// The task that opened the nursery.
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// trio::open_nursery(async |n| {
    ///     let parent = n.info().parent_task().unwrap();
    ///     assert_eq!(parent, trio::lowlevel::current_task());
    ///     assert_eq!(parent.name(), "<main>");
    ///     Ok(())
    /// }).await
    /// # }).unwrap();
    /// ```
    pub fn parent_task(&self) -> Option<Task> {
        self.core.parent_task.clone().map(Task::from_cell)
    }

    /// The nursery's live children.
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// trio::open_nursery(async |n| {
    ///     let a = n.spawn_named("a", trio::sleep_forever())?;
    ///     n.start_soon_named("b", async { Ok(()) })?;
    ///     assert_eq!(n.info().child_tasks().len(), 2);
    ///     trio::testing::wait_all_tasks_blocked().await?; // "b" finishes
    ///     assert_eq!(n.info().child_tasks(), [a.task().clone()]);
    ///     a.cancel();
    ///     Ok(())
    /// }).await
    /// # }).unwrap();
    /// ```
    pub fn child_tasks(&self) -> Vec<Task> {
        self.core
            .live_children()
            .into_iter()
            .map(Task::from_cell)
            .collect()
    }

    /// The nursery's id, unique within the run.
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// trio::open_nursery(async |outer| {
    ///     trio::open_nursery(async |inner| {
    ///         assert_ne!(outer.info().id(), inner.info().id());
    ///         assert_eq!(outer.info().id(), outer.info().id());
    ///         Ok(())
    ///     }).await
    /// }).await
    /// # }).unwrap();
    /// ```
    pub fn id(&self) -> u64 {
        self.core.id
    }

    /// True once the nursery has finished.
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// let info = trio::open_nursery(async |n| {
    ///     assert!(!n.info().is_closed());
    ///     Ok(n.info())
    /// }).await?.expect("the body returned");
    /// assert!(info.is_closed());
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn is_closed(&self) -> bool {
        self.core.closed.get()
    }
}

impl PartialEq for NurseryInfo {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.core, &other.core)
    }
}

impl fmt::Debug for NurseryInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NurseryInfo")
            .field("id", &self.core.id)
            .field("children", &self.core.children.borrow().len())
            .finish()
    }
}
