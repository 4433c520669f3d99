//! The game flow: a message of a fixed size every tick, client → server, over unreliable
//! datagrams, a reliable stream or a lane ([`GameTransport`]), and what its receiver saw: the
//! one-way delay of every message and the age of the newest state it holds ([`Freshness`]),
//! and, with a jitter buffer ([`GameSpec::jitter`]), what a player who plays the messages out
//! at a steady pace sees ([`Playout`]).
//!
//! Every message starts with its sequence number and its send time (8 bytes each, big-endian;
//! nanoseconds since the epoch both ends share), then padding, so the receiver needs no side
//! channel. The padding is pseudo-random, as incompressible as a game's bit-packed state: a
//! lane that compresses (the strategy turns zstd on at slow bottlenecks) must not make the
//! flow look smaller than a real game's. quinn's side of the same flow (`weir-peers`) writes the same format.
//!
//! [`run_game`] runs one flow over a [`Scenario`]: what `weir sim --flow game` and the tests
//! share.

use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;

use super::endpoint_node::App;
use super::freshness::Freshness;
use super::playout::Playout;
use super::runs::{Pair, RunError, connected_pair};
use super::stats::{micros, new_delay_histogram};
use super::{EndpointNode, LinkStats, Scenario, SimError, Simulator};
use crate::adapt::StrategyChange;
use crate::config::TransportConfig;
use crate::connection::{ConnectionStats, Event};
use crate::endpoint::{ConnectionHandle, Endpoint};
use crate::jitter::{JitterConfig, JitterConfigError};
use crate::lanes::{LaneConfig, LaneError, LaneEvent, LaneStats};
use crate::streams::{StreamEvent, StreamId};

/// The lane a [`GameTransport::Lane`] flow uses.
pub const GAME_LANE: u64 = 0;

/// Bytes at the start of every game message: sequence number and send time.
const GAME_HEADER: usize = super::header::LEN;

/// Fills `padding` with bytes that do not compress (xorshift64 from `seq`: cheap and
/// deterministic), as a real game's bit-packed messages do not.
pub(crate) fn incompressible_padding(seq: u64, padding: &mut [u8]) {
    let mut x = seq.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    for b in padding {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
}

/// How a game flow carries its messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GameTransport {
    /// Unreliable messages, dropped if older than the time to live.
    Datagrams {
        /// Time to live of each message.
        ttl: Duration,
    },
    /// A reliable stream of this priority.
    Stream {
        /// The stream's priority.
        priority: i32,
    },
    /// Messages on lane [`GAME_LANE`], set up with `config` (delivery mode, loss repair,
    /// priority) when the handshake completes.
    Lane {
        /// The lane's sending side.
        config: LaneConfig,
        /// Each message is given up this long after its send time (not sent, not delivered),
        /// if given.
        deadline: Option<Duration>,
    },
}

impl GameTransport {
    /// How long after its send time a message is worth delivering: the datagrams' time to
    /// live, the lane's deadline; `None` for a stream (every message is delivered).
    pub fn deadline(&self) -> Option<Duration> {
        match *self {
            Self::Datagrams { ttl } => Some(ttl),
            Self::Stream { .. } => None,
            Self::Lane { deadline, .. } => deadline,
        }
    }
}

/// Client side of a game flow: a message of `size` bytes every tick.
#[derive(Debug)]
pub struct GameSender {
    epoch: Instant,
    interval: Duration,
    size: usize,
    transport: GameTransport,
    duration: Duration,
    handle: Option<ConnectionHandle>,
    stream: Option<StreamId>,
    connected_at: Option<Instant>,
    /// Messages handed to the connection.
    pub sent: u64,
    /// Messages refused (too large, the lane could not be set up, or the connection closed).
    pub refused: u64,
    /// Why lane [`GAME_LANE`] could not be set up, if it could not; every message is then
    /// refused rather than sent in the wrong mode.
    pub lane_error: Option<LaneError>,
}

impl GameSender {
    /// `rate_hz` messages of `size` bytes (at least 16) per second for `duration` after
    /// connecting; send times count from `epoch`, shared with the [`GameReceiver`].
    pub fn new(
        epoch: Instant,
        rate_hz: u32,
        size: usize,
        transport: GameTransport,
        duration: Duration,
    ) -> Self {
        Self {
            epoch,
            interval: Duration::from_secs(1) / rate_hz.max(1),
            size: size.max(GAME_HEADER),
            transport,
            duration,
            handle: None,
            stream: None,
            connected_at: None,
            sent: 0,
            refused: 0,
            lane_error: None,
        }
    }

