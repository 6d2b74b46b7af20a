//! [`CapacityLimiter`]: a sack of tokens, each lent to one identified borrower.
//!
//! Like a semaphore, plus bookkeeping of *who* holds each token: a [`Borrower`]
//! may hold at most one token of a limiter, and only a borrower that holds one can
//! give it back. Waiters queue in a [`ParkingLot`]; a release (or a raised
//! `total_tokens`) lends the freed tokens straight to the longest waiters, adding
//! their borrowers to the sack's ledger *before* they run — so the ledger is always
//! exact, and a task that releases and re-acquires at once queues behind them.
//!
//! # How a waiter's borrower reaches the releasing task
//!
//! The releasing task must know the borrower of the waiter it wakes. Trio keeps a
//! `task -> borrower` map; a Rust task may run several acquires at once (a `join`
//! of futures), so we keep instead a queue `pending` of `(wait id, borrower)` in
//! the same FIFO order as the lot. Invariant: *`pending[i]` is the borrower of the
//! `i`-th waiter in the lot.* It holds because a waiter pushes its entry and enters
//! the lot in the same poll (nothing can run in between); an entry leaves
//! `pending` exactly when its waiter leaves the lot: popped together by a wake-up,
//! or removed by the waiter when it is cancelled or dropped. The lot of a limiter
//! is never broken and never reparked, so nothing else moves waiters.
//!
//! # Loans
//!
//! Each loan gets a fresh id, kept in the ledger. A [`CapacityPermit`] releases on
//! drop only if its loan is still the borrower's current one, so mixing permits
//! with explicit `release` calls cannot return somebody's *later* token. A token
//! lent to a waiter whose future is dropped before it runs travels in a [`Loan`]
//! whose `Drop` returns it.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::lowlevel::{
    ParkingLot, Task, cancel_shielded_checkpoint, checkpoint_if_cancelled, current_task,
};
use crate::{Error, ErrorKind, Result};

/// Who holds a [`CapacityLimiter`] token: a task, or an opaque token of your own
/// (Trio accepts any object as a borrower; its `to_thread` lends tokens to
/// threads this way).
///
/// Two `Borrower`s are equal if they are the same task, or clones of the same
/// [`Borrower::new`] token.
///
/// # Examples
///
/// ```
/// use trio::sync::Borrower;
/// # trio::run(async {
/// let me = Borrower::current_task();
/// assert_eq!(me, Borrower::from(trio::lowlevel::current_task()));
/// assert_eq!(me.task(), Some(&trio::lowlevel::current_task()));
///
/// let a = Borrower::new();
/// assert_eq!(a, a.clone());
/// assert_ne!(a, Borrower::new()); // every new token is unique
/// assert_eq!(a.task(), None);
/// # Ok(()) }).unwrap();
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Borrower(Repr);

#[derive(Clone, PartialEq, Eq, Hash)]
enum Repr {
    Task(Task),
    Token(u64),
}

static NEXT_TOKEN: AtomicU64 = AtomicU64::new(1);

impl Borrower {
    /// A fresh borrower, different from every other (clones compare equal).
    ///
    /// # Examples
    ///
    /// ```
    /// let b = trio::sync::Borrower::new();
    /// assert_eq!(b, b.clone());
    /// assert_ne!(b, trio::sync::Borrower::new());
    /// ```
    pub fn new() -> Borrower {
        Borrower(Repr::Token(NEXT_TOKEN.fetch_add(1, Ordering::Relaxed)))
    }

    /// The current task as a borrower (what [`CapacityLimiter::acquire`] uses).
    ///
    /// # Panics
    ///
    /// Outside a trio task.
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// let me = trio::sync::Borrower::current_task();
    /// assert_eq!(me.task(), Some(&trio::lowlevel::current_task()));
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn current_task() -> Borrower {
        Borrower(Repr::Task(current_task()))
    }

