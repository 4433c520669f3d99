//! A new client's first Initial (server role): the admission decision — refuse, drop, ask for
//! proof of address with a Retry, or keep state — and the new connection.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::admission::Source;
use super::token::TokenError;
use super::{Endpoint, MIN_INITIAL_DCID_LEN};
use crate::config::{RetryPolicy, ServerConfig, TransportConfig};
use crate::connection::{Accepted, Connection, ConnectionIds, ConnectionSecurity};
use crate::crypto::keys::SpaceKeys;
use crate::crypto::{Security, TlsConfig};
use crate::protect::{Crc32cKey, IdentityHeaderKey};
use crate::recovery::SpaceId;
use crate::streams::Side;
use crate::wire::{ConnectionId, Frame, Header, OpenedPacket, PartialDecode, VarInt, open_packet};

/// Smallest datagram that may carry a client's first Initial (RFC 9000 §14.1).
pub(super) const MIN_INITIAL_DATAGRAM: usize = 1200;

/// Whether the packet carries the start of the client's handshake message (a HANDSHAKE frame at
/// offset 0), as every first Initial of a new client does.
fn starts_handshake(packet: &OpenedPacket) -> bool {
    packet
        .frames()
        .map_while(Result::ok)
        .any(|f| matches!(f, Frame::Handshake(h) if h.offset == VarInt::ZERO && !h.data.is_empty()))
}

/// What a server endpoint keeps of its [`ServerConfig`].
#[derive(Debug, Clone)]
pub(super) struct ServerRole {
    pub(super) transport: Arc<TransportConfig>,
    retry: RetryPolicy,
    max_per_address: usize,
    handshake_timeout: Duration,
}

impl ServerRole {
    pub(super) fn new(config: ServerConfig) -> Self {
        Self {
            transport: Arc::new(config.transport),
            retry: config.retry,
            max_per_address: config.max_handshakes_per_address,
            handshake_timeout: config.handshake_timeout,
        }
    }
}

/// How a new connection starts, once its Initial is admitted.
struct Admitted {
    original_dcid: ConnectionId,
    retry_scid: Option<ConnectionId>,
    validated: bool,
}

impl Endpoint {
    /// How accepted connections protect their packets.
    pub(super) fn security(&self) -> ConnectionSecurity {
        match &self.config.security {
            Some(Security::Tls(TlsConfig {
                server: Some(server),
                ..
            })) => ConnectionSecurity::TlsServer(server.clone()),
            _ => ConnectionSecurity::Integrity,
        }
    }

