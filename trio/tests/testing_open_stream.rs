//! `trio::testing::open_stream_to_socket_listener`, ported from Trio's
//! `test_testing.py::test_open_stream_to_socket_listener`.

mod net_support;

use net_support::under_wine;
use trio::abc::{AsyncResource, Listener, ReceiveStream, SendStream};
use trio::net::SocketListener;
use trio::testing::open_stream_to_socket_listener;

async fn check(listener: SocketListener) -> trio::Result<()> {
    let client = open_stream_to_socket_listener(&listener).await?;
    let server = listener.accept().await?;
    client.send_all(b"x").await?;
    let mut buf = [0u8; 1];
    assert_eq!(server.receive_some(&mut buf).await?, 1);
    assert_eq!(&buf, b"x");
    client.aclose().await?;
    server.aclose().await?;
    listener.aclose().await
}

#[trio::test]
async fn listener_bound_to_localhost() -> trio::Result<()> {
    check(SocketListener::bind("127.0.0.1:0".parse().unwrap())?).await
}

#[trio::test]
async fn listener_bound_to_the_ipv4_wildcard() -> trio::Result<()> {
    check(SocketListener::bind("0.0.0.0:0".parse().unwrap())?).await
}

#[trio::test]
async fn listener_bound_to_the_ipv6_wildcard() -> trio::Result<()> {
    match SocketListener::bind("[::]:0".parse().unwrap()) {
        Ok(l) => check(l).await,
        Err(e) => {
            eprintln!("skipped: this machine cannot bind IPv6 ({e})");
            Ok(())
        }
    }
}

#[trio::test]
async fn listener_bound_to_a_unix_socket() -> trio::Result<()> {
    if under_wine() {
        eprintln!("skipped: Wine has no AF_UNIX sockets (Windows 10 and later do)");
        return Ok(());
    }
    let dir = std::env::temp_dir().join(format!("trio-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("sock");
    let _ = std::fs::remove_file(&path);
    let result = check(trio::net::open_unix_listener(&path)?).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}
