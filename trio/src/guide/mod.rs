//! Guides: what does not fit in one item's documentation.
//!
//! * [`coming_from_tokio`]: tokio's idioms — `spawn` and `JoinSet`, `select!`,
//!   `timeout`, `CancellationToken`, `spawn_blocking`, `copy_bidirectional`,
//!   streams — and what replaces each in trio, and why.
//! * [`io_uring`]: running on io_uring — how to switch, what runs on the ring,
//!   why its cancellation loses nothing, poll-based I/O, and when it pays.
//!
//! The essays at the top of the modules say why each part is built the way it
//! is: [`loops`](crate::loops) (one loop, several, or threads),
//! [`to_thread`](crate::to_thread) (what a worker thread costs),
//! [`abc`](crate::abc) (the stream contracts), [`sync`](crate::sync),
//! [`channel`](crate::channel), [`process`](crate::process).

#[doc = include_str!("coming_from_tokio.md")]
pub mod coming_from_tokio {}

#[doc = include_str!("io_uring.md")]
pub mod io_uring {}
