//! The workloads on tokio (`tokio-ct` and `tokio-mt2`), written the idiomatic tokio
//! way. Each body returns the wall-clock of its timed section and checks its result.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_lite::future::poll_once;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{Barrier, Mutex, mpsc, oneshot};
use tokio::task::yield_now;

use crate::params::*;

pub async fn spawn_many() -> Duration {
    let t0 = Instant::now();
    let handles: Vec<_> = (0..SPAWN_MANY_N).map(|_| tokio::spawn(async {})).collect();
    let mut joined = 0;
    for h in handles {
        h.await.expect("task");
        joined += 1;
    }
    let d = t0.elapsed();
    assert_eq!(joined, SPAWN_MANY_N);
    d
}

fn node(depth: u32) -> Pin<Box<dyn Future<Output = usize> + Send>> {
    Box::pin(async move {
        if depth <= 1 {
            return 1;
        }
        let children: Vec<_> = (0..TREE_FANOUT)
            .map(|_| tokio::spawn(node(depth - 1)))
            .collect();
        let mut total = 1;
        for c in children {
            total += c.await.expect("task");
        }
        total
    })
}

pub async fn spawn_join_nested() -> Duration {
    let t0 = Instant::now();
    let total = tokio::spawn(node(TREE_DEPTH)).await.expect("task");
    let d = t0.elapsed();
    assert_eq!(total, TREE_TASKS);
    d
}

fn link(done: oneshot::Sender<usize>, k: usize, count: usize) {
    if k == 0 {
        done.send(count).expect("the timing task waits");
    } else {
        tokio::spawn(async move { link(done, k - 1, count + 1) });
    }
}

pub async fn chained_spawn() -> Duration {
    let (tx, rx) = oneshot::channel();
    let t0 = Instant::now();
    tokio::spawn(async move { link(tx, CHAIN_N, 1) });
    let links = rx.await.expect("chain end");
    let d = t0.elapsed();
    assert_eq!(links, CHAIN_N + 1);
    d
}

pub async fn ping_pong() -> Duration {
    let (a_tx, mut a_rx) = mpsc::channel::<u64>(1);
    let (b_tx, mut b_rx) = mpsc::channel::<u64>(1);
    let t0 = Instant::now();
    let pinger = tokio::spawn(async move {
        let mut v = 0;
        for _ in 0..PING_PONG_N {
            a_tx.send(v).await.expect("ponger alive");
            v = b_rx.recv().await.expect("reply");
        }
        v
    });
    let ponger = tokio::spawn(async move {
        while let Some(x) = a_rx.recv().await {
            b_tx.send(x + 1).await.expect("pinger alive");
        }
    });
    let v = pinger.await.expect("pinger");
    ponger.await.expect("ponger");
    let d = t0.elapsed();
    assert_eq!(v, PING_PONG_N);
    d
}

pub async fn channel_throughput() -> Duration {
    let (tx, mut rx) = mpsc::channel::<u64>(CHAN_CAP);
    let t0 = Instant::now();
    let producer = tokio::spawn(async move {
        for i in 0..CHAN_N {
            tx.send(i).await.expect("consumer alive");
        }
    });
    let consumer = tokio::spawn(async move {
        let mut sum = 0u64;
        while let Some(v) = rx.recv().await {
            sum += v;
        }
        sum
    });
    producer.await.expect("producer");
    let sum = consumer.await.expect("consumer");
    let d = t0.elapsed();
    assert_eq!(sum, CHAN_N * (CHAN_N - 1) / 2);
    d
}

pub async fn yield_many() -> Duration {
    let t0 = Instant::now();
    let handles: Vec<_> = (0..YIELD_TASKS)
        .map(|_| {
            tokio::spawn(async {
                for _ in 0..YIELD_N {
                    yield_now().await;
                }
                YIELD_N
            })
        })
        .collect();
    let mut total = 0;
    for h in handles {
        total += h.await.expect("task");
    }
    let d = t0.elapsed();
    assert_eq!(total, YIELD_TASKS * YIELD_N);
    d
}

pub async fn timers_sleep() -> Duration {
    let durations = sleep_durations();
    let t0 = Instant::now();
    let handles: Vec<_> = durations
        .into_iter()
        .map(|d| tokio::spawn(tokio::time::sleep(d)))
        .collect();
    let mut joined = 0;
    for h in handles {
        h.await.expect("task");
        joined += 1;
    }
    let d = t0.elapsed();
    assert_eq!(joined, TIMERS_N);
    d
}

pub async fn timers_cancel() -> Duration {
    let durations = cancel_durations();
    // Unconstrained: past the coop budget, `Sleep::poll` would return Pending
    // without registering (tokio's cooperative budget).
    tokio::task::unconstrained(async move {
        let t0 = Instant::now();
        let mut registered = 0;
        for d in durations {
            let sleep = tokio::time::sleep(d);
            tokio::pin!(sleep);
            if poll_once(sleep.as_mut()).await.is_none() {
                registered += 1;
            }
        }
        let d = t0.elapsed();
        assert_eq!(registered, CANCEL_N);
        d
    })
    .await
}

