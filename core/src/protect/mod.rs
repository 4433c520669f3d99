//! Packet protection: the layer between the header and the frames (DESIGN.md §3).
//!
//! A packet is protected in two steps, mirroring QUIC (RFC 9001 §5):
//!
//! 1. **Payload protection** ([`PacketKey`]): the payload is sealed in place with the full packet
//!    number as the nonce and the plaintext header as associated data, and a tag of
//!    [`PacketKey::tag_len`] bytes is appended. Opening checks the tag and removes it; a packet
//!    that fails is dropped, never delivered.
//! 2. **Header protection** ([`HeaderKey`]): a mask computed from a sample of the sealed payload
//!    hides the packet number and the low first-byte bits (packet-number length, key phase,
//!    reserved bits).
//!
//! The traits are object-safe so that a connection can switch keys (Initial, Handshake, data
//! phase, key updates) behind `Box<dyn PacketKey>`. The first implementation,
//! [`integrity`], encrypts nothing: it appends a CRC-32C so that a datagram corrupted in flight
//! is detected (the simulator's and the tests' protection). AEAD keys from the TLS 1.3
//! handshake ([`crate::crypto`]) implement the same traits; nothing above this layer differs,
//! because every size computation asks the key for its tag length ([`max_payload`]).

pub mod integrity;

use bytes::BytesMut;

pub use integrity::{Crc32cKey, IdentityHeaderKey};

/// A packet-protection failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtectError {
    /// The tag did not match: the packet was corrupted or forged.
    #[error("packet authentication failed")]
    AuthenticationFailed,
    /// The protected payload is shorter than the tag.
    #[error("protected payload of {len} bytes is shorter than the {tag_len}-byte tag")]
    PayloadShorterThanTag {
        /// Bytes of protected payload.
        len: usize,
        /// Bytes the tag needs.
        tag_len: usize,
    },
    /// The packet ends before the header-protection sample does (RFC 9001 §5.4.2).
    #[error(
        "packet of {available} bytes is too short for the header-protection sample ({needed} bytes)"
    )]
    SampleOutOfBounds {
        /// Bytes the packet needs, counted from its start.
        needed: usize,
        /// Bytes in the packet.
        available: usize,
    },
}

/// Protects packet payloads: seal when sending, open when receiving.
pub trait PacketKey: Send {
    /// Bytes the tag adds to every packet.
    fn tag_len(&self) -> usize;

    /// Seals `payload_and_tag` in place: the payload followed by [`tag_len`](Self::tag_len)
    /// bytes that the caller reserved (their content is ignored) and that this fills with the
    /// tag. `packet_number` is the full packet number (the nonce); `header` is the plaintext
    /// header, packet number included (the associated data).
    fn seal(
        &self,
        packet_number: u64,
        header: &[u8],
        payload_and_tag: &mut [u8],
    ) -> Result<(), ProtectError>;

    /// Opens `payload_and_tag` in place and, on success, truncates the tag off so that it holds
    /// the plaintext payload. On failure the buffer's content is unspecified and must be
    /// dropped.
    fn open(
        &self,
        packet_number: u64,
        header: &[u8],
        payload_and_tag: &mut BytesMut,
    ) -> Result<(), ProtectError>;

    /// How many packets may be sealed with this key before it must be updated
    /// (RFC 9001 §6.6).
    fn confidentiality_limit(&self) -> u64;

    /// How many packets may fail to open with this key before the connection must be closed
    /// (RFC 9001 §6.6).
    fn integrity_limit(&self) -> u64;
}

/// The length of the header-protection mask: one byte for the first header byte and up to
/// four for the packet number (RFC 9001 §5.4.1).
pub const HEADER_MASK_LEN: usize = 5;

/// The header-protection sample starts this many bytes after the start of the packet number,
/// whatever the packet number's length (RFC 9001 §5.4.2).
pub const SAMPLE_OFFSET: usize = 4;

