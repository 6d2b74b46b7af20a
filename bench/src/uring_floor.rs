//! `uring-floor` and `uring-floor-ms`: `tcp_echo` with no runtime at all — what
//! the kernel's TCP work plus io_uring costs, and so the floor under every
//! io_uring runtime on the machine.
//!
//! One thread, one ring, plain `std::net` sockets, the same 64 connections,
//! message and round trips as every runtime's `tcp_echo`. No tasks, futures,
//! wakers, timers or reactor: each connection is a few counters, and the loop is
//! "submit what is due and wait for one completion, then handle every completion
//! there is" — one `io_uring_enter` per batch, as a runtime's reactor makes at
//! best. Two ways to receive:
//!
//! - `uring-floor`: one receive per call into the connection's own buffer, and a
//!   client receives once its send is done — the operations a runtime submits
//!   for this workload (trio's reactor does exactly this), so the gap between a
//!   runtime and this floor is that runtime's own cost.
//! - `uring-floor-ms`: one multishot receive armed per socket for its whole
//!   life, taking buffers from a pool provided to the kernel (each is copied out
//!   and handed back at once): no receive to submit per message, what a runtime
//!   built around buffer pools could do at best.
//!
//! Buffers: each connection owns a boxed buffer, and the pool lives as long as
//! the ring. A connection's buffer is freed only once no operation on it is in
//! flight, and nothing unwinds while one is: an unexpected result ends the
//! process (`fail`), and so does a panic (`AbortOnPanic`), which takes the ring
//! down with the memory it points into.

use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

use io_uring::{IoUring, cqueue, opcode, squeue, types};

use crate::bare_ring::AbortOnPanic;
use crate::harness::{Meter, Sample};
use crate::params::*;

/// Where a client's message sits in its buffer; its echo is received after it.
const OUT: std::ops::Range<usize> = 0..ECHO_MSG;
const ECHO: usize = ECHO_MSG;
/// Buffers in the multishot pool, `ECHO_BUF` bytes each.
const POOL_BUFS: u16 = 512;
/// `user_data`: the connection's index, plus `RECV` for a receive; `PROVIDE`
/// for a buffer handed back to the pool.
const RECV: u64 = 1 << 32;
const PROVIDE: u64 = u64::MAX;

/// Measures `tcp_echo` on a bare ring; `None` where io_uring cannot be set up.
pub fn tcp_echo(mut meter: Meter, multishot: bool) -> Option<Sample> {
    // Declared before the ring, so dropped after it: the kernel may write into
    // the pool until the ring is gone.
    let mut pool = vec![0u8; usize::from(POOL_BUFS) * ECHO_BUF].into_boxed_slice();
    let mut ring = match IoUring::new(8 * ECHO_CONNS as u32) {
        Ok(ring) => ring,
        Err(e) => {
            eprintln!("# uring-floor: no io_uring here ({e}); skipped");
            return None;
        }
    };
    let mut floor = Floor {
        ring: &mut ring,
        pool: multishot.then_some(&mut pool[..]),
        conns: Vec::new(),
        batch: Vec::with_capacity(16 * ECHO_CONNS),
    };
    // Declared last, so dropped first when a panic unwinds.
    let _abort = AbortOnPanic;
    if let Some(pool) = floor.pool.as_deref_mut() {
        let e = opcode::ProvideBuffers::new(pool.as_mut_ptr(), ECHO_BUF as i32, POOL_BUFS, 0, 0);
        floor.push(e.build(), PROVIDE);
        let provided = floor.ring.submit_and_wait(1).map(|_| {
            let c = floor.ring.completion().next().expect("a completion");
            c.result()
        });
        if !matches!(provided, Ok(0..)) {
            eprintln!("# uring-floor-ms: the kernel takes no buffer pool ({provided:?}); skipped");
            return None;
        }
    }
    loop {
        let d = floor.one_iteration();
        if !meter.record(d) {
            break;
        }
    }
    Some(meter.sample())
}

