//! Stateless resets (RFC 9000 §10.3): how an endpoint that lost a connection's state tells the
//! peer, and the token that proves the reset came from it.
//!
//! ```text
//! 0b01xx_xxxx | unpredictable bytes (at least 4) | stateless reset token (16)
//! ```
//!
//! A reset looks like a short-header packet. Its last 16 bytes are the token the server
//! announced in its transport parameters for the connection ID the peer was using; nobody but
//! the server (and the path) knows it.

use std::fmt;

/// Length of a stateless reset token (RFC 9000 §10.3).
pub const RESET_TOKEN_LEN: usize = 16;
/// RFC 9000 §10.3: the smallest stateless reset is 21 bytes (1 + 4 unpredictable + 16).
pub const MIN_RESET_SIZE: usize = 21;
/// RFC 9000 §10.3: a reset needs no more than 43 bytes to look like a packet with a 20-byte
/// connection ID; in answer to a shorter packet it is one byte shorter than that packet.
pub const MAX_RESET_SIZE: usize = 43;

/// The 16-byte token of a stateless reset.
#[derive(Clone, Copy, Eq)]
pub struct ResetToken(pub [u8; RESET_TOKEN_LEN]);

impl ResetToken {
    /// The token a datagram ends with, if it is long enough to be a reset and has the
    /// short-header form.
    pub fn trailing(datagram: &[u8]) -> Option<Self> {
        if datagram.len() < MIN_RESET_SIZE || datagram.first()? & 0x80 != 0 {
            return None;
        }
        let tail = datagram.get(datagram.len() - RESET_TOKEN_LEN..)?;
        Some(Self(tail.try_into().ok()?))
    }
}

impl PartialEq for ResetToken {
    /// Constant time (RFC 9000 §10.3.1): a forger learns nothing from how long it took.
    fn eq(&self, other: &Self) -> bool {
        self.0
            .iter()
            .zip(other.0.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

impl std::hash::Hash for ResetToken {
    /// By value, as equality is.
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl fmt::Debug for ResetToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A secret stays out of logs.
        f.write_str("ResetToken(..)")
    }
}

/// The size of the reset sent in answer to a datagram of `trigger` bytes, if one may be sent:
/// smaller than the trigger, so that two endpoints that both lost state cannot bounce resets
/// for ever (RFC 9000 §10.3.3), and never amplifying.
pub fn reset_size(trigger: usize) -> Option<usize> {
    (trigger > MIN_RESET_SIZE).then(|| (trigger - 1).min(MAX_RESET_SIZE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_form_datagrams_long_enough_can_be_resets() {
        let mut d = vec![0x40; 30];
        d[14..].copy_from_slice(&[9; 16]);
        assert_eq!(ResetToken::trailing(&d), Some(ResetToken([9; 16])));
        d[0] = 0xc0;
        assert_eq!(ResetToken::trailing(&d), None, "long header");
        assert_eq!(ResetToken::trailing(&[0x40; 20]), None, "too short");
        assert_eq!(ResetToken::trailing(&[]), None);
    }

    #[test]
    fn resets_shrink_and_never_amplify() {
        assert_eq!(reset_size(21), None);
        assert_eq!(reset_size(22), Some(21));
        assert_eq!(reset_size(40), Some(39));
        assert_eq!(reset_size(1200), Some(MAX_RESET_SIZE));
        for trigger in 0..2000 {
            if let Some(size) = reset_size(trigger) {
                assert!(size < trigger && size >= MIN_RESET_SIZE);
            }
        }
    }

    #[test]
    fn tokens_compare_by_value_and_stay_out_of_logs() {
        assert_eq!(ResetToken([1; 16]), ResetToken([1; 16]));
        let mut other = [1; 16];
        other[15] = 2;
        assert_ne!(ResetToken([1; 16]), ResetToken(other));
        assert_eq!(format!("{:?}", ResetToken([1; 16])), "ResetToken(..)");
    }
}
