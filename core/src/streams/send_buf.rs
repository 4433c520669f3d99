//! The send buffer of one stream: the application's bytes from the lowest unacknowledged offset
//! to the write offset, what was never sent, what must be retransmitted, and what the peer
//! acknowledged out of order.
//!
//! Copied writes go to a `BytesMut` tail whose acknowledged prefix is released with an O(1)
//! `advance` (its space is reclaimed by later writes, so a steady bulk transfer does not
//! allocate); zero-copy chunks are kept as they are, behind the tail. Offsets are found by
//! binary search over the chunks, so copying a frame's data is O(log n) plus the copy.

use std::collections::VecDeque;
use std::ops::Range;

use bytes::{Buf, Bytes, BytesMut};

use crate::range_set::RangeSet;

/// Chunks shorter than this given to [`SendBuffer::write_chunk`] are copied into the tail, so
/// that the per-chunk bookkeeping (≈ 40 bytes) stays small next to the data.
const COPY_BELOW: usize = 256;

/// One stream's unacknowledged data (see the [module docs](self)).
#[derive(Debug, Default)]
pub(super) struct SendBuffer {
    /// Zero-copy chunks covering `[start, tail_start)`, each with its offset.
    chunks: VecDeque<(u64, Bytes)>,
    /// Copied bytes covering `[tail_start, end)`.
    tail: BytesMut,
    tail_start: u64,
    /// Every byte below was acknowledged and released.
    start: u64,
    /// The write offset.
    end: u64,
    /// The first byte never sent: `[unsent, end)` is new data.
    unsent: u64,
    /// Acknowledged ranges above `start`.
    acked: RangeSet,
    /// Ranges declared lost and not acknowledged since, to send again (within
    /// `[start, unsent)`).
    lost: RangeSet,
}

impl SendBuffer {
    /// Appends a copy of `data`.
    pub(super) fn write(&mut self, data: &[u8]) {
        self.tail.extend_from_slice(data);
        self.end += data.len() as u64;
    }

    /// Appends `data` without copying it (unless it is small).
    pub(super) fn write_chunk(&mut self, data: Bytes) {
        if data.len() < COPY_BELOW {
            return self.write(&data);
        }
        if !self.tail.is_empty() {
            let copied = self.tail.split().freeze();
            self.chunks.push_back((self.tail_start, copied));
        }
        let len = data.len() as u64;
        self.chunks.push_back((self.end, data));
        self.end += len;
        self.tail_start = self.end;
    }

    /// Bytes held: from the lowest unacknowledged offset to the write offset.
    pub(super) fn buffered(&self) -> u64 {
        self.end - self.start
    }

    /// The write offset: bytes written so far.
    pub(super) fn end(&self) -> u64 {
        self.end
    }

    /// The highest offset sent: what a RESET_STREAM reports as the final size.
    pub(super) fn sent_end(&self) -> u64 {
        self.unsent
    }

    /// Whether some data was never sent.
    pub(super) fn has_unsent(&self) -> bool {
        self.unsent < self.end
    }

    /// Whether some data waits for retransmission.
    #[cfg(test)]
    pub(super) fn has_lost(&self) -> bool {
        !self.lost.is_empty()
    }

    /// Whether every byte written was acknowledged.
    pub(super) fn all_acked(&self) -> bool {
        self.start == self.end
    }

    /// What to send next: the lowest lost range (`true`: a retransmission, needing no credit),
    /// else up to `credit` bytes of new data; `None` if neither.
    pub(super) fn next_range(&self, credit: u64) -> Option<(Range<u64>, bool)> {
        if let Some(lost) = self.lost.peek_min() {
            return Some((lost, true));
        }
        let end = self.end.min(self.unsent.saturating_add(credit));
        (end > self.unsent).then_some((self.unsent..end, false))
    }

    /// Records that `range` (from [`next_range`](Self::next_range), possibly shortened) was
    /// put in a packet.
    pub(super) fn on_sent(&mut self, range: Range<u64>, retransmit: bool) {
        if retransmit {
            self.lost.remove(range);
        } else {
            self.unsent = self.unsent.max(range.end);
        }
    }

