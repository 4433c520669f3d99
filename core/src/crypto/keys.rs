//! rustls's QUIC keys behind weir's [`PacketKey`] and [`HeaderKey`] traits, and the key sets of
//! the three packet-number spaces.

use bytes::BytesMut;

use crate::protect::{
    Crc32cKey, HEADER_MASK_LEN, HeaderKey, IdentityHeaderKey, PacketKey, ProtectError,
};

/// AEAD payload protection from a TLS 1.3 secret (AES-128-GCM, AES-256-GCM or
/// ChaCha20-Poly1305, whichever the handshake negotiated).
pub(crate) struct AeadPacketKey(pub(crate) Box<dyn rustls::quic::PacketKey>);

impl PacketKey for AeadPacketKey {
    fn tag_len(&self) -> usize {
        self.0.tag_len()
    }

    fn seal(
        &self,
        packet_number: u64,
        header: &[u8],
        payload_and_tag: &mut [u8],
    ) -> Result<(), ProtectError> {
        let tag_len = self.0.tag_len();
        let len = payload_and_tag.len();
        let body = len
            .checked_sub(tag_len)
            .ok_or(ProtectError::PayloadShorterThanTag { len, tag_len })?;
        let (payload, tag_out) = payload_and_tag.split_at_mut(body);
        let tag = self
            .0
            .encrypt_in_place(packet_number, header, payload)
            .map_err(|_| ProtectError::AuthenticationFailed)?;
        let tag = tag.as_ref();
        if tag.len() != tag_out.len() {
            return Err(ProtectError::PayloadShorterThanTag { len, tag_len });
        }
        tag_out.copy_from_slice(tag);
        Ok(())
    }

    fn open(
        &self,
        packet_number: u64,
        header: &[u8],
        payload_and_tag: &mut BytesMut,
    ) -> Result<(), ProtectError> {
        let tag_len = self.0.tag_len();
        let len = payload_and_tag.len();
        if len < tag_len {
            return Err(ProtectError::PayloadShorterThanTag { len, tag_len });
        }
        let plain = self
            .0
            .decrypt_in_place(packet_number, header, payload_and_tag)
            .map_err(|_| ProtectError::AuthenticationFailed)?
            .len();
        payload_and_tag.truncate(plain);
        Ok(())
    }

    fn confidentiality_limit(&self) -> u64 {
        self.0.confidentiality_limit()
    }

    fn integrity_limit(&self) -> u64 {
        self.0.integrity_limit()
    }
}

/// Header protection from a TLS 1.3 secret (AES-ECB or ChaCha20, RFC 9001 §5.4).
pub(crate) struct AeadHeaderKey(pub(crate) Box<dyn rustls::quic::HeaderProtectionKey>);

impl HeaderKey for AeadHeaderKey {
    fn sample_size(&self) -> usize {
        self.0.sample_len()
    }

    fn mask(&self, sample: &[u8]) -> [u8; HEADER_MASK_LEN] {
        // rustls applies its mask rather than handing it out: apply it to zeros (a short
        // header's first byte announcing a 4-byte packet number, so that all five mask bytes
        // are used) and read it back. `apply_mask` only uses the low five bits of the first
        // byte's mask, which a short header's protection covers.
        const FIRST: u8 = 0b0100_0011;
        let mut first = FIRST;
        let mut pn = [0u8; HEADER_MASK_LEN - 1];
        if self
            .0
            .encrypt_in_place(sample, &mut first, &mut pn)
            .is_err()
        {
            // A wrong-sized sample: `apply_mask` sized it from `sample_size`, so this cannot
            // happen; an all-zero mask leaves the header as it is and the AEAD then fails.
            return [0; HEADER_MASK_LEN];
        }
        [first ^ FIRST, pn[0], pn[1], pn[2], pn[3]]
    }
}

/// One direction's keys: payload and header protection.
pub(crate) struct DirectionalKeys {
    pub(crate) packet: Box<dyn PacketKey>,
    pub(crate) header: Box<dyn HeaderKey>,
}

impl DirectionalKeys {
    pub(crate) fn integrity() -> Self {
        Self {
            packet: Box::new(Crc32cKey),
            header: Box::new(IdentityHeaderKey),
        }
    }

    pub(crate) fn from_rustls(keys: rustls::quic::DirectionalKeys) -> Self {
        Self {
            packet: Box::new(AeadPacketKey(keys.packet)),
            header: Box::new(AeadHeaderKey(keys.header)),
        }
    }
}

/// The keys of one packet-number space, both directions.
pub(crate) struct SpaceKeys {
    pub(crate) local: DirectionalKeys,
    pub(crate) remote: DirectionalKeys,
}

