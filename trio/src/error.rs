//! One error story: [`Error`], [`ErrorKind`], [`Cancelled`] and [`TooSlow`].
//!
//! Every fallible trio operation returns [`Result<T>`](Result), whose error is the
//! opaque [`Error`]: like [`std::io::Error`] it has a [`kind`](Error::kind), an optional
//! message and source, and — trio's own additions — it can *be* a cancellation
//! ([`Error::is_cancelled`]) or a *group* of errors from several children of a nursery
//! ([`Error::errors`]).
//!
//! Cancellation travels as an ordinary error so that `?` carries it out of the
//! cancelled code to the [`CancelScope`](crate::CancelScope) that caused it, which
//! swallows it. It also travels through I/O code: converting a cancellation into an
//! [`std::io::Error`] keeps it inside, and converting back recovers it, so
//! [`MaybeCancelled::is_cancelled`] answers for both.
//!
//! Errors never disappear silently: a nursery whose children fail in several ways
//! returns a group holding every one of them (duplicate cancellations collapse into
//! one, since they report the same event).
//!
//! # Misuse: error or panic
//!
//! A mistake in the calling code is reported the way the function can report it:
//!
//! * **A function that returns a [`Result`] returns an error**, never panics, for
//!   anything its caller can get wrong. The kind says which mistake it was:
//!   [`ErrorKind::InvalidInput`] when an argument's *value* is wrong, whatever the
//!   state (Trio's `ValueError`: a semaphore made or released past its maximum, an
//!   empty receive buffer, a signal that cannot be caught, a URL that is not
//!   `http://`, zero loops); [`ErrorKind::Usage`] when the call is not allowed
//!   *now* or *here* (Trio's `RuntimeError`: releasing a lock the task does not
//!   hold, entering a cancel scope twice, a socket taken already, a trio
//!   operation outside a run or from the wrong thread). Options collected by a
//!   builder are checked where its `Result` comes out: a
//!   [`Builder::task_tree_on_signal`](crate::Builder::task_tree_on_signal) for a
//!   signal that cannot be caught fails [`Runtime::run`](crate::Runtime::run)
//!   before the main task starts.
//! * **A function with no `Result` panics** on a programming error it cannot
//!   report otherwise, as std's `RefCell::borrow_mut` or `slice::chunks(0)` do:
//!   [`current_time`](crate::current_time) or
//!   [`current_task`](crate::lowlevel::current_task) outside a run (code that may
//!   run outside asks first:
//!   [`try_current_task`](crate::lowlevel::try_current_task)),
//!   [`open_broadcast_channel(0)`](crate::channel::open_broadcast_channel), an
//!   index past the end in
//!   [`LoopContext::token`](crate::LoopContext::token). Each such function says
//!   so under `# Panics`.
//! * **A broken invariant panics**: trio's own bug (an `expect` that names the
//!   invariant), or a situation nothing can recover from, such as a run whose
//!   tasks deadlock inside shielded scopes, which no cancellation can end.
//!
//! Polling a future again after it completed is outside the [`Future`] contract;
//! it is answered in the same spirit: with a [`Usage`](ErrorKind::Usage) error
//! where the future's output can carry one, and with a panic where it cannot (a
//! send future's error must hand back the value, which is gone), as the futures of
//! `async fn`s panic.
//!
//! The testing kit is the exception by design: its checks (`assert_checkpoints`,
//! the stream checks) panic on a failed check, as `assert!` does.
//!
//! [`Future`]: std::future::Future

use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::sync::Arc;

/// `Result<T, trio::Error>`, the result of every fallible trio operation.
///
/// # Examples
///
/// ```
/// fn parse(s: &str) -> trio::Result<u32> {
///     s.parse().map_err(trio::Error::other)
/// }
/// assert!(parse("12").is_ok());
/// assert!(parse("x").is_err());
/// ```
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, broadly: the kind of an [`Error`].
///
/// A mistake of the calling code comes as [`Usage`](ErrorKind::Usage) (not
/// allowed now or here) or [`InvalidInput`](ErrorKind::InvalidInput) (a wrong
/// argument value) from every function that returns a [`Result`]; only
/// functions without one panic on a mistake, and say so under `# Panics`.
///
/// # Examples
///
/// ```
/// let err = trio::Error::new(trio::ErrorKind::BrokenResource, "peer went away");
/// assert_eq!(err.kind(), trio::ErrorKind::BrokenResource);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The operation was cancelled by an enclosing [`CancelScope`](crate::CancelScope)
    /// (Trio's `Cancelled`). The error carries a [`Cancelled`] with the source.
    Cancelled,
    /// A deadline set by [`fail_after`](crate::fail_after) / [`fail_at`](crate::fail_at)
    /// passed (Trio's `TooSlowError`).
    TooSlow,
    /// The resource was closed by this side, or used after closing (Trio's
    /// `ClosedResourceError`).
    ClosedResource,
    /// The resource is broken: the other side went away (Trio's `BrokenResourceError`).
    BrokenResource,
    /// Two tasks tried to use a resource that allows only one at a time (Trio's
    /// `BusyResourceError`).
    BusyResource,
    /// A non-blocking operation would have had to block (Trio's `WouldBlock`).
    WouldBlock,
    /// A channel has no more items and all senders are closed (Trio's `EndOfChannel`).
    EndOfChannel,
    /// A nursery that has closed was asked to start a new child.
    NurseryClosed,
    /// The run loop this handle belongs to has finished (Trio's `RunFinishedError`).
    RunFinished,
    /// [`trio::run`](crate::run) was called from inside a running trio loop.
    NestedRun,
    /// The run was interrupted by Ctrl-C (SIGINT); the main task was cancelled.
    Interrupted,
    /// A task handle's child was cancelled through its handle before it finished.
    TaskCancelled,
    /// A task handle's child failed; its error went to the nursery.
    TaskFailed,
    /// Several errors at once, from several children of a nursery; see
    /// [`Error::errors`].
    Group,
    /// The operation is not allowed in this state or from this place: a misuse of
    /// an API (Trio's `RuntimeError`), for example entering a cancel scope twice,
    /// releasing a lock the task does not hold, or calling a trio operation outside
    /// a trio run.
    Usage,
    /// An argument's value is not valid for the operation (Trio's `ValueError`;
    /// std's [`std::io::ErrorKind::InvalidInput`]), for example a semaphore made
    /// with an initial value above its maximum, or an empty receive buffer.
    InvalidInput,
    /// An error from the operating system.
    Io,
    /// A bug in trio itself, or in a system task (Trio's `TrioInternalError`).
    Internal,
    /// Every task was blocked on something only another task could end, and
    /// nothing outside the loop could wake any of them: the run was stopped (see
    /// [`Builder::deadlock_detection`](crate::Builder::deadlock_detection)). The
    /// error carries the task tree: [`Error::deadlock`].
    Deadlock,
    /// Any other error, typically from user code.
    Other,
}

