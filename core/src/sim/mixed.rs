//! A game flow beside a bulk transfer on one weir connection: what a player feels while the
//! same connection downloads (an update, a replay, voice), and what the download gets.
//!
//! The game sends `rate_hz` messages of `size` bytes on lane [`GAME_LANE`](super::game::GAME_LANE) (priority above
//! the bulk stream), each given up after its deadline; the bulk stream writes for the whole
//! sending window. The run reports, for the game, the one-way delay of the messages that
//! arrived and the messages that did not arrive within their deadline, and for the bulk
//! stream, the bytes read within the sending window; and every strategy change of the sender.

use std::time::{Duration, Instant};

use super::flows::{Both, BulkAmount, BulkReceiver, BulkSender};
use super::game::{GameReceiver, GameSender, GameTransport, IntervalDelay};
use super::runs::{Pair, RunError, connected_pair, strategy_changes};
use super::{EndpointNode, LinkStats, Scenario, SimError, Simulator};
use crate::adapt::StrategyChange;
use crate::config::TransportConfig;
use crate::connection::ConnectionStats;
use crate::lanes::{DeliveryMode, LaneConfig, LaneStats};
use crate::{Dir, Side, StreamId};

/// One mixed run (see [`run_mixed`]).
#[derive(Debug, Clone)]
pub struct MixedSpec {
    /// Both ends' transport configuration (the strategy policy among it).
    pub config: TransportConfig,
    /// The game lane's sending side.
    pub lane: LaneConfig,
    /// Game messages per second.
    pub rate_hz: u32,
    /// Bytes per game message (at least 16).
    pub size: usize,
    /// A game message is given up, and counts as late, this long after it was sent.
    pub deadline: Duration,
    /// How long both flows send, from the handshake on.
    pub duration: Duration,
    /// How long the game sends (at most `duration`; default `duration`).
    pub game_duration: Duration,
    /// Virtual time after the sending window for the last messages to land.
    pub drain: Duration,
}

impl MixedSpec {
    /// A 60 Hz game of 64-byte messages (positions and inputs) on an unreliable lane at
    /// priority 10, given up after 400 ms, beside a bulk stream at priority 0, for `duration`,
    /// with `config`.
    pub fn new(config: TransportConfig, duration: Duration) -> Self {
        Self {
            config,
            lane: LaneConfig::new(DeliveryMode::Unreliable).with_priority(10),
            rate_hz: 60,
            size: 64,
            deadline: Duration::from_millis(400),
            duration,
            game_duration: duration,
            drain: Duration::from_secs(3),
        }
    }
}

/// How often [`MixedRun::timeline`] records the receiver's progress.
pub const TIMELINE_STEP: Duration = Duration::from_secs(1);

/// The receiver's progress at one instant (cumulative).
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// Virtual time since the start.
    pub at: Duration,
    /// Game messages that arrived within their deadline so far.
    pub game_on_time: u64,
    /// Bulk bytes read so far.
    pub bulk_bytes: u64,
    /// The one-way delays of the game messages that arrived in this step (since the previous
    /// point); `None` if none did.
    pub game_delay: Option<IntervalDelay>,
    /// The sender's connection then.
    pub sender: Option<ConnectionStats>,
}

/// What a mixed run achieved.
#[derive(Debug, Clone)]
pub struct MixedRun {
    /// The receiver's progress every [`TIMELINE_STEP`].
    pub timeline: Vec<Progress>,
    /// Game messages sent (or refused by the lane).
    pub game_sent: u64,
    /// Game messages that arrived within their deadline.
    pub game_on_time: u64,
    /// One-way delay of the game messages that arrived: median.
    pub game_delay_p50: Duration,
    /// One-way delay of the game messages that arrived: 99th percentile.
    pub game_delay_p99: Duration,
    /// Bulk bytes read within the sending window.
    pub bulk_bytes: u64,
    /// The sending window (from the handshake).
    pub window: Duration,
    /// The sender's strategy changes, when (since the start) and what.
    pub strategy_changes: Vec<(Duration, StrategyChange)>,
    /// The sender's connection at the end.
    pub sender_stats: Option<ConnectionStats>,
    /// The sender's lanes at the end.
    pub sender_lanes: LaneStats,
    /// The receiver's lanes at the end.
    pub receiver_lanes: LaneStats,
    /// The forward bottleneck.
    pub forward: LinkStats,
}

