//! Lane frames: messages on numbered lanes with a delivery mode (DESIGN.md §3a), and the
//! control frames of reliable lanes.
//!
//! ```text
//! LANE (types 0x38..=0x3b: 0b0011_10 FRAG LEN)
//! lane        varint
//! info        1 byte: delivery mode (bits 0-2), DEADLINE (0x08), COPY (0x10: a redundant
//!             copy of a message sent before, for loss repair), COMPRESSED (0x20: the message
//!             is a compressed envelope, see `lanes::compression`; set on every fragment and
//!             copy of it); bits 0x40 and 0x80 are reserved (sent as zero, ignored)
//! sequence    varint   the message's number within the lane (per direction)
//! offset      varint, reliable modes only: where the message starts in the lane's byte space
//!             (the flow-control position, as a stream offset)
//! msg length  varint, if FRAG: the whole message's length
//! frag offset varint, if FRAG: where this fragment's data sits in the message
//! deadline    varint, if DEADLINE: the message's time to live in milliseconds
//! length      varint, if LEN (otherwise the data runs to the end of the packet)
//! data        without FRAG, the whole message
//!
//! LANE_SKIP (0x3c): lane, sequence, offset — the sender gave up every message below this
//!     sequence number that the receiver does not have (past its deadline, or superseded);
//!     the next live message starts at this offset.
//! MAX_LANE_DATA (0x3d): lane, maximum — flow-control credit of one reliable lane (an offset).
//! MAX_LANES_DATA (0x3e): maximum — credit of all reliable lanes together (a sum of offsets).
//! ```

use bytes::{BufMut, Bytes};

use super::{FrameType, data_capacity};
use crate::wire::error::{DecodeError, DecodeErrorKind};
use crate::wire::reader::Reader;
use crate::wire::varint::{VarInt, varint_size};

/// How a lane delivers its messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DeliveryMode {
    /// Every message, exactly once, in the order sent (a lost message holds back the ones
    /// after it).
    #[default]
    ReliableOrdered,
    /// Every message, exactly once, as soon as it is complete (no head-of-line blocking).
    ReliableUnordered,
    /// Only the newest matters: a message superseded by a newer one is neither retransmitted
    /// nor delivered, and none is delivered after a newer one.
    ReliableSequenced,
    /// At most once, in any order, never retransmitted.
    Unreliable,
    /// At most once and never after a newer one: stale messages are dropped at the receiver.
    UnreliableSequenced,
}

impl DeliveryMode {
    /// Every mode, in wire order.
    pub const ALL: [Self; 5] = [
        Self::ReliableOrdered,
        Self::ReliableUnordered,
        Self::ReliableSequenced,
        Self::Unreliable,
        Self::UnreliableSequenced,
    ];

    /// Whether lost data is sent again.
    pub const fn is_reliable(self) -> bool {
        matches!(
            self,
            Self::ReliableOrdered | Self::ReliableUnordered | Self::ReliableSequenced
        )
    }

    /// Whether only messages newer than every delivered one are delivered.
    pub const fn is_sequenced(self) -> bool {
        matches!(self, Self::ReliableSequenced | Self::UnreliableSequenced)
    }

    /// The mode's wire value.
    pub const fn to_wire(self) -> u8 {
        match self {
            Self::ReliableOrdered => 0,
            Self::ReliableUnordered => 1,
            Self::ReliableSequenced => 2,
            Self::Unreliable => 3,
            Self::UnreliableSequenced => 4,
        }
    }

    /// The mode a wire value stands for.
    pub const fn from_wire(bits: u8) -> Option<Self> {
        Some(match bits {
            0 => Self::ReliableOrdered,
            1 => Self::ReliableUnordered,
            2 => Self::ReliableSequenced,
            3 => Self::Unreliable,
            4 => Self::UnreliableSequenced,
            _ => return None,
        })
    }

    /// The mode's name in kebab case, as command lines and reports spell it
    /// (`reliable-ordered` … `unreliable-sequenced`); [`FromStr`](std::str::FromStr) reads it
    /// back, in any case.
    pub const fn name(self) -> &'static str {
        match self {
            Self::ReliableOrdered => "reliable-ordered",
            Self::ReliableUnordered => "reliable-unordered",
            Self::ReliableSequenced => "reliable-sequenced",
            Self::Unreliable => "unreliable",
            Self::UnreliableSequenced => "unreliable-sequenced",
        }
    }
}

