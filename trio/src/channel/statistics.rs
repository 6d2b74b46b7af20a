//! Statistics of a memory channel.

use super::state::State;

/// A snapshot of a memory channel (Trio's `MemoryChannelStatistics`, plus
/// `peak_buffer_used`).
///
/// # Examples
///
/// ```
/// let (tx, rx) = trio::open_memory_channel::<u8>(8);
/// tx.send_nowait(1).unwrap();
/// tx.send_nowait(2).unwrap();
/// rx.receive_nowait().unwrap();
/// let s = rx.statistics();
/// assert_eq!(s.current_buffer_used, 1);
/// assert_eq!(s.peak_buffer_used, 2);
/// assert_eq!(s.open_receive_channels, 1);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MemoryChannelStatistics {
    /// Items in the buffer now.
    pub current_buffer_used: usize,
    /// The most items the buffer ever held.
    pub peak_buffer_used: usize,
    /// The buffer's capacity ([`UNBOUNDED`](crate::channel::UNBOUNDED) for none).
    pub max_buffer_size: usize,
    /// Send handles not yet closed.
    pub open_send_channels: usize,
    /// Receive handles not yet closed.
    pub open_receive_channels: usize,
    /// Tasks blocked in `send`.
    pub tasks_waiting_send: usize,
    /// Tasks blocked in `receive`.
    pub tasks_waiting_receive: usize,
}

impl MemoryChannelStatistics {
    pub(crate) fn of<T>(s: &State<T>) -> MemoryChannelStatistics {
        MemoryChannelStatistics {
            current_buffer_used: s.held(),
            peak_buffer_used: s.peak,
            max_buffer_size: s.max,
            open_send_channels: s.open_send,
            open_receive_channels: s.open_recv,
            tasks_waiting_send: s.senders.waiting(),
            tasks_waiting_receive: s.receivers.waiting(),
        }
    }
}
