//! Packet numbers on the wire: truncation when sending and reconstruction when receiving
//! (RFC 9000 §17.1 and Appendix A.2, A.3).
//!
//! Packet numbers are 62-bit integers that grow by one per packet in each number space. Only
//! the low 1 to 4 bytes are sent: enough that the receiver, which knows roughly where the
//! sequence is, can restore the rest. The sender picks the length from the oldest packet the
//! peer may still be waiting to acknowledge; the receiver restores the number closest to the
//! one it expects next.

use bytes::BufMut;

/// The largest packet number (RFC 9000 §12.3: packet numbers are in `0..=2^62-1`).
pub const MAX_PACKET_NUMBER: u64 = (1 << 62) - 1;

/// A truncated packet number as it appears in a header: the low [`len`](Self::len) bytes of the
/// full number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PacketNumber {
    truncated: u32,
    len: u8,
}

impl PacketNumber {
    /// Truncates `full` for sending, using as few bytes as keep it unambiguous to a receiver
    /// that has seen everything up to `largest_acked` (RFC 9000 §17.1, Appendix A.2): the
    /// encoding must represent at least twice the number of packets in flight
    /// (`full - largest_acked`, or `full + 1` when nothing was acknowledged yet).
    pub fn new(full: u64, largest_acked: Option<u64>) -> Self {
        let unacked = match largest_acked {
            Some(acked) => full.saturating_sub(acked),
            None => full.saturating_add(1),
        };
        // RFC 9000 Appendix A.2: min_bits = log2(num_unacked) + 1, i.e. 2 * num_unacked must fit.
        let range = unacked.saturating_mul(2);
        let len = if range <= 1 << 8 {
            1
        } else if range <= 1 << 16 {
            2
        } else if range <= 1 << 24 {
            3
        } else {
            4
        };
        Self::with_len(full, len)
    }

    /// Keeps the low `len` bytes of `full` (`len` is clamped to 1..=4).
    pub fn with_len(full: u64, len: usize) -> Self {
        let len = len.clamp(1, 4);
        let mask = (1u64 << (8 * len)) - 1;
        Self {
            // Cannot truncate: the mask keeps at most 32 bits.
            truncated: (full & mask) as u32,
            len: len as u8,
        }
    }

    /// A truncated number read from the wire; `None` unless `len` is in 1..=4 and `truncated`
    /// fits in `len` bytes.
    pub fn from_truncated(truncated: u32, len: usize) -> Option<Self> {
        let fits = match len {
            1..=3 => truncated < 1 << (8 * len),
            4 => true,
            _ => false,
        };
        fits.then_some(Self {
            truncated,
            len: len as u8,
        })
    }

    /// Encoded length in bytes, 1 to 4.
    #[inline]
    #[allow(clippy::len_without_is_empty)] // never empty
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// The truncated value as sent.
    #[inline]
    pub fn truncated(&self) -> u32 {
        self.truncated
    }

    /// The two "packet number length" bits of the first header byte: `len - 1`.
    #[inline]
    pub fn len_bits(&self) -> u8 {
        self.len.saturating_sub(1) & 0b11
    }

    /// Writes the truncated number, big-endian, in [`len`](Self::len) bytes.
    #[inline]
    pub fn encode<B: BufMut>(&self, buf: &mut B) {
        let bytes = self.truncated.to_be_bytes();
        buf.put_slice(bytes.get(4 - self.len()..).unwrap_or_default());
    }

    /// Whether this is the truncation of `full`.
    #[inline]
    pub fn matches(&self, full: u64) -> bool {
        Self::with_len(full, self.len()) == *self
    }

    /// Restores the full packet number: the value whose low bytes are the truncated ones and
    /// that lies closest to `expected` (RFC 9000 Appendix A.3). `expected` is one more than the
    /// largest packet number received so far in the number space (0 before any); see
    /// [`expected_packet_number`].
    pub fn expand(&self, expected: u64) -> u64 {
        let win = 1u64 << (8 * self.len());
        let half = win / 2;
        let mask = win - 1;
        let candidate = (expected & !mask) | u64::from(self.truncated);
        let max = MAX_PACKET_NUMBER + 1;
        if candidate.checked_add(half).is_some_and(|c| c <= expected)
            && candidate < max.saturating_sub(win)
        {
            candidate + win
        } else if candidate > expected.saturating_add(half) && candidate >= win {
            candidate - win
        } else {
            candidate
        }
    }
}

