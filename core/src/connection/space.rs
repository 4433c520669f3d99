//! A packet-number space: its numbering, what was sent in it, what was received in it, and its
//! handshake byte stream.

use std::time::Instant;

use super::ack_tracker::AckTracker;
use super::handshake_stream::{HandshakeRanges, HandshakeStream};
use crate::congestion::PacketDeliveryState;
use crate::lanes::LanesSent;
use crate::recovery::{SentPacket, SpaceId, SpaceRecovery};
use crate::streams::StreamsSent;

/// The record of what one sent packet carried that matters if it is acknowledged or lost
/// (frames are retransmitted, never packets: RFC 9000 §13.3).
#[derive(Debug, Clone, Default)]
pub(crate) struct SentFrames {
    /// Stream data and stream/connection control frames.
    pub(crate) streams: StreamsSent,
    /// Reliable lane fragments and lane control frames.
    pub(crate) lanes: LanesSent,
    /// Handshake bytes.
    pub(crate) handshake: HandshakeRanges,
    /// The largest packet number the packet's ACK frame acknowledged.
    pub(crate) ack_largest: Option<u64>,
    /// NEW_CONNECTION_ID and RETIRE_CONNECTION_ID frames.
    pub(crate) cids: super::cids::SentCids,
    /// Whether the packet carried HANDSHAKE_DONE.
    pub(crate) handshake_done: bool,
    /// The delivery-rate snapshot taken when the packet was sent (in-flight packets).
    pub(crate) delivery: Option<PacketDeliveryState>,
    /// Whether the packet was a path MTU probe (a padded PING; see [`crate::pmtu`]).
    pub(crate) mtu_probe: bool,
    /// Whether the packet's datagram carried ECT(0) (ECN validation counts these).
    pub(crate) marked: bool,
}

/// A peer need not acknowledge ACK-only packets until it has something ack-eliciting to
/// acknowledge too (RFC 9000 §13.2.1), so an end that only receives — a game client listening
/// to state updates — could remember its ACK-only packets until the connection ends, and walk
/// them on every loss-timer update. Once this many are remembered with nothing ack-eliciting in
/// flight, the next packet carries a PING, as RFC 9000 §13.2.4 suggests: the peer's ACK of it
/// releases them all. Peers that acknowledge everything they received (weir, quinn) never let
/// the count get here, and then no PING is sent.
pub(crate) const ACK_ONLY_TRACKED_LIMIT: usize = 32;

/// How far below [`TransportConfig::max_tracked_packets`] the connection stops sending new
/// ack-eliciting packets: room for the ACK-only packets and probes it still sends, so that a
/// window of packets acknowledged in time is never evicted.
///
/// [`TransportConfig::max_tracked_packets`]: crate::config::TransportConfig::max_tracked_packets
pub(crate) const TRACKED_PACKETS_RESERVE: usize = 2 * ACK_ONLY_TRACKED_LIMIT;

#[derive(Debug)]
pub(crate) struct PacketSpace {
    pub(crate) id: SpaceId,
    /// Number of the next packet to send.
    pub(crate) next_pn: u64,
    pub(crate) recovery: SpaceRecovery<SentFrames>,
    pub(crate) acks: AckTracker,
    pub(crate) handshake: HandshakeStream,
    /// A PING is owed (probe timeout, keep-alive, or a long run of ACK-only packets).
    pub(crate) ping_pending: bool,
    /// The space's keys are gone: nothing is sent or accepted in it any more.
    pub(crate) discarded: bool,
}

impl PacketSpace {
    pub(crate) fn new(id: SpaceId, max_ack_ranges: usize) -> Self {
        Self {
            id,
            next_pn: 0,
            recovery: SpaceRecovery::new(id),
            // RFC 9000 §13.2.1: handshake-phase packets are acknowledged at once.
            acks: AckTracker::new(max_ack_ranges, id != SpaceId::Data),
            handshake: HandshakeStream::default(),
            ping_pending: false,
            discarded: false,
        }
    }

    /// Records a packet sent in this space; owes a PING when ACK-only packets pile up
    /// unacknowledged (see [`ACK_ONLY_TRACKED_LIMIT`]).
    pub(crate) fn on_packet_sent(&mut self, pn: u64, packet: SentPacket<SentFrames>) {
        self.recovery.on_packet_sent(pn, packet);
        if self.recovery.ack_eliciting_in_flight() == 0
            && self.recovery.sent().len() >= ACK_ONLY_TRACKED_LIMIT
        {
            self.ping_pending = true;
        }
    }

    /// The send time of the oldest ack-eliciting packet in flight.
    pub(crate) fn oldest_ack_eliciting(&self) -> Option<(u64, &SentPacket<SentFrames>)> {
        self.recovery.sent().iter().find(|(_, p)| p.ack_eliciting)
    }

    /// Whether anything ack-eliciting of the handshake layer waits in this space.
    pub(crate) fn has_handshake_data(&self) -> bool {
        !self.discarded && (self.handshake.has_pending() || self.ping_pending)
    }

    /// Forgets everything sent in the space (a Retry restarts the Initial space; RFC 9000
    /// §17.2.5.2): the handshake bytes in flight are queued again. Returns the bytes that were
    /// in flight.
    pub(crate) fn restart(&mut self, scratch: &mut Vec<(u64, SentPacket<SentFrames>)>) -> u64 {
        scratch.clear();
        let bytes = self.recovery.discard(scratch);
        for (_, packet) in scratch.drain(..) {
            for &(offset, len) in &packet.data.handshake {
                self.handshake.on_lost(offset, len);
            }
        }
        self.recovery = SpaceRecovery::new(self.id);
        bytes
    }

    /// Drops the space (its keys are discarded, RFC 9002 §6.4); returns the bytes that were in
    /// flight in it, which leave the congestion controller's count without counting as lost.
    pub(crate) fn discard(&mut self, scratch: &mut Vec<(u64, SentPacket<SentFrames>)>) -> u64 {
        scratch.clear();
        let bytes = self.recovery.discard(scratch);
        scratch.clear();
        self.discarded = true;
        self.ping_pending = false;
        self.handshake = HandshakeStream::default();
        bytes
    }

    /// When this space's ACK timer fires, if it is not discarded.
    pub(crate) fn ack_timer(&self) -> Option<Instant> {
        if self.discarded {
            None
        } else {
            self.acks.timer()
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

    fn ack_only(at: Instant) -> SentPacket<SentFrames> {
        SentPacket::new(at, 40, false, false, SentFrames::default())
    }

    #[test]
    fn unacknowledged_ack_only_packets_owe_a_ping() {
        let mut space = PacketSpace::new(SpaceId::Data, 32);
        let at = t0();
        let limit = ACK_ONLY_TRACKED_LIMIT as u64;
        for pn in 0..limit - 1 {
            space.on_packet_sent(pn, ack_only(at));
        }
        assert!(!space.ping_pending, "below the limit");
        space.on_packet_sent(limit - 1, ack_only(at));
        assert!(space.ping_pending, "at the limit");
    }

    #[test]
    fn an_ack_eliciting_packet_in_flight_will_be_acknowledged_anyway() {
        let mut space = PacketSpace::new(SpaceId::Data, 32);
        let at = t0();
        space.on_packet_sent(
            0,
            SentPacket::new(at, 1200, true, true, SentFrames::default()),
        );
        for pn in 1..2 * ACK_ONLY_TRACKED_LIMIT as u64 {
            space.on_packet_sent(pn, ack_only(at));
        }
        assert!(!space.ping_pending);
    }
}
