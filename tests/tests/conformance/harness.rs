//! What every adapter must offer the suite: a blocking surface over its own API, and the
//! behaviour of the conformance server, so that each test is written once.
//!
//! Each adapter maps its own typed errors onto [`Ended`] and [`Refusal`]; a mapping that loses
//! the type (an `Other`) fails the tests that expect a typed outcome.

use std::net::SocketAddr;
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use weir_core::config::{ConfigError, TransportConfig};
use weir_core::connection::ConnectionError;
use weir_core::crypto::{ClientTls, Identity};

/// Every blocking wait of the suite ends by this bound, not by hope.
pub const BOUND: Duration = Duration::from_secs(60);

/// How a connection ended, as the suite compares it across adapters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// The peer's application closed it with this code and reason.
    PeerClosed {
        /// The application error code.
        code: u64,
        /// The reason phrase.
        reason: Vec<u8>,
    },
    /// This end closed it.
    LocallyClosed,
    /// The idle timeout fired: the peer vanished.
    TimedOut,
    /// The handshake did not complete in time: nobody answered.
    HandshakeTimedOut,
    /// The handshake failed on TLS (a wrong pin, an untrusted certificate).
    Tls,
    /// The endpoint's driver stopped under the connection.
    EndpointStopped,
    /// Anything else, described.
    Other(String),
}

impl Ended {
    /// The adapter-independent view of the core's connection error.
    pub fn from_core(error: &ConnectionError) -> Self {
        match error {
            ConnectionError::ApplicationClosed { code, reason } => Self::PeerClosed {
                code: *code,
                reason: reason.0.to_vec(),
            },
            ConnectionError::LocallyClosed => Self::LocallyClosed,
            ConnectionError::TimedOut(_) => Self::TimedOut,
            ConnectionError::HandshakeTimedOut(_) => Self::HandshakeTimedOut,
            ConnectionError::Tls(_) => Self::Tls,
            other => Self::Other(other.to_string()),
        }
    }
}

/// Why an endpoint was not bound or a connection not started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The integrity-only protection without the explicit opt-in.
    InsecureRefused,
    /// The core's configuration validation refused it.
    Config(ConfigError),
    /// The socket tuning cannot work.
    Socket,
    /// An address of the other family than the socket's.
    AddressFamily,
    /// The endpoint cannot start connections (no client role, shutting down).
    CannotConnect,
    /// Anything else, described.
    Other(String),
}

/// Why `connect` did not give a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectFailure {
    /// Refused before anything was sent.
    Refused(Refusal),
    /// The handshake started and failed.
    Handshake(Ended),
}

/// Which protection an endpoint asks for.
#[derive(Debug, Clone)]
pub enum Protection {
    /// TLS 1.3 with the suite's identity (server) or its pin (client).
    Tls,
    /// TLS 1.3 trusting only `pin` (a client that expects another server).
    TlsPinned(ClientTls),
    /// The integrity-only protection, opted into (`allow_insecure`) or not.
    Insecure {
        /// Whether the configuration also sets `allow_insecure`.
        opted_in: bool,
    },
    /// No security configured at all.
    Nothing,
}

/// What an endpoint is bound with, in adapter-independent terms.
#[derive(Debug, Clone)]
pub struct Setup {
    /// Its protection.
    pub protection: Protection,
    /// The transport of its connections (both roles).
    pub transport: TransportConfig,
    /// A receive buffer of zero bytes: a socket tuning every adapter must refuse.
    pub zero_recv_buffer: bool,
}

impl Setup {
    /// TLS and the loopback transport.
    pub fn tls() -> Self {
        Self {
            protection: Protection::Tls,
            transport: loopback_transport(),
            zero_recv_buffer: false,
        }
    }

    /// TLS with `tweak` applied to the transport.
    pub fn tls_with(tweak: impl FnOnce(&mut TransportConfig)) -> Self {
        let mut setup = Self::tls();
        tweak(&mut setup.transport);
        setup
    }
}

/// The transport the suite runs on loopback: full-size datagrams.
pub fn loopback_transport() -> TransportConfig {
    TransportConfig {
        max_datagram_size: 1452,
        ..TransportConfig::default()
    }
}

