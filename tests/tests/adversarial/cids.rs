//! Connection-ID frames from a hostile peer (RFC 9000 §5.1, §19.15, §19.16): more IDs than the
//! server announced it takes, IDs that retire each other faster than the retirements can be
//! acknowledged, retirements of IDs never issued or of the packet's own destination, malformed
//! NEW_CONNECTION_ID frames. Each ends in a typed close (or is ignored), never a panic, and what
//! the server holds stays within `active_connection_id_limit`.

use super::*;
use weir_core::wire::ResetToken;
use weir_core::wire::frame::NewConnectionId;

fn new_cid(sequence: u64, retire_prior_to: u64, byte: u8) -> Frame {
    Frame::NewConnectionId(NewConnectionId {
        sequence: var(sequence),
        retire_prior_to: var(retire_prior_to),
        id: ConnectionId::new(&[byte; 8]).expect("8 bytes"),
        reset_token: ResetToken([byte; 16]),
    })
}

fn server_local_cids(p: &Pair) -> Vec<ConnectionId> {
    let handle = p.server_handle.expect("server connection");
    p.server
        .connection_ref(handle)
        .expect("alive")
        .local_cids()
        .collect()
}

/// RFC 9000 §5.1.1: the client already gave the server its three spares (the default limit of
/// 4, less the ID in use); one more active ID is a CONNECTION_ID_LIMIT_ERROR, however many the
/// flood holds.
#[test]
fn more_active_ids_than_announced_close_with_connection_id_limit_error() {
    let mut p = Pair::new(TransportConfig::default(), false);
    assert_eq!(
        p.server_conn_stats().cids.received,
        3,
        "the client's spares"
    );
    let flood: Vec<Frame> = (10..60).map(|s| new_cid(s, 0, s as u8)).collect();
    p.attack_frames(&flood);
    p.expect_close(
        TransportErrorCode::CONNECTION_ID_LIMIT_ERROR,
        Some(FrameType::NEW_CONNECTION_ID),
    );
}

/// IDs that each retire all before them keep the active ones within the limit, but every one
/// owes a RETIRE_CONNECTION_ID that the cut-off client never acknowledges: past twice the limit
/// owed, the server closes rather than remember more (RFC 9000 §5.1.2). The close goes to the
/// attacker's ID in use (the real client, whose IDs were all retired, cannot read it), and the
/// server forgets the connection.
#[test]
fn ids_that_retire_each_other_faster_than_acknowledged_are_bounded_then_closed() {
    let mut p = Pair::new(TransportConfig::default(), false);
    let mut frames = 0;
    for sequence in 10..200 {
        p.attack_frames(&[new_cid(sequence, sequence, sequence as u8)]);
        frames += 1;
        if p.server_closed().is_some() {
            break;
        }
    }
    // Four of the client's IDs retired by the first frame, one more by each after it: past
    // 2 × 4 owed.
    assert_eq!(frames, 6, "closed after {frames} frames");
    match p.server_closed() {
        Some(ConnectionError::TransportError(e)) => {
            assert_eq!(e.code, TransportErrorCode::CONNECTION_ID_LIMIT_ERROR);
            assert_eq!(e.frame, Some(FrameType::NEW_CONNECTION_ID));
        }
        other => panic!("expected CONNECTION_ID_LIMIT_ERROR, got {other:?}"),
    }
    assert!(p.captured.iter().any(|c| c.frames.iter().any(|f| matches!(
        f,
        Frame::ConnectionClose(ConnectionClose::Transport { error_code, .. })
            if error_code.into_inner() == TransportErrorCode::CONNECTION_ID_LIMIT_ERROR.into_inner()
    ))));
    p.advance(Duration::from_secs(10));
    assert!(p.server_events.contains(&Event::Drained));
    assert_eq!(p.server.connection_count(), 0, "server state is gone");
}

/// A repeated NEW_CONNECTION_ID is ignored; the same sequence number with another ID is a
/// PROTOCOL_VIOLATION (RFC 9000 §19.15).
#[test]
fn a_repeated_id_is_ignored_and_a_conflicting_one_is_a_protocol_violation() {
    let mut p = Pair::new(TransportConfig::default(), false);
    // Retiring the handshake's ID makes room for one more.
    p.attack_frames(&[new_cid(10, 1, 0xa1)]);
    p.attack_frames(&[new_cid(10, 1, 0xa1)]);
    p.assert_open("a repeated NEW_CONNECTION_ID");
    let stats = p.server_conn_stats();
    assert_eq!(
        (stats.cids.received, stats.cids.switches),
        (4, 1),
        "{:?}",
        stats.cids
    );
    p.attack_frames(&[new_cid(10, 1, 0xa2)]);
    p.expect_close(
        TransportErrorCode::PROTOCOL_VIOLATION,
        Some(FrameType::NEW_CONNECTION_ID),
    );
}

