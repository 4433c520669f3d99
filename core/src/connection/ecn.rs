//! Explicit Congestion Notification (RFC 9000 §13.4, RFC 9002 §7.1).
//!
//! Receiving: the driver hands each datagram's ECN codepoint to
//! [`Endpoint::handle_datagram`](crate::endpoint::Endpoint::handle_datagram); every packet
//! processed (duplicates are not) counts its codepoint in its packet-number space, and the
//! space's ACK frames carry the counts (type 0x03) once any marked packet arrived. A CE mark is
//! acknowledged at once, so that the sender reacts within a round trip (RFC 9000 §13.2.1).
//!
//! Sending is validated first (RFC 9000 §13.4.2, Appendix A.4): the first
//! [`TESTING_PACKETS`] packets carry ECT(0) (*testing*); then nothing is marked (*unknown*)
//! until an ACK frame newly acknowledges a marked packet with counts that cover it, after which
//! every packet is marked (*capable*). Validation fails — for the rest of the connection, and
//! nothing is marked again — when an ACK frame that newly acknowledges marked packets carries
//! no counts, when counts go backwards, when they exceed what was sent, when their increase
//! does not cover the newly acknowledged marked packets (a path that bleaches or re-marks the
//! bits), or when every packet marked during testing is lost (a path that drops ECT packets).
//! Bad counts from the peer only ever disable ECN, never close the connection (§13.4.2.1).
//!
//! Once validation did not fail, an increase of the peer's CE count is a congestion event
//! for the controller ([`CongestionCause::EcnCe`](crate::congestion::CongestionCause)), as a
//! loss would be, but without retransmission (RFC 9002 §7.1, Appendix B.7).

use crate::EcnCodepoint;
use crate::recovery::SpaceId;
use crate::wire::EcnCounts;

/// RFC 9000 Appendix A.4: ECT(0) on the first ten packets only, until validation succeeds,
/// so that a path that drops marked packets costs at most those ten.
pub(crate) const TESTING_PACKETS: u64 = 10;

/// Where ECN validation of the connection's path is (RFC 9000 §13.4.2, Appendix A.4).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum EcnState {
    /// Switched off by [`TransportConfig::ecn`](crate::config::TransportConfig::ecn): nothing
    /// is marked, received codepoints are neither counted nor reported.
    Off,
    /// Packets are marked ECT(0) while validation waits for the peer's counts.
    #[default]
    Testing,
    /// The testing packets are sent; nothing is marked until an acknowledgement of one of them
    /// validates the path (or the loss of them all fails it).
    Unknown,
    /// Validated: every packet is marked ECT(0) and CE marks reach the congestion controller.
    Capable,
    /// Validation failed: nothing is marked for the rest of the connection.
    Failed(EcnFailure),
}

/// Why ECN validation failed (RFC 9000 §13.4.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EcnFailure {
    /// An ACK frame newly acknowledged marked packets without ECN counts: the peer does not
    /// read the codepoint (or the path hides it).
    NotReported,
    /// A count went below what the peer reported before.
    CountsDecreased,
    /// The counts exceed the packets sent with ECT(0) in the space, or report ECT(1), which
    /// this end never sends: the path re-marks packets, or the peer miscounts.
    CountsExceedSent,
    /// The increase of ECT(0) and CE counts does not cover the newly acknowledged marked
    /// packets: the path clears ("bleaches") the bits.
    Undercounted,
    /// Every packet marked during testing was lost: the path drops ECT packets.
    TestPacketsLost,
}

/// ECN counters of one connection (see [`ConnectionStats::ecn`](super::ConnectionStats)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EcnStats {
    /// Validation's state.
    pub state: EcnState,
    /// Packets sent with ECT(0).
    pub packets_sent_ect0: u64,
    /// Codepoints of the packets received (all spaces; not counted while ECN is off).
    pub received: EcnCounts,
    /// CE marks the peer reported for this end's packets (the increases of its CE counts).
    pub ce_reported: u64,
    /// Congestion events raised by CE reports (also counted in
    /// [`ConnectionStats::congestion_events`](super::ConnectionStats::congestion_events)).
    pub ce_congestion_events: u64,
    /// ACK frames whose counts failed validation (at most one: ECN stays off after it).
    pub validation_failures: u64,
}

/// What one packet-number space counts.
#[derive(Debug, Clone, Copy, Default)]
struct EcnSpace {
    /// Codepoints of the packets received in the space: what this end reports.
    received: EcnCounts,
    /// The peer's latest counts that passed validation.
    peer: EcnCounts,
    /// Packets sent with ECT(0) in the space.
    ect0_sent: u64,
}

/// The connection's ECN state (see the [module docs](self)).
#[derive(Debug, Clone)]
pub(super) struct Ecn {
    spaces: [EcnSpace; 3],
    /// Marked packets sent while testing (and after it, in the datagram that ended it).
    testing_sent: u64,
    /// Of those, packets declared lost.
    testing_lost: u64,
    stats: EcnStats,
}

impl Ecn {
    pub(super) fn new(enabled: bool) -> Self {
        Self {
            spaces: [EcnSpace::default(); 3],
            testing_sent: 0,
            testing_lost: 0,
            stats: EcnStats {
                state: if enabled {
                    EcnState::Testing
                } else {
                    EcnState::Off
                },
                ..EcnStats::default()
            },
        }
    }

