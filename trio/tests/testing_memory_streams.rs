// Ported from Python Trio's `trio/_tests/test_testing.py`, the memory-stream part:
// `test__UnboundeByteQueue` (through the public `MemorySendStream`, whose buffer
// the queue is), `test_MemorySendStream`, `test_MemoryReceiveStream`,
// `test_MemoryRecvStream_closing`, `test_memory_stream_pump`,
// `test_memory_stream_one_way_pair`, `test_memory_stream_pair`. (The generic
// suites, `test_memory_streams_with_generic_tests` and
// `test_lockstep_streams_with_generic_tests`, are in `testing_check_streams.rs`.)
//
// Rust mappings: `max_bytes=None` is `None`, `receive_some(n)` is a buffer of `n`
// bytes; Trio's `WouldBlock`, `ClosedResourceError`, `BusyResourceError`,
// `ValueError` are the `ErrorKind`s of those names (`InvalidInput` for `ValueError`);
// `hook is None` / `hook is h` are `HookSlot::is_set` / `AsyncHook::ptr_eq`.
//
// Plus what Rust adds: cancelled reads consumed nothing, hooks can be taken and
// put back and their errors propagate, handles are shared, `Some(0)` is refused,
// and the lockstep streams' own behaviour (Trio tests those only generically),
// including the retraction of untaken bytes by a cancelled `send_all`.

mod sync_support;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use sync_support::{assert_checkpoints, assert_no_checkpoints, run_cancelled};
use trio::abc::{AsyncResource, HalfCloseableStream, ReceiveStream, SendStream, aclose_forcefully};
use trio::testing::{
    AsyncHook, MemoryReceiveStream, MemorySendStream, SyncHook, lockstep_stream_one_way_pair,
    lockstep_stream_pair, memory_stream_one_way_pair, memory_stream_pair, memory_stream_pump,
    wait_all_tasks_blocked,
};
use trio::{CancelScope, ErrorKind};

/// Receives into a buffer of `max` bytes and returns what came.
async fn recv<R: ReceiveStream>(r: &R, max: usize) -> trio::Result<Vec<u8>> {
    let mut buf = vec![0u8; max];
    let n = r.receive_some(&mut buf).await?;
    buf.truncate(n);
    Ok(buf)
}

fn kind<T: std::fmt::Debug>(r: trio::Result<T>) -> ErrorKind {
    r.unwrap_err().kind()
}

#[trio::test]
async fn unbounded_byte_queue() -> trio::Result<()> {
    // test__UnboundeByteQueue, through MemorySendStream: `put` is `send_all` (no
    // hook), `get` is `get_data`, `close` is `close`.
    let q = MemorySendStream::new();
    q.send_all(b"123").await?;
    q.send_all(b"456").await?;
    assert_eq!(q.get_data_nowait(1)?, b"1");
    assert_eq!(q.get_data_nowait(10)?, b"23456");
    q.send_all(b"789").await?;
    assert_eq!(q.get_data_nowait(None)?, b"789");

    assert_eq!(kind(q.get_data_nowait(10)), ErrorKind::WouldBlock);
    assert_eq!(kind(q.get_data_nowait(None)), ErrorKind::WouldBlock);

    q.send_all(b"abc").await?;
    assert_eq!(assert_checkpoints(q.get_data(10)).await?, b"abc");
    q.send_all(b"def").await?;
    q.send_all(b"ghi").await?;
    assert_eq!(assert_checkpoints(q.get_data(1)).await?, b"d");
    assert_eq!(assert_checkpoints(q.get_data(None)).await?, b"efghi");

    let q = &q;
    let getter = async move |expect: &'static [u8]| -> trio::Result<()> {
        assert_eq!(assert_checkpoints(q.get_data(None)).await?, expect);
        Ok(())
    };
    trio::open_nursery(async |n| {
        n.start_soon(getter(b"xyz"))?;
        n.start_soon(async move {
            wait_all_tasks_blocked().await?;
            q.send_all(b"xyz").await
        })?;
        Ok(())
    })
    .await?;

    // Two gets at the same time: BusyResource. (Trio's `assert_checkpoints` only
    // checks calls that succeed; the helper here checks every call, so the getters
    // are plain.)
    let err = trio::open_nursery(async |n| {
        n.start_soon(async move { q.get_data(None).await.map(drop) })?;
        n.start_soon(async move { q.get_data(None).await.map(drop) })?;
        Ok(())
    })
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BusyResource);

    // Closing.
    q.close();
    assert_eq!(kind(q.send_all(b"---").await), ErrorKind::ClosedResource);
    assert_eq!(q.get_data_nowait(10)?, b"");
    assert_eq!(q.get_data_nowait(None)?, b"");
    assert_eq!(q.get_data(10).await?, b"");
    assert_eq!(q.get_data(None).await?, b"");
    // close is idempotent
    q.close();

    // close wakes up blocked getters
    let q2 = MemorySendStream::new();
    let q2 = &q2;
    trio::open_nursery(async |n| {
        n.start_soon(async move {
            assert_eq!(assert_checkpoints(q2.get_data(None)).await?, b"");
            Ok(())
        })?;
        n.start_soon(async move {
            wait_all_tasks_blocked().await?;
            q2.close();
            Ok(())
        })?;
        Ok(())
    })
    .await?;
    Ok(())
}

