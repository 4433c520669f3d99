//! Congestion control (DESIGN.md §4).
//!
//! Every algorithm implements one trait, [`Controller`], fed by the connection with the events
//! of loss recovery and asked for a congestion window and, optionally, a pacing rate. A
//! [`ControllerConfig`] builds a controller per connection; the strategy selector can replace a
//! connection's controller while it runs, seeding the new one with the old one's
//! [`ControllerState`] through [`ControllerConfig::build_from_state`].
//!
//! ## Events, in the order the connection delivers them
//!
//! 1. [`Controller::on_packet_sent`] for every packet that counts towards bytes in flight.
//! 2. On an ACK frame of the application space that acknowledges packets declared lost
//!    earlier: [`Controller::on_spurious_congestion`] for each congestion event all of whose
//!    lost packets are now acknowledged (before anything else the frame does).
//! 3. On an ACK frame that newly acknowledges packets (RFC 9002 Appendix A.7's order):
//!    1. [`Controller::on_congestion_event`] once if the frame revealed losses of in-flight
//!       packets or a new ECN-CE mark;
//!    2. [`Controller::on_packet_acked`] once per newly acknowledged in-flight packet, in
//!       ascending packet-number order;
//!    3. [`Controller::on_ack_event`] once, summarising the frame.
//! 4. On a loss timer: [`Controller::on_congestion_event`] if in-flight packets were lost.
//!
//! Losses are delivered before acknowledgements, as in RFC 9002 Appendix A.7, so packets that
//! the same ACK frame acknowledges, all sent before the recovery period it opens, do not grow
//! the window that the loss just reduced.
//!
//! ## Implementations
//!
//! - [`NewReno`]: RFC 9002 §7 and Appendix B.
//! - [`Cubic`]: RFC 9438, with [`HyStart`] (HyStart++, RFC 9406) for its first slow start.
//! - [`Vegas`]: delay-based, as Linux `tcp_vegas` (Brakmo & Peterson 1995).
//! - [`Bbr`]: the IETF BBR draft (DESIGN.md §4).
//!
//! NewReno, CUBIC and Vegas share RFC 9002's window bookkeeping (the threshold, the recovery
//! period, the minimum and initial windows, persistent congestion, the application-limited
//! rule, the undo of a reduction whose losses were spurious) in one private module, `window`;
//! each keeps only its own growth and reduction rule.

use std::fmt;
use std::time::Instant;

pub mod bbr;
mod config;
pub mod cubic;
pub mod delivery_rate;
mod events;
pub mod hystart;
mod new_reno;
#[cfg(test)]
mod properties;
mod spurious_tally;
mod state;
pub mod vegas;
mod window;

pub use bbr::{Bbr, BbrConfig, BbrPhase, Gain};
pub use config::{
    ControllerConfig, ControllerKind, ParseControllerKindError, UnsupportedController,
};
pub use cubic::Cubic;
pub use delivery_rate::{DeliveryRateEstimator, PacketDeliveryState};
pub use events::{
    AckEvent, AckedPacket, CongestionCause, CongestionEvent, RateSample, RttSnapshot,
    SpuriousCongestion,
};
pub use hystart::HyStart;
pub use new_reno::NewReno;
pub use state::ControllerState;
pub use vegas::Vegas;

/// RFC 9002 §7.2: the minimum congestion window, in datagrams (kMinimumWindow =
/// 2 × max_datagram_size).
pub const MINIMUM_WINDOW_PACKETS: u64 = 2;

/// RFC 9002 §7.2: the initial congestion window is at most 10 datagrams…
pub const INITIAL_WINDOW_PACKETS: u64 = 10;

/// RFC 9002 §7.2: …and at most `max(14720, 2 × max_datagram_size)` bytes (the limit of
/// RFC 6928 §2).
pub const INITIAL_WINDOW_BYTES_CAP: u64 = 14_720;

/// RFC 9002 §7.2: the initial congestion window for datagrams of `max_datagram_size` bytes,
/// `min(10 × max_datagram_size, max(14720, 2 × max_datagram_size))`.
pub fn initial_window(max_datagram_size: u64) -> u64 {
    let cap = INITIAL_WINDOW_BYTES_CAP.max(max_datagram_size.saturating_mul(2));
    max_datagram_size
        .saturating_mul(INITIAL_WINDOW_PACKETS)
        .min(cap)
}

