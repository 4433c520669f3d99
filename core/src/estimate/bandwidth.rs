//! Bandwidth statistics over a time window, fed by delivery-rate samples.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The statistics of the delivery rate over the estimator's window (the seed's
/// `BandwidthEstimate`). Rates are in bytes per second.
///
/// The window is divided into slots (100 ms by default); a slot's value is the mean of the
/// samples that arrived in it, so that a fast flow that acknowledges thousands of times a second
/// and a slow one that acknowledges ten times weigh their history alike. `mean`, `median`,
/// `std_dev`, `min` and `max` are over the slots of the window; `current` is the newest sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BandwidthEstimate {
    /// The newest delivery-rate sample.
    pub current: u64,
    /// Mean of the window's slots.
    pub mean: u64,
    /// Median of the window's slots (the mean of the two middle ones for an even count).
    pub median: u64,
    /// Population standard deviation of the window's slots.
    pub std_dev: u64,
    /// Exponentially weighted moving average of the slots, weight 1/8 for the newest.
    pub ewma: u64,
    /// Smallest slot of the window.
    pub min: u64,
    /// Largest slot of the window.
    pub max: u64,
    /// Slots in the window.
    pub samples: usize,
    /// How far the figures can be trusted, in `[0, 1]`: grows with the number of slots (full
    /// at [`FULL_CONFIDENCE_SLOTS`]) and falls with their spread (it is
    /// `min(1, slots / 10) × max(0, 1 − std_dev / mean)`).
    pub confidence: f64,
    /// Whether at least half of the window's slots hold only application-limited samples:
    /// the flow mostly sent less than the path carries, so the figures are lower bounds on the
    /// path's bandwidth.
    pub app_limited: bool,
}

/// Slots after which a window's figures are fully trusted (if they agree).
pub const FULL_CONFIDENCE_SLOTS: usize = 10;

/// The EWMA's weight of the newest slot, as a divisor (1/8, as RFC 9002's smoothed RTT).
const EWMA_DIVISOR: u128 = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slot {
    start: Instant,
    sum: u128,
    count: u64,
    /// Whether every sample of the slot was application-limited.
    app_limited: bool,
}

impl Slot {
    fn mean(&self) -> u64 {
        (self.sum / u128::from(self.count.max(1))) as u64
    }
}

/// Keeps the delivery-rate samples of the last `window` in slots of `slot` and computes
/// [`BandwidthEstimate`]s. Memory is bounded by `window / slot` slots whatever the sample rate.
///
/// An application-limited sample measures what the flow sent, not what the path carries: it
/// is kept only when it is at least the running EWMA (it then proves the path carries that
/// much), so that a flow that goes quiet does not talk its estimate down.
#[derive(Debug, Clone)]
pub struct BandwidthEstimator {
    window: Duration,
    slot: Duration,
    max_slots: usize,
    slots: VecDeque<Slot>,
    /// EWMA over the slots that closed, in bytes per second.
    ewma_closed: Option<u128>,
    current: Option<u64>,
}

impl BandwidthEstimator {
    /// An estimator over the last `window`, in slots of `slot` (each at least 1 µs; the slot
    /// at most the window).
    pub fn new(window: Duration, slot: Duration) -> Self {
        let slot = slot.max(Duration::from_micros(1));
        let window = window.max(slot);
        let max_slots = usize::try_from(window.as_nanos() / slot.as_nanos())
            .unwrap_or(usize::MAX)
            .saturating_add(1);
        Self {
            window,
            slot,
            max_slots,
            slots: VecDeque::new(),
            ewma_closed: None,
            current: None,
        }
    }

