//! `weir perf`: iperf-like measurements over real sockets with weir-tokio.
//!
//! The client opens one bidirectional stream and sends a one-byte mode:
//! - `bulk`: the client streams bytes and finishes; the server counts them and answers with
//!   the count (8 bytes, big-endian), so the client's clock covers delivery, not just sending.
//! - `game`: the client sends a small unreliable message per tick (60 Hz by default) carrying
//!   its sequence number and send time; the server echoes every message; the client measures
//!   round trips and losses.
//! - `game` on a lane (`--lane MODE`): the mode byte is followed by the lane's settings
//!   ([`LaneSetup`]); the messages travel on lane 0 with them both ways, each given up at
//!   `--deadline` if one is set.

mod client;
mod mio;
pub mod security;
mod server;

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use weir_core::config::{RateLimit, ServerConfig, TransportConfig};
use weir_core::rendezvous::SessionId;
use weir_runtime::runtime::Runtime;

use crate::adapt_args::AdaptPolicy;
use weir_core::congestion::ControllerKind;
use weir_core::lanes::compression::MAX_ZSTD_LEVEL;
use weir_core::lanes::{
    Compression, DeliveryMode, FecLevel, LaneCompression, LaneConfig, MAX_REDUNDANCY,
};

use crate::units::{parse_bytes, parse_duration, parse_rate};
use weir_core::sim::Bitrate;

/// Mode byte of a bulk run.
const MODE_BULK: u8 = b'B';
/// Mode byte of a game run.
const MODE_GAME: u8 = b'G';
/// The error code a timed bulk run resets its stream with at the deadline: the data still
/// buffered is dropped (a 2 Mbit/s path would otherwise take a minute to drain a few
/// megabytes), and the server answers with what it read, as at the stream's end.
const BULK_DEADLINE: u32 = 0x5eed;
/// Mode byte of a game run on a lane; [`LaneSetup`] follows.
const MODE_LANE: u8 = b'L';
/// The lane a game run on a lane uses, both ways.
const GAME_LANE: u64 = 0;

/// The lane of a game run on a lane, as the client announces it to the server after
/// [`MODE_LANE`]: delivery mode (its wire value), redundancy, FEC level (its place in
/// [`FecLevel::ALL`]), deadline in milliseconds (big-endian u32, 0 for none), compression (0
/// the strategy's, 1 none, 2 lz4, `0x80 | N` zstd at level N): 8 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LaneSetup {
    /// The lane's delivery mode and loss repair.
    pub config: LaneConfig,
    /// Each message is given up this long after it was sent.
    pub deadline: Option<Duration>,
}

/// Why a lane announcement was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LaneSetupError {
    /// Fewer than [`LaneSetup::LEN`] bytes.
    #[error("lane setup of {0} bytes, expected {len}", len = LaneSetup::LEN)]
    Short(usize),
    /// A delivery mode's wire value that names none.
    #[error("unknown delivery mode {0}")]
    Mode(u8),
    /// More redundant copies than a lane carries.
    #[error("redundancy {0} above the maximum of {MAX_REDUNDANCY}")]
    Redundancy(u8),
    /// An FEC level past [`FecLevel::ALL`].
    #[error("unknown FEC level {0}")]
    Fec(u8),
    /// A compression byte that names none.
    #[error("unknown compression {0:#x}")]
    Compression(u8),
}

/// The compression byte of a [`LaneSetup`].
fn compression_to_wire(c: LaneCompression) -> u8 {
    match c {
        LaneCompression::Auto => 0,
        LaneCompression::Fixed(Compression::None) => 1,
        LaneCompression::Fixed(Compression::Lz4) => 2,
        LaneCompression::Fixed(Compression::Zstd(level)) => 0x80 | level.min(0x7f),
    }
}