    pub(super) fn stats(&self) -> EcnStats {
        self.stats
    }

    /// The codepoint for the next datagram.
    pub(super) fn codepoint(&self) -> Option<EcnCodepoint> {
        match self.stats.state {
            EcnState::Testing | EcnState::Capable => Some(EcnCodepoint::Ect0),
            EcnState::Off | EcnState::Unknown | EcnState::Failed(_) => None,
        }
    }

    /// A packet of space `id` was sent, in a datagram marked ECT(0) if `marked`.
    pub(super) fn on_packet_sent(&mut self, id: SpaceId, marked: bool) {
        if !marked {
            return;
        }
        self.spaces[id.index()].ect0_sent += 1;
        self.stats.packets_sent_ect0 += 1;
        if matches!(self.stats.state, EcnState::Testing | EcnState::Unknown) {
            self.testing_sent += 1;
            if self.stats.state == EcnState::Testing && self.testing_sent >= TESTING_PACKETS {
                self.stats.state = EcnState::Unknown;
            }
        }
    }

    /// A packet of space `id` that arrived with `codepoint` was processed. Returns whether it
    /// was CE-marked (then the ACK goes out at once, RFC 9000 §13.2.1).
    pub(super) fn on_packet_received(
        &mut self,
        id: SpaceId,
        codepoint: Option<EcnCodepoint>,
    ) -> bool {
        if self.stats.state == EcnState::Off {
            return false;
        }
        let Some(codepoint) = codepoint else {
            return false;
        };
        for counts in [
            &mut self.spaces[id.index()].received,
            &mut self.stats.received,
        ] {
            let count = match codepoint {
                EcnCodepoint::Ect0 => &mut counts.ect0,
                EcnCodepoint::Ect1 => &mut counts.ect1,
                EcnCodepoint::Ce => &mut counts.ce,
            };
            *count += 1;
        }
        codepoint == EcnCodepoint::Ce
    }

    /// The counts space `id`'s ACK frames carry: none until a marked packet arrived in it
    /// (RFC 9000 §19.3.2), and none while ECN is off.
    pub(super) fn ack_counts(&self, id: SpaceId) -> Option<EcnCounts> {
        let received = self.spaces[id.index()].received;
        (self.stats.state != EcnState::Off && received != EcnCounts::default()).then_some(received)
    }

    /// `marked` packets sent with ECT(0) were declared lost: when all those sent during
    /// testing are, the path drops marked packets.
    pub(super) fn on_marked_lost(&mut self, marked: u64) {
        if marked == 0 || !matches!(self.stats.state, EcnState::Testing | EcnState::Unknown) {
            return;
        }
        self.testing_lost += marked;
        if self.stats.state == EcnState::Unknown && self.testing_lost >= self.testing_sent {
            self.fail(EcnFailure::TestPacketsLost);
        }
    }

    /// An ACK frame of space `id` with `counts` newly acknowledged packets, `newly_marked` of
    /// them sent with ECT(0); `new_largest` says whether it raised the largest acknowledged
    /// packet number (only such frames are known to be newer than every frame before, so only
    /// their counts may be compared with the last ones: RFC 9000 §13.4.2.1). Returns the
    /// increase of the peer's CE count, for a congestion event, when ECN is in use.
    pub(super) fn on_ack(
        &mut self,
        id: SpaceId,
        counts: Option<&EcnCounts>,
        newly_marked: u64,
        new_largest: bool,
    ) -> Option<u64> {
        if matches!(self.stats.state, EcnState::Off | EcnState::Failed(_)) {
            return None;
        }
        let Some(counts) = counts else {
            if newly_marked > 0 {
                self.fail(EcnFailure::NotReported);
            }
            return None;
        };
        if !new_largest {
            return None;
        }
        let space = &mut self.spaces[id.index()];
        let (Some(ect0), Some(ect1), Some(ce)) = (
            counts.ect0.checked_sub(space.peer.ect0),
            counts.ect1.checked_sub(space.peer.ect1),
            counts.ce.checked_sub(space.peer.ce),
        ) else {
            self.fail(EcnFailure::CountsDecreased);
            return None;
        };
        if counts.ect1 > 0 || counts.ect0.saturating_add(counts.ce) > space.ect0_sent {
            self.fail(EcnFailure::CountsExceedSent);
            return None;
        }
        // ECT(1) increases were refused above, so `ect1` is 0 here.
        if ect0.saturating_add(ce).saturating_add(ect1) < newly_marked {
            self.fail(EcnFailure::Undercounted);
            return None;
        }
        space.peer = *counts;
        if newly_marked > 0 && matches!(self.stats.state, EcnState::Testing | EcnState::Unknown) {
            self.stats.state = EcnState::Capable;
        }
        if ce == 0 {
            return None;
        }
        self.stats.ce_reported += ce;
        self.stats.ce_congestion_events += 1;
        Some(ce)
    }

    fn fail(&mut self, why: EcnFailure) {
        self.stats.state = EcnState::Failed(why);
        self.stats.validation_failures += 1;
        // Forget what the peer reported: it may have been garbage.
        for space in &mut self.spaces {
            space.peer = EcnCounts::default();
        }
    }
}

#[cfg(test)]
#[path = "ecn_tests.rs"]
mod tests;
