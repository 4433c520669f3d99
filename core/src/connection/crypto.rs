//! The connection's packet protection: which keys each packet-number space has, and the TLS
//! handshake that produces them (see [`crate::crypto`]). Under
//! [`Security::InsecureIntegrityOnly`](crate::crypto::Security::InsecureIntegrityOnly) the
//! Initial and data spaces share the integrity-only tag and weir's three-message handshake
//! ([`super::handshake`]) carries the transport parameters instead.

use std::sync::Arc;
use std::time::Instant;

use super::key_update::{KeyUpdate, Opened};
use super::{Connection, TransportParameters};
use crate::crypto::keys::SpaceKeys;
use crate::crypto::session::{NewKeys, TlsFailure, TlsSession};
use crate::crypto::{ClientTls, TlsError};
use crate::error::{TransportError, TransportErrorCode};
use crate::recovery::SpaceId;
use crate::streams::Side;
use crate::wire::packet_number::expected_packet_number;
use crate::wire::{Header, OpenedPacket, PartialDecode, open_packet};

/// How a new connection protects its packets, from its endpoint's
/// [`Security`](crate::crypto::Security).
#[derive(Clone)]
pub(crate) enum ConnectionSecurity {
    /// The integrity-only tag and weir's own handshake.
    Integrity,
    /// TLS 1.3, as a client.
    TlsClient(ClientTls),
    /// TLS 1.3, as a server.
    TlsServer(Arc<rustls::ServerConfig>),
}

/// Why a connection could not be created.
#[derive(Debug)]
pub(crate) enum CreateError {
    Controller(crate::congestion::UnsupportedController),
    Tls(TlsError),
}

impl From<crate::congestion::UnsupportedController> for CreateError {
    fn from(e: crate::congestion::UnsupportedController) -> Self {
        Self::Controller(e)
    }
}

impl Connection {
    /// Sets up the keys and, under TLS, the session (a client queues its ClientHello).
    /// `initial_dcid` is the destination ID of the client's first Initials: the Initial keys
    /// derive from it.
    pub(super) fn init_crypto(
        &mut self,
        security: ConnectionSecurity,
        params: &TransportParameters,
        initial_dcid: &[u8],
    ) -> Result<(), CreateError> {
        let params = {
            let mut encoded = Vec::new();
            params.encode(&mut encoded);
            encoded
        };
        let session = match security {
            ConnectionSecurity::Integrity => {
                self.keys[SpaceId::Initial.index()] = Some(SpaceKeys::integrity());
                self.keys[SpaceId::Data.index()] = Some(SpaceKeys::integrity());
                self.tag_len = crate::protect::integrity::TAG_LEN;
                return Ok(());
            }
            ConnectionSecurity::TlsClient(tls) => TlsSession::client(&tls, params),
            ConnectionSecurity::TlsServer(config) => TlsSession::server(config, params),
        };
        let session = session.map_err(|e| CreateError::Tls(TlsError::from(e)))?;
        self.keys[SpaceId::Initial.index()] = Some(SpaceKeys::initial(initial_dcid, self.side));
        self.tag_len = self.keys[SpaceId::Initial.index()]
            .as_ref()
            .map_or(16, SpaceKeys::tag_len);
        self.lanes
            .set_packet_space(Self::packet_space(self.datagram_size, self.tag_len));
        self.tls = Some(Box::new(session));
        self.write_tls();
        Ok(())
    }

    /// Whether the packets are protected by TLS.
    pub(crate) fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Client, after a Retry: the Initial keys follow the new destination ID (RFC 9001 §5.2).
    pub(super) fn rekey_initial(&mut self, dcid: &[u8]) {
        if self.is_tls() {
            self.keys[SpaceId::Initial.index()] = Some(SpaceKeys::initial(dcid, self.side));
        }
    }

