//! [`TrioTimer`] and [`TrioSleep`]: hyper's timers on the run's clock.
//!
//! hyper wants a `Sleep` that is `Send + Sync` and is not a checkpoint (a timer
//! that fails when its task is cancelled would make hyper report a timeout).
//! trio's own [`Sleep`](crate::Sleep) is neither, so hyper's sleeps are plain
//! data — a deadline and an id — and each run keeps one table of the pending
//! ones (`TimerService`, in a [`RunVar`]): a `BTreeMap` from `(deadline, id)` to
//! the waker. One system task, started at the first sleep of the run, sleeps on
//! trio's deadline queue until the earliest entry and wakes the sleepers that are
//! due; a new sleep earlier than the one it waits for unparks it. Because that
//! task sleeps with trio's deadline machinery, a [`MockClock`] with autojump
//! drives hyper's timeouts as it drives everything else.
//!
//! A dropped sleep removes its entry at once (hyper creates a header-read timer
//! for every request, so lazy deletion would pile up entries under load).
//!
//! [`MockClock`]: crate::testing::MockClock

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use crate::lowlevel::{ParkingLot, RunVar, spawn_system_task};
use crate::{CancelScope, Instant, Result};

/// One per run: the pending hyper sleeps.
struct TimerService {
    /// Pending sleeps by `(deadline, id)`, with the waker of each.
    sleepers: RefCell<BTreeMap<(Instant, u64), Waker>>,
    /// The driver parks here between deadlines.
    lot: ParkingLot,
    /// The deadline the driver is sleeping until (`INFINITY`: none).
    driver_until: Cell<Instant>,
    driver_started: Cell<bool>,
    /// Maps `std::time::Instant`s (hyper's) to the run's clock: the same moment on
    /// both, taken when the run first used a hyper timer.
    anchor: (std::time::Instant, Instant),
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

static SERVICE: RunVar<Option<Rc<TimerService>>> =
    RunVar::with_default("trio::http::TrioTimer", || None);

/// The run's timer table, made on first use; `None` outside trio.
fn service() -> Option<Rc<TimerService>> {
    SERVICE
        .with(|slot| {
            slot.get_or_insert_with(|| {
                Rc::new(TimerService {
                    sleepers: RefCell::new(BTreeMap::new()),
                    lot: ParkingLot::new(),
                    driver_until: Cell::new(Instant::INFINITY),
                    driver_started: Cell::new(false),
                    anchor: (std::time::Instant::now(), crate::current_time()),
                })
            })
            .clone()
        })
        .ok()
}

impl TimerService {
    fn to_trio(&self, t: std::time::Instant) -> Instant {
        let (s0, t0) = self.anchor;
        if t >= s0 {
            t0.saturating_add(t - s0)
        } else {
            t0.saturating_sub(s0 - t)
        }
    }

    fn to_std(&self, t: Instant) -> std::time::Instant {
        let (s0, t0) = self.anchor;
        if t >= t0 {
            let d = t.saturating_duration_since(t0);
            s0.checked_add(d)
                .unwrap_or(s0 + Duration::from_secs(86_400 * 365 * 30))
        } else {
            s0.checked_sub(t0.saturating_duration_since(t))
                .unwrap_or(s0)
        }
    }

    fn insert(self: &Rc<Self>, deadline: Instant, waker: &Waker) -> u64 {
        // Unique in the process, so that a sleep dropped in another run (on
        // another thread) can never remove an entry that is not its own.
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        self.sleepers
            .borrow_mut()
            .insert((deadline, id), waker.clone());
        if !self.driver_started.get() {
            let me = self.clone();
            if spawn_system_task("trio::http timer driver", drive(me)).is_ok() {
                self.driver_started.set(true);
            }
        } else if deadline < self.driver_until.get() {
            self.lot.unpark_all();
        }
        id
    }

