//! Congestion control proven in the simulator (issue 4, DESIGN.md §4): every controller checked
//! against the behaviour its specification promises, over deterministic bottlenecks.

use std::time::Duration;

use weir_core::config::TransportConfig;
use weir_core::congestion::{BbrConfig, ControllerConfig, ControllerKind};
use weir_core::sim::flows::{BulkAmount, Sample};
use weir_core::sim::runs::{BulkRun, BulkRuns, BulkSpec, bottleneck, run_bulk};
use weir_core::sim::{Bitrate, LinkConfig, LossModel, Scenario, Schedule};
use weir_tests::epoch;

const MS: Duration = Duration::from_millis(1);

fn spec(kind: ControllerKind, seconds: u64, start: Duration) -> BulkSpec {
    BulkSpec {
        transport: TransportConfig {
            congestion: ControllerConfig::new(kind),
            ..TransportConfig::default()
        },
        start,
        amount: BulkAmount::For(Duration::from_secs(seconds)),
        sample_every: Some(5 * MS),
        tls: false,
    }
}

fn one_flow(kind: ControllerKind, scenario: &Scenario, seconds: u64) -> (BulkRun, BulkRuns) {
    let runs = run_bulk(
        epoch(),
        scenario,
        7,
        &[spec(kind, seconds, Duration::ZERO)],
        Duration::from_secs(seconds + 10),
    )
    .expect("simulation");
    (runs.flows[0].clone(), runs)
}

/// Goodput over the second half of the transfer, as a share of `rate_mbps`: the steady state,
/// after slow start.
fn steady_share(run: &BulkRun, rate_mbps: f64, seconds: u64) -> f64 {
    let from = Duration::from_secs(seconds / 2);
    let to = Duration::from_secs(seconds);
    run.received_between(from, to) as f64 * 8.0 / (to - from).as_secs_f64() / (rate_mbps * 1e6)
}

#[test]
fn newreno_halves_on_loss_and_grows_by_one_packet_per_round_trip() {
    // A 1-BDP buffer at 10 Mbit/s, 50 ms: slow start overflows the queue.
    let scenario = bottleneck(10.0, 50 * MS, 0.0, 1.0);
    let (run, _) = one_flow(ControllerKind::NewReno, &scenario, 20);
    let samples = &run.samples;
    // The first reduction: the window halves (RFC 9002 §7.3.2, kLossReductionFactor 0.5).
    let drop = samples
        .windows(2)
        .position(|w| w[1].cwnd < w[0].cwnd)
        .expect("a loss in slow start");
    let (before, after) = (samples[drop].cwnd, samples[drop + 1].cwnd);
    assert!(
        after.abs_diff(before / 2) <= 1200,
        "cwnd {before} → {after}: not halved"
    );
    // Before it, while the queue is still empty, slow start doubles the window every round trip
    // (RFC 9002 §7.3.1).
    let at = |t: Duration| {
        samples
            .iter()
            .find(|x| x.at >= t)
            .map(|x| x.cwnd)
            .expect("sample")
    };
    let start = run.connected_at.expect("connected");
    // Paced sending and acknowledgements spread over the round trip blur the rounds: over two
    // round trips, expect close to a fourfold growth.
    let (a, b) = (at(start + 60 * MS), at(start + 160 * MS));
    assert!(b >= a * 3, "slow start grew {a} → {b} in two round trips");
    // Later, in congestion avoidance without loss: about one datagram per round trip.
    let last_drop = samples
        .windows(2)
        .rposition(|w| w[1].cwnd < w[0].cwnd)
        .unwrap_or(drop);
    let calm: Vec<&Sample> = samples[last_drop + 1..].iter().collect();
    if calm.len() > 400 {
        let (a, b) = (calm[100], calm[calm.len() - 1]);
        let rounds = (b.at - a.at).as_secs_f64() / b.srtt.as_secs_f64();
        let per_round = (b.cwnd - a.cwnd) as f64 / rounds;
        assert!(
            (600.0..=1800.0).contains(&per_round),
            "{per_round} bytes per round trip"
        );
    }
}

