//! Time-varying paths in the simulator: named schedules change the link at their virtual times,
//! and a Mahimahi trace link carries what its delivery opportunities allow (DESIGN.md §6).

use std::time::Duration;

use weir_core::config::TransportConfig;
use weir_core::sim::flows::BulkAmount;
use weir_core::sim::runs::{BulkSpec, run_bulk};
use weir_core::sim::schedules;
use weir_core::sim::{
    Bitrate, DeliveryTrace, DropCause, LinkConfig, LinkId, NodeId, Scenario, Schedule, Simulator,
};
use weir_tests::{Recorder, ScriptedSource, addr, epoch};

const MS: Duration = Duration::from_millis(1);

/// A scripted source and a recorder over `scenario`'s links; returns the recorder and the
/// forward link.
fn probe_over(
    seed: u64,
    scenario: &Scenario,
    script: impl IntoIterator<Item = (Duration, usize)>,
) -> (Simulator, NodeId, LinkId) {
    let t0 = epoch();
    let mut sim = Simulator::new(seed, t0);
    let src = sim
        .add_node(addr(1), ScriptedSource::new(t0, addr(2), script))
        .expect("source");
    let dst = sim.add_node(addr(2), Recorder::new(t0)).expect("recorder");
    let (forward, _) = scenario.install(&mut sim, src, dst).expect("links");
    (sim, dst, forward)
}

fn every(interval: Duration, until: Duration, size: usize) -> Vec<(Duration, usize)> {
    let count = (until.as_nanos() / interval.as_nanos()) as u32;
    (0..count).map(|k| (interval * k, size)).collect()
}

/// Bits per second the recorder received in `[from, to)`.
fn received_rate(rec: &Recorder, from: Duration, to: Duration) -> f64 {
    let bytes: usize = rec
        .arrivals
        .iter()
        .filter(|a| a.at >= from && a.at < to)
        .map(|a| a.data.len())
        .sum();
    bytes as f64 * 8.0 / (to - from).as_secs_f64()
}

#[test]
fn train_tunnel_changes_delay_at_its_phase_times() {
    let scenario = schedules::named("train-tunnel").expect("named schedule");
    // A light probe (100 bytes every 100 ms) never queues, even on 2G: its one-way delay is the
    // phase's propagation delay plus one serialisation.
    let (mut sim, dst, _) = probe_over(1, &scenario, every(100 * MS, Duration::from_secs(80), 100));
    sim.run_for(Duration::from_secs(82)).expect("run");
    let rec = sim.node::<Recorder>(dst).expect("recorder");
    let one_way = |a: &weir_tests::Arrival| {
        let seq = a.seq.expect("sequence number");
        a.at - 100 * MS * u32::try_from(seq).expect("small")
    };
    let mut phases = [(0usize, Duration::MAX, Duration::ZERO); 3];
    for a in &rec.arrivals {
        let sent = a.at - one_way(a);
        let phase = match sent.as_secs() {
            0..30 => 0,
            30..50 => 1,
            _ => 2,
        };
        let p = &mut phases[phase];
        p.0 += 1;
        p.1 = p.1.min(one_way(a));
        p.2 = p.2.max(one_way(a));
    }
    let serialise = |rate: Bitrate| rate.transmit_time(100);
    assert_eq!(phases[0].1, 10 * MS + serialise(Bitrate::from_mbps(30)));
    assert_eq!(phases[0].2, phases[0].1);
    assert_eq!(phases[1].1, 300 * MS + serialise(Bitrate::from_kbps(100)));
    assert_eq!(phases[2].1, 30 * MS + serialise(Bitrate::from_mbps(12)));
    // 8 % bursty loss in the tunnel, 0.1 % and 0.5 % around it (200 probes per phase: loose).
    let lost = |p: usize, sent: usize| 1.0 - phases[p].0 as f64 / sent as f64;
    assert!(lost(0, 300) < 0.02, "{}", lost(0, 300));
    assert!((0.02..0.2).contains(&lost(1, 200)), "{}", lost(1, 200));
    assert!(lost(2, 300) < 0.03, "{}", lost(2, 300));
}

