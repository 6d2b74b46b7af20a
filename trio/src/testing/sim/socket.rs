//! Simulated sockets: what `trio::net` gets from the socket factory and the
//! resolver a simulation installs. Streams (TCP) are reliable and ordered;
//! datagrams (UDP) may be lost, duplicated and reordered; everything arrives
//! after its link's latency, on the mock clock.
//!
//! # Invariants
//!
//! * A receive takes bytes only after its last wait: cancelled while waiting, it
//!   took nothing (nothing is lost). A send is a checkpoint first, then queues
//!   the bytes at once (sends never block: the receiver's queue is unbounded).
//! * A stream's segments are delivered in order: each is due no earlier than
//!   the one before it. A segment due across a cut link waits for the heal.
//! * Every operation first checks that the socket's host has not crashed since
//!   the socket was made (see `net.rs`).

use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr};
use std::rc::Rc;

use socket2::{Domain, Protocol, SockAddr, Type};

use super::HOST;
use super::net::Net;
use crate::lowlevel::{ParkingLot, checkpoint};
use crate::net::socket::{
    AddrInfo, AddrInfoHints, BoxFuture, CustomSocket, GaiError, HostnameResolver, Socket,
    SocketFactory,
};
use crate::{Error, Instant, Result};

fn io_err(kind: io::ErrorKind, msg: String) -> Error {
    Error::from(io::Error::new(kind, msg))
}

fn v4(addr: &SockAddr) -> Result<SocketAddr> {
    match addr.as_socket() {
        Some(a @ SocketAddr::V4(_)) => Ok(a),
        _ => Err(io_err(
            io::ErrorKind::Unsupported,
            format!("{addr:?}: the simulated network has IPv4 addresses only"),
        )),
    }
}

fn ipv4(a: SocketAddr) -> Ipv4Addr {
    match a.ip() {
        IpAddr::V4(ip) => ip,
        IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
    }
}

/// One segment of a stream; an empty one with `fin` is the end.
struct Segment {
    due: Instant,
    data: Vec<u8>,
    taken: usize,
    fin: bool,
}

/// One direction of a connection.
pub(super) struct Pipe {
    from: usize,
    to: usize,
    segments: RefCell<VecDeque<Segment>>,
    last_due: Cell<Instant>,
    /// When the link is free of this pipe's earlier segments (bandwidth).
    free_at: Cell<Instant>,
    fin_sent: Cell<bool>,
    pub(super) reset: Cell<bool>,
    pub(super) lot: ParkingLot,
}

impl Pipe {
    fn new(from: usize, to: usize) -> Rc<Pipe> {
        Rc::new(Pipe {
            from,
            to,
            segments: RefCell::default(),
            last_due: Cell::new(Instant::ZERO),
            free_at: Cell::new(Instant::ZERO),
            fin_sent: Cell::new(false),
            reset: Cell::new(false),
            lot: ParkingLot::with_name("sim: stream receive"),
        })
    }

    fn push(&self, net: &Net, data: Vec<u8>, fin: bool) {
        let now = crate::current_time();
        let due = {
            let mut s = net.state.borrow_mut();
            let lat = s.latency(self.from, self.to);
            let tx = s.link(self.from, self.to).transmit_time(data.len());
            s.stats.messages_sent += 1;
            let sent = now.max(self.free_at.get()) + tx;
            self.free_at.set(sent);
            let due = (sent + lat).max(self.last_due.get());
            let what = if fin {
                format!("fin {} -> {}", s.name(self.from), s.name(self.to))
            } else {
                format!(
                    "send {} -> {}: {} bytes",
                    s.name(self.from),
                    s.name(self.to),
                    data.len()
                )
            };
            s.record(what);
            due
        };
        self.last_due.set(due);
        self.segments.borrow_mut().push_back(Segment {
            due,
            data,
            taken: 0,
            fin,
        });
        self.lot.unpark_all();
    }
}

/// The accept queue of a listening socket.
pub(super) struct ListenQueue {
    pending: RefCell<VecDeque<(SimSocket, SocketAddr)>>,
    lot: ParkingLot,
}

/// A datagram on its way: due time, sequence number (ties), bytes, sender;
/// ordered for a min-heap on (due, sequence).
type Datagram = Reverse<(Instant, u64, Vec<u8>, SocketAddr)>;

