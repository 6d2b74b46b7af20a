//! A snapshot of the live task tree: [`task_tree`].
//!
//! The tree is read from the structures the loop keeps anyway — a nursery's slab of
//! child cells, a task's intrusive list of open nurseries, the `scheduled` flag, the
//! wait each blocking primitive records (`wait.rs`) and the spawn location kept by
//! `#[track_caller]` — so keeping it costs nothing while nobody looks. Taking a
//! snapshot copies names and states out: the result is plain data that can be
//! printed, serialized or kept after the tasks are gone.

use std::fmt::{self, Write as _};
use std::panic::Location;
use std::sync::Arc;

use super::context;
use super::nursery::NurseryCore;
use super::task::Task;
use super::task::TaskCell;
use super::wait::BlockedOn;

/// What a task is doing at the moment of the snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskState {
    /// Being polled now: the task that asked for the tree, and the tasks whose
    /// nurseries are polling it.
    Running,
    /// Woken, waiting for its turn.
    Runnable,
    /// Waiting for something ([`TaskNode::blocked_on`] says what).
    Blocked,
}

impl TaskState {
    fn as_str(self) -> &'static str {
        match self {
            TaskState::Running => "running",
            TaskState::Runnable => "runnable",
            TaskState::Blocked => "blocked",
        }
    }
}

/// One task in a [`TaskTree`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TaskNode {
    /// The task's id (unique within the run; [`Task::id`](crate::lowlevel::Task::id)).
    pub id: u64,
    /// The task's name.
    pub name: String,
    /// Running, runnable or blocked.
    pub state: TaskState,
    /// What a blocked task waits on (`None` unless `state` is `Blocked`).
    pub blocked_on: Option<BlockedOn>,
    /// Where the task was spawned (`start_soon`, `spawn`, `start`,
    /// `spawn_system_task`, or the `run` call for the main task).
    pub spawned_at: Option<&'static Location<'static>>,
    /// A system task (spawned with `spawn_system_task`) rather than the main
    /// task or one of its descendants.
    pub system: bool,
    /// The nurseries this task has open, oldest first.
    pub nurseries: Vec<NurseryNode>,
    /// The named [`TreeVar`](crate::TreeVar)s bound where the task was started
    /// (in its nursery's scope and above), outermost first: `(name, value
    /// formatted with Debug)`.
    pub context: Vec<(&'static str, String)>,
}

/// One open nursery in a [`TaskTree`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct NurseryNode {
    /// The nursery's id ([`NurseryInfo::id`](crate::lowlevel::NurseryInfo::id)).
    pub id: u64,
    /// Its live children.
    pub children: Vec<TaskNode>,
}

/// A snapshot of every live task of the run, as a tree (Trio users' long-asked-for
/// "what is my program doing?").
///
/// Print it (`{}`: an indented tree; `{:#}` adds spawn locations), serialize it
/// with [`to_json`](Self::to_json), or walk it.
///
/// ```
/// use trio::lowlevel::{BlockedOn, TaskState, task_tree};
///
/// # trio::run(async {
/// let (tx, rx) = trio::open_memory_channel::<u32>(0);
/// trio::open_nursery(async |n| {
///     n.start_soon_named("consumer", async move { rx.receive().await.map(drop) })?;
///     trio::testing::wait_all_tasks_blocked().await?;
///     let tree = task_tree();
///     println!("{tree}");
///     let consumer = tree.find("consumer").unwrap();
///     assert_eq!(consumer.state, TaskState::Blocked);
///     assert!(matches!(consumer.blocked_on, Some(BlockedOn::Channel { .. })));
///     assert_eq!(tree.find("<main>").unwrap().state, TaskState::Running);
///     tx.send(1).await?;
///     Ok(())
/// })
/// .await
/// # }).unwrap();
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TaskTree {
    /// The root tasks: the main task, then the system tasks.
    pub roots: Vec<TaskNode>,
}

