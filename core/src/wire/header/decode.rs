//! Reading headers in two phases: the unprotected part first, the protected part once header
//! protection has been removed.

use std::ops::Range;

use bytes::{Bytes, BytesMut};

use super::{
    FIXED_BIT, Header, KEY_PHASE_BIT, LONG_FORM_BIT, LONG_RESERVED_BITS, PN_LEN_BITS, PacketType,
    RETRY_UNUSED_BITS, SHORT_RESERVED_BITS, SPIN_BIT, VERSION_NEGOTIATION, VersionList,
    is_supported_version,
};
use crate::protect::{HeaderKey, SAMPLE_OFFSET};
use crate::wire::cid::ConnectionId;
use crate::wire::error::{DecodeError, DecodeErrorKind};
use crate::wire::packet_number::PacketNumber;
use crate::wire::reader::Reader;

/// A packet whose unprotected header fields have been parsed; [`finish`](Self::finish) removes
/// header protection and reads the rest.
///
/// The split exists because the packet-number length and the reserved bits are protected, and
/// the right header key depends on the packet type and connection ID read here.
#[derive(Debug, Clone)]
pub struct PartialDecode {
    buf: BytesMut,
    ty: PacketType,
    version: Option<u32>,
    dcid: ConnectionId,
    scid: Option<ConnectionId>,
    token: Range<usize>,
    /// Where the packet number starts (for Retry and Version Negotiation: where the header ends).
    pn_offset: usize,
}

/// A packet with its header fully decoded and its payload still sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// The decoded header.
    pub header: Header,
    /// The plaintext header bytes, packet number included: the associated data for
    /// [`PacketKey::open`](crate::protect::PacketKey::open). For Version Negotiation, the whole
    /// packet.
    pub header_bytes: Bytes,
    /// The protected payload, tag included (for Retry: the token and the tag; for Version
    /// Negotiation: empty).
    pub payload: BytesMut,
}

/// The parsed long-header fields.
struct Long {
    ty: PacketType,
    version: u32,
    dcid: ConnectionId,
    scid: ConnectionId,
    token: Range<usize>,
    pn_offset: usize,
    end: Option<usize>,
}

fn read_cid(r: &mut Reader<'_>, len: usize) -> Result<ConnectionId, DecodeError> {
    let at = r.offset();
    if len > ConnectionId::MAX_LEN {
        return Err(DecodeError::new(
            at,
            DecodeErrorKind::ConnectionIdTooLong(len),
        ));
    }
    let bytes = r.slice(len)?;
    ConnectionId::new(bytes)
        .map_err(|e| DecodeError::new(at, DecodeErrorKind::ConnectionIdTooLong(e.0)))
}

fn read_long_cid(r: &mut Reader<'_>) -> Result<ConnectionId, DecodeError> {
    let len = r.u8()?;
    read_cid(r, usize::from(len)).map_err(|e| match e.kind {
        // Point at the length byte, which is what is wrong.
        DecodeErrorKind::ConnectionIdTooLong(_) => {
            DecodeError::new(e.offset.saturating_sub(1), e.kind)
        }
        _ => e,
    })
}

fn parse_long(r: &mut Reader<'_>, first: u8) -> Result<Long, DecodeError> {
    let version_at = r.offset();
    let version = r.u32()?;
    if version != VERSION_NEGOTIATION && !is_supported_version(version) {
        return Err(DecodeError::new(
            version_at,
            DecodeErrorKind::UnsupportedVersion(version),
        ));
    }
    let dcid = read_long_cid(r)?;
    let scid = read_long_cid(r)?;
    if version == VERSION_NEGOTIATION {
        let list_at = r.offset();
        if !r.remaining().is_multiple_of(4) {
            return Err(DecodeError::new(
                list_at,
                DecodeErrorKind::InvalidVersionList(r.remaining()),
            ));
        }
        return Ok(Long {
            ty: PacketType::VersionNegotiation,
            version,
            dcid,
            scid,
            token: 0..0,
            pn_offset: r.position(),
            end: None,
        });
    }
    if first & FIXED_BIT == 0 {
        return Err(DecodeError::new(0, DecodeErrorKind::FixedBitUnset));
    }
    let ty = match (first >> 4) & 0b11 {
        0 => PacketType::Initial,
        1 => PacketType::Handshake,
        2 => PacketType::Retry,
        _ => return Err(DecodeError::new(0, DecodeErrorKind::UnknownPacketType)),
    };
    let mut token = 0..0;
    match ty {
        PacketType::Retry => {
            return Ok(Long {
                ty,
                version,
                dcid,
                scid,
                token,
                pn_offset: r.position(),
                end: None,
            });
        }
        PacketType::Initial => token = r.length_prefixed()?,
        _ => {}
    }
    let length_at = r.offset();
    let length = r.varint()?.into_inner();
    let available = r.remaining();
    let end = usize::try_from(length)
        .ok()
        .filter(|&len| len <= available)
        .map(|len| r.position() + len)
        .ok_or(DecodeError::new(
            length_at,
            DecodeErrorKind::LengthExceedsPacket { length, available },
        ))?;
    Ok(Long {
        ty,
        version,
        dcid,
        scid,
        token,
        pn_offset: r.position(),
        end: Some(end),
    })
}

