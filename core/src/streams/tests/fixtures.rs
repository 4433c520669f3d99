//! Frame-level tests, one fixture per stream state (smoltcp style): put a stream in a state,
//! feed it one frame, check the state, the events and the error.

use bytes::Bytes;

use super::{build, endpoint, epoch, events, open_limits, sid};
use crate::error::{TransportError, TransportErrorCode};
use crate::streams::recv::RecvState;
use crate::streams::send::SendState;
use crate::streams::{Dir, Side, StreamEvent, StreamId, StreamState, StreamsConfig, StreamsState};
use crate::wire::VarInt;
use crate::wire::frame::{ResetStream, StopSending, StreamFrame};

fn v(x: u64) -> VarInt {
    VarInt::from_u64(x).expect("small")
}

fn stream(id: StreamId, offset: u64, len: usize, fin: bool) -> StreamFrame {
    StreamFrame {
        id: id.to_varint(),
        offset: v(offset),
        fin,
        data: Bytes::from(vec![0xab; len]),
    }
}

fn reset(id: StreamId, code: u64, final_size: u64) -> ResetStream {
    ResetStream {
        id: id.to_varint(),
        error_code: v(code),
        final_size: v(final_size),
    }
}

fn code(result: Result<(), TransportError>) -> Option<TransportErrorCode> {
    result.err().map(|e| e.code)
}

// ---- receive half: the server receives on the client's bidirectional stream 0 ----

const PEER_STREAM: fn() -> StreamId = || sid(Side::Client, Dir::Bi, 0);

fn recv_state(s: &StreamsState) -> Option<RecvState> {
    let stream = s.streams.get(&PEER_STREAM())?;
    stream.recv.as_ref().map(|r| r.state())
}

/// A server whose stream 0 (the client's) is in `state`; 20 bytes are the final size.
fn recv_fixture(state: RecvState) -> StreamsState {
    let mut s = endpoint(Side::Server, &StreamsConfig::default(), &open_limits());
    let id = PEER_STREAM();
    let now = epoch();
    match state {
        RecvState::Recv => {
            s.on_stream_frame(stream(id, 0, 10, false)).expect("valid");
        }
        RecvState::SizeKnown => {
            s.on_stream_frame(stream(id, 10, 10, true)).expect("valid");
        }
        RecvState::DataRecvd => {
            s.on_stream_frame(stream(id, 0, 20, true)).expect("valid");
        }
        RecvState::DataRead => {
            s.on_stream_frame(stream(id, 0, 20, true)).expect("valid");
            assert_eq!(
                s.read(now, id, 100).expect("data").map(|b| b.len()),
                Some(20)
            );
            assert_eq!(s.read(now, id, 100), Ok(None));
        }
        RecvState::ResetRecvd(_) => {
            s.on_stream_frame(stream(id, 0, 10, false)).expect("valid");
            s.on_reset_stream(&reset(id, 7, 20)).expect("valid");
        }
        RecvState::ResetRead(_) => {
            s.on_stream_frame(stream(id, 0, 10, false)).expect("valid");
            s.on_reset_stream(&reset(id, 7, 20)).expect("valid");
            assert!(s.read(now, id, 100).is_err());
        }
    }
    assert_eq!(recv_state(&s), Some(state), "fixture");
    events(&mut s);
    s
}

const RECV_STATES: [RecvState; 6] = [
    RecvState::Recv,
    RecvState::SizeKnown,
    RecvState::DataRecvd,
    RecvState::DataRead,
    RecvState::ResetRecvd(VarInt::from_u32(7)),
    RecvState::ResetRead(VarInt::from_u32(7)),
];

#[test]
fn recv_stream_frame_with_new_data() {
    use RecvState::*;
    for state in RECV_STATES {
        let mut s = recv_fixture(state);
        // Offsets 0..10 complete a stream in Size Known.
        assert_eq!(
            code(s.on_stream_frame(stream(PEER_STREAM(), 0, 10, false))),
            None
        );
        let (expected, readable) = match state {
            Recv => (Recv, false), // 0..10 again: a duplicate
            SizeKnown => (DataRecvd, true),
            other => (other, false), // nothing changes
        };
        assert_eq!(recv_state(&s), Some(expected), "{state:?}");
        let got = events(&mut s).contains(&StreamEvent::Readable { id: PEER_STREAM() });
        assert_eq!(got, readable, "{state:?}");
    }
}

#[test]
fn recv_stream_frame_past_the_final_size() {
    for state in RECV_STATES {
        let mut s = recv_fixture(state);
        let result = code(s.on_stream_frame(stream(PEER_STREAM(), 15, 10, false)));
        let expected = match state {
            RecvState::Recv => None,
            _ => Some(TransportErrorCode::FINAL_SIZE_ERROR),
        };
        assert_eq!(result, expected, "{state:?}");
    }
}

