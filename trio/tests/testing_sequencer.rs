//! `testing::Sequencer`, ported from Trio's `trio/_tests/test_testing.py`
//! (`test_Sequencer`, `test_Sequencer_cancel`).

use std::cell::RefCell;

use trio::ErrorKind;
use trio::testing::{Sequencer, wait_all_tasks_blocked};

#[trio::test]
async fn tasks_take_turns_in_order() -> trio::Result<()> {
    // test_Sequencer: three tasks interleave their steps through positions 0..6.
    let seq = Sequencer::new();
    let record = RefCell::new(Vec::new());
    let (s, r) = (&seq, &record);
    trio::open_nursery(async |n| {
        for (name, positions) in [("f1", [0, 4]), ("f2", [2, 5]), ("f3", [1, 3])] {
            n.start_soon(async move {
                for p in positions {
                    let _turn = s.enter(p).await?;
                    r.borrow_mut().push(format!("{name}@{p}"));
                }
                Ok(())
            })?;
        }
        Ok(())
    })
    .await?;
    assert_eq!(
        record.into_inner(),
        ["f1@0", "f3@1", "f2@2", "f3@3", "f1@4", "f2@5"]
    );
    Ok(())
}

#[trio::test]
async fn a_position_can_be_used_once() -> trio::Result<()> {
    let seq = Sequencer::new();
    drop(seq.enter(0).await?);
    assert_eq!(seq.enter(0).await.unwrap_err().kind(), ErrorKind::Usage);
    Ok(())
}

#[trio::test]
async fn a_cancelled_waiter_breaks_the_sequence() -> trio::Result<()> {
    // test_Sequencer_cancel: cancelling a waiter makes the others fail instead of
    // hanging.
    let seq = Sequencer::new();
    let got = RefCell::new(Vec::new());
    let (s, g) = (&seq, &got);
    trio::open_nursery(async |n| {
        let waiter = trio::CancelScope::new();
        let w = waiter.clone();
        n.start_soon(async move {
            let r = w.run(async { s.enter(2).await.map(drop) }).await?;
            assert_eq!(r, None, "cancelled while waiting");
            Ok(())
        })?;
        n.start_soon(async move {
            let e = s.enter(1).await.unwrap_err();
            g.borrow_mut().push(e.kind());
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        waiter.cancel();
        Ok(())
    })
    .await?;
    assert_eq!(got.into_inner(), [ErrorKind::BrokenResource]);
    assert_eq!(
        seq.enter(5).await.unwrap_err().kind(),
        ErrorKind::BrokenResource
    );
    Ok(())
}