/// A snapshot of the current run's task tree.
///
/// # Panics
///
/// Outside a trio run.
///
/// # Examples
///
/// ```
/// # trio::run(async {
/// let tree = trio::lowlevel::task_tree();
/// assert_eq!(tree.roots[0].name, "<main>");
/// assert_eq!(tree.len(), 1);
/// # Ok(()) }).unwrap();
/// ```
pub fn task_tree() -> TaskTree {
    let runner = context::runner().expect("task_tree() must be called inside trio::run");
    runner.task_tree()
}

/// The task cells on the path from the current task up to its root.
fn running_chain() -> Vec<*const TaskCell> {
    let mut out = Vec::new();
    let mut cur = context::current_task_arc();
    while let Some(cell) = cur {
        out.push(Arc::as_ptr(&cell));
        cur = cell.local().and_then(|l| {
            l.owner
                .borrow()
                .as_ref()
                .and_then(|c| c.parent_task.clone())
        });
    }
    out
}

pub(in crate::core) fn snapshot(
    roots: &[Arc<TaskCell>],
    main: Option<*const TaskCell>,
) -> TaskTree {
    let running = running_chain();
    TaskTree {
        roots: roots
            .iter()
            .map(|c| {
                let mut n = node(c, &running);
                n.system = Some(Arc::as_ptr(c)) != main;
                n
            })
            .collect(),
    }
}

fn node(cell: &Arc<TaskCell>, running: &[*const TaskCell]) -> TaskNode {
    let mut state = TaskState::Blocked;
    let mut blocked_on = None;
    let mut nurseries = Vec::new();
    let mut context = Vec::new();
    if running.contains(&Arc::as_ptr(cell)) {
        state = TaskState::Running;
    }
    if let Some(l) = cell.local() {
        if state != TaskState::Running {
            if l.scheduled.get() {
                state = TaskState::Runnable;
            } else {
                blocked_on = Some(l.wait.get().public());
            }
        }
        if let Some(status) = l.status.borrow().as_ref() {
            context = super::tree_var::visible_bindings(status);
        }
        nurseries = Task::from_cell(cell.clone())
            .child_nurseries() // oldest first
            .iter()
            .map(|n| nursery(n.core(), running))
            .collect();
    }
    TaskNode {
        id: cell.id,
        name: display_name(&cell.name).to_string(),
        state,
        blocked_on,
        spawned_at: cell.spawned_at,
        system: false,
        nurseries,
        context,
    }
}

fn nursery(core: &NurseryCore, running: &[*const TaskCell]) -> NurseryNode {
    let cells: Vec<Arc<TaskCell>> = core
        .children
        .borrow()
        .iter()
        .map(|(_, c)| c.clone())
        .collect();
    NurseryNode {
        id: core.id,
        children: cells.iter().map(|c| node(c, running)).collect(),
    }
}

/// A task's name as shown: an `async` block's type name without its trailing
/// `::{{closure}}`s.
pub(in crate::core) fn display_name(mut n: &str) -> &str {
    loop {
        if let Some(rest) = n.strip_suffix("::{{closure}}") {
            n = rest;
        } else if n.ends_with('>') {
            // A function's generic arguments (`serve_one<'_, SocketListener, ...>`)
            // say nothing a reader needs and can run to hundreds of characters.
            let mut depth = 0usize;
            let mut cut = None;
            for (i, c) in n.char_indices().rev() {
                match c {
                    '>' => depth += 1,
                    '<' => {
                        depth -= 1;
                        if depth == 0 {
                            cut = Some(i);
                            break;
                        }
                    }
                    _ => {}
                }
            }
            match cut {
                Some(i) if i > 0 => n = &n[..i],
                _ => return n,
            }
        } else {
            return n;
        }
    }
}

