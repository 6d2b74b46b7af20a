//! `tcp_echo` on trio, written the idiomatic trio way: `trio::net::SocketListener`,
//! `open_tcp_stream` and `SocketStream` (`abc::SendStream::send_all`,
//! `abc::ReceiveStream::receive_some`). trio's sockets are registered once with the
//! reactor (edge-triggered, readiness tracked), so an operation waits only when the
//! last one in that direction would have blocked.

use std::cell::Cell;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use trio::abc::{HalfCloseableStream, Listener, ReceiveStream, SendStream};
use trio::net::{LoopListener, SocketListener, SocketStream, open_tcp_stream};
use trio::sync::Event;
use trio::{Result, open_nursery};

use crate::harness::{
    Meter, Sample, TRIO_DETERMINISTIC, TRIO_LOOPS_UNPINNED, TRIO_SCHEDULE_BUDGET,
};
use crate::params::*;

/// Reads exactly `out.len()` bytes. As a Trio program would (`receive_some()`
/// reads up to 64 KiB by default), it receives into a buffer larger than the
/// message: a read that comes back short tells the socket it is drained, so the
/// next read waits for the kernel instead of trying a `recv` that would fail
/// with `EAGAIN`. `buf` is that larger buffer, the caller's for all its rounds
/// (as the peers' echo servers keep theirs).
async fn read_exact(s: &SocketStream, buf: &mut [u8; ECHO_BUF], out: &mut [u8]) -> Result<()> {
    let mut got = 0;
    while got < out.len() {
        let n = s.receive_some(buf).await?;
        assert!(n > 0, "unexpected end of stream");
        assert!(got + n <= out.len(), "the echo sent more than was asked");
        out[got..got + n].copy_from_slice(&buf[..n]);
        got += n;
    }
    Ok(())
}

async fn echo_handler(s: SocketStream) -> Result<()> {
    let mut buf = [0u8; ECHO_BUF];
    loop {
        let n = s.receive_some(&mut buf).await?;
        if n == 0 {
            break;
        }
        s.send_all(&buf[..n]).await?;
    }
    Ok(())
}

async fn serve(listener: &SocketListener) -> Result<()> {
    open_nursery(async |n| {
        for _ in 0..ECHO_CONNS {
            let s = listener.accept().await?; // TCP_NODELAY is on for every SocketStream
            n.start_soon(echo_handler(s))?;
        }
        Ok(())
    })
    .await?;
    Ok(())
}

/// A barrier of `parties` (the clients and the timing task): a counter plus an
/// `Event` set by the last to arrive. `udp_echo` (`trio_udp.rs`) uses it too.
pub(crate) struct Barrier {
    waiting: Cell<usize>,
    parties: usize,
    released: Event,
}

impl Barrier {
    pub(crate) fn new(parties: usize) -> Barrier {
        Barrier {
            waiting: Cell::new(0),
            parties,
            released: Event::new(),
        }
    }

    pub(crate) async fn wait(&self) -> Result<()> {
        self.waiting.set(self.waiting.get() + 1);
        if self.waiting.get() == self.parties {
            self.released.set();
        }
        self.released.wait().await
    }
}

async fn echo_client(
    id: usize,
    addr: SocketAddr,
    barrier: &Barrier,
    rounds: &Cell<usize>,
    finished: &Event,
) -> Result<()> {
    let s = open_tcp_stream("127.0.0.1", addr.port()).await?; // setup: not timed
    barrier.wait().await?;
    let mut buf = [0u8; ECHO_MSG];
    let mut scratch = [0u8; ECHO_BUF];
    for round in 0..ECHO_ROUNDS {
        let msg = echo_message(id, round);
        s.send_all(&msg).await?;
        read_exact(&s, &mut scratch, &mut buf).await?;
        assert_eq!(buf, msg);
    }
    drop(s);
    rounds.set(rounds.get() + ECHO_ROUNDS);
    if rounds.get() == ECHO_CONNS * ECHO_ROUNDS {
        finished.set();
    }
    Ok(())
}