    /// Queues what the TLS session has to send, space by space, and installs the keys it
    /// produced.
    pub(super) fn write_tls(&mut self) {
        let Some(tls) = self.tls.as_mut() else {
            return;
        };
        while let Some((space, bytes, keys)) = tls.write() {
            if !bytes.is_empty() {
                self.spaces[space.index()].handshake.write(&bytes);
            }
            match keys {
                Some(NewKeys::Handshake(keys)) => {
                    self.keys[SpaceId::Handshake.index()] = Some(keys);
                }
                Some(NewKeys::OneRtt(keys, secrets)) => {
                    self.keys[SpaceId::Data.index()] = Some(keys);
                    self.key_update = Some(KeyUpdate::new(*secrets));
                }
                None => {}
            }
        }
    }

    /// Reads the TLS handshake bytes that arrived in `space` and acts on what the handshake
    /// achieved: new keys, the peer's transport parameters, completion.
    pub(super) fn advance_tls(
        &mut self,
        now: Instant,
        space: SpaceId,
    ) -> Result<(), TransportError> {
        let Some(tls) = self.tls.as_mut() else {
            return Ok(());
        };
        let stream = &mut self.spaces[space.index()].handshake;
        let data = stream.readable();
        if !data.is_empty() {
            let len = data.len();
            let result = tls.read(data);
            stream.consume(len);
            if let Err(failure) = result {
                return Err(self.tls_failed(failure));
            }
        }
        self.write_tls();
        let Some(tls) = self.tls.as_ref() else {
            return Ok(());
        };
        let handshaking = tls.is_handshaking();
        // The server reads the client's parameters from its hello. The client waits for the
        // end of the handshake: until then rustls may hand back the parameters remembered
        // with a session ticket (for 0-RTT, which weir does not use), not this server's.
        let params_final = self.side == Side::Server || !handshaking;
        if self.peer_params.is_none()
            && params_final
            && let Some(raw) = tls.peer_parameters()
        {
            let params = TransportParameters::decode(raw, self.side.peer())?;
            self.on_peer_parameters(now, params)?;
        }
        if !handshaking && !self.tls_complete {
            self.tls_complete = true;
            self.stats.tls_resumed = self.tls.as_ref().is_some_and(|t| t.is_resumed());
            match self.side {
                Side::Client => self.set_established(now),
                Side::Server => self.on_handshake_complete(now),
            }
        }
        Ok(())
    }

    /// Opens a packet of `space` with its keys (`None`: no keys, or it failed to open). In the
    /// data space under TLS the key phase picks the key, and a packet under the next keys
    /// makes this end follow the peer's key update.
    pub(super) fn open_in(
        &mut self,
        now: Instant,
        space: SpaceId,
        partial: PartialDecode,
        largest: Option<u64>,
    ) -> Option<OpenedPacket> {
        let keys = self.keys[space.index()].as_mut()?;
        let key_update = match (&mut self.key_update, space) {
            (Some(key_update), SpaceId::Data) => key_update,
            _ => {
                return open_packet(
                    partial,
                    Some(&*keys.remote.header),
                    &*keys.remote.packet,
                    largest,
                )
                .ok();
            }
        };
        let packet = partial.finish(Some(&*keys.remote.header)).ok()?;
        let number = packet
            .header
            .number()
            .map_or(0, |pn| pn.expand(expected_packet_number(largest)));
        let phase = matches!(
            packet.header,
            Header::Short {
                key_phase: true,
                ..
            }
        );
        let mut payload = packet.payload;
        let opened = key_update.open(
            &*keys.remote.packet,
            phase,
            number,
            &packet.header_bytes,
            &mut payload,
        );
        let opened = match opened {
            Ok(opened) => opened,
            Err(_) => {
                // RFC 9001 §6.6: past the integrity limit, forgeries could start to succeed.
                if key_update.failed() > keys.remote.packet.integrity_limit() {
                    self.close_with_error(
                        now,
                        TransportError::new(
                            TransportErrorCode::AEAD_LIMIT_REACHED,
                            "too many packets failed authentication",
                        ),
                    );
                }
                return None;
            }
        };
        if opened == Opened::Next {
            key_update.advance(
                &mut keys.local.packet,
                &mut keys.remote.packet,
                Some(number),
            );
            self.stats.key_updates = key_update.updates();
        }
        if payload.is_empty() {
            return None;
        }
        Some(OpenedPacket {
            header: packet.header,
            number,
            header_bytes: packet.header_bytes,
            payload: payload.freeze(),
        })
    }

