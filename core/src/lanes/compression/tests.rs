use proptest::prelude::*;

use super::*;
use crate::wire::VarInt;

const MAX: u64 = 1 << 20;

/// Every codec weir has, with and without the dictionary.
fn every_codec() -> [(Compression, bool); 6] {
    [
        (Compression::Lz4, false),
        (Compression::Zstd(1), false),
        (Compression::Zstd(3), false),
        (Compression::Zstd(19), false),
        (Compression::Zstd(3), true),
        (Compression::Zstd(9), true),
    ]
}

/// A game's state snapshot: a header, entity ids, positions moving a little each tick.
fn snapshot(tick: u32) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(b"SNAP\x01");
    out.extend_from_slice(&tick.to_le_bytes());
    for entity in 0u32..12 {
        out.extend_from_slice(&entity.to_le_bytes());
        let x = 1000 + entity * 37 + tick % 7;
        out.extend_from_slice(&x.to_le_bytes());
        out.extend_from_slice(&(2000 - entity * 11).to_le_bytes());
        out.extend_from_slice(&[0, 0, 1, 0]);
    }
    out
}

fn dictionary() -> ZstdDictionary {
    let samples: Vec<Vec<u8>> = (0..400).map(snapshot).collect();
    let trained = zstd::dict::from_samples(&samples, 4096).expect("trainable samples");
    ZstdDictionary::new(trained)
}

fn envelope(codec: u8, len: u64, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![codec];
    VarInt::saturating_from_u64(len).encode(&mut out);
    out.extend_from_slice(payload);
    out
}

#[test]
fn compressible_messages_shrink_and_come_back_with_every_codec() {
    let dict = dictionary();
    let text = b"the quick brown fox jumps over the lazy dog; ".repeat(40);
    for (compression, with_dict) in every_codec() {
        let d = with_dict.then_some(&dict);
        let env = compress(compression, d, &text).expect("text shrinks");
        assert!(env.len() < text.len() / 4, "{compression}: {}", env.len());
        let back = decompress(&env, MAX, CodecSet::ALL, d).expect("round trip");
        assert_eq!(&back[..], &text[..], "{compression}");
    }
}

#[test]
fn a_dictionary_shrinks_small_game_messages_that_do_not_shrink_alone() {
    let dict = dictionary();
    let message = snapshot(1001);
    assert!(message.len() < 250);
    let alone = compress(Compression::Zstd(3), None, &message).map_or(message.len(), |e| e.len());
    let with = compress(Compression::Zstd(3), Some(&dict), &message).expect("shrinks");
    assert!(with.len() * 2 < alone, "{} with, {alone} alone", with.len());
    assert_eq!(with[0], Codec::ZstdDictionary.to_wire());
    let back = decompress(&with, MAX, CodecSet::ALL, Some(&dict)).expect("decodes");
    assert_eq!(&back[..], &message[..]);
}

#[test]
fn incompressible_or_tiny_messages_are_not_compressed() {
    let mut noise = vec![0u8; 1000];
    let mut x = 0x1234_5678u32;
    for b in &mut noise {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *b = x as u8;
    }
    for (compression, _) in every_codec() {
        assert_eq!(compress(compression, None, &noise), None, "{compression}");
        assert_eq!(compress(compression, None, &[0; 15]), None, "{compression}");
    }
    assert_eq!(compress(Compression::None, None, &[0; 4000]), None);
}

#[test]
fn an_envelope_longer_than_the_bound_is_refused_before_decoding() {
    // 1 MiB of zeros compresses to a few dozen bytes: a bomb for a receiver bounded at 64 KiB.
    let zeros = vec![0u8; 1 << 20];
    for compression in [Compression::Lz4, Compression::Zstd(3)] {
        let env = compress(compression, None, &zeros).expect("zeros shrink");
        assert!(env.len() < 5000, "{compression}: {}", env.len());
        assert_eq!(
            decompress(&env, 64 << 10, CodecSet::ALL, None),
            Err(DecompressError::TooLarge {
                len: 1 << 20,
                max: 64 << 10
            })
        );
    }
}