impl std::fmt::Display for DeliveryMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not a delivery mode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown delivery mode {0:?} (expected reliable-ordered, reliable-unordered, \
     reliable-sequenced, unreliable or unreliable-sequenced)"
)]
pub struct UnknownDeliveryMode(pub String);

impl std::str::FromStr for DeliveryMode {
    type Err = UnknownDeliveryMode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|m| m.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownDeliveryMode(s.to_owned()))
    }
}

const MODE_MASK: u8 = 0x07;
const DEADLINE_BIT: u8 = 0x08;
const COPY_BIT: u8 = 0x10;
const COMPRESSED_BIT: u8 = 0x20;

/// Where a fragment sits in its message (absent when the frame carries the whole message).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment {
    /// The whole message's length.
    pub message_len: VarInt,
    /// Where this fragment's data starts in the message.
    pub offset: VarInt,
}

/// A decoded LANE frame: `data` is a zero-copy slice of the packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaneFrame {
    /// The header fields.
    pub header: LaneHeader,
    /// The fragment's bytes (the whole message without [`LaneHeader::fragment`]).
    pub data: Bytes,
}

/// The header of a LANE frame, written on its own so that the sender can copy the message
/// behind it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LaneHeader {
    /// The lane.
    pub lane: VarInt,
    /// The lane's delivery mode.
    pub mode: DeliveryMode,
    /// The message's number within the lane.
    pub sequence: VarInt,
    /// Reliable modes: where the message starts in the lane's byte space (ignored otherwise).
    pub offset: VarInt,
    /// Where the fragment sits in its message, if the message is split.
    pub fragment: Option<Fragment>,
    /// The message's time to live in milliseconds, if it has a deadline.
    pub deadline_ms: Option<VarInt>,
    /// Whether this is a redundant copy of a message sent before (loss repair).
    pub copy: bool,
    /// Whether the message is compressed (its bytes are an envelope the receiver
    /// decompresses; see [`crate::lanes::compression`]).
    pub compressed: bool,
    /// Bytes of data that follow the header.
    pub len: usize,
    /// Whether to write the length field (only the last frame of a packet may omit it).
    pub explicit_len: bool,
}

impl LaneHeader {
    /// The frame type, flags included.
    pub fn frame_type(&self) -> FrameType {
        let mut ty = FrameType::LANE.value();
        if self.fragment.is_some() {
            ty |= FrameType::LANE_FRAG_BIT;
        }
        if self.explicit_len {
            ty |= FrameType::LANE_LEN_BIT;
        }
        FrameType::new(ty)
    }

    /// Header bytes before the (optional) length field.
    fn overhead(&self) -> usize {
        let mut n = 1 + self.lane.size() + 1 + self.sequence.size();
        if self.mode.is_reliable() {
            n += self.offset.size();
        }
        if let Some(f) = self.fragment {
            n += f.message_len.size() + f.offset.size();
        }
        if let Some(d) = self.deadline_ms {
            n += d.size();
        }
        n
    }

    /// Bytes [`encode`](Self::encode) writes (the header only).
    pub fn encoded_len(&self) -> usize {
        let len_field = if self.explicit_len {
            varint_size(self.len as u64)
        } else {
            0
        };
        self.overhead() + len_field
    }

    /// The most data bytes a frame with these fields carries in `space` bytes of packet, or
    /// `None` when not even the header fits (the length field's size is accounted for).
    pub fn max_data_len(&self, space: usize) -> Option<usize> {
        data_capacity(space, self.overhead(), self.explicit_len)
    }

    /// Writes the header; the caller writes exactly [`len`](Self::len) data bytes next.
    pub fn encode<B: BufMut>(&self, buf: &mut B) {
        buf.put_u8(self.frame_type().value() as u8);
        self.lane.encode(buf);
        let mut info = self.mode.to_wire();
        if self.deadline_ms.is_some() {
            info |= DEADLINE_BIT;
        }
        if self.copy {
            info |= COPY_BIT;
        }
        if self.compressed {
            info |= COMPRESSED_BIT;
        }
        buf.put_u8(info);
        self.sequence.encode(buf);
        if self.mode.is_reliable() {
            self.offset.encode(buf);
        }
        if let Some(f) = self.fragment {
            f.message_len.encode(buf);
            f.offset.encode(buf);
        }
        if let Some(d) = self.deadline_ms {
            d.encode(buf);
        }
        if self.explicit_len {
            VarInt::saturating_from_u64(self.len as u64).encode(buf);
        }
    }
}

