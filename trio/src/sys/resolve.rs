//! The system's name resolver: one blocking `getaddrinfo(3)` call, and the
//! vocabulary of its answers (re-exported by `trio::net::socket`).
//!
//! Contract: [`system_getaddrinfo`] blocks (call it on a worker thread unless
//! the hints say `AI_NUMERICHOST | AI_NUMERICSERV`); it returns the IPv4 and
//! IPv6 answers in the system's order, skipping other families; a resolver
//! failure is an `io::Error` wrapping a [`GaiError`] (kind `NotFound` for
//! `EAI_NONAME`), a system failure (`EAI_SYSTEM`) the OS error itself.

use std::ffi::{CStr, CString};
use std::fmt;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use socket2::{Domain, Protocol, Type};

/// One answer of [`getaddrinfo`](crate::net::socket::getaddrinfo): an address, and the kind of socket to use with it.
///
/// # Examples
///
/// ```
/// use trio::net::socket::{AddrInfo, Domain, Type};
/// let ai = AddrInfo::new("127.0.0.1:80".parse().unwrap(), Type::STREAM, None);
/// assert_eq!(ai.domain(), Domain::IPV4);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AddrInfo {
    /// The address (with the port).
    pub addr: SocketAddr,
    /// The socket type to use.
    pub ty: Type,
    /// The protocol to use (`None`: the default for the type).
    pub protocol: Option<Protocol>,
    /// The canonical name, when asked for with `AI_CANONNAME`.
    pub canonical_name: Option<String>,
}

impl AddrInfo {
    /// An answer for `addr` (for custom resolvers).
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::net::socket::{AddrInfo, Protocol, Type};
    /// let ai = AddrInfo::new("[::1]:443".parse().unwrap(), Type::STREAM, Some(Protocol::TCP));
    /// assert_eq!(ai.canonical_name, None);
    /// ```
    pub fn new(addr: SocketAddr, ty: Type, protocol: Option<Protocol>) -> AddrInfo {
        AddrInfo {
            addr,
            ty,
            protocol,
            canonical_name: None,
        }
    }

    /// The address family of [`addr`](Self::addr).
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::net::socket::{AddrInfo, Domain, Type};
    /// let ai = AddrInfo::new("[::1]:443".parse().unwrap(), Type::STREAM, None);
    /// assert_eq!(ai.domain(), Domain::IPV6);
    /// ```
    pub fn domain(&self) -> Domain {
        Domain::for_address(self.addr)
    }
}

/// What [`getaddrinfo`](crate::net::socket::getaddrinfo) should look for (the `hints` of `getaddrinfo(3)`); the
/// default asks for everything.
///
/// # Examples
///
/// ```
/// use trio::net::socket::{AddrInfoHints, Type};
/// let hints = AddrInfoHints { ty: Some(Type::STREAM), flags: libc::AI_PASSIVE, ..Default::default() };
/// assert!(hints.domain.is_none());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AddrInfoHints {
    /// Only this family (`None`: `AF_UNSPEC`).
    pub domain: Option<Domain>,
    /// Only this socket type (`None`: any).
    pub ty: Option<Type>,
    /// Only this protocol (`None`: any).
    pub protocol: Option<Protocol>,
    /// `AI_*` flags, such as `AI_PASSIVE`.
    pub flags: i32,
}

/// A `getaddrinfo(3)` failure other than a system error (Python's `gaierror`): the
/// `EAI_*` code and its description. Found inside the [`std::io::Error`] that
/// [`getaddrinfo`](crate::net::socket::getaddrinfo)'s error wraps.
///
/// # Examples
///
/// ```
/// use trio::net::socket::GaiError;
/// let e = GaiError::new(libc::EAI_NONAME);
/// assert_eq!(e.code(), libc::EAI_NONAME);
/// assert!(!e.to_string().is_empty());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GaiError {
    code: i32,
}

impl GaiError {
    /// The error for an `EAI_*` code.
    ///
    /// # Examples
    ///
    /// See [`GaiError`].
    pub fn new(code: i32) -> GaiError {
        GaiError { code }
    }