#[test]
fn newreno_restarts_from_the_minimum_window_after_persistent_congestion() {
    // A 3 s outage at t = 5 s: everything in flight is lost, which is persistent congestion
    // (RFC 9002 §7.6); the window falls to the minimum and slow start resumes.
    let base = LinkConfig::bottleneck(Bitrate::from_mbps(10), 25 * MS, 62_500);
    let outage = LinkConfig {
        loss: LossModel::Outage,
        ..base.clone()
    };
    let scenario = Scenario {
        forward_schedule: Schedule::new()
            .at(Duration::from_secs(5), outage)
            .at(Duration::from_secs(8), base.clone()),
        ..bottleneck(10.0, 50 * MS, 0.0, 1.0)
    };
    let (run, _) = one_flow(ControllerKind::NewReno, &scenario, 20);
    let after: Vec<&Sample> = run
        .samples
        .iter()
        .filter(|s| s.at > Duration::from_secs(8) && s.at < Duration::from_secs(12))
        .collect();
    // The collapse to the minimum (2 datagrams, RFC 9002 §7.2) and the first growth happen on the
    // same acknowledgement, so a sample sees at most a datagram or two above it.
    let min = after.iter().map(|s| s.cwnd).min().expect("samples");
    assert!(
        min <= 4 * 1200,
        "the window fell to {min}, not to the minimum"
    );
    assert!(
        steady_share(&run, 10.0, 20) > 0.8,
        "recovered after the outage"
    );
}

/// Bytes each flow of `runs` read between `from` and `to` seconds.
fn received_each(runs: &BulkRuns, from: u64, to: u64) -> Vec<f64> {
    let (from, to) = (Duration::from_secs(from), Duration::from_secs(to));
    runs.flows
        .iter()
        .map(|f| f.received_between(from, to) as f64)
        .collect()
}

fn assert_fair(kind: ControllerKind, scenario: &Scenario) {
    assert_fair_within(kind, scenario, 0.95);
}

fn assert_fair_within(kind: ControllerKind, scenario: &Scenario, bar: f64) {
    // Two flows, the second starting a second later; Jain's index over the goodput of the last
    // ten seconds of a thirty-second run.
    let flows = [
        spec(kind, 30, Duration::ZERO),
        spec(kind, 29, Duration::from_secs(1)),
    ];
    let runs =
        run_bulk(epoch(), scenario, 11, &flows, Duration::from_secs(40)).expect("simulation");
    let x = received_each(&runs, 20, 30);
    let jain =
        x.iter().sum::<f64>().powi(2) / (x.len() as f64 * x.iter().map(|v| v * v).sum::<f64>());
    assert!(jain >= bar, "{kind}: Jain's index {jain:.3} over {x:?}");
    let total = x.iter().sum::<f64>() * 8.0 / 10.0;
    assert!(
        total > 0.8 * 10e6,
        "{kind}: the two flows use the link ({total} bit/s)"
    );
}

#[test]
fn two_newreno_flows_share_a_bottleneck_fairly() {
    assert_fair(
        ControllerKind::NewReno,
        &bottleneck(10.0, 50 * MS, 0.0, 1.0),
    );
}

#[test]
fn a_slow_start_overshoot_on_a_long_fat_path_recovers() {
    // 50 Mbit/s, 100 ms, 1 BDP: slow start loses about a thousand packets at once.
    let scenario = bottleneck(50.0, 100 * MS, 0.0, 1.0);
    for kind in [ControllerKind::NewReno, ControllerKind::Cubic] {
        let (run, _) = one_flow(kind, &scenario, 20);
        let share = steady_share(&run, 50.0, 20);
        assert!(
            share > 0.5,
            "{kind}: {share:.3} of the link after the overshoot; stats {:?}",
            run.stats
        );
    }
}

#[test]
#[ignore = "debugging aid"]
fn debug_stall() {
    use weir_core::config::{EndpointConfig, RetryPolicy, Seed, ServerConfig};
    use weir_core::endpoint::Endpoint;
    use weir_core::sim::flows::{BulkReceiver, BulkSender};
    use weir_core::sim::{EndpointNode, Simulator};
    let t0 = epoch();
    let scenario = bottleneck(50.0, 100 * MS, 0.0, 1.0);
    let mut sim = Simulator::new(7, t0);
    let transport = TransportConfig::default();
    let server = Endpoint::new(
        t0,
        EndpointConfig {
            seed: Seed::Fixed(1),
            ..EndpointConfig::insecure_fixed(0)
        },
        Some(ServerConfig {
            transport: transport.clone(),
            retry: RetryPolicy::Never,
            ..ServerConfig::default()
        }),
    )
    .expect("server");
    let mut client = Endpoint::new(
        t0,
        EndpointConfig {
            seed: Seed::Fixed(2),
            ..EndpointConfig::insecure_fixed(0)
        },
        None,
    )
    .expect("client");
    let h = client.connect(t0, weir_tests::addr(2)).expect("connect");
    let c = sim
        .add_node(
            weir_tests::addr(1),
            EndpointNode::new(
                client,
                BulkSender::new(BulkAmount::For(Duration::from_secs(20)), 0, true),
            ),
        )
        .expect("c");
    let s = sim
        .add_node(
            weir_tests::addr(2),
            EndpointNode::new(server, BulkReceiver::default()),
        )
        .expect("s");
    scenario.install(&mut sim, c, s).expect("links");
    for step in 0..40 {
        sim.run_until(Duration::from_millis(100 * step))
            .expect("run");
        let node = sim.node_mut::<EndpointNode<BulkSender>>(c).expect("c");
        let timeout = node.endpoint.poll_timeout();
        let conn = node.endpoint.connection(h).expect("live");
        let st = conn.stats();
        eprintln!("closed {:?}", node.app.closed);
        eprintln!(
            "t={}ms sent={} recv={} lost={} inflight={} cwnd={} timer={:?} ep_timeout={:?} sendbuf={}",
            step * 100,
            st.packets_sent,
            st.packets_received,
            st.packets_lost,
            st.bytes_in_flight,
            st.cwnd,
            conn.next_timer().map(|(t, at)| (t, at - t0)),
            timeout.map(|t| t - t0),
            st.stream_send_buffered
        );
    }
}

