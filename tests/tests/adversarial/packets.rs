//! Attacks on packets and frames: a forged packet number far ahead, acknowledgements of
//! packets never sent and ACK frames with thousands of ranges, frames a client may not send, and
//! a flood of garbage on an established connection.

use std::time::Duration;

use bytes::BytesMut;
use weir_core::TransportErrorCode;
use weir_core::config::TransportConfig;
use weir_core::connection::{EcnFailure, EcnState, Event};
use weir_core::range_set::RangeSet;
use weir_core::streams::{Dir, Side, StreamEvent, StreamId};
use weir_core::wire::frame::{ResetStream, StopSending};
use weir_core::wire::{Ack, EcnCounts, Frame, FrameType, PacketNumber, VarInt};
use weir_tests::{addr, pattern};

use crate::{ATTACK_PN, CID_LEN, Mode, Pair, Rng, client_addr, client_stream, stream, var};

// ----- Packet numbers -----

/// The attacker's first packet uses a 4-byte packet number far above the client's: the server
/// must expand it to exactly that number (the integrity tag covers the full number, so a wrong
/// expansion would drop the packet) and acknowledge it.
#[test]
fn a_forged_packet_number_far_ahead_is_expanded_and_acknowledged() {
    let mut p = Pair::new(TransportConfig::default(), false);
    assert!(p.client_largest_pn.is_some_and(|pn| pn < 100));
    assert_eq!(PacketNumber::new(ATTACK_PN, None).len(), 4);
    let before = p.server_conn_stats();
    p.attack_frames(&[Frame::Ping]);
    let after = p.server_conn_stats();
    assert_eq!(after.packets_received, before.packets_received + 1);
    assert_eq!(after.packets_dropped, before.packets_dropped);
    let acked: Vec<u64> = p
        .captured
        .iter()
        .flat_map(|c| &c.frames)
        .filter_map(|f| match f {
            Frame::Ack(ack) => Some(ack.largest()),
            _ => None,
        })
        .collect();
    assert_eq!(
        acked,
        vec![ATTACK_PN],
        "the server acknowledges the forged number"
    );
    p.assert_open("a PING");
}

// ----- Acknowledgements -----

/// RFC 9000 §13.1: acknowledging a packet that was never sent is a PROTOCOL_VIOLATION.
#[test]
fn acknowledging_packets_never_sent_is_a_protocol_violation() {
    let mut p = Pair::new(TransportConfig::default(), false);
    let largest = p.server_largest_pn.expect("the server sent short packets");
    let ack = |largest: u64, first_range: u64| {
        let mut out = vec![FrameType::ACK.value() as u8];
        for x in [largest, 0, 0, first_range] {
            var(x).encode(&mut out);
        }
        out
    };
    // Everything the server sent: fine.
    p.attack(&ack(largest, largest));
    p.assert_open("a valid ACK");
    // One beyond, and far beyond with a huge range.
    let mut p2 = Pair::new(TransportConfig::default(), false);
    let largest2 = p2.server_largest_pn.expect("sent");
    p2.attack(&ack(largest2 + 1, 0));
    p2.expect_close(TransportErrorCode::PROTOCOL_VIOLATION, None);
    p.attack(&ack(1 << 40, 1 << 39));
    p.expect_close(TransportErrorCode::PROTOCOL_VIOLATION, None);
}

