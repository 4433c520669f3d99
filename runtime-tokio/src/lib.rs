//! # weir-tokio
//!
//! The [tokio] runtime adapter of **weir**: a UDP socket, a timer and the sans-IO
//! [`weir_core`] endpoint, exposed as async objects. It contains no protocol logic
//! (DESIGN.md §1, §7): everything the protocol decides, the core decides.
//!
//! - [`Endpoint::bind`] opens a tuned UDP socket ([`SocketConfig`]: buffers from the expected
//!   bandwidth-delay product, IPv4/IPv6, `SO_REUSEPORT` shards, GSO/GRO through quinn-udp) and
//!   spawns the endpoint's driver task.
//! - [`Endpoint::connect`] / [`Endpoint::accept`] give [`Connection`]s, which open and accept
//!   streams ([`SendStream`] is a tokio `AsyncWrite`, [`RecvStream`] an `AsyncRead`), carry
//!   messages on [`Lane`]s ([`Connection::lane`]: a delivery mode, a priority, deadlines,
//!   fragmentation up to 1 MiB), send and receive single-packet unreliable messages, report
//!   [`stats`](Connection::stats) and close.
//! - [`Endpoint::shutdown`] closes everything, waits (bounded) for the connections to drain and
//!   stops the driver.
//! - [`Config::quic`] makes the endpoint speak standard QUIC through quinn-proto instead of
//!   weir ([`QuicConfig`]: the same TLS identities and pins, an application protocol), with the
//!   same driver and the same `Connection`/stream API, unreliable messages as DATAGRAM frames:
//!   weir can then talk to any QUIC peer.
//! - [`TcpConfig`] tunes TCP fallback sockets the same way (nodelay, keep-alive, buffers,
//!   congestion control); `proxy` (feature `proxy`) impairs real UDP traffic with the
//!   simulator's link model.
//!
//! ## Example: an echo server and a client
//!
//! ```no_run
//! use tokio::io::AsyncWriteExt;
//! use weir_tokio::weir_core::crypto::{ClientTls, Identity};
//! use weir_tokio::{Config, Endpoint};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! // TLS 1.3 always: the server has an identity (here a self-signed one), the client pins it
//! // (or trusts certificate roots: `ClientTls::with_roots`).
//! let identity = Identity::self_signed(["localhost"])?;
//! let server = Endpoint::bind("127.0.0.1:4433".parse()?, Config::server(&identity)?).await?;
//! tokio::spawn(async move {
//!     while let Some(conn) = server.accept().await {
//!         tokio::spawn(async move {
//!             while let Ok((mut send, mut recv)) = conn.accept_bi().await {
//!                 let _ = tokio::io::copy(&mut recv, &mut send).await;
//!                 let _ = send.finish();
//!             }
//!         });
//!     }
//! });
//!
//! let trust = ClientTls::pinned(vec![identity.fingerprint()])?;
//! let client = Endpoint::bind("127.0.0.1:0".parse()?, Config::client(trust)).await?;
//! let conn = client.connect("127.0.0.1:4433".parse()?).await?;
//! let (mut send, mut recv) = conn.open_bi(0).await?;
//! send.write_all(b"hello").await?;
//! send.finish()?;
//! let echoed = recv.read_to_end(64 * 1024).await?; // the typed-error method, with a limit
//! assert_eq!(echoed, b"hello");
//! conn.send_datagram(bytes::Bytes::from_static(b"state update"))?;
//! println!("srtt: {:?}", conn.stats().map(|s| s.srtt));
//! client.shutdown(0u32.into(), b"bye", std::time::Duration::from_secs(1)).await;
//! # Ok(()) }
//! ```
//!
//! ## How it is built
//!
//! Everything but the socket's registration, the timer, the task and tokio's
//! `AsyncRead`/`AsyncWrite` lives in [weir-runtime](weir_runtime), shared with weir-async-std:
//! the types here are re-exports of its types, and [`Endpoint`] is its endpoint on [`Tokio`].
//!
//! ## How it is driven
//!
//! One task per endpoint owns the socket and follows the core's driving rule: after each batch
//! of input (datagrams received, the timer, application calls) it drains `poll_transmit` into a
//! send queue (consecutive equal-size datagrams to one peer become one GSO send), dispatches the
//! events to the tasks waiting on them, and re-arms its timer to `poll_timeout`. Application
//! objects share the core with it behind one mutex; each wait registers its waker under that
//! lock, and each call that gives the core work wakes the driver, so no wake-up is lost and
//! nothing polls in a loop: the driver sleeps until the socket is ready, the timer fires or an
//! application call wakes it.
//!
//! Socket errors — ICMP port unreachable (`ECONNREFUSED`), `EMSGSIZE`, `ENOBUFS` — are counted
//! ([`Endpoint::socket_stats`]), logged with `tracing`, and survived: a lost datagram is the
//! core's loss recovery's business.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

#[cfg(feature = "proxy")]
pub mod proxy;
pub mod rendezvous;
mod rt;
mod tcp;

pub use rt::Tokio;

pub use tcp::TokioTcpConfig;
/// quinn-proto, whose configurations [`QuicConfig`] holds.
pub use weir_runtime::quinn_proto;
pub use weir_runtime::tcp::{
    TcpConfig, TcpConfigError, TcpSettings, TcpStats, TcpTransport, Transport,
    available_congestion_controls, read_settings,
};
pub use weir_runtime::{
    BindError, Config, ConnectError, Connection, ConnectionLost, Lane, LaneSendError, QuicConfig,
    QuicConfigError, ReadError, RecvStream, SendDatagramError, SendStream, SocketConfig,
    SocketConfigError, SocketInfo, SocketStats, UnsupportedOnQuic, WriteError, bdp_bytes,
};
pub use weir_runtime::{
    Coalesce, CodecSet, Compression, DecompressError, DeliveryMode, FecLevel, LaneCompression,
    LaneConfig, LaneStats, Message, SendOptions, ZstdDictionary,
};
/// The jitter buffer to play out what an unreliable lane delivers (see [`weir_core::jitter`]).
pub use weir_runtime::{
    JitterBuffer, JitterConfig, JitterConfigError, JitterStats, Played, Pushed,
};

/// Meeting a peer through a rendezvous service ([`weir_core::rendezvous`]).
pub use weir_runtime::{PeerPath, RendezvousError};

pub use weir_core;
pub use weir_core::wire::VarInt;

/// A weir endpoint on a UDP socket, driven by a task on the current tokio runtime: see
/// [`weir_runtime::Endpoint`] for its methods ([`bind`](weir_runtime::Endpoint::bind),
/// [`connect`](weir_runtime::Endpoint::connect), [`accept`](weir_runtime::Endpoint::accept),
/// [`shutdown`](weir_runtime::Endpoint::shutdown), …). `bind` must be called inside a tokio
/// runtime with its I/O and time drivers enabled.
pub type Endpoint = weir_runtime::Endpoint<Tokio>;
