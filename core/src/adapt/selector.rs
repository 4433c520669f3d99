//! The strategy selector: asks the policy, applies pins, hysteresis and dwell time.

use std::borrow::Cow;
use std::time::Instant;

use super::{AdaptConfig, Decision, Pins, Policy, PolicyInput, Strategy};

/// A change of strategy, as the application sees it (in
/// [`Event::StrategyChanged`](crate::connection::Event::StrategyChanged)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StrategyChange {
    /// The strategy before.
    pub old: Strategy,
    /// The strategy after.
    pub new: Strategy,
    /// Why (the policy's words).
    pub reason: Cow<'static, str>,
}

/// Runs a [`Policy`] for one connection (see [`AdaptConfig`] for the timing).
#[derive(Debug)]
pub struct Selector {
    policy: Box<dyn Policy>,
    config: AdaptConfig,
    current: Strategy,
    /// A strategy the policy asked for, different from the current one, and since when.
    candidate: Option<(Strategy, Instant)>,
    last_change: Option<Instant>,
    last_evaluation: Option<Instant>,
}

impl Selector {
    /// A selector running `policy` from `initial` (pins applied to it).
    pub fn new(policy: Box<dyn Policy>, config: AdaptConfig, initial: Strategy) -> Self {
        let current = pinned(initial, &config.pins);
        Self {
            policy,
            config,
            current,
            candidate: None,
            last_change: None,
            last_evaluation: None,
        }
    }

    /// The strategy in force.
    pub fn current(&self) -> &Strategy {
        &self.current
    }

    /// The policy's name.
    pub fn policy_name(&self) -> &str {
        self.policy.name()
    }

    /// Whether an evaluation is due at `now`.
    pub fn due(&self, now: Instant) -> bool {
        self.last_evaluation
            .is_none_or(|at| now.saturating_duration_since(at) >= self.config.evaluate_interval)
    }

    /// Asks the policy (if due) and returns the change to apply, if any. `input.current` is
    /// replaced by the selector's own current strategy.
    pub fn evaluate(&mut self, input: &PolicyInput<'_>) -> Option<StrategyChange> {
        let now = input.now;
        if !self.due(now) {
            return None;
        }
        self.last_evaluation = Some(now);
        let input = PolicyInput {
            current: &self.current,
            ..*input
        };
        let Decision { strategy, reason } = self.policy.decide(&input);
        let wanted = pinned(strategy, &self.config.pins);
        if wanted == self.current {
            self.candidate = None;
            return None;
        }
        let since = match self.candidate {
            Some((candidate, since)) if candidate == wanted => since,
            _ => {
                self.candidate = Some((wanted, now));
                now
            }
        };
        let confirmed = now.saturating_duration_since(since) >= self.config.confirm;
        let dwelt = self
            .last_change
            .is_none_or(|at| now.saturating_duration_since(at) >= self.config.min_dwell);
        if !(confirmed && dwelt) {
            return None;
        }
        let change = StrategyChange {
            old: self.current,
            new: wanted,
            reason,
        };
        self.current = wanted;
        self.candidate = None;
        self.last_change = Some(now);
        Some(change)
    }
}

/// `strategy` with the pinned knobs set to their pins.
fn pinned(mut strategy: Strategy, pins: &Pins) -> Strategy {
    if let Some(v) = pins.controller {
        strategy.controller = v;
    }
    if let Some(v) = pins.datagram_size {
        strategy.datagram_size = v;
    }
    if let Some(v) = pins.batch_bytes {
        strategy.batch_bytes = v;
    }
    if let Some(v) = pins.compression {
        strategy.compression = v;
    }
    if let Some(v) = pins.fec {
        strategy.fec = v;
    }
    if let Some(v) = pins.transport {
        strategy.transport = v;
    }
    if let Some(v) = pins.queue_guard {
        strategy.queue_guard = v;
    }
    strategy
}

#[cfg(test)]
mod tests;
