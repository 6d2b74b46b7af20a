//! The simulated network's state: hosts and their addresses, links, partitions,
//! and the seeded random source every fault is drawn from.
//!
//! # Invariants
//!
//! * Everything here is iterated in a deterministic order (`BTreeMap`, `Vec`):
//!   a `HashMap`'s order depends on the process's random hash keys, which would
//!   make two runs of one seed differ.
//! * A host's `incarnation` grows by one at each crash. A socket remembers the
//!   incarnation it was made in; once they differ, the socket is dead (every
//!   operation fails with a reset), whatever its task is doing.
//! * `cut` holds ordered pairs, both directions of each cut link: cost is the
//!   number of links cut, never the number of hosts squared.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::rc::{Rc, Weak};
use std::time::Duration;

use super::socket::{DgramQueue, ListenQueue, Pipe};
use super::trace::Trace;
use crate::lowlevel::ParkingLot;
use crate::{CancelScope, Error, ErrorKind, Result};

/// How long a message takes on a link: a fixed time, or drawn for each message.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use trio::testing::sim::Latency;
/// let l = Latency::Uniform(Duration::from_millis(1), Duration::from_millis(5));
/// assert_eq!(format!("{l:?}"), "Uniform(1ms, 5ms)");
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Latency {
    /// Always this long.
    Fixed(Duration),
    /// Uniformly between the two (inclusive).
    Uniform(Duration, Duration),
    /// The first, plus an exponentially distributed extra with the second as
    /// its mean (a long tail: most messages fast, a few slow).
    Exponential(Duration, Duration),
}

/// The behaviour of the link between two hosts (each direction alike): latency,
/// bandwidth, and for datagrams loss, duplication and reordering. Streams are
/// reliable and ordered, as TCP is: loss shows on them only as latency.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use trio::testing::sim::{Latency, Link};
/// let lossy = Link::new()
///     .latency(Latency::Uniform(Duration::from_millis(1), Duration::from_millis(20)))
///     .bandwidth(1_000_000) // bytes per second
///     .loss(0.1)
///     .duplicate(0.01)
///     .reorder(0.2, Duration::from_millis(30));
/// assert_eq!(lossy.loss_rate(), 0.1);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Link {
    latency: Latency,
    bandwidth: Option<u64>,
    loss: f64,
    duplicate: f64,
    reorder: f64,
    reorder_window: Duration,
}

impl Default for Link {
    fn default() -> Link {
        Link::new()
    }
}

impl Link {
    /// A perfect link with 1 ms of latency: no loss, no duplication, no
    /// reordering, unlimited bandwidth.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = trio::testing::sim::Link::new();
    /// assert_eq!(l.loss_rate(), 0.0);
    /// ```
    pub fn new() -> Link {
        Link {
            latency: Latency::Fixed(Duration::from_millis(1)),
            bandwidth: None,
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_window: Duration::ZERO,
        }
    }

    /// Sets the latency.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use trio::testing::sim::{Latency, Link};
    /// let l = Link::new().latency(Latency::Fixed(Duration::from_millis(40)));
    /// # let _ = l;
    /// ```
    pub fn latency(mut self, latency: Latency) -> Link {
        self.latency = latency;
        self
    }

    /// Limits the bandwidth, in bytes per second: a message of `n` bytes takes
    /// `n / bytes_per_sec` to put on the link, and messages on one connection
    /// queue behind each other.
    ///
    /// # Panics
    ///
    /// If `bytes_per_sec` is 0.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = trio::testing::sim::Link::new().bandwidth(125_000); // 1 Mbit/s
    /// # let _ = l;
    /// ```
    pub fn bandwidth(mut self, bytes_per_sec: u64) -> Link {
        assert!(bytes_per_sec > 0, "Link::bandwidth: 0 bytes per second");
        self.bandwidth = Some(bytes_per_sec);
        self
    }

    /// The chance (0 to 1) that a datagram is lost.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = trio::testing::sim::Link::new().loss(0.5);
    /// assert_eq!(l.loss_rate(), 0.5);
    /// ```
    pub fn loss(mut self, p: f64) -> Link {
        self.loss = p.clamp(0.0, 1.0);
        self
    }

    /// The chance of losing a datagram.
    ///
    /// # Examples
    ///
    /// See [`loss`](Self::loss).
    pub fn loss_rate(&self) -> f64 {
        self.loss
    }

