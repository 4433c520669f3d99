//! The lanes' bounds against a hostile peer, driven frame by frame: whatever the frames
//! claim, memory stays within the configured limits, and every violation is a typed error or
//! a counted drop.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::*;
use crate::error::TransportErrorCode;
use crate::wire::frame::{DeliveryMode, Fragment, LaneFrame, LaneHeader, LaneSkip};

fn v(x: u64) -> VarInt {
    VarInt::saturating_from_u64(x)
}

#[allow(clippy::disallowed_methods)] // a test epoch: only durations are added to it
fn epoch() -> Instant {
    Instant::now()
}

fn frame(
    lane: u64,
    mode: DeliveryMode,
    seq: u64,
    offset: u64,
    fragment: Option<(u64, u64)>,
    data: &[u8],
) -> LaneFrame {
    LaneFrame {
        header: LaneHeader {
            lane: v(lane),
            mode,
            sequence: v(seq),
            offset: v(offset),
            fragment: fragment.map(|(len, at)| Fragment {
                message_len: v(len),
                offset: v(at),
            }),
            deadline_ms: None,
            copy: false,
            len: data.len(),
            explicit_len: true,
        },
        data: Bytes::copy_from_slice(data),
    }
}

fn receiver() -> Lanes {
    Lanes::new(&LanesConfig::default())
}

const ONE_WAY: Duration = Duration::from_millis(10);

#[test]
fn a_hundred_thousand_fragments_never_completed_stay_within_the_reassembly_budget() {
    let config = LanesConfig::default();
    let mut lanes = receiver();
    let now = epoch();
    for seq in 0..100_000u64 {
        let f = frame(
            1,
            DeliveryMode::Unreliable,
            seq,
            0,
            Some((1 << 20, 7)),
            b"x",
        );
        lanes
            .on_frame(now, &f, ONE_WAY)
            .expect("an unreliable fragment is no error");
        assert!(
            lanes.partial_bytes <= config.reassembly_buffer,
            "{} bytes in reassembly after {seq} fragments",
            lanes.partial_bytes
        );
    }
    assert!(lanes.stats().incomplete_dropped >= 99_000);
    // The reassembly timeout frees what is left.
    lanes.on_timeout(now + config.reassembly_timeout);
    assert_eq!(lanes.partial_bytes, 0);
    assert!(lanes.recv(now, None).is_none());
}

#[test]
fn small_incomplete_messages_are_bounded_by_count_too() {
    // Each fragment claims a 2-byte message: the per-message overhead bounds them.
    let config = LanesConfig::default();
    let mut lanes = receiver();
    let now = epoch();
    for seq in 0..200_000u64 {
        let f = frame(
            2,
            DeliveryMode::UnreliableSequenced,
            seq,
            0,
            Some((2, 0)),
            b"y",
        );
        lanes.on_frame(now, &f, ONE_WAY).expect("no error");
    }
    assert!(lanes.partial_bytes <= config.reassembly_buffer);
    let held = lanes.receivers.get(&2).map_or(0, |r| r.pending_len());
    assert!(
        held as u64 <= config.reassembly_buffer / incoming::PARTIAL_OVERHEAD,
        "{held} messages held"
    );
}

#[test]
fn lying_fragments_drop_an_unreliable_message_and_close_on_a_reliable_lane() {
    let now = epoch();
    let mut lanes = receiver();
    lanes
        .on_frame(
            now,
            &frame(3, DeliveryMode::Unreliable, 0, 0, Some((100, 0)), b"abc"),
            ONE_WAY,
        )
        .expect("first fragment");
    // The same message, another length: dropped whole, counted.
    lanes
        .on_frame(
            now,
            &frame(3, DeliveryMode::Unreliable, 0, 0, Some((200, 3)), b"def"),
            ONE_WAY,
        )
        .expect("dropped, no error");
    assert_eq!(lanes.stats().incomplete_dropped, 1);
    assert_eq!(lanes.partial_bytes, 0);
    // On a reliable lane it is a protocol violation.
    let mut lanes = receiver();
    lanes
        .on_frame(
            now,
            &frame(
                4,
                DeliveryMode::ReliableOrdered,
                0,
                0,
                Some((100, 0)),
                b"abc",
            ),
            ONE_WAY,
        )
        .expect("first fragment");
    let err = lanes
        .on_frame(
            now,
            &frame(
                4,
                DeliveryMode::ReliableOrdered,
                0,
                0,
                Some((200, 3)),
                b"def",
            ),
            ONE_WAY,
        )
        .expect_err("lying length");
    assert_eq!(err.code, TransportErrorCode::PROTOCOL_VIOLATION);
    let err = lanes
        .on_frame(
            now,
            &frame(
                4,
                DeliveryMode::ReliableOrdered,
                0,
                500,
                Some((100, 3)),
                b"def",
            ),
            ONE_WAY,
        )
        .expect_err("lying offset");
    assert_eq!(err.code, TransportErrorCode::PROTOCOL_VIOLATION);
}

