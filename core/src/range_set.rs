//! A bounded set of disjoint integer ranges.
//!
//! [`RangeSet`] keeps `u64` values as sorted, disjoint, non-adjacent half-open ranges, merging
//! ranges as they meet. It tracks received packet numbers for acknowledgements (and will track
//! received stream offsets for reassembly). An optional bound on the number of ranges keeps
//! the memory a peer can make it use fixed: when exceeded, the *lowest* ranges are dropped,
//! which is what ACK tracking wants — the oldest packets were acknowledged many times already
//! and the newest ranges are the ones the peer needs (RFC 9000 §13.2.3).
//!
//! ## Representation
//!
//! A sorted `VecDeque<Range<u64>>`. The common cases are: very few ranges (no loss, or a
//! handful of gaps), inserting at or just above the maximum (packets arrive mostly in order),
//! and dropping from the bottom (acknowledged-and-forgotten packets, consumed stream data).
//! A deque makes those O(1) — append at the back, pop at the front — with binary search for the
//! rest and the ranges in one contiguous, cache-friendly buffer that is reused rather than
//! reallocated. Inserting in the middle costs O(n) moves, which the bound keeps small; a
//! `BTreeMap` would be O(log n) there but allocate a node per range and be slower for the
//! common cases.

use std::collections::VecDeque;
use std::collections::vec_deque;
use std::iter::FusedIterator;
use std::ops::Range;

/// A set of `u64` values stored as sorted, disjoint, non-adjacent half-open ranges, with an
/// optional bound on the number of ranges (see the [module docs](self)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeSet {
    /// Invariant: every range is non-empty; `ranges[k].end < ranges[k + 1].start`.
    ranges: VecDeque<Range<u64>>,
    max_ranges: usize,
}

impl Default for RangeSet {
    fn default() -> Self {
        Self::new()
    }
}

impl RangeSet {
    /// An empty, unbounded set.
    pub fn new() -> Self {
        Self {
            ranges: VecDeque::new(),
            max_ranges: usize::MAX,
        }
    }

    /// An empty set that keeps at most `max_ranges` ranges (at least 1), dropping the lowest
    /// ranges when an insertion or removal would exceed it.
    pub fn with_max_ranges(max_ranges: usize) -> Self {
        Self {
            ranges: VecDeque::new(),
            max_ranges: max_ranges.max(1),
        }
    }

    /// The bound on the number of ranges (`usize::MAX` when unbounded).
    pub fn max_ranges(&self) -> usize {
        self.max_ranges
    }

    /// Number of ranges (not values).
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    /// Whether the set holds no value.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Removes every value.
    pub fn clear(&mut self) {
        self.ranges.clear();
    }

    /// The smallest value.
    pub fn min(&self) -> Option<u64> {
        self.ranges.front().map(|r| r.start)
    }

    /// The largest value.
    pub fn max(&self) -> Option<u64> {
        self.ranges.back().map(|r| r.end - 1)
    }

    /// The lowest range.
    pub fn peek_min(&self) -> Option<Range<u64>> {
        self.ranges.front().cloned()
    }

    /// The highest range.
    pub fn peek_max(&self) -> Option<Range<u64>> {
        self.ranges.back().cloned()
    }

    /// Removes and returns the lowest range.
    pub fn pop_min(&mut self) -> Option<Range<u64>> {
        self.ranges.pop_front()
    }

    /// Whether `value` is in the set.
    pub fn contains(&self, value: u64) -> bool {
        // Fast path: the newest range answers for the common case (the next packet number).
        match self.ranges.back() {
            None => return false,
            Some(last) if value >= last.end => return false,
            Some(last) if value >= last.start => return true,
            Some(_) => {}
        }
        let i = self.ranges.partition_point(|r| r.end <= value);
        self.ranges.get(i).is_some_and(|r| r.start <= value)
    }

    /// The range that holds `value`, if any.
    pub fn range_containing(&self, value: u64) -> Option<Range<u64>> {
        let i = self.ranges.partition_point(|r| r.end <= value);
        self.ranges.get(i).filter(|r| r.start <= value).cloned()
    }

    /// Inserts one value; returns whether it was new (see [`insert`](Self::insert)).
    pub fn insert_one(&mut self, value: u64) -> bool {
        match value.checked_add(1) {
            Some(end) => self.insert(value..end),
            // u64::MAX cannot be represented in a half-open range.
            None => false,
        }
    }

