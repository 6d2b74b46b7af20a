//! Stress test for memory channels: many senders and receivers, random
//! cancellations and random closes of handles, and an account of every item.
//!
//! Each flavour runs four rounds of 25,000 items (100,000 in all): buffer sizes 0, 1
//! and 16, then 16 again with receivers that quit half-way (so the last receiver
//! closes while senders are still sending). Each round has 8 sender tasks, 8
//! receiver tasks and a chaos task. Senders use `send` (sometimes in a scope with a
//! deadline of 0–2 µs on the mock clock, one time in four), `send_nowait`, or poll a send once and
//! drop it; receivers likewise use `receive`, `receive_nowait`, the `Stream`, or
//! poll a receive once and drop it. Each batch, the chaos task may cancel a
//! worker's current scope or close a worker's handle (the worker then takes a
//! fresh clone and goes on).
//!
//! Every item is an `Item` whose `Drop` records it, so the test sees where each one
//! ended: received exactly once, handed back to its sender (in a `SendError`:
//! cancelled, or the channel broken), or dropped — and a drop is allowed only for an
//! item whose send future the sender dropped, or for the buffer of a round whose
//! receivers all quit. No item may end twice or not at all.
//!
//! Deterministic: a fixed scheduling seed, a seeded `fastrand::Rng`, and an
//! autojump mock clock.

use std::cell::{Cell, RefCell};
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use futures_core::Stream;
use trio::channel::{Flavour, Local, ThreadSafe};
use trio::lowlevel::checkpoint;
use trio::{CancelScope, Error, ErrorKind, MemoryReceiveChannel, MemorySendChannel, Result};

trait Open: Flavour + Sized {
    fn open<T>(max: usize) -> (MemorySendChannel<T, Self>, MemoryReceiveChannel<T, Self>);
}

impl Open for ThreadSafe {
    fn open<T>(max: usize) -> (MemorySendChannel<T, Self>, MemoryReceiveChannel<T, Self>) {
        trio::open_memory_channel(max)
    }
}

impl Open for Local {
    fn open<T>(max: usize) -> (MemorySendChannel<T, Self>, MemoryReceiveChannel<T, Self>) {
        trio::open_local_memory_channel(max)
    }
}

const SENDERS: u32 = 8;
const RECEIVERS: usize = 8;
const ITEMS_PER_ROUND: u32 = 25_000;

/// How each item ended, by id.
struct Ledger {
    received: RefCell<Vec<u8>>,
    handed_back: RefCell<Vec<u8>>,
    dropped: RefCell<Vec<u8>>,
    /// The sender dropped this item's send future after one poll.
    abandoned: RefCell<Vec<bool>>,
}

impl Ledger {
    fn new(n: usize) -> Ledger {
        Ledger {
            received: RefCell::new(vec![0; n]),
            handed_back: RefCell::new(vec![0; n]),
            dropped: RefCell::new(vec![0; n]),
            abandoned: RefCell::new(vec![false; n]),
        }
    }
}

/// An item on its way; its `Drop` records it unless it was settled.
struct Item<'a> {
    id: u32,
    ledger: &'a Ledger,
    settled: bool,
}

impl<'a> Item<'a> {
    fn new(id: u32, ledger: &'a Ledger) -> Self {
        Item {
            id,
            ledger,
            settled: false,
        }
    }

    fn settle(mut self, book: &RefCell<Vec<u8>>) {
        self.settled = true;
        book.borrow_mut()[self.id as usize] += 1;
    }
}

impl Drop for Item<'_> {
    fn drop(&mut self) {
        if !self.settled {
            self.ledger.dropped.borrow_mut()[self.id as usize] += 1;
        }
    }
}

/// What happened, to check that the test exercised what it claims to.
#[derive(Default, Debug)]
struct Tally {
    sent: Cell<u32>,
    send_cancelled: Cell<u32>,
    send_closed: Cell<u32>,
    send_broken: Cell<u32>,
    send_would_block: Cell<u32>,
    send_abandoned: Cell<u32>,
    received: Cell<u32>,
    receive_cancelled: Cell<u32>,
    receive_closed: Cell<u32>,
    receive_abandoned: Cell<u32>,
    stream_received: Cell<u32>,
}

