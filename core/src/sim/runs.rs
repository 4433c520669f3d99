//! Ready-made simulation runs of weir connections over a [`Scenario`]: what `weir sim`, the
//! congestion-control evidence tests and the benchmarks share.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::flows::{BulkAmount, BulkReceiver, BulkSender, Sample};
use super::{EndpointNode, LinkConfig, LinkStats, NodeId, Scenario, SimError, Simulator};
use crate::adapt::StrategyChange;
use crate::config::{ConfigError, EndpointConfig, Seed, ServerConfig, TransportConfig};
use crate::connection::ConnectionStats;
use crate::endpoint::{ConnectError, Endpoint};

/// A run could not be set up or failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The simulator refused the topology or stalled.
    #[error("simulation: {0}")]
    Sim(#[from] SimError),
    /// A configuration is invalid.
    #[error("configuration: {0}")]
    Config(#[from] ConfigError),
    /// The client could not start its connection.
    #[error("connect: {0}")]
    Connect(#[from] ConnectError),
}

/// What one bulk flow achieved.
#[derive(Debug, Clone)]
pub struct BulkRun {
    /// When the handshake completed (since the epoch).
    pub connected_at: Option<Duration>,
    /// When the whole transfer was acknowledged.
    pub completed_at: Option<Duration>,
    /// Bytes the sender wrote.
    pub written: u64,
    /// Bytes the receiver read.
    pub received: u64,
    /// When the receiver read its first and last byte.
    pub first_byte: Option<Duration>,
    /// When the receiver read its last byte.
    pub last_byte: Option<Duration>,
    /// The sender's connection statistics at the end.
    pub stats: Option<ConnectionStats>,
    /// The sender's strategy changes: when (since the start) and what.
    pub strategy_changes: Vec<(Duration, StrategyChange)>,
    /// Samples of the sender's state, if asked for.
    pub samples: Vec<Sample>,
    /// Bytes read by the receiver over time (since the epoch), every 100 ms or so.
    pub history: Vec<(Duration, u64)>,
}

impl BulkRun {
    /// Bytes read between `from` and `to` (since the epoch), from the recorded history.
    pub fn received_between(&self, from: Duration, to: Duration) -> u64 {
        let at = |t: Duration| {
            self.history
                .iter()
                .take_while(|(when, _)| *when <= t)
                .last()
                .map_or(0, |(_, bytes)| *bytes)
        };
        at(to).saturating_sub(at(from))
    }
}

impl BulkRun {
    /// Goodput in bits per second from the first to the last byte read.
    pub fn goodput_bps(&self) -> f64 {
        match (self.first_byte, self.last_byte) {
            (Some(a), Some(b)) if b > a => self.received as f64 * 8.0 / (b - a).as_secs_f64(),
            _ => 0.0,
        }
    }
}

/// A whole simulation: the flows and what the shared links did.
#[derive(Debug, Clone)]
pub struct BulkRuns {
    /// Each flow, in the order given.
    pub flows: Vec<BulkRun>,
    /// The forward (bottleneck) link.
    pub forward: LinkStats,
    /// Virtual time simulated.
    pub elapsed: Duration,
}

/// One bulk flow to run: its transport configuration, when it starts and how much it sends.
#[derive(Debug, Clone)]
pub struct BulkSpec {
    /// The client's (sender's) transport configuration; the server uses it too.
    pub transport: TransportConfig,
    /// When the client connects, since the epoch.
    pub start: Duration,
    /// How much it sends.
    pub amount: BulkAmount,
    /// Sample the sender's state this often, for plots.
    pub sample_every: Option<Duration>,
    /// Protect the packets with TLS 1.3 (AES-128-GCM, 16-byte tags; what the runtimes use)
    /// instead of the integrity-only tag (4 bytes). The handshake draws real randomness, but
    /// its sizes are fixed (Ed25519, X25519), so the run's timing stays reproducible.
    pub tls: bool,
}

/// The endpoint configurations of a simulated pair: TLS with a self-signed identity made once
/// per process and a client that pins it, or the integrity-only protection.
fn sim_security(tls: bool, server_seed: u64, client_seed: u64) -> (EndpointConfig, EndpointConfig) {
    if !tls {
        return (
            EndpointConfig::insecure_fixed(server_seed),
            EndpointConfig::insecure_fixed(client_seed),
        );
    }
    match crate::crypto::shared_test_tls() {
        Some((server, client)) => (
            EndpointConfig::tls_fixed(server_seed, server),
            EndpointConfig::tls_fixed(client_seed, client),
        ),
        // Cannot happen (a fresh Ed25519 key always signs its own certificate); the runs then
        // fall back to what they measured before TLS existed.
        None => (
            EndpointConfig::insecure_fixed(server_seed),
            EndpointConfig::insecure_fixed(client_seed),
        ),
    }
}

fn addr(host: u8) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, host], 4433))
}

