//! `tcp_echo` on trio. trio has no socket streams yet, so this is written on
//! non-blocking `std::net` sockets plus `trio::lowlevel::wait_readable` /
//! `wait_writable`: it measures the core reactor. Swap it for `trio::net` streams
//! when they exist.
//!
//! Each operation is tried first and waits for readiness only on `WouldBlock`, as
//! tokio and async-io do; Trio's socket layer additionally makes every successful
//! operation a schedule point (not done here).

use std::cell::Cell;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use trio::lowlevel::{notify_closing, wait_readable, wait_writable};
use trio::sync::Event;
use trio::{Result, open_nursery};

use crate::params::*;

async fn read(s: &TcpStream, buf: &mut [u8]) -> Result<usize> {
    loop {
        match (&*s).read(buf) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => wait_readable(s.as_raw_fd()).await?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
}

async fn read_exact(s: &TcpStream, mut buf: &mut [u8]) -> Result<()> {
    while !buf.is_empty() {
        let n = read(s, buf).await?;
        if n == 0 {
            return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into());
        }
        buf = &mut buf[n..];
    }
    Ok(())
}

async fn write_all(s: &TcpStream, mut buf: &[u8]) -> Result<()> {
    while !buf.is_empty() {
        match (&*s).write(buf) {
            Ok(n) => buf = &buf[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => wait_writable(s.as_raw_fd()).await?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

fn close(s: TcpStream) {
    notify_closing(s.as_raw_fd());
    drop(s);
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

async fn echo_handler(s: TcpStream) -> Result<()> {
    let mut buf = [0u8; ECHO_BUF];
    loop {
        let n = read(&s, &mut buf).await?;
        if n == 0 {
            break;
        }
        write_all(&s, &buf[..n]).await?;
    }
    close(s);
    Ok(())
}

async fn serve(listener: &TcpListener) -> Result<()> {
    open_nursery(async |n| {
        for _ in 0..ECHO_CONNS {
            let s = accept(listener).await?;
            s.set_nonblocking(true)?;
            s.set_nodelay(true)?;
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
    let s = TcpStream::connect(addr)?;
    s.set_nonblocking(true)?;
    s.set_nodelay(true)?;
    barrier.wait().await?;
    let mut buf = [0u8; ECHO_MSG];
    for round in 0..ECHO_ROUNDS {
        let msg = echo_message(id, round);
        write_all(&s, &msg).await?;
        read_exact(&s, &mut buf).await?;
        assert_eq!(buf, msg);
    }
    close(s);
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
