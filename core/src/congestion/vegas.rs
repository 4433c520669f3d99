//! TCP Vegas (Brakmo & Peterson 1995), as Linux `tcp_vegas` runs it, in bytes.
//!
//! Vegas keeps a small, steady queue at the bottleneck instead of filling it until a loss.
//! Once per round trip it compares the rate the window would achieve on an empty path,
//! `expected = cwnd / baseRTT`, with the rate it achieved, `actual = cwnd / RTT` (`RTT` the
//! round's minimum RTT sample), and turns the difference into packets queued in the network:
//!
//! ```text
//! diff = (expected − actual) × baseRTT = cwnd × (RTT − baseRTT) / RTT   (in packets)
//! ```
//!
//! In congestion avoidance it adds a packet per round trip while `diff < α`, removes one while
//! `diff > β`, and holds between them, so the standing queue settles between α = 2 and β = 4
//! packets. In slow start it doubles the window only every other round trip (holding it in
//! between, so that the RTT of a fixed window can be measured) and leaves slow start as soon as
//! `diff > γ` = 1 packet, cutting the window to `min(cwnd, target + 1 packet)` where
//! `target = cwnd × baseRTT / RTT` is the window that would fill the path without a queue.
//!
//! ## Differences from Linux `tcp_vegas`
//!
//! The constants (α = 2, β = 4, γ = 1 packet), the once-per-round adjustment from the round's
//! minimum RTT, the fallback to Reno for rounds with fewer than three RTT samples, the
//! slow-start exit to `min(cwnd, target + 1)` with `ssthresh = min(ssthresh, cwnd − 1)`, and the
//! Reno reaction to loss are Linux's. Where weir differs, and why:
//!
//! 1. **`diff` is the queue, scaled by `baseRTT`.** We compute `diff = cwnd × (RTT − baseRTT) /
//!    RTT` — Brakmo & Peterson's `(expected − actual) × baseRTT`, which is exactly the number of
//!    packets queued at the bottleneck when the whole window is in flight. Linux computes
//!    `cwnd × (RTT − baseRTT) / baseRTT`, i.e. `(expected − actual) × RTT`, larger by the factor
//!    `RTT / baseRTT`: on a path with a large queueing delay relative to its base RTT Linux
//!    settles on a smaller queue than α..β packets.
//! 2. **In slow start, `cwnd` is the window the measured packets were sent with.** With an ACK
//!    clock the acknowledgements of a round are of packets sent during the round before, so in
//!    slow start `diff` and `target` use the window at the start of the previous round. Linux
//!    uses the current window, which after a growth round is twice the window whose RTT was
//!    measured, so its `target` can be twice the path's capacity (on the fake path with a
//!    1001-packet BDP: slow start ends at 2003 packets with the current window and overflows a
//!    one-BDP buffer, at 1002 packets with ours). In congestion avoidance we use the current
//!    window, as Linux does; the two differ by the last round's ±1 packet only.
//!
//!    Either way a change of the window shows in the RTT two round ends later (the round after
//!    the change carries packets sent before it), so Vegas stops up to two packets past the
//!    bound it approaches: on the fake path, growing from the slow-start exit, the queue
//!    settles at 4 packets (β, held because the comparison is strict).
//! 3. **Exact comparisons.** Linux truncates `diff` to whole packets before comparing, so its
//!    `diff > β` fires only from β + 1 packets; we compare the exact fraction
//!    (`cwnd × (RTT − baseRTT) > β × segment × RTT` in integers), so the window shrinks as soon
//!    as the queue exceeds β.
//! 4. **Slow start grows every other round trip**, as in Brakmo & Peterson's modified slow
//!    start (exponential growth in one round, a fixed window in the next so that its RTT can be
//!    measured); Linux grows on every acknowledgement of every round and tests γ once per round.
//! 5. **Rounds with too few samples.** For a round with fewer than three RTT samples Linux
//!    falls back to Reno's increase; we apply Reno's congestion-avoidance rate for the round,
//!    one datagram, and nothing beyond the usual growth in slow start.
//! 6. **Bytes, not packets.** Windows are bytes; "a packet" is the maximum datagram size, and
//!    the minimum window is the configured one (RFC 9002 §7.2: 2 datagrams, Linux's floor too).
//! 7. **Samples and baseRTT.** An RTT sample is RFC 9002's `latest_rtt` of each ACK frame that
//!    produced one (not adjusted for the peer's ACK delay; Linux takes one sample per ACK).
//!    `baseRTT` is the connection's minimum RTT (RFC 9002 §5.2), never reset by Vegas itself.
//! 8. **Loss recovery** follows RFC 9002 §7.3.2: a loss or ECN-CE halves the window once per
//!    recovery period (floored at the minimum window); acknowledgements of packets sent before
//!    the period started neither grow the window nor end a Vegas round with an adjustment, and
//!    persistent congestion collapses the window to the minimum (§7.6.2).
//! 9. **Application-limited rounds** (RFC 9002 §7.8): a round with an application-limited
//!    acknowledgement makes no adjustment (its RTT says nothing about a full window), and
//!    application-limited acknowledgements do not grow the window in slow start.

