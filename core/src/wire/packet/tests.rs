use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

use super::*;
use crate::protect::{Crc32cKey, IdentityHeaderKey, max_payload};
use crate::wire::cid::ConnectionId;
use crate::wire::frame::tests::sample_frames;
use crate::wire::frame::{StreamFrame, StreamHeader};
use crate::wire::header::VERSION_1;
use crate::wire::packet_number::PacketNumber;
use crate::wire::varint::VarInt;

const CID_LEN: usize = 8;

fn cid(b: u8) -> ConnectionId {
    ConnectionId::new(&[b; CID_LEN]).unwrap()
}

fn short(pn: u64, largest_acked: Option<u64>) -> Header {
    Header::Short {
        spin: false,
        key_phase: false,
        dcid: cid(1),
        number: PacketNumber::new(pn, largest_acked),
    }
}

fn initial(pn: u64) -> Header {
    Header::Initial {
        version: VERSION_1,
        dcid: cid(1),
        scid: cid(2),
        token: Bytes::from_static(b"cookie"),
        number: PacketNumber::new(pn, None),
    }
}

/// Builds one packet holding `frames` at the end of `buf`; returns its size.
fn build(buf: &mut Vec<u8>, header: &Header, pn: u64, frames: &[Frame], pad: usize) -> usize {
    let mut b = PacketBuilder::new(buf, header, pn, 1200, Crc32cKey.tag_len()).unwrap();
    for f in frames {
        assert!(b.write_frame(f), "{f:?} does not fit");
    }
    b.pad_to(pad);
    b.finish(&Crc32cKey, &IdentityHeaderKey).unwrap()
}

/// Decodes every packet of `datagram`; `Err` as soon as one fails.
fn open_all(
    datagram: &[u8],
    largest_received: Option<u64>,
) -> Result<Vec<(Header, u64, Vec<Frame>)>, PacketError> {
    let mut out = Vec::new();
    let mut next = Some(BytesMut::from(datagram));
    while let Some(d) = next.take() {
        let (partial, rest) = PartialDecode::new(d, CID_LEN)?;
        let opened = open_packet(
            partial,
            Some(&IdentityHeaderKey),
            &Crc32cKey,
            largest_received,
        )?;
        let frames = opened.frames().collect::<Result<Vec<_>, _>>()?;
        out.push((opened.header, opened.number, frames));
        next = rest;
    }
    Ok(out)
}

fn without_padding(frames: Vec<Frame>) -> Vec<Frame> {
    frames
        .into_iter()
        .filter(|f| !matches!(f, Frame::Padding(_)))
        .collect()
}

#[test]
fn short_packet_round_trip() {
    let frames: Vec<Frame> = sample_frames()
        .into_iter()
        .filter(|f| !matches!(f, Frame::Padding(_)))
        .collect();
    let header = short(1_000_005, Some(1_000_000));
    let mut buf = Vec::new();
    let size = build(&mut buf, &header, 1_000_005, &frames, 0);
    assert_eq!(size, buf.len());
    let opened = open_all(&buf, Some(1_000_003)).unwrap();
    assert_eq!(opened, [(header, 1_000_005, frames)]);
}

#[test]
fn coalesced_initial_and_short_packets() {
    let mut buf = Vec::new();
    let hs = [Frame::Handshake(crate::wire::frame::HandshakeData {
        offset: VarInt::ZERO,
        data: Bytes::from_static(b"client hello"),
    })];
    // The Initial is padded so that the whole datagram reaches 1200 bytes (RFC 9000 §14.1).
    let first = build(&mut buf, &initial(0), 0, &hs, 1000);
    assert_eq!(first, 1000);
    let second = build(&mut buf, &short(0, None), 0, &[Frame::Ping], 0);
    assert_eq!(buf.len(), first + second);
    let opened = open_all(&buf, None).unwrap();
    assert_eq!(opened.len(), 2);
    assert_eq!(without_padding(opened[0].2.clone()), hs);
    assert_eq!(opened[1].2, [Frame::Ping]);
}

#[test]
fn every_single_bit_flip_is_rejected() {
    for header in [short(77, Some(70)), initial(3)] {
        let mut buf = Vec::new();
        build(
            &mut buf,
            &header,
            header.number().unwrap().truncated().into(),
            &sample_frames()[..8],
            0,
        );
        assert!(open_all(&buf, Some(70)).is_ok());
        for bit in 0..buf.len() * 8 {
            let mut corrupt = buf.clone();
            corrupt[bit / 8] ^= 1 << (bit % 8);
            assert!(
                open_all(&corrupt, Some(70)).is_err(),
                "flipping bit {bit} of {header:?} went unnoticed"
            );
        }
    }
}

