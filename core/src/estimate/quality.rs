//! The path's quality as one score (see [`QualityScore`]).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Breakpoints (x, score) of the RTT score, x in milliseconds.
const RTT_MS: &[(f64, f64)] = &[
    (30.0, 100.0),
    (60.0, 90.0),
    (100.0, 75.0),
    (200.0, 50.0),
    (400.0, 20.0),
    (1000.0, 0.0),
];
/// Breakpoints of the jitter score, x in milliseconds.
const JITTER_MS: &[(f64, f64)] = &[
    (5.0, 100.0),
    (10.0, 85.0),
    (30.0, 60.0),
    (60.0, 30.0),
    (150.0, 0.0),
];
/// Breakpoints of the loss score, x in percent.
const LOSS_PERCENT: &[(f64, f64)] = &[
    (0.1, 100.0),
    (0.5, 90.0),
    (1.0, 80.0),
    (2.0, 65.0),
    (5.0, 40.0),
    (10.0, 15.0),
    (20.0, 0.0),
];
/// Breakpoints of the bandwidth score, x in Mbit/s.
const BANDWIDTH_MBPS: &[(f64, f64)] = &[
    (0.0, 0.0),
    (0.1, 10.0),
    (0.5, 30.0),
    (1.0, 45.0),
    (5.0, 70.0),
    (10.0, 85.0),
    (25.0, 100.0),
];

/// The seed's weights: RTT, jitter, loss, bandwidth.
const WEIGHTS: [f64; 4] = [0.3, 0.2, 0.3, 0.2];

/// What the score is computed from.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct QualityInputs {
    /// The smoothed RTT.
    pub rtt: Option<Duration>,
    /// The RTT jitter.
    pub jitter: Option<Duration>,
    /// The loss rate over the loss window, in `[0, 1]`.
    pub loss: Option<f64>,
    /// The path's bandwidth in bytes per second (not an application-limited figure).
    pub bandwidth: Option<u64>,
}

/// The four bands of the score, from which the seed's four strategy tiers are picked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum QualityGrade {
    /// Below 35.
    Poor,
    /// 35 to 60.
    Fair,
    /// 60 to 80.
    Good,
    /// 80 and above.
    Excellent,
}

impl QualityGrade {
    /// The grade of a total score.
    pub fn of(total: f64) -> Self {
        if total >= 80.0 {
            Self::Excellent
        } else if total >= 60.0 {
            Self::Good
        } else if total >= 35.0 {
            Self::Fair
        } else {
            Self::Poor
        }
    }
}

impl std::fmt::Display for QualityGrade {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Poor => "poor",
            Self::Fair => "fair",
            Self::Good => "good",
            Self::Excellent => "excellent",
        })
    }
}

/// A quality score: the weighted total and each measure's own score (`None`: not known).
///
/// Each measure is scored from 0 (unusable) to 100 (as good as it gets for a game) by linear
/// interpolation between breakpoints, and the scores are weighted as the seed weighs them: RTT
/// 30 %, jitter 20 %, loss 30 %, bandwidth 20 %. The seed's own breakpoints are not in this
/// workspace, so the tables below are weir's, chosen for an interactive game: an RTT a player
/// does not notice (≤ 30 ms) scores 100 and one that makes play impossible (≥ 1 s) 0; jitter a
/// small playout buffer hides (≤ 5 ms) 100; loss that FEC repairs cheaply (≤ 0.1 %) 100 and
/// loss that breaks most repair (≥ 20 %) 0; bandwidth enough for voice and state updates with
/// room to spare (≥ 25 Mbit/s) 100.
///
/// | RTT ms | 0–30 | 60 | 100 | 200 | 400 | ≥ 1000 |
/// |---|---|---|---|---|---|---|
/// | score | 100 | 90 | 75 | 50 | 20 | 0 |
///
/// | jitter ms | 0–5 | 10 | 30 | 60 | ≥ 150 |
/// |---|---|---|---|---|---|
/// | score | 100 | 85 | 60 | 30 | 0 |
///
/// | loss % | 0–0.1 | 0.5 | 1 | 2 | 5 | 10 | ≥ 20 |
/// |---|---|---|---|---|---|---|---|
/// | score | 100 | 90 | 80 | 65 | 40 | 15 | 0 |
///
/// | bandwidth Mbit/s | 0 | 0.1 | 0.5 | 1 | 5 | 10 | ≥ 25 |
/// |---|---|---|---|---|---|---|---|
/// | score | 0 | 10 | 30 | 45 | 70 | 85 | 100 |
///
/// A measure not known yet (no RTT sample, no loss data, no bandwidth sample — or only
/// application-limited ones, which say what the flow used, not what the path has) is left out
/// and the others' weights scaled up to sum to 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QualityScore {
    /// The weighted score, 0 to 100.
    pub total: f64,
    /// The total's band.
    pub grade: QualityGrade,
    /// The RTT's score.
    pub rtt: Option<f64>,
    /// The jitter's score.
    pub jitter: Option<f64>,
    /// The loss rate's score.
    pub loss: Option<f64>,
    /// The bandwidth's score.
    pub bandwidth: Option<f64>,
}

