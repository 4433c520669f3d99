//! Attacks on stream state: stream limits, stream and connection flow control, final sizes,
//! and the reassembly limit on out-of-order fragments.

use weir_core::TransportErrorCode;
use weir_core::config::TransportConfig;
use weir_core::streams::{Dir, StreamId, StreamsConfig};
use weir_core::wire::frame::ResetStream;
use weir_core::wire::{Frame, FrameType};
use weir_tests::pattern;

use crate::{Pair, client_stream, stream, transport, var};

// ----- Stream limits -----

fn stream_limit_case(dir: Dir) {
    let limit = 4;
    let mut p = Pair::new(
        transport(StreamsConfig {
            max_concurrent_bidi: limit,
            max_concurrent_uni: limit,
            ..StreamsConfig::default()
        }),
        false,
    );
    // The last stream allowed opens it and every lower-numbered one (RFC 9000 §3.2).
    p.attack_frames(&[stream(client_stream(dir, limit - 1), 0, b"x", false)]);
    p.assert_open("opening the last allowed stream");
    assert_eq!(p.server_conn_stats().open_streams, limit as usize);
    // RFC 9000 §4.6: a stream beyond MAX_STREAMS is a STREAM_LIMIT_ERROR.
    let beyond = stream(client_stream(dir, limit), 0, b"x", false);
    let ty = beyond.frame_type();
    p.attack_frames(&[beyond]);
    assert_eq!(
        p.server_conn_stats().open_streams,
        limit as usize,
        "nothing was opened"
    );
    p.expect_close(TransportErrorCode::STREAM_LIMIT_ERROR, Some(ty));
}

#[test]
fn a_bidirectional_stream_beyond_max_streams_is_a_stream_limit_error() {
    stream_limit_case(Dir::Bi);
}

#[test]
fn a_unidirectional_stream_beyond_max_streams_is_a_stream_limit_error() {
    stream_limit_case(Dir::Uni);
}

// ----- Flow control -----

/// RFC 9000 §4.1: data beyond the stream's advertised limit is a FLOW_CONTROL_ERROR, whether
/// one byte past it or far ahead.
#[test]
fn stream_data_beyond_the_stream_window_is_a_flow_control_error() {
    for offset in [1000, 1 << 40] {
        let mut p = Pair::new(
            transport(StreamsConfig {
                stream_receive_window: 1000,
                ..StreamsConfig::default()
            }),
            false,
        );
        let id = client_stream(Dir::Uni, 0);
        // The window's last byte is fine.
        p.attack_frames(&[stream(id, 999, b"x", false)]);
        p.assert_open("the last byte of the window");
        let frame = stream(id, offset, b"x", false);
        let ty = frame.frame_type();
        p.attack_frames(&[frame]);
        p.expect_close(TransportErrorCode::FLOW_CONTROL_ERROR, Some(ty));
    }
}

/// RFC 9000 §4.1: the sum of the highest offsets over all streams is bounded by the
/// connection's MAX_DATA, even when every stream stays within its own window.
#[test]
fn stream_data_beyond_the_connection_window_is_a_flow_control_error() {
    let mut p = Pair::new(
        transport(StreamsConfig {
            stream_receive_window: 1000,
            receive_window: 2500,
            ..StreamsConfig::default()
        }),
        false,
    );
    let s = |k| client_stream(Dir::Bi, k);
    // 1000 + 1000 + 500: exactly the connection window.
    p.attack_frames(&[
        stream(s(0), 999, b"x", false),
        stream(s(1), 999, b"x", false),
        stream(s(2), 499, b"x", false),
    ]);
    p.assert_open("filling the connection window exactly");
    let frame = stream(s(3), 0, b"x", false);
    let ty = frame.frame_type();
    p.attack_frames(&[frame]);
    p.expect_close(TransportErrorCode::FLOW_CONTROL_ERROR, Some(ty));
}

// ----- Final size -----

/// RFC 9000 §4.5: once the final size is known, data beyond it, or a different final size, is
/// a FINAL_SIZE_ERROR; a repeated FIN with the same size is fine.
#[test]
fn data_beyond_the_final_size_is_a_final_size_error() {
    let id = client_stream(Dir::Uni, 0);
    for violation in [
        stream(id, 10, b"x", false),
        stream(id, 0, b"12345678", true),
    ] {
        let mut p = Pair::new(TransportConfig::default(), false);
        p.attack_frames(&[stream(id, 0, b"0123456789", true)]);
        p.attack_frames(&[stream(id, 5, b"56789", true)]);
        p.assert_open("a retransmitted FIN");
        let ty = violation.frame_type();
        p.attack_frames(&[violation]);
        p.expect_close(TransportErrorCode::FINAL_SIZE_ERROR, Some(ty));
    }
}

