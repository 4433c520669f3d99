//! The window bookkeeping that NewReno, CUBIC and Vegas share (RFC 9002 §7).
//!
//! The three loss-reacting controllers differ only in how the window grows and how far a
//! congestion event cuts it. Everything around those rules is RFC 9002's and lives here once:
//! the window and the slow-start threshold, the minimum and initial windows and their changes
//! with the datagram size (§7.2), the recovery period that allows one reduction per round trip
//! and keeps acknowledgements of older packets from growing the window (§7.3.2), the collapse
//! under persistent congestion (§7.6.2), the application-limited rule (§7.8), the undo of a
//! reduction every congestion event of whose recovery period turned out spurious (the
//! connection's `SpuriousLossDetector`; Linux's undo, RFC 4015's Eifel response), and what a
//! successor inherits on a live switch. Each controller embeds a [`Window`] and states its own
//! rule through [`Window::on_ack`] (may this acknowledgement grow the window?) and
//! [`Window::on_congestion_event`] (given the window, the controller's [`Reduction`]).
//!
//! The window is kept at or above the minimum window by construction: every write goes through
//! [`Window::set_cwnd`], which floors it, so no controller can forget the floor on one path.
//!
//! BBR is not built on this: its window is an output of its path model (DESIGN.md §4), not a
//! quantity that acknowledgements and losses move directly.

use std::time::{Duration, Instant};

use super::spurious_tally::{SpuriousTally, take_if_spurious};
use super::{AckedPacket, CongestionEvent, ControllerConfig, ControllerState, SpuriousCongestion};

/// What an acknowledgement may do to the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AckGrowth {
    /// The sender was application-limited when the packet left: the window must not grow
    /// (RFC 9002 §7.8), since the acknowledgement says nothing about a full window.
    AppLimited,
    /// The packet was sent before the current recovery period started: it belongs to the
    /// window the congestion event already cut, so it must not grow the new one (§7.3.2).
    InRecovery,
    /// The controller's growth rule applies (slow start or congestion avoidance).
    Grows,
}

/// A controller's answer to a congestion event that opens a recovery period: the new
/// slow-start threshold and window, in bytes. The window is floored at the minimum window; the
/// threshold is taken as given (NewReno's follows RFC 9002 Appendix B.6, which does not floor
/// it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Reduction {
    pub ssthresh: u64,
    pub cwnd: u64,
}

/// What a congestion event did to the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct CongestionResponse {
    /// The window before the reduction, if the event opened a new recovery period; `None` if
    /// it belonged to the current one (RFC 9002 §7.3.2: one reduction per round trip).
    pub reduced_from: Option<u64>,
    /// Whether persistent congestion collapsed the window to the minimum (§7.6.2).
    pub collapsed: bool,
}

/// What the last reduction replaced, to put back if every congestion event of its recovery
/// period turns out spurious (Linux's undo; RFC 4015's Eifel response restores the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Undo {
    cwnd: u64,
    ssthresh: u64,
    w_max: Option<u64>,
    /// The recovery period the reduction began.
    tally: SpuriousTally,
}

/// The congestion window and the RFC 9002 §7 state around it; see the [module
/// documentation](self).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Window {
    config: ControllerConfig,
    max_datagram_size: u64,
    cwnd: u64,
    /// `u64::MAX` while unset (RFC 9002 Appendix B.3: infinite), so that "in slow start" is a
    /// single comparison.
    ssthresh: u64,
    /// `congestion_recovery_start_time` (RFC 9002 Appendix B.2).
    recovery_start: Option<Instant>,
    /// The window just before the last reduction (RFC 9438's `W_max`; CUBIC lowers it for fast
    /// convergence). Kept for every controller so that a CUBIC successor resumes its concave
    /// approach instead of restarting; `None` before the first reduction and after persistent
    /// congestion, which make it undefined (RFC 9438 §4.8).
    w_max: Option<u64>,
    /// No acknowledgement or congestion seen yet: the window is still the initial window and
    /// must follow datagram-size changes (RFC 9002 §7.2).
    pristine: bool,
    smoothed_rtt: Option<Duration>,
    min_rtt: Option<Duration>,
    /// The last reduction, while it may still be undone.
    undo: Option<Undo>,
}

