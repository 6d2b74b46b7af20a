//! Name resolution (Trio's `trio.socket.getaddrinfo` and `set_custom_hostname_resolver`).
//!
//! `getaddrinfo(3)` blocks, so a real lookup runs on a worker thread; numeric
//! addresses ("127.0.0.1", "::1", or no host at all) are answered on the spot, as
//! Trio does (it first asks with `AI_NUMERICHOST | AI_NUMERICSERV`, which never
//! blocks). A cancelled lookup returns `Cancelled` at once: the thread is left to
//! finish on its own and its answer is dropped (Trio's `abandon_on_cancel=True`).
//!
//! Not ported: `getnameinfo`, `getprotobyname` (rarely used), and IDNA 2008
//! encoding of non-ASCII names — a host name is handed to the system resolver as
//! UTF-8.

use std::ffi::CString;
use std::fmt;
use std::io;
use std::rc::Rc;

use super::custom::BoxFuture;
use crate::lowlevel::{RunVar, cancel_shielded_checkpoint, checkpoint_if_cancelled};
pub use crate::sys::resolve::{AddrInfo, AddrInfoHints, GaiError};
use crate::sys::resolve::{gai, system_getaddrinfo};
use crate::{Error, ErrorKind, Result};

/// A resolver that replaces the system's for this run (Trio's `HostnameResolver`);
/// installed with [`set_custom_hostname_resolver`]. Mostly for tests.
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use trio::net::socket::{AddrInfo, AddrInfoHints, BoxFuture, HostnameResolver, Type};
///
/// #[derive(Debug)]
/// struct Everything127;
/// impl HostnameResolver for Everything127 {
///     fn getaddrinfo<'a>(&'a self, _host: Option<&'a str>, port: u16, _hints: AddrInfoHints)
///         -> BoxFuture<'a, trio::Result<Vec<AddrInfo>>>
///     {
///         Box::pin(async move {
///             trio::lowlevel::checkpoint().await?;
///             Ok(vec![AddrInfo::new(([127, 0, 0, 1], port).into(), Type::STREAM, None)])
///         })
///     }
/// }
///
/// # trio::run(async {
/// trio::net::socket::set_custom_hostname_resolver(Some(Rc::new(Everything127)))?;
/// let found = trio::net::socket::getaddrinfo(Some("example.com"), 80, AddrInfoHints::default()).await?;
/// assert_eq!(found[0].addr, "127.0.0.1:80".parse().unwrap());
/// # Ok(()) }).unwrap();
/// ```
pub trait HostnameResolver: fmt::Debug {
    /// Resolves `host` (`None`: the wildcard or loopback address, depending on
    /// `AI_PASSIVE`) and `port`, as [`getaddrinfo`] would.
    fn getaddrinfo<'a>(
        &'a self,
        host: Option<&'a str>,
        port: u16,
        hints: AddrInfoHints,
    ) -> BoxFuture<'a, Result<Vec<AddrInfo>>>;
}

static RESOLVER: RunVar<Option<Rc<dyn HostnameResolver>>> =
    RunVar::with_default("trio.net.hostname_resolver", || None);

