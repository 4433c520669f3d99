//! `weir sim`: run a path scenario with a probe flow or a real weir connection on it.

use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use weir_core::config::{EndpointConfig, Seed, ServerConfig, TransportConfig};
use weir_core::congestion::ControllerKind;
use weir_core::connection::ConnectionStats;
use weir_core::endpoint::Endpoint;
use weir_core::sim::flows::{BulkAmount, GameReceiver, GameSender, GameTransport};
use weir_core::sim::presets::PRESETS;
use weir_core::sim::runs::{BulkSpec, run_bulk};
use weir_core::sim::{
    App, Bitrate, CbrSource, EndpointNode, LinkStats, ProbeReport, ProbeSink, Scenario, Simulator,
};

use crate::CliError;
use crate::report;
use crate::scenario::PathArgs;
use crate::units::{parse_bytes, parse_duration, parse_rate};

/// What runs over the simulated path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Flow {
    /// A constant-bit-rate probe (no protocol): what the link itself does.
    Probe,
    /// A weir connection moving bulk data on one stream.
    Bulk,
    /// A weir connection carrying a 60 Hz small-message game flow.
    Game,
}

/// Arguments of `weir sim`.
#[derive(Debug, Args)]
pub struct SimArgs {
    /// List the named scenarios and exit.
    #[arg(long)]
    pub list_presets: bool,
    #[command(flatten)]
    pub path: PathArgs,
    #[command(flatten)]
    pub matrix: crate::matrix::MatrixArgs,
    /// What to run over the path.
    #[arg(long, value_enum, default_value = "probe")]
    pub flow: Flow,
    /// Virtual time the flow runs for, e.g. 10s.
    #[arg(long, value_parser = parse_duration, default_value = "10s", value_name = "TIME")]
    pub duration: Duration,
    /// Seed of every random decision: the same seed gives the same run.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Probe flow: its rate (default: 90% of the forward bottleneck, or 10mbit without one).
    #[arg(long, value_parser = parse_rate, value_name = "RATE")]
    pub probe_rate: Option<Bitrate>,
    /// Probe flow: size of each datagram (UDP payload), in bytes.
    #[arg(long, default_value_t = 1200, value_name = "BYTES")]
    pub packet_size: usize,
    /// Bulk flow: send exactly this much (e.g. 10MB) instead of for --duration.
    #[arg(long, value_parser = parse_bytes, value_name = "SIZE")]
    pub bytes: Option<u64>,
    /// Game flow: messages per second.
    #[arg(long, default_value_t = 60, value_name = "HZ")]
    pub tick_rate: u32,
    /// Game flow: bytes per message.
    #[arg(long, default_value_t = 200, value_name = "BYTES")]
    pub message_size: usize,
    /// Game flow: carry messages on a reliable high-priority stream instead of unreliable
    /// datagrams.
    #[arg(long)]
    pub reliable: bool,
    /// Game flow: how long an unreliable message stays worth delivering (its deadline); an
    /// older one is dropped by the sender, or by the receiver, which counts half the minimum
    /// RTT as transit. On a path whose one-way delay exceeds it, nothing arrives.
    #[arg(long, value_parser = parse_duration, default_value = "500ms", value_name = "TIME")]
    pub ttl: Duration,
    /// Congestion controller of weir connections: newreno, cubic, bbr, vegas.
    #[arg(long, default_value = "newreno", value_name = "NAME")]
    pub controller: ControllerKind,
    /// With `--controller bbr`: short, gentle bandwidth probes that keep the queue low for a
    /// game flow, at some cost in fairness to other flows (`BbrConfig::low_latency`).
    #[arg(long)]
    pub low_latency: bool,
    /// Bulk flow: write an SVG chart of the sender's window, pacing rate and RTT to this file.
    #[arg(long, value_name = "FILE")]
    pub plot: Option<std::path::PathBuf>,
}

/// Everything a run measured.
pub struct Outcome {
    pub scenario: Scenario,
    pub seed: u64,
    pub duration: Duration,
    pub forward: LinkStats,
    pub elapsed: Duration,
    pub wall: Duration,
    pub flow: FlowOutcome,
}

