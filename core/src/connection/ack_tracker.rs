//! What this end received in one packet-number space, and when it owes an ACK.
//!
//! RFC 9000 §13.2: acknowledge at least every second ack-eliciting packet, acknowledge at once
//! when a packet arrives out of order, otherwise within `max_ack_delay`. Handshake-phase spaces
//! acknowledge at once. The set of received packet numbers is bounded: when it would hold more
//! than `max_ranges` ranges the oldest go, and anything below what was forgotten counts as a
//! duplicate (RFC 9000 §13.2.3 allows this once an ACK covering it was acknowledged; the bound
//! only bites a peer that sends a pathological pattern).

use std::time::{Duration, Instant};

use crate::range_set::RangeSet;

#[derive(Debug)]
pub(crate) struct AckTracker {
    received: RangeSet,
    /// Packet numbers below this are no longer tracked and are treated as duplicates.
    floor: u64,
    /// Largest packet number received, and when.
    largest: Option<(u64, Instant)>,
    /// Ack-eliciting packets received since the last ACK was sent.
    unacked_eliciting: u32,
    /// Whether any packet arrived since the last ACK was sent.
    pending: bool,
    /// Send an ACK with the next packet, whatever the timer says.
    immediate: bool,
    /// When an ACK becomes due for delayed acknowledgement.
    deadline: Option<Instant>,
    /// Whether this space acknowledges every packet at once (the handshake spaces).
    eager: bool,
}

impl AckTracker {
    pub(crate) fn new(max_ranges: usize, eager: bool) -> Self {
        Self {
            received: RangeSet::with_max_ranges(max_ranges.max(1)),
            floor: 0,
            largest: None,
            unacked_eliciting: 0,
            pending: false,
            immediate: false,
            deadline: None,
            eager,
        }
    }

    /// Whether `pn` was already received (or is too old to tell).
    pub(crate) fn is_duplicate(&self, pn: u64) -> bool {
        pn < self.floor || self.received.contains(pn)
    }

    /// Largest packet number received so far.
    pub(crate) fn largest(&self) -> Option<u64> {
        self.largest.map(|(pn, _)| pn)
    }

    /// Records a packet that was processed successfully.
    pub(crate) fn on_packet(
        &mut self,
        now: Instant,
        pn: u64,
        ack_eliciting: bool,
        max_ack_delay: Duration,
        threshold: u32,
    ) {
        let in_order = self.largest.is_none_or(|(largest, _)| pn == largest + 1);
        // A gap below this packet means loss or reordering: tell the sender quickly.
        let fills_gap = self.largest.is_some_and(|(largest, _)| pn < largest);
        self.received.insert_one(pn);
        if self.received.len() >= self.received.max_ranges() {
            // At capacity the oldest ranges are being dropped: whatever lies below the oldest
            // kept range can no longer be told apart from a duplicate.
            self.floor = self.floor.max(self.received.min().unwrap_or(0));
        }
        if self.largest.is_none_or(|(largest, _)| pn > largest) {
            self.largest = Some((pn, now));
        }
        self.pending = true;
        if !ack_eliciting {
            return;
        }
        self.unacked_eliciting += 1;
        if self.eager || !in_order || fills_gap || self.unacked_eliciting >= threshold.max(1) {
            self.immediate = true;
        } else if self.deadline.is_none() {
            self.deadline = Some(now + max_ack_delay);
        }
    }

    /// Whether an ACK should go out now, on its own if need be.
    pub(crate) fn ack_due(&self, now: Instant) -> bool {
        self.pending && (self.immediate || self.deadline.is_some_and(|d| d <= now))
    }

    /// Whether an ACK could be piggy-backed on a packet that goes out anyway.
    pub(crate) fn has_news(&self) -> bool {
        self.pending
    }

    /// When the delayed-ACK timer fires.
    pub(crate) fn timer(&self) -> Option<Instant> {
        if self.pending && !self.immediate {
            self.deadline
        } else {
            None
        }
    }

    /// The ranges to acknowledge.
    pub(crate) fn ranges(&self) -> &RangeSet {
        &self.received
    }

    /// Time since the largest packet arrived, for the ACK's delay field.
    pub(crate) fn ack_delay(&self, now: Instant) -> Duration {
        self.largest
            .map_or(Duration::ZERO, |(_, at)| now.saturating_duration_since(at))
    }

