//! `--adapt`: which strategy policy a weir connection runs (`weir_core::adapt`).

use clap::ValueEnum;
use weir_core::adapt::{AdaptConfig, Pins, PolicyChoice};
use weir_core::congestion::ControllerKind;

/// The strategy policies the commands offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum AdaptPolicy {
    /// weir's default: FEC on real-time lanes from the loss rate, datagram size from the
    /// bandwidth, the controller kept.
    #[default]
    Weir,
    /// The seed's four tiers, picked by the quality score.
    SeedTiers,
    /// No adaptation: everything stays as configured.
    Off,
}

impl AdaptPolicy {
    /// The core's configuration; a controller named on the command line is pinned, so that no
    /// policy switches away from what the user asked for.
    pub fn config(self, pinned_controller: Option<ControllerKind>) -> AdaptConfig {
        let policy = match self {
            Self::Weir => PolicyChoice::Weir,
            Self::SeedTiers => PolicyChoice::SeedTiers,
            Self::Off => PolicyChoice::Off,
        };
        AdaptConfig {
            pins: Pins {
                controller: pinned_controller,
                ..Pins::default()
            },
            ..AdaptConfig::with_policy(policy)
        }
    }
}
