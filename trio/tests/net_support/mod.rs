//! Helpers for the `net_*` tests (`mod net_support;` in each file that uses them).

#![allow(dead_code)]

/// The number of open file descriptors of this process (Linux; `/dev/fd`
/// elsewhere).
#[cfg(unix)]
pub fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .or_else(|_| std::fs::read_dir("/dev/fd"))
        .unwrap()
        .count()
}

/// The open fds once trio's process-wide helpers exist (the process's first
/// run starts some, such as the Ctrl-C wake-up): the baseline a test compares
/// with after its own runs.
#[cfg(unix)]
pub fn fd_baseline() -> usize {
    trio::run(async { Ok(()) }).unwrap();
    fd_count()
}

/// A small seeded random source (xorshift64*), to pick cases in stress tests.
pub struct Rng(std::cell::Cell<u64>);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(std::cell::Cell::new(seed | 1))
    }

    pub fn next(&self) -> u64 {
        let mut x = self.0.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0.set(x);
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A random deadline below `max_us` microseconds: mostly short enough to
    /// land while an operation waits.
    pub fn deadline(&self, max_us: u64) -> std::time::Duration {
        std::time::Duration::from_micros(self.next() % max_us)
    }
}

/// Runs `f` on a fresh run of `backend`, or returns `None` (saying so) where
/// this host does not have it.
pub fn run_on_backend<T>(
    backend: trio::lowlevel::IoBackend,
    f: impl std::future::Future<Output = trio::Result<T>>,
) -> Option<T> {
    use trio::lowlevel::current_io_backend;
    let got = trio::Runtime::builder()
        .io_backend(backend)
        .build()
        .run(async { Ok::<_, trio::Error>(current_io_backend()) })
        .unwrap();
    if got != backend {
        println!("{backend:?} unavailable here: skipped");
        return None;
    }
    Some(
        trio::Runtime::builder()
            .io_backend(backend)
            .build()
            .run(f)
            .unwrap(),
    )
}

/// How many of [`random_attempt`]'s operations were cancelled, and how many
/// dropped.
#[derive(Default)]
pub struct Attempts {
    pub cancelled: std::cell::Cell<usize>,
    pub dropped: std::cell::Cell<usize>,
}

/// Runs `f` as the stress tests do: one time in four polled once and dropped
/// unless it finished at once (a checkpoint follows); otherwise under the
/// deadline `deadline` gives. Its value, or `None` (counted in `attempts`)
/// if it was cancelled or dropped.
pub async fn random_attempt<T>(
    rng: &Rng,
    attempts: &Attempts,
    deadline: impl FnOnce() -> std::time::Duration,
    f: impl std::future::Future<Output = trio::Result<T>>,
) -> trio::Result<Option<T>> {
    let count = |c: &std::cell::Cell<usize>| c.set(c.get() + 1);
    if rng.next() % 4 == 0 {
        let mut f = std::pin::pin!(f);
        match std::future::poll_fn(|cx| std::task::Poll::Ready(f.as_mut().poll(cx))).await {
            std::task::Poll::Ready(r) => Ok(Some(r?)),
            std::task::Poll::Pending => {
                count(&attempts.dropped);
                trio::lowlevel::checkpoint().await?;
                Ok(None)
            }
        }
    } else {
        let r = trio::move_on_after(deadline(), f).await?;
        if r.is_none() {
            count(&attempts.cancelled);
        }
        Ok(r)
    }
}

/// Runs `stress` on `backend` with each of the stress tests' seeds, then
/// checks that no fd was left open; skipped (saying so) where this host does
/// not have `backend`.
#[cfg(unix)]
pub fn stress_on_backend<F: std::future::Future<Output = trio::Result<()>>>(
    backend: trio::lowlevel::IoBackend,
    stress: impl Fn(u64) -> F,
) {
    let before = fd_baseline();
    for seed in [1, 0x5eed, 0xdead_beef] {
        if run_on_backend(backend, stress(seed)).is_none() {
            return;
        }
    }
    assert_eq!(fd_count(), before, "fds leaked");
}

/// Polls `f` once — it must wait (so that its operation is submitted) — and
/// drops it.
pub async fn poll_once_and_drop<F: std::future::Future>(f: F) {
    let mut f = std::pin::pin!(f);
    std::future::poll_fn(|cx| {
        assert!(
            f.as_mut().poll(cx).is_pending(),
            "it had nothing to wait for"
        );
        std::task::Poll::Ready(())
    })
    .await;
}

