//! BBR tests: unit tests of single events, and model-level runs over a fake path
//! (`scenarios`, driven by `path`).

use std::time::{Duration, Instant};

use super::*;
use crate::congestion::{RttSnapshot, test_epoch};

mod path;
mod scenarios;

const MDS: u64 = 1200;
const RTT: Duration = Duration::from_millis(100);

fn rtt() -> RttSnapshot {
    RttSnapshot {
        latest: RTT,
        smoothed: RTT,
        min: RTT,
        rttvar: RTT / 2,
    }
}

/// A non-application-limited sample of one packet, sent with `delivered` bytes delivered
/// before it, now `delivered + window` delivered over one RTT at `rate`.
fn sample(prior_delivered: u64, delivered: u64, rate: u64) -> RateSample {
    RateSample {
        delivery_rate: rate,
        interval: RTT,
        send_elapsed: RTT,
        ack_elapsed: RTT,
        delivered,
        prior_delivered,
        is_app_limited: false,
        rtt: RTT,
        tx_in_flight: delivered,
        lost: 0,
        newly_acked: MDS,
        newly_lost: 0,
    }
}

fn ack(cc: &mut Bbr, now: Instant, rs: RateSample, bytes_in_flight: u64) {
    cc.on_ack_event(
        now,
        &AckEvent {
            bytes_acked: rs.newly_acked,
            bytes_in_flight,
            rtt: rtt(),
            rtt_sampled: true,
            largest_acked_sent_time: now - rs.rtt,
            app_limited: false,
            delivery_rate: Some(rs),
        },
    );
}

fn loss(sent_time: Instant, lost_bytes: u64, persistent: bool, in_flight: u64) -> CongestionEvent {
    CongestionEvent {
        sent_time,
        lost_bytes,
        persistent,
        bytes_in_flight: in_flight,
        cause: CongestionCause::Loss,
    }
}

/// BBR in ProbeBW with a 1 MB/s, 100 ms model (BDP 100 kB), as after a live switch.
/// The draft's behaviour, without weir's departures.
fn draft() -> BbrConfig {
    BbrConfig {
        loss_tolerant: false,
        short_probes: false,
        capacity_drop: false,
        lean_probes: false,
        probe_rtt_on_demand: false,
        random_loss_compensation: false,
        ..BbrConfig::default()
    }
}

fn in_probe_bw(now: Instant) -> Bbr {
    in_probe_bw_with(now, draft())
}

fn in_probe_bw_with(now: Instant, config: BbrConfig) -> Bbr {
    let state = ControllerState {
        bandwidth: Some(1_000_000),
        min_rtt: Some(RTT),
        smoothed_rtt: Some(RTT),
        ..ControllerState::new(200_000, MDS)
    };
    Bbr::from_state(
        &ControllerConfig::new(ControllerKind::Bbr),
        config,
        now,
        &state,
    )
}

#[test]
fn initial_state() {
    let t0 = test_epoch();
    let cc = ControllerConfig::new(ControllerKind::Bbr)
        .build(t0, MDS)
        .unwrap();
    assert_eq!(cc.kind(), ControllerKind::Bbr);
    assert_eq!(cc.window(), 12_000);
    // §5.6.2: 2.77 × 12000 bytes / 1 ms.
    assert_eq!(cc.pacing_rate(), Some(33_240_000));
    assert!(cc.in_slow_start());
    assert_eq!(cc.ssthresh(), None);
    let state = cc.state();
    assert_eq!(
        (state.bandwidth, state.min_rtt, state.window),
        (None, None, 12_000)
    );
    let bbr = Bbr::new(t0, MDS);
    assert_eq!(bbr.phase(), BbrPhase::Startup);
    assert_eq!(
        (bbr.pacing_gain(), bbr.cwnd_gain()),
        (Gain::permille(2770), Gain::permille(2000))
    );
    // 1 ms at the pacing rate.
    assert_eq!(bbr.send_quantum(), 33_240);
    assert_eq!(bbr.bdp(), None);
    assert!(!bbr.full_bandwidth_reached());
}

