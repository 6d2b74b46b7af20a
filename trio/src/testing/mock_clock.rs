//! A virtual clock for tests (Trio's `trio.testing.MockClock`).

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use crate::error::{Error, ErrorKind, Result};
use crate::time::{Clock, Instant};

struct Inner {
    rate: f64,
    autojump: Option<Duration>,
    virtual_base: Instant,
    real_base: std::time::Instant,
}

impl Inner {
    fn now(&self) -> Instant {
        if self.rate == 0.0 {
            return self.virtual_base;
        }
        let real = self.real_base.elapsed().as_secs_f64() * self.rate;
        self.virtual_base + Duration::from_secs_f64(real)
    }
}

/// A clock that only moves when told to (Trio's `MockClock`), for fast, exact tests
/// of timeouts.
///
/// * `rate` — virtual seconds per real second (default 0: time stands still).
/// * [`jump`](Self::jump) — moves time forward at once.
/// * autojump threshold — when every task has been blocked this long in real time,
///   the clock jumps to the next deadline. With a threshold of zero, a test that
///   sleeps for an hour finishes in microseconds, and timeouts still fire in the
///   right order.
///
/// Virtual time starts at [`Instant::ZERO`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use trio::testing::MockClock;
/// let clock = MockClock::new();
/// clock.set_autojump_threshold(Duration::ZERO);
/// let c = clock.clone();
/// trio::Runtime::builder().clock(clock).build().run(async move {
///     trio::sleep(Duration::from_secs(86_400)).await?;
///     assert_eq!(c.current_time(), trio::Instant::ZERO + Duration::from_secs(86_400));
///     Ok::<_, trio::Error>(())
/// }).unwrap();
/// ```
#[derive(Clone)]
pub struct MockClock {
    inner: Rc<RefCell<Inner>>,
}

impl fmt::Debug for MockClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = self.inner.borrow();
        f.debug_struct("MockClock")
            .field("time", &i.now())
            .field("rate", &i.rate)
            .field("autojump_threshold", &i.autojump)
            .finish()
    }
}

impl Default for MockClock {
    fn default() -> Self {
        MockClock::new()
    }
}

impl MockClock {
    /// A frozen clock at [`Instant::ZERO`], with no autojump.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = trio::testing::MockClock::new();
    /// assert_eq!(c.current_time(), trio::Instant::ZERO);
    /// assert_eq!(c.rate(), 0.0);
    /// assert_eq!(c.autojump_threshold(), None);
    /// ```
    pub fn new() -> MockClock {
        MockClock {
            inner: Rc::new(RefCell::new(Inner {
                rate: 0.0,
                autojump: None,
                virtual_base: Instant::ZERO,
                real_base: std::time::Instant::now(),
            })),
        }
    }

    /// The current virtual time.
    ///
    /// Inside a run that uses this clock, it is also what
    /// [`trio::current_time`](crate::current_time) returns.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let clock = trio::testing::MockClock::new();
    /// let c = clock.clone();
    /// trio::Runtime::builder().clock(clock).build().run(async move {
    ///     assert_eq!(c.current_time(), trio::current_time());
    ///     c.jump(Duration::from_secs(3));
    ///     assert_eq!(trio::current_time(), trio::Instant::ZERO + Duration::from_secs(3));
    ///     Ok::<_, trio::Error>(())
    /// }).unwrap();
    /// ```
    pub fn current_time(&self) -> Instant {
        self.inner.borrow().now()
    }

    /// Virtual seconds per real second.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = trio::testing::MockClock::new();
    /// assert_eq!(c.rate(), 0.0); // frozen
    /// c.set_rate(10.0)?;
    /// assert_eq!(c.rate(), 10.0);
    /// # Ok::<(), trio::Error>(())
    /// ```
    pub fn rate(&self) -> f64 {
        self.inner.borrow().rate
    }

