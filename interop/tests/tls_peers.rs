//! trio's TLS against independent implementations, over the loopback: OpenSSL's
//! `s_server` and `s_client`, and `curl` (OpenSSL too, with its own HTTPS logic).
//! The certificates come from a CA made for the test and written to a temporary
//! directory. The peers run as child processes whose pipes trio reads: nothing
//! sleeps, everything waits for what it needs to see.
//!
//! Each test is skipped (with a note on stderr) when its program is missing.

mod tls_support;

use std::cell::RefCell;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use tls_support::{TEST_HOST, TempDir, TestCa, tls_error};
use trio::abc::{AsyncResource, ReceiveStream, SendStream};
use trio::net::SocketStream;
use trio::process::{Process, open_process};
use trio::tls::rustls;
use trio::tls::{SslStream, serve_ssl_over_tcp};
use trio::{ErrorKind, Result};

const OPENSSL: &str = "/usr/bin/openssl";
const CURL: &str = "/usr/bin/curl";

fn have(program: &str) -> bool {
    let found = Path::new(program).exists();
    if !found {
        eprintln!("skipped: {program} is not installed");
    }
    found
}

/// The test CA and a server certificate, as PEM files.
struct Pki {
    ca: TestCa,
    dir: TempDir,
}

impl Pki {
    fn new() -> Pki {
        let ca = TestCa::new();
        let dir = TempDir::new("peers");
        let leaf = ca.issue(&[TEST_HOST, "127.0.0.1"]);
        dir.write("ca.pem", &ca.cert_pem());
        dir.write("server.pem", &leaf.cert_pem());
        dir.write("server.key", &leaf.key_pem());
        Pki { ca, dir }
    }

    fn file(&self, name: &str) -> String {
        self.dir.path().join(name).to_str().unwrap().to_owned()
    }
}

/// Reads `stream` until `pred` holds for everything read so far (or it ends).
async fn read_until<R: ReceiveStream>(stream: &R, pred: impl Fn(&[u8]) -> bool) -> Result<Vec<u8>> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !pred(&got) {
        let n = stream.receive_some(&mut buf).await?;
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    Ok(got)
}

