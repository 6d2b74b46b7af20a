//! Deterministic simulation: a whole distributed program — several hosts and
//! the network between them — in one seeded trio run.
//!
//! # What is simulated
//!
//! A simulation is one trio run on a [`MockClock`] that jumps ahead whenever
//! every task is blocked, so a simulated minute takes the wall time of the work
//! done in it. It installs a socket factory and a hostname resolver
//! ([`set_custom_socket_factory`](crate::net::socket::set_custom_socket_factory),
//! [`set_custom_hostname_resolver`](crate::net::socket::set_custom_hostname_resolver)):
//! code under a host uses the ordinary [`trio::net`](crate::net) API —
//! `open_tcp_stream`, `open_tcp_listeners`, `serve_tcp`, `UdpSocket`, name
//! resolution — and gets simulated sockets instead of the operating system's.
//! The same application code runs in production and in simulation, unchanged.
//!
//! * **Hosts** have names (which resolve) and addresses (10.0.0.1, 10.0.0.2, ...
//!   in the order added; `localhost` is the host itself). Which host code runs
//!   on follows the task tree ([`TreeVar`]): a host's main and
//!   everything it starts. [`Sim::crash`] cancels a host's tasks and resets its
//!   connections; [`Sim::restart`] runs its main again, with fresh state.
//! * **Links** ([`Link`]) have a latency drawn from a distribution, a
//!   bandwidth, and for datagrams loss, duplication and reordering. Streams are
//!   reliable and ordered, as TCP is. [`Net::partition`] cuts links and
//!   [`Net::heal`] restores them; [`Net::reset_connections`] resets a host's
//!   connections. Per-link settings are kept only for the links given one, and a
//!   partition costs the links it cuts: hundreds of hosts need no quadratic
//!   set-up.
//! * **Randomness** comes from the run's seed: the scheduler's choices, every
//!   network draw, and [`Sim::random`] for the test's own (which faults, when).
//!   The same seed replays the same run bit for bit, and [`Outcome::trace`]
//!   records it: every task step and network event with its virtual time.
//!
//! # What is not
//!
//! Anything that leaves trio's control: the real clock (`std::time::Instant`,
//! `SystemTime`), the operating system's randomness (including `HashMap`'s
//! iteration order), threads ([`to_thread`](crate::to_thread) runs on real
//! ones), files and subprocesses (real), and Unix-domain and IPv6 sockets
//! (refused). [`check_determinism`] runs a seed twice and names the first event
//! where the runs went apart — where one of these got in. TCP is modelled as a
//! reliable byte pipe: no windows, no congestion control, sends never block;
//! bandwidth queues one connection's segments, not a link's.
//!
//! # Compared with
//!
//! | | trio's sim | madsim | turmoil | shuttle |
//! |---|---|---|---|---|
//! | how | trio's own scheduler, clock and socket seam | replaces tokio (and its dependents) at build time | hosts on tokio, simulated network | replaces std's sync and thread primitives |
//! | application code | unchanged (`trio::net`) | unchanged through `cfg(madsim)` builds | turmoil's `net` types | shuttle's types |
//! | time | virtual, jumping to the next deadline | virtual | fixed steps (ticks) | none |
//! | schedules explored | the scheduling policy from the seed (coin flip, shuffle, PCT, yours) | random from the seed | tokio's (not varied) | random, PCT, DFS |
//! | network faults | latency distributions, bandwidth, loss, duplication, reordering, partitions, resets, crashes | latency, loss, partitions, crashes | latency, loss (datagrams), partitions, holds, crashes | none |
//! | hosts | one run, a task tree per host | one runtime, nodes | one runtime per host | none |
//!
//! # Examples
//!
//! ```
//! use trio::testing::sim;
//! use trio::abc::{ReceiveStream, SendStream};
//!
//! let out = sim::Config::new(7).run(async |sim| {
//!     sim.host("server", async || {
//!         let echo = async |s: trio::net::SocketStream| {
//!             let mut buf = [0u8; 16];
//!             let n = s.receive_some(&mut buf).await?;
//!             s.send_all(&buf[..n]).await
//!         };
//!         trio::net::serve_tcp(echo, 7000).await
//!     })?;
//!     sim.add_host("client")?;
//!     sim.on("client", async {
//!         trio::sleep(std::time::Duration::from_millis(1)).await?; // the server starts
//!         let mut s = trio::net::open_tcp_stream("server", 7000).await?;
//!         s.send_all(b"ping").await?;
//!         let mut buf = [0u8; 4];
//!         s.receive_some(&mut buf).await?;
//!         assert_eq!(&buf, b"ping");
//!         Ok(())
//!     })
//!     .await
//! });
//! out.result.unwrap();
//! assert!(out.net.connections >= 1);
//! ```

