//! Memory channels: send values between tasks (Trio's `open_memory_channel`).
//!
//! # Semantics (Trio's, exactly)
//!
//! * A channel has a buffer of `max_buffer_size` items: `0` makes every send wait
//!   until a receiver takes the item (rendezvous), [`UNBOUNDED`] never makes a
//!   send wait.
//! * Each item goes to exactly one receiver, in FIFO order; blocked senders and
//!   receivers are served in FIFO order too.
//! * Handles are cloned and closed one by one. When the last sender closes,
//!   receivers drain the buffer and then get [`ErrorKind::EndOfChannel`]; when the
//!   last receiver closes, senders get [`ErrorKind::BrokenResource`] and the buffer
//!   is dropped. A handle used after it was closed gives
//!   [`ErrorKind::ClosedResource`]; closing a handle wakes its own blocked tasks
//!   with that error.
//! * Every `send` and `receive` is a checkpoint. They are atomic under
//!   cancellation: a cancelled `send` delivered nothing and hands the item back in
//!   its [`SendError`]; a cancelled `receive` took nothing.
//!
//! # Two flavours
//!
//! [`open_memory_channel`] makes a [`ThreadSafe`] channel: its handles are `Send`
//! when `T` is, so a channel can connect trio loops running on different threads
//! (a wake-up from another thread reaches the waiting task's loop through its
//! cross-thread queue). [`open_local_memory_channel`] makes a [`Local`] one, for a
//! channel used inside one loop: the same code with a `RefCell` instead of a
//! `Mutex`, which saves the atomic operations of locking on every operation (see
//! `BENCHMARKS.md` for what that is worth).
//!
//! # Broadcast
//!
//! [`open_broadcast_channel`] (beyond Trio; python-trio/trio#987) gives every receiver
//! every item; slow receivers apply backpressure rather than lose items.
//!
//! # How waiting works
//!
//! The channel keeps its own FIFO of blocked senders (each holding its value) and
//! receivers, guarded by the channel's lock, because a trio `ParkingLot` belongs
//! to one loop. Cancellation reaches a blocked operation through
//! [`CancelRegistration`](crate::lowlevel::CancelRegistration), the same
//! mechanism under every trio suspension. The state machine is in `state.rs`; all
//! wake-ups happen after the lock is released.
//!
//! [`ErrorKind::EndOfChannel`]: crate::ErrorKind::EndOfChannel
//! [`ErrorKind::BrokenResource`]: crate::ErrorKind::BrokenResource
//! [`ErrorKind::ClosedResource`]: crate::ErrorKind::ClosedResource

mod broadcast;
mod flavour;
mod handle;
mod receive;
mod send;
mod state;
mod statistics;

pub use broadcast::{
    BroadcastReceiver, BroadcastSend, BroadcastSender, BroadcastStatistics, open_broadcast_channel,
};
pub use flavour::{Flavour, Local, ThreadSafe};
pub use receive::{MemoryReceiveChannel, ReceiveFuture};
pub use send::{MemorySendChannel, SendError, SendFuture};
pub use statistics::MemoryChannelStatistics;

use state::State;

/// A buffer size meaning "no limit" (Trio's `math.inf`).
///
/// # Examples
///
/// ```
/// let (tx, _rx) = trio::open_memory_channel::<u32>(trio::channel::UNBOUNDED);
/// for i in 0..10_000 {
///     tx.send_nowait(i).unwrap(); // never full
/// }
/// ```
pub const UNBOUNDED: usize = usize::MAX;

/// The sending end of a [`Local`] memory channel.
pub type LocalMemorySendChannel<T> = MemorySendChannel<T, Local>;
/// The receiving end of a [`Local`] memory channel.
pub type LocalMemoryReceiveChannel<T> = MemoryReceiveChannel<T, Local>;

/// Opens a memory channel with a buffer of `max_buffer_size` items (`0`: every send
/// waits for a receiver; [`UNBOUNDED`]: no limit). Its handles are `Send` when `T`
/// is (Trio's `open_memory_channel`).
///
/// # Examples
///
/// ```
/// # trio::run(async {
/// let (tx, rx) = trio::open_memory_channel::<String>(0);
/// trio::open_nursery(async |n| {
///     n.start_soon(async move {
///         tx.send("hi".to_string()).await?; // waits for the receiver
///         Ok(())
///     })?;
///     assert_eq!(rx.receive().await?, "hi");
///     Ok(())
/// }).await
/// # }).unwrap();
/// ```
pub fn open_memory_channel<T>(
    max_buffer_size: usize,
) -> (
    MemorySendChannel<T, ThreadSafe>,
    MemoryReceiveChannel<T, ThreadSafe>,
) {
    open_with::<T, ThreadSafe>(max_buffer_size)
}

/// Opens a memory channel for use inside one trio loop: like
/// [`open_memory_channel`], but the handles are not `Send` and skip the locking.
///
/// # Examples
///
/// ```
/// # trio::run(async {
/// let (tx, rx) = trio::open_local_memory_channel::<std::rc::Rc<u8>>(1); // Rc is fine
/// tx.send(std::rc::Rc::new(5)).await?;
/// assert_eq!(*rx.receive().await?, 5);
/// # Ok(()) }).unwrap();
/// ```
pub fn open_local_memory_channel<T>(
    max_buffer_size: usize,
) -> (LocalMemorySendChannel<T>, LocalMemoryReceiveChannel<T>) {
    open_with::<T, Local>(max_buffer_size)
}

fn open_with<T, F: Flavour>(max: usize) -> (MemorySendChannel<T, F>, MemoryReceiveChannel<T, F>) {
    let shared = F::wrap(State::new(max));
    let rx = MemoryReceiveChannel::new(F::share(&shared));
    let tx = MemorySendChannel::new(shared);
    (tx, rx)
}
