//! Real-time delivery figures in the simulator (issue 11): KCP's published test (a reliable
//! message every 20 ms echoed back over 10 % loss each way and a 60–125 ms RTT).

use std::time::Duration;

use weir_core::config::{EndpointConfig, ServerConfig, TransportConfig};
use weir_core::endpoint::Endpoint;
use weir_core::lanes::{DeliveryMode, LaneConfig};
use weir_core::sim::echo::{EchoClient, EchoServer};
use weir_core::sim::{EndpointNode, LinkConfig, LossModel, Simulator};
use weir_tests::{addr, epoch};

/// KCP's test network (its `LatencySimulator(10, 60, 125)`): 10 % random loss each way, and
/// each packet's one-way delay drawn uniformly from 30–62.5 ms independently of the others (so
/// packets overtake one another: every packet takes the "reordered" path with no extra hold).
fn kcp_link() -> LinkConfig {
    LinkConfig {
        delay: Duration::from_millis(30),
        jitter: Duration::from_micros(32_500),
        loss: LossModel::Random { p: 0.1 },
        reorder: 1.0,
        reorder_delay: Duration::ZERO,
        ..LinkConfig::default()
    }
}

/// Round trips of `count` echoed messages on a reliable-ordered lane with `redundancy`:
/// (mean, p50, p99, max, bytes on the wire both ways).
fn kcp_echo(
    seed: u64,
    redundancy: u8,
    count: u64,
    controller: weir_core::congestion::ControllerKind,
) -> (Duration, Duration, Duration, Duration, u64) {
    let t0 = epoch();
    let mut sim = Simulator::new(seed, t0);
    let transport = TransportConfig {
        congestion: weir_core::congestion::ControllerConfig::new(controller),
        ..TransportConfig::default()
    };
    let server = Endpoint::new(
        t0,
        EndpointConfig::insecure_fixed(seed ^ 1),
        Some(ServerConfig::new(
            transport.clone(),
            weir_core::config::RetryPolicy::Never,
        )),
    )
    .expect("server");
    let mut client =
        Endpoint::new(t0, EndpointConfig::insecure_fixed(seed ^ 2), None).expect("client");
    client.set_client_config(transport).expect("config");
    client.connect(t0, addr(2)).expect("connect");
    let config = LaneConfig::new(DeliveryMode::ReliableOrdered).with_redundancy(redundancy);
    let c = sim
        .add_node(
            addr(1),
            EndpointNode::new(
                client,
                EchoClient::new(t0, 0, config, Duration::from_millis(20), 64, count),
            ),
        )
        .expect("node");
    let s = sim
        .add_node(
            addr(2),
            EndpointNode::new(server, EchoServer::new(0, config)),
        )
        .expect("node");
    let (f, r) = sim.connect(c, s, kcp_link(), kcp_link()).expect("links");
    let limit = Duration::from_secs(3 + count / 50 + 60);
    while sim.elapsed() < limit {
        sim.run_until(sim.elapsed() + Duration::from_secs(1))
            .expect("simulation");
        if sim
            .node::<EndpointNode<EchoClient>>(c)
            .expect("client")
            .app
            .done()
        {
            break;
        }
    }
    let bytes = sim.link_stats(f).map_or(0, |s| s.offered.bytes)
        + sim.link_stats(r).map_or(0, |s| s.offered.bytes);
    let app = &sim.node::<EndpointNode<EchoClient>>(c).expect("client").app;
    assert!(app.done(), "{} of {} echoed", app.echoed, count);
    (
        app.rtt_mean(),
        app.rtt_quantile(0.5),
        app.rtt_quantile(0.99),
        app.max_rtt,
        bytes,
    )
}

/// KCP's published test with two redundant copies on a reliable-ordered lane, over 3000
/// echoes: the mean meets KCP's target of 120 ms (its fast mode publishes 138 ms mean, 392 ms
/// max; TCP 740 / 1507 ms) with every controller, and with BBR so does the max of 350 ms.
///
/// Measured, seeds 1–3: NewReno (the default) mean 101.9 / 106.0 / 104.5 ms, p99 216 / 240 /
/// 242 ms, max 276 / 330 / 403 ms; BBR mean 102.8 / 107.7 / 104.5 ms, p99 237 / 243 / 238 ms,
/// max 333 / 292 / 303 ms. Over seeds 1–12 (through `weir-peers`' harness) the max stays at or
/// below 350 ms on 9 of 12 with NewReno (worst 403 ms) and 10 of 12 with BBR (worst 371 ms).
/// The worst message is one of 3000 whose original and both copies were lost (1 in 1000 each
/// way), found lost by loss detection on a path that reorders every other packet and sent
/// again; NewReno's tail is a little longer because 10 % random loss holds its window at the
/// minimum (two full datagrams), where a retransmission now and then waits for room. Without
/// redundancy the mean is about 166 ms and the max 570–600 ms (`report_kcp_test`).
#[test]
fn kcp_test_meets_its_targets_with_two_copies() {
    use weir_core::congestion::ControllerKind;
    for (controller, max_bound) in [(ControllerKind::NewReno, 450), (ControllerKind::Bbr, 350)] {
        for seed in 1..=3 {
            let (mean, p50, p99, max, bytes) = kcp_echo(seed, 2, 3000, controller);
            println!(
                "{controller} seed {seed}: mean {mean:?} p50 {p50:?} p99 {p99:?} max {max:?}, \
                 {bytes} bytes"
            );
            assert!(
                mean <= Duration::from_millis(115),
                "{controller} seed {seed}: mean {mean:?}"
            );
            assert!(
                p99 <= Duration::from_millis(275),
                "{controller} seed {seed}: p99 {p99:?}"
            );
            assert!(
                max <= Duration::from_millis(max_bound),
                "{controller} seed {seed}: max {max:?}"
            );
        }
    }
}

#[test]
#[ignore = "report: prints the KCP test's round trips"]
fn report_kcp_test() {
    use weir_core::congestion::ControllerKind;
    for controller in [
        ControllerKind::NewReno,
        ControllerKind::Bbr,
        ControllerKind::Vegas,
    ] {
        for redundancy in 0..=3 {
            for seed in 1..=2 {
                let (mean, p50, p99, max, bytes) = kcp_echo(seed, redundancy, 3000, controller);
                println!(
                    "{controller} redundancy {redundancy} seed {seed}: mean {mean:?} p50 {p50:?} p99 {p99:?} max {max:?}, {bytes} bytes"
                );
            }
        }
    }
}
