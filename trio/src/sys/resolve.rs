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
        #[cfg(unix)]
        // SAFETY: `gai_strerror` returns a pointer to a static, NUL-terminated
        // string for any code.
        let msg = unsafe { CStr::from_ptr(libc::gai_strerror(self.code)) }
            .to_string_lossy()
            .into_owned();
        // Windows' resolver errors are socket error numbers.
        #[cfg(windows)]
        let msg = io::Error::from_raw_os_error(self.code).to_string();
        write!(f, "{msg} (getaddrinfo error {})", self.code)
    }
}

/// The resolver's flags and error codes, by platform (`AI_*`, `EAI_NONAME`).
pub(crate) mod gai {
    #[cfg(unix)]
    pub(crate) use libc::{AI_NUMERICHOST, AI_NUMERICSERV, AI_PASSIVE, EAI_NONAME};
    #[cfg(windows)]
    use windows_sys::Win32::Networking::WinSock as ws;
    #[cfg(windows)]
    pub(crate) const AI_NUMERICHOST: i32 = ws::AI_NUMERICHOST as i32;
    #[cfg(windows)]
    pub(crate) const AI_NUMERICSERV: i32 = ws::AI_NUMERICSERV as i32;
    #[cfg(windows)]
    pub(crate) const AI_PASSIVE: i32 = ws::AI_PASSIVE as i32;
    #[cfg(windows)]
    pub(crate) const EAI_NONAME: i32 = ws::WSAHOST_NOT_FOUND;
}

impl std::error::Error for GaiError {}

/// One blocking `getaddrinfo(3)` call.
#[cfg(unix)]
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

#[cfg(unix)]
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

/// One blocking `getaddrinfo` call (Windows: the same resolver, through
/// `ws2_32`, with `ADDRINFOA`).
#[cfg(windows)]
pub(crate) fn system_getaddrinfo(
    host: Option<&CStr>,
    port: u16,
    hints: AddrInfoHints,
) -> io::Result<Vec<AddrInfo>> {
    use windows_sys::Win32::Networking::WinSock as ws;
    wsa_startup();
    let service = CString::new(port.to_string()).expect("digits have no NUL");
    // SAFETY: an all-zero `ADDRINFOA` is the documented "no hints" value.
    let mut h: ws::ADDRINFOA = unsafe { std::mem::zeroed() };
    h.ai_family = hints.domain.map_or(ws::AF_UNSPEC as i32, i32::from);
    h.ai_socktype = hints.ty.map_or(0, i32::from);
    h.ai_protocol = hints.protocol.map_or(0, i32::from);
    h.ai_flags = hints.flags;
    let mut res: *mut ws::ADDRINFOA = std::ptr::null_mut();
    // SAFETY: valid NUL-terminated strings (or null for no host), valid hints, and
    // an out-pointer; on success `res` is a list we free below.
    let rc = unsafe {
        ws::getaddrinfo(
            host.map_or(std::ptr::null(), |h| h.as_ptr().cast()),
            service.as_ptr().cast(),
            &h,
            &mut res,
        )
    };
    if rc != 0 {
        let kind = if rc == ws::WSAHOST_NOT_FOUND {
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
        // SAFETY: `ai_addr` and `ai_addrlen` describe the node's address.
        if let Some(addr) = unsafe { sockaddr_to_std(ai.ai_addr.cast(), ai.ai_addrlen) } {
            let canonical_name = if ai.ai_canonname.is_null() {
                None
            } else {
                // SAFETY: a NUL-terminated string owned by the list, not yet freed.
                let name = unsafe { CStr::from_ptr(ai.ai_canonname.cast()) };
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
    unsafe { ws::freeaddrinfo(res) };
    Ok(out)
}

/// Windows: an address `getaddrinfo` gave, as std's.
///
/// # Safety
///
/// `addr` points to `len` readable bytes of a socket address (or is null).
#[cfg(windows)]
unsafe fn sockaddr_to_std(addr: *const u8, len: usize) -> Option<SocketAddr> {
    use windows_sys::Win32::Networking::WinSock as ws;
    if addr.is_null() || len < 2 {
        return None;
    }
    // SAFETY: at least two bytes are readable (checked above): the family.
    let family = unsafe { std::ptr::read_unaligned(addr.cast::<u16>()) };
    match family {
        ws::AF_INET if len >= std::mem::size_of::<ws::SOCKADDR_IN>() => {
            // SAFETY: the family and length say this is a `SOCKADDR_IN`.
            let sin = unsafe { std::ptr::read_unaligned(addr.cast::<ws::SOCKADDR_IN>()) };
            // SAFETY: every field of the address union is a view of the same
            // four bytes.
            let ip = unsafe { sin.sin_addr.S_un.S_addr };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(ip)),
                u16::from_be(sin.sin_port),
            )))
        }
        ws::AF_INET6 if len >= std::mem::size_of::<ws::SOCKADDR_IN6>() => {
            // SAFETY: as above, for `SOCKADDR_IN6`.
            let sin6 = unsafe { std::ptr::read_unaligned(addr.cast::<ws::SOCKADDR_IN6>()) };
            // SAFETY: as above: views of the same sixteen bytes, and of the
            // same four bytes of scope.
            let (octets, scope) = unsafe { (sin6.sin6_addr.u.Byte, sin6.Anonymous.sin6_scope_id) };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(octets),
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                scope,
            )))
        }
        _ => None,
    }
}

/// Windows sockets must be started once per process before use; std and socket2
/// do it on their first socket, but a lookup may come first.
#[cfg(windows)]
fn wsa_startup() {
    static STARTED: std::sync::Once = std::sync::Once::new();
    STARTED.call_once(|| {
        // Making (and dropping) a socket through std runs `WSAStartup` once and
        // for all, as std does for every program that uses sockets.
        let _ = std::net::UdpSocket::bind("127.0.0.1:0");
    });
}
