//! `trio::http`: a trio client and a trio server on loopback, over HTTP/1.1 and
//! HTTP/2 — requests and bodies, concurrency, borrowing services, errors, and
//! shutting a server down by cancelling its nursery.
#![cfg(feature = "hyper")]

use std::cell::{Cell, RefCell};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode, Version};
use trio::abc::ReceiveStream;
use trio::http::{Http, Protocol};
use trio::net::SocketListener;
use trio::sync::Event;
use trio::testing::wait_all_tasks_blocked;
use trio::{Error, ErrorKind, Nursery};

const VERSIONS: [Version; 2] = [Version::HTTP_11, Version::HTTP_2];

fn text(s: impl Into<Bytes>) -> Response<Full<Bytes>> {
    Response::new(Full::new(s.into()))
}

/// Starts `serve(service)` in `n` on a loopback port; returns its base URL.
async fn start<'e, S>(n: &Nursery<'e>, service: S, http: Http) -> trio::Result<String>
where
    S: hyper::service::Service<Request<Incoming>, Response = Response<Full<Bytes>>> + 'e,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let listeners = n
        .start(async move |status| {
            trio::http::serve(service, 0)
                .host("127.0.0.1")
                .http(http)
                .task_status(status)
                .await
        })
        .await?;
    Ok(format!(
        "http://127.0.0.1:{}",
        listeners[0].local_addr()?.port()
    ))
}

fn request(url: &str, version: Version, body: impl Into<Bytes>) -> Request<Full<Bytes>> {
    Request::post(url)
        .version(version)
        .body(Full::new(body.into()))
        .unwrap()
}

#[trio::test]
async fn get_post_and_status_over_both_versions() -> trio::Result<()> {
    let service = trio::http::service_fn(async |req: Request<Incoming>| {
        let version = req.version();
        let path = req.uri().path().to_owned();
        let body = req.into_body().collect().await?.to_bytes();
        Ok::<_, Error>(match path.as_str() {
            "/" => text("hello"),
            "/echo" => text(body),
            "/version" => text(format!("{version:?}")),
            _ => {
                let mut r = text("not found");
                *r.status_mut() = StatusCode::NOT_FOUND;
                r
            }
        })
    });
    trio::open_nursery(async |n| {
        let base = start(n, &service, Http::new()).await?;
        let resp = trio::http::get(&format!("{base}/")).await?;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.version(), Version::HTTP_11);
        assert_eq!(resp.body(), "hello");
        for version in VERSIONS {
            let resp =
                trio::http::request(request(&format!("{base}/echo"), version, "ping")).await?;
            assert_eq!((resp.version(), &resp.body()[..]), (version, &b"ping"[..]));
            let resp =
                trio::http::request(request(&format!("{base}/version"), version, "")).await?;
            assert_eq!(resp.body(), &format!("{version:?}"));
            let resp = trio::http::request(request(&format!("{base}/nope"), version, "")).await?;
            assert_eq!(resp.status(), StatusCode::NOT_FOUND);
        }
        n.cancel_scope().cancel();
        Ok(())
    })
    .await?;
    Ok(())
}