impl Tally {
    fn add(&mut self, other: &Tally) {
        for (a, b) in [
            (&self.sent, &other.sent),
            (&self.send_cancelled, &other.send_cancelled),
            (&self.send_closed, &other.send_closed),
            (&self.send_broken, &other.send_broken),
            (&self.send_would_block, &other.send_would_block),
            (&self.send_abandoned, &other.send_abandoned),
            (&self.received, &other.received),
            (&self.receive_cancelled, &other.receive_cancelled),
            (&self.receive_closed, &other.receive_closed),
            (&self.receive_abandoned, &other.receive_abandoned),
            (&self.stream_received, &other.stream_received),
        ] {
            a.set(a.get() + b.get());
        }
    }
}

fn bump(c: &Cell<u32>) {
    c.set(c.get() + 1);
}

/// A worker's handle (replaced after the chaos task closes it) and its current
/// cancel scope.
struct Slot<H> {
    handle: RefCell<Rc<H>>,
    scope: RefCell<Option<CancelScope>>,
}

async fn poll_once<F: Future + Unpin>(f: &mut F) -> Poll<F::Output> {
    poll_fn(|cx| Poll::Ready(Pin::new(&mut *f).poll(cx))).await
}

async fn next<S: Stream + Unpin>(s: &mut S) -> Option<S::Item> {
    poll_fn(|cx| Pin::new(&mut *s).poll_next(cx)).await
}

/// A scope for one operation: a tiny deadline one time in four (it fires at the
/// run loop's next pass, or when the clock next jumps).
fn op_scope(rng: &RefCell<fastrand::Rng>) -> CancelScope {
    let mut rng = rng.borrow_mut();
    if rng.u32(0..4) == 0 {
        CancelScope::with_timeout(Duration::from_micros(rng.u64(0..3)))
    } else {
        CancelScope::new()
    }
}

struct Round {
    cap: usize,
    first_id: u32,
    /// Receivers stop after this many items, then the last receiver closes.
    quit_after: Option<u32>,
}

