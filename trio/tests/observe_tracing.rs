//! Feature `tracing`: one span per task, named and shaped as tokio's
//! (`runtime.spawn`, target `tokio::task`, fields `kind`, `task.name`, `task.id`,
//! `loc.*`), entered around every step.
#![cfg(feature = "tracing")]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

#[derive(Default)]
struct Seen {
    /// span id → (name, target, fields)
    spans: HashMap<u64, (String, String, HashMap<String, String>)>,
    enters: HashMap<u64, u32>,
}

#[derive(Clone, Default)]
struct Recorder {
    seen: Arc<Mutex<Seen>>,
    next: Arc<AtomicU64>,
}

struct Fields<'a>(&'a mut HashMap<String, String>);
impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().to_string(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let mut fields = HashMap::new();
        span.record(&mut Fields(&mut fields));
        let m = span.metadata();
        self.seen
            .lock()
            .unwrap()
            .spans
            .insert(id, (m.name().to_string(), m.target().to_string(), fields));
        Id::from_u64(id)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, _: &Event<'_>) {}
    fn enter(&self, span: &Id) {
        *self
            .seen
            .lock()
            .unwrap()
            .enters
            .entry(span.into_u64())
            .or_default() += 1;
    }
    fn exit(&self, _: &Id) {}
}

#[test]
fn a_span_per_task_entered_around_each_step() {
    let rec = Recorder::default();
    let seen = rec.seen.clone();
    tracing::subscriber::with_default(rec, || {
        trio::run(async {
            trio::open_nursery(async |n| {
                n.start_soon_named("worker", async {
                    for _ in 0..3 {
                        trio::lowlevel::checkpoint().await?; // 4 steps in all
                    }
                    Ok(())
                })
            })
            .await
        })
        .unwrap();
    });
    let seen = seen.lock().unwrap();
    let (id, (name, target, fields)) = seen
        .spans
        .iter()
        .find(|(_, (_, _, f))| f.get("task.name").map(String::as_str) == Some("worker"))
        .expect("a span for the worker");
    assert_eq!(name, "runtime.spawn");
    assert_eq!(target, "tokio::task");
    assert_eq!(fields["kind"], "task");
    assert_eq!(fields["loc.file"], file!());
    assert!(fields.contains_key("task.id") && fields.contains_key("loc.line"));
    assert_eq!(seen.enters[id], 4);
    assert!(
        seen.spans
            .values()
            .any(|(_, _, f)| f.get("task.name").map(String::as_str) == Some("<main>"))
    );
}
