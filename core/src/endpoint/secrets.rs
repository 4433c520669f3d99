//! Everything an endpoint derives from its seed: the generator of its connection IDs, the keys
//! of its Retry tokens and stateless resets, and the key of the hash tables that peers fill.
//!
//! The generator is ChaCha20, a cryptographic generator: the connection IDs a peer sees tell
//! it nothing of the IDs other peers get or of the keys. Every key is drawn from it first, so
//! the IDs never reveal them either.

use std::collections::HashMap;
use std::hash::BuildHasher;

use rand::rngs::ChaCha20Rng;
use rand::{Rng, SeedableRng};
use siphasher::sip::SipHasher13;
use siphasher::sip128::{Hasher128, SipHasher24};

use super::token::TokenKey;
use crate::config::{ConfigError, Seed};
use crate::wire::{ConnectionId, ResetToken};

/// A hash-table key unknown to peers: tables whose keys peers choose (source addresses, the
/// connection IDs clients pick) cannot be flooded into one bucket.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeyedState {
    k0: u64,
    k1: u64,
}

impl BuildHasher for KeyedState {
    type Hasher = SipHasher13;

    fn build_hasher(&self) -> SipHasher13 {
        SipHasher13::new_with_keys(self.k0, self.k1)
    }
}

/// A hash map keyed with the endpoint's secret hash key.
pub(crate) type KeyedMap<K, V> = HashMap<K, V, KeyedState>;

/// The key of the endpoint's stateless reset tokens: a token is a keyed hash of the connection
/// ID it resets, so the endpoint can compute it again after it lost the connection's state
/// (RFC 9000 §10.3.2).
#[derive(Clone, Copy)]
pub(crate) struct ResetKey {
    k0: u64,
    k1: u64,
}

impl std::fmt::Debug for ResetKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResetKey(..)")
    }
}

impl ResetKey {
    /// The token of connection ID `cid`.
    pub(crate) fn token(&self, cid: &ConnectionId) -> ResetToken {
        let mut h = SipHasher24::new_with_keys(self.k0, self.k1);
        std::hash::Hasher::write(&mut h, cid);
        ResetToken(h.finish128().as_bytes())
    }

    /// The key of the path challenges of the connection whose ID is `cid`: the same keyed hash
    /// over a domain-separated input, so it shares nothing with the reset token the peer
    /// learns, and draws nothing from the endpoint's generator (whose output the seeded
    /// simulations depend on).
    pub(crate) fn path_key(&self, cid: &ConnectionId) -> [u8; 16] {
        let mut h = SipHasher24::new_with_keys(self.k0, self.k1);
        std::hash::Hasher::write(&mut h, b"weir path challenge");
        std::hash::Hasher::write(&mut h, cid);
        h.finish128().as_bytes()
    }
}

/// What the seed gives an endpoint.
pub(crate) struct Secrets {
    pub(crate) rng: ChaCha20Rng,
    pub(crate) token_key: TokenKey,
    pub(crate) reset_key: ResetKey,
    pub(crate) hash: KeyedState,
}

impl Secrets {
    pub(crate) fn new(seed: &Seed) -> Result<Self, ConfigError> {
        let mut rng = match seed {
            Seed::FromOs => return Err(ConfigError::UnresolvedSeed),
            Seed::Fixed(n) => ChaCha20Rng::seed_from_u64(*n),
            Seed::Secret(bytes) => ChaCha20Rng::from_seed(*bytes),
        };
        let token_key = TokenKey::new(rng.next_u64(), rng.next_u64());
        let reset_key = ResetKey {
            k0: rng.next_u64(),
            k1: rng.next_u64(),
        };
        let hash = KeyedState {
            k0: rng.next_u64(),
            k1: rng.next_u64(),
        };
        Ok(Self {
            rng,
            token_key,
            reset_key,
            hash,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cid(byte: u8) -> ConnectionId {
        ConnectionId::new(&[byte; 8]).expect("8 bytes")
    }

    #[test]
    fn different_seeds_give_different_ids_and_keys() {
        let mut a = Secrets::new(&Seed::Secret([1; 32])).expect("seed");
        let mut b = Secrets::new(&Seed::Secret([2; 32])).expect("seed");
        assert_ne!(a.rng.next_u64(), b.rng.next_u64());
        assert_ne!(a.reset_key.token(&cid(1)), b.reset_key.token(&cid(1)));
        assert_ne!(a.token_key, b.token_key);
    }

    #[test]
    fn a_fixed_seed_is_reproducible() {
        let mut a = Secrets::new(&Seed::Fixed(9)).expect("seed");
        let mut b = Secrets::new(&Seed::Fixed(9)).expect("seed");
        assert_eq!(a.rng.next_u64(), b.rng.next_u64());
        assert_eq!(a.reset_key.token(&cid(1)), b.reset_key.token(&cid(1)));
        assert_ne!(a.reset_key.token(&cid(1)), a.reset_key.token(&cid(2)));
    }

    #[test]
    fn the_core_refuses_to_draw_its_own_seed() {
        assert!(matches!(
            Secrets::new(&Seed::FromOs),
            Err(ConfigError::UnresolvedSeed)
        ));
    }
}