impl TaskTree {
    /// Every task, depth first (a parent before its children).
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// trio::open_nursery(async |n| {
    ///     n.start_soon_named("a", trio::sleep_forever())?;
    ///     n.start_soon_named("b", trio::sleep_forever())?;
    ///     trio::testing::wait_all_tasks_blocked().await?;
    ///     let names: Vec<String> =
    ///         trio::lowlevel::task_tree().tasks().map(|t| t.name.clone()).collect();
    ///     assert_eq!(names.len(), 3);
    ///     assert_eq!(names[0], "<main>");
    ///     n.cancel_scope().cancel();
    ///     Ok(())
    /// })
    /// .await
    /// # }).unwrap();
    /// ```
    pub fn tasks(&self) -> impl Iterator<Item = &TaskNode> {
        let mut stack: Vec<&TaskNode> = self.roots.iter().rev().collect();
        std::iter::from_fn(move || {
            let t = stack.pop()?;
            for n in t.nurseries.iter().rev() {
                stack.extend(n.children.iter().rev());
            }
            Some(t)
        })
    }

    /// The number of tasks in the tree.
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// assert_eq!(trio::lowlevel::task_tree().len(), 1); // just main
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn len(&self) -> usize {
        self.tasks().count()
    }

    /// True if there is no task at all (never, inside a run).
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// assert!(!trio::lowlevel::task_tree().is_empty());
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn is_empty(&self) -> bool {
        self.roots.is_empty()
    }

    /// The first task (depth first) with this name.
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// let tree = trio::lowlevel::task_tree();
    /// assert!(tree.find("<main>").is_some());
    /// assert!(tree.find("nobody").is_none());
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn find(&self, name: &str) -> Option<&TaskNode> {
        self.tasks().find(|t| t.name == name)
    }

    /// The tree as JSON: `{"tasks": [task...]}`, where a task is
    /// `{"id", "name", "state", "blocked_on", "spawned_at", "system", "nurseries":
    /// [{"id", "children": [task...]}]}`; `blocked_on` and `spawned_at` are strings
    /// or `null`.
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// let json = trio::lowlevel::task_tree().to_json();
    /// assert!(json.starts_with(r#"{"tasks":[{"id":"#));
    /// assert!(json.contains(r#""name":"<main>""#));
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn to_json(&self) -> String {
        let mut s = String::from("{\"tasks\":[");
        for (i, t) in self.roots.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            json_task(&mut s, t);
        }
        s.push_str("]}");
        s
    }
}

fn json_str(out: &mut String, v: &str) {
    out.push('"');
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn json_task(out: &mut String, t: &TaskNode) {
    let _ = write!(out, "{{\"id\":{},\"name\":", t.id);
    json_str(out, &t.name);
    let _ = write!(out, ",\"state\":\"{}\",\"blocked_on\":", t.state.as_str());
    match &t.blocked_on {
        Some(b) => json_str(out, &b.to_string()),
        None => out.push_str("null"),
    }
    out.push_str(",\"spawned_at\":");
    match t.spawned_at {
        Some(l) => json_str(out, &l.to_string()),
        None => out.push_str("null"),
    }
    out.push_str(",\"context\":{");
    for (i, (name, value)) in t.context.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_str(out, name);
        out.push(':');
        json_str(out, value);
    }
    out.push('}');
    let _ = write!(out, ",\"system\":{},\"nurseries\":[", t.system);
    for (i, n) in t.nurseries.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{{\"id\":{},\"children\":[", n.id);
        for (j, c) in n.children.iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            json_task(out, c);
        }
        out.push_str("]}");
    }
    out.push_str("]}");
}

