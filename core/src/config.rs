//! Configuration of endpoints and connections. Every limit the core enforces is here, with its
//! unit in its type (DESIGN.md §2: every limit is configurable and enforced).
//!
//! All configuration structs are plain data with public fields, sensible [`Default`]s and a
//! `validate` method; [`Endpoint::new`](crate::endpoint::Endpoint::new) and
//! [`Endpoint::connect`](crate::endpoint::Endpoint::connect) validate what they are given.

use std::time::Duration;

use crate::adapt::AdaptConfig;
use crate::congestion::{ControllerConfig, UnsupportedController};
use crate::crypto::{Security, TlsConfig};
use crate::estimate::{EstimatorConfig, EstimatorConfigError};
use crate::lanes::{LaneConfigError, LanesConfig};
use crate::pmtu::{MtuDiscoveryConfig, MtuDiscoveryConfigError};
use crate::streams::StreamsConfig;
use crate::wire::ConnectionId;

/// Smallest datagram size a weir path must carry (RFC 9000 §14: 1200 bytes).
pub const MIN_DATAGRAM_SIZE: u16 = 1200;

/// The smallest [`TransportConfig::max_tracked_packets`]: room for a window of packets beside
/// the ACK-only packets and probes that the bound keeps sending.
pub const MIN_TRACKED_PACKETS: usize = 256;

/// The values [`TransportConfig::active_connection_id_limit`] may take: RFC 9000 §18.2's
/// minimum of 2 (the ID in use and one spare), and at most 8 (each costs a routing entry at the
/// endpoint, and a NEW_CONNECTION_ID frame per handshake).
pub const ACTIVE_CONNECTION_ID_LIMITS: std::ops::RangeInclusive<u64> = 2..=8;

/// The default [`TransportConfig::active_connection_id_limit`]: three spares, enough for a
/// client's moves and the server following each one.
pub const DEFAULT_ACTIVE_CONNECTION_ID_LIMIT: u64 = 4;

