//! `tcp_echo` on trio. trio has no socket streams yet, so this is written on
//! non-blocking `std::net` sockets registered with `trio::lowlevel::IoRegistration`
//! (edge-triggered, readiness tracked, as tokio's and async-io's sockets are): it
//! measures the core reactor. Swap it for `trio::net` streams when they exist.
//!
//! An operation waits only when the last one on that direction would have blocked;
//! Trio's socket layer additionally makes every successful operation a schedule
//! point (not done here).

use std::cell::Cell;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use trio::lowlevel::{IoDirection, IoRegistration, notify_closing, wait_readable};
use trio::sync::Event;
use trio::{Result, open_nursery};

use crate::params::*;

/// A non-blocking socket registered once with trio's reactor (edge-triggered,
/// readiness tracked: no `epoll_ctl` per wait).
struct Sock {
    // Field order: the registration is dropped (deregistered) before the socket.
    reg: IoRegistration,
    s: TcpStream,
}

impl Sock {
    fn new(s: TcpStream) -> Result<Sock> {
        s.set_nonblocking(true)?;
        s.set_nodelay(true)?;
        Ok(Sock {
            reg: IoRegistration::new(s.as_raw_fd())?,
            s,
        })
    }

    async fn read(&self, buf: &mut [u8]) -> Result<usize> {
        loop {
            let ready = self.reg.ready(IoDirection::Read).await?;
            match (&self.s).read(buf) {
                Ok(n) => {
                    // A short read drained the socket: forget the readiness now
                    // rather than after a failed read (a newer edge survives: see
                    // `IoRegistration::clear_ready`).
                    if n > 0 && n < buf.len() {
                        self.reg.clear_ready(IoDirection::Read, ready);
                    }
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.reg.clear_ready(IoDirection::Read, ready)
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    async fn read_exact(&self, mut buf: &mut [u8]) -> Result<()> {
        while !buf.is_empty() {
            let n = self.read(buf).await?;
            if n == 0 {
                return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into());
            }
            buf = &mut buf[n..];
        }
        Ok(())
    }

    async fn write_all(&self, mut buf: &[u8]) -> Result<()> {
        while !buf.is_empty() {
            let ready = self.reg.ready(IoDirection::Write).await?;
            match (&self.s).write(buf) {
                Ok(n) => buf = &buf[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.reg.clear_ready(IoDirection::Write, ready)
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}

async fn accept(listener: &TcpListener) -> Result<TcpStream> {
    loop {
        match listener.accept() {
            Ok((s, _)) => return Ok(s),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                wait_readable(listener.as_raw_fd()).await?
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
}

async fn echo_handler(s: Sock) -> Result<()> {
    let mut buf = [0u8; ECHO_BUF];
    loop {
        let n = s.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        s.write_all(&buf[..n]).await?;
    }
    Ok(())
}

async fn serve(listener: &TcpListener) -> Result<()> {
    open_nursery(async |n| {
        for _ in 0..ECHO_CONNS {
            let s = Sock::new(accept(listener).await?)?;
            n.start_soon(echo_handler(s))?;
        }
        Ok(())
    })
    .await
}

/// A barrier of `parties` (the clients and the timing task): a counter plus an
/// `Event` set by the last to arrive.
struct Barrier {
    waiting: Cell<usize>,
    parties: usize,
    released: Event,
}

impl Barrier {
    fn new(parties: usize) -> Barrier {
        Barrier {
            waiting: Cell::new(0),
            parties,
            released: Event::new(),
        }
    }

    async fn wait(&self) -> Result<()> {
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
    // A blocking connect: setup (not timed), and immediate on loopback.
    let s = Sock::new(TcpStream::connect(addr)?)?;
    barrier.wait().await?;
    let mut buf = [0u8; ECHO_MSG];
    for round in 0..ECHO_ROUNDS {
        let msg = echo_message(id, round);
        s.write_all(&msg).await?;
        s.read_exact(&mut buf).await?;
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
    let listener = TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
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
    notify_closing(listener.as_raw_fd());
    drop(listener);
    assert_eq!(rounds.get(), ECHO_CONNS * ECHO_ROUNDS);
    Ok(elapsed.get().expect("timed"))
}
