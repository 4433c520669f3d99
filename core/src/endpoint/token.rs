//! Stateless retry cookies (DESIGN.md §3): a keyed hash of the client's address and the time
//! of issue, so that a server can ask a client to prove its address without keeping any state.
//!
//! ```text
//! version (1) | issued, ms since the endpoint started (8) | odcid length (1) | odcid | tag (16)
//! tag = SipHash-2-4-128(key, client IP | client port | retry SCID | everything before the tag)
//! ```
//!
//! The key comes from the endpoint's seed (its `Secrets`); tokens are only meant to come back to the endpoint
//! that issued them, a round trip later, so a restart simply invalidates them.

use std::hash::Hasher;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use siphasher::sip128::{Hasher128, SipHasher24};

use crate::wire::ConnectionId;

const TOKEN_VERSION: u8 = 1;
const TAG_LEN: usize = 16;
/// Fixed part of a token: version, issue time, odcid length, tag.
const FIXED_LEN: usize = 1 + 8 + 1 + TAG_LEN;

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a token this endpoint could have written.
    #[error("malformed token")]
    Malformed,
    /// The tag does not match: forged, altered, or issued to another address.
    #[error("token tag mismatch (forged, or issued to another address)")]
    BadTag,
    /// Authentic, but issued longer ago than its lifetime (or in the future).
    #[error("token expired {age:?} after issue")]
    Expired {
        /// Time since issue.
        age: Duration,
        /// What the token says: authentic, so the server may still use it, without trusting
        /// that the address is validated.
        token: RetryToken,
    },
}

/// The content of a retry token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryToken {
    /// The destination connection ID of the client's first Initial.
    pub(crate) original_dcid: ConnectionId,
    /// When it was issued, since the endpoint started.
    pub(crate) issued: Duration,
}

/// The secret key of an endpoint's tokens.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct TokenKey {
    k0: u64,
    k1: u64,
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKey(..)")
    }
}

impl TokenKey {
    pub(crate) fn new(k0: u64, k1: u64) -> Self {
        Self { k0, k1 }
    }

    /// The tag also covers the connection ID the server chose in its Retry, which the client
    /// then uses as destination: a token is only good for the connection it was issued for.
    fn tag(&self, remote: SocketAddr, retry_scid: &ConnectionId, body: &[u8]) -> [u8; TAG_LEN] {
        let mut h = SipHasher24::new_with_keys(self.k0, self.k1);
        match remote.ip() {
            IpAddr::V4(ip) => h.write(&ip.octets()),
            IpAddr::V6(ip) => h.write(&ip.octets()),
        }
        h.write(&remote.port().to_be_bytes());
        h.write(&[retry_scid.len() as u8]);
        h.write(retry_scid);
        h.write(body);
        h.finish128().as_bytes()
    }

    /// Writes a token for `remote`, sent in a Retry whose source connection ID is `retry_scid`.
    pub(crate) fn seal(
        &self,
        token: &RetryToken,
        remote: SocketAddr,
        retry_scid: &ConnectionId,
        out: &mut Vec<u8>,
    ) {
        let start = out.len();
        out.push(TOKEN_VERSION);
        let issued_ms = u64::try_from(token.issued.as_millis()).unwrap_or(u64::MAX);
        out.extend_from_slice(&issued_ms.to_be_bytes());
        // A connection ID is at most 20 bytes, so its length fits a byte.
        out.push(token.original_dcid.len() as u8);
        out.extend_from_slice(&token.original_dcid);
        let tag = self.tag(remote, retry_scid, &out[start..]);
        out.extend_from_slice(&tag);
    }

