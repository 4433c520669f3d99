//! Link parameters and schedules that change them over virtual time.

use std::time::Duration;

use super::delivery::DeliveryTrace;
use super::loss::{LossModel, check_probability};
use super::rate::Bitrate;

/// Default maximum transmission unit of a simulated link: the UDP payload that fits an
/// Ethernet frame over IPv4 (1500 − 20 − 8).
pub const DEFAULT_MTU: usize = 1472;

/// Parameters of one direction of a simulated link.
///
/// A datagram entering the link goes through, in order:
/// 1. the MTU check (larger datagrams are dropped);
/// 2. the bottleneck: a drop-tail FIFO queue of at most `queue_bytes` waiting bytes, served at
///    `rate` (no queue and no serialisation delay when `rate` is `None`), or at the delivery
///    opportunities of a recorded `trace` when there is one;
/// 3. the medium: random or bursty loss, bit corruption, duplication;
/// 4. propagation: `delay`, plus a uniform jitter in `[0, jitter]`. Jitter does not reorder
///    packets (a packet never overtakes one sent before it) unless it is picked for reordering,
///    with probability `reorder`, in which case it is held back by an extra `reorder_delay`.
///
/// What the link does to a packet's ECN codepoint is [`ecn`](Self::ecn)'s choice: by default it
/// passes unchanged.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkConfig {
    /// One-way propagation delay.
    pub delay: Duration,
    /// Upper bound of the uniform extra delay added to each packet.
    pub jitter: Duration,
    /// Loss on the medium.
    pub loss: LossModel,
    /// Bottleneck rate; `None` for an unlimited link.
    pub rate: Option<Bitrate>,
    /// Drop-tail limit: bytes that may wait in the bottleneck queue (the packet being
    /// serialised does not count). Ignored when `rate` is `None`.
    pub queue_bytes: usize,
    /// Probability that a packet is held back and overtaken by later ones.
    pub reorder: f64,
    /// How long a reordered packet is held back.
    pub reorder_delay: Duration,
    /// Probability that a packet is delivered twice.
    pub duplicate: f64,
    /// Probability that one random bit of a packet is flipped.
    pub corrupt: f64,
    /// Largest datagram the link carries.
    pub mtu: usize,
    /// A recorded packet-delivery trace (Mahimahi format) that serves the bottleneck instead of
    /// `rate`: the queue drains only at the trace's opportunities, 1500 bytes each. `rate` is
    /// then only what reports show (set it to [`DeliveryTrace::mean_rate`]).
    pub trace: Option<DeliveryTrace>,
    /// What the link does to the ECN codepoint of the packets it carries.
    pub ecn: LinkEcn,
}

/// What a simulated link does to the ECN codepoint of a packet (RFC 3168).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LinkEcn {
    /// The codepoint passes unchanged.
    #[default]
    Pass,
    /// The codepoint is cleared to Not-ECT (a middlebox that "bleaches" the bits): ECN
    /// validation must fail and the connection carry on without it.
    Bleach,
    /// A step-marking AQM (as DCTCP's and L4S's): an ECN-capable packet that waited longer
    /// than this in the bottleneck queue leaves it marked CE instead of the queue growing on
    /// until it drops; Not-ECT packets are left to the drop-tail queue. Marks are set as a
    /// packet leaves the queue, from the delay it saw.
    MarkAbove(Duration),
}

impl Default for LinkConfig {
    /// A perfect link: no delay, no loss, no rate limit.
    fn default() -> Self {
        Self {
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            loss: LossModel::None,
            rate: None,
            queue_bytes: 0,
            reorder: 0.0,
            reorder_delay: Duration::ZERO,
            duplicate: 0.0,
            corrupt: 0.0,
            mtu: DEFAULT_MTU,
            trace: None,
            ecn: LinkEcn::Pass,
        }
    }
}

impl LinkConfig {
    /// A loss-free bottleneck of `rate` with one-way `delay` and a queue of `queue_bytes`.
    pub fn bottleneck(rate: Bitrate, delay: Duration, queue_bytes: usize) -> Self {
        Self {
            delay,
            rate: Some(rate),
            queue_bytes,
            ..Self::default()
        }
    }

