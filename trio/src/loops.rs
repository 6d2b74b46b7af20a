//! Every core: several trio loops in one program ([`run_loops`], [`Loops`],
//! [`LoopContext`]).
//!
//! # One loop per core, shared-nothing
//!
//! A trio run loop lives on one thread, and that is what lets its tasks borrow
//! from each other freely and hold `Rc`s and `RefCell`s: nothing they touch is
//! ever seen by another thread. To use every core, trio does not move tasks
//! between threads (a work-stealing pool needs `Send + 'static` futures and
//! atomics on every wake-up); it runs **one loop per core**, as Seastar, glommio
//! and monoio do. Each loop is a complete, ordinary trio run — its own tasks,
//! nurseries, cancel scopes, timers, reactor and deadlock detector — running the
//! same `async` main with its own index, and nothing inside one loop is shared
//! with another.
//!
//! ```
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! let served = AtomicUsize::new(0); // the loops borrow from the caller
//! let indexes = trio::run_loops(2, async |cx| {
//!     served.fetch_add(1, Ordering::Relaxed);
//!     trio::sleep(std::time::Duration::from_millis(1)).await?; // loop-local
//!     Ok(cx.index())
//! })
//! .unwrap();
//! assert_eq!(indexes, [0, 1]);
//! assert_eq!(served.load(Ordering::Relaxed), 2);
//! ```
//!
//! # What crosses loops
//!
//! Only what is made for it:
//!
//! * **values**, through the thread-safe memory channels of
//!   [`crate::open_memory_channel`] (their handles are `Send`;
//!   a task of one loop blocked on a channel is woken by a send on another);
//! * **calls**, through each loop's [`TrioToken`]: [`LoopContext::token`] gives
//!   any loop's token (for [`TrioToken::run_sync_soon`]), and
//!   [`LoopContext::run_on`] runs an `async` function on another loop and waits
//!   for its result — Seastar's `submit_to`;
//! * **file descriptors**: a connection accepted on one loop is handed to another
//!   as a plain `socket2::Socket` (see [`LoopListener::handoff`](crate::net::LoopListener::handoff));
//! * **the kernel**: with `SO_REUSEPORT` every loop listens on the same port and
//!   the kernel spreads the connections ([`LoopListener::reuse_port`](crate::net::LoopListener::reuse_port),
//!   or `serve_tcp(..).reuse_port(true)` on a fixed port).
//!
//! Anything else — an `Arc<Mutex<_>>`, an atomic counter — works too (the main
//! function may borrow from the caller of [`run_loops`], as the example shows), but
//! trio's own primitives ([`sync`](crate::sync), local channels, cancel scopes)
//! belong to the loop that uses them.
//!
//! # Structure
//!
//! The loops are siblings in the way the children of a nursery are:
//!
//! * [`run_loops`] returns once **every** loop has finished, with each loop's value
//!   in index order;
//! * the **first loop that fails** cancels the main task of every other loop
//!   (source [`CancelSource::Nursery`]); their cancellations are swallowed and
//!   `run_loops` returns the error (several real errors: a group);
//! * a **panic** in a loop cancels the others too, and is resumed in the caller
//!   once every loop has finished;
//! * **Ctrl-C** cancels every loop (source [`CancelSource::CtrlC`]) and
//!   `run_loops` returns [`ErrorKind::Interrupted`]; as with one loop, a second
//!   Ctrl-C kills the process, and so does the first if some loop does not notice
//!   it within 3 s (a task that never reaches a checkpoint): exit status 130.
//!
//! Only one run at a time can own Ctrl-C (see `core/ki.rs`). So the calling
//! thread runs a small supervisor — itself a trio run that owns Ctrl-C and waits
//! for messages from the loops on a thread-safe channel — and each loop runs on
//! a thread of its own without its own Ctrl-C handling. The supervisor is also
//! where "the first failure cancels the others" lives: it cancels a loop's main
//! task through that loop's entry queue, holding no token of it meanwhile.
//!
//! Alternatives that failed: letting loop 0 own Ctrl-C (if loop 0 finishes first,
//! Ctrl-C no longer reaches the others); letting the supervisor keep every
//! loop's token (no loop could ever declare a deadlock); and counting a loop's
//! tokens by the strong count of its shared part, as the core did — another
//! thread forwarding a wake-up raises that count for a moment and lowers it
//! without waking the loop, which could then sleep forever past a real deadlock
//! (the core now counts tokens apart, and a token dropped on another thread
//! wakes the loop after the count went down).
//!
//! # Deadlock detection
//!
//! Each loop checks only its own tasks, as a single run does: a loop whose every
//! task waits on something only another task *of that loop* could end stops with
//! [`ErrorKind::Deadlock`] — and, being a failure, stops the other loops. But a
//! loop that another thread can call into is never declared deadlocked (a call
//! through its token may be what wakes it), and a [`LoopContext`] holds the tokens
//! of the *other* loops. So while any other loop still holds its context, a loop
//! does not declare a deadlock; a loop that needs no cross-loop calls can drop its
//! context once it has read its index, and gets deadlock detection back when
//! every loop has done so (or finished). Waits on thread-safe channels count as
//! waits on the outside world, as always, and so does `sleep_forever`: in a loop
//! it is how a task waits to be cancelled — by Ctrl-C or by a failing sibling.
//!
//! # Pinning and locality
//!
//! [`Loops::pin_to_cpus`] pins loop `i` to the `i`-th CPU. Pinned loops serving a
//! [`LoopListener::reuse_port`](crate::net::LoopListener::reuse_port) each ask
//! the kernel (`SO_INCOMING_CPU`) for the connections their CPU receives, so every
//! packet of a connection is handled on one CPU, by the kernel and by trio. That
//! is most of the gain of several loops on network work: without it, half of the
//! connections are received on one CPU and served on another, and their socket
//! state moves between CPUs on every packet.
//!
//! # One loop, several loops, or `to_thread`
//!
//! Measured on a 2-vCPU VM (Linux 6.18), in one run of the benchmark suite
//! (`cargo run --release -p trio-bench -- --runs 3 --only tcp_echo --runtimes
//! trio,trio-2loops,tokio-ct,tokio-mt2,smol-local,smol-exec2`; median of 3, ns per
//! 64-byte round trip, 64 connections, clients in the same process) and with
//! `wrk -t2 -c64 -d10s` against a hyper "hello world" (`examples/http_server.rs`,
//! `examples/http_server_loops.rs`; `wrk` shares the two vCPUs):
//!
//! | | `tcp_echo` ns/round trip | HTTP requests/s |
//! |---|---:|---:|
//! | trio, one loop | 3189 | 177 000 |
//! | trio, 2 loops, pinned (`pin_to_cpus`) | **1617** | **399 000** |
//! | trio, 2 loops, not pinned | 2834 | 241 000 |
//! | tokio `current_thread` | 3118 | 179 000 |
//! | tokio `multi_thread`, 2 workers | 3609 | – |
//! | smol `LocalExecutor` | 3894 | – |
//! | smol `Executor`, 2 threads | 5227 | – |
//!
//! And what crossing costs: a message on a thread-safe channel between two loops
//! that wait for it, there and back, takes about 45 µs (two plain threads doing
//! the same with `std::sync::mpsc` take 42–45 µs on this VM: it is the cost of
//! waking a sleeping thread), and [`LoopContext::run_on`] about the same; inside
//! one loop the same ping-pong takes 0.2 µs. A [`to_thread`](crate::to_thread)
//! round trip takes about 2 µs back to back when a core is free for the worker,
//! and tens of µs when the worker has to be woken or the cores are busy (figures
//! and conditions in the [`to_thread`](crate::to_thread) docs).
//!
//! So:
//!
//! * **One loop** ([`run`](crate::run)) until a core is busy: no atomics between
//!   tasks, local channels, and one core already serves 177 000 HTTP requests or
//!   310 000 echo round trips a second. Most programs need nothing else.
//! * **Several loops**, pinned, when one core is not enough and the work splits by
//!   connection (or by shard): each loop runs its own copy of the server on a
//!   `LoopListener`, and nothing crosses loops on a request's path — 2.0× the
//!   echo throughput and 2.3× the HTTP throughput of one loop on two cores. Keep
//!   cross-loop messages off the per-request path: each one that wakes a sleeping
//!   loop costs a thread wake-up, hundreds of times an in-loop message.
//! * **`to_thread`** ([`to_thread::run_sync`](crate::to_thread::run_sync)) for a
//!   blocking call, or a CPU-heavy step inside an otherwise I/O-bound loop, worth
//!   more than a few microseconds: the loop keeps serving while a worker thread
//!   computes.
//!
//! [`CancelSource::Nursery`]: crate::CancelSource::Nursery
//! [`CancelSource::CtrlC`]: crate::CancelSource::CtrlC
//! [`ErrorKind::Interrupted`]: crate::ErrorKind::Interrupted
//! [`ErrorKind::Deadlock`]: crate::ErrorKind::Deadlock
//! [`TrioToken`]: crate::lowlevel::TrioToken
//! [`TrioToken::run_sync_soon`]: crate::lowlevel::TrioToken::run_sync_soon

