//! Diagnostics: what a run has to say that is no call's error — an instrument
//! that panicked and was removed, an I/O wait that failed, a server backing off
//! because the process is out of file descriptors, a Ctrl-C the program could not
//! handle in time.
//!
//! The library never prints on its own. A diagnostic goes to the callback given to
//! [`Builder::on_diagnostic`](crate::Builder::on_diagnostic); without one, it
//! becomes a `tracing` event at level `WARN` (target `trio`) when the `tracing`
//! feature is on, and is dropped otherwise. [`print_diagnostic`] is a ready-made
//! callback that writes one line to stderr.

use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use super::context;

/// What a [`Diagnostic`] is about.
///
/// # Examples
///
/// ```
/// let d = trio::lowlevel::DiagnosticKind::AcceptBackoff;
/// assert_eq!(format!("{d:?}"), "AcceptBackoff");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DiagnosticKind {
    /// An instrument panicked in one of its hooks and was removed.
    InstrumentPanicked,
    /// The reactor's wait for I/O failed (the loop goes on).
    IoWaitFailed,
    /// A server's `accept` failed for lack of resources (`EMFILE`, `ENFILE`,
    /// `ENOBUFS`, `ENOMEM`): it waits a little and accepts again.
    AcceptBackoff,
    /// The loop did not see a Ctrl-C within the grace period (a task never
    /// reached a checkpoint): the process is about to exit with status 130
    /// (see [`Builder::ctrl_c_exits`](crate::Builder::ctrl_c_exits)).
    CtrlCUnhandled,
    /// Handing a worker thread's result back to its task panicked (a bug).
    WorkerDeliveryPanicked,
    /// Anything else a library built on trio reports through
    /// [`report_diagnostic`].
    Other,
}

/// One diagnostic: its kind and a sentence saying what happened.
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use trio::lowlevel::{Diagnostic, DiagnosticKind};
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let s = seen.clone();
/// trio::Runtime::builder()
///     .on_diagnostic(move |d: &Diagnostic| s.lock().unwrap().push(d.to_string()))
///     .build()
///     .run(async {
///         trio::lowlevel::report_diagnostic(DiagnosticKind::Other, "hello");
///         Ok::<_, trio::Error>(())
///     })
///     .unwrap();
/// assert_eq!(*seen.lock().unwrap(), ["hello"]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    kind: DiagnosticKind,
    message: String,
}

impl Diagnostic {
    /// A diagnostic of `kind` saying `message`.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::lowlevel::{Diagnostic, DiagnosticKind};
    /// let d = Diagnostic::new(DiagnosticKind::Other, "disk almost full");
    /// assert_eq!(d.message(), "disk almost full");
    /// ```
    pub fn new(kind: DiagnosticKind, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            kind,
            message: message.into(),
        }
    }

    /// What the diagnostic is about.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::lowlevel::{Diagnostic, DiagnosticKind};
    /// assert_eq!(Diagnostic::new(DiagnosticKind::Other, "x").kind(), DiagnosticKind::Other);
    /// ```
    pub fn kind(&self) -> DiagnosticKind {
        self.kind
    }

    /// What happened, as a sentence.
    ///
    /// # Examples
    ///
    /// See [`Diagnostic::new`].
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Where a run's diagnostics go (`Builder::on_diagnostic`). Shared with the
/// threads that report for the loop (the Ctrl-C watchdog).
///
/// Unwind-safe on purpose: it sits in the loop's shared part, which a
/// `TrioToken` carries across `catch_unwind`; a callback that panicked half-way
/// through leaves nothing of trio's in a broken state.
#[derive(Clone)]
pub(in crate::core) struct Sink(Arc<AssertUnwindSafe<Box<Callback>>>);

type Callback = dyn Fn(&Diagnostic) + Send + Sync;

impl Sink {
    pub(in crate::core) fn new(callback: impl Fn(&Diagnostic) + Send + Sync + 'static) -> Sink {
        Sink(Arc::new(AssertUnwindSafe(Box::new(callback))))
    }

    fn call(&self, d: &Diagnostic) {
        (self.0)(d)
    }
}

/// Hands `d` to `sink`, or to the default (a `tracing` event, or nothing).
pub(in crate::core) fn emit(sink: Option<&Sink>, d: Diagnostic) {
    match sink {
        Some(sink) => sink.call(&d),
        None => {
            #[cfg(feature = "tracing")]
            tracing::warn!(target: "trio", kind = ?d.kind, "{}", d.message);
            #[cfg(not(feature = "tracing"))]
            drop(d);
        }
    }
}

/// Reports a diagnostic for the current run: to its
/// [`Builder::on_diagnostic`](crate::Builder::on_diagnostic) callback, or to
/// the default (a `tracing` event with the `tracing` feature, nothing without).
/// Outside a run, only the default applies. For libraries built on trio that
/// have something to say that is no call's error, as trio's own servers do when
/// they back off from `EMFILE`.
///
/// # Examples
///
/// ```
/// # trio::run(async {
/// trio::lowlevel::report_diagnostic(
///     trio::lowlevel::DiagnosticKind::Other,
///     "cache cold: the first requests will be slow",
/// );
/// # Ok(()) }).unwrap();
/// ```
pub fn report_diagnostic(kind: DiagnosticKind, message: impl Into<String>) {
    let d = Diagnostic::new(kind, message);
    let sink = context::with_runner(|r| r.shared.diagnostics.clone()).flatten();
    emit(sink.as_ref(), d);
}

/// A diagnostics callback that writes each diagnostic as one line on stderr,
/// `trio: <message>`: pass it to
/// [`Builder::on_diagnostic`](crate::Builder::on_diagnostic).
///
/// # Examples
///
/// ```
/// let rt = trio::Runtime::builder()
///     .on_diagnostic(trio::lowlevel::print_diagnostic)
///     .build();
/// rt.run(async { Ok::<_, trio::Error>(()) }).unwrap();
/// ```
pub fn print_diagnostic(d: &Diagnostic) {
    eprintln!("trio: {d}");
}
