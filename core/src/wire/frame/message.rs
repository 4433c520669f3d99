//! MESSAGE frames (types `0x30..=0x33`): unreliable messages with weir's game extras.
//!
//! ```text
//! type      0b0011_00 DEADLINE LEN
//! channel   varint   the application's channel (ordering/priority domain)
//! sequence  varint   the message's number within its channel
//! deadline  varint, if DEADLINE: time to live in milliseconds; a receiver may drop the
//!           message once it is older than this
//! length    varint, if LEN (otherwise the data runs to the end of the packet)
//! data
//! ```
//!
//! Like RFC 9221 DATAGRAM frames, MESSAGE frames are acknowledged (they are ack-eliciting) but
//! never retransmitted.

use bytes::{BufMut, Bytes};

use super::{FrameType, data_capacity};
use crate::wire::error::DecodeError;
use crate::wire::reader::Reader;
use crate::wire::varint::{VarInt, varint_size};

/// A decoded MESSAGE frame: `data` is a zero-copy slice of the packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageFrame {
    /// The application's channel.
    pub channel: VarInt,
    /// The message's sequence number within its channel.
    pub sequence: VarInt,
    /// Deadline hint: the message's time to live in milliseconds, if the sender gave one.
    pub deadline_ms: Option<VarInt>,
    /// The message.
    pub data: Bytes,
}

impl MessageFrame {
    /// The header of this frame (with an explicit length).
    pub fn header(&self) -> MessageHeader {
        MessageHeader {
            channel: self.channel,
            sequence: self.sequence,
            deadline_ms: self.deadline_ms,
            len: self.data.len(),
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
        let channel = r.varint()?;
        let sequence = r.varint()?;
        let deadline_ms = if bits & FrameType::MESSAGE_DEADLINE_BIT != 0 {
            Some(r.varint()?)
        } else {
            None
        };
        let data = if bits & FrameType::MESSAGE_LEN_BIT != 0 {
            r.length_prefixed()?
        } else {
            r.take_rest()
        };
        Ok(Self {
            channel,
            sequence,
            deadline_ms,
            data: src.slice(data),
        })
    }
}

/// The header of a MESSAGE frame, written on its own so that the sender can copy the message
/// behind it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageHeader {
    /// The application's channel.
    pub channel: VarInt,
    /// The message's sequence number within its channel.
    pub sequence: VarInt,
    /// Deadline hint (time to live in milliseconds).
    pub deadline_ms: Option<VarInt>,
    /// Bytes of data that will follow the header.
    pub len: usize,
    /// Whether to write the length field (only the last frame of a packet may omit it).
    pub explicit_len: bool,
}

impl MessageHeader {
    /// The frame type, flags included.
    pub fn frame_type(&self) -> FrameType {
        let mut ty = FrameType::MESSAGE.value();
        if self.deadline_ms.is_some() {
            ty |= FrameType::MESSAGE_DEADLINE_BIT;
        }
        if self.explicit_len {
            ty |= FrameType::MESSAGE_LEN_BIT;
        }
        FrameType::new(ty)
    }

    fn overhead(channel: VarInt, sequence: VarInt, deadline_ms: Option<VarInt>) -> usize {
        1 + channel.size() + sequence.size() + deadline_ms.map_or(0, VarInt::size)
    }

    /// Bytes [`encode`](Self::encode) writes (the header only).
    pub fn encoded_len(&self) -> usize {
        let len_field = if self.explicit_len {
            varint_size(self.len as u64)
        } else {
            0
        };
        Self::overhead(self.channel, self.sequence, self.deadline_ms) + len_field
    }

    /// Writes the header; the caller writes exactly [`len`](Self::len) data bytes next.
    pub fn encode<B: BufMut>(&self, buf: &mut B) {
        buf.put_u8(self.frame_type().value() as u8);
        self.channel.encode(buf);
        self.sequence.encode(buf);
        if let Some(deadline) = self.deadline_ms {
            deadline.encode(buf);
        }
        if self.explicit_len {
            VarInt::saturating_from_u64(self.len as u64).encode(buf);
        }
    }

    /// The largest message a MESSAGE frame with these fields can carry in `space` bytes of
    /// packet, or `None` when not even its header fits. Messages are never split, so a message
    /// longer than this must wait for a packet with more room.
    pub fn max_data_len(
        channel: VarInt,
        sequence: VarInt,
        deadline_ms: Option<VarInt>,
        space: usize,
        explicit_len: bool,
    ) -> Option<usize> {
        data_capacity(
            space,
            Self::overhead(channel, sequence, deadline_ms),
            explicit_len,
        )
    }
}
