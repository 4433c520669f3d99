//! HyStart++ (RFC 9406): a slow start that leaves early when the round-trip time rises.
//!
//! Standard slow start doubles the window every round trip until a loss, and so overshoots the
//! path's capacity by up to a window's worth of packets. HyStart++ watches the minimum RTT of
//! each round: when it rises by a threshold over the previous round's, the queue at the
//! bottleneck is growing, and the sender moves to *Conservative Slow Start* (CSS), which grows
//! the window at a quarter of slow start's rate for at most [`CSS_ROUNDS`] rounds. If the RTT
//! falls back below the level that triggered CSS, the exit was spurious (jitter) and slow start
//! resumes; if CSS runs its course, the controller enters congestion avoidance with
//! `ssthresh = cwnd` (RFC 9406 §4.2).
//!
//! [`HyStart`] is independent of any one controller: a controller calls
//! [`HyStart::on_packet_sent`] for every in-flight packet, takes its slow-start increase from
//! [`HyStart::increase`] for every newly acknowledged packet, feeds every ACK frame to
//! [`HyStart::on_ack`] (which says when slow start is over), and calls
//! [`HyStart::on_congestion`] on a loss or an ECN-CE mark. [`Cubic`](super::Cubic) uses it for
//! its first slow start.
//!
//! Rounds are counted by [`RoundTracker`], which other per-RTT algorithms (Vegas) reuse.

use std::time::{Duration, Instant};

/// RFC 9406 §4.3: MIN_RTT_THRESH = 4 ms, the smallest RTT increase that ends slow start.
pub const MIN_RTT_THRESH: Duration = Duration::from_millis(4);
/// RFC 9406 §4.3: MAX_RTT_THRESH = 16 ms, the largest RTT increase that slow start waits for.
pub const MAX_RTT_THRESH: Duration = Duration::from_millis(16);
/// RFC 9406 §4.3: MIN_RTT_DIVISOR = 8; the threshold is the last round's minimum RTT over this,
/// clamped to [`MIN_RTT_THRESH`]..=[`MAX_RTT_THRESH`].
pub const MIN_RTT_DIVISOR: u32 = 8;
/// RFC 9406 §4.3: N_RTT_SAMPLE = 8, the RTT samples a round needs before it can end slow start.
pub const N_RTT_SAMPLE: u32 = 8;
/// RFC 9406 §4.3: CSS_GROWTH_DIVISOR = 4, how much slower CSS grows than slow start.
pub const CSS_GROWTH_DIVISOR: u64 = 4;
/// RFC 9406 §4.3: CSS_ROUNDS = 5, the rounds CSS lasts before congestion avoidance.
pub const CSS_ROUNDS: u32 = 5;
/// RFC 9406 §4.3: L = 8 segments, the most one ACK may grow the window by when the sender does
/// not pace (L is infinite for a paced sender; see [`HyStart::with_ack_limit`]).
pub const NON_PACED_ACK_LIMIT_SEGMENTS: u64 = 8;

/// Counts round trips of acknowledged data (RFC 9406 §4.2).
///
/// A round begins when the previous one ends and ends when the peer acknowledges a packet sent
/// after it began — the time-based form of TCP's "`SEG.ACK` ≥ `windowEnd`, where `windowEnd`
/// was `SND.NXT` at the start of the round". The tracker remembers the send time of the newest
/// packet; when a round starts that becomes its end marker, and the first ACK frame whose
/// largest newly acknowledged packet was sent after the marker ends the round.
///
/// Before any round has started the marker is unset, so the first ACK frame ends the initial,
/// empty round, and the acknowledgements of the rest of the initial flight form round 1.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoundTracker {
    /// Send time of the newest in-flight packet.
    last_sent: Option<Instant>,
    /// `windowEnd`: the newest send time when the current round started.
    window_end: Option<Instant>,
    /// Rounds started so far.
    round: u64,
}

impl RoundTracker {
    /// A tracker that has not started a round.
    pub fn new() -> Self {
        Self::default()
    }

    /// An in-flight packet was sent at `now`.
    pub fn on_packet_sent(&mut self, now: Instant) {
        self.last_sent = Some(self.last_sent.map_or(now, |last| last.max(now)));
    }

    /// An ACK frame newly acknowledged packets, the largest of them sent at
    /// `largest_acked_sent_time` — or, called once per acknowledged packet, a packet sent at
    /// that time was acknowledged. Returns whether this ended the current round, in which case
    /// the next round has started.
    pub fn on_ack(&mut self, largest_acked_sent_time: Instant) -> bool {
        let ended = self
            .window_end
            .is_none_or(|end| largest_acked_sent_time > end);
        if ended {
            self.window_end = self.last_sent;
            self.round += 1;
        }
        ended
    }

