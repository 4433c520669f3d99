//! Message compression on lanes: lz4 for speed, zstd at a level (optionally with a dictionary
//! both ends hold) for bytes, negotiated in the handshake and bounded at the receiver.
//!
//! ## On the wire
//!
//! A message is compressed whole, before it is fragmented; what the lane then carries (and
//! flow control, reassembly and the buffers count) is its *envelope*:
//!
//! ```text
//! codec    1 byte: 1 lz4 block (lz4_flex), 2 zstd frame, 3 zstd frame made with the dictionary
//!          both ends announced (zstd frames are magicless and carry no checksum: the packet's
//!          protection already does)
//! length   varint: the message's length once decompressed
//! payload  the codec's output
//! ```
//!
//! Every LANE frame of such a message (each fragment, redundant copy and FEC-rebuilt frame)
//! carries the COMPRESSED bit of its info byte (`0x20`, see [`crate::wire::frame`]); the
//! receiver takes the bit from the first fragment it holds. A message that would not shrink
//! (or is shorter than [`MIN_COMPRESS_LEN`]) is sent as it is, without the bit.
//!
//! ## Negotiation
//!
//! Each end announces what it decodes in its transport parameters: `lane_decompress`
//! (`0x3741_0005`, a varint bit set: `0x1` lz4, `0x2` zstd; see [`CodecSet`]) and
//! `lane_zstd_dictionary` (`0x3741_0006`, the [`ZstdDictionary::id`] of its dictionary,
//! absent without one). A sender compresses only with a codec its peer announced, and with the
//! dictionary only when both ids are equal; otherwise the message goes without that codec (a
//! zstd message without the dictionary, or raw). A peer that announced nothing (an older weir)
//! never receives a compressed message.
//!
//! ## Bounds at the receiver
//!
//! Decompression runs when the application reads the message, not when it arrives: the
//! reassembly and receive buffers hold envelopes and count their (compressed) bytes, and the
//! decompressed message goes straight to the application. The announced length is checked
//! against `max_message_size` (the bound this end announced; no honest sender exceeds it,
//! since it refuses larger messages) *before* anything is allocated, and the codec writes into
//! a buffer of exactly that length and no more: a decompression bomb fails with
//! [`DecompressError::TooLarge`] or [`DecompressError::Corrupt`] having used at most
//! `max_message_size` bytes. zstd decompresses in one shot into that buffer, so the window a
//! frame claims allocates nothing.
//!
//! A message that does not decompress (a bomb, corrupt data, a codec or dictionary this end
//! never announced) is dropped alone, counted in
//! [`LaneStats::decompression_failed`](super::LaneStats::decompression_failed) and reported as
//! [`LaneEvent::Undecodable`](super::LaneEvent::Undecodable) with its [`DecompressError`]. It
//! is not a connection error, even for a codec never announced: the check runs when the
//! application reads, long after the frames were accepted; the bytes were within the peer's
//! flow-control credit and cost this end nothing more than any message; and one bad message of
//! a game's session is not worth the session.

mod codec;
#[cfg(test)]
mod tests;

use std::fmt;

use bytes::Bytes;

pub(crate) use codec::{Decoder, Encoder};
pub use codec::{compress, decompress};

/// The shortest message worth compressing: below it the envelope's two bytes and a codec's
/// own framing (lz4 needs 13 bytes for its first match; a zstd frame header and block header
/// take five) leave nothing to gain, and the attempt would cost CPU on every small message.
pub const MIN_COMPRESS_LEN: usize = 16;

/// The largest zstd dictionary a connection accepts in its configuration: a dictionary is
/// copied into each connection's zstd contexts (encoder and decoder), so its size is memory
/// per connection. zstd's own trainer defaults to 110 KiB.
pub const MAX_DICTIONARY_SIZE: usize = 128 << 10;

/// The highest zstd level (zstd's maximum); higher levels are treated as this one.
pub const MAX_ZSTD_LEVEL: u8 = 22;

