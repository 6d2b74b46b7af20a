//! Time: trio's [`Instant`], the [`Clock`] trait and the system clock.
//!
//! Trio reads time from the run's clock, not from the OS directly, so that tests can
//! swap in a [`MockClock`](crate::testing::MockClock) and make hours pass in
//! microseconds. An [`Instant`] is a point on the run's clock; it only means
//! something inside the run that produced it.

use std::fmt;
use std::ops::{Add, Sub};
use std::time::Duration;

/// A point in time on the run's clock, with nanosecond resolution, plus the two
/// infinities Trio uses for "no deadline" and "already cancelled".
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use trio::Instant;
/// let t = Instant::ZERO + Duration::from_secs(2);
/// assert_eq!(t - Instant::ZERO, Duration::from_secs(2));
/// assert!(t < Instant::INFINITY);
/// assert_eq!(Instant::INFINITY + Duration::from_secs(1), Instant::INFINITY);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant {
    nanos: i64,
}

impl Instant {
    /// The clock's origin.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::Instant;
    /// assert_eq!(Instant::ZERO.as_nanos(), 0);
    /// assert_eq!(Instant::from_nanos(0), Instant::ZERO);
    /// // Virtual time on a MockClock starts here.
    /// assert_eq!(trio::testing::MockClock::new().current_time(), Instant::ZERO);
    /// ```
    pub const ZERO: Instant = Instant { nanos: 0 };
    /// Later than every other instant: "no deadline".
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::Instant;
    /// assert!(Instant::from_nanos(i64::MAX - 1) < Instant::INFINITY);
    /// assert_eq!(Instant::INFINITY.as_secs_f64(), f64::INFINITY);
    /// // A fresh cancel scope has no deadline.
    /// assert_eq!(trio::CancelScope::new().deadline(), Instant::INFINITY);
    /// ```
    pub const INFINITY: Instant = Instant { nanos: i64::MAX };
    /// Earlier than every other instant: the effective deadline of cancelled code.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::Instant;
    /// assert!(Instant::NEG_INFINITY < Instant::from_nanos(i64::MIN + 1));
    /// # trio::run(async {
    /// let scope = trio::CancelScope::new();
    /// scope.cancel();
    /// scope.run(async {
    ///     assert_eq!(trio::current_effective_deadline(), Instant::NEG_INFINITY);
    ///     Ok::<_, trio::Error>(())
    /// }).await?;
    /// # Ok(()) }).unwrap();
    /// ```
    pub const NEG_INFINITY: Instant = Instant { nanos: i64::MIN };

    /// The instant `nanos` nanoseconds after the origin (negative: before).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trio::Instant::from_nanos(1_000_000_000).as_secs_f64(), 1.0);
    /// ```
    pub const fn from_nanos(nanos: i64) -> Instant {
        Instant { nanos }
    }

    /// The instant `secs` seconds after the origin; saturates to the infinities.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trio::Instant::from_secs_f64(1.5).as_nanos(), 1_500_000_000);
    /// assert_eq!(trio::Instant::from_secs_f64(f64::INFINITY), trio::Instant::INFINITY);
    /// ```
    pub fn from_secs_f64(secs: f64) -> Instant {
        let n = secs * 1e9;
        if n >= i64::MAX as f64 {
            Instant::INFINITY
        } else if n <= i64::MIN as f64 {
            Instant::NEG_INFINITY
        } else {
            Instant { nanos: n as i64 }
        }
    }

    /// Nanoseconds since the origin.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use trio::Instant;
    /// assert_eq!((Instant::ZERO + Duration::from_micros(3)).as_nanos(), 3_000);
    /// assert_eq!((Instant::ZERO - Duration::from_secs(1)).as_nanos(), -1_000_000_000);
    /// ```
    pub const fn as_nanos(self) -> i64 {
        self.nanos
    }

