//! Loss recovery state of one packet-number space: ACK processing, loss detection, in-flight
//! accounting (RFC 9002 §6.1, Appendix A.5, A.7, A.10, A.11).

use std::ops::Range;
use std::time::{Duration, Instant};

use super::{RttEstimator, SentPacket, SentPackets, SpaceId};
use crate::error::TransportError;

/// An ACK frame the connection must reject by closing with PROTOCOL_VIOLATION
/// (RFC 9000 §13.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum AckError {
    /// The frame acknowledges a packet number that was never sent in this space.
    #[error("ACK frame acknowledges packet {pn}, which was never sent")]
    UnsentPacketAcked {
        /// The largest acknowledged packet number of the frame.
        pn: u64,
    },
}

impl From<AckError> for TransportError {
    fn from(e: AckError) -> Self {
        TransportError::protocol_violation(e.to_string())
    }
}

/// Packets declared lost by one loss-detection run, summarised for the congestion controller
/// (RFC 9002 Appendix B.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct LossOutcome {
    /// Packets declared lost (in flight or not).
    pub(crate) packets: usize,
    /// Bytes of the lost packets that were in flight (removed from bytes in flight).
    pub(crate) bytes: u64,
    /// The send time of the newest lost in-flight packet: the congestion event's time. `None` if
    /// no in-flight packet was lost, in which case there is no congestion event.
    pub(crate) newest_sent: Option<Instant>,
}

/// What one ACK frame did to a space, for the connection to act on (RFC 9002 Appendix A.7).
///
/// The packets themselves went to the caller's `newly_acked` and `lost` vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct AckOutcome {
    /// Packets newly acknowledged. When 0, the frame acknowledged nothing new and nothing else
    /// happened (no RTT sample, no loss detection, PTO backoff not reset).
    pub(crate) newly_acked: usize,
    /// Whether at least one newly acknowledged packet was ack-eliciting.
    pub(crate) newly_acked_ack_eliciting: bool,
    /// Bytes of the newly acknowledged in-flight packets (removed from bytes in flight).
    pub(crate) acked_bytes: u64,
    /// The send time of the largest newly acknowledged packet.
    pub(crate) largest_newly_acked_sent: Option<Instant>,
    /// Whether an RTT sample was taken: the frame's largest acknowledged packet was newly
    /// acknowledged and at least one newly acknowledged packet was ack-eliciting (RFC 9002
    /// §5.1). The connection records the time of the first sample for persistent congestion.
    pub(crate) rtt_sampled: bool,
    /// The loss detection that followed.
    pub(crate) loss: LossOutcome,
}

/// The loss-recovery state of one packet-number space (RFC 9002 Appendix A.2).
///
/// It owns the unacknowledged packets and keeps, in step with them, the bytes and ack-eliciting
/// packets in flight, so those counts cannot drift from the packets tracked.
#[derive(Debug, Clone)]
pub(crate) struct SpaceRecovery<T> {
    space: SpaceId,
    sent: SentPackets<T>,
    largest_acked: Option<u64>,
    loss_time: Option<Instant>,
    time_of_last_ack_eliciting: Option<Instant>,
    ack_eliciting_in_flight: u64,
    bytes_in_flight: u64,
}

impl<T> SpaceRecovery<T> {
    /// The state of `space` before any packet is sent.
    pub(crate) fn new(space: SpaceId) -> Self {
        Self {
            space,
            sent: SentPackets::new(),
            largest_acked: None,
            loss_time: None,
            time_of_last_ack_eliciting: None,
            ack_eliciting_in_flight: 0,
            bytes_in_flight: 0,
        }
    }

    /// The unacknowledged packets (read-only: use [`data_mut`](Self::data_mut) to edit a
    /// packet's frames).
    pub(crate) fn sent(&self) -> &SentPackets<T> {
        &self.sent
    }

    /// The frame record of unacknowledged packet `pn`, e.g. to mark frames already
    /// retransmitted by a probe.
    #[cfg(test)]
    pub(crate) fn data_mut(&mut self, pn: u64) -> Option<&mut T> {
        self.sent.get_mut(pn).map(|p| &mut p.data)
    }

    /// The largest packet number the peer acknowledged in this space.
    pub(crate) fn largest_acked(&self) -> Option<u64> {
        self.largest_acked
    }

