//! Stopping HTTP connections gracefully: when the code serving a connection is
//! asked to stop ([`CancelScope::cancel_gracefully`](crate::CancelScope::cancel_gracefully)
//! on an enclosing scope), hyper is told to shut the connection down the way
//! its protocol says — HTTP/1 finishes the request in progress and closes
//! (the response says `Connection: close`; an idle keep-alive connection closes
//! at once), HTTP/2 sends GOAWAY and finishes the streams it has — and the
//! connection is driven until it ends. If the grace period ends first, the
//! cancellation stops it as any cancellation does.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use hyper::body::Body;

use crate::{WaitStopRequested, wait_stop_requested};

/// What hyper's HTTP/2 server connection offers: a future that serves, and a
/// graceful shutdown.
pub(crate) trait GracefulConnection: Future<Output = hyper::Result<()>> {
    fn graceful_shutdown(self: Pin<&mut Self>);
}

impl<I, S, E, B> GracefulConnection for hyper::server::conn::http2::Connection<I, S, E>
where
    S: hyper::service::HttpService<hyper::body::Incoming, ResBody = B>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin,
    B: Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    E: hyper::rt::bounds::Http2ServerConnExec<S::Future, B>,
{
    fn graceful_shutdown(self: Pin<&mut Self>) {
        hyper::server::conn::http2::Connection::graceful_shutdown(self)
    }
}

impl<I, S, B> GracefulConnection for hyper::server::conn::http1::Connection<I, S>
where
    S: hyper::service::HttpService<hyper::body::Incoming, ResBody = B>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin,
    B: Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    fn graceful_shutdown(self: Pin<&mut Self>) {
        hyper::server::conn::http1::Connection::graceful_shutdown(self)
    }
}

pin_project_lite::pin_project! {
    /// A connection that shuts itself down gracefully when the code serving it
    /// is asked to stop.
    pub(crate) struct StopAware<C> {
        #[pin]
        conn: C,
        stop: Option<WaitStopRequested>,
        shutting_down: bool,
    }
}

impl<C: GracefulConnection> StopAware<C> {
    pub(crate) fn new(conn: C) -> StopAware<C> {
        StopAware {
            conn,
            stop: Some(wait_stop_requested()),
            shutting_down: false,
        }
    }
}

impl<C: GracefulConnection> Future for StopAware<C> {
    type Output = hyper::Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<hyper::Result<()>> {
        let mut this = self.project();
        if let Some(stop) = this.stop.as_mut() {
            match Pin::new(stop).poll(cx) {
                Poll::Ready(Ok(())) => {
                    *this.stop = None;
                    if !*this.shutting_down {
                        *this.shutting_down = true;
                        this.conn.as_mut().graceful_shutdown();
                    }
                }
                // Cancelled outright: the connection's I/O hears it too.
                Poll::Ready(Err(_)) => *this.stop = None,
                Poll::Pending => {}
            }
        }
        this.conn.poll(cx)
    }
}

impl<C: GracefulConnection> GracefulConnection for StopAware<C> {
    fn graceful_shutdown(self: Pin<&mut Self>) {
        let this = self.project();
        if !*this.shutting_down {
            *this.shutting_down = true;
            this.conn.graceful_shutdown();
        }
    }
}