    /// The chance (0 to 1) that a datagram arrives twice.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = trio::testing::sim::Link::new().duplicate(0.1);
    /// # let _ = l;
    /// ```
    pub fn duplicate(mut self, p: f64) -> Link {
        self.duplicate = p.clamp(0.0, 1.0);
        self
    }

    /// The chance (0 to 1) that a datagram is held back by up to `window` more
    /// than its latency, so that later ones overtake it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let l = trio::testing::sim::Link::new().reorder(0.3, Duration::from_millis(10));
    /// # let _ = l;
    /// ```
    pub fn reorder(mut self, p: f64, window: Duration) -> Link {
        self.reorder = p.clamp(0.0, 1.0);
        self.reorder_window = window;
        self
    }

    pub(super) fn sample_latency(&self, rng: &mut fastrand::Rng) -> Duration {
        match self.latency {
            Latency::Fixed(d) => d,
            Latency::Uniform(a, b) => {
                let (a, b) = (a.as_nanos() as u64, b.as_nanos() as u64);
                Duration::from_nanos(if b > a { rng.u64(a..=b) } else { a })
            }
            Latency::Exponential(base, mean) => {
                // Inverse transform: -ln(U) * mean, U in (0, 1].
                let u = 1.0 - rng.f64();
                base + mean.mul_f64(-u.ln())
            }
        }
    }

    pub(super) fn transmit_time(&self, len: usize) -> Duration {
        match self.bandwidth {
            Some(bw) => Duration::from_nanos((len as u128 * 1_000_000_000 / bw as u128) as u64),
            None => Duration::ZERO,
        }
    }
}

/// What a datagram's fate was drawn to be.
pub(super) struct DatagramFate {
    pub(super) copies: Vec<Duration>,
    pub(super) lost: bool,
}

/// One simulated host.
pub(super) struct Host {
    pub(super) name: String,
    pub(super) ip: Ipv4Addr,
    pub(super) up: bool,
    pub(super) incarnation: u32,
    pub(super) main: Option<super::HostMain>,
    pub(super) scope: Option<CancelScope>,
    pub(super) listeners: BTreeMap<u16, Rc<ListenQueue>>,
    pub(super) dgrams: BTreeMap<u16, Rc<DgramQueue>>,
    /// Both directions of every connection the host holds an end of.
    pub(super) conns: Vec<Weak<Pipe>>,
    next_port: u16,
}

/// Counters of what the network carried.
///
/// # Examples
///
/// ```
/// let s = trio::testing::sim::NetStatistics::default();
/// assert_eq!(s.messages_sent, 0);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetStatistics {
    /// Stream segments and datagrams sent (each duplicate counts once more).
    pub messages_sent: u64,
    /// Messages that reached a receiver's queue.
    pub messages_delivered: u64,
    /// Datagrams lost (drawn loss, a cut link, nobody bound at the port).
    pub datagrams_lost: u64,
    /// Datagrams sent twice.
    pub datagrams_duplicated: u64,
    /// Connections established.
    pub connections: u64,
    /// Connections refused (no host up at the address, or nothing listening).
    pub connections_refused: u64,
    /// Connections reset (by a crash, or [`Net::reset_connections`]).
    pub connections_reset: u64,
}

pub(super) struct NetState {
    pub(super) rng: fastrand::Rng,
    pub(super) hosts: Vec<Host>,
    by_name: BTreeMap<String, usize>,
    by_ip: BTreeMap<Ipv4Addr, usize>,
    default_link: Link,
    links: BTreeMap<(usize, usize), Link>,
    cut: BTreeSet<(usize, usize)>,
    pub(super) stats: NetStatistics,
    pub(super) trace: Trace,
}

/// The simulated network of one [`Sim`](super::Sim): its links and partitions,
/// scriptable from the test (a cheap handle: clones share the network).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use trio::testing::sim::{self, Latency, Link};
/// sim::Config::new(1).run(async |sim| {
///     sim.add_host("a")?;
///     sim.add_host("b")?;
///     sim.net().set_link("a", "b", Link::new().latency(Latency::Fixed(Duration::from_millis(30))))?;
///     sim.net().partition(&["a"], &["b"])?;
///     sim.net().heal();
///     Ok(())
/// }).result.unwrap();
/// ```
#[derive(Clone)]
pub struct Net {
    pub(super) state: Rc<RefCell<NetState>>,
    /// Tasks waiting for a partition to heal.
    pub(super) healed: Rc<ParkingLot>,
    pub(super) heals: Rc<Cell<u64>>,
}

