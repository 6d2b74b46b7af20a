//! The same HTTP server as trio's `examples/http_server.rs`, on tokio: hyper on a
//! `current_thread` runtime (one thread, like one trio run loop), answering every
//! request with `Hello, world!` (HTTP/1.1, or HTTP/2 with prior knowledge, told
//! apart by hyper-util's `auto` builder). For comparisons under `wrk`:
//!
//! ```text
//! cargo run --release -p trio-bench --example http_server_tokio -- [PORT] [--duration-secs N]
//! wrk -t2 -c64 -d10s http://127.0.0.1:PORT/
//! ```

use std::convert::Infallible;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;

#[path = "support/server_args.rs"]
mod server_args;

const BODY: &str = "Hello, world!\n";

fn main() {
    let (port, duration) = server_args::parse("http_server_tokio");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let served = rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind");
        println!("listening on http://127.0.0.1:{port}/");
        let served = std::rc::Rc::new(std::cell::Cell::new(0u64));
        let local = tokio::task::LocalSet::new();
        let accept = {
            let served = served.clone();
            local.run_until(async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    let served = served.clone();
                    tokio::task::spawn_local(async move {
                        let service = hyper::service::service_fn(move |_req: Request<Incoming>| {
                            served.set(served.get() + 1);
                            async {
                                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(
                                    BODY.as_bytes(),
                                ))))
                            }
                        });
                        let mut builder = auto::Builder::new(TokioExecutor::new());
                        builder.http1().timer(TokioTimer::new());
                        let _ = builder
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            })
        };
        match duration {
            Some(d) => {
                let _ = tokio::time::timeout(d, accept).await;
            }
            None => accept.await,
        }
        served.get()
    });
    println!("served {served} requests");
}
