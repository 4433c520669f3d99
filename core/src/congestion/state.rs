//! The state a controller hands to its replacement.

use std::time::{Duration, Instant};

/// A snapshot of a controller, used to seed a replacement when the strategy selector switches
/// algorithms on a live connection ([`ControllerConfig::build_from_state`]), so that the new
/// controller continues from the path's known capacity instead of restarting slow start.
///
/// [`ControllerConfig::build_from_state`]: super::ControllerConfig::build_from_state
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControllerState {
    /// The congestion window, in bytes.
    pub window: u64,
    /// The slow-start threshold, in bytes; `None` while still unset (infinite).
    pub ssthresh: Option<u64>,
    /// The maximum datagram size the controller was using, in bytes.
    pub max_datagram_size: u64,
    /// When the current congestion recovery period started, if one is active: a successor
    /// keeps ignoring losses of packets sent before it (RFC 9002 §7.3.2).
    pub recovery_start: Option<Instant>,
    /// The smoothed RTT last seen, if the controller has seen one.
    pub smoothed_rtt: Option<Duration>,
    /// The minimum RTT last seen, if the controller has seen one.
    pub min_rtt: Option<Duration>,
    /// The estimated bottleneck bandwidth in bytes per second, for controllers that estimate
    /// it (BBR).
    pub bandwidth: Option<u64>,
    /// The window just before the last congestion reduction, in bytes: RFC 9438's `W_max`
    /// (CUBIC's after fast convergence). A CUBIC successor resumes its approach to it rather
    /// than treating the inherited window as the path's capacity. `None` before the first
    /// reduction, after persistent congestion (RFC 9438 §4.8), and from BBR, whose window is
    /// not cut by losses.
    pub w_max: Option<u64>,
}

impl ControllerState {
    /// A state with only a window and a datagram size known.
    pub fn new(window: u64, max_datagram_size: u64) -> Self {
        Self {
            window,
            ssthresh: None,
            max_datagram_size,
            recovery_start: None,
            smoothed_rtt: None,
            min_rtt: None,
            bandwidth: None,
            w_max: None,
        }
    }
}
