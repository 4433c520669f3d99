//! Summary metrics of simulated links.

use std::fmt;
use std::time::Duration;

use hdrhistogram::Histogram;

/// Why the simulator dropped a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DropCause {
    /// Independent random loss on the medium.
    RandomLoss,
    /// A loss burst of the Gilbert–Elliott model.
    BurstLoss,
    /// The link was down.
    Outage,
    /// The bottleneck queue was full (drop-tail).
    QueueFull,
    /// The datagram was larger than the link's MTU.
    TooBig,
    /// No route leads from the sender to the destination address.
    NoRoute,
}

impl DropCause {
    /// Every cause, in report order.
    pub const ALL: [DropCause; 6] = [
        Self::RandomLoss,
        Self::BurstLoss,
        Self::Outage,
        Self::QueueFull,
        Self::TooBig,
        Self::NoRoute,
    ];

    fn index(self) -> usize {
        self as usize
    }

    /// A short human-readable name.
    pub fn name(self) -> &'static str {
        match self {
            Self::RandomLoss => "random loss",
            Self::BurstLoss => "burst loss",
            Self::Outage => "link down",
            Self::QueueFull => "queue full",
            Self::TooBig => "larger than MTU",
            Self::NoRoute => "no route",
        }
    }
}

impl fmt::Display for DropCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A count of datagrams and of their bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Volume {
    /// Datagrams.
    pub packets: u64,
    /// Bytes of UDP payload.
    pub bytes: u64,
}

impl Volume {
    pub(crate) fn add(&mut self, bytes: usize) {
        self.packets += 1;
        self.bytes += bytes as u64;
    }
}

/// Drops, by cause.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DropCounts([Volume; DropCause::ALL.len()]);

impl DropCounts {
    /// Drops of one cause.
    pub fn get(&self, cause: DropCause) -> Volume {
        self.0[cause.index()]
    }

    /// All drops together.
    pub fn total(&self) -> Volume {
        self.0.iter().fold(Volume::default(), |acc, v| Volume {
            packets: acc.packets + v.packets,
            bytes: acc.bytes + v.bytes,
        })
    }

    pub(crate) fn add(&mut self, cause: DropCause, bytes: usize) {
        self.0[cause.index()].add(bytes);
    }
}

/// What one direction of a link did.
#[derive(Debug, Clone)]
pub struct LinkStats {
    /// Datagrams that entered the link.
    pub offered: Volume,
    /// Datagrams that reached the far end of the link (duplicates included).
    pub delivered: Volume,
    /// Datagrams dropped, by cause.
    pub dropped: DropCounts,
    /// Extra copies made by duplication.
    pub duplicated: u64,
    /// Datagrams that had a bit flipped.
    pub corrupted: u64,
    /// Datagrams held back so that later ones overtook them.
    pub reordered: u64,
    /// ECN-capable datagrams a step-marking link ([`LinkEcn::MarkAbove`]) marked CE.
    ///
    /// [`LinkEcn::MarkAbove`]: super::LinkEcn::MarkAbove
    pub ce_marked: u64,
    /// Time the bottleneck spent serialising.
    pub busy: Duration,
    /// Largest number of bytes that waited in the queue at once.
    pub peak_queue_bytes: usize,
    queue_delay_us: Histogram<u64>,
    queue_delay_total: Duration,
    queue_delay_max: Duration,
}

impl Default for LinkStats {
    fn default() -> Self {
        Self {
            offered: Volume::default(),
            delivered: Volume::default(),
            dropped: DropCounts::default(),
            duplicated: 0,
            corrupted: 0,
            reordered: 0,
            ce_marked: 0,
            busy: Duration::ZERO,
            peak_queue_bytes: 0,
            queue_delay_us: new_delay_histogram(),
            queue_delay_total: Duration::ZERO,
            queue_delay_max: Duration::ZERO,
        }
    }
}

impl LinkStats {
    pub(crate) fn record_queue_delay(&mut self, delay: Duration) {
        self.queue_delay_us.saturating_record(micros(delay));
        self.queue_delay_total += delay;
        self.queue_delay_max = self.queue_delay_max.max(delay);
    }

    /// Number of datagrams that went through the bottleneck queue.
    pub fn queued_packets(&self) -> u64 {
        self.queue_delay_us.len()
    }

    /// Mean time a datagram waited in the bottleneck queue (zero if none did).
    pub fn mean_queue_delay(&self) -> Duration {
        match u32::try_from(self.queue_delay_us.len()) {
            Ok(0) => Duration::ZERO,
            Ok(n) => self.queue_delay_total / n,
            Err(_) => Duration::from_secs_f64(
                self.queue_delay_total.as_secs_f64() / self.queued_packets() as f64,
            ),
        }
    }

    /// Queueing delay at quantile `q` (0.0–1.0), to the histogram's precision (3 significant
    /// digits, microsecond unit), never above the exact maximum.
    pub fn queue_delay_quantile(&self, q: f64) -> Duration {
        Duration::from_micros(self.queue_delay_us.value_at_quantile(q)).min(self.queue_delay_max)
    }

    /// Longest time a datagram waited in the bottleneck queue (exact).
    pub fn max_queue_delay(&self) -> Duration {
        self.queue_delay_max
    }

    /// Fraction of `elapsed` the bottleneck spent serialising (0 for an unlimited link).
    pub fn utilisation(&self, elapsed: Duration) -> f64 {
        if elapsed.is_zero() {
            0.0
        } else {
            (self.busy.as_secs_f64() / elapsed.as_secs_f64()).min(1.0)
        }
    }
}

/// A histogram of delays in microseconds, up to one hour, three significant digits.
pub(crate) fn new_delay_histogram() -> Histogram<u64> {
    // Constant bounds that satisfy hdrhistogram's rules (1 ≤ low, 2·low ≤ high, sigfig ≤ 5).
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("constant histogram bounds are valid")
}

pub(crate) fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drop_counts_sum_by_cause() {
        let mut d = DropCounts::default();
        d.add(DropCause::QueueFull, 100);
        d.add(DropCause::QueueFull, 50);
        d.add(DropCause::RandomLoss, 10);
        assert_eq!(
            d.get(DropCause::QueueFull),
            Volume {
                packets: 2,
                bytes: 150
            }
        );
        assert_eq!(
            d.total(),
            Volume {
                packets: 3,
                bytes: 160
            }
        );
        assert_eq!(d.get(DropCause::TooBig), Volume::default());
    }

    #[test]
    fn queue_delay_summary() {
        let mut s = LinkStats::default();
        for ms in 1..=100 {
            s.record_queue_delay(Duration::from_millis(ms));
        }
        assert_eq!(s.queued_packets(), 100);
        assert_eq!(s.mean_queue_delay(), Duration::from_micros(50_500));
        let p99 = s.queue_delay_quantile(0.99);
        assert!(
            p99 >= Duration::from_millis(98) && p99 <= Duration::from_millis(100),
            "{p99:?}"
        );
    }
}