/// The receive queue of a datagram socket, ordered by arrival time.
pub(super) struct DgramQueue {
    queue: RefCell<BinaryHeap<Datagram>>,
    next: Cell<u64>,
    lot: ParkingLot,
}

enum State {
    Fresh(Option<SocketAddr>),
    Listening(Rc<ListenQueue>, SocketAddr),
    Connected {
        rx: Rc<Pipe>,
        tx: Rc<Pipe>,
        local: SocketAddr,
        peer: SocketAddr,
    },
    Dgram(Rc<DgramQueue>, SocketAddr, Option<SocketAddr>),
    Closed,
}

/// A socket on a simulated host.
pub(super) struct SimSocket {
    net: Net,
    host: usize,
    incarnation: u32,
    ty: Type,
    state: RefCell<State>,
}

impl fmt::Debug for SimSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.net.state.borrow();
        let what = match &*self.state.borrow() {
            State::Fresh(_) => "fresh".to_string(),
            State::Listening(_, a) => format!("listening on {a}"),
            State::Connected { local, peer, .. } => format!("{local} -> {peer}"),
            State::Dgram(_, a, _) => format!("datagrams on {a}"),
            State::Closed => "closed".to_string(),
        };
        write!(f, "SimSocket({} {what})", s.name(self.host))
    }
}

impl SimSocket {
    fn check_alive(&self) -> Result<()> {
        let s = self.net.state.borrow();
        let h = &s.hosts[self.host];
        if h.incarnation != self.incarnation {
            return Err(io_err(
                io::ErrorKind::ConnectionReset,
                format!("host {} crashed: its sockets are gone", h.name),
            ));
        }
        Ok(())
    }

    fn bound(&self) -> Option<SocketAddr> {
        match &*self.state.borrow() {
            State::Fresh(a) => *a,
            State::Listening(_, a) | State::Dgram(_, a, _) => Some(*a),
            State::Connected { local, .. } => Some(*local),
            State::Closed => None,
        }
    }

    /// Binds to a port of its host (0: an ephemeral one), checking it is free.
    fn bind_port(&self, port: u16) -> Result<SocketAddr> {
        let mut s = self.net.state.borrow_mut();
        let port = if port == 0 {
            s.ephemeral_port(self.host)
        } else {
            let h = &s.hosts[self.host];
            let taken = if self.ty == Type::DGRAM {
                h.dgrams.contains_key(&port)
            } else {
                h.listeners.contains_key(&port)
            };
            if taken {
                return Err(io_err(
                    io::ErrorKind::AddrInUse,
                    format!(
                        "{}: address already in use on host {}",
                        s.addr(self.host, port),
                        h.name
                    ),
                ));
            }
            port
        };
        Ok(s.addr(self.host, port))
    }

    fn dgram_queue(&self) -> Result<(Rc<DgramQueue>, SocketAddr)> {
        let mut st = self.state.borrow_mut();
        match &*st {
            State::Dgram(q, a, _) => return Ok((q.clone(), *a)),
            State::Fresh(_) => {}
            _ => {
                return Err(io_err(
                    io::ErrorKind::InvalidInput,
                    "not a datagram socket".into(),
                ));
            }
        }
        let addr = self.bind_port(0)?;
        let q = register_dgram(&self.net, self.host, addr.port());
        *st = State::Dgram(q.clone(), addr, None);
        Ok((q, addr))
    }

    fn connected(&self) -> Result<(Rc<Pipe>, Rc<Pipe>)> {
        match &*self.state.borrow() {
            State::Connected { rx, tx, .. } => Ok((rx.clone(), tx.clone())),
            State::Closed => Err(io_err(io::ErrorKind::NotConnected, "socket closed".into())),
            _ => Err(io_err(
                io::ErrorKind::NotConnected,
                "socket not connected".into(),
            )),
        }
    }

