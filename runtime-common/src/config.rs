//! What [`Endpoint::bind`](crate::Endpoint::bind) takes: the core's configurations plus the
//! socket's.

use std::time::Duration;

use weir_core::config::{EndpointConfig, RateLimit, ServerConfig, TransportConfig};
use weir_core::crypto::{ClientTls, Identity, Security, TlsConfig, TlsConfigError};

use crate::error::SocketConfigError;
use crate::quic::QuicConfig;
use crate::tcp::TcpTransport;

/// Everything an endpoint needs: the core's endpoint configuration (its security among it), an
/// optional server role, the transport parameters of the connections it opens, and the
/// socket's tuning.
///
/// Connections are encrypted and authenticated with TLS 1.3: a server needs an [`Identity`]
/// ([`Config::server`]), a client the trust it places in servers ([`Config::client`]: pinned
/// fingerprints or certificate roots), a peer that does both both ([`Config::peer`]).
/// [`bind`](crate::Endpoint::bind) refuses an endpoint without security, and refuses the
/// integrity-only protection (no encryption, no authentication) unless
/// [`allow_insecure`](Self::allow_insecure) asks for it too.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The core endpoint's parameters (seed, connection-ID length, limits, security). With the
    /// default seed, `Seed::FromOs`, [`bind`](crate::Endpoint::bind) draws the endpoint's secret
    /// from the operating system, so that no two endpoints share connection IDs or keys; a
    /// `Seed::Fixed` seed makes a test reproducible and the endpoint predictable.
    pub endpoint: EndpointConfig,
    /// With a server configuration the endpoint accepts connections, under the admission
    /// control `ServerConfig` sets (Retry when busy, a per-address limit, a handshake timeout).
    pub server: Option<ServerConfig>,
    /// Transport parameters of connections opened with [`connect`](crate::Endpoint::connect).
    pub client: TransportConfig,
    /// Socket options.
    pub socket: SocketConfig,
    /// The TCP transport, for networks that drop UDP (see [`crate::tcp`]): by default a
    /// server also listens for TCP on its UDP port number and a client falls back to TCP when
    /// its handshake has not completed within 2 s. `None` is UDP only. Not used on the QUIC
    /// path ([`Config::quic`]).
    pub tcp: Option<TcpTransport>,
    /// Lets [`bind`](crate::Endpoint::bind) accept `Security::InsecureIntegrityOnly`: packets
    /// neither encrypted nor authenticated, readable and forgeable by anyone on the path. For
    /// tests and measurements of the transport alone.
    pub allow_insecure: bool,
    /// Speak standard QUIC through quinn-proto instead of weir (see [`QuicConfig`]): the
    /// endpoint then talks to any QUIC peer, and `endpoint`, `server`, `client` and
    /// `allow_insecure` are not used. Build it with [`Config::quic`].
    pub quic: Option<QuicConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            endpoint: EndpointConfig::default(),
            server: None,
            client: TransportConfig::default(),
            socket: SocketConfig::default(),
            tcp: Some(TcpTransport::default()),
            allow_insecure: false,
            quic: None,
        }
    }
}

impl Config {
    /// An endpoint that speaks standard QUIC (RFC 9000) through quinn-proto, with the same
    /// application API as weir's protocol (streams; unreliable messages as DATAGRAM frames):
    /// e.g. `Config::quic(QuicConfig::client(&trust, &[b"h3"])?)`.
    pub fn quic(quic: QuicConfig) -> Self {
        Self {
            quic: Some(quic),
            ..Self::default()
        }
    }

    /// A client that trusts the servers `trust` names (pins or certificate roots).
    pub fn client(trust: ClientTls) -> Self {
        Self::with_tls(TlsConfig::client(trust))
    }

    /// A server with `identity` (and no client side).
    pub fn server(identity: &Identity) -> Result<Self, TlsConfigError> {
        Ok(Self {
            server: Some(ServerConfig::default()),
            ..Self::with_tls(TlsConfig::server(identity)?)
        })
    }

