//! One connection's TLS 1.3 handshake, through rustls's QUIC interface: handshake bytes in and
//! out per packet-number space, keys as they become available.

use rustls::quic::{Connection as Quic, KeyChange};

use super::error::TlsError;
use super::keys::{QUIC_VERSION, SpaceKeys};
use super::security::ClientTls;
use crate::recovery::SpaceId;

/// New keys the handshake produced.
pub(crate) enum NewKeys {
    /// The Handshake space's keys.
    Handshake(SpaceKeys),
    /// The 1-RTT keys, and the secrets the key updates derive from.
    OneRtt(SpaceKeys, Box<rustls::quic::Secrets>),
}

/// A TLS failure: what this end reports, and the alert the peer is told.
#[derive(Debug)]
pub(crate) struct TlsFailure {
    pub(crate) error: TlsError,
    /// The TLS alert to send (the `CRYPTO_ERROR` code is 0x100 plus it).
    pub(crate) alert: u8,
}

pub(crate) struct TlsSession {
    conn: Quic,
    /// The space the handshake writes its next bytes in.
    write_space: SpaceId,
}

impl std::fmt::Debug for TlsSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSession")
            .field("write_space", &self.write_space)
            .field("handshaking", &self.conn.is_handshaking())
            .finish_non_exhaustive()
    }
}

impl TlsSession {
    /// A client session announcing `params` (encoded transport parameters).
    pub(crate) fn client(tls: &ClientTls, params: Vec<u8>) -> Result<Self, rustls::Error> {
        let conn = rustls::quic::ClientConnection::new(
            tls.config.clone(),
            QUIC_VERSION,
            tls.server_name.clone(),
            params,
        )?;
        Ok(Self {
            conn: Quic::Client(conn),
            write_space: SpaceId::Initial,
        })
    }

    /// A server session announcing `params`.
    pub(crate) fn server(
        config: std::sync::Arc<rustls::ServerConfig>,
        params: Vec<u8>,
    ) -> Result<Self, rustls::Error> {
        let conn = rustls::quic::ServerConnection::new(config, QUIC_VERSION, params)?;
        Ok(Self {
            conn: Quic::Server(conn),
            write_space: SpaceId::Initial,
        })
    }

    /// Feeds handshake bytes received in order (the caller reads each space's stream in turn).
    pub(crate) fn read(&mut self, data: &[u8]) -> Result<(), TlsFailure> {
        self.conn.read_hs(data).map_err(|error| self.failure(error))
    }

    /// The failure for a rustls error, with the alert rustls chose (internal_error if none).
    pub(crate) fn failure(&self, error: rustls::Error) -> TlsFailure {
        let alert = self.conn.alert().map_or(80, u8::from);
        TlsFailure {
            error: TlsError::from(error),
            alert,
        }
    }

    /// The next handshake bytes to send: `(space, bytes, keys that start after them)`. Call
    /// until it returns `None`.
    pub(crate) fn write(&mut self) -> Option<(SpaceId, Vec<u8>, Option<NewKeys>)> {
        let mut bytes = Vec::new();
        let change = self.conn.write_hs(&mut bytes);
        let space = self.write_space;
        let keys = change.map(|change| match change {
            KeyChange::Handshake { keys } => {
                self.write_space = SpaceId::Handshake;
                NewKeys::Handshake(SpaceKeys::from_rustls(keys))
            }
            KeyChange::OneRtt { keys, next } => {
                self.write_space = SpaceId::Data;
                NewKeys::OneRtt(SpaceKeys::from_rustls(keys), Box::new(next))
            }
        });
        if bytes.is_empty() && keys.is_none() {
            return None;
        }
        Some((space, bytes, keys))
    }

    /// The peer's encoded transport parameters, once its hello (client: its encrypted
    /// extensions) arrived.
    pub(crate) fn peer_parameters(&self) -> Option<&[u8]> {
        self.conn.quic_transport_parameters()
    }

    /// Whether the handshake is still under way (the client: until it sent its Finished; the
    /// server: until it read the client's).
    pub(crate) fn is_handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    /// Whether the handshake resumed an earlier session (no certificate exchanged).
    pub(crate) fn is_resumed(&self) -> bool {
        matches!(
            self.conn.handshake_kind(),
            Some(rustls::HandshakeKind::Resumed)
        )
    }

    /// The negotiated cipher suite, once known.
    pub(crate) fn cipher_suite(&self) -> Option<rustls::CipherSuite> {
        self.conn.negotiated_cipher_suite().map(|s| s.suite())
    }

    /// The peer's certificate chain, once verified.
    pub(crate) fn peer_certificates(
        &self,
    ) -> Option<&[rustls::pki_types::CertificateDer<'static>]> {
        self.conn.peer_certificates()
    }
}