impl ErrorKind {
    fn describe(self) -> &'static str {
        match self {
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::TooSlow => "deadline exceeded",
            ErrorKind::ClosedResource => "resource was closed",
            ErrorKind::BrokenResource => "resource is broken",
            ErrorKind::BusyResource => "resource is busy: another task is using it",
            ErrorKind::WouldBlock => "operation would block",
            ErrorKind::EndOfChannel => "end of channel",
            ErrorKind::NurseryClosed => "nursery is closed to new arrivals",
            ErrorKind::RunFinished => "the trio run has finished",
            ErrorKind::NestedRun => "trio::run called from inside a running trio loop",
            ErrorKind::Interrupted => "interrupted by Ctrl-C",
            ErrorKind::TaskCancelled => "task was cancelled through its handle",
            ErrorKind::TaskFailed => "task failed; its error went to its nursery",
            ErrorKind::Group => "several errors",
            ErrorKind::Usage => "invalid use",
            ErrorKind::InvalidInput => "invalid argument",
            ErrorKind::Io => "I/O error",
            ErrorKind::Internal => "trio internal error",
            ErrorKind::Deadlock => "deadlock: every task is blocked and nothing can wake one",
            ErrorKind::Other => "error",
        }
    }
}

/// Where a cancellation came from.
///
/// # Examples
///
/// ```
/// # trio::run(async {
/// let scope = trio::CancelScope::new();
/// let handle = scope.clone();
/// let err = scope.run(async move {
///     handle.cancel();
///     let e = trio::lowlevel::checkpoint().await.unwrap_err();
///     Ok::<_, trio::Error>(e)
/// }).await?.unwrap();
/// assert_eq!(err.cancelled().unwrap().source(), trio::CancelSource::Explicit);
/// # Ok(()) }).unwrap();
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CancelSource {
    /// The scope's deadline passed.
    Deadline,
    /// Somebody called [`CancelScope::cancel`](crate::CancelScope::cancel).
    Explicit,
    /// A sibling in the nursery failed (or the nursery's body did).
    Nursery,
    /// The run is shutting down: the main task finished and system tasks are cancelled.
    Shutdown,
    /// The user pressed Ctrl-C.
    CtrlC,
    /// The process was asked to terminate (`SIGTERM`, with
    /// [`Builder::stop_gracefully_on_sigterm`](crate::Builder::stop_gracefully_on_sigterm)).
    Terminated,
    /// The run deadlocked and is being stopped.
    Deadlock,
}

impl fmt::Display for CancelSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CancelSource::Deadline => "deadline",
            CancelSource::Explicit => "explicit",
            CancelSource::Nursery => "nursery",
            CancelSource::Shutdown => "shutdown",
            CancelSource::CtrlC => "ctrl-c",
            CancelSource::Terminated => "sigterm",
            CancelSource::Deadlock => "deadlock",
        })
    }
}

/// A cancellation: the operation did not happen because an enclosing
/// [`CancelScope`](crate::CancelScope) was cancelled.
///
/// User code cannot create one: only trio's checkpoints deliver cancellations, so
/// a `Cancelled` always means a real cancel scope is unwinding. It is found inside
/// an [`Error`] of kind [`ErrorKind::Cancelled`].
///
/// ```compile_fail,E0624
/// // There is no public constructor:
/// let fake = trio::Cancelled::new(trio::CancelSource::Explicit, None);
/// ```
///
/// # Examples
///
/// ```
/// # trio::run(async {
/// let out = trio::move_on_after(std::time::Duration::ZERO, async {
///     match trio::sleep_forever().await {
///         Err(e) => {
///             let c = e.cancelled().expect("a cancellation");
///             assert_eq!(c.source(), trio::CancelSource::Deadline);
///             Err(e)
///         }
///         Ok(()) => unreachable!("sleep_forever only returns errors"),
///     }
/// }).await?;
/// assert_eq!(out, None::<()>);
/// # Ok(()) }).unwrap();
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cancelled {
    source: CancelSource,
    reason: Option<Arc<str>>,
    source_task: Option<SourceTask>,
}

