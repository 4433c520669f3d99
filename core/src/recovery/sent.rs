//! The unacknowledged packets of one packet-number space.
//!
//! ## Representation
//!
//! Packet numbers are assigned in increasing order (RFC 9000 §12.3), occasionally skipping one,
//! and packets leave mostly from the front (acknowledged or declared lost in order). So the
//! packets live in a `VecDeque<Option<SentPacket<T>>>` indexed by `pn - base`: insertion is a
//! push at the back, lookup is an index, and an acknowledged, lost or skipped number is a `None`
//! that is popped once it reaches the front. The deque's buffer is reused, so steady-state
//! operation allocates nothing.
//!
//! ## Cost of an ACK frame
//!
//! [`SentPackets::on_ack_ranges`] clamps each range to the tracked window before walking it and
//! stops at the first range entirely below the oldest tracked packet (the ranges come highest
//! first), so ranges above the largest sent or far below the oldest tracked packet cost O(1)
//! each, and the whole tail of old ranges costs nothing. Within the window it visits the slots the
//! ranges cover: the newly acknowledged packets plus the `None`s among them. Because loss
//! detection runs after every ACK and removes every packet at least
//! [`PACKET_THRESHOLD`] below the largest acknowledged, the oldest
//! tracked packet is never more than a few numbers below it, so those `None`s are at most a
//! handful of recently acknowledged numbers plus skipped ones.

use std::collections::VecDeque;
use std::ops::Range;
use std::time::{Duration, Instant};

use super::PACKET_THRESHOLD;

/// What the sender remembers about a packet until it is acknowledged or declared lost
/// (RFC 9002 Appendix A.1.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SentPacket<T> {
    /// When the packet was sent.
    pub(crate) time_sent: Instant,
    /// The packet's size in bytes (UDP payload), counted in bytes in flight.
    pub(crate) size: u16,
    /// Whether the packet contains an ack-eliciting frame (RFC 9002 §2).
    pub(crate) ack_eliciting: bool,
    /// Whether the packet counts towards bytes in flight: ack-eliciting or padded (RFC 9002 §2).
    pub(crate) in_flight: bool,
    /// The connection's record of the packet's retransmittable frames.
    pub(crate) data: T,
    /// The packet's position among the packets inserted in its space (0, 1, 2, …), unlike the
    /// packet number not advanced by skipped numbers: two lost packets with consecutive `seq` had
    /// no packet sent between them. Set by [`SentPackets::insert`].
    pub(super) seq: u64,
}

impl<T> SentPacket<T> {
    /// A record of a packet sent at `time_sent`.
    pub(crate) fn new(
        time_sent: Instant,
        size: u16,
        ack_eliciting: bool,
        in_flight: bool,
        data: T,
    ) -> Self {
        Self {
            time_sent,
            size,
            ack_eliciting,
            in_flight,
            data,
            seq: 0,
        }
    }

    /// The bytes this packet adds to bytes in flight: its size if in flight, else 0.
    pub(crate) fn bytes_in_flight(&self) -> u64 {
        if self.in_flight {
            u64::from(self.size)
        } else {
            0
        }
    }
}

/// The unacknowledged packets of one packet-number space, by packet number (see the
/// [module docs](self)).
#[derive(Debug, Clone)]
pub(crate) struct SentPackets<T> {
    /// `slots[i]` holds packet number `base + i`. Invariant: empty, or `slots[0]` is `Some`.
    slots: VecDeque<Option<SentPacket<T>>>,
    base: u64,
    /// Number of `Some` slots.
    live: usize,
    largest_sent: Option<u64>,
    next_seq: u64,
}

impl<T> Default for SentPackets<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> SentPackets<T> {
    /// No packet sent.
    pub(crate) fn new() -> Self {
        Self {
            slots: VecDeque::new(),
            base: 0,
            live: 0,
            largest_sent: None,
            next_seq: 0,
        }
    }

    /// Records packet `pn`. Packet numbers must increase; numbers may be skipped (each skipped
    /// number below the largest tracked one costs a slot until it reaches the front). A number
    /// not above the largest sent is a caller bug: it panics in debug builds and is ignored
    /// otherwise.
    pub(crate) fn insert(&mut self, pn: u64, mut packet: SentPacket<T>) {
        if self.largest_sent.is_some_and(|largest| pn <= largest) {
            debug_assert!(false, "packet number {pn} sent twice or out of order");
            return;
        }
        if self.slots.is_empty() {
            self.base = pn;
        } else {
            // Fill skipped numbers; `pn > largest_sent = base + len - 1`.
            let end = self.base + self.slots.len() as u64;
            for _ in end..pn {
                self.slots.push_back(None);
            }
        }
        packet.seq = self.next_seq;
        self.next_seq += 1;
        self.slots.push_back(Some(packet));
        self.live += 1;
        self.largest_sent = Some(pn);
    }

    /// The largest packet number ever inserted (acknowledged or not).
    pub(crate) fn largest_sent(&self) -> Option<u64> {
        self.largest_sent
    }

    /// The tracked packet `pn`.
    #[cfg(test)]
    pub(crate) fn get(&self, pn: u64) -> Option<&SentPacket<T>> {
        let index = usize::try_from(pn.checked_sub(self.base)?).ok()?;
        self.slots.get(index)?.as_ref()
    }

    /// The tracked packet `pn`, mutably.
    #[cfg(test)]
    pub(crate) fn get_mut(&mut self, pn: u64) -> Option<&mut SentPacket<T>> {
        let index = usize::try_from(pn.checked_sub(self.base)?).ok()?;
        self.slots.get_mut(index)?.as_mut()
    }

