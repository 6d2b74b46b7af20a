//! The workloads, their constants and their fixed-seed inputs: the definitions
//! every runtime's implementation (`*_wl.rs`) follows.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

pub const SPAWN_MANY_N: usize = 10_000;
pub const TREE_DEPTH: u32 = 10;
pub const TREE_FANOUT: usize = 3;
/// Tasks in the `spawn_join_nested` tree: `sum_{i=0}^{TREE_DEPTH-1} 3^i`.
pub const TREE_TASKS: usize = 29_524;
pub const CHAIN_N: usize = 1_000;
pub const PING_PONG_N: u64 = 100_000;
pub const CHAN_N: u64 = 1_000_000;
pub const CHAN_CAP: usize = 128;
pub const YIELD_TASKS: usize = 200;
pub const YIELD_N: usize = 1_000;
pub const TIMERS_N: usize = 100_000;
pub const TIMERS_SEED: u64 = 0x5eed_7135;
pub const CANCEL_N: usize = 100_000;
pub const CANCEL_SEED: u64 = 0xc4_9ce1;
pub const ECHO_CONNS: usize = 64;
pub const ECHO_ROUNDS: usize = 1_000;
pub const ECHO_MSG: usize = 64;
/// The servers' read buffer in `tcp_echo`; the receive buffer of both ends in
/// `udp_echo` (larger than a message, so that an oversized datagram would show).
pub const ECHO_BUF: usize = 4096;
/// Bytes `tcp_bulk` sends over its one connection (256 MiB).
pub const BULK_LEN: usize = 256 * 1024 * 1024;
/// Size of each write and of the read buffer in `tcp_bulk` (64 KiB).
pub const BULK_CHUNK: usize = 64 * 1024;
/// Size of the file `file_read` reads (32 MiB).
pub const FILE_LEN: usize = 32 * 1024 * 1024;
/// Size of each read of `file_read` (64 KiB).
pub const FILE_CHUNK: usize = 64 * 1024;
pub const MUTEX_TASKS: usize = 100;
pub const MUTEX_N: usize = 1_000;
/// Round trips to a worker thread in `to_thread` (not one of the common
/// workloads).
pub const THREAD_N: usize = 10_000;
/// Items per `run_sync` call in `to_thread_batched`.
pub const THREAD_BATCH: usize = 100;
/// Round trips in `to_thread_cold`, each after a pause.
pub const THREAD_COLD_N: usize = 200;
/// The pause before each round trip of `to_thread_cold`: longer than a worker
/// waits for its next job before it sleeps (50 µs).
pub const THREAD_COLD_PAUSE: Duration = Duration::from_micros(500);
/// Iterations of the trio-only `cancel_scope` and `checkpoint` workloads.
pub const SCOPE_N: usize = 100_000;
/// Idle tasks in the memory measurement (fewer with `--quick`).
pub const IDLE_TASKS: usize = 1_000_000;
/// How long the idle tasks of the memory measurement sleep (they never wake).
pub const IDLE_SLEEP: Duration = Duration::from_secs(3600);

/// Time budget of the timed iterations of one (runtime, workload) pair.
pub const BUDGET: Duration = Duration::from_millis(400);

/// The sleep of task i in `timers_sleep`: uniform in [0, 10 ms), fixed seed.
pub fn sleep_durations() -> Vec<Duration> {
    let mut rng = fastrand::Rng::with_seed(TIMERS_SEED);
    (0..TIMERS_N)
        .map(|_| Duration::from_micros(rng.u64(0..10_000)))
        .collect()
}

/// The timeouts of `timers_cancel` and `timeout_yield`: 10 s + [0, 10 ms), fixed
/// seed.
pub fn cancel_durations() -> Vec<Duration> {
    let mut rng = fastrand::Rng::with_seed(CANCEL_SEED);
    (0..CANCEL_N)
        .map(|_| Duration::from_secs(10) + Duration::from_micros(rng.u64(0..10_000)))
        .collect()
}

/// The message a `tcp_echo` or `udp_echo` client sends in round `round` (the
/// echo is checked).
pub fn echo_message(client: usize, round: usize) -> [u8; ECHO_MSG] {
    let mut m = [0u8; ECHO_MSG];
    m[0] = client as u8;
    m[1] = round as u8;
    m[2] = (round >> 8) as u8;
    m
}

