//! `trio::http::serve` isolates each connection: a service that panics on one
//! request, or fails, ends that request's connection only — requests on other
//! connections, in progress or new, keep succeeding, over HTTP/1.1 and HTTP/2,
//! and the per-connection error hook hears of every failure.
#![cfg(feature = "hyper")]

mod net_support;

use std::cell::{Cell, RefCell};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, Version};
use trio::sync::Event;
use trio::{Error, ErrorKind};

fn text(s: &'static str) -> Response<Full<Bytes>> {
    Response::new(Full::new(Bytes::from(s)))
}

/// An error with its sources, as one line.
fn chain(e: &Error) -> String {
    let mut s = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        s += &format!(": {inner}");
        source = inner.source();
    }
    s
}

/// Starts `serve(service)` on a loopback port in `n`, each connection's failure
/// pushed (with its causes) to `errors`; returns the port.
async fn start<'e, S>(
    n: &trio::Nursery<'e>,
    service: S,
    errors: &'e RefCell<Vec<String>>,
) -> trio::Result<u16>
where
    S: hyper::service::Service<Request<Incoming>, Response = Response<Full<Bytes>>> + 'e,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let listeners = n
        .start(async move |status| {
            trio::http::serve(service, 0)
                .host("127.0.0.1")
                .on_connection_error(move |e| errors.borrow_mut().push(chain(e)))
                .task_status(status)
                .await
        })
        .await?;
    Ok(listeners[0].local_addr()?.port())
}

fn get(url: &str, version: Version) -> Request<Full<Bytes>> {
    Request::get(url)
        .version(version)
        .body(Full::new(Bytes::new()))
        .unwrap()
}

#[trio::test]
async fn a_panicking_handler_ends_only_its_connection() -> trio::Result<()> {
    let release_slow = Event::new();
    let slow_started = Event::new();
    let served = Cell::new(0);
    let service = trio::http::service_fn(async |req: Request<Incoming>| {
        match req.uri().path() {
            "/panic" => panic!("this handler panics on purpose"),
            "/fail" => return Err(Error::new(ErrorKind::Other, "this handler fails")),
            "/slow" => {
                slow_started.set();
                release_slow.wait().await?;
            }
            _ => {}
        }
        served.set(served.get() + 1);
        Ok::<_, Error>(text("fine"))
    });
    let errors = RefCell::new(Vec::<String>::new());
    trio::open_nursery(async |n| {
        let port = start(n, &service, &errors).await?;
        let base = format!("http://127.0.0.1:{port}");
        let base = &base;
        for version in [Version::HTTP_11, Version::HTTP_2] {
            trio::open_nursery(async |m| {
                // A request in progress on another connection while the others fail.
                m.start_soon(async move {
                    let resp = trio::http::request(get(&format!("{base}/slow"), version)).await?;
                    assert_eq!(resp.body(), "fine");
                    Ok(())
                })?;
                slow_started.wait().await?;
                for _ in 0..3 {
                    let panicked =
                        trio::http::request(get(&format!("{base}/panic"), version)).await;
                    assert!(panicked.is_err(), "{version:?}: {panicked:?}");
                    let failed = trio::http::request(get(&format!("{base}/fail"), version)).await;
                    assert!(failed.is_err(), "{version:?}: {failed:?}");
                    let ok = trio::http::request(get(&format!("{base}/"), version)).await?;
                    assert_eq!(ok.body(), "fine");
                }
                release_slow.set();
                Ok(())
            })
            .await?;
        }
        n.cancel_scope().cancel();
        Ok(())
    })
    .await?;
    assert_eq!(served.get(), 2 * (3 + 1));
    let errors = errors.borrow();
    let panics = errors.iter().filter(|e| e.contains("panicked")).count();
    assert_eq!(panics, 6, "{errors:#?}");
    assert!(
        errors
            .iter()
            .filter(|e| e.contains("panicked"))
            .all(|e| e.contains("this handler panics on purpose")),
        "{errors:#?}"
    );
    // HTTP/1 ends the connection of a failing service; HTTP/2 resets the stream.
    assert!(
        errors.iter().any(|e| e.contains("this handler fails")),
        "{errors:#?}"
    );
    Ok(())
}

