//! The send scheduler: which stream's data goes into the packet being built (DESIGN.md §3).
//!
//! Streams with something to send wait in one FIFO per priority level. The packet builder
//! always takes the front stream of the highest level, so a more urgent stream's data goes
//! into the very next packet built, after at most the frame being written; after each frame the
//! stream moves to the back of its level, so streams of one level take turns frame by frame.
//!
//! Levels live in a `BTreeMap` (O(log levels) to find the highest); a level's deque is kept in
//! a small spare pool when it empties, so a steady transfer does not allocate.

use std::cmp::Reverse;
use std::collections::{BTreeMap, VecDeque};

use super::StreamId;

/// Emptied deques kept for reuse.
const SPARE_LEVELS: usize = 4;

/// Streams waiting to send, by priority (see the [module docs](self)).
#[derive(Debug, Default)]
pub(super) struct Scheduler {
    levels: BTreeMap<Reverse<i32>, VecDeque<StreamId>>,
    spare: Vec<VecDeque<StreamId>>,
    len: usize,
}

impl Scheduler {
    /// Whether no stream waits.
    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Streams waiting.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Queues `id` at the back of level `priority` (the caller keeps it from being queued
    /// twice).
    pub(super) fn push(&mut self, id: StreamId, priority: i32) {
        let spare = &mut self.spare;
        self.levels
            .entry(Reverse(priority))
            .or_insert_with(|| spare.pop().unwrap_or_default())
            .push_back(id);
        self.len += 1;
    }

    /// The priority of the highest level with a stream waiting.
    pub(super) fn front_priority(&self) -> Option<i32> {
        self.levels.first_key_value().map(|(Reverse(p), _)| *p)
    }

    /// The stream to serve next: the front of the highest level.
    pub(super) fn front(&self) -> Option<StreamId> {
        self.levels
            .first_key_value()
            .and_then(|(_, queue)| queue.front().copied())
    }

    /// Moves the front stream to the back of its level (it sent a frame and has more).
    pub(super) fn rotate(&mut self) {
        if let Some(mut level) = self.levels.first_entry() {
            let queue = level.get_mut();
            if let Some(id) = queue.pop_front() {
                queue.push_back(id);
            }
        }
    }

    /// Removes the front stream (it has nothing more to send).
    pub(super) fn pop(&mut self) -> Option<StreamId> {
        let mut level = self.levels.first_entry()?;
        let id = level.get_mut().pop_front();
        if level.get().is_empty() {
            let queue = level.remove();
            self.recycle(queue);
        }
        if id.is_some() {
            self.len -= 1;
        }
        id
    }

    /// Removes `id` from level `priority`; O(streams in that level). Returns whether it was
    /// there.
    pub(super) fn remove(&mut self, id: StreamId, priority: i32) -> bool {
        let key = Reverse(priority);
        let Some(queue) = self.levels.get_mut(&key) else {
            return false;
        };
        let Some(pos) = queue.iter().position(|&x| x == id) else {
            return false;
        };
        queue.remove(pos);
        if queue.is_empty()
            && let Some(queue) = self.levels.remove(&key)
        {
            self.recycle(queue);
        }
        self.len -= 1;
        true
    }

    /// Keeps only the streams for which `keep` is true (visiting them level by level, in
    /// order); O(streams).
    pub(super) fn retain(&mut self, mut keep: impl FnMut(StreamId) -> bool) {
        let mut emptied = Vec::new();
        for (&key, queue) in self.levels.iter_mut() {
            queue.retain(|&id| keep(id));
            if queue.is_empty() {
                emptied.push(key);
            }
        }
        for key in emptied {
            if let Some(queue) = self.levels.remove(&key) {
                self.recycle(queue);
            }
        }
        self.len = self.levels.values().map(VecDeque::len).sum();
    }

    fn recycle(&mut self, mut queue: VecDeque<StreamId>) {
        if self.spare.len() < SPARE_LEVELS {
            queue.clear();
            self.spare.push(queue);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::streams::{Dir, Side};

    fn id(n: u64) -> StreamId {
        StreamId::new(Side::Client, Dir::Bi, n).expect("valid index")
    }

    /// Serves `n` frames: each goes to the front stream, which then rotates.
    fn serve(s: &mut Scheduler, n: usize) -> Vec<u64> {
        (0..n)
            .map(|_| {
                let front = s.front().expect("a stream waits");
                s.rotate();
                front.index()
            })
            .collect()
    }

    #[test]
    fn higher_priority_first_and_round_robin_within_a_level() {
        let mut s = Scheduler::default();
        s.push(id(0), 0);
        s.push(id(1), 0);
        s.push(id(2), 5);
        s.push(id(3), -3);
        s.push(id(4), 5);
        assert_eq!(s.len(), 5);
        assert_eq!(serve(&mut s, 5), [2, 4, 2, 4, 2]);
        assert_eq!(s.pop(), Some(id(4)));
        assert_eq!(s.pop(), Some(id(2)));
        assert_eq!(serve(&mut s, 3), [0, 1, 0]);
        // A more urgent stream arriving now is served next.
        s.push(id(5), 1);
        assert_eq!(s.front(), Some(id(5)));
        assert_eq!(s.pop(), Some(id(5)));
        assert_eq!(serve(&mut s, 2), [1, 0]);
    }

    #[test]
    fn remove_and_retain() {
        let mut s = Scheduler::default();
        for n in 0..6 {
            s.push(id(n), (n % 2) as i32);
        }
        assert!(s.remove(id(3), 1));
        assert!(!s.remove(id(3), 1));
        assert!(!s.remove(id(2), 1), "wrong level");
        let mut out = Vec::new();
        s.retain(|x| {
            let keep = x.index() != 5 && x.index() != 0;
            if !keep {
                out.push(x);
            }
            keep
        });
        assert_eq!(out, [id(5), id(0)]);
        assert_eq!(s.len(), 3);
        let mut rest = Vec::new();
        while let Some(x) = s.pop() {
            rest.push(x.index());
        }
        assert_eq!(rest, [1, 2, 4]);
        assert!(s.is_empty() && s.front().is_none());
    }
}
