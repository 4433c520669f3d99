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
//! - [`crypto`]: TLS 1.3 through rustls — the handshake, AEAD and header-protection keys per
//!   packet-number space, key updates, identities and pins; [`crypto::Security`] is chosen in
//!   [`config::EndpointConfig::security`], with no default.
//! - [`Transmit`]: what the core asks its driver to send.
//! - [`lanes`]: numbered message lanes with five delivery modes, deadlines, fragmentation and
//!   loss repair without a round trip (redundancy), scheduled with the streams.
//! - [`pmtu`]: path MTU discovery (DPLPMTUD): probes for datagrams larger than 1200 bytes
//!   after the handshake and falls back when the path stops carrying them.
//! - [`lb`]: connection IDs that carry a server ID, so a stateless load balancer in front of
//!   many servers keeps each connection on its server (QUIC-LB's plaintext algorithm).
//! - [`jitter`]: a jitter buffer that plays periodic messages (game snapshots) out at a steady
//!   pace, its delay adapted to the measured jitter.
//! - `sim` (feature `sim`): a deterministic, seeded, virtual-time network simulator that drives
//!   sans-IO nodes over impaired links (DESIGN.md §6).
//!
//! ## Embedding the core: the driving loop
//!
//! A driver — a runtime adapter, a game's own event loop, the simulator — owns a UDP socket and
//! a clock, and feeds the core. Everything a driver needs is at the crate root: [`Endpoint`],
//! [`ConnectionHandle`], [`Connection`], [`Event`], [`Transmit`] and the configurations
//! ([`EndpointConfig`], [`ServerConfig`], [`TransportConfig`]).
//!
//! 1. **Configure.** An [`EndpointConfig`] needs a seed and a security. The core draws no
//!    randomness: resolve [`Seed::FromOs`] with the operating system's generator
//!    ([`Seed::resolve`]). Security is TLS 1.3 ([`crypto::TlsConfig`]: a server identity, a
//!    client's pins or roots); there is no default. A [`ServerConfig`] makes the endpoint accept
//!    connections; [`Endpoint::set_client_config`] sets what [`Endpoint::connect`] uses.
//! 2. **Feed input.** A datagram: [`Endpoint::handle_datagram`] with the time it arrived, its
//!    source address and the ECN codepoint of its IP header (`None` if your socket cannot read
//!    it; ECN validation then fails and connections do without it). A deadline that passed:
//!    [`Endpoint::handle_timeout`]. Application calls go to a [`Connection`] through [`Endpoint::connection`] (open streams, write, read,
//!    send messages, close).
//! 3. **Drain what to send.** After *any* input, call [`Endpoint::poll_transmit`] until it
//!    returns `None`, sending each [`Transmit`] to its destination with its ECN codepoint
//!    ([`Transmit::ecn`], the IP header's two ECN bits). Say how many datagrams one send of
//!    yours takes: with UDP GSO a transmit may hold several datagrams of `segment_size` bytes
//!    ([`Transmit::segments`]) for one send; without it, pass 1.
//! 4. **Drain the events.** [`Endpoint::poll_event`] until `None`: a client opened a connection
//!    to this server ([`Event::Incoming`], the first event of every accepted connection: start
//!    tracking its handle), a connection connected (usable from now on: a client's own, or an
//!    incoming one whose handshake completed), a stream became readable or writable, a message
//!    arrived, the peer moved, a connection closed (with its typed
//!    [`connection::ConnectionError`]; an incoming connection whose handshake fails goes
//!    straight from `Incoming` to `Closed`) or drained (its handle is dead from then on).
//! 5. **Sleep** until the next datagram or [`Endpoint::poll_timeout`], whichever comes first,
//!    then go to 2.
//!
//! Per connection: `Incoming` comes first (server side only, exactly once), `Connected` and
//! `Closed` at most once each, `Drained` always last.
//!
//! Invariants: time never goes backwards (pass `max(now, last_now)` if your clock can step);
//! drain (3, 4) before re-arming (5), since an input can move the deadline earlier; calling
//! `handle_timeout` early or late is harmless. The simulator's `sim::Node` (feature `sim`) is
//! the smallest form of the contract; `weir-tokio` and `weir-mio` are full ones.
//!
//! ```no_run
//! use std::net::UdpSocket;
//! use std::time::{Duration, Instant};
//!
//! use bytes::{Bytes, BytesMut};
//! use weir_core::crypto::{ClientTls, Fingerprint, Security, TlsConfig};
//! use weir_core::{Endpoint, EndpointConfig, Event, TransportConfig};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // 1. Configure: a client that pins its server's certificate, seeded by the OS.
//! let pin: Fingerprint = "sha256:5f3c…".parse()?;
//! let mut config = EndpointConfig {
//!     security: Some(Security::Tls(TlsConfig::client(ClientTls::pinned(vec![pin])?))),
//!     ..EndpointConfig::default()
//! };
//! config.seed.resolve(|bytes| getrandom::fill(bytes))?;
//! let mut endpoint = Endpoint::new(Instant::now(), config, None)?;
//! endpoint.set_client_config(TransportConfig::default())?;
//! let socket = UdpSocket::bind("0.0.0.0:0")?;
//! let server = "192.0.2.7:4433".parse()?;
//! let conn = endpoint.connect(Instant::now(), server)?;
//!
//! let (mut out, mut inbuf) = (Vec::with_capacity(65_536), vec![0u8; 65_536]);
//! loop {
//!     // 3. Send everything that is ready (a transmit may be a batch of datagrams).
//!     while let Some(t) = endpoint.poll_transmit(Instant::now(), 1, &mut out) {
//!         for datagram in t.segments() {
//!             socket.send_to(&out[datagram], t.destination)?;
//!         }
//!         out.clear();
//!     }
//!     // 4. Act on events.
//!     while let Some((handle, event)) = endpoint.poll_event() {
//!         match event {
//!             Event::Connected => {
//!                 let c = endpoint.connection(handle).expect("just connected");
//!                 c.send_datagram(Instant::now(), 0, Bytes::from_static(b"hello"), None)?;
//!             }
//!             Event::DatagramReceived => {
//!                 while let Some(m) = endpoint.connection(handle).and_then(|c| c.recv_datagram(Instant::now())) {
//!                     println!("{handle}: {:?}", m.data);
//!                 }
//!             }
//!             Event::Closed(why) if handle == conn => return Ok(println!("closed: {why}")),
//!             _ => {}
//!         }
//!     }
//!     // 5. Sleep until a datagram arrives or the next deadline; 2. feed what happened.
//!     let wait = endpoint.poll_timeout().map(|t| t.saturating_duration_since(Instant::now()));
//!     socket.set_read_timeout(Some(wait.unwrap_or(Duration::from_secs(60)).max(Duration::from_millis(1))))?;
//!     match socket.recv_from(&mut inbuf) {
//!         Ok((n, from)) => endpoint.handle_datagram(Instant::now(), from, None, BytesMut::from(&inbuf[..n])),
//!         Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
//!             endpoint.handle_timeout(Instant::now());
//!         }
//!         Err(e) => return Err(e.into()),
//!     }
//! }
//! # }
//! ```
//!
//! The modules `wire`, `protect` and `range_set` are the codec's internals: public for the
//! fuzz targets and the tests, hidden from these docs, and not covered by any stability
//! promise.
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
pub mod lb;
pub mod pmtu;
#[doc(hidden)]
pub mod protect;
#[doc(hidden)]
pub mod range_set;
pub mod records;
pub(crate) mod recovery;
pub mod rendezvous;
pub mod streams;
mod transmit;
#[doc(hidden)]
pub mod wire;

#[cfg(feature = "sim")]
pub mod sim;

#[cfg(feature = "fuzzing")]
pub mod fuzzing;

pub use config::{EndpointConfig, RateLimit, Seed, ServerConfig, TransportConfig};
pub use connection::{Connection, ConnectionError, ConnectionStats, Event};
pub use endpoint::{ConnectionHandle, Endpoint};
pub use error::{TransportError, TransportErrorCode};
pub use streams::{Dir, Side, StreamId};
pub use transmit::{EcnCodepoint, Transmit};
/// QUIC's variable-length integer, as error codes and stream IDs carry it.
pub use wire::VarInt;
