//! Every estimator of one connection, fed together.

use std::time::{Duration, Instant};

use super::{
    BandwidthEstimate, BandwidthEstimator, EstimatorConfig, LossWindow, QualityInputs,
    QualityMonitor, QualityScore, RttJitter, WindowedMinRtt,
};

/// The least time between two scores.
const SCORE_INTERVAL: Duration = Duration::from_millis(100);

/// The window of [`PathEstimates::base_rtt`] (as BBR's min-RTT filter).
const BASE_RTT_WINDOW: Duration = Duration::from_secs(10);

/// The base RTT starts again from the samples when every sample for this long was above
/// [`FLOOR_RISE_FACTOR`] times it plus [`FLOOR_RISE_SLACK`]: the path itself changed (a
/// handover, a tunnel's 2G), and a base of the old path would have the queue guard keep a
/// window of the old, short round trip.
const FLOOR_RISE_CONFIRM: Duration = Duration::from_secs(2);
/// See [`FLOOR_RISE_CONFIRM`].
const FLOOR_RISE_FACTOR: u32 = 2;
/// See [`FLOOR_RISE_CONFIRM`].
const FLOOR_RISE_SLACK: Duration = Duration::from_millis(10);

/// The estimates of a path at one instant (a snapshot, in
/// [`ConnectionStats::path`](crate::connection::ConnectionStats::path)).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PathEstimates {
    /// Delivery-rate statistics over the bandwidth window.
    pub bandwidth: Option<BandwidthEstimate>,
    /// RTT jitter (RFC 3550 style, see [`RttJitter`]).
    pub jitter: Option<Duration>,
    /// Share of the in-flight packets of the loss window that were lost, in `[0, 1]`.
    pub loss_rate: Option<f64>,
    /// The quality score.
    pub quality: Option<QualityScore>,
    /// The smallest RTT of the last 10 s, or of the samples since the RTT floor rose for good
    /// (every sample for 2 s above twice it plus 10 ms: a handover, a tunnel's 2G): the path's
    /// propagation delay as it is now.
    pub base_rtt: Option<Duration>,
}

/// Feeds a connection's samples to its estimators (see [`estimate`](super)).
#[derive(Debug, Clone)]
pub struct PathEstimator {
    bandwidth: BandwidthEstimator,
    jitter: RttJitter,
    loss: LossWindow,
    base_rtt: WindowedMinRtt,
    /// Since when every RTT sample was far above the base RTT, and the least of them.
    floor_rise: Option<(Instant, Duration)>,
    quality: QualityMonitor,
    smoothed_rtt: Option<Duration>,
    /// When the quality was last scored.
    scored_at: Option<Instant>,
    /// The newest time an input arrived at: what [`snapshot`](Self::snapshot) reports for.
    latest: Option<Instant>,
}

impl PathEstimator {
    /// Estimators with the windows of `config` (assumed [validated](EstimatorConfig::validate);
    /// out-of-range values are clamped).
    pub fn new(config: &EstimatorConfig) -> Self {
        Self {
            bandwidth: BandwidthEstimator::new(config.bandwidth_window, config.bandwidth_slot),
            jitter: RttJitter::new(),
            loss: LossWindow::new(config.loss_window),
            base_rtt: WindowedMinRtt::new(BASE_RTT_WINDOW),
            floor_rise: None,
            quality: QualityMonitor::new(config.quality_interval, config.quality_history),
            smoothed_rtt: None,
            scored_at: None,
            latest: None,
        }
    }

    fn touch(&mut self, now: Instant) {
        self.latest = Some(self.latest.map_or(now, |t| t.max(now)));
    }

    /// An RTT sample (`latest`) and the smoothed RTT after it.
    pub fn on_rtt_sample(&mut self, now: Instant, latest: Duration, smoothed: Duration) {
        self.touch(now);
        self.jitter.on_sample(latest);
        self.follow_floor_rise(now, latest);
        self.base_rtt.on_sample(now, latest);
        self.smoothed_rtt = Some(smoothed);
    }

    /// Restarts the base RTT from the recent samples when the path's RTT floor rose for good
    /// (see [`FLOOR_RISE_CONFIRM`]). A queue rarely stands that long that high, and when it
    /// does BBR's ProbeRTT would take the same raised floor as its minimum.
    fn follow_floor_rise(&mut self, now: Instant, latest: Duration) {
        let Some(base) = self.base_rtt.min(now) else {
            return;
        };
        let high = base
            .saturating_mul(FLOOR_RISE_FACTOR)
            .saturating_add(FLOOR_RISE_SLACK);
        if latest <= high {
            self.floor_rise = None;
            return;
        }
        let (since, least) = match self.floor_rise {
            Some((since, least)) => (since, least.min(latest)),
            None => (now, latest),
        };
        if now.saturating_duration_since(since) >= FLOOR_RISE_CONFIRM {
            self.base_rtt = WindowedMinRtt::new(BASE_RTT_WINDOW);
            self.base_rtt.on_sample(now, least);
            self.floor_rise = None;
        } else {
            self.floor_rise = Some((since, least));
        }
    }

    /// A delivery-rate sample in bytes per second.
    pub fn on_delivery_rate(&mut self, now: Instant, rate: u64, app_limited: bool) {
        self.touch(now);
        self.bandwidth.on_sample(now, rate, app_limited);
    }

    /// In-flight packets acknowledged (`delivered`) and declared lost.
    pub fn on_packets(&mut self, now: Instant, delivered: u64, lost: u64) {
        self.touch(now);
        self.loss.record(now, delivered, lost);
    }

