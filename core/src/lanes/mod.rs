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
//! - **Loss repair without a round trip**, per lane and switchable at any time: redundancy
//!   ([`LaneConfig::redundancy`]: later packets carry copies of the newest unacknowledged
//!   messages) and forward error correction ([`LaneConfig::fec`], [`FecLevel`]: Reed–Solomon
//!   repairs over groups of the lane's packets).
//! - **Compression**, per lane ([`LaneConfig::compression`]) or per message
//!   ([`SendOptions::compression`]): lz4 or zstd (with a dictionary both ends hold), only with
//!   codecs the peer announced and only when it shrinks the message; decompressed when the
//!   application reads, within `max_message_size` (see [`compression`]).
//!
//! ## Modules
//!
//! `config` (lane and connection settings), `outgoing` (the sending half), `incoming` and
//! `reassembly` (the receiving half), `fec` (forward error correction), `compression` (the
//! codecs and their envelope), `schedule` (deficit round-robin), `sent` (what a packet
//! carried), `message` (what the application gets), `error`.

pub mod compression;
mod config;
mod error;
mod fec;
mod incoming;
mod message;
mod outgoing;
mod reassembly;
mod schedule;
mod sent;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_compression;
#[cfg(test)]
mod tests_transit;

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;

pub use compression::{
    Codec, CodecSet, Compression, DecompressError, LaneCompression, UnknownCompression,
    ZstdDictionary,
};
pub use config::{
    Coalesce, DeliveryMode, LaneConfig, LaneConfigError, LanesConfig, MAX_REDUNDANCY, SendOptions,
    UnknownDeliveryMode,
};
pub use error::{LaneError, SendMessageError};
pub use fec::{FecLevel, MAX_REPAIRS, MAX_SOURCES, UnknownFecLevel};
pub use message::{LaneEvent, LaneStats, Message};
pub(crate) use sent::{LaneChunk, LaneControl, LanesSent};

use self::compression::{Decoder, Encoder};
use self::fec::{FecDecoder, FecEncoder, Recovered};
use self::incoming::LaneReceiver;
use self::outgoing::LaneSender;
use self::schedule::{QUANTUM, Scheduler};
use crate::error::TransportError;
use crate::streams::{RecvWindow, SendCredit};
use crate::wire::VarInt;
use crate::wire::frame::{
    FecRepair, FecSource, Fragment, Frame, Iter, LaneFrame, LaneHeader, LaneSkip,
};

/// Credit a message takes beyond its bytes on a reliable lane: what the receiver spends on
/// keeping it. Part of the protocol (both ends count it).
pub const MESSAGE_OVERHEAD: u64 = 64;

/// Longest encoding of a lane control frame (type and three varints).
const CONTROL_FRAME_MAX: usize = 1 + 3 * VarInt::MAX_SIZE;
/// Most bytes an FEC_REPAIR adds to its shard: type, lane, group, three bytes, age, length,
/// and the shard's length prefix and rounding.
const FEC_REPAIR_MAX_OVERHEAD: usize = 1 + 3 * VarInt::MAX_SIZE + 3 + 2 + 2 + 1;
/// Longest FEC_SOURCE header: type, lane, group, index, a two-byte length.
const FEC_SOURCE_MAX_HEADER: usize = 1 + 2 * VarInt::MAX_SIZE + 1 + 2;
/// The FEC symbol limit until the connection says how large its packets are.
const DEFAULT_SYMBOL_LIMIT: usize = 1100;

/// What [`Lanes::write_lane_frame`] wrote.
struct Written {
    bytes: usize,
    deadline: Option<Instant>,
}

