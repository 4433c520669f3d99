//! How a connection adapts: the policy, its timing and the application's pins.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::{Policy, PolicyFactory, SeedTiers, WeirPolicy};
use crate::congestion::ControllerKind;
use crate::lanes::FecLevel;

use super::{CompressionChoice, TransportChoice};

/// Which policy a connection runs.
#[derive(Clone, Default)]
pub enum PolicyChoice {
    /// Adapt nothing: the connection keeps its configured controller, full-size datagrams and
    /// each lane's own FEC and batching.
    Off,
    /// weir's default ([`WeirPolicy`]).
    #[default]
    Weir,
    /// The seed's four tiers ([`SeedTiers`]).
    SeedTiers,
    /// The application's own.
    Custom(Arc<dyn PolicyFactory>),
}

impl PolicyChoice {
    /// The policy for a new connection; `None` for [`PolicyChoice::Off`].
    pub fn build(&self) -> Option<Box<dyn Policy>> {
        match self {
            Self::Off => None,
            Self::Weir => Some(Box::new(WeirPolicy::new())),
            Self::SeedTiers => Some(Box::new(SeedTiers::new())),
            Self::Custom(factory) => Some(factory.build()),
        }
    }
}

impl fmt::Debug for PolicyChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Off => f.write_str("Off"),
            Self::Weir => f.write_str("Weir"),
            Self::SeedTiers => f.write_str("SeedTiers"),
            Self::Custom(factory) => f.debug_tuple("Custom").field(factory).finish(),
        }
    }
}

impl PartialEq for PolicyChoice {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Off, Self::Off) | (Self::Weir, Self::Weir) => true,
            (Self::SeedTiers, Self::SeedTiers) => true,
            (Self::Custom(a), Self::Custom(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

/// Knobs the application fixes: a pinned knob keeps its value whatever the policy says.
/// `None` leaves the knob to the policy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Pins {
    /// The congestion controller (else the configured one is where the policy starts).
    pub controller: Option<ControllerKind>,
    /// The datagram size (capped at the connection's maximum).
    pub datagram_size: Option<u16>,
    /// The batch size of coalescing lanes (`Some(None)`: each lane's own, always).
    pub batch_bytes: Option<Option<u32>>,
    /// The compression level.
    pub compression: Option<CompressionChoice>,
    /// The real-time lanes' least FEC level (`Some(FecLevel::None)`: each lane's own).
    pub fec: Option<FecLevel>,
    /// The transport recommendation.
    pub transport: Option<TransportChoice>,
    /// The queue guard.
    pub queue_guard: Option<bool>,
}

impl Pins {
    /// Every knob pinned to `strategy`'s value: a fixed strategy.
    pub fn all(strategy: &super::Strategy) -> Self {
        Self {
            controller: Some(strategy.controller),
            datagram_size: Some(strategy.datagram_size),
            batch_bytes: Some(strategy.batch_bytes),
            compression: Some(strategy.compression),
            fec: Some(strategy.fec),
            transport: Some(strategy.transport),
            queue_guard: Some(strategy.queue_guard),
        }
    }
}

/// How a connection adapts its strategy to the path (DESIGN.md §5; see [`adapt`](super)).
#[derive(Debug, Clone, PartialEq)]
pub struct AdaptConfig {
    /// The policy (default: [`PolicyChoice::Weir`]).
    pub policy: PolicyChoice,
    /// Knobs the application fixes.
    pub pins: Pins,
    /// How often the policy is asked (default 250 ms): after an ACK or a loss, at most this
    /// often.
    pub evaluate_interval: Duration,
    /// How long the policy must keep asking for the same new strategy before it is applied
    /// (default 1 s): a blip does not change anything.
    pub confirm: Duration,
    /// The least time between two changes (default 5 s): at most 12 changes a minute
    /// whatever the path does.
    pub min_dwell: Duration,
}

impl Default for AdaptConfig {
    fn default() -> Self {
        Self {
            policy: PolicyChoice::Weir,
            pins: Pins::default(),
            evaluate_interval: Duration::from_millis(250),
            confirm: Duration::from_secs(1),
            min_dwell: Duration::from_secs(5),
        }
    }
}

impl AdaptConfig {
    /// No adaptation: every knob stays as configured.
    pub fn off() -> Self {
        Self {
            policy: PolicyChoice::Off,
            ..Self::default()
        }
    }

    /// A fixed strategy: every knob pinned to `strategy`'s value from the start.
    pub fn fixed(strategy: &super::Strategy) -> Self {
        Self {
            pins: Pins::all(strategy),
            ..Self::default()
        }
    }

    /// The default timing with `policy`.
    pub fn with_policy(policy: PolicyChoice) -> Self {
        Self {
            policy,
            ..Self::default()
        }
    }
}
