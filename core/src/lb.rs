//! Connection IDs a fleet can route: the plaintext algorithm of QUIC-LB
//! (draft-ietf-quic-load-balancers-19 §3, §5.2).
//!
//! Many weir servers behind one stateless UDP load balancer must each receive every packet of
//! their own connections, even after a client's NAT rebinds or the client moves to another
//! network (the 4-tuple changes; the connection ID does not). With [`RoutableCids`] in
//! [`EndpointConfig::routable_cids`](crate::config::EndpointConfig::routable_cids), a server
//! writes its server ID into every connection ID it issues:
//!
//! ```text
//! first octet: config rotation (3 bits) | CID length − 1, or random (5 bits)
//! then:        server ID (1..=15 bytes) | nonce (at least 4 random bytes)
//! ```
//!
//! and a load balancer configured with the same config rotation and server-ID length
//! ([`LoadBalancerConfig`]) reads it back from the destination connection ID of any short
//! packet (or of a long packet the server's ID is in) without keeping state.
//!
//! ## Deploying it
//!
//! 1. Give each server a distinct server ID of the same length (e.g. 2 bytes), the same config
//!    rotation codepoint (0..=6), and a connection-ID length of at least 1 + ID length + 4.
//! 2. The load balancer, for each datagram: [`LoadBalancerConfig::server_id`] of the
//!    destination connection ID; a known server ID goes to that server. Anything else — a
//!    client's first Initials, whose destination ID the client chose at random, or a packet of
//!    another config rotation — goes by a hash of the source address and port (the 4-tuple),
//!    which stays the same until the server's own connection ID is in use.
//! 3. Rotating the configuration: servers move to a new config rotation codepoint; the load
//!    balancer knows both until the old connections are gone.
//!
//! The plaintext algorithm shows the server ID to anyone who looks (a fleet's size and which
//! server holds which connection); the draft's encrypted algorithms hide it. weir's other
//! connection-ID bytes stay random, drawn from the endpoint's seeded generator.

/// The codepoint of the first octet's top three bits that says "not routable" (draft §3.1).
const UNROUTABLE_ROTATION: u8 = 0b111;
/// The least nonce a connection ID keeps after the server ID (draft §5.2).
pub const MIN_NONCE_LEN: usize = 4;
/// The longest server ID (draft §3: 1 to 15 bytes).
pub const MAX_SERVER_ID_LEN: usize = 15;

/// Why a routing configuration is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LbConfigError {
    /// The config rotation codepoint must be 0 to 6 (7 means "unroutable").
    #[error("config rotation {0} is not 0 to 6")]
    ConfigRotation(u8),
    /// A server ID of 1 to 15 bytes is needed.
    #[error("a server ID of {0} bytes; 1 to 15 are allowed")]
    ServerIdLength(usize),
    /// The connection IDs are too short for the first octet, the server ID and the nonce.
    #[error(
        "{cid_len}-byte connection IDs cannot hold a {server_id_len}-byte server ID and a {MIN_NONCE_LEN}-byte nonce"
    )]
    CidTooShort {
        /// The endpoint's connection-ID length.
        cid_len: usize,
        /// The server ID's length.
        server_id_len: usize,
    },
}

/// What a server writes into its connection IDs (see the [module docs](self)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutableCids {
    config_rotation: u8,
    server_id: [u8; MAX_SERVER_ID_LEN],
    server_id_len: u8,
    /// Whether the first octet's low five bits carry the connection ID's length (draft §3.2)
    /// rather than random bits.
    pub self_encode_length: bool,
}

impl RoutableCids {
    /// A server with `server_id` (1 to 15 bytes) under config rotation `config_rotation`
    /// (0 to 6).
    pub fn new(config_rotation: u8, server_id: &[u8]) -> Result<Self, LbConfigError> {
        if config_rotation >= UNROUTABLE_ROTATION {
            return Err(LbConfigError::ConfigRotation(config_rotation));
        }
        if server_id.is_empty() || server_id.len() > MAX_SERVER_ID_LEN {
            return Err(LbConfigError::ServerIdLength(server_id.len()));
        }
        let mut id = [0; MAX_SERVER_ID_LEN];
        id[..server_id.len()].copy_from_slice(server_id);
        Ok(Self {
            config_rotation,
            server_id: id,
            // At most 15: the check above.
            server_id_len: server_id.len() as u8,
            self_encode_length: false,
        })
    }

    /// The server ID.
    pub fn server_id(&self) -> &[u8] {
        &self.server_id[..usize::from(self.server_id_len)]
    }

    /// The config rotation codepoint.
    pub fn config_rotation(&self) -> u8 {
        self.config_rotation
    }

