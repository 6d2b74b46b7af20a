//! Forcing an order on tasks in tests (Trio's `trio.testing.Sequencer`).

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::fmt;

use crate::error::{Error, ErrorKind, Result};
use crate::sync::Event;

/// Makes tasks take turns in a fixed order, for tests (Trio's `Sequencer`).
///
/// [`enter(n)`](Self::enter) waits until every position below `n` has been entered
/// and left; the returned guard leaves position `n` when dropped. Each position can
/// be used once. If a task is cancelled while waiting for its turn, the sequence is
/// broken: every waiter (and every later `enter`) gets
/// [`ErrorKind::BrokenResource`], so a test fails loudly instead of hanging.
///
/// # Examples
///
/// ```
/// use std::cell::RefCell;
/// use trio::testing::Sequencer;
/// # trio::run(async {
/// let seq = Sequencer::new();
/// let log = RefCell::new(Vec::new());
/// let (s, l) = (&seq, &log);
/// trio::open_nursery(async |n| {
///     n.start_soon(async move {
///         let _turn = s.enter(1).await?;
///         l.borrow_mut().push("second");
///         Ok(())
///     })?;
///     n.start_soon(async move {
///         let _turn = s.enter(0).await?;
///         l.borrow_mut().push("first");
///         Ok(())
///     })?;
///     Ok(())
/// }).await?;
/// assert_eq!(log.into_inner(), ["first", "second"]);
/// # Ok(()) }).unwrap();
/// ```
#[derive(Default)]
pub struct Sequencer {
    inner: RefCell<Inner>,
    broken: Event,
}

#[derive(Default)]
struct Inner {
    /// One event per position, set when that position has been left.
    done: HashMap<usize, std::rc::Rc<Event>>,
    claimed: HashSet<usize>,
    broken: bool,
}

impl fmt::Debug for Sequencer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = self.inner.borrow();
        f.debug_struct("Sequencer")
            .field("claimed", &i.claimed.len())
            .field("broken", &i.broken)
            .finish()
    }
}

/// Held while a task has its turn; dropping it passes the turn on.
///
/// # Examples
///
/// ```
/// # trio::run(async {
/// let seq = trio::testing::Sequencer::new();
/// let turn: trio::testing::SequencerGuard<'_> = seq.enter(0).await?;
/// drop(turn); // position 1 may go now
/// drop(seq.enter(1).await?);
/// # Ok(()) }).unwrap();
/// ```
#[must_use = "the turn passes as soon as the guard is dropped"]
pub struct SequencerGuard<'a> {
    seq: &'a Sequencer,
    position: usize,
}

impl fmt::Debug for SequencerGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SequencerGuard")
            .field("position", &self.position)
            .finish()
    }
}

impl Drop for SequencerGuard<'_> {
    fn drop(&mut self) {
        self.seq.done_event(self.position).set();
    }
}

impl Sequencer {
    /// A sequencer at position 0.
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// let seq = trio::testing::Sequencer::new();
    /// drop(seq.enter(0).await?); // position 0 never waits
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn new() -> Sequencer {
        Sequencer::default()
    }

    fn done_event(&self, position: usize) -> std::rc::Rc<Event> {
        self.inner
            .borrow_mut()
            .done
            .entry(position)
            .or_default()
            .clone()
    }

    fn broken_error() -> Error {
        Error::new(
            ErrorKind::BrokenResource,
            "the sequence was broken: a task was cancelled while waiting for its turn",
        )
    }

    /// Waits until positions `0..position` have all been left, then returns the
    /// guard of `position`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Usage`] if `position` was used before;
    /// [`ErrorKind::BrokenResource`] if the sequence is (or becomes) broken;
    /// `Cancelled` if cancelled while waiting — which breaks the sequence.
    ///
    /// # Cancellation
    ///
    /// A checkpoint. A cancelled wait breaks the sequence for everyone.
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// let seq = trio::testing::Sequencer::new();
    /// drop(seq.enter(0).await?);
    /// let again = seq.enter(0).await.unwrap_err();
    /// assert_eq!(again.kind(), trio::ErrorKind::Usage);
    /// # Ok(()) }).unwrap();
    /// ```
    pub async fn enter(&self, position: usize) -> Result<SequencerGuard<'_>> {
        {
            let mut i = self.inner.borrow_mut();
            if i.broken {
                return Err(Sequencer::broken_error());
            }
            if !i.claimed.insert(position) {
                return Err(Error::new(
                    ErrorKind::Usage,
                    format!("sequence position {position} was already used"),
                ));
            }
        }
        for earlier in 0..position {
            let done = self.done_event(earlier);
            let r = wait_or_broken(&done, &self.broken).await;
            match r {
                Ok(()) => {}
                Err(e) if e.is_cancelled() => {
                    self.inner.borrow_mut().broken = true;
                    self.broken.set();
                    return Err(e);
                }
                Err(e) => return Err(e),
            }
        }
        if self.inner.borrow().broken {
            return Err(Sequencer::broken_error());
        }
        crate::lowlevel::checkpoint().await?;
        Ok(SequencerGuard {
            seq: self,
            position,
        })
    }
}

/// Waits for `done`, or fails as soon as `broken` is set.
async fn wait_or_broken(done: &Event, broken: &Event) -> Result<()> {
    if done.is_set() {
        return Ok(());
    }
    let outcome: std::cell::Cell<Option<bool>> = std::cell::Cell::new(None);
    let o = &outcome;
    crate::open_nursery(async |n| {
        let scope = n.cancel_scope();
        let s2 = scope.clone();
        n.start_soon(async move {
            done.wait().await?;
            o.set(Some(true));
            s2.cancel();
            Ok(())
        })?;
        n.start_soon(async move {
            broken.wait().await?;
            o.set(Some(false));
            scope.cancel();
            Ok(())
        })?;
        Ok(())
    })
    .await?;
    match outcome.get() {
        Some(true) => Ok(()),
        _ => Err(Sequencer::broken_error()),
    }
}
