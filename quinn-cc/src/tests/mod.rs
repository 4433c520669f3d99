//! Unit tests: the factory, the mapping of quinn's calls, and each algorithm over a fake
//! bottleneck driven in quinn's call order.

use std::sync::Arc;
use std::time::{Duration, Instant};

use quinn_proto::congestion::{Controller as QuinnController, ControllerFactory};
use weir_core::congestion::{ControllerConfig, ControllerKind, initial_window};

use crate::send_log::MAX_RECORDS;
use crate::{WeirController, WeirControllerFactory};

mod fake_path;
mod properties;

use fake_path::FakePath;

const MDS: u16 = 1200;

/// A base instant: the controllers only ever compare instants derived from it.
#[allow(clippy::disallowed_methods)] // tests need a base instant
pub(crate) fn epoch() -> Instant {
    Instant::now()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Sends `n` datagrams of `MDS` bytes at `now`.
fn send(cc: &mut WeirController, now: Instant, n: usize) {
    for _ in 0..n {
        cc.sent(now, u64::from(MDS));
    }
}

#[test]
fn the_factory_builds_every_kind_at_the_initial_window() {
    let t0 = epoch();
    for kind in ControllerKind::ALL {
        let factory = Arc::new(WeirControllerFactory::new(kind));
        let cc = factory.clone().build(t0, MDS);
        assert_eq!(cc.window(), initial_window(u64::from(MDS)), "{kind}");
        assert_eq!(cc.initial_window(), 12_000, "{kind}");
        let metrics = cc.metrics();
        assert_eq!(metrics.congestion_window, 12_000);
        let cc = cc
            .into_any()
            .downcast::<WeirController>()
            .unwrap_or_else(|_| panic!("a WeirController"));
        assert_eq!(cc.kind(), kind);
        assert_eq!(cc.controller().kind(), kind);
        assert_eq!(cc.minimum_window(), 2400);
    }
    let named = [
        (WeirControllerFactory::bbr(), ControllerKind::Bbr),
        (WeirControllerFactory::cubic(), ControllerKind::Cubic),
        (WeirControllerFactory::vegas(), ControllerKind::Vegas),
        (WeirControllerFactory::new_reno(), ControllerKind::NewReno),
    ];
    for (factory, kind) in named {
        assert_eq!(factory.config().kind, kind);
    }
}

#[test]
fn bbr_reports_its_pacing_rate_in_bits_per_second() {
    let cc = WeirControllerFactory::bbr().build_controller(epoch(), MDS);
    let bytes_per_sec = cc.controller().pacing_rate().unwrap_or_default();
    assert!(bytes_per_sec > 0);
    assert_eq!(cc.metrics().pacing_rate, Some(bytes_per_sec * 8));
    let cubic = WeirControllerFactory::cubic().build_controller(epoch(), MDS);
    assert_eq!(cubic.metrics().pacing_rate, None);
}

#[test]
fn each_connection_gets_its_own_bbr_seed() {
    let factory = WeirControllerFactory::with_config(ControllerConfig::new(ControllerKind::Bbr));
    let t0 = epoch();
    let seeds: Vec<u64> = (0..3)
        .map(|_| factory.build_controller(t0, MDS).config().bbr.seed)
        .collect();
    // The first connection keeps the configured seed; the others differ from it and each other.
    assert_eq!(seeds[0], factory.config().bbr.seed);
    assert_ne!(seeds[0], seeds[1]);
    assert_ne!(seeds[1], seeds[2]);
    // A clone continues the count; a fresh factory starts over.
    assert_eq!(
        factory.clone().build_controller(t0, MDS).config().bbr.seed,
        WeirControllerFactory::bbr()
            .build_controller(t0, MDS)
            .config()
            .bbr
            .seed
            ^ crate::splitmix64(3)
    );
}

#[test]
fn slow_start_grows_by_what_is_acknowledged() {
    for kind in [ControllerKind::NewReno, ControllerKind::Cubic] {
        let t0 = epoch();
        let mut cc = WeirControllerFactory::new(kind).build_controller(t0, MDS);
        send(&mut cc, t0, 10);
        let now = t0 + ms(50);
        for _ in 0..4 {
            cc.acked(now, t0, u64::from(MDS), false, ms(333));
        }
        // Nothing changes before the frame ends: the packets wait for `on_end_acks`.
        assert_eq!(QuinnController::window(&cc), 12_000);
        cc.end_acks(now, 6 * u64::from(MDS), false);
        assert_eq!(QuinnController::window(&cc), 12_000 + 4 * 1200, "{kind}");
        assert_eq!(cc.bytes_in_flight(), 6 * 1200);
    }
}

#[test]
fn application_limited_acknowledgements_do_not_grow_the_window() {
    let t0 = epoch();
    let mut cc = WeirControllerFactory::new_reno().build_controller(t0, MDS);
    send(&mut cc, t0, 2);
    let now = t0 + ms(50);
    cc.acked(now, t0, 1200, true, ms(333));
    cc.acked(now, t0, 1200, true, ms(333));
    cc.end_acks(now, 0, true);
    assert_eq!(QuinnController::window(&cc), 12_000);
}

#[test]
fn a_loss_halves_new_reno_and_a_second_in_the_same_round_does_not() {
    let t0 = epoch();
    let mut cc = WeirControllerFactory::new_reno().build_controller(t0, MDS);
    send(&mut cc, t0, 10);
    cc.congestion(t0 + ms(60), t0, false, 1200);
    assert_eq!(QuinnController::window(&cc), 6_000);
    // Sent before the recovery period began: the same congestion episode.
    cc.congestion(t0 + ms(70), t0, false, 1200);
    assert_eq!(QuinnController::window(&cc), 6_000);
    // Persistent congestion: the minimum window.
    send(&mut cc, t0 + ms(80), 2);
    cc.congestion(t0 + ms(500), t0 + ms(80), true, 2400);
    assert_eq!(QuinnController::window(&cc), 2_400);
}

#[test]
fn ecn_ce_is_congestion_without_lost_bytes() {
    let t0 = epoch();
    let mut cc = WeirControllerFactory::cubic().build_controller(t0, MDS);
    send(&mut cc, t0, 10);
    let before = QuinnController::window(&cc);
    cc.congestion(t0 + ms(50), t0, false, 0);
    assert!(QuinnController::window(&cc) < before);
    // No loss reached the estimator: bytes in flight are unchanged.
    assert_eq!(cc.bytes_in_flight(), 12_000);
}

#[test]
fn a_larger_mtu_before_any_feedback_scales_the_initial_window() {
    let t0 = epoch();
    for kind in ControllerKind::ALL {
        let mut cc = WeirControllerFactory::new(kind).build_controller(t0, MDS);
        cc.on_mtu_update(1452);
        assert_eq!(QuinnController::window(&cc), initial_window(1452), "{kind}");
        assert_eq!(cc.initial_window(), initial_window(1452));
        assert_eq!(cc.minimum_window(), 2 * 1452);
        // A datagram size of 0 is taken as 1, and the window stays positive.
        cc.on_mtu_update(0);
        assert!(QuinnController::window(&cc) >= 2);
    }
}

#[test]
fn an_acknowledgement_without_its_frame_end_is_delivered_at_the_next_call() {
    // quinn acknowledges the server's first Initial implicitly, with no `on_end_acks`.
    let t0 = epoch();
    let mut cc = WeirControllerFactory::new_reno().build_controller(t0, MDS);
    send(&mut cc, t0, 1);
    cc.acked(t0 + ms(40), t0, 1200, false, ms(333));
    cc.sent(t0 + ms(41), 1200);
    assert_eq!(QuinnController::window(&cc), 13_200);
}

#[test]
fn rtt_samples_come_from_the_newest_acknowledged_packet() {
    let t0 = epoch();
    let mut cc = WeirControllerFactory::vegas().build_controller(t0, MDS);
    send(&mut cc, t0, 1);
    send(&mut cc, t0 + ms(10), 1);
    cc.acked(t0 + ms(70), t0, 1200, false, ms(333));
    cc.acked(t0 + ms(70), t0 + ms(10), 1200, false, ms(333));
    cc.end_acks(t0 + ms(70), 0, false);
    let rtt = cc.rtt.snapshot();
    assert_eq!(rtt.latest, ms(60));
    assert_eq!(rtt.min, ms(60));
    // quinn has no sample of its own yet when the first frame is processed.
    assert_eq!(rtt.smoothed, ms(60));
    // The next frame carries quinn's smoothed RTT (with its ACK-delay adjustment).
    send(&mut cc, t0 + ms(80), 1);
    cc.acked(t0 + ms(130), t0 + ms(80), 1200, false, ms(55));
    cc.end_acks(t0 + ms(130), 0, false);
    let rtt = cc.rtt.snapshot();
    assert_eq!(
        (rtt.latest, rtt.min, rtt.smoothed),
        (ms(50), ms(50), ms(55))
    );
}

#[test]
fn the_send_log_is_bounded() {
    let t0 = epoch();
    let mut cc = WeirControllerFactory::bbr().build_controller(t0, MDS);
    // Sends that are never acknowledged (pure ACKs, say), 10 µs apart.
    let at = |i: u64| t0 + Duration::from_micros(10 * i);
    let sends = MAX_RECORDS as u64 + 100;
    for i in 0..sends {
        cc.sent(at(i), 60);
    }
    assert_eq!(cc.log.len(), MAX_RECORDS);
    // An acknowledgement of the newest clears what was sent more than a smoothed RTT (50 ms,
    // 5 000 sends) before it.
    let last = at(sends - 1);
    cc.acked(last + ms(50), last, 60, false, ms(50));
    cc.end_acks(last + ms(50), 0, false);
    assert!(cc.log.len() <= 5_001, "{} records left", cc.log.len());
}

#[test]
fn time_going_backwards_is_taken_as_standing_still() {
    let t0 = epoch() + ms(1000);
    for kind in ControllerKind::ALL {
        let mut cc = WeirControllerFactory::new(kind).build_controller(t0, MDS);
        send(&mut cc, t0, 4);
        cc.acked(t0 - ms(500), t0 + ms(10), 1200, false, ms(1));
        cc.end_acks(t0 - ms(600), 0, false);
        cc.congestion(t0 - ms(700), t0 + ms(900), true, 1200);
        cc.sent(t0 - ms(800), 1200);
        assert!(QuinnController::window(&cc) >= cc.minimum_window());
    }
}

/// weir's controllers through the adapter over a 10 Mbit/s, 40 ms path with a 1-BDP buffer:
/// BBR's model finds the bottleneck from the adapter's rate samples, and every controller
/// keeps the link busy.
#[test]
fn over_a_fake_bottleneck_bbr_measures_the_rate_and_all_fill_the_link() {
    let rate = 1_250_000; // bytes per second: 10 Mbit/s
    for kind in ControllerKind::ALL {
        let t0 = epoch();
        let cc = WeirControllerFactory::new(kind).build_controller(t0, MDS);
        let mut path = FakePath::new(cc, t0, rate, ms(40), 50_000, 0);
        path.run_until(t0 + Duration::from_secs(20));
        let utilisation =
            path.delivered_between(t0 + ms(5_000), t0 + ms(20_000)) as f64 / (rate as f64 * 15.0);
        assert!(utilisation > 0.8, "{kind}: {utilisation:.2} of the link");
        if kind == ControllerKind::Bbr {
            let bw = path
                .cc
                .controller()
                .bandwidth_estimate()
                .unwrap_or_default();
            assert!(
                (rate * 9 / 10..=rate * 11 / 10).contains(&bw),
                "BBR's bandwidth estimate {bw} B/s for a {rate} B/s bottleneck"
            );
        }
        assert!(path.lost_bytes < path.delivered_between(t0, t0 + ms(20_000)) / 20);
    }
}

/// The same path losing 1 % at random: BBR (loss-tolerant) keeps most of the link, the
/// loss-based controllers back off, and nobody's window falls below the minimum.
#[test]
fn over_a_lossy_fake_bottleneck_bbr_keeps_the_rate_and_others_back_off() {
    let rate = 1_250_000;
    let mut utilisation = Vec::new();
    for kind in ControllerKind::ALL {
        let t0 = epoch();
        let cc = WeirControllerFactory::new(kind).build_controller(t0, MDS);
        let mut path = FakePath::new(cc, t0, rate, ms(40), 50_000, 100);
        path.run_until(t0 + Duration::from_secs(20));
        assert!(path.min_window_seen >= path.cc.minimum_window(), "{kind}");
        assert!(path.congestion_events > 0, "{kind}");
        utilisation.push((
            kind,
            path.delivered_between(t0 + ms(5_000), t0 + ms(20_000)) as f64 / (rate as f64 * 15.0),
        ));
    }
    let bbr = utilisation
        .iter()
        .find(|(k, _)| *k == ControllerKind::Bbr)
        .map_or(0.0, |(_, u)| *u);
    assert!(bbr > 0.8, "BBR at 1 % loss: {utilisation:?}");
    for (kind, u) in &utilisation {
        if *kind != ControllerKind::Bbr {
            assert!(*u < bbr, "{kind} below BBR at 1 % loss: {utilisation:?}");
        }
    }
}
