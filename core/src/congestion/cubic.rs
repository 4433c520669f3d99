//! CUBIC congestion control (RFC 9438), with HyStart++ (RFC 9406) for the first slow start.

use std::time::{Duration, Instant};

use super::hystart::{HyStart, HyStartPhase};
use super::window::{AckGrowth, Reduction, Window};
use super::{
    AckEvent, AckedPacket, CongestionEvent, Controller, ControllerConfig, ControllerKind,
    ControllerState, SpuriousCongestion,
};

/// RFC 9438 §4.1.1, §5.1: C = 0.4 segments per second³, the aggressiveness of the cubic
/// increase ("C SHOULD be set to 0.4").
pub const CUBIC_C: f64 = 0.4;

/// RFC 9438 §4.6: β_cubic = 0.7, the multiplicative decrease factor ("SHOULD be set to 0.7").
pub const BETA_CUBIC: f64 = 0.7;

/// RFC 9438 §4.3: α_cubic = 3 × (1 − β_cubic) / (1 + β_cubic), the additive increase (segments
/// per RTT) of the Reno-friendly estimate, so that CUBIC's average window matches Reno's.
pub const ALPHA_CUBIC: f64 = 3.0 * (1.0 - BETA_CUBIC) / (1.0 + BETA_CUBIC);

/// RFC 9438 §4.6: β_cubic = 0.7 as an exact fraction for the byte arithmetic of the decrease
/// (numerator)…
const BETA_NUMERATOR: u64 = 7;
/// …and denominator.
const BETA_DENOMINATOR: u64 = 10;

/// RFC 9438 §4.7: fast convergence sets W_max = cwnd × (1 + β_cubic) / 2 = cwnd × 17 / 20
/// (numerator)…
const FAST_CONVERGENCE_NUMERATOR: u64 = BETA_DENOMINATOR + BETA_NUMERATOR;
/// …and denominator.
const FAST_CONVERGENCE_DENOMINATOR: u64 = 2 * BETA_DENOMINATOR;

/// RFC 9438 §4.2: the target window is at most 1.5 × cwnd, so that the increase stays below
/// slow start's.
const TARGET_CAP: f64 = 1.5;

