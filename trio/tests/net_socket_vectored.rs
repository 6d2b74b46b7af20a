//! `Socket::send_vectored` / `recv_vectored`, on every backend this host has:
//! buffers filled and drained in order; a datagram made of several buffers is
//! one datagram; a vectored receive dropped after it took bytes (readiness:
//! at its closing schedule point; io_uring: in the kernel) loses none.

mod net_support;

use std::future::Future;
use std::io::{IoSlice, IoSliceMut};
use std::net::SocketAddr;

use trio::lowlevel::{IoBackend, current_io_backend};
use trio::net::socket::{Domain, Socket, Type};

use net_support::poll_once_and_drop;

/// Runs `f` on epoll, and on io_uring where the kernel has it.
fn on_each_backend<F: Future<Output = trio::Result<()>>>(f: impl Fn() -> F) {
    for backend in [IoBackend::Epoll, IoBackend::Uring] {
        trio::Runtime::builder()
            .io_backend(backend)
            .build()
            .run(async {
                if current_io_backend() != backend {
                    println!("{backend:?} unavailable here: skipped");
                    return Ok(());
                }
                f().await
            })
            .unwrap();
    }
}

#[test]
fn stream_buffers_are_filled_and_drained_in_order() {
    on_each_backend(|| async {
        let (a, b) = Socket::pair(Domain::UNIX, Type::STREAM, None)?;
        let n = a
            .send_vectored(&[
                IoSlice::new(b"ab"),
                IoSlice::new(b""),
                IoSlice::new(b"cdefg"),
            ])
            .await?;
        assert_eq!(n, 7);
        let (mut x, mut y, mut z) = ([0u8; 3], [0u8; 0], [0u8; 10]);
        let n = b
            .recv_vectored(&mut [
                IoSliceMut::new(&mut x),
                IoSliceMut::new(&mut y),
                IoSliceMut::new(&mut z),
            ])
            .await?;
        assert_eq!((n, &x, &z[..4]), (7, b"abc", &b"defg"[..]));
        // End of stream: 0.
        drop(a);
        assert_eq!(b.recv_vectored(&mut [IoSliceMut::new(&mut x)]).await?, 0);
        Ok(())
    });
}

#[test]
fn a_datagram_of_several_buffers_is_one_datagram() {
    on_each_backend(|| async {
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let a = Socket::new(Domain::IPV4, Type::DGRAM, None)?;
        let b = Socket::new(Domain::IPV4, Type::DGRAM, None)?;
        a.bind(any)?;
        b.bind(any)?;
        a.connect(b.local_addr()?).await?;
        a.send_vectored(&[IoSlice::new(b"one,"), IoSlice::new(b"datagram")])
            .await?;
        a.send(b"two").await?;
        let mut buf = [0u8; 64];
        let (n, from) = b.recv_from(&mut buf).await?;
        assert_eq!(
            (&buf[..n], from.as_socket()),
            (&b"one,datagram"[..], a.local_addr()?.as_socket())
        );
        let (mut x, mut y) = ([0u8; 2], [0u8; 8]);
        let n = b
            .recv_vectored(&mut [IoSliceMut::new(&mut x), IoSliceMut::new(&mut y)])
            .await?;
        assert_eq!((n, &x, &y[..1]), (3, b"tw", &b"o"[..]));
        Ok(())
    });
}

#[test]
fn a_dropped_vectored_receive_loses_no_byte() {
    on_each_backend(|| async {
        let (a, b) = Socket::pair(Domain::UNIX, Type::STREAM, None)?;
        let mut sent = Vec::new();
        let mut got = Vec::new();
        for i in 0..100u8 {
            let msg = [i; 5];
            a.send(&msg).await?;
            sent.extend_from_slice(&msg);
            let (mut x, mut y) = ([0u8; 2], [0u8; 2]);
            // Polled once — it takes the bytes (readiness) or is in the
            // kernel (io_uring) — and dropped.
            poll_once_and_drop(
                b.recv_vectored(&mut [IoSliceMut::new(&mut x), IoSliceMut::new(&mut y)]),
            )
            .await;
            if i % 3 == 0 {
                let mut buf = [0u8; 3];
                let n = b.recv(&mut buf).await?;
                got.extend_from_slice(&buf[..n]);
            }
        }
        drop(a);
        let mut buf = [0u8; 64];
        loop {
            let n = b.recv(&mut buf).await?;
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        assert!(got == sent, "a dropped vectored receive lost bytes");
        Ok(())
    });
}
