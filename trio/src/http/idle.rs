//! The HTTP/2 idle limit: a connection with no request in progress for
//! [`Http::idle_timeout`](super::Http::idle_timeout) is closed.
//!
//! # Why it is needed, and why it counts requests
//!
//! HTTP/1 has hyper's header-read timeout, which runs whenever the server waits
//! for a request's head — on a fresh connection and between keep-alive requests
//! alike — so an idle HTTP/1 connection is closed after it. hyper's HTTP/2
//! server has nothing of the kind: a client that sends the connection preface and
//! then nothing (or only pings) holds a connection, a file descriptor and a task
//! forever. Keep-alive pings do not help: they detect a peer that is gone, and a
//! client that merely idles answers them.
//!
//! "Idle" here means *no request in progress*: none whose service call is
//! running or whose response body is still being sent. A request counts from
//! the moment hyper calls the service until hyper drops the response body (it
//! does so once the body has been sent, or the stream reset). So a slow
//! handler, a long-poll, or a server-sent-events body that writes once a minute
//! keep the connection, however quiet the wire is; bytes on the wire alone (a
//! client's pings, window updates, a SETTINGS frame) do not.
//!
//! When the limit passes, the connection is shut down gracefully: hyper sends
//! GOAWAY (so that a client about to send a request knows not to) and a PING,
//! and closes the connection when the client answers the PING — within a round
//! trip. A client that does not answer (one that sent the preface and nothing
//! since does not) gets [`SHUTDOWN_GRACE`], and the connection is then dropped.
//! Either way the connection ends well: it was idle, and closing an idle
//! connection is the expected end of one.

use std::cell::{Cell, RefCell};
use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use hyper::body::{Body, Frame, SizeHint};
use hyper::service::Service;
use hyper::{Request, Response};

use crate::{Error, Instant, Result, current_time, sleep_until};

/// How long an idle connection being shut down gets to finish the HTTP/2
/// goodbye (GOAWAY, PING and its answer) before it is dropped.
pub(crate) const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// The requests in progress on one connection.
pub(crate) struct InFlight {
    count: Cell<usize>,
    /// When the count last fell to zero (or the connection started).
    idle_since: Cell<Instant>,
    /// The connection's task, waiting for the count to fall to zero.
    waker: RefCell<Option<Waker>>,
}

impl InFlight {
    pub(crate) fn new() -> Rc<InFlight> {
        Rc::new(InFlight {
            count: Cell::new(0),
            idle_since: Cell::new(current_time()),
            waker: RefCell::new(None),
        })
    }

    fn enter(self: &Rc<Self>) -> RequestGuard {
        self.count.set(self.count.get() + 1);
        RequestGuard(self.clone())
    }

    /// When the connection becomes idle for `limit`, if no request is in
    /// progress now.
    fn idle_deadline(&self, limit: Duration) -> Option<Instant> {
        (self.count.get() == 0).then(|| self.idle_since.get().saturating_add(limit))
    }
}

/// One request in progress; dropped when it ends.
struct RequestGuard(Rc<InFlight>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        let f = &self.0;
        f.count.set(f.count.get() - 1);
        if f.count.get() == 0 {
            f.idle_since.set(current_time());
            if let Some(w) = f.waker.borrow_mut().take() {
                w.wake();
            }
        }
    }
}

/// A service whose requests are counted in an [`InFlight`].
pub(crate) struct Counted<S> {
    pub(crate) inner: S,
    pub(crate) in_flight: Rc<InFlight>,
}

impl<S, B> Service<Request<hyper::body::Incoming>> for Counted<S>
where
    S: Service<Request<hyper::body::Incoming>, Response = Response<B>>,
{
    type Response = Response<CountedBody<B>>;
    type Error = S::Error;
    type Future = CountedCall<S::Future>;

    fn call(&self, req: Request<hyper::body::Incoming>) -> Self::Future {
        CountedCall {
            guard: Some(self.in_flight.enter()),
            fut: self.inner.call(req),
        }
    }
}

pin_project_lite::pin_project! {
    /// A service call in progress; its guard moves into the response body.
    pub(crate) struct CountedCall<F> {
        guard: Option<RequestGuard>,
        #[pin]
        fut: F,
    }
}

impl<F, B, E> Future for CountedCall<F>
where
    F: Future<Output = std::result::Result<Response<B>, E>>,
{
    type Output = std::result::Result<Response<CountedBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let resp = std::task::ready!(this.fut.poll(cx))?;
        let guard = this.guard.take();
        Poll::Ready(Ok(resp.map(|body| CountedBody {
            body,
            _guard: guard,
        })))
    }
}

pin_project_lite::pin_project! {
    /// A response body that keeps its request counted until hyper drops it.
    pub(crate) struct CountedBody<B> {
        #[pin]
        body: B,
        _guard: Option<RequestGuard>,
    }
}

impl<B: Body> Body for CountedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<std::result::Result<Frame<B::Data>, B::Error>>> {
        self.project().body.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

use super::graceful::GracefulConnection;

enum Step {
    Done(hyper::Result<()>),
    Timer(Result<()>),
    Recheck,
}

/// Drives `conn` until it ends; once no request has been in progress for
/// `limit`, shuts it down gracefully, and drops it if it has not ended
/// [`SHUTDOWN_GRACE`] later.
///
/// # Errors
///
/// The connection's (hyper's, converted).
pub(crate) async fn serve_with_idle_limit<C: GracefulConnection>(
    conn: C,
    in_flight: &InFlight,
    limit: Duration,
) -> Result<()> {
    let mut conn = pin!(conn);
    let mut closing_by: Option<Instant> = None;
    loop {
        let deadline = closing_by.or_else(|| in_flight.idle_deadline(limit));
        let mut timer = pin!(sleep_until(deadline.unwrap_or(Instant::INFINITY)));
        let step = poll_fn(|cx| {
            if let Poll::Ready(r) = conn.as_mut().poll(cx) {
                return Poll::Ready(Step::Done(r));
            }
            match deadline {
                Some(_) => match timer.as_mut().poll(cx) {
                    Poll::Ready(r) => Poll::Ready(Step::Timer(r)),
                    Poll::Pending => Poll::Pending,
                },
                None => {
                    // Busy: wait for the last request to end (its guard wakes us).
                    *in_flight.waker.borrow_mut() = Some(cx.waker().clone());
                    if in_flight.count.get() == 0 {
                        return Poll::Ready(Step::Recheck);
                    }
                    Poll::Pending
                }
            }
        })
        .await;
        match step {
            Step::Done(r) => {
                return match r.map_err(Error::from) {
                    Err(e) if e.is_cancelled() => Err(e),
                    // Closing an idle connection: however the goodbye went (the
                    // client may close first, even reset), it is over.
                    _ if closing_by.is_some() => Ok(()),
                    r => r,
                };
            }
            Step::Recheck => {}
            Step::Timer(Err(cancelled)) => return Err(cancelled),
            // The client did not finish the goodbye: drop the idle connection.
            Step::Timer(Ok(())) if closing_by.is_some() => return Ok(()),
            Step::Timer(Ok(())) => {
                // The deadline may be stale: a request came and went meanwhile.
                if in_flight.idle_deadline(limit) == deadline {
                    conn.as_mut().graceful_shutdown();
                    closing_by = Some(current_time().saturating_add(SHUTDOWN_GRACE));
                }
            }
        }
    }
}
