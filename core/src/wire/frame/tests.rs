use bytes::Bytes;
use proptest::prelude::*;

use super::*;
use crate::range_set::RangeSet;
use crate::wire::ack::EcnCounts;
use crate::wire::error::{DecodeError, DecodeErrorKind, Item};

fn v(x: u64) -> VarInt {
    VarInt::from_u64(x).unwrap()
}

/// An ACK frame for `ranges`, obtained the way a receiver gets one: encoded, then decoded.
pub(crate) fn ack_of(ranges: &RangeSet, delay: u64, ecn: Option<&EcnCounts>) -> Ack {
    let mut buf = Vec::new();
    Ack::encode(ranges, delay, ecn, usize::MAX, &mut buf).unwrap();
    match Iter::new(buf.into()).next() {
        Some(Ok(Frame::Ack(ack))) => ack,
        other => panic!("not an ACK: {other:?}"),
    }
}

/// One frame of every type (and of every flag combination).
pub(crate) fn sample_frames() -> Vec<Frame> {
    let mut ranges = RangeSet::new();
    ranges.insert(0..3);
    ranges.insert(5..6);
    ranges.insert(100..200);
    let ecn = EcnCounts {
        ect0: 10,
        ect1: 0,
        ce: 1 << 20,
    };
    vec![
        Frame::Padding(3),
        Frame::Ping,
        Frame::Ack(ack_of(&ranges, 25, None)),
        Frame::Ack(ack_of(&ranges, 0, Some(&ecn))),
        Frame::ResetStream(ResetStream {
            id: v(4),
            error_code: v(7),
            final_size: v(100_000),
        }),
        Frame::StopSending(StopSending {
            id: v(8),
            error_code: v(1),
        }),
        Frame::Handshake(HandshakeData {
            offset: v(1200),
            data: Bytes::from_static(b"client hello"),
        }),
        Frame::Stream(StreamFrame {
            id: v(0),
            offset: v(0),
            fin: false,
            data: Bytes::from_static(b"hello"),
        }),
        Frame::Stream(StreamFrame {
            id: v(1 << 40),
            offset: v(70_000),
            fin: true,
            data: Bytes::from_static(b"world"),
        }),
        Frame::Stream(StreamFrame {
            id: v(3),
            offset: v(9),
            fin: true,
            data: Bytes::new(),
        }),
        Frame::MaxData(v(1 << 20)),
        Frame::MaxStreamData {
            id: v(4),
            max: v(65_536),
        },
        Frame::MaxStreams {
            dir: Dir::Bi,
            count: v(100),
        },
        Frame::MaxStreams {
            dir: Dir::Uni,
            count: v(MAX_STREAM_COUNT),
        },
        Frame::DataBlocked(v(1 << 20)),
        Frame::StreamDataBlocked {
            id: v(4),
            limit: v(65_536),
        },
        Frame::StreamsBlocked {
            dir: Dir::Bi,
            limit: v(100),
        },
        Frame::StreamsBlocked {
            dir: Dir::Uni,
            limit: v(3),
        },
        Frame::ConnectionClose(ConnectionClose::Transport {
            error_code: v(0x0a),
            frame_type: v(0x08),
            reason: Bytes::from_static(b"protocol violation"),
        }),
        Frame::ConnectionClose(ConnectionClose::Application {
            error_code: v(42),
            reason: Bytes::new(),
        }),
        Frame::HandshakeDone,
        Frame::NewConnectionId(NewConnectionId {
            sequence: v(3),
            retire_prior_to: v(1),
            id: crate::wire::ConnectionId::new(&[0xc1; 8]).unwrap(),
            reset_token: crate::wire::ResetToken([0x7e; 16]),
        }),
        Frame::RetireConnectionId(v(2)),
        Frame::PathChallenge(*b"\x01\x02\x03\x04\x05\x06\x07\x08"),
        Frame::PathResponse([0xff; 8]),
        Frame::Message(MessageFrame {
            channel: v(2),
            sequence: v(1000),
            deadline_ms: Some(v(50)),
            data: Bytes::from_static(b"player moved"),
        }),
        Frame::Message(MessageFrame {
            channel: v(0),
            sequence: v(0),
            deadline_ms: None,
            data: Bytes::from_static(b"ping"),
        }),
        Frame::Lane(LaneFrame {
            header: LaneHeader {
                lane: v(3),
                mode: DeliveryMode::ReliableOrdered,
                sequence: v(17),
                offset: v(4096),
                fragment: Some(Fragment {
                    message_len: v(3000),
                    offset: v(1200),
                }),
                deadline_ms: Some(v(250)),
                copy: false,
                compressed: false,
                len: 5,
                explicit_len: true,
            },
            data: Bytes::from_static(b"level"),
        }),
        Frame::Lane(LaneFrame {
            header: LaneHeader {
                lane: v(0),
                mode: DeliveryMode::UnreliableSequenced,
                sequence: v(70_000),
                offset: v(0),
                fragment: None,
                deadline_ms: None,
                copy: true,
                compressed: false,
                len: 8,
                explicit_len: true,
            },
            data: Bytes::from_static(b"snapshot"),
        }),
        Frame::LaneSkip(LaneSkip {
            lane: v(3),
            sequence: v(20),
            offset: v(9000),
        }),
        Frame::MaxLaneData {
            lane: v(3),
            max: v(1 << 20),
        },
        Frame::MaxLanesData(v(1 << 22)),
        Frame::FecSource(FecSource {
            lane: v(2),
            group: v(300),
            index: 3,
            payload: Bytes::from_static(b"\x39\x02\x03\x07\x04tick"),
        }),
        Frame::FecRepair(FecRepair {
            lane: v(2),
            group: v(300),
            sources: 4,
            repairs: 2,
            index: 1,
            age_ms: v(45),
            shard: Bytes::from_static(&[0x5a; 10]),
        }),
    ]
}

