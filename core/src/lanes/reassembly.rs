//! One message being put together from its fragments.
//!
//! A message that arrives in one fragment is kept as that fragment (zero-copy). A split one
//! gets one buffer of its full length at its first fragment — the length it claims is what
//! the receiver's limits are charged with, so a peer cannot make it hold more than it paid
//! for — and each fragment is copied into place; the byte ranges received are tracked, in a
//! bounded set.

use bytes::{Bytes, BytesMut};

use crate::range_set::RangeSet;

/// Most disjoint ranges a message under reassembly may have; a peer that scatters more
/// fragments is refused (it gains nothing from it but the receiver's work).
pub(super) const MAX_FRAGMENT_RANGES: usize = 64;

/// A fragment did not fit the message it claims to belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FragmentError {
    /// Its message length differs from the one the first fragment gave.
    LengthMismatch,
    /// The message is split into more pieces than [`MAX_FRAGMENT_RANGES`].
    TooFragmented,
}

#[derive(Debug)]
enum Body {
    /// Complete from a single fragment.
    Whole(Bytes),
    /// Being filled.
    Partial { buf: BytesMut, received: RangeSet },
    /// Complete after reassembly.
    Assembled(Bytes),
}

/// A message under reassembly, or complete.
#[derive(Debug)]
pub(super) struct Assembly {
    len: u64,
    body: Body,
}

impl Assembly {
    /// A message of `len` bytes, starting with the fragment `data` at `offset`.
    pub(super) fn new(len: u64, offset: u64, data: Bytes) -> Self {
        if offset == 0 && data.len() as u64 == len {
            return Self {
                len,
                body: Body::Whole(data),
            };
        }
        let mut buf = BytesMut::zeroed(usize::try_from(len).unwrap_or(usize::MAX));
        let mut received = RangeSet::with_max_ranges(MAX_FRAGMENT_RANGES + 1);
        copy_into(&mut buf, &mut received, offset, &data);
        Self {
            len,
            body: Body::Partial { buf, received },
        }
    }

    /// The message's length.
    pub(super) fn len(&self) -> u64 {
        self.len
    }

    /// Adds the fragment `data` at `offset` of a message of `len` bytes; returns whether it
    /// brought new bytes.
    pub(super) fn add(
        &mut self,
        len: u64,
        offset: u64,
        data: &Bytes,
    ) -> Result<bool, FragmentError> {
        if len != self.len {
            return Err(FragmentError::LengthMismatch);
        }
        let Body::Partial { buf, received } = &mut self.body else {
            return Ok(false);
        };
        let new = copy_into(buf, received, offset, data);
        if received.len() > MAX_FRAGMENT_RANGES {
            return Err(FragmentError::TooFragmented);
        }
        if received
            .peek_min()
            .is_some_and(|r| r.start == 0 && r.end >= self.len)
        {
            let done = std::mem::take(buf).freeze();
            self.body = Body::Assembled(done);
        }
        Ok(new)
    }

    /// Whether every byte arrived.
    pub(super) fn is_complete(&self) -> bool {
        !matches!(self.body, Body::Partial { .. })
    }

    /// The complete message (`None` while fragments are missing).
    pub(super) fn take(&mut self) -> Option<Bytes> {
        match &mut self.body {
            Body::Whole(b) | Body::Assembled(b) => Some(std::mem::take(b)),
            Body::Partial { .. } => None,
        }
    }
}

/// Copies `data` to `offset` of `buf`, recording the range; returns whether it was new.
fn copy_into(buf: &mut BytesMut, received: &mut RangeSet, offset: u64, data: &[u8]) -> bool {
    let Ok(start) = usize::try_from(offset) else {
        return false;
    };
    let end = start.saturating_add(data.len()).min(buf.len());
    let Some(dst) = buf.get_mut(start..end) else {
        return false;
    };
    dst.copy_from_slice(&data[..end - start]);
    received.insert(offset..offset + (end - start) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_whole_message_is_kept_as_it_came() {
        let data = Bytes::from_static(b"state");
        let mut a = Assembly::new(5, 0, data.clone());
        assert!(a.is_complete());
        let out = a.take().expect("complete");
        assert_eq!(out.as_ptr(), data.as_ptr(), "zero-copy");
    }

    #[test]
    fn fragments_in_any_order_with_duplicates_complete_the_message() {
        let msg: Vec<u8> = (0..100u8).collect();
        let frag = |r: std::ops::Range<usize>| Bytes::copy_from_slice(&msg[r]);
        let mut a = Assembly::new(100, 60, frag(60..100));
        assert!(!a.is_complete());
        assert_eq!(a.add(100, 0, &frag(0..30)), Ok(true));
        assert_eq!(a.add(100, 0, &frag(0..30)), Ok(false), "duplicate");
        assert_eq!(a.add(100, 20, &frag(20..60)), Ok(true));
        assert!(a.is_complete());
        assert_eq!(a.take().expect("complete"), Bytes::from(msg));
    }

    #[test]
    fn a_length_that_changes_is_refused() {
        let mut a = Assembly::new(10, 0, Bytes::from_static(b"abc"));
        assert_eq!(
            a.add(11, 3, &Bytes::from_static(b"d")),
            Err(FragmentError::LengthMismatch)
        );
    }

    #[test]
    fn scattered_fragments_beyond_the_bound_are_refused() {
        let mut a = Assembly::new(1000, 0, Bytes::from_static(b"x"));
        let mut result = Ok(true);
        for k in 1..=MAX_FRAGMENT_RANGES as u64 {
            result = a.add(1000, 2 * k, &Bytes::from_static(b"y"));
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(FragmentError::TooFragmented));
    }
}
