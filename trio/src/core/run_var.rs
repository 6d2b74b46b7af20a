//! Run-local variables (Trio's `RunVar`).

use std::any::Any;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};

/// A run's variables by id. The ids are small sequential numbers handed out by
/// this module: one multiplication spreads them well enough, no SipHash on every
/// lookup (hyper's timer on trio reads a `RunVar` for every request).
pub(in crate::core) type RunVarTable =
    std::collections::HashMap<u64, Box<dyn std::any::Any>, BuildHasherDefault<IdHasher>>;

/// Fibonacci hashing of `RunVarTable`'s `u64` keys.
#[derive(Default)]
pub(in crate::core) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0.wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

use super::context;
use crate::error::{Error, ErrorKind, Result};

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A variable with one value per trio run (Trio's `trio.lowlevel.RunVar`): like a
/// thread-local, but reset for every `trio::run`, and visible to every task of it.
///
/// Declare it as a `static`; values need not be `Send`.
///
/// # Examples
///
/// ```
/// use trio::lowlevel::RunVar;
/// static REQUESTS: RunVar<u32> = RunVar::with_default("requests", || 0);
/// # trio::run(async {
/// let n = REQUESTS.get()?;
/// REQUESTS.set(n + 1)?;
/// assert_eq!(REQUESTS.get()?, 1);
/// # Ok(()) }).unwrap();
/// # trio::run(async { assert_eq!(REQUESTS.get()?, 0); Ok(()) }).unwrap();
/// ```
pub struct RunVar<T: 'static> {
    name: &'static str,
    default: Option<fn() -> T>,
    id: AtomicU64,
    _t: PhantomData<fn() -> T>,
}

/// Returned by [`RunVar::set`]: restores the previous value with [`RunVar::reset`].
///
/// # Examples
///
/// ```
/// use trio::lowlevel::{RunVar, RunVarToken};
/// static LEVEL: RunVar<&str> = RunVar::with_default("level", || "info");
/// # trio::run(async {
/// let token: RunVarToken<&str> = LEVEL.set("debug")?;
/// assert_eq!(LEVEL.get()?, "debug");
/// LEVEL.reset(token)?;
/// assert_eq!(LEVEL.get()?, "info");
/// # Ok(()) }).unwrap();
/// ```
#[must_use = "pass the token to RunVar::reset to restore the previous value"]
pub struct RunVarToken<T: 'static> {
    var_id: u64,
    previous: Option<T>,
}

impl<T: 'static> fmt::Debug for RunVarToken<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunVarToken")
            .field("var", &self.var_id)
            .finish()
    }
}

impl<T: 'static> fmt::Debug for RunVar<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunVar").field("name", &self.name).finish()
    }
}