    /// The number of rounds started so far (0 before the first ACK frame).
    pub fn round(&self) -> u64 {
        self.round
    }
}

/// Where HyStart++ is in the initial slow start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HyStartPhase {
    /// Standard slow start, watching the RTT of each round (RFC 9406 §4.2).
    SlowStart,
    /// Conservative Slow Start: the RTT rose, the window grows at 1/[`CSS_GROWTH_DIVISOR`] of
    /// the slow-start rate for at most [`CSS_ROUNDS`] rounds.
    ConservativeSlowStart,
    /// Slow start is over (CSS completed, or a loss or ECN-CE mark was seen); HyStart++ no
    /// longer acts.
    Done,
}

/// HyStart++ (RFC 9406) for the initial slow start of a controller.
///
/// RTT-based rounds ([`RoundTracker`]), the minimum RTT of the current and of the last round,
/// and the CSS state. The controller owns the window: HyStart++ only says by how much an
/// acknowledgement grows it ([`increase`](Self::increase)) and when slow start ends
/// ([`on_ack`](Self::on_ack) returns `true`: set `ssthresh = cwnd`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HyStart {
    phase: HyStartPhase,
    rounds: RoundTracker,
    /// `lastRoundMinRTT`; `None` is the RFC's infinity.
    last_round_min_rtt: Option<Duration>,
    /// `currentRoundMinRTT`; `None` is the RFC's infinity.
    current_round_min_rtt: Option<Duration>,
    /// `rttSampleCount` of the current round.
    rtt_samples: u32,
    /// `cssBaselineMinRtt`, while in CSS.
    css_baseline_min_rtt: Option<Duration>,
    /// Rounds ended since CSS began; the partial round in which CSS began counts (RFC 9406 §4.2).
    css_rounds: u32,
    /// L in segments; `None` for infinity (a paced sender).
    ack_limit_segments: Option<u64>,
    /// Bytes of CSS growth not yet added because they are a fraction of a byte.
    css_remainder: u64,
}

impl Default for HyStart {
    fn default() -> Self {
        Self::new()
    }
}

impl HyStart {
    /// HyStart++ for a paced sender (RFC 9406 §4.3: L = infinity). Weir paces every connection
    /// (DESIGN.md §4), so this is what its controllers use.
    pub fn new() -> Self {
        Self {
            phase: HyStartPhase::SlowStart,
            rounds: RoundTracker::new(),
            last_round_min_rtt: None,
            current_round_min_rtt: None,
            rtt_samples: 0,
            css_baseline_min_rtt: None,
            css_rounds: 0,
            ack_limit_segments: None,
            css_remainder: 0,
        }
    }

    /// HyStart++ that grows the window by at most `segments` datagrams per acknowledgement
    /// (RFC 9406 §4.3: L, [`NON_PACED_ACK_LIMIT_SEGMENTS`] for a sender that does not pace);
    /// `None` for no limit.
    pub fn with_ack_limit(segments: Option<u64>) -> Self {
        Self {
            ack_limit_segments: segments.map(|s| s.max(1)),
            ..Self::new()
        }
    }

    /// HyStart++ that has already finished: for a controller whose slow start is not the
    /// connection's first (RFC 9406 §4.3 applies HyStart++ to the initial slow start only).
    pub fn done() -> Self {
        Self {
            phase: HyStartPhase::Done,
            ..Self::new()
        }
    }

    /// The current phase.
    pub fn phase(&self) -> HyStartPhase {
        self.phase
    }

    /// Whether HyStart++ still governs slow start (it is not [`Done`](HyStartPhase::Done)).
    pub fn is_active(&self) -> bool {
        self.phase != HyStartPhase::Done
    }

    /// The number of rounds started so far.
    pub fn round(&self) -> u64 {
        self.rounds.round()
    }

    /// The minimum RTT of the current round, if it has a sample.
    pub fn current_round_min_rtt(&self) -> Option<Duration> {
        self.current_round_min_rtt
    }

    /// An in-flight packet was sent at `now`.
    pub fn on_packet_sent(&mut self, now: Instant) {
        self.rounds.on_packet_sent(now);
    }