#[test]
fn overlapping_fragments_assemble_once() {
    let now = epoch();
    let mut lanes = receiver();
    let msg: Vec<u8> = (0..50u8).collect();
    for (at, end) in [(0, 30), (10, 40), (20, 50), (0, 50)] {
        lanes
            .on_frame(
                now,
                &frame(
                    5,
                    DeliveryMode::ReliableUnordered,
                    0,
                    0,
                    Some((50, at)),
                    &msg[at as usize..end],
                ),
                ONE_WAY,
            )
            .expect("overlaps are fine");
    }
    let m = lanes.recv(now, Some(5)).expect("complete");
    assert_eq!(&m.data[..], &msg[..]);
    assert!(lanes.recv(now, Some(5)).is_none(), "delivered once");
}

#[test]
fn oversized_messages_and_lanes_beyond_the_limit_are_protocol_violations() {
    let now = epoch();
    let config = LanesConfig::default();
    let mut lanes = receiver();
    let big = frame(
        1,
        DeliveryMode::Unreliable,
        0,
        0,
        Some((config.max_message_size + 1, 0)),
        b"z",
    );
    assert_eq!(
        lanes
            .on_frame(now, &big, ONE_WAY)
            .expect_err("too large")
            .code,
        TransportErrorCode::PROTOCOL_VIOLATION
    );
    let far = frame(config.max_lanes, DeliveryMode::Unreliable, 0, 0, None, b"z");
    assert_eq!(
        lanes
            .on_frame(now, &far, ONE_WAY)
            .expect_err("lane limit")
            .code,
        TransportErrorCode::PROTOCOL_VIOLATION
    );
    let skip = LaneSkip {
        lane: v(config.max_lanes + 5),
        sequence: v(1),
        offset: v(0),
    };
    assert!(lanes.on_skip(&skip).is_err());
}

#[test]
fn a_mode_change_on_a_lane_is_a_protocol_violation() {
    let now = epoch();
    let mut lanes = receiver();
    lanes
        .on_frame(
            now,
            &frame(6, DeliveryMode::Unreliable, 0, 0, None, b"a"),
            ONE_WAY,
        )
        .expect("first");
    assert!(
        lanes
            .on_frame(
                now,
                &frame(6, DeliveryMode::ReliableOrdered, 1, 0, None, b"b"),
                ONE_WAY
            )
            .is_err()
    );
    // A skip on an unreliable lane too.
    let skip = LaneSkip {
        lane: v(6),
        sequence: v(3),
        offset: v(0),
    };
    assert!(lanes.on_skip(&skip).is_err());
}

#[test]
fn reliable_data_beyond_the_credit_is_a_flow_control_error() {
    let now = epoch();
    let config = LanesConfig::default();
    let mut lanes = receiver();
    // One message that ends past the lane's window.
    let f = frame(
        7,
        DeliveryMode::ReliableOrdered,
        0,
        config.lane_receive_window,
        None,
        b"q",
    );
    assert_eq!(
        lanes
            .on_frame(now, &f, ONE_WAY)
            .expect_err("beyond the lane window")
            .code,
        TransportErrorCode::FLOW_CONTROL_ERROR
    );
    // Many lanes each within their window, beyond the connection's.
    let mut lanes = receiver();
    let per_lane = config.max_message_size;
    let mut result = Ok(());
    for lane in 0..config.max_lanes {
        let f = frame(
            lane,
            DeliveryMode::ReliableUnordered,
            0,
            0,
            Some((per_lane, 0)),
            b"w",
        );
        result = lanes.on_frame(now, &f, ONE_WAY);
        if result.is_err() {
            break;
        }
    }
    assert_eq!(
        result.expect_err("beyond the connection window").code,
        TransportErrorCode::FLOW_CONTROL_ERROR
    );
    assert!(
        lanes.conn_received <= config.receive_window,
        "credit used {} of {}",
        lanes.conn_received,
        config.receive_window
    );
}