#[test]
fn first_ack_sets_pacing_from_the_rtt_and_grows_the_window() {
    let t0 = test_epoch();
    let mut cc = Bbr::new(t0, MDS);
    for i in 0..10 {
        cc.on_packet_sent(t0, MDS, (i + 1) * MDS);
    }
    // The first packet's ACK: 1200 bytes over 100 ms = 12 kB/s.
    ack(&mut cc, t0 + RTT, sample(0, MDS, 12_000), 9 * MDS);
    // §5.6.2: 2.77 × 12000 / 100 ms, above 2.77 × 0.99 × 12 kB/s.
    assert_eq!(cc.pacing_rate(), Some(332_400));
    assert_eq!(cc.max_bandwidth(), 12_000);
    assert_eq!(cc.min_rtt(), Some(RTT));
    assert_eq!(cc.round_count(), 1);
    // Startup: the window grows by what was acknowledged.
    assert_eq!(cc.window(), 12_000 + MDS);
    // Higher samples raise the pacing rate (never lowered in Startup).
    ack(&mut cc, t0 + RTT, sample(0, 10 * MDS, 1_000_000), 0);
    assert_eq!(cc.pacing_rate(), Some(2_742_300));
    assert_eq!(cc.bdp(), Some(100_000));
}

#[test]
fn application_limited_samples_only_raise_max_bw() {
    let t0 = test_epoch();
    let mut cc = Bbr::new(t0, MDS);
    ack(&mut cc, t0 + RTT, sample(0, MDS, 1_000_000), 0);
    assert_eq!(cc.max_bandwidth(), 1_000_000);
    let limited = RateSample {
        is_app_limited: true,
        ..sample(MDS, MDS, 500_000)
    };
    ack(&mut cc, t0 + 2 * RTT, limited, 0);
    assert_eq!(cc.max_bandwidth(), 1_000_000);
    let limited = RateSample {
        delivery_rate: 2_000_000,
        ..limited
    };
    ack(&mut cc, t0 + 3 * RTT, limited, 0);
    assert_eq!(cc.max_bandwidth(), 2_000_000);
    // A sample without a reliable rate changes nothing.
    ack(&mut cc, t0 + 4 * RTT, sample(3 * MDS, MDS, 0), 0);
    assert_eq!(cc.max_bandwidth(), 2_000_000);
}

/// Appendix A.21-style: a bandwidth probe that loses more than 2 % of what was in flight ends
/// ProbeBW_UP at once and bounds inflight by max(tx_in_flight, 0.7 × BDP).
#[test]
fn too_much_loss_in_probe_up_bounds_inflight_and_goes_down() {
    let t0 = test_epoch();
    let mut cc = in_probe_bw(t0);
    assert_eq!(cc.phase(), BbrPhase::ProbeBwDown);
    assert_eq!(cc.bdp(), Some(100_000));
    cc.start_probe_bw_refill();
    assert_eq!(cc.phase(), BbrPhase::ProbeBwRefill);
    // The round of REFILL ends: UP.
    let mut now = t0 + RTT;
    ack(&mut cc, now, sample(0, 100_000, 1_000_000), 100_000);
    assert_eq!(cc.phase(), BbrPhase::ProbeBwUp);
    assert_eq!(
        (cc.pacing_gain(), cc.cwnd_gain()),
        (Gain::permille(1250), Gain::permille(2250))
    );
    assert_eq!(cc.pacing_rate(), Some(1_237_500));
    // 1 % lost: tolerable, nothing happens.
    now += Duration::from_millis(10);
    cc.on_congestion_event(now, &loss(t0, 1200, false, 120_000));
    let rs = RateSample {
        lost: 1200,
        tx_in_flight: 120_000,
        ..sample(100_000, 100_000, 1_000_000)
    };
    ack(&mut cc, now, rs, 120_000);
    assert_eq!(cc.phase(), BbrPhase::ProbeBwUp);
    assert_eq!(cc.inflight_longterm(), None);
    // 3 % lost: too high.
    now += Duration::from_millis(10);
    cc.on_congestion_event(now, &loss(t0, 2400, false, 120_000));
    let rs = RateSample {
        lost: 3600,
        tx_in_flight: 120_000,
        ..sample(100_000, 100_000, 1_000_000)
    };
    ack(&mut cc, now, rs, 120_000);
    assert_eq!(cc.phase(), BbrPhase::ProbeBwDown);
    assert_eq!(cc.inflight_longterm(), Some(120_000));
    assert!(cc.window() <= 120_000);
}