use std::any::Any;
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::future::{Future, poll_fn};
use std::num::NonZeroUsize;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Poll;
use std::thread;

use crate::channel::{MemoryReceiveChannel, MemorySendChannel, UNBOUNDED};

/// `Loops::on_diagnostic`'s callback.
type DiagnosticCallback = dyn Fn(&Diagnostic) + Send + Sync;
use crate::lowlevel::{
    CTRL_C_GRACE as GRACE, Diagnostic, TrioToken, WeakTrioToken, cancel_main_task,
    current_trio_token, spawn_system_task,
};
use crate::{
    Builder, CancelScope, CancelSource, Error, ErrorKind, Result, Runtime, open_memory_channel,
};

type Configure = dyn Fn(usize, Builder) -> Builder + Send + Sync;

/// Runs `main` on `count` trio loops, one thread each, and returns every loop's
/// value in index order: `Loops::new(count).run(main)` (see [`Loops::run`]).
///
/// # Errors
///
/// See [`Loops::run`].
///
/// # Panics
///
/// A panic in a loop is resumed here, after every loop has finished.
///
/// # Examples
///
/// ```
/// let doubled = trio::run_loops(3, async |cx| Ok(cx.index() * 2)).unwrap();
/// assert_eq!(doubled, [0, 2, 4]);
/// ```
pub fn run_loops<F, T>(count: usize, main: F) -> Result<Vec<T>>
where
    F: AsyncFn(LoopContext) -> Result<T> + Sync,
    T: Send,
{
    Loops::new(count).run(main)
}