/// Runs `flows` over one bottleneck: every client sends through the scenario's forward link
/// (shared by all flows) and hears back through its reverse link (also shared), until every
/// flow completed or `limit` of virtual time passed.
pub fn run_bulk(
    epoch: Instant,
    scenario: &Scenario,
    seed: u64,
    flows: &[BulkSpec],
    limit: Duration,
) -> Result<BulkRuns, RunError> {
    let mut sim = Simulator::new(seed, epoch);
    let forward = sim.add_link(scenario.forward.clone())?;
    let reverse = sim.add_link(scenario.reverse.clone())?;
    sim.schedule(forward, &scenario.forward_schedule)?;
    sim.schedule(reverse, &scenario.reverse_schedule)?;
    let mut pairs: Vec<(NodeId, NodeId, Duration)> = Vec::new();
    for (i, spec) in flows.iter().enumerate() {
        let i = u8::try_from(i).unwrap_or(u8::MAX).min(100);
        let flow_seed = seed.wrapping_add(u64::from(i) * 1000);
        let (server_config, client_config) = sim_security(
            spec.tls,
            flow_seed.wrapping_add(1),
            flow_seed.wrapping_add(2),
        );
        let server = Endpoint::new(
            epoch,
            server_config,
            Some(ServerConfig {
                transport: spec.transport.clone(),
                ..ServerConfig::default()
            }),
        )?;
        let mut client = Endpoint::new(epoch, client_config, None)?;
        client.set_client_config(spec.transport.clone())?;
        let mut sender = BulkSender::new(spec.amount, 0, true);
        if let Some(every) = spec.sample_every {
            sender = sender.sample_every(epoch, every);
        }
        let c = sim.add_node(addr(1 + 2 * i), EndpointNode::new(client, sender))?;
        let s = sim.add_node(
            addr(2 + 2 * i),
            EndpointNode::new(server, BulkReceiver::default()),
        )?;
        sim.route(c, s, &[forward])?;
        sim.route(s, c, &[reverse])?;
        pairs.push((c, s, spec.start));
    }
    // Start each flow at its time.
    let mut starts: Vec<(Duration, usize)> =
        pairs.iter().enumerate().map(|(i, p)| (p.2, i)).collect();
    starts.sort();
    let mut next_start = 0;
    let step = Duration::from_millis(50);
    loop {
        while let Some(&(_, i)) = starts
            .get(next_start)
            .filter(|(at, _)| *at <= sim.elapsed())
        {
            let server_addr = addr(2 + 2 * u8::try_from(i).unwrap_or(u8::MAX).min(100));
            let now = sim.now();
            if let Some(node) = sim.node_mut::<EndpointNode<BulkSender>>(pairs[i].0) {
                node.endpoint.connect(now, server_addr)?;
            }
            next_start += 1;
        }
        let done = pairs.iter().all(|(c, _, _)| {
            sim.node::<EndpointNode<BulkSender>>(*c)
                .is_some_and(|n| n.app.completed_at.is_some() || n.app.closed.is_some())
        });
        if done || sim.elapsed() >= limit {
            break;
        }
        let next = starts
            .get(next_start)
            .map_or(sim.elapsed() + step, |(at, _)| {
                (*at).min(sim.elapsed() + step)
            });
        sim.run_until(next.min(limit))?;
    }
    let since = |t: Option<Instant>| t.map(|t| t.saturating_duration_since(epoch));
    let flows = pairs
        .iter()
        .map(|(c, s, _)| {
            let tx = sim.node::<EndpointNode<BulkSender>>(*c).map(|n| &n.app);
            let rx = sim.node::<EndpointNode<BulkReceiver>>(*s).map(|n| &n.app);
            BulkRun {
                connected_at: since(tx.and_then(|t| t.connected_at)),
                completed_at: since(tx.and_then(|t| t.completed_at)),
                written: tx.map_or(0, BulkSender::written),
                received: rx.map_or(0, |r| r.received),
                first_byte: since(rx.and_then(|r| r.first_byte)),
                last_byte: since(rx.and_then(|r| r.last_byte)),
                stats: tx.and_then(|t| t.stats.clone()),
                strategy_changes: sim
                    .node::<EndpointNode<BulkSender>>(*c)
                    .map(|n| strategy_changes(&n.strategy_log, epoch))
                    .unwrap_or_default(),
                samples: tx.map(|t| t.samples.clone()).unwrap_or_default(),
                history: rx
                    .map(|r| {
                        r.history
                            .iter()
                            .map(|(t, b)| (t.saturating_duration_since(epoch), *b))
                            .collect()
                    })
                    .unwrap_or_default(),
            }
        })
        .collect();
    Ok(BulkRuns {
        flows,
        forward: sim.link_stats(forward).cloned().unwrap_or_default(),
        elapsed: sim.elapsed(),
    })
}

