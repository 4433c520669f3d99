//! NAT middleboxes for the simulator, per RFC 4787's behaviours — the groundwork for UDP hole
//! punching.
//!
//! A [`Nat`] has one public IP address and sits in front of the nodes added behind it with
//! [`Simulator::add_node_behind`]. Those nodes have private addresses that only other nodes
//! behind the same NAT can reach; anything they send elsewhere leaves with its source rewritten
//! to a public mapping (`public_ip:port`), and datagrams sent to a mapping are rewritten back to
//! the internal address — if the mapping is alive and its filter admits the sender.
//!
//! # Model
//!
//! - **Mapping** ([`MappingBehavior`], RFC 4787 §4.1): endpoint-independent (one public port
//!   per internal address), address-dependent, or address and port-dependent (a new public
//!   port per destination: a "symmetric" NAT).
//! - **Filtering** ([`FilteringBehavior`], RFC 4787 §5): endpoint-independent, or only from IP
//!   addresses (address-dependent) or addresses and ports (address and port-dependent) the
//!   mapping has sent to. What a mapping has sent to is remembered as long as the mapping lives
//!   (at most [`NatConfig::max_permissions`] remotes, least recently used forgotten first).
//! - [`NatKind`] names the four classic combinations: full-cone, address-restricted,
//!   port-restricted, symmetric.
//! - **Binding timeout** (RFC 4787 §4.3): a mapping expires [`NatConfig::binding_timeout`]
//!   after the last outgoing datagram through it (also after inbound ones with
//!   [`NatConfig::refresh_on_inbound`]). The next outgoing datagram creates a new mapping on
//!   another port — a NAT rebinding, as the peer sees it — and inbound datagrams to the expired
//!   one are dropped ([`NatDrop::Expired`]). New ports avoid recently expired ones while others
//!   are free.
//! - **Port allocation**: random over [`NatConfig::ports`] from a generator seeded by the
//!   simulator's seed, or the internal port when it is free with
//!   [`NatConfig::port_preservation`] (RFC 4787 §4.2.1; a preserving NAT may hand the same port
//!   back after an expiry).
//! - **Table bound**: at most [`NatConfig::max_mappings`] mappings; an outgoing datagram that
//!   needs another is dropped ([`NatDrop::TableFull`]).
//! - **Hairpinning** (RFC 4787 §6, [`NatConfig::hairpinning`], off by default): a datagram from
//!   inside to the NAT's own public address loops back in with the sender's public mapping as
//!   its source, through the receiving mapping's filter.
//!
//! # Where the NAT sits
//!
//! A NAT is the inside node's edge router: the outgoing translation happens when the node
//! sends, the inbound translation and filtering when the datagram reaches the end of its route,
//! so a mapping that expires or a filter that opens while a datagram is in flight decides its
//! fate. Links and routes are still set between nodes (an inside node's route to a server is
//! its path through the NAT). The destination node of an inbound datagram is found when it is
//! sent, from the mapping alive then: a datagram sent to a port that has no mapping yet is
//! dropped even if a mapping for it appears while it would have been in flight.
//!
//! # Not modelled
//!
//! No port parity or contiguity (RFC 4787 §4.2.2–4.2.3), no address pooling (one public IP), no
//! application-level gateways, no ICMP, no TCP, no fragmentation, no per-permission
//! timers (a permission lives as long as its mapping), and no nested NATs (a NAT's inside
//! nodes are ordinary nodes, not other NATs).
//!
//! [`Simulator::add_node_behind`]: super::Simulator::add_node_behind

mod config;
mod stats;
mod table;
#[cfg(test)]
mod tests;

use std::fmt;

pub use config::{
    DEFAULT_BINDING_TIMEOUT, DEFAULT_MAX_MAPPINGS, DEFAULT_MAX_PERMISSIONS, FilteringBehavior,
    MappingBehavior, NatConfig, NatConfigError, NatKind,
};
pub use stats::{NatDrop, NatStats};
pub use table::{Nat, Translation};

/// Identifies a NAT of a [`Simulator`](super::Simulator).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NatId(pub(crate) usize);

impl NatId {
    /// The NAT's index in the order NATs were added.
    pub fn index(self) -> usize {
        self.0
    }
}

impl fmt::Display for NatId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "nat#{}", self.0)
    }
}
