//! Lanes: numbered message channels with a delivery mode, a priority, a weight and per-message
//! deadlines (DESIGN.md §3a), beside streams under one scheduler.
//!
//! A game reaches for lanes first: a state snapshot on an unreliable-sequenced lane never
//! waits behind a lost packet, an input on a reliable lane arrives exactly once, chat on a
//! reliable-ordered lane may wait, a level file is one large message, fragmented. Each
//! direction of a lane is independent; the receiver learns a lane's mode from its frames.
//!
//! ## What the layer guarantees
//!
//! - **Delivery modes** (see [`DeliveryMode`]): reliable-ordered, reliable-unordered and
//!   reliable-sequenced messages are sent until acknowledged (unless given up); unreliable ones
//!   once. Every message is delivered at most once; sequenced lanes never deliver a message
//!   after a newer one.
//! - **Deadlines**: a message may carry one. Past it, the sender neither sends nor sends again
//!   what is left of it and reports [`LaneEvent::Expired`]; the receiver, told the time to live,
//!   drops it instead of delivering it.
//! - **Fragmentation**: messages up to `max_message_size` (1 MiB by default) are split to fit
//!   the packets and put together at the receiver, which charges a split message's full length
//!   to its limits at the first fragment: a reliable lane is held back by flow control (a
//!   message takes `len + MESSAGE_OVERHEAD` of credit, admitted whole), unreliable reassembly
//!   by a per-connection budget (the oldest incomplete message goes first) and a timeout.
//! - **Scheduling**: strict priority across levels (shared with streams), deficit round-robin
//!   by weight inside a level; control frames go first.
//! - **Coalescing**: small messages share packets; a lane may hold them Nagle-style
//!   ([`Coalesce::Hold`]) until a batch is full, a delay passes or the application flushes.
//!
//! ## Modules
//!
//! `config` (lane and connection settings), `outgoing` (the sending half), `incoming` and
//! `reassembly` (the receiving half), `schedule` (deficit round-robin), `sent` (what a packet
//! carried), `message` (what the application gets), `error`.

mod config;
mod error;
mod incoming;
mod message;
mod outgoing;
mod reassembly;
mod schedule;
mod sent;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;

pub use config::{
    Coalesce, DeliveryMode, LaneConfig, LaneConfigError, LanesConfig, MAX_REDUNDANCY,
};
pub use error::{LaneError, SendMessageError};
pub use message::{LaneEvent, LaneStats, Message};
pub(crate) use sent::{LaneChunk, LaneControl, LanesSent};

use self::incoming::LaneReceiver;
use self::outgoing::LaneSender;
use self::schedule::{QUANTUM, Scheduler};
use crate::error::TransportError;
use crate::streams::{RecvWindow, SendCredit};
use crate::wire::VarInt;
use crate::wire::frame::{Fragment, Frame, LaneFrame, LaneHeader, LaneSkip};

/// Credit a message takes beyond its bytes on a reliable lane: what the receiver spends on
/// keeping it. Part of the protocol (both ends count it).
pub const MESSAGE_OVERHEAD: u64 = 64;

/// Longest encoding of a lane control frame (type and three varints).
const CONTROL_FRAME_MAX: usize = 1 + 3 * VarInt::MAX_SIZE;

/// What the peer announced about its lanes (transport parameters).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct PeerLanes {
    pub(crate) max_lanes: u64,
    pub(crate) max_message_size: u64,
    pub(crate) lane_window: u64,
    pub(crate) window: u64,
}

/// A deadline as the time to live a frame announces: milliseconds left, rounded up, at least 1.
fn ttl_ms(deadline: Instant, now: Instant) -> VarInt {
    let left = deadline.saturating_duration_since(now);
    VarInt::saturating_from_u64(
        u64::try_from(left.as_nanos().div_ceil(1_000_000))
            .unwrap_or(u64::MAX)
            .max(1),
    )
}

/// What a connection's lanes hold against their limits (for the fuzz bodies' oracles).
#[cfg(feature = "fuzzing")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LaneUsage {
    pub(crate) partial_bytes: u64,
    pub(crate) unreliable_ready_bytes: u64,
    pub(crate) conn_received: u64,
    pub(crate) conn_window: u64,
    pub(crate) send_buffered: u64,
}

/// A receiver's counters before a call, to carry the call's effect over to the totals.
#[derive(Debug, Clone, Copy)]
struct Snapshot {
    received: u64,
    consumed: u64,
    partial: u64,
    ready: u64,
}