/// Waits (under a deadline) until the run's reactor holds no operation
/// (io_uring: every cancelled or dropped operation has had its last
/// completion; always at once on epoll).
pub async fn drained() -> trio::Result<()> {
    trio::fail_after(std::time::Duration::from_secs(10), async {
        while trio::lowlevel::current_statistics().io_ops_in_flight != 0 {
            trio::sleep(std::time::Duration::from_millis(1)).await?;
        }
        Ok(())
    })
    .await
}

/// Runs `f` on an io_uring reactor, or returns `None` (saying so) where the
/// kernel refuses io_uring.
#[cfg(target_os = "linux")]
pub fn run_uring<T>(f: impl std::future::Future<Output = trio::Result<T>>) -> Option<T> {
    use trio::lowlevel::{IoBackend, current_io_backend};
    let avail = trio::Runtime::builder()
        .io_backend(IoBackend::Auto)
        .build()
        .run(async { Ok::<_, trio::Error>(current_io_backend() == IoBackend::Uring) })
        .unwrap();
    if !avail {
        println!("io_uring unavailable here: skipped");
        return None;
    }
    Some(
        trio::Runtime::builder()
            .io_backend(IoBackend::Uring)
            .build()
            .run(f)
            .unwrap(),
    )
}

/// True when this Windows test binary runs under Wine, as CI runs the Windows
/// suite: Wine's `ntdll` exports `wine_get_version`, Windows' does not. For the
/// few behaviours where Wine differs from Windows (a lingering close sends no
/// reset, for one).
#[cfg(windows)]
pub fn under_wine() -> bool {
    use std::ffi::c_void;
    // kernel32's `GetModuleHandleA` and `GetProcAddress`. Calls to them are
    // unsafe and say why at each call.
    #[link(name = "kernel32")]
    // SAFETY: the declarations match those functions' signatures exactly.
    unsafe extern "system" {
        fn GetModuleHandleA(name: *const u8) -> *mut c_void;
        fn GetProcAddress(module: *mut c_void, name: *const u8) -> *mut c_void;
    }
    // SAFETY: both names are NUL-terminated literals; `ntdll` is loaded in
    // every Windows process, and GetProcAddress only reads its export table.
    unsafe {
        let ntdll = GetModuleHandleA(c"ntdll.dll".as_ptr().cast());
        !ntdll.is_null() && !GetProcAddress(ntdll, c"wine_get_version".as_ptr().cast()).is_null()
    }
}

/// Never under Wine off Windows.
#[cfg(not(windows))]
pub fn under_wine() -> bool {
    false
}

/// True if this host can bind `::1` (some containers have no IPv6).
pub fn can_bind_ipv6() -> bool {
    std::net::TcpListener::bind("[::1]:0").is_ok()
}

/// The OS error number inside a trio error, if any (through sources and the
/// inner errors of `io::Error`s).
pub fn os_error(e: &trio::Error) -> Option<i32> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(x) = cur {
        if let Some(io) = x.downcast_ref::<std::io::Error>() {
            if let Some(n) = io.raw_os_error() {
                return Some(n);
            }
            if let Some(inner) = io.get_ref() {
                cur = Some(inner);
                continue;
            }
        }
        cur = x.source();
    }
    None
}

/// The `io::ErrorKind` of the first `io::Error` inside a trio error.
pub fn io_kind(e: &trio::Error) -> Option<std::io::ErrorKind> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(x) = cur {
        if let Some(io) = x.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        cur = x.source();
    }
    None
}

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("trio-net-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    pub fn path(&self, name: &str) -> std::path::PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Makes closing `stream` send a reset (RST) instead of a clean FIN:
/// `SO_LINGER` with a zero timeout. Then drop it.
pub fn reset_on_close(stream: &trio::net::SocketStream) -> trio::Result<()> {
    stream
        .socket()
        .as_socket2(|s| s.set_linger(Some(std::time::Duration::ZERO)))
}

/// A connected pair of loopback TCP streams (client, server).
pub async fn tcp_pair() -> trio::Result<(trio::net::SocketStream, trio::net::SocketStream)> {
    let listener = trio::net::SocketListener::bind("127.0.0.1:0".parse().unwrap())?;
    let port = listener.local_addr()?.port();
    let c = trio::net::open_tcp_stream("127.0.0.1", port).await?;
    let s = trio::abc::Listener::accept(&listener).await?;
    Ok((c, s))
}
