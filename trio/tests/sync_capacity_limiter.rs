// Ported from Python Trio's `trio/_tests/test_sync.py`: `test_CapacityLimiter`,
// `test_CapacityLimiter_inf`, `test_CapacityLimiter_change_total_tokens`,
// `test_CapacityLimiter_memleak_548`, `test_CapacityLimiter_zero_limit_tokens`.
//
// Rust mappings: Trio's arbitrary borrower objects ("someone", 0, 1, ...) are
// `Borrower::new()` tokens; `math.inf` is `usize::MAX`; `c.total_tokens = n` is
// `c.set_total_tokens(n)`; Trio's `RuntimeError` is `ErrorKind::Usage`; the
// `TypeError`/`ValueError` cases for non-int or negative totals are ruled out by
// `usize`. `acquire_on_behalf_of` in a child that exits keeps its token
// (`forget` on the permit), as in Trio.
//
// Plus: permits, a borrower waiting twice, several waits in one task (the
// waiter/borrower bookkeeping), dropped waiters, stale permits.

mod sync_support;

use std::cell::RefCell;
use std::future::Future;
use std::pin::pin;
use std::task::Poll;

use sync_support::{assert_checkpoints, assert_no_checkpoints, run_cancelled};
use trio::lowlevel::current_task;
use trio::sync::{Borrower, CapacityLimiter};
use trio::testing::wait_all_tasks_blocked;
use trio::{CancelScope, ErrorKind};

/// Asserts that `c`'s borrowers are `expected`, in any order (Trio compares sets).
#[track_caller]
fn assert_borrowers(c: &CapacityLimiter, expected: &[Borrower]) {
    let got = c.statistics().borrowers;
    assert!(
        got.len() == expected.len() && expected.iter().all(|b| got.contains(b)),
        "borrowers {got:?}, expected {expected:?} in any order"
    );
}

/// Polls two futures together in the current task until both finish.
async fn join2<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    let (mut a, mut b) = (pin!(a), pin!(b));
    let (mut ra, mut rb) = (None, None);
    std::future::poll_fn(|cx| {
        if ra.is_none() {
            if let Poll::Ready(v) = a.as_mut().poll(cx) {
                ra = Some(v);
            }
        }
        if rb.is_none() {
            if let Poll::Ready(v) = b.as_mut().poll(cx) {
                rb = Some(v);
            }
        }
        if ra.is_some() && rb.is_some() {
            Poll::Ready((ra.take().unwrap(), rb.take().unwrap()))
        } else {
            Poll::Pending
        }
    })
    .await
}