/// `serve_tcp` with `on_connection_error` isolates panics the same way.
#[trio::test]
async fn serve_tcp_with_a_hook_survives_a_panicking_handler() -> trio::Result<()> {
    use trio::abc::{ReceiveStream, SendStream};
    let handler = async |s: trio::net::SocketStream| {
        let mut buf = [0u8; 8];
        let n = s.receive_some(&mut buf).await?;
        if &buf[..n] == b"panic" {
            panic!("tcp handler panics on purpose");
        }
        s.send_all(&buf[..n]).await
    };
    let errors = RefCell::new(Vec::<String>::new());
    trio::open_nursery(async |n| {
        let listeners = n
            .start(async |status| {
                trio::net::serve_tcp(handler, 0)
                    .host("127.0.0.1")
                    .on_connection_error(|e| errors.borrow_mut().push(e.to_string()))
                    .task_status(status)
                    .await
            })
            .await?;
        let port = listeners[0].local_addr()?.port();
        for _ in 0..3 {
            let bad = trio::net::open_tcp_stream("127.0.0.1", port).await?;
            bad.send_all(b"panic").await?;
            assert_eq!(bad.receive_some(&mut [0u8; 8]).await?, 0);
            let good = trio::net::open_tcp_stream("127.0.0.1", port).await?;
            good.send_all(b"echo").await?;
            let mut buf = [0u8; 8];
            assert_eq!(good.receive_some(&mut buf).await?, 4);
            assert_eq!(&buf[..4], b"echo");
        }
        n.cancel_scope().cancel();
        Ok(())
    })
    .await?;
    let errors = errors.borrow();
    assert_eq!(errors.len(), 3, "{errors:#?}");
    assert!(
        errors
            .iter()
            .all(|e| e.contains("tcp handler panics on purpose"))
    );
    Ok(())
}

/// Clients that reset, send garbage, or pipeline requests without ever reading
/// the answers: each is a problem of its own connection; a well-behaved client
/// is still served (HTTP/1.1 and HTTP/2).
#[trio::test(autojump)]
async fn http_serve_survives_hostile_clients() -> trio::Result<()> {
    use trio::abc::{ReceiveStream, SendStream};
    let service =
        trio::http::service_fn(async |_req: Request<Incoming>| Ok::<_, Error>(text("fine")));
    let errors = RefCell::new(Vec::<String>::new());
    trio::open_nursery(async |n| {
        let port = start(n, &service, &errors).await?;
        let base = format!("http://127.0.0.1:{port}");
        let still_served = async || -> trio::Result<()> {
            for version in [Version::HTTP_11, Version::HTTP_2] {
                let resp = trio::http::request(get(&format!("{base}/"), version)).await?;
                assert_eq!(resp.body(), "fine");
            }
            Ok(())
        };
        // Resets: half a request head, then RST.
        for partial in [&b""[..], b"GET / HT", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"] {
            let s = trio::net::open_tcp_stream("127.0.0.1", port).await?;
            s.send_all(partial).await?;
            net_support::reset_on_close(&s)?;
            drop(s);
        }
        still_served().await?;
        // Garbage: not HTTP at all, a TLS ClientHello's first bytes, a head
        // that never ends.
        for junk in [
            b"\x00\x01\x02\xff\xfe hello there\r\n\r\n".to_vec(),
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03".to_vec(),
            [b"GET / HTTP/1.1\r\nX: ".to_vec(), vec![b'a'; 1 << 20]].concat(),
        ] {
            let s = trio::net::open_tcp_stream("127.0.0.1", port).await?;
            let _ = s.send_all(&junk).await; // the server may close before taking it all
            let mut buf = [0u8; 1024];
            // The server answers (a 400, say) or not, and closes.
            while matches!(s.receive_some(&mut buf).await, Ok(k) if k > 0) {}
        }
        still_served().await?;
        // Never reads: pipelines requests until its own sending blocks, and
        // keeps the connection open. It holds that one connection only.
        let deaf = trio::net::open_tcp_stream("127.0.0.1", port).await?;
        let deaf = &deaf;
        trio::open_nursery(async |m| {
            m.start_soon(async move {
                let many = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".repeat(1000);
                loop {
                    deaf.send_all(&many).await?;
                }
            })?;
            trio::testing::wait_all_tasks_blocked().await?;
            still_served().await?;
            m.cancel_scope().cancel();
            Ok(())
        })
        .await?;
        n.cancel_scope().cancel();
        Ok(())
    })
    .await?;
    // Each bad connection was reported as its own (and no panic happened).
    let errors = errors.borrow();
    assert!(errors.len() >= 4, "{errors:#?}");
    assert!(
        !errors.iter().any(|e| e.contains("panicked")),
        "{errors:#?}"
    );
    Ok(())
}
