//! Memory channels.
