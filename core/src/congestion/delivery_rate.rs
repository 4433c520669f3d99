//! Delivery-rate estimation: how fast the path delivered the most recent flight of packets.
//!
//! The algorithm of draft-cheng-iccrg-delivery-rate-estimation-02 (March 2022, the last
//! revision of that draft), which draft-ietf-ccwg-bbr-06 (July 2026) §4.1 carries with two
//! additions for BBR's loss response: each packet also remembers the bytes in flight when it
//! was sent (`P.tx_in_flight`) and the bytes lost so far (`P.lost`). Section numbers below are
//! draft-ietf-ccwg-bbr-06's, with the older draft's in brackets where it has the same step.
//!
//! ## The idea (§4.1.1.2)
//!
//! When a packet `P` is sent, the sender notes how much data had been delivered so far
//! (`P.delivered`), when that count last moved (`P.delivered_time`, the ACK before the send)
//! and when the packet whose ACK moved it had been sent (`P.first_sent_time`). When `P` is
//! acknowledged, the data delivered since is `C.delivered - P.delivered`, delivered over the
//! longer of
//!
//! - the ACK interval, `now - P.delivered_time`, and
//! - the send interval, `P.sent_time - P.first_sent_time`,
//!
//! so that ACK compression or aggregation (ACKs bunched closer than the data was sent) never
//! shows a rate above the send rate.
//!
//! ## Driving the estimator
//!
//! One [`DeliveryRateEstimator`] per connection, next to loss recovery. Counted packets are the
//! in-flight ones (ack-eliciting or padded), never pure ACKs, exactly those the congestion
//! controller's `on_packet_sent` sees.
//!
//! 1. **Sending** an in-flight packet: before adding it to bytes in flight,
//!    `let snapshot = estimator.on_packet_sent(now, size, bytes_in_flight_before)`, and keep
//!    `snapshot` in the sent-packet record (32 bytes).
//! 2. **An ACK frame**, in the order loss recovery already uses (RFC 9002 Appendix A.7):
//!    1. [`on_packet_lost`](DeliveryRateEstimator::on_packet_lost) for every in-flight packet
//!       the frame declared lost;
//!    2. [`on_packet_acked`](DeliveryRateEstimator::on_packet_acked) for every newly
//!       acknowledged in-flight packet, in ascending packet-number order, with the snapshot and
//!       send time from its record;
//!    3. once, after the RTT estimate took the frame's sample:
//!       `let sample = estimator.on_ack_event_end(now, rtt.min)`, which goes into
//!       [`AckEvent::delivery_rate`](super::AckEvent::delivery_rate).
//! 3. **A loss timer** that declares packets lost: `on_packet_lost` for each.
//! 4. **Running out of data** (§4.1.2.4 [§3.4]): whenever the sender could send (the window
//!    has room for a packet and nothing lost awaits retransmission) but has no data, call
//!    [`on_app_limited`](DeliveryRateEstimator::on_app_limited) with the bytes in flight. The
//!    draft checks at three points: when the application writes, at the start of ACK
//!    processing and at the start of timer processing; a sans-IO connection can equivalently
//!    check when `poll_transmit` stops for lack of data.

use std::time::{Duration, Instant};

use super::RateSample;

/// Nanoseconds per second, for rates in bytes per second.
const NANOS_PER_SEC: u128 = 1_000_000_000;

/// The bytes per second of `bytes` delivered over `interval`; 0 for a zero interval.
pub(crate) fn rate(bytes: u64, interval: Duration) -> u64 {
    let nanos = interval.as_nanos();
    if nanos == 0 {
        return 0;
    }
    u64::try_from(u128::from(bytes) * NANOS_PER_SEC / nanos).unwrap_or(u64::MAX)
}

/// Microseconds of `later - earlier`, saturating at zero and at `u32::MAX` (71 minutes).
fn micros_before(later: Instant, earlier: Instant) -> u32 {
    u32::try_from(later.saturating_duration_since(earlier).as_micros()).unwrap_or(u32::MAX)
}

/// What the estimator remembers about one in-flight packet, taken when it was sent
/// (§4.1.2.1.2 "Per-packet (P) state"; [§3.2]).
///
/// Kept in every sent-packet record, so it is small: the two instants are stored as
/// microsecond offsets before the packet's own send time, which the record already holds and
/// which [`on_packet_acked`](DeliveryRateEstimator::on_packet_acked) takes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketDeliveryState {
    /// `P.delivered`: bytes delivered when the packet was sent.
    delivered: u64,
    /// `P.lost`: bytes declared lost when the packet was sent.
    lost: u64,
    /// `P.tx_in_flight`: bytes in flight just after sending, the packet included (saturating).
    tx_in_flight: u32,
    /// `P.delivered_time`, as microseconds before the send.
    delivered_time_before: u32,
    /// `P.first_sent_time`, as microseconds before the send.
    first_sent_time_before: u32,
    /// `P.is_app_limited`.
    is_app_limited: bool,
}

