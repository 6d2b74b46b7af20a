//! TLS errors read as sentences that say whose certificate is wrong and how,
//! not as rustls's `Debug` (`Other(OtherError(CaUsedAsEndEntity))`); the
//! `rustls::Error` stays the source.

mod tls_support;

use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use trio::abc::AsyncResource;
use trio::testing::memory_stream_pair;
use trio::tls::rustls::{self, CertificateError, ClientConfig, ServerConfig};
use trio::tls::{ClientConfigBuilder, SslStream, server_config};
use trio::{ErrorKind, open_nursery};

use std::sync::Arc;
use tls_support::{TEST_HOST, TestCa, tls_error};

/// Handshakes a client for `name` against a server; returns both errors (or
/// `None` for a side that succeeded).
async fn handshake(
    client: &Arc<ClientConfig>,
    server: &Arc<ServerConfig>,
    name: &str,
) -> trio::Result<(Option<trio::Error>, Option<trio::Error>)> {
    let (a, b) = memory_stream_pair();
    let client = SslStream::client(a, client.clone(), name)?;
    let server = SslStream::server(b, server.clone())?;
    let (mut client_err, mut server_err) = (None, None);
    let (c, s) = (&mut client_err, &mut server_err);
    let (client, server) = (&client, &server);
    open_nursery(async |n| {
        n.start_soon(async move {
            *s = server.do_handshake().await.err();
            server.aclose().await.ok();
            Ok(())
        })?;
        *c = client.do_handshake().await.err();
        client.aclose().await.ok();
        Ok(())
    })
    .await?;
    Ok((client_err, server_err))
}

#[trio::test]
async fn a_ca_certificate_as_a_server_certificate_reads_as_a_sentence() -> trio::Result<()> {
    // A self-signed CA certificate, trusted as a root, presented by the server.
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec![TEST_HOST.to_owned()]).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let cert = params.self_signed(&key).unwrap();
    let server = server_config(
        vec![cert.der().clone()],
        key.serialize_der().try_into().unwrap(),
    )?;
    let client = ClientConfigBuilder::without_roots()
        .add_root_certificate(cert.der().clone())?
        .build()?;

    let (client_err, server_err) = handshake(&client, &server, TEST_HOST).await?;
    let e = client_err.expect("the client refuses the certificate");
    assert_eq!(e.kind(), ErrorKind::BrokenResource);
    let text = e.to_string();
    assert!(
        text.contains(
            "the server's certificate is a CA certificate, not one for a server \
             (CaUsedAsEndEntity)"
        ),
        "{text}"
    );
    assert!(!text.contains("OtherError"), "{text}");
    // The rustls error is still there to match on.
    assert!(
        matches!(
            tls_error(&e),
            Some(rustls::Error::InvalidCertificate(CertificateError::Other(
                _
            )))
        ),
        "{e:?}"
    );
    // The server hears why from the client's alert.
    let e = server_err.expect("the server's handshake fails too");
    assert!(
        e.to_string()
            .contains("the client refused the connection: it did not accept our certificate"),
        "{e}"
    );
    Ok(())
}

#[trio::test]
async fn an_unknown_issuer_and_a_wrong_name_say_so() -> trio::Result<()> {
    let ca = TestCa::new();
    let server = ca.server_config();

    // A client that trusts another CA.
    let stranger = TestCa::new().client_config();
    let (client_err, server_err) = handshake(&stranger, &server, TEST_HOST).await?;
    let text = client_err.expect("unknown issuer").to_string();
    assert!(
        text.contains("the server's certificate was not issued by a trusted certificate authority"),
        "{text}"
    );
    assert!(text.contains("(UnknownIssuer)"), "{text}");
    let text = server_err.expect("the server hears of it").to_string();
    assert!(
        text.contains("the client refused the connection: it does not trust"),
        "{text}"
    );

    // The right CA, the wrong name.
    let (client_err, _) = handshake(&ca.client_config(), &server, "other.example.org").await?;
    let text = client_err.expect("wrong name").to_string();
    assert!(
        text.contains("the server's certificate is not valid for \"other.example.org\": it is for"),
        "{text}"
    );
    assert!(text.contains(TEST_HOST), "{text}");
    Ok(())
}