    /// A packet arrived CE-marked: acknowledge at once, so that the sender learns of the
    /// congestion within a round trip (RFC 9000 §13.2.1). Only when something awaits an ACK
    /// that must be sent at all (an ack-eliciting packet).
    pub(crate) fn on_congestion_mark(&mut self) {
        if self.unacked_eliciting > 0 {
            self.immediate = true;
        }
    }

    /// An ACK frame was sent.
    pub(crate) fn on_ack_sent(&mut self) {
        self.pending = false;
        self.immediate = false;
        self.deadline = None;
        self.unacked_eliciting = 0;
    }

    /// The peer acknowledged a packet that carried our ACK up to `largest_acked`: it knows
    /// about everything up to there, so those ranges need not be repeated (RFC 9000 §13.2.4).
    pub(crate) fn on_ack_acked(&mut self, largest_acked: u64) {
        let keep_from = largest_acked.saturating_add(1);
        if keep_from > self.floor {
            self.received.remove_below(keep_from);
            self.floor = keep_from;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(clippy::disallowed_methods)] // tests need a base instant
    fn t0() -> Instant {
        Instant::now()
    }

    const DELAY: Duration = Duration::from_millis(25);

    #[test]
    fn every_second_eliciting_packet_is_acked_at_once() {
        let now = t0();
        let mut a = AckTracker::new(32, false);
        a.on_packet(now, 0, true, DELAY, 2);
        assert!(!a.ack_due(now));
        assert_eq!(a.timer(), Some(now + DELAY));
        a.on_packet(now, 1, true, DELAY, 2);
        assert!(a.ack_due(now));
        a.on_ack_sent();
        assert!(!a.ack_due(now) && a.timer().is_none());
    }

    #[test]
    fn delayed_ack_fires_after_max_ack_delay() {
        let now = t0();
        let mut a = AckTracker::new(32, false);
        a.on_packet(now, 0, true, DELAY, 2);
        assert!(!a.ack_due(now + DELAY - Duration::from_micros(1)));
        assert!(a.ack_due(now + DELAY));
    }

    #[test]
    fn reordering_triggers_an_immediate_ack() {
        let now = t0();
        let mut a = AckTracker::new(32, false);
        a.on_packet(now, 0, true, DELAY, 10);
        a.on_ack_sent();
        a.on_packet(now, 2, true, DELAY, 10);
        assert!(a.ack_due(now), "gap before 2");
        a.on_ack_sent();
        a.on_packet(now, 1, true, DELAY, 10);
        assert!(a.ack_due(now), "fills the gap");
    }

    #[test]
    fn non_eliciting_packets_never_trigger_an_ack() {
        let now = t0();
        let mut a = AckTracker::new(32, false);
        for pn in 0..10 {
            a.on_packet(now, pn, false, DELAY, 2);
        }
        assert!(!a.ack_due(now + Duration::from_secs(1)));
        assert!(a.has_news());
    }

    #[test]
    fn the_range_bound_holds_against_pathological_patterns() {
        let now = t0();
        let mut a = AckTracker::new(8, false);
        for pn in (0..1000).step_by(2) {
            a.on_packet(now, pn, true, DELAY, 2);
        }
        assert_eq!(a.ranges().len(), 8);
        assert!(a.is_duplicate(3), "below the oldest kept range");
        assert!(!a.is_duplicate(997));
    }

    #[test]
    fn duplicates_are_detected_and_old_ranges_pruned() {
        let now = t0();
        let mut a = AckTracker::new(32, true);
        for pn in [0, 1, 2, 5, 6, 9] {
            a.on_packet(now, pn, true, DELAY, 2);
        }
        assert!(a.is_duplicate(5) && !a.is_duplicate(4));
        a.on_ack_acked(5);
        // The peer knows we have everything up to 5: only 6 and 9 remain to report, and
        // anything at or below 5 now counts as a duplicate.
        assert!(a.is_duplicate(3) && a.is_duplicate(5));
        assert_eq!(a.ranges().iter().collect::<Vec<_>>(), vec![6..7, 9..10]);
        a.on_ack_acked(9);
        assert!(a.ranges().is_empty());
        assert!(a.is_duplicate(9) && !a.is_duplicate(10));
    }
}