// ----- CUBIC (RFC 9438), Vegas, BBR (draft-ietf-ccwg-bbr-06 with weir's loss tolerance) -----

#[test]
fn cubic_fills_a_clean_link_with_at_least_one_bdp_of_buffer() {
    for buffer in [1.0, 4.0] {
        let (run, _) = one_flow(
            ControllerKind::Cubic,
            &bottleneck(10.0, 50 * MS, 0.0, buffer),
            30,
        );
        let share = steady_share(&run, 10.0, 30);
        assert!(
            share >= 0.95,
            "CUBIC with {buffer} BDP of buffer: {share:.3}"
        );
    }
}

/// Mathis et al. 1997: a loss-based window flow gets about MSS / RTT × 1.22 / √p.
fn mathis_bps(rtt: Duration, p: f64) -> f64 {
    1200.0 * 8.0 / rtt.as_secs_f64() * 1.22 / p.sqrt()
}

#[test]
fn cubic_under_random_loss_is_within_a_factor_of_two_of_mathis() {
    for p in [0.001, 0.01, 0.05] {
        let rtt = 50 * MS;
        let (run, _) = one_flow(ControllerKind::Cubic, &bottleneck(10.0, rtt, p, 1.0), 60);
        let got = steady_share(&run, 10.0, 60) * 10e6;
        let model = mathis_bps(rtt, p).min(10e6);
        assert!(
            got >= model / 2.0 && got <= model * 2.0,
            "loss {p}: {got:.0} bit/s against Mathis {model:.0}"
        );
    }
}

#[test]
fn vegas_fills_a_clean_link_and_keeps_alpha_to_beta_packets_queued() {
    for buffer in [1.0, 4.0] {
        let rate = 10.0;
        let (run, runs) = one_flow(
            ControllerKind::Vegas,
            &bottleneck(rate, 50 * MS, 0.0, buffer),
            30,
        );
        let share = steady_share(&run, rate, 30);
        assert!(
            share >= 0.90,
            "Vegas with {buffer} BDP of buffer: {share:.3}"
        );
        // Standing queue in steady state, from the sender's RTT samples: (srtt − base) × rate.
        let packet_time = 1200.0 * 8.0 / (rate * 1e6);
        let steady: Vec<f64> = run
            .samples
            .iter()
            .filter(|s| s.at > Duration::from_secs(10))
            .map(|s| (s.latest_rtt.as_secs_f64() - 0.050) / packet_time)
            .collect();
        let mean = steady.iter().sum::<f64>() / steady.len() as f64;
        // tcp_vegas: alpha 2, beta 4 packets; ±1 packet.
        assert!(
            (1.0..=5.0).contains(&mean),
            "{mean:.2} packets queued on average"
        );
        let link_mean = runs.forward.mean_queue_delay().as_secs_f64() / packet_time;
        assert!(
            link_mean <= 6.0,
            "bottleneck queue {link_mean:.2} packets on average"
        );
    }
}

/// Over five seeds (which pick the random losses and BBR's probe timing): one run's share
/// swings by a few percent with them, so the bound is on the mean, with a floor for each run.
#[test]
fn bbr_uses_ninety_percent_of_a_link_with_one_percent_loss() {
    let shares: Vec<f64> = (1..=5)
        .map(|seed| {
            let runs = run_bulk(
                epoch(),
                &bottleneck(10.0, 50 * MS, 0.01, 1.0),
                seed,
                &[spec(ControllerKind::Bbr, 30, Duration::ZERO)],
                Duration::from_secs(40),
            )
            .expect("simulation");
            steady_share(&runs.flows[0], 10.0, 30)
        })
        .collect();
    let mean = shares.iter().sum::<f64>() / shares.len() as f64;
    assert!(
        mean >= 0.90,
        "BBR at 1% loss: mean {mean:.3} of {shares:.3?}"
    );
    assert!(
        shares.iter().all(|&s| s >= 0.85),
        "BBR at 1% loss: {shares:.3?}"
    );
}

