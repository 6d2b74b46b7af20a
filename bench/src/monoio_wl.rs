//! `tcp_echo` on monoio (built with the `monoio` feature): a runtime made for
//! io_uring, thread-per-core, whose I/O takes owned buffers (`AsyncReadRent`,
//! `AsyncWriteRentExt`). It is here as the io_uring peer of trio's io_uring
//! reactor: the same 64 connections and round trips as on every runtime, on one
//! thread, on monoio's `IoUringDriver`.

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use async_lock::Barrier;
use monoio::buf::IoBuf;
use monoio::io::{AsyncReadRent, AsyncReadRentExt, AsyncWriteRentExt};
use monoio::net::{TcpListener, TcpStream};

use crate::harness::{Meter, Sample};
use crate::params::*;

/// One monoio runtime (io_uring driver) for the whole measurement; each
/// iteration's body runs as a spawned task, as on the other runtimes. `None`
/// where the ring cannot be set up.
pub fn monoio_run<M, F>(mut meter: Meter, make: M) -> Option<Sample>
where
    M: Fn() -> F,
    F: std::future::Future<Output = Duration> + 'static,
{
    let mut rt = match monoio::RuntimeBuilder::<monoio::IoUringDriver>::new().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("# monoio: no io_uring here ({e}); skipped");
            return None;
        }
    };
    loop {
        let body = make();
        let d = rt.block_on(async move { monoio::spawn(body).await });
        if !meter.record(d) {
            break;
        }
    }
    Some(meter.sample())
}

async fn echo_handler(mut s: TcpStream) {
    let mut buf = Vec::with_capacity(ECHO_BUF);
    loop {
        let (r, b) = s.read(buf).await;
        let n = r.expect("server read");
        if n == 0 {
            break;
        }
        let (r, slice) = s.write_all(b.slice(..n)).await;
        r.expect("server write");
        buf = slice.into_inner();
        buf.clear();
    }
}

async fn echo_client(id: usize, addr: SocketAddr, barrier: Rc<Barrier>) -> usize {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.set_nodelay(true).expect("nodelay");
    barrier.wait().await;
    let mut out = Vec::with_capacity(ECHO_MSG);
    let mut echo = Vec::with_capacity(ECHO_MSG);
    for round in 0..ECHO_ROUNDS {
        let msg = echo_message(id, round);
        out.clear();
        out.extend_from_slice(&msg);
        let (r, o) = s.write_all(out).await;
        r.expect("client write");
        out = o;
        echo.clear();
        let (r, e) = s.read_exact(echo).await;
        r.expect("client read");
        echo = e;
        assert_eq!(echo[..], msg);
    }
    ECHO_ROUNDS
}

pub async fn tcp_echo() -> Duration {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = monoio::spawn(async move {
        let mut handlers = Vec::with_capacity(ECHO_CONNS);
        for _ in 0..ECHO_CONNS {
            let (s, _) = listener.accept().await.expect("accept");
            s.set_nodelay(true).expect("nodelay");
            handlers.push(monoio::spawn(echo_handler(s)));
        }
        for h in handlers {
            h.await;
        }
    });
    let barrier = Rc::new(Barrier::new(ECHO_CONNS + 1));
    let clients: Vec<_> = (0..ECHO_CONNS)
        .map(|id| monoio::spawn(echo_client(id, addr, barrier.clone())))
        .collect();
    let d = crate::smol_wl::time_clients(&barrier, clients).await;
    server.await;
    d
}