    /// The connection this flow runs on, once known.
    pub fn handle(&self) -> Option<ConnectionHandle> {
        self.handle
    }

    /// When the handshake completed: the first message left then.
    pub fn connected_at(&self) -> Option<Instant> {
        self.connected_at
    }

    /// The end of the sending window (the handshake plus the duration), once connected.
    pub fn sending_until(&self) -> Option<Instant> {
        self.connected_at.map(|t| t + self.duration)
    }

    fn next_tick(&self) -> Option<Instant> {
        let start = self.connected_at?;
        let at = start + self.interval * u32::try_from(self.sent + self.refused).ok()?;
        (at < start + self.duration).then_some(at)
    }

    fn message(&self, seq: u64, at: Instant) -> Vec<u8> {
        let mut msg = vec![0u8; self.size];
        incompressible_padding(seq, &mut msg[GAME_HEADER..]);
        super::header::write(&mut msg, seq, self.epoch, at);
        msg
    }
}

impl App for GameSender {
    fn on_event(
        &mut self,
        now: Instant,
        ep: &mut Endpoint,
        handle: ConnectionHandle,
        event: Event,
    ) {
        self.handle = Some(handle);
        if event != Event::Connected {
            return;
        }
        self.connected_at = Some(now);
        let Some(conn) = ep.connection(handle) else {
            return;
        };
        match self.transport {
            GameTransport::Stream { priority } => self.stream = conn.open_uni(priority).ok(),
            GameTransport::Lane { config, .. } => {
                self.lane_error = conn.configure_lane(GAME_LANE, config).err();
            }
            GameTransport::Datagrams { .. } => {}
        }
    }

    fn on_tick(&mut self, now: Instant, ep: &mut Endpoint) {
        let Some(handle) = self.handle else {
            return;
        };
        while let Some(at) = self.next_tick().filter(|t| *t <= now) {
            let seq = self.sent + self.refused;
            let msg = self.message(seq, at);
            let ok = match (self.transport, ep.connection(handle)) {
                (GameTransport::Datagrams { ttl }, Some(conn)) => conn
                    .send_datagram(now, 0, Bytes::from(msg), Some(ttl))
                    .is_ok(),
                (GameTransport::Stream { .. }, Some(conn)) => match self.stream {
                    // A stream message must go in whole: check the room first.
                    Some(id) => conn.write(id, &msg).is_ok_and(|n| n == msg.len()),
                    None => false,
                },
                (GameTransport::Lane { deadline, .. }, Some(conn)) => {
                    // The deadline counts from the send time the message carries.
                    self.lane_error.is_none()
                        && conn
                            .send_message(
                                now,
                                GAME_LANE,
                                Bytes::from(msg),
                                deadline.map(|d| at + d),
                            )
                            .is_ok()
                }
                (_, None) => false,
            };
            if ok {
                self.sent += 1;
            } else {
                self.refused += 1;
            }
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.next_tick()
    }
}

/// The one-way delays of the game messages that arrived within one interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntervalDelay {
    /// Messages that arrived.
    pub messages: u64,
    /// Their median delay.
    pub p50: Duration,
    /// Their largest delay.
    pub max: Duration,
}