pub async fn tcp_echo() -> Result<Duration> {
    let listener = SocketListener::bind("127.0.0.1:0".parse().expect("an address"))?;
    let addr = listener.local_addr()?;
    let barrier = Barrier::new(ECHO_CONNS + 1);
    let rounds = Cell::new(0);
    let finished = Event::new();
    let elapsed = Cell::new(None);
    let (listener_ref, barrier, rounds_ref, finished) = (&listener, &barrier, &rounds, &finished);
    open_nursery(async |n| {
        n.start_soon(serve(listener_ref))?;
        for id in 0..ECHO_CONNS {
            n.start_soon(echo_client(id, addr, barrier, rounds_ref, finished))?;
        }
        barrier.wait().await?;
        let t0 = Instant::now();
        finished.wait().await?;
        elapsed.set(Some(t0.elapsed()));
        Ok(())
    })
    .await?;
    drop(listener);
    assert_eq!(rounds.get(), ECHO_CONNS * ECHO_ROUNDS);
    Ok(elapsed.get().expect("timed"))
}

/// `tcp_bulk`: `BULK_LEN` bytes over one connection, `BULK_CHUNK` at a time.
pub async fn tcp_bulk() -> Result<Duration> {
    let listener = SocketListener::bind("127.0.0.1:0".parse().expect("an address"))?;
    let addr = listener.local_addr()?;
    let client = open_tcp_stream("127.0.0.1", addr.port()).await?; // setup: not timed
    let server = listener.accept().await?;
    let (client, server) = (&client, &server);
    let t0 = Instant::now();
    let mut total = 0;
    open_nursery(async |n| {
        n.start_soon(async move {
            let chunk = vec![7u8; BULK_CHUNK];
            for _ in 0..BULK_LEN / BULK_CHUNK {
                client.send_all(&chunk).await?;
            }
            client.send_eof().await
        })?;
        let mut buf = vec![0u8; BULK_CHUNK];
        loop {
            let n = server.receive_some(&mut buf).await?;
            if n == 0 {
                return Ok(());
            }
            total += n;
        }
    })
    .await?;
    let d = t0.elapsed();
    assert_eq!(total, BULK_LEN);
    Ok(d)
}

// ---- tcp_echo on two trio loops ----------------------------------------------------

/// `tcp_echo` on two trio loops (`trio-2loops`): the same 64 connections and
/// 64 000 round trips, with each loop running half of the clients and serving
/// the connections the kernel gives it (both loops listen on one port with
/// `SO_REUSEPORT`, through `trio::net::LoopListener`). The barrier of
/// `tcp_echo` spans both loops: loop 0 starts the clock once the 64 clients of
/// both loops are connected, and stops it when the last client of either loop
/// has finished. As for the other runtimes, the loops are started once per
/// measurement; loop 0 drives the iterations and tells loop 1 what to do over
/// thread-safe channels.
pub fn tcp_echo_2loops(meter: Meter) -> Sample {
    let meter = Mutex::new(Some(meter));
    let (cmd_tx, cmd_rx) = trio::open_memory_channel::<Cmd>(1);
    let (ack_tx, ack_rx) = trio::open_memory_channel::<Ack>(1);
    let out = trio::Loops::new(2)
        .handle_ctrl_c(false)
        .pin_to_cpus(!TRIO_LOOPS_UNPINNED.load(Ordering::Relaxed))
        .configure(|_, b| {
            b.deterministic(TRIO_DETERMINISTIC.load(Ordering::Relaxed))
                .schedule_budget(TRIO_SCHEDULE_BUDGET.load(Ordering::Relaxed))
        })
        .run(async |cx| {
            if cx.index() == 1 {
                loop {
                    match cmd_rx.receive().await? {
                        Cmd::Iter(listener) => {
                            half(
                                1,
                                &listener,
                                async || {
                                    ack_tx.send(Ack::Ready).await?;
                                    expect(cmd_rx.receive().await?, Cmd::Go);
                                    Ok(())
                                },
                                async || {
                                    ack_tx.send(Ack::Done).await?;
                                    expect(cmd_rx.receive().await?, Cmd::Stop);
                                    Ok(())
                                },
                            )
                            .await?
                        }
                        Cmd::Exit => return Ok(None),
                        other => panic!("unexpected {other:?}"),
                    }
                }
            }
            let mut meter = meter.lock().unwrap().take().expect("loop 0 runs once");
            loop {
                let listener = Arc::new(LoopListener::reuse_port(
                    "127.0.0.1:0".parse().expect("an address"),
                    2,
                )?);
                cmd_tx.send(Cmd::Iter(listener.clone())).await?;
                let t0 = Cell::new(None);
                let elapsed = Cell::new(None);
                half(
                    0,
                    &listener,
                    async || {
                        expect(ack_rx.receive().await?, Ack::Ready);
                        t0.set(Some(Instant::now()));
                        cmd_tx.send(Cmd::Go).await?;
                        Ok(())
                    },
                    async || {
                        expect(ack_rx.receive().await?, Ack::Done);
                        elapsed.set(Some(t0.get().expect("started").elapsed()));
                        cmd_tx.send(Cmd::Stop).await?;
                        Ok(())
                    },
                )
                .await?;
                if !meter.record(elapsed.get().expect("timed")) {
                    cmd_tx.send(Cmd::Exit).await?;
                    return Ok(Some(meter.sample()));
                }
            }
        })
        .expect("the trio loops failed");
    out[0].expect("loop 0 measures")
}

