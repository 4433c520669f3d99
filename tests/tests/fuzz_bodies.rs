//! The endpoint fuzz bodies (`weir_core::fuzzing::{endpoint_datagrams, connection_pair}`) on
//! random inputs, so that CI exercises them without nightly and cargo-fuzz. The inputs are
//! generated in the bodies' own formats (see their docs): records of datagrams with valid
//! frames for the server, scripts of network and application steps for the pair. Fixed inputs
//! check that the formats reach deep (a handshake, stream data, messages, the final flush), and
//! replay what fuzzing found: each reproducer runs in strict mode (what the fuzz targets run,
//! which failed while the bug was open) and in the lenient mode (which must get past it, so
//! that it stays usable for getting past a new finding while it is open).
//!
//! The property tests take their RNG seed from `PROPTEST_RNG_SEED` (`.ci/run` fixes it, so
//! that a landing is reproducible); without it every run explores new cases. The reproducers
//! are fixed inputs.
//!
//! The in-code seeds here are also the committed cargo-fuzz seed corpora of the endpoint
//! targets (`fuzz/seeds/{endpoint_datagrams,connection_pair,endpoint_flood,lanes}/`):
//! `cargo test -p weir-tests --test fuzz_bodies -- --ignored write_fuzz_seeds` writes them.

use bytes::Bytes;
use proptest::prelude::*;
use weir_core::fuzzing::{
    connection_pair, connection_pair_reached, endpoint_datagrams, endpoint_datagrams_reached,
    endpoint_flood, endpoint_flood_reached, lanes, lanes_reached, tls_handshake,
    tls_handshake_reached,
};
use weir_core::wire::frame::{ConnectionClose, ResetStream, StopSending, StreamFrame};
use weir_core::wire::{Frame, VarInt};

/// 256 cases; the RNG seed comes from `PROPTEST_RNG_SEED` when it is set (as in CI), else it is
/// random.
fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn var(x: u64) -> VarInt {
    VarInt::saturating_from_u64(x)
}

/// Frames a client might send (and some it must not), with small ids and offsets so that they
/// hit the streams a connection has.
fn arb_frame() -> impl Strategy<Value = Frame> {
    let id = 0u64..16;
    prop_oneof![
        Just(Frame::Ping),
        (1usize..16).prop_map(Frame::Padding),
        (
            id.clone(),
            0u64..2000,
            proptest::collection::vec(any::<u8>(), 0..64),
            any::<bool>()
        )
            .prop_map(|(id, offset, data, fin)| Frame::Stream(StreamFrame {
                id: var(id),
                offset: var(offset),
                fin,
                data: Bytes::from(data),
            })),
        (id.clone(), 0u64..4, 0u64..3000).prop_map(|(id, code, size)| {
            Frame::ResetStream(ResetStream {
                id: var(id),
                error_code: var(code),
                final_size: var(size),
            })
        }),
        (id.clone(), 0u64..4).prop_map(|(id, code)| Frame::StopSending(StopSending {
            id: var(id),
            error_code: var(code),
        })),
        (0u64..1 << 22).prop_map(|x| Frame::MaxData(var(x))),
        (id.clone(), 0u64..1 << 22).prop_map(|(id, max)| Frame::MaxStreamData {
            id: var(id),
            max: var(max),
        }),
        (id, 0u64..3000).prop_map(|(id, limit)| Frame::StreamDataBlocked {
            id: var(id),
            limit: var(limit),
        }),
        (0u64..1 << 22).prop_map(|x| Frame::DataBlocked(var(x))),
        (0u64..16, 0u64..4).prop_map(|(code, ty)| {
            Frame::ConnectionClose(ConnectionClose::Transport {
                error_code: var(code),
                frame_type: var(ty),
                reason: Bytes::from_static(b"fuzz"),
            })
        }),
        Just(Frame::HandshakeDone),
    ]
}

/// A record's payload: three selector bytes, then frames (or, now and then, raw bytes).
fn arb_payload() -> impl Strategy<Value = Vec<u8>> {
    let frames = proptest::collection::vec(arb_frame(), 0..6).prop_map(|frames| {
        let mut out = Vec::new();
        for f in frames {
            f.encode(&mut out);
        }
        out
    });
    let body = prop_oneof![4 => frames, 1 => proptest::collection::vec(any::<u8>(), 0..64)];
    (any::<[u8; 3]>(), body).prop_map(|(selectors, body)| {
        let mut out = selectors.to_vec();
        out.extend(body);
        out.truncate(255);
        out
    })
}

/// A record's op byte: the packet kind (raw, Initial, short, Handshake), the source address,
/// and the flags (coalesce; pad, ClientHello, ClientFinished, echo) with useful odds.
fn arb_op() -> impl Strategy<Value = u8> {
    let kind = prop_oneof![1 => Just(0u8), 4 => Just(1), 4 => Just(2), 1 => Just(3)];
    let flag = |percent: u32| proptest::bool::weighted(f64::from(percent) / 100.0);
    (kind, 0u8..4, flag(10), flag(60), flag(30), flag(30)).prop_map(
        |(kind, address, coalesce, hello, finished, echo)| {
            kind | address << 2
                | u8::from(coalesce) << 4
                | u8::from(hello) << 5
                | u8::from(finished) << 6
                | u8::from(echo) << 7
        },
    )
}

/// A time step: mostly short, sometimes seconds.
fn arb_step_byte() -> impl Strategy<Value = u8> {
    prop_oneof![4 => 0u8..50, 1 => any::<u8>()]
}

/// An [`endpoint_datagrams`] input: flags, then records (op, time step, length, payload).
fn arb_endpoint_input() -> impl Strategy<Value = Vec<u8>> {
    let record = (arb_op(), arb_step_byte(), arb_payload());
    (any::<u8>(), proptest::collection::vec(record, 0..24)).prop_map(|(flags, records)| {
        let mut out = vec![flags];
        for (op, step, payload) in records {
            out.extend([op, step, payload.len() as u8]);
            out.extend(payload);
        }
        out
    })
}

