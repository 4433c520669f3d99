//! ACK frames (types `0x02`, `0x03`; RFC 9000 §19.3).
//!
//! ```text
//! type             0x02, or 0x03 with ECN counts
//! largest acked    varint
//! ack delay        varint, in units of 2^ack_delay_exponent µs (raw here; the connection scales)
//! range count      varint: number of (gap, range) pairs after the first range
//! first range      varint: packets acknowledged below `largest`
//! (gap, range)*    varints: gap = unacknowledged packets between ranges − 1, range = length − 1
//! ecn counts       3 varints (ECT(0), ECT(1), CE), type 0x03 only
//! ```
//!
//! Decoding validates every range (none may go below packet number 0, RFC 9000 §19.3.1) but keeps
//! the pairs as the wire bytes, so a frame with thousands of ranges costs no allocation;
//! [`Ack::iter`] then walks them and cannot fail. Encoding writes the newest ranges first and
//! drops the oldest ones to respect a size cap.

use std::ops::Range;

use bytes::{BufMut, Bytes};

use super::error::{DecodeError, DecodeErrorKind, Item};
use super::frame::FrameType;
use super::reader::Reader;
use super::varint::{VarInt, varint_size};
use crate::range_set::RangeSet;

/// ECN counts reported in an ACK frame of type `0x03` (RFC 9000 §19.3.2).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct EcnCounts {
    /// Packets received with the ECT(0) codepoint.
    pub ect0: u64,
    /// Packets received with the ECT(1) codepoint.
    pub ect1: u64,
    /// Packets received with the CE (congestion experienced) codepoint.
    pub ce: u64,
}

impl EcnCounts {
    fn encoded_len(&self) -> usize {
        varint_size(self.ect0) + varint_size(self.ect1) + varint_size(self.ce)
    }

    fn encode<B: BufMut>(&self, buf: &mut B) {
        for count in [self.ect0, self.ect1, self.ce] {
            VarInt::saturating_from_u64(count).encode(buf);
        }
    }
}

/// A decoded ACK frame.
///
/// Equality compares what the frame acknowledges (largest, delay, ranges, ECN counts), not how
/// its varints were encoded.
#[derive(Debug, Clone)]
pub struct Ack {
    largest: u64,
    delay: u64,
    first_range: u64,
    /// Validated (gap, range) pairs, as on the wire.
    pairs: Bytes,
    pair_count: u64,
    ecn: Option<EcnCounts>,
}

/// What [`Ack::encode`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AckEncodeInfo {
    /// Ranges written, the first one included (the newest ones; older ranges were dropped to
    /// respect the size cap).
    pub ranges: usize,
    /// Bytes written.
    pub len: usize,
    /// The lowest packet number the frame acknowledges.
    pub smallest: u64,
}

/// The size of a planned ACK frame.
struct Plan {
    largest: u64,
    delay: VarInt,
    first_range: u64,
    pairs: u64,
    len: usize,
    smallest: u64,
}

/// The (gap, range) pair that describes `lower` after the range starting at `prev_start`
/// (RFC 9000 §19.3.1); `None` if the ranges overlap, touch or are empty.
#[inline]
fn pair(prev_start: u64, lower: &Range<u64>) -> Option<(u64, u64)> {
    let gap = prev_start.checked_sub(lower.end)?.checked_sub(1)?;
    let len = lower.end.checked_sub(lower.start)?.checked_sub(1)?;
    Some((gap, len))
}

