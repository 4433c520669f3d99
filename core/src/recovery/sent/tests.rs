#![allow(clippy::single_range_in_vec_init)] // ACK frames are lists of ranges; one range is common

use std::time::{Duration, Instant};

use super::*;
use crate::recovery::test_epoch;

fn packet(t0: Instant, ms: u64) -> SentPacket<u64> {
    SentPacket::new(t0 + Duration::from_millis(ms), 1200, true, true, ms)
}

/// Packets `pns`, packet `pn` sent at `t0 + pn ms` carrying `pn`.
fn sent(t0: Instant, pns: impl IntoIterator<Item = u64>) -> SentPackets<u64> {
    let mut s = SentPackets::new();
    for pn in pns {
        s.insert(pn, packet(t0, pn));
    }
    s
}

fn pns(out: &[(u64, SentPacket<u64>)]) -> Vec<u64> {
    out.iter().map(|(pn, _)| *pn).collect()
}

#[test]
fn insert_get_iter_with_gaps() {
    let t0 = test_epoch();
    let mut s = sent(t0, [3, 4, 7]);
    assert_eq!(s.len(), 3);
    assert_eq!(s.largest_sent(), Some(7));
    assert_eq!(s.get(4).map(|p| p.data), Some(4));
    assert!(s.get(5).is_none());
    assert!(s.get(2).is_none());
    assert!(s.get(u64::MAX).is_none());
    if let Some(p) = s.get_mut(7) {
        p.data = 70;
    }
    let all: Vec<_> = s.iter().map(|(pn, p)| (pn, p.data, p.seq)).collect();
    // Sequence numbers ignore the skipped 5 and 6.
    assert_eq!(all, [(3, 3, 0), (4, 4, 1), (7, 70, 2)]);
}

#[test]
#[should_panic(expected = "out of order")]
fn insert_out_of_order_panics_in_debug() {
    let t0 = test_epoch();
    let mut s = sent(t0, [5]);
    s.insert(5, packet(t0, 5));
}

#[test]
fn ack_ranges_remove_in_ascending_order() {
    let t0 = test_epoch();
    let mut s = sent(t0, 0..10);
    let mut out = Vec::new();
    // Descending ranges: 8..=9, 4..=5, 1..=1.
    s.on_ack_ranges([8..10, 4..6, 1..2], &mut out);
    assert_eq!(pns(&out), [1, 4, 5, 8, 9]);
    assert_eq!(s.len(), 5);
    let left: Vec<_> = s.iter().map(|(pn, _)| pn).collect();
    assert_eq!(left, [0, 2, 3, 6, 7]);
    // Acknowledging again adds nothing; acknowledging the front pops the gaps behind it.
    out.clear();
    s.on_ack_ranges([0..10], &mut out);
    assert_eq!(pns(&out), [0, 2, 3, 6, 7]);
    assert!(s.is_empty());
    assert_eq!(s.slots.len(), 0);
}

#[test]
fn ack_appends_after_existing_output() {
    let t0 = test_epoch();
    let mut s = sent(t0, 0..4);
    let mut out = vec![(99, packet(t0, 99))];
    s.on_ack_ranges([2..4, 0..1], &mut out);
    assert_eq!(pns(&out), [99, 0, 2, 3]);
}

#[test]
fn ranges_outside_window_are_ignored() {
    let t0 = test_epoch();
    let mut s = sent(t0, 100..110);
    let mut out = Vec::new();
    s.on_ack_ranges([200..300, 105..106, 50..60, 0..10], &mut out);
    assert_eq!(pns(&out), [105]);
    assert_eq!(s.len(), 9);
}

#[test]
fn many_old_ranges_are_not_walked() {
    let t0 = test_epoch();
    let mut s = sent(t0, 1_000_000..1_000_004);
    // An iterator that would take forever if walked to the end: it must stop at the first
    // range below the window.
    let ranges = (0..u64::MAX).map(|k| {
        let top = 1_000_004u64.saturating_sub(2 * k);
        top.saturating_sub(1)..top
    });
    let mut out = Vec::new();
    s.on_ack_ranges(ranges, &mut out);
    assert_eq!(pns(&out), [1_000_001, 1_000_003]);
}