/// An ACK frame with thousands of valid ranges (in a large datagram) costs bounded work: after
/// a bulk transfer moved the server's packet numbers into the thousands, 10 000 such packets are
/// processed one by one. The first one acknowledges the server's outstanding stream exactly; the
/// rest acknowledge nothing new, elicit nothing, and leave the connection open.
#[test]
fn acks_with_thousands_of_ranges_are_processed_in_bounded_work() {
    let mut p = Pair::new(TransportConfig::default(), false);
    // A bulk transfer server → client moves the server's packet numbers past 4000.
    let h = p.server_handle.expect("server connection");
    let conn = p.server.connection(h).expect("live");
    let bulk = conn.open_uni(0).expect("open");
    let len = 6_500_000u64;
    let mut written = 0u64;
    for _ in 0..100_000 {
        let conn = p.server.connection(h).expect("live");
        while written < len {
            let data: Vec<u8> = (written..(written + 65536).min(len))
                .map(|o| pattern(bulk.into_inner(), o))
                .collect();
            match conn.write(bulk, &data) {
                Ok(n) => written += n as u64,
                Err(_) => break,
            }
        }
        if written == len {
            conn.finish(bulk).expect("finish");
            break;
        }
        p.advance(Duration::from_millis(1));
    }
    p.advance(Duration::from_secs(1));
    assert_eq!(
        p.client_read.get(&bulk),
        Some(&(len, true)),
        "bulk transfer delivered"
    );
    let before_bulk_done = p.server_largest_pn.expect("sent");
    assert!(
        before_bulk_done > 4000,
        "server packet numbers: {before_bulk_done}"
    );

    // A last stream, whose packets the client never sees.
    let conn = p.server.connection(h).expect("live");
    let last = conn.open_uni(0).expect("open");
    let data: Vec<u8> = (0..3000).map(|o| pattern(last.into_inner(), o)).collect();
    assert_eq!(conn.write(last, &data), Ok(3000));
    conn.finish(last).expect("finish");
    p.mode = Mode::Attack;
    p.pump();
    let largest = p.server_largest_pn.expect("sent");
    let first_unseen = before_bulk_done + 1;
    assert!(largest >= first_unseen, "the last stream went out");
    assert!(p.server_conn_stats().bytes_in_flight > 0);

    // Ranges: the unseen packets, then every other packet number down to 0.
    let mut ranges = RangeSet::new();
    ranges.insert(first_unseen..largest + 1);
    let mut pn = first_unseen.saturating_sub(2);
    while pn > 0 {
        ranges.insert(pn..pn + 1);
        pn = pn.saturating_sub(2);
    }
    let mut frame = Vec::new();
    let info = Ack::encode(&ranges, 0, None, usize::MAX, &mut frame).expect("encodes");
    assert!(info.ranges > 2000, "{} ranges", info.ranges);
    assert_eq!(info.ranges, ranges.len());

    let before = p.server_conn_stats();
    let captured = p.captured.len();
    for _ in 0..10_000 {
        p.attack(&frame);
    }
    let after = p.server_conn_stats();
    p.assert_open("10 000 ACKs");
    assert_eq!(after.packets_received, before.packets_received + 10_000);
    assert_eq!(after.packets_dropped, before.packets_dropped);
    assert_eq!(
        after.bytes_in_flight, 0,
        "every outstanding packet was acknowledged"
    );
    let finished: Vec<&Event> = p
        .server_events
        .iter()
        .filter(|e| **e == Event::Stream(StreamEvent::Finished { id: last }))
        .collect();
    assert_eq!(finished.len(), 1, "the last stream is acknowledged once");
    assert_eq!(
        p.captured.len(),
        captured,
        "ACK-only packets elicit nothing"
    );
}

// ----- ECN counts -----

/// The server sends a stream the client never sees; returns the server's largest packet
/// number, whose packets a forged ACK frame can then newly acknowledge.
fn unseen_server_packets(p: &mut Pair) -> u64 {
    let h = p.server_handle.expect("server connection");
    let conn = p.server.connection(h).expect("live");
    let id = conn.open_uni(0).expect("open");
    assert_eq!(conn.write(id, &[7; 3000]), Ok(3000));
    p.mode = Mode::Attack;
    p.pump();
    p.server_largest_pn.expect("sent")
}

/// An ACK frame acknowledging every server packet up to `largest`, with `ecn` counts.
fn ack_with_counts(largest: u64, ecn: EcnCounts) -> Vec<u8> {
    let mut ranges = RangeSet::new();
    ranges.insert(0..largest + 1);
    let mut frame = Vec::new();
    Ack::encode(&ranges, 0, Some(&ecn), usize::MAX, &mut frame).expect("encodes");
    frame
}

