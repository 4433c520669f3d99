use bytes::BytesMut;
use proptest::prelude::*;

use super::integrity::TAG_LEN;
use super::*;

/// A toy header key whose mask is the sample XOR a constant: enough to check that the provided
/// `protect`/`unprotect` touch exactly the right bits.
struct XorHeaderKey;

impl HeaderKey for XorHeaderKey {
    fn sample_size(&self) -> usize {
        HEADER_MASK_LEN
    }
    fn mask(&self, sample: &[u8]) -> [u8; HEADER_MASK_LEN] {
        let mut mask = [0xa5; HEADER_MASK_LEN];
        for (m, s) in mask.iter_mut().zip(sample) {
            *m ^= s;
        }
        mask
    }
}

fn sealed(pn: u64, header: &[u8], payload: &[u8]) -> BytesMut {
    let mut buf = BytesMut::from(payload);
    buf.extend_from_slice(&[0; TAG_LEN]);
    Crc32cKey.seal(pn, header, &mut buf).unwrap();
    buf
}

#[test]
fn crc_seal_open_round_trip() {
    let header = [0x41, 1, 2, 3, 4, 0x17];
    let mut buf = sealed(0x17, &header, b"hello frames");
    assert_eq!(buf.len(), 12 + TAG_LEN);
    Crc32cKey.open(0x17, &header, &mut buf).unwrap();
    assert_eq!(&buf[..], b"hello frames");
}

#[test]
fn crc_open_rejects_wrong_packet_number_and_short_payload() {
    let header = [0x41, 9];
    let mut buf = sealed(9, &header, b"x");
    assert_eq!(
        Crc32cKey.open(10, &header, &mut buf),
        Err(ProtectError::AuthenticationFailed)
    );
    let mut short = BytesMut::from(&[1u8, 2, 3][..]);
    assert_eq!(
        Crc32cKey.open(9, &header, &mut short),
        Err(ProtectError::PayloadShorterThanTag { len: 3, tag_len: 4 })
    );
    assert_eq!(
        Crc32cKey.seal(9, &header, &mut [0u8; 2]),
        Err(ProtectError::PayloadShorterThanTag { len: 2, tag_len: 4 })
    );
}

#[test]
fn identity_header_key_changes_nothing() {
    let mut packet = [0x43, 1, 2, 3, 4, 5, 6, 7];
    let copy = packet;
    IdentityHeaderKey.protect(1, &mut packet).unwrap();
    assert_eq!(packet, copy);
    IdentityHeaderKey.unprotect(1, &mut packet).unwrap();
    assert_eq!(packet, copy);
}

#[test]
fn header_mask_touches_only_protected_bits() {
    // Short header: form 0, fixed 1, spin 1; pn length 3; cid of 2 bytes; pn at offset 3.
    let mut packet: Vec<u8> = vec![0x40 | 0x20 | 0x02, 0xaa, 0xbb, 1, 2, 3];
    packet.extend(10u8..30);
    let original = packet.clone();
    XorHeaderKey.protect(3, &mut packet).unwrap();
    assert_eq!(
        packet[0] & 0xe0,
        original[0] & 0xe0,
        "form, fixed, spin untouched"
    );
    assert_eq!(&packet[1..3], &original[1..3], "connection ID untouched");
    assert_eq!(&packet[6..], &original[6..], "payload untouched");
    assert_ne!(&packet[..6], &original[..6]);
    XorHeaderKey.unprotect(3, &mut packet).unwrap();
    assert_eq!(packet, original);

    // Long header: only the low 4 bits of the first byte are masked.
    let mut long = original.clone();
    long[0] = 0xc1;
    let before = long.clone();
    XorHeaderKey.protect(3, &mut long).unwrap();
    assert_eq!(long[0] & 0xf0, 0xc0);
    XorHeaderKey.unprotect(3, &mut long).unwrap();
    assert_eq!(long, before);
}

#[test]
fn header_protection_needs_the_sample() {
    let mut packet = [0x40, 1, 2, 3, 4, 5, 6, 7];
    assert_eq!(
        XorHeaderKey.protect(1, &mut packet),
        Err(ProtectError::SampleOutOfBounds {
            needed: 10,
            available: 8
        })
    );
    assert!(XorHeaderKey.unprotect(usize::MAX, &mut packet).is_err());
}

#[test]
fn max_payload_accounts_for_header_and_tag() {
    // 1200-byte datagram, 8-byte cid, 2-byte pn, CRC tag: 1200 - 1 - 8 - 2 - 4.
    assert_eq!(max_payload(1200, 8, 2, Crc32cKey.tag_len()), 1185);
    assert_eq!(max_payload(10, 8, 2, 4), 0);
    assert_eq!(max_payload(usize::MAX, usize::MAX, 4, 4), 0);
}

#[test]
fn limits_are_unbounded_for_integrity_only() {
    assert_eq!(Crc32cKey.confidentiality_limit(), u64::MAX);
    assert_eq!(Crc32cKey.integrity_limit(), u64::MAX);
}

proptest! {
    /// Any single flipped bit in the header, the payload or the tag makes `open` fail.
    #[test]
    fn single_bit_flip_is_detected(
        pn in any::<u64>(),
        header in proptest::collection::vec(any::<u8>(), 1..40),
        payload in proptest::collection::vec(any::<u8>(), 0..300),
        bit in any::<prop::sample::Index>(),
    ) {
        let buf = sealed(pn, &header, &payload);
        let mut header = header;
        let mut buf = buf.to_vec();
        let total_bits = (header.len() + buf.len()) * 8;
        let bit = bit.index(total_bits);
        if bit < header.len() * 8 {
            header[bit / 8] ^= 1 << (bit % 8);
        } else {
            let bit = bit - header.len() * 8;
            buf[bit / 8] ^= 1 << (bit % 8);
        }
        let mut buf = BytesMut::from(&buf[..]);
        prop_assert_eq!(
            Crc32cKey.open(pn, &header, &mut buf),
            Err(ProtectError::AuthenticationFailed)
        );
    }

    /// Header protection is an involution for any packet and any key output.
    #[test]
    fn protect_unprotect_round_trip(
        mut packet in proptest::collection::vec(any::<u8>(), 16..64),
        pn_offset in 1usize..8,
    ) {
        let original = packet.clone();
        XorHeaderKey.protect(pn_offset, &mut packet).unwrap();
        XorHeaderKey.unprotect(pn_offset, &mut packet).unwrap();
        prop_assert_eq!(packet, original);
    }
}
