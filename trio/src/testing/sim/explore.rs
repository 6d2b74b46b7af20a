//! Running a simulation under many seeds, and checking that one seed replays.

use std::fmt;
use std::ops::Range;
use std::time::Duration;

use super::{Config, Event, Sim, Trace};
use crate::{Builder, Result};

/// Runs a simulation under many seeds until one fails.
///
/// # Examples
///
/// ```
/// use trio::testing::sim::Explore;
/// // A "bug" that shows under one seed in ten or so.
/// let failure = Explore::seeds(0..1000)
///     .run(async |sim| {
///         if sim.random(0..10) == 3 {
///             return Err(trio::Error::new(trio::ErrorKind::Other, "unlucky"));
///         }
///         Ok(())
///     })
///     .unwrap_err();
/// println!("{failure}"); // the seed, the error, the last events
/// assert!(failure.to_string().contains(&format!("seed {}", failure.seed)));
/// // The seed replays it:
/// let again = failure.replay(async |sim| {
///     if sim.random(0..10) == 3 {
///         return Err(trio::Error::new(trio::ErrorKind::Other, "unlucky"));
///     }
///     Ok(())
/// });
/// assert!(again.result.is_err());
/// assert_eq!(again.trace.first_difference(&failure.trace), None);
/// ```
#[derive(Clone, Debug)]
pub struct Explore {
    seeds: Range<u64>,
    budget: Option<Duration>,
    config: Config,
}

/// What an exploration that found no failure did.
///
/// # Examples
///
/// ```
/// let ok = trio::testing::sim::Explore::seeds(0..5).run(async |_sim| Ok(())).unwrap();
/// assert_eq!(ok.runs, 5);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Explored {
    /// The number of seeds run.
    pub runs: u64,
    /// The first seed not run (the end of the range, unless the time budget ran
    /// out first).
    pub next_seed: u64,
}

/// The first failing seed an exploration found, with its error and trace.
///
/// # Examples
///
/// See [`Explore`].
#[derive(Debug)]
pub struct Failure {
    /// The failing seed: [`Config::new(seed)`](Config::new) replays the run.
    pub seed: u64,
    /// How many seeds were run (this one included).
    pub runs: u64,
    /// The run's error.
    pub error: crate::Error,
    /// The run's trace.
    pub trace: Trace,
    config: Config,
}

impl Failure {
    /// Runs the failing seed again (with the exploration's configuration).
    ///
    /// # Examples
    ///
    /// See [`Explore`].
    pub fn replay<F>(&self, body: F) -> super::Outcome
    where
        F: AsyncFnOnce(&Sim) -> Result<()>,
    {
        let mut c = self.config.clone();
        c.seed = self.seed;
        c.run(body)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "simulation failed at seed {} (run {}): {}",
            self.seed, self.runs, self.error
        )?;
        writeln!(
            f,
            "replay it with trio::testing::sim::Config::new({})",
            self.seed
        )?;
        writeln!(f, "the last events (task steps left out):")?;
        write!(f, "{}", self.trace.tail_without_steps(25))
    }
}

impl std::error::Error for Failure {}

impl Explore {
    /// Explores these seeds, in order.
    ///
    /// # Examples
    ///
    /// See [`Explore`].
    pub fn seeds(seeds: Range<u64>) -> Explore {
        Explore {
            seeds,
            budget: None,
            config: Config::new(0),
        }
    }

    /// Stops starting new seeds once `budget` of wall time has passed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use trio::testing::sim::Explore;
    /// let ok = Explore::seeds(0..u64::MAX)
    ///     .time_budget(Duration::from_millis(50))
    ///     .run(async |_sim| Ok(()))
    ///     .unwrap();
    /// assert!(ok.runs >= 1);
    /// ```
    pub fn time_budget(mut self, budget: Duration) -> Explore {
        self.budget = Some(budget);
        self
    }

