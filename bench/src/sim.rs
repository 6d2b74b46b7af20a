//! `--sim`: how fast `trio::testing::sim` carries simulated messages (trio only:
//! tokio and smol have no simulation to compare with). Each workload reports
//! the messages the simulated network delivered per second of wall time, and
//! the wall time per message.

use std::time::{Duration, Instant};

use trio::abc::{ReceiveStream, SendStream};
use trio::net::{SocketStream, UdpSocket};
use trio::testing::sim::{Config, Outcome, Sim};

/// Runs one simulation and returns its outcome and wall time.
fn timed(body: impl AsyncFnOnce(&Sim) -> trio::Result<()>) -> (Outcome, Duration) {
    let t0 = Instant::now();
    let out = Config::new(1).run(body);
    let wall = t0.elapsed();
    if let Err(e) = &out.result {
        panic!("sim benchmark failed: {e}");
    }
    (out, wall)
}

/// Datagrams between two hosts, `n` of them.
fn datagrams(n: u32) -> (Outcome, Duration) {
    timed(async |sim| {
        sim.add_host("a")?;
        sim.add_host("b")?;
        trio::open_nursery(async |nursery| {
            nursery.start_soon(sim.on("b", async {
                let s = UdpSocket::bind("0.0.0.0:9".parse().unwrap())?;
                let mut buf = [0u8; 64];
                for _ in 0..n {
                    s.recv_from(&mut buf).await?;
                }
                Ok(())
            }))?;
            sim.on("a", async {
                trio::testing::wait_all_tasks_blocked().await?;
                let s = UdpSocket::bind("0.0.0.0:0".parse().unwrap())?;
                for i in 0..n {
                    s.send_to(&i.to_be_bytes(), "10.0.0.2:9".parse().unwrap())
                        .await?;
                }
                Ok(())
            })
            .await
        })
        .await?;
        Ok(())
    })
}

/// Request/response round trips on one TCP connection, `n` of them.
fn stream_round_trips(n: u32) -> (Outcome, Duration) {
    timed(async |sim| {
        sim.host("server", async || {
            let echo = async |s: SocketStream| {
                let mut buf = [0u8; 64];
                loop {
                    let k = s.receive_some(&mut buf).await?;
                    if k == 0 {
                        return Ok(());
                    }
                    s.send_all(&buf[..k]).await?;
                }
            };
            trio::net::serve_tcp(echo, 7).await
        })?;
        sim.add_host("client")?;
        sim.on("client", async {
            trio::sleep(Duration::from_millis(1)).await?;
            let s = trio::net::open_tcp_stream("server", 7).await?;
            let mut buf = [0u8; 8];
            for i in 0..n {
                s.send_all(&i.to_be_bytes()).await?;
                let mut got = 0;
                while got < 4 {
                    got += s.receive_some(&mut buf[got..4]).await?;
                }
            }
            Ok(())
        })
        .await
    })
}

/// `hosts` hosts in a ring, each sending `each` datagrams to the next.
fn ring(hosts: usize, each: u32) -> (Outcome, Duration) {
    timed(async |sim| {
        for i in 0..hosts {
            let next = format!(
                "10.0.{}.{}:9",
                ((i + 1) % hosts + 1) >> 8,
                ((i + 1) % hosts + 1) & 0xFF
            );
            sim.host(&format!("h{i}"), async move || {
                let s = UdpSocket::bind("0.0.0.0:9".parse().unwrap())?;
                let peer = next.parse().unwrap();
                let mut buf = [0u8; 4];
                for k in 0..each {
                    s.send_to(&k.to_be_bytes(), peer).await?;
                    s.recv_from(&mut buf).await?;
                }
                trio::sleep_forever().await
            })?;
        }
        trio::sleep(Duration::from_secs(3600)).await
    })
}

/// The report: one line per workload.
pub fn report(quick: bool) -> String {
    let scale = if quick { 10 } else { 1 };
    let mut s = String::from(
        "simulated messages per second of wall time (trio::testing::sim, one core):\n",
    );
    type Workload = Box<dyn Fn() -> (Outcome, Duration)>;
    let runs: [(&str, Workload); 3] = [
        (
            "datagrams, 2 hosts",
            Box::new(move || datagrams(200_000 / scale)),
        ),
        (
            "TCP round trips, 2 hosts",
            Box::new(move || stream_round_trips(50_000 / scale)),
        ),
        (
            "datagrams, 1000 hosts in a ring",
            Box::new(move || ring(1000, 100 / scale)),
        ),
    ];
    for (name, run) in runs {
        let (out, wall) = run();
        let msgs = out.net.messages_delivered;
        s.push_str(&format!(
            "  {name:<34} {msgs:>8} messages in {:>8.1} ms: {:>10.0} messages/s ({:.0} ns each, {} trace events)\n",
            wall.as_secs_f64() * 1e3,
            msgs as f64 / wall.as_secs_f64(),
            wall.as_nanos() as f64 / msgs as f64,
            out.trace.len(),
        ));
    }
    s
}