/// `max_tracked_packets` is a memory bound, not a loss signal: on a path whose BDP (520
/// packets at 100 Mbit/s × 50 ms) exceeds it, the sender holds back as if its window were
/// full, loses nothing to the bound, and moves the bound's worth per round trip.
#[test]
fn the_bound_on_tracked_packets_caps_the_window_without_evicting() {
    let bound = 256;
    let mut spec = spec(ControllerKind::Cubic, 10, Duration::ZERO);
    spec.transport.max_tracked_packets = bound;
    let runs = run_bulk(
        epoch(),
        &bottleneck(100.0, 50 * MS, 0.0, 1.0),
        7,
        &[spec],
        Duration::from_secs(20),
    )
    .expect("simulation");
    let run = &runs.flows[0];
    let stats = run.stats.as_ref().expect("stats");
    assert_eq!(stats.packets_evicted, 0, "{stats:?}");
    assert_eq!(stats.packets_lost, 0, "a clean path: {stats:?}");
    // Path MTU discovery found the link's full size (1452 bytes) after the handshake.
    let size = u64::from(stats.datagram_size);
    assert_eq!(size, 1452);
    assert!(
        run.samples
            .iter()
            .all(|s| s.bytes_in_flight <= bound as u64 * size),
        "in flight within the bound"
    );
    // About (bound − reserve) packets per round trip: 192 × 1452 B / 50 ms ≈ 44.6 Mbit/s.
    let share = steady_share(run, 100.0, 10);
    assert!(
        (0.38..=0.48).contains(&share),
        "goodput {:.1} Mbit/s",
        share * 100.0
    );
}

#[test]
fn bbr_keeps_the_queue_short_in_a_deep_buffer() {
    let (run, runs) = one_flow(
        ControllerKind::Bbr,
        &bottleneck(10.0, 50 * MS, 0.0, 4.0),
        30,
    );
    let mean = runs.forward.mean_queue_delay();
    assert!(
        mean <= 25 * MS,
        "mean queueing delay {mean:?} with a 4-BDP buffer"
    );
    assert!(
        steady_share(&run, 10.0, 30) >= 0.9,
        "and still fills the link"
    );
}

#[test]
fn two_cubic_flows_share_a_bottleneck_fairly() {
    assert_fair(ControllerKind::Cubic, &bottleneck(10.0, 50 * MS, 0.0, 1.0));
}

#[test]
fn two_bbr_flows_share_a_bottleneck_fairly() {
    assert_fair(ControllerKind::Bbr, &bottleneck(10.0, 50 * MS, 0.0, 1.0));
}

/// Vegas has no single equilibrium: any pair of windows that each keep α = 2 to β = 4 packets
/// in the queue is stable, so two flows may settle anywhere up to a 2:1 split — Jain's index
/// (1 + 2)² / (2 · (1 + 4)) = 0.9 at worst. Where in that band they settle depends on packet
/// sizes and timing (measured: 0.957 to 1.000 for fixed sizes of 1200 to 1472 bytes; 0.932 with
/// path MTU discovery's 1452), so the bar is the algorithm's own bound.
#[test]
fn two_vegas_flows_share_a_bottleneck_within_vegas_own_bound() {
    assert_fair_within(
        ControllerKind::Vegas,
        &bottleneck(10.0, 50 * MS, 0.0, 1.0),
        0.9,
    );
}

