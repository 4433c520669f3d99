//! The packet and frame decoders under fuzzed bytes: [`decode_packet`] takes a datagram through
//! header decode, integrity protection and frame decode, [`decode_frames`] a plaintext payload,
//! each with the round-trip oracles of the module docs.

use bytes::{Bytes, BytesMut};

use super::Reached;
use crate::protect::{Crc32cKey, IdentityHeaderKey, PacketKey};
use crate::wire::frame::{self, Frame};
use crate::wire::header::{Header, Packet, PartialDecode, VersionInvariants};
use crate::wire::packet::open_packet;
use crate::wire::varint::VarInt;

/// Connection-ID lengths under which short headers are tried.
pub(super) const LOCAL_CID_LENS: [usize; 4] = [0, 4, 8, 20];

/// Decodes `data` as a datagram: every coalesced packet, under several local connection-ID
/// lengths, through header decode, integrity protection and frame decode, with round-trip
/// oracles at each layer.
pub fn decode_packet(data: &[u8]) {
    decode_packet_reached(data);
}

/// [`decode_packet`], reporting how far the input got.
pub fn decode_packet_reached(data: &[u8]) -> Reached {
    let mut reached = Reached::default();
    for cid_len in LOCAL_CID_LENS {
        let mut next = Some(BytesMut::from(data));
        while let Some(datagram) = next.take() {
            let len = datagram.len();
            let invariants = VersionInvariants::parse(&datagram)
                .map(|inv| (inv.version, inv.dcid.to_vec(), inv.scid.to_vec()));
            let (partial, rest) = match PartialDecode::new(datagram, cid_len) {
                Ok(ok) => ok,
                Err(e) => {
                    assert!(
                        e.offset <= len,
                        "error offset {} past {len} bytes: {e}",
                        e.offset
                    );
                    break;
                }
            };
            if let Some(rest) = &rest {
                assert!(
                    !rest.is_empty() && rest.len() < len,
                    "coalescing must make progress"
                );
            }
            reached.packets += 1;
            check_invariants(&partial, invariants);
            if let Ok(opened) =
                open_packet(partial.clone(), Some(&IdentityHeaderKey), &Crc32cKey, None)
            {
                reached.opened += 1;
                // Retry carries a token and Version Negotiation nothing: only packets with a
                // packet number carry frames.
                if opened.header.number().is_some() {
                    reached.frames += check_frames(opened.frames());
                }
            }
            if let Ok(packet) = partial.finish(Some(&IdentityHeaderKey)) {
                check_header_round_trip(&packet, cid_len);
                reached.frames += seal_then_open(packet);
            }
            next = rest;
        }
    }
    reached
}

/// Decodes `data` as a plaintext payload, with the round-trip oracle on every frame.
pub fn decode_frames(data: &[u8]) {
    decode_frames_reached(data);
}

/// [`decode_frames`], returning the number of frames decoded.
pub fn decode_frames_reached(data: &[u8]) -> usize {
    check_frames(frame::Iter::new(Bytes::copy_from_slice(data)))
}

/// The version-independent view of the packet's first bytes must agree with the full parse
/// (RFC 8999).
fn check_invariants(partial: &PartialDecode, invariants: Option<(u32, Vec<u8>, Vec<u8>)>) {
    if !partial.is_long() {
        assert!(
            invariants.is_none(),
            "a short header has no version invariants"
        );
        return;
    }
    let (version, dcid, scid) = invariants.expect("a parsed long header has version invariants");
    assert_eq!(Some(version), partial.version());
    assert_eq!(dcid, partial.dcid().as_slice());
    assert_eq!(Some(&scid[..]), partial.scid().map(|c| c.as_slice()));
}

