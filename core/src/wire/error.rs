//! Decoding errors: what was wrong with the input, and where.
//!
//! Every decoder in [`wire`](crate::wire) reports malformed input as a [`DecodeError`], never by
//! panicking. The error names the problem ([`DecodeErrorKind`]), the byte offset at which it was
//! found (counted from the start of the buffer being decoded: the datagram for headers, the
//! packet payload for frames unless the caller supplied a base offset), and, inside a frame, the
//! frame's type. Its `Display` reads like "truncated varint (needed 4 bytes, 2 available) at byte
//! 17 in STREAM frame".

use std::fmt;

use super::frame::FrameType;

/// A decoding failure: what was wrong ([`kind`](Self::kind)), at which byte
/// ([`offset`](Self::offset)), and inside which frame type, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// Byte offset of the offending item, from the start of the decoded buffer.
    pub offset: usize,
    /// What was wrong.
    pub kind: DecodeErrorKind,
    /// The type of the frame being decoded when the error was found; `None` outside frames
    /// (headers) and while reading the frame type itself.
    pub frame_type: Option<FrameType>,
}

impl DecodeError {
    /// An error of `kind` at `offset`, outside any frame.
    #[inline]
    pub fn new(offset: usize, kind: DecodeErrorKind) -> Self {
        Self {
            offset,
            kind,
            frame_type: None,
        }
    }

    /// The same error, attributed to a frame of type `frame_type`.
    #[inline]
    #[must_use]
    pub fn in_frame(mut self, frame_type: FrameType) -> Self {
        self.frame_type = Some(frame_type);
        self
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.kind, self.offset)?;
        if let Some(ty) = self.frame_type {
            write!(f, " in {ty} frame")?;
        }
        Ok(())
    }
}

// The kind is part of the message, so it is not also reported as the source.
impl std::error::Error for DecodeError {}

/// The kind of item a decoder was reading when the input ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Item {
    /// A single byte (a type byte, a connection ID length).
    Byte,
    /// A 16-bit big-endian integer.
    U16,
    /// A 32-bit big-endian integer (a version).
    U32,
    /// A QUIC variable-length integer (RFC 9000 §16).
    Varint,
    /// A truncated packet number (1 to 4 bytes).
    PacketNumber,
    /// A byte string whose length was given (data, token, reason, connection ID).
    Bytes,
    /// The gap/range pairs of an ACK frame (at least 2 bytes per announced range).
    AckRanges,
}

impl fmt::Display for Item {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Byte => "byte",
            Self::U16 => "16-bit integer",
            Self::U32 => "32-bit integer",
            Self::Varint => "varint",
            Self::PacketNumber => "packet number",
            Self::Bytes => "byte string",
            Self::AckRanges => "ACK ranges",
        })
    }
}

/// What was wrong with the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// The input ended in the middle of an item.
    #[error("truncated {what} (needed {needed} bytes, {available} available)")]
    UnexpectedEnd {
        /// What was being read.
        what: Item,
        /// Bytes the item needs.
        needed: usize,
        /// Bytes that were left.
        available: usize,
    },
    /// A datagram with no bytes at all.
    #[error("empty datagram")]
    EmptyPacket,
    /// A frame type that weir v1 does not define.
    #[error("unknown frame type {0:#x}")]
    UnknownFrameType(u64),
    /// Long-header packet type 3, which weir v1 does not define.
    #[error("unknown long-header packet type")]
    UnknownPacketType,
    /// A long header names a version this implementation does not speak (the endpoint may answer
    /// with Version Negotiation; see [`header::VersionInvariants`](super::header::VersionInvariants)).
    #[error("unsupported version {0:#010x}")]
    UnsupportedVersion(u32),
    /// The fixed bit (0x40 of the first byte) is 0 (RFC 8999 leaves it to the version; weir v1
    /// requires it, like RFC 9000 §17.2).
    #[error("fixed bit is unset")]
    FixedBitUnset,
    /// Reserved header bits are not zero after header protection was removed.
    #[error("reserved header bits are set")]
    ReservedBitsSet,
    /// A connection ID longer than [`ConnectionId::MAX_LEN`](super::ConnectionId::MAX_LEN).
    #[error("connection ID of {0} bytes exceeds the maximum of 20")]
    ConnectionIdTooLong(usize),
    /// A long header's `length` field runs past the end of the datagram.
    #[error("length {length} exceeds the {available} bytes left in the datagram")]
    LengthExceedsPacket {
        /// The length field's value.
        length: u64,
        /// Bytes that followed the length field.
        available: usize,
    },
    /// A Version Negotiation packet whose version list is not a whole number of 4-byte versions.
    #[error("version list of {0} bytes is not a multiple of 4")]
    InvalidVersionList(usize),
    /// The packet is too short for the header-protection sample (RFC 9001 §5.4.2).
    #[error("packet too short for header protection: needed {needed} bytes, {available} available")]
    TooShortForHeaderProtection {
        /// Bytes the sample needs, from the start of the packet.
        needed: usize,
        /// Bytes in the packet.
        available: usize,
    },
    /// A protected packet whose payload, once opened, holds no frame (RFC 9000 §12.4).
    #[error("packet carries no frames")]
    NoFrames,
    /// An ACK range that would go below packet number 0 (RFC 9000 §19.3.1).
    #[error("ACK range underflows packet number 0")]
    InvalidAckRange,
    /// `offset + length` of STREAM or HANDSHAKE data exceeds 2^62 - 1 (RFC 9000 §19.8).
    #[error("data offset + length exceeds 2^62 - 1")]
    StreamOffsetOverflow,
    /// A stream count above 2^60 in MAX_STREAMS or STREAMS_BLOCKED (RFC 9000 §19.11).
    #[error("stream count {0} exceeds 2^60")]
    MaxStreamsTooLarge(u64),
    /// A LANE frame names a delivery mode weir v1 does not define.
    #[error("unknown lane delivery mode {0}")]
    UnknownLaneMode(u8),
    /// A LANE fragment lies outside the message it claims to belong to.
    #[error("fragment at {offset} of {len} bytes exceeds its message of {message_len} bytes")]
    FragmentOutOfBounds {
        /// Where the fragment starts in its message.
        offset: u64,
        /// The fragment's length.
        len: usize,
        /// The length the frame gives the message.
        message_len: u64,
    },
    /// A NEW_CONNECTION_ID frame whose connection ID is empty or longer than 20 bytes
    /// (RFC 9000 §19.15).
    #[error("connection ID length {0} is outside 1..=20")]
    InvalidConnectionIdLength(usize),
    /// A NEW_CONNECTION_ID frame asks to retire IDs up to and past its own (RFC 9000 §19.15).
    #[error("retire_prior_to {retire_prior_to} exceeds the sequence number {sequence}")]
    RetirePriorToAboveSequence {
        /// The frame's Retire Prior To field.
        retire_prior_to: u64,
        /// The frame's sequence number.
        sequence: u64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_what_where_and_frame() {
        let e = DecodeError::new(
            17,
            DecodeErrorKind::UnexpectedEnd {
                what: Item::Varint,
                needed: 4,
                available: 2,
            },
        )
        .in_frame(FrameType::STREAM);
        assert_eq!(
            e.to_string(),
            "truncated varint (needed 4 bytes, 2 available) at byte 17 in STREAM frame"
        );
        let e = DecodeError::new(0, DecodeErrorKind::FixedBitUnset);
        assert_eq!(e.to_string(), "fixed bit is unset at byte 0");
    }
}