    /// Inserts every value of `range`; returns whether the set gained a value it did not hold.
    ///
    /// With a bound, a range that ends up as the lowest one and is then dropped to respect the
    /// bound gained nothing, and the call returns `false`.
    pub fn insert(&mut self, range: Range<u64>) -> bool {
        if range.is_empty() {
            return false;
        }
        // Fast paths: strictly above the maximum, or extending it.
        if let Some(last) = self.ranges.back_mut() {
            if range.start > last.end {
                self.ranges.push_back(range);
                return self.enforce_bound(self.ranges.len() - 1);
            }
            if range.start >= last.start {
                let grew = range.end > last.end;
                last.end = last.end.max(range.end);
                return grew;
            }
        } else {
            self.ranges.push_back(range);
            return true;
        }
        // Ranges in i..j overlap or touch `range`.
        let i = self.ranges.partition_point(|r| r.end < range.start);
        let j = self.ranges.partition_point(|r| r.start <= range.end);
        if i >= j {
            self.ranges.insert(i, range);
            return self.enforce_bound(i);
        }
        let (Some(first), Some(last)) = (self.ranges.get(i), self.ranges.get(j - 1)) else {
            return false;
        };
        let merged = first.start.min(range.start)..last.end.max(range.end);
        let covered = j == i + 1 && first.start <= range.start && range.end <= first.end;
        if covered {
            return false;
        }
        if let Some(slot) = self.ranges.get_mut(i) {
            *slot = merged;
        }
        self.ranges.drain(i + 1..j);
        true
    }

    /// Drops the lowest ranges while over the bound; returns `false` if the range at `index`
    /// (the one just changed) was among those dropped.
    fn enforce_bound(&mut self, index: usize) -> bool {
        let excess = self.ranges.len().saturating_sub(self.max_ranges);
        self.ranges.drain(..excess);
        index >= excess
    }

    /// Removes every value of `range`; returns whether any was present.
    pub fn remove(&mut self, range: Range<u64>) -> bool {
        if range.is_empty() {
            return false;
        }
        let i = self.ranges.partition_point(|r| r.end <= range.start);
        let j = self.ranges.partition_point(|r| r.start < range.end);
        if i >= j {
            return false;
        }
        let (Some(first), Some(last)) = (self.ranges.get(i), self.ranges.get(j - 1)) else {
            return false;
        };
        let left = first.start..range.start;
        let right = range.end..last.end;
        self.ranges.drain(i..j);
        if !right.is_empty() {
            self.ranges.insert(i, right);
        }
        if !left.is_empty() {
            self.ranges.insert(i, left);
        }
        // A split can add a range.
        self.enforce_bound(usize::MAX);
        true
    }

    /// Removes every value below `value`.
    pub fn remove_below(&mut self, value: u64) {
        while let Some(front) = self.ranges.front_mut() {
            if front.end <= value {
                self.ranges.pop_front();
            } else {
                front.start = front.start.max(value);
                break;
            }
        }
    }

    /// The ranges in ascending order; `.rev()` gives them highest first.
    pub fn iter(&self) -> Iter<'_> {
        Iter(self.ranges.iter())
    }

    /// The ranges, highest first.
    pub fn iter_descending(&self) -> std::iter::Rev<Iter<'_>> {
        self.iter().rev()
    }
}

impl<'a> IntoIterator for &'a RangeSet {
    type Item = Range<u64>;
    type IntoIter = Iter<'a>;
    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

/// The ranges of a [`RangeSet`], ascending (double-ended: `.rev()` for descending).
#[derive(Debug, Clone)]
pub struct Iter<'a>(vec_deque::Iter<'a, Range<u64>>);

impl Iterator for Iter<'_> {
    type Item = Range<u64>;
    #[inline]
    fn next(&mut self) -> Option<Range<u64>> {
        self.0.next().cloned()
    }
    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl DoubleEndedIterator for Iter<'_> {
    #[inline]
    fn next_back(&mut self) -> Option<Range<u64>> {
        self.0.next_back().cloned()
    }
}