/// RFC 9000 §13.4.2.1: ECN counts above the packets the server marked (here the varint
/// maximum, where a careless sum would overflow) switch ECN off, are counted, raise no
/// congestion event and close nothing.
#[test]
fn ecn_counts_above_what_was_sent_switch_ecn_off() {
    let mut p = Pair::new(TransportConfig::default(), false);
    let before = p.server_conn_stats();
    assert_eq!(before.ecn.state, EcnState::Capable, "{:?}", before.ecn);
    let largest = unseen_server_packets(&mut p);
    let max = VarInt::MAX.into_inner();
    let forged = EcnCounts {
        ect0: max,
        ect1: 0,
        ce: max,
    };
    p.attack(&ack_with_counts(largest, forged));
    p.assert_open("counts above what was sent");
    let after = p.server_conn_stats();
    assert_eq!(
        after.ecn.state,
        EcnState::Failed(EcnFailure::CountsExceedSent)
    );
    assert_eq!(after.ecn.validation_failures, 1);
    assert_eq!(after.ecn.ce_reported, 0);
    assert_eq!(after.congestion_events, before.congestion_events);
    assert_eq!(
        after.bytes_in_flight, 0,
        "the acknowledgement itself counts"
    );
}

/// RFC 9000 §13.4.2.1: counts that go backwards (the real client reported ECT(0) packets;
/// the forged frame says none) switch ECN off and close nothing.
#[test]
fn ecn_counts_that_go_backwards_switch_ecn_off() {
    let mut p = Pair::new(TransportConfig::default(), false);
    let before = p.server_conn_stats();
    assert_eq!(before.ecn.state, EcnState::Capable, "{:?}", before.ecn);
    let largest = unseen_server_packets(&mut p);
    p.attack(&ack_with_counts(largest, EcnCounts::default()));
    p.assert_open("counts that went backwards");
    let after = p.server_conn_stats();
    assert_eq!(
        after.ecn.state,
        EcnState::Failed(EcnFailure::CountsDecreased)
    );
    assert_eq!(after.ecn.validation_failures, 1);
    // Sending goes on, unmarked.
    let sent = after.ecn.packets_sent_ect0;
    let h = p.server_handle.expect("server connection");
    let conn = p.server.connection(h).expect("live");
    let id = conn.open_uni(0).expect("open");
    assert_eq!(conn.write(id, &[8; 3000]), Ok(3000));
    p.pump();
    let later = p.server_conn_stats();
    assert!(later.packets_sent > after.packets_sent);
    assert_eq!(later.ecn.packets_sent_ect0, sent);
}

// ----- Frames the client may not send -----

/// RFC 9000 §19.20: a server receiving HANDSHAKE_DONE closes with PROTOCOL_VIOLATION.
#[test]
fn handshake_done_from_a_client_is_a_protocol_violation() {
    let mut p = Pair::new(TransportConfig::default(), false);
    p.attack_frames(&[Frame::HandshakeDone]);
    p.expect_close(
        TransportErrorCode::PROTOCOL_VIOLATION,
        Some(FrameType::HANDSHAKE_DONE),
    );
}

