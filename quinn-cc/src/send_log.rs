//! Rate samples from what quinn tells a controller: a log of sends keyed by send time.
//!
//! weir's [`DeliveryRateEstimator`] needs, for every acknowledged packet, the snapshot it took
//! when that packet was sent ([`PacketDeliveryState`]). weir's own connection keeps it in the
//! sent-packet record; quinn keeps no such thing for a controller, but it hands
//! [`on_ack`](quinn_proto::congestion::Controller::on_ack) the acknowledged packet's send time,
//! and that time is the `now` of the
//! [`on_sent`](quinn_proto::congestion::Controller::on_sent) call that reported the packet's
//! datagram (quinn stamps `SentPacket::time_sent` and calls `on_sent` with the same instant).
//! So the adapter keeps its own log:
//!
//! 1. `on_sent(now, bytes)` asks the estimator for a snapshot and appends a record
//!    `(now, bytes, snapshot)`; consecutive sends at the same instant with no acknowledgement
//!    or loss in between share one record (a paced burst, or a GSO batch).
//! 2. `on_ack(now, sent, bytes)` finds the first record sent at `sent` that still has
//!    unacknowledged bytes (packets are acknowledged in ascending packet-number order, which is
//!    send order) and feeds its snapshot to the estimator.
//! 3. A congestion event whose newest lost packet was sent at `sent` removes the records sent
//!    before it: quinn declares a packet lost by packet or time threshold, and both hold for
//!    every older packet still unacknowledged in the same packet-number space.
//! 4. Records leave when fully acknowledged, when sent more than a smoothed RTT before the
//!    newest acknowledged packet (quinn has declared them lost or acknowledged them by then,
//!    or they never counted: a pure ACK is reported to `on_sent` but never to `on_ack`), and
//!    beyond [`MAX_RECORDS`].
//!
//! The log is ordered by send time; an instant earlier than the last record's is taken as the
//! last record's, so that a clock that went backwards cannot break the order.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use weir_core::congestion::{DeliveryRateEstimator, PacketDeliveryState, RateSample};

/// The most records kept (about 80 bytes each): 32 768 datagrams in flight are 39 MB of
/// 1200-byte datagrams, 3 BDP of a 1 Gbit/s × 100 ms path. Beyond it the oldest are dropped,
/// and their acknowledgements then count towards no rate sample.
pub(crate) const MAX_RECORDS: usize = 1 << 15;

/// One `on_sent` call (or several at the same instant).
#[derive(Debug, Clone)]
struct Record {
    sent: Instant,
    bytes: u64,
    acked: u64,
    delivery: PacketDeliveryState,
    /// An acknowledgement or loss came after this record was opened: a later send at the same
    /// instant gets its own snapshot.
    sealed: bool,
}

/// The estimator and the log of sends that feeds it.
#[derive(Debug, Clone, Default)]
pub(crate) struct SendLog {
    estimator: DeliveryRateEstimator,
    records: VecDeque<Record>,
    /// Send time of the newest acknowledged packet.
    newest_acked: Option<Instant>,
}

impl SendLog {
    /// A datagram (or several) of `bytes` bytes left at `now`, with `in_flight_before` bytes
    /// already in flight.
    pub(crate) fn on_sent(&mut self, now: Instant, bytes: u64, in_flight_before: u64) {
        let now = self.records.back().map_or(now, |last| now.max(last.sent));
        if let Some(last) = self.records.back_mut()
            && last.sent == now
            && !last.sealed
        {
            last.bytes = last.bytes.saturating_add(bytes);
            return;
        }
        let delivery = self.estimator.on_packet_sent(now, bytes, in_flight_before);
        if self.records.len() >= MAX_RECORDS {
            self.records.pop_front();
        }
        self.records.push_back(Record {
            sent: now,
            bytes,
            acked: 0,
            delivery,
            sealed: false,
        });
    }

    /// A packet of `bytes` bytes sent at `sent` was acknowledged at `now`. Returns whether its
    /// send was found in the log (and so counted towards the rate sample).
    pub(crate) fn on_acked(&mut self, now: Instant, sent: Instant, bytes: u64) -> bool {
        self.seal();
        if self.newest_acked.is_none_or(|t| sent > t) {
            self.newest_acked = Some(sent);
        }
        let first = self.records.partition_point(|r| r.sent < sent);
        let mut found = None;
        for (i, record) in self.records.iter().enumerate().skip(first) {
            if record.sent != sent {
                break;
            }
            found = Some(i);
            if record.acked < record.bytes {
                break;
            }
        }
        let Some(record) = found.and_then(|i| self.records.get_mut(i)) else {
            return false;
        };
        record.acked = record.acked.saturating_add(bytes);
        // The record's own instant, never later than `now` for the estimator's arithmetic.
        let sent = record.sent.min(now);
        self.estimator
            .on_packet_acked(now, &record.delivery, sent, bytes);
        true
    }

    /// `bytes` bytes were declared lost, the newest of them sent at `sent`.
    pub(crate) fn on_lost(&mut self, sent: Instant, bytes: u64) {
        self.seal();
        self.estimator.on_packet_lost(bytes);
        while self.records.front().is_some_and(|r| r.sent < sent) {
            self.records.pop_front();
        }
    }

    /// The sender ran out of data with `in_flight` bytes in flight: samples of packets sent
    /// from now until those bytes are delivered are application-limited.
    pub(crate) fn on_app_limited(&mut self, in_flight: u64) {
        self.estimator.on_app_limited(in_flight);
    }

    /// The ACK frame's packets have all been fed in: its rate sample (see
    /// [`DeliveryRateEstimator::on_ack_event_end`]), then the log is pruned: records fully
    /// acknowledged at its front, and records sent more than `horizon` before the newest
    /// acknowledged packet.
    pub(crate) fn end_of_ack(
        &mut self,
        now: Instant,
        min_rtt: Duration,
        horizon: Duration,
    ) -> Option<RateSample> {
        let sample = self.estimator.on_ack_event_end(now, min_rtt);
        let cutoff = self
            .newest_acked
            .and_then(|t| t.checked_sub(horizon))
            .unwrap_or_else(|| self.records.front().map_or(now, |r| r.sent));
        while self
            .records
            .front()
            .is_some_and(|r| r.acked >= r.bytes || r.sent < cutoff)
        {
            self.records.pop_front();
        }
        sample
    }

    /// Records kept (for tests).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.records.len()
    }

    fn seal(&mut self) {
        if let Some(last) = self.records.back_mut() {
            last.sealed = true;
        }
    }
}
