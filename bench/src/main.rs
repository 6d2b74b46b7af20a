//! The benchmark suite: the workloads of `params.rs` on trio,
//! tokio (current_thread, multi_thread x2) and smol (LocalExecutor, Executor x2),
//! in one invocation, alternating runtimes per workload; `trio-2loops` runs
//! `tcp_echo` on two trio loops (`trio::run_loops`), the peer of the x2 flavours.
//! For `tcp_echo` on io_uring there are two more references: monoio (with the
//! `monoio` feature) and `uring-floor` / `uring-floor-ms`, the workload on a bare
//! ring with no runtime at all (`uring_floor.rs`).
//!
//! ```text
//! cargo run --release -p trio-bench -- [--runs N] [--only w1,w2] [--runtimes r1,r2]
//!                                      [--quick] [--python-results FILE]
//! ```
//!
//! Prints one line per (runtime, workload), `<runtime> <workload> <ops> <ns_per_op>`
//! (ops = operations timed), then the tables: ns/op per runtime (median of the
//! runs, min–max) and trio's ratio against each peer (peer / trio: > 1 means trio
//! is faster). The memory figure is printed as `<runtime> idle_task_bytes <tasks>
//! <bytes per task>`.

#[cfg(target_os = "linux")]
mod bare_ring;
mod harness;
mod memory;
#[cfg(feature = "monoio")]
mod monoio_wl;
mod params;
mod report;
mod runtimes;
mod sim;
mod smol_wl;
mod tokio_wl;
mod trio_tcp;
mod trio_udp;
mod trio_wl;
#[cfg(target_os = "linux")]
mod uring_floor;

use std::io::Write;
use std::process::ExitCode;

use harness::Plan;
use params::{BUDGET, IDLE_TASKS, ReadFileCleanup, Workload};
use report::{MEMORY, Results};
use runtimes::Runtime;

