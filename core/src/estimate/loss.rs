//! The loss rate over a sliding time window.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Buckets of a window: the window slides in steps of a tenth of it.
const BUCKETS: u32 = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Bucket {
    start: Instant,
    delivered: u64,
    lost: u64,
}

/// Counts the packets acknowledged and declared lost in the last `window` (in ten buckets, so
/// memory is fixed) and gives their loss rate.
#[derive(Debug, Clone)]
pub struct LossWindow {
    window: Duration,
    bucket: Duration,
    buckets: VecDeque<Bucket>,
}

impl LossWindow {
    /// A window of `window` (at least 10 µs).
    pub fn new(window: Duration) -> Self {
        let window = window.max(Duration::from_micros(10));
        Self {
            window,
            bucket: window / BUCKETS,
            buckets: VecDeque::with_capacity(BUCKETS as usize + 1),
        }
    }

    /// Records `delivered` packets acknowledged and `lost` declared lost at `now`.
    pub fn record(&mut self, now: Instant, delivered: u64, lost: u64) {
        if delivered == 0 && lost == 0 {
            return;
        }
        let opens = self
            .buckets
            .back()
            .is_none_or(|b| now.saturating_duration_since(b.start) >= self.bucket);
        if opens {
            self.buckets.push_back(Bucket {
                start: now,
                delivered: 0,
                lost: 0,
            });
        }
        if let Some(b) = self.buckets.back_mut() {
            b.delivered = b.delivered.saturating_add(delivered);
            b.lost = b.lost.saturating_add(lost);
        }
        while self.buckets.len() > BUCKETS as usize + 1
            || self
                .buckets
                .front()
                .is_some_and(|b| now.saturating_duration_since(b.start) > self.window)
        {
            self.buckets.pop_front();
        }
    }

    /// (delivered, lost) packets in the window at `now`.
    pub fn counts(&self, now: Instant) -> (u64, u64) {
        self.buckets
            .iter()
            .filter(|b| now.saturating_duration_since(b.start) <= self.window)
            .fold((0, 0), |(d, l), b| {
                (d.saturating_add(b.delivered), l.saturating_add(b.lost))
            })
    }

    /// The share of the window's packets that were lost, in `[0, 1]`, or `None` when the window
    /// holds no packet.
    pub fn rate(&self, now: Instant) -> Option<f64> {
        let (delivered, lost) = self.counts(now);
        let total = delivered.saturating_add(lost);
        (total > 0).then(|| lost as f64 / total as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn the_rate_is_lost_over_all() {
        let t = crate::congestion::test_epoch();
        let mut w = LossWindow::new(Duration::from_secs(5));
        assert_eq!(w.rate(t), None);
        w.record(t, 97, 3);
        w.record(t + ms(700), 100, 0);
        assert_eq!(w.counts(t + ms(700)), (197, 3));
        assert!((w.rate(t + ms(700)).unwrap() - 3.0 / 200.0).abs() < 1e-12);
    }

    #[test]
    fn losses_age_out_of_the_window() {
        let t = crate::congestion::test_epoch();
        let mut w = LossWindow::new(Duration::from_secs(1));
        w.record(t, 0, 10);
        w.record(t + ms(950), 10, 0);
        assert_eq!(w.rate(t + ms(950)), Some(0.5));
        assert_eq!(w.rate(t + ms(1001)), Some(0.0));
        assert_eq!(w.rate(t + ms(2000)), None);
    }

    #[test]
    fn memory_is_fixed() {
        let t = crate::congestion::test_epoch();
        let mut w = LossWindow::new(Duration::from_secs(1));
        for i in 0..100_000 {
            w.record(t + Duration::from_micros(53 * i), 1, i % 2);
        }
        assert!(w.buckets.len() <= BUCKETS as usize + 1);
    }
}
