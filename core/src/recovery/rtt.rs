//! Round-trip time estimation (RFC 9002 §5).

use std::time::Duration;

use super::{GRANULARITY, TIME_THRESHOLD_DENOMINATOR, TIME_THRESHOLD_NUMERATOR};
use crate::congestion::RttSnapshot;

/// The connection's RTT estimate: latest, minimum and smoothed RTT and the RTT variation
/// (RFC 9002 §5).
///
/// Before the first sample, the smoothed RTT is the initial RTT and the variation half of it
/// (§5.3, §6.2.2); [`latest`](Self::latest) and [`min`](Self::min) then also report the initial
/// RTT (the RFC's pseudocode holds 0 there, but never reads them before a sample; the initial
/// RTT is the better hint for a congestion controller). [`has_samples`](Self::has_samples) tells
/// the two situations apart. The time of the first sample, which persistent congestion needs,
/// is kept by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RttEstimator {
    latest: Duration,
    smoothed: Duration,
    rttvar: Duration,
    min: Duration,
    has_samples: bool,
}

impl RttEstimator {
    /// An estimator with no sample, assuming `initial_rtt` (normally
    /// [`INITIAL_RTT`](super::INITIAL_RTT), or a remembered RTT to the same peer).
    pub(crate) fn new(initial_rtt: Duration) -> Self {
        Self {
            latest: initial_rtt,
            smoothed: initial_rtt,
            rttvar: initial_rtt / 2,
            min: initial_rtt,
            has_samples: false,
        }
    }

    /// Adds the sample `rtt_sample` (time from sending the largest newly acknowledged packet to
    /// receiving its acknowledgement) with the peer-reported `ack_delay` (RFC 9002 §5.3).
    ///
    /// - The minimum RTT ignores the ack delay (§5.2).
    /// - Once the handshake is confirmed, the ack delay is capped at the peer's `max_ack_delay`
    ///   (§5.3); before, the peer's reported delay is used as is.
    /// - The ack delay is subtracted only if the result stays at or above the minimum RTT
    ///   (§5.3).
    /// - The first sample sets the smoothed RTT to the sample and the variation to half of it.
    pub(crate) fn update(
        &mut self,
        ack_delay: Duration,
        rtt_sample: Duration,
        handshake_confirmed: bool,
        max_ack_delay: Duration,
    ) {
        self.latest = rtt_sample;
        if !self.has_samples {
            // RFC 9002 §5.3: first sample.
            self.has_samples = true;
            self.min = rtt_sample;
            self.smoothed = rtt_sample;
            self.rttvar = rtt_sample / 2;
            return;
        }
        // RFC 9002 §5.2: min_rtt does not account for the ack delay.
        self.min = self.min.min(rtt_sample);
        let ack_delay = if handshake_confirmed {
            ack_delay.min(max_ack_delay)
        } else {
            ack_delay
        };
        // RFC 9002 §5.3: adjust for the ack delay only if the result is not below min_rtt. A
        // peer-reported delay so large that the sum overflows certainly exceeds the sample.
        let adjusted = match self.min.checked_add(ack_delay) {
            Some(floor) if rtt_sample >= floor => rtt_sample - ack_delay,
            _ => rtt_sample,
        };
        let deviation = self.smoothed.abs_diff(adjusted);
        // RFC 9002 §5.3: rttvar = 3/4 rttvar + 1/4 |smoothed - adjusted|,
        // smoothed = 7/8 smoothed + 1/8 adjusted.
        self.rttvar = (self.rttvar.saturating_mul(3) + deviation) / 4;
        self.smoothed = (self.smoothed.saturating_mul(7) + adjusted) / 8;
    }

    /// Whether at least one sample was taken.
    pub(crate) fn has_samples(&self) -> bool {
        self.has_samples
    }

    /// The smoothed RTT (`smoothed_rtt`).
    pub(crate) fn smoothed(&self) -> Duration {
        self.smoothed
    }

    /// The RTT variation (`rttvar`).
    pub(crate) fn rttvar(&self) -> Duration {
        self.rttvar
    }

    /// The minimum RTT seen (`min_rtt`); the initial RTT before any sample.
    pub(crate) fn min(&self) -> Duration {
        self.min
    }

    /// The latest sample (`latest_rtt`); the initial RTT before any sample.
    pub(crate) fn latest(&self) -> Duration {
        self.latest
    }

    /// The probe timeout before backoff and without `max_ack_delay`:
    /// `smoothed_rtt + max(4 × rttvar, kGranularity)` (RFC 9002 §6.2.1).
    pub(crate) fn pto_base(&self) -> Duration {
        self.smoothed
            .saturating_add(self.rttvar.saturating_mul(4).max(GRANULARITY))
    }

    /// How long after sending a packet is declared lost by the time threshold:
    /// `max(9/8 × max(smoothed_rtt, latest_rtt), kGranularity)` (RFC 9002 §6.1.2).
    pub(crate) fn loss_delay(&self) -> Duration {
        let rtt = self.smoothed.max(self.latest);
        (rtt.saturating_mul(TIME_THRESHOLD_NUMERATOR) / TIME_THRESHOLD_DENOMINATOR).max(GRANULARITY)
    }

