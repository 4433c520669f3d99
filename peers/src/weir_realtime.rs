//! weir's side of the real-time runs: [`EchoRun::weir`] and [`GameRun::weir`] drive weir-core's
//! own flow apps ([`EchoClient`] and [`EchoServer`], [`GameSender`] and [`GameReceiver`])
//! between two weir peers set up as for the bulk comparison, over the same links, with the same
//! simulator seed and schedule as quinn's runs, and fill the same reports the same way.
//!
//! ## Why the game run does not call `run_game`
//!
//! weir-core's [`run_game`](weir_core::sim::game::run_game) measures the same flow over other
//! windows, and none of its knobs can make them [`GameRun`]'s:
//!
//! 1. its age samples have no warm-up: the receiver is built inside it, [`GameSpec`] has no
//!    `measure_from`, and [`GameReceiver::measure_from`] is an instant that is only known once
//!    the handshake completed, so the samples start at the first arrival, slow start included;
//! 2. its receiver samples the age up to every arrival, so messages that land during the drain
//!    extend the samples past the sending window (`finish(end)` only adds time when the last
//!    arrival came earlier); quinn's receiver stops at the end of the window;
//! 3. it runs to `duration + drain` from the start of the simulation (5 s of drain by default)
//!    rather than to the handshake plus `duration` plus [`GameRun::drain`], so the bytes on the
//!    wire would count over another span.
//!
//! So [`GameRun::weir`] drives core's sender and receiver itself, as [`GameRun::quinn`] drives
//! quinn's: it steps the simulator one instant at a time until the sender's handshake, sets the
//! receiver's `measure_from` to the handshake plus the warm-up before any message can land (the
//! first one leaves at the handshake's instant and the link delays it), runs to the end of the
//! sending window, ends the age samples there and keeps a copy of them, then runs the drain,
//! whose arrivals count as received (and as on time within the deadline) but not as ages.
//!
//! [`GameSpec`]: weir_core::sim::game::GameSpec

use std::time::Instant;

use weir_core::connection::{ConnectionError, Event};
use weir_core::endpoint::{ConnectionHandle, Endpoint};
use weir_core::lanes::{FecLevel, LaneConfig};
use weir_core::sim::echo::{EchoClient, EchoServer};
use weir_core::sim::flows::{Both, GameReceiver, GameSender, GameTransport};
use weir_core::sim::{App, Simulator};

use crate::PeerError;
use crate::echo::{EchoReport, EchoRun, RoundTrips, offered_bytes};
use crate::game::{GameReport, GameRun, Outcome};
use crate::report::Stack;
use crate::run::{weir_app, weir_app_mut, weir_pair};

/// The lane an echo flow runs on.
const ECHO_LANE: u64 = 0;

/// Records when a weir connection's handshake completed and why it closed, next to an app that
/// does not expose it (weir-core's [`EchoClient`] keeps neither; quinn's apps keep both).
#[derive(Debug, Default)]
pub(crate) struct Watch {
    connected_at: Option<Instant>,
    closed: Option<ConnectionError>,
}

impl App for Watch {
    fn on_event(
        &mut self,
        now: Instant,
        _endpoint: &mut Endpoint,
        _handle: ConnectionHandle,
        event: Event,
    ) {
        match event {
            Event::Connected => self.connected_at = Some(now),
            Event::Closed(error) => self.closed = Some(error),
            _ => {}
        }
    }
}

type WatchedEchoClient = Both<EchoClient, Watch>;
type WatchedGameSender = Both<GameSender, Watch>;

impl EchoRun {
    /// Runs the flow between two weir peers (transport settings [`weir`](Self::weir)) on a
    /// lane set up with `lane` at both ends: [`ReliableOrdered`](weir_core::lanes::DeliveryMode::ReliableOrdered) with
    /// [`redundancy`](LaneConfig::redundancy) is the KCP-like setup. Everything else is
    /// [`quinn`](Self::quinn)'s: links, seed, schedule, stopping rule and measurement.
    pub fn weir(&self, lane: LaneConfig) -> Result<EchoReport, PeerError> {
        let epoch = Instant::now(); // any instant: the simulator only adds virtual time to it
        let client = EchoClient::new(epoch, ECHO_LANE, lane, self.interval, self.size, self.count);
        let server = EchoServer::new(ECHO_LANE, lane);
        let (mut sim, c, s) = weir_pair(
            &self.weir,
            self.seed,
            epoch,
            Both(client, Watch::default()),
            server,
        )?;
        let (f, r) = sim.connect(c, s, self.forward.clone(), self.reverse.clone())?;
        const CLIENT: &str = "weir echo client node";
        self.run_until_done(&mut sim, |sim| {
            let Both(client, watch) = weir_app::<WatchedEchoClient>(sim, c, CLIENT)?;
            Ok(client.done() || watch.closed.is_some())
        })?;
        let Both(client, watch) = weir_app::<WatchedEchoClient>(&sim, c, CLIENT)?;
        // Every round trip, exactly, as quinn's client keeps them.
        let mut rtt = RoundTrips::default();
        for (_, round_trip) in client.slowest(usize::MAX) {
            rtt.record(round_trip);
        }
        Ok(EchoReport {
            stack: Stack::Weir(self.weir.congestion.kind),
            seed: self.seed,
            connected_at: watch
                .connected_at
                .map(|t| t.saturating_duration_since(epoch)),
            sent: client.sent,
            echoed: client.echoed,
            mean: rtt.mean(),
            p50: rtt.quantile(0.5),
            p99: rtt.quantile(0.99),
            max: rtt.max,
            bytes_on_wire: offered_bytes(&sim, [f, r])?,
            elapsed: sim.elapsed(),
            error: watch.closed.as_ref().map(ToString::to_string),
        })
    }
}