fn encode_all(frames: &[Frame]) -> Vec<u8> {
    let mut buf = Vec::new();
    for f in frames {
        f.encode(&mut buf);
    }
    buf
}

fn decode_all(buf: Vec<u8>) -> Result<Vec<Frame>, DecodeError> {
    Iter::new(buf.into()).collect()
}

#[test]
fn every_sample_round_trips() {
    for frame in sample_frames() {
        let buf = encode_all(std::slice::from_ref(&frame));
        assert_eq!(buf.len(), frame.encoded_len(), "{frame:?}");
        assert_eq!(
            decode_all(buf).unwrap(),
            std::slice::from_ref(&frame),
            "{frame:?}"
        );
    }
    let frames = sample_frames();
    assert_eq!(decode_all(encode_all(&frames)).unwrap(), frames);
}

#[test]
fn decoded_data_is_a_slice_of_the_payload() {
    let frame = Frame::Stream(StreamFrame {
        id: v(0),
        offset: v(0),
        fin: false,
        data: Bytes::from_static(b"zero copy"),
    });
    let payload = Bytes::from(encode_all(&[frame]));
    let range = payload.as_ptr_range();
    let Some(Ok(Frame::Stream(f))) = Iter::new(payload.clone()).next() else {
        panic!("not a STREAM frame");
    };
    assert!(range.contains(&f.data.as_ptr()));
}

#[test]
fn padding_runs_are_one_frame() {
    let frames = decode_all(vec![0, 0, 0, 1, 0]).unwrap();
    assert_eq!(frames, [Frame::Padding(3), Frame::Ping, Frame::Padding(1)]);
}

#[test]
fn data_without_length_runs_to_the_end() {
    // STREAM 0x0c: OFF set, LEN clear: id 5, offset 64 (2-byte varint), data "abc".
    let frames = decode_all(vec![0x0c, 5, 0x40, 64, b'a', b'b', b'c']).unwrap();
    assert_eq!(
        frames,
        [Frame::Stream(StreamFrame {
            id: v(5),
            offset: v(64),
            fin: false,
            data: Bytes::from_static(b"abc"),
        })]
    );
    // MESSAGE 0x32: DEADLINE set, LEN clear.
    let frames = decode_all(vec![0x32, 1, 2, 30, b'x']).unwrap();
    assert_eq!(
        frames,
        [Frame::Message(MessageFrame {
            channel: v(1),
            sequence: v(2),
            deadline_ms: Some(v(30)),
            data: Bytes::from_static(b"x"),
        })]
    );
}

