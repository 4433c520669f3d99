//! The sending half of a lane: each message from `send` until it is sent in full (unreliable
//! lanes) or acknowledged in full (reliable lanes) or given up, fragmented to fit the packets
//! being built.
//!
//! Messages leave in order of their numbers. A reliable message is *admitted* when its first
//! fragment goes out: it then takes `len + MESSAGE_OVERHEAD` of the lane's and the
//! connection's credit at the lane's next offset, all at once, because the receiver can only
//! deliver it whole. Lost fragments are sent again before new data, unless the message was
//! given up: superseded by a newer one on a sequenced lane, or past its deadline. Given-up
//! messages leave a hole the receiver learns about from LANE_SKIP, which announces the
//! lane's floor: the first message still live, and its offset.

use std::collections::{BTreeSet, VecDeque};
use std::ops::Range;
use std::time::{Duration, Instant};

use bytes::Bytes;
use smallvec::SmallVec;

use super::MESSAGE_OVERHEAD;
use super::config::{Coalesce, LaneConfig};
use super::message::LaneStats;
use crate::range_set::RangeSet;
use crate::streams::SendCredit;

/// The least time between a message on a sequenced lane and its copy: losses come in bursts
/// at short time scales (a queue overflowing, a radio fade), and a copy right behind its
/// original shares their fate.
const MIN_COPY_SPACING: Duration = Duration::from_millis(1);
/// Where a message is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Being sent, or (reliable) waiting for acknowledgements.
    Live,
    /// Sent in full (unreliable) or acknowledged in full (reliable).
    Done,
    /// Given up: deadline, superseded, pushed out.
    Abandoned,
}

#[derive(Debug)]
struct OutMessage {
    seq: u64,
    /// Reliable: where the message starts in the lane's credit, once admitted.
    offset: Option<u64>,
    len: u64,
    /// What goes on the wire: the message, or its compressed envelope.
    data: Bytes,
    /// Whether `data` is a compressed envelope (its frames carry the COMPRESSED bit).
    compressed: bool,
    deadline: Option<Instant>,
    queued: Instant,
    /// Bytes sent for the first time (from 0).
    sent: u64,
    /// Whether a first fragment left (an empty message has no bytes to count).
    started: bool,
    /// Reliable: message-relative ranges to send again.
    lost: SmallVec<[Range<u64>; 2]>,
    /// Reliable: message-relative ranges acknowledged.
    acked: RangeSet,
    state: State,
}

impl OutMessage {
    /// Whether new bytes (or, for an empty message, the message itself) wait to be sent.
    fn unsent(&self) -> bool {
        self.state == State::Live && (self.sent < self.len || !self.started)
    }

    /// When the message is given up: at its deadline, or, while none of it left, `transit`
    /// before (it could not arrive by its deadline any more). A started message keeps its
    /// whole time: its first fragments are already on their way, and on a reliable lane the
    /// peer may be about to complete it.
    fn give_up_at(&self, transit: Duration) -> Option<Instant> {
        let deadline = self.deadline?;
        Some(if self.started {
            deadline
        } else {
            deadline.checked_sub(transit).unwrap_or(deadline)
        })
    }
}

/// A message sent whole in one fragment, to be carried again in later packets (redundancy).
#[derive(Debug, Clone)]
pub(super) struct Copy {
    pub(super) seq: u64,
    pub(super) offset: u64,
    pub(super) data: Bytes,
    pub(super) compressed: bool,
    pub(super) deadline: Option<Instant>,
    /// Copies still to send.
    left: u8,
    /// The packet that carried the original: copies go in later ones only.
    packet: u64,
}

/// Messages kept for redundant copies, per lane.
const MAX_COPIES_KEPT: usize = 16;

