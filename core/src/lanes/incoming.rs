//! The receiving half of a lane: fragments put together into messages, and messages handed to
//! the application as the lane's delivery mode says.
//!
//! - Reliable-ordered: in order of their numbers; a message given up by the sender (LANE_SKIP)
//!   is skipped.
//! - Reliable-unordered and unreliable: each as soon as it is complete, once.
//! - Sequenced (reliable or not): a complete message is handed over only if it is newer than
//!   every one handed over before; older ones are dropped, complete or not.
//!
//! A message past its deadline is dropped, never handed over. On a reliable lane a message
//! holds its credit (`len + MESSAGE_OVERHEAD`) until the application read it or it was
//! dropped; the lane's window then advances past every such message below the first one still
//! held.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use super::MESSAGE_OVERHEAD;
use super::message::{LaneStats, Message};
use super::reassembly::{Assembly, FragmentError};
use crate::error::TransportError;
use crate::range_set::RangeSet;
use crate::streams::RecvWindow;
use crate::wire::frame::{DeliveryMode, LaneFrame};

/// Unreliable lanes: messages more than this many numbers behind the newest one seen are
/// treated as too old (duplicates cannot be told apart from them any more).
pub(super) const DEDUP_WINDOW: u64 = 1 << 16;
/// Ranges kept of released message numbers and credit positions above their floors.
const MAX_TRACKED_RANGES: usize = 1024;
/// What a message under reassembly costs beyond its bytes (unreliable budget).
pub(super) const PARTIAL_OVERHEAD: u64 = 64;

#[derive(Debug)]
struct Pending {
    /// Reliable: where the message starts in the lane's credit.
    offset: u64,
    assembly: Assembly,
    deadline: Option<Instant>,
    first_seen: Instant,
    /// In the ready queue.
    ready: bool,
    /// Unreliable: counted in `partial_bytes` (an incomplete message).
    charged: bool,
}

/// What one received fragment did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Outcome {
    /// A message became ready for the application.
    pub(super) readable: bool,
    /// A new message under reassembly (unreliable lanes: the caller enforces the budget).
    pub(super) new_partial: bool,
}

/// The receiving half of one lane (see the [module docs](self)).
#[derive(Debug)]
pub(super) struct LaneReceiver {
    pub(super) mode: DeliveryMode,
    /// Whether a LANE frame fixed the mode (a LANE_SKIP may come first: it only says the
    /// lane is reliable).
    pub(super) mode_known: bool,
    /// Reliable: the lane's flow-control window over credit positions.
    pub(super) window: RecvWindow,
    /// Reliable: credit ranges released (read, dropped, given up) above `consumed`.
    released: RangeSet,
    /// Reliable: credit ranges of messages seen.
    known: RangeSet,
    /// Reliable: every credit position below this is released.
    consumed: u64,
    /// Reliable: how much of `consumed` the window was told.
    reported: u64,
    pending: BTreeMap<u64, Pending>,
    /// Every message number below this is released or given up.
    floor: u64,
    /// Message numbers at or above `floor` that were released.
    done: RangeSet,
    /// Reliable: the sender gave up every message below this that is not complete here.
    given_up_below: u64,
    /// Ordered: the next number to hand over. Sequenced: one past the newest handed over.
    next_deliver: u64,
    /// Unreliable: the newest number seen.
    newest: u64,
    /// Complete messages waiting for the application, in delivery order.
    ready: VecDeque<u64>,
    /// Bytes of the messages in `ready`.
    pub(super) ready_bytes: u64,
    /// Unreliable: bytes charged for messages under reassembly.
    pub(super) partial_bytes: u64,
}

impl LaneReceiver {
    pub(super) fn new(mode: DeliveryMode, window: u64) -> Self {
        Self {
            mode,
            mode_known: false,
            window: RecvWindow::new(window, window),
            released: RangeSet::with_max_ranges(MAX_TRACKED_RANGES),
            known: RangeSet::with_max_ranges(MAX_TRACKED_RANGES),
            consumed: 0,
            reported: 0,
            pending: BTreeMap::new(),
            floor: 0,
            done: RangeSet::with_max_ranges(MAX_TRACKED_RANGES),
            given_up_below: 0,
            next_deliver: 0,
            newest: 0,
            ready: VecDeque::new(),
            ready_bytes: 0,
            partial_bytes: 0,
        }
    }

