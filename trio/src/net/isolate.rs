//! One connection's failure stays its own: [`isolated`] runs a connection's
//! handler so that its error — or its panic — is reported to a hook instead of
//! stopping the server.
//!
//! # Why panics are caught here, and only here
//!
//! trio's rule is that a panic in a child is resumed in its parent once the
//! other children have finished: nothing is lost, nothing runs on half-done.
//! A server is the one place where that rule serves badly: a request that
//! trips an `unwrap` would take every other connection and the listener down
//! with it. hyper on tokio keeps serving; so do trio's servers when given a
//! per-connection hook (`on_connection_error`; `http::serve` always has one).
//!
//! The panic is caught around the connection's future, so it unwinds through
//! that connection's code only — including any nursery inside it, which has
//! already waited for its children before resuming the panic. The future is
//! then dropped, never polled again. Like hyper on tokio, this assumes that
//! what the handler shares with other connections is still usable after one
//! of them panicked (`AssertUnwindSafe`): a `RefCell` is released by the
//! unwinding, a poisoned `Mutex` still says so. The panic message is printed
//! by the panic hook as usual, and the hook gets an [`Error`] that carries it.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::error::panic_message;
use crate::{Error, ErrorKind, Result};

pin_project_lite::pin_project! {
    /// A future that turns a panic while polling `fut` into `Err(payload)`.
    struct CatchUnwind<F> {
        #[pin]
        fut: F,
    }
}

impl<F: Future> Future for CatchUnwind<F> {
    type Output = std::thread::Result<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let fut = self.project().fut;
        match catch_unwind(AssertUnwindSafe(|| fut.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(out)) => Poll::Ready(Ok(out)),
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}

/// Runs `handler` (one connection's work). Its error is given to `hook` and
/// `Ok(())` returned; a panic becomes an [`ErrorKind::Other`] error with the
/// panic's message, given to `hook` the same way. A cancellation is returned:
/// it belongs to the server's scope.
pub(crate) async fn isolated<F>(handler: F, hook: &dyn Fn(&Error)) -> Result<()>
where
    F: Future<Output = Result<()>>,
{
    match (CatchUnwind { fut: handler }).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) if e.is_cancelled() => Err(e),
        Ok(Err(e)) => {
            hook(&e);
            Ok(())
        }
        Err(panic) => {
            hook(&Error::new(
                ErrorKind::Other,
                format!(
                    "the connection's handler panicked: {}",
                    panic_message(&*panic)
                ),
            ));
            Ok(())
        }
    }
}