#[test]
fn a_skip_lets_an_ordered_lane_move_past_a_message_given_up_and_frees_its_credit() {
    let now = epoch();
    let mut lanes = receiver();
    // Message 0 (10 bytes) never arrives; message 1 (credit offset 74) does.
    lanes
        .on_frame(
            now,
            &frame(
                8,
                DeliveryMode::ReliableOrdered,
                1,
                10 + MESSAGE_OVERHEAD,
                None,
                b"second",
            ),
            ONE_WAY,
        )
        .expect("message 1");
    assert!(lanes.recv(now, Some(8)).is_none(), "held behind message 0");
    lanes
        .on_skip(&LaneSkip {
            lane: v(8),
            sequence: v(1),
            offset: v(10 + MESSAGE_OVERHEAD),
        })
        .expect("skip");
    let m = lanes.recv(now, Some(8)).expect("message 1 after the skip");
    assert_eq!(m.sequence, 1);
    let receiver = lanes.receivers.get(&8).expect("lane");
    assert_eq!(
        receiver.consumed(),
        10 + 6 + 2 * MESSAGE_OVERHEAD,
        "all credit released"
    );
}

/// A peer may give up message numbers by the billion in one LANE_SKIP (a fuzz finding: the
/// ordered lane walked them one by one, for minutes). The receiver jumps over the run, and a
/// message held above a smaller skip is still delivered in order.
#[test]
fn a_skip_by_billions_is_one_step() {
    let now = epoch();
    let mut lanes = receiver();
    lanes
        .on_frame(
            now,
            &frame(8, DeliveryMode::ReliableOrdered, 1 << 40, 0, None, b"far"),
            ONE_WAY,
        )
        .expect("a message far ahead");
    lanes
        .on_skip(&LaneSkip {
            lane: v(8),
            sequence: v(1 << 40),
            offset: v(0),
        })
        .expect("skip");
    assert_eq!(
        lanes.recv(now, Some(8)).expect("delivered").sequence,
        1 << 40
    );
    lanes
        .on_skip(&LaneSkip {
            lane: v(8),
            sequence: v(1 << 61),
            offset: v(0),
        })
        .expect("a second, larger skip");
    assert!(lanes.recv(now, Some(8)).is_none());
}

/// FEC frames from a hostile peer: repairs for groups that never existed, absurd shapes,
/// sources whose frames belong to another lane, lanes beyond the limit. Memory stays within
/// `fec_buffer`, lies are counted drops, and only what the wire forbids closes.
#[test]
fn fec_lies_are_dropped_within_the_budget() {
    let config = LanesConfig::default();
    let mut lanes = receiver();
    let now = epoch();
    for group in 0..100_000u64 {
        let repair = FecRepair {
            lane: v(group % 64),
            group: v(group),
            sources: (group % 40) as u8,
            repairs: (group % 20) as u8,
            index: (group % 3) as u8,
            age_ms: v(group),
            shard: Bytes::from(vec![0x33; 2 * (group % 700) as usize]),
        };
        lanes.on_fec_repair(now, &repair, ONE_WAY).expect("a drop");
        let mut payload = Vec::new();
        Frame::Lane(frame(
            group % 64,
            DeliveryMode::Unreliable,
            group,
            0,
            None,
            b"x",
        ))
        .encode(&mut payload);
        let source = FecSource {
            lane: v(group % 64),
            group: v(group + 1),
            index: (group % 8) as u8,
            payload: payload.into(),
        };
        lanes
            .on_fec_source(now, &source, ONE_WAY)
            .expect("a source");
        while lanes.recv(now, None).is_some() {}
        assert!(lanes.fec_in.bytes() as u64 <= config.fec_buffer);
    }
    assert!(lanes.stats().fec_dropped > 0);
    // The wire's rules still hold inside FEC_SOURCE: only LANE frames of its own lane.
    let mut payload = Vec::new();
    Frame::Lane(frame(2, DeliveryMode::Unreliable, 1, 0, None, b"x")).encode(&mut payload);
    let elsewhere = FecSource {
        lane: v(1),
        group: v(0),
        index: 0,
        payload: payload.into(),
    };
    let err = lanes.on_fec_source(now, &elsewhere, ONE_WAY).unwrap_err();
    assert_eq!(err.code, TransportErrorCode::PROTOCOL_VIOLATION);
    let beyond = FecRepair {
        lane: v(64),
        group: v(0),
        sources: 1,
        repairs: 1,
        index: 0,
        age_ms: v(0),
        shard: Bytes::from_static(&[0; 4]),
    };
    assert!(lanes.on_fec_repair(now, &beyond, ONE_WAY).is_err());
}
