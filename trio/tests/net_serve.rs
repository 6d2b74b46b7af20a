//! `serve_listeners`. Ported from Python Trio's
//! `src/trio/_tests/test_highlevel_serve_listeners.py` (each test names the one it
//! ports), with its in-memory listener (whose streams here are Unix socket pairs).
//!
//! Trio checks the log records of the capacity-error test with pytest's
//! `caplog`; here each back-off is a diagnostic (`Builder::on_diagnostic`), which
//! the test collects and counts alongside the retries.

mod net_support;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use net_support::os_error;
use trio::abc::{AsyncResource, Listener, ReceiveStream, SendStream};
use trio::lowlevel::checkpoint;
use trio::net::{SocketStream, serve_listeners};
use trio::testing::{MockClock, wait_all_tasks_blocked};
use trio::{
    Error, ErrorKind, LocalMemoryReceiveChannel, LocalMemorySendChannel, current_time,
    open_local_memory_channel,
};

/// Trio's `MemoryListener`: `connect` makes a stream pair and queues one end for
/// `accept`.
struct MemoryListener {
    closed: Cell<bool>,
    accept_calls: Cell<usize>,
    accepted: Cell<usize>,
    tx: LocalMemorySendChannel<SocketStream>,
    rx: LocalMemoryReceiveChannel<SocketStream>,
    accept_hook: Option<fn() -> Error>,
}

impl MemoryListener {
    fn new() -> MemoryListener {
        let (tx, rx) = open_local_memory_channel(1);
        MemoryListener {
            closed: Cell::new(false),
            accept_calls: Cell::new(0),
            accepted: Cell::new(0),
            tx,
            rx,
            accept_hook: None,
        }
    }

    fn failing(hook: fn() -> Error) -> MemoryListener {
        MemoryListener {
            accept_hook: Some(hook),
            ..MemoryListener::new()
        }
    }

    async fn connect(&self) -> trio::Result<SocketStream> {
        assert!(!self.closed.get());
        let (client, server) = SocketStream::pair()?;
        self.tx.send(server).await.map_err(|e| e.into_parts().0)?;
        Ok(client)
    }
}

impl AsyncResource for MemoryListener {
    async fn aclose(&self) -> trio::Result<()> {
        self.closed.set(true);
        checkpoint().await
    }
}

impl Listener for MemoryListener {
    type Stream = SocketStream;

    async fn accept(&self) -> trio::Result<SocketStream> {
        checkpoint().await?;
        assert!(!self.closed.get());
        self.accept_calls.set(self.accept_calls.get() + 1);
        if let Some(hook) = self.accept_hook {
            return Err(hook());
        }
        let s = self.rx.receive().await?;
        self.accepted.set(self.accepted.get() + 1);
        Ok(s)
    }
}

// Ported from test_serve_listeners_basic.
#[trio::test]
async fn serve_listeners_basic() -> trio::Result<()> {
    let handled = Cell::new(0);
    let handled_ref = &handled;
    let handler = async move |stream: SocketStream| {
        stream.send_all(b"123").await?;
        let mut buf = [0u8; 10];
        let n = stream.receive_some(&mut buf).await?;
        assert_eq!(&buf[..n], b"456");
        handled_ref.set(handled_ref.get() + 1);
        Ok(())
        // The stream is dropped here: closed at once.
    };
    let listeners = trio::open_nursery(async |n| {
        let listeners = n
            .start(async |status| {
                serve_listeners(handler, vec![MemoryListener::new(), MemoryListener::new()])
                    .task_status(status)
                    .await
            })
            .await?;
        assert_eq!(listeners.len(), 2);
        let ls = &listeners;
        trio::open_nursery(async |clients| {
            for l in ls {
                for _ in 0..3 {
                    clients.start_soon(async move {
                        let s = l.connect().await?;
                        let mut buf = [0u8; 10];
                        let n = s.receive_some(&mut buf).await?;
                        assert_eq!(&buf[..n], b"123");
                        s.send_all(b"456").await?;
                        // The handler's end was closed when it returned.
                        assert_eq!(s.receive_some(&mut buf).await?, 0);
                        Ok(())
                    })?;
                }
            }
            Ok(())
        })
        .await?;
        wait_all_tasks_blocked().await?;
        n.cancel_scope().cancel();
        Ok(listeners)
    })
    .await?
    .expect("the body returned");
    assert_eq!(handled.get(), 6);
    for l in &listeners {
        assert_eq!(l.accepted.get(), 3);
        assert!(l.closed.get(), "serve_listeners closes its listeners");
    }
    Ok(())
}

