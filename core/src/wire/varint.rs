//! QUIC variable-length integers (RFC 9000 §16).
//!
//! The two most significant bits of the first byte give the encoded length (1, 2, 4 or 8 bytes);
//! the remaining 6, 14, 30 or 62 bits hold the value in network byte order. The encoder always
//! picks the shortest length; the decoder accepts any length that holds the value, as RFC 9000
//! §16 allows ("values do not need to be encoded on the minimum number of bytes").

use std::fmt;

use bytes::BufMut;

/// An integer in `0..=2^62-1`, the range a QUIC variable-length integer can carry
/// (RFC 9000 §16).
///
/// Holding a `VarInt` proves the value is encodable, so encoders that take one cannot fail.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VarInt(u64);

/// A value above [`VarInt::MAX`] was given where a variable-length integer is needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0} exceeds the variable-length integer maximum of 2^62 - 1")]
pub struct VarIntBoundsExceeded(pub u64);

impl VarInt {
    /// The largest encodable value, 2^62 - 1 (RFC 9000 §16).
    pub const MAX: Self = Self((1 << 62) - 1);
    /// Zero.
    pub const ZERO: Self = Self(0);
    /// The longest encoding, in bytes (RFC 9000 §16).
    pub const MAX_SIZE: usize = 8;

    /// Converts a `u32`, which always fits.
    #[inline]
    pub const fn from_u32(x: u32) -> Self {
        Self(x as u64)
    }

    /// Converts a `u64`, failing above [`VarInt::MAX`].
    #[inline]
    pub const fn from_u64(x: u64) -> Result<Self, VarIntBoundsExceeded> {
        if x <= Self::MAX.0 {
            Ok(Self(x))
        } else {
            Err(VarIntBoundsExceeded(x))
        }
    }

    /// Converts a `u64`, saturating at [`VarInt::MAX`] (for advisory values such as an ACK
    /// delay, where clamping is the right answer to an absurd input).
    #[inline]
    pub const fn saturating_from_u64(x: u64) -> Self {
        if x <= Self::MAX.0 { Self(x) } else { Self::MAX }
    }

    /// The value.
    #[inline]
    pub const fn into_inner(self) -> u64 {
        self.0
    }

    /// Bytes of the minimal encoding: 1, 2, 4 or 8.
    #[inline]
    pub const fn size(self) -> usize {
        varint_size(self.0)
    }

    /// Writes the minimal encoding.
    ///
    /// # Panics
    /// Only if `buf` has fewer than [`size`](Self::size) bytes of capacity left (the `BufMut`
    /// contract); a `Vec<u8>` grows instead.
    #[inline]
    pub fn encode<B: BufMut>(self, buf: &mut B) {
        let x = self.0;
        if x < 1 << 6 {
            buf.put_u8(x as u8);
        } else if x < 1 << 14 {
            buf.put_u16(0x4000 | x as u16);
        } else if x < 1 << 30 {
            buf.put_u32(0x8000_0000 | x as u32);
        } else {
            buf.put_u64(0xc000_0000_0000_0000 | x);
        }
    }

    /// Decodes one integer from the start of `buf`, returning it and the bytes it used.
    ///
    /// Non-minimal encodings are accepted. On failure returns `Err(needed)`: the number of bytes
    /// the encoding needs (as told by its first byte, or 1 for an empty input), which is more
    /// than `buf` holds.
    #[inline]
    pub fn decode_prefix(buf: &[u8]) -> Result<(Self, usize), usize> {
        let Some(&first) = buf.first() else {
            return Err(1);
        };
        let high = first & 0x3f;
        match first >> 6 {
            0 => Ok((Self(u64::from(first)), 1)),
            1 => match buf.get(..2) {
                Some(&[_, b1]) => Ok((Self(u64::from(u16::from_be_bytes([high, b1]))), 2)),
                _ => Err(2),
            },
            2 => match buf.get(..4) {
                Some(&[_, b1, b2, b3]) => {
                    Ok((Self(u64::from(u32::from_be_bytes([high, b1, b2, b3]))), 4))
                }
                _ => Err(4),
            },
            _ => match buf.get(..8) {
                Some(&[_, b1, b2, b3, b4, b5, b6, b7]) => Ok((
                    Self(u64::from_be_bytes([high, b1, b2, b3, b4, b5, b6, b7])),
                    8,
                )),
                _ => Err(8),
            },
        }
    }
}