/// Plans an ACK frame over `ranges` (descending, disjoint, not adjacent) within `max_len` bytes.
fn plan(
    mut ranges: impl Iterator<Item = Range<u64>>,
    delay: u64,
    ecn: Option<&EcnCounts>,
    max_len: usize,
) -> Option<Plan> {
    let top = ranges.next()?;
    let largest = top.end.checked_sub(1)?;
    if largest > VarInt::MAX.into_inner() {
        return None;
    }
    let first_range = largest.checked_sub(top.start)?;
    let delay = VarInt::saturating_from_u64(delay);
    let fixed = 1
        + varint_size(largest)
        + delay.size()
        + varint_size(first_range)
        + ecn.map_or(0, EcnCounts::encoded_len);
    let mut len = fixed + varint_size(0);
    if len > max_len {
        return None;
    }
    let (mut pairs, mut body, mut smallest) = (0u64, 0usize, top.start);
    for lower in ranges {
        let Some((gap, range)) = pair(smallest, &lower) else {
            break;
        };
        let added = varint_size(gap) + varint_size(range);
        let candidate = fixed + varint_size(pairs + 1) + body + added;
        if candidate > max_len {
            break;
        }
        pairs += 1;
        body += added;
        len = candidate;
        smallest = lower.start;
    }
    Some(Plan {
        largest,
        delay,
        first_range,
        pairs,
        len,
        smallest,
    })
}

/// Writes the frame `plan` describes, taking the ranges again from `ranges`.
fn write<B: BufMut>(
    plan: &Plan,
    mut ranges: impl Iterator<Item = Range<u64>>,
    ecn: Option<&EcnCounts>,
    buf: &mut B,
) {
    let ty = if ecn.is_some() {
        FrameType::ACK_ECN
    } else {
        FrameType::ACK
    };
    buf.put_u8(ty.value() as u8);
    // All below 2^62: `largest` was checked and the rest are smaller.
    let put = |buf: &mut B, x: u64| VarInt::saturating_from_u64(x).encode(buf);
    put(buf, plan.largest);
    plan.delay.encode(buf);
    put(buf, plan.pairs);
    put(buf, plan.first_range);
    let mut prev_start = ranges.next().map_or(0, |top| top.start);
    for lower in ranges.take(usize::try_from(plan.pairs).unwrap_or(usize::MAX)) {
        let Some((gap, range)) = pair(prev_start, &lower) else {
            break;
        };
        put(buf, gap);
        put(buf, range);
        prev_start = lower.start;
    }
    if let Some(ecn) = ecn {
        ecn.encode(buf);
    }
}

impl Ack {
    /// Writes an ACK frame for `ranges`, newest ranges first, in at most `max_len` bytes:
    /// older ranges that do not fit are left out. `delay` is the raw ack-delay field (already
    /// scaled by the ack-delay exponent; clamped to 2^62 − 1). Returns `None`, writing nothing,
    /// when `ranges` is empty, its largest value exceeds 2^62 − 1, or not even the newest range
    /// fits in `max_len`.
    pub fn encode<B: BufMut>(
        ranges: &RangeSet,
        delay: u64,
        ecn: Option<&EcnCounts>,
        max_len: usize,
        buf: &mut B,
    ) -> Option<AckEncodeInfo> {
        let plan = plan(ranges.iter().rev(), delay, ecn, max_len)?;
        write(&plan, ranges.iter().rev(), ecn, buf);
        Some(AckEncodeInfo {
            ranges: usize::try_from(plan.pairs)
                .unwrap_or(usize::MAX)
                .saturating_add(1),
            len: plan.len,
            smallest: plan.smallest,
        })
    }

    /// The largest packet number acknowledged.
    pub fn largest(&self) -> u64 {
        self.largest
    }

    /// The raw ack-delay field (multiply by 2^ack_delay_exponent for microseconds).
    pub fn delay(&self) -> u64 {
        self.delay
    }

    /// The ECN counts, for type `0x03`.
    pub fn ecn(&self) -> Option<&EcnCounts> {
        self.ecn.as_ref()
    }

    /// Number of acknowledged ranges (at least 1).
    pub fn range_count(&self) -> u64 {
        self.pair_count.saturating_add(1)
    }

