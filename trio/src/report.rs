//! How a program leaves: what `#[trio::main]` does with the result of `main`
//! ([`report_main_result`]), and errors written for people ([`error_report`]).
//!
//! # Why not Rust's own `main` reporting
//!
//! A `main` that returns `Result<(), E>` makes Rust print `Error: {e:?}` — the
//! `Debug` form, meant for programmers: for a trio error, a struct dump. And
//! Ctrl-C, which trio turns into an [`ErrorKind::Interrupted`] error so that
//! the program unwinds cleanly, would then look like a crash and exit with
//! status 1. The shell's convention for a program stopped by Ctrl-C is status
//! 130 (128 + `SIGINT`) and no noise; for a failure, status 1 and a message. So
//! `#[trio::main]` reports the result itself: nothing and 130 after Ctrl-C; the
//! error's `Display` and its causes, one per line, and 1 otherwise.

use std::error::Error as StdError;
use std::fmt::Write as _;
use std::process::ExitCode;

use crate::{Error, ErrorKind};

/// The exit status of a program stopped by Ctrl-C: 128 + `SIGINT`, as shells
/// report it.
///
/// # Examples
///
/// ```
/// assert_eq!(trio::lowlevel::INTERRUPTED_EXIT_STATUS, 130);
/// ```
pub const INTERRUPTED_EXIT_STATUS: u8 = 130;

/// An error as a person reads it: its `Display`, then each cause from its
/// [`source`](StdError::source) chain on a line of its own (`  caused by: ...`),
/// leaving out a cause whose text the lines above already contain (trio's
/// messages often include their cause).
///
/// # Examples
///
/// ```
/// let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
/// let e = trio::Error::other(io).context(trio::ErrorKind::Io, "reading the configuration");
/// let report = trio::lowlevel::error_report(&e);
/// assert_eq!(report.lines().next().unwrap(), e.to_string());
/// assert!(report.contains("no such file"));
/// assert!(!report.contains("Error {")); // no Debug dump
/// ```
pub fn error_report(error: &(dyn StdError + 'static)) -> String {
    let mut report = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !text.is_empty() && !report.contains(&text) {
            let _ = write!(report, "\n  caused by: {text}");
        }
        source = cause.source();
    }
    report
}

/// What a `main` may return for [`report_main_result`]: `()`, an
/// [`ExitCode`], or `Result<(), E>` for any error that converts into
/// `Box<dyn Error>` — [`trio::Error`](crate::Error), `std::io::Error`,
/// `Box<dyn Error>`, `String`, `anyhow::Error`, ...
///
/// # Examples
///
/// ```
/// use trio::lowlevel::MainResult;
/// assert_eq!(().into_exit_code(), std::process::ExitCode::SUCCESS);
/// ```
pub trait MainResult {
    /// The exit status for this result, after printing what should be printed.
    fn into_exit_code(self) -> ExitCode;
}

impl MainResult for () {
    fn into_exit_code(self) -> ExitCode {
        ExitCode::SUCCESS
    }
}

impl MainResult for ExitCode {
    fn into_exit_code(self) -> ExitCode {
        self
    }
}

impl<E: Into<Box<dyn StdError>>> MainResult for Result<(), E> {
    fn into_exit_code(self) -> ExitCode {
        let Err(e) = self else {
            return ExitCode::SUCCESS;
        };
        let e: Box<dyn StdError> = e.into();
        if e.downcast_ref::<Error>()
            .is_some_and(|t| t.kind() == ErrorKind::Interrupted)
        {
            // Stopped by Ctrl-C: the user knows; the shell shows the status.
            return ExitCode::from(INTERRUPTED_EXIT_STATUS);
        }
        eprintln!("Error: {}", error_report(&*e));
        ExitCode::FAILURE
    }
}

/// What `#[trio::main]` does with the result of `main`: success for `Ok` (and
/// `()`); for an error, `Error: ` and the [`error_report`] on stderr (its
/// `Display` and causes, not its `Debug` form) and status 1; after Ctrl-C
/// (an [`ErrorKind::Interrupted`] error) nothing on stderr and status 130
/// ([`INTERRUPTED_EXIT_STATUS`]). Call it yourself in a `main` that starts trio
/// with [`run`](crate::run) or a [`Runtime`](crate::Runtime).
///
/// # Examples
///
/// ```no_run
/// fn main() -> std::process::ExitCode {
///     let result = trio::run(async {
///         trio::sleep(std::time::Duration::from_secs(3600)).await // Ctrl-C me
///     });
///     trio::lowlevel::report_main_result(result) // 130 after Ctrl-C
/// }
/// ```
///
/// ```
/// let failed: trio::Result<()> = Err(trio::Error::new(trio::ErrorKind::Other, "no luck"));
/// // Prints "Error: no luck" on stderr.
/// assert_eq!(trio::lowlevel::report_main_result(failed), std::process::ExitCode::FAILURE);
/// let stopped: trio::Result<()> = Err(trio::Error::new(trio::ErrorKind::Interrupted, "Ctrl-C"));
/// assert_eq!(trio::lowlevel::report_main_result(stopped), std::process::ExitCode::from(130));
/// ```
pub fn report_main_result<R: MainResult>(result: R) -> ExitCode {
    result.into_exit_code()
}
