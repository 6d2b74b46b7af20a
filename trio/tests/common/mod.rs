//! Helpers shared by the integration tests (`mod common;` in each file that uses them).

#![allow(dead_code)]

use std::cell::RefCell;
use std::future::Future;

/// Two tasks that each record their name then run `step` three times. If `step` is
/// a schedule point, every scheduler batch runs each task exactly once, so the
/// record is made of pairs that each hold both names.
pub async fn assert_is_schedule_point<F, Fut>(step: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = trio::Result<()>>,
{
    let record = RefCell::new(Vec::new());
    let (r, step) = (&record, &step);
    trio::open_nursery(async |n| {
        for name in ["a", "b"] {
            n.start_soon(async move {
                for _ in 0..3 {
                    r.borrow_mut().push(name);
                    step().await?;
                }
                Ok(())
            })?;
        }
        Ok(())
    })
    .await
    .unwrap();
    let record = record.into_inner();
    assert_eq!(record.len(), 6);
    for pair in record.chunks(2) {
        assert!(
            pair.contains(&"a") && pair.contains(&"b"),
            "not interleaved: {record:?}"
        );
    }
}
