use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

use super::*;
use crate::protect::{HEADER_MASK_LEN, HeaderKey};
use crate::wire::error::{DecodeError, DecodeErrorKind};

/// A header key with a real (if toy) mask, so that tests see protected bits change.
struct XorHeaderKey;

impl HeaderKey for XorHeaderKey {
    fn sample_size(&self) -> usize {
        4
    }
    fn mask(&self, sample: &[u8]) -> [u8; HEADER_MASK_LEN] {
        let mut mask = [0x5a; HEADER_MASK_LEN];
        for (m, s) in mask.iter_mut().zip(sample) {
            *m ^= s;
        }
        mask
    }
}

fn cid(bytes: &[u8]) -> ConnectionId {
    ConnectionId::new(bytes).unwrap()
}

/// Encodes `header` followed by `payload`, with the length back-patched.
fn packet(header: &Header, payload: &[u8]) -> (Vec<u8>, PartialEncode) {
    let mut buf = Vec::new();
    let partial = header.encode(&mut buf);
    assert_eq!(buf.len(), header.encoded_len());
    if !matches!(header, Header::VersionNegotiation { .. }) {
        assert_eq!(buf.len(), partial.header_len());
        buf.extend_from_slice(payload);
        partial.set_length(&mut buf).unwrap();
    }
    (buf, partial)
}

fn decode(buf: &[u8], local_cid_len: usize) -> Result<(Packet, Option<BytesMut>), DecodeError> {
    let (partial, rest) = PartialDecode::new(BytesMut::from(buf), local_cid_len)?;
    Ok((partial.finish(None)?, rest))
}

fn initial(token: &'static [u8], pn: u64) -> Header {
    Header::Initial {
        version: VERSION_1,
        dcid: cid(&[1, 2, 3, 4, 5, 6, 7, 8]),
        scid: cid(&[9, 9]),
        token: Bytes::from_static(token),
        number: PacketNumber::new(pn, None),
    }
}

#[test]
fn initial_layout_and_accessors() {
    let header = initial(b"tok", 0x1234);
    let (buf, partial) = packet(&header, b"payload");
    // first byte: long, fixed, type 0, pn length 2 → 0xc1.
    assert_eq!(buf[0], 0xc1);
    assert_eq!(&buf[1..5], b"WEIR");
    assert_eq!(partial.length_offset(), Some(1 + 4 + 1 + 8 + 1 + 2 + 1 + 3));
    assert_eq!(
        partial.pn_offset(),
        Some(partial.length_offset().unwrap() + 2)
    );
    let (pd, rest) = PartialDecode::new(BytesMut::from(&buf[..]), 0).unwrap();
    assert!(rest.is_none());
    assert_eq!(pd.packet_type(), PacketType::Initial);
    assert_eq!(pd.version(), Some(VERSION_1));
    assert_eq!(pd.dcid(), &cid(&[1, 2, 3, 4, 5, 6, 7, 8]));
    assert_eq!(pd.scid(), Some(&cid(&[9, 9])));
    assert_eq!(pd.token(), b"tok");
    assert_eq!(pd.len(), buf.len());
    let p = pd.finish(None).unwrap();
    assert_eq!(p.header, header);
    assert_eq!(&p.header_bytes[..], &buf[..partial.header_len()]);
    assert_eq!(&p.payload[..], b"payload");
}

#[test]
fn coalesced_packets_split_at_their_length() {
    let first = initial(b"", 0);
    let second = Header::Handshake {
        version: VERSION_1,
        dcid: cid(&[1; 8]),
        scid: cid(&[2; 8]),
        number: PacketNumber::new(300, Some(200)),
    };
    let third = Header::Short {
        spin: true,
        key_phase: false,
        dcid: cid(&[1; 8]),
        number: PacketNumber::new(7, None),
    };
    let mut datagram = packet(&first, b"one").0;
    datagram.extend(packet(&second, b"two").0);
    datagram.extend(packet(&third, b"three").0);

    let mut next = Some(BytesMut::from(&datagram[..]));
    let mut seen = Vec::new();
    while let Some(d) = next.take() {
        let (pd, rest) = PartialDecode::new(d, 8).unwrap();
        let p = pd.finish(None).unwrap();
        seen.push((p.header, p.payload.freeze()));
        next = rest;
    }
    assert_eq!(
        seen,
        [
            (first, Bytes::from_static(b"one")),
            (second, Bytes::from_static(b"two")),
            (third, Bytes::from_static(b"three")),
        ]
    );
}

