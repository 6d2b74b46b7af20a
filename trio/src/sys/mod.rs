//! The platform layer: every call into the operating system that is not a
//! portable crate's (mio, socket2, std) lives here, one file per concern, each
//! with its contract — what it promises on every supported system — at the top,
//! and the per-system choices (`cfg`) inside it. The rest of trio calls these
//! functions and never names a system.
//!
//! | file | concern |
//! |---|---|
//! | `affinity.rs` | pinning the calling thread to a CPU |
//! | `signal.rs` | signal numbers, which signals can be received, dispositions |
//!
//! Supported: Linux (the reference: developed and tested there), macOS and
//! FreeBSD (type-checked and linted in CI).

pub(crate) mod affinity;
pub(crate) mod signal;
