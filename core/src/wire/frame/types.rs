//! The weir v1 frame-type registry.

use std::fmt;

/// A frame type, as the varint that starts every frame.
///
/// The weir v1 registry (values follow RFC 9000 §19 where the frame has a QUIC counterpart):
///
/// | value | frame |
/// |---|---|
/// | `0x00` | PADDING |
/// | `0x01` | PING |
/// | `0x02`, `0x03` | ACK, ACK with ECN counts |
/// | `0x04` | RESET_STREAM |
/// | `0x05` | STOP_SENDING |
/// | `0x06` | HANDSHAKE (opaque handshake bytes at an offset, like QUIC's CRYPTO) |
/// | `0x08..=0x0f` | STREAM; bits OFF `0x04`, LEN `0x02`, FIN `0x01` |
/// | `0x10` | MAX_DATA |
/// | `0x11` | MAX_STREAM_DATA |
/// | `0x12`, `0x13` | MAX_STREAMS (bidirectional, unidirectional) |
/// | `0x14` | DATA_BLOCKED |
/// | `0x15` | STREAM_DATA_BLOCKED |
/// | `0x16`, `0x17` | STREAMS_BLOCKED (bidirectional, unidirectional) |
/// | `0x18` | NEW_CONNECTION_ID |
/// | `0x19` | RETIRE_CONNECTION_ID |
/// | `0x1a` | PATH_CHALLENGE |
/// | `0x1b` | PATH_RESPONSE |
/// | `0x1c` | CONNECTION_CLOSE (transport error) |
/// | `0x1d` | CONNECTION_CLOSE (application error) |
/// | `0x1e` | HANDSHAKE_DONE |
/// | `0x30..=0x33` | MESSAGE; bits LEN `0x01`, DEADLINE `0x02` |
/// | `0x34` | FEC_SOURCE |
/// | `0x35` | FEC_REPAIR |
/// | `0x38..=0x3b` | LANE; bits LEN `0x01`, FRAG `0x02` |
/// | `0x3c` | LANE_SKIP |
/// | `0x3d` | MAX_LANE_DATA |
/// | `0x3e` | MAX_LANES_DATA |
///
/// Every other value is rejected with
/// [`UnknownFrameType`](crate::wire::DecodeErrorKind::UnknownFrameType).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FrameType(u64);

impl FrameType {
    /// PADDING (RFC 9000 §19.1).
    pub const PADDING: Self = Self(0x00);
    /// PING (RFC 9000 §19.2).
    pub const PING: Self = Self(0x01);
    /// ACK (RFC 9000 §19.3).
    pub const ACK: Self = Self(0x02);
    /// ACK with ECN counts (RFC 9000 §19.3).
    pub const ACK_ECN: Self = Self(0x03);
    /// RESET_STREAM (RFC 9000 §19.4).
    pub const RESET_STREAM: Self = Self(0x04);
    /// STOP_SENDING (RFC 9000 §19.5).
    pub const STOP_SENDING: Self = Self(0x05);
    /// HANDSHAKE: weir's counterpart of CRYPTO (RFC 9000 §19.6).
    pub const HANDSHAKE: Self = Self(0x06);
    /// STREAM with no flag bits; flags are OR-ed in (RFC 9000 §19.8).
    pub const STREAM: Self = Self(0x08);
    /// MAX_DATA (RFC 9000 §19.9).
    pub const MAX_DATA: Self = Self(0x10);
    /// MAX_STREAM_DATA (RFC 9000 §19.10).
    pub const MAX_STREAM_DATA: Self = Self(0x11);
    /// MAX_STREAMS for bidirectional streams (RFC 9000 §19.11).
    pub const MAX_STREAMS_BIDI: Self = Self(0x12);
    /// MAX_STREAMS for unidirectional streams (RFC 9000 §19.11).
    pub const MAX_STREAMS_UNI: Self = Self(0x13);
    /// DATA_BLOCKED (RFC 9000 §19.12).
    pub const DATA_BLOCKED: Self = Self(0x14);
    /// STREAM_DATA_BLOCKED (RFC 9000 §19.13).
    pub const STREAM_DATA_BLOCKED: Self = Self(0x15);
    /// STREAMS_BLOCKED for bidirectional streams (RFC 9000 §19.14).
    pub const STREAMS_BLOCKED_BIDI: Self = Self(0x16);
    /// STREAMS_BLOCKED for unidirectional streams (RFC 9000 §19.14).
    pub const STREAMS_BLOCKED_UNI: Self = Self(0x17);
    /// NEW_CONNECTION_ID (RFC 9000 §19.15): a spare connection ID for the peer.
    pub const NEW_CONNECTION_ID: Self = Self(0x18);
    /// RETIRE_CONNECTION_ID (RFC 9000 §19.16): the sender stops using one of the receiver's IDs.
    pub const RETIRE_CONNECTION_ID: Self = Self(0x19);
    /// PATH_CHALLENGE (RFC 9000 §19.17): eight unpredictable bytes a path must echo.
    pub const PATH_CHALLENGE: Self = Self(0x1a);
    /// PATH_RESPONSE (RFC 9000 §19.18): the bytes of a PATH_CHALLENGE, echoed.
    pub const PATH_RESPONSE: Self = Self(0x1b);
    /// CONNECTION_CLOSE for transport errors (RFC 9000 §19.19).
    pub const CONNECTION_CLOSE: Self = Self(0x1c);
    /// CONNECTION_CLOSE for application errors (RFC 9000 §19.19).
    pub const APPLICATION_CLOSE: Self = Self(0x1d);
    /// HANDSHAKE_DONE (RFC 9000 §19.20).
    pub const HANDSHAKE_DONE: Self = Self(0x1e);
    /// MESSAGE with no flag bits: an unreliable message with weir's game extras (channel,
    /// sequence, deadline hint), in the spirit of RFC 9221 DATAGRAM.
    pub const MESSAGE: Self = Self(0x30);
    /// FEC_SOURCE: a lane's frames in one packet, a source symbol of an FEC group.
    pub const FEC_SOURCE: Self = Self(0x34);
    /// FEC_REPAIR: a repair shard of a lane's FEC group.
    pub const FEC_REPAIR: Self = Self(0x35);
    /// LANE with no flag bits: a message (or a fragment of one) on a numbered lane.
    pub const LANE: Self = Self(0x38);
    /// LANE_SKIP: a reliable lane's sender gave up the messages below a number.
    pub const LANE_SKIP: Self = Self(0x3c);
    /// MAX_LANE_DATA: flow-control credit of one reliable lane.
    pub const MAX_LANE_DATA: Self = Self(0x3d);
    /// MAX_LANES_DATA: flow-control credit of all reliable lanes together.
    pub const MAX_LANES_DATA: Self = Self(0x3e);