impl GameRun {
    /// Runs the flow from a weir client (the sender, transport settings
    /// [`weir`](Self::weir)) to a weir server over `transport`, measured as
    /// [`quinn`](Self::quinn) measures quinn's (see the module docs for how the windows are
    /// kept the same). The receiver's on-time rule is [`deadline`](Self::deadline), whatever
    /// deadline or time to live `transport` gives the sender.
    ///
    /// The forward link must delay packets: the warm-up is set when the handshake completes,
    /// and a first message that landed in that same instant is reported as a harness error.
    pub fn weir(&self, transport: GameTransport) -> Result<GameReport, PeerError> {
        let epoch = Instant::now(); // any instant: the simulator only adds virtual time to it
        let sender = GameSender::new(epoch, self.rate_hz, self.size, transport, self.duration);
        let mut receiver = GameReceiver::new(epoch, self.size);
        receiver.deadline = self.deadline;
        let (mut sim, c, s) = weir_pair(
            &self.weir,
            self.seed,
            epoch,
            Both(sender, Watch::default()),
            receiver,
        )?;
        let (f, r) = sim.connect(c, s, self.forward.clone(), self.reverse.clone())?;
        const SENDER: &str = "weir game sender node";
        const RECEIVER: &str = "weir game receiver node";
        let connected = |sim: &Simulator| -> Result<(Option<Instant>, bool), PeerError> {
            let Both(tx, watch) = weir_app::<WatchedGameSender>(sim, c, SENDER)?;
            Ok((tx.connected_at(), watch.closed.is_some()))
        };
        // 1. The handshake, one instant at a time, so that the warm-up is set before the first
        //    message can land.
        loop {
            let (start, closed) = connected(&sim)?;
            if start.is_some() || closed || sim.elapsed() >= self.handshake_limit || !sim.step()? {
                break;
            }
        }
        let mut ages = None;
        if let (Some(start), _) = connected(&sim)? {
            let rx = weir_app_mut::<GameReceiver>(&mut sim, s, RECEIVER)?;
            if rx.received > 0 {
                return Err(PeerError::Harness(
                    "game message landing before the warm-up could be set (a zero-delay link)",
                ));
            }
            rx.measure_from = Some(start + self.warmup);
            // 2. The sending window: ages up to its end, kept apart from the drain's arrivals.
            let window_end = start + self.duration;
            sim.run_until(window_end.saturating_duration_since(epoch))?;
            let rx = weir_app_mut::<GameReceiver>(&mut sim, s, RECEIVER)?;
            rx.finish(window_end);
            ages = rx.freshness().cloned();
            // 3. The drain.
            sim.run_until((window_end + self.drain).saturating_duration_since(epoch))?;
        }
        let rx = weir_app::<GameReceiver>(&sim, s, RECEIVER)?;
        let Both(tx, watch) = weir_app::<WatchedGameSender>(&sim, c, SENDER)?;
        let error = match (&watch.closed, tx.lane_error) {
            (Some(closed), _) => Some(closed.to_string()),
            (None, Some(lane)) => Some(format!("lane {}: {lane}", weir_core::sim::game::GAME_LANE)),
            (None, None) => None,
        };
        self.report(
            &sim,
            [f, r],
            Outcome {
                stack: Stack::Weir(self.weir.congestion.kind),
                transport: transport_name(&transport),
                connected_at: tx.connected_at(),
                sent: tx.sent,
                refused: tx.refused,
                received: rx.received,
                on_time: rx.on_time(),
                ages: ages.as_ref(),
                error,
            },
        )
    }
}

/// The name of a weir game transport in a [`GameReport`]: `datagrams`, `stream`, or `lane`, its
/// delivery mode, and its repair (`r2` for two redundant copies, `fec-medium`).
fn transport_name(transport: &GameTransport) -> String {
    match transport {
        GameTransport::Datagrams { .. } => "datagrams".to_owned(),
        GameTransport::Stream { .. } => "stream".to_owned(),
        GameTransport::Lane { config, .. } => {
            let mut name = format!("lane {}", config.mode);
            if config.redundancy > 0 {
                name.push_str(&format!(" r{}", config.redundancy));
            }
            if config.fec != FecLevel::None {
                name.push_str(&format!(" fec-{}", config.fec));
            }
            name
        }
    }
}
