//! The simulator's link model checked against physics and statistics (DESIGN.md §6).

use std::collections::BTreeSet;
use std::time::Duration;

use weir_core::sim::{
    Bitrate, CbrSource, DropCause, GilbertElliott, LinkConfig, LossModel, ProbeSink, Schedule,
    Simulator, TraceKind,
};
use weir_tests::{Recorder, ScriptedSource, addr, epoch};

const MS: Duration = Duration::from_millis(1);

/// A source and a recorder joined by `forward` (and an ideal reverse link).
fn pair(
    seed: u64,
    source: impl FnOnce(std::time::Instant) -> ScriptedSource,
    forward: LinkConfig,
) -> (Simulator, weir_core::sim::NodeId, weir_core::sim::LinkId) {
    let t0 = epoch();
    let mut sim = Simulator::new(seed, t0);
    let src = sim.add_node(addr(1), source(t0)).expect("source");
    let dst = sim.add_node(addr(2), Recorder::new(t0)).expect("recorder");
    let (link, _) = sim
        .connect(src, dst, forward, LinkConfig::default())
        .expect("link");
    (sim, dst, link)
}

fn recorder(sim: &Simulator, id: weir_core::sim::NodeId) -> &Recorder {
    sim.node::<Recorder>(id).expect("recorder node")
}

#[test]
fn propagation_delay_is_exact() {
    let delay = Duration::from_micros(37_123);
    let cfg = LinkConfig {
        delay,
        ..LinkConfig::default()
    };
    let (mut sim, dst, _) = pair(
        1,
        |t0| ScriptedSource::periodic(t0, addr(2), 1000, 200, Duration::from_micros(731)),
        cfg,
    );
    sim.run_for(Duration::from_secs(2)).expect("run");
    let rec = recorder(&sim, dst);
    assert_eq!(rec.arrivals.len(), 1000);
    for (k, a) in rec.arrivals.iter().enumerate() {
        let sent = Duration::from_micros(731) * k as u32;
        assert_eq!(a.at - sent, delay, "packet {k}");
    }
}

#[test]
fn delay_through_an_idle_bottleneck_is_propagation_plus_serialisation() {
    // 1250 bytes at 10 Mbit/s serialise in exactly 1 ms.
    let cfg = LinkConfig::bottleneck(Bitrate::from_mbps(10), 20 * MS, 100_000);
    let (mut sim, dst, _) = pair(
        1,
        |t0| ScriptedSource::periodic(t0, addr(2), 50, 1250, 10 * MS),
        cfg,
    );
    sim.run_for(Duration::from_secs(1)).expect("run");
    for (k, a) in recorder(&sim, dst).arrivals.iter().enumerate() {
        assert_eq!(a.at, 10 * MS * k as u32 + 21 * MS, "packet {k}");
    }
}

#[test]
fn a_sender_above_the_bottleneck_gets_at_most_the_rate_through() {
    let rate = Bitrate::from_mbps(10);
    let t0 = epoch();
    let mut sim = Simulator::new(3, t0);
    let run = Duration::from_secs(10);
    let src = sim
        .add_node(
            addr(1),
            CbrSource::new(addr(2), Bitrate::from_mbps(25), 1200, t0, run).expect("probe"),
        )
        .expect("source");
    let dst = sim.add_node(addr(2), ProbeSink::new(t0)).expect("sink");
    let (link, _) = sim
        .connect(
            src,
            dst,
            LinkConfig::bottleneck(rate, 25 * MS, 62_500),
            LinkConfig::default(),
        )
        .expect("link");
    sim.run_until(run).expect("run");
    let got = sim
        .node::<ProbeSink>(dst)
        .expect("sink")
        .report()
        .received
        .bytes;
    // Everything that arrived by `run` left the bottleneck by `run − delay`.
    let capacity = rate.bytes_in(run - 25 * MS);
    assert!(got <= capacity, "delivered {got} B > capacity {capacity} B");
    // The link never idles while overloaded: at least capacity minus one queue and one packet.
    assert!(
        got + 62_500 + 1200 >= capacity,
        "delivered {got} B, capacity {capacity} B"
    );
    let stats = sim.link_stats(link).expect("stats");
    assert!(stats.dropped.get(DropCause::QueueFull).packets > 0);
    assert!(
        stats.utilisation(run) > 0.99,
        "utilisation {}",
        stats.utilisation(run)
    );
    assert!(stats.peak_queue_bytes <= 62_500);
}

