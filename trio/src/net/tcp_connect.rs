//! [`open_tcp_stream`]: connecting to a host name with "happy eyeballs" (Trio's
//! `_highlevel_open_tcp_stream.py`, after RFC 6555 and RFC 8305).
//!
//! # Why it is built this way
//!
//! A name often resolves to several addresses, and some may not work — the classic
//! case is a host that believes it has IPv6 when its network silently drops it. The
//! obvious algorithm (try each address in turn, like `std::net::TcpStream::connect`)
//! can then wait for TCP's own timeout, tens of seconds, before trying the next
//! address. Trying all of them at once is fast but loads the network and the server
//! with connections that are thrown away.
//!
//! Happy eyeballs is the middle way: try the addresses one after another, but when
//! an attempt has neither succeeded nor failed after a short delay (250 ms by
//! default), start the next one *alongside* it; and when an attempt fails, start the
//! next one at once. The first attempt to succeed wins; the others are cancelled and
//! their sockets closed.
//!
//! Structured concurrency makes this short: one nursery, one task per attempt, and
//! the loop that starts them waits on "the previous attempt failed" with a timeout
//! of the delay. The winner records its socket and cancels a scope around the
//! nursery; every other attempt is then cancelled — a cancelled connect closes its
//! socket — and the nursery does not return until they have all finished, so no
//! attempt, and no socket, outlives the call. If every attempt fails, the error
//! keeps all of their errors.
//!
//! **Address order.** We keep the resolver's order (it applies the system's
//! preference policy, RFC 6724), except that address families are interleaved
//! (RFC 8305 section 4): if the first address is IPv6, the second is the first
//! IPv4 one, and so on alternately, so that one broken family costs at most one
//! delay per attempt of the other. (Trio only moves the first address of the other
//! family into second place, RFC 6555 section 5.4; the two agree whenever one
//! family has a single address.)
//!
//! **No caching.** Like Trio, results of earlier attempts are not remembered: doing
//! that right requires noticing network changes, and doing it wrong breaks
//! connections; RFC 6555 only asks for caching when both families are raced at
//! once, which we do not do.
//!
//! **Resolution** runs on a worker thread and is abandoned if cancelled (see
//! [`getaddrinfo`](crate::net::socket::getaddrinfo)); numeric addresses need no
//! thread. Both resolution and socket creation go through the run's
//! [custom resolver](crate::net::socket::set_custom_hostname_resolver) and
//! [socket factory](crate::net::socket::set_custom_socket_factory), which is how
//! the algorithm is tested against a fake network under the mock clock.

use std::cell::RefCell;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::net::SocketStream;
use crate::net::socket::{AddrInfo, AddrInfoHints, Socket, Type, getaddrinfo};
use crate::sync::Event;
use crate::{CancelScope, Error, ErrorKind, Result, move_on_after, open_nursery};

/// The default delay before starting the next attempt alongside a slow one: 250 ms
/// (Chrome's and Firefox's choice, as in Trio).
///
/// # Examples
///
/// ```
/// assert_eq!(trio::net::DEFAULT_HAPPY_EYEBALLS_DELAY.as_millis(), 250);
/// ```
pub const DEFAULT_HAPPY_EYEBALLS_DELAY: Duration = Duration::from_millis(250);

/// Connects to `host` (a name or an IP address) on `port` over TCP, with happy
/// eyeballs (Trio's `open_tcp_stream`); see [`TcpConnect`] for the options.
///
/// # Errors
///
/// Resolution errors; [`ErrorKind::Io`] "no results found for hostname lookup"
/// if `host` resolves to nothing; [`ErrorKind::Io`] "all attempts to connect to
/// host:port failed: " and each attempt's reason (such as "error connecting to
/// 127.0.0.1:9: connection refused (os error 111)") if every address failed — its
/// [`source`](std::error::Error::source) is the attempt's error, or, for several
/// attempts, a [`Group`](ErrorKind::Group) of them in the order they failed.
///
/// # Cancellation
///
/// A checkpoint. Cancelling cancels every attempt; no socket is left open.
///
/// # Examples
///
/// ```
/// use trio::abc::{Listener, ReceiveStream, SendStream};
/// # trio::run(async {
/// let listener = trio::net::SocketListener::bind("127.0.0.1:0".parse().unwrap())?;
/// let port = listener.local_addr()?.port();
/// let client = trio::net::open_tcp_stream("127.0.0.1", port).await?;
/// let server = listener.accept().await?;
/// client.send_all(b"x").await?;
/// let mut buf = [0u8; 1];
/// assert_eq!(server.receive_some(&mut buf).await?, 1);
///
/// // Nobody listens on the listener's port once it is closed:
/// drop(listener);
/// let err = trio::net::open_tcp_stream("127.0.0.1", port).await.unwrap_err();
/// assert!(err.to_string().contains("all attempts to connect to 127.0.0.1"));
/// # Ok(()) }).unwrap();
/// ```
pub async fn open_tcp_stream(host: &str, port: u16) -> Result<SocketStream> {
    TcpConnect::new(host, port).connect().await
}

