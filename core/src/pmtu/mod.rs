//! Datagram packetization-layer path MTU discovery (DPLPMTUD, RFC 8899 §5, as QUIC applies it
//! in RFC 9000 §14.3).
//!
//! A connection starts at the base size, [`TransportConfig::max_datagram_size`] (1200 bytes by
//! default: every weir path must carry it, and the handshake proves it does). Once the
//! handshake is confirmed it probes for more with padded PING-only packets that carry no data,
//! so that losing one costs nothing but the probe:
//!
//! 1. **Search.** The first probe of a search tries the ceiling (the smaller of
//!    [`MtuDiscoveryConfig::upper_bound`] and the peer's `max_udp_payload_size`), since most
//!    paths carry a full Ethernet frame; then a binary search between the largest size
//!    acknowledged and the smallest one that failed, until the two are within
//!    [`MtuDiscoveryConfig::min_step`]. A size fails after
//!    [`MtuDiscoveryConfig::max_probes`] of its probes are lost (RFC 8899 `MAX_PROBES`). One
//!    probe is in flight at a time; probes count against the congestion window, but their
//!    loss is not congestion (RFC 9000 §14.4) and never reaches the controller, the loss
//!    statistics or the path estimates.
//! 2. **Use.** Every acknowledged probe raises the validated size at once: the connection never
//!    sends a datagram above it.
//! 3. **Black holes** (RFC 8899 §4.3): a path whose MTU shrinks mid-connection (a VPN comes up,
//!    a route changes) drops every large packet while small ones still arrive.
//!    [`BlackHoleDetector`] watches for exactly that: several packets above the base size lost
//!    since the last large one got through, *and* a packet no larger than the base, sent after
//!    them, acknowledged. A total outage (a tunnel) loses small packets too and is not
//!    mistaken for a black hole. On a black hole the connection falls back to the base size at
//!    once and searches again below the size that failed. So that a connection that sends
//!    only large packets still has small ones to tell the two apart, its probe-timeout
//!    retransmissions are cut to the base size while the validated size is above it.
//! 4. **Raise.** After a search completes, another starts [`MtuDiscoveryConfig::interval`]
//!    later (RFC 8899 `PMTU_RAISE_TIMER`, 600 s), from the validated size up to the ceiling: a
//!    path that grew (or a black hole that went away) is found again.
//!
//! A hostile middlebox can only make discovery find less: a probe it drops, truncates or
//! corrupts is lost (the integrity tag fails), so the size is not used. An acknowledgement it
//! forged for a probe (possible while packets carry only an integrity tag, not once they are
//! encrypted) would validate a size the path does not carry; the black-hole detector then
//! takes the connection back to the base size after a few lost packets.
//!
//! The drivers must keep the operating system from fragmenting datagrams (the don't-fragment
//! bit, `IP_PMTUDISC_PROBE` on Linux), or every probe would succeed; weir-tokio switches
//! discovery off on platforms where it cannot.
//!
//! [`TransportConfig::max_datagram_size`]: crate::config::TransportConfig::max_datagram_size

mod black_hole;
mod config;
mod search;

pub use black_hole::BlackHoleDetector;
pub use config::{MtuDiscoveryConfig, MtuDiscoveryConfigError};
pub use search::{MtuDiscovery, MtuStats};