/// Parameters of each connection.
#[derive(Debug, Clone, PartialEq)]
pub struct TransportConfig {
    /// Close the connection after this long without receiving anything (RFC 9000 §10.1); the
    /// effective timeout is the smaller of both ends' values. Zero disables it.
    pub idle_timeout: Duration,
    /// Send a PING when nothing ack-eliciting was sent for this long, so that an idle
    /// connection (a game lobby) stays open and NAT bindings stay fresh.
    pub keep_alive_interval: Option<Duration>,
    /// Longest this end delays an acknowledgement (RFC 9000 §13.2.1).
    pub max_ack_delay: Duration,
    /// ACK delays are sent in units of 2^exponent µs (RFC 9000 §18.2).
    pub ack_delay_exponent: u8,
    /// Acknowledge at once after this many ack-eliciting packets (RFC 9000 §13.2.2: 2).
    pub ack_eliciting_threshold: u32,
    /// Received packet-number ranges remembered per space (bounds ACK tracking memory).
    pub max_ack_ranges: usize,
    /// RTT assumed before the first sample (RFC 9002 §6.2.2: 333 ms).
    pub initial_rtt: Duration,
    /// Longest interval between probes while nothing is acknowledged (never below twice the
    /// smallest RTT seen, plus the peer's ACK delay). RFC 9002 doubles the probe timeout
    /// without bound, from a base of `smoothed_rtt + 4 × rttvar` that a stall behind a deep
    /// queue inflates to seconds; the cap keeps probing a dead path (a tunnel, a dropped Wi-Fi)
    /// often enough to notice within this long that it came back. `None` follows RFC 9002.
    pub max_probe_timeout: Option<Duration>,
    /// The cap on the probe interval while real-time messages flow (an unreliable or sequenced
    /// lane, a message deadline or an unreliable datagram in the last 2 s), when it is below
    /// `max_probe_timeout`; the same floor of twice the smallest RTT applies. A game's next
    /// message should find a path that comes back from an outage (a handover, a tunnel) at
    /// once, not after a backed-off probe: at 250 ms, a dead path costs a few small probes a
    /// second. `None` uses `max_probe_timeout` throughout.
    pub realtime_max_probe_timeout: Option<Duration>,
    /// The base datagram size (UDP payload), which every path must carry: the handshake's
    /// datagrams, and every datagram until path MTU discovery validates a larger size (or
    /// always, without discovery). At least 1200 bytes (RFC 9000 §14).
    pub max_datagram_size: u16,
    /// Path MTU discovery ([`crate::pmtu`]): after the handshake, probe for datagrams up to
    /// [`MtuDiscoveryConfig::upper_bound`] (1452 bytes by default) and use the largest the
    /// path carries; fall back to `max_datagram_size` when the path stops carrying them. On by
    /// default; `None` sends `max_datagram_size` datagrams throughout.
    pub mtu_discovery: Option<MtuDiscoveryConfig>,
    /// Most packet numbers that the record of sent, unacknowledged packets spans in one
    /// packet-number space (a record costs about 200 bytes). Acknowledgements normally keep the
    /// record at the packets in flight; this bounds what a peer that acknowledges nothing can
    /// make this end hold. New ack-eliciting packets wait while the record is within 64 of the
    /// bound, as if the congestion window were full; beyond it the oldest packets are declared
    /// lost. The default, 16 384, is about 19 MB in flight at 1200 bytes a packet (780 Mbit/s
    /// over 200 ms); at least 256.
    pub max_tracked_packets: usize,
    /// Under TLS, start a 1-RTT key update after this many packets sealed with one key
    /// (RFC 9001 §6). `None` (the default): at 7/8 of the AEAD's confidentiality limit
    /// (about 7.3 million packets for AES-GCM), which is also the most any value is
    /// allowed. Smaller values limit what one key protects, at no cost but a key derivation.
    pub key_update_interval: Option<u64>,
    /// The congestion controller and its parameters. The default is BBR with weir's
    /// loss tolerance ([`BbrConfig`](crate::congestion::BbrConfig)): it keeps the bottleneck
    /// queue short and its rate through random loss, which is what a game's packets need;
    /// NewReno, CUBIC and Vegas stay a setting away.
    pub congestion: ControllerConfig,
    /// Stream limits, windows and buffers.
    pub streams: StreamsConfig,
    /// Lane limits, windows and buffers.
    pub lanes: LanesConfig,
    /// Bytes of unreliable messages waiting to be read, counting 64 bytes per message beyond
    /// its data (so that empty messages are bounded too); `None` refuses messages from the peer.
    pub datagram_receive_buffer: Option<usize>,
    /// Bytes of unreliable messages waiting to be sent (the oldest are dropped beyond this).
    pub datagram_send_buffer: usize,
    /// The windows of the path estimators (bandwidth statistics, jitter, loss rate, quality
    /// score) every connection keeps.
    pub estimators: EstimatorConfig,
    /// How the connection adapts its strategy to the path (controller, datagram size, FEC,
    /// batching). The default runs weir's policy ([`WeirPolicy`](crate::adapt::WeirPolicy));
    /// [`AdaptConfig::off`] keeps everything as configured.
    pub adapt: AdaptConfig,
    /// A ceiling on the connection's sending rate, whatever the congestion window allows (a
    /// phone's data budget, a server's cap per client); see [`RateLimit`]. Off (`None`) by
    /// default.
    pub rate_limit: Option<RateLimit>,
    /// Explicit Congestion Notification (RFC 9000 §13.4): report the codepoints the driver
    /// reads from received datagrams, mark sent datagrams ECT(0) once (and while) the path
    /// proves to carry the marks, and take the peer's CE reports as congestion, before any
    /// packet is lost. Needs a driver that reads and sets the IP header's ECN bits
    /// (weir-tokio, weir-async-std and weir-mio do, through quinn-udp); a driver that does not
    /// costs only the first ten packets' marks, after which validation fails and nothing is
    /// marked. On by default; `false` neither marks nor reports.
    pub ecn: bool,
    /// How many of the peer's connection IDs this end stores at once (RFC 9000 §5.1,
    /// `active_connection_id_limit`), and how many of its own it hands the peer: once the
    /// handshake is confirmed each end issues the smaller of both ends' limits, less the one in
    /// use, as spares. A connection that moves (a client to another network, a server after
    /// its client's address changed) takes a spare, so an observer cannot link the paths by
    /// their connection IDs. 2 to 8; 4 by default.
    pub active_connection_id_limit: u64,
}