    /// Copies the bytes of `range` (which must be held) to `out`; returns how many it copied.
    pub(super) fn copy_range(&self, range: Range<u64>, out: &mut Vec<u8>) -> usize {
        let mut pos = range.start.max(self.start);
        let end = range.end.min(self.end);
        let mut copied = 0;
        while pos < end {
            let Some((chunk_start, bytes)) = self.chunk_at(pos) else {
                break;
            };
            let skip = usize::try_from(pos - chunk_start).unwrap_or(usize::MAX);
            let want = usize::try_from(end - pos).unwrap_or(usize::MAX);
            let Some(part) = bytes.get(skip..).map(|rest| &rest[..rest.len().min(want)]) else {
                break;
            };
            if part.is_empty() {
                break;
            }
            out.extend_from_slice(part);
            copied += part.len();
            pos += part.len() as u64;
        }
        debug_assert_eq!(
            copied as u64,
            range.end.saturating_sub(range.start),
            "not held"
        );
        copied
    }

    /// The chunk holding offset `pos`, with its start offset.
    fn chunk_at(&self, pos: u64) -> Option<(u64, &[u8])> {
        if pos >= self.tail_start {
            return Some((self.tail_start, &self.tail[..]));
        }
        let i = self
            .chunks
            .partition_point(|(offset, bytes)| offset + bytes.len() as u64 <= pos);
        self.chunks
            .get(i)
            .map(|(offset, bytes)| (*offset, &bytes[..]))
    }

    /// The peer acknowledged `range`: returns the bytes released (the acknowledged prefix).
    pub(super) fn on_acked(&mut self, range: Range<u64>) -> u64 {
        let range = range.start.max(self.start)..range.end.min(self.unsent);
        if range.is_empty() {
            return 0;
        }
        self.lost.remove(range.clone());
        self.acked.insert(range);
        let old_start = self.start;
        while let Some(first) = self.acked.peek_min()
            && first.start <= self.start
        {
            self.acked.pop_min();
            self.start = self.start.max(first.end);
        }
        // Lost ranges queued again although acknowledged through another packet (see
        // `on_lost`) may now be below `start`: only held data may be sent.
        self.lost.remove_below(self.start);
        self.release_below(self.start);
        self.start - old_start
    }

    /// `range` was declared lost: queue what of it is still unacknowledged for retransmission.
    ///
    /// Parts acknowledged out of order through another packet may be queued again; they are
    /// still held, so this costs a redundant retransmission at worst (and only when the same
    /// bytes were in flight twice).
    pub(super) fn on_lost(&mut self, range: Range<u64>) {
        let range = range.start.max(self.start)..range.end.min(self.unsent);
        if !range.is_empty() {
            self.lost.insert(range);
        }
    }

    /// Drops every byte (the stream was reset): returns the bytes released. The offsets stay,
    /// so [`sent_end`](Self::sent_end) still gives the final size.
    pub(super) fn discard(&mut self) -> u64 {
        let released = self.buffered();
        self.chunks.clear();
        self.tail = BytesMut::new();
        self.acked.clear();
        self.lost.clear();
        self.start = self.end;
        self.tail_start = self.end;
        released
    }

