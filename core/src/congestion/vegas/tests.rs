use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::fake_path::FakePath;
use super::*;
use crate::congestion::{CongestionCause, RttSnapshot, test_epoch};

const MDS: u64 = 1200;
const BASE: Duration = Duration::from_millis(100);

fn snapshot(latest: Duration, min: Duration) -> RttSnapshot {
    RttSnapshot {
        latest,
        smoothed: latest,
        min,
        rttvar: latest / 2,
    }
}

fn loss(sent_time: Instant, persistent: bool) -> CongestionEvent {
    CongestionEvent {
        sent_time,
        lost_bytes: MDS,
        persistent,
        bytes_in_flight: 0,
        cause: CongestionCause::Loss,
    }
}

/// A Vegas already in congestion avoidance with a window of `packets` datagrams and
/// `baseRTT` = [`BASE`].
fn avoiding(packets: u64) -> Vegas {
    let state = ControllerState {
        ssthresh: Some(MDS),
        min_rtt: Some(BASE),
        ..ControllerState::new(packets * MDS, MDS)
    };
    Vegas::from_state(&ControllerConfig::new(ControllerKind::Vegas), &state)
}

/// One round at `t`: sends `samples` packets, then acknowledges each in its own frame with an
/// RTT sample of `rtt`. The first frame ends the previous round. Returns the start of the next
/// round.
fn round(cc: &mut Vegas, t: Instant, samples: u32, rtt: Duration, app_limited: bool) -> Instant {
    for i in 0..u64::from(samples) {
        cc.on_packet_sent(t, MDS, (i + 1) * MDS);
    }
    let now = t + rtt;
    let min = cc.base_rtt().map_or(rtt, |b| b.min(rtt));
    for _ in 0..samples {
        let packet = AckedPacket {
            sent_time: t,
            bytes: MDS,
            rtt: snapshot(rtt, min),
            app_limited,
        };
        cc.on_packet_acked(now, &packet);
        cc.on_ack_event(
            now,
            &AckEvent {
                bytes_acked: MDS,
                bytes_in_flight: 0,
                rtt: snapshot(rtt, min),
                rtt_sampled: true,
                largest_acked_sent_time: t,
                app_limited,
                delivery_rate: None,
            },
        );
    }
    now
}

/// The RTT at which a window of `packets` datagrams makes `diff` = `queued` packets:
/// `diff = cwnd × (RTT − base) / RTT` ⇒ `RTT = base × cwnd / (cwnd − queued)`, rounded down to
/// whole nanoseconds (exact for the boundary cases the tests use).
fn rtt_for_queue(packets: u64, queued: f64) -> Duration {
    let nanos = BASE.as_nanos() as f64 * packets as f64 / (packets as f64 - queued);
    Duration::from_nanos(nanos.floor() as u64)
}

#[test]
fn constants_are_linux_tcp_vegas_defaults() {
    assert_eq!((ALPHA_PACKETS, BETA_PACKETS, GAMMA_PACKETS), (2, 4, 1));
    assert_eq!(MIN_ROUND_SAMPLES, 3);
    let cc = Vegas::new(MDS);
    assert_eq!(cc.window(), 12_000);
    assert_eq!(cc.minimum_window(), 2400);
    assert!(cc.in_slow_start());
    assert_eq!(cc.kind(), ControllerKind::Vegas);
    assert_eq!(cc.pacing_rate(), None);
    assert_eq!(cc.base_rtt(), None);
}

