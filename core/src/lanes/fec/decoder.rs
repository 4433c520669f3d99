//! The receiving side of FEC: holds the symbols of recent groups, within a byte budget, and
//! rebuilds lost source symbols when enough of a group arrived.

use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;

use super::{MAX_REPAIRS, MAX_SOURCES, from_shard, to_shard};
use crate::wire::frame::FecRepair;

/// Bytes a held symbol costs beyond its data (the map entry and its bookkeeping).
const SYMBOL_OVERHEAD: usize = 64;
/// Groups remembered at most, finished ones included (a finished group is a small tombstone
/// that turns away its late symbols).
const MAX_GROUPS: usize = 1024;
/// A group this far behind the newest of its lane is stale: its symbols are dropped.
const STALE_GROUPS: u64 = 256;

/// Source symbols rebuilt from a group, with how old the group's first source was when the
/// repair that completed it left (milliseconds).
#[derive(Debug, Default)]
pub(crate) struct Recovered {
    pub(crate) symbols: Vec<Bytes>,
    pub(crate) age_ms: u64,
}

/// What a group's repairs say about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Shape {
    sources: u8,
    repairs: u8,
    shard_len: usize,
}

#[derive(Debug, Default)]
struct Group {
    sources: BTreeMap<u8, Bytes>,
    repairs: BTreeMap<u8, Bytes>,
    shape: Option<Shape>,
    age_ms: u64,
    done: bool,
    bytes: usize,
}

/// Every lane's FEC groups on one connection.
#[derive(Debug)]
pub(crate) struct FecDecoder {
    groups: BTreeMap<(u64, u64), Group>,
    /// Groups in the order they were first seen (entries may be stale).
    order: VecDeque<(u64, u64)>,
    newest: BTreeMap<u64, u64>,
    bytes: usize,
    limit: usize,
    /// Symbols and repairs dropped: stale, inconsistent, or pushed out by the budget.
    pub(crate) dropped: u64,
}

