//! Why a connection ended.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;

use crate::error::{TransportError, TransportErrorCode};
use crate::wire::FrameType;

/// A close reason phrase: bytes from the peer, shown as (lossy) UTF-8.
#[derive(Clone, PartialEq, Eq)]
pub struct Reason(pub Bytes);

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.0))
    }
}

impl fmt::Debug for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(&self.0))
    }
}

/// Why a connection is closed (reported once, in [`Event::Closed`](super::Event::Closed)).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectionError {
    /// The peer's application closed the connection.
    #[error("the peer closed the connection with application code {code}: {reason}")]
    ApplicationClosed {
        /// The application's error code.
        code: u64,
        /// The peer's reason phrase.
        reason: Reason,
    },
    /// The peer closed the connection because of a transport error (possibly ours).
    #[error("the peer closed the connection with {code}{}: {reason}", frame.map(|f| format!(" in {f}")).unwrap_or_default())]
    PeerTransportError {
        /// The transport error code.
        code: TransportErrorCode,
        /// The frame type the peer blamed, if any.
        frame: Option<FrameType>,
        /// The peer's reason phrase.
        reason: Reason,
    },
    /// This end detected a protocol violation by the peer and closed the connection.
    #[error("protocol violation by the peer: {0}")]
    TransportError(#[from] TransportError),
    /// The application closed the connection.
    #[error("the connection was closed locally")]
    LocallyClosed,
    /// Nothing was heard from the peer for the idle timeout.
    #[error("idle timeout: nothing heard from the peer for {0:?}")]
    TimedOut(Duration),
    /// The peer answered with a stateless reset (RFC 9000 §10.3): it has no state for this
    /// connection any more (it restarted, or dropped the connection).
    #[error("the peer reset the connection: it no longer knows it")]
    Reset,
    /// Server: the client did not complete its handshake in time; the half-open connection
    /// was dropped without a word.
    #[error("the handshake did not complete within {0:?}")]
    HandshakeTimedOut(Duration),
    /// The TLS handshake failed on this end (a certificate or pin that does not match, an
    /// expired certificate…); the peer was told with `CRYPTO_ERROR` and the TLS alert.
    #[error("TLS handshake failed: {0}")]
    Tls(crate::crypto::TlsError),
    /// The server speaks none of this client's protocol versions.
    #[error("the server supports none of our protocol versions")]
    VersionMismatch,
}
