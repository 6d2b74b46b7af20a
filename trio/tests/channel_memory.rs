//! Memory channel tests, ported from Python Trio's `src/trio/_tests/test_channel.py`:
//! `test_channel`, `test_553`, `test_channel_multiple_producers`,
//! `test_channel_multiple_consumers`, `test_close_basics`, `test_close_sync`,
//! `test_receive_channel_clone_and_close`, `test_close_multiple_send_handles`,
//! `test_close_multiple_receive_handles`, `test_inf_capacity`, `test_statistics`,
//! `test_channel_fairness`, `test_unbuffered`. (The `test_as_safe_channel_*` tests
//! are about `as_safe_channel`, which trio for Rust does not have; the type and
//! value checks of `open_memory_channel(1.0)` / `(-1)` are the type system's job.)
//!
//! Rust additions: buffer sizes 0 / N / `UNBOUNDED`; FIFO order of items, of
//! blocked senders and of blocked receivers; the send half of clone-and-close; the
//! last sender or receiver ending every blocked task of every handle; close on drop;
//! the buffer dropped with the last receiver; `peak_buffer_used`; the `SendError`
//! API; cancellation atomicity (a cancelled send hands its item back, a cancelled
//! receive took nothing, an operation that was served before the cancellation
//! succeeds, dropped futures give items back or withdraw them); the `Stream` impl;
//! an item whose `Drop` uses the channel; and two trio loops on two threads
//! connected by a thread-safe channel, a handle moved to another loop in the middle
//! of a stream receive, and several loops sharing one channel.
//!
//! `put_back_items_keep_fifo_order`: items given back by dropped receive futures
//! come out again in their original order.
//!
//! Deliberate mappings: `aclose()` / `close()` / `with ch:` are `close()` or drop;
//! `pytest.raises(X)` is an error of kind `X`; `assert_checkpoints()` is checked as
//! a cancel point (in a cancelled scope the operation returns `Cancelled` and does
//! nothing, even when it could complete) plus a schedule point
//! (`common::assert_is_schedule_point`); `clone()` of a closed handle, which raises
//! `ClosedResourceError` in Trio, gives a closed handle (`Clone` cannot fail).
//!
//! Every semantic test is written once, generic over the flavour, and runs twice:
//! `thread_safe::*` (`open_memory_channel`) and `local::*`
//! (`open_local_memory_channel`). Each runs on an autojump mock clock inside a
//! one-hour `fail_after`, so a task that is never woken fails the test with
//! `TooSlow` instead of hanging it.

mod common;

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use futures_core::Stream;
use trio::channel::{Flavour, Local, ThreadSafe, UNBOUNDED};
use trio::testing::wait_all_tasks_blocked;
use trio::{
    CancelScope, Error, ErrorKind, MemoryReceiveChannel, MemorySendChannel, Result, SendError,
    open_nursery,
};

// ---- helpers ----------------------------------------------------------------------

/// Opens a channel of either flavour, so each test body is written once.
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

/// Runs the generic tests named here for both flavours, each on an autojump clock
/// and under a watchdog that turns a lost wake-up into a `TooSlow` failure.
macro_rules! for_both_flavours {
    ($($name:ident),* $(,)?) => {
        mod thread_safe {
            $(
                #[trio::test(autojump)]
                async fn $name() -> trio::Result<()> {
                    super::watchdog(super::$name::<trio::channel::ThreadSafe>()).await
                }
            )*
        }
        mod local {
            $(
                #[trio::test(autojump)]
                async fn $name() -> trio::Result<()> {
                    super::watchdog(super::$name::<trio::channel::Local>()).await
                }
            )*
        }
    };
}

async fn watchdog(test: impl Future<Output = Result<()>>) -> Result<()> {
    trio::fail_after(Duration::from_secs(3600), test).await
}

#[track_caller]
fn kind_of<T: std::fmt::Debug>(r: Result<T>) -> ErrorKind {
    r.expect_err("expected an error").kind()
}

/// The kind of a failed send, after checking that the item came back.
#[track_caller]
fn send_kind<T: PartialEq + std::fmt::Debug>(
    r: std::result::Result<(), SendError<T>>,
    item: T,
) -> ErrorKind {
    let (err, back) = r.expect_err("expected the send to fail").into_parts();
    assert_eq!(back, item, "a failed send hands its item back");
    err.kind()
}

/// The next item of a stream.
async fn next<S: Stream + Unpin>(s: &mut S) -> Option<S::Item> {
    poll_fn(|cx| Pin::new(&mut *s).poll_next(cx)).await
}

/// Polls a future exactly once, from the current task.
async fn poll_once<F: Future + Unpin>(f: &mut F) -> Poll<F::Output> {
    poll_fn(|cx| Poll::Ready(Pin::new(&mut *f).poll(cx))).await
}

/// Polls a stream exactly once, from the current task.
async fn poll_next_once<S: Stream + Unpin>(s: &mut S) -> Poll<Option<S::Item>> {
    poll_fn(|cx| Poll::Ready(Pin::new(&mut *s).poll_next(cx))).await
}

const fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

for_both_flavours!(
    basic_send_receive,
    receive_cancelled_by_timeout_then_send,
    multiple_producers,
    multiple_consumers,
    close_basics,
    close_on_drop,
    receive_channel_clone_and_close,
    send_channel_clone_and_close,
    close_multiple_send_handles,
    close_multiple_receive_handles,
    last_sender_ends_every_receive_handle,
    last_receiver_breaks_every_send_handle,
    buffer_dropped_with_last_receiver,
    buffer_sizes,
    inf_capacity,
    statistics,
    fairness,
    unbuffered,
    fifo_items,
    fifo_blocked_senders,
    fifo_blocked_receivers,
    send_error_api,
    cancelled_send_hands_item_back,
    cancelled_receive_takes_nothing,
    taken_send_succeeds_despite_cancel,
    served_receive_succeeds_despite_cancel,
    dropped_receive_future_puts_item_back,
    put_back_item_keeps_rendezvous,
    dropped_send_future_withdraws_item,
    send_is_checkpoint,
    receive_is_checkpoint,
    stream_yields_items_then_ends,
    stream_after_close_and_cancel,
    dropped_stream_gives_item_back,
    dropping_an_item_may_use_its_channel,
);

// ---- test_channel.py ----------------------------------------------------------------

