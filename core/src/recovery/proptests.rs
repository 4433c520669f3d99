//! Property tests: random send / ACK / loss-timer / discard sequences against a model.
//!
//! Invariants checked after every step:
//! - every packet sent ends up exactly once: acknowledged, lost, discarded, or still tracked;
//! - the space's bytes and ack-eliciting packets in flight equal the sums over the tracked
//!   packets;
//! - the outputs come in ascending packet-number order;
//! - an ACK removes exactly the tracked packets its ranges cover;
//! - after loss detection no tracked packet is [`PACKET_THRESHOLD`] or more below the largest
//!   acknowledged;
//! - an ACK of a number never sent is rejected and changes nothing.

use std::collections::BTreeSet;
use std::ops::Range;
use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::{
    INITIAL_RTT, PACKET_THRESHOLD, RttEstimator, SentPacket, SpaceId, SpaceRecovery,
    space::AckError, test_epoch,
};

#[derive(Debug, Clone)]
enum Op {
    /// Advance the clock by `advance` µs, skip `skip` packet numbers, send one packet.
    Send {
        advance: u32,
        skip: u8,
        size: u16,
        ack_eliciting: bool,
        padded: bool,
    },
    /// Advance the clock, then acknowledge the numbers below the next packet number whose bit
    /// is set in `mask` (bit k = next − 1 − k).
    Ack { advance: u32, mask: u64, delay: u16 },
    /// Acknowledge a number never sent.
    AckUnsent { above: u8 },
    /// Advance the clock and run loss detection (the loss timer).
    Timer { advance: u32 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0u32..20_000, prop_oneof![8 => Just(0u8), 1 => 1u8..4], 1u16..1500, any::<bool>(), any::<bool>())
            .prop_map(|(advance, skip, size, ack_eliciting, padded)| Op::Send {
                advance, skip, size, ack_eliciting, padded,
            }),
        3 => (0u32..200_000, any::<u64>(), 0u16..50_000)
            .prop_map(|(advance, mask, delay)| Op::Ack { advance, mask, delay }),
        1 => (0u8..5).prop_map(|above| Op::AckUnsent { above }),
        1 => (0u32..500_000).prop_map(|advance| Op::Timer { advance }),
    ]
}

/// Descending half-open ranges of the numbers selected by `mask` below `next`.
fn ranges_from_mask(next: u64, mask: u64) -> Vec<Range<u64>> {
    let mut ranges: Vec<Range<u64>> = Vec::new();
    for k in 0..64u64.min(next) {
        if mask & (1 << k) == 0 {
            continue;
        }
        let pn = next - 1 - k;
        match ranges.last_mut() {
            Some(r) if r.start == pn + 1 => r.start = pn,
            _ => ranges.push(pn..pn + 1),
        }
    }
    ranges
}

struct Harness {
    now: Instant,
    next_pn: u64,
    space: SpaceRecovery<u64>,
    rtt: RttEstimator,
    sent: BTreeSet<u64>,
    acked: BTreeSet<u64>,
    lost: BTreeSet<u64>,
    newly_acked: Vec<(u64, SentPacket<u64>)>,
    newly_lost: Vec<(u64, SentPacket<u64>)>,
}

impl Harness {
    fn new() -> Self {
        Self {
            now: test_epoch(),
            next_pn: 0,
            space: SpaceRecovery::new(SpaceId::Data),
            rtt: RttEstimator::new(INITIAL_RTT),
            sent: BTreeSet::new(),
            acked: BTreeSet::new(),
            lost: BTreeSet::new(),
            newly_acked: Vec::new(),
            newly_lost: Vec::new(),
        }
    }

    fn record_lost(&mut self) -> Result<(), TestCaseError> {
        let largest_acked = self.space.largest_acked();
        for window in self.newly_lost.windows(2) {
            prop_assert!(window[0].0 < window[1].0, "lost not ascending");
        }
        for (pn, packet) in &self.newly_lost {
            prop_assert_eq!(*pn, packet.data);
            prop_assert!(largest_acked.is_some_and(|l| *pn <= l));
            prop_assert!(self.lost.insert(*pn), "packet {} lost twice", pn);
            prop_assert!(!self.acked.contains(pn), "packet {} acked and lost", pn);
        }
        Ok(())
    }