impl SpaceKeys {
    /// The integrity-only protection (`Security::InsecureIntegrityOnly`).
    pub(crate) fn integrity() -> Self {
        Self {
            local: DirectionalKeys::integrity(),
            remote: DirectionalKeys::integrity(),
        }
    }

    pub(crate) fn from_rustls(keys: rustls::quic::Keys) -> Self {
        Self {
            local: DirectionalKeys::from_rustls(keys.local),
            remote: DirectionalKeys::from_rustls(keys.remote),
        }
    }

    /// The Initial keys both ends derive from the client's first destination connection ID
    /// (RFC 9001 §5.2): they keep out nobody who sees the packet, but an off-path attacker
    /// cannot forge Initials, and a middlebox that does not know weir cannot read them.
    pub(crate) fn initial(client_dcid: &[u8], side: crate::streams::Side) -> Self {
        let side = match side {
            crate::streams::Side::Client => rustls::Side::Client,
            crate::streams::Side::Server => rustls::Side::Server,
        };
        Self::from_rustls(initial_suite().keys(client_dcid, side, QUIC_VERSION))
    }

    pub(crate) fn tag_len(&self) -> usize {
        self.local.packet.tag_len()
    }
}

/// Bytes of every AEAD tag TLS 1.3's QUIC cipher suites produce.
pub(crate) const AEAD_TAG_LEN: usize = 16;

/// The QUIC version whose key schedule weir's TLS uses: its labels and Initial salt (RFC 9001
/// §5), and its codepoint for the transport-parameters extension. weir's own wire version is
/// separate (`wire::VERSION_1`): the key schedule is borrowed, not the QUIC wire image.
pub(crate) const QUIC_VERSION: rustls::quic::Version = rustls::quic::Version::V1;

/// Initial packets are protected with AES-128-GCM and SHA-256 (RFC 9001 §5.2), whatever the
/// handshake negotiates later.
fn initial_suite() -> rustls::quic::Suite {
    let suite = rustls::crypto::ring::cipher_suite::TLS13_AES_128_GCM_SHA256;
    match suite.tls13().and_then(|s| s.quic_suite()) {
        Some(quic) => quic,
        // ring's TLS_AES_128_GCM_SHA256 always has its QUIC algorithms.
        None => unreachable!("TLS13_AES_128_GCM_SHA256 supports QUIC"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::streams::Side;

    #[test]
    fn initial_keys_of_both_ends_match() {
        let dcid = [7u8; 8];
        let client = SpaceKeys::initial(&dcid, Side::Client);
        let server = SpaceKeys::initial(&dcid, Side::Server);
        assert_eq!(client.tag_len(), 16);
        let header = [0xc0u8, 1, 2, 3];
        let mut sealed = b"hello, server".to_vec();
        sealed.resize(sealed.len() + 16, 0);
        client.local.packet.seal(9, &header, &mut sealed).unwrap();
        assert_ne!(&sealed[..13], b"hello, server");
        let mut opened = BytesMut::from(&sealed[..]);
        server.remote.packet.open(9, &header, &mut opened).unwrap();
        assert_eq!(&opened[..], b"hello, server");
        // Another packet number, another header, a flipped bit: each fails.
        let mut wrong = BytesMut::from(&sealed[..]);
        assert!(server.remote.packet.open(10, &header, &mut wrong).is_err());
        let mut wrong = BytesMut::from(&sealed[..]);
        assert!(
            server
                .remote
                .packet
                .open(9, &[0xc0, 1, 2, 4], &mut wrong)
                .is_err()
        );
        let mut wrong = BytesMut::from(&sealed[..]);
        wrong[3] ^= 1;
        assert!(server.remote.packet.open(9, &header, &mut wrong).is_err());
        // A different connection ID gives different keys.
        let other = SpaceKeys::initial(&[8u8; 8], Side::Server);
        let mut wrong = BytesMut::from(&sealed[..]);
        assert!(other.remote.packet.open(9, &header, &mut wrong).is_err());
    }

    #[test]
    fn header_masks_round_trip_through_both_ends() {
        let dcid = [3u8; 8];
        let client = SpaceKeys::initial(&dcid, Side::Client);
        let server = SpaceKeys::initial(&dcid, Side::Server);
        let sample = [0x5au8; 16];
        let mask = client.local.header.mask(&sample);
        assert_eq!(mask, server.remote.header.mask(&sample));
        assert_ne!(mask, [0; HEADER_MASK_LEN]);
        // Protect then unprotect a short packet: first byte, 2-byte number, payload.
        let mut packet = vec![0x41u8, 9, 9, 0xab, 0xcd];
        packet.extend_from_slice(&[0x33; 20]);
        let plain = packet.clone();
        client.local.header.protect(3, &mut packet).unwrap();
        assert_ne!(packet, plain);
        server.remote.header.unprotect(3, &mut packet).unwrap();
        assert_eq!(packet, plain);
    }
}
