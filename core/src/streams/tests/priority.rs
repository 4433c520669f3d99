//! The scheduler through the whole layer: priorities and round-robin.

use super::{build, endpoint, open_limits};
use crate::streams::{Dir, Side, StreamId, StreamsConfig, StreamsState};

fn client() -> StreamsState {
    endpoint(Side::Client, &StreamsConfig::default(), &open_limits())
}

/// The streams whose data the next packet carries, in order.
fn next_packet(s: &mut StreamsState) -> Vec<StreamId> {
    build(s, 1200)
        .map(|p| p.sent.chunks.iter().map(|c| c.id).collect())
        .unwrap_or_default()
}

#[test]
fn urgent_data_written_later_goes_out_in_the_very_next_packet() {
    let mut s = client();
    let bulk = s.open(Dir::Uni, 0).expect("allowed");
    let game = s.open(Dir::Uni, 10).expect("allowed");
    assert_eq!(s.write(bulk, &[0; 1 << 20]), Ok(1 << 20));
    for _ in 0..5 {
        assert_eq!(next_packet(&mut s), [bulk], "the bulk stream saturates");
    }
    s.write(game, b"fire!").expect("room");
    let p = build(&mut s, 1200).expect("data");
    assert_eq!(p.sent.chunks[0].id, game, "urgent data first");
    assert_eq!(p.sent.chunks[0].len, 5);
    assert_eq!(p.sent.chunks.len(), 2, "the bulk stream fills the rest");
    assert_eq!(next_packet(&mut s), [bulk]);
}

#[test]
fn lost_urgent_data_also_jumps_the_queue() {
    let mut s = client();
    let bulk = s.open(Dir::Uni, 0).expect("allowed");
    let game = s.open(Dir::Uni, 10).expect("allowed");
    s.write(bulk, &[0; 1 << 20]).expect("room");
    s.write(game, b"move").expect("room");
    let first = build(&mut s, 1200).expect("data");
    assert_eq!(first.sent.chunks[0].id, game);
    next_packet(&mut s);
    s.on_lost(&first.sent);
    let p = build(&mut s, 1200).expect("data");
    assert_eq!((p.sent.chunks[0].id, p.sent.chunks[0].offset), (game, 0));
    // The bulk stream's lost data comes before its new data.
    assert_eq!((p.sent.chunks[1].id, p.sent.chunks[1].offset), (bulk, 0));
}

#[test]
fn streams_of_one_level_take_turns_frame_by_frame() {
    let mut s = client();
    let ids: Vec<StreamId> = (0..3)
        .map(|_| s.open(Dir::Uni, 0).expect("allowed"))
        .collect();
    for &id in &ids {
        s.write(id, &[0; 100_000]).expect("room");
    }
    let order: Vec<StreamId> = (0..6).flat_map(|_| next_packet(&mut s)).collect();
    assert_eq!(order, [ids[0], ids[1], ids[2], ids[0], ids[1], ids[2]]);
    // Small writes share one packet, one frame each, in turn.
    let mut s = client();
    let ids: Vec<StreamId> = (0..3)
        .map(|_| s.open(Dir::Uni, 0).expect("allowed"))
        .collect();
    for &id in &ids {
        s.write(id, &[0; 10]).expect("room");
    }
    assert_eq!(next_packet(&mut s), ids);
}

#[test]
fn set_priority_moves_a_waiting_stream() {
    let mut s = client();
    let a = s.open(Dir::Uni, 0).expect("allowed");
    let b = s.open(Dir::Uni, 0).expect("allowed");
    s.write(a, &[0; 100_000]).expect("room");
    s.write(b, &[0; 100_000]).expect("room");
    assert_eq!(next_packet(&mut s), [a]);
    s.set_priority(b, -1).expect("open");
    assert_eq!(next_packet(&mut s), [a]);
    assert_eq!(next_packet(&mut s), [a]);
    s.set_priority(b, 1).expect("open");
    assert_eq!(next_packet(&mut s), [b]);
    assert!(
        s.set_priority(crate::streams::tests::sid(Side::Client, Dir::Bi, 9), 1)
            .is_err()
    );
}
