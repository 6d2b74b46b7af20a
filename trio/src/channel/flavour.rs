//! The two flavours of memory channel: the same state behind a `Mutex` in an `Arc`
//! (channels that connect loops on different threads) or behind a `RefCell` in an
//! `Rc` (channels inside one loop, which skip the atomics).

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use super::state::State;

pub(crate) mod sealed {
    use super::State;

    /// How a flavour shares and locks the channel state.
    pub trait Sealed: 'static {
        /// The shared handle to the state.
        type Shared<T>;
        /// Wraps a new state.
        fn wrap<T>(state: State<T>) -> Self::Shared<T>;
        /// Other threads may use the channel (for the deadlock detector).
        const THREAD_SAFE: bool;
        /// The channel's identity (for the task tree).
        fn id<T>(shared: &Self::Shared<T>) -> usize;
        /// Clones the shared handle.
        fn share<T>(shared: &Self::Shared<T>) -> Self::Shared<T>;
        /// Runs `f` with the state locked.
        fn with<T, R>(shared: &Self::Shared<T>, f: impl FnOnce(&mut State<T>) -> R) -> R;
    }
}

/// Which memory channel: [`ThreadSafe`] (the default: `Send` when `T: Send`, so it
/// can connect trio loops on different threads) or [`Local`] (one loop only, cheaper).
///
/// # Examples
///
/// ```
/// fn assert_send<X: Send>(_: &X) {}
/// let (tx, _rx) = trio::open_memory_channel::<u32>(1); // ThreadSafe
/// assert_send(&tx);
/// let (_tx, _rx) = trio::open_local_memory_channel::<u32>(1); // Local: !Send
/// ```
pub trait Flavour: sealed::Sealed {}

/// The thread-safe flavour (a `Mutex` around the state).
///
/// # Examples
///
/// ```
/// let (tx, rx): (trio::MemorySendChannel<u8, trio::channel::ThreadSafe>, _) = trio::open_memory_channel(4);
/// tx.send_nowait(1).unwrap();
/// assert_eq!(rx.receive_nowait().unwrap(), 1);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ThreadSafe;

/// The single-loop flavour (a `RefCell` around the state; handles are `!Send`).
///
/// # Examples
///
/// ```
/// let (tx, rx): (trio::LocalMemorySendChannel<u8>, trio::LocalMemoryReceiveChannel<u8>) =
///     trio::open_local_memory_channel(4);
/// tx.send_nowait(1).unwrap();
/// assert_eq!(rx.receive_nowait().unwrap(), 1);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Local;

impl Flavour for ThreadSafe {}
impl Flavour for Local {}

impl sealed::Sealed for ThreadSafe {
    type Shared<T> = Arc<Mutex<State<T>>>;
    const THREAD_SAFE: bool = true;
    fn wrap<T>(state: State<T>) -> Self::Shared<T> {
        Arc::new(Mutex::new(state))
    }
    fn id<T>(shared: &Self::Shared<T>) -> usize {
        Arc::as_ptr(shared) as *const () as usize
    }
    fn share<T>(shared: &Self::Shared<T>) -> Self::Shared<T> {
        shared.clone()
    }
    #[inline]
    fn with<T, R>(shared: &Self::Shared<T>, f: impl FnOnce(&mut State<T>) -> R) -> R {
        // A panic while locked can only come from a user's `Drop` of a value we
        // dropped; the state itself is consistent, so a poisoned lock is usable.
        let mut g = shared.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut g)
    }
}

impl sealed::Sealed for Local {
    type Shared<T> = Rc<RefCell<State<T>>>;
    const THREAD_SAFE: bool = false;
    fn wrap<T>(state: State<T>) -> Self::Shared<T> {
        Rc::new(RefCell::new(state))
    }
    fn id<T>(shared: &Self::Shared<T>) -> usize {
        Rc::as_ptr(shared) as *const () as usize
    }
    fn share<T>(shared: &Self::Shared<T>) -> Self::Shared<T> {
        shared.clone()
    }
    #[inline]
    fn with<T, R>(shared: &Self::Shared<T>, f: impl FnOnce(&mut State<T>) -> R) -> R {
        f(&mut shared.borrow_mut())
    }
}