#[test]
fn header_encoders_without_length_match_the_decoder() {
    let header = StreamHeader {
        id: v(9),
        offset: v(300),
        len: 4,
        fin: true,
        explicit_len: false,
    };
    let mut buf = Vec::new();
    header.encode(&mut buf);
    assert_eq!(buf.len(), header.encoded_len());
    buf.extend_from_slice(b"data");
    let Some(Ok(Frame::Stream(f))) = Iter::new(buf.into()).next() else {
        panic!("not a STREAM frame");
    };
    assert_eq!(
        (f.id, f.offset, f.fin, &f.data[..]),
        (v(9), v(300), true, &b"data"[..])
    );

    let header = MessageHeader {
        channel: v(1),
        sequence: v(70),
        deadline_ms: None,
        len: 2,
        explicit_len: false,
    };
    let mut buf = Vec::new();
    header.encode(&mut buf);
    assert_eq!(buf.len(), header.encoded_len());
    buf.extend_from_slice(b"hi");
    let Some(Ok(Frame::Message(m))) = Iter::new(buf.into()).next() else {
        panic!("not a MESSAGE frame");
    };
    assert_eq!((m.sequence, &m.data[..]), (v(70), &b"hi"[..]));
}

#[test]
fn non_minimal_varints_are_accepted() {
    // MAX_DATA with its type and value both in 8-byte encodings.
    let buf = vec![0xc0, 0, 0, 0, 0, 0, 0, 0x10, 0xc0, 0, 0, 0, 0, 0, 0, 7];
    assert_eq!(decode_all(buf).unwrap(), [Frame::MaxData(v(7))]);
}

fn first_error(buf: Vec<u8>) -> DecodeError {
    Iter::new(buf.into())
        .find_map(Result::err)
        .expect("an error")
}

#[test]
fn errors_say_what_and_where() {
    let e = first_error(vec![1, 0x07]);
    assert_eq!((e.offset, e.frame_type), (1, None));
    assert_eq!(e.kind, DecodeErrorKind::UnknownFrameType(7));

    // STREAM with OFF: the offset varint announces 4 bytes and has 2.
    let e = first_error(vec![1, 0x0e, 5, 0x80, 0]);
    assert_eq!(
        e.to_string(),
        "truncated varint (needed 4 bytes, 2 available) at byte 3 in STREAM frame"
    );

    // STREAM with offset 2^62 - 1 and one byte of data.
    let mut buf = vec![0x0e, 0];
    VarInt::MAX.encode(&mut buf);
    buf.extend_from_slice(&[1, 0xff]);
    let e = first_error(buf);
    assert_eq!(e.kind, DecodeErrorKind::StreamOffsetOverflow);
    assert_eq!((e.offset, e.frame_type), (2, Some(FrameType::new(0x0e))));

    // HANDSHAKE with the same overflow.
    let mut buf = vec![0x06];
    VarInt::MAX.encode(&mut buf);
    buf.extend_from_slice(&[1, 0xff]);
    assert_eq!(first_error(buf).kind, DecodeErrorKind::StreamOffsetOverflow);

    // MAX_STREAMS above 2^60.
    let mut buf = vec![0x12];
    v(MAX_STREAM_COUNT + 1).encode(&mut buf);
    let e = first_error(buf);
    assert_eq!(
        e.kind,
        DecodeErrorKind::MaxStreamsTooLarge(MAX_STREAM_COUNT + 1)
    );
    assert_eq!(
        e.to_string(),
        format!(
            "stream count {} exceeds 2^60 at byte 1 in MAX_STREAMS frame",
            MAX_STREAM_COUNT + 1
        )
    );

    // A reason longer than the packet.
    let e = first_error(vec![0x1d, 0, 50, b'a']);
    assert_eq!(
        e.kind,
        DecodeErrorKind::UnexpectedEnd {
            what: Item::Bytes,
            needed: 50,
            available: 1
        }
    );
}

