//! `trio::tls::SslStream`, ported from Trio's `_tests/test_ssl.py` (the tests of
//! `SSLStream`; renegotiation does not exist in rustls, so its tests become tests
//! of TLS 1.3 key updates, the one post-handshake exchange left), plus Rust-side
//! tests of what this port adds (shared handshakes that fail, cancellations that
//! do not break the stream, `unwrap` refusing pending data, ...).
//!
//! Trio runs most tests with two client contexts, one that speaks TLS 1.3 and
//! one limited to TLS 1.2: so do we (`TestCa::client_configs`). Its "real"
//! server, a blocking stdlib `ssl` server in a thread, is a blocking rustls
//! server in a thread here (`echo_server_thread`).

mod tls_support;

use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::rc::Rc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tls_support::{TEST_HOST, TestCa, is_eof, tls_error};
use trio::abc::{AsyncResource, ReceiveStream, SendStream, Stream, aclose_forcefully};
use trio::net::{SocketListener, SocketStream, open_tcp_stream};
use trio::testing::{
    Sequencer, assert_checkpoints, check_two_way_stream, lockstep_stream_pair, memory_stream_pair,
    memory_stream_pump, wait_all_tasks_blocked,
};
use trio::tls::rustls::{self, ClientConfig, ServerConfig};
use trio::tls::{SslListener, SslStream};
use trio::{CancelScope, Error, ErrorKind, StapledStream};

type Mem = StapledStream<trio::testing::MemorySendStream, trio::testing::MemoryReceiveStream>;

// ---------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------

/// Trio's `ssl_echo_serve_sync`: a blocking rustls server in a thread that echoes
/// one connection until the client's `close_notify`, then answers with its own.
/// Returns the port and the thread, whose result says how it ended.
fn echo_server_thread(config: Arc<ServerConfig>) -> (u16, JoinHandle<Result<(), String>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let thread = std::thread::spawn(move || {
        let (sock, _) = listener.accept().map_err(|e| e.to_string())?;
        let conn = rustls::ServerConnection::new(config).map_err(|e| e.to_string())?;
        let mut tls = rustls::StreamOwned::new(conn, sock);
        let mut buf = [0u8; 4096];
        loop {
            let n = tls.read(&mut buf).map_err(|e| e.to_string())?;
            if n == 0 {
                // The client said goodbye; answering is polite, but it may be gone.
                tls.conn.send_close_notify();
                let _ = tls.flush();
                return Ok(());
            }
            tls.write_all(&buf[..n]).map_err(|e| e.to_string())?;
        }
    });
    (port, thread)
}

async fn join<T: Send + 'static>(thread: JoinHandle<T>) -> T {
    trio::to_thread::run_sync(move || thread.join().unwrap())
        .await
        .unwrap()
}

/// Trio's `ssl_echo_server`: a client stream connected to the echo server.
async fn ssl_echo_client(
    port: u16,
    client_cfg: &Arc<ClientConfig>,
) -> trio::Result<SslStream<SocketStream>> {
    SslStream::client(
        open_tcp_stream("127.0.0.1", port).await?,
        client_cfg.clone(),
        TEST_HOST,
    )
}

/// Trio's `ssl_wrap_pair`.
fn ssl_wrap_pair<T>(
    (a, b): (T, T),
    client_cfg: &Arc<ClientConfig>,
    server_cfg: &Arc<ServerConfig>,
    client_https: bool,
    server_https: bool,
) -> (SslStream<T>, SslStream<T>) {
    let client = SslStream::client(a, client_cfg.clone(), TEST_HOST)
        .unwrap()
        .https_compatible(client_https);
    let server = SslStream::server(b, server_cfg.clone())
        .unwrap()
        .https_compatible(server_https);
    (client, server)
}

/// Trio's `ssl_memory_stream_pair`.
fn ssl_memory_pair(
    client_cfg: &Arc<ClientConfig>,
    server_cfg: &Arc<ServerConfig>,
) -> (SslStream<Mem>, SslStream<Mem>) {
    ssl_wrap_pair(memory_stream_pair(), client_cfg, server_cfg, false, false)
}

async fn handshake_both<A: Stream, B: Stream>(
    a: &SslStream<A>,
    b: &SslStream<B>,
) -> trio::Result<()> {
    trio::open_nursery(async |n| {
        n.start_soon(a.do_handshake())?;
        n.start_soon(b.do_handshake())?;
        Ok(())
    })
    .await?;
    Ok(())
}

async fn receive_exactly<R: ReceiveStream>(r: &R, len: usize) -> trio::Result<Vec<u8>> {
    let mut got = Vec::with_capacity(len);
    let mut buf = vec![0u8; len.max(1)];
    while got.len() < len {
        let n = r.receive_some(&mut buf[..len - got.len()]).await?;
        assert_ne!(n, 0, "end of stream after {} of {len} bytes", got.len());
        got.extend_from_slice(&buf[..n]);
    }
    Ok(got)
}

async fn receive_one<R: ReceiveStream>(r: &R) -> trio::Result<Vec<u8>> {
    let mut buf = [0u8; 1];
    let n = r.receive_some(&mut buf).await?;
    Ok(buf[..n].to_vec())
}

async fn receive_up_to<R: ReceiveStream>(r: &R, max: usize) -> trio::Result<Vec<u8>> {
    let mut buf = vec![0u8; max];
    let n = r.receive_some(&mut buf).await?;
    buf.truncate(n);
    Ok(buf)
}

/// The error of a nursery in which one task hit `kind` (and others were perhaps
/// cancelled): Trio's `RaisesGroup(kind)`.
fn assert_one_error<T>(r: trio::Result<T>, kind: ErrorKind, message: &str) {
    let Err(e) = r else {
        panic!("expected an error")
    };
    let found = std::iter::once(&e)
        .chain(e.errors())
        .find(|e| e.kind() == kind)
        .unwrap_or_else(|| panic!("expected {kind:?}, got {e}"));
    assert!(
        found.to_string().contains(message),
        "{found} does not mention {message:?}"
    );
}

// ---------------------------------------------------------------------------
// Against a blocking rustls peer in a thread
// ---------------------------------------------------------------------------

