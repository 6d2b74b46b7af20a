//! `tcp_echo` on trio, written the idiomatic trio way: `trio::net::SocketListener`,
//! `open_tcp_stream` and `SocketStream` (`abc::SendStream::send_all`,
//! `abc::ReceiveStream::receive_some`). trio's sockets are registered once with the
//! reactor (edge-triggered, readiness tracked), so an operation waits only when the
//! last one in that direction would have blocked.

use std::cell::Cell;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use trio::abc::{Listener, ReceiveStream, SendStream};
use trio::net::{SocketListener, SocketStream, open_tcp_stream};
use trio::sync::Event;
use trio::{Result, open_nursery};

use crate::params::*;

/// Reads exactly `out.len()` bytes. As a Trio program would (`receive_some()`
/// reads up to 64 KiB by default), it receives into a buffer larger than the
/// message: a read that comes back short tells the socket it is drained, so the
/// next read waits for the kernel instead of trying a `recv` that would fail
/// with `EAGAIN`.
async fn read_exact(s: &SocketStream, out: &mut [u8]) -> Result<()> {
    let mut buf = [0u8; ECHO_BUF];
    let mut got = 0;
    while got < out.len() {
        let n = s.receive_some(&mut buf).await?;
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
    let s = open_tcp_stream("127.0.0.1", addr.port()).await?; // setup: not timed
    barrier.wait().await?;
    let mut buf = [0u8; ECHO_MSG];
    for round in 0..ECHO_ROUNDS {
        let msg = echo_message(id, round);
        s.send_all(&msg).await?;
        read_exact(&s, &mut buf).await?;
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