    /// Number of tracked packets.
    pub(crate) fn len(&self) -> usize {
        self.live
    }

    /// Whether no packet is tracked.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// The tracked packets, lowest packet number first.
    pub(crate) fn iter(&self) -> impl DoubleEndedIterator<Item = (u64, &SentPacket<T>)> + '_ {
        let base = self.base;
        self.slots
            .iter()
            .enumerate()
            .filter_map(move |(i, slot)| Some((base + i as u64, slot.as_ref()?)))
    }

    /// Removes every tracked packet that `ranges` acknowledge and appends them to `out` in
    /// ascending packet-number order. `ranges` are half-open, disjoint and in **descending**
    /// order, as [`Ack::iter`](crate::wire::Ack::iter) yields them. Packet numbers that are not
    /// tracked (acknowledged before, declared lost, skipped or never sent) are ignored; the
    /// caller rejects numbers never sent. See the [module docs](self) for the cost.
    pub(crate) fn on_ack_ranges<I>(&mut self, ranges: I, out: &mut Vec<(u64, SentPacket<T>)>)
    where
        I: IntoIterator<Item = Range<u64>>,
    {
        if self.slots.is_empty() {
            return;
        }
        let start = out.len();
        let (lo, hi) = (self.base, self.base + self.slots.len() as u64);
        let mut previous_start = u64::MAX;
        for range in ranges {
            debug_assert!(range.end <= previous_start, "ACK ranges not descending");
            previous_start = range.start;
            if range.end <= lo {
                // Descending: every later range is below the window too.
                break;
            }
            let (first, end) = (range.start.max(lo), range.end.min(hi));
            if first >= end {
                continue;
            }
            // Walk down so that `out[start..]` ends up fully descending, then reverse once.
            for pn in (first..end).rev() {
                let slot = &mut self.slots[(pn - lo) as usize];
                if let Some(packet) = slot.take() {
                    out.push((pn, packet));
                }
            }
        }
        out[start..].reverse();
        self.live -= out.len() - start;
        self.pop_front_gaps();
    }

    /// Loss detection over the packets numbered at most `largest_acked` (RFC 9002 §6.1,
    /// Appendix A.10): a packet is lost if `largest_acked` is at least
    /// [`PACKET_THRESHOLD`] above it, or if it was sent at least
    /// `loss_delay` before `now`. Lost packets are removed and appended to `out` in ascending
    /// order; returns the earliest time at which a remaining packet numbered at most
    /// `largest_acked` will become lost by the time threshold (the space's loss time), if any.
    ///
    /// The lost packets of one call are always the lowest tracked packets (sending times grow
    /// with packet numbers), and what lies between two of them in packet-number order was
    /// acknowledged, lost in the same call, or skipped.
    pub(crate) fn drain_lost(
        &mut self,
        largest_acked: u64,
        now: Instant,
        loss_delay: Duration,
        out: &mut Vec<(u64, SentPacket<T>)>,
    ) -> Option<Instant> {
        let start = out.len();
        let mut loss_time: Option<Instant> = None;
        let base = self.base;
        for (i, slot) in self.slots.iter_mut().enumerate() {
            let pn = base + i as u64;
            if pn > largest_acked {
                break;
            }
            let Some(packet) = slot.as_ref() else {
                continue;
            };
            // A send time so late that adding the delay overflows is never lost by time.
            let lost_at = packet.time_sent.checked_add(loss_delay);
            let by_time = lost_at.is_some_and(|at| at <= now);
            // RFC 9002 §6.1.1: kPacketThreshold.
            let by_number = largest_acked - pn >= PACKET_THRESHOLD;
            if by_time || by_number {
                if let Some(packet) = slot.take() {
                    out.push((pn, packet));
                }
            } else if let Some(at) = lost_at {
                loss_time = Some(loss_time.map_or(at, |t| t.min(at)));
            }
        }
        self.live -= out.len() - start;
        self.pop_front_gaps();
        loss_time
    }

    /// Packet numbers from the oldest tracked to the largest sent: the slots the record holds,
    /// tracked or not. Bounded by the connection (see [`evict_front`](Self::evict_front)).
    pub(crate) fn span(&self) -> usize {
        self.slots.len()
    }

    /// Removes the oldest tracked packets until the record spans at most `max_span` packet
    /// numbers, appending them to `out` in ascending order. The connection calls it so that a
    /// peer that acknowledges nothing cannot make the record grow without bound.
    pub(crate) fn evict_front(&mut self, max_span: usize, out: &mut Vec<(u64, SentPacket<T>)>) {
        while self.slots.len() > max_span {
            let pn = self.base;
            if let Some(Some(packet)) = self.slots.pop_front() {
                out.push((pn, packet));
                self.live -= 1;
            }
            self.base += 1;
            self.pop_front_gaps();
        }
    }

    /// Removes every tracked packet and appends them to `out` in ascending order (discarding the
    /// space). The largest packet number sent is kept.
    pub(crate) fn drain_all(&mut self, out: &mut Vec<(u64, SentPacket<T>)>) {
        let base = self.base;
        out.extend(
            self.slots
                .drain(..)
                .enumerate()
                .filter_map(|(i, slot)| Some((base + i as u64, slot?))),
        );
        self.live = 0;
    }

    /// Pops acknowledged, lost and skipped numbers off the front.
    fn pop_front_gaps(&mut self) {
        while let Some(None) = self.slots.front() {
            self.slots.pop_front();
            self.base += 1;
        }
    }
}

#[cfg(test)]
mod tests;