/// A ceiling on one connection's sending rate: a token bucket of
/// [`bytes_per_second`](Self::bytes_per_second) holding at most [`burst`](Self::burst) bytes,
/// full when the connection starts. Over any interval of length `d` the connection sends at most
/// `bytes_per_second × d + burst` bytes of ack-eliciting packets after the handshake: new data,
/// retransmissions, messages, pings and probes all count, in whole UDP payloads. The limit
/// applies together with the pacer (the next packet leaves when both allow it, and the
/// connection's timer wakes then) and below the congestion controller, which still decides
/// when the path is the tighter limit. Acknowledgement-only packets and the handshake's
/// packets are never held back: delaying them would slow the peer, not this end. Data waits in
/// the stream and lane buffers meanwhile, where the scheduler keeps choosing what goes first
/// (`connection/rate_limit.rs` says why there is no packet queue). Both ends of a connection
/// can set one; each limits what it sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// The sustained rate, in bytes per second (UDP payload). Not zero.
    pub bytes_per_second: u64,
    /// The most bytes that may leave at once after a quiet spell. At least the largest
    /// datagram the connection may send ([`TransportConfig::datagram_ceiling`]), or no packet
    /// could ever leave.
    pub burst: u64,
}

impl RateLimit {
    /// A limit of `bytes_per_second` with the default burst: 10 ms at the rate, and at least
    /// 16 KiB (a dozen full datagrams, so a slow limit still sends a short message train at
    /// once).
    pub fn new(bytes_per_second: u64) -> Self {
        Self {
            bytes_per_second,
            burst: (bytes_per_second / 100).max(16 * 1024),
        }
    }
}

impl Default for TransportConfig {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(30),
            keep_alive_interval: None,
            max_ack_delay: Duration::from_millis(25),
            ack_delay_exponent: 3,
            ack_eliciting_threshold: 2,
            max_ack_ranges: 256,
            initial_rtt: crate::recovery::INITIAL_RTT,
            max_probe_timeout: Some(Duration::from_secs(3)),
            realtime_max_probe_timeout: Some(Duration::from_millis(250)),
            max_datagram_size: MIN_DATAGRAM_SIZE,
            mtu_discovery: Some(MtuDiscoveryConfig::default()),
            max_tracked_packets: 16_384,
            key_update_interval: None,
            congestion: ControllerConfig::default(),
            streams: StreamsConfig::default(),
            lanes: LanesConfig::default(),
            datagram_receive_buffer: Some(1 << 20),
            datagram_send_buffer: 1 << 20,
            estimators: EstimatorConfig::default(),
            adapt: AdaptConfig::default(),
            rate_limit: None,
            ecn: true,
            active_connection_id_limit: DEFAULT_ACTIVE_CONNECTION_ID_LIMIT,
        }
    }
}

impl TransportConfig {
    /// Checks every value against what the protocol allows.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_datagram_size < MIN_DATAGRAM_SIZE {
            return Err(ConfigError::DatagramSize(self.max_datagram_size));
        }
        if self.ack_delay_exponent > 20 {
            return Err(ConfigError::AckDelayExponent(self.ack_delay_exponent));
        }
        if self.max_ack_delay >= Duration::from_millis(1 << 14) {
            return Err(ConfigError::MaxAckDelay(self.max_ack_delay));
        }
        if self.max_ack_ranges == 0 {
            return Err(ConfigError::Zero("max_ack_ranges"));
        }
        if self.max_tracked_packets < MIN_TRACKED_PACKETS {
            return Err(ConfigError::TrackedPackets(self.max_tracked_packets));
        }
        if !ACTIVE_CONNECTION_ID_LIMITS.contains(&self.active_connection_id_limit) {
            return Err(ConfigError::ActiveConnectionIdLimit(
                self.active_connection_id_limit,
            ));
        }
        if self.ack_eliciting_threshold == 0 {
            return Err(ConfigError::Zero("ack_eliciting_threshold"));
        }
        if self.key_update_interval == Some(0) {
            return Err(ConfigError::Zero("key_update_interval"));
        }
        if self.initial_rtt.is_zero() {
            return Err(ConfigError::Zero("initial_rtt"));
        }
        if self.realtime_max_probe_timeout.is_some_and(|t| t.is_zero()) {
            return Err(ConfigError::Zero("realtime_max_probe_timeout"));
        }
        if self.keep_alive_interval.is_some_and(|k| k.is_zero()) {
            return Err(ConfigError::Zero("keep_alive_interval"));
        }
        if self.streams.max_concurrent_bidi > 1 << 60 || self.streams.max_concurrent_uni > 1 << 60 {
            return Err(ConfigError::StreamLimit);
        }
        if self.streams.stream_receive_window == 0 || self.streams.receive_window == 0 {
            return Err(ConfigError::Zero("receive window"));
        }
        self.lanes.validate()?;
        self.estimators.validate()?;
        if let Some(mtu) = &self.mtu_discovery {
            mtu.validate()?;
        }
        if let Some(limit) = &self.rate_limit {
            if limit.bytes_per_second == 0 {
                return Err(ConfigError::Zero("rate_limit.bytes_per_second"));
            }
            let datagram = self.datagram_ceiling();
            if limit.burst < u64::from(datagram) {
                return Err(ConfigError::RateLimitBurst {
                    burst: limit.burst,
                    datagram,
                });
            }
        }
        if !self.congestion.kind.is_implemented() {
            return Err(ConfigError::Controller(UnsupportedController {
                kind: self.congestion.kind,
            }));
        }
        Ok(())
    }

    /// The largest datagram a connection may come to send: the discovery's upper bound, or the
    /// base size without discovery. The peer's `max_udp_payload_size` and what the path
    /// carries bound it further, connection by connection.
    pub fn datagram_ceiling(&self) -> u16 {
        self.mtu_discovery
            .map_or(self.max_datagram_size, |m| m.upper_bound)
            .max(self.max_datagram_size)
    }
}

