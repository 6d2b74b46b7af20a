//! Instruments: hooks into the run loop's life (Trio's `trio.abc.Instrument`).

use std::rc::Rc;
use std::time::Duration;

use super::context;
use super::task::Task;
use crate::error::{Error, ErrorKind, Result};

/// Hooks called by the run loop at interesting moments (Trio's `Instrument`).
///
/// Every method has an empty default; implement the ones you need. Hooks run on the
/// loop thread, synchronously, and must not block. An instrument that panics is
/// removed (reported as a
/// [`DiagnosticKind::InstrumentPanicked`](crate::lowlevel::DiagnosticKind::InstrumentPanicked)
/// diagnostic, see [`Builder::on_diagnostic`](crate::Builder::on_diagnostic)) and the
/// run goes on.
///
/// # Examples
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
/// #[derive(Default)]
/// struct CountSteps(Cell<usize>);
/// impl trio::lowlevel::Instrument for CountSteps {
///     fn before_task_step(&self, _task: &trio::lowlevel::Task) {
///         self.0.set(self.0.get() + 1);
///     }
/// }
/// let counter = Rc::new(CountSteps::default());
/// let rt = trio::Runtime::builder().instrument(counter.clone()).build();
/// rt.run(async { trio::lowlevel::checkpoint().await }).unwrap();
/// assert!(counter.0.get() >= 2);
/// ```
pub trait Instrument {
    /// The run is starting.
    fn before_run(&self) {}
    /// The run has finished.
    fn after_run(&self) {}
    /// A task was created.
    fn task_spawned(&self, task: &Task) {
        let _ = task;
    }
    /// A task became runnable.
    fn task_scheduled(&self, task: &Task) {
        let _ = task;
    }
    /// A task is about to be polled.
    fn before_task_step(&self, task: &Task) {
        let _ = task;
    }
    /// A task was just polled.
    fn after_task_step(&self, task: &Task) {
        let _ = task;
    }
    /// A task finished.
    fn task_exited(&self, task: &Task) {
        let _ = task;
    }
    /// The loop is about to wait for I/O, for at most `timeout`.
    fn before_io_wait(&self, timeout: Duration) {
        let _ = timeout;
    }
    /// The loop finished waiting for I/O.
    fn after_io_wait(&self, timeout: Duration) {
        let _ = timeout;
    }
}

/// Adds an instrument to the current run (Trio's `add_instrument`). Adding one
/// that is already installed does nothing.
///
/// # Errors
///
/// [`ErrorKind::Usage`] outside trio.
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// struct Nothing;
/// impl trio::lowlevel::Instrument for Nothing {}
/// # trio::run(async {
/// let i: Rc<dyn trio::lowlevel::Instrument> = Rc::new(Nothing);
/// trio::lowlevel::add_instrument(i.clone())?;
/// trio::lowlevel::remove_instrument(&i)?;
/// # Ok(()) }).unwrap();
/// ```
pub fn add_instrument(instrument: Rc<dyn Instrument>) -> Result<()> {
    context::with_runner(|r| r.add_instrument(instrument)).ok_or_else(super::cancel::outside_trio)
}

/// Removes an instrument from the current run (Trio's `remove_instrument`).
///
/// # Errors
///
/// [`ErrorKind::Usage`] if it is not installed, or outside trio.
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// struct Nothing;
/// impl trio::lowlevel::Instrument for Nothing {}
/// # trio::run(async {
/// let i: Rc<dyn trio::lowlevel::Instrument> = Rc::new(Nothing);
/// assert!(trio::lowlevel::remove_instrument(&i).is_err());
/// # Ok(()) }).unwrap();
/// ```
pub fn remove_instrument(instrument: &Rc<dyn Instrument>) -> Result<()> {
    context::with_runner(|r| {
        if r.remove_instrument(instrument) {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::Usage,
                "that instrument is not installed",
            ))
        }
    })
    .unwrap_or_else(|| Err(super::cancel::outside_trio()))
}