/// The next fragment of a lane to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Plan {
    pub(super) seq: u64,
    /// Where the message starts in the lane's credit (reliable; 0 otherwise).
    pub(super) offset: u64,
    pub(super) message_len: u64,
    /// The message-relative bytes to send (trimmed to the packet's room by the caller).
    pub(super) range: Range<u64>,
    pub(super) retransmit: bool,
    /// Whether the message is a compressed envelope.
    pub(super) compressed: bool,
    /// Time to live left, if the message has a deadline.
    pub(super) deadline: Option<Instant>,
    /// Reliable: the credit the message takes if this fragment admits it.
    pub(super) admits: Option<u64>,
}

/// The sending half of one lane (see the [module docs](self)).
#[derive(Debug)]
pub(super) struct LaneSender {
    pub(super) config: LaneConfig,
    /// The strategy selector's batch size, replacing the configured one of a coalescing lane
    /// (see [`LaneConfig::adaptive`]).
    pub(super) strategy_batch: Option<usize>,
    next_seq: u64,
    /// Reliable: the credit position of the next message admitted.
    next_offset: u64,
    messages: VecDeque<OutMessage>,
    /// Reliable: the peer's MAX_LANE_DATA.
    pub(super) credit: SendCredit,
    /// Reliable: a LANE_SKIP is owed (messages were given up since the last one).
    skip_pending: bool,
    /// Reliable: the highest floor (sequence number) the peer acknowledged.
    skip_acked: u64,
    /// Coalescing: the application asked for the held messages to go.
    flush: bool,
    /// Bytes of message data held.
    pub(super) buffered: u64,
    /// DRR: bytes this lane may still send in its current turn.
    pub(super) deficit: i64,
    /// Whether the lane is in the scheduler.
    pub(super) scheduled: bool,
    /// Messages to carry again (redundancy), oldest first.
    copies: VecDeque<Copy>,
    /// When the lane last put something in a packet, or last tried to (for tail copies).
    pub(super) last_sent: Option<Instant>,
    /// Reliable: messages that may have lost ranges to send again (entries may be stale).
    retransmit: BTreeSet<u64>,
    /// Every message numbered below this was sent in full or given up: the search for the
    /// next one to send starts here, not at the oldest unacknowledged message.
    unsent_from: u64,
    /// When the application queued its last message, and the smoothed interval between its
    /// messages (tail copies wait for a pause longer than its usual pace).
    last_push: Option<Instant>,
    interval: Option<Duration>,
    /// The time a message now queued needs to reach the peer (see
    /// [`Lanes::set_transit`](super::Lanes::set_transit)): a message not started is given
    /// up this long before its deadline.
    pub(super) transit: Duration,
}

impl LaneSender {
    pub(super) fn new(config: LaneConfig, peer_window: u64, transit: Duration) -> Self {
        Self {
            config,
            strategy_batch: None,
            next_seq: 0,
            next_offset: 0,
            messages: VecDeque::new(),
            credit: SendCredit::new(peer_window),
            skip_pending: false,
            skip_acked: 0,
            flush: false,
            buffered: 0,
            deficit: 0,
            scheduled: false,
            copies: VecDeque::new(),
            last_sent: None,
            transit,
            retransmit: BTreeSet::new(),
            unsent_from: 0,
            last_push: None,
            interval: None,
        }
    }

    fn reliable(&self) -> bool {
        self.config.mode.is_reliable()
    }

    /// Whether the lane carried a message (its mode is then fixed).
    pub(super) fn used(&self) -> bool {
        self.next_seq > 0
    }

    /// Queues a message (`data`, a compressed envelope if `compressed`); returns its number.
    /// On a sequenced lane every older message not yet done is given up (counted in `stats`).
    pub(super) fn push(
        &mut self,
        now: Instant,
        data: Bytes,
        compressed: bool,
        deadline: Option<Instant>,
        stats: &mut LaneStats,
    ) -> u64 {
        if self.config.mode.is_sequenced() {
            // Older messages are worthless now, copies included.
            self.copies.clear();
            for m in &mut self.messages {
                if m.state == State::Live {
                    stats.superseded_sending += 1;
                    abandon(m, &mut self.buffered);
                }
            }
            self.pop_front();
        }
        if let Some(last) = self.last_push {
            let gap = now.saturating_duration_since(last);
            self.interval = Some(self.interval.map_or(gap, |i| (i * 7 + gap) / 8));
        }
        self.last_push = Some(now);
        let seq = self.next_seq;
        self.next_seq += 1;
        let len = data.len() as u64;
        self.buffered += len;
        self.messages.push_back(OutMessage {
            seq,
            offset: None,
            len,
            data,
            compressed,
            deadline,
            queued: now,
            sent: 0,
            started: false,
            lost: SmallVec::new(),
            acked: RangeSet::new(),
            state: State::Live,
        });
        seq
    }