/// Loop 0 to loop 1.
#[derive(Debug)]
enum Cmd {
    /// Serve this listener and run your clients.
    Iter(Arc<LoopListener>),
    /// Every client of both loops is connected: go.
    Go,
    /// Every client of both loops has finished: stop serving.
    Stop,
    /// The measurement is over.
    Exit,
}

impl PartialEq for Cmd {
    fn eq(&self, other: &Cmd) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }
}

/// Loop 1 to loop 0.
#[derive(Debug, PartialEq)]
enum Ack {
    /// Loop 1's clients are connected.
    Ready,
    /// Loop 1's clients have finished.
    Done,
}

fn expect<T: PartialEq + std::fmt::Debug>(got: T, want: T) {
    assert_eq!(got, want, "the loops lost step");
}

/// A countdown: `done` is set when `left` reaches zero.
struct Countdown {
    left: Cell<usize>,
    done: Event,
}

impl Countdown {
    fn new(n: usize) -> Countdown {
        Countdown {
            left: Cell::new(n),
            done: Event::new(),
        }
    }

    fn arrive(&self) {
        self.left.set(self.left.get() - 1);
        if self.left.get() == 0 {
            self.done.set();
        }
    }
}

/// One loop's half of an iteration: serve loop `k`'s share of the connections,
/// connect half of the clients, `start` (the cross-loop barrier) once they are
/// connected, release them, and `end` once they have finished.
async fn half(
    k: usize,
    listener: &LoopListener,
    start: impl AsyncFnOnce() -> Result<()>,
    end: impl AsyncFnOnce() -> Result<()>,
) -> Result<()> {
    const CLIENTS: usize = ECHO_CONNS / 2;
    let addr = listener.local_addr();
    let connected = Countdown::new(CLIENTS);
    let finished = Countdown::new(CLIENTS);
    let go = Event::new();
    let (connected, finished, go) = (&connected, &finished, &go);
    open_nursery(async |n| {
        n.start_soon(listener.serve(k, echo_handler))?;
        for j in 0..CLIENTS {
            let id = k * CLIENTS + j;
            n.start_soon(async move {
                let s = open_tcp_stream("127.0.0.1", addr.port()).await?; // not timed
                connected.arrive();
                go.wait().await?;
                let mut buf = [0u8; ECHO_MSG];
                let mut scratch = [0u8; ECHO_BUF];
                for round in 0..ECHO_ROUNDS {
                    let msg = echo_message(id, round);
                    s.send_all(&msg).await?;
                    read_exact(&s, &mut scratch, &mut buf).await?;
                    assert_eq!(buf, msg);
                }
                drop(s);
                finished.arrive();
                Ok(())
            })?;
        }
        connected.done.wait().await?;
        start().await?;
        go.set();
        finished.done.wait().await?;
        end().await?;
        n.cancel_scope().cancel(); // the servers of both loops have nothing left to do
        Ok(())
    })
    .await?;
    Ok(())
}