    /// Adjusts the runtime of every run (see [`Config::runtime`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let e = trio::testing::sim::Explore::seeds(0..3).runtime(|b| b.deadlock_detection(true));
    /// assert!(e.run(async |_sim| Ok(())).is_ok());
    /// ```
    pub fn runtime(mut self, f: impl Fn(Builder) -> Builder + 'static) -> Explore {
        self.config = self.config.runtime(f);
        self
    }

    /// Runs `body` under each seed until one fails.
    ///
    /// # Errors
    ///
    /// The first failure: its seed, error and trace (its `Display` prints all
    /// three).
    ///
    /// # Examples
    ///
    /// See [`Explore`].
    pub fn run<F>(&self, body: F) -> std::result::Result<Explored, Box<Failure>>
    where
        F: AsyncFn(&Sim) -> Result<()>,
    {
        let start = std::time::Instant::now();
        let mut runs = 0;
        for seed in self.seeds.clone() {
            if self.budget.is_some_and(|b| start.elapsed() >= b) {
                return Ok(Explored {
                    runs,
                    next_seed: seed,
                });
            }
            runs += 1;
            let mut c = self.config.clone();
            c.seed = seed;
            let out = c.run(&body);
            if let Err(error) = out.result {
                return Err(Box::new(Failure {
                    seed,
                    runs,
                    error,
                    trace: out.trace,
                    config: self.config.clone(),
                }));
            }
        }
        Ok(Explored {
            runs,
            next_seed: self.seeds.end,
        })
    }
}

/// Where two runs of one seed went apart.
///
/// # Examples
///
/// See [`check_determinism`].
#[derive(Clone, Debug)]
pub struct Divergence {
    /// The seed.
    pub seed: u64,
    /// The index of the first differing event.
    pub index: usize,
    /// That event in the first run (`None`: the first run had ended).
    pub first: Option<Event>,
    /// That event in the second run (`None`: the second run had ended).
    pub second: Option<Event>,
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |e: &Option<Event>| {
            e.as_ref()
                .map_or("(the run had ended)".to_string(), |e| e.to_string())
        };
        write!(
            f,
            "two runs of seed {} diverged at event {}: first run {}, second run {} \
             (something outside the simulation got in: the real clock, the OS's randomness, a thread?)",
            self.seed,
            self.index,
            show(&self.first),
            show(&self.second)
        )
    }
}

impl std::error::Error for Divergence {}

/// Runs `body` twice under `config`'s seed and compares the traces event by
/// event.
///
/// # Errors
///
/// The first event where the two runs differ.
///
/// # Examples
///
/// ```
/// use trio::testing::sim::{Config, check_determinism};
/// // Deterministic: only virtual time and the seed.
/// let trace = check_determinism(&Config::new(1), async |sim| {
///     trio::sleep(std::time::Duration::from_millis(sim.random(1..100))).await?;
///     Ok(())
/// })
/// .unwrap();
/// assert!(!trace.is_empty());
///
/// // Not: the real clock decides how long to sleep.
/// let d = check_determinism(&Config::new(1), async |_sim| {
///     let nanos = std::time::SystemTime::now()
///         .duration_since(std::time::UNIX_EPOCH)
///         .unwrap()
///         .subsec_nanos();
///     trio::sleep(std::time::Duration::from_nanos(nanos as u64 + 1)).await?;
///     Ok(())
/// })
/// .unwrap_err();
/// println!("{d}");
/// ```
pub fn check_determinism<F>(config: &Config, body: F) -> std::result::Result<Trace, Divergence>
where
    F: AsyncFn(&Sim) -> Result<()>,
{
    let a = config.run(&body);
    let b = config.run(&body);
    match a.trace.first_difference(&b.trace) {
        None => Ok(a.trace),
        Some(index) => Err(Divergence {
            seed: config.seed,
            index,
            first: a.trace.events().get(index).cloned(),
            second: b.trace.events().get(index).cloned(),
        }),
    }
}