/// A congestion controller: consumes loss-recovery events, produces a congestion window and
/// optionally a pacing rate.
///
/// Implementations are deterministic functions of the events and the `now` passed in (they
/// never read a clock, DESIGN.md §2), are `Send` so that a connection can move between threads,
/// and can be replaced live: [`state`](Self::state) exports what a successor needs to continue
/// without a restart.
///
/// All byte counts are UDP payload bytes.
pub trait Controller: Send + fmt::Debug {
    /// A packet counting towards bytes in flight was sent: `bytes` is its size and
    /// `bytes_in_flight` the connection's bytes in flight after sending it.
    fn on_packet_sent(&mut self, now: Instant, bytes: u64, bytes_in_flight: u64);

    /// An in-flight packet was newly acknowledged (called once per packet, in packet-number
    /// order, after the frame's congestion event and before its
    /// [`on_ack_event`](Self::on_ack_event)).
    fn on_packet_acked(&mut self, now: Instant, acked: &AckedPacket);

    /// An ACK frame that newly acknowledged packets has been processed: once per frame, after
    /// its congestion event and packets. Per-RTT algorithms (Vegas, BBR) work here. The
    /// default does nothing.
    fn on_ack_event(&mut self, now: Instant, event: &AckEvent) {
        let _ = (now, event);
    }

    /// In-flight packets were declared lost, or the peer reported a new ECN-CE mark
    /// (RFC 9002 §7.1, Appendix B.6–B.8); at most once per ACK frame or loss timer. The event
    /// also says whether the losses establish persistent congestion (§7.6).
    fn on_congestion_event(&mut self, now: Instant, event: &CongestionEvent);

    /// The congestion window, in bytes: the connection sends while bytes in flight are below it
    /// (RFC 9002 §7).
    fn window(&self) -> u64;

    /// The pacing rate in bytes per second, for algorithms that set it themselves (BBR).
    /// `None`, the default, lets the connection pace at `gain × window / smoothed RTT`
    /// (DESIGN.md §4).
    fn pacing_rate(&self) -> Option<u64> {
        None
    }

    /// The controller's model of the bottleneck rate in bytes per second, if it keeps one
    /// (BBR's `BBR.bw`); `None`, the default, for window-based controllers.
    fn bandwidth_estimate(&self) -> Option<u64> {
        None
    }

    /// Whether the controller is in slow start (for statistics).
    fn in_slow_start(&self) -> bool;

    /// The slow-start threshold in bytes, if set (for statistics).
    fn ssthresh(&self) -> Option<u64>;

    /// Which algorithm this is.
    fn kind(&self) -> ControllerKind;

    /// The maximum datagram size changed (path MTU discovery), in bytes (RFC 9002 §7.2).
    fn set_max_datagram_size(&mut self, size: u64);

    /// A snapshot that seeds a replacement controller when the strategy selector switches
    /// algorithms live.
    fn state(&self) -> ControllerState;

    /// Whether the connection caps the window from outside (the adaptive queue guard, while
    /// real-time messages flow), called after every ACK frame. A controller whose probing
    /// assumes it owns the window may fall back to a probing that works under a cap; the
    /// default ignores it.
    fn set_window_capped(&mut self, _capped: bool) {}

    /// A congestion event reported earlier turned out spurious (see [`SpuriousCongestion`]). A
    /// controller that reduced its window or model for it, and saw no real loss in the same
    /// recovery period, may undo the reduction; the default ignores it.
    fn on_spurious_congestion(&mut self, _now: Instant, _event: &SpuriousCongestion) {}

    /// Capacity drops the controller acted on before its model would have let go of the old
    /// rate (weir's BBR: [`BbrConfig::capacity_drop`]); 0 for controllers without such a
    /// response.
    fn capacity_drops(&self) -> u64 {
        0
    }
}

/// A base instant for tests: controllers only ever compare instants derived from it.
#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests need a base instant
pub(crate) fn test_epoch() -> Instant {
    Instant::now()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initial_window_per_rfc_9002_7_2() {
        // 10 × 1200 = 12000 < 14720.
        assert_eq!(initial_window(1200), 12_000);
        // 10 × 1472 = 14720: exactly the cap.
        assert_eq!(initial_window(1472), 14_720);
        // 10 × 1500 = 15000 > max(14720, 3000).
        assert_eq!(initial_window(1500), 14_720);
        // Jumbo datagrams: max(14720, 2 × 9000) = 18000.
        assert_eq!(initial_window(9000), 18_000);
    }

    #[test]
    fn controller_is_object_safe_and_send() {
        fn assert_send<T: Send + ?Sized>() {}
        assert_send::<dyn Controller>();
    }
}
