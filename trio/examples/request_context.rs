//! Context that follows the task tree: every task working for a connection knows
//! which connection it is, without passing it around. Run it with:
//!
//! ```text
//! cargo run --example request_context
//! ```
//!
//! What to look at:
//!
//! * **`TreeVar::with` binds a value for a block.** The handler binds the
//!   connection's number; `log` reads it wherever it is called — in the handler,
//!   and in the tasks the handler starts in a nursery of its own.
//! * **Where a task runs decides what it sees, not who spawned it.** The handler
//!   also hands one job to the server's long-lived `jobs` nursery, opened before
//!   any connection: that job outlives the connection and sees no connection
//!   number (tokio's task-locals or Python's contextvars would give it the
//!   spawner's).
//! * **The task tree shows named bindings**: each task started under a binding
//!   prints `[conn=N]` after its state.

use std::time::Duration;

use trio::abc::{HalfCloseableStream, ReceiveStream, SendStream};
use trio::net::{SocketStream, open_tcp_stream, serve_tcp};
use trio::{Nursery, TreeVar};

/// The connection a task works for.
static CONN: TreeVar<u32> = TreeVar::new("conn");

/// A log line, prefixed with the connection it belongs to, if any.
fn log(msg: &str) {
    match CONN.get() {
        Some(c) => println!("[conn {c}] {msg}"),
        None => println!("[no connection] {msg}"),
    }
}

async fn handle(stream: SocketStream, number: u32, jobs: &Nursery<'_>) -> trio::Result<()> {
    CONN.with(number, async {
        log("connected");
        let word = std::cell::RefCell::new(String::new());
        trio::open_nursery(async |n| {
            // Started under the binding: the task tree shows `[conn=N]` on it.
            n.start_soon_named("reader", async {
                let mut buf = [0u8; 64];
                let got = stream.receive_some(&mut buf).await?;
                *word.borrow_mut() = String::from_utf8_lossy(&buf[..got]).trim().to_string();
                Ok(())
            })?;
            Ok(())
        })
        .await?;
        let word = word.take();
        trio::open_nursery(async |n| {
            // Helpers of this connection: they see its number.
            n.start_soon_named("upper", async {
                log(&format!("upper-casing {word:?}"));
                stream.send_all(word.to_uppercase().as_bytes()).await
            })?;
            n.start_soon_named("audit", async {
                log("audited");
                Ok(())
            })?;
            Ok(())
        })
        .await?;
        // A job for the server as a whole, in a nursery opened outside any
        // connection: it runs where no connection number is bound.
        jobs.start_soon_named("stats", async {
            trio::sleep(Duration::from_millis(5)).await?;
            log("a server-wide job, started by a connection's handler");
            Ok(())
        })?;
        stream.send_eof().await?;
        log("done");
        Ok(())
    })
    .await
}

#[trio::main]
async fn main() -> trio::Result<()> {
    let next = std::cell::Cell::new(0u32);
    let next = &next;
    trio::open_nursery(async |jobs| {
        trio::open_nursery(async |n| {
            let listeners = n
                .start(async |status| {
                    serve_tcp(
                        async |s: SocketStream| {
                            next.set(next.get() + 1);
                            handle(s, next.get(), jobs).await
                        },
                        0,
                    )
                    .host("127.0.0.1")
                    .task_status(status)
                    .await
                })
                .await?;
            let port = listeners[0].local_addr()?.port();
            for word in ["trio", "tree", "var"] {
                let client = open_tcp_stream("127.0.0.1", port).await?;
                client.send_all(word.as_bytes()).await?;
                let mut buf = [0u8; 64];
                let n = client.receive_some(&mut buf).await?;
                println!("client got {:?}", String::from_utf8_lossy(&buf[..n]));
            }
            // A connection held open, to see the tree while it is served.
            let held = open_tcp_stream("127.0.0.1", port).await?;
            trio::testing::wait_all_tasks_blocked().await?;
            println!("\nthe task tree while connection 4 waits for its word:");
            print!("{}", trio::lowlevel::task_tree());
            drop(held);
            trio::testing::wait_all_tasks_blocked().await?;
            n.cancel_scope().cancel();
            Ok(())
        })
        .await?;
        Ok(())
    })
    .await?;
    Ok(())
}
