//! trio inside a tokio application (guest mode). Run it with:
//!
//! ```text
//! cargo run --example guest_tokio --features tokio
//! ```
//!
//! A tokio program keeps its runtime and its thread; trio runs as a guest on the
//! same thread (`trio::compat::tokio::spawn_guest`), so a tokio application can
//! move to trio one piece at a time. What to look at:
//!
//! * **Both loops make progress.** A tokio task ticks every 20 ms while the trio
//!   run serves TCP and talks to itself; neither blocks the other (trio waits for
//!   I/O on a helper thread, and each of its steps is a short tokio task poll).
//! * **The trio side is all trio:** a nursery, `serve_tcp` started with
//!   `nursery.start`, `fail_after` around each request.
//! * **The host decides when trio stops:** once the clients are done, tokio asks
//!   the trio run to stop gracefully, and awaits its result.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use trio::abc::{HalfCloseableStream, ReceiveStream, SendStream};
use trio::net::{SocketStream, open_tcp_stream, serve_tcp};

/// The trio part of the program: an upper-casing server and a few clients.
async fn trio_part(requests: Rc<Cell<u32>>) -> trio::Result<()> {
    trio::open_nursery(async |n| {
        let listeners = n
            .start(async |status| {
                serve_tcp(
                    async |s: SocketStream| {
                        let mut buf = [0u8; 256];
                        let got = s.receive_some(&mut buf).await?;
                        s.send_all(&buf[..got].to_ascii_uppercase()).await
                    },
                    0,
                )
                .host("127.0.0.1")
                .task_status(status)
                .await
            })
            .await?;
        let port = listeners[0].local_addr()?.port();
        for word in ["guest", "mode", "on", "tokio"] {
            let reply = trio::fail_after(Duration::from_secs(5), async {
                let c = open_tcp_stream("127.0.0.1", port).await?;
                c.send_all(word.as_bytes()).await?;
                c.send_eof().await?;
                let mut buf = [0u8; 256];
                let got = c.receive_some(&mut buf).await?;
                Ok::<_, trio::Error>(String::from_utf8_lossy(&buf[..got]).to_string())
            })
            .await?;
            requests.set(requests.get() + 1);
            println!("trio: {word} -> {reply}");
            trio::sleep(Duration::from_millis(15)).await?;
        }
        // Done: wait until the host asks us to stop (the server keeps serving).
        trio::wait_stop_requested().await?;
        println!("trio: asked to stop; the server stops accepting");
        Ok(())
    })
    .await?;
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    tokio::task::LocalSet::new().block_on(&rt, async {
        let requests = Rc::new(Cell::new(0));
        let guest = trio::compat::tokio::spawn_guest(trio_part(requests.clone()))?;
        // tokio's own work on the same thread.
        let ticker = tokio::task::spawn_local(async {
            let mut ticks = 0;
            loop {
                tokio::time::sleep(Duration::from_millis(20)).await;
                ticks += 1;
                println!("tokio: tick {ticks}");
            }
        });
        while requests.get() < 4 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        guest.cancel_gracefully(Duration::from_secs(5));
        guest.await?;
        ticker.abort();
        println!("tokio: the trio run ended cleanly");
        Ok(())
    })
}