#[trio::test]
async fn memory_send_stream() -> trio::Result<()> {
    // test_MemorySendStream
    let mss = MemorySendStream::new();
    let mss = &mss;

    assert_checkpoints(mss.send_all(b"123")).await?;
    assert_eq!(mss.get_data_nowait(1)?, b"1");
    assert_eq!(mss.get_data_nowait(None)?, b"23");

    assert_checkpoints(mss.wait_send_all_might_not_block()).await?;

    assert_eq!(kind(mss.get_data_nowait(None)), ErrorKind::WouldBlock);
    assert_eq!(kind(mss.get_data_nowait(10)), ErrorKind::WouldBlock);

    assert_checkpoints(mss.send_all(b"456")).await?;
    assert_eq!(assert_checkpoints(mss.get_data(None)).await?, b"456");

    // Call send_all twice at once; one gets BusyResource and one succeeds. We
    // can't let the error propagate (it would cancel the other), so count it.
    let busy = Cell::new(0);
    let busy = &busy;
    trio::open_nursery(async |n| {
        for _ in 0..2 {
            n.start_soon(async move {
                match mss.send_all(b"xxx").await {
                    Err(e) if e.kind() == ErrorKind::BusyResource => busy.set(busy.get() + 1),
                    other => other?,
                }
                Ok(())
            })?;
        }
        Ok(())
    })
    .await?;
    assert_eq!(busy.get(), 1);

    assert_checkpoints(mss.aclose()).await?;

    assert_eq!(mss.get_data(None).await?, b"xxx");
    assert_eq!(mss.get_data(None).await?, b"");
    assert_eq!(kind(mss.send_all(b"---").await), ErrorKind::ClosedResource);

    // hooks
    assert!(!mss.send_all_hook().is_set());
    assert!(!mss.wait_send_all_might_not_block_hook().is_set());
    assert!(!mss.close_hook().is_set());

    let record = Rc::new(RefCell::new(Vec::new()));
    let (r1, r2, r3) = (record.clone(), record.clone(), record.clone());
    let send_all_hook = AsyncHook::new(async move |s: &MemorySendStream| {
        // The hook runs after send_all did its work (it can pull the data out).
        assert_eq!(s.get_data_nowait(None)?, b"abc");
        r1.borrow_mut().push("send_all_hook");
        Ok(())
    });
    let wait_hook = AsyncHook::new(async move |_: &MemorySendStream| {
        r2.borrow_mut().push("wait_send_all_might_not_block_hook");
        Ok(())
    });
    let close_hook = SyncHook::new(move |_: &MemorySendStream| r3.borrow_mut().push("close_hook"));

    let mss2 = MemorySendStream::new();
    mss2.send_all_hook().replace(Some(send_all_hook.clone()));
    mss2.wait_send_all_might_not_block_hook()
        .replace(Some(wait_hook.clone()));
    mss2.close_hook().replace(Some(close_hook.clone()));

    assert!(mss2.send_all_hook().get().unwrap().ptr_eq(&send_all_hook));
    assert!(
        mss2.wait_send_all_might_not_block_hook()
            .get()
            .unwrap()
            .ptr_eq(&wait_hook)
    );
    assert!(mss2.close_hook().get().unwrap().ptr_eq(&close_hook));

    mss2.send_all(b"abc").await?;
    mss2.wait_send_all_might_not_block().await?;
    aclose_forcefully(&mss2).await?;
    mss2.close();

    assert_eq!(
        *record.borrow(),
        [
            "send_all_hook",
            "wait_send_all_might_not_block_hook",
            "close_hook",
            "close_hook",
        ]
    );
    Ok(())
}

