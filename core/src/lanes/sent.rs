//! What one packet carried for the lanes, kept by loss recovery until the packet is
//! acknowledged or declared lost: fragments of reliable messages, and lane control frames.
//! Unreliable fragments are not recorded: nothing is done when they are lost.

use smallvec::SmallVec;

/// A fragment of a reliable message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LaneChunk {
    pub(crate) lane: u64,
    pub(crate) seq: u64,
    /// Where the fragment starts in its message.
    pub(crate) start: u64,
    pub(crate) len: u32,
}

/// A lane control frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LaneControl {
    /// MAX_LANE_DATA for a lane (sent again with the current value when lost).
    MaxLaneData(u64),
    /// MAX_LANES_DATA.
    MaxLanesData,
    /// LANE_SKIP announcing this floor.
    Skip { lane: u64, seq: u64 },
}

/// The lanes' part of a packet's record: nothing but a null pointer in the records of packets
/// without lane frames (every packet of a bulk stream), so that lanes cost those nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct LanesSent(Option<Box<Parts>>);

/// What a packet carried for the lanes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Parts {
    pub(crate) chunks: SmallVec<[LaneChunk; 2]>,
    pub(crate) controls: SmallVec<[LaneControl; 1]>,
    /// Unreliable messages with redundancy that the packet carried whole (lane, sequence):
    /// once it is acknowledged they need no more copies.
    pub(crate) whole: SmallVec<[(u64, u64); 2]>,
}

impl LanesSent {
    pub(crate) fn is_empty(&self) -> bool {
        self.0
            .as_ref()
            .is_none_or(|p| p.chunks.is_empty() && p.controls.is_empty() && p.whole.is_empty())
    }

    /// What was recorded, if anything.
    pub(crate) fn parts(&self) -> Option<&Parts> {
        self.0.as_deref()
    }

    /// The record, to add to.
    pub(crate) fn parts_mut(&mut self) -> &mut Parts {
        self.0.get_or_insert_with(Box::default)
    }
}
