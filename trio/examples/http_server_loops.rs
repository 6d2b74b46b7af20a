//! The HTTP server of `http_server.rs` on every core: one trio loop per CPU, each
//! with its own copy of the server, all on the same port. Run it with:
//!
//! ```text
//! cargo run --release --example http_server_loops --features hyper -- [PORT] [--loops N] [--unpinned] [--duration-secs N]
//! ```
//!
//! It answers every request with `Hello, world!` on 127.0.0.1:PORT (default 8080;
//! 0 picks a free port), on N loops (default: one per core), until Ctrl-C or, with
//! `--duration-secs N`, for N seconds. Load it with, for example,
//! `wrk -t2 -c64 -d10s http://127.0.0.1:8080/`, and compare with the one-loop
//! `http_server` example.
//!
//! How it is built — shared-nothing:
//!
//! * `trio::net::LoopListener::reuse_port` binds one listening socket per loop on
//!   the same port (`SO_REUSEPORT`), before the loops start;
//! * `trio::Loops::per_core().pin_to_cpus(true)` runs one loop per CPU, pinned
//!   (`--unpinned` to compare): a pinned loop's socket asks the kernel for the
//!   connections its CPU receives, so a connection stays on one CPU;
//! * each loop runs `trio::http::serve` on its own listener, with its own request
//!   counter (a `Cell`: nothing is shared, nothing is atomic);
//! * when the duration is over, each loop cancels its own server; `run_loops`
//!   returns every loop's count. Ctrl-C cancels every loop.

use std::cell::Cell;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use trio::net::LoopListener;

const BODY: &str = "Hello, world!\n";

struct Args {
    port: u16,
    loops: Option<usize>,
    pinned: bool,
    duration: Option<Duration>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        port: 8080,
        loops: None,
        pinned: true,
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
            "--loops" => {
                let v = it.next().ok_or("--loops needs a value")?;
                args.loops = Some(v.parse().map_err(|e| format!("bad count {v:?}: {e}"))?);
            }
            "--unpinned" => args.pinned = false,
            "-h" | "--help" => {
                return Err(
                    "usage: http_server_loops [PORT] [--loops N] [--unpinned] [--duration-secs N]"
                        .into(),
                );
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

fn main() -> trio::Result<()> {
    let args = parse_args().map_err(|e| trio::Error::new(trio::ErrorKind::InvalidInput, e))?;
    let loops = match args.loops {
        Some(n) => trio::Loops::new(n),
        None => trio::Loops::per_core(),
    }
    .pin_to_cpus(args.pinned);
    let listener = LoopListener::reuse_port(([127, 0, 0, 1], args.port).into(), loops.count())?;
    println!(
        "listening on http://{}/ with {} loops{}",
        listener.local_addr(),
        loops.count(),
        if args.pinned { ", pinned" } else { "" }
    );
    let counts = loops.run(async |cx| {
        let requests = Cell::new(0u64);
        let service = trio::http::service_fn(async |_req: Request<Incoming>| {
            requests.set(requests.get() + 1);
            Ok::<_, trio::Error>(Response::new(Full::new(Bytes::from_static(
                BODY.as_bytes(),
            ))))
        });
        let own = listener.take_listener(cx.index())?;
        drop(cx); // this server needs no other loop
        trio::open_nursery(async |n| {
            n.start_soon(
                trio::http::serve(&service, own)
                    .on_connection_error(|e| eprintln!("connection error: {e}")),
            )?;
            match args.duration {
                Some(d) => trio::sleep(d).await?,
                None => trio::sleep_forever().await?,
            }
            n.cancel_scope().cancel(); // stops this loop's server
            Ok(())
        })
        .await?;
        Ok(requests.get())
    })?;
    println!(
        "served {} requests (per loop: {counts:?})",
        counts.iter().sum::<u64>()
    );
    Ok(())
}