impl fmt::Debug for Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.state.borrow();
        f.debug_struct("Net")
            .field("hosts", &s.hosts.len())
            .field("cut_links", &(s.cut.len() / 2))
            .field("statistics", &s.stats)
            .finish()
    }
}

impl Net {
    pub(super) fn new(seed: u64, trace: Trace) -> Net {
        Net {
            state: Rc::new(RefCell::new(NetState {
                rng: fastrand::Rng::with_seed(seed ^ 0x005e_ed0f_5140),
                hosts: Vec::new(),
                by_name: BTreeMap::new(),
                by_ip: BTreeMap::new(),
                default_link: Link::new(),
                links: BTreeMap::new(),
                cut: BTreeSet::new(),
                stats: NetStatistics::default(),
                trace,
            })),
            healed: Rc::new(ParkingLot::with_name("sim: partition heal")),
            heals: Rc::new(Cell::new(0)),
        }
    }

    /// Sets the link every pair of hosts has unless [`set_link`](Self::set_link)
    /// gave it another.
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::testing::sim::Config::new(1).run(async |sim| {
    /// sim.net().set_default_link(trio::testing::sim::Link::new().loss(0.01));
    /// # Ok(()) }).result.unwrap();
    /// ```
    pub fn set_default_link(&self, link: Link) {
        self.state.borrow_mut().default_link = link;
    }

    /// Sets the link between hosts `a` and `b` (both directions).
    ///
    /// # Errors
    ///
    /// `InvalidInput` naming a host that does not exist.
    ///
    /// # Examples
    ///
    /// See [`Net`].
    pub fn set_link(&self, a: &str, b: &str, link: Link) -> Result<()> {
        let mut s = self.state.borrow_mut();
        let (a, b) = (s.host_id(a)?, s.host_id(b)?);
        s.links.insert((a, b), link.clone());
        s.links.insert((b, a), link);
        Ok(())
    }

    /// Cuts every link between a host of `side_a` and a host of `side_b`:
    /// datagrams across are lost, connections across cannot be opened (a
    /// connect waits, as TCP retrying its SYN would), and bytes on established
    /// connections across wait for the heal. Links within a side, and hosts on
    /// neither side, are unaffected.
    ///
    /// # Errors
    ///
    /// `InvalidInput` naming a host that does not exist.
    ///
    /// # Examples
    ///
    /// See [`Net`].
    pub fn partition(&self, side_a: &[&str], side_b: &[&str]) -> Result<()> {
        let mut s = self.state.borrow_mut();
        let a: Vec<usize> = side_a.iter().map(|h| s.host_id(h)).collect::<Result<_>>()?;
        let b: Vec<usize> = side_b.iter().map(|h| s.host_id(h)).collect::<Result<_>>()?;
        for &x in &a {
            for &y in &b {
                if x != y {
                    s.cut.insert((x, y));
                    s.cut.insert((y, x));
                }
            }
        }
        s.record(format!("partition {side_a:?} | {side_b:?}"));
        Ok(())
    }

    /// Heals every partition: stalled connections go on, new ones can open.
    ///
    /// # Examples
    ///
    /// See [`Net`].
    pub fn heal(&self) {
        {
            let mut s = self.state.borrow_mut();
            s.cut.clear();
            s.record("heal".to_string());
        }
        self.heals.set(self.heals.get() + 1);
        self.healed.unpark_all();
    }

    /// Resets every connection `host` holds: both ends see a connection reset.
    ///
    /// # Errors
    ///
    /// `InvalidInput` naming a host that does not exist.
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::testing::sim::Config::new(1).run(async |sim| {
    /// sim.add_host("a")?;
    /// sim.net().reset_connections("a")?;
    /// # Ok(()) }).result.unwrap();
    /// ```
    pub fn reset_connections(&self, host: &str) -> Result<()> {
        let id = self.state.borrow().host_id(host)?;
        self.reset_host_connections(id);
        Ok(())
    }

    /// What the network has carried so far.
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::testing::sim::Config::new(1).run(async |sim| {
    /// assert_eq!(sim.net().statistics().connections, 0);
    /// # Ok(()) }).result.unwrap();
    /// ```
    pub fn statistics(&self) -> NetStatistics {
        self.state.borrow().stats
    }

    pub(super) fn reset_host_connections(&self, id: usize) {
        let conns = std::mem::take(&mut self.state.borrow_mut().hosts[id].conns);
        let mut n = 0;
        for pipe in conns.iter().filter_map(Weak::upgrade) {
            if !pipe.reset.replace(true) {
                n += 1;
            }
            pipe.lot.unpark_all();
        }
        let mut s = self.state.borrow_mut();
        s.stats.connections_reset += n / 2;
        let name = s.hosts[id].name.clone();
        s.record(format!("reset connections of {name}"));
    }

    /// True if the link from `a` to `b` is cut.
    pub(super) fn is_cut(&self, a: usize, b: usize) -> bool {
        self.state.borrow().cut.contains(&(a, b))
    }

    /// Waits until a heal after `seen` heals (returns at once if one happened).
    pub(super) async fn wait_heal(&self, seen: u64) -> Result<()> {
        if self.heals.get() == seen {
            self.healed.park().await?;
        }
        Ok(())
    }
}

impl NetState {
    pub(super) fn record(&mut self, what: String) {
        self.trace.push(what);
    }

    pub(super) fn host_id(&self, name: &str) -> Result<usize> {
        self.by_name.get(name).copied().ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidInput,
                format!("no simulated host is called {name:?}"),
            )
        })
    }

    pub(super) fn add_host(&mut self, name: &str) -> Result<Ipv4Addr> {
        if self.by_name.contains_key(name) {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!("a simulated host is already called {name:?}"),
            ));
        }
        let n = self.hosts.len() + 1;
        if n > 0xFF_FFFE {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "too many simulated hosts",
            ));
        }
        let ip = Ipv4Addr::from(0x0A00_0000 | n as u32); // 10.0.0.1, 10.0.0.2, ...
        self.hosts.push(Host {
            name: name.to_string(),
            ip,
            up: true,
            incarnation: 0,
            main: None,
            scope: None,
            listeners: BTreeMap::new(),
            dgrams: BTreeMap::new(),
            conns: Vec::new(),
            next_port: 49152,
        });
        self.by_name.insert(name.to_string(), n - 1);
        self.by_ip.insert(ip, n - 1);
        Ok(ip)
    }

    /// The host an address reaches, seen from host `from` (loopback reaches
    /// `from` itself).
    pub(super) fn host_at(&self, from: usize, ip: Ipv4Addr) -> Option<usize> {
        if ip.is_loopback() {
            Some(from)
        } else {
            self.by_ip.get(&ip).copied()
        }
    }

    pub(super) fn link(&self, a: usize, b: usize) -> &Link {
        self.links.get(&(a, b)).unwrap_or(&self.default_link)
    }

    pub(super) fn latency(&mut self, a: usize, b: usize) -> Duration {
        let link = self
            .links
            .get(&(a, b))
            .unwrap_or(&self.default_link)
            .clone();
        link.sample_latency(&mut self.rng)
    }

    /// Draws what happens to one datagram from `a` to `b`: the delay of each
    /// copy that arrives (none if lost).
    pub(super) fn datagram_fate(&mut self, a: usize, b: usize, len: usize) -> DatagramFate {
        let link = self.link(a, b).clone();
        let cut = self.cut.contains(&(a, b));
        let dup = link.duplicate > 0.0 && self.rng.f64() < link.duplicate;
        let mut copies = Vec::new();
        let mut lost = false;
        for _ in 0..(1 + dup as usize) {
            if cut || (link.loss > 0.0 && self.rng.f64() < link.loss) {
                lost = true;
                continue;
            }
            let mut d = link.sample_latency(&mut self.rng) + link.transmit_time(len);
            if link.reorder > 0.0 && self.rng.f64() < link.reorder {
                d += link.reorder_window.mul_f64(self.rng.f64());
            }
            copies.push(d);
        }
        if dup {
            self.stats.datagrams_duplicated += 1;
        }
        DatagramFate { copies, lost }
    }

    pub(super) fn ephemeral_port(&mut self, host: usize) -> u16 {
        let h = &mut self.hosts[host];
        loop {
            let p = h.next_port;
            h.next_port = if p == u16::MAX { 49152 } else { p + 1 };
            if !h.listeners.contains_key(&p) && !h.dgrams.contains_key(&p) {
                return p;
            }
        }
    }

    pub(super) fn addr(&self, host: usize, port: u16) -> SocketAddr {
        SocketAddr::V4(SocketAddrV4::new(self.hosts[host].ip, port))
    }

    pub(super) fn name(&self, host: usize) -> &str {
        &self.hosts[host].name
    }

    pub(super) fn by_name(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }
}
