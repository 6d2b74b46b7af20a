//! `trio::http` and time: hyper's timers on trio's clock (driven by the mock
//! clock's autojump: no real waiting), and requests cancelled by cancel scopes.
#![cfg(feature = "hyper")]

use std::cell::{Cell, RefCell};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::rt::Timer;
use hyper::{Request, Response, Version};
use trio::abc::{ReceiveStream, SendStream};
use trio::http::{Http, Protocol, TrioSleep, TrioTimer};
use trio::sync::Event;
use trio::testing::{MockClock, wait_all_tasks_blocked};
use trio::{Error, ErrorKind, Instant};

fn text(s: &'static str) -> Response<Full<Bytes>> {
    Response::new(Full::new(Bytes::from(s)))
}

fn elapsed(clock: &MockClock, t0: Instant) -> Duration {
    clock.current_time() - t0
}

#[trio::test(autojump)]
async fn trio_timer_runs_on_the_mock_clock(clock: MockClock) -> trio::Result<()> {
    let real = std::time::Instant::now();
    let t0 = clock.current_time();
    let timer = TrioTimer;
    let before = timer.now();
    timer.sleep(Duration::from_secs(3600)).await;
    assert_eq!(elapsed(&clock, t0), Duration::from_secs(3600));
    // `now` follows the run's clock, in hyper's `std::time::Instant`s.
    assert_eq!(timer.now() - before, Duration::from_secs(3600));
    // `sleep_until` in those instants, and `reset`.
    let mut s = timer.sleep_until(timer.now() + Duration::from_secs(10));
    timer.reset(&mut s, timer.now() + Duration::from_secs(20));
    s.await;
    assert_eq!(elapsed(&clock, t0), Duration::from_secs(3620));
    assert!(real.elapsed() < Duration::from_secs(5));
    Ok(())
}

/// hyper's sleeps are not checkpoints: a cancelled scope does not end them early.
#[trio::test(autojump)]
async fn trio_sleep_ignores_cancellation(clock: MockClock) -> trio::Result<()> {
    let t0 = clock.current_time();
    let scope = trio::CancelScope::new();
    scope.cancel();
    let r = scope
        .run(async {
            TrioSleep::after(Duration::from_secs(10)).await;
            Ok::<_, Error>("slept")
        })
        .await?;
    assert_eq!(r, Some("slept"));
    assert_eq!(elapsed(&clock, t0), Duration::from_secs(10));
    Ok(())
}

/// Many sleeps, dropped and reset in any order, fire in deadline order.
#[trio::test(autojump)]
async fn many_sleeps_fire_in_order(clock: MockClock) -> trio::Result<()> {
    let t0 = clock.current_time();
    let order = RefCell::new(Vec::new());
    let order = &order;
    trio::open_nursery(async |n| {
        for i in [5u64, 1, 4, 2, 3] {
            n.start_soon(async move {
                TrioSleep::after(Duration::from_secs(i)).await;
                order.borrow_mut().push(i);
                Ok(())
            })?;
        }
        // Dropped before firing: nothing happens at 2.5 s.
        drop(TrioSleep::until(t0 + Duration::from_millis(2500)));
        let mut moved = TrioSleep::until(t0 + Duration::from_secs(100));
        moved.reset(t0 + Duration::from_secs(6));
        moved.await;
        Ok(())
    })
    .await?;
    assert_eq!(*order.borrow(), [1, 2, 3, 4, 5]);
    assert_eq!(elapsed(&clock, t0), Duration::from_secs(6));
    Ok(())
}

/// Starts `serve(service)` with `http`; returns the port and the errors the
/// server reported for connections.
async fn start<'e, S>(
    n: &trio::Nursery<'e>,
    service: S,
    http: Http,
    errors: &'e RefCell<Vec<Error>>,
) -> trio::Result<u16>
where
    S: hyper::service::Service<Request<Incoming>, Response = Response<Full<Bytes>>> + 'e,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let listeners = n
        .start(async move |status| {
            trio::http::serve(service, 0)
                .host("127.0.0.1")
                .http(http)
                .on_connection_error(move |e| {
                    let mut chain = e.to_string();
                    let mut source = std::error::Error::source(e);
                    while let Some(s) = source {
                        chain += &format!(": {s}");
                        source = s.source();
                    }
                    errors.borrow_mut().push(Error::new(e.kind(), chain))
                })
                .task_status(status)
                .await
        })
        .await?;
    listeners[0].local_addr().map(|a| a.port())
}