    /// The task, if this borrower is one.
    ///
    /// # Examples
    ///
    /// ```
    /// # trio::run(async {
    /// let task = trio::lowlevel::current_task();
    /// assert_eq!(trio::sync::Borrower::from(task.clone()).task(), Some(&task));
    /// assert_eq!(trio::sync::Borrower::new().task(), None);
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn task(&self) -> Option<&Task> {
        match &self.0 {
            Repr::Task(t) => Some(t),
            Repr::Token(_) => None,
        }
    }
}

impl Default for Borrower {
    /// Same as [`Borrower::new`]: a fresh, unique borrower.
    fn default() -> Self {
        Borrower::new()
    }
}

impl From<Task> for Borrower {
    fn from(task: Task) -> Borrower {
        Borrower(Repr::Task(task))
    }
}

impl From<&Task> for Borrower {
    fn from(task: &Task) -> Borrower {
        Borrower(Repr::Task(task.clone()))
    }
}

impl fmt::Debug for Borrower {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::Task(t) => f.debug_tuple("Borrower").field(t).finish(),
            Repr::Token(n) => write!(f, "Borrower(#{n})"),
        }
    }
}

struct LimiterState {
    lot: ParkingLot<Loan>,
    total: Cell<usize>,
    /// The ledger: every borrower holding a token, with its loan id.
    borrowers: RefCell<HashMap<Borrower, u64>>,
    /// The borrowers of the waiters in `lot`, in the lot's order (see the module
    /// docs for the invariant).
    pending: RefCell<VecDeque<(u64, Borrower)>>,
    next: Cell<u64>,
}

impl LimiterState {
    fn next_id(&self) -> u64 {
        let id = self.next.get() + 1;
        self.next.set(id);
        id
    }

    fn available(&self) -> usize {
        self.total
            .get()
            .saturating_sub(self.borrowers.borrow().len())
    }
}

/// A token lent to a woken waiter, in flight; returned if dropped unclaimed.
struct Loan {
    limiter: Weak<LimiterState>,
    borrower: Borrower,
    loan: u64,
    wait: u64,
    armed: bool,
}

impl Loan {
    fn claim(mut self) -> (Borrower, u64, u64) {
        self.armed = false;
        (self.borrower.clone(), self.loan, self.wait)
    }
}

impl Drop for Loan {
    fn drop(&mut self) {
        if self.armed {
            if let Some(state) = self.limiter.upgrade() {
                let _ = release_loan(&state, &self.borrower, Some(self.loan));
            }
        }
    }
}

/// Lends free tokens to the longest waiters.
fn wake_waiters(state: &Rc<LimiterState>) {
    while state.available() > 0 {
        let Some((wait, borrower)) = state.pending.borrow_mut().pop_front() else {
            break;
        };
        let loan = state.next_id();
        state.borrowers.borrow_mut().insert(borrower.clone(), loan);
        let ticket = Loan {
            limiter: Rc::downgrade(state),
            borrower,
            loan,
            wait,
            armed: true,
        };
        if let Err(ticket) = state.lot.unpark_with(ticket) {
            // Unreachable while the invariant holds; undo rather than leak.
            debug_assert!(false, "CapacityLimiter: pending and lot out of step");
            let (borrower, _, _) = ticket.claim();
            state.borrowers.borrow_mut().remove(&borrower);
            break;
        }
    }
}

/// Returns `borrower`'s token (only if its loan is `loan`, when given).
fn release_loan(state: &Rc<LimiterState>, borrower: &Borrower, loan: Option<u64>) -> Result<()> {
    {
        let mut ledger = state.borrowers.borrow_mut();
        match ledger.get(borrower) {
            Some(l) if loan.is_none_or(|want| want == *l) => {
                ledger.remove(borrower);
            }
            _ => {
                return Err(Error::new(
                    ErrorKind::Usage,
                    "this borrower isn't holding any of this CapacityLimiter's tokens",
                ));
            }
        }
    }
    wake_waiters(state);
    Ok(())
}

/// Removes a waiter's `pending` entry when it leaves the lot other than by a
/// wake-up (cancelled, or its future dropped).
struct PendingEntry<'a> {
    state: &'a LimiterState,
    wait: u64,
}

