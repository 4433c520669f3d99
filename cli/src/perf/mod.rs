//! `weir perf`: iperf-like measurements over real sockets with weir-tokio.
//!
//! The client opens one bidirectional stream and sends a one-byte mode:
//! - `bulk`: the client streams bytes and finishes; the server counts them and answers with
//!   the count (8 bytes, big-endian), so the client's clock covers delivery, not just sending.
//! - `game`: the client sends a small unreliable message per tick (60 Hz by default) carrying
//!   its sequence number and send time; the server echoes every message; the client measures
//!   round trips and losses.

mod client;
mod server;

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use weir_core::config::{ServerConfig, TransportConfig};
use weir_core::congestion::ControllerKind;

use crate::units::{parse_bytes, parse_duration};

/// Mode byte of a bulk run.
const MODE_BULK: u8 = b'B';
/// Mode byte of a game run.
const MODE_GAME: u8 = b'G';

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
    /// UDP payload size of weir's datagrams (1200 is safe everywhere; 1452 fits Ethernet).
    #[arg(long, default_value_t = 1452, value_name = "BYTES")]
    pub datagram_size: u16,
    /// Congestion controller: newreno, cubic, bbr, vegas (what the core implements).
    #[arg(long, default_value = "newreno", value_name = "NAME")]
    pub cc: ControllerKind,
    /// With `--cc bbr`: short, gentle bandwidth probes that keep the queue low for game
    /// traffic, at some cost in fairness to other flows (`BbrConfig::low_latency`).
    #[arg(long)]
    pub low_latency: bool,
}

impl TransportArgs {
    fn transport(&self) -> TransportConfig {
        TransportConfig {
            max_datagram_size: self.datagram_size,
            congestion: crate::controller_config(self.cc, self.low_latency),
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
    #[command(flatten)]
    pub transport: TransportArgs,
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
    /// The server's address.
    #[arg(long, value_name = "ADDR")]
    pub connect: SocketAddr,
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
    #[error("proxy: {0}")]
    Proxy(#[from] weir_tokio::proxy::ProxyError),
    #[error("--low-latency tunes BBR; it does nothing for {0} (add --cc bbr)")]
    LowLatency(ControllerKind),
    #[error(transparent)]
    Io(#[from] std::io::Error),
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
    if transport.low_latency && transport.cc != ControllerKind::Bbr {
        return Err(LiveError::LowLatency(transport.cc));
    }
    let runtime = runtime()?;
    match &args.role {
        Role::Server(server) => runtime.block_on(server::run(server)),
        Role::Client(client) => runtime.block_on(client::run(client)),
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
