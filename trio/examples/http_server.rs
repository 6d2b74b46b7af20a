//! A small HTTP server: hyper on one trio run loop. Run it with:
//!
//! ```text
//! cargo run --release --example http_server --features hyper -- [PORT] [--duration-secs N]
//! ```
//!
//! It answers every request with `Hello, world!` (HTTP/1.1, or HTTP/2 with prior
//! knowledge), on 127.0.0.1:PORT (default 8080; 0 picks a free port), until
//! Ctrl-C or, with `--duration-secs N`, for N seconds (for CI and benchmarks). Load it with, for
//! example, `wrk -t2 -c64 -d10s http://127.0.0.1:8080/`; `bench/examples/http_server_tokio.rs`
//! is the same server on tokio, for comparison, and `http_server_loops.rs` the same
//! server on every core.
//!
//! The server is `trio::http::serve`, started in a nursery with `nursery.start`
//! (which reports the listener once it accepts connections). When the duration
//! is over, the nursery is cancelled: the listener closes, and every connection
//! is cancelled and waited for before the program prints its count and exits.
//! One bad client — a reset, garbage, a panic in the service, a client that
//! sends the HTTP/2 preface and then nothing — ends its own connection only:
//! `trio::http::serve` isolates connections and bounds idle ones
//! (`tests/examples_servers.rs` tries it).

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};

const BODY: &str = "Hello, world!\n";

struct Args {
    port: u16,
    duration: Option<Duration>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        port: 8080,
        duration: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--duration-secs" => {
                let v = it.next().ok_or("--duration-secs needs a value")?;
                let secs: f64 = v.parse().map_err(|e| format!("bad duration {v:?}: {e}"))?;
                args.duration = Some(Duration::from_secs_f64(secs));
            }
            "-h" | "--help" => {
                return Err("usage: http_server [PORT] [--duration-secs N]".into());
            }
            port => {
                args.port = port
                    .parse()
                    .map_err(|e| format!("bad port {port:?}: {e}"))?
            }
        }
    }
    Ok(args)
}

/// The server on 127.0.0.1:`port` (0: any free port), counting its requests in
/// `requests`; reports its listeners through `status`. (Public for
/// `tests/examples_servers.rs`, which sends it hostile clients.)
pub async fn serve(
    port: u16,
    requests: &Cell<u64>,
    status: trio::TaskStatus<Vec<Rc<trio::net::SocketListener>>>,
) -> trio::Result<()> {
    let service = trio::http::service_fn(async |_req: Request<Incoming>| {
        requests.set(requests.get() + 1);
        Ok::<_, trio::Error>(Response::new(Full::new(Bytes::from_static(
            BODY.as_bytes(),
        ))))
    });
    trio::http::serve(&service, port)
        .host("127.0.0.1")
        .on_connection_error(|e| eprintln!("connection error: {e}"))
        .task_status(status)
        .await
}

#[trio::main]
async fn main() -> trio::Result<()> {
    let args = parse_args().map_err(|e| trio::Error::new(trio::ErrorKind::Usage, e))?;
    let requests = Cell::new(0u64);
    let stopped = trio::open_nursery(async |n| {
        let listeners = n
            .start(async |status| serve(args.port, &requests, status).await)
            .await?;
        println!("listening on http://{}/", listeners[0].local_addr()?);
        match args.duration {
            Some(d) => trio::sleep(d).await?,
            None => trio::sleep_forever().await?,
        }
        n.cancel_scope().cancel(); // stops the server
        Ok(())
    });
    stopped.await?;
    println!("served {} requests", requests.get());
    Ok(())
}