impl Snapshot {
    fn of(r: &LaneReceiver) -> Self {
        Self {
            received: r.window.received(),
            consumed: r.consumed(),
            partial: r.partial_bytes,
            ready: r.ready_bytes,
        }
    }
}

/// Every lane of one connection (crate-internal; the connection drives it like the streams).
#[derive(Debug)]
pub(crate) struct Lanes {
    config: LanesConfig,
    peer: Option<PeerLanes>,
    senders: BTreeMap<u64, LaneSender>,
    receivers: BTreeMap<u64, LaneReceiver>,
    scheduler: Scheduler,
    /// The peer's MAX_LANES_DATA and what admitted messages used of it.
    conn_send: SendCredit,
    /// The window over all reliable lanes we grant.
    conn_recv: RecvWindow,
    /// The sum of the reliable lane windows' received positions.
    conn_received: u64,
    /// The sum of the reliable lanes' consumed positions, as told to `conn_recv`.
    conn_consumed: u64,
    send_buffered: u64,
    /// A send was refused for lack of buffer: `Writable` is owed when room comes back.
    writer_blocked: bool,
    /// Unreliable messages under reassembly, oldest first (entries may be stale).
    partials: VecDeque<(u64, u64)>,
    partial_bytes: u64,
    unreliable_ready_bytes: u64,
    /// Lanes with messages for the application, in the order they became readable (entries
    /// may be stale).
    readable: VecDeque<u64>,
    /// Lanes that may owe a control frame (entries may be stale).
    control: VecDeque<u64>,
    events: VecDeque<LaneEvent>,
    stats: LaneStats,
    /// Round-robin between lanes and streams at equal priority.
    pub(crate) lanes_turn: bool,
    /// Packets the lanes wrote data into (the originals and copies of redundancy never share
    /// one).
    packets: u64,
}

impl Lanes {
    pub(crate) fn new(config: &LanesConfig) -> Self {
        Self {
            conn_recv: RecvWindow::new(config.receive_window, config.receive_window),
            config: config.clone(),
            peer: None,
            senders: BTreeMap::new(),
            receivers: BTreeMap::new(),
            scheduler: Scheduler::default(),
            conn_send: SendCredit::new(0),
            conn_received: 0,
            conn_consumed: 0,
            send_buffered: 0,
            writer_blocked: false,
            partials: VecDeque::new(),
            partial_bytes: 0,
            unreliable_ready_bytes: 0,
            readable: VecDeque::new(),
            control: VecDeque::new(),
            events: VecDeque::new(),
            stats: LaneStats::default(),
            lanes_turn: false,
            packets: 0,
        }
    }

    /// The peer's limits arrived (once, in the handshake).
    pub(crate) fn set_peer(&mut self, peer: PeerLanes) {
        self.peer = Some(peer);
        self.conn_send.raise(peer.window);
        for sender in self.senders.values_mut() {
            sender.credit.raise(peer.lane_window);
        }
    }

    pub(crate) fn stats(&self) -> LaneStats {
        self.stats
    }

    /// What the lanes hold against their limits.
    #[cfg(feature = "fuzzing")]
    pub(crate) fn usage(&self) -> LaneUsage {
        LaneUsage {
            partial_bytes: self.partial_bytes,
            unreliable_ready_bytes: self.unreliable_ready_bytes,
            conn_received: self.conn_received,
            conn_window: self.conn_recv.advertised(),
            send_buffered: self.send_buffered,
        }
    }

    pub(crate) fn poll_event(&mut self) -> Option<LaneEvent> {
        self.events.pop_front()
    }

    fn peer_lane_window(&self) -> u64 {
        self.peer.map_or(0, |p| p.lane_window)
    }

    fn sender(&mut self, lane: u64) -> &mut LaneSender {
        let window = self.peer_lane_window();
        self.senders
            .entry(lane)
            .or_insert_with(|| LaneSender::new(LaneConfig::default(), window))
    }

    // ----- The application -----

