//! What one packet carried for the streams layer, kept by loss recovery until the packet is
//! acknowledged or declared lost.
//!
//! The record is small (it exists per packet in flight): stream data as (id, offset, length,
//! FIN) chunks, per-stream control frames as (id, kind), and connection-level control frames
//! as bits. Values are not stored: a frame that is lost is sent again with its *current* value
//! when it is still relevant.

use smallvec::SmallVec;

use super::{Dir, StreamId};

/// The data of one STREAM frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StreamChunk {
    /// The stream.
    pub(crate) id: StreamId,
    /// Offset of the first byte.
    pub(crate) offset: u64,
    /// Bytes of data (a packet is far below 4 GiB).
    pub(crate) len: u32,
    /// Whether the frame carried the FIN.
    pub(crate) fin: bool,
}

/// A per-stream control frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StreamControl {
    /// RESET_STREAM.
    Reset,
    /// STOP_SENDING.
    StopSending,
    /// MAX_STREAM_DATA.
    MaxStreamData,
    /// STREAM_DATA_BLOCKED.
    DataBlocked,
}

/// Connection-level control frames, as bits of [`StreamsSent::flags`].
pub(crate) mod flags {
    /// MAX_DATA.
    pub(crate) const MAX_DATA: u8 = 1 << 0;
    /// MAX_STREAMS (bidirectional).
    pub(crate) const MAX_STREAMS_BIDI: u8 = 1 << 1;
    /// MAX_STREAMS (unidirectional).
    pub(crate) const MAX_STREAMS_UNI: u8 = 1 << 2;
    /// DATA_BLOCKED.
    pub(crate) const DATA_BLOCKED: u8 = 1 << 3;
    /// STREAMS_BLOCKED (bidirectional).
    pub(crate) const STREAMS_BLOCKED_BIDI: u8 = 1 << 4;
    /// STREAMS_BLOCKED (unidirectional).
    pub(crate) const STREAMS_BLOCKED_UNI: u8 = 1 << 5;
}

/// The bit of [`flags::MAX_STREAMS_BIDI`] or [`flags::MAX_STREAMS_UNI`] for `dir`.
pub(super) fn max_streams_flag(dir: Dir) -> u8 {
    match dir {
        Dir::Bi => flags::MAX_STREAMS_BIDI,
        Dir::Uni => flags::MAX_STREAMS_UNI,
    }
}

/// The bit of [`flags::STREAMS_BLOCKED_BIDI`] or [`flags::STREAMS_BLOCKED_UNI`] for `dir`.
pub(super) fn streams_blocked_flag(dir: Dir) -> u8 {
    match dir {
        Dir::Bi => flags::STREAMS_BLOCKED_BIDI,
        Dir::Uni => flags::STREAMS_BLOCKED_UNI,
    }
}

/// The streams layer's part of one packet (see the [module docs](self)).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct StreamsSent {
    /// STREAM frames.
    pub(crate) chunks: SmallVec<[StreamChunk; 2]>,
    /// Per-stream control frames.
    pub(crate) controls: SmallVec<[(StreamId, StreamControl); 1]>,
    /// Connection-level control frames ([`flags`]).
    pub(crate) flags: u8,
}

impl StreamsSent {
    /// Whether the packet carried nothing of the streams layer.
    pub(crate) fn is_empty(&self) -> bool {
        self.chunks.is_empty() && self.controls.is_empty() && self.flags == 0
    }

    /// Forgets everything (to reuse the record's storage for another packet).
    #[cfg(test)]
    pub(crate) fn clear(&mut self) {
        self.chunks.clear();
        self.controls.clear();
        self.flags = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_stays_small() {
        // Per packet in flight: keep an eye on it.
        assert!(std::mem::size_of::<StreamsSent>() <= 96);
        let mut s = StreamsSent::default();
        assert!(s.is_empty());
        s.flags |= max_streams_flag(Dir::Uni) | streams_blocked_flag(Dir::Bi);
        assert!(!s.is_empty());
        s.clear();
        assert!(s.is_empty());
    }
}
