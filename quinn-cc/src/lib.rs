//! # weir-quinn-cc
//!
//! weir's congestion controllers — BBR (draft-ietf-ccwg-bbr, with weir's loss tolerance),
//! CUBIC with HyStart++ (RFC 9438, RFC 9406), Vegas and NewReno (RFC 9002) — for
//! [quinn](https://crates.io/crates/quinn) users: a [`WeirControllerFactory`] is a quinn-proto
//! 0.11 [`ControllerFactory`], so picking weir's BBR is one line of quinn's transport
//! configuration.
//!
//! ```
//! use std::sync::Arc;
//! use weir_quinn_cc::WeirControllerFactory;
//!
//! let mut transport = quinn_proto::TransportConfig::default();
//! transport.congestion_controller_factory(Arc::new(WeirControllerFactory::bbr()));
//! ```
//!
//! (With the `quinn` crate, `quinn::TransportConfig` is the same type.) Each connection gets
//! its own [`WeirController`], which wraps the weir algorithm and translates quinn's calls into
//! the events weir's [`Controller`](weir_core::congestion::Controller) trait documents.
//!
//! ## How quinn's calls map onto weir's events
//!
//! | quinn-proto calls | weir's controller receives |
//! |---|---|
//! | `on_sent(now, bytes, _)`, once per datagram (per GSO batch) | `on_packet_sent(now, bytes, in_flight)` with the adapter's count of bytes in flight |
//! | `on_ack(now, sent, bytes, app_limited, rtt)`, once per acknowledged ack-eliciting packet | buffered until the frame ends |
//! | `on_end_acks(now, in_flight, app_limited, _)`, once per ACK frame | `on_packet_acked` per buffered packet, then `on_ack_event` with the frame's [`RateSample`](weir_core::congestion::RateSample) |
//! | `on_congestion_event(now, sent, persistent, lost_bytes)` | `on_congestion_event` with cause `Loss`, or `EcnCe` when `lost_bytes` is 0 |
//! | `on_mtu_update(mtu)` | `set_max_datagram_size(mtu)` |
//! | `window()` | `window()`, never below the minimum window |
//! | `metrics()` | window, `ssthresh()`, `pacing_rate()` × 8 (bits per second) |
//! | `initial_window()` | [`ControllerConfig::initial_window`](weir_core::congestion::ControllerConfig::initial_window) for the current datagram size |
//!
//! ## What is approximated
//!
//! - **Delivery-rate samples are rebuilt by the adapter.** quinn gives a controller no
//!   per-packet delivery snapshot. The adapter runs weir's own
//!   [`DeliveryRateEstimator`](weir_core::congestion::DeliveryRateEstimator) and keeps a log
//!   of sends keyed by send time: quinn stamps a packet's `time_sent` with the same `now` it
//!   passes to `on_sent`, and passes that time back to `on_ack`, so each acknowledgement
//!   finds the snapshot taken when its datagram left. Sends at one instant share one snapshot
//!   (a paced burst or a GSO batch: their packets count as one "packet" of the draft), and a
//!   log entry that quinn never acknowledges (a pure ACK, a lost packet) leaves it within a
//!   smoothed RTT of newer acknowledgements.
//! - **Order of losses and acknowledgements.** quinn detects losses *after* a frame's
//!   acknowledgements (`on_ack`…, `on_end_acks`, then `on_congestion_event`); weir's connection
//!   delivers them before (RFC 9002 Appendix A.7), so that acknowledgements in the frame that
//!   reveals a loss do not grow the window the loss then cuts. Through quinn, a frame's
//!   acknowledgements may grow the window by up to what the frame acknowledged before the
//!   reduction, which then applies to the larger window; lost bytes reach the rate estimator
//!   in the next frame's sample.
//! - **RTT.** quinn updates its RTT estimator only after `on_end_acks`, so the adapter takes
//!   the frame's sample itself (`now` − the newest acknowledged packet's send time, without
//!   the peer's ACK delay, as RFC 9002 defines `latest_rtt` and `min_rtt`) and takes the
//!   smoothed RTT from quinn (one frame behind, with the ACK delay removed).
//! - **Application-limited.** quinn passes one flag, "the connection was blocked on outgoing
//!   application data" at its last transmit; the adapter marks the estimator
//!   application-limited at the start of a frame that carries it (the delivery-rate draft's
//!   check "at the start of ACK processing") and hands the flag to the window rules (RFC 9002
//!   §7.8). Packets sent between running out of data and the next acknowledgement are not
//!   marked.
//! - **Bytes in flight.** quinn reports them only at `on_end_acks`; between frames the adapter
//!   adds what `on_sent` reports, which includes pure-ACK datagrams that quinn does not count
//!   (corrected at the next frame).
//! - **Pacing.** quinn's pacer is its own: a token bucket refilled at 5/4 × window ÷ smoothed
//!   RTT, which reads only `window()`. BBR's pacing rate
//!   ([`pacing_rate`](weir_core::congestion::Controller::pacing_rate), reported in `metrics()`)
//!   cannot reach it. Through quinn, BBR is therefore window-limited rather than
//!   rate-limited: in ProbeBW its window of about 2 × BDP is sent at 2.5 × the bottleneck
//!   rate, so it keeps up to a BDP queued where a deep buffer allows, and its pacing-gain cycle
//!   (0.9 / 1.0 / 1.25) shapes the window's target only, not the sending rate. The crate
//!   README's measurements show what that costs against weir's own connection.
//! - **ECN.** quinn reports a new ECN-CE mark as a congestion event with 0 lost bytes; the
//!   adapter maps it to [`CongestionCause::EcnCe`](weir_core::congestion::CongestionCause).
//!
//! ## Guarantees
//!
//! A [`WeirController`] never panics on any sequence of calls: an instant earlier than one
//! already seen is taken as that one, arithmetic saturates, a datagram size of 0 is taken as
//! 1, and `window()` is never below
//! [`ControllerConfig::minimum_window`](weir_core::congestion::ControllerConfig::minimum_window)
//! (never 0, which quinn's pacer rejects). It is deterministic: the same calls give the same
//! windows; BBR's random probe timing is seeded from its configuration and the number of
//! connections the factory built before.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod controller;
mod rtt;
mod send_log;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use quinn_proto::congestion::{Controller as QuinnController, ControllerFactory};
use weir_core::congestion::{ControllerConfig, ControllerKind};

