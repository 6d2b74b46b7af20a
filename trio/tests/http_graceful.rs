//! A graceful stop of `trio::http::serve` (`CancelScope::cancel_gracefully` on the
//! scope it runs in): new connections are refused at once, idle keep-alive
//! connections are closed, HTTP/2 connections get GOAWAY, a request in flight that
//! finishes within the grace period gets its response (with `Connection: close`),
//! and one still running when the grace period ends is cancelled. On the mock
//! clock with autojump: the grace periods take no real time.
#![cfg(feature = "hyper")]

use std::cell::{Cell, RefCell};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use trio::abc::{HalfCloseableStream, ReceiveStream, SendStream};
use trio::http::Http;
use trio::net::SocketStream;
use trio::testing::{MockClock, wait_all_tasks_blocked};
use trio::{Error, Instant};

const GRACE: Duration = Duration::from_secs(10);
const SLOW: Duration = Duration::from_secs(2);

fn since(clock: &MockClock, t0: Instant) -> Duration {
    clock.current_time() - t0
}

async fn read_to_end(client: &SocketStream) -> trio::Result<Vec<u8>> {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match client.receive_some(&mut buf).await {
            Ok(0) => return Ok(got),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            // A connection torn down at the grace period's end may be reset.
            Err(e) if e.kind() == trio::ErrorKind::BrokenResource => return Ok(got),
            Err(e) => return Err(e),
        }
    }
}

/// Reads one HTTP/1.1 response with a `Content-Length` body.
async fn read_response(client: &SocketStream) -> trio::Result<String> {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let n = client.receive_some(&mut buf).await?;
        assert!(n > 0, "the server closed before answering: {got:?}");
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).to_string();
        if let Some(head_end) = text.find("\r\n\r\n") {
            let len: usize = text
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            if got.len() >= head_end + 4 + len {
                return Ok(text);
            }
        }
    }
}

#[trio::test(autojump)]
async fn a_graceful_stop_finishes_what_it_can_and_cancels_the_rest(
    clock: MockClock,
) -> trio::Result<()> {
    // When the stuck handler ended (cancelled, or dropped by hyper with its
    // connection), in trio time.
    let stuck_ended = Cell::new(None);
    let stuck_ended = &stuck_ended;
    struct OnDrop<'a>(&'a Cell<Option<Instant>>);
    impl Drop for OnDrop<'_> {
        fn drop(&mut self) {
            self.0.set(Some(trio::current_time()));
        }
    }
    let service = trio::http::service_fn(async move |req: Request<Incoming>| {
        let body = match req.uri().path() {
            "/slow" => {
                trio::sleep(SLOW).await?;
                "slow done"
            }
            "/stuck" => {
                let _ended = OnDrop(stuck_ended);
                return Err(trio::sleep_forever().await.unwrap_err());
            }
            _ => "hello",
        };
        Ok::<_, Error>(Response::new(Full::new(Bytes::from(body))))
    });
    let slow_response = RefCell::new(String::new());
    let stuck_response = RefCell::new(None);
    let (slow_response, stuck_response) = (&slow_response, &stuck_response);
    let mut t0 = clock.current_time();
    trio::open_nursery(async |clients| {
        trio::open_nursery(async |servers| {
            let listeners = servers
                .start(async |status| {
                    trio::http::serve(&service, 0)
                        .host("127.0.0.1")
                        .http(Http::new())
                        .on_connection_error(|_| {})
                        .task_status(status)
                        .await
                })
                .await?;
            let port = listeners[0].local_addr()?.port();

            // A keep-alive client: one request answered, the connection left open.
            let keep_alive = trio::net::open_tcp_stream("127.0.0.1", port).await?;
            keep_alive
                .send_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                .await?;
            assert!(read_response(&keep_alive).await?.ends_with("hello"));

            // Two requests in flight.
            clients.start_soon(async move {
                let c = trio::net::open_tcp_stream("127.0.0.1", port).await?;
                c.send_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n").await?;
                *slow_response.borrow_mut() =
                    String::from_utf8_lossy(&read_to_end(&c).await?).to_string();
                Ok(())
            })?;
            clients.start_soon(async move {
                let c = trio::net::open_tcp_stream("127.0.0.1", port).await?;
                c.send_all(b"GET /stuck HTTP/1.1\r\nHost: x\r\n\r\n")
                    .await?;
                *stuck_response.borrow_mut() = Some(read_to_end(&c).await?);
                Ok(())
            })?;
            wait_all_tasks_blocked().await?;

            t0 = clock.current_time();
            servers.cancel_scope().cancel_gracefully(GRACE);
            wait_all_tasks_blocked().await?;
            assert_eq!(since(&clock, t0), Duration::ZERO);

            // New connections are refused at once.
            let e = trio::net::open_tcp_stream("127.0.0.1", port)
                .await
                .unwrap_err();
            assert!(e.to_string().contains("refused"), "{e}");
            // The idle keep-alive connection is closed at once.
            assert_eq!(read_to_end(&keep_alive).await?, b"");
            assert_eq!(since(&clock, t0), Duration::ZERO);
            Ok(())
        })
        .await?;
        // The server (and its nursery) ended when the grace period did: the
        // stuck request kept it that long.
        assert_eq!(since(&clock, t0), GRACE);
        Ok(())
    })
    .await?;
    let slow = slow_response.borrow();
    assert!(slow.starts_with("HTTP/1.1 200 OK"), "{slow}");
    assert!(
        slow.to_ascii_lowercase().contains("connection: close"),
        "{slow}"
    );
    assert!(slow.ends_with("slow done"), "{slow}");
    assert_eq!(stuck_response.borrow().as_deref(), Some(&b""[..]));
    assert_eq!(stuck_ended.get().map(|t| t - t0), Some(GRACE));
    Ok(())
}

