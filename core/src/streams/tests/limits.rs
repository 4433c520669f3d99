//! Stream limits through the whole layer: opening against the peer's limit, implicit opening,
//! and MAX_STREAMS as streams close.

use bytes::Bytes;

use super::{build, endpoint, epoch, events, exchange, open_limits, pair, read_all, sid};
use crate::error::TransportErrorCode;
use crate::streams::{Dir, OpenError, PeerLimits, Side, StreamEvent, StreamState, StreamsConfig};
use crate::wire::VarInt;
use crate::wire::frame::{Frame, Iter, StreamFrame};

fn fin_frame(id: crate::streams::StreamId) -> StreamFrame {
    StreamFrame {
        id: id.to_varint(),
        offset: VarInt::ZERO,
        fin: true,
        data: Bytes::from_static(b"hi"),
    }
}

#[test]
fn open_waits_for_the_peer_to_raise_its_limit() {
    let peer = PeerLimits {
        max_streams_uni: 1,
        ..open_limits()
    };
    let mut client = endpoint(Side::Client, &StreamsConfig::default(), &peer);
    let first = client.open(Dir::Uni, 0).expect("one allowed");
    assert_eq!(
        client.open(Dir::Uni, 0),
        Err(OpenError::Limit {
            dir: Dir::Uni,
            limit: 1
        })
    );
    // STREAMS_BLOCKED(1) is queued, once.
    let p = build(&mut client, 1200).expect("STREAMS_BLOCKED");
    let frames: Vec<Frame> = Iter::new(p.payload).map(|f| f.expect("valid")).collect();
    assert!(matches!(
        frames[..],
        [Frame::StreamsBlocked { limit, .. }] if limit.into_inner() == 1
    ));
    assert!(client.open(Dir::Uni, 0).is_err());
    assert!(build(&mut client, 1200).is_none());
    client.on_max_streams(Dir::Uni, 3).expect("valid");
    assert_eq!(
        events(&mut client),
        [StreamEvent::Available { dir: Dir::Uni }]
    );
    let second = client.open(Dir::Uni, 0).expect("raised");
    assert_eq!(second.index(), first.index() + 1);
    // Bidirectional streams are counted separately.
    assert!(client.open(Dir::Bi, 0).is_ok());
}

#[test]
fn a_frame_opens_every_lower_stream_of_its_kind() {
    let mut server = endpoint(Side::Server, &StreamsConfig::default(), &open_limits());
    server
        .on_stream_frame(fin_frame(sid(Side::Client, Dir::Bi, 3)))
        .expect("within the limit");
    let last = sid(Side::Client, Dir::Bi, 3);
    assert_eq!(
        events(&mut server),
        [
            StreamEvent::Opened { dir: Dir::Bi },
            StreamEvent::Readable { id: last }
        ]
    );
    assert_eq!(server.open_streams(), 4);
    for k in 0..4 {
        assert_eq!(server.accept(Dir::Bi), Some(sid(Side::Client, Dir::Bi, k)));
        assert_eq!(
            server.state(sid(Side::Client, Dir::Bi, k)),
            Some(if k == 3 {
                StreamState::HalfClosedRemote
            } else {
                StreamState::Open
            })
        );
    }
    assert_eq!(server.accept(Dir::Bi), None);
    assert_eq!(server.state(sid(Side::Client, Dir::Bi, 4)), None);
}

#[test]
fn max_streams_keeps_the_configured_concurrency() {
    let config = StreamsConfig {
        max_concurrent_uni: 4,
        ..StreamsConfig::default()
    };
    let (mut client, mut server) = pair(&config);
    let now = epoch();
    // 40 streams, at most 4 open at once: MAX_STREAMS must keep coming.
    let mut done = 0;
    for _ in 0..200 {
        while let Ok(id) = client.open(Dir::Uni, 0) {
            client.write(id, b"payload").expect("room");
            client.finish(id).expect("open");
        }
        exchange(&mut client, &mut server);
        while let Some(id) = server.accept(Dir::Uni) {
            let (data, ended) = read_all(&mut server, now, id);
            assert_eq!((data.as_slice(), ended), (&b"payload"[..], true));
            done += 1;
        }
        exchange(&mut server, &mut client);
        assert!(server.open_streams() <= 4);
        if done >= 40 {
            break;
        }
    }
    assert!(done >= 40, "only {done} streams completed");
    // Released on both sides.
    assert_eq!(server.open_streams(), 0);
    assert!(client.open_streams() <= 4);
}

#[test]
fn peer_streams_beyond_our_limit_are_a_stream_limit_error() {
    let config = StreamsConfig {
        max_concurrent_bidi: 2,
        ..StreamsConfig::default()
    };
    let mut server = endpoint(Side::Server, &config, &open_limits());
    server
        .on_stream_frame(fin_frame(sid(Side::Client, Dir::Bi, 1)))
        .expect("stream 1 is the second");
    let err = server
        .on_stream_frame(fin_frame(sid(Side::Client, Dir::Bi, 2)))
        .unwrap_err();
    assert_eq!(err.code, TransportErrorCode::STREAM_LIMIT_ERROR);
    // Far beyond: the highest possible index.
    let err = server
        .on_stream_frame(fin_frame(sid(Side::Client, Dir::Uni, (1 << 60) - 1)))
        .unwrap_err();
    assert_eq!(err.code, TransportErrorCode::STREAM_LIMIT_ERROR);
    assert_eq!(
        server.open_streams(),
        2,
        "nothing allocated for rejected streams"
    );
}

#[test]
fn transport_parameters_are_validated() {
    let mut s = crate::streams::StreamsState::new(Side::Client, &StreamsConfig::default());
    let bad = PeerLimits {
        max_streams_bidi: (1 << 60) + 1,
        ..open_limits()
    };
    let err = s.set_peer_limits(&bad).unwrap_err();
    assert_eq!(err.code, TransportErrorCode::TRANSPORT_PARAMETER_ERROR);
    let local = s.local_limits();
    assert_eq!(local.max_streams_bidi, 100);
    assert_eq!(local.max_data, StreamsConfig::default().receive_window);
}
