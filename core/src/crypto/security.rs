//! What protects an endpoint's packets: TLS 1.3 (the default everywhere but the simulator), or
//! the integrity-only tag, which hides nothing and authenticates no one.

use std::fmt;
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::pki_types::ServerName;

use super::identity::{Fingerprint, Identity};
use super::pin::{PinnedClientVerifier, PinnedServerVerifier};

/// The application protocol weir announces in TLS (ALPN; RFC 9001 §8.1 asks for one).
pub const ALPN: &[u8] = b"weir/1";

/// How an endpoint protects its packets ([`EndpointConfig::security`]).
///
/// [`EndpointConfig::security`]: crate::config::EndpointConfig::security
#[derive(Clone)]
pub enum Security {
    /// TLS 1.3 through rustls: AEAD packet protection (AES-GCM or ChaCha20-Poly1305) and header
    /// protection with keys per packet-number space, the peer authenticated by certificate or
    /// pin, key updates, session resumption.
    Tls(TlsConfig),
    /// **No encryption and no authentication**: a CRC-32C tag catches corruption in flight,
    /// nothing more. Anyone on the path can read, forge and rewrite every packet. For the
    /// simulator and tests only; the runtimes refuse it unless the application asks for it by
    /// name.
    InsecureIntegrityOnly,
}

impl fmt::Debug for Security {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tls(tls) => f.debug_tuple("Tls").field(tls).finish(),
            Self::InsecureIntegrityOnly => f.write_str("InsecureIntegrityOnly"),
        }
    }
}

impl PartialEq for Security {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Tls(a), Self::Tls(b)) => a == b,
            (Self::InsecureIntegrityOnly, Self::InsecureIntegrityOnly) => true,
            _ => false,
        }
    }
}

impl Security {
    /// Whether this is TLS.
    pub fn is_tls(&self) -> bool {
        matches!(self, Self::Tls(_))
    }
}

/// The TLS configuration of an endpoint: a client side (to connect), a server side (to
/// accept), or both (a peer-to-peer player does both on one socket).
#[derive(Clone, Default)]
pub struct TlsConfig {
    /// How this end connects: whom it trusts, and its own certificate if the server asks.
    pub client: Option<ClientTls>,
    /// How this end accepts: its identity, and whether it asks clients for theirs.
    pub server: Option<Arc<rustls::ServerConfig>>,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("client", &self.client)
            .field("server", &self.server.is_some())
            .finish()
    }
}

impl PartialEq for TlsConfig {
    fn eq(&self, other: &Self) -> bool {
        self.client == other.client
            && match (&self.server, &other.server) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                (None, None) => true,
                _ => false,
            }
    }
}

/// A TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsConfigError {
    /// rustls refused the configuration (a key that does not match the certificate, an
    /// unsupported key type, a rustls configuration without TLS 1.3 or without a QUIC cipher
    /// suite…).
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    /// The client-certificate verifier could not be built.
    #[error("client certificate verifier: {0}")]
    ClientVerifier(#[from] rustls::server::VerifierBuilderError),
    /// The server name is neither a DNS name nor an IP address.
    #[error("invalid server name {0:?}")]
    ServerName(String),
    /// A configuration given as rustls's own lacks what weir's handshake needs.
    #[error("the rustls configuration {0}")]
    Unsuitable(&'static str),
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl TlsConfig {
    /// A server side with `identity`, asking clients for no certificate.
    pub fn server(identity: &Identity) -> Result<Self, TlsConfigError> {
        Self::server_with(identity, None)
    }

    /// A server side with `identity` that requires a client certificate with one of `pins`.
    pub fn server_requiring_client_pins(
        identity: &Identity,
        pins: Vec<Fingerprint>,
    ) -> Result<Self, TlsConfigError> {
        Self::server_with(identity, Some(Arc::new(PinnedClientVerifier::new(pins))))
    }

    /// A server side with `identity` that requires a client certificate issued by one of
    /// `roots`.
    pub fn server_requiring_client_roots(
        identity: &Identity,
        roots: RootCertStore,
    ) -> Result<Self, TlsConfigError> {
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            provider(),
        )
        .build()?;
        Self::server_with(identity, Some(verifier))
    }

    fn server_with(
        identity: &Identity,
        client_verifier: Option<Arc<dyn rustls::server::danger::ClientCertVerifier>>,
    ) -> Result<Self, TlsConfigError> {
        let builder = rustls::ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])?;
        let builder = match client_verifier {
            Some(verifier) => builder.with_client_cert_verifier(verifier),
            None => builder.with_no_client_auth(),
        };
        let mut config =
            builder.with_single_cert(identity.cert_chain().to_vec(), identity.key().clone_key())?;
        config.alpn_protocols = vec![ALPN.to_vec()];
        // No 0-RTT (see `crate::crypto`): early data could be replayed.
        config.max_early_data_size = 0;
        Ok(Self {
            client: None,
            server: Some(Arc::new(config)),
        })
    }

    /// A server side from a rustls configuration of the application's own (it must allow
    /// TLS 1.3 and set `max_early_data_size` to 0).
    pub fn server_from_rustls(config: Arc<rustls::ServerConfig>) -> Result<Self, TlsConfigError> {
        if config.max_early_data_size != 0 {
            return Err(TlsConfigError::Unsuitable(
                "offers 0-RTT (max_early_data_size must be 0)",
            ));
        }
        Ok(Self {
            client: None,
            server: Some(config),
        })
    }

    /// A client side only.
    pub fn client(client: ClientTls) -> Self {
        Self {
            client: Some(client),
            server: None,
        }
    }

    /// Adds a client side (a peer that both accepts and connects).
    pub fn with_client(mut self, client: ClientTls) -> Self {
        self.client = Some(client);
        self
    }
}

