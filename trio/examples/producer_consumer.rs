//! A producer and a consumer, done right. Run it with:
//!
//! ```text
//! cargo run --example producer_consumer
//! ```
//!
//! This is the program this project started from: one task makes items, another
//! uses them, and a channel connects the two. Each step prints a line. What
//! "done right" means:
//!
//! * **Both tasks live in a nursery.** `open_nursery` returns only when both have
//!   finished, so nothing is left running in the background, and if either task
//!   fails the other one is cancelled and the error comes out of the nursery.
//! * **The consumer is started with `nursery.start`.** It calls
//!   `status.started(())` once it is ready, and only then does `start` return and
//!   the producer begin. Nothing is sent before anyone is listening.
//! * **The channel has a small buffer (2 items).** A producer that runs ahead of
//!   the consumer waits in `send` while the buffer is full (backpressure), instead
//!   of piling up items in memory.
//! * **The end is clean.** When the producer has sent everything, it drops its
//!   sending side. The consumer takes what is left in the buffer, then sees the end
//!   of the channel (`receive_or_end` returns `None`) and finishes. Then the
//!   nursery returns. No "stop" flag, no sentinel value, no sleep-and-hope.

use std::cell::Cell;
use std::time::Duration;

/// How long the consumer works on each item, and how long the producer takes to
/// make one: the producer is faster, so it has to wait for the consumer.
const WORK: Duration = Duration::from_millis(30);
const MAKE: Duration = Duration::from_millis(10);

#[trio::main]
async fn main() -> trio::Result<()> {
    let t0 = trio::current_time();
    let say = move |who: &str, what: &str| {
        let ms = (trio::current_time() - t0).as_millis();
        println!("{ms:>4} ms  {who:<9} {what}");
    };

    // The channel: `tx` sends, `rx` receives; at most 2 items wait in between.
    let (tx, rx) = trio::open_memory_channel::<String>(2);
    say("main", "opened a memory channel with a buffer of 2 items");

    let consumed = Cell::new(0);
    let (rx, consumed_ref) = (&rx, &consumed); // the tasks borrow these

    trio::open_nursery(async move |n| {
        // 1. The consumer. `start` waits until it calls `status.started(())`.
        n.start_named("consumer", async move |status| {
            say("consumer", "ready to receive");
            status.started(());
            // `receive_or_end` gives Some(item), or None once every sender is gone
            // and the buffer is empty: the end of the channel.
            while let Some(item) = rx.receive_or_end().await? {
                say("consumer", &format!("got {item:?}; working on it"));
                trio::sleep(WORK).await?;
                consumed_ref.set(consumed_ref.get() + 1);
            }
            say(
                "consumer",
                "the channel has ended: no more items can come; done",
            );
            Ok(())
        })
        .await?;
        say("main", "the consumer is ready: starting the producer");

        // 2. The producer. It owns `tx` (moved in), so the channel's sending side
        //    closes when the producer lets go of it.
        n.start_soon_named("producer", async move {
            for i in 1..=5 {
                trio::sleep(MAKE).await?;
                let item = format!("item {i}");
                say("producer", &format!("sending {item:?}"));
                if tx.statistics().current_buffer_used == 2 {
                    say("producer", "the buffer is full: waiting for the consumer");
                }
                tx.send(item).await?; // waits while the buffer is full
                let used = tx.statistics().current_buffer_used;
                say(
                    "producer",
                    &format!("sent (items waiting in the buffer: {used})"),
                );
            }
            say("producer", "all sent; closing the sending side");
            drop(tx); // (leaving the task would drop it too)
            Ok(())
        })?;

        say("main", "both tasks are running; the nursery waits for them");
        Ok(())
    })
    .await?;

    say(
        "main",
        &format!(
            "the nursery returned: both tasks have finished ({} items consumed)",
            consumed.get()
        ),
    );
    assert_eq!(consumed.get(), 5);
    Ok(())
}
