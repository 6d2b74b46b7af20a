//! Trio's `ConflictDetector`, shared by every stream and receiver that refuses a
//! second concurrent caller.
//!
//! A stream's methods take `&self` (see the `abc` essay), so two tasks can call
//! `send_all` on one stream at the same time; Trio's contract is that the second
//! one fails at once with [`ErrorKind::BusyResource`] rather than interleaving
//! bytes or queueing. A detector is a flag held for the whole of one operation:
//! the guard clears it however the operation ends — returned, failed, cancelled or
//! dropped mid-way.

use std::cell::Cell;
use std::fmt;

use crate::{Error, ErrorKind, Result};

/// A flag that turns a second concurrent entry into `BusyResource`.
pub(crate) struct ConflictDetector {
    /// An operation is running (a [`ConflictGuard`] is alive).
    held: Cell<bool>,
    /// The message of the `BusyResource` error.
    message: &'static str,
}

/// Held while an operation runs; dropping it lets the next one in.
pub(crate) struct ConflictGuard<'a>(&'a Cell<bool>);

impl Drop for ConflictGuard<'_> {
    fn drop(&mut self) {
        self.0.set(false);
    }
}

impl ConflictDetector {
    pub(crate) const fn new(message: &'static str) -> ConflictDetector {
        ConflictDetector {
            held: Cell::new(false),
            message,
        }
    }

    /// Enters an operation, or fails with `BusyResource` if one is running.
    pub(crate) fn enter(&self) -> Result<ConflictGuard<'_>> {
        if self.held.replace(true) {
            Err(self.busy())
        } else {
            Ok(ConflictGuard(&self.held))
        }
    }

    /// Fails with `BusyResource` if an operation is running, without entering
    /// (for poll-based entry points, which hold nothing across polls).
    pub(crate) fn check(&self) -> Result<()> {
        if self.held.get() {
            Err(self.busy())
        } else {
            Ok(())
        }
    }

    /// Whether an operation is running.
    pub(crate) fn is_held(&self) -> bool {
        self.held.get()
    }

    fn busy(&self) -> Error {
        Error::new(ErrorKind::BusyResource, self.message)
    }
}

impl fmt::Debug for ConflictDetector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConflictDetector")
            .field("held", &self.held.get())
            .finish()
    }
}
