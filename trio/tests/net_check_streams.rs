//! The stream conformance suite (`trio::testing::check_half_closeable_stream`) run
//! against trio's real sockets: TCP over loopback and Unix socket pairs.
//!
//! Ported from Trio's `test_highlevel_socket.py::test_SocketStream_generic`, which
//! runs `check_half_closeable_stream` on socket pairs with a clogged maker that
//! fills the send buffer first.
#![cfg(unix)] // raw fds and MSG_DONTWAIT

use std::os::fd::AsRawFd;
use std::time::Duration;

use trio::abc::Listener;
use trio::net::{SocketListener, SocketStream, open_tcp_stream};
use trio::testing::check_half_closeable_stream;

/// Fills `s`'s send buffer (and the peer's receive buffer) until a send would
/// block, with small buffers so it takes little memory. Trio's `fill_stream`.
fn clog(s: &SocketStream) {
    let fd = s.socket().as_raw_fd();
    let chunk = [b'x'; 8192];
    loop {
        // SAFETY: a valid fd and a pointer/length pair describing `chunk`.
        let n = unsafe {
            libc::send(
                fd,
                chunk.as_ptr().cast(),
                chunk.len(),
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            )
        };
        if n < 0 {
            let err = std::io::Error::last_os_error();
            assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock, "{err}");
            return;
        }
    }
}

fn small_buffers(s: &SocketStream) -> trio::Result<()> {
    s.socket()
        .set_option(libc::SOL_SOCKET, libc::SO_SNDBUF, 4096)?;
    s.socket()
        .set_option(libc::SOL_SOCKET, libc::SO_RCVBUF, 4096)?;
    Ok(())
}

async fn tcp_pair() -> trio::Result<(SocketStream, SocketStream)> {
    let listener = SocketListener::bind("127.0.0.1:0".parse().unwrap())?;
    let port = listener.local_addr()?.port();
    let client = open_tcp_stream("127.0.0.1", port).await?;
    let server = listener.accept().await?;
    Ok((client, server))
}

async fn clogged(
    pair: trio::Result<(SocketStream, SocketStream)>,
) -> trio::Result<(SocketStream, SocketStream)> {
    let (a, b) = pair?;
    small_buffers(&a)?;
    small_buffers(&b)?;
    clog(&a);
    clog(&b);
    Ok((a, b))
}

#[trio::test]
async fn tcp_socket_stream_passes_the_conformance_suite() -> trio::Result<()> {
    let maker = async || tcp_pair().await;
    let clogged_maker = async || clogged(tcp_pair().await).await;
    trio::fail_after(
        Duration::from_secs(60),
        check_half_closeable_stream(&maker, Some(&clogged_maker)),
    )
    .await
}

#[trio::test]
async fn unix_socket_stream_passes_the_conformance_suite() -> trio::Result<()> {
    let maker = async || SocketStream::pair();
    let clogged_maker = async || clogged(SocketStream::pair()).await;
    trio::fail_after(
        Duration::from_secs(60),
        check_half_closeable_stream(&maker, Some(&clogged_maker)),
    )
    .await
}
