//! Deterministic network simulator (DESIGN.md §6).

use std::net::SocketAddr;
use std::time::Instant;

use bytes::BytesMut;

use crate::Transmit;

/// A sans-IO participant driven by the simulator.
pub trait Node: std::any::Any {
    /// A datagram arrived from `from`.
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: BytesMut);
    /// The deadline returned by [`Node::poll_timeout`] passed (possibly late, never early).
    fn handle_timeout(&mut self, now: Instant);
    /// Writes the next datagram into `buf` and describes it; `None` when there is nothing to send.
    fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit>;
    /// The next time the node wants [`Node::handle_timeout`].
    fn poll_timeout(&mut self) -> Option<Instant>;
}