    async fn connect_stream(&self, to: SocketAddr) -> Result<()> {
        checkpoint().await?;
        self.check_alive()?;
        let net = &self.net;
        let dst = net.state.borrow().host_at(self.host, ipv4(to));
        let Some(dst) = dst else {
            let lat = net.state.borrow_mut().latency(self.host, self.host);
            crate::sleep(lat).await?;
            return Err(io_err(
                io::ErrorKind::HostUnreachable,
                format!("{to}: no simulated host has this address"),
            ));
        };
        // The SYN: across a cut link it is retried until the link heals.
        loop {
            let heals = net.heals.get();
            if !net.is_cut(self.host, dst) {
                break;
            }
            net.wait_heal(heals).await?;
        }
        let lat = net.state.borrow_mut().latency(self.host, dst);
        crate::sleep(lat).await?;
        let local = match self.bound() {
            Some(a) => a,
            None => self.bind_port(0)?,
        };
        let listener = {
            let s = net.state.borrow();
            let h = &s.hosts[dst];
            if h.up {
                h.listeners.get(&to.port()).cloned()
            } else {
                None
            }
        };
        let Some(listener) = listener else {
            {
                let mut s = net.state.borrow_mut();
                s.stats.connections_refused += 1;
                let what = format!("refused {} -> {to}", s.name(self.host));
                s.record(what);
            }
            crate::sleep(lat).await?;
            return Err(io_err(
                io::ErrorKind::ConnectionRefused,
                format!("{to}: connection refused (nothing listening on that simulated host)"),
            ));
        };
        let (up, down) = (Pipe::new(self.host, dst), Pipe::new(dst, self.host));
        let server_incarnation = {
            let mut s = net.state.borrow_mut();
            s.hosts[self.host]
                .conns
                .extend([Rc::downgrade(&up), Rc::downgrade(&down)]);
            s.hosts[dst]
                .conns
                .extend([Rc::downgrade(&up), Rc::downgrade(&down)]);
            s.stats.connections += 1;
            let what = format!("connect {} -> {}", s.name(self.host), s.name(dst));
            s.record(what);
            s.hosts[dst].incarnation
        };
        let server_end = SimSocket {
            net: net.clone(),
            host: dst,
            incarnation: server_incarnation,
            ty: Type::STREAM,
            state: RefCell::new(State::Connected {
                rx: up.clone(),
                tx: down.clone(),
                local: to,
                peer: local,
            }),
        };
        listener.pending.borrow_mut().push_back((server_end, local));
        listener.lot.unpark_all();
        // Connected from the client's side once the SYN-ACK is back; cancelled
        // meanwhile, the server still got a connection, which ends (a FIN).
        let mine = State::Connected {
            rx: down,
            tx: up,
            local,
            peer: to,
        };
        if let Err(e) = crate::sleep(lat).await {
            if let State::Connected { tx, .. } = &mine {
                tx.push(&self.net, Vec::new(), true);
            }
            return Err(e);
        }
        *self.state.borrow_mut() = mine;
        Ok(())
    }

    async fn recv_stream(&self, buf: &mut [u8]) -> Result<usize> {
        checkpoint().await?;
        let (rx, _) = self.connected()?;
        loop {
            self.check_alive()?;
            if rx.reset.get() {
                return Err(io_err(
                    io::ErrorKind::ConnectionReset,
                    "connection reset by peer".into(),
                ));
            }
            let head = rx.segments.borrow().front().map(|s| (s.due, s.fin));
            let Some((due, fin)) = head else {
                rx.lot.park().await?;
                continue;
            };
            let now = crate::current_time();
            if due > now {
                crate::move_on_at(due, async { rx.lot.park().await }).await?;
                continue;
            }
            let heals = self.net.heals.get();
            if self.net.is_cut(rx.from, rx.to) {
                self.net.wait_heal(heals).await?;
                continue;
            }
            if fin {
                return Ok(0);
            }
            if buf.is_empty() {
                return Ok(0);
            }
            let mut segs = rx.segments.borrow_mut();
            let seg = segs.front_mut().expect("head seen above");
            let n = buf.len().min(seg.data.len() - seg.taken);
            buf[..n].copy_from_slice(&seg.data[seg.taken..seg.taken + n]);
            seg.taken += n;
            if seg.taken == seg.data.len() {
                segs.pop_front();
                let mut s = self.net.state.borrow_mut();
                s.stats.messages_delivered += 1;
            }
            return Ok(n);
        }
    }

    async fn send_stream(&self, buf: &[u8]) -> Result<usize> {
        checkpoint().await?;
        self.check_alive()?;
        let (rx, tx) = self.connected()?;
        if tx.reset.get() || rx.reset.get() {
            return Err(io_err(
                io::ErrorKind::ConnectionReset,
                "connection reset by peer".into(),
            ));
        }
        if tx.fin_sent.get() {
            return Err(io_err(
                io::ErrorKind::BrokenPipe,
                "the sending side was shut down".into(),
            ));
        }
        tx.push(&self.net, buf.to_vec(), false);
        Ok(buf.len())
    }

