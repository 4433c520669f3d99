//! Spurious loss detection: a packet declared lost that the peer acknowledges after all was
//! not lost — it was reordered or delayed past the loss thresholds (RFC 9002 §6.1 expects this
//! and leaves the response to the sender). A congestion event all of whose lost packets turn
//! out acknowledged was a false alarm, and the controller may undo the reduction it made
//! (the idea of RFC 4015's Eifel response and Linux's undo, in QUIC's terms).
//!
//! The record is bounded: it remembers at most [`MAX_REMEMBERED_PACKETS`] lost packet numbers
//! and [`MAX_REMEMBERED_EVENTS`] events. An event whose packets were forgotten can no longer
//! be judged spurious, which errs on the side of the reduction.

use std::collections::{BTreeMap, VecDeque};
use std::ops::Range;
use std::time::Instant;

use crate::congestion::SpuriousCongestion;

/// The most lost packet numbers remembered (the oldest are forgotten first).
pub(crate) const MAX_REMEMBERED_PACKETS: usize = 4096;

/// The most congestion events remembered.
pub(crate) const MAX_REMEMBERED_EVENTS: usize = 64;

#[derive(Debug, Clone)]
struct Event {
    id: u64,
    declared_at: Instant,
    sent_time: Instant,
    /// Lost packets of the event not acknowledged yet.
    outstanding: usize,
    /// Some of its packets were forgotten: it can no longer be judged.
    forgotten: bool,
}

/// What the acknowledgement of previously lost packets revealed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SpuriousOutcome {
    /// Previously lost packets now acknowledged.
    pub(crate) packets: u64,
    /// Events all of whose lost packets are now acknowledged, oldest first.
    pub(crate) events: Vec<SpuriousCongestion>,
}

/// The recently lost in-flight packets of one packet-number space, by congestion event.
#[derive(Debug, Clone, Default)]
pub(crate) struct SpuriousLossDetector {
    /// Lost packet number → the id of its event.
    lost: BTreeMap<u64, u64>,
    events: VecDeque<Event>,
    next_id: u64,
}

impl SpuriousLossDetector {
    /// A congestion event raised at `declared_at` (its newest lost packet sent at
    /// `sent_time`) declared the in-flight packets `pns` lost.
    pub(crate) fn on_congestion_event(
        &mut self,
        declared_at: Instant,
        sent_time: Instant,
        pns: impl IntoIterator<Item = u64>,
    ) {
        let id = self.next_id;
        self.next_id += 1;
        let mut outstanding = 0;
        for pn in pns {
            if self.lost.insert(pn, id).is_none() {
                outstanding += 1;
            }
        }
        if outstanding == 0 {
            return;
        }
        self.events.push_back(Event {
            id,
            declared_at,
            sent_time,
            outstanding,
            forgotten: false,
        });
        while self.events.len() > MAX_REMEMBERED_EVENTS {
            if let Some(old) = self.events.pop_front() {
                self.lost.retain(|_, event| *event != old.id);
            }
        }
        while self.lost.len() > MAX_REMEMBERED_PACKETS {
            let Some((_, event)) = self.lost.pop_first() else {
                break;
            };
            if let Some(e) = self.events.iter_mut().find(|e| e.id == event) {
                e.forgotten = true;
            }
        }
    }

    /// An ACK frame acknowledged `ranges`: which remembered lost packets it covers, and which
    /// events that makes spurious.
    pub(crate) fn on_ack(
        &mut self,
        ranges: impl IntoIterator<Item = Range<u64>>,
    ) -> SpuriousOutcome {
        let mut outcome = SpuriousOutcome::default();
        if self.lost.is_empty() {
            return outcome;
        }
        for range in ranges {
            if range.start >= range.end {
                continue;
            }
            while let Some((&pn, &event)) = self.lost.range(range.clone()).next() {
                self.lost.remove(&pn);
                outcome.packets += 1;
                if let Some(e) = self.events.iter_mut().find(|e| e.id == event) {
                    e.outstanding = e.outstanding.saturating_sub(1);
                }
            }
        }
        if outcome.packets > 0 {
            self.events.retain(|e| {
                if e.outstanding > 0 {
                    return true;
                }
                if !e.forgotten {
                    outcome.events.push(SpuriousCongestion {
                        declared_at: e.declared_at,
                        sent_time: e.sent_time,
                    });
                }
                false
            });
        }
        outcome
    }

    /// Lost packet numbers remembered (for bounds tests).
    #[cfg(test)]
    pub(crate) fn remembered(&self) -> usize {
        self.lost.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::congestion::test_epoch;

    #[test]
    fn an_event_whose_packets_all_arrive_is_spurious() {
        let t0 = test_epoch();
        let mut d = SpuriousLossDetector::default();
        d.on_congestion_event(t0, t0, [5, 6]);
        let first = d.on_ack(std::iter::once(5..6));
        assert_eq!(first.packets, 1);
        assert!(first.events.is_empty());
        let second = d.on_ack(std::iter::once(0..10));
        assert_eq!(second.packets, 1);
        assert_eq!(
            second.events,
            vec![SpuriousCongestion {
                declared_at: t0,
                sent_time: t0
            }]
        );
        assert_eq!(d.remembered(), 0);
        // Nothing more to find.
        assert_eq!(d.on_ack(std::iter::once(0..10)), SpuriousOutcome::default());
    }

    #[test]
    fn a_partly_real_event_is_not_spurious() {
        let t0 = test_epoch();
        let mut d = SpuriousLossDetector::default();
        d.on_congestion_event(t0, t0, [1, 2, 3]);
        let outcome = d.on_ack(std::iter::once(1..3));
        assert_eq!(outcome.packets, 2);
        assert!(outcome.events.is_empty());
    }

    #[test]
    fn memory_is_bounded_and_forgotten_events_are_never_spurious() {
        let t0 = test_epoch();
        let mut d = SpuriousLossDetector::default();
        d.on_congestion_event(t0, t0, 0..10);
        d.on_congestion_event(t0, t0, 10..(10 + MAX_REMEMBERED_PACKETS as u64));
        assert_eq!(d.remembered(), MAX_REMEMBERED_PACKETS);
        // The first event lost its oldest packets: acknowledging the rest proves nothing.
        let outcome = d.on_ack(std::iter::once(0..u64::MAX));
        assert_eq!(outcome.events.len(), 1);
        for i in 0..(2 * MAX_REMEMBERED_EVENTS as u64) {
            d.on_congestion_event(t0, t0, [100_000 + i]);
        }
        assert!(d.events.len() <= MAX_REMEMBERED_EVENTS);
        assert!(d.remembered() <= MAX_REMEMBERED_EVENTS);
    }

    #[test]
    fn absurd_ranges_are_harmless() {
        let t0 = test_epoch();
        let mut d = SpuriousLossDetector::default();
        d.on_congestion_event(t0, t0, [7]);
        #[allow(clippy::reversed_empty_ranges)]
        let outcome = d.on_ack([9..3, 7..7]);
        assert_eq!(outcome, SpuriousOutcome::default());
    }
}
