//! NewReno congestion control (RFC 9002 §7, Appendix B).

use std::time::Instant;

use super::window::{AckGrowth, Reduction, Window};
use super::{
    AckedPacket, CongestionEvent, Controller, ControllerConfig, ControllerKind, ControllerState,
    SpuriousCongestion,
};

/// RFC 9002 §7.3.2, Appendix B.1: kLossReductionFactor = 0.5 (numerator).
const LOSS_REDUCTION_NUMERATOR: u64 = 1;
/// RFC 9002 §7.3.2, Appendix B.1: kLossReductionFactor = 0.5 (denominator).
const LOSS_REDUCTION_DENOMINATOR: u64 = 2;

/// The NewReno congestion controller (RFC 9002 §7, Appendix B).
///
/// - Slow start: while the window is below the slow-start threshold, each acknowledged byte
///   adds a byte (§7.3.1).
/// - Congestion avoidance: one maximum datagram size per window of acknowledged bytes (§7.3.3).
///   The RFC's per-ACK increment `max_datagram_size × acked / window` is accumulated exactly:
///   acknowledged bytes are counted and every full window of them adds one datagram, so a
///   fully acknowledged window grows by exactly one datagram whatever the packet sizes.
/// - Loss or ECN-CE: the threshold becomes half the window and the window that, floored at the
///   minimum window; a recovery period starts (§7.3.2). Losses of packets sent before the period
///   started do not reduce the window again, and acknowledgements of those packets do not grow
///   it; the period ends with the first acknowledgement of a packet sent after it started.
/// - Persistent congestion: the window collapses to the minimum window (§7.6.2).
/// - Application-limited acknowledgements do not grow the window (§7.8).
///
/// Only the growth and reduction rules are NewReno's own; the rest of the bookkeeping is the
/// one the loss-based controllers share (`congestion/window.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReno {
    window: Window,
    /// Bytes acknowledged in congestion avoidance since the window last grew.
    avoidance_acked: u64,
}

impl NewReno {
    /// NewReno with RFC 9002's initial and minimum windows for datagrams of
    /// `max_datagram_size` bytes.
    pub fn new(max_datagram_size: u64) -> Self {
        Self::with_config(
            &ControllerConfig::new(ControllerKind::NewReno),
            max_datagram_size,
        )
    }

    /// NewReno with the windows of `config` (its `kind` is ignored) for datagrams of
    /// `max_datagram_size` bytes (clamped to at least 1).
    pub fn with_config(config: &ControllerConfig, max_datagram_size: u64) -> Self {
        Self {
            window: Window::new(config, max_datagram_size),
            avoidance_acked: 0,
        }
    }

    /// NewReno taking over from a controller whose [`state`](Controller::state) was `state`:
    /// same window (at least the minimum window), threshold, datagram size and recovery period.
    pub fn from_state(config: &ControllerConfig, state: &ControllerState) -> Self {
        Self {
            window: Window::from_state(config, state),
            avoidance_acked: 0,
        }
    }

    /// The minimum window, in bytes (RFC 9002 §7.2: kMinimumWindow).
    pub fn minimum_window(&self) -> u64 {
        self.window.minimum_window()
    }

    /// When the current recovery period started, if one is active.
    pub fn recovery_start(&self) -> Option<Instant> {
        self.window.recovery_start()
    }

    /// Whether a packet sent at `sent_time` was sent before the current recovery period
    /// started (RFC 9002 Appendix B.6, InCongestionRecovery).
    pub fn in_recovery(&self, sent_time: Instant) -> bool {
        self.window.in_recovery(sent_time)
    }
}

impl Controller for NewReno {
    fn on_packet_sent(&mut self, _now: Instant, _bytes: u64, _bytes_in_flight: u64) {
        // NewReno reacts to acknowledgements and losses only; the connection keeps bytes in
        // flight (RFC 9002 Appendix B.4).
    }

    fn on_packet_acked(&mut self, _now: Instant, acked: &AckedPacket) {
        if self.window.on_ack(acked) != AckGrowth::Grows {
            return;
        }
        if self.window.in_slow_start() {
            // RFC 9002 §7.3.1: slow start.
            self.window.grow(acked.bytes);
            return;
        }
        // RFC 9002 §7.3.3: congestion avoidance, one datagram per window acknowledged.
        let cwnd = self.window.cwnd();
        self.avoidance_acked = self.avoidance_acked.saturating_add(acked.bytes);
        if self.avoidance_acked >= cwnd {
            let windows = self.avoidance_acked / cwnd;
            self.avoidance_acked -= windows * cwnd;
            self.window
                .grow(windows.saturating_mul(self.window.max_datagram_size()));
        }
    }

    fn on_congestion_event(&mut self, now: Instant, event: &CongestionEvent) {
        // RFC 9002 Appendix B.6: ssthresh = cwnd × kLossReductionFactor, cwnd = ssthresh
        // (floored at the minimum window by `Window`).
        let response = self.window.on_congestion_event(now, event, |cwnd, _| {
            let ssthresh = cwnd / LOSS_REDUCTION_DENOMINATOR * LOSS_REDUCTION_NUMERATOR;
            Reduction {
                ssthresh,
                cwnd: ssthresh,
            }
        });
        // A smaller window starts its count of acknowledged windows afresh.
        if response.reduced_from.is_some() || response.collapsed {
            self.avoidance_acked = 0;
        }
    }

    fn on_spurious_congestion(&mut self, _now: Instant, event: &SpuriousCongestion) {
        if self.window.on_spurious_congestion(event) {
            self.avoidance_acked = 0;
        }
    }

    fn window(&self) -> u64 {
        self.window.cwnd()
    }

    fn in_slow_start(&self) -> bool {
        self.window.in_slow_start()
    }

    fn ssthresh(&self) -> Option<u64> {
        self.window.ssthresh()
    }

    fn kind(&self) -> ControllerKind {
        ControllerKind::NewReno
    }

    fn set_max_datagram_size(&mut self, size: u64) {
        self.window.set_max_datagram_size(size);
    }

    fn state(&self) -> ControllerState {
        self.window.state()
    }
}

#[cfg(test)]
mod tests;