#[trio::test]
async fn ssl_client_basics() -> trio::Result<()> {
    // test_ssl_client_basics
    let ca = TestCa::new();
    let server_cfg = ca.server_config();
    for (version, client_cfg) in ca.client_configs() {
        // Everything OK.
        let (port, server) = echo_server_thread(server_cfg.clone());
        let s = ssl_echo_client(port, &client_cfg).await?;
        assert!(!s.is_server_side());
        s.send_all(b"x").await?;
        assert_eq!(receive_one(&s).await?, b"x");
        s.aclose().await?;
        join(server).await.unwrap();

        // Didn't configure the CA: the handshake fails.
        let (port, server) = echo_server_thread(server_cfg.clone());
        let s = SslStream::client(
            open_tcp_stream("127.0.0.1", port).await?,
            trio::tls::client_config(),
            TEST_HOST,
        )?;
        let e = s.send_all(b"x").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BrokenResource, "{version}: {e}");
        assert!(
            matches!(
                tls_error(&e),
                Some(rustls::Error::InvalidCertificate(
                    rustls::CertificateError::UnknownIssuer
                ))
            ),
            "{e:?}"
        );
        s.aclose().await?;
        // The server heard why (our alert) or saw the connection end.
        assert!(join(server).await.is_err());

        // Trusted CA, but the wrong host name.
        let (port, server) = echo_server_thread(server_cfg.clone());
        let s = SslStream::client(
            open_tcp_stream("127.0.0.1", port).await?,
            client_cfg.clone(),
            "trio-test-2.example.org",
        )?;
        let e = s.send_all(b"x").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BrokenResource);
        assert!(
            matches!(
                tls_error(&e),
                Some(rustls::Error::InvalidCertificate(
                    rustls::CertificateError::NotValidForName
                        | rustls::CertificateError::NotValidForNameContext { .. }
                ))
            ),
            "{e:?}"
        );
        s.aclose().await?;
        assert!(join(server).await.is_err());
    }
    Ok(())
}

#[trio::test]
async fn ssl_server_basics() -> trio::Result<()> {
    // test_ssl_server_basics: a trio server, a blocking rustls client in a thread.
    let ca = TestCa::new();
    let server_cfg = ca.server_config();
    for (_, client_cfg) in ca.client_configs() {
        let listener = SocketListener::bind("127.0.0.1:0".parse().unwrap())?;
        let port = listener.local_addr()?.port();
        let client = std::thread::spawn(move || -> Result<(), String> {
            let sock =
                std::net::TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
            let name = rustls::pki_types::ServerName::try_from(TEST_HOST).unwrap();
            let conn =
                rustls::ClientConnection::new(client_cfg, name).map_err(|e| e.to_string())?;
            let mut tls = rustls::StreamOwned::new(conn, sock);
            tls.write_all(b"x").map_err(|e| e.to_string())?;
            let mut buf = [0u8; 1];
            tls.read_exact(&mut buf).map_err(|e| e.to_string())?;
            assert_eq!(&buf, b"y");
            tls.write_all(b"z").map_err(|e| e.to_string())?;
            tls.conn.send_close_notify();
            tls.flush().map_err(|e| e.to_string())?;
            Ok(())
        });
        use trio::abc::Listener;
        let server = SslStream::server(listener.accept().await?, server_cfg.clone())?;
        assert!(server.is_server_side());
        assert_eq!(receive_one(&server).await?, b"x");
        server.send_all(b"y").await?;
        assert_eq!(receive_one(&server).await?, b"z");
        assert_eq!(receive_one(&server).await?, b"");
        server.aclose().await?;
        join(client).await.unwrap();
    }
    Ok(())
}

#[trio::test]
async fn attributes() -> trio::Result<()> {
    // test_attributes: what Rust can ask of a stream (there are no dynamic
    // attributes to forward, and the config cannot be swapped after creation).
    let ca = TestCa::new();
    let (a, _b) = memory_stream_pair();
    let s = SslStream::client(a, ca.client_config(), TEST_HOST)?;
    assert!(!s.is_server_side());
    assert_eq!(s.server_name().as_deref(), Some(TEST_HOST));
    assert!(!s.is_https_compatible());
    assert!(!s.is_handshake_done());
    // Before the handshake there is nothing to tell (Trio's NeedHandshakeError).
    for e in [
        s.alpn_protocol().unwrap_err(),
        s.protocol_version().unwrap_err(),
        s.cipher_suite().unwrap_err(),
        s.peer_certificates().unwrap_err(),
        s.export_keying_material(&mut [0; 8], b"x", None)
            .unwrap_err(),
    ] {
        assert_eq!(e.kind(), ErrorKind::Usage);
        assert!(e.to_string().contains("do_handshake"), "{e}");
    }
    assert!(s.with_connection(|c| c.is_handshaking()));
    let dbg = format!("{s:?}");
    assert!(
        dbg.contains("SslStream") && dbg.contains(TEST_HOST),
        "{dbg}"
    );
    Ok(())
}

#[trio::test]
async fn full_duplex_basics() -> trio::Result<()> {
    // test_full_duplex_basics
    const CHUNKS: usize = 30;
    const CHUNK_SIZE: usize = 32768;
    const EXPECTED: usize = CHUNKS * CHUNK_SIZE;
    let ca = TestCa::new();
    let server_cfg = ca.server_config();
    for (_, client_cfg) in ca.client_configs() {
        let (port, server) = echo_server_thread(server_cfg.clone());
        let s = ssl_echo_client(port, &client_cfg).await?;
        let sent = RefCell::new(Vec::new());
        let received = RefCell::new(Vec::new());
        let (s_ref, sent_ref, received_ref) = (&s, &sent, &received);
        trio::open_nursery(async |n| {
            n.start_soon(async move {
                for i in 0..CHUNKS {
                    let chunk = vec![i as u8; CHUNK_SIZE];
                    sent_ref.borrow_mut().extend_from_slice(&chunk);
                    s_ref.send_all(&chunk).await?;
                }
                Ok(())
            })?;
            n.start_soon(async move {
                let mut buf = vec![0u8; CHUNK_SIZE / 2];
                while received_ref.borrow().len() < EXPECTED {
                    let got = s_ref.receive_some(&mut buf).await?;
                    received_ref.borrow_mut().extend_from_slice(&buf[..got]);
                }
                Ok(())
            })?;
            // And some handshakes too, everyone at once.
            n.start_soon(s_ref.do_handshake())?;
            n.start_soon(s_ref.do_handshake())?;
            Ok(())
        })
        .await?;
        s.aclose().await?;
        join(server).await.unwrap();
        assert_eq!(sent.borrow().len(), EXPECTED);
        assert!(*sent.borrow() == *received.borrow());
    }
    Ok(())
}

#[trio::test]
async fn checkpoints() -> trio::Result<()> {
    // test_checkpoints
    let ca = TestCa::new();
    let server_cfg = ca.server_config();
    for (_, client_cfg) in ca.client_configs() {
        let (port, server) = echo_server_thread(server_cfg.clone());
        let s = ssl_echo_client(port, &client_cfg).await?;
        assert_checkpoints(s.do_handshake()).await?;
        assert_checkpoints(s.do_handshake()).await?;
        assert_checkpoints(s.wait_send_all_might_not_block()).await?;
        assert_checkpoints(s.send_all(b"xxx")).await?;
        assert_eq!(assert_checkpoints(receive_one(&s)).await?, b"x");
        // These could return at once: the rest of "xxx" came in the same record
        // and is already decrypted. They are checkpoints all the same.
        assert_eq!(assert_checkpoints(receive_one(&s)).await?, b"x");
        assert_eq!(assert_checkpoints(receive_one(&s)).await?, b"x");
        let (_raw, trailing) = assert_checkpoints(s.unwrap()).await?;
        assert!(trailing.is_empty());
        join(server).await.unwrap();

        let (port, server) = echo_server_thread(server_cfg.clone());
        let s = ssl_echo_client(port, &client_cfg).await?;
        s.do_handshake().await?;
        assert_checkpoints(s.aclose()).await?;
        join(server).await.unwrap();
    }
    Ok(())
}

