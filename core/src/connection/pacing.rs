//! The pacer: spreads a window's worth of packets over a round trip instead of sending them in
//! one burst that a bottleneck queue would have to absorb (DESIGN.md §4, RFC 9002 §7.7).
//!
//! A token bucket refilled at the pacing rate, whose depth is a small burst allowance. The rate
//! comes from the congestion controller when it paces itself (BBR), otherwise it is
//! `gain × cwnd / smoothed RTT` with the gain of RFC 9002 §7.7 (N = 1.25), so that pacing never
//! keeps a window-limited sender from using its window.

use std::time::{Duration, Instant};

/// RFC 9002 §7.7: pace at 1.25 × cwnd / srtt so that pacing does not limit a window-bound flow.
const WINDOW_GAIN_NUM: u64 = 5;
const WINDOW_GAIN_DEN: u64 = 4;
/// The burst allowance in time at the pacing rate…
const BURST_TIME: Duration = Duration::from_millis(2);
/// …and in packets, at least and at most. The ceiling matters on fast paths only: a runtime's
/// timer has about a millisecond of resolution, so the allowance must cover what the rate
/// earns in that time, or the timer, not the controller, sets the rate (on loopback a ceiling
/// of 10 packets held weir-tokio to under half of quinn's throughput; quinn's is 256 too).
const MIN_BURST_PACKETS: u64 = 2;
const MAX_BURST_PACKETS: u64 = 256;
/// The allowance before the first rate is known: the initial window's worth (RFC 9002 §7.2).
const INITIAL_BURST_PACKETS: u64 = 10;

#[derive(Debug, Clone)]
pub(crate) struct Pacer {
    /// Bytes that may leave now.
    tokens: u64,
    /// Bucket depth at the last refill.
    capacity: u64,
    last_refill: Option<Instant>,
}

impl Pacer {
    pub(crate) fn new(datagram_size: u64) -> Self {
        let capacity = datagram_size * INITIAL_BURST_PACKETS;
        Self {
            tokens: capacity,
            capacity,
            last_refill: None,
        }
    }

    /// The pacing rate in bytes per second: the controller's, or 1.25 × cwnd / srtt.
    pub(crate) fn rate(controller_rate: Option<u64>, window: u64, srtt: Duration) -> u64 {
        if let Some(rate) = controller_rate {
            return rate.max(1);
        }
        let nanos = srtt.as_nanos().max(1);
        let rate = u128::from(window) * u128::from(WINDOW_GAIN_NUM) * 1_000_000_000
            / (u128::from(WINDOW_GAIN_DEN) * nanos);
        u64::try_from(rate).unwrap_or(u64::MAX).max(1)
    }

    fn burst(rate: u64, datagram_size: u64) -> u64 {
        let by_time = u64::try_from(u128::from(rate) * BURST_TIME.as_nanos() / 1_000_000_000)
            .unwrap_or(u64::MAX);
        by_time.clamp(
            datagram_size * MIN_BURST_PACKETS,
            datagram_size * MAX_BURST_PACKETS,
        )
    }

    /// When a packet of `size` bytes may leave at `rate`: `None` if now.
    pub(crate) fn delay(
        &mut self,
        now: Instant,
        size: u64,
        rate: u64,
        datagram_size: u64,
    ) -> Option<Instant> {
        self.capacity = Self::burst(rate, datagram_size);
        if let Some(last) = self.last_refill {
            let elapsed = now.saturating_duration_since(last);
            let earned = u128::from(rate) * elapsed.as_nanos() / 1_000_000_000;
            let earned = u64::try_from(earned).unwrap_or(u64::MAX);
            if earned > 0 {
                self.tokens = self.tokens.saturating_add(earned).min(self.capacity);
                self.last_refill = Some(now);
            }
        } else {
            self.last_refill = Some(now);
        }
        self.tokens = self.tokens.min(self.capacity);
        if self.tokens >= size {
            return None;
        }
        let missing = size - self.tokens;
        let wait_nanos = (u128::from(missing) * 1_000_000_000).div_ceil(u128::from(rate.max(1)));
        let wait = Duration::from_nanos(u64::try_from(wait_nanos).unwrap_or(u64::MAX));
        let from = self.last_refill.unwrap_or(now);
        Some(from + wait.max(Duration::from_nanos(1)))
    }

    /// A packet of `size` bytes left.
    pub(crate) fn on_sent(&mut self, size: u64) {
        self.tokens = self.tokens.saturating_sub(size);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(clippy::disallowed_methods)] // tests need a base instant
    fn t0() -> Instant {
        Instant::now()
    }

    #[test]
    fn window_rate_follows_rfc_9002_gain() {
        // 12 000 bytes per 100 ms is 120 kB/s; × 1.25 = 150 kB/s.
        assert_eq!(
            Pacer::rate(None, 12_000, Duration::from_millis(100)),
            150_000
        );
        assert_eq!(
            Pacer::rate(Some(42), 12_000, Duration::from_millis(100)),
            42
        );
        assert!(Pacer::rate(None, 12_000, Duration::ZERO) > 0);
    }

    #[test]
    fn a_burst_then_one_packet_per_interval() {
        let now = t0();
        let mut p = Pacer::new(1200);
        // 1.2 MB/s: one 1200-byte packet per millisecond; burst 2 ms = 2 packets.
        let rate = 1_200_000;
        let mut sent = 0;
        while p.delay(now, 1200, rate, 1200).is_none() {
            p.on_sent(1200);
            sent += 1;
        }
        assert_eq!(sent, 2);
        let next = p.delay(now, 1200, rate, 1200).expect("paced");
        assert_eq!(next - now, Duration::from_millis(1));
        assert!(p.delay(next, 1200, rate, 1200).is_none());
        p.on_sent(1200);
        // Over one second, the rate holds: about 1000 more packets, never more than rate + burst.
        let mut t = next;
        let mut count = 0;
        while t < now + Duration::from_secs(1) {
            match p.delay(t, 1200, rate, 1200) {
                None => {
                    p.on_sent(1200);
                    count += 1;
                }
                Some(at) => t = at,
            }
        }
        assert!((995..=1002).contains(&count), "{count} packets in a second");
    }

    #[test]
    fn idle_time_earns_at_most_the_burst() {
        let now = t0();
        let mut p = Pacer::new(1200);
        let rate = 1_200_000;
        assert!(p.delay(now, 1200, rate, 1200).is_none());
        let later = now + Duration::from_secs(10);
        let mut sent = 0;
        while p.delay(later, 1200, rate, 1200).is_none() {
            p.on_sent(1200);
            sent += 1;
        }
        assert_eq!(sent, 2, "the bucket holds a 2 ms burst, not 10 s of credit");
    }
}
