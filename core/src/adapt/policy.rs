//! The policy trait: from the path's estimates to a strategy.

use std::borrow::Cow;
use std::fmt;
use std::time::{Duration, Instant};

use super::Strategy;
use crate::estimate::PathEstimates;

/// What a policy sees when it is asked for a strategy.
#[derive(Debug, Clone, Copy)]
pub struct PolicyInput<'a> {
    /// The time of the decision.
    pub now: Instant,
    /// The path's estimates at `now`.
    pub estimates: &'a PathEstimates,
    /// The strategy in force.
    pub current: &'a Strategy,
    /// The largest datagram the path is known to carry (the strategy's datagram size is
    /// capped at it).
    pub max_datagram_size: u16,
    /// The smallest RTT seen, if any.
    pub min_rtt: Option<Duration>,
    /// The smoothed RTT, if sampled.
    pub smoothed_rtt: Option<Duration>,
    /// The congestion controller's model of the bottleneck rate in bytes per second, if it
    /// keeps one (BBR's max_bw; loss-based controllers keep none). Unlike the delivery rate, it
    /// does not fall when random loss holds a window down.
    pub controller_bandwidth: Option<u64>,
    /// Whether the application sent real-time messages in the last 2 s (on an unreliable or
    /// sequenced lane, or with a deadline).
    pub realtime: bool,
    /// The real-time messages' demand on the path: the bytes per second they take on the
    /// wire, counted over the last second as they are queued, before any repair (see
    /// [`RealtimeDemand`](crate::estimate::RealtimeDemand)); `None` before the first.
    pub realtime_rate: Option<u64>,
}

/// A policy's answer: the strategy it wants and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The strategy wanted (knobs the application pinned are overridden by the selector).
    pub strategy: Strategy,
    /// Why, in a few words (reported with the change).
    pub reason: Cow<'static, str>,
}

impl Decision {
    /// Keep `current`, for `reason`.
    pub fn keep(current: &Strategy, reason: &'static str) -> Self {
        Self {
            strategy: *current,
            reason: Cow::Borrowed(reason),
        }
    }
}

/// Maps the path's estimates to a strategy (DESIGN.md §5). The
/// [`Selector`](super::Selector) calls it every
/// [`AdaptConfig::evaluate_interval`](super::AdaptConfig::evaluate_interval) and takes care
/// of hysteresis, dwell time and the application's pins, so a policy can be a plain function
/// of its input; it may keep state of its own (its own hysteresis bands, say).
pub trait Policy: fmt::Debug + Send {
    /// A short name for reports.
    fn name(&self) -> &str;

    /// The strategy for the path as `input` describes it.
    fn decide(&mut self, input: &PolicyInput<'_>) -> Decision;
}

/// Makes one [`Policy`] per connection (a policy may keep per-connection state).
pub trait PolicyFactory: fmt::Debug + Send + Sync {
    /// A policy for a new connection.
    fn build(&self) -> Box<dyn Policy>;
}
