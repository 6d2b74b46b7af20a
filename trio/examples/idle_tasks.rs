//! Memory of idle tasks: starts N children (default 1,000,000) that all sleep in
//! one nursery, and reports the resident memory they take. Run with:
//!
//! ```text
//! cargo run --release --example idle_tasks [N]
//! ```

use std::time::Duration;

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("Linux /proc");
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

#[trio::main]
async fn main() -> trio::Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse().expect("N must be a number"))
        .unwrap_or(1_000_000);
    let before = rss_bytes();
    let t0 = std::time::Instant::now();
    trio::open_nursery(async |nursery| {
        for _ in 0..n {
            nursery.start_soon(async { trio::sleep(Duration::from_secs(3600)).await })?;
        }
        trio::testing::wait_all_tasks_blocked().await?;
        let after = rss_bytes();
        let per_task = (after.saturating_sub(before)) as f64 / n as f64;
        println!(
            "{n} sleeping children: {:.1} MiB resident, {per_task:.0} bytes per task (started and blocked in {:.2?})",
            (after - before) as f64 / (1 << 20) as f64,
            t0.elapsed()
        );
        assert!(after - before < (1 << 30), "over 1 GiB");
        nursery.cancel_scope().cancel();
        Ok(())
    })
    .await?;
    Ok(())
}