/// The client side of TLS: whom to trust, and the server name to ask for.
#[derive(Clone)]
pub struct ClientTls {
    /// The rustls configuration (TLS 1.3, weir's ALPN).
    pub config: Arc<rustls::ClientConfig>,
    /// The name the server's certificate must be valid for (ignored by pins).
    pub server_name: ServerName<'static>,
}

impl fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientTls")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl PartialEq for ClientTls {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.config, &other.config) && self.server_name == other.server_name
    }
}

impl ClientTls {
    /// Trusts servers whose certificate has one of `pins` (see [`PinnedServerVerifier`]).
    pub fn pinned(pins: Vec<Fingerprint>) -> Result<Self, TlsConfigError> {
        Self::pinned_with_identity(pins, None)
    }

    /// Like [`pinned`](Self::pinned), presenting `identity` if the server asks for a client
    /// certificate.
    pub fn pinned_with_identity(
        pins: Vec<Fingerprint>,
        identity: Option<&Identity>,
    ) -> Result<Self, TlsConfigError> {
        let builder = rustls::ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinnedServerVerifier::new(pins)));
        let config = match identity {
            Some(id) => {
                builder.with_client_auth_cert(id.cert_chain().to_vec(), id.key().clone_key())?
            }
            None => builder.with_no_client_auth(),
        };
        // Pins ignore the name; any valid one will do.
        Ok(Self::finish(
            config,
            ServerName::from(std::net::Ipv4Addr::LOCALHOST),
        ))
    }

    /// Trusts servers whose certificate chains to one of `roots` and is valid for
    /// `server_name`.
    pub fn with_roots(roots: RootCertStore, server_name: &str) -> Result<Self, TlsConfigError> {
        Self::with_roots_and_identity(roots, server_name, None)
    }

    /// Like [`with_roots`](Self::with_roots), presenting `identity` if the server asks.
    pub fn with_roots_and_identity(
        roots: RootCertStore,
        server_name: &str,
        identity: Option<&Identity>,
    ) -> Result<Self, TlsConfigError> {
        let name = ServerName::try_from(server_name.to_owned())
            .map_err(|_| TlsConfigError::ServerName(server_name.to_owned()))?;
        let builder = rustls::ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_root_certificates(roots);
        let config = match identity {
            Some(id) => {
                builder.with_client_auth_cert(id.cert_chain().to_vec(), id.key().clone_key())?
            }
            None => builder.with_no_client_auth(),
        };
        Ok(Self::finish(config, name))
    }

    /// A client side from a rustls configuration of the application's own (it must allow
    /// TLS 1.3; weir's ALPN is added if it names none).
    pub fn from_rustls(
        mut config: rustls::ClientConfig,
        server_name: ServerName<'static>,
    ) -> Result<Self, TlsConfigError> {
        if config.enable_early_data {
            return Err(TlsConfigError::Unsuitable(
                "enables 0-RTT (enable_early_data)",
            ));
        }
        if config.alpn_protocols.is_empty() {
            config.alpn_protocols = vec![ALPN.to_vec()];
        }
        Ok(Self {
            config: Arc::new(config),
            server_name,
        })
    }

    fn finish(mut config: rustls::ClientConfig, server_name: ServerName<'static>) -> Self {
        config.alpn_protocols = vec![ALPN.to_vec()];
        config.enable_early_data = false;
        Self {
            config: Arc::new(config),
            server_name,
        }
    }

    /// The same trust with another server name (for a certificate valid for several names).
    pub fn for_server_name(&self, server_name: &str) -> Result<Self, TlsConfigError> {
        let name = ServerName::try_from(server_name.to_owned())
            .map_err(|_| TlsConfigError::ServerName(server_name.to_owned()))?;
        Ok(Self {
            config: self.config.clone(),
            server_name: name,
        })
    }
}
