//! Interop with other runtimes (feature `tokio`). Work in progress.