impl Drop for PendingEntry<'_> {
    fn drop(&mut self) {
        let mut pending = self.state.pending.borrow_mut();
        if let Some(i) = pending.iter().position(|(w, _)| *w == self.wait) {
            pending.remove(i);
        }
    }
}

/// A limit on how many tasks (or threads, or anything) use a resource at once
/// (Trio's `CapacityLimiter`).
///
/// Think of a sack of `total_tokens` tokens: a borrower takes one out with
/// [`acquire`](Self::acquire), waiting in line while the sack is empty, and puts
/// it back when done (dropping the [`CapacityPermit`], or
/// [`release`](Self::release)). Unlike a [`Semaphore`](super::Semaphore) it knows
/// who holds each token: a borrower may hold only one token of a limiter (a
/// second acquire is an [`ErrorKind::Usage`] error, not a silent double count),
/// and only a holder can give one back. The borrower is the current task, or any
/// [`Borrower`] with the `_on_behalf_of` methods.
///
/// The size of the sack can change at run time with
/// [`set_total_tokens`](Self::set_total_tokens).
///
/// Fair: waiters get tokens in the order they asked, and a returned token goes
/// straight to the longest waiter.
///
/// # Examples
///
/// ```
/// use std::cell::Cell;
/// use trio::sync::CapacityLimiter;
/// # trio::run(async {
/// let limiter = CapacityLimiter::new(3);
/// let (busy, peak) = (Cell::new(0), Cell::new(0));
/// let (limiter, busy, peak) = (&limiter, &busy, &peak);
/// trio::open_nursery(async |n| {
///     for _ in 0..10 {
///         n.start_soon(async move {
///             let _token = limiter.acquire().await?;
///             busy.set(busy.get() + 1);
///             peak.set(peak.get().max(busy.get()));
///             trio::sleep(std::time::Duration::from_millis(1)).await?;
///             busy.set(busy.get() - 1);
///             Ok(())
///         })?;
///     }
///     Ok(())
/// }).await?;
/// assert_eq!(peak.get(), 3);
/// assert_eq!(limiter.borrowed_tokens(), 0);
/// # Ok(()) }).unwrap();
/// ```
pub struct CapacityLimiter {
    state: Rc<LimiterState>,
}

impl fmt::Debug for CapacityLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CapacityLimiter")
            .field("borrowed_tokens", &self.borrowed_tokens())
            .field("total_tokens", &self.total_tokens())
            .field("tasks_waiting", &self.state.lot.len())
            .finish()
    }
}

/// Statistics of a [`CapacityLimiter`] (Trio's `CapacityLimiterStatistics`).
///
/// # Examples
///
/// ```
/// use trio::sync::{Borrower, CapacityLimiter};
/// let limiter = CapacityLimiter::new(2);
/// let b = Borrower::new();
/// limiter.acquire_on_behalf_of_nowait(&b)?.forget();
/// let stats = limiter.statistics();
/// assert_eq!((stats.borrowed_tokens, stats.total_tokens), (1, 2));
/// assert_eq!(stats.borrowers, [b]);
/// assert_eq!(stats.tasks_waiting, 0);
/// # Ok::<(), trio::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CapacityLimiterStatistics {
    /// Tokens lent out now.
    pub borrowed_tokens: usize,
    /// The size of the sack (may be below `borrowed_tokens` right after
    /// [`CapacityLimiter::set_total_tokens`] lowered it).
    pub total_tokens: usize,
    /// Every borrower holding a token, in the order they got it.
    pub borrowers: Vec<Borrower>,
    /// Tasks blocked in `acquire` / `acquire_on_behalf_of`.
    pub tasks_waiting: usize,
}

