//! One bulk flow over a scenario, by quinn or by weir, measured the same way.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use weir_core::config::TransportConfig;
use weir_core::sim::flows::{BulkAmount, BulkReceiver, BulkSender};
use weir_core::sim::runs::{Pair, connected_pair};
use weir_core::sim::{App, EndpointNode, NodeId, Scenario, Simulator};

use crate::PeerError;
use crate::bulk::{QuinnBulkReceiver, QuinnBulkSender};
use crate::config::{QuinnConfig, SelfSigned};
use crate::node::{QuinnApp, QuinnEndpointNode};
use crate::report::{BulkReport, SenderStats, Stack};

/// Simulated addresses of the two ends (as `weir sim` uses).
const CLIENT: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
    std::net::Ipv4Addr::new(10, 0, 0, 1),
    4433,
));
const SERVER: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
    std::net::Ipv4Addr::new(10, 0, 0, 2),
    4433,
));

/// Granularity at which a run checks whether the flow connected or completed. Measurements do
/// not depend on it: the sending window is cut at the exact instant of the handshake.
const SLICE: Duration = Duration::from_millis(10);

/// A bulk flow to run: how much, with which seed, and how the stacks are configured.
#[derive(Debug, Clone)]
pub struct BulkRun {
    /// How much the client sends.
    pub amount: BulkAmount,
    /// Seed of the simulator; the server's and the client's seeds are `seed + 1` and `seed + 2`,
    /// as in `weir sim`.
    pub seed: u64,
    /// How long a timed run goes on after its sending window, for the last bytes to land.
    pub drain: Duration,
    /// No run goes on past this much virtual time (a handshake that never completes, a sized
    /// transfer that cannot finish).
    pub time_limit: Duration,
    /// The quinn peers' settings.
    pub quinn: QuinnConfig,
    /// The weir peers' transport settings.
    pub weir: TransportConfig,
}

impl BulkRun {
    /// A flow that sends for `duration` after the handshake, with a 5 s drain (as `weir sim`).
    pub fn timed(seed: u64, duration: Duration) -> Self {
        Self {
            amount: BulkAmount::For(duration),
            seed,
            drain: Duration::from_secs(5),
            time_limit: duration + Duration::from_secs(600),
            quinn: QuinnConfig::default(),
            weir: TransportConfig::default(),
        }
    }

    /// A flow of exactly `bytes`, allowed up to 10 minutes of virtual time.
    pub fn sized(seed: u64, bytes: u64) -> Self {
        Self {
            amount: BulkAmount::Bytes(bytes),
            time_limit: Duration::from_secs(600),
            ..Self::timed(seed, Duration::ZERO)
        }
    }

    /// Runs the flow over `scenario` between two quinn peers.
    pub fn quinn(&self, scenario: &Scenario) -> Result<BulkReport, PeerError> {
        let epoch = Instant::now(); // any instant: the simulator only adds virtual time to it
        let (sim, c, s) = quinn_pair(
            &self.quinn,
            self.seed,
            epoch,
            QuinnBulkSender::new(self.amount),
            QuinnBulkReceiver::default(),
        )?;
        let views = Views {
            sender: |sim: &Simulator| {
                let tx = &sim
                    .node::<QuinnEndpointNode<QuinnBulkSender>>(c)
                    .expect("node c is the quinn sender")
                    .app;
                SenderView {
                    connected_at: tx.connected_at,
                    completed_at: tx.completed_at,
                    error: tx.closed.as_ref().map(ToString::to_string),
                    written: tx.written(),
                    stats: tx.stats.map(|st| SenderStats {
                        packets_sent: st.path.sent_packets,
                        packets_lost: st.path.lost_packets,
                        congestion_events: st.path.congestion_events,
                        cwnd: st.path.cwnd,
                        srtt: st.path.rtt,
                        min_rtt: st.path.min_rtt,
                    }),
                }
            },
            receiver: |sim: &Simulator| {
                let rx = &sim
                    .node::<QuinnEndpointNode<QuinnBulkReceiver>>(s)
                    .expect("node s is the quinn receiver")
                    .app;
                ReceiverView {
                    received: rx.received,
                    last_byte: rx.last_byte,
                    first_byte: rx.first_byte,
                    finished_at: rx.finished_at,
                }
            },
        };
        self.drive(
            sim,
            (c, s),
            scenario,
            Stack::Quinn(self.quinn.controller),
            views,
        )
    }