/// Where an endpoint's randomness comes from: its connection IDs, the key of its Retry tokens
/// and the key of its stateless resets are all drawn from it.
///
/// Anyone who knows the seed can predict every connection ID the endpoint picks and forge its
/// tokens and resets: a server whose IDs are predictable lets a stranger capture or close its
/// clients' connections. The core itself never draws randomness (DESIGN.md §2), so it refuses
/// [`Seed::FromOs`]; the runtimes (weir-tokio) replace it with 32 bytes from the operating
/// system before they build the endpoint. A driver of its own does the same with
/// [`Seed::resolve`].
#[derive(Clone, PartialEq, Eq, Default)]
pub enum Seed {
    /// Fresh randomness from the operating system, drawn by the runtime that builds the
    /// endpoint (the default). The core alone cannot draw it: [`Endpoint::new`] refuses it with
    /// [`ConfigError::UnresolvedSeed`].
    ///
    /// [`Endpoint::new`]: crate::endpoint::Endpoint::new
    #[default]
    FromOs,
    /// A reproducible run (tests, the simulator, benchmarks): the same value and inputs give the
    /// same connection IDs and keys. **It gives them away**: anyone who knows or guesses the
    /// value (and small values are guessed first) can predict the endpoint's connection IDs and
    /// forge its Retry tokens and stateless resets. Never use it facing a real network.
    Fixed(u64),
    /// 32 secret bytes the driver drew itself (from the operating system's randomness).
    Secret([u8; 32]),
}

impl std::fmt::Debug for Seed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::FromOs => f.write_str("FromOs"),
            Self::Fixed(n) => write!(f, "Fixed({n})"),
            // A secret stays out of logs.
            Self::Secret(_) => f.write_str("Secret(..)"),
        }
    }
}

impl Seed {
    /// Replaces [`Seed::FromOs`] with a [`Seed::Secret`] that `draw` fills (with the operating
    /// system's randomness, e.g. `getrandom::fill`); other seeds stay as they are.
    pub fn resolve<E>(
        &mut self,
        draw: impl FnOnce(&mut [u8; 32]) -> Result<(), E>,
    ) -> Result<(), E> {
        if *self == Self::FromOs {
            let mut bytes = [0u8; 32];
            draw(&mut bytes)?;
            *self = Self::Secret(bytes);
        }
        Ok(())
    }
}

