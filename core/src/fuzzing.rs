//! Fuzz bodies (feature `fuzzing`).
//!
//! The cargo-fuzz targets in `fuzz/` are one-line wrappers around these functions; keeping the
//! bodies in the library means every normal test build compiles them, and the property tests
//! below run them on random and mutated inputs, so they cannot rot between fuzzing campaigns.
//!
//! The bodies are oracles, not just "does not panic" checks: every frame that decodes is
//! encoded again and must decode to the same frame in exactly the advertised number of bytes;
//! every header that decodes is encoded again and must decode to the same header; sealing a
//! payload and opening it must give it back. They panic only when such a property fails — that
//! is, on a real bug.

use bytes::{Bytes, BytesMut};

use crate::protect::{Crc32cKey, IdentityHeaderKey, PacketKey};
use crate::wire::frame::{self, Frame};
use crate::wire::header::{Header, Packet, PartialDecode, VersionInvariants};
use crate::wire::packet::open_packet;
use crate::wire::varint::VarInt;

/// Connection-ID lengths under which short headers are tried.
const LOCAL_CID_LENS: [usize; 4] = [0, 4, 8, 20];

/// What a fuzz body reached, so that tests can check that seeds go deep.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Reached {
    /// Packets whose unprotected header parsed.
    pub packets: usize,
    /// Packets that opened with integrity protection as received.
    pub opened: usize,
    /// Frames decoded (and round-tripped).
    pub frames: usize,
}

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

#[cfg(all(test, feature = "fuzzing"))]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::wire::ConnectionId;
    use crate::wire::frame::tests::sample_frames;
    use crate::wire::header::{VERSION_1, VersionList};
    use crate::wire::packet::PacketBuilder;
    use crate::wire::packet_number::PacketNumber;

    fn cid(len: usize) -> ConnectionId {
        ConnectionId::new(&vec![0x5a; len]).unwrap()
    }

    fn build(buf: &mut Vec<u8>, header: &Header, pn: u64, frames: &[Frame]) {
        let mut b = PacketBuilder::new(buf, header, pn, 1200, Crc32cKey.tag_len()).unwrap();
        for f in frames {
            assert!(b.write_frame(f));
        }
        b.finish(&Crc32cKey, &IdentityHeaderKey).unwrap();
    }

    /// Valid datagrams of every packet type: the seeds the mutation tests start from.
    fn seed_datagrams() -> Vec<Vec<u8>> {
        let frames = sample_frames();
        let mut seeds = Vec::new();
        for cid_len in LOCAL_CID_LENS {
            let mut buf = Vec::new();
            let short = Header::Short {
                spin: true,
                key_phase: false,
                dcid: cid(cid_len),
                // The bodies open with nothing received yet (expected packet number 0).
                number: PacketNumber::new(100, None),
            };
            build(&mut buf, &short, 100, &frames[..12]);
            seeds.push(buf);
        }
        // Initial + Handshake + Short, coalesced.
        let mut buf = Vec::new();
        let initial = Header::Initial {
            version: VERSION_1,
            dcid: cid(8),
            scid: cid(4),
            token: Bytes::from_static(b"cookie"),
            number: PacketNumber::new(0, None),
        };
        build(&mut buf, &initial, 0, &frames[..4]);
        let handshake = Header::Handshake {
            version: VERSION_1,
            dcid: cid(8),
            scid: cid(4),
            number: PacketNumber::new(1, None),
        };
        build(&mut buf, &handshake, 1, &frames[4..10]);
        let short = Header::Short {
            spin: false,
            key_phase: true,
            dcid: cid(8),
            number: PacketNumber::new(2, None),
        };
        build(&mut buf, &short, 2, &frames[10..]);
        seeds.push(buf);
        // Retry and Version Negotiation.
        let mut buf = Vec::new();
        let retry = Header::Retry {
            version: VERSION_1,
            dcid: cid(4),
            scid: cid(8),
        };
        let mut b = PacketBuilder::new(&mut buf, &retry, 0, 1200, Crc32cKey.tag_len()).unwrap();
        b.buf().extend_from_slice(b"retry token");
        b.finish(&Crc32cKey, &IdentityHeaderKey).unwrap();
        seeds.push(buf);
        let mut buf = Vec::new();
        let _ = Header::VersionNegotiation {
            dcid: cid(4),
            scid: cid(8),
            versions: VersionList::new(&[VERSION_1, 0x1a2a_3a4a]),
        }
        .encode(&mut buf);
        seeds.push(buf);
        seeds
    }

    #[test]
    fn seeds_reach_every_layer() {
        let seeds = seed_datagrams();
        let frames = sample_frames().len();
        for (i, seed) in seeds.iter().enumerate() {
            let reached = decode_packet_reached(seed);
            assert!(reached.packets > 0, "seed {i}: {reached:?}");
            assert!(reached.opened > 0, "seed {i} did not open: {reached:?}");
        }
        // The coalesced seed: its two long-header packets open under every local cid length,
        // its short packet only under the right one (8).
        let reached = decode_packet_reached(&seeds[LOCAL_CID_LENS.len()]);
        assert_eq!(reached.opened, 2 * LOCAL_CID_LENS.len() + 1, "{reached:?}");
        assert!(reached.frames >= 2 * frames, "{reached:?}");
    }

    #[test]
    fn frame_seeds_decode_fully() {
        let mut payload = Vec::new();
        for f in sample_frames() {
            f.encode(&mut payload);
        }
        assert_eq!(decode_frames_reached(&payload), sample_frames().len());
    }

    /// A seed with a few random edits: flipped bits, overwritten bytes, a truncation, an
    /// insertion.
    fn mutated() -> impl Strategy<Value = Vec<u8>> {
        let edit = (any::<prop::sample::Index>(), any::<u8>(), 0u8..4);
        (
            0..seed_datagrams().len(),
            proptest::collection::vec(edit, 1..4),
        )
            .prop_map(|(seed, edits)| {
                let mut data = seed_datagrams().swap_remove(seed);
                for (at, byte, op) in edits {
                    if data.is_empty() {
                        break;
                    }
                    let i = at.index(data.len());
                    match op {
                        0 => data[i] ^= 1 << (byte % 8),
                        1 => data[i] = byte,
                        2 => data.truncate(i),
                        _ => data.insert(i, byte),
                    }
                }
                data
            })
    }

    proptest! {
        #[test]
        fn bodies_hold_on_arbitrary_bytes(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            decode_packet(&data);
            decode_frames(&data);
        }

        #[test]
        fn bodies_hold_on_mutated_seeds(data in mutated()) {
            decode_packet(&data);
            decode_frames(&data);
        }
    }
}
