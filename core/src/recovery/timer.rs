//! The loss detection timer: loss time or probe timeout (RFC 9002 §6.2, Appendix A.8, A.9).
//!
//! A connection has one loss detection timer for its three packet-number spaces. It is set to
//! the earliest loss time of any space if there is one (time-threshold loss detection);
//! otherwise to the probe timeout (PTO) of the earliest space with ack-eliciting packets in
//! flight; otherwise — for a client whose address the server may not have validated yet — to an
//! anti-deadlock PTO counted from now (§6.2.2.1), so that a server blocked by its
//! anti-amplification limit gets something to answer.

use std::time::{Duration, Instant};

use super::{MAX_PTO_BACKOFF_EXPONENT, PTO_BACKOFF, RttEstimator, SpaceId, SpaceRecovery};

/// What the loss detection timer is waiting for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum LossTimer {
    /// A packet of the space becomes lost by the time threshold: run
    /// [`SpaceRecovery::detect_lost`] in it.
    LossTime(SpaceId),
    /// The probe timeout of the space: send one or two ack-eliciting packets in it (new data,
    /// else retransmitted data, else a PING; RFC 9002 §6.2.4). When no ack-eliciting packet is
    /// in flight at all this is the client's anti-deadlock probe (§6.2.2.1): one ack-eliciting
    /// packet, a padded Initial or a Handshake packet.
    Pto(SpaceId),
}

/// The connection state the timer depends on besides the spaces and the RTT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimerInputs {
    /// The time of the input being processed: the anti-deadlock PTO counts from it.
    pub(crate) now: Instant,
    /// The peer's max_ack_delay transport parameter (RFC 9000 §18.2), added to the Data
    /// space's PTO.
    pub(crate) max_ack_delay: Duration,
    /// Whether the handshake is confirmed (RFC 9001 §4.1.2): before, the Data space gets no PTO
    /// (RFC 9002 §6.2.1).
    pub(crate) handshake_confirmed: bool,
    /// Whether Handshake keys are available: the anti-deadlock probe then goes in a Handshake
    /// packet, else in an Initial one.
    pub(crate) has_handshake_keys: bool,
    /// Whether the peer has validated this endpoint's address (RFC 9002 Appendix A.6,
    /// PeerCompletedAddressValidation): always true for a server; for a client, once it received
    /// an acknowledgement of a Handshake packet or the handshake is confirmed.
    pub(crate) peer_completed_address_validation: bool,
    /// Whether a server is blocked by its anti-amplification limit (RFC 9000 §8.1): it then arms
    /// no PTO, since it could not send a probe.
    pub(crate) at_amplification_limit: bool,
    /// Longest a backed-off PTO may grow (never below the un-backed-off PTO). RFC 9002 backs
    /// off without bound; weir caps it so that a connection probes at least this often through
    /// an outage (a train tunnel) and notices the path is back within one cap, not after
    /// minutes of doubling. `None` keeps RFC 9002's unbounded backoff.
    pub(crate) max_pto: Option<Duration>,
}

impl TimerInputs {
    /// The space a handshake probe goes in: Handshake once its keys are available, else
    /// Initial.
    fn handshake_space(&self) -> SpaceId {
        if self.has_handshake_keys {
            SpaceId::Handshake
        } else {
            SpaceId::Initial
        }
    }

    /// `backed_off`, limited to the cap, but never below `floor`: the time an answer to a
    /// probe takes at the least (twice the smallest RTT, and the peer's ACK delay where it
    /// applies), or the un-backed-off PTO if that is shorter. The floor is not the PTO itself:
    /// a path that stalled behind a deep queue leaves the smoothed RTT at seconds, and its PTO
    /// (RFC 9002's `smoothed_rtt + 4 × rttvar`) at several more; once the path is back, a
    /// probe every such PTO would leave it unused for that long.
    fn cap(&self, backed_off: Duration, floor: Duration) -> Duration {
        match self.max_pto {
            Some(max) => backed_off.min(max.max(floor)),
            None => backed_off,
        }
    }
}

