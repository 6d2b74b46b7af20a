//! Collected figures and the tables printed at the end.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::params::Workload;

/// Name of the memory figure in the output lines and `--only`.
pub const MEMORY: &str = "idle_task_bytes";

/// The runtimes in table order (python-trio comes from `--python-results`).
pub const COLUMNS: [&str; 11] = [
    "trio",
    "trio-ts",
    "trio-2loops",
    "tokio-ct",
    "tokio-mt2",
    "smol-local",
    "smol-exec2",
    "monoio",
    "uring-floor",
    "uring-floor-ms",
    "python-trio",
];

/// The peers trio's ratio is computed against.
const PEERS: [&str; 8] = [
    "tokio-ct",
    "tokio-mt2",
    "smol-local",
    "smol-exec2",
    "monoio",
    "uring-floor",
    "uring-floor-ms",
    "python-trio",
];

/// Every figure of this invocation: (runtime, workload) -> one value per run.
#[derive(Default, Debug)]
pub struct Results {
    values: BTreeMap<(String, String), Vec<f64>>,
}

impl Results {
    pub fn add(&mut self, runtime: &str, workload: &str, value: f64) {
        self.values
            .entry((runtime.to_string(), workload.to_string()))
            .or_default()
            .push(value);
    }

    fn get(&self, runtime: &str, workload: &str) -> Option<&[f64]> {
        self.values
            .get(&(runtime.to_string(), workload.to_string()))
            .map(Vec::as_slice)
    }

    fn median(&self, runtime: &str, workload: &str) -> Option<f64> {
        self.get(runtime, workload).map(median)
    }

    /// Reads lines `<runtime> <workload> <ops> <value>` (the Python script's
    /// output); other lines are ignored. Returns how many were read.
    pub fn add_lines(&mut self, text: &str) -> usize {
        let mut n = 0;
        for line in text.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            if let [rt, w, ops, v] = f[..] {
                if let (Ok(_), Ok(v)) = (ops.parse::<u64>(), v.parse::<f64>()) {
                    self.add(rt, w, v);
                    n += 1;
                }
            }
        }
        n
    }

    /// The tables, in Markdown.
    pub fn tables(&self, workloads: &[&str], idle_tasks: usize) -> String {
        let mut out = String::new();
        let runs = self.values.values().map(Vec::len).max().unwrap_or(0);
        let columns: Vec<&str> = COLUMNS
            .into_iter()
            .filter(|c| workloads.iter().any(|w| self.get(c, w).is_some()))
            .collect();
        let perf: Vec<&str> = workloads.iter().copied().filter(|w| *w != MEMORY).collect();

        let _ = writeln!(
            out,
            "ns/op: median of the runs of this invocation (up to {runs}) [min–max]\n"
        );
        let _ = writeln!(out, "| workload | {} |", columns.join(" | "));
        let _ = writeln!(out, "|---|{}", "---:|".repeat(columns.len()));
        for w in &perf {
            let cells: Vec<String> = columns
                .iter()
                .map(|c| match self.get(c, w) {
                    Some(v) => cell(v),
                    None => "–".to_string(),
                })
                .collect();
            let _ = writeln!(out, "| {w} | {} |", cells.join(" | "));
        }

        let peers: Vec<&str> = PEERS.into_iter().filter(|p| columns.contains(p)).collect();
        let mut rows: Vec<(String, &str, &str)> =
            perf.iter().map(|w| (w.to_string(), "trio", *w)).collect();
        for w in &perf {
            for variant in ["trio-ts", "trio-2loops"] {
                if self.get(variant, w).is_some() {
                    rows.push((format!("{w} ({variant})"), variant, w));
                }
            }
        }
        if !peers.is_empty() && columns.contains(&"trio") {
            let _ = writeln!(
                out,
                "\ntrio's ratio = peer median / trio median (> 1: trio is faster)\n"
            );
            let _ = writeln!(out, "| workload | vs {} |", peers.join(" | vs "));
            let _ = writeln!(out, "|---|{}", "---:|".repeat(peers.len()));
            for (label, me, w) in rows {
                let Some(mine) = self.median(me, w) else {
                    continue;
                };
                let cells: Vec<String> = peers
                    .iter()
                    .map(|p| match self.median(p, w) {
                        Some(theirs) => format!("{:.2}", theirs / mine),
                        None => "–".to_string(),
                    })
                    .collect();
                let _ = writeln!(out, "| {label} | {} |", cells.join(" | "));
            }
        }

        if workloads.contains(&MEMORY) {
            let mem: Vec<&str> = COLUMNS
                .into_iter()
                .filter(|c| self.get(c, MEMORY).is_some())
                .collect();
            if !mem.is_empty() {
                let _ = writeln!(
                    out,
                    "\nbytes per idle task (RSS growth with {idle_tasks} sleeping tasks, in a child process)\n"
                );
                let _ = writeln!(out, "| runtime | bytes/task | tokio-ct / runtime |");
                let _ = writeln!(out, "|---|---:|---:|");
                let tokio = self.median("tokio-ct", MEMORY);
                for rt in mem {
                    let v = self.get(rt, MEMORY).expect("filtered");
                    let ratio = match tokio {
                        Some(t) => format!("{:.2}", t / median(v)),
                        None => "–".to_string(),
                    };
                    let _ = writeln!(out, "| {rt} | {} | {ratio} |", cell(v));
                }
            }
        }
        out
    }
}

/// The names of every workload and the memory figure, in table order.
pub fn all_names() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = Workload::ALL.iter().map(|w| w.name()).collect();
    v.push(MEMORY);
    v
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

fn num(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.1}")
    }
}

/// `median [min–max]`, or just the value for a single run.
fn cell(v: &[f64]) -> String {
    let min = v.iter().copied().fold(f64::INFINITY, f64::min);
    let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if v.len() == 1 {
        num(v[0])
    } else {
        format!("{} [{}–{}]", num(median(v)), num(min), num(max))
    }
}
