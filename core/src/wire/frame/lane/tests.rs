use bytes::Bytes;
use proptest::prelude::*;

use super::*;
use crate::wire::frame::{Frame, Iter};

fn v(x: u64) -> VarInt {
    VarInt::saturating_from_u64(x)
}

fn header(mode: DeliveryMode, fragment: Option<Fragment>, len: usize) -> LaneHeader {
    LaneHeader {
        lane: v(1),
        mode,
        sequence: v(9),
        offset: v(if mode.is_reliable() { 300 } else { 0 }),
        fragment,
        deadline_ms: None,
        copy: false,
        compressed: false,
        len,
        explicit_len: true,
    }
}

fn decode(buf: Vec<u8>) -> Result<Frame, crate::wire::DecodeError> {
    Iter::new(Bytes::from(buf)).next().expect("one frame")
}

#[test]
fn modes_round_trip_through_their_wire_values() {
    for mode in DeliveryMode::ALL {
        assert_eq!(DeliveryMode::from_wire(mode.to_wire()), Some(mode));
    }
    assert_eq!(DeliveryMode::from_wire(5), None);
    assert!(DeliveryMode::ReliableSequenced.is_reliable());
    assert!(DeliveryMode::ReliableSequenced.is_sequenced());
    assert!(!DeliveryMode::Unreliable.is_reliable());
}

#[test]
fn modes_read_back_their_names() {
    for mode in DeliveryMode::ALL {
        assert_eq!(mode.name().parse(), Ok(mode));
        assert_eq!(mode.to_string().to_uppercase().parse(), Ok(mode));
    }
    let err = "sequenced".parse::<DeliveryMode>().expect_err("not a mode");
    assert_eq!(err, super::UnknownDeliveryMode("sequenced".to_owned()));
}

#[test]
fn unreliable_frames_carry_no_offset() {
    let reliable = header(DeliveryMode::ReliableOrdered, None, 4);
    let unreliable = header(DeliveryMode::Unreliable, None, 4);
    assert_eq!(
        reliable.encoded_len(),
        unreliable.encoded_len() + v(300).size()
    );
}

#[test]
fn an_unknown_mode_is_a_typed_error() {
    let mut buf = Vec::new();
    header(DeliveryMode::Unreliable, None, 0).encode(&mut buf);
    buf[2] = 0x07; // the info byte: mode 7
    let err = decode(buf).expect_err("unknown mode");
    assert_eq!(err.kind, DecodeErrorKind::UnknownLaneMode(7));
    assert_eq!(
        err.frame_type,
        Some(FrameType::new(
            FrameType::LANE.value() | FrameType::LANE_LEN_BIT
        ))
    );
}

#[test]
fn a_fragment_past_its_message_is_refused() {
    let fragment = Fragment {
        message_len: v(10),
        offset: v(8),
    };
    let mut buf = Vec::new();
    header(DeliveryMode::Unreliable, Some(fragment), 3).encode(&mut buf);
    buf.extend_from_slice(b"abc");
    let err = decode(buf).expect_err("out of bounds");
    assert!(
        matches!(
            err.kind,
            DecodeErrorKind::FragmentOutOfBounds {
                offset: 8,
                len: 3,
                message_len: 10
            }
        ),
        "{err}"
    );
}

#[test]
fn a_message_may_not_end_past_the_lane_byte_space() {
    let mut h = header(DeliveryMode::ReliableUnordered, None, 2);
    h.offset = VarInt::MAX;
    let mut buf = Vec::new();
    h.encode(&mut buf);
    buf.extend_from_slice(b"xy");
    assert_eq!(
        decode(buf).expect_err("overflow").kind,
        DecodeErrorKind::StreamOffsetOverflow
    );
}

proptest! {
    /// `max_data_len` is exact: the answer fits and one more byte would not.
    #[test]
    fn capacity_is_exact(
        mode in proptest::sample::select(DeliveryMode::ALL.to_vec()),
        lane in 0u64..1 << 30,
        sequence in 0u64..1 << 40,
        offset in 0u64..1 << 40,
        fragmented in any::<bool>(),
        deadline in proptest::option::of(0u64..1 << 20),
        space in 0usize..5_000,
        explicit_len in any::<bool>(),
    ) {
        let h = LaneHeader {
            lane: v(lane),
            mode,
            sequence: v(sequence),
            offset: v(offset),
            fragment: fragmented.then_some(Fragment { message_len: v(1 << 20), offset: v(700) }),
            deadline_ms: deadline.map(v),
            copy: false,
            compressed: false,
            len: 0,
            explicit_len,
        };
        let fits = |len: usize| LaneHeader { len, ..h }.encoded_len() + len <= space;
        match h.max_data_len(space) {
            Some(n) => {
                prop_assert!(fits(n));
                prop_assert!(!fits(n + 1));
            }
            None => prop_assert!(!fits(0)),
        }
    }
}
