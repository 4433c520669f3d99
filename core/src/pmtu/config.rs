//! The settings of path MTU discovery.

use std::time::Duration;

use crate::config::MIN_DATAGRAM_SIZE;

/// RFC 9000 §18.2: the largest UDP payload a datagram can have.
const MAX_UDP_PAYLOAD: u16 = 65_527;

/// Path MTU discovery's settings ([`TransportConfig::mtu_discovery`]; see [`crate::pmtu`]).
///
/// [`TransportConfig::mtu_discovery`]: crate::config::TransportConfig::mtu_discovery
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MtuDiscoveryConfig {
    /// The largest UDP payload probed for: the local interface's MTU less the IP and UDP
    /// headers. The default, 1452 bytes, fits a 1500-byte Ethernet MTU over IPv6 (40 + 8
    /// bytes of headers) and over IPv4 with 20 bytes to spare for a tunnel; raise it to 1472
    /// on plain IPv4 Ethernet, or to the jumbo-frame size on a LAN that has them. The peer's
    /// `max_udp_payload_size` bounds it too.
    pub upper_bound: u16,
    /// After a search completes, the next starts this long later, from the validated size up
    /// (RFC 8899 `PMTU_RAISE_TIMER`: 600 s).
    pub interval: Duration,
    /// Probes of one size lost before that size counts as too large (RFC 8899 `MAX_PROBES`:
    /// 3). A probe lost to random loss is retried; three in a row are not random.
    pub max_probes: u8,
    /// The search stops once the largest size acknowledged and the smallest that failed are
    /// closer than this, in bytes: the last few bytes are not worth the probes.
    pub min_step: u16,
    /// Packets above the base size lost (with a smaller packet sent after them acknowledged,
    /// and no large one) before the path counts as a black hole for large packets.
    pub black_hole_threshold: u8,
}

impl Default for MtuDiscoveryConfig {
    fn default() -> Self {
        Self {
            upper_bound: 1452,
            interval: Duration::from_secs(600),
            max_probes: 3,
            min_step: 16,
            black_hole_threshold: 3,
        }
    }
}

impl MtuDiscoveryConfig {
    /// Checks the settings against what discovery needs.
    pub fn validate(&self) -> Result<(), MtuDiscoveryConfigError> {
        if !(MIN_DATAGRAM_SIZE..=MAX_UDP_PAYLOAD).contains(&self.upper_bound) {
            return Err(MtuDiscoveryConfigError::UpperBound(self.upper_bound));
        }
        if self.interval.is_zero() {
            return Err(MtuDiscoveryConfigError::Zero("interval"));
        }
        if self.max_probes == 0 {
            return Err(MtuDiscoveryConfigError::Zero("max_probes"));
        }
        if self.min_step == 0 {
            return Err(MtuDiscoveryConfigError::Zero("min_step"));
        }
        if self.black_hole_threshold == 0 {
            return Err(MtuDiscoveryConfigError::Zero("black_hole_threshold"));
        }
        Ok(())
    }
}

/// A [`MtuDiscoveryConfig`] that discovery cannot run with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MtuDiscoveryConfigError {
    /// The upper bound is below the 1200 bytes every path carries or above the largest UDP
    /// payload.
    #[error("mtu_discovery.upper_bound {0} is outside 1200..=65527 bytes")]
    UpperBound(u16),
    /// A count or duration that must be positive is zero.
    #[error("mtu_discovery.{0} must not be zero")]
    Zero(&'static str),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_valid_and_every_bad_value_is_named() {
        assert_eq!(MtuDiscoveryConfig::default().validate(), Ok(()));
        let bad = |f: fn(&mut MtuDiscoveryConfig)| {
            let mut c = MtuDiscoveryConfig::default();
            f(&mut c);
            c.validate().unwrap_err()
        };
        assert_eq!(
            bad(|c| c.upper_bound = 1199),
            MtuDiscoveryConfigError::UpperBound(1199)
        );
        assert_eq!(
            bad(|c| c.upper_bound = 65_528),
            MtuDiscoveryConfigError::UpperBound(65_528)
        );
        assert_eq!(
            bad(|c| c.interval = Duration::ZERO),
            MtuDiscoveryConfigError::Zero("interval")
        );
        assert_eq!(
            bad(|c| c.max_probes = 0),
            MtuDiscoveryConfigError::Zero("max_probes")
        );
        assert_eq!(
            bad(|c| c.min_step = 0),
            MtuDiscoveryConfigError::Zero("min_step")
        );
        assert_eq!(
            bad(|c| c.black_hole_threshold = 0),
            MtuDiscoveryConfigError::Zero("black_hole_threshold")
        );
    }
}
