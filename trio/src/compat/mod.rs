//! Interoperability with other async runtimes.
//!
//! * [`tokio`] (feature `tokio`): await futures from tokio-only crates (reqwest,
//!   sqlx, tonic, …) inside trio, on a background tokio runtime, with trio's
//!   cancellation reaching them.

pub mod tokio;