/// The servers' identity (one key generation for the whole test binary).
pub fn identity() -> &'static Identity {
    static IDENTITY: OnceLock<Identity> = OnceLock::new();
    IDENTITY.get_or_init(|| Identity::self_signed(["localhost"]).expect("identity"))
}

/// The trust of the suite's clients: the servers' pin.
pub fn trust() -> ClientTls {
    ClientTls::pinned(vec![identity().fingerprint()]).expect("pinned trust")
}

/// `127.0.0.1:0`.
pub fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().expect("literal address")
}

/// An adapter under test, seen through the suite's blocking surface.
pub trait Adapter: 'static {
    /// Its name in failure messages.
    const NAME: &'static str;
    /// A bound server running [the conformance behaviour](Server).
    type Server: Server;
    /// A bound client endpoint.
    type Client: Client;

    /// Binds a server on loopback with `setup`.
    fn server(setup: Setup) -> Result<Self::Server, Refusal>;
    /// Binds a client endpoint on loopback with `setup`.
    fn client(setup: Setup) -> Result<Self::Client, Refusal>;
}

/// A server endpoint that accepts every connection and, on each:
/// - for every bidirectional stream the client opens, reads an 8-byte seed and then the stream
///   to its end, checks every byte against [`pattern_byte`], and answers with the number of
///   bytes it read (8 bytes, big-endian; `u64::MAX` when a byte was wrong), then finishes;
/// - echoes every unreliable message;
/// - records how the connection ended.
pub trait Server: Send + 'static {
    /// The address clients connect to.
    fn addr(&self) -> SocketAddr;
    /// Waits until `n` connections have ended, at most `within`; how each ended, in order.
    fn wait_ended(&self, n: usize, within: Duration) -> Vec<Ended>;
    /// Connections whose state the endpoint still holds.
    fn connection_count(&self) -> usize;
    /// Closes every connection with `code` and waits, at most `grace`, for them to drain;
    /// whether they all did.
    fn shutdown(self, code: u64, grace: Duration) -> bool;
}

/// A client endpoint.
pub trait Client: Send + Sync + 'static {
    /// One connection.
    type Conn: Conn;
    /// Connects to `to` and waits for the handshake.
    fn connect(&self, to: SocketAddr) -> Result<Self::Conn, ConnectFailure>;
    /// Connections whose state the endpoint still holds.
    fn connection_count(&self) -> usize;
    /// The socket errors the endpoint counted and survived so far.
    fn socket_errors(&self) -> SocketErrors;
    /// Closes every connection and waits, at most `grace`, for them to drain; whether they did.
    fn shutdown(self, grace: Duration) -> bool;
}

/// Socket errors an endpoint counted (each adapter's `socket_stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SocketErrors {
    /// `ECONNREFUSED`.
    pub refused: u64,
    /// `EMSGSIZE`.
    pub too_large: u64,
}

/// One client connection.
pub trait Conn: Send + 'static {
    /// Opens a bidirectional stream, writes `seed` and `len` pattern bytes, finishes, and
    /// returns the server's answer (the count it checked).
    fn upload(&self, seed: u64, len: u64) -> Result<u64, Ended>;
    /// Queues an unreliable message.
    fn send_datagram(&self, data: Bytes) -> Result<(), Ended>;
    /// The next unreliable message, waiting at most `within`.
    fn recv_datagram(&self, within: Duration) -> Option<Bytes>;
    /// Closes with `code` and `reason`.
    fn close(&self, code: u64, reason: &[u8]);
    /// Opens a stream, writes `len` bytes of it without finishing, and lets go of everything:
    /// the async adapters drop every handle of the connection (which closes it with code 0),
    /// weir-mio's application closes it with code 0 (its handles are plain values).
    fn abandon(self, seed: u64, len: u64);
    /// Waits at most `within` for the connection to end; how it ended.
    fn closed(&self, within: Duration) -> Option<Ended>;
}

/// The byte at `offset` of stream `seed`: every byte depends on its position and its stream,
/// so a lost, duplicated or misplaced chunk shows.
pub fn pattern_byte(seed: u64, offset: u64) -> u8 {
    let x = offset
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(seed.wrapping_mul(0xD1B5_4A32_D192_ED03));
    (x >> 56) as u8 ^ (offset as u8)
}