#[test]
fn avoidance_adds_below_alpha_removes_above_beta_and_holds_between() {
    let t0 = test_epoch();
    // diff = 1 < α: +1 packet per round.
    let mut cc = avoiding(20);
    let t = round(&mut cc, t0, 10, rtt_for_queue(20, 1.0), false);
    round(&mut cc, t, 10, rtt_for_queue(20, 1.0), false);
    assert_eq!(cc.window(), 21 * MDS);
    let diff = cc.last_diff_packets().unwrap();
    assert!((diff - 1.0).abs() < 1e-6, "diff {diff}");
    // diff = 3, between α and β: hold.
    let mut cc = avoiding(20);
    let t = round(&mut cc, t0, 10, rtt_for_queue(20, 3.0), false);
    round(&mut cc, t, 10, rtt_for_queue(20, 3.0), false);
    assert_eq!(cc.window(), 20 * MDS);
    // Exactly α or β queued: hold (the comparisons are strict). 10 packets with 2 queued and
    // 20 with 4 both mean an RTT of exactly 125 ms.
    for (packets, queued) in [(10, 2.0), (20, 4.0)] {
        let mut cc = avoiding(packets);
        let rtt = rtt_for_queue(packets, queued);
        assert_eq!(rtt, Duration::from_millis(125));
        let t = round(&mut cc, t0, 10, rtt, false);
        round(&mut cc, t, 10, rtt, false);
        assert_eq!(cc.window(), packets * MDS, "queued {queued}");
        let diff = cc.last_diff_packets().unwrap();
        assert!((diff - queued).abs() < 1e-9, "diff {diff}");
    }
    // diff = 4.5 > β: −1 packet per round, and ssthresh follows below the window (Linux
    // truncates 4.5 to 4 and would hold).
    let mut cc = avoiding(20);
    let t = round(&mut cc, t0, 10, rtt_for_queue(20, 4.5), false);
    round(&mut cc, t, 10, rtt_for_queue(20, 4.5), false);
    assert_eq!(cc.window(), 19 * MDS);
    assert_eq!(cc.ssthresh(), Some(MDS));
    assert!(!cc.in_slow_start());
}

#[test]
fn the_round_minimum_rtt_is_what_counts() {
    let t0 = test_epoch();
    let mut cc = avoiding(20);
    // A round whose samples are mostly high but whose minimum shows a queue of 1: grows.
    for i in 0..10u64 {
        cc.on_packet_sent(t0, MDS, (i + 1) * MDS);
    }
    let low = rtt_for_queue(20, 1.0);
    for i in 0..10u32 {
        let rtt = if i == 5 { low } else { rtt_for_queue(20, 6.0) };
        let now = t0 + rtt;
        cc.on_ack_event(
            now,
            &AckEvent {
                bytes_acked: MDS,
                bytes_in_flight: 0,
                rtt: snapshot(rtt, BASE),
                rtt_sampled: true,
                largest_acked_sent_time: t0,
                app_limited: false,
                delivery_rate: None,
            },
        );
    }
    round(&mut cc, t0 + BASE * 2, 3, rtt_for_queue(20, 6.0), false);
    assert_eq!(cc.window(), 21 * MDS);
}

#[test]
fn rounds_with_too_few_samples_fall_back_to_reno() {
    let t0 = test_epoch();
    let mut cc = avoiding(20);
    // Two samples per round (< 3): Reno's one datagram per round, whatever the queue.
    let t = round(&mut cc, t0, 2, rtt_for_queue(20, 8.0), false);
    let t = round(&mut cc, t, 2, rtt_for_queue(20, 8.0), false);
    round(&mut cc, t, 3, rtt_for_queue(20, 8.0), false);
    assert_eq!(cc.window(), 22 * MDS);
    assert_eq!(cc.last_diff_packets(), None);
}

#[test]
fn application_limited_rounds_make_no_adjustment() {
    let t0 = test_epoch();
    let mut cc = avoiding(20);
    let t = round(&mut cc, t0, 10, rtt_for_queue(20, 0.0), true);
    round(&mut cc, t, 10, rtt_for_queue(20, 0.0), false);
    assert_eq!(cc.window(), 20 * MDS);
    // Nor does slow start grow from application-limited acknowledgements.
    let mut cc = Vegas::new(MDS);
    let t = round(&mut cc, t0, 10, BASE, true);
    round(&mut cc, t, 3, BASE, true);
    assert_eq!(cc.window(), 12_000);
}

