//! A bounds-checked cursor for decoding.
//!
//! [`Reader`] borrows a byte slice and reads big-endian integers, variable-length integers and
//! length-prefixed strings from it. Every read is checked; a short input yields a
//! [`DecodeError`] that carries the absolute offset (the reader's base offset plus its position),
//! so errors point at the byte where the problem is.
//!
//! The reader works on a borrowed slice rather than on a `Bytes` so that the same code parses a
//! packet header in a mutable `BytesMut` (header protection is removed in place afterwards) and
//! frames in an immutable `Bytes`. Byte strings are returned as positions
//! ([`take`](Reader::take)); the frame decoder turns them into zero-copy `Bytes` with
//! [`Bytes::slice`](bytes::Bytes::slice).

use std::ops::Range;

use super::error::{DecodeError, DecodeErrorKind, Item};
use super::varint::VarInt;

/// A cursor over a byte slice that tracks an absolute offset for error reports.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `buf`; offsets are counted from `buf[0]`.
    #[inline]
    pub fn new(buf: &'a [u8]) -> Self {
        Self {
            buf,
            pos: 0,
            base: 0,
        }
    }

    /// A reader at position `pos` of `buf` (clamped to its length), reporting offsets as
    /// `base + position`: use this when `buf` is itself a part of a larger buffer (a payload
    /// inside a datagram).
    #[inline]
    pub fn resume(buf: &'a [u8], pos: usize, base: usize) -> Self {
        Self {
            buf,
            pos: pos.min(buf.len()),
            base,
        }
    }

    /// The absolute offset of the next byte (base offset plus position).
    #[inline]
    pub fn offset(&self) -> usize {
        self.base.saturating_add(self.pos)
    }

    /// The position of the next byte within the borrowed slice.
    #[inline]
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes left to read.
    #[inline]
    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// Whether every byte has been read.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The unread bytes.
    #[inline]
    pub fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }

    /// The next byte, without consuming it.
    #[inline]
    pub fn peek_u8(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    /// An error of `kind` at the current offset.
    #[inline]
    pub fn error(&self, kind: DecodeErrorKind) -> DecodeError {
        DecodeError::new(self.offset(), kind)
    }

    /// An error of `kind` at position `pos` of the borrowed slice.
    #[inline]
    pub fn error_at(&self, pos: usize, kind: DecodeErrorKind) -> DecodeError {
        DecodeError::new(self.base.saturating_add(pos), kind)
    }

    #[inline]
    fn truncated(&self, what: Item, needed: usize) -> DecodeError {
        self.error(DecodeErrorKind::UnexpectedEnd {
            what,
            needed,
            available: self.remaining(),
        })
    }

    /// Reads `N` bytes as an array.
    #[inline]
    fn array<const N: usize>(&mut self, what: Item) -> Result<[u8; N], DecodeError> {
        let end = self.pos.saturating_add(N);
        match self
            .buf
            .get(self.pos..end)
            .and_then(|s| <[u8; N]>::try_from(s).ok())
        {
            Some(a) => {
                self.pos = end;
                Ok(a)
            }
            None => Err(self.truncated(what, N)),
        }
    }

    /// Reads one byte.
    #[inline]
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        self.array::<1>(Item::Byte).map(|[b]| b)
    }

    /// Reads a big-endian `u16`.
    #[inline]
    pub fn u16(&mut self) -> Result<u16, DecodeError> {
        self.array(Item::U16).map(u16::from_be_bytes)
    }

    /// Reads a big-endian `u32`.
    #[inline]
    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        self.array(Item::U32).map(u32::from_be_bytes)
    }

    /// Reads a variable-length integer (RFC 9000 §16); non-minimal encodings are accepted.
    #[inline]
    pub fn varint(&mut self) -> Result<VarInt, DecodeError> {
        match VarInt::decode_prefix(self.rest()) {
            Ok((v, n)) => {
                self.pos += n;
                Ok(v)
            }
            Err(needed) => Err(self.truncated(Item::Varint, needed)),
        }
    }

    /// Reads a truncated packet number of `len` bytes (1 to 4), big-endian.
    #[inline]
    pub fn packet_number(&mut self, len: usize) -> Result<u32, DecodeError> {
        let bytes = self.slice_of(len, Item::PacketNumber)?;
        Ok(bytes.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b)))
    }

    /// Consumes `n` bytes and returns their position range in the borrowed slice.
    #[inline]
    pub fn take(&mut self, n: usize) -> Result<Range<usize>, DecodeError> {
        self.take_item(n, Item::Bytes)
    }

    #[inline]
    fn take_item(&mut self, n: usize, what: Item) -> Result<Range<usize>, DecodeError> {
        if n > self.remaining() {
            return Err(self.truncated(what, n));
        }
        let start = self.pos;
        self.pos += n;
        Ok(start..self.pos)
    }

    /// Consumes `n` bytes and returns them.
    #[inline]
    pub fn slice(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        self.slice_of(n, Item::Bytes)
    }

    #[inline]
    fn slice_of(&mut self, n: usize, what: Item) -> Result<&'a [u8], DecodeError> {
        let range = self.take_item(n, what)?;
        // In bounds: `take_item` checked the length.
        Ok(self.buf.get(range).unwrap_or_default())
    }

    /// Reads a variable-length integer length `n`, then consumes `n` bytes and returns their
    /// range. The length is checked against the input before anything else happens, so a huge
    /// length costs nothing.
    #[inline]
    pub fn length_prefixed(&mut self) -> Result<Range<usize>, DecodeError> {
        let len = self.varint()?.into_inner();
        let n = usize::try_from(len).unwrap_or(usize::MAX);
        self.take(n)
    }

    /// Consumes everything that is left and returns its range.
    #[inline]
    pub fn take_rest(&mut self) -> Range<usize> {
        let start = self.pos.min(self.buf.len());
        self.pos = self.buf.len();
        start..self.pos
    }

    /// Consumes a run of zero bytes and returns how many there were.
    #[inline]
    pub fn skip_zeros(&mut self) -> usize {
        let rest = self.rest();
        let n = rest.iter().position(|&b| b != 0).unwrap_or(rest.len());
        self.pos += n;
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_integers_and_tracks_offset() {
        let data = [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x40, 0x25, 0xaa];
        let mut r = Reader::resume(&data, 0, 100);
        assert_eq!(r.u8(), Ok(1));
        assert_eq!(r.u16(), Ok(0x0203));
        assert_eq!(r.u32(), Ok(0x0405_0607));
        assert_eq!(r.offset(), 107);
        assert_eq!(r.varint(), Ok(VarInt::from_u32(37)));
        assert_eq!(r.remaining(), 1);
        let err = r.u16().unwrap_err();
        assert_eq!(err.offset, 109);
        assert_eq!(
            err.kind,
            DecodeErrorKind::UnexpectedEnd {
                what: Item::U16,
                needed: 2,
                available: 1
            }
        );
        // A failed read consumes nothing.
        assert_eq!(r.u8(), Ok(0xaa));
        assert!(r.is_empty());
    }

    #[test]
    fn length_prefixed_rejects_huge_lengths_without_work() {
        // Length 2^62 - 1 with three bytes behind it.
        let data = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3];
        let mut r = Reader::new(&data);
        let err = r.length_prefixed().unwrap_err();
        assert_eq!(err.offset, 8);
        assert!(matches!(
            err.kind,
            DecodeErrorKind::UnexpectedEnd { available: 3, .. }
        ));
    }

    #[test]
    fn packet_numbers_and_zero_runs() {
        let data = [0x9b, 0x32, 0, 0, 0, 7];
        let mut r = Reader::new(&data);
        assert_eq!(r.packet_number(2), Ok(0x9b32));
        assert_eq!(r.skip_zeros(), 3);
        assert_eq!(r.take(1), Ok(5..6));
        assert_eq!(r.skip_zeros(), 0);
        assert!(r.packet_number(1).is_err());
        assert_eq!(r.take_rest(), 6..6);
    }
}
