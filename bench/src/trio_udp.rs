//! `udp_echo` on trio, written the idiomatic trio way: `trio::net::UdpSocket`
//! (`send_to`, `recv_from`), one task per socket in a nursery, and the barrier of
//! `tcp_echo` (`trio_tcp.rs`) to start the clock once every socket exists.

use std::cell::Cell;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use trio::net::UdpSocket;
use trio::sync::Event;
use trio::{Result, open_nursery};

use crate::params::*;
use crate::trio_tcp::Barrier;

/// Echoes exactly `ECHO_ROUNDS` datagrams back to their senders.
async fn echo_server(s: &UdpSocket) -> Result<()> {
    let mut buf = [0u8; ECHO_BUF];
    for _ in 0..ECHO_ROUNDS {
        let (n, from) = s.recv_from(&mut buf).await?;
        s.send_to(&buf[..n], from).await?;
    }
    Ok(())
}

async fn echo_client(
    id: usize,
    s: &UdpSocket,
    server: SocketAddr,
    barrier: &Barrier,
    rounds: &Cell<usize>,
    finished: &Event,
) -> Result<()> {
    barrier.wait().await?;
    let mut buf = [0u8; ECHO_BUF];
    for round in 0..ECHO_ROUNDS {
        let msg = echo_message(id, round);
        s.send_to(&msg, server).await?;
        let (n, from) = s.recv_from(&mut buf).await?;
        assert_eq!((&buf[..n], from), (&msg[..], server));
    }
    rounds.set(rounds.get() + ECHO_ROUNDS);
    if rounds.get() == ECHO_CONNS * ECHO_ROUNDS {
        finished.set();
    }
    Ok(())
}

pub async fn udp_echo() -> Result<Duration> {
    let localhost: SocketAddr = "127.0.0.1:0".parse().expect("an address");
    let mut pairs = Vec::with_capacity(ECHO_CONNS); // setup: not timed
    for _ in 0..ECHO_CONNS {
        let server = UdpSocket::bind(localhost)?;
        let addr = server.local_addr()?;
        pairs.push((server, addr, UdpSocket::bind(localhost)?));
    }
    let barrier = Barrier::new(ECHO_CONNS + 1);
    let rounds = Cell::new(0);
    let finished = Event::new();
    let elapsed = Cell::new(None);
    let (pairs_ref, barrier, rounds_ref, finished) = (&pairs, &barrier, &rounds, &finished);
    open_nursery(async |n| {
        for (id, (server, addr, client)) in pairs_ref.iter().enumerate() {
            n.start_soon(echo_server(server))?;
            n.start_soon(echo_client(
                id, client, *addr, barrier, rounds_ref, finished,
            ))?;
        }
        barrier.wait().await?;
        let t0 = Instant::now();
        finished.wait().await?;
        elapsed.set(Some(t0.elapsed()));
        Ok(())
    })
    .await?;
    drop(pairs);
    assert_eq!(rounds.get(), ECHO_CONNS * ECHO_ROUNDS);
    Ok(elapsed.get().expect("timed"))
}