#[test]
fn queueing_delay_equals_queued_bytes_over_rate() {
    // A burst of 40 datagrams of 1000 bytes at t=0 into an idle 8 Mbit/s link: datagram k waits
    // for the k before it, k × 1000 B / 1 MB/s = k ms.
    let cfg = LinkConfig::bottleneck(Bitrate::from_mbps(8), 5 * MS, 1_000_000);
    let script = (0..40).map(|_| (Duration::ZERO, 1000));
    let (mut sim, dst, link) = pair(1, |t0| ScriptedSource::new(t0, addr(2), script), cfg);
    sim.set_trace_capacity(10_000);
    sim.run_for(Duration::from_secs(1)).expect("run");
    let delays: Vec<Duration> = sim
        .trace()
        .events()
        .iter()
        .filter_map(|e| match e.kind {
            TraceKind::Departed { queue_delay, .. } => Some(queue_delay),
            _ => None,
        })
        .collect();
    assert_eq!(delays.len(), 40);
    for (k, d) in delays.iter().enumerate() {
        assert_eq!(*d, MS * k as u32, "datagram {k}");
    }
    for (k, a) in recorder(&sim, dst).arrivals.iter().enumerate() {
        assert_eq!(a.at, MS * (k as u32 + 1) + 5 * MS);
    }
    let stats = sim.link_stats(link).expect("stats");
    assert_eq!(stats.peak_queue_bytes, 39_000);
}

#[test]
fn standing_queue_delay_matches_buffer_over_rate() {
    // Overloaded with a 50 000-byte buffer at 4 Mbit/s (500 kB/s): a full queue takes 100 ms to
    // drain, so every datagram after the queue fills waits 100 ms minus at most one datagram.
    let rate = Bitrate::from_mbps(4);
    let cfg = LinkConfig::bottleneck(rate, 10 * MS, 50_000);
    let (mut sim, _, link) = pair(
        9,
        |t0| ScriptedSource::periodic(t0, addr(2), 4000, 1000, MS),
        cfg,
    );
    sim.set_trace_capacity(100_000);
    sim.run_for(Duration::from_secs(6)).expect("run");
    let one_packet = rate.transmit_time(1000);
    let steady: Vec<Duration> = sim
        .trace()
        .events()
        .iter()
        .filter(|e| e.at > Duration::from_secs(1))
        .filter_map(|e| match e.kind {
            TraceKind::Departed { queue_delay, .. } => Some(queue_delay),
            _ => None,
        })
        .collect();
    assert!(steady.len() > 1000);
    let full = rate.transmit_time(50_000);
    for d in steady {
        assert!(
            d <= full + one_packet && d + one_packet >= full,
            "queue delay {d:?} vs {full:?}"
        );
    }
    let stats = sim.link_stats(link).expect("stats");
    let p50 = stats.queue_delay_quantile(0.5);
    assert!(
        p50 >= 98 * MS && p50 <= 102 * MS,
        "median queue delay {p50:?}"
    );
}

/// Exact-enough two-sided binomial check: |k − np| ≤ z·√(np(1−p)) with z for 99.9 %.
fn within_binomial_999(k: u64, n: u64, p: f64) -> bool {
    let mean = n as f64 * p;
    let sd = (n as f64 * p * (1.0 - p)).sqrt();
    (k as f64 - mean).abs() <= 3.2905 * sd
}

#[test]
fn random_loss_lands_in_its_binomial_interval() {
    for (seed, p) in [(11, 0.01), (12, 0.05), (13, 0.2)] {
        let n = 120_000u64;
        let cfg = LinkConfig {
            loss: LossModel::Random { p },
            ..LinkConfig::default()
        };
        let (mut sim, dst, link) = pair(
            seed,
            |t0| ScriptedSource::periodic(t0, addr(2), n, 64, Duration::from_micros(10)),
            cfg,
        );
        sim.run_for(Duration::from_secs(2)).expect("run");
        let lost = n - recorder(&sim, dst).arrivals.len() as u64;
        assert!(within_binomial_999(lost, n, p), "p={p}: lost {lost} of {n}");
        let stats = sim.link_stats(link).expect("stats");
        assert_eq!(stats.dropped.get(DropCause::RandomLoss).packets, lost);
    }
}