async fn round<F: Open>(
    r: &Round,
    ledger: &Ledger,
    tally: &Tally,
    rng: &RefCell<fastrand::Rng>,
) -> Result<()> {
    let (master_tx, master_rx) = F::open::<Item<'_>>(r.cap);
    let send_slots: Vec<Slot<MemorySendChannel<Item<'_>, F>>> = (0..SENDERS)
        .map(|_| Slot {
            handle: RefCell::new(Rc::new(master_tx.clone())),
            scope: RefCell::new(None),
        })
        .collect();
    let recv_slots: Vec<Slot<MemoryReceiveChannel<Item<'_>, F>>> = (0..RECEIVERS)
        .map(|_| Slot {
            handle: RefCell::new(Rc::new(master_rx.clone())),
            scope: RefCell::new(None),
        })
        .collect();
    let senders_done = Cell::new(0);
    let received_here = Cell::new(0);
    let (master_tx, master_rx) = (&master_tx, &master_rx);
    let (send_slots, recv_slots) = (&send_slots, &recv_slots);
    let (senders_done, received_here) = (&senders_done, &received_here);
    let per_sender = ITEMS_PER_ROUND / SENDERS;

    trio::open_nursery(async |n| {
        // ---- receivers
        n.start_soon(async move {
            trio::open_nursery(async |rn| {
                for slot in recv_slots {
                    rn.start_soon(async move {
                        loop {
                            if r.quit_after.is_some_and(|q| received_here.get() >= q) {
                                break;
                            }
                            let h = slot.handle.borrow().clone();
                            let action = rng.borrow_mut().u32(0..100);
                            let scope = op_scope(rng);
                            *slot.scope.borrow_mut() = Some(scope.clone());
                            let res = if action < 5 {
                                h.receive_nowait()
                            } else if action < 10 {
                                let mut fut = h.receive();
                                match poll_once(&mut fut).await {
                                    Poll::Ready(res) => res,
                                    Poll::Pending => {
                                        drop(fut); // an item handed to it goes back
                                        bump(&tally.receive_abandoned);
                                        continue;
                                    }
                                }
                            } else if action < 15 {
                                let mut own = (*h).clone();
                                let res = scope
                                    .run(async { Ok::<_, Error>(next(&mut own).await) })
                                    .await?
                                    .expect("the body returns Ok");
                                match res {
                                    None => Err(Error::new(ErrorKind::EndOfChannel, "end")),
                                    Some(Ok(item)) => {
                                        bump(&tally.stream_received);
                                        Ok(item)
                                    }
                                    Some(Err(e)) => Err(e),
                                }
                            } else {
                                scope
                                    .run(async { Ok::<_, Error>(h.receive().await) })
                                    .await?
                                    .expect("the body returns Ok")
                            };
                            *slot.scope.borrow_mut() = None;
                            match res {
                                Ok(item) => {
                                    item.settle(&ledger.received);
                                    bump(&tally.received);
                                    received_here.set(received_here.get() + 1);
                                }
                                Err(e) => match e.kind() {
                                    ErrorKind::Cancelled => bump(&tally.receive_cancelled),
                                    ErrorKind::WouldBlock => checkpoint().await?,
                                    ErrorKind::ClosedResource => {
                                        bump(&tally.receive_closed);
                                        *slot.handle.borrow_mut() = Rc::new(master_rx.clone());
                                    }
                                    ErrorKind::EndOfChannel => break,
                                    _ => return Err(e),
                                },
                            }
                        }
                        slot.handle.borrow().close();
                        Ok(())
                    })?;
                }
                Ok(())
            })
            .await?;
            // Every receiver has quit: now the last receiver closes.
            master_rx.close();
            Ok(())
        })?;

        // ---- senders and chaos
        n.start_soon(async move {
            trio::open_nursery(async |sn| {
                for (i, slot) in send_slots.iter().enumerate() {
                    let first = r.first_id + i as u32 * per_sender;
                    sn.start_soon(async move {
                        for id in first..first + per_sender {
                            let mut item = Item::new(id, ledger);
                            loop {
                                let h = slot.handle.borrow().clone();
                                let action = rng.borrow_mut().u32(0..100);
                                let scope = op_scope(rng);
                                *slot.scope.borrow_mut() = Some(scope.clone());
                                let res = if action < 5 {
                                    h.send_nowait(item)
                                } else if action < 10 {
                                    let mut fut = h.send(item);
                                    match poll_once(&mut fut).await {
                                        Poll::Ready(res) => res,
                                        Poll::Pending => {
                                            // Sent at once (delivered) or withdrawn (dropped).
                                            drop(fut);
                                            ledger.abandoned.borrow_mut()[id as usize] = true;
                                            bump(&tally.send_abandoned);
                                            break;
                                        }
                                    }
                                } else {
                                    scope
                                        .run(async { Ok::<_, Error>(h.send(item).await) })
                                        .await?
                                        .expect("the body returns Ok")
                                };
                                *slot.scope.borrow_mut() = None;
                                match res {
                                    Ok(()) => {
                                        bump(&tally.sent);
                                        break;
                                    }
                                    Err(e) => {
                                        let (err, back) = e.into_parts();
                                        assert_eq!(back.id, id, "the item handed back is ours");
                                        match err.kind() {
                                            ErrorKind::Cancelled => {
                                                bump(&tally.send_cancelled);
                                                back.settle(&ledger.handed_back);
                                                break;
                                            }
                                            ErrorKind::BrokenResource => {
                                                bump(&tally.send_broken);
                                                back.settle(&ledger.handed_back);
                                                break;
                                            }
                                            ErrorKind::WouldBlock => {
                                                bump(&tally.send_would_block);
                                                item = back;
                                                checkpoint().await?;
                                            }
                                            ErrorKind::ClosedResource => {
                                                bump(&tally.send_closed);
                                                item = back;
                                                *slot.handle.borrow_mut() =
                                                    Rc::new(master_tx.clone());
                                            }
                                            _ => return Err(err),
                                        }
                                    }
                                }
                            }
                        }
                        slot.handle.borrow().close();
                        senders_done.set(senders_done.get() + 1);
                        Ok(())
                    })?;
                }
                sn.start_soon(async move {
                    while senders_done.get() < SENDERS {
                        checkpoint().await?;
                        let (what, i, j) = {
                            let mut rng = rng.borrow_mut();
                            (
                                rng.u32(0..100),
                                rng.usize(0..SENDERS as usize),
                                rng.usize(0..RECEIVERS),
                            )
                        };
                        match what {
                            0..25 => {
                                if let Some(s) = &*send_slots[i].scope.borrow() {
                                    s.cancel();
                                }
                            }
                            25..50 => {
                                if let Some(s) = &*recv_slots[j].scope.borrow() {
                                    s.cancel();
                                }
                            }
                            50..53 => send_slots[i].handle.borrow().close(),
                            53..56 => recv_slots[j].handle.borrow().close(),
                            _ => {}
                        }
                    }
                    Ok(())
                })?;
                Ok(())
            })
            .await?;
            // Every sender is done: the last sender closes.
            master_tx.close();
            Ok(())
        })?;
        Ok(())
    })
    .await?;

    let st = master_rx.statistics();
    assert_eq!((st.open_send_channels, st.open_receive_channels), (0, 0));
    assert_eq!((st.tasks_waiting_send, st.tasks_waiting_receive), (0, 0));
    assert_eq!(st.current_buffer_used, 0);
    Ok(())
}