/// Several trio loops on as many threads, each running the same `async` main
/// (see the [module docs](self)).
///
/// # Examples
///
/// ```
/// let loops = trio::Loops::per_core().configure(|i, b| b.seed(100 + i as u64));
/// let seeds = loops.run(async |_cx| Ok(trio::lowlevel::current_seed())).unwrap();
/// assert_eq!(seeds[0], 100);
/// assert_eq!(seeds.len(), trio::Loops::per_core().count());
/// ```
pub struct Loops {
    count: usize,
    configure: Option<Box<Configure>>,
    handle_ctrl_c: bool,
    ctrl_c_exits: bool,
    diagnostics: Option<Arc<DiagnosticCallback>>,
    pin: bool,
}

impl fmt::Debug for Loops {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Loops")
            .field("count", &self.count)
            .field("handle_ctrl_c", &self.handle_ctrl_c)
            .field("pin_to_cpus", &self.pin)
            .finish()
    }
}

impl Default for Loops {
    fn default() -> Self {
        Loops::per_core()
    }
}

impl Loops {
    /// `count` loops.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trio::Loops::new(4).count(), 4);
    /// ```
    pub fn new(count: usize) -> Loops {
        Loops {
            count,
            configure: None,
            handle_ctrl_c: true,
            ctrl_c_exits: true,
            diagnostics: None,
            pin: false,
        }
    }

    /// One loop per core: as many loops as
    /// [`std::thread::available_parallelism`] says (1 if it cannot tell). This is
    /// also the [`Default`].
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(trio::Loops::per_core().count() >= 1);
    /// assert_eq!(trio::Loops::default().count(), trio::Loops::per_core().count());
    /// ```
    pub fn per_core() -> Loops {
        Loops::new(thread::available_parallelism().map_or(1, NonZeroUsize::get))
    }

    /// How many loops [`run`](Self::run) starts.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trio::Loops::new(2).count(), 2);
    /// ```
    pub fn count(&self) -> usize {
        self.count
    }

    /// Configures each loop's runtime: `f(index, builder)` is called on the loop's
    /// own thread (so the builder may hold a clock or instruments, which are not
    /// `Send`) and returns the builder to use. Ctrl-C handling is the
    /// supervisor's (see [`handle_ctrl_c`](Self::handle_ctrl_c)): the loops' own
    /// `Builder::handle_ctrl_c` is ignored.
    ///
    /// # Examples
    ///
    /// ```
    /// let seeds = trio::Loops::new(2)
    ///     .configure(|i, b| b.seed(7 * (i as u64 + 1)).deterministic(true))
    ///     .run(async |_cx| Ok(trio::lowlevel::current_seed()))
    ///     .unwrap();
    /// assert_eq!(seeds, [7, 14]);
    /// ```
    pub fn configure(
        mut self,
        f: impl Fn(usize, Builder) -> Builder + Send + Sync + 'static,
    ) -> Loops {
        self.configure = Some(Box::new(f));
        self
    }

    /// Whether Ctrl-C cancels every loop (default: yes, unless another trio run
    /// of the process already handles Ctrl-C). With `false`, SIGINT is left alone.
    ///
    /// # Examples
    ///
    /// ```
    /// let v = trio::Loops::new(2).handle_ctrl_c(false).run(async |cx| Ok(cx.count())).unwrap();
    /// assert_eq!(v, [2, 2]);
    /// ```
    pub fn handle_ctrl_c(mut self, yes: bool) -> Loops {
        self.handle_ctrl_c = yes;
        self
    }

    /// Whether trio may end the process on a Ctrl-C the loops cannot handle
    /// (default: yes): a second Ctrl-C, or a loop that does not see the first
    /// within 3 s, ends it with status 130, as with one loop
    /// ([`Builder::ctrl_c_exits`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let v = trio::Loops::new(2).ctrl_c_exits(false).run(async |cx| Ok(cx.index())).unwrap();
    /// assert_eq!(v, [0, 1]);
    /// ```
    pub fn ctrl_c_exits(mut self, yes: bool) -> Loops {
        self.ctrl_c_exits = yes;
        self
    }

    /// Where the supervisor's diagnostics go (a Ctrl-C it is about to exit for),
    /// as [`Builder::on_diagnostic`] for one loop; each loop's own are set with
    /// [`configure`](Self::configure).
    ///
    /// # Examples
    ///
    /// ```
    /// let v = trio::Loops::new(1)
    ///     .on_diagnostic(trio::lowlevel::print_diagnostic)
    ///     .run(async |cx| Ok(cx.count()))
    ///     .unwrap();
    /// assert_eq!(v, [1]);
    /// ```
    pub fn on_diagnostic(
        mut self,
        callback: impl Fn(&crate::lowlevel::Diagnostic) + Send + Sync + 'static,
    ) -> Loops {
        self.diagnostics = Some(Arc::new(callback));
        self
    }

