//! One end's handle on a memory channel: the shared state plus this handle's slot
//! in it. Both the sending and the receiving end are built on it, so opening,
//! cloning, closing and dropping work the same way for both.

use super::flavour::Flavour;
use super::state::{Side, State};
use super::statistics::MemoryChannelStatistics;

pub(crate) struct Handle<T, F: Flavour> {
    pub(crate) shared: F::Shared<T>,
    pub(crate) id: usize,
}

impl<T, F: Flavour> Handle<T, F> {
    /// A new open handle on `side`.
    pub(crate) fn open(shared: F::Shared<T>, side: Side) -> Self {
        let id = F::with(&shared, |s| s.add_handle(side));
        Handle { shared, id }
    }

    /// Runs `f` with the channel state locked.
    #[inline]
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut State<T>) -> R) -> R {
        F::with(&self.shared, f)
    }

    /// Closes this handle; wakes the waits that ends and drops what nobody can
    /// receive any more — both after unlocking.
    pub(crate) fn close(&self) {
        let (wake, dropped) = self.with(|s| s.close(self.id));
        drop(dropped);
        for w in wake {
            w.wake();
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.with(|s| s.is_closed(self.id))
    }

    pub(crate) fn statistics(&self) -> MemoryChannelStatistics {
        self.with(|s| MemoryChannelStatistics::of(s))
    }

    /// Another handle on the same end; closed if this one is (Trio's `clone` of a
    /// closed handle fails: a clone must not reopen the channel).
    pub(crate) fn duplicate(&self) -> Self {
        let id = self.with(|s| s.clone_handle(self.id));
        Handle {
            shared: F::share(&self.shared),
            id,
        }
    }
}

impl<T, F: Flavour> Drop for Handle<T, F> {
    fn drop(&mut self) {
        self.close();
        self.with(|s| s.forget_handle(self.id));
    }
}
