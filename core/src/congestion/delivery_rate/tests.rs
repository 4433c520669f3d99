//! Hand-computed scenarios for the delivery-rate estimator.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::*;
use crate::congestion::test_epoch;

const SIZE: u64 = 1000;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A sent packet, as the connection's sent-packet record would hold it.
#[derive(Debug, Clone, Copy)]
struct Sent {
    time: Instant,
    snapshot: PacketDeliveryState,
}

/// A tiny sender: bytes in flight and records, in send order.
struct Sender {
    t0: Instant,
    est: DeliveryRateEstimator,
    in_flight: u64,
    sent: Vec<Sent>,
}

impl Sender {
    fn new() -> Self {
        Self {
            t0: test_epoch(),
            est: DeliveryRateEstimator::new(),
            in_flight: 0,
            sent: Vec::new(),
        }
    }

    fn at(&self, millis: u64) -> Instant {
        self.t0 + ms(millis)
    }

    /// Sends packet number `sent.len()` at `millis`.
    fn send(&mut self, millis: u64) -> usize {
        let time = self.at(millis);
        let snapshot = self.est.on_packet_sent(time, SIZE, self.in_flight);
        self.in_flight += SIZE;
        self.sent.push(Sent { time, snapshot });
        self.sent.len() - 1
    }

    /// One ACK frame at `millis` acknowledging `acked` and declaring `lost` lost.
    fn ack(
        &mut self,
        millis: u64,
        acked: &[usize],
        lost: &[usize],
        min_rtt: Duration,
    ) -> Option<RateSample> {
        let now = self.at(millis);
        for _ in lost {
            self.est.on_packet_lost(SIZE);
            self.in_flight -= SIZE;
        }
        for &pn in acked {
            let p = self.sent[pn];
            self.est.on_packet_acked(now, &p.snapshot, p.time, SIZE);
            self.in_flight -= SIZE;
        }
        self.est.on_ack_event_end(now, min_rtt)
    }
}

#[test]
fn snapshot_is_small() {
    // It lives in every sent-packet record.
    assert!(std::mem::size_of::<PacketDeliveryState>() <= 32);
}

#[test]
fn first_packet_from_idle_measures_one_round_trip() {
    let mut s = Sender::new();
    let p0 = s.send(0);
    let snap = s.sent[p0].snapshot;
    assert_eq!(
        (snap.delivered(), snap.lost(), snap.tx_in_flight()),
        (0, 0, SIZE)
    );
    assert_eq!(snap.delivered_time(s.at(0)), s.at(0));
    assert_eq!(snap.first_sent_time(s.at(0)), s.at(0));
    assert!(!snap.is_app_limited());
    // 1000 bytes over the 40 ms from the send (idle: the interval starts there) to the ACK.
    let rs = s.ack(40, &[p0], &[], ms(40)).unwrap();
    assert_eq!(rs.ack_elapsed, ms(40));
    assert_eq!(rs.send_elapsed, Duration::ZERO);
    assert_eq!(rs.interval, ms(40));
    assert_eq!(rs.delivered, 1000);
    assert_eq!(rs.delivery_rate, 25_000);
    assert_eq!(rs.rtt, ms(40));
    assert_eq!(rs.newly_acked, 1000);
    assert_eq!(s.est.delivered(), 1000);
    assert_eq!(s.est.delivered_time(), Some(s.at(40)));
    // A frame that acknowledged nothing new is no sample.
    assert_eq!(s.est.on_ack_event_end(s.at(41), ms(40)), None);
}

/// A steady ACK clock: one 1000-byte packet every millisecond (1 MB/s), RTT 100 ms, one ACK
/// per packet. Once the first flight is acknowledged every sample measures exactly 1 MB/s over
/// 100 ms.
#[test]
fn steady_ack_clock_measures_the_send_rate() {
    let mut s = Sender::new();
    let mut samples = Vec::new();
    let mut waiting = VecDeque::new();
    for t in 0..400u64 {
        // The ACK of the packet sent 100 ms ago arrives, then the next packet leaves.
        if t >= 100 {
            let pn = waiting.pop_front().unwrap();
            samples.push(s.ack(t, &[pn], &[], ms(100)).unwrap());
        }
        waiting.push_back(s.send(t));
    }
    // The first flight: packet k, sent at k ms, acknowledged at 100 + k ms, started from the
    // idle send at 0: (k + 1) × 1000 bytes over 100 + k ms.
    assert_eq!(samples[0].delivery_rate, 10_000);
    assert_eq!(samples[0].interval, ms(100));
    assert_eq!(samples[50].interval, ms(150));
    assert_eq!(samples[50].delivery_rate, 51_000 * 1000 / 150);
    // Packet 100 was sent at 100 ms right after the first ACK: 100 packets delivered between
    // that ACK and its own at 200 ms; its flight was sent from 0 ms (packet 0) to 100 ms.
    for rs in &samples[100..] {
        assert_eq!(rs.delivered, 100_000);
        assert_eq!(rs.ack_elapsed, ms(100));
        assert_eq!(rs.send_elapsed, ms(100));
        assert_eq!(rs.delivery_rate, 1_000_000);
        assert_eq!(rs.rtt, ms(100));
        assert_eq!(rs.tx_in_flight, 100 * SIZE);
        assert!(!rs.is_app_limited);
        assert_eq!(rs.lost, 0);
    }
    assert_eq!(samples[150].prior_delivered, 51_000);
}