#[trio::test]
async fn send_all_empty_string() -> trio::Result<()> {
    // test_send_all_empty_string
    let ca = TestCa::new();
    let server_cfg = ca.server_config();
    for (_, client_cfg) in ca.client_configs() {
        let (port, server) = echo_server_thread(server_cfg.clone());
        let s = ssl_echo_client(port, &client_cfg).await?;
        s.do_handshake().await?;
        assert_checkpoints(s.send_all(b"")).await?;
        assert_checkpoints(s.send_all(b"")).await?;
        s.send_all(b"x").await?;
        assert_eq!(receive_one(&s).await?, b"x");
        s.aclose().await?;
        join(server).await.unwrap();
    }
    Ok(())
}

#[trio::test]
async fn handshake_failure_during_aclose() -> trio::Result<()> {
    // test_ssl_handshake_failure_during_aclose: aclose does the handshake to send
    // close_notify; its failure is reported.
    let ca = TestCa::new();
    let (port, server) = echo_server_thread(ca.server_config());
    let s = SslStream::client(
        open_tcp_stream("127.0.0.1", port).await?,
        trio::tls::client_config(), // does not trust the test CA
        TEST_HOST,
    )?;
    let e = s.aclose().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BrokenResource);
    assert!(tls_error(&e).is_some(), "{e:?}");
    // Closed all the same.
    assert_eq!(
        s.send_all(b"x").await.unwrap_err().kind(),
        ErrorKind::ClosedResource
    );
    assert!(join(server).await.is_err());
    Ok(())
}

// ---------------------------------------------------------------------------
// The conformance suite
// ---------------------------------------------------------------------------

type Lock = StapledStream<trio::testing::LockstepSendStream, trio::testing::LockstepReceiveStream>;

/// A memory or a lockstep stream: the suite wants one type for its normal and
/// its clogged streams, and Trio gives it memory streams and lockstep streams.
enum Transport {
    Memory(Mem),
    Lockstep(Lock),
}

fn memory_transports() -> (Transport, Transport) {
    let (a, b) = memory_stream_pair();
    (Transport::Memory(a), Transport::Memory(b))
}

fn lockstep_transports() -> (Transport, Transport) {
    let (a, b) = lockstep_stream_pair();
    (Transport::Lockstep(a), Transport::Lockstep(b))
}

impl AsyncResource for Transport {
    async fn aclose(&self) -> trio::Result<()> {
        match self {
            Transport::Memory(s) => s.aclose().await,
            Transport::Lockstep(s) => s.aclose().await,
        }
    }
}

impl SendStream for Transport {
    async fn send_all(&self, data: &[u8]) -> trio::Result<()> {
        match self {
            Transport::Memory(s) => s.send_all(data).await,
            Transport::Lockstep(s) => s.send_all(data).await,
        }
    }
    async fn wait_send_all_might_not_block(&self) -> trio::Result<()> {
        match self {
            Transport::Memory(s) => s.wait_send_all_might_not_block().await,
            Transport::Lockstep(s) => s.wait_send_all_might_not_block().await,
        }
    }
}

impl ReceiveStream for Transport {
    async fn receive_some(&self, buf: &mut [u8]) -> trio::Result<usize> {
        match self {
            Transport::Memory(s) => s.receive_some(buf).await,
            Transport::Lockstep(s) => s.receive_some(buf).await,
        }
    }
}

#[trio::test]
async fn ssl_stream_generic_over_memory_and_lockstep_streams() -> trio::Result<()> {
    // test_SSLStream_generic: memory streams, with lockstep streams (handshake
    // done up front) as the clogged ones; both TLS versions, both closing modes.
    let ca = TestCa::new();
    let server_cfg = ca.server_config();
    for (_, client_cfg) in ca.client_configs() {
        for https in [false, true] {
            let (c, s) = (&client_cfg, &server_cfg);
            let maker = async || Ok(ssl_wrap_pair(memory_transports(), c, s, https, https));
            let clogged = async || {
                let (client, server) = ssl_wrap_pair(lockstep_transports(), c, s, https, https);
                // Without this, a receive_some that unclogs the peer would first
                // have to send the handshake, and itself get stuck.
                handshake_both(&client, &server).await?;
                Ok((client, server))
            };
            trio::fail_after(
                Duration::from_secs(120),
                check_two_way_stream(&maker, Some(&clogged)),
            )
            .await?;
        }
    }
    Ok(())
}

#[trio::test]
async fn ssl_stream_generic_over_lockstep_streams_only() -> trio::Result<()> {
    // Rust-side: lockstep streams for everything, in https_compatible mode (where
    // closing sends nothing: two graceful acloses at once would otherwise both
    // wait for a reader, as they would on any unbuffered transport).
    let ca = TestCa::new();
    let server_cfg = ca.server_config();
    for (_, client_cfg) in ca.client_configs() {
        let (c, s) = (&client_cfg, &server_cfg);
        let maker = async || {
            let (client, server) = ssl_wrap_pair(lockstep_stream_pair(), c, s, true, true);
            handshake_both(&client, &server).await?;
            Ok((client, server))
        };
        trio::fail_after(
            Duration::from_secs(120),
            check_two_way_stream(&maker, Some(&maker)),
        )
        .await?;
    }
    Ok(())
}

#[trio::test]
async fn ssl_stream_generic_over_tcp() -> trio::Result<()> {
    // Rust-side: the suite over real TCP connections on the loopback.
    let ca = TestCa::new();
    let server_cfg = ca.server_config();
    for (_, client_cfg) in ca.client_configs() {
        for https in [false, true] {
            let (c, s) = (&client_cfg, &server_cfg);
            let maker = async || {
                use trio::abc::Listener;
                let listener = SocketListener::bind("127.0.0.1:0".parse().unwrap())?;
                let port = listener.local_addr()?.port();
                let client = open_tcp_stream("127.0.0.1", port).await?;
                let server = listener.accept().await?;
                Ok(ssl_wrap_pair((client, server), c, s, https, https))
            };
            trio::fail_after(Duration::from_secs(120), check_two_way_stream(&maker, None)).await?;
        }
    }
    Ok(())
}

#[test]
fn ssl_stream_generic_over_ssl_stream() {
    // Rust-side: TLS inside TLS passes the suite too (test_ssl_over_ssl, thoroughly).
    // Futures nested this deep outgrow a test thread's stack in debug builds.
    std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(|| trio::run(ssl_over_ssl_generic()))
        .unwrap()
        .join()
        .unwrap()
        .unwrap();
}

