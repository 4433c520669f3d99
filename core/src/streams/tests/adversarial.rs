//! A hostile peer: every violation is a connection error, and nothing grows without bound.

use bytes::Bytes;

use super::{endpoint, epoch, open_limits, sid};
use crate::error::TransportErrorCode;
use crate::streams::{Dir, Side, StreamId, StreamsConfig, StreamsState};
use crate::wire::VarInt;
use crate::wire::frame::{ResetStream, StreamFrame};

fn v(x: u64) -> VarInt {
    VarInt::from_u64(x).expect("in range")
}

fn frame(id: StreamId, offset: u64, data: Bytes, fin: bool) -> StreamFrame {
    StreamFrame {
        id: id.to_varint(),
        offset: v(offset),
        fin,
        data,
    }
}

fn server(config: &StreamsConfig) -> StreamsState {
    endpoint(Side::Server, config, &open_limits())
}

const C0: fn() -> StreamId = || sid(Side::Client, Dir::Bi, 0);

#[test]
fn data_past_the_stream_window_is_a_flow_control_error() {
    let config = StreamsConfig::default();
    let mut s = server(&config);
    let window = config.stream_receive_window;
    let ok = frame(C0(), window - 1, Bytes::from_static(b"x"), false);
    assert_eq!(s.on_stream_frame(ok), Ok(()));
    let err = s
        .on_stream_frame(frame(C0(), window, Bytes::from_static(b"x"), false))
        .unwrap_err();
    assert_eq!(err.code, TransportErrorCode::FLOW_CONTROL_ERROR);
    // Even an empty frame at a huge offset, and a reset with a huge final size.
    let mut s = server(&config);
    let err = s
        .on_stream_frame(frame(C0(), (1 << 62) - 1, Bytes::new(), false))
        .unwrap_err();
    assert_eq!(err.code, TransportErrorCode::FLOW_CONTROL_ERROR);
    let reset = ResetStream {
        id: C0().to_varint(),
        error_code: v(0),
        final_size: v(window + 1),
    };
    let err = s.on_reset_stream(&reset).unwrap_err();
    assert_eq!(err.code, TransportErrorCode::FLOW_CONTROL_ERROR);
}

#[test]
fn data_past_the_connection_window_is_a_flow_control_error() {
    let config = StreamsConfig {
        stream_receive_window: 1000,
        max_stream_receive_window: 1000,
        receive_window: 2500,
        max_receive_window: 2500,
        ..StreamsConfig::default()
    };
    let mut s = server(&config);
    for k in 0..2 {
        let id = sid(Side::Client, Dir::Uni, k);
        let data = Bytes::from(vec![0; 1000]);
        s.on_stream_frame(frame(id, 0, data, false))
            .expect("within");
    }
    // 500 more are allowed; a reset counts its final size (RFC 9000 §4.5).
    let reset = ResetStream {
        id: sid(Side::Client, Dir::Uni, 2).to_varint(),
        error_code: v(0),
        final_size: v(600),
    };
    let err = s.on_reset_stream(&reset).unwrap_err();
    assert_eq!(err.code, TransportErrorCode::FLOW_CONTROL_ERROR);
    let id = sid(Side::Client, Dir::Uni, 3);
    let err = s
        .on_stream_frame(frame(id, 0, Bytes::from(vec![0; 501]), false))
        .unwrap_err();
    assert_eq!(err.code, TransportErrorCode::FLOW_CONTROL_ERROR);
    let id = sid(Side::Client, Dir::Uni, 4);
    s.on_stream_frame(frame(id, 0, Bytes::from(vec![0; 500]), false))
        .expect("exactly the window");
}

#[test]
fn final_size_changes_are_final_size_errors() {
    let mut s = server(&StreamsConfig::default());
    s.on_stream_frame(frame(C0(), 0, Bytes::from_static(b"abc"), true))
        .expect("valid");
    for (offset, len, fin) in [(0, 4, false), (3, 1, false), (0, 2, true), (1, 3, true)] {
        let err = s
            .on_stream_frame(frame(C0(), offset, Bytes::from(vec![0; len]), fin))
            .unwrap_err();
        assert_eq!(
            err.code,
            TransportErrorCode::FINAL_SIZE_ERROR,
            "{offset} {len} {fin}"
        );
    }
    // The same FIN again is fine (a retransmission).
    s.on_stream_frame(frame(C0(), 0, Bytes::from_static(b"abc"), true))
        .expect("retransmission");
    let reset = ResetStream {
        id: C0().to_varint(),
        error_code: v(0),
        final_size: v(4),
    };
    assert_eq!(
        s.on_reset_stream(&reset).unwrap_err().code,
        TransportErrorCode::FINAL_SIZE_ERROR
    );
}