/// The CUBIC congestion controller (RFC 9438) in bytes, with HyStart++ (RFC 9406).
///
/// The RFC counts windows in segments; here every window is in bytes and a segment is the
/// maximum datagram size, so the cubic function is
/// `W_cubic(t) = C × max_datagram_size × (t − K)³ + W_max` (RFC 9438 §4.1: "Implementations can
/// use bytes to express window sizes, which would require factoring in the maximum segment
/// size wherever necessary").
///
/// - **Slow start** (§4.10): the first slow start is HyStart++ ([`HyStart`]): standard slow
///   start until the minimum RTT of a round rises by the RFC 9406 threshold, then Conservative
///   Slow Start, and congestion avoidance with `ssthresh = cwnd` after CSS. As §4.10 requires
///   when HyStart++ ends slow start without a loss, `cwnd_prior = cwnd`, `W_max` is the window
///   at the start of congestion avoidance and `K = 0`. Later slow starts (after persistent
///   congestion) are standard slow start up to `ssthresh` (RFC 9406 §4.3).
/// - **Congestion avoidance** (§4.2–§4.5): an epoch starts with the first acknowledgement that
///   may grow the window in congestion avoidance (after slow start, or when the recovery period
///   of a congestion event ends). Per acknowledged packet of `n` bytes the Reno-friendly
///   estimate grows by `α × max_datagram_size × n / cwnd` (Figure 4, with α = 1 once
///   `W_est ≥ cwnd_prior`); if `W_cubic(t) < W_est` the window becomes `W_est` (Reno-friendly
///   region), otherwise it grows by `(target − cwnd) × n / cwnd` towards
///   `target = W_cubic(t + smoothed RTT)` clamped to `[cwnd, 1.5 × cwnd]` (concave region below
///   `W_max`, convex above). Fractions of a byte carry over between acknowledgements.
/// - **Congestion event** (§4.6, §4.7): loss or ECN-CE. Fast convergence first: `W_max` becomes
///   `cwnd × (1 + β) / 2` if the window is below the previous `W_max` (the available capacity
///   shrank), else `cwnd`; then `cwnd_prior = cwnd`, `ssthresh = max(cwnd × β, minimum window)`
///   and `cwnd = ssthresh`. A recovery period starts as in RFC 9002 §7.3.2: one reduction per
///   round trip — losses of packets sent before the period started do not reduce the window
///   again, and their acknowledgements do not grow it.
/// - **Persistent congestion** (RFC 9002 §7.6.2, RFC 9438 §4.8): the window collapses to the
///   minimum window, with `ssthresh` from β as above; the next epoch uses `K = 0` and
///   `W_max` = the window at its start.
/// - **Application-limited** (RFC 9002 §7.8, RFC 9438 §5.8): acknowledgements that arrive while
///   the sender is application-limited grow neither the window nor `W_est`, and the time from
///   the first such acknowledgement to the next cwnd-limited one is cut out of the epoch, so
///   that `t` does not count idle or application-limited time.
/// - **Live switch**: `W_max` is part of [`ControllerState`], so a switch away from CUBIC and
///   back (or from a loss-based controller, whose `W_max` is its window before its last
///   reduction) resumes the approach to it.
/// - Spurious congestion events (§4.9) are not undone.
#[derive(Debug, Clone, PartialEq)]
pub struct Cubic {
    /// The bookkeeping shared with NewReno and Vegas (`congestion/window.rs`), `W_max`
    /// included: `None` while undefined (no congestion event yet, or after persistent
    /// congestion), when the next epoch uses its starting window (§4.8, §4.10).
    window: Window,
    hystart: HyStart,
    /// `cwnd_prior` in bytes: the window when `ssthresh` was last set (§4.3, §4.6).
    cwnd_prior: u64,
    /// The current congestion-avoidance stage, once it has started.
    epoch: Option<Epoch>,
    /// When the sender became application-limited during the current epoch.
    app_limited_since: Option<Instant>,
    /// `(target − cwnd) × acked` left over from the last increase (less than the window).
    growth_remainder: u128,
    /// §4.7: whether fast convergence is on.
    fast_convergence: bool,
}

/// One congestion-avoidance stage (RFC 9438 §4.1.2).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Epoch {
    /// `t_epoch`, moved forward by application-limited periods (§5.8).
    start: Instant,
    /// `cwnd_epoch` in bytes.
    cwnd_start: u64,
    /// `W_max` in bytes, as the epoch uses it.
    w_max: f64,
    /// `K` in seconds (Figure 2).
    k: f64,
    /// `W_est` in bytes (Figure 4).
    w_est: f64,
}

impl Epoch {
    fn new(start: Instant, cwnd_start: u64, w_max: f64, max_datagram_size: u64) -> Self {
        Self {
            start,
            cwnd_start,
            w_max,
            k: k_seconds(w_max, cwnd_start as f64, max_datagram_size),
            w_est: cwnd_start as f64,
        }
    }

    /// `W_cubic(t)` in bytes, `t` in seconds since the epoch started.
    fn w_cubic(&self, t: f64, max_datagram_size: u64) -> f64 {
        w_cubic_bytes(t, self.k, self.w_max, max_datagram_size)
    }
}

/// RFC 9438 §4.2, Figure 1, in bytes: `W_cubic(t) = C × max_datagram_size × (t − K)³ + W_max`,
/// with `t` and `K` in seconds and `W_max` in bytes.
pub fn w_cubic_bytes(t: f64, k: f64, w_max: f64, max_datagram_size: u64) -> f64 {
    let offset = t - k;
    CUBIC_C * max_datagram_size as f64 * offset * offset * offset + w_max
}

/// RFC 9438 §4.2, Figure 2, in bytes: `K = ∛((W_max − cwnd_epoch) / (C × max_datagram_size))`
/// seconds, the time the cubic function takes to grow from `cwnd_epoch` to `W_max`. Negative
/// when the epoch starts above `W_max` (the curve then starts in its convex part); 0 for a zero
/// datagram size.
pub fn k_seconds(w_max: f64, cwnd_epoch: f64, max_datagram_size: u64) -> f64 {
    if max_datagram_size == 0 {
        return 0.0;
    }
    ((w_max - cwnd_epoch) / (CUBIC_C * max_datagram_size as f64)).cbrt()
}