#[trio::test]
async fn memory_receive_stream() -> trio::Result<()> {
    // test_MemoryReceiveStream
    let mrs = MemoryReceiveStream::new();
    let mrs = &mrs;

    mrs.put_data(b"abc")?;
    assert_eq!(assert_checkpoints(recv(mrs, 1)).await?, b"a");
    assert_eq!(assert_checkpoints(recv(mrs, 10)).await?, b"bc");
    mrs.put_data(b"abc")?;
    assert_eq!(assert_checkpoints(recv(mrs, 4096)).await?, b"abc"); // max_bytes=None

    let err = trio::open_nursery(async |n| {
        n.start_soon(async move { recv(mrs, 10).await.map(drop) })?;
        n.start_soon(async move { recv(mrs, 10).await.map(drop) })?;
        Ok(())
    })
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BusyResource);

    assert!(!mrs.receive_some_hook().is_set());

    mrs.put_data(b"def")?;
    mrs.put_eof();
    mrs.put_eof();

    assert_eq!(assert_checkpoints(recv(mrs, 10)).await?, b"def");
    assert_eq!(assert_checkpoints(recv(mrs, 10)).await?, b"");
    assert_eq!(assert_checkpoints(recv(mrs, 10)).await?, b"");

    assert_eq!(kind(mrs.put_data(b"---")), ErrorKind::ClosedResource);

    let record = Rc::new(RefCell::new(Vec::new()));
    let r = record.clone();
    let receive_some_hook = AsyncHook::new(async |s: &MemoryReceiveStream| s.put_data(b"xxx"));
    let close_hook = SyncHook::new(move |_: &MemoryReceiveStream| r.borrow_mut().push("closed"));

    let mrs2 = MemoryReceiveStream::new();
    mrs2.receive_some_hook()
        .replace(Some(receive_some_hook.clone()));
    mrs2.close_hook().replace(Some(close_hook.clone()));
    assert!(
        mrs2.receive_some_hook()
            .get()
            .unwrap()
            .ptr_eq(&receive_some_hook)
    );
    assert!(mrs2.close_hook().get().unwrap().ptr_eq(&close_hook));

    mrs2.put_data(b"yyy")?;
    assert_eq!(recv(&mrs2, 10).await?, b"yyyxxx");
    assert_eq!(recv(&mrs2, 10).await?, b"xxx");
    assert_eq!(recv(&mrs2, 10).await?, b"xxx");

    mrs2.put_data(b"zzz")?;
    mrs2.receive_some_hook().take();
    assert_eq!(recv(&mrs2, 10).await?, b"zzz");

    mrs2.put_data(b"lost on close")?;
    assert_checkpoints(mrs2.aclose()).await?;
    assert_eq!(*record.borrow(), ["closed"]);

    assert_eq!(kind(recv(&mrs2, 10).await), ErrorKind::ClosedResource);
    Ok(())
}

#[trio::test]
async fn memory_receive_stream_closing() -> trio::Result<()> {
    // test_MemoryRecvStream_closing
    let mrs = MemoryReceiveStream::new();
    // close with no pending data
    mrs.close();
    assert_eq!(kind(recv(&mrs, 10).await), ErrorKind::ClosedResource);
    // repeated closes ok
    mrs.close();
    // put_data now fails
    assert_eq!(kind(mrs.put_data(b"123")), ErrorKind::ClosedResource);

    let mrs2 = MemoryReceiveStream::new();
    // close with pending data
    mrs2.put_data(b"xyz")?;
    mrs2.close();
    assert_eq!(kind(recv(&mrs2, 10).await), ErrorKind::ClosedResource);
    Ok(())
}

#[trio::test]
async fn memory_stream_pump_moves_data() -> trio::Result<()> {
    // test_memory_stream_pump
    let mss = MemorySendStream::new();
    let mrs = MemoryReceiveStream::new();

    // no-op if no data present
    assert!(!memory_stream_pump(&mss, &mrs, None)?);

    mss.send_all(b"123").await?;
    assert!(memory_stream_pump(&mss, &mrs, None)?);
    assert_eq!(recv(&mrs, 10).await?, b"123");

    mss.send_all(b"456").await?;
    assert!(memory_stream_pump(&mss, &mrs, 1)?);
    assert_eq!(recv(&mrs, 10).await?, b"4");
    assert!(memory_stream_pump(&mss, &mrs, 1)?);
    assert!(memory_stream_pump(&mss, &mrs, 1)?);
    assert!(!memory_stream_pump(&mss, &mrs, 1)?);
    assert_eq!(recv(&mrs, 10).await?, b"56");

    mss.close();
    assert!(memory_stream_pump(&mss, &mrs, None)?);
    assert_eq!(recv(&mrs, 10).await?, b"");
    Ok(())
}