    async fn send_dgram(&self, buf: &[u8], to: SocketAddr) -> Result<usize> {
        checkpoint().await?;
        self.check_alive()?;
        let (_, from) = self.dgram_queue()?;
        let net = &self.net;
        let now = crate::current_time();
        let mut s = net.state.borrow_mut();
        s.stats.messages_sent += 1;
        let Some(dst) = s.host_at(self.host, ipv4(to)) else {
            s.stats.datagrams_lost += 1;
            return Ok(buf.len());
        };
        let fate = s.datagram_fate(self.host, dst, buf.len());
        let q = if s.hosts[dst].up {
            s.hosts[dst].dgrams.get(&to.port()).cloned()
        } else {
            None
        };
        let what = format!(
            "datagram {} -> {}: {} bytes, {} cop{}{}",
            s.name(self.host),
            s.name(dst),
            buf.len(),
            fate.copies.len(),
            if fate.copies.len() == 1 { "y" } else { "ies" },
            if fate.lost { " (lost)" } else { "" }
        );
        s.record(what);
        if fate.lost {
            s.stats.datagrams_lost += 1;
        }
        let Some(q) = q else {
            s.stats.datagrams_lost += fate.copies.len() as u64;
            return Ok(buf.len());
        };
        drop(s);
        for d in fate.copies {
            let seq = q.next.get();
            q.next.set(seq + 1);
            let due = now + d;
            q.queue
                .borrow_mut()
                .push(Reverse((due, seq, buf.to_vec(), from)));
        }
        q.lot.unpark_all();
        Ok(buf.len())
    }

    async fn recv_dgram(&self, buf: &mut [u8]) -> Result<(usize, SocketAddr)> {
        checkpoint().await?;
        let (q, _) = self.dgram_queue()?;
        loop {
            self.check_alive()?;
            let head = q.queue.borrow().peek().map(|d| d.0.0);
            let Some(due) = head else {
                q.lot.park().await?;
                continue;
            };
            if due > crate::current_time() {
                crate::move_on_at(due, async { q.lot.park().await }).await?;
                continue;
            }
            let Reverse((_, _, data, from)) = q.queue.borrow_mut().pop().expect("seen above");
            self.net.state.borrow_mut().stats.messages_delivered += 1;
            let n = buf.len().min(data.len());
            buf[..n].copy_from_slice(&data[..n]);
            return Ok((n, from));
        }
    }
}

fn register_dgram(net: &Net, host: usize, port: u16) -> Rc<DgramQueue> {
    let q = Rc::new(DgramQueue {
        queue: RefCell::default(),
        next: Cell::new(0),
        lot: ParkingLot::with_name("sim: datagram receive"),
    });
    net.state.borrow_mut().hosts[host]
        .dgrams
        .insert(port, q.clone());
    q
}

impl CustomSocket for SimSocket {
    fn domain(&self) -> Domain {
        Domain::IPV4
    }

    fn ty(&self) -> Type {
        self.ty
    }

    fn bind(&self, addr: &SockAddr) -> Result<()> {
        self.check_alive()?;
        let a = v4(addr)?;
        let ip = ipv4(a);
        let own = self.net.state.borrow().hosts[self.host].ip;
        if !(ip.is_unspecified() || ip.is_loopback() || ip == own) {
            return Err(io_err(
                io::ErrorKind::AddrNotAvailable,
                format!("{a}: not an address of this simulated host ({own})"),
            ));
        }
        if !matches!(&*self.state.borrow(), State::Fresh(None)) {
            return Err(io_err(
                io::ErrorKind::InvalidInput,
                format!("{a}: socket already bound"),
            ));
        }
        let bound = self.bind_port(a.port())?;
        *self.state.borrow_mut() = if self.ty == Type::DGRAM {
            State::Dgram(
                register_dgram(&self.net, self.host, bound.port()),
                bound,
                None,
            )
        } else {
            State::Fresh(Some(bound))
        };
        Ok(())
    }

    fn listen(&self, _backlog: i32) -> Result<()> {
        self.check_alive()?;
        let addr = match self.bound() {
            Some(a) => a,
            None => self.bind_port(0)?,
        };
        let q = Rc::new(ListenQueue {
            pending: RefCell::default(),
            lot: ParkingLot::with_name("sim: accept"),
        });
        self.net.state.borrow_mut().hosts[self.host]
            .listeners
            .insert(addr.port(), q.clone());
        *self.state.borrow_mut() = State::Listening(q, addr);
        Ok(())
    }