    /// Pins loop `i` to the `i`-th CPU this process may run on (wrapping around when
    /// there are more loops than CPUs), default: off. On Linux and FreeBSD; on
    /// macOS, which cannot pin a thread, the loops run unpinned.
    ///
    /// A pinned loop keeps its caches warm and — with a
    /// [`LoopListener::reuse_port`](crate::net::LoopListener::reuse_port) — gets
    /// the connections whose packets its CPU processes (`SO_INCOMING_CPU`), so a
    /// connection never moves between CPUs: on the `tcp_echo` benchmark this is
    /// the difference between 1.1× and 2.0× the throughput of one loop on two
    /// cores (see the [module docs](self#one-loop-several-loops-or-to_thread)).
    /// Leave it off when the loops share the machine with other busy programs:
    /// a pinned loop cannot move away from a CPU that something else keeps busy.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(target_os = "linux")] {
    /// let loops = trio::Loops::new(2).pin_to_cpus(true);
    /// let cpus = loops.run(async |_cx| {
    ///     let cpu = std::fs::read_to_string("/proc/thread-self/stat").unwrap()
    ///         .split_whitespace().nth(38).unwrap().parse::<usize>().unwrap();
    ///     Ok(cpu) // the CPU this loop runs on
    /// }).unwrap();
    /// if std::thread::available_parallelism().unwrap().get() >= 2 {
    ///     assert_ne!(cpus[0], cpus[1]);
    /// }
    /// # }
    /// ```
    pub fn pin_to_cpus(mut self, yes: bool) -> Loops {
        self.pin = yes;
        self
    }

    /// Runs `main(cx)` on every loop — loop `i` on a thread of its own, named
    /// `trio-loop-i` — and returns once every loop has finished, with each loop's
    /// value in index order.
    ///
    /// `main` is called on the loop's thread, so the future it returns need not be
    /// `Send`; `main` itself is shared by the loops (`Sync`) and may borrow from the
    /// caller. It is called once every loop has started, so the [`LoopContext`]
    /// can reach all of them.
    ///
    /// # Errors
    ///
    /// * The first error of a loop: it cancels the main task of every other loop
    ///   (their cancellations are swallowed); errors of several loops come as a
    ///   group ([`ErrorKind::Group`]).
    /// * [`ErrorKind::Interrupted`] if Ctrl-C cancelled the loops.
    /// * [`ErrorKind::InvalidInput`] for zero loops; [`ErrorKind::NestedRun`] when called
    ///   from a trio loop's thread; an I/O error if a loop or its thread could not
    ///   be created, or (with [`pin_to_cpus`](Self::pin_to_cpus)) pinned (the
    ///   others are then cancelled).
    ///
    /// # Panics
    ///
    /// A panic in a loop (in `main`, its future, or `configure`) cancels the other
    /// loops and is resumed here once every loop has finished.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use trio::{Error, ErrorKind};
    /// // Loop 1 fails; loop 0, which would sleep for an hour, is cancelled.
    /// let err = trio::Loops::new(2)
    ///     .run(async |cx| {
    ///         if cx.index() == 1 {
    ///             return Err(Error::new(ErrorKind::Other, "loop 1 failed"));
    ///         }
    ///         trio::sleep(Duration::from_secs(3600)).await
    ///     })
    ///     .unwrap_err();
    /// assert_eq!(err.to_string(), "loop 1 failed");
    /// ```
    pub fn run<F, T>(self, main: F) -> Result<Vec<T>>
    where
        F: AsyncFn(LoopContext) -> Result<T> + Sync,
        T: Send,
    {
        let n = self.count;
        if n == 0 {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "trio::Loops::run needs at least one loop",
            ));
        }
        let mut supervisor = Runtime::builder()
            .handle_ctrl_c(self.handle_ctrl_c)
            .ctrl_c_exits(self.ctrl_c_exits);
        if let Some(callback) = self.diagnostics.clone() {
            supervisor = supervisor.on_diagnostic(move |d| callback(d));
        }
        let supervisor = supervisor.build();
        let ctrl_c_exits = self.ctrl_c_exits;
        let configure = self.configure.as_deref();
        let cpus = match self.pin {
            true => match crate::sys::affinity::allowed_cpus() {
                Ok(cpus) => Some(cpus),
                // No thread pinning on this system (macOS): run unpinned.
                Err(e) if e.kind() == std::io::ErrorKind::Unsupported => None,
                Err(e) => return Err(e.into()),
            },
            false => None,
        };
        let cpus = cpus.as_deref().filter(|c| !c.is_empty());
        let main = &main;
        let mut out = Outcome {
            values: (0..n).map(|_| None).collect(),
            errors: Vec::new(),
            panic: None,
        };
        let out_ref = &mut out;
        let run = thread::scope(|s| {
            supervisor.run(async move {
                let (events_tx, events) = open_memory_channel::<Event<T>>(UNBOUNDED);
                let mut sup = Supervisor::new(n, out_ref, ctrl_c_exits);
                for (i, slot) in sup.slots.iter_mut().enumerate() {
                    let (start_tx, start) = open_memory_channel(1);
                    slot.start = Some(start_tx);
                    let tx = events_tx.clone();
                    let cpu = cpus.map(|c| c[i % c.len()]);
                    let spawned = thread::Builder::new()
                        .name(format!("trio-loop-{i}"))
                        .spawn_scoped(s, move || {
                            let outcome = catch_unwind(AssertUnwindSafe(|| {
                                run_one(i, cpu, main, configure, &tx, start)
                            }));
                            let _ = tx.send_nowait(Event::Finished(i, outcome));
                        });
                    if let Err(e) = spawned {
                        let _ = events_tx.send_nowait(Event::Finished(i, Ok(Err(e.into()))));
                    }
                }
                drop(events_tx);
                sup.supervise(&events).await;
                Ok::<(), Error>(())
            })
        });
        if let Some(p) = out.panic {
            resume_unwind(p);
        }
        run?;
        if let Some(e) = Error::group(out.errors) {
            return Err(e);
        }
        out.values
            .into_iter()
            .map(|v| {
                v.ok_or_else(|| Error::new(ErrorKind::Internal, "a loop ended without a value"))
            })
            .collect()
    }
}

