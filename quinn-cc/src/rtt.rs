//! The RTT estimate handed to weir's controllers.
//!
//! quinn passes its [`RttEstimator`](quinn_proto::RttEstimator) to `on_ack`, but updates it
//! with an ACK frame's sample only after the frame's `on_ack`/`on_end_acks` calls, and exposes
//! no latest sample or variation. weir's controllers want the estimate *after* the frame's
//! sample (RFC 9002 Appendix A.7's order), so the adapter takes the sample itself, as RFC 9002
//! §5.1 does (`now` − send time of the newest acknowledged packet, when it is newer than any
//! acknowledged before), and keeps:
//!
//! - `latest` and `min` from its own samples (RFC 9002 §5.2: `min_rtt` ignores ACK delay, so
//!   these equal quinn's);
//! - `smoothed` from quinn once quinn has a sample (it subtracts the peer's ACK delay, which a
//!   controller never sees), and from the adapter's first sample before that;
//! - `rttvar` from its own samples without ACK-delay adjustment (no weir controller reads it).

use std::time::{Duration, Instant};

use weir_core::congestion::RttSnapshot;

/// RTT samples taken from acknowledgements, merged with quinn's smoothed RTT.
#[derive(Debug, Clone, Default)]
pub(crate) struct RttTracker {
    latest: Option<Duration>,
    min: Option<Duration>,
    rttvar: Duration,
    own_smoothed: Option<Duration>,
    /// quinn's smoothed RTT as last seen, once the adapter had a sample of its own before it
    /// (quinn's estimator has one then too).
    quinn_smoothed: Option<Duration>,
    /// quinn's `RttEstimator::get()` as last seen: its initial RTT before any sample.
    quinn_get: Option<Duration>,
    /// Send time of the newest packet sampled.
    newest_sampled: Option<Instant>,
}

impl RttTracker {
    /// quinn's estimator as `on_ack` showed it: `smoothed` is `RttEstimator::get()`.
    pub(crate) fn on_quinn_estimate(&mut self, smoothed: Duration) {
        self.quinn_get = Some(smoothed);
        if self.latest.is_some() {
            self.quinn_smoothed = Some(smoothed);
        }
    }

    /// An ACK frame at `now` newly acknowledged packets, the newest sent at `newest_sent`.
    /// Returns whether it gave an RTT sample.
    pub(crate) fn on_ack_frame(&mut self, now: Instant, newest_sent: Instant) -> bool {
        if self.newest_sampled.is_some_and(|t| newest_sent <= t) {
            return false;
        }
        self.newest_sampled = Some(newest_sent);
        let sample = now.saturating_duration_since(newest_sent);
        self.latest = Some(sample);
        self.min = Some(self.min.map_or(sample, |m| m.min(sample)));
        // RFC 9002 §5.3, without the ACK-delay adjustment.
        match self.own_smoothed {
            None => {
                self.own_smoothed = Some(sample);
                self.rttvar = sample / 2;
            }
            Some(smoothed) => {
                self.rttvar = (self.rttvar * 3 + smoothed.abs_diff(sample)) / 4;
                self.own_smoothed = Some((smoothed * 7 + sample) / 8);
            }
        }
        true
    }

    /// Whether any sample was taken.
    pub(crate) fn has_samples(&self) -> bool {
        self.latest.is_some()
    }

    /// The minimum RTT, if sampled.
    pub(crate) fn min(&self) -> Option<Duration> {
        self.min
    }

    /// The smoothed RTT: quinn's once it has a sample, else the adapter's own, else quinn's
    /// initial RTT (else RFC 9002 §6.2.2's 333 ms).
    pub(crate) fn smoothed(&self) -> Duration {
        self.quinn_smoothed
            .or(self.own_smoothed)
            .or(self.quinn_get)
            .unwrap_or(INITIAL_RTT)
    }

    /// The estimate in weir's terms. Before the first sample every field holds the smoothed
    /// (initial) RTT and `rttvar` half of it, as weir's connection reports it.
    pub(crate) fn snapshot(&self) -> RttSnapshot {
        let smoothed = self.smoothed();
        RttSnapshot {
            latest: self.latest.unwrap_or(smoothed),
            smoothed,
            min: self.min.unwrap_or(smoothed),
            rttvar: if self.has_samples() {
                self.rttvar
            } else {
                smoothed / 2
            },
        }
    }
}

/// RFC 9002 §6.2.2: the initial RTT (quinn's default too).
const INITIAL_RTT: Duration = Duration::from_millis(333);