    fn reliable(&self) -> bool {
        self.mode.is_reliable()
    }

    /// Whether message `seq` was released already (or is too old to tell).
    fn is_done(&self, seq: u64) -> bool {
        seq < self.floor || self.done.contains(seq)
    }

    /// A fragment arrived at `now`; `one_way` is the transit assumed for its deadline.
    /// Errors are the peer's protocol or flow-control violations.
    pub(super) fn on_frame(
        &mut self,
        now: Instant,
        frame: &LaneFrame,
        one_way: Duration,
        max_message_size: u64,
        stats: &mut LaneStats,
    ) -> Result<Outcome, TransportError> {
        let h = &frame.header;
        let seq = h.sequence.into_inner();
        let len = frame.message_len();
        if len > max_message_size {
            return Err(TransportError::protocol_violation(format!(
                "lane message of {len} bytes exceeds the maximum of {max_message_size}"
            )));
        }
        let offset = h.offset.into_inner();
        if self.reliable() {
            let end = offset.saturating_add(len).saturating_add(MESSAGE_OVERHEAD);
            if !self.window.allows(end) {
                return Err(TransportError::flow_control(format!(
                    "lane message ends at credit {end}, beyond the limit of {}",
                    self.window.advertised()
                )));
            }
        } else {
            // Sliding duplicate horizon: far older numbers are dropped as stale.
            if seq > self.newest {
                self.newest = seq;
                let horizon = seq.saturating_sub(DEDUP_WINDOW);
                if horizon > self.floor {
                    self.raise_floor(horizon, stats);
                }
            }
        }
        if self.is_done(seq)
            || (self.reliable() && seq < self.given_up_below && !self.pending.contains_key(&seq))
        {
            return Ok(Outcome::default());
        }
        let deadline = h
            .deadline_ms
            .map(|ttl| now + Duration::from_millis(ttl.into_inner()).saturating_sub(one_way));
        let mut outcome = Outcome::default();
        let was_complete = self
            .pending
            .get(&seq)
            .is_some_and(|p| p.assembly.is_complete());
        let complete = match self.pending.get_mut(&seq) {
            Some(p) => {
                if self.mode.is_reliable() && p.offset != offset {
                    return Err(TransportError::protocol_violation(
                        "a lane message's fragments disagree on its offset",
                    ));
                }
                match p.assembly.add(len, frame.fragment_offset(), &frame.data) {
                    Ok(_) => {}
                    Err(e) if self.mode.is_reliable() => {
                        return Err(TransportError::protocol_violation(match e {
                            FragmentError::LengthMismatch => {
                                "a lane message's fragments disagree on its length"
                            }
                            FragmentError::TooFragmented => "a lane message is too fragmented",
                        }));
                    }
                    Err(_) => {
                        // Unreliable: the message is dropped whole.
                        self.drop_message(seq, stats);
                        stats.incomplete_dropped += 1;
                        return Ok(outcome);
                    }
                }
                p.assembly.is_complete() && !p.ready
            }
            None => {
                let assembly = Assembly::new(len, frame.fragment_offset(), frame.data.clone());
                let complete = assembly.is_complete();
                let charged = !self.reliable() && !complete;
                if self.reliable() {
                    let end = offset + len + MESSAGE_OVERHEAD;
                    self.known.insert(offset..end);
                    self.window.receive_to(end);
                } else if charged {
                    self.partial_bytes += len + PARTIAL_OVERHEAD;
                    outcome.new_partial = true;
                }
                self.pending.insert(
                    seq,
                    Pending {
                        offset,
                        assembly,
                        deadline,
                        first_seen: now,
                        ready: false,
                        charged,
                    },
                );
                complete
            }
        };
        if complete {
            if h.copy && !was_complete {
                stats.repaired_messages += 1;
            }
            self.uncharge(seq);
            outcome.readable = self.on_complete(now, seq, stats);
        }
        Ok(outcome)
    }