impl TaskNode {
    fn fmt_tree(&self, f: &mut fmt::Formatter<'_>, indent: usize) -> fmt::Result {
        let pad = "  ".repeat(indent);
        write!(
            f,
            "{pad}task {} {:?}: {}",
            self.id,
            self.name,
            self.state.as_str()
        )?;
        if let Some(b) = &self.blocked_on {
            write!(f, " on {b}")?;
        }
        if self.system {
            f.write_str(" [system]")?;
        }
        for (name, value) in &self.context {
            write!(f, " [{name}={value}]")?;
        }
        if f.alternate() {
            if let Some(l) = self.spawned_at {
                write!(f, " (spawned at {l})")?;
            }
        }
        writeln!(f)?;
        for n in &self.nurseries {
            writeln!(f, "{pad}  nursery {}:", n.id)?;
            for c in &n.children {
                c.fmt_tree(f, indent + 2)?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for TaskTree {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for t in &self.roots {
            t.fmt_tree(f, 0)?;
        }
        Ok(())
    }
}

/// What an [`ErrorKind::Deadlock`](crate::ErrorKind::Deadlock) error carries: the
/// task tree at the moment the loop found that every task was blocked and nothing
/// could wake any of them ([`Error::deadlock`](crate::Error::deadlock)).
///
/// ```
/// let (a, b) = (trio::sync::Lock::new(), trio::sync::Lock::new());
/// let (a_held, b_held) = (trio::sync::Event::new(), trio::sync::Event::new());
/// let err = trio::run(async {
///     trio::open_nursery(async |n| {
///         n.start_soon_named("takes a, then b", async {
///             a.acquire().await?;
///             a_held.set();
///             b_held.wait().await?;
///             b.acquire().await.map(drop)
///         })?;
///         n.start_soon_named("takes b, then a", async {
///             b.acquire().await?;
///             b_held.set();
///             a_held.wait().await?;
///             a.acquire().await.map(drop)
///         })?;
///         Ok(())
///     })
///     .await
/// })
/// .unwrap_err();
/// let d = err.deadlock().unwrap();
/// assert!(d.to_string().contains("\"takes a, then b\": blocked on Lock"), "{d}");
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Deadlock {
    /// The task tree when the deadlock was found.
    pub tree: TaskTree,
    /// `Some(grace)` if some tasks waited on thread-safe memory channels, which
    /// only a thread outside the run could have used, and none did for `grace`
    /// ([`Builder::channel_deadlock_grace`](crate::Builder::channel_deadlock_grace));
    /// `None` if nothing at all could wake a task.
    pub channel_grace: Option<std::time::Duration>,
}

impl fmt::Display for Deadlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(grace) = self.channel_grace {
            writeln!(
                f,
                "the tasks on thread-safe channels waited {grace:?} with no other thread \
                 using them; the task tree:"
            )?;
        } else {
            writeln!(f, "the task tree:")?;
        }
        write!(f, "{:#}", self.tree)
    }
}

impl std::error::Error for Deadlock {}

impl crate::Error {
    /// For an [`ErrorKind::Deadlock`](crate::ErrorKind::Deadlock) error: the task tree at the moment the
    /// deadlock was found.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = (trio::sync::Event::new(), trio::sync::Event::new());
    /// let err = trio::run(async {
    ///     trio::open_nursery(async |n| {
    ///         n.start_soon_named("a", async { rx.wait().await?; tx.set(); Ok(()) })?;
    ///         n.start_soon_named("b", async { tx.wait().await?; rx.set(); Ok(()) })?;
    ///         Ok(())
    ///     })
    ///     .await
    /// })
    /// .unwrap_err();
    /// assert_eq!(err.kind(), trio::ErrorKind::Deadlock);
    /// let tree = &err.deadlock().unwrap().tree;
    /// assert_eq!(tree.find("a").unwrap().state, trio::lowlevel::TaskState::Blocked);
    /// ```
    pub fn deadlock(&self) -> Option<&Deadlock> {
        std::error::Error::source(self)?.downcast_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::display_name;

    #[test]
    fn display_names_drop_closures_and_generic_arguments() {
        assert_eq!(
            display_name("app::main::{{closure}}::{{closure}}"),
            "app::main"
        );
        assert_eq!(
            display_name("trio::net::serve::serve_one<'_, L, app::f::{{closure}}>::{{closure}}"),
            "trio::net::serve::serve_one"
        );
        assert_eq!(display_name("worker"), "worker");
        assert_eq!(display_name("<main>"), "<main>");
        assert_eq!(display_name("a<b>"), "a");
    }
}