/// §5.5.11: a loss that cut the short-term model turns out spurious (every packet it declared
/// lost was acknowledged): the model, the window and the recovery period come back as they
/// were; a report for an event before the period, or a real loss beside it, undoes nothing.
#[test]
fn a_spurious_loss_is_undone() {
    let t0 = test_epoch();
    let mut cc = in_probe_bw(t0);
    let now = t0 + Duration::from_millis(10);
    cc.on_congestion_event(now, &loss(t0, MDS, false, 90_000));
    ack(&mut cc, now + RTT, sample(0, 90_000, 900_000), 90_000);
    assert_eq!(cc.bandwidth(), 900_000);
    // A report about something older than the recovery period changes nothing.
    let stale = SpuriousCongestion {
        declared_at: t0,
        sent_time: t0,
    };
    cc.on_spurious_congestion(now + RTT, &stale);
    assert_eq!((cc.bandwidth(), cc.spurious_undos()), (900_000, 0));
    let event = SpuriousCongestion {
        declared_at: now,
        sent_time: t0,
    };
    cc.on_spurious_congestion(now + RTT, &event);
    assert_eq!(cc.bandwidth(), 1_000_000);
    assert_eq!(cc.spurious_undos(), 1);
    assert_eq!(cc.state().recovery_start, None);
    // Reported twice: nothing more to undo.
    cc.on_spurious_congestion(now + RTT, &event);
    assert_eq!(cc.spurious_undos(), 1);

    // Two events in one period, one of them real: the cut stands.
    let mut cc = in_probe_bw(t0);
    cc.on_congestion_event(now, &loss(t0, MDS, false, 90_000));
    let later = now + Duration::from_millis(5);
    cc.on_congestion_event(later, &loss(t0, MDS, false, 90_000));
    ack(&mut cc, now + RTT, sample(0, 90_000, 900_000), 90_000);
    let second = SpuriousCongestion {
        declared_at: later,
        sent_time: t0,
    };
    cc.on_spurious_congestion(now + RTT, &second);
    assert_eq!((cc.bandwidth(), cc.spurious_undos()), (900_000, 0));
}

#[test]
fn losses_outside_probing_lower_the_short_term_model_once_per_round() {
    let t0 = test_epoch();
    let mut cc = in_probe_bw(t0);
    let now = t0 + Duration::from_millis(10);
    cc.on_congestion_event(now, &loss(t0, MDS, false, 90_000));
    assert!(cc.is_loss_in_round);
    // The loss round ends with the ACK of a packet sent after the loss: bw_shortterm becomes
    // max(bw_latest, 0.7 × max_bw), where bw_latest is the round's best sample (900 kB/s).
    ack(&mut cc, now + RTT, sample(0, 90_000, 900_000), 90_000);
    assert_eq!(cc.bandwidth(), 900_000);
    assert_eq!(cc.max_bandwidth(), 1_000_000);
    // A round without loss leaves it, whatever its samples…
    ack(
        &mut cc,
        now + 2 * RTT,
        sample(90_000, 90_000, 100_000),
        90_000,
    );
    assert_eq!(cc.bandwidth(), 900_000);
    // …and a lossy round whose best sample is that low cuts it by BBR.Beta at most.
    cc.on_congestion_event(now + 2 * RTT, &loss(t0 + RTT, MDS, false, 90_000));
    ack(
        &mut cc,
        now + 3 * RTT,
        sample(180_000, 90_000, 100_000),
        90_000,
    );
    assert_eq!(cc.bandwidth(), 630_000);
    // REFILL resets the short-term model.
    cc.start_probe_bw_refill();
    ack(
        &mut cc,
        now + 4 * RTT,
        sample(270_000, 90_000, 900_000),
        90_000,
    );
    assert_eq!(cc.bandwidth(), 1_000_000);
}