    /// Sets up the sending side of `lane`. The mode cannot change once the lane carried a
    /// message; priority, weight and coalescing can, at any time.
    pub(crate) fn configure(&mut self, lane: u64, config: LaneConfig) -> Result<(), LaneError> {
        config.validate()?;
        if let Some(peer) = self.peer
            && lane >= peer.max_lanes
        {
            return Err(LaneError::LaneLimit {
                lane,
                max: peer.max_lanes,
            });
        }
        let sender = self.sender(lane);
        if sender.used() && sender.config.mode != config.mode {
            return Err(LaneError::ModeChange { lane });
        }
        let old_priority = sender.config.priority;
        let scheduled = sender.scheduled;
        sender.config = config;
        if scheduled && old_priority != config.priority {
            self.scheduler.remove(lane, old_priority);
            if let Some(s) = self.senders.get_mut(&lane) {
                s.scheduled = false;
            }
            self.schedule(lane);
        }
        Ok(())
    }

    /// The configuration of `lane`'s sending side.
    pub(crate) fn lane_config(&self, lane: u64) -> LaneConfig {
        self.senders
            .get(&lane)
            .map(|s| s.config)
            .unwrap_or_default()
    }

    /// Queues a message on `lane`; returns its number.
    pub(crate) fn send(
        &mut self,
        now: Instant,
        lane: u64,
        data: Bytes,
        deadline: Option<Instant>,
    ) -> Result<u64, SendMessageError> {
        let Some(peer) = self.peer else {
            return Err(SendMessageError::NotConnected);
        };
        if lane >= peer.max_lanes {
            return Err(SendMessageError::LaneLimit {
                lane,
                max: peer.max_lanes,
            });
        }
        let max = peer.max_message_size.min(self.config.max_message_size);
        if data.len() as u64 > max {
            return Err(SendMessageError::TooLarge {
                size: data.len(),
                max,
            });
        }
        let len = data.len() as u64;
        let limit = self.config.send_buffer;
        let stats = &mut self.stats;
        let sender = self
            .senders
            .entry(lane)
            .or_insert_with(|| LaneSender::new(LaneConfig::default(), peer.lane_window));
        let reliable = sender.config.mode.is_reliable();
        // An unreliable lane makes room by pushing out its own oldest unsent messages.
        while !reliable && self.send_buffered + len > limit {
            let before = sender.buffered;
            if !sender.push_out_oldest(stats) {
                break;
            }
            self.send_buffered -= before - sender.buffered;
        }
        if self.send_buffered + len > limit {
            self.writer_blocked = true;
            return Err(SendMessageError::Blocked);
        }
        let before = sender.buffered;
        let seq = sender.push(now, data, deadline, stats);
        self.send_buffered = self.send_buffered + sender.buffered - before;
        self.stats.messages_sent += 1;
        self.stats.bytes_sent += len;
        self.schedule(lane);
        Ok(seq)
    }

    /// Lets the messages `lane` holds for coalescing go now.
    pub(crate) fn flush(&mut self, lane: u64) {
        if let Some(s) = self.senders.get_mut(&lane) {
            s.flush();
            self.schedule(lane);
        }
    }

    /// Lets every held message go now.
    pub(crate) fn flush_all(&mut self) {
        let lanes: Vec<u64> = self.senders.keys().copied().collect();
        for lane in lanes {
            self.flush(lane);
        }
    }

    /// The next message for the application: from `lane`, or from any lane.
    pub(crate) fn recv(&mut self, now: Instant, lane: Option<u64>) -> Option<Message> {
        let lane = match lane {
            Some(lane) => lane,
            None => loop {
                let lane = *self.readable.front()?;
                if self.receivers.get(&lane).is_some_and(|r| r.has_ready()) {
                    break lane;
                }
                self.readable.pop_front();
            },
        };
        let receiver = self.receivers.get_mut(&lane)?;
        let before = Snapshot::of(receiver);
        let message = receiver.read(now, lane, &mut self.stats);
        self.settle(lane, before);
        message
    }

    // ----- The peer's frames -----