    /// Takes message `seq` out of the reassembly budget.
    fn uncharge(&mut self, seq: u64) {
        if let Some(p) = self.pending.get_mut(&seq)
            && p.charged
        {
            p.charged = false;
            self.partial_bytes = self
                .partial_bytes
                .saturating_sub(p.assembly.len() + PARTIAL_OVERHEAD);
        }
    }

    /// Message `seq` is complete: hand it over as the mode says, or drop it.
    fn on_complete(&mut self, now: Instant, seq: u64, stats: &mut LaneStats) -> bool {
        let expired = self
            .pending
            .get(&seq)
            .and_then(|p| p.deadline)
            .is_some_and(|d| d <= now);
        if expired {
            stats.expired_receiving += 1;
            self.drop_message(seq, stats);
            if self.mode == DeliveryMode::ReliableOrdered {
                return self.advance_ordered(stats);
            }
            return false;
        }
        match self.mode {
            DeliveryMode::ReliableOrdered => self.advance_ordered(stats),
            DeliveryMode::ReliableUnordered | DeliveryMode::Unreliable => {
                self.make_ready(seq);
                true
            }
            DeliveryMode::ReliableSequenced | DeliveryMode::UnreliableSequenced => {
                if seq < self.next_deliver {
                    stats.stale_receiving += 1;
                    self.drop_message(seq, stats);
                    return false;
                }
                self.next_deliver = seq + 1;
                // Older messages can never be handed over any more.
                let older: Vec<u64> = self
                    .pending
                    .range(..seq)
                    .filter(|(_, p)| !p.ready)
                    .map(|(&s, _)| s)
                    .collect();
                for s in older {
                    stats.stale_receiving += 1;
                    self.drop_message(s, stats);
                }
                self.make_ready(seq);
                true
            }
        }
    }

    /// Ordered: hands over complete messages in order, skipping those given up; returns
    /// whether one became ready.
    fn advance_ordered(&mut self, stats: &mut LaneStats) -> bool {
        let mut readable = false;
        loop {
            let next = self.next_deliver;
            match self.pending.get(&next) {
                Some(p) if p.assembly.is_complete() => {
                    if !p.ready {
                        self.make_ready(next);
                        readable = true;
                    }
                }
                Some(_) if next < self.given_up_below => {
                    stats.incomplete_dropped += 1;
                    self.drop_message(next, stats);
                }
                None if next < self.given_up_below || self.is_done(next) => {
                    // A peer's LANE_SKIP may give up numbers by the billion: jump over the
                    // run that holds nothing rather than walk it.
                    let run_end = if next < self.given_up_below {
                        self.given_up_below
                    } else if next < self.floor {
                        self.floor
                    } else {
                        self.done.range_containing(next).map_or(next + 1, |r| r.end)
                    };
                    let held = self.pending.range(next + 1..).next().map(|(&s, _)| s);
                    self.next_deliver = held.map_or(run_end, |h| h.min(run_end)).max(next + 1);
                    continue;
                }
                _ => return readable,
            }
            self.next_deliver += 1;
        }
    }

    fn make_ready(&mut self, seq: u64) {
        if let Some(p) = self.pending.get_mut(&seq) {
            p.ready = true;
            self.ready_bytes += p.assembly.len();
            self.ready.push_back(seq);
        }
    }

    /// The next message for the application at `now`: stale ones are dropped on the way.
    pub(super) fn read(
        &mut self,
        now: Instant,
        lane: u64,
        stats: &mut LaneStats,
    ) -> Option<Message> {
        while let Some(seq) = self.ready.pop_front() {
            let Some(mut p) = self.pending.remove(&seq) else {
                continue;
            };
            self.ready_bytes = self.ready_bytes.saturating_sub(p.assembly.len());
            self.release(seq, p.offset, p.assembly.len());
            if p.deadline.is_some_and(|d| d <= now) {
                stats.expired_receiving += 1;
                continue;
            }
            let data = p.assembly.take().unwrap_or_default();
            stats.messages_received += 1;
            stats.bytes_received += data.len() as u64;
            return Some(Message {
                lane,
                sequence: seq,
                data,
                deadline: p.deadline,
            });
        }
        None
    }