#[test]
fn slow_start_grows_every_other_round() {
    let t0 = test_epoch();
    let mut cc = Vegas::new(MDS);
    // Round 1 (the initial flight): growth, one datagram per acknowledged datagram.
    let t = round(&mut cc, t0, 10, BASE, false);
    assert_eq!(cc.window(), 24_000);
    // Round 2: held, so that the RTT of a fixed window can be measured.
    let t = round(&mut cc, t, 20, BASE, false);
    assert_eq!(cc.window(), 24_000);
    // Round 3: growth again.
    let t = round(&mut cc, t, 20, BASE, false);
    assert_eq!(cc.window(), 48_000);
    round(&mut cc, t, 40, BASE, false);
    assert_eq!(cc.window(), 48_000);
    assert!(cc.in_slow_start());
}

#[test]
fn slow_start_ends_when_diff_exceeds_gamma() {
    let t0 = test_epoch();
    let mut cc = Vegas::new(MDS);
    // The acknowledgements of a round are of packets sent during the round before, so Vegas
    // judges them with the window at the start of that round.
    // Round 1 (growth): the initial flight of 10 packets grows the window to 20.
    let t = round(&mut cc, t0, 10, BASE, false);
    assert_eq!(cc.window(), 24_000);
    // Round 2 (hold), packets sent in round 1 from a window of 10: 0.9 queued (≤ γ).
    let t = round(&mut cc, t, 20, rtt_for_queue(10, 0.9), false);
    assert_eq!(cc.window(), 24_000);
    // Round 3 (growth; round 2 judged: slow start goes on), packets sent in round 2 with the
    // held window of 20: 10 queued.
    let t = round(&mut cc, t, 20, rtt_for_queue(20, 10.0), false);
    assert!(cc.in_slow_start());
    assert_eq!(cc.window(), 48_000);
    let diff = cc.last_diff_packets().unwrap();
    assert!((diff - 0.9).abs() < 1e-6, "diff {diff}");
    // Round 3 judged: diff = 10 > γ. target = 20 × base / RTT = 20 × 100 / 200 = 10 packets;
    // cwnd = min(40, 10 + 1), ssthresh = cwnd − 1.
    round(&mut cc, t, 1, BASE, false);
    let diff = cc.last_diff_packets().unwrap();
    assert!((diff - 10.0).abs() < 1e-6, "diff {diff}");
    assert!(!cc.in_slow_start());
    assert_eq!(cc.window(), 11 * MDS);
    assert_eq!(cc.ssthresh(), Some(10 * MDS));
}

#[test]
fn loss_halves_the_window_once_per_recovery_period() {
    let t0 = test_epoch();
    let mut cc = avoiding(20);
    let start = t0 + BASE;
    cc.on_congestion_event(start, &loss(t0, false));
    assert_eq!(cc.window(), 10 * MDS);
    assert_eq!(cc.ssthresh(), Some(10 * MDS));
    assert_eq!(cc.recovery_start(), Some(start));
    // Losses of packets sent before the recovery started: no second halving.
    cc.on_congestion_event(start + BASE, &loss(start, false));
    assert_eq!(cc.window(), 10 * MDS);
    // Rounds ending in acknowledgements of those packets make no Vegas adjustment.
    round(&mut cc, t0, 10, rtt_for_queue(10, 0.0), false);
    assert_eq!(cc.window(), 10 * MDS);
    // A packet sent after the start: a new period, a new halving.
    cc.on_congestion_event(
        start + 2 * BASE,
        &loss(start + Duration::from_millis(1), false),
    );
    assert_eq!(cc.window(), 5 * MDS);
    // Floored at the minimum window; ECN-CE is a congestion event too.
    let ce = CongestionEvent {
        cause: CongestionCause::EcnCe,
        lost_bytes: 0,
        ..loss(start + 3 * BASE, false)
    };
    cc.on_congestion_event(start + 4 * BASE, &ce);
    cc.on_congestion_event(start + 6 * BASE, &loss(start + 5 * BASE, false));
    assert_eq!(cc.window(), cc.minimum_window());
    // Persistent congestion: the minimum window, and the recovery period ends.
    let mut cc = avoiding(20);
    cc.on_congestion_event(start, &loss(t0, true));
    assert_eq!((cc.window(), cc.recovery_start()), (2 * MDS, None));
    assert_eq!(cc.ssthresh(), Some(10 * MDS));
    assert!(cc.in_slow_start());
}

