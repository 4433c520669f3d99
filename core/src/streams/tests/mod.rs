//! Tests of the streams layer as a whole, and the small harness they share: two
//! [`StreamsState`]s talking through encoded packets, the way the connection will drive them.

mod adversarial;
mod assembler;
mod fixtures;
mod flow;
mod lifecycle;
mod limits;
mod loopback;
mod priority;

use std::time::Instant;

use bytes::Bytes;

use super::{
    Dir, PeerLimits, Side, StreamEvent, StreamId, StreamsConfig, StreamsSent, StreamsState,
};
use crate::error::TransportError;
use crate::wire::frame::{Frame, Iter};

/// A base instant: the layer only compares instants it is given.
#[allow(clippy::disallowed_methods)] // tests need a base instant
pub(super) fn epoch() -> Instant {
    Instant::now()
}

/// The `index`-th stream of a kind.
pub(super) fn sid(initiator: Side, dir: Dir, index: u64) -> StreamId {
    StreamId::new(initiator, dir, index).expect("index in range")
}

/// A client and a server that exchanged transport parameters.
pub(super) fn pair(config: &StreamsConfig) -> (StreamsState, StreamsState) {
    let mut client = StreamsState::new(Side::Client, config);
    let mut server = StreamsState::new(Side::Server, config);
    client
        .set_peer_limits(&server.local_limits())
        .expect("valid parameters");
    server
        .set_peer_limits(&client.local_limits())
        .expect("valid parameters");
    (client, server)
}

/// One side with the peer's limits set to `peer`.
pub(super) fn endpoint(side: Side, config: &StreamsConfig, peer: &PeerLimits) -> StreamsState {
    let mut s = StreamsState::new(side, config);
    s.set_peer_limits(peer).expect("valid parameters");
    s
}

/// Generous peer limits for tests that do not exercise them.
pub(super) fn open_limits() -> PeerLimits {
    PeerLimits {
        max_data: 1 << 30,
        max_stream_data_bidi_local: 1 << 24,
        max_stream_data_bidi_remote: 1 << 24,
        max_stream_data_uni: 1 << 24,
        max_streams_bidi: 100,
        max_streams_uni: 100,
    }
}

/// A packet built by one side: its streams-layer payload and the record loss recovery keeps.
#[derive(Debug, Clone)]
pub(super) struct Packet {
    pub(super) payload: Bytes,
    pub(super) sent: StreamsSent,
}

/// Builds one packet of at most `max_len` bytes the way the connection does (control frames,
/// then stream frames); `None` if nothing was written.
pub(super) fn build(state: &mut StreamsState, max_len: usize) -> Option<Packet> {
    let mut buf = Vec::with_capacity(max_len);
    let mut sent = StreamsSent::default();
    state.write_control_frames(&mut buf, max_len, &mut sent);
    let left = max_len - buf.len();
    state.write_stream_frames(&mut buf, left, &mut sent);
    assert!(
        buf.len() <= max_len,
        "packet overflow: {} > {max_len}",
        buf.len()
    );
    (!buf.is_empty()).then(|| Packet {
        payload: Bytes::from(buf),
        sent,
    })
}

/// Decodes `payload` and feeds every frame to `state`, as the connection would.
pub(super) fn deliver(state: &mut StreamsState, payload: &Bytes) -> Result<(), TransportError> {
    for frame in Iter::new(payload.clone()) {
        dispatch(state, frame.expect("we encode valid frames"))?;
    }
    Ok(())
}

/// Feeds one decoded frame to `state`.
pub(super) fn dispatch(state: &mut StreamsState, frame: Frame) -> Result<(), TransportError> {
    match frame {
        Frame::Stream(f) => state.on_stream_frame(f),
        Frame::ResetStream(f) => state.on_reset_stream(&f),
        Frame::StopSending(f) => state.on_stop_sending(&f),
        Frame::MaxData(max) => {
            state.on_max_data(max.into_inner());
            Ok(())
        }
        Frame::MaxStreamData { id, max } => {
            state.on_max_stream_data(StreamId::from_varint(id), max.into_inner())
        }
        Frame::MaxStreams { dir, count } => {
            state.on_max_streams(super::dir_from_wire(dir), count.into_inner())
        }
        Frame::DataBlocked(limit) => {
            state.on_data_blocked(epoch(), limit.into_inner());
            Ok(())
        }
        Frame::StreamDataBlocked { id, limit } => {
            state.on_stream_data_blocked(epoch(), StreamId::from_varint(id), limit.into_inner())
        }
        Frame::StreamsBlocked { dir, limit } => {
            state.on_streams_blocked(super::dir_from_wire(dir), limit.into_inner())
        }
        other => panic!("not a streams frame: {other:?}"),
    }
}

/// Every event queued.
pub(super) fn events(state: &mut StreamsState) -> Vec<StreamEvent> {
    std::iter::from_fn(|| state.poll_event()).collect()
}

/// Reads everything readable on `id` now; `(data, ended)`.
pub(super) fn read_all(state: &mut StreamsState, now: Instant, id: StreamId) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    loop {
        match state.read(now, id, usize::MAX) {
            Ok(Some(chunk)) => out.extend_from_slice(&chunk),
            Ok(None) => return (out, true),
            Err(_) => return (out, false),
        }
    }
}

/// Moves packets between `a` and `b` until neither has anything to send, with no loss; every
/// packet is acknowledged right after delivery. Panics on a transport error. Bounded.
pub(super) fn exchange(a: &mut StreamsState, b: &mut StreamsState) {
    /// Sends one packet from `from` to `to`; whether there was one.
    fn one(from: &mut StreamsState, to: &mut StreamsState) -> bool {
        let Some(p) = build(from, 1200) else {
            return false;
        };
        deliver(to, &p.payload).expect("valid frames");
        from.on_acked(&p.sent);
        true
    }
    for _ in 0..10_000 {
        let forward = one(a, b);
        let back = one(b, a);
        if !forward && !back {
            return;
        }
    }
    panic!("exchange did not settle");
}
