//! A deterministic network simulator (DESIGN.md §6; feature `sim`).
//!
//! The simulator drives sans-IO [`Node`]s — weir endpoints, other stacks such as quinn-proto,
//! or the constant-bit-rate [`probe`] — over links with propagation delay, jitter, random and
//! Gilbert–Elliott burst loss, a bottleneck rate with a finite drop-tail queue, reordering,
//! duplication, bit corruption and an MTU ([`LinkConfig`]). [`Schedule`]s change a link at given
//! virtual times (good Wi-Fi → a tunnel on 2G → back), and [`Scenario`] names common paths;
//! [`schedules`] names time-varying ones and [`schedule_file`] reads them from text. A link can
//! also follow a recorded Mahimahi packet-delivery trace ([`DeliveryTrace`]). Nodes can sit
//! behind [`nat`] middleboxes (full-cone to symmetric, with binding timeouts).
//!
//! Time is virtual: the simulator jumps from one event to the next and never sleeps, so ten
//! minutes of a congested path take as long as the events in them. Every random decision comes
//! from generators seeded by the simulator's seed: the same seed, topology and node behaviour
//! give the identical [`Trace`] (compare [`Trace::digest`]).
//!
//! ```
//! use std::time::{Duration, Instant};
//! use weir_core::sim::{Bitrate, CbrSource, LinkConfig, ProbeSink, Simulator};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let epoch = Instant::now(); // any instant: the simulator only adds virtual time to it
//! let mut sim = Simulator::new(7, epoch);
//! let sink_addr = "10.0.0.2:9".parse()?;
//! let source = sim.add_node(
//!     "10.0.0.1:9".parse()?,
//!     CbrSource::new(sink_addr, Bitrate::from_mbps(1), 1000, epoch, Duration::from_secs(1))?,
//! )?;
//! let sink = sim.add_node(sink_addr, ProbeSink::new(epoch))?;
//! let link = LinkConfig { delay: Duration::from_millis(20), ..LinkConfig::default() };
//! sim.connect(source, sink, link.clone(), link)?;
//! sim.run_for(Duration::from_secs(2))?;
//! let report = sim.node::<ProbeSink>(sink).expect("sink").report();
//! assert_eq!(report.received.packets, 125);
//! assert_eq!(report.one_way_min, Duration::from_millis(20));
//! # Ok(()) }
//! ```

mod config;
pub mod delivery;
pub mod echo;
mod endpoint_node;
mod event;
pub mod flows;
pub mod freshness;
pub mod game;
pub mod header;
mod link;
mod loss;
pub mod mixed;
pub mod nat;
mod network;
pub mod playout;
pub mod presets;
pub mod probe;
mod rate;
pub mod runs;
pub mod schedule_file;
pub mod schedules;
mod stats;
mod trace;
mod units;

use std::fmt;
use std::net::SocketAddr;
use std::time::Instant;

use bytes::BytesMut;

use crate::{EcnCodepoint, Transmit};

pub use config::{DEFAULT_MTU, LinkConfig, LinkConfigError, LinkEcn, Schedule};
pub use delivery::{DeliveryTrace, DeliveryTraceError};
pub use endpoint_node::{App, EndpointNode, STRATEGY_LOG_LIMIT};
pub use loss::{GilbertElliott, LossModel};
pub use nat::{Nat, NatConfig, NatDrop, NatId, NatKind, NatStats};
pub use network::{SimError, Simulator};
pub use presets::Scenario;
pub use probe::{CbrSource, ProbeError, ProbeReport, ProbeSink};
pub use rate::Bitrate;
pub use stats::{DropCause, DropCounts, LinkStats, Volume};
pub use trace::{Trace, TraceEvent, TraceKind};

/// A sans-IO participant driven by the simulator: the smallest form of weir's driving contract
/// (DESIGN.md §2).
///
/// After every input the simulator drains [`Node::poll_transmit`] until it returns `None`, and
/// it asks [`Node::poll_timeout`] again whenever it looks for the next instant, so a node only has
/// to keep those two answers current. Application events stay inside the node: a wrapper around
/// a weir endpoint handles them in its own `handle_*` methods.
pub trait Node: std::any::Any {
    /// A datagram from `from` arrived at `now` with the ECN codepoint `ecn` (as the links left
    /// it: see [`LinkEcn`]).
    fn handle_datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        ecn: Option<EcnCodepoint>,
        datagram: BytesMut,
    );
    /// The deadline returned by [`Node::poll_timeout`] passed. It is never called early.
    fn handle_timeout(&mut self, now: Instant);
    /// Writes the next datagram (or GSO batch) into `buf`, which the simulator passes empty, and
    /// describes it; `None` when there is nothing to send at `now`.
    fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit>;
    /// The next time the node wants [`Node::handle_timeout`]; `None` when it waits for input only.
    fn poll_timeout(&mut self) -> Option<Instant>;
}

/// Identifies a node of a [`Simulator`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub(crate) usize);

/// Identifies one direction of a link of a [`Simulator`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkId(pub(crate) usize);

impl NodeId {
    /// The node's index in the order nodes were added.
    pub fn index(self) -> usize {
        self.0
    }
}

impl LinkId {
    /// The link's index in the order links were added.
    pub fn index(self) -> usize {
        self.0
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "node#{}", self.0)
    }
}

impl fmt::Display for LinkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "link#{}", self.0)
    }
}