fn compression_from_wire(b: u8) -> Result<LaneCompression, LaneSetupError> {
    Ok(match b {
        0 => LaneCompression::Auto,
        1 => LaneCompression::Fixed(Compression::None),
        2 => LaneCompression::Fixed(Compression::Lz4),
        b if b & 0x80 != 0 && (1..=MAX_ZSTD_LEVEL).contains(&(b & 0x7f)) => {
            LaneCompression::Fixed(Compression::Zstd(b & 0x7f))
        }
        b => return Err(LaneSetupError::Compression(b)),
    })
}

impl LaneSetup {
    /// Its encoded length.
    pub const LEN: usize = 8;

    /// The announcement's bytes.
    pub fn encode(&self) -> [u8; Self::LEN] {
        let fec = FecLevel::ALL
            .iter()
            .position(|&l| l == self.config.fec)
            .unwrap_or(0);
        let deadline = self.deadline.map_or(0, |d| {
            u32::try_from(d.as_millis()).unwrap_or(u32::MAX).max(1)
        });
        let [d0, d1, d2, d3] = deadline.to_be_bytes();
        [
            self.config.mode.to_wire(),
            self.config.redundancy,
            u8::try_from(fec).unwrap_or(0),
            d0,
            d1,
            d2,
            d3,
            compression_to_wire(self.config.compression),
        ]
    }

    /// Reads an announcement, checking every field.
    pub fn decode(bytes: &[u8]) -> Result<Self, LaneSetupError> {
        let &[mode, redundancy, fec, d0, d1, d2, d3, compression] = bytes else {
            return Err(LaneSetupError::Short(bytes.len()));
        };
        let mode = DeliveryMode::from_wire(mode).ok_or(LaneSetupError::Mode(mode))?;
        if redundancy > MAX_REDUNDANCY {
            return Err(LaneSetupError::Redundancy(redundancy));
        }
        let level = *FecLevel::ALL
            .get(usize::from(fec))
            .ok_or(LaneSetupError::Fec(fec))?;
        let deadline = match u32::from_be_bytes([d0, d1, d2, d3]) {
            0 => None,
            ms => Some(Duration::from_millis(ms.into())),
        };
        Ok(Self {
            config: LaneConfig {
                compression: compression_from_wire(compression)?,
                ..LaneConfig::new(mode)
                    .with_redundancy(redundancy)
                    .with_fec(level)
            },
            deadline,
        })
    }
}

/// Arguments of `weir perf`.
#[derive(Debug, Args)]
pub struct PerfArgs {
    #[command(subcommand)]
    pub role: Role,
}

/// Which end to run.
#[derive(Debug, Subcommand)]
pub enum Role {
    /// Serve measurements until interrupted.
    Server(ServerArgs),
    /// Measure against a server.
    Client(ClientArgs),
}

