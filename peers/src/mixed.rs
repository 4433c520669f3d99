//! quinn's side of `weir sim --compare`: a game flow in QUIC datagrams beside a bulk stream on
//! one quinn connection, over a scenario and its schedules, measured as
//! [`weir_core::sim::mixed`] measures weir: one-way delay of the game messages that arrived,
//! messages that did not arrive within their deadline, bulk bytes read within the sending
//! window.

use std::time::{Duration, Instant};

use quinn_proto::{Connection, ConnectionHandle, Event};
use weir_core::sim::flows::BulkAmount;
use weir_core::sim::{Scenario, header};

use crate::PeerError;
use crate::bulk::{QuinnBulkReceiver, QuinnBulkSender};
use crate::config::QuinnConfig;
use crate::game::{QuinnGameSender, QuinnGameTransport};
use crate::node::QuinnApp;
use crate::run::{quinn_app, quinn_pair};

/// Granularity at which the run checks whether the handshake completed.
const SLICE: Duration = Duration::from_millis(10);

/// Most game delays a receiver keeps (an hour at 60 Hz is 216 000).
const MAX_DELAYS: usize = 1 << 20;

/// Client side: the bulk stream and the game's datagrams on one connection.
#[derive(Debug)]
pub struct QuinnMixedSender {
    bulk: QuinnBulkSender,
    game: QuinnGameSender,
}

impl QuinnApp for QuinnMixedSender {
    fn on_event(
        &mut self,
        now: Instant,
        handle: ConnectionHandle,
        conn: &mut Connection,
        event: Event,
    ) {
        // The game needs the handshake and the loss of the connection; quinn's events are not
        // `Clone`, so those two are given to each side anew.
        match event {
            Event::Connected => {
                self.game.on_event(now, handle, conn, Event::Connected);
                self.bulk.on_event(now, handle, conn, Event::Connected);
            }
            Event::ConnectionLost { reason } => {
                let lost = Event::ConnectionLost {
                    reason: reason.clone(),
                };
                self.game.on_event(now, handle, conn, lost);
                self.bulk
                    .on_event(now, handle, conn, Event::ConnectionLost { reason });
            }
            other => self.bulk.on_event(now, handle, conn, other),
        }
    }

    fn on_tick(&mut self, now: Instant, handle: ConnectionHandle, conn: &mut Connection) {
        // The game first: its datagram goes out before the stream fills the packet.
        self.game.on_tick(now, handle, conn);
        self.bulk.on_tick(now, handle, conn);
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match (self.game.poll_timeout(), self.bulk.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// Server side: reads the bulk stream, and times every game datagram.
#[derive(Debug)]
pub struct QuinnMixedReceiver {
    epoch: Instant,
    deadline: Duration,
    bulk: QuinnBulkReceiver,
    delays: Vec<Duration>,
    on_time: u64,
}

impl QuinnApp for QuinnMixedReceiver {
    fn on_event(
        &mut self,
        now: Instant,
        handle: ConnectionHandle,
        conn: &mut Connection,
        event: Event,
    ) {
        if matches!(event, Event::DatagramReceived) {
            while let Some(datagram) = conn.datagrams().recv() {
                let Some((_, sent)) = header::read(&datagram) else {
                    continue;
                };
                let delay = now.saturating_duration_since(self.epoch + sent);
                if delay <= self.deadline {
                    self.on_time += 1;
                }
                if self.delays.len() < MAX_DELAYS {
                    self.delays.push(delay);
                }
            }
            return;
        }
        self.bulk.on_event(now, handle, conn, event);
    }
}

/// What quinn achieved in a mixed run.
#[derive(Debug, Clone, PartialEq)]
pub struct QuinnMixedReport {
    /// Game messages sent or refused.
    pub game_sent: u64,
    /// Game messages that arrived within their deadline.
    pub game_on_time: u64,
    /// Median one-way delay of the game messages that arrived.
    pub game_delay_p50: Duration,
    /// 99th-percentile one-way delay of the game messages that arrived.
    pub game_delay_p99: Duration,
    /// Bulk bytes read within the sending window.
    pub bulk_bytes: u64,
    /// Why the sender's connection closed early, if it did.
    pub error: Option<String>,
}

/// The game and the download of `weir sim --compare` over quinn (baseline settings, CUBIC,
/// 1200-byte datagrams): `rate_hz` datagrams of `size` bytes beside a bulk stream for
/// `duration` after the handshake, over `scenario` with its schedules; a message counts as on
/// time within `deadline` of its send time; `drain` after the window for the last to land.
#[allow(clippy::too_many_arguments)] // the flow's own parameters, each a different quantity
pub fn quinn_mixed(
    scenario: &Scenario,
    seed: u64,
    rate_hz: u32,
    size: usize,
    deadline: Duration,
    duration: Duration,
    drain: Duration,
) -> Result<QuinnMixedReport, PeerError> {
    let epoch = Instant::now(); // any instant: the simulator only adds virtual time to it
    let sender = QuinnMixedSender {
        bulk: QuinnBulkSender::new(BulkAmount::For(duration)),
        game: QuinnGameSender::new(
            epoch,
            rate_hz,
            size,
            QuinnGameTransport::Datagrams,
            duration,
        ),
    };
    let receiver = QuinnMixedReceiver {
        epoch,
        deadline,
        bulk: QuinnBulkReceiver::default(),
        delays: Vec::new(),
        on_time: 0,
    };
    let (mut sim, c, s) = quinn_pair(&QuinnConfig::default(), seed, epoch, sender, receiver)?;
    scenario.install(&mut sim, c, s)?;
    // The sending window starts at the handshake (quinn's takes a round trip more than weir's).
    let limit = duration + drain;
    let connected = loop {
        if let Some(at) = quinn_app::<QuinnMixedSender>(&sim, c, "mixed sender")?
            .bulk
            .connected_at
        {
            break Some(at);
        }
        if sim.elapsed() >= limit {
            break None;
        }
        let next = (sim.elapsed() + SLICE).min(limit);
        sim.run_until(next)?;
    };
    let window_end = connected.map_or(limit, |at| at.saturating_duration_since(epoch) + duration);
    sim.run_until(window_end)?;
    let bulk_bytes = quinn_app::<QuinnMixedReceiver>(&sim, s, "mixed receiver")?
        .bulk
        .received;
    sim.run_until(window_end + drain)?;
    let tx = quinn_app::<QuinnMixedSender>(&sim, c, "mixed sender")?;
    let rx = quinn_app::<QuinnMixedReceiver>(&sim, s, "mixed receiver")?;
    let mut delays = rx.delays.clone();
    delays.sort_unstable();
    let quantile = |q: f64| {
        let n = delays.len();
        if n == 0 {
            return Duration::ZERO;
        }
        let index = ((q * n as f64).ceil() as usize).clamp(1, n) - 1;
        delays[index]
    };
    Ok(QuinnMixedReport {
        game_sent: tx.game.sent + tx.game.refused,
        game_on_time: rx.on_time,
        game_delay_p50: quantile(0.5),
        game_delay_p99: quantile(0.99),
        bulk_bytes,
        error: tx
            .bulk
            .closed
            .as_ref()
            .filter(|_| tx.bulk.completed_at.is_none())
            .map(ToString::to_string),
    })
}