impl Cancelled {
    pub(crate) fn new(
        source: CancelSource,
        reason: Option<Arc<str>>,
        source_task: Option<SourceTask>,
    ) -> Self {
        Cancelled {
            source,
            reason,
            source_task,
        }
    }

    /// The task that caused the cancellation (Trio's `Cancelled.source_task`): the
    /// task that called [`CancelScope::cancel`](crate::CancelScope::cancel), or the
    /// child whose failure cancelled its nursery (the parent task when the nursery's
    /// body failed). `None` for a deadline, Ctrl-C, a deadlock, or a cancel made from
    /// outside any task.
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// let r = trio::open_nursery(async |n| {
    ///     n.start_soon_named("watcher", async {
    ///         let e = trio::sleep_forever().await.unwrap_err();
    ///         let by = e.cancelled().unwrap().source_task().unwrap();
    ///         assert_eq!(by.name(), "failing");
    ///         Err(e)
    ///     })?;
    ///     trio::testing::wait_all_tasks_blocked().await?;
    ///     n.start_soon_named("failing", async { Err(trio::Error::from("boom")) })?;
    ///     Ok(())
    /// }).await;
    /// assert_eq!(r.unwrap_err().to_string(), "boom");
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn source_task(&self) -> Option<&SourceTask> {
        self.source_task.as_ref()
    }

    /// What caused the cancellation.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// # trio::run(async {
    /// // A deadline...
    /// trio::move_on_after(Duration::ZERO, async {
    ///     let e = trio::sleep_forever().await.unwrap_err();
    ///     assert_eq!(e.cancelled().unwrap().source(), trio::CancelSource::Deadline);
    ///     Err::<(), _>(e)
    /// }).await?;
    /// // ...and a failing sibling in a nursery.
    /// let r = trio::open_nursery(async |n| {
    ///     n.start_soon(async {
    ///         let e = trio::sleep_forever().await.unwrap_err();
    ///         assert_eq!(e.cancelled().unwrap().source(), trio::CancelSource::Nursery);
    ///         Err(e)
    ///     })?;
    ///     trio::testing::wait_all_tasks_blocked().await?;
    ///     Err::<(), _>(trio::Error::new(trio::ErrorKind::Other, "boom"))
    /// }).await;
    /// assert_eq!(r.unwrap_err().to_string(), "boom");
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn source(&self) -> CancelSource {
        self.source
    }

    /// The reason given to [`CancelScope::cancel_with_reason`](crate::CancelScope::cancel_with_reason), if any.
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// let scope = trio::CancelScope::new();
    /// scope.cancel_with_reason("shutting down");
    /// scope.run(async {
    ///     let e = trio::lowlevel::checkpoint().await.unwrap_err();
    ///     assert_eq!(e.cancelled().unwrap().reason(), Some("shutting down"));
    ///     Err::<(), _>(e)
    /// }).await?;
    ///
    /// // A plain `cancel` gives no reason.
    /// let scope = trio::CancelScope::new();
    /// scope.cancel();
    /// scope.run(async {
    ///     let e = trio::lowlevel::checkpoint().await.unwrap_err();
    ///     assert_eq!(e.cancelled().unwrap().reason(), None);
    ///     Err::<(), _>(e)
    /// }).await?;
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn reason(&self) -> Option<&str> {
        self.reason.as_deref()
    }
}

impl fmt::Display for Cancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cancelled ({}", self.source)?;
        if let Some(t) = &self.source_task {
            write!(f, ", from task {t}")?;
        }
        f.write_str(")")?;
        if let Some(r) = &self.reason {
            write!(f, ": {r}")?;
        }
        Ok(())
    }
}

/// The task a [`Cancelled`] came from: its id and name as they were when it
/// cancelled (the task may have finished since).
///
/// # Examples
///
/// ```
/// # trio::run(async {
/// let scope = trio::CancelScope::new();
/// scope.run(async {
///     scope.cancel(); // called by the main task
///     let e = trio::lowlevel::checkpoint().await.unwrap_err();
///     let by = e.cancelled().unwrap().source_task().unwrap();
///     assert_eq!(by.id(), trio::lowlevel::current_task().id());
///     assert_eq!(by.name(), "<main>");
///     assert_eq!(by.to_string(), format!("\"<main>\" #{}", by.id()));
///     assert_eq!(e.to_string(), format!("cancelled (explicit, from task \"<main>\" #{})", by.id()));
///     Err::<(), _>(e)
/// }).await?;
/// # Ok(()) }).unwrap();
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceTask {
    id: u64,
    name: Arc<str>,
}

impl SourceTask {
    pub(crate) fn new(id: u64, name: &str) -> SourceTask {
        SourceTask {
            id,
            name: Arc::from(name),
        }
    }

    /// The task's id ([`Task::id`](crate::lowlevel::Task::id)).
    ///
    /// # Examples
    ///
    /// See [`SourceTask`].
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The task's name ([`Task::name`](crate::lowlevel::Task::name)).
    ///
    /// # Examples
    ///
    /// See [`SourceTask`].
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Display for SourceTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} #{}", &*self.name, self.id)
    }
}