/// What a loop thread tells the supervisor.
enum Event<T> {
    /// The loop runs; here is its token.
    Started(usize, TrioToken),
    /// The loop has finished (`Ok(None)`: it never ran `main`).
    Finished(usize, thread::Result<Result<Option<T>>>),
}

/// One loop's thread: configure its runtime, announce it, wait for the tokens of
/// every loop, run `main`.
fn run_one<F, T>(
    index: usize,
    cpu: Option<usize>,
    main: &F,
    configure: Option<&Configure>,
    events: &MemorySendChannel<Event<T>>,
    start: MemoryReceiveChannel<Vec<TrioToken>>,
) -> Result<Option<T>>
where
    F: AsyncFn(LoopContext) -> Result<T>,
{
    if let Some(cpu) = cpu {
        crate::sys::affinity::pin_current_thread(cpu).map_err(|e| {
            Error::from(e).context(
                ErrorKind::Io,
                format!("cannot pin loop {index} to CPU {cpu}"),
            )
        })?;
    }
    let mut builder = Runtime::builder();
    if let Some(f) = configure {
        builder = f(index, builder);
    }
    builder
        .handle_ctrl_c(false)
        .cancelled_from_outside(true)
        .build()
        .run(async {
            let token = current_trio_token();
            let own = token.downgrade();
            if events.send_nowait(Event::Started(index, token)).is_err() {
                return Ok(None); // the supervisor is gone
            }
            let mut tokens: Vec<Option<TrioToken>> = match start.receive().await {
                Ok(all) => all.into_iter().map(Some).collect(),
                // Another loop failed before every loop had started.
                Err(e) if e.kind() == ErrorKind::EndOfChannel => return Ok(None),
                Err(e) => return Err(e),
            };
            drop(start);
            // A loop does not hold its own token: that would keep its deadlock
            // detection off for as long as it holds its context.
            tokens[index] = None;
            main(LoopContext { index, tokens, own }).await.map(Some)
        })
}

struct Outcome<T> {
    values: Vec<Option<T>>,
    errors: Vec<Error>,
    panic: Option<Box<dyn Any + Send>>,
}

#[derive(Default)]
struct Slot {
    /// Sends the loop its tokens once every loop has started; dropped (closing
    /// the channel) to stop a loop that has not run `main` yet.
    start: Option<MemorySendChannel<Vec<TrioToken>>>,
    /// Held from `Started` until every loop has started.
    token: Option<TrioToken>,
    /// To cancel the loop without keeping a token of it.
    weak: Option<WeakTrioToken>,
    cancelled: bool,
    finished: bool,
}

/// The supervisor's state, on the calling thread.
struct Supervisor<'o, T> {
    slots: Vec<Slot>,
    started: usize,
    finished: usize,
    stopping: bool,
    /// Each loop acknowledges a stop here once its main task is cancelled.
    acks: (MemorySendChannel<()>, MemoryReceiveChannel<()>),
    /// Acknowledgements still to come.
    pending_acks: usize,
    out: &'o mut Outcome<T>,
    /// `Loops::ctrl_c_exits`.
    ctrl_c_exits: bool,
}

impl<'o, T> Supervisor<'o, T> {
    fn new(n: usize, out: &'o mut Outcome<T>, ctrl_c_exits: bool) -> Self {
        Supervisor {
            slots: (0..n).map(|_| Slot::default()).collect(),
            started: 0,
            finished: 0,
            stopping: false,
            acks: open_memory_channel(UNBOUNDED),
            pending_acks: 0,
            out,
            ctrl_c_exits,
        }
    }