/// A [`connection_pair`] step: an op byte and its arguments, favouring delivery (so that the
/// handshake completes) and the application's actions.
fn arb_step() -> impl Strategy<Value = Vec<u8>> {
    let side = any::<bool>().prop_map(|s| if s { 0x80u8 } else { 0 });
    let op = |n: u8| side.clone().prop_map(move |s| s | n);
    prop_oneof![
        3 => (op(0), 0u8..64).prop_map(|(o, a)| vec![o, a]),
        4 => op(1).prop_map(|o| vec![o]),
        1 => op(2).prop_map(|o| vec![o]),
        2 => op(3).prop_map(|o| vec![o]),
        3 => op(4).prop_map(|o| vec![o]),
        1 => (op(5), any::<u16>()).prop_map(|(o, b)| vec![o, (b >> 8) as u8, b as u8]),
        4 => op(6).prop_map(|o| vec![o]),
        2 => (op(7), any::<u8>(), any::<u8>()).prop_map(|(o, d, p)| vec![o, d, p]),
        4 => (op(8), any::<u8>(), any::<u8>()).prop_map(|(o, s, l)| vec![o, s, l]),
        2 => (op(9), any::<u8>()).prop_map(|(o, s)| vec![o, s]),
        1 => (op(10), any::<u8>(), any::<u8>()).prop_map(|(o, s, c)| vec![o, s, c]),
        1 => (op(11), any::<u8>(), any::<u8>()).prop_map(|(o, s, c)| vec![o, s, c]),
        3 => (op(12), any::<u8>(), any::<u8>()).prop_map(|(o, s, m)| vec![o, s, m]),
        1 => (op(13), any::<u8>(), any::<u8>()).prop_map(|(o, s, p)| vec![o, s, p]),
        2 => (op(14), any::<u8>(), any::<u8>()).prop_map(|(o, c, l)| vec![o, c, l]),
        1 => (op(15), prop_oneof![Just(0xc1u8), any::<u8>()]).prop_map(|(o, c)| vec![o, c]),
    ]
}