mod explore;
mod net;
mod socket;
mod trace;

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::net::Ipv4Addr;
use std::ops::Range;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

pub use explore::{Divergence, Explore, Explored, Failure, check_determinism};
pub use net::{Latency, Link, Net, NetStatistics};
pub use trace::{Event, Trace};

use crate::lowlevel::ParkingLot;
use crate::testing::MockClock;
use crate::{Builder, CancelScope, Error, ErrorKind, Result, TreeVar};

/// Which simulated host (index) code runs on.
static HOST: TreeVar<usize> = TreeVar::new("sim.host");

/// A host's main, started again at each restart.
type HostMain = Rc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<()>>>>>;

/// How to run a simulation: the seed, and anything else for the runtime.
///
/// # Examples
///
/// ```
/// let out = trio::testing::sim::Config::new(42).run(async |_sim| Ok(()));
/// assert_eq!(out.seed, 42);
/// assert!(out.result.is_ok());
/// ```
#[derive(Clone)]
pub struct Config {
    seed: u64,
    customize: Option<Rc<dyn Fn(Builder) -> Builder>>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config").field("seed", &self.seed).finish()
    }
}

/// What a simulated run did: its seed, its result, its trace, and what the
/// network carried.
///
/// # Examples
///
/// See [`Config`].
#[derive(Debug)]
pub struct Outcome {
    /// The seed the run used (replay it with [`Config::new`]).
    pub seed: u64,
    /// The body's result; a panic in the run comes back as an error of kind
    /// [`ErrorKind::Other`] with the panic's message.
    pub result: Result<()>,
    /// Every task step and network event, in order.
    pub trace: Trace,
    /// What the network carried.
    pub net: NetStatistics,
}

impl Outcome {
    /// Panics unless the run succeeded, printing the seed that replays it, the
    /// error, and the last network events.
    ///
    /// # Panics
    ///
    /// If [`result`](Self::result) is an error.
    ///
    /// # Examples
    ///
    /// ```
    /// let out = trio::testing::sim::Config::new(1).run(async |_sim| Ok(()));
    /// out.assert_ok();
    /// ```
    #[track_caller]
    pub fn assert_ok(&self) {
        if let Err(e) = &self.result {
            panic!(
                "simulation failed at seed {}: {e}\nreplay it with \
                 trio::testing::sim::Config::new({})\nthe last events (task steps left out):\n{}",
                self.seed,
                self.seed,
                self.trace.tail_without_steps(25)
            );
        }
    }
}

impl Config {
    /// A simulation with this seed (scheduler and network draws alike).
    ///
    /// # Examples
    ///
    /// See [`Config`].
    pub fn new(seed: u64) -> Config {
        Config {
            seed,
            customize: None,
        }
    }

    /// The seed.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trio::testing::sim::Config::new(5).seed(), 5);
    /// ```
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Adjusts the runtime's builder before each run (a scheduling policy, the
    /// schedule budget, an instrument). The simulation sets the clock, the seed
    /// and its trace's instrument itself.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::lowlevel::Pct;
    /// use trio::testing::sim::Config;
    /// // Probabilistic concurrency testing instead of the default coin flip.
    /// let c = Config::new(1).runtime(|b| b.schedule_policy(Pct::new(3, 1000)));
    /// assert!(c.run(async |_sim| Ok(())).result.is_ok());
    /// ```
    pub fn runtime(mut self, f: impl Fn(Builder) -> Builder + 'static) -> Config {
        self.customize = Some(Rc::new(f));
        self
    }

    /// Runs `body` as a simulation: hosts are added from it, and the simulation
    /// ends when it returns (every host's tasks are then cancelled). An error
    /// from a host's main fails the run, as a failing child fails its nursery.
    ///
    /// # Panics
    ///
    /// Never: a panic in the run is caught and reported in
    /// [`Outcome::result`].
    ///
    /// # Examples
    ///
    /// See the [module documentation](self).
    pub fn run<F>(&self, body: F) -> Outcome
    where
        F: AsyncFnOnce(&Sim) -> Result<()>,
    {
        let clock = MockClock::new();
        clock.set_autojump_threshold(Duration::ZERO);
        let trace = Trace::new(clock.clone());
        let mut builder = crate::Runtime::builder()
            .clock(clock)
            .seed(self.seed)
            .instrument(Rc::new(trace::Tracer::new(trace.clone())));
        if let Some(f) = &self.customize {
            builder = f(builder);
        }
        let sim = Sim {
            inner: Rc::new(SimInner {
                net: Net::new(self.seed, trace.clone()),
                rng: RefCell::new(fastrand::Rng::with_seed(self.seed ^ 0x7e57)),
                starts: RefCell::default(),
                lot: ParkingLot::with_name("sim: host starts"),
            }),
        };
        let run = std::panic::catch_unwind(AssertUnwindSafe(|| {
            builder.build().run(async { sim.drive(body).await })
        }));
        let result = match run {
            Ok(r) => r,
            Err(p) => {
                let msg = p
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| p.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic".to_string());
                Err(Error::new(ErrorKind::Other, format!("panicked: {msg}")))
            }
        };
        let net = sim.net().statistics();
        Outcome {
            seed: self.seed,
            result,
            trace,
            net,
        }
    }
}