/// Parameters of an endpoint (one UDP socket's worth of connections).
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointConfig {
    /// Where every random choice of the endpoint comes from (connection IDs, token and reset
    /// keys). The default, [`Seed::FromOs`], must be resolved by the driver (the runtimes do);
    /// [`Seed::Fixed`] makes a run reproducible (DESIGN.md §2) and predictable.
    pub seed: Seed,
    /// Length of the connection IDs this endpoint issues (4 to 20 bytes).
    pub cid_len: usize,
    /// Most connections at once; new ones are refused beyond it.
    pub max_connections: usize,
    /// Most stateless answers (Retry, Version Negotiation, stateless reset) waiting to be sent;
    /// further ones are dropped, so a flood of spoofed packets cannot grow memory.
    pub max_stateless_responses: usize,
    /// How long a retry token stays valid.
    pub retry_token_lifetime: Duration,
    /// What protects the packets: TLS 1.3, or — for simulations and tests, by name —
    /// [`Security::InsecureIntegrityOnly`]. There is no default: `None` fails validation, so
    /// that no endpoint ends up unencrypted without having asked for it.
    pub security: Option<Security>,
    /// Write this server's ID into every connection ID it issues, so that a stateless load
    /// balancer in front of many servers routes each connection to its server, whatever
    /// address the client moves to (QUIC-LB's plaintext algorithm; see [`crate::lb`]).
    /// `None` (the default): fully random connection IDs.
    pub routable_cids: Option<crate::lb::RoutableCids>,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        Self {
            seed: Seed::FromOs,
            cid_len: 8,
            max_connections: 10_000,
            max_stateless_responses: 256,
            retry_token_lifetime: Duration::from_secs(10),
            security: None,
            routable_cids: None,
        }
    }
}

impl EndpointConfig {
    /// Smallest connection-ID length: shorter IDs are too easy to guess or collide.
    pub const MIN_CID_LEN: usize = 4;

    /// The default configuration with a [`Seed::Fixed`] seed and **no encryption and no
    /// authentication** ([`Security::InsecureIntegrityOnly`]): for the simulator and tests,
    /// where runs must be reproducible and keys would only cost time.
    pub fn insecure_fixed(seed: u64) -> Self {
        Self {
            seed: Seed::Fixed(seed),
            security: Some(Security::InsecureIntegrityOnly),
            ..Self::default()
        }
    }

    /// The default configuration with a [`Seed::Fixed`] seed and TLS: reproducible connection
    /// IDs and tokens (the TLS handshake still draws its own randomness).
    pub fn tls_fixed(seed: u64, tls: TlsConfig) -> Self {
        Self {
            seed: Seed::Fixed(seed),
            security: Some(Security::Tls(tls)),
            ..Self::default()
        }
    }

    /// Checks every value.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.seed == Seed::FromOs {
            return Err(ConfigError::UnresolvedSeed);
        }
        if !(Self::MIN_CID_LEN..=ConnectionId::MAX_LEN).contains(&self.cid_len) {
            return Err(ConfigError::CidLength(self.cid_len));
        }
        if self.max_connections == 0 {
            return Err(ConfigError::Zero("max_connections"));
        }
        if self.retry_token_lifetime.is_zero() {
            return Err(ConfigError::Zero("retry_token_lifetime"));
        }
        if self.security.is_none() {
            return Err(ConfigError::NoSecurity);
        }
        if let Some(routable) = &self.routable_cids {
            routable.validate(self.cid_len)?;
        }
        Ok(())
    }
}

/// When a server asks new clients to prove their address with a Retry (RFC 9000 §8.1.2) before
/// it keeps any state for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryPolicy {
    /// Every new client: a spoofed source never costs state, every client pays one extra round
    /// trip.
    Always,
    /// Once this many handshakes are in progress (the default, 64): a quiet server answers in
    /// one round trip, and a flood of Initials — spoofed or not — makes every newcomer prove
    /// its address, so the flood costs no state beyond this many half-open connections.
    WhenBusy(usize),
    /// Never: state for every Initial, bounded by the per-address limit, `max_connections`
    /// and the handshake timeout. A flood from many spoofed addresses then fills the table
    /// until its entries expire; for closed networks and tests.
    Never,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self::WhenBusy(64)
    }
}

