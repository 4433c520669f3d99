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
//!
//! ## Credit claims (reliable lanes)
//!
//! The sender gives each message it admits the next `len + MESSAGE_OVERHEAD` of the lane's
//! credit, in order of the messages' numbers, and never the same credit twice. The receiver
//! keeps every claim above its consumed position exactly (a map, not a lossy range set) and
//! refuses a new message whose range overlaps another message's claim or the credit a
//! LANE_SKIP gave up: otherwise a peer could name the same credit for any number of messages
//! and hold them all (or a reassembly buffer of `max_message_size` for each) on one window.
//! So everything a lane holds fits in its window, and the claims are at most two per
//! `MESSAGE_OVERHEAD` bytes of it.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;

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
/// Ranges kept of released message numbers above the floor.
const MAX_TRACKED_RANGES: usize = 1024;
/// What a message under reassembly costs beyond its bytes (unreliable budget).
pub(super) const PARTIAL_OVERHEAD: u64 = 64;
/// What a complete unread message costs beyond its bytes (unreliable budget): its
/// bookkeeping. Without it empty messages would cost nothing and their number be unbounded.
pub(super) const READY_OVERHEAD: u64 = 64;
/// The ready queue is compacted once its stale entries (messages dropped while ready)
/// outnumber the live ones by this much: amortized, each stale entry is removed once.
const READY_SLACK: usize = 64;

/// Reliable: a range of the lane's credit above the consumed position that is spoken for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Claim {
    /// Where the range ends (it starts at its key in `claims`).
    end: u64,
    /// The message that claimed it; `None` for credit a LANE_SKIP gave up that no message
    /// seen here held.
    seq: Option<u64>,
    /// Read, dropped or given up: the consumed position may move past it.
    released: bool,
}

#[derive(Debug)]
struct Pending {
    /// Reliable: where the message starts in the lane's credit.
    offset: u64,
    assembly: Assembly,
    deadline: Option<Instant>,
    first_seen: Instant,
    /// In the ready queue.
    ready: bool,
    /// Which entry of the ready queue is this message's (set when it became ready): an entry
    /// left stale by a drop cannot pass for the message if its number is seen anew.
    ticket: u64,
    /// Unreliable: counted in `partial_bytes` (an incomplete message).
    charged: bool,
    /// A compressed envelope, to decompress when the application reads it (the bit of the
    /// first fragment that arrived).
    compressed: bool,
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
    /// Reliable: every claim on the lane's credit at or above `consumed`, by start; disjoint
    /// (see the [module docs](self)).
    claims: BTreeMap<u64, Claim>,
    /// Reliable: the highest credit offset a LANE_SKIP announced; the credit below it that no
    /// message held is claimed as given up.
    skip_offset: u64,
    /// Reliable: every credit position below this is released.
    consumed: u64,
    /// Reliable: how much of `consumed` the window was told.
    reported: u64,
    pending: BTreeMap<u64, Pending>,
    /// The held messages with a deadline, soonest first: the timer looks at the first, and
    /// expiry at those due, not at every held message.
    deadlines: BTreeSet<(Instant, u64)>,
    /// Unreliable: the messages under reassembly (`charged`) by their first fragment's time,
    /// oldest first, for the reassembly timeout.
    incomplete: BTreeSet<(Instant, u64)>,
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
    /// Complete messages waiting for the application, in delivery order. Entries may be
    /// stale (a message dropped while ready): they are skipped when met, and compacted away
    /// once they outnumber the live ones, so a drop costs O(1), not a walk of the queue.
    ready: VecDeque<(u64, u64)>,
    /// Messages in `ready` that are still live (held and ready).
    ready_live: usize,
    /// The ticket of the next entry of `ready`.
    next_ticket: u64,
    /// What the messages in `ready` cost: their bytes plus [`READY_OVERHEAD`] each.
    pub(super) ready_bytes: u64,
    /// Whether the lane is in `Lanes::readable` (so it is queued there at most once).
    pub(super) queued_readable: bool,
    /// Whether a `LaneEvent::Readable` for the lane waits to be polled (so that an application
    /// slow to poll events meets one per lane, not one per message the peer sent).
    pub(super) readable_event_pending: bool,
    /// Unreliable: bytes charged for messages under reassembly.
    pub(super) partial_bytes: u64,
}