    /// The `EAI_*` code.
    ///
    /// # Examples
    ///
    /// See [`GaiError`].
    pub fn code(&self) -> i32 {
        self.code
    }
}

impl fmt::Display for GaiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // SAFETY: `gai_strerror` returns a pointer to a static, NUL-terminated
        // string for any code.
        let msg = unsafe { CStr::from_ptr(libc::gai_strerror(self.code)) };
        write!(
            f,
            "{} (getaddrinfo error {})",
            msg.to_string_lossy(),
            self.code
        )
    }
}

impl std::error::Error for GaiError {}

/// One blocking `getaddrinfo(3)` call.
pub(crate) fn system_getaddrinfo(
    host: Option<&CStr>,
    port: u16,
    hints: AddrInfoHints,
) -> io::Result<Vec<AddrInfo>> {
    let service = CString::new(port.to_string()).expect("digits have no NUL");
    // SAFETY: an all-zero `addrinfo` is the documented "no hints" value.
    let mut h: libc::addrinfo = unsafe { std::mem::zeroed() };
    h.ai_family = hints.domain.map_or(libc::AF_UNSPEC, libc::c_int::from);
    h.ai_socktype = hints.ty.map_or(0, libc::c_int::from);
    h.ai_protocol = hints.protocol.map_or(0, libc::c_int::from);
    h.ai_flags = hints.flags;
    let mut res: *mut libc::addrinfo = std::ptr::null_mut();
    // SAFETY: valid NUL-terminated strings (or null for no host), valid hints, and
    // an out-pointer; on success `res` is a list we free below.
    let rc = unsafe {
        libc::getaddrinfo(
            host.map_or(std::ptr::null(), CStr::as_ptr),
            service.as_ptr(),
            &h,
            &mut res,
        )
    };
    if rc != 0 {
        if rc == libc::EAI_SYSTEM {
            return Err(io::Error::last_os_error());
        }
        let kind = if rc == libc::EAI_NONAME {
            io::ErrorKind::NotFound
        } else {
            io::ErrorKind::Other
        };
        return Err(io::Error::new(kind, GaiError::new(rc)));
    }
    let mut out = Vec::new();
    let mut cur = res;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list `getaddrinfo` returned, not yet freed.
        let ai = unsafe { &*cur };
        if let Some(addr) = sockaddr_to_std(ai) {
            let canonical_name = if ai.ai_canonname.is_null() {
                None
            } else {
                // SAFETY: a NUL-terminated string owned by the list, not yet freed.
                let name = unsafe { CStr::from_ptr(ai.ai_canonname) };
                Some(name.to_string_lossy().into_owned())
            };
            out.push(AddrInfo {
                addr,
                ty: Type::from(ai.ai_socktype),
                protocol: (ai.ai_protocol != 0).then(|| Protocol::from(ai.ai_protocol)),
                canonical_name,
            });
        }
        cur = ai.ai_next;
    }
    // SAFETY: `res` came from a successful `getaddrinfo` and is freed once.
    unsafe { libc::freeaddrinfo(res) };
    Ok(out)
}

fn sockaddr_to_std(ai: &libc::addrinfo) -> Option<SocketAddr> {
    if ai.ai_addr.is_null() {
        return None;
    }
    match ai.ai_family {
        libc::AF_INET if ai.ai_addrlen as usize >= std::mem::size_of::<libc::sockaddr_in>() => {
            // SAFETY: the family and length say this is a `sockaddr_in`; read
            // unaligned to make no assumption about the allocation.
            let sin = unsafe { std::ptr::read_unaligned(ai.ai_addr as *const libc::sockaddr_in) };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)),
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 if ai.ai_addrlen as usize >= std::mem::size_of::<libc::sockaddr_in6>() => {
            // SAFETY: as above, for `sockaddr_in6`.
            let sin6 = unsafe { std::ptr::read_unaligned(ai.ai_addr as *const libc::sockaddr_in6) };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}