/// Server side of a game flow: the one-way delay of every message, how fresh the newest
/// state it holds stays ([`Freshness`]) and, with a [`jitter`](Self::jitter) buffer, what a
/// player who plays the messages out through it sees ([`Playout`]).
///
/// Set the public settings (`stream`, `measure_from`, `deadline`, `jitter`) before the first
/// message arrives, and call [`finish`](Self::finish) at the end of the run. With a jitter
/// buffer the receiver has a timer of its own ([`App::poll_timeout`]): the messages play out at
/// their due instants, also after the last arrival.
///
/// Not `Clone`: a jitter buffer is not (take a finished receiver out of the simulator with
/// `std::mem::replace`, as [`run_game`] does).
#[derive(Debug)]
pub struct GameReceiver {
    epoch: Instant,
    size: usize,
    partial: Vec<u8>,
    delay_us: Histogram<u64>,
    /// The delays since [`take_interval_delay`](Self::take_interval_delay) was last called.
    interval_us: Histogram<u64>,
    interval_max: Duration,
    /// Created at the first message, from the settings then.
    freshness: Option<Freshness>,
    /// Created at the first message from [`jitter`](Self::jitter), if set.
    playout: Option<Playout>,
    /// Messages received.
    pub received: u64,
    /// Bytes of messages received.
    pub bytes: u64,
    /// Highest sequence number received.
    pub highest: Option<u64>,
    /// Messages received after one with a higher sequence number (never on a stream or a
    /// sequenced lane).
    pub out_of_order: u64,
    /// Largest one-way delay (exact).
    pub max_delay: Duration,
    /// Read only this stream (when the connection carries other flows too).
    pub stream: Option<StreamId>,
    /// Only messages sent at or after this time count in the delay statistics, and the age of
    /// the newest state is sampled from this time on (to leave out a warm-up such as the
    /// congestion controller's start).
    pub measure_from: Option<Instant>,
    /// A message is on time if it arrives within this long of its send time (`None`: every
    /// arrival is); see [`GameTransport::deadline`].
    pub deadline: Option<Duration>,
    /// Play every message received out through a jitter buffer set up so ([`Playout`]: the
    /// sequence number and send time the message carries go in); `None`: no buffer.
    pub jitter: Option<JitterConfig>,
    /// Why the jitter buffer could not be set up, if [`jitter`](Self::jitter) was invalid;
    /// nothing is played out then.
    pub jitter_error: Option<JitterConfigError>,
}

impl GameReceiver {
    /// A receiver of messages of `size` bytes sent by a [`GameSender`] with the same `epoch`.
    pub fn new(epoch: Instant, size: usize) -> Self {
        Self {
            epoch,
            size: size.max(GAME_HEADER),
            partial: Vec::new(),
            delay_us: new_delay_histogram(),
            interval_us: new_delay_histogram(),
            interval_max: Duration::ZERO,
            freshness: None,
            received: 0,
            bytes: 0,
            highest: None,
            out_of_order: 0,
            max_delay: Duration::ZERO,
            stream: None,
            measure_from: None,
            deadline: None,
            jitter: None,
            jitter_error: None,
            playout: None,
        }
    }

    /// The one-way delays of the messages that arrived since the last call (median and
    /// maximum), `None` if none did; starts the next interval.
    pub fn take_interval_delay(&mut self) -> Option<IntervalDelay> {
        let count = self.interval_us.len();
        if count == 0 {
            return None;
        }
        let delay = IntervalDelay {
            messages: count,
            p50: Duration::from_micros(self.interval_us.value_at_quantile(0.5))
                .min(self.interval_max),
            max: self.interval_max,
        };
        self.interval_us.reset();
        self.interval_max = Duration::ZERO;
        Some(delay)
    }

    /// One-way delay at quantile `q`, never above the exact maximum.
    pub fn delay_quantile(&self, q: f64) -> Duration {
        Duration::from_micros(self.delay_us.value_at_quantile(q)).min(self.max_delay)
    }

    /// The age of the newest state and delivery on time; `None` before the first message.
    pub fn freshness(&self) -> Option<&Freshness> {
        self.freshness.as_ref()
    }

    /// What the player saw through the jitter buffer; `None` without one (or before the first
    /// message).
    pub fn playout(&self) -> Option<&Playout> {
        self.playout.as_ref()
    }

    /// Messages received within [`deadline`](Self::deadline) of their send time.
    pub fn on_time(&self) -> u64 {
        self.freshness.as_ref().map_or(0, |f| f.on_time)
    }

    /// Samples the age of the newest state up to `end` (the end of the sending window, see
    /// [`GameSender::sending_until`]). Call it once the run is over: samples already go up to
    /// the last arrival, so `end` only adds the time after it.
    pub fn finish(&mut self, end: Instant) {
        if let Some(freshness) = &mut self.freshness {
            freshness.finish(end);
        }
    }

