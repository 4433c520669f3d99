//! Peer-to-peer reachability: two players behind NATs find each other through a small
//! rendezvous service, punch a hole through both NATs with simultaneous UDP datagrams, and fall
//! back to a relay through the service (bounded bandwidth per pair) when punching fails (a
//! symmetric NAT on one side and a port-restricted or symmetric one on the other).
//!
//! 1. Both peers share a secret [`SessionId`] (from the game's lobby) and register with the
//!    service from the socket their weir endpoint uses ([`RendezvousClient`]); the service
//!    ([`RendezvousServer`]) sees each one's public address (its NAT's mapping).
//! 2. Once both registered, the service tells each the other's public address, at the same
//!    time; each sends Punch datagrams to the other. A NAT that saw its peer send out to an
//!    address lets that address's datagrams in: when both have sent, both directions are open
//!    ([`ClientEvent::Punched`]). The peer then connects weir to the punched address (one side
//!    connects, the other accepts; the lobby decides which).
//! 3. If no punch gets through within [`ClientConfig::punch_timeout`], the client relays
//!    ([`ClientEvent::Relaying`]): weir's datagrams to the peer are wrapped in Relay messages to
//!    the service ([`RendezvousClient::wrap_relay`]), which forwards them to the other peer
//!    within its [`ServerConfig::relay_rate`] — enough for a game's messages, not a download.
//!
//! Rendezvous messages share the socket with weir's packets; their first byte has QUIC's fixed
//! bit clear ([`message::MAGIC`]), which no weir packet has, so [`is_rendezvous`] tells them
//! apart. The session's secret is what authenticates a peer: a stranger cannot join a session,
//! learn its members' addresses or relay into it without it, and a service answers every
//! registration with at most as many bytes as it carried (no amplification).
//!
//! All of it is sans-IO, like the rest of the core: datagrams in, datagrams out, time as an
//! argument.

mod client;
pub mod message;
mod server;

pub use client::{ClientConfig, ClientEvent, ClientStats, Handled, RendezvousClient};
pub use message::{MessageError, RefusedReason, SessionId, is_rendezvous};
pub use server::{RendezvousServer, ServerConfig, ServerConfigError, ServerStats};

#[cfg(test)]
mod tests;
