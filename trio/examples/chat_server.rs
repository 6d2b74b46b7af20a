//! A line-based TCP chat server, with clients that chat on it. Run it with:
//!
//! ```text
//! cargo run --release --example chat_server             # server + 3 demo clients, then exits
//! cargo run --release --example chat_server -- --serve  # serve on 127.0.0.1:12346 until Ctrl-C
//! ```
//!
//! (With `--serve`, connect with `nc 127.0.0.1 12346` from a few terminals.)
//!
//! Every line a client sends goes to every other client. What to look at:
//!
//! * **Two tasks per connection, in a nursery.** One reads the client's lines and
//!   hands them to the others; one writes the client's outbox to its socket. If
//!   either fails (the client went away), the nursery cancels the other, and the
//!   connection is cleaned up in one place.
//! * **A slow client cannot stall the room.** Each client has a bounded outbox (a
//!   memory channel). Delivery uses `send_nowait`: if a client's outbox is full, that
//!   client is too slow and is disconnected — everyone else goes on. A client
//!   that stops reading altogether is dropped when a write has waited 10 s.
//! * **One bad client is that client's problem.** A client that resets its
//!   connection just leaves; one that sends an endless line (garbage, or an
//!   attack on memory) is cut off at 4 KiB; `on_connection_error` reports such
//!   failures on stderr, and the server goes on.
//! * **No shared-state locks.** Everything runs on one thread, so the room is a
//!   `RefCell`; it is never borrowed across an `.await`.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use trio::abc::{HalfCloseableStream, ReceiveStream, SendStream};
use trio::net::{SocketListener, SocketStream, open_tcp_stream, serve_tcp};
use trio::{Error, ErrorKind, MemorySendChannel, TaskStatus, fail_after};

/// Lines a client may have waiting before it counts as too slow.
const OUTBOX: usize = 64;
/// The longest line a client may send.
const MAX_LINE: usize = 4096;
/// How long a write to a client may wait (for it to read) before we give up.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// The connected clients: id → outbox.
#[derive(Default)]
pub struct Room {
    next_id: Cell<u64>,
    members: RefCell<BTreeMap<u64, MemorySendChannel<Rc<str>>>>,
    /// For the demo: set once this many clients are in the room (0: never).
    expect: Cell<usize>,
    all_in: trio::sync::Event,
}

impl Room {
    /// Sends `line` to everyone but `from`; disconnects whoever cannot keep up.
    fn broadcast(&self, from: u64, line: &str) {
        let line: Rc<str> = Rc::from(line);
        self.members.borrow_mut().retain(|&id, outbox| {
            id == from
                || match outbox.send_nowait(line.clone()) {
                    Ok(()) => true,
                    // Full (too slow) or gone: drop the outbox; its writer sees the
                    // end of the channel and ends the connection.
                    Err(_) => false,
                }
        });
    }
}

