//! The windows and bounds of a connection's estimators.

use std::time::Duration;

/// How much history the estimators keep (see [`estimate`](super)).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EstimatorConfig {
    /// The bandwidth statistics' window (default 10 s).
    pub bandwidth_window: Duration,
    /// The bandwidth statistics' slot: samples within one are averaged (default 100 ms). At
    /// most 10 000 slots per window.
    pub bandwidth_slot: Duration,
    /// The loss rate's window (default 5 s: long enough to hold a few hundred packets of a
    /// 60 Hz game flow, short enough to see a tunnel).
    pub loss_window: Duration,
    /// How often a quality score goes into the history (default 1 s).
    pub quality_interval: Duration,
    /// Scores the history keeps (default 300: five minutes at the default interval; at most
    /// 100 000).
    pub quality_history: usize,
}

impl Default for EstimatorConfig {
    fn default() -> Self {
        Self {
            bandwidth_window: Duration::from_secs(10),
            bandwidth_slot: Duration::from_millis(100),
            loss_window: Duration::from_secs(5),
            quality_interval: Duration::from_secs(1),
            quality_history: 300,
        }
    }
}

/// Most bandwidth slots per window.
const MAX_SLOTS: u128 = 10_000;
/// Most scores in the history.
const MAX_HISTORY: usize = 100_000;

/// An [`EstimatorConfig`] value out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EstimatorConfigError {
    /// A window or interval of zero.
    #[error("estimator setting `{0}` must be above zero")]
    Zero(&'static str),
    /// More than 10 000 bandwidth slots in the window.
    #[error("bandwidth window {window:?} holds more than 10 000 slots of {slot:?}")]
    TooManySlots {
        /// The window.
        window: Duration,
        /// The slot.
        slot: Duration,
    },
    /// A slot longer than the window.
    #[error("bandwidth slot {slot:?} is longer than the window {window:?}")]
    SlotOverWindow {
        /// The window.
        window: Duration,
        /// The slot.
        slot: Duration,
    },
    /// A history of more than 100 000 scores.
    #[error("quality history of {0} scores is above the limit of 100 000")]
    History(usize),
}

impl EstimatorConfig {
    /// Checks every value.
    pub fn validate(&self) -> Result<(), EstimatorConfigError> {
        for (name, value) in [
            ("bandwidth_window", self.bandwidth_window),
            ("bandwidth_slot", self.bandwidth_slot),
            ("loss_window", self.loss_window),
            ("quality_interval", self.quality_interval),
        ] {
            if value.is_zero() {
                return Err(EstimatorConfigError::Zero(name));
            }
        }
        let (window, slot) = (self.bandwidth_window, self.bandwidth_slot);
        if slot > window {
            return Err(EstimatorConfigError::SlotOverWindow { window, slot });
        }
        if window.as_nanos() / slot.as_nanos() > MAX_SLOTS {
            return Err(EstimatorConfigError::TooManySlots { window, slot });
        }
        if self.quality_history > MAX_HISTORY {
            return Err(EstimatorConfigError::History(self.quality_history));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_valid_and_bad_values_are_named() {
        assert_eq!(EstimatorConfig::default().validate(), Ok(()));
        let bad = EstimatorConfig {
            loss_window: Duration::ZERO,
            ..EstimatorConfig::default()
        };
        assert_eq!(
            bad.validate(),
            Err(EstimatorConfigError::Zero("loss_window"))
        );
        let bad = EstimatorConfig {
            bandwidth_slot: Duration::from_micros(1),
            ..EstimatorConfig::default()
        };
        assert!(matches!(
            bad.validate(),
            Err(EstimatorConfigError::TooManySlots { .. })
        ));
        let bad = EstimatorConfig {
            bandwidth_slot: Duration::from_secs(11),
            ..EstimatorConfig::default()
        };
        assert!(matches!(
            bad.validate(),
            Err(EstimatorConfigError::SlotOverWindow { .. })
        ));
        let bad = EstimatorConfig {
            quality_history: 1 << 20,
            ..EstimatorConfig::default()
        };
        assert_eq!(bad.validate(), Err(EstimatorConfigError::History(1 << 20)));
    }
}