    /// STREAM flag: an offset field is present.
    pub const STREAM_OFF_BIT: u64 = 0x04;
    /// STREAM flag: a length field is present.
    pub const STREAM_LEN_BIT: u64 = 0x02;
    /// STREAM flag: the frame ends the stream.
    pub const STREAM_FIN_BIT: u64 = 0x01;
    /// MESSAGE flag: a length field is present.
    pub const MESSAGE_LEN_BIT: u64 = 0x01;
    /// MESSAGE flag: a deadline hint is present.
    pub const MESSAGE_DEADLINE_BIT: u64 = 0x02;
    /// LANE flag: a length field is present.
    pub const LANE_LEN_BIT: u64 = 0x01;
    /// LANE flag: the frame carries a fragment (message length and fragment offset follow).
    pub const LANE_FRAG_BIT: u64 = 0x02;

    /// A frame type from its wire value (any value; unknown ones are rejected when decoding).
    #[inline]
    pub const fn new(value: u64) -> Self {
        Self(value)
    }

    /// The wire value.
    #[inline]
    pub const fn value(self) -> u64 {
        self.0
    }

    /// Whether this is one of the STREAM types `0x08..=0x0f`.
    #[inline]
    pub const fn is_stream(self) -> bool {
        self.0 >= 0x08 && self.0 <= 0x0f
    }

    /// Whether this is one of the MESSAGE types `0x30..=0x33`.
    #[inline]
    pub const fn is_message(self) -> bool {
        self.0 >= 0x30 && self.0 <= 0x33
    }

    /// Whether this is one of the LANE types `0x38..=0x3b`.
    #[inline]
    pub const fn is_lane(self) -> bool {
        self.0 >= 0x38 && self.0 <= 0x3b
    }

    /// The frame's name, or `None` for a value weir v1 does not define.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0x00 => "PADDING",
            0x01 => "PING",
            0x02 | 0x03 => "ACK",
            0x04 => "RESET_STREAM",
            0x05 => "STOP_SENDING",
            0x06 => "HANDSHAKE",
            0x08..=0x0f => "STREAM",
            0x10 => "MAX_DATA",
            0x11 => "MAX_STREAM_DATA",
            0x12 | 0x13 => "MAX_STREAMS",
            0x14 => "DATA_BLOCKED",
            0x15 => "STREAM_DATA_BLOCKED",
            0x16 | 0x17 => "STREAMS_BLOCKED",
            0x18 => "NEW_CONNECTION_ID",
            0x19 => "RETIRE_CONNECTION_ID",
            0x1a => "PATH_CHALLENGE",
            0x1b => "PATH_RESPONSE",
            0x1c | 0x1d => "CONNECTION_CLOSE",
            0x1e => "HANDSHAKE_DONE",
            0x30..=0x33 => "MESSAGE",
            0x34 => "FEC_SOURCE",
            0x35 => "FEC_REPAIR",
            0x38..=0x3b => "LANE",
            0x3c => "LANE_SKIP",
            0x3d => "MAX_LANE_DATA",
            0x3e => "MAX_LANES_DATA",
            _ => return None,
        })
    }
}

impl fmt::Display for FrameType {
    /// The frame's name ("STREAM", "ACK", …), or the hex value for an unknown type.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "unknown frame type {:#x}", self.0),
        }
    }
}

impl fmt::Debug for FrameType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FrameType({:#04x} {self})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(FrameType::new(0x0b).to_string(), "STREAM");
        assert_eq!(FrameType::ACK_ECN.to_string(), "ACK");
        assert_eq!(FrameType::new(0x33).to_string(), "MESSAGE");
        assert_eq!(FrameType::new(0x07).to_string(), "unknown frame type 0x7");
        assert_eq!(format!("{:?}", FrameType::PING), "FrameType(0x01 PING)");
        assert!(FrameType::new(0x0f).is_stream() && !FrameType::new(0x10).is_stream());
        assert!(FrameType::new(0x31).is_message() && !FrameType::new(0x34).is_message());
    }
}