    /// Records a delivery-rate sample of `rate` bytes per second taken at `now`.
    pub fn on_sample(&mut self, now: Instant, rate: u64, app_limited: bool) {
        if app_limited && self.ewma(now).is_some_and(|ewma| rate < ewma) {
            return;
        }
        self.current = Some(rate);
        let opens_slot = self
            .slots
            .back()
            .is_none_or(|last| now.saturating_duration_since(last.start) >= self.slot);
        if opens_slot {
            if let Some(last) = self.slots.back() {
                let value = u128::from(last.mean());
                self.ewma_closed = Some(match self.ewma_closed {
                    None => value,
                    Some(ewma) => blend(ewma, value),
                });
            }
            self.slots.push_back(Slot {
                start: now,
                sum: 0,
                count: 0,
                app_limited: true,
            });
        }
        if let Some(slot) = self.slots.back_mut() {
            slot.sum = slot.sum.saturating_add(u128::from(rate));
            slot.count += 1;
            slot.app_limited &= app_limited;
        }
        self.expire(now);
    }

    /// The EWMA at `now`, the open slot counting as the newest.
    fn ewma(&self, now: Instant) -> Option<u64> {
        let open = self.live(now).last().map(|s| u128::from(s.mean()));
        match (self.ewma_closed, open) {
            (Some(ewma), Some(open)) => Some(blend(ewma, open) as u64),
            (None, Some(open)) => Some(open as u64),
            (Some(ewma), None) => Some(ewma as u64),
            (None, None) => None,
        }
    }

    fn expire(&mut self, now: Instant) {
        while self.slots.len() > self.max_slots
            || self
                .slots
                .front()
                .is_some_and(|s| now.saturating_duration_since(s.start) > self.window)
        {
            self.slots.pop_front();
        }
    }

    /// The slots still inside the window at `now`.
    fn live(&self, now: Instant) -> impl Iterator<Item = &Slot> {
        self.slots
            .iter()
            .filter(move |s| now.saturating_duration_since(s.start) <= self.window)
    }

    /// The statistics at `now`, or `None` when no sample fell in the window.
    pub fn estimate(&self, now: Instant) -> Option<BandwidthEstimate> {
        let mut values: Vec<u64> = self.live(now).map(Slot::mean).collect();
        if values.is_empty() {
            return None;
        }
        let n = values.len();
        let app_limited = self.live(now).filter(|s| s.app_limited).count() * 2 >= n;
        let sum: u128 = values.iter().map(|&v| u128::from(v)).sum();
        let mean = (sum / n as u128) as u64;
        let variance = values
            .iter()
            .map(|&v| {
                let d = v as f64 - mean as f64;
                d * d
            })
            .sum::<f64>()
            / n as f64;
        let std_dev = variance.sqrt();
        values.sort_unstable();
        let median = if n % 2 == 1 {
            values[n / 2]
        } else {
            ((u128::from(values[n / 2 - 1]) + u128::from(values[n / 2])) / 2) as u64
        };
        let spread = if mean == 0 {
            1.0
        } else {
            (std_dev / mean as f64).min(1.0)
        };
        let amount = (n as f64 / FULL_CONFIDENCE_SLOTS as f64).min(1.0);
        Some(BandwidthEstimate {
            current: self.current.unwrap_or(0),
            mean,
            median,
            std_dev: std_dev.round() as u64,
            ewma: self.ewma(now).unwrap_or(mean),
            min: values[0],
            max: values[n - 1],
            samples: n,
            confidence: amount * (1.0 - spread),
            app_limited,
        })
    }
}

