//! What a [`JitterBuffer`](super::JitterBuffer) is set up with, and why a setting is refused.

use std::time::Duration;

/// The largest [`JitterConfig::window`]: the window keeps a sorted copy of its samples, so a
/// push costs O(window) moves; a few hundred samples already measure a 99th percentile.
pub const MAX_WINDOW: usize = 1 << 16;

/// How a [`JitterBuffer`](super::JitterBuffer) measures jitter and adapts its playout delay.
///
/// "Transit" below is a message's arrival time minus its send time. The two clocks are not
/// synchronised, so a transit is only known up to a constant; the buffer measures everything
/// relative to the smallest transit among recent arrivals (the *floor*: the path's fastest
/// delivery). The *playout delay* is how long after that floor a message is played out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JitterConfig {
    /// The share of messages that should arrive in time, in `(0, 1]`: the playout delay is
    /// this quantile of the recent transits above the floor, so about `1 − percentile` of the
    /// messages arrive after their playout time and are dropped as late. Higher costs latency.
    /// Default 0.95.
    pub percentile: f64,
    /// How many recent arrivals (late ones included, duplicates and outliers not) the
    /// estimator remembers, at least 1 and at most [`MAX_WINDOW`]. The floor and the
    /// percentile are taken over them, so the window bounds how long the buffer remembers a
    /// burst of jitter: 256 arrivals are about 4 s at 60 Hz, 13 s at 20 Hz. It should hold
    /// well over `1 / (1 − percentile)` arrivals for the percentile to mean something.
    /// Default 256.
    pub window: usize,
    /// The smallest playout delay, above the floor. Raise it to one tick interval if your
    /// interpolation wants the next snapshot in hand before it is due. Default 0.
    pub min_delay: Duration,
    /// The largest playout delay, above the floor: beyond it the buffer accepts more late
    /// messages rather than more latency. It is also the tolerance of the outlier test: a
    /// message that would wait longer than this, or arrives later than this after its
    /// playout time, does not fit the estimate (see [`resync_after`](Self::resync_after)).
    /// Default 250 ms.
    pub max_delay: Duration,
    /// The playout delay used before the window holds enough arrivals to measure the
    /// percentile (`1 / (1 − percentile)` of them, or the whole window). Between `min_delay`
    /// and `max_delay`. Default 50 ms.
    pub initial_delay: Duration,
    /// How much slower than real time the playout clock may run while the delay grows, as a
    /// fraction of real time, in `(0, 1]`: 0.1 plays out at 0.9× speed, and grows the delay
    /// by 100 ms in 1 s. At 1 the playout may pause. Default 0.1.
    pub max_slowdown: f64,
    /// How much faster than real time the playout clock may run while the delay shrinks, as
    /// a fraction of real time, in `(0, 1]`: 0.05 plays out at 1.05× speed, and sheds 50 ms of
    /// delay in 1 s. Default 0.05 (shrinking only saves latency; growing saves messages).
    pub max_speedup: f64,
    /// The most messages held, at least 1. A push beyond it drops the oldest held message
    /// (the lowest sequence number), counted in [`JitterStats::overflowed`]. Default 128
    /// (2 s at 60 Hz).
    ///
    /// [`JitterStats::overflowed`]: super::JitterStats::overflowed
    pub max_depth: usize,
    /// How long arrivals must keep missing the estimate by more than `max_delay` (with at
    /// least 8 of them and none fitting in between) before the buffer starts over from them.
    /// Until then such arrivals are dropped and kept out of the estimate, so one message
    /// with a wild timestamp cannot derail the playout, while a lasting step (a sender clock
    /// that jumped, a path whose delay changed by more than `max_delay`) is followed after
    /// this long. Not zero. Default 1 s.
    pub resync_after: Duration,
}

impl Default for JitterConfig {
    fn default() -> Self {
        Self {
            percentile: 0.95,
            window: 256,
            min_delay: Duration::ZERO,
            max_delay: Duration::from_millis(250),
            initial_delay: Duration::from_millis(50),
            max_slowdown: 0.1,
            max_speedup: 0.05,
            max_depth: 128,
            resync_after: Duration::from_secs(1),
        }
    }
}

