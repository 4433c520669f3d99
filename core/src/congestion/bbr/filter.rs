//! BBR's windowed filters: a maximum over a virtual clock (round trips or ProbeBW cycles) for
//! BBR.max_bw and BBR.extra_acked, and the two-stage minimum over wall-clock time for
//! BBR.min_rtt and ProbeRTT scheduling (draft-ietf-ccwg-bbr-06 §5.5.3, §5.5.9, §5.3.4.3).

use std::time::{Duration, Instant};

/// The most entries a [`WindowedMax`] holds: the longest window BBR uses
/// (BBR.ExtraAckedFilterLen = 10 round trips).
const WINDOWED_MAX_CAPACITY: usize = super::params::EXTRA_ACKED_FILTER_LEN as usize;

/// An exact windowed maximum of `u64` samples over a virtual clock.
///
/// A sample taken at time `t` counts while the clock reads less than `t + window`: with a
/// window of 2 ProbeBW cycles the estimate covers the current and the previous cycle (§2.11),
/// with a window of 1 only the current round (§5.5.9, Startup).
///
/// The draft allows Kathleen Nichols' three-sample approximation (§5.5.5); with windows of at
/// most ten clock ticks an exact monotonic queue is as cheap: the entries have strictly
/// increasing times and strictly decreasing values, so the maximum is the oldest entry and a
/// new sample removes every older entry it beats. At most one entry per tick survives, so the
/// queue never holds more than `window` entries; no allocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct WindowedMax {
    /// `(time, value)`, oldest first.
    entries: [(u64, u64); WINDOWED_MAX_CAPACITY],
    len: usize,
}

impl WindowedMax {
    /// An empty filter (its maximum is 0).
    pub(super) fn new() -> Self {
        Self {
            entries: [(0, 0); WINDOWED_MAX_CAPACITY],
            len: 0,
        }
    }

    /// A filter holding only `value`, taken at `time`.
    pub(super) fn reset(&mut self, value: u64, time: u64) {
        self.entries[0] = (time, value);
        self.len = 1;
    }

    /// Adds `value` taken at `time` (never earlier than the previous sample's) with a window
    /// of `window` ticks (at least 1, at most ten), and returns the windowed maximum
    /// (UpdateWindowedMaxFilter).
    pub(super) fn update(&mut self, value: u64, time: u64, window: u64) -> u64 {
        let window = window.clamp(1, WINDOWED_MAX_CAPACITY as u64);
        // Expire samples that left the window.
        let expired = self.entries[..self.len]
            .iter()
            .take_while(|&&(t, _)| time.saturating_sub(t) >= window)
            .count();
        self.entries.copy_within(expired..self.len, 0);
        self.len -= expired;
        // Older samples no larger than the new one can never be the maximum again.
        while self.len > 0 && self.entries[self.len - 1].1 <= value {
            self.len -= 1;
        }
        // An older sample of the same tick that survived is larger: it stands for the tick.
        let same_tick = self.len > 0 && self.entries[self.len - 1].0 >= time;
        if !same_tick {
            if self.len == WINDOWED_MAX_CAPACITY {
                // Unreachable with non-decreasing times; keep the newest entries regardless.
                self.entries.copy_within(1.., 0);
                self.len -= 1;
            }
            self.entries[self.len] = (time, value);
            self.len += 1;
        }
        self.best()
    }

    /// The current maximum, as of the last update (0 if empty).
    pub(super) fn best(&self) -> u64 {
        if self.len == 0 { 0 } else { self.entries[0].1 }
    }
}

/// BBR.min_rtt and the ProbeRTT schedule (§5.3.4.3, UpdateMinRTT).
///
/// Two minima over wall-clock time: `probe_rtt_min_delay`, the minimum RTT of the last
/// BBR.ProbeRTTInterval (5 s), whose expiry schedules ProbeRTT; and `min_rtt`, which adopts it
/// when it is lower or when `min_rtt` itself is older than BBR.MinRTTFilterLen (10 s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct MinRttFilter {
    /// BBR.min_rtt; `None` is the draft's Infinity (no sample yet).
    min_rtt: Option<Duration>,
    /// BBR.min_rtt_stamp.
    min_rtt_stamp: Instant,
    /// BBR.probe_rtt_min_delay; `None` is Infinity.
    probe_rtt_min_delay: Option<Duration>,
    /// BBR.probe_rtt_min_stamp.
    probe_rtt_min_stamp: Instant,
    /// BBR.probe_rtt_expired.
    probe_rtt_expired: bool,
    /// BBR.ProbeRTTInterval.
    probe_rtt_interval: Duration,
    /// BBR.MinRTTFilterLen.
    filter_len: Duration,
    /// weir's ProbeRTT on demand ([`BbrConfig::probe_rtt_on_demand`](super::BbrConfig)): a
    /// sample within [`CONFIRM_DIVISOR`] of BBR.probe_rtt_min_delay restarts its interval.
    on_demand: bool,
}

