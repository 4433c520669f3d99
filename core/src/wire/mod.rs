//! The weir wire format (DESIGN.md §3).
//!
//! - [`varint`]: QUIC variable-length integers (RFC 9000 §16).
//! - [`reader`]: the bounds-checked cursor every decoder uses.
//! - [`error`]: [`DecodeError`], which says what was wrong and at which byte.
//! - [`header`]: long and short packet headers (the weir v1 format, following the QUIC
//!   invariants of RFC 8999), connection IDs and the two-phase header decode.
//! - [`packet_number`]: packet-number truncation and reconstruction (RFC 9000 §17.1).
//! - [`frame`]: every frame type and the payload decoder.
//! - [`ack`]: ACK frames, decoded without allocation and encoded under a size cap.
//! - [`packet`]: assembling protected packets and opening received ones.
//! - [`reset`]: stateless resets and their tokens.
//!
//! Decoding never panics and never allocates more than the input justifies: every read is
//! bounds-checked, lengths are checked against the input before use, and arithmetic on wire
//! values is checked. Data-carrying fields (stream data, handshake data, messages, reasons,
//! tokens) are zero-copy `Bytes` slices of the received datagram.

pub mod ack;
mod cid;
pub mod error;
pub mod frame;
pub mod header;
pub mod packet;
pub mod packet_number;
pub mod reader;
pub mod reset;
pub mod varint;

pub use ack::{Ack, AckEncodeInfo, AckIter, EcnCounts};
pub use cid::{ConnectionId, ConnectionIdTooLong};
pub use error::{DecodeError, DecodeErrorKind, Item};
pub use frame::{Frame, FrameType};
pub use header::{
    Header, Packet, PacketType, PartialDecode, PartialEncode, SUPPORTED_VERSIONS, VERSION_1,
};
pub use packet::{EncodeError, OpenedPacket, PacketBuilder, PacketError, open_packet};
pub use packet_number::PacketNumber;
pub use reader::Reader;
pub use reset::ResetToken;
pub use varint::{VarInt, VarIntBoundsExceeded, varint_size};
