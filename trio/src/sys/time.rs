//! The system's monotonic clock, read cheaply.
//!
//! Contract: [`monotonic_nanos`] returns nanoseconds on a clock that never goes
//! backwards and does not jump with the wall clock (the one
//! `std::time::Instant` uses: `CLOCK_MONOTONIC` on Linux and FreeBSD,
//! `CLOCK_UPTIME_RAW` on macOS, the performance counter on Windows), from an
//! unspecified origin; it does not fail.
//! It is one `clock_gettime` (a vDSO call on Linux, no system call) and an
//! add: about a third of the instructions of `Instant::now` plus the
//! `Duration` arithmetic to turn it into trio time.

/// The monotonic clock in nanoseconds (see the module's contract).
#[cfg(unix)]
#[inline]
pub(crate) fn monotonic_nanos() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable `timespec`; the clock id is one every
    // supported system has. clock_gettime cannot fail for them (EINVAL would
    // need a bad id, EFAULT a bad pointer), and on failure `ts` stays zero.
    unsafe { libc::clock_gettime(CLOCK, &mut ts) };
    // `time_t` and `c_long` are 32 bits wide on some targets.
    #[allow(clippy::useless_conversion)]
    let (secs, nanos) = (i64::from(ts.tv_sec), i64::from(ts.tv_nsec));
    secs * 1_000_000_000 + nanos
}

#[cfg(all(unix, not(target_vendor = "apple")))]
const CLOCK: libc::clockid_t = libc::CLOCK_MONOTONIC;
#[cfg(target_vendor = "apple")]
const CLOCK: libc::clockid_t = libc::CLOCK_UPTIME_RAW;

/// The monotonic clock in nanoseconds (see the module's contract): on Windows,
/// std's `Instant` (the performance counter) since the first reading.
#[cfg(windows)]
pub(crate) fn monotonic_nanos() -> i64 {
    static ORIGIN: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    let origin = *ORIGIN.get_or_init(std::time::Instant::now);
    // Plus a day, so that "a moment ago" is never a negative reading.
    origin.elapsed().as_nanos() as i64 + 86_400_000_000_000
}