    /// A peer that accepts with `identity` and connects trusting `trust` (a player of a
    /// peer-to-peer game, one socket for both).
    pub fn peer(identity: &Identity, trust: ClientTls) -> Result<Self, TlsConfigError> {
        Ok(Self {
            server: Some(ServerConfig::default()),
            ..Self::with_tls(TlsConfig::server(identity)?.with_client(trust))
        })
    }

    /// An endpoint with this TLS configuration, a server role if it has a server side.
    pub fn with_tls(tls: TlsConfig) -> Self {
        let server = tls.server.as_ref().map(|_| ServerConfig::default());
        Self {
            endpoint: EndpointConfig {
                security: Some(Security::Tls(tls)),
                ..EndpointConfig::default()
            },
            server,
            ..Self::default()
        }
    }

    /// Caps the sending rate of every connection the endpoint opens or accepts: sets
    /// [`TransportConfig::rate_limit`] in [`client`](Self::client) and in the server's
    /// transport (see [`RateLimit`]; [`bind`](crate::Endpoint::bind) validates it with the
    /// rest). Not applied on the QUIC path
    /// ([`Config::quic`]), whose transport is quinn-proto's. Set the fields yourself to limit only one role.
    pub fn with_rate_limit(mut self, limit: RateLimit) -> Self {
        self.client.rate_limit = Some(limit);
        if let Some(server) = &mut self.server {
            server.transport.rate_limit = Some(limit);
        }
        self
    }

    /// **Insecure**: a client whose packets are neither encrypted nor authenticated (a CRC-32C
    /// catches corruption, nothing more). For tests and transport measurements only.
    pub fn insecure_client() -> Self {
        Self {
            endpoint: EndpointConfig {
                security: Some(Security::InsecureIntegrityOnly),
                ..EndpointConfig::default()
            },
            allow_insecure: true,
            ..Self::default()
        }
    }

    /// **Insecure**: a server (and client) whose packets are neither encrypted nor
    /// authenticated. For tests and transport measurements only.
    pub fn insecure_server() -> Self {
        Self {
            server: Some(ServerConfig::default()),
            ..Self::insecure_client()
        }
    }
}

/// Tuning of the endpoint's UDP socket (DESIGN.md §7: buffers from the BDP, not 10 MB).
///
/// Both kernel buffers are sized to twice the bandwidth-delay product of the path the endpoint
/// expects (`expected_rate` × `expected_rtt`), clamped to `[min_buffer, max_buffer]`, unless
/// given explicitly. The defaults (100 Mbit/s, 50 ms, 256 KiB to 8 MiB) give 1.25 MB. Linux
/// doubles what it is asked for and caps the request at `net.core.{r,w}mem_max`; the sizes the
/// kernel granted are in [`SocketInfo`](crate::SocketInfo), and a capped request is logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketConfig {
    /// Rate of the path the endpoint expects, in bits per second.
    pub expected_rate_bps: u64,
    /// Round-trip time of the path the endpoint expects.
    pub expected_rtt: Duration,
    /// Smallest buffer the BDP rule may pick.
    pub min_buffer: usize,
    /// Largest buffer the BDP rule may pick.
    pub max_buffer: usize,
    /// Send buffer size, overriding the BDP rule.
    pub send_buffer: Option<usize>,
    /// Receive buffer size, overriding the BDP rule.
    pub recv_buffer: Option<usize>,
    /// For an IPv6 address: accept IPv6 only (`Some(true)`), or IPv4 too (`Some(false)`,
    /// dual-stack). `None` is dual-stack for the unspecified address `[::]` and the system's
    /// default otherwise. Setting it for an IPv4 address is an error.
    pub only_v6: Option<bool>,
    /// Set `SO_REUSEPORT`, so that several sockets can share the port (see
    /// [`Endpoint::bind_shards`](crate::Endpoint::bind_shards)).
    pub reuse_port: bool,
    /// Batch consecutive datagrams to one destination into one send with generic segmentation
    /// offload where the kernel has it (`UDP_SEGMENT`). Receive offload (`UDP_GRO`) is used
    /// whenever the kernel has it.
    pub gso: bool,
}