#[trio::test]
async fn large_bodies_both_ways() -> trio::Result<()> {
    let service = trio::http::service_fn(async |req: Request<Incoming>| {
        let body = req.into_body().collect().await?.to_bytes();
        Ok::<_, Error>(text(body))
    });
    let big: Vec<u8> = (0..3 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    trio::open_nursery(async |n| {
        let base = start(n, &service, Http::new()).await?;
        for version in VERSIONS {
            let resp = trio::http::request(request(&base, version, big.clone())).await?;
            assert_eq!(resp.body().len(), big.len(), "{version:?}");
            assert!(resp.body() == &big[..], "{version:?}: body differs");
        }
        n.cancel_scope().cancel();
        Ok(())
    })
    .await?;
    Ok(())
}

/// Twenty requests are in the handler at once (each waits until all have
/// arrived), and the handler borrows the counter and the event of the test.
#[trio::test]
async fn concurrent_requests_and_a_borrowing_service() -> trio::Result<()> {
    const N: usize = 20;
    for version in VERSIONS {
        let arrived = Cell::new(0);
        let all_here = Event::new();
        let service = trio::http::service_fn(async |_req: Request<Incoming>| {
            arrived.set(arrived.get() + 1);
            if arrived.get() == N {
                all_here.set();
            }
            all_here.wait().await?;
            Ok::<_, Error>(text("together"))
        });
        let done = Cell::new(0);
        trio::open_nursery(async |n| {
            let base = start(n, &service, Http::new()).await?;
            let (base, done) = (&base, &done);
            trio::open_nursery(async |clients| {
                for _ in 0..N {
                    clients.start_soon(async move {
                        let resp = trio::http::request(request(base, version, "")).await?;
                        assert_eq!(resp.body(), "together");
                        done.set(done.get() + 1);
                        Ok(())
                    })?;
                }
                Ok(())
            })
            .await?;
            n.cancel_scope().cancel();
            Ok(())
        })
        .await?;
        assert_eq!((arrived.get(), done.get()), (N, N), "{version:?}");
    }
    Ok(())
}

/// HTTP/2: many concurrent streams on one connection, driven by hand with
/// `TrioIo` and `TrioExecutor` (the streams are tasks of the server's
/// per-connection nursery).
#[trio::test]
async fn h2_multiplexes_streams_on_one_connection() -> trio::Result<()> {
    const N: usize = 10;
    let in_handler = Cell::new(0);
    let all_here = Event::new();
    let service = trio::http::service_fn(async |req: Request<Incoming>| {
        in_handler.set(in_handler.get() + 1);
        if in_handler.get() == N {
            all_here.set();
        }
        all_here.wait().await?;
        Ok::<_, Error>(text(req.uri().path().to_owned()))
    });
    trio::open_nursery(async |n| {
        let base = start(n, &service, Http::new().protocol(Protocol::Http2)).await?;
        let port: u16 = base.rsplit(':').next().unwrap().parse().unwrap();
        let stream = trio::net::open_tcp_stream("127.0.0.1", port).await?;
        trio::open_nursery(async |conn_n| {
            let (sender, conn) =
                hyper::client::conn::http2::Builder::new(trio::http::TrioExecutor::new(conn_n))
                    .timer(trio::http::TrioTimer)
                    .handshake::<_, Full<Bytes>>(trio::http::TrioIo::new(stream))
                    .await?;
            conn_n.start_soon(async move { Ok(conn.await?) })?;
            let (sender, base) = (&sender, &base);
            trio::open_nursery(async |reqs| {
                for i in 0..N {
                    reqs.start_soon(async move {
                        let mut sender = sender.clone();
                        let req = Request::get(format!("{base}/{i}"))
                            .body(Full::new(Bytes::new()))
                            .unwrap();
                        let resp = sender.send_request(req).await?;
                        let body = resp.into_body().collect().await?.to_bytes();
                        assert_eq!(body, format!("/{i}"));
                        Ok(())
                    })?;
                }
                Ok(())
            })
            .await?;
            conn_n.cancel_scope().cancel();
            Ok(())
        })
        .await?;
        assert_eq!(in_handler.get(), N);
        n.cancel_scope().cancel();
        Ok(())
    })
    .await?;
    Ok(())
}

#[trio::test]
async fn protocol_options_are_honoured() -> trio::Result<()> {
    let service = trio::http::service_fn(async |req: Request<Incoming>| {
        Ok::<_, Error>(text(format!("{:?}", req.version())))
    });
    trio::open_nursery(async |n| {
        let h1 = start(n, &service, Http::new().protocol(Protocol::Http1)).await?;
        let h2 = start(n, &service, Http::new().protocol(Protocol::Http2)).await?;
        let ok = trio::http::request(request(&h1, Version::HTTP_11, "")).await?;
        assert_eq!(ok.body(), "HTTP/1.1");
        let ok = trio::http::request(request(&h2, Version::HTTP_2, "")).await?;
        assert_eq!(ok.body(), "HTTP/2.0");
        // The wrong version fails (it does not hang).
        let limit = Duration::from_secs(30);
        let e = trio::fail_after(
            limit,
            trio::http::request(request(&h1, Version::HTTP_2, "")),
        )
        .await
        .unwrap_err();
        assert!(!e.is_cancelled() && e.kind() != ErrorKind::TooSlow, "{e}");
        let e = trio::fail_after(
            limit,
            trio::http::request(request(&h2, Version::HTTP_11, "")),
        )
        .await
        .unwrap_err();
        assert!(!e.is_cancelled() && e.kind() != ErrorKind::TooSlow, "{e}");
        n.cancel_scope().cancel();
        Ok(())
    })
    .await?;
    Ok(())
}

/// A failing handler ends its connection (HTTP/1) or stream (HTTP/2); the server
/// goes on, and reports the connection's error, with the handler's kind.
#[trio::test]
async fn a_failing_handler_fails_its_request_only() -> trio::Result<()> {
    let service = trio::http::service_fn(async |req: Request<Incoming>| {
        if req.uri().path() == "/fail" {
            return Err(Error::new(ErrorKind::Usage, "the handler gave up"));
        }
        Ok(text("fine"))
    });
    let reported = RefCell::new(Vec::new());
    trio::open_nursery(async |n| {
        let listeners = n
            .start(async |status| {
                trio::http::serve(&service, 0)
                    .host("127.0.0.1")
                    .on_connection_error(|e| reported.borrow_mut().push(e.kind()))
                    .task_status(status)
                    .await
            })
            .await?;
        let base = format!("http://127.0.0.1:{}", listeners[0].local_addr()?.port());
        for version in VERSIONS {
            let e = trio::http::request(request(&format!("{base}/fail"), version, ""))
                .await
                .unwrap_err();
            assert!(!e.is_cancelled(), "{e}");
            let ok = trio::http::request(request(&base, version, "")).await?;
            assert_eq!(ok.body(), "fine");
        }
        wait_all_tasks_blocked().await?;
        // HTTP/1: the connection failed with the handler's error.
        assert!(
            reported.borrow().contains(&ErrorKind::Usage),
            "{reported:?}"
        );
        n.cancel_scope().cancel();
        Ok(())
    })
    .await?;
    Ok(())
}

/// Cancelling the server's nursery shuts everything down: the listener, idle
/// keep-alive connections, and connections with a request in a handler.
#[trio::test]
async fn cancelling_the_nursery_shuts_the_server_down() -> trio::Result<()> {
    let in_handler = Event::new();
    let service = trio::http::service_fn(async |_req: Request<Incoming>| {
        in_handler.set();
        trio::sleep_forever().await?;
        Ok::<_, Error>(text("never"))
    });
    let listener = SocketListener::bind("127.0.0.1:0".parse().unwrap())?;
    let port = listener.local_addr()?.port();
    let client_errors = Cell::new(0);
    let errors = &client_errors;
    trio::open_nursery(async |outer| {
        // The client outlives the server.
        for version in VERSIONS {
            outer.start_soon(async move {
                let r =
                    trio::http::request(request(&format!("http://127.0.0.1:{port}/"), version, ""))
                        .await;
                assert!(!r.unwrap_err().is_cancelled());
                errors.set(errors.get() + 1);
                Ok(())
            })?;
        }
        // An idle connection too.
        let idle = trio::net::open_tcp_stream("127.0.0.1", port).await?;
        trio::open_nursery(async |server| {
            server.start_soon(trio::http::serve(&service, listener))?;
            in_handler.wait().await?;
            wait_all_tasks_blocked().await?;
            server.cancel_scope().cancel();
            Ok(())
        })
        .await?;
        // The listener is closed.
        assert!(trio::net::open_tcp_stream("127.0.0.1", port).await.is_err());
        let mut buf = [0u8; 1];
        assert_eq!(idle.receive_some(&mut buf).await?, 0);
        Ok(())
    })
    .await?;
    assert_eq!(client_errors.get(), 2);
    Ok(())
}

/// A body of `chunks` × 1 MiB with no length announced (sent chunked or as
/// HTTP/2 DATA frames until the end).
struct Chunks(usize);

impl hyper::body::Body for Chunks {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        if self.0 == 0 {
            return std::task::Poll::Ready(None);
        }
        self.0 -= 1;
        let chunk = Bytes::from(vec![b'x'; 1 << 20]);
        std::task::Poll::Ready(Some(Ok(hyper::body::Frame::data(chunk))))
    }
}