async fn basic_send_receive<F: Open>() -> Result<()> {
    // test_channel
    let (s, r) = F::open::<&str>(2);
    assert!(format!("{s:?}").contains("MemorySendChannel")); // smoke test
    assert!(format!("{r:?}").contains("MemoryReceiveChannel")); // smoke test

    s.send_nowait("1").unwrap();
    s.send("2").await?;
    assert_eq!(send_kind(s.send_nowait("3"), "3"), ErrorKind::WouldBlock);

    assert_eq!(r.receive().await?, "1");
    assert_eq!(r.receive_nowait()?, "2");
    assert_eq!(kind_of(r.receive_nowait()), ErrorKind::WouldBlock);

    s.send_nowait("last").unwrap();
    assert!(!s.is_closed());
    s.close();
    assert!(s.is_closed());
    assert_eq!(
        send_kind(s.send("too late").await, "too late"),
        ErrorKind::ClosedResource
    );
    assert_eq!(
        send_kind(s.send_nowait("too late"), "too late"),
        ErrorKind::ClosedResource
    );
    // Trio: `s.clone()` raises ClosedResourceError. Here the clone is closed.
    let s2 = s.clone();
    assert!(s2.is_closed());
    assert_eq!(
        send_kind(s2.send_nowait("clone"), "clone"),
        ErrorKind::ClosedResource
    );
    s.close(); // closing twice is fine

    assert_eq!(r.receive_nowait()?, "last");
    assert_eq!(kind_of(r.receive().await), ErrorKind::EndOfChannel);
    assert_eq!(r.receive_or_end().await?, None);
    r.close();
    assert!(r.is_closed());
    assert_eq!(kind_of(r.receive().await), ErrorKind::ClosedResource);
    assert_eq!(kind_of(r.receive_nowait()), ErrorKind::ClosedResource);
    assert_eq!(kind_of(r.receive_or_end().await), ErrorKind::ClosedResource);
    r.close();
    Ok(())
}

async fn receive_cancelled_by_timeout_then_send<F: Open>() -> Result<()> {
    // test_553: a receive cancelled by a timeout leaves nothing behind that could
    // steal the next item.
    let (s, r) = F::open::<&str>(1);
    let t0 = trio::current_time();
    let scope = CancelScope::with_timeout(secs(10));
    let out = scope.run(r.receive()).await?;
    assert_eq!(out, None);
    assert!(scope.cancelled_caught());
    assert_eq!(trio::current_time() - t0, secs(10));
    assert_eq!(r.statistics().tasks_waiting_receive, 0);
    s.send("Test for PR #553").await?;
    assert_eq!(r.receive_nowait()?, "Test for PR #553");
    Ok(())
}

async fn multiple_producers<F: Open>() -> Result<()> {
    // test_channel_multiple_producers
    let (send_channel, mut receive_channel) = F::open::<u32>(0);
    let mut got = Vec::new();
    let (tx, got_ref) = (&send_channel, &mut got);
    open_nursery(async move |n| {
        // Hand out clones to the producers, then close the original.
        for i in 0..10 {
            let tx = tx.clone();
            n.start_soon(async move {
                for j in 3 * i..3 * (i + 1) {
                    tx.send(j).await?;
                }
                Ok(()) // the clone is dropped: closed
            })?;
        }
        tx.close();
        while let Some(v) = next(&mut receive_channel).await {
            got_ref.push(v?);
        }
        Ok(())
    })
    .await?;
    got.sort_unstable();
    assert_eq!(got, (0..30).collect::<Vec<_>>());
    Ok(())
}

async fn multiple_consumers<F: Open>() -> Result<()> {
    // test_channel_multiple_consumers: five tasks share one receive handle.
    let successful_receivers = RefCell::new(BTreeSet::new());
    let received = RefCell::new(Vec::new());
    let (send_channel, receive_channel) = F::open::<u32>(1);
    let (ok, got, rx) = (&successful_receivers, &received, &receive_channel);
    open_nursery(async |n| {
        for i in 0..5 {
            n.start_soon(async move {
                while let Some(v) = rx.receive_or_end().await? {
                    ok.borrow_mut().insert(i);
                    got.borrow_mut().push(v);
                }
                Ok(())
            })?;
        }
        wait_all_tasks_blocked().await?;
        for i in 0..10 {
            send_channel.send(i).await?;
        }
        send_channel.close();
        Ok(())
    })
    .await?;
    assert_eq!(successful_receivers.into_inner(), (0..5).collect());
    let mut received = received.into_inner();
    received.sort_unstable();
    assert_eq!(received, (0..10).collect::<Vec<_>>());
    Ok(())
}

