//! The last `n` transit samples, in arrival order and sorted, for an exact floor and
//! percentile over a sliding window.
//!
//! Why exact and not a streaming estimate (P², a t-digest, an EWMA of deviations): the window
//! is small (hundreds of samples), so keeping it sorted costs a binary search and a short
//! memmove per arrival, and the answer is the true order statistic, with no tuning and no
//! drift. Memory is two copies of the window, allocated as it fills.

use std::collections::VecDeque;

/// A sliding window of transit samples (nanoseconds, relative to an arbitrary origin).
#[derive(Debug, Clone)]
pub(super) struct TransitWindow {
    capacity: usize,
    /// The samples in arrival order, oldest first.
    arrivals: VecDeque<i128>,
    /// The same samples, ascending.
    sorted: Vec<i128>,
}

impl TransitWindow {
    /// An empty window of `capacity` samples (at least 1).
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            arrivals: VecDeque::new(),
            sorted: Vec::new(),
        }
    }

    /// Adds a sample, forgetting the oldest one if the window is full.
    pub(super) fn push(&mut self, sample: i128) {
        if self.arrivals.len() == self.capacity
            && let Some(oldest) = self.arrivals.pop_front()
            && let Ok(at) = self.sorted.binary_search(&oldest)
        {
            self.sorted.remove(at);
        }
        let at = self.sorted.partition_point(|&s| s <= sample);
        self.sorted.insert(at, sample);
        self.arrivals.push_back(sample);
    }

    /// Forgets every sample.
    pub(super) fn clear(&mut self) {
        self.arrivals.clear();
        self.sorted.clear();
    }

    /// Samples held.
    pub(super) fn len(&self) -> usize {
        self.sorted.len()
    }

    /// The smallest sample.
    pub(super) fn min(&self) -> Option<i128> {
        self.sorted.first().copied()
    }

    /// The `p`-quantile by nearest rank: the smallest sample with at least `p × len` samples
    /// at or below it (`p` in `(0, 1]`; the maximum for `p = 1`).
    pub(super) fn quantile(&self, p: f64) -> Option<i128> {
        let n = self.sorted.len();
        let rank = (p * n as f64).ceil();
        // `rank` is in [0, n] for p in (0, 1]; the clamp covers rounding.
        let rank = if rank >= 1.0 { rank as usize } else { 1 };
        self.sorted.get(rank.min(n).checked_sub(1)?).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_slides_and_order_statistics_are_exact() {
        let mut w = TransitWindow::new(4);
        assert_eq!((w.min(), w.quantile(0.5)), (None, None));
        for s in [40, 10, 30, 20] {
            w.push(s);
        }
        assert_eq!(w.len(), 4);
        assert_eq!(w.min(), Some(10));
        assert_eq!(w.quantile(0.5), Some(20));
        assert_eq!(w.quantile(0.75), Some(30));
        assert_eq!(w.quantile(0.76), Some(40));
        assert_eq!(w.quantile(1.0), Some(40));
        assert_eq!(w.quantile(1e-9), Some(10));
        // 40 leaves first, then 10.
        w.push(25);
        assert_eq!(w.quantile(1.0), Some(30));
        w.push(25);
        assert_eq!((w.len(), w.min()), (4, Some(20)));
        assert_eq!(w.sorted, [20, 25, 25, 30]);
        w.clear();
        assert_eq!(w.len(), 0);
    }

    #[test]
    fn duplicate_values_leave_one_at_a_time() {
        let mut w = TransitWindow::new(2);
        w.push(5);
        w.push(5);
        w.push(7);
        assert_eq!(w.sorted, [5, 7]);
        w.push(7);
        assert_eq!(w.sorted, [7, 7]);
    }
}
