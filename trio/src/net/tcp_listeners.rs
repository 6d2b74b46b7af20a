//! [`open_tcp_listeners`] (Trio's `_highlevel_open_tcp_listeners.py`): one listener
//! per local address of a host — by default the IPv4 and IPv6 wildcards.
//!
//! # The backlog
//!
//! Trio's reasoning, kept: a backlog that is too small makes a healthy server refuse
//! connections that arrive in a burst; one that is too large costs next to nothing
//! (it is a queue, not a buffer that hides overload). So by default we ask for the
//! largest — every system silently caps the value at its configured maximum — but
//! no more than `0xFFFF`, because several kernels store it in 16 bits without
//! checking for overflow.

use std::net::SocketAddr;

use crate::net::SocketListener;
use crate::net::socket::{self, AddrInfoHints, Socket, Type, getaddrinfo};
use crate::{Error, ErrorKind, Result};

/// The `listen(2)` backlog for a requested one (`None`: as large as the system
/// allows).
pub(crate) fn compute_backlog(backlog: Option<u32>) -> i32 {
    backlog.map_or(0xFFFF, |b| b.min(0xFFFF) as i32)
}

use crate::sys::socket::{REUSE_PORT, opt};

/// `SO_REUSEADDR`, `IPV6_V6ONLY` for IPv6, bind, listen: what every trio TCP
/// listener gets (and `SO_REUSEPORT` when asked).
pub(crate) fn prepare_listener(
    sock: &Socket,
    addr: SocketAddr,
    backlog: Option<u32>,
    reuse_port: bool,
) -> Result<()> {
    // So that a restarted server can bind while old connections sit in TIME_WAIT
    // (python-trio/trio#39); it does not allow two live listeners on one port.
    // (Not on Windows, where it would let another program take the port, and
    // where TIME_WAIT does not block a listener anyway.)
    #[cfg(unix)]
    sock.set_option(opt::SOL_SOCKET, opt::SO_REUSEADDR, 1)?;
    #[cfg(windows)]
    if reuse_port {
        return Err(crate::Error::new(
            crate::ErrorKind::InvalidInput,
            "reuse_port: Windows cannot share a port among live listeners \
             (use LoopListener::handoff)",
        ));
    }
    if reuse_port {
        // Several live listeners on one port (one per loop): the kernel spreads
        // incoming connections among them.
        sock.set_option(opt::SOL_SOCKET, REUSE_PORT, 1)?;
    }
    if addr.is_ipv6() {
        // One listener per family: the IPv6 one must not also take IPv4.
        sock.set_option(opt::IPPROTO_IPV6, opt::IPV6_V6ONLY, 1)?;
    }
    sock.bind(addr)?;
    sock.listen(compute_backlog(backlog))
}

/// Opens TCP listeners on `port` (Trio's `open_tcp_listeners`): one per address
/// that `host` resolves to, or, for `None`, one on the IPv4 wildcard `0.0.0.0` and
/// one on the IPv6 wildcard `::` (with `IPV6_V6ONLY`, so each family has its own).
/// Each gets `SO_REUSEADDR` and the largest backlog the system allows; use
/// [`TcpListen`] to choose the backlog.
///
/// With port 0 the system picks a free port — a different one for each listener.
/// Families the system does not support are skipped, as long as one remains.
///
/// # Errors
///
/// Resolution errors of `host`; the operating system's (for example
/// `EADDRINUSE`, as "error binding to 127.0.0.1:8080: address already in use"),
/// in which case the listeners opened so far are closed;
/// [`ErrorKind::Io`] if no address family of `host` is supported here.
///
/// # Cancellation
///
/// A checkpoint (resolution); nothing is left open if cancelled.
///
/// # Examples
///
/// ```
/// # trio::run(async {
/// let listeners = trio::net::open_tcp_listeners(0, Some("127.0.0.1")).await?;
/// assert_eq!(listeners.len(), 1);
/// assert!(listeners[0].local_addr()?.ip().is_loopback());
/// # Ok(()) }).unwrap();
/// ```
pub async fn open_tcp_listeners(port: u16, host: Option<&str>) -> Result<Vec<SocketListener>> {
    let mut b = TcpListen::new(port);
    b.host = host;
    b.open().await
}

/// Options for opening TCP listeners; [`open_tcp_listeners`] with every knob.
///
/// # Examples
///
/// ```
/// use trio::net::TcpListen;
/// # trio::run(async {
/// let listeners = TcpListen::new(0).host("127.0.0.1").backlog(16).open().await?;
/// assert_eq!(listeners.len(), 1);
/// # Ok(()) }).unwrap();
/// ```
#[derive(Clone, Debug)]
#[must_use = "call `open` to open the listeners"]
pub struct TcpListen<'a> {
    port: u16,
    host: Option<&'a str>,
    backlog: Option<u32>,
    reuse_port: bool,
}