impl LaneReceiver {
    pub(super) fn new(mode: DeliveryMode, window: u64) -> Self {
        Self {
            mode,
            mode_known: false,
            window: RecvWindow::new(window, window),
            claims: BTreeMap::new(),
            skip_offset: 0,
            consumed: 0,
            reported: 0,
            pending: BTreeMap::new(),
            deadlines: BTreeSet::new(),
            incomplete: BTreeSet::new(),
            floor: 0,
            done: RangeSet::with_max_ranges(MAX_TRACKED_RANGES),
            given_up_below: 0,
            next_deliver: 0,
            newest: 0,
            ready: VecDeque::new(),
            ready_live: 0,
            next_ticket: 0,
            ready_bytes: 0,
            queued_readable: false,
            readable_event_pending: false,
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
        // Within the window (checked next) and so far below u64::MAX.
        let end = offset.saturating_add(len).saturating_add(MESSAGE_OVERHEAD);
        if self.reliable() {
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
                // Checked before anything is allocated for the message.
                if self.reliable() && !self.check_claim(seq, offset, end)? {
                    return Ok(outcome);
                }
                let assembly = Assembly::new(len, frame.fragment_offset(), frame.data.clone());
                let complete = assembly.is_complete();
                let charged = !self.reliable() && !complete;
                if self.reliable() {
                    self.claims.insert(
                        offset,
                        Claim {
                            end,
                            seq: Some(seq),
                            released: false,
                        },
                    );
                    self.window.receive_to(end);
                } else if charged {
                    self.partial_bytes += len + PARTIAL_OVERHEAD;
                    self.incomplete.insert((now, seq));
                    outcome.new_partial = true;
                }
                if let Some(d) = deadline {
                    self.deadlines.insert((d, seq));
                }
                self.pending.insert(
                    seq,
                    Pending {
                        offset,
                        assembly,
                        deadline,
                        first_seen: now,
                        ready: false,
                        ticket: 0,
                        charged,
                        compressed: h.compressed,
                    },
                );
                if !complete && self.mode.is_sequenced() && seq < self.next_deliver {
                    // Older than a message handed over: it can never be. Dropped now (its
                    // credit claimed and released at once), so no incomplete message is ever
                    // held below `next_deliver` and `on_complete` need not look there.
                    stats.stale_receiving += 1;
                    self.drop_message(seq, stats);
                    return Ok(Outcome::default());
                }
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

    /// Reliable: whether a message first seen now, `seq` over the credit `offset..end`, may
    /// claim it. `Ok(false)`: a late copy of a message released already, to ignore (it holds
    /// nothing). An error: the credit is spoken for by another message or a LANE_SKIP, or
    /// straddles the consumed position — an honest sender never reuses credit (see the
    /// [module docs](self)), and accepting it would let held messages outgrow the window.
    fn check_claim(&self, seq: u64, offset: u64, end: u64) -> Result<bool, TransportError> {
        if end <= self.consumed {
            // Released credit: an honest sender's message there was read or given up, and this
            // is a late copy whose number `done` no longer holds (it keeps a bounded number of
            // ranges). Ignoring it holds nothing, whoever sent it.
            return Ok(false);
        }
        // Claims are disjoint: only the last one starting below `end` can reach past `offset`.
        let overlap = self
            .claims
            .range(..end)
            .next_back()
            .filter(|(_, c)| c.end > offset);
        match overlap {
            None if offset >= self.consumed => Ok(true),
            // The same message, released, its number forgotten by `done`: a late copy.
            Some((&start, c))
                if start == offset && c.end == end && c.seq == Some(seq) && c.released =>
            {
                Ok(false)
            }
            _ => Err(TransportError::protocol_violation(format!(
                "lane message {seq} claims credit {offset}..{end}, used already (consumed up to {})",
                self.consumed
            ))),
        }
    }

    /// Takes message `seq` out of the reassembly budget.
    fn uncharge(&mut self, seq: u64) {
        if let Some(p) = self.pending.get_mut(&seq)
            && p.charged
        {
            p.charged = false;
            self.incomplete.remove(&(p.first_seen, seq));
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
                // Older messages can never be handed over any more. Those below the old
                // `next_deliver` are all ready (an incomplete one is dropped when it arrives),
                // so only the numbers between are looked at: each message once, not each
                // unread one again on every new message.
                let older: Vec<u64> = self
                    .pending
                    .range(self.next_deliver..seq)
                    .filter(|(_, p)| !p.ready)
                    .map(|(&s, _)| s)
                    .collect();
                self.next_deliver = seq + 1;
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
        if let Some(p) = self.pending.get_mut(&seq)
            && !p.ready
        {
            p.ready = true;
            p.ticket = self.next_ticket;
            self.next_ticket += 1;
            self.ready_bytes += ready_cost(p);
            self.ready_live += 1;
            self.ready.push_back((seq, p.ticket));
        }
    }

    /// Whether the `ready` entry `(seq, ticket)` is live: its message held and ready.
    fn is_live(pending: &BTreeMap<u64, Pending>, (seq, ticket): (u64, u64)) -> bool {
        pending
            .get(&seq)
            .is_some_and(|p| p.ready && p.ticket == ticket)
    }

    /// Pops the next live ready message off `ready`, skipping stale entries.
    fn pop_ready(&mut self) -> Option<(u64, Pending)> {
        while let Some((seq, ticket)) = self.ready.pop_front() {
            // A stale entry: the message was dropped (and maybe seen anew since).
            if !Self::is_live(&self.pending, (seq, ticket)) {
                continue;
            }
            let Some(p) = self.remove_pending(seq) else {
                continue;
            };
            self.ready_live = self.ready_live.saturating_sub(1);
            self.ready_bytes = self.ready_bytes.saturating_sub(ready_cost(&p));
            self.compact_ready();
            return Some((seq, p));
        }
        None
    }

    /// Removes the stale entries of `ready` once they outnumber the live ones (amortized
    /// O(1) per entry).
    fn compact_ready(&mut self) {
        if self.ready_live == 0 {
            self.ready.clear();
        } else if self.ready.len() > 2 * self.ready_live + READY_SLACK {
            let pending = &self.pending;
            self.ready.retain(|&entry| Self::is_live(pending, entry));
        }
    }

    /// The next message for the application at `now`: stale ones are dropped on the way, and
    /// so are compressed ones that `inflate` (given the message's number and envelope) cannot
    /// decompress. Decompressing here, not on arrival, keeps the buffers' bound on what
    /// arrived: only the message handed over is ever decompressed.
    pub(super) fn read(
        &mut self,
        now: Instant,
        lane: u64,
        stats: &mut LaneStats,
        inflate: &mut dyn FnMut(u64, &[u8]) -> Option<Bytes>,
    ) -> Option<Message> {
        while let Some((seq, mut p)) = self.pop_ready() {
            self.release(seq, p.offset);
            if p.deadline.is_some_and(|d| d <= now) {
                stats.expired_receiving += 1;
                continue;
            }
            let mut data = p.assembly.take().unwrap_or_default();
            if p.compressed {
                match inflate(seq, &data) {
                    Some(message) => data = message,
                    None => {
                        stats.decompression_failed += 1;
                        continue;
                    }
                }
                stats.compressed_messages_received += 1;
            }
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
        self.ready_live > 0
    }

    /// Entries in the ready queue, stale ones included.
    #[cfg(test)]
    pub(super) fn ready_queue_len(&self) -> usize {
        self.ready.len()
    }

    /// Claims on the lane's credit held (reliable).
    #[cfg(test)]
    pub(super) fn claims_len(&self) -> usize {
        self.claims.len()
    }

    /// Unreliable: drops the oldest ready message (the receive buffer is full); returns
    /// whether there was one.
    pub(super) fn drop_oldest_ready(&mut self, stats: &mut LaneStats) -> bool {
        let Some((seq, p)) = self.pop_ready() else {
            return false;
        };
        self.release(seq, p.offset);
        stats.overflow_dropped += 1;
        true
    }

    /// Takes message `seq` out of `pending` and the timer index (it is out of `incomplete`
    /// already: complete, or uncharged first).
    fn remove_pending(&mut self, seq: u64) -> Option<Pending> {
        let p = self.pending.remove(&seq)?;
        if let Some(d) = p.deadline {
            self.deadlines.remove(&(d, seq));
        }
        Some(p)
    }

    /// Drops message `seq` (not handed over).
    fn drop_message(&mut self, seq: u64, _stats: &mut LaneStats) {
        self.uncharge(seq);
        let Some(p) = self.remove_pending(seq) else {
            return;
        };
        if p.ready {
            // Its entry in `ready` goes stale (skipped when met): no walk of the queue here.
            self.ready_live = self.ready_live.saturating_sub(1);
            self.ready_bytes = self.ready_bytes.saturating_sub(ready_cost(&p));
            self.compact_ready();
        }
        self.release(seq, p.offset);
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

    /// Message `seq`, whose credit starts at `offset`, left: its number and (reliable) its
    /// credit are released.
    fn release(&mut self, seq: u64, offset: u64) {
        self.done.insert_one(seq);
        while self.done.peek_min().is_some_and(|r| r.start <= self.floor) {
            if let Some(r) = self.done.pop_min() {
                self.floor = self.floor.max(r.end);
            }
        }
        if self.reliable() {
            // A held message's claim stays until released (only `advance_consumed` removes
            // claims, and only released ones).
            if let Some(c) = self.claims.get_mut(&offset) {
                c.released = true;
            }
            self.advance_consumed();
        }
    }

    /// Moves the consumed credit position over the released claims at its front and tells
    /// the window.
    fn advance_consumed(&mut self) {
        while let Some(entry) = self.claims.first_entry() {
            let claim = *entry.get();
            if *entry.key() > self.consumed || !claim.released {
                break;
            }
            self.consumed = self.consumed.max(claim.end);
            entry.remove();
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
        // Only the numbers newly given up are looked at: below the previous skip, incomplete
        // messages were dropped then and no new one is taken since (`on_frame` ignores them),
        // so a peer's skips one number at a time cost one step each, not a walk of all held.
        let newly = self.given_up_below;
        self.given_up_below = seq;
        let incomplete: Vec<u64> = self
            .pending
            .range(newly..seq)
            .filter(|(_, p)| !p.assembly.is_complete())
            .map(|(&s, _)| s)
            .collect();
        for s in incomplete {
            stats.incomplete_dropped += 1;
            self.drop_message(s, stats);
        }
        // Numbers never seen below `seq` will not come: they count as released.
        let from = self.floor.max(newly);
        if seq > from {
            self.done.insert(from..seq);
            let held: Vec<u64> = self.pending.range(from..seq).map(|(&s, _)| s).collect();
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
        // Credit below `offset` that no message seen holds is given up: claimed (no message
        // may take it any more) and released. Only what lies above the previous skip is new.
        let from = self.consumed.max(self.skip_offset);
        if offset > from {
            let mut cursor = self
                .claims
                .range(..from)
                .next_back()
                .map_or(from, |(_, c)| c.end.max(from));
            let held: Vec<(u64, u64)> = self
                .claims
                .range(from..offset)
                .map(|(&s, c)| (s, c.end))
                .collect();
            for (start, end) in held {
                if cursor < start {
                    self.give_up_credit(cursor, start);
                }
                cursor = cursor.max(end);
            }
            if cursor < offset {
                self.give_up_credit(cursor, offset);
            }
            self.skip_offset = offset;
        }
        self.advance_consumed();
        Ok(self.mode == DeliveryMode::ReliableOrdered && self.advance_ordered(stats))
    }

    /// Reliable: the credit `start..end`, held by no message, was given up by a LANE_SKIP.
    /// Joined to a given-up claim just below it, so tiny skips cannot pile up claims.
    fn give_up_credit(&mut self, start: u64, end: u64) {
        if let Some((_, below)) = self.claims.range_mut(..start).next_back()
            && below.seq.is_none()
            && below.end == start
        {
            below.end = end;
            return;
        }
        self.claims.insert(
            start,
            Claim {
                end,
                seq: None,
                released: true,
            },
        );
    }

    /// The next time [`on_timeout`](Self::on_timeout) has work: a deadline, or (unreliable)
    /// the reassembly timeout of an incomplete message. O(log n): it runs on every poll.
    pub(super) fn next_timeout(&self, reassembly_timeout: Duration) -> Option<Instant> {
        let deadline = self.deadlines.first().map(|&(d, _)| d);
        let reassembly = self
            .incomplete
            .first()
            .map(|&(first_seen, _)| first_seen + reassembly_timeout);
        match (deadline, reassembly) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Drops what went stale by `now`: messages past their deadline, and (unreliable)
    /// incomplete messages older than `reassembly_timeout`. Returns whether an ordered lane
    /// got a message ready by it. Only the messages due are looked at.
    pub(super) fn on_timeout(
        &mut self,
        now: Instant,
        reassembly_timeout: Duration,
        stats: &mut LaneStats,
    ) -> bool {
        let expired: Vec<u64> = self
            .deadlines
            .iter()
            .take_while(|&&(d, _)| d <= now)
            .map(|&(_, s)| s)
            .collect();
        for &s in &expired {
            stats.expired_receiving += 1;
            self.drop_message(s, stats);
        }
        // What is left there did not expire (the drops above took theirs out).
        let timed_out: Vec<u64> = self
            .incomplete
            .iter()
            .take_while(|&&(first_seen, _)| first_seen + reassembly_timeout <= now)
            .map(|&(_, s)| s)
            .collect();
        for &s in &timed_out {
            stats.incomplete_dropped += 1;
            self.drop_message(s, stats);
        }
        (!expired.is_empty() || !timed_out.is_empty())
            && self.mode == DeliveryMode::ReliableOrdered
            && self.advance_ordered(stats)
    }

    /// Reliable: the MAX_LANE_DATA owed, if any.
    pub(super) fn take_window_update(&mut self) -> Option<u64> {
        self.window.is_pending().then(|| self.window.take_update())
    }

    /// Unreliable: every message below `floor` is too old now.
    fn raise_floor(&mut self, floor: u64, stats: &mut LaneStats) {
        // Below the old floor only ready messages are held (incomplete ones were dropped when
        // it passed them, and no new one is taken below it): look at the numbers between only,
        // not at every unread message again on each new one.
        let old: Vec<u64> = self
            .pending
            .range(self.floor..floor)
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

/// What a ready message costs against the unreliable receive budget.
fn ready_cost(p: &Pending) -> u64 {
    p.assembly.len() + READY_OVERHEAD
}