#[test]
fn persistent_congestion_shrinks_the_window_until_recovery_ends() {
    let t0 = test_epoch();
    let mut cc = in_probe_bw(t0);
    let before = cc.window();
    let now = t0 + Duration::from_secs(1);
    cc.on_congestion_event(now, &loss(t0, 100_000, true, 0));
    // §5.6.4.4, OnEnterRTO: one packet more than in flight (at least RFC 9002's minimum).
    assert_eq!(cc.window(), 2400);
    assert_eq!(cc.state().recovery_start, Some(now));
    // An ACK of a packet sent before the recovery: still recovering, growth from the floor.
    cc.rounds_since_probe_up = 5;
    let rs = RateSample {
        rtt: Duration::from_millis(500),
        ..sample(0, MDS, 10_000)
    };
    ack(&mut cc, now + RTT, rs, 0);
    assert_eq!(cc.window(), 4 * MDS, "BBR.MinPipeCwnd");
    assert_eq!(cc.state().recovery_start, Some(now));
    // §5.3.3.8.3: the Reno-coexistence probe time is min(BDP, cwnd) in packets — 2 now — so a
    // bandwidth probe starts at once (REFILL drops the short-term model the loss round set).
    assert_eq!(cc.phase(), BbrPhase::ProbeBwRefill);
    // A packet sent after the recovery started: recovery ends and the saved window comes back
    // (§5.6.4.4, RestoreCwnd), growing by the data acknowledged.
    ack(&mut cc, now + 2 * RTT, sample(MDS, MDS, 10_000), 0);
    assert_eq!(cc.state().recovery_start, None);
    assert_eq!(cc.phase(), BbrPhase::ProbeBwUp);
    assert_eq!(cc.window(), before + MDS);
}

#[test]
fn ecn_ce_is_congestion_without_loss() {
    let t0 = test_epoch();
    let mut cc = in_probe_bw(t0);
    let event = CongestionEvent {
        lost_bytes: 0,
        cause: CongestionCause::EcnCe,
        ..loss(t0, 0, false, 90_000)
    };
    cc.on_congestion_event(t0 + RTT, &event);
    assert!(cc.is_loss_in_round);
    assert!(!cc.loss_since_last_ack);
    ack(&mut cc, t0 + 2 * RTT, sample(0, 90_000, 900_000), 90_000);
    assert_eq!(cc.bandwidth(), 900_000);
}

#[test]
fn datagram_size_changes() {
    let t0 = test_epoch();
    let mut cc = Bbr::new(t0, MDS);
    cc.set_max_datagram_size(1472);
    assert_eq!(cc.window(), 14_720);
    assert_eq!(cc.state().max_datagram_size, 1472);
    ack(&mut cc, t0 + RTT, sample(0, MDS, 1_000_000), 0);
    let window = cc.window();
    // After an ACK only BBR.MinPipeCwnd follows the size.
    cc.set_max_datagram_size(9000);
    assert_eq!(cc.window(), window.max(36_000));
    assert_eq!(cc.send_quantum(), 18_000);
    cc.set_max_datagram_size(0);
    assert!(cc.window() >= 4);
}

#[test]
fn without_rate_samples_bbr_holds_its_initial_model() {
    let t0 = test_epoch();
    let mut cc = Bbr::new(t0, MDS);
    cc.on_ack_event(
        t0 + RTT,
        &AckEvent {
            bytes_acked: MDS,
            bytes_in_flight: 0,
            rtt: rtt(),
            rtt_sampled: true,
            largest_acked_sent_time: t0,
            app_limited: false,
            delivery_rate: None,
        },
    );
    assert_eq!(cc.window(), 12_000);
    assert_eq!(cc.pacing_rate(), Some(33_240_000));
    assert_eq!(cc.max_bandwidth(), 0);
}

#[test]
fn gains_are_exact_integer_arithmetic() {
    assert_eq!(Gain::permille(2770).apply(1_000_000), 2_770_000);
    assert_eq!(Gain::permille(700).apply(10), 7);
    assert_eq!(Gain::permille(2250).apply(u64::MAX), u64::MAX);
    assert_eq!(Gain::permille(0).apply(u64::MAX), 0);
    let defaults = BbrConfig::default();
    assert_eq!(defaults.loss_thresh.as_permille(), 20);
    assert_eq!(defaults.beta.as_permille(), 700);
    assert_eq!(defaults.headroom.as_permille(), 150);
    assert_eq!(defaults.pacing_margin_percent, 1);
}