/// Encodes the decoded header again, with the same payload, and decodes it: same header,
/// same payload.
fn check_header_round_trip(packet: &Packet, cid_len: usize) {
    let header = &packet.header;
    let mut buf = Vec::new();
    let partial = header.encode(&mut buf);
    assert_eq!(buf.len(), header.encoded_len(), "encoded_len of {header:?}");
    if matches!(header, Header::VersionNegotiation { .. }) {
        assert_eq!(partial.header_len(), buf.len());
    } else {
        buf.extend_from_slice(&packet.payload);
        if partial.set_length(&mut buf).is_err() {
            return; // longer than weir ever writes
        }
    }
    let (again, rest) = PartialDecode::new(BytesMut::from(&buf[..]), cid_len)
        .unwrap_or_else(|e| panic!("re-encoded {header:?} failed to decode: {e}"));
    assert!(rest.is_none(), "re-encoded {header:?} left bytes over");
    let again = again
        .finish(None)
        .unwrap_or_else(|e| panic!("re-encoded {header:?} failed to finish: {e}"));
    assert_eq!(&again.header, header);
    assert_eq!(again.payload, packet.payload);
}

/// Treats the received payload as plaintext with room for a tag: seals it, opens it (which
/// must succeed and give the plaintext back), then decodes its frames. This gets fuzz inputs
/// past the CRC to the frame decoder through the real packet path.
fn seal_then_open(packet: Packet) -> usize {
    let Packet {
        header,
        header_bytes,
        mut payload,
    } = packet;
    if matches!(header, Header::VersionNegotiation { .. }) || payload.len() < Crc32cKey.tag_len() {
        return 0;
    }
    let number = header.number().map_or(0, |pn| pn.expand(0));
    Crc32cKey
        .seal(number, &header_bytes, &mut payload)
        .unwrap_or_else(|e| panic!("seal failed with room for the tag: {e}"));
    let plain_len = payload.len() - Crc32cKey.tag_len();
    let plain = Bytes::copy_from_slice(payload.get(..plain_len).unwrap_or_default());
    Crc32cKey
        .open(number, &header_bytes, &mut payload)
        .unwrap_or_else(|e| panic!("sealed payload failed to open: {e}"));
    assert_eq!(payload, plain, "open must give back what was sealed");
    if matches!(header, Header::Retry { .. }) {
        return 0;
    }
    check_frames(frame::Iter::with_offset(
        payload.freeze(),
        header_bytes.len(),
    ))
}

/// Drains `frames`, checking every decoded frame; returns how many decoded.
fn check_frames(mut frames: frame::Iter) -> usize {
    let mut count = 0;
    for result in frames.by_ref() {
        match result {
            Ok(frame) => {
                check_frame(&frame);
                count += 1;
            }
            Err(_) => break,
        }
    }
    assert!(
        frames.next().is_none(),
        "frame iterator must stop after an error"
    );
    count
}

fn check_frame(frame: &Frame) {
    match frame {
        Frame::Ack(ack) => {
            let mut ranges = 0u64;
            let mut prev_start: Option<u64> = None;
            for r in ack.iter() {
                assert!(r.start < r.end, "empty ACK range {r:?}");
                if let Some(prev) = prev_start {
                    assert!(
                        r.end < prev,
                        "ACK ranges must descend with gaps: {r:?} then {prev}"
                    );
                }
                prev_start = Some(r.start);
                ranges += 1;
            }
            assert_eq!(
                ranges,
                ack.range_count(),
                "every validated range is yielded"
            );
        }
        Frame::Stream(f) => {
            let end = f.offset.into_inner() + f.data.len() as u64;
            assert!(end <= VarInt::MAX.into_inner());
        }
        _ => {}
    }
    let mut buf = Vec::with_capacity(frame.encoded_len());
    frame.encode(&mut buf);
    assert_eq!(buf.len(), frame.encoded_len(), "encoded_len of {frame:?}");
    let mut again = frame::Iter::new(Bytes::from(buf));
    match again.next() {
        Some(Ok(decoded)) => assert_eq!(&decoded, frame, "round trip"),
        other => panic!("re-encoded {frame:?} decoded as {other:?}"),
    }
    assert!(
        again.next().is_none(),
        "re-encoded {frame:?} decoded as more than one frame"
    );
}