/// How a message is compressed (a level, as the strategy selector and lanes choose it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Compression {
    /// No compression.
    #[default]
    None,
    /// lz4: cheap (hundreds of MB/s on a phone), for paths where CPU matters more than
    /// bytes; it gains little on small messages.
    Lz4,
    /// zstd at this level (1–22; 0 counts as 1): for slow paths where every byte costs
    /// airtime. With a dictionary both ends hold, it shrinks small messages too.
    Zstd(u8),
}

impl Compression {
    /// zstd's default level, the one `zstd` without a level names.
    pub const ZSTD_DEFAULT_LEVEL: u8 = 3;

    /// The codec family, `None` for no compression.
    fn family(self) -> Option<Family> {
        match self {
            Self::None => None,
            Self::Lz4 => Some(Family::Lz4),
            Self::Zstd(_) => Some(Family::Zstd),
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => f.write_str("none"),
            Self::Lz4 => f.write_str("lz4"),
            Self::Zstd(level) => write!(f, "zstd-{level}"),
        }
    }
}

/// A name that is not a compression level.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown compression {0:?} (expected none, lz4, zstd or zstd-N with N in 1-22)")]
pub struct UnknownCompression(pub String);

impl std::str::FromStr for Compression {
    type Err = UnknownCompression;

    /// `none`, `lz4`, `zstd` (level 3) or `zstd-N` (also `zstdN`, `zstd:N`), in any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.to_ascii_lowercase();
        let unknown = || UnknownCompression(s.to_owned());
        match lower.as_str() {
            "none" | "off" => Ok(Self::None),
            "lz4" => Ok(Self::Lz4),
            "zstd" => Ok(Self::Zstd(Self::ZSTD_DEFAULT_LEVEL)),
            other => {
                let level = other.strip_prefix("zstd").ok_or_else(unknown)?;
                let level = level
                    .strip_prefix(['-', ':'])
                    .unwrap_or(level)
                    .parse::<u8>()
                    .map_err(|_| unknown())?;
                if (1..=MAX_ZSTD_LEVEL).contains(&level) {
                    Ok(Self::Zstd(level))
                } else {
                    Err(unknown())
                }
            }
        }
    }
}

/// How a lane compresses its messages ([`LaneConfig::compression`](super::LaneConfig::compression)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LaneCompression {
    /// The strategy selector's level (see
    /// [`Strategy::compression`](crate::adapt::Strategy::compression)) on an
    /// [`adaptive`](super::LaneConfig::adaptive) lane; none on a pinned one. The default.
    #[default]
    Auto,
    /// Always this level, whatever the strategy ([`Compression::None`]: never compress).
    Fixed(Compression),
}

/// The codecs of weir's compressed messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Family {
    Lz4,
    Zstd,
}

/// The codec an envelope names (its first byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// An lz4 block.
    Lz4,
    /// A zstd frame.
    Zstd,
    /// A zstd frame made with the dictionary both ends announced.
    ZstdDictionary,
}

impl Codec {
    /// The codec's byte in an envelope.
    pub const fn to_wire(self) -> u8 {
        match self {
            Self::Lz4 => 1,
            Self::Zstd => 2,
            Self::ZstdDictionary => 3,
        }
    }

    /// The codec a byte names.
    pub const fn from_wire(byte: u8) -> Option<Self> {
        Some(match byte {
            1 => Self::Lz4,
            2 => Self::Zstd,
            3 => Self::ZstdDictionary,
            _ => return None,
        })
    }
}

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Lz4 => "lz4",
            Self::Zstd => "zstd",
            Self::ZstdDictionary => "zstd with dictionary",
        })
    }
}

/// The codecs one end decodes, as it announces them in the handshake (`lane_decompress`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CodecSet {
    /// lz4 blocks.
    pub lz4: bool,
    /// zstd frames (with the dictionary too, if both ends hold the same one).
    pub zstd: bool,
}

const LZ4_BIT: u64 = 0x1;
const ZSTD_BIT: u64 = 0x2;