/// What the flow itself measured.
pub enum FlowOutcome {
    Probe {
        rate: Bitrate,
        packet_size: usize,
        sent: u64,
        report: ProbeReport,
    },
    Bulk {
        written: u64,
        received: u64,
        connected: Option<Duration>,
        completed: Option<Duration>,
        receive_span: Option<Duration>,
        stats: Option<ConnectionStats>,
    },
    Game {
        tick_rate: u32,
        message_size: usize,
        reliable: bool,
        sent: u64,
        received: u64,
        /// Unreliable messages dropped as stale by the sender and by the receiver.
        expired: (u64, u64),
        delays: [Duration; 5],
        stats: Option<ConnectionStats>,
    },
}

pub fn run(args: &SimArgs) -> Result<(), CliError> {
    if args.list_presets {
        print!("{}", report::presets(PRESETS));
        return Ok(());
    }
    if args.matrix.matrix {
        print!(
            "{}",
            crate::matrix::run(&args.matrix, args.duration, args.seed)?
        );
        return Ok(());
    }
    if args.low_latency && args.controller != ControllerKind::Bbr {
        return Err(CliError::LowLatency(args.controller));
    }
    let scenario = args.path.scenario()?;
    let wall = Instant::now();
    let mut outcome = match args.flow {
        Flow::Probe => probe(scenario, args, wall)?,
        Flow::Bulk => bulk(scenario, args, wall)?,
        Flow::Game => game(scenario, args, wall)?,
    };
    outcome.wall = wall.elapsed();
    print!("{}", report::render(&outcome));
    Ok(())
}

const SENDER: &str = "10.0.0.1:4433";
const RECEIVER: &str = "10.0.0.2:4433";

fn addresses() -> (std::net::SocketAddr, std::net::SocketAddr) {
    (
        SENDER.parse().expect("literal address"),
        RECEIVER.parse().expect("literal address"),
    )
}

fn probe(scenario: Scenario, args: &SimArgs, epoch: Instant) -> Result<Outcome, CliError> {
    let rate = args.probe_rate.unwrap_or_else(|| {
        scenario
            .forward
            .rate
            .map_or(Bitrate::from_mbps(10), |rate| rate.scaled(0.9))
    });
    let (sender_addr, receiver_addr) = addresses();
    let mut sim = Simulator::new(args.seed, epoch);
    let source = CbrSource::new(receiver_addr, rate, args.packet_size, epoch, args.duration)?;
    let sent = source.total();
    let sender = sim.add_node(sender_addr, source)?;
    let receiver = sim.add_node(receiver_addr, ProbeSink::new(epoch))?;
    let (forward, _) = scenario.install(&mut sim, sender, receiver)?;
    sim.run_until(args.duration)?;
    // Let the queues drain and the last datagrams land (schedules may go on far longer).
    while sim.packets_in_flight() > 0 && sim.step()? {}
    let report = sim
        .node::<ProbeSink>(receiver)
        .map(ProbeSink::report)
        .expect("the receiver node is a ProbeSink");
    Ok(Outcome {
        forward: sim
            .link_stats(forward)
            .cloned()
            .expect("the forward link exists"),
        elapsed: sim.elapsed(),
        scenario,
        seed: args.seed,
        duration: args.duration,
        wall: Duration::ZERO,
        flow: FlowOutcome::Probe {
            rate,
            packet_size: args.packet_size,
            sent,
            report,
        },
    })
}

/// A weir client (with `sender`) and server (with `receiver`) joined by the scenario's path.
fn connection<S: App, R: App>(
    scenario: &Scenario,
    args: &SimArgs,
    epoch: Instant,
    sender: S,
    receiver: R,
) -> Result<
    (
        Simulator,
        weir_core::sim::NodeId,
        weir_core::sim::NodeId,
        weir_core::sim::LinkId,
    ),
    CliError,
> {
    let (client_addr, server_addr) = addresses();
    let transport = transport(args);
    let server = Endpoint::new(
        epoch,
        EndpointConfig {
            seed: Seed::Fixed(args.seed.wrapping_add(1)),
            ..EndpointConfig::default()
        },
        Some(ServerConfig {
            transport: transport.clone(),
            ..ServerConfig::default()
        }),
    )?;
    let mut client = Endpoint::new(
        epoch,
        EndpointConfig {
            seed: Seed::Fixed(args.seed.wrapping_add(2)),
            ..EndpointConfig::default()
        },
        None,
    )?;
    client.set_client_config(transport)?;
    client.connect(epoch, server_addr)?;
    let mut sim = Simulator::new(args.seed, epoch);
    let c = sim.add_node(client_addr, EndpointNode::new(client, sender))?;
    let s = sim.add_node(server_addr, EndpointNode::new(server, receiver))?;
    let (forward, _) = scenario.install(&mut sim, c, s)?;
    Ok((sim, c, s, forward))
}