/// A client that sends half a request head: the server's header-read timeout
/// (hyper's, 30 s by default) closes the connection, in virtual time.
#[trio::test(autojump)]
async fn header_read_timeout_fires_under_autojump(clock: MockClock) -> trio::Result<()> {
    let real = std::time::Instant::now();
    let service =
        trio::http::service_fn(async |_req: Request<Incoming>| Ok::<_, Error>(text("hi")));
    for (http, timeout) in [
        (Http::new(), 30),
        (Http::new().protocol(Protocol::Http1), 30),
        (Http::new().header_read_timeout(Duration::from_secs(7)), 7),
    ] {
        let errors = RefCell::new(Vec::new());
        trio::open_nursery(async |n| {
            let port = start(n, &service, http, &errors).await?;
            let client = trio::net::open_tcp_stream("127.0.0.1", port).await?;
            client.send_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await?;
            let t0 = clock.current_time();
            let mut buf = [0u8; 64];
            // The server closes the connection without answering.
            let n_read = client.receive_some(&mut buf).await?;
            assert_eq!(
                &buf[..n_read],
                b"",
                "{:?}",
                String::from_utf8_lossy(&buf[..n_read])
            );
            assert_eq!(elapsed(&clock, t0), Duration::from_secs(timeout));
            wait_all_tasks_blocked().await?;
            n.cancel_scope().cancel();
            Ok(())
        })
        .await?;
        let errors = errors.borrow();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].kind(), ErrorKind::TooSlow, "{errors:?}");
    }
    assert!(real.elapsed() < Duration::from_secs(10));
    Ok(())
}

/// With protocol detection, a client that sends nothing at all is timed out
/// too.
#[trio::test(autojump)]
async fn silent_client_is_timed_out(clock: MockClock) -> trio::Result<()> {
    let service =
        trio::http::service_fn(async |_req: Request<Incoming>| Ok::<_, Error>(text("hi")));
    let errors = RefCell::new(Vec::new());
    trio::open_nursery(async |n| {
        let port = start(n, &service, Http::new(), &errors).await?;
        let client = trio::net::open_tcp_stream("127.0.0.1", port).await?;
        let t0 = clock.current_time();
        let mut buf = [0u8; 8];
        assert_eq!(client.receive_some(&mut buf).await?, 0);
        assert_eq!(elapsed(&clock, t0), Duration::from_secs(30));
        wait_all_tasks_blocked().await?;
        n.cancel_scope().cancel();
        Ok(())
    })
    .await?;
    assert_eq!(errors.borrow()[0].kind(), ErrorKind::TooSlow);
    Ok(())
}

/// Keep-alive connections with a request in progress are not timed out by the
/// header timeout while the handler works (for a full virtual hour).
#[trio::test(autojump)]
async fn slow_handlers_are_not_header_timeouts(clock: MockClock) -> trio::Result<()> {
    let service = trio::http::service_fn(async |_req: Request<Incoming>| {
        trio::sleep(Duration::from_secs(3600)).await?;
        Ok::<_, Error>(text("late"))
    });
    let errors = RefCell::new(Vec::new());
    trio::open_nursery(async |n| {
        let port = start(n, &service, Http::new(), &errors).await?;
        for version in [Version::HTTP_11, Version::HTTP_2] {
            let t0 = clock.current_time();
            let req = Request::get(format!("http://127.0.0.1:{port}/"))
                .version(version)
                .body(Full::new(Bytes::new()))
                .unwrap();
            let resp = trio::http::request(req).await?;
            assert_eq!(resp.body(), "late");
            assert_eq!(elapsed(&clock, t0), Duration::from_secs(3600));
        }
        n.cancel_scope().cancel();
        Ok(())
    })
    .await?;
    assert!(errors.borrow().is_empty(), "{:?}", errors.borrow());
    Ok(())
}

/// Sets its event when dropped (a handler's future dropped or finished).
struct SetOnDrop<'a>(&'a Event);

impl Drop for SetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.set();
    }
}

