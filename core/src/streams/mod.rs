//! Streams: ordered, reliable, flow-controlled byte streams multiplexed over a connection
//! (DESIGN.md §3, following RFC 9000 §2–§4).
//!
//! The application opens streams ([`StreamId`] says who opened one and in which directions it
//! carries data), writes to and reads from them, and learns what happened from
//! [`StreamEvent`]s; [`StreamState`] summarises a stream's state. The connection drives the
//! layer (crate-internal): it feeds the peer's frames in, asks for frames to fill packets, and
//! reports which packets were acknowledged or lost.
//!
//! ## What the layer guarantees
//!
//! - **Priorities**: every stream has an `i32` priority (higher is more urgent, 0 by default).
//!   The stream with the highest priority and data to send always goes first into the packet
//!   being built, so a bulk stream delays an urgent one by at most the frame already written;
//!   streams of one priority take turns frame by frame.
//! - **Flow control**: per-stream and per-connection windows; credit is returned as the
//!   application reads, and windows double toward 2 × BDP, within configured bounds, when the
//!   application reads a window faster than twice the RTT. A write is accepted only within
//!   the peer's stream credit and the configured send buffers, so a receiver that stops reading
//!   bounds what the sender buffers; the application gets [`WriteError::Blocked`], then a
//!   [`StreamEvent::Writable`].
//! - **Bounded memory**: every buffer and queue has a limit from [`StreamsConfig`]; received
//!   data stays zero-copy except for small pieces, which are copied and merged so that a peer
//!   cannot pin whole datagrams with tiny frames (see `assembler.rs`); a peer that fragments a
//!   stream beyond the configured number of ranges is a connection error, never a silent drop.
//! - **Bad input is normal**: every frame is validated. Violations are answered with the
//!   [`TransportError`](crate::TransportError) RFC 9000 prescribes (FLOW_CONTROL_ERROR,
//!   STREAM_LIMIT_ERROR, STREAM_STATE_ERROR, FINAL_SIZE_ERROR); frames for streams already
//!   closed and released are ignored.
//!
//! ## Modules
//!
//! One concept per file: `send_buf` / `send` (the send half), `assembler` / `recv` (the
//! receive half), `flow` (windows and credit), `limits` (stream counts), `scheduler`
//! (priorities), `sent` (what a packet carried), `closed` (what is remembered of released streams), and `StreamsState` in `state` with its
//! methods split by role (`app`, `incoming`, `outgoing`, `feedback`).

mod app;
mod assembler;
mod closed;
mod config;
mod error;
mod event;
mod feedback;
mod flow;
mod id;
mod incoming;
mod limits;
mod outgoing;
mod recv;
mod scheduler;
mod send;
mod send_buf;
mod sent;
mod state;
mod stream;
#[cfg(test)]
mod tests;

pub use config::StreamsConfig;
pub use error::{ClosedStream, OpenError, ReadError, WriteError};
pub use event::{StreamEvent, StreamState};
pub use id::{Dir, Side, StreamId};

// Used by the connection (issue 3); until it lands, these re-exports are unused.
pub(crate) use config::PeerLimits;
pub(crate) use flow::{RecvWindow, SendCredit};
pub(crate) use incoming::dir_from_wire;
pub(crate) use sent::StreamsSent;
pub(crate) use state::StreamsState;