#[test]
fn fake_path_standing_queue_stays_between_alpha_and_beta() {
    let t0 = test_epoch();
    // 1000 packets/s bottleneck, 50 ms base RTT: a BDP of 51 packets.
    let path = FakePath {
        rate: 1000 * MDS,
        base_rtt: Duration::from_millis(50),
        packet: MDS,
        queue_limit: None,
    };
    let mut cc = Vegas::new(MDS);
    let trace = path.run(&mut cc, t0, Duration::from_secs(60));
    assert_eq!(trace.packets_lost, 0);
    let exit = trace
        .rounds
        .iter()
        .position(|r| !r.slow_start)
        .expect("slow start ends");
    let steady: Vec<_> = trace
        .rounds
        .iter()
        .filter(|r| r.at >= Duration::from_secs(20))
        .collect();
    let queue_min = steady
        .iter()
        .map(|r| r.queue_packets)
        .fold(f64::MAX, f64::min);
    let queue_max = steady.iter().map(|r| r.queue_packets).fold(0.0, f64::max);
    let window_min = steady.iter().map(|r| r.window).min().unwrap();
    let window_max = steady.iter().map(|r| r.window).max().unwrap();
    println!(
        "vegas fake path: BDP {:.1} packets, slow start exit at round {exit} ({:?}, window {} \
         packets), steady queue {queue_min:.2}..={queue_max:.2} packets, window {}..={} packets",
        path.bdp_packets(),
        trace.rounds[exit].at,
        trace.rounds[exit].window / MDS,
        window_min / MDS,
        window_max / MDS,
    );
    // In steady state the standing queue is between α and β packets (the RTT-derived queue
    // is measured with a 1-packet resolution of the window).
    assert!(
        queue_min >= ALPHA_PACKETS as f64 - 1e-6,
        "queue {queue_min}"
    );
    assert!(queue_max <= BETA_PACKETS as f64 + 1e-6, "queue {queue_max}");
    let bdp = path.bdp_packets().round() as u64;
    assert!(
        window_min / MDS >= bdp + ALPHA_PACKETS,
        "window {window_min}"
    );
    assert!(
        window_max / MDS <= bdp + BETA_PACKETS,
        "window {window_max}"
    );
    // Goodput: the bottleneck stays busy.
    let goodput = trace.bytes_acked as f64 / 60.0;
    assert!(goodput > 0.95 * path.rate as f64, "goodput {goodput}");
}

#[test]
fn fake_path_slow_start_exits_on_a_small_queue() {
    let t0 = test_epoch();
    // A long fat path: 10 000 packets/s, 100 ms: a BDP of 1001 packets, reached in slow start,
    // with a buffer of two BDPs: the fake path does not pace, so a growth round, which sends
    // two packets per acknowledgement, queues as many packets as the window it started from on
    // top of the standing queue.
    let path = FakePath {
        rate: 10_000 * MDS,
        base_rtt: Duration::from_millis(100),
        packet: MDS,
        queue_limit: Some(2000 * MDS),
    };
    let mut cc = Vegas::new(MDS);
    let mut exit_diff = None;
    let trace = path.run_observed(&mut cc, t0, Duration::from_secs(20), |cc, _| {
        if exit_diff.is_none() && !cc.in_slow_start() {
            exit_diff = cc.last_diff_packets();
        }
    });
    let exit = trace
        .rounds
        .iter()
        .position(|r| !r.slow_start)
        .expect("slow start ends");
    let exit_diff = exit_diff.expect("a Vegas diff ended slow start");
    let bdp = path.bdp_packets();
    let last = trace.rounds.last().unwrap();
    println!(
        "vegas slow start on a {bdp:.0}-packet BDP: exit at round {exit} ({:?}) on diff \
         {exit_diff:.1} packets with window {} packets (ssthresh {:?}), {} losses; after 20 s: \
         window {} packets, queue {:.2} packets",
        trace.rounds[exit].at,
        trace.rounds[exit].window / MDS,
        cc.ssthresh().map(|s| s / MDS),
        trace.packets_lost,
        last.window / MDS,
        last.queue_packets,
    );
    // Slow start ends on delay (diff > γ), without a loss, at about the BDP: the window is cut
    // to target + 1 packet, target being the window that fills the path without a queue.
    assert_eq!(trace.packets_lost, 0);
    assert!(exit_diff > GAMMA_PACKETS as f64);
    let exit_window = (trace.rounds[exit].window / MDS) as f64;
    assert!(
        (exit_window - bdp).abs() <= 2.0,
        "exit window {exit_window}"
    );
    // And congestion avoidance then holds α..β packets in the queue.
    assert!(last.queue_packets >= ALPHA_PACKETS as f64 - 1e-6);
    assert!(last.queue_packets <= BETA_PACKETS as f64 + 1e-6);
}