/// Bytes of the minimal encoding of `x`: 1, 2, 4 or 8 (RFC 9000 §16, table 4).
///
/// Values above [`VarInt::MAX`] have no encoding; for them this returns 8, the size of the
/// largest encoding, so that size estimates never undercount. Check with [`VarInt::from_u64`]
/// before encoding such a value.
#[inline]
pub const fn varint_size(x: u64) -> usize {
    if x < 1 << 6 {
        1
    } else if x < 1 << 14 {
        2
    } else if x < 1 << 30 {
        4
    } else {
        8
    }
}

impl From<u8> for VarInt {
    #[inline]
    fn from(x: u8) -> Self {
        Self(x.into())
    }
}

impl From<u16> for VarInt {
    #[inline]
    fn from(x: u16) -> Self {
        Self(x.into())
    }
}

impl From<u32> for VarInt {
    #[inline]
    fn from(x: u32) -> Self {
        Self(x.into())
    }
}

impl TryFrom<u64> for VarInt {
    type Error = VarIntBoundsExceeded;
    #[inline]
    fn try_from(x: u64) -> Result<Self, Self::Error> {
        Self::from_u64(x)
    }
}

impl TryFrom<usize> for VarInt {
    type Error = VarIntBoundsExceeded;
    #[inline]
    fn try_from(x: usize) -> Result<Self, Self::Error> {
        // usize is at most 64 bits on every supported target.
        Self::from_u64(x as u64)
    }
}

impl From<VarInt> for u64 {
    #[inline]
    fn from(x: VarInt) -> Self {
        x.0
    }
}

impl fmt::Display for VarInt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn encode(x: u64) -> Vec<u8> {
        let mut v = Vec::new();
        VarInt::from_u64(x).unwrap().encode(&mut v);
        v
    }

    // RFC 9000 Appendix A.1 sample encodings.
    #[test]
    fn rfc_sample_values() {
        let samples: [(&[u8], u64); 5] = [
            (
                &[0xc2, 0x19, 0x7c, 0x5e, 0xff, 0x14, 0xe8, 0x8c],
                151_288_809_941_952_652,
            ),
            (&[0x9d, 0x7f, 0x3e, 0x7d], 494_878_333),
            (&[0x7b, 0xbd], 15_293),
            (&[0x25], 37),
            (&[0x40, 0x25], 37),
        ];
        for (bytes, value) in samples {
            assert_eq!(
                VarInt::decode_prefix(bytes),
                Ok((VarInt(value), bytes.len()))
            );
        }
        assert_eq!(encode(37), [0x25]);
        assert_eq!(encode(15_293), [0x7b, 0xbd]);
    }

    #[test]
    fn boundaries() {
        for (x, size) in [
            (0, 1),
            (63, 1),
            (64, 2),
            (16_383, 2),
            (16_384, 4),
            ((1 << 30) - 1, 4),
            (1 << 30, 8),
            (VarInt::MAX.0, 8),
        ] {
            assert_eq!(varint_size(x), size, "{x}");
            assert_eq!(encode(x).len(), size, "{x}");
        }
        assert_eq!(
            VarInt::from_u64(1 << 62),
            Err(VarIntBoundsExceeded(1 << 62))
        );
        assert_eq!(VarInt::saturating_from_u64(u64::MAX), VarInt::MAX);
        assert_eq!(varint_size(u64::MAX), 8);
    }

    #[test]
    fn truncated_input_reports_needed_length() {
        assert_eq!(VarInt::decode_prefix(&[]), Err(1));
        assert_eq!(VarInt::decode_prefix(&[0x40]), Err(2));
        assert_eq!(VarInt::decode_prefix(&[0x80, 0, 0]), Err(4));
        assert_eq!(VarInt::decode_prefix(&[0xc0, 0, 0, 0, 0, 0, 0]), Err(8));
    }

    proptest! {
        #[test]
        fn round_trip(x in 0..=VarInt::MAX.0, trailing in proptest::collection::vec(any::<u8>(), 0..4)) {
            let mut bytes = encode(x);
            let len = bytes.len();
            prop_assert_eq!(len, varint_size(x));
            bytes.extend_from_slice(&trailing);
            prop_assert_eq!(VarInt::decode_prefix(&bytes), Ok((VarInt(x), len)));
        }

        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..10)) {
            if let Ok((v, n)) = VarInt::decode_prefix(&bytes) {
                prop_assert!(v <= VarInt::MAX);
                prop_assert!(n <= bytes.len());
            }
        }
    }
}