async fn ssl_over_ssl_generic() -> trio::Result<()> {
    let ca = TestCa::new();
    let server_cfg = ca.server_config();
    let client_cfg = ca.client_config();
    let (c, s) = (&client_cfg, &server_cfg);
    let maker = async || {
        let (outer_client, outer_server) = ssl_memory_pair(c, s);
        Ok(ssl_wrap_pair(
            (outer_client, outer_server),
            c,
            s,
            false,
            false,
        ))
    };
    trio::fail_after(Duration::from_secs(120), check_two_way_stream(&maker, None)).await
}

// ---------------------------------------------------------------------------
// Busy, broken, closed
// ---------------------------------------------------------------------------

#[trio::test]
async fn resource_busy_errors() -> trio::Result<()> {
    // test_resource_busy_errors
    let ca = TestCa::new();
    let server_cfg = ca.server_config();
    for (_, client_cfg) in ca.client_configs() {
        #[derive(Clone, Copy, Debug)]
        enum Op {
            Send,
            Receive,
            Wait,
        }
        for (op1, op2) in [
            (Op::Send, Op::Send),
            (Op::Receive, Op::Receive),
            (Op::Send, Op::Wait),
            (Op::Wait, Op::Wait),
        ] {
            let (s, _peer) = ssl_wrap_pair(
                lockstep_stream_pair(),
                &client_cfg,
                &server_cfg,
                false,
                false,
            );
            let s = &s;
            let run = async move |op: Op| -> trio::Result<()> {
                match op {
                    Op::Send => s.send_all(b"x").await,
                    Op::Receive => receive_one(s).await.map(drop),
                    Op::Wait => s.wait_send_all_might_not_block().await,
                }
            };
            let run = &run;
            let r = trio::open_nursery(async |n| {
                n.start_soon(run(op1))?;
                n.start_soon(run(op2))?;
                Ok(())
            })
            .await;
            assert_one_error(r, ErrorKind::BusyResource, "another task");
        }
    }
    Ok(())
}

/// A stream that only answers `wait_send_all_might_not_block`.
struct NotAStream(RefCell<Vec<&'static str>>);

impl AsyncResource for NotAStream {
    async fn aclose(&self) -> trio::Result<()> {
        unreachable!("should not get called")
    }
}

impl SendStream for NotAStream {
    async fn send_all(&self, _: &[u8]) -> trio::Result<()> {
        unreachable!("should not get called")
    }
    async fn wait_send_all_might_not_block(&self) -> trio::Result<()> {
        self.0.borrow_mut().push("ok");
        Ok(())
    }
}

impl ReceiveStream for NotAStream {
    async fn receive_some(&self, _: &mut [u8]) -> trio::Result<usize> {
        unreachable!("should not get called")
    }
}

#[trio::test]
async fn wait_writable_calls_underlying_wait_writable() -> trio::Result<()> {
    // test_wait_writable_calls_underlying_wait_writable
    let s = SslStream::client(
        NotAStream(RefCell::new(Vec::new())),
        trio::tls::client_config(),
        "x",
    )?;
    s.wait_send_all_might_not_block().await?;
    assert_eq!(*s.transport_stream().0.borrow(), ["ok"]);
    Ok(())
}

#[trio::test]
async fn closing_nice_case() -> trio::Result<()> {
    // test_closing_nice_case: graceful closes all around.
    let ca = TestCa::new();
    let server_cfg = ca.server_config();
    for (_, client_cfg) in ca.client_configs() {
        let (client, server) = ssl_memory_pair(&client_cfg, &server_cfg);
        // Both the handshake and the close need both sides: run them together.
        let (c, s) = (&client, &server);
        trio::open_nursery(async |n| {
            n.start_soon(async move { assert_checkpoints(c.aclose()).await })?;
            n.start_soon(async move {
                assert_eq!(receive_up_to(s, 10).await?, b"");
                assert_eq!(receive_up_to(s, 10).await?, b"");
                assert_checkpoints(s.aclose()).await
            })?;
            Ok(())
        })
        .await?;

        // Closing the SslStream closed its transport too.
        assert_eq!(
            client
                .transport_stream()
                .send_all(b"123")
                .await
                .unwrap_err()
                .kind(),
            ErrorKind::ClosedResource
        );
        // Once closed, closing again is fine.
        assert_checkpoints(client.aclose()).await?;
        assert_checkpoints(client.aclose()).await?;
        // Sending more does not work.
        assert_eq!(
            server.send_all(b"123").await.unwrap_err().kind(),
            ErrorKind::ClosedResource
        );
        // Closed locally: an error instead of end of stream.
        assert_eq!(
            receive_up_to(&client, 10).await.unwrap_err().kind(),
            ErrorKind::ClosedResource
        );
        assert_eq!(
            client.do_handshake().await.unwrap_err().kind(),
            ErrorKind::ClosedResource
        );
        assert_eq!(
            client.unwrap().await.unwrap_err().error().kind(),
            ErrorKind::ClosedResource
        );

        // A graceful close *before* the handshake gives a clean end of stream on
        // the other side.
        let (client, server) = ssl_memory_pair(&client_cfg, &server_cfg);
        let (c, s) = (&client, &server);
        trio::open_nursery(async |n| {
            n.start_soon(c.aclose())?;
            n.start_soon(async move {
                assert_eq!(assert_checkpoints(receive_up_to(s, 10)).await?, b"");
                assert_checkpoints(s.aclose()).await
            })?;
            Ok(())
        })
        .await?;
    }
    Ok(())
}

#[trio::test]
async fn send_all_fails_in_the_middle() -> trio::Result<()> {
    // test_send_all_fails_in_the_middle
    let ca = TestCa::new();
    let (client, server) = ssl_memory_pair(&ca.client_config(), &ca.server_config());
    handshake_both(&client, &server).await?;
    client
        .transport_stream()
        .send_stream()
        .send_all_hook()
        .set(async |_| Err(Error::new(ErrorKind::Other, "KeyError")));
    let e = client.send_all(b"x").await.unwrap_err();
    assert_eq!(e.message(), Some("KeyError"));
    assert_eq!(
        client
            .wait_send_all_might_not_block()
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::BrokenResource
    );
    let closed = Rc::new(Cell::new(0));
    let (c1, c2) = (closed.clone(), closed.clone());
    client
        .transport_stream()
        .send_stream()
        .close_hook()
        .set(move |_| c1.set(c1.get() + 1));
    client
        .transport_stream()
        .receive_stream()
        .close_hook()
        .set(move |_| c2.set(c2.get() + 1));
    client.aclose().await?;
    assert_eq!(closed.get(), 2);
    Ok(())
}

#[trio::test]
async fn ssl_over_ssl() -> trio::Result<()> {
    // test_ssl_over_ssl
    let ca = TestCa::new();
    let server_cfg = ca.server_config();
    for (_, client_cfg) in ca.client_configs() {
        let (client_1, server_1) = ssl_memory_pair(&client_cfg, &server_cfg);
        let (client_2, server_2) =
            ssl_wrap_pair((client_1, server_1), &client_cfg, &server_cfg, false, false);
        let (c, s) = (&client_2, &server_2);
        trio::open_nursery(async |n| {
            n.start_soon(async move {
                c.send_all(b"hi").await?;
                assert_eq!(receive_up_to(c, 10).await?, b"bye");
                Ok(())
            })?;
            n.start_soon(async move {
                assert_eq!(receive_up_to(s, 10).await?, b"hi");
                s.send_all(b"bye").await
            })?;
            Ok(())
        })
        .await?;
    }
    Ok(())
}

#[trio::test]
async fn ssl_bad_shutdown() -> trio::Result<()> {
    // test_ssl_bad_shutdown: a peer that closes without close_notify truncated the
    // stream.
    let ca = TestCa::new();
    let server_cfg = ca.server_config();
    for (_, client_cfg) in ca.client_configs() {
        let (client, server) = ssl_memory_pair(&client_cfg, &server_cfg);
        handshake_both(&client, &server).await?;
        aclose_forcefully(&client).await?;
        let e = receive_up_to(&server, 10).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BrokenResource);
        assert!(is_eof(&e), "{e:?}");
        assert_eq!(
            server.send_all(&[b'x'; 10]).await.unwrap_err().kind(),
            ErrorKind::BrokenResource
        );
        server.aclose().await?;
    }
    Ok(())
}