/// A bottleneck scenario: `rate_mbps` Mbit/s, round trip `rtt`, random loss `loss` on the
/// forward link, a drop-tail buffer of `buffer_bdp` bandwidth-delay products; the reverse link
/// has the same delay and no limit.
pub fn bottleneck(rate_mbps: f64, rtt: Duration, loss: f64, buffer_bdp: f64) -> Scenario {
    use super::{Bitrate, LossModel};
    let rate = Bitrate::from_bps((rate_mbps * 1e6) as u64);
    let bdp = super::presets::bdp_bytes(rate, rtt) as f64;
    let forward = LinkConfig {
        loss: if loss > 0.0 {
            LossModel::Random { p: loss }
        } else {
            LossModel::None
        },
        ..LinkConfig::bottleneck(rate, rtt / 2, (bdp * buffer_bdp) as usize)
    };
    let reverse = LinkConfig {
        delay: rtt / 2,
        ..LinkConfig::default()
    };
    Scenario {
        name: format!(
            "{rate_mbps}mbit-{}ms-{}%-{buffer_bdp}bdp",
            rtt.as_millis(),
            loss * 100.0
        ),
        description: format!(
            "{rate_mbps} Mbit/s, {} ms RTT, {}% loss, {buffer_bdp} BDP buffer",
            rtt.as_millis(),
            loss * 100.0
        ),
        forward,
        reverse,
        forward_schedule: super::Schedule::new(),
        reverse_schedule: super::Schedule::new(),
    }
}

/// A node's strategy log as times since `epoch`.
pub(crate) fn strategy_changes(
    log: &[(Instant, crate::endpoint::ConnectionHandle, StrategyChange)],
    epoch: Instant,
) -> Vec<(Duration, StrategyChange)> {
    log.iter()
        .map(|(at, _, change)| (at.saturating_duration_since(epoch), change.clone()))
        .collect()
}

/// The two endpoints of a one-connection run.
#[derive(Debug)]
pub struct Pair {
    /// The client (the sender), which has started its connection.
    pub client: Endpoint,
    /// The server (the receiver).
    pub server: Endpoint,
    /// 10.0.0.1:4433.
    pub client_addr: SocketAddr,
    /// 10.0.0.2:4433.
    pub server_addr: SocketAddr,
}

/// A client at 10.0.0.1 connecting to a server at 10.0.0.2, both with `config`; the server
/// draws from `seed + 1`, the client from `seed + 2`.
pub fn connected_pair(
    epoch: Instant,
    seed: u64,
    config: &TransportConfig,
) -> Result<Pair, RunError> {
    let client_addr = SocketAddr::from(([10, 0, 0, 1], 4433));
    let server_addr = SocketAddr::from(([10, 0, 0, 2], 4433));
    let server = Endpoint::new(
        epoch,
        EndpointConfig {
            seed: Seed::Fixed(seed.wrapping_add(1)),
            ..EndpointConfig::insecure_fixed(0)
        },
        Some(ServerConfig {
            transport: config.clone(),
            ..ServerConfig::default()
        }),
    )?;
    let mut client = Endpoint::new(
        epoch,
        EndpointConfig {
            seed: Seed::Fixed(seed.wrapping_add(2)),
            ..EndpointConfig::insecure_fixed(0)
        },
        None,
    )?;
    client.set_client_config(config.clone())?;
    client.connect(epoch, server_addr)?;
    Ok(Pair {
        client,
        server,
        client_addr,
        server_addr,
    })
}