    /// Handles the loops' events until every loop has finished. A Ctrl-C cancels
    /// every loop; the supervisor then keeps waiting for them, shielded.
    async fn supervise(&mut self, events: &MemoryReceiveChannel<Event<T>>) {
        let mut interrupted = false;
        while self.finished < self.slots.len() {
            let event = if interrupted {
                match CancelScope::new().shielded().run(events.receive()).await {
                    Ok(Some(e)) => e,
                    _ => return, // every loop thread is gone
                }
            } else {
                match events.receive().await {
                    Ok(e) => e,
                    Err(e) if e.is_cancelled() => {
                        // Only Ctrl-C cancels the supervisor's main task.
                        interrupted = true;
                        self.stop(CancelSource::CtrlC);
                        self.await_acks().await;
                        continue;
                    }
                    Err(_) => return,
                }
            };
            self.handle(event);
        }
    }

    /// After a Ctrl-C: as with one loop (see `core/ki.rs`), every loop must
    /// notice the cancellation within the grace period, or the process exits.
    /// Noticing takes two answers from the loop's scheduler: the one that
    /// delivered the cancellation, and one more after it — a task that
    /// resumed in that very pass, at a point that does not look at the
    /// cancellation, and then never reaches a checkpoint, keeps the second
    /// from coming.
    async fn await_acks(&mut self) {
        let wait = async {
            self.collect_acks().await?;
            self.ping_unfinished();
            self.collect_acks().await
        };
        let r = CancelScope::new()
            .shielded()
            .run(crate::move_on_after(GRACE, wait))
            .await;
        if let Ok(Some(None)) = r {
            if !self.ctrl_c_exits {
                return; // `Loops::ctrl_c_exits(false)`: never end the process.
            }
            crate::lowlevel::report_diagnostic(
                crate::lowlevel::DiagnosticKind::CtrlCUnhandled,
                format!(
                    "Ctrl-C was not handled within {GRACE:?} by every loop (a task never \
                     reached a checkpoint); exiting with status 130"
                ),
            );
            std::process::exit(130);
        }
    }

    async fn collect_acks(&mut self) -> Result<()> {
        while self.pending_acks > 0 {
            self.acks.1.receive().await?;
            self.pending_acks -= 1;
        }
        Ok(())
    }

    /// Asks every loop that has not finished to answer once more from its
    /// scheduler (a loop that ends first answers as its run is torn down).
    fn ping_unfinished(&mut self) {
        for slot in &self.slots {
            if slot.finished {
                continue;
            }
            let Some(token) = slot.weak.as_ref().and_then(WeakTrioToken::upgrade) else {
                continue;
            };
            let ack = self.acks.0.clone();
            if token
                .run_sync_soon(move || {
                    let _ = ack.send_nowait(());
                })
                .is_ok()
            {
                self.pending_acks += 1;
            }
        }
    }

    fn handle(&mut self, event: Event<T>) {
        match event {
            Event::Started(i, token) => {
                let slot = &mut self.slots[i];
                slot.weak = Some(token.downgrade());
                if self.stopping {
                    slot.start = None; // it will not run `main`
                    return;
                }
                slot.token = Some(token);
                self.started += 1;
                if self.started == self.slots.len() {
                    let all: Vec<TrioToken> = self
                        .slots
                        .iter_mut()
                        .map(|s| s.token.take().expect("every loop has started"))
                        .collect();
                    for s in &mut self.slots {
                        if let Some(tx) = s.start.take() {
                            let _ = tx.send_nowait(all.clone());
                        }
                    }
                }
            }
            Event::Finished(i, outcome) => {
                let slot = &mut self.slots[i];
                if std::mem::replace(&mut slot.finished, true) {
                    return;
                }
                self.finished += 1;
                slot.start = None;
                slot.token = None;
                slot.weak = None;
                let cancelled = slot.cancelled;
                match outcome {
                    Ok(Ok(Some(v))) => self.out.values[i] = Some(v),
                    Ok(Ok(None)) => {}
                    Ok(Err(e)) if cancelled => {
                        // Our cancellation is swallowed; anything else is kept.
                        if let Some(e) = e.strip_cancelled_inner() {
                            self.out.errors.push(e);
                        }
                    }
                    Ok(Err(e)) => {
                        self.out.errors.push(e);
                        self.stop(CancelSource::Nursery);
                    }
                    Err(p) => {
                        self.out.panic.get_or_insert(p);
                        self.stop(CancelSource::Nursery);
                    }
                }
            }
        }
    }

    /// Cancels every loop that has not finished (once): a loop that has not run
    /// `main` yet will not; a running loop's main task is cancelled through its
    /// entry queue (by a weak reference: the supervisor holds no token, which would
    /// keep the loop's deadlock detection off).
    fn stop(&mut self, source: CancelSource) {
        if std::mem::replace(&mut self.stopping, true) {
            return;
        }
        for slot in &mut self.slots {
            slot.start = None;
            slot.token = None;
            if slot.finished {
                continue;
            }
            slot.cancelled = true;
            let Some(token) = slot.weak.as_ref().and_then(WeakTrioToken::upgrade) else {
                continue;
            };
            let ack = self.acks.0.clone();
            let queued = token.run_sync_soon(move || {
                let _ = cancel_main_task(source);
                let _ = ack.send_nowait(());
            });
            if queued.is_ok() {
                self.pending_acks += 1;
            }
        }
    }
}

