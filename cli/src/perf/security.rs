//! How `weir perf` (and `weir identity`) protect the measurement: TLS 1.3 by default, the
//! server with an identity from `--cert`/`--key` or a fresh self-signed one whose pin it
//! prints, the client trusting `--pin` fingerprints or a `--ca` certificate; `--insecure` on
//! both ends measures the transport without encryption.

use std::path::{Path, PathBuf};

use clap::Args;
use weir_core::crypto::rustls::RootCertStore;
use weir_core::crypto::rustls::pki_types::CertificateDer;
use weir_core::crypto::rustls::pki_types::pem::PemObject;
use weir_core::crypto::{
    ClientTls, Fingerprint, Identity, IdentityError, TlsConfig, TlsConfigError,
};
use weir_tokio::quinn_proto::TransportConfig as QuicTransport;
use weir_tokio::{Config, QuicConfig, QuicConfigError};

/// TLS options of `weir perf server`.
#[derive(Debug, Args)]
pub struct ServerSecurityArgs {
    /// The server's certificate chain (PEM). Without it the server makes a self-signed
    /// identity at start and prints its pin for clients' `--pin`.
    #[arg(long, value_name = "FILE", requires = "key")]
    pub cert: Option<PathBuf>,
    /// The private key of `--cert` (PEM).
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,
    /// Require client certificates with one of these fingerprints (repeatable).
    #[arg(long = "client-pin", value_name = "SHA256")]
    pub client_pins: Vec<Fingerprint>,
    /// No encryption and no authentication (the integrity-only tag): to measure the
    /// transport alone. The client must say `--insecure` too.
    #[arg(long, conflicts_with_all = ["cert", "client_pins"])]
    pub insecure: bool,
}

/// TLS options of `weir perf client`.
#[derive(Debug, Args)]
pub struct ClientSecurityArgs {
    /// Trust a server whose certificate has this SHA-256 fingerprint (what `weir perf
    /// server` prints as its pin; repeatable).
    #[arg(long = "pin", value_name = "SHA256")]
    pub pins: Vec<Fingerprint>,
    /// Trust servers whose certificate chains to this authority (PEM).
    #[arg(long, value_name = "FILE", conflicts_with = "pins")]
    pub ca: Option<PathBuf>,
    /// With `--ca`: the name the server's certificate must be valid for.
    #[arg(
        long,
        value_name = "NAME",
        default_value = "localhost",
        requires = "ca"
    )]
    pub server_name: String,
    /// A client certificate (PEM), for servers that require one.
    #[arg(long = "client-cert", value_name = "FILE", requires = "client_key")]
    pub client_cert: Option<PathBuf>,
    /// The private key of `--client-cert` (PEM).
    #[arg(long = "client-key", value_name = "FILE", requires = "client_cert")]
    pub client_key: Option<PathBuf>,
    /// No encryption and no authentication: for a server run with `--insecure`.
    #[arg(long, conflicts_with_all = ["pins", "ca"])]
    pub insecure: bool,
}

/// Why the TLS setup failed.
#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error(transparent)]
    Tls(#[from] TlsConfigError),
    #[error("{path}: {source}")]
    CaPem {
        path: PathBuf,
        source: weir_core::crypto::rustls::pki_types::pem::Error,
    },
    #[error("{path}: {source}")]
    CaCert {
        path: PathBuf,
        source: weir_core::crypto::rustls::Error,
    },
    #[error(
        "the client must trust the server: --pin SHA256 (printed by `weir perf server`), \
         --ca FILE, or --insecure against an --insecure server"
    )]
    NoTrust,
    #[error("QUIC has no insecure mode: drop --insecure or --quic")]
    InsecureQuic,
    #[error(transparent)]
    Quic(#[from] QuicConfigError),
}

fn read(path: &Path) -> Result<Vec<u8>, SecurityError> {
    std::fs::read(path).map_err(|source| SecurityError::Read {
        path: path.to_owned(),
        source,
    })
}

fn identity_from(cert: &Path, key: &Path) -> Result<Identity, SecurityError> {
    Ok(Identity::from_pem(&read(cert)?, &read(key)?)?)
}

impl ServerSecurityArgs {
    /// The server's endpoint configuration (a server role to fill in), and the pin of a
    /// self-signed identity it made.
    /// With `quic` (`--quic`: an application protocol and transport parameters) the endpoint
    /// speaks QUIC.
    pub fn config(
        &self,
        quic: Option<(&[u8], QuicTransport)>,
    ) -> Result<(Config, Option<Fingerprint>), SecurityError> {
        if self.insecure {
            if quic.is_some() {
                return Err(SecurityError::InsecureQuic);
            }
            return Ok((Config::insecure_server(), None));
        }
        let (identity, made) = match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => (identity_from(cert, key)?, false),
            _ => (Identity::self_signed(["localhost"])?, true),
        };
        let pin = made.then(|| identity.fingerprint());
        let tls = if self.client_pins.is_empty() {
            TlsConfig::server(&identity)?
        } else {
            TlsConfig::server_requiring_client_pins(&identity, self.client_pins.clone())?
        };
        if let Some((alpn, transport)) = quic {
            let config = QuicConfig::with_tls(&tls, &[alpn])?.with_transport(transport);
            return Ok((Config::quic(config), pin));
        }
        Ok((Config::with_tls(tls), pin))
    }
}

impl ClientSecurityArgs {
    /// The client's endpoint configuration; with `quic` (`--quic`) it speaks QUIC.
    pub fn config(&self, quic: Option<(&[u8], QuicTransport)>) -> Result<Config, SecurityError> {
        if self.insecure {
            if quic.is_some() {
                return Err(SecurityError::InsecureQuic);
            }
            return Ok(Config::insecure_client());
        }
        let identity = match (&self.client_cert, &self.client_key) {
            (Some(cert), Some(key)) => Some(identity_from(cert, key)?),
            _ => None,
        };
        let trust = if let Some(ca) = &self.ca {
            let pem = read(ca)?;
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|source| SecurityError::CaPem {
                    path: ca.clone(),
                    source,
                })?;
                roots.add(cert).map_err(|source| SecurityError::CaCert {
                    path: ca.clone(),
                    source,
                })?;
            }
            ClientTls::with_roots_and_identity(roots, &self.server_name, identity.as_ref())?
        } else if !self.pins.is_empty() {
            ClientTls::pinned_with_identity(self.pins.clone(), identity.as_ref())?
        } else {
            return Err(SecurityError::NoTrust);
        };
        if let Some((alpn, transport)) = quic {
            return Ok(Config::quic(
                QuicConfig::client(&trust, &[alpn])?.with_transport(transport),
            ));
        }
        Ok(Config::client(trust))
    }
}
