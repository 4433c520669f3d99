//! What a connection remembers of the streams whose state it released.
//!
//! Once both halves of a stream are done the stream's state is released (its buffers and
//! windows go), but the application may still hold the stream: a `write` after the peer's
//! STOP_SENDING must keep failing with the peer's code, a `read` after a clean end must keep
//! reporting the end, a read after the peer's reset must keep its code. Without a record, all
//! of these would look like a stream the connection never heard of.
//!
//! ## Why ranges
//!
//! Stream IDs of one kind are opened in order and most streams end the same way (cleanly), so
//! the record is a map per kind from ranges of stream indices to one outcome: a thousand
//! streams finished in turn are one entry, and a peer that opens and stops a thousand streams
//! with one code is one entry too. Only a change of outcome between neighbours costs an entry.
//! The entries are bounded ([`StreamsConfig::closed_stream_ranges`]): beyond the bound the
//! lowest range of the kind with the most ranges (its oldest streams) is forgotten, and those
//! streams answer as unknown ([`ClosedStream`](super::ClosedStream)) — never as ended cleanly,
//! so a forgotten reset is never mistaken for a complete stream.
//!
//! [`StreamsConfig::closed_stream_ranges`]: super::StreamsConfig::closed_stream_ranges

use std::collections::BTreeMap;

use super::{Dir, Side, StreamId};
use crate::wire::VarInt;

/// How our sending half of a stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SendOutcome {
    /// Everything, the end included, was acknowledged.
    Finished,
    /// We reset it with this code.
    Reset(VarInt),
    /// The peer stopped it (STOP_SENDING) with this code, and we reset it in answer.
    Stopped(VarInt),
}

/// How our receiving half of a stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RecvOutcome {
    /// The application read to the end.
    Finished,
    /// The peer reset it with this code, and the application was told.
    Reset(VarInt),
    /// The application stopped reading.
    Stopped,
}

/// How a released stream ended: one outcome per half it had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Outcome {
    /// Our sending half (`None` on the peer's unidirectional streams).
    pub(super) send: Option<SendOutcome>,
    /// Our receiving half (`None` on our unidirectional streams).
    pub(super) recv: Option<RecvOutcome>,
}

impl Outcome {
    /// Whether either half was abandoned (reset or stopped by either end).
    pub(super) fn is_reset(&self) -> bool {
        !matches!(self.send, None | Some(SendOutcome::Finished))
            || !matches!(self.recv, None | Some(RecvOutcome::Finished))
    }
}

/// One range of stream indices of a kind with one outcome.
#[derive(Debug, Clone, Copy)]
struct Range {
    /// One past the last index.
    end: u64,
    outcome: Outcome,
}

/// The outcomes of released streams, by kind, as ranges (see the module docs).
#[derive(Debug)]
pub(super) struct ClosedStreams {
    /// Per kind (initiator × direction), ranges keyed by their first index.
    kinds: [BTreeMap<u64, Range>; 4],
    /// Most ranges over all kinds.
    limit: usize,
    /// Ranges forgotten at the bound.
    forgotten: u64,
}

fn kind(id: StreamId) -> usize {
    usize::from(id.initiator() == Side::Server) | (usize::from(id.dir() == Dir::Uni) << 1)
}

impl ClosedStreams {
    /// An empty record keeping at most `limit` ranges (at least one).
    pub(super) fn new(limit: usize) -> Self {
        Self {
            kinds: Default::default(),
            limit: limit.max(1),
            forgotten: 0,
        }
    }

    /// The outcome of the released stream `id`, if remembered.
    pub(super) fn get(&self, id: StreamId) -> Option<Outcome> {
        let index = id.index();
        let (_, range) = self.kinds[kind(id)].range(..=index).next_back()?;
        (index < range.end).then_some(range.outcome)
    }

    /// Ranges held now (for tests and the bound).
    pub(super) fn ranges(&self) -> usize {
        self.kinds.iter().map(BTreeMap::len).sum()
    }

    /// Ranges forgotten at the bound so far.
    #[cfg(test)]
    pub(super) fn forgotten(&self) -> u64 {
        self.forgotten
    }

