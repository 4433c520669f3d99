#![allow(clippy::single_range_in_vec_init)] // ACK frames are lists of ranges; one range is common

use std::time::{Duration, Instant};

use super::*;
use crate::recovery::{INITIAL_RTT, test_epoch};

const MAX_ACK_DELAY: Duration = Duration::from_millis(25);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

type Out = Vec<(u64, SentPacket<u64>)>;

struct Fixture {
    t0: Instant,
    space: SpaceRecovery<u64>,
    rtt: RttEstimator,
    acked: Out,
    lost: Out,
}

impl Fixture {
    fn new(space: SpaceId) -> Self {
        Self {
            t0: test_epoch(),
            space: SpaceRecovery::new(space),
            rtt: RttEstimator::new(INITIAL_RTT),
            acked: Vec::new(),
            lost: Vec::new(),
        }
    }

    /// Sends ack-eliciting packet `pn` of 1000 bytes at `t0 + at` ms.
    fn send(&mut self, pn: u64, at: u64) {
        let packet = SentPacket::new(self.t0 + ms(at), 1000, true, true, pn);
        self.space.on_packet_sent(pn, packet);
    }

    fn ack(
        &mut self,
        at: u64,
        ranges: &[Range<u64>],
        delay: Duration,
    ) -> Result<AckOutcome, AckError> {
        self.acked.clear();
        self.lost.clear();
        let largest = ranges.first().map_or(0, |r| r.end - 1);
        self.space.on_ack_received(
            self.t0 + ms(at),
            largest,
            ranges.iter().cloned(),
            delay,
            &mut self.rtt,
            true,
            MAX_ACK_DELAY,
            &mut self.acked,
            &mut self.lost,
        )
    }
}

fn pns(out: &Out) -> Vec<u64> {
    out.iter().map(|(pn, _)| *pn).collect()
}

#[test]
fn sending_counts_in_flight_and_ack_eliciting() {
    let mut f = Fixture::new(SpaceId::Data);
    f.send(0, 0);
    f.send(1, 5);
    // An ACK-only packet: tracked but neither in flight nor ack-eliciting.
    f.space
        .on_packet_sent(2, SentPacket::new(f.t0 + ms(6), 50, false, false, 2));
    // A padded packet without ack-eliciting frames: in flight.
    f.space
        .on_packet_sent(3, SentPacket::new(f.t0 + ms(7), 1200, false, true, 3));
    assert_eq!(f.space.bytes_in_flight(), 3200);
    assert_eq!(f.space.ack_eliciting_in_flight(), 2);
    assert_eq!(f.space.time_of_last_ack_eliciting(), Some(f.t0 + ms(5)));
    assert_eq!(f.space.sent().len(), 4);
}

#[test]
fn ack_removes_packets_samples_rtt_and_clears_flight() {
    let mut f = Fixture::new(SpaceId::Data);
    for pn in 0..4 {
        f.send(pn, pn);
    }
    // Largest 3 was sent at 3 ms; acknowledged at 103 ms with 10 ms ack delay.
    let out = f.ack(103, &[0..4], ms(10)).unwrap();
    assert_eq!(pns(&f.acked), [0, 1, 2, 3]);
    assert_eq!(out.newly_acked, 4);
    assert_eq!(out.acked_bytes, 4000);
    assert!(out.rtt_sampled && out.newly_acked_ack_eliciting);
    assert_eq!(out.largest_newly_acked_sent, Some(f.t0 + ms(3)));
    assert_eq!(out.loss, LossOutcome::default());
    // First sample: ack delay ignored, smoothed = sample.
    assert_eq!(f.rtt.latest(), ms(100));
    assert_eq!(f.rtt.smoothed(), ms(100));
    assert_eq!(f.space.largest_acked(), Some(3));
    assert_eq!(f.space.bytes_in_flight(), 0);
    assert_eq!(f.space.ack_eliciting_in_flight(), 0);
    assert!(f.space.sent().is_empty());
}

