//! The optional send-rate limit of a connection ([`RateLimit`]): a token bucket in front of
//! the pacer.
//!
//! ## Why a limit on the connection, and no packet queue
//!
//! weir once had a traffic shaper here: this token bucket in front of priority queues of
//! packets with deadlines. Nothing used it, and a packet queue is the wrong place for
//! priorities and deadlines: the connection's scheduler already serves streams by priority
//! and lanes by priority, weight and message time-to-live when it fills each packet
//! (DESIGN.md §3, §3a), so a queue below it could only hold back what it had already chosen —
//! acknowledgements and retransmissions included — and add delay to a game's packets. What
//! remains useful is the bucket alone, as a ceiling on the connection's sending rate that
//! applies even when the congestion window would allow more (a phone's data budget, a
//! server's cap per client). The connection asks it beside the pacer before each
//! ack-eliciting packet of the data space, and arms its pacing timer for whichever releases
//! later, so nothing queues: data waits in the stream and lane buffers, where the scheduler
//! still decides what goes first.
//!
//! [`RateLimit`]: crate::config::RateLimit

use std::time::{Duration, Instant};

/// Nanoseconds per second: tokens are kept in byte-nanoseconds per second, so that a refill of
/// `rate × elapsed` is exact for any rate in bytes per second and any elapsed nanoseconds.
const NANOS_PER_SEC: u128 = 1_000_000_000;

/// A token bucket: `rate` bytes per second flow into a bucket that holds at most `burst` bytes;
/// sending `n` bytes takes `n` tokens. Over any interval of length `d` at most
/// `rate × d + burst` bytes can be taken with [`try_take`](Self::try_take); [`take`](Self::take)
/// empties the bucket when it holds too few (a probe that must leave), which only makes later
/// sends wait.
///
/// Time is an argument: [`refill`](Self::refill) adds the tokens that accrued since the last
/// call. Arithmetic is exact (no floating point, no rounding drift): the bucket holds
/// `bytes × 10⁹` units and gains `rate` units per nanosecond.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TokenBucket {
    /// Bytes per second.
    rate: u64,
    /// Capacity, bytes.
    burst: u64,
    /// Tokens in byte-nanoseconds per second (bytes × 10⁹), at most `burst × 10⁹`.
    tokens: u128,
    /// When `tokens` was last brought up to date.
    updated: Instant,
}

impl TokenBucket {
    /// A full bucket at `now`: `rate` bytes per second, `burst` bytes of capacity.
    pub(crate) fn new(rate: u64, burst: u64, now: Instant) -> Self {
        Self {
            rate,
            burst,
            tokens: u128::from(burst) * NANOS_PER_SEC,
            updated: now,
        }
    }

    /// The capacity, bytes.
    pub(crate) fn burst(&self) -> u64 {
        self.burst
    }

    /// Whole bytes of tokens available as of the last refill.
    #[cfg(test)]
    pub(crate) fn tokens(&self) -> u64 {
        u64::try_from(self.tokens / NANOS_PER_SEC).unwrap_or(u64::MAX)
    }

