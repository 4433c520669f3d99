//! Packet headers: the weir v1 wire format.
//!
//! weir v1 follows the QUIC invariants (RFC 8999): the first bit tells a long header from a
//! short one, a long header carries a 32-bit version and explicit connection IDs, and version 0
//! is Version Negotiation. Everything after the version is specific to weir v1, so a later
//! version can change it while old and new endpoints still understand each other well enough
//! to negotiate.
//!
//! ## Long header (handshake phase)
//!
//! ```text
//! first byte   1 1 T T R R P P    form=1, fixed=1, type TT, reserved RR (0), pn length PP (len-1)
//! version      u32 BE             VERSION_1 ("WEIR"); 0 = Version Negotiation
//! dcid         u8 length (≤ 20) + bytes
//! scid         u8 length (≤ 20) + bytes
//! token        varint length + bytes                 Initial only
//! length       varint: packet number + payload + tag  Initial and Handshake
//! pn           1..4 bytes (truncated packet number)   Initial and Handshake
//! payload      frames, then the protection's tag
//! ```
//!
//! Types: 0 Initial, 1 Handshake, 2 Retry (3 is undefined and rejected). The `length` field lets
//! several long-header packets share one datagram (coalescing, RFC 9000 §12.2). weir always
//! *writes* it as a 2-byte varint so that the header can be written before the payload and
//! the length back-patched in place afterwards ([`PartialEncode::set_length`]); this limits a
//! long-header packet to 16383 bytes, far above any datagram weir sends. Readers accept any
//! varint length.
//!
//! A **Retry** packet has neither `length` nor packet number: after the connection IDs, the rest
//! of the datagram is the retry token followed by the protection's tag (it is sealed with packet
//! number 0); its four low first-byte bits must be 0. A **Version Negotiation** packet (version
//! 0) is followed by a list of 32-bit supported versions and is not protected; the bits of its
//! first byte after the form bit are ignored.
//!
//! ## Short header (data phase)
//!
//! ```text
//! first byte   0 1 S R R K P P    form=0, fixed=1, spin S, reserved RR (0), key phase K, pn length
//! dcid         the receiver's own connection ID; its length is known to the receiver
//! pn           1..4 bytes
//! payload      frames, then the tag, to the end of the datagram
//! ```
//!
//! Header protection (see [`protect`](crate::protect)) masks the low 4 (long) or 5 (short) bits
//! of the first byte and the packet number bytes, so reserved bits and the packet-number length
//! can only be read after it has been removed; hence the two-phase decode
//! [`PartialDecode::new`] → [`PartialDecode::finish`].

mod decode;
mod encode;
#[cfg(test)]
mod tests;

use bytes::Bytes;

use super::cid::ConnectionId;
use super::packet_number::PacketNumber;

pub use decode::{Packet, PartialDecode, VersionInvariants};
pub use encode::PartialEncode;

/// weir v1: the ASCII bytes "WEIR".
pub const VERSION_1: u32 = 0x5745_4952;

/// The version number of Version Negotiation packets (RFC 8999 §6).
pub const VERSION_NEGOTIATION: u32 = 0;

/// The versions this implementation speaks, most preferred first.
pub const SUPPORTED_VERSIONS: &[u32] = &[VERSION_1];

/// Whether this implementation speaks `version`.
#[inline]
pub fn is_supported_version(version: u32) -> bool {
    SUPPORTED_VERSIONS.contains(&version)
}

/// First-byte bit: long header form (RFC 8999 §5.1).
pub(crate) const LONG_FORM_BIT: u8 = 0x80;
/// First-byte bit: fixed bit, always 1 in weir v1 (RFC 9000 §17.2).
pub(crate) const FIXED_BIT: u8 = 0x40;
/// Long header: the reserved bits, protected, must be 0 (RFC 9000 §17.2).
pub(crate) const LONG_RESERVED_BITS: u8 = 0x0c;
/// Short header: the spin bit (RFC 9000 §17.3.1).
pub(crate) const SPIN_BIT: u8 = 0x20;
/// Short header: the reserved bits, protected, must be 0 (RFC 9000 §17.3.1).
pub(crate) const SHORT_RESERVED_BITS: u8 = 0x18;
/// Short header: the key phase bit (RFC 9000 §17.3.1).
pub(crate) const KEY_PHASE_BIT: u8 = 0x04;
/// The packet-number length bits (length − 1).
pub(crate) const PN_LEN_BITS: u8 = 0x03;
/// Retry: the four low first-byte bits, unused in weir v1 and required to be 0.
pub(crate) const RETRY_UNUSED_BITS: u8 = 0x0f;

/// Bytes weir writes for a long header's `length` field (a 2-byte varint, see the module doc).
pub const LENGTH_FIELD_SIZE: usize = 2;

/// The largest value of a 2-byte varint, and so the longest long-header packet weir writes
/// (counted from the packet number on).
pub const MAX_LONG_PACKET_LENGTH: usize = (1 << 14) - 1;