#[test]
fn train_tunnel_throughput_follows_each_phase() {
    let scenario = schedules::named("train-tunnel").expect("named schedule");
    // 40 Mbit/s offered: more than any phase carries.
    let (mut sim, dst, forward) = probe_over(
        3,
        &scenario,
        every(Duration::from_micros(240), Duration::from_secs(80), 1200),
    );
    sim.run_for(Duration::from_secs(81)).expect("run");
    let rec = sim.node::<Recorder>(dst).expect("recorder");
    let s = Duration::from_secs;
    let wifi = received_rate(rec, s(2), s(30));
    let tunnel = received_rate(rec, s(35), s(50));
    let lte = received_rate(rec, s(55), s(80));
    assert!((29.5e6..30.0e6).contains(&wifi), "{wifi}");
    // 100 kbit/s less 8 % loss (loose: bursts make a 15 s window noisy).
    assert!((80e3..100e3).contains(&tunnel), "{tunnel}");
    assert!((11.8e6..12.0e6).contains(&lte), "{lte}");
    let stats = sim.link_stats(forward).expect("stats");
    assert!(stats.dropped.get(DropCause::QueueFull).packets > 0);
    assert!(stats.dropped.get(DropCause::BurstLoss).packets > 0);
}

#[test]
fn wifi_handover_drops_everything_during_the_gap() {
    let scenario = schedules::named("wifi-handover").expect("named schedule");
    let (mut sim, dst, _) = probe_over(1, &scenario, every(10 * MS, Duration::from_secs(25), 200));
    sim.run_for(Duration::from_secs(26)).expect("run");
    let rec = sim.node::<Recorder>(dst).expect("recorder");
    let sent_at =
        |a: &weir_tests::Arrival| 10 * MS * u32::try_from(a.seq.expect("seq")).expect("small");
    let in_gap = rec
        .arrivals
        .iter()
        .filter(|a| (20_000 * MS..21_500 * MS).contains(&sent_at(a)))
        .count();
    assert_eq!(in_gap, 0);
    let after = rec
        .arrivals
        .iter()
        .filter(|a| sent_at(a) >= 21_500 * MS)
        .count();
    assert!(after > 300, "{after}");
}

fn traced(trace: DeliveryTrace, queue_bytes: usize) -> Scenario {
    Scenario::symmetric("trace", "", LinkConfig::traced(trace, 10 * MS, queue_bytes))
}

#[test]
fn one_opportunity_per_millisecond_carries_twelve_megabit() {
    let trace = DeliveryTrace::parse("1\n").expect("trace");
    // 18.7 Mbit/s offered for 10 s into a 30 kB queue.
    let (mut sim, dst, forward) = probe_over(
        1,
        &traced(trace, 30_000),
        every(Duration::from_micros(600), Duration::from_secs(10), 1400),
    );
    sim.run_for(Duration::from_secs(11)).expect("run");
    let rec = sim.node::<Recorder>(dst).expect("recorder");
    let rate = received_rate(rec, Duration::from_secs(1), Duration::from_secs(10));
    // Exactly 1500 bytes per millisecond, whatever the packet size.
    assert!((rate - 12e6).abs() < 12e6 * 0.001, "{rate}");
    let stats = sim.link_stats(forward).expect("stats");
    assert!(stats.dropped.get(DropCause::QueueFull).packets > 5_000);
    assert!(stats.peak_queue_bytes <= 30_000);
    // Arrivals land on whole milliseconds plus the propagation delay.
    assert!(
        rec.arrivals
            .iter()
            .all(|a| (a.at - 10 * MS).subsec_nanos().is_multiple_of(1_000_000))
    );
}

