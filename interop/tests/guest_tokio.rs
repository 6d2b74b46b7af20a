//! trio as a guest of tokio (`trio::compat::tokio::spawn_guest`): a trio server
//! running inside a tokio `current_thread` runtime, talked to by tokio clients
//! on the same thread, and cancelled from the tokio side.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use trio::abc::{ReceiveStream, SendStream};

fn tokio_local<F: std::future::Future>(f: F) -> F::Output {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    tokio::task::LocalSet::new().block_on(&rt, f)
}

#[test]
fn a_guest_run_on_tokio_serves_tcp_and_is_cancelled_from_the_host() {
    tokio_local(async {
        let (port_tx, port_rx) = tokio::sync::oneshot::channel();
        let guest = trio::compat::tokio::spawn_guest(async move {
            trio::open_nursery(async |n| {
                let listeners = n
                    .start(async |status| {
                        trio::net::serve_tcp(
                            async |s: trio::net::SocketStream| {
                                let mut buf = [0u8; 64];
                                loop {
                                    let got = s.receive_some(&mut buf).await?;
                                    if got == 0 {
                                        return Ok(());
                                    }
                                    s.send_all(&buf[..got]).await?;
                                }
                            },
                            0,
                        )
                        .host("127.0.0.1")
                        .task_status(status)
                        .await
                    })
                    .await?;
                let _ = port_tx.send(listeners[0].local_addr()?.port());
                Ok(())
            })
            .await?;
            Ok::<(), trio::Error>(())
        })
        .unwrap();
        let port = port_rx.await.unwrap();
        // tokio clients on the same thread as the trio server.
        let mut clients = Vec::new();
        for i in 0..5u8 {
            clients.push(tokio::task::spawn_local(async move {
                let mut c = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
                let msg = [b'a' + i; 16];
                c.write_all(&msg).await?;
                let mut back = [0u8; 16];
                c.read_exact(&mut back).await?;
                assert_eq!(back, msg);
                Ok::<_, std::io::Error>(())
            }));
        }
        for c in clients {
            c.await.unwrap().unwrap();
        }
        // The host stops the guest; its result comes back as a cancellation.
        guest.cancel();
        let r = tokio::time::timeout(Duration::from_secs(10), guest)
            .await
            .expect("the guest ended after its cancellation");
        assert!(r.unwrap_err().is_cancelled());
    });
}

#[test]
fn tokio_and_trio_timers_run_side_by_side() {
    tokio_local(async {
        let guest = trio::compat::tokio::spawn_guest(async {
            let t0 = std::time::Instant::now();
            trio::sleep(Duration::from_millis(30)).await?;
            Ok::<_, trio::Error>(t0.elapsed())
        })
        .unwrap();
        // A tokio timer meanwhile: neither loop blocks the other.
        let t0 = std::time::Instant::now();
        tokio::time::sleep(Duration::from_millis(10)).await;
        let tokio_slept = t0.elapsed();
        let trio_slept = guest.await.unwrap();
        assert!(tokio_slept < Duration::from_millis(30) + Duration::from_secs(5));
        assert!(trio_slept >= Duration::from_millis(30));
    });
}
