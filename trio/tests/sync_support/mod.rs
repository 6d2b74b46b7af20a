//! Helpers shared by the `tests/sync_*.rs` files (`mod sync_support;`).

#![allow(dead_code)]

use std::future::Future;

pub use trio::testing::{assert_checkpoints, assert_no_checkpoints};

/// Runs `fut` inside an already-cancelled scope and returns what it returned
/// (`Ok(None)` when it reported the cancellation).
pub async fn run_cancelled<T>(
    fut: impl Future<Output = trio::Result<T>>,
) -> trio::Result<Option<T>> {
    let scope = trio::CancelScope::new();
    scope.cancel();
    scope.run(fut).await
}
