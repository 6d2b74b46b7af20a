//! Making requests: [`get`] and [`request`], and [`Client`] for their options.

use std::error::Error as StdError;

use http_body_util::{BodyExt, Empty, LengthLimitError, Limited};
use hyper::body::{Body, Bytes};
use hyper::client::conn::{http1, http2};
use hyper::header::{HOST, HeaderValue};
use hyper::{Request, Response, Uri, Version};

use super::{TrioExecutor, TrioIo, TrioTimer, cancellable, from_hyper};
use crate::lowlevel::checkpoint_if_cancelled;
use crate::net::open_tcp_stream;
use crate::{Error, ErrorKind, Result, open_nursery};

/// How large a response body [`get`] and [`request`] read by default: 16 MiB.
/// A larger one is an error (see [`Client::body_limit`]).
///
/// # Examples
///
/// ```
/// assert_eq!(trio::http::DEFAULT_BODY_LIMIT, 16 * 1024 * 1024);
/// ```
pub const DEFAULT_BODY_LIMIT: usize = 16 * 1024 * 1024;

/// The options of [`get`] and [`request`]: today, the largest response body
/// they read ([`body_limit`](Client::body_limit)). The functions use
/// `Client::new()`; make one to change an option. It holds no connections
/// (each request opens its own), so it is cheap to make and to copy.
///
/// # Examples
///
/// ```
/// # use http_body_util::Full;
/// # use hyper::body::{Bytes, Incoming};
/// # use hyper::{Request, Response};
/// # trio::run(async {
/// # let service = trio::http::service_fn(async |_req: Request<Incoming>| {
/// #     Ok::<_, trio::Error>(Response::new(Full::new(Bytes::from(vec![b'x'; 1000]))))
/// # });
/// # trio::open_nursery(async |n| {
/// # let listeners = n.start(async |s| trio::http::serve(&service, 0).host("127.0.0.1").task_status(s).await).await?;
/// # let url = format!("http://127.0.0.1:{}/", listeners[0].local_addr()?.port());
/// // The server answers with 1000 bytes.
/// let small = trio::http::Client::new().body_limit(100);
/// let err = small.get(&url).await.unwrap_err();
/// assert!(err.to_string().contains("larger than the limit of 100 bytes"));
/// let resp = trio::http::Client::new().body_limit(1000).get(&url).await?;
/// assert_eq!(resp.body().len(), 1000);
/// # n.cancel_scope().cancel();
/// # Ok(()) }).await
/// # }).unwrap();
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Client {
    body_limit: usize,
}

impl Default for Client {
    fn default() -> Client {
        Client::new()
    }
}

impl Client {
    /// The defaults: a body limit of [`DEFAULT_BODY_LIMIT`].
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trio::http::Client::new().get_body_limit(), trio::http::DEFAULT_BODY_LIMIT);
    /// ```
    pub fn new() -> Client {
        Client {
            body_limit: DEFAULT_BODY_LIMIT,
        }
    }

    /// The largest response body to read, in bytes (default
    /// [`DEFAULT_BODY_LIMIT`]). A response whose `Content-Length` says more
    /// fails before its body is read; one without that grows only to the limit
    /// and then fails. Bodies are buffered whole, so this bounds the memory a
    /// request takes. `usize::MAX`: no limit.
    ///
    /// # Examples
    ///
    /// See [`Client`].
    pub fn body_limit(mut self, bytes: usize) -> Client {
        self.body_limit = bytes;
        self
    }

    /// The limit set by [`body_limit`](Self::body_limit).
    ///
    /// # Examples
    ///
    /// See [`new`](Self::new).
    pub fn get_body_limit(&self) -> usize {
        self.body_limit
    }

    /// [`get`] with these options.
    ///
    /// # Errors
    ///
    /// As [`get`].
    ///
    /// # Cancellation
    ///
    /// As [`request`].
    ///
    /// # Examples
    ///
    /// See [`Client`].
    pub async fn get(&self, url: &str) -> Result<Response<Bytes>> {
        let req = Request::get(url).body(Empty::<Bytes>::new()).map_err(|e| {
            Error::new(ErrorKind::InvalidInput, format!("invalid URL {url:?}: {e}"))
        })?;
        self.request(req).await
    }

    /// [`request`] with these options.
    ///
    /// # Errors
    ///
    /// As [`request`].
    ///
    /// # Cancellation
    ///
    /// As [`request`].
    ///
    /// # Examples
    ///
    /// ```
    /// # use http_body_util::Full;
    /// # use hyper::body::{Bytes, Incoming};
    /// # use hyper::{Request, Response};
    /// # trio::run(async {
    /// # let service = trio::http::service_fn(async |_req: Request<Incoming>| {
    /// #     Ok::<_, trio::Error>(Response::new(Full::new(Bytes::from("hello"))))
    /// # });
    /// # trio::open_nursery(async |n| {
    /// # let listeners = n.start(async |s| trio::http::serve(&service, 0).host("127.0.0.1").task_status(s).await).await?;
    /// # let url = format!("http://127.0.0.1:{}/", listeners[0].local_addr()?.port());
    /// let req = Request::get(&url).body(http_body_util::Empty::<Bytes>::new()).unwrap();
    /// let resp = trio::http::Client::new().body_limit(1 << 20).request(req).await?;
    /// assert_eq!(resp.body(), "hello");
    /// # n.cancel_scope().cancel();
    /// # Ok(()) }).await
    /// # }).unwrap();
    /// ```
    pub async fn request<B>(&self, req: Request<B>) -> Result<Response<Bytes>>
    where
        B: Body + Unpin + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn StdError + Send + Sync>>,
    {
        send(req, self.body_limit).await
    }
}