fn bulk(scenario: Scenario, args: &SimArgs, epoch: Instant) -> Result<Outcome, CliError> {
    let amount = args
        .bytes
        .map_or(BulkAmount::For(args.duration), BulkAmount::Bytes);
    // A sized transfer runs until it completes (bounded); a timed one for its duration plus a
    // little to drain.
    let limit = match amount {
        BulkAmount::Bytes(_) => args.duration.max(Duration::from_secs(3600)),
        BulkAmount::For(d) => d + Duration::from_secs(5),
    };
    let spec = BulkSpec {
        transport: transport(args),
        start: Duration::ZERO,
        amount,
        sample_every: args.plot.as_ref().map(|_| Duration::from_millis(10)),
    };
    let runs = run_bulk(epoch, &scenario, args.seed, &[spec], limit)?;
    let run = runs
        .flows
        .into_iter()
        .next()
        .unwrap_or_else(|| unreachable!("one flow"));
    if let Some(path) = &args.plot {
        let title = format!("{}: {}", args.controller, scenario.description);
        std::fs::write(path, crate::matrix::run_chart(&title, &run.samples)).map_err(|e| {
            CliError::Io {
                path: path.clone(),
                source: e,
            }
        })?;
    }
    let flow = FlowOutcome::Bulk {
        written: run.written,
        received: run.received,
        connected: run.connected_at,
        completed: run.completed_at,
        receive_span: match (run.first_byte, run.last_byte) {
            (Some(a), Some(b)) => Some(b - a),
            _ => None,
        },
        stats: run.stats,
    };
    Ok(Outcome {
        forward: runs.forward,
        elapsed: runs.elapsed,
        scenario,
        seed: args.seed,
        duration: args.duration,
        wall: Duration::ZERO,
        flow,
    })
}

/// The transport configuration the command line asks for.
pub fn transport(args: &SimArgs) -> TransportConfig {
    TransportConfig {
        congestion: crate::controller_config(args.controller, args.low_latency),
        ..TransportConfig::default()
    }
}

fn game(scenario: Scenario, args: &SimArgs, epoch: Instant) -> Result<Outcome, CliError> {
    let transport = if args.reliable {
        GameTransport::Stream { priority: 10 }
    } else {
        GameTransport::Datagrams { ttl: args.ttl }
    };
    let sender = GameSender::new(
        epoch,
        args.tick_rate,
        args.message_size,
        transport,
        args.duration,
    );
    let receiver = GameReceiver::new(epoch, args.message_size);
    let (mut sim, c, s, forward) = connection(&scenario, args, epoch, sender, receiver)?;
    sim.run_until(args.duration + Duration::from_secs(5))?;
    let stats = {
        let node = sim
            .node_mut::<EndpointNode<GameSender>>(c)
            .expect("sender node");
        let handle = node.app.handle();
        handle
            .and_then(|h| node.endpoint.connection(h))
            .map(|conn| conn.stats())
    };
    let tx = &sim
        .node::<EndpointNode<GameSender>>(c)
        .expect("sender node")
        .app;
    let receiver_node = sim
        .node::<EndpointNode<GameReceiver>>(s)
        .expect("receiver node");
    let receiver_expired = receiver_node
        .endpoint
        .connection_handles()
        .filter_map(|h| receiver_node.endpoint.connection_ref(h))
        .map(|conn| conn.stats().datagrams.expired)
        .sum();
    let rx = &receiver_node.app;
    let sender_expired = stats.as_ref().map_or(0, |s| s.datagrams.expired);
    let flow = FlowOutcome::Game {
        tick_rate: args.tick_rate,
        message_size: args.message_size,
        reliable: args.reliable,
        sent: tx.sent,
        received: rx.received,
        expired: (sender_expired, receiver_expired),
        delays: [
            rx.delay_quantile(0.0),
            rx.delay_quantile(0.5),
            rx.delay_quantile(0.95),
            rx.delay_quantile(0.99),
            rx.max_delay,
        ],
        stats,
    };
    Ok(Outcome {
        forward: sim.link_stats(forward).cloned().expect("forward link"),
        elapsed: sim.elapsed(),
        scenario,
        seed: args.seed,
        duration: args.duration,
        wall: Duration::ZERO,
        flow,
    })
}