/// What a server needs on top of its endpoint configuration: the parameters of the connections
/// it accepts, and its admission limits — what one stranger may make it hold before a
/// handshake completes.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// Parameters of accepted connections.
    pub transport: TransportConfig,
    /// When new clients must first prove their address with a Retry. Until an address is
    /// validated the server sends at most 3× what it received from it (RFC 9000 §8.1).
    pub retry: RetryPolicy,
    /// Most handshakes in progress from one source: an IPv4 address, or an IPv6 /64 prefix
    /// (what one host or subscriber holds). Initials beyond it are dropped silently (a real
    /// client sends its Initial again a probe timeout later), so one host cannot fill the
    /// connection table however many ports it uses. Players behind one NAT share the limit
    /// only while their handshakes overlap. Default 16.
    pub max_handshakes_per_address: usize,
    /// A connection whose handshake hears nothing from the client for this long is dropped
    /// without a word, so the half-open entries of a flood (a spoofed Initial is never followed
    /// by anything) expire quickly, while a real client on a bad path keeps its handshake alive
    /// with every packet it repeats (at most 3 s apart with the default capped probe backoff).
    /// The default, 10 s, outlasts the 3 s outages of the `2g-tunnel` preset; every named path
    /// completes its handshakes under it (`tests/tests/admission.rs`).
    pub handshake_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            transport: TransportConfig::default(),
            retry: RetryPolicy::default(),
            max_handshakes_per_address: 16,
            handshake_timeout: Duration::from_secs(10),
        }
    }
}

impl ServerConfig {
    /// The default server configuration with `transport` and `retry`.
    pub fn new(transport: TransportConfig, retry: RetryPolicy) -> Self {
        Self {
            transport,
            retry,
            ..Self::default()
        }
    }

    /// Checks every value.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.transport.validate()?;
        if self.max_handshakes_per_address == 0 {
            return Err(ConfigError::Zero("max_handshakes_per_address"));
        }
        if self.handshake_timeout.is_zero() {
            return Err(ConfigError::Zero("handshake_timeout"));
        }
        if self.retry == RetryPolicy::WhenBusy(0) {
            return Err(ConfigError::Zero("RetryPolicy::WhenBusy threshold"));
        }
        Ok(())
    }
}

