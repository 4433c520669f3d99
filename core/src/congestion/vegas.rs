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
use super::window::{AckGrowth, Reduction, Window};
use super::{
    AckEvent, AckedPacket, CongestionEvent, Controller, ControllerConfig, ControllerKind,
    ControllerState, SpuriousCongestion,
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
    /// The bookkeeping shared with NewReno and CUBIC (`congestion/window.rs`).
    window: Window,
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
        Self::around(Window::new(config, max_datagram_size))
    }

    /// Vegas with a fresh round state around `window`.
    fn around(window: Window) -> Self {
        let cwnd = window.cwnd();
        Self {
            window,
            rounds: RoundTracker::new(),
            base_rtt: None,
            round_min_rtt: None,
            round_samples: 0,
            round_app_limited: false,
            growth_round: true,
            round_start_window: cwnd,
            previous_round_start_window: cwnd,
            last_diff: None,
        }
    }

    /// Vegas taking over from a controller whose [`state`](Controller::state) was `state`: same
    /// window (at least the minimum window), threshold, datagram size and recovery period, and
    /// the predecessor's minimum RTT as `baseRTT`.
    pub fn from_state(config: &ControllerConfig, state: &ControllerState) -> Self {
        let mut cc = Self::around(Window::from_state(config, state));
        cc.base_rtt = state.min_rtt;
        cc
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
        let segment = self.window.max_datagram_size();
        let slow_start = self.window.in_slow_start();
        let (Some(base), Some(rtt)) = (self.base_rtt, rtt) else {
            return;
        };
        if samples < MIN_ROUND_SAMPLES {
            // Linux tcp_vegas: too few samples for Vegas; Reno's rate for the round.
            if slow_start {
                self.growth_round = !self.growth_round;
            } else {
                self.window.grow(segment);
            }
            return;
        }
        // Slow start judges the window the measured packets were sent with (a growth round has
        // doubled it since); congestion avoidance the current one, as Linux does: it already
        // includes the last round's ±1 packet, which the measured RTT cannot show yet.
        let window = if slow_start {
            sent_window
        } else {
            self.window.cwnd()
        };
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
                self.window
                    .set_cwnd(self.window.cwnd().min(target.saturating_add(segment)));
                self.window
                    .lower_ssthresh(self.window.cwnd().saturating_sub(segment));
            } else {
                self.growth_round = !self.growth_round;
            }
            return;
        }
        if exceeds(BETA_PACKETS) {
            // More than β packets queued: one packet less per round trip.
            self.window
                .set_cwnd(self.window.cwnd().saturating_sub(segment));
            self.window
                .lower_ssthresh(self.window.cwnd().saturating_sub(segment));
        } else if numerator < u128::from(ALPHA_PACKETS) * denominator {
            // Fewer than α packets queued: one packet more per round trip.
            self.window.grow(segment);
        }
    }
}

impl Controller for Vegas {
    fn on_packet_sent(&mut self, now: Instant, _bytes: u64, _bytes_in_flight: u64) {
        self.rounds.on_packet_sent(now);
    }

    fn on_packet_acked(&mut self, _now: Instant, acked: &AckedPacket) {
        let growth = self.window.on_ack(acked);
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
            self.round_start_window = self.window.cwnd();
        }
        match growth {
            // An application-limited round's RTT says nothing about a full window.
            AckGrowth::AppLimited => self.round_app_limited = true,
            AckGrowth::InRecovery => {}
            // Slow start grows in every other round only; congestion avoidance once per round,
            // in `end_of_round`.
            AckGrowth::Grows => {
                if self.window.in_slow_start() && self.growth_round {
                    self.window.grow(acked.bytes);
                }
            }
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
        // Reno's halving, with the threshold floored at the minimum window too (Linux
        // tcp_vegas falls back to Reno, whose ssthresh is at least 2 segments).
        let response = self
            .window
            .on_congestion_event(now, event, |cwnd, minimum| {
                let ssthresh = (cwnd / LOSS_REDUCTION_DENOMINATOR).max(minimum);
                Reduction {
                    ssthresh,
                    cwnd: ssthresh,
                }
            });
        if response.reduced_from.is_some() || response.collapsed {
            // The rounds measured the old window: start measuring the new one, from a growth
            // round.
            self.growth_round = true;
            self.round_start_window = self.window.cwnd();
            self.previous_round_start_window = self.window.cwnd();
        }
    }

    fn on_spurious_congestion(&mut self, _now: Instant, event: &SpuriousCongestion) {
        if self.window.on_spurious_congestion(event) {
            self.growth_round = true;
            self.round_start_window = self.window.cwnd();
            self.previous_round_start_window = self.window.cwnd();
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
        ControllerKind::Vegas
    }

    fn set_max_datagram_size(&mut self, size: u64) {
        self.window.set_max_datagram_size(size);
    }

    fn state(&self) -> ControllerState {
        // baseRTT, not the last acknowledgement's minimum: it is what Vegas measured the path
        // against.
        ControllerState {
            min_rtt: self.base_rtt,
            ..self.window.state()
        }
    }
}

#[cfg(test)]
pub(crate) mod fake_path;
#[cfg(test)]
mod tests;
