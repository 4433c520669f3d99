//! Property tests of the decoder bodies: hand-built seed datagrams of every packet type must
//! reach every layer, and the bodies must hold on arbitrary bytes and on mutated seeds.
//!
//! The seeds here are also the committed cargo-fuzz seed corpora of the decoder targets
//! (`fuzz/seeds/{decode_packet,decode_frames}/`): `cargo test -p weir-core --features fuzzing
//! -- --ignored write_fuzz_seeds` writes them.

use bytes::Bytes;
use proptest::prelude::*;

use super::codec::LOCAL_CID_LENS;
use super::*;
use crate::connection::TransportParameters;
use crate::protect::{Crc32cKey, IdentityHeaderKey, PacketKey};
use crate::wire::ConnectionId;
use crate::wire::frame::tests::sample_frames;
use crate::wire::frame::{Frame, HandshakeData};
use crate::wire::header::{Header, VERSION_1, VersionList};
use crate::wire::packet::PacketBuilder;
use crate::wire::packet_number::PacketNumber;
use crate::wire::varint::VarInt;

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

    #[test]
    fn the_decompressor_holds_on_arbitrary_and_mutated_envelopes(
        data in proptest::collection::vec(any::<u8>(), 0..300),
        seed in 0usize..64,
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4),
    ) {
        decompress(&data);
        let seeds = decompress_seeds();
        let mut seed = seeds[seed % seeds.len()].1.clone();
        for (at, x) in flips {
            let i = at % seed.len();
            seed[i] ^= x;
        }
        decompress(&seed);
    }
}

/// Seeds of `decompress`, by name: an envelope of every codec (setup byte first), a bomb, a
/// lie about the length, and a codec not announced.
fn decompress_seeds() -> Seeds {
    use crate::lanes::compression::{Compression, ZstdDictionary, compress};
    let game = b"{\"tick\":7,\"entities\":[{\"id\":1,\"pos\":[1000,2000],\"hp\":100},\
                 {\"id\":2,\"pos\":[1013,2007],\"hp\":99}]}";
    let dict = ZstdDictionary::new(
        &b"{\"tick\":0,\"entities\":[{\"id\":1,\"pos\":[1000,2000],\"hp\":100}]}"[..],
    );
    let with = |setup: u8, envelope: &[u8]| [&[setup][..], envelope].concat();
    let zeros = vec![0u8; 1 << 20];
    let lz4 = compress(Compression::Lz4, None, &game.repeat(4)).expect("shrinks");
    let zstd = compress(Compression::Zstd(3), None, &game.repeat(4)).expect("shrinks");
    let zstd_dict = compress(Compression::Zstd(3), Some(&dict), game).expect("shrinks");
    let bomb = compress(Compression::Zstd(19), None, &zeros).expect("shrinks");
    let lz4_bomb = compress(Compression::Lz4, None, &zeros).expect("shrinks");
    let mut lying = zstd.to_vec();
    lying[1] = 0x10; // claims 16 bytes
    vec![
        ("lz4".to_string(), with(0x02, &lz4)),
        ("zstd".to_string(), with(0x02, &zstd)),
        ("zstd_dictionary".to_string(), with(0x06, &zstd_dict)),
        ("zstd_bomb".to_string(), with(0x01, &bomb)),
        ("lz4_bomb".to_string(), with(0x01, &lz4_bomb)),
        ("zstd_short_length".to_string(), with(0x02, &lying)),
        ("lz4_unannounced".to_string(), with(0x0a, &lz4)),
        ("dictionary_not_held".to_string(), with(0x02, &zstd_dict)),
    ]
}

#[test]
fn decompress_seeds_reach_the_decoder() {
    let seeds = decompress_seeds();
    let decoded: Vec<&str> = seeds
        .iter()
        .filter(|(_, s)| decompress_reached(s).decoded)
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(decoded, ["lz4", "zstd", "zstd_dictionary"]);
}

/// A handshake message (`type | varint length | body`) in a HANDSHAKE frame at `offset`.
fn handshake_message(kind: u8, body: &[u8], offset: u64) -> Frame {
    let mut message = vec![kind];
    VarInt::saturating_from_u64(body.len() as u64).encode(&mut message);
    message.extend_from_slice(body);
    Frame::Handshake(HandshakeData {
        offset: VarInt::saturating_from_u64(offset),
        data: Bytes::from(message),
    })
}

fn params_body(params: &TransportParameters) -> Vec<u8> {
    let mut body = Vec::new();
    params.encode(&mut body);
    body
}

