//! `trio::http`'s I/O adapters: `TrioIo` (futures-io streams) and `StreamIo`
//! (any `abc::Stream`): no byte lost when a read is abandoned, cancellation
//! passed through, and whole HTTP exchanges over in-memory streams.
#![cfg(feature = "hyper")]

use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::rt::{Read, ReadBuf, Write};
use hyper::{Request, Response, Version};
use trio::MaybeCancelled;
use trio::abc::{ReceiveStream, SendStream, Stream};
use trio::http::{Http, StreamIo, TrioIo};
use trio::net::SocketStream;
use trio::testing::{lockstep_stream_pair, memory_stream_pair, wait_all_tasks_blocked};
use trio::{CancelScope, Error};

/// Polls `io` once for a read into a buffer of `cap` bytes, with a waker that
/// does nothing: `None` if pending.
fn poll_once<R: Read + Unpin>(io: &mut R, cap: usize) -> Option<std::io::Result<Vec<u8>>> {
    let mut storage = vec![0u8; cap];
    let mut buf = ReadBuf::new(&mut storage);
    let mut cx = Context::from_waker(Waker::noop());
    match Pin::new(io).poll_read(&mut cx, buf.unfilled()) {
        Poll::Pending => None,
        Poll::Ready(r) => Some(r.map(|()| buf.filled().to_vec())),
    }
}

/// Reads through `io` in chunks of at most `cap` bytes until `want` bytes came.
async fn read_exactly<R: Read + Unpin>(
    io: &mut R,
    want: usize,
    cap: usize,
) -> trio::Result<Vec<u8>> {
    let mut out = Vec::new();
    while out.len() < want {
        let mut storage = vec![0u8; cap];
        let n = poll_fn(|cx| {
            let mut buf = ReadBuf::new(&mut storage);
            Pin::new(&mut *io)
                .poll_read(cx, buf.unfilled())
                .map_ok(|()| buf.filled().len())
        })
        .await?;
        assert!(n > 0, "unexpected end of stream");
        out.extend_from_slice(&storage[..n]);
    }
    Ok(out)
}

async fn write_all<W: Write + Unpin>(io: &mut W, mut data: &[u8]) -> trio::Result<()> {
    while !data.is_empty() {
        let n = poll_fn(|cx| Pin::new(&mut *io).poll_write(cx, data)).await?;
        data = &data[n..];
    }
    poll_fn(|cx| Pin::new(&mut *io).poll_flush(cx)).await?;
    Ok(())
}

#[trio::test]
async fn trio_io_loses_nothing_when_a_read_is_abandoned() -> trio::Result<()> {
    let (a, b) = SocketStream::pair()?;
    let mut io = TrioIo::new(a);
    // Nothing there yet: pending, and then abandoned.
    assert!(poll_once(&mut io, 64).is_none());
    b.send_all(b"hello, world").await?;
    // Read in chunks smaller than what arrived.
    let got = read_exactly(&mut io, 12, 5).await?;
    assert_eq!(got, b"hello, world");
    Ok(())
}

#[trio::test]
async fn stream_io_keeps_a_pending_read_and_its_bytes() -> trio::Result<()> {
    let (a, b) = memory_stream_pair();
    let mut io = StreamIo::new(a);
    // The receive starts (room for 64 bytes) and waits.
    assert!(poll_once(&mut io, 64).is_none());
    b.send_all(b"0123456789").await?;
    wait_all_tasks_blocked().await?;
    // hyper comes back with less room: the rest is kept for the next read.
    let got = read_exactly(&mut io, 10, 4).await?;
    assert_eq!(got, b"0123456789");
    // And the other direction.
    write_all(&mut io, b"back").await?;
    let mut buf = [0u8; 8];
    assert_eq!(b.receive_some(&mut buf).await?, 4);
    assert_eq!(&buf[..4], b"back");
    Ok(())
}

/// In a cancelled scope the adapters fail with an `io::Error` that carries
/// trio's `Cancelled` (which converts back, so the scope absorbs it).
#[trio::test]
async fn adapters_pass_cancellation_through() -> trio::Result<()> {
    let (a, _b) = SocketStream::pair()?;
    let (m, _n) = memory_stream_pair();
    let mut trio_io = TrioIo::new(a);
    let mut stream_io = StreamIo::new(m);
    let scope = CancelScope::new();
    scope.cancel();
    let r = scope
        .run(async {
            let e = read_exactly(&mut trio_io, 1, 8).await.unwrap_err();
            assert!(e.is_cancelled(), "{e}");
            let e = poll_fn(|cx| {
                let mut storage = [0u8; 8];
                let mut buf = ReadBuf::new(&mut storage);
                Pin::new(&mut stream_io).poll_read(cx, buf.unfilled())
            })
            .await
            .unwrap_err();
            assert!(MaybeCancelled::is_cancelled(&e), "{e}");
            Err::<(), Error>(e.into())
        })
        .await?;
    assert_eq!(r, None);
    Ok(())
}

fn service() -> trio::http::ServiceFn<
    'static,
    impl AsyncFn(Request<Incoming>) -> trio::Result<Response<Full<Bytes>>>,
> {
    trio::http::service_fn(async |req: Request<Incoming>| {
        let version = req.version();
        let body = req.into_body().collect().await?.to_bytes();
        Ok(Response::new(Full::new(Bytes::from(format!(
            "{version:?} {}",
            body.len()
        )))))
    })
}

/// A whole exchange over `client`/`server` streams, with HTTP/1.1 then HTTP/2.
async fn exchange<S: Stream + 'static>(
    pair: impl Fn() -> (S, S),
    version: Version,
    body_len: usize,
) -> trio::Result<()> {
    let (client, server) = pair();
    let service = service();
    let http = Http::new();
    trio::open_nursery(async |n| {
        n.start_soon(http.serve_connection(StreamIo::new(server), &service))?;
        let body = Full::new(Bytes::from(vec![7u8; body_len]));
        let req = Request::post("http://memory/")
            .version(version)
            .body(body)
            .unwrap();
        let resp = if version == Version::HTTP_2 {
            let (mut sender, conn) =
                hyper::client::conn::http2::Builder::new(trio::http::TrioExecutor::new(n))
                    .timer(trio::http::TrioTimer)
                    .handshake(StreamIo::new(client))
                    .await?;
            n.start_soon(async move { Ok(conn.await?) })?;
            sender.send_request(req).await?
        } else {
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake(StreamIo::new(client)).await?;
            n.start_soon(async move { Ok(conn.await?) })?;
            sender.send_request(req).await?
        };
        let body = resp.into_body().collect().await?.to_bytes();
        assert_eq!(body, format!("{version:?} {body_len}"));
        n.cancel_scope().cancel();
        Ok(())
    })
    .await?;
    Ok(())
}

#[trio::test]
async fn http_over_memory_streams() -> trio::Result<()> {
    for version in [Version::HTTP_11, Version::HTTP_2] {
        for len in [0, 10, 300_000] {
            exchange(memory_stream_pair, version, len).await?;
        }
    }
    Ok(())
}

/// Lockstep streams have no buffer at all: every send waits for the peer's
/// receive (the hardest case for write-behind and flow control).
#[trio::test]
async fn http_over_lockstep_streams() -> trio::Result<()> {
    for version in [Version::HTTP_11, Version::HTTP_2] {
        exchange(lockstep_stream_pair, version, 200_000).await?;
    }
    Ok(())
}