    /// A LANE frame arrived. An `Err` is a connection error to close with.
    pub(crate) fn on_frame(
        &mut self,
        now: Instant,
        frame: &LaneFrame,
        one_way: Duration,
    ) -> Result<(), TransportError> {
        let lane = frame.header.lane.into_inner();
        if lane >= self.config.max_lanes {
            return Err(TransportError::protocol_violation(format!(
                "lane {lane} is beyond the limit of {} lanes",
                self.config.max_lanes
            )));
        }
        let mode = frame.header.mode;
        let window = self.config.lane_receive_window;
        let receiver = self
            .receivers
            .entry(lane)
            .or_insert_with(|| LaneReceiver::new(mode, window));
        if !receiver.mode_known && receiver.mode.is_reliable() == mode.is_reliable() {
            // Set up by a LANE_SKIP, which only said the lane is reliable.
            receiver.mode = mode;
        }
        if receiver.mode != mode {
            return Err(TransportError::protocol_violation(format!(
                "lane {lane} changed its delivery mode"
            )));
        }
        receiver.mode_known = true;
        let before = Snapshot::of(receiver);
        let outcome = receiver.on_frame(
            now,
            frame,
            one_way,
            self.config.max_message_size,
            &mut self.stats,
        )?;
        if mode.is_reliable() {
            let increase = receiver.window.received() - before.received;
            if !self.conn_recv.allows(self.conn_received + increase) {
                return Err(TransportError::flow_control(format!(
                    "lanes exceed their connection window of {} bytes",
                    self.conn_recv.advertised()
                )));
            }
        } else if outcome.new_partial {
            self.partials
                .push_back((lane, frame.header.sequence.into_inner()));
        }
        self.settle(lane, before);
        if outcome.readable {
            self.on_readable(lane);
        }
        if !mode.is_reliable() {
            self.enforce_unreliable_bounds();
        }
        Ok(())
    }

    /// A LANE_SKIP arrived.
    pub(crate) fn on_skip(&mut self, skip: &LaneSkip) -> Result<(), TransportError> {
        let lane = skip.lane.into_inner();
        if lane >= self.config.max_lanes {
            return Err(TransportError::protocol_violation(format!(
                "lane {lane} is beyond the limit of {} lanes",
                self.config.max_lanes
            )));
        }
        let window = self.config.lane_receive_window;
        let receiver = self.receivers.entry(lane).or_insert_with(|| {
            LaneReceiver::new(crate::wire::frame::DeliveryMode::ReliableOrdered, window)
        });
        let before = Snapshot::of(receiver);
        let readable = receiver.on_skip(
            skip.sequence.into_inner(),
            skip.offset.into_inner(),
            &mut self.stats,
        )?;
        let increase = receiver.window.received() - before.received;
        if !self.conn_recv.allows(self.conn_received + increase) {
            return Err(TransportError::flow_control(
                "LANE_SKIP beyond the lanes' connection window",
            ));
        }
        self.settle(lane, before);
        if readable {
            self.on_readable(lane);
        }
        Ok(())
    }

    /// MAX_LANE_DATA arrived.
    pub(crate) fn on_max_lane_data(&mut self, lane: u64, max: u64) {
        if let Some(s) = self.senders.get_mut(&lane)
            && s.credit.raise(max)
        {
            self.schedule(lane);
        }
    }

    /// MAX_LANES_DATA arrived.
    pub(crate) fn on_max_lanes_data(&mut self, max: u64) {
        if self.conn_send.raise(max) {
            let lanes: Vec<u64> = self.senders.keys().copied().collect();
            for lane in lanes {
                self.schedule(lane);
            }
        }
    }

    fn on_readable(&mut self, lane: u64) {
        self.readable.push_back(lane);
        self.events.push_back(LaneEvent::Readable { lane });
    }

    /// Carries what a call did to `lane`'s receiver over to the connection's totals: the
    /// reliable credit received and released (and window updates due), the unreliable bytes
    /// in reassembly and unread.
    fn settle(&mut self, lane: u64, before: Snapshot) {
        let Some(receiver) = self.receivers.get(&lane) else {
            return;
        };
        let after = Snapshot::of(receiver);
        if receiver.mode.is_reliable() {
            self.conn_received += after.received - before.received;
            self.conn_recv.receive_to(self.conn_received);
            let released = after.consumed - before.consumed;
            if released > 0 {
                self.conn_consumed += released;
                self.conn_recv.consume(released, None);
            }
            if receiver.window.is_pending() {
                self.queue_control(lane);
            }
        } else {
            self.partial_bytes = self.partial_bytes - before.partial + after.partial;
            self.unreliable_ready_bytes = self.unreliable_ready_bytes - before.ready + after.ready;
        }
    }