/// Installs `resolver` for every non-numeric lookup of [`getaddrinfo`] — and so of
/// every high-level function of [`trio::net`](crate::net) — for the rest of this run;
/// `None` restores the system resolver (Trio's `set_custom_hostname_resolver`).
/// Returns the previous resolver.
///
/// Numeric hosts ("127.0.0.1", "::1", or `None`) are still answered directly, as
/// in Trio.
///
/// # Errors
///
/// [`ErrorKind::Usage`] outside a trio run.
///
/// # Examples
///
/// ```
/// # use trio::net::socket::{AddrInfo, AddrInfoHints, BoxFuture, HostnameResolver};
/// # #[derive(Debug)] struct Nothing;
/// # impl HostnameResolver for Nothing {
/// #     fn getaddrinfo<'a>(&'a self, _: Option<&'a str>, _: u16, _: AddrInfoHints) -> BoxFuture<'a, trio::Result<Vec<AddrInfo>>> {
/// #         Box::pin(async { Ok(vec![]) })
/// #     }
/// # }
/// use trio::net::socket::{getaddrinfo, set_custom_hostname_resolver};
/// # trio::run(async {
/// set_custom_hostname_resolver(Some(std::rc::Rc::new(Nothing)))?;
/// assert!(getaddrinfo(Some("example.com"), 80, AddrInfoHints::default()).await?.is_empty());
/// // Numeric addresses never reach the custom resolver:
/// assert_eq!(getaddrinfo(Some("127.0.0.1"), 80, AddrInfoHints::default()).await?.len() > 0, true);
/// assert!(set_custom_hostname_resolver(None)?.is_some());
/// # Ok(()) }).unwrap();
/// ```
pub fn set_custom_hostname_resolver(
    resolver: Option<Rc<dyn HostnameResolver>>,
) -> Result<Option<Rc<dyn HostnameResolver>>> {
    RESOLVER.with(|r| std::mem::replace(r, resolver))
}

/// Looks up `host` and `port` (Trio's `trio.socket.getaddrinfo`): numeric
/// addresses at once, names on a worker thread (or with the
/// [custom resolver](set_custom_hostname_resolver)).
///
/// # Errors
///
/// [`ErrorKind::Io`] if the lookup fails; the [`std::io::Error`] inside carries a
/// [`GaiError`] (or the OS error for `EAI_SYSTEM`). [`ErrorKind::InvalidInput`] if
/// `host` contains a NUL byte.
///
/// # Cancellation
///
/// A checkpoint. A cancelled lookup returns at once; its thread finishes in the
/// background and its answer is dropped.
///
/// # Examples
///
/// ```
/// use trio::net::socket::{AddrInfoHints, Type, getaddrinfo};
/// # trio::run(async {
/// let hints = AddrInfoHints { ty: Some(Type::STREAM), ..Default::default() };
/// let found = getaddrinfo(Some("127.0.0.1"), 8080, hints).await?;
/// assert_eq!(found.len(), 1);
/// assert_eq!(found[0].addr, "127.0.0.1:8080".parse().unwrap());
/// # Ok(()) }).unwrap();
/// ```
pub async fn getaddrinfo(
    host: Option<&str>,
    port: u16,
    hints: AddrInfoHints,
) -> Result<Vec<AddrInfo>> {
    checkpoint_if_cancelled()?;
    let c_host = match host {
        Some(h) => Some(CString::new(h).map_err(|_| {
            Error::new(
                ErrorKind::InvalidInput,
                "host name must not contain a NUL byte",
            )
        })?),
        None => None,
    };
    let numeric = AddrInfoHints {
        flags: hints.flags | gai::AI_NUMERICHOST | gai::AI_NUMERICSERV,
        ..hints
    };
    match system_getaddrinfo(c_host.as_deref(), port, numeric) {
        Err(e) if gai_code(&e) == Some(gai::EAI_NONAME) => {}
        other => {
            cancel_shielded_checkpoint().await?;
            return other.map_err(Error::from);
        }
    }
    // A real name: ask the custom resolver, or the system on a thread.
    if let Some(resolver) = RESOLVER.get().ok().flatten() {
        return resolver.getaddrinfo(host, port, hints).await;
    }
    // As Trio: on a worker thread under the default thread limiter, abandoned if
    // cancelled (the lookup finishes on its own and its answer is dropped).
    let answer = crate::to_thread::Builder::new()
        .abandon_on_cancel(true)
        .run_sync(move || system_getaddrinfo(c_host.as_deref(), port, hints))
        .await?;
    answer.map_err(Error::from)
}

fn gai_code(e: &io::Error) -> Option<i32> {
    e.get_ref()
        .and_then(|i| i.downcast_ref::<GaiError>())
        .map(GaiError::code)
}