/// Options for connecting with happy eyeballs; [`open_tcp_stream`] with every knob.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use trio::net::TcpConnect;
/// # trio::run(async {
/// let listener = trio::net::SocketListener::bind("127.0.0.1:0".parse().unwrap())?;
/// let stream = TcpConnect::new("127.0.0.1", listener.local_addr()?.port())
///     .happy_eyeballs_delay(Duration::from_millis(100))
///     .local_address("127.0.0.1".parse().unwrap())
///     .connect()
///     .await?;
/// assert!(stream.local_addr()?.ip().is_loopback());
/// # Ok(()) }).unwrap();
/// ```
#[derive(Clone, Debug)]
#[must_use = "call `connect` to connect"]
pub struct TcpConnect<'a> {
    host: &'a str,
    port: u16,
    delay: Duration,
    local_address: Option<IpAddr>,
}

impl<'a> TcpConnect<'a> {
    /// A connection to `host` (a name or an IP address) on `port`.
    ///
    /// # Examples
    ///
    /// See [`TcpConnect`].
    pub fn new(host: &'a str, port: u16) -> TcpConnect<'a> {
        TcpConnect {
            host,
            port,
            delay: DEFAULT_HAPPY_EYEBALLS_DELAY,
            local_address: None,
        }
    }

    /// How long an attempt may stay undecided before the next one starts alongside
    /// it (default [`DEFAULT_HAPPY_EYEBALLS_DELAY`]). A very long delay gives one
    /// attempt at a time, like `std::net::TcpStream::connect`.
    ///
    /// # Examples
    ///
    /// See [`TcpConnect`].
    pub fn happy_eyeballs_delay(mut self, delay: Duration) -> TcpConnect<'a> {
        self.delay = delay;
        self
    }

    /// The local IP address to connect from (default: the system chooses). The
    /// port is still chosen by the system — on Linux, at connect time
    /// (`IP_BIND_ADDRESS_NO_PORT`), so local ports are not used up.
    ///
    /// An IPv4 address cannot reach IPv6 hosts and vice versa; the wildcards
    /// `0.0.0.0` and `::` restrict the connection to one family.
    ///
    /// # Examples
    ///
    /// See [`TcpConnect`].
    pub fn local_address(mut self, ip: IpAddr) -> TcpConnect<'a> {
        self.local_address = Some(ip);
        self
    }

    /// Resolves the host and connects.
    ///
    /// # Errors
    ///
    /// As [`open_tcp_stream`].
    ///
    /// # Cancellation
    ///
    /// As [`open_tcp_stream`].
    ///
    /// # Examples
    ///
    /// See [`TcpConnect`].
    pub async fn connect(self) -> Result<SocketStream> {
        let hints = AddrInfoHints {
            ty: Some(Type::STREAM),
            ..Default::default()
        };
        let targets = getaddrinfo(Some(self.host), self.port, hints).await?;
        if targets.is_empty() {
            return Err(Error::from(io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "no results found for hostname lookup: {}",
                    format_host_port(self.host, self.port)
                ),
            )));
        }
        let targets = interleave_families(targets);

        let failed: Vec<Event> = targets.iter().map(|_| Event::new()).collect();
        let errors: RefCell<Vec<Error>> = RefCell::new(Vec::new());
        let winner: RefCell<Option<Socket>> = RefCell::new(None);
        let done = CancelScope::new();
        let local = self.local_address;
        let (failed, errors, winner, done_ref, targets_ref) =
            (&failed, &errors, &winner, &done, &targets);
        done.run(open_nursery(async |n| {
            for (target, failed) in targets_ref.iter().zip(failed) {
                n.start_soon(attempt(target, local, failed, errors, winner, done_ref))?;
                // Give this attempt `delay` to succeed or fail before starting the
                // next one alongside it.
                move_on_after(self.delay, failed.wait()).await?;
            }
            Ok(())
        }))
        .await?;

        // Take the winner out first: if building the stream fails, it is closed.
        let winner = winner.borrow_mut().take();
        match winner {
            Some(sock) => SocketStream::from_socket(sock),
            None => {
                let errors = errors.take();
                debug_assert_eq!(errors.len(), targets.len());
                // Each attempt's reason, in the order they failed (a group does
                // not show in `Display`).
                let reasons: Vec<String> = errors.iter().filter_map(Error::detail).collect();
                let msg = format!(
                    "all attempts to connect to {} failed: {}",
                    format_host_port(self.host, self.port),
                    reasons.join("; ")
                );
                match Error::group(errors) {
                    Some(e) => Err(e.context(ErrorKind::Io, msg)),
                    None => Err(Error::new(ErrorKind::Io, msg)),
                }
            }
        }
    }
}

