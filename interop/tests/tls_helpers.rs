//! The TLS-over-TCP helpers (`open_ssl_over_tcp_stream`, `SslConnect`,
//! `open_ssl_over_tcp_listeners`, `serve_ssl_over_tcp`), ported from Trio's
//! `_tests/test_highlevel_ssl_helpers.py`, plus the configuration helpers.

mod tls_support;

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use tls_support::{TEST_HOST, TestCa, tls_error};
use trio::abc::{AsyncResource, ReceiveStream, SendStream};
use trio::net::SocketStream;
use trio::net::socket::{
    AddrInfo, AddrInfoHints, BoxFuture, HostnameResolver, Type, set_custom_hostname_resolver,
};
use trio::tls::rustls;
use trio::tls::{
    ClientConfigBuilder, ServerConfigBuilder, SslConnect, SslStream, open_ssl_over_tcp_listeners,
    open_ssl_over_tcp_stream, serve_ssl_over_tcp,
};
use trio::{ErrorKind, Result};

/// Trio's `echo_handler`: echoes until end of stream; a broken stream (a client
/// that failed the handshake) just ends the connection.
async fn echo_handler(stream: SslStream<SocketStream>) -> Result<()> {
    let mut buf = vec![0u8; 10000];
    let r: Result<()> = async {
        loop {
            let n = stream.receive_some(&mut buf).await?;
            if n == 0 {
                return Ok(());
            }
            stream.send_all(&buf[..n]).await?;
        }
    }
    .await;
    let closed = stream.aclose().await;
    match r {
        Err(e) if e.kind() == ErrorKind::BrokenResource => Ok(()),
        Err(e) => Err(e),
        Ok(()) => match closed {
            Err(e) if e.kind() == ErrorKind::BrokenResource => Ok(()),
            other => other,
        },
    }
}

/// Trio's `FakeHostnameResolver`: every name is `addr`.
#[derive(Debug)]
struct FakeHostnameResolver(SocketAddr);

impl HostnameResolver for FakeHostnameResolver {
    fn getaddrinfo<'a>(
        &'a self,
        _host: Option<&'a str>,
        _port: u16,
        _hints: AddrInfoHints,
    ) -> BoxFuture<'a, Result<Vec<AddrInfo>>> {
        Box::pin(async move {
            trio::lowlevel::checkpoint().await?;
            Ok(vec![AddrInfo::new(self.0, Type::STREAM, None)])
        })
    }
}

#[trio::test]
async fn open_ssl_over_tcp_stream_and_everything_else() -> Result<()> {
    // test_open_ssl_over_tcp_stream_and_everything_else
    let ca = TestCa::new();
    let server_cfg = ca.server_config();
    for (_, client_cfg) in ca.client_configs() {
        let server_cfg = server_cfg.clone();
        trio::open_nursery(async |n| {
            let listeners = n
                .start(async |status| {
                    serve_ssl_over_tcp(echo_handler, 0, server_cfg)
                        .host("127.0.0.1")
                        .task_status(status)
                        .await
                })
                .await?;
            assert_eq!(listeners.len(), 1);
            let listener = &listeners[0];
            let addr = listener.transport_listener().local_addr()?;
            assert!(addr.ip().is_loopback());
            assert!(!listener.is_https_compatible());
            set_custom_hostname_resolver(Some(Rc::new(FakeHostnameResolver(addr))))?;

            // We don't have the right trust set up (the default trusts the
            // public roots only).
            let stream =
                open_ssl_over_tcp_stream(TEST_HOST, 80, trio::tls::client_config()).await?;
            let e = stream.do_handshake().await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::BrokenResource);
            assert!(
                matches!(
                    tls_error(&e),
                    Some(rustls::Error::InvalidCertificate(
                        rustls::CertificateError::UnknownIssuer
                    ))
                ),
                "{e:?}"
            );
            stream.aclose().await?;

            // We have the trust but not the host name.
            let stream =
                open_ssl_over_tcp_stream("xyzzy.example.org", 80, client_cfg.clone()).await?;
            let e = stream.do_handshake().await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::BrokenResource);
            stream.aclose().await?;

            // This one works!
            let stream = open_ssl_over_tcp_stream(TEST_HOST, 80, client_cfg.clone()).await?;
            assert_eq!(stream.server_name().as_deref(), Some(TEST_HOST));
            assert!(!stream.is_https_compatible());
            stream.send_all(b"x").await?;
            let mut buf = [0u8; 1];
            assert_eq!(stream.receive_some(&mut buf).await?, 1);
            assert_eq!(&buf, b"x");
            stream.aclose().await?;

            // The options are passed through.
            let stream = SslConnect::new(TEST_HOST, 80, client_cfg.clone())
                .https_compatible(true)
                .happy_eyeballs_delay(Duration::from_secs(1))
                .connect()
                .await?;
            assert!(stream.is_https_compatible());
            stream.aclose().await?;

            set_custom_hostname_resolver(None)?;
            n.cancel_scope().cancel();
            Ok(())
        })
        .await?;
    }
    Ok(())
}