struct Conn {
    fd: RawFd,
    /// `Some(id)` for a client, `None` for a server.
    client: Option<usize>,
    /// A client's message at `OUT`, its echo from `ECHO`; a server's bytes to
    /// send back at `0..len`.
    buf: Box<[u8; ECHO_BUF]>,
    /// Bytes of `buf` to send (`0..len`) and sent so far.
    len: usize,
    sent: usize,
    /// A client's echo bytes received this round.
    got: usize,
    round: usize,
    sending: bool,
    receiving: bool,
}

impl Conn {
    /// Where the next bytes received go.
    fn recv_target(&mut self) -> &mut [u8] {
        match self.client {
            Some(_) => &mut self.buf[ECHO + self.got..ECHO + ECHO_MSG],
            None => &mut self.buf[self.len..],
        }
    }
}

struct Floor<'a> {
    ring: &'a mut IoUring,
    /// The multishot pool, or `None` for one receive per call.
    pool: Option<&'a mut [u8]>,
    conns: Vec<Conn>,
    batch: Vec<(u64, i32, u32)>,
}

fn fail(what: &str) -> ! {
    crate::bare_ring::fail("uring-floor", what)
}

impl Floor<'_> {
    fn one_iteration(&mut self) -> Duration {
        // Setup, not timed: connect and accept every connection with blocking calls.
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr: SocketAddr = listener.local_addr().expect("addr");
        let clients: Vec<TcpStream> = (0..ECHO_CONNS)
            .map(|_| TcpStream::connect(addr).expect("connect"))
            .collect();
        let servers: Vec<TcpStream> = (0..ECHO_CONNS)
            .map(|_| listener.accept().expect("accept").0)
            .collect();
        let new_conn = |s: &TcpStream, client| {
            s.set_nodelay(true).expect("nodelay");
            Conn {
                fd: s.as_raw_fd(),
                client,
                buf: Box::new([0; ECHO_BUF]),
                len: 0,
                sent: 0,
                got: 0,
                round: 0,
                sending: false,
                receiving: false,
            }
        };
        self.conns = (clients.iter().enumerate())
            .map(|(id, s)| new_conn(s, Some(id)))
            .chain(servers.iter().map(|s| new_conn(s, None)))
            .collect();

        let t0 = Instant::now();
        for i in 0..self.conns.len() {
            if let Some(id) = self.conns[i].client {
                self.start_round(i, id, 0);
            } else {
                self.receive(i);
            }
            if self.pool.is_some() && self.conns[i].client.is_some() {
                self.receive(i); // armed once, for the socket's life
            }
        }
        let mut finished = 0;
        while finished < ECHO_CONNS {
            finished += self.run_batch();
        }
        let d = t0.elapsed();

        // Shut every client down: each receive still armed completes with the
        // end of the stream, so no operation is in flight when the buffers go.
        for c in &clients {
            c.shutdown(Shutdown::Both).expect("shutdown");
        }
        while self.conns.iter().any(|c| c.sending || c.receiving) {
            self.run_batch();
        }
        self.conns.clear();
        d
    }

    /// Queues client `i`'s message of round `round` for sending.
    fn start_round(&mut self, i: usize, id: usize, round: usize) {
        let c = &mut self.conns[i];
        c.buf[OUT].copy_from_slice(&echo_message(id, round));
        (c.round, c.len, c.sent, c.got) = (round, ECHO_MSG, 0, 0);
        self.send(i);
    }

    fn send(&mut self, i: usize) {
        let c = &mut self.conns[i];
        c.sending = true;
        let rest = &c.buf[c.sent..c.len];
        let e = opcode::Send::new(types::Fd(c.fd), rest.as_ptr(), rest.len() as u32);
        self.push(e.build(), i as u64);
    }

    fn receive(&mut self, i: usize) {
        let c = &mut self.conns[i];
        c.receiving = true;
        let fd = types::Fd(c.fd);
        let e = if self.pool.is_some() {
            opcode::RecvMulti::new(fd, 0)
                .build()
                .flags(squeue::Flags::BUFFER_SELECT)
        } else {
            let to = c.recv_target();
            opcode::Recv::new(fd, to.as_mut_ptr(), to.len() as u32).build()
        };
        self.push(e, RECV | i as u64);
    }

    /// Queues an operation (submitted by the next `run_batch`).
    fn push(&mut self, entry: squeue::Entry, user_data: u64) {
        // Every entry points into a connection's boxed buffer (its address
        // does not move with the `Conn`) or into the pool, which outlives the
        // ring. A connection is dropped only once it has no operation in flight
        // (`one_iteration` waits for that), and nothing unwinds in between
        // (`fail` exits the process, a panic aborts it: `AbortOnPanic`). A
        // connection's one send and one receive in flight cover different
        // bytes (a client's message and its echo; a server's bytes to send and
        // the free space after them).
        // SAFETY: so the memory an entry points into outlives its operation,
        // and nothing else touches it meanwhile.
        let pushed = unsafe { self.ring.submission().push(&entry.user_data(user_data)) };
        if pushed.is_err() {
            fail("submission queue full");
        }
    }

    /// Submits what is due, waits for a completion, handles every completion
    /// there is; returns how many clients finished their rounds.
    fn run_batch(&mut self) -> usize {
        loop {
            match self.ring.submit_and_wait(1) {
                Ok(_) => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => fail(&format!("io_uring_enter: {e}")),
            }
        }
        let mut batch = std::mem::take(&mut self.batch);
        batch.extend(
            self.ring
                .completion()
                .map(|c| (c.user_data(), c.result(), c.flags())),
        );
        let mut finished = 0;
        for (user_data, res, flags) in batch.drain(..) {
            if res < 0 {
                fail(&format!("an operation failed: errno {}", -res));
            }
            let n = res as usize;
            if user_data == PROVIDE {
                continue;
            }
            let i = (user_data & !RECV) as usize;
            if user_data & RECV == 0 {
                self.sent(i, n);
                continue;
            }
            let more = cqueue::more(flags);
            if let Some(pool) = self.pool.as_deref_mut() {
                if n > 0 {
                    let bid = cqueue::buffer_select(flags).expect("a pool buffer");
                    let b = &mut pool[usize::from(bid) * ECHO_BUF..][..ECHO_BUF];
                    self.conns[i].recv_target()[..n].copy_from_slice(&b[..n]);
                    let e = opcode::ProvideBuffers::new(b.as_mut_ptr(), ECHO_BUF as i32, 1, 0, bid);
                    self.push(e.build().flags(squeue::Flags::SKIP_SUCCESS), PROVIDE);
                }
                if n > 0 && !more {
                    fail("a multishot receive ended early (pool empty?)");
                }
            }
            self.conns[i].receiving = more;
            finished += self.received(i, n);
        }
        self.batch = batch;
        finished
    }

    fn sent(&mut self, i: usize, n: usize) {
        let c = &mut self.conns[i];
        c.sending = false;
        c.sent += n;
        if c.sent < c.len {
            return self.send(i);
        }
        if c.client.is_none() {
            (c.len, c.sent) = (0, 0);
        }
        if self.pool.is_none() {
            self.receive(i);
        }
    }

    /// `n` bytes received into `recv_target`; returns 1 if a client finished.
    fn received(&mut self, i: usize, n: usize) -> usize {
        let c = &mut self.conns[i];
        if n == 0 {
            if c.client.is_some() && c.round < ECHO_ROUNDS {
                fail("a client's connection closed early");
            }
            return 0;
        }
        let Some(id) = c.client else {
            c.len += n;
            if !c.sending {
                self.send(i);
            }
            return 0;
        };
        c.got += n;
        if c.got < ECHO_MSG {
            if self.pool.is_none() {
                self.receive(i);
            }
            return 0;
        }
        if c.buf[ECHO..ECHO + ECHO_MSG] != c.buf[OUT] {
            fail("a wrong echo");
        }
        if c.round + 1 == ECHO_ROUNDS {
            c.round = ECHO_ROUNDS;
            return 1;
        }
        let round = c.round + 1;
        self.start_round(i, id, round);
        0
    }
}