/// RFC 9000 §19.4, §19.5, §19.8, §19.10, §19.13: frames about a half of a stream that does not
/// exist for the receiver — the send side of a stream it only receives on, the receive side of
/// one it only sends on, or a stream of its own it never opened — are STREAM_STATE_ERRORs.
#[test]
fn frames_for_a_missing_stream_half_are_stream_state_errors() {
    let server_uni = StreamId::new(Side::Server, Dir::Uni, 0)
        .expect("id")
        .into_inner();
    let server_bi = StreamId::new(Side::Server, Dir::Bi, 0)
        .expect("id")
        .into_inner();
    let client_uni = client_stream(Dir::Uni, 0);
    // (what, whether the server first opens its unidirectional stream, the frame)
    let cases: Vec<(&str, bool, Frame)> = vec![
        (
            "STREAM on the server's send-only stream, not opened yet",
            false,
            stream(server_uni, 0, b"x", false),
        ),
        (
            "STREAM on the server's opened send-only stream",
            true,
            stream(server_uni, 0, b"x", false),
        ),
        (
            "STREAM on a server stream never opened",
            false,
            stream(server_bi, 0, b"x", false),
        ),
        (
            "RESET_STREAM on the server's send-only stream",
            true,
            Frame::ResetStream(ResetStream {
                id: var(server_uni),
                error_code: var(1),
                final_size: var(0),
            }),
        ),
        (
            "STREAM_DATA_BLOCKED on the server's send-only stream",
            true,
            Frame::StreamDataBlocked {
                id: var(server_uni),
                limit: var(0),
            },
        ),
        (
            "MAX_STREAM_DATA on the server's receive-only stream",
            false,
            Frame::MaxStreamData {
                id: var(client_uni),
                max: var(1 << 20),
            },
        ),
        (
            "STOP_SENDING on the server's receive-only stream",
            false,
            Frame::StopSending(StopSending {
                id: var(client_uni),
                error_code: var(1),
            }),
        ),
        (
            "MAX_STREAM_DATA on a server stream never opened",
            false,
            Frame::MaxStreamData {
                id: var(server_bi),
                max: var(1 << 20),
            },
        ),
    ];
    for (what, server_opens, frame) in cases {
        eprintln!("case: {what}");
        let mut p = Pair::new(TransportConfig::default(), false);
        if server_opens {
            let h = p.server_handle.expect("server connection");
            let conn = p.server.connection(h).expect("live");
            let id = conn.open_uni(0).expect("open");
            assert_eq!(id.into_inner(), server_uni);
        }
        let ty = frame.frame_type();
        p.attack_frames(&[frame]);
        let error = p.expect_close(TransportErrorCode::STREAM_STATE_ERROR, Some(ty));
        assert!(!error.reason.is_empty(), "{what}: a reason is given");
    }
}

// ----- Garbage -----

