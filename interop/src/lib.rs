//! trio against other crates' code, in tests of their own: TLS against
//! certificates made by rcgen and against openssl and curl, hyper on trio against
//! hyper on tokio, the tokio compatibility layer, the task tree's JSON parsed by
//! serde_json. They live in this crate, which is never published, so that the
//! trio crate's own examples and tests build none of these dependencies.
//!
//! Run them with the rest: `cargo test --workspace --all-features`.
//!
//! The repository's README is also compiled and run here, as doctests (the trio
//! crate runs its own README).

/// The repository README's examples, compiled and run as doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct RepositoryReadmeDoctests;
