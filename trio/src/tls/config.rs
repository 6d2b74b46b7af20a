//! Configurations with secure defaults: [`client_config`], [`ClientConfigBuilder`],
//! [`server_config`], [`ServerConfigBuilder`], and PEM loading
//! ([`pem_certificates`], [`pem_private_key`]).
//!
//! Trio takes a `ssl.SSLContext` and suggests `ssl.create_default_context()`;
//! here the context is a rustls [`ClientConfig`] or [`ServerConfig`], and these
//! are the short ways to make the usual ones. Anything else: build the rustls
//! config yourself and pass the `Arc` — trio takes any.
//!
//! The defaults: TLS 1.2 and 1.3 with rustls's safe cipher suites; clients verify
//! the server's certificate chain and name against the root certificates bundled
//! in `webpki-roots` (Mozilla's list), plus the operating system's store with the
//! `tls-native-roots` feature; the crypto provider installed as the process
//! default, or else *ring*.

use std::fmt;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig, SupportedProtocolVersion};

use crate::{Error, ErrorKind, Result};

/// rustls refused an argument: `message`, then rustls's reason (which stays
/// the source).
fn invalid_input(message: &str, source: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::build(
        ErrorKind::InvalidInput,
        Some(format!("{message}: {source}").into()),
        Some(Box::new(source)),
    )
}

/// The process-default crypto provider if one was installed, else *ring*.
fn default_provider() -> Arc<CryptoProvider> {
    CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()))
}

/// Mozilla's root certificates (from `webpki-roots`), plus the system's with the
/// `tls-native-roots` feature.
fn default_roots() -> RootCertStore {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    #[cfg(feature = "tls-native-roots")]
    {
        // Certificates the system has but rustls cannot parse are skipped, as are
        // stores that cannot be read: the bundled roots are still there.
        let found = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(found.certs);
    }
    roots
}

/// A client configuration with secure defaults (Trio's
/// `ssl.create_default_context()`): certificates and host names are verified
/// against Mozilla's root certificates (and the system's, with the
/// `tls-native-roots` feature); TLS 1.2 and 1.3; no ALPN; no client certificate.
/// For anything else, see [`ClientConfigBuilder`].
///
/// A new configuration each call: make it once and share the `Arc` (rustls
/// keeps its session cache there, for resumption; and with `tls-native-roots`,
/// each call reads the system's certificate store, blocking).
///
/// # Panics
///
/// If the process-default crypto provider cannot do TLS 1.2 or 1.3 at all.
///
/// # Examples
///
/// ```no_run
/// use trio::abc::{ReceiveStream, SendStream};
/// # trio::run(async {
/// let config = trio::tls::client_config();
/// let s = trio::tls::open_ssl_over_tcp_stream("example.com", 443, config).await?;
/// s.send_all(b"GET / HTTP/1.0\r\nHost: example.com\r\n\r\n").await?;
/// let mut buf = [0u8; 4096];
/// let n = s.receive_some(&mut buf).await?;
/// assert!(buf[..n].starts_with(b"HTTP/1."));
/// # Ok::<_, trio::Error>(()) }).unwrap();
/// ```
pub fn client_config() -> Arc<ClientConfig> {
    ClientConfigBuilder::new()
        .build()
        .expect("the default TLS client configuration is valid")
}

/// Builds a rustls [`ClientConfig`] from secure defaults (those of
/// [`client_config`]): add root certificates (say, your test CA), ALPN protocols,
/// a client certificate.
///
/// # Examples
///
/// ```
/// use trio::tls::ClientConfigBuilder;
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let ca = trio::tls::pem_certificates(include_bytes!("testdata/localhost.crt"))?.remove(0);
/// let config = ClientConfigBuilder::new()      // Mozilla's roots...
///     .add_root_certificate(ca.clone())? // ...and ours
///     .alpn_protocols(["h2", "http/1.1"])
///     .build()?;
/// assert_eq!(config.alpn_protocols, [b"h2".to_vec(), b"http/1.1".to_vec()]);
/// # Ok(()) }
/// ```
pub struct ClientConfigBuilder {
    roots: RootCertStore,
    alpn: Vec<Vec<u8>>,
    versions: Option<Vec<&'static SupportedProtocolVersion>>,
    client_auth: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    provider: Option<Arc<CryptoProvider>>,
}