impl StdError for Cancelled {}

/// The deadline of a [`fail_after`](crate::fail_after) or [`fail_at`](crate::fail_at)
/// passed (Trio's `TooSlowError`).
///
/// Converts into [`Error`] (kind [`ErrorKind::TooSlow`]) and into [`std::io::Error`]
/// (kind [`std::io::ErrorKind::TimedOut`]).
///
/// # Examples
///
/// ```
/// # trio::run(async {
/// let r: trio::Result<()> = trio::fail_after(std::time::Duration::ZERO, trio::sleep_forever()).await;
/// assert_eq!(r.unwrap_err().kind(), trio::ErrorKind::TooSlow);
/// # Ok(()) }).unwrap();
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TooSlow {
    _priv: (),
}

impl TooSlow {
    pub(crate) fn new() -> Self {
        TooSlow { _priv: () }
    }
}

impl fmt::Display for TooSlow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline exceeded")
    }
}

impl StdError for TooSlow {}

/// The opaque error type of trio.
///
/// # Examples
///
/// ```
/// use trio::{Error, ErrorKind};
/// let e = Error::new(ErrorKind::ClosedResource, "channel was closed");
/// assert_eq!(e.kind(), ErrorKind::ClosedResource);
/// assert!(!e.is_cancelled());
/// assert_eq!(e.to_string(), "resource was closed: channel was closed");
/// ```
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    kind: ErrorKind,
    message: Option<Cow<'static, str>>,
    source: Option<Box<dyn StdError + Send + Sync + 'static>>,
    cancelled: Option<Cancelled>,
    group: Vec<Error>,
}

impl Error {
    /// A new error of the given kind with a message.
    ///
    /// # Examples
    ///
    /// ```
    /// let e = trio::Error::new(trio::ErrorKind::Usage, "bad argument");
    /// assert_eq!(e.message(), Some("bad argument"));
    /// ```
    pub fn new(kind: ErrorKind, message: impl Into<Cow<'static, str>>) -> Self {
        Error::build(kind, Some(message.into()), None)
    }