/// Lengths of the runs of consecutive missing sequence numbers below `n`.
fn loss_runs(received: &BTreeSet<u64>, n: u64) -> Vec<u64> {
    let mut runs = Vec::new();
    let mut current = 0;
    for seq in 0..n {
        if received.contains(&seq) {
            if current > 0 {
                runs.push(current);
            }
            current = 0;
        } else {
            current += 1;
        }
    }
    if current > 0 {
        runs.push(current);
    }
    runs
}

#[test]
fn gilbert_elliott_bursts_match_their_parameters() {
    let n = 200_000u64;
    let ge = GilbertElliott::from_loss_and_burst(0.05, 4.0).expect("parameters");
    let cfg = LinkConfig {
        loss: LossModel::GilbertElliott(ge),
        ..LinkConfig::default()
    };
    let (mut sim, dst, link) = pair(
        21,
        |t0| ScriptedSource::periodic(t0, addr(2), n, 64, Duration::from_micros(10)),
        cfg,
    );
    sim.run_for(Duration::from_secs(3)).expect("run");
    let received: BTreeSet<u64> = recorder(&sim, dst).seqs().into_iter().collect();
    let runs = loss_runs(&received, n);
    let lost: u64 = runs.iter().sum();
    let mean_burst = lost as f64 / runs.len() as f64;
    // ~2 500 bursts of geometric length (variance (1−r)/r² = 12): the sample mean has a standard
    // error of ≈0.07 packets; ±0.3 is over four standard errors.
    assert!((mean_burst - 4.0).abs() < 0.3, "mean burst {mean_burst}");
    let loss = lost as f64 / n as f64;
    assert!((loss - 0.05).abs() < 0.0075, "loss rate {loss}");
    assert_eq!(
        sim.link_stats(link)
            .expect("stats")
            .dropped
            .get(DropCause::BurstLoss)
            .packets,
        lost
    );

    // The same loss rate without bursts has runs of mean 1 / (1 − p) ≈ 1.05.
    let cfg = LinkConfig {
        loss: LossModel::Random { p: 0.05 },
        ..LinkConfig::default()
    };
    let (mut sim, dst, _) = pair(
        21,
        |t0| ScriptedSource::periodic(t0, addr(2), n, 64, Duration::from_micros(10)),
        cfg,
    );
    sim.run_for(Duration::from_secs(3)).expect("run");
    let received: BTreeSet<u64> = recorder(&sim, dst).seqs().into_iter().collect();
    let runs = loss_runs(&received, n);
    let mean_run = runs.iter().sum::<u64>() as f64 / runs.len() as f64;
    assert!((mean_run - 1.0 / 0.95).abs() < 0.05, "mean run {mean_run}");
}

#[test]
fn reordering_never_loses_packets() {
    let n = 20_000u64;
    let cfg = LinkConfig {
        delay: 10 * MS,
        jitter: 2 * MS,
        reorder: 0.1,
        reorder_delay: 3 * MS,
        ..LinkConfig::default()
    };
    let (mut sim, dst, link) = pair(
        5,
        |t0| ScriptedSource::periodic(t0, addr(2), n, 100, Duration::from_micros(250)),
        cfg,
    );
    sim.run_for(Duration::from_secs(10)).expect("run");
    let seqs = recorder(&sim, dst).seqs();
    let unique: BTreeSet<u64> = seqs.iter().copied().collect();
    assert_eq!(seqs.len() as u64, n, "no loss, no duplicates");
    assert_eq!(unique, (0..n).collect::<BTreeSet<_>>());
    let out_of_order = seqs.windows(2).filter(|w| w[1] < w[0]).count();
    assert!(out_of_order > 1000, "only {out_of_order} inversions");
    let reordered = sim.link_stats(link).expect("stats").reordered;
    assert!(
        within_binomial_999(reordered, n, 0.1),
        "reordered {reordered}"
    );
}

