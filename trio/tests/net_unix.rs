//! `open_unix_socket` / `open_unix_listener`. Ported from Python Trio's
//! `src/trio/_tests/test_highlevel_open_unix_stream.py` (each test names the one it
//! ports); sockets live in fresh temporary directories.
//!
//! Not ported: `test_close_on_error` (a Python context manager; here the socket is
//! dropped, i.e. closed, on error — see `failed_connect_leaves_no_fd` in
//! `net_leaks.rs`), `test_open_with_bad_filename_type` (the type system), and
//! `test_error_on_no_unix` (Unix only).
#![cfg(unix)] // Unix domain sockets

mod net_support;

use std::io::{Read, Write};
use std::os::unix::net::UnixListener;

use net_support::{TempDir, io_kind};
use trio::ErrorKind;
use trio::abc::{AsyncResource, Listener, ReceiveStream, SendStream};
use trio::net::{open_unix_listener, open_unix_socket};

// Ported from test_open_bad_socket.
#[trio::test]
async fn open_bad_socket() -> trio::Result<()> {
    let dir = TempDir::new("bad");
    let e = open_unix_socket(dir.path("nothing-here"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io);
    assert_eq!(io_kind(&e), Some(std::io::ErrorKind::NotFound));
    Ok(())
}

// Ported from test_open_unix_socket (with a plain std listener as the server).
#[trio::test]
async fn open_unix_socket_round_trip() -> trio::Result<()> {
    let dir = TempDir::new("open");
    for name in ["a.sock", "b.sock"] {
        let path = dir.path(name);
        let serv = UnixListener::bind(&path)?;
        // The path may be given as any AsRef<Path>.
        let unix_socket = if name == "a.sock" {
            open_unix_socket(&path).await?
        } else {
            open_unix_socket(path.to_str().unwrap()).await?
        };
        let (mut client, _) = serv.accept()?;
        unix_socket.send_all(b"test").await?;
        let mut buf = [0u8; 4];
        client.read_exact(&mut buf)?;
        assert_eq!(&buf, b"test");
        client.write_all(b"response")?;
        let mut buf = [0u8; 2048];
        let n = unix_socket.receive_some(&mut buf).await?;
        assert_eq!(&buf[..n], b"response");
        unix_socket.aclose().await?;
    }
    Ok(())
}

// A trio listener and a trio client; half-close works on Unix sockets too.
#[trio::test]
async fn unix_listener_and_stream() -> trio::Result<()> {
    let dir = TempDir::new("listener");
    let path = dir.path("l.sock");
    let listener = open_unix_listener(&path)?;
    assert!(listener.socket().is_listening()?);
    assert_eq!(listener.local_addr().unwrap_err().kind(), ErrorKind::Usage);
    let client = open_unix_socket(&path).await?;
    let server = listener.accept().await?;
    client.send_all(b"ping").await?;
    trio::abc::HalfCloseableStream::send_eof(&client).await?;
    let mut buf = [0u8; 8];
    assert_eq!(server.receive_some(&mut buf).await?, 4);
    assert_eq!(server.receive_some(&mut buf).await?, 0);
    server.send_all(b"pong").await?;
    assert_eq!(client.receive_some(&mut buf).await?, 4);
    assert_eq!(&buf[..4], b"pong");
    // Binding the same path again fails while the file exists.
    let e = open_unix_listener(&path).unwrap_err();
    assert_eq!(io_kind(&e), Some(std::io::ErrorKind::AddrInUse));
    Ok(())
}

// Nobody listening on an existing socket file: connection refused.
#[trio::test]
async fn connection_refused_when_nobody_listens() -> trio::Result<()> {
    let dir = TempDir::new("refused");
    let path = dir.path("r.sock");
    drop(UnixListener::bind(&path)?); // leaves the file behind
    let e = open_unix_socket(&path).await.unwrap_err();
    assert_eq!(io_kind(&e), Some(std::io::ErrorKind::ConnectionRefused));
    assert!(e.to_string().contains("r.sock"), "{e}");
    Ok(())
}

// A path too long for a socket address is an error, not a truncation.
#[trio::test]
async fn too_long_a_path_is_an_error() -> trio::Result<()> {
    let long = format!("/tmp/{}", "x".repeat(200));
    let e = open_unix_socket(&long).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io);
    assert_eq!(io_kind(&e), Some(std::io::ErrorKind::InvalidInput));
    Ok(())
}