    /// Sets the rate; 0 freezes time.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`] for a negative or non-finite rate (Trio's
    /// `ValueError`).
    ///
    /// # Examples
    ///
    /// ```
    /// let c = trio::testing::MockClock::new();
    /// c.set_rate(2.0).unwrap();
    /// assert_eq!(c.set_rate(-1.0).unwrap_err().kind(), trio::ErrorKind::InvalidInput);
    /// ```
    pub fn set_rate(&self, rate: f64) -> Result<()> {
        if !(rate >= 0.0 && rate.is_finite()) {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "MockClock rate must be finite and >= 0",
            ));
        }
        let mut i = self.inner.borrow_mut();
        i.virtual_base = i.now();
        i.real_base = std::time::Instant::now();
        i.rate = rate;
        Ok(())
    }

    /// The autojump threshold (`None`: autojump off).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let c = trio::testing::MockClock::new();
    /// assert_eq!(c.autojump_threshold(), None);
    /// c.set_autojump_threshold(Duration::from_millis(1));
    /// assert_eq!(c.autojump_threshold(), Some(Duration::from_millis(1)));
    /// ```
    pub fn autojump_threshold(&self) -> Option<Duration> {
        self.inner.borrow().autojump
    }

    /// Turns autojump on: once every task has been blocked for `threshold` (real
    /// time), the clock jumps to the next deadline. Takes effect at the run loop's
    /// next pass.
    ///
    /// # Examples
    ///
    /// A day-long timeout fires at once, at exactly the right virtual time:
    ///
    /// ```
    /// use std::time::Duration;
    /// let clock = trio::testing::MockClock::new();
    /// clock.set_autojump_threshold(Duration::ZERO);
    /// let real_start = std::time::Instant::now();
    /// trio::Runtime::builder().clock(clock).build().run(async {
    ///     let r = trio::move_on_after(Duration::from_secs(86_400), trio::sleep_forever()).await?;
    ///     assert!(r.is_none());
    ///     assert_eq!(trio::current_time(), trio::Instant::ZERO + Duration::from_secs(86_400));
    ///     Ok::<_, trio::Error>(())
    /// }).unwrap();
    /// assert!(real_start.elapsed() < Duration::from_secs(60));
    /// ```
    pub fn set_autojump_threshold(&self, threshold: Duration) {
        self.inner.borrow_mut().autojump = Some(threshold);
    }

    /// Turns autojump off.
    ///
    /// # Examples
    ///
    /// With autojump off, a frozen clock moves only by [`jump`](Self::jump):
    ///
    /// ```
    /// use std::time::Duration;
    /// let clock = trio::testing::MockClock::new();
    /// clock.set_autojump_threshold(Duration::ZERO);
    /// clock.disable_autojump();
    /// assert_eq!(clock.autojump_threshold(), None);
    /// let c = clock.clone();
    /// trio::Runtime::builder().clock(clock).build().run(async move {
    ///     trio::open_nursery(async |n| {
    ///         n.start_soon(trio::sleep(Duration::from_secs(10)))?;
    ///         trio::testing::wait_all_tasks_blocked().await?;
    ///         assert_eq!(c.current_time(), trio::Instant::ZERO); // nobody jumped
    ///         c.jump(Duration::from_secs(10)); // now the sleeper wakes
    ///         Ok(())
    ///     }).await
    /// }).unwrap();
    /// ```
    pub fn disable_autojump(&self) {
        self.inner.borrow_mut().autojump = None;
    }

    /// Moves virtual time forward by `by`. Deadlines that pass fire at the run loop's
    /// next pass.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = trio::testing::MockClock::new();
    /// c.jump(std::time::Duration::from_secs(5));
    /// assert_eq!(c.current_time(), trio::Instant::ZERO + std::time::Duration::from_secs(5));
    /// ```
    pub fn jump(&self, by: Duration) {
        let mut i = self.inner.borrow_mut();
        i.virtual_base = i.virtual_base + by;
    }
}

impl Clock for MockClock {
    fn current_time(&self) -> Instant {
        MockClock::current_time(self)
    }

    fn deadline_to_sleep_time(&self, deadline: Instant) -> Duration {
        let i = self.inner.borrow();
        let virtual_wait = deadline - i.now();
        if virtual_wait.is_zero() {
            Duration::ZERO
        } else if i.rate > 0.0 {
            Duration::try_from_secs_f64(virtual_wait.as_secs_f64() / i.rate)
                .unwrap_or(Duration::MAX)
        } else {
            Duration::MAX
        }
    }

    fn autojump_threshold(&self) -> Option<Duration> {
        MockClock::autojump_threshold(self)
    }

    fn autojump(&self, deadline: Instant) {
        let mut i = self.inner.borrow_mut();
        let now = i.now();
        if deadline > now {
            i.virtual_base = i.virtual_base + (deadline - now);
        }
    }
}
