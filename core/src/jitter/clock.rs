//! The playout clock: which sender time plays out at which receiver time, and how it follows a
//! changing target without jumps.
//!
//! A message sent at sender time `s` plays out at the receiver time `t` where
//! `t − offset(t) = s`. The offset is the transit the buffer allows (floor plus playout
//! delay, in the receiver's clock minus the sender's). When the estimator asks for another
//! offset, the clock does not jump to it: it moves towards it at a bounded rate `r`, so the
//! playout runs at `1 − r` (delay growing) or `1 + r` (delay shrinking) of real time until it
//! gets there. With `r ≤ 1` the played-out sender time `t − offset(t)` never decreases, so
//! messages play in the order they were sent, however the target moves.
//!
//! Times are nanoseconds in `i128`: receiver times since the buffer's first instant, sender
//! times since the sender's epoch. Their difference is exact for every `Duration`, so no
//! sender timestamp can overflow the arithmetic.

/// A piecewise-linear offset: `anchor_offset` at `anchor_at`, then moving towards `target` at
/// the slew rate for its direction, then constant.
#[derive(Debug, Clone, Copy)]
pub(super) struct PlayoutClock {
    /// Receiver time at which the current ramp starts.
    anchor_at: i128,
    /// The offset at `anchor_at`.
    anchor_offset: i128,
    /// Where the offset is heading.
    target: i128,
    /// Rate at which the offset may grow (playout slows down), in `(0, 1]`.
    slowdown: f64,
    /// Rate at which the offset may shrink (playout speeds up), in `(0, 1]`.
    speedup: f64,
}

impl PlayoutClock {
    /// A clock standing at `offset` from receiver time `at`.
    pub(super) fn new(at: i128, offset: i128, slowdown: f64, speedup: f64) -> Self {
        Self {
            anchor_at: at,
            anchor_offset: offset,
            target: offset,
            slowdown,
            speedup,
        }
    }

    /// Where the offset is heading.
    pub(super) fn target(&self) -> i128 {
        self.target
    }

    /// The offset at receiver time `t` (not before the last retarget).
    pub(super) fn offset(&self, t: i128) -> i128 {
        let delta = self.target - self.anchor_offset;
        let elapsed = t - self.anchor_at;
        if delta == 0 || elapsed <= 0 {
            return if elapsed <= 0 {
                self.anchor_offset
            } else {
                self.target
            };
        }
        // Float to integer saturates; a huge product is past the ramp anyway.
        let moved = (self.rate(delta) * elapsed as f64) as i128;
        if moved >= delta.abs() {
            self.target
        } else {
            self.anchor_offset + moved * delta.signum()
        }
    }

    /// The sender time that plays out at receiver time `t`.
    pub(super) fn media(&self, t: i128) -> i128 {
        t - self.offset(t)
    }

    /// Heads for `target` from where the offset is at `now`, continuously.
    pub(super) fn retarget(&mut self, now: i128, target: i128) {
        self.anchor_offset = self.offset(now);
        self.anchor_at = now;
        self.target = target;
    }

    /// Stands at `offset` from `now` on: a discontinuity, for a start over.
    pub(super) fn jump(&mut self, now: i128, offset: i128) {
        self.anchor_at = now;
        self.anchor_offset = offset;
        self.target = offset;
    }

    /// The receiver time at which sender time `s` plays out: the first `t` with
    /// `media(t) ≥ s`. Non-decreasing in `s`. For a sender time already played out before
    /// the last retarget it extrapolates the offset of then (an instant in the past).
    pub(super) fn due(&self, s: i128) -> i128 {
        let media_at_anchor = self.anchor_at - self.anchor_offset;
        if s <= media_at_anchor {
            return s + self.anchor_offset;
        }
        let delta = self.target - self.anchor_offset;
        if delta == 0 {
            return s + self.target;
        }
        let rate = self.rate(delta);
        let ramp = (delta.abs() as f64 / rate).ceil() as i128;
        let media_at_end = self.anchor_at + ramp - self.target;
        if s > media_at_end {
            return s + self.target;
        }
        // On the ramp the playout runs at 1 − rate (growing) or 1 + rate (shrinking). A rate of
        // 1 while growing freezes it, but then the ramp covers no sender time and we returned
        // above.
        let speed = if delta > 0 { 1.0 - rate } else { 1.0 + rate };
        let wait = ((s - media_at_anchor) as f64 / speed).ceil() as i128;
        // The clamp keeps rounding from breaking monotonicity at the ramp's ends.
        self.anchor_at + wait.clamp(1, ramp.max(1))
    }