/// Fetches `url` with a `GET` request and returns the response with its whole
/// body: [`request`] with an empty body.
///
/// # Errors
///
/// As [`request`]; [`ErrorKind::InvalidInput`] if `url` does not parse.
///
/// # Cancellation
///
/// As [`request`].
///
/// # Examples
///
/// ```
/// # use http_body_util::Full;
/// # use hyper::body::{Bytes, Incoming};
/// # use hyper::{Request, Response};
/// # trio::run(async {
/// # let service = trio::http::service_fn(async |_req: Request<Incoming>| {
/// #     Ok::<_, trio::Error>(Response::new(Full::new(Bytes::from("hello"))))
/// # });
/// # trio::open_nursery(async |n| {
/// # let listeners = n.start(async |s| trio::http::serve(&service, 0).host("127.0.0.1").task_status(s).await).await?;
/// # let port = listeners[0].local_addr()?.port();
/// let resp = trio::http::get(&format!("http://127.0.0.1:{port}/")).await?;
/// println!("{} ({} bytes)", resp.status(), resp.body().len());
/// # assert_eq!(resp.body(), "hello");
/// # n.cancel_scope().cancel();
/// # Ok(()) }).await
/// # }).unwrap();
/// ```
pub async fn get(url: &str) -> Result<Response<Bytes>> {
    Client::new().get(url).await
}

/// Sends `req` on a new connection and returns the response with its whole body
/// (collected into [`Bytes`]).
///
/// The URI must be absolute, `http://host[:port]/...`. The request goes out as
/// HTTP/1.1 unless its version is [`Version::HTTP_2`], which speaks HTTP/2 with
/// prior knowledge ("h2c"). For HTTP/1 the URI is sent in origin form and a
/// `Host` header is added if missing.
///
/// It opens the connection with [`open_tcp_stream`] (happy eyeballs), does
/// hyper's handshake, and drives the connection in a nursery — a task that
/// ends with this call, so nothing outlives it. The connection is not reused.
/// The whole body is read because a body can only be read while its
/// connection is driven — up to [`DEFAULT_BODY_LIMIT`] (16 MiB); a larger
/// body is an error. For another limit, use [`Client::body_limit`]; to stream
/// a body of any size, drive hyper's connection yourself (see the module
/// docs).
///
/// `https` is not handled here: TLS is separate (with feature `tls`, wrap the
/// TCP stream in trio's TLS stream and drive hyper's client connection on it
/// yourself through [`StreamIo`](super::StreamIo), as [`TrioIo`]'s example does
/// for plain TCP).
///
/// # Errors
///
/// [`ErrorKind::InvalidInput`] for a URI that is not `http://` and absolute; the errors
/// of [`open_tcp_stream`]; hyper's errors (the connection breaking, a malformed
/// response), with the hyper error as their source; [`ErrorKind::Other`] for a
/// body larger than the limit. A status such as 404 or 500 is not an error: it
/// is in the response.
///
/// # Cancellation
///
/// A checkpoint while waiting for the response and its body: cancelling stops
/// the request at once and closes the connection. Put a timeout on it with
/// [`fail_after`](crate::fail_after) or [`move_on_after`](crate::move_on_after).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use http_body_util::{BodyExt, Full};
/// use hyper::body::{Bytes, Incoming};
/// use hyper::{Request, Response, Version};
/// # trio::run(async {
/// let echo = trio::http::service_fn(async |req: Request<Incoming>| {
///     let body = req.into_body().collect().await?.to_bytes();
///     Ok::<_, hyper::Error>(Response::new(Full::new(body)))
/// });
/// trio::open_nursery(async |n| {
///     let listeners = n
///         .start(async |status| trio::http::serve(&echo, 0).host("127.0.0.1").task_status(status).await)
///         .await?;
///     let url = format!("http://127.0.0.1:{}/echo", listeners[0].local_addr()?.port());
///     for version in [Version::HTTP_11, Version::HTTP_2] {
///         let req = Request::post(&url)
///             .version(version)
///             .body(Full::new(Bytes::from("ping")))
///             .unwrap();
///         let resp = trio::fail_after(Duration::from_secs(10), trio::http::request(req)).await?;
///         assert_eq!(resp.version(), version);
///         assert_eq!(resp.body(), "ping");
///     }
///     n.cancel_scope().cancel();
///     Ok(())
/// })
/// .await
/// # }).unwrap();
/// ```
pub async fn request<B>(req: Request<B>) -> Result<Response<Bytes>>
where
    B: Body + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    Client::new().request(req).await
}