/// `move_on_after` around a request: the request is abandoned at the deadline
/// (`Ok(None)`, not an I/O error), its connection closed; the server notices
/// and its handler is cancelled too.
#[trio::test(autojump)]
async fn requests_are_cancelled_by_cancel_scopes(clock: MockClock) -> trio::Result<()> {
    for version in [Version::HTTP_11, Version::HTTP_2] {
        let started = Event::new();
        let handler_gone = Event::new();
        let handler_saw = Cell::new(None);
        let service = trio::http::service_fn(async |_req: Request<Incoming>| {
            let _guard = SetOnDrop(&handler_gone);
            started.set();
            let r = trio::sleep(Duration::from_secs(3600)).await;
            handler_saw.set(Some(r.is_err()));
            r?;
            Ok::<_, Error>(text("never"))
        });
        let errors = RefCell::new(Vec::new());
        trio::open_nursery(async |n| {
            let port = start(n, &service, Http::new(), &errors).await?;
            let t0 = clock.current_time();
            let req = Request::get(format!("http://127.0.0.1:{port}/"))
                .version(version)
                .body(Full::new(Bytes::new()))
                .unwrap();
            let r = trio::move_on_after(Duration::from_secs(5), trio::http::request(req)).await?;
            assert!(r.is_none());
            assert_eq!(elapsed(&clock, t0), Duration::from_secs(5));
            assert!(started.is_set());
            // The server sees the connection go and drops the handler.
            trio::fail_after(Duration::from_secs(60), handler_gone.wait()).await?;
            assert!(elapsed(&clock, t0) < Duration::from_secs(60));
            n.cancel_scope().cancel();
            Ok(())
        })
        .await?;
        // The handler never finished on its own.
        assert_ne!(handler_saw.get(), Some(false), "{version:?}");
    }
    Ok(())
}

/// `fail_after` gives `TooSlow`, which is what a per-request timeout wants.
#[trio::test(autojump)]
async fn fail_after_gives_too_slow(clock: MockClock) -> trio::Result<()> {
    let service = trio::http::service_fn(async |_req: Request<Incoming>| {
        trio::sleep(Duration::from_secs(3600)).await?;
        Ok::<_, Error>(text("late"))
    });
    let errors = RefCell::new(Vec::new());
    trio::open_nursery(async |n| {
        let port = start(n, &service, Http::new(), &errors).await?;
        let t0 = clock.current_time();
        let url = format!("http://127.0.0.1:{port}/");
        let e = trio::fail_after(Duration::from_secs(2), trio::http::get(&url))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::TooSlow);
        assert_eq!(elapsed(&clock, t0), Duration::from_secs(2));
        n.cancel_scope().cancel();
        Ok(())
    })
    .await?;
    Ok(())
}

/// Each run has its own timer table and driver: a second run on the same
/// thread (with a fresh mock clock) does not use the first one's.
#[test]
fn each_run_has_its_own_timers() {
    for _ in 0..3 {
        let clock = MockClock::new();
        clock.set_autojump_threshold(Duration::ZERO);
        let c = clock.clone();
        let rt = trio::Runtime::builder().clock(clock).build();
        rt.run(async move {
            let t0 = c.current_time();
            let timer = TrioTimer;
            let before = timer.now();
            timer.sleep(Duration::from_secs(10)).await;
            TrioSleep::after(Duration::from_secs(5)).await;
            assert_eq!(elapsed(&c, t0), Duration::from_secs(15));
            assert_eq!(timer.now() - before, Duration::from_secs(15));
            Ok::<_, Error>(())
        })
        .unwrap();
    }
}

/// The HTTP/2 connection preface and an empty SETTINGS frame: all an idle
/// client sends.
const H2_PREFACE_AND_SETTINGS: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0";

/// The frame types in `bytes` (HTTP/2 frames: 3 bytes of length, then the type).
fn frame_types(mut bytes: &[u8]) -> Vec<u8> {
    let mut types = Vec::new();
    while bytes.len() >= 9 {
        let len = u32::from_be_bytes([0, bytes[0], bytes[1], bytes[2]]) as usize;
        types.push(bytes[3]);
        bytes = &bytes[(9 + len).min(bytes.len())..];
    }
    types
}

/// Reads until the server closes the connection.
async fn read_to_end(client: &trio::net::SocketStream) -> trio::Result<Vec<u8>> {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let n = client.receive_some(&mut buf).await?;
        if n == 0 {
            return Ok(got);
        }
        got.extend_from_slice(&buf[..n]);
    }
}