#[test]
fn a_live_switch_keeps_the_connection_going() {
    use weir_core::config::{EndpointConfig, RetryPolicy, Seed, ServerConfig};
    use weir_core::endpoint::Endpoint;
    use weir_core::sim::flows::{BulkReceiver, BulkSender};
    use weir_core::sim::{EndpointNode, Simulator};
    let t0 = epoch();
    let scenario = bottleneck(10.0, 50 * MS, 0.0, 1.0);
    let mut sim = Simulator::new(3, t0);
    let server = Endpoint::new(
        t0,
        EndpointConfig {
            seed: Seed::Fixed(1),
            ..EndpointConfig::insecure_fixed(0)
        },
        Some(ServerConfig {
            retry: RetryPolicy::Never,
            ..ServerConfig::default()
        }),
    )
    .expect("server");
    let mut client = Endpoint::new(
        t0,
        EndpointConfig {
            seed: Seed::Fixed(2),
            ..EndpointConfig::insecure_fixed(0)
        },
        None,
    )
    .expect("client");
    let h = client.connect(t0, weir_tests::addr(2)).expect("connect");
    let sender = BulkSender::new(BulkAmount::For(Duration::from_secs(30)), 0, true)
        .sample_every(t0, 10 * MS);
    let c = sim
        .add_node(weir_tests::addr(1), EndpointNode::new(client, sender))
        .expect("c");
    let s = sim
        .add_node(
            weir_tests::addr(2),
            EndpointNode::new(server, BulkReceiver::default()),
        )
        .expect("s");
    scenario.install(&mut sim, c, s).expect("links");
    let mut kinds = [
        ControllerKind::Cubic,
        ControllerKind::Bbr,
        ControllerKind::Vegas,
        ControllerKind::NewReno,
    ]
    .into_iter();
    for second in (5..=20).step_by(5) {
        sim.run_until(Duration::from_secs(second)).expect("run");
        let now = sim.now();
        let node = sim.node_mut::<EndpointNode<BulkSender>>(c).expect("client");
        let conn = node.endpoint.connection(h).expect("live");
        let before = conn.stats().cwnd;
        let kind = kinds.next().expect("four switches");
        conn.set_congestion_controller(now, &ControllerConfig::new(kind))
            .expect("implemented");
        let after = conn.stats();
        assert_eq!(after.controller, kind);
        assert!(
            after.cwnd >= before / 2,
            "{kind} started from {} after {before}",
            after.cwnd
        );
    }
    sim.run_until(Duration::from_secs(30)).expect("run");
    let received = sim
        .node::<EndpointNode<BulkReceiver>>(s)
        .expect("server")
        .app
        .received;
    // 30 s at 10 Mbit/s is 37.5 MB; four switches cost little.
    assert!(received > 33_000_000, "{received} bytes");
}

/// A 60 Hz game flow on a high-priority stream sharing a connection with a bulk stream: the
/// one-way delay of its messages at the 99th percentile (DESIGN.md §4: priorities plus pacing
/// keep the queue short).
fn game_delay_p99(congestion: ControllerConfig, warm_up: Duration) -> (Duration, Duration) {
    use weir_core::config::{EndpointConfig, RetryPolicy, Seed, ServerConfig};
    use weir_core::endpoint::Endpoint;
    use weir_core::sim::flows::{
        Both, BulkReceiver, BulkSender, GameReceiver, GameSender, GameTransport,
    };
    use weir_core::sim::{EndpointNode, Simulator};
    use weir_core::streams::{Dir, Side, StreamId};
    let t0 = epoch();
    let scenario = bottleneck(10.0, 50 * MS, 0.0, 4.0);
    let kind = congestion.kind;
    let transport = TransportConfig {
        congestion,
        ..TransportConfig::default()
    };
    let mut sim = Simulator::new(5, t0);
    let server = Endpoint::new(
        t0,
        EndpointConfig {
            seed: Seed::Fixed(1),
            ..EndpointConfig::insecure_fixed(0)
        },
        Some(ServerConfig {
            transport: transport.clone(),
            retry: RetryPolicy::Never,
            ..ServerConfig::default()
        }),
    )
    .expect("server");
    let mut client = Endpoint::new(
        t0,
        EndpointConfig {
            seed: Seed::Fixed(2),
            ..EndpointConfig::insecure_fixed(0)
        },
        None,
    )
    .expect("client");
    client.set_client_config(transport).expect("config");
    client.connect(t0, weir_tests::addr(2)).expect("connect");
    let seconds = Duration::from_secs(30);
    let sender = Both(
        BulkSender::new(BulkAmount::For(seconds), 0, false),
        GameSender::new(t0, 60, 200, GameTransport::Stream { priority: 10 }, seconds),
    );
    let bulk_id = StreamId::new(Side::Client, Dir::Uni, 0).expect("id");
    let game_id = StreamId::new(Side::Client, Dir::Uni, 1).expect("id");
    let mut game = GameReceiver::new(t0, 200);
    game.stream = Some(game_id);
    game.measure_from = Some(t0 + warm_up);
    let receiver = Both(
        BulkReceiver {
            stream: Some(bulk_id),
            ..BulkReceiver::default()
        },
        game,
    );
    let c = sim
        .add_node(weir_tests::addr(1), EndpointNode::new(client, sender))
        .expect("c");
    let s = sim
        .add_node(weir_tests::addr(2), EndpointNode::new(server, receiver))
        .expect("s");
    scenario.install(&mut sim, c, s).expect("links");
    sim.run_until(seconds + Duration::from_secs(2))
        .expect("run");
    let rx = &sim
        .node::<EndpointNode<Both<BulkReceiver, GameReceiver>>>(s)
        .expect("server")
        .app;
    assert!(
        rx.1.received > 1700,
        "{kind}: {} game messages arrived",
        rx.1.received
    );
    assert!(
        rx.0.received > 20_000_000,
        "{kind}: the bulk stream moved {} bytes",
        rx.0.received
    );
    (rx.1.delay_quantile(0.99), rx.1.delay_quantile(0.5))
}

