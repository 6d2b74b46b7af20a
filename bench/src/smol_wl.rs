//! The workloads on the smol stack (`smol-local` and `smol-exec2`), written the
//! idiomatic smol way: `ex.spawn` + `Task.await`, `async-channel`, `async-lock`,
//! `async-io` timers, `async-net`. One code for both flavours, generic over how
//! tasks are spawned.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_executor::Task;
use async_io::Timer;
use async_lock::{Barrier, Mutex};
use async_net::{TcpListener, TcpStream, UdpSocket};
use futures_lite::future::{FutureExt, poll_once, yield_now};
use futures_lite::{AsyncReadExt, AsyncWriteExt};

use crate::harness::{GLOBAL_EX, LOCAL_EX};
use crate::params::*;

/// How a flavour spawns: on the thread-local `LocalExecutor` or on the static
/// `Executor`.
pub trait Spawner: Copy + Send + Sync + 'static {
    fn spawn<F>(self, f: F) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static;
}

/// smol-local.
#[derive(Clone, Copy, Debug)]
pub struct Local;

impl Spawner for Local {
    fn spawn<F>(self, f: F) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        LOCAL_EX.with(|ex| ex.spawn(f))
    }
}

/// smol-exec2.
#[derive(Clone, Copy, Debug)]
pub struct Global;

impl Spawner for Global {
    fn spawn<F>(self, f: F) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        GLOBAL_EX.spawn(f)
    }
}

pub async fn spawn_many<S: Spawner>(s: S) -> Duration {
    let t0 = Instant::now();
    let tasks: Vec<_> = (0..SPAWN_MANY_N).map(|_| s.spawn(async {})).collect();
    let mut joined = 0;
    for t in tasks {
        t.await;
        joined += 1;
    }
    let d = t0.elapsed();
    assert_eq!(joined, SPAWN_MANY_N);
    d
}

fn node<S: Spawner>(s: S, depth: u32) -> Pin<Box<dyn Future<Output = usize> + Send>> {
    Box::pin(async move {
        if depth <= 1 {
            return 1;
        }
        let children: Vec<_> = (0..TREE_FANOUT)
            .map(|_| s.spawn(node(s, depth - 1)))
            .collect();
        let mut total = 1;
        for c in children {
            total += c.await;
        }
        total
    })
}

pub async fn spawn_join_nested<S: Spawner>(s: S) -> Duration {
    let t0 = Instant::now();
    let total = s.spawn(node(s, TREE_DEPTH)).await;
    let d = t0.elapsed();
    assert_eq!(total, TREE_TASKS);
    d
}

fn link<S: Spawner>(s: S, done: async_channel::Sender<usize>, k: usize, count: usize) {
    if k == 0 {
        done.try_send(count).expect("the timing task waits");
    } else {
        s.spawn(async move { link(s, done, k - 1, count + 1) })
            .detach();
    }
}

pub async fn chained_spawn<S: Spawner>(s: S) -> Duration {
    let (tx, rx) = async_channel::bounded(1);
    let t0 = Instant::now();
    s.spawn(async move { link(s, tx, CHAIN_N, 1) }).detach();
    let links = rx.recv().await.expect("chain end");
    let d = t0.elapsed();
    assert_eq!(links, CHAIN_N + 1);
    d
}

pub async fn ping_pong<S: Spawner>(s: S) -> Duration {
    let (a_tx, a_rx) = async_channel::bounded::<u64>(1);
    let (b_tx, b_rx) = async_channel::bounded::<u64>(1);
    let t0 = Instant::now();
    let pinger = s.spawn(async move {
        let mut v = 0;
        for _ in 0..PING_PONG_N {
            a_tx.send(v).await.expect("ponger alive");
            v = b_rx.recv().await.expect("reply");
        }
        v
    });
    let ponger = s.spawn(async move {
        while let Ok(x) = a_rx.recv().await {
            b_tx.send(x + 1).await.expect("pinger alive");
        }
    });
    let v = pinger.await;
    ponger.await;
    let d = t0.elapsed();
    assert_eq!(v, PING_PONG_N);
    d
}

pub async fn channel_throughput<S: Spawner>(s: S) -> Duration {
    let (tx, rx) = async_channel::bounded::<u64>(CHAN_CAP);
    let t0 = Instant::now();
    let producer = s.spawn(async move {
        for i in 0..CHAN_N {
            tx.send(i).await.expect("consumer alive");
        }
    });
    let consumer = s.spawn(async move {
        let mut sum = 0u64;
        while let Ok(v) = rx.recv().await {
            sum += v;
        }
        sum
    });
    producer.await;
    let sum = consumer.await;
    let d = t0.elapsed();
    assert_eq!(sum, CHAN_N * (CHAN_N - 1) / 2);
    d
}