    /// Adds the tokens accrued from the last refill to `now`, up to the burst. An earlier `now`
    /// than the last one adds nothing (time never runs backwards for the bucket).
    pub(crate) fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.updated);
        if now > self.updated {
            self.updated = now;
        }
        let capacity = u128::from(self.burst) * NANOS_PER_SEC;
        let added = u128::from(self.rate).saturating_mul(elapsed.as_nanos());
        self.tokens = self.tokens.saturating_add(added).min(capacity);
    }

    /// Whether `bytes` tokens are available (as of the last refill).
    pub(crate) fn has(&self, bytes: u64) -> bool {
        self.tokens >= u128::from(bytes) * NANOS_PER_SEC
    }

    /// Takes `bytes` tokens, or every token if fewer are there.
    pub(crate) fn take(&mut self, bytes: u64) {
        self.tokens = self
            .tokens
            .saturating_sub(u128::from(bytes) * NANOS_PER_SEC);
    }

    /// Takes `bytes` tokens if they are available (as of the last refill).
    #[cfg(test)]
    pub(crate) fn try_take(&mut self, bytes: u64) -> bool {
        let needed = u128::from(bytes) * NANOS_PER_SEC;
        if self.tokens < needed {
            return false;
        }
        self.tokens -= needed;
        true
    }

    /// The earliest instant at which `bytes` tokens will be available, if nothing else takes
    /// any: the last refill time if they already are, `None` if they never will (more than the
    /// burst, or a zero rate with too few tokens).
    pub(crate) fn ready_at(&self, bytes: u64) -> Option<Instant> {
        let needed = u128::from(bytes) * NANOS_PER_SEC;
        if self.tokens >= needed {
            return Some(self.updated);
        }
        if bytes > self.burst || self.rate == 0 {
            return None;
        }
        // Round up: after `wait` nanoseconds, rate × wait ≥ the deficit.
        let wait = (needed - self.tokens).div_ceil(u128::from(self.rate));
        let wait = Duration::from_nanos(u64::try_from(wait).ok()?);
        self.updated.checked_add(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::congestion::test_epoch;

    #[test]
    fn starts_full_and_refills_exactly() {
        let t0 = test_epoch();
        let mut bucket = TokenBucket::new(1000, 1500, t0);
        assert_eq!(bucket.tokens(), 1500);
        assert!(bucket.try_take(1500));
        assert!(!bucket.try_take(1));
        // 1000 B/s: 1 byte per millisecond, 1 byte per 1 ms exactly.
        assert_eq!(bucket.ready_at(1), Some(t0 + Duration::from_millis(1)));
        assert_eq!(bucket.ready_at(3), Some(t0 + Duration::from_millis(3)));
        bucket.refill(t0 + Duration::from_micros(2500));
        assert_eq!(bucket.tokens(), 2);
        assert!(!bucket.has(3));
        assert_eq!(bucket.ready_at(3), Some(t0 + Duration::from_millis(3)));
        // Capped at the burst.
        bucket.refill(t0 + Duration::from_secs(100));
        assert_eq!(bucket.tokens(), 1500);
        assert_eq!(bucket.ready_at(1501), None);
    }

    #[test]
    fn odd_rates_round_the_wait_up() {
        let t0 = test_epoch();
        // 3 B/s: one byte every 333.33… ms; the wait rounds up to whole nanoseconds.
        let mut bucket = TokenBucket::new(3, 10, t0);
        assert!(bucket.try_take(10));
        let at = bucket.ready_at(1).unwrap();
        assert_eq!(at, t0 + Duration::from_nanos(333_333_334));
        bucket.refill(at);
        assert!(bucket.has(1));
        bucket.refill(at - Duration::from_nanos(1));
        assert!(bucket.has(1), "an earlier instant removes nothing");
    }

    #[test]
    fn zero_rate_and_forced_takes() {
        let t0 = test_epoch();
        let mut bucket = TokenBucket::new(0, 100, t0);
        assert!(bucket.try_take(60));
        assert_eq!(bucket.ready_at(40), Some(t0));
        assert_eq!(bucket.ready_at(41), None);
        bucket.refill(t0 + Duration::from_secs(1000));
        assert_eq!(bucket.tokens(), 40);
        // A forced take empties the bucket rather than overdrawing it.
        let mut bucket = TokenBucket::new(10, 100, t0);
        bucket.take(150);
        assert_eq!(bucket.tokens(), 0);
        assert_eq!(bucket.ready_at(10), Some(t0 + Duration::from_secs(1)));
        // A huge rate saturates instead of overflowing.
        let mut bucket = TokenBucket::new(u64::MAX, u64::MAX, t0);
        assert!(bucket.try_take(u64::MAX));
        bucket.refill(t0 + Duration::from_secs(u64::from(u32::MAX)));
        assert_eq!(bucket.tokens(), u64::MAX);
        assert_eq!(bucket.burst(), u64::MAX);
    }
}