/// ACK aggregation: the first five packets' ACK is held back and arrives late (100 ms instead
/// of 50 ms after the first send), so the next flight's ACK interval starts late and is too
/// short; the send interval caps the rate at what was sent.
#[test]
fn ack_aggregation_is_capped_by_the_send_rate() {
    let mut s = Sender::new();
    let mut pns = Vec::new();
    // 1000 bytes every 10 ms: 100 kB/s.
    for t in [0, 10, 20, 30, 40, 50, 60, 70, 80, 90] {
        pns.push(s.send(t));
    }
    let min_rtt = ms(50);
    // Frame A at 100 ms acknowledges packets 0–4 (sent 0–40 ms) at once: 5000 bytes over the
    // 100 ms since the idle send at 0; the send interval of that flight is 40 ms.
    let a = s.ack(100, &pns[0..5], &[], min_rtt).unwrap();
    assert_eq!(
        (a.ack_elapsed, a.send_elapsed, a.interval),
        (ms(100), ms(40), ms(100))
    );
    assert_eq!((a.delivered, a.delivery_rate), (5000, 50_000));
    // Packet 10 leaves right after frame A: delivered 5000 at 100 ms, its flight starting with
    // the newest packet frame A acknowledged (packet 4, sent at 40 ms).
    let p10 = s.send(100);
    let snap = s.sent[p10].snapshot;
    assert_eq!(snap.delivered(), 5000);
    assert_eq!(snap.delivered_time(s.at(100)), s.at(100));
    assert_eq!(snap.first_sent_time(s.at(100)), s.at(40));
    // Frame B at 140 ms: packets 5–9, again aggregated.
    let b = s.ack(140, &pns[5..10], &[], min_rtt).unwrap();
    assert_eq!((b.ack_elapsed, b.send_elapsed), (ms(140), ms(90)));
    assert_eq!((b.delivered, b.delivery_rate), (10_000, 10_000_000 / 140));
    // Frame C at 150 ms: packet 10 alone. The ACK interval (100 → 150 ms) says 6000 bytes in
    // 50 ms = 120 kB/s, faster than anything was sent; the send interval (40 → 100 ms, 60 ms)
    // is longer, so the sample is the send rate, 100 kB/s.
    let c = s.ack(150, &[p10], &[], min_rtt).unwrap();
    assert_eq!(c.delivered, 6000);
    assert_eq!(c.ack_elapsed, ms(50));
    assert_eq!(c.send_elapsed, ms(60));
    assert_eq!(c.interval, ms(60));
    assert_eq!(c.delivery_rate, 100_000);
    assert_eq!(c.rtt, ms(50));
    // With a minimum RTT above the interval the sample has no reliable rate, and keeps the
    // rest.
    let mut s2 = Sender::new();
    let p = s2.send(0);
    let rs = s2.ack(40, &[p], &[], ms(41)).unwrap();
    assert_eq!(
        (rs.delivery_rate, rs.delivered, rs.interval),
        (0, 1000, ms(40))
    );
}

#[test]
fn sample_comes_from_the_newest_packet_of_the_frame() {
    let mut s = Sender::new();
    let p0 = s.send(0);
    let p1 = s.send(5);
    let p2 = s.send(5); // same instant as p1: the later call is the newer packet
    s.ack(50, &[p0], &[], Duration::ZERO).unwrap();
    let p3 = s.send(50);
    assert_eq!(s.sent[p3].snapshot.tx_in_flight(), 3 * SIZE);
    let rs = s.ack(60, &[p1, p2], &[], Duration::ZERO).unwrap();
    // From p2: sent at 5 ms with 2000 bytes in flight (p0, p1 before it).
    assert_eq!(rs.tx_in_flight, 3 * SIZE);
    assert_eq!(rs.rtt, ms(55));
    assert_eq!(rs.prior_delivered, 0);
    assert_eq!(rs.delivered, 3000);
    assert_eq!(rs.newly_acked, 2000);
}