impl MixedRun {
    /// Game messages that did not arrive within their deadline (lost or late).
    pub fn game_late(&self) -> u64 {
        self.game_sent.saturating_sub(self.game_on_time)
    }

    /// Bulk goodput over the sending window, in bits per second.
    pub fn bulk_goodput_bps(&self) -> f64 {
        self.bulk_bytes as f64 * 8.0 / self.window.as_secs_f64().max(1e-9)
    }
}

type Sender = Both<BulkSender, GameSender>;
type Receiver = Both<BulkReceiver, GameReceiver>;

/// Runs `spec` over `scenario` (its schedules included) with simulator seed `seed`; the
/// endpoints' seeds are `seed + 1` and `seed + 2`.
pub fn run_mixed(
    epoch: Instant,
    scenario: &Scenario,
    seed: u64,
    spec: &MixedSpec,
) -> Result<MixedRun, RunError> {
    let Pair {
        client,
        server,
        client_addr,
        server_addr,
    } = connected_pair(epoch, seed, &spec.config)?;
    let transport = GameTransport::Lane {
        config: spec.lane,
        deadline: Some(spec.deadline),
    };
    let sender = Both(
        BulkSender::new(BulkAmount::For(spec.duration), 0, false),
        GameSender::new(
            epoch,
            spec.rate_hz,
            spec.size,
            transport,
            spec.game_duration.min(spec.duration),
        ),
    );
    // The client's first unidirectional stream, the bulk sender's only one.
    let bulk_id = StreamId::new(Side::Client, Dir::Uni, 0);
    let mut game = GameReceiver::new(epoch, spec.size);
    // The game travels on a lane: no stream is the game's.
    game.stream = StreamId::new(Side::Server, Dir::Uni, 0);
    game.deadline = Some(spec.deadline);
    let receiver = Both(
        BulkReceiver {
            stream: bulk_id,
            ..BulkReceiver::default()
        },
        game,
    );
    let mut sim = Simulator::new(seed, epoch);
    let c = sim.add_node(client_addr, EndpointNode::new(client, sender))?;
    let s = sim.add_node(server_addr, EndpointNode::new(server, receiver))?;
    let (forward, _) = scenario.install(&mut sim, c, s)?;
    let end = spec.duration + spec.drain;
    let mut timeline = Vec::new();
    let mut at = Duration::ZERO;
    while at < end {
        at = (at + TIMELINE_STEP).min(end);
        sim.run_until(at)?;
        let sender = sim.node::<EndpointNode<Sender>>(c).and_then(|tx| {
            let handle = tx.app.1.handle()?;
            tx.endpoint.connection_ref(handle).map(|conn| conn.stats())
        });
        if let Some(rx) = sim.node_mut::<EndpointNode<Receiver>>(s) {
            timeline.push(Progress {
                at,
                game_on_time: rx.app.1.on_time(),
                bulk_bytes: rx.app.0.received,
                game_delay: rx.app.1.take_interval_delay(),
                sender,
            });
        }
    }

    let tx = sim
        .node::<EndpointNode<Sender>>(c)
        .ok_or(SimError::UnknownNode(c))?;
    let game_sent = tx.app.1.sent + tx.app.1.refused;
    let started = tx.app.1.connected_at().unwrap_or(epoch);
    let sender_conn = tx
        .app
        .1
        .handle()
        .and_then(|h| tx.endpoint.connection_ref(h));
    let sender_stats = sender_conn.map(|conn| conn.stats());
    let sender_lanes = sender_conn
        .map(|conn| conn.lane_stats())
        .unwrap_or_default();
    let changes = strategy_changes(&tx.strategy_log, epoch);
    let rx_node = sim
        .node::<EndpointNode<Receiver>>(s)
        .ok_or(SimError::UnknownNode(s))?;
    let receiver_lanes = rx_node
        .endpoint
        .connection_handles()
        .find_map(|h| rx_node.endpoint.connection_ref(h))
        .map(|conn| conn.lane_stats())
        .unwrap_or_default();
    let rx = &rx_node.app;
    Ok(MixedRun {
        timeline,
        game_sent,
        game_on_time: rx.1.on_time(),
        game_delay_p50: rx.1.delay_quantile(0.5),
        game_delay_p99: rx.1.delay_quantile(0.99),
        bulk_bytes: rx.0.received_by(started + spec.duration),
        window: spec.duration,
        strategy_changes: changes,
        sender_stats,
        sender_lanes,
        receiver_lanes,
        forward: sim.link_stats(forward).cloned().unwrap_or_default(),
    })
}
