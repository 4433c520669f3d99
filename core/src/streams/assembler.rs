//! Out-of-order reassembly of one stream's received data.
//!
//! Received chunks are kept sorted and disjoint: a new chunk is trimmed against what is already
//! held (overlaps and duplicates are dropped, the first copy wins) and only its new parts are
//! stored. Reads hand out the chunk at the read offset as a zero-copy `Bytes`.
//!
//! ## Memory policy
//!
//! A stored slice keeps its whole datagram alive, so a peer sending many tiny frames could pin
//! far more memory than the flow-control window it uses. Three rules bound that:
//!
//! 1. Pieces of at least [`SMALL`] bytes stay zero-copy: each pins at most one datagram for at
//!    least `SMALL` bytes of window (≈ 3× with 1500-byte datagrams).
//! 2. Smaller pieces are copied, and merged with a contiguous small neighbour, so that no two
//!    adjacent stored chunks are both small: a run of `n` bytes is held in at most
//!    `2n / SMALL + 1` chunks, whatever the order of arrival.
//! 3. The number of disjoint received ranges (gaps + 1) is bounded by the caller's
//!    `max_ranges`; beyond it [`insert`](Assembler::insert) fails and the connection closes.
//!    Dropping data instead would be wrong: it arrived in a packet we acknowledge, so the peer
//!    would never send it again.
//!
//! Costs: in-order arrival is O(1) (append); out-of-order arrival is O(log n) to find the place
//! plus a bounded move in the deque (as in [`RangeSet`]); merging copies less than 3 × `SMALL`
//! bytes.

use std::collections::VecDeque;

use bytes::{Buf, Bytes, BytesMut};

use crate::range_set::RangeSet;

/// Pieces shorter than this are copied (see the [module docs](self)).
pub(super) const SMALL: usize = 512;

/// The peer fragmented a stream beyond the configured bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct TooFragmented {
    /// Disjoint received ranges the stream would hold.
    pub(super) ranges: usize,
}

/// One stream's reassembly buffer (see the [module docs](self)).
#[derive(Debug, Default)]
pub(super) struct Assembler {
    /// Sorted, disjoint chunks at or above `read`, each with its offset.
    chunks: VecDeque<(u64, Bytes)>,
    /// The next offset to deliver.
    read: u64,
    /// Bytes held in `chunks`.
    buffered: u64,
    /// Every range received so far (read or not).
    received: RangeSet,
}

impl Assembler {
    /// Stores `data`, received at `offset`. Fails when the stream would hold more than
    /// `max_ranges` disjoint ranges; the connection then closes, and the assembler's state is
    /// no longer meaningful.
    pub(super) fn insert(
        &mut self,
        offset: u64,
        mut data: Bytes,
        max_ranges: usize,
    ) -> Result<(), TooFragmented> {
        let end = offset.saturating_add(data.len() as u64);
        if end <= self.read || !self.received.insert(offset..end) {
            return Ok(()); // nothing new
        }
        if self.received.len() > max_ranges {
            return Err(TooFragmented {
                ranges: self.received.len(),
            });
        }
        let mut offset = offset;
        if offset < self.read {
            data.advance(usize::try_from(self.read - offset).unwrap_or(usize::MAX));
            offset = self.read;
        }
        let mut i = self
            .chunks
            .partition_point(|(start, bytes)| start + bytes.len() as u64 <= offset);
        while !data.is_empty() {
            let next = self
                .chunks
                .get(i)
                .map(|(start, bytes)| (*start, start + bytes.len() as u64));
            match next {
                // Held already: skip it.
                Some((start, end)) if start <= offset => {
                    let skip = (end - offset).min(data.len() as u64);
                    data.advance(skip as usize);
                    offset += skip;
                    i += 1;
                }
                // A gap up to the next chunk: store that part; the loop then skips it.
                _ => {
                    let gap_end = next.map_or(u64::MAX, |(start, _)| start);
                    let take = (gap_end - offset).min(data.len() as u64) as usize;
                    i = self.place(i, offset, data.slice(..take));
                }
            }
        }
        Ok(())
    }