#[test]
fn an_opportunity_carries_small_packets_together_and_large_ones_in_parts() {
    let trace = DeliveryTrace::parse("10\n").expect("trace");
    let mut scenario = traced(trace, 100_000);
    scenario.forward.mtu = 4000;
    scenario.forward.delay = Duration::ZERO;
    // Three 500-byte packets at 1 ms share the opportunity at 10 ms; a 3000-byte one sent at
    // 11 ms needs the opportunities at 20 and 30 ms; a 400-byte one sent at 40 ms, exactly on an
    // opportunity, waits for the next (an opportunity serves what was queued before its instant).
    let script = [
        (MS, 500),
        (MS, 500),
        (MS, 500),
        (11 * MS, 3000),
        (40 * MS, 400),
    ];
    let (mut sim, dst, _) = probe_over(1, &scenario, script);
    sim.run_for(Duration::from_millis(100)).expect("run");
    let rec = sim.node::<Recorder>(dst).expect("recorder");
    let at: Vec<u64> = rec
        .arrivals
        .iter()
        .map(|a| a.at.as_millis() as u64)
        .collect();
    assert_eq!(at, [10, 10, 10, 30, 50]);
}

#[test]
fn weir_bulk_goodput_matches_the_trace_rate() {
    let trace = DeliveryTrace::parse("1\n").expect("trace");
    // 2 BDP at 12 Mbit/s and a 20 ms RTT.
    let scenario = traced(trace, 60_000);
    let spec = BulkSpec {
        transport: TransportConfig::default(),
        start: Duration::ZERO,
        amount: BulkAmount::For(Duration::from_secs(20)),
        sample_every: None,
        tls: false,
    };
    let runs = run_bulk(epoch(), &scenario, 1, &[spec], Duration::from_secs(25)).expect("run");
    let run = &runs.flows[0];
    let span = run.last_byte.expect("data") - run.first_byte.expect("data");
    let goodput = run.received as f64 * 8.0 / span.as_secs_f64();
    // The link carries 12 Mbit/s of datagrams; headers and the start-up cost the rest.
    assert!((11.0e6..12.0e6).contains(&goodput), "{goodput}");
    assert!(runs.forward.peak_queue_bytes <= 60_000);
}

#[test]
fn sample_swing_trace_alternates_tenfold() {
    let trace = DeliveryTrace::parse(include_str!("../../docs/traces/swing-12-1.2mbit.txt"))
        .expect("trace");
    let scenario = traced(trace.clone(), 60_000);
    let (mut sim, dst, _) = probe_over(
        1,
        &scenario,
        every(Duration::from_micros(600), Duration::from_secs(16), 1400),
    );
    sim.run_for(Duration::from_secs(17)).expect("run");
    let rec = sim.node::<Recorder>(dst).expect("recorder");
    let s = Duration::from_secs;
    let high = received_rate(rec, s(1), s(4));
    let low = received_rate(rec, s(5), s(8));
    assert!((11.5e6..12.1e6).contains(&high), "{high}");
    assert!((1.1e6..1.25e6).contains(&low), "{low}");
    assert_eq!(trace.period(), s(8));
}

#[test]
fn a_schedule_can_switch_between_rate_and_trace() {
    let trace = DeliveryTrace::parse("1\n").expect("trace");
    let rate = LinkConfig::bottleneck(Bitrate::from_mbps(2), 10 * MS, 30_000);
    let traced = LinkConfig::traced(trace, 10 * MS, 30_000);
    let mut scenario = Scenario::symmetric("switch", "", rate.clone());
    scenario.forward_schedule = Schedule::new()
        .at(Duration::from_secs(2), traced)
        .at(Duration::from_secs(4), rate);
    let (mut sim, dst, _) = probe_over(
        1,
        &scenario,
        every(Duration::from_micros(600), Duration::from_secs(6), 1400),
    );
    sim.run_for(Duration::from_secs(7)).expect("run");
    let rec = sim.node::<Recorder>(dst).expect("recorder");
    let s = Duration::from_millis;
    let slow = received_rate(rec, s(500), s(2000));
    let fast = received_rate(rec, s(2500), s(4000));
    let slow_again = received_rate(rec, s(4500), s(6000));
    assert!((slow - 2e6).abs() < 2e6 * 0.01, "{slow}");
    assert!((fast - 12e6).abs() < 12e6 * 0.01, "{fast}");
    assert!((slow_again - 2e6).abs() < 2e6 * 0.01, "{slow_again}");
}