    /// Runs the flow over `scenario` between two weir peers, set up as `weir sim --flow bulk`.
    pub fn weir(&self, scenario: &Scenario) -> Result<BulkReport, PeerError> {
        let epoch = Instant::now(); // any instant: the simulator only adds virtual time to it
        let sender = BulkSender::new(self.amount, 0, true);
        let (sim, c, s) = weir_pair(
            &self.weir,
            self.seed,
            epoch,
            sender,
            BulkReceiver::default(),
        )?;
        let views = Views {
            sender: |sim: &Simulator| {
                let tx = &sim
                    .node::<EndpointNode<BulkSender>>(c)
                    .expect("node c is the weir sender")
                    .app;
                SenderView {
                    connected_at: tx.connected_at,
                    completed_at: tx.completed_at,
                    error: tx.closed.as_ref().map(ToString::to_string),
                    written: tx.written(),
                    stats: tx.stats.as_ref().map(|st| SenderStats {
                        packets_sent: st.packets_sent,
                        packets_lost: st.packets_lost,
                        congestion_events: st.congestion_events,
                        cwnd: st.cwnd,
                        srtt: st.srtt,
                        min_rtt: st.min_rtt,
                    }),
                }
            },
            receiver: |sim: &Simulator| {
                let rx = &sim
                    .node::<EndpointNode<BulkReceiver>>(s)
                    .expect("node s is the weir receiver")
                    .app;
                ReceiverView {
                    received: rx.received,
                    first_byte: rx.first_byte,
                    last_byte: rx.last_byte,
                    finished_at: rx.finished_at,
                }
            },
        };
        let stack = Stack::Weir(self.weir.congestion.kind);
        self.drive(sim, (c, s), scenario, stack, views)
    }

    /// Installs the scenario (client → server forward), runs the flow and measures it.
    fn drive<S, R>(
        &self,
        mut sim: Simulator,
        (c, s): (NodeId, NodeId),
        scenario: &Scenario,
        stack: Stack,
        views: Views<S, R>,
    ) -> Result<BulkReport, PeerError>
    where
        S: Fn(&Simulator) -> SenderView,
        R: Fn(&Simulator) -> ReceiverView,
    {
        let (forward, reverse) = scenario.install(&mut sim, c, s)?;
        let epoch = sim.epoch();
        let limit = self.time_limit;
        let done = |sim: &Simulator| {
            let tx = (views.sender)(sim);
            tx.completed_at.is_some() || tx.error.is_some()
        };
        // 1. The handshake.
        while (views.sender)(&sim).connected_at.is_none() && !done(&sim) && sim.elapsed() < limit {
            sim.run_for(SLICE)?;
        }
        let connected_at = (views.sender)(&sim).connected_at;
        // 2. The sending window, then the drain; a sized flow runs until it completes.
        let mut window_bytes = 0;
        if let Some(start) = connected_at {
            let end = match self.amount {
                BulkAmount::For(d) => {
                    let window_end = (start + d).saturating_duration_since(epoch).min(limit);
                    sim.run_until(window_end)?;
                    window_bytes = (views.receiver)(&sim).received;
                    (window_end + self.drain).min(limit)
                }
                BulkAmount::Bytes(_) => limit,
            };
            while !done(&sim) && sim.elapsed() < end {
                sim.run_for(SLICE)?;
            }
        }
        let tx = (views.sender)(&sim);
        let rx = (views.receiver)(&sim);
        let window = match (self.amount, connected_at) {
            (BulkAmount::For(d), _) => d,
            (BulkAmount::Bytes(_), Some(start)) => rx
                .last_byte
                .map_or(Duration::ZERO, |t| t.saturating_duration_since(start)),
            (BulkAmount::Bytes(_), None) => Duration::ZERO,
        };
        if matches!(self.amount, BulkAmount::Bytes(_)) {
            window_bytes = rx.received;
        }
        let goodput_bps = if window.is_zero() || connected_at.is_none() {
            0.0
        } else {
            window_bytes as f64 * 8.0 / window.as_secs_f64()
        };
        let since = |t: Option<Instant>| t.map(|t| t.saturating_duration_since(epoch));
        Ok(BulkReport {
            stack,
            scenario: scenario.name.clone(),
            seed: self.seed,
            connected_at: since(connected_at),
            window,
            window_bytes,
            goodput_bps,
            written_bytes: tx.written,
            received_bytes: rx.received,
            first_byte_at: since(rx.first_byte),
            last_byte_at: since(rx.last_byte),
            finished_at: since(rx.finished_at),
            completed_at: since(tx.completed_at),
            sender_error: tx.error.filter(|_| tx.completed_at.is_none()),
            elapsed: sim.elapsed(),
            forward_link: sim.link_stats(forward).cloned().expect("installed link"),
            reverse_link: sim.link_stats(reverse).cloned().expect("installed link"),
            sender: tx.stats,
            trace_digest: sim.trace().digest(),
            trace_events: sim.trace().total_events(),
        })
    }
}