    /// The estimate as handed to congestion controllers.
    pub(crate) fn snapshot(&self) -> RttSnapshot {
        RttSnapshot {
            latest: self.latest,
            smoothed: self.smoothed,
            min: self.min,
            rttvar: self.rttvar,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recovery::INITIAL_RTT;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn initial_state_uses_initial_rtt() {
        let rtt = RttEstimator::new(INITIAL_RTT);
        assert!(!rtt.has_samples());
        assert_eq!(rtt.smoothed(), ms(333));
        assert_eq!(rtt.rttvar(), Duration::from_micros(166_500));
        // RFC 9002 §6.2.2: initial PTO = 333 + 4 × 166.5 = 999 ms.
        assert_eq!(rtt.pto_base(), ms(999));
        // 9/8 × 333 ms = 374.625 ms.
        assert_eq!(rtt.loss_delay(), Duration::from_micros(374_625));
    }

    #[test]
    fn first_sample_sets_smoothed_and_half_variation_ignoring_ack_delay() {
        let mut rtt = RttEstimator::new(INITIAL_RTT);
        rtt.update(ms(20), ms(100), true, ms(25));
        assert!(rtt.has_samples());
        assert_eq!(rtt.latest(), ms(100));
        assert_eq!(rtt.min(), ms(100));
        assert_eq!(rtt.smoothed(), ms(100));
        assert_eq!(rtt.rttvar(), ms(50));
        assert_eq!(rtt.pto_base(), ms(300));
    }

    #[test]
    fn later_samples_subtract_ack_delay_and_smooth() {
        let mut rtt = RttEstimator::new(INITIAL_RTT);
        rtt.update(Duration::ZERO, ms(100), true, ms(25));
        // 120 − 20 = 100 ≥ min 100: adjusted = 100.
        rtt.update(ms(20), ms(120), true, ms(25));
        assert_eq!(rtt.latest(), ms(120));
        assert_eq!(rtt.min(), ms(100));
        // rttvar = 3/4 × 50 + 1/4 × |100 − 100| = 37.5; smoothed = 7/8 × 100 + 1/8 × 100.
        assert_eq!(rtt.rttvar(), Duration::from_micros(37_500));
        assert_eq!(rtt.smoothed(), ms(100));
        // 100 + 4 × 37.5.
        assert_eq!(rtt.pto_base(), ms(250));
        // 9/8 × max(100, 120) = 135.
        assert_eq!(rtt.loss_delay(), ms(135));
    }

    #[test]
    fn ack_delay_not_subtracted_below_min_rtt() {
        let mut rtt = RttEstimator::new(INITIAL_RTT);
        rtt.update(Duration::ZERO, ms(100), true, ms(25));
        // 110 − 20 = 90 < min 100: the sample is used unadjusted.
        rtt.update(ms(20), ms(110), true, ms(25));
        // smoothed = (7 × 100 + 110) / 8 = 101.25; rttvar = (3 × 50 + 10) / 4 = 40.
        assert_eq!(rtt.smoothed(), Duration::from_micros(101_250));
        assert_eq!(rtt.rttvar(), ms(40));
    }

    #[test]
    fn ack_delay_capped_only_once_handshake_confirmed() {
        let mut confirmed = RttEstimator::new(INITIAL_RTT);
        confirmed.update(Duration::ZERO, ms(100), true, ms(25));
        // Delay 100 capped at 25: adjusted = 200 − 25 = 175.
        confirmed.update(ms(100), ms(200), true, ms(25));
        // smoothed = (700 + 175) / 8 = 109.375; rttvar = (150 + 75) / 4 = 56.25.
        assert_eq!(confirmed.smoothed(), Duration::from_micros(109_375));
        assert_eq!(confirmed.rttvar(), Duration::from_micros(56_250));

        let mut unconfirmed = RttEstimator::new(INITIAL_RTT);
        unconfirmed.update(Duration::ZERO, ms(100), false, ms(25));
        // Not capped: adjusted = 200 − 100 = 100.
        unconfirmed.update(ms(100), ms(200), false, ms(25));
        assert_eq!(unconfirmed.smoothed(), ms(100));
        assert_eq!(unconfirmed.rttvar(), Duration::from_micros(37_500));
    }

    #[test]
    fn min_rtt_ignores_ack_delay_and_tracks_smallest() {
        let mut rtt = RttEstimator::new(INITIAL_RTT);
        rtt.update(Duration::ZERO, ms(100), true, ms(25));
        rtt.update(ms(10), ms(80), true, ms(25));
        assert_eq!(rtt.min(), ms(80));
        rtt.update(Duration::ZERO, ms(90), true, ms(25));
        assert_eq!(rtt.min(), ms(80));
    }

    #[test]
    fn huge_ack_delay_does_not_overflow() {
        let mut rtt = RttEstimator::new(INITIAL_RTT);
        rtt.update(Duration::ZERO, ms(100), false, ms(25));
        rtt.update(Duration::MAX, ms(100), false, ms(25));
        assert_eq!(rtt.smoothed(), ms(100));
    }

    #[test]
    fn loss_delay_and_pto_never_below_granularity() {
        let mut rtt = RttEstimator::new(INITIAL_RTT);
        rtt.update(Duration::ZERO, Duration::from_micros(100), true, ms(25));
        for _ in 0..50 {
            rtt.update(Duration::ZERO, Duration::from_micros(100), true, ms(25));
        }
        assert_eq!(rtt.loss_delay(), GRANULARITY);
        // rttvar decays towards 0; 4 × rttvar is floored at 1 ms.
        assert_eq!(rtt.pto_base(), Duration::from_micros(100) + GRANULARITY);
    }

    #[test]
    fn snapshot_copies_the_estimate() {
        let mut rtt = RttEstimator::new(INITIAL_RTT);
        rtt.update(Duration::ZERO, ms(40), true, ms(25));
        let s = rtt.snapshot();
        assert_eq!(
            (s.latest, s.smoothed, s.min, s.rttvar),
            (ms(40), ms(40), ms(40), ms(20))
        );
    }
}