#[test]
fn a_bomb_that_understates_its_length_fails_within_the_announced_length() {
    let zeros = vec![0u8; 1 << 20];
    for (compression, codec) in [
        (Compression::Lz4, Codec::Lz4),
        (Compression::Zstd(3), Codec::Zstd),
    ] {
        let env = compress(compression, None, &zeros).expect("zeros shrink");
        // The same payload claiming 1000 bytes: the codec has room for 1000 only.
        let mut r = crate::wire::Reader::new(&env[1..]);
        r.varint().expect("length");
        let lying = envelope(codec.to_wire(), 1000, r.rest());
        assert_eq!(
            decompress(&lying, MAX, CodecSet::ALL, None),
            Err(DecompressError::Corrupt(codec)),
            "{compression}"
        );
        // Claiming more than it holds: too short.
        let long = envelope(codec.to_wire(), (1 << 20) + 10, r.rest());
        assert!(matches!(
            decompress(&long, 2 << 20, CodecSet::ALL, None),
            Err(DecompressError::LengthMismatch { .. } | DecompressError::Corrupt(_))
        ));
    }
    // An lz4 block cannot expand beyond 255:1; a claim past that is refused unallocated.
    assert_eq!(
        decompress(&envelope(1, 100_000, &[0x1f; 10]), MAX, CodecSet::ALL, None),
        Err(DecompressError::Corrupt(Codec::Lz4))
    );
}

#[test]
fn truncated_or_unknown_envelopes_are_typed_errors() {
    let text = b"abcdefgh".repeat(64);
    let dict = dictionary();
    assert_eq!(
        decompress(&[], MAX, CodecSet::ALL, None),
        Err(DecompressError::Truncated)
    );
    assert_eq!(
        decompress(&[1], MAX, CodecSet::ALL, None),
        Err(DecompressError::Truncated)
    );
    assert_eq!(
        decompress(&[9, 4, 1, 2, 3, 4], MAX, CodecSet::ALL, None),
        Err(DecompressError::UnknownCodec(9))
    );
    for (compression, with_dict) in every_codec() {
        let d = with_dict.then_some(&dict);
        let env = compress(compression, d, &text).expect("shrinks");
        let codec = Codec::from_wire(env[0]).expect("codec");
        for cut in 1..env.len() {
            let result = decompress(&env[..cut], MAX, CodecSet::ALL, d);
            assert!(result.is_err(), "{compression} cut at {cut}");
        }
        // Not announced: by the set, or (the dictionary's codec) without the dictionary.
        assert_eq!(
            decompress(&env, MAX, CodecSet::NONE, d),
            Err(DecompressError::Unannounced(codec))
        );
        if with_dict {
            assert_eq!(
                decompress(&env, MAX, CodecSet::ALL, None),
                Err(DecompressError::Unannounced(codec))
            );
            // Another dictionary does not give the message back: an error, or other bytes.
            let message = snapshot(7);
            let env = compress(compression, d, &message).expect("shrinks");
            let other = ZstdDictionary::new(b"some other dictionary entirely".repeat(20));
            assert_ne!(other.id(), dict.id());
            let wrong = decompress(&env, MAX, CodecSet::ALL, Some(&other));
            assert!(wrong.as_deref() != Ok(&message[..]));
        }
    }
}

#[test]
fn names_parse_and_print() {
    for (name, c) in [
        ("none", Compression::None),
        ("lz4", Compression::Lz4),
        ("zstd", Compression::Zstd(3)),
        ("zstd-9", Compression::Zstd(9)),
        ("ZSTD19", Compression::Zstd(19)),
        ("zstd:1", Compression::Zstd(1)),
    ] {
        assert_eq!(name.parse::<Compression>(), Ok(c), "{name}");
        assert_eq!(c.to_string().parse::<Compression>(), Ok(c));
    }
    for bad in ["zstd-0", "zstd-23", "gzip", "zstd-", "lz5"] {
        assert!(bad.parse::<Compression>().is_err(), "{bad}");
    }
    assert_eq!(CodecSet::from_wire(CodecSet::ALL.to_wire()), CodecSet::ALL);
    assert_eq!(CodecSet::from_wire(0xfc), CodecSet::NONE);
}

