//! Property tests of the decoder bodies: hand-built seed datagrams of every packet type must
//! reach every layer, and the bodies must hold on arbitrary bytes and on mutated seeds.

use bytes::Bytes;
use proptest::prelude::*;

use super::codec::LOCAL_CID_LENS;
use super::*;
use crate::protect::{Crc32cKey, IdentityHeaderKey, PacketKey};
use crate::wire::ConnectionId;
use crate::wire::frame::Frame;
use crate::wire::frame::tests::sample_frames;
use crate::wire::header::{Header, VERSION_1, VersionList};
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