impl PartialDecode {
    /// Parses the unprotected part of the first packet in `datagram`.
    ///
    /// `local_cid_len` is the length of the connection IDs this endpoint issues, which short
    /// headers do not spell out. For a long-header packet with a `length` field, the bytes
    /// after it are split off and returned as the second element (coalesced packets, RFC 9000
    /// §12.2; `None` when nothing follows); pass them to `new` again. Error offsets count from
    /// the start of `datagram`.
    pub fn new(
        mut datagram: BytesMut,
        local_cid_len: usize,
    ) -> Result<(Self, Option<BytesMut>), DecodeError> {
        let (partial, end) = {
            let mut r = Reader::new(&datagram);
            let first = r
                .u8()
                .map_err(|_| DecodeError::new(0, DecodeErrorKind::EmptyPacket))?;
            if first & LONG_FORM_BIT == 0 {
                if first & FIXED_BIT == 0 {
                    return Err(DecodeError::new(0, DecodeErrorKind::FixedBitUnset));
                }
                let dcid = read_cid(&mut r, local_cid_len)?;
                let partial = Self {
                    ty: PacketType::Short,
                    version: None,
                    dcid,
                    scid: None,
                    token: 0..0,
                    pn_offset: r.position(),
                    buf: BytesMut::new(),
                };
                (partial, None)
            } else {
                let long = parse_long(&mut r, first)?;
                let partial = Self {
                    ty: long.ty,
                    version: Some(long.version),
                    dcid: long.dcid,
                    scid: Some(long.scid),
                    token: long.token,
                    pn_offset: long.pn_offset,
                    buf: BytesMut::new(),
                };
                (partial, long.end)
            }
        };
        let rest = match end {
            Some(end) if end < datagram.len() => Some(datagram.split_off(end)),
            _ => None,
        };
        Ok((
            Self {
                buf: datagram,
                ..partial
            },
            rest,
        ))
    }

    /// The packet's type.
    pub fn packet_type(&self) -> PacketType {
        self.ty
    }

    /// Whether the packet has a long header.
    pub fn is_long(&self) -> bool {
        self.ty != PacketType::Short
    }

    /// The destination connection ID.
    pub fn dcid(&self) -> &ConnectionId {
        &self.dcid
    }

    /// The source connection ID (long headers only).
    pub fn scid(&self) -> Option<&ConnectionId> {
        self.scid.as_ref()
    }

    /// The version (long headers only; 0 for Version Negotiation).
    pub fn version(&self) -> Option<u32> {
        self.version
    }

    /// The address-validation token of an Initial packet (empty for other packets).
    pub fn token(&self) -> &[u8] {
        self.buf.get(self.token.clone()).unwrap_or_default()
    }

