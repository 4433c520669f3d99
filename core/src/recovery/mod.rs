//! Loss recovery (RFC 9002): RTT estimation, sent-packet tracking, loss detection, PTO.
//!
//! The pieces, each a small sans-IO state machine driven by the connection:
//!
//! - [`RttEstimator`] (`rtt.rs`): smoothed RTT, RTT variation, minimum and latest RTT
//!   (RFC 9002 §5).
//! - [`SentPackets`] (`sent.rs`): the unacknowledged packets of one packet-number space, stored
//!   densely by packet number; acknowledgement and loss remove packets into caller-owned `Vec`s.
//! - [`SpaceRecovery`] (`space.rs`): one packet-number space's loss-detection state — ACK
//!   processing with RTT sampling, packet- and time-threshold loss detection, in-flight
//!   accounting (RFC 9002 §6.1, Appendix A.7, A.10).
//! - [`LossDetection`] and [`loss_detection_timer`] (`timer.rs`): the connection's one loss
//!   detection timer — loss time or probe timeout, with exponential backoff and the client's
//!   anti-deadlock probe (RFC 9002 §6.2, Appendix A.8, A.9).
//! - [`in_persistent_congestion`] (`persistent.rs`): persistent congestion (RFC 9002 §7.6).
//! - [`SpuriousLossDetector`] (`spurious.rs`): which congestion events were false alarms — all
//!   their lost packets acknowledged afterwards — so the controller may undo its reduction.
//!
//! ## How the connection drives recovery
//!
//! 1. Sending a packet: [`SpaceRecovery::on_packet_sent`] in its space, then the congestion
//!    controller's `on_packet_sent` with the total bytes in flight (the sum over the spaces of
//!    [`SpaceRecovery::bytes_in_flight`]), then [`LossDetection::set_timer`] if the packet was
//!    ack-eliciting.
//! 2. Receiving an ACK frame: [`SpaceRecovery::on_ack_received`] (an error closes the connection
//!    with PROTOCOL_VIOLATION). If it newly acknowledged packets: remember the time of the first
//!    RTT sample; if in-flight packets were lost (or ECN-CE rose), raise one congestion event,
//!    with [`in_persistent_congestion`] checked on this call's lost packets; then feed each newly
//!    acknowledged in-flight packet to the controller, then the ACK event (RFC 9002 Appendix
//!    A.7's order: losses before acknowledgements); reset the PTO backoff
//!    ([`LossDetection::reset_pto_count`]) if the peer has completed address validation;
//!    re-arm with [`LossDetection::set_timer`]. The lost packets' frames are queued for
//!    retransmission (frames are retransmitted, not packets: DESIGN.md §3).
//! 3. Timeout: [`LossDetection::on_timeout`] says what expired — a loss time (run
//!    [`SpaceRecovery::detect_lost`] in that space and handle the losses as above) or a PTO (send
//!    one or two ack-eliciting probes in that space) — then re-arm.
//! 4. Discarding a space's keys: [`SpaceRecovery::discard`], subtract the returned bytes from the
//!    in-flight total, reset the PTO backoff, re-arm (RFC 9002 §6.4, Appendix A.11).
//!
//! The constants are RFC 9002's recommended values, which DESIGN.md §3 adopts.

use std::time::Duration;

mod persistent;
mod rtt;
mod sent;
mod space;
mod spurious;
mod timer;

#[cfg(test)]
mod proptests;

// The connection is the user of these; until it is wired up some are only used by tests.
pub(crate) use persistent::in_persistent_congestion;
pub(crate) use rtt::RttEstimator;
pub(crate) use sent::{SentPacket, SentPackets};
pub(crate) use space::{LossOutcome, SpaceRecovery};
pub(crate) use spurious::SpuriousLossDetector;
pub(crate) use timer::{LossDetection, LossTimer, TimerInputs};

/// RFC 9002 §6.1.1: packet threshold — a packet is lost once a packet sent at least this many
/// packet numbers after it is acknowledged (kPacketThreshold = 3).
pub(crate) const PACKET_THRESHOLD: u64 = 3;

/// RFC 9002 §6.1.2: time threshold numerator — a packet below the largest acknowledged is lost
/// once it was sent at least 9/8 × max(smoothed RTT, latest RTT) ago (kTimeThreshold = 9/8).
pub(crate) const TIME_THRESHOLD_NUMERATOR: u32 = 9;

/// RFC 9002 §6.1.2: time threshold denominator (kTimeThreshold = 9/8).
pub(crate) const TIME_THRESHOLD_DENOMINATOR: u32 = 8;

/// RFC 9002 §6.1.2: timer granularity (kGranularity = 1 ms); the loss delay and the RTT
/// variation term of the PTO are never below it.
pub(crate) const GRANULARITY: Duration = Duration::from_millis(1);

/// RFC 9002 §6.2.2: the RTT assumed before the first sample (kInitialRtt = 333 ms).
pub(crate) const INITIAL_RTT: Duration = Duration::from_millis(333);

/// RFC 9002 §6.2.1: the probe timeout doubles with each consecutive PTO.
pub(crate) const PTO_BACKOFF: u32 = 2;

/// Largest PTO backoff exponent applied. Not from the RFC: an arithmetic bound only — 2^30 times
/// a PTO of at least 1 ms is over 12 days, far beyond any idle timeout, so the connection has
/// closed long before the cap matters.
pub(crate) const MAX_PTO_BACKOFF_EXPONENT: u32 = 30;

/// RFC 9002 §7.6.1: persistent congestion threshold — losses spanning this many PTOs
/// (without backoff, max_ack_delay included) establish persistent congestion
/// (kPersistentCongestionThreshold = 3).
pub(crate) const PERSISTENT_CONGESTION_THRESHOLD: u32 = 3;

/// A packet-number space (RFC 9000 §12.3). Each has its own packet numbers, acknowledgements and
/// loss detection state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum SpaceId {
    /// Initial packets (the start of the handshake).
    Initial = 0,
    /// Handshake packets.
    Handshake = 1,
    /// Application data (1-RTT) packets.
    Data = 2,
}

impl SpaceId {
    /// Every space, in the order of [`index`](Self::index) — the order RFC 9002 Appendix A.8
    /// walks them when choosing the PTO space.
    pub(crate) const ALL: [SpaceId; 3] = [SpaceId::Initial, SpaceId::Handshake, SpaceId::Data];

    /// The space's index into per-space arrays: 0, 1, 2.
    pub(crate) const fn index(self) -> usize {
        self as usize
    }
}

/// A base instant for tests: recovery only ever adds durations to it.
#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests need a base instant
pub(crate) fn test_epoch() -> std::time::Instant {
    std::time::Instant::now()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn space_ids_index_in_order() {
        for (i, space) in SpaceId::ALL.into_iter().enumerate() {
            assert_eq!(space.index(), i);
        }
    }
}
