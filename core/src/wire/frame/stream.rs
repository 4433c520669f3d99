//! STREAM frames (types `0x08..=0x0f`, RFC 9000 §19.8).
//!
//! ```text
//! type      0b00001 OFF LEN FIN
//! stream id varint
//! offset    varint, if OFF (otherwise 0)
//! length    varint, if LEN (otherwise the data runs to the end of the packet)
//! data
//! ```

use bytes::{BufMut, Bytes};

use super::{FrameType, data_capacity};
use crate::wire::error::{DecodeError, DecodeErrorKind};
use crate::wire::reader::Reader;
use crate::wire::varint::{VarInt, varint_size};

/// A decoded STREAM frame: `data` is a zero-copy slice of the packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamFrame {
    /// The stream.
    pub id: VarInt,
    /// Offset of `data` in the stream.
    pub offset: VarInt,
    /// Whether the stream ends with this frame's data.
    pub fin: bool,
    /// The stream bytes.
    pub data: Bytes,
}

impl StreamFrame {
    /// The header of this frame (with an explicit length, so it can sit anywhere in a packet).
    pub fn header(&self) -> StreamHeader {
        StreamHeader {
            id: self.id,
            offset: self.offset,
            len: self.data.len(),
            fin: self.fin,
            explicit_len: true,
        }
    }

    /// Bytes [`encode`](Self::encode) writes.
    pub fn encoded_len(&self) -> usize {
        self.header().encoded_len() + self.data.len()
    }

    /// Writes the frame, with an explicit length.
    pub fn encode<B: BufMut>(&self, buf: &mut B) {
        self.header().encode(buf);
        buf.put_slice(&self.data);
    }

    /// Decodes the body of a frame of type `ty` from `r`, which reads `src`.
    pub(super) fn decode(
        ty: FrameType,
        r: &mut Reader<'_>,
        src: &Bytes,
    ) -> Result<Self, DecodeError> {
        let bits = ty.value();
        let id = r.varint()?;
        let offset_at = r.offset();
        let offset = if bits & FrameType::STREAM_OFF_BIT != 0 {
            r.varint()?
        } else {
            VarInt::ZERO
        };
        let data = if bits & FrameType::STREAM_LEN_BIT != 0 {
            r.length_prefixed()?
        } else {
            r.take_rest()
        };
        check_end(offset, data.len(), offset_at)?;
        Ok(Self {
            id,
            offset,
            fin: bits & FrameType::STREAM_FIN_BIT != 0,
            data: src.slice(data),
        })
    }
}

/// Checks that data of `len` bytes at `offset` ends at or below 2^62 − 1 (RFC 9000 §19.8);
/// `at` is where the offset field sits.
pub(super) fn check_end(offset: VarInt, len: usize, at: usize) -> Result<(), DecodeError> {
    let end = u64::try_from(len)
        .ok()
        .and_then(|len| offset.into_inner().checked_add(len));
    match end {
        Some(end) if end <= VarInt::MAX.into_inner() => Ok(()),
        _ => Err(DecodeError::new(at, DecodeErrorKind::StreamOffsetOverflow)),
    }
}

/// The header of a STREAM frame, written on its own so that the sender can copy the data
/// straight from its send buffer behind it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamHeader {
    /// The stream.
    pub id: VarInt,
    /// Offset of the data in the stream (the OFF field is omitted when 0).
    pub offset: VarInt,
    /// Bytes of data that will follow the header.
    pub len: usize,
    /// Whether the frame ends the stream.
    pub fin: bool,
    /// Whether to write the length field. Without it the data must run to the end of the
    /// packet, so only the last frame of a packet may omit it.
    pub explicit_len: bool,
}

impl StreamHeader {
    /// The frame type, flags included.
    pub fn frame_type(&self) -> FrameType {
        let mut ty = FrameType::STREAM.value();
        if self.offset != VarInt::ZERO {
            ty |= FrameType::STREAM_OFF_BIT;
        }
        if self.explicit_len {
            ty |= FrameType::STREAM_LEN_BIT;
        }
        if self.fin {
            ty |= FrameType::STREAM_FIN_BIT;
        }
        FrameType::new(ty)
    }

    /// Bytes [`encode`](Self::encode) writes (the header only).
    pub fn encoded_len(&self) -> usize {
        let mut len = 1 + self.id.size();
        if self.offset != VarInt::ZERO {
            len += self.offset.size();
        }
        if self.explicit_len {
            len += varint_size(self.len as u64);
        }
        len
    }

    /// Writes the header; the caller writes exactly [`len`](Self::len) data bytes next.
    pub fn encode<B: BufMut>(&self, buf: &mut B) {
        buf.put_u8(self.frame_type().value() as u8);
        self.id.encode(buf);
        if self.offset != VarInt::ZERO {
            self.offset.encode(buf);
        }
        if self.explicit_len {
            VarInt::saturating_from_u64(self.len as u64).encode(buf);
        }
    }

    /// The most data bytes a STREAM frame for stream `id` at `offset` can carry in `space`
    /// bytes of packet, or `None` when not even its header fits. With `explicit_len` the
    /// length field's own size is accounted for (it depends on the amount of data).
    pub fn max_data_len(
        id: VarInt,
        offset: VarInt,
        space: usize,
        explicit_len: bool,
    ) -> Option<usize> {
        let mut overhead = 1 + id.size();
        if offset != VarInt::ZERO {
            overhead += offset.size();
        }
        data_capacity(space, overhead, explicit_len)
    }
}