    /// A new client's first Initial (server role). Returns the new connection's index.
    pub(super) fn accept(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        ecn: Option<crate::EcnCodepoint>,
        partial: PartialDecode,
        len: usize,
    ) -> Option<usize> {
        let Some(server) = self.server.clone() else {
            self.stats.dropped_initials += 1;
            return None;
        };
        let dcid = *partial.dcid();
        let scid = partial.scid().copied().unwrap_or(ConnectionId::EMPTY);
        // RFC 9000 §14.1: a client's Initial datagram is at least 1200 bytes, which bounds what
        // a spoofed source can make the server send.
        if len < MIN_INITIAL_DATAGRAM || dcid.len() < MIN_INITIAL_DCID_LEN.min(self.config.cid_len)
        {
            self.stats.dropped_initials += 1;
            return None;
        }
        // Check the packet's integrity before anything else: a datagram corrupted in flight must
        // leave no state behind (DESIGN.md §3).
        let opened = match self.security() {
            ConnectionSecurity::Integrity => {
                open_packet(partial, Some(&IdentityHeaderKey), &Crc32cKey, None)
            }
            _ => {
                let keys = SpaceKeys::initial(&dcid, Side::Server);
                open_packet(
                    partial,
                    Some(&*keys.remote.header),
                    &*keys.remote.packet,
                    None,
                )
            }
        };
        let Ok(packet) = opened else {
            self.stats.dropped_initials += 1;
            return None;
        };
        // Only an Initial that starts a handshake (the first bytes of the client's handshake
        // message) opens a connection: state for any other would wait for a handshake that
        // cannot complete. (A client still talking to a handshake this server abandoned is
        // answered with a stateless reset before it gets here: see `Abandoned`.)
        if !starts_handshake(&packet) {
            self.stats.dropped_initials += 1;
            return None;
        }
        let token = match &packet.header {
            Header::Initial { token, .. } => token.clone(),
            _ => Bytes::new(),
        };
        if !self.accepting || self.connections.len() >= self.config.max_connections {
            self.stats.connections_refused += 1;
            self.refuse(remote, &dcid, &scid);
            return None;
        }
        // One host cannot hold more than its share of half-open connections, however many ports
        // it sends from, and whether or not it answers Retries. Dropped without an answer: a
        // real client sends its Initial again a probe timeout later.
        let source = Source::of(remote);
        if self.admission.in_progress_from(source) >= server.max_per_address {
            self.stats.initials_over_address_limit += 1;
            return None;
        }
        let admitted = self.admit(now, remote, &dcid, &scid, &token, server.retry)?;
        // Every connection gets a connection ID of its own, even after a Retry whose source ID
        // the client already uses: a stale Initial replaying the token of a connection that
        // ended must open a connection the client can tell from the old one (RFC 9000 §7.2: it
        // discards packets from another source ID), not one that impersonates it. (An Initial
        // for a connection that still exists never gets here: it routes to it.)
        let local = self.new_cid();
        let ids = ConnectionIds {
            local,
            remote: scid,
            original_dcid: admitted.original_dcid,
            retry_scid: admitted.retry_scid,
            path_key: self.reset_key.path_key(&local),
        };
        let accepted = Accepted {
            address_validated: admitted.validated,
            handshake_timeout: server.handshake_timeout,
            reset_token: self.reset_key.token(&local),
            initial_dcid: dcid,
        };
        let security = self.security();
        let Ok(conn) = Connection::server(now, server.transport, remote, ids, accepted, security)
        else {
            self.stats.dropped_initials += 1;
            return None;
        };
        let index = self.insert(conn, local);
        // The client addresses its Initials to `dcid` until it hears from us.
        self.by_initial.insert((remote, dcid), index);
        self.admission.begin(source);
        self.stats.connections_accepted += 1;
        if let Some(slot) = self.connections.get_mut(index) {
            slot.half_open = Some(source);
            slot.conn.on_datagram_received(remote, len);
            slot.conn.handle_opened(now, SpaceId::Initial, packet, ecn);
        }
        self.after_input(index);
        Some(index)
    }

    /// Whether the Initial may open a connection, and with what identities: a valid Retry token
    /// validates the address; without one, a busy server (per its [`RetryPolicy`]) answers
    /// with a Retry and keeps nothing.
    fn admit(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        dcid: &ConnectionId,
        scid: &ConnectionId,
        token: &[u8],
        policy: RetryPolicy,
    ) -> Option<Admitted> {
        if token.is_empty() {
            let must_retry = match policy {
                RetryPolicy::Always => true,
                RetryPolicy::WhenBusy(threshold) => self.admission.in_progress() >= threshold,
                RetryPolicy::Never => false,
            };
            if must_retry {
                self.retry(now, remote, dcid, scid);
                return None;
            }
            return Some(Admitted {
                original_dcid: *dcid,
                retry_scid: None,
                validated: false,
            });
        }
        let age = now.saturating_duration_since(self.epoch);
        match self
            .token_key
            .open(token, remote, dcid, age, self.config.retry_token_lifetime)
        {
            Ok(token) => Some(Admitted {
                original_dcid: token.original_dcid,
                retry_scid: Some(*dcid),
                validated: true,
            }),
            // Authentic but stale: the client's Initials were lost for longer than the lifetime,
            // and it may not accept a second Retry (RFC 9000 §17.2.5.2). Accept the connection
            // without trusting the address: the 3× limit applies (RFC 9000 §8.1.3).
            Err(TokenError::Expired { token, .. }) => {
                self.stats.invalid_tokens += 1;
                Some(Admitted {
                    original_dcid: token.original_dcid,
                    retry_scid: Some(*dcid),
                    validated: false,
                })
            }
            // Forged, or for another address: a client that got it from us would also check
            // our Retry's connection ID in the handshake, so no connection could come of it.
            Err(_) => {
                self.stats.invalid_tokens += 1;
                None
            }
        }
    }
}