    fn on_message(&mut self, now: Instant, msg: &[u8]) {
        let Some((seq, sent)) = super::header::read(msg) else {
            return;
        };
        let delay = now.saturating_duration_since(self.epoch + sent);
        if self
            .measure_from
            .is_none_or(|from| self.epoch + sent >= from)
        {
            self.delay_us.saturating_record(micros(delay));
            self.max_delay = self.max_delay.max(delay);
            self.interval_us.saturating_record(micros(delay));
            self.interval_max = self.interval_max.max(delay);
        }
        self.freshness
            .get_or_insert_with(|| {
                let fresh = Freshness::new(self.epoch, self.deadline);
                match self.measure_from {
                    Some(from) => fresh.measure_from(from),
                    None => fresh,
                }
            })
            .on_message(now, seq, sent);
        if self.received == 0
            && let Some(config) = self.jitter
        {
            match Playout::new(self.epoch, config) {
                Ok(playout) => {
                    self.playout = Some(match self.measure_from {
                        Some(from) => playout.measure_from(from),
                        None => playout,
                    });
                }
                Err(error) => self.jitter_error = Some(error),
            }
        }
        if let Some(playout) = &mut self.playout {
            // Dropped as late, duplicate, ...: counted in its statistics.
            let _ = playout.on_message(now, seq, sent);
        }
        if self.highest.is_some_and(|highest| seq < highest) {
            self.out_of_order += 1;
        }
        self.received += 1;
        self.bytes += msg.len() as u64;
        self.highest = self.highest.max(Some(seq));
    }
}

impl App for GameReceiver {
    fn on_event(
        &mut self,
        now: Instant,
        ep: &mut Endpoint,
        handle: ConnectionHandle,
        event: Event,
    ) {
        let Some(conn) = ep.connection(handle) else {
            return;
        };
        match event {
            Event::DatagramReceived => {
                while let Some(d) = conn.recv_datagram(now) {
                    self.on_message(now, &d.data);
                }
            }
            Event::Lane(LaneEvent::Readable { lane: GAME_LANE }) => {
                while let Some(m) = conn.recv_message_on(now, GAME_LANE) {
                    self.on_message(now, &m.data);
                }
            }
            Event::Stream(StreamEvent::Opened { .. } | StreamEvent::Readable { .. }) => {
                while conn.accept_uni().is_some() {}
                let Event::Stream(StreamEvent::Readable { id }) = event else {
                    return;
                };
                if self.stream.is_some_and(|only| only != id) {
                    return;
                }
                while let Ok(Some(chunk)) = conn.read(now, id, usize::MAX) {
                    self.partial.extend_from_slice(&chunk);
                    while self.partial.len() >= self.size {
                        let msg: Vec<u8> = self.partial.drain(..self.size).collect();
                        self.on_message(now, &msg);
                    }
                }
            }
            _ => {}
        }
    }

    /// Plays out what the jitter buffer has due: after the messages of this input went in, and
    /// when its timer fires.
    fn on_tick(&mut self, now: Instant, _ep: &mut Endpoint) {
        if let Some(playout) = &mut self.playout {
            playout.play(now);
        }
    }

    /// When the jitter buffer's next message is due.
    fn poll_timeout(&self) -> Option<Instant> {
        self.playout.as_ref().and_then(Playout::poll_timeout)
    }
}

/// One game flow to run (see [`run_game`]).
#[derive(Debug, Clone)]
pub struct GameSpec {
    /// Both ends' transport configuration.
    pub config: TransportConfig,
    /// How the messages travel.
    pub transport: GameTransport,
    /// Messages per second.
    pub rate_hz: u32,
    /// Bytes per message (at least 16).
    pub size: usize,
    /// How long the sender sends, from the handshake on.
    pub duration: Duration,
    /// The receiver's on-time deadline ([`GameReceiver::deadline`]).
    pub deadline: Option<Duration>,
    /// The receiver's jitter buffer ([`GameReceiver::jitter`]), if any.
    pub jitter: Option<JitterConfig>,
    /// The run lasts `duration + drain` of virtual time from its start (the handshake
    /// included), so that the last messages land.
    pub drain: Duration,
}

impl GameSpec {
    /// `rate_hz` messages of `size` bytes for `duration` over `transport`, with the default
    /// transport configuration, on time within [`GameTransport::deadline`], and 5 s to drain.
    pub fn new(transport: GameTransport, rate_hz: u32, size: usize, duration: Duration) -> Self {
        Self {
            config: TransportConfig::default(),
            transport,
            rate_hz,
            size,
            duration,
            deadline: transport.deadline(),
            jitter: None,
            drain: Duration::from_secs(5),
        }
    }
}