#[trio::test]
async fn open_ssl_over_tcp_listeners_wraps_each_listener() -> Result<()> {
    // test_open_ssl_over_tcp_listeners
    let ca = TestCa::new();
    let listeners = open_ssl_over_tcp_listeners(0, Some("127.0.0.1"), ca.server_config()).await?;
    assert_eq!(listeners.len(), 1);
    let listener = &listeners[0];
    assert_eq!(
        listener.transport_listener().local_addr()?.ip(),
        "127.0.0.1".parse::<std::net::IpAddr>().unwrap()
    );
    assert!(!listener.is_https_compatible());
    listener.aclose().await?;
    let listener = listeners.into_iter().next().unwrap().https_compatible(true);
    assert!(listener.is_https_compatible());
    Ok(())
}

#[trio::test]
async fn serve_ssl_over_tcp_options() -> Result<()> {
    // Rust-side: https_compatible reaches the handler's streams, handlers can live
    // in a nursery of their own, and the server stops with its scope.
    let ca = TestCa::new();
    let client_cfg = ca.client_config();
    let seen = RefCell::new(Vec::new());
    let seen_ref = &seen;
    let handler = async |s: SslStream<SocketStream>| {
        seen_ref.borrow_mut().push(s.is_https_compatible());
        s.send_all(b"hi").await?;
        s.aclose().await
    };
    let server_cfg = ca.server_config();
    trio::open_nursery(async |handlers| {
        trio::open_nursery(async |n| {
            let listeners = n
                .start(async |status| {
                    serve_ssl_over_tcp(handler, 0, server_cfg)
                        .host("127.0.0.1")
                        .backlog(8)
                        .https_compatible(true)
                        .handler_nursery(handlers)
                        .task_status(status)
                        .await
                })
                .await?;
            let port = listeners[0].transport_listener().local_addr()?.port();
            let client = SslConnect::new("127.0.0.1", port, client_cfg.clone())
                .https_compatible(true)
                .local_address("127.0.0.1".parse().unwrap())
                .connect()
                .await?;
            let mut buf = [0u8; 8];
            let got = client.receive_some(&mut buf).await?;
            assert_eq!(&buf[..got], b"hi");
            assert_eq!(client.receive_some(&mut buf).await?, 0);
            n.cancel_scope().cancel();
            Ok(())
        })
        .await
    })
    .await?;
    assert_eq!(*seen.borrow(), [true]);
    Ok(())
}

#[trio::test]
async fn ssl_connect_checks_another_name_than_it_dials() -> Result<()> {
    // Rust-side: SslConnect::server_name.
    let ca = TestCa::new();
    let leaf = ca.issue(&["only-this-name.test"]);
    let server_cfg = trio::tls::server_config(leaf.chain(), leaf.key_der())?;
    let client_cfg = ca.client_config();
    trio::open_nursery(async |n| {
        let listeners = n
            .start(async |status| {
                serve_ssl_over_tcp(echo_handler, 0, server_cfg)
                    .host("127.0.0.1")
                    .task_status(status)
                    .await
            })
            .await?;
        let port = listeners[0].transport_listener().local_addr()?.port();
        // By address: the certificate has no IP address in it.
        let s = open_ssl_over_tcp_stream("127.0.0.1", port, client_cfg.clone()).await?;
        assert_eq!(
            s.do_handshake().await.unwrap_err().kind(),
            ErrorKind::BrokenResource
        );
        s.aclose().await?;
        // By address, checking the name.
        let s = SslConnect::new("127.0.0.1", port, client_cfg.clone())
            .server_name("only-this-name.test")
            .connect()
            .await?;
        s.do_handshake().await?;
        assert_eq!(s.server_name().as_deref(), Some("only-this-name.test"));
        s.aclose().await?;
        n.cancel_scope().cancel();
        Ok(())
    })
    .await?;
    Ok(())
}