use std::time::{Duration, Instant};

use super::hystart::RoundTracker;
use super::{
    AckEvent, AckedPacket, CongestionEvent, Controller, ControllerConfig, ControllerKind,
    ControllerState,
};

/// Linux `tcp_vegas` (module parameter `alpha`); Brakmo & Peterson 1995, "Congestion Avoidance
/// Mechanism": below α = 2 packets queued the window grows by a packet per round trip.
pub const ALPHA_PACKETS: u64 = 2;
/// Linux `tcp_vegas` (module parameter `beta`); Brakmo & Peterson 1995, "Congestion Avoidance
/// Mechanism": above β = 4 packets queued the window shrinks by a packet per round trip.
pub const BETA_PACKETS: u64 = 4;
/// Linux `tcp_vegas` (module parameter `gamma`); Brakmo & Peterson 1995, "Modified Slow-Start
/// Mechanism": above γ = 1 packet queued slow start ends.
pub const GAMMA_PACKETS: u64 = 1;
/// Linux `tcp_vegas`: a round needs at least three RTT samples for the Vegas computation;
/// with fewer it behaves like Reno.
pub const MIN_ROUND_SAMPLES: u32 = 3;

/// RFC 9002 §7.3.2, Appendix B.1: kLossReductionFactor = 0.5 (Reno's halving on loss).
const LOSS_REDUCTION_DENOMINATOR: u64 = 2;

/// The Vegas congestion controller (Brakmo & Peterson 1995, as Linux `tcp_vegas`); see the
/// [module documentation](self) for the algorithm and its differences from Linux.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vegas {
    config: ControllerConfig,
    max_datagram_size: u64,
    window: u64,
    /// `u64::MAX` while unset (infinite).
    ssthresh: u64,
    /// `congestion_recovery_start_time` (RFC 9002 Appendix B.2).
    recovery_start: Option<Instant>,
    rounds: RoundTracker,
    /// The connection's minimum RTT.
    base_rtt: Option<Duration>,
    /// The minimum RTT sample of the current round.
    round_min_rtt: Option<Duration>,
    /// RTT samples in the current round.
    round_samples: u32,
    /// Whether an acknowledgement of the current round was application-limited.
    round_app_limited: bool,
    /// Slow start: whether this round grows the window (every other round does).
    growth_round: bool,
    /// The window when the current round started.
    round_start_window: u64,
    /// The window when the previous round started: the window the packets acknowledged in the
    /// current round were sent with.
    previous_round_start_window: u64,
    /// The last round's queue estimate: `cwnd × (RTT − baseRTT)` and `RTT × segment`
    /// (numerator and denominator of `diff` in packets).
    last_diff: Option<(u128, u128)>,
    /// Whether no acknowledgement or congestion has been seen yet (RFC 9002 §7.2).
    pristine: bool,
    smoothed_rtt: Option<Duration>,
}

/// `window × (rtt − base)` and `rtt × segment`: `diff` in packets as a fraction
/// `numerator / denominator` (the denominator is 0 only for a zero RTT).
fn diff_fraction(window: u64, base: Duration, rtt: Duration, segment: u64) -> (u128, u128) {
    let queueing = rtt.saturating_sub(base).as_nanos();
    (
        u128::from(window) * queueing,
        rtt.as_nanos() * u128::from(segment),
    )
}

