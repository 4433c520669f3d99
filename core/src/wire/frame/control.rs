//! Frames with a fixed set of fields: stream resets, handshake data, connection close.

use bytes::{BufMut, Bytes};

use super::FrameType;
use super::stream::check_end;
use crate::wire::error::DecodeError;
use crate::wire::reader::Reader;
use crate::wire::varint::{VarInt, varint_size};

/// RESET_STREAM (RFC 9000 §19.4): the sender abandons a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResetStream {
    /// The stream.
    pub id: VarInt,
    /// Application error code.
    pub error_code: VarInt,
    /// The stream's final size in bytes.
    pub final_size: VarInt,
}

impl ResetStream {
    /// Bytes [`encode`](Self::encode) writes.
    pub fn encoded_len(&self) -> usize {
        1 + self.id.size() + self.error_code.size() + self.final_size.size()
    }

    /// Writes the frame.
    pub fn encode<B: BufMut>(&self, buf: &mut B) {
        buf.put_u8(FrameType::RESET_STREAM.value() as u8);
        self.id.encode(buf);
        self.error_code.encode(buf);
        self.final_size.encode(buf);
    }

    pub(super) fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            id: r.varint()?,
            error_code: r.varint()?,
            final_size: r.varint()?,
        })
    }
}

/// STOP_SENDING (RFC 9000 §19.5): the receiver asks the sender to stop a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StopSending {
    /// The stream.
    pub id: VarInt,
    /// Application error code.
    pub error_code: VarInt,
}

impl StopSending {
    /// Bytes [`encode`](Self::encode) writes.
    pub fn encoded_len(&self) -> usize {
        1 + self.id.size() + self.error_code.size()
    }

    /// Writes the frame.
    pub fn encode<B: BufMut>(&self, buf: &mut B) {
        buf.put_u8(FrameType::STOP_SENDING.value() as u8);
        self.id.encode(buf);
        self.error_code.encode(buf);
    }

    pub(super) fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            id: r.varint()?,
            error_code: r.varint()?,
        })
    }
}

/// HANDSHAKE: opaque handshake bytes at an offset in the handshake byte stream (weir's
/// counterpart of QUIC's CRYPTO frame, RFC 9000 §19.6). `data` is a zero-copy slice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeData {
    /// Offset of `data` in the handshake stream.
    pub offset: VarInt,
    /// The handshake bytes.
    pub data: Bytes,
}

impl HandshakeData {
    /// Bytes of frame overhead before the data (type, offset, length).
    pub fn header_len(offset: VarInt, data_len: usize) -> usize {
        1 + offset.size() + varint_size(data_len as u64)
    }

    /// Bytes [`encode`](Self::encode) writes.
    pub fn encoded_len(&self) -> usize {
        Self::header_len(self.offset, self.data.len()) + self.data.len()
    }

    /// Writes the frame.
    pub fn encode<B: BufMut>(&self, buf: &mut B) {
        buf.put_u8(FrameType::HANDSHAKE.value() as u8);
        self.offset.encode(buf);
        VarInt::saturating_from_u64(self.data.len() as u64).encode(buf);
        buf.put_slice(&self.data);
    }

    /// The most handshake bytes a HANDSHAKE frame at `offset` can carry in `space` bytes of
    /// packet, or `None` when not even its header fits.
    pub fn max_data_len(offset: VarInt, space: usize) -> Option<usize> {
        super::data_capacity(space, 1 + offset.size(), true)
    }

    pub(super) fn decode(r: &mut Reader<'_>, src: &Bytes) -> Result<Self, DecodeError> {
        let offset_at = r.offset();
        let offset = r.varint()?;
        let data = r.length_prefixed()?;
        check_end(offset, data.len(), offset_at)?;
        Ok(Self {
            offset,
            data: src.slice(data),
        })
    }
}

/// CONNECTION_CLOSE (RFC 9000 §19.19): the connection is closed, with a reason phrase (a
/// zero-copy slice; UTF-8 by convention, not checked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionClose {
    /// A transport-level error (type `0x1c`).
    Transport {
        /// Transport error code.
        error_code: VarInt,
        /// The type of the frame that caused the error, or 0 when unknown.
        frame_type: VarInt,
        /// Human-readable reason.
        reason: Bytes,
    },
    /// An application-level error (type `0x1d`).
    Application {
        /// Application error code.
        error_code: VarInt,
        /// Human-readable reason.
        reason: Bytes,
    },
}

impl ConnectionClose {
    /// The frame type: [`FrameType::CONNECTION_CLOSE`] or [`FrameType::APPLICATION_CLOSE`].
    pub fn frame_type(&self) -> FrameType {
        match self {
            Self::Transport { .. } => FrameType::CONNECTION_CLOSE,
            Self::Application { .. } => FrameType::APPLICATION_CLOSE,
        }
    }

    /// The error code.
    pub fn error_code(&self) -> VarInt {
        match self {
            Self::Transport { error_code, .. } | Self::Application { error_code, .. } => {
                *error_code
            }
        }
    }

    /// The reason phrase.
    pub fn reason(&self) -> &Bytes {
        match self {
            Self::Transport { reason, .. } | Self::Application { reason, .. } => reason,
        }
    }

    /// Bytes [`encode`](Self::encode) writes.
    pub fn encoded_len(&self) -> usize {
        let frame_type = match self {
            Self::Transport { frame_type, .. } => frame_type.size(),
            Self::Application { .. } => 0,
        };
        let reason = self.reason().len();
        1 + self.error_code().size() + frame_type + varint_size(reason as u64) + reason
    }

    /// Writes the frame. A caller that must fit a packet truncates the reason first.
    pub fn encode<B: BufMut>(&self, buf: &mut B) {
        buf.put_u8(self.frame_type().value() as u8);
        self.error_code().encode(buf);
        if let Self::Transport { frame_type, .. } = self {
            frame_type.encode(buf);
        }
        let reason = self.reason();
        VarInt::saturating_from_u64(reason.len() as u64).encode(buf);
        buf.put_slice(reason);
    }

    pub(super) fn decode(
        ty: FrameType,
        r: &mut Reader<'_>,
        src: &Bytes,
    ) -> Result<Self, DecodeError> {
        let error_code = r.varint()?;
        Ok(if ty == FrameType::CONNECTION_CLOSE {
            let frame_type = r.varint()?;
            let reason = r.length_prefixed()?;
            Self::Transport {
                error_code,
                frame_type,
                reason: src.slice(reason),
            }
        } else {
            let reason = r.length_prefixed()?;
            Self::Application {
                error_code,
                reason: src.slice(reason),
            }
        })
    }
}