impl PacketDeliveryState {
    /// Bytes delivered on the connection when the packet was sent (`P.delivered`).
    pub fn delivered(&self) -> u64 {
        self.delivered
    }

    /// Bytes declared lost on the connection when the packet was sent (`P.lost`).
    pub fn lost(&self) -> u64 {
        self.lost
    }

    /// Bytes in flight just after the packet was sent, the packet included (`P.tx_in_flight`).
    pub fn tx_in_flight(&self) -> u64 {
        u64::from(self.tx_in_flight)
    }

    /// Whether the connection was application-limited when the packet was sent.
    pub fn is_app_limited(&self) -> bool {
        self.is_app_limited
    }

    /// When the delivered count last changed before the packet, sent at `sent_time`, was sent
    /// (`P.delivered_time`).
    pub fn delivered_time(&self, sent_time: Instant) -> Instant {
        sent_time - Duration::from_micros(u64::from(self.delivered_time_before))
    }

    /// The send time of the packet whose acknowledgement last moved the delivered count before
    /// the packet, sent at `sent_time`, was sent (`P.first_sent_time`).
    pub fn first_sent_time(&self, sent_time: Instant) -> Instant {
        sent_time - Duration::from_micros(u64::from(self.first_sent_time_before))
    }
}

/// The sample being built from the packets of one ACK frame (§4.1.2.3, UpdateRateSample).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PendingSample {
    prior_delivered: u64,
    prior_lost: u64,
    is_app_limited: bool,
    send_elapsed: Duration,
    ack_elapsed: Duration,
    rtt: Duration,
    tx_in_flight: u64,
}

/// The connection's delivery-rate estimator (draft-cheng-iccrg-delivery-rate-estimation-02,
/// draft-ietf-ccwg-bbr-06 §4.1); the module documentation gives the calling order.
///
/// A pure function of the calls and the instants passed in. All byte counts are UDP payload
/// bytes of in-flight packets.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeliveryRateEstimator {
    /// `C.delivered`: bytes acknowledged over the connection's lifetime.
    delivered: u64,
    /// `C.delivered_time`: when `delivered` last changed (or the last send from idle).
    delivered_time: Option<Instant>,
    /// `C.first_sent_time`: the send time of the newest acknowledged packet (or the last send
    /// from idle).
    first_sent_time: Option<Instant>,
    /// `C.lost`: bytes declared lost over the connection's lifetime.
    lost: u64,
    /// `C.app_limited`: 0, or the delivered count that ends the current application-limited
    /// bubble (§4.1.2.4, MarkConnectionAppLimited).
    app_limited: u64,
    /// The sample of the ACK frame being processed, from its newest packet so far.
    pending: Option<PendingSample>,
    /// Bytes the ACK frame being processed acknowledged so far.
    newly_acked: u64,
    /// Bytes declared lost since the last sample.
    newly_lost: u64,
}

impl DeliveryRateEstimator {
    /// An estimator for a new connection: nothing sent, delivered or lost.
    pub fn new() -> Self {
        Self::default()
    }

    /// An in-flight packet of `bytes` bytes is being sent at `now`, with
    /// `bytes_in_flight_before` bytes already in flight (not counting it). Returns the snapshot
    /// to keep with the packet until it is acknowledged or lost (§4.1.2.2 [§3.2],
    /// OnPacketSent).
    pub fn on_packet_sent(
        &mut self,
        now: Instant,
        bytes: u64,
        bytes_in_flight_before: u64,
    ) -> PacketDeliveryState {
        // §4.1.2.2: with nothing in flight the interval starts now: any later ACK shows what
        // the path delivered since.
        if bytes_in_flight_before == 0 || self.delivered_time.is_none() {
            self.delivered_time = Some(now);
            self.first_sent_time = Some(now);
        }
        let delivered_time = self.delivered_time.unwrap_or(now);
        let first_sent_time = self.first_sent_time.unwrap_or(now);
        let tx_in_flight = bytes_in_flight_before.saturating_add(bytes);
        PacketDeliveryState {
            delivered: self.delivered,
            lost: self.lost,
            tx_in_flight: u32::try_from(tx_in_flight).unwrap_or(u32::MAX),
            delivered_time_before: micros_before(now, delivered_time),
            first_sent_time_before: micros_before(now, first_sent_time),
            is_app_limited: self.app_limited != 0,
        }
    }