// Ported from test_serve_listeners_accept_unrecognized_error.
#[trio::test]
async fn serve_listeners_accept_unrecognized_error() -> trio::Result<()> {
    let handler = async |_: SocketStream| Ok(());
    let e = serve_listeners(
        handler,
        vec![MemoryListener::failing(|| {
            Error::new(ErrorKind::Other, "KeyError")
        })],
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Other);
    assert_eq!(e.to_string(), "KeyError");

    let e = serve_listeners(
        handler,
        vec![MemoryListener::failing(|| {
            std::io::Error::from_raw_os_error(libc::ECONNABORTED).into()
        })],
    )
    .await
    .unwrap_err();
    assert_eq!(os_error(&e), Some(libc::ECONNABORTED));
    Ok(())
}

// Ported from test_serve_listeners_accept_capacity_error.
#[test]
fn serve_listeners_accept_capacity_error() {
    let diagnostics = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let diags = diagnostics.clone();
    let clock = MockClock::new();
    clock.set_autojump_threshold(Duration::ZERO);
    trio::Runtime::builder()
        .clock(clock)
        .on_diagnostic(move |d: &trio::lowlevel::Diagnostic| {
            diags.lock().unwrap().push((d.kind(), d.to_string()))
        })
        .build()
        .run(accept_capacity_error())
        .unwrap();
    let diagnostics = diagnostics.lock().unwrap();
    // Ten back-offs per errno, each named in its message.
    assert_eq!(diagnostics.len(), 40, "{diagnostics:?}");
    for (i, name) in ["EMFILE", "ENFILE", "ENOMEM", "ENOBUFS"].iter().enumerate() {
        for (kind, message) in &diagnostics[i * 10..(i + 1) * 10] {
            assert_eq!(*kind, trio::lowlevel::DiagnosticKind::AcceptBackoff);
            assert!(
                message.starts_with(&format!(
                    "trio::net::serve_listeners: accept returned {name} ("
                )),
                "{message}"
            );
            assert!(message.ends_with("retrying in 100 ms"), "{message}");
        }
    }
}

async fn accept_capacity_error() -> trio::Result<()> {
    for errno in [libc::EMFILE, libc::ENFILE, libc::ENOMEM, libc::ENOBUFS] {
        let handler = async |_: SocketStream| Ok(());
        let listener = MemoryListener::new();
        let listener = MemoryListener {
            accept_hook: Some(match errno {
                libc::EMFILE => || std::io::Error::from_raw_os_error(libc::EMFILE).into(),
                libc::ENFILE => || std::io::Error::from_raw_os_error(libc::ENFILE).into(),
                libc::ENOMEM => || std::io::Error::from_raw_os_error(libc::ENOMEM).into(),
                _ => || std::io::Error::from_raw_os_error(libc::ENOBUFS).into(),
            }),
            ..listener
        };
        let start = current_time();
        // It retries every 100 ms, so in 950 ms it tries at 0, 100, ..., 900:
        // 10 times in all.
        let mut calls = None;
        trio::open_nursery(async |n| {
            let ls = n
                .start(async |status| {
                    serve_listeners(handler, vec![listener])
                        .task_status(status)
                        .await
                })
                .await?;
            trio::sleep(Duration::from_millis(950)).await?;
            calls = Some(ls[0].accept_calls.get());
            n.cancel_scope().cancel();
            Ok(())
        })
        .await?;
        assert_eq!(calls, Some(10));
        assert_eq!(current_time() - start, Duration::from_millis(950));
    }
    Ok(())
}

// Ported from test_serve_listeners_connection_nursery.
#[trio::test(autojump)]
async fn serve_listeners_connection_nursery(_clock: MockClock) -> trio::Result<()> {
    let handler = async |_s: SocketStream| trio::sleep(Duration::from_secs(1)).await;
    let e = trio::open_nursery(async |handler_nursery| {
        // The watcher lives in the handler nursery, next to the handlers.
        let hn = handler_nursery.clone();
        handler_nursery.start_soon(async move {
            wait_all_tasks_blocked().await?;
            // 10 handlers, plus this watcher.
            assert_eq!(hn.info().child_tasks().len(), 11);
            Err(Error::new(ErrorKind::Other, "Done"))
        })?;
        trio::open_nursery(async |n| {
            let listeners = n
                .start(async |status| {
                    serve_listeners(handler, vec![MemoryListener::new()])
                        .handler_nursery(handler_nursery)
                        .task_status(status)
                        .await
                })
                .await?;
            for _ in 0..10 {
                let l = listeners[0].clone();
                n.start_soon(async move { l.connect().await.map(drop) })?;
            }
            Ok(())
        })
        .await
    })
    .await
    .unwrap_err();
    assert_eq!(e.to_string(), "Done");
    Ok(())
}

