//! Fetching several URLs at once, done right. Run it with:
//!
//! ```text
//! cargo run --example fetch --features hyper
//! ```
//!
//! This is the program this project started from: fetch a handful of URLs
//! concurrently, at most a few at a time, give up on any one that is too slow,
//! give up on the whole batch after a while, and say what happened to each. There
//! is no internet here, so the program first starts its own HTTP server (hyper on
//! trio) with a few routes — some fast, one slower than the per-request timeout,
//! one missing — and then fetches from it. What "done right" means:
//!
//! * **Everything lives in one nursery.** The server and the fetchers are its
//!   children. When the fetching is over, the program cancels the nursery, which
//!   stops the server (closing its listener and its connections) — nothing is
//!   left running, and nothing needs a "shutdown" flag.
//! * **The server is started with `nursery.start`.** It reports its listeners
//!   once it accepts connections, so the first request cannot race it, and the
//!   program learns the port the system picked.
//! * **A `CapacityLimiter` bounds concurrency.** Every URL gets a task at once,
//!   but only three hold a token at any moment; the others wait their turn in
//!   FIFO order.
//! * **Timeouts are cancel scopes.** `fail_after` around each request turns a
//!   slow one into a `TooSlow` error for that URL only — its connection is
//!   closed, and the server side of it is cancelled too. `move_on_after` around
//!   the whole batch bounds the total time; whatever has not finished by then is
//!   reported as not done, instead of hanging.
//! * **Errors are values per URL.** A 404 is a response, a timeout is an error;
//!   neither stops the other fetches.

use std::cell::RefCell;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use trio::ResultExt as _;
use trio::sync::CapacityLimiter;

/// How long one request may take.
const PER_REQUEST: Duration = Duration::from_secs(1);
/// How long the whole batch may take.
const OVERALL: Duration = Duration::from_secs(5);
/// How many requests may be in flight at once.
const CONCURRENCY: usize = 3;

/// The local server's routes.
async fn route(req: Request<Incoming>) -> trio::Result<Response<Full<Bytes>>> {
    let path = req.uri().path();
    let (status, body, delay) = match path {
        "/" => (StatusCode::OK, "welcome\n".repeat(3), 0),
        "/small" => (StatusCode::OK, "x".repeat(512), 10),
        "/large" => (StatusCode::OK, "y".repeat(256 * 1024), 50),
        "/medium" => (StatusCode::OK, "z".repeat(16 * 1024), 200),
        // Slower than PER_REQUEST: the client gives up on it.
        "/slow" => (StatusCode::OK, "finally\n".to_string(), 3000),
        _ => (StatusCode::NOT_FOUND, "no such page\n".to_string(), 0),
    };
    trio::sleep(Duration::from_millis(delay)).await?;
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    Ok(resp)
}

/// What happened to one URL.
enum Outcome {
    Done {
        status: StatusCode,
        bytes: usize,
        elapsed: Duration,
    },
    TimedOut,
    Failed(trio::Error),
}

#[trio::main]
async fn main() -> trio::Result<()> {
    let service = trio::http::service_fn(async |req: Request<Incoming>| route(req).await);
    let paths = [
        "/", "/small", "/large", "/medium", "/slow", "/missing", "/small", "/",
    ];
    let limiter = CapacityLimiter::new(CONCURRENCY);
    let results: RefCell<Vec<Option<Outcome>>> = RefCell::new(paths.iter().map(|_| None).collect());
    let (limiter, results, service) = (&limiter, &results, &service);
    let t0 = trio::current_time();

    trio::open_nursery(async |n| {
        // 1. The server, on a port the system picks.
        let listeners = n
            .start(async |status| {
                trio::http::serve(service, 0)
                    .host("127.0.0.1")
                    .task_status(status)
                    .await
            })
            .await?;
        let port = listeners[0].local_addr()?.port();
        println!("serving on http://127.0.0.1:{port}/");

        // 2. The fetchers, at most CONCURRENCY at a time, within OVERALL.
        let finished = trio::move_on_after(
            OVERALL,
            trio::open_nursery(async |fetchers| {
                for (i, path) in paths.iter().enumerate() {
                    let url = format!("http://127.0.0.1:{port}{path}");
                    fetchers.start_soon(async move {
                        let _token = limiter.acquire().await?;
                        let started = trio::current_time();
                        // `catch` lets the batch's own cancellation (OVERALL) through
                        // with `?`: only this request's errors become an outcome.
                        let outcome = match trio::fail_after(PER_REQUEST, trio::http::get(&url))
                            .await
                            .catch()?
                        {
                            Ok(resp) => Outcome::Done {
                                status: resp.status(),
                                bytes: resp.body().len(),
                                elapsed: trio::current_time() - started,
                            },
                            Err(e) if e.kind() == trio::ErrorKind::TooSlow => Outcome::TimedOut,
                            Err(e) => Outcome::Failed(e),
                        };
                        results.borrow_mut()[i] = Some(outcome);
                        Ok(())
                    })?;
                }
                Ok(())
            }),
        )
        .await?;
        if finished.is_none() {
            println!("gave up on the batch after {OVERALL:?}");
        }

        // 3. Done: stop the server.
        n.cancel_scope().cancel();
        Ok(())
    })
    .await?;

    for (path, outcome) in paths.iter().zip(results.borrow().iter()) {
        match outcome {
            Some(Outcome::Done {
                status,
                bytes,
                elapsed,
            }) => {
                let status = status.to_string();
                println!(
                    "GET {path:<9} {status:<14} {bytes:>7} bytes {:>5} ms",
                    elapsed.as_millis()
                )
            }
            Some(Outcome::TimedOut) => println!("GET {path:<9} timed out after {PER_REQUEST:?}"),
            Some(Outcome::Failed(e)) => println!("GET {path:<9} failed: {e}"),
            None => println!("GET {path:<9} not done (the batch timed out)"),
        }
    }
    println!("all done in {} ms", (trio::current_time() - t0).as_millis());
    Ok(())
}
