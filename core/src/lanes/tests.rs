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
            compressed: false,
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

// ----- Credit reuse, unbounded queues and rescans (the lane receiver audit) -----

/// Every new message on a reliable lane claimed credit offset 0: the window only checked the
/// message's end, so credit was never used up and an ordered lane held every message behind
/// a missing one. Reusing credit is a protocol violation now, so what a lane holds fits its
/// window.
#[test]
fn a_reused_credit_offset_does_not_buy_more_messages() {
    let now = epoch();
    let config = LanesConfig::default();
    let mut lanes = receiver();
    let mut result = Ok(());
    // Message 0 never arrives, so the ordered lane holds every later one.
    for seq in 1..=100_000u64 {
        let f = frame(3, DeliveryMode::ReliableOrdered, seq, 0, None, b"");
        result = lanes.on_frame(now, &f, ONE_WAY);
        if result.is_err() {
            break;
        }
    }
    let r = lanes.receivers.get(&3).expect("lane");
    let held = r.pending_len() as u64;
    assert!(
        held * MESSAGE_OVERHEAD <= config.lane_receive_window,
        "{held} messages held on {} bytes of credit ({result:?})",
        r.window.received()
    );
    assert_eq!(
        result.expect_err("credit reused").code,
        TransportErrorCode::PROTOCOL_VIOLATION
    );
}

/// The same trick with fragments: every message's first fragment allocated a zeroed buffer
/// the size of its claimed length (1 MiB here), for about 15 bytes on the wire.
#[test]
fn a_reused_credit_offset_does_not_buy_more_reassembly_buffers() {
    let now = epoch();
    let config = LanesConfig::default();
    let len = config.max_message_size;
    let mut lanes = receiver();
    let mut result = Ok(());
    for seq in 1..=64u64 {
        let f = frame(
            3,
            DeliveryMode::ReliableOrdered,
            seq,
            0,
            Some((len, 0)),
            b"x",
        );
        result = lanes.on_frame(now, &f, ONE_WAY);
        if result.is_err() {
            break;
        }
    }
    let held = lanes.receivers.get(&3).expect("lane").pending_len() as u64;
    assert!(
        held * (len + MESSAGE_OVERHEAD) <= config.lane_receive_window,
        "{held} buffers of {len} bytes allocated under a {}-byte lane window",
        config.lane_receive_window
    );
    assert_eq!(
        result.expect_err("credit reused").code,
        TransportErrorCode::PROTOCOL_VIOLATION
    );
}