    fn release_below(&mut self, offset: u64) {
        while let Some((chunk_start, bytes)) = self.chunks.front_mut() {
            let chunk_end = *chunk_start + bytes.len() as u64;
            if chunk_end <= offset {
                self.chunks.pop_front();
            } else {
                if *chunk_start < offset {
                    bytes.advance(usize::try_from(offset - *chunk_start).unwrap_or(0));
                    *chunk_start = offset;
                }
                return;
            }
        }
        if offset > self.tail_start {
            let n = usize::try_from(offset - self.tail_start)
                .unwrap_or(usize::MAX)
                .min(self.tail.len());
            self.tail.advance(n);
            self.tail_start += n as u64;
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn sent_bytes(buf: &SendBuffer, range: Range<u64>) -> Vec<u8> {
        let mut out = Vec::new();
        buf.copy_range(range, &mut out);
        out
    }

    #[test]
    fn copies_across_copied_and_zero_copy_chunks() {
        let mut b = SendBuffer::default();
        b.write(b"hello ");
        let big = Bytes::from(vec![b'x'; 300]);
        b.write_chunk(big);
        b.write_chunk(Bytes::from_static(b" small")); // copied into the tail
        b.write(b"!");
        assert_eq!(b.end(), 6 + 300 + 6 + 1);
        assert_eq!(sent_bytes(&b, 3..9), b"lo xxx");
        assert_eq!(sent_bytes(&b, 304..312), b"xx small");
        assert_eq!(sent_bytes(&b, 312..313), b"!");
        assert_eq!(b.chunks.len(), 2);
    }

    #[test]
    fn new_data_respects_credit_and_lost_data_goes_first() {
        let mut b = SendBuffer::default();
        b.write(&[7; 100]);
        assert_eq!(b.next_range(0), None);
        assert_eq!(b.next_range(40), Some((0..40, false)));
        b.on_sent(0..40, false);
        b.on_sent(40..100, false);
        assert!(!b.has_unsent());
        b.on_lost(10..20);
        b.on_lost(50..60);
        assert_eq!(b.next_range(0), Some((10..20, true)));
        b.on_sent(10..15, true);
        assert_eq!(b.next_range(0), Some((15..20, true)));
        // An ack of lost data cancels its retransmission.
        b.on_acked(15..20);
        assert_eq!(b.next_range(0), Some((50..60, true)));
        assert_eq!(b.sent_end(), 100);
    }

    #[test]
    fn acked_prefix_is_released_promptly() {
        let mut b = SendBuffer::default();
        b.write(&[1; 1000]);
        b.write_chunk(Bytes::from(vec![2; 1000]));
        b.on_sent(0..2000, false);
        assert_eq!(
            b.on_acked(500..1500),
            0,
            "a hole at the start keeps everything"
        );
        assert_eq!(b.buffered(), 2000);
        assert_eq!(b.on_acked(0..500), 1500);
        assert_eq!(b.buffered(), 500);
        assert_eq!(b.tail.len(), 0);
        assert_eq!(sent_bytes(&b, 1500..1502), [2, 2]);
        assert_eq!(b.on_acked(0..2000), 500);
        assert!(b.all_acked() && b.chunks.is_empty());
        // Acks of unsent data are ignored.
        b.write(&[3; 10]);
        assert_eq!(b.on_acked(2000..2010), 0);
    }

    #[test]
    fn data_queued_again_after_an_ack_is_never_sent_below_the_acked_prefix() {
        let mut b = SendBuffer::default();
        b.write(&[1; 100]);
        b.on_sent(0..100, false);
        b.on_acked(50..100);
        // The same bytes were in flight twice; the other copy is declared lost.
        b.on_lost(0..100);
        assert_eq!(b.next_range(0), Some((0..100, true)));
        b.on_acked(0..50);
        assert!(b.all_acked());
        assert_eq!(b.next_range(0), None, "nothing below the acked prefix");
    }

    #[test]
    fn discard_keeps_offsets() {
        let mut b = SendBuffer::default();
        b.write(&[1; 100]);
        b.on_sent(0..60, false);
        b.on_lost(0..60);
        assert_eq!(b.discard(), 100);
        assert!(!b.has_lost() && b.all_acked());
        assert_eq!((b.sent_end(), b.end(), b.buffered()), (60, 100, 0));
    }

    proptest! {
        /// Whatever mix of copied and zero-copy writes, every range reads back what was
        /// written, and acknowledging everything in any order releases everything.
        #[test]
        fn ranges_read_back_and_acks_release(
            writes in proptest::collection::vec((1usize..700, any::<bool>()), 1..20),
            cuts in proptest::collection::vec(any::<u64>(), 0..20),
        ) {
            let mut b = SendBuffer::default();
            let mut model = Vec::new();
            for (i, (len, zero_copy)) in writes.into_iter().enumerate() {
                let data: Vec<u8> = (0..len).map(|k| (i * 31 + k) as u8).collect();
                model.extend_from_slice(&data);
                if zero_copy { b.write_chunk(Bytes::from(data)) } else { b.write(&data) }
            }
            let total = model.len() as u64;
            prop_assert_eq!(b.end(), total);
            let mut points: Vec<u64> = cuts.iter().map(|c| c % (total + 1)).collect();
            points.extend([0, total]);
            points.sort_unstable();
            points.dedup();
            b.on_sent(0..total, false);
            for w in points.windows(2) {
                let got = sent_bytes(&b, w[0]..w[1]);
                prop_assert_eq!(&got[..], &model[w[0] as usize..w[1] as usize]);
            }
            // Acknowledge the pieces in reverse order: nothing is released until the first.
            let mut released = 0;
            for w in points.windows(2).rev() {
                released += b.on_acked(w[0]..w[1]);
                let held = b.buffered();
                if held > 0 {
                    let got = sent_bytes(&b, total - held..total);
                    prop_assert_eq!(&got[..], &model[(total - held) as usize..]);
                }
            }
            prop_assert_eq!(released, total);
            prop_assert!(b.all_acked());
        }
    }
}
