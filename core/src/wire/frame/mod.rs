//! Frames: the units of information inside a packet's payload (DESIGN.md §3).
//!
//! A payload is a sequence of frames, each starting with its [`FrameType`] as a varint.
//! [`Iter`] decodes them one by one without allocating (data-carrying frames hold zero-copy
//! slices of the payload). Every frame type encodes itself with `encode`/`encoded_len`; the
//! data-carrying ones also have header-only encoders ([`StreamHeader`], [`MessageHeader`]) so
//! that the sender can copy data straight from its buffers behind the header, and
//! `max_data_len` helpers that say how much data fits in the room left in a packet.

mod cid;
mod control;
mod decode;
mod fec;
mod lane;
mod message;
mod stream;
#[cfg(test)]
pub(crate) mod tests;
mod types;

use bytes::BufMut;

pub use cid::NewConnectionId;
pub use control::{ConnectionClose, HandshakeData, ResetStream, StopSending};
pub use decode::Iter;
pub use fec::{FecRepair, FecSource};
pub use lane::{DeliveryMode, Fragment, LaneFrame, LaneHeader, LaneSkip, UnknownDeliveryMode};
pub use message::{MessageFrame, MessageHeader};
pub use stream::{StreamFrame, StreamHeader};
pub use types::FrameType;

use super::ack::Ack;
use super::varint::{VarInt, varint_size};

/// The largest stream count MAX_STREAMS and STREAMS_BLOCKED may carry (RFC 9000 §19.11: a
/// stream ID must stay below 2^62 and two bits of it are the stream type).
pub const MAX_STREAM_COUNT: u64 = 1 << 60;

/// Which kind of streams a MAX_STREAMS or STREAMS_BLOCKED frame is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dir {
    /// Bidirectional streams.
    Bi,
    /// Unidirectional streams.
    Uni,
}

/// A decoded frame. Data-carrying variants hold zero-copy slices of the payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A run of PADDING frames (zero bytes); the count is the run's length.
    Padding(usize),
    /// PING: elicits an acknowledgement.
    Ping,
    /// ACK or ACK with ECN counts.
    Ack(Ack),
    /// RESET_STREAM.
    ResetStream(ResetStream),
    /// STOP_SENDING.
    StopSending(StopSending),
    /// HANDSHAKE data.
    Handshake(HandshakeData),
    /// STREAM data.
    Stream(StreamFrame),
    /// MAX_DATA: the connection-level flow-control limit in bytes.
    MaxData(VarInt),
    /// MAX_STREAM_DATA: a stream's flow-control limit.
    MaxStreamData {
        /// The stream.
        id: VarInt,
        /// The new limit in bytes.
        max: VarInt,
    },
    /// MAX_STREAMS: how many streams of a kind the peer may open in total.
    MaxStreams {
        /// The kind of streams.
        dir: Dir,
        /// The new limit (at most [`MAX_STREAM_COUNT`]).
        count: VarInt,
    },
    /// DATA_BLOCKED: the sender is blocked by the connection limit.
    DataBlocked(VarInt),
    /// STREAM_DATA_BLOCKED: the sender is blocked by a stream's limit.
    StreamDataBlocked {
        /// The stream.
        id: VarInt,
        /// The limit it is blocked at.
        limit: VarInt,
    },
    /// STREAMS_BLOCKED: the sender wants to open more streams than allowed.
    StreamsBlocked {
        /// The kind of streams.
        dir: Dir,
        /// The limit it is blocked at (at most [`MAX_STREAM_COUNT`]).
        limit: VarInt,
    },
    /// CONNECTION_CLOSE (transport or application).
    ConnectionClose(ConnectionClose),
    /// HANDSHAKE_DONE: the server confirms the handshake.
    HandshakeDone,
    /// NEW_CONNECTION_ID: a spare connection ID for the receiver to address the sender with.
    NewConnectionId(NewConnectionId),
    /// RETIRE_CONNECTION_ID: the sender no longer uses the receiver's connection ID with this
    /// sequence number.
    RetireConnectionId(VarInt),
    /// PATH_CHALLENGE: the sender checks that the path reaches the receiver (RFC 9000 §8.2).
    PathChallenge([u8; 8]),
    /// PATH_RESPONSE: the data of a PATH_CHALLENGE, echoed.
    PathResponse([u8; 8]),
    /// MESSAGE: an unreliable message.
    Message(MessageFrame),
    /// LANE: a message, or a fragment of one, on a numbered lane.
    Lane(LaneFrame),
    /// LANE_SKIP: a reliable lane's sender gave up the messages below a number.
    LaneSkip(LaneSkip),
    /// MAX_LANE_DATA: flow-control credit of one reliable lane.
    MaxLaneData {
        /// The lane.
        lane: VarInt,
        /// The new limit (an offset in the lane's byte space).
        max: VarInt,
    },
    /// MAX_LANES_DATA: flow-control credit of all reliable lanes together.
    MaxLanesData(VarInt),
    /// FEC_SOURCE: a lane's frames in one packet, protected by its FEC group.
    FecSource(FecSource),
    /// FEC_REPAIR: a repair shard of a lane's FEC group.
    FecRepair(FecRepair),
}