    /// Wraps any error as kind [`ErrorKind::Other`] (or recovers a trio error boxed
    /// inside an [`io::Error`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let e = trio::Error::other("nope".parse::<u8>().unwrap_err());
    /// assert_eq!(e.kind(), trio::ErrorKind::Other);
    /// assert!(std::error::Error::source(&e).is_some());
    /// ```
    pub fn other<E: Into<Box<dyn StdError + Send + Sync + 'static>>>(err: E) -> Self {
        let boxed = err.into();
        match boxed.downcast::<Error>() {
            Ok(e) => *e,
            Err(boxed) => Error::build(ErrorKind::Other, None, Some(boxed)),
        }
    }

    pub(crate) fn build(
        kind: ErrorKind,
        message: Option<Cow<'static, str>>,
        source: Option<Box<dyn StdError + Send + Sync + 'static>>,
    ) -> Self {
        Error {
            inner: Box::new(Inner {
                kind,
                message,
                source,
                cancelled: None,
                group: Vec::new(),
            }),
        }
    }

    /// An error of `kind` with no message: displays as the kind's description.
    pub(crate) fn from_kind(kind: ErrorKind) -> Self {
        Error::build(kind, None, None)
    }

    pub(crate) fn from_cancelled(c: Cancelled) -> Self {
        let mut e = Error::build(ErrorKind::Cancelled, None, None);
        e.inner.cancelled = Some(c);
        e
    }

    /// Combines several errors into one: one error stays itself, several become a
    /// [`ErrorKind::Group`]. Nested groups are flattened and duplicate cancellations
    /// collapse into one. Returns `None` for no errors.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::{Error, ErrorKind};
    /// let g = Error::group(vec![Error::new(ErrorKind::Other, "a"), Error::new(ErrorKind::Other, "b")]).unwrap();
    /// assert_eq!(g.kind(), ErrorKind::Group);
    /// assert_eq!(g.errors().len(), 2);
    /// let one = Error::group(vec![Error::new(ErrorKind::Other, "a")]).unwrap();
    /// assert_eq!(one.kind(), ErrorKind::Other);
    /// ```
    pub fn group(errors: Vec<Error>) -> Option<Error> {
        let mut flat: Vec<Error> = Vec::with_capacity(errors.len());
        let mut seen_cancel = false;
        let mut stack: Vec<Error> = errors.into_iter().rev().collect();
        while let Some(e) = stack.pop() {
            if e.inner.kind == ErrorKind::Group {
                let mut inner = e.inner;
                stack.extend(std::mem::take(&mut inner.group).into_iter().rev());
                continue;
            }
            if e.inner.kind == ErrorKind::Cancelled {
                if seen_cancel {
                    continue;
                }
                seen_cancel = true;
            }
            flat.push(e);
        }
        match flat.len() {
            0 => None,
            1 => flat.pop(),
            _ => {
                let mut e = Error::build(ErrorKind::Group, None, None);
                e.inner.group = flat;
                Some(e)
            }
        }
    }

    /// The kind of error.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::{Error, ErrorKind};
    /// assert_eq!(Error::new(ErrorKind::WouldBlock, "try later").kind(), ErrorKind::WouldBlock);
    /// let os = Error::from(std::io::Error::from(std::io::ErrorKind::NotFound));
    /// assert_eq!(os.kind(), ErrorKind::Io);
    /// ```
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// The message given when the error was made, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::{Error, ErrorKind};
    /// let e = Error::new(ErrorKind::BusyResource, "fd 3 is in use");
    /// assert_eq!(e.message(), Some("fd 3 is in use"));
    /// // A wrapped error has a source, not a message.
    /// let e = Error::other(std::fmt::Error);
    /// assert_eq!(e.message(), None);
    /// ```
    pub fn message(&self) -> Option<&str> {
        self.inner.message.as_deref()
    }

    /// True if this error is a cancellation (or a group made only of cancellations).
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!trio::Error::new(trio::ErrorKind::Other, "x").is_cancelled());
    /// ```
    pub fn is_cancelled(&self) -> bool {
        match self.inner.kind {
            ErrorKind::Cancelled => true,
            ErrorKind::Group => self.inner.group.iter().all(Error::is_cancelled),
            _ => false,
        }
    }

    /// The cancellation inside this error: the error itself when its kind is
    /// [`ErrorKind::Cancelled`], or the cancellation member of a group.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::{Error, ErrorKind};
    /// # trio::run(async {
    /// let scope = trio::CancelScope::new();
    /// scope.cancel();
    /// scope.run(async {
    ///     let e = trio::lowlevel::checkpoint().await.unwrap_err();
    ///     assert_eq!(e.cancelled().unwrap().source(), trio::CancelSource::Explicit);
    ///     // A group that mixes the cancellation with another error still has it.
    ///     let g = Error::group(vec![e, Error::new(ErrorKind::Other, "x")]).unwrap();
    ///     assert!(!g.is_cancelled());
    ///     assert!(g.cancelled().is_some());
    ///     Err::<(), _>(g)
    /// }).await.unwrap_err();
    /// assert!(Error::new(ErrorKind::Other, "x").cancelled().is_none());
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn cancelled(&self) -> Option<&Cancelled> {
        match self.inner.kind {
            ErrorKind::Cancelled => self.inner.cancelled.as_ref(),
            ErrorKind::Group => self.inner.group.iter().find_map(Error::cancelled),
            _ => None,
        }
    }

    /// The members of a group error; empty for any other kind.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::{Error, ErrorKind};
    /// # trio::run(async {
    /// let err = trio::open_nursery(async |n| {
    ///     n.start_soon(async { Err(Error::new(ErrorKind::Other, "a")) })?;
    ///     n.start_soon(async { Err(Error::new(ErrorKind::BrokenResource, "b")) })?;
    ///     Ok(())
    /// }).await.unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::Group);
    /// let mut msgs: Vec<_> = err.errors().iter().map(|e| e.message().unwrap()).collect();
    /// msgs.sort();
    /// assert_eq!(msgs, ["a", "b"]);
    /// assert!(Error::new(ErrorKind::Other, "single").errors().is_empty());
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn errors(&self) -> &[Error] {
        &self.inner.group
    }

    /// Consumes a group into its members; any other error becomes a one-element vector.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::{Error, ErrorKind};
    /// let g = Error::group(vec![
    ///     Error::new(ErrorKind::Other, "a"),
    ///     Error::new(ErrorKind::TooSlow, "b"),
    /// ]).unwrap();
    /// let kinds: Vec<ErrorKind> = g.into_errors().iter().map(Error::kind).collect();
    /// assert_eq!(kinds, [ErrorKind::Other, ErrorKind::TooSlow]);
    ///
    /// let one = Error::new(ErrorKind::Usage, "alone").into_errors();
    /// assert_eq!(one.len(), 1);
    /// assert_eq!(one[0].message(), Some("alone"));
    /// ```
    pub fn into_errors(self) -> Vec<Error> {
        if self.inner.kind == ErrorKind::Group {
            self.inner.group
        } else {
            vec![self]
        }
    }

    /// Removes cancellations: `None` if this error was only a cancellation, the
    /// remaining errors otherwise (Trio's `ExceptionGroup.split(Cancelled)`).
    pub(crate) fn strip_cancelled_inner(self) -> Option<Error> {
        match self.inner.kind {
            ErrorKind::Cancelled => None,
            ErrorKind::Group => {
                let rest: Vec<Error> = self
                    .inner
                    .group
                    .into_iter()
                    .filter(|e| e.kind() != ErrorKind::Cancelled)
                    .collect();
                Error::group(rest)
            }
            _ => Some(self),
        }
    }

    /// Adds context: an error of the given kind and message whose source is `self`.
    /// Its `Display` shows the message, then what `self` says.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::error::Error as _;
    /// use trio::{Error, ErrorKind};
    /// let low = Error::new(ErrorKind::Io, "connection reset");
    /// let e = low.context(ErrorKind::BrokenResource, "while sending the request");
    /// assert_eq!(e.kind(), ErrorKind::BrokenResource);
    /// assert_eq!(e.to_string(), "resource is broken: while sending the request: connection reset");
    /// let src = e.source().unwrap().downcast_ref::<Error>().unwrap();
    /// assert_eq!(src.message(), Some("connection reset"));
    /// ```
    pub fn context(self, kind: ErrorKind, message: impl Into<Cow<'static, str>>) -> Error {
        Error::build(kind, Some(message.into()), Some(Box::new(self)))
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.inner.kind);
        if let Some(m) = &self.inner.message {
            d.field("message", m);
        }
        if let Some(c) = &self.inner.cancelled {
            d.field("cancelled", c);
        }
        if let Some(s) = &self.inner.source {
            d.field("source", s);
        }
        if !self.inner.group.is_empty() {
            d.field("errors", &self.inner.group);
        }
        d.finish()
    }
}

