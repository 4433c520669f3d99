//! Whole-stream lifecycles: the public state, `Finished`, resets, send-buffer limits and the
//! release of stream state.

use super::{build, deliver, endpoint, epoch, events, exchange, open_limits, pair, read_all};
use crate::streams::{
    ClosedStream, Dir, ReadError, Side, StreamEvent, StreamState, StreamsConfig, WriteError,
};
use crate::wire::VarInt;

#[test]
fn public_state_follows_both_halves() {
    let (mut client, mut server) = pair(&StreamsConfig::default());
    let now = epoch();
    let id = client.open(Dir::Bi, 0).expect("allowed");
    assert_eq!(client.state(id), Some(StreamState::Open));
    client.write(id, b"ping").expect("room");
    client.finish(id).expect("open");
    assert_eq!(client.state(id), Some(StreamState::HalfClosedLocal));
    exchange(&mut client, &mut server);
    assert_eq!(server.accept(Dir::Bi), Some(id));
    assert_eq!(server.state(id), Some(StreamState::HalfClosedRemote));
    assert_eq!(read_all(&mut server, now, id), (b"ping".to_vec(), true));
    server.write(id, b"pong").expect("room");
    server.finish(id).expect("open");
    assert_eq!(server.state(id), Some(StreamState::Closed));
    exchange(&mut server, &mut client);
    assert!(events(&mut client).contains(&StreamEvent::Finished { id }));
    assert_eq!(client.state(id), Some(StreamState::Closed));
    assert_eq!(read_all(&mut client, now, id), (b"pong".to_vec(), true));
    exchange(&mut client, &mut server);
    assert!(events(&mut server).contains(&StreamEvent::Finished { id }));
    // Both sides released the stream; it reads as closed, writes fail, and reads keep
    // reporting the clean end.
    assert_eq!((client.open_streams(), server.open_streams()), (0, 0));
    assert_eq!(client.state(id), Some(StreamState::Closed));
    assert_eq!(
        client.write(id, b"x"),
        Err(WriteError::ClosedStream(ClosedStream { id }))
    );
    assert_eq!(client.read(now, id, 1), Ok(None));
    assert_eq!(server.read(now, id, 1), Ok(None));
    assert_eq!(client.stopped(id), None);
    // Uni streams are half-closed from the start.
    let uni = client.open(Dir::Uni, 0).expect("allowed");
    assert_eq!(client.state(uni), Some(StreamState::HalfClosedRemote));
    assert_eq!(
        client.read(now, uni, 1),
        Err(ClosedStream { id: uni }.into())
    );
}

#[test]
fn reset_lifecycle() {
    let (mut client, mut server) = pair(&StreamsConfig::default());
    let now = epoch();
    let id = client.open(Dir::Uni, 0).expect("allowed");
    client.write(id, &[1; 5000]).expect("room");
    let first = build(&mut client, 1200).expect("data");
    deliver(&mut server, &first.payload).expect("valid");
    client.reset(id, VarInt::from_u32(9)).expect("resettable");
    assert_eq!(client.reset(id, VarInt::from_u32(10)), Ok(()), "idempotent");
    assert_eq!(client.state(id), Some(StreamState::Reset));
    assert_eq!(client.send_buffered(), 0);
    assert_eq!(client.write(id, b"x"), Err(ClosedStream { id }.into()));
    assert_eq!(client.finish(id), Err(ClosedStream { id }));
    // The RESET_STREAM is lost, then sent again and acknowledged.
    let reset = build(&mut client, 1200).expect("RESET_STREAM");
    assert!(reset.sent.chunks.is_empty());
    client.on_lost(&reset.sent);
    client.on_lost(&first.sent);
    let again = build(&mut client, 1200).expect("RESET_STREAM again");
    assert!(again.sent.chunks.is_empty(), "no data of a reset stream");
    deliver(&mut server, &again.payload).expect("valid");
    client.on_acked(&again.sent);
    assert_eq!(
        client.open_streams(),
        0,
        "released once the reset is acknowledged"
    );
    assert_eq!(server.accept(Dir::Uni), Some(id));
    assert_eq!(server.state(id), Some(StreamState::Reset));
    assert_eq!(
        server.read(now, id, 100),
        Err(ReadError::Reset(VarInt::from_u32(9)))
    );
    assert_eq!(server.open_streams(), 0);
    assert_eq!(server.recv_buffered(), 0);
    // Released on both ends, the reset keeps its code.
    assert_eq!(
        server.read(now, id, 100),
        Err(ReadError::Reset(VarInt::from_u32(9)))
    );
    assert_eq!(server.state(id), Some(StreamState::Reset));
    assert_eq!(client.state(id), Some(StreamState::Reset));
    assert_eq!(client.write(id, b"x"), Err(ClosedStream { id }.into()));
    assert_eq!(client.stopped(id), None, "reset by us, not stopped");
}

