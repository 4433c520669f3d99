use std::borrow::Cow;
use std::time::{Duration, Instant};

use super::*;
use crate::adapt::{PolicyChoice, WeirPolicy};
use crate::congestion::ControllerKind;
use crate::estimate::{EstimatorConfig, PathEstimates, PathEstimator};
use crate::lanes::FecLevel;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A policy that asks for whatever the test put in `wanted`.
#[derive(Debug)]
struct Scripted(std::sync::Arc<std::sync::Mutex<Strategy>>);

impl Policy for Scripted {
    fn name(&self) -> &str {
        "scripted"
    }
    fn decide(&mut self, _: &PolicyInput<'_>) -> Decision {
        let strategy = *self.0.lock().expect("test lock");
        Decision {
            strategy,
            reason: Cow::Borrowed("scripted"),
        }
    }
}

fn base() -> Strategy {
    Strategy::plain(ControllerKind::Bbr, 1200)
}

fn input<'a>(now: Instant, estimates: &'a PathEstimates, current: &'a Strategy) -> PolicyInput<'a> {
    PolicyInput {
        now,
        estimates,
        current,
        max_datagram_size: 1200,
        min_rtt: None,
        smoothed_rtt: None,
        controller_bandwidth: Some(estimates.bandwidth.map_or(0, |b| b.ewma)),
        realtime: true,
        realtime_rate: None,
    }
}

fn scripted(config: AdaptConfig) -> (Selector, std::sync::Arc<std::sync::Mutex<Strategy>>) {
    let wanted = std::sync::Arc::new(std::sync::Mutex::new(base()));
    let selector = Selector::new(Box::new(Scripted(wanted.clone())), config, base());
    (selector, wanted)
}

#[test]
fn a_change_waits_for_confirmation_and_then_for_the_dwell_time() {
    let (mut s, wanted) = scripted(AdaptConfig::default());
    let t = crate::congestion::test_epoch();
    let e = PathEstimates::default();
    let cur = base();
    let medium = Strategy {
        fec: FecLevel::Medium,
        ..base()
    };
    *wanted.lock().unwrap() = medium;
    assert_eq!(s.evaluate(&input(t, &e, &cur)), None);
    // Not due yet (250 ms interval), then due but not confirmed (1 s).
    assert_eq!(s.evaluate(&input(t + ms(100), &e, &cur)), None);
    assert_eq!(s.evaluate(&input(t + ms(750), &e, &cur)), None);
    let change = s
        .evaluate(&input(t + ms(1000), &e, &cur))
        .expect("confirmed");
    assert_eq!((change.old, change.new), (base(), medium));
    assert_eq!(change.reason, "scripted");
    assert_eq!(s.current(), &medium);
    // Back again: confirmed after 1 s, but the dwell time (5 s) holds it until t + 6 s.
    *wanted.lock().unwrap() = base();
    for i in 5..24 {
        assert_eq!(s.evaluate(&input(t + ms(250 * i), &e, &cur)), None, "{i}");
    }
    assert!(s.evaluate(&input(t + ms(6000), &e, &cur)).is_some());
}

#[test]
fn a_blip_shorter_than_the_confirmation_changes_nothing() {
    let (mut s, wanted) = scripted(AdaptConfig::default());
    let t = crate::congestion::test_epoch();
    let e = PathEstimates::default();
    let cur = base();
    let high = Strategy {
        fec: FecLevel::High,
        ..base()
    };
    for i in 0..400u64 {
        // 750 ms of one, 750 ms of the other: never confirmed.
        *wanted.lock().unwrap() = if (i / 3) % 2 == 0 { high } else { base() };
        assert_eq!(s.evaluate(&input(t + ms(250 * i), &e, &cur)), None);
    }
}

#[test]
fn pinned_knobs_never_move() {
    let config = AdaptConfig {
        pins: Pins {
            controller: Some(ControllerKind::Vegas),
            fec: Some(FecLevel::None),
            ..Pins::default()
        },
        ..AdaptConfig::default()
    };
    let (mut s, wanted) = scripted(config);
    assert_eq!(s.current().controller, ControllerKind::Vegas);
    let t = crate::congestion::test_epoch();
    let e = PathEstimates::default();
    let cur = base();
    *wanted.lock().unwrap() = Strategy {
        controller: ControllerKind::NewReno,
        fec: FecLevel::High,
        datagram_size: 576,
        ..base()
    };
    let mut changes = Vec::new();
    for i in 0..100 {
        changes.extend(s.evaluate(&input(t + ms(250 * i), &e, &cur)));
    }
    assert_eq!(changes.len(), 1);
    let new = changes[0].new;
    assert_eq!(
        (new.controller, new.fec, new.datagram_size),
        (ControllerKind::Vegas, FecLevel::None, 576)
    );
}

/// The hysteresis case: a path that alternates every second between a clean fast one
/// and a slow lossy one, seen through the real estimators and weir's policy.
#[test]
fn a_path_alternating_every_second_changes_strategy_at_most_a_few_times_a_minute() {
    for policy in [PolicyChoice::Weir, PolicyChoice::SeedTiers] {
        let config = AdaptConfig::with_policy(policy.clone());
        let mut s = Selector::new(policy.build().expect("a policy"), config, base());
        let mut p = PathEstimator::new(&EstimatorConfig::default());
        let t = crate::congestion::test_epoch();
        let mut changes = 0;
        for tick in 0..6000u64 {
            // 10 ms ticks; the path flips every second.
            let now = t + ms(10 * tick);
            let bad = (tick / 100) % 2 == 1;
            let (rtt, rate, lost) = if bad {
                (ms(600), 100_000 / 8, tick % 10 == 0)
            } else {
                (ms(20), 30_000_000 / 8, false)
            };
            p.on_rtt_sample(now, rtt, rtt);
            p.on_delivery_rate(now, rate, false);
            p.on_packets(now, u64::from(!lost), u64::from(lost));
            p.update_quality(now);
            let e = p.estimates(now);
            let cur = *s.current();
            if s.evaluate(&input(now, &e, &cur)).is_some() {
                changes += 1;
            }
        }
        assert!(changes <= 6, "{policy:?}: {changes} changes in a minute");
    }
}

#[test]
fn weir_policy_turns_fec_on_under_loss_and_shrinks_packets_on_a_slow_link() {
    let mut s = Selector::new(Box::new(WeirPolicy::new()), AdaptConfig::default(), base());
    let mut p = PathEstimator::new(&EstimatorConfig::default());
    let t = crate::congestion::test_epoch();
    let mut last = None;
    for tick in 0..1000u64 {
        let now = t + ms(10 * tick);
        p.on_rtt_sample(now, ms(600), ms(600));
        p.on_delivery_rate(now, 100_000 / 8, false);
        let lost = tick % 12 == 0;
        p.on_packets(now, u64::from(!lost), u64::from(lost));
        p.update_quality(now);
        let e = p.estimates(now);
        let cur = *s.current();
        if let Some(change) = s.evaluate(&input(now, &e, &cur)) {
            last = Some(change);
        }
    }
    let change = last.expect("a change");
    assert_eq!(change.new.fec, FecLevel::High, "{}", change.reason);
    assert_eq!(change.new.datagram_size, 512);
    assert_eq!(change.new.controller, ControllerKind::Bbr);
}