impl<T> Drop for Supervisor<'_, T> {
    fn drop(&mut self) {
        // Normally every loop has finished. If the supervisor itself is unwinding,
        // the loops must still end: the caller's thread scope joins them.
        if self.finished < self.slots.len() {
            self.stop(CancelSource::Shutdown);
        }
    }
}

// ---- the context -----------------------------------------------------------------

/// What each loop's main receives: its index, the number of loops, and the way to
/// the other loops (their [`TrioToken`]s, [`run_on`](Self::run_on)).
///
/// It holds a token of every *other* loop, which keeps those loops' deadlock
/// detection off while it lives (see the [module docs](self#deadlock-detection));
/// drop it when it is no longer needed.
///
/// # Examples
///
/// ```
/// let r = trio::run_loops(2, async |cx| {
///     assert_eq!(cx.count(), 2);
///     let me = trio::lowlevel::current_trio_token();
///     assert_eq!(cx.token(cx.index()), me);
///     Ok(cx.index())
/// });
/// assert_eq!(r.unwrap(), [0, 1]);
/// ```
///
/// [`TrioToken`]: crate::lowlevel::TrioToken
#[derive(Clone)]
pub struct LoopContext {
    index: usize,
    /// Every loop's token but this loop's own.
    tokens: Vec<Option<TrioToken>>,
    own: WeakTrioToken,
}

impl fmt::Debug for LoopContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoopContext")
            .field("index", &self.index)
            .field("count", &self.count())
            .finish()
    }
}

thread_local! {
    /// Cancel scopes of the calls running on this thread's loop for other loops
    /// ([`LoopContext::run_on`]), by call id, so that a cancelled caller can
    /// cancel its call.
    static CALLS: RefCell<HashMap<u64, CancelScope>> = RefCell::new(HashMap::new());
}

static NEXT_CALL: AtomicU64 = AtomicU64::new(1);

type Reply<T> = thread::Result<Result<Option<T>>>;

fn loop_finished(i: usize) -> Error {
    Error::new(
        ErrorKind::RunFinished,
        format!("loop {i} finished before the call could complete"),
    )
}

impl LoopContext {
    /// This loop's index, from 0 to [`count`](Self::count)` - 1`.
    ///
    /// # Examples
    ///
    /// See [`LoopContext`].
    pub fn index(&self) -> usize {
        self.index
    }

    /// How many loops there are.
    ///
    /// # Examples
    ///
    /// See [`LoopContext`].
    pub fn count(&self) -> usize {
        self.tokens.len()
    }

    /// The token of loop `i` (this loop's own too), to reach it from anywhere with
    /// [`TrioToken::run_sync_soon`] or
    /// [`from_thread::run_with_token`](crate::from_thread::run_with_token). While
    /// a token is held, its loop does not declare a deadlock.
    ///
    /// # Panics
    ///
    /// If `i` is not below [`count`](Self::count), or — for this loop's own token —
    /// if this loop has finished (a context sent out of its loop).
    ///
    /// # Examples
    ///
    /// ```
    /// let (done_tx, done_rx) = trio::open_memory_channel::<()>(0);
    /// let threads = trio::run_loops(2, async |cx| {
    ///     if cx.index() == 1 {
    ///         done_rx.receive().await?; // keep loop 1 up until loop 0 is done
    ///         return Ok(String::new());
    ///     }
    ///     // A callback on loop 1's thread, answering on a thread-safe channel.
    ///     let (tx, rx) = trio::open_memory_channel(1);
    ///     cx.token(1).run_sync_soon(move || {
    ///         let _ = tx.send_nowait(std::thread::current().name().unwrap().to_string());
    ///     })?;
    ///     let name = rx.receive().await?;
    ///     done_tx.send(()).await?;
    ///     Ok(name)
    /// })
    /// .unwrap();
    /// assert_eq!(threads[0], "trio-loop-1");
    /// ```
    ///
    /// [`TrioToken::run_sync_soon`]: crate::lowlevel::TrioToken::run_sync_soon
    pub fn token(&self, i: usize) -> TrioToken {
        self.try_token(i)
            .unwrap_or_else(|e| panic!("LoopContext::token: {}", e.message().unwrap_or("")))
    }

    /// [`token`](Self::token), with its panics as errors: [`ErrorKind::InvalidInput`]
    /// for `i` not below [`count`](Self::count), [`ErrorKind::RunFinished`] for
    /// this loop's own token once it has finished.
    fn try_token(&self, i: usize) -> Result<TrioToken> {
        match self.tokens.get(i) {
            Some(Some(t)) => Ok(t.clone()),
            Some(None) => self.own.upgrade().ok_or_else(|| {
                Error::new(ErrorKind::RunFinished, format!("loop {i} has finished"))
            }),
            None => Err(Error::new(
                ErrorKind::InvalidInput,
                format!("there is no loop {i}: there are {} loops", self.count()),
            )),
        }
    }

