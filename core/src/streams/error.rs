//! Errors the application gets from stream operations.

use super::{Dir, StreamId};
use crate::wire::VarInt;

/// The stream cannot be used for this operation: it was never opened, its state was already
/// released, this half is finished or reset, or it carries no data in this direction (the
/// receive side of our unidirectional stream, the send side of the peer's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("stream {id} is closed, unknown, or does not carry data in this direction")]
pub struct ClosedStream {
    /// The stream.
    pub id: StreamId,
}

/// Why a write accepted nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    /// No room now: the stream's or the connection's send buffer is full, or the peer's flow
    /// control credit for the stream is used up. A [`Writable`](super::StreamEvent::Writable)
    /// event follows when room frees up.
    #[error("stream is blocked by flow control or a full send buffer; wait for Writable")]
    Blocked,
    /// The peer asked us to stop sending with this application error code (STOP_SENDING);
    /// the stream was reset.
    #[error("the peer stopped the stream with error code {0}")]
    Stopped(VarInt),
    /// The stream cannot be written.
    #[error(transparent)]
    ClosedStream(#[from] ClosedStream),
}

/// Why a read returned no data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// Nothing to read yet. A [`Readable`](super::StreamEvent::Readable) event follows when
    /// there is.
    #[error("no data to read yet; wait for Readable")]
    Blocked,
    /// The peer abandoned the stream (RESET_STREAM) with this application error code; unread
    /// data was discarded.
    #[error("the peer reset the stream with error code {0}")]
    Reset(VarInt),
    /// The stream cannot be read.
    #[error(transparent)]
    ClosedStream(#[from] ClosedStream),
}

/// Why a stream could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// The peer's stream limit for this direction is reached. An
    /// [`Available`](super::StreamEvent::Available) event follows when it raises the limit.
    #[error("the peer allows at most {limit} {dir:?} streams; wait for Available")]
    Limit {
        /// The direction.
        dir: Dir,
        /// The peer's current limit (streams of this direction ever opened).
        limit: u64,
    },
    /// The connection is closed.
    #[error("the connection is closed")]
    ConnectionClosed,
}