/// A workload of the suite.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum Workload {
    SpawnMany,
    SpawnJoinNested,
    ChainedSpawn,
    PingPong,
    ChannelThroughput,
    YieldMany,
    TimersSleep,
    TimersCancel,
    TimeoutYield,
    TcpEcho,
    /// `ECHO_CONNS` pairs of UDP sockets on 127.0.0.1: each client sends
    /// `ECHO_ROUNDS` datagrams of `ECHO_MSG` bytes to its server, one at a time,
    /// and waits for and checks each echo (the server: `recv_from`, then
    /// `send_to` the sender). Timed once every socket exists. op = one round trip.
    UdpEcho,
    /// One loopback TCP connection: the client sends `BULK_LEN` bytes in
    /// `BULK_CHUNK` writes (`send_all`, `write_all`) and closes its side; the
    /// server reads them into a `BULK_CHUNK` buffer until the end of the stream
    /// and checks the total. Timed from the first write to the server's end of
    /// stream. op = one `BULK_CHUNK` (64 KiB) carried.
    TcpBulk,
    /// One task reads a file of `FILE_LEN` bytes sequentially, `FILE_CHUNK` bytes
    /// per read, until the end of the file, with the runtime's async file API
    /// (`trio::fs::AsyncFile`, `tokio::fs::File`, `blocking::Unblock<File>` for
    /// smol) and checks the total. The reads are timed, not the open. The file is
    /// in the page cache (`read_file_path`; the warm-up iteration reads it too).
    /// op = one `FILE_CHUNK` read (`FILE_LEN / FILE_CHUNK` per iteration; a read
    /// that comes back short, or the last one that finds the end of the file, is
    /// not counted apart).
    FileRead,
    MutexContention,
    MutexUncontended,
    /// Trio only: enter + exit of a `CancelScope` around a ready future.
    CancelScope,
    /// A lone task's yield: `trio::lowlevel::checkpoint()` for trio (the peers'
    /// `yield_now` is measured too, for reference).
    Checkpoint,
    /// One task runs `THREAD_N` trivial closures on a worker thread, one after
    /// the other: `trio::to_thread::run_sync`, tokio's `spawn_blocking`, smol's
    /// `blocking::unblock`. op = one round trip (hand-off, run, result back).
    ToThread,
    /// Trio only: the same `THREAD_N` trivial items, `THREAD_BATCH` per
    /// `run_sync` call. op = one item.
    ToThreadBatched,
    /// Trio only: `THREAD_COLD_N` round trips, each after a pause that lets the
    /// worker go to sleep (only the round trips are timed). op = one round trip.
    ToThreadCold,
}

impl Workload {
    pub const ALL: [Workload; 20] = [
        Workload::SpawnMany,
        Workload::SpawnJoinNested,
        Workload::ChainedSpawn,
        Workload::PingPong,
        Workload::ChannelThroughput,
        Workload::YieldMany,
        Workload::TimersSleep,
        Workload::TimersCancel,
        Workload::TimeoutYield,
        Workload::TcpEcho,
        Workload::UdpEcho,
        Workload::TcpBulk,
        Workload::FileRead,
        Workload::MutexContention,
        Workload::MutexUncontended,
        Workload::CancelScope,
        Workload::Checkpoint,
        Workload::ToThread,
        Workload::ToThreadBatched,
        Workload::ToThreadCold,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Workload::SpawnMany => "spawn_many",
            Workload::SpawnJoinNested => "spawn_join_nested",
            Workload::ChainedSpawn => "chained_spawn",
            Workload::PingPong => "ping_pong",
            Workload::ChannelThroughput => "channel_throughput",
            Workload::YieldMany => "yield_many",
            Workload::TimersSleep => "timers_sleep",
            Workload::TimersCancel => "timers_cancel",
            Workload::TimeoutYield => "timeout_yield",
            Workload::TcpEcho => "tcp_echo",
            Workload::UdpEcho => "udp_echo",
            Workload::TcpBulk => "tcp_bulk",
            Workload::FileRead => "file_read",
            Workload::MutexContention => "mutex_contention",
            Workload::MutexUncontended => "mutex_uncontended",
            Workload::CancelScope => "cancel_scope",
            Workload::Checkpoint => "checkpoint",
            Workload::ToThread => "to_thread",
            Workload::ToThreadBatched => "to_thread_batched",
            Workload::ToThreadCold => "to_thread_cold",
        }
    }

    pub fn from_name(s: &str) -> Option<Workload> {
        Workload::ALL.into_iter().find(|w| w.name() == s)
    }

    /// Operations in one iteration ("op" as each workload's doc defines it).
    pub fn ops(self) -> u64 {
        (match self {
            Workload::SpawnMany => SPAWN_MANY_N,
            Workload::SpawnJoinNested => TREE_TASKS,
            Workload::ChainedSpawn => CHAIN_N,
            Workload::PingPong => PING_PONG_N as usize,
            Workload::ChannelThroughput => CHAN_N as usize,
            Workload::YieldMany => YIELD_TASKS * YIELD_N,
            Workload::TimersSleep => TIMERS_N,
            Workload::TimersCancel | Workload::TimeoutYield => CANCEL_N,
            Workload::TcpEcho | Workload::UdpEcho => ECHO_CONNS * ECHO_ROUNDS,
            Workload::FileRead => FILE_LEN / FILE_CHUNK,
            Workload::TcpBulk => BULK_LEN / BULK_CHUNK,
            Workload::MutexContention | Workload::MutexUncontended => MUTEX_TASKS * MUTEX_N,
            Workload::CancelScope | Workload::Checkpoint => SCOPE_N,
            Workload::ToThread | Workload::ToThreadBatched => THREAD_N,
            Workload::ToThreadCold => THREAD_COLD_N,
        }) as u64
    }

    /// The cap on timed iterations.
    pub fn cap(self) -> u32 {
        match self {
            Workload::TcpEcho | Workload::UdpEcho => 5,
            Workload::TimersSleep
            | Workload::PingPong
            | Workload::ChannelThroughput
            | Workload::FileRead
            | Workload::TcpBulk => 20,
            Workload::ToThreadCold => 5,
            _ => 200,
        }
    }
}