    /// When the next packet becomes lost by the time threshold (RFC 9002 §6.1.2).
    pub(crate) fn loss_time(&self) -> Option<Instant> {
        self.loss_time
    }

    /// When the last ack-eliciting packet was sent (the PTO's starting point).
    pub(crate) fn time_of_last_ack_eliciting(&self) -> Option<Instant> {
        self.time_of_last_ack_eliciting
    }

    /// Ack-eliciting packets in flight.
    pub(crate) fn ack_eliciting_in_flight(&self) -> u64 {
        self.ack_eliciting_in_flight
    }

    /// Bytes in flight in this space: the sizes of the tracked in-flight packets.
    pub(crate) fn bytes_in_flight(&self) -> u64 {
        self.bytes_in_flight
    }

    /// Records packet `pn` (RFC 9002 Appendix A.5). Packet numbers must increase.
    pub(crate) fn on_packet_sent(&mut self, pn: u64, packet: SentPacket<T>) {
        debug_assert!(
            !packet.ack_eliciting || packet.in_flight,
            "ack-eliciting packets are in flight (RFC 9002 §2)"
        );
        if self
            .sent
            .largest_sent()
            .is_some_and(|largest| pn <= largest)
        {
            debug_assert!(false, "packet number {pn} sent twice or out of order");
            return;
        }
        if packet.in_flight {
            self.bytes_in_flight += u64::from(packet.size);
            if packet.ack_eliciting {
                self.ack_eliciting_in_flight += 1;
                self.time_of_last_ack_eliciting = Some(packet.time_sent);
            }
        }
        self.sent.insert(pn, packet);
    }

    /// Processes an ACK frame for this space (RFC 9002 Appendix A.7): `largest` is its largest
    /// acknowledged, `ranges` its ranges (half-open, highest first, as
    /// [`Ack::iter`](crate::wire::Ack::iter) yields them), `ack_delay` its decoded ack delay.
    ///
    /// Newly acknowledged packets are appended to `newly_acked` and lost ones to `lost`, each
    /// in ascending packet-number order after what the vectors already held (the caller clears
    /// and reuses them). Then:
    /// - the largest acknowledged is updated;
    /// - if nothing was newly acknowledged, nothing else happens;
    /// - an RTT sample `now − time_sent(largest)` is taken if the largest acknowledged was newly
    ///   acknowledged and a newly acknowledged packet was ack-eliciting (§5.1). In the Initial
    ///   space the ack delay is ignored (§5.3 allows it; Initial ACKs are not delayed);
    /// - loss detection runs ([`detect_lost`](Self::detect_lost)).
    ///
    /// Acknowledging a number above the largest sent is an [`AckError`] and changes nothing.
    /// Skipped packet numbers are not detected here.
    #[allow(clippy::too_many_arguments)] // RFC 9002 A.7's inputs; called from one place
    pub(crate) fn on_ack_received<I>(
        &mut self,
        now: Instant,
        largest: u64,
        ranges: I,
        ack_delay: Duration,
        rtt: &mut RttEstimator,
        handshake_confirmed: bool,
        max_ack_delay: Duration,
        newly_acked: &mut Vec<(u64, SentPacket<T>)>,
        lost: &mut Vec<(u64, SentPacket<T>)>,
    ) -> Result<AckOutcome, AckError>
    where
        I: IntoIterator<Item = Range<u64>>,
    {
        if self.sent.largest_sent().is_none_or(|sent| largest > sent) {
            return Err(AckError::UnsentPacketAcked { pn: largest });
        }
        self.largest_acked = Some(self.largest_acked.map_or(largest, |l| l.max(largest)));

        let start = newly_acked.len();
        self.sent.on_ack_ranges(ranges, newly_acked);
        let Some((largest_new, largest_new_packet)) = newly_acked[start..].last() else {
            return Ok(AckOutcome::default());
        };
        let mut outcome = AckOutcome {
            newly_acked: newly_acked.len() - start,
            largest_newly_acked_sent: Some(largest_new_packet.time_sent),
            ..AckOutcome::default()
        };
        let sample_from = (*largest_new == largest).then_some(largest_new_packet.time_sent);
        for (_, packet) in &newly_acked[start..] {
            outcome.newly_acked_ack_eliciting |= packet.ack_eliciting;
            outcome.acked_bytes += packet.bytes_in_flight();
            self.remove_from_flight(packet);
        }

        if let Some(sent) = sample_from
            && outcome.newly_acked_ack_eliciting
        {
            let ack_delay = match self.space {
                SpaceId::Initial => Duration::ZERO,
                SpaceId::Handshake | SpaceId::Data => ack_delay,
            };
            let sample = now.saturating_duration_since(sent);
            rtt.update(ack_delay, sample, handshake_confirmed, max_ack_delay);
            outcome.rtt_sampled = true;
        }

        outcome.loss = self.detect_lost(now, rtt, lost);
        Ok(outcome)
    }