#[test]
fn unsent_packet_acked_is_rejected_without_change() {
    let mut f = Fixture::new(SpaceId::Data);
    assert_eq!(
        f.ack(10, &[0..1], Duration::ZERO),
        Err(AckError::UnsentPacketAcked { pn: 0 })
    );
    f.send(0, 0);
    f.send(1, 1);
    assert_eq!(
        f.ack(10, &[5..6, 0..2], Duration::ZERO),
        Err(AckError::UnsentPacketAcked { pn: 5 })
    );
    assert!(f.acked.is_empty());
    assert_eq!(f.space.largest_acked(), None);
    assert_eq!(f.space.bytes_in_flight(), 2000);
    let e: TransportError = AckError::UnsentPacketAcked { pn: 5 }.into();
    assert_eq!(e.code, crate::error::TransportErrorCode::PROTOCOL_VIOLATION);
}

#[test]
fn no_rtt_sample_unless_largest_newly_acked() {
    let mut f = Fixture::new(SpaceId::Data);
    for pn in 0..3 {
        f.send(pn, pn);
    }
    assert!(f.ack(50, &[2..3], Duration::ZERO).unwrap().rtt_sampled);
    assert_eq!(f.rtt.latest(), ms(48));
    // Largest 2 again, newly acknowledging 1: no sample (the largest is not new).
    let out = f.ack(80, &[1..3], Duration::ZERO).unwrap();
    assert_eq!(out.newly_acked, 1);
    assert!(!out.rtt_sampled);
    assert_eq!(f.rtt.latest(), ms(48));
    // Nothing new at all: an empty outcome.
    assert_eq!(
        f.ack(90, &[1..3], Duration::ZERO).unwrap(),
        AckOutcome::default()
    );
}

#[test]
fn no_rtt_sample_when_only_non_ack_eliciting_newly_acked() {
    let mut f = Fixture::new(SpaceId::Data);
    f.space
        .on_packet_sent(0, SentPacket::new(f.t0, 50, false, false, 0));
    let out = f.ack(40, &[0..1], Duration::ZERO).unwrap();
    assert_eq!(out.newly_acked, 1);
    assert!(!out.rtt_sampled && !out.newly_acked_ack_eliciting);
    assert_eq!(out.acked_bytes, 0);
    assert!(!f.rtt.has_samples());
}

#[test]
fn initial_space_ignores_ack_delay() {
    let mut data = Fixture::new(SpaceId::Data);
    let mut initial = Fixture::new(SpaceId::Initial);
    for f in [&mut data, &mut initial] {
        f.send(0, 0);
        f.send(1, 1);
        f.ack(100, &[0..1], Duration::ZERO).unwrap();
        // Sample 120 − 1 = 119 ms with 15 ms delay: Data subtracts it (104 ≥ min 100).
        f.ack(120, &[0..2], ms(15)).unwrap();
    }
    // Data: (7 × 100 + 104) / 8 = 100.5 ms. Initial: (7 × 100 + 119) / 8 = 102.375 ms.
    assert_eq!(data.rtt.smoothed(), Duration::from_micros(100_500));
    assert_eq!(initial.rtt.smoothed(), Duration::from_micros(102_375));
}

#[test]
fn packet_threshold_loss_and_loss_time() {
    let mut f = Fixture::new(SpaceId::Data);
    for pn in 0..6 {
        f.send(pn, pn);
    }
    // Acknowledge 5 (sent at 5 ms) at 105 ms: RTT 100 ms, loss delay 112.5 ms, so nothing is
    // old enough to be lost by time; 0, 1, 2 are at least 3 numbers below 5.
    let out = f.ack(105, &[5..6], Duration::ZERO).unwrap();
    assert_eq!(pns(&f.lost), [0, 1, 2]);
    assert_eq!(out.loss.packets, 3);
    assert_eq!(out.loss.bytes, 3000);
    assert_eq!(out.loss.newest_sent, Some(f.t0 + ms(2)));
    // 3 (sent at 3 ms) will be lost by time at 3 + 112.5 ms.
    assert_eq!(
        f.space.loss_time(),
        Some(f.t0 + Duration::from_micros(115_500))
    );
    assert_eq!(f.space.bytes_in_flight(), 2000);
    assert_eq!(f.space.ack_eliciting_in_flight(), 2);
}