/// A token of a [`CapacityLimiter`], returned to the sack when dropped.
///
/// Call [`forget`](Self::forget) to keep the token and return it later with
/// [`CapacityLimiter::release`] / [`release_on_behalf_of`]. A permit whose token
/// was already returned by hand does nothing when dropped.
///
/// [`release_on_behalf_of`]: CapacityLimiter::release_on_behalf_of
///
/// # Examples
///
/// ```
/// use trio::sync::CapacityLimiter;
/// # trio::run(async {
/// let limiter = CapacityLimiter::new(1);
/// let token = limiter.acquire().await?;
/// assert_eq!(token.borrower().task(), Some(&trio::lowlevel::current_task()));
/// assert_eq!(limiter.available_tokens(), 0);
/// drop(token);
/// assert_eq!(limiter.available_tokens(), 1);
/// # Ok(()) }).unwrap();
/// ```
#[must_use = "dropping the permit returns the token at once; use `forget` to keep it"]
pub struct CapacityPermit<'a> {
    limiter: &'a CapacityLimiter,
    borrower: Borrower,
    loan: u64,
}

impl CapacityPermit<'_> {
    /// The borrower holding this token.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::sync::{Borrower, CapacityLimiter};
    /// let limiter = CapacityLimiter::new(1);
    /// let b = Borrower::new();
    /// let token = limiter.acquire_on_behalf_of_nowait(&b)?;
    /// assert_eq!(token.borrower(), &b);
    /// # Ok::<(), trio::Error>(())
    /// ```
    pub fn borrower(&self) -> &Borrower {
        &self.borrower
    }

    /// Keeps the token: the permit goes away without returning it.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::sync::CapacityLimiter;
    /// # trio::run(async {
    /// let limiter = CapacityLimiter::new(1);
    /// limiter.acquire().await?.forget();
    /// assert_eq!(limiter.borrowed_tokens(), 1);
    /// limiter.release()?;
    /// assert_eq!(limiter.borrowed_tokens(), 0);
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn forget(mut self) {
        self.loan = 0; // no loan has id 0: the drop below returns nothing
    }
}

impl Drop for CapacityPermit<'_> {
    fn drop(&mut self) {
        if self.loan != 0 {
            let _ = release_loan(&self.limiter.state, &self.borrower, Some(self.loan));
        }
    }
}

impl fmt::Debug for CapacityPermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CapacityPermit")
            .field("borrower", &self.borrower)
            .finish()
    }
}

impl CapacityLimiter {
    /// A limiter with `total_tokens` tokens. Use `usize::MAX` for "no limit"
    /// (Trio's `math.inf`); 0 lets nobody through until the total is raised.
    ///
    /// # Examples
    ///
    /// ```
    /// let limiter = trio::sync::CapacityLimiter::new(40);
    /// assert_eq!(limiter.total_tokens(), 40);
    /// assert_eq!(limiter.available_tokens(), 40);
    /// ```
    pub fn new(total_tokens: usize) -> CapacityLimiter {
        CapacityLimiter {
            state: Rc::new(LimiterState {
                lot: ParkingLot::with_name("CapacityLimiter"),
                total: Cell::new(total_tokens),
                borrowers: RefCell::new(HashMap::new()),
                pending: RefCell::new(VecDeque::new()),
                next: Cell::new(0),
            }),
        }
    }

    /// The size of the sack.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(trio::sync::CapacityLimiter::new(2).total_tokens(), 2);
    /// ```
    pub fn total_tokens(&self) -> usize {
        self.state.total.get()
    }

    /// Changes the size of the sack. Raising it lends the new tokens at once to
    /// the longest waiters, in FIFO order. Lowering it below
    /// [`borrowed_tokens`](Self::borrowed_tokens) takes nothing back: the current
    /// borrowers finish as normal, and nobody new gets in until enough tokens come
    /// back. 0 is allowed (nobody gets in).
    ///
    /// # Cancellation
    ///
    /// Not a checkpoint.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::sync::CapacityLimiter;
    /// # trio::run(async {
    /// let limiter = CapacityLimiter::new(1);
    /// let limiter = &limiter;
    /// trio::open_nursery(async |n| {
    ///     let _mine = limiter.acquire().await?;
    ///     n.start_soon(async move { limiter.acquire().await.map(drop) })?;
    ///     trio::testing::wait_all_tasks_blocked().await?;
    ///     assert_eq!(limiter.statistics().tasks_waiting, 1);
    ///     limiter.set_total_tokens(2); // the waiter gets the new token now
    ///     assert_eq!(limiter.statistics().tasks_waiting, 0);
    ///     assert_eq!(limiter.borrowed_tokens(), 2);
    ///     Ok(())
    /// }).await
    /// # }).unwrap();
    /// ```
    pub fn set_total_tokens(&self, total_tokens: usize) {
        self.state.total.set(total_tokens);
        wake_waiters(&self.state);
    }