#[trio::test]
async fn capacity_limiter() -> trio::Result<()> {
    // test_CapacityLimiter
    assert_eq!(CapacityLimiter::new(0).total_tokens(), 0);
    let c = CapacityLimiter::new(2);
    let _ = format!("{c:?}");
    assert_eq!(c.total_tokens(), 2);
    assert_eq!(c.borrowed_tokens(), 0);
    assert_eq!(c.available_tokens(), 2);
    assert_eq!(c.release().unwrap_err().kind(), ErrorKind::Usage);
    assert_eq!(c.borrowed_tokens(), 0);
    c.acquire_nowait()?.forget();
    assert_eq!(c.borrowed_tokens(), 1);
    assert_eq!(c.available_tokens(), 1);

    let stats = c.statistics();
    assert_eq!(stats.borrowed_tokens, 1);
    assert_eq!(stats.total_tokens, 2);
    assert_eq!(stats.borrowers, [Borrower::from(current_task())]);
    assert_eq!(stats.tasks_waiting, 0);

    // Can't re-acquire when we already have it.
    assert_eq!(c.acquire_nowait().unwrap_err().kind(), ErrorKind::Usage);
    assert_eq!(c.borrowed_tokens(), 1);
    assert_eq!(c.acquire().await.unwrap_err().kind(), ErrorKind::Usage);
    assert_eq!(c.borrowed_tokens(), 1);

    // We can acquire on behalf of someone else though.
    let someone = Borrower::new();
    assert_checkpoints(c.acquire_on_behalf_of(&someone))
        .await?
        .forget();

    // But then we've run out of capacity.
    assert_eq!(c.borrowed_tokens(), 2);
    let third_party = Borrower::new();
    let e = c.acquire_on_behalf_of_nowait(&third_party).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::WouldBlock);

    assert_borrowers(&c, &[current_task().into(), someone.clone()]);

    // Until we release one.
    c.release_on_behalf_of(&current_task().into())?;
    assert_eq!(c.statistics().borrowers, std::slice::from_ref(&someone));

    c.release_on_behalf_of(&someone)?;
    assert_eq!(c.borrowed_tokens(), 0);
    assert_checkpoints(async {
        let _token = c.acquire().await?;
        assert_eq!(c.borrowed_tokens(), 1);
        Ok::<_, trio::Error>(())
    })
    .await?;

    let (v1, v2, v3) = (Borrower::new(), Borrower::new(), Borrower::new());
    let (c, v3r) = (&c, &v3);
    trio::open_nursery(async |n| {
        c.acquire_on_behalf_of(&v1).await?.forget();
        c.acquire_on_behalf_of(&v2).await?.forget();
        n.start_soon(async move {
            c.acquire_on_behalf_of(v3r).await?.forget();
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        assert_eq!(c.borrowed_tokens(), 2);
        assert_eq!(c.statistics().tasks_waiting, 1);
        c.release_on_behalf_of(&v2)?;
        // Fairness:
        assert_eq!(c.borrowed_tokens(), 2);
        assert_eq!(
            c.acquire_nowait().unwrap_err().kind(),
            ErrorKind::WouldBlock
        );
        Ok(())
    })
    .await?;

    c.release_on_behalf_of(&v3)?;
    c.release_on_behalf_of(&v1)?;
    Ok(())
}

#[trio::test]
async fn capacity_limiter_inf() -> trio::Result<()> {
    // test_CapacityLimiter_inf: `usize::MAX` plays `math.inf`.
    let c = CapacityLimiter::new(usize::MAX);
    let _ = format!("{c:?}");
    assert_eq!(c.total_tokens(), usize::MAX);
    assert_eq!(c.borrowed_tokens(), 0);
    assert_eq!(c.available_tokens(), isize::MAX); // saturated
    assert_eq!(c.release().unwrap_err().kind(), ErrorKind::Usage);
    assert_eq!(c.borrowed_tokens(), 0);
    c.acquire_nowait()?.forget();
    assert_eq!(c.borrowed_tokens(), 1);
    assert_eq!(c.available_tokens(), isize::MAX - 1);
    Ok(())
}

#[trio::test]
async fn capacity_limiter_change_total_tokens() -> trio::Result<()> {
    // test_CapacityLimiter_change_total_tokens
    let c = CapacityLimiter::new(2);
    assert_eq!(c.total_tokens(), 2);
    let b: Vec<Borrower> = (0..5).map(|_| Borrower::new()).collect();
    let (c, b) = (&c, &b);
    trio::open_nursery(async |n| {
        for bi in b {
            n.start_soon(async move {
                c.acquire_on_behalf_of(bi).await?.forget();
                Ok(())
            })?;
            wait_all_tasks_blocked().await?;
        }
        assert_borrowers(c, &b[0..2]);
        assert_eq!(c.statistics().tasks_waiting, 3);
        c.set_total_tokens(c.total_tokens() + 2);
        assert_borrowers(c, &b[0..4]);
        assert_eq!(c.statistics().tasks_waiting, 1);
        c.set_total_tokens(c.total_tokens() - 3);
        assert_eq!(c.borrowed_tokens(), 4);
        assert_eq!(c.total_tokens(), 1);
        c.release_on_behalf_of(&b[0])?;
        c.release_on_behalf_of(&b[1])?;
        c.release_on_behalf_of(&b[2])?;
        assert_borrowers(c, &b[3..4]);
        assert_eq!(c.statistics().tasks_waiting, 1);
        c.release_on_behalf_of(&b[3])?;
        assert_borrowers(c, &b[4..5]);
        assert_eq!(c.statistics().tasks_waiting, 0);
        Ok(())
    })
    .await?;
    Ok(())
}

#[trio::test]
async fn capacity_limiter_memleak_548() -> trio::Result<()> {
    // test_CapacityLimiter_memleak_548: a cancelled waiter leaves no bookkeeping
    // behind. Trio checks `_pending_borrowers`; we check its effects: nobody
    // waits, and the cancelled task can borrow again.
    let limiter = CapacityLimiter::new(1);
    limiter.acquire().await?.forget();
    let l = &limiter;
    let waiter = trio::open_nursery(async |n| {
        let h = n.spawn(async move { l.acquire().await.map(|p| p.forget()) })?;
        wait_all_tasks_blocked().await?;
        n.cancel_scope().cancel();
        Ok(Borrower::from(h.task()))
    })
    .await?
    .expect("the body returned");
    assert_eq!(limiter.statistics().tasks_waiting, 0);
    limiter.release()?;
    limiter.acquire_on_behalf_of_nowait(&waiter)?.forget(); // not "already waiting"
    Ok(())
}

#[trio::test]
async fn capacity_limiter_zero_limit_tokens() -> trio::Result<()> {
    // test_CapacityLimiter_zero_limit_tokens
    let c = CapacityLimiter::new(5);
    assert_eq!(c.total_tokens(), 5);
    let b: Vec<Borrower> = (0..7).map(|_| Borrower::new()).collect();
    let (c, b) = (&c, &b);
    macro_rules! acquire_in_child {
        ($n:expr, $i:expr) => {{
            let i: usize = $i;
            $n.start_soon(async move {
                c.acquire_on_behalf_of(&b[i]).await?.forget();
                Ok(())
            })
        }};
    }
    trio::open_nursery(async |n| {
        c.set_total_tokens(0);
        for i in 0..5 {
            acquire_in_child!(n, i)?;
            wait_all_tasks_blocked().await?;
        }
        assert_borrowers(c, &[]);
        assert_eq!(c.statistics().tasks_waiting, 5);

        c.set_total_tokens(5);
        assert_borrowers(c, &b[0..5]);

        acquire_in_child!(n, 5)?;
        wait_all_tasks_blocked().await?;
        assert_eq!(c.statistics().tasks_waiting, 1);
        for bi in &b[0..5] {
            c.release_on_behalf_of(bi)?;
        }
        assert_eq!(c.statistics().tasks_waiting, 0);
        c.release_on_behalf_of(&b[5])?;

        // A zero-token limiter lets no task through.
        c.set_total_tokens(0);
        assert_eq!(
            c.acquire_nowait().unwrap_err().kind(),
            ErrorKind::WouldBlock
        );
        acquire_in_child!(n, 6)?;
        wait_all_tasks_blocked().await?;
        assert_eq!(c.statistics().tasks_waiting, 1);
        assert_eq!(c.statistics().borrowers, []);
        c.set_total_tokens(1);
        assert_eq!(c.statistics().tasks_waiting, 0);
        assert_eq!(c.statistics().borrowers, [b[6].clone()]);
        c.release_on_behalf_of(&b[6])?;

        c.acquire_on_behalf_of(&b[0]).await?.forget(); // total_tokens is 1
        acquire_in_child!(n, 1)?;
        wait_all_tasks_blocked().await?;
        c.set_total_tokens(0);
        assert_eq!(c.statistics().borrowers, [b[0].clone()]);
        c.release_on_behalf_of(&b[0])?;
        wait_all_tasks_blocked().await?;
        assert_eq!(c.statistics().borrowers, []);
        assert_eq!(c.statistics().tasks_waiting, 1);

        c.set_total_tokens(1);
        wait_all_tasks_blocked().await?;
        assert_eq!(c.statistics().borrowers, [b[1].clone()]);
        assert_eq!(c.statistics().tasks_waiting, 0);
        c.release_on_behalf_of(&b[1])?;
        c.set_total_tokens(0);
        n.cancel_scope().cancel();
        Ok(())
    })
    .await?;
    assert_eq!(c.total_tokens(), 0);
    assert_eq!(c.statistics().borrowers, []);
    assert_eq!(c.statistics().tasks_waiting, 0);
    Ok(())
}

#[trio::test]
async fn nowait_and_release_are_not_checkpoints() -> trio::Result<()> {
    let c = CapacityLimiter::new(1);
    let p = assert_no_checkpoints(async { c.acquire_nowait() }).await?;
    assert_no_checkpoints(async { drop(p) }).await;
    c.acquire_nowait()?.forget();
    assert_no_checkpoints(async { c.release() }).await?;
    Ok(())
}

#[trio::test]
async fn borrower_errors() -> trio::Result<()> {
    let c = CapacityLimiter::new(1);
    let b = Borrower::new();
    // Releasing a token one does not hold.
    let e = c.release_on_behalf_of(&b).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Usage);
    assert!(e.to_string().contains("isn't holding"), "{e}");
    // A second token for the same borrower.
    let _t = c.acquire_on_behalf_of(&b).await?;
    let e = c.acquire_on_behalf_of(&b).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Usage);
    assert!(e.to_string().contains("already holding"), "{e}");
    // A borrower that is already waiting may not wait again.
    let other = Borrower::new();
    let (c, o) = (&c, &other);
    trio::open_nursery(async |n| {
        n.start_soon(async move { c.acquire_on_behalf_of(o).await.map(drop) })?;
        wait_all_tasks_blocked().await?;
        let e = c.acquire_on_behalf_of_nowait(o).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Usage);
        assert!(e.to_string().contains("already waiting"), "{e}");
        n.cancel_scope().cancel();
        Ok(())
    })
    .await?;
    Ok(())
}

