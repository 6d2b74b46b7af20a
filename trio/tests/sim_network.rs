//! The simulated network: latency, loss, duplication, reordering, partitions,
//! resets, crashes and restarts, each observed through the ordinary `trio::net`
//! API under `trio::testing::sim`.

use std::cell::{Cell, RefCell};
use std::time::Duration;

use trio::abc::{Listener, ReceiveStream, SendStream};
use trio::net::{SocketStream, UdpSocket};
use trio::testing::sim::{Config, Latency, Link};
use trio::{ErrorKind, Result};

const MS: Duration = Duration::from_millis(1);

#[track_caller]
fn ok(out: trio::testing::sim::Outcome) -> trio::testing::sim::Outcome {
    out.assert_ok();
    out
}

/// An echo server on port 7000, as any trio program would write it.
async fn echo_server() -> Result<()> {
    let echo = async |s: SocketStream| {
        let mut buf = [0u8; 1024];
        loop {
            let n = s.receive_some(&mut buf).await?;
            if n == 0 {
                return Ok(());
            }
            s.send_all(&buf[..n]).await?;
        }
    };
    trio::net::serve_tcp(echo, 7000).await
}

#[test]
fn a_round_trip_takes_the_links_latency() {
    ok(Config::new(1).run(async |sim| {
        sim.host("server", echo_server)?;
        sim.add_host("client")?;
        sim.net()
            .set_default_link(Link::new().latency(Latency::Fixed(10 * MS)));
        sim.on("client", async {
            trio::sleep(MS).await?; // the server is listening
            let t0 = trio::current_time();
            let s = trio::net::open_tcp_stream("server", 7000).await?;
            // connect: SYN there and SYN-ACK back.
            assert_eq!(trio::current_time() - t0, 20 * MS);
            let t1 = trio::current_time();
            s.send_all(b"hello").await?;
            let mut buf = [0u8; 5];
            assert_eq!(s.receive_some(&mut buf).await?, 5);
            assert_eq!(&buf, b"hello");
            assert_eq!(trio::current_time() - t1, 20 * MS);
            Ok(())
        })
        .await
    }));
}

#[test]
fn bandwidth_queues_a_connections_bytes() {
    ok(Config::new(1).run(async |sim| {
        sim.add_host("a")?;
        sim.add_host("b")?;
        // 1000 bytes per second: 100 bytes take 100 ms on the wire.
        sim.net().set_link(
            "a",
            "b",
            Link::new().latency(Latency::Fixed(MS)).bandwidth(1000),
        )?;
        let (start, done) = (Cell::new(None), Cell::new(None));
        trio::open_nursery(async |n| {
            n.start_soon(sim.on("b", async {
                let l = trio::net::open_tcp_listeners(80, None).await?;
                let s = l[0].accept().await?;
                let mut buf = vec![0u8; 1000];
                let mut total = 0;
                while total < 200 {
                    total += s.receive_some(&mut buf).await?;
                }
                done.set(Some(trio::current_time()));
                Ok(())
            }))?;
            sim.on("a", async {
                trio::testing::wait_all_tasks_blocked().await?;
                let s = trio::net::open_tcp_stream("b", 80).await?;
                start.set(Some(trio::current_time()));
                s.send_all(&[1u8; 100]).await?;
                s.send_all(&[2u8; 100]).await?;
                Ok(())
            })
            .await
        })
        .await?;
        // The second 100 bytes queue behind the first: 200 ms, plus 1 ms latency.
        assert_eq!(done.get().unwrap() - start.get().unwrap(), 201 * MS);
        Ok(())
    }));
}

#[test]
fn connecting_to_nothing_is_refused_and_names_the_address() {
    ok(Config::new(1).run(async |sim| {
        sim.add_host("server")?;
        sim.add_host("client")?;
        sim.on("client", async {
            let e = trio::net::open_tcp_stream("server", 7000)
                .await
                .unwrap_err();
            assert!(format!("{e:#}").contains("10.0.0.1:7000"), "{e:#}");
            let e = trio::net::open_tcp_stream("nowhere", 7000)
                .await
                .unwrap_err();
            assert!(format!("{e:#}").contains("nowhere"), "{e:#}");
            Ok(())
        })
        .await
    }));
}