impl Frame {
    /// The frame's type as [`encode`](Self::encode) writes it (STREAM and MESSAGE frames with
    /// an explicit length).
    pub fn frame_type(&self) -> FrameType {
        match self {
            Self::Padding(_) => FrameType::PADDING,
            Self::Ping => FrameType::PING,
            Self::Ack(ack) if ack.ecn().is_some() => FrameType::ACK_ECN,
            Self::Ack(_) => FrameType::ACK,
            Self::ResetStream(_) => FrameType::RESET_STREAM,
            Self::StopSending(_) => FrameType::STOP_SENDING,
            Self::Handshake(_) => FrameType::HANDSHAKE,
            Self::Stream(f) => f.header().frame_type(),
            Self::MaxData(_) => FrameType::MAX_DATA,
            Self::MaxStreamData { .. } => FrameType::MAX_STREAM_DATA,
            Self::MaxStreams { dir: Dir::Bi, .. } => FrameType::MAX_STREAMS_BIDI,
            Self::MaxStreams { dir: Dir::Uni, .. } => FrameType::MAX_STREAMS_UNI,
            Self::DataBlocked(_) => FrameType::DATA_BLOCKED,
            Self::StreamDataBlocked { .. } => FrameType::STREAM_DATA_BLOCKED,
            Self::StreamsBlocked { dir: Dir::Bi, .. } => FrameType::STREAMS_BLOCKED_BIDI,
            Self::StreamsBlocked { dir: Dir::Uni, .. } => FrameType::STREAMS_BLOCKED_UNI,
            Self::ConnectionClose(close) => close.frame_type(),
            Self::HandshakeDone => FrameType::HANDSHAKE_DONE,
            Self::NewConnectionId(_) => FrameType::NEW_CONNECTION_ID,
            Self::RetireConnectionId(_) => FrameType::RETIRE_CONNECTION_ID,
            Self::PathChallenge(_) => FrameType::PATH_CHALLENGE,
            Self::PathResponse(_) => FrameType::PATH_RESPONSE,
            Self::Message(m) => m.header().frame_type(),
            Self::Lane(f) => f.header.frame_type(),
            Self::LaneSkip(_) => FrameType::LANE_SKIP,
            Self::MaxLaneData { .. } => FrameType::MAX_LANE_DATA,
            Self::MaxLanesData(_) => FrameType::MAX_LANES_DATA,
            Self::FecSource(_) => FrameType::FEC_SOURCE,
            Self::FecRepair(_) => FrameType::FEC_REPAIR,
        }
    }

    /// Whether receiving this frame obliges the receiver to send an acknowledgement
    /// (RFC 9002 §2: all frames but ACK, PADDING and CONNECTION_CLOSE).
    pub fn is_ack_eliciting(&self) -> bool {
        !matches!(
            self,
            Self::Padding(_) | Self::Ack(_) | Self::ConnectionClose(_)
        )
    }

    /// Whether this is a probing frame (RFC 9000 §9.1): a packet of probing frames only does
    /// not move the connection to the address it came from.
    pub fn is_probing(&self) -> bool {
        matches!(
            self,
            Self::Padding(_)
                | Self::PathChallenge(_)
                | Self::PathResponse(_)
                | Self::NewConnectionId(_)
        )
    }

