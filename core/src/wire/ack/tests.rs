use std::ops::Range;

use proptest::prelude::*;

use super::*;
use crate::wire::frame::{Frame, Iter};

fn decode(buf: Vec<u8>) -> Result<Ack, DecodeError> {
    match Iter::new(buf.into()).next() {
        Some(Ok(Frame::Ack(ack))) => Ok(ack),
        Some(Ok(other)) => panic!("not an ACK: {other:?}"),
        Some(Err(e)) => Err(e),
        None => panic!("no frame"),
    }
}

fn set(ranges: &[Range<u64>]) -> RangeSet {
    let mut s = RangeSet::new();
    for r in ranges {
        s.insert(r.clone());
    }
    s
}

fn single(x: u64) -> RangeSet {
    let mut s = RangeSet::new();
    s.insert_one(x);
    s
}

#[test]
fn rfc_layout() {
    // Acknowledges 10..=12 and 5..=6: largest 12, first range 2, one pair: gap = 10 - 6 - 2 = 2,
    // range = 1.
    let mut buf = Vec::new();
    let info = Ack::encode(&set(&[5..7, 10..13]), 3, None, usize::MAX, &mut buf).unwrap();
    assert_eq!(buf, [0x02, 12, 3, 1, 2, 2, 1]);
    assert_eq!(
        info,
        AckEncodeInfo {
            ranges: 2,
            len: 7,
            smallest: 5
        }
    );
    let ack = decode(buf).unwrap();
    assert_eq!((ack.largest(), ack.delay(), ack.range_count()), (12, 3, 2));
    assert_eq!(ack.iter().collect::<Vec<_>>(), [10..13, 5..7]);
    assert_eq!(ack.ecn(), None);
}

#[test]
fn ecn_counts_round_trip() {
    let ecn = EcnCounts {
        ect0: 1,
        ect1: 2,
        ce: 70_000,
    };
    let mut buf = Vec::new();
    Ack::encode(&single(0), 0, Some(&ecn), usize::MAX, &mut buf).unwrap();
    assert_eq!(buf[0], 0x03);
    assert_eq!(decode(buf).unwrap().ecn(), Some(&ecn));
}

#[test]
fn nothing_to_encode() {
    let mut buf = Vec::new();
    assert_eq!(Ack::encode(&RangeSet::new(), 0, None, 100, &mut buf), None);
    assert_eq!(Ack::encode(&single(0), 0, None, 4, &mut buf), None);
    assert_eq!(Ack::encode(&single(1 << 62), 0, None, 100, &mut buf), None);
    assert!(buf.is_empty());
    // Exactly the minimal frame: type, largest, delay, count, first range.
    assert!(Ack::encode(&single(0), 0, None, 5, &mut buf).is_some());
    assert_eq!(buf.len(), 5);
}

#[test]
fn thousand_ranges_under_a_100_byte_cap_keep_the_newest() {
    // Every other packet received: 1000 ranges of one packet each.
    let mut ranges = RangeSet::new();
    for i in 0..1000u64 {
        ranges.insert_one(10_000 + 2 * i);
    }
    assert_eq!(ranges.len(), 1000);
    let mut buf = Vec::new();
    let info = Ack::encode(&ranges, 100, None, 100, &mut buf).unwrap();
    assert_eq!(info.len, buf.len());
    assert!(buf.len() <= 100, "{} bytes", buf.len());
    // Gaps and ranges of 1 and 0 take one byte each: 2 bytes per extra range.
    assert!(info.ranges > 40, "only {} ranges", info.ranges);
    let ack = decode(buf).unwrap();
    let expected: Vec<_> = ranges.iter().rev().take(info.ranges).collect();
    assert_eq!(ack.iter().collect::<Vec<_>>(), expected);
    assert_eq!(ack.largest(), 10_000 + 2 * 999);
    assert_eq!(info.smallest, expected.last().unwrap().start);
}

