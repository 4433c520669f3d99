//! Writing headers, with the positions needed to finish the packet afterwards.

use bytes::BufMut;

use super::{
    FIXED_BIT, Header, KEY_PHASE_BIT, LENGTH_FIELD_SIZE, LONG_FORM_BIT, MAX_LONG_PACKET_LENGTH,
    SPIN_BIT, VERSION_NEGOTIATION,
};
use crate::wire::cid::ConnectionId;
use crate::wire::packet::EncodeError;
use crate::wire::packet_number::PacketNumber;
use crate::wire::varint::varint_size;

/// Where the parts of a freshly written header sit, relative to the header's first byte, so
/// that the packet assembler can back-patch the `length` field once the payload is known and
/// apply header protection once the payload is sealed.
#[must_use = "the length field must be back-patched and header protection applied"]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartialEncode {
    header_len: usize,
    pn: Option<(usize, usize)>,
    length_offset: Option<usize>,
}

impl PartialEncode {
    /// Bytes of the header, packet number included (the associated data for sealing).
    pub fn header_len(&self) -> usize {
        self.header_len
    }

    /// Offset of the packet number, for the packet types that carry one.
    pub fn pn_offset(&self) -> Option<usize> {
        self.pn.map(|(offset, _)| offset)
    }

    /// Length of the packet number in bytes, for the packet types that carry one.
    pub fn pn_len(&self) -> Option<usize> {
        self.pn.map(|(_, len)| len)
    }

    /// Offset of the 2-byte `length` field (Initial and Handshake packets).
    pub fn length_offset(&self) -> Option<usize> {
        self.length_offset
    }

    /// Writes the `length` field of a long-header packet: `packet` is the whole packet, from the
    /// header's first byte to the end of the tag. Does nothing for packets without the field.
    ///
    /// Fails if the packet is too long for the 2-byte field or too short to hold the header.
    pub fn set_length(&self, packet: &mut [u8]) -> Result<(), EncodeError> {
        let (Some(at), Some(pn_offset)) = (self.length_offset, self.pn_offset()) else {
            return Ok(());
        };
        let length = packet
            .len()
            .checked_sub(pn_offset)
            .ok_or(EncodeError::Truncated)?;
        if length > MAX_LONG_PACKET_LENGTH {
            return Err(EncodeError::LengthTooLarge(length));
        }
        let field = packet
            .get_mut(at..at + LENGTH_FIELD_SIZE)
            .ok_or(EncodeError::Truncated)?;
        // A 2-byte varint: prefix 0b01, 14 bits of value (RFC 9000 §16).
        field.copy_from_slice(&(0x4000 | length as u16).to_be_bytes());
        Ok(())
    }
}

fn long_first_byte(type_bits: u8, number: Option<&PacketNumber>) -> u8 {
    LONG_FORM_BIT | FIXED_BIT | (type_bits << 4) | number.map_or(0, PacketNumber::len_bits)
}

fn put_cid<B: BufMut>(buf: &mut B, cid: &ConnectionId) {
    // Cannot truncate: connection IDs are at most 20 bytes.
    buf.put_u8(cid.len() as u8);
    buf.put_slice(cid);
}

impl Header {
    /// Bytes [`encode`](Self::encode) writes (for Version Negotiation, the whole packet).
    pub fn encoded_len(&self) -> usize {
        let long =
            |dcid: &ConnectionId, scid: &ConnectionId| 1 + 4 + 1 + dcid.len() + 1 + scid.len();
        match self {
            Self::Initial {
                dcid,
                scid,
                token,
                number,
                ..
            } => {
                long(dcid, scid)
                    + varint_size(token.len() as u64)
                    + token.len()
                    + LENGTH_FIELD_SIZE
                    + number.len()
            }
            Self::Handshake {
                dcid, scid, number, ..
            } => long(dcid, scid) + LENGTH_FIELD_SIZE + number.len(),
            Self::Retry { dcid, scid, .. } => long(dcid, scid),
            Self::VersionNegotiation {
                dcid,
                scid,
                versions,
            } => long(dcid, scid) + versions.as_bytes().len(),
            Self::Short { dcid, number, .. } => 1 + dcid.len() + number.len(),
        }
    }