#[test]
fn state_seeds_a_replacement_and_builds_through_the_factory() {
    let t0 = test_epoch();
    let mut cc = avoiding(20);
    let t = round(&mut cc, t0, 10, rtt_for_queue(20, 1.0), false);
    round(&mut cc, t, 10, rtt_for_queue(20, 1.0), false);
    let state = cc.state();
    assert_eq!(state.window, 21 * MDS);
    assert_eq!(state.min_rtt, Some(BASE));
    let config = ControllerConfig::new(ControllerKind::Vegas);
    let next = config.build_from_state(t0, &state).unwrap();
    assert_eq!(next.kind(), ControllerKind::Vegas);
    assert_eq!(next.state(), state);
    let fresh = config.build(t0, MDS).unwrap();
    assert_eq!(fresh.window(), 12_000);
    assert!(ControllerKind::Vegas.is_implemented());
    // A seed below the minimum window is raised to it.
    let tiny = Vegas::from_state(&config, &ControllerState::new(1, MDS));
    assert_eq!(tiny.window(), 2 * MDS);
}

#[test]
fn datagram_size_changes_and_zero_rtts_are_harmless() {
    let t0 = test_epoch();
    let mut cc = Vegas::new(MDS);
    cc.set_max_datagram_size(1472);
    assert_eq!(cc.window(), 14_720);
    cc.set_max_datagram_size(0);
    assert_eq!(cc.minimum_window(), 2);
    // Zero RTTs: baseRTT 0 and RTT 0 must not divide by zero.
    let mut cc = avoiding(20);
    let t = round(&mut cc, t0, 10, Duration::ZERO, false);
    round(&mut cc, t, 10, Duration::ZERO, false);
    assert_eq!(cc.base_rtt(), Some(Duration::ZERO));
    assert!(cc.window() >= cc.minimum_window());
}

#[derive(Debug, Clone)]
enum Event {
    Round {
        samples: u8,
        extra_ms: u16,
        app_limited: bool,
    },
    Loss {
        persistent: bool,
    },
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        6 => (0u8..40, 0u16..200, any::<bool>())
            .prop_map(|(samples, extra_ms, app_limited)| Event::Round { samples, extra_ms, app_limited }),
        1 => any::<bool>().prop_map(|persistent| Event::Loss { persistent }),
    ]
}

proptest! {
    /// Whatever the rounds and losses, the window stays at or above the minimum window, a round
    /// changes it by at most one datagram in congestion avoidance, and a loss never raises it.
    #[test]
    fn window_bounds_hold(events in prop::collection::vec(event(), 1..100)) {
        let t0 = test_epoch();
        let mut cc = Vegas::new(MDS);
        let mut t = t0;
        for e in events {
            let before = cc.window();
            let avoiding = !cc.in_slow_start();
            match e {
                Event::Round { samples, extra_ms, app_limited } => {
                    let rtt = BASE + Duration::from_millis(u64::from(extra_ms));
                    t = round(&mut cc, t, u32::from(samples), rtt, app_limited);
                    if avoiding && !cc.in_slow_start() {
                        prop_assert!(cc.window().abs_diff(before) <= MDS);
                    }
                }
                Event::Loss { persistent } => {
                    t += Duration::from_millis(1);
                    cc.on_congestion_event(t, &loss(t - Duration::from_micros(500), persistent));
                    prop_assert!(cc.window() <= before.max(cc.minimum_window()));
                }
            }
            prop_assert!(cc.window() >= cc.minimum_window());
        }
    }
}