impl fmt::Debug for ClientConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfigBuilder")
            .field("roots", &self.roots.len())
            .field("alpn", &self.alpn)
            .field("versions", &self.versions)
            .field("client_auth", &self.client_auth.is_some())
            .finish_non_exhaustive()
    }
}

impl Default for ClientConfigBuilder {
    fn default() -> Self {
        ClientConfigBuilder::new()
    }
}

impl ClientConfigBuilder {
    /// Starts from the defaults of [`client_config`], trusting Mozilla's root
    /// certificates (and the system's, with the `tls-native-roots` feature).
    ///
    /// # Examples
    ///
    /// See [`ClientConfigBuilder`].
    pub fn new() -> ClientConfigBuilder {
        ClientConfigBuilder {
            roots: default_roots(),
            ..ClientConfigBuilder::without_roots()
        }
    }

    /// Starts from the defaults of [`client_config`] but trusting no root
    /// certificate: add your own with
    /// [`add_root_certificate`](Self::add_root_certificate). For private PKIs and
    /// tests.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::tls::ClientConfigBuilder;
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let key = trio::tls::pem_private_key(include_bytes!("testdata/localhost.key"))?;
    /// let cert = trio::tls::pem_certificates(include_bytes!("testdata/localhost.crt"))?.remove(0);
    /// let config = ClientConfigBuilder::without_roots().add_root_certificate(cert.clone())?.build()?;
    /// # let _ = config;
    /// # Ok(()) }
    /// ```
    pub fn without_roots() -> ClientConfigBuilder {
        ClientConfigBuilder {
            roots: RootCertStore::empty(),
            alpn: Vec::new(),
            versions: None,
            client_auth: None,
            provider: None,
        }
    }

    /// Trusts `cert` as a root certificate (a CA's, or a self-signed server's).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`] if it is not a certificate rustls can use as a root.
    ///
    /// # Examples
    ///
    /// ```
    /// use rustls::pki_types::CertificateDer;
    /// use trio::tls::ClientConfigBuilder;
    /// let garbage = CertificateDer::from(vec![1, 2, 3]);
    /// let err = ClientConfigBuilder::new().add_root_certificate(garbage).unwrap_err();
    /// assert_eq!(err.kind(), trio::ErrorKind::InvalidInput);
    /// ```
    pub fn add_root_certificate(mut self, cert: CertificateDer<'_>) -> Result<ClientConfigBuilder> {
        self.roots
            .add(cert)
            .map_err(|e| invalid_input("not a usable root certificate", e))?;
        Ok(self)
    }

    /// Trusts every certificate in `pem` (the contents of a PEM file, say
    /// `ca.pem`) as a root certificate.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`] if `pem` holds no certificate, or one that is
    /// malformed or unusable as a root.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::tls::ClientConfigBuilder;
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let pem = include_bytes!("testdata/localhost.crt"); // say, std::fs::read("ca.pem")?
    /// let config = ClientConfigBuilder::without_roots().add_root_certificates_pem(pem)?.build()?;
    /// # let _ = config;
    /// assert!(ClientConfigBuilder::without_roots().add_root_certificates_pem(b"nothing").is_err());
    /// # Ok(()) }
    /// ```
    pub fn add_root_certificates_pem(self, pem: &[u8]) -> Result<ClientConfigBuilder> {
        pem_certificates(pem)?
            .into_iter()
            .try_fold(self, |b, cert| b.add_root_certificate(cert))
    }