#[test]
fn datagrams_are_lost_at_the_links_rate() {
    let out = ok(Config::new(11).run(async |sim| {
        sim.add_host("a")?;
        sim.add_host("b")?;
        sim.net().set_default_link(Link::new().loss(0.3));
        let received = Cell::new(0);
        trio::open_nursery(async |n| {
            n.start_soon(sim.on("b", async {
                let s = UdpSocket::bind("10.0.0.2:53".parse().unwrap())?;
                let mut buf = [0u8; 8];
                loop {
                    s.recv_from(&mut buf).await?;
                    received.set(received.get() + 1);
                }
            }))?;
            sim.on("a", async {
                trio::testing::wait_all_tasks_blocked().await?;
                let s = UdpSocket::bind("0.0.0.0:0".parse().unwrap())?;
                for i in 0..1000u32 {
                    s.send_to(&i.to_be_bytes(), "10.0.0.2:53".parse().unwrap())
                        .await?;
                }
                trio::sleep(Duration::from_secs(1)).await?;
                Ok(())
            })
            .await?;
            n.cancel_scope().cancel();
            Ok(())
        })
        .await?;
        let r = received.get();
        assert!((600..800).contains(&r), "{r} of 1000 arrived at 30% loss");
        Ok(())
    }));
    assert!(out.net.datagrams_lost >= 200);
}

#[test]
fn datagrams_are_duplicated_and_reordered() {
    ok(Config::new(5).run(async |sim| {
        sim.add_host("a")?;
        sim.add_host("b")?;
        sim.net().set_default_link(
            Link::new()
                .latency(Latency::Uniform(MS, 2 * MS))
                .duplicate(0.2)
                .reorder(0.5, 20 * MS),
        );
        let seen = RefCell::new(Vec::new());
        trio::open_nursery(async |n| {
            n.start_soon(sim.on("b", async {
                let s = UdpSocket::bind("0.0.0.0:9".parse().unwrap())?;
                let mut buf = [0u8; 4];
                loop {
                    s.recv_from(&mut buf).await?;
                    seen.borrow_mut().push(u32::from_be_bytes(buf));
                }
            }))?;
            sim.on("a", async {
                trio::testing::wait_all_tasks_blocked().await?;
                let s = UdpSocket::bind("0.0.0.0:0".parse().unwrap())?;
                for i in 0..200u32 {
                    s.send_to(&i.to_be_bytes(), "10.0.0.2:9".parse().unwrap())
                        .await?;
                    trio::sleep(MS).await?;
                }
                trio::sleep(Duration::from_secs(1)).await?;
                Ok(())
            })
            .await?;
            n.cancel_scope().cancel();
            Ok(())
        })
        .await?;
        let seen = seen.into_inner();
        assert!(seen.len() > 200, "duplicates arrived: {}", seen.len());
        let out_of_order = seen.windows(2).filter(|w| w[1] < w[0]).count();
        assert!(out_of_order > 10, "reordered: {out_of_order}");
        let mut distinct = seen.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), 200, "nothing lost");
        Ok(())
    }));
}

#[test]
fn a_partition_stalls_a_stream_until_it_heals_and_blocks_new_connections() {
    ok(Config::new(2).run(async |sim| {
        sim.host("server", echo_server)?;
        sim.add_host("client")?;
        sim.on("client", async {
            trio::sleep(MS).await?;
            let s = trio::net::open_tcp_stream("server", 7000).await?;
            sim.net().partition(&["client"], &["server"])?;
            s.send_all(b"ping").await?;
            let mut buf = [0u8; 4];
            // Nothing comes back while the link is cut...
            let r = trio::move_on_after(Duration::from_secs(5), s.receive_some(&mut buf)).await?;
            assert!(r.is_none());
            // ...nor can a new connection be opened.
            let r = trio::move_on_after(
                Duration::from_secs(5),
                trio::net::open_tcp_stream("server", 7000),
            )
            .await?;
            assert!(r.is_none());
            // Healed, the stalled bytes arrive: nothing was lost.
            let t = trio::current_time();
            sim.net().heal();
            assert_eq!(s.receive_some(&mut buf).await?, 4);
            assert_eq!(&buf, b"ping");
            assert!(trio::current_time() - t <= 2 * MS);
            Ok(())
        })
        .await
    }));
}