#[trio::test]
async fn bad_server_names_fail_before_connecting() -> Result<()> {
    // Nobody listens on port 1: a bad name is reported before even trying.
    let e = open_ssl_over_tcp_stream("127.0.0.1", 1, trio::tls::client_config())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io);
    let e = SslConnect::new("127.0.0.1", 1, trio::tls::client_config())
        .server_name("not a name")
        .connect()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    Ok(())
}

// ---------------------------------------------------------------------------
// Configurations
// ---------------------------------------------------------------------------

#[test]
fn default_client_config_is_secure() {
    let config = trio::tls::client_config();
    assert!(config.alpn_protocols.is_empty());
    assert!(!config.enable_early_data);
    // Verification is on: a self-signed certificate is refused (checked end to end
    // in the tests above); here, that the bundled roots are there.
    let builder = ClientConfigBuilder::new();
    assert!(format!("{builder:?}").contains("roots"));
}

#[test]
fn pem_round_trip() {
    let ca = TestCa::new();
    let leaf = ca.issue(&["pem.test"]);
    let chain_pem = format!("{}{}", leaf.cert_pem(), ca.cert_pem());
    let chain = trio::tls::pem_certificates(chain_pem.as_bytes()).unwrap();
    assert_eq!(chain, [leaf.cert.der().clone(), ca.cert_der()]);
    let key = trio::tls::pem_private_key(leaf.key_pem().as_bytes()).unwrap();
    assert_eq!(key.secret_der(), leaf.key_der().secret_der());
    trio::tls::server_config(chain, key).unwrap();

    let e = trio::tls::pem_certificates(b"-----BEGIN CERTIFICATE-----\nnot base64!\n").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert_eq!(
        trio::tls::pem_private_key(leaf.cert_pem().as_bytes())
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidInput
    );
    // A key that does not match the certificate.
    let other = ca.issue(&["other.test"]);
    let e = trio::tls::server_config(leaf.chain(), other.key_der()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
}

#[trio::test]
async fn builders_apply_their_options() -> Result<()> {
    let ca = TestCa::new();
    let server_leaf = ca.issue(&[TEST_HOST]);
    let client_leaf = ca.issue(&["client.test"]);
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.cert_der()).unwrap();
    for required in [true, false] {
        let server_cfg = ServerConfigBuilder::new(server_leaf.chain(), server_leaf.key_der())
            .protocol_versions(&[&rustls::version::TLS12])
            .client_auth(roots.clone(), required)
            .crypto_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
            .build()?;
        // With a client certificate.
        let client_cfg = ca
            .client_builder()
            .client_auth(client_leaf.chain(), client_leaf.key_der())
            .build()?;
        let (a, b) = trio::testing::memory_stream_pair();
        let client = SslStream::client(a, client_cfg, TEST_HOST)?;
        let server = SslStream::server(b, server_cfg.clone())?;
        let (c, s) = (&client, &server);
        trio::open_nursery(async |n| {
            n.start_soon(c.do_handshake())?;
            n.start_soon(s.do_handshake())?;
            Ok(())
        })
        .await?;
        assert_eq!(server.protocol_version()?, rustls::ProtocolVersion::TLSv1_2);
        assert_eq!(server.peer_certificates()?, Some(client_leaf.chain()));

        // Without one.
        let (a, b) = trio::testing::memory_stream_pair();
        let client = SslStream::client(a, ca.client_config(), TEST_HOST)?;
        let server = SslStream::server(b, server_cfg)?;
        let (c, s) = (&client, &server);
        let r = trio::open_nursery(async |n| {
            n.start_soon(c.do_handshake())?;
            n.start_soon(s.do_handshake())?;
            Ok(())
        })
        .await;
        if required {
            let e = r.unwrap_err();
            let server_error = std::iter::once(&e)
                .chain(e.errors())
                .find_map(tls_error)
                .expect("a TLS error");
            assert!(
                matches!(
                    server_error,
                    rustls::Error::NoCertificatesPresented | rustls::Error::AlertReceived(_)
                ),
                "{server_error:?}"
            );
        } else {
            r?;
            assert_eq!(server.peer_certificates()?, None);
        }
    }
    // Versions the provider cannot do, or no client roots at all.
    let empty = rustls::RootCertStore::empty();
    let e = ServerConfigBuilder::new(server_leaf.chain(), server_leaf.key_der())
        .client_auth(empty, true)
        .build()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    Ok(())
}

