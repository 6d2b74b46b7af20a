//! `trio::http` with other implementations: `curl` against a trio server
//! (HTTP/1.1 and HTTP/2), and a trio client against a hyper server on tokio.

use std::convert::Infallible;
use std::process::Command;
use std::sync::mpsc;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, Version};
use trio::Error;

fn curl_available() -> bool {
    Command::new("curl").arg("--version").output().is_ok()
}

/// Runs curl with `args`; returns its standard output.
async fn curl(args: &[&str]) -> trio::Result<String> {
    let mut cmd = Command::new("curl");
    cmd.args(["--silent", "--show-error", "--max-time", "30"])
        .args(args);
    let done = trio::process::run_process(cmd).capture_stdout(true).await?;
    Ok(String::from_utf8(done.stdout.unwrap()).unwrap())
}

#[trio::test]
async fn curl_talks_to_a_trio_server() -> trio::Result<()> {
    if !curl_available() {
        eprintln!("curl is not installed: skipped");
        return Ok(());
    }
    let service = trio::http::service_fn(async |req: Request<Incoming>| {
        let head = format!("{:?} {} {}", req.version(), req.method(), req.uri().path());
        let body = req.into_body().collect().await?.to_bytes();
        let text = format!("{head} [{}]", String::from_utf8_lossy(&body));
        Ok::<_, Error>(
            Response::builder()
                .header("x-served-by", "trio")
                .body(Full::new(Bytes::from(text)))
                .unwrap(),
        )
    });
    trio::open_nursery(async |n| {
        let listeners = n
            .start(async |status| {
                trio::http::serve(&service, 0)
                    .host("127.0.0.1")
                    .task_status(status)
                    .await
            })
            .await?;
        let url = format!(
            "http://127.0.0.1:{}/path",
            listeners[0].local_addr()?.port()
        );

        let out = curl(&["--include", &url]).await?;
        assert!(out.starts_with("HTTP/1.1 200"), "{out}");
        assert!(
            out.to_ascii_lowercase().contains("x-served-by: trio"),
            "{out}"
        );
        assert!(out.ends_with("HTTP/1.1 GET /path []"), "{out}");

        let out = curl(&[
            "--include",
            "--http2-prior-knowledge",
            "--data",
            "hello",
            &url,
        ])
        .await?;
        assert!(out.starts_with("HTTP/2 200"), "{out}");
        assert!(out.ends_with("HTTP/2.0 POST /path [hello]"), "{out}");

        // Several requests on one keep-alive connection.
        let out = curl(&[&url, &url, &url]).await?;
        assert_eq!(out, "HTTP/1.1 GET /path []".repeat(3));
        n.cancel_scope().cancel();
        Ok(())
    })
    .await?;
    Ok(())
}

/// A hyper server on a tokio runtime in its own thread (what most Rust HTTP
/// servers are); stops when `stop` is dropped or sent to.
fn tokio_server(
    port_tx: mpsc::Sender<u16>,
    stop: tokio::sync::oneshot::Receiver<()>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            port_tx.send(listener.local_addr().unwrap().port()).unwrap();
            let service = hyper::service::service_fn(|req: Request<Incoming>| async move {
                let text = format!("tokio says {:?} {}", req.version(), req.uri().path());
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(text))))
            });
            let accept = async {
                loop {
                    let (stream, _) = listener.accept().await.unwrap();
                    let mut first = [0u8; 3];
                    // HTTP/2 with prior knowledge starts with "PRI".
                    let h2 = stream.peek(&mut first).await.unwrap() == 3 && &first == b"PRI";
                    let io = hyper_util::rt::TokioIo::new(stream);
                    tokio::spawn(async move {
                        if h2 {
                            let exec = hyper_util::rt::TokioExecutor::new();
                            let _ = hyper::server::conn::http2::Builder::new(exec)
                                .serve_connection(io, service)
                                .await;
                        } else {
                            let _ = hyper::server::conn::http1::Builder::new()
                                .serve_connection(io, service)
                                .await;
                        }
                    });
                }
            };
            tokio::select! {
                _ = accept => {}
                _ = stop => {}
            }
        });
    })
}

#[trio::test]
async fn trio_client_talks_to_a_tokio_server() -> trio::Result<()> {
    let (port_tx, port_rx) = mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
    let thread = tokio_server(port_tx, stop_rx);
    let port = trio::to_thread::run_sync(move || port_rx.recv().unwrap()).await?;
    for version in [Version::HTTP_11, Version::HTTP_2] {
        let req = Request::get(format!("http://127.0.0.1:{port}/hi"))
            .version(version)
            .body(Full::new(Bytes::new()))
            .unwrap();
        let resp = trio::http::request(req).await?;
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.version(), version);
        assert_eq!(resp.body(), &format!("tokio says {version:?} /hi"));
    }
    stop_tx.send(()).unwrap();
    trio::to_thread::run_sync(move || thread.join().unwrap()).await?;
    Ok(())
}