/// What a game flow achieved, from both ends.
#[derive(Debug)]
pub struct GameRun {
    /// When the sender saw the handshake complete, since the epoch.
    pub connected_at: Option<Duration>,
    /// Messages the sender handed to its connection.
    pub sent: u64,
    /// Messages the connection refused.
    pub refused: u64,
    /// Why the sender could not set up its lane, if it could not.
    pub lane_error: Option<LaneError>,
    /// The receiver and its figures, its age samples finished at the end of the sending
    /// window, its jitter buffer (if any) drained.
    pub receiver: GameReceiver,
    /// The sender's connection at the end.
    pub sender_stats: Option<ConnectionStats>,
    /// The sender's strategy changes: when (since the start) and what.
    pub strategy_changes: Vec<(Duration, StrategyChange)>,
    /// The receiver's connection at the end.
    pub receiver_stats: Option<ConnectionStats>,
    /// The lane counters of the sender's connection (its sending side counts).
    pub sender_lanes: LaneStats,
    /// The lane counters of the receiver's connection (its receiving side counts).
    pub receiver_lanes: LaneStats,
    /// The forward (sender → receiver) link.
    pub forward: LinkStats,
    /// The reverse link (acknowledgements).
    pub reverse: LinkStats,
    /// Virtual time simulated.
    pub elapsed: Duration,
}