#[test]
fn frame_space_is_exact() {
    let header = short(9, None);
    let mut buf = vec![0xaa; 3]; // an earlier datagram's bytes stay untouched
    let mut b = PacketBuilder::new(&mut buf, &header, 9, 1200, Crc32cKey.tag_len()).unwrap();
    assert_eq!(
        b.frame_space(),
        max_payload(1200, CID_LEN, 1, Crc32cKey.tag_len())
    );
    let id = VarInt::from_u32(4);
    let n = StreamHeader::max_data_len(id, VarInt::ZERO, b.frame_space(), false).unwrap();
    let frame = StreamHeader {
        id,
        offset: VarInt::ZERO,
        len: n,
        fin: false,
        explicit_len: false,
    };
    frame.encode(b.buf());
    let end = b.buf().len() + n;
    b.buf().resize(end, 0x55);
    assert_eq!(b.frame_space(), 0);
    assert!(!b.write_frame(&Frame::Ping));
    assert_eq!(b.finish(&Crc32cKey, &IdentityHeaderKey), Ok(1200));
    assert_eq!(&buf[..3], &[0xaa; 3]);
    let opened = open_all(&buf[3..], None).unwrap();
    let [(_, 9, frames)] = &opened[..] else {
        panic!("{opened:?}")
    };
    let [Frame::Stream(StreamFrame { data, .. })] = &frames[..] else {
        panic!("{frames:?}")
    };
    assert_eq!(data.len(), n);
}

#[test]
fn builder_errors_leave_the_buffer_clean() {
    let mut buf = vec![1, 2, 3];
    let header = short(9, None);
    assert_eq!(
        PacketBuilder::new(&mut buf, &header, 10, 1200, 4).unwrap_err(),
        EncodeError::PacketNumberMismatch(10)
    );
    assert!(matches!(
        PacketBuilder::new(&mut buf, &header, 9, 10, 4),
        Err(EncodeError::PacketTooLarge { size: 14, max: 10 })
    ));
    let vn = Header::VersionNegotiation {
        dcid: cid(1),
        scid: cid(2),
        versions: crate::wire::header::VersionList::new(&[VERSION_1]),
    };
    assert_eq!(
        PacketBuilder::new(&mut buf, &vn, 0, 1200, 4).unwrap_err(),
        EncodeError::VersionNegotiation
    );
    let mut b = PacketBuilder::new(&mut buf, &header, 9, 100, 4).unwrap();
    b.buf().extend_from_slice(&[1; 200]); // ignoring frame_space
    assert_eq!(
        b.finish(&Crc32cKey, &IdentityHeaderKey),
        Err(EncodeError::PacketTooLarge {
            size: 1 + CID_LEN + 1 + 200 + 4,
            max: 100
        })
    );
    assert_eq!(buf, [1, 2, 3]);
}

#[test]
fn empty_packets_are_padded_and_empty_payloads_rejected() {
    // The builder never emits a packet without a frame.
    let mut buf = Vec::new();
    build(&mut buf, &short(0, None), 0, &[], 0);
    let opened = open_all(&buf, None).unwrap();
    assert_eq!(opened[0].2, [Frame::Padding(1)]);

    // A hand-made packet with no frame at all is dropped.
    let header = short(0, None);
    let mut buf = Vec::new();
    let partial = header.encode(&mut buf);
    buf.extend_from_slice(&[0; 4]);
    let (h, tag) = buf.split_at_mut(partial.header_len());
    Crc32cKey.seal(0, h, tag).unwrap();
    let err = open_all(&buf, None).unwrap_err();
    assert!(matches!(
        err,
        PacketError::Decode(DecodeError {
            kind: DecodeErrorKind::NoFrames,
            offset: 10,
            ..
        })
    ));
}

#[test]
fn retry_carries_a_sealed_token() {
    let header = Header::Retry {
        version: VERSION_1,
        dcid: cid(2),
        scid: cid(3),
    };
    let mut buf = Vec::new();
    let mut b = PacketBuilder::new(&mut buf, &header, 0, 1200, 4).unwrap();
    b.buf().extend_from_slice(b"retry token");
    b.finish(&Crc32cKey, &IdentityHeaderKey).unwrap();
    let (partial, _) = PartialDecode::new(BytesMut::from(&buf[..]), CID_LEN).unwrap();
    let opened = open_packet(partial, None, &Crc32cKey, None).unwrap();
    assert_eq!(&opened.payload[..], b"retry token");
    buf[30] ^= 4;
    let (partial, _) = PartialDecode::new(BytesMut::from(&buf[..]), CID_LEN).unwrap();
    assert_eq!(
        open_packet(partial, None, &Crc32cKey, None).unwrap_err(),
        PacketError::Protect(ProtectError::AuthenticationFailed)
    );
}

proptest! {
    #[test]
    fn any_bit_flip_in_any_packet_is_rejected(
        frames in proptest::sample::subsequence(sample_frames(), 1..10),
        pn in 0u64..1 << 40,
        use_initial in any::<bool>(),
        bit in any::<prop::sample::Index>(),
    ) {
        let header = if use_initial { initial(pn) } else { short(pn, pn.checked_sub(3)) };
        let mut buf = Vec::new();
        build(&mut buf, &header, pn, &frames, 0);
        let largest = pn.checked_sub(1);
        let opened = open_all(&buf, largest).unwrap();
        prop_assert_eq!(opened[0].1, pn);
        let bit = bit.index(buf.len() * 8);
        buf[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(open_all(&buf, largest).is_err());
    }
}
