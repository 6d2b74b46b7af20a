//! A replicated register on three hosts, tested by deterministic simulation.
//!
//! Three replicas (`kv1`..`kv3`) each serve a line protocol on TCP port 7000. A
//! client writes through any replica: the replica stores the value and copies
//! it to the other two, and answers `OK` once a majority (two of three) has it.
//! A read through any replica asks the others and answers with the newest value
//! a majority reported. Majorities intersect, so a read never misses a write
//! that was acknowledged — unless the code is wrong.
//!
//! And it is: a replica that gets no answer from a peer within its timeout
//! counts the peer as having stored the value ("it is probably just slow").
//! Nothing shows on a healthy network. It takes a partition that cuts the
//! replica taking a write off from both others, and a read through another
//! replica before the partition heals, for a client to read a value older than
//! one it was told was written.
//!
//! The test is ordinary trio code — `serve_tcp`, `open_tcp_stream`,
//! `fail_after` — run under `trio::testing::sim` with a nemesis that cuts one
//! replica off at random times. The explorer tries seeds until the client sees
//! a stale read, prints the seed and the events that led to it, and the seed
//! replays the run event for event. With the bug fixed, the same seeds pass.
//! (The explorer finds it at seed 367, its 368th run — about 3 s in a release
//! build on a 2.3 GHz Xeon — under the default scheduling policy; a seed's
//! run changes only if this program or trio's scheduler does.)
//!
//! ```text
//! cargo run --release --example sim_kv            # find the bug, replay it, check the fix
//! cargo run --release --example sim_kv -- 1234    # replay one seed, with its trace
//! ```

use std::cell::Cell;
use std::time::Duration;

use trio::abc::{ReceiveStream, SendStream};
use trio::net::SocketStream;
use trio::testing::sim::{Config, Explore, Latency, Link, Sim};
use trio::{Error, ErrorKind, Result};

const REPLICAS: [&str; 3] = ["kv1", "kv2", "kv3"];
const PORT: u16 = 7000;
/// How long a replica waits for a peer.
const PEER_TIMEOUT: Duration = Duration::from_millis(50);
/// Writes the client makes in one run.
const WRITES: u64 = 20;
/// The longest the nemesis waits between two partitions (milliseconds).
const NEMESIS_PAUSE_MS: u64 = 3000;

/// Reads one line (without its newline) from `s`.
async fn read_line(s: &SocketStream) -> Result<String> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        if s.receive_some(&mut byte).await? == 0 {
            return Err(Error::new(
                ErrorKind::BrokenResource,
                "connection closed mid-line",
            ));
        }
        if byte[0] == b'\n' {
            return String::from_utf8(line)
                .map_err(|_| Error::new(ErrorKind::InvalidInput, "not UTF-8"));
        }
        line.push(byte[0]);
    }
}

/// Sends `request` to `host` and returns its one-line answer.
async fn ask(host: &str, request: &str) -> Result<String> {
    let s = trio::net::open_tcp_stream(host, PORT).await?;
    s.send_all(format!("{request}\n").as_bytes()).await?;
    read_line(&s).await
}

/// Asks every other replica, each within `PEER_TIMEOUT`; returns their answers
/// (`None`: no answer in time).
async fn ask_peers(me: &str, request: &str) -> Result<Vec<Option<String>>> {
    let answers = std::cell::RefCell::new(Vec::new());
    trio::open_nursery(async |n| {
        for peer in REPLICAS.into_iter().filter(|p| *p != me) {
            let answers = &answers;
            n.start_soon(async move {
                let a = trio::move_on_after(PEER_TIMEOUT, ask(peer, request)).await;
                answers.borrow_mut().push(a.ok().flatten());
                Ok(())
            })?;
        }
        Ok(())
    })
    .await?;
    Ok(answers.into_inner())
}

/// One replica. `buggy`: a peer that does not answer counts as having stored.
async fn replica(me: &'static str, buggy: bool) -> Result<()> {
    let value = Cell::new(0u64);
    let value = &value;
    let handle = async |s: SocketStream| -> Result<()> {
        let line = read_line(&s).await?;
        let mut words = line.split(' ');
        let answer = match (words.next(), words.next().map(str::parse::<u64>)) {
            // From a peer: keep the newer value.
            (Some("STORE"), Some(Ok(v))) => {
                value.set(value.get().max(v));
                "ACK".to_string()
            }
            (Some("FETCH"), None) => format!("VAL {}", value.get()),
            // From a client: a write, acknowledged once a majority has it.
            (Some("PUT"), Some(Ok(v))) => {
                value.set(value.get().max(v));
                let answers = ask_peers(me, &format!("STORE {v}")).await?;
                let stored = 1 + answers
                    .iter()
                    .filter(|a| match a {
                        Some(a) => a == "ACK",
                        None => buggy, // THE BUG: silence taken for agreement
                    })
                    .count();
                if stored >= 2 { "OK" } else { "ERR no majority" }.to_string()
            }
            // A read: the newest value a majority reports.
            (Some("GET"), None) => {
                let answers = ask_peers(me, "FETCH").await?;
                let values: Vec<u64> = answers
                    .iter()
                    .flatten()
                    .filter_map(|a| a.strip_prefix("VAL ")?.parse().ok())
                    .chain([value.get()])
                    .collect();
                if values.len() >= 2 {
                    format!("VAL {}", values.iter().max().unwrap())
                } else {
                    "ERR no majority".to_string()
                }
            }
            _ => format!("ERR bad request {line:?}"),
        };
        s.send_all(format!("{answer}\n").as_bytes()).await
    };
    // A request that fails (a peer reset, a timeout) ends its connection only.
    trio::net::serve_tcp(handle, PORT)
        .on_connection_error(|_| {})
        .await
}