/// A client that sends HTTP/2's preface and then nothing holds no connection
/// forever: after the default idle timeout (60 s, in virtual time) the server
/// says GOAWAY, waits a second for the client to take part in the goodbye, and
/// closes it — with protocol detection and with HTTP/2 only.
#[trio::test(autojump)]
async fn idle_http2_connections_are_closed_by_default(clock: MockClock) -> trio::Result<()> {
    let service =
        trio::http::service_fn(async |_req: Request<Incoming>| Ok::<_, Error>(text("hi")));
    assert_eq!(
        trio::http::DEFAULT_HTTP2_IDLE_TIMEOUT,
        Duration::from_secs(60)
    );
    for (http, limit) in [
        (Http::new(), 60),
        (Http::new().protocol(Protocol::Http2), 60),
        (Http::new().idle_timeout(Duration::from_secs(5)), 5),
    ] {
        let errors = RefCell::new(Vec::new());
        trio::open_nursery(async |n| {
            let port = start(n, &service, http, &errors).await?;
            let clients = 20;
            trio::open_nursery(async |cn| {
                for _ in 0..clients {
                    cn.start_soon(async {
                        let client = trio::net::open_tcp_stream("127.0.0.1", port).await?;
                        client.send_all(H2_PREFACE_AND_SETTINGS).await?;
                        let t0 = clock.current_time();
                        let got = read_to_end(&client).await?;
                        let grace = Duration::from_secs(1);
                        assert_eq!(elapsed(&clock, t0), Duration::from_secs(limit) + grace);
                        // SETTINGS (4) first; GOAWAY (7) before the end.
                        let types = frame_types(&got);
                        assert_eq!(types.first(), Some(&4), "{types:?}");
                        assert!(types.contains(&7), "no GOAWAY in {types:?}");
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
        // A graceful close is not a failure.
        assert!(errors.borrow().is_empty(), "{:?}", errors.borrow());
    }
    Ok(())
}

/// Idle means "no request in progress": the limit counts from the end of the
/// last response, and `idle_timeout(None)` switches it off.
#[trio::test(autojump)]
async fn http2_idle_time_counts_from_the_last_response(clock: MockClock) -> trio::Result<()> {
    let service = trio::http::service_fn(async |_req: Request<Incoming>| {
        trio::sleep(Duration::from_secs(100)).await?; // longer than the limit
        Ok::<_, Error>(text("slow"))
    });
    let errors = RefCell::new(Vec::new());
    trio::open_nursery(async |n| {
        let http = Http::new().idle_timeout(Duration::from_secs(10));
        let port = start(n, &service, http, &errors).await?;
        let stream = trio::net::open_tcp_stream("127.0.0.1", port).await?;
        let (closed_at, closed) = (Cell::new(None), Event::new());
        let (closed_at, closed, clock) = (&closed_at, &closed, &clock);
        trio::open_nursery(async |conn_n| {
            let (mut sender, conn) =
                hyper::client::conn::http2::Builder::new(trio::http::TrioExecutor::new(conn_n))
                    .timer(TrioTimer)
                    .handshake::<_, Full<Bytes>>(trio::http::TrioIo::new(stream))
                    .await?;
            conn_n.start_soon(async move {
                conn.await?; // ends when the server closes the connection
                closed_at.set(Some(clock.current_time()));
                closed.set();
                Ok(())
            })?;
            for _ in 0..2 {
                let t0 = clock.current_time();
                let req = Request::get(format!("http://127.0.0.1:{port}/"))
                    .body(Full::new(Bytes::new()))
                    .unwrap();
                let resp = sender.send_request(req).await?;
                assert_eq!(resp.status(), 200);
                assert_eq!(elapsed(clock, t0), Duration::from_secs(100));
                assert_eq!(closed_at.get(), None);
                trio::sleep(Duration::from_secs(5)).await?; // idle, under the limit
            }
            let last = clock.current_time() - Duration::from_secs(5);
            trio::fail_after(Duration::from_secs(60), closed.wait()).await?;
            assert_eq!(
                closed_at.get().unwrap() - last,
                Duration::from_secs(10),
                "closed 10 s after the last response"
            );
            Ok(())
        })
        .await?;
        // Switched off: still open after a virtual day.
        let http = Http::new().idle_timeout(None);
        let port = start(n, &service, http, &errors).await?;
        let client = trio::net::open_tcp_stream("127.0.0.1", port).await?;
        client.send_all(H2_PREFACE_AND_SETTINGS).await?;
        let r = trio::move_on_after(Duration::from_secs(86_400), read_to_end(&client)).await?;
        assert!(r.is_none(), "closed although idle_timeout(None)");
        n.cancel_scope().cancel();
        Ok(())
    })
    .await?;
    assert!(errors.borrow().is_empty(), "{:?}", errors.borrow());
    Ok(())
}
