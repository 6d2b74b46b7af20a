//! Memory of idle tasks: the budget is 1,000,000 sleeping children in 1 GiB, i.e.
//! under 1 KiB per child. This test (alone in its process, so other tests do not
//! disturb the measurement) checks 100,000 children in a debug build; CI also runs
//! `cargo run --release --example idle_tasks`, which checks the full million.

use std::time::Duration;

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("Linux /proc");
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

#[trio::test(autojump)]
async fn sleeping_children_take_under_one_kib_each() -> trio::Result<()> {
    const N: usize = 100_000;
    let before = rss_bytes();
    trio::open_nursery(async |n| {
        for _ in 0..N {
            n.start_soon(async { trio::sleep(Duration::from_secs(3600)).await })?;
        }
        trio::testing::wait_all_tasks_blocked().await?;
        let per_task = rss_bytes().saturating_sub(before) / N as u64;
        assert!(per_task < 1024, "{per_task} bytes per sleeping child");
        assert_eq!(n.info().child_tasks().len(), N);
        n.cancel_scope().cancel();
        Ok(())
    })
    .await?;
    Ok(())
}