const USAGE: &str = "\
usage: trio-bench [options]
  --runs N                repeat the whole pass N times (default 3); report median and min–max
  --only W1,W2,...        workloads to run (default: all; `idle_task_bytes` is the memory figure)
  --runtimes R1,R2,...    runtimes (default: trio,trio-ts,trio-2loops,tokio-ct,tokio-mt2,
                          smol-local,smol-exec2, monoio when built with --features monoio,
                          uring-floor on Linux; the last two run tcp_echo only)
  --quick                 smoke test: no warm-up, one timed iteration, 100k idle tasks
  --python-results FILE   include python-trio lines (`python-trio <workload> <ops> <ns>`) in the tables
  --trio-deterministic    diagnostic: run trio with FIFO batches (no coin-flip reversal)
  --trio-schedule-budget N  run trio with Builder::schedule_budget(N) (default 0: Trio's rule)
  --trio-loops-unpinned   diagnostic: run trio-2loops without Loops::pin_to_cpus
  --sim                   instead: simulated messages per second (trio::testing::sim)
";

struct Options {
    runs: usize,
    workloads: Vec<&'static str>,
    runtimes: Vec<Runtime>,
    quick: bool,
    python: Option<String>,
    sim: bool,
}

fn parse_list<T>(arg: &str, what: &str, f: impl Fn(&str) -> Option<T>) -> Result<Vec<T>, String> {
    arg.split(',')
        .filter(|s| !s.is_empty())
        .map(|s| f(s).ok_or_else(|| format!("unknown {what}: {s}")))
        .collect()
}

fn parse_args() -> Result<Options, String> {
    let mut o = Options {
        runs: 3,
        workloads: report::all_names(),
        runtimes: Runtime::ALL.to_vec(),
        quick: false,
        python: None,
        sim: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--runs" => {
                o.runs = value()?.parse().map_err(|e| format!("--runs: {e}"))?;
                if o.runs == 0 {
                    return Err("--runs must be at least 1".into());
                }
            }
            "--only" => {
                let names = report::all_names();
                o.workloads = parse_list(&value()?, "workload", |s| {
                    let s = if s == "memory" { MEMORY } else { s };
                    names.iter().copied().find(|n| *n == s)
                })?;
            }
            "--runtimes" => o.runtimes = parse_list(&value()?, "runtime", Runtime::from_name)?,
            "--quick" => o.quick = true,
            "--sim" => o.sim = true,
            "--trio-deterministic" => {
                harness::TRIO_DETERMINISTIC.store(true, std::sync::atomic::Ordering::Relaxed)
            }
            "--trio-loops-unpinned" => {
                harness::TRIO_LOOPS_UNPINNED.store(true, std::sync::atomic::Ordering::Relaxed)
            }
            "--trio-schedule-budget" => {
                let n: u32 = value()?
                    .parse()
                    .map_err(|_| "--trio-schedule-budget takes a number".to_string())?;
                harness::TRIO_SCHEDULE_BUDGET.store(n, std::sync::atomic::Ordering::Relaxed)
            }
            "--python-results" => o.python = Some(value()?),
            "--help" | "-h" => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown option {other}\n{USAGE}")),
        }
    }
    Ok(o)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--mem-child") {
        if args.iter().any(|a| a == "--trio-deterministic") {
            harness::TRIO_DETERMINISTIC.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        let (Some(rt), Some(n)) = (args.get(2), args.get(3).and_then(|n| n.parse().ok())) else {
            eprintln!("usage: trio-bench --mem-child <runtime> <tasks>");
            return ExitCode::from(2);
        };
        memory::child(rt, n);
    }
    let o = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if o.sim {
        println!("machine: {}", machine_description());
        print!("{}", sim::report(o.quick));
        return ExitCode::SUCCESS;
    }
    // `file_read`'s file, if a measurement writes it, is removed when `main`
    // returns (or a panic unwinds out of it).
    let _read_file = ReadFileCleanup;
    let plan = Plan {
        budget: if o.quick {
            std::time::Duration::ZERO
        } else {
            BUDGET
        },
        warmup: !o.quick,
        quick: o.quick,
    };
    let idle_tasks = if o.quick { IDLE_TASKS / 10 } else { IDLE_TASKS };
    // Ratios differ between machines (Intel and AMD disagree): every result
    // says where it was measured.
    let machine = machine_description();
    println!("# machine: {machine}");
    let mut results = Results::default();
    let stdout = std::io::stdout();
    for pass in 0..o.runs {
        eprintln!("# pass {}/{}", pass + 1, o.runs);
        for (wi, name) in o.workloads.iter().enumerate() {
            // Alternate the runtimes, starting each pass (and workload) elsewhere so
            // that no runtime always runs first.
            let mut order = o.runtimes.clone();
            let k = (pass + wi) % order.len().max(1);
            order.rotate_left(k);
            if *name == MEMORY {
                for rt in order {
                    if !matches!(rt, Runtime::Trio | Runtime::TokioCt) {
                        continue;
                    }
                    if let Some(b) = memory::measure(rt.name(), idle_tasks) {
                        let _ =
                            writeln!(stdout.lock(), "{} {MEMORY} {idle_tasks} {b:.1}", rt.name());
                        results.add(rt.name(), MEMORY, b);
                    }
                }
                continue;
            }
            let w = Workload::from_name(name).expect("validated");
            for rt in order {
                if let Some(s) = rt.run(w, &plan) {
                    let ns = s.ns_per_op();
                    let _ = writeln!(stdout.lock(), "{} {name} {} {ns:.1}", rt.name(), s.ops);
                    results.add(rt.name(), name, ns);
                }
            }
        }
    }
    if let Some(path) = &o.python {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let n = results.add_lines(&text);
                eprintln!("# {n} python-trio lines read from {path}");
            }
            Err(e) => eprintln!("# cannot read {path}: {e}"),
        }
    }
    println!();
    println!("Measured on: {machine}");
    println!();
    print!("{}", results.tables(&o.workloads, idle_tasks));
    ExitCode::SUCCESS
}

/// The CPU model (as `/proc/cpuinfo` names it), the number of CPUs this process
/// may use, and the kernel: what a figure needs beside it to mean something.
fn machine_description() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        cpuinfo
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
    };
    let model = field("model name").unwrap_or_else(|| "unknown CPU".to_string());
    let family = field("cpu family");
    // "model\t\t: 207", not "model name".
    let model_no = field("model\t");
    let mhz = field("cpu MHz");
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| std::env::consts::OS.to_string());
    let mut s = model;
    if let (Some(f), Some(m)) = (family, model_no) {
        s.push_str(&format!(" (family {f}, model {m}"));
        if let Some(mhz) = mhz {
            s.push_str(&format!(", {mhz} MHz"));
        }
        s.push(')');
    }
    s.push_str(&format!(
        ", {cpus} CPUs, {} {kernel}",
        std::env::consts::ARCH
    ));
    s
}
