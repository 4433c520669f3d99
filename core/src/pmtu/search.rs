//! The search for the largest datagram a path carries (see [`crate::pmtu`]).

use std::time::Instant;

use super::{BlackHoleDetector, MtuDiscoveryConfig};

/// What path MTU discovery did on one connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MtuStats {
    /// The validated size: the largest UDP payload the connection may send now.
    pub current: u16,
    /// The most discovery would probe for (the smaller of the configured upper bound and the
    /// peer's `max_udp_payload_size`); the base size when discovery is off.
    pub ceiling: u16,
    /// Probe packets sent.
    pub probes_sent: u64,
    /// Probe packets acknowledged.
    pub probes_acked: u64,
    /// Probe packets lost (not counted as the connection's packet loss).
    pub probes_lost: u64,
    /// Searches started (the first after the handshake, one per raise interval, one after
    /// each black hole).
    pub searches: u64,
    /// Black holes detected: the connection fell back to the base size.
    pub black_holes: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Discovery is off, or nothing is left to find.
    Off,
    /// The handshake is not confirmed yet.
    Waiting,
    /// `low` is acknowledged, `high` is the most not known to fail; `next` is probed.
    Searching {
        low: u16,
        high: u16,
        next: u16,
        failures: u8,
    },
    /// Done until `resume_at`.
    Complete { resume_at: Instant },
}

/// One connection's path MTU discovery: which size to probe, what probes taught, the
/// validated size (RFC 8899 §5; see [`crate::pmtu`]).
///
/// Time is an argument. The connection sends a padded PING of [`probe_due`](Self::probe_due)'s
/// size when the congestion window has room, reports it with
/// [`on_probe_sent`](Self::on_probe_sent), and reports what happened to it and to every other
/// ack-eliciting packet.
#[derive(Debug, Clone)]
pub struct MtuDiscovery {
    config: Option<MtuDiscoveryConfig>,
    base: u16,
    phase: Phase,
    /// The probe in flight: its packet number and size.
    in_flight: Option<(u64, u16)>,
    black_hole: BlackHoleDetector,
    stats: MtuStats,
}

impl MtuDiscovery {
    /// Discovery from `base` (the size the handshake proved), off when `config` is `None`.
    pub fn new(base: u16, config: Option<MtuDiscoveryConfig>) -> Self {
        let threshold = config.map_or(1, |c| c.black_hole_threshold);
        Self {
            config,
            base,
            phase: if config.is_some() {
                Phase::Waiting
            } else {
                Phase::Off
            },
            in_flight: None,
            black_hole: BlackHoleDetector::new(threshold),
            stats: MtuStats {
                current: base,
                ceiling: base,
                ..MtuStats::default()
            },
        }
    }

    /// The handshake is confirmed and the peer accepts datagrams of up to `peer_max` bytes:
    /// the first search starts.
    pub fn start(&mut self, now: Instant, peer_max: u64) {
        let Some(config) = self.config else {
            return;
        };
        if self.phase != Phase::Waiting {
            return;
        }
        let peer_max = u16::try_from(peer_max).unwrap_or(u16::MAX);
        self.stats.ceiling = config.upper_bound.min(peer_max).max(self.base);
        self.search(now, self.base, self.stats.ceiling);
    }

    /// The largest datagram the connection may send now.
    pub fn current(&self) -> u16 {
        self.stats.current
    }

    /// The size every path carries, where discovery starts and falls back to.
    pub fn base(&self) -> u16 {
        self.base
    }

    /// What discovery did so far.
    pub fn stats(&self) -> MtuStats {
        self.stats
    }

    /// The size to probe now, if a probe is due (none while one is in flight).
    pub fn probe_due(&mut self, now: Instant) -> Option<u16> {
        if self.in_flight.is_some() {
            return None;
        }
        match self.phase {
            Phase::Searching { next, .. } => Some(next),
            Phase::Complete { resume_at } if now >= resume_at => {
                self.search(now, self.stats.current, self.stats.ceiling);
                match self.phase {
                    Phase::Searching { next, .. } => Some(next),
                    _ => None,
                }
            }
            Phase::Off | Phase::Waiting | Phase::Complete { .. } => None,
        }
    }

    /// A probe of `size` bytes left in packet `pn`.
    pub fn on_probe_sent(&mut self, pn: u64, size: u16) {
        self.in_flight = Some((pn, size));
        self.stats.probes_sent += 1;
    }

    /// Packet `pn`, a probe, was acknowledged; returns whether the validated size grew.
    pub fn on_probe_acked(&mut self, now: Instant, pn: u64) -> bool {
        if self.in_flight.map(|(p, _)| p) != Some(pn) {
            // A probe from before a black hole: what it proved no longer holds.
            return false;
        }
        self.in_flight = None;
        self.stats.probes_acked += 1;
        let Phase::Searching { high, next, .. } = self.phase else {
            return false;
        };
        let grew = next > self.stats.current;
        if grew {
            self.stats.current = next;
            self.black_hole.reset();
        }
        self.narrow(now, next, high);
        grew
    }