async fn send<B>(mut req: Request<B>, body_limit: usize) -> Result<Response<Bytes>>
where
    B: Body + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let uri = req.uri().clone();
    let (host, port) = target(&uri)?;
    let h2 = req.version() == Version::HTTP_2;
    if !h2 {
        if !req.headers().contains_key(HOST) {
            let authority = uri.authority().expect("checked by target()").as_str();
            let value = HeaderValue::from_str(authority)
                .map_err(|e| Error::new(ErrorKind::InvalidInput, format!("invalid host: {e}")))?;
            req.headers_mut().insert(HOST, value);
        }
        let origin = uri.path_and_query().map_or("/", |p| p.as_str());
        *req.uri_mut() = origin
            .parse()
            .map_err(|e| Error::new(ErrorKind::InvalidInput, format!("invalid path: {e}")))?;
    }
    let io = TrioIo::new(open_tcp_stream(host, port).await?);
    open_nursery(async move |n| {
        let resp = if h2 {
            let mut b = http2::Builder::new(TrioExecutor::new(n));
            b.timer(TrioTimer);
            let (mut sender, conn) = cancellable(b.handshake(io)).await?.map_err(from_hyper)?;
            n.start_soon_named("hyper connection", async move {
                cancellable(conn).await?.map_err(from_hyper)
            })?;
            let resp = cancellable(sender.send_request(req)).await?;
            response(resp, &uri, body_limit).await?
        } else {
            let (mut sender, conn) = cancellable(http1::handshake(io))
                .await?
                .map_err(from_hyper)?;
            n.start_soon_named("hyper connection", async move {
                cancellable(conn).await?.map_err(from_hyper)
            })?;
            let resp = cancellable(sender.send_request(req)).await?;
            response(resp, &uri, body_limit).await?
        };
        // Done with the connection: stop driving it.
        n.cancel_scope().cancel();
        Ok(resp)
    })
    .await?
    .ok_or_else(|| {
        Error::new(
            ErrorKind::Internal,
            "the request's nursery gave no response",
        )
    })
}

/// Reads the whole body of a response that came (or failed) on a connection
/// driven by a sibling task, up to `limit` bytes.
async fn response(
    resp: std::result::Result<Response<hyper::body::Incoming>, hyper::Error>,
    uri: &Uri,
    limit: usize,
) -> Result<Response<Bytes>> {
    let (parts, body) = resp.map_err(failed)?.into_parts();
    let too_large = || {
        Error::new(
            ErrorKind::Other,
            format!(
                "the response body of {uri} is larger than the limit of {limit} bytes \
                 (trio::http::Client::body_limit)"
            ),
        )
    };
    if body.size_hint().lower() > limit as u64 {
        return Err(too_large());
    }
    let body = match cancellable(Limited::new(body, limit).collect()).await? {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<LengthLimitError>() => return Err(too_large()),
        Err(e) => match e.downcast::<hyper::Error>() {
            Ok(e) => return Err(failed(*e)),
            Err(e) => return Err(Error::other(e)),
        },
    };
    Ok(Response::from_parts(parts, body))
}

/// An error of the request while the connection task may have failed too: if
/// it did, it cancelled this nursery, and its error is the one to report (it
/// comes out of the nursery); this one then is only that cancellation.
fn failed(e: hyper::Error) -> Error {
    match checkpoint_if_cancelled() {
        Err(cancelled) => cancelled,
        Ok(()) => from_hyper(e),
    }
}

/// The host and port to connect to for an `http://` URI.
fn target(uri: &Uri) -> Result<(&str, u16)> {
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "trio::http::request speaks plain http only: https needs TLS around the stream",
            ));
        }
        _ => {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!("trio::http::request needs an absolute http:// URL, not {uri}"),
            ));
        }
    }
    let host = uri
        .host()
        .ok_or_else(|| Error::new(ErrorKind::InvalidInput, format!("no host in the URL {uri}")))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Ok((host, uri.port_u16().unwrap_or(80)))
}
