use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::*;
use crate::congestion::vegas::fake_path::FakePath;
use crate::congestion::{CongestionCause, NewReno, RttSnapshot, Vegas, hystart, test_epoch};

const MDS: u64 = 1200;
const RTT: Duration = Duration::from_millis(100);
const MS: Duration = Duration::from_millis(1);

fn snapshot(rtt: Duration) -> RttSnapshot {
    RttSnapshot {
        latest: rtt,
        smoothed: rtt,
        min: rtt,
        rttvar: rtt / 2,
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

/// One ACK frame at `now` acknowledging one `MDS` packet sent at `sent`, with an RTT sample.
fn frame(cc: &mut Cubic, now: Instant, sent: Instant, rtt: Duration, app_limited: bool) {
    cc.on_packet_acked(
        now,
        &AckedPacket {
            sent_time: sent,
            bytes: MDS,
            rtt: snapshot(rtt),
            app_limited,
        },
    );
    cc.on_ack_event(
        now,
        &AckEvent {
            bytes_acked: MDS,
            bytes_in_flight: 0,
            rtt: snapshot(rtt),
            rtt_sampled: true,
            largest_acked_sent_time: sent,
            app_limited,
            delivery_rate: None,
        },
    );
}

/// One round: `packets` packets sent at `t`, each acknowledged in its own frame `rtt` later.
fn round(cc: &mut Cubic, t: Instant, packets: u64, rtt: Duration) -> Instant {
    for i in 0..packets {
        cc.on_packet_sent(t, MDS, (i + 1) * MDS);
    }
    for _ in 0..packets {
        frame(cc, t + rtt, t, rtt, false);
    }
    t + rtt
}

/// One round of a full window, acknowledged one [`RTT`] later.
fn full_round(cc: &mut Cubic, t: Instant) -> Instant {
    let packets = cc.window() / MDS;
    round(cc, t, packets, RTT)
}

/// A CUBIC in congestion avoidance at `packets` datagrams that sees a loss at `t0`.
fn after_loss(t0: Instant, packets: u64) -> Cubic {
    let state = ControllerState {
        ssthresh: Some(packets * MDS),
        ..ControllerState::new(packets * MDS, MDS)
    };
    let mut cc = Cubic::from_state(&ControllerConfig::new(ControllerKind::Cubic), &state);
    cc.on_congestion_event(t0, &loss(t0 - MS, false));
    cc
}

#[test]
fn constants_per_rfc_9438() {
    assert_eq!(CUBIC_C, 0.4);
    assert_eq!(BETA_CUBIC, 0.7);
    // α_cubic = 3 × 0.3 / 1.7 = 0.5294…
    assert!((ALPHA_CUBIC - 9.0 / 17.0).abs() < 1e-12);
    let cc = Cubic::new(MDS);
    assert_eq!(cc.window(), 12_000);
    assert_eq!(cc.minimum_window(), 2400);
    assert!(cc.in_slow_start());
    assert_eq!(cc.ssthresh(), None);
    assert_eq!(cc.kind(), ControllerKind::Cubic);
    assert_eq!(cc.pacing_rate(), None);
    assert_eq!(cc.hystart_phase(), HyStartPhase::SlowStart);
    assert_eq!(
        (cc.w_max(), cc.k(), cc.w_cubic(Duration::ZERO)),
        (None, None, None)
    );
}

#[test]
fn loss_reduces_the_window_to_beta_times_cwnd() {
    let t0 = test_epoch();
    let cc = after_loss(t0, 100);
    // RFC 9438 §4.6: ssthresh = cwnd × 0.7 = 84000; cwnd = ssthresh.
    assert_eq!(cc.window(), 84_000);
    assert_eq!(cc.ssthresh(), Some(84_000));
    assert_eq!(cc.cwnd_prior(), 120_000);
    // §4.7: the first congestion event remembers the window.
    assert_eq!(cc.w_max(), Some(120_000));
    assert_eq!(cc.recovery_start(), Some(t0));
    assert!(!cc.in_slow_start());
    // Exact integer arithmetic on odd windows: 12345 × 0.7 = 8641.5 → 8641.
    let state = ControllerState {
        ssthresh: Some(12_345),
        ..ControllerState::new(12_345, MDS)
    };
    let mut cc = Cubic::from_state(&ControllerConfig::new(ControllerKind::Cubic), &state);
    cc.on_congestion_event(t0, &loss(t0, false));
    assert_eq!(cc.window(), 8641);
    // Floored at the minimum window (RFC 9438 §4.6: at least 2 segments): 3000 × 0.7 = 2100.
    let mut cc = Cubic::from_state(
        &ControllerConfig::new(ControllerKind::Cubic),
        &ControllerState::new(3000, MDS),
    );
    cc.on_congestion_event(t0, &loss(t0, false));
    assert_eq!((cc.window(), cc.ssthresh()), (2400, Some(2400)));
}

#[test]
fn k_and_w_cubic_match_the_formula() {
    let t0 = test_epoch();
    let mut cc = after_loss(t0, 100);
    // The epoch starts with the first acknowledgement that ends the recovery period.
    let t1 = t0 + RTT;
    frame(&mut cc, t1, t0 + MS, RTT, false);
    assert_eq!(cc.epoch_start(), Some(t1));
    assert_eq!(cc.epoch_window(), Some(84_000));
    // RFC 9438 Figure 2: K = ∛((W_max − cwnd_epoch) / C) = ∛((100 − 70) / 0.4) = ∛75 s.
    let k = cc.k().unwrap().as_secs_f64();
    assert!((k - 75f64.cbrt()).abs() < 1e-9, "K = {k}");
    assert!((k - 4.217_163_326_5).abs() < 1e-9);
    // Figure 1: W_cubic(t) = C × (t − K)³ + W_max, in bytes (× 1200).
    let expected = |t: f64| 0.4 * 1200.0 * (t - k).powi(3) + 120_000.0;
    for (t, bytes) in [
        (0.0, 84_000),
        (1.0, 104_016),
        (2.0, 114_768),
        (5.0, 120_230),
        (10.0, 212_824),
    ] {
        let w = cc.w_cubic(Duration::from_secs_f64(t)).unwrap();
        assert_eq!(w, bytes, "t = {t}");
        assert!((w as f64 - expected(t)).abs() < 1.0);
    }
    // At t = K the curve is at its plateau, W_max.
    let at_k = cc.w_cubic(cc.k().unwrap()).unwrap();
    assert!(at_k.abs_diff(120_000) <= 1, "{at_k}");
    // The free functions agree.
    assert!((k_seconds(120_000.0, 84_000.0, MDS) - k).abs() < 1e-9);
    assert_eq!(w_cubic_bytes(k, k, 120_000.0, MDS), 120_000.0);
    assert_eq!(k_seconds(1.0, 0.0, 0), 0.0);
}

#[test]
fn fast_convergence_lowers_w_max() {
    let t0 = test_epoch();
    let mut cc = after_loss(t0, 100);
    assert_eq!(cc.w_max(), Some(120_000));
    // Grow for two seconds (below W_max), then lose again.
    let mut t = t0 + MS;
    while t < t0 + Duration::from_secs(2) {
        t = full_round(&mut cc, t);
    }
    let cwnd = cc.window();
    assert!((84_000..120_000).contains(&cwnd), "{cwnd}");
    cc.on_congestion_event(t, &loss(t - MS, false));
    // RFC 9438 §4.7: cwnd < W_max, so W_max = cwnd × (1 + β) / 2 = 0.85 × cwnd.
    let w_max = cc.w_max().unwrap();
    assert_eq!(w_max, cwnd * 17 / 20);
    assert_eq!(cc.window(), cwnd * 7 / 10);
    assert_eq!(cc.cwnd_prior(), cwnd);
    // Without fast convergence W_max is the window at the loss.
    let mut cc = after_loss(t0, 100);
    cc.set_fast_convergence(false);
    let mut t = t0 + MS;
    while t < t0 + Duration::from_secs(2) {
        t = full_round(&mut cc, t);
    }
    let cwnd = cc.window();
    cc.on_congestion_event(t, &loss(t - MS, false));
    assert_eq!(cc.w_max(), Some(cwnd));
    // Above the old W_max, fast convergence does not apply either: W_max = cwnd.
    let mut cc = after_loss(t0, 10);
    let mut t = t0 + MS;
    while cc.window() <= 12_000 {
        t = full_round(&mut cc, t);
    }
    let cwnd = cc.window();
    cc.on_congestion_event(t, &loss(t - MS, false));
    assert_eq!(cc.w_max(), Some(cwnd));
}

#[test]
fn window_follows_w_cubic_per_rtt_from_an_ack_clock() {
    let t0 = test_epoch();
    // A path far faster than the window (3000-packet BDP): no queue, RTT 100 ms + 33 µs.
    let path = FakePath {
        rate: 30_000 * MDS,
        base_rtt: RTT,
        packet: MDS,
        queue_limit: None,
    };
    // A loss at W_max = 1000 packets: cwnd = 700 packets, K = ∛(300 / 0.4) = 9.09 s.
    let mut cc = after_loss(t0, 1000);
    let mut rows = Vec::new();
    path.run_observed(&mut cc, t0, Duration::from_secs(14), |cc, round| {
        if let (Some(start), Some(w_est)) = (cc.epoch_start(), cc.w_est()) {
            let t = (t0 + round.at).saturating_duration_since(start);
            let w = |t| cc.w_cubic(t).unwrap();
            rows.push((
                t,
                round.window,
                w(t),
                w_est,
                w(t.saturating_sub(RTT)),
                w(t + RTT),
            ));
        }
    });
    let k = cc.k().unwrap();
    assert!((k.as_secs_f64() - 750f64.cbrt()).abs() < 1e-9);
    println!("cubic ack clock, W_max 1000 packets, RTT 100 ms, K = {k:?}");
    println!("   t (s)   cwnd  W_cubic(t)  W_est  (packets)");
    for &(t, window, w_cubic, w_est, ..) in rows.iter().step_by(10) {
        let packets = |bytes: u64| bytes as f64 / MDS as f64;
        println!(
            "{:8.2} {:6.1} {:11.1} {:6.1}",
            t.as_secs_f64(),
            packets(window),
            packets(w_cubic),
            packets(w_est)
        );
    }
    // Every round, the window is on the curve within one RTT of it: the per-ACK increase
    // (target − cwnd) / cwnd moves towards W_cubic(t + RTT) over the next RTT, so the window lags
    // the curve by a fraction of an RTT.
    let mut worst = 0.0f64;
    for &(t, window, w_cubic, _, behind, ahead) in &rows {
        assert!(
            window + MDS >= behind && window <= ahead,
            "t = {t:?}: cwnd {window} vs W_cubic {behind}..{ahead}"
        );
        worst = worst.max((window as f64 - w_cubic as f64).abs() / w_cubic as f64);
    }
    println!("largest |cwnd − W_cubic(t)| / W_cubic(t) at a round end: {worst:.4}");
    assert!(worst < 0.01);
    // Concave growth slows towards the plateau at K, convex growth speeds up after it.
    let growth = |from: f64, to: f64| {
        let at = |s: f64| {
            rows.iter()
                .find(|(t, ..)| t.as_secs_f64() >= s)
                .map(|&(_, w, ..)| w)
                .unwrap()
        };
        (at(to) - at(from)) as f64 / MDS as f64
    };
    let early = growth(0.5, 1.5);
    let plateau = growth(8.6, 9.6);
    let late = growth(12.0, 13.0);
    println!("growth per second: {early:.1} early, {plateau:.1} at K, {late:.1} at K + 3 s");
    assert!(early > 50.0 && plateau < 1.0 && late > 10.0);
    // Outside the Reno-friendly region from the first RTT on (at t = 0 W_cubic = cwnd_epoch
    // and W_est is a hair above it).
    assert!(
        rows.iter()
            .filter(|row| row.0 >= RTT)
            .all(|&(_, _, w_cubic, w_est, ..)| w_est < w_cubic)
    );
}

#[test]
fn reno_friendly_region_wins_at_short_rtt() {
    let t0 = test_epoch();
    // A 10 ms path, and a loss at 20 packets: K = ∛(6 / 0.4) = 2.47 s, during which the cubic
    // curve grows 6 packets while Reno grows 0.53 (α_cubic) per RTT: 100 RTTs per second.
    let path = FakePath {
        rate: 10_000 * MDS,
        base_rtt: Duration::from_millis(10),
        packet: MDS,
        queue_limit: None,
    };
    let mut cc = after_loss(t0, 20);
    let mut rows = Vec::new();
    path.run_observed(&mut cc, t0, Duration::from_secs(1), |cc, round| {
        if let (Some(start), Some(w_est)) = (cc.epoch_start(), cc.w_est()) {
            let t = (t0 + round.at).saturating_duration_since(start);
            rows.push((round.window, cc.w_cubic(t).unwrap(), w_est));
        }
    });
    // In the Reno-friendly region every round: cwnd = W_est > W_cubic(t).
    for &(window, w_cubic, w_est) in &rows {
        assert!(w_est > w_cubic, "W_est {w_est} vs W_cubic {w_cubic}");
        assert!(
            window.abs_diff(w_est) <= 1,
            "cwnd {window} vs W_est {w_est}"
        );
    }
    // Per RTT: α_cubic = 0.53 packets until W_est reaches cwnd_prior (20 packets), then 1.
    let per_rtt: Vec<f64> = rows
        .windows(2)
        .map(|w| (w[1].0 as f64 - w[0].0 as f64) / MDS as f64)
        .collect();
    let below: Vec<f64> = rows
        .windows(2)
        .zip(&per_rtt)
        .filter(|(w, _)| w[1].2 < 20 * MDS)
        .map(|(_, g)| *g)
        .collect();
    let above: Vec<f64> = rows
        .windows(2)
        .zip(&per_rtt)
        .filter(|(w, _)| w[0].2 > 21 * MDS)
        .map(|(_, g)| *g)
        .collect();
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    println!(
        "cubic Reno-friendly at RTT 10 ms: {:.3} packets/RTT below cwnd_prior ({} rounds), \
         {:.3} above ({} rounds); window after 1 s: {} packets, W_cubic {} packets",
        mean(&below),
        below.len(),
        mean(&above),
        above.len(),
        rows.last().unwrap().0 / MDS,
        rows.last().unwrap().1 / MDS,
    );
    assert!(
        (mean(&below) - ALPHA_CUBIC).abs() < 0.03,
        "{}",
        mean(&below)
    );
    assert!((mean(&above) - 1.0).abs() < 0.03, "{}", mean(&above));
}

#[test]
fn hystart_exits_slow_start_into_css_then_avoidance_on_a_queue() {
    let t0 = test_epoch();
    // 1000 packets/s, 50 ms: a BDP of 51 packets, a buffer large enough for no loss.
    let path = FakePath {
        rate: 1000 * MDS,
        base_rtt: Duration::from_millis(50),
        packet: MDS,
        queue_limit: Some(1000 * MDS),
    };
    let mut cc = Cubic::new(MDS);
    let mut phases = Vec::new();
    let trace = path.run_observed(&mut cc, t0, Duration::from_secs(5), |cc, round| {
        phases.push((
            round.at,
            cc.hystart_phase(),
            round.window,
            round.queue_packets,
        ));
    });
    let css = phases
        .iter()
        .position(|p| p.1 == HyStartPhase::ConservativeSlowStart)
        .expect("CSS entered");
    let done = phases
        .iter()
        .position(|p| p.1 == HyStartPhase::Done)
        .expect("CSS completed");
    println!(
        "cubic hystart on a 51-packet BDP: CSS at round {css} ({:?}, window {} packets, queue \
         {:.1}), congestion avoidance at round {done} (window {} packets), {} losses",
        phases[css].0,
        phases[css].2 / MDS,
        phases[css].3,
        phases[done].2 / MDS,
        trace.packets_lost,
    );
    assert_eq!(trace.packets_lost, 0);
    // CSS lasts CSS_ROUNDS rounds, counting the one it began in.
    assert!(done > css && done - css <= hystart::CSS_ROUNDS as usize + 1);
    // Slow start ended without a loss: ssthresh = cwnd at the exit, W_max undefined until the
    // epoch starts at the exit window (RFC 9438 §4.10: K = 0).
    assert!(!cc.in_slow_start());
    assert_eq!(cc.k(), Some(Duration::ZERO));
    assert_eq!(cc.w_max(), cc.epoch_window());
    assert_eq!(cc.cwnd_prior(), cc.ssthresh().unwrap());
}

#[test]
fn hystart_css_grows_a_quarter_and_resumes_slow_start_when_the_rtt_falls() {
    let t0 = test_epoch();
    let mut cc = Cubic::new(MDS);
    let ms = |n| Duration::from_millis(n);
    // Round 1 at 40 ms, round 2 at 50 ms (≥ 40 + max(4, 40/8) ms): CSS from its 8th sample.
    let t = round(&mut cc, t0, 10, ms(40));
    assert_eq!(cc.window(), 24_000);
    let t = round(&mut cc, t, 20, ms(50));
    assert_eq!(cc.hystart_phase(), HyStartPhase::ConservativeSlowStart);
    // 8 acknowledgements in slow start, the 12 after the switch at a quarter.
    assert_eq!(cc.window(), 24_000 + 8 * MDS + 12 * MDS / 4);
    // A CSS round at the baseline grows by a quarter per acknowledged byte.
    let before = cc.window();
    let t = round(&mut cc, t, 20, ms(50));
    assert_eq!(cc.window(), before + 20 * MDS / 4);
    assert!(cc.in_slow_start());
    // The RTT falls below the baseline: back to slow start after the 8th sample.
    let before = cc.window();
    let t = round(&mut cc, t, 20, ms(42));
    assert_eq!(cc.hystart_phase(), HyStartPhase::SlowStart);
    assert_eq!(cc.window(), before + 8 * MDS / 4 + 12 * MDS);
    // A loss ends HyStart++ for good.
    cc.on_congestion_event(t, &loss(t - MS, false));
    assert_eq!(cc.hystart_phase(), HyStartPhase::Done);
}

#[test]
fn application_limited_acks_do_not_grow_and_do_not_count_towards_t() {
    let t0 = test_epoch();
    // Slow start.
    let mut cc = Cubic::new(MDS);
    for _ in 0..50 {
        frame(&mut cc, t0 + RTT, t0, RTT, true);
    }
    assert_eq!(cc.window(), 12_000);
    // Congestion avoidance: the epoch starts at t1; app-limited from t1 + 1 s to t1 + 5 s.
    let mut limited = after_loss(t0, 100);
    let mut twin = after_loss(t0, 100);
    let t1 = t0 + RTT;
    for cc in [&mut limited, &mut twin] {
        frame(cc, t1, t0 + MS, RTT, false);
    }
    let window = limited.window();
    for i in 0..=40 {
        frame(
            &mut limited,
            t1 + Duration::from_secs(1) + i * RTT,
            t1,
            RTT,
            true,
        );
    }
    assert_eq!(limited.window(), window);
    assert_eq!(limited.epoch_start(), Some(t1));
    frame(&mut twin, t1 + Duration::from_secs(1), t1, RTT, false);
    // The next cwnd-limited acknowledgement: the 4 s are cut out of the epoch.
    frame(&mut limited, t1 + Duration::from_secs(5), t1, RTT, false);
    assert_eq!(limited.epoch_start(), Some(t1 + Duration::from_secs(4)));
    // So it grows as the twin did one second into its epoch, not five.
    assert_eq!(limited.window(), twin.window());
    assert_eq!(limited.w_est(), twin.w_est());
}

#[test]
fn one_reduction_per_recovery_period() {
    let t0 = test_epoch();
    let mut cc = after_loss(t0, 100);
    assert_eq!(cc.window(), 84_000);
    // Losses of packets sent before (or at) the recovery start: no further reduction.
    cc.on_congestion_event(t0 + RTT, &loss(t0 - RTT / 2, false));
    cc.on_congestion_event(t0 + RTT, &loss(t0, false));
    assert_eq!(cc.window(), 84_000);
    // Their acknowledgements do not grow the window nor start an epoch.
    frame(&mut cc, t0 + RTT, t0, RTT, false);
    assert_eq!((cc.window(), cc.epoch_start()), (84_000, None));
    // ECN-CE for a packet sent after the start: a new period, a new reduction.
    let ce = CongestionEvent {
        cause: CongestionCause::EcnCe,
        lost_bytes: 0,
        ..loss(t0 + MS, false)
    };
    cc.on_congestion_event(t0 + 2 * RTT, &ce);
    assert_eq!(cc.window(), 58_800);
    assert_eq!(cc.recovery_start(), Some(t0 + 2 * RTT));
    // Fast convergence: 84000 < W_max = 120000, so W_max = 84000 × 0.85.
    assert_eq!(cc.w_max(), Some(71_400));
}

#[test]
fn persistent_congestion_collapses_then_restarts_with_k_zero() {
    let t0 = test_epoch();
    let mut cc = after_loss(t0, 100);
    cc.on_congestion_event(t0 + RTT, &loss(t0 + MS, true));
    // RFC 9438 §4.8: ssthresh from β (84000 × 0.7), the window to the minimum.
    assert_eq!(cc.window(), 2400);
    assert_eq!(cc.ssthresh(), Some(58_800));
    assert_eq!(cc.recovery_start(), None);
    assert_eq!(cc.w_max(), None);
    assert!(cc.in_slow_start());
    assert_eq!(cc.hystart_phase(), HyStartPhase::Done);
    // Standard slow start (not HyStart++) back to ssthresh…
    let mut t = t0 + 2 * RTT;
    while cc.in_slow_start() {
        t = full_round(&mut cc, t);
    }
    // …then an epoch with K = 0 and W_max = its starting window.
    t = round(&mut cc, t, 1, RTT);
    assert_eq!(cc.k(), Some(Duration::ZERO));
    assert_eq!(cc.w_max(), cc.epoch_window());
    let _ = t;
}

#[test]
fn live_switch_keeps_the_window() {
    let t0 = test_epoch();
    // NewReno in congestion avoidance with a recovery period → CUBIC.
    let mut reno = NewReno::new(MDS);
    let mut t = t0;
    for _ in 0..3 {
        for _ in 0..reno.window() / MDS {
            reno.on_packet_acked(
                t + RTT,
                &AckedPacket {
                    sent_time: t,
                    bytes: MDS,
                    rtt: snapshot(RTT),
                    app_limited: false,
                },
            );
        }
        t += RTT;
    }
    reno.on_congestion_event(t, &loss(t - RTT, false));
    let state = reno.state();
    assert_eq!(state.window, 48_000);
    let config = ControllerConfig::new(ControllerKind::Cubic);
    let mut cubic = config.build_from_state(t, &state).unwrap();
    assert_eq!(cubic.kind(), ControllerKind::Cubic);
    assert_eq!(cubic.state(), state);
    assert_eq!(cubic.window(), 48_000);
    assert!(!cubic.in_slow_start());
    // Still in the predecessor's recovery period.
    cubic.on_congestion_event(t + RTT, &loss(t - RTT / 2, false));
    assert_eq!(cubic.window(), 48_000);
    // CUBIC → Vegas → CUBIC keeps the window too.
    let vegas = ControllerConfig::new(ControllerKind::Vegas)
        .build_from_state(t, &cubic.state())
        .unwrap();
    assert_eq!(vegas.window(), 48_000);
    let back = Cubic::from_state(&config, &vegas.state());
    assert_eq!(back.window(), 48_000);
    assert_eq!(back.ssthresh(), Some(48_000));
    // A successor in congestion avoidance starts its epoch at the inherited window (K = 0).
    let mut cc = Cubic::from_state(
        &config,
        &ControllerState {
            ssthresh: Some(30_000),
            ..ControllerState::new(60_000, MDS)
        },
    );
    frame(&mut cc, t, t - RTT, RTT, false);
    assert_eq!(cc.epoch_window(), Some(60_000));
    assert_eq!((cc.k(), cc.w_max()), (Some(Duration::ZERO), Some(60_000)));
    // A successor without a threshold runs HyStart++.
    let fresh = Cubic::from_state(&config, &ControllerState::new(20_000, MDS));
    assert_eq!(fresh.hystart_phase(), HyStartPhase::SlowStart);
    assert_eq!(fresh.window(), 20_000);
    // The factory builds CUBIC from scratch too.
    let built = config.build(t0, 1472).unwrap();
    assert_eq!(built.window(), 14_720);
    assert!(ControllerKind::Cubic.is_implemented());
    let _ = Vegas::new(MDS);
}

#[test]
fn datagram_size_changes() {
    let t0 = test_epoch();
    let mut cc = Cubic::new(MDS);
    cc.set_max_datagram_size(1472);
    assert_eq!(cc.window(), 14_720);
    cc.set_max_datagram_size(1200);
    assert_eq!(cc.window(), 12_000);
    let mut cc = after_loss(t0, 100);
    frame(&mut cc, t0 + RTT, t0 + MS, RTT, false);
    assert!(cc.epoch_start().is_some());
    // A new size keeps the window and W_max but starts a new epoch; the minimum window
    // follows.
    cc.set_max_datagram_size(1400);
    assert_eq!(cc.epoch_start(), None);
    assert_eq!(cc.w_max(), Some(120_000));
    assert!(cc.window() >= 84_000);
    cc.set_max_datagram_size(100_000);
    assert_eq!(cc.window(), 200_000);
    cc.set_max_datagram_size(0);
    assert_eq!(cc.minimum_window(), 2);
}

#[test]
fn drop_tail_sawtooth() {
    let t0 = test_epoch();
    // 1000 packets/s, 100 ms: a BDP of 101 packets and a 50-packet drop-tail buffer.
    let path = FakePath {
        rate: 1000 * MDS,
        base_rtt: RTT,
        packet: MDS,
        queue_limit: Some(50 * MDS),
    };
    let mut cc = Cubic::new(MDS);
    let mut w_max = Vec::new();
    let mut reductions = Vec::new();
    let trace = path.run_observed(&mut cc, t0, Duration::from_secs(60), |cc, _| {
        if let Some(start) = cc.recovery_start()
            && reductions.last() != Some(&start)
        {
            reductions.push(start);
            w_max.push(cc.w_max().unwrap_or(0));
        }
    });
    let utilisation = trace.bytes_acked as f64 / (60.0 * path.rate as f64);
    let steady: Vec<_> = trace
        .rounds
        .iter()
        .filter(|r| r.at > Duration::from_secs(10))
        .collect();
    let low = steady.iter().map(|r| r.window).min().unwrap();
    let high = steady.iter().map(|r| r.window).max().unwrap();
    println!(
        "cubic drop-tail (BDP 101 + 50 buffer): {} window reductions in 60 s, W_max {:?} \
         packets, window {}..={} packets after 10 s, utilisation {:.1} %",
        reductions.len(),
        w_max.iter().map(|w| w / MDS).collect::<Vec<_>>(),
        low / MDS,
        high / MDS,
        utilisation * 100.0
    );
    // The window saw-tooths between β × (BDP + buffer) and a little above BDP + buffer.
    assert!(low / MDS >= 90, "{low}");
    assert!(high / MDS <= 170, "{high}");
    assert!(utilisation > 0.9, "{utilisation}");
}

#[derive(Debug, Clone)]
enum Event {
    Ack {
        sent_ms: u16,
        rtt_ms: u16,
        app_limited: bool,
    },
    Loss {
        sent_ms: u16,
        persistent: bool,
    },
    Mds(u16),
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        8 => (any::<u16>(), 0u16..500, any::<bool>())
            .prop_map(|(sent_ms, rtt_ms, app_limited)| Event::Ack { sent_ms, rtt_ms, app_limited }),
        2 => (any::<u16>(), any::<bool>())
            .prop_map(|(sent_ms, persistent)| Event::Loss { sent_ms, persistent }),
        1 => (1200u16..=1500).prop_map(Event::Mds),
    ]
}

proptest! {
    /// Whatever the events, the window stays at or above the minimum window, an
    /// acknowledgement grows it by at most 1.5× (RFC 9438 §4.2's cap; slow start may double),
    /// app-limited ones not at all, and a loss never raises it.
    #[test]
    fn window_bounds_hold(events in prop::collection::vec(event(), 1..300)) {
        let t0 = test_epoch();
        let mut cc = Cubic::new(MDS);
        let mut now = t0;
        for e in events {
            now += Duration::from_millis(3);
            let before = cc.window();
            match e {
                Event::Ack { sent_ms, rtt_ms, app_limited } => {
                    let sent = t0 + Duration::from_millis(u64::from(sent_ms));
                    cc.on_packet_sent(sent, MDS, MDS);
                    frame(&mut cc, now, sent, Duration::from_millis(u64::from(rtt_ms)), app_limited);
                    prop_assert!(cc.window() >= before);
                    prop_assert!(cc.window() <= before.saturating_mul(2).max(before + MDS));
                    if app_limited {
                        prop_assert_eq!(cc.window(), before);
                    }
                }
                Event::Loss { sent_ms, persistent } => {
                    let sent = t0 + Duration::from_millis(u64::from(sent_ms));
                    cc.on_congestion_event(now, &loss(sent, persistent));
                    prop_assert!(cc.window() <= before.max(cc.minimum_window()));
                    if persistent {
                        prop_assert_eq!(cc.window(), cc.minimum_window());
                    }
                }
                Event::Mds(size) => cc.set_max_datagram_size(u64::from(size)),
            }
            prop_assert!(cc.window() >= cc.minimum_window());
            prop_assert_eq!(cc.in_slow_start(), cc.ssthresh().is_none_or(|s| cc.window() < s));
        }
    }
}

/// RFC 9438's `W_max` survives a live switch away from CUBIC and back: the returning CUBIC
/// resumes its concave approach to the capacity it last saw, with the same `K` as had it never
/// left.
#[test]
fn w_max_survives_a_switch_away_and_back() {
    let t0 = test_epoch();
    let cubic = after_loss(t0, 100);
    assert_eq!((cubic.window(), cubic.w_max()), (84_000, Some(120_000)));
    let vegas = ControllerConfig::new(ControllerKind::Vegas)
        .build_from_state(t0, &cubic.state())
        .unwrap();
    assert_eq!(vegas.state().w_max, Some(120_000));
    let reno = ControllerConfig::new(ControllerKind::NewReno)
        .build_from_state(t0, &vegas.state())
        .unwrap();
    assert_eq!(reno.state().w_max, Some(120_000));
    let config = ControllerConfig::new(ControllerKind::Cubic);
    let mut back = Cubic::from_state(&config, &reno.state());
    assert_eq!(back.w_max(), Some(120_000));
    frame(&mut back, t0 + RTT, t0 + MS, RTT, false);
    let k = back.k().unwrap().as_secs_f64();
    assert!((k - 75f64.cbrt()).abs() < 1e-9, "K = {k}");
    // BBR's window is not cut by losses: it hands over no W_max.
    let bbr = ControllerConfig::new(ControllerKind::Bbr)
        .build_from_state(t0, &cubic.state())
        .unwrap();
    assert_eq!(bbr.state().w_max, None);
}