impl Vegas {
    /// Vegas with RFC 9002's initial and minimum windows for datagrams of `max_datagram_size`
    /// bytes.
    pub fn new(max_datagram_size: u64) -> Self {
        Self::with_config(
            &ControllerConfig::new(ControllerKind::Vegas),
            max_datagram_size,
        )
    }

    /// Vegas with the windows of `config` (its `kind` is ignored) for datagrams of
    /// `max_datagram_size` bytes (clamped to at least 1).
    pub fn with_config(config: &ControllerConfig, max_datagram_size: u64) -> Self {
        let max_datagram_size = max_datagram_size.max(1);
        let window = config.initial_window(max_datagram_size);
        Self {
            config: config.clone(),
            max_datagram_size,
            window,
            ssthresh: u64::MAX,
            recovery_start: None,
            rounds: RoundTracker::new(),
            base_rtt: None,
            round_min_rtt: None,
            round_samples: 0,
            round_app_limited: false,
            growth_round: true,
            round_start_window: window,
            previous_round_start_window: window,
            last_diff: None,
            pristine: true,
            smoothed_rtt: None,
        }
    }

    /// Vegas taking over from a controller whose [`state`](Controller::state) was `state`: same
    /// window (at least the minimum window), threshold, datagram size and recovery period, and
    /// the predecessor's minimum RTT as `baseRTT`.
    pub fn from_state(config: &ControllerConfig, state: &ControllerState) -> Self {
        let mut cc = Self::with_config(config, state.max_datagram_size);
        cc.window = state.window.max(cc.minimum_window());
        cc.round_start_window = cc.window;
        cc.previous_round_start_window = cc.window;
        cc.ssthresh = state.ssthresh.unwrap_or(u64::MAX);
        cc.recovery_start = state.recovery_start;
        cc.base_rtt = state.min_rtt;
        cc.smoothed_rtt = state.smoothed_rtt;
        cc.pristine = false;
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

    /// `baseRTT`: the minimum RTT seen, once there is a sample.
    pub fn base_rtt(&self) -> Option<Duration> {
        self.base_rtt
    }

    /// The queue estimate `diff` of the last round that made the Vegas computation, in
    /// packets (for statistics and tests).
    pub fn last_diff_packets(&self) -> Option<f64> {
        self.last_diff
            .filter(|&(_, denominator)| denominator > 0)
            .map(|(numerator, denominator)| numerator as f64 / denominator as f64)
    }

    /// The number of rounds started so far.
    pub fn round(&self) -> u64 {
        self.rounds.round()
    }

    /// The once-per-round Vegas adjustment, for a round with `samples` RTT samples whose
    /// minimum was `rtt`, of packets sent with a window of `sent_window` bytes.
    fn end_of_round(&mut self, samples: u32, rtt: Option<Duration>, sent_window: u64) {
        let segment = self.max_datagram_size;
        let slow_start = self.window < self.ssthresh;
        let (Some(base), Some(rtt)) = (self.base_rtt, rtt) else {
            return;
        };
        if samples < MIN_ROUND_SAMPLES {
            // Linux tcp_vegas: too few samples for Vegas; Reno's rate for the round.
            if slow_start {
                self.growth_round = !self.growth_round;
            } else {
                self.window = self.window.saturating_add(segment);
            }
            return;
        }
        // Slow start judges the window the measured packets were sent with (a growth round has
        // doubled it since); congestion avoidance the current one, as Linux does: it already
        // includes the last round's ±1 packet, which the measured RTT cannot show yet.
        let window = if slow_start { sent_window } else { self.window };
        let (numerator, denominator) = diff_fraction(window, base, rtt, segment);
        self.last_diff = Some((numerator, denominator));
        let exceeds = |packets: u64| numerator > u128::from(packets) * denominator;
        if slow_start {
            if exceeds(GAMMA_PACKETS) {
                // Leave slow start: cwnd = min(cwnd, target + 1 packet), with target =
                // window × baseRTT / RTT the window that fills the path without a queue; and
                // ssthresh = min(ssthresh, cwnd − 1 packet) so that avoidance follows.
                let target = u128::from(sent_window) * base.as_nanos() / rtt.as_nanos().max(1);
                let target = u64::try_from(target).unwrap_or(u64::MAX);
                self.window = self
                    .window
                    .min(target.saturating_add(segment))
                    .max(self.minimum_window());
                self.ssthresh = self.ssthresh.min(self.window.saturating_sub(segment));
            } else {
                self.growth_round = !self.growth_round;
            }
            return;
        }
        if exceeds(BETA_PACKETS) {
            // More than β packets queued: one packet less per round trip.
            self.window = self
                .window
                .saturating_sub(segment)
                .max(self.minimum_window());
            self.ssthresh = self.ssthresh.min(self.window.saturating_sub(segment));
        } else if numerator < u128::from(ALPHA_PACKETS) * denominator {
            // Fewer than α packets queued: one packet more per round trip.
            self.window = self.window.saturating_add(segment);
        }
    }
}

impl Controller for Vegas {
    fn on_packet_sent(&mut self, now: Instant, _bytes: u64, _bytes_in_flight: u64) {
        self.rounds.on_packet_sent(now);
    }