/// One attempt: connect to `target`; on success, become the winner and cancel
/// the rest; on an OS error, record it and let the next attempt start at once.
/// Other errors (including `Cancelled`) propagate.
async fn attempt(
    target: &AddrInfo,
    local: Option<IpAddr>,
    failed: &Event,
    errors: &RefCell<Vec<Error>>,
    winner: &RefCell<Option<Socket>>,
    done: &CancelScope,
) -> Result<()> {
    match connect_one(target, local).await {
        Ok(sock) => {
            let mut w = winner.borrow_mut();
            if w.is_none() {
                *w = Some(sock);
                done.cancel_with_reason("successfully found a socket");
            }
            // Otherwise another attempt won in the same instant: this socket is
            // dropped, which closes it.
            Ok(())
        }
        Err(e) if e.kind() == ErrorKind::Io => {
            errors.borrow_mut().push(e);
            failed.set();
            Ok(())
        }
        Err(e) => Err(e),
    }
}

async fn connect_one(target: &AddrInfo, local: Option<IpAddr>) -> Result<Socket> {
    // Dropped on any error below, which closes it.
    let sock = Socket::new(target.domain(), target.ty, target.protocol)?;
    if let Some(ip) = local {
        // Bind the address only; let connect pick the port, knowing the remote
        // end, so that local ports can be shared across destinations.
        if let Some((level, option)) = crate::sys::socket::IP_BIND_ADDRESS_NO_PORT {
            let _ = sock.set_option(level, option, 1);
        }
        if let Err(e) = sock.bind(SocketAddr::new(ip, 0)) {
            if e.kind() != ErrorKind::Io {
                return Err(e);
            }
            let msg = format!(
                "local_address={ip} is incompatible with remote address {}",
                target.addr
            );
            return Err(e.context(ErrorKind::Io, msg));
        }
    }
    sock.connect(target.addr).await?;
    Ok(sock)
}

/// `host:port`, with brackets around IPv6 addresses.
fn format_host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// RFC 8305 section 4: alternate address families, starting with the family of
/// the first address, keeping the order within each family.
fn interleave_families(targets: Vec<AddrInfo>) -> Vec<AddrInfo> {
    let Some(first) = targets.first().map(AddrInfo::domain) else {
        return targets;
    };
    let (mut same, mut other): (Vec<_>, Vec<_>) =
        targets.into_iter().partition(|t| t.domain() == first);
    let mut out = Vec::with_capacity(same.len() + other.len());
    same.reverse();
    other.reverse();
    loop {
        match (same.pop(), other.pop()) {
            (None, None) => return out,
            (a, b) => out.extend(a.into_iter().chain(b)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake4(i: u8) -> AddrInfo {
        AddrInfo::new(SocketAddr::from(([10, 0, 0, i], 80)), Type::STREAM, None)
    }

    fn fake6(i: u16) -> AddrInfo {
        AddrInfo::new(
            SocketAddr::from(([0, 0, 0, 0, 0, 0, 0, i], 80)),
            Type::STREAM,
            None,
        )
    }

    // Ported from Trio's test_reorder_for_rfc_6555_section_5_4; the last case
    // differs on purpose: we interleave fully (RFC 8305), Trio only moves the first
    // address of the other family into second place.
    #[test]
    fn interleaves_address_families() {
        for homogeneous in [
            vec![fake4(0), fake4(1), fake4(2)],
            vec![fake6(0), fake6(1), fake6(2)],
        ] {
            assert_eq!(interleave_families(homogeneous.clone()), homogeneous);
        }
        assert_eq!(interleave_families(vec![fake4(0)]), vec![fake4(0)]);
        assert_eq!(interleave_families(vec![]), vec![]);

        let orig = vec![fake4(0), fake6(0), fake4(1), fake6(1)];
        assert_eq!(interleave_families(orig.clone()), orig);

        let targets = vec![fake4(0), fake4(1), fake4(2), fake6(0), fake6(1)];
        // Trio: [fake4(0), fake6(0), fake4(1), fake4(2), fake6(1)]
        assert_eq!(
            interleave_families(targets),
            vec![fake4(0), fake6(0), fake4(1), fake6(1), fake4(2)]
        );
        // The case RFC 6555 section 5.4 is about comes out the same either way.
        assert_eq!(
            interleave_families(vec![fake4(0), fake4(1), fake6(0)]),
            vec![fake4(0), fake6(0), fake4(1)]
        );
    }

    // Ported from Trio's test_format_host_port (str ports and bytes hosts do not
    // exist here).
    #[test]
    fn formats_host_and_port() {
        assert_eq!(format_host_port("127.0.0.1", 80), "127.0.0.1:80");
        assert_eq!(format_host_port("example.com", 443), "example.com:443");
        assert_eq!(format_host_port("::1", 80), "[::1]:80");
    }
}