pub async fn yield_many<S: Spawner>(s: S) -> Duration {
    let t0 = Instant::now();
    let tasks: Vec<_> = (0..YIELD_TASKS)
        .map(|_| {
            s.spawn(async {
                for _ in 0..YIELD_N {
                    yield_now().await;
                }
                YIELD_N
            })
        })
        .collect();
    let mut total = 0;
    for t in tasks {
        total += t.await;
    }
    let d = t0.elapsed();
    assert_eq!(total, YIELD_TASKS * YIELD_N);
    d
}

pub async fn timers_sleep<S: Spawner>(s: S) -> Duration {
    let durations = sleep_durations();
    let t0 = Instant::now();
    let tasks: Vec<_> = durations
        .into_iter()
        .map(|d| {
            s.spawn(async move {
                Timer::after(d).await;
            })
        })
        .collect();
    let mut joined = 0;
    for t in tasks {
        t.await;
        joined += 1;
    }
    let d = t0.elapsed();
    assert_eq!(joined, TIMERS_N);
    d
}

pub async fn timers_cancel<S: Spawner>(_s: S) -> Duration {
    let durations = cancel_durations();
    let t0 = Instant::now();
    let mut registered = 0;
    for d in durations {
        let mut timer = Timer::after(d);
        if poll_once(&mut timer).await.is_none() {
            registered += 1;
        }
    }
    let d = t0.elapsed();
    assert_eq!(registered, CANCEL_N);
    d
}

pub async fn timeout_yield<S: Spawner>(_s: S) -> Duration {
    let durations = cancel_durations();
    let t0 = Instant::now();
    let mut completed = 0;
    for d in durations {
        let finished = async {
            yield_now().await;
            true
        }
        .or(async {
            Timer::after(d).await;
            false
        })
        .await;
        if finished {
            completed += 1;
        }
    }
    let d = t0.elapsed();
    assert_eq!(completed, CANCEL_N);
    d
}

async fn echo_handler(mut s: TcpStream) {
    let mut buf = [0u8; ECHO_BUF];
    loop {
        let n = s.read(&mut buf).await.expect("server read");
        if n == 0 {
            break;
        }
        s.write_all(&buf[..n]).await.expect("server write");
    }
}

async fn echo_client(id: usize, addr: std::net::SocketAddr, barrier: Arc<Barrier>) -> usize {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.set_nodelay(true).expect("nodelay");
    barrier.wait().await;
    let mut buf = [0u8; ECHO_MSG];
    for round in 0..ECHO_ROUNDS {
        let msg = echo_message(id, round);
        s.write_all(&msg).await.expect("client write");
        s.read_exact(&mut buf).await.expect("client read");
        assert_eq!(buf, msg);
    }
    ECHO_ROUNDS
}

/// The echo workloads' clock: started once every client waits at the
/// barrier, stopped when the last one is done; checks the rounds they made.
/// (monoio's `tcp_echo` uses it too: its barrier is this one.)
pub(crate) async fn time_clients(
    barrier: &Barrier,
    clients: Vec<impl Future<Output = usize>>,
) -> Duration {
    barrier.wait().await;
    let t0 = Instant::now();
    let mut rounds = 0;
    for c in clients {
        rounds += c.await;
    }
    let d = t0.elapsed();
    assert_eq!(rounds, ECHO_CONNS * ECHO_ROUNDS);
    d
}

pub async fn tcp_echo<S: Spawner>(s: S) -> Duration {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = s.spawn(async move {
        let mut handlers = Vec::with_capacity(ECHO_CONNS);
        for _ in 0..ECHO_CONNS {
            let (conn, _) = listener.accept().await.expect("accept");
            conn.set_nodelay(true).expect("nodelay");
            handlers.push(s.spawn(echo_handler(conn)));
        }
        for h in handlers {
            h.await;
        }
    });
    let barrier = Arc::new(Barrier::new(ECHO_CONNS + 1));
    let clients: Vec<_> = (0..ECHO_CONNS)
        .map(|id| s.spawn(echo_client(id, addr, barrier.clone())))
        .collect();
    let d = time_clients(&barrier, clients).await;
    server.await;
    d
}

/// `tcp_bulk`: `BULK_LEN` bytes over one connection, `BULK_CHUNK` at a time.
pub async fn tcp_bulk<S: Spawner>(s: S) -> Duration {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let mut client = TcpStream::connect(addr).await.expect("connect");
    let (mut server, _) = listener.accept().await.expect("accept");
    client.set_nodelay(true).expect("nodelay");
    server.set_nodelay(true).expect("nodelay");
    let t0 = Instant::now();
    let sender = s.spawn(async move {
        let chunk = vec![7u8; BULK_CHUNK];
        for _ in 0..BULK_LEN / BULK_CHUNK {
            client.write_all(&chunk).await.expect("write");
        }
        client.close().await.expect("close");
    });
    let mut buf = vec![0u8; BULK_CHUNK];
    let mut total = 0;
    loop {
        let n = server.read(&mut buf).await.expect("read");
        if n == 0 {
            break;
        }
        total += n;
    }
    let d = t0.elapsed();
    sender.await;
    assert_eq!(total, BULK_LEN);
    d
}

