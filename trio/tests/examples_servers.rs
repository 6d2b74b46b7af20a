//! The example servers (`examples/echo_server.rs`, `examples/chat_server.rs`,
//! and with feature `hyper` `examples/http_server.rs`) against hostile clients: one that resets its connection, one that sends
//! garbage, one that never reads. Each must end only its own connection: a
//! well-behaved client served afterwards proves the server survived.
//!
//! The examples' own code is compiled in here (`#[path]`), so these tests run
//! exactly the servers a newcomer runs. The mock clock's autojump stands in for
//! the servers' send timeouts (10 s), so nothing waits for real.

use std::time::Duration;

use trio::ErrorKind;
use trio::abc::{HalfCloseableStream, ReceiveStream, SendStream};
use trio::net::{SocketStream, open_tcp_stream};

mod net_support;

#[allow(dead_code)]
#[path = "../examples/echo_server.rs"]
mod echo_server;

#[allow(dead_code)]
#[path = "../examples/chat_server.rs"]
mod chat_server;

#[cfg(feature = "hyper")]
#[allow(dead_code)]
#[path = "../examples/http_server.rs"]
mod http_server;

/// Connects, sends `bytes`, and closes with a reset instead of a clean FIN.
async fn reset_after(port: u16, bytes: &[u8]) -> trio::Result<()> {
    let s = open_tcp_stream("127.0.0.1", port).await?;
    s.send_all(bytes).await?; // (small: the echo goes unread)
    net_support::reset_on_close(&s)?;
    drop(s);
    Ok(())
}

/// Bytes no protocol expects: every value, many times, no newline.
fn garbage(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i * 7 + 3) as u8)
        .map(|b| if b == b'\n' { 0xff } else { b })
        .collect()
}

/// Sends until the server gives up on us (it never hears us read).
async fn never_read(port: u16) -> trio::Result<()> {
    let s = open_tcp_stream("127.0.0.1", port).await?;
    let chunk = vec![b'x'; 64 * 1024];
    loop {
        if let Err(e) = s.send_all(&chunk).await {
            assert_eq!(e.kind(), ErrorKind::BrokenResource, "{e}");
            return Ok(());
        }
    }
}

/// Reads until the end of the stream; a reset counts as the end too.
async fn read_all(s: &SocketStream) -> trio::Result<Vec<u8>> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.receive_some(&mut buf).await {
            Ok(0) => return Ok(got),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::BrokenResource => return Ok(got),
            Err(e) => return Err(e),
        }
    }
}

async fn good_echo_client(port: u16) -> trio::Result<()> {
    let s = open_tcp_stream("127.0.0.1", port).await?;
    s.send_all(b"still there?\n").await?;
    s.send_eof().await?;
    assert_eq!(read_all(&s).await?, b"still there?\n");
    Ok(())
}

#[trio::test(autojump)]
async fn echo_server_survives_hostile_clients() -> trio::Result<()> {
    trio::open_nursery(async |n| {
        let listeners = n
            .start(async |status| echo_server::serve(0, status).await)
            .await?;
        let port = listeners[0].local_addr()?.port();
        good_echo_client(port).await?;
        // Resets, with and without data in flight.
        reset_after(port, b"").await?;
        reset_after(port, &garbage(64 << 10)).await?;
        good_echo_client(port).await?;
        // Garbage: echoed like anything else, to a client that then resets.
        let g = open_tcp_stream("127.0.0.1", port).await?;
        g.send_all(&garbage(100_000)).await?;
        let mut buf = [0u8; 1000];
        assert!(g.receive_some(&mut buf).await? > 0);
        drop(g);
        // A client that never reads: the server's send times out (10 s of mock
        // time) and it drops that connection only.
        trio::open_nursery(async |m| {
            m.start_soon(never_read(port))?;
            m.start_soon(never_read(port))?;
            Ok(())
        })
        .await?;
        good_echo_client(port).await?;
        n.cancel_scope().cancel();
        Ok(())
    })
    .await?;
    Ok(())
}

/// Joins the chat and reads lines until it has heard `want` of them.
async fn chat_listener(port: u16, want: &str) -> trio::Result<()> {
    let s = open_tcp_stream("127.0.0.1", port).await?;
    let mut heard = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&heard).contains(want) {
        let n = s.receive_some(&mut buf).await?;
        assert!(n > 0, "the server closed a good client's connection");
        heard.extend_from_slice(&buf[..n]);
    }
    Ok(())
}

