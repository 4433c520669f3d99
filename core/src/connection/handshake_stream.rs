//! The handshake byte stream of one packet-number space: what HANDSHAKE frames carry.
//!
//! Handshake data is small (a few hundred bytes before TLS, a few kilobytes with it), so the
//! send side keeps every byte until the space is discarded and the receive side buffers at most
//! [`MAX_HANDSHAKE_BUFFER`] bytes ahead of what was consumed.

use bytes::Bytes;
use smallvec::SmallVec;

use crate::error::{TransportError, TransportErrorCode};
use crate::range_set::RangeSet;
use crate::wire::frame::HandshakeData;
use crate::wire::{FrameType, VarInt};

/// Most bytes the receive side holds beyond what was consumed (RFC 9000 §7.5 asks for at least
/// 4096; weir's own handshake messages are far smaller).
pub(crate) const MAX_HANDSHAKE_BUFFER: u64 = 16 * 1024;

/// Byte ranges of handshake data one packet carried: `(offset, len)`.
pub(crate) type HandshakeRanges = SmallVec<[(u64, u64); 1]>;

#[derive(Debug, Default)]
pub(crate) struct HandshakeStream {
    /// Every byte written so far; offset 0 is the first.
    send: Vec<u8>,
    /// Next offset never sent.
    sent: u64,
    /// Ranges that were lost and must be sent again.
    lost: RangeSet,
    acked: RangeSet,
    /// Received bytes from offset `base` on (copied: a peer cannot pin datagrams here).
    recv_buf: Vec<u8>,
    /// Offset of `recv_buf[0]`: everything before it was consumed.
    base: u64,
    /// Which absolute offsets at or after `base` hold received bytes.
    filled: RangeSet,
}

impl HandshakeStream {
    /// Queues handshake bytes to send.
    pub(crate) fn write(&mut self, data: &[u8]) {
        self.send.extend_from_slice(data);
    }

    /// Whether anything (new or lost) waits to be sent.
    pub(crate) fn has_pending(&self) -> bool {
        !self.lost.is_empty() || self.sent < self.send.len() as u64
    }

    /// Writes HANDSHAKE frames (lost data first) into `buf` within `max_len` bytes, recording the
    /// ranges in `record`.
    pub(crate) fn write_frames(
        &mut self,
        buf: &mut Vec<u8>,
        mut max_len: usize,
        record: &mut HandshakeRanges,
    ) {
        while let Some(range) = self.lost.peek_min() {
            let Some(n) = self.write_one(buf, &mut max_len, range.start, range.end, record) else {
                return;
            };
            self.lost.remove(range.start..range.start + n);
        }
        let end = self.send.len() as u64;
        while self.sent < end {
            let Some(n) = self.write_one(buf, &mut max_len, self.sent, end, record) else {
                return;
            };
            self.sent += n;
        }
    }

    /// Writes one frame with bytes from `start..end` (as many as fit); returns how many.
    fn write_one(
        &self,
        buf: &mut Vec<u8>,
        max_len: &mut usize,
        start: u64,
        end: u64,
        record: &mut HandshakeRanges,
    ) -> Option<u64> {
        let offset = VarInt::from_u64(start).ok()?;
        let fit = HandshakeData::max_data_len(offset, *max_len)?;
        let len = (end - start).min(fit as u64);
        if len == 0 {
            return None;
        }
        let data = self.send.get(start as usize..(start + len) as usize)?;
        let frame = HandshakeData {
            offset,
            data: Bytes::copy_from_slice(data),
        };
        let before = buf.len();
        frame.encode(buf);
        *max_len -= buf.len() - before;
        record.push((start, len));
        Some(len)
    }

    /// The peer acknowledged a range.
    pub(crate) fn on_acked(&mut self, offset: u64, len: u64) {
        self.acked.insert(offset..offset + len);
        self.lost.remove(offset..offset + len);
    }

    /// A packet carrying a range was lost: send what of it is not acknowledged again.
    pub(crate) fn on_lost(&mut self, offset: u64, len: u64) {
        let end = offset + len;
        let mut start = offset;
        // Subtract the acknowledged ranges (few: the handshake is a handful of packets).
        for acked in self.acked.iter() {
            if acked.end <= start || acked.start >= end {
                continue;
            }
            if acked.start > start {
                self.lost.insert(start..acked.start);
            }
            start = start.max(acked.end);
        }
        if start < end {
            self.lost.insert(start..end);
        }
    }