#[test]
fn recv_fin_that_changes_the_final_size() {
    for state in RECV_STATES {
        let mut s = recv_fixture(state);
        let result = code(s.on_stream_frame(stream(PEER_STREAM(), 10, 5, true)));
        // Recv: 15 is below nothing received (10): a valid FIN. Elsewhere the size is 20.
        let expected = match state {
            RecvState::Recv => None,
            _ => Some(TransportErrorCode::FINAL_SIZE_ERROR),
        };
        assert_eq!(result, expected, "{state:?}");
    }
    // A FIN below data already received.
    let mut s = recv_fixture(RecvState::Recv);
    let result = code(s.on_stream_frame(stream(PEER_STREAM(), 0, 5, true)));
    assert_eq!(result, Some(TransportErrorCode::FINAL_SIZE_ERROR));
}

#[test]
fn recv_reset_stream() {
    use RecvState::*;
    for state in RECV_STATES {
        let mut s = recv_fixture(state);
        assert_eq!(
            code(s.on_reset_stream(&reset(PEER_STREAM(), 9, 20))),
            None,
            "{state:?}"
        );
        let expected = match state {
            Recv | SizeKnown => ResetRecvd(v(9)),
            other => other, // Data Recvd: the data wins; terminal states stay
        };
        assert_eq!(recv_state(&s), Some(expected), "{state:?}");
        let readable = events(&mut s).contains(&StreamEvent::Readable { id: PEER_STREAM() });
        assert_eq!(readable, matches!(state, Recv | SizeKnown), "{state:?}");
        assert_eq!(s.recv_buffered(), if state == DataRecvd { 20 } else { 0 });
    }
}

#[test]
fn recv_reset_with_a_wrong_final_size() {
    for state in RECV_STATES {
        let mut s = recv_fixture(state);
        let result = code(s.on_reset_stream(&reset(PEER_STREAM(), 9, 30)));
        let expected = match state {
            RecvState::Recv => None, // 30 is a new, valid final size
            _ => Some(TransportErrorCode::FINAL_SIZE_ERROR),
        };
        assert_eq!(result, expected, "{state:?}");
        let mut s = recv_fixture(state);
        let result = code(s.on_reset_stream(&reset(PEER_STREAM(), 9, 5)));
        assert_eq!(
            result,
            Some(TransportErrorCode::FINAL_SIZE_ERROR),
            "{state:?}"
        );
    }
}

#[test]
fn recv_stream_data_blocked_is_harmless_everywhere() {
    for state in RECV_STATES {
        let mut s = recv_fixture(state);
        assert_eq!(
            s.on_stream_data_blocked(epoch(), PEER_STREAM(), 1 << 20),
            Ok(())
        );
        assert_eq!(recv_state(&s), Some(state));
    }
}

#[test]
fn recv_reset_is_read_once_then_stays() {
    let mut s = recv_fixture(RecvState::ResetRecvd(v(7)));
    let now = epoch();
    assert_eq!(s.state(PEER_STREAM()), Some(StreamState::Reset));
    assert_eq!(
        s.read(now, PEER_STREAM(), 10),
        Err(crate::streams::ReadError::Reset(v(7)))
    );
    assert_eq!(recv_state(&s), Some(RecvState::ResetRead(v(7))));
}

// ---- send half: the client sends on its bidirectional stream 0 ----

const OWN_STREAM: fn() -> StreamId = || sid(Side::Client, Dir::Bi, 0);

fn send_state(s: &StreamsState) -> Option<SendState> {
    let stream = s.streams.get(&OWN_STREAM())?;
    stream.send.as_ref().map(|x| x.state())
}

/// A client whose stream 0 is in `state` (10 bytes written where data is involved).
fn send_fixture(state: SendState) -> StreamsState {
    let mut s = endpoint(Side::Client, &StreamsConfig::default(), &open_limits());
    let id = s.open(Dir::Bi, 0).expect("allowed");
    assert_eq!(id, OWN_STREAM());
    let code = v(3);
    match state {
        SendState::Ready => {}
        SendState::Send => {
            s.write(id, &[1; 10]).expect("room");
            build(&mut s, 1200).expect("data");
        }
        SendState::DataSent => {
            s.write(id, &[1; 10]).expect("room");
            s.finish(id).expect("open");
            build(&mut s, 1200).expect("data");
        }
        SendState::DataRecvd => {
            s.write(id, &[1; 10]).expect("room");
            s.finish(id).expect("open");
            let p = build(&mut s, 1200).expect("data");
            s.on_acked(&p.sent);
        }
        SendState::ResetSent { .. } => {
            s.write(id, &[1; 10]).expect("room");
            build(&mut s, 1200).expect("data");
            s.reset(id, code).expect("resettable");
        }
        SendState::ResetRecvd { .. } => {
            s.write(id, &[1; 10]).expect("room");
            build(&mut s, 1200).expect("data");
            s.reset(id, code).expect("resettable");
            let p = build(&mut s, 1200).expect("RESET_STREAM");
            s.on_acked(&p.sent);
        }
    }
    assert_eq!(send_state(&s), Some(state), "fixture");
    events(&mut s);
    s
}

const SEND_STATES: [SendState; 6] = [
    SendState::Ready,
    SendState::Send,
    SendState::DataSent,
    SendState::DataRecvd,
    SendState::ResetSent {
        error_code: VarInt::from_u32(3),
        final_size: 10,
    },
    SendState::ResetRecvd {
        error_code: VarInt::from_u32(3),
    },
];