/// The earliest loss time over the spaces, and its space (RFC 9002 Appendix A.8,
/// GetLossTimeAndSpace). `spaces` is indexed by [`SpaceId::index`].
pub(crate) fn earliest_loss_time<T>(spaces: [&SpaceRecovery<T>; 3]) -> Option<(Instant, SpaceId)> {
    let mut earliest: Option<(Instant, SpaceId)> = None;
    for space in SpaceId::ALL {
        if let Some(t) = spaces[space.index()].loss_time()
            && earliest.is_none_or(|(e, _)| t < e)
        {
            earliest = Some((t, space));
        }
    }
    earliest
}

/// `2^pto_count`, the PTO backoff factor (RFC 9002 §6.2.1), with the exponent capped at
/// [`MAX_PTO_BACKOFF_EXPONENT`].
fn backoff(pto_count: u32) -> u32 {
    PTO_BACKOFF.pow(pto_count.min(MAX_PTO_BACKOFF_EXPONENT))
}

/// The PTO deadline and its space (RFC 9002 Appendix A.8, GetPtoTimeAndSpace): for each space
/// with ack-eliciting packets in flight, the time of its last ack-eliciting packet plus
/// `(smoothed + max(4 × rttvar, granularity)) × 2^pto_count`, plus `max_ack_delay × 2^pto_count`
/// for the Data space, which is skipped until the handshake is confirmed; the earliest wins.
/// Departing from Appendix A.8: before confirmation, when only the Data space has ack-eliciting
/// packets in flight, the PTO of its last one goes to the handshake space (Handshake if its
/// keys are available, else Initial), so that handshake data lost behind a full window is
/// still probed.
/// With no ack-eliciting packet in flight anywhere, the anti-deadlock PTO from `inputs.now` in
/// the Handshake space if its keys are available, else Initial — unless the peer has completed
/// address validation, when there is no PTO. `None` also when the deadline is not representable.
pub(crate) fn pto_time_and_space<T>(
    spaces: [&SpaceRecovery<T>; 3],
    rtt: &RttEstimator,
    pto_count: u32,
    inputs: &TimerInputs,
) -> Option<(Instant, SpaceId)> {
    let backoff = backoff(pto_count);
    let base = rtt.pto_base();
    let round_trip = rtt.min().saturating_mul(2);
    let duration = inputs.cap(base.saturating_mul(backoff), base.min(round_trip));
    if spaces.iter().all(|s| s.ack_eliciting_in_flight() == 0) {
        if inputs.peer_completed_address_validation {
            return None;
        }
        // RFC 9002 §6.2.2.1: the anti-deadlock PTO starts from the current time.
        return Some((inputs.now.checked_add(duration)?, inputs.handshake_space()));
    }
    let mut earliest: Option<(Instant, SpaceId)> = None;
    for space in SpaceId::ALL {
        let state = spaces[space.index()];
        if state.ack_eliciting_in_flight() == 0 {
            continue;
        }
        let mut duration = duration;
        if space == SpaceId::Data {
            // RFC 9002 §6.2.1: no Data PTO before the handshake is confirmed; after, the PTO
            // includes the peer's max_ack_delay (backed off too).
            if !inputs.handshake_confirmed {
                if earliest.is_none() {
                    // Nothing of the handshake in flight, yet short packets are: the handshake
                    // data was lost and waits for room in a congestion window those packets
                    // fill, and nothing would ever fire. Probe the handshake space instead
                    // (a probe may exceed the window).
                    earliest = state
                        .time_of_last_ack_eliciting()
                        .and_then(|last| last.checked_add(duration))
                        .map(|t| (t, inputs.handshake_space()));
                }
                break;
            }
            let data_base = base.saturating_add(inputs.max_ack_delay);
            let floor = data_base.min(round_trip.saturating_add(inputs.max_ack_delay));
            duration = inputs.cap(data_base.saturating_mul(backoff), floor);
        }
        let Some(t) = state
            .time_of_last_ack_eliciting()
            .and_then(|last| last.checked_add(duration))
        else {
            continue;
        };
        if earliest.is_none_or(|(e, _)| t < e) {
            earliest = Some((t, space));
        }
    }
    earliest
}