#[test]
fn send_buffer_limits_wake_writers_as_acks_arrive() {
    let config = StreamsConfig {
        stream_send_buffer: 3000,
        send_buffer: 4000,
        ..StreamsConfig::default()
    };
    let mut client = endpoint(Side::Client, &config, &open_limits());
    let a = client.open(Dir::Uni, 0).expect("allowed");
    let b = client.open(Dir::Uni, 0).expect("allowed");
    assert_eq!(client.write(a, &[0; 5000]), Ok(3000), "stream buffer");
    assert_eq!(client.write(b, &[0; 5000]), Ok(1000), "connection buffer");
    assert_eq!(client.write(a, b"x"), Err(WriteError::Blocked));
    assert_eq!(client.send_buffered(), 4000);
    let mut packets = Vec::new();
    while let Some(p) = build(&mut client, 1200) {
        packets.push(p);
    }
    assert_eq!(events(&mut client), []);
    // The first ack frees connection space: both writers wake.
    client.on_acked(&packets[0].sent);
    let woken = events(&mut client);
    assert!(
        woken.contains(&StreamEvent::Writable { id: a }),
        "{woken:?}"
    );
    assert!(
        woken.contains(&StreamEvent::Writable { id: b }),
        "{woken:?}"
    );
    for p in &packets[1..] {
        client.on_acked(&p.sent);
    }
    assert_eq!(client.send_buffered(), 0);
    assert_eq!(events(&mut client), [], "woken once per block");
}

#[test]
fn a_stopped_reader_frees_everything() {
    let (mut client, mut server) = pair(&StreamsConfig::default());
    let id = client.open(Dir::Bi, 0).expect("allowed");
    client.write(id, &[3; 10_000]).expect("room");
    exchange(&mut client, &mut server);
    assert_eq!(server.accept(Dir::Bi), Some(id));
    server.stop(id, VarInt::from_u32(4)).expect("open");
    server.finish(id).expect("open");
    exchange(&mut server, &mut client);
    exchange(&mut client, &mut server);
    let got = events(&mut client);
    assert!(got.contains(&StreamEvent::Stopped {
        id,
        error_code: VarInt::from_u32(4)
    }));
    assert_eq!(read_all(&mut client, epoch(), id), (Vec::new(), true));
    exchange(&mut client, &mut server);
    assert_eq!((client.open_streams(), server.open_streams()), (0, 0));
    assert_eq!((client.send_buffered(), server.recv_buffered()), (0, 0));
    // The state is gone on both ends; the stop is remembered where it matters.
    let code = VarInt::from_u32(4);
    assert_eq!(client.write(id, b"more"), Err(WriteError::Stopped(code)));
    assert_eq!(client.stopped(id), Some(code));
    assert_eq!(client.state(id), Some(StreamState::Reset));
    assert_eq!(
        server.read(epoch(), id, 1),
        Err(ClosedStream { id }.into()),
        "we stopped reading: no end to report"
    );
    assert_eq!(server.stopped(id), None);
}

/// A peer that opens streams and stops each at once, with a new code every time, cannot make
/// the record of closed streams grow beyond its bound; the newest stops keep their codes.
#[test]
fn a_flood_of_stopped_streams_is_remembered_within_the_bound() {
    let config = StreamsConfig {
        max_concurrent_bidi: 4,
        closed_stream_ranges: 32,
        ..StreamsConfig::default()
    };
    let (mut client, mut server) = pair(&config);
    let mut last = None;
    for round in 0..2_000u32 {
        let id = client
            .open(Dir::Bi, 0)
            .expect("the server keeps granting streams");
        client.write(id, b"x").expect("room");
        exchange(&mut client, &mut server);
        assert_eq!(server.accept(Dir::Bi), Some(id));
        server.stop(id, VarInt::from_u32(round)).expect("open");
        server.finish(id).expect("open");
        // STOP_SENDING and the FIN go over; the client's reset and the acks come back.
        for _ in 0..3 {
            exchange(&mut server, &mut client);
            exchange(&mut client, &mut server);
        }
        let _ = read_all(&mut client, epoch(), id);
        exchange(&mut client, &mut server);
        events(&mut client);
        events(&mut server);
        assert!(client.closed_ranges() <= 32 && server.closed_ranges() <= 32);
        last = Some((id, round));
    }
    assert_eq!((client.open_streams(), server.open_streams()), (0, 0));
    let (id, round) = last.expect("ran");
    // The newest stop is remembered.
    let code = VarInt::from_u32(round);
    assert_eq!(client.stopped(id), Some(code));
    assert_eq!(client.write(id, b"x"), Err(WriteError::Stopped(code)));
    assert_eq!(client.read(epoch(), id, 1), Ok(None), "the server's end");
    assert_eq!(client.closed_ranges(), 32, "full, and no fuller");
    let first = crate::streams::StreamId::new(Side::Client, Dir::Bi, 0).expect("valid");
    assert_eq!(client.stopped(first), None, "the oldest are forgotten");
}

#[test]
fn an_ack_after_a_loss_cancels_the_retransmission() {
    let mut client = endpoint(Side::Client, &StreamsConfig::default(), &open_limits());
    let id = client.open(Dir::Uni, 0).expect("allowed");
    client.write(id, &[1; 100]).expect("room");
    client.finish(id).expect("open");
    let p = build(&mut client, 1200).expect("data");
    client.on_lost(&p.sent);
    assert!(client.has_pending());
    client.on_acked(&p.sent);
    assert!(!client.has_pending(), "nothing left to retransmit");
    assert_eq!(events(&mut client), [StreamEvent::Finished { id }]);
    assert_eq!((client.send_buffered(), client.open_streams()), (0, 0));
}