    /// The acknowledged packet numbers as half-open ranges `start..end`, highest first.
    pub fn iter(&self) -> AckIter<'_> {
        AckIter {
            pairs: &self.pairs,
            next: Some(self.largest.saturating_sub(self.first_range)..self.largest + 1),
        }
    }

    /// Bytes [`write`](Self::write) writes.
    pub fn encoded_len(&self) -> usize {
        plan(self.iter(), self.delay, self.ecn.as_ref(), usize::MAX).map_or(0, |p| p.len)
    }

    /// Writes this frame again (minimal varints; same ranges, delay and ECN counts).
    pub fn write<B: BufMut>(&self, buf: &mut B) {
        if let Some(plan) = plan(self.iter(), self.delay, self.ecn.as_ref(), usize::MAX) {
            write(&plan, self.iter(), self.ecn.as_ref(), buf);
        }
    }

    /// Decodes the body of an ACK frame of type `ty` from `r`, which reads `src`.
    pub(crate) fn decode(
        ty: FrameType,
        r: &mut Reader<'_>,
        src: &Bytes,
    ) -> Result<Self, DecodeError> {
        let largest = r.varint()?.into_inner();
        let delay = r.varint()?.into_inner();
        let pair_count = r.varint()?.into_inner();
        let first_at = r.offset();
        let first_range = r.varint()?.into_inner();
        let mut smallest = largest
            .checked_sub(first_range)
            .ok_or(DecodeError::new(first_at, DecodeErrorKind::InvalidAckRange))?;
        // Each pair takes at least two bytes: reject an impossible count before walking.
        let max_pairs = r.remaining() / 2;
        if usize::try_from(pair_count).map_or(true, |n| n > max_pairs) {
            return Err(r.error(DecodeErrorKind::UnexpectedEnd {
                what: Item::AckRanges,
                needed: usize::try_from(pair_count)
                    .unwrap_or(usize::MAX)
                    .saturating_mul(2),
                available: r.remaining(),
            }));
        }
        let start = r.position();
        for _ in 0..pair_count {
            let gap_at = r.offset();
            let gap = r.varint()?.into_inner();
            let next_largest = smallest
                .checked_sub(gap)
                .and_then(|x| x.checked_sub(2))
                .ok_or(DecodeError::new(gap_at, DecodeErrorKind::InvalidAckRange))?;
            let range_at = r.offset();
            let range = r.varint()?.into_inner();
            smallest = next_largest
                .checked_sub(range)
                .ok_or(DecodeError::new(range_at, DecodeErrorKind::InvalidAckRange))?;
        }
        let pairs = src.slice(start..r.position());
        let ecn = if ty == FrameType::ACK_ECN {
            Some(EcnCounts {
                ect0: r.varint()?.into_inner(),
                ect1: r.varint()?.into_inner(),
                ce: r.varint()?.into_inner(),
            })
        } else {
            None
        };
        Ok(Self {
            largest,
            delay,
            first_range,
            pairs,
            pair_count,
            ecn,
        })
    }
}

impl PartialEq for Ack {
    fn eq(&self, other: &Self) -> bool {
        self.largest == other.largest
            && self.delay == other.delay
            && self.ecn == other.ecn
            && self.iter().eq(other.iter())
    }
}

impl Eq for Ack {}

impl<'a> IntoIterator for &'a Ack {
    type Item = Range<u64>;
    type IntoIter = AckIter<'a>;
    fn into_iter(self) -> AckIter<'a> {
        self.iter()
    }
}

/// The ranges of an [`Ack`], highest first, as half-open `start..end`.
#[derive(Debug, Clone)]
pub struct AckIter<'a> {
    pairs: &'a [u8],
    next: Option<Range<u64>>,
}

impl AckIter<'_> {
    fn read(&mut self) -> Option<u64> {
        let (v, n) = VarInt::decode_prefix(self.pairs).ok()?;
        self.pairs = self.pairs.get(n..)?;
        Some(v.into_inner())
    }
}

impl Iterator for AckIter<'_> {
    type Item = Range<u64>;

    fn next(&mut self) -> Option<Range<u64>> {
        let current = self.next.take()?;
        // Decoding validated every pair, so none of these can fail; if one did, the iteration
        // would simply end.
        if !self.pairs.is_empty()
            && let (Some(gap), Some(range)) = (self.read(), self.read())
            && let Some(largest) = current
                .start
                .checked_sub(gap)
                .and_then(|x| x.checked_sub(2))
            && let Some(smallest) = largest.checked_sub(range)
        {
            self.next = Some(smallest..largest + 1);
        }
        Some(current)
    }
}

#[cfg(test)]
mod tests;