/// The earlier of two optional instants (`None` is no bound).
fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// What the peer announced about its lanes (transport parameters).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct PeerLanes {
    pub(crate) max_lanes: u64,
    pub(crate) max_message_size: u64,
    pub(crate) lane_window: u64,
    pub(crate) window: u64,
    /// The codecs the peer decompresses.
    pub(crate) decompress: CodecSet,
    /// The id of the peer's zstd dictionary (0: none).
    pub(crate) zstd_dictionary: u64,
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
    pub(crate) fec_bytes: usize,
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
    /// may be stale). Each lane is in it at most once (`LaneReceiver::queued_readable`): an
    /// application that reads lane by lane never pops it, and it must not grow per message.
    readable: VecDeque<u64>,
    /// Lanes that may owe a control frame (entries may be stale).
    control: VecDeque<u64>,
    events: VecDeque<LaneEvent>,
    stats: LaneStats,
    /// Round-robin between lanes and streams at equal priority.
    pub(crate) lanes_turn: bool,
    /// Packets the lanes wrote data into (the originals and copies of redundancy never share
    /// one, nor an FEC group's sources and its repairs).
    packets: u64,
    /// The sending side of each lane with FEC (or with repairs still to send).
    fec_out: BTreeMap<u64, FecEncoder>,
    /// The receiving side of FEC, every lane.
    fec_in: FecDecoder,
    /// The smoothed RTT, for FEC groups (how long repairs stay useful).
    rtt: Duration,
    /// Most bytes of one FEC source symbol: its repairs must fit a packet too.
    symbol_limit: usize,
    /// Where an FEC lane's frames are put together before they go in their FEC_SOURCE.
    scratch: Vec<u8>,
    /// A lane went quiet with redundant copies owed: they leave in a packet of their own.
    tail_copies: bool,
    /// The strategy selector's least FEC level for real-time lanes.
    strategy_fec: FecLevel,
    /// The strategy selector's batch size for coalescing lanes.
    strategy_batch: Option<usize>,
    /// The strategy selector's compression for adaptive lanes.
    strategy_compression: Compression,
    /// Compresses the messages sent (its zstd context kept between them).
    encoder: Encoder,
    /// Decompresses the messages read.
    decoder: Decoder,
    /// When the application last queued a real-time message (on an unreliable or sequenced
    /// lane, or with a deadline).
    last_realtime: Option<Instant>,
    /// The wire rate of the real-time messages queued.
    realtime_demand: crate::estimate::RealtimeDemand,
    /// See [`set_transit`](Self::set_transit).
    transit: Duration,
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
            fec_out: BTreeMap::new(),
            fec_in: FecDecoder::new(usize::try_from(config.fec_buffer).unwrap_or(usize::MAX)),
            rtt: Duration::from_millis(333),
            symbol_limit: DEFAULT_SYMBOL_LIMIT,
            scratch: Vec::new(),
            tail_copies: false,
            strategy_fec: FecLevel::None,
            strategy_batch: None,
            strategy_compression: Compression::None,
            encoder: Encoder::default(),
            decoder: Decoder::default(),
            last_realtime: None,
            realtime_demand: crate::estimate::RealtimeDemand::default(),
            transit: Duration::ZERO,
        }
    }

    /// How long a lane with copies owed stays quiet before they leave on their own: a quarter
    /// RTT (a loss then costs that, not a probe timeout), within 2–50 ms.
    fn tail_idle(&self) -> Duration {
        (self.rtt / 4).clamp(Duration::from_millis(2), Duration::from_millis(50))
    }

    /// Whether copies are due in a packet of their own (see `LaneSender::tail_copies_at`).
    pub(crate) fn tail_copies_due(&self) -> bool {
        self.tail_copies
    }

    /// The connection's smoothed RTT changed (FEC groups close within half of it).
    pub(crate) fn set_rtt(&mut self, rtt: Duration) {
        self.rtt = rtt;
    }

    /// The time a message queued now needs to reach the peer, as the connection estimates it
    /// (half the path's base RTT and the queue its own data stands in): a message none of
    /// which was sent yet is given up that long before its deadline, since it could not
    /// arrive by it — it would take the link from messages that still can, and reach the
    /// application stale.
    pub(crate) fn set_transit(&mut self, transit: Duration) {
        self.transit = transit;
        for s in self.senders.values_mut() {
            s.transit = transit;
        }
    }

    /// The most frame bytes a full packet holds: FEC source symbols stay small enough that
    /// a repair of them (a few bytes longer) fits one.
    pub(crate) fn set_packet_space(&mut self, space: usize) {
        self.symbol_limit = space.saturating_sub(FEC_REPAIR_MAX_OVERHEAD).max(64);
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
        LaneStats {
            fec_dropped: self.stats.fec_dropped + self.fec_in.dropped,
            ..self.stats
        }
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
            fec_bytes: self.fec_in.bytes(),
        }
    }

    pub(crate) fn poll_event(&mut self) -> Option<LaneEvent> {
        let event = self.events.pop_front()?;
        if let LaneEvent::Readable { lane } = event
            && let Some(r) = self.receivers.get_mut(&lane)
        {
            r.readable_event_pending = false;
        }
        Some(event)
    }

    fn peer_lane_window(&self) -> u64 {
        self.peer.map_or(0, |p| p.lane_window)
    }

    fn sender(&mut self, lane: u64) -> &mut LaneSender {
        let window = self.peer_lane_window();
        let transit = self.transit;
        self.senders
            .entry(lane)
            .or_insert_with(|| LaneSender::new(LaneConfig::default(), window, transit))
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
        let strategy_batch = self.strategy_batch;
        let sender = self.sender(lane);
        if sender.used() && sender.config.mode != config.mode {
            return Err(LaneError::ModeChange { lane });
        }
        let old_priority = sender.config.priority;
        let scheduled = sender.scheduled;
        sender.config = config;
        sender.strategy_batch = config.adaptive.then_some(strategy_batch).flatten();
        self.apply_fec(lane, config.effective_fec(self.strategy_fec));
        if scheduled && old_priority != config.priority {
            self.scheduler.remove(lane, old_priority);
            if let Some(s) = self.senders.get_mut(&lane) {
                s.scheduled = false;
            }
            self.schedule(lane);
        }
        Ok(())
    }

    /// Sets `lane`'s FEC encoder to `level`.
    fn apply_fec(&mut self, lane: u64, level: FecLevel) {
        match self.fec_out.get_mut(&lane) {
            Some(encoder) => encoder.set_level(level, self.rtt),
            None if level != FecLevel::None => {
                self.fec_out.insert(lane, FecEncoder::new(lane, level));
            }
            None => {}
        }
    }

    /// The strategy selector's least FEC level for real-time lanes, batch size for
    /// coalescing ones and compression for the rest (see [`LaneConfig::adaptive`]). The
    /// compression applies to the messages queued from now on.
    pub(crate) fn set_strategy(
        &mut self,
        fec: FecLevel,
        batch: Option<usize>,
        compression: Compression,
    ) {
        self.strategy_compression = compression;
        self.strategy_fec = fec;
        self.strategy_batch = batch;
        let lanes: Vec<(u64, FecLevel)> = self
            .senders
            .iter_mut()
            .map(|(&lane, sender)| {
                if sender.config.adaptive {
                    sender.strategy_batch = batch;
                }
                (lane, sender.config.effective_fec(fec))
            })
            .collect();
        for (lane, level) in lanes {
            self.apply_fec(lane, level);
        }
    }

    /// The wire bytes per second of the real-time messages queued (see
    /// [`RealtimeDemand`](crate::estimate::RealtimeDemand)).
    pub(crate) fn realtime_rate(&self, now: Instant) -> Option<u64> {
        self.realtime_demand.rate(now)
    }

    /// Whether the application queued a real-time message within `window` of `now`.
    pub(crate) fn realtime_within(&self, now: Instant, window: Duration) -> bool {
        self.last_realtime
            .is_some_and(|at| now.saturating_duration_since(at) <= window)
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
        options: SendOptions,
    ) -> Result<u64, SendMessageError> {
        let deadline = options.deadline;
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
        let original = data.len() as u64;
        let compression = options.compression.unwrap_or_else(|| {
            self.senders
                .get(&lane)
                .map_or_else(LaneConfig::default, |s| s.config)
                .effective_compression(self.strategy_compression)
        });
        let (data, compressed) = match self.compress(compression, &data, &peer) {
            Some(envelope) => (envelope, true),
            None => (data, false),
        };
        let len = data.len() as u64;
        let limit = self.config.send_buffer;
        let stats = &mut self.stats;
        let transit = self.transit;
        let sender = self
            .senders
            .entry(lane)
            .or_insert_with(|| LaneSender::new(LaneConfig::default(), peer.lane_window, transit));
        let reliable = sender.config.mode.is_reliable();
        let realtime = deadline.is_some()
            || !matches!(
                sender.config.mode,
                DeliveryMode::ReliableOrdered | DeliveryMode::ReliableUnordered
            );
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
        let seq = sender.push(now, data, compressed, deadline, stats);
        self.send_buffered = self.send_buffered + sender.buffered - before;
        self.stats.messages_sent += 1;
        self.stats.bytes_sent += original;
        if compressed {
            self.stats.compressed_messages_sent += 1;
            self.stats.compression_saved_bytes += original - len;
        } else if compression != Compression::None {
            self.stats.compression_skipped += 1;
        }
        if realtime {
            self.last_realtime = Some(now);
            self.realtime_demand.record(now, len);
        }
        self.schedule(lane);
        Ok(seq)
    }

    /// `data`'s compressed envelope, if `compression` asks for a codec the peer decodes and
    /// it makes the message smaller; the dictionary only if the peer holds the same one.
    fn compress(
        &mut self,
        compression: Compression,
        data: &[u8],
        peer: &PeerLanes,
    ) -> Option<Bytes> {
        if !peer.decompress.allows(compression) {
            return None;
        }
        let dictionary = self
            .config
            .zstd_dictionary
            .as_ref()
            .filter(|d| d.id() == peer.zstd_dictionary);
        self.encoder.compress(compression, dictionary, data)
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
                if let Some(r) = self.receivers.get_mut(&lane) {
                    r.queued_readable = false;
                }
            },
        };
        let receiver = self.receivers.get_mut(&lane)?;
        let before = Snapshot::of(receiver);
        let (decoder, events, config) = (&mut self.decoder, &mut self.events, &self.config);
        let mut inflate = |sequence: u64, envelope: &[u8]| {
            decoder
                .decompress(
                    envelope,
                    config.max_message_size,
                    config.decompress,
                    config.zstd_dictionary.as_ref(),
                )
                .map_err(|error| {
                    events.push_back(LaneEvent::Undecodable {
                        lane,
                        sequence,
                        error,
                    });
                })
                .ok()
        };
        let message = receiver.read(now, lane, &mut self.stats, &mut inflate);
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

    /// An FEC_SOURCE arrived: its LANE frames are read as if they came alone, and the symbol
    /// is kept for its group. An `Err` is a connection error to close with.
    pub(crate) fn on_fec_source(
        &mut self,
        now: Instant,
        source: &FecSource,
        one_way: Duration,
    ) -> Result<(), TransportError> {
        let lane = self.check_lane(source.lane)?;
        for frame in Iter::new(source.payload.clone()) {
            match frame {
                Ok(Frame::Lane(f)) if f.header.lane == source.lane => {
                    self.on_frame(now, &f, one_way)?;
                }
                _ => {
                    return Err(TransportError::protocol_violation(
                        "an FEC_SOURCE holds something other than LANE frames of its lane",
                    ));
                }
            }
        }
        let recovered = self.fec_in.on_source(
            lane,
            source.group.into_inner(),
            source.index,
            &source.payload,
        );
        self.on_recovered(now, lane, recovered, one_way);
        Ok(())
    }

    /// An FEC_REPAIR arrived. An `Err` is a connection error to close with.
    pub(crate) fn on_fec_repair(
        &mut self,
        now: Instant,
        repair: &FecRepair,
        one_way: Duration,
    ) -> Result<(), TransportError> {
        let lane = self.check_lane(repair.lane)?;
        let recovered = self.fec_in.on_repair(lane, repair);
        self.on_recovered(now, lane, recovered, one_way);
        Ok(())
    }

    fn check_lane(&self, lane: VarInt) -> Result<u64, TransportError> {
        let lane = lane.into_inner();
        if lane >= self.config.max_lanes {
            return Err(TransportError::protocol_violation(format!(
                "lane {lane} is beyond the limit of {} lanes",
                self.config.max_lanes
            )));
        }
        Ok(lane)
    }

    /// Reads the LANE frames of rebuilt source symbols, as copies (they repair a loss) whose
    /// time to live lost the group's age. What makes no sense is dropped, not fatal: the
    /// peer's repairs, not its packets, said it.
    fn on_recovered(
        &mut self,
        now: Instant,
        lane: u64,
        recovered: Option<Recovered>,
        one_way: Duration,
    ) {
        let Some(recovered) = recovered else {
            return;
        };
        for symbol in recovered.symbols {
            self.stats.fec_recovered += 1;
            for frame in Iter::new(symbol) {
                let mut f = match frame {
                    Ok(Frame::Lane(f)) if f.header.lane.into_inner() == lane => f,
                    _ => {
                        self.stats.fec_dropped += 1;
                        break;
                    }
                };
                f.header.copy = true;
                f.header.deadline_ms = f.header.deadline_ms.map(|ttl| {
                    VarInt::saturating_from_u64(ttl.into_inner().saturating_sub(recovered.age_ms))
                });
                if self.on_frame(now, &f, one_way).is_err() {
                    self.stats.fec_dropped += 1;
                    break;
                }
            }
        }
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
        if let Some(r) = self.receivers.get_mut(&lane)
            && !r.queued_readable
        {
            r.queued_readable = true;
            self.readable.push_back(lane);
        }
        // One pending event per lane: it says "read until `recv_message` returns `None`".
        if let Some(r) = self.receivers.get_mut(&lane)
            && !r.readable_event_pending
        {
            r.readable_event_pending = true;
            self.events.push_back(LaneEvent::Readable { lane });
        }
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
        if self.senders.is_empty() && self.receivers.is_empty() {
            // A connection without lanes pays nothing here on every timer update.
            return None;
        }
        let idle = self.tail_idle();
        let senders = self
            .senders
            .values()
            .flat_map(|s| [s.next_deadline(), s.hold_release(), s.tail_copies_at(idle)])
            .flatten();
        let receivers = self
            .receivers
            .values()
            .filter_map(|r| r.next_timeout(self.config.reassembly_timeout));
        let fec = self.fec_out.values().filter_map(FecEncoder::next_timeout);
        senders.chain(receivers).chain(fec).min()
    }

    /// Deadlines, holds and reassembly timeouts due by `now`.
    pub(crate) fn on_timeout(&mut self, now: Instant) {
        let idle = self.tail_idle();
        for s in self.senders.values_mut() {
            if s.tail_copies_at(idle).is_some_and(|t| t <= now) {
                // Once per quiet spell: the attempt counts as sending.
                s.last_sent = Some(now);
                self.tail_copies = true;
            }
        }
        let lanes: Vec<u64> = self.senders.keys().copied().collect();
        for lane in lanes {
            let Some(s) = self.senders.get_mut(&lane) else {
                continue;
            };
            let before = s.buffered;
            let events = &mut self.events;
            let stats = &mut self.stats;
            s.expire(now, |seq, early| {
                stats.expired_sending += 1;
                if early {
                    stats.given_up_in_transit += 1;
                }
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
        let rtt = self.rtt;
        let closed: Vec<u64> = self
            .fec_out
            .iter_mut()
            .filter_map(|(&lane, e)| e.on_timeout(now, rtt).then_some(lane))
            .collect();
        for lane in closed {
            self.schedule(lane);
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
        self.tail_copies || self.has_fresh_pending(now)
    }

    /// Whether the only thing the lanes would send is copies in a packet of their own:
    /// speculative bytes, which take the window only when a full packet's worth is spare
    /// (`Connection::congestion_allows`), never the last of it that fresh data needs.
    pub(crate) fn only_copies_pending(&self, now: Instant) -> bool {
        self.tail_copies && !self.has_fresh_pending(now)
    }

    /// Whether messages or control frames wait (anything but tail copies).
    fn has_fresh_pending(&self, now: Instant) -> bool {
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
            sent.parts_mut().controls.push(LaneControl::MaxLanesData);
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
                sent.parts_mut()
                    .controls
                    .push(LaneControl::MaxLaneData(lane));
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
                sent.parts_mut()
                    .controls
                    .push(LaneControl::Skip { lane, seq });
            }
        }
    }

    /// Whether `lane` has something for the packet being built: an FEC repair that may go in
    /// it, or data (unless its FEC source for this packet is written already).
    fn ready(&self, lane: u64, sender: &LaneSender, now: Instant, credit: u64) -> bool {
        match self.fec_out.get(&lane) {
            Some(e) => {
                e.has_repair(self.packets)
                    || (!e.wrote_in(self.packets) && sender.has_frame(now, credit))
            }
            None => sender.has_frame(now, credit),
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
            .is_some_and(|s| self.ready(lane, s, now, credit))
        {
            return Some(priority);
        }
        // The front lane has nothing after all: look past it (it is cleaned up when served).
        self.senders
            .iter()
            .filter(|&(&l, s)| s.scheduled && self.ready(l, s, now, credit))
            .map(|(_, s)| s.config.priority)
            .max()
    }

    /// Writes what the lane whose turn it is has for this packet — a LANE frame, an FEC
    /// source symbol around the lane's frames, or an FEC repair — into at most `max_len`
    /// bytes; returns whether it wrote something.
    pub(crate) fn write_frame(
        &mut self,
        now: Instant,
        buf: &mut Vec<u8>,
        max_len: usize,
        sent: &mut LanesSent,
    ) -> bool {
        while let Some((lane, _)) = self.scheduler.front() {
            let credit = self.conn_send.available();
            let Some(sender) = self.senders.get(&lane) else {
                self.scheduler.pop();
                continue;
            };
            if !self.ready(lane, sender, now, credit) {
                self.scheduler.pop();
                if let Some(s) = self.senders.get_mut(&lane) {
                    s.scheduled = false;
                    s.deficit = 0;
                }
                continue;
            }
            if let Some(s) = self.senders.get_mut(&lane)
                && s.deficit <= 0
            {
                s.deficit += QUANTUM * i64::from(s.config.weight);
            }
            // A repair first: it is late already by the time its group closed.
            let repair = self
                .fec_out
                .get_mut(&lane)
                .and_then(|e| e.take_repair(now, self.packets, max_len));
            let written = match repair {
                Some(repair) => {
                    repair.encode(buf);
                    let n = repair.encoded_len();
                    self.stats.fec_bytes_sent += n as u64;
                    self.stats.fec_repairs_sent += 1;
                    Some(n)
                }
                None if self
                    .fec_out
                    .get(&lane)
                    .is_some_and(|e| e.level() != FecLevel::None) =>
                {
                    self.write_source(lane, now, buf, max_len, sent)
                }
                None => self
                    .write_lane_frame(lane, now, buf, max_len, sent)
                    .map(|w| w.bytes),
            };
            let Some(n) = written else {
                return false;
            };
            if let Some(s) = self.senders.get_mut(&lane) {
                s.deficit -= n as i64;
                if s.deficit <= 0 {
                    self.scheduler.rotate();
                }
            }
            return true;
        }
        false
    }

    /// Writes the lane's frames that fit into one FEC_SOURCE (the packet's source symbol of
    /// the lane's open group); returns the bytes written.
    fn write_source(
        &mut self,
        lane: u64,
        now: Instant,
        buf: &mut Vec<u8>,
        max_len: usize,
        sent: &mut LanesSent,
    ) -> Option<usize> {
        let (group, index) = self.fec_out.get(&lane)?.next_source();
        let room = max_len
            .saturating_sub(FEC_SOURCE_MAX_HEADER)
            .min(self.symbol_limit);
        let mut symbol = std::mem::take(&mut self.scratch);
        symbol.clear();
        let mut deadline: Option<Instant> = None;
        loop {
            let left = room.saturating_sub(symbol.len());
            let Some(w) = self.write_lane_frame(lane, now, &mut symbol, left, sent) else {
                break;
            };
            deadline = earliest(deadline, w.deadline);
        }
        if symbol.is_empty() {
            self.scratch = symbol;
            return None;
        }
        let (lane_id, group_id) = (
            VarInt::saturating_from_u64(lane),
            VarInt::saturating_from_u64(group),
        );
        FecSource::encode_header(buf, lane_id, group_id, index, symbol.len());
        buf.extend_from_slice(&symbol);
        let header = FecSource::header_len(lane_id, group_id, symbol.len());
        self.stats.fec_bytes_sent += header as u64;
        let n = header + symbol.len();
        let data = Bytes::copy_from_slice(&symbol);
        self.scratch = symbol;
        let (packet, rtt) = (self.packets, self.rtt);
        if let Some(e) = self.fec_out.get_mut(&lane) {
            e.on_source(now, data, packet, deadline, rtt);
        }
        Some(n)
    }

    /// Writes one LANE frame of `lane` into at most `max_len` bytes.
    fn write_lane_frame(
        &mut self,
        lane: u64,
        now: Instant,
        buf: &mut Vec<u8>,
        max_len: usize,
        sent: &mut LanesSent,
    ) -> Option<Written> {
        let credit = self.conn_send.available();
        let sender = self.senders.get_mut(&lane)?;
        let plan = sender.plan(now, credit)?;
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
            compressed: plan.compressed,
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
        let capacity = header.max_data_len(max_len)?;
        let len = (plan.range.end - plan.range.start).min(capacity as u64);
        if len == 0 && plan.message_len > 0 {
            return None;
        }
        let range = plan.range.start..plan.range.start + len;
        let data = sender.data(plan.seq, range.clone());
        header.len = data.len();
        header.encode(buf);
        buf.extend_from_slice(&data);
        let buffered = sender.buffered;
        sender.on_sent(&plan, range.clone(), self.packets);
        sender.last_sent = Some(now);
        let freed = buffered - sender.buffered;
        let mode = sender.config.mode;
        let redundant = sender.config.redundancy > 0;
        if let Some(need) = plan.admits {
            self.conn_send.consume(need);
        }
        if plan.retransmit {
            self.stats.fragments_retransmitted += 1;
        }
        if mode.is_reliable() {
            sent.parts_mut().chunks.push(LaneChunk {
                lane,
                seq: plan.seq,
                start: range.start,
                len: len as u32,
            });
        } else if redundant && header.fragment.is_none() {
            sent.parts_mut().whole.push((lane, plan.seq));
        }
        // An unreliable message leaves the buffer once sent in full.
        self.on_freed(freed);
        Some(Written {
            bytes: header.encoded_len() + data.len(),
            deadline: plan.deadline,
        })
    }

    /// Fills up to `max_len` bytes (at most `redundancy_budget`) with redundant copies of the
    /// newest messages of the lanes that ask for them; returns whether any was written. Called
    /// for a packet that leaves anyway, or when copies are due on their own
    /// ([`tail_copies_due`](Self::tail_copies_due)).
    pub(crate) fn write_copies(
        &mut self,
        now: Instant,
        buf: &mut Vec<u8>,
        max_len: usize,
        sent: &mut LanesSent,
    ) -> bool {
        if !self.senders.values().any(LaneSender::has_copies) {
            self.tail_copies = false;
            return false;
        }
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
                    compressed: c.compressed,
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
                sender.last_sent = Some(now);
                self.stats.redundant_bytes_sent += size as u64;
                if mode.is_reliable() {
                    sent.parts_mut().chunks.push(LaneChunk {
                        lane,
                        seq: copy.seq,
                        start: 0,
                        len: copy.data.len() as u32,
                    });
                } else {
                    sent.parts_mut().whole.push((lane, copy.seq));
                }
            }
        }
        self.tail_copies = false;
        wrote
    }

    /// The packet being built is complete: what the lanes write from now on goes in the next
    /// one. Lanes that held back for it (an FEC source written, a repair that must not share
    /// its group's packet) get their turn again.
    pub(crate) fn end_packet(&mut self) {
        self.packets += 1;
        if self.fec_out.is_empty() {
            return;
        }
        let waiting: Vec<u64> = self
            .fec_out
            .iter()
            .filter(|&(l, e)| e.has_repairs() || self.senders.get(l).is_some_and(|s| !s.scheduled))
            .map(|(&l, _)| l)
            .collect();
        for lane in waiting {
            self.schedule(lane);
        }
    }

    // ----- Loss recovery -----

    /// A packet carrying `sent` was acknowledged.
    pub(crate) fn on_acked(&mut self, sent: &LanesSent) {
        let Some(sent) = sent.parts() else {
            return;
        };
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
        let Some(sent) = sent.parts() else {
            return;
        };
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
