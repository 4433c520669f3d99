//! Integrity-only protection: a CRC-32C tag, no encryption (DESIGN.md §3).
//!
//! [`Crc32cKey`] appends a 4-byte CRC-32C (Castagnoli) over the packet number, the header and
//! the payload, so that a datagram damaged in flight — a flipped bit anywhere, a truncation, a
//! packet-number mix-up — fails to open and is dropped instead of delivered. CRC-32C detects
//! every error of up to 3 flipped bits in packets of weir's sizes and every burst of up to
//! 32 bits.
//!
//! It is **not** cryptographic: anyone on the path can read and rewrite packets and recompute
//! the tag. It exists so that the whole stack runs with the real protection layer in place
//! (tag space accounted for, packets dropped on failure) where encryption would only cost time:
//! the simulator and tests, behind `Security::InsecureIntegrityOnly`; real endpoints use AEAD
//! keys from TLS 1.3 ([`crate::crypto`]). Its header protection, [`IdentityHeaderKey`], is the
//! identity.

use bytes::BytesMut;

use super::{HEADER_MASK_LEN, HeaderKey, PacketKey, ProtectError};

/// Bytes of the CRC-32C tag.
pub const TAG_LEN: usize = 4;

/// Integrity-only payload protection with a CRC-32C tag.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Crc32cKey;

impl Crc32cKey {
    /// The tag: CRC-32C over the packet number (8 bytes, big-endian), the header and the
    /// payload.
    #[inline]
    pub fn tag(packet_number: u64, header: &[u8], payload: &[u8]) -> [u8; TAG_LEN] {
        let crc = crc32c::crc32c(&packet_number.to_be_bytes());
        let crc = crc32c::crc32c_append(crc, header);
        crc32c::crc32c_append(crc, payload).to_be_bytes()
    }
}

impl PacketKey for Crc32cKey {
    #[inline]
    fn tag_len(&self) -> usize {
        TAG_LEN
    }

    fn seal(
        &self,
        packet_number: u64,
        header: &[u8],
        payload_and_tag: &mut [u8],
    ) -> Result<(), ProtectError> {
        let len = payload_and_tag.len();
        let body_len = len
            .checked_sub(TAG_LEN)
            .ok_or(ProtectError::PayloadShorterThanTag {
                len,
                tag_len: TAG_LEN,
            })?;
        let (payload, tag) = payload_and_tag.split_at_mut(body_len);
        tag.copy_from_slice(&Self::tag(packet_number, header, payload));
        Ok(())
    }

    fn open(
        &self,
        packet_number: u64,
        header: &[u8],
        payload_and_tag: &mut BytesMut,
    ) -> Result<(), ProtectError> {
        let len = payload_and_tag.len();
        let body_len = len
            .checked_sub(TAG_LEN)
            .ok_or(ProtectError::PayloadShorterThanTag {
                len,
                tag_len: TAG_LEN,
            })?;
        let (payload, tag) = payload_and_tag.split_at(body_len);
        if Self::tag(packet_number, header, payload) != tag {
            return Err(ProtectError::AuthenticationFailed);
        }
        payload_and_tag.truncate(body_len);
        Ok(())
    }

    /// No limit: nothing is encrypted, so nothing can wear out.
    fn confidentiality_limit(&self) -> u64 {
        u64::MAX
    }

    /// No limit: a CRC offers no protection against forgery to begin with, so counting
    /// failures would add nothing.
    fn integrity_limit(&self) -> u64 {
        u64::MAX
    }
}

/// Header protection that changes nothing (sample size 0), paired with [`Crc32cKey`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IdentityHeaderKey;

impl HeaderKey for IdentityHeaderKey {
    #[inline]
    fn sample_size(&self) -> usize {
        0
    }

    #[inline]
    fn mask(&self, _sample: &[u8]) -> [u8; HEADER_MASK_LEN] {
        [0; HEADER_MASK_LEN]
    }

    #[inline]
    fn protect(&self, _pn_offset: usize, _packet: &mut [u8]) -> Result<(), ProtectError> {
        Ok(())
    }

    #[inline]
    fn unprotect(&self, _pn_offset: usize, _packet: &mut [u8]) -> Result<(), ProtectError> {
        Ok(())
    }
}