/// The TLS server of `serve_ssl_over_tcp` against hostile clients, each failing
/// only its own connection: one that resets, one that speaks plain HTTP to the
/// TLS port, one that sends random bytes, one that connects and says nothing
/// (cut by the default 30 s handshake timeout, in mock time), one that never
/// reads. A proper client is served afterwards, and every failure reached the
/// hook.
#[trio::test(autojump)]
async fn serve_ssl_over_tcp_survives_hostile_clients(
    clock: trio::testing::MockClock,
) -> Result<()> {
    let ca = TestCa::new();
    let client_cfg = ca.client_config();
    let server_cfg = ca.server_config();
    let errors = RefCell::new(Vec::new());
    let handler = async |s: SslStream<SocketStream>| {
        let mut buf = [0u8; 1024];
        loop {
            let n = s.receive_some(&mut buf).await?;
            if n == 0 {
                return Ok(());
            }
            s.send_all(&buf[..n]).await?;
        }
    };
    assert_eq!(
        trio::tls::DEFAULT_HANDSHAKE_TIMEOUT,
        Duration::from_secs(30)
    );
    trio::open_nursery(async |n| {
        let listeners = n
            .start(async |status| {
                serve_ssl_over_tcp(handler, 0, server_cfg)
                    .host("127.0.0.1")
                    .on_connection_error(|e| errors.borrow_mut().push(e.kind()))
                    .task_status(status)
                    .await
            })
            .await?;
        let port = listeners[0].transport_listener().local_addr()?.port();
        let served = async || -> Result<()> {
            let c = open_ssl_over_tcp_stream("127.0.0.1", port, client_cfg.clone()).await?;
            c.send_all(b"still there?").await?;
            let mut buf = [0u8; 32];
            let k = c.receive_some(&mut buf).await?;
            assert_eq!(&buf[..k], b"still there?");
            Ok(())
        };
        // Closes how the peer likes; a reset counts as closed.
        let until_closed = async |s: &SocketStream| {
            let mut buf = [0u8; 1024];
            while matches!(s.receive_some(&mut buf).await, Ok(k) if k > 0) {}
        };
        // A reset during the handshake.
        let rst = std::net::TcpStream::connect(("127.0.0.1", port))?;
        socket2::SockRef::from(&rst).set_linger(Some(Duration::ZERO))?;
        std::io::Write::write_all(&mut &rst, b"\x16\x03\x01\x00")?;
        drop(rst);
        served().await?;
        // Plain HTTP, and garbage.
        for junk in [
            &b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"[..],
            &[0x55u8; 5000][..],
        ] {
            let s = trio::net::open_tcp_stream("127.0.0.1", port).await?;
            s.send_all(junk).await?;
            until_closed(&s).await;
        }
        served().await?;
        // Silent: cut by the handshake timeout.
        let silent = trio::net::open_tcp_stream("127.0.0.1", port).await?;
        let t0 = clock.current_time();
        until_closed(&silent).await;
        assert_eq!(clock.current_time() - t0, Duration::from_secs(30));
        // Never reads: handshakes, then floods without reading the echo.
        let deaf = open_ssl_over_tcp_stream("127.0.0.1", port, client_cfg.clone()).await?;
        let deaf = &deaf;
        trio::open_nursery(async |m| {
            m.start_soon(async move {
                let chunk = vec![b'x'; 64 * 1024];
                loop {
                    deaf.send_all(&chunk).await?;
                }
            })?;
            trio::testing::wait_all_tasks_blocked().await?;
            served().await?;
            m.cancel_scope().cancel();
            Ok(())
        })
        .await?;
        n.cancel_scope().cancel();
        Ok(())
    })
    .await?;
    let errors = errors.borrow();
    assert!(errors.len() >= 4, "{errors:?}");
    assert!(errors.contains(&ErrorKind::TooSlow), "{errors:?}");
    assert!(errors.contains(&ErrorKind::BrokenResource), "{errors:?}");
    Ok(())
}