/// Serves one client until it leaves.
async fn handle(room: &Room, stream: SocketStream) -> trio::Result<()> {
    let id = room.next_id.get();
    room.next_id.set(id + 1);
    let (tx, rx) = trio::open_memory_channel::<Rc<str>>(OUTBOX);
    room.members.borrow_mut().insert(id, tx);
    if room.members.borrow().len() == room.expect.get() {
        room.all_in.set();
    }
    let stream = &stream;

    let result = trio::open_nursery(async |n| {
        // Writer: the outbox to the socket. The outbox ends only when the room
        // drops it, because this client could not keep up: that ends the
        // connection (the error cancels the reader).
        n.start_soon(async move {
            while let Some(line) = rx.receive_or_end().await? {
                fail_after(SEND_TIMEOUT, stream.send_all(line.as_bytes()))
                    .await
                    .map_err(|e| match e.kind() {
                        ErrorKind::TooSlow => e.context(
                            ErrorKind::TooSlow,
                            format!("client {id} read nothing for {SEND_TIMEOUT:?}"),
                        ),
                        _ => e,
                    })?;
            }
            Err(Error::new(
                ErrorKind::Other,
                format!("client {id} could not keep up and was disconnected"),
            ))
        })?;
        // Reader: the socket to the room, line by line.
        let mut pending = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n_read = stream.receive_some(&mut buf).await?;
            if n_read == 0 {
                break; // the client left
            }
            pending.extend_from_slice(&buf[..n_read]);
            while let Some(end) = pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                let text = format!("<{id}> {}", String::from_utf8_lossy(&line));
                room.broadcast(id, &text);
            }
            if pending.len() > MAX_LINE {
                return Err(Error::new(
                    ErrorKind::Other,
                    format!("client {id} sent a line longer than {MAX_LINE} bytes"),
                ));
            }
        }
        n.cancel_scope().cancel(); // stop the writer too
        Ok(())
    })
    .await;
    room.members.borrow_mut().remove(&id);
    match result {
        // A client that vanished mid-write is not the server's problem.
        Err(e) if e.kind() == ErrorKind::BrokenResource => Ok(()),
        other => other.map(drop),
    }
}

/// The chat server for `room` on 127.0.0.1:`port` (0: any free port); reports
/// its listeners through `status` once it accepts connections. (Public for
/// `tests/examples_servers.rs`, which sends it hostile clients.)
pub async fn serve(
    room: &Room,
    port: u16,
    status: TaskStatus<Vec<Rc<SocketListener>>>,
) -> trio::Result<()> {
    let handler = async move |stream: SocketStream| handle(room, stream).await;
    serve_tcp(handler, port)
        .host("127.0.0.1")
        .on_connection_error(|e| eprintln!("chat server: a connection failed: {e}"))
        .task_status(status)
        .await
}

/// A demo client: joins, waits until everyone is in, says hello, then reads
/// until it has heard from the others.
async fn client(room: &Room, name: &str, port: u16, others: usize) -> trio::Result<Vec<String>> {
    let stream = open_tcp_stream("127.0.0.1", port).await?;
    room.all_in.wait().await?;
    let mut heard = Vec::new();
    let mut pending = Vec::new();
    let mut buf = [0u8; 1024];
    stream
        .send_all(format!("hello from {name}\n").as_bytes())
        .await?;
    while heard.len() < others {
        let n = stream.receive_some(&mut buf).await?;
        assert!(n > 0, "the server closed the connection early");
        pending.extend_from_slice(&buf[..n]);
        while let Some(end) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            heard.push(String::from_utf8_lossy(&line).trim_end().to_string());
        }
    }
    stream.send_eof().await?;
    Ok(heard)
}

#[trio::main]
async fn main() -> trio::Result<()> {
    let serve_forever = std::env::args().any(|a| a == "--serve");
    let port = if serve_forever { 12346 } else { 0 };
    let room = Room::default();
    let room = &room;

    trio::open_nursery(async |n| {
        let listeners = n
            .start(async |status| serve(room, port, status).await)
            .await?;
        let port = listeners[0].local_addr()?.port();
        println!("chat server listening on 127.0.0.1:{port}");
        if serve_forever {
            println!("press Ctrl-C to stop");
            return Ok(());
        }

        // Three clients join; each waits until all three are in the room before
        // speaking, so that every hello reaches every other client.
        let names = ["ada", "brian", "grace"];
        room.expect.set(names.len());
        trio::open_nursery(async |clients| {
            for name in names {
                clients.start_soon(async move {
                    let heard = trio::fail_after(
                        Duration::from_secs(10),
                        client(room, name, port, names.len() - 1),
                    )
                    .await?;
                    for line in &heard {
                        println!("{name:>5} heard: {line}");
                    }
                    Ok(())
                })?;
            }
            Ok(())
        })
        .await?;
        println!("everyone heard everyone; stopping the server");
        n.cancel_scope().cancel();
        Ok(())
    })
    .await?;
    Ok(())
}