/// Every way to name credit used already: overlapping a held message, a read one whose credit
/// is not consumed yet, straddling the consumed position, and credit a LANE_SKIP gave up.
#[test]
fn credit_used_by_another_message_or_given_up_is_a_protocol_violation() {
    let now = epoch();
    let reliable = |seq, offset, data: &[u8]| {
        frame(4, DeliveryMode::ReliableUnordered, seq, offset, None, data)
    };
    let violation = |lanes: &mut Lanes, f: &LaneFrame| {
        lanes
            .on_frame(now, f, ONE_WAY)
            .expect_err("credit used already")
            .code
    };
    let mut lanes = receiver();
    // Message 0 at 0..65 is never seen; 1 at 65..130 and 2 at 130..196 are.
    lanes
        .on_frame(now, &reliable(1, 65, b"b"), ONE_WAY)
        .expect("message 1");
    lanes
        .on_frame(now, &reliable(2, 130, b"cc"), ONE_WAY)
        .expect("message 2");
    // Held message 1's credit, from another number, partly or whole.
    assert_eq!(
        violation(&mut lanes, &reliable(3, 100, b"")),
        TransportErrorCode::PROTOCOL_VIOLATION
    );
    assert_eq!(
        violation(&mut lanes, &reliable(3, 0, b"abc")),
        TransportErrorCode::PROTOCOL_VIOLATION
    );
    // Message 1 read: its credit is released but not consumed (message 0 is missing).
    assert_eq!(lanes.recv(now, Some(4)).expect("message 1").sequence, 1);
    assert_eq!(lanes.receivers.get(&4).expect("lane").consumed(), 0);
    assert_eq!(
        violation(&mut lanes, &reliable(5, 65, b"b")),
        TransportErrorCode::PROTOCOL_VIOLATION
    );
    // A LANE_SKIP gives message 1 up (never seen) while message 0 is held unread: its credit
    // 65..130 is given up, not free.
    let mut skipped = receiver();
    skipped
        .on_frame(now, &reliable(0, 0, b"a"), ONE_WAY)
        .expect("message 0");
    skipped
        .on_skip(&LaneSkip {
            lane: v(4),
            sequence: v(2),
            offset: v(130),
        })
        .expect("skip");
    assert_eq!(skipped.receivers.get(&4).expect("lane").consumed(), 0);
    assert_eq!(
        violation(&mut skipped, &reliable(7, 65, b"")),
        TransportErrorCode::PROTOCOL_VIOLATION
    );
    assert_eq!(
        violation(&mut skipped, &reliable(7, 100, b"")),
        TransportErrorCode::PROTOCOL_VIOLATION
    );
    // Read message 0: everything up to 130 is consumed. A message straddling that is refused;
    // one wholly below it is a late copy of something released, ignored.
    assert_eq!(skipped.recv(now, Some(4)).expect("message 0").sequence, 0);
    assert_eq!(skipped.receivers.get(&4).expect("lane").consumed(), 130);
    assert_eq!(
        violation(&mut skipped, &reliable(8, 100, b"straddles")),
        TransportErrorCode::PROTOCOL_VIOLATION
    );
    skipped
        .on_frame(now, &reliable(9, 60, b""), ONE_WAY)
        .expect("below the consumed credit: ignored");
    assert!(skipped.recv(now, Some(4)).is_none());
    assert_eq!(skipped.receivers.get(&4).expect("lane").pending_len(), 0);
}

/// What an honest sender does is still accepted: the same message's fragments, retransmissions
/// and redundant copies repeat its offset, and a late copy is never delivered twice — even
/// once `done` (a bounded range set) forgot its number, which thousands of gaps make it do.
#[test]
fn honest_retransmissions_and_late_copies_are_accepted_and_delivered_once() {
    let now = epoch();
    let mut lanes = receiver();
    let msg = |seq: u64| {
        let mut f = frame(
            2,
            DeliveryMode::ReliableUnordered,
            seq,
            seq * (1 + MESSAGE_OVERHEAD),
            None,
            &[seq as u8],
        );
        f.header.copy = seq.is_multiple_of(3);
        f
    };
    // Every other message arrives (the rest are lost for now) and is read, twice over: the
    // second round is copies.
    let n = 6_000u64;
    let mut delivered = 0u64;
    for _ in 0..2 {
        for seq in (0..n).step_by(2) {
            lanes.on_frame(now, &msg(seq), ONE_WAY).expect("honest");
            while lanes.recv(now, Some(2)).is_some() {
                delivered += 1;
            }
        }
    }
    assert_eq!(delivered, n / 2, "each message once");
    // The lost ones arrive, each twice (a retransmission and a copy), as fragments.
    for seq in (1..n).step_by(2) {
        let offset = seq * (1 + MESSAGE_OVERHEAD);
        for at in [0, 0] {
            let f = frame(
                2,
                DeliveryMode::ReliableUnordered,
                seq,
                offset,
                Some((1, at)),
                &[seq as u8],
            );
            lanes.on_frame(now, &f, ONE_WAY).expect("honest");
        }
        while lanes.recv(now, Some(2)).is_some() {
            delivered += 1;
        }
    }
    assert_eq!(delivered, n);
    let r = lanes.receivers.get(&2).expect("lane");
    assert_eq!(
        r.consumed(),
        n * (1 + MESSAGE_OVERHEAD),
        "all credit released"
    );
    assert_eq!(r.claims_len(), 0);
}

