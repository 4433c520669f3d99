use super::*;
use crate::error::TransportErrorCode;
use crate::wire::frame::Iter;

fn cid(byte: u8) -> ConnectionId {
    ConnectionId::new(&[byte; 8]).expect("8 bytes")
}

fn token(byte: u8) -> ResetToken {
    ResetToken([byte; 16])
}

fn ncid(sequence: u64, retire_prior_to: u64, byte: u8) -> NewConnectionId {
    NewConnectionId {
        sequence: VarInt::saturating_from_u64(sequence),
        retire_prior_to: VarInt::saturating_from_u64(retire_prior_to),
        id: cid(byte),
        reset_token: token(byte),
    }
}

/// The frames `write_frames` writes, decoded.
fn written(cids: &mut Cids) -> (Vec<Frame>, SentCids) {
    let mut buf = Vec::new();
    let mut sent = SentCids::default();
    cids.write_frames(&mut buf, 1200, &mut sent);
    let frames = Iter::new(buf.into())
        .collect::<Result<Vec<_>, _>>()
        .expect("valid frames");
    (frames, sent)
}

#[test]
fn wanted_fills_the_smaller_limit_and_issued_ids_are_announced() {
    let mut cids = Cids::new(4, cid(0));
    assert_eq!(cids.wanted(2), 1, "the peer's limit of 2: one spare");
    assert_eq!(cids.wanted(8), 3, "our limit of 4: three spares");
    for byte in 1..=3 {
        cids.issue(cid(byte), token(byte));
    }
    assert_eq!(cids.wanted(8), 0);
    let (frames, sent) = written(&mut cids);
    let sequences: Vec<u64> = frames
        .iter()
        .map(|f| match f {
            Frame::NewConnectionId(n) => n.sequence.into_inner(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(sequences, [1, 2, 3]);
    assert!(!cids.has_pending());
    // Lost: announced again; acknowledged: done.
    cids.on_lost(&sent);
    cids.resend(&sent);
    assert_eq!(written(&mut cids).0.len(), 3);
    assert_eq!(cids.stats().issued, 3);
}

#[test]
fn a_retired_id_leaves_the_routes_and_makes_room_for_a_replacement() {
    let mut cids = Cids::new(4, cid(0));
    for byte in 1..=3 {
        cids.issue(cid(byte), token(byte));
    }
    cids.on_retire(VarInt::from_u32(1), &cid(0))
        .expect("retire 1");
    let mut gone = Vec::new();
    cids.take_retired_local(|id| gone.push(id));
    assert_eq!(gone, [cid(1)]);
    assert!(!cids.is_local(&cid(1)));
    assert_eq!(cids.wanted(4), 1);
    // Again (a retransmission): nothing more.
    cids.on_retire(VarInt::from_u32(1), &cid(0)).expect("again");
    cids.take_retired_local(|_| panic!("retired twice"));
    assert_eq!(cids.stats().retired_by_peer, 1);
}

#[test]
fn retiring_an_id_never_issued_or_the_packets_own_is_a_protocol_violation() {
    let mut cids = Cids::new(4, cid(0));
    cids.issue(cid(1), token(1));
    let err = cids
        .on_retire(VarInt::from_u32(2), &cid(0))
        .expect_err("never issued");
    assert_eq!(err.code, TransportErrorCode::PROTOCOL_VIOLATION);
    assert_eq!(err.frame, Some(FrameType::RETIRE_CONNECTION_ID));
    let err = cids
        .on_retire(VarInt::from_u32(1), &cid(1))
        .expect_err("own destination");
    assert_eq!(err.code, TransportErrorCode::PROTOCOL_VIOLATION);
    assert!(cids.is_local(&cid(1)));
}

#[test]
fn the_peers_ids_are_stored_up_to_our_limit() {
    let mut cids = Cids::new(3, cid(0));
    let mut current = cid(100);
    cids.on_new(&ncid(1, 0, 101), &mut current).expect("1");
    cids.on_new(&ncid(2, 0, 102), &mut current).expect("2");
    // A duplicate is ignored.
    cids.on_new(&ncid(2, 0, 102), &mut current).expect("dup");
    let err = cids
        .on_new(&ncid(3, 0, 103), &mut current)
        .expect_err("a fourth active ID");
    assert_eq!(err.code, TransportErrorCode::CONNECTION_ID_LIMIT_ERROR);
    assert_eq!(cids.stats().received, 3);
}

#[test]
fn the_same_sequence_with_another_id_or_token_is_a_protocol_violation() {
    let mut cids = Cids::new(4, cid(0));
    let mut current = cid(100);
    cids.on_new(&ncid(1, 0, 101), &mut current).expect("1");
    let mut other = ncid(1, 0, 101);
    other.reset_token = token(9);
    let err = cids.on_new(&other, &mut current).expect_err("token");
    assert_eq!(err.code, TransportErrorCode::PROTOCOL_VIOLATION);
    let err = cids.on_new(&ncid(1, 0, 102), &mut current).expect_err("id");
    assert_eq!(err.code, TransportErrorCode::PROTOCOL_VIOLATION);
    // The ID in use, under its own sequence number 0, with another ID.
    let err = cids
        .on_new(&ncid(0, 0, 102), &mut current)
        .expect_err("seq 0");
    assert_eq!(err.code, TransportErrorCode::PROTOCOL_VIOLATION);
}

#[test]
fn retire_prior_to_retires_older_ids_and_moves_off_the_one_in_use() {
    let mut cids = Cids::new(4, cid(0));
    let mut current = cid(100);
    cids.set_handshake_token(Some(token(100)));
    cids.on_new(&ncid(1, 0, 101), &mut current).expect("1");
    cids.on_new(&ncid(2, 0, 102), &mut current).expect("2");
    cids.on_new(&ncid(3, 2, 103), &mut current)
        .expect("3 retires 0, 1");
    assert_eq!(current, cid(102), "moved to the lowest left");
    assert_eq!(cids.current_token(), Some(token(102)));
    let (frames, _) = written(&mut cids);
    assert_eq!(
        frames,
        [
            Frame::RetireConnectionId(VarInt::from_u32(0)),
            Frame::RetireConnectionId(VarInt::from_u32(1)),
        ]
    );
    // A late copy of sequence 1: retired again, not stored.
    cids.on_new(&ncid(1, 0, 101), &mut current).expect("late");
    assert_eq!(
        written(&mut cids).0,
        [Frame::RetireConnectionId(VarInt::from_u32(1))]
    );
    assert!(cids.has_spare());
}

#[test]
fn a_switch_takes_a_spare_and_retires_the_id_in_use_for_good() {
    let mut cids = Cids::new(4, cid(0));
    let mut current = cid(100);
    assert!(!cids.switch(&mut current), "no spare yet");
    cids.on_new(&ncid(1, 0, 101), &mut current).expect("1");
    assert!(cids.switch(&mut current));
    assert_eq!(current, cid(101));
    let (frames, sent) = written(&mut cids);
    assert_eq!(frames, [Frame::RetireConnectionId(VarInt::ZERO)]);
    // Lost: sent again.
    cids.on_lost(&sent);
    cids.resend(&sent);
    let (_, sent) = written(&mut cids);
    cids.on_acked(&sent);
    assert!(!cids.has_pending());
    // A late copy of the handshake ID's sequence does not bring it back... (sequence 0 is
    // never announced; a retired spare is the case that matters).
    cids.on_new(&ncid(2, 0, 102), &mut current).expect("2");
    assert!(cids.switch(&mut current));
    cids.on_new(&ncid(1, 0, 101), &mut current)
        .expect("late copy");
    assert_eq!(current, cid(102));
    assert!(!cids.has_spare(), "1 stays retired");
    let stats = cids.stats();
    assert_eq!((stats.switches, stats.retired), (2, 2));
}

#[test]
fn a_flood_of_ids_that_retire_each_other_is_bounded_and_closes() {
    let mut cids = Cids::new(4, cid(0));
    let mut current = cid(100);
    let mut result = Ok(());
    let mut frames = 0;
    // Each frame retires every earlier one: retirements pile up while none is sent.
    for sequence in 1..1000u64 {
        result = cids.on_new(
            &ncid(sequence, sequence, (sequence % 250) as u8),
            &mut current,
        );
        frames += 1;
        if result.is_err() {
            break;
        }
    }
    let err = result.expect_err("closed");
    assert_eq!(err.code, TransportErrorCode::CONNECTION_ID_LIMIT_ERROR);
    assert!(frames <= 2 * 4 + 1, "closed after {frames} frames");
    assert!(cids.send_retire.len() <= 2 * 4 + 1);
    assert!(cids.remote.len() <= 4);
}

#[test]
fn retirements_sent_and_acknowledged_make_room_again() {
    let mut cids = Cids::new(2, cid(0));
    let mut current = cid(100);
    // A well-behaved peer rotating its IDs: each round trip retires what came before.
    for sequence in 1..100u64 {
        cids.on_new(
            &ncid(sequence, sequence, (sequence % 250) as u8),
            &mut current,
        )
        .expect("within bounds");
        let (_, sent) = written(&mut cids);
        cids.on_acked(&sent);
    }
    assert_eq!(current, cid(99));
    assert_eq!(cids.retires_in_flight, 0);
}

#[test]
fn a_peer_with_a_zero_length_id_may_not_announce_any() {
    let mut cids = Cids::new(4, cid(0));
    let mut current = ConnectionId::EMPTY;
    let err = cids
        .on_new(&ncid(1, 0, 101), &mut current)
        .expect_err("zero-length");
    assert_eq!(err.code, TransportErrorCode::PROTOCOL_VIOLATION);
}