/// `get` reads at most `DEFAULT_BODY_LIMIT` (16 MiB) of a body, with or without
/// a `Content-Length`; `Client::body_limit` changes it.
#[trio::test]
async fn response_bodies_are_limited() -> trio::Result<()> {
    use http_body_util::Either;
    let service = trio::http::service_fn(async |req: Request<Incoming>| {
        let mib: usize = req.uri().path()[1..].parse().unwrap();
        Ok::<_, Error>(Response::new(if req.uri().query() == Some("sized") {
            Either::Left(Full::new(Bytes::from(vec![b'x'; mib << 20])))
        } else {
            Either::Right(Chunks(mib))
        }))
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
        let base = format!("http://127.0.0.1:{}", listeners[0].local_addr()?.port());
        assert_eq!(trio::http::DEFAULT_BODY_LIMIT, 16 << 20);
        for version in VERSIONS {
            for query in ["?sized", ""] {
                let get = |mib: usize, client: trio::http::Client| {
                    let req = Request::get(format!("{base}/{mib}{query}"))
                        .version(version)
                        .body(Full::new(Bytes::new()))
                        .unwrap();
                    async move { client.request(req).await }
                };
                let at_limit = get(16, trio::http::Client::new()).await?;
                assert_eq!(at_limit.body().len(), 16 << 20);
                let e = get(17, trio::http::Client::new()).await.unwrap_err();
                assert_eq!(e.kind(), ErrorKind::Other, "{e}");
                assert!(e.to_string().contains("larger than the limit"), "{e}");
                // The plain function has the same default.
                if version == Version::HTTP_11 {
                    let e = trio::http::get(&format!("{base}/17{query}"))
                        .await
                        .unwrap_err();
                    assert!(e.to_string().contains("larger than the limit"), "{e}");
                }
                let roomy = trio::http::Client::new().body_limit(32 << 20);
                assert_eq!(get(17, roomy).await?.body().len(), 17 << 20);
                let tight = trio::http::Client::new().body_limit(1000);
                assert!(get(1, tight).await.is_err());
            }
        }
        n.cancel_scope().cancel();
        Ok(())
    })
    .await?;
    Ok(())
}
