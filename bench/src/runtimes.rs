//! The runtimes of the suite and which workload body each runs.

use crate::harness::{Plan, Sample, smol_exec2_run, smol_local_run, tokio_run, trio_run};
#[cfg(feature = "monoio")]
use crate::monoio_wl;
use crate::params::{Workload, read_file_path};
#[cfg(target_os = "linux")]
use crate::uring_floor;
use crate::{smol_wl, tokio_wl, trio_tcp, trio_udp, trio_wl};

/// A runtime flavour (current-thread and two-thread flavours of each peer), plus trio's thread-safe
/// channel variant.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Runtime {
    /// trio; channels are `open_local_memory_channel` (one loop).
    Trio,
    /// trio with the thread-safe `open_memory_channel` (channel workloads only).
    TrioTs,
    /// Two trio loops on two threads (`trio::run_loops`; `tcp_echo` only).
    Trio2Loops,
    TokioCt,
    TokioMt2,
    SmolLocal,
    SmolExec2,
    /// monoio on its io_uring driver (`tcp_echo` only; the `monoio` feature).
    #[cfg(feature = "monoio")]
    Monoio,
    /// `tcp_echo` on a bare ring with no runtime: the floor under every io_uring
    /// runtime (Linux only).
    #[cfg(target_os = "linux")]
    UringFloor,
    /// The same with one multishot receive per socket and a buffer pool.
    #[cfg(target_os = "linux")]
    UringFloorMs,
}

impl Runtime {
    pub const ALL: &[Runtime] = &[
        Runtime::Trio,
        Runtime::TrioTs,
        Runtime::Trio2Loops,
        Runtime::TokioCt,
        Runtime::TokioMt2,
        Runtime::SmolLocal,
        Runtime::SmolExec2,
        #[cfg(feature = "monoio")]
        Runtime::Monoio,
        #[cfg(target_os = "linux")]
        Runtime::UringFloor,
        #[cfg(target_os = "linux")]
        Runtime::UringFloorMs,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Runtime::Trio => "trio",
            Runtime::TrioTs => "trio-ts",
            Runtime::Trio2Loops => "trio-2loops",
            Runtime::TokioCt => "tokio-ct",
            Runtime::TokioMt2 => "tokio-mt2",
            Runtime::SmolLocal => "smol-local",
            Runtime::SmolExec2 => "smol-exec2",
            #[cfg(feature = "monoio")]
            Runtime::Monoio => "monoio",
            #[cfg(target_os = "linux")]
            Runtime::UringFloor => "uring-floor",
            #[cfg(target_os = "linux")]
            Runtime::UringFloorMs => "uring-floor-ms",
        }
    }

    pub fn from_name(s: &str) -> Option<Runtime> {
        Runtime::ALL.iter().copied().find(|r| r.name() == s)
    }

    /// Measures `w` on this runtime; `None` if the pair does not exist.
    pub fn run(self, w: Workload, plan: &Plan) -> Option<Sample> {
        match self {
            Runtime::Trio => Some(run_trio(w, plan)),
            Runtime::TrioTs => run_trio_ts(w, plan),
            Runtime::Trio2Loops => match w {
                Workload::TcpEcho => Some(trio_tcp::tcp_echo_2loops(plan.meter(w))),
                _ => None,
            },
            Runtime::TokioCt => run_tokio(w, plan, false),
            Runtime::TokioMt2 => run_tokio(w, plan, true),
            Runtime::SmolLocal => run_smol_local(w, plan),
            Runtime::SmolExec2 => run_smol_exec2(w, plan),
            #[cfg(feature = "monoio")]
            Runtime::Monoio => match w {
                Workload::TcpEcho => monoio_wl::monoio_run(plan.meter(w), monoio_wl::tcp_echo),
                _ => None,
            },
            #[cfg(target_os = "linux")]
            Runtime::UringFloor => match w {
                Workload::TcpEcho => uring_floor::tcp_echo(plan.meter(w), false),
                _ => None,
            },
            #[cfg(target_os = "linux")]
            Runtime::UringFloorMs => match w {
                Workload::TcpEcho => uring_floor::tcp_echo(plan.meter(w), true),
                _ => None,
            },
        }
    }
}

fn run_trio(w: Workload, plan: &Plan) -> Sample {
    use trio_wl::*;
    let m = plan.meter(w);
    let local = trio::open_local_memory_channel::<u64> as Opener<_>;
    match w {
        Workload::SpawnMany => trio_run(m, spawn_many),
        Workload::SpawnJoinNested => trio_run(m, spawn_join_nested),
        Workload::ChainedSpawn => trio_run(m, chained_spawn),
        Workload::PingPong => trio_run(m, || ping_pong(local)),
        Workload::ChannelThroughput => trio_run(m, || channel_throughput(local)),
        Workload::YieldMany => trio_run(m, yield_many),
        Workload::TimersSleep => trio_run(m, timers_sleep),
        Workload::TimersCancel => trio_run(m, timers_cancel),
        Workload::TimeoutYield => trio_run(m, timeout_yield),
        Workload::TcpEcho => trio_run(m, trio_tcp::tcp_echo),
        Workload::UdpEcho => trio_run(m, trio_udp::udp_echo),
        Workload::TcpBulk => trio_run(m, trio_tcp::tcp_bulk),
        Workload::FileRead => {
            let path = read_file_path(); // written now, before any timing
            trio_run(m, || file_read(path))
        }
        Workload::MutexContention => trio_run(m, mutex_contention),
        Workload::MutexUncontended => trio_run(m, mutex_uncontended),
        Workload::CancelScope => trio_run(m, cancel_scope),
        Workload::Checkpoint => trio_run(m, checkpoint_alone),
        Workload::ToThread => trio_run(m, to_thread),
        Workload::ToThreadBatched => trio_run(m, to_thread_batched),
        Workload::ToThreadCold => trio_run(m, to_thread_cold),
    }
}