#[test]
fn loss_tolerant_ignores_a_round_with_random_loss_but_not_an_overflow() {
    let t0 = test_epoch();
    // One lost datagram in a 90 kB round (1.3 %): noise, the model stays.
    let mut cc = in_probe_bw_with(t0, BbrConfig::default());
    let now = t0 + Duration::from_millis(10);
    cc.on_congestion_event(now, &loss(t0, MDS, false, 90_000));
    ack(&mut cc, now + RTT, sample(0, 90_000, 900_000), 90_000);
    assert_eq!(cc.bandwidth(), 1_000_000);
    // Six lost datagrams in the round (8 %) with a standing queue (every RTT sample a quarter
    // above the minimum): an overflow, and the short-term model is cut as the draft does.
    let overflow = |queue: Duration| {
        let mut cc = in_probe_bw_with(t0, BbrConfig::default());
        for _ in 0..6 {
            cc.on_congestion_event(now, &loss(t0, MDS, false, 90_000));
        }
        let mut rs = sample(0, 90_000, 900_000);
        rs.lost = 6 * MDS;
        rs.rtt = RTT + queue;
        ack(&mut cc, now + RTT, rs, 90_000);
        cc.bandwidth()
    };
    assert_eq!(overflow(RTT / 4), 900_000);
    // The same losses with the queue as BBR keeps it (under an eighth of the minimum RTT): a
    // lossy link, not a full buffer, and the model stays.
    assert_eq!(overflow(RTT / 10), 1_000_000);
    // Following the draft, the losses alone are congestion.
    let mut cc = in_probe_bw_with(t0, draft());
    for _ in 0..6 {
        cc.on_congestion_event(now, &loss(t0, MDS, false, 90_000));
    }
    let mut rs = sample(0, 90_000, 900_000);
    rs.lost = 6 * MDS;
    ack(&mut cc, now + RTT, rs, 90_000);
    assert_eq!(cc.bandwidth(), 900_000);
}

#[test]
fn short_probes_leave_probe_up_once_a_quarter_bdp_is_queued() {
    let t0 = test_epoch();
    let short = BbrConfig {
        short_probes: true,
        ..draft()
    };
    for (config, expect_down) in [(short, true), (draft(), false)] {
        let mut cc = in_probe_bw_with(t0, config);
        cc.start_probe_bw_refill();
        let now = t0 + RTT;
        ack(&mut cc, now, sample(0, 100_000, 1_000_000), 100_000);
        assert_eq!(cc.phase(), BbrPhase::ProbeBwUp);
        // The bandwidth did not grow and 130 kB (> 1.25 × the 100 kB BDP) are in flight.
        for k in 1..=2u32 {
            cc.on_packet_sent(now + RTT * k, MDS, 130_000);
            ack(
                &mut cc,
                now + RTT * k,
                sample(100_000, 100_000 + 100_000 * u64::from(k), 1_000_000),
                130_000,
            );
        }
        assert_eq!(
            cc.phase() == BbrPhase::ProbeBwDown,
            expect_down,
            "short_probes {}",
            config.short_probes
        );
    }
}

#[test]
fn probe_rtt_spreads_its_window_over_the_round_trip() {
    let t0 = test_epoch();
    // BDP 100 kB: the half-BDP window is paced at half the bandwidth.
    let cc = in_probe_bw(t0);
    assert_eq!(cc.probe_rtt_pacing_gain(), Gain::permille(500));
    // BDP 2.4 kB (24 kB/s × 100 ms): BBR.MinPipeCwnd (4 × 1200 B) is twice the BDP, so the
    // window does not limit the rate and ProbeRTT paces at the full bandwidth, as the draft.
    let state = ControllerState {
        bandwidth: Some(24_000),
        min_rtt: Some(RTT),
        smoothed_rtt: Some(RTT),
        ..ControllerState::new(200_000, MDS)
    };
    let small = Bbr::from_state(
        &ControllerConfig::new(ControllerKind::Bbr),
        draft(),
        t0,
        &state,
    );
    assert_eq!(small.probe_rtt_pacing_gain(), Gain::permille(1000));
    // BDP 7.2 kB: the 4-packet floor is two thirds of it.
    let state = ControllerState {
        bandwidth: Some(72_000),
        ..state
    };
    let mid = Bbr::from_state(
        &ControllerConfig::new(ControllerKind::Bbr),
        draft(),
        t0,
        &state,
    );
    assert_eq!(mid.probe_rtt_pacing_gain(), Gain::permille(666));
}

#[test]
fn low_latency_probes_at_one_point_one_and_the_gain_floor_is_one_point_zero_one() {
    let low = BbrConfig::low_latency();
    assert!(low.short_probes);
    assert_eq!(low.effective_probe_up_gain(), Gain::permille(1100));
    let flat = BbrConfig {
        probe_up_gain: Gain::permille(900),
        ..BbrConfig::default()
    };
    assert_eq!(flat.effective_probe_up_gain(), Gain::permille(1010));
    assert_eq!(
        BbrConfig::default().effective_probe_up_gain(),
        Gain::permille(1250)
    );
}
