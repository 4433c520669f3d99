//! Link rates in bits per second.

use std::fmt;
use std::time::Duration;

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// A data rate in bits per second.
///
/// Serialisation times are rounded *up* to the nanosecond, so a link never carries more than its
/// rate, however many packets it serialises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Bitrate(u64);

impl Bitrate {
    /// A rate of `bps` bits per second.
    pub const fn from_bps(bps: u64) -> Self {
        Self(bps)
    }

    /// A rate of `kbps` kilobits (10³ bits) per second.
    pub const fn from_kbps(kbps: u64) -> Self {
        Self(kbps.saturating_mul(1_000))
    }

    /// A rate of `mbps` megabits (10⁶ bits) per second.
    pub const fn from_mbps(mbps: u64) -> Self {
        Self(mbps.saturating_mul(1_000_000))
    }

    /// Bits per second.
    pub const fn bps(self) -> u64 {
        self.0
    }

    /// Bytes per second, as a float (for reports).
    pub fn bytes_per_sec(self) -> f64 {
        self.0 as f64 / 8.0
    }

    /// Time to serialise `bytes` at this rate, rounded up to the nanosecond; `Duration::MAX` for a
    /// zero rate.
    pub fn transmit_time(self, bytes: usize) -> Duration {
        if self.0 == 0 {
            return Duration::MAX;
        }
        let bits = bytes as u128 * 8;
        let nanos = (bits * NANOS_PER_SEC).div_ceil(u128::from(self.0));
        duration_from_nanos(nanos)
    }

    /// Bytes this rate carries in `time`, rounded down.
    pub fn bytes_in(self, time: Duration) -> u64 {
        let bits = u128::from(self.0) * time.as_nanos() / NANOS_PER_SEC;
        u64::try_from(bits / 8).unwrap_or(u64::MAX)
    }

    /// The rate that carries `bytes` in `time` (`None` for a zero duration).
    pub fn from_bytes_in(bytes: u64, time: Duration) -> Option<Self> {
        let nanos = time.as_nanos();
        if nanos == 0 {
            return None;
        }
        let bps = u128::from(bytes) * 8 * NANOS_PER_SEC / nanos;
        Some(Self(u64::try_from(bps).unwrap_or(u64::MAX)))
    }

    /// This rate scaled by `factor` (saturating; negative factors give zero).
    pub fn scaled(self, factor: f64) -> Self {
        Self((self.0 as f64 * factor).max(0.0).min(u64::MAX as f64) as u64)
    }
}

fn duration_from_nanos(nanos: u128) -> Duration {
    let secs = nanos / NANOS_PER_SEC;
    match u64::try_from(secs) {
        Ok(secs) => Duration::new(secs, (nanos % NANOS_PER_SEC) as u32),
        Err(_) => Duration::MAX,
    }
}

impl fmt::Display for Bitrate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bps = self.0 as f64;
        if bps >= 1e9 {
            write!(f, "{:.3} Gbit/s", bps / 1e9)
        } else if bps >= 1e6 {
            write!(f, "{:.3} Mbit/s", bps / 1e6)
        } else if bps >= 1e3 {
            write!(f, "{:.3} kbit/s", bps / 1e3)
        } else {
            write!(f, "{} bit/s", self.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transmit_time_is_exact_for_round_numbers() {
        // 1250 bytes = 10_000 bits at 10 Mbit/s is exactly one millisecond.
        assert_eq!(
            Bitrate::from_mbps(10).transmit_time(1250),
            Duration::from_millis(1)
        );
    }

    #[test]
    fn transmit_time_rounds_up() {
        // 1 byte at 3 bit/s is 2.666… s, rounded up to the next nanosecond.
        assert_eq!(
            Bitrate::from_bps(3).transmit_time(1),
            Duration::new(2, 666_666_667)
        );
    }

    #[test]
    fn bytes_in_inverts_transmit_time() {
        let rate = Bitrate::from_kbps(240);
        assert_eq!(rate.bytes_in(Duration::from_secs(1)), 30_000);
        assert_eq!(
            Bitrate::from_bytes_in(30_000, Duration::from_secs(1)),
            Some(rate)
        );
    }

    #[test]
    fn zero_rate_never_transmits() {
        assert_eq!(Bitrate::from_bps(0).transmit_time(1), Duration::MAX);
    }

    #[test]
    fn display_picks_a_readable_unit() {
        assert_eq!(Bitrate::from_mbps(10).to_string(), "10.000 Mbit/s");
        assert_eq!(Bitrate::from_kbps(64).to_string(), "64.000 kbit/s");
        assert_eq!(Bitrate::from_bps(12).to_string(), "12 bit/s");
    }
}