fn arb_pair_input() -> impl Strategy<Value = Vec<u8>> {
    (any::<u8>(), proptest::collection::vec(arb_step(), 0..150)).prop_map(|(flags, steps)| {
        let mut out = vec![flags];
        out.extend(steps.into_iter().flatten());
        out
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn endpoint_datagrams_holds_on_structured_inputs(data in arb_endpoint_input()) {
        endpoint_datagrams(&data);
    }

    #[test]
    fn endpoint_datagrams_holds_on_arbitrary_bytes(
        data in proptest::collection::vec(any::<u8>(), 0..2048),
    ) {
        endpoint_datagrams(&data);
    }

    #[test]
    fn connection_pair_holds_on_scripts(data in arb_pair_input()) {
        connection_pair(&data);
    }

    #[test]
    fn connection_pair_holds_on_arbitrary_bytes(
        data in proptest::collection::vec(any::<u8>(), 0..1024),
    ) {
        connection_pair(&data);
    }
}

/// A record of an [`endpoint_datagrams`] input.
fn record(out: &mut Vec<u8>, op: u8, step: u8, payload: &[u8]) {
    out.extend([op, step, payload.len() as u8]);
    out.extend_from_slice(payload);
}

/// Initial (op 1) with a ClientHello (bit 5) from address 0, connection-ID slot 0, packet 0;
/// then one with the ClientFinished (bit 6) to the connection ID the server sent (bit 7),
/// packet 1; then a short packet (op 2) to that connection ID, with a STREAM frame.
fn handshake_then_stream() -> Vec<u8> {
    let mut data = vec![0x00];
    record(&mut data, 0x21, 0, &[0, 0, 0]);
    record(&mut data, 0xc1, 5, &[0, 0, 1]);
    let mut short = vec![0, 0, 0];
    Frame::Stream(StreamFrame {
        id: var(2),
        offset: var(0),
        fin: true,
        data: Bytes::from_static(b"hello, server"),
    })
    .encode(&mut short);
    record(&mut data, 0x02, 5, &short);
    data
}

#[test]
fn endpoint_inputs_reach_a_handshake_and_stream_data() {
    let reached = endpoint_datagrams_reached(&handshake_then_stream(), true);
    assert_eq!(reached.datagrams, 3, "{reached:?}");
    assert_eq!(reached.accepted, 1, "{reached:?}");
    assert_eq!(reached.connected, 1, "{reached:?}");
    assert_eq!(reached.stream_bytes, 13, "{reached:?}");
    assert!(reached.transmitted > 0, "{reached:?}");
    assert_eq!(
        reached.closed, 1,
        "the connection times out at the end: {reached:?}"
    );
}

/// The reproducer of a fuzz finding: a ClientHello from address 0 opens a connection (it waits
/// for the ClientFinished, retransmitting its ServerHello within the 3× budget); then address 1
/// sends 1200-byte datagrams to the same connection ID, and the server credits them to the
/// connection's budget for address 0.
fn foreign_datagrams_inflate_the_budget() -> Vec<u8> {
    let mut data = vec![0xf0]; // no Retry, the longest idle timeout
    record(&mut data, 0x21, 0, &[0, 0, 0]);
    for _ in 0..20 {
        // Raw (op 0) zero-padded to 1200 bytes (bit 5) from address 1 (bits 2–3): an Initial
        // header to slot 0 (no source ID, no token, length 1182), then zeros.
        let mut raw = vec![0xc0, 0x57, 0x45, 0x49, 0x52, 8];
        raw.extend([0xd0; 8]);
        raw.extend([0, 0, 0x44, 0x9e]);
        record(&mut data, 0x24, 199, &raw);
    }
    data
}

/// A ClientHello from an address that never answers: the server's ServerHello and probes
/// stay within three times the Initial (the body's amplification oracle, in strict mode).
#[test]
fn a_blind_client_hello_gets_at_most_three_times_its_size() {
    let mut data = vec![0xf0]; // no Retry, the longest idle timeout
    record(&mut data, 0x21, 0, &[0, 0, 0]);
    let reached = endpoint_datagrams_reached(&data, true);
    assert_eq!(reached.accepted, 1, "{reached:?}");
    assert_eq!(
        reached.transmitted, 3,
        "ServerHello and two probes: {reached:?}"
    );
}

#[test]
fn the_lenient_oracle_leaves_out_the_known_accounting_bugs() {
    let reached = endpoint_datagrams_reached(&foreign_datagrams_inflate_the_budget(), false);
    assert_eq!(reached.accepted, 1, "{reached:?}");
}

#[test]
fn foreign_datagrams_do_not_inflate_the_budget() {
    endpoint_datagrams(&foreign_datagrams_inflate_the_budget());
}

/// A script: deliver the handshake, both ends open streams, write, finish, send messages, read
/// part, lose and corrupt a few datagrams; the final flush delivers the rest.
fn pair_script() -> Vec<u8> {
    let mut s = vec![0x00];
    for _ in 0..6 {
        s.push(0x06); // deliver everything
        s.extend([0x00, 10]); // 50 ms
    }
    // Client: a uni stream and a bi stream; the server: a uni stream.
    s.extend([0x07, 0, 3, 0x07, 1, 0, 0x87, 0, 0]);
    // Writes of 64 × 200 bytes on every stream, then finish them.
    for sel in 0..2 {
        s.extend([0x08, sel, 200, 0x09, sel]);
    }
    s.extend([0x88, 0, 200, 0x89, 0]);
    // Messages both ways.
    s.extend([0x0e, 1, 30, 0x8e, 2, 40]);
    // Lose one datagram each way, corrupt the next client datagram, then deliver.
    s.extend([0x02, 0x82, 0x05, 0x01, 0x23, 0x06]);
    // The server reads some of the client's streams.
    s.extend([0x8c, 0, 4, 0x8c, 1, 0]);
    s
}

#[test]
fn pair_scripts_reach_streams_messages_and_the_flush() {
    let reached = connection_pair_reached(&pair_script(), true);
    assert!(reached.connected, "{reached:?}");
    assert!(reached.flushed, "{reached:?}");
    assert_eq!(reached.streams_ended, 3, "{reached:?}");
    assert_eq!(reached.stream_bytes, 3 * 200 * 64, "{reached:?}");
    assert!(reached.messages >= 1, "{reached:?}");
}

/// The reproducer of a fuzz finding (proptest, shrunk): the client's first Initial is lost, its
/// retransmissions and the server's answers wait in the network for longer than the server's
/// idle timeout, so the server's connection times out while the client, connected but without
/// HANDSHAKE_DONE, keeps sending Initials to the server's connection ID. One of them opens a
/// second server connection, which closes on the client's ACK of the first connection's
/// packets (PROTOCOL_VIOLATION); the client accepts that CONNECTION_CLOSE although its source
/// connection ID is not the one the client fixed (RFC 9000 §7.2: discard such packets).
const STALE_INITIAL_OPENS_A_SECOND_CONNECTION: &[u8] = &[
    86, 2, 113, 0, 115, 74, 0, 0, 85, 0, 0, 7, 0, 0, 53, 0, 0, 55, 0, 0, 7, 0, 0, 15, 0, 0, 0, 1,
    1, 7, 0, 0, 37, 0, 7, 108, 80, 173, 18, 227, 154, 63, 32, 64, 106, 27, 186, 53, 14, 147, 56,
    251, 45, 223, 36, 47, 103, 236, 69, 165, 41, 123, 255, 172, 64, 227, 81, 135, 77, 43, 111, 68,
    145, 18, 16, 33, 72, 184, 216, 206, 194, 179, 158, 162, 181, 85, 241, 176, 57, 41, 98, 117, 52,
    198, 77, 117, 64, 18, 126, 108, 146, 90, 69, 75, 35, 250, 97, 185, 125, 195, 31, 197, 123, 151,
    138,
];

#[test]
fn the_lenient_pair_oracle_excuses_the_known_client_bug() {
    connection_pair_reached(STALE_INITIAL_OPENS_A_SECOND_CONNECTION, false);
}

#[test]
fn a_second_server_connection_cannot_close_the_client() {
    connection_pair(STALE_INITIAL_OPENS_A_SECOND_CONNECTION);
}

/// The reproducer of a fuzz finding (cargo-fuzz, `endpoint_datagrams`): an Initial with a
/// ClientHello, padded to 1200 bytes, with a 15-byte short packet coalesced behind it, from an
/// address that never answers (no Retry). The server may send 3 × 1215 = 3645 bytes; after its
/// ServerHello and two probes (3600 bytes) the 45 bytes left are too few for a packet, but not
/// zero, so it still arms its probe timer; with the default capped backoff the deadline stops
/// moving (last probe + 3 s), and the timer comes due at the same instant for ever.
const PROBE_TIMER_LIVELOCK: &[u8] = &[
    0xfe, 0xb9, 0x00, 0x03, 0x21, 0x00, 0xfb, 0x32, 0x7e, 0x2e, 0xe5,
];

#[test]
fn the_lenient_endpoint_oracle_moves_past_the_known_livelock() {
    let reached = endpoint_datagrams_reached(PROBE_TIMER_LIVELOCK, false);
    assert_eq!(reached.accepted, 1, "{reached:?}");
}

#[test]
fn the_probe_timer_never_livelocks() {
    endpoint_datagrams(PROBE_TIMER_LIVELOCK);
}

/// The reproducer of a fuzz finding (cargo-fuzz, `connection_pair`): with Retry, one bit of the
/// client's first Initial flipped in its destination connection ID. The server answers the
/// corrupted Initial with a Retry before checking its integrity tag, binding the token to the
/// corrupted ID; the client accepts the Retry, and the server's transport parameters then name
/// an original destination connection ID that is not the client's: the client closes with
/// TRANSPORT_PARAMETER_ERROR instead of retransmitting.
const RETRY_FOR_A_CORRUPTED_INITIAL: &[u8] = &[0xff, 0x25, 0x96, 0x3d, 0x00];

#[test]
fn the_lenient_pair_oracle_excuses_a_retry_for_a_corrupted_initial() {
    connection_pair_reached(RETRY_FOR_A_CORRUPTED_INITIAL, false);
}

#[test]
fn a_corrupted_first_initial_does_not_break_the_handshake() {
    connection_pair(RETRY_FOR_A_CORRUPTED_INITIAL);
}

/// The reproducer of a fuzz finding (cargo-fuzz, `connection_pair`): the server's first
/// connection loses its ServerHello and times out while the client, connected by a late
/// retransmission, keeps sending. Each of the client's Initial datagrams, addressed to the dead
/// connection's ID, opens a new server connection. As of commit ea81f9e that connection
/// completed its handshake at once (the coalesced short packet, routed by its original
/// destination ID, counted as proof), reporting `Connected` for a client that never saw it;
/// with the server now requiring proof of receipt, it rejects the client's ClientFinished, but
/// closes with a short-header CONNECTION_CLOSE, which carries no source connection ID, so the
/// client cannot tell it from its own server's and closes too.
const STALE_DATAGRAMS_COMPLETE_NEW_HANDSHAKES: &[u8] = &[
    0x52, 0x01, 0xa2, 0x00, 0xc2, 0xcf, 0xca, 0xd4, 0xd3, 0x30, 0xa2, 0x3f, 0xc6, 0x01, 0x00, 0x00,
    0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0xc2, 0xc6, 0x04, 0x80, 0xfb,
];

#[test]
fn the_lenient_pair_oracle_skips_ghost_connections() {
    connection_pair_reached(STALE_DATAGRAMS_COMPLETE_NEW_HANDSHAKES, false);
}

#[test]
fn stale_client_datagrams_do_not_complete_new_handshakes() {
    connection_pair(STALE_DATAGRAMS_COMPLETE_NEW_HANDSHAKES);
}

/// The reproducer of a fuzz finding (cargo-fuzz, `connection_pair`): with Retry, the server's
/// connection times out mid-handshake while the client lives on; a stale retransmission of the
/// client's Initial, with the Retry token (expired, but authentic, hence accepted), reopens a
/// connection under the same connection ID (the Retry's source ID becomes the connection's own
/// ID), so the client takes it for its old one; the new connection's packet numbers restart at
/// 0, and it closes with PROTOCOL_VIOLATION on the client's acknowledgement of the old one's
/// packet 2.
const STALE_RETRY_TOKEN_REOPENS_THE_SAME_CONNECTION_ID: &[u8] = &[
    0x51, 0x49, 0x45, 0x57, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x04, 0x23, 0x02, 0xe1, 0x00, 0xe5, 0x04,
    0x23, 0x02, 0xe1, 0x00, 0xe5, 0x92, 0xe1, 0x00, 0xe5, 0x96, 0x00, 0x62,
];

#[test]
fn the_lenient_pair_oracle_excuses_a_reopened_connection_id() {
    connection_pair_reached(STALE_RETRY_TOKEN_REOPENS_THE_SAME_CONNECTION_ID, false);
}

#[test]
fn a_stale_retry_token_does_not_reopen_the_same_connection_id() {
    connection_pair(STALE_RETRY_TOKEN_REOPENS_THE_SAME_CONNECTION_ID);
}

// Seed corpora of the cargo-fuzz targets: small inputs that reach deep, in the bodies' formats.

/// A short-header record (op 2, with `op_bits` for the address) to the `cid`-th connection ID
/// the server issued, pn delta 0, 2-byte packet numbers, carrying `frames`.
fn short_record(out: &mut Vec<u8>, op_bits: u8, step: u8, cid: u8, frames: &[Frame]) {
    let mut payload = vec![cid, 0, 0x01];
    for f in frames {
        f.encode(&mut payload);
    }
    record(out, 0x02 | op_bits, step, &payload);
}

/// The handshake of [`handshake_then_stream`] from `address` (0–3), connection-ID slot `slot`.
fn handshake_from(out: &mut Vec<u8>, address: u8, slot: u8) {
    record(out, 0x21 | address << 2, 0, &[slot, slot, 0]);
    record(out, 0xc1 | address << 2, 5, &[0, slot, 1]);
}

fn stream(id: u64, offset: u64, fin: bool, data: &'static [u8]) -> Frame {
    Frame::Stream(StreamFrame {
        id: var(id),
        offset: var(offset),
        fin,
        data: Bytes::from_static(data),
    })
}

/// Seeds of `endpoint_datagrams`, by name.
fn endpoint_seeds() -> Seeds {
    let mut seeds = vec![
        ("handshake_then_stream", handshake_then_stream()),
        ("probe_timer_livelock", PROBE_TIMER_LIVELOCK.to_vec()),
        ("lane_skip_by_billions", LANE_SKIP_BY_BILLIONS.to_vec()),
        (
            "foreign_datagrams_inflate_the_budget",
            foreign_datagrams_inflate_the_budget(),
        ),
    ];
    // A ClientHello from an address that never answers.
    let mut data = vec![0xf0];
    record(&mut data, 0x21, 0, &[0, 0, 0]);
    seeds.push(("blind_client_hello", data));
    // Retry: a ClientHello, the same again with the token (echo), the ClientFinished to the
    // second connection ID learned (the first is the Retry's), data.
    let mut data = vec![0x01];
    record(&mut data, 0x21, 0, &[0, 0, 0]);
    record(&mut data, 0xa1, 5, &[0, 0, 1]);
    record(&mut data, 0xc1, 5, &[1, 0, 2]);
    short_record(&mut data, 0, 5, 1, &[stream(2, 0, true, b"after a retry")]);
    seeds.push(("retry_handshake_then_stream", data));
    // The ClientFinished in a Handshake packet (op 3), then data on a bidirectional stream.
    let mut data = vec![0x10];
    record(&mut data, 0x21, 0, &[0, 0, 0]);
    record(&mut data, 0xc3, 5, &[0, 0, 0]);
    short_record(&mut data, 0, 5, 0, &[stream(0, 0, false, b"bidi")]);
    seeds.push(("handshake_packet_finished", data));
    // Every kind of frame a client sends after the handshake, then an application close.
    let mut data = vec![0x20];
    handshake_from(&mut data, 0, 0);
    short_record(
        &mut data,
        0,
        5,
        0,
        &[
            stream(0, 0, false, b"bidi"),
            stream(2, 4, false, b"gap"),
            stream(2, 0, false, b"uni "),
            Frame::Ping,
            Frame::MaxData(var(1 << 21)),
            Frame::MaxStreamData {
                id: var(0),
                max: var(1 << 17),
            },
            Frame::DataBlocked(var(1 << 20)),
            Frame::StreamDataBlocked {
                id: var(2),
                limit: var(1 << 16),
            },
        ],
    );
    short_record(
        &mut data,
        0,
        5,
        0,
        &[
            Frame::ResetStream(ResetStream {
                id: var(2),
                error_code: var(7),
                final_size: var(7),
            }),
            Frame::StopSending(StopSending {
                id: var(0),
                error_code: var(3),
            }),
            Frame::Message(weir_core::wire::frame::MessageFrame {
                channel: var(1),
                sequence: var(0),
                deadline_ms: Some(var(100)),
                data: Bytes::from_static(b"message"),
            }),
            Frame::Padding(8),
        ],
    );
    short_record(
        &mut data,
        0,
        50,
        0,
        &[Frame::ConnectionClose(ConnectionClose::Application {
            error_code: var(0),
            reason: Bytes::from_static(b"bye"),
        })],
    );
    seeds.push(("frames_then_application_close", data));
    // A transport close in the middle of the handshake.
    let mut data = vec![0x00];
    record(&mut data, 0x21, 0, &[0, 0, 0]);
    let mut close = vec![0, 0, 1];
    Frame::ConnectionClose(ConnectionClose::Transport {
        error_code: var(0x0a),
        frame_type: var(0x06),
        reason: Bytes::from_static(b"fuzz"),
    })
    .encode(&mut close);
    record(&mut data, 0x81, 5, &close);
    seeds.push(("close_during_handshake", data));
    // At most 4 connections: six ClientHellos from four addresses and slots.
    let mut data = vec![0x02];
    for i in 0..6u8 {
        record(&mut data, 0x21 | (i % 4) << 2, 1, &[i, i, 0]);
    }
    seeds.push(("connection_limit", data));
    // Retry when busy (2 handshakes): three ClientHellos, the third retried and echoed.
    let mut data = vec![0x04];
    for i in 0..3u8 {
        record(&mut data, 0x21 | i << 2, 1, &[i, i, 0]);
    }
    record(&mut data, 0xa9, 5, &[0, 2, 1]);
    seeds.push(("retry_when_busy", data));
    // Tight handshake limits: three ClientHellos from one address, then a long wait.
    let mut data = vec![0x08];
    for i in 0..3u8 {
        record(&mut data, 0x21, 0, &[i, i, 0]);
    }
    record(&mut data, 0x00, 202, &[]);
    seeds.push(("handshake_limits", data));
    // Two clients at once, one of which moves to another address.
    let mut data = vec![0x30];
    handshake_from(&mut data, 0, 0);
    handshake_from(&mut data, 1, 1);
    short_record(&mut data, 0, 5, 0, &[stream(2, 0, true, b"from 0")]);
    short_record(&mut data, 3 << 2, 5, 0, &[Frame::Ping]);
    seeds.push(("two_clients_and_a_migration", data));
    // A ClientHello with a short packet coalesced behind it (bit 4), then a raw Initial of an
    // unknown version padded to 1200 bytes (Version Negotiation) and a short garbage datagram.
    let mut data = vec![0x00];
    record(&mut data, 0x21, 0, &[0, 0, 0]);
    record(&mut data, 0x12, 0, &[0, 0, 0x01, 0x01]);
    let mut raw = vec![0xc0, 0x1a, 0x2a, 0x3a, 0x4a, 8];
    raw.extend([0xd1; 8]);
    raw.extend([0, 0, 0x44, 0x9e]);
    record(&mut data, 0x24, 5, &raw);
    record(
        &mut data,
        0x08,
        5,
        &[0x40, 0xd0, 0xd0, 0xd0, 0xd0, 0xd0, 0xd0, 0xd0, 0xd0, 0, 1],
    );
    seeds.push(("coalesced_and_raw", data));
    seeds
}

/// Seeds of `connection_pair`, by name.
fn pair_seeds() -> Seeds {
    let with_flags = |flags: u8, script: &[u8]| {
        let mut s = vec![flags];
        s.extend_from_slice(script);
        s
    };
    let handshake: Vec<u8> = [0x06, 0x00, 10].repeat(6);
    let mut seeds = vec![
        ("script", pair_script()),
        ("script_retry", with_flags(0x01, &pair_script()[1..])),
        (
            "stale_initial_opens_a_second_connection",
            STALE_INITIAL_OPENS_A_SECOND_CONNECTION.to_vec(),
        ),
        (
            "retry_for_a_corrupted_initial",
            RETRY_FOR_A_CORRUPTED_INITIAL.to_vec(),
        ),
        (
            "stale_datagrams_complete_new_handshakes",
            STALE_DATAGRAMS_COMPLETE_NEW_HANDSHAKES.to_vec(),
        ),
        (
            "stale_retry_token_reopens_the_same_connection_id",
            STALE_RETRY_TOKEN_REOPENS_THE_SAME_CONNECTION_ID.to_vec(),
        ),
    ];
    // Small windows and buffers (bit 1): the client writes more than the windows hold, in
    // steps, while the server reads a little at a time.
    let mut s = with_flags(0x02, &handshake);
    s.extend([0x07, 1, 0, 0x07, 0, 0]);
    for _ in 0..4 {
        s.extend([
            0x08, 0, 255, 0x08, 1, 255, 0x06, 0x8c, 0, 8, 0x8c, 1, 8, 0x06,
        ]);
    }
    s.extend([0x09, 0, 0x09, 1]);
    seeds.push(("small_windows", s));
    // Few ACK ranges (bit 2): writes over a network that drops, duplicates and reorders.
    let mut s = with_flags(0x04, &handshake);
    s.extend([0x07, 1, 0, 0x08, 0, 100]);
    for _ in 0..8 {
        s.extend([0x02, 0x04, 0x03, 0x01, 0x01, 0x81, 0x00, 20]);
    }
    s.extend([0x09, 0]);
    seeds.push(("lossy_network", s));
    // Keep-alive (bit 4), no message buffer (bit 3): a long quiet spell, then messages.
    let mut s = with_flags(0x18, &handshake);
    for _ in 0..6 {
        s.extend([0x00, 255, 0x06]);
    }
    s.extend([0x0e, 0, 10, 0x8e, 1, 10, 0x06]);
    seeds.push(("keep_alive", s));
    // Messages on every channel, both ways, with a corrupted one.
    let mut s = with_flags(0x00, &handshake);
    for c in 0..8u8 {
        s.extend([0x0e, c, 20 + c, 0x8e, c, 200]);
    }
    s.extend([0x05, 0x00, 0x40, 0x06, 0x00, 10, 0x06]);
    seeds.push(("messages", s));
    // Streams reset by the writer and stopped by the reader; priorities changed.
    let mut s = with_flags(0x00, &handshake);
    s.extend([0x07, 1, 0x80, 0x07, 1, 0x7f, 0x87, 1, 0, 0x87, 0, 0]);
    s.extend([0x08, 0, 50, 0x08, 1, 50, 0x88, 0, 50, 0x88, 1, 50, 0x06]);
    s.extend([0x0d, 0, 5, 0x0a, 0, 9, 0x8b, 1, 4, 0x8d, 1, 0xf0, 0x06]);
    s.extend([0x09, 1, 0x89, 0, 0x89, 1, 0x06, 0x8c, 0, 0, 0x0c, 1, 0]);
    seeds.push(("reset_and_stop", s));
    // The client closes with data in flight.
    let mut s = with_flags(0x00, &handshake);
    s.extend([
        0x07, 1, 0, 0x08, 0, 40, 0x01, 0x0f, 0xc1, 0x06, 0x00, 40, 0x06,
    ]);
    seeds.push(("close_with_data_in_flight", s));
    // The same scripts under TLS with key updates (bit 5): the encrypted receive path.
    let tls: Vec<(&'static str, Vec<u8>)> = seeds
        .iter()
        .filter_map(|(name, seed)| {
            let tls_name = match *name {
                "script" => "tls_script",
                "script_retry" => "tls_script_retry",
                "small_windows" => "tls_small_windows",
                "lossy_network" => "tls_lossy_network",
                "messages" => "tls_messages",
                "reset_and_stop" => "tls_reset_and_stop",
                _ => return None,
            };
            let mut seed = seed.clone();
            seed[0] |= 0x20;
            Some((tls_name, seed))
        })
        .collect();
    seeds.extend(tls);
    seeds
}

#[test]
fn endpoint_seeds_reach_deep() {
    let mut connected = 0;
    for (name, seed) in endpoint_seeds() {
        let reached = endpoint_datagrams_reached(&seed, true);
        assert!(reached.accepted > 0, "{name}: {reached:?}");
        connected += usize::from(reached.connected > 0);
        if name.contains("stream") || name.contains("frames") {
            assert!(reached.stream_bytes > 0, "{name}: {reached:?}");
        }
    }
    assert!(connected >= 5, "{connected} seeds complete a handshake");
}

#[test]
fn pair_seeds_reach_deep() {
    let mut flushed = 0;
    for (name, seed) in pair_seeds() {
        let reached = connection_pair_reached(&seed, true);
        if !name.starts_with("stale") {
            assert!(reached.connected, "{name}: {reached:?}");
        }
        flushed += usize::from(reached.flushed);
    }
    assert!(flushed >= 8, "{flushed} seeds reach the final flush");
}

/// Where the committed seed corpus of a fuzz target lives.
fn seed_dir(target: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/seeds")
        .join(target)
}

/// Named seed files.
type Seeds = Vec<(&'static str, Vec<u8>)>;

fn seed_targets() -> [(&'static str, Seeds); 5] {
    [
        ("endpoint_datagrams", endpoint_seeds()),
        ("connection_pair", pair_seeds()),
        ("endpoint_flood", flood_seeds()),
        ("lanes", lanes_seeds()),
        ("tls_handshake", tls_seeds()),
    ]
}

// ----- tls_handshake -----

/// The real client's handshake, delivered in order both ways: `rounds` times (the client's
/// next datagram unchanged, the server's answers, 40 ms).
fn tls_rounds(rounds: usize) -> Vec<u8> {
    [1, 0, 2, 1, 0, 2, 3, 10].repeat(rounds)
}

/// A forged Initial record: from forger `who`, ID slot `slot`, TLS bytes at `offset` × 16.
fn forged_initial(who: u8, slot: u8, offset: u8, tls: &[u8]) -> Vec<u8> {
    let len = u8::try_from(tls.len().div_ceil(4)).unwrap_or(u8::MAX);
    let mut record = vec![0, who, slot, offset, len];
    record.extend_from_slice(tls);
    record.resize(5 + usize::from(len) * 4, 0);
    record
}

fn tls_seeds() -> Seeds {
    // A ClientHello's first bytes: type 1, a length, legacy version 3.3, random.
    let mut hello = vec![0x01, 0x00, 0x01, 0x00, 0x03, 0x03];
    hello.extend([0x42; 32]);
    hello.extend([0x00, 0x00, 0x02, 0x13, 0x01, 0x01, 0x00]);
    let mut forged = vec![0x00];
    for k in 0..8u8 {
        forged.extend(forged_initial(k % 2, k, 0, &hello));
        forged.extend([3, 5]);
    }
    forged.extend(tls_rounds(4));
    let mut after = vec![0x00];
    after.extend(tls_rounds(4));
    for k in 0..8u8 {
        // Forged short packets at the connection, replays, and a little time.
        after.extend([4, 60 + k, k, 5, k, 3, 2]);
    }
    after.extend([1, 0, 2, 3, 50]);
    let mut mutated = vec![0x00];
    for k in 0..6u8 {
        mutated.extend([1, 1 << (k % 8), 17 * k, 2, 3, 20]);
    }
    mutated.extend(tls_rounds(6));
    let mut retry = vec![0x01];
    retry.extend(tls_rounds(6));
    vec![
        ("handshake", {
            let mut s = vec![0x00];
            s.extend(tls_rounds(4));
            s
        }),
        ("handshake_retry", retry),
        ("forged_initials", forged),
        ("forged_short_and_replays", after),
        ("mutated_client_datagrams", mutated),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..config() })]

    #[test]
    fn tls_handshake_holds_on_arbitrary_bytes(data in proptest::collection::vec(any::<u8>(), 0..1500)) {
        tls_handshake(&data);
    }

    /// The seeds with bytes changed: the handshakes they drive go wrong in every way.
    #[test]
    fn tls_handshake_holds_on_mutated_seeds(
        pick in 0usize..5,
        edits in proptest::collection::vec((any::<u16>(), any::<u8>()), 1..16),
    ) {
        let mut data = tls_seeds()[pick].1.clone();
        for (at, byte) in edits {
            let len = data.len();
            data[usize::from(at) % len] = byte;
        }
        tls_handshake(&data);
    }
}

/// The TLS seeds go deep: the real client connects (unless its datagrams were mutated), and
/// forged Initials reach the server.
#[test]
fn tls_seeds_reach_deep() {
    for (name, seed) in tls_seeds() {
        let reached = tls_handshake_reached(&seed);
        if name != "mutated_client_datagrams" {
            assert!(reached.connected, "{name}: {reached:?}");
        }
        if name == "forged_initials" {
            assert!(reached.forged >= 8, "{name}: {reached:?}");
        }
    }
}

// ----- endpoint_flood -----

/// A flood record (see `endpoint_flood`): `op`, a pause in ms, `count` datagrams, the source.
fn flood_record(op: u8, pause_ms: u8, count: u8, source: u16) -> [u8; 6] {
    let [hi, lo] = source.to_be_bytes();
    [op, pause_ms, count.wrapping_sub(1), hi, lo, 0]
}

/// A flood input: Retry threshold `threshold`, per-address limit index `limit` (1, 2, 4, 16),
/// the real client dialling after record `dial_after`.
fn flood_input(threshold: u8, limit: u8, dial_after: u8, records: &[[u8; 6]]) -> Vec<u8> {
    let mut data = vec![threshold - 1, limit, dial_after];
    data.extend(records.iter().flatten());
    data
}

fn flood_seeds() -> Seeds {
    let one_address: Vec<_> = (0..16).map(|_| flood_record(0, 20, 64, 7)).collect();
    let many_addresses: Vec<_> = (0..16).map(|k| flood_record(0, 20, 64, k * 131)).collect();
    let ipv6: Vec<_> = (0..16)
        .map(|k| flood_record(0, 5, 32, 0x8000 | (k % 3) << 8 | k))
        .collect();
    let mut collisions = Vec::new();
    for k in 0..8 {
        collisions.push(flood_record(1, 5, 1, 0x100 + k));
        collisions.push(flood_record(2, 5, 4, 0x200 + k));
    }
    let mut mixed = Vec::new();
    for k in 0..12 {
        mixed.push(flood_record(k as u8 % 4, 100, 40, k * 977));
    }
    let mut always = flood_input(1, 2, 3, &many_addresses);
    always[0] = 0x40;
    vec![
        ("one_address", flood_input(64, 3, 8, &one_address)),
        ("many_addresses", flood_input(64, 3, 8, &many_addresses)),
        (
            "many_addresses_low_threshold",
            flood_input(4, 0, 8, &many_addresses),
        ),
        ("ipv6_prefixes", flood_input(16, 1, 8, &ipv6)),
        ("collisions", flood_input(64, 3, 0, &collisions)),
        ("mixed", flood_input(8, 2, 6, &mixed)),
        ("retry_always", always),
    ]
}

/// The flood seeds go deep: floods are cut by the per-address limit or turned into Retries,
/// and the real client connects in every one of them.
#[test]
fn flood_seeds_reach_deep() {
    for (name, seed) in flood_seeds() {
        let reached = endpoint_flood_reached(&seed);
        assert!(reached.client_connect.is_some(), "{name}: {reached:?}");
        if name.contains("address") || name.contains("retry") {
            assert!(reached.datagrams >= 500, "{name}: {reached:?}");
            assert!(
                reached.retries + reached.over_address_limit > 0,
                "{name}: {reached:?}"
            );
        }
        if name == "collisions" {
            assert!(reached.resets > 0, "{name}: {reached:?}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..config() })]
    #[test]
    fn endpoint_flood_holds_on_arbitrary_bytes(data in proptest::collection::vec(any::<u8>(), 0..1200)) {
        endpoint_flood(&data);
    }
}

// ----- lanes -----

/// A lanes input (see `weir_core::fuzzing::lanes`): the lanes' modes and redundancy, then
/// `rounds` of what `round` gives, then a drain that loses nothing.
fn lanes_input(modes: [u8; 4], rounds: u8, round: impl Fn(u8) -> Vec<u8>) -> Vec<u8> {
    let mut data = modes.to_vec();
    for k in 0..rounds {
        data.extend(round(k));
    }
    for _ in 0..30 {
        data.extend([0x06, 200, 0x01, 0, 0x02, 0, 0x07, 0, 0x0a, 0]);
    }
    data
}

fn lanes_seeds() -> Seeds {
    let all_modes = [0x00, 0x21, 0x03, 0x14];
    vec![
        (
            "lossy_all_modes",
            lanes_input(all_modes, 40, |k| {
                let mut r = vec![0x00, k.wrapping_mul(7) % 200, 0x01, 0, 0x02, 0];
                if k % 5 == 0 {
                    r.extend([0x01, 0, 0x03, 0, 0x01, 0, 0x04, 0, 0x82, 0]);
                }
                r.extend([0x06, 20, 0x07, 0, 0x0a, 0]);
                r
            }),
        ),
        (
            "fragments_reordered",
            lanes_input([0x00, 0x01, 0x03, 0x04], 12, |k| {
                // Four fragments each, built three packets at a time and delivered newest
                // first; every third round loses one and corrupts one.
                let mut r = vec![0x00, 100 - k, 0x01, 0, 0x01, 0, 0x01, 0, 0x04, 0];
                if k % 3 == 0 {
                    r.extend([0x03, 0, 0x05, k]);
                }
                r.extend([0x02, 0, 0x02, 0, 0x06, 30, 0x07, 0, 0x0a, 0]);
                r
            }),
        ),
        (
            "fec_every_level",
            // Lane 0 reliable-ordered with FEC low, 1 reliable-unordered medium, 2 unreliable
            // high, 3 unreliable-sequenced medium; every fifth packet lost.
            lanes_input([0x40, 0x81, 0xc3, 0x84], 40, |k| {
                let mut r = vec![0x00, k.wrapping_mul(13) % 60, 0x01, 0];
                r.extend(if k % 5 == 2 { [0x03, 0] } else { [0x02, 0] });
                r.extend([0x06, 30, 0x01, 0, 0x02, 0, 0x07, 0, 0x0a, 0]);
                r
            }),
        ),
        (
            "deadlines",
            lanes_input([0x33, 0x34, 0x02, 0x00], 30, |k| {
                vec![
                    0x80,
                    10 + k * 3,
                    0x01,
                    0,
                    0x06,
                    15,
                    0x01,
                    0,
                    0x02,
                    0,
                    0x03,
                    0,
                    0x07,
                    0,
                ]
            }),
        ),
        (
            "crafted",
            lanes_input(all_modes, 10, |k| {
                let mut r = vec![0x00, k * 11, 0x01, 0, 0x02, 0];
                // A stranger's messages on the unreliable lane 2, numbered past the sender's.
                r.extend([0x08, 9, 2, 3, 200 + k, 0, 0, 0, 0xaa, 0xbb, 0xcc]);
                r.extend([0x07, 0, 0x0a, 0]);
                r
            }),
        ),
    ]
}

/// The lanes seeds go deep: messages are sent and read on every kind of lane.
#[test]
fn lanes_seeds_reach_deep() {
    for (name, seed) in lanes_seeds() {
        let reached = lanes_reached(&seed);
        assert!(reached.sent >= 10, "{name}: {reached:?}");
        assert!(reached.delivered >= 8, "{name}: {reached:?}");
        assert!(!reached.closed, "{name}: {reached:?}");
        if name == "crafted" {
            assert!(reached.crafted >= 10, "{name}: {reached:?}");
        }
        if name.starts_with("fec") {
            assert!(reached.fec_recovered > 0, "{name}: {reached:?}");
        }
    }
}

/// The reproducer of a fuzz finding (cargo-fuzz, `connection_pair`, strict): the client's first
/// Initial has a bit flipped in its version, the server answers with Version Negotiation, and a
/// bit flipped in that (it carries no integrity tag: RFC 8999 fixes its form) names a version
/// the server never offered. The client rightly gives up (RFC 9000 §6.2); the oracle had
/// assumed that only a server speaking none of its versions could make it.
const CORRUPTED_VERSION_NEGOTIATION: &[u8] = &[0x55, 0x35, 0x00, 0x26, 0x61, 0xa5, 0x7b, 0xff];

#[test]
fn a_corrupted_version_negotiation_may_end_the_handshake() {
    connection_pair(CORRUPTED_VERSION_NEGOTIATION);
}

/// Writes the seed corpora of the endpoint targets into `fuzz/seeds/` (run with `--ignored`
/// after changing a seed, and commit the result).
#[test]
#[ignore = "writes fuzz/seeds/{endpoint_datagrams,connection_pair,endpoint_flood,lanes}/"]
fn write_fuzz_seeds() {
    for (target, seeds) in seed_targets() {
        let dir = seed_dir(target);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for (name, data) in seeds {
            std::fs::write(dir.join(name), data).unwrap();
        }
    }
}

/// The committed seeds are what [`write_fuzz_seeds`] writes, and the fuzz targets hold on them.
#[test]
fn committed_fuzz_seeds_are_current() {
    for (target, seeds) in seed_targets() {
        let dir = seed_dir(target);
        let mut committed: Vec<String> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        committed.sort();
        let mut names: Vec<String> = seeds.iter().map(|(n, _)| n.to_string()).collect();
        names.sort();
        assert_eq!(
            committed, names,
            "{target}: regenerate with `cargo test -p weir-tests --test fuzz_bodies -- --ignored write_fuzz_seeds`"
        );
        for (name, data) in seeds {
            let file = std::fs::read(dir.join(name)).unwrap();
            assert!(
                file == data,
                "{target}/{name} is stale: regenerate with `cargo test -p weir-tests --test fuzz_bodies -- --ignored write_fuzz_seeds`"
            );
            match target {
                "endpoint_datagrams" => endpoint_datagrams(&file),
                "endpoint_flood" => endpoint_flood(&file),
                "lanes" => lanes(&file),
                "tls_handshake" => tls_handshake(&file),
                _ => connection_pair(&file),
            }
        }
    }
}

/// The reproducer of a fuzz finding (cargo-fuzz, `endpoint_datagrams`, a CI smoke run that
/// timed out): a client opens a reliable-ordered lane and sends a LANE_SKIP that gives up
/// message numbers up to a huge sequence; the receiver walked them one at a time.
const LANE_SKIP_BY_BILLIONS: &[u8] = &[
    32, 33, 0, 3, 0, 0, 0, 193, 5, 3, 0, 0, 1, 2, 5, 47, 0, 0, 1, 10, 0, 4, 98, 105, 100, 105, 14,
    2, 4, 3, 103, 5, 31, 0, 0, 1, 4, 2, 7, 7, 5, 0, 3, 60, 1, 251, 63, 100, 7, 109, 101, 115, 115,
    97, 149, 215, 101, 0, 0, 0, 0, 0, 0, 0, 0, 2, 50, 9, 0, 0, 1, 29, 0, 3, 98, 121, 101,
];

#[test]
fn a_lane_skip_by_billions_returns_at_once() {
    let reached = endpoint_datagrams_reached(LANE_SKIP_BY_BILLIONS, true);
    assert_eq!(reached.connected, 1, "{reached:?}");
}