fn run_trio_ts(w: Workload, plan: &Plan) -> Option<Sample> {
    use trio_wl::*;
    let m = plan.meter(w);
    let ts = trio::open_memory_channel::<u64> as Opener<_>;
    match w {
        Workload::PingPong => Some(trio_run(m, || ping_pong(ts))),
        Workload::ChannelThroughput => Some(trio_run(m, || channel_throughput(ts))),
        _ => None,
    }
}

fn run_tokio(w: Workload, plan: &Plan, mt: bool) -> Option<Sample> {
    use tokio_wl::*;
    let m = plan.meter(w);
    Some(match w {
        Workload::SpawnMany => tokio_run(mt, m, spawn_many),
        Workload::SpawnJoinNested => tokio_run(mt, m, spawn_join_nested),
        Workload::ChainedSpawn => tokio_run(mt, m, chained_spawn),
        Workload::PingPong => tokio_run(mt, m, ping_pong),
        Workload::ChannelThroughput => tokio_run(mt, m, channel_throughput),
        Workload::YieldMany => tokio_run(mt, m, yield_many),
        Workload::TimersSleep => tokio_run(mt, m, timers_sleep),
        Workload::TimersCancel => tokio_run(mt, m, timers_cancel),
        Workload::TimeoutYield => tokio_run(mt, m, timeout_yield),
        Workload::TcpEcho => tokio_run(mt, m, tcp_echo),
        Workload::UdpEcho => tokio_run(mt, m, udp_echo),
        Workload::TcpBulk => tokio_run(mt, m, tcp_bulk),
        Workload::FileRead => {
            let path = read_file_path(); // written now, before any timing
            tokio_run(mt, m, move || file_read(path))
        }
        Workload::MutexContention => tokio_run(mt, m, mutex_contention),
        Workload::MutexUncontended => tokio_run(mt, m, mutex_uncontended),
        Workload::CancelScope => return None,
        Workload::Checkpoint => tokio_run(mt, m, lone_yield),
        Workload::ToThread => tokio_run(mt, m, to_thread),
        Workload::ToThreadBatched | Workload::ToThreadCold => return None,
    })
}

/// Picks the smol body for `w`, instantiated for spawner `$s`, and runs it with
/// `$run`.
macro_rules! smol_dispatch {
    ($run:ident, $s:expr, $w:expr, $m:expr) => {{
        use smol_wl::*;
        let s = $s;
        Some(match $w {
            Workload::SpawnMany => $run($m, move || spawn_many(s)),
            Workload::SpawnJoinNested => $run($m, move || spawn_join_nested(s)),
            Workload::ChainedSpawn => $run($m, move || chained_spawn(s)),
            Workload::PingPong => $run($m, move || ping_pong(s)),
            Workload::ChannelThroughput => $run($m, move || channel_throughput(s)),
            Workload::YieldMany => $run($m, move || yield_many(s)),
            Workload::TimersSleep => $run($m, move || timers_sleep(s)),
            Workload::TimersCancel => $run($m, move || timers_cancel(s)),
            Workload::TimeoutYield => $run($m, move || timeout_yield(s)),
            Workload::TcpEcho => $run($m, move || tcp_echo(s)),
            Workload::UdpEcho => $run($m, move || udp_echo(s)),
            Workload::TcpBulk => $run($m, move || tcp_bulk(s)),
            Workload::FileRead => {
                let path = read_file_path(); // written now, before any timing
                $run($m, move || file_read(s, path))
            }
            Workload::MutexContention => $run($m, move || mutex_contention(s)),
            Workload::MutexUncontended => $run($m, move || mutex_uncontended(s)),
            Workload::CancelScope => return None,
            Workload::Checkpoint => $run($m, move || lone_yield(s)),
            Workload::ToThread => $run($m, move || to_thread(s)),
            Workload::ToThreadBatched | Workload::ToThreadCold => return None,
        })
    }};
}

fn run_smol_local(w: Workload, plan: &Plan) -> Option<Sample> {
    smol_dispatch!(smol_local_run, smol_wl::Local, w, plan.meter(w))
}

fn run_smol_exec2(w: Workload, plan: &Plan) -> Option<Sample> {
    smol_dispatch!(smol_exec2_run, smol_wl::Global, w, plan.meter(w))
}