#[test]
fn jitter_alone_keeps_fifo_order() {
    let cfg = LinkConfig {
        delay: 30 * MS,
        jitter: 20 * MS,
        ..LinkConfig::default()
    };
    let (mut sim, dst, _) = pair(
        8,
        |t0| ScriptedSource::periodic(t0, addr(2), 5000, 100, MS),
        cfg,
    );
    sim.run_for(Duration::from_secs(10)).expect("run");
    let rec = recorder(&sim, dst);
    assert_eq!(rec.seqs(), (0..5000).collect::<Vec<_>>());
    let one_way: Vec<Duration> = rec
        .arrivals
        .iter()
        .enumerate()
        .map(|(k, a)| a.at - MS * k as u32)
        .collect();
    assert!(one_way.iter().all(|d| *d >= 30 * MS && *d <= 50 * MS));
    assert!(
        one_way.iter().any(|d| *d >= 45 * MS),
        "jitter spreads delays"
    );
}

#[test]
fn duplication_and_corruption_are_counted_and_real() {
    let n = 50_000u64;
    let cfg = LinkConfig {
        duplicate: 0.02,
        corrupt: 0.03,
        ..LinkConfig::default()
    };
    let (mut sim, dst, link) = pair(
        6,
        |t0| ScriptedSource::periodic(t0, addr(2), n, 64, Duration::from_micros(20)),
        cfg,
    );
    sim.run_for(Duration::from_secs(2)).expect("run");
    let stats = sim.link_stats(link).expect("stats").clone();
    let rec = recorder(&sim, dst);
    assert_eq!(rec.arrivals.len() as u64, n + stats.duplicated);
    assert!(
        within_binomial_999(stats.duplicated, n, 0.02),
        "duplicated {}",
        stats.duplicated
    );
    assert!(
        within_binomial_999(stats.corrupted, n, 0.03),
        "corrupted {}",
        stats.corrupted
    );
    // A corrupted datagram differs from what was sent in exactly one bit.
    let flipped: u64 = rec
        .arrivals
        .iter()
        .map(|a| {
            let mut original = a.data.to_vec();
            original[8..].fill(0xab);
            let diff: u32 = a.data[8..]
                .iter()
                .zip(&original[8..])
                .map(|(x, y)| (x ^ y).count_ones())
                .sum();
            assert!(diff <= 1);
            u64::from(diff)
        })
        .sum();
    // Flips in the sequence-number bytes cannot be seen against a reconstruction; the rest can.
    assert!(flipped > 0 && flipped <= stats.corrupted);
}

#[test]
fn datagrams_above_the_mtu_are_dropped() {
    let cfg = LinkConfig {
        mtu: 1200,
        ..LinkConfig::default()
    };
    let script = [(Duration::ZERO, 1200), (MS, 1201), (2 * MS, 800)];
    let (mut sim, dst, link) = pair(1, |t0| ScriptedSource::new(t0, addr(2), script), cfg);
    sim.run_for(Duration::from_secs(1)).expect("run");
    assert_eq!(recorder(&sim, dst).seqs(), vec![0, 2]);
    let too_big = sim
        .link_stats(link)
        .expect("stats")
        .dropped
        .get(DropCause::TooBig);
    assert_eq!((too_big.packets, too_big.bytes), (1, 1201));
}

#[test]
fn schedules_change_links_at_their_time() {
    // 1 Mbit/s for the first second, an outage for the second, 1 Mbit/s again after.
    let base = LinkConfig::bottleneck(Bitrate::from_mbps(1), 10 * MS, 10_000);
    let outage = LinkConfig {
        loss: LossModel::Random { p: 1.0 },
        ..base.clone()
    };
    let (mut sim, dst, link) = pair(
        2,
        |t0| ScriptedSource::periodic(t0, addr(2), 300, 100, 10 * MS),
        base.clone(),
    );
    let schedule = Schedule::new()
        .at(Duration::from_secs(1), outage)
        .at(Duration::from_secs(2), base);
    sim.schedule(link, &schedule).expect("schedule");
    sim.run_for(Duration::from_secs(4)).expect("run");
    let seqs = recorder(&sim, dst).seqs();
    // Datagrams 100..200 are sent during the outage (each leaves the 0.8 ms serialisation
    // within its own 10 ms slot, so none straddles a change).
    assert_eq!(seqs, (0..100).chain(200..300).collect::<Vec<_>>());
}