/// The claims a lane keeps are bounded by its window, however a peer splits its credit with
/// skips: tiny LANE_SKIPs above a held message join into one given-up claim.
#[test]
fn credit_claims_stay_within_the_window() {
    let now = epoch();
    let config = LanesConfig::default();
    let mut lanes = receiver();
    // Message 0 complete and unread: it holds the consumed position at 0.
    lanes
        .on_frame(
            now,
            &frame(1, DeliveryMode::ReliableOrdered, 0, 0, None, b"held"),
            ONE_WAY,
        )
        .expect("message 0");
    for k in 1..=100_000u64 {
        lanes
            .on_skip(&LaneSkip {
                lane: v(1),
                sequence: v(k),
                offset: v(4 + MESSAGE_OVERHEAD + k),
            })
            .expect("skip within the window");
    }
    let r = lanes.receivers.get(&1).expect("lane");
    assert!(r.claims_len() <= 2, "{} claims", r.claims_len());
    assert_eq!(lanes.recv(now, Some(1)).expect("message 0").sequence, 0);
    // Honest messages, each its own credit, until the window is used up: a flow-control error,
    // and never more claims than two per MESSAGE_OVERHEAD of the window.
    let mut lanes = receiver();
    let mut result = Ok(());
    for seq in 1..=100_000u64 {
        let f = frame(
            1,
            DeliveryMode::ReliableOrdered,
            seq,
            seq * MESSAGE_OVERHEAD,
            None,
            b"",
        );
        result = lanes.on_frame(now, &f, ONE_WAY);
        if result.is_err() {
            break;
        }
    }
    assert_eq!(
        result.expect_err("window used up").code,
        TransportErrorCode::FLOW_CONTROL_ERROR
    );
    let r = lanes.receivers.get(&1).expect("lane");
    assert!(r.claims_len() as u64 <= 2 * config.lane_receive_window / MESSAGE_OVERHEAD + 1);
}

/// `recv(Some(lane))` (what weir-tokio uses) never popped `readable`, and each message pushed
/// one entry: it grew by one per message, and the unreliable budget searched it linearly.
#[test]
fn an_application_slow_to_poll_events_meets_one_readable_event_per_lane() {
    let now = epoch();
    let mut lanes = receiver();
    for seq in 0..100_000u64 {
        let f = frame(seq % 3, DeliveryMode::Unreliable, seq, 0, None, b"m");
        lanes.on_frame(now, &f, ONE_WAY).expect("message");
    }
    assert_eq!(lanes.events.len(), 3, "one pending Readable per lane");
    let mut polled = Vec::new();
    while let Some(event) = lanes.poll_event() {
        polled.push(event);
    }
    assert_eq!(
        polled,
        (0..3)
            .map(|lane| LaneEvent::Readable { lane })
            .collect::<Vec<_>>()
    );
    // Once polled, the next message announces itself again.
    let f = frame(1, DeliveryMode::Unreliable, 100_000, 0, None, b"m");
    lanes.on_frame(now, &f, ONE_WAY).expect("message");
    assert_eq!(lanes.poll_event(), Some(LaneEvent::Readable { lane: 1 }));
    assert_eq!(lanes.poll_event(), None);
}

#[test]
fn reading_lane_by_lane_does_not_grow_the_readable_queue() {
    let now = epoch();
    let mut lanes = receiver();
    for seq in 0..100_000u64 {
        let lane = seq % 3;
        let f = frame(lane, DeliveryMode::Unreliable, seq, 0, None, b"m");
        lanes.on_frame(now, &f, ONE_WAY).expect("message");
        assert!(lanes.recv(now, Some(lane)).is_some());
        assert!(
            lanes.readable.len() <= 3,
            "{} entries after {seq} messages",
            lanes.readable.len()
        );
    }
    // Reading from any lane still finds every message, in order, and empties the queue.
    for seq in 0..10u64 {
        let f = frame(
            seq % 2,
            DeliveryMode::Unreliable,
            100_000 + seq,
            0,
            None,
            b"m",
        );
        lanes.on_frame(now, &f, ONE_WAY).expect("message");
    }
    let mut got = 0;
    while lanes.recv(now, None).is_some() {
        got += 1;
    }
    assert_eq!(got, 10);
    assert!(lanes.readable.is_empty());
}