pub async fn timeout_yield() -> Duration {
    let durations = cancel_durations();
    let t0 = Instant::now();
    let mut completed = 0;
    for d in durations {
        if tokio::time::timeout(d, yield_now()).await.is_ok() {
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
async fn time_clients(barrier: &Barrier, clients: Vec<tokio::task::JoinHandle<usize>>) -> Duration {
    barrier.wait().await;
    let t0 = Instant::now();
    let mut rounds = 0;
    for c in clients {
        rounds += c.await.expect("client");
    }
    let d = t0.elapsed();
    assert_eq!(rounds, ECHO_CONNS * ECHO_ROUNDS);
    d
}

pub async fn tcp_echo() -> Duration {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move {
        let mut handlers = Vec::with_capacity(ECHO_CONNS);
        for _ in 0..ECHO_CONNS {
            let (s, _) = listener.accept().await.expect("accept");
            s.set_nodelay(true).expect("nodelay");
            handlers.push(tokio::spawn(echo_handler(s)));
        }
        for h in handlers {
            h.await.expect("handler");
        }
    });
    let barrier = Arc::new(Barrier::new(ECHO_CONNS + 1));
    let clients: Vec<_> = (0..ECHO_CONNS)
        .map(|id| tokio::spawn(echo_client(id, addr, barrier.clone())))
        .collect();
    let d = time_clients(&barrier, clients).await;
    server.await.expect("server");
    d
}

/// `tcp_bulk`: `BULK_LEN` bytes over one connection, `BULK_CHUNK` at a time.
pub async fn tcp_bulk() -> Duration {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let mut client = TcpStream::connect(addr).await.expect("connect");
    let (mut server, _) = listener.accept().await.expect("accept");
    client.set_nodelay(true).expect("nodelay");
    server.set_nodelay(true).expect("nodelay");
    let t0 = Instant::now();
    let sender = tokio::spawn(async move {
        let chunk = vec![7u8; BULK_CHUNK];
        for _ in 0..BULK_LEN / BULK_CHUNK {
            client.write_all(&chunk).await.expect("write");
        }
        client.shutdown().await.expect("shutdown");
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
    sender.await.expect("sender");
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

pub async fn udp_echo() -> Duration {
    let mut servers = Vec::with_capacity(ECHO_CONNS);
    let barrier = Arc::new(Barrier::new(ECHO_CONNS + 1));
    let mut clients = Vec::with_capacity(ECHO_CONNS);
    for id in 0..ECHO_CONNS {
        let server = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let addr = server.local_addr().expect("addr");
        let client = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        servers.push(tokio::spawn(udp_echo_server(server)));
        clients.push(tokio::spawn(udp_echo_client(
            id,
            client,
            addr,
            barrier.clone(),
        )));
    }
    let d = time_clients(&barrier, clients).await;
    for s in servers {
        s.await.expect("server");
    }
    d
}

/// `file_read`: the file read in `FILE_CHUNK` reads with `tokio::fs::File` (a
/// `spawn_blocking` per read). Only the reads are timed.
pub async fn file_read(path: &'static Path) -> Duration {
    let mut f = tokio::fs::File::open(path).await.expect("open");
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

async fn mutex_workload(hold_across_yield: bool) -> Duration {
    let m = Arc::new(Mutex::new(0u64));
    let t0 = Instant::now();
    let handles: Vec<_> = (0..MUTEX_TASKS)
        .map(|_| {
            let m = m.clone();
            tokio::spawn(async move {
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
    for h in handles {
        h.await.expect("task");
    }
    let d = t0.elapsed();
    assert_eq!(*m.lock().await, (MUTEX_TASKS * MUTEX_N) as u64);
    d
}

pub async fn mutex_contention() -> Duration {
    mutex_workload(true).await
}

pub async fn mutex_uncontended() -> Duration {
    mutex_workload(false).await
}

/// A lone task's `yield_now` (reference figure beside trio's `checkpoint`).
pub async fn lone_yield() -> Duration {
    let t0 = Instant::now();
    for _ in 0..SCOPE_N {
        yield_now().await;
    }
    t0.elapsed()
}

/// Memory child: `n` spawned tasks sleeping for an hour on a current_thread
/// runtime; reports the RSS growth once every task was polled once, and exits.
pub fn idle_tasks(n: usize) -> ! {
    let rt = crate::harness::tokio_runtime(false);
    rt.block_on(async {
        let before = crate::memory::rss_bytes();
        let started = Arc::new(AtomicUsize::new(0));
        for _ in 0..n {
            let started = started.clone();
            tokio::spawn(async move {
                started.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(IDLE_SLEEP).await;
            });
        }
        while started.load(Ordering::Relaxed) < n {
            yield_now().await;
        }
        let after = crate::memory::rss_bytes();
        crate::memory::report_and_exit("tokio-ct", n, before, after)
    })
}

/// `to_thread`: `THREAD_N` round trips through `spawn_blocking`, one after the other.
pub async fn to_thread() -> Duration {
    let t0 = Instant::now();
    let mut sum = 0u64;
    for i in 0..THREAD_N as u64 {
        sum += tokio::task::spawn_blocking(move || i).await.unwrap();
    }
    let d = t0.elapsed();
    assert_eq!(sum, (THREAD_N as u64 - 1) * THREAD_N as u64 / 2);
    d
}
