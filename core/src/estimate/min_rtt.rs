//! The smallest RTT over a sliding window: the path's propagation delay as it is now.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Buckets of a window.
const BUCKETS: u32 = 10;

/// The smallest RTT sample of the last `window`, in ten buckets (fixed memory). Unlike the
/// connection's lifetime minimum, it follows the path when it changes: after a move from a
/// 20 ms Wi-Fi to a 600 ms 2G link, it is 600 ms once the window has passed.
#[derive(Debug, Clone)]
pub struct WindowedMinRtt {
    window: Duration,
    bucket: Duration,
    buckets: VecDeque<(Instant, Duration)>,
}

impl WindowedMinRtt {
    /// A window of `window` (at least 10 µs).
    pub fn new(window: Duration) -> Self {
        let window = window.max(Duration::from_micros(10));
        Self {
            window,
            bucket: window / BUCKETS,
            buckets: VecDeque::with_capacity(BUCKETS as usize + 1),
        }
    }

    /// Adds a sample taken at `now`.
    pub fn on_sample(&mut self, now: Instant, rtt: Duration) {
        match self.buckets.back_mut() {
            Some((start, min)) if now.saturating_duration_since(*start) < self.bucket => {
                *min = (*min).min(rtt);
            }
            _ => self.buckets.push_back((now, rtt)),
        }
        while self.buckets.len() > BUCKETS as usize + 1
            || self
                .buckets
                .front()
                .is_some_and(|(start, _)| now.saturating_duration_since(*start) > self.window)
        {
            self.buckets.pop_front();
        }
    }

    /// The smallest sample of the window at `now`, if any.
    pub fn min(&self, now: Instant) -> Option<Duration> {
        self.buckets
            .iter()
            .filter(|(start, _)| now.saturating_duration_since(*start) <= self.window)
            .map(|(_, min)| *min)
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn the_minimum_follows_the_path_after_a_window() {
        let t = crate::congestion::test_epoch();
        let mut w = WindowedMinRtt::new(Duration::from_secs(10));
        assert_eq!(w.min(t), None);
        for i in 0..100 {
            w.on_sample(t + ms(100 * i), ms(20));
        }
        // The path moves to 600 ms at 10 s.
        for i in 100..150 {
            w.on_sample(t + ms(100 * i), ms(600 + i % 7));
        }
        assert_eq!(w.min(t + ms(14_900)), Some(ms(20)));
        for i in 150..300 {
            w.on_sample(t + ms(100 * i), ms(600 + i % 7));
        }
        assert_eq!(w.min(t + ms(29_900)), Some(ms(600)));
    }

    #[test]
    fn memory_is_fixed() {
        let t = crate::congestion::test_epoch();
        let mut w = WindowedMinRtt::new(Duration::from_secs(1));
        for i in 0..100_000 {
            w.on_sample(t + Duration::from_micros(31 * i), ms(5));
        }
        assert!(w.buckets.len() <= BUCKETS as usize + 1);
    }
}