    /// Tokens lent out now.
    ///
    /// # Examples
    ///
    /// ```
    /// let limiter = trio::sync::CapacityLimiter::new(2);
    /// let _t = limiter.acquire_on_behalf_of_nowait(&trio::sync::Borrower::new())?;
    /// assert_eq!(limiter.borrowed_tokens(), 1);
    /// # Ok::<(), trio::Error>(())
    /// ```
    pub fn borrowed_tokens(&self) -> usize {
        self.state.borrowers.borrow().len()
    }

    /// Tokens in the sack now: `total_tokens - borrowed_tokens`. As in Trio this is
    /// negative when the total was lowered below what is borrowed (the borrowers
    /// keep their tokens; new ones wait until enough are returned). The figure
    /// saturates at `isize::MAX` for a limiter with no limit (`usize::MAX`).
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::sync::{Borrower, CapacityLimiter};
    /// let limiter = CapacityLimiter::new(2);
    /// let _a = limiter.acquire_on_behalf_of_nowait(&Borrower::new())?;
    /// let _b = limiter.acquire_on_behalf_of_nowait(&Borrower::new())?;
    /// assert_eq!(limiter.available_tokens(), 0);
    /// limiter.set_total_tokens(1);
    /// assert_eq!(limiter.available_tokens(), -1); // one more out than the total
    /// # Ok::<(), trio::Error>(())
    /// ```
    pub fn available_tokens(&self) -> isize {
        let total = isize::try_from(self.state.total.get()).unwrap_or(isize::MAX);
        let borrowed = isize::try_from(self.borrowed_tokens()).unwrap_or(isize::MAX);
        total.saturating_sub(borrowed)
    }