async fn stress<F: Open>() -> Result<()> {
    let rounds = [
        Round {
            cap: 0,
            first_id: 0,
            quit_after: None,
        },
        Round {
            cap: 1,
            first_id: ITEMS_PER_ROUND,
            quit_after: None,
        },
        Round {
            cap: 16,
            first_id: 2 * ITEMS_PER_ROUND,
            quit_after: None,
        },
        Round {
            cap: 16,
            first_id: 3 * ITEMS_PER_ROUND,
            quit_after: Some(ITEMS_PER_ROUND / 2),
        },
    ];
    let total = rounds.len() * ITEMS_PER_ROUND as usize;
    let ledger = Ledger::new(total);
    let rng = RefCell::new(fastrand::Rng::with_seed(0x5eed_c4a7));
    let mut all = Tally::default();
    for r in &rounds {
        let tally = Tally::default();
        round::<F>(r, &ledger, &tally, &rng).await?;
        let range = r.first_id as usize..r.first_id as usize + ITEMS_PER_ROUND as usize;
        check_round(r, &ledger, range, &tally);
        all.add(&tally);
    }
    // The run exercised what it claims to.
    assert!(
        all.send_cancelled.get() > 0,
        "no send was cancelled: {all:?}"
    );
    assert!(
        all.receive_cancelled.get() > 0,
        "no receive was cancelled: {all:?}"
    );
    assert!(
        all.send_closed.get() > 0,
        "no sender's handle was closed: {all:?}"
    );
    assert!(
        all.receive_closed.get() > 0,
        "no receiver's handle was closed: {all:?}"
    );
    assert!(
        all.send_abandoned.get() > 0,
        "no send future was dropped: {all:?}"
    );
    assert!(
        all.receive_abandoned.get() > 0,
        "no receive future was dropped: {all:?}"
    );
    assert!(
        all.stream_received.get() > 0,
        "nothing came through the Stream: {all:?}"
    );
    assert!(
        all.send_would_block.get() > 0,
        "no send_nowait found the buffer full: {all:?}"
    );
    Ok(())
}

fn check_round(r: &Round, ledger: &Ledger, range: std::ops::Range<usize>, tally: &Tally) {
    let received = ledger.received.borrow();
    let handed_back = ledger.handed_back.borrow();
    let dropped = ledger.dropped.borrow();
    let abandoned = ledger.abandoned.borrow();
    let (mut n_received, mut n_back, mut n_dropped) = (0, 0, 0);
    for id in range {
        let (rc, hb, dr) = (received[id], handed_back[id], dropped[id]);
        assert_eq!(
            rc + hb + dr,
            1,
            "item {id} (capacity {}): received {rc}, handed back {hb}, dropped {dr} times",
            r.cap
        );
        if dr == 1 {
            assert!(
                abandoned[id] || r.quit_after.is_some(),
                "item {id} (capacity {}) was dropped though its sender never let go of it",
                r.cap
            );
        }
        n_received += u32::from(rc);
        n_back += u32::from(hb);
        n_dropped += u32::from(dr);
    }
    assert_eq!(n_received, tally.received.get());
    println!(
        "capacity {:>2}{}: received {n_received}, handed back {n_back}, dropped {n_dropped}; {tally:?}",
        r.cap,
        if r.quit_after.is_some() {
            " (receivers quit)"
        } else {
            ""
        },
    );
    if r.quit_after.is_some() {
        assert!(
            tally.send_broken.get() > 0,
            "no sender saw the channel broken: {tally:?}"
        );
    } else {
        // The last receiver closes only after the end of the channel.
        assert_eq!(tally.send_broken.get(), 0);
    }
}

#[trio::test(autojump, seed = 3)]
async fn stress_thread_safe() -> Result<()> {
    stress::<ThreadSafe>().await
}

#[trio::test(autojump, seed = 4)]
async fn stress_local() -> Result<()> {
    stress::<Local>().await
}