#[test]
fn retry_and_version_negotiation() {
    let retry = Header::Retry {
        version: VERSION_1,
        dcid: cid(&[3; 4]),
        scid: cid(&[4; 5]),
    };
    let (buf, partial) = packet(&retry, b"token+tag");
    assert_eq!(partial.pn_offset(), None);
    let (p, _) = decode(&buf, 0).unwrap();
    assert_eq!((p.header, &p.payload[..]), (retry, &b"token+tag"[..]));

    let vn = Header::VersionNegotiation {
        dcid: cid(&[3; 4]),
        scid: cid(&[]),
        versions: VersionList::new(&[VERSION_1, 0x0a0a_0a0a]),
    };
    let (buf, _) = packet(&vn, b"");
    let (p, _) = decode(&buf, 0).unwrap();
    let Header::VersionNegotiation { versions, .. } = &p.header else {
        panic!("not VN: {:?}", p.header);
    };
    assert_eq!(
        versions.iter().collect::<Vec<_>>(),
        [VERSION_1, 0x0a0a_0a0a]
    );
    assert!(versions.contains(VERSION_1) && versions.len() == 2);
    assert_eq!(p.header, vn);
    assert!(p.payload.is_empty());
}

fn error(buf: &[u8], local_cid_len: usize) -> DecodeError {
    decode(buf, local_cid_len).map(|_| ()).unwrap_err()
}

#[test]
fn malformed_headers_name_the_problem_and_the_byte() {
    let kind_at = |buf: &[u8], cid_len| {
        let e = error(buf, cid_len);
        (e.kind, e.offset)
    };
    assert_eq!(kind_at(&[], 0), (DecodeErrorKind::EmptyPacket, 0));
    assert_eq!(kind_at(&[0x01, 0], 0), (DecodeErrorKind::FixedBitUnset, 0));
    let mut long = packet(&initial(b"", 1), b"abcd").0;
    long[0] &= !0x40;
    assert_eq!(kind_at(&long, 0), (DecodeErrorKind::FixedBitUnset, 0));
    long[0] = 0xf0; // type 3
    assert_eq!(kind_at(&long, 0), (DecodeErrorKind::UnknownPacketType, 0));
    long[0] = 0xcc; // reserved bits
    assert_eq!(kind_at(&long, 0), (DecodeErrorKind::ReservedBitsSet, 0));
    long[0] = 0xc0;
    long[4] = 0x53; // "WEIS"
    assert_eq!(
        kind_at(&long, 0),
        (DecodeErrorKind::UnsupportedVersion(0x5745_4953), 1)
    );
    let inv = VersionInvariants::parse(&long).unwrap();
    assert_eq!(
        (inv.version, inv.dcid, inv.scid),
        (0x5745_4953, &[1, 2, 3, 4, 5, 6, 7, 8][..], &[9, 9][..])
    );
    assert_eq!(VersionInvariants::parse(&[0x40, 1]), None);

    // Destination connection ID length 21.
    let mut buf = vec![0xc0, b'W', b'E', b'I', b'R', 21];
    buf.extend([0; 30]);
    assert_eq!(
        kind_at(&buf, 0),
        (DecodeErrorKind::ConnectionIdTooLong(21), 5)
    );
    // Short header with a local connection ID length over 20.
    assert_eq!(
        kind_at(&[0x40; 30], 21),
        (DecodeErrorKind::ConnectionIdTooLong(21), 1)
    );

    // Length larger than what follows.
    let mut buf = packet(&initial(b"", 1), b"abcd").0;
    buf.truncate(buf.len() - 1);
    let e = error(&buf, 0);
    assert_eq!(
        e.kind,
        DecodeErrorKind::LengthExceedsPacket {
            length: 5,
            available: 4
        }
    );
    assert_eq!(
        e.to_string(),
        format!(
            "length 5 exceeds the 4 bytes left in the datagram at byte {}",
            e.offset
        )
    );

    // Version Negotiation with a ragged version list.
    let mut buf = packet(
        &Header::VersionNegotiation {
            dcid: cid(&[]),
            scid: cid(&[]),
            versions: VersionList::new(&[VERSION_1]),
        },
        b"",
    )
    .0;
    buf.push(0);
    assert_eq!(
        kind_at(&buf, 0),
        (DecodeErrorKind::InvalidVersionList(5), 7)
    );

    // Short header cut inside its packet number: pn length 4, one byte present.
    let e = error(&[0x43, 9], 0);
    assert!(matches!(
        e.kind,
        DecodeErrorKind::UnexpectedEnd {
            needed: 4,
            available: 1,
            ..
        }
    ));
    assert_eq!(e.offset, 1);

    // Retry with its unused bits set.
    let mut buf = packet(
        &Header::Retry {
            version: VERSION_1,
            dcid: cid(&[]),
            scid: cid(&[]),
        },
        b"t",
    )
    .0;
    buf[0] |= 1;
    assert_eq!(kind_at(&buf, 0), (DecodeErrorKind::ReservedBitsSet, 0));
}