#[test]
fn losses_since_the_send_are_counted() {
    let mut s = Sender::new();
    let pns: Vec<_> = (0..6).map(|i| s.send(i * 10)).collect();
    // Packets 0 and 1 lost, 2 and 3 acknowledged.
    let rs = s.ack(80, &pns[2..4], &pns[0..2], Duration::ZERO).unwrap();
    assert_eq!(rs.lost, 2000);
    assert_eq!(rs.newly_lost, 2000);
    assert_eq!(s.est.lost(), 2000);
    // A packet sent after the losses does not count them.
    let p6 = s.send(80);
    assert_eq!(s.sent[p6].snapshot.lost(), 2000);
    // Packet 4 is lost alone on a timer (no sample), then 5 and 6 are acknowledged: the loss
    // counts for packet 6's sample too, and carries into newly_lost.
    s.est.on_packet_lost(SIZE);
    s.in_flight -= SIZE;
    let rs = s.ack(130, &[pns[5], p6], &[], Duration::ZERO).unwrap();
    assert_eq!(rs.lost, 1000);
    assert_eq!(rs.newly_lost, 1000);
    assert_eq!(rs.tx_in_flight, 3 * SIZE);
}

/// §4.1.1.3: after the sender runs out of data, samples are application-limited until the data
/// in flight at that moment has been delivered.
#[test]
fn application_limited_bubble() {
    let mut s = Sender::new();
    let p0 = s.send(0);
    let p1 = s.send(1);
    // Nothing more to send with 2000 bytes in flight: the bubble ends once 2000 bytes are
    // delivered.
    s.est.on_app_limited(s.in_flight);
    assert!(s.est.is_app_limited());
    let p2 = s.send(10);
    assert!(s.sent[p2].snapshot.is_app_limited());
    let rs = s.ack(40, &[p0], &[], Duration::ZERO).unwrap();
    assert!(!rs.is_app_limited);
    assert!(s.est.is_app_limited(), "1000 delivered, not more than 2000");
    let p3 = s.send(40);
    assert!(s.sent[p3].snapshot.is_app_limited());
    let rs = s.ack(41, &[p1], &[], Duration::ZERO).unwrap();
    assert!(!rs.is_app_limited);
    assert!(
        s.est.is_app_limited(),
        "2000 delivered, still not more than 2000"
    );
    let rs = s.ack(50, &[p2], &[], Duration::ZERO).unwrap();
    assert!(rs.is_app_limited);
    assert!(
        !s.est.is_app_limited(),
        "3000 > 2000: the bubble has left the pipe"
    );
    let p4 = s.send(50);
    assert!(!s.sent[p4].snapshot.is_app_limited());
    let rs = s.ack(80, &[p3], &[], Duration::ZERO).unwrap();
    assert!(rs.is_app_limited);
    let rs = s.ack(90, &[p4], &[], Duration::ZERO).unwrap();
    assert!(!rs.is_app_limited);
    // Marking with nothing delivered and nothing in flight still marks.
    let mut est = DeliveryRateEstimator::new();
    est.on_app_limited(0);
    assert!(est.is_app_limited());
}

/// After an idle period the interval restarts at the first send, not at the last ACK.
#[test]
fn restart_from_idle_starts_a_fresh_interval() {
    let mut s = Sender::new();
    let p0 = s.send(0);
    s.ack(40, &[p0], &[], ms(40)).unwrap();
    // Idle for a second, then two packets.
    let p1 = s.send(1040);
    let p2 = s.send(1050);
    let snap = s.sent[p2].snapshot;
    assert_eq!(snap.delivered_time(s.at(1050)), s.at(1040));
    let rs = s.ack(1090, &[p1, p2], &[], ms(40)).unwrap();
    // 2000 bytes from 1040 to 1090 ms, not over the idle second.
    assert_eq!(rs.ack_elapsed, ms(50));
    assert_eq!(rs.send_elapsed, ms(10));
    assert_eq!(rs.delivery_rate, 40_000);
}

#[test]
fn rate_guards_zero_intervals_and_overflow() {
    assert_eq!(rate(1000, Duration::ZERO), 0);
    assert_eq!(rate(1000, Duration::from_secs(1)), 1000);
    assert_eq!(rate(1, Duration::from_nanos(1)), 1_000_000_000);
    assert_eq!(rate(u64::MAX, Duration::from_nanos(1)), u64::MAX);
    // A sample over a zero interval (ACK at the send instant, filter disabled): no rate.
    let mut s = Sender::new();
    let p0 = s.send(0);
    let rs = s.ack(0, &[p0], &[], Duration::ZERO).unwrap();
    assert_eq!(
        (rs.delivery_rate, rs.interval, rs.delivered),
        (0, Duration::ZERO, 1000)
    );
}