fn blend(ewma: u128, value: u128) -> u128 {
    (ewma * (EWMA_DIVISOR - 1) + value) / EWMA_DIVISOR
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn fed(rates: &[u64]) -> (BandwidthEstimator, Instant) {
        let start = crate::congestion::test_epoch();
        let mut e = BandwidthEstimator::new(Duration::from_secs(10), ms(100));
        for (i, &r) in rates.iter().enumerate() {
            e.on_sample(start + ms(100 * i as u64), r, false);
        }
        (e, start + ms(100 * (rates.len() as u64 - 1)))
    }

    #[test]
    fn statistics_of_one_sample_per_slot_are_the_closed_forms() {
        // 2, 4, 4, 4, 5, 5, 7, 9: mean 5, population standard deviation 2, median 4.5.
        let (e, now) = fed(&[2, 4, 4, 4, 5, 5, 7, 9].map(|x| x * 1000));
        let est = e.estimate(now).unwrap();
        assert_eq!(est.mean, 5000);
        assert_eq!(est.std_dev, 2000);
        assert_eq!(est.median, 4500);
        assert_eq!((est.min, est.max), (2000, 9000));
        assert_eq!(est.current, 9000);
        assert_eq!(est.samples, 8);
        // 8 of 10 slots, coefficient of variation 0.4.
        assert!(
            (est.confidence - 0.8 * 0.6).abs() < 1e-9,
            "{}",
            est.confidence
        );
        assert!(!est.app_limited);
    }

    #[test]
    fn a_steady_rate_is_trusted_fully_once_the_window_has_ten_slots() {
        let (e, now) = fed(&[1_000_000; 12]);
        let est = e.estimate(now).unwrap();
        assert_eq!(
            (est.mean, est.median, est.ewma, est.std_dev),
            (1_000_000, 1_000_000, 1_000_000, 0)
        );
        assert_eq!(est.confidence, 1.0);
    }

    #[test]
    fn samples_of_one_slot_are_averaged() {
        let start = crate::congestion::test_epoch();
        let mut e = BandwidthEstimator::new(Duration::from_secs(10), ms(100));
        for (i, r) in [100, 200, 300, 400].into_iter().enumerate() {
            e.on_sample(start + ms(10 * i as u64), r, false);
        }
        let est = e.estimate(start + ms(30)).unwrap();
        assert_eq!((est.samples, est.mean, est.current), (1, 250, 400));
    }

    #[test]
    fn the_ewma_weighs_the_newest_slot_an_eighth() {
        let (e, now) = fed(&[800, 1600]);
        // 800 + (1600 − 800) / 8.
        assert_eq!(e.estimate(now).unwrap().ewma, 900);
    }

    #[test]
    fn old_slots_leave_the_window() {
        let start = crate::congestion::test_epoch();
        let mut e = BandwidthEstimator::new(Duration::from_secs(1), ms(100));
        e.on_sample(start, 10, false);
        e.on_sample(start + ms(900), 20, false);
        assert_eq!(e.estimate(start + ms(900)).unwrap().samples, 2);
        assert_eq!(e.estimate(start + ms(1500)).unwrap().samples, 1);
        assert_eq!(e.estimate(start + ms(1901)), None);
    }

    #[test]
    fn memory_is_bounded_by_the_slots_whatever_the_sample_rate() {
        let start = crate::congestion::test_epoch();
        let mut e = BandwidthEstimator::new(Duration::from_secs(1), ms(100));
        for i in 0..100_000u64 {
            e.on_sample(start + Duration::from_micros(37 * i), i, false);
        }
        assert!(e.slots.len() <= 11, "{}", e.slots.len());
    }

    #[test]
    fn application_limited_samples_below_the_estimate_are_ignored() {
        let (mut e, now) = fed(&[1_000_000; 5]);
        e.on_sample(now + ms(100), 10_000, true);
        let est = e.estimate(now + ms(100)).unwrap();
        assert_eq!((est.current, est.min), (1_000_000, 1_000_000));
        e.on_sample(now + ms(200), 2_000_000, true);
        let est = e.estimate(now + ms(200)).unwrap();
        assert_eq!((est.current, est.max), (2_000_000, 2_000_000));
        assert!(!est.app_limited, "most of the window's slots are measured");
    }

    #[test]
    fn absurd_samples_and_time_standing_still_do_not_panic() {
        let start = crate::congestion::test_epoch();
        let mut e = BandwidthEstimator::new(Duration::ZERO, Duration::ZERO);
        for _ in 0..1000 {
            e.on_sample(start, u64::MAX, false);
            e.on_sample(start, 0, true);
        }
        let est = e.estimate(start).unwrap();
        assert!(est.confidence >= 0.0 && est.confidence <= 1.0);
        // An earlier time than the samples' (a caller's mistake) sees them as current.
        assert!(e.estimate(start - ms(1)).is_some());
    }
}
