//! Adaptation: the strategy selector that turns the path's estimates into a strategy and
//! applies it live (DESIGN.md §5).
//!
//! Every connection measures its path ([`estimate`](crate::estimate)). With adaptation on (the
//! default), a [`Selector`] asks a [`Policy`] — [`WeirPolicy`] unless configured otherwise —
//! for a [`Strategy`] every [`AdaptConfig::evaluate_interval`], and applies a new one only when
//! the policy asked for it for [`AdaptConfig::confirm`] and the last change is
//! [`AdaptConfig::min_dwell`] old. The connection then, live:
//! - switches the congestion controller, handing over its state (window, RTT, bandwidth, W_max);
//! - changes the datagram size of the packets it sends (never above
//!   [`TransportConfig::max_datagram_size`](crate::config::TransportConfig::max_datagram_size),
//!   never below [`MIN_STRATEGY_DATAGRAM`]; the handshake keeps its full-size packets);
//! - sets the least FEC level of its real-time lanes and the batch size of its coalescing
//!   lanes;
//! - sets the compression of the messages its adaptive lanes queue from then on (lanes that
//!   leave it to the strategy, [`LaneCompression::Auto`](crate::lanes::LaneCompression::Auto));
//! - reports the transport it recommends (not applied yet: transport switching is still to
//!   come);
//!
//! and reports [`Event::StrategyChanged`](crate::connection::Event::StrategyChanged) with the
//! old strategy, the new one and the reason. A knob the application pins ([`Pins`]) is never
//! touched.

mod config;
mod policy;
mod selector;
mod strategy;
mod tiers;
mod weir;

pub use config::{AdaptConfig, Pins, PolicyChoice};
pub use policy::{Decision, Policy, PolicyFactory, PolicyInput};
pub use selector::{Selector, StrategyChange};
pub use strategy::{CompressionChoice, MIN_STRATEGY_DATAGRAM, Strategy, TransportChoice, fec_name};
pub use tiers::{SeedTiers, TIER_MARGIN};
pub use weir::WeirPolicy;