    fn connect<'a>(&'a self, addr: &'a SockAddr) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            if self.ty == Type::DGRAM {
                checkpoint().await?;
                return self.connect_datagram(addr);
            }
            self.connect_stream(v4(addr)?).await
        })
    }

    fn connect_datagram(&self, addr: &SockAddr) -> Result<()> {
        let to = v4(addr)?;
        self.check_alive()?;
        self.dgram_queue()?;
        if let State::Dgram(_, _, peer) = &mut *self.state.borrow_mut() {
            *peer = Some(to);
        }
        Ok(())
    }

    fn accept(&self) -> BoxFuture<'_, Result<(Socket, SockAddr)>> {
        Box::pin(async move {
            checkpoint().await?;
            let q = match &*self.state.borrow() {
                State::Listening(q, _) => q.clone(),
                _ => {
                    return Err(io_err(
                        io::ErrorKind::InvalidInput,
                        "socket not listening".into(),
                    ));
                }
            };
            loop {
                self.check_alive()?;
                let next = q.pending.borrow_mut().pop_front();
                if let Some((sock, peer)) = next {
                    return Ok((Socket::from_custom(sock), SockAddr::from(peer)));
                }
                q.lot.park().await?;
            }
        })
    }

    fn recv<'a>(&'a self, buf: &'a mut [u8]) -> BoxFuture<'a, Result<usize>> {
        Box::pin(async move {
            if self.ty == Type::DGRAM {
                return Ok(self.recv_dgram(buf).await?.0);
            }
            self.recv_stream(buf).await
        })
    }

    fn send<'a>(&'a self, buf: &'a [u8]) -> BoxFuture<'a, Result<usize>> {
        Box::pin(async move {
            if self.ty == Type::DGRAM {
                let peer = match &*self.state.borrow() {
                    State::Dgram(_, _, p) => *p,
                    _ => None,
                };
                let Some(peer) = peer else {
                    return Err(io_err(
                        io::ErrorKind::NotConnected,
                        "datagram socket not connected".into(),
                    ));
                };
                return self.send_dgram(buf, peer).await;
            }
            self.send_stream(buf).await
        })
    }

    fn recv_from<'a>(&'a self, buf: &'a mut [u8]) -> BoxFuture<'a, Result<(usize, SockAddr)>> {
        Box::pin(async move {
            let (n, from) = self.recv_dgram(buf).await?;
            Ok((n, SockAddr::from(from)))
        })
    }

    fn send_to<'a>(&'a self, buf: &'a [u8], addr: &'a SockAddr) -> BoxFuture<'a, Result<usize>> {
        Box::pin(async move { self.send_dgram(buf, v4(addr)?).await })
    }

    fn shutdown(&self, how: Shutdown) -> Result<()> {
        if matches!(how, Shutdown::Write | Shutdown::Both) {
            let (_, tx) = self.connected()?;
            if !tx.fin_sent.replace(true) {
                tx.push(&self.net, Vec::new(), true);
            }
        }
        Ok(())
    }

    fn local_addr(&self) -> Result<SockAddr> {
        match self.bound() {
            Some(a) => Ok(SockAddr::from(a)),
            None => Ok(SockAddr::from(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)))),
        }
    }

    fn peer_addr(&self) -> Result<SockAddr> {
        match &*self.state.borrow() {
            State::Connected { peer, .. } => Ok(SockAddr::from(*peer)),
            State::Dgram(_, _, Some(p)) => Ok(SockAddr::from(*p)),
            _ => Err(io_err(
                io::ErrorKind::NotConnected,
                "socket not connected".into(),
            )),
        }
    }

    fn set_option(&self, _level: i32, _name: i32, _value: &[u8]) -> Result<()> {
        Ok(()) // options have no meaning on the simulated network
    }

    fn option(&self, level: i32, name: i32, buf: &mut [u8]) -> Result<usize> {
        use crate::sys::socket::opt;
        // Only SO_ACCEPTCONN means something here; every other option reads 0.
        let listening = matches!(&*self.state.borrow(), State::Listening(..));
        let value: i32 =
            (level == opt::SOL_SOCKET && name == opt::SO_ACCEPTCONN && listening).into();
        let bytes = value.to_ne_bytes();
        let n = buf.len().min(bytes.len());
        buf[..n].copy_from_slice(&bytes[..n]);
        Ok(n)
    }

    fn close(&self) {
        let old = std::mem::replace(&mut *self.state.borrow_mut(), State::Closed);
        let mut s = self.net.state.borrow_mut();
        let alive = s.hosts[self.host].incarnation == self.incarnation;
        match old {
            State::Connected { tx, .. } => {
                drop(s);
                if !tx.fin_sent.replace(true) && !tx.reset.get() {
                    tx.push(&self.net, Vec::new(), true);
                }
            }
            State::Listening(q, addr) => {
                if alive {
                    s.hosts[self.host].listeners.remove(&addr.port());
                }
                drop(s);
                // Connections never accepted: their clients see the end.
                for (sock, _) in q.pending.borrow_mut().drain(..) {
                    sock.close();
                }
            }
            State::Dgram(_, addr, _) => {
                if alive {
                    s.hosts[self.host].dgrams.remove(&addr.port());
                }
            }
            State::Fresh(_) | State::Closed => {}
        }
    }
}

