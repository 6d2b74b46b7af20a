//! The platform layer: every call into the operating system that is not a
//! portable crate's (mio, socket2, std) lives here, one file per concern, each
//! with its contract — what it promises on every supported system — at the top,
//! and the per-system choices (`cfg`) inside it. The rest of trio calls these
//! functions and never names a system.
//!
//! | file | concern |
//! |---|---|
//! | `affinity.rs` | pinning the calling thread to a CPU |
//! | `source.rs` | what the reactor watches (a raw fd, a raw socket) and how it registers it |
//! | `fd.rs` | plain file descriptors: pipes, non-blocking mode, `read`, `write`, `poll` (Unix) |
//! | `handle.rs` | Windows handles: pipes, blocking reads and writes another thread can interrupt, events (Windows) |
//! | `process.rs` | children: pidfds, `waitid`/`waitpid`, signalling a child; process handles on Windows |
//! | `resolve.rs` | the system's name resolver (`getaddrinfo`) |
//! | `signal.rs` | signal numbers, which signals can be received, dispositions |
//! | `socket.rs` | socket options and behaviours that differ between systems |
//! | `thread.rs` | naming the calling thread |
//! | `time.rs` | the monotonic clock, read cheaply |
//!
//! # Supported systems, and what differs
//!
//! | | Linux | FreeBSD | macOS | Windows |
//! |---|---|---|---|---|
//! | status | the reference: developed, tested and benchmarked there | type-checked and linted in CI | type-checked and linted in CI | linted, and tested under Wine, in CI |
//! | what the reactor watches | fds (epoll) | fds (kqueue) | fds (kqueue) | sockets only (mio's `\Device\Afd` polling): `source.rs` re-arms each after a report |
//! | child exit | pidfd (5.3+), else a helper thread in `waitid(WNOWAIT)` | helper thread | helper thread | a helper thread waiting on the process handle |
//! | signalling a child | `pidfd_send_signal` (never a recycled pid) | `kill` after a non-blocking reap | same as FreeBSD | `TerminateProcess` only |
//! | pipes to children | non-blocking fds in the reactor (`fd.rs`) | same | same | a helper thread per stream, blocking calls another thread can interrupt (`handle.rs`) |
//! | pinning loops to CPUs | `sched_setaffinity` | `cpuset_setaffinity` | not possible: loops run unpinned | not done: loops run unpinned |
//! | spreading connections among listeners | `SO_REUSEPORT` (+ `SO_INCOMING_CPU` on pinned loops) | `SO_REUSEPORT_LB` | shared port, no balancing | no port sharing (and never `SO_REUSEADDR`, which would let another socket take the port) |
//! | `SIGPIPE` | `MSG_NOSIGNAL` on each send | `MSG_NOSIGNAL` | `SO_NOSIGPIPE` on each socket | none to avoid |
//! | `socketpair` | the system's | the system's | the system's | two TCP sockets connected over loopback |
//! | an adopted socket's family | `SO_DOMAIN` | its local address (bind or connect it first) | same as FreeBSD | same as FreeBSD |
//! | name resolution | `getaddrinfo` | `getaddrinfo` | `getaddrinfo` | `getaddrinfo` from ws2_32 |
//! | thread names | `pthread_setname_np` | `pthread_setname_np` | the calling thread only | not named |
//! | signal numbers | 1–64 | 1–126 | 1–31 | no signals (`signal.rs` is Unix only) |
//!
//! The core uses no system call of its own: its reactor is mio's and its Ctrl-C
//! handling signal-hook's (a console control handler on Windows, `core/ki.rs`).

pub(crate) mod affinity;
#[cfg(unix)]
pub(crate) mod fd;
#[cfg(windows)]
pub(crate) mod handle;
pub(crate) mod process;
pub(crate) mod resolve;
#[cfg(unix)]
pub(crate) mod signal;
pub(crate) mod socket;
pub(crate) mod source;
pub(crate) mod thread;
pub(crate) mod time;