    /// The load balancer's view of this configuration.
    pub fn load_balancer(&self) -> LoadBalancerConfig {
        LoadBalancerConfig {
            config_rotation: self.config_rotation,
            server_id_len: self.server_id_len,
        }
    }

    /// Checks that `cid_len`-byte connection IDs hold the first octet, the server ID and the
    /// nonce.
    pub fn validate(&self, cid_len: usize) -> Result<(), LbConfigError> {
        let server_id_len = usize::from(self.server_id_len);
        if cid_len < 1 + server_id_len + MIN_NONCE_LEN {
            return Err(LbConfigError::CidTooShort {
                cid_len,
                server_id_len,
            });
        }
        Ok(())
    }

    /// Writes the first octet and the server ID over the random bytes of a connection ID
    /// (`bytes`, of the connection ID's length); the nonce stays random.
    pub(crate) fn encode(&self, bytes: &mut [u8]) {
        let id = self.server_id();
        if bytes.len() < 1 + id.len() {
            return;
        }
        let low = if self.self_encode_length {
            (bytes.len().saturating_sub(1) as u8) & 0x1f
        } else {
            bytes[0] & 0x1f
        };
        bytes[0] = (self.config_rotation << 5) | low;
        bytes[1..1 + id.len()].copy_from_slice(id);
    }
}

/// What a load balancer needs to read server IDs (see the [module docs](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadBalancerConfig {
    /// The config rotation codepoint the servers use.
    pub config_rotation: u8,
    /// The length of their server IDs.
    pub server_id_len: u8,
}

impl LoadBalancerConfig {
    /// The server ID in destination connection ID `dcid`, if it is one of this configuration's;
    /// `None` sends the packet by the 4-tuple instead (a client's first Initials, another
    /// configuration, an unroutable or too-short ID).
    pub fn server_id<'a>(&self, dcid: &'a [u8]) -> Option<&'a [u8]> {
        let len = usize::from(self.server_id_len);
        let first = *dcid.first()?;
        if first >> 5 != self.config_rotation || dcid.len() < 1 + len + MIN_NONCE_LEN {
            return None;
        }
        dcid.get(1..1 + len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn configurations_are_checked() {
        assert_eq!(
            RoutableCids::new(7, &[1]),
            Err(LbConfigError::ConfigRotation(7))
        );
        assert_eq!(
            RoutableCids::new(0, &[]),
            Err(LbConfigError::ServerIdLength(0))
        );
        assert_eq!(
            RoutableCids::new(0, &[0; 16]),
            Err(LbConfigError::ServerIdLength(16))
        );
        let cfg = RoutableCids::new(1, &[9, 9, 9, 9]).expect("valid");
        assert_eq!(
            cfg.validate(8),
            Err(LbConfigError::CidTooShort {
                cid_len: 8,
                server_id_len: 4
            })
        );
        assert_eq!(cfg.validate(9), Ok(()));
    }

    #[test]
    fn the_length_is_self_encoded_on_request() {
        let mut cfg = RoutableCids::new(2, &[0xab, 0xcd]).expect("valid");
        cfg.self_encode_length = true;
        let mut cid = [0xffu8; 10];
        cfg.encode(&mut cid);
        assert_eq!(cid[0], (2 << 5) | 9);
        assert_eq!(&cid[1..3], &[0xab, 0xcd]);
        assert_eq!(&cid[3..], &[0xff; 7], "the nonce stays");
    }

    proptest! {
        /// Whatever the random bytes, a load balancer reads the server ID back, and a load
        /// balancer of another rotation or an unroutable first octet reads nothing.
        #[test]
        fn the_server_id_survives_any_nonce(
            rotation in 0u8..7,
            id in proptest::collection::vec(any::<u8>(), 1..=MAX_SERVER_ID_LEN),
            random in proptest::collection::vec(any::<u8>(), 20),
            extra in 0usize..=5,
        ) {
            let cfg = RoutableCids::new(rotation, &id).expect("valid");
            let len = (1 + id.len() + MIN_NONCE_LEN + extra).min(20);
            let mut cid = random[..len].to_vec();
            cfg.encode(&mut cid);
            let lb = cfg.load_balancer();
            prop_assert_eq!(lb.server_id(&cid), Some(&id[..]));
            let other = LoadBalancerConfig { config_rotation: (rotation + 1) % 7, ..lb };
            prop_assert_eq!(other.server_id(&cid), None);
            let mut unroutable = cid.clone();
            unroutable[0] |= 0b1110_0000;
            prop_assert_eq!(lb.server_id(&unroutable), None);
            prop_assert_eq!(lb.server_id(&cid[..1 + id.len()]), None);
        }
    }
}