    /// Bytes [`encode`](Self::encode) writes.
    pub fn encoded_len(&self) -> usize {
        let one = |x: &VarInt| 1 + x.size();
        let two = |x: &VarInt, y: &VarInt| 1 + x.size() + y.size();
        match self {
            Self::Padding(n) => *n,
            Self::Ping | Self::HandshakeDone => 1,
            Self::PathChallenge(_) | Self::PathResponse(_) => 9,
            Self::Ack(ack) => ack.encoded_len(),
            Self::ResetStream(f) => f.encoded_len(),
            Self::StopSending(f) => f.encoded_len(),
            Self::Handshake(f) => f.encoded_len(),
            Self::Stream(f) => f.encoded_len(),
            Self::MaxData(max)
            | Self::DataBlocked(max)
            | Self::MaxLanesData(max)
            | Self::RetireConnectionId(max) => one(max),
            Self::NewConnectionId(f) => f.encoded_len(),
            Self::MaxStreams { count: x, .. } | Self::StreamsBlocked { limit: x, .. } => one(x),
            Self::MaxStreamData { id, max: x }
            | Self::StreamDataBlocked { id, limit: x }
            | Self::MaxLaneData { lane: id, max: x } => two(id, x),
            Self::ConnectionClose(f) => f.encoded_len(),
            Self::Message(f) => f.encoded_len(),
            Self::Lane(f) => f.encoded_len(),
            Self::LaneSkip(f) => f.encoded_len(),
            Self::FecSource(f) => f.encoded_len(),
            Self::FecRepair(f) => f.encoded_len(),
        }
    }

    /// Writes the frame. STREAM and MESSAGE frames are written with an explicit length, so the
    /// result can be placed anywhere in a payload.
    ///
    /// # Panics
    /// Only if `buf` runs out of capacity (the `BufMut` contract); a `Vec<u8>` grows instead.
    pub fn encode<B: BufMut>(&self, buf: &mut B) {
        let ty = |buf: &mut B| buf.put_u8(self.frame_type().value() as u8);
        match self {
            Self::Padding(n) => buf.put_bytes(0, *n),
            Self::Ping | Self::HandshakeDone => ty(buf),
            Self::PathChallenge(data) | Self::PathResponse(data) => {
                ty(buf);
                buf.put_slice(data);
            }
            Self::Ack(ack) => ack.write(buf),
            Self::ResetStream(f) => f.encode(buf),
            Self::StopSending(f) => f.encode(buf),
            Self::Handshake(f) => f.encode(buf),
            Self::Stream(f) => f.encode(buf),
            Self::NewConnectionId(f) => f.encode(buf),
            Self::MaxData(x)
            | Self::DataBlocked(x)
            | Self::MaxLanesData(x)
            | Self::RetireConnectionId(x)
            | Self::MaxStreams { count: x, .. }
            | Self::StreamsBlocked { limit: x, .. } => {
                ty(buf);
                x.encode(buf);
            }
            Self::MaxStreamData { id, max: x }
            | Self::StreamDataBlocked { id, limit: x }
            | Self::MaxLaneData { lane: id, max: x } => {
                ty(buf);
                id.encode(buf);
                x.encode(buf);
            }
            Self::ConnectionClose(f) => f.encode(buf),
            Self::Message(f) => f.encode(buf),
            Self::Lane(f) => f.encode(buf),
            Self::LaneSkip(f) => f.encode(buf),
            Self::FecSource(f) => f.encode(buf),
            Self::FecRepair(f) => f.encode(buf),
        }
    }
}

/// The most data bytes a frame with `overhead` bytes of fields before its (optional) length
/// field can carry in `space` bytes; `None` if the fields alone do not fit.
///
/// With `explicit_len`, the length field's size depends on the answer, so each of the four
/// varint sizes is tried and the best kept.
pub(crate) fn data_capacity(space: usize, overhead: usize, explicit_len: bool) -> Option<usize> {
    let room = space.checked_sub(overhead)?;
    if !explicit_len {
        return Some(room);
    }
    // (size of the length field, largest value it can hold) — RFC 9000 §16.
    const SIZES: [(usize, u64); 4] = [
        (1, (1 << 6) - 1),
        (2, (1 << 14) - 1),
        (4, (1 << 30) - 1),
        (8, (1 << 62) - 1),
    ];
    SIZES
        .iter()
        .filter_map(|&(size, max)| {
            let n = room.checked_sub(size)?;
            let n = n.min(usize::try_from(max).unwrap_or(usize::MAX));
            (varint_size(n as u64) <= size).then_some(n)
        })
        .max()
}
