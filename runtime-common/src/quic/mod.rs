//! The QUIC path: standard QUIC v1 (RFC 9000) through [quinn-proto](quinn_proto), behind the
//! same application API as weir's own protocol.
//!
//! An endpoint bound with [`Config::quic`](crate::Config::quic) speaks QUIC instead of weir on
//! its socket, so it can talk to any QUIC peer (quinn, quiche, msquic, …) that shares an
//! application protocol (ALPN) with it. The driver task is the same one that runs weir's core —
//! receive, feed, fire timers, drain transmits, dispatch events, re-arm — with quinn-proto's
//! sans-IO endpoint and connections in the core's place (`engine.rs`), and the application sees
//! the same [`Connection`](crate::Connection), [`SendStream`](crate::SendStream) and
//! [`RecvStream`](crate::RecvStream):
//!
//! - streams are QUIC streams (priorities map to quinn-proto's stream priorities);
//! - unreliable messages are QUIC DATAGRAM frames (RFC 9221); a full send queue drops the oldest
//!   one, as weir's does. QUIC has no message channels or time-to-live: channel 0 without a
//!   deadline is the only kind accepted;
//! - [`Lane`](crate::Lane)s (delivery modes, FEC, compression) are weir's own and refuse to open
//!   on a QUIC connection ([`LaneSendError::NotOnQuic`](crate::LaneSendError::NotOnQuic));
//! - [`stats`](crate::Connection::stats) fills the counters QUIC has (packets, bytes, losses,
//!   RTT, congestion window, MTU, the controller); weir's path estimates stay at zero and the
//!   strategy names QUIC;
//! - the congestion controller is weir's default (BBR) inside quinn-proto, through
//!   `weir-quinn-cc`; [`QuicConfig::with_transport`] picks another.
//!
//! Security is TLS 1.3 as for weir: the same [`Identity`] and [`ClientTls`] (pins or roots)
//! build quinn-proto's rustls configurations, with the application protocols given here in
//! place of weir's `weir/1`.

mod conn;
mod engine;

use std::fmt;
use std::sync::Arc;

use quinn_proto::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use weir_core::congestion::ControllerKind;
use weir_core::crypto::{ClientTls, Identity, TlsConfig, TlsConfigError, rustls};

pub(crate) use conn::QuicConn;
pub(crate) use engine::QuicEndpoint;

/// Why a QUIC configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum QuicConfigError {
    /// QUIC requires an application protocol (RFC 9001 §8.1): name at least one.
    #[error("QUIC needs at least one application protocol (ALPN)")]
    NoAlpn,
    /// The identity or trust did not make a TLS configuration.
    #[error(transparent)]
    Tls(#[from] TlsConfigError),
    /// The TLS configuration lacks the cipher suite QUIC's Initial packets use
    /// (TLS_AES_128_GCM_SHA256) or TLS 1.3.
    #[error("the TLS configuration cannot protect QUIC packets: {0}")]
    Unsuitable(#[from] quinn_proto::crypto::rustls::NoInitialCipherSuite),
}

/// What a QUIC endpoint needs: quinn-proto's endpoint, server and client configurations.
///
/// Build it from weir's TLS types ([`client`](Self::client), [`server`](Self::server),
/// [`peer`](Self::peer)) or fill the fields with quinn-proto configurations of your own.
#[derive(Clone)]
pub struct QuicConfig {
    /// quinn-proto's endpoint parameters (stateless-reset key, connection-ID generator, versions).
    pub endpoint: Arc<quinn_proto::EndpointConfig>,
    /// With a server configuration the endpoint accepts QUIC connections.
    pub server: Option<Arc<quinn_proto::ServerConfig>>,
    /// How [`connect`](crate::Endpoint::connect) connects; `None` refuses to.
    pub client: Option<quinn_proto::ClientConfig>,
    /// The server name [`connect`](crate::Endpoint::connect) asks for (SNI; checked against the
    /// certificate unless pins decide).
    pub server_name: String,
    /// The application protocols offered, most preferred first (used again by
    /// [`connect_tls`](crate::Endpoint::connect_tls)).
    pub alpn: Vec<Vec<u8>>,
    /// The transport parameters of the connections this endpoint opens and accepts.
    pub transport: Arc<quinn_proto::TransportConfig>,
}

impl fmt::Debug for QuicConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QuicConfig")
            .field("server", &self.server.is_some())
            .field("client", &self.client.is_some())
            .field("server_name", &self.server_name)
            .field(
                "alpn",
                &self
                    .alpn
                    .iter()
                    .map(|p| String::from_utf8_lossy(p).into_owned())
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl PartialEq for QuicConfig {
    /// Configurations are equal when they share the same quinn-proto objects.
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.endpoint, &other.endpoint)
            && match (&self.server, &other.server) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                (None, None) => true,
                _ => false,
            }
            && self.client.is_some() == other.client.is_some()
            && self.server_name == other.server_name
            && self.alpn == other.alpn
            && Arc::ptr_eq(&self.transport, &other.transport)
    }
}