#[trio::test(autojump)]
async fn chat_server_survives_hostile_clients() -> trio::Result<()> {
    let room = chat_server::Room::default();
    let room = &room;
    trio::open_nursery(async |n| {
        let listeners = n
            .start(async |status| chat_server::serve(room, 0, status).await)
            .await?;
        let port = listeners[0].local_addr()?.port();
        // Resets, before and after saying something.
        reset_after(port, b"").await?;
        reset_after(port, b"hello, and goodbye\n").await?;
        // An endless line: cut off at 4 KiB, without taking the room's memory.
        let endless = open_tcp_stream("127.0.0.1", port).await?;
        let sent = endless.send_all(&garbage(1 << 20)).await;
        assert!(sent.is_ok() || sent.unwrap_err().kind() == ErrorKind::BrokenResource);
        assert!(read_all(&endless).await?.is_empty());
        // Binary garbage in lines is relayed as text, harmlessly.
        let binary = open_tcp_stream("127.0.0.1", port).await?;
        binary.send_all(b"\xff\xfe\x00 not utf-8 \x80\n").await?;
        // A member who never reads: its outbox fills and it is dropped.
        let deaf = open_tcp_stream("127.0.0.1", port).await?;
        deaf.send_all(b"I will not listen\n").await?;
        trio::testing::wait_all_tasks_blocked().await?;
        let talker = open_tcp_stream("127.0.0.1", port).await?;
        let line = format!("{}\n", "spam ".repeat(200));
        for _ in 0..2000 {
            talker.send_all(line.as_bytes()).await?;
        }
        // The deaf member was cut off (after what its socket buffer held).
        let got = read_all(&deaf).await?;
        assert!(got.len() < 2000 * line.len(), "{} bytes", got.len());
        // And the room still works for everyone else.
        trio::open_nursery(async |m| {
            m.start_soon(chat_listener(port, "are you there"))?;
            trio::testing::wait_all_tasks_blocked().await?;
            talker.send_all(b"are you there\n").await?;
            Ok(())
        })
        .await?;
        drop(binary);
        n.cancel_scope().cancel();
        Ok(())
    })
    .await?;
    Ok(())
}

/// Neither server's send timeout cuts a client that reads, however slowly.
#[trio::test(autojump)]
async fn a_slow_reader_is_not_a_never_reader() -> trio::Result<()> {
    trio::open_nursery(async |n| {
        let listeners = n
            .start(async |status| echo_server::serve(0, status).await)
            .await?;
        let port = listeners[0].local_addr()?.port();
        let s = open_tcp_stream("127.0.0.1", port).await?;
        let s = &s;
        let data = garbage(4 << 20);
        trio::open_nursery(async |m| {
            m.start_soon(async {
                s.send_all(&data).await?;
                s.send_eof().await
            })?;
            // Large reads: TCP reopens a full window only once the reader has
            // freed a good part of its buffer, and a reader that takes a few KiB
            // now and then can look, for a while, like one that never reads.
            let mut got = 0;
            let mut buf = vec![0u8; 1 << 20];
            loop {
                trio::sleep(Duration::from_secs(5)).await?; // under the 10 s limit
                let k = s.receive_some(&mut buf).await?;
                if k == 0 {
                    break;
                }
                got += k;
            }
            assert_eq!(got, data.len());
            Ok(())
        })
        .await?;
        n.cancel_scope().cancel();
        Ok(())
    })
    .await?;
    Ok(())
}

/// The HTTP example: resets, garbage, the HTTP/2 preface and then silence, and
/// a client that pipelines requests without reading; a plain request is still
/// answered (HTTP/1.1), and so is one over HTTP/2.
#[cfg(feature = "hyper")]
#[trio::test(autojump)]
async fn http_server_survives_hostile_clients() -> trio::Result<()> {
    let requests = std::cell::Cell::new(0);
    let requests = &requests;
    let answered = async |port: u16| -> trio::Result<()> {
        let s = open_tcp_stream("127.0.0.1", port).await?;
        s.send_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await?;
        let reply = read_all(&s).await?;
        assert!(reply.starts_with(b"HTTP/1.1 200"), "{reply:?}");
        assert!(reply.ends_with(b"Hello, world!\n"), "{reply:?}");
        Ok(())
    };
    trio::open_nursery(async |n| {
        let listeners = n
            .start(async |status| http_server::serve(0, requests, status).await)
            .await?;
        let port = listeners[0].local_addr()?.port();
        reset_after(port, b"GET / HT").await?;
        reset_after(port, b"").await?;
        answered(port).await?;
        for junk in [&garbage(5000)[..], b"\x16\x03\x01\x02\x00\x01\x00"] {
            let s = open_tcp_stream("127.0.0.1", port).await?;
            let _ = s.send_all(junk).await;
            read_all(&s).await?; // answered with an error, or just closed
        }
        answered(port).await?;
        // The HTTP/2 preface, then silence: closed by the idle timeout.
        let silent = open_tcp_stream("127.0.0.1", port).await?;
        silent
            .send_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
            .await?;
        read_all(&silent).await?;
        // Pipelining without reading: holds its own connection only.
        let deaf = open_tcp_stream("127.0.0.1", port).await?;
        let deaf = &deaf;
        trio::open_nursery(async |m| {
            m.start_soon(async move {
                let many = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".repeat(1000);
                loop {
                    deaf.send_all(&many).await?;
                }
            })?;
            trio::testing::wait_all_tasks_blocked().await?;
            answered(port).await?;
            let url = format!("http://127.0.0.1:{port}/");
            let req = hyper::Request::get(url)
                .version(hyper::Version::HTTP_2)
                .body(http_body_util::Empty::<hyper::body::Bytes>::new())
                .unwrap();
            assert_eq!(trio::http::request(req).await?.body(), "Hello, world!\n");
            m.cancel_scope().cancel();
            Ok(())
        })
        .await?;
        n.cancel_scope().cancel();
        Ok(())
    })
    .await?;
    assert!(requests.get() >= 4);
    Ok(())
}