    /// The protocols to offer with ALPN, most preferred first (for example
    /// `["h2", "http/1.1"]`). See [`SslStream::alpn_protocol`](super::SslStream::alpn_protocol)
    /// for the one agreed.
    ///
    /// # Examples
    ///
    /// See [`ClientConfigBuilder`].
    pub fn alpn_protocols<I, P>(mut self, protocols: I) -> ClientConfigBuilder
    where
        I: IntoIterator<Item = P>,
        P: Into<Vec<u8>>,
    {
        self.alpn = protocols.into_iter().map(Into::into).collect();
        self
    }

    /// The TLS versions to allow (default: TLS 1.2 and 1.3), for example
    /// `&[&rustls::version::TLS13]`.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::tls::ClientConfigBuilder;
    /// let config = ClientConfigBuilder::new()
    ///     .protocol_versions(&[&rustls::version::TLS13])
    ///     .build()?;
    /// # let _ = config;
    /// # Ok::<_, trio::Error>(())
    /// ```
    pub fn protocol_versions(
        mut self,
        versions: &[&'static SupportedProtocolVersion],
    ) -> ClientConfigBuilder {
        self.versions = Some(versions.to_vec());
        self
    }

    /// A certificate chain (end-entity first) and its private key, for servers
    /// that ask for client certificates.
    ///
    /// # Examples
    ///
    /// See [`ServerConfigBuilder::client_auth`].
    pub fn client_auth(
        mut self,
        cert_chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> ClientConfigBuilder {
        self.client_auth = Some((cert_chain, key));
        self
    }

    /// The crypto provider (default: the process default if installed, else
    /// *ring*).
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::tls::ClientConfigBuilder;
    /// let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    /// let config = ClientConfigBuilder::new().crypto_provider(provider).build()?;
    /// # let _ = config;
    /// # Ok::<_, trio::Error>(())
    /// ```
    pub fn crypto_provider(mut self, provider: Arc<CryptoProvider>) -> ClientConfigBuilder {
        self.provider = Some(provider);
        self
    }

    /// Makes the configuration.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`] if the provider supports none of the versions, or the
    /// client key does not fit its certificate or is not supported.
    ///
    /// # Examples
    ///
    /// See [`ClientConfigBuilder`].
    pub fn build(self) -> Result<Arc<ClientConfig>> {
        let provider = self.provider.unwrap_or_else(default_provider);
        let builder = ClientConfig::builder_with_provider(provider);
        let builder = match &self.versions {
            Some(v) => builder.with_protocol_versions(v),
            None => builder.with_safe_default_protocol_versions(),
        }
        .map_err(|e| invalid_input("unusable TLS protocol versions", e))?
        .with_root_certificates(self.roots);
        let mut config = match self.client_auth {
            Some((chain, key)) => builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| invalid_input("unusable client certificate or key", e))?,
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = self.alpn;
        Ok(Arc::new(config))
    }
}

/// A server configuration with secure defaults: presents `cert_chain`
/// (end-entity certificate first, then intermediates) with its private `key`;
/// TLS 1.2 and 1.3; no client certificates; no ALPN. For anything else, see
/// [`ServerConfigBuilder`].
///
/// # Errors
///
/// [`ErrorKind::InvalidInput`] if the key does not match the certificate or is not
/// supported.
///
/// # Examples
///
/// ```
/// use trio::tls::{pem_certificates, pem_private_key, server_config};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let cert_pem = include_bytes!("testdata/localhost.crt"); // say, std::fs::read("cert.pem")?
/// let key_pem = include_bytes!("testdata/localhost.key"); // say, std::fs::read("key.pem")?
/// let config = server_config(pem_certificates(cert_pem)?, pem_private_key(key_pem)?)?;
/// # let _ = config;
/// # Ok(()) }
/// ```
pub fn server_config(
    cert_chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>> {
    ServerConfigBuilder::new(cert_chain, key).build()
}

/// Builds a rustls [`ServerConfig`] from secure defaults (those of
/// [`server_config`]): ALPN protocols, client certificates.
///
/// # Examples
///
/// ```
/// use trio::tls::ServerConfigBuilder;
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let key = trio::tls::pem_private_key(include_bytes!("testdata/localhost.key"))?;
/// let cert = trio::tls::pem_certificates(include_bytes!("testdata/localhost.crt"))?.remove(0);
/// let config = ServerConfigBuilder::new(vec![cert.clone()], key.clone_key())
///     .alpn_protocols(["h2", "http/1.1"])
///     .build()?;
/// assert_eq!(config.alpn_protocols.len(), 2);
/// # Ok(()) }
/// ```
pub struct ServerConfigBuilder {
    cert_chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    alpn: Vec<Vec<u8>>,
    versions: Option<Vec<&'static SupportedProtocolVersion>>,
    client_roots: Option<(RootCertStore, bool)>,
    provider: Option<Arc<CryptoProvider>>,
}

impl fmt::Debug for ServerConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConfigBuilder")
            .field("cert_chain", &self.cert_chain.len())
            .field("alpn", &self.alpn)
            .field("versions", &self.versions)
            .field(
                "client_auth",
                &self.client_roots.as_ref().map(|(_, required)| required),
            )
            .finish_non_exhaustive()
    }
}

impl ServerConfigBuilder {
    /// Starts from the defaults of [`server_config`], presenting `cert_chain` with
    /// `key`.
    ///
    /// # Examples
    ///
    /// See [`ServerConfigBuilder`].
    pub fn new(
        cert_chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> ServerConfigBuilder {
        ServerConfigBuilder {
            cert_chain,
            key,
            alpn: Vec::new(),
            versions: None,
            client_roots: None,
            provider: None,
        }
    }

    /// The protocols to accept with ALPN, most preferred first (see
    /// [`ClientConfigBuilder::alpn_protocols`]). A client offering only others is
    /// refused.
    ///
    /// # Examples
    ///
    /// See [`ServerConfigBuilder`].
    pub fn alpn_protocols<I, P>(mut self, protocols: I) -> ServerConfigBuilder
    where
        I: IntoIterator<Item = P>,
        P: Into<Vec<u8>>,
    {
        self.alpn = protocols.into_iter().map(Into::into).collect();
        self
    }

    /// The TLS versions to allow (default: TLS 1.2 and 1.3).
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::tls::ServerConfigBuilder;
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let key = trio::tls::pem_private_key(include_bytes!("testdata/localhost.key"))?;
    /// # let cert = trio::tls::pem_certificates(include_bytes!("testdata/localhost.crt"))?.remove(0);
    /// let config = ServerConfigBuilder::new(vec![cert.clone()], key.clone_key())
    ///     .protocol_versions(&[&rustls::version::TLS12])
    ///     .build()?;
    /// # let _ = config;
    /// # Ok(()) }
    /// ```
    pub fn protocol_versions(
        mut self,
        versions: &[&'static SupportedProtocolVersion],
    ) -> ServerConfigBuilder {
        self.versions = Some(versions.to_vec());
        self
    }

    /// Asks clients for a certificate, verified against `roots`: `required`
    /// refuses clients without one; otherwise they are let in unauthenticated
    /// (see [`SslStream::peer_certificates`](super::SslStream::peer_certificates)).
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::tls::{ClientConfigBuilder, ServerConfigBuilder, SslStream};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// // (One certificate plays both parts here: it is valid for servers and clients.)
    /// let server_key = trio::tls::pem_private_key(include_bytes!("testdata/localhost.key"))?;
    /// let server_cert = trio::tls::pem_certificates(include_bytes!("testdata/localhost.crt"))?.remove(0);
    /// let client_key = server_key.clone_key();
    /// let client_cert = server_cert.clone();
    ///
    /// let mut client_roots = rustls::RootCertStore::empty();
    /// client_roots.add(client_cert.clone())?;
    /// let server_cfg = ServerConfigBuilder::new(vec![server_cert.clone()], server_key.clone_key())
    ///     .client_auth(client_roots, true)
    ///     .build()?;
    /// let client_cfg = ClientConfigBuilder::without_roots()
    ///     .add_root_certificate(server_cert.clone())?
    ///     .client_auth(vec![client_cert.clone()], client_key.clone_key())
    ///     .build()?;
    ///
    /// trio::run(async {
    ///     let (a, b) = trio::testing::memory_stream_pair();
    ///     let client = SslStream::client(a, client_cfg, "example.test")?;
    ///     let server = SslStream::server(b, server_cfg)?;
    ///     let (c, s) = (&client, &server);
    ///     trio::open_nursery(async |n| {
    ///         n.start_soon(c.do_handshake())?;
    ///         n.start_soon(s.do_handshake())?;
    ///         Ok(())
    ///     })
    ///     .await?;
    ///     assert_eq!(server.peer_certificates()?.unwrap()[0], client_cert);
    ///     Ok::<_, trio::Error>(())
    /// })?;
    /// # Ok(()) }
    /// ```
    pub fn client_auth(mut self, roots: RootCertStore, required: bool) -> ServerConfigBuilder {
        self.client_roots = Some((roots, required));
        self
    }

    /// The crypto provider (default: the process default if installed, else
    /// *ring*).
    ///
    /// # Examples
    ///
    /// See [`ClientConfigBuilder::crypto_provider`].
    pub fn crypto_provider(mut self, provider: Arc<CryptoProvider>) -> ServerConfigBuilder {
        self.provider = Some(provider);
        self
    }

    /// Makes the configuration.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`] if the key does not match the certificate or is not
    /// supported, the provider supports none of the versions, or the client
    /// roots are empty.
    ///
    /// # Examples
    ///
    /// See [`ServerConfigBuilder`].
    pub fn build(self) -> Result<Arc<ServerConfig>> {
        let provider = self.provider.unwrap_or_else(default_provider);
        let builder = ServerConfig::builder_with_provider(provider.clone());
        let builder = match &self.versions {
            Some(v) => builder.with_protocol_versions(v),
            None => builder.with_safe_default_protocol_versions(),
        }
        .map_err(|e| invalid_input("unusable TLS protocol versions", e))?;
        let builder = match self.client_roots {
            Some((roots, required)) => {
                let verifier = WebPkiClientVerifier::builder_with_provider(roots.into(), provider);
                let verifier = if required {
                    verifier
                } else {
                    verifier.allow_unauthenticated()
                };
                let verifier = verifier
                    .build()
                    .map_err(|e| invalid_input("unusable client certificate roots", e))?;
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let mut config = builder
            .with_single_cert(self.cert_chain, self.key)
            .map_err(|e| invalid_input("unusable server certificate or key", e))?;
        config.alpn_protocols = self.alpn;
        Ok(Arc::new(config))
    }
}

/// Every certificate in `pem` (the contents of a PEM file), in order: for a
/// server's chain, the end-entity certificate first.
///
/// # Errors
///
/// [`ErrorKind::InvalidInput`] if `pem` is malformed or holds no certificate.
///
/// # Examples
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let pem = include_bytes!("testdata/localhost.crt"); // say, std::fs::read("cert.pem")?
/// let certs = trio::tls::pem_certificates(pem)?;
/// assert_eq!(certs.len(), 1);
/// assert!(trio::tls::pem_certificates(b"").is_err());
/// # Ok(()) }
/// ```
pub fn pem_certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| invalid_input("malformed PEM certificates", e))?;
    if certs.is_empty() {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            "no certificate found in the PEM data",
        ));
    }
    Ok(certs)
}

/// The first private key in `pem` (PKCS #8, PKCS #1 or SEC 1).
///
/// # Errors
///
/// [`ErrorKind::InvalidInput`] if `pem` is malformed or holds no private key.
///
/// # Examples
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let pem = include_bytes!("testdata/localhost.key"); // say, std::fs::read("key.pem")?
/// let key = trio::tls::pem_private_key(pem)?;
/// assert!(matches!(key, trio::tls::rustls::pki_types::PrivateKeyDer::Pkcs8(_)));
/// assert!(trio::tls::pem_private_key(b"").is_err());
/// # Ok(()) }
/// ```
pub fn pem_private_key(pem: &[u8]) -> Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| invalid_input("no usable PEM private key", e))
}