    /// Stores `piece` at `offset` in the gap before chunk `i`; returns the index of the chunk
    /// that now holds it.
    fn place(&mut self, i: usize, offset: u64, piece: Bytes) -> usize {
        let len = piece.len();
        self.buffered += len as u64;
        if len >= SMALL {
            self.chunks.insert(i, (offset, piece));
            return i;
        }
        let small_at = |chunks: &VecDeque<(u64, Bytes)>, k: usize| {
            chunks
                .get(k)
                .filter(|(_, bytes)| bytes.len() < SMALL)
                .map(|(start, bytes)| (*start, start + bytes.len() as u64))
        };
        let prev = i
            .checked_sub(1)
            .and_then(|k| small_at(&self.chunks, k))
            .filter(|&(_, end)| end == offset);
        let next = small_at(&self.chunks, i).filter(|&(start, _)| start == offset + len as u64);
        let take_bytes = |chunks: &mut VecDeque<(u64, Bytes)>, k: usize| {
            chunks
                .get_mut(k)
                .map(|(_, bytes)| std::mem::take(bytes))
                .unwrap_or_default()
        };
        match (prev, next) {
            (Some(_), Some(_)) => {
                let before = take_bytes(&mut self.chunks, i - 1);
                let after = take_bytes(&mut self.chunks, i);
                self.chunks.remove(i);
                self.set(i - 1, concat(&[&before, &piece, &after]));
                i - 1
            }
            (Some(_), None) => {
                let before = take_bytes(&mut self.chunks, i - 1);
                self.set(i - 1, concat(&[&before, &piece]));
                i - 1
            }
            (None, Some(_)) => {
                let after = take_bytes(&mut self.chunks, i);
                if let Some(slot) = self.chunks.get_mut(i) {
                    *slot = (offset, concat(&[&piece, &after]));
                }
                i
            }
            (None, None) => {
                self.chunks.insert(i, (offset, concat(&[&piece])));
                i
            }
        }
    }

    fn set(&mut self, k: usize, bytes: Bytes) {
        if let Some((_, slot)) = self.chunks.get_mut(k) {
            *slot = bytes;
        }
    }

    /// Takes up to `max_len` bytes at the read offset, if any are there.
    pub(super) fn read(&mut self, max_len: usize) -> Option<Bytes> {
        let (start, bytes) = self.chunks.front_mut()?;
        if *start != self.read {
            return None;
        }
        let n = max_len.min(bytes.len());
        let out = if n == bytes.len() {
            self.chunks.pop_front()?.1
        } else {
            *start += n as u64;
            bytes.split_to(n)
        };
        self.read += n as u64;
        self.buffered -= n as u64;
        Some(out)
    }

    /// Whether data waits at the read offset.
    pub(super) fn has_readable(&self) -> bool {
        self.chunks
            .front()
            .is_some_and(|(start, _)| *start == self.read)
    }

    /// The next offset to deliver (bytes read so far).
    pub(super) fn read_offset(&self) -> u64 {
        self.read
    }

    /// Bytes held.
    pub(super) fn buffered(&self) -> u64 {
        self.buffered
    }

    /// The end of the data received without a gap from offset 0.
    pub(super) fn contiguous_end(&self) -> u64 {
        match self.received.peek_min() {
            Some(first) if first.start == 0 => first.end,
            _ => 0,
        }
    }

    /// Disjoint ranges received.
    pub(super) fn ranges(&self) -> usize {
        self.received.len()
    }

    /// Chunks held (for the memory-bound tests).
    #[cfg(test)]
    pub(super) fn chunks(&self) -> usize {
        self.chunks.len()
    }

    /// Drops everything held and stops tracking received ranges (the stream was reset or
    /// stopped); returns the bytes dropped.
    pub(super) fn discard(&mut self) -> u64 {
        let dropped = self.buffered;
        self.chunks = VecDeque::new();
        self.received = RangeSet::new();
        self.buffered = 0;
        dropped
    }
}

/// One new buffer holding `parts` back to back.
fn concat(parts: &[&Bytes]) -> Bytes {
    let len = parts.iter().map(|p| p.len()).sum();
    let mut out = BytesMut::with_capacity(len);
    for part in parts {
        out.extend_from_slice(part);
    }
    out.freeze()
}