    /// Packet `pn`, a probe, was declared lost.
    pub fn on_probe_lost(&mut self, now: Instant, pn: u64) {
        if self.in_flight.map(|(p, _)| p) != Some(pn) {
            return;
        }
        self.in_flight = None;
        self.stats.probes_lost += 1;
        let Some(config) = self.config else {
            return;
        };
        let Phase::Searching {
            low,
            high,
            next,
            failures,
        } = self.phase
        else {
            return;
        };
        let failures = failures.saturating_add(1);
        if failures >= config.max_probes {
            self.narrow(now, low, next.saturating_sub(1));
        } else {
            self.phase = Phase::Searching {
                low,
                high,
                next,
                failures,
            };
        }
    }

    /// An ack-eliciting packet other than a probe, of `size` bytes sent at `sent`, was
    /// acknowledged.
    pub fn on_packet_acked(&mut self, size: u16, sent: Instant) {
        if self.stats.current > self.base {
            self.black_hole.on_acked(size, sent, self.base);
        }
    }

    /// An ack-eliciting packet other than a probe, of `size` bytes sent at `sent`, was lost.
    pub fn on_packet_lost(&mut self, size: u16, sent: Instant) {
        if self.stats.current > self.base {
            self.black_hole.on_lost(size, sent, self.base);
        }
    }

    /// Falls back to the base size if the evidence shows a black hole, and searches again
    /// below the size that fell into it; returns whether it did.
    pub fn check_black_hole(&mut self, now: Instant) -> bool {
        let Some(failed) = self.black_hole.detected() else {
            return false;
        };
        self.black_hole.reset();
        self.stats.black_holes += 1;
        self.stats.current = self.base;
        self.in_flight = None;
        self.search(now, self.base, failed.saturating_sub(1).max(self.base));
        true
    }

    /// Starts a search between `low` (acknowledged) and `high`, probing `high` first.
    fn search(&mut self, now: Instant, low: u16, high: u16) {
        let Some(config) = self.config else {
            return;
        };
        if high <= low {
            self.phase = Phase::Complete {
                resume_at: now + config.interval,
            };
            return;
        }
        self.stats.searches += 1;
        self.phase = Phase::Searching {
            low,
            high,
            next: high,
            failures: 0,
        };
    }