impl FecDecoder {
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            groups: BTreeMap::new(),
            order: VecDeque::new(),
            newest: BTreeMap::new(),
            bytes: 0,
            limit,
            dropped: 0,
        }
    }

    /// Bytes held.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Groups remembered, tombstones included.
    #[cfg(test)]
    pub(crate) fn groups_held(&self) -> usize {
        self.groups.len()
    }

    /// A source symbol arrived (its frames were read already).
    pub(crate) fn on_source(
        &mut self,
        lane: u64,
        group: u64,
        index: u8,
        symbol: &[u8],
    ) -> Option<Recovered> {
        if index >= MAX_SOURCES {
            self.dropped += 1;
            return None;
        }
        let g = self.group(lane, group)?;
        if g.done || g.sources.contains_key(&index) {
            return None;
        }
        // A copy: the packet's buffer must not stay alive for one symbol.
        g.sources.insert(index, Bytes::copy_from_slice(symbol));
        g.bytes += symbol.len() + SYMBOL_OVERHEAD;
        self.bytes += symbol.len() + SYMBOL_OVERHEAD;
        self.settle(lane, group)
    }

    /// A repair shard arrived.
    pub(crate) fn on_repair(&mut self, lane: u64, repair: &FecRepair) -> Option<Recovered> {
        let shape = Shape {
            sources: repair.sources,
            repairs: repair.repairs,
            shard_len: repair.shard.len(),
        };
        let valid = (1..=MAX_SOURCES).contains(&shape.sources)
            && (1..=MAX_REPAIRS).contains(&shape.repairs)
            && repair.index < shape.repairs
            && shape.shard_len >= 2
            && shape.shard_len.is_multiple_of(2);
        if !valid {
            self.dropped += 1;
            return None;
        }
        let group = repair.group.into_inner();
        let g = self.group(lane, group)?;
        if g.done || g.repairs.contains_key(&repair.index) {
            return None;
        }
        if g.shape.is_some_and(|s| s != shape) {
            self.dropped += 1;
            return None;
        }
        g.shape = Some(shape);
        g.age_ms = g.age_ms.max(repair.age_ms.into_inner());
        g.repairs
            .insert(repair.index, Bytes::copy_from_slice(&repair.shard));
        g.bytes += shape.shard_len + SYMBOL_OVERHEAD;
        self.bytes += shape.shard_len + SYMBOL_OVERHEAD;
        self.settle(lane, group)
    }

    /// The group `(lane, group)`, created if new and not stale.
    fn group(&mut self, lane: u64, group: u64) -> Option<&mut Group> {
        let newest = self.newest.entry(lane).or_insert(group);
        if group.saturating_add(STALE_GROUPS) < *newest {
            self.dropped += 1;
            return None;
        }
        *newest = (*newest).max(group);
        let key = (lane, group);
        if !self.groups.contains_key(&key) {
            while self.groups.len() >= MAX_GROUPS {
                self.evict_oldest();
            }
            self.groups.insert(key, Group::default());
            self.order.push_back(key);
        }
        self.groups.get_mut(&key)
    }

    /// Rebuilds what a group can, finishes it when it has all its sources, and keeps the
    /// budget.
    fn settle(&mut self, lane: u64, group: u64) -> Option<Recovered> {
        let key = (lane, group);
        let mut recovered = None;
        let mut finished = false;
        if let Some(g) = self.groups.get_mut(&key)
            && let Some(shape) = g.shape
        {
            let have = g.sources.len();
            let wanted = usize::from(shape.sources);
            if g.sources.keys().any(|&i| i >= shape.sources) {
                // Sources the repairs do not count: the group makes no sense.
                self.dropped += 1;
                finished = true;
            } else if have >= wanted {
                finished = true;
            } else if have + g.repairs.len() >= wanted {
                finished = true;
                recovered = rebuild(g, shape);
                if recovered.is_none() {
                    // Symbols too long for the shards, or a code error: lies, dropped.
                    self.dropped += 1;
                }
            }
            g.done |= finished;
        }
        if finished {
            self.release(key);
        }
        while self.bytes > self.limit {
            if !self.evict_oldest() {
                break;
            }
        }
        recovered
    }

    /// Frees a finished group's symbols, keeping it as a tombstone.
    fn release(&mut self, key: (u64, u64)) {
        if let Some(g) = self.groups.get_mut(&key) {
            self.bytes -= g.bytes;
            g.bytes = 0;
            g.sources.clear();
            g.repairs.clear();
        }
    }

    /// Forgets the group seen first; returns whether there was one.
    fn evict_oldest(&mut self) -> bool {
        while let Some(key) = self.order.pop_front() {
            if let Some(g) = self.groups.remove(&key) {
                if !g.done && g.bytes > 0 {
                    self.dropped += 1;
                }
                self.bytes -= g.bytes;
                return true;
            }
        }
        false
    }
}

/// The missing sources of a group with enough symbols.
fn rebuild(g: &Group, shape: Shape) -> Option<Recovered> {
    let len = shape.shard_len;
    let originals: Option<Vec<(usize, Vec<u8>)>> = g
        .sources
        .iter()
        .map(|(&i, s)| Some((usize::from(i), to_shard(s, len)?)))
        .collect();
    let recovery = g.repairs.iter().map(|(&i, s)| (usize::from(i), s));
    let restored = reed_solomon_simd::decode(
        usize::from(shape.sources),
        usize::from(shape.repairs),
        originals?,
        recovery,
    )
    .ok()?;
    let mut symbols: Vec<(usize, Bytes)> = restored
        .into_iter()
        .filter_map(|(i, shard)| Some((i, Bytes::copy_from_slice(from_shard(&shard)?))))
        .collect();
    symbols.sort_by_key(|(i, _)| *i);
    Some(Recovered {
        symbols: symbols.into_iter().map(|(_, s)| s).collect(),
        age_ms: g.age_ms,
    })
}