impl QuicConfig {
    /// A QUIC client that trusts servers as `trust` says (pins or certificate roots, the same
    /// [`ClientTls`] weir uses) and offers the application protocols `alpn`.
    pub fn client(trust: &ClientTls, alpn: &[&[u8]]) -> Result<Self, QuicConfigError> {
        Self::with_tls(&TlsConfig::client(trust.clone()), alpn)
    }

    /// A QUIC server with `identity`, accepting clients that offer one of `alpn`.
    pub fn server(identity: &Identity, alpn: &[&[u8]]) -> Result<Self, QuicConfigError> {
        Self::with_tls(&TlsConfig::server(identity)?, alpn)
    }

    /// Both: accepts with `identity`, connects trusting `trust`.
    pub fn peer(
        identity: &Identity,
        trust: &ClientTls,
        alpn: &[&[u8]],
    ) -> Result<Self, QuicConfigError> {
        Self::with_tls(
            &TlsConfig::server(identity)?.with_client(trust.clone()),
            alpn,
        )
    }

    /// The sides `tls` has, as weir would use them — so every authentication mode of weir's
    /// (client certificates required by pins or roots, a rustls configuration of the
    /// application's own) serves the QUIC path too — offering or accepting `alpn` in place of
    /// weir's protocol.
    pub fn with_tls(tls: &TlsConfig, alpn: &[&[u8]]) -> Result<Self, QuicConfigError> {
        let alpn = alpn_list(alpn)?;
        let transport = default_transport();
        let server = match &tls.server {
            Some(server) => Some(server_config(server, &alpn, &transport)?),
            None => None,
        };
        let (client, server_name) = match &tls.client {
            Some(trust) => (
                Some(client_config(trust, &alpn, &transport)?),
                server_name(trust),
            ),
            None => (None, String::new()),
        };
        Ok(Self {
            endpoint: Arc::new(quinn_proto::EndpointConfig::default()),
            server,
            client,
            server_name,
            alpn,
            transport,
        })
    }

    /// The same configuration with other transport parameters for its client and server
    /// sides (idle timeout, windows, congestion controller — e.g. one of
    /// `weir-quinn-cc`'s).
    pub fn with_transport(mut self, transport: quinn_proto::TransportConfig) -> Self {
        let transport = Arc::new(transport);
        if let Some(client) = &mut self.client {
            client.transport_config(transport.clone());
        }
        if let Some(server) = &mut self.server {
            Arc::make_mut(server).transport_config(transport.clone());
        }
        self.transport = transport;
        self
    }

    /// The transport parameters a QUIC endpoint gets unless told otherwise: quinn-proto's
    /// defaults, which keep DATAGRAM frames enabled (RFC 9221), with weir's default controller
    /// (BBR, which keeps the bottleneck queue short for game traffic) in place of quinn-proto's
    /// CUBIC. Start from these to change a few.
    pub fn transport_defaults() -> quinn_proto::TransportConfig {
        let mut transport = quinn_proto::TransportConfig::default();
        transport.congestion_controller_factory(Arc::new(
            weir_quinn_cc::WeirControllerFactory::new(ControllerKind::default()),
        ));
        transport
    }

    /// A client configuration for one connection trusting `trust` (see
    /// [`Endpoint::connect_tls`](crate::Endpoint::connect_tls)).
    pub(crate) fn client_for(
        &self,
        trust: &ClientTls,
    ) -> Result<(quinn_proto::ClientConfig, String), QuicConfigError> {
        Ok((
            client_config(trust, &self.alpn, &self.transport)?,
            server_name(trust),
        ))
    }
}

fn alpn_list(alpn: &[&[u8]]) -> Result<Vec<Vec<u8>>, QuicConfigError> {
    if alpn.is_empty() || alpn.iter().any(|p| p.is_empty() || p.len() > 255) {
        return Err(QuicConfigError::NoAlpn);
    }
    Ok(alpn.iter().map(|p| p.to_vec()).collect())
}

fn default_transport() -> Arc<quinn_proto::TransportConfig> {
    Arc::new(QuicConfig::transport_defaults())
}

fn server_name(trust: &ClientTls) -> String {
    trust.server_name.to_str().into_owned()
}

fn client_config(
    trust: &ClientTls,
    alpn: &[Vec<u8>],
    transport: &Arc<quinn_proto::TransportConfig>,
) -> Result<quinn_proto::ClientConfig, QuicConfigError> {
    let mut tls = (*trust.config).clone();
    tls.alpn_protocols = alpn.to_vec();
    let mut config = quinn_proto::ClientConfig::new(Arc::new(QuicClientConfig::try_from(tls)?));
    config.transport_config(transport.clone());
    Ok(config)
}

fn server_config(
    rustls: &Arc<rustls::ServerConfig>,
    alpn: &[Vec<u8>],
    transport: &Arc<quinn_proto::TransportConfig>,
) -> Result<Arc<quinn_proto::ServerConfig>, QuicConfigError> {
    let mut tls = (**rustls).clone();
    tls.alpn_protocols = alpn.to_vec();
    let mut config =
        quinn_proto::ServerConfig::with_crypto(Arc::new(QuicServerConfig::try_from(tls)?));
    config.transport_config(transport.clone());
    Ok(Arc::new(config))
}