    /// A packet of `bytes` bytes sent at `sent_time` with snapshot `packet` was newly
    /// acknowledged by the ACK frame received at `now` (§4.1.2.3 [§3.3], UpdateRateSample).
    /// Call once per newly acknowledged in-flight packet, in ascending packet-number order.
    pub fn on_packet_acked(
        &mut self,
        now: Instant,
        packet: &PacketDeliveryState,
        sent_time: Instant,
        bytes: u64,
    ) {
        self.delivered = self.delivered.saturating_add(bytes);
        self.delivered_time = Some(now);
        self.newly_acked = self.newly_acked.saturating_add(bytes);
        // §4.1.2.3: the sample comes from the most recently sent packet of the frame (the
        // first one always starts it). Packets arrive in ascending packet-number order, so of
        // two sent at the same instant the later call is the newer one (IsNewestPacket).
        let newest = self.pending.is_none()
            || self
                .first_sent_time
                .is_none_or(|first_sent| sent_time >= first_sent);
        if newest {
            let delivered_time = packet.delivered_time(sent_time);
            self.pending = Some(PendingSample {
                prior_delivered: packet.delivered,
                prior_lost: packet.lost,
                is_app_limited: packet.is_app_limited,
                send_elapsed: sent_time
                    .saturating_duration_since(packet.first_sent_time(sent_time)),
                ack_elapsed: now.saturating_duration_since(delivered_time),
                rtt: now.saturating_duration_since(sent_time),
                tx_in_flight: packet.tx_in_flight(),
            });
            self.first_sent_time = Some(sent_time);
        }
    }

    /// In-flight packets of `bytes` bytes in total were declared lost (C.lost, which BBR's loss
    /// rate needs). Call before the frame's acknowledged packets.
    pub fn on_packet_lost(&mut self, bytes: u64) {
        self.lost = self.lost.saturating_add(bytes);
        self.newly_lost = self.newly_lost.saturating_add(bytes);
    }

    /// The ACK frame received at `now` has been processed: returns its rate sample, or `None`
    /// if it acknowledged no in-flight packet (§4.1.2.3 [§3.3], GenerateRateSample). Call once
    /// per frame, after its packets, with the connection's minimum RTT including the frame's
    /// RTT sample.
    ///
    /// A sample whose interval is zero or shorter than `min_rtt` has no reliable rate: its
    /// [`delivery_rate`](RateSample::delivery_rate) is 0 and its other fields are valid (BBR
    /// still counts round trips and takes RTT samples from it). `Duration::ZERO` disables that
    /// filter.
    pub fn on_ack_event_end(&mut self, now: Instant, min_rtt: Duration) -> Option<RateSample> {
        debug_assert!(self.delivered_time.is_none_or(|t| t <= now));
        // §4.1.2.3: the application-limited bubble is gone once the data in flight when it was
        // marked has been delivered.
        if self.app_limited != 0 && self.delivered > self.app_limited {
            self.app_limited = 0;
        }
        let newly_acked = std::mem::take(&mut self.newly_acked);
        let pending = self.pending.take()?;
        let newly_lost = std::mem::take(&mut self.newly_lost);
        // §4.1.1.2.4: the longer interval, i.e. the lower of the send and ACK rates.
        let interval = pending.send_elapsed.max(pending.ack_elapsed);
        let delivered = self.delivered.saturating_sub(pending.prior_delivered);
        // §4.1.2.3: an interval shorter than the minimum RTT gives no reliable rate.
        let delivery_rate = if interval < min_rtt {
            0
        } else {
            rate(delivered, interval)
        };
        Some(RateSample {
            delivery_rate,
            interval,
            send_elapsed: pending.send_elapsed,
            ack_elapsed: pending.ack_elapsed,
            delivered,
            prior_delivered: pending.prior_delivered,
            is_app_limited: pending.is_app_limited,
            rtt: pending.rtt,
            tx_in_flight: pending.tx_in_flight,
            lost: self.lost.saturating_sub(pending.prior_lost),
            newly_acked,
            newly_lost,
        })
    }

    /// The sender could have sent (window room, nothing awaiting retransmission) but had no
    /// data, with `bytes_in_flight` bytes in flight: samples of packets sent until that data is
    /// delivered are application-limited (§4.1.2.4 [§3.4], MarkConnectionAppLimited).
    pub fn on_app_limited(&mut self, bytes_in_flight: u64) {
        self.app_limited = self.delivered.saturating_add(bytes_in_flight).max(1);
    }

    /// Bytes acknowledged over the connection's lifetime (`C.delivered`).
    pub fn delivered(&self) -> u64 {
        self.delivered
    }

    /// Bytes declared lost over the connection's lifetime (`C.lost`).
    pub fn lost(&self) -> u64 {
        self.lost
    }

    /// When the delivered count last changed, if anything was sent yet (`C.delivered_time`).
    pub fn delivered_time(&self) -> Option<Instant> {
        self.delivered_time
    }

    /// Whether packets sent now are marked application-limited (`C.app_limited != 0`).
    pub fn is_app_limited(&self) -> bool {
        self.app_limited != 0
    }
}

#[cfg(test)]
mod tests;