/// The client: writes 1, 2, 3, ... through random replicas, and after each
/// acknowledged write reads through a random replica. A read older than an
/// acknowledged write is the failure.
async fn client(sim: &Sim) -> Result<()> {
    let mut acknowledged = 0;
    for v in 1..=WRITES {
        let via = REPLICAS[sim.random(0..3) as usize];
        let a = trio::move_on_after(Duration::from_secs(1), ask(via, &format!("PUT {v}"))).await;
        if let Ok(Some(a)) = &a {
            sim.note(format!("PUT {v} via {via}: {a}"));
            if a == "OK" {
                acknowledged = v;
            }
        }
        let via = REPLICAS[sim.random(0..3) as usize];
        let a = trio::move_on_after(Duration::from_secs(1), ask(via, "GET")).await;
        if let Ok(Some(a)) = a {
            sim.note(format!("GET via {via}: {a}"));
            if let Some(read) = a.strip_prefix("VAL ").and_then(|r| r.parse::<u64>().ok()) {
                if read < acknowledged {
                    return Err(Error::new(
                        ErrorKind::Other,
                        format!(
                            "stale read: GET via {via} returned {read} after PUT {acknowledged} was acknowledged"
                        ),
                    ));
                }
            }
        }
        trio::sleep(Duration::from_millis(sim.random(0..20))).await?;
    }
    Ok(())
}

/// The nemesis: now and then cuts one replica off from the other two.
async fn nemesis(sim: &Sim) -> Result<()> {
    loop {
        trio::sleep(Duration::from_millis(sim.random(0..NEMESIS_PAUSE_MS))).await?;
        let victim = REPLICAS[sim.random(0..3) as usize];
        let others: Vec<&str> = REPLICAS.into_iter().filter(|r| *r != victim).collect();
        sim.net().partition(&[victim], &others)?;
        trio::sleep(Duration::from_millis(sim.random(20..100))).await?;
        sim.net().heal();
    }
}

/// One simulated run: the replicas, the client, the nemesis.
async fn scenario(sim: &Sim, buggy: bool) -> Result<()> {
    sim.net()
        .set_default_link(Link::new().latency(Latency::Uniform(
            Duration::from_millis(1),
            Duration::from_millis(10),
        )));
    for me in REPLICAS {
        sim.host(me, async move || replica(me, buggy).await)?;
    }
    sim.add_host("client")?;
    sim.on("client", async {
        trio::open_nursery(async |n| {
            n.start_soon(nemesis(sim))?;
            client(sim).await?;
            n.cancel_scope().cancel();
            Ok(())
        })
        .await?;
        Ok(())
    })
    .await
}

fn main() -> std::process::ExitCode {
    if let Some(seed) = std::env::args().nth(1).and_then(|a| a.parse().ok()) {
        let out = Config::new(seed).run(async |sim| scenario(sim, true).await);
        print!("{}", out.trace.tail(usize::MAX));
        println!("seed {seed}: {:?}", out.result.map_err(|e| e.to_string()));
        return std::process::ExitCode::SUCCESS;
    }
    const SEEDS: u64 = 1000;
    let t0 = std::time::Instant::now();
    let failure = match Explore::seeds(0..SEEDS).run(async |sim| scenario(sim, true).await) {
        Ok(ok) => {
            eprintln!(
                "no failure in {} seeds: the planted bug was not found",
                ok.runs
            );
            return std::process::ExitCode::FAILURE;
        }
        Err(f) => f,
    };
    println!(
        "the explorer found the bug after {} seeds ({:.2?}):\n{failure}",
        failure.runs,
        t0.elapsed()
    );
    let again = failure.replay(async |sim| scenario(sim, true).await);
    let same = again.trace.first_difference(&failure.trace).is_none();
    println!(
        "replayed seed {}: {} ({} events, {})",
        failure.seed,
        again
            .result
            .as_ref()
            .map_or_else(|e| e.to_string(), |_| "passed".into()),
        again.trace.len(),
        if same {
            "identical, event for event"
        } else {
            "DIFFERENT"
        }
    );
    let t1 = std::time::Instant::now();
    let fixed =
        Explore::seeds(0..failure.runs.max(100)).run(async |sim| scenario(sim, false).await);
    match fixed {
        Ok(ok) if same && again.result.is_err() => {
            println!(
                "with the bug fixed, {} seeds pass ({:.2?})",
                ok.runs,
                t1.elapsed()
            );
            std::process::ExitCode::SUCCESS
        }
        Ok(_) => std::process::ExitCode::FAILURE,
        Err(f) => {
            eprintln!("the fixed version failed too:\n{f}");
            std::process::ExitCode::FAILURE
        }
    }
}