    /// Starts a key update when the current 1-RTT key is due for one.
    pub(super) fn update_keys_if_due(&mut self) {
        if !self.handshake_confirmed {
            return;
        }
        let (Some(key_update), Some(keys)) = (
            self.key_update.as_mut(),
            self.keys[SpaceId::Data.index()].as_mut(),
        ) else {
            return;
        };
        let limit = keys.local.packet.confidentiality_limit();
        if key_update.due(self.config.key_update_interval, limit) {
            key_update.advance(&mut keys.local.packet, &mut keys.remote.packet, None);
            self.stats.key_updates = key_update.updates();
        }
    }

    /// The key-phase bit of the next short header.
    pub(super) fn key_phase(&self) -> bool {
        self.key_update.as_ref().is_some_and(KeyUpdate::phase)
    }

    /// Seals the packet `builder` holds with the keys of `space`; returns its size.
    pub(super) fn seal(
        &mut self,
        space: SpaceId,
        pn: u64,
        builder: crate::wire::PacketBuilder<'_>,
    ) -> Option<usize> {
        let keys = self.keys[space.index()].as_ref()?;
        let size = builder
            .finish(&*keys.local.packet, &*keys.local.header)
            .ok()?;
        if space == SpaceId::Data
            && let Some(key_update) = self.key_update.as_mut()
        {
            key_update.on_sealed(pn);
        }
        Some(size)
    }

    /// Records a TLS failure and turns it into the `CRYPTO_ERROR` the peer is told.
    pub(super) fn tls_failed(&mut self, failure: TlsFailure) -> TransportError {
        let reason = failure.error.to_string();
        self.tls_failure = Some(failure.error);
        TransportError::new(TransportErrorCode::crypto(failure.alert), reason)
    }

    /// Whether this end may process 1-RTT packets: TLS servers only once the handshake is
    /// complete (RFC 9001 §5.7: before the client's Finished, a 1-RTT packet comes from a
    /// client not yet authenticated).
    pub(super) fn may_read_data_space(&self) -> bool {
        match (&self.tls, self.side) {
            (Some(_), Side::Server) => self.tls_complete,
            (Some(_), Side::Client) => self.keys[SpaceId::Data.index()].is_some(),
            (None, Side::Server) => true,
            // A client cannot read short packets before it has the server's parameters; the
            // server retransmits them.
            (None, Side::Client) => self.peer_params.is_some(),
        }
    }

    /// The peer's negotiated TLS cipher suite and certificate chain, once known.
    pub fn tls_info(&self) -> Option<TlsInfo> {
        let tls = self.tls.as_ref()?;
        Some(TlsInfo {
            cipher_suite: tls.cipher_suite(),
            resumed: tls.is_resumed(),
            peer_certificates: tls
                .peer_certificates()
                .map(<[_]>::to_vec)
                .unwrap_or_default(),
        })
    }
}

/// What the TLS handshake negotiated ([`Connection::tls_info`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsInfo {
    /// The cipher suite protecting the packets (`None` before the server's hello).
    pub cipher_suite: Option<rustls::CipherSuite>,
    /// Whether the handshake resumed an earlier session.
    pub resumed: bool,
    /// The peer's certificate chain (empty before it was verified, or for a resumed session's
    /// client).
    pub peer_certificates: Vec<rustls::pki_types::CertificateDer<'static>>,
}