/// A handshake as weir sends it: the client's first Initial (ClientHello, padded to 1200
/// bytes), the server's Initial and Handshake packets coalesced, the ClientFinished, the first
/// short packet, each a datagram.
fn handshake_datagrams() -> Vec<(&'static str, Vec<u8>)> {
    let (client, server, odcid) = (cid(8), ConnectionId::new(&[0x3c; 8]).unwrap(), cid(8));
    let client_params = TransportParameters {
        initial_source_connection_id: Some(client),
        max_idle_timeout: std::time::Duration::from_secs(30),
        max_udp_payload_size: 1472,
        initial_max_data: 1 << 20,
        initial_max_stream_data_bidi_local: 1 << 16,
        initial_max_stream_data_bidi_remote: 1 << 16,
        initial_max_stream_data_uni: 1 << 16,
        initial_max_streams_bidi: 100,
        initial_max_streams_uni: 100,
        max_datagram_frame_size: Some(1200),
        ..TransportParameters::default()
    };
    let server_params = TransportParameters {
        original_destination_connection_id: Some(odcid),
        initial_source_connection_id: Some(server),
        ack_delay_exponent: 4,
        max_ack_delay: std::time::Duration::from_millis(10),
        ..client_params.clone()
    };
    let hello = handshake_message(0x01, &params_body(&client_params), 0);
    let hello_len = hello.encoded_len() as u64 - 4;
    let mut seeds = Vec::new();

    let mut buf = Vec::new();
    let initial = |dcid, scid, pn| Header::Initial {
        version: VERSION_1,
        dcid,
        scid,
        token: Bytes::new(),
        number: PacketNumber::new(pn, None),
    };
    let mut b = PacketBuilder::new(&mut buf, &initial(odcid, client, 0), 0, 1200, 4).unwrap();
    assert!(b.write_frame(&hello));
    b.pad_to(1200);
    b.finish(&Crc32cKey, &IdentityHeaderKey).unwrap();
    seeds.push(("client_initial", buf));

    let mut buf = Vec::new();
    let mut acked = crate::range_set::RangeSet::new();
    acked.insert(0..1);
    let ack = Frame::Ack(crate::wire::frame::tests::ack_of(&acked, 0, None));
    build(
        &mut buf,
        &initial(client, server, 0),
        0,
        std::slice::from_ref(&ack),
    );
    let handshake = |dcid, scid, pn| Header::Handshake {
        version: VERSION_1,
        dcid,
        scid,
        number: PacketNumber::new(pn, None),
    };
    let server_hello = handshake_message(0x02, &params_body(&server_params), 0);
    build(&mut buf, &handshake(client, server, 0), 0, &[server_hello]);
    seeds.push(("server_initial_and_handshake", buf));

    let mut buf = Vec::new();
    let finished = handshake_message(0x03, &[], hello_len);
    build(
        &mut buf,
        &handshake(server, client, 1),
        1,
        &[ack.clone(), finished],
    );
    let short = Header::Short {
        spin: false,
        key_phase: false,
        dcid: server,
        number: PacketNumber::with_len(0, 4),
    };
    let data = Frame::Stream(crate::wire::frame::StreamFrame {
        id: VarInt::from_u32(0),
        offset: VarInt::from_u32(0),
        fin: true,
        data: Bytes::from_static(b"GET /"),
    });
    build(&mut buf, &short, 0, &[data]);
    seeds.push(("client_finished_and_stream", buf));

    let mut buf = Vec::new();
    let short = Header::Short {
        spin: true,
        key_phase: false,
        dcid: client,
        number: PacketNumber::new(1, None),
    };
    build(&mut buf, &short, 1, &[Frame::HandshakeDone, ack]);
    seeds.push(("server_handshake_done", buf));
    seeds
}

/// Seeds of `decode_packet`, by name.
fn packet_seeds() -> Seeds {
    let names = [
        "short_cid0",
        "short_cid4",
        "short_cid8",
        "short_cid20",
        "initial_handshake_short_coalesced",
        "retry",
        "version_negotiation",
    ];
    let mut seeds: Seeds = names
        .iter()
        .map(|n| n.to_string())
        .zip(seed_datagrams())
        .collect();
    seeds.extend(
        handshake_datagrams()
            .into_iter()
            .map(|(n, d)| (n.to_string(), d)),
    );
    seeds
}

/// Seeds of `decode_frames`, by name: every sample frame alone, all of them in a row, and the
/// implicit-length forms that only a packet's last frame uses.
fn frame_seeds() -> Seeds {
    let frames = sample_frames();
    let mut seeds = Vec::new();
    let mut all = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        let mut one = Vec::new();
        f.encode(&mut one);
        all.extend_from_slice(&one);
        let name = format!("{i:02}_{:02x}", f.frame_type().value());
        seeds.push((name, one));
    }
    seeds.push(("all".to_string(), all));
    // STREAM with offset and FIN but no length, then MESSAGE without length: data to the end.
    seeds.push((
        "stream_to_the_end".to_string(),
        [&[0x0d, 0x04, 0x40, 0x64][..], b"the rest"].concat(),
    ));
    seeds.push((
        "message_to_the_end".to_string(),
        [&[0x32, 0x01, 0x07, 0x19][..], b"the rest"].concat(),
    ));
    seeds
}