    /// Records that stream `id` was released with `outcome` (each stream is released once;
    /// a second record for one stream is ignored).
    pub(super) fn insert(&mut self, id: StreamId, outcome: Outcome) {
        let index = id.index();
        let map = &mut self.kinds[kind(id)];
        let before = map
            .range_mut(..=index)
            .next_back()
            .map(|(&start, range)| (start, range));
        let mut merged_into = None;
        if let Some((start, range)) = before {
            if index < range.end {
                return;
            }
            if range.end == index && range.outcome == outcome {
                range.end = index + 1;
                merged_into = Some(start);
            }
        }
        let after = index
            .checked_add(1)
            .and_then(|next| map.get(&next).copied().map(|r| (next, r)))
            .filter(|(_, r)| r.outcome == outcome);
        match (merged_into, after) {
            (Some(start), Some((next, following))) => {
                map.remove(&next);
                if let Some(range) = map.get_mut(&start) {
                    range.end = following.end;
                }
            }
            (Some(_), None) => {}
            (None, Some((next, following))) => {
                map.remove(&next);
                map.insert(index, following);
            }
            (None, None) => {
                map.insert(
                    index,
                    Range {
                        end: index + 1,
                        outcome,
                    },
                );
            }
        }
        while self.ranges() > self.limit {
            self.forget_oldest();
        }
    }

    /// Forgets the lowest range of the kind that holds the most.
    fn forget_oldest(&mut self) {
        let fullest = self
            .kinds
            .iter_mut()
            .max_by_key(|map| map.len())
            .filter(|map| !map.is_empty());
        if let Some(map) = fullest {
            map.pop_first();
            self.forgotten += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLEAN: Outcome = Outcome {
        send: Some(SendOutcome::Finished),
        recv: Some(RecvOutcome::Finished),
    };

    fn stopped(code: u32) -> Outcome {
        Outcome {
            send: Some(SendOutcome::Stopped(VarInt::from_u32(code))),
            recv: Some(RecvOutcome::Finished),
        }
    }

    fn id(side: Side, dir: Dir, index: u64) -> StreamId {
        StreamId::new(side, dir, index).expect("valid index")
    }

    #[test]
    fn neighbours_with_one_outcome_share_a_range() {
        let mut closed = ClosedStreams::new(8);
        let bi = |i| id(Side::Client, Dir::Bi, i);
        // Released out of order: 0, 2, then 1 joins them.
        closed.insert(bi(0), CLEAN);
        closed.insert(bi(2), CLEAN);
        assert_eq!(closed.ranges(), 2);
        closed.insert(bi(1), CLEAN);
        assert_eq!(closed.ranges(), 1, "0..3 is one range");
        // 4 joins nothing (3 is still open), then 3 with another outcome splits them.
        closed.insert(bi(4), CLEAN);
        closed.insert(bi(3), stopped(7));
        assert_eq!(closed.ranges(), 3);
        assert_eq!(closed.get(bi(1)), Some(CLEAN));
        assert_eq!(closed.get(bi(3)), Some(stopped(7)));
        assert_eq!(closed.get(bi(4)), Some(CLEAN));
        assert_eq!(closed.get(bi(5)), None, "never released");
        // The other kinds are apart.
        assert_eq!(closed.get(id(Side::Server, Dir::Bi, 1)), None);
        assert_eq!(closed.get(id(Side::Client, Dir::Uni, 1)), None);
        // A second record for a stream changes nothing.
        closed.insert(bi(3), CLEAN);
        assert_eq!(closed.get(bi(3)), Some(stopped(7)));
    }

    #[test]
    fn a_flood_of_stopped_streams_stays_within_the_bound() {
        let mut closed = ClosedStreams::new(16);
        let peer = |i| id(Side::Server, Dir::Bi, i);
        // One code for every stream: one range however many.
        for i in 0..100_000 {
            closed.insert(peer(i), stopped(3));
        }
        assert_eq!(closed.ranges(), 1);
        assert_eq!(closed.get(peer(99_999)), Some(stopped(3)));
        // A code per stream: the bound holds and the newest are remembered.
        for i in 100_000..200_000 {
            closed.insert(peer(i), stopped(u32::try_from(i).expect("small")));
            assert!(closed.ranges() <= 16);
        }
        assert_eq!(closed.get(peer(199_999)), Some(stopped(199_999)));
        assert_eq!(closed.get(peer(99_999)), None, "the oldest are forgotten");
        assert_eq!(closed.forgotten(), 100_000 - 15);
    }

    #[test]
    fn the_fullest_kind_gives_way() {
        let mut closed = ClosedStreams::new(4);
        let mine = id(Side::Client, Dir::Uni, 0);
        closed.insert(mine, CLEAN);
        for i in 0..10 {
            closed.insert(id(Side::Server, Dir::Bi, i), stopped(10 + i as u32));
        }
        assert_eq!(closed.ranges(), 4);
        assert_eq!(
            closed.get(mine),
            Some(CLEAN),
            "a quiet kind keeps its record"
        );
    }
}
