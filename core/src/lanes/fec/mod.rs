//! Forward error correction of a lane's packets: the receiver rebuilds a lost packet's lane
//! frames from the others of its group and a repair, with no round trip.
//!
//! What a lane puts in one packet is one *source symbol* (an FEC_SOURCE frame around its LANE
//! frames). Symbols form groups; when a group closes, its Reed–Solomon repair shards
//! (reed-solomon-simd, the Leopard algorithm) leave in later packets. Any `sources` of the
//! `sources + repairs` symbols rebuild the group.
//!
//! A group closes when it is full, or when waiting longer would make its repairs useless: by
//! the earliest deadline among its messages less the one-way delay, and without deadlines
//! after half a smoothed RTT (past that, a retransmission would come about as soon). So at
//! low message rates a group holds fewer sources than its level's nominal size, and the
//! overhead is higher than the nominal ratio; [`LaneStats::fec_bytes_sent`] counts what it
//! really cost.
//!
//! Modules: `encoder` (the sending side, one per lane), `decoder` (the receiving side, one per
//! connection, within [`LanesConfig::fec_buffer`]).
//!
//! [`LaneStats::fec_bytes_sent`]: super::LaneStats::fec_bytes_sent
//! [`LanesConfig::fec_buffer`]: super::LanesConfig::fec_buffer

mod decoder;
mod encoder;
#[cfg(test)]
mod tests;

use std::fmt;
use std::str::FromStr;

pub(crate) use decoder::{FecDecoder, Recovered};
pub(crate) use encoder::FecEncoder;

/// Most source symbols a group may have (on the wire, from any peer).
pub const MAX_SOURCES: u8 = 32;
/// Most repair shards a group may have (on the wire, from any peer).
pub const MAX_REPAIRS: u8 = 16;
/// Bytes of the length prefix of a source symbol inside a shard.
const LEN_PREFIX: usize = 2;

/// How much forward error correction a lane sends: the nominal shape of its groups.
///
/// | level | sources | repairs | overhead | rebuilds |
/// |---|---|---|---|---|
/// | `None` | — | — | 0 | nothing |
/// | `Low` | 8 | 1 | 12.5 % | any 1 lost packet of 9 |
/// | `Medium` | 4 | 1 | 25 % | any 1 lost packet of 5 |
/// | `High` | 4 | 2 | 50 % | any 2 lost packets of 6 |
///
/// The overhead is in packets' lane bytes: a repair is as long as the group's longest source
/// symbol. A group closed early (see the module docs) costs more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum FecLevel {
    /// No forward error correction (the default).
    #[default]
    None,
    /// 8 sources, 1 repair.
    Low,
    /// 4 sources, 1 repair.
    Medium,
    /// 4 sources, 2 repairs.
    High,
}

impl FecLevel {
    /// Every level, weakest first.
    pub const ALL: [Self; 4] = [Self::None, Self::Low, Self::Medium, Self::High];

    /// `(sources, repairs)` of a full group; `None` without FEC.
    pub fn shape(self) -> Option<(u8, u8)> {
        match self {
            Self::None => None,
            Self::Low => Some((8, 1)),
            Self::Medium => Some((4, 1)),
            Self::High => Some((4, 2)),
        }
    }

    /// Repair bytes per source byte of a full group.
    pub fn nominal_overhead(self) -> f64 {
        self.shape()
            .map_or(0.0, |(s, r)| f64::from(r) / f64::from(s))
    }

    /// The name [`FromStr`] reads: `none`, `low`, `medium`, `high`.
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
        }
    }
}

impl fmt::Display for FecLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not an FEC level.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown FEC level {0:?} (expected none, low, medium or high)")]
pub struct UnknownFecLevel(pub String);

impl FromStr for FecLevel {
    type Err = UnknownFecLevel;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|l| l.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownFecLevel(s.to_owned()))
    }
}

/// The shard length for symbols of at most `max_symbol` bytes: the prefix and the symbol,
/// rounded up to even.
fn shard_len(max_symbol: usize) -> usize {
    (LEN_PREFIX + max_symbol).next_multiple_of(2)
}

/// `symbol` as a shard of `len` bytes; `None` if it does not fit.
fn to_shard(symbol: &[u8], len: usize) -> Option<Vec<u8>> {
    let n = u16::try_from(symbol.len()).ok()?;
    if LEN_PREFIX + symbol.len() > len {
        return None;
    }
    let mut shard = Vec::with_capacity(len);
    shard.extend_from_slice(&n.to_be_bytes());
    shard.extend_from_slice(symbol);
    shard.resize(len, 0);
    Some(shard)
}

/// The symbol inside a shard; `None` if its length prefix points past the shard.
fn from_shard(shard: &[u8]) -> Option<&[u8]> {
    let (prefix, rest) = shard.split_first_chunk::<LEN_PREFIX>()?;
    rest.get(..usize::from(u16::from_be_bytes(*prefix)))
}