#[test]
fn time_threshold_uses_larger_of_smoothed_and_latest() {
    let mut f = Fixture::new(SpaceId::Data);
    for pn in 0..4 {
        f.send(pn, 10 * pn);
    }
    // Acknowledge 3 (sent at 30 ms) at 40 ms: RTT 10 ms, loss delay 11.25 ms. Sent at or before
    // 28.75 ms is lost: 0, 1, 2 (packet threshold would only have taken 0).
    let out = f.ack(40, &[3..4], Duration::ZERO).unwrap();
    assert_eq!(pns(&f.lost), [0, 1, 2]);
    assert_eq!(out.loss.newest_sent, Some(f.t0 + ms(20)));
    assert_eq!(f.space.loss_time(), None);
}

#[test]
fn time_threshold_loss_sets_loss_time_then_timer_declares_loss() {
    let mut f = Fixture::new(SpaceId::Data);
    f.send(0, 0);
    f.send(1, 0);
    // First sample: 1 acknowledged at 100 ms → RTT 100, loss delay 9/8 × 100 = 112.5 ms.
    let out = f.ack(100, &[1..2], Duration::ZERO).unwrap();
    assert!(f.lost.is_empty());
    assert_eq!(out.loss, LossOutcome::default());
    let loss_time = f.t0 + Duration::from_micros(112_500);
    assert_eq!(f.space.loss_time(), Some(loss_time));
    // Just before, nothing; at the loss time, packet 0 is lost.
    let mut lost = Vec::new();
    let early = f.space.detect_lost(loss_time - ms(1), &f.rtt, &mut lost);
    assert_eq!((early.packets, lost.len()), (0, 0));
    assert_eq!(f.space.loss_time(), Some(loss_time));
    let late = f.space.detect_lost(loss_time, &f.rtt, &mut lost);
    assert_eq!(pns(&lost), [0]);
    assert_eq!(late.newest_sent, Some(f.t0));
    assert_eq!(f.space.loss_time(), None);
    assert_eq!(f.space.bytes_in_flight(), 0);
    assert_eq!(f.space.ack_eliciting_in_flight(), 0);
}

#[test]
fn detect_lost_before_any_ack_does_nothing() {
    let mut f = Fixture::new(SpaceId::Data);
    f.send(0, 0);
    let mut lost = Vec::new();
    let out = f
        .space
        .detect_lost(f.t0 + Duration::from_secs(60), &f.rtt, &mut lost);
    assert_eq!(out, LossOutcome::default());
    assert!(lost.is_empty());
}

#[test]
fn lost_non_in_flight_packets_are_not_congestion() {
    let mut f = Fixture::new(SpaceId::Data);
    f.space
        .on_packet_sent(0, SentPacket::new(f.t0, 50, false, false, 0));
    for pn in 1..5 {
        f.send(pn, pn);
    }
    let out = f.ack(100, &[4..5], Duration::ZERO).unwrap();
    // 0 and 1 are lost by the packet threshold; only 1 counts as congestion.
    assert_eq!(pns(&f.lost), [0, 1]);
    assert_eq!(out.loss.packets, 2);
    assert_eq!(out.loss.bytes, 1000);
    assert_eq!(out.loss.newest_sent, Some(f.t0 + ms(1)));
    assert_eq!(f.space.bytes_in_flight(), 2000);
}

#[test]
fn discard_returns_in_flight_bytes_and_clears_state() {
    let mut f = Fixture::new(SpaceId::Handshake);
    f.send(0, 0);
    f.send(1, 1);
    f.send(2, 2);
    f.ack(100, &[2..3], Duration::ZERO).unwrap();
    assert!(f.space.loss_time().is_some());
    let mut out = Vec::new();
    assert_eq!(f.space.discard(&mut out), 2000);
    assert_eq!(pns(&out), [0, 1]);
    assert_eq!(f.space.bytes_in_flight(), 0);
    assert_eq!(f.space.ack_eliciting_in_flight(), 0);
    assert_eq!(f.space.loss_time(), None);
    assert_eq!(f.space.time_of_last_ack_eliciting(), None);
    assert!(f.space.sent().is_empty());
}

#[test]
fn data_mut_edits_only_the_frame_record() {
    let mut f = Fixture::new(SpaceId::Data);
    f.send(0, 0);
    if let Some(data) = f.space.data_mut(0) {
        *data = 42;
    }
    assert_eq!(f.space.sent().get(0).map(|p| p.data), Some(42));
    assert!(f.space.data_mut(1).is_none());
}