async fn close_basics<F: Open>() -> Result<()> {
    // test_close_basics and test_close_sync (close is synchronous here).

    // closing send -> other send gets ClosedResource
    let (s, r) = F::open::<u8>(0);
    let sr = &s;
    open_nursery(async |n| {
        n.start_soon(async move {
            assert_eq!(send_kind(sr.send(1).await, 1), ErrorKind::ClosedResource);
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        assert_eq!(s.statistics().tasks_waiting_send, 1);
        s.close();
        Ok(())
    })
    .await?;
    // and it's persistent
    assert_eq!(send_kind(s.send_nowait(2), 2), ErrorKind::ClosedResource);
    assert_eq!(send_kind(s.send(3).await, 3), ErrorKind::ClosedResource);
    // and receive gets EndOfChannel
    assert_eq!(kind_of(r.receive_nowait()), ErrorKind::EndOfChannel);
    assert_eq!(kind_of(r.receive().await), ErrorKind::EndOfChannel);

    // closing receive -> send gets BrokenResource
    let (s, r) = F::open::<u8>(0);
    let sr = &s;
    open_nursery(async |n| {
        n.start_soon(async move {
            assert_eq!(send_kind(sr.send(1).await, 1), ErrorKind::BrokenResource);
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        r.close();
        Ok(())
    })
    .await?;
    // and it's persistent
    assert_eq!(send_kind(s.send_nowait(2), 2), ErrorKind::BrokenResource);
    assert_eq!(send_kind(s.send(3).await, 3), ErrorKind::BrokenResource);

    // closing receive -> other receive gets ClosedResource
    let (_s2, r2) = F::open::<u8>(0);
    let rr = &r2;
    open_nursery(async |n| {
        n.start_soon(async move {
            assert_eq!(kind_of(rr.receive().await), ErrorKind::ClosedResource);
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        assert_eq!(r2.statistics().tasks_waiting_receive, 1);
        r2.close();
        Ok(())
    })
    .await?;
    // and it's persistent
    assert_eq!(kind_of(r2.receive_nowait()), ErrorKind::ClosedResource);
    assert_eq!(kind_of(r2.receive().await), ErrorKind::ClosedResource);
    Ok(())
}

async fn close_on_drop<F: Open>() -> Result<()> {
    // Dropping the last sender ends the channel for a blocked receiver.
    let (s, r) = F::open::<u8>(0);
    let rr = &r;
    open_nursery(async move |n| {
        n.start_soon(async move {
            assert_eq!(kind_of(rr.receive().await), ErrorKind::EndOfChannel);
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        drop(s);
        Ok(())
    })
    .await?;
    assert_eq!(r.statistics().open_send_channels, 0);

    // Dropping the last receiver breaks the channel for a blocked sender.
    let (s, r) = F::open::<u8>(0);
    let sr = &s;
    open_nursery(async move |n| {
        n.start_soon(async move {
            assert_eq!(send_kind(sr.send(7).await, 7), ErrorKind::BrokenResource);
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        drop(r);
        Ok(())
    })
    .await?;
    assert_eq!(s.statistics().open_receive_channels, 0);
    Ok(())
}

async fn receive_channel_clone_and_close<F: Open>() -> Result<()> {
    // test_receive_channel_clone_and_close
    let (s, r) = F::open::<()>(10);
    let r2 = r.clone();
    let r3 = r.clone();

    s.send_nowait(()).unwrap();
    r.close();
    drop(r2); // `with r2: pass`

    // Trio: cloning a closed handle raises ClosedResourceError. Here it gives a
    // closed handle, which does not count as an open receiver.
    let closed = r.clone();
    assert!(closed.is_closed());
    assert_eq!(kind_of(closed.receive_nowait()), ErrorKind::ClosedResource);
    assert_eq!(s.statistics().open_receive_channels, 1);

    // Can still send, r3 is still open
    s.send_nowait(()).unwrap();

    r3.close();

    // But now the receiver is really closed
    assert_eq!(send_kind(s.send_nowait(()), ()), ErrorKind::BrokenResource);
    drop(closed);
    Ok(())
}

async fn send_channel_clone_and_close<F: Open>() -> Result<()> {
    // The send half of test_receive_channel_clone_and_close.
    let (s, r) = F::open::<u8>(10);
    let s2 = s.clone();
    let s3 = s.clone();
    assert_eq!(r.statistics().open_send_channels, 3);

    s.send_nowait(1).unwrap();
    s.close();
    drop(s2);
    let closed = s.clone();
    assert!(closed.is_closed());
    assert_eq!(
        send_kind(closed.send_nowait(9), 9),
        ErrorKind::ClosedResource
    );
    assert_eq!(r.statistics().open_send_channels, 1);

    // s3 is still open: the channel goes on.
    s3.send_nowait(2).unwrap();
    assert_eq!(r.receive_nowait()?, 1);
    assert_eq!(r.receive_nowait()?, 2);
    assert_eq!(kind_of(r.receive_nowait()), ErrorKind::WouldBlock);

    s3.close();
    assert_eq!(kind_of(r.receive_nowait()), ErrorKind::EndOfChannel);
    // A clone of a closed handle cannot reopen a channel that has ended.
    let late = s3.clone();
    assert!(late.is_closed());
    assert_eq!(r.statistics().open_send_channels, 0);
    assert_eq!(kind_of(r.receive().await), ErrorKind::EndOfChannel);
    Ok(())
}

async fn close_multiple_send_handles<F: Open>() -> Result<()> {
    // test_close_multiple_send_handles: closing one handle wakes only the senders
    // on that handle; the others carry on.
    let (s1, r) = F::open::<&str>(0);
    let s2 = s1.clone();
    let (s1r, s2r) = (&s1, &s2);
    open_nursery(async |n| {
        n.start_soon(async move {
            assert_eq!(
                send_kind(s1r.send("nope").await, "nope"),
                ErrorKind::ClosedResource
            );
            Ok(())
        })?;
        n.start_soon(async move {
            s2r.send("ok").await?;
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        assert_eq!(r.statistics().tasks_waiting_send, 2);
        s1.close();
        wait_all_tasks_blocked().await?;
        assert_eq!(
            r.statistics().tasks_waiting_send,
            1,
            "the other handle's sender still waits"
        );
        assert_eq!(r.receive().await?, "ok");
        Ok(())
    })
    .await?;
    Ok(())
}

async fn close_multiple_receive_handles<F: Open>() -> Result<()> {
    // test_close_multiple_receive_handles
    let (s, r1) = F::open::<&str>(0);
    let r2 = r1.clone();
    let (r1r, r2r) = (&r1, &r2);
    open_nursery(async |n| {
        n.start_soon(async move {
            assert_eq!(kind_of(r1r.receive().await), ErrorKind::ClosedResource);
            Ok(())
        })?;
        n.start_soon(async move {
            assert_eq!(r2r.receive().await?, "ok");
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        assert_eq!(s.statistics().tasks_waiting_receive, 2);
        r1.close();
        wait_all_tasks_blocked().await?;
        assert_eq!(
            s.statistics().tasks_waiting_receive,
            1,
            "the other handle's receiver still waits"
        );
        s.send("ok").await?;
        Ok(())
    })
    .await?;
    Ok(())
}

async fn last_sender_ends_every_receive_handle<F: Open>() -> Result<()> {
    let (s1, r1) = F::open::<u8>(0);
    let s2 = s1.clone();
    let r2 = r1.clone();
    let ended = Cell::new(0);
    let (r1r, r2r, ended_ref) = (&r1, &r2, &ended);
    open_nursery(async move |n| {
        for rx in [r1r, r2r, r1r] {
            n.start_soon(async move {
                assert_eq!(kind_of(rx.receive().await), ErrorKind::EndOfChannel);
                ended_ref.set(ended_ref.get() + 1);
                Ok(())
            })?;
        }
        wait_all_tasks_blocked().await?;
        s1.close(); // not the last sender: nothing ends
        wait_all_tasks_blocked().await?;
        assert_eq!(ended_ref.get(), 0);
        assert_eq!(s2.statistics().tasks_waiting_receive, 3);
        drop(s2); // the last one
        Ok(())
    })
    .await?;
    assert_eq!(ended.get(), 3);
    assert_eq!(r1.statistics().tasks_waiting_receive, 0);
    Ok(())
}

async fn last_receiver_breaks_every_send_handle<F: Open>() -> Result<()> {
    let (s1, r1) = F::open::<u8>(0);
    let s2 = s1.clone();
    let r2 = r1.clone();
    let broken = Cell::new(0);
    let (s1r, s2r, broken_ref) = (&s1, &s2, &broken);
    open_nursery(async move |n| {
        for (i, tx) in [s1r, s2r, s1r].into_iter().enumerate() {
            n.start_soon(async move {
                assert_eq!(
                    send_kind(tx.send(i as u8).await, i as u8),
                    ErrorKind::BrokenResource
                );
                broken_ref.set(broken_ref.get() + 1);
                Ok(())
            })?;
        }
        wait_all_tasks_blocked().await?;
        r1.close(); // not the last receiver: nothing breaks
        wait_all_tasks_blocked().await?;
        assert_eq!(broken_ref.get(), 0);
        assert_eq!(r2.statistics().tasks_waiting_send, 3);
        r2.close(); // the last one
        Ok(())
    })
    .await?;
    assert_eq!(broken.get(), 3);
    assert_eq!(s1.statistics().tasks_waiting_send, 0);
    Ok(())
}

async fn buffer_dropped_with_last_receiver<F: Open>() -> Result<()> {
    let token = Rc::new(());
    let (s, r) = F::open::<Rc<()>>(UNBOUNDED);
    for _ in 0..3 {
        s.send_nowait(token.clone()).unwrap();
    }
    assert_eq!(Rc::strong_count(&token), 4);
    let r2 = r.clone();
    r.close(); // another receiver remains: the buffer stays
    assert_eq!(Rc::strong_count(&token), 4);
    assert_eq!(s.statistics().current_buffer_used, 3);
    r2.close();
    assert_eq!(
        Rc::strong_count(&token),
        1,
        "the buffered items were dropped"
    );
    assert_eq!(s.statistics().current_buffer_used, 0);
    let err = s.send_nowait(token.clone()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BrokenResource);
    assert!(Rc::ptr_eq(&err.into_inner(), &token));
    Ok(())
}

async fn buffer_sizes<F: Open>() -> Result<()> {
    // A buffer of N takes N items without a receiver, then says WouldBlock.
    for cap in [1, 3, 16] {
        let (s, r) = F::open::<usize>(cap);
        for i in 0..cap {
            s.send_nowait(i).unwrap();
        }
        assert_eq!(send_kind(s.send_nowait(cap), cap), ErrorKind::WouldBlock);
        assert_eq!(s.statistics().current_buffer_used, cap);
        assert_eq!(r.receive_nowait()?, 0);
        s.send_nowait(cap).unwrap(); // room again
        assert_eq!(
            send_kind(s.send_nowait(cap + 1), cap + 1),
            ErrorKind::WouldBlock
        );
    }

    // A buffer of 0 takes nothing: a send waits until a receiver takes the item.
    let (s, r) = F::open::<u8>(0);
    assert_eq!(send_kind(s.send_nowait(1), 1), ErrorKind::WouldBlock);
    let sent = Cell::new(false);
    let (sr, sent_ref) = (&s, &sent);
    open_nursery(async |n| {
        n.start_soon(async move {
            sr.send(5).await?;
            sent_ref.set(true);
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        assert!(!sent.get(), "an unbuffered send waits for a receiver");
        let st = r.statistics();
        assert_eq!((st.current_buffer_used, st.tasks_waiting_send), (0, 1));
        assert_eq!(r.receive().await?, 5);
        Ok(())
    })
    .await?;
    assert!(sent.get());

    // UNBOUNDED never makes a send wait.
    let (s, r) = F::open::<u32>(UNBOUNDED);
    for i in 0..10_000 {
        s.send_nowait(i).unwrap();
        s.send(i).await?; // no waiting either
    }
    let st = r.statistics();
    assert_eq!(st.max_buffer_size, UNBOUNDED);
    assert_eq!(st.current_buffer_used, 20_000);
    assert_eq!(st.peak_buffer_used, 20_000);
    Ok(())
}

async fn inf_capacity<F: Open>() -> Result<()> {
    // test_inf_capacity
    let (send, mut receive) = F::open::<u32>(UNBOUNDED);
    for i in 0..10 {
        send.send_nowait(i).unwrap();
    }
    drop(send);
    let mut got = Vec::new();
    while let Some(i) = next(&mut receive).await {
        got.push(i?);
    }
    assert_eq!(got, (0..10).collect::<Vec<_>>());
    Ok(())
}

async fn statistics<F: Open>() -> Result<()> {
    // test_statistics, plus peak_buffer_used
    let (s, r) = F::open::<()>(2);
    assert_eq!(s.statistics(), r.statistics());
    let stats = s.statistics();
    assert_eq!(stats.current_buffer_used, 0);
    assert_eq!(stats.peak_buffer_used, 0);
    assert_eq!(stats.max_buffer_size, 2);
    assert_eq!(stats.open_send_channels, 1);
    assert_eq!(stats.open_receive_channels, 1);
    assert_eq!(stats.tasks_waiting_send, 0);
    assert_eq!(stats.tasks_waiting_receive, 0);

    s.send_nowait(()).unwrap();
    assert_eq!(s.statistics().current_buffer_used, 1);
    assert_eq!(s.statistics().peak_buffer_used, 1);

    let s2 = s.clone();
    assert_eq!(s.statistics().open_send_channels, 2);
    s.close();
    assert_eq!(s2.statistics().open_send_channels, 1);

    let r2 = r.clone();
    assert_eq!(s2.statistics().open_receive_channels, 2);
    r2.close();
    assert_eq!(s2.statistics().open_receive_channels, 1);

    let s2r = &s2;
    open_nursery(async |n| {
        s2.send_nowait(()).unwrap(); // fill up the buffer
        assert_eq!(s.statistics().current_buffer_used, 2);
        for _ in 0..2 {
            n.start_soon(async move {
                s2r.send(()).await?;
                Ok(())
            })?;
        }
        wait_all_tasks_blocked().await?;
        assert_eq!(s.statistics().tasks_waiting_send, 2);
        n.cancel_scope().cancel();
        Ok(())
    })
    .await?;
    assert_eq!(s.statistics().tasks_waiting_send, 0);
    assert_eq!(s.statistics().current_buffer_used, 2);

    // empty out the buffer again
    while r.receive_nowait().is_ok() {}
    let st = s.statistics();
    assert_eq!((st.current_buffer_used, st.peak_buffer_used), (0, 2));

    let rr = &r;
    open_nursery(async |n| {
        n.start_soon(async move {
            rr.receive().await?;
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        assert_eq!(s.statistics().tasks_waiting_receive, 1);
        n.cancel_scope().cancel();
        Ok(())
    })
    .await?;
    assert_eq!(s.statistics().tasks_waiting_receive, 0);
    Ok(())
}

async fn fairness<F: Open>() -> Result<()> {
    // test_channel_fairness: we can remove an item we just sent, and send an item
    // back in after, if no one else is waiting.
    let (s, r) = F::open::<u32>(1);
    s.send_nowait(1).unwrap();
    assert_eq!(r.receive_nowait()?, 1);
    s.send_nowait(2).unwrap();
    assert_eq!(r.receive_nowait()?, 2);

    // But if someone else is waiting to receive, they "own" the item we send, so
    // we can't receive it (even though we run first):
    let result = Cell::new(None);
    let (rr, res) = (&r, &result);
    open_nursery(async |n| {
        n.start_soon(async move {
            res.set(Some(rr.receive().await?));
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        s.send_nowait(2).unwrap();
        assert_eq!(kind_of(r.receive_nowait()), ErrorKind::WouldBlock);
        Ok(())
    })
    .await?;
    assert_eq!(result.get(), Some(2));

    // And the analogous situation for send: if we free up a space, we can't
    // immediately send something in it if someone is already waiting to do that.
    let (s, r) = F::open::<u32>(1);
    s.send_nowait(1).unwrap();
    assert_eq!(send_kind(s.send_nowait(0), 0), ErrorKind::WouldBlock);
    let sr = &s;
    open_nursery(async |n| {
        n.start_soon(async move {
            sr.send(2).await?;
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        assert_eq!(r.receive_nowait()?, 1);
        assert_eq!(send_kind(s.send_nowait(3), 3), ErrorKind::WouldBlock);
        assert_eq!(r.receive().await?, 2);
        Ok(())
    })
    .await?;
    Ok(())
}

async fn unbuffered<F: Open>() -> Result<()> {
    // test_unbuffered (the checkpoint half is in send/receive_is_checkpoint)
    let (s, r) = F::open::<u32>(0);
    assert_eq!(kind_of(r.receive_nowait()), ErrorKind::WouldBlock);
    assert_eq!(send_kind(s.send_nowait(1), 1), ErrorKind::WouldBlock);
    let sr = &s;
    open_nursery(async |n| {
        n.start_soon(async move {
            sr.send(1).await?;
            Ok(())
        })?;
        assert_eq!(r.receive().await?, 1);
        Ok(())
    })
    .await?;
    assert_eq!(kind_of(r.receive_nowait()), ErrorKind::WouldBlock);
    Ok(())
}

// ---- FIFO order ---------------------------------------------------------------------

async fn fifo_items<F: Open>() -> Result<()> {
    for cap in [0, 1, 5, UNBOUNDED] {
        let (s, r) = F::open::<u32>(cap);
        let got = RefCell::new(Vec::new());
        let (sr, rr, g) = (&s, &r, &got);
        open_nursery(async |n| {
            n.start_soon(async move {
                for i in 0..200 {
                    sr.send(i).await?;
                }
                sr.close();
                Ok(())
            })?;
            n.start_soon(async move {
                while let Some(v) = rr.receive_or_end().await? {
                    g.borrow_mut().push(v);
                }
                Ok(())
            })?;
            Ok(())
        })
        .await?;
        assert_eq!(
            got.into_inner(),
            (0..200).collect::<Vec<_>>(),
            "capacity {cap}"
        );
    }
    Ok(())
}

async fn fifo_blocked_senders<F: Open>() -> Result<()> {
    for cap in [0, 2] {
        let (s, r) = F::open::<u32>(cap);
        for k in 0..cap as u32 {
            s.send_nowait(100 + k).unwrap();
        }
        let sr = &s;
        let got = open_nursery(async |n| {
            // Start the senders one at a time so that they queue in a known order.
            for i in 0..5 {
                n.start_soon(async move {
                    sr.send(i).await?;
                    Ok(())
                })?;
                wait_all_tasks_blocked().await?;
                assert_eq!(s.statistics().tasks_waiting_send, i as usize + 1);
            }
            let mut got = Vec::new();
            for _ in 0..cap + 5 {
                got.push(r.receive().await?);
            }
            Ok(got)
        })
        .await?
        .expect("the body returned");
        let expect: Vec<u32> = (0..cap as u32).map(|k| 100 + k).chain(0..5).collect();
        assert_eq!(got, expect, "capacity {cap}");
    }
    Ok(())
}

async fn fifo_blocked_receivers<F: Open>() -> Result<()> {
    let (s, r) = F::open::<u32>(0);
    let got = RefCell::new(Vec::new());
    let (rr, g) = (&r, &got);
    open_nursery(async |n| {
        for i in 0..5 {
            n.start_soon(async move {
                let v = rr.receive().await?;
                g.borrow_mut().push((i, v));
                Ok(())
            })?;
            wait_all_tasks_blocked().await?;
            assert_eq!(s.statistics().tasks_waiting_receive, i as usize + 1);
        }
        for v in 10..15 {
            s.send_nowait(v).unwrap(); // to the longest-waiting receiver
        }
        Ok(())
    })
    .await?;
    let mut got = got.into_inner();
    got.sort_unstable();
    assert_eq!(got, [(0, 10), (1, 11), (2, 12), (3, 13), (4, 14)]);
    Ok(())
}

// ---- SendError --------------------------------------------------------------------

async fn send_error_api<F: Open>() -> Result<()> {
    let (s, _r) = F::open::<String>(0);
    let e = s.send_nowait("a".to_string()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::WouldBlock);
    assert_eq!(e.error().kind(), ErrorKind::WouldBlock);
    assert!(!e.is_cancelled());
    assert!(!e.to_string().is_empty());
    assert!(format!("{e:?}").contains("SendError"));
    assert!(std::error::Error::source(&e).is_some());
    let (err, v) = e.into_parts();
    assert_eq!((err.kind(), v.as_str()), (ErrorKind::WouldBlock, "a"));

    // `?` turns it into a trio::Error (the item is dropped).
    let via_question_mark = || -> Result<()> {
        s.send_nowait("b".to_string())?;
        Ok(())
    };
    assert_eq!(kind_of(via_question_mark()), ErrorKind::WouldBlock);
    let as_error: Error = s.send_nowait("c".to_string()).unwrap_err().into();
    assert_eq!(as_error.kind(), ErrorKind::WouldBlock);
    let as_io: std::io::Error = s.send_nowait("d".to_string()).unwrap_err().into();
    assert_eq!(as_io.kind(), std::io::ErrorKind::WouldBlock);
    Ok(())
}

// ---- cancellation -------------------------------------------------------------------

async fn cancelled_send_hands_item_back<F: Open>() -> Result<()> {
    // Blocked with nobody receiving (a buffer of 0, then a full buffer of 1): a
    // timeout cancels the send; the item comes back and nothing was delivered.
    for cap in [0, 1] {
        let (s, r) = F::open::<String>(cap);
        if cap == 1 {
            s.send_nowait("first".to_string()).unwrap();
        }
        let scope = CancelScope::with_timeout(secs(5));
        let out = scope
            .run(async { Ok::<_, Error>(s.send("x".to_string()).await) })
            .await?
            .expect("the body returned Ok");
        let (err, item) = out.expect_err("the send was cancelled").into_parts();
        assert!(err.is_cancelled(), "{err:?}");
        assert_eq!(item, "x");
        assert_eq!(s.statistics().tasks_waiting_send, 0);
        if cap == 1 {
            assert_eq!(r.receive_nowait()?, "first");
        }
        assert_eq!(
            kind_of(r.receive_nowait()),
            ErrorKind::WouldBlock,
            "nothing delivered"
        );
    }

    // Cancelled explicitly by another task while blocked.
    let (s, r) = F::open::<u32>(0);
    let scope = CancelScope::new();
    let back = Cell::new(None);
    let (sr, sc, b) = (&s, &scope, &back);
    open_nursery(async |n| {
        n.start_soon(async move {
            sc.run(async {
                if let Err(e) = sr.send(42).await {
                    assert!(e.is_cancelled());
                    b.set(Some(e.into_inner()));
                }
                Ok::<_, Error>(())
            })
            .await?;
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        scope.cancel();
        Ok(())
    })
    .await?;
    assert_eq!(back.get(), Some(42));
    assert_eq!(kind_of(r.receive_nowait()), ErrorKind::WouldBlock);
    Ok(())
}

async fn cancelled_receive_takes_nothing<F: Open>() -> Result<()> {
    let (s, r) = F::open::<u32>(0);
    let scope = CancelScope::new();
    let (rr, sc) = (&r, &scope);
    let second = Cell::new(None);
    let second_ref = &second;
    open_nursery(async |n| {
        n.start_soon(async move {
            let out = sc.run(rr.receive()).await?;
            assert_eq!(out, None, "cancelled");
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        n.start_soon(async move {
            second_ref.set(Some(rr.receive().await?));
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        assert_eq!(s.statistics().tasks_waiting_receive, 2);
        scope.cancel();
        wait_all_tasks_blocked().await?;
        assert_eq!(s.statistics().tasks_waiting_receive, 1);
        // The cancelled receiver was first in line, but took nothing: the item
        // goes to the one still waiting.
        s.send_nowait(7).unwrap();
        Ok(())
    })
    .await?;
    assert!(scope.cancelled_caught());
    assert_eq!(second.get(), Some(7));
    Ok(())
}

async fn taken_send_succeeds_despite_cancel<F: Open>() -> Result<()> {
    // A receiver took the blocked sender's item; the sender's scope is cancelled
    // before the sender runs again. The item was delivered, so the send succeeds.
    let (s, r) = F::open::<u32>(0);
    let scope = CancelScope::new();
    let outcome = RefCell::new(None);
    let (sr, sc, out) = (&s, &scope, &outcome);
    open_nursery(async |n| {
        n.start_soon(async move {
            let res = sc.run(async { Ok::<_, Error>(sr.send(7).await) }).await?;
            *out.borrow_mut() = Some(res.map(|r| r.map_err(|e| e.into_parts())));
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        assert_eq!(r.receive_nowait()?, 7);
        scope.cancel(); // too late: the item is gone
        Ok(())
    })
    .await?;
    let res = outcome.into_inner().expect("the sender finished");
    assert!(matches!(res, Some(Ok(()))), "{res:?}");
    assert!(!scope.cancelled_caught());
    Ok(())
}

async fn served_receive_succeeds_despite_cancel<F: Open>() -> Result<()> {
    // A sender handed its item to the blocked receiver; the receiver's scope is
    // cancelled before the receiver runs again. It still returns the item.
    let (s, r) = F::open::<u32>(0);
    let scope = CancelScope::new();
    let outcome = RefCell::new(None);
    let (rr, sc, out) = (&r, &scope, &outcome);
    open_nursery(async |n| {
        n.start_soon(async move {
            *out.borrow_mut() = Some(sc.run(rr.receive()).await?);
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        s.send_nowait(7).unwrap();
        scope.cancel();
        Ok(())
    })
    .await?;
    assert_eq!(outcome.into_inner(), Some(Some(7)));
    assert_eq!(kind_of(r.receive_nowait()), ErrorKind::WouldBlock);
    Ok(())
}

async fn dropped_receive_future_puts_item_back<F: Open>() -> Result<()> {
    // 1. Handed an item while waiting, then dropped: the item goes back.
    let (s, r) = F::open::<u32>(0);
    let mut fut = r.receive();
    assert!(poll_once(&mut fut).await.is_pending());
    assert_eq!(s.statistics().tasks_waiting_receive, 1);
    s.send_nowait(7).unwrap(); // handed to `fut`
    drop(fut);
    assert_eq!(r.receive_nowait()?, 7);
    assert_eq!(kind_of(r.receive_nowait()), ErrorKind::WouldBlock);

    // 2. The same, with another receiver waiting: it gets the item.
    let got = Cell::new(None);
    let (rr, g) = (&r, &got);
    open_nursery(async |n| {
        let mut fut = r.receive();
        assert!(poll_once(&mut fut).await.is_pending()); // first in line
        n.start_soon(async move {
            g.set(Some(rr.receive().await?));
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        assert_eq!(s.statistics().tasks_waiting_receive, 2);
        s.send_nowait(8).unwrap(); // to `fut`, the longest waiting
        drop(fut); // ... which gives it to the other receiver
        Ok(())
    })
    .await?;
    assert_eq!(got.get(), Some(8));

    // 3. Took an item from the buffer at once (and was yielding), then dropped:
    //    the item goes back to the front, order kept.
    let (s, r) = F::open::<u32>(4);
    for i in 1..=3 {
        s.send_nowait(i).unwrap();
    }
    let mut fut = r.receive();
    assert!(poll_once(&mut fut).await.is_pending());
    assert_eq!(r.statistics().current_buffer_used, 2);
    drop(fut);
    for i in 1..=3 {
        assert_eq!(r.receive_nowait()?, i);
    }
    Ok(())
}

async fn put_back_item_keeps_rendezvous<F: Open>() -> Result<()> {
    // An item put back into an unbuffered channel (case 1 above) must not let a
    // blocked sender's item into the buffer: with a buffer of 0 a send completes
    // only when a receiver takes its item.
    let (s, r) = F::open::<u32>(0);
    let mut fut = r.receive();
    assert!(poll_once(&mut fut).await.is_pending());
    s.send_nowait(1).unwrap();
    drop(fut); // 1 is back in the channel
    let sent = Cell::new(false);
    let (sr, sent_ref) = (&s, &sent);
    open_nursery(async |n| {
        n.start_soon(async move {
            sr.send(2).await?;
            sent_ref.set(true);
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        assert_eq!(r.receive_nowait()?, 1);
        wait_all_tasks_blocked().await?;
        assert!(!sent.get(), "nobody has received 2 yet");
        let st = r.statistics();
        assert_eq!((st.current_buffer_used, st.tasks_waiting_send), (0, 1));
        assert_eq!(r.receive().await?, 2);
        Ok(())
    })
    .await?;
    assert!(sent.get());
    Ok(())
}

async fn dropped_send_future_withdraws_item<F: Open>() -> Result<()> {
    // Dropped while waiting: the offer is withdrawn and the item dropped.
    let token = Rc::new(());
    let (s, r) = F::open::<Rc<()>>(0);
    let mut fut = s.send(token.clone());
    assert!(poll_once(&mut fut).await.is_pending());
    assert_eq!(s.statistics().tasks_waiting_send, 1);
    drop(fut);
    assert_eq!(s.statistics().tasks_waiting_send, 0);
    assert_eq!(Rc::strong_count(&token), 1);
    assert_eq!(kind_of(r.receive_nowait()), ErrorKind::WouldBlock);

    // Dropped after it had sent (while yielding): the item was delivered.
    let (s, r) = F::open::<u32>(1);
    let mut fut = s.send(5);
    assert!(poll_once(&mut fut).await.is_pending());
    drop(fut);
    assert_eq!(r.receive_nowait()?, 5);
    Ok(())
}

async fn send_is_checkpoint<F: Open>() -> Result<()> {
    // A cancel point even when the send could complete (room in the buffer, or a
    // receiver waiting): it delivers nothing and hands the item back.
    let (s, r) = F::open::<u32>(1);
    let scope = CancelScope::new();
    scope.cancel();
    let out = scope
        .run(async { Ok::<_, Error>(s.send(1).await) })
        .await?
        .expect("the body returned Ok");
    let (err, item) = out.expect_err("cancelled").into_parts();
    assert!(err.is_cancelled());
    assert_eq!(item, 1);
    assert_eq!(s.statistics().current_buffer_used, 0);

    let (s0, r0) = F::open::<u32>(0);
    let (s0r, r0r) = (&s0, &r0);
    open_nursery(async |n| {
        n.start_soon(async move {
            assert_eq!(r0r.receive().await?, 2);
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        let scope = CancelScope::new();
        scope.cancel();
        let out = scope
            .run(async { Ok::<_, Error>(s0r.send(1).await) })
            .await?;
        assert!(out.expect("Ok").unwrap_err().is_cancelled());
        assert_eq!(
            s0.statistics().tasks_waiting_receive,
            1,
            "the receiver still waits"
        );
        s0.send(2).await?;
        Ok(())
    })
    .await?;

    // A schedule point when it completes at once.
    let (s, _keep) = F::open::<u32>(UNBOUNDED);
    common::assert_is_schedule_point(|| async {
        s.send(1).await?;
        Ok(())
    })
    .await;
    assert_eq!(s.statistics().current_buffer_used, 6);
    drop(r);
    Ok(())
}

async fn receive_is_checkpoint<F: Open>() -> Result<()> {
    // A cancel point even when an item is ready: it takes nothing.
    let (s, r) = F::open::<u32>(8);
    s.send_nowait(1).unwrap();
    let scope = CancelScope::new();
    scope.cancel();
    assert_eq!(scope.run(r.receive()).await?, None);
    assert!(scope.cancelled_caught());
    let scope = CancelScope::new();
    scope.cancel();
    assert_eq!(scope.run(r.receive_or_end()).await?, None);
    assert_eq!(r.statistics().current_buffer_used, 1);
    assert_eq!(r.receive_nowait()?, 1);

    // ... and when a sender is waiting: the sender keeps waiting.
    let (s0, r0) = F::open::<u32>(0);
    let s0r = &s0;
    open_nursery(async |n| {
        n.start_soon(async move {
            s0r.send(3).await?;
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        let scope = CancelScope::new();
        scope.cancel();
        assert_eq!(scope.run(r0.receive()).await?, None);
        assert_eq!(r0.statistics().tasks_waiting_send, 1);
        assert_eq!(r0.receive().await?, 3);
        Ok(())
    })
    .await?;

    // A schedule point when it completes at once.
    for i in 0..6 {
        s.send_nowait(i).unwrap();
    }
    common::assert_is_schedule_point(|| async {
        r.receive().await?;
        Ok(())
    })
    .await;
    assert_eq!(r.statistics().current_buffer_used, 0);
    Ok(())
}

// ---- Stream -----------------------------------------------------------------------

async fn stream_yields_items_then_ends<F: Open>() -> Result<()> {
    let (s, mut r) = F::open::<u32>(0);
    let got = open_nursery(async move |n| {
        n.start_soon(async move {
            for i in 0..5 {
                s.send(i).await?;
            }
            Ok(()) // dropped: the end of the channel
        })?;
        let mut got = Vec::new();
        while let Some(v) = next(&mut r).await {
            got.push(v?);
        }
        assert!(next(&mut r).await.is_none(), "still ended");
        Ok(got)
    })
    .await?
    .expect("the body returned");
    assert_eq!(got, [0, 1, 2, 3, 4]);
    Ok(())
}

async fn stream_after_close_and_cancel<F: Open>() -> Result<()> {
    let (s, mut r) = F::open::<u32>(2);
    s.send_nowait(1).unwrap();
    // Cancelled: an error item, and nothing taken.
    let scope = CancelScope::new();
    scope.cancel();
    let item = scope
        .run(async { Ok::<_, Error>(next(&mut r).await) })
        .await?
        .expect("the body returned Ok");
    assert!(item.expect("an item").unwrap_err().is_cancelled());
    assert_eq!(r.statistics().current_buffer_used, 1);
    assert_eq!(next(&mut r).await.expect("an item")?, 1);
    // Closed: an error item, not the end.
    r.close();
    let item = next(&mut r).await.expect("an error item, not the end");
    assert_eq!(kind_of(item), ErrorKind::ClosedResource);
    Ok(())
}

async fn dropped_stream_gives_item_back<F: Open>() -> Result<()> {
    // A stream receive that was handed an item, then the handle dropped: the item
    // goes back to the channel.
    let (s, r) = F::open::<u32>(0);
    let mut r2 = r.clone();
    assert!(poll_next_once(&mut r2).await.is_pending());
    assert_eq!(s.statistics().tasks_waiting_receive, 1);
    s.send_nowait(5).unwrap(); // handed to r2's pending stream receive
    drop(r2);
    assert_eq!(r.receive_nowait()?, 5);
    assert_eq!(s.statistics().tasks_waiting_receive, 0);
    Ok(())
}

// ---- drop re-entrancy -------------------------------------------------------------

/// An item that holds a sender of its own channel.
struct Msg<F: Flavour>(#[allow(dead_code)] Option<MemorySendChannel<Msg<F>, F>>);

async fn dropping_an_item_may_use_its_channel<F: Open>() -> Result<()> {
    // An item dropped by the channel may touch the channel from its Drop (here: it
    // closes a sender). The channel must drop items after unlocking its state.
    let (s, r) = F::open::<Msg<F>>(1);

    // The buffer, dropped with the last receiver.
    s.send_nowait(Msg(Some(s.clone()))).unwrap();
    assert_eq!(s.statistics().open_send_channels, 2);
    let r2 = r.clone();
    r2.close();
    let r3 = r.clone();
    // A receive that took the item at once, dropped after the last receiver closed:
    // nobody can take the item back, so it is dropped.
    let mut fut = r.receive();
    assert!(poll_once(&mut fut).await.is_pending());
    r.close();
    r3.close();
    drop(fut);
    assert_eq!(s.statistics().open_send_channels, 1);

    // A blocked send withdrawn by dropping its future.
    let (s, _r) = F::open::<Msg<F>>(0);
    let mut fut = s.send(Msg(Some(s.clone())));
    assert!(poll_once(&mut fut).await.is_pending());
    drop(fut);
    assert_eq!(s.statistics().open_send_channels, 1);

    // The buffer dropped by the last receiver.
    let (s, r) = F::open::<Msg<F>>(1);
    s.send_nowait(Msg(Some(s.clone()))).unwrap();
    drop(r);
    assert_eq!(s.statistics().open_send_channels, 1);
    Ok(())
}

// ---- two loops, two threads ---------------------------------------------------------

fn assert_send<T: Send>() {}

#[test]
fn thread_safe_handles_are_send() {
    assert_send::<MemorySendChannel<u32>>();
    assert_send::<MemoryReceiveChannel<u32>>();
    assert_send::<SendError<u32>>();
}

#[test]
fn producer_and_consumer_loops_on_two_threads() {
    const N: u64 = 10_000;
    for cap in [0, 16] {
        let (tx, rx) = trio::open_memory_channel::<u64>(cap);
        let (count, sum) = std::thread::scope(|sc| {
            let producer = sc.spawn(move || {
                trio::run(async move {
                    for i in 0..N {
                        tx.send(i).await?;
                    }
                    Ok(()) // tx dropped: the end of the channel, seen in the other loop
                })
            });
            let consumer = sc.spawn(move || {
                trio::run(async move {
                    let (mut count, mut sum) = (0, 0);
                    while let Some(v) = rx.receive_or_end().await? {
                        assert_eq!(v, count, "FIFO across threads");
                        count += 1;
                        sum += v;
                    }
                    Ok((count, sum))
                })
            });
            producer.join().unwrap().unwrap();
            consumer.join().unwrap().unwrap()
        });
        assert_eq!(count, N, "capacity {cap}");
        assert_eq!(sum, N * (N - 1) / 2, "capacity {cap}");
    }
}

#[test]
fn blocked_receiver_woken_by_sender_in_another_loop() {
    let (tx, rx) = trio::open_memory_channel::<u32>(0);
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let got = std::thread::scope(|sc| {
        let consumer = sc.spawn(move || {
            trio::run(async move {
                let got = Cell::new(None);
                let (rx, g) = (&rx, &got);
                open_nursery(async |n| {
                    n.start_soon(async move {
                        g.set(Some(rx.receive().await?));
                        Ok(())
                    })?;
                    wait_all_tasks_blocked().await?;
                    assert_eq!(rx.statistics().tasks_waiting_receive, 1);
                    ready_tx.send(()).unwrap(); // blocked: now the other loop sends
                    Ok(())
                })
                .await?;
                Ok(got.get())
            })
        });
        let producer = sc.spawn(move || {
            ready_rx.recv().unwrap();
            trio::run(async move {
                tx.send(42).await?;
                Ok(())
            })
        });
        producer.join().unwrap().unwrap();
        consumer.join().unwrap().unwrap()
    });
    assert_eq!(got, Some(42));
}

#[test]
fn blocked_sender_woken_by_receiver_in_another_loop() {
    let (tx, rx) = trio::open_memory_channel::<u32>(0);
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    std::thread::scope(|sc| {
        let producer = sc.spawn(move || {
            trio::run(async move {
                let sent = Cell::new(false);
                let (tx, s) = (&tx, &sent);
                open_nursery(async |n| {
                    n.start_soon(async move {
                        tx.send(7).await?;
                        s.set(true);
                        Ok(())
                    })?;
                    wait_all_tasks_blocked().await?;
                    assert_eq!(tx.statistics().tasks_waiting_send, 1);
                    ready_tx.send(()).unwrap();
                    Ok(())
                })
                .await?;
                Ok(sent.get())
            })
        });
        let consumer = sc.spawn(move || {
            ready_rx.recv().unwrap();
            trio::run(async move { rx.receive().await })
        });
        assert_eq!(consumer.join().unwrap().unwrap(), 7);
        assert!(producer.join().unwrap().unwrap());
    });
}

#[test]
fn blocked_receiver_ended_by_sender_dropped_on_a_plain_thread() {
    // The last sender is dropped on a thread that runs no trio loop at all.
    let (tx, rx) = trio::open_memory_channel::<u32>(0);
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    std::thread::scope(|sc| {
        let consumer = sc.spawn(move || {
            trio::run(async move {
                let rx = &rx;
                open_nursery(async |n| {
                    n.start_soon(async move {
                        assert_eq!(rx.receive_or_end().await?, None);
                        Ok(())
                    })?;
                    wait_all_tasks_blocked().await?;
                    ready_tx.send(()).unwrap();
                    Ok(())
                })
                .await
            })
        });
        sc.spawn(move || {
            ready_rx.recv().unwrap();
            drop(tx);
        });
        consumer.join().unwrap().unwrap();
    });
}

#[test]
fn several_loops_share_one_channel() {
    // Three producer loops and three consumer loops on six threads, on clones of
    // one channel: each item is received exactly once.
    const PER_PRODUCER: u32 = 3_000;
    let (tx, rx) = trio::open_memory_channel::<u32>(4);
    let mut got: Vec<u32> = std::thread::scope(|sc| {
        for p in 0..3 {
            let tx = tx.clone();
            sc.spawn(move || {
                trio::run(async move {
                    for i in p * PER_PRODUCER..(p + 1) * PER_PRODUCER {
                        tx.send(i).await?;
                    }
                    Ok(())
                })
                .unwrap()
            });
        }
        drop(tx); // the producers' clones are the only senders left
        let consumers: Vec<_> = (0..3)
            .map(|_| {
                let rx = rx.clone();
                sc.spawn(move || {
                    trio::run(async move {
                        let mut got = Vec::new();
                        while let Some(v) = rx.receive_or_end().await? {
                            got.push(v);
                        }
                        Ok(got)
                    })
                    .unwrap()
                })
            })
            .collect();
        drop(rx);
        consumers
            .into_iter()
            .flat_map(|c| c.join().unwrap())
            .collect()
    });
    got.sort_unstable();
    assert_eq!(got, (0..3 * PER_PRODUCER).collect::<Vec<_>>());
}

#[test]
fn receive_handle_moves_to_another_loop_mid_stream() {
    // A stream receive starts waiting in one loop; the handle then moves to a loop
    // on another thread, where the same receive finishes.
    let (tx, rx) = trio::open_memory_channel::<u32>(0);
    let rx = std::thread::spawn(move || {
        trio::run(async move {
            let mut rx = rx;
            assert!(poll_next_once(&mut rx).await.is_pending());
            assert_eq!(rx.statistics().tasks_waiting_receive, 1);
            Ok(rx)
        })
        .unwrap()
    })
    .join()
    .unwrap();
    tx.send_nowait(5).unwrap(); // handed to the pending stream receive
    let got = std::thread::spawn(move || {
        trio::run(async move {
            let mut rx = rx;
            let first = next(&mut rx).await.expect("an item")?;
            drop(tx);
            assert!(next(&mut rx).await.is_none());
            Ok(first)
        })
        .unwrap()
    })
    .join()
    .unwrap();
    assert_eq!(got, 5);
}

#[trio::test]
async fn put_back_items_keep_fifo_order() -> trio::Result<()> {
    // Two receives are each handed an item (1, then 2) and are dropped in that
    // order: each item goes back to the front of the buffer, so 2 comes out first.
    let (s, r) = trio::open_memory_channel::<u32>(0);
    let mut a = r.receive();
    let mut b = r.receive();
    assert!(poll_once(&mut a).await.is_pending());
    assert!(poll_once(&mut b).await.is_pending());
    s.send_nowait(1).unwrap(); // to `a`, the longest waiting
    s.send_nowait(2).unwrap(); // to `b`
    drop(a);
    drop(b);
    assert_eq!(r.receive_nowait()?, 1);
    assert_eq!(r.receive_nowait()?, 2);
    Ok(())
}

/// Polled again after it completed, a receive future answers with a misuse error
/// (its output can carry one); it does not panic.
#[trio::test]
async fn a_receive_future_polled_after_completion_is_a_usage_error() -> Result<()> {
    let (tx, rx) = trio::open_memory_channel::<u8>(1);
    tx.send(7).await?;
    let mut fut = std::pin::pin!(rx.receive());
    assert_eq!(fut.as_mut().await?, 7);
    let again = poll_fn(|cx| fut.as_mut().poll(cx)).await.unwrap_err();
    assert_eq!(again.kind(), ErrorKind::Usage);
    assert!(again.to_string().contains("after it completed"), "{again}");
    Ok(())
}