#[trio::test]
async fn memory_stream_pump_errors() -> trio::Result<()> {
    // Rust-side: the pump's own errors (Trio: `BrokenResourceError` from a closed
    // receiver; `ValueError` for max_bytes < 1).
    let mss = MemorySendStream::new();
    let mrs = MemoryReceiveStream::new();
    mss.send_all(b"abc").await?;
    assert_eq!(
        kind(memory_stream_pump(&mss, &mrs, 0)),
        ErrorKind::InvalidInput
    );
    mrs.close();
    assert_eq!(
        kind(memory_stream_pump(&mss, &mrs, None)),
        ErrorKind::BrokenResource
    );
    // The bytes taken are lost, as on a real connection.
    assert_eq!(kind(mss.get_data_nowait(None)), ErrorKind::WouldBlock);
    Ok(())
}

#[trio::test]
async fn memory_stream_one_way_pair_wiring() -> trio::Result<()> {
    // test_memory_stream_one_way_pair
    let (s, r) = memory_stream_one_way_pair();
    assert!(s.send_all_hook().is_set());
    assert!(!s.wait_send_all_might_not_block_hook().is_set());
    assert!(s.close_hook().is_set());
    assert!(!r.receive_some_hook().is_set());
    s.send_all(b"123").await?;
    assert_eq!(recv(&r, 10).await?, b"123");

    let (sr, rr) = (&s, &r);
    // This fails if we pump on r's receive_some_hook; we need to pump on s's
    // send_all_hook.
    trio::open_nursery(async |n| {
        n.start_soon(async move {
            assert_eq!(recv(rr, 10).await?, b"abc");
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        sr.send_all(b"abc").await
    })
    .await?;

    // And this fails if we don't pump from close_hook.
    trio::open_nursery(async |n| {
        n.start_soon(async move {
            assert_eq!(recv(rr, 10).await?, b"");
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        sr.aclose().await
    })
    .await?;

    let (s, r) = memory_stream_one_way_pair();
    let (sr, rr) = (&s, &r);
    trio::open_nursery(async |n| {
        n.start_soon(async move {
            assert_eq!(recv(rr, 10).await?, b"");
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        sr.close();
        Ok(())
    })
    .await?;

    let (s, r) = memory_stream_one_way_pair();
    let (sr, rr) = (&s, &r);
    let old = s.send_all_hook().take();
    s.send_all(b"456").await?;

    trio::open_nursery(async |n| {
        let scope = n.cancel_scope();
        n.start_soon(async move {
            wait_all_tasks_blocked().await?;
            scope.cancel();
            Ok(())
        })?;
        n.start_soon(async move {
            // This blocks forever... or until cancelled. Even though we sent some
            // data on the send stream.
            let e = recv(rr, 10).await.unwrap_err();
            assert!(e.is_cancelled());
            Err(e)
        })?;
        Ok(())
    })
    .await?;

    sr.send_all_hook().replace(old);
    s.send_all(b"789").await?;
    assert_eq!(recv(&r, 10).await?, b"456789");
    Ok(())
}

#[trio::test]
async fn memory_stream_pair_wiring() -> trio::Result<()> {
    // test_memory_stream_pair
    let (a, b) = memory_stream_pair();
    a.send_all(b"123").await?;
    b.send_all(b"abc").await?;
    assert_eq!(recv(&b, 10).await?, b"123");
    assert_eq!(recv(&a, 10).await?, b"abc");

    a.send_eof().await?;
    assert_eq!(recv(&b, 10).await?, b"");

    let (a, b) = (&a, &b);
    trio::open_nursery(async |n| {
        n.start_soon(async move {
            assert_eq!(recv(a, 10).await?, b"xyz");
            Ok(())
        })?;
        n.start_soon(async move {
            wait_all_tasks_blocked().await?;
            b.send_all(b"xyz").await
        })?;
        Ok(())
    })
    .await?;
    Ok(())
}

#[trio::test]
async fn memory_stream_pair_halves_are_wired_crosswise() -> trio::Result<()> {
    // Rust-side: left.send_stream() feeds right.receive_stream(), as documented.
    let (left, right) = memory_stream_pair();
    left.send_stream().send_all_hook().take();
    left.send_all(b"held").await?;
    assert_eq!(left.send_stream().get_data_nowait(None)?, b"held");
    right.receive_stream().put_data(b"injected")?;
    assert_eq!(recv(&right, 64).await?, b"injected");
    Ok(())
}

#[trio::test]
async fn cancelled_receive_some_consumed_nothing() -> trio::Result<()> {
    // Rust-side: the "a cancelled operation did not happen" rule, at both places a
    // receive can be cancelled (the checkpoints before data is there, and the
    // checkpoint when data is already there).
    let r = MemoryReceiveStream::new();
    let mut buf = [0u8; 4];
    assert_eq!(run_cancelled(r.receive_some(&mut buf)).await?, None);
    r.put_data(b"keep")?;
    assert_eq!(run_cancelled(r.receive_some(&mut buf)).await?, None);
    assert_eq!(recv(&r, 10).await?, b"keep");

    // Cancelled while parked, waiting for data.
    let scope = CancelScope::new();
    let (rr, sc) = (&r, &scope);
    trio::open_nursery(async |n| {
        n.start_soon(async move {
            assert_eq!(sc.run(recv(rr, 10)).await?, None);
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        scope.cancel();
        Ok(())
    })
    .await?;
    r.put_data(b"after")?;
    assert_eq!(recv(&r, 10).await?, b"after");

    // The same for get_data.
    let s = MemorySendStream::new();
    s.send_all(b"kept").await?;
    assert_eq!(run_cancelled(s.get_data(None)).await?, None);
    assert_eq!(s.get_data_nowait(None)?, b"kept");
    Ok(())
}

#[trio::test]
async fn close_wakes_a_blocked_receive_some() -> trio::Result<()> {
    // Rust-side (Trio checks it generically): closing our own receive stream wakes
    // our blocked receive_some with ClosedResource; the peer's EOF gives Ok(0).
    let r = MemoryReceiveStream::new();
    let rr = &r;
    trio::open_nursery(async |n| {
        n.start_soon(async move {
            assert_eq!(kind(recv(rr, 10).await), ErrorKind::ClosedResource);
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        rr.close();
        Ok(())
    })
    .await?;

    let r = MemoryReceiveStream::new();
    let rr = &r;
    trio::open_nursery(async |n| {
        n.start_soon(async move {
            assert_eq!(recv(rr, 10).await?, b"");
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        rr.put_eof();
        Ok(())
    })
    .await?;
    Ok(())
}

#[trio::test]
async fn arguments_are_checked() -> trio::Result<()> {
    // Rust-side: Trio's `max_bytes must be >= 1` (ValueError) and receive_some's
    // empty buffer, which fail at once.
    let s = MemorySendStream::new();
    s.send_all(b"x").await?;
    assert_eq!(kind(s.get_data_nowait(0)), ErrorKind::InvalidInput);
    assert_eq!(kind(s.get_data(0).await), ErrorKind::InvalidInput);
    assert_eq!(s.get_data_nowait(None)?, b"x");

    let (a, _b) = memory_stream_pair();
    let e = assert_no_checkpoints(a.receive_some(&mut [])).await;
    assert_eq!(kind(e), ErrorKind::InvalidInput);
    Ok(())
}

#[trio::test]
async fn conflicts_between_send_all_and_wait() -> trio::Result<()> {
    // Rust-side: send_all and wait_send_all_might_not_block share one conflict
    // detector (Trio's `_conflict_detector`), and so does send_eof on a stapled
    // memory stream.
    let s = MemorySendStream::new();
    let gate = Rc::new(trio::sync::Event::new());
    let g = gate.clone();
    s.send_all_hook().set(async move |_| g.wait().await);
    let (sr, gr) = (&s, &gate);
    trio::open_nursery(async |n| {
        n.start_soon(sr.send_all(b"slow"))?;
        wait_all_tasks_blocked().await?;
        assert_eq!(
            kind(sr.wait_send_all_might_not_block().await),
            ErrorKind::BusyResource
        );
        assert_eq!(kind(sr.send_all(b"x").await), ErrorKind::BusyResource);
        gr.set();
        Ok(())
    })
    .await?;
    assert_eq!(s.get_data_nowait(None)?, b"slow");

    // send_eof on a stapled pair whose send half is busy.
    let (a, _b) = memory_stream_pair();
    let gate = Rc::new(trio::sync::Event::new());
    let g = gate.clone();
    a.send_stream()
        .send_all_hook()
        .set(async move |_| g.wait().await);
    let (ar, gr) = (&a, &gate);
    trio::open_nursery(async |n| {
        n.start_soon(ar.send_all(b"slow"))?;
        wait_all_tasks_blocked().await?;
        assert_eq!(kind(ar.send_eof().await), ErrorKind::BusyResource);
        gr.set();
        Ok(())
    })
    .await?;
    // Once the send finished, send_eof works.
    a.send_eof().await?;
    assert_eq!(kind(a.send_all(b"x").await), ErrorKind::ClosedResource);
    Ok(())
}

#[trio::test]
async fn hook_errors_propagate() -> trio::Result<()> {
    // Rust-side: a hook's error is the operation's error.
    let s = MemorySendStream::new();
    s.send_all_hook()
        .set(async |_| Err(trio::Error::new(ErrorKind::BrokenResource, "wire cut")));
    let e = s.send_all(b"x").await.unwrap_err();
    assert_eq!(e.message(), Some("wire cut"));
    // The data was buffered before the hook ran.
    assert_eq!(s.get_data_nowait(None)?, b"x");

    let r = MemoryReceiveStream::new();
    r.put_data(b"never read")?;
    r.receive_some_hook()
        .set(async |_| Err(trio::Error::new(ErrorKind::Other, "no")));
    assert_eq!(kind(recv(&r, 10).await), ErrorKind::Other);
    r.receive_some_hook().take();
    assert_eq!(recv(&r, 20).await?, b"never read");
    Ok(())
}

#[trio::test]
async fn clones_are_the_same_stream() -> trio::Result<()> {
    // Rust-side: a cloned handle shares buffer, hooks, closed state and conflict
    // detector.
    let s = MemorySendStream::new();
    let s2 = s.clone();
    s.send_all(b"one").await?;
    assert_eq!(s2.get_data_nowait(None)?, b"one");
    s2.close_hook().set(|_| {});
    assert!(s.close_hook().is_set());
    s2.close();
    assert_eq!(kind(s.send_all(b"x").await), ErrorKind::ClosedResource);

    let r = MemoryReceiveStream::new();
    let r2 = r.clone();
    r2.put_data(b"two")?;
    assert_eq!(recv(&r, 10).await?, b"two");
    assert!(format!("{r:?}").contains("MemoryReceiveStream"));
    Ok(())
}

#[trio::test]
async fn hooks_can_replace_themselves() -> trio::Result<()> {
    // Rust-side: an operation runs the hook it found; a hook may change the slot
    // while it runs (no RefCell is held across the call).
    let s = MemorySendStream::new();
    let calls = Rc::new(Cell::new(0));
    let c = calls.clone();
    s.send_all_hook().set(async move |s| {
        c.set(c.get() + 1);
        s.send_all_hook().take();
        Ok(())
    });
    s.send_all(b"1").await?;
    s.send_all(b"2").await?;
    assert_eq!(calls.get(), 1);
    assert!(!s.send_all_hook().is_set());
    Ok(())
}

// ----- lockstep streams (Trio tests these only through the generic suites) -----

#[trio::test]
async fn lockstep_send_all_waits_for_the_receiver() -> trio::Result<()> {
    let (s, r) = lockstep_stream_one_way_pair();
    let sent = Cell::new(false);
    let (s, r, sent) = (&s, &r, &sent);
    trio::open_nursery(async |n| {
        n.start_soon(async move {
            s.send_all(b"abcd").await?;
            sent.set(true);
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        assert!(!sent.get(), "nothing received yet: send_all must wait");
        assert_eq!(recv(r, 3).await?, b"abc");
        wait_all_tasks_blocked().await?;
        assert!(!sent.get(), "one byte left: send_all must still wait");
        assert_eq!(recv(r, 3).await?, b"d");
        wait_all_tasks_blocked().await?;
        assert!(sent.get());
        Ok(())
    })
    .await?;
    Ok(())
}

#[trio::test]
async fn lockstep_cancelled_send_all_takes_back_untaken_bytes() -> trio::Result<()> {
    // Rust-side departure from Trio: a cancelled send_all sent exactly a prefix,
    // and the stream stays usable.
    let (s, r) = lockstep_stream_one_way_pair();
    let scope = CancelScope::new();
    let (s, r, sc) = (&s, &r, &scope);
    trio::open_nursery(async |n| {
        n.start_soon(async move {
            assert_eq!(sc.run(s.send_all(b"abcdef")).await?, None);
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        assert_eq!(recv(r, 2).await?, b"ab");
        wait_all_tasks_blocked().await?;
        sc.cancel();
        Ok(())
    })
    .await?;
    trio::open_nursery(async |n| {
        n.start_soon(s.send_all(b"next"))?;
        // Only the new bytes arrive: "cdef" was taken back.
        assert_eq!(recv(r, 10).await?, b"next");
        Ok(())
    })
    .await?;
    Ok(())
}

#[trio::test]
async fn lockstep_receiver_waits_again_after_a_retraction() -> trio::Result<()> {
    // Rust-side: a receiver woken for bytes that a cancelled sender then takes back
    // keeps waiting (rather than returning nothing or end of stream).
    let (s, r) = lockstep_stream_one_way_pair();
    let scope = CancelScope::new();
    let (s, r, sc) = (&s, &r, &scope);
    trio::open_nursery(async |n| {
        n.start_soon(async move {
            assert_eq!(recv(r, 10).await?, b"second");
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        n.start_soon(async move {
            sc.run(s.send_all(b"first")).await?;
            Ok(())
        })?;
        // Cancel the sender before the woken receiver runs.
        sc.cancel();
        wait_all_tasks_blocked().await?;
        s.send_all(b"second").await
    })
    .await?;
    Ok(())
}

#[trio::test]
async fn lockstep_cancelled_receive_took_nothing() -> trio::Result<()> {
    let (s, r) = lockstep_stream_one_way_pair();
    let mut buf = [0u8; 4];
    assert_eq!(run_cancelled(r.receive_some(&mut buf)).await?, None);
    let (s, r) = (&s, &r);
    trio::open_nursery(async |n| {
        n.start_soon(s.send_all(b"ok"))?;
        assert_eq!(recv(r, 4).await?, b"ok");
        Ok(())
    })
    .await?;
    Ok(())
}

#[trio::test]
async fn lockstep_closing() -> trio::Result<()> {
    // The error kinds of each end after each kind of close.
    let (s, r) = lockstep_stream_one_way_pair();
    r.close();
    assert_eq!(kind(s.send_all(b"x").await), ErrorKind::BrokenResource);
    assert_checkpoints(s.wait_send_all_might_not_block()).await?;
    assert_eq!(kind(recv(&r, 1).await), ErrorKind::ClosedResource);

    let (s, r) = lockstep_stream_one_way_pair();
    s.close();
    assert_eq!(kind(s.send_all(b"x").await), ErrorKind::ClosedResource);
    assert_eq!(
        kind(s.wait_send_all_might_not_block().await),
        ErrorKind::ClosedResource
    );
    assert_eq!(assert_checkpoints(recv(&r, 1)).await?, b"");
    assert!(format!("{s:?} {r:?}").contains("Lockstep"));
    Ok(())
}

#[trio::test]
async fn lockstep_pair_is_half_closeable() -> trio::Result<()> {
    let (a, b) = lockstep_stream_pair();
    assert_checkpoints(a.send_eof()).await?;
    assert_eq!(recv(&b, 4).await?, b"");
    assert_eq!(kind(a.send_all(b"x").await), ErrorKind::ClosedResource);
    // send_eof twice is fine; the other direction still works.
    a.send_eof().await?;
    let (a, b) = (&a, &b);
    trio::open_nursery(async |n| {
        n.start_soon(b.send_all(b"back"))?;
        assert_eq!(recv(a, 4).await?, b"back");
        Ok(())
    })
    .await?;
    // A cancelled send_eof did nothing.
    let (c, d) = lockstep_stream_pair();
    assert_eq!(run_cancelled(c.send_eof()).await?, None);
    let (c, d) = (&c, &d);
    trio::open_nursery(async |n| {
        n.start_soon(c.send_all(b"still open"))?;
        assert_eq!(recv(d, 64).await?, b"still open");
        Ok(())
    })
    .await?;
    Ok(())
}