    /// Borrows a token for the current task, waiting in line if the sack is empty.
    ///
    /// # Errors
    ///
    /// * [`ErrorKind::Usage`] if the current task already holds (or is already
    ///   waiting for) a token of this limiter.
    /// * `Cancelled`.
    /// * [`ErrorKind::Usage`](crate::ErrorKind::Usage) outside a trio task.
    ///
    /// # Cancellation
    ///
    /// A checkpoint, even when a token is free. A cancelled `acquire` borrowed
    /// nothing and left the queue. If a token was lent to it before the
    /// cancellation was noticed, it succeeds. A dropped `acquire` future that had
    /// already been lent a token returns it.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::sync::CapacityLimiter;
    /// # trio::run(async {
    /// let limiter = CapacityLimiter::new(1);
    /// let token = limiter.acquire().await?;
    /// // One token per borrower:
    /// assert_eq!(limiter.acquire().await.unwrap_err().kind(), trio::ErrorKind::Usage);
    /// drop(token);
    /// # Ok(()) }).unwrap();
    /// ```
    pub async fn acquire(&self) -> Result<CapacityPermit<'_>> {
        self.acquire_on_behalf_of(&Borrower::from(super::me()?))
            .await
    }

    /// Borrows a token for `borrower`, waiting in line (in the current task) if the
    /// sack is empty.
    ///
    /// # Errors
    ///
    /// * [`ErrorKind::Usage`] if `borrower` already holds (or is already waiting
    ///   for) a token of this limiter.
    /// * `Cancelled`; [`ErrorKind::Usage`] outside trio.
    ///
    /// # Cancellation
    ///
    /// As [`acquire`](Self::acquire): a checkpoint; cancelled, it did nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::sync::{Borrower, CapacityLimiter};
    /// # trio::run(async {
    /// let limiter = CapacityLimiter::new(2);
    /// let (worker1, worker2) = (Borrower::new(), Borrower::new());
    /// limiter.acquire_on_behalf_of(&worker1).await?.forget();
    /// limiter.acquire_on_behalf_of(&worker2).await?.forget();
    /// assert_eq!(limiter.statistics().borrowers, [worker1.clone(), worker2.clone()]);
    /// limiter.release_on_behalf_of(&worker1)?;
    /// limiter.release_on_behalf_of(&worker2)?;
    /// # Ok(()) }).unwrap();
    /// ```
    pub async fn acquire_on_behalf_of(&self, borrower: &Borrower) -> Result<CapacityPermit<'_>> {
        checkpoint_if_cancelled()?;
        let yielded = super::schedule_point_first().await?;
        match self.acquire_on_behalf_of_nowait(borrower) {
            Ok(permit) => {
                // If this future is dropped during the yield, `permit` releases.
                if !yielded {
                    cancel_shielded_checkpoint().await?;
                }
                Ok(permit)
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                let wait = self.state.next_id();
                self.state
                    .pending
                    .borrow_mut()
                    .push_back((wait, borrower.clone()));
                let entry = PendingEntry {
                    state: &self.state,
                    wait,
                };
                // The entry was pushed in this same poll: the waiter enters the lot
                // right behind every earlier `pending` entry.
                let loan = self.state.lot.park().await?;
                // Woken: `wake_waiters` already popped our entry.
                std::mem::forget(entry);
                let (borrower, loan, w) = loan.claim();
                debug_assert_eq!(w, wait);
                Ok(CapacityPermit {
                    limiter: self,
                    borrower,
                    loan,
                })
            }
            Err(e) => Err(e),
        }
    }

    /// Borrows a token for the current task if one is free, without blocking.
    ///
    /// # Errors
    ///
    /// * [`ErrorKind::WouldBlock`] if the sack is empty (or tasks wait for it).
    /// * [`ErrorKind::Usage`] if the current task already holds (or waits for) a
    ///   token of this limiter.
    /// * [`ErrorKind::Usage`](crate::ErrorKind::Usage) outside a trio task.
    ///
    /// # Cancellation
    ///
    /// Not a checkpoint.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::sync::CapacityLimiter;
    /// # trio::run(async {
    /// let limiter = CapacityLimiter::new(1);
    /// let token = limiter.acquire_nowait()?;
    /// assert_eq!(limiter.acquire_nowait().unwrap_err().kind(), trio::ErrorKind::Usage);
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn acquire_nowait(&self) -> Result<CapacityPermit<'_>> {
        self.acquire_on_behalf_of_nowait(&Borrower::from(super::me()?))
    }

    /// Borrows a token for `borrower` if one is free, without blocking.
    ///
    /// Works anywhere, also outside a trio run.
    ///
    /// # Errors
    ///
    /// * [`ErrorKind::WouldBlock`] if the sack is empty (or tasks wait for it).
    /// * [`ErrorKind::Usage`] if `borrower` already holds (or waits for) a token
    ///   of this limiter.
    ///
    /// # Cancellation
    ///
    /// Not a checkpoint.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::sync::{Borrower, CapacityLimiter};
    /// let limiter = CapacityLimiter::new(1);
    /// let (a, b) = (Borrower::new(), Borrower::new());
    /// let token = limiter.acquire_on_behalf_of_nowait(&a)?;
    /// let err = limiter.acquire_on_behalf_of_nowait(&b).unwrap_err();
    /// assert_eq!(err.kind(), trio::ErrorKind::WouldBlock);
    /// # Ok::<(), trio::Error>(())
    /// ```
    pub fn acquire_on_behalf_of_nowait(&self, borrower: &Borrower) -> Result<CapacityPermit<'_>> {
        let st = &self.state;
        if st.borrowers.borrow().contains_key(borrower) {
            return Err(Error::new(
                ErrorKind::Usage,
                "this borrower is already holding one of this CapacityLimiter's tokens",
            ));
        }
        if st.pending.borrow().iter().any(|(_, b)| b == borrower) {
            return Err(Error::new(
                ErrorKind::Usage,
                "this borrower is already waiting for one of this CapacityLimiter's tokens",
            ));
        }
        if st.available() == 0 || !st.lot.is_empty() {
            return Err(Error::new(
                ErrorKind::WouldBlock,
                "no CapacityLimiter token is available",
            ));
        }
        let loan = st.next_id();
        st.borrowers.borrow_mut().insert(borrower.clone(), loan);
        Ok(CapacityPermit {
            limiter: self,
            borrower: borrower.clone(),
            loan,
        })
    }

    /// Returns the current task's token. If tasks are waiting, it goes straight to
    /// the longest-waiting one.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Usage`] if the current task holds no token of this limiter.
    /// [`ErrorKind::Usage`](crate::ErrorKind::Usage) outside a trio task.
    ///
    /// # Cancellation
    ///
    /// Not a checkpoint.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::sync::CapacityLimiter;
    /// # trio::run(async {
    /// let limiter = CapacityLimiter::new(1);
    /// assert_eq!(limiter.release().unwrap_err().kind(), trio::ErrorKind::Usage);
    /// limiter.acquire().await?.forget();
    /// limiter.release()?;
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn release(&self) -> Result<()> {
        self.release_on_behalf_of(&Borrower::from(super::me()?))
    }

    /// Returns `borrower`'s token. If tasks are waiting, it goes straight to the
    /// longest-waiting one.
    ///
    /// Works anywhere, also outside a trio run.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Usage`] if `borrower` holds no token of this limiter.
    ///
    /// # Cancellation
    ///
    /// Not a checkpoint.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::sync::{Borrower, CapacityLimiter};
    /// let limiter = CapacityLimiter::new(1);
    /// let b = Borrower::new();
    /// limiter.acquire_on_behalf_of_nowait(&b)?.forget();
    /// limiter.release_on_behalf_of(&b)?;
    /// let twice = limiter.release_on_behalf_of(&b).unwrap_err();
    /// assert_eq!(twice.kind(), trio::ErrorKind::Usage);
    /// # Ok::<(), trio::Error>(())
    /// ```
    pub fn release_on_behalf_of(&self, borrower: &Borrower) -> Result<()> {
        release_loan(&self.state, borrower, None)
    }

    /// The limiter's statistics.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::sync::{Borrower, CapacityLimiter};
    /// # trio::run(async {
    /// let limiter = CapacityLimiter::new(1);
    /// let limiter = &limiter;
    /// let b = Borrower::new();
    /// let _token = limiter.acquire_on_behalf_of(&b).await?;
    /// trio::open_nursery(async |n| {
    ///     n.start_soon(async move { limiter.acquire().await.map(drop) })?;
    ///     trio::testing::wait_all_tasks_blocked().await?;
    ///     let stats = limiter.statistics();
    ///     assert_eq!(stats.borrowed_tokens, 1);
    ///     assert_eq!(stats.total_tokens, 1);
    ///     assert_eq!(stats.borrowers, [b.clone()]);
    ///     assert_eq!(stats.tasks_waiting, 1);
    ///     limiter.release_on_behalf_of(&b) // lets the child in
    /// }).await
    /// # }).unwrap();
    /// ```
    pub fn statistics(&self) -> CapacityLimiterStatistics {
        let mut borrowers: Vec<(u64, Borrower)> = self
            .state
            .borrowers
            .borrow()
            .iter()
            .map(|(b, l)| (*l, b.clone()))
            .collect();
        borrowers.sort_by_key(|(l, _)| *l);
        CapacityLimiterStatistics {
            borrowed_tokens: borrowers.len(),
            total_tokens: self.total_tokens(),
            borrowers: borrowers.into_iter().map(|(_, b)| b).collect(),
            tasks_waiting: self.state.lot.len(),
        }
    }
}