    /// The search's bounds are now `low..=high`: probe halfway, or stop when they are close.
    fn narrow(&mut self, now: Instant, low: u16, high: u16) {
        let Some(config) = self.config else {
            return;
        };
        if high <= low || high - low < config.min_step {
            self.phase = Phase::Complete {
                resume_at: now + config.interval,
            };
            return;
        }
        self.phase = Phase::Searching {
            low,
            high,
            next: low + (high - low).div_ceil(2),
            failures: 0,
        };
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::congestion::test_epoch;

    fn discovery() -> MtuDiscovery {
        MtuDiscovery::new(1200, Some(MtuDiscoveryConfig::default()))
    }

    /// Runs a search against a path that carries `mtu` bytes, losing every probe above it;
    /// returns the validated size and the probes it took.
    fn run(d: &mut MtuDiscovery, mtu: u16, now: Instant) -> (u16, u64) {
        let mut pn = 0;
        while let Some(size) = d.probe_due(now) {
            d.on_probe_sent(pn, size);
            if size <= mtu {
                d.on_probe_acked(now, pn);
            } else {
                d.on_probe_lost(now, pn);
            }
            pn += 1;
            assert!(pn < 100, "the search must end");
        }
        (d.current(), pn)
    }

    #[test]
    fn nothing_is_probed_before_the_handshake_or_when_off() {
        let now = test_epoch();
        let mut d = discovery();
        assert_eq!(d.probe_due(now), None);
        let mut off = MtuDiscovery::new(1200, None);
        off.start(now, 65_527);
        assert_eq!(off.probe_due(now), None);
        assert_eq!(off.current(), 1200);
        d.start(now, 65_527);
        assert_eq!(d.probe_due(now), Some(1452), "the ceiling first");
    }

    #[test]
    fn a_full_size_path_takes_one_probe() {
        let now = test_epoch();
        let mut d = discovery();
        d.start(now, 65_527);
        assert_eq!(run(&mut d, 1500, now), (1452, 1));
    }

    #[test]
    fn the_peer_bounds_the_ceiling() {
        let now = test_epoch();
        let mut d = discovery();
        d.start(now, 1300);
        assert_eq!(run(&mut d, 1500, now), (1300, 1));
        let mut small = discovery();
        small.start(now, 1200);
        assert_eq!(small.probe_due(now), None, "nothing above the base to find");
    }

    #[test]
    fn the_search_lands_within_a_step_below_the_path_mtu() {
        let now = test_epoch();
        for mtu in [1200, 1210, 1280, 1300, 1350, 1400, 1451] {
            let mut d = discovery();
            d.start(now, 65_527);
            let (found, probes) = run(&mut d, mtu, now);
            assert!(found <= mtu, "{found} above the path's {mtu}");
            assert!(
                mtu.min(1452) - found < 16,
                "{found} too far below the path's {mtu}"
            );
            assert!(probes <= 3 + 3 * 5 + 5, "{probes} probes for {mtu}");
        }
    }

    #[test]
    fn a_probe_lost_to_random_loss_is_retried_before_the_size_fails() {
        let now = test_epoch();
        let mut d = discovery();
        d.start(now, 65_527);
        for pn in 0..2 {
            assert_eq!(d.probe_due(now), Some(1452));
            d.on_probe_sent(pn, 1452);
            d.on_probe_lost(now, pn);
        }
        assert_eq!(d.probe_due(now), Some(1452), "two losses are not three");
        d.on_probe_sent(2, 1452);
        assert!(d.on_probe_acked(now, 2));
        assert_eq!(d.current(), 1452);
        assert_eq!(d.stats().probes_lost, 2);
    }

    #[test]
    fn one_probe_at_a_time_and_stale_probes_are_ignored() {
        let now = test_epoch();
        let mut d = discovery();
        d.start(now, 65_527);
        d.on_probe_sent(7, 1452);
        assert_eq!(d.probe_due(now), None);
        assert!(!d.on_probe_acked(now, 8));
        d.on_probe_lost(now, 9);
        assert_eq!(d.stats().probes_lost, 0);
        assert!(d.on_probe_acked(now, 7));
    }

    #[test]
    fn a_black_hole_falls_back_to_the_base_and_searches_below_it() {
        let now = test_epoch();
        let mut d = discovery();
        d.start(now, 65_527);
        assert_eq!(run(&mut d, 1500, now).0, 1452);
        // The path shrinks to 1300: large packets vanish, small ones still arrive.
        let t = |ms| now + Duration::from_millis(ms);
        d.on_packet_acked(1452, t(1));
        for ms in 10..13 {
            d.on_packet_lost(1452, t(ms));
        }
        assert!(!d.check_black_hole(t(20)));
        d.on_packet_acked(1200, t(15));
        assert!(d.check_black_hole(t(20)));
        assert_eq!(d.current(), 1200);
        assert_eq!(d.stats().black_holes, 1);
        let (found, _) = run(&mut d, 1300, t(20));
        assert!((1285..=1300).contains(&found), "{found}");
    }

    #[test]
    fn the_search_resumes_after_the_interval_and_finds_a_larger_path() {
        let now = test_epoch();
        let mut d = discovery();
        d.start(now, 65_527);
        assert!(run(&mut d, 1300, now).0 <= 1300);
        let found = d.current();
        let later = now + Duration::from_secs(599);
        assert_eq!(d.probe_due(later), None);
        let later = now + Duration::from_secs(600);
        assert_eq!(run(&mut d, 1500, later).0, 1452);
        assert!(found < 1452);
        assert_eq!(d.stats().searches, 2);
    }

    proptest::proptest! {
        /// Whatever the path's MTU and whichever probes random loss takes (never the same size
        /// `max_probes` times in a row), the search ends, never validates a size the path does
        /// not carry, and lands within `min_step` below what it could reach.
        #[test]
        fn the_search_ends_below_the_path_and_close_to_it(
            mtu in 1200u16..9000,
            peer in 1200u64..70_000,
            losses in proptest::collection::vec(proptest::bool::weighted(0.3), 200),
        ) {
            let now = test_epoch();
            let mut d = discovery();
            d.start(now, peer);
            let reachable = mtu.min(d.stats().ceiling);
            let mut pn = 0u64;
            let mut in_a_row = 0u8;
            let mut last_size = 0u16;
            while let Some(size) = d.probe_due(now) {
                d.on_probe_sent(pn, size);
                if size != last_size {
                    in_a_row = 0;
                    last_size = size;
                }
                let random_loss = losses[pn as usize % losses.len()] && in_a_row < 2;
                if size <= mtu && !random_loss {
                    d.on_probe_acked(now, pn);
                    in_a_row = 0;
                } else {
                    if size <= mtu {
                        in_a_row += 1;
                    }
                    d.on_probe_lost(now, pn);
                }
                pn += 1;
                proptest::prop_assert!(pn < 200, "the search must end");
                proptest::prop_assert!(d.current() <= mtu.max(1200));
            }
            proptest::prop_assert!(d.current() <= reachable.max(1200));
            proptest::prop_assert!(reachable.max(1200) - d.current() < 16, "{} of {reachable}", d.current());
        }
    }
}
