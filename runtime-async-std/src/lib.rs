//! # weir-async-std
//!
//! The [async-io] runtime adapter of **weir**, for [smol] and async-std: a UDP socket, a timer
//! and the sans-IO [`weir_core`] endpoint, exposed as async objects whose streams are
//! [futures-io] `AsyncRead`/`AsyncWrite`. It is the twin of weir-tokio: the same
//! [`Endpoint`], [`Connection`], streams, [`Lane`]s, unreliable messages, statistics,
//! [`Config`] (TLS 1.3 by default; the integrity-only protection refused unless
//! [`Config::allow_insecure`] asks for it) and errors, all from the shared layer
//! [weir-runtime](weir_runtime). It contains no protocol logic (DESIGN.md §1, §7).
//!
//! **async-std is discontinued** (its maintainers recommend smol in its place). This adapter
//! is built on async-io, the reactor and timers smol is made of and async-std ran on, so one
//! implementation serves both: new code should use smol; code still on async-std works
//! unchanged.
//!
//! - [`Endpoint::bind`](weir_runtime::Endpoint::bind) opens a tuned UDP socket (buffers from
//!   the expected bandwidth-delay product, GSO/GRO through quinn-udp), registers it with
//!   async-io's reactor and starts the endpoint's driver.
//! - [`Endpoint::connect`](weir_runtime::Endpoint::connect) /
//!   [`Endpoint::accept`](weir_runtime::Endpoint::accept) give [`Connection`]s: streams
//!   ([`SendStream`] is a futures-io `AsyncWrite`, [`RecvStream`] an `AsyncRead`), lanes,
//!   unreliable messages, [`stats`](Connection::stats), close.
//! - [`Endpoint::shutdown`](weir_runtime::Endpoint::shutdown) closes everything, waits
//!   (bounded) for the connections to drain and stops the driver.
//!
//! ## Where the driver runs
//!
//! Each endpoint's driver runs on a thread of its own (`weir-driver`) under
//! [`async_io::block_on`], not as a task of an executor: the adapter imposes no executor
//! (smol's, async-std's, `futures::executor`, or any other all work, as the application
//! objects only use wakers), and the driver never waits behind application tasks on a busy
//! executor thread. The thread ends with the driver: at
//! [`shutdown`](weir_runtime::Endpoint::shutdown), or once the endpoint and all its
//! connections are dropped and drained.
//!
//! [`Endpoint::bind_with_driver`](weir_runtime::Endpoint::bind_with_driver) leaves the
//! driver to the application instead: it returns the [`Driver`] future, to spawn on the
//! executor the application's tasks run on (`smol::spawn(driver).detach()`). A message
//! then reaches its task without a wake-up across threads at each hop, which shortens a
//! game tick's round trip (the adapters bench in weir-tokio measures both placements); in
//! exchange the driver shares the executor's threads with the application, so a bulk
//! transfer on a one-thread executor moves less than with the driver's own thread.
//!
//! ## Example: an echo server and a client, under smol
//!
//! ```no_run
//! use futures_lite::io::AsyncWriteExt;
//! use weir_async_std::weir_core::crypto::{ClientTls, Identity};
//! use weir_async_std::{Config, Endpoint};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! smol::block_on(async {
//!     let identity = Identity::self_signed(["localhost"])?;
//!     let server = Endpoint::bind("127.0.0.1:4433".parse()?, Config::server(&identity)?).await?;
//!     smol::spawn(async move {
//!         while let Some(conn) = server.accept().await {
//!             smol::spawn(async move {
//!                 while let Ok((mut send, recv)) = conn.accept_bi().await {
//!                     let _ = futures_lite::io::copy(recv, &mut send).await;
//!                     let _ = send.finish();
//!                 }
//!             })
//!             .detach();
//!         }
//!     })
//!     .detach();
//!
//!     let trust = ClientTls::pinned(vec![identity.fingerprint()])?;
//!     let client = Endpoint::bind("127.0.0.1:0".parse()?, Config::client(trust)).await?;
//!     let conn = client.connect("127.0.0.1:4433".parse()?).await?;
//!     let (mut send, mut recv) = conn.open_bi(0).await?;
//!     send.write_all(b"hello").await?;
//!     send.close().await?; // finishes the stream
//!     let echoed = recv.read_to_end(64 * 1024).await?; // the typed-error method, with a limit
//!     assert_eq!(echoed, b"hello");
//!     client.shutdown(0u32.into(), b"bye", std::time::Duration::from_secs(1)).await;
//!     Ok(())
//! })
//! # }
//! ```
//!
//! [async-io]: https://docs.rs/async-io
//! [smol]: https://docs.rs/smol
//! [futures-io]: https://docs.rs/futures-io
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod rt;

pub use rt::AsyncIo;
/// quinn-proto, whose configurations [`QuicConfig`] holds.
pub use weir_runtime::quinn_proto;
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

/// The TCP transport, for networks that drop UDP (see [`weir_runtime::tcp`]).
pub use weir_runtime::tcp::{
    TcpConfig, TcpConfigError, TcpSettings, TcpStats, TcpTransport, Transport,
    available_congestion_controls, read_settings,
};

/// Meeting a peer through a rendezvous service ([`weir_core::rendezvous`]).
pub use weir_runtime::{PeerPath, RendezvousError};

pub use weir_core;
pub use weir_core::wire::VarInt;

/// A weir endpoint on a UDP socket registered with async-io's reactor, driven by a thread of
/// its own: see [`weir_runtime::Endpoint`] for its methods
/// ([`bind`](weir_runtime::Endpoint::bind), [`connect`](weir_runtime::Endpoint::connect),
/// [`accept`](weir_runtime::Endpoint::accept),
/// [`shutdown`](weir_runtime::Endpoint::shutdown), …). Works under any executor.
pub type Endpoint = weir_runtime::Endpoint<AsyncIo>;

/// An endpoint's driver, as [`Endpoint::bind_with_driver`](weir_runtime::Endpoint::bind_with_driver)
/// hands it over: a future to poll to its end on the application's executor.
pub type Driver = weir_runtime::runtime::Driver<AsyncIo>;