impl LaneFrame {
    /// Bytes [`encode`](Self::encode) writes.
    pub fn encoded_len(&self) -> usize {
        self.header.encoded_len() + self.data.len()
    }

    /// Writes the frame (its header says whether with an explicit length).
    pub fn encode<B: BufMut>(&self, buf: &mut B) {
        self.header.encode(buf);
        buf.put_slice(&self.data);
    }

    /// The message's length (the fragment's, or the data's when whole).
    pub fn message_len(&self) -> u64 {
        self.header
            .fragment
            .map_or(self.data.len() as u64, |f| f.message_len.into_inner())
    }

    /// Where the data sits in the message.
    pub fn fragment_offset(&self) -> u64 {
        self.header.fragment.map_or(0, |f| f.offset.into_inner())
    }

    /// Decodes the body of a frame of type `ty` from `r`, which reads `src`.
    pub(super) fn decode(
        ty: FrameType,
        r: &mut Reader<'_>,
        src: &Bytes,
    ) -> Result<Self, DecodeError> {
        let bits = ty.value();
        let lane = r.varint()?;
        let info_at = r.offset();
        let info = r.u8()?;
        let mode = DeliveryMode::from_wire(info & MODE_MASK).ok_or_else(|| {
            DecodeError::new(info_at, DecodeErrorKind::UnknownLaneMode(info & MODE_MASK))
        })?;
        let sequence = r.varint()?;
        let offset = if mode.is_reliable() {
            r.varint()?
        } else {
            VarInt::ZERO
        };
        let fragment_at = r.offset();
        let fragment = if bits & FrameType::LANE_FRAG_BIT != 0 {
            Some(Fragment {
                message_len: r.varint()?,
                offset: r.varint()?,
            })
        } else {
            None
        };
        let deadline_ms = if info & DEADLINE_BIT != 0 {
            Some(r.varint()?)
        } else {
            None
        };
        let data = if bits & FrameType::LANE_LEN_BIT != 0 {
            r.length_prefixed()?
        } else {
            r.take_rest()
        };
        let len = data.len();
        let message_len = fragment.map_or(len as u64, |f| f.message_len.into_inner());
        if let Some(f) = fragment {
            let end = f.offset.into_inner().checked_add(len as u64);
            if end.is_none_or(|end| end > message_len) {
                return Err(DecodeError::new(
                    fragment_at,
                    DecodeErrorKind::FragmentOutOfBounds {
                        offset: f.offset.into_inner(),
                        len,
                        message_len,
                    },
                ));
            }
        }
        // The message must end inside the varint range of the lane's byte space.
        super::stream::check_end(
            offset,
            usize::try_from(message_len).unwrap_or(usize::MAX),
            fragment_at,
        )?;
        Ok(Self {
            header: LaneHeader {
                lane,
                mode,
                sequence,
                offset,
                fragment,
                deadline_ms,
                copy: info & COPY_BIT != 0,
                compressed: info & COMPRESSED_BIT != 0,
                len,
                explicit_len: bits & FrameType::LANE_LEN_BIT != 0,
            },
            data: src.slice(data),
        })
    }
}

/// LANE_SKIP: the sender's floor on a reliable lane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LaneSkip {
    /// The lane.
    pub lane: VarInt,
    /// Every message below this number is delivered or given up.
    pub sequence: VarInt,
    /// Where message `sequence` starts in the lane's byte space.
    pub offset: VarInt,
}

impl LaneSkip {
    /// Bytes [`encode`](Self::encode) writes.
    pub fn encoded_len(&self) -> usize {
        1 + self.lane.size() + self.sequence.size() + self.offset.size()
    }

    /// Writes the frame.
    pub fn encode<B: BufMut>(&self, buf: &mut B) {
        buf.put_u8(FrameType::LANE_SKIP.value() as u8);
        self.lane.encode(buf);
        self.sequence.encode(buf);
        self.offset.encode(buf);
    }

    pub(super) fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            lane: r.varint()?,
            sequence: r.varint()?,
            offset: r.varint()?,
        })
    }
}

#[cfg(test)]
mod tests;