#[test]
fn thousands_of_tiny_out_of_order_frames_end_in_an_error_with_bounded_memory() {
    let config = StreamsConfig {
        max_fragments_per_stream: 256,
        ..StreamsConfig::default()
    };
    let mut s = server(&config);
    // Every frame is its own 1200-byte datagram carrying 1 byte, with gaps between frames.
    let mut error = None;
    for k in 0..10_000u64 {
        let datagram = Bytes::from(vec![0u8; 1200]);
        if let Err(e) = s.on_stream_frame(frame(C0(), 1 + 2 * k, datagram.slice(0..1), false)) {
            error = Some((k, e));
            break;
        }
        // Nothing pins the datagram: the byte was copied.
        assert!(datagram.is_unique());
    }
    let (k, e) = error.expect("the fragment bound trips");
    assert_eq!(e.code, TransportErrorCode::PROTOCOL_VIOLATION);
    assert_eq!(k, 256);
    assert!(s.recv_buffered() <= 256);
}

#[test]
fn thousands_of_tiny_contiguous_frames_stay_compact() {
    let mut s = server(&StreamsConfig::default());
    // Reverse order: nothing is readable until the end, all of it is one range.
    let n = 20_000u64;
    for k in (1..n).rev() {
        let datagram = Bytes::from(vec![1u8; 1200]);
        s.on_stream_frame(frame(C0(), k, datagram.slice(0..1), false))
            .expect("one range");
    }
    let recv = s
        .streams
        .get(&C0())
        .and_then(|st| st.recv.as_ref())
        .expect("open");
    let chunks = recv.assembler().chunks();
    assert!(
        chunks <= 2 * n as usize / 512 + 2,
        "{chunks} chunks for {n} bytes"
    );
    assert_eq!(s.recv_buffered(), n - 1);
    s.on_stream_frame(frame(C0(), 0, Bytes::from_static(b"\x01"), false))
        .expect("fills the gap");
    let (data, ended) = super::read_all(&mut s, epoch(), C0());
    assert_eq!((data.len() as u64, ended), (n, false));
}

#[test]
fn many_streams_cannot_exceed_the_concurrency() {
    let config = StreamsConfig {
        max_concurrent_uni: 10,
        ..StreamsConfig::default()
    };
    let mut s = server(&config);
    let now = epoch();
    for k in 0..10 {
        s.on_stream_frame(frame(
            sid(Side::Client, Dir::Uni, k),
            0,
            Bytes::from_static(b"x"),
            false,
        ))
        .expect("within the limit");
    }
    let err = s
        .on_stream_frame(frame(
            sid(Side::Client, Dir::Uni, 10),
            0,
            Bytes::new(),
            false,
        ))
        .unwrap_err();
    assert_eq!(err.code, TransportErrorCode::STREAM_LIMIT_ERROR);
    assert_eq!(s.open_streams(), 10);
    // The application never reads: nothing is released, so the limit holds.
    assert!(s.read(now, sid(Side::Client, Dir::Uni, 0), 1).is_ok());
    assert_eq!(s.open_streams(), 10);
}

#[test]
fn fragments_spread_over_many_streams_hit_the_connection_bound() {
    let config = StreamsConfig {
        max_fragments_per_stream: 1000,
        max_fragments: 500,
        ..StreamsConfig::default()
    };
    let mut s = server(&config);
    // Ten streams with a hundred 1-byte gaps each: no stream is over its own bound, the
    // connection is over its total.
    let mut error = None;
    'outer: for stream in 0..10u64 {
        let id = sid(Side::Client, Dir::Bi, stream);
        for k in 0..100u64 {
            if let Err(e) = s.on_stream_frame(frame(id, 1 + 2 * k, Bytes::from_static(b"x"), false))
            {
                error = Some((stream, e));
                break 'outer;
            }
        }
    }
    let (stream, e) = error.expect("the connection-wide bound trips");
    assert_eq!(e.code, TransportErrorCode::PROTOCOL_VIOLATION);
    assert_eq!(stream, 5, "after 500 ranges in all: {e}");
}