#[trio::test]
async fn ssl_bad_shutdown_but_its_ok() -> trio::Result<()> {
    // test_ssl_bad_shutdown_but_its_ok: in https_compatible mode it is just the end.
    let ca = TestCa::new();
    let server_cfg = ca.server_config();
    for (_, client_cfg) in ca.client_configs() {
        let (client, server) =
            ssl_wrap_pair(memory_stream_pair(), &client_cfg, &server_cfg, true, true);
        handshake_both(&client, &server).await?;
        aclose_forcefully(&client).await?;
        assert_eq!(receive_up_to(&server, 10).await?, b"");
        // ...and stays the end (Trio would say BrokenResource the second time).
        assert_eq!(receive_up_to(&server, 10).await?, b"");
        assert_eq!(
            server.send_all(&[b'x'; 10]).await.unwrap_err().kind(),
            ErrorKind::BrokenResource
        );
        server.aclose().await?;
    }
    Ok(())
}

#[trio::test]
async fn ssl_only_closes_stream_once() -> trio::Result<()> {
    // test_ssl_only_closes_stream_once (Rust's close hooks cannot fail, so only
    // the count is checked, also across repeated and forceful closes).
    let ca = TestCa::new();
    let (client, server) = ssl_memory_pair(&ca.client_config(), &ca.server_config());
    handshake_both(&client, &server).await?;
    let count = Rc::new(Cell::new(0));
    let c = count.clone();
    client
        .transport_stream()
        .send_stream()
        .close_hook()
        .set(move |_| c.set(c.get() + 1));
    client.aclose().await?;
    client.aclose().await?;
    aclose_forcefully(&client).await?;
    assert_eq!(count.get(), 1);
    Ok(())
}

#[trio::test]
async fn https_compatibility_disagreement() -> trio::Result<()> {
    // test_ssl_https_compatibility_disagreement: the client skips close_notify,
    // the server insists on it.
    let ca = TestCa::new();
    let server_cfg = ca.server_config();
    for (_, client_cfg) in ca.client_configs() {
        let (client, server) =
            ssl_wrap_pair(memory_stream_pair(), &client_cfg, &server_cfg, true, false);
        handshake_both(&client, &server).await?;
        let (c, s) = (&client, &server);
        trio::open_nursery(async |n| {
            n.start_soon(c.aclose())?;
            n.start_soon(async move {
                let e = receive_up_to(s, 10).await.unwrap_err();
                assert_eq!(e.kind(), ErrorKind::BrokenResource);
                assert!(is_eof(&e), "{e:?}");
                Ok(())
            })?;
            Ok(())
        })
        .await?;
    }
    Ok(())
}

#[trio::test]
async fn https_mode_eof_before_handshake() -> trio::Result<()> {
    // test_https_mode_eof_before_handshake
    let ca = TestCa::new();
    let server_cfg = ca.server_config();
    for (_, client_cfg) in ca.client_configs() {
        let (client, server) =
            ssl_wrap_pair(memory_stream_pair(), &client_cfg, &server_cfg, true, true);
        let (c, s) = (&client, &server);
        trio::open_nursery(async |n| {
            n.start_soon(c.aclose())?;
            n.start_soon(async move {
                assert_eq!(receive_up_to(s, 10).await?, b"");
                Ok(())
            })?;
            Ok(())
        })
        .await?;
        // Not https_compatible, the same is a truncation.
        let (client, server) = ssl_memory_pair(&client_cfg, &server_cfg);
        aclose_forcefully(&client).await?;
        let e = receive_up_to(&server, 10).await.unwrap_err();
        assert!(is_eof(&e), "{e:?}");
    }
    Ok(())
}

#[trio::test]
async fn send_error_during_handshake() -> trio::Result<()> {
    // test_send_error_during_handshake
    let ca = TestCa::new();
    let (client, _server) = ssl_memory_pair(&ca.client_config(), &ca.server_config());
    client
        .transport_stream()
        .send_stream()
        .send_all_hook()
        .set(async |_| Err(Error::new(ErrorKind::Other, "KeyError")));
    let e = client.do_handshake().await.unwrap_err();
    assert_eq!(e.message(), Some("KeyError"));
    let e = client.do_handshake().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BrokenResource);
    Ok(())
}

#[trio::test]
async fn receive_error_during_handshake() -> trio::Result<()> {
    // test_receive_error_during_handshake
    let ca = TestCa::new();
    let (client, server) = ssl_memory_pair(&ca.client_config(), &ca.server_config());
    client
        .transport_stream()
        .receive_stream()
        .receive_some_hook()
        .set(async |_| Err(Error::new(ErrorKind::Other, "KeyError")));
    let (c, s) = (&client, &server);
    trio::open_nursery(async |n| {
        let scope = n.cancel_scope();
        n.start_soon(async move {
            let e = c.do_handshake().await.unwrap_err();
            assert_eq!(e.message(), Some("KeyError"));
            scope.cancel();
            Ok(())
        })?;
        n.start_soon(s.do_handshake())?;
        Ok(())
    })
    .await?;
    let e = client.do_handshake().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BrokenResource);
    Ok(())
}

// ---------------------------------------------------------------------------
// What the handshake tells
// ---------------------------------------------------------------------------