    /// Unreliable: keeps reassembly and unread messages within their budgets, dropping the
    /// oldest first.
    fn enforce_unreliable_bounds(&mut self) {
        while self.partial_bytes > self.config.reassembly_buffer {
            let Some((lane, seq)) = self.partials.pop_front() else {
                break;
            };
            if let Some(r) = self.receivers.get_mut(&lane) {
                let before = Snapshot::of(r);
                r.evict_partial(seq, &mut self.stats);
                self.settle(lane, before);
            }
        }
        while self.unreliable_ready_bytes > self.config.unreliable_receive_buffer {
            let lane = self.readable.iter().copied().find(|l| {
                self.receivers
                    .get(l)
                    .is_some_and(|r| !r.mode.is_reliable() && r.has_ready())
            });
            let Some((lane, r)) = lane.and_then(|l| Some((l, self.receivers.get_mut(&l)?))) else {
                break;
            };
            let before = Snapshot::of(r);
            r.drop_oldest_ready(&mut self.stats);
            self.settle(lane, before);
        }
    }

    // ----- Timers -----

    /// The next time [`on_timeout`](Self::on_timeout) has work.
    pub(crate) fn next_timeout(&self) -> Option<Instant> {
        let senders = self
            .senders
            .values()
            .flat_map(|s| [s.next_deadline(), s.hold_release()])
            .flatten();
        let receivers = self
            .receivers
            .values()
            .filter_map(|r| r.next_timeout(self.config.reassembly_timeout));
        senders.chain(receivers).min()
    }

    /// Deadlines, holds and reassembly timeouts due by `now`.
    pub(crate) fn on_timeout(&mut self, now: Instant) {
        let lanes: Vec<u64> = self.senders.keys().copied().collect();
        for lane in lanes {
            let Some(s) = self.senders.get_mut(&lane) else {
                continue;
            };
            let before = s.buffered;
            let events = &mut self.events;
            let stats = &mut self.stats;
            s.expire(now, |seq| {
                stats.expired_sending += 1;
                events.push_back(LaneEvent::Expired {
                    lane,
                    sequence: seq,
                });
            });
            let freed = before - s.buffered;
            let skip = s.skip_pending();
            self.on_freed(freed);
            if skip {
                self.queue_control(lane);
            }
            if self
                .senders
                .get_mut(&lane)
                .is_some_and(|s| s.release_hold(now))
            {
                self.schedule(lane);
            }
        }
        let timeout = self.config.reassembly_timeout;
        let lanes: Vec<u64> = self.receivers.keys().copied().collect();
        for lane in lanes {
            let Some(r) = self.receivers.get_mut(&lane) else {
                continue;
            };
            let before = Snapshot::of(r);
            let readable = r.on_timeout(now, timeout, &mut self.stats);
            self.settle(lane, before);
            if readable {
                self.on_readable(lane);
            }
        }
    }

    fn on_freed(&mut self, freed: u64) {
        self.send_buffered -= freed;
        if freed > 0 && self.writer_blocked {
            self.writer_blocked = false;
            self.events.push_back(LaneEvent::Writable);
        }
    }

    // ----- Building packets -----

    fn schedule(&mut self, lane: u64) {
        if let Some(s) = self.senders.get_mut(&lane)
            && !s.scheduled
        {
            s.scheduled = true;
            self.scheduler.push(lane, s.config.priority);
        }
    }

    fn queue_control(&mut self, lane: u64) {
        if !self.control.contains(&lane) {
            self.control.push_back(lane);
        }
    }

    /// Whether a packet built now would carry something of the lanes.
    pub(crate) fn has_pending(&self, now: Instant) -> bool {
        self.conn_recv.is_pending()
            || self.control.iter().any(|lane| {
                self.senders.get(lane).is_some_and(LaneSender::skip_pending)
                    || self
                        .receivers
                        .get(lane)
                        .is_some_and(|r| r.window.is_pending())
            })
            || self.front_priority(now).is_some()
    }