    fn rate(&self, delta: i128) -> f64 {
        if delta > 0 {
            self.slowdown
        } else {
            self.speedup
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: i128 = 1_000_000;

    #[test]
    fn a_steady_clock_adds_the_offset() {
        let c = PlayoutClock::new(0, 50 * MS, 0.1, 0.05);
        assert_eq!(c.offset(10 * MS), 50 * MS);
        assert_eq!(c.due(0), 50 * MS);
        assert_eq!(c.due(100 * MS), 150 * MS);
        assert_eq!(c.media(150 * MS), 100 * MS);
    }

    #[test]
    fn growing_the_delay_slows_the_playout_and_shrinking_speeds_it_up() {
        // From 50 ms towards 150 ms at 10 %: 1 s of ramp at 0.9× speed.
        let mut c = PlayoutClock::new(0, 50 * MS, 0.1, 0.05);
        c.retarget(0, 150 * MS);
        assert_eq!(c.offset(500 * MS), 100 * MS);
        assert_eq!(c.offset(1000 * MS), 150 * MS);
        assert_eq!(c.offset(5000 * MS), 150 * MS);
        // media(0) = −50 ms and runs at 0.9×: sender time 0 plays out at 50 / 0.9 = 55.6 ms.
        assert_eq!(c.due(0), 55_555_556);
        assert_eq!(c.due(850 * MS), 1000 * MS);
        assert_eq!(c.due(851 * MS), 1001 * MS);
        // Back down to 50 ms at 5 %: 2 s at 1.05× speed.
        c.retarget(1000 * MS, 50 * MS);
        assert_eq!(c.offset(2000 * MS), 100 * MS);
        assert_eq!(c.offset(3000 * MS), 50 * MS);
        assert_eq!(c.due(2950 * MS), 3000 * MS);
        assert_eq!(c.due(900 * MS), 1000 * MS + 47_619_048);
        // Already played out before the anchor: in the past.
        assert!(c.due(800 * MS) <= 1000 * MS);
    }

    #[test]
    fn a_pause_at_rate_one_freezes_the_playout() {
        let mut c = PlayoutClock::new(0, 0, 1.0, 1.0);
        c.retarget(0, 100 * MS);
        assert_eq!(c.media(50 * MS), 0);
        assert_eq!(c.media(100 * MS), 0);
        assert_eq!(c.media(101 * MS), MS);
        assert_eq!(c.due(0), 0);
        assert_eq!(c.due(1), 100 * MS + 1);
    }

    #[test]
    fn due_is_monotone_and_inverts_media_across_retargets() {
        let mut c = PlayoutClock::new(0, 40 * MS, 0.1, 0.05);
        let mut now = 0;
        for (step, target) in [(0, 90), (300, 20), (700, 20), (100, 200), (2000, 0)] {
            now += step * MS;
            c.retarget(now, target * MS);
            let mut last = i128::MIN;
            for s in (-100..4000).map(|s| s * MS + 12_345) {
                let due = c.due(s);
                assert!(due >= last, "due({s}) went back");
                last = due;
                if due > now {
                    // The first instant at which the sender time has played out.
                    assert!(c.media(due) >= s - 1, "media(due({s})) < {s}");
                    assert!(c.media(due - 2) < s, "due({s}) is not the first instant");
                }
            }
            let mut media = i128::MIN;
            for t in (0..5000).map(|t| now + t * MS) {
                assert!(c.media(t) >= media, "media went back at {t}");
                media = c.media(t);
            }
        }
    }
}
