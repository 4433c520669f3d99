//! Decoding a payload into frames.

use bytes::Bytes;

use super::cid::NewConnectionId;
use super::control::{ConnectionClose, HandshakeData, ResetStream, StopSending};
use super::fec::{FecRepair, FecSource};
use super::lane::{LaneFrame, LaneSkip};
use super::message::MessageFrame;
use super::stream::StreamFrame;
use super::{Dir, Frame, FrameType, MAX_STREAM_COUNT};
use crate::wire::ack::Ack;
use crate::wire::error::{DecodeError, DecodeErrorKind};
use crate::wire::reader::Reader;
use crate::wire::varint::VarInt;

/// Decodes the frames of a (plaintext) payload, one per call to `next`.
///
/// Yields `Err` for the first malformed frame and then stops (the iterator is fused): after a
/// decoding error the rest of the payload cannot be framed. A run of zero bytes is one
/// [`Frame::Padding`]. Decoding never panics, never allocates, and hands out zero-copy slices
/// of the payload.
#[derive(Debug, Clone)]
pub struct Iter {
    payload: Bytes,
    pos: usize,
    base: usize,
    failed: bool,
}

impl Iter {
    /// Frames of `payload`; error offsets count from its first byte.
    pub fn new(payload: Bytes) -> Self {
        Self::with_offset(payload, 0)
    }

    /// Frames of `payload`, reporting error offsets as `base + position` (pass the payload's
    /// offset in the datagram to get datagram offsets).
    pub fn with_offset(payload: Bytes, base: usize) -> Self {
        Self {
            payload,
            pos: 0,
            base,
            failed: false,
        }
    }

    /// Bytes not decoded yet.
    pub fn remaining(&self) -> usize {
        self.payload.len().saturating_sub(self.pos)
    }

    fn decode_one(&mut self) -> Result<Frame, DecodeError> {
        let src = &self.payload;
        let mut r = Reader::resume(src, self.pos, self.base);
        let type_at = r.offset();
        let ty = FrameType::new(r.varint()?.into_inner());
        if ty.name().is_none() {
            return Err(DecodeError::new(
                type_at,
                DecodeErrorKind::UnknownFrameType(ty.value()),
            ));
        }
        let frame = decode_body(ty, &mut r, src).map_err(|e| e.in_frame(ty))?;
        self.pos = r.position();
        Ok(frame)
    }
}

/// Reads a stream count, which may not exceed 2^60 (RFC 9000 §19.11, §19.14).
fn stream_count(r: &mut Reader<'_>) -> Result<VarInt, DecodeError> {
    let at = r.offset();
    let count = r.varint()?;
    if count.into_inner() > MAX_STREAM_COUNT {
        return Err(DecodeError::new(
            at,
            DecodeErrorKind::MaxStreamsTooLarge(count.into_inner()),
        ));
    }
    Ok(count)
}

/// The eight bytes of a PATH_CHALLENGE or PATH_RESPONSE.
fn path_data(r: &mut Reader<'_>) -> Result<[u8; 8], DecodeError> {
    let mut data = [0; 8];
    data.copy_from_slice(r.slice(8)?);
    Ok(data)
}

fn decode_body(ty: FrameType, r: &mut Reader<'_>, src: &Bytes) -> Result<Frame, DecodeError> {
    Ok(match ty {
        FrameType::PADDING => Frame::Padding(1 + r.skip_zeros()),
        FrameType::PING => Frame::Ping,
        FrameType::ACK | FrameType::ACK_ECN => Frame::Ack(Ack::decode(ty, r, src)?),
        FrameType::RESET_STREAM => Frame::ResetStream(ResetStream::decode(r)?),
        FrameType::STOP_SENDING => Frame::StopSending(StopSending::decode(r)?),
        FrameType::HANDSHAKE => Frame::Handshake(HandshakeData::decode(r, src)?),
        ty if ty.is_stream() => Frame::Stream(StreamFrame::decode(ty, r, src)?),
        FrameType::MAX_DATA => Frame::MaxData(r.varint()?),
        FrameType::MAX_STREAM_DATA => Frame::MaxStreamData {
            id: r.varint()?,
            max: r.varint()?,
        },
        FrameType::MAX_STREAMS_BIDI => Frame::MaxStreams {
            dir: Dir::Bi,
            count: stream_count(r)?,
        },
        FrameType::MAX_STREAMS_UNI => Frame::MaxStreams {
            dir: Dir::Uni,
            count: stream_count(r)?,
        },
        FrameType::DATA_BLOCKED => Frame::DataBlocked(r.varint()?),
        FrameType::STREAM_DATA_BLOCKED => Frame::StreamDataBlocked {
            id: r.varint()?,
            limit: r.varint()?,
        },
        FrameType::STREAMS_BLOCKED_BIDI => Frame::StreamsBlocked {
            dir: Dir::Bi,
            limit: stream_count(r)?,
        },
        FrameType::STREAMS_BLOCKED_UNI => Frame::StreamsBlocked {
            dir: Dir::Uni,
            limit: stream_count(r)?,
        },
        FrameType::CONNECTION_CLOSE | FrameType::APPLICATION_CLOSE => {
            Frame::ConnectionClose(ConnectionClose::decode(ty, r, src)?)
        }
        FrameType::HANDSHAKE_DONE => Frame::HandshakeDone,
        FrameType::NEW_CONNECTION_ID => Frame::NewConnectionId(NewConnectionId::decode(r)?),
        FrameType::RETIRE_CONNECTION_ID => Frame::RetireConnectionId(r.varint()?),
        FrameType::PATH_CHALLENGE => Frame::PathChallenge(path_data(r)?),
        FrameType::PATH_RESPONSE => Frame::PathResponse(path_data(r)?),
        ty if ty.is_message() => Frame::Message(MessageFrame::decode(ty, r, src)?),
        ty if ty.is_lane() => Frame::Lane(LaneFrame::decode(ty, r, src)?),
        FrameType::LANE_SKIP => Frame::LaneSkip(LaneSkip::decode(r)?),
        FrameType::MAX_LANE_DATA => Frame::MaxLaneData {
            lane: r.varint()?,
            max: r.varint()?,
        },
        FrameType::MAX_LANES_DATA => Frame::MaxLanesData(r.varint()?),
        FrameType::FEC_SOURCE => Frame::FecSource(FecSource::decode(r, src)?),
        FrameType::FEC_REPAIR => Frame::FecRepair(FecRepair::decode(r, src)?),
        // Unknown types are rejected by the caller before the body is read; this arm only
        // keeps the match exhaustive.
        ty => return Err(r.error(DecodeErrorKind::UnknownFrameType(ty.value()))),
    })
}

impl Iterator for Iter {
    type Item = Result<Frame, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.payload.len() {
            return None;
        }
        let result = self.decode_one();
        self.failed = result.is_err();
        Some(result)
    }
}

impl std::iter::FusedIterator for Iter {}