/// Fills `buf` with the pattern of `seed` from `offset` on.
pub fn fill_pattern(seed: u64, offset: u64, buf: &mut [u8]) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b = pattern_byte(seed, offset + i as u64);
    }
}

/// Checks received bytes of the conformance stream and keeps count; shared by every adapter's
/// server so the check itself is written once.
#[derive(Debug, Default)]
pub struct PatternCheck {
    header: Vec<u8>,
    seed: Option<u64>,
    checked: u64,
    wrong: bool,
}

impl PatternCheck {
    /// Takes the next bytes of the stream.
    pub fn feed(&mut self, mut data: &[u8]) {
        if self.seed.is_none() {
            let take = (8 - self.header.len()).min(data.len());
            self.header.extend_from_slice(&data[..take]);
            data = &data[take..];
            if let Ok(seed) = <[u8; 8]>::try_from(&self.header[..]) {
                self.seed = Some(u64::from_be_bytes(seed));
            }
        }
        let Some(seed) = self.seed else {
            return;
        };
        for (i, b) in data.iter().enumerate() {
            if *b != pattern_byte(seed, self.checked + i as u64) {
                self.wrong = true;
            }
        }
        self.checked += data.len() as u64;
    }

    /// The answer the server sends once the stream ended.
    pub fn answer(&self) -> [u8; 8] {
        let count = if self.wrong || self.seed.is_none() {
            u64::MAX
        } else {
            self.checked
        };
        count.to_be_bytes()
    }
}

/// The upload a client writes: the seed, then `len` pattern bytes, in `chunk`-sized pieces.
pub fn upload_chunks(seed: u64, len: u64, chunk: usize) -> impl Iterator<Item = Bytes> {
    let header = std::iter::once(Bytes::copy_from_slice(&seed.to_be_bytes()));
    let body = (0..len).step_by(chunk.max(1)).map(move |offset| {
        let n = (len - offset).min(chunk as u64) as usize;
        let mut buf = vec![0u8; n];
        fill_pattern(seed, offset, &mut buf);
        Bytes::from(buf)
    });
    header.chain(body)
}

/// How the connections a server served ended, with a condition variable to wait on.
#[derive(Debug, Default)]
pub struct Outcomes {
    ended: Mutex<Vec<Ended>>,
    changed: Condvar,
}

impl Outcomes {
    pub fn push(&self, how: Ended) {
        self.ended.lock().expect("outcomes").push(how);
        self.changed.notify_all();
    }

    pub fn wait(&self, n: usize, within: Duration) -> Vec<Ended> {
        let deadline = Instant::now() + within;
        let mut ended = self.ended.lock().expect("outcomes");
        while ended.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            ended = self.changed.wait_timeout(ended, left).expect("outcomes").0;
        }
        ended.clone()
    }
}

/// An adapter's `Config` for `setup` (weir-runtime's and weir-mio's have the same fields and
/// constructors but are distinct types): `$config` and `$socket` name the adapter's types.
macro_rules! adapter_config {
    ($config:ident, $socket:ident, $setup:expr, $server:expr) => {{
        let setup: &$crate::harness::Setup = $setup;
        let mut config = match (&setup.protection, $server) {
            ($crate::harness::Protection::Tls, true) => {
                $config::server($crate::harness::identity()).expect("server TLS")
            }
            ($crate::harness::Protection::Tls, false) => $config::client($crate::harness::trust()),
            ($crate::harness::Protection::TlsPinned(trust), _) => $config::client(trust.clone()),
            ($crate::harness::Protection::Insecure { opted_in }, true) => $config {
                allow_insecure: *opted_in,
                ..$config::insecure_server()
            },
            ($crate::harness::Protection::Insecure { opted_in }, false) => $config {
                allow_insecure: *opted_in,
                ..$config::insecure_client()
            },
            ($crate::harness::Protection::Nothing, _) => $config {
                endpoint: weir_core::config::EndpointConfig::default(),
                ..$config::client($crate::harness::trust())
            },
        };
        if let Some(server) = config.server.as_mut() {
            server.transport = setup.transport.clone();
        }
        config.client = setup.transport.clone();
        if setup.zero_recv_buffer {
            config.socket = $socket {
                recv_buffer: Some(0),
                ..$socket::default()
            };
        }
        config
    }};
}
pub(crate) use adapter_config;