#[test]
fn handshake_seeds_open_and_decode() {
    for (name, seed) in handshake_datagrams() {
        let reached = decode_packet_reached(&seed);
        assert!(
            reached.opened > 0 && reached.frames > 0,
            "{name}: {reached:?}"
        );
    }
    for (name, seed) in frame_seeds() {
        assert!(decode_frames_reached(&seed) > 0, "{name}");
    }
}

/// Where the committed seed corpus of a fuzz target lives.
fn seed_dir(target: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/seeds")
        .join(target)
}

/// Named seed files.
type Seeds = Vec<(String, Vec<u8>)>;

fn seed_targets() -> [(&'static str, Seeds); 3] {
    [
        ("decode_packet", packet_seeds()),
        ("decode_frames", frame_seeds()),
        ("decompress", decompress_seeds()),
    ]
}

/// Writes the seed corpora of the decoder targets into `fuzz/seeds/` (run with `--ignored`
/// after changing a seed, and commit the result).
#[test]
#[ignore = "writes fuzz/seeds/{decode_packet,decode_frames,decompress}/"]
fn write_fuzz_seeds() {
    for (target, seeds) in seed_targets() {
        let dir = seed_dir(target);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for (name, data) in seeds {
            std::fs::write(dir.join(name), data).unwrap();
        }
    }
}

/// The committed seeds are what [`write_fuzz_seeds`] writes, and the bodies hold on them.
#[test]
fn committed_fuzz_seeds_are_current() {
    let regenerate = "regenerate with `cargo test -p weir-core --features fuzzing -- --ignored \
                      write_fuzz_seeds`";
    for (target, seeds) in seed_targets() {
        let dir = seed_dir(target);
        let mut committed: Vec<String> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        committed.sort();
        let mut names: Vec<String> = seeds.iter().map(|(n, _)| n.clone()).collect();
        names.sort();
        assert_eq!(committed, names, "{target}: {regenerate}");
        for (name, data) in seeds {
            let file = std::fs::read(dir.join(&name)).unwrap();
            assert!(file == data, "{target}/{name} is stale: {regenerate}");
            decode_packet(&file);
            decode_frames(&file);
            decompress(&file);
        }
    }
}

/// The committed seeds of `tcp_records` (`fuzz/seeds/tcp_records/`): each reaches what it is
/// named for.
#[test]
fn record_seeds_reach_records_and_breaks() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/tcp_records");
    let seed = |name: &str| std::fs::read(dir.join(name)).expect("committed seed");
    let whole = super::records_reached(&seed("whole_records"));
    assert_eq!((whole.records, whole.broken), (3, false));
    assert_eq!(super::records_reached(&seed("byte_at_a_time")).records, 3);
    assert_eq!(super::records_reached(&seed("small_backlog")).records, 4);
    assert!(super::records_reached(&seed("oversized")).broken);
    let empty = super::records_reached(&seed("empty_record"));
    assert_eq!((empty.records, empty.broken), (1, true));
    let cut = super::records_reached(&seed("cut_mid_record"));
    assert_eq!((cut.records, cut.broken), (0, false));
}

proptest! {
    #[test]
    fn the_record_decoder_holds_on_arbitrary_streams(
        data in proptest::collection::vec(any::<u8>(), 0..4000),
    ) {
        super::records(&data);
    }
}

/// The committed seeds of `rendezvous` (`fuzz/seeds/rendezvous/`): each reaches what it is
/// named for.
#[test]
fn rendezvous_seeds_reach_pairing_punching_and_relays() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/rendezvous");
    let seed = |name: &str| std::fs::read(dir.join(name)).expect("committed seed");
    let pair = super::rendezvous_reached(&seed("pair_and_relay"));
    assert_eq!((pair.registrations, pair.relayed), (2, 1), "{pair:?}");
    assert!(pair.dropped >= 1, "the stranger's relay: {pair:?}");
    let client = super::rendezvous_reached(&seed("client_punch_relay"));
    assert_eq!(client.client_relayed, 1, "{client:?}");
    let strangers = super::rendezvous_reached(&seed("strangers"));
    assert_eq!(strangers.registrations, 1, "{strangers:?}");
    assert!(strangers.dropped >= 3, "{strangers:?}");
}

proptest! {
    #[test]
    fn the_rendezvous_service_and_client_hold_on_arbitrary_input(
        data in proptest::collection::vec(any::<u8>(), 0..600),
    ) {
        super::rendezvous(&data);
    }
}