#[test]
fn a_game_stream_beside_a_bulk_stream_stays_fast_with_vegas() {
    // Base one-way delay 25 ms; two 1200-byte serialisations at 10 Mbit/s are 1.92 ms.
    let bound = 25 * MS + Duration::from_micros(1920) + 10 * MS;
    let (p99, p50) = game_delay_p99(ControllerConfig::new(ControllerKind::Vegas), Duration::ZERO);
    assert!(
        p99 <= bound,
        "Vegas: p99 {p99:?} (p50 {p50:?}), bound {bound:?}"
    );
}

/// BBR's probes queue by design: the draft's ProbeBW_UP runs until the bandwidth stops
/// growing (up to a BDP queued every 2–3 s), and even a probe that stops at 1.25 × BDP queues a
/// quarter BDP — 12.5 ms here, beyond the 10 ms margin — for a round trip in every 50. With
/// `BbrConfig::low_latency` (short probes at gain 1.1) the game stream meets the bound once
/// Startup's queue has drained (the first 3 s; Startup itself overshoots to fill the pipe).
#[test]
fn a_game_stream_beside_a_bulk_stream_stays_fast_with_low_latency_bbr() {
    let bound = 25 * MS + Duration::from_micros(1920) + 10 * MS;
    let mut config = ControllerConfig::new(ControllerKind::Bbr);
    config.bbr = BbrConfig::low_latency();
    let (p99, p50) = game_delay_p99(config, Duration::from_secs(3));
    assert!(
        p99 <= bound,
        "BBR low latency: p99 {p99:?} (p50 {p50:?}), bound {bound:?}"
    );
}

#[test]
#[ignore = "report: prints the game flow's delay with every controller (cargo test -- --ignored --nocapture)"]
fn report_game_stream_delay_per_controller() {
    let mut short_probes = ControllerConfig::new(ControllerKind::Bbr);
    short_probes.bbr.short_probes = true;
    let mut low_latency = ControllerConfig::new(ControllerKind::Bbr);
    low_latency.bbr = BbrConfig::low_latency();
    let configs = [
        ("vegas", ControllerConfig::new(ControllerKind::Vegas)),
        ("bbr", ControllerConfig::new(ControllerKind::Bbr)),
        ("bbr, short probes", short_probes),
        ("bbr, low latency", low_latency),
        ("cubic", ControllerConfig::new(ControllerKind::Cubic)),
        ("newreno", ControllerConfig::new(ControllerKind::NewReno)),
    ];
    for (name, config) in configs {
        let (p99, p50) = game_delay_p99(config.clone(), Duration::ZERO);
        let (steady_p99, steady_p50) = game_delay_p99(config, Duration::from_secs(3));
        eprintln!(
            "{name}: game one-way delay p50 {p50:?}, p99 {p99:?}; after 3 s: p50 {steady_p50:?}, p99 {steady_p99:?}"
        );
    }
}

/// Goodput over the second half of a 30 s run as a share of what random loss `p` leaves of
/// the link, `capacity·(1−p)`, with BBR's parameters `bbr`.
fn bbr_share_of_lossless(
    rate_mbps: f64,
    rtt: Duration,
    loss: f64,
    seed: u64,
    bbr: BbrConfig,
) -> f64 {
    let mut flow = spec(ControllerKind::Bbr, 30, Duration::ZERO);
    flow.transport.congestion.bbr = bbr;
    let runs = run_bulk(
        epoch(),
        &bottleneck(rate_mbps, rtt, loss, 1.0),
        seed,
        &[flow],
        Duration::from_secs(40),
    )
    .expect("simulation");
    steady_share(&runs.flows[0], rate_mbps, 30) / (1.0 - loss)
}

/// Loss that no queue caused is not congestion (issue 12): BBR keeps sending at the path's
/// rate through random loss of 5, 15 and 25 %, where the draft's rule (a round losing more
/// than 2 %) and weir's earlier one (more than 4 %) collapsed to 61, 20 and 14 % at 10 Mbit/s ×
/// 50 ms, and to 9, 1 and 0.6 % at 100 Mbit/s × 100 ms. With the random-loss compensation
/// (pacing at `bw / (1 − p)`), measured over seeds 1–2: 0.94–0.97 at 5 %, 0.93–0.95 at 15 %,
/// 0.80–0.91 at 25 %. Seeds pick the losses.
#[test]
fn bbr_keeps_the_rate_through_random_loss() {
    for (rate, rtt) in [(10.0, 50 * MS), (100.0, 100 * MS)] {
        for (loss, floor) in [(0.05, 0.93), (0.15, 0.90), (0.25, 0.75)] {
            for seed in 1..=2 {
                let share = bbr_share_of_lossless(rate, rtt, loss, seed, BbrConfig::default());
                assert!(
                    share >= floor,
                    "{rate} Mbit/s × {rtt:?}, {loss} loss, seed {seed}: {share:.3} of capacity·(1−p)"
                );
            }
        }
    }
}