/// A simulator seeded with `seed` holding two quinn peers that share one self-signed identity:
/// the client at [`CLIENT`] (seed `seed + 2`), connecting at `epoch` to the server at [`SERVER`]
/// (seed `seed + 1`), as `weir sim` seeds weir's two ends. No links yet: the caller installs them.
pub(crate) fn quinn_pair<C: QuinnApp, S: QuinnApp>(
    config: &QuinnConfig,
    seed: u64,
    epoch: Instant,
    client_app: C,
    server_app: S,
) -> Result<(Simulator, NodeId, NodeId), PeerError> {
    let identity = SelfSigned::generate(&config.server_name)?;
    let client = QuinnEndpointNode::client(
        config,
        &identity,
        seed.wrapping_add(2),
        epoch,
        SERVER,
        client_app,
    )?;
    let server = QuinnEndpointNode::server(config, &identity, seed.wrapping_add(1), server_app)?;
    let mut sim = Simulator::new(seed, epoch);
    let c = sim.add_node(CLIENT, client)?;
    let s = sim.add_node(SERVER, server)?;
    Ok((sim, c, s))
}

/// A simulator seeded with `seed` holding two weir peers with the transport settings `config`:
/// the client at [`CLIENT`] (seed `seed + 2`), connecting at `epoch` to the server at [`SERVER`]
/// (seed `seed + 1`, Retry only when busy, as `weir sim` sets it up), the counterpart of
/// [`quinn_pair`]. No links yet: the caller installs them.
pub(crate) fn weir_pair<C: App, S: App>(
    config: &TransportConfig,
    seed: u64,
    epoch: Instant,
    client_app: C,
    server_app: S,
) -> Result<(Simulator, NodeId, NodeId), PeerError> {
    // The same pair as weir's own runs: 10.0.0.1 → 10.0.0.2, seeds `seed + 2` and `seed + 1`.
    let Pair {
        client,
        server,
        client_addr,
        server_addr,
    } = connected_pair(epoch, seed, config)?;
    debug_assert_eq!((client_addr, server_addr), (CLIENT, SERVER));
    let mut sim = Simulator::new(seed, epoch);
    let c = sim.add_node(CLIENT, EndpointNode::new(client, client_app))?;
    let s = sim.add_node(SERVER, EndpointNode::new(server, server_app))?;
    Ok((sim, c, s))
}

/// The application of weir node `node`, which must hold an `A`.
pub(crate) fn weir_app<'a, A: App>(
    sim: &'a Simulator,
    node: NodeId,
    what: &'static str,
) -> Result<&'a A, PeerError> {
    sim.node::<EndpointNode<A>>(node)
        .map(|n| &n.app)
        .ok_or(PeerError::Harness(what))
}

/// The application of weir node `node`, which must hold an `A`, to change.
pub(crate) fn weir_app_mut<'a, A: App>(
    sim: &'a mut Simulator,
    node: NodeId,
    what: &'static str,
) -> Result<&'a mut A, PeerError> {
    sim.node_mut::<EndpointNode<A>>(node)
        .map(|n| &mut n.app)
        .ok_or(PeerError::Harness(what))
}

/// The application of quinn node `node`, which must hold an `A`.
pub(crate) fn quinn_app<'a, A: QuinnApp>(
    sim: &'a Simulator,
    node: NodeId,
    what: &'static str,
) -> Result<&'a A, PeerError> {
    sim.node::<QuinnEndpointNode<A>>(node)
        .map(|n| &n.app)
        .ok_or(PeerError::Harness(what))
}

/// The application of quinn node `node`, which must hold an `A`, to change.
pub(crate) fn quinn_app_mut<'a, A: QuinnApp>(
    sim: &'a mut Simulator,
    node: NodeId,
    what: &'static str,
) -> Result<&'a mut A, PeerError> {
    sim.node_mut::<QuinnEndpointNode<A>>(node)
        .map(|n| &mut n.app)
        .ok_or(PeerError::Harness(what))
}

/// How [`BulkRun::drive`] reads the two applications, whatever the stack.
struct Views<S, R> {
    sender: S,
    receiver: R,
}

struct SenderView {
    connected_at: Option<Instant>,
    completed_at: Option<Instant>,
    error: Option<String>,
    written: u64,
    stats: Option<SenderStats>,
}

struct ReceiverView {
    received: u64,
    first_byte: Option<Instant>,
    last_byte: Option<Instant>,
    finished_at: Option<Instant>,
}

/// One bulk flow of quinn-proto (default configuration: CUBIC, 1200-byte datagrams, 16 MiB
/// windows) over `scenario`: the client sends on the scenario's forward direction for
/// `duration` after the handshake, then the run drains for 5 s.
///
/// `goodput_bps` counts the bytes read within `duration` of the handshake.
pub fn quinn_bulk(
    scenario: &Scenario,
    seed: u64,
    duration: Duration,
) -> Result<BulkReport, PeerError> {
    BulkRun::timed(seed, duration).quinn(scenario)
}

/// The same flow as [`quinn_bulk`], carried by weir (default transport configuration), so that
/// the two reports compare like for like.
pub fn weir_bulk(
    scenario: &Scenario,
    seed: u64,
    duration: Duration,
) -> Result<BulkReport, PeerError> {
    BulkRun::timed(seed, duration).weir(scenario)
}