/// The HTTP/2 connection preface and an empty SETTINGS frame.
const H2_PREFACE_AND_SETTINGS: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0";

fn frame_types(mut bytes: &[u8]) -> Vec<u8> {
    let mut types = Vec::new();
    while bytes.len() >= 9 {
        let len = u32::from_be_bytes([0, bytes[0], bytes[1], bytes[2]]) as usize;
        types.push(bytes[3]);
        bytes = &bytes[(9 + len).min(bytes.len())..];
    }
    types
}

#[trio::test(autojump)]
async fn http2_connections_get_goaway_at_once(clock: MockClock) -> trio::Result<()> {
    let service = trio::http::service_fn(async |_req: Request<Incoming>| {
        Ok::<_, Error>(Response::new(Full::new(Bytes::from("hi"))))
    });
    let got = RefCell::new(Vec::new());
    let got = &got;
    let mut t0 = clock.current_time();
    let mut goaway_at = None;
    trio::open_nursery(async |servers| {
        let listeners = servers
            .start(async |status| {
                trio::http::serve(&service, 0)
                    .host("127.0.0.1")
                    .task_status(status)
                    .await
            })
            .await?;
        let port = listeners[0].local_addr()?.port();
        let client = trio::net::open_tcp_stream("127.0.0.1", port).await?;
        client.send_all(H2_PREFACE_AND_SETTINGS).await?;
        // The server's SETTINGS.
        let mut buf = [0u8; 1024];
        let n = client.receive_some(&mut buf).await?;
        got.borrow_mut().extend_from_slice(&buf[..n]);
        wait_all_tasks_blocked().await?;
        t0 = clock.current_time();
        servers.cancel_scope().cancel_gracefully(GRACE);
        // GOAWAY arrives without waiting for the grace period.
        loop {
            let n = client.receive_some(&mut buf).await?;
            if n == 0 {
                break;
            }
            got.borrow_mut().extend_from_slice(&buf[..n]);
            if frame_types(&got.borrow()).contains(&7) && goaway_at.is_none() {
                goaway_at = Some(since(&clock, t0));
                // Answer like a client that has nothing more to send.
                client.send_eof().await.ok();
            }
        }
        Ok(())
    })
    .await?;
    assert_eq!(
        goaway_at,
        Some(Duration::ZERO),
        "{:?}",
        frame_types(&got.borrow())
    );
    assert!(since(&clock, t0) < GRACE);
    Ok(())
}