    /// The slow-start increase of the window, in bytes, for `acked_bytes` newly acknowledged
    /// bytes with datagrams of `max_datagram_size` bytes: `min(N, L × SMSS)` in slow start and a
    /// [`CSS_GROWTH_DIVISOR`]th of that in CSS (RFC 9406 §4.2), carrying fractions of a byte
    /// over to the next call. Once [`Done`](HyStartPhase::Done), plain slow start: `N`.
    pub fn increase(&mut self, acked_bytes: u64, max_datagram_size: u64) -> u64 {
        let limited = match (self.phase, self.ack_limit_segments) {
            (HyStartPhase::Done, _) | (_, None) => acked_bytes,
            (_, Some(segments)) => acked_bytes.min(segments.saturating_mul(max_datagram_size)),
        };
        if self.phase != HyStartPhase::ConservativeSlowStart {
            return limited;
        }
        let total = limited.saturating_add(self.css_remainder);
        self.css_remainder = total % CSS_GROWTH_DIVISOR;
        total / CSS_GROWTH_DIVISOR
    }

    /// An ACK frame newly acknowledged packets, the largest of them sent at
    /// `largest_acked_sent_time`; `rtt_sample` is the frame's RTT sample (`latest_rtt`) if it
    /// produced one.
    ///
    /// Returns `true` when slow start is over because CSS ran for [`CSS_ROUNDS`] rounds: the
    /// controller then sets `ssthresh = cwnd` and enters congestion avoidance (RFC 9406 §4.2).
    #[must_use = "true means: set ssthresh to the window and enter congestion avoidance"]
    pub fn on_ack(
        &mut self,
        largest_acked_sent_time: Instant,
        rtt_sample: Option<Duration>,
    ) -> bool {
        if self.phase == HyStartPhase::Done {
            return false;
        }
        if self.rounds.on_ack(largest_acked_sent_time) {
            // RFC 9406 §4.2: at the start of each round, the current minimum becomes the last.
            self.last_round_min_rtt = self.current_round_min_rtt;
            self.current_round_min_rtt = None;
            self.rtt_samples = 0;
            if self.phase == HyStartPhase::ConservativeSlowStart {
                // RFC 9406 §4.2: the partial round in which CSS began counts towards CSS_ROUNDS.
                self.css_rounds += 1;
                if self.css_rounds >= CSS_ROUNDS {
                    self.finish();
                    return true;
                }
            }
        }
        let Some(rtt) = rtt_sample else {
            return false;
        };
        self.current_round_min_rtt = Some(self.current_round_min_rtt.map_or(rtt, |m| m.min(rtt)));
        self.rtt_samples = self.rtt_samples.saturating_add(1);
        if self.rtt_samples < N_RTT_SAMPLE {
            return false;
        }
        let (Some(current), Some(last)) = (self.current_round_min_rtt, self.last_round_min_rtt)
        else {
            return false;
        };
        match self.phase {
            HyStartPhase::SlowStart => {
                // RFC 9406 §4.2: RttThresh = max(MIN_RTT_THRESH, min(lastRoundMinRTT /
                // MIN_RTT_DIVISOR, MAX_RTT_THRESH)); exit to CSS on a rise of at least that.
                let threshold = (last / MIN_RTT_DIVISOR).clamp(MIN_RTT_THRESH, MAX_RTT_THRESH);
                if current >= last.saturating_add(threshold) {
                    self.phase = HyStartPhase::ConservativeSlowStart;
                    self.css_baseline_min_rtt = Some(current);
                    self.css_rounds = 0;
                    self.css_remainder = 0;
                }
            }
            HyStartPhase::ConservativeSlowStart => {
                // RFC 9406 §4.2: an RTT below the baseline means the exit was spurious: resume
                // slow start.
                if self.css_baseline_min_rtt.is_some_and(|base| current < base) {
                    self.phase = HyStartPhase::SlowStart;
                    self.css_baseline_min_rtt = None;
                    self.css_rounds = 0;
                }
            }
            HyStartPhase::Done => {}
        }
        false
    }

    /// A loss or ECN-CE mark: slow start ends and the controller's own reaction applies
    /// (RFC 9406 §4.2: "If loss or ECN-marking is observed anytime during standard slow start
    /// or CSS, enter congestion avoidance").
    pub fn on_congestion(&mut self) {
        self.finish();
    }