impl fmt::Display for Error {
    /// The kind's description, then what the error says: its message, followed by
    /// what its source says if that is an OS error or a trio error and the message
    /// does not say it already — so an OS error under a message shows both ("I/O
    /// error: connecting to 127.0.0.1:9: connection refused (os error 111)"). A
    /// group under a message is not spelled out (see [`Error::errors`]). Kind
    /// [`Other`](ErrorKind::Other), the kind of user errors, shows no description.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(c) = &self.inner.cancelled {
            return fmt::Display::fmt(c, f);
        }
        if self.inner.kind == ErrorKind::Group {
            write!(f, "{} errors:", self.inner.group.len())?;
            for (i, e) in self.inner.group.iter().enumerate() {
                write!(f, " [{}] {}", i + 1, e)?;
            }
            return Ok(());
        }
        match (self.inner.kind, &self.inner.message, &self.inner.source) {
            // A wrapped user error speaks for itself.
            (ErrorKind::Other, None, Some(s)) => fmt::Display::fmt(s, f),
            (ErrorKind::Other, ..) => match self.detail() {
                Some(d) => f.write_str(&d),
                None => f.write_str(ErrorKind::Other.describe()),
            },
            (kind, ..) => match self.detail() {
                Some(d) => write!(f, "{}: {d}", kind.describe()),
                None => f.write_str(kind.describe()),
            },
        }
    }
}

impl Error {
    /// What the error says beyond its kind: the message, then (after ": ") what
    /// the source says, unless the message says it already; `None` if neither.
    ///
    /// Under a message, only an OS error or a trio error is spelled out: any
    /// other source (a rustls or hyper error, say) is what the message puts in
    /// words, and a group's members are listed where the group is the error.
    pub(crate) fn detail(&self) -> Option<String> {
        let source = self.inner.source.as_deref();
        match (&self.inner.message, source) {
            (Some(m), Some(s)) => match source_detail(s) {
                Some(d) if !m.to_lowercase().contains(&d.to_lowercase()) => {
                    Some(format!("{m}: {d}"))
                }
                _ => Some(m.to_string()),
            },
            (Some(m), None) => Some(m.to_string()),
            (None, Some(s)) => {
                Some(source_detail(s).unwrap_or_else(|| mid_sentence(&s.to_string()).into_owned()))
            }
            (None, None) => None,
        }
    }
}

/// What a source says, in the middle of a sentence: a trio error its
/// [`detail`](Error::detail) or else its kind (the outer error has a kind of its
/// own); an OS error (an [`io::Error`]) its text with a capitalised first word
/// lowercased ([`mid_sentence`]); a group, or any other error, `None`.
fn source_detail(s: &(dyn StdError + Send + Sync + 'static)) -> Option<String> {
    let io = s.downcast_ref::<io::Error>();
    let trio = s
        .downcast_ref::<Error>()
        .or_else(|| io.and_then(io::Error::get_ref)?.downcast_ref::<Error>());
    match (trio, io) {
        (Some(e), _) if e.inner.kind == ErrorKind::Group => None,
        (Some(e), _) if e.inner.cancelled.is_some() => Some(e.to_string()),
        (Some(e), _) => e
            .detail()
            .or_else(|| Some(e.inner.kind.describe().to_owned())),
        (None, Some(io)) => Some(mid_sentence(&io.to_string()).into_owned()),
        (None, None) => None,
    }
}

/// `text` to follow a colon: its first word lowercased if it is capitalised
/// ("Connection refused" → "connection refused"; "TLS" and "IPv6" stay).
pub(crate) fn mid_sentence(text: &str) -> Cow<'_, str> {
    let mut chars = text.chars();
    match (chars.next(), chars.next()) {
        (Some(a), Some(b)) if a.is_uppercase() && b.is_lowercase() => Cow::Owned(
            a.to_lowercase()
                .chain(text[a.len_utf8()..].chars())
                .collect(),
        ),
        _ => Cow::Borrowed(text),
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        if let Some(c) = &self.inner.cancelled {
            return Some(c);
        }
        self.inner
            .source
            .as_deref()
            .map(|s| s as &(dyn StdError + 'static))
    }
}

impl From<Cancelled> for Error {
    fn from(c: Cancelled) -> Self {
        Error::from_cancelled(c)
    }
}

impl From<TooSlow> for Error {
    fn from(_: TooSlow) -> Self {
        Error::from_kind(ErrorKind::TooSlow)
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        if e.get_ref().is_some_and(|inner| inner.is::<Error>()) {
            let inner = e.into_inner().expect("checked above");
            return *inner.downcast::<Error>().expect("checked above");
        }
        let kind = match e.kind() {
            io::ErrorKind::WouldBlock => ErrorKind::WouldBlock,
            io::ErrorKind::TimedOut if e.get_ref().is_some_and(|i| i.is::<TooSlow>()) => {
                ErrorKind::TooSlow
            }
            _ => ErrorKind::Io,
        };
        Error::build(kind, None, Some(Box::new(e)))
    }
}

/// A trio error inside an [`io::Error`] of the matching kind — except an
/// [`Io`](ErrorKind::Io) error made from an OS error, which converts back into
/// that OS error, its `raw_os_error` intact (a message such as the address it
/// names is then left behind: keep the trio error to show it).
impl From<Error> for io::Error {
    fn from(e: Error) -> Self {
        let kind = match e.kind() {
            ErrorKind::TooSlow => io::ErrorKind::TimedOut,
            ErrorKind::BrokenResource => io::ErrorKind::BrokenPipe,
            ErrorKind::WouldBlock => io::ErrorKind::WouldBlock,
            ErrorKind::EndOfChannel => io::ErrorKind::UnexpectedEof,
            ErrorKind::InvalidInput => io::ErrorKind::InvalidInput,
            ErrorKind::Io => {
                // Unwrap an OS error we wrapped earlier.
                if e.inner.source.as_ref().is_some_and(|s| s.is::<io::Error>()) {
                    let src = e.inner.source.expect("checked above");
                    return *src.downcast::<io::Error>().expect("checked above");
                }
                io::ErrorKind::Other
            }
            // Never `Interrupted`: std retries that kind, which would undo a cancellation.
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, e)
    }
}

impl From<TooSlow> for io::Error {
    fn from(t: TooSlow) -> Self {
        io::Error::new(io::ErrorKind::TimedOut, t)
    }
}

impl From<Box<dyn StdError + Send + Sync + 'static>> for Error {
    fn from(e: Box<dyn StdError + Send + Sync + 'static>) -> Self {
        Error::other(e)
    }
}

impl From<&'static str> for Error {
    fn from(msg: &'static str) -> Self {
        Error::new(ErrorKind::Other, msg)
    }
}

