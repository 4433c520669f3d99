//! Property tests: whatever a path (or a peer's ACKs) feeds the estimators — zero and absurd
//! RTTs, rates from 0 to `u64::MAX`, time standing still — they never panic, their figures stay
//! ordered and in range, and their memory stays bounded.

use std::time::Duration;

use proptest::prelude::*;

use super::{EstimatorConfig, PathEstimator};

/// One input: a time step, then a sample of each kind.
#[derive(Debug, Clone)]
struct Step {
    advance_us: u64,
    rtt_us: u64,
    rate: u64,
    app_limited: bool,
    delivered: u64,
    lost: u64,
}

fn step() -> impl Strategy<Value = Step> {
    (
        prop_oneof![Just(0u64), 0u64..2_000_000, Just(60_000_000)],
        prop_oneof![Just(0u64), 1u64..5_000_000, Just(u64::MAX / 2)],
        prop_oneof![Just(0u64), 1u64..1_000_000_000, Just(u64::MAX)],
        any::<bool>(),
        0u64..100,
        0u64..100,
    )
        .prop_map(
            |(advance_us, rtt_us, rate, app_limited, delivered, lost)| Step {
                advance_us,
                rtt_us,
                rate,
                app_limited,
                delivered,
                lost,
            },
        )
}

proptest! {
    #[test]
    fn the_estimates_stay_ordered_and_bounded(steps in proptest::collection::vec(step(), 1..400)) {
        let config = EstimatorConfig::default();
        let mut p = PathEstimator::new(&config);
        let mut now = crate::congestion::test_epoch();
        for s in &steps {
            now += Duration::from_micros(s.advance_us);
            let rtt = Duration::from_micros(s.rtt_us);
            p.on_rtt_sample(now, rtt, rtt);
            p.on_delivery_rate(now, s.rate, s.app_limited);
            p.on_packets(now, s.delivered, s.lost);
            p.update_quality(now);
            let e = p.estimates(now);
            if let Some(b) = e.bandwidth {
                prop_assert!(b.min <= b.median && b.median <= b.max, "{b:?}");
                prop_assert!(b.min <= b.mean && b.mean <= b.max, "{b:?}");
                prop_assert!((0.0..=1.0).contains(&b.confidence), "{b:?}");
                prop_assert!(b.samples <= 101, "{b:?}");
            }
            if let Some(l) = e.loss_rate {
                prop_assert!((0.0..=1.0).contains(&l));
            }
            if let Some(q) = e.quality {
                prop_assert!((0.0..=100.0).contains(&q.total), "{q:?}");
            }
            prop_assert!(e.jitter.is_none_or(|j| j <= Duration::from_secs(60)));
        }
        prop_assert!(p.quality_history().len() <= config.quality_history);
    }
}