async fn read_to_end<R: ReceiveStream>(stream: &R) -> Result<String> {
    let got = read_until(stream, |_| false).await?;
    Ok(String::from_utf8_lossy(&got).into_owned())
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Runs `body` with the child, then makes sure it is gone.
async fn with_child<T>(
    mut cmd: Command,
    body: impl AsyncFnOnce(&Process) -> Result<T>,
) -> Result<T> {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = open_process(cmd).await?;
    let r = trio::fail_after(Duration::from_secs(60), body(&child)).await;
    if child.poll().is_none() {
        let _ = child.kill();
        let _ = child.wait().await;
    }
    r
}

// ---------------------------------------------------------------------------
// openssl s_client against a trio server
// ---------------------------------------------------------------------------

/// What the trio server's handler saw.
#[derive(Debug, Default)]
struct Seen {
    sni: Option<String>,
    alpn: Option<Vec<u8>>,
    version: Option<rustls::ProtocolVersion>,
    error: Option<trio::Error>,
    /// Set when the handler has finished.
    done: std::rc::Rc<trio::sync::Event>,
}

/// Waits until the handler has finished.
async fn wait_done(seen: &RefCell<Seen>) -> Result<()> {
    let done = seen.borrow().done.clone(); // not borrowed across the wait
    trio::fail_after(Duration::from_secs(60), done.wait()).await
}

/// A handler that does the handshake, notes what was agreed, and echoes until the
/// client's `close_notify`.
async fn noting_echo(s: &SslStream<SocketStream>, seen: &RefCell<Seen>) -> Result<()> {
    let r: Result<()> = async {
        s.do_handshake().await?;
        {
            let mut seen = seen.borrow_mut();
            seen.sni = s.server_name();
            seen.alpn = s.alpn_protocol()?;
            seen.version = Some(s.protocol_version()?);
        }
        let mut buf = [0u8; 4096];
        loop {
            let n = s.receive_some(&mut buf).await?;
            if n == 0 {
                return s.aclose().await;
            }
            s.send_all(&buf[..n]).await?;
        }
    }
    .await;
    let mut seen = seen.borrow_mut();
    if let Err(e) = r {
        seen.error = Some(e);
    }
    seen.done.set();
    Ok(())
}

#[trio::test]
async fn openssl_s_client_against_trio_server() -> Result<()> {
    if !have(OPENSSL) {
        return Ok(());
    }
    let pki = Pki::new();
    let leaf = pki.ca.issue(&[TEST_HOST]);
    let server_cfg = trio::tls::ServerConfigBuilder::new(leaf.chain(), leaf.key_der())
        .alpn_protocols(["h2", "http/1.1"])
        .build()?;
    for (flag, version) in [
        ("-tls1_3", rustls::ProtocolVersion::TLSv1_3),
        ("-tls1_2", rustls::ProtocolVersion::TLSv1_2),
    ] {
        let seen = RefCell::new(Seen::default());
        let seen_ref = &seen;
        let handler = async |s: SslStream<SocketStream>| noting_echo(&s, seen_ref).await;
        let server_cfg = server_cfg.clone();
        trio::open_nursery(async |n| {
            let listeners = n
                .start(async |status| {
                    serve_ssl_over_tcp(handler, 0, server_cfg)
                        .host("127.0.0.1")
                        .task_status(status)
                        .await
                })
                .await?;
            let port = listeners[0].transport_listener().local_addr()?.port();
            let mut cmd = Command::new(OPENSSL);
            cmd.args(["s_client", "-brief", flag, "-verify_return_error"])
                .args(["-connect", &format!("127.0.0.1:{port}")])
                .args(["-servername", TEST_HOST, "-verify_hostname", TEST_HOST])
                .args(["-CAfile", &pki.file("ca.pem"), "-alpn", "http/1.1"]);
            with_child(cmd, async |child| {
                let line = b"hello from openssl s_client\n";
                child.stdin().unwrap().send_all(line).await?;
                let echoed = read_until(child.stdout().unwrap(), |got| contains(got, line)).await?;
                assert_eq!(echoed, line);
                // End of input: s_client says goodbye with close_notify, and our
                // handler's receive_some sees a clean end of stream.
                child.stdin().unwrap().aclose().await?;
                let err = read_to_end(child.stderr().unwrap()).await?;
                let status = child.wait().await?;
                assert!(status.success(), "s_client failed: {status:?}\n{err}");
                assert!(err.contains("Verification: OK"), "{err}");
                Ok(())
            })
            .await?;
            n.cancel_scope().cancel();
            Ok(())
        })
        .await?;
        let seen = seen.into_inner();
        assert!(seen.error.is_none(), "the handler failed: {:?}", seen.error);
        assert_eq!(seen.sni.as_deref(), Some(TEST_HOST));
        assert_eq!(seen.alpn.as_deref(), Some(&b"http/1.1"[..]));
        assert_eq!(seen.version, Some(version));
    }
    Ok(())
}

#[trio::test]
async fn openssl_s_client_refusing_the_trio_server() -> Result<()> {
    // s_client does not trust our CA: it aborts the handshake with an alert, which
    // the handler gets as the reason of its BrokenResource.
    if !have(OPENSSL) {
        return Ok(());
    }
    let pki = Pki::new();
    let server_cfg = pki.ca.server_config();
    let seen = RefCell::new(Seen::default());
    let seen_ref = &seen;
    let handler = async |s: SslStream<SocketStream>| noting_echo(&s, seen_ref).await;
    let empty_ca = pki.dir.write("other-ca.pem", &TestCa::new().cert_pem());
    trio::open_nursery(async |n| {
        let listeners = n
            .start(async |status| {
                serve_ssl_over_tcp(handler, 0, server_cfg)
                    .host("127.0.0.1")
                    .task_status(status)
                    .await
            })
            .await?;
        let port = listeners[0].transport_listener().local_addr()?.port();
        let mut cmd = Command::new(OPENSSL);
        cmd.args(["s_client", "-brief", "-verify_return_error"])
            .args(["-connect", &format!("127.0.0.1:{port}")])
            .args(["-servername", TEST_HOST])
            .arg("-CAfile")
            .arg(&empty_ca);
        with_child(cmd, async |child| {
            child.stdin().unwrap().aclose().await?;
            let err = read_to_end(child.stderr().unwrap()).await?;
            let status = child.wait().await?;
            assert!(!status.success(), "s_client should have refused: {err}");
            Ok(())
        })
        .await?;
        // Wait for the handler to have finished.
        wait_done(seen_ref).await?;
        n.cancel_scope().cancel();
        Ok(())
    })
    .await?;
    let e = seen.into_inner().error.expect("the handshake failed");
    assert_eq!(e.kind(), ErrorKind::BrokenResource);
    assert!(
        matches!(
            tls_error(&e),
            Some(rustls::Error::AlertReceived(
                rustls::AlertDescription::UnknownCA | rustls::AlertDescription::BadCertificate
            ))
        ),
        "{e:?}"
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// A trio client against openssl s_server
// ---------------------------------------------------------------------------

/// Starts `openssl s_server -rev` (it answers each line reversed) for one
/// connection; returns the port it reports.
async fn s_server_port(child: &Process) -> Result<u16> {
    let out = read_until(child.stdout().unwrap(), |got| {
        contains(got, b"ACCEPT") && got.ends_with(b"\n")
    })
    .await?;
    let text = String::from_utf8_lossy(&out);
    let line = text
        .lines()
        .find(|l| l.starts_with("ACCEPT"))
        .unwrap_or_else(|| panic!("no ACCEPT line in {text:?}"));
    Ok(line.rsplit(':').next().unwrap().trim().parse().unwrap())
}

fn s_server_command(pki: &Pki, extra: &[&str]) -> Command {
    let mut cmd = Command::new(OPENSSL);
    cmd.args([
        "s_server",
        "-rev",
        "-naccept",
        "1",
        "-accept",
        "127.0.0.1:0",
    ])
    .args([
        "-cert",
        &pki.file("server.pem"),
        "-key",
        &pki.file("server.key"),
    ])
    .args(extra);
    cmd
}

#[trio::test]
async fn trio_client_against_openssl_s_server() -> Result<()> {
    if !have(OPENSSL) {
        return Ok(());
    }
    let pki = Pki::new();
    for (name, client_cfg) in pki.ca.client_configs() {
        with_child(s_server_command(&pki, &[]), async |child| {
            let port = s_server_port(child).await?;
            // Connect to the address, check the certificate's name.
            let s = trio::tls::SslConnect::new("127.0.0.1", port, client_cfg.clone())
                .server_name(TEST_HOST)
                .connect()
                .await?;
            s.send_all(b"hello from trio\n").await?;
            let got = read_until(&s, |got| got.ends_with(b"\n")).await?;
            assert_eq!(got, b"oirt morf olleh\n", "{name}");
            let expected = if name == "tls13" {
                rustls::ProtocolVersion::TLSv1_3
            } else {
                rustls::ProtocolVersion::TLSv1_2
            };
            assert_eq!(s.protocol_version()?, expected);
            // Our close_notify ends s_server's only connection, and so s_server.
            s.aclose().await?;
            let out = read_to_end(child.stdout().unwrap()).await?;
            let err = read_to_end(child.stderr().unwrap()).await?;
            let status = child.wait().await?;
            assert!(
                status.success(),
                "s_server failed: {status:?}\n{out}\n{err}"
            );
            assert!(
                format!("{out}{err}").contains("CONNECTION CLOSED"),
                "{out}\n{err}"
            );
            Ok(())
        })
        .await?;
    }
    Ok(())
}

#[trio::test]
async fn trio_client_refusing_openssl_s_server() -> Result<()> {
    // Our client does not trust the server: BrokenResource, and s_server hears why.
    if !have(OPENSSL) {
        return Ok(());
    }
    let pki = Pki::new();
    let other_ca = TestCa::new();
    with_child(s_server_command(&pki, &[]), async |child| {
        let port = s_server_port(child).await?;
        let s = trio::tls::SslConnect::new("127.0.0.1", port, other_ca.client_config())
            .server_name(TEST_HOST)
            .connect()
            .await?;
        let e = s.do_handshake().await.unwrap_err();
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
        s.aclose().await?;
        let err = read_to_end(child.stderr().unwrap()).await?;
        child.wait().await?;
        assert!(
            err.contains("unknown ca"),
            "s_server did not get our alert: {err}"
        );
        Ok(())
    })
    .await
}

#[trio::test]
async fn trio_client_with_certificate_against_openssl_s_server() -> Result<()> {
    // Mutual TLS: s_server insists on a client certificate from our CA.
    if !have(OPENSSL) {
        return Ok(());
    }
    let pki = Pki::new();
    let client_leaf = pki.ca.issue(&["client.test"]);
    let client_cfg = pki
        .ca
        .client_builder()
        .client_auth(client_leaf.chain(), client_leaf.key_der())
        .build()?;
    let ca_file = pki.file("ca.pem");
    with_child(
        s_server_command(
            &pki,
            &["-Verify", "1", "-verify_return_error", "-CAfile", &ca_file],
        ),
        async |child| {
            let port = s_server_port(child).await?;
            let s = trio::tls::SslConnect::new("127.0.0.1", port, client_cfg.clone())
                .server_name(TEST_HOST)
                .connect()
                .await?;
            s.send_all(b"mutual\n").await?;
            let got = read_until(&s, |got| got.ends_with(b"\n")).await?;
            assert_eq!(got, b"lautum\n");
            s.aclose().await?;
            let status = child.wait().await?;
            assert!(status.success());
            Ok(())
        },
    )
    .await
}

// ---------------------------------------------------------------------------
// curl against a trio HTTPS server
// ---------------------------------------------------------------------------

/// A tiny HTTPS handler: reads the request head, answers "hello, curl".
async fn https_hello(s: SslStream<SocketStream>, seen: &RefCell<Seen>) -> Result<()> {
    let r: Result<()> = async {
        let head = read_until(&s, |got| contains(got, b"\r\n\r\n")).await?;
        assert!(head.starts_with(b"GET /hello HTTP/1.1\r\n"), "{head:?}");
        {
            let mut seen = seen.borrow_mut();
            seen.alpn = s.alpn_protocol()?;
            seen.version = Some(s.protocol_version()?);
        }
        let body = b"hello, curl\n";
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        s.send_all(response.as_bytes()).await?;
        s.send_all(body).await?;
        s.aclose().await
    }
    .await;
    let mut seen = seen.borrow_mut();
    if let Err(e) = r {
        seen.error = Some(e);
    }
    seen.done.set();
    Ok(())
}

#[trio::test]
async fn curl_against_trio_https_server() -> Result<()> {
    if !have(CURL) {
        return Ok(());
    }
    let pki = Pki::new();
    let leaf = pki.ca.issue(&[TEST_HOST]);
    let server_cfg = trio::tls::ServerConfigBuilder::new(leaf.chain(), leaf.key_der())
        .alpn_protocols(["http/1.1"])
        .build()?;
    for (flags, version) in [
        (&["--tlsv1.3"][..], rustls::ProtocolVersion::TLSv1_3),
        (
            &["--tlsv1.2", "--tls-max", "1.2"][..],
            rustls::ProtocolVersion::TLSv1_2,
        ),
    ] {
        let seen = RefCell::new(Seen::default());
        let seen_ref = &seen;
        let handler = async |s: SslStream<SocketStream>| https_hello(s, seen_ref).await;
        let server_cfg = server_cfg.clone();
        trio::open_nursery(async |n| {
            let listeners = n
                .start(async |status| {
                    serve_ssl_over_tcp(handler, 0, server_cfg)
                        .host("127.0.0.1")
                        .https_compatible(true)
                        .task_status(status)
                        .await
                })
                .await?;
            let port = listeners[0].transport_listener().local_addr()?.port();
            let mut cmd = Command::new(CURL);
            cmd.args(["--silent", "--show-error", "--http1.1"])
                .args(flags)
                .args(["--cacert", &pki.file("ca.pem")])
                .args(["--resolve", &format!("{TEST_HOST}:{port}:127.0.0.1")])
                .arg(format!("https://{TEST_HOST}:{port}/hello"));
            let done = trio::process::run_process(cmd)
                .capture_stdout(true)
                .capture_stderr(true)
                .check(false)
                .await?;
            assert!(
                done.status.success(),
                "curl failed: {}",
                String::from_utf8_lossy(done.stderr.as_deref().unwrap_or_default())
            );
            assert_eq!(done.stdout.as_deref(), Some(&b"hello, curl\n"[..]));
            // curl may exit before the handler's `aclose` returns: let it finish.
            wait_done(seen_ref).await?;
            n.cancel_scope().cancel();
            Ok(())
        })
        .await?;
        let seen = seen.into_inner();
        assert!(seen.error.is_none(), "the handler failed: {:?}", seen.error);
        assert_eq!(seen.alpn.as_deref(), Some(&b"http/1.1"[..]));
        assert_eq!(seen.version, Some(version));
    }
    Ok(())
}

#[trio::test]
async fn curl_refuses_an_untrusted_trio_server() -> Result<()> {
    if !have(CURL) {
        return Ok(());
    }
    let pki = Pki::new();
    let server_cfg = pki.ca.server_config();
    let seen = RefCell::new(Seen::default());
    let seen_ref = &seen;
    let handler = async |s: SslStream<SocketStream>| https_hello(s, seen_ref).await;
    trio::open_nursery(async |n| {
        let listeners = n
            .start(async |status| {
                serve_ssl_over_tcp(handler, 0, server_cfg)
                    .host("127.0.0.1")
                    .https_compatible(true)
                    .task_status(status)
                    .await
            })
            .await?;
        let port = listeners[0].transport_listener().local_addr()?.port();
        let mut cmd = Command::new(CURL);
        // curl's own trust store does not know our CA.
        cmd.args(["--silent", "--show-error", "--capath", "/nonexistent"])
            .arg("--cacert")
            .arg(pki.dir.write("other-ca.pem", &TestCa::new().cert_pem()))
            .arg(format!("https://127.0.0.1:{port}/hello"));
        let done = trio::process::run_process(cmd)
            .capture_stdout(true)
            .capture_stderr(true)
            .check(false)
            .await?;
        assert!(!done.status.success());
        // 60: peer certificate cannot be authenticated with given CA certificates.
        assert_eq!(
            done.status.code(),
            Some(60),
            "{}",
            String::from_utf8_lossy(done.stderr.as_deref().unwrap_or_default())
        );
        wait_done(seen_ref).await?;
        n.cancel_scope().cancel();
        Ok(())
    })
    .await?;
    let e = seen.into_inner().error.expect("the handshake failed");
    assert_eq!(e.kind(), ErrorKind::BrokenResource, "{e:?}");
    Ok(())
}