    /// A HANDSHAKE frame arrived.
    pub(crate) fn on_frame(&mut self, frame: HandshakeData) -> Result<(), TransportError> {
        let offset = frame.offset.into_inner();
        let end = offset.saturating_add(frame.data.len() as u64);
        if end > self.base + MAX_HANDSHAKE_BUFFER {
            return Err(TransportError::new(
                TransportErrorCode::HANDSHAKE_BUFFER_EXCEEDED,
                format!(
                    "handshake data up to offset {end} exceeds the {MAX_HANDSHAKE_BUFFER}-byte buffer"
                ),
            )
            .in_frame(FrameType::HANDSHAKE));
        }
        // Bytes already readable never change; everything else may be (re)written.
        let start = offset.max(self.contiguous_end());
        if start >= end {
            return Ok(());
        }
        let (from, to) = ((start - self.base) as usize, (end - self.base) as usize);
        if self.recv_buf.len() < to {
            self.recv_buf.resize(to, 0);
        }
        let skip = (start - offset) as usize;
        if let (Some(dst), Some(src)) = (self.recv_buf.get_mut(from..to), frame.data.get(skip..)) {
            dst.copy_from_slice(src);
        }
        self.filled.insert(start..end);
        Ok(())
    }

    /// End of the contiguous received bytes that start at `base`.
    fn contiguous_end(&self) -> u64 {
        match self.filled.peek_min() {
            Some(r) if r.start <= self.base => r.end,
            _ => self.base,
        }
    }

    /// In-order bytes received and not yet consumed.
    pub(crate) fn readable(&self) -> &[u8] {
        let n = (self.contiguous_end() - self.base) as usize;
        self.recv_buf.get(..n).unwrap_or_default()
    }

    /// Marks the first `n` readable bytes as consumed.
    pub(crate) fn consume(&mut self, n: usize) {
        let n = n.min(self.readable().len());
        self.recv_buf.drain(..n);
        self.base += n as u64;
        self.filled.remove_below(self.base);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(buf: &[u8]) -> Vec<HandshakeData> {
        crate::wire::frame::Iter::new(Bytes::copy_from_slice(buf))
            .map(|f| match f.expect("valid frame") {
                crate::wire::Frame::Handshake(h) => h,
                other => panic!("unexpected frame {other:?}"),
            })
            .collect()
    }

    #[test]
    fn sends_new_data_then_retransmits_lost_ranges() {
        let mut s = HandshakeStream::default();
        s.write(&[7; 100]);
        let mut buf = Vec::new();
        let mut record = HandshakeRanges::new();
        s.write_frames(&mut buf, 60, &mut record);
        assert_eq!(record.as_slice(), &[(0, 57)]);
        assert!(buf.len() <= 60);
        record.clear();
        buf.clear();
        s.write_frames(&mut buf, 1000, &mut record);
        assert_eq!(record.as_slice(), &[(57, 43)]);
        assert!(!s.has_pending());
        s.on_acked(57, 43);
        s.on_lost(0, 57);
        s.on_lost(57, 43); // already acknowledged: nothing to resend
        assert!(s.has_pending());
        record.clear();
        buf.clear();
        s.write_frames(&mut buf, 1000, &mut record);
        assert_eq!(record.as_slice(), &[(0, 57)]);
        s.on_acked(0, 57);
    }

    #[test]
    fn receive_reorders_and_trims_overlap() {
        let mut tx = HandshakeStream::default();
        tx.write(b"hello, handshake");
        let mut buf = Vec::new();
        let mut rec = HandshakeRanges::new();
        while tx.has_pending() {
            tx.write_frames(&mut buf, 7, &mut rec);
        }
        let mut parts = frames(&buf);
        parts.reverse();
        let mut rx = HandshakeStream::default();
        for f in parts.iter().cloned().chain(parts.iter().cloned()) {
            rx.on_frame(f).expect("in buffer");
        }
        assert_eq!(rx.readable(), b"hello, handshake");
        rx.consume(7);
        assert_eq!(rx.readable(), b"handshake");
    }

    #[test]
    fn overlapping_floods_stay_within_the_buffer() {
        let mut rx = HandshakeStream::default();
        let data = Bytes::from(vec![1u8; 8000]);
        for offset in (1..8000u32).step_by(7) {
            let frame = HandshakeData {
                offset: VarInt::from_u32(offset),
                data: data.slice(..8000 - offset as usize),
            };
            rx.on_frame(frame).expect("in buffer");
        }
        assert!(rx.recv_buf.len() <= MAX_HANDSHAKE_BUFFER as usize);
        assert!(rx.readable().is_empty(), "byte 0 never arrived");
    }

    #[test]
    fn data_far_ahead_is_an_error() {
        let mut rx = HandshakeStream::default();
        let frame = HandshakeData {
            offset: VarInt::from_u32(MAX_HANDSHAKE_BUFFER as u32),
            data: Bytes::from_static(b"x"),
        };
        let err = rx.on_frame(frame).expect_err("beyond the buffer");
        assert_eq!(err.code, TransportErrorCode::HANDSHAKE_BUFFER_EXCEEDED);
    }
}
