//! Broadcast channels (beyond Trio: python-trio/trio#987). Every receiver sees every
//! item; slow receivers apply backpressure; sends and receives are checkpoints and
//! atomic under cancellation; Trio's clone/close rules as for memory channels.

use std::cell::RefCell;
use std::time::Duration;

use trio::ErrorKind;
use trio::channel::open_broadcast_channel;
use trio::testing::wait_all_tasks_blocked;

#[trio::test]
async fn every_receiver_sees_every_item_in_order() -> trio::Result<()> {
    let (tx, rx) = open_broadcast_channel::<u32>(4);
    let receivers: Vec<_> = (0..3).map(|_| rx.clone()).collect();
    drop(rx);
    let got = RefCell::new(vec![Vec::new(); 3]);
    let g = &got;
    trio::open_nursery(async |n| {
        for (i, r) in receivers.into_iter().enumerate() {
            n.start_soon(async move {
                while let Some(v) = r.receive_or_end().await? {
                    g.borrow_mut()[i].push(v);
                }
                Ok(())
            })?;
        }
        n.start_soon(async move {
            for v in 0..100 {
                tx.send(v).await?;
            }
            Ok(())
        })?;
        Ok(())
    })
    .await?;
    let want: Vec<u32> = (0..100).collect();
    for r in got.into_inner() {
        assert_eq!(r, want);
    }
    Ok(())
}