impl Window {
    /// The initial window of `config` for datagrams of `max_datagram_size` bytes (clamped to at
    /// least 1, so that the minimum window is never zero).
    pub(super) fn new(config: &ControllerConfig, max_datagram_size: u64) -> Self {
        let max_datagram_size = max_datagram_size.max(1);
        Self {
            config: config.clone(),
            max_datagram_size,
            cwnd: config.initial_window(max_datagram_size),
            ssthresh: u64::MAX,
            recovery_start: None,
            w_max: None,
            pristine: true,
            smoothed_rtt: None,
            min_rtt: None,
            undo: None,
        }
    }

    /// The window a successor inherits from a predecessor whose state was `state`: its window
    /// (at least the minimum), threshold, recovery period (so that losses from before the
    /// switch are not punished twice), `W_max` and RTT estimates.
    pub(super) fn from_state(config: &ControllerConfig, state: &ControllerState) -> Self {
        let mut window = Self::new(config, state.max_datagram_size);
        window.set_cwnd(state.window);
        window.ssthresh = state.ssthresh.unwrap_or(u64::MAX);
        window.recovery_start = state.recovery_start;
        window.w_max = state.w_max;
        window.pristine = false;
        window.smoothed_rtt = state.smoothed_rtt;
        window.min_rtt = state.min_rtt;
        window
    }

    /// The congestion window, in bytes.
    pub(super) fn cwnd(&self) -> u64 {
        self.cwnd
    }

    /// Sets the window, floored at the minimum window.
    pub(super) fn set_cwnd(&mut self, bytes: u64) {
        self.cwnd = bytes.max(self.minimum_window());
    }

    /// Grows the window by `bytes` (saturating).
    pub(super) fn grow(&mut self, bytes: u64) {
        self.cwnd = self.cwnd.saturating_add(bytes);
    }

    /// The maximum datagram size, in bytes (at least 1).
    pub(super) fn max_datagram_size(&self) -> u64 {
        self.max_datagram_size
    }

    /// RFC 9002 §7.2: kMinimumWindow for the current datagram size.
    pub(super) fn minimum_window(&self) -> u64 {
        self.config.minimum_window(self.max_datagram_size)
    }

    /// The slow-start threshold, once set.
    pub(super) fn ssthresh(&self) -> Option<u64> {
        (self.ssthresh != u64::MAX).then_some(self.ssthresh)
    }

    /// Sets the slow-start threshold.
    pub(super) fn set_ssthresh(&mut self, bytes: u64) {
        self.ssthresh = bytes;
    }

    /// Lowers the slow-start threshold to `bytes` if it is above.
    pub(super) fn lower_ssthresh(&mut self, bytes: u64) {
        self.ssthresh = self.ssthresh.min(bytes);
    }

    /// Whether the window is below the threshold (RFC 9002 §7.3.1).
    pub(super) fn in_slow_start(&self) -> bool {
        self.cwnd < self.ssthresh
    }

    /// When the current recovery period started, if one is active.
    pub(super) fn recovery_start(&self) -> Option<Instant> {
        self.recovery_start
    }

    /// RFC 9002 Appendix B.6, InCongestionRecovery: whether a packet sent at `sent_time` was
    /// sent before the current recovery period started.
    pub(super) fn in_recovery(&self, sent_time: Instant) -> bool {
        self.recovery_start.is_some_and(|start| sent_time <= start)
    }

    /// The window just before the last reduction (RFC 9438's `W_max`), if defined.
    pub(super) fn w_max(&self) -> Option<u64> {
        self.w_max
    }

    /// Replaces `W_max` (CUBIC: fast convergence, or the window at the start of an epoch
    /// when it was undefined).
    pub(super) fn set_w_max(&mut self, w_max: Option<u64>) {
        self.w_max = w_max;
    }