/// When the loss detection timer fires and why (RFC 9002 Appendix A.8,
/// SetLossDetectionTimer); `None` when it is not armed. `spaces` is indexed by
/// [`SpaceId::index`]; a discarded space is simply empty.
pub(crate) fn loss_detection_timer<T>(
    spaces: [&SpaceRecovery<T>; 3],
    rtt: &RttEstimator,
    pto_count: u32,
    inputs: &TimerInputs,
) -> Option<(Instant, LossTimer)> {
    if let Some((t, space)) = earliest_loss_time(spaces) {
        return Some((t, LossTimer::LossTime(space)));
    }
    if inputs.at_amplification_limit {
        return None;
    }
    pto_time_and_space(spaces, rtt, pto_count, inputs).map(|(t, space)| (t, LossTimer::Pto(space)))
}

/// The connection's loss detection timer and PTO backoff (RFC 9002 Appendix A.2:
/// `pto_count`, `loss_detection_timer`).
///
/// The connection re-arms it with [`set_timer`](Self::set_timer) after every change the timer
/// depends on — an ack-eliciting or in-flight packet sent, an ACK processed, a timeout handled,
/// a space discarded, the handshake confirmed, the anti-amplification limit lifted — reports
/// [`deadline`](Self::deadline) from `poll_timeout`, and calls [`on_timeout`](Self::on_timeout)
/// when it passes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct LossDetection {
    pto_count: u32,
    armed: Option<(Instant, LossTimer)>,
}

impl LossDetection {
    /// No timer armed, no backoff.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Consecutive PTOs without an acknowledgement (`pto_count`).
    pub(crate) fn pto_count(&self) -> u32 {
        self.pto_count
    }

    /// Resets the backoff: on an ACK that newly acknowledges packets, if the peer has completed
    /// address validation (RFC 9002 §6.2.1, Appendix A.7), and when Initial or Handshake keys are
    /// discarded (§6.2.2, Appendix A.11).
    pub(crate) fn reset_pto_count(&mut self) {
        self.pto_count = 0;
    }

    /// The current probe timeout interval, `(smoothed + max(4 × rttvar, granularity) +
    /// max_ack_delay) × 2^pto_count`: RFC 9000 uses three of them for the idle timeout floor
    /// (§10.1) and the closing period (§10.2). Pass `max_ack_delay` = 0 before the handshake
    /// is confirmed.
    pub(crate) fn current_pto(&self, rtt: &RttEstimator, max_ack_delay: Duration) -> Duration {
        rtt.pto_base()
            .saturating_add(max_ack_delay)
            .saturating_mul(backoff(self.pto_count))
    }

    /// Re-arms the timer from the current state ([`loss_detection_timer`]); returns the new
    /// deadline.
    pub(crate) fn set_timer<T>(
        &mut self,
        spaces: [&SpaceRecovery<T>; 3],
        rtt: &RttEstimator,
        inputs: &TimerInputs,
    ) -> Option<Instant> {
        self.armed = loss_detection_timer(spaces, rtt, self.pto_count, inputs);
        self.deadline()
    }

    /// Disarms the timer (e.g. when the connection closes).
    pub(crate) fn cancel(&mut self) {
        self.armed = None;
    }

    /// The armed deadline and its reason.
    #[cfg(test)]
    pub(crate) fn timer(&self) -> Option<(Instant, LossTimer)> {
        self.armed
    }

    /// The space whose probe timeout is armed, if a probe timeout is.
    pub(crate) fn pto_space(&self) -> Option<SpaceId> {
        match self.armed {
            Some((_, LossTimer::Pto(space))) => Some(space),
            _ => None,
        }
    }

    /// The armed deadline.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.armed.map(|(t, _)| t)
    }

    /// If the armed deadline is at or before `now`: disarms it and returns what expired,
    /// counting a PTO in the backoff (RFC 9002 Appendix A.9). The connection then acts on it and
    /// re-arms with [`set_timer`](Self::set_timer). Early calls return `None`.
    pub(crate) fn on_timeout(&mut self, now: Instant) -> Option<LossTimer> {
        let (deadline, timer) = self.armed?;
        if deadline > now {
            return None;
        }
        self.armed = None;
        if let LossTimer::Pto(_) = timer {
            self.pto_count = self.pto_count.saturating_add(1);
        }
        Some(timer)
    }
}

#[cfg(test)]
mod tests;