    /// Runs the future made by `f` on loop `i`, in a new system task there, and
    /// waits for its result (Seastar's `submit_to`). `f` is called on loop `i`'s
    /// thread, so the future need not be `Send` and may use that loop's own
    /// state (its thread-locals, its [`RunVar`](crate::lowlevel::RunVar)s); only
    /// `f` and the result cross threads.
    ///
    /// # Errors
    ///
    /// * The future's own errors.
    /// * [`ErrorKind::InvalidInput`] if `i` is not below [`count`](Self::count).
    /// * [`ErrorKind::RunFinished`] if loop `i` has finished, or finishes (and
    ///   cancels its system tasks) while running the call.
    /// * `Cancelled` if the calling task is cancelled (see below).
    ///
    /// # Cancellation
    ///
    /// A checkpoint. If the caller is cancelled while the call runs, the call is
    /// cancelled too (its future sees `Err(Cancelled)` at its next checkpoint), and
    /// `run_on` returns `Cancelled` only once the call has finished — the call
    /// never outlives its caller, as a child never outlives its nursery.
    ///
    /// # Panics
    ///
    /// A panic of `f` or of the future on loop `i` is resumed here, in the
    /// caller.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    /// thread_local! { static HITS: Cell<u32> = const { Cell::new(0) }; } // one per loop
    /// let (done_tx, done_rx) = trio::open_memory_channel::<()>(0);
    /// let hits = trio::run_loops(2, async |cx| {
    ///     if cx.index() == 1 {
    ///         // Loop 1 stays up until loop 0 is done with it; meanwhile the
    ///         // calls run there as system tasks.
    ///         done_rx.receive().await?;
    ///     } else {
    ///         for _ in 0..3 {
    ///             // Bump loop 1's counter, on loop 1.
    ///             cx.run_on(1, || async { Ok(HITS.with(|h| h.set(h.get() + 1))) }).await?;
    ///         }
    ///         // A call is cancelled with its caller.
    ///         let d = std::time::Duration::from_millis(1);
    ///         let r = trio::move_on_after(d, cx.run_on(1, trio::sleep_forever)).await?;
    ///         assert!(r.is_none());
    ///         done_tx.send(()).await?;
    ///     }
    ///     Ok(HITS.with(Cell::get))
    /// })
    /// .unwrap();
    /// assert_eq!(hits, [0, 3]);
    /// ```
    pub async fn run_on<F, Fut, T>(&self, i: usize, f: F) -> Result<T>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T>> + 'static,
        T: Send + 'static,
    {
        let token = self.try_token(i)?;
        crate::lowlevel::checkpoint_if_cancelled()?;
        let id = NEXT_CALL.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = open_memory_channel::<Reply<T>>(1);
        token.run_sync_soon(move || start_call(id, f, tx))?;
        let reply = match rx.receive().await {
            Ok(reply) => reply,
            Err(e) if e.is_cancelled() => {
                // Cancel the call, and wait for it to end: it must not outlive us.
                let _ = token.run_sync_soon(move || {
                    CALLS.with(|c| {
                        if let Some(scope) = c.borrow().get(&id) {
                            scope.cancel();
                        }
                    })
                });
                if let Ok(Some(Err(p))) = CancelScope::new().shielded().run(rx.receive()).await {
                    resume_unwind(p);
                }
                return Err(e);
            }
            // The call was dropped unrun: loop `i` is gone.
            Err(e) if e.kind() == ErrorKind::EndOfChannel => return Err(loop_finished(i)),
            Err(e) => return Err(e),
        };
        match reply {
            Err(p) => resume_unwind(p),
            Ok(Ok(Some(v))) => Ok(v),
            // Our scope caught a cancellation we did not ask for: cannot happen
            // (the scope is cancelled only on our request), but say something true.
            Ok(Ok(None)) => Err(loop_finished(i)),
            // A cancellation from over there is loop `i` shutting down; it belongs
            // to a scope of that loop, not to any of ours.
            Ok(Err(e)) => Err(e
                .strip_cancelled_inner()
                .unwrap_or_else(|| loop_finished(i))),
        }
    }
}

/// On the target loop, outside any task: starts the call of `run_on` as a system
/// task in a cancel scope registered under `id`.
fn start_call<F, Fut, T>(id: u64, f: F, tx: MemorySendChannel<Reply<T>>)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<T>> + 'static,
    T: Send + 'static,
{
    let fut = match catch_unwind(AssertUnwindSafe(f)) {
        Ok(fut) => fut,
        Err(p) => {
            let _ = tx.send_nowait(Err(p));
            return;
        }
    };
    let scope = CancelScope::new();
    CALLS.with(|c| c.borrow_mut().insert(id, scope.clone()));
    let task = async move {
        let mut run = pin!(scope.run(fut));
        let reply = poll_fn(
            |cx| match catch_unwind(AssertUnwindSafe(|| run.as_mut().poll(cx))) {
                Ok(Poll::Pending) => Poll::Pending,
                Ok(Poll::Ready(r)) => Poll::Ready(Ok(r)),
                Err(p) => Poll::Ready(Err(p)),
            },
        )
        .await;
        CALLS.with(|c| c.borrow_mut().remove(&id));
        let _ = tx.send_nowait(reply);
        Ok(())
    };
    if spawn_system_task("trio::LoopContext::run_on", task).is_err() {
        // The run is shutting down; dropping the task drops `tx`, and the caller
        // learns that the loop has finished.
        CALLS.with(|c| c.borrow_mut().remove(&id));
    }
}