impl ExactSizeIterator for Iter<'_> {}
impl FusedIterator for Iter<'_> {}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;

    fn ranges(set: &RangeSet) -> Vec<Range<u64>> {
        set.iter().collect()
    }

    /// The model's values as maximal ranges.
    fn model_ranges(model: &BTreeSet<u64>) -> Vec<Range<u64>> {
        let mut out: Vec<Range<u64>> = Vec::new();
        for &v in model {
            match out.last_mut() {
                Some(last) if last.end == v => last.end = v + 1,
                _ => out.push(v..v + 1),
            }
        }
        out
    }

    /// Applies the bound to the model the way the set does: drop the lowest ranges.
    fn bound_model(model: &mut BTreeSet<u64>, max: usize) {
        let rs = model_ranges(model);
        for r in rs.iter().take(rs.len().saturating_sub(max)) {
            for v in r.clone() {
                model.remove(&v);
            }
        }
    }

    fn check_invariants(set: &RangeSet) {
        let rs = ranges(set);
        for r in &rs {
            assert!(r.start < r.end, "empty range in {rs:?}");
        }
        for w in rs.windows(2) {
            assert!(w[0].end < w[1].start, "unsorted/adjacent {rs:?}");
        }
        assert!(set.len() <= set.max_ranges());
    }

    #[test]
    fn coalesces_and_reports_news() {
        let mut s = RangeSet::new();
        assert!(s.insert(5..10));
        assert!(!s.insert(6..8));
        assert!(s.insert(10..12)); // adjacent above: extends
        assert!(s.insert(0..2));
        assert!(s.insert(3..4));
        assert_eq!(ranges(&s), [0..2, 3..4, 5..12]);
        assert!(s.insert(2..3)); // fills a gap, merges three ranges
        assert_eq!(ranges(&s), [0..4, 5..12]);
        assert!(s.insert(3..6)); // overlaps one range and touches the next
        assert_eq!(s.peek_min(), Some(0..12));
        assert_eq!(s.len(), 1);
        assert!(s.insert_one(20));
        assert!(!s.insert_one(20));
        assert!(!s.insert_one(u64::MAX));
        assert_eq!((s.min(), s.max(), s.len()), (Some(0), Some(20), 2));
        assert!(s.contains(11) && !s.contains(12) && s.contains(20));
        assert_eq!(s.iter_descending().collect::<Vec<_>>(), [20..21, 0..12]);
    }

    #[test]
    fn remove_splits_and_trims() {
        let mut s = RangeSet::new();
        s.insert(0..10);
        s.insert(20..30);
        assert!(s.remove(5..25));
        assert_eq!(ranges(&s), [0..5, 25..30]);
        assert!(s.remove(2..3));
        assert_eq!(ranges(&s), [0..2, 3..5, 25..30]);
        assert!(!s.remove(10..20));
        s.remove_below(4);
        assert_eq!(ranges(&s), [4..5, 25..30]);
        assert_eq!(s.pop_min(), Some(4..5));
        assert_eq!(s.peek_min(), Some(25..30));
    }

    #[test]
    fn bound_drops_lowest_ranges() {
        let mut s = RangeSet::with_max_ranges(2);
        assert!(s.insert_one(10));
        assert!(s.insert_one(20));
        assert!(s.insert_one(30));
        assert_eq!(ranges(&s), [20..21, 30..31]);
        // A new lowest range is dropped at once and gained nothing.
        assert!(!s.insert_one(1));
        assert_eq!(ranges(&s), [20..21, 30..31]);
        // Splitting by removal also respects the bound.
        s.insert(20..30);
        s.remove(25..26);
        assert_eq!(ranges(&s), [20..25, 26..31]);
        assert_eq!(s.len(), 2);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(Range<u64>),
        Remove(Range<u64>),
        RemoveBelow(u64),
        PopMin,
    }

    fn op() -> impl Strategy<Value = Op> {
        let range = (0u64..120, 0u64..12).prop_map(|(s, l)| s..s + l);
        prop_oneof![
            4 => range.clone().prop_map(Op::Insert),
            1 => range.prop_map(Op::Remove),
            1 => (0u64..130).prop_map(Op::RemoveBelow),
            1 => Just(Op::PopMin),
        ]
    }

    proptest! {
        #[test]
        fn matches_btreeset_model(ops in proptest::collection::vec(op(), 0..60), max in 1usize..8, bounded in any::<bool>()) {
            let max = if bounded { max } else { usize::MAX };
            let mut set = if bounded { RangeSet::with_max_ranges(max) } else { RangeSet::new() };
            let mut model = BTreeSet::new();
            for op in ops {
                match op {
                    Op::Insert(r) => {
                        let before = model.clone();
                        model.extend(r.clone());
                        bound_model(&mut model, max);
                        let gained = model.difference(&before).next().is_some();
                        prop_assert_eq!(set.insert(r), gained);
                    }
                    Op::Remove(r) => {
                        let had = r.clone().any(|v| model.contains(&v));
                        for v in r.clone() { model.remove(&v); }
                        bound_model(&mut model, max);
                        prop_assert_eq!(set.remove(r), had);
                    }
                    Op::RemoveBelow(x) => {
                        model.retain(|&v| v >= x);
                        set.remove_below(x);
                    }
                    Op::PopMin => {
                        let expected = model_ranges(&model).first().cloned();
                        if let Some(r) = &expected { for v in r.clone() { model.remove(&v); } }
                        prop_assert_eq!(set.pop_min(), expected);
                    }
                }
                check_invariants(&set);
                prop_assert_eq!(ranges(&set), model_ranges(&model));
                for v in 0..135 {
                    prop_assert_eq!(set.contains(v), model.contains(&v));
                }
                prop_assert_eq!(set.min(), model.first().copied());
                prop_assert_eq!(set.max(), model.last().copied());
            }
        }
    }
}