    /// Writes the header, unprotected, with a zero placeholder in the `length` field, and
    /// returns where its parts sit. For Version Negotiation this writes the whole packet.
    ///
    /// The caller then writes the payload, back-patches the length
    /// ([`PartialEncode::set_length`]), seals the payload and applies header protection;
    /// [`PacketBuilder`](crate::wire::packet::PacketBuilder) does all of that.
    ///
    /// # Panics
    /// Only if `buf` runs out of capacity (the `BufMut` contract); a `Vec<u8>` grows instead.
    pub fn encode<B: BufMut>(&self, buf: &mut B) -> PartialEncode {
        match self {
            Self::Initial {
                version,
                dcid,
                scid,
                token,
                number,
            } => {
                buf.put_u8(long_first_byte(0, Some(number)));
                buf.put_u32(*version);
                put_cid(buf, dcid);
                put_cid(buf, scid);
                // Token lengths are bounded by memory, far below 2^62.
                crate::wire::VarInt::saturating_from_u64(token.len() as u64).encode(buf);
                buf.put_slice(token);
                let length_offset = self.encoded_len() - number.len() - LENGTH_FIELD_SIZE;
                Self::finish_long(buf, number, length_offset)
            }
            Self::Handshake {
                version,
                dcid,
                scid,
                number,
            } => {
                buf.put_u8(long_first_byte(1, Some(number)));
                buf.put_u32(*version);
                put_cid(buf, dcid);
                put_cid(buf, scid);
                let length_offset = self.encoded_len() - number.len() - LENGTH_FIELD_SIZE;
                Self::finish_long(buf, number, length_offset)
            }
            Self::Retry {
                version,
                dcid,
                scid,
            } => {
                buf.put_u8(long_first_byte(2, None));
                buf.put_u32(*version);
                put_cid(buf, dcid);
                put_cid(buf, scid);
                PartialEncode {
                    header_len: self.encoded_len(),
                    pn: None,
                    length_offset: None,
                }
            }
            Self::VersionNegotiation {
                dcid,
                scid,
                versions,
            } => {
                // RFC 9000 §17.2.1: the unused bits are arbitrary; setting 0x40 makes the packet
                // look like any other long header.
                buf.put_u8(LONG_FORM_BIT | FIXED_BIT);
                buf.put_u32(VERSION_NEGOTIATION);
                put_cid(buf, dcid);
                put_cid(buf, scid);
                buf.put_slice(versions.as_bytes());
                PartialEncode {
                    header_len: self.encoded_len(),
                    pn: None,
                    length_offset: None,
                }
            }
            Self::Short {
                spin,
                key_phase,
                dcid,
                number,
            } => {
                let mut first = FIXED_BIT | number.len_bits();
                if *spin {
                    first |= SPIN_BIT;
                }
                if *key_phase {
                    first |= KEY_PHASE_BIT;
                }
                buf.put_u8(first);
                buf.put_slice(dcid);
                number.encode(buf);
                PartialEncode {
                    header_len: 1 + dcid.len() + number.len(),
                    pn: Some((1 + dcid.len(), number.len())),
                    length_offset: None,
                }
            }
        }
    }

    fn finish_long<B: BufMut>(
        buf: &mut B,
        number: &PacketNumber,
        length_offset: usize,
    ) -> PartialEncode {
        // Placeholder: a 2-byte varint 0, back-patched by `PartialEncode::set_length`.
        buf.put_u16(0x4000);
        number.encode(buf);
        let pn_offset = length_offset + LENGTH_FIELD_SIZE;
        PartialEncode {
            header_len: pn_offset + number.len(),
            pn: Some((pn_offset, number.len())),
            length_offset: Some(length_offset),
        }
    }
}