#[test]
fn underflowing_ranges_are_rejected_where_they_are() {
    // First range larger than largest.
    let e = decode(vec![0x02, 5, 0, 0, 6]).unwrap_err();
    assert_eq!(
        (e.kind.clone(), e.offset),
        (DecodeErrorKind::InvalidAckRange, 4)
    );
    assert_eq!(e.frame_type, Some(FrameType::ACK));
    // Gap below zero: largest 5, first 3 (smallest 2), gap 1 → next largest = 2 - 1 - 2 < 0.
    let e = decode(vec![0x02, 5, 0, 1, 3, 1, 0]).unwrap_err();
    assert_eq!(
        (e.kind.clone(), e.offset),
        (DecodeErrorKind::InvalidAckRange, 5)
    );
    // Range below zero: smallest 4, gap 0 → next largest 2, range 3 → below zero.
    let e = decode(vec![0x02, 5, 0, 1, 1, 0, 3]).unwrap_err();
    assert_eq!((e.kind, e.offset), (DecodeErrorKind::InvalidAckRange, 6));
}

#[test]
fn huge_range_count_fails_fast() {
    // Range count 2^62 - 1 with a handful of bytes behind it.
    let mut buf = vec![0x02, 0x40, 100, 0];
    VarInt::MAX.encode(&mut buf);
    buf.extend_from_slice(&[0, 0, 0, 0, 0]);
    let e = decode(buf).unwrap_err();
    assert!(matches!(
        e.kind,
        DecodeErrorKind::UnexpectedEnd {
            what: Item::AckRanges,
            available: 4,
            ..
        }
    ));
}

#[test]
fn equality_ignores_varint_encoding() {
    let minimal = decode(vec![0x02, 12, 3, 1, 2, 2, 1]).unwrap();
    let padded = decode(vec![0x02, 0x40, 12, 3, 0x40, 1, 2, 0x80, 0, 0, 2, 1]).unwrap();
    assert_eq!(minimal, padded);
    let mut buf = Vec::new();
    padded.write(&mut buf);
    assert_eq!(buf, [0x02, 12, 3, 1, 2, 2, 1]);
    assert_eq!(padded.encoded_len(), 7);
}

fn range_set() -> impl Strategy<Value = RangeSet> {
    proptest::collection::vec((0u64..1 << 40, 1u64..1000), 1..60).prop_map(|rs| {
        let mut set = RangeSet::new();
        for (start, len) in rs {
            set.insert(start..start + len);
        }
        set
    })
}

proptest! {
    #[test]
    fn arbitrary_range_sets_round_trip(ranges in range_set(), delay in 0u64..1 << 30) {
        let mut buf = Vec::new();
        let info = Ack::encode(&ranges, delay, None, usize::MAX, &mut buf).unwrap();
        prop_assert_eq!(info.ranges, ranges.len());
        prop_assert_eq!(info.len, buf.len());
        let ack = decode(buf).unwrap();
        prop_assert_eq!(ack.iter().collect::<Vec<_>>(), ranges.iter().rev().collect::<Vec<_>>());
        prop_assert_eq!(ack.delay(), delay);
    }

    #[test]
    fn capped_frames_hold_the_newest_ranges(ranges in range_set(), max_len in 0usize..120) {
        let mut buf = Vec::new();
        match Ack::encode(&ranges, 7, None, max_len, &mut buf) {
            None => prop_assert!(buf.is_empty()),
            Some(info) => {
                prop_assert!(buf.len() <= max_len);
                prop_assert_eq!(info.len, buf.len());
                let ack = decode(buf).unwrap();
                let newest: Vec<_> = ranges.iter().rev().take(info.ranges).collect();
                prop_assert_eq!(ack.iter().collect::<Vec<_>>(), newest);
                // Greedy: one more range would not have fit.
                if info.ranges < ranges.len() {
                    let mut more = Vec::new();
                    let all = Ack::encode(&ranges, 7, None, usize::MAX, &mut more).unwrap();
                    prop_assert!(all.len > max_len);
                }
            }
        }
    }
}