impl QualityScore {
    /// Scores `inputs` (see the [type's documentation](Self)); `None` when nothing is known.
    pub fn of(inputs: &QualityInputs) -> Option<Self> {
        let millis = |d: Duration| d.as_secs_f64() * 1000.0;
        let rtt = inputs.rtt.map(|d| piecewise(RTT_MS, millis(d)));
        let jitter = inputs.jitter.map(|d| piecewise(JITTER_MS, millis(d)));
        let loss = inputs
            .loss
            .map(|p| piecewise(LOSS_PERCENT, p.clamp(0.0, 1.0) * 100.0));
        let bandwidth = inputs
            .bandwidth
            .map(|b| piecewise(BANDWIDTH_MBPS, b as f64 * 8.0 / 1e6));
        let parts = [rtt, jitter, loss, bandwidth];
        let weight: f64 = parts
            .iter()
            .zip(WEIGHTS)
            .filter_map(|(p, w)| p.map(|_| w))
            .sum();
        if weight == 0.0 {
            return None;
        }
        let total = parts
            .iter()
            .zip(WEIGHTS)
            .filter_map(|(p, w)| p.map(|s| s * w))
            .sum::<f64>()
            / weight;
        Some(Self {
            total,
            grade: QualityGrade::of(total),
            rtt,
            jitter,
            loss,
            bandwidth,
        })
    }
}

/// Linear interpolation over `points` (x ascending), flat beyond both ends; NaN scores 0.
fn piecewise(points: &[(f64, f64)], x: f64) -> f64 {
    let (Some(&(x0, y0)), Some(&(xn, yn))) = (points.first(), points.last()) else {
        return 0.0;
    };
    if x.is_nan() {
        return 0.0;
    }
    if x <= x0 {
        return y0;
    }
    if x >= xn {
        return yn;
    }
    for pair in points.windows(2) {
        let [(xa, ya), (xb, yb)] = [pair[0], pair[1]];
        if x <= xb {
            return ya + (yb - ya) * (x - xa) / (xb - xa);
        }
    }
    yn
}

/// Keeps a bounded history of scores, at most one per `interval`.
#[derive(Debug, Clone)]
pub struct QualityMonitor {
    interval: Duration,
    capacity: usize,
    history: VecDeque<(Instant, QualityScore)>,
    latest: Option<QualityScore>,
}

impl QualityMonitor {
    /// A monitor that records a score at most every `interval` and keeps the last `capacity`.
    pub fn new(interval: Duration, capacity: usize) -> Self {
        Self {
            interval,
            capacity,
            history: VecDeque::with_capacity(capacity.min(1024)),
            latest: None,
        }
    }

    /// Scores `inputs` at `now`; the score goes into the history if `interval` passed since
    /// the last one there.
    pub fn update(&mut self, now: Instant, inputs: &QualityInputs) -> Option<QualityScore> {
        let score = QualityScore::of(inputs)?;
        self.latest = Some(score);
        let due = self
            .history
            .back()
            .is_none_or(|(at, _)| now.saturating_duration_since(*at) >= self.interval);
        if due && self.capacity > 0 {
            if self.history.len() >= self.capacity {
                self.history.pop_front();
            }
            self.history.push_back((now, score));
        }
        Some(score)
    }

