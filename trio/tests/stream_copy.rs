//! `abc::copy` and `abc::copy_bidirectional`: a proxy in the middle of real TCP
//! connections on loopback, with half-closes passed on in either order, bulk
//! data both ways at once, a peer that resets, and cancellation that loses
//! nothing.

mod net_support;

use std::cell::Cell;
use std::time::Duration;

use trio::abc::{
    CopyProgress, HalfCloseableStream, Listener, ReceiveStream, SendStream, copy,
    copy_bidirectional, copy_bidirectional_with, copy_with,
};
use trio::net::{SocketListener, SocketStream, open_tcp_stream};
use trio::testing::wait_all_tasks_blocked;
use trio::{ErrorKind, Result};

async fn read_to_end(s: &SocketStream) -> Result<Vec<u8>> {
    let mut all = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = s.receive_some(&mut buf).await?;
        if n == 0 {
            return Ok(all);
        }
        all.extend_from_slice(&buf[..n]);
    }
}

/// Bytes that tell where they are.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// A TCP pair: (our end, the accepted end).
async fn tcp_pair(listener: &SocketListener) -> Result<(SocketStream, SocketStream)> {
    let port = listener.local_addr()?.port();
    let ours = open_tcp_stream("127.0.0.1", port).await?;
    let theirs = listener.accept().await?;
    Ok((ours, theirs))
}

/// client — (proxy_front | proxy_back) — server, the proxy copying both ways.
/// The client half-closes first; the server answers only then, and closes.
#[trio::test]
async fn copy_bidirectional_over_tcp_passes_on_half_closes() -> Result<()> {
    let listener = SocketListener::bind("127.0.0.1:0".parse().unwrap())?;
    let (client, proxy_front) = tcp_pair(&listener).await?;
    let (proxy_back, server) = tcp_pair(&listener).await?;
    let request = pattern(300_000, 1);
    let response = pattern(1_000_000, 2);
    let counts = Cell::new(None);
    trio::open_nursery(async |n| {
        n.start_soon(async {
            counts.set(Some(copy_bidirectional(&proxy_front, &proxy_back).await?));
            Ok(())
        })?;
        n.start_soon(async {
            // The server reads the whole request: it sees the client's EOF
            // through the proxy.
            let got = read_to_end(&server).await?;
            assert_eq!(got, request);
            server.send_all(&response).await?;
            server.send_eof().await
        })?;
        client.send_all(&request).await?;
        client.send_eof().await?;
        let got = read_to_end(&client).await?;
        assert_eq!(got, response);
        Ok(())
    })
    .await?;
    assert_eq!(
        counts.get(),
        Some((request.len() as u64, response.len() as u64))
    );
    Ok(())
}

/// The other order: the server says everything and half-closes first, while
/// the client is still sending; then bulk data flows both ways at once (no
/// direction waits for the other).
#[trio::test]
async fn copy_bidirectional_server_closes_first_and_bulk_both_ways() -> Result<()> {
    let listener = SocketListener::bind("127.0.0.1:0".parse().unwrap())?;
    let (client, proxy_front) = tcp_pair(&listener).await?;
    let (proxy_back, server) = tcp_pair(&listener).await?;
    let up = pattern(4 << 20, 3);
    let down = pattern(4 << 20, 4);
    let (up_p, down_p) = (CopyProgress::new(), CopyProgress::new());
    trio::open_nursery(async |n| {
        n.start_soon(async {
            let (a, b) = copy_bidirectional_with(&proxy_front, &proxy_back, &up_p, &down_p).await?;
            assert_eq!((a, b), (up.len() as u64, down.len() as u64));
            Ok(())
        })?;
        n.start_soon(async {
            server.send_all(&down).await?;
            server.send_eof().await?;
            assert_eq!(read_to_end(&server).await?, up);
            Ok(())
        })?;
        n.start_soon(async {
            client.send_all(&up).await?;
            client.send_eof().await
        })?;
        assert_eq!(read_to_end(&client).await?, down);
        Ok(())
    })
    .await?;
    assert_eq!((up_p.sent(), up_p.in_flight()), (up.len() as u64, 0));
    assert_eq!((down_p.sent(), down_p.in_flight()), (down.len() as u64, 0));
    Ok(())
}

/// A peer that resets ends the copy with its error; the other direction is
/// cancelled.
#[trio::test]
async fn copy_bidirectional_reports_a_reset() -> Result<()> {
    if net_support::under_wine() {
        eprintln!("skipped: Wine closes a socket with SO_LINGER 0 without a reset");
        return Ok(());
    }
    let listener = SocketListener::bind("127.0.0.1:0".parse().unwrap())?;
    let (client, proxy_front) = tcp_pair(&listener).await?;
    let (proxy_back, _server) = tcp_pair(&listener).await?; // says nothing
    client.send_all(b"hello").await?;
    net_support::reset_on_close(&client)?;
    let copying = async { copy_bidirectional(&proxy_front, &proxy_back).await };
    trio::open_nursery(async |n| {
        n.start_soon(async {
            let e = copying.await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::BrokenResource, "{e}");
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        drop(client); // RST
        Ok(())
    })
    .await?;
    Ok(())
}

/// Cancelled while waiting for bytes, a copy has sent everything it received;
/// `copy` alone does not half-close its destination.
#[trio::test(autojump)]
async fn a_cancelled_copy_loses_nothing() -> Result<()> {
    let listener = SocketListener::bind("127.0.0.1:0".parse().unwrap())?;
    let (src_w, src_r) = tcp_pair(&listener).await?;
    let (dst_w, dst_r) = tcp_pair(&listener).await?;
    let data = pattern(100_000, 5);
    src_w.send_all(&data).await?;
    let progress = CopyProgress::new();
    let r =
        trio::move_on_after(Duration::from_secs(5), copy_with(&src_r, &dst_w, &progress)).await?;
    assert!(r.is_none());
    assert_eq!(progress.received(), data.len() as u64);
    assert_eq!(progress.in_flight(), 0);
    // Everything arrived, and the destination is still open: no EOF yet.
    let mut got = vec![0u8; data.len()];
    let mut at = 0;
    while at < got.len() {
        at += dst_r.receive_some(&mut got[at..]).await?;
    }
    assert_eq!(got, data);
    let more = trio::move_on_after(Duration::from_secs(5), async {
        dst_r.receive_some(&mut [0u8; 8]).await
    })
    .await?;
    assert!(more.is_none(), "copy closed its destination");
    // The copy can go on where it stopped, and ends at the source's end.
    src_w.send_eof().await?;
    assert_eq!(copy(&src_r, &dst_w).await?, 0);
    Ok(())
}
