//! RTT jitter: how much successive round-trip samples differ.

use std::time::Duration;

/// The mean deviation between successive RTT samples, smoothed with a gain of 1/16 as RFC 3550
/// §6.4.1 smooths interarrival jitter: `J += (|RTTᵢ − RTTᵢ₋₁| − J) / 16`.
///
/// This is the figure a game's jitter buffer has to absorb: a path whose RTT is high but
/// steady scores well here, one that swings between 20 and 80 ms scores badly. (RFC 9002's
/// `rttvar` measures the deviation from the *smoothed* RTT and reacts to slow drifts as well.)
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RttJitter {
    previous: Option<Duration>,
    /// J × 16, in nanoseconds (kept scaled so that the integer update loses nothing).
    scaled_nanos: u128,
    samples: u64,
}

/// RTT samples above this are taken as this (a sample of hours is a broken clock or a peer's
/// lie, not a path).
const MAX_SAMPLE: Duration = Duration::from_secs(60);

impl RttJitter {
    /// No samples yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an RTT sample.
    pub fn on_sample(&mut self, rtt: Duration) {
        let rtt = rtt.min(MAX_SAMPLE);
        if let Some(previous) = self.previous {
            let delta = rtt.abs_diff(previous).as_nanos();
            // J·16 ← J·16 + |D| − J = J·16 · 15/16 + |D|.
            self.scaled_nanos = self.scaled_nanos - self.scaled_nanos / 16 + delta;
        }
        self.previous = Some(rtt);
        self.samples = self.samples.saturating_add(1);
    }

    /// The jitter, or `None` before two samples.
    pub fn jitter(&self) -> Option<Duration> {
        (self.samples >= 2).then(|| {
            let nanos = self.scaled_nanos / 16;
            Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_steady_rtt_has_no_jitter() {
        let mut j = RttJitter::new();
        assert_eq!(j.jitter(), None);
        for _ in 0..100 {
            j.on_sample(ms(80));
        }
        assert_eq!(j.jitter(), Some(Duration::ZERO));
    }

    #[test]
    fn one_step_adds_a_sixteenth_of_it() {
        let mut j = RttJitter::new();
        j.on_sample(ms(20));
        j.on_sample(ms(36));
        assert_eq!(j.jitter(), Some(ms(1)));
    }

    #[test]
    fn an_alternating_rtt_converges_to_the_swing() {
        let mut j = RttJitter::new();
        for i in 0..2000 {
            j.on_sample(if i % 2 == 0 { ms(20) } else { ms(80) });
        }
        let jitter = j.jitter().unwrap();
        assert!(
            jitter.abs_diff(ms(60)) < Duration::from_micros(1),
            "{jitter:?}"
        );
    }

    #[test]
    fn absurd_samples_are_capped() {
        let mut j = RttJitter::new();
        j.on_sample(Duration::ZERO);
        j.on_sample(Duration::MAX);
        assert_eq!(j.jitter(), Some(MAX_SAMPLE / 16));
    }
}