/// Runs `spec` from a weir client (the sender, 10.0.0.1) to a weir server (the receiver,
/// 10.0.0.2) over `scenario`; the simulator draws from `seed`, the server and the client from
/// `seed + 1` and `seed + 2`.
pub fn run_game(
    epoch: Instant,
    scenario: &Scenario,
    seed: u64,
    spec: &GameSpec,
) -> Result<GameRun, RunError> {
    let Pair {
        client,
        server,
        client_addr,
        server_addr,
    } = connected_pair(epoch, seed, &spec.config)?;
    let sender = GameSender::new(
        epoch,
        spec.rate_hz,
        spec.size,
        spec.transport,
        spec.duration,
    );
    let mut receiver = GameReceiver::new(epoch, spec.size);
    receiver.deadline = spec.deadline;
    receiver.jitter = spec.jitter;
    let mut sim = Simulator::new(seed, epoch);
    let c = sim.add_node(client_addr, EndpointNode::new(client, sender))?;
    let s = sim.add_node(server_addr, EndpointNode::new(server, receiver))?;
    let (forward, reverse) = scenario.install(&mut sim, c, s)?;
    sim.run_until(spec.duration + spec.drain)?;

    let now = sim.now();
    let tx = sim
        .node::<EndpointNode<GameSender>>(c)
        .ok_or(SimError::UnknownNode(c))?;
    let sender_conn = tx.app.handle().and_then(|h| tx.endpoint.connection_ref(h));
    let sender_stats = sender_conn.map(|conn| conn.stats());
    let strategy_changes = super::runs::strategy_changes(&tx.strategy_log, epoch);
    let sender_lanes = sender_conn
        .map(|conn| conn.lane_stats())
        .unwrap_or_default();
    let (connected_at, sent, refused, lane_error) = (
        tx.app.connected_at,
        tx.app.sent,
        tx.app.refused,
        tx.app.lane_error,
    );
    let end = tx.app.sending_until().unwrap_or(now).min(now);
    let rx = sim
        .node_mut::<EndpointNode<GameReceiver>>(s)
        .ok_or(SimError::UnknownNode(s))?;
    rx.app.finish(end);
    let receiver_conn = rx
        .endpoint
        .connection_handles()
        .find_map(|h| rx.endpoint.connection_ref(h));
    let receiver_stats = receiver_conn.map(|conn| conn.stats());
    let receiver_lanes = receiver_conn
        .map(|conn| conn.lane_stats())
        .unwrap_or_default();
    let receiver = std::mem::replace(&mut rx.app, GameReceiver::new(epoch, spec.size));
    let link = |id| sim.link_stats(id).cloned().ok_or(SimError::UnknownLink(id));
    Ok(GameRun {
        connected_at: connected_at.map(|t| t.saturating_duration_since(epoch)),
        sent,
        refused,
        lane_error,
        receiver,
        sender_stats,
        strategy_changes,
        receiver_stats,
        sender_lanes,
        receiver_lanes,
        forward: link(forward)?,
        reverse: link(reverse)?,
        elapsed: sim.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lanes::DeliveryMode;
    use crate::sim::runs::bottleneck;

    const MS: Duration = Duration::from_millis(1);

    /// A flow of 200-byte messages at `rate_hz` for 10 s over 10 Mbit/s, 100 ms RTT and
    /// random `loss`.
    fn lane_run(
        rate_hz: u32,
        loss: f64,
        mode: DeliveryMode,
        redundancy: u8,
        deadline: Option<Duration>,
    ) -> GameRun {
        let transport = GameTransport::Lane {
            // The mechanisms as configured: no strategy adds FEC to the baselines.
            config: LaneConfig::new(mode).with_redundancy(redundancy).pinned(),
            deadline,
        };
        let spec = GameSpec::new(transport, rate_hz, 200, Duration::from_secs(10));
        let scenario = bottleneck(10.0, 100 * MS, loss, 1.0);
        run_game(crate::congestion::test_epoch(), &scenario, 3, &spec).expect("run")
    }

    #[test]
    fn an_unreliable_sequenced_lane_stays_fresh_and_in_order() {
        let run = lane_run(60, 0.05, DeliveryMode::UnreliableSequenced, 0, None);
        let rx = &run.receiver;
        // 10 s at 60 Hz (the tick is rounded down to the nanosecond: one more fits).
        assert_eq!((run.sent, run.refused, run.lane_error), (601, 0, None));
        // 5 % of the packets are lost and nothing is sent again.
        assert!((540..590).contains(&rx.received), "{}", rx.received);
        assert_eq!(rx.out_of_order, 0);
        assert_eq!(run.sender_lanes.messages_sent, 601);
        assert_eq!(run.receiver_lanes.messages_received, rx.received);
        let fresh = rx.freshness().expect("messages arrived");
        // One way 50 ms, a tick 16.7 ms: the sawtooth spans 50–67 ms, a loss adds a tick.
        assert!(fresh.age_quantile(0.5) < 70 * MS, "{fresh:?}");
        assert!(fresh.age_quantile(0.99) < 90 * MS, "{fresh:?}");
        // Sampled over the sending window, to within the last one-way delay.
        assert!(
            fresh.samples().abs_diff(10_000) < 100,
            "{}",
            fresh.samples()
        );
    }

    #[test]
    fn a_reliable_ordered_lane_delivers_everything_in_order() {
        let run = lane_run(60, 0.05, DeliveryMode::ReliableOrdered, 0, None);
        let rx = &run.receiver;
        assert_eq!((run.sent, rx.received, rx.out_of_order), (601, 601, 0));
        // Every arrival counts as on time without a deadline; a loss stalls the messages
        // behind it for a round trip or more.
        assert_eq!(rx.on_time(), 601);
        let fresh = rx.freshness().expect("messages arrived");
        assert!(fresh.max_age() > 150 * MS, "{fresh:?}");
    }

    /// At 30 Hz and 10 % loss, two copies of each message in the next packets bring most
    /// losses back within a 120 ms deadline (about 0.89 on time without, 0.98 with).
    #[test]
    fn redundancy_repairs_losses_before_the_deadline() {
        let deadline = Some(120 * MS);
        let plain = lane_run(30, 0.10, DeliveryMode::Unreliable, 0, deadline);
        let repaired = lane_run(30, 0.10, DeliveryMode::Unreliable, 2, deadline);
        let share = |run: &GameRun| {
            let fresh = run.receiver.freshness().expect("messages arrived");
            fresh.on_time_share(run.sent)
        };
        assert!(share(&plain) < 0.93, "{}", share(&plain));
        assert!(share(&repaired) > 0.96, "{}", share(&repaired));
        assert_eq!(plain.sender_lanes.redundant_bytes_sent, 0);
        assert!(repaired.sender_lanes.redundant_bytes_sent > 0);
        assert!(repaired.receiver_lanes.repaired_messages > 0);
    }
}
