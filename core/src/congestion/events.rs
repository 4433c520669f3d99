//! The events a [`Controller`](super::Controller) consumes.

use std::time::{Duration, Instant};

/// The connection's RTT estimate when an event happened (RFC 9002 §5).
///
/// Before the first RTT sample every field but `rttvar` holds the initial RTT (333 ms unless
/// configured) and `rttvar` half of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RttSnapshot {
    /// The most recent RTT sample (`latest_rtt`).
    pub latest: Duration,
    /// The smoothed RTT (`smoothed_rtt`).
    pub smoothed: Duration,
    /// The minimum RTT seen over the connection (`min_rtt`).
    pub min: Duration,
    /// The RTT variation (`rttvar`).
    pub rttvar: Duration,
}

/// One newly acknowledged in-flight packet (RFC 9002 Appendix B.5, OnPacketAcked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AckedPacket {
    /// When the packet was sent.
    pub sent_time: Instant,
    /// The packet's size, in bytes.
    pub bytes: u64,
    /// The RTT estimate after processing the ACK frame that acknowledged the packet.
    pub rtt: RttSnapshot,
    /// Whether the sender was application- or flow-control-limited, in which case the window
    /// must not grow (RFC 9002 §7.8): bytes in flight were below the congestion window and the
    /// sender was not pacing-limited when the packet was sent.
    pub app_limited: bool,
}

/// A delivery-rate sample: what one ACK frame says about the rate at which the path delivers
/// data (draft-cheng-iccrg-delivery-rate-estimation-02 §3.3, carried into draft-ietf-ccwg-bbr-06
/// §4.1.2.1.3 "Rate Sample (rs) Output" with BBR's `tx_in_flight` and `lost`).
///
/// Produced once per ACK frame that newly acknowledged packets by
/// [`DeliveryRateEstimator::on_ack_event_end`], from the most recently *sent* of those packets
/// ("the packet" below), and handed to controllers in [`AckEvent::delivery_rate`]. All byte
/// counts are UDP payload bytes of in-flight packets.
///
/// [`DeliveryRateEstimator::on_ack_event_end`]: super::DeliveryRateEstimator::on_ack_event_end
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RateSample {
    /// The delivery rate in bytes per second: [`delivered`](Self::delivered) over
    /// [`interval`](Self::interval). 0 when the sample carries no reliable rate: the interval
    /// was zero or shorter than the minimum RTT (draft-ietf-ccwg-bbr-06 §4.1.2.3,
    /// GenerateRateSample); the other fields are still valid then.
    pub delivery_rate: u64,
    /// The sampling interval: the longer of [`send_elapsed`](Self::send_elapsed) and
    /// [`ack_elapsed`](Self::ack_elapsed) (§4.1.1.2.4: the delivery rate is the lower of the
    /// send and ACK rates, which filters out ACK compression and aggregation).
    pub interval: Duration,
    /// The send interval of the packet's flight: from the send of the packet whose
    /// acknowledgement preceded the packet's send to the packet's own send (§4.1.1.2.3).
    pub send_elapsed: Duration,
    /// The ACK interval: from the acknowledgement that preceded the packet's send to this one
    /// (§4.1.1.2.1).
    pub ack_elapsed: Duration,
    /// Bytes delivered over the interval: the connection's delivered count now minus
    /// [`prior_delivered`](Self::prior_delivered).
    pub delivered: u64,
    /// The connection's delivered count when the packet was sent (`P.delivered`); BBR counts
    /// packet-timed round trips with it.
    pub prior_delivered: u64,
    /// Whether the connection was application-limited when the packet was sent, so the rate
    /// may underestimate the path (§4.1.1.3).
    pub is_app_limited: bool,
    /// The packet's RTT: from its send to this acknowledgement, without ack-delay adjustment
    /// (§4.2, `RS.rtt`).
    pub rtt: Duration,
    /// Bytes in flight just after the packet was sent, the packet included (`P.tx_in_flight`).
    pub tx_in_flight: u64,
    /// Bytes declared lost between the packet's send and this acknowledgement
    /// (`C.lost - P.lost`).
    pub lost: u64,
    /// Bytes the ACK frame newly acknowledged (`RS.newly_acked`).
    pub newly_acked: u64,
    /// Bytes declared lost since the previous sample (`RS.newly_lost`).
    pub newly_lost: u64,
}

/// An ACK frame that newly acknowledged packets, summarised once its packets were delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AckEvent {
    /// Bytes of the in-flight packets the frame newly acknowledged.
    pub bytes_acked: u64,
    /// The connection's bytes in flight after the frame (acknowledged and lost packets
    /// removed).
    pub bytes_in_flight: u64,
    /// The RTT estimate after the frame.
    pub rtt: RttSnapshot,
    /// Whether the frame produced a new RTT sample (`rtt.latest` is fresh).
    pub rtt_sampled: bool,
    /// When the largest newly acknowledged packet was sent.
    pub largest_acked_sent_time: Instant,
    /// Whether the sender is application-limited (RFC 9002 §7.8).
    pub app_limited: bool,
    /// The frame's delivery-rate sample, from the connection's
    /// [`DeliveryRateEstimator`](super::DeliveryRateEstimator); `None` if the connection does
    /// not estimate delivery rates. BBR needs it.
    pub delivery_rate: Option<RateSample>,
}

/// What signalled congestion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CongestionCause {
    /// In-flight packets were declared lost (RFC 9002 §7.3.2).
    Loss,
    /// The peer reported an increased ECN-CE count (RFC 9002 §7.1, Appendix B.7).
    EcnCe,
}

/// Congestion: losses of in-flight packets or an ECN-CE mark (RFC 9002 Appendix B.6–B.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CongestionEvent {
    /// The send time of the newest lost packet — or, for ECN-CE, of the largest acknowledged
    /// packet. A controller in a recovery period that started at or after this time does not
    /// react again (RFC 9002 §7.3.2).
    pub sent_time: Instant,
    /// Bytes of the in-flight packets declared lost (0 for ECN-CE).
    pub lost_bytes: u64,
    /// Whether the losses establish persistent congestion (RFC 9002 §7.6): the window then
    /// collapses to its minimum.
    pub persistent: bool,
    /// The connection's bytes in flight after removing the lost packets.
    pub bytes_in_flight: u64,
    /// What signalled the congestion.
    pub cause: CongestionCause,
}

/// A congestion event that turned out spurious: every in-flight packet it declared lost was
/// acknowledged afterwards (reordered or delayed past the loss thresholds, not lost). The
/// connection remembers recent losses for a bounded while and reports such an event at most
/// once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpuriousCongestion {
    /// When the event was raised: the `now` of the controller's `on_congestion_event` for it.
    pub declared_at: Instant,
    /// The event's [`CongestionEvent::sent_time`].
    pub sent_time: Instant,
}