    /// Writes the pending lane control frames that fit in `max_len` bytes.
    pub(crate) fn write_control_frames(
        &mut self,
        buf: &mut Vec<u8>,
        max_len: usize,
        sent: &mut LanesSent,
    ) {
        let end = buf.len().saturating_add(max_len);
        let room = |buf: &Vec<u8>| buf.len() + CONTROL_FRAME_MAX <= end;
        if self.conn_recv.is_pending() && room(buf) {
            let max = self.conn_recv.take_update();
            Frame::MaxLanesData(VarInt::saturating_from_u64(max)).encode(buf);
            sent.controls.push(LaneControl::MaxLanesData);
        }
        while let Some(&lane) = self.control.front() {
            if !room(buf) {
                return;
            }
            self.control.pop_front();
            if let Some(max) = self
                .receivers
                .get_mut(&lane)
                .and_then(LaneReceiver::take_window_update)
            {
                Frame::MaxLaneData {
                    lane: VarInt::saturating_from_u64(lane),
                    max: VarInt::saturating_from_u64(max),
                }
                .encode(buf);
                sent.controls.push(LaneControl::MaxLaneData(lane));
            }
            if !room(buf) {
                self.control.push_front(lane);
                return;
            }
            if let Some((seq, offset)) = self.senders.get_mut(&lane).and_then(LaneSender::take_skip)
            {
                LaneSkip {
                    lane: VarInt::saturating_from_u64(lane),
                    sequence: VarInt::saturating_from_u64(seq),
                    offset: VarInt::saturating_from_u64(offset),
                }
                .encode(buf);
                sent.controls.push(LaneControl::Skip { lane, seq });
            }
        }
    }

    /// The priority of the lane that would send next, if one has something to send now.
    /// Lanes found to have nothing leave the scheduler.
    pub(crate) fn front_priority(&self, now: Instant) -> Option<i32> {
        let credit = self.conn_send.available();
        let (lane, priority) = self.scheduler.front()?;
        if self
            .senders
            .get(&lane)
            .is_some_and(|s| s.has_frame(now, credit))
        {
            return Some(priority);
        }
        // The front lane has nothing after all: look past it (it is cleaned up when served).
        self.senders
            .iter()
            .filter(|(_, s)| s.scheduled && s.has_frame(now, credit))
            .map(|(_, s)| s.config.priority)
            .max()
    }

    /// Writes one LANE frame of the lane whose turn it is into at most `max_len` bytes;
    /// returns whether it wrote one.
    pub(crate) fn write_frame(
        &mut self,
        now: Instant,
        buf: &mut Vec<u8>,
        max_len: usize,
        sent: &mut LanesSent,
    ) -> bool {
        let credit = self.conn_send.available();
        while let Some((lane, _)) = self.scheduler.front() {
            let Some(sender) = self.senders.get_mut(&lane) else {
                self.scheduler.pop();
                continue;
            };
            let Some(plan) = sender.plan(now, credit) else {
                self.scheduler.pop();
                sender.scheduled = false;
                sender.deficit = 0;
                continue;
            };
            if sender.deficit <= 0 {
                sender.deficit += QUANTUM * i64::from(sender.config.weight);
            }
            let ttl = plan.deadline.map(|d| ttl_ms(d, now));
            let whole = plan.range.start == 0 && plan.range.end == plan.message_len;
            let mut header = LaneHeader {
                copy: false,
                lane: VarInt::saturating_from_u64(lane),
                mode: sender.config.mode,
                sequence: VarInt::saturating_from_u64(plan.seq),
                offset: VarInt::saturating_from_u64(plan.offset),
                fragment: None,
                deadline_ms: ttl,
                len: 0,
                explicit_len: true,
            };
            let fits_whole = whole
                && header
                    .max_data_len(max_len)
                    .is_some_and(|n| n as u64 >= plan.message_len);
            if !fits_whole {
                header.fragment = Some(Fragment {
                    message_len: VarInt::saturating_from_u64(plan.message_len),
                    offset: VarInt::saturating_from_u64(plan.range.start),
                });
            }
            let Some(capacity) = header.max_data_len(max_len) else {
                return false;
            };
            let len = (plan.range.end - plan.range.start).min(capacity as u64);
            if len == 0 && plan.message_len > 0 {
                return false;
            }
            let range = plan.range.start..plan.range.start + len;
            let data = sender.data(plan.seq, range.clone());
            header.len = data.len();
            header.encode(buf);
            buf.extend_from_slice(&data);
            let buffered = sender.buffered;
            sender.on_sent(&plan, range.clone(), self.packets);
            let freed = buffered - sender.buffered;
            if let Some(need) = plan.admits {
                self.conn_send.consume(need);
            }
            if plan.retransmit {
                self.stats.fragments_retransmitted += 1;
            }
            if sender.config.mode.is_reliable() {
                sent.chunks.push(LaneChunk {
                    lane,
                    seq: plan.seq,
                    start: range.start,
                    len: len as u32,
                });
            } else if sender.config.redundancy > 0 && header.fragment.is_none() {
                sent.whole.push((lane, plan.seq));
            }
            // An unreliable message leaves the buffer once sent in full.
            self.on_freed(freed);
            let sender = self.senders.get_mut(&lane);
            if let Some(sender) = sender {
                sender.deficit -= (header.encoded_len() + data.len()) as i64;
                if sender.deficit <= 0 {
                    self.scheduler.rotate();
                }
            }
            return true;
        }
        false
    }