    fn on_packet_acked(&mut self, _now: Instant, acked: &AckedPacket) {
        self.pristine = false;
        self.smoothed_rtt = Some(acked.rtt.smoothed);
        // The first acknowledged packet sent after the round began ends the round: adjust from
        // the round's samples before this packet counts (its frame's RTT sample, delivered in
        // `on_ack_event`, belongs to the next round: the packet was sent with its window).
        if self.rounds.on_ack(acked.sent_time) {
            let samples = std::mem::take(&mut self.round_samples);
            let rtt = self.round_min_rtt.take();
            let app_limited = std::mem::take(&mut self.round_app_limited);
            if !app_limited && !self.in_recovery(acked.sent_time) {
                self.end_of_round(samples, rtt, self.previous_round_start_window);
            }
            self.previous_round_start_window = self.round_start_window;
            self.round_start_window = self.window;
        }
        // RFC 9002 §7.8: no growth while application-limited; §7.3.2: nor from packets sent
        // before the recovery period.
        if acked.app_limited {
            self.round_app_limited = true;
            return;
        }
        if self.in_recovery(acked.sent_time) {
            return;
        }
        // Slow start grows in every other round only; congestion avoidance once per round.
        if self.window < self.ssthresh && self.growth_round {
            self.window = self.window.saturating_add(acked.bytes);
        }
    }

    fn on_ack_event(&mut self, _now: Instant, event: &AckEvent) {
        if event.app_limited {
            self.round_app_limited = true;
        }
        if event.rtt_sampled {
            let sample = event.rtt.latest;
            let base = self.base_rtt.map_or(sample, |base| base.min(sample));
            self.base_rtt = Some(base.min(event.rtt.min));
            self.round_min_rtt = Some(self.round_min_rtt.map_or(sample, |m| m.min(sample)));
            self.round_samples = self.round_samples.saturating_add(1);
        }
    }

    fn on_congestion_event(&mut self, now: Instant, event: &CongestionEvent) {
        self.pristine = false;
        // RFC 9002 §7.3.2: one Reno halving per recovery period.
        if !self.in_recovery(event.sent_time) {
            self.recovery_start = Some(now);
            self.ssthresh = (self.window / LOSS_REDUCTION_DENOMINATOR).max(self.minimum_window());
            self.window = self.ssthresh;
            self.growth_round = true;
            self.round_start_window = self.window;
            self.previous_round_start_window = self.window;
        }
        // RFC 9002 §7.6.2: persistent congestion collapses the window.
        if event.persistent {
            self.window = self.minimum_window();
            self.recovery_start = None;
            self.growth_round = true;
            self.round_start_window = self.window;
            self.previous_round_start_window = self.window;
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
        ControllerKind::Vegas
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
            min_rtt: self.base_rtt,
            bandwidth: None,
        }
    }
}

#[cfg(test)]
pub(crate) mod fake_path;
#[cfg(test)]
mod tests;