/// Options both ends share.
#[derive(Debug, Args)]
pub struct TransportArgs {
    /// The base UDP payload size of weir's datagrams: the handshake's, and every datagram's
    /// until path MTU discovery validates a larger one (1200 is safe everywhere).
    #[arg(long, default_value_t = 1200, value_name = "BYTES")]
    pub datagram_size: u16,
    /// The largest datagram path MTU discovery probes for (1452 fits Ethernet over IPv4 and
    /// IPv6; 1472 is IPv4 Ethernet's full size).
    #[arg(long, default_value_t = 1452, value_name = "BYTES")]
    pub max_datagram_size: u16,
    /// Send `--datagram-size` datagrams throughout: no path MTU discovery.
    #[arg(long)]
    pub no_mtu_discovery: bool,
    /// Congestion controller: newreno, cubic, bbr, vegas (what the core implements). Without
    /// it the connection starts with the core's default, BBR (which keeps the queue short and
    /// its rate through random loss) and the strategy policy may switch; naming one pins it.
    #[arg(long, value_name = "NAME")]
    pub cc: Option<ControllerKind>,
    /// The strategy policy that adapts the connection to the path while it runs: weir (the
    /// default), seed-tiers, or off.
    #[arg(long, value_enum, default_value_t = AdaptPolicy::default(), value_name = "POLICY")]
    pub adapt: AdaptPolicy,
    /// With `--cc bbr`: short, gentle bandwidth probes and a Startup that ends at the first
    /// standing queue, which keep the queue low for game traffic, at some cost in fairness to
    /// other flows (`BbrConfig::low_latency`).
    #[arg(long)]
    pub low_latency: bool,
    /// Speak standard QUIC (quinn-proto, TLS 1.3) instead of weir, on both ends: streams,
    /// and game messages as DATAGRAM frames (not `--lane`). The controller is weir's inside
    /// quinn-proto (weir-quinn-cc): `--cc`'s, or weir's default. The strategy policy
    /// (`--adapt`) is weir's alone.
    #[arg(long)]
    pub quic: bool,
    /// Cap what this end sends per connection at RATE (e.g. `8mbit`, `500kbit`), whatever the
    /// congestion window allows: new data and retransmissions alike, with a burst of 10 ms at
    /// the rate (at least 16 KiB). Each end limits what it sends, so give it to the client to
    /// cap an upload and to the server to cap what it sends back. Not with `--quic`.
    #[arg(long, value_parser = parse_rate, value_name = "RATE", conflicts_with = "quic")]
    pub rate_limit: Option<Bitrate>,
    /// Client: what carries the datagrams — udp (with TCP only as the fallback of
    /// `--tcp-fallback`), or tcp (length-prefixed records on one TCP stream from the first
    /// packet, as on a network that drops UDP). A server takes both, on one port number,
    /// unless `--no-tcp`.
    #[arg(
        long = "transport",
        value_enum,
        default_value = "udp",
        value_name = "KIND"
    )]
    pub carrier: TransportKind,
    /// Client: fall back to TCP when the UDP handshake has not completed after TIME (the
    /// default is the library's, 2s).
    #[arg(long, value_parser = parse_duration, value_name = "TIME", conflicts_with = "no_tcp")]
    pub tcp_fallback: Option<Duration>,
    /// No TCP transport: a server does not listen for TCP, a client never falls back.
    #[arg(long, conflicts_with = "quic")]
    pub no_tcp: bool,
    /// The TCP transport's congestion control (`TCP_CONGESTION`, e.g. bbr or cubic; see
    /// /proc/sys/net/ipv4/tcp_available_congestion_control).
    #[arg(long, value_name = "NAME")]
    pub tcp_congestion: Option<String>,
    /// Meet the other end through the rendezvous service at ADDR (`weir rendezvous`) instead of
    /// by address: both ends give the same `--session`; the client then connects to the
    /// server's public address, punched through both NATs, or through the service's relay
    /// when punching fails.
    #[arg(
        long,
        value_name = "ADDR",
        requires = "session",
        conflicts_with = "quic"
    )]
    pub rendezvous: Option<SocketAddr>,
    /// The meeting's secret with `--rendezvous`: 32 hex digits both ends share.
    #[arg(long, value_parser = parse_session, value_name = "HEX")]
    pub session: Option<SessionId>,
    /// With `--rendezvous`: go through the service's relay, never punch.
    #[arg(long, requires = "rendezvous")]
    pub relay_only: bool,
    /// With `--quic`: the application protocol (ALPN) to offer or accept, so that any QUIC
    /// peer that speaks it can take part.
    #[arg(
        long,
        default_value = "weir-perf",
        value_name = "NAME",
        requires = "quic"
    )]
    pub alpn: String,
}

impl ClientArgs {
    /// The game run's lane, if it runs on one.
    fn lane_setup(&self) -> Option<LaneSetup> {
        self.lane.map(|mode| {
            let config = LaneConfig::new(mode)
                .with_redundancy(self.redundancy)
                .with_fec(self.fec);
            LaneSetup {
                config: match self.compression {
                    Some(c) => config.with_compression(c),
                    None => config,
                },
                deadline: self.deadline,
            }
        })
    }
}