#[test]
fn drain_lost_by_packet_threshold() {
    let t0 = test_epoch();
    let mut s = sent(t0, 0..6);
    let mut acked = Vec::new();
    s.on_ack_ranges([5..6], &mut acked);
    let mut lost = Vec::new();
    // now = t0: nothing lost by time. Packet threshold 3: 0, 1, 2 lost (5 − pn ≥ 3).
    let loss_time = s.drain_lost(5, t0, Duration::from_millis(100), &mut lost);
    assert_eq!(pns(&lost), [0, 1, 2]);
    // 3 and 4 remain; the earliest becomes lost at its send time (3 ms) + 100 ms.
    assert_eq!(loss_time, Some(t0 + Duration::from_millis(103)));
    let left: Vec<_> = s.iter().map(|(pn, _)| pn).collect();
    assert_eq!(left, [3, 4]);
}

#[test]
fn drain_lost_by_time_threshold() {
    let t0 = test_epoch();
    let mut s = sent(t0, 0..4);
    let mut acked = Vec::new();
    s.on_ack_ranges([3..4], &mut acked);
    let mut lost = Vec::new();
    // loss delay 10 ms; now = t0 + 11 ms: packets sent at 0 and 1 ms are lost (sent ≤ now −
    // 10 ms), packet 2 (sent at 2 ms) is lost at 12 ms.
    let now = t0 + Duration::from_millis(11);
    let loss_time = s.drain_lost(3, now, Duration::from_millis(10), &mut lost);
    assert_eq!(pns(&lost), [0, 1]);
    assert_eq!(loss_time, Some(t0 + Duration::from_millis(12)));
    // Exactly at the loss time, the packet is lost.
    lost.clear();
    let loss_time = s.drain_lost(
        3,
        loss_time.unwrap_or(now),
        Duration::from_millis(10),
        &mut lost,
    );
    assert_eq!(pns(&lost), [2]);
    assert_eq!(loss_time, None);
    assert!(s.is_empty());
}

#[test]
fn drain_lost_ignores_packets_above_largest_acked() {
    let t0 = test_epoch();
    let mut s = sent(t0, 0..10);
    let mut lost = Vec::new();
    let far = t0 + Duration::from_secs(100);
    assert_eq!(
        s.drain_lost(1, far, Duration::from_millis(10), &mut lost),
        None
    );
    assert_eq!(pns(&lost), [0, 1]);
    assert_eq!(s.len(), 8);
}

#[test]
fn drain_all_empties_but_keeps_largest_sent() {
    let t0 = test_epoch();
    let mut s = sent(t0, [0, 1, 5]);
    let mut acked = Vec::new();
    s.on_ack_ranges([1..2], &mut acked);
    let mut out = Vec::new();
    s.drain_all(&mut out);
    assert_eq!(pns(&out), [0, 5]);
    assert!(s.is_empty());
    assert_eq!(s.largest_sent(), Some(5));
    assert_eq!(s.iter().count(), 0);
    // A later insertion starts a fresh window.
    s.insert(9, packet(t0, 9));
    assert_eq!(s.iter().map(|(pn, _)| pn).collect::<Vec<_>>(), [9]);
}

#[test]
fn evict_front_bounds_the_span_through_gaps() {
    let t0 = test_epoch();
    // 0 is stuck at the front; 1..=9 were acknowledged; 10..20 are tracked.
    let mut s = sent(t0, 0..20);
    let mut acked = Vec::new();
    s.on_ack_ranges([1..10], &mut acked);
    assert_eq!(s.span(), 20);
    let mut out = Vec::new();
    s.evict_front(20, &mut out);
    assert!(out.is_empty(), "within the bound");
    // Evicting 0 also drops the acknowledged gap behind it.
    s.evict_front(15, &mut out);
    assert_eq!(pns(&out), [0]);
    assert_eq!(s.span(), 10);
    s.evict_front(9, &mut out);
    assert_eq!(pns(&out), [0, 10]);
    assert_eq!(s.span(), 9);
    assert_eq!(s.len(), 9);
    assert_eq!(s.iter().next().map(|(pn, _)| pn), Some(11));
    s.evict_front(0, &mut out);
    assert_eq!(s.len(), 0);
    assert_eq!(s.span(), 0);
    // Numbering goes on after an emptied record.
    s.insert(25, packet(t0, 25));
    assert_eq!(s.span(), 1);
    assert_eq!(s.largest_sent(), Some(25));
}

#[test]
fn in_flight_bytes_of_a_packet() {
    let t0 = test_epoch();
    assert_eq!(
        SentPacket::new(t0, 1200, true, true, ()).bytes_in_flight(),
        1200
    );
    assert_eq!(
        SentPacket::new(t0, 40, false, false, ()).bytes_in_flight(),
        0
    );
}
