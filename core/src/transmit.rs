//! The output half of the sans-IO contract: one datagram (or a GSO batch) to send.

use std::net::SocketAddr;

/// A datagram, or a batch of equally sized datagrams, that the core has written into a
/// caller-owned buffer and asks its driver to send (DESIGN.md §2).
///
/// The payload is the `size` bytes `poll_transmit` appended to the caller's buffer (its last
/// `size` bytes; [`segments`](Self::segments) counts from where they start). When
/// `segment_size` is set the buffer holds several datagrams of `segment_size` bytes each (the last
/// one may be shorter), to be sent with UDP generic segmentation offload where the platform has
/// it, or one by one where it has not.
#[must_use = "a Transmit describes bytes that must be sent"]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    /// Where to send the datagram(s).
    pub destination: SocketAddr,
    /// Number of bytes written into the caller's buffer.
    pub size: usize,
    /// Size of each datagram when the buffer holds a batch; `None` for a single datagram.
    pub segment_size: Option<usize>,
    /// Explicit Congestion Notification codepoint to set on the datagram(s).
    pub ecn: Option<EcnCodepoint>,
}

impl Transmit {
    /// The most bytes one batch holds: a GSO send's payload must fit one (IPv4) UDP datagram.
    pub const MAX_BATCH_BYTES: usize = 65_000;

    /// Number of datagrams this transmit describes.
    pub fn datagram_count(&self) -> usize {
        match self.segment_size {
            Some(segment) if segment > 0 => self.size.div_ceil(segment),
            _ => usize::from(self.size > 0),
        }
    }

    /// Iterates over the byte ranges of the individual datagrams inside the caller's buffer.
    pub fn segments(&self) -> impl Iterator<Item = std::ops::Range<usize>> + '_ {
        let step = match self.segment_size {
            Some(segment) if segment > 0 => segment,
            _ => self.size.max(1),
        };
        (0..self.size)
            .step_by(step)
            .map(move |start| start..(start + step).min(self.size))
    }
}

/// Explicit Congestion Notification codepoints (RFC 3168 §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EcnCodepoint {
    /// ECN-capable transport, codepoint 0 (`0b10`).
    Ect0,
    /// ECN-capable transport, codepoint 1 (`0b01`).
    Ect1,
    /// Congestion experienced (`0b11`).
    Ce,
}

impl EcnCodepoint {
    /// The two ECN bits as they appear in the IP header.
    pub fn bits(self) -> u8 {
        match self {
            Self::Ect0 => 0b10,
            Self::Ect1 => 0b01,
            Self::Ce => 0b11,
        }
    }

    /// Parses the two ECN bits of an IP header; `None` for Not-ECT.
    pub fn from_bits(bits: u8) -> Option<Self> {
        match bits & 0b11 {
            0b10 => Some(Self::Ect0),
            0b01 => Some(Self::Ect1),
            0b11 => Some(Self::Ce),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transmit(size: usize, segment_size: Option<usize>) -> Transmit {
        Transmit {
            destination: "127.0.0.1:1".parse().expect("literal address"),
            size,
            segment_size,
            ecn: None,
        }
    }

    #[test]
    fn segments_cover_the_buffer_exactly() {
        let t = transmit(2500, Some(1200));
        assert_eq!(t.datagram_count(), 3);
        let segs: Vec<_> = t.segments().collect();
        assert_eq!(segs, vec![0..1200, 1200..2400, 2400..2500]);
    }

    #[test]
    fn single_datagram_is_one_segment() {
        let t = transmit(700, None);
        assert_eq!(t.datagram_count(), 1);
        assert_eq!(t.segments().collect::<Vec<_>>(), vec![0..700]);
    }

    #[test]
    fn ecn_bits_round_trip() {
        for cp in [EcnCodepoint::Ect0, EcnCodepoint::Ect1, EcnCodepoint::Ce] {
            assert_eq!(EcnCodepoint::from_bits(cp.bits()), Some(cp));
        }
        assert_eq!(EcnCodepoint::from_bits(0), None);
    }
}