/// First-byte bits protected in a long header (RFC 9001 §5.4.1).
const LONG_PROTECTED_BITS: u8 = 0x0f;
/// First-byte bits protected in a short header (RFC 9001 §5.4.1).
const SHORT_PROTECTED_BITS: u8 = 0x1f;

/// Protects packet headers: hides the packet number and the low first-byte bits.
///
/// An implementation supplies [`sample_size`](Self::sample_size) and [`mask`](Self::mask); the
/// provided [`protect`](Self::protect) and [`unprotect`](Self::unprotect) apply the mask to the
/// right bits (RFC 9001 §5.4.1), so every key gets that bit-fiddling right by construction.
pub trait HeaderKey: Send {
    /// Bytes of sealed payload the mask is computed from (0: no header protection).
    fn sample_size(&self) -> usize;

    /// The mask for a sample of [`sample_size`](Self::sample_size) bytes.
    fn mask(&self, sample: &[u8]) -> [u8; HEADER_MASK_LEN];

    /// Applies header protection to `packet` (the whole sealed packet, from its first byte),
    /// whose packet number starts at `pn_offset`.
    fn protect(&self, pn_offset: usize, packet: &mut [u8]) -> Result<(), ProtectError> {
        apply_mask(self, pn_offset, packet, Direction::Protect)
    }

    /// Removes header protection from `packet` (the whole packet, from its first byte), whose
    /// packet number starts at `pn_offset`.
    fn unprotect(&self, pn_offset: usize, packet: &mut [u8]) -> Result<(), ProtectError> {
        apply_mask(self, pn_offset, packet, Direction::Unprotect)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Protect,
    Unprotect,
}

fn apply_mask<K: HeaderKey + ?Sized>(
    key: &K,
    pn_offset: usize,
    packet: &mut [u8],
    direction: Direction,
) -> Result<(), ProtectError> {
    let available = packet.len();
    let sample_start = pn_offset.saturating_add(SAMPLE_OFFSET);
    let needed = sample_start.saturating_add(key.sample_size());
    let out_of_bounds = ProtectError::SampleOutOfBounds { needed, available };
    let sample = packet.get(sample_start..needed).ok_or(out_of_bounds)?;
    let [first_mask, pn_mask @ ..] = key.mask(sample);
    let first = packet.first_mut().ok_or(out_of_bounds)?;
    let bits = if *first & 0x80 != 0 {
        LONG_PROTECTED_BITS
    } else {
        SHORT_PROTECTED_BITS
    };
    let plain_first = match direction {
        Direction::Protect => *first,
        Direction::Unprotect => *first ^ (first_mask & bits),
    };
    *first ^= first_mask & bits;
    let pn_len = usize::from(plain_first & 0b11) + 1;
    let pn = packet
        .get_mut(pn_offset..pn_offset.saturating_add(pn_len))
        .ok_or(out_of_bounds)?;
    for (b, m) in pn.iter_mut().zip(pn_mask) {
        *b ^= m;
    }
    Ok(())
}

/// The most frame bytes a short-header packet can carry in a datagram of `datagram_size`
/// bytes, with a destination connection ID of `cid_len` bytes, a packet number of `pn_len`
/// bytes and a tag of `tag_len` bytes (0 if the datagram cannot hold even the overhead).
///
/// For long headers, [`PacketBuilder::frame_space`](crate::wire::packet::PacketBuilder::frame_space)
/// gives the same answer for the header actually written.
#[inline]
pub fn max_payload(datagram_size: usize, cid_len: usize, pn_len: usize, tag_len: usize) -> usize {
    // Short header: first byte, destination connection ID, packet number (wire::header).
    let overhead = 1usize
        .saturating_add(cid_len)
        .saturating_add(pn_len)
        .saturating_add(tag_len);
    datagram_size.saturating_sub(overhead)
}

#[cfg(test)]
mod tests;
