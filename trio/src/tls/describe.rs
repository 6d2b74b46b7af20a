//! rustls errors as sentences.
//!
//! rustls's own `Display` is written for its developers: a certificate refused
//! by webpki reads `invalid peer certificate: Other(OtherError(CaUsedAsEndEntity))`,
//! an alert from the peer `received fatal alert: UnknownCA`. A user needs to know
//! whose certificate is wrong, and how. [`describe`] says that in a sentence,
//! and ends with rustls's name for the case in parentheses, so the sentence can
//! still be searched for; anything it has no sentence for keeps rustls's text.
//! The `rustls::Error` itself stays the error's
//! [`source`](std::error::Error::source), for code that matches on it.
//!
//! webpki's reasons arrive type-erased (`CertificateError::Other` holds an
//! `Arc<dyn Error>`); they are told apart by their `Debug` name, which is their
//! variant name, rather than by depending on webpki to downcast.

use rustls::{AlertDescription, CertificateError, Error};

/// What `e` means, as a sentence about `peer` ("server" or "client": the other
/// side of the connection).
pub(crate) fn describe(e: &Error, peer: &str) -> String {
    match e {
        Error::InvalidCertificate(c) => {
            let (what, name) = certificate(c, peer);
            format!("the {peer}'s certificate {what} ({name})")
        }
        Error::AlertReceived(alert) => match refused(alert) {
            Some(why) => format!("the {peer} refused the connection: {why} (alert {alert:?})"),
            None => format!("the {peer} ended the connection with the alert {alert:?}"),
        },
        Error::NoCertificatesPresented => format!("the {peer} sent no certificate"),
        Error::NoApplicationProtocol => format!(
            "the {peer} supports none of the ALPN protocols offered (NoApplicationProtocol)"
        ),
        other => other.to_string(),
    }
}

/// What is wrong with the peer's certificate, and rustls's (or webpki's) name
/// for it.
fn certificate(c: &CertificateError, peer: &str) -> (String, String) {
    use CertificateError as C;
    let name = format!("{c:?}");
    let name = name
        .split([' ', '(', '{'])
        .next()
        .unwrap_or_default()
        .to_owned();
    let what = match c {
        C::BadEncoding => "is malformed".to_owned(),
        C::Expired | C::ExpiredContext { .. } => "has expired".to_owned(),
        C::NotValidYet | C::NotValidYetContext { .. } => "is not valid yet".to_owned(),
        C::Revoked => "has been revoked".to_owned(),
        C::UnhandledCriticalExtension => {
            "has a critical extension this verifier does not understand".to_owned()
        }
        C::UnknownIssuer => "was not issued by a trusted certificate authority; \
                             is its CA among the root certificates?"
            .to_owned(),
        C::UnknownRevocationStatus => "has no known revocation status".to_owned(),
        C::ExpiredRevocationList | C::ExpiredRevocationListContext { .. } => {
            "cannot be checked: the certificate revocation list has expired".to_owned()
        }
        C::BadSignature => "has an invalid signature".to_owned(),
        C::UnsupportedSignatureAlgorithmContext { .. }
        | C::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => {
            "is signed with an algorithm this configuration does not support".to_owned()
        }
        C::NotValidForName => "is not valid for the name connected to".to_owned(),
        C::NotValidForNameContext {
            expected,
            presented,
        } => match presented.as_slice() {
            [] => format!("is not valid for {:?}: it names no host", expected.to_str()),
            names => {
                let names: Vec<&str> = names.iter().map(|n| presented_name(n)).collect();
                format!(
                    "is not valid for {:?}: it is for {}",
                    expected.to_str(),
                    names.join(", ")
                )
            }
        },
        C::InvalidPurpose | C::InvalidPurposeContext { .. } => {
            format!("is not meant for a {peer} (its extended key usage does not allow it)")
        }
        C::ApplicationVerificationFailure => {
            "was refused by the application's certificate verifier".to_owned()
        }
        C::Other(other) => {
            let reason = format!("{:?}", other.0);
            let what = match reason.as_str() {
                "CaUsedAsEndEntity" => format!("is a CA certificate, not one for a {peer}"),
                "EndEntityUsedAsCa" => {
                    "was issued by a certificate that is not a CA certificate".to_owned()
                }
                "CertDistrusted" => "is distrusted".to_owned(),
                "PathLenConstraintViolated" => {
                    "has a longer chain than its issuer allows".to_owned()
                }
                "NameConstraintViolation" => {
                    "names a host its certificate authority may not vouch for".to_owned()
                }
                "MaximumPathDepthExceeded" => "has too long a certificate chain".to_owned(),
                "UnsupportedCertVersion" => "is not an X.509 version 3 certificate".to_owned(),
                "UnsupportedCriticalExtension" => {
                    "has a critical extension this verifier does not understand".to_owned()
                }
                "MalformedExtensions"
                | "ExtensionValueInvalid"
                | "MalformedDnsIdentifier"
                | "MalformedNameConstraint"
                | "EmptyEkuExtension" => "has malformed extensions".to_owned(),
                _ => "was refused".to_owned(),
            };
            return (what, reason);
        }
        _ => format!("was refused: {c}"),
    };
    (what, name)
}