#[test]
fn a_partition_loses_datagrams_across_it_only() {
    ok(Config::new(3).run(async |sim| {
        for h in ["a", "b", "c"] {
            sim.add_host(h)?;
        }
        sim.net().partition(&["a"], &["b"])?;
        let got = RefCell::new(Vec::new());
        trio::open_nursery(async |n| {
            for h in ["b", "c"] {
                let got = &got;
                n.start_soon(sim.on(h, async move {
                    let s = UdpSocket::bind("0.0.0.0:9".parse().unwrap())?;
                    let mut buf = [0u8; 1];
                    s.recv_from(&mut buf).await?;
                    got.borrow_mut().push(h);
                    Ok(())
                }))?;
            }
            sim.on("a", async {
                trio::testing::wait_all_tasks_blocked().await?;
                let s = UdpSocket::bind("0.0.0.0:0".parse().unwrap())?;
                s.send_to(b"x", "10.0.0.2:9".parse().unwrap()).await?; // b: cut
                s.send_to(b"x", "10.0.0.3:9".parse().unwrap()).await?; // c: fine
                trio::sleep(Duration::from_secs(1)).await
            })
            .await?;
            n.cancel_scope().cancel();
            Ok(())
        })
        .await?;
        assert_eq!(got.into_inner(), ["c"]);
        Ok(())
    }));
}

#[test]
fn a_crash_resets_connections_and_a_restart_starts_fresh() {
    let out = ok(Config::new(4).run(async |sim| {
        let starts = std::rc::Rc::new(Cell::new(0));
        let s2 = starts.clone();
        sim.host("server", async move || {
            s2.set(s2.get() + 1);
            echo_server().await
        })?;
        sim.add_host("client")?;
        sim.on("client", async {
            trio::sleep(MS).await?;
            let s = trio::net::open_tcp_stream("server", 7000).await?;
            s.send_all(b"one").await?;
            let mut buf = [0u8; 3];
            s.receive_some(&mut buf).await?;
            sim.crash("server")?;
            let e = s.receive_some(&mut buf).await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::BrokenResource, "{e:#}");
            // Down: refused.
            let e = trio::net::open_tcp_stream("server", 7000)
                .await
                .unwrap_err();
            assert!(format!("{e:#}").contains("refused"), "{e:#}");
            sim.restart("server")?;
            trio::sleep(MS).await?;
            let s = trio::net::open_tcp_stream("server", 7000).await?;
            s.send_all(b"two").await?;
            s.receive_some(&mut buf).await?;
            assert_eq!(&buf, b"two");
            Ok(())
        })
        .await?;
        assert_eq!(starts.get(), 2);
        Ok(())
    }));
    assert_eq!(out.net.connections_reset, 1);
    assert_eq!(out.net.connections, 2);
}

#[test]
fn hundreds_of_hosts_talk_in_a_ring() {
    const HOSTS: usize = 300;
    let t0 = std::time::Instant::now();
    let out = ok(Config::new(8).run(async |sim| {
        for i in 0..HOSTS {
            let next = format!("h{}", (i + 1) % HOSTS);
            sim.host(&format!("h{i}"), async move || {
                let s = UdpSocket::bind("0.0.0.0:9".parse().unwrap())?;
                let peer = trio::net::socket::getaddrinfo(Some(&next), 9, Default::default())
                    .await?[0]
                    .addr;
                s.send_to(b"hi", peer).await?;
                let mut buf = [0u8; 2];
                s.recv_from(&mut buf).await?;
                trio::sleep_forever().await
            })?;
        }
        trio::sleep(Duration::from_secs(1)).await?;
        Ok(())
    }));
    assert_eq!(out.net.messages_delivered, HOSTS as u64);
    // Generous: a few milliseconds of work; no quadratic set-up.
    assert!(t0.elapsed() < Duration::from_secs(30));
}

#[test]
fn code_outside_every_host_gets_a_clear_error() {
    ok(Config::new(1).run(async |_sim| {
        let e = trio::net::open_tcp_stream("10.0.0.1", 80)
            .await
            .unwrap_err();
        assert!(
            format!("{e:#}").contains("outside every simulated host"),
            "{e:#}"
        );
        Ok(())
    }));
}

#[test]
fn connected_udp_sockets_send_and_receive() {
    ok(Config::new(1).run(async |sim| {
        sim.add_host("a")?;
        sim.add_host("b")?;
        let (a, b) = (
            sim.on("a", async {
                UdpSocket::bind("0.0.0.0:5000".parse().unwrap())
            })
            .await?,
            sim.on("b", async {
                UdpSocket::bind("0.0.0.0:6000".parse().unwrap())
            })
            .await?,
        );
        a.connect("10.0.0.2:6000".parse().unwrap())?;
        b.connect("10.0.0.1:5000".parse().unwrap())?;
        assert_eq!(a.peer_addr()?, "10.0.0.2:6000".parse().unwrap());
        a.send(b"ping").await?;
        let mut buf = [0u8; 8];
        assert_eq!(b.recv(&mut buf).await?, 4);
        b.send(b"pong").await?;
        assert_eq!(a.recv(&mut buf).await?, 4);
        assert_eq!(&buf[..4], b"pong");
        Ok(())
    }));
}