/// The kind of a packet, as told by its first byte (and version).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketType {
    /// Long header type 0: the client's first flight and the server's reply.
    Initial,
    /// Long header type 1: the rest of the handshake.
    Handshake,
    /// Long header type 2: the server asks the client to retry with a token.
    Retry,
    /// Long header with version 0: the versions the sender speaks.
    VersionNegotiation,
    /// Short header: the data phase.
    Short,
}

/// A decoded (or to-be-encoded) packet header.
///
/// Packet numbers are truncated as on the wire; [`PacketNumber::expand`] restores them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Header {
    /// An Initial packet.
    Initial {
        /// The version (one of [`SUPPORTED_VERSIONS`]).
        version: u32,
        /// Destination connection ID.
        dcid: ConnectionId,
        /// Source connection ID.
        scid: ConnectionId,
        /// The address-validation token from a Retry, or empty.
        token: Bytes,
        /// The truncated packet number.
        number: PacketNumber,
    },
    /// A Handshake packet.
    Handshake {
        /// The version.
        version: u32,
        /// Destination connection ID.
        dcid: ConnectionId,
        /// Source connection ID.
        scid: ConnectionId,
        /// The truncated packet number.
        number: PacketNumber,
    },
    /// A Retry packet; the retry token is its (sealed) payload.
    Retry {
        /// The version.
        version: u32,
        /// Destination connection ID (the client's source ID).
        dcid: ConnectionId,
        /// Source connection ID (chosen by the server).
        scid: ConnectionId,
    },
    /// A Version Negotiation packet (unprotected).
    VersionNegotiation {
        /// Destination connection ID (the client's source ID).
        dcid: ConnectionId,
        /// Source connection ID (the client's destination ID).
        scid: ConnectionId,
        /// The versions the sender speaks.
        versions: VersionList,
    },
    /// A short-header (data phase) packet.
    Short {
        /// The latency spin bit (RFC 9000 §17.4).
        spin: bool,
        /// Which of the two current packet keys protects the payload (RFC 9001 §6).
        key_phase: bool,
        /// Destination connection ID.
        dcid: ConnectionId,
        /// The truncated packet number.
        number: PacketNumber,
    },
}

impl Header {
    /// The packet's type.
    pub fn packet_type(&self) -> PacketType {
        match self {
            Self::Initial { .. } => PacketType::Initial,
            Self::Handshake { .. } => PacketType::Handshake,
            Self::Retry { .. } => PacketType::Retry,
            Self::VersionNegotiation { .. } => PacketType::VersionNegotiation,
            Self::Short { .. } => PacketType::Short,
        }
    }

    /// Whether the header is a long one.
    pub fn is_long(&self) -> bool {
        !matches!(self, Self::Short { .. })
    }

    /// The destination connection ID.
    pub fn dcid(&self) -> &ConnectionId {
        match self {
            Self::Initial { dcid, .. }
            | Self::Handshake { dcid, .. }
            | Self::Retry { dcid, .. }
            | Self::VersionNegotiation { dcid, .. }
            | Self::Short { dcid, .. } => dcid,
        }
    }

    /// The source connection ID (long headers only).
    pub fn scid(&self) -> Option<&ConnectionId> {
        match self {
            Self::Initial { scid, .. }
            | Self::Handshake { scid, .. }
            | Self::Retry { scid, .. }
            | Self::VersionNegotiation { scid, .. } => Some(scid),
            Self::Short { .. } => None,
        }
    }

    /// The version (long headers only; 0 for Version Negotiation).
    pub fn version(&self) -> Option<u32> {
        match self {
            Self::Initial { version, .. }
            | Self::Handshake { version, .. }
            | Self::Retry { version, .. } => Some(*version),
            Self::VersionNegotiation { .. } => Some(VERSION_NEGOTIATION),
            Self::Short { .. } => None,
        }
    }

    /// The truncated packet number, for the packet types that carry one.
    pub fn number(&self) -> Option<PacketNumber> {
        match self {
            Self::Initial { number, .. }
            | Self::Handshake { number, .. }
            | Self::Short { number, .. } => Some(*number),
            Self::Retry { .. } | Self::VersionNegotiation { .. } => None,
        }
    }
}

/// The list of versions in a Version Negotiation packet: 32-bit big-endian values, kept as
/// their wire bytes (zero-copy on decode).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VersionList(Bytes);

impl VersionList {
    /// A list holding `versions` (allocates once: Version Negotiation is rare and rate-limited
    /// by the endpoint).
    pub fn new(versions: &[u32]) -> Self {
        let bytes: Vec<u8> = versions.iter().flat_map(|v| v.to_be_bytes()).collect();
        Self(bytes.into())
    }

    /// A list from its wire bytes; `None` unless the length is a multiple of 4.
    pub fn from_bytes(bytes: Bytes) -> Option<Self> {
        bytes.len().is_multiple_of(4).then_some(Self(bytes))
    }

    /// The wire bytes.
    pub fn as_bytes(&self) -> &Bytes {
        &self.0
    }

    /// Number of versions.
    pub fn len(&self) -> usize {
        self.0.len() / 4
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The versions, in wire order.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.0
            .chunks_exact(4)
            .map(|c| c.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b)))
    }

    /// Whether `version` is listed.
    pub fn contains(&self, version: u32) -> bool {
        self.iter().any(|v| v == version)
    }
}