impl From<String> for Error {
    fn from(msg: String) -> Self {
        Error::new(ErrorKind::Other, msg)
    }
}

/// Errors that may carry a trio cancellation: what a [`CancelScope`](crate::CancelScope)
/// needs to recognise — and swallow — the cancellation it caused.
///
/// Implemented for [`Error`], [`std::io::Error`] (which carries a trio error inside)
/// and [`Cancelled`].
///
/// # Examples
///
/// ```
/// use trio::MaybeCancelled;
/// let e = std::io::Error::from(trio::Error::new(trio::ErrorKind::Other, "x"));
/// assert!(!e.is_cancelled());
/// ```
pub trait MaybeCancelled: Sized {
    /// True if the error is (only) a cancellation.
    fn is_cancelled(&self) -> bool;
    /// Removes the cancellation from the error: `None` if nothing else is left.
    fn strip_cancelled(self) -> Option<Self>;
    /// True if the error is or contains a cancellation (also a group that mixes a
    /// cancellation with other errors). Defaults to [`is_cancelled`](Self::is_cancelled).
    fn contains_cancelled(&self) -> bool {
        self.is_cancelled()
    }
}

impl MaybeCancelled for Error {
    fn is_cancelled(&self) -> bool {
        Error::is_cancelled(self)
    }
    fn strip_cancelled(self) -> Option<Self> {
        self.strip_cancelled_inner()
    }
    fn contains_cancelled(&self) -> bool {
        self.cancelled().is_some()
    }
}

impl MaybeCancelled for Cancelled {
    fn is_cancelled(&self) -> bool {
        true
    }
    fn strip_cancelled(self) -> Option<Self> {
        None
    }
}

impl MaybeCancelled for io::Error {
    fn is_cancelled(&self) -> bool {
        self.get_ref()
            .and_then(|i| i.downcast_ref::<Error>())
            .is_some_and(Error::is_cancelled)
    }
    fn contains_cancelled(&self) -> bool {
        self.get_ref()
            .and_then(|i| i.downcast_ref::<Error>())
            .is_some_and(|e| e.cancelled().is_some())
    }
    fn strip_cancelled(self) -> Option<Self> {
        if self.get_ref().is_some_and(|i| i.is::<Error>()) {
            let e = Error::from(self);
            e.strip_cancelled_inner().map(io::Error::from)
        } else {
            Some(self)
        }
    }
}

/// Handling errors without swallowing cancellation: [`catch`](ResultExt::catch).
///
/// A catch-all `Err(e) => ...` arm turns a cancellation into an ordinary value:
/// the code goes on as if nothing happened, its cancel scope never sees its
/// `Cancelled`, and the next checkpoint is cancelled again (cancellation is
/// level-triggered), usually far from the arm that hid it. In Python Trio,
/// `Cancelled` is a `BaseException` so that `except Exception:` lets it through;
/// `catch` is the same rule as a method: it takes the cancellation out first, to
/// pass on with `?`, and hands you only the rest.
///
/// # Examples
///
/// ```
/// use trio::ResultExt as _;
///
/// async fn handle_client() -> trio::Result<()> {
///     trio::sleep_forever().await // stands in for real work that may fail
/// }
///
/// async fn serve_clients() -> trio::Result<()> {
///     loop {
///         // Log and go on after a failed client, but let cancellation through:
///         if let Err(e) = handle_client().await.catch()? {
///             eprintln!("client failed: {e}");
///         }
///     }
/// }
///
/// # trio::run(async {
/// let r = trio::move_on_after(std::time::Duration::from_millis(5), serve_clients()).await?;
/// assert_eq!(r, None); // the timeout's cancellation reached its scope
/// # Ok(()) }).unwrap();
/// ```
pub trait ResultExt<T, E> {
    /// `Err(e)` if the result is, or contains, a cancellation (return it with `?`);
    /// otherwise `Ok(result)`, whose error, if any, is never a cancellation.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::ResultExt as _;
    /// let failed: trio::Result<()> = Err(trio::Error::from("disk full"));
    /// let handled = failed.catch().expect("not a cancellation");
    /// assert_eq!(handled.unwrap_err().to_string(), "disk full");
    /// ```
    fn catch(self) -> Result<Result<T, E>, E>;
}