/// The bytes of `file_read`'s file: `FILE_LEN` of them, none zero.
pub fn read_file_contents() -> Vec<u8> {
    (0..FILE_LEN).map(|i| (i % 251) as u8 + 1).collect()
}

/// Where `read_file_path` wrote the file, once it has.
static READ_FILE: OnceLock<PathBuf> = OnceLock::new();

/// The file `file_read` reads: `read_file_contents()` in `std::env::temp_dir()`,
/// named after this process's id. Written at the first call (the dispatch calls
/// this before it runs the workload, so the writing is never timed), then reused
/// by every measurement of the process; [`ReadFileCleanup`] removes it.
pub fn read_file_path() -> &'static Path {
    READ_FILE.get_or_init(|| {
        let path =
            std::env::temp_dir().join(format!("trio-bench-file_read-{}.bin", std::process::id()));
        std::fs::write(&path, read_file_contents()).expect("write file_read's file");
        path
    })
}

/// Removes `file_read`'s file, if this process wrote it, when dropped: `main`
/// holds one, so the file goes at the end of the process, also when a panic
/// unwinds out of `main` (not when the process is killed).
pub struct ReadFileCleanup;

impl Drop for ReadFileCleanup {
    fn drop(&mut self) {
        if let Some(path) = READ_FILE.get() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// `sum_{i=0}^{depth-1} fanout^i`, to check `TREE_TASKS`.
pub const fn tree_size(depth: u32) -> usize {
    let mut total = 0;
    let mut level = 1;
    let mut i = 0;
    while i < depth {
        total += level;
        level *= TREE_FANOUT;
        i += 1;
    }
    total
}

const _: () = assert!(tree_size(TREE_DEPTH) == TREE_TASKS);
const _: () = assert!(FILE_LEN % FILE_CHUNK == 0);

#[cfg(test)]
mod tests {
    use super::*;

    /// The Python script's port of fastrand (bench/python/trio_bench.py) produces
    /// these same first values.
    #[test]
    fn fixed_seed_inputs_match_the_python_port() {
        let micros = |v: &[Duration]| v[..3].iter().map(|d| d.as_micros()).collect::<Vec<_>>();
        let s = sleep_durations();
        assert_eq!(micros(&s), [1764, 8702, 26]);
        assert_eq!(s.iter().map(|d| d.as_micros()).sum::<u128>(), 500_438_914);
        let c = cancel_durations();
        assert_eq!(micros(&c), [10_007_864, 10_002_956, 10_007_920]);
    }

    #[test]
    fn names_are_distinct_and_round_trip() {
        for w in Workload::ALL {
            assert_eq!(Workload::from_name(w.name()), Some(w));
        }
        let mut names: Vec<_> = Workload::ALL.iter().map(|w| w.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Workload::ALL.len());
    }

    #[test]
    fn read_file_is_file_len_non_zero_bytes_and_is_removed() {
        let path = read_file_path();
        assert_eq!(read_file_path(), path, "written once");
        let bytes = std::fs::read(path).unwrap();
        assert_eq!(bytes.len(), FILE_LEN);
        assert!(bytes.iter().all(|b| *b != 0));
        drop(ReadFileCleanup);
        assert!(!path.exists());
    }

    #[test]
    fn tree_size_is_29_524() {
        assert_eq!(tree_size(TREE_DEPTH), 29_524);
    }
}
