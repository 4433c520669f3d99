//! Answers the endpoint sends without creating a connection: Retry, Version Negotiation,
//! stateless resets and the refusal of a connection when full. Each is smaller than the
//! datagram that caused it (no amplification) and waits in a bounded queue (no unbounded
//! memory under a flood).

use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;
use rand::Rng;

use super::Endpoint;
use super::token::RetryToken;
use crate::TransportErrorCode;
use crate::connection::ConnectionSecurity;
use crate::crypto::keys::{AEAD_TAG_LEN, SpaceKeys};
use crate::protect::integrity::TAG_LEN;
use crate::protect::{Crc32cKey, IdentityHeaderKey};
use crate::streams::Side;
use crate::wire::frame::{ConnectionClose, Frame};
use crate::wire::header::VersionInvariants;
use crate::wire::header::VersionList;
use crate::wire::reset::{RESET_TOKEN_LEN, reset_size};
use crate::wire::{
    ConnectionId, Header, PacketBuilder, PacketNumber, SUPPORTED_VERSIONS, VERSION_1, VarInt,
};

/// Largest stateless answer; every one of them is far smaller.
const MAX_STATELESS_SIZE: usize = 1200;

impl Endpoint {
    fn queue_stateless(&mut self, remote: SocketAddr, datagram: Vec<u8>) -> bool {
        if self.stateless.len() >= self.config.max_stateless_responses {
            self.stats.stateless_dropped += 1;
            return false;
        }
        self.stateless.push_back((remote, datagram));
        true
    }

    /// Asks a new client to prove its address (RFC 9000 §8.1.2).
    pub(super) fn retry(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        client_dcid: &ConnectionId,
        client_scid: &ConnectionId,
    ) {
        let retry_scid = self.new_cid();
        let token = RetryToken {
            original_dcid: *client_dcid,
            issued: now.saturating_duration_since(self.epoch),
        };
        let mut token_bytes = Vec::new();
        self.token_key
            .seal(&token, remote, &retry_scid, &mut token_bytes);
        let header = Header::Retry {
            version: VERSION_1,
            dcid: *client_scid,
            scid: retry_scid,
        };
        let mut buf = Vec::with_capacity(128);
        let Ok(mut builder) = PacketBuilder::new(&mut buf, &header, 0, MAX_STATELESS_SIZE, TAG_LEN)
        else {
            return;
        };
        builder.buf().extend_from_slice(&token_bytes);
        if builder.finish(&Crc32cKey, &IdentityHeaderKey).is_ok()
            && self.queue_stateless(remote, buf)
        {
            self.stats.retries_sent += 1;
        }
    }

    /// Tells a client the versions this endpoint speaks (RFC 9000 §6.1). Only for datagrams
    /// large enough to be a client's first flight, so the answer never amplifies.
    pub(super) fn version_negotiation(
        &mut self,
        remote: SocketAddr,
        inv: &VersionInvariants<'_>,
        len: usize,
    ) {
        if self.server.is_none() || len < super::accept::MIN_INITIAL_DATAGRAM {
            self.stats.dropped_initials += 1;
            return;
        }
        let (Ok(dcid), Ok(scid)) = (ConnectionId::new(inv.scid), ConnectionId::new(inv.dcid))
        else {
            self.stats.dropped_initials += 1;
            return;
        };
        let header = Header::VersionNegotiation {
            dcid,
            scid,
            versions: VersionList::new(SUPPORTED_VERSIONS),
        };
        let mut buf = Vec::with_capacity(64);
        let _ = header.encode(&mut buf);
        if self.queue_stateless(remote, buf) {
            self.stats.version_negotiations_sent += 1;
        }
    }

    /// Refuses a new client because the endpoint is full: an Initial with CONNECTION_CLOSE
    /// (CONNECTION_REFUSED), so the client stops at once instead of timing out.
    pub(super) fn refuse(
        &mut self,
        remote: SocketAddr,
        client_dcid: &ConnectionId,
        client_scid: &ConnectionId,
    ) {
        let header = Header::Initial {
            version: VERSION_1,
            dcid: *client_scid,
            scid: *client_dcid,
            token: Bytes::new(),
            number: PacketNumber::new(0, None),
        };
        let mut buf = Vec::with_capacity(128);
        let tag_len = match self.security() {
            ConnectionSecurity::Integrity => TAG_LEN,
            _ => AEAD_TAG_LEN,
        };
        let Ok(mut builder) = PacketBuilder::new(&mut buf, &header, 0, MAX_STATELESS_SIZE, tag_len)
        else {
            return;
        };
        let close = Frame::ConnectionClose(ConnectionClose::Transport {
            error_code: VarInt::saturating_from_u64(
                TransportErrorCode::CONNECTION_REFUSED.into_inner(),
            ),
            frame_type: VarInt::ZERO,
            reason: Bytes::from_static(b"server full"),
        });
        if !builder.write_frame(&close) {
            return;
        }
        // The client reads it with the Initial keys of its first destination ID.
        let sealed = match self.security() {
            ConnectionSecurity::Integrity => builder.finish(&Crc32cKey, &IdentityHeaderKey),
            _ => {
                let keys = SpaceKeys::initial(client_dcid, Side::Server);
                builder.finish(&*keys.local.packet, &*keys.local.header)
            }
        };
        if sealed.is_ok() {
            self.queue_stateless(remote, buf);
        }
    }

    /// Tells the sender of a short packet to `dcid`, a connection this endpoint does not know
    /// (any more), that the connection is gone (RFC 9000 §10.3): unpredictable bytes in the
    /// short-header form, ending with the token of `dcid`, which only this endpoint can compute.
    /// Smaller than the packet that caused it, so two endpoints cannot bounce resets for ever.
    pub(super) fn stateless_reset(
        &mut self,
        remote: SocketAddr,
        dcid: &ConnectionId,
        trigger_len: usize,
    ) {
        let Some(size) = reset_size(trigger_len) else {
            return;
        };
        let mut datagram = vec![0u8; size];
        let (random, token) = datagram.split_at_mut(size - RESET_TOKEN_LEN);
        self.rng.fill_bytes(random);
        random[0] = 0x40 | (random[0] & 0x3f);
        token.copy_from_slice(&self.reset_key.token(dcid).0);
        if self.queue_stateless(remote, datagram) {
            self.stats.stateless_resets_sent += 1;
        }
    }
}