impl TransportArgs {
    /// The controller the connection starts with.
    pub fn controller(&self) -> ControllerKind {
        self.cc.unwrap_or_default()
    }

    /// The QUIC transport parameters `--quic` runs with: the same datagram sizes and path MTU
    /// discovery bound as weir's, and weir's controller when `--cc` names one.
    fn quic_transport(&self) -> weir_tokio::quinn_proto::TransportConfig {
        use weir_tokio::quinn_proto::MtuDiscoveryConfig;
        let mut quic = weir_tokio::QuicConfig::transport_defaults();
        quic.initial_mtu(self.datagram_size.max(1200));
        if self.no_mtu_discovery {
            quic.mtu_discovery_config(None);
        } else {
            let mut mtud = MtuDiscoveryConfig::default();
            mtud.upper_bound(self.max_datagram_size);
            quic.mtu_discovery_config(Some(mtud));
        }
        if let Some(kind) = self.cc {
            quic.congestion_controller_factory(std::sync::Arc::new(
                weir_quinn_cc::WeirControllerFactory::with_config(crate::controller_config(
                    kind,
                    self.low_latency,
                )),
            ));
        }
        quic
    }

    /// The QUIC path's configuration pieces: the application protocol and the transport.
    fn quic(&self) -> Option<(&[u8], weir_tokio::quinn_proto::TransportConfig)> {
        self.quic
            .then(|| (self.alpn.as_bytes(), self.quic_transport()))
    }

    /// The endpoint's TCP transport: `None` with `--no-tcp` or `--quic`.
    pub(crate) fn tcp(&self) -> Option<weir_tokio::TcpTransport> {
        if self.no_tcp || self.quic {
            return None;
        }
        let mut tcp = weir_tokio::TcpTransport::default();
        tcp.socket.congestion = self.tcp_congestion.clone();
        tcp.fallback_after = match self.carrier {
            TransportKind::Tcp => Some(Duration::ZERO),
            TransportKind::Udp => self.tcp_fallback.or(tcp.fallback_after),
        };
        Some(tcp)
    }

    pub(crate) fn transport(&self) -> TransportConfig {
        TransportConfig {
            max_datagram_size: self.datagram_size,
            mtu_discovery: crate::mtu_discovery(self.no_mtu_discovery, self.max_datagram_size),
            congestion: crate::controller_config(self.controller(), self.low_latency),
            adapt: self.adapt.config(self.cc),
            // Bits to bytes, rounded up so that a tiny rate stays a valid (non-zero) one.
            rate_limit: self
                .rate_limit
                .map(|rate| RateLimit::new(rate.bps().div_ceil(8))),
            ..TransportConfig::default()
        }
    }
}

/// Arguments of `weir perf server`.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Address to listen on, e.g. `0.0.0.0:4433` or `[::]:4433`.
    #[arg(long, value_name = "ADDR")]
    pub listen: SocketAddr,
    /// Print the endpoint's admission counters (connections, handshakes in progress, Retries,
    /// Initials over the per-address limit, stateless resets) this often, e.g. `1s`.
    #[arg(long, value_parser = parse_duration, value_name = "TIME")]
    pub status: Option<Duration>,
    /// The adapter that drives the socket.
    #[arg(long, value_enum, default_value = "tokio")]
    pub runtime: RuntimeKind,
    #[command(flatten)]
    pub security: security::ServerSecurityArgs,
    #[command(flatten)]
    pub transport: TransportArgs,
}

/// A rendezvous session's secret from 32 hex digits.
fn parse_session(input: &str) -> Result<SessionId, String> {
    let digits = input.trim();
    if digits.len() != 32 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("a session is 32 hex digits (16 bytes)".into());
    }
    let mut bytes = [0u8; 16];
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&digits[2 * i..2 * i + 2], 16).map_err(|e| e.to_string())?;
    }
    Ok(SessionId(bytes))
}