#[trio::test]
async fn cancelled_acquire_did_nothing() -> trio::Result<()> {
    let c = CapacityLimiter::new(1);
    assert!(
        run_cancelled(async { c.acquire().await.map(drop) })
            .await?
            .is_none()
    );
    assert_eq!(c.borrowed_tokens(), 0);

    let scope = CancelScope::new();
    let (c, s) = (&c, &scope);
    trio::open_nursery(async |n| {
        let _mine = c.acquire().await?;
        n.start_soon(async move {
            assert!(
                s.run(async { c.acquire().await.map(drop) })
                    .await?
                    .is_none()
            );
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        scope.cancel();
        wait_all_tasks_blocked().await?;
        assert_eq!(c.statistics().tasks_waiting, 0);
        Ok(())
    })
    .await?;
    assert_eq!(c.borrowed_tokens(), 0);
    Ok(())
}

#[trio::test]
async fn several_waits_in_one_task_get_their_own_borrowers() -> trio::Result<()> {
    // Trio maps a waiting task to its borrower; a Rust task can wait for two
    // tokens at once (on behalf of two borrowers), and each must get its own.
    let c = CapacityLimiter::new(1);
    let (a, b) = (Borrower::new(), Borrower::new());
    let c = &c;
    let holder = Borrower::new();
    c.acquire_on_behalf_of_nowait(&holder)?.forget();
    let got = trio::open_nursery(async |n| {
        let h = n.spawn(async {
            let (pa, pb) = join2(
                async {
                    let p = c.acquire_on_behalf_of(&a).await?;
                    let who = p.borrower().clone();
                    drop(p); // lets `b` in
                    Ok::<_, trio::Error>(who)
                },
                c.acquire_on_behalf_of(&b),
            )
            .await;
            let pb = pb?;
            Ok((pa?, pb.borrower().clone()))
        })?;
        wait_all_tasks_blocked().await?;
        assert_eq!(c.statistics().tasks_waiting, 2);
        c.release_on_behalf_of(&holder)?; // to the first waiter: `a`
        let mut h = h;
        h.join().await
    })
    .await?
    .expect("the body returned");
    assert_eq!(got, (a, b));
    assert_eq!(c.borrowed_tokens(), 0);
    Ok(())
}

#[trio::test]
async fn dropped_waiter_returns_its_token() -> trio::Result<()> {
    let c = CapacityLimiter::new(1);
    let c = &c;
    let (first_b, second_b) = (Borrower::new(), Borrower::new());
    c.acquire_nowait()?.forget();
    trio::open_nursery(async |n| {
        let mut first = Box::pin(c.acquire_on_behalf_of(&first_b));
        std::future::poll_fn(|cx| {
            assert!(first.as_mut().poll(cx).is_pending());
            Poll::Ready(())
        })
        .await;
        let sb = &second_b;
        let mut second = n.spawn(async move {
            let p = c.acquire_on_behalf_of(sb).await?;
            Ok(p.borrower().clone())
        })?;
        wait_all_tasks_blocked().await?;
        c.release()?; // lent to `first_b`...
        assert_eq!(c.statistics().borrowers, std::slice::from_ref(&first_b));
        drop(first); // ...whose future goes away unpolled: the token moves on
        assert_eq!(second.join().await?, second_b);
        Ok(())
    })
    .await?;
    assert_eq!(c.borrowed_tokens(), 0);
    Ok(())
}

#[trio::test]
async fn permit_after_explicit_release_is_inert() -> trio::Result<()> {
    let c = CapacityLimiter::new(1);
    let b = Borrower::new();
    let old = c.acquire_on_behalf_of(&b).await?;
    c.release_on_behalf_of(&b)?; // by hand
    let new = c.acquire_on_behalf_of(&b).await?; // the same borrower, a new loan
    drop(old); // must not return the new loan
    assert_eq!(c.borrowed_tokens(), 1);
    drop(new);
    assert_eq!(c.borrowed_tokens(), 0);
    Ok(())
}

#[trio::test]
async fn raising_total_tokens_wakes_in_fifo_order() -> trio::Result<()> {
    let c = CapacityLimiter::new(0);
    let order = RefCell::new(Vec::new());
    let (c, order) = (&c, &order);
    trio::open_nursery(async |n| {
        for i in 0..4 {
            n.start_soon(async move {
                let _p = c.acquire().await?;
                order.borrow_mut().push(i);
                trio::sleep_forever().await
            })?;
            wait_all_tasks_blocked().await?;
        }
        c.set_total_tokens(1);
        wait_all_tasks_blocked().await?;
        c.set_total_tokens(3);
        wait_all_tasks_blocked().await?;
        assert_eq!(order.borrow()[0], 0);
        let mut rest = order.borrow()[1..].to_vec();
        rest.sort();
        assert_eq!(rest, [1, 2]);
        assert_eq!(c.statistics().tasks_waiting, 1);
        n.cancel_scope().cancel();
        Ok(())
    })
    .await?;
    assert_eq!(c.borrowed_tokens(), 0);
    Ok(())
}

#[test]
fn on_behalf_of_works_outside_trio() -> trio::Result<()> {
    // The `_on_behalf_of` non-blocking calls need no task (Trio lends tokens to
    // threads this way).
    let c = CapacityLimiter::new(1);
    let b = Borrower::new();
    let t = c.acquire_on_behalf_of_nowait(&b)?;
    assert_eq!(t.borrower(), &b);
    drop(t);
    c.acquire_on_behalf_of_nowait(&b)?.forget();
    c.release_on_behalf_of(&b)?;
    Ok(())
}

// Trio reports the truth when the total was lowered below what is borrowed.
#[trio::test]
async fn available_tokens_goes_negative_when_the_total_drops_below_the_loans() -> trio::Result<()> {
    let c = CapacityLimiter::new(2);
    let (a, b) = (Borrower::new(), Borrower::new());
    c.acquire_on_behalf_of_nowait(&a)?.forget();
    c.acquire_on_behalf_of_nowait(&b)?.forget();
    c.set_total_tokens(1);
    assert_eq!(c.available_tokens(), -1);
    c.release_on_behalf_of(&a)?;
    assert_eq!(c.available_tokens(), 0);
    c.release_on_behalf_of(&b)?;
    assert_eq!(c.available_tokens(), 1);
    Ok(())
}