pub use controller::WeirController;

/// Builds a [`WeirController`] per quinn connection: a quinn-proto
/// [`ControllerFactory`] for weir's algorithms.
///
/// Give it to quinn with `TransportConfig::congestion_controller_factory(Arc::new(factory))`.
/// The [`ControllerConfig`] sets the algorithm, the initial and minimum windows and BBR's
/// parameters; connections built by one factory mix the BBR seed with their number, so that
/// flows of one endpoint do not probe for bandwidth in lockstep.
#[derive(Debug)]
pub struct WeirControllerFactory {
    config: ControllerConfig,
    built: AtomicU64,
}

impl WeirControllerFactory {
    /// A factory of `kind` with RFC 9002's initial and minimum windows and weir's default
    /// parameters.
    pub fn new(kind: ControllerKind) -> Self {
        Self::with_config(ControllerConfig::new(kind))
    }

    /// A factory of the controllers `config` describes.
    pub fn with_config(config: ControllerConfig) -> Self {
        Self {
            config,
            built: AtomicU64::new(0),
        }
    }

    /// weir's BBR (draft-ietf-ccwg-bbr-06 with weir's tolerance of random loss).
    pub fn bbr() -> Self {
        Self::new(ControllerKind::Bbr)
    }

    /// weir's CUBIC (RFC 9438) with HyStart++ (RFC 9406) in its first slow start.
    pub fn cubic() -> Self {
        Self::new(ControllerKind::Cubic)
    }

    /// weir's Vegas (delay-based, as Linux `tcp_vegas`).
    pub fn vegas() -> Self {
        Self::new(ControllerKind::Vegas)
    }

    /// weir's NewReno (RFC 9002 §7).
    pub fn new_reno() -> Self {
        Self::new(ControllerKind::NewReno)
    }

    /// The configuration controllers are built from.
    pub fn config(&self) -> &ControllerConfig {
        &self.config
    }

    /// A controller for a connection starting at `now` whose datagrams carry
    /// `max_datagram_size` bytes of UDP payload, without going through quinn's boxed trait
    /// object.
    pub fn build_controller(&self, now: Instant, max_datagram_size: u16) -> WeirController {
        let n = self.built.fetch_add(1, Ordering::Relaxed);
        let mut config = self.config.clone();
        config.bbr.seed ^= splitmix64(n);
        WeirController::new(config, now, u64::from(max_datagram_size))
    }
}

impl Clone for WeirControllerFactory {
    /// The same configuration, counting connections from where this one is.
    fn clone(&self) -> Self {
        Self {
            config: self.config.clone(),
            built: AtomicU64::new(self.built.load(Ordering::Relaxed)),
        }
    }
}

impl From<ControllerConfig> for WeirControllerFactory {
    fn from(config: ControllerConfig) -> Self {
        Self::with_config(config)
    }
}

impl From<ControllerKind> for WeirControllerFactory {
    fn from(kind: ControllerKind) -> Self {
        Self::new(kind)
    }
}

impl ControllerFactory for WeirControllerFactory {
    fn build(self: Arc<Self>, now: Instant, current_mtu: u16) -> Box<dyn QuinnController> {
        Box::new(self.build_controller(now, current_mtu))
    }
}

/// SplitMix64's output function: a connection number spread over all 64 bits. 0 maps to 0,
/// so a factory's first connection uses the configured seed as it is.
fn splitmix64(n: u64) -> u64 {
    let mut z = n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