impl<'a> TcpListen<'a> {
    /// Listeners on `port`, on every interface, with the largest backlog.
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// let listeners = trio::net::TcpListen::new(0).open().await?;
    /// assert!(listeners.iter().all(|l| l.local_addr().unwrap().ip().is_unspecified()));
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn new(port: u16) -> TcpListen<'a> {
        TcpListen {
            port,
            host: None,
            backlog: None,
            reuse_port: false,
        }
    }

    /// Listen only on the addresses of `host` (an IP address or a name;
    /// `"0.0.0.0"` or `"::"` for one family's wildcard).
    ///
    /// # Examples
    ///
    /// See [`TcpListen`].
    pub fn host(mut self, host: &'a str) -> TcpListen<'a> {
        self.host = Some(host);
        self
    }

    /// The `listen(2)` backlog (capped at `0xFFFF`, and by the system).
    ///
    /// # Examples
    ///
    /// See [`TcpListen`].
    pub fn backlog(mut self, backlog: u32) -> TcpListen<'a> {
        self.backlog = Some(backlog);
        self
    }

    /// Sets `SO_REUSEPORT` (default: off), so that several listeners — one per
    /// trio loop ([`run_loops`](crate::run_loops)), or one per process — can listen
    /// on the same port at once, each getting a share of the incoming connections
    /// (the kernel spreads them by a hash of the addresses). Every listener on the
    /// port must set it. Use a fixed port: with port 0, each listener gets a
    /// different one (see [`LoopListener`](crate::net::LoopListener), which binds
    /// them all at once).
    ///
    /// On FreeBSD this sets `SO_REUSEPORT_LB`, its balancing form. On macOS the
    /// listeners share the port but the kernel does not spread the connections
    /// among them (they reach one listener); there,
    /// [`LoopListener::handoff`](crate::net::LoopListener::handoff) spreads them.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::net::TcpListen;
    /// # trio::run(async {
    /// let a = TcpListen::new(0).host("127.0.0.1").reuse_port(true).open().await?;
    /// let port = a[0].local_addr()?.port();
    /// // A second live listener on the same port:
    /// let b = TcpListen::new(port).host("127.0.0.1").reuse_port(true).open().await?;
    /// assert_eq!(b[0].local_addr()?.port(), port);
    /// // Without the option, the port is taken:
    /// assert!(TcpListen::new(port).host("127.0.0.1").open().await.is_err());
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn reuse_port(mut self, yes: bool) -> TcpListen<'a> {
        self.reuse_port = yes;
        self
    }

    /// Opens the listeners.
    ///
    /// # Errors
    ///
    /// As [`open_tcp_listeners`].
    ///
    /// # Cancellation
    ///
    /// As [`open_tcp_listeners`].
    ///
    /// # Examples
    ///
    /// See [`TcpListen`].
    pub async fn open(self) -> Result<Vec<SocketListener>> {
        let hints = AddrInfoHints {
            ty: Some(Type::STREAM),
            flags: crate::sys::resolve::gai::AI_PASSIVE,
            ..Default::default()
        };
        let addrs = getaddrinfo(self.host, self.port, hints).await?;
        let mut listeners = Vec::with_capacity(addrs.len());
        let mut unsupported = Vec::new();
        // On any error below, the listeners (and the socket) opened so far are
        // dropped, which closes them.
        for ai in addrs {
            let sock = match Socket::new(ai.domain(), ai.ty, ai.protocol) {
                Ok(s) => s,
                // A system with only one of IPv4/IPv6 still resolves both; skip the
                // other as long as one family works.
                Err(e) if socket::os_error(&e) == Some(libc::EAFNOSUPPORT) => {
                    unsupported.push(e);
                    continue;
                }
                Err(e) => return Err(e),
            };
            prepare_listener(&sock, ai.addr, self.backlog, self.reuse_port)?;
            listeners.push(SocketListener::from_socket(sock)?);
        }
        if listeners.is_empty() {
            if let Some(group) = Error::group(unsupported) {
                return Err(group.context(
                    ErrorKind::Io,
                    "This system doesn't support any of the kinds of socket that that address could use",
                ));
            }
        }
        Ok(listeners)
    }
}

#[cfg(test)]
mod tests {
    use super::compute_backlog;

    // Ported from Trio's test_open_tcp_listeners_backlog (the pure part).
    #[test]
    fn backlog_defaults_to_the_maximum_and_is_capped() {
        assert_eq!(compute_backlog(None), 0xFFFF);
        assert_eq!(compute_backlog(Some(99_999_999)), 0xFFFF);
        assert_eq!(compute_backlog(Some(10)), 10);
        assert_eq!(compute_backlog(Some(1)), 1);
    }
}
