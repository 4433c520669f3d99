//! # weir-runtime
//!
//! The shared layer of **weir**'s runtime adapters, [weir-tokio] and [weir-async-std]: what
//! does not depend on the runtime, written once. **Not for direct use**: applications take an
//! adapter, which re-exports these types under its own name (`weir_tokio::Connection` is
//! [`Connection`]) and names the [`Endpoint`] with its runtime (`weir_tokio::Endpoint` is
//! `Endpoint<weir_tokio::Tokio>`).
//!
//! What is here (DESIGN.md §1, §7: no protocol logic, everything the protocol decides the core
//! decides):
//!
//! - the driver ([`runtime::Driver`]), which follows the core's driving rule over a socket and
//!   a timer the adapter provides ([`runtime::Runtime`]), with batched receives (GRO) and
//!   segmented sends (GSO) through quinn-udp on any runtime's socket;
//! - the protocol engine: weir's core or, for [`Config::quic`], quinn-proto;
//! - the application objects: [`Endpoint`], [`Connection`], [`SendStream`] / [`RecvStream`]
//!   (tokio's `AsyncWrite`/`AsyncRead` with feature `tokio-io`, futures-io's with feature
//!   `futures-io`), [`Lane`], unreliable messages, statistics; the configuration ([`Config`],
//!   [`SocketConfig`], [`QuicConfig`]) and the typed errors.
//!
//! ## How it is driven
//!
//! One driver per endpoint owns the socket and follows the core's driving rule: after each
//! batch of input (datagrams received, the timer, application calls) it drains
//! `poll_transmit` into a send queue (consecutive equal-size datagrams to one peer become one
//! GSO send), dispatches the events to the tasks waiting on them, and re-arms its timer to
//! `poll_timeout`. Application objects share the core with it behind one mutex; each wait
//! registers its waker under that lock, and each call that gives the core work wakes the
//! driver, so no wake-up is lost and nothing polls in a loop: the driver sleeps until the
//! socket is ready, the timer fires or an application call wakes it.
//!
//! Socket errors — ICMP port unreachable (`ECONNREFUSED`), `EMSGSIZE`, `ENOBUFS` — are counted
//! ([`Endpoint::socket_stats`]), logged with `tracing`, and survived: a lost datagram is the
//! core's loss recovery's business.
//!
//! [weir-tokio]: https://docs.rs/weir-tokio
//! [weir-async-std]: https://docs.rs/weir-async-std
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod config;
mod connection;
mod driver;
mod endpoint;
mod engine;
mod error;
mod io_traits;
mod lane;
mod quic;
mod rendezvous;
pub mod runtime;
mod shared;
mod socket;
mod stream;
pub mod tcp;

pub use config::{Config, SocketConfig, bdp_bytes};
pub use connection::Connection;
pub use endpoint::Endpoint;
pub use error::{
    BindError, ConnectError, ConnectionLost, LaneSendError, ReadError, SendDatagramError,
    SocketConfigError, UnsupportedOnQuic, WriteError,
};
pub use lane::Lane;
pub use quic::{QuicConfig, QuicConfigError};
/// quinn-proto, whose configurations [`QuicConfig`] holds.
pub use quinn_proto;
pub use rendezvous::{PeerPath, RendezvousError};
pub use socket::{SocketInfo, SocketStats};
pub use stream::{RecvStream, SendStream};
pub use tcp::{TcpStats, TcpTransport, Transport};
/// The jitter buffer to play out what an unreliable lane delivers (see [`weir_core::jitter`]).
pub use weir_core::jitter::{
    JitterBuffer, JitterConfig, JitterConfigError, JitterStats, Played, Pushed,
};
pub use weir_core::lanes::{
    Coalesce, CodecSet, Compression, DecompressError, DeliveryMode, FecLevel, LaneCompression,
    LaneConfig, LaneStats, Message, SendOptions, ZstdDictionary,
};

pub use weir_core;
pub use weir_core::wire::VarInt;