/// `value × numerator / denominator` in exact integer arithmetic, rounded down.
fn scale(value: u64, numerator: u64, denominator: u64) -> u64 {
    let scaled = u128::from(value) * u128::from(numerator) / u128::from(denominator.max(1));
    u64::try_from(scaled).unwrap_or(u64::MAX)
}

/// A non-negative, finite `f64` number of bytes as a `u64`, rounded down (NaN is 0).
fn bytes_from_f64(value: f64) -> u64 {
    // `as` saturates at the bounds and maps NaN to 0.
    value as u64
}

impl Cubic {
    /// CUBIC with RFC 9002's initial and minimum windows for datagrams of `max_datagram_size`
    /// bytes.
    pub fn new(max_datagram_size: u64) -> Self {
        Self::with_config(
            &ControllerConfig::new(ControllerKind::Cubic),
            max_datagram_size,
        )
    }

    /// CUBIC with the windows of `config` (its `kind` is ignored) for datagrams of
    /// `max_datagram_size` bytes (clamped to at least 1).
    pub fn with_config(config: &ControllerConfig, max_datagram_size: u64) -> Self {
        Self::around(Window::new(config, max_datagram_size))
    }

    /// CUBIC in its first slow start around `window`.
    fn around(window: Window) -> Self {
        let cwnd_prior = window.cwnd();
        Self {
            window,
            hystart: HyStart::new(),
            cwnd_prior,
            epoch: None,
            app_limited_since: None,
            growth_remainder: 0,
            fast_convergence: true,
        }
    }

    /// CUBIC taking over from a controller whose [`state`](Controller::state) was `state`: same
    /// window (at least the minimum window), threshold, datagram size, recovery period and
    /// `W_max`.
    ///
    /// A successor in congestion avoidance starts an epoch at the inherited window towards the
    /// inherited `W_max` — concave below it, as after CUBIC's own reduction, convex above — so
    /// that a switch away from CUBIC and back does not forget the path's last known capacity.
    /// With `W_max` undefined (the predecessor never reduced its window, or it was BBR) the
    /// epoch uses `K = 0` and `W_max` = the inherited window, as RFC 9438 §4.10 does: a short
    /// plateau at the known capacity, then convex probing. [`ControllerState`] carries no
    /// `cwnd_prior`; the larger of the window and `W_max` stands in for it (the window before
    /// the last reduction, less fast convergence). A successor with no threshold (the
    /// predecessor was still in its first slow start) runs HyStart++ from a fresh round.
    pub fn from_state(config: &ControllerConfig, state: &ControllerState) -> Self {
        let mut cc = Self::around(Window::from_state(config, state));
        cc.cwnd_prior = cc.window.cwnd().max(state.w_max.unwrap_or(0));
        if state.ssthresh.is_some() {
            cc.hystart = HyStart::done();
        }
        cc
    }