    /// Seconds since the origin as a float (the infinities map to ±∞).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use trio::Instant;
    /// assert_eq!((Instant::ZERO + Duration::from_millis(1500)).as_secs_f64(), 1.5);
    /// assert_eq!(Instant::from_nanos(-250_000_000).as_secs_f64(), -0.25);
    /// assert_eq!(Instant::NEG_INFINITY.as_secs_f64(), f64::NEG_INFINITY);
    /// ```
    pub fn as_secs_f64(self) -> f64 {
        match self {
            Instant::INFINITY => f64::INFINITY,
            Instant::NEG_INFINITY => f64::NEG_INFINITY,
            _ => self.nanos as f64 / 1e9,
        }
    }

    /// Nanoseconds (computed wide) to an instant, saturating to the infinities.
    fn clamp(nanos: i128) -> Instant {
        if nanos >= i64::MAX as i128 {
            Instant::INFINITY
        } else if nanos <= i64::MIN as i128 {
            Instant::NEG_INFINITY
        } else {
            Instant {
                nanos: nanos as i64,
            }
        }
    }

    /// True for neither infinity.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::Instant;
    /// assert!(Instant::ZERO.is_finite());
    /// assert!(Instant::from_nanos(i64::MAX - 1).is_finite());
    /// assert!(!Instant::INFINITY.is_finite());
    /// assert!(!Instant::NEG_INFINITY.is_finite());
    /// ```
    pub const fn is_finite(self) -> bool {
        self.nanos != i64::MAX && self.nanos != i64::MIN
    }

    /// `self + d`, saturating at [`Instant::INFINITY`]; the infinities stay put.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use trio::Instant;
    /// let t = Instant::ZERO.saturating_add(Duration::from_secs(2));
    /// assert_eq!(t.as_secs_f64(), 2.0);
    /// let near_end = Instant::from_nanos(i64::MAX - 10);
    /// assert_eq!(near_end.saturating_add(Duration::from_secs(1)), Instant::INFINITY);
    /// assert_eq!(Instant::NEG_INFINITY.saturating_add(Duration::from_secs(1)), Instant::NEG_INFINITY);
    /// ```
    pub fn saturating_add(self, d: Duration) -> Instant {
        if !self.is_finite() {
            return self;
        }
        Instant::clamp(self.nanos as i128 + d.as_nanos() as i128)
    }

    /// `self - d`, saturating at [`Instant::NEG_INFINITY`]; the infinities stay put.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use trio::Instant;
    /// let t = Instant::from_nanos(5_000).saturating_sub(Duration::from_nanos(7_000));
    /// assert_eq!(t.as_nanos(), -2_000);
    /// let near_start = Instant::from_nanos(i64::MIN + 10);
    /// assert_eq!(near_start.saturating_sub(Duration::from_secs(1)), Instant::NEG_INFINITY);
    /// assert_eq!(Instant::INFINITY.saturating_sub(Duration::from_secs(1)), Instant::INFINITY);
    /// ```
    pub fn saturating_sub(self, d: Duration) -> Instant {
        if !self.is_finite() {
            return self;
        }
        Instant::clamp(self.nanos as i128 - d.as_nanos() as i128)
    }

    /// The time from `earlier` to `self`, zero if `earlier` is later.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use trio::Instant;
    /// let a = Instant::ZERO + Duration::from_secs(1);
    /// let b = Instant::ZERO + Duration::from_secs(3);
    /// assert_eq!(b.saturating_duration_since(a), Duration::from_secs(2));
    /// assert_eq!(a.saturating_duration_since(b), Duration::ZERO);
    /// assert_eq!(Instant::INFINITY.saturating_duration_since(a), Duration::MAX);
    /// ```
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        if self <= earlier {
            return Duration::ZERO;
        }
        if self == Instant::INFINITY || earlier == Instant::NEG_INFINITY {
            return Duration::MAX;
        }
        Duration::from_nanos(self.nanos.abs_diff(earlier.nanos))
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, d: Duration) -> Instant {
        self.saturating_add(d)
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;
    fn sub(self, d: Duration) -> Instant {
        self.saturating_sub(d)
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    /// The duration between two instants, zero if `rhs` is later.
    fn sub(self, rhs: Instant) -> Duration {
        self.saturating_duration_since(rhs)
    }
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Instant::INFINITY => f.write_str("Instant(inf)"),
            Instant::NEG_INFINITY => f.write_str("Instant(-inf)"),
            _ => write!(f, "Instant({:.9}s)", self.as_secs_f64()),
        }
    }
}

impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// The source of time for a run (Trio's `trio.abc.Clock`).
///
/// The run loop asks the clock what time it is and how long to sleep until a
/// deadline. Install one with [`Builder::clock`](crate::Builder::clock).
///
/// # Examples
///
/// A clock that runs twice as fast as real time:
///
/// ```
/// use std::time::Duration;
/// struct Fast(std::time::Instant);
/// impl trio::Clock for Fast {
///     fn current_time(&self) -> trio::Instant {
///         trio::Instant::ZERO + self.0.elapsed() * 2
///     }
///     fn deadline_to_sleep_time(&self, deadline: trio::Instant) -> Duration {
///         (deadline - self.current_time()) / 2
///     }
/// }
/// let rt = trio::Runtime::builder().clock(Fast(std::time::Instant::now())).build();
/// rt.run(async {
///     let t0 = trio::current_time();
///     trio::sleep(Duration::from_millis(20)).await?;
///     assert!(trio::current_time() - t0 >= Duration::from_millis(20));
///     Ok::<_, trio::Error>(())
/// }).unwrap();
/// ```
pub trait Clock: 'static {
    /// Called once, when the run starts.
    fn start_clock(&self) {}

    /// The current time.
    fn current_time(&self) -> Instant;

    /// How long the run loop should block, in real time, to reach `deadline`.
    fn deadline_to_sleep_time(&self, deadline: Instant) -> Duration;

    /// For virtual clocks: when every task has been blocked this long (in real
    /// time), the run loop calls [`autojump`](Self::autojump). `None`: never.
    fn autojump_threshold(&self) -> Option<Duration> {
        None
    }

    /// For virtual clocks: jump forward to `deadline`, the next one pending.
    fn autojump(&self, deadline: Instant) {
        let _ = deadline;
    }
}

/// The default clock: monotonic OS time with a random offset, so that code which
/// confuses trio time with wall time fails early (as in Trio).
///
/// # Examples
///
/// ```
/// use trio::Clock;
/// let c = trio::SystemClock::new();
/// let a = c.current_time();
/// assert!(c.current_time() >= a);
/// ```
#[derive(Debug, Clone)]
pub struct SystemClock {
    /// The system's monotonic reading (`sys::time::monotonic_nanos`) that is
    /// trio time zero: the reading at creation minus the random offset.
    zero: i64,
}

impl SystemClock {
    /// A system clock whose origin lies 10,000 to 200,000 seconds in the past.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use trio::{Clock, Instant};
    /// let now = trio::SystemClock::new().current_time();
    /// assert!(now >= Instant::ZERO + Duration::from_secs(10_000));
    /// assert!(now < Instant::ZERO + Duration::from_secs(200_001));
    /// ```
    pub fn new() -> SystemClock {
        let offset = fastrand::i64(10_000..200_000) * 1_000_000_000;
        SystemClock {
            zero: crate::sys::time::monotonic_nanos() - offset,
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock::new()
    }
}

impl Clock for SystemClock {
    #[inline]
    fn current_time(&self) -> Instant {
        // One clock read and a subtraction: scope entries and sleeps read the
        // clock, so this is on the hot path of every timer workload.
        Instant::from_nanos(crate::sys::time::monotonic_nanos() - self.zero)
    }

    fn deadline_to_sleep_time(&self, deadline: Instant) -> Duration {
        deadline - self.current_time()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saturating_arithmetic_with_huge_durations() {
        assert_eq!(
            Instant::ZERO.saturating_sub(Duration::MAX),
            Instant::NEG_INFINITY
        );
        assert_eq!(
            Instant::from_nanos(-10).saturating_add(Duration::MAX),
            Instant::INFINITY
        );
        let d = Duration::from_nanos(i64::MAX as u64 + 5);
        assert_eq!((Instant::from_nanos(i64::MIN + 1) + d).as_nanos(), 5);
        assert_eq!(
            Instant::from_nanos(5) - Duration::from_nanos(7),
            Instant::from_nanos(-2)
        );
    }
}