    fn finish(&mut self) {
        self.phase = HyStartPhase::Done;
        self.css_baseline_min_rtt = None;
        self.css_remainder = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::congestion::test_epoch;

    const MDS: u64 = 1200;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Drives one round of `samples` acknowledgements, each its own ACK frame with an RTT
    /// sample of `rtt`: sends a packet at `t` (which the next round's first frame acknowledges),
    /// then acknowledges packets sent before it. Returns the instant after the round and whether
    /// any frame ended slow start.
    fn round(hs: &mut HyStart, t: Instant, samples: u32, rtt: Duration) -> (Instant, bool) {
        let mut ended = false;
        // The first frame of the round acknowledges the packet the previous round sent last.
        let first_sent = t;
        hs.on_packet_sent(t);
        let mut now = t + rtt;
        ended |= hs.on_ack(first_sent + Duration::from_nanos(1), Some(rtt));
        for _ in 1..samples {
            now += Duration::from_micros(100);
            // Packets sent before the round's marker do not end it.
            ended |= hs.on_ack(first_sent, Some(rtt));
        }
        (now, ended)
    }

    #[test]
    fn round_tracker_counts_round_trips() {
        let t0 = test_epoch();
        let mut rounds = RoundTracker::new();
        assert_eq!(rounds.round(), 0);
        rounds.on_packet_sent(t0);
        rounds.on_packet_sent(t0 + ms(1));
        // The first frame ends the initial round; the marker is the newest send (t0 + 1 ms).
        assert!(rounds.on_ack(t0));
        assert_eq!(rounds.round(), 1);
        // Packets sent up to the marker belong to round 1.
        assert!(!rounds.on_ack(t0 + ms(1)));
        rounds.on_packet_sent(t0 + ms(100));
        assert!(!rounds.on_ack(t0 + ms(1)));
        // A packet sent after the marker ends round 1.
        assert!(rounds.on_ack(t0 + ms(100)));
        assert_eq!(rounds.round(), 2);
        assert!(!rounds.on_ack(t0 + ms(100)));
    }

    #[test]
    fn constants_per_rfc_9406() {
        assert_eq!(MIN_RTT_THRESH, ms(4));
        assert_eq!(MAX_RTT_THRESH, ms(16));
        assert_eq!(N_RTT_SAMPLE, 8);
        assert_eq!(CSS_GROWTH_DIVISOR, 4);
        assert_eq!(CSS_ROUNDS, 5);
    }

    #[test]
    fn increase_is_full_in_slow_start_and_a_quarter_in_css() {
        let t0 = test_epoch();
        let mut hs = HyStart::new();
        assert_eq!(hs.increase(MDS, MDS), MDS);
        assert_eq!(hs.increase(100 * MDS, MDS), 100 * MDS);
        // L = 8 segments for an unpaced sender.
        let mut unpaced = HyStart::with_ack_limit(Some(NON_PACED_ACK_LIMIT_SEGMENTS));
        assert_eq!(unpaced.increase(100 * MDS, MDS), 8 * MDS);
        // Enter CSS: round 1 at 100 ms, round 2 at 120 ms (≥ 100 + 12.5).
        let (t, _) = round(&mut hs, t0, N_RTT_SAMPLE, ms(100));
        let (_, _) = round(&mut hs, t, N_RTT_SAMPLE, ms(120));
        assert_eq!(hs.phase(), HyStartPhase::ConservativeSlowStart);
        assert_eq!(hs.increase(MDS, MDS), 300);
        // Fractions carry over: 3 × 1 byte → 0, 0, 0, then the fourth byte adds one.
        assert_eq!(hs.increase(1, MDS), 0);
        assert_eq!(hs.increase(1, MDS), 0);
        assert_eq!(hs.increase(1, MDS), 0);
        assert_eq!(hs.increase(1, MDS), 1);
        hs.on_congestion();
        assert_eq!(hs.phase(), HyStartPhase::Done);
        assert_eq!(hs.increase(MDS, MDS), MDS);
    }

    #[test]
    fn rtt_rise_of_the_threshold_enters_css() {
        let t0 = test_epoch();
        // lastRoundMinRTT = 40 ms: threshold = clamp(5 ms, 4, 16) = 5 ms.
        let mut hs = HyStart::new();
        let (t, _) = round(&mut hs, t0, N_RTT_SAMPLE, ms(40));
        // A 4.9 ms rise is below the threshold.
        let (t, _) = round(
            &mut hs,
            t,
            N_RTT_SAMPLE,
            ms(40) + Duration::from_micros(4900),
        );
        assert_eq!(hs.phase(), HyStartPhase::SlowStart);
        // The threshold is relative to the last round (44.9 ms): 44.9 + 5.6125 ms.
        let (_, _) = round(&mut hs, t, N_RTT_SAMPLE, ms(51));
        assert_eq!(hs.phase(), HyStartPhase::ConservativeSlowStart);

        // Short RTTs use MIN_RTT_THRESH (4 ms), long ones MAX_RTT_THRESH (16 ms).
        let mut hs = HyStart::new();
        let (t, _) = round(&mut hs, t0, N_RTT_SAMPLE, ms(10));
        let (t, _) = round(&mut hs, t, N_RTT_SAMPLE, ms(13));
        assert_eq!(hs.phase(), HyStartPhase::SlowStart);
        round(&mut hs, t, N_RTT_SAMPLE, ms(17));
        assert_eq!(hs.phase(), HyStartPhase::ConservativeSlowStart);
        let mut hs = HyStart::new();
        let (t, _) = round(&mut hs, t0, N_RTT_SAMPLE, ms(400));
        let (t, _) = round(&mut hs, t, N_RTT_SAMPLE, ms(415));
        assert_eq!(hs.phase(), HyStartPhase::SlowStart);
        round(&mut hs, t, N_RTT_SAMPLE, ms(431));
        assert_eq!(hs.phase(), HyStartPhase::ConservativeSlowStart);
    }

    #[test]
    fn too_few_samples_never_exit() {
        let t0 = test_epoch();
        let mut hs = HyStart::new();
        let (t, _) = round(&mut hs, t0, N_RTT_SAMPLE - 1, ms(40));
        let (t, _) = round(&mut hs, t, N_RTT_SAMPLE - 1, ms(100));
        round(&mut hs, t, N_RTT_SAMPLE - 1, ms(200));
        assert_eq!(hs.phase(), HyStartPhase::SlowStart);
        // Frames without an RTT sample do not count.
        let mut hs = HyStart::new();
        let (t, _) = round(&mut hs, t0, N_RTT_SAMPLE, ms(40));
        hs.on_packet_sent(t);
        assert!(!hs.on_ack(t + ms(1), Some(ms(100))));
        for _ in 0..20 {
            assert!(!hs.on_ack(t, None));
        }
        assert_eq!(hs.phase(), HyStartPhase::SlowStart);
    }

    #[test]
    fn rtt_falling_below_the_baseline_resumes_slow_start() {
        let t0 = test_epoch();
        let mut hs = HyStart::new();
        let (t, _) = round(&mut hs, t0, N_RTT_SAMPLE, ms(40));
        let (t, _) = round(&mut hs, t, N_RTT_SAMPLE, ms(50));
        assert_eq!(hs.phase(), HyStartPhase::ConservativeSlowStart);
        // Still at the baseline: stays in CSS.
        let (t, _) = round(&mut hs, t, N_RTT_SAMPLE, ms(50));
        assert_eq!(hs.phase(), HyStartPhase::ConservativeSlowStart);
        // Below the 50 ms baseline: the exit was spurious.
        let (t, _) = round(&mut hs, t, N_RTT_SAMPLE, ms(42));
        assert_eq!(hs.phase(), HyStartPhase::SlowStart);
        assert_eq!(hs.increase(MDS, MDS), MDS);
        // And HyStart++ keeps watching: another rise enters CSS again.
        round(&mut hs, t, N_RTT_SAMPLE, ms(60));
        assert_eq!(hs.phase(), HyStartPhase::ConservativeSlowStart);
    }

    #[test]
    fn css_ends_after_css_rounds() {
        let t0 = test_epoch();
        let mut hs = HyStart::new();
        let (t, _) = round(&mut hs, t0, N_RTT_SAMPLE, ms(40));
        let (mut t, ended) = round(&mut hs, t, N_RTT_SAMPLE, ms(50));
        assert!(!ended);
        assert_eq!(hs.phase(), HyStartPhase::ConservativeSlowStart);
        let entered_in = hs.round();
        // The partial round in which CSS began counts: four more round ends are CSS rounds
        // 2..=5, and the fifth round end finishes CSS.
        for k in 1..=CSS_ROUNDS {
            let (next, ended) = round(&mut hs, t, N_RTT_SAMPLE, ms(50));
            t = next;
            assert_eq!(ended, k == CSS_ROUNDS, "round {k}");
        }
        assert_eq!(hs.round(), entered_in + u64::from(CSS_ROUNDS));
        assert_eq!(hs.phase(), HyStartPhase::Done);
        // Once done, nothing more happens.
        assert!(!round(&mut hs, t, N_RTT_SAMPLE, ms(500)).1);
    }

    #[test]
    fn zero_rtt_samples_are_harmless() {
        let t0 = test_epoch();
        let mut hs = HyStart::new();
        let (t, _) = round(&mut hs, t0, N_RTT_SAMPLE, Duration::ZERO);
        let (_, _) = round(&mut hs, t, N_RTT_SAMPLE, MIN_RTT_THRESH);
        assert_eq!(hs.phase(), HyStartPhase::ConservativeSlowStart);
        assert_eq!(HyStart::done().phase(), HyStartPhase::Done);
    }
}