#[test]
fn iterator_stops_after_an_error() {
    let mut it = Iter::new(Bytes::from_static(&[0x01, 0x1f, 0x01, 0x01]));
    assert_eq!(it.next(), Some(Ok(Frame::Ping)));
    assert!(matches!(it.next(), Some(Err(_))));
    assert_eq!(it.next(), None);
}

#[test]
fn ack_eliciting() {
    assert!(Frame::Ping.is_ack_eliciting());
    assert!(!Frame::Padding(1).is_ack_eliciting());
    for f in sample_frames() {
        let expected = !matches!(
            f,
            Frame::Padding(_) | Frame::Ack(_) | Frame::ConnectionClose(_)
        );
        assert_eq!(f.is_ack_eliciting(), expected);
    }
}

fn varint() -> impl Strategy<Value = VarInt> {
    prop_oneof![0u64..64, 0u64..16_384, 0..=VarInt::MAX.into_inner()]
        .prop_map(|x| VarInt::from_u64(x).unwrap())
}

fn data() -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(any::<u8>(), 0..40).prop_map(Bytes::from)
}

fn range_set() -> impl Strategy<Value = RangeSet> {
    proptest::collection::vec((0u64..1 << 20, 1u64..50), 1..20).prop_map(|rs| {
        let mut set = RangeSet::new();
        for (start, len) in rs {
            set.insert(start..start + len);
        }
        set
    })
}

fn frame() -> impl Strategy<Value = Frame> {
    let dir = prop_oneof![Just(Dir::Bi), Just(Dir::Uni)];
    let count = (0..=MAX_STREAM_COUNT).prop_map(|x| VarInt::from_u64(x).unwrap());
    let ecn = proptest::option::of(
        (0u64..1000, 0u64..1000, 0u64..1000).prop_map(|(ect0, ect1, ce)| EcnCounts {
            ect0,
            ect1,
            ce,
        }),
    );
    prop_oneof![
        (1usize..20).prop_map(Frame::Padding),
        Just(Frame::Ping),
        Just(Frame::HandshakeDone),
        any::<[u8; 8]>().prop_map(Frame::PathChallenge),
        (
            varint(),
            any::<u64>(),
            proptest::collection::vec(any::<u8>(), 1..=20),
            any::<[u8; 16]>()
        )
            .prop_map(|(sequence, below, id, token)| {
                Frame::NewConnectionId(NewConnectionId {
                    sequence,
                    retire_prior_to: v(below % (sequence.into_inner() + 1)),
                    id: crate::wire::ConnectionId::new(&id).unwrap(),
                    reset_token: crate::wire::ResetToken(token),
                })
            }),
        varint().prop_map(Frame::RetireConnectionId),
        any::<[u8; 8]>().prop_map(Frame::PathResponse),
        (range_set(), 0u64..100_000, ecn).prop_map(|(r, delay, ecn)| Frame::Ack(ack_of(
            &r,
            delay,
            ecn.as_ref()
        ))),
        (varint(), varint(), varint()).prop_map(|(id, error_code, final_size)| {
            Frame::ResetStream(ResetStream {
                id,
                error_code,
                final_size,
            })
        }),
        (varint(), varint())
            .prop_map(|(id, error_code)| Frame::StopSending(StopSending { id, error_code })),
        (0u64..1 << 40, data()).prop_map(|(offset, data)| Frame::Handshake(HandshakeData {
            offset: v(offset),
            data
        })),
        (varint(), 0u64..1 << 40, any::<bool>(), data()).prop_map(|(id, offset, fin, data)| {
            Frame::Stream(StreamFrame {
                id,
                offset: v(offset),
                fin,
                data,
            })
        }),
        varint().prop_map(Frame::MaxData),
        varint().prop_map(Frame::DataBlocked),
        (varint(), varint()).prop_map(|(id, max)| Frame::MaxStreamData { id, max }),
        (varint(), varint()).prop_map(|(id, limit)| Frame::StreamDataBlocked { id, limit }),
        (dir.clone(), count.clone()).prop_map(|(dir, count)| Frame::MaxStreams { dir, count }),
        (dir, count).prop_map(|(dir, limit)| Frame::StreamsBlocked { dir, limit }),
        (varint(), varint(), data()).prop_map(|(error_code, frame_type, reason)| {
            Frame::ConnectionClose(ConnectionClose::Transport {
                error_code,
                frame_type,
                reason,
            })
        }),
        (varint(), data()).prop_map(|(error_code, reason)| {
            Frame::ConnectionClose(ConnectionClose::Application { error_code, reason })
        }),
        (varint(), varint(), proptest::option::of(varint()), data()).prop_map(
            |(channel, sequence, deadline_ms, data)| Frame::Message(MessageFrame {
                channel,
                sequence,
                deadline_ms,
                data,
            })
        ),
        lane_frame(),
        (varint(), varint(), 0u64..1 << 40).prop_map(|(lane, sequence, offset)| {
            Frame::LaneSkip(LaneSkip {
                lane,
                sequence,
                offset: v(offset),
            })
        }),
        (varint(), varint()).prop_map(|(lane, max)| Frame::MaxLaneData { lane, max }),
        varint().prop_map(Frame::MaxLanesData),
        (varint(), varint(), any::<u8>(), data()).prop_map(|(lane, group, index, payload)| {
            Frame::FecSource(FecSource {
                lane,
                group,
                index,
                payload,
            })
        }),
        (varint(), varint(), any::<[u8; 3]>(), varint(), data()).prop_map(
            |(lane, group, [sources, repairs, index], age_ms, shard)| {
                Frame::FecRepair(FecRepair {
                    lane,
                    group,
                    sources,
                    repairs,
                    index,
                    age_ms,
                    shard,
                })
            }
        ),
    ]
}

