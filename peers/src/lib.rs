//! # weir-peers
//!
//! Peer baselines for weir: other transport stacks driven by weir's deterministic network
//! simulator ([`weir_core::sim`], DESIGN.md §6) over the same links, so that weir's goodput and
//! queueing delay can be read as ratios against a mature implementation on every scenario.
//!
//! The first peer is [quinn-proto](quinn_proto), the sans-IO core of the quinn QUIC crate, with
//! rustls and ring for TLS 1.3. [`QuinnEndpointNode`] wraps a quinn [`Endpoint`] and its
//! [`Connection`]s as a simulator [`Node`]; [`QuinnApp`]s plug the application in, and
//! [`QuinnBulkSender`] / [`QuinnBulkReceiver`] mirror weir's own bulk flow apps.
//!
//! ## The driving loop
//!
//! quinn-proto splits an endpoint from its connections; they talk through events. The node
//! keeps quinn's rules (the doc comment on `quinn_proto::Connection`) inside the simulator's
//! [`Node`] contract. Invariant: *after every input, nothing is left to poll*.
//!
//! 1. A datagram goes to [`Endpoint::handle`], which routes it to a connection
//!    ([`Connection::handle_event`]), starts one ([`Endpoint::accept`]) or answers on its own; a
//!    deadline goes to [`Connection::handle_timeout`]. Time is always the simulator's `now`.
//! 2. For every connection, [`Connection::poll_endpoint_events`] go to
//!    [`Endpoint::handle_event`] (and its answers back to the connection), and
//!    [`Connection::poll`] events go to the application, until both are empty.
//! 3. The simulator drains [`Node::poll_transmit`]: one datagram per call from
//!    [`Connection::poll_transmit`] with `max_datagrams = 1`.
//! 4. The simulator re-arms the node's timer from [`Node::poll_timeout`]: the earliest of
//!    [`Connection::poll_timeout`] and the application's own deadline.
//!
//! ## Comparing with weir
//!
//! [`quinn_bulk`] and [`weir_bulk`] run the same flow (one unidirectional stream kept full for a
//! given time after the handshake) over the same [`Scenario`], with the same simulator seed, and
//! measure it the same way ([`BulkReport`]); [`BulkRun`] sets the amount, the seed and both
//! stacks' configurations. [`QuinnConfig`] explains the quinn settings chosen for fairness
//! (1200-byte datagrams at first, path MTU discovery up to 1452 bytes as weir's, flow control
//! out of the way, CUBIC). [`QuinnController`] picks quinn's controller: its own CUBIC, NewReno
//! or BBR, or one of weir's inside quinn ([`QuinnController::Weir`], through `weir-quinn-cc`),
//! so that weir's algorithms can be told apart from weir's connection around them
//! (`examples/quinn_cc.rs` tabulates them).
//!
//! ```no_run
//! use std::time::Duration;
//! use weir_core::sim::Scenario;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let lossy = Scenario::preset("lossy").expect("a preset");
//! let quinn = weir_peers::quinn_bulk(&lossy, 1, Duration::from_secs(20))?;
//! let weir = weir_peers::weir_bulk(&lossy, 1, Duration::from_secs(20))?;
//! println!(
//!     "weir/quinn goodput {:.2}, queueing delay {:?} vs {:?}",
//!     weir.goodput_bps / quinn.goodput_bps,
//!     weir.forward_link.mean_queue_delay(),
//!     quinn.forward_link.mean_queue_delay(),
//! );
//! # Ok(()) }
//! ```
//!
//! ## Real-time flows
//!
//! Two baselines for real-time traffic, each carried by quinn the way an application would and
//! measured in a report whose fields any stack can fill:
//!
//! - [`quinn_echo`] ([`EchoRun`], [`EchoReport`]) runs KCP's published test as weir's
//!   [`EchoClient`] and [`EchoServer`] do: a small message every 20 ms on one bidirectional
//!   stream (ordered and reliable, like KCP's and weir's reliable-ordered lane), echoed back on
//!   it, each round trip measured by the client;
//! - [`quinn_game`] ([`GameRun`], [`GameReport`]) sends a snapshot every tick as weir's
//!   [`GameSender`] does, over a stream per message or over QUIC datagrams
//!   ([`QuinnGameTransport`]), and scores the receiver with weir's [`Freshness`]: the age of the
//!   newest state held, on a 1 ms grid, and the share of messages within a deadline.
//!
//! Both keep the bulk baseline's [`QuinnConfig`], CUBIC included: quinn as it ships, with no
//! tuning for latency that a user would not find in its defaults (the runs' `quinn` field picks
//! another controller). quinn's controller paces and limits datagrams as well as streams; on a
//! lossy path a thin flow's window falls to its floor of two full packets, because CUBIC does
//! not grow an application-limited window, and snapshots then wait for it now and then.
//!
//! ## Determinism
//!
//! Everything quinn-proto draws comes from the seed (see [`config`]). rustls and rcgen draw
//! their own randomness (TLS randoms, ephemeral keys, the certificate's key), which changes the
//! bytes on the wire but not their sizes or times, so the simulator's trace digest
//! ([`BulkReport::trace_digest`]) is the same for the same seed.
//!
//! [`Endpoint`]: quinn_proto::Endpoint
//! [`Endpoint::handle`]: quinn_proto::Endpoint::handle
//! [`Endpoint::accept`]: quinn_proto::Endpoint::accept
//! [`Endpoint::handle_event`]: quinn_proto::Endpoint::handle_event
//! [`Connection`]: quinn_proto::Connection
//! [`Connection::handle_event`]: quinn_proto::Connection::handle_event
//! [`Connection::handle_timeout`]: quinn_proto::Connection::handle_timeout
//! [`Connection::poll_endpoint_events`]: quinn_proto::Connection::poll_endpoint_events
//! [`Connection::poll`]: quinn_proto::Connection::poll
//! [`Connection::poll_transmit`]: quinn_proto::Connection::poll_transmit
//! [`Connection::poll_timeout`]: quinn_proto::Connection::poll_timeout
//! [`Node`]: weir_core::sim::Node
//! [`Node::poll_transmit`]: weir_core::sim::Node::poll_transmit
//! [`Node::poll_timeout`]: weir_core::sim::Node::poll_timeout
//! [`Scenario`]: weir_core::sim::Scenario
//! [`EchoClient`]: weir_core::sim::echo::EchoClient
//! [`EchoServer`]: weir_core::sim::echo::EchoServer
//! [`GameSender`]: weir_core::sim::flows::GameSender
//! [`Freshness`]: weir_core::sim::freshness::Freshness
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod bulk;
pub mod config;
mod echo;
mod error;
mod game;
mod mixed;
mod node;
mod report;
mod run;
pub mod scenarios;
mod weir_realtime;

pub use bulk::{QuinnBulkReceiver, QuinnBulkSender};
pub use config::{ParseQuinnControllerError, QuinnConfig, QuinnController, SelfSigned};
pub use echo::{EchoReport, EchoRun, QuinnEchoClient, QuinnEchoServer, quinn_echo};
pub use error::PeerError;
pub use game::{
    GameReport, GameRun, QuinnGameReceiver, QuinnGameSender, QuinnGameTransport, quinn_game,
};
pub use mixed::{QuinnMixedReceiver, QuinnMixedReport, QuinnMixedSender, quinn_mixed};
pub use node::{QuinnApp, QuinnEndpointNode};
pub use report::{BulkReport, SenderStats, Stack};
pub use run::{BulkRun, quinn_bulk, weir_bulk};