#[trio::test]
async fn selected_alpn_protocol() -> trio::Result<()> {
    // test_selected_alpn_protocol_before_handshake / _when_not_set, and a case
    // where it is set.
    let ca = TestCa::new();
    let server_cfg = ca.server_config();
    for (_, client_cfg) in ca.client_configs() {
        let (client, server) = ssl_memory_pair(&client_cfg, &server_cfg);
        assert_eq!(client.alpn_protocol().unwrap_err().kind(), ErrorKind::Usage);
        assert_eq!(server.alpn_protocol().unwrap_err().kind(), ErrorKind::Usage);
        handshake_both(&client, &server).await?;
        assert_eq!(client.alpn_protocol()?, None);
        assert_eq!(server.alpn_protocol()?, None);
    }
    let server_cfg = ca
        .server_builder()
        .alpn_protocols(["h2", "http/1.1"])
        .build()?;
    let client_cfg = ca
        .client_builder()
        .alpn_protocols(["http/1.1", "h2"])
        .build()?;
    let (client, server) = ssl_memory_pair(&client_cfg, &server_cfg);
    handshake_both(&client, &server).await?;
    // The server's preference wins.
    assert_eq!(client.alpn_protocol()?.as_deref(), Some(&b"h2"[..]));
    assert_eq!(server.alpn_protocol()?.as_deref(), Some(&b"h2"[..]));
    Ok(())
}

#[trio::test]
async fn channel_binding() -> trio::Result<()> {
    // test_get_channel_binding_before_handshake / _after_handshake, with the
    // RFC 9266 exporter in place of tls-unique.
    let ca = TestCa::new();
    let server_cfg = ca.server_config();
    for (_, client_cfg) in ca.client_configs() {
        let (client, server) = ssl_memory_pair(&client_cfg, &server_cfg);
        let mut x = [0u8; 32];
        assert_eq!(
            client
                .export_keying_material(&mut x, b"EXPORTER-Channel-Binding", None)
                .unwrap_err()
                .kind(),
            ErrorKind::Usage
        );
        handshake_both(&client, &server).await?;
        let mut y = [0u8; 32];
        client.export_keying_material(&mut x, b"EXPORTER-Channel-Binding", None)?;
        server.export_keying_material(&mut y, b"EXPORTER-Channel-Binding", None)?;
        assert_eq!(x, y);
        assert_ne!(x, [0u8; 32]);
    }
    Ok(())
}

#[trio::test]
async fn peer_certificates() -> trio::Result<()> {
    // test_getpeercert
    let ca = TestCa::new();
    let leaf = ca.issue(&[TEST_HOST]);
    let server_cfg = trio::tls::server_config(leaf.chain(), leaf.key_der())?;
    for (version, client_cfg) in ca.client_configs() {
        let (client, server) = ssl_memory_pair(&client_cfg, &server_cfg);
        handshake_both(&client, &server).await?;
        assert_eq!(server.peer_certificates()?, None);
        assert_eq!(client.peer_certificates()?, Some(leaf.chain()));
        let expected = if version == "tls13" {
            rustls::ProtocolVersion::TLSv1_3
        } else {
            rustls::ProtocolVersion::TLSv1_2
        };
        assert_eq!(client.protocol_version()?, expected);
        assert_eq!(server.protocol_version()?, expected);
        assert_eq!(
            client.cipher_suite()?.suite(),
            server.cipher_suite()?.suite()
        );
        assert_eq!(server.server_name().as_deref(), Some(TEST_HOST));
    }
    Ok(())
}

#[trio::test]
async fn server_names_are_not_idna_encoded() -> trio::Result<()> {
    // test_server_hostname_is_idna_2008, turned around: Trio encodes "faß.de" for
    // you; here the A-label must be given.
    let (a, _b) = memory_stream_pair();
    let e = SslStream::client(a, trio::tls::client_config(), "faß.de").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    let (a, _b) = memory_stream_pair();
    let s = SslStream::client(a, trio::tls::client_config(), "xn--fa-hia.de")?;
    assert_eq!(s.server_name().as_deref(), Some("xn--fa-hia.de"));
    // IP addresses are names too.
    let (a, _b) = memory_stream_pair();
    SslStream::client(a, trio::tls::client_config(), "::1")?;
    Ok(())
}