    /// Bytes in this packet (not counting coalesced packets split off by [`new`](Self::new)).
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether the packet has no bytes (never true for a successfully parsed packet).
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Removes header protection with `header_key` (`None`: the header is not protected),
    /// checks the reserved bits and reads the packet number.
    ///
    /// The reserved-bit check happens before the payload is authenticated, so a
    /// [`ReservedBitsSet`](DecodeErrorKind::ReservedBitsSet) error may come from a forged or
    /// corrupted packet: drop the packet as for a failed [`open`](crate::protect::PacketKey::open)
    /// rather than closing the connection (RFC 9000 §17.2 makes it a connection error only once
    /// both protections were removed).
    pub fn finish(self, header_key: Option<&dyn HeaderKey>) -> Result<Packet, DecodeError> {
        let Self {
            mut buf,
            ty,
            version,
            dcid,
            scid,
            token,
            pn_offset,
        } = self;
        let version = version.unwrap_or_default();
        let scid = scid.unwrap_or_default();
        match ty {
            PacketType::VersionNegotiation => {
                let header_bytes = buf.freeze();
                let versions = VersionList::from_bytes(header_bytes.slice(pn_offset..)).ok_or(
                    DecodeError::new(
                        pn_offset,
                        DecodeErrorKind::InvalidVersionList(
                            header_bytes.len().saturating_sub(pn_offset),
                        ),
                    ),
                )?;
                return Ok(Packet {
                    header: Header::VersionNegotiation {
                        dcid,
                        scid,
                        versions,
                    },
                    header_bytes,
                    payload: BytesMut::new(),
                });
            }
            PacketType::Retry => {
                if buf.first().is_some_and(|b| b & RETRY_UNUSED_BITS != 0) {
                    return Err(DecodeError::new(0, DecodeErrorKind::ReservedBitsSet));
                }
                let header_bytes = buf.split_to(pn_offset).freeze();
                return Ok(Packet {
                    header: Header::Retry {
                        version,
                        dcid,
                        scid,
                    },
                    header_bytes,
                    payload: buf,
                });
            }
            PacketType::Initial | PacketType::Handshake | PacketType::Short => {}
        }

        if let Some(key) = header_key {
            let needed = pn_offset + SAMPLE_OFFSET + key.sample_size();
            let too_short = DecodeError::new(
                pn_offset,
                DecodeErrorKind::TooShortForHeaderProtection {
                    needed,
                    available: buf.len(),
                },
            );
            if needed > buf.len() {
                return Err(too_short);
            }
            key.unprotect(pn_offset, &mut buf).map_err(|_| too_short)?;
        }

        let first = buf.first().copied().unwrap_or_default();
        let reserved = match ty {
            PacketType::Short => SHORT_RESERVED_BITS,
            _ => LONG_RESERVED_BITS,
        };
        if first & reserved != 0 {
            return Err(DecodeError::new(0, DecodeErrorKind::ReservedBitsSet));
        }
        let pn_len = usize::from(first & PN_LEN_BITS) + 1;
        let truncated = Reader::resume(&buf, pn_offset, 0).packet_number(pn_len)?;
        // Always Some: the value was read from `pn_len` bytes.
        let number = PacketNumber::from_truncated(truncated, pn_len)
            .unwrap_or_else(|| PacketNumber::with_len(truncated.into(), pn_len));
        let header_bytes = buf.split_to(pn_offset + pn_len).freeze();
        let header = match ty {
            PacketType::Initial => Header::Initial {
                version,
                dcid,
                scid,
                token: header_bytes.slice(token),
                number,
            },
            PacketType::Handshake => Header::Handshake {
                version,
                dcid,
                scid,
                number,
            },
            _ => Header::Short {
                spin: first & SPIN_BIT != 0,
                key_phase: first & KEY_PHASE_BIT != 0,
                dcid,
                number,
            },
        };
        Ok(Packet {
            header,
            header_bytes,
            payload: buf,
        })
    }
}

/// The version-independent fields of a long header (RFC 8999 §5.1), readable whatever the
/// version: what an endpoint needs to answer an unsupported version with Version Negotiation.
/// Connection IDs may be up to 255 bytes here, as RFC 8999 allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionInvariants<'a> {
    /// The version.
    pub version: u32,
    /// Destination connection ID.
    pub dcid: &'a [u8],
    /// Source connection ID.
    pub scid: &'a [u8],
}

impl<'a> VersionInvariants<'a> {
    /// Reads the invariant fields of the long-header packet at the start of `datagram`; `None`
    /// for a short header or a truncated one.
    pub fn parse(datagram: &'a [u8]) -> Option<Self> {
        let mut r = Reader::new(datagram);
        let first = r.u8().ok()?;
        if first & LONG_FORM_BIT == 0 {
            return None;
        }
        let version = r.u32().ok()?;
        let dcid_len = r.u8().ok()?;
        let dcid = r.slice(usize::from(dcid_len)).ok()?;
        let scid_len = r.u8().ok()?;
        let scid = r.slice(usize::from(scid_len)).ok()?;
        Some(Self {
            version,
            dcid,
            scid,
        })
    }
}