    /// Gives up the oldest message not yet sent in full (an unreliable lane making room);
    /// returns whether there was one.
    pub(super) fn push_out_oldest(&mut self, stats: &mut LaneStats) -> bool {
        let Some(m) = self.messages.iter_mut().find(|m| m.unsent()) else {
            return false;
        };
        stats.superseded_sending += 1;
        abandon(m, &mut self.buffered);
        self.pop_front();
        true
    }

    /// Gives up the messages whose deadline passed by `now`, and the ones not started yet
    /// that could not arrive by theirs: whose deadline is within the transit of `now`. Calls
    /// `expired` with each one's number and whether it was given up before its deadline.
    pub(super) fn expire(&mut self, now: Instant, mut expired: impl FnMut(u64, bool)) {
        let transit = self.transit;
        let mut any = false;
        for m in &mut self.messages {
            let Some(give_up) = m.give_up_at(transit) else {
                continue;
            };
            if m.state == State::Live && give_up <= now {
                expired(m.seq, m.deadline.is_some_and(|d| d > now));
                abandon(m, &mut self.buffered);
                any = true;
            }
        }
        if any {
            self.pop_front();
        }
    }

    /// The earliest time a live message is to be given up (see [`expire`](Self::expire)).
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.messages
            .iter()
            .filter(|m| m.state == State::Live)
            .filter_map(|m| m.give_up_at(self.transit))
            .min()
    }

    /// Coalescing: when the held messages are released by the delay, if they are held (once
    /// the delay passed, [`release_hold`](Self::release_hold) lets them go).
    pub(super) fn hold_release(&self) -> Option<Instant> {
        let Coalesce::Hold { max_delay, .. } = self.config.coalesce else {
            return None;
        };
        if self.flush {
            return None;
        }
        self.first_unsent().map(|m| m.queued + max_delay)
    }

    fn first_unsent(&self) -> Option<&OutMessage> {
        let first = self.messages.front()?.seq;
        let skip = usize::try_from(self.unsent_from.saturating_sub(first))
            .unwrap_or(usize::MAX)
            .min(self.messages.len());
        self.messages.range(skip..).find(|m| m.unsent())
    }

    /// Moves `unsent_from` past the messages sent in full or given up.
    fn advance_unsent(&mut self) {
        if let Some(front) = self.messages.front() {
            self.unsent_from = self.unsent_from.max(front.seq);
        }
        while self.find(self.unsent_from).is_some_and(|m| !m.unsent()) {
            self.unsent_from += 1;
        }
    }

    /// Whether new data waits behind a Nagle hold at `now`.
    fn held(&self, now: Instant) -> bool {
        let Coalesce::Hold {
            batch_bytes,
            max_delay,
        } = self.config.coalesce
        else {
            return false;
        };
        if self.flush {
            return false;
        }
        let Some(first) = self.first_unsent() else {
            return false;
        };
        let batch_bytes = self.strategy_batch.unwrap_or(batch_bytes);
        let unsent: u64 = self
            .messages
            .iter()
            .filter(|m| m.state == State::Live)
            .map(|m| m.len - m.sent)
            .sum();
        unsent < batch_bytes as u64 && now < first.queued + max_delay
    }

    /// The hold's delay passed at `now`: the held messages go (as on a flush).
    pub(super) fn release_hold(&mut self, now: Instant) -> bool {
        let due = self.hold_release().is_some_and(|at| at <= now);
        if due {
            self.flush = true;
        }
        due
    }

    /// Lets held messages go (the application's `flush`).
    pub(super) fn flush(&mut self) {
        self.flush = self.first_unsent().is_some();
    }

    /// The next fragment to send at `now`, given `conn_credit` of connection-level credit for
    /// admitting reliable messages: lost data first, then new data.
    pub(super) fn plan(&self, now: Instant, conn_credit: u64) -> Option<Plan> {
        if self.reliable()
            && let Some(m) = self.retransmit.iter().find_map(|&seq| {
                self.find(seq)
                    .filter(|m| m.state == State::Live && !m.lost.is_empty())
            })
        {
            return Some(Plan {
                seq: m.seq,
                offset: m.offset.unwrap_or(0),
                message_len: m.len,
                range: m.lost[0].clone(),
                retransmit: true,
                compressed: m.compressed,
                deadline: m.deadline,
                admits: None,
            });
        }
        if self.held(now) {
            return None;
        }
        let m = self.first_unsent()?;
        if m.give_up_at(self.transit).is_some_and(|at| at <= now) {
            // It could not arrive in time: the timer gives it up, nothing sends it.
            return None;
        }
        let admits = if self.reliable() && m.offset.is_none() {
            let need = m.len + MESSAGE_OVERHEAD;
            if self.credit.available() < need || conn_credit < need {
                return None;
            }
            Some(need)
        } else {
            None
        };
        Some(Plan {
            seq: m.seq,
            offset: m.offset.unwrap_or(self.next_offset),
            message_len: m.len,
            range: m.sent..m.len,
            retransmit: false,
            compressed: m.compressed,
            deadline: m.deadline,
            admits,
        })
    }

    /// The message data of `plan`'s `range` (trimmed by the caller).
    pub(super) fn data(&self, seq: u64, range: Range<u64>) -> Bytes {
        self.find(seq)
            .map(|m| {
                let start = usize::try_from(range.start)
                    .unwrap_or(usize::MAX)
                    .min(m.data.len());
                let end = usize::try_from(range.end)
                    .unwrap_or(usize::MAX)
                    .min(m.data.len());
                m.data.slice(start..end)
            })
            .unwrap_or_default()
    }

    /// A fragment of `plan` covering `range` was written into a packet.
    /// `packet` counts the packets the lanes wrote into (copies skip the original's).
    pub(super) fn on_sent(&mut self, plan: &Plan, range: Range<u64>, packet: u64) {
        let reliable = self.reliable();
        if let Some(need) = plan.admits {
            self.credit.consume(need);
            self.next_offset += need;
        }
        let Some(m) = find_mut(&mut self.messages, plan.seq) else {
            return;
        };
        if plan.admits.is_some() {
            m.offset = Some(plan.offset);
        }
        if self.config.redundancy > 0 && range.start == 0 && range.end == m.len {
            // Sent whole (first or again): keep it for copies in the next packets. A message
            // sent again was lost with all its copies: it gets a fresh set.
            self.copies.retain(|c| c.seq != m.seq);
            if self.copies.len() >= MAX_COPIES_KEPT {
                self.copies.pop_front();
            }
            self.copies.push_back(Copy {
                seq: m.seq,
                offset: plan.offset,
                data: m.data.clone(),
                compressed: m.compressed,
                deadline: m.deadline,
                left: self.config.redundancy,
                packet,
            });
        }
        let Some(m) = find_mut(&mut self.messages, plan.seq) else {
            return;
        };
        if plan.retransmit {
            if m.len == 0 {
                m.lost.clear();
            } else {
                trim(&mut m.lost, &range);
            }
            if m.lost.is_empty() {
                self.retransmit.remove(&plan.seq);
            }
        } else {
            m.sent = m.sent.max(range.end);
            m.started = true;
            self.advance_unsent();
            self.flush &= self.first_unsent().is_some();
        }
        if !reliable {
            let Some(m) = find_mut(&mut self.messages, plan.seq) else {
                return;
            };
            if !m.unsent() {
                m.state = State::Done;
                self.buffered -= m.len;
                m.data = Bytes::new();
                self.pop_front();
            }
        }
    }

    /// Reliable: the message-relative `range` of message `seq` was acknowledged. Returns
    /// whether bytes were released from the send buffer.
    pub(super) fn on_acked(&mut self, seq: u64, range: Range<u64>) -> bool {
        let Some(m) = find_mut(&mut self.messages, seq) else {
            return false;
        };
        if m.state != State::Live {
            return false;
        }
        m.acked.insert(range.clone());
        trim(&mut m.lost, &range);
        if m.lost.is_empty() {
            self.retransmit.remove(&seq);
        }
        let complete = m
            .acked
            .peek_min()
            .is_some_and(|r| r.start == 0 && r.end >= m.len)
            || m.len == 0;
        if !complete {
            return false;
        }
        m.state = State::Done;
        self.buffered -= m.len;
        m.data = Bytes::new();
        m.acked = RangeSet::new();
        self.pop_front();
        self.drop_copy(seq);
        true
    }

    /// The newest message to carry again in packet `packet` at `now` that fits `fits`, if any.
    pub(super) fn next_copy(
        &self,
        now: Instant,
        packet: u64,
        fits: impl Fn(&Copy) -> bool,
    ) -> Option<Copy> {
        self.copies
            .iter()
            .rev()
            .filter(|c| c.left > 0 && c.packet < packet && c.deadline.is_none_or(|d| d > now))
            .find(|c| fits(c))
            .cloned()
    }

    /// A copy of message `seq` went out.
    pub(super) fn on_copy_sent(&mut self, seq: u64) {
        if let Some(c) = self.copies.iter_mut().find(|c| c.seq == seq) {
            c.left = c.left.saturating_sub(1);
        }
        self.copies.retain(|c| c.left > 0);
    }

    /// Message `seq` needs no more copies (it was acknowledged).
    pub(super) fn drop_copy(&mut self, seq: u64) {
        self.copies.retain(|c| c.seq != seq);
    }

    /// Whether copies wait to be sent.
    pub(super) fn has_copies(&self) -> bool {
        !self.copies.is_empty()
    }

    /// When copies should leave in a packet of their own: `idle` after the lane last sent,
    /// if copies are still owed. The newest messages before a pause (a player's last input)
    /// would otherwise have no later packet to ride in, and a loss would wait for a probe
    /// timeout.
    ///
    /// A sequenced lane does not wait for a pause: its copy is worth something only until the
    /// next message supersedes it (which drops the copy), so it leaves a quarter of the lane's
    /// usual interval after the original. A lost snapshot then costs a quarter tick of
    /// staleness, not a whole one; the price is a second packet per message, sent only when
    /// the congestion window has a full packet to spare.
    pub(super) fn tail_copies_at(&self, idle: Duration) -> Option<Instant> {
        if self.copies.iter().all(|c| c.left == 0) {
            return None;
        }
        let idle = match self.interval {
            Some(interval) if self.config.mode.is_sequenced() => {
                (interval / 4).max(MIN_COPY_SPACING)
            }
            // A pause is longer than twice the application's usual pace: a 30 Hz lane is
            // not quiet between its ticks.
            interval => idle.max(interval.unwrap_or_default() * 2),
        };
        self.last_sent.map(|t| t + idle)
    }

    /// Reliable: the message-relative `range` of message `seq` was lost: send it again if
    /// the message is still live (what was acknowledged meanwhile is left out).
    pub(super) fn on_lost(&mut self, seq: u64, range: Range<u64>) {
        let Some(m) = find_mut(&mut self.messages, seq) else {
            return;
        };
        if m.state != State::Live {
            return;
        }
        if m.len == 0 {
            // An empty message is all header: send it again whole.
            if m.lost.is_empty() {
                m.lost.push(0..0);
            }
            self.retransmit.insert(seq);
            return;
        }
        self.retransmit.insert(seq);
        let mut rest = range;
        for acked in m.acked.iter() {
            if acked.end <= rest.start || acked.start >= rest.end {
                continue;
            }
            if acked.start > rest.start {
                m.lost.push(rest.start..acked.start);
            }
            rest.start = rest.start.max(acked.end);
        }
        if rest.start < rest.end {
            m.lost.push(rest);
        }
    }

    /// Whether the lane has something to send at `now` (given connection credit).
    pub(super) fn has_frame(&self, now: Instant, conn_credit: u64) -> bool {
        self.plan(now, conn_credit).is_some()
    }

    /// Reliable: the LANE_SKIP owed, if any: the first live message's number and offset.
    pub(super) fn take_skip(&mut self) -> Option<(u64, u64)> {
        if !self.skip_pending {
            return None;
        }
        self.skip_pending = false;
        Some(self.floor())
    }

    /// Whether a LANE_SKIP is owed.
    pub(super) fn skip_pending(&self) -> bool {
        self.skip_pending
    }

    /// A LANE_SKIP announcing floor `seq` was lost: announce the current floor again, unless
    /// the peer acknowledged one at least as high.
    pub(super) fn on_skip_lost(&mut self, seq: u64) {
        if self.skip_acked < seq {
            self.skip_pending = true;
        }
    }

    /// A LANE_SKIP announcing floor `seq` was acknowledged.
    pub(super) fn on_skip_acked(&mut self, seq: u64) {
        self.skip_acked = self.skip_acked.max(seq);
    }

    /// The lane's floor: the first message not done, and where it starts in the credit.
    fn floor(&self) -> (u64, u64) {
        match self.messages.front() {
            Some(m) => (m.seq, m.offset.unwrap_or(self.next_offset)),
            None => (self.next_seq, self.next_offset),
        }
    }

    /// Drops done and given-up messages from the front. A given-up one moves the floor past
    /// a message the peer may never get: a reliable lane then owes a LANE_SKIP.
    fn pop_front(&mut self) {
        while let Some(m) = self.messages.front()
            && m.state != State::Live
        {
            self.skip_pending |= m.state == State::Abandoned && self.config.mode.is_reliable();
            self.messages.pop_front();
        }
        let front = self.messages.front().map_or(self.next_seq, |m| m.seq);
        while self.retransmit.first().is_some_and(|&s| s < front) {
            self.retransmit.pop_first();
        }
    }

    fn find(&self, seq: u64) -> Option<&OutMessage> {
        let first = self.messages.front()?.seq;
        let index = usize::try_from(seq.checked_sub(first)?).ok()?;
        self.messages.get(index).filter(|m| m.seq == seq)
    }
}

/// Message `seq` of `messages` (which are in order of their numbers, without gaps).
fn find_mut(messages: &mut VecDeque<OutMessage>, seq: u64) -> Option<&mut OutMessage> {
    let first = messages.front()?.seq;
    let index = usize::try_from(seq.checked_sub(first)?).ok()?;
    messages.get_mut(index).filter(|m| m.seq == seq)
}

/// Gives up message `m`: its data is released (the floor passes it once it reaches the
/// front).
fn abandon(m: &mut OutMessage, buffered: &mut u64) {
    m.state = State::Abandoned;
    *buffered -= m.len;
    m.data = Bytes::new();
    m.lost.clear();
    m.acked = RangeSet::new();
}

/// Removes `range` from the ranges in `lost`.
fn trim(lost: &mut SmallVec<[Range<u64>; 2]>, range: &Range<u64>) {
    let mut out: SmallVec<[Range<u64>; 2]> = SmallVec::new();
    for r in lost.drain(..) {
        if r.end <= range.start || r.start >= range.end {
            out.push(r);
            continue;
        }
        if r.start < range.start {
            out.push(r.start..range.start);
        }
        if r.end > range.end {
            out.push(range.end..r.end);
        }
    }
    *lost = out;
}
