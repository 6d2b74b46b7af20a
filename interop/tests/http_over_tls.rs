//! hyper over trio's TLS: `trio::http`'s `StreamIo` carries HTTP/1.1 and HTTP/2
//! over `trio::tls::SslStream`, server and client, with ALPN choosing the
//! protocol — the two optional features composed.

mod tls_support;

use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Bytes, Incoming};
use hyper::client::conn::{http1, http2};
use hyper::{Request, Response};
use tls_support::TestCa;
use trio::http::{Http, StreamIo, TrioExecutor, TrioTimer, service_fn};
use trio::net::SocketStream;
use trio::tls::{SslConnect, SslStream, serve_ssl_over_tcp};

async fn fetch_over_tls(ca: &TestCa, port: u16, alpn: &str) -> trio::Result<(String, String)> {
    let config = ca.client_builder().alpn_protocols([alpn]).build()?;
    let tls = SslConnect::new("127.0.0.1", port, config).connect().await?;
    tls.do_handshake().await?;
    let negotiated = String::from_utf8(tls.alpn_protocol()?.unwrap_or_default()).unwrap();
    let req = Request::get("/hello")
        .header("host", "127.0.0.1")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let body = trio::open_nursery(async |n| {
        let io = StreamIo::new(tls);
        let resp = if alpn == "h2" {
            let mut b = http2::Builder::new(TrioExecutor::new(n));
            b.timer(TrioTimer);
            let (mut sender, conn) = b.handshake(io).await.map_err(trio::Error::from)?;
            n.start_soon(async move { conn.await.map_err(trio::Error::from) })?;
            sender.send_request(req).await.map_err(trio::Error::from)?
        } else {
            let (mut sender, conn) = http1::handshake(io).await.map_err(trio::Error::from)?;
            n.start_soon(async move { conn.await.map_err(trio::Error::from) })?;
            sender.send_request(req).await.map_err(trio::Error::from)?
        };
        let version = format!("{:?}", resp.version());
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(trio::Error::from)?
            .to_bytes();
        n.cancel_scope().cancel(); // done with the connection
        Ok((version, String::from_utf8(bytes.to_vec()).unwrap()))
    })
    .await?
    .expect("the body returned");
    assert_eq!(negotiated, alpn);
    Ok(body)
}

#[trio::test]
async fn https_with_http1_and_http2_over_trio_tls() -> trio::Result<()> {
    let ca = TestCa::new();
    let server_config = ca
        .server_builder()
        .alpn_protocols(["h2", "http/1.1"])
        .build()?;
    let svc = service_fn(async |req: Request<Incoming>| {
        let body = format!("{:?} {}", req.version(), req.uri().path());
        Ok::<_, trio::Error>(Response::new(Full::new(Bytes::from(body))))
    });
    let svc = &svc;
    let handler = async |stream: SslStream<SocketStream>| {
        // ALPN has picked the protocol; Auto also tells them apart by the preface.
        Http::new()
            .serve_connection(StreamIo::new(stream), svc)
            .await
    };
    trio::open_nursery(async |n| {
        let listeners = n
            .start(async |status| {
                // As a web server would: a client that goes away without
                // close_notify is an end of stream, not an attack.
                serve_ssl_over_tcp(handler, 0, server_config)
                    .host("127.0.0.1")
                    .https_compatible(true)
                    .task_status(status)
                    .await
            })
            .await?;
        let port = listeners[0].transport_listener().local_addr()?.port();
        let (v1, body1) = fetch_over_tls(&ca, port, "http/1.1").await?;
        assert_eq!(
            (v1.as_str(), body1.as_str()),
            ("HTTP/1.1", "HTTP/1.1 /hello")
        );
        let (v2, body2) = fetch_over_tls(&ca, port, "h2").await?;
        assert_eq!(
            (v2.as_str(), body2.as_str()),
            ("HTTP/2.0", "HTTP/2.0 /hello")
        );
        n.cancel_scope().cancel();
        Ok(())
    })
    .await?;
    Ok(())
}