/// Empty messages cost nothing against `unreliable_receive_buffer`, so a peer could have any
/// number held unread; and past DEDUP_WINDOW each frame's `raise_floor` walked every unread
/// one (about 1e10 steps here).
#[test]
fn unread_empty_unreliable_messages_are_bounded() {
    let now = epoch();
    let config = LanesConfig::default();
    let mut lanes = receiver();
    for seq in 0..200_000u64 {
        let f = frame(6, DeliveryMode::Unreliable, seq, 0, None, b"");
        lanes.on_frame(now, &f, ONE_WAY).expect("message");
    }
    let r = lanes.receivers.get(&6).expect("lane");
    let held = r.pending_len() as u64;
    assert!(
        held * incoming::READY_OVERHEAD <= config.unreliable_receive_buffer,
        "{held} unread messages"
    );
    assert!(lanes.unreliable_ready_bytes <= config.unreliable_receive_buffer);
    assert!(lanes.stats().overflow_dropped >= 200_000 - held);
    // The newest are the ones kept.
    assert_eq!(
        lanes.recv(now, Some(6)).expect("kept").sequence,
        200_000 - held
    );
}

/// The same on a sequenced lane, where `on_complete` walked every unread older message.
#[test]
fn a_sequenced_lane_holds_unread_empty_messages_within_the_budget() {
    let now = epoch();
    let config = LanesConfig::default();
    for mode in [
        DeliveryMode::UnreliableSequenced,
        DeliveryMode::ReliableSequenced,
    ] {
        let mut lanes = receiver();
        for seq in 0..200_000u64 {
            let offset = if mode.is_reliable() {
                // A reliable lane holds it within its credit: read as it goes.
                seq * MESSAGE_OVERHEAD
            } else {
                0
            };
            let f = frame(6, mode, seq, offset, None, b"");
            lanes.on_frame(now, &f, ONE_WAY).expect("message");
            if mode.is_reliable() && seq % 1000 == 999 {
                while lanes.recv(now, Some(6)).is_some() {}
                lanes.write_control_frames(&mut Vec::new(), 1 << 16, &mut LanesSent::default());
            }
        }
        let r = lanes.receivers.get(&6).expect("lane");
        let held = r.pending_len() as u64;
        assert!(
            held * incoming::READY_OVERHEAD <= config.unreliable_receive_buffer,
            "{mode:?}: {held} unread messages"
        );
        assert!(r.ready_queue_len() <= 2 * r.pending_len() + 64);
    }
}

/// Each expired ready message did `ready.retain(..)` over the whole ready queue: 100_000 of
/// them, about 5e9 steps. The drops leave stale entries that are skipped and compacted.
#[test]
fn many_expired_ready_messages_drop_and_leave_no_stale_entries() {
    let now = epoch();
    let config = LanesConfig {
        unreliable_receive_buffer: 16 << 20,
        ..LanesConfig::default()
    };
    let mut lanes = Lanes::new(&config);
    let n = 60_000u64; // within DEDUP_WINDOW: only the expiry drops them
    for seq in 0..n {
        let mut f = frame(9, DeliveryMode::Unreliable, seq, 0, None, b"");
        // Every other message expires.
        let ttl_ms = if seq.is_multiple_of(2) {
            60_000
        } else {
            600_000
        };
        f.header.deadline_ms = Some(v(ttl_ms));
        lanes.on_frame(now, &f, ONE_WAY).expect("message");
    }
    assert_eq!(
        lanes.unreliable_ready_bytes,
        n * incoming::READY_OVERHEAD,
        "empty messages cost their overhead"
    );
    lanes.on_timeout(now + Duration::from_secs(120));
    let r = lanes.receivers.get(&9).expect("lane");
    assert_eq!(r.pending_len() as u64, n / 2);
    assert!(
        r.ready_queue_len() <= 2 * r.pending_len() + 64,
        "{} entries for {} messages",
        r.ready_queue_len(),
        r.pending_len()
    );
    assert_eq!(
        lanes.unreliable_ready_bytes,
        n / 2 * incoming::READY_OVERHEAD
    );
    // The rest expire too: nothing is left, stale entries included.
    lanes.on_timeout(now + Duration::from_secs(1200));
    let r = lanes.receivers.get(&9).expect("lane");
    assert_eq!((r.pending_len(), r.ready_queue_len()), (0, 0));
    assert_eq!(lanes.unreliable_ready_bytes, 0);
    assert!(lanes.recv(now, None).is_none());
}