impl TransportArgs {
    /// Meets the other end through `--rendezvous`, if given: the path to it.
    pub(crate) async fn meet<R: Runtime>(
        &self,
        endpoint: &weir_runtime::Endpoint<R>,
    ) -> Result<Option<weir_tokio::PeerPath>, LiveError> {
        let (Some(service), Some(session)) = (self.rendezvous, self.session) else {
            return Ok(None);
        };
        let config = weir_core::rendezvous::ClientConfig {
            relay_only: self.relay_only,
            ..Default::default()
        };
        let path = endpoint.rendezvous(service, session, config).await?;
        eprintln!(
            "met through {service}: peer {} ({}), our public address {}",
            path.peer,
            if path.relayed { "relayed" } else { "direct" },
            path.observed
                .map_or_else(|| "unknown".to_owned(), |a| a.to_string())
        );
        Ok(Some(path))
    }
}

/// What carries a client's datagrams (`--transport`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TransportKind {
    /// UDP, with TCP as the fallback.
    Udp,
    /// TCP from the first packet.
    Tcp,
}

/// Which weir adapter drives the endpoint's socket (`--runtime`), for comparing them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RuntimeKind {
    /// weir-tokio: the driver is a task of the tokio runtime.
    Tokio,
    /// weir-async-std: the driver runs on async-io's reactor, on a thread of its own (what
    /// smol and async-std applications get); the measurement's own tasks stay on tokio.
    AsyncStd,
    /// weir-mio: the endpoint on a `mio::Poll` in one thread, the measurement in the same loop
    /// (bulk mode and game echoes; no lanes, no QUIC path, no interval lines).
    Mio,
}

/// What the client measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Move bytes on one stream as fast as the path allows.
    Bulk,
    /// Small unreliable messages at a tick rate, echoed: round trips and loss.
    Game,
}

/// Arguments of `weir perf client`.
#[derive(Debug, Args)]
pub struct ClientArgs {
    /// The server's address (not with `--rendezvous`, which finds it).
    #[arg(long, value_name = "ADDR", required_unless_present = "rendezvous")]
    pub connect: Option<SocketAddr>,
    /// What to measure.
    #[arg(long, value_enum, default_value = "bulk")]
    pub mode: Mode,
    /// Bulk: bytes to send, e.g. 100MB (ignored when --duration is given).
    #[arg(long, value_parser = parse_bytes, default_value = "100MB", value_name = "SIZE")]
    pub bytes: u64,
    /// Bulk: send for this long instead of a byte count; game: how long to play (default 10s).
    #[arg(long, value_parser = parse_duration, value_name = "TIME")]
    pub duration: Option<Duration>,
    /// Game: messages per second.
    #[arg(long, default_value_t = 60, value_name = "HZ")]
    pub tick_rate: u32,
    /// Game: bytes per message (at least 16: sequence number and send time).
    #[arg(long, default_value_t = 64, value_name = "BYTES")]
    pub message_size: usize,
    /// Game: carry the messages on a lane in this delivery mode (reliable-ordered,
    /// reliable-unordered, reliable-sequenced, unreliable, unreliable-sequenced) instead of
    /// unreliable datagrams; the server echoes on the same lane with the same settings.
    #[arg(long, value_name = "MODE")]
    pub lane: Option<DeliveryMode>,
    /// Game on a lane: carry each message again in up to N later packets (0 to 4).
    #[arg(long, default_value_t = 0, value_name = "N", requires = "lane",
          value_parser = clap::value_parser!(u8).range(0..=i64::from(MAX_REDUNDANCY)))]
    pub redundancy: u8,
    /// Game on a lane: forward error correction — none, low (8 + 1), medium (4 + 1), high
    /// (4 + 2).
    #[arg(long, default_value = "none", value_name = "LEVEL", requires = "lane")]
    pub fec: FecLevel,
    /// Game on a lane: compress every message (and its echo) — none, lz4, zstd or zstd-N —
    /// when that shrinks it (the game's messages are zero-padded after their header, so they
    /// do). Without it the lane follows the strategy.
    #[arg(long, value_name = "CODEC", requires = "lane")]
    pub compression: Option<Compression>,
    /// Game on a lane: give each message (and its echo) up this long after it was sent.
    #[arg(long, value_parser = parse_duration, value_name = "TIME", requires = "lane")]
    pub deadline: Option<Duration>,
    /// Print a line every TIME during a bulk run (iperf's `-i`): the bytes sent on the wire in
    /// the interval, the rate, the window, the smoothed RTT and the packets lost.
    #[arg(long, short = 'i', value_parser = parse_duration, value_name = "TIME")]
    pub interval: Option<Duration>,
    /// Print the result as one JSON object (for scripts) instead of tables; intervals go into
    /// its `intervals` array.
    #[arg(long)]
    pub json: bool,
    /// The adapter that drives the socket.
    #[arg(long, value_enum, default_value = "tokio")]
    pub runtime: RuntimeKind,
    #[command(flatten)]
    pub security: security::ClientSecurityArgs,
    #[command(flatten)]
    pub transport: TransportArgs,
}