#[test]
fn a_shared_bottleneck_carries_at_most_its_rate_for_all_flows() {
    let t0 = epoch();
    let mut sim = Simulator::new(4, t0);
    let rate = Bitrate::from_mbps(8);
    let bottleneck = sim
        .add_link(LinkConfig::bottleneck(rate, 10 * MS, 40_000))
        .expect("link");
    let run = Duration::from_secs(5);
    let mut sinks = Vec::new();
    for k in 0..2u8 {
        let sink_addr = addr(10 + k);
        let src = sim
            .add_node(
                addr(1 + k),
                CbrSource::new(sink_addr, Bitrate::from_mbps(6), 1000, t0, run).expect("probe"),
            )
            .expect("source");
        let sink = sim.add_node(sink_addr, ProbeSink::new(t0)).expect("sink");
        sim.route(src, sink, &[bottleneck]).expect("route");
        sinks.push(sink);
    }
    sim.run_until(run).expect("run");
    let total: u64 = sinks
        .iter()
        .map(|s| {
            sim.node::<ProbeSink>(*s)
                .expect("sink")
                .report()
                .received
                .bytes
        })
        .sum();
    let capacity = rate.bytes_in(run);
    assert!(
        total <= capacity && total >= capacity * 97 / 100,
        "{total} of {capacity}"
    );
}

fn digest_of(seed: u64) -> (u64, Vec<weir_core::sim::TraceEvent>) {
    let cfg = LinkConfig {
        delay: 20 * MS,
        jitter: 5 * MS,
        loss: LossModel::GilbertElliott(
            GilbertElliott::from_loss_and_burst(0.05, 3.0).expect("ge"),
        ),
        rate: Some(Bitrate::from_mbps(2)),
        queue_bytes: 20_000,
        reorder: 0.05,
        reorder_delay: 4 * MS,
        duplicate: 0.01,
        corrupt: 0.01,
        mtu: 1400,
        trace: None,
        ecn: weir_core::sim::LinkEcn::Pass,
    };
    let (mut sim, _, _) = pair(
        seed,
        |t0| ScriptedSource::periodic(t0, addr(2), 5000, 600, Duration::from_micros(1500)),
        cfg,
    );
    sim.set_trace_capacity(1_000_000);
    sim.run_for(Duration::from_secs(10)).expect("run");
    assert!(!sim.trace().truncated());
    (sim.trace().digest(), sim.trace().events().to_vec())
}

#[test]
fn the_same_seed_gives_the_identical_trace() {
    let (a, events_a) = digest_of(42);
    let (b, events_b) = digest_of(42);
    assert_eq!(a, b);
    assert_eq!(events_a, events_b);
    let (c, _) = digest_of(43);
    assert_ne!(a, c, "another seed gives another trace");
}

#[test]
fn unroutable_datagrams_are_counted() {
    let t0 = epoch();
    let mut sim = Simulator::new(1, t0);
    sim.add_node(addr(1), ScriptedSource::periodic(t0, addr(99), 3, 100, MS))
        .expect("source");
    sim.run_for(Duration::from_secs(1)).expect("run");
    assert_eq!(sim.unroutable().packets, 3);
}

/// A node whose timer never moves forward.
struct Stuck;

impl weir_core::sim::Node for Stuck {
    fn handle_datagram(
        &mut self,
        _: std::time::Instant,
        _: std::net::SocketAddr,
        _: Option<weir_core::EcnCodepoint>,
        _: bytes::BytesMut,
    ) {
    }
    fn handle_timeout(&mut self, _: std::time::Instant) {}
    fn poll_transmit(
        &mut self,
        _: std::time::Instant,
        _: &mut Vec<u8>,
    ) -> Option<weir_core::Transmit> {
        None
    }
    fn poll_timeout(&mut self) -> Option<std::time::Instant> {
        Some(std::time::Instant::now() - Duration::from_secs(3600))
    }
}