    /// A bottleneck that follows `trace` with one-way `delay` and a queue of `queue_bytes`;
    /// `rate` reports the trace's mean rate.
    pub fn traced(trace: DeliveryTrace, delay: Duration, queue_bytes: usize) -> Self {
        Self {
            delay,
            rate: Some(trace.mean_rate()),
            queue_bytes,
            trace: Some(trace),
            ..Self::default()
        }
    }

    /// Whether the bottleneck queues packets (a rate or a trace limits it).
    pub fn is_limited(&self) -> bool {
        self.rate.is_some() || self.trace.is_some()
    }

    /// Checks that every probability lies in `[0, 1]` and that the MTU is positive.
    pub fn validate(&self) -> Result<(), LinkConfigError> {
        self.loss.validate()?;
        check_probability("reorder", self.reorder)?;
        check_probability("duplicate", self.duplicate)?;
        check_probability("corrupt", self.corrupt)?;
        if self.mtu == 0 {
            return Err(LinkConfigError::ZeroMtu);
        }
        if self.rate.is_some_and(|rate| rate.bps() == 0) {
            return Err(LinkConfigError::ZeroRate);
        }
        Ok(())
    }
}

/// A link parameter that is out of range.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LinkConfigError {
    /// A probability outside `[0, 1]` (or NaN).
    #[error("{what} probability must be within [0, 1], got {value}")]
    Probability {
        /// Which parameter.
        what: &'static str,
        /// The value given.
        value: f64,
    },
    /// A mean burst length below one packet.
    #[error("mean burst length must be at least 1 packet, got {0}")]
    BurstLength(f64),
    /// An MTU of zero bytes.
    #[error("the MTU must be at least 1 byte")]
    ZeroMtu,
    /// A bottleneck rate of zero (use 100 % loss to model an outage).
    #[error("a bottleneck rate must be above 0 bit/s (model an outage with 100% loss)")]
    ZeroRate,
}

/// Link parameters that take effect at given virtual times.
///
/// A change applies to packets that enter the link, or start their serialisation, at or after
/// its time; packets already on the wire keep the parameters they were sent with.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Schedule {
    changes: Vec<(Duration, LinkConfig)>,
}

impl Schedule {
    /// An empty schedule.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a change to `config` at virtual time `at` (time since the simulation's start).
    pub fn at(mut self, at: Duration, config: LinkConfig) -> Self {
        let index = self.changes.partition_point(|(t, _)| *t <= at);
        self.changes.insert(index, (at, config));
        self
    }

    /// The changes in time order.
    pub fn changes(&self) -> &[(Duration, LinkConfig)] {
        &self.changes
    }

    /// The configuration in force at `time`, if any change happened by then.
    pub fn config_at(&self, time: Duration) -> Option<&LinkConfig> {
        self.changes
            .iter()
            .take_while(|(t, _)| *t <= time)
            .last()
            .map(|(_, c)| c)
    }

    /// Checks every configuration of the schedule.
    pub fn validate(&self) -> Result<(), LinkConfigError> {
        self.changes.iter().try_for_each(|(_, c)| c.validate())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_keeps_time_order() {
        let slow = LinkConfig::bottleneck(Bitrate::from_kbps(100), Duration::ZERO, 0);
        let fast = LinkConfig::bottleneck(Bitrate::from_mbps(10), Duration::ZERO, 0);
        let s = Schedule::new()
            .at(Duration::from_secs(5), fast.clone())
            .at(Duration::from_secs(1), slow.clone());
        assert_eq!(s.changes()[0].0, Duration::from_secs(1));
        assert_eq!(s.config_at(Duration::from_millis(500)), None);
        assert_eq!(s.config_at(Duration::from_secs(2)), Some(&slow));
        assert_eq!(s.config_at(Duration::from_secs(5)), Some(&fast));
    }

    #[test]
    fn validation_catches_bad_values() {
        let mut c = LinkConfig::default();
        assert!(c.validate().is_ok());
        c.duplicate = -0.1;
        assert!(c.validate().is_err());
        c.duplicate = 0.0;
        c.mtu = 0;
        assert_eq!(c.validate(), Err(LinkConfigError::ZeroMtu));
        c.mtu = 1200;
        c.rate = Some(Bitrate::from_bps(0));
        assert_eq!(c.validate(), Err(LinkConfigError::ZeroRate));
    }
}
