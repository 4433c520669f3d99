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

/// A delivery-rate sample (draft-cheng-iccrg-delivery-rate-estimation §3.3).
///
/// A placeholder data type: the delivery-rate estimator that produces these comes with BBR, so
/// until then [`AckEvent::delivery_rate`] is `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateSample {
    /// The estimated delivery rate, in bytes per second.
    pub delivery_rate_bytes_per_sec: u64,
    /// The interval the rate was measured over (the longer of the send and ack intervals).
    pub interval: Duration,
    /// Bytes delivered over the interval.
    pub delivered: u64,
    /// Total bytes delivered when the packet the sample comes from was sent.
    pub prior_delivered: u64,
    /// Whether the connection was application-limited when that packet was sent, so the
    /// sample may underestimate the available bandwidth.
    pub is_app_limited: bool,
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
    /// The delivery-rate sample of the frame, once the estimator exists.
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
