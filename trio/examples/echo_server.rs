//! A TCP echo server, with clients to talk to it. Run it with:
//!
//! ```text
//! cargo run --release --example echo_server             # server + 3 demo clients, then exits
//! cargo run --release --example echo_server -- --serve  # serve on 127.0.0.1:12345 until Ctrl-C
//! ```
//!
//! (With `--serve`, try `nc 127.0.0.1 12345` from another terminal.)
//!
//! What to look at:
//!
//! * **`serve_tcp` started with `nursery.start`.** `start` returns once the server
//!   is listening, with its listeners, so the port is known and clients can
//!   connect at once: no sleep, no retry loop.
//! * **One task per connection, owned by the server.** Each connection's handler
//!   owns its `SocketStream`; when the handler returns, the stream is closed. When
//!   the server is cancelled, every handler is cancelled and waited for.
//! * **One bad client is that client's problem.** `on_connection_error` makes
//!   each connection's failure its own: a client that resets its connection,
//!   sends garbage, or stops reading (its echo then times out) ends its own
//!   connection, with a line on stderr; the server goes on.
//! * **Timeouts are scopes.** Each client runs under `fail_after`: if the server
//!   took too long, the client would fail with `TooSlow` instead of hanging.
//! * **Half-close.** Each client calls `send_eof` when it has sent everything and
//!   reads until the end of the stream: the server's `receive_some` returns 0 and
//!   the handler returns.

use std::rc::Rc;
use std::time::Duration;

use trio::abc::{HalfCloseableStream, ReceiveStream, SendStream};
use trio::net::{SocketListener, SocketStream, open_tcp_stream, serve_tcp};
use trio::{TaskStatus, fail_after};

/// How long a client may leave our echo unread before we give up on it.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// Echoes every byte back until the client closes its side.
async fn echo(stream: SocketStream) -> trio::Result<()> {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = stream.receive_some(&mut buf).await?;
        if n == 0 {
            return Ok(()); // the client sent EOF: we are done
        }
        // A client that sends but never reads would block us here forever.
        fail_after(SEND_TIMEOUT, stream.send_all(&buf[..n]))
            .await
            .map_err(|e| match e.kind() {
                trio::ErrorKind::TooSlow => e.context(
                    trio::ErrorKind::TooSlow,
                    format!("the client left its echo unread for {SEND_TIMEOUT:?}"),
                ),
                _ => e,
            })?;
    }
}

/// The echo server on 127.0.0.1:`port` (0: any free port); reports its
/// listeners through `status` once it accepts connections. (Public for
/// `tests/examples_servers.rs`, which sends it hostile clients.)
pub async fn serve(port: u16, status: TaskStatus<Vec<Rc<SocketListener>>>) -> trio::Result<()> {
    serve_tcp(echo, port)
        .host("127.0.0.1")
        .on_connection_error(|e| eprintln!("echo server: a connection failed: {e}"))
        .task_status(status)
        .await
}

/// Connects, sends a few lines, half-closes, and checks that all came back.
async fn client(id: usize, port: u16) -> trio::Result<()> {
    let stream = open_tcp_stream("127.0.0.1", port).await?;
    let mut sent = Vec::new();
    for line in 0..3 {
        let msg = format!("client {id}, line {line}\n");
        stream.send_all(msg.as_bytes()).await?;
        sent.extend_from_slice(msg.as_bytes());
    }
    stream.send_eof().await?; // "that's all": the server sees the end of the stream

    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let n = stream.receive_some(&mut buf).await?;
        if n == 0 {
            break; // the server closed its side after echoing everything
        }
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(got, sent, "the echo must be exact");
    print!("{}", String::from_utf8_lossy(&got));
    Ok(())
}

#[trio::main]
async fn main() -> trio::Result<()> {
    let serve_forever = std::env::args().any(|a| a == "--serve");
    let port = if serve_forever { 12345 } else { 0 }; // 0: any free port

    trio::open_nursery(async |n| {
        let listeners = n.start(async |status| serve(port, status).await).await?;
        let port = listeners[0].local_addr()?.port();
        println!("echo server listening on 127.0.0.1:{port}");
        if serve_forever {
            println!("press Ctrl-C to stop");
            return Ok(()); // the server task keeps the nursery (and the program) alive
        }

        // Three clients at once, each with its own deadline.
        trio::open_nursery(async |clients| {
            for id in 0..3 {
                clients.start_soon(trio::fail_after(Duration::from_secs(10), client(id, port)))?;
            }
            Ok(())
        })
        .await?;
        println!("all clients got their echo back; stopping the server");
        n.cancel_scope().cancel(); // cancels serve_tcp and any handler still running
        Ok(())
    })
    .await?;
    Ok(())
}
