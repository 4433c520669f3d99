//! What the application sees of its streams: their state and the events they raise.

use super::{Dir, StreamId};
use crate::wire::VarInt;

/// The state of a stream as the application sees it (DESIGN.md §3), computed from the states of
/// its send half and its receive half (RFC 9000 §3.1, §3.2).
///
/// | send half (ours) | receive half (the peer's data) | state |
/// |---|---|---|
/// | reset by us, or stopped by the peer | any | [`Reset`](Self::Reset) |
/// | any | reset by the peer | [`Reset`](Self::Reset) |
/// | sending (Ready, Send) | receiving (Recv) | [`Open`](Self::Open) |
/// | finished (`finish` called: Data Sent, Data Recvd), or none (the peer's unidirectional stream) | receiving | [`HalfClosedLocal`](Self::HalfClosedLocal) |
/// | sending | final size known (Size Known, Data Recvd, Data Read), or none (our unidirectional stream) | [`HalfClosedRemote`](Self::HalfClosedRemote) |
/// | finished or none | final size known or none | [`Closed`](Self::Closed) |
///
/// A stream whose state has been released (both halves done: everything we sent acknowledged,
/// everything the peer sent read) is reported as [`Reset`](Self::Reset) if either half was
/// abandoned, [`Closed`](Self::Closed) otherwise — or [`Closed`](Self::Closed) whatever
/// happened to it once the connection's bounded record of closed streams forgot it
/// ([`StreamsConfig::closed_stream_ranges`](super::StreamsConfig::closed_stream_ranges)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamState {
    /// Both directions carry data.
    Open,
    /// We finished sending (or cannot send); the peer may still send.
    HalfClosedLocal,
    /// The peer finished sending (or cannot send); we may still send.
    HalfClosedRemote,
    /// Both directions finished; received data may still wait to be read, sent data to be
    /// acknowledged.
    Closed,
    /// One direction was abandoned with RESET_STREAM (by either end, or by us at the peer's
    /// STOP_SENDING request).
    Reset,
}

/// Something the application should react to, from the connection's `poll_event`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamEvent {
    /// The peer opened one or more streams of this direction: call `accept` until it returns
    /// `None`.
    Opened {
        /// The direction of the new streams.
        dir: Dir,
    },
    /// A stream has data, its end, or a reset to read (raised when reading would stop
    /// blocking).
    Readable {
        /// The stream.
        id: StreamId,
    },
    /// A stream whose write was blocked can accept data again.
    Writable {
        /// The stream.
        id: StreamId,
    },
    /// Everything sent on a finished stream, its end included, was acknowledged by the peer.
    Finished {
        /// The stream.
        id: StreamId,
    },
    /// The peer asked us to stop sending (STOP_SENDING): the stream's send half was reset with
    /// the peer's code and further writes fail.
    Stopped {
        /// The stream.
        id: StreamId,
        /// The peer's application error code.
        error_code: VarInt,
    },
    /// The peer raised its stream limit after `open` failed: streams of this direction can be
    /// opened again.
    Available {
        /// The direction.
        dir: Dir,
    },
}