    /// Updates the waker of a pending entry; `false` if there is none.
    fn update(&self, key: (Instant, u64), waker: &Waker) -> bool {
        match self.sleepers.borrow_mut().get_mut(&key) {
            Some(w) => {
                if !w.will_wake(waker) {
                    *w = waker.clone();
                }
                true
            }
            None => false,
        }
    }

    fn remove(&self, key: (Instant, u64)) {
        self.sleepers.borrow_mut().remove(&key);
    }
}

/// The driver: wakes the due sleepers, then sleeps until the next deadline or
/// until an earlier sleep arrives. Cancelled when the run shuts down.
async fn drive(service: Rc<TimerService>) -> Result<()> {
    loop {
        let now = crate::current_time();
        let mut due = Vec::new();
        {
            let mut sleepers = service.sleepers.borrow_mut();
            while let Some(entry) = sleepers.first_entry() {
                if entry.key().0 > now {
                    break;
                }
                due.push(entry.remove());
            }
        }
        for w in due {
            w.wake();
        }
        let next = service
            .sleepers
            .borrow()
            .first_key_value()
            .map_or(Instant::INFINITY, |(k, _)| k.0);
        service.driver_until.set(next);
        CancelScope::with_deadline(next)
            .run(service.lot.park())
            .await?;
    }
}

/// hyper's [`Timer`](hyper::rt::Timer) on trio's clock (hyper-util's
/// `TokioTimer`, for trio): give it to hyper's builders with `.timer(TrioTimer)`;
/// [`http::serve`](super::serve) and [`http::request`](super::request) do.
///
/// Timers run on the clock of the run they are used in — a
/// [`MockClock`](crate::testing::MockClock) included, so hyper's timeouts (a
/// server's `header_read_timeout`, HTTP/2 keep-alive pings) fire under autojump
/// without any real waiting. hyper speaks `std::time::Instant`; the timer maps
/// them to the run's clock through one anchor per run (the same moment on both
/// clocks), so [`now`](hyper::rt::Timer::now) advances with the run's clock, not
/// with the wall clock.
///
/// # Panics
///
/// Its sleeps must be polled inside `trio::run` (see [`TrioSleep`]).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use hyper::rt::Timer;
/// # trio::run(async {
/// let timer = trio::http::TrioTimer;
/// let t0 = trio::current_time();
/// timer.sleep(Duration::from_millis(5)).await;
/// assert!(trio::current_time() - t0 >= Duration::from_millis(5));
/// # Ok(()) }).unwrap();
/// ```
///
/// With hyper's server builder:
///
/// ```
/// use std::time::Duration;
/// let mut builder = hyper::server::conn::http1::Builder::new();
/// builder.timer(trio::http::TrioTimer).header_read_timeout(Duration::from_secs(10));
/// ```
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TrioTimer;

impl TrioTimer {
    /// A timer (the same as `TrioTimer`).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trio::http::TrioTimer::new(), trio::http::TrioTimer);
    /// ```
    pub fn new() -> TrioTimer {
        TrioTimer
    }
}

impl hyper::rt::Timer for TrioTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(TrioSleep::after(duration))
    }

    fn sleep_until(&self, deadline: std::time::Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(TrioSleep::at_std(deadline))
    }

    /// The run's clock as a `std::time::Instant` (the wall clock outside trio).
    fn now(&self) -> std::time::Instant {
        match service() {
            Some(s) => s.to_std(crate::current_time()),
            None => std::time::Instant::now(),
        }
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>, new_deadline: std::time::Instant) {
        match sleep.as_mut().downcast_mut_pin::<TrioSleep>() {
            Some(s) => s.get_mut().reset_std(new_deadline),
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}

/// When a sleep ends, as given (resolved to the run's clock on first poll if it
/// was made outside trio).
#[derive(Debug, Clone, Copy)]
enum When {
    At(Instant),
    After(Duration),
    Std(std::time::Instant),
}

/// The sleep of [`TrioTimer`]: a timer on the run's clock that is `Send + Sync`
/// and `Unpin`, as hyper requires.
///
/// Unlike [`trio::sleep`](crate::sleep) it is **not a checkpoint**: it ignores
/// cancel scopes and only completes at its deadline (a timeout that "fired"
/// because its task was cancelled would be a lie). It costs one entry in a
/// per-run table, removed when the sleep completes or is dropped.
///
/// # Panics
///
/// If polled outside `trio::run` (there is no clock to sleep on).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use trio::http::TrioSleep;
/// fn assert_send_sync<T: Send + Sync + Unpin>(_: &T) {}
/// # trio::run(async {
/// let nap = TrioSleep::until(trio::current_time() + Duration::from_millis(2));
/// assert_send_sync(&nap);
/// nap.await;
/// # Ok(()) }).unwrap();
/// ```
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct TrioSleep {
    when: When,
    /// The key of this sleep's entry in the run's table, while it has one.
    key: Option<(Instant, u64)>,
}

impl TrioSleep {
    /// A sleep until `deadline` on the run's clock.
    ///
    /// # Examples
    ///
    /// See [`TrioSleep`].
    pub fn until(deadline: Instant) -> TrioSleep {
        TrioSleep {
            when: When::At(deadline),
            key: None,
        }
    }

    /// A sleep of `duration` from now (from the first poll if made outside trio).
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// trio::http::TrioSleep::after(std::time::Duration::from_millis(1)).await;
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn after(duration: Duration) -> TrioSleep {
        let when = match service() {
            Some(_) => When::At(crate::current_time().saturating_add(duration)),
            None => When::After(duration),
        };
        TrioSleep { when, key: None }
    }

    fn at_std(deadline: std::time::Instant) -> TrioSleep {
        let when = match service() {
            Some(s) => When::At(s.to_trio(deadline)),
            None => When::Std(deadline),
        };
        TrioSleep { when, key: None }
    }

    /// The deadline on the run's clock (`None` until the sleep has been polled
    /// if it was made outside trio).
    ///
    /// # Examples
    ///
    /// ```
    /// let t = trio::Instant::ZERO;
    /// assert_eq!(trio::http::TrioSleep::until(t).deadline(), Some(t));
    /// ```
    pub fn deadline(&self) -> Option<Instant> {
        match self.when {
            When::At(t) => Some(t),
            _ => None,
        }
    }

    /// Moves the deadline (the sleep may have completed: it then runs again).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// # trio::run(async {
    /// let mut nap = trio::http::TrioSleep::until(trio::Instant::INFINITY);
    /// nap.reset(trio::current_time() + Duration::from_millis(1));
    /// nap.await;
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn reset(&mut self, deadline: Instant) {
        self.unregister();
        self.when = When::At(deadline);
    }

    fn reset_std(&mut self, deadline: std::time::Instant) {
        self.unregister();
        *self = TrioSleep::at_std(deadline);
    }

    fn unregister(&mut self) {
        if let Some(key) = self.key.take() {
            if let Some(s) = service() {
                s.remove(key);
            }
        }
    }
}

impl Future for TrioSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let Some(service) = service() else {
            panic!("a trio::http::TrioSleep was polled outside trio::run");
        };
        let now = crate::current_time();
        let deadline = match this.when {
            When::At(t) => t,
            When::After(d) => now.saturating_add(d),
            When::Std(t) => service.to_trio(t),
        };
        this.when = When::At(deadline);
        if deadline <= now {
            if let Some(key) = this.key.take() {
                service.remove(key);
            }
            return Poll::Ready(());
        }
        match this.key {
            Some(key) if service.update(key, cx.waker()) => {}
            _ => this.key = Some((deadline, service.insert(deadline, cx.waker()))),
        }
        Poll::Pending
    }
}

impl Drop for TrioSleep {
    fn drop(&mut self) {
        self.unregister();
    }
}

impl hyper::rt::Sleep for TrioSleep {}