/// A failure of `weir perf` or `weir proxy`.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error(transparent)]
    Bind(#[from] weir_tokio::BindError),
    #[error("cannot connect: {0}")]
    Connect(#[from] weir_tokio::ConnectError),
    #[error("connection lost: {0}")]
    Lost(#[from] weir_tokio::ConnectionLost),
    #[error("stream write failed: {0}")]
    Write(#[from] weir_tokio::WriteError),
    #[error("stream read failed: {0}")]
    Read(#[from] weir_tokio::ReadError),
    #[error("cannot send a message: {0}")]
    Datagram(#[from] weir_tokio::SendDatagramError),
    #[error("the server answered with {0} bytes instead of an 8-byte count")]
    BadAnswer(usize),
    #[error("--message-size must be at least 16 bytes")]
    MessageSize,
    #[error("--tick-rate must be positive")]
    TickRate,
    #[error("--interval must be above zero")]
    Interval,
    #[error("proxy: {0}")]
    Proxy(#[from] weir_tokio::proxy::ProxyError),
    #[error("--low-latency tunes BBR; it does nothing for {0} (add --cc bbr)")]
    LowLatency(ControllerKind),
    #[error("--lane and its options need --mode game")]
    LaneNeedsGame,
    #[error("the client's lane setup: {0}")]
    LaneSetup(#[from] LaneSetupError),
    #[error("lane: {0}")]
    Lane(#[from] weir_tokio::LaneSendError),
    #[error("TLS setup: {0}")]
    Security(#[from] security::SecurityError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    MioBind(#[from] weir_mio::BindError),
    #[error("cannot connect: {0}")]
    MioConnect(#[from] weir_mio::ConnectError),
    #[error("connection lost: {0}")]
    Closed(#[from] weir_core::connection::ConnectionError),
    #[error("stream write failed: {0}")]
    MioWrite(weir_core::streams::WriteError),
    #[error("cannot open the stream: {0}")]
    Open(#[from] weir_core::streams::OpenError),
    #[error("--runtime mio does not run {0}; use --runtime tokio or async-std for it")]
    NotOnMio(&'static str),
    #[error("--transport tcp needs the TCP transport (not --no-tcp, not --quic)")]
    TcpOff,
    #[error("rendezvous: {0}")]
    Meet(#[from] weir_tokio::RendezvousError),
    #[error("--connect or --rendezvous names the server")]
    NoServer,
    #[error(transparent)]
    Rendezvous(weir_tokio::rendezvous::RendezvousServiceError),
}

/// A multi-threaded runtime for the live commands.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}

pub fn run(args: &PerfArgs) -> Result<(), LiveError> {
    let transport = match &args.role {
        Role::Server(server) => &server.transport,
        Role::Client(client) => &client.transport,
    };
    if transport.low_latency && transport.controller() != ControllerKind::Bbr {
        return Err(LiveError::LowLatency(transport.controller()));
    }
    let runtime = runtime()?;
    match &args.role {
        Role::Server(server) => match server.runtime {
            RuntimeKind::Tokio => runtime.block_on(server::run::<weir_tokio::Tokio>(server)),
            RuntimeKind::AsyncStd => {
                runtime.block_on(server::run::<weir_async_std::AsyncIo>(server))
            }
            RuntimeKind::Mio => mio::server(server),
        },
        Role::Client(client) => match client.runtime {
            RuntimeKind::Tokio => runtime.block_on(client::run::<weir_tokio::Tokio>(client)),
            RuntimeKind::AsyncStd => {
                runtime.block_on(client::run::<weir_async_std::AsyncIo>(client))
            }
            RuntimeKind::Mio => mio::client(client),
        },
    }
}

/// The server's configuration: `transport`, and the default admission control (Retry once 64
/// handshakes are in progress, 16 per source address, half-open connections dropped after
/// 10 s), as a server facing strangers needs it.
fn server_config(transport: TransportConfig) -> ServerConfig {
    ServerConfig {
        transport,
        ..ServerConfig::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_lane_setup_reads_back() {
        for mode in DeliveryMode::ALL {
            for fec in FecLevel::ALL {
                for redundancy in 0..=MAX_REDUNDANCY {
                    for deadline in [None, Some(Duration::from_millis(120))] {
                        for compression in [
                            LaneCompression::Auto,
                            LaneCompression::Fixed(Compression::None),
                            LaneCompression::Fixed(Compression::Lz4),
                            LaneCompression::Fixed(Compression::Zstd(1)),
                            LaneCompression::Fixed(Compression::Zstd(MAX_ZSTD_LEVEL)),
                        ] {
                            let setup = LaneSetup {
                                config: LaneConfig {
                                    compression,
                                    ..LaneConfig::new(mode)
                                        .with_redundancy(redundancy)
                                        .with_fec(fec)
                                },
                                deadline,
                            };
                            assert_eq!(LaneSetup::decode(&setup.encode()), Ok(setup));
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn a_bad_lane_setup_is_refused_field_by_field() {
        let good = LaneSetup {
            config: LaneConfig::new(DeliveryMode::Unreliable),
            deadline: None,
        }
        .encode();
        assert_eq!(LaneSetup::decode(&good[..7]), Err(LaneSetupError::Short(7)));
        assert_eq!(LaneSetup::decode(&[]), Err(LaneSetupError::Short(0)));
        let with = |at: usize, value: u8| {
            let mut bytes = good;
            bytes[at] = value;
            LaneSetup::decode(&bytes)
        };
        assert_eq!(with(0, 5), Err(LaneSetupError::Mode(5)));
        assert_eq!(
            with(1, MAX_REDUNDANCY + 1),
            Err(LaneSetupError::Redundancy(MAX_REDUNDANCY + 1))
        );
        assert_eq!(with(2, 4), Err(LaneSetupError::Fec(4)));
        assert_eq!(with(7, 3), Err(LaneSetupError::Compression(3)));
        assert_eq!(with(7, 0x80), Err(LaneSetupError::Compression(0x80)));
        // A sub-millisecond deadline still reads back as one (0 means none).
        let tiny = LaneSetup {
            deadline: Some(Duration::from_micros(10)),
            ..LaneSetup::decode(&good).expect("good")
        };
        assert_eq!(
            LaneSetup::decode(&tiny.encode()).map(|s| s.deadline),
            Ok(Some(Duration::from_millis(1)))
        );
    }
}