/// A flood of garbage — random datagrams, packets with the server's connection ID and a bad tag,
/// truncated and bit-flipped copies of the client's packets, replays, and packets from a
/// spoofed address — is dropped and counted, never closes the connection, and the connection
/// moves data afterwards.
#[test]
fn garbage_is_dropped_and_counted_and_the_connection_keeps_working() {
    let mut p = Pair::new(TransportConfig::default(), false);
    let real = p.last_client_short.clone().expect("a client short packet");
    let cid = p.server_cid();
    let ep_before = p.server.stats();
    let conn_before = p.server_conn_stats();
    let mut rng = Rng(7);
    let n = 500;
    // The client stays out of it (the odd random datagram earns a Version Negotiation).
    p.mode = Mode::Attack;
    let mut random_datagrams = 0u64;
    let mut conn_drops = 0u64;
    let mut sent = 0u64;
    for _ in 0..n {
        // Random bytes (the odd one is a long header with a random version).
        let len = rng.below(1500);
        p.server.handle_datagram(
            p.now,
            client_addr(),
            None,
            BytesMut::from(&rng.bytes(len)[..]),
        );
        random_datagrams += 1;
        // Our connection ID, then random bytes: fails the integrity check.
        let mut forged = vec![0x40 | (rng.next() as u8 & 0x23)];
        forged.extend_from_slice(&cid);
        let tail = 1 + rng.below(1200);
        forged.extend_from_slice(&rng.bytes(tail));
        p.server
            .handle_datagram(p.now, client_addr(), None, BytesMut::from(&forged[..]));
        // A real packet, truncated after the connection ID.
        let cut = 1 + CID_LEN + rng.below(real.len() - 1 - CID_LEN);
        p.server
            .handle_datagram(p.now, client_addr(), None, BytesMut::from(&real[..cut]));
        // A real packet with one bit flipped after the connection ID.
        let mut flipped = real.clone();
        let bit = (1 + CID_LEN) * 8 + rng.below((real.len() - 1 - CID_LEN) * 8);
        flipped[bit / 8] ^= 1 << (bit % 8);
        p.server
            .handle_datagram(p.now, client_addr(), None, BytesMut::from(&flipped[..]));
        // A replay.
        p.server
            .handle_datagram(p.now, client_addr(), None, BytesMut::from(&real[..]));
        // The real packet from another address (weir does not migrate).
        p.server
            .handle_datagram(p.now, addr(66), None, BytesMut::from(&real[..]));
        conn_drops += 5;
        sent += 6;
        p.pump();
    }
    p.assert_open("garbage");
    assert_eq!(p.server.connection_count(), 1);
    let ep = p.server.stats();
    let conn = p.server_conn_stats();
    assert_eq!(ep.datagrams_received - ep_before.datagrams_received, sent);
    assert_eq!(
        conn.packets_dropped - conn_before.packets_dropped,
        conn_drops,
        "every packet with our connection ID is dropped and counted"
    );
    assert_eq!(
        conn.packets_received, conn_before.packets_received,
        "none was processed"
    );
    let endpoint_drops = (ep.malformed_packets - ep_before.malformed_packets)
        + (ep.unknown_connection_packets - ep_before.unknown_connection_packets)
        + (ep.dropped_initials - ep_before.dropped_initials)
        + (ep.version_negotiations_sent - ep_before.version_negotiations_sent)
        + (ep.stateless_dropped - ep_before.stateless_dropped);
    assert!(
        endpoint_drops >= random_datagrams,
        "every random datagram is counted: {endpoint_drops} < {random_datagrams}"
    );
    assert!(
        p.server_events
            .iter()
            .all(|e| !matches!(e, Event::Closed(_)))
    );

    // The real connection still moves data both ways.
    p.mode = Mode::Normal;
    p.server_reads = true;
    let conn = p.client.connection(p.client_handle).expect("client alive");
    let id = conn.open_uni(0).expect("open");
    let data: Vec<u8> = (0..20_000).map(|o| pattern(id.into_inner(), o)).collect();
    assert_eq!(conn.write(id, &data), Ok(20_000));
    conn.finish(id).expect("finish");
    p.advance(Duration::from_secs(2));
    assert_eq!(
        p.server_read.get(&id),
        Some(&(20_000, true)),
        "data after the flood"
    );
    assert_eq!(p.client_closed(), None);
}

// ----- A peer that never acknowledges -----

/// An attacker keeps the connection alive with a PING every 5 ms and never acknowledges
/// anything. The server answers with ACK-only packets (and the odd PING and probe of its own),
/// none of which is ever acknowledged or declared lost: without a bound, its record of sent
/// packets would grow with every packet the attacker sends.
#[test]
fn a_peer_that_never_acknowledges_cannot_grow_the_sent_packet_record() {
    let bound = 512;
    let transport = TransportConfig {
        max_tracked_packets: bound,
        ..TransportConfig::default()
    };
    let mut p = Pair::new(transport, false);
    let mut most_tracked = 0;
    let mut packets = 0u64;
    for _ in 0..4_000 {
        p.attack_frames(&[Frame::Ping]);
        p.advance(Duration::from_millis(5));
        most_tracked = most_tracked.max(p.server_conn_stats().packets_tracked);
        packets += 1;
    }
    p.assert_open("20 s of PINGs");
    let stats = p.server_conn_stats();
    assert!(
        stats.packets_sent > packets / 2,
        "the server acknowledged the PINGs: {} packets sent",
        stats.packets_sent
    );
    assert!(
        most_tracked <= bound,
        "at most {bound} packets tracked, saw {most_tracked}"
    );
    assert!(
        most_tracked > bound - 64,
        "the record reached the bound: {most_tracked}"
    );
    assert!(stats.packets_evicted > 0, "the oldest were evicted");
}