/// Without the compensation BBR paces at what the path delivers, `(1 − p)` of what it takes,
/// and leaves that share of the link idle between probes: at 15 % loss it keeps under 0.89 of
/// `capacity·(1−p)`, at least 0.025 less than the compensated run (measured, seeds 1–2: 0.885
/// and 0.864 against 0.933 and 0.948).
#[test]
fn random_loss_compensation_fills_what_the_delivery_rate_hides() {
    let plain = BbrConfig {
        random_loss_compensation: false,
        ..BbrConfig::default()
    };
    for seed in 1..=2 {
        let without = bbr_share_of_lossless(10.0, 50 * MS, 0.15, seed, plain);
        let with = bbr_share_of_lossless(10.0, 50 * MS, 0.15, seed, BbrConfig::default());
        assert!(
            without < 0.89 && with >= without + 0.025,
            "seed {seed}: {without:.3} without, {with:.3} with"
        );
    }
}

/// Telling random loss from a full queue must not cost fairness: two BBR flows through a
/// bottleneck that also loses 3 % at random still share it.
#[test]
fn two_bbr_flows_share_a_lossy_bottleneck_fairly() {
    assert_fair(ControllerKind::Bbr, &bottleneck(10.0, 50 * MS, 0.03, 1.0));
}

/// Nor the response to a queue that overflows: against a CUBIC flow that fills a 4-BDP buffer
/// (so every loss comes with a standing queue), BBR takes neither less than 30 % nor more than
/// 70 % of the link.
#[test]
fn bbr_beside_cubic_in_a_deep_buffer_takes_a_fair_share() {
    let flows = [
        spec(ControllerKind::Bbr, 30, Duration::ZERO),
        spec(ControllerKind::Cubic, 29, Duration::from_secs(1)),
    ];
    let runs = run_bulk(
        epoch(),
        &bottleneck(10.0, 50 * MS, 0.0, 4.0),
        11,
        &flows,
        Duration::from_secs(40),
    )
    .expect("simulation");
    let x = received_each(&runs, 10, 30);
    let bbr = x[0] / (x[0] + x[1]);
    assert!((0.3..=0.7).contains(&bbr), "BBR's share {bbr:.3} of {x:?}");
}