/// A configuration value out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A datagram size below the protocol minimum.
    #[error("max_datagram_size {0} is below the minimum of 1200 bytes")]
    DatagramSize(u16),
    /// An ACK delay exponent above 20.
    #[error("ack_delay_exponent {0} exceeds 20")]
    AckDelayExponent(u8),
    /// A max ACK delay of 2^14 ms or more.
    #[error("max_ack_delay {0:?} must be below 16384 ms")]
    MaxAckDelay(Duration),
    /// An [`active_connection_id_limit`](TransportConfig::active_connection_id_limit)
    /// outside [`ACTIVE_CONNECTION_ID_LIMITS`].
    #[error("active_connection_id_limit must be 2 to 8, got {0}")]
    ActiveConnectionIdLimit(u64),
    /// A connection-ID length outside 4..=20.
    #[error("connection IDs must be 4 to 20 bytes, got {0}")]
    CidLength(usize),
    /// A stream limit above 2^60.
    #[error("stream limits must not exceed 2^60")]
    StreamLimit,
    /// A bound on tracked packets below [`MIN_TRACKED_PACKETS`].
    #[error("max_tracked_packets {0} is below the minimum of 256")]
    TrackedPackets(usize),
    /// A value that must be positive is zero.
    #[error("{0} must not be zero")]
    Zero(&'static str),
    /// A [`RateLimit`] whose burst cannot hold the largest datagram the connection may send.
    #[error("rate_limit.burst {burst} is below the largest datagram, {datagram} bytes")]
    RateLimitBurst {
        /// The burst configured, bytes.
        burst: u64,
        /// The largest datagram ([`TransportConfig::datagram_ceiling`]), bytes.
        datagram: u16,
    },
    /// [`Seed::FromOs`] reached the core, which draws no randomness of its own.
    #[error(
        "the endpoint's seed must be drawn from the operating system by its driver \
         (Seed::resolve, or Seed::Secret); Seed::Fixed only for reproducible tests"
    )]
    UnresolvedSeed,
    /// [`EndpointConfig::security`] was left unset.
    #[error(
        "the endpoint's security is not set: Security::Tls with an identity or a client \
         configuration, or Security::InsecureIntegrityOnly for simulations and tests"
    )]
    NoSecurity,
    /// A server endpoint whose TLS configuration has no server side.
    #[error("a server endpoint needs the server side of its TLS configuration (an identity)")]
    NoServerTls,
    /// The congestion controller asked for is not available.
    #[error(transparent)]
    Controller(#[from] UnsupportedController),
    /// A lane limit is out of range.
    #[error(transparent)]
    Lanes(#[from] LaneConfigError),
    /// An estimator window is out of range.
    #[error(transparent)]
    Estimators(#[from] EstimatorConfigError),
    /// A path MTU discovery setting is out of range.
    #[error(transparent)]
    MtuDiscovery(#[from] MtuDiscoveryConfigError),
    /// The routable connection IDs do not fit the connection-ID length.
    #[error(transparent)]
    RoutableCids(#[from] crate::lb::LbConfigError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        TransportConfig::default()
            .validate()
            .expect("transport defaults");
        EndpointConfig::insecure_fixed(0)
            .validate()
            .expect("endpoint defaults");
        ServerConfig::default().validate().expect("server defaults");
    }

    #[test]
    fn bad_values_are_named() {
        let mut t = TransportConfig {
            max_datagram_size: 1000,
            ..TransportConfig::default()
        };
        assert_eq!(t.validate(), Err(ConfigError::DatagramSize(1000)));
        t.max_datagram_size = 1200;
        t.ack_delay_exponent = 21;
        assert_eq!(t.validate(), Err(ConfigError::AckDelayExponent(21)));
        t.ack_delay_exponent = 3;
        t.max_tracked_packets = 255;
        assert_eq!(t.validate(), Err(ConfigError::TrackedPackets(255)));
        t.max_tracked_packets = MIN_TRACKED_PACKETS;
        assert_eq!(t.validate(), Ok(()));
        for limit in [0, 1, 9, u64::MAX] {
            t.active_connection_id_limit = limit;
            assert_eq!(
                t.validate(),
                Err(ConfigError::ActiveConnectionIdLimit(limit))
            );
        }
        for limit in ACTIVE_CONNECTION_ID_LIMITS {
            t.active_connection_id_limit = limit;
            assert_eq!(t.validate(), Ok(()));
        }
        let e = EndpointConfig {
            cid_len: 2,
            ..EndpointConfig::insecure_fixed(0)
        };
        assert_eq!(e.validate(), Err(ConfigError::CidLength(2)));
        assert!(
            e.validate()
                .expect_err("short")
                .to_string()
                .contains("4 to 20")
        );
        let s = ServerConfig {
            max_handshakes_per_address: 0,
            ..ServerConfig::default()
        };
        assert_eq!(
            s.validate(),
            Err(ConfigError::Zero("max_handshakes_per_address"))
        );
    }

    #[test]
    fn rate_limits_are_checked() {
        let mut t = TransportConfig {
            rate_limit: Some(RateLimit {
                bytes_per_second: 0,
                burst: 64_000,
            }),
            ..TransportConfig::default()
        };
        assert_eq!(
            t.validate(),
            Err(ConfigError::Zero("rate_limit.bytes_per_second"))
        );
        // The burst must hold the largest datagram discovery may reach (1452 by default).
        t.rate_limit = Some(RateLimit {
            bytes_per_second: 1000,
            burst: 1400,
        });
        assert_eq!(
            t.validate(),
            Err(ConfigError::RateLimitBurst {
                burst: 1400,
                datagram: 1452
            })
        );
        t.mtu_discovery = None;
        assert_eq!(t.validate(), Ok(()), "1200-byte datagrams fit");
        t.rate_limit = Some(RateLimit::new(1));
        assert_eq!(t.validate(), Ok(()), "the default burst holds a datagram");
        assert_eq!(RateLimit::new(10_000_000).burst, 100_000);
    }

    #[test]
    fn the_default_seed_must_be_drawn_by_the_driver() {
        let mut config = EndpointConfig::default();
        assert_eq!(config.validate(), Err(ConfigError::UnresolvedSeed));
        config
            .seed
            .resolve(|bytes| {
                bytes.fill(7);
                Ok::<_, ()>(())
            })
            .expect("drawn");
        assert_eq!(config.seed, Seed::Secret([7; 32]));
        // Nor is there a default security: it is chosen, never fallen into.
        assert_eq!(config.validate(), Err(ConfigError::NoSecurity));
        config.security = Some(Security::InsecureIntegrityOnly);
        assert_eq!(config.validate(), Ok(()));
        assert_eq!(format!("{:?}", config.seed), "Secret(..)");
        // A fixed seed is kept as asked.
        let mut fixed = Seed::Fixed(3);
        fixed
            .resolve(|_| Err("must not draw"))
            .expect("nothing to draw");
        assert_eq!(fixed, Seed::Fixed(3));
    }
}