/// RFC 9000 §4.5: RESET_STREAM with a final size below the data received, or different from a
/// known final size, is a FINAL_SIZE_ERROR; one equal to the data received is fine.
#[test]
fn a_reset_below_the_data_received_is_a_final_size_error() {
    let reset = |id: u64, final_size: u64| {
        Frame::ResetStream(ResetStream {
            id: var(id),
            error_code: var(7),
            final_size: var(final_size),
        })
    };
    let a = client_stream(Dir::Bi, 0);
    let b = client_stream(Dir::Bi, 1);
    for (data_fin, violation) in [(false, 99), (true, 101)] {
        let mut p = Pair::new(TransportConfig::default(), false);
        p.attack_frames(&[stream(a, 0, &[1; 100], false), reset(a, 100)]);
        p.assert_open("a reset at the data received");
        p.attack_frames(&[stream(b, 0, &[1; 100], data_fin)]);
        p.attack_frames(&[reset(b, violation)]);
        p.expect_close(
            TransportErrorCode::FINAL_SIZE_ERROR,
            Some(FrameType::RESET_STREAM),
        );
    }
}

// ----- Reassembly -----

/// 1-byte STREAM frames, every other byte: each opens a new gap. The server holds at most
/// `max_fragments_per_stream` disjoint ranges in a stream and closes the connection with
/// PROTOCOL_VIOLATION on the first frame beyond (StreamsConfig docs); below the limit it holds
/// them all, in several streams.
#[test]
fn one_byte_fragments_beyond_the_reassembly_limit_close_the_connection() {
    let limit = 64;
    let mut p = Pair::new(
        transport(StreamsConfig {
            max_fragments_per_stream: limit,
            ..StreamsConfig::default()
        }),
        false,
    );
    for k in 0..4 {
        let id = client_stream(Dir::Uni, k);
        let frames: Vec<Frame> = (0..limit as u64)
            .map(|i| stream(id, 2 * i + 1, &[pattern(id, 2 * i + 1)], false))
            .collect();
        p.attack_frames(&frames);
        p.assert_open("fragments up to the limit");
    }
    let id = client_stream(Dir::Uni, 4);
    let mut sent = 0;
    for i in 0..1000u64 {
        p.attack_frames(&[stream(id, 2 * i + 1, b"x", false)]);
        sent += 1;
        if p.server_closed().is_some() {
            break;
        }
    }
    assert_eq!(
        sent,
        limit + 1,
        "the connection closes on the first fragment beyond the limit"
    );
    p.expect_close(
        TransportErrorCode::PROTOCOL_VIOLATION,
        Some(stream(id, 1, b"x", false).frame_type()),
    );
}

/// Thousands of 1-byte STREAM frames, every other byte, spread over every stream the server
/// allows: whatever the policy (per stream, per connection), the fragments a peer can make the
/// server hold are bounded by its configuration, and beyond it the connection closes with
/// PROTOCOL_VIOLATION rather than growing.
#[test]
fn fragments_over_many_streams_are_bounded_by_the_configuration() {
    let config = StreamsConfig::default();
    let streams = config.max_concurrent_uni;
    let bound = streams * config.max_fragments_per_stream as u64;
    let mut p = Pair::new(transport(config), false);
    let mut sent = 0u64;
    'flood: for i in 0.. {
        let frames: Vec<Frame> = (0..streams)
            .map(|k| {
                let id = client_stream(Dir::Uni, k);
                stream(id, 2 * i + 1, &[pattern(id, 2 * i + 1)], false)
            })
            .collect();
        for chunk in frames.chunks(50) {
            p.attack_frames(chunk);
            sent += chunk.len() as u64;
            if p.server_closed().is_some() {
                break 'flood;
            }
        }
        assert!(sent <= bound, "{sent} fragments held, bound {bound}");
    }
    assert!(
        sent > 1000,
        "thousands of fragments before the bound: {sent}"
    );
    p.expect_close(
        TransportErrorCode::PROTOCOL_VIOLATION,
        Some(stream(2, 1, b"x", false).frame_type()),
    );
}

/// The reassembly limit counts gaps, not frames: thousands of 1-byte frames that arrive out of
/// order but keep filling their gaps never trip it, and the data arrives intact.
#[test]
fn one_byte_frames_that_fill_their_gaps_are_accepted() {
    let mut p = Pair::new(TransportConfig::default(), false);
    p.server_reads = true;
    let id = client_stream(Dir::Uni, 0);
    let n = 4000u64;
    for i in (0..n).step_by(2) {
        // Odd byte first (a gap), then the even byte below it (filled).
        p.attack_frames(&[stream(id, i + 1, &[pattern(id, i + 1)], i + 2 == n)]);
        p.attack_frames(&[stream(id, i, &[pattern(id, i)], false)]);
    }
    p.assert_open("gaps that are filled");
    let sid = StreamId::from_varint(var(id));
    assert_eq!(p.server_read.get(&sid), Some(&(n, true)));
}