    /// Turns fast convergence (RFC 9438 §4.7) on or off; it is on by default. The RFC says it
    /// SHOULD be disabled on a path that carries a single CUBIC flow and no other traffic.
    pub fn set_fast_convergence(&mut self, enabled: bool) {
        self.fast_convergence = enabled;
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

    /// `W_max` in bytes, once defined.
    pub fn w_max(&self) -> Option<u64> {
        self.window.w_max()
    }

    /// `cwnd_prior` in bytes: the window when the threshold was last set (RFC 9438 §4.3).
    pub fn cwnd_prior(&self) -> u64 {
        self.cwnd_prior
    }

    /// `K` of the current congestion-avoidance epoch, if one has started (RFC 9438 §4.2).
    /// Zero when the epoch started at or above `W_max`.
    pub fn k(&self) -> Option<Duration> {
        self.epoch
            .map(|epoch| Duration::try_from_secs_f64(epoch.k.max(0.0)).unwrap_or(Duration::MAX))
    }

    /// `W_cubic(t)` in bytes for `t` since the start of the current epoch (RFC 9438 §4.2,
    /// Figure 1), if one has started; 0 where the curve is below zero.
    pub fn w_cubic(&self, t: Duration) -> Option<u64> {
        let mds = self.window.max_datagram_size();
        self.epoch
            .map(|epoch| bytes_from_f64(epoch.w_cubic(t.as_secs_f64(), mds)))
    }

    /// The Reno-friendly estimate `W_est` in bytes, if an epoch has started (RFC 9438 §4.3).
    pub fn w_est(&self) -> Option<u64> {
        self.epoch.map(|epoch| bytes_from_f64(epoch.w_est))
    }

    /// Ends the congestion-avoidance epoch and what it measured, so that the next
    /// acknowledgement starts one from the window as it now is (after a reduction, or after
    /// its undo).
    fn end_epoch(&mut self) {
        self.epoch = None;
        self.app_limited_since = None;
        self.growth_remainder = 0;
    }

    /// When the current epoch started, shifted forward by application-limited periods, if one
    /// has started.
    pub fn epoch_start(&self) -> Option<Instant> {
        self.epoch.map(|epoch| epoch.start)
    }

    /// The window at the start of the current epoch (`cwnd_epoch`), if one has started.
    pub fn epoch_window(&self) -> Option<u64> {
        self.epoch.map(|epoch| epoch.cwnd_start)
    }

    /// Where HyStart++ is in the first slow start.
    pub fn hystart_phase(&self) -> HyStartPhase {
        self.hystart.phase()
    }

    /// Congestion avoidance for `bytes` newly acknowledged at `now` (RFC 9438 §4.2–§4.5).
    fn congestion_avoidance(&mut self, now: Instant, bytes: u64, smoothed_rtt: Duration) {
        let mds = self.window.max_datagram_size();
        let window = self.window.cwnd().max(1);
        let epoch = self.epoch.get_or_insert_with(|| {
            // RFC 9438 §4.8, §4.10: an undefined W_max is the window at the start of the
            // stage, which makes K = 0.
            let w_max = self.window.w_max().unwrap_or(window);
            self.window.set_w_max(Some(w_max));
            Epoch::new(now, window, w_max as f64, mds)
        });
        let t = now.saturating_duration_since(epoch.start).as_secs_f64();
        // RFC 9438 §4.3, Figure 4, in bytes: W_est += α × max_datagram_size × acked / cwnd, with
        // α = 1 once W_est ≥ cwnd_prior.
        let alpha = if epoch.w_est >= self.cwnd_prior as f64 {
            1.0
        } else {
            ALPHA_CUBIC
        };
        epoch.w_est += alpha * mds as f64 * bytes as f64 / window as f64;
        if epoch.w_cubic(t, mds) < epoch.w_est {
            // RFC 9438 §4.3: the Reno-friendly region; cwnd follows W_est.
            self.window
                .set_cwnd(window.max(bytes_from_f64(epoch.w_est)));
            self.growth_remainder = 0;
            return;
        }
        // RFC 9438 §4.2: target = W_cubic(t + RTT) within [cwnd, 1.5 × cwnd]; §4.4, §4.5: cwnd
        // grows by (target − cwnd) / cwnd per acknowledged segment.
        let cwnd = window as f64;
        let target = epoch
            .w_cubic(t + smoothed_rtt.as_secs_f64(), mds)
            .max(cwnd)
            .min(TARGET_CAP * cwnd);
        let target = bytes_from_f64(target).max(window);
        let numerator = u128::from(target - window) * u128::from(bytes) + self.growth_remainder;
        let increase = numerator / u128::from(window);
        self.growth_remainder = numerator % u128::from(window);
        self.window
            .set_cwnd(window.saturating_add(u64::try_from(increase).unwrap_or(u64::MAX)));
    }
}

impl Controller for Cubic {
    fn on_packet_sent(&mut self, now: Instant, _bytes: u64, _bytes_in_flight: u64) {
        self.hystart.on_packet_sent(now);
    }

