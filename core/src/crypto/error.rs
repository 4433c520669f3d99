//! Why a TLS handshake failed, as this end saw it.

use rustls::CertificateError;

use super::identity::Fingerprint;
use super::pin::PinMismatch;

/// A TLS handshake failure detected by this end (the peer learns of it as a CONNECTION_CLOSE
/// with `CRYPTO_ERROR` plus the TLS alert, RFC 9001 §4.8).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The peer's certificate matches none of the pinned fingerprints.
    #[error("the peer's certificate ({presented}) matches none of the pinned fingerprints")]
    PinMismatch {
        /// The fingerprint of the certificate the peer presented.
        presented: Fingerprint,
    },
    /// The peer's certificate has expired.
    #[error("the peer's certificate has expired")]
    CertificateExpired,
    /// The peer's certificate is not valid yet.
    #[error("the peer's certificate is not valid yet")]
    CertificateNotYetValid,
    /// The peer's certificate is not valid for the name it was reached by.
    #[error("the peer's certificate is not valid for the server name")]
    CertificateNameMismatch,
    /// The peer's certificate chains to no trusted authority.
    #[error("the peer's certificate was issued by an unknown authority")]
    UnknownIssuer,
    /// The peer's certificate or handshake signature did not verify.
    #[error("the peer's signature is invalid")]
    BadSignature,
    /// A client certificate was required and none came.
    #[error("the peer sent no certificate")]
    NoCertificate,
    /// The two ends share no application protocol (ALPN).
    #[error("no application protocol in common")]
    NoApplicationProtocol,
    /// Anything else rustls refused.
    #[error("TLS: {0}")]
    Other(rustls::Error),
}

impl Eq for TlsError {}

impl From<rustls::Error> for TlsError {
    fn from(error: rustls::Error) -> Self {
        use rustls::Error as E;
        match &error {
            E::InvalidCertificate(cert) => match cert {
                CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                    Self::CertificateExpired
                }
                CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                    Self::CertificateNotYetValid
                }
                CertificateError::NotValidForName
                | CertificateError::NotValidForNameContext { .. } => Self::CertificateNameMismatch,
                CertificateError::UnknownIssuer => Self::UnknownIssuer,
                CertificateError::BadSignature => Self::BadSignature,
                CertificateError::Other(other) => {
                    match (&*other.0 as &(dyn std::error::Error + 'static)).downcast_ref() {
                        Some(&PinMismatch { presented }) => Self::PinMismatch { presented },
                        None => Self::Other(error),
                    }
                }
                _ => Self::Other(error),
            },
            E::NoCertificatesPresented => Self::NoCertificate,
            E::NoApplicationProtocol => Self::NoApplicationProtocol,
            _ => Self::Other(error),
        }
    }
}