// Trio's warning: a handler's error is not caught; it stops the server.
#[trio::test]
async fn a_failing_handler_stops_the_server() -> trio::Result<()> {
    let handler = async |_s: SocketStream| Err(Error::new(ErrorKind::Other, "handler broke"));
    let e = trio::open_nursery(async |n| {
        let listeners = n
            .start(async |status| {
                serve_listeners(handler, vec![MemoryListener::new()])
                    .task_status(status)
                    .await
            })
            .await?;
        let c = listeners[0].connect().await?;
        // The server is gone: its end of the stream is closed.
        let mut buf = [0u8; 1];
        assert_eq!(c.receive_some(&mut buf).await?, 0);
        trio::sleep_forever().await
    })
    .await
    .unwrap_err();
    assert_eq!(e.to_string(), "handler broke");
    Ok(())
}

// With no listeners there is nothing to serve: it returns at once.
#[trio::test]
async fn serving_no_listeners_returns() -> trio::Result<()> {
    let handler = async |_s: SocketStream| Ok(());
    serve_listeners(handler, Vec::<MemoryListener>::new()).await
}

/// A server cancelled outright — even before its first `accept` — stops with
/// `Cancelled`, as in Trio: `Ok` means a graceful stop, and a cancellation is not
/// one (`move_on_after` sees its own cancellation caught, not a server that
/// returned).
#[trio::test]
async fn a_server_cancelled_before_it_accepts_is_cancelled_not_stopped() -> trio::Result<()> {
    let handler = async |_s: SocketStream| Ok(());
    for timeout in [Duration::ZERO, Duration::from_secs(3600)] {
        let scope = trio::CancelScope::new();
        if timeout.is_zero() {
            scope.cancel(); // before the server's tasks run
        }
        let s = &scope;
        let r = trio::open_nursery(async |n| {
            n.start_soon(async move {
                let r = s
                    .run(serve_listeners(handler, vec![MemoryListener::new()]))
                    .await?;
                assert_eq!(r, None, "the server returned instead of being cancelled");
                Ok(())
            })?;
            wait_all_tasks_blocked().await?;
            scope.cancel(); // while it waits in accept
            Ok(())
        })
        .await;
        r?;
        assert!(scope.cancelled_caught());
    }
    Ok(())
}

// The listeners stay shared: Rc handles come back from `start`.
#[trio::test]
async fn started_listeners_are_shared() -> trio::Result<()> {
    let handler = async |_s: SocketStream| Ok(());
    trio::open_nursery(async |n| {
        let ls: Vec<Rc<MemoryListener>> = n
            .start(async |status| {
                serve_listeners(handler, vec![MemoryListener::new()])
                    .task_status(status)
                    .await
            })
            .await?;
        assert_eq!(Rc::strong_count(&ls[0]), 3); // ours, the server's list, its task
        n.cancel_scope().cancel();
        Ok(())
    })
    .await?;
    Ok(())
}

/// A graceful stop (`cancel_gracefully` on the scope the server runs in): no new
/// connections from that moment (refused: the listener is closed), the handlers
/// in progress finish, and the server returns `Ok` once they have — long before
/// the grace period ends.
#[trio::test(autojump)]
async fn a_graceful_stop_stops_accepting_and_lets_handlers_finish(
    clock: MockClock,
) -> trio::Result<()> {
    let handler = async |s: trio::net::SocketStream| {
        trio::sleep(Duration::from_secs(2)).await?;
        s.send_all(b"bye").await
    };
    let mut t0 = clock.current_time();
    let served = trio::open_nursery(async |n| {
        let listeners = n
            .start(async |status| {
                trio::net::serve_tcp(handler, 0)
                    .host("127.0.0.1")
                    .task_status(status)
                    .await
            })
            .await?;
        let port = listeners[0].local_addr()?.port();
        let client = trio::net::open_tcp_stream("127.0.0.1", port).await?;
        wait_all_tasks_blocked().await?;
        t0 = clock.current_time();
        n.cancel_scope().cancel_gracefully(Duration::from_secs(60));
        wait_all_tasks_blocked().await?;
        let refused = trio::net::open_tcp_stream("127.0.0.1", port).await;
        assert!(refused.is_err());
        let mut buf = [0u8; 8];
        let got = client.receive_some(&mut buf).await?;
        assert_eq!(&buf[..got], b"bye");
        Ok(())
    })
    .await?;
    // The nursery ended on its own (Some): serve_tcp returned Ok.
    assert_eq!(served, Some(()));
    assert_eq!(clock.current_time() - t0, Duration::from_secs(2));
    Ok(())
}