#[test]
fn send_stop_sending() {
    use SendState::*;
    for state in SEND_STATES {
        let mut s = send_fixture(state);
        let frame = StopSending {
            id: OWN_STREAM().to_varint(),
            error_code: v(42),
        };
        assert_eq!(s.on_stop_sending(&frame), Ok(()));
        let resets = matches!(state, Ready | Send | DataSent);
        let sent_bytes = if state == Ready { 0 } else { 10 };
        let expected = if resets {
            ResetSent {
                error_code: v(42),
                final_size: sent_bytes,
            }
        } else {
            state
        };
        assert_eq!(send_state(&s), Some(expected), "{state:?}");
        let stopped = StreamEvent::Stopped {
            id: OWN_STREAM(),
            error_code: v(42),
        };
        assert_eq!(events(&mut s).contains(&stopped), resets, "{state:?}");
        if resets {
            assert_eq!(
                s.write(OWN_STREAM(), b"x"),
                Err(crate::streams::WriteError::Stopped(v(42)))
            );
            assert_eq!(s.send_buffered(), 0, "data of a reset stream is dropped");
            let p = build(&mut s, 1200).expect("RESET_STREAM");
            assert_eq!(p.sent.chunks.len(), 0, "no data after a reset");
            assert_eq!(p.sent.controls.len(), 1);
        }
    }
}

#[test]
fn send_max_stream_data() {
    for state in SEND_STATES {
        let mut s = send_fixture(state);
        assert_eq!(
            s.on_max_stream_data(OWN_STREAM(), 1 << 30),
            Ok(()),
            "{state:?}"
        );
        assert_eq!(send_state(&s), Some(state), "{state:?}");
    }
}

#[test]
fn send_lost_data_is_retransmitted_unless_reset() {
    for reset_after in [false, true] {
        let mut s = send_fixture(SendState::Ready);
        s.write(OWN_STREAM(), &[5; 100]).expect("room");
        let p = build(&mut s, 1200).expect("data");
        if reset_after {
            s.reset(OWN_STREAM(), v(1)).expect("resettable");
        }
        s.on_lost(&p.sent);
        let again = build(&mut s, 1200).expect("something");
        let data: usize = again.sent.chunks.iter().map(|c| c.len as usize).sum();
        assert_eq!(data, if reset_after { 0 } else { 100 });
    }
}

// ---- frames for the wrong kind of stream ----

#[test]
fn frames_for_the_wrong_direction_are_stream_state_errors() {
    let config = StreamsConfig::default();
    let mut client = endpoint(Side::Client, &config, &open_limits());
    let own_uni = client.open(Dir::Uni, 0).expect("allowed");
    let state = Some(TransportErrorCode::STREAM_STATE_ERROR);
    // Receive frames on our send-only stream.
    assert_eq!(
        code(client.on_stream_frame(stream(own_uni, 0, 1, false))),
        state
    );
    assert_eq!(code(client.on_reset_stream(&reset(own_uni, 0, 0))), state);
    assert_eq!(
        code(client.on_stream_data_blocked(epoch(), own_uni, 0)),
        state
    );
    // Send frames on the peer's send-only stream.
    let peer_uni = sid(Side::Server, Dir::Uni, 0);
    let stop = StopSending {
        id: peer_uni.to_varint(),
        error_code: v(0),
    };
    assert_eq!(code(client.on_stop_sending(&stop)), state);
    assert_eq!(code(client.on_max_stream_data(peer_uni, 10)), state);
    // Any frame for one of our streams never opened.
    let unopened = sid(Side::Client, Dir::Bi, 5);
    assert_eq!(
        code(client.on_stream_frame(stream(unopened, 0, 1, false))),
        state
    );
    assert_eq!(code(client.on_max_stream_data(unopened, 10)), state);
    // The error names the frame.
    let err = client
        .on_stream_frame(stream(own_uni, 0, 1, false))
        .unwrap_err();
    assert_eq!(err.frame.map(|f| f.name()), Some(Some("STREAM")));
}

#[test]
fn frames_for_released_streams_are_ignored() {
    let config = StreamsConfig::default();
    let mut server = endpoint(Side::Server, &config, &open_limits());
    let id = sid(Side::Client, Dir::Uni, 0);
    server
        .on_stream_frame(stream(id, 0, 4, true))
        .expect("valid");
    let now = epoch();
    assert_eq!(server.accept(Dir::Uni), Some(id));
    assert!(server.read(now, id, 10).expect("data").is_some());
    assert_eq!(server.read(now, id, 10), Ok(None));
    assert_eq!(server.open_streams(), 0, "released");
    assert_eq!(server.state(id), Some(StreamState::Closed));
    // Retransmissions, even nonsense, are ignored now.
    assert_eq!(server.on_stream_frame(stream(id, 0, 4, true)), Ok(()));
    assert_eq!(server.on_stream_frame(stream(id, 100, 4, true)), Ok(()));
    assert_eq!(server.on_reset_stream(&reset(id, 1, 4)), Ok(()));
    assert_eq!(server.open_streams(), 0);
}