/// Echoes exactly `ECHO_ROUNDS` datagrams back to their senders.
async fn udp_echo_server(s: UdpSocket) {
    let mut buf = [0u8; ECHO_BUF];
    for _ in 0..ECHO_ROUNDS {
        let (n, from) = s.recv_from(&mut buf).await.expect("server recv");
        s.send_to(&buf[..n], from).await.expect("server send");
    }
}

async fn udp_echo_client(
    id: usize,
    s: UdpSocket,
    server: std::net::SocketAddr,
    barrier: Arc<Barrier>,
) -> usize {
    barrier.wait().await;
    let mut buf = [0u8; ECHO_BUF];
    for round in 0..ECHO_ROUNDS {
        let msg = echo_message(id, round);
        s.send_to(&msg, server).await.expect("client send");
        let (n, from) = s.recv_from(&mut buf).await.expect("client recv");
        assert_eq!((&buf[..n], from), (&msg[..], server));
    }
    ECHO_ROUNDS
}

pub async fn udp_echo<S: Spawner>(s: S) -> Duration {
    let mut servers = Vec::with_capacity(ECHO_CONNS);
    let barrier = Arc::new(Barrier::new(ECHO_CONNS + 1));
    let mut clients = Vec::with_capacity(ECHO_CONNS);
    for id in 0..ECHO_CONNS {
        let server = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let addr = server.local_addr().expect("addr");
        let client = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        servers.push(s.spawn(udp_echo_server(server)));
        clients.push(s.spawn(udp_echo_client(id, client, addr, barrier.clone())));
    }
    let d = time_clients(&barrier, clients).await;
    for server in servers {
        server.await;
    }
    d
}

/// `file_read`: the file read in `FILE_CHUNK` reads through
/// `blocking::Unblock<std::fs::File>`, what `async_fs::File` is built on: a
/// thread of `blocking`'s pool reads ahead into a pipe (8 MiB, `Unblock`'s
/// default), and each read takes what the pipe holds (up to `FILE_CHUNK`). The
/// file is opened on the pool as `async_fs::File::open` does. Only the reads are
/// timed.
pub async fn file_read<S: Spawner>(_s: S, path: &'static Path) -> Duration {
    let file = blocking::unblock(move || std::fs::File::open(path))
        .await
        .expect("open");
    let mut f = blocking::Unblock::new(file);
    let mut buf = vec![0u8; FILE_CHUNK];
    let t0 = Instant::now();
    let mut total = 0;
    loop {
        let n = f.read(&mut buf).await.expect("read");
        if n == 0 {
            break;
        }
        total += n;
    }
    let d = t0.elapsed();
    assert_eq!(total, FILE_LEN);
    d
}

async fn mutex_workload<S: Spawner>(s: S, hold_across_yield: bool) -> Duration {
    let m = Arc::new(Mutex::new(0u64));
    let t0 = Instant::now();
    let tasks: Vec<_> = (0..MUTEX_TASKS)
        .map(|_| {
            let m = m.clone();
            s.spawn(async move {
                for _ in 0..MUTEX_N {
                    let mut g = m.lock().await;
                    *g += 1;
                    if hold_across_yield {
                        yield_now().await;
                    }
                    drop(g);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await;
    }
    let d = t0.elapsed();
    assert_eq!(*m.lock().await, (MUTEX_TASKS * MUTEX_N) as u64);
    d
}

pub async fn mutex_contention<S: Spawner>(s: S) -> Duration {
    mutex_workload(s, true).await
}

pub async fn mutex_uncontended<S: Spawner>(s: S) -> Duration {
    mutex_workload(s, false).await
}

/// A lone task's `yield_now` (reference figure beside trio's `checkpoint`).
pub async fn lone_yield<S: Spawner>(_s: S) -> Duration {
    let t0 = Instant::now();
    for _ in 0..SCOPE_N {
        yield_now().await;
    }
    t0.elapsed()
}

/// `to_thread`: `THREAD_N` round trips through `blocking::unblock` (smol's thread
/// pool), one after the other.
pub async fn to_thread<S: Spawner>(_s: S) -> Duration {
    let t0 = Instant::now();
    let mut sum = 0u64;
    for i in 0..THREAD_N as u64 {
        sum += blocking::unblock(move || i).await;
    }
    let d = t0.elapsed();
    assert_eq!(sum, (THREAD_N as u64 - 1) * THREAD_N as u64 / 2);
    d
}