#[test]
fn a_node_that_never_lets_time_advance_is_reported() {
    let mut sim = Simulator::new(1, epoch());
    sim.add_node(addr(1), Stuck).expect("node");
    sim.set_max_rounds_per_instant(100);
    let err = sim
        .run_for(Duration::from_secs(1))
        .expect_err("stall detected");
    assert!(
        matches!(err, weir_core::sim::SimError::Stalled { rounds: 100, .. }),
        "{err}"
    );
}

#[test]
fn misuse_gets_typed_errors() {
    let t0 = epoch();
    let mut sim = Simulator::new(1, t0);
    let a = sim.add_node(addr(1), Recorder::new(t0)).expect("node");
    assert!(matches!(
        sim.add_node(addr(1), Recorder::new(t0)),
        Err(weir_core::sim::SimError::DuplicateAddress(_))
    ));
    assert!(matches!(
        sim.route(a, a, &[]),
        Err(weir_core::sim::SimError::EmptyRoute { .. })
    ));
    let bad = LinkConfig {
        loss: LossModel::Random { p: 2.0 },
        ..LinkConfig::default()
    };
    assert!(matches!(
        sim.add_link(bad),
        Err(weir_core::sim::SimError::InvalidLink(_))
    ));
}

#[test]
fn multi_hop_routes_add_delays_and_queue_at_each_link() {
    // Access link 100 Mbit/s, 5 ms; then a 1 Mbit/s bottleneck, 20 ms. A burst of 5 datagrams of
    // 125 bytes (1 ms each at the bottleneck) queues only at the bottleneck.
    let t0 = epoch();
    let mut sim = Simulator::new(1, t0);
    sim.set_trace_capacity(1000);
    let script = (0..5).map(|_| (Duration::ZERO, 125));
    let src = sim
        .add_node(addr(1), ScriptedSource::new(t0, addr(2), script))
        .expect("source");
    let dst = sim.add_node(addr(2), Recorder::new(t0)).expect("recorder");
    let access = sim
        .add_link(LinkConfig::bottleneck(
            Bitrate::from_mbps(100),
            5 * MS,
            10_000,
        ))
        .expect("access");
    let bottleneck = sim
        .add_link(LinkConfig::bottleneck(
            Bitrate::from_mbps(1),
            20 * MS,
            10_000,
        ))
        .expect("bottleneck");
    sim.route(src, dst, &[access, bottleneck]).expect("route");
    sim.run_for(Duration::from_secs(1)).expect("run");
    let at_bottleneck: Vec<Duration> = sim
        .trace()
        .events()
        .iter()
        .filter_map(|e| match e.kind {
            TraceKind::Departed { link, queue_delay } if link == bottleneck => Some(queue_delay),
            _ => None,
        })
        .collect();
    // Datagram k reaches the bottleneck at 5 ms + (k+1)·10 µs and leaves it at 5.01 ms + k ms.
    let access_tx = Bitrate::from_mbps(100).transmit_time(125);
    let expected: Vec<Duration> = (0..5u32)
        .map(|k| (MS * k).saturating_sub(access_tx * k))
        .collect();
    assert_eq!(at_bottleneck, expected);
    let arrivals: Vec<Duration> = recorder(&sim, dst).arrivals.iter().map(|a| a.at).collect();
    let first = access_tx + 5 * MS + MS + 20 * MS;
    assert_eq!(
        arrivals,
        (0..5u32).map(|k| first + MS * k).collect::<Vec<_>>()
    );
}

#[test]
fn packets_in_flight_are_conserved() {
    let cfg = LinkConfig {
        delay: 10 * MS,
        loss: LossModel::Random { p: 0.1 },
        duplicate: 0.1,
        ..LinkConfig::bottleneck(Bitrate::from_mbps(1), 10 * MS, 5_000)
    };
    let (mut sim, dst, _) = pair(
        3,
        |t0| ScriptedSource::periodic(t0, addr(2), 2000, 500, MS),
        cfg,
    );
    sim.run_for(Duration::from_millis(500)).expect("run");
    assert!(sim.packets_in_flight() > 0);
    while sim.packets_in_flight() > 0 {
        assert!(
            sim.step().expect("step"),
            "in-flight packets imply pending events"
        );
    }
    assert_eq!(
        sim.delivered().packets,
        recorder(&sim, dst).arrivals.len() as u64
    );
    assert!(!sim.step().expect("step"), "nothing left to do");
}