impl<T, E: MaybeCancelled> ResultExt<T, E> for Result<T, E> {
    fn catch(self) -> Result<Result<T, E>, E> {
        match self {
            Err(e) if e.contains_cancelled() => Err(e),
            other => Ok(other),
        }
    }
}

/// A panic payload as text: its message when it is a string, a placeholder
/// otherwise.
pub(crate) fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancelled_round_trips_through_io_error() {
        let c = Error::from_cancelled(Cancelled::new(CancelSource::Deadline, None, None));
        let io: io::Error = c.into();
        assert!(MaybeCancelled::is_cancelled(&io));
        let back = Error::from(io);
        assert!(back.is_cancelled());
        assert_eq!(back.cancelled().unwrap().source(), CancelSource::Deadline);
    }

    #[test]
    fn group_flattens_and_collapses_cancellations() {
        let c = || Error::from_cancelled(Cancelled::new(CancelSource::Nursery, None, None));
        let g = Error::group(vec![c(), Error::new(ErrorKind::Other, "a"), c()]).unwrap();
        assert_eq!(g.errors().len(), 2);
        let g2 = Error::group(vec![g, Error::new(ErrorKind::Other, "b")]).unwrap();
        assert_eq!(g2.errors().len(), 3);
        let stripped = g2.strip_cancelled_inner().unwrap();
        assert_eq!(stripped.errors().len(), 2);
        assert!(Error::group(vec![c(), c()]).unwrap().is_cancelled());
        assert!(
            Error::group(vec![c()])
                .unwrap()
                .strip_cancelled_inner()
                .is_none()
        );
    }

    #[test]
    fn display_shows_the_message_and_what_the_os_said() {
        #[cfg(unix)]
        let refused = || io::Error::from_raw_os_error(libc::ECONNREFUSED);
        #[cfg(windows)]
        let refused = || io::Error::from_raw_os_error(10061); // WSAECONNREFUSED
        // What the OS says, as it reads mid-sentence.
        let said = mid_sentence(&refused().to_string()).into_owned();
        #[cfg(target_os = "linux")]
        assert_eq!(said, "connection refused (os error 111)");
        let e = Error::build(
            ErrorKind::Io,
            Some("connecting to 127.0.0.1:9".into()),
            Some(Box::new(refused())),
        );
        assert_eq!(
            e.to_string(),
            format!("I/O error: connecting to 127.0.0.1:9: {said}")
        );
        // A message that already says it is not repeated.
        let e = Error::build(
            ErrorKind::Io,
            Some(format!("connecting to 127.0.0.1:9: {}", refused()).into()),
            Some(Box::new(refused())),
        );
        let os_message = refused().to_string();
        let os_message = os_message.split(" (os error").next().unwrap();
        assert_eq!(e.to_string().matches(&os_message[1..]).count(), 1, "{e}");
        // An OS error alone, and through a trio error of its own.
        assert_eq!(
            Error::from(refused()).to_string(),
            format!("I/O error: {said}")
        );
        let e = Error::from(refused()).context(ErrorKind::BrokenResource, "sending");
        assert_eq!(
            e.to_string(),
            format!("resource is broken: sending: {said}")
        );
        // A group under a message is left to `errors()`; kinds without a message
        // still say what they are.
        let g = Error::group(vec![Error::from(refused()), Error::from(refused())]).unwrap();
        assert_eq!(
            g.context(ErrorKind::Io, "all failed").to_string(),
            "I/O error: all failed"
        );
        let e = Error::from(TooSlow::new()).context(ErrorKind::Other, "fetching");
        assert_eq!(e.to_string(), "fetching: deadline exceeded");
        assert_eq!(Error::from_kind(ErrorKind::Other).to_string(), "error");
    }

    #[test]
    fn mid_sentence_lowercases_a_capitalised_first_word_only() {
        assert_eq!(mid_sentence("Connection refused"), "connection refused");
        assert_eq!(mid_sentence("IPv6 is off"), "IPv6 is off");
        assert_eq!(mid_sentence("I/O"), "I/O");
        assert_eq!(mid_sentence("TLS"), "TLS");
        assert_eq!(mid_sentence(""), "");
    }

    #[test]
    fn os_errors_round_trip() {
        let e = Error::from(io::Error::from_raw_os_error(libc::ECONNREFUSED));
        assert_eq!(e.kind(), ErrorKind::Io);
        let io: io::Error = e.into();
        assert_eq!(io.raw_os_error(), Some(libc::ECONNREFUSED));
    }
}