    fn on_packet_acked(&mut self, now: Instant, acked: &AckedPacket) {
        let growth = self.window.on_ack(acked);
        if growth == AckGrowth::AppLimited {
            // RFC 9438 §5.8: nor does the application-limited period count towards t.
            if self.epoch.is_some() && self.app_limited_since.is_none() {
                self.app_limited_since = Some(now);
            }
            return;
        }
        // The sender is cwnd-limited again (even if this packet predates the recovery period):
        // cut the application-limited time out of the epoch.
        if let Some(since) = self.app_limited_since.take()
            && let Some(epoch) = &mut self.epoch
        {
            epoch.start += now.saturating_duration_since(since);
        }
        if growth == AckGrowth::InRecovery {
            return;
        }
        if self.window.in_slow_start() {
            // RFC 9438 §4.10: slow start, HyStart++ while it is active (RFC 9406 §4.2).
            let increase = if self.hystart.is_active() {
                self.hystart
                    .increase(acked.bytes, self.window.max_datagram_size())
            } else {
                acked.bytes
            };
            self.window.grow(increase);
            return;
        }
        self.congestion_avoidance(now, acked.bytes, acked.rtt.smoothed);
    }

    fn on_ack_event(&mut self, _now: Instant, event: &AckEvent) {
        if !self.hystart.is_active() || !self.window.in_slow_start() {
            return;
        }
        let sample = event.rtt_sampled.then_some(event.rtt.latest);
        if self.hystart.on_ack(event.largest_acked_sent_time, sample) {
            // RFC 9406 §4.2: CSS is over, enter congestion avoidance with ssthresh = cwnd.
            // RFC 9438 §4.10: cwnd_prior = cwnd; W_max is undefined, so the epoch uses K = 0.
            self.window.set_ssthresh(self.window.cwnd());
            self.cwnd_prior = self.window.cwnd();
            self.epoch = None;
            self.growth_remainder = 0;
        }
    }

    fn on_congestion_event(&mut self, now: Instant, event: &CongestionEvent) {
        // RFC 9406 §4.2: a loss or ECN-CE ends HyStart++; CUBIC's own reaction applies.
        self.hystart.on_congestion();
        let previous_w_max = self.window.w_max();
        // RFC 9438 §4.6: ssthresh = max(cwnd × β_cubic, 2 segments) (the minimum window);
        // cwnd = ssthresh. `Window` sets W_max to the window before the cut.
        let response = self
            .window
            .on_congestion_event(now, event, |cwnd, minimum| {
                let ssthresh = scale(cwnd, BETA_NUMERATOR, BETA_DENOMINATOR).max(minimum);
                Reduction {
                    ssthresh,
                    cwnd: ssthresh,
                }
            });
        if let Some(cwnd) = response.reduced_from {
            // RFC 9438 §4.7: fast convergence — below the previous W_max the available
            // capacity shrank, so release some of it to other flows. Persistent congestion
            // left W_max undefined (§4.8), and so it stays.
            let shrank = previous_w_max.is_some_and(|w_max| cwnd < w_max);
            if self.fast_convergence && shrank && !response.collapsed {
                self.window.set_w_max(Some(scale(
                    cwnd,
                    FAST_CONVERGENCE_NUMERATOR,
                    FAST_CONVERGENCE_DENOMINATOR,
                )));
            }
            // RFC 9438 §4.6: cwnd_prior = cwnd.
            self.cwnd_prior = cwnd;
        }
        // A reduction starts a new epoch; RFC 9438 §4.8: after persistent congestion (W_max
        // now undefined) it starts with K = 0 from its own window.
        if response.reduced_from.is_some() || response.collapsed {
            self.end_epoch();
        }
    }

    fn on_spurious_congestion(&mut self, _now: Instant, event: &SpuriousCongestion) {
        if self.window.on_spurious_congestion(event) {
            // The window and W_max are back; the epoch the reduction began is void, and the
            // next acknowledgement starts one from the restored window, which is again the
            // window before the last reduction (cwnd_prior).
            self.cwnd_prior = self.window.cwnd();
            self.end_epoch();
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
        ControllerKind::Cubic
    }

    fn set_max_datagram_size(&mut self, size: u64) {
        if !self.window.set_max_datagram_size(size) {
            return;
        }
        if self.window.is_pristine() {
            // The initial window was recomputed for the new size.
            self.cwnd_prior = self.window.cwnd();
        }
        // C is in segments per second³: a new segment size starts a new epoch from the
        // current window, keeping W_max.
        self.epoch = None;
        self.growth_remainder = 0;
    }

    fn state(&self) -> ControllerState {
        self.window.state()
    }
}

#[cfg(test)]
mod tests;
