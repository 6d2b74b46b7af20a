//! Helpers shared by the TLS tests (`mod tls_support;`): a throwaway certificate
//! authority (Python's `trustme`, which Trio's tests use), configurations that
//! trust it, and temporary PEM files for external programs.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use trio::tls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use trio::tls::rustls::{self, ClientConfig, ServerConfig};
use trio::tls::{ClientConfigBuilder, ServerConfigBuilder};

/// The name Trio's tests give their server certificate.
pub const TEST_HOST: &str = "trio-test-1.example.org";

/// A certificate authority made for one test (Trio's `trustme.CA()`).
pub struct TestCa {
    cert: rcgen::Certificate,
    issuer: Issuer<'static, KeyPair>,
}

/// A certificate issued by a [`TestCa`], with its key.
pub struct Leaf {
    pub cert: rcgen::Certificate,
    pub key: KeyPair,
}

impl Leaf {
    pub fn chain(&self) -> Vec<CertificateDer<'static>> {
        vec![self.cert.der().clone()]
    }

    pub fn key_der(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::try_from(self.key.serialize_der()).unwrap()
    }

    pub fn cert_pem(&self) -> String {
        self.cert.pem()
    }

    pub fn key_pem(&self) -> String {
        self.key.serialize_pem()
    }
}

impl Default for TestCa {
    fn default() -> Self {
        TestCa::new()
    }
}

impl TestCa {
    pub fn new() -> TestCa {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        // A name of its own: two CAs with one name would look like one CA with a
        // bad signature, not like an unknown one.
        static SERIAL: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "trio test CA {} {}",
            std::process::id(),
            SERIAL.fetch_add(1, Ordering::Relaxed)
        );
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).unwrap();
        TestCa {
            cert,
            issuer: Issuer::new(params, key),
        }
    }

    pub fn cert_der(&self) -> CertificateDer<'static> {
        self.cert.der().clone()
    }

    pub fn cert_pem(&self) -> String {
        self.cert.pem()
    }

    /// A certificate for `names` (DNS names or IP addresses), for servers and
    /// clients alike.
    pub fn issue(&self, names: &[&str]) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "trio test certificate");
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf { cert, key }
    }

    /// A server configuration presenting a certificate for [`TEST_HOST`] and the
    /// loopback addresses.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        self.server_builder().build().unwrap()
    }

    pub fn server_builder(&self) -> ServerConfigBuilder {
        let leaf = self.issue(&[TEST_HOST, "localhost", "127.0.0.1", "::1"]);
        ServerConfigBuilder::new(leaf.chain(), leaf.key_der())
    }

    /// A client configuration that trusts this CA only.
    pub fn client_config(&self) -> Arc<ClientConfig> {
        self.client_builder().build().unwrap()
    }

    pub fn client_builder(&self) -> ClientConfigBuilder {
        ClientConfigBuilder::without_roots()
            .add_root_certificate(self.cert_der())
            .unwrap()
    }

    /// Trio's `client_ctx` fixture: the same client, willing to speak TLS 1.3
    /// (and so speaking it) or limited to TLS 1.2.
    pub fn client_configs(&self) -> Vec<(&'static str, Arc<ClientConfig>)> {
        vec![
            ("tls13", self.client_config()),
            (
                "tls12",
                self.client_builder()
                    .protocol_versions(&[&rustls::version::TLS12])
                    .build()
                    .unwrap(),
            ),
        ]
    }
}

/// A directory removed when dropped, for PEM files handed to other programs.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "trio-tls-{tag}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `contents` to `name` in the directory; returns the path.
    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, contents).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The `rustls::Error` at the source of a trio error, if any.
pub fn tls_error(e: &trio::Error) -> Option<&rustls::Error> {
    std::error::Error::source(e)?.downcast_ref::<rustls::Error>()
}

/// Whether the error is a truncation: a TLS stream that ended without
/// `close_notify` (Trio's `_is_eof`).
pub fn is_eof(e: &trio::Error) -> bool {
    e.kind() == trio::ErrorKind::BrokenResource
        && std::error::Error::source(e)
            .and_then(|s| s.downcast_ref::<std::io::Error>())
            .is_some_and(|io| io.kind() == std::io::ErrorKind::UnexpectedEof)
}