/// A Mahimahi trace whose capacity jumps every 1–5 s to a rate drawn log-uniformly from
/// 0.8–20 Mbit/s (a fixed-seed generator: the same trace on every run), `seconds` long.
fn cellular_like_trace(seed: u64, seconds: u64) -> weir_core::sim::DeliveryTrace {
    let mut state = seed;
    let mut next = move || {
        // SplitMix64: enough to draw the segments, and no dependency for it.
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut lines = String::new();
    let mut ms = 0u64;
    while ms < seconds * 1000 {
        let length = (1000.0 + next() * 4000.0) as u64;
        let mbps = (0.8f64.ln() + next() * (20.0f64.ln() - 0.8f64.ln())).exp();
        // 1500-byte opportunities per millisecond.
        let per_ms = mbps * 1e6 / 8.0 / 1500.0 / 1000.0;
        let mut credit = 0.0;
        for t in ms..ms + length {
            credit += per_ms;
            while credit >= 1.0 {
                lines.push_str(&format!("{}\n", t + 1));
                credit -= 1.0;
            }
        }
        ms += length;
    }
    weir_core::sim::DeliveryTrace::parse(&lines).expect("generated trace")
}

/// Goodput (bit/s) and the bottleneck's 95th-percentile queueing delay of one bulk flow with
/// `congestion` over `trace` (both directions), a 60 ms base RTT and a `queue`-byte buffer.
fn over_trace(
    congestion: ControllerConfig,
    trace: &weir_core::sim::DeliveryTrace,
    rtt: Duration,
    queue: usize,
    seconds: u64,
) -> (f64, Duration) {
    let scenario = Scenario::symmetric(
        "trace",
        "",
        LinkConfig::traced(trace.clone(), rtt / 2, queue),
    );
    let spec = BulkSpec {
        transport: TransportConfig {
            congestion,
            ..TransportConfig::default()
        },
        start: Duration::ZERO,
        amount: BulkAmount::For(Duration::from_secs(seconds)),
        sample_every: None,
        tls: false,
    };
    let runs = run_bulk(
        epoch(),
        &scenario,
        7,
        &[spec],
        Duration::from_secs(seconds + 10),
    )
    .expect("simulation");
    let run = &runs.flows[0];
    let span = run.last_byte.expect("data") - run.first_byte.expect("data");
    let goodput = run.received as f64 * 8.0 / span.as_secs_f64();
    (goodput, runs.forward.queue_delay_quantile(0.95))
}

/// Issue 12's cellular evidence: over links whose capacity swings tenfold within seconds, BBR
/// (weir's default, with its capacity-drop response) moves at least 0.9 × what CUBIC moves
/// (CUBIC fills the buffer, so it sets the ceiling) while keeping the bottleneck's p95
/// queueing delay within 150 ms; BBR without the drop response, which holds BBR.max_bw for two
/// probe cycles after a drop, queues more than three times as long. Measured: 0.95 × CUBIC
/// with a p95 of 118 ms (without the drop response 1.25 s, CUBIC 3.9 s) on the swing, 0.96 ×
/// with 111 ms (without 638 ms, CUBIC 1.1 s) on the walk. Two links: the README's square swing
/// between 12 and 1.2 Mbit/s every 4 s, and a random walk over 0.8–20 Mbit/s (a different
/// RTT and buffer).
#[test]
fn bbr_keeps_the_queue_short_on_links_whose_capacity_swings() {
    let swing = weir_core::sim::DeliveryTrace::parse(include_str!(
        "../../docs/traces/swing-12-1.2mbit.txt"
    ))
    .expect("trace");
    let walk = cellular_like_trace(1, 60);
    let cases = [
        (
            "swing 12/1.2 Mbit/s, 60 ms, 1 MB",
            &swing,
            60 * MS,
            1_000_000,
            40,
        ),
        ("random walk, 40 ms, 500 kB", &walk, 40 * MS, 500_000, 60),
    ];
    for (name, trace, rtt, queue, seconds) in cases {
        let run = |congestion| over_trace(congestion, trace, rtt, queue, seconds);
        let cubic = run(ControllerConfig::new(ControllerKind::Cubic));
        let bbr = run(ControllerConfig::new(ControllerKind::Bbr));
        let mut without_drop = ControllerConfig::new(ControllerKind::Bbr);
        without_drop.bbr.capacity_drop = false;
        let without_drop = run(without_drop);
        eprintln!(
            "{name}: cubic {cubic:?}, bbr {bbr:?}, bbr without the drop response {without_drop:?}"
        );
        assert!(
            bbr.0 >= 0.9 * cubic.0,
            "{name}: bbr {bbr:?} against cubic {cubic:?}"
        );
        assert!(bbr.1 <= 150 * MS, "{name}: bbr's p95 queue {:?}", bbr.1);
        assert!(
            without_drop.1 >= 3 * bbr.1,
            "{name}: the p95 queue without the drop response {:?}",
            without_drop.1
        );
    }
}

/// Reordering is not loss: a packet held back past the loss thresholds is declared lost, and
/// when the peer acknowledges it after all the connection reports the congestion event as
/// spurious and the controller undoes its reduction. Over a 20 Mbit/s, 40 ms path that holds
/// back 3 % of packets by 20 ms (half an RTT) the loss-based controllers kept 7–9 % of the link
/// without the undo (their window halved at every reordering) and 75–83 % with it (`weir sim
/// --flow bulk --rate 20mbit --rtt 40ms --reorder 3% --reorder-delay 20ms --buffer 1bdp
/// --controller newreno|cubic|vegas --duration 20s`: 75.3, 82.5 and 79.6 %; BBR, which does not
/// take such losses for congestion, 93.9 % either way).
#[test]
fn reordering_is_undone_as_spurious_loss() {
    let mut scenario = bottleneck(20.0, 40 * MS, 0.0, 1.0);
    scenario.forward.reorder = 0.03;
    scenario.forward.reorder_delay = 20 * MS;
    for kind in [
        ControllerKind::NewReno,
        ControllerKind::Cubic,
        ControllerKind::Vegas,
    ] {
        let (run, _) = one_flow(kind, &scenario, 20);
        let share = steady_share(&run, 20.0, 20);
        let stats = run.stats.expect("stats");
        assert!(share >= 0.6, "{kind}: {share:.3} of the link");
        assert!(
            stats.spurious_congestion_events * 2 >= stats.congestion_events,
            "{kind}: {} of {} congestion events spurious",
            stats.spurious_congestion_events,
            stats.congestion_events
        );
        assert!(stats.spurious_losses >= stats.spurious_congestion_events);
    }
}
