//! Tree variables: context that follows the task tree.
//!
//! # Why not a task-local, and why not a `RunVar`
//!
//! A [`RunVar`](crate::lowlevel::RunVar) has one value per run. A value that
//! belongs to a *part* of the program — the request a handler serves, the tenant a
//! job runs for, a deadline budget, a log prefix — must be seen by every task that
//! works for that part, and by no other. Inheriting it from the task that spawned
//! a child (Python's `contextvars`, tokio's task-locals) gets this wrong in a
//! structured program: a task started into an *outer* nursery from inside a
//! request handler outlives the request, yet it would carry the request's value.
//!
//! So a [`TreeVar`] is bound by where code runs in the tree, not by who spawned
//! it (Trio's long-discussed `TreeVar`, python-trio/trio#1523, after tricycle).
//! [`TreeVar::with`] binds a value for the duration of a future: the code inside
//! it, and every task started into a nursery opened inside it, sees the value. A
//! child started into a nursery opened *outside* sees the value that was bound
//! where that nursery was opened.
//!
//! # How
//!
//! The binding is a node of the cancel status tree — the tree every task already
//! hangs in, through its nursery's scope — that never cancels anything. A task's
//! status chain runs from where it is now, through the scope of the nursery it was
//! started into, to where that nursery was opened, and on up. Reading a variable
//! walks that chain to the nearest binding of it: no copying on spawn, nothing
//! stored per task, and a read costs a few pointer hops (the depth of scopes and
//! nurseries between the code and the binding). Bindings pass through shields,
//! which only stop cancellation.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use super::cancel::ScopeState;
use super::context::{self, PollGuard};

/// A tree variable's value bound to one status node.
pub(in crate::core) struct Binding {
    var: u64,
    name: &'static str,
    value: Rc<dyn Any>,
    debug: fn(&dyn Any) -> String,
}

impl Binding {
    /// `(name, value)` for the task tree.
    pub(in crate::core) fn describe(&self) -> (&'static str, String) {
        (self.name, (self.debug)(&*self.value))
    }

    pub(in crate::core) fn var(&self) -> u64 {
        self.var
    }
}

static NEXT_VAR: AtomicU64 = AtomicU64::new(1);

/// A value that follows the task tree: bound for the duration of a future with
/// [`with`](Self::with), seen by the code in it and by every task started into a
/// nursery opened in it — decided by where a task runs in the tree, not by which
/// task spawned it (see the module docs, and the cancellation essay's companion:
/// bindings pass through shielded scopes).
///
/// Usually a `static`. Values are cloned out by [`get`](Self::get): for a large
/// value, bind an `Rc` or an `Arc`. A variable with a name shows its values in
/// [`task_tree`](crate::lowlevel::task_tree) (`[name=value]` after each task that
/// was started under a binding of it).
///
/// # Examples
///
/// A child started into an outer nursery from inside a binding sees the outer
/// value, not the value of the code that started it:
///
/// ```
/// use trio::TreeVar;
/// static REQUEST: TreeVar<u32> = TreeVar::new("request");
///
/// # trio::run(async {
/// REQUEST.with(1, async {
///     trio::open_nursery(async |outer| {
///         REQUEST.with(2, async {
///             assert_eq!(REQUEST.get(), Some(2));
///             trio::open_nursery(async |inner| {
///                 inner.start_soon(async { assert_eq!(REQUEST.get(), Some(2)); Ok(()) })?;
///                 // Started from here, but into the outer nursery:
///                 outer.start_soon(async { assert_eq!(REQUEST.get(), Some(1)); Ok(()) })?;
///                 Ok(())
///             })
///             .await
///         })
///         .await
///     })
///     .await
/// })
/// .await?;
/// assert_eq!(REQUEST.get(), None);
/// # Ok::<_, trio::Error>(()) }).unwrap();
/// ```
pub struct TreeVar<T> {
    name: &'static str,
    id: AtomicU64,
    _value: PhantomData<fn() -> T>,
}

impl<T> fmt::Debug for TreeVar<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TreeVar").field("name", &self.name).finish()
    }
}