    /// Reliable: every credit position below this is released.
    pub(super) fn consumed(&self) -> u64 {
        self.consumed
    }

    /// Messages held (under reassembly, complete or ready).
    #[cfg(test)]
    pub(super) fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Whether a message waits for the application.
    pub(super) fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    /// Unreliable: drops the oldest ready message (the receive buffer is full); returns
    /// whether there was one.
    pub(super) fn drop_oldest_ready(&mut self, stats: &mut LaneStats) -> bool {
        let Some(seq) = self.ready.pop_front() else {
            return false;
        };
        if let Some(p) = self.pending.remove(&seq) {
            self.ready_bytes = self.ready_bytes.saturating_sub(p.assembly.len());
            self.release(seq, p.offset, p.assembly.len());
            stats.overflow_dropped += 1;
        }
        true
    }

    /// Drops message `seq` (not handed over).
    fn drop_message(&mut self, seq: u64, _stats: &mut LaneStats) {
        self.uncharge(seq);
        let Some(p) = self.pending.remove(&seq) else {
            return;
        };
        if p.ready {
            self.ready.retain(|&s| s != seq);
            self.ready_bytes = self.ready_bytes.saturating_sub(p.assembly.len());
        }
        self.release(seq, p.offset, p.assembly.len());
    }

    /// Unreliable: drops message `seq` if it is still incomplete (the budget or the timeout
    /// evicts it); returns whether it was.
    pub(super) fn evict_partial(&mut self, seq: u64, stats: &mut LaneStats) -> bool {
        let incomplete = self
            .pending
            .get(&seq)
            .is_some_and(|p| !p.assembly.is_complete());
        if incomplete {
            stats.incomplete_dropped += 1;
            self.drop_message(seq, stats);
        }
        incomplete
    }

    /// Message `seq` left: its number and (reliable) its credit are released.
    fn release(&mut self, seq: u64, offset: u64, len: u64) {
        self.done.insert_one(seq);
        while self.done.peek_min().is_some_and(|r| r.start <= self.floor) {
            if let Some(r) = self.done.pop_min() {
                self.floor = self.floor.max(r.end);
            }
        }
        if self.reliable() {
            self.released
                .insert(offset..offset + len + MESSAGE_OVERHEAD);
            self.advance_consumed();
        }
    }

    /// Moves the consumed credit position over the released prefix and tells the window.
    fn advance_consumed(&mut self) {
        while let Some(r) = self.released.peek_min() {
            if r.start > self.consumed {
                break;
            }
            self.consumed = self.consumed.max(r.end);
            self.released.pop_min();
        }
        if self.consumed > self.reported {
            // Everything released was received first (a LANE_SKIP receives up to its offset),
            // so the connection's window was checked for it.
            debug_assert!(self.consumed <= self.window.received());
            self.window.consume(self.consumed - self.reported, None);
            self.reported = self.consumed;
        }
    }