#[test]
fn dictionary_ids_are_nonzero_varints_of_the_bytes() {
    let a = ZstdDictionary::new(&b"abc"[..]);
    assert_eq!(a.id(), ZstdDictionary::new(b"abc".to_vec()).id());
    assert_ne!(a.id(), ZstdDictionary::new(&b"abd"[..]).id());
    assert!(a.id() > 0 && a.id() < 1 << 62);
}

#[test]
fn an_encoder_keeps_its_context_across_levels_and_dictionaries() {
    let dict = dictionary();
    let mut encoder = Encoder::default();
    let mut decoder = Decoder::default();
    for tick in 0..50 {
        let message = snapshot(tick).repeat(2);
        let (compression, d) = match tick % 4 {
            0 => (Compression::Zstd(3), None),
            1 => (Compression::Zstd(3), Some(&dict)),
            2 => (Compression::Zstd(12), Some(&dict)),
            _ => (Compression::Lz4, None),
        };
        let env = encoder.compress(compression, d, &message).expect("shrinks");
        let back = decoder
            .decompress(&env, MAX, CodecSet::ALL, Some(&dict))
            .expect("decodes");
        assert_eq!(&back[..], &message[..]);
    }
}

/// Bytes that compress well: a few random words repeated with variation.
fn compressible() -> impl Strategy<Value = Vec<u8>> {
    (
        proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..12), 1..6),
        proptest::collection::vec(any::<u8>(), 0..400),
    )
        .prop_map(|(words, picks)| {
            let mut out = Vec::new();
            for p in picks {
                out.extend_from_slice(&words[usize::from(p) % words.len()]);
            }
            out
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_and_compressible_data_round_trip(
        random in proptest::collection::vec(any::<u8>(), 0..3000),
        repetitive in compressible(),
        level in 1u8..=19,
        codec in 0usize..3,
    ) {
        let dict = ZstdDictionary::new(b"abcdefghijklmnop0123456789".repeat(8));
        let (compression, d) = match codec {
            0 => (Compression::Lz4, None),
            1 => (Compression::Zstd(level), None),
            _ => (Compression::Zstd(level), Some(&dict)),
        };
        for data in [&random, &repetitive] {
            // Tiny inputs are never tried; others may go raw (no gain).
            if data.len() < MIN_COMPRESS_LEN {
                prop_assert_eq!(compress(compression, d, data), None);
            }
            if let Some(env) = compress(compression, d, data) {
                prop_assert!(env.len() < data.len());
                let back = decompress(&env, data.len() as u64, CodecSet::ALL, d);
                prop_assert_eq!(back.as_deref(), Ok(&data[..]));
                // One byte less of bound: refused.
                let tight = decompress(&env, data.len() as u64 - 1, CodecSet::ALL, d);
                let is_too_large = matches!(tight, Err(DecompressError::TooLarge { .. }));
                prop_assert!(is_too_large);
            }
        }
    }

    #[test]
    fn arbitrary_envelopes_never_exceed_the_bound(
        data in proptest::collection::vec(any::<u8>(), 0..300),
        max in 0u64..5000,
    ) {
        let dict = ZstdDictionary::new(b"dictionary".repeat(4));
        for d in [None, Some(&dict)] {
            if let Ok(out) = decompress(&data, max, CodecSet::ALL, d) {
                prop_assert!(out.len() as u64 <= max);
            }
        }
    }

    #[test]
    fn mutated_envelopes_are_errors_or_bounded(
        data in compressible(),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
        codec in 0usize..2,
    ) {
        let compression = if codec == 0 { Compression::Lz4 } else { Compression::Zstd(3) };
        if let Some(env) = compress(compression, None, &data) {
            let mut bad = env.to_vec();
            for (at, x) in flips {
                let i = at % bad.len();
                bad[i] ^= x | 1;
            }
            if let Ok(out) = decompress(&bad, MAX, CodecSet::ALL, None) {
                prop_assert!(out.len() as u64 <= MAX);
            }
        }
    }
}
