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
//! | | Linux | FreeBSD | macOS |
//! |---|---|---|---|
//! | status | the reference: developed, tested and benchmarked there | type-checked and linted in CI | type-checked and linted in CI |
//! | child exit | pidfd (5.3+), else a helper thread in `waitid(WNOWAIT)` | helper thread | helper thread |
//! | signalling a child | `pidfd_send_signal` (never a recycled pid) | `kill` after a non-blocking reap | same as FreeBSD |
//! | pinning loops to CPUs | `sched_setaffinity` | `cpuset_setaffinity` | not possible: loops run unpinned |
//! | spreading connections among listeners | `SO_REUSEPORT` (+ `SO_INCOMING_CPU` on pinned loops) | `SO_REUSEPORT_LB` | shared port, no balancing |
//! | `SIGPIPE` | `MSG_NOSIGNAL` on each send | `MSG_NOSIGNAL` | `SO_NOSIGPIPE` on each socket |
//! | an adopted socket's family | `SO_DOMAIN` | its local address (bind or connect it first) | same as FreeBSD |
//! | thread names | `pthread_setname_np` | `pthread_setname_np` | the calling thread only |
//! | signal numbers | 1–64 | 1–126 | 1–31 |
//!
//! Windows (type-checked, and `trio::process` tested under Wine) watches no
//! child or pipe in the reactor, which takes sockets only: a child is its process
//! handle, waited for by a helper thread (`process.rs`), and each pipe stream has
//! a thread that makes its blocking calls (`handle.rs`).
//!
//! The core uses no system call of its own: its reactor is mio's (epoll,
//! kqueue) and its Ctrl-C handling signal-hook's.

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