    /// Fills up to `max_len` bytes (at most `redundancy_budget`) with redundant copies of the
    /// newest messages of the lanes that ask for them; returns whether any was written. Only
    /// called for a packet that leaves anyway.
    pub(crate) fn write_copies(
        &mut self,
        now: Instant,
        buf: &mut Vec<u8>,
        max_len: usize,
        sent: &mut LanesSent,
    ) -> bool {
        let mut budget = max_len.min(self.config.redundancy_budget);
        let mut wrote = false;
        let lanes: Vec<u64> = self
            .senders
            .iter()
            .filter(|(_, s)| s.has_copies())
            .map(|(&l, _)| l)
            .collect();
        for lane in lanes {
            let Some(sender) = self.senders.get_mut(&lane) else {
                continue;
            };
            let mode = sender.config.mode;
            loop {
                let header_for = |c: &outgoing::Copy| LaneHeader {
                    lane: VarInt::saturating_from_u64(lane),
                    mode,
                    sequence: VarInt::saturating_from_u64(c.seq),
                    offset: VarInt::saturating_from_u64(c.offset),
                    fragment: None,
                    deadline_ms: c.deadline.map(|d| ttl_ms(d, now)),
                    copy: true,
                    len: c.data.len(),
                    explicit_len: true,
                };
                let fits =
                    |c: &outgoing::Copy| header_for(c).encoded_len() + c.data.len() <= budget;
                let Some(copy) = sender.next_copy(now, self.packets, fits) else {
                    break;
                };
                let header = header_for(&copy);
                let size = header.encoded_len() + copy.data.len();
                header.encode(buf);
                buf.extend_from_slice(&copy.data);
                budget -= size;
                wrote = true;
                sender.on_copy_sent(copy.seq);
                self.stats.redundant_bytes_sent += size as u64;
                if mode.is_reliable() {
                    sent.chunks.push(LaneChunk {
                        lane,
                        seq: copy.seq,
                        start: 0,
                        len: copy.data.len() as u32,
                    });
                } else {
                    sent.whole.push((lane, copy.seq));
                }
            }
        }
        // Originals written from here on go in the next packet.
        self.packets += 1;
        wrote
    }

    // ----- Loss recovery -----

    /// A packet carrying `sent` was acknowledged.
    pub(crate) fn on_acked(&mut self, sent: &LanesSent) {
        for chunk in &sent.chunks {
            if let Some(s) = self.senders.get_mut(&chunk.lane) {
                let before = s.buffered;
                s.on_acked(chunk.seq, chunk.start..chunk.start + u64::from(chunk.len));
                let freed = before - s.buffered;
                let skip = s.skip_pending();
                self.on_freed(freed);
                if skip {
                    self.queue_control(chunk.lane);
                }
            }
        }
        for control in &sent.controls {
            if let LaneControl::Skip { lane, seq } = *control
                && let Some(s) = self.senders.get_mut(&lane)
            {
                s.on_skip_acked(seq);
            }
        }
        for &(lane, seq) in &sent.whole {
            if let Some(s) = self.senders.get_mut(&lane) {
                s.drop_copy(seq);
            }
        }
    }

    /// A packet carrying `sent` was declared lost.
    pub(crate) fn on_lost(&mut self, sent: &LanesSent) {
        for chunk in &sent.chunks {
            if let Some(s) = self.senders.get_mut(&chunk.lane) {
                s.on_lost(chunk.seq, chunk.start..chunk.start + u64::from(chunk.len));
                self.schedule(chunk.lane);
            }
        }
        for control in &sent.controls {
            match *control {
                LaneControl::MaxLanesData => self.conn_recv.requeue(),
                LaneControl::MaxLaneData(lane) => {
                    if let Some(r) = self.receivers.get_mut(&lane) {
                        r.window.requeue();
                        self.queue_control(lane);
                    }
                }
                LaneControl::Skip { lane, seq } => {
                    if let Some(s) = self.senders.get_mut(&lane) {
                        s.on_skip_lost(seq);
                        self.queue_control(lane);
                    }
                }
            }
        }
    }
}