/// A name as webpki reports the certificate's names: `DnsName("a.test")` is
/// `a.test`, `IpAddress(127.0.0.1)` is `127.0.0.1`.
fn presented_name(name: &str) -> &str {
    let inner = |prefix: &str| {
        name.strip_prefix(prefix)
            .and_then(|n| n.strip_suffix(')'))
            .map(|n| n.trim_matches('"'))
    };
    inner("DnsName(")
        .or_else(|| inner("IpAddress("))
        .unwrap_or(name)
}

/// Why a peer refused us, for the alerts that say.
fn refused(alert: &AlertDescription) -> Option<&'static str> {
    use AlertDescription as A;
    Some(match alert {
        A::BadCertificate | A::UnsupportedCertificate | A::CertificateUnknown => {
            "it did not accept our certificate"
        }
        A::UnknownCA => "it does not trust the authority that issued our certificate",
        A::CertificateExpired => "it says our certificate has expired",
        A::CertificateRevoked => "it says our certificate was revoked",
        A::CertificateRequired => "it requires a certificate from us, and we sent none",
        A::HandshakeFailure => "we share no TLS parameters (cipher suites, key exchange groups)",
        A::ProtocolVersion => "it supports none of the TLS versions offered",
        A::InsufficientSecurity => "it wants stronger cipher suites than offered",
        A::NoApplicationProtocol => "it supports none of the ALPN protocols offered",
        A::UnrecognisedName => "it does not serve the name we asked for (SNI)",
        A::AccessDenied => "it denied access",
        A::DecryptError => "it could not verify our part of the handshake",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[derive(Debug)]
    struct CaUsedAsEndEntity;

    impl std::fmt::Display for CaUsedAsEndEntity {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{self:?}")
        }
    }

    impl std::error::Error for CaUsedAsEndEntity {}

    #[test]
    fn certificate_errors_read_as_sentences() {
        let webpki = Error::InvalidCertificate(CertificateError::Other(rustls::OtherError(
            Arc::new(CaUsedAsEndEntity),
        )));
        assert_eq!(
            describe(&webpki, "server"),
            "the server's certificate is a CA certificate, not one for a server (CaUsedAsEndEntity)"
        );
        let unknown = Error::InvalidCertificate(CertificateError::UnknownIssuer);
        assert_eq!(
            describe(&unknown, "client"),
            "the client's certificate was not issued by a trusted certificate authority; \
             is its CA among the root certificates? (UnknownIssuer)"
        );
        let name = Error::InvalidCertificate(CertificateError::NotValidForNameContext {
            expected: rustls::pki_types::ServerName::try_from("example.org").unwrap(),
            presented: vec!["DnsName(\"other.test\")".into()],
        });
        assert_eq!(
            describe(&name, "server"),
            "the server's certificate is not valid for \"example.org\": it is for \
             other.test (NotValidForNameContext)"
        );
        let alert = Error::AlertReceived(AlertDescription::UnknownCA);
        assert_eq!(
            describe(&alert, "server"),
            "the server refused the connection: it does not trust the authority that \
             issued our certificate (alert UnknownCA)"
        );
        // No sentence: rustls's own text.
        assert_eq!(
            describe(&Error::DecryptError, "server"),
            "cannot decrypt peer's message"
        );
    }
}