impl<T: 'static> RunVar<T> {
    /// A variable with no default: [`get`](Self::get) fails until it is set.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::lowlevel::RunVar;
    /// static PORT: RunVar<u16> = RunVar::new("port");
    /// # trio::run(async {
    /// assert_eq!(PORT.get().unwrap_err().kind(), trio::ErrorKind::Usage);
    /// let _ = PORT.set(8080)?;
    /// assert_eq!(PORT.get()?, 8080);
    /// # Ok(()) }).unwrap();
    /// ```
    pub const fn new(name: &'static str) -> RunVar<T> {
        RunVar {
            name,
            default: None,
            id: AtomicU64::new(0),
            _t: PhantomData,
        }
    }

    /// A variable whose value starts as `default()` in every run.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::lowlevel::RunVar;
    /// static NAMES: RunVar<Vec<String>> = RunVar::with_default("names", Vec::new);
    /// for _ in 0..2 {
    ///     trio::run(async {
    ///         assert!(NAMES.get()?.is_empty()); // a fresh default in each run
    ///         NAMES.with(|v| v.push("a".into()))?;
    ///         assert_eq!(NAMES.get()?, ["a"]);
    ///         Ok(())
    ///     }).unwrap();
    /// }
    /// ```
    pub const fn with_default(name: &'static str, default: fn() -> T) -> RunVar<T> {
        RunVar {
            name,
            default: Some(default),
            id: AtomicU64::new(0),
            _t: PhantomData,
        }
    }

    fn id(&self) -> u64 {
        let id = self.id.load(Ordering::Acquire);
        if id != 0 {
            return id;
        }
        let new = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        match self
            .id
            .compare_exchange(0, new, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => new,
            Err(existing) => existing,
        }
    }

    /// Runs `f` with the value (initialised from the default if needed).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Usage`] if unset with no default, or outside trio.
    ///
    /// # Examples
    ///
    /// Updates the value in place, without cloning it:
    ///
    /// ```
    /// use trio::lowlevel::RunVar;
    /// static HITS: RunVar<u64> = RunVar::with_default("hits", || 0);
    /// # trio::run(async {
    /// trio::open_nursery(async |n| {
    ///     for _ in 0..3 {
    ///         n.start_soon(async { HITS.with(|h| *h += 1) })?; // every task sees the same value
    ///     }
    ///     Ok(())
    /// }).await?;
    /// assert_eq!(HITS.with(|h| *h)?, 3);
    /// # Ok(()) }).unwrap();
    /// assert!(HITS.with(|h| *h).is_err()); // outside trio
    /// ```
    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> Result<R> {
        let id = self.id();
        let runner = context::runner().ok_or_else(super::cancel::outside_trio)?;
        // The value is taken out of the table while `f` (or the default) runs, so
        // that they may use other RunVars; no borrow of the table is held meanwhile.
        let taken = runner.run_vars.borrow_mut().remove(&id);
        let mut value: Box<dyn Any> = match taken {
            Some(v) => v,
            None => {
                let Some(d) = self.default else {
                    return Err(Error::new(
                        ErrorKind::Usage,
                        format!(
                            "RunVar {:?} has no value in this run and no default",
                            self.name
                        ),
                    ));
                };
                Box::new(d())
            }
        };
        let out = f(value
            .downcast_mut::<T>()
            .expect("RunVar values are stored under their own type"));
        // If `f` set this same variable meanwhile, its new value wins.
        runner.run_vars.borrow_mut().entry(id).or_insert(value);
        Ok(out)
    }

    /// The value in this run (a clone).
    ///
    /// # Errors
    ///
    /// As [`with`](Self::with).
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::lowlevel::RunVar;
    /// static GREETING: RunVar<String> = RunVar::with_default("greeting", || "hello".into());
    /// # trio::run(async {
    /// let mut copy = GREETING.get()?;
    /// copy.push('!'); // changes the clone only
    /// assert_eq!(GREETING.get()?, "hello");
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn get(&self) -> Result<T>
    where
        T: Clone,
    {
        self.with(|v| v.clone())
    }

    /// Sets the value for this run; the token restores the previous one.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Usage`] outside trio.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::lowlevel::RunVar;
    /// static MODE: RunVar<&str> = RunVar::new("mode");
    /// # trio::run(async {
    /// let _first = MODE.set("fast")?;
    /// trio::open_nursery(async |n| {
    ///     n.start_soon(async { assert_eq!(MODE.get()?, "fast"); Ok(()) }) // visible to every task
    /// }).await?;
    /// # Ok(()) }).unwrap();
    /// assert_eq!(MODE.set("slow").unwrap_err().kind(), trio::ErrorKind::Usage); // outside trio
    /// ```
    pub fn set(&self, value: T) -> Result<RunVarToken<T>> {
        let id = self.id();
        context::with_runner(|r| {
            let prev = r
                .run_vars
                .borrow_mut()
                .insert(id, Box::new(value) as Box<dyn Any>);
            RunVarToken {
                var_id: id,
                previous: prev.and_then(|b| b.downcast::<T>().ok()).map(|b| *b),
            }
        })
        .ok_or_else(super::cancel::outside_trio)
    }

    /// Restores the value that `token`'s `set` replaced (or unsets it).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`] if the token belongs to another variable (Trio's
    /// `ValueError`); [`ErrorKind::Usage`] outside trio.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::lowlevel::RunVar;
    /// static A: RunVar<u8> = RunVar::new("a");
    /// static B: RunVar<u8> = RunVar::new("b");
    /// # trio::run(async {
    /// let outer = A.set(1)?;
    /// let inner = A.set(2)?;
    /// A.reset(inner)?;
    /// assert_eq!(A.get()?, 1);
    /// A.reset(outer)?;
    /// assert!(A.get().is_err()); // unset again: A has no default
    ///
    /// let wrong = B.set(3)?;
    /// assert_eq!(A.reset(wrong).unwrap_err().kind(), trio::ErrorKind::InvalidInput);
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn reset(&self, token: RunVarToken<T>) -> Result<()> {
        let id = self.id();
        if token.var_id != id {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "this token belongs to another RunVar",
            ));
        }
        context::with_runner(|r| {
            let mut vars = r.run_vars.borrow_mut();
            match token.previous {
                Some(p) => {
                    vars.insert(id, Box::new(p));
                }
                None => {
                    vars.remove(&id);
                }
            }
        })
        .ok_or_else(super::cancel::outside_trio)
    }
}