    /// Loss detection (RFC 9002 Appendix A.10, DetectAndRemoveLostPackets): declares lost every
    /// tracked packet at or below the largest acknowledged that is at least
    /// [`PACKET_THRESHOLD`](super::PACKET_THRESHOLD) numbers below it or was sent at least
    /// [`RttEstimator::loss_delay`] before `now`; appends them to `lost` (ascending) and sets
    /// the loss time to when the next remaining one would be lost by time. Run on every ACK
    /// that newly acknowledges packets, and when the loss time expires.
    pub(crate) fn detect_lost(
        &mut self,
        now: Instant,
        rtt: &RttEstimator,
        lost: &mut Vec<(u64, SentPacket<T>)>,
    ) -> LossOutcome {
        self.loss_time = None;
        let Some(largest_acked) = self.largest_acked else {
            return LossOutcome::default();
        };
        let start = lost.len();
        self.loss_time = self
            .sent
            .drain_lost(largest_acked, now, rtt.loss_delay(), lost);
        self.account_lost(&lost[start..])
    }

    /// Declares lost the oldest tracked packets until the record spans at most `max_span`
    /// packet numbers (the connection's `max_tracked_packets`), appending them to `lost`
    /// (ascending). Packets acknowledged in time never get here: the connection stops sending
    /// ack-eliciting packets before the bound (a window of its own), so only a record that no
    /// acknowledgement drains — a peer that acknowledges nothing, a path dead one way — reaches
    /// it.
    pub(crate) fn evict_beyond(
        &mut self,
        max_span: usize,
        lost: &mut Vec<(u64, SentPacket<T>)>,
    ) -> LossOutcome {
        let start = lost.len();
        self.sent.evict_front(max_span, lost);
        if lost.len() == start {
            return LossOutcome::default();
        }
        self.account_lost(&lost[start..])
    }

    /// Removes packets just declared lost from the in-flight counts; summarises them.
    fn account_lost(&mut self, lost: &[(u64, SentPacket<T>)]) -> LossOutcome {
        let mut outcome = LossOutcome {
            packets: lost.len(),
            ..LossOutcome::default()
        };
        for (_, packet) in lost {
            if packet.in_flight {
                outcome.bytes += u64::from(packet.size);
                outcome.newest_sent = Some(
                    outcome
                        .newest_sent
                        .map_or(packet.time_sent, |t| t.max(packet.time_sent)),
                );
            }
            self.remove_from_flight(packet);
        }
        outcome
    }

    /// Discards the space (its keys are gone; RFC 9002 §6.4, Appendix A.11): every tracked
    /// packet is appended to `out` (ascending) and the loss and PTO state is cleared. Returns the
    /// bytes that were in flight, which the connection removes from its total without telling
    /// the congestion controller of a loss. The connection also resets the PTO backoff.
    pub(crate) fn discard(&mut self, out: &mut Vec<(u64, SentPacket<T>)>) -> u64 {
        let bytes = self.bytes_in_flight;
        self.sent.drain_all(out);
        self.bytes_in_flight = 0;
        self.ack_eliciting_in_flight = 0;
        self.loss_time = None;
        self.time_of_last_ack_eliciting = None;
        bytes
    }

    /// Removes an acknowledged or lost packet from the in-flight counts.
    fn remove_from_flight(&mut self, packet: &SentPacket<T>) {
        if !packet.in_flight {
            return;
        }
        let size = u64::from(packet.size);
        debug_assert!(self.bytes_in_flight >= size, "bytes in flight underflow");
        self.bytes_in_flight = self.bytes_in_flight.saturating_sub(size);
        if packet.ack_eliciting {
            debug_assert!(self.ack_eliciting_in_flight > 0, "ack-eliciting underflow");
            self.ack_eliciting_in_flight = self.ack_eliciting_in_flight.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests;
