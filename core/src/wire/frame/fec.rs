//! FEC_SOURCE and FEC_REPAIR: forward error correction of a lane's packets (DESIGN.md §3a).
//!
//! A lane with FEC wraps what it puts in each packet — its LANE frames, one or more — in one
//! FEC_SOURCE frame: the *source symbol* `index` of group `group`. When a group closes, the
//! sender computes Reed–Solomon recovery shards over its source symbols and sends each in a
//! FEC_REPAIR frame, in a later packet. A receiver that got any `sources` of the group's
//! `sources + repairs` symbols rebuilds the missing source symbols and reads their LANE frames
//! as if the lost packets had arrived.
//!
//! ```text
//! FEC_SOURCE (0x34)             FEC_REPAIR (0x35)
//!   lane      varint              lane      varint
//!   group     varint              group     varint
//!   index     u8                  sources   u8   (source symbols in the group)
//!   length    varint              repairs   u8   (repair shards in the group)
//!   payload   LANE frames         index     u8   (this shard, < repairs)
//!                                 age       varint (ms since the group's first source)
//!                                 length    varint
//!                                 shard     bytes
//! ```
//!
//! A shard is `length` bytes: every source symbol padded to it after a two-byte big-endian
//! length prefix (`length` is even, as the code needs). A rebuilt symbol's LANE frames carry
//! the time to live they had when the source left; `age` lets the receiver take off the time
//! since (for the group's oldest source, so never too little). The decoder checks only the layout;
//! what the numbers mean is checked by the lanes, which drop what makes no sense.

use bytes::{BufMut, Bytes};

use super::FrameType;
use crate::wire::error::DecodeError;
use crate::wire::reader::Reader;
use crate::wire::varint::{VarInt, varint_size};

/// A lane's source symbol: the LANE frames it put in one packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FecSource {
    /// The lane.
    pub lane: VarInt,
    /// The group, numbered per lane from 0.
    pub group: VarInt,
    /// The symbol's place in its group.
    pub index: u8,
    /// The LANE frames (of `lane` only).
    pub payload: Bytes,
}

impl FecSource {
    /// Bytes of the fields before a payload of `payload_len` bytes.
    pub fn header_len(lane: VarInt, group: VarInt, payload_len: usize) -> usize {
        1 + lane.size() + group.size() + 1 + varint_size(payload_len as u64)
    }

    /// Bytes [`encode`](Self::encode) writes.
    pub fn encoded_len(&self) -> usize {
        Self::header_len(self.lane, self.group, self.payload.len()) + self.payload.len()
    }

    /// Writes the fields before a payload of `payload_len` bytes (the payload follows).
    pub fn encode_header<B: BufMut>(
        buf: &mut B,
        lane: VarInt,
        group: VarInt,
        index: u8,
        payload_len: usize,
    ) {
        buf.put_u8(FrameType::FEC_SOURCE.value() as u8);
        lane.encode(buf);
        group.encode(buf);
        buf.put_u8(index);
        VarInt::saturating_from_u64(payload_len as u64).encode(buf);
    }

    /// Writes the frame.
    pub fn encode<B: BufMut>(&self, buf: &mut B) {
        Self::encode_header(buf, self.lane, self.group, self.index, self.payload.len());
        buf.put_slice(&self.payload);
    }

    pub(super) fn decode(r: &mut Reader<'_>, src: &Bytes) -> Result<Self, DecodeError> {
        let lane = r.varint()?;
        let group = r.varint()?;
        let index = r.u8()?;
        let payload = r.length_prefixed()?;
        Ok(Self {
            lane,
            group,
            index,
            payload: src.slice(payload),
        })
    }
}

/// A repair shard of a lane's FEC group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FecRepair {
    /// The lane.
    pub lane: VarInt,
    /// The group.
    pub group: VarInt,
    /// Source symbols in the group.
    pub sources: u8,
    /// Repair shards in the group.
    pub repairs: u8,
    /// This shard's place among the repairs.
    pub index: u8,
    /// Milliseconds since the group's first source left (rounded up).
    pub age_ms: VarInt,
    /// The shard.
    pub shard: Bytes,
}

impl FecRepair {
    /// Bytes of the fields before a shard of `shard_len` bytes.
    pub fn header_len(lane: VarInt, group: VarInt, age_ms: VarInt, shard_len: usize) -> usize {
        1 + lane.size() + group.size() + 3 + age_ms.size() + varint_size(shard_len as u64)
    }

    /// Bytes [`encode`](Self::encode) writes.
    pub fn encoded_len(&self) -> usize {
        Self::header_len(self.lane, self.group, self.age_ms, self.shard.len()) + self.shard.len()
    }

    /// Writes the frame.
    pub fn encode<B: BufMut>(&self, buf: &mut B) {
        buf.put_u8(FrameType::FEC_REPAIR.value() as u8);
        self.lane.encode(buf);
        self.group.encode(buf);
        buf.put_u8(self.sources);
        buf.put_u8(self.repairs);
        buf.put_u8(self.index);
        self.age_ms.encode(buf);
        VarInt::saturating_from_u64(self.shard.len() as u64).encode(buf);
        buf.put_slice(&self.shard);
    }

    pub(super) fn decode(r: &mut Reader<'_>, src: &Bytes) -> Result<Self, DecodeError> {
        let lane = r.varint()?;
        let group = r.varint()?;
        let sources = r.u8()?;
        let repairs = r.u8()?;
        let index = r.u8()?;
        let age_ms = r.varint()?;
        let shard = r.length_prefixed()?;
        Ok(Self {
            lane,
            group,
            sources,
            repairs,
            index,
            age_ms,
            shard: src.slice(shard),
        })
    }
}
