//! Connection IDs: up to 20 opaque bytes, stored inline.

use std::fmt;
use std::ops::Deref;

/// A connection ID of 0 to [`MAX_LEN`](Self::MAX_LEN) bytes (RFC 9000 §17.2), stored inline so
/// that it is `Copy` and never touches the heap.
///
/// Bytes past the length are always zero, so the derived equality and hash look at exactly the
/// ID's length and bytes (ordering is by length, then bytes).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ConnectionId {
    len: u8,
    bytes: [u8; ConnectionId::MAX_LEN],
}

/// A slice longer than [`ConnectionId::MAX_LEN`] was given as a connection ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("connection ID of {0} bytes exceeds the maximum of 20")]
pub struct ConnectionIdTooLong(pub usize);

impl ConnectionId {
    /// The longest connection ID weir v1 allows (RFC 9000 §17.2: 20 bytes in QUIC v1).
    pub const MAX_LEN: usize = 20;

    /// The zero-length connection ID.
    pub const EMPTY: Self = Self {
        len: 0,
        bytes: [0; Self::MAX_LEN],
    };

    /// Copies `bytes` into a connection ID; fails if it is longer than [`MAX_LEN`](Self::MAX_LEN).
    #[inline]
    pub fn new(bytes: &[u8]) -> Result<Self, ConnectionIdTooLong> {
        let mut id = Self::EMPTY;
        let dst = id
            .bytes
            .get_mut(..bytes.len())
            .ok_or(ConnectionIdTooLong(bytes.len()))?;
        dst.copy_from_slice(bytes);
        // Cannot truncate: the length is at most MAX_LEN (20).
        id.len = bytes.len() as u8;
        Ok(id)
    }

    /// Number of bytes.
    #[inline]
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Whether this is the zero-length connection ID.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The ID's bytes.
    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        self.bytes.get(..self.len()).unwrap_or_default()
    }
}

impl Deref for ConnectionId {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl AsRef<[u8]> for ConnectionId {
    #[inline]
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl TryFrom<&[u8]> for ConnectionId {
    type Error = ConnectionIdTooLong;
    #[inline]
    fn try_from(bytes: &[u8]) -> Result<Self, Self::Error> {
        Self::new(bytes)
    }
}

impl fmt::Display for ConnectionId {
    /// Lower-case hex, no separators.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.as_slice() {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConnectionId({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn construct_and_inspect() {
        let id = ConnectionId::new(&[0xde, 0xad, 0xbe, 0xef]).unwrap();
        assert_eq!(id.len(), 4);
        assert_eq!(&*id, &[0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(format!("{id:?}"), "ConnectionId(deadbeef)");
        assert_eq!(id.to_string(), "deadbeef");
        assert!(ConnectionId::EMPTY.is_empty());
        assert_eq!(ConnectionId::new(&[7; 20]).unwrap().len(), 20);
        assert_eq!(ConnectionId::new(&[7; 21]), Err(ConnectionIdTooLong(21)));
    }

    #[test]
    fn equality_is_by_bytes_and_length() {
        let a = ConnectionId::new(&[1, 2]).unwrap();
        let b = ConnectionId::new(&[1, 2, 0]).unwrap();
        assert_ne!(a, b);
        assert_eq!(a, ConnectionId::try_from(&[1u8, 2][..]).unwrap());
    }
}
