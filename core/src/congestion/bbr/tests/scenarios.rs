//! Model-level runs over the fake path (draft-ietf-ccwg-bbr-06 Appendix A's test cases where
//! they fit an ideal path).

use std::time::Duration;

use super::path::{Harness, PathConfig};
use crate::congestion::{
    Bbr, BbrPhase, Controller, ControllerConfig, ControllerKind, ControllerState, Gain, NewReno,
};

/// 12 Mbit/s, 40 ms propagation: a BDP of 51 packets of 1200 bytes.
fn path() -> PathConfig {
    PathConfig::new(1_500_000, Duration::from_millis(40))
}

/// A harness whose BBR runs with `params`.
fn harness_with(cfg: PathConfig, params: crate::congestion::BbrConfig) -> Harness {
    let t0 = crate::congestion::test_epoch();
    let cc = Bbr::with_config(
        &ControllerConfig::new(ControllerKind::Bbr),
        params,
        t0,
        cfg.packet_size,
    );
    Harness::with_controller(cfg, cc, t0)
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// `gain × bw × 99 %`, as §5.6.2 paces.
fn paced(gain: u32, bw: u64) -> u64 {
    Gain::permille(gain).apply(bw) * 99 / 100
}

/// Appendix A.1: Startup measures the bottleneck within 2 % and leaves for Drain three rounds
/// after the delivery rate stops growing by 25 %.
#[test]
fn startup_exits_on_the_bandwidth_plateau() {
    let cfg = path();
    let mut h = Harness::new(cfg);
    h.run_until(secs(2));
    let drain = h
        .trace
        .iter()
        .find(|p| p.phase == BbrPhase::Drain)
        .expect("Startup ended");
    // The first round whose estimate is within 25 % of the bottleneck: after it no round can
    // grow 25 % more, so three rounds later Startup must be over (one more round for the
    // samples of the last Startup round to arrive).
    let plateau = h
        .trace
        .iter()
        .find(|p| p.max_bw * 5 >= cfg.rate * 4)
        .expect("bottleneck reached")
        .round;
    assert!(
        drain.round <= plateau + 4,
        "plateau at round {plateau}, Drain at round {}",
        drain.round
    );
    assert!(
        drain.round >= plateau + 2,
        "left Startup before seeing the plateau"
    );
    let error = drain.max_bw.abs_diff(cfg.rate) as f64 / cfg.rate as f64;
    assert!(error <= 0.02, "max_bw {} vs {}", drain.max_bw, cfg.rate);
    // Startup paced at 2.77 × bw (never below that: the rate only rose).
    for p in h.trace.iter().take_while(|p| p.phase == BbrPhase::Startup) {
        assert!(p.pacing_rate >= paced(2770, p.bw), "{p:?}");
    }
}

/// Appendix A.3: Drain paces at 0.5 × bw and ends once inflight is at most the BDP, within
/// the three-round limit.
#[test]
fn drain_brings_inflight_down_to_the_bdp() {
    let cfg = path();
    let mut h = Harness::new(cfg);
    h.run_until(secs(2));
    let drain: Vec<_> = h
        .trace
        .iter()
        .filter(|p| p.phase == BbrPhase::Drain)
        .collect();
    assert!(!drain.is_empty());
    assert!(drain.iter().all(|p| p.pacing_gain == 500));
    let first = drain[0];
    let exit = h
        .trace
        .iter()
        .find(|p| p.time > first.time && p.phase != BbrPhase::Drain)
        .expect("Drain ended");
    assert!(
        matches!(exit.phase, BbrPhase::ProbeBwDown | BbrPhase::ProbeBwCruise),
        "{exit:?}"
    );
    assert!(exit.round <= first.round + 3, "Drain hit its time limit");
    // Inflight at most the path's BDP (plus one packet of rounding in the estimate).
    assert!(
        exit.inflight <= cfg.bdp() + cfg.packet_size,
        "{exit:?} vs BDP {}",
        cfg.bdp()
    );
    // And the queue is gone: the next RTT samples are the unloaded RTT again.
    let later = h
        .trace
        .iter()
        .find(|p| p.time > exit.time + 2 * cfg.base_rtt())
        .unwrap();
    assert!(
        later.rtt <= cfg.base_rtt() + Duration::from_millis(2),
        "{later:?}"
    );
}

/// Steady state: ≥ 95 % of the bottleneck over 25 s of ProbeBW (ProbeRTTs included), pacing
/// exactly at `gain × bw × 0.99`, the gains of §5.6.1 (ProbeRTT's excepted, see the module
/// docs), and BBR.min_rtt the unloaded RTT.
#[test]
fn probe_bw_steady_state() {
    let cfg = path();
    let mut h = Harness::new(cfg);
    h.run_until(secs(30));
    let utilization = h.utilization(secs(5), secs(30));
    assert!(utilization >= 0.95, "utilization {utilization:.3}");
    let steady: Vec<_> = h
        .trace
        .iter()
        .filter(|p| p.time - h.t0 >= secs(2))
        .collect();
    for p in &steady {
        assert_eq!(p.pacing_rate, paced(p.pacing_gain, p.bw), "{p:?}");
        let expected_gain = match p.phase {
            // weir's lean probes drain at 0.75 (the draft: 0.9).
            BbrPhase::ProbeBwDown => 750,
            BbrPhase::ProbeBwCruise | BbrPhase::ProbeBwRefill => 1000,
            // weir spreads ProbeRTT's half-BDP window over the round trip.
            BbrPhase::ProbeRtt => 500,
            BbrPhase::ProbeBwUp => 1250,
            BbrPhase::Startup | BbrPhase::Drain => panic!("back in {:?}", p.phase),
        };
        assert_eq!(p.pacing_gain, expected_gain, "{p:?}");
        // Without loss nothing bounds bw below max_bw, which is the bottleneck within 1 %.
        assert_eq!(p.bw, p.max_bw);
        assert!(p.max_bw.abs_diff(cfg.rate) * 100 <= cfg.rate, "{p:?}");
        assert_eq!(p.min_rtt, Some(cfg.base_rtt()));
    }
    // Every ProbeBW state was visited, cycle after cycle.
    let ups = h
        .transitions()
        .iter()
        .filter(|t| t.2 == BbrPhase::ProbeBwUp)
        .count();
    assert!(ups >= 8, "{ups} bandwidth probes in 30 s");
}

/// Appendix A.10: with the queue never empty of BBR's own data the 5 s ProbeRTT interval
/// expires; ProbeRTT holds the cwnd at max(BDP / 2, 4 packets) for at least 200 ms and a round
/// trip, then returns to ProbeBW.
#[test]
fn probe_rtt_on_schedule() {
    let cfg = path();
    let mut h = harness_with(cfg, super::draft());
    h.run_until(secs(30));
    let transitions = h.transitions();
    let mut episodes = Vec::new();
    for (i, &(start, _, phase)) in transitions.iter().enumerate() {
        if phase == BbrPhase::ProbeRtt {
            let Some(&(end, _, next)) = transitions.get(i + 1) else {
                continue;
            };
            assert!(
                matches!(next, BbrPhase::ProbeBwCruise),
                "ProbeRTT exits to {next:?}"
            );
            episodes.push((start, end));
        }
    }
    assert!(episodes.len() >= 5, "{episodes:?}");
    for &(start, end) in &episodes {
        let duration = end - start;
        // 200 ms from the moment inflight reached the ProbeRTT cwnd, plus the drain to it.
        assert!(duration >= Duration::from_millis(200), "{duration:?}");
        assert!(duration <= Duration::from_millis(400), "{duration:?}");
        let probe_rtt_cwnd = (cfg.bdp() / 2).max(4 * cfg.packet_size);
        for p in h.trace.iter().filter(|p| {
            p.phase == BbrPhase::ProbeRtt && p.time - h.t0 > start && p.time - h.t0 < end
        }) {
            assert!(p.cwnd <= probe_rtt_cwnd + cfg.packet_size, "{p:?}");
        }
    }
    // The first after 5 s of min-RTT samples that were never lower, then every 5 s after the
    // previous one ended (plus at most a couple of round trips of ACK timing).
    assert!(episodes[0].0 >= secs(5) && episodes[0].0 <= secs(5) + 3 * cfg.base_rtt());
    for pair in episodes.windows(2) {
        let gap = pair[1].0 - pair[0].1;
        assert!(
            gap >= secs(5) && gap <= secs(5) + 3 * cfg.base_rtt(),
            "{gap:?}"
        );
    }
    // ProbeRTT's low samples did not lower the bandwidth estimate.
    assert!(
        h.trace
            .iter()
            .filter(|p| p.time - h.t0 > secs(2))
            .all(|p| p.max_bw * 100 >= cfg.rate * 99)
    );
}

/// 1 % random loss before the bottleneck. The loss threshold (2 %) keeps the long-term bound
/// from collapsing, but draft -06's short-term model (§5.5.10.3) lowers bw_shortterm to the
/// latest round's delivery rate — the pacing rate less the 1 % margin and the losses — after
/// every round with a loss outside bandwidth probing, so throughput decays through each
/// CRUISE phase until the next probe resets it. Measured: 87.7 % on this path (see the
/// report); the assertion pins that behaviour so a change shows up.
#[test]
fn one_percent_random_loss() {
    let mut cfg = path();
    cfg.loss = 0.01;
    let mut h = Harness::new(cfg);
    h.run_until(secs(30));
    let utilization = h.utilization(secs(5), secs(30));
    let losses = h.losses as f64 / (h.received_between(Duration::ZERO, secs(30)) / 1200) as f64;
    assert!((0.007..0.013).contains(&losses), "loss rate {losses}");
    assert!(utilization >= 0.85, "utilization {utilization:.3}");
    // The flow kept probing and never fell back to Startup.
    let phases = h.transitions();
    assert!(phases.iter().filter(|t| t.2 == BbrPhase::ProbeBwUp).count() >= 8);
    assert!(phases.iter().skip(1).all(|t| t.2 != BbrPhase::Startup));
    // max_bw still measures the bottleneck.
    let last = h.trace.last().unwrap();
    assert!(
        last.max_bw.abs_diff(cfg.rate) * 100 <= 2 * cfg.rate,
        "{last:?}"
    );
}

/// A live switch: BBR's state seeds a new BBR (through the factory) with the same bandwidth and
/// min RTT, in ProbeBW, and the flow continues at full rate; a loss-based predecessor's
/// window / RTT seeds the estimate too.
#[test]
fn live_switch_keeps_the_bandwidth_estimate() {
    let cfg = path();
    let mut h = Harness::new(cfg);
    h.run_until(secs(8));
    let state = h.cc.state();
    assert_eq!(state.bandwidth, Some(h.cc.max_bandwidth()));
    assert!(state.bandwidth.unwrap().abs_diff(cfg.rate) * 100 <= cfg.rate);
    assert_eq!(state.min_rtt, Some(cfg.base_rtt()));
    assert_eq!(state.ssthresh, None);
    let next = ControllerConfig::new(ControllerKind::Bbr)
        .build_from_state(h.now, &state)
        .unwrap();
    assert_eq!(next.kind(), ControllerKind::Bbr);
    assert_eq!(next.state(), state);
    assert!(!next.in_slow_start());
    // Continue the same flow with the successor (the estimator stays with the connection).
    h.cc = Bbr::from_state(
        &ControllerConfig::new(ControllerKind::Bbr),
        Default::default(),
        h.now,
        &state,
    );
    assert_eq!(h.cc.phase(), BbrPhase::ProbeBwDown);
    assert_eq!(
        h.cc.pacing_rate(),
        Some(paced(750, state.bandwidth.unwrap()))
    );
    h.run_until(secs(16));
    let utilization = h.utilization(secs(8), secs(16));
    assert!(utilization >= 0.95, "after the switch: {utilization:.3}");
    assert!(
        h.trace
            .iter()
            .filter(|p| p.time - h.t0 > secs(8))
            .all(|p| p.phase != BbrPhase::Startup)
    );

    // From NewReno in congestion avoidance: 60 kB window over 40 ms = 1.5 MB/s.
    let reno = ControllerState {
        ssthresh: Some(60_000),
        smoothed_rtt: Some(Duration::from_millis(40)),
        min_rtt: Some(Duration::from_millis(38)),
        ..ControllerState::new(60_000, 1200)
    };
    let bbr = Bbr::from_state(
        &ControllerConfig::new(ControllerKind::Bbr),
        Default::default(),
        h.now,
        &reno,
    );
    assert_eq!(bbr.max_bandwidth(), 1_500_000);
    assert_eq!(bbr.min_rtt(), Some(Duration::from_millis(38)));
    assert_eq!(bbr.window(), 60_000);
    assert_eq!(bbr.phase(), BbrPhase::ProbeBwDown);
    assert_eq!(bbr.state().bandwidth, Some(1_500_000));
    // A predecessor still in slow start hands over to Startup, with the seeds.
    let slow_start = ControllerState {
        ssthresh: None,
        ..reno
    };
    let bbr = Bbr::from_state(
        &ControllerConfig::new(ControllerKind::Bbr),
        Default::default(),
        h.now,
        &slow_start,
    );
    assert_eq!(bbr.phase(), BbrPhase::Startup);
    assert_eq!(bbr.max_bandwidth(), 1_500_000);
    assert_eq!(bbr.pacing_rate(), Some(paced(2770, 1_500_000)));
    // And back: NewReno takes BBR's window.
    let reno = NewReno::from_state(&ControllerConfig::default(), &state);
    assert_eq!(reno.window(), state.window);
}

/// Appendix A.11 and §5.4: after an application pause longer than the ProbeRTT interval the
/// flow restarts pacing at exactly bw in ProbeBW and skips ProbeRTT (the idle period drained
/// the queue).
#[test]
fn restart_from_idle() {
    let cfg = path();
    let mut h = Harness::new(cfg);
    h.run_until(secs(3));
    h.app_budget = 0;
    h.run_until(secs(10));
    let bw = h.cc.bandwidth();
    assert_eq!(h.bytes_in_flight, 0);
    assert!(h.est.is_app_limited());
    let phase = h.cc.phase();
    assert!(
        matches!(phase, BbrPhase::ProbeBwDown | BbrPhase::ProbeBwCruise),
        "{phase:?}"
    );
    // The first send after the pause.
    h.app_budget = u64::MAX;
    let before = h.trace.len();
    h.run_until(secs(10) + Duration::from_millis(1));
    assert_eq!(h.cc.bandwidth(), bw);
    assert_eq!(h.cc.pacing_rate(), Some(paced(1000, bw)));
    h.run_until(secs(12));
    assert!(
        h.trace[before..]
            .iter()
            .all(|p| p.phase != BbrPhase::ProbeRtt),
        "ProbeRTT after an idle restart"
    );
    assert!(h.utilization(secs(11), secs(12)) >= 0.9);
}

/// §5.3.1.3 and Appendix A.2: heavy loss in Startup ends it before the bandwidth plateau,
/// with BBR.inflight_longterm set from the losses.
#[test]
fn startup_exits_on_high_loss() {
    // 100 Mbit/s, 40 ms: Startup would need ~11 rounds; 5 % loss exceeds the 2 % threshold.
    let mut cfg = PathConfig::new(12_500_000, Duration::from_millis(40));
    cfg.loss = 0.05;
    let mut h = Harness::new(cfg);
    h.run_until(secs(2));
    let drain = h
        .trace
        .iter()
        .find(|p| p.phase != BbrPhase::Startup)
        .expect("left Startup");
    assert_eq!(drain.phase, BbrPhase::Drain);
    assert!(h.cc.full_bandwidth_reached());
    assert!(h.cc.inflight_longterm().is_some());
    // Without loss the same path leaves Startup with inflight_longterm unset.
    let mut clean = Harness::new(PathConfig::new(12_500_000, Duration::from_millis(40)));
    clean.run_until(secs(2));
    assert!(clean.cc.full_bandwidth_reached());
    assert_eq!(clean.cc.inflight_longterm(), None);
}

/// A small BDP (1 Mbit/s, 10 ms: about one packet): the cwnd never goes below BBR.MinPipeCwnd
/// and the pacing rate still matches the bottleneck (Appendix A.14).
#[test]
fn sub_packet_bdp() {
    let cfg = PathConfig::new(125_000, Duration::from_millis(10));
    let mut h = Harness::new(cfg);
    h.run_until(secs(20));
    assert!(h.trace.iter().all(|p| p.cwnd >= 4 * cfg.packet_size));
    assert!(h.utilization(secs(5), secs(20)) >= 0.95);
    let last = h.trace.last().unwrap();
    assert!(
        last.max_bw.abs_diff(cfg.rate) * 100 <= 2 * cfg.rate,
        "{last:?}"
    );
}

/// The largest RTT the harness saw between `from` and `to` (times since the start).
fn max_rtt_between(h: &Harness, from: Duration, to: Duration) -> Duration {
    h.trace
        .iter()
        .filter(|p| p.time >= h.t0 + from && p.time < h.t0 + to)
        .map(|p| p.rtt)
        .max()
        .unwrap_or_default()
}

/// A bulk flow whose bottleneck falls tenfold at 10 s (12 → 1.2 Mbit/s), and comes back at
/// `back` if given.
fn capacity_drop_run(capacity_drop: bool, back: Option<Duration>, until: Duration) -> Harness {
    let cfg = path();
    let params = crate::congestion::BbrConfig {
        capacity_drop,
        ..crate::congestion::BbrConfig::default()
    };
    let mut h = harness_with(cfg, params);
    h.run_until(secs(10));
    h.config.rate = cfg.rate / 10;
    match back {
        Some(back) => {
            h.run_until(back);
            h.config.rate = cfg.rate;
            h.run_until(until);
        }
        None => h.run_until(until),
    }
    h
}

/// weir's capacity-drop response: a tenfold drop is acted on once, within a few round trips,
/// with the model at the new rate; the queue the old rate built drains, and from then the
/// RTT stays within a BDP of queue of the base. The draft's BBR keeps the old max_bw for
/// seconds and queues more than ten times the base RTT.
#[test]
fn a_tenfold_capacity_drop_is_measured_and_the_queue_drains() {
    let cfg = path();
    let base = cfg.base_rtt() + path().serialization() * 9;
    let h = capacity_drop_run(true, None, secs(16));
    assert_eq!(h.cc.capacity_drops(), 1, "{:?}", h.transitions());
    let new_rate = cfg.rate / 10;
    let last = h.trace.last().unwrap();
    assert!(
        last.max_bw.abs_diff(new_rate) * 5 <= new_rate,
        "max_bw {} against {new_rate}",
        last.max_bw
    );
    // The queue built before the response drains within 2 s; after it, a quick probe (gain
    // 2) queues at most a BDP of the new rate and BBR.MinPipeCwnd's four packets.
    let settled = max_rtt_between(&h, secs(12), secs(16));
    let bound = base * 2 + path().serialization() * 40;
    assert!(
        settled <= bound,
        "RTT {settled:?} after the drain (base {base:?})"
    );
    // Nothing was lost: the buffer is unlimited, so the whole response is the model's.
    assert_eq!(h.losses, 0);

    let draft = capacity_drop_run(false, None, secs(16));
    assert_eq!(draft.cc.capacity_drops(), 0);
    let queued = max_rtt_between(&draft, secs(12), secs(16));
    assert!(
        queued >= base * 10,
        "the draft's RTT {queued:?} (base {base:?})"
    );
}

/// A link that comes back after a drop is found again within a second (quick probes while the
/// old capacity is remembered), rather than at the draft's 2–3 s probe schedule from a model
/// that had forgotten it.
#[test]
fn a_link_that_comes_back_is_found_within_a_second() {
    let cfg = path();
    let h = capacity_drop_run(true, Some(secs(14)), secs(18));
    let found = h
        .trace
        .iter()
        .find(|p| p.time >= h.t0 + secs(14) && p.max_bw * 10 >= cfg.rate * 9)
        .expect("the old capacity was found again");
    let after = found.time - (h.t0 + secs(14));
    assert!(after <= secs(1), "found after {after:?}");
    let utilization = h.utilization(secs(15), secs(18));
    assert!(utilization >= 0.9, "utilization {utilization:.3} once back");
}

/// No drop is seen where none happens: a steady path through ProbeRTT and probes, and 1 %
/// random loss.
#[test]
fn a_steady_path_shows_no_capacity_drop() {
    let mut h = Harness::new(path());
    h.run_until(secs(30));
    assert_eq!(h.cc.capacity_drops(), 0);
    let mut cfg = path();
    cfg.loss = 0.01;
    let mut lossy = Harness::new(cfg);
    lossy.run_until(secs(30));
    assert_eq!(lossy.cc.capacity_drops(), 0);
}

/// weir's ProbeRTT on demand: on a steady path ProbeBW_DOWN empties the queue every cycle, so
/// samples at the path's RTT keep confirming it and no ProbeRTT is needed (the draft's enters
/// one every 5 s, `probe_rtt_on_schedule`); the flow keeps more of the link.
#[test]
fn probe_rtt_on_demand_skips_needless_probes() {
    let cfg = path();
    let mut h = Harness::new(cfg);
    h.run_until(secs(30));
    let probes = h
        .transitions()
        .iter()
        .filter(|t| t.2 == BbrPhase::ProbeRtt)
        .count();
    assert_eq!(probes, 0);
    assert_eq!(h.trace.last().unwrap().min_rtt, Some(cfg.base_rtt()));
    let utilization = h.utilization(secs(5), secs(30));
    assert!(utilization >= 0.97, "utilization {utilization:.3}");
}

/// weir's lean probes: each bandwidth probe queues at most half a BDP (one round of its own
/// feedback at 1.25, then a fast drain), where the draft's queues up to three quarters and
/// drains at 0.9.
#[test]
fn lean_probes_queue_at_most_half_a_bdp() {
    let cfg = path();
    let mut h = Harness::new(cfg);
    h.run_until(secs(30));
    let worst = max_rtt_between(&h, secs(5), secs(30));
    let bound = cfg.base_rtt() + cfg.base_rtt() / 2 + cfg.serialization() * 4;
    assert!(worst <= bound, "RTT {worst:?} (bound {bound:?})");
    let mut d = harness_with(cfg, super::draft());
    d.run_until(secs(30));
    let drafts = max_rtt_between(&d, secs(5), secs(30));
    assert!(drafts > bound, "the draft's RTT {drafts:?}");
}

/// Under a window capped by the connection (the adaptive queue guard) BBR probes as the draft
/// does (DOWN at 0.9) but keeps ProbeRTT on demand, which the short queue serves; lifting the
/// cap brings the lean probes back.
#[test]
fn a_capped_window_brings_back_the_drafts_probing() {
    let cfg = path();
    let mut h = Harness::new(cfg);
    h.cc.set_window_capped(true);
    h.run_until(secs(20));
    let downs: Vec<u32> = h
        .trace
        .iter()
        .filter(|p| p.phase == BbrPhase::ProbeBwDown)
        .map(|p| p.pacing_gain)
        .collect();
    assert!(
        !downs.is_empty() && downs.iter().all(|&g| g == 900),
        "{downs:?}"
    );
    assert!(!h.transitions().iter().any(|t| t.2 == BbrPhase::ProbeRtt));
    h.cc.set_window_capped(false);
    let from = h.trace.len();
    h.run_until(secs(40));
    assert!(
        h.trace[from..]
            .iter()
            .any(|p| p.phase == BbrPhase::ProbeBwDown && p.pacing_gain == 750)
    );
}

/// A drop of a hundredfold (Wi-Fi into a tunnel's 2G: 12 Mbit/s to 120 kbit/s, where a
/// 1200-byte packet takes 80 ms and ACKs come that far apart) is acted on once the packets sent
/// after it come back through the queue the old rate built (this path's queue is unlimited:
/// 2 BDP of the old rate take 8 s to drain), never more than a sixtieth at a time: the model is
/// within twice the new rate seconds before the draft's BBR lets go of the old one.
#[test]
fn a_hundredfold_drop_is_followed_to_the_new_rate() {
    let cfg = path();
    let new_rate = cfg.rate / 100;
    let within_twice = |h: &Harness| {
        h.trace
            .iter()
            .find(|p| p.time >= h.t0 + secs(10) && p.max_bw <= new_rate * 2)
            .map_or(Duration::MAX, |p| p.time - h.t0)
    };
    let mut h = harness_with(cfg, crate::congestion::BbrConfig::default());
    h.run_until(secs(10));
    h.config.rate = new_rate;
    h.run_until(secs(20));
    let found = within_twice(&h);
    assert!(
        found <= secs(15),
        "found at {found:?}: {:?}",
        h.transitions()
    );
    assert!(h.cc.capacity_drops() >= 1);
    let last = h.trace.last().unwrap();
    assert!(
        last.max_bw <= new_rate * 2 && last.max_bw >= new_rate / 2,
        "max_bw {} against {new_rate}",
        last.max_bw
    );
    let mut draft = harness_with(cfg, super::draft());
    draft.run_until(secs(10));
    draft.config.rate = new_rate;
    draft.run_until(secs(20));
    assert!(
        within_twice(&draft) > found + secs(2),
        "{:?}",
        within_twice(&draft)
    );
}

/// weir's random-loss compensation (`BbrConfig::random_loss_compensation`) on a path that
/// drops 10 % at random before the bottleneck: BBR.bw (what is delivered) still measures the
/// bottleneck, and BBR paces at `bw / (1 − p)` so that what survives the losses keeps it busy.
/// Without the compensation the surviving tenth is missing whenever BBR cruises.
#[test]
fn random_loss_is_compensated_without_a_queue() {
    let run = |compensate: bool| {
        let mut cfg = path();
        cfg.loss = 0.10;
        let params = crate::congestion::BbrConfig {
            random_loss_compensation: compensate,
            ..crate::congestion::BbrConfig::default()
        };
        let mut h = harness_with(cfg, params);
        h.run_until(secs(30));
        h
    };
    let with = run(true);
    let without = run(false);
    let (u_with, u_without) = (
        with.utilization(secs(5), secs(30)),
        without.utilization(secs(5), secs(30)),
    );
    assert!(
        u_with >= 0.95,
        "utilization {u_with:.3} with the compensation"
    );
    assert!(
        u_without + 0.04 <= u_with,
        "{u_without:.3} without against {u_with:.3} with"
    );
    let cc = &with.cc;
    assert!(
        (80..=120).contains(&cc.compensated_loss_permille()),
        "{}",
        cc.compensated_loss_permille()
    );
    // What is delivered is still the bottleneck's rate, and the queue stays short.
    let last = with.trace.last().unwrap();
    assert!(
        last.max_bw.abs_diff(path().rate) * 100 <= 3 * path().rate,
        "{last:?}"
    );
    let (q_with, q_without) = (
        max_rtt_between(&with, secs(5), secs(30)),
        max_rtt_between(&without, secs(5), secs(30)),
    );
    assert!(
        q_with <= q_without * 5 / 4,
        "{q_with:?} against {q_without:?}"
    );
}

/// weir's Startup queue exit (`BbrConfig::startup_queue_exit`): Startup ends once a whole
/// round saw a queue, a round before the draft's three rounds without growth on this path
/// (where the window caps Startup's queue at about a BDP either way; on a 2 Mbit/s link with a
/// 1 s buffer, where ACK aggregation lets Startup's window grow further, the exit took the 99th
/// percentile of a ping beside the flow from 266 to 54 ms); the bandwidth it measured is still
/// the bottleneck's.
#[test]
fn startup_ends_on_a_standing_queue() {
    let run = |exit: bool| {
        let params = crate::congestion::BbrConfig {
            startup_queue_exit: exit,
            ..crate::congestion::BbrConfig::default()
        };
        let mut h = harness_with(path(), params);
        h.run_until(secs(3));
        h
    };
    let (with, without) = (run(true), run(false));
    assert_eq!(with.cc.startup_queue_exits(), 1);
    assert_eq!(without.cc.startup_queue_exits(), 0);
    let drain = |h: &Harness| {
        h.transitions()
            .into_iter()
            .find(|t| t.2 == BbrPhase::Drain)
            .expect("Startup ended")
    };
    let (a, b) = (drain(&with), drain(&without));
    assert!(a.1 < b.1 && a.0 < b.0, "{a:?} against {b:?}");
    let peak = |h: &Harness| max_rtt_between(h, Duration::ZERO, secs(3));
    assert!(peak(&with) <= peak(&without));
    let last = with.trace.last().unwrap();
    assert!(
        last.max_bw.abs_diff(path().rate) * 100 <= 5 * path().rate,
        "{last:?}"
    );
    assert!(with.utilization(secs(1), secs(3)) >= 0.9);
}
