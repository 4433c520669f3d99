//! The decompressor front: everything a peer's compressed lane message can make this end do
//! when the application reads it (see [`crate::lanes::compression`]).

use crate::lanes::compression::{self, CodecSet, Compression, DecompressError, ZstdDictionary};
use crate::wire::Reader;

/// The bounds an input picks from: tiny, a packet, a lane's default message, more.
const BOUNDS: [u64; 4] = [64, 1200, 1 << 20, 4 << 20];

/// The longest message whose compressions are checked to round-trip.
const ROUND_TRIP_MAX: usize = 64 << 10;

/// What [`decompress_reached`] got to.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DecompressReached {
    /// The envelope decompressed.
    pub decoded: bool,
    /// Compressions of the decoded message (or of the input's bytes) that were checked to
    /// round-trip.
    pub round_trips: usize,
}

/// The dictionary both ends of the body hold, when the input asks for one.
fn dictionary() -> ZstdDictionary {
    ZstdDictionary::new(
        &b"{\"tick\":0,\"entities\":[{\"id\":1,\"pos\":[1000,2000],\"hp\":100}]}"[..],
    )
}

/// Input: one byte of setup — bits 0–1 pick the bound (64 B, 1200 B, 1 MiB, 4 MiB), bit 2 holds the
/// dictionary, bit 3 leaves lz4 out of the codecs this end announced, bit 4 zstd — then an
/// envelope as a peer would send it.
///
/// Oracles: no panic; a decoded message is no longer than the bound, exactly as long as its
/// envelope announced, and only from an announced codec (with the dictionary held, for the
/// dictionary's codec); whatever decodes, and the envelope's bytes taken as a message,
/// compress with every codec into an envelope that is smaller and decodes back to them.
pub fn decompress(data: &[u8]) {
    decompress_reached(data);
}

/// [`decompress`], reporting how far the input got.
pub fn decompress_reached(data: &[u8]) -> DecompressReached {
    let mut reached = DecompressReached::default();
    let Some((&setup, envelope)) = data.split_first() else {
        return reached;
    };
    let bound = BOUNDS[usize::from(setup & 0x03)];
    let dict = dictionary();
    let dictionary = (setup & 0x04 != 0).then_some(&dict);
    let accepted = CodecSet {
        lz4: setup & 0x08 == 0,
        zstd: setup & 0x10 == 0,
    };
    match compression::decompress(envelope, bound, accepted, dictionary) {
        Ok(message) => {
            reached.decoded = true;
            let mut r = Reader::new(envelope);
            let codec = r.u8().expect("a decoded envelope has a codec byte");
            let announced = r.varint().expect("and a length").into_inner();
            assert_eq!(message.len() as u64, announced, "decoded length");
            assert!(
                announced <= bound,
                "{announced} bytes beyond the bound {bound}"
            );
            match codec {
                1 => assert!(accepted.lz4, "lz4 decoded unannounced"),
                2 => assert!(accepted.zstd, "zstd decoded unannounced"),
                3 => assert!(
                    accepted.zstd && dictionary.is_some(),
                    "dictionary unannounced"
                ),
                other => panic!("codec {other} decoded"),
            }
            reached.round_trips += round_trips(&message, &dict);
        }
        Err(DecompressError::TooLarge { len, max }) => {
            assert!(len > max && max == bound, "TooLarge {len} > {max}");
        }
        Err(_) => {}
    }
    reached.round_trips += round_trips(envelope, &dict);
    reached
}

/// Compresses `message` with every codec (zstd with and without the dictionary) and checks
/// that each envelope made decodes back to it; returns how many were checked.
fn round_trips(message: &[u8], dict: &ZstdDictionary) -> usize {
    // Cheap levels, and small messages only: the body runs thousands of times a second.
    if message.len() > ROUND_TRIP_MAX {
        return 0;
    }
    let mut checked = 0;
    for (compression, dictionary) in [
        (Compression::Lz4, None),
        (Compression::Zstd(1), None),
        (Compression::Zstd(3), Some(dict)),
    ] {
        let Some(envelope) = compression::compress(compression, dictionary, message) else {
            continue;
        };
        assert!(
            envelope.len() < message.len(),
            "{compression} did not shrink"
        );
        let back =
            compression::decompress(&envelope, message.len() as u64, CodecSet::ALL, dictionary);
        assert_eq!(back.as_deref(), Ok(message), "{compression} round trip");
        checked += 1;
    }
    checked
}