struct SimInner {
    net: Net,
    rng: RefCell<fastrand::Rng>,
    /// Hosts to start (index, incarnation), for the loop in `drive`.
    starts: RefCell<VecDeque<(usize, u32)>>,
    lot: ParkingLot,
}

/// A running simulation: adds, crashes and restarts hosts, and holds the
/// [`Net`] (a cheap handle: clones share the simulation).
///
/// # Examples
///
/// See the [module documentation](self).
#[derive(Clone)]
pub struct Sim {
    inner: Rc<SimInner>,
}

impl fmt::Debug for Sim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sim").field("net", &self.inner.net).finish()
    }
}

impl Sim {
    /// Runs the body beside the hosts it adds: the nursery's own body starts
    /// each host asked for, and cancels them all when the body is done.
    async fn drive<F>(&self, body: F) -> Result<()>
    where
        F: AsyncFnOnce(&Sim) -> Result<()>,
    {
        let net = self.net();
        crate::net::socket::set_custom_socket_factory(Some(Rc::new(socket::Factory(net.clone()))))?;
        crate::net::socket::set_custom_hostname_resolver(Some(Rc::new(socket::Resolver(
            net.clone(),
        ))))?;
        let done = std::cell::Cell::new(false);
        let (done, inner) = (&done, &self.inner);
        crate::open_nursery(async |n| {
            n.start_soon(async move {
                let r = body(self).await;
                done.set(true);
                inner.lot.unpark_all();
                r
            })?;
            loop {
                while let Some((id, inc)) = inner.starts.borrow_mut().pop_front() {
                    let name = format!("host {}", inner.net.state.borrow().name(id));
                    n.start_soon_named(name, self.clone().run_host(id, inc))?;
                }
                if done.get() {
                    n.cancel_scope().cancel();
                    return Ok(());
                }
                inner.lot.park().await?;
            }
        })
        .await?;
        Ok(())
    }

    async fn run_host(self, id: usize, incarnation: u32) -> Result<()> {
        let (main, scope) = {
            let mut s = self.inner.net.state.borrow_mut();
            let h = &mut s.hosts[id];
            if h.incarnation != incarnation || !h.up {
                return Ok(()); // crashed before it started
            }
            let scope = CancelScope::new();
            h.scope = Some(scope.clone());
            (h.main.clone(), scope)
        };
        let Some(main) = main else { return Ok(()) };
        let r = HOST.with(id, scope.run(main())).await;
        let mut s = self.inner.net.state.borrow_mut();
        let name = s.hosts[id].name.clone();
        if s.hosts[id].incarnation != incarnation {
            // Crashed: whatever its tasks ended with (a reset, a cancellation)
            // died with it.
            s.record(format!("host {name} stopped by the crash"));
            return Ok(());
        }
        match &r {
            Ok(Some(())) => s.record(format!("host {name} finished")),
            Ok(None) => s.record(format!("host {name} stopped")),
            Err(e) if e.is_cancelled() => s.record(format!("host {name} stopped")),
            Err(e) => s.record(format!("host {name} failed: {e}")),
        }
        r.map(|_| ()).map_err(|e| {
            if e.is_cancelled() {
                e // the simulation is ending: the nursery's own cancellation
            } else {
                e.context(ErrorKind::Other, format!("simulated host {name}"))
            }
        })
    }

    /// The simulated network.
    ///
    /// # Examples
    ///
    /// See [`Net`].
    pub fn net(&self) -> &Net {
        &self.inner.net
    }