#[trio::test]
async fn ssl_listener() -> trio::Result<()> {
    // test_SSLListener
    use trio::abc::Listener;
    let ca = TestCa::new();
    let server_cfg = ca.server_config();
    let client_cfg = ca.client_config();
    for https in [false, true] {
        let tcp = SocketListener::bind("127.0.0.1:0".parse().unwrap())?;
        let port = tcp.local_addr()?.port();
        let listener = SslListener::new(tcp, server_cfg.clone()).https_compatible(https);
        assert_eq!(listener.is_https_compatible(), https);
        let client = SslStream::client(
            open_tcp_stream("127.0.0.1", port).await?,
            client_cfg.clone(),
            TEST_HOST,
        )?;
        let server = listener.accept().await?;
        assert!(server.is_server_side());
        assert_eq!(server.is_https_compatible(), https);
        handshake_both(&client, &server).await?;
        listener.aclose().await?;
        assert!(listener.transport_listener().socket().is_closed());
        assert_eq!(
            listener.accept().await.unwrap_err().kind(),
            ErrorKind::ClosedResource
        );
        aclose_forcefully(&client).await?;
        aclose_forcefully(&server).await?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// unwrap
// ---------------------------------------------------------------------------

#[trio::test]
async fn unwrap() -> trio::Result<()> {
    // test_unwrap: both sides unwrap; the client's trailing plaintext arrives in
    // one lump with its close_notify, and comes back as the server's trailing
    // bytes.
    let ca = TestCa::new();
    let server_cfg = ca.server_config();
    for (_, client_cfg) in ca.client_configs() {
        let (client_ssl, server_ssl) = ssl_memory_pair(&client_cfg, &server_cfg);
        let seq = Sequencer::new();
        let seq = &seq;
        trio::open_nursery(async |n| {
            n.start_soon(async move {
                client_ssl.do_handshake().await?;
                client_ssl.send_all(b"x").await?;
                assert_eq!(receive_one(&client_ssl).await?, b"y");
                client_ssl.send_all(b"z").await?;
                // Stop the client's outgoing data, so that the server sees our
                // close_notify only after our trailing data is sent too.
                let hook = {
                    let _g = seq.enter(0).await?;
                    client_ssl
                        .transport_stream()
                        .send_stream()
                        .send_all_hook()
                        .take()
                };
                assert_eq!(receive_one(&client_ssl).await?, b"");
                // We got the server's close_notify: unwrap and send in the clear.
                let (raw, trailing) = client_ssl.unwrap().await?;
                assert!(trailing.is_empty());
                raw.send_all(b"trailing").await?;
                // Reconnect: the server gets our close_notify and the trailing
                // data in one lump.
                raw.send_stream().send_all_hook().replace(hook.clone());
                hook.unwrap().call(raw.send_stream()).await
            })?;
            n.start_soon(async move {
                server_ssl.do_handshake().await?;
                assert_eq!(receive_one(&server_ssl).await?, b"x");
                server_ssl.send_all(b"y").await?;
                assert_eq!(receive_one(&server_ssl).await?, b"z");
                let _g = seq.enter(1).await?;
                let (_raw, trailing) = server_ssl.unwrap().await?;
                assert_eq!(trailing, b"trailing");
                Ok(())
            })?;
            Ok(())
        })
        .await?;
    }
    Ok(())
}

#[trio::test]
async fn unwrap_refuses_data_instead_of_close_notify() -> trio::Result<()> {
    // Rust-side (OpenSSL's "application data after close notify"): data that
    // arrives before the peer's close_notify, or that was not read, makes unwrap
    // fail, and the stream comes back broken but closable.
    let ca = TestCa::new();
    let (client, server) = ssl_memory_pair(&ca.client_config(), &ca.server_config());
    handshake_both(&client, &server).await?;
    server.send_all(b"unread").await?;
    // Get the record in, and read only part of it.
    assert_eq!(receive_one(&client).await?, b"u");
    let err = client.unwrap().await.unwrap_err();
    assert_eq!(err.error().kind(), ErrorKind::BrokenResource);
    let client = err.into_stream();
    assert_eq!(
        client.send_all(b"x").await.unwrap_err().kind(),
        ErrorKind::BrokenResource
    );
    client.aclose().await?;
    assert!(
        client
            .transport_stream()
            .send_stream()
            .send_all(b"x")
            .await
            .is_err()
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// Handshakes: shared, cancelled
// ---------------------------------------------------------------------------

#[trio::test]
async fn concurrent_handshakes_share_one() -> trio::Result<()> {
    // Rust-side: three tasks want the handshake at once (explicitly, and through a
    // send and a receive); one runs it, the others wait for it.
    let ca = TestCa::new();
    let (client, server) = ssl_memory_pair(&ca.client_config(), &ca.server_config());
    let client_hellos = Rc::new(Cell::new(0));
    let count = client_hellos.clone();
    let to_server = server.transport_stream().receive_stream().clone();
    client
        .transport_stream()
        .send_stream()
        .send_all_hook()
        .set(async move |s| {
            let data = s.get_data_nowait(None)?;
            // A ClientHello: a handshake record holding message type 1.
            if data.len() > 5 && data[0] == 22 && data[5] == 1 {
                count.set(count.get() + 1);
            }
            to_server.put_data(&data)
        });
    let (c, s) = (&client, &server);
    trio::open_nursery(async |n| {
        n.start_soon(c.do_handshake())?;
        n.start_soon(c.do_handshake())?;
        n.start_soon(c.send_all(b"ping"))?;
        n.start_soon(async move {
            let mut buf = [0u8; 4];
            c.receive_some(&mut buf).await.map(drop)
        })?;
        n.start_soon(async move {
            assert_eq!(receive_exactly(s, 4).await?, b"ping");
            s.send_all(b"pong").await
        })?;
        Ok(())
    })
    .await?;
    assert_eq!(client_hellos.get(), 1);
    Ok(())
}

#[trio::test]
async fn cancelled_handshake_breaks_the_stream_and_wakes_the_waiters() -> trio::Result<()> {
    // Trio: "If this method is cancelled, then it may leave the SSLStream in an
    // unusable state". And a task waiting for that handshake learns it (in Trio it
    // would wait forever).
    let ca = TestCa::new();
    let (client, _server) = ssl_memory_pair(&ca.client_config(), &ca.server_config());
    let c = &client;
    let scope = CancelScope::new();
    let scope_ref = &scope;
    trio::open_nursery(async |n| {
        n.start_soon(async move {
            // Runs the handshake: sends its hello, then waits for an answer that
            // never comes (the server is idle).
            scope_ref.run(c.do_handshake()).await?;
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        n.start_soon(async move {
            // Waits for the first task's handshake.
            let e = c.do_handshake().await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::BrokenResource);
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        scope_ref.cancel();
        Ok(())
    })
    .await?;
    assert!(scope.cancelled_caught());
    for e in [
        client.send_all(b"x").await.unwrap_err(),
        receive_one(&client).await.unwrap_err(),
        client.do_handshake().await.unwrap_err(),
    ] {
        assert_eq!(e.kind(), ErrorKind::BrokenResource, "{e}");
    }
    // Closing still works (without a goodbye).
    client.aclose().await?;
    Ok(())
}

#[trio::test]
async fn cancelled_before_starting_changes_nothing() -> trio::Result<()> {
    // Rust-side: a send_all or receive_some in an already cancelled scope did
    // nothing, so the stream is still good (Trio would have broken it).
    let ca = TestCa::new();
    let (client, server) = ssl_memory_pair(&ca.client_config(), &ca.server_config());
    let cancelled = || {
        let scope = CancelScope::new();
        scope.cancel();
        scope
    };
    assert_eq!(cancelled().run(client.send_all(b"x")).await?, None);
    assert_eq!(cancelled().run(receive_one(&server)).await?, None);
    assert_eq!(cancelled().run(client.do_handshake()).await?, None);
    assert!(client.with_connection(|c| c.is_handshaking()));
    let (c, s) = (&client, &server);
    trio::open_nursery(async |n| {
        n.start_soon(c.send_all(b"x"))?;
        n.start_soon(async move {
            assert_eq!(receive_one(s).await?, b"x");
            Ok(())
        })?;
        Ok(())
    })
    .await?;
    Ok(())
}

#[trio::test]
async fn cancelled_receive_keeps_the_stream() -> trio::Result<()> {
    // Rust-side: after the handshake, a cancelled receive_some consumed nothing and
    // the stream goes on.
    let ca = TestCa::new();
    let (client, server) = ssl_memory_pair(&ca.client_config(), &ca.server_config());
    handshake_both(&client, &server).await?;
    let scope = CancelScope::new();
    let (c, scope_ref) = (&client, &scope);
    trio::open_nursery(async |n| {
        n.start_soon(async move {
            assert_eq!(scope_ref.run(receive_one(c)).await?, None);
            Ok(())
        })?;
        wait_all_tasks_blocked().await?; // blocked in the transport's receive
        scope_ref.cancel();
        Ok(())
    })
    .await?;
    server.send_all(b"after").await?;
    assert_eq!(receive_exactly(&client, 5).await?, b"after");
    Ok(())
}

#[trio::test]
async fn full_duplex_is_allowed_but_not_two_senders() -> trio::Result<()> {
    // Rust-side: one sender and one receiver at once is fine (the suite checks it
    // too); a sender and update_keys at once are two senders.
    let ca = TestCa::new();
    let (client, server) = ssl_wrap_pair(
        lockstep_stream_pair(),
        &ca.client_config(),
        &ca.server_config(),
        false,
        false,
    );
    handshake_both(&client, &server).await?;
    let c = &client;
    let r = trio::open_nursery(async |n| {
        n.start_soon(c.send_all(b"blocked: nobody receives"))?;
        wait_all_tasks_blocked().await?;
        n.start_soon(c.update_keys())?;
        Ok(())
    })
    .await;
    assert_one_error(r, ErrorKind::BusyResource, "another task");
    Ok(())
}

// ---------------------------------------------------------------------------
// Key updates: TLS 1.3's renegotiation
// ---------------------------------------------------------------------------

/// Installs Trio's `sleeper` on a memory pair: every transport send and receive
/// of both ends sleeps a random while (mock clock) before and after moving data.
fn add_random_delays(a: &Mem, b: &Mem, rng: &Rc<RefCell<fastrand::Rng>>) {
    for (from, to) in [(a, b), (b, a)] {
        let to_receive = to.receive_stream().clone();
        let r = rng.clone();
        from.send_stream().send_all_hook().set(async move |s| {
            let d = r.borrow_mut().u64(0..10_000);
            trio::sleep(Duration::from_millis(d)).await?;
            memory_stream_pump(s, &to_receive, None)?;
            let d = r.borrow_mut().u64(0..10_000);
            trio::sleep(Duration::from_millis(d)).await
        });
        let r = rng.clone();
        from.receive_stream()
            .receive_some_hook()
            .set(async move |_| {
                let d = r.borrow_mut().u64(0..10_000);
                trio::sleep(Duration::from_millis(d)).await
            });
    }
}

#[trio::test(autojump)]
async fn key_updates_randomized() -> trio::Result<()> {
    // test_renegotiation_randomized, with key updates: an echo server that asks
    // for new keys at random, a client that does too, random delays in every
    // transport operation, and sends racing receives.
    let ca = TestCa::new();
    let client_cfg = ca
        .client_builder()
        .protocol_versions(&[&rustls::version::TLS13])
        .build()?;
    let (a, b) = memory_stream_pair();
    let rng = Rc::new(RefCell::new(fastrand::Rng::with_seed(0)));
    add_random_delays(&a, &b, &rng);
    let (client, server) = ssl_wrap_pair((a, b), &client_cfg, &ca.server_config(), false, false);
    let (c, s, rng_ref) = (&client, &server, &rng);
    trio::open_nursery(async |n| {
        // The echo server.
        n.start_soon(async move {
            let mut buf = [0u8; 1];
            loop {
                let got = s.receive_some(&mut buf).await?;
                if got == 0 {
                    return s.aclose().await;
                }
                if rng_ref.borrow_mut().bool() {
                    s.update_keys().await?;
                }
                s.send_all(&buf[..got]).await?;
            }
        })?;
        c.do_handshake().await?;
        let send = async |byte: u8| assert_checkpoints(c.send_all(&[byte])).await;
        let expect = async |byte: u8| -> trio::Result<()> {
            assert_eq!(assert_checkpoints(receive_one(c)).await?, [byte]);
            Ok(())
        };
        for i in 0..100u32 {
            let (b1, b2) = ((i % 0xFF) as u8, ((2 * i) % 0xFF) as u8);
            if rng_ref.borrow_mut().bool() {
                c.update_keys().await?;
            }
            trio::open_nursery(async |n| {
                n.start_soon(send(b1))?;
                n.start_soon(expect(b1))?;
                Ok(())
            })
            .await?;
            trio::open_nursery(async |n| {
                n.start_soon(expect(b2))?;
                n.start_soon(send(b2))?;
                Ok(())
            })
            .await?;
        }
        c.aclose().await
    })
    .await?;
    Ok(())
}

#[trio::test(autojump)]
async fn wait_send_all_might_not_block_and_receive_some_do_not_conflict() -> trio::Result<()> {
    // The end of test_renegotiation_randomized: in Trio, receive_some must send
    // (to answer the renegotiation) while wait_send_all_might_not_block waits on
    // the transport. Here a read never sends — the answer to the server's key
    // update waits for the client's next send_all — so a receive_some goes through
    // while wait_send_all_might_not_block is stuck.
    let ca = TestCa::new();
    let client_cfg = ca
        .client_builder()
        .protocol_versions(&[&rustls::version::TLS13])
        .build()?;
    let (client, server) = ssl_memory_pair(&client_cfg, &ca.server_config());
    handshake_both(&client, &server).await?;
    let transport = client.transport_stream().send_stream();
    transport
        .wait_send_all_might_not_block_hook()
        .set(async |_| trio::sleep(Duration::from_secs(100_000)).await);
    // The server asks for new keys, then sends "x".
    server.update_keys().await?;
    server.send_all(b"x").await?;
    let c = &client;
    let start = trio::current_time();
    trio::open_nursery(async |n| {
        n.start_soon(c.wait_send_all_might_not_block())?;
        n.start_soon(async move {
            trio::sleep(Duration::from_secs(1000)).await?;
            assert_eq!(receive_one(c).await?, b"x");
            // Not held up by the stuck waiter.
            assert_eq!(trio::current_time() - start, Duration::from_secs(1000));
            Ok(())
        })?;
        Ok(())
    })
    .await?;
    Ok(())
}

#[trio::test]
async fn key_update_answers_go_with_the_next_send() -> trio::Result<()> {
    // Rust-side: receive_some processed the server's KeyUpdate without sending;
    // the answer leaves, before the data, with the client's next send_all — and
    // the server, which switched keys, still understands the client.
    let ca = TestCa::new();
    let client_cfg = ca
        .client_builder()
        .protocol_versions(&[&rustls::version::TLS13])
        .build()?;
    let (client, server) = ssl_memory_pair(&client_cfg, &ca.server_config());
    handshake_both(&client, &server).await?;
    let sends = Rc::new(Cell::new(0));
    let count = sends.clone();
    let to_server = server.transport_stream().receive_stream().clone();
    client
        .transport_stream()
        .send_stream()
        .send_all_hook()
        .set(async move |s| {
            count.set(count.get() + 1);
            memory_stream_pump(s, &to_server, None).map(drop)
        });
    server.update_keys().await?;
    server.send_all(b"x").await?;
    assert_eq!(receive_one(&client).await?, b"x");
    assert_eq!(sends.get(), 0);
    client.send_all(b"y").await?;
    assert_eq!(sends.get(), 1);
    assert_eq!(receive_one(&server).await?, b"y");
    // And the other way round.
    client.update_keys().await?;
    client.send_all(b"z").await?;
    assert_eq!(receive_one(&server).await?, b"z");
    server.send_all(b"w").await?;
    assert_eq!(receive_one(&client).await?, b"w");
    Ok(())
}

#[trio::test]
async fn update_keys_needs_tls13() -> trio::Result<()> {
    let ca = TestCa::new();
    let client_cfg = ca
        .client_builder()
        .protocol_versions(&[&rustls::version::TLS12])
        .build()?;
    let (client, server) = ssl_memory_pair(&client_cfg, &ca.server_config());
    handshake_both(&client, &server).await?;
    assert_eq!(
        client.update_keys().await.unwrap_err().kind(),
        ErrorKind::Usage
    );
    // Not an error of the stream: it still works.
    client.send_all(b"x").await?;
    assert_eq!(receive_one(&server).await?, b"x");
    Ok(())
}