    /// Reliable: the sender gave up every message below `seq` that is not complete here; the
    /// first one it still sends starts at credit `offset`. Returns whether a message became
    /// ready (an ordered lane may move past a gap).
    pub(super) fn on_skip(
        &mut self,
        seq: u64,
        offset: u64,
        stats: &mut LaneStats,
    ) -> Result<bool, TransportError> {
        if !self.reliable() {
            return Err(TransportError::protocol_violation(
                "LANE_SKIP on an unreliable lane",
            ));
        }
        if !self.window.allows(offset) {
            return Err(TransportError::flow_control(format!(
                "LANE_SKIP to credit {offset}, beyond the limit of {}",
                self.window.advertised()
            )));
        }
        if seq <= self.given_up_below {
            return Ok(false);
        }
        self.given_up_below = seq;
        let incomplete: Vec<u64> = self
            .pending
            .range(..seq)
            .filter(|(_, p)| !p.assembly.is_complete())
            .map(|(&s, _)| s)
            .collect();
        for s in incomplete {
            stats.incomplete_dropped += 1;
            self.drop_message(s, stats);
        }
        // Numbers never seen below `seq` will not come: they count as released.
        if seq > self.floor {
            self.done.insert(self.floor..seq);
            let held: Vec<u64> = self.pending.range(..seq).map(|(&s, _)| s).collect();
            for s in held {
                self.done.remove(s..s + 1);
            }
            while self.done.peek_min().is_some_and(|r| r.start <= self.floor) {
                if let Some(r) = self.done.pop_min() {
                    self.floor = self.floor.max(r.end);
                }
            }
        }
        // The sender used the credit below `offset` (messages admitted, maybe in flight): it
        // counts as received now, where the connection's window is checked, not when a read
        // later releases it.
        self.window.receive_to(offset);
        // Credit below `offset` that no message seen holds is released.
        let mut cursor = self.consumed;
        let gaps: Vec<std::ops::Range<u64>> = self
            .known
            .iter()
            .filter_map(|r| {
                let gap = cursor..r.start.min(offset);
                cursor = cursor.max(r.end);
                (gap.start < gap.end).then_some(gap)
            })
            .collect();
        for gap in gaps {
            self.released.insert(gap);
        }
        if cursor < offset {
            self.released.insert(cursor..offset);
        }
        self.known.insert(0..offset);
        self.advance_consumed();
        Ok(self.mode == DeliveryMode::ReliableOrdered && self.advance_ordered(stats))
    }

    /// The next time [`on_timeout`](Self::on_timeout) has work: a deadline, or (unreliable)
    /// the reassembly timeout of an incomplete message.
    pub(super) fn next_timeout(&self, reassembly_timeout: Duration) -> Option<Instant> {
        self.pending
            .values()
            .filter_map(|p| {
                let timeout = (!self.reliable() && !p.assembly.is_complete())
                    .then(|| p.first_seen + reassembly_timeout);
                match (p.deadline, timeout) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            })
            .min()
    }

    /// Drops what went stale by `now`: messages past their deadline, and (unreliable)
    /// incomplete messages older than `reassembly_timeout`. Returns whether an ordered lane
    /// got a message ready by it.
    pub(super) fn on_timeout(
        &mut self,
        now: Instant,
        reassembly_timeout: Duration,
        stats: &mut LaneStats,
    ) -> bool {
        let reliable = self.reliable();
        let stale: Vec<(u64, bool)> = self
            .pending
            .iter()
            .filter_map(|(&s, p)| {
                let expired = p.deadline.is_some_and(|d| d <= now);
                let timed_out = !reliable
                    && !p.assembly.is_complete()
                    && p.first_seen + reassembly_timeout <= now;
                (expired || timed_out).then_some((s, expired))
            })
            .collect();
        for &(s, expired) in &stale {
            if expired {
                stats.expired_receiving += 1;
            } else {
                stats.incomplete_dropped += 1;
            }
            self.drop_message(s, stats);
        }
        !stale.is_empty()
            && self.mode == DeliveryMode::ReliableOrdered
            && self.advance_ordered(stats)
    }

    /// Reliable: the MAX_LANE_DATA owed, if any.
    pub(super) fn take_window_update(&mut self) -> Option<u64> {
        self.window.is_pending().then(|| self.window.take_update())
    }

    /// Unreliable: every message below `floor` is too old now.
    fn raise_floor(&mut self, floor: u64, stats: &mut LaneStats) {
        let old: Vec<u64> = self
            .pending
            .range(..floor)
            .filter(|(_, p)| !p.ready)
            .map(|(&s, _)| s)
            .collect();
        for s in old {
            stats.incomplete_dropped += 1;
            self.drop_message(s, stats);
        }
        self.floor = self.floor.max(floor);
        self.done.remove_below(self.floor);
    }
}