    /// Checks a token that `remote` presented at `now` (time since the endpoint started) in an
    /// Initial addressed to `retry_scid`.
    pub(crate) fn open(
        &self,
        data: &[u8],
        remote: SocketAddr,
        retry_scid: &ConnectionId,
        now: Duration,
        lifetime: Duration,
    ) -> Result<RetryToken, TokenError> {
        if data.len() < FIXED_LEN || data.first() != Some(&TOKEN_VERSION) {
            return Err(TokenError::Malformed);
        }
        let (body, tag) = data.split_at(data.len() - TAG_LEN);
        let issued_ms = body
            .get(1..9)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_be_bytes)
            .ok_or(TokenError::Malformed)?;
        let cid_len = usize::from(*body.get(9).ok_or(TokenError::Malformed)?);
        let cid = body
            .get(10..)
            .filter(|c| c.len() == cid_len)
            .ok_or(TokenError::Malformed)?;
        let original_dcid = ConnectionId::new(cid).map_err(|_| TokenError::Malformed)?;
        // Constant-time comparison: do not tell a forger how many tag bytes were right.
        let expected = self.tag(remote, retry_scid, body);
        let diff = expected
            .iter()
            .zip(tag)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        if diff != 0 {
            return Err(TokenError::BadTag);
        }
        let issued = Duration::from_millis(issued_ms);
        let age = now.saturating_sub(issued);
        let token = RetryToken {
            original_dcid,
            issued,
        };
        if age > lifetime || issued > now {
            return Err(TokenError::Expired { age, token });
        }
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("literal address")
    }

    fn scid() -> ConnectionId {
        ConnectionId::new(&[3; 8]).expect("8 bytes")
    }

    fn token() -> RetryToken {
        RetryToken {
            original_dcid: ConnectionId::new(&[9; 8]).expect("8 bytes"),
            issued: Duration::from_secs(5),
        }
    }

    #[test]
    fn round_trip_within_lifetime() {
        let key = TokenKey::new(1, 2);
        let mut buf = Vec::new();
        key.seal(&token(), addr("10.0.0.1:5000"), &scid(), &mut buf);
        let opened = key
            .open(
                &buf,
                addr("10.0.0.1:5000"),
                &scid(),
                Duration::from_secs(7),
                Duration::from_secs(10),
            )
            .expect("valid");
        assert_eq!(opened, token());
    }

    #[test]
    fn other_address_key_or_bytes_are_refused() {
        let key = TokenKey::new(1, 2);
        let mut buf = Vec::new();
        key.seal(&token(), addr("10.0.0.1:5000"), &scid(), &mut buf);
        let life = Duration::from_secs(10);
        let now = Duration::from_secs(6);
        assert_eq!(
            key.open(&buf, addr("10.0.0.2:5000"), &scid(), now, life),
            Err(TokenError::BadTag)
        );
        assert_eq!(
            key.open(&buf, addr("10.0.0.1:5001"), &scid(), now, life),
            Err(TokenError::BadTag)
        );
        assert_eq!(
            TokenKey::new(1, 3).open(&buf, addr("10.0.0.1:5000"), &scid(), now, life),
            Err(TokenError::BadTag)
        );
        for i in 0..buf.len() {
            let mut bad = buf.clone();
            bad[i] ^= 0x01;
            assert!(
                key.open(&bad, addr("10.0.0.1:5000"), &scid(), now, life)
                    .is_err(),
                "byte {i}"
            );
        }
        assert_eq!(
            key.open(&buf[..10], addr("10.0.0.1:5000"), &scid(), now, life),
            Err(TokenError::Malformed)
        );
        let other_scid = ConnectionId::new(&[4; 8]).expect("8 bytes");
        assert_eq!(
            key.open(&buf, addr("10.0.0.1:5000"), &other_scid, now, life),
            Err(TokenError::BadTag)
        );
    }

    #[test]
    fn expired_tokens_are_refused() {
        let key = TokenKey::new(1, 2);
        let mut buf = Vec::new();
        key.seal(&token(), addr("[::1]:5000"), &scid(), &mut buf);
        let err = key
            .open(
                &buf,
                addr("[::1]:5000"),
                &scid(),
                Duration::from_secs(16),
                Duration::from_secs(10),
            )
            .expect_err("expired");
        assert_eq!(
            err,
            TokenError::Expired {
                age: Duration::from_secs(11),
                token: token()
            }
        );
    }
}