/// A skip raising `given_up_below` by 1 collected and re-removed from `done` every message
/// held below it: 30_000 held and 100_000 skips, about 3e9 steps. Now each skip looks at
/// the numbers it newly gives up; the held messages stay deliverable.
#[test]
fn skips_one_number_at_a_time_keep_the_held_messages() {
    let now = epoch();
    let mut lanes = receiver();
    let n = 30_000u64; // 30_000 * 64 bytes of credit is within the 2 MiB lane window
    for seq in 0..n {
        let f = frame(
            2,
            DeliveryMode::ReliableUnordered,
            seq,
            seq * MESSAGE_OVERHEAD,
            None,
            b"",
        );
        lanes.on_frame(now, &f, ONE_WAY).expect("within credit");
    }
    for k in 0..100_000u64 {
        lanes
            .on_skip(&LaneSkip {
                lane: v(2),
                sequence: v(n + 1 + k),
                offset: v(n * MESSAGE_OVERHEAD),
            })
            .expect("skip");
    }
    let r = lanes.receivers.get(&2).expect("lane");
    assert_eq!(
        r.pending_len() as u64,
        n,
        "complete messages are not given up"
    );
    let mut got = 0;
    while lanes.recv(now, Some(2)).is_some() {
        got += 1;
    }
    assert_eq!(got, n);
    let r = lanes.receivers.get(&2).expect("lane");
    assert_eq!(r.consumed(), n * MESSAGE_OVERHEAD);
    assert_eq!(r.claims_len(), 0);
}

/// `poll_timeout` runs after every datagram, and the lanes' timer walked every held message,
/// even reliable ones without a deadline (30_000 held and 100_000 polls: 3e9 steps). It reads
/// an index now, which gives the same answer: the soonest deadline or reassembly timeout.
#[test]
fn the_lane_timer_reads_the_soonest_deadline_without_walking_held_messages() {
    let now = epoch();
    let config = LanesConfig::default();
    let mut lanes = receiver();
    for seq in 1..=30_000u64 {
        // Message 0 missing: all are held.
        let f = frame(
            1,
            DeliveryMode::ReliableOrdered,
            seq,
            seq * MESSAGE_OVERHEAD,
            None,
            b"",
        );
        lanes.on_frame(now, &f, ONE_WAY).expect("within credit");
    }
    for _ in 0..100_000 {
        assert_eq!(std::hint::black_box(lanes.next_timeout()), None);
    }
    // A message with a deadline, and an unreliable fragment whose reassembly times out first.
    let mut f = frame(
        1,
        DeliveryMode::ReliableOrdered,
        30_001,
        30_001 * MESSAGE_OVERHEAD,
        None,
        b"",
    );
    f.header.deadline_ms = Some(v(5_000));
    lanes.on_frame(now, &f, ONE_WAY).expect("with a deadline");
    let deadline = now + Duration::from_millis(5_000) - ONE_WAY;
    assert_eq!(lanes.next_timeout(), Some(deadline));
    let later = now + Duration::from_millis(100);
    lanes
        .on_frame(
            later,
            &frame(2, DeliveryMode::Unreliable, 0, 0, Some((10, 0)), b"x"),
            ONE_WAY,
        )
        .expect("a fragment");
    assert_eq!(
        lanes.next_timeout(),
        Some(later + config.reassembly_timeout)
    );
    for _ in 0..100_000 {
        std::hint::black_box(lanes.next_timeout());
    }
    // Each fires at its time and is dropped; the held messages without deadline stay.
    lanes.on_timeout(later + config.reassembly_timeout);
    assert_eq!(lanes.stats().incomplete_dropped, 1);
    assert_eq!(lanes.next_timeout(), Some(deadline));
    lanes.on_timeout(deadline);
    assert_eq!(lanes.stats().expired_receiving, 1);
    assert_eq!(lanes.next_timeout(), None);
    assert_eq!(lanes.receivers.get(&1).expect("lane").pending_len(), 30_000);
}