impl CodecSet {
    /// Every codec weir has: what a connection decodes by default.
    pub const ALL: Self = Self {
        lz4: true,
        zstd: true,
    };
    /// None: the peer never compresses towards this end.
    pub const NONE: Self = Self {
        lz4: false,
        zstd: false,
    };

    /// The transport parameter's value.
    pub const fn to_wire(self) -> u64 {
        (if self.lz4 { LZ4_BIT } else { 0 }) | (if self.zstd { ZSTD_BIT } else { 0 })
    }

    /// The set a transport parameter announces; bits of codecs weir does not know are ignored
    /// (a later version may add codecs).
    pub const fn from_wire(bits: u64) -> Self {
        Self {
            lz4: bits & LZ4_BIT != 0,
            zstd: bits & ZSTD_BIT != 0,
        }
    }

    /// Whether `compression`'s codec is in the set (no compression always is).
    pub const fn allows(self, compression: Compression) -> bool {
        match compression {
            Compression::None => true,
            Compression::Lz4 => self.lz4,
            Compression::Zstd(_) => self.zstd,
        }
    }

    fn decodes(self, codec: Codec) -> bool {
        match codec {
            Codec::Lz4 => self.lz4,
            Codec::Zstd | Codec::ZstdDictionary => self.zstd,
        }
    }
}

/// A zstd dictionary: bytes both ends must hold (trained offline from sample messages with
/// `zstd --train`, or any representative bytes), and their id, which the handshake compares.
///
/// Small messages — a game's inputs and snapshots — share little within one message but much
/// with each other: a dictionary of their common structure lets zstd shrink messages of a few
/// dozen bytes that would not shrink on their own.
#[derive(Clone, PartialEq, Eq)]
pub struct ZstdDictionary {
    bytes: Bytes,
    id: u64,
}

impl ZstdDictionary {
    /// A dictionary of `bytes` (at most [`MAX_DICTIONARY_SIZE`], checked with the lanes'
    /// configuration).
    pub fn new(bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        let id = dictionary_id(&bytes);
        Self { bytes, id }
    }

    /// The dictionary's bytes.
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// Its id: SipHash-1-3 (key zero) of its bytes, in 62 bits (a varint), never zero (zero
    /// announces no dictionary). Two ends use the dictionary only when their ids agree.
    pub fn id(&self) -> u64 {
        self.id
    }
}

impl fmt::Debug for ZstdDictionary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ZstdDictionary")
            .field("len", &self.bytes.len())
            .field("id", &format_args!("{:#x}", self.id))
            .finish()
    }
}

fn dictionary_id(bytes: &[u8]) -> u64 {
    use std::hash::Hasher;
    let mut hasher = siphasher::sip::SipHasher13::new_with_keys(0, 0);
    hasher.write(bytes);
    (hasher.finish() & ((1 << 62) - 1)).max(1)
}

/// Why a compressed message could not be decompressed. Each drops that message only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecompressError {
    /// The envelope ends before its codec byte and length.
    #[error("compressed message truncated before its header")]
    Truncated,
    /// The codec byte names no codec weir knows.
    #[error("unknown compression codec {0}")]
    UnknownCodec(u8),
    /// A codec this end did not announce, or a dictionary it does not hold.
    #[error("{0} was not announced by this end")]
    Unannounced(Codec),
    /// The message would decompress beyond the bound (`max_message_size`): a bomb, refused
    /// before anything was allocated.
    #[error("compressed message claims {len} bytes, beyond the limit of {max}")]
    TooLarge {
        /// The length the envelope announced.
        len: u64,
        /// This end's bound.
        max: u64,
    },
    /// The codec refused the data, or it decompressed to more than the length it announced
    /// (which the codec was never given room for).
    #[error("corrupt {0} data")]
    Corrupt(Codec),
    /// The data decompressed to fewer bytes than announced.
    #[error("compressed message announced {announced} bytes but decompressed to {actual}")]
    LengthMismatch {
        /// The length the envelope announced.
        announced: u64,
        /// What the codec produced.
        actual: u64,
    },
}
