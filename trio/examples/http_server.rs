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
//! (which reports the listener once it accepts connections).
//!
//! **Stopping gracefully.** Ctrl-C (or `SIGTERM`, what service managers send)
//! asks the server to stop rather than cancelling it
//! (`Builder::stop_gracefully_on_ctrl_c` / `stop_gracefully_on_sigterm`): it
//! refuses new connections at once, closes idle keep-alive connections, answers
//! the requests in flight (with `Connection: close`), and exits when they are
//! done — or cancels what is left after 10 seconds. A second Ctrl-C cancels at
//! once. The end of `--duration-secs` does the same, through
//! `CancelScope::cancel_gracefully`. Try it: `curl localhost:8080/slow` (it takes
//! 3 seconds) and press Ctrl-C meanwhile; the response still arrives.
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
    let service = trio::http::service_fn(async |req: Request<Incoming>| {
        requests.set(requests.get() + 1);
        if req.uri().path() == "/slow" {
            // A request that takes a while: a graceful stop lets it finish.
            trio::sleep(Duration::from_secs(3)).await?;
        }
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

/// How long requests in flight may take to finish once the server is asked to stop.
const GRACE: Duration = Duration::from_secs(10);

fn main() -> std::process::ExitCode {
    let builder = trio::Runtime::builder().stop_gracefully_on_ctrl_c(GRACE);
    #[cfg(unix)] // Windows has no SIGTERM
    let builder = builder.stop_gracefully_on_sigterm(GRACE);
    let runtime = builder.build();
    trio::lowlevel::report_main_result(runtime.run(async_main()))
}

async fn async_main() -> trio::Result<()> {
    let args = parse_args().map_err(|e| trio::Error::new(trio::ErrorKind::Usage, e))?;
    let requests = Cell::new(0u64);
    trio::open_nursery(async |n| {
        let listeners = n
            .start(async |status| serve(args.port, &requests, status).await)
            .await?;
        println!("listening on http://{}/", listeners[0].local_addr()?);
        match args.duration {
            Some(d) => {
                if trio::until_stop_requested(trio::sleep(d)).await.is_some() {
                    n.cancel_scope().cancel_gracefully(GRACE);
                }
            }
            // Ctrl-C or SIGTERM asks the whole program to stop.
            None => trio::wait_stop_requested().await?,
        }
        eprintln!("stopping: finishing the requests in flight (for up to {GRACE:?})");
        Ok(())
    })
    .await?;
    println!("served {} requests", requests.get());
    Ok(())
}
