//! NewReno congestion control (RFC 9002 §7, Appendix B).

use std::time::{Duration, Instant};

use super::{
    AckedPacket, CongestionEvent, Controller, ControllerConfig, ControllerKind, ControllerState,
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReno {
    config: ControllerConfig,
    max_datagram_size: u64,
    window: u64,
    /// `u64::MAX` while unset (RFC 9002 Appendix B.3: infinite).
    ssthresh: u64,
    /// `congestion_recovery_start_time` (RFC 9002 Appendix B.2).
    recovery_start: Option<Instant>,
    /// Bytes acknowledged in congestion avoidance since the window last grew.
    avoidance_acked: u64,
    /// Whether no acknowledgement or congestion has been seen yet: the window is still the
    /// initial window and follows changes of the datagram size (RFC 9002 §7.2).
    pristine: bool,
    smoothed_rtt: Option<Duration>,
    min_rtt: Option<Duration>,
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
        let max_datagram_size = max_datagram_size.max(1);
        Self {
            config: config.clone(),
            max_datagram_size,
            window: config.initial_window(max_datagram_size),
            ssthresh: u64::MAX,
            recovery_start: None,
            avoidance_acked: 0,
            pristine: true,
            smoothed_rtt: None,
            min_rtt: None,
        }
    }

    /// NewReno taking over from a controller whose [`state`](Controller::state) was `state`:
    /// same window (at least the minimum window), threshold, datagram size and recovery period.
    pub fn from_state(config: &ControllerConfig, state: &ControllerState) -> Self {
        let mut cc = Self::with_config(config, state.max_datagram_size);
        cc.window = state.window.max(cc.minimum_window());
        cc.ssthresh = state.ssthresh.unwrap_or(u64::MAX);
        cc.recovery_start = state.recovery_start;
        cc.pristine = false;
        cc.smoothed_rtt = state.smoothed_rtt;
        cc.min_rtt = state.min_rtt;
        cc
    }

    /// The minimum window, in bytes (RFC 9002 §7.2: kMinimumWindow).
    pub fn minimum_window(&self) -> u64 {
        self.config.minimum_window(self.max_datagram_size)
    }

    /// When the current recovery period started, if one is active.
    pub fn recovery_start(&self) -> Option<Instant> {
        self.recovery_start
    }

    /// Whether a packet sent at `sent_time` was sent before the current recovery period
    /// started (RFC 9002 Appendix B.6, InCongestionRecovery).
    pub fn in_recovery(&self, sent_time: Instant) -> bool {
        self.recovery_start.is_some_and(|start| sent_time <= start)
    }
}

impl Controller for NewReno {
    fn on_packet_sent(&mut self, _now: Instant, _bytes: u64, _bytes_in_flight: u64) {
        // NewReno reacts to acknowledgements and losses only; the connection keeps bytes in
        // flight (RFC 9002 Appendix B.4).
    }

    fn on_packet_acked(&mut self, _now: Instant, acked: &AckedPacket) {
        self.pristine = false;
        self.smoothed_rtt = Some(acked.rtt.smoothed);
        self.min_rtt = Some(acked.rtt.min);
        // RFC 9002 §7.8: no growth while application-limited.
        if acked.app_limited {
            return;
        }
        // RFC 9002 §7.3.2: no growth from packets sent before the recovery period.
        if self.in_recovery(acked.sent_time) {
            return;
        }
        if self.window < self.ssthresh {
            // RFC 9002 §7.3.1: slow start.
            self.window = self.window.saturating_add(acked.bytes);
            return;
        }
        // RFC 9002 §7.3.3: congestion avoidance, one datagram per window acknowledged.
        self.avoidance_acked = self.avoidance_acked.saturating_add(acked.bytes);
        if self.avoidance_acked >= self.window {
            let windows = self.avoidance_acked / self.window;
            self.avoidance_acked -= windows * self.window;
            self.window = self
                .window
                .saturating_add(windows.saturating_mul(self.max_datagram_size));
        }
    }

    fn on_congestion_event(&mut self, now: Instant, event: &CongestionEvent) {
        self.pristine = false;
        // RFC 9002 §7.3.2: one reduction per recovery period.
        if !self.in_recovery(event.sent_time) {
            self.recovery_start = Some(now);
            self.ssthresh = self.window / LOSS_REDUCTION_DENOMINATOR * LOSS_REDUCTION_NUMERATOR;
            self.window = self.ssthresh.max(self.minimum_window());
            self.avoidance_acked = 0;
        }
        // RFC 9002 §7.6.2, Appendix B.8: persistent congestion collapses the window and ends
        // the recovery period.
        if event.persistent {
            self.window = self.minimum_window();
            self.recovery_start = None;
            self.avoidance_acked = 0;
        }
    }

    fn window(&self) -> u64 {
        self.window
    }

    fn in_slow_start(&self) -> bool {
        self.window < self.ssthresh
    }

    fn ssthresh(&self) -> Option<u64> {
        (self.ssthresh != u64::MAX).then_some(self.ssthresh)
    }

    fn kind(&self) -> ControllerKind {
        ControllerKind::NewReno
    }

    fn set_max_datagram_size(&mut self, size: u64) {
        self.max_datagram_size = size.max(1);
        if self.pristine {
            // RFC 9002 §7.2: the initial window is recalculated with the new size.
            self.window = self.config.initial_window(self.max_datagram_size);
        } else {
            self.window = self.window.max(self.minimum_window());
        }
    }

    fn state(&self) -> ControllerState {
        ControllerState {
            window: self.window,
            ssthresh: self.ssthresh(),
            max_datagram_size: self.max_datagram_size,
            recovery_start: self.recovery_start,
            smoothed_rtt: self.smoothed_rtt,
            min_rtt: self.min_rtt,
            bandwidth: None,
        }
    }
}

#[cfg(test)]
mod tests;
