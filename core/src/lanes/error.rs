//! Why a lane refused a message.

use super::config::LaneConfigError;

/// Why [`send_message`](crate::connection::Connection::send_message) refused a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendMessageError {
    /// The lane number is beyond what the peer accepts (its `max_lanes`).
    #[error("lane {lane} is beyond the peer's limit of {max} lanes")]
    LaneLimit {
        /// The lane asked for.
        lane: u64,
        /// The peer's limit.
        max: u64,
    },
    /// The message is larger than the smaller of both ends' `max_message_size`.
    #[error("message of {size} bytes exceeds the maximum of {max} bytes")]
    TooLarge {
        /// The message's size.
        size: usize,
        /// The largest message allowed.
        max: u64,
    },
    /// The send buffer is full (a reliable lane, or an unreliable one with nothing older to
    /// push out): wait for [`LaneEvent::Writable`](super::LaneEvent::Writable).
    #[error("the lanes' send buffer is full")]
    Blocked,
    /// The handshake has not delivered the peer's limits yet.
    #[error("the handshake is not complete")]
    NotConnected,
    /// The connection is closed.
    #[error("the connection is closed")]
    Closed,
}

/// Why a lane could not be configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LaneError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] LaneConfigError),
    /// The lane already carried messages in another delivery mode.
    #[error("lane {lane} already carries messages in another delivery mode")]
    ModeChange {
        /// The lane.
        lane: u64,
    },
    /// The lane number is beyond what the peer accepts, or beyond this end's own limit.
    #[error("lane {lane} is beyond the limit of {max} lanes")]
    LaneLimit {
        /// The lane asked for.
        lane: u64,
        /// The limit.
        max: u64,
    },
}