/// LANE frames with consistent fields: a fragment lies inside its message, and the message
/// ends inside the lane's byte space.
fn lane_frame() -> impl Strategy<Value = Frame> {
    let mode = proptest::sample::select(DeliveryMode::ALL.to_vec());
    let fragment = proptest::option::of((0u64..1 << 20, 0u64..1 << 20));
    (
        varint(),
        mode,
        varint(),
        0u64..1 << 40,
        fragment,
        proptest::option::of(varint()),
        data(),
    )
        .prop_map(
            |(lane, mode, sequence, offset, fragment, deadline_ms, data)| {
                let fragment = fragment.map(|(start, extra)| Fragment {
                    message_len: v(start + data.len() as u64 + extra),
                    offset: v(start),
                });
                Frame::Lane(LaneFrame {
                    header: LaneHeader {
                        lane,
                        mode,
                        sequence,
                        offset: if mode.is_reliable() {
                            v(offset)
                        } else {
                            VarInt::ZERO
                        },
                        fragment,
                        deadline_ms,
                        copy: deadline_ms.is_some_and(|d| d.into_inner() % 2 == 0),
                        compressed: sequence.into_inner() % 3 == 0,
                        len: data.len(),
                        explicit_len: true,
                    },
                    data,
                })
            },
        )
}