impl Drop for SimSocket {
    fn drop(&mut self) {
        self.close();
    }
}

/// Makes [`SimSocket`]s for the task's host.
#[derive(Debug)]
pub(super) struct Factory(pub(super) Net);

impl SocketFactory for Factory {
    fn socket(&self, domain: Domain, ty: Type, _protocol: Option<Protocol>) -> Result<Socket> {
        let Some(host) = HOST.get() else {
            return Err(Error::new(
                crate::ErrorKind::Usage,
                "a socket was opened outside every simulated host: run the code under \
                 Sim::host or Sim::on",
            ));
        };
        if domain != Domain::IPV4 {
            // The simulated network has IPv4 addresses only: as on a system
            // without IPv6 (listeners on every address then skip it).
            return Err(Error::from(io::Error::from_raw_os_error(
                libc::EAFNOSUPPORT,
            )));
        }
        if ty != Type::STREAM && ty != Type::DGRAM {
            return Err(io_err(
                io::ErrorKind::Unsupported,
                format!("{ty:?} sockets are not simulated"),
            ));
        }
        let incarnation = self.0.state.borrow().hosts[host].incarnation;
        Ok(Socket::from_custom(SimSocket {
            net: self.0.clone(),
            host,
            incarnation,
            ty,
            state: RefCell::new(State::Fresh(None)),
        }))
    }
}

/// Resolves host names to their simulated addresses.
#[derive(Debug)]
pub(super) struct Resolver(pub(super) Net);

impl HostnameResolver for Resolver {
    fn getaddrinfo<'a>(
        &'a self,
        host: Option<&'a str>,
        port: u16,
        hints: AddrInfoHints,
    ) -> BoxFuture<'a, Result<Vec<AddrInfo>>> {
        Box::pin(async move {
            checkpoint().await?;
            let passive = hints.flags & crate::sys::resolve::gai::AI_PASSIVE != 0;
            let ip = match host {
                None if passive => Some(Ipv4Addr::UNSPECIFIED),
                None | Some("localhost") => Some(Ipv4Addr::LOCALHOST),
                Some(h) => match h.parse::<IpAddr>() {
                    Ok(IpAddr::V4(ip)) => Some(ip),
                    Ok(IpAddr::V6(_)) => None,
                    Err(_) => {
                        let s = self.0.state.borrow();
                        s.by_name(h).map(|id| s.hosts[id].ip)
                    }
                },
            };
            let Some(ip) = ip else {
                return Err(Error::from(io::Error::new(
                    io::ErrorKind::NotFound,
                    GaiError::new(crate::sys::resolve::gai::EAI_NONAME),
                ))
                .context(
                    crate::ErrorKind::Io,
                    format!("{}: no simulated host has this name", host.unwrap_or("")),
                ));
            };
            let addr = SocketAddr::from((ip, port));
            let mut out = Vec::new();
            for ty in [Type::STREAM, Type::DGRAM] {
                if hints.ty.is_none_or(|t| t == ty) {
                    let proto = if ty == Type::STREAM {
                        Protocol::TCP
                    } else {
                        Protocol::UDP
                    };
                    out.push(AddrInfo::new(addr, ty, Some(proto)));
                }
            }
            Ok(out)
        })
    }
}