#[trio::test]
async fn slowest_receiver_applies_backpressure() -> trio::Result<()> {
    let (tx, fast) = open_broadcast_channel::<u32>(2);
    let slow = fast.clone();
    let sent = RefCell::new(0);
    let (s, f) = (&sent, &fast);
    trio::open_nursery(async |n| {
        n.start_soon(async move {
            for v in 0..10 {
                tx.send(v).await?;
                *s.borrow_mut() += 1;
            }
            Ok(())
        })?;
        n.start_soon(async move {
            while f.receive_or_end().await?.is_some() {}
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        // The fast receiver drained what it could, but the slow one read nothing:
        // exactly `capacity` items were sent, and the sender waits.
        assert_eq!(*sent.borrow(), 2);
        assert_eq!(slow.statistics().tasks_waiting_send, 1);
        assert_eq!(slow.receive().await?, 0);
        wait_all_tasks_blocked().await?;
        assert_eq!(*sent.borrow(), 3);
        while slow.receive_or_end().await?.is_some() {}
        Ok(())
    })
    .await?;
    assert_eq!(*sent.borrow(), 10);
    Ok(())
}

#[trio::test]
async fn clone_starts_at_the_same_position_subscribe_at_the_newest() -> trio::Result<()> {
    let (tx, rx) = open_broadcast_channel::<u32>(8);
    tx.send(1).await?;
    tx.send(2).await?;
    assert_eq!(rx.receive().await?, 1);
    let twin = rx.clone();
    let late = tx.subscribe();
    tx.send(3).await?;
    assert_eq!(rx.receive().await?, 2);
    assert_eq!(twin.receive().await?, 2);
    assert_eq!(late.receive().await?, 3);
    assert_eq!(twin.receive().await?, 3);
    Ok(())
}

#[trio::test(autojump)]
async fn cancelled_send_delivers_nothing_and_returns_the_value() -> trio::Result<()> {
    let (tx, rx) = open_broadcast_channel::<&str>(1);
    tx.send("first").await?;
    let mut back = None;
    let r = trio::move_on_after(Duration::from_secs(1), async {
        tx.send("second").await.map_err(|e| {
            let (err, v) = e.into_parts();
            back = Some(v);
            err
        })
    })
    .await?;
    assert_eq!(r, None);
    assert_eq!(back, Some("second"));
    drop(tx);
    assert_eq!(rx.receive_or_end().await?, Some("first"));
    assert_eq!(
        rx.receive_or_end().await?,
        None,
        "the cancelled item was never seen"
    );
    Ok(())
}

#[trio::test(autojump)]
async fn cancelled_receive_reads_nothing() -> trio::Result<()> {
    let (tx, rx) = open_broadcast_channel::<u32>(1);
    let r = trio::move_on_after(Duration::from_secs(1), rx.receive()).await?;
    assert_eq!(r, None);
    tx.send(4).await?;
    assert_eq!(rx.receive().await?, 4);
    Ok(())
}

#[trio::test]
async fn receive_is_a_checkpoint_even_when_an_item_is_ready() -> trio::Result<()> {
    let (tx, rx) = open_broadcast_channel::<u32>(1);
    tx.send(1).await?;
    let scope = trio::CancelScope::new();
    scope.cancel();
    assert_eq!(scope.run(rx.receive()).await?, None);
    assert_eq!(
        rx.receive().await?,
        1,
        "the cancelled receive did not consume it"
    );
    Ok(())
}

#[trio::test]
async fn closing_rules() -> trio::Result<()> {
    let (tx, rx) = open_broadcast_channel::<u32>(2);
    let tx2 = tx.clone();
    tx.send(1).await?;
    tx.close();
    assert_eq!(
        tx.send_nowait(9).unwrap_err().kind(),
        ErrorKind::ClosedResource
    );
    tx2.send(2).await?;
    drop(tx2); // last sender: receivers drain, then end
    assert_eq!(rx.receive().await?, 1);
    assert_eq!(rx.receive().await?, 2);
    assert_eq!(
        rx.receive().await.unwrap_err().kind(),
        ErrorKind::EndOfChannel
    );

    let (tx, rx) = open_broadcast_channel::<u32>(1);
    tx.send(1).await?;
    let blocked = RefCell::new(None);
    let (b, t) = (&blocked, &tx);
    trio::open_nursery(async |n| {
        n.start_soon(async move {
            *b.borrow_mut() = Some(t.send(2).await.unwrap_err().kind());
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        rx.close(); // last receiver: the waiting sender is broken
        Ok(())
    })
    .await?;
    assert_eq!(*blocked.borrow(), Some(ErrorKind::BrokenResource));
    assert_eq!(
        rx.receive_nowait().unwrap_err().kind(),
        ErrorKind::ClosedResource
    );
    Ok(())
}

#[trio::test]
async fn one_receiver_handle_is_read_by_one_task_at_a_time() -> trio::Result<()> {
    let (tx, rx) = open_broadcast_channel::<u32>(1);
    let r = &rx;
    trio::open_nursery(async |n| {
        n.start_soon(async move {
            assert_eq!(r.receive().await?, 7);
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        assert_eq!(
            rx.receive().await.unwrap_err().kind(),
            ErrorKind::BusyResource
        );
        tx.send(7).await?;
        Ok(())
    })
    .await?;
    Ok(())
}

#[test]
fn zero_capacity_is_refused() {
    let r = std::panic::catch_unwind(|| open_broadcast_channel::<u8>(0));
    assert!(r.is_err());
}

#[test]
fn connects_loops_on_two_threads() {
    let (tx, rx) = open_broadcast_channel::<u64>(16);
    let rx2 = rx.clone();
    let readers: Vec<_> = [rx, rx2]
        .into_iter()
        .map(|r| {
            std::thread::spawn(move || {
                trio::run(async move {
                    let mut sum = 0;
                    while let Some(v) = r.receive_or_end().await? {
                        sum += v;
                    }
                    Ok(sum)
                })
                .unwrap()
            })
        })
        .collect();
    trio::run(async move {
        for v in 0..10_000u64 {
            tx.send(v).await?;
        }
        Ok(())
    })
    .unwrap();
    for r in readers {
        assert_eq!(r.join().unwrap(), 9_999 * 10_000 / 2);
    }
}

#[test]
fn clones_of_closed_handles_are_closed() {
    let (tx, rx) = open_broadcast_channel::<u8>(2);
    let keep = rx.clone();
    rx.close();
    let zombie = rx.clone();
    assert_eq!(
        zombie.receive_nowait().unwrap_err().kind(),
        ErrorKind::ClosedResource
    );
    assert_eq!(tx.statistics().open_receive_channels, 1);
    tx.close();
    let tx2 = tx.clone();
    assert_eq!(
        tx2.send_nowait(1).unwrap_err().kind(),
        ErrorKind::ClosedResource
    );
    assert_eq!(
        keep.receive_nowait().unwrap_err().kind(),
        ErrorKind::EndOfChannel
    );
}