    fn step(&mut self, op: &Op) -> Result<(), TestCaseError> {
        match *op {
            Op::Send {
                advance,
                skip,
                size,
                ack_eliciting,
                padded,
            } => {
                self.now += Duration::from_micros(u64::from(advance));
                self.next_pn += u64::from(skip);
                let pn = self.next_pn;
                self.next_pn += 1;
                let in_flight = ack_eliciting || padded;
                let packet = SentPacket::new(self.now, size, ack_eliciting, in_flight, pn);
                self.space.on_packet_sent(pn, packet);
                self.sent.insert(pn);
            }
            Op::Ack {
                advance,
                mask,
                delay,
            } => {
                self.now += Duration::from_micros(u64::from(advance));
                let ranges = ranges_from_mask(self.next_pn, mask);
                let Some(largest) = ranges.first().map(|r| r.end - 1) else {
                    return Ok(());
                };
                let covered: BTreeSet<u64> = self
                    .space
                    .sent()
                    .iter()
                    .map(|(pn, _)| pn)
                    .filter(|pn| ranges.iter().any(|r| r.contains(pn)))
                    .collect();
                self.newly_acked.clear();
                self.newly_lost.clear();
                let outcome = self.space.on_ack_received(
                    self.now,
                    largest,
                    ranges.iter().cloned(),
                    Duration::from_micros(u64::from(delay)),
                    &mut self.rtt,
                    true,
                    Duration::from_millis(25),
                    &mut self.newly_acked,
                    &mut self.newly_lost,
                );
                if self.sent.last().is_none_or(|l| largest > *l) {
                    // Only skipped numbers above every packet sent: rejected.
                    prop_assert_eq!(outcome, Err(AckError::UnsentPacketAcked { pn: largest }));
                    return Ok(());
                }
                let outcome = outcome.map_err(|e| TestCaseError::fail(e.to_string()))?;
                let acked: BTreeSet<u64> = self.newly_acked.iter().map(|(pn, _)| *pn).collect();
                prop_assert_eq!(&acked, &covered);
                prop_assert_eq!(outcome.newly_acked, acked.len());
                for window in self.newly_acked.windows(2) {
                    prop_assert!(window[0].0 < window[1].0, "acked not ascending");
                }
                let bytes: u64 = self
                    .newly_acked
                    .iter()
                    .map(|(_, p)| p.bytes_in_flight())
                    .sum();
                prop_assert_eq!(outcome.acked_bytes, bytes);
                for pn in acked {
                    prop_assert!(self.acked.insert(pn), "packet {} acked twice", pn);
                    prop_assert!(!self.lost.contains(&pn), "packet {} lost and acked", pn);
                }
                self.record_lost()?;
                if outcome.newly_acked > 0
                    && let Some(largest_acked) = self.space.largest_acked()
                {
                    for (pn, _) in self.space.sent().iter() {
                        prop_assert!(
                            pn > largest_acked || largest_acked - pn < PACKET_THRESHOLD,
                            "packet {} outstanding below largest acked {}",
                            pn,
                            largest_acked
                        );
                    }
                }
            }
            Op::AckUnsent { above } => {
                let largest = self.next_pn + u64::from(above);
                let before = (self.space.bytes_in_flight(), self.space.sent().len());
                self.newly_acked.clear();
                self.newly_lost.clear();
                let outcome = self.space.on_ack_received(
                    self.now,
                    largest,
                    std::iter::once(0..largest + 1),
                    Duration::ZERO,
                    &mut self.rtt,
                    true,
                    Duration::from_millis(25),
                    &mut self.newly_acked,
                    &mut self.newly_lost,
                );
                prop_assert_eq!(outcome, Err(AckError::UnsentPacketAcked { pn: largest }));
                prop_assert!(self.newly_acked.is_empty() && self.newly_lost.is_empty());
                prop_assert_eq!(
                    before,
                    (self.space.bytes_in_flight(), self.space.sent().len())
                );
            }
            Op::Timer { advance } => {
                self.now += Duration::from_micros(u64::from(advance));
                self.newly_lost.clear();
                let outcome = self
                    .space
                    .detect_lost(self.now, &self.rtt, &mut self.newly_lost);
                prop_assert_eq!(outcome.packets, self.newly_lost.len());
                self.record_lost()?;
            }
        }
        self.check_invariants()
    }

    fn check_invariants(&self) -> Result<(), TestCaseError> {
        let tracked: BTreeSet<u64> = self.space.sent().iter().map(|(pn, _)| pn).collect();
        prop_assert_eq!(tracked.len(), self.space.sent().len());
        prop_assert!(tracked.is_disjoint(&self.acked));
        prop_assert!(tracked.is_disjoint(&self.lost));
        prop_assert_eq!(
            tracked.len() + self.acked.len() + self.lost.len(),
            self.sent.len()
        );
        let mut all = tracked;
        all.extend(&self.acked);
        all.extend(&self.lost);
        prop_assert_eq!(&all, &self.sent);
        let bytes: u64 = self
            .space
            .sent()
            .iter()
            .map(|(_, p)| p.bytes_in_flight())
            .sum();
        prop_assert_eq!(self.space.bytes_in_flight(), bytes);
        let eliciting = self
            .space
            .sent()
            .iter()
            .filter(|(_, p)| p.in_flight && p.ack_eliciting)
            .count() as u64;
        prop_assert_eq!(self.space.ack_eliciting_in_flight(), eliciting);
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_packet_accounted_for_exactly_once(ops in prop::collection::vec(op(), 1..200)) {
        let mut h = Harness::new();
        for op in &ops {
            h.step(op)?;
        }
        // Discarding the space hands back everything still tracked.
        let mut discarded = Vec::new();
        let bytes_before = h.space.bytes_in_flight();
        prop_assert_eq!(h.space.discard(&mut discarded), bytes_before);
        let tracked: BTreeSet<u64> = discarded.iter().map(|(pn, _)| *pn).collect();
        prop_assert_eq!(tracked.len(), discarded.len());
        prop_assert_eq!(tracked.len() + h.acked.len() + h.lost.len(), h.sent.len());
        prop_assert_eq!(h.space.bytes_in_flight(), 0);
        prop_assert_eq!(h.space.ack_eliciting_in_flight(), 0);
    }
}