/// The packet number a receiver expects next: `largest_received + 1`, or 0 before anything was
/// received (RFC 9000 Appendix A.3).
#[inline]
pub fn expected_packet_number(largest_received: Option<u64>) -> u64 {
    largest_received.map_or(0, |pn| pn.saturating_add(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc_9000_a2_truncation_example() {
        // "if an endpoint has received an acknowledgment for packet 0xabe8b3 and is sending a
        // packet with a number of 0xac5c02, there are 29,519 (0x734f) outstanding packet
        // numbers. In order to represent at least twice this range (59,038 packets, or
        // 0xe69e), 16 bits are required."
        let pn = PacketNumber::new(0xac5c02, Some(0xabe8b3));
        assert_eq!(pn.len(), 2);
        assert_eq!(pn.truncated(), 0x5c02);
        // "In the same state, sending a packet with a number of 0xace8fe uses the 24-bit
        // encoding."
        assert_eq!(PacketNumber::new(0xace8fe, Some(0xabe8b3)).len(), 3);
    }

    #[test]
    fn rfc_9000_a3_reconstruction_example() {
        // "if the highest successfully authenticated packet had a packet number of 0xa82f30ea,
        // then a packet containing a 16-bit value of 0x9b32 will be decoded as 0xa82f9b32."
        let pn = PacketNumber::from_truncated(0x9b32, 2).unwrap();
        assert_eq!(
            pn.expand(expected_packet_number(Some(0xa82f30ea))),
            0xa82f9b32
        );
    }

    #[test]
    fn lengths_and_edges() {
        assert_eq!(PacketNumber::new(0, None).len(), 1);
        assert_eq!(PacketNumber::new(127, None).len(), 1);
        assert_eq!(PacketNumber::new(128, None).len(), 2);
        assert_eq!(PacketNumber::new(MAX_PACKET_NUMBER, None).len(), 4);
        assert_eq!(PacketNumber::new(5, Some(10)).len(), 1); // acked beyond: no panic
        assert!(PacketNumber::from_truncated(256, 1).is_none());
        assert!(PacketNumber::from_truncated(1, 0).is_none());
        assert!(PacketNumber::from_truncated(1, 5).is_none());
        assert!(PacketNumber::from_truncated(u32::MAX, 4).is_some());
        let mut buf = Vec::new();
        PacketNumber::with_len(0x0102_0304_0506, 3).encode(&mut buf);
        assert_eq!(buf, [0x04, 0x05, 0x06]);
        // Near the top of the space the expansion never exceeds the maximum.
        let top = PacketNumber::with_len(MAX_PACKET_NUMBER, 1);
        assert_eq!(top.expand(MAX_PACKET_NUMBER), MAX_PACKET_NUMBER);
        let _ = PacketNumber::with_len(0, 1).expand(u64::MAX); // no overflow
    }

    proptest! {
        #[test]
        fn truncate_then_expand_round_trips(
            largest_acked in 0..MAX_PACKET_NUMBER / 2,
            ahead in 1u64..1 << 20,
            reordered in 0u64..64,
        ) {
            // The sender sends `full`; the receiver has seen anything from largest_acked up to
            // (but not necessarily including) `full`, reordering by up to 64 packets.
            let full = largest_acked + ahead;
            let pn = PacketNumber::new(full, Some(largest_acked));
            prop_assert!(pn.matches(full));
            let largest_received = (full - 1).saturating_sub(reordered).max(largest_acked);
            prop_assert_eq!(pn.expand(expected_packet_number(Some(largest_received))), full);
        }

        #[test]
        fn expand_never_panics(t in any::<u32>(), len in 1usize..=4, expected in any::<u64>()) {
            let pn = PacketNumber::with_len(u64::from(t), len);
            let _ = pn.expand(expected);
        }
    }
}