    /// Whether nothing has been acknowledged or lost yet.
    pub(super) fn is_pristine(&self) -> bool {
        self.pristine
    }

    /// Notes an acknowledged in-flight packet and says whether the controller's growth rule
    /// may apply to it.
    pub(super) fn on_ack(&mut self, acked: &AckedPacket) -> AckGrowth {
        self.pristine = false;
        self.smoothed_rtt = Some(acked.rtt.smoothed);
        self.min_rtt = Some(acked.rtt.min);
        if acked.app_limited {
            AckGrowth::AppLimited
        } else if self.in_recovery(acked.sent_time) {
            AckGrowth::InRecovery
        } else {
            AckGrowth::Grows
        }
    }

    /// Reacts to a congestion event. If it opens a new recovery period (RFC 9002 §7.3.2),
    /// `reduce` — given the window before the reduction and the minimum window — is the
    /// controller's cut, and `W_max` becomes the window before it. Persistent congestion then
    /// collapses the window to the minimum and ends the recovery period (§7.6.2, Appendix B.8),
    /// which leaves `W_max` undefined (RFC 9438 §4.8).
    pub(super) fn on_congestion_event(
        &mut self,
        now: Instant,
        event: &CongestionEvent,
        reduce: impl FnOnce(u64, u64) -> Reduction,
    ) -> CongestionResponse {
        self.pristine = false;
        let mut response = CongestionResponse {
            reduced_from: None,
            collapsed: false,
        };
        if !self.in_recovery(event.sent_time) {
            let before = self.cwnd;
            self.undo = Some(Undo {
                cwnd: before,
                ssthresh: self.ssthresh,
                w_max: self.w_max,
                tally: SpuriousTally::new(now),
            });
            self.recovery_start = Some(now);
            let Reduction { ssthresh, cwnd } = reduce(before, self.minimum_window());
            self.ssthresh = ssthresh;
            self.set_cwnd(cwnd);
            self.w_max = Some(before);
            response.reduced_from = Some(before);
        } else if let Some(undo) = self.undo.as_mut() {
            undo.tally.note_event();
        }
        if event.persistent {
            self.cwnd = self.minimum_window();
            self.recovery_start = None;
            self.w_max = None;
            self.undo = None;
            response.collapsed = true;
        }
        response
    }

    /// A congestion event turned out spurious. Once every event since the last reduction has
    /// (an ECN-CE mark never does), the reduction is undone: the window, threshold and `W_max`
    /// it replaced come back, and the recovery period ends. Returns whether it undid.
    pub(super) fn on_spurious_congestion(&mut self, event: &SpuriousCongestion) -> bool {
        let Some(undo) = take_if_spurious(&mut self.undo, event, |u| &mut u.tally) else {
            return false;
        };
        self.cwnd = self.cwnd.max(undo.cwnd);
        self.ssthresh = undo.ssthresh;
        self.w_max = undo.w_max;
        self.recovery_start = None;
        true
    }

    /// The maximum datagram size changed (path MTU discovery); returns whether it did. A
    /// pristine window is recomputed as the initial window for the new size (RFC 9002 §7.2);
    /// any other keeps its bytes, raised to the new minimum window if below.
    pub(super) fn set_max_datagram_size(&mut self, size: u64) -> bool {
        let size = size.max(1);
        if size == self.max_datagram_size {
            return false;
        }
        self.max_datagram_size = size;
        if self.pristine {
            self.cwnd = self.config.initial_window(size);
        } else {
            self.set_cwnd(self.cwnd);
        }
        true
    }

    /// What a successor needs (see [`ControllerState`]); controllers with more to hand over
    /// (Vegas's `baseRTT`) override fields.
    pub(super) fn state(&self) -> ControllerState {
        ControllerState {
            window: self.cwnd,
            ssthresh: self.ssthresh(),
            max_datagram_size: self.max_datagram_size,
            recovery_start: self.recovery_start,
            smoothed_rtt: self.smoothed_rtt,
            min_rtt: self.min_rtt,
            bandwidth: None,
            w_max: self.w_max,
        }
    }
}