/// A [`JitterConfig`] value out of range.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum JitterConfigError {
    /// The percentile is not in `(0, 1]`.
    #[error("jitter: percentile must be in (0, 1], not {0}")]
    Percentile(f64),
    /// A rate of change is not in `(0, 1]`.
    #[error("jitter: {name} must be in (0, 1], not {value}")]
    Slew {
        /// The field.
        name: &'static str,
        /// Its value.
        value: f64,
    },
    /// A count or duration that must be positive is zero.
    #[error("jitter: {0} must not be zero")]
    Zero(&'static str),
    /// The window is larger than [`MAX_WINDOW`].
    #[error("jitter: a window of {0} arrivals exceeds the maximum of {MAX_WINDOW}")]
    WindowTooLarge(usize),
    /// `min_delay ≤ initial_delay ≤ max_delay` does not hold.
    #[error(
        "jitter: delays must satisfy min_delay ({min:?}) ≤ initial_delay ({initial:?}) ≤ \
         max_delay ({max:?})"
    )]
    DelayOrder {
        /// `min_delay`.
        min: Duration,
        /// `initial_delay`.
        initial: Duration,
        /// `max_delay`.
        max: Duration,
    },
}

impl JitterConfig {
    /// Checks every value.
    pub fn validate(&self) -> Result<(), JitterConfigError> {
        // Written so that NaN fails too.
        if !(self.percentile > 0.0 && self.percentile <= 1.0) {
            return Err(JitterConfigError::Percentile(self.percentile));
        }
        for (name, value) in [
            ("max_slowdown", self.max_slowdown),
            ("max_speedup", self.max_speedup),
        ] {
            if !(value > 0.0 && value <= 1.0) {
                return Err(JitterConfigError::Slew { name, value });
            }
        }
        if self.window == 0 {
            return Err(JitterConfigError::Zero("window"));
        }
        if self.window > MAX_WINDOW {
            return Err(JitterConfigError::WindowTooLarge(self.window));
        }
        if self.max_depth == 0 {
            return Err(JitterConfigError::Zero("max_depth"));
        }
        if self.resync_after.is_zero() {
            return Err(JitterConfigError::Zero("resync_after"));
        }
        if !(self.min_delay <= self.initial_delay && self.initial_delay <= self.max_delay) {
            return Err(JitterConfigError::DelayOrder {
                min: self.min_delay,
                initial: self.initial_delay,
                max: self.max_delay,
            });
        }
        Ok(())
    }

    /// How many arrivals the window needs before its percentile replaces `initial_delay`:
    /// `⌈1 / (1 − percentile)⌉` (the fewest samples with one above the percentile), at most
    /// the window.
    pub(super) fn warmup(&self) -> usize {
        let needed = (1.0 / (1.0 - self.percentile)).ceil();
        if needed.is_finite() && needed < self.window as f64 {
            // In range: a positive whole number below the window.
            needed as usize
        } else {
            self.window
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_valid_and_every_bad_value_is_named() {
        let ok = JitterConfig::default();
        assert_eq!(ok.validate(), Ok(()));
        assert_eq!(ok.warmup(), 20);
        let bad = |f: fn(&mut JitterConfig)| {
            let mut c = ok;
            f(&mut c);
            c.validate().unwrap_err()
        };
        assert_eq!(
            bad(|c| c.percentile = 0.0),
            JitterConfigError::Percentile(0.0)
        );
        assert!(matches!(
            bad(|c| c.percentile = f64::NAN),
            JitterConfigError::Percentile(_)
        ));
        assert_eq!(
            bad(|c| c.percentile = 1.5),
            JitterConfigError::Percentile(1.5)
        );
        assert_eq!(
            bad(|c| c.max_speedup = 0.0),
            JitterConfigError::Slew {
                name: "max_speedup",
                value: 0.0
            }
        );
        assert!(matches!(
            bad(|c| c.max_slowdown = 2.0),
            JitterConfigError::Slew {
                name: "max_slowdown",
                ..
            }
        ));
        assert_eq!(bad(|c| c.window = 0), JitterConfigError::Zero("window"));
        assert_eq!(
            bad(|c| c.window = MAX_WINDOW + 1),
            JitterConfigError::WindowTooLarge(MAX_WINDOW + 1)
        );
        assert_eq!(
            bad(|c| c.max_depth = 0),
            JitterConfigError::Zero("max_depth")
        );
        assert_eq!(
            bad(|c| c.resync_after = Duration::ZERO),
            JitterConfigError::Zero("resync_after")
        );
        assert!(matches!(
            bad(|c| c.initial_delay = Duration::from_secs(1)),
            JitterConfigError::DelayOrder { .. }
        ));
        assert!(matches!(
            bad(|c| c.min_delay = Duration::from_millis(60)),
            JitterConfigError::DelayOrder { .. }
        ));
        // The warm-up never exceeds the window, even for a percentile of 1.
        let all = JitterConfig {
            percentile: 1.0,
            window: 32,
            ..ok
        };
        assert_eq!(all.validate(), Ok(()));
        assert_eq!(all.warmup(), 32);
        let p99 = JitterConfig {
            percentile: 0.99,
            ..ok
        };
        assert_eq!(p99.warmup(), 100);
    }
}