/// ProbeRTT on demand: a sample this close to BBR.probe_rtt_min_delay (a thirty-second of it)
/// confirms it ...
const CONFIRM_DIVISOR: u32 = 32;

/// ... or this close, on short paths where a thirty-second is below timer granularity.
const CONFIRM_FLOOR: Duration = Duration::from_micros(250);

impl MinRttFilter {
    /// A filter started at `now` from an optional first estimate (§5.2.1, OnInit: `C.srtt` if
    /// known, else Infinity), with the given windows.
    pub(super) fn new(
        now: Instant,
        seed: Option<Duration>,
        probe_rtt_interval: Duration,
        filter_len: Duration,
    ) -> Self {
        Self {
            min_rtt: seed,
            min_rtt_stamp: now,
            probe_rtt_min_delay: seed,
            probe_rtt_min_stamp: now,
            probe_rtt_expired: false,
            probe_rtt_interval,
            filter_len,
            on_demand: false,
        }
    }

    /// The same filter with ProbeRTT on demand on or off (off: the draft's).
    pub(super) fn with_on_demand(mut self, on: bool) -> Self {
        self.on_demand = on;
        self
    }

    /// Takes the RTT sample `rtt` of an ACK at `now` (UpdateMinRTT).
    pub(super) fn update(&mut self, now: Instant, rtt: Duration) {
        self.probe_rtt_expired = now > self.probe_rtt_min_stamp + self.probe_rtt_interval;
        if self.probe_rtt_min_delay.is_none_or(|d| rtt < d) || self.probe_rtt_expired {
            self.probe_rtt_min_delay = Some(rtt);
            self.probe_rtt_min_stamp = now;
        } else if self.on_demand
            && self
                .probe_rtt_min_delay
                .is_some_and(|d| rtt <= d + (d / CONFIRM_DIVISOR).max(CONFIRM_FLOOR))
        {
            // The queue was empty for this packet (ProbeBW_DOWN drains it every cycle): the
            // path's RTT is confirmed without a ProbeRTT. The value stays the lower one.
            self.probe_rtt_min_stamp = now;
        }
        let min_rtt_expired = now > self.min_rtt_stamp + self.filter_len;
        let lower = match (self.probe_rtt_min_delay, self.min_rtt) {
            (Some(probe), Some(min)) => probe < min,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if lower || min_rtt_expired {
            self.min_rtt = self.probe_rtt_min_delay;
            self.min_rtt_stamp = self.probe_rtt_min_stamp;
        }
    }

    /// Starts over from `rtt`, sampled at `now`: the path may have changed (weir, after an
    /// outage; see the `capacity` module).
    pub(super) fn restart(&mut self, now: Instant, rtt: Duration) {
        self.min_rtt = Some(rtt);
        self.min_rtt_stamp = now;
        self.probe_rtt_min_delay = Some(rtt);
        self.probe_rtt_min_stamp = now;
        self.probe_rtt_expired = false;
    }

    /// A ProbeRTT ended at `now`: the next one is due a full interval later (CheckProbeRTTDone).
    pub(super) fn schedule_next_probe(&mut self, now: Instant) {
        self.probe_rtt_min_stamp = now;
    }

    /// BBR.min_rtt, `None` before any sample.
    pub(super) fn min_rtt(&self) -> Option<Duration> {
        self.min_rtt
    }

    /// When BBR.min_rtt was measured.
    #[cfg(test)]
    pub(super) fn min_rtt_stamp(&self) -> Instant {
        self.min_rtt_stamp
    }

    /// Whether the last update found BBR.probe_rtt_min_delay older than BBR.ProbeRTTInterval.
    pub(super) fn probe_rtt_expired(&self) -> bool {
        self.probe_rtt_expired
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::congestion::test_epoch;

    #[test]
    fn windowed_max_over_two_cycles() {
        let mut f = WindowedMax::new();
        assert_eq!(f.best(), 0);
        // Cycle 0: 100, then 80 (adds nothing: same cycle, smaller); cycle 1: 90 is the runner-up.
        assert_eq!(f.update(100, 0, 2), 100);
        assert_eq!(f.update(80, 0, 2), 100);
        assert_eq!(f.update(90, 1, 2), 100);
        assert_eq!(f.update(70, 1, 2), 100);
        // Cycle 2: cycle 0's 100 expires; cycle 1's 90 is the maximum.
        assert_eq!(f.update(50, 2, 2), 90);
        // Cycle 3: cycle 1 expires, 60 beats 50.
        assert_eq!(f.update(60, 3, 2), 60);
        // A larger sample replaces everything at once.
        assert_eq!(f.update(200, 3, 2), 200);
        assert_eq!(f.update(10, 4, 2), 200);
        // A jump of several cycles expires everything but the new sample.
        assert_eq!(f.update(5, 9, 2), 5);
    }

    #[test]
    fn windowed_max_over_rounds_and_window_changes() {
        let mut f = WindowedMax::new();
        // Decreasing samples, one per round, window 10: the first stays the maximum for 10
        // rounds, then each next one takes over.
        for round in 0..10 {
            assert_eq!(f.update(1000 - round, round, 10), 1000);
        }
        assert_eq!(f.len, 10, "one entry per round");
        assert_eq!(f.update(1, 10, 10), 999);
        assert_eq!(f.update(1, 11, 10), 998);
        // Window 1 (Startup's extra_acked): only the current round.
        assert_eq!(f.update(3, 12, 1), 3);
        assert_eq!(f.update(2, 13, 1), 2);
        // Same round, smaller: the round's maximum stays.
        assert_eq!(f.update(1, 13, 1), 2);
        f.reset(42, 13);
        assert_eq!(f.best(), 42);
        assert_eq!(f.update(41, 14, 2), 42);
        assert_eq!(f.update(40, 15, 2), 41);
    }

    #[test]
    fn min_rtt_filter_takes_lower_samples_and_expires() {
        let t0 = test_epoch();
        let s = Duration::from_secs;
        let ms = Duration::from_millis;
        let mut f = MinRttFilter::new(t0, None, s(5), s(10));
        assert_eq!(f.min_rtt(), None);
        f.update(t0, ms(50));
        assert_eq!(f.min_rtt(), Some(ms(50)));
        // Higher samples do not raise it; lower ones lower it at once.
        f.update(t0 + s(1), ms(70));
        assert_eq!(f.min_rtt(), Some(ms(50)));
        f.update(t0 + s(2), ms(40));
        assert_eq!((f.min_rtt(), f.min_rtt_stamp()), (Some(ms(40)), t0 + s(2)));
        assert!(!f.probe_rtt_expired());
        // 5 s without a lower sample: ProbeRTT is due; the short filter restarts from the
        // current sample, the 10 s one keeps 40 ms.
        f.update(t0 + s(7) + ms(1), ms(60));
        assert!(f.probe_rtt_expired());
        assert_eq!(f.min_rtt(), Some(ms(40)));
        f.update(t0 + s(8), ms(60));
        assert!(!f.probe_rtt_expired());
        // 10 s after the 40 ms sample it expires and min_rtt takes the short filter's value.
        f.update(t0 + s(12) + ms(1), ms(65));
        assert_eq!(f.min_rtt(), Some(ms(60)));
        assert_eq!(f.min_rtt_stamp(), t0 + s(7) + ms(1));
        // A ProbeRTT ending reschedules the next one.
        f.schedule_next_probe(t0 + s(13));
        f.update(t0 + s(17), ms(70));
        assert!(!f.probe_rtt_expired());
        f.update(t0 + s(18) + ms(1), ms(70));
        assert!(f.probe_rtt_expired());
        // Seeded from a predecessor's RTT.
        let f = MinRttFilter::new(t0, Some(ms(30)), s(5), s(10));
        assert_eq!(f.min_rtt(), Some(ms(30)));
    }
}
