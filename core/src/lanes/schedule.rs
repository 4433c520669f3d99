//! Deficit round-robin among the lanes of one priority level, strict priority across levels.
//!
//! A lane with something to send waits in the ring of its level. The packet builder serves the
//! front lane of the highest level; when the lane starts a turn it earns `weight × QUANTUM`
//! bytes of deficit, and it keeps the front while its deficit lasts, so lanes of one level
//! share the bytes in proportion to their weights (Shreedhar and Varghese, "Efficient fair
//! queuing using deficit round robin", 1995). A lane that has nothing to send leaves the ring;
//! whatever gives it something again puts it back.

use std::cmp::Reverse;
use std::collections::{BTreeMap, VecDeque};

/// Bytes a lane of weight 1 sends per turn: about one full packet.
pub(super) const QUANTUM: i64 = 1200;

/// The rings of lanes waiting to send, by priority (see the [module docs](self)).
#[derive(Debug, Default)]
pub(super) struct Scheduler {
    levels: BTreeMap<Reverse<i32>, VecDeque<u64>>,
}

impl Scheduler {
    /// Puts `lane` at the back of level `priority` (the caller keeps it from being queued
    /// twice).
    pub(super) fn push(&mut self, lane: u64, priority: i32) {
        self.levels
            .entry(Reverse(priority))
            .or_default()
            .push_back(lane);
    }

    /// The front lane of the highest level, and that level's priority.
    pub(super) fn front(&self) -> Option<(u64, i32)> {
        let (Reverse(priority), ring) = self.levels.first_key_value()?;
        ring.front().map(|&lane| (lane, *priority))
    }

    /// Moves the front lane to the back of its level (its turn is over).
    pub(super) fn rotate(&mut self) {
        if let Some(mut level) = self.levels.first_entry()
            && let Some(lane) = level.get_mut().pop_front()
        {
            level.get_mut().push_back(lane);
        }
    }

    /// Removes the front lane (it has nothing to send).
    pub(super) fn pop(&mut self) -> Option<u64> {
        let mut level = self.levels.first_entry()?;
        let lane = level.get_mut().pop_front();
        if level.get().is_empty() {
            level.remove();
        }
        lane
    }

    /// Removes `lane` from level `priority` (its priority is changing).
    pub(super) fn remove(&mut self, lane: u64, priority: i32) {
        let key = Reverse(priority);
        if let Some(ring) = self.levels.get_mut(&key) {
            ring.retain(|&l| l != lane);
            if ring.is_empty() {
                self.levels.remove(&key);
            }
        }
    }

    /// Whether no lane waits.
    #[cfg(test)]
    pub(super) fn is_empty(&self) -> bool {
        self.levels.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_highest_level_goes_first_and_rings_rotate() {
        let mut s = Scheduler::default();
        s.push(1, 0);
        s.push(2, 5);
        s.push(3, 5);
        assert_eq!(s.front(), Some((2, 5)));
        s.rotate();
        assert_eq!(s.front(), Some((3, 5)));
        assert_eq!(s.pop(), Some(3));
        assert_eq!(s.pop(), Some(2));
        assert_eq!(s.front(), Some((1, 0)));
        s.remove(1, 0);
        assert!(s.is_empty());
    }
}