/// RFC 9000 §19.16: retiring a sequence number never issued is a PROTOCOL_VIOLATION.
#[test]
fn retiring_an_id_never_issued_is_a_protocol_violation() {
    let mut p = Pair::new(TransportConfig::default(), false);
    p.attack_frames(&[Frame::RetireConnectionId(var(1000))]);
    p.expect_close(
        TransportErrorCode::PROTOCOL_VIOLATION,
        Some(FrameType::RETIRE_CONNECTION_ID),
    );
}

/// RFC 9000 §19.16: a packet cannot retire the ID it is addressed to.
#[test]
fn retiring_the_packets_own_destination_is_a_protocol_violation() {
    let mut p = Pair::new(TransportConfig::default(), false);
    // The attacker addresses the server with its handshake ID, sequence 0.
    p.attack_frames(&[Frame::RetireConnectionId(var(0))]);
    p.expect_close(
        TransportErrorCode::PROTOCOL_VIOLATION,
        Some(FrameType::RETIRE_CONNECTION_ID),
    );
}

/// Malformed NEW_CONNECTION_ID frames (RFC 9000 §19.15): retire_prior_to above the sequence
/// number, an empty ID, an ID longer than 20 bytes are FRAME_ENCODING_ERRORs.
#[test]
fn malformed_new_connection_id_frames_are_frame_encoding_errors() {
    for (retire_prior_to, len) in [(3u8, 8u8), (0, 0), (0, 21)] {
        let mut p = Pair::new(TransportConfig::default(), false);
        let mut frame = vec![0x18, 2, retire_prior_to, len];
        frame.extend(std::iter::repeat_n(0xcc, usize::from(len)));
        frame.extend_from_slice(&[0x33; 16]);
        p.attack(&frame);
        p.expect_close(
            TransportErrorCode::FRAME_ENCODING_ERROR,
            Some(FrameType::NEW_CONNECTION_ID),
        );
    }
}

/// Retiring the server's IDs one after another: each leaves the routing table and is replaced,
/// so the server holds its limit of IDs however long the churn goes on, and a packet to a
/// retired ID no longer reaches the connection.
#[test]
fn retired_ids_are_replaced_and_stop_routing_and_the_churn_holds_the_limit() {
    let mut p = Pair::new(TransportConfig::default(), false);
    let before = server_local_cids(&p);
    assert_eq!(before.len(), 4, "the handshake's ID and three spares");
    let spare = before[1];
    for sequence in 1..=200 {
        p.attack_frames(&[Frame::RetireConnectionId(var(sequence))]);
    }
    p.assert_open("retirements of issued IDs");
    let after = server_local_cids(&p);
    assert_eq!(after.len(), 4, "{after:?}");
    assert!(!after.contains(&spare));
    let stats = p.server_conn_stats();
    assert_eq!((stats.cids.retired_by_peer, stats.cids.issued), (200, 203));
    // A packet to a retired ID finds no connection.
    let unknown = p.server.stats().unknown_connection_packets;
    let pn = p.next_attack_pn;
    p.next_attack_pn += 1;
    let datagram = short_packet(
        spare,
        pn,
        PacketNumber::new(pn, None),
        &encode(&[Frame::Ping]),
    );
    p.attack_raw(client_addr(), datagram);
    assert_eq!(p.server.stats().unknown_connection_packets, unknown + 1);
    p.assert_open("a packet to a retired ID");
}

/// A client that moved to one of the server's spare IDs still learns from a stateless reset
/// that the server forgot the connection: the reset carries the token of the ID in use, which
/// the server derives from the ID alone, and the client checks it (and no retired ID's).
#[test]
fn a_client_on_a_spare_id_recognises_the_reset_of_a_server_that_forgot_it() {
    use weir_core::connection::LocalPathChange;
    let mut pair = Pair::new(TransportConfig::default(), false);
    let old = pair.server_cid();
    let moved = pair
        .client
        .local_path_changed(pair.now, pair.client_handle, LocalPathChange::Port)
        .expect("an established client moves");
    assert!(moved, "the server issued spares");
    pair.advance(Duration::from_millis(200));
    assert_ne!(pair.server_cid(), old, "the client's packets carry a spare");
    let handle = pair.server_handle.expect("server connection");
    assert_eq!(pair.server_conn_stats().cids.retired_by_peer, 1);
    pair.mode = Mode::Attack;
    pair.server
        .connection(handle)
        .expect("server connection")
        .close(pair.now, VarInt::ZERO, b"going away");
    pair.advance(Duration::from_secs(5));
    assert_eq!(pair.server.connection_count(), 0, "the server forgot it");
    assert_eq!(pair.client_closed(), None);
    pair.mode = Mode::Normal;
    let conn = pair
        .client
        .connection(pair.client_handle)
        .expect("client connection");
    let id = conn.open_uni(0).expect("stream");
    conn.write(id, b"anyone there?").expect("write");
    pair.advance(Duration::from_millis(1));
    assert_eq!(pair.server.stats().stateless_resets_sent, 1);
    assert_eq!(pair.client_closed(), Some(&ConnectionError::Reset));
}
