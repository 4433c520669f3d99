//! Telling a path that stopped carrying large packets from one that lost packets.

use std::time::Instant;

/// Watches acknowledgements and losses for a black hole: packets above the base size lost
/// while smaller ones, sent after them, still arrive (see [`crate::pmtu`]).
///
/// Random loss does not trip it: any large packet acknowledged after the losses clears the
/// suspicion. An outage does not either: it loses the small packets too. Only reordering
/// within the same flight needs care, so every comparison is by send time: an
/// acknowledgement of a packet sent *before* the first suspicious loss says nothing about the
/// path since.
#[derive(Debug, Clone)]
pub struct BlackHoleDetector {
    threshold: u8,
    /// Send time of the newest large packet acknowledged.
    large_acked: Option<Instant>,
    /// Large packets lost since (sent after `large_acked`).
    large_lost: u8,
    /// Send time of the earliest of them.
    first_loss: Option<Instant>,
    /// The smallest of them, in bytes.
    smallest_lost: u16,
    /// Whether a packet no larger than the base, sent after `first_loss`, was acknowledged.
    small_acked_after: bool,
}

impl BlackHoleDetector {
    /// A detector that needs `threshold` lost large packets (at least 1).
    pub fn new(threshold: u8) -> Self {
        Self {
            threshold: threshold.max(1),
            large_acked: None,
            large_lost: 0,
            first_loss: None,
            smallest_lost: u16::MAX,
            small_acked_after: false,
        }
    }

    /// Forgets everything (the validated size changed).
    pub fn reset(&mut self) {
        *self = Self::new(self.threshold);
    }

    /// A packet of `size` bytes sent at `sent` was acknowledged; `base` is the size every
    /// path carries.
    pub fn on_acked(&mut self, size: u16, sent: Instant, base: u16) {
        if size > base {
            if self.first_loss.is_none_or(|first| sent > first) {
                // A large packet got through after the losses: they were not the MTU.
                self.large_lost = 0;
                self.first_loss = None;
                self.smallest_lost = u16::MAX;
                self.small_acked_after = false;
            }
            self.large_acked = Some(self.large_acked.map_or(sent, |t| t.max(sent)));
        } else if self.first_loss.is_some_and(|first| sent > first) {
            self.small_acked_after = true;
        }
    }

    /// A packet of `size` bytes sent at `sent` was declared lost.
    pub fn on_lost(&mut self, size: u16, sent: Instant, base: u16) {
        if size <= base || self.large_acked.is_some_and(|acked| sent <= acked) {
            return;
        }
        self.large_lost = self.large_lost.saturating_add(1);
        self.first_loss = Some(self.first_loss.map_or(sent, |t| t.min(sent)));
        self.smallest_lost = self.smallest_lost.min(size);
    }

    /// The smallest size that fell into the black hole, once the evidence is in.
    pub fn detected(&self) -> Option<u16> {
        (self.large_lost >= self.threshold && self.small_acked_after).then_some(self.smallest_lost)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::congestion::test_epoch;

    const BASE: u16 = 1200;

    fn at(ms: u64) -> Instant {
        test_epoch() + Duration::from_millis(ms)
    }

    #[test]
    fn large_losses_then_a_small_packet_through_is_a_black_hole() {
        let mut d = BlackHoleDetector::new(3);
        d.on_acked(1452, at(0), BASE);
        for ms in 10..13 {
            d.on_lost(1452, at(ms), BASE);
        }
        assert_eq!(d.detected(), None, "no small packet got through yet");
        d.on_acked(1200, at(20), BASE);
        assert_eq!(d.detected(), Some(1452));
    }

    #[test]
    fn a_large_packet_acknowledged_after_the_losses_clears_them() {
        let mut d = BlackHoleDetector::new(3);
        for ms in 10..13 {
            d.on_lost(1452, at(ms), BASE);
        }
        d.on_acked(1452, at(15), BASE);
        d.on_acked(600, at(20), BASE);
        assert_eq!(d.detected(), None);
    }

    #[test]
    fn an_outage_that_loses_small_packets_too_is_not_a_black_hole() {
        let mut d = BlackHoleDetector::new(3);
        for ms in 10..20 {
            d.on_lost(1452, at(ms), BASE);
            d.on_lost(300, at(ms), BASE);
        }
        assert_eq!(d.detected(), None);
    }

    #[test]
    fn acknowledgements_of_older_packets_say_nothing_about_the_path_since() {
        let mut d = BlackHoleDetector::new(2);
        d.on_lost(1452, at(10), BASE);
        d.on_lost(1400, at(11), BASE);
        // A small packet sent before the losses, acknowledged late (reordered).
        d.on_acked(300, at(5), BASE);
        assert_eq!(d.detected(), None);
        // A large one sent before them does not clear them either.
        d.on_acked(1452, at(6), BASE);
        d.on_acked(300, at(12), BASE);
        assert_eq!(d.detected(), Some(1400));
    }

    #[test]
    fn losses_older_than_the_last_large_acknowledgement_do_not_count() {
        let mut d = BlackHoleDetector::new(1);
        d.on_acked(1452, at(20), BASE);
        d.on_lost(1452, at(10), BASE);
        d.on_acked(300, at(30), BASE);
        assert_eq!(d.detected(), None);
    }

    #[test]
    fn reset_forgets_the_evidence() {
        let mut d = BlackHoleDetector::new(1);
        d.on_lost(1452, at(10), BASE);
        d.on_acked(300, at(30), BASE);
        assert!(d.detected().is_some());
        d.reset();
        assert_eq!(d.detected(), None);
    }
}
