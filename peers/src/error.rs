//! What can go wrong when a peer baseline is set up or run.

use quinn_proto::crypto::rustls::NoInitialCipherSuite;

/// Why a peer baseline could not be set up or run.
///
/// Every variant is a setup or driver failure; a transfer that makes little progress is a result
/// (see [`BulkReport`](crate::BulkReport)), not an error.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// The self-signed certificate could not be made.
    #[error("cannot make the self-signed certificate: {0}")]
    Certificate(#[from] rcgen::Error),
    /// rustls refused the TLS configuration (protocol versions, certificate or key).
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    /// rustls could not build the client's certificate verifier.
    #[error("TLS certificate verifier: {0}")]
    Verifier(#[from] rustls::client::VerifierBuilderError),
    /// The TLS configuration lacks the cipher suite QUIC's Initial packets need.
    #[error("TLS configuration unusable for QUIC: {0}")]
    NoInitialCipherSuite(#[from] NoInitialCipherSuite),
    /// A transport parameter out of quinn's range (an idle timeout above 2^62 ms).
    #[error("quinn transport parameter out of range: {0}")]
    TransportParameter(#[from] quinn_proto::VarIntBoundsExceeded),
    /// quinn refused to start the connection.
    #[error("quinn cannot connect: {0}")]
    Connect(#[from] quinn_proto::ConnectError),
    /// weir refused its configuration (for the weir side of a comparison).
    #[error("weir configuration: {0}")]
    WeirConfig(#[from] weir_core::config::ConfigError),
    /// weir refused to start the connection.
    #[error("weir cannot connect: {0}")]
    WeirConnect(#[from] weir_core::endpoint::ConnectError),
    /// The simulator was misused or stalled.
    #[error("simulator: {0}")]
    Sim(#[from] weir_core::sim::SimError),
    /// A run could not find a node or link it installed (a bug of the run, not of a stack).
    #[error("simulation harness: no {0}")]
    Harness(&'static str),
}

impl From<weir_core::sim::runs::RunError> for PeerError {
    fn from(error: weir_core::sim::runs::RunError) -> Self {
        use weir_core::sim::runs::RunError;
        match error {
            RunError::Sim(e) => Self::Sim(e),
            RunError::Config(e) => Self::WeirConfig(e),
            RunError::Connect(e) => Self::WeirConnect(e),
        }
    }
}
