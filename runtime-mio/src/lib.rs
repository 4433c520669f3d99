//! # weir-mio
//!
//! The [mio] adapter of **weir**, for applications that own their event loop: a game server's
//! tick loop, an embedded service, anything built on a [`mio::Poll`]. An [`Endpoint`] owns a
//! tuned non-blocking UDP socket and the sans-IO [`weir_core`] endpoint; you register it with
//! your `Poll` under a token of your choosing, hand it its readiness events, and give
//! `poll.poll` the timeout it asks for. No threads, no locks, no runtime, no protocol logic
//! (DESIGN.md §1, §7): everything the protocol decides, the core decides, and this crate only
//! moves datagrams and time between the core and the socket.
//!
//! ## The loop
//!
//! The invariant (the core's driving rule, DESIGN.md §2): **after any input — a readiness
//! event, the time, an application call — [`Endpoint::drive`] runs before `poll.poll` blocks
//! again, and `poll.poll` blocks no longer than [`Endpoint::timeout`].** `timeout` is zero
//! whenever the endpoint has work already (the socket was not read to `WouldBlock`, an
//! application call queued data), so a loop that follows the steps below never stalls and
//! never spins idle.
//!
//! 1. **Wait**: `poll.poll(&mut events, endpoint.timeout())` (with several endpoints or timers
//!    of your own, the earliest of their [`deadline`](Endpoint::deadline)s).
//! 2. **Route readiness**: for each event, [`endpoint.handle_event(event)`](Endpoint::handle_event)
//!    returns `true` if it is the endpoint's token; other tokens are yours and leave the
//!    endpoint untouched.
//! 3. **Drive**: [`endpoint.drive()`](Endpoint::drive) receives every datagram the socket holds
//!    (to `WouldBlock`, within a budget), fires the core's timers when due, and sends everything
//!    the core has ready (what the kernel cannot take yet waits, registered for `WRITABLE`).
//! 4. **Events**: drain [`endpoint.poll_event()`](Endpoint::poll_event): the core's
//!    [`Event`]s with the [`ConnectionHandle`] they concern — `Incoming` (a client opened a
//!    connection to this server: its first event), `Connected` (the handshake is done, the
//!    connection usable), stream, lane and datagram readiness, `Closed` with a typed reason,
//!    `Drained`.
//! 5. **Act**: reach a connection with [`endpoint.connection(handle)`](Endpoint::connection)
//!    — the core's own [`Connection`], whose methods open, write, read and finish streams,
//!    send and receive lane messages and unreliable datagrams, and close. Methods that take
//!    a time take [`endpoint.now()`](Endpoint::now). What you queue goes out at the next
//!    `drive`, which `timeout` asks for at once (or call `drive` yourself before polling).
//!
//! Shut down with [`Endpoint::close_all`], then keep looping until
//! [`Endpoint::connection_count`] is zero (every close sent, every closing period over).
//!
//! ```no_run
//! use mio::{Events, Poll, Token};
//! use weir_mio::weir_core::connection::Event;
//! use weir_mio::weir_core::crypto::Identity;
//! use weir_mio::weir_core::streams::StreamEvent;
//! use weir_mio::{Config, Endpoint};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! const WEIR: Token = Token(0);
//! let identity = Identity::self_signed(["localhost"])?;
//! let mut endpoint = Endpoint::bind("127.0.0.1:4433".parse()?, Config::server(&identity)?)?;
//! let mut poll = Poll::new()?;
//! endpoint.register(poll.registry(), WEIR)?;
//! let mut events = Events::with_capacity(64);
//! loop {
//!     poll.poll(&mut events, endpoint.timeout())?;            // 1. wait
//!     for event in events.iter() {
//!         if !endpoint.handle_event(event) {                   // 2. route readiness
//!             // another token: yours
//!         }
//!     }
//!     endpoint.drive();                                        // 3. drive
//!     while let Some((handle, event)) = endpoint.poll_event() { // 4. events
//!         let now = endpoint.now();
//!         let Some(conn) = endpoint.connection(handle) else { continue };
//!         match event {
//!             // 5. act: greet new clients, echo every stream back
//!             Event::Incoming { remote } => println!("{handle}: a client from {remote}"),
//!             Event::Stream(StreamEvent::Opened { .. }) => while conn.accept_bi().is_some() {},
//!             Event::Stream(StreamEvent::Readable { id }) => {
//!                 while let Ok(Some(data)) = conn.read(now, id, usize::MAX) {
//!                     let _ = conn.write_chunk(id, data);
//!                 }
//!             }
//!             Event::Closed(reason) => println!("{handle} closed: {reason}"),
//!             _ => {}
//!         }
//!     }
//! }
//! # }
//! ```
//!
//! The examples show the loop at work: `mio_game_server` (a single-threaded tick loop with a
//! server and its bots on one `Poll`), `bulk` (throughput over loopback on one thread), and
//! `blocking` (the core driven with no runtime and no mio at all: a blocking
//! `std::net::UdpSocket` whose read timeout is the core's `poll_timeout`).
//!
//! ## Security
//!
//! [`Config`] is weir-tokio's: TLS 1.3 always — [`Config::server`] with an identity,
//! [`Config::client`] with pinned fingerprints or certificate roots, [`Config::peer`] for both.
//! [`Endpoint::bind`] refuses an endpoint without security, and refuses the integrity-only
//! protection (no encryption, no authentication) unless [`Config::allow_insecure`] asks for it
//! too ([`BindError::InsecureRefused`]). The endpoint's secret (connection IDs, keys for
//! tokens and resets) is drawn from the operating system at bind, never by the core.
//!
//! ## Sockets
//!
//! The socket is tuned like weir-tokio's ([`SocketConfig`]: kernel buffers twice the expected
//! bandwidth-delay product, IPv4/IPv6 and dual-stack) and uses batched receives (GRO) and
//! segmented sends (GSO) where the kernel has them. Socket errors — ICMP port unreachable
//! (`ECONNREFUSED`), `EMSGSIZE`, `ENOBUFS` — are counted ([`Endpoint::socket_stats`]), logged
//! with `tracing`, and survived: a lost datagram is the core's loss recovery's business.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod config;
mod endpoint;
mod error;
mod socket;
mod txqueue;

pub use config::{Config, SocketConfig, bdp_bytes};
pub use endpoint::Endpoint;
pub use error::{BindError, ConnectError, SocketConfigError};
pub use socket::{SocketInfo, SocketStats};
pub use weir_core;
pub use weir_core::connection::{Connection, Event};
pub use weir_core::endpoint::ConnectionHandle;
pub use weir_core::wire::VarInt;