impl<T: Clone + fmt::Debug + 'static> TreeVar<T> {
    /// A variable called `name` (shown in the task tree; `""` for none).
    ///
    /// # Examples
    ///
    /// ```
    /// static TENANT: trio::TreeVar<String> = trio::TreeVar::new("tenant");
    /// assert_eq!(TENANT.name(), "tenant");
    /// ```
    pub const fn new(name: &'static str) -> TreeVar<T> {
        TreeVar {
            name,
            id: AtomicU64::new(0),
            _value: PhantomData,
        }
    }

    /// The variable's name.
    ///
    /// # Examples
    ///
    /// See [`new`](Self::new).
    pub fn name(&self) -> &'static str {
        self.name
    }

    fn id(&self) -> u64 {
        match self.id.load(Ordering::Relaxed) {
            0 => {
                let new = NEXT_VAR.fetch_add(1, Ordering::Relaxed);
                match self
                    .id
                    .compare_exchange(0, new, Ordering::Relaxed, Ordering::Relaxed)
                {
                    Ok(_) => new,
                    Err(won) => won,
                }
            }
            id => id,
        }
    }

    /// The value bound nearest to where the current code runs in the task tree,
    /// or `None` if none is (or outside trio).
    ///
    /// # Examples
    ///
    /// ```
    /// static DEPTH: trio::TreeVar<u8> = trio::TreeVar::new("depth");
    /// # trio::run(async {
    /// assert_eq!(DEPTH.get(), None);
    /// DEPTH.with(1, async {
    ///     DEPTH.with(2, async { assert_eq!(DEPTH.get(), Some(2)) }).await;
    ///     assert_eq!(DEPTH.get(), Some(1));
    /// })
    /// .await;
    /// # Ok::<_, trio::Error>(()) }).unwrap();
    /// ```
    pub fn get(&self) -> Option<T> {
        let id = self.id.load(Ordering::Relaxed);
        if id == 0 {
            return None; // never bound anywhere
        }
        context::with_current_status(|status| {
            status?.find_up(|node| match &node.binding {
                Some(b) if b.var == id => b.value.downcast_ref::<T>().cloned(),
                _ => None,
            })
        })
    }

    /// Runs `fut` with the variable bound to `value`: [`get`](Self::get) inside
    /// `fut`, and in every task started into a nursery opened inside it, sees
    /// `value` (unless bound again further in). Outside trio, `fut` runs with no
    /// binding.
    ///
    /// # Cancellation
    ///
    /// None of its own: `fut`'s checkpoints are its checkpoints, and the binding
    /// never cancels anything (cancellations pass through it both ways).
    ///
    /// # Examples
    ///
    /// ```
    /// static USER: trio::TreeVar<&'static str> = trio::TreeVar::new("user");
    /// # trio::run(async {
    /// let seen = USER
    ///     .with("ada", async {
    ///         let mut seen = None;
    ///         trio::open_nursery(async |n| {
    ///             n.start_soon(async { Ok(assert_eq!(USER.get(), Some("ada"))) })?;
    ///             seen = USER.get();
    ///             Ok(())
    ///         })
    ///         .await?;
    ///         Ok::<_, trio::Error>(seen)
    ///     })
    ///     .await?;
    /// assert_eq!(seen, Some("ada"));
    /// # Ok::<_, trio::Error>(()) }).unwrap();
    /// ```
    pub fn with<F: Future>(&self, value: T, fut: F) -> WithValue<F> {
        let binding = Binding {
            var: self.id(),
            name: self.name,
            value: Rc::new(value),
            debug: |v| match v.downcast_ref::<T>() {
                Some(v) => format!("{v:?}"),
                None => String::new(),
            },
        };
        WithValue {
            state: ScopeState::with_binding(Some(Box::new(binding))),
            entered: false,
            fut,
        }
    }
}

pin_project_lite::pin_project! {
    /// The future returned by [`TreeVar::with`]: `fut` with the variable bound.
    ///
    /// Output: `fut`'s.
    ///
    /// # Cancellation
    ///
    /// As `fut`.
    ///
    /// # Examples
    ///
    /// ```
    /// static V: trio::TreeVar<i32> = trio::TreeVar::new("v");
    /// # trio::run(async {
    /// let w: trio::WithValue<_> = V.with(7, async { V.get() });
    /// assert_eq!(w.await, Some(7));
    /// # Ok::<_, trio::Error>(()) }).unwrap();
    /// ```
    #[must_use = "futures do nothing unless awaited"]
    pub struct WithValue<F> {
        state: Rc<ScopeState>,
        entered: bool,
        #[pin]
        fut: F,
    }

    impl<F> PinnedDrop for WithValue<F> {
        fn drop(this: Pin<&mut Self>) {
            if this.entered {
                this.state.exit();
            }
        }
    }
}

impl<F> fmt::Debug for WithValue<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WithValue").finish_non_exhaustive()
    }
}

impl<F: Future> Future for WithValue<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        if !*this.entered {
            match context::current_status() {
                // Entered once: a fresh node cannot fail to enter.
                Some(parent) => {
                    let _ = this.state.enter(Some(parent));
                    *this.entered = true;
                }
                None => return this.fut.poll(cx),
            }
        }
        let out = {
            let _g = PollGuard::status(this.state);
            match this.fut.poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(out) => out,
            }
        };
        this.state.exit();
        *this.entered = false;
        Poll::Ready(out)
    }
}

/// The named tree variables bound on `status`'s chain, nearest binding of each.
pub(in crate::core) fn visible_bindings(status: &ScopeState) -> Vec<(&'static str, String)> {
    let mut seen: Vec<u64> = Vec::new();
    let mut out = Vec::new();
    status.find_up(|node| {
        if let Some(b) = &node.binding {
            if !seen.contains(&b.var()) {
                seen.push(b.var());
                let (name, value) = b.describe();
                if !name.is_empty() {
                    out.push((name, value));
                }
            }
        }
        None::<()>
    });
    out.reverse(); // outermost first
    out
}