impl Default for SocketConfig {
    fn default() -> Self {
        Self {
            expected_rate_bps: 100_000_000,
            expected_rtt: Duration::from_millis(50),
            min_buffer: 256 * 1024,
            max_buffer: 8 * 1024 * 1024,
            send_buffer: None,
            recv_buffer: None,
            only_v6: None,
            reuse_port: false,
            gso: true,
        }
    }
}

/// Bytes a path of `rate_bps` holds in `rtt`.
pub fn bdp_bytes(rate_bps: u64, rtt: Duration) -> usize {
    let bytes = u128::from(rate_bps) * rtt.as_nanos() / 8 / 1_000_000_000;
    usize::try_from(bytes).unwrap_or(usize::MAX)
}

impl SocketConfig {
    /// Checks every value.
    pub fn validate(&self) -> Result<(), SocketConfigError> {
        if self.expected_rate_bps == 0 {
            return Err(SocketConfigError::Zero("expected_rate_bps"));
        }
        if self.expected_rtt.is_zero() {
            return Err(SocketConfigError::Zero("expected_rtt"));
        }
        if self.min_buffer == 0 || self.max_buffer == 0 {
            return Err(SocketConfigError::Zero("min_buffer/max_buffer"));
        }
        if self.min_buffer > self.max_buffer {
            return Err(SocketConfigError::BufferBounds {
                min: self.min_buffer,
                max: self.max_buffer,
            });
        }
        if self.send_buffer == Some(0) {
            return Err(SocketConfigError::Zero("send_buffer"));
        }
        if self.recv_buffer == Some(0) {
            return Err(SocketConfigError::Zero("recv_buffer"));
        }
        Ok(())
    }

    /// The buffer size the BDP rule picks: 2 × BDP within `[min_buffer, max_buffer]`.
    pub fn bdp_buffer(&self) -> usize {
        bdp_bytes(self.expected_rate_bps, self.expected_rtt)
            .saturating_mul(2)
            .clamp(self.min_buffer, self.max_buffer.max(self.min_buffer))
    }

    /// The send buffer asked of the kernel.
    pub fn send_buffer_size(&self) -> usize {
        self.send_buffer.unwrap_or_else(|| self.bdp_buffer())
    }

    /// The receive buffer asked of the kernel.
    pub fn recv_buffer_size(&self) -> usize {
        self.recv_buffer.unwrap_or_else(|| self.bdp_buffer())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_buffers_are_two_bdp() {
        let c = SocketConfig::default();
        assert_eq!(bdp_bytes(100_000_000, Duration::from_millis(50)), 625_000);
        assert_eq!(c.bdp_buffer(), 1_250_000);
    }

    #[test]
    fn buffers_are_clamped() {
        let tiny = SocketConfig {
            expected_rate_bps: 1_000,
            ..SocketConfig::default()
        };
        assert_eq!(tiny.bdp_buffer(), tiny.min_buffer);
        let huge = SocketConfig {
            expected_rate_bps: 100_000_000_000,
            expected_rtt: Duration::from_secs(1),
            ..SocketConfig::default()
        };
        assert_eq!(huge.bdp_buffer(), huge.max_buffer);
    }

    #[test]
    fn zero_and_inverted_values_are_rejected() {
        let zero = SocketConfig {
            recv_buffer: Some(0),
            ..SocketConfig::default()
        };
        assert_eq!(zero.validate(), Err(SocketConfigError::Zero("recv_buffer")));
        let inverted = SocketConfig {
            min_buffer: 2,
            max_buffer: 1,
            ..SocketConfig::default()
        };
        assert!(matches!(
            inverted.validate(),
            Err(SocketConfigError::BufferBounds { .. })
        ));
    }
}