#[test]
fn header_protection_is_removed_before_the_packet_number_is_read() {
    let header = Header::Short {
        spin: false,
        key_phase: true,
        dcid: cid(&[7; 4]),
        number: PacketNumber::with_len(0x0102_0304, 4),
    };
    let (mut buf, partial) = packet(&header, &[0xee; 12]);
    let pn_offset = partial.pn_offset().unwrap();
    XorHeaderKey.protect(pn_offset, &mut buf).unwrap();
    assert_ne!(&buf[..partial.header_len()], &packet(&header, &[]).0[..]);
    let (pd, _) = PartialDecode::new(BytesMut::from(&buf[..]), 4).unwrap();
    let p = pd.finish(Some(&XorHeaderKey)).unwrap();
    assert_eq!(p.header, header);
    assert_eq!(&p.payload[..], &[0xee; 12]);

    // Too short for the sample: pn at 5, sample at 9..13, packet of 12 bytes.
    let (buf, _) = packet(&header, &[0; 3]);
    let (pd, _) = PartialDecode::new(BytesMut::from(&buf[..]), 4).unwrap();
    let e = pd.finish(Some(&XorHeaderKey)).unwrap_err();
    assert_eq!(
        e.kind,
        DecodeErrorKind::TooShortForHeaderProtection {
            needed: 13,
            available: 12
        }
    );
}

#[test]
fn length_field_limits() {
    let header = initial(b"", 1);
    let mut buf = Vec::new();
    let partial = header.encode(&mut buf);
    buf.resize(partial.pn_offset().unwrap() + MAX_LONG_PACKET_LENGTH, 0);
    partial.set_length(&mut buf).unwrap();
    buf.push(0);
    assert!(partial.set_length(&mut buf).is_err());
    assert!(partial.set_length(&mut buf[..3]).is_err());
}

fn arb_cid() -> impl Strategy<Value = ConnectionId> {
    proptest::collection::vec(any::<u8>(), 0..=ConnectionId::MAX_LEN)
        .prop_map(|b| ConnectionId::new(&b).unwrap())
}

fn arb_pn() -> impl Strategy<Value = PacketNumber> {
    (any::<u64>(), 1usize..=4).prop_map(|(x, len)| PacketNumber::with_len(x, len))
}

fn arb_header() -> impl Strategy<Value = Header> {
    let version = Just(VERSION_1);
    let token = proptest::collection::vec(any::<u8>(), 0..80).prop_map(Bytes::from);
    prop_oneof![
        (version, arb_cid(), arb_cid(), token, arb_pn()).prop_map(
            |(version, dcid, scid, token, number)| Header::Initial {
                version,
                dcid,
                scid,
                token,
                number
            }
        ),
        (version, arb_cid(), arb_cid(), arb_pn()).prop_map(|(version, dcid, scid, number)| {
            Header::Handshake {
                version,
                dcid,
                scid,
                number,
            }
        }),
        (version, arb_cid(), arb_cid()).prop_map(|(version, dcid, scid)| Header::Retry {
            version,
            dcid,
            scid
        }),
        (
            arb_cid(),
            arb_cid(),
            proptest::collection::vec(any::<u32>(), 0..5)
        )
            .prop_map(|(dcid, scid, versions)| Header::VersionNegotiation {
                dcid,
                scid,
                versions: VersionList::new(&versions)
            }),
        (any::<bool>(), any::<bool>(), arb_cid(), arb_pn()).prop_map(
            |(spin, key_phase, dcid, number)| Header::Short {
                spin,
                key_phase,
                dcid,
                number
            }
        ),
    ]
}

proptest! {
    #[test]
    fn headers_round_trip(
        header in arb_header(),
        payload in proptest::collection::vec(any::<u8>(), 0..64),
        trailing in proptest::collection::vec(any::<u8>(), 1..16),
    ) {
        let (mut buf, _) = packet(&header, &payload);
        let local = header.dcid().len();
        let (p, rest) = decode(&buf, local).unwrap();
        prop_assert_eq!(&p.header, &header);
        if !matches!(header, Header::VersionNegotiation { .. }) {
            prop_assert_eq!(&p.payload[..], &payload[..]);
        }
        prop_assert!(rest.is_none());
        // Bytes after an Initial or Handshake packet are a coalesced packet, split off intact.
        if matches!(header, Header::Initial { .. } | Header::Handshake { .. }) {
            buf.extend_from_slice(&trailing);
            let (_, rest) = decode(&buf, local).unwrap();
            prop_assert_eq!(rest.as_deref(), Some(&trailing[..]));
        }
    }

    #[test]
    fn protected_headers_round_trip(header in arb_header(), payload in proptest::collection::vec(any::<u8>(), 20..40)) {
        let (mut buf, partial) = packet(&header, &payload);
        let Some(pn_offset) = partial.pn_offset() else { return Ok(()) };
        XorHeaderKey.protect(pn_offset, &mut buf).unwrap();
        let (pd, _) = PartialDecode::new(BytesMut::from(&buf[..]), header.dcid().len()).unwrap();
        prop_assert_eq!(pd.finish(Some(&XorHeaderKey)).unwrap().header, header);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..100), cid_len in 0usize..24) {
        let len = bytes.len();
        match PartialDecode::new(BytesMut::from(&bytes[..]), cid_len) {
            Err(e) => prop_assert!(e.offset <= len),
            Ok((pd, _)) => {
                let _ = pd.clone().finish(None);
                let _ = pd.finish(Some(&XorHeaderKey));
            }
        }
    }
}