proptest! {
    #[test]
    fn arbitrary_frames_round_trip(frames in proptest::collection::vec(frame(), 0..12)) {
        let buf = encode_all(&frames);
        prop_assert_eq!(buf.len(), frames.iter().map(Frame::encoded_len).sum::<usize>());
        // Adjacent padding runs merge on decode, so compare after merging them.
        let mut merged: Vec<Frame> = Vec::new();
        for f in frames {
            match (merged.last_mut(), &f) {
                (Some(Frame::Padding(n)), Frame::Padding(m)) => *n += m,
                _ => merged.push(f),
            }
        }
        prop_assert_eq!(decode_all(buf).unwrap(), merged);
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let len = bytes.len();
        for result in Iter::new(bytes.into()) {
            if let Err(e) = result {
                prop_assert!(e.offset <= len);
            }
        }
    }

    /// `max_data_len` is exact: the answer fits and one more byte would not.
    #[test]
    fn stream_capacity_is_exact(
        id in varint(),
        offset in varint(),
        space in 0usize..20_000,
        explicit_len in any::<bool>(),
    ) {
        let fits = |len: usize| {
            let h = StreamHeader { id, offset, len, fin: false, explicit_len };
            h.encoded_len() + len <= space
        };
        match StreamHeader::max_data_len(id, offset, space, explicit_len) {
            Some(n) => {
                prop_assert!(fits(n));
                prop_assert!(!fits(n + 1));
            }
            None => prop_assert!(!fits(0)),
        }
    }

    #[test]
    fn message_capacity_is_exact(
        channel in varint(),
        sequence in varint(),
        deadline_ms in proptest::option::of(varint()),
        space in 0usize..20_000,
        explicit_len in any::<bool>(),
    ) {
        let fits = |len: usize| {
            let h = MessageHeader { channel, sequence, deadline_ms, len, explicit_len };
            h.encoded_len() + len <= space
        };
        match MessageHeader::max_data_len(channel, sequence, deadline_ms, space, explicit_len) {
            Some(n) => {
                prop_assert!(fits(n));
                prop_assert!(!fits(n + 1));
            }
            None => prop_assert!(!fits(0)),
        }
    }

    #[test]
    fn handshake_capacity_is_exact(offset in 0u64..1 << 40, space in 0usize..20_000) {
        let offset = v(offset);
        let fits = |len: usize| HandshakeData::header_len(offset, len) + len <= space;
        match HandshakeData::max_data_len(offset, space) {
            Some(n) => {
                prop_assert!(fits(n));
                prop_assert!(!fits(n + 1));
            }
            None => prop_assert!(!fits(0)),
        }
    }
}

/// A NEW_CONNECTION_ID body: sequence, retire_prior_to, the ID's length and bytes, a token.
fn new_cid_bytes(sequence: u8, retire_prior_to: u8, len: u8) -> Vec<u8> {
    let mut buf = vec![0x18, sequence, retire_prior_to, len];
    buf.extend(std::iter::repeat_n(0xab, usize::from(len)));
    buf.extend_from_slice(&[0x11; 16]);
    buf
}

#[test]
fn new_connection_id_lengths_outside_1_to_20_are_encoding_errors() {
    for len in [0u8, 21, 255] {
        let err = decode_all(new_cid_bytes(1, 0, len)).unwrap_err();
        assert_eq!(
            err.kind,
            DecodeErrorKind::InvalidConnectionIdLength(usize::from(len))
        );
        assert_eq!(err.frame_type, Some(FrameType::NEW_CONNECTION_ID));
        assert_eq!(err.offset, 3, "the length byte");
    }
    for len in [1u8, 20] {
        assert!(decode_all(new_cid_bytes(1, 0, len)).is_ok());
    }
}

#[test]
fn retire_prior_to_above_the_sequence_is_an_encoding_error() {
    let err = decode_all(new_cid_bytes(2, 3, 8)).unwrap_err();
    assert_eq!(
        err.kind,
        DecodeErrorKind::RetirePriorToAboveSequence {
            retire_prior_to: 3,
            sequence: 2
        }
    );
    assert!(decode_all(new_cid_bytes(3, 3, 8)).is_ok());
}

#[test]
fn truncated_connection_id_frames_are_errors_not_panics() {
    let full = new_cid_bytes(1, 0, 8);
    for cut in 1..full.len() {
        assert!(decode_all(full[..cut].to_vec()).is_err(), "cut at {cut}");
    }
    assert!(decode_all(vec![0x19]).is_err());
    assert_eq!(
        decode_all(vec![0x19, 0x05]).unwrap(),
        vec![Frame::RetireConnectionId(v(5))]
    );
}