    /// The newest score.
    pub fn latest(&self) -> Option<QualityScore> {
        self.latest
    }

    /// The recorded scores, oldest first.
    pub fn history(&self) -> impl ExactSizeIterator<Item = &(Instant, QualityScore)> {
        self.history.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn only_rtt(rtt: Duration) -> f64 {
        QualityScore::of(&QualityInputs {
            rtt: Some(rtt),
            ..QualityInputs::default()
        })
        .unwrap()
        .total
    }

    #[test]
    fn every_breakpoint_scores_its_value() {
        for table in [RTT_MS, JITTER_MS, LOSS_PERCENT, BANDWIDTH_MBPS] {
            for &(x, y) in table {
                assert_eq!(piecewise(table, x), y, "{x}");
            }
        }
        assert_eq!(only_rtt(ms(0)), 100.0);
        assert_eq!(only_rtt(ms(200)), 50.0);
        assert_eq!(only_rtt(Duration::from_secs(3600)), 0.0);
    }

    #[test]
    fn between_breakpoints_the_score_is_linear() {
        assert_eq!(only_rtt(ms(150)), 62.5);
        assert_eq!(piecewise(LOSS_PERCENT, 3.5), 52.5);
        assert_eq!(piecewise(BANDWIDTH_MBPS, 17.5), 92.5);
        assert_eq!(piecewise(JITTER_MS, f64::NAN), 0.0);
    }

    #[test]
    fn the_weights_are_the_seeds() {
        // RTT 100 ms → 75, jitter 30 ms → 60, loss 2 % → 65, 10 Mbit/s → 85.
        let score = QualityScore::of(&QualityInputs {
            rtt: Some(ms(100)),
            jitter: Some(ms(30)),
            loss: Some(0.02),
            bandwidth: Some(10_000_000 / 8),
        })
        .unwrap();
        let expected = 0.3 * 75.0 + 0.2 * 60.0 + 0.3 * 65.0 + 0.2 * 85.0;
        assert!((score.total - expected).abs() < 1e-9, "{}", score.total);
        assert_eq!(score.grade, QualityGrade::Good);
    }

    #[test]
    fn unknown_measures_are_left_out() {
        assert_eq!(QualityScore::of(&QualityInputs::default()), None);
        // RTT 200 ms → 50 (weight 0.3), loss 0 → 100 (weight 0.3): (15 + 30) / 0.6.
        let score = QualityScore::of(&QualityInputs {
            rtt: Some(ms(200)),
            loss: Some(0.0),
            ..QualityInputs::default()
        })
        .unwrap();
        assert!((score.total - 75.0).abs() < 1e-9);
        assert_eq!(score.bandwidth, None);
    }

    #[test]
    fn grades_split_at_35_60_and_80() {
        use QualityGrade::*;
        let grades: Vec<_> = [0.0, 34.9, 35.0, 59.9, 60.0, 79.9, 80.0, 100.0]
            .into_iter()
            .map(QualityGrade::of)
            .collect();
        assert_eq!(
            grades,
            [Poor, Poor, Fair, Fair, Good, Good, Excellent, Excellent]
        );
    }

    #[test]
    fn the_history_keeps_one_score_per_interval_and_is_bounded() {
        let t = crate::congestion::test_epoch();
        let mut m = QualityMonitor::new(Duration::from_secs(1), 3);
        let inputs = QualityInputs {
            rtt: Some(ms(20)),
            ..QualityInputs::default()
        };
        for i in 0..100 {
            m.update(t + ms(100 * i), &inputs);
        }
        let times: Vec<_> = m.history().map(|(at, _)| *at - t).collect();
        assert_eq!(times, [ms(7000), ms(8000), ms(9000)]);
        assert_eq!(m.latest().unwrap().total, 100.0);
    }
}