    /// Adds a host called `name` with no program of its own: code runs on it
    /// through [`on`](Self::on). Returns its address.
    ///
    /// # Errors
    ///
    /// `InvalidInput` if a host already has that name.
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::testing::sim::Config::new(1).run(async |sim| {
    /// let ip = sim.add_host("client")?;
    /// assert_eq!(ip.to_string(), "10.0.0.1");
    /// # Ok(()) }).result.unwrap();
    /// ```
    pub fn add_host(&self, name: &str) -> Result<Ipv4Addr> {
        let mut s = self.inner.net.state.borrow_mut();
        let ip = s.add_host(name)?;
        s.record(format!("add host {name} at {ip}"));
        Ok(ip)
    }

    /// Adds a host called `name` that runs `main` (soon; and again at each
    /// [`restart`](Self::restart), with fresh state). Returns its address.
    ///
    /// # Errors
    ///
    /// `InvalidInput` if a host already has that name.
    ///
    /// # Examples
    ///
    /// See the [module documentation](self).
    pub fn host<F>(&self, name: &str, main: F) -> Result<Ipv4Addr>
    where
        F: AsyncFn() -> Result<()> + 'static,
    {
        let ip = self.add_host(name)?;
        let main = Rc::new(main);
        let main: HostMain = Rc::new(move || {
            let main = main.clone();
            Box::pin(async move { main().await })
        });
        let id = {
            let mut s = self.inner.net.state.borrow_mut();
            let id = s.host_id(name)?;
            s.hosts[id].main = Some(main);
            id
        };
        self.inner.starts.borrow_mut().push_back((id, 0));
        self.inner.lot.unpark_all();
        Ok(ip)
    }

    /// Runs `fut` as host `name`: its sockets are that host's.
    ///
    /// # Errors
    ///
    /// `InvalidInput` naming a host that does not exist; else `fut`'s.
    ///
    /// # Examples
    ///
    /// See the [module documentation](self).
    pub async fn on<T>(&self, name: &str, fut: impl Future<Output = Result<T>>) -> Result<T> {
        let id = self.inner.net.state.borrow().host_id(name)?;
        HOST.with(id, fut).await
    }

    /// Crashes host `name`: its tasks are cancelled, its connections reset
    /// (the peers see a reset), its listeners and datagram sockets gone. Its
    /// sockets stay dead even if a task keeps them.
    ///
    /// # Errors
    ///
    /// `InvalidInput` naming a host that does not exist.
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::testing::sim::Config::new(1).run(async |sim| {
    /// sim.host("db", async || trio::sleep_forever().await)?;
    /// sim.crash("db")?;
    /// sim.restart("db")?;
    /// # Ok(()) }).result.unwrap();
    /// ```
    pub fn crash(&self, name: &str) -> Result<()> {
        let id = self.inner.net.state.borrow().host_id(name)?;
        let scope = {
            let mut s = self.inner.net.state.borrow_mut();
            let h = &mut s.hosts[id];
            h.up = false;
            h.incarnation += 1;
            h.listeners.clear();
            h.dgrams.clear();
            s.record(format!("crash {name}"));
            s.hosts[id].scope.take()
        };
        if let Some(scope) = scope {
            scope.cancel();
        }
        self.inner.net.reset_host_connections(id);
        Ok(())
    }

    /// Restarts host `name` (crashed or not): its main runs again from the
    /// start, with no state but what it rebuilds.
    ///
    /// # Errors
    ///
    /// `InvalidInput` naming a host that does not exist.
    ///
    /// # Examples
    ///
    /// See [`crash`](Self::crash).
    pub fn restart(&self, name: &str) -> Result<()> {
        let id = self.inner.net.state.borrow().host_id(name)?;
        if self.inner.net.state.borrow().hosts[id].up {
            self.crash(name)?;
        }
        let inc = {
            let mut s = self.inner.net.state.borrow_mut();
            s.hosts[id].up = true;
            s.record(format!("restart {name}"));
            s.hosts[id].incarnation
        };
        self.inner.starts.borrow_mut().push_back((id, inc));
        self.inner.lot.unpark_all();
        Ok(())
    }

    /// A random number from the simulation's seed (for the test's own choices:
    /// which fault, when).
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::testing::sim::Config::new(1).run(async |sim| {
    /// let d = sim.random(10..20);
    /// assert!((10..20).contains(&d));
    /// # Ok(()) }).result.unwrap();
    /// ```
    pub fn random(&self, range: Range<u64>) -> u64 {
        self.inner.rng.borrow_mut().u64(range)
    }

    /// True with probability `p`, from the simulation's seed.
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::testing::sim::Config::new(1).run(async |sim| {
    /// assert!(!sim.chance(0.0));
    /// assert!(sim.chance(1.0));
    /// # Ok(()) }).result.unwrap();
    /// ```
    pub fn chance(&self, p: f64) -> bool {
        self.inner.rng.borrow_mut().f64() < p
    }

    /// Records `what` in the trace (the test's own events: a write, a check).
    ///
    /// # Examples
    ///
    /// ```
    /// let out = trio::testing::sim::Config::new(1).run(async |sim| {
    ///     sim.note("hello");
    ///     Ok(())
    /// });
    /// assert!(out.trace.events().iter().any(|e| e.what == "note: hello"));
    /// ```
    pub fn note(&self, what: impl fmt::Display) {
        self.inner
            .net
            .state
            .borrow_mut()
            .record(format!("note: {what}"));
    }
}