    /// Scores the path at `now` (after each ACK frame; at most every 100 ms, as the windows
    /// move slower than that and a score sorts the bandwidth window) and returns the score.
    pub fn update_quality(&mut self, now: Instant) -> Option<QualityScore> {
        self.touch(now);
        if self
            .scored_at
            .is_some_and(|at| now.saturating_duration_since(at) < SCORE_INTERVAL)
        {
            return self.quality.latest();
        }
        self.scored_at = Some(now);
        let inputs = self.inputs(now);
        self.quality.update(now, &inputs)
    }

    fn inputs(&self, now: Instant) -> QualityInputs {
        let bandwidth = self.bandwidth.estimate(now);
        QualityInputs {
            rtt: self.smoothed_rtt,
            jitter: self.jitter.jitter(),
            loss: self.loss.rate(now),
            // An application-limited figure is what the flow used, not what the path has.
            bandwidth: bandwidth.filter(|b| !b.app_limited).map(|b| b.ewma),
        }
    }

    /// The estimates at `now`.
    pub fn estimates(&self, now: Instant) -> PathEstimates {
        PathEstimates {
            bandwidth: self.bandwidth.estimate(now),
            jitter: self.jitter.jitter(),
            loss_rate: self.loss.rate(now),
            quality: QualityScore::of(&self.inputs(now)),
            base_rtt: self.base_rtt.min(now),
        }
    }

    /// [`PathEstimates::base_rtt`] at `now` (cheap: for every packet).
    pub fn base_rtt(&self, now: Instant) -> Option<Duration> {
        self.base_rtt.min(now)
    }

    /// The estimates as of the newest input.
    pub fn snapshot(&self) -> PathEstimates {
        self.latest
            .map(|now| self.estimates(now))
            .unwrap_or_default()
    }

    /// The quality history, oldest first.
    pub fn quality_history(&self) -> impl ExactSizeIterator<Item = &(Instant, QualityScore)> {
        self.quality.history()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_clean_fast_path_is_excellent_and_a_tunnel_is_poor() {
        let t = crate::congestion::test_epoch();
        let mut p = PathEstimator::new(&EstimatorConfig::default());
        assert_eq!(p.snapshot(), PathEstimates::default());
        for i in 0..50 {
            let now = t + ms(20 * i);
            p.on_rtt_sample(now, ms(20), ms(20));
            p.on_delivery_rate(now, 30_000_000 / 8, false);
            p.on_packets(now, 10, 0);
            p.update_quality(now);
        }
        let good = p.snapshot();
        assert_eq!(good.loss_rate, Some(0.0));
        assert_eq!(good.jitter, Some(Duration::ZERO));
        let quality = good.quality.unwrap();
        assert_eq!(quality.total, 100.0);
        assert_eq!(quality.grade, super::super::QualityGrade::Excellent);

        let mut p = PathEstimator::new(&EstimatorConfig::default());
        for i in 0..50u64 {
            let now = t + ms(600 * i);
            let rtt = ms(600 + 200 * (i % 2));
            p.on_rtt_sample(now, rtt, ms(700));
            p.on_delivery_rate(now, 100_000 / 8, false);
            p.on_packets(now, 92, 8);
            p.update_quality(now);
        }
        let bad = p.snapshot().quality.unwrap();
        assert_eq!(bad.grade, super::super::QualityGrade::Poor, "{bad:?}");
        assert!(p.quality_history().len() > 10);
    }

    #[test]
    fn the_base_rtt_follows_a_path_whose_round_trip_grew_for_good() {
        let t = crate::congestion::test_epoch();
        let mut p = PathEstimator::new(&EstimatorConfig::default());
        for i in 0..100 {
            p.on_rtt_sample(t + ms(10 * i), ms(20), ms(20));
        }
        // Into a tunnel: 600-700 ms from 1 s on. The 10 s window alone would keep 20 ms.
        let mut at = t + ms(1000);
        while at < t + ms(2900) {
            p.on_rtt_sample(at, ms(650), ms(650));
            assert_eq!(p.base_rtt(at), Some(ms(20)), "{at:?}");
            at += ms(100);
        }
        p.on_rtt_sample(t + ms(3000), ms(700), ms(660));
        assert_eq!(p.base_rtt(t + ms(3000)), Some(ms(650)));
        // And back out: a lower sample is the minimum at once.
        p.on_rtt_sample(t + ms(3100), ms(30), ms(600));
        assert_eq!(p.base_rtt(t + ms(3100)), Some(ms(30)));
    }

    #[test]
    fn a_queue_that_comes_and_goes_does_not_move_the_base_rtt() {
        let t = crate::congestion::test_epoch();
        let mut p = PathEstimator::new(&EstimatorConfig::default());
        p.on_rtt_sample(t, ms(20), ms(20));
        // A bloated queue for 5 s, drained to the base for a moment every second.
        for i in 1..500u64 {
            let rtt = if i % 100 == 0 { ms(21) } else { ms(200) };
            p.on_rtt_sample(t + ms(10 * i), rtt, ms(150));
        }
        assert_eq!(p.base_rtt(t + ms(5000)), Some(ms(20)));
    }

    #[test]
    fn an_application_limited_flow_is_not_scored_on_bandwidth() {
        let t = crate::congestion::test_epoch();
        let mut p = PathEstimator::new(&EstimatorConfig::default());
        p.on_rtt_sample(t, ms(20), ms(20));
        p.on_delivery_rate(t, 5_000, true);
        let e = p.snapshot();
        assert!(e.bandwidth.unwrap().app_limited);
        assert_eq!(e.quality.unwrap().bandwidth, None);
    }
}
