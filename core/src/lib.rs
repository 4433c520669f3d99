//! # weir-core
//!
//! The sans-IO, clock-injected protocol core of **weir**, a transport for latency-sensitive
//! applications (multiplayer games first). The core consumes datagrams and timer events and
//! produces datagrams to send, timer deadlines and application events. It never opens a socket,
//! never spawns a thread, never reads a clock and never draws unseeded randomness: time is an
//! argument (`now: Instant`) and randomness comes from a seed in the configuration, so a run is
//! reproducible from (configuration, seed, inputs). See `DESIGN.md` §2.
//!
//! ## Modules
//!
//! - [`wire`]: the weir wire format — QUIC-style variable-length integers, packet headers,
//!   packet numbers and frames, with bounds-checked decoding that never panics.
//! - [`protect`]: packet protection, the layer between header and frames: the traits, and the
//!   integrity-only CRC-32C protection of the simulator and tests.
//! - [`crypto`]: TLS 1.3 through rustls — the handshake, AEAD and header-protection keys per
//!   packet-number space, key updates, identities and pins; [`crypto::Security`] is chosen in
//!   [`config::EndpointConfig::security`], with no default.
//! - [`range_set`]: a bounded set of disjoint integer ranges (acknowledgement tracking).
//! - [`Transmit`]: what the core asks its driver to send.
//! - [`lanes`]: numbered message lanes with five delivery modes, deadlines, fragmentation and
//!   loss repair without a round trip (redundancy), scheduled with the streams.
//! - [`pmtu`]: path MTU discovery (DPLPMTUD): probes for datagrams larger than 1200 bytes
//!   after the handshake and falls back when the path stops carrying them.
//! - [`jitter`]: a jitter buffer that plays periodic messages (game snapshots) out at a steady
//!   pace, its delay adapted to the measured jitter.
//! - `sim` (feature `sim`): a deterministic, seeded, virtual-time network simulator that drives
//!   sans-IO nodes over impaired links (DESIGN.md §6).
//!
//! ## The driving rule
//!
//! Every driver of a sans-IO object in weir — the runtimes, the simulator, the tests — follows
//! one loop: after any input (a datagram, a timeout, an application call), drain
//! `poll_transmit` until it returns `None`, drain `poll_event`, then re-arm the timer to
//! `poll_timeout()`. Calling `handle_timeout` early or late is harmless. The simulator's
//! `sim::Node` trait (feature `sim`) is the smallest form of that contract.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod adapt;
pub mod config;
pub mod congestion;
pub mod connection;
pub mod crypto;
pub mod endpoint;
pub mod error;
pub mod estimate;
pub mod jitter;
pub mod lanes;
pub mod pmtu;
pub mod protect;
pub mod range_set;
pub(crate) mod recovery;
pub mod shaper;
pub mod streams;
mod transmit;
pub mod wire;

#[cfg(feature = "sim")]
pub mod sim;

#[cfg(feature = "fuzzing")]
pub mod fuzzing;

pub use error::{TransportError, TransportErrorCode};
pub use streams::{Dir, Side, StreamId};
pub use transmit::{EcnCodepoint, Transmit};
