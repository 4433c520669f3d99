//! `weir sim`: run a path scenario with a probe flow or a real weir connection on it.

use std::time::{Duration, Instant};

use crate::adapt_args::AdaptPolicy;
use clap::{Args, ValueEnum};
use weir_core::adapt::StrategyChange;
use weir_core::config::TransportConfig;
use weir_core::congestion::ControllerKind;
use weir_core::connection::ConnectionStats;
use weir_core::jitter::JitterConfig;
use weir_core::lanes::{Compression, DeliveryMode, FecLevel, LaneConfig, MAX_REDUNDANCY};
use weir_core::sim::flows::BulkAmount;
use weir_core::sim::game::{GameRun, GameSpec, GameTransport, run_game};
use weir_core::sim::presets::PRESETS;
use weir_core::sim::runs::{BulkSpec, run_bulk};
use weir_core::sim::schedules::SCHEDULES;
use weir_core::sim::{Bitrate, CbrSource, LinkStats, ProbeReport, ProbeSink, Scenario, Simulator};

use crate::CliError;
use crate::report;
use crate::scenario::PathArgs;
use crate::units::{parse_bytes, parse_duration, parse_probability, parse_rate};

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

/// How the game flow carries its messages: a lane in one of its delivery modes, or the
/// connection's unreliable datagrams or a reliable stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GameMode {
    /// A lane: every message, in the order sent (a loss holds back the ones after it).
    ReliableOrdered,
    /// A lane: every message, as soon as it is complete.
    ReliableUnordered,
    /// A lane: retransmitted until superseded by a newer message; none after a newer one.
    ReliableSequenced,
    /// A lane: at most once, in any order, never retransmitted.
    Unreliable,
    /// A lane: at most once, never after a newer one.
    UnreliableSequenced,
    /// Unreliable datagrams, dropped after --ttl (or --deadline).
    Datagram,
    /// One reliable stream at priority 10.
    Stream,
}

impl GameMode {
    /// The lane's delivery mode; `None` for datagrams and the stream.
    pub fn delivery(self) -> Option<DeliveryMode> {
        match self {
            Self::ReliableOrdered => Some(DeliveryMode::ReliableOrdered),
            Self::ReliableUnordered => Some(DeliveryMode::ReliableUnordered),
            Self::ReliableSequenced => Some(DeliveryMode::ReliableSequenced),
            Self::Unreliable => Some(DeliveryMode::Unreliable),
            Self::UnreliableSequenced => Some(DeliveryMode::UnreliableSequenced),
            Self::Datagram | Self::Stream => None,
        }
    }

    /// The name `--mode` takes.
    pub fn name(self) -> &'static str {
        match self {
            Self::Datagram => "datagram",
            Self::Stream => "stream",
            lane => lane.delivery().map_or("", DeliveryMode::name),
        }
    }
}

/// Arguments of `weir sim`.
#[derive(Debug, Args)]
pub struct SimArgs {
    /// List the named scenarios (presets and schedules) and exit.
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
    /// Game flow: how messages travel — on a lane in one of its delivery modes
    /// (reliable-ordered … unreliable-sequenced), as unreliable datagrams, or on one reliable
    /// stream.
    #[arg(long, value_enum, default_value = "datagram", value_name = "MODE")]
    pub mode: GameMode,
    /// Game flow: the same as `--mode stream`.
    #[arg(long, conflicts_with = "mode")]
    pub reliable: bool,
    /// Game flow on a lane: carry each message again, whole, in up to N later packets, so that
    /// a lost packet is repaired without a round trip (0 to 4; the copies cost bandwidth).
    #[arg(long, default_value_t = 0, value_name = "N",
          value_parser = clap::value_parser!(u8).range(0..=i64::from(MAX_REDUNDANCY)))]
    pub redundancy: u8,
    /// Game flow on a lane: forward error correction, Reed–Solomon repairs over groups of the
    /// lane's packets — none, low (8 + 1), medium (4 + 1) or high (4 + 2); a group also closes
    /// when its repairs would come too late, so at low message rates it costs more than that.
    #[arg(long, default_value = "none", value_name = "LEVEL")]
    pub fec: FecLevel,
    /// Game flow on a lane: compress every message — none, lz4, zstd (level 3) or zstd-N (1 to
    /// 22) — sent as it is when that does not shrink it (the game's messages are pseudo-random
    /// after their header, as a real game's bit-packed state: expect them not to). Without it
    /// the lane follows the strategy (weir's policy turns zstd-3 on below 1 Mbit/s).
    #[arg(long, value_name = "CODEC")]
    pub compression: Option<Compression>,
    /// Game flow: how long after its send time a message is worth delivering. A lane gives each
    /// message up at it; datagrams use it instead of --ttl; a stream delivers everything. The
    /// report counts the messages that arrived within it as on time.
    #[arg(long, value_parser = parse_duration, value_name = "TIME")]
    pub deadline: Option<Duration>,
    /// Game flow with `--mode datagram`: how long a message stays worth delivering (unless
    /// --deadline is given); an older one is dropped by the sender, or by the receiver, which
    /// counts half the minimum RTT as transit. On a path whose one-way delay exceeds it,
    /// nothing arrives.
    #[arg(long, value_parser = parse_duration, default_value = "500ms", value_name = "TIME")]
    pub ttl: Duration,
    /// Game flow: the receiver plays the messages out through a jitter buffer
    /// (`weir_core::jitter`), at the pace they were sent, and the report shows what a player
    /// sees: messages played and dropped as late, the playout delay, the age at playout and
    /// how evenly the messages play compared with how they arrive.
    #[arg(long)]
    pub jitter_buffer: bool,
    /// With --jitter-buffer: the share of messages that should arrive in time, e.g. 99% or 0.9
    /// (the playout delay covers this quantile of the measured jitter; default: the buffer's,
    /// 95%).
    #[arg(long, value_parser = parse_probability, value_name = "PROB", requires = "jitter_buffer")]
    pub jitter_percentile: Option<f64>,
    /// With --jitter-buffer: the smallest playout delay above the fastest transit, e.g. 1ms or
    /// one tick (default: the buffer's, 0). At 0 a message that arrives a microsecond after
    /// its playout time is late.
    #[arg(long, value_parser = parse_duration, value_name = "TIME", requires = "jitter_buffer")]
    pub jitter_min_delay: Option<Duration>,
    /// Congestion controller of weir connections: newreno, cubic, bbr, vegas. Without it the
    /// connection starts with the core's default, BBR, and the strategy policy may switch;
    /// naming one pins it.
    #[arg(long, value_name = "NAME")]
    pub controller: Option<ControllerKind>,
    /// Run a 60 Hz game flow beside a bulk download on one connection, once per strategy
    /// (weir's adaptive default, the seed's tiers adapting, each tier fixed, no adaptation)
    /// and once over quinn, and print them side by side; over a schedule the run lasts until
    /// 30 s after its last change (or --duration, if longer).
    #[arg(long)]
    pub compare: bool,
    /// The strategy policy that adapts weir connections to the path while they run: weir (the
    /// default), seed-tiers, or off.
    #[arg(long, value_enum, default_value_t = AdaptPolicy::default(), value_name = "POLICY")]
    pub adapt: AdaptPolicy,
    /// With `--controller bbr`: short, gentle bandwidth probes and a Startup that ends at the
    /// first standing queue, which keep the queue low for a game flow, at some cost in
    /// fairness to other flows (`BbrConfig::low_latency`).
    #[arg(long)]
    pub low_latency: bool,
    /// Keep weir's datagrams at 1200 bytes: no path MTU discovery (by default it probes up
    /// to 1452 bytes after the handshake; `--mtu` sets the simulated links' MTU).
    #[arg(long)]
    pub no_mtu_discovery: bool,
    /// Bulk flow: protect weir's packets with TLS 1.3 (AES-128-GCM, 16-byte tags, as the
    /// runtimes do) instead of the simulator's integrity-only tag (4 bytes). The matrix always
    /// does, so that it compares like with like against quinn.
    #[arg(long)]
    pub tls: bool,
    /// Bulk flow: write an SVG chart of the sender's window, pacing rate and RTT to this file.
    /// With --compare: an SVG over time of the adaptive default against no adaptation
    /// (quality score, strategy changes, the game's messages on time, the download, the window
    /// and the RTT).
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
        stats: Option<Box<ConnectionStats>>,
        strategy_changes: Vec<(Duration, StrategyChange)>,
    },
    Game {
        tick_rate: u32,
        message_size: usize,
        mode: GameMode,
        transport: GameTransport,
        /// What counts as on time, if anything.
        deadline: Option<Duration>,
        run: Box<GameRun>,
    },
}

pub fn run(args: &SimArgs) -> Result<(), CliError> {
    if args.list_presets {
        print!("{}", report::presets(PRESETS));
        // report.rs titles its column "preset": say what the second table holds.
        println!("\nSchedules (--schedule NAME, or a schedule file):");
        print!("{}", report::presets(SCHEDULES));
        return Ok(());
    }
    if args.matrix.matrix {
        print!(
            "{}",
            crate::matrix::run(&args.matrix, args.duration, args.seed)?
        );
        return Ok(());
    }
    if args.compare {
        let scenario = args.path.scenario()?;
        let runs = crate::compare::run(&scenario, args.duration, args.seed)?;
        print!("{}", crate::compare::render(&scenario, &runs));
        if let Some(path) = &args.plot {
            std::fs::write(path, crate::compare::chart(&scenario, &runs)).map_err(|e| {
                CliError::Io {
                    path: path.clone(),
                    source: e,
                }
            })?;
        }
        return Ok(());
    }
    let outcome = simulate(args)?;
    print!("{}", report::render(&outcome));
    Ok(())
}

/// Runs the flow the arguments ask for over their path.
pub fn simulate(args: &SimArgs) -> Result<Outcome, CliError> {
    if args.low_latency && args.controller_kind() != ControllerKind::Bbr {
        return Err(CliError::LowLatency(args.controller_kind()));
    }
    let scenario = args.path.scenario()?;
    let wall = Instant::now();
    let mut outcome = match args.flow {
        Flow::Probe => probe(scenario, args, wall)?,
        Flow::Bulk => bulk(scenario, args, wall)?,
        Flow::Game => game(scenario, args, wall)?,
    };
    outcome.wall = wall.elapsed();
    Ok(outcome)
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
        tls: args.tls,
    };
    let runs = run_bulk(epoch, &scenario, args.seed, &[spec], limit)?;
    let run = runs
        .flows
        .into_iter()
        .next()
        .unwrap_or_else(|| unreachable!("one flow"));
    if let Some(path) = &args.plot {
        let title = format!("{}: {}", args.controller_kind(), scenario.description);
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
        stats: run.stats.map(Box::new),
        strategy_changes: run.strategy_changes,
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
        congestion: crate::controller_config(args.controller_kind(), args.low_latency),
        adapt: args.adapt.config(args.controller),
        mtu_discovery: crate::mtu_discovery(
            args.no_mtu_discovery,
            weir_core::pmtu::MtuDiscoveryConfig::default().upper_bound,
        ),
        ..TransportConfig::default()
    }
}

impl SimArgs {
    /// The controller weir connections start with.
    pub fn controller_kind(&self) -> ControllerKind {
        self.controller.unwrap_or_default()
    }
}

/// The game flow's transport as the command line asks for it.
pub fn game_transport(args: &SimArgs) -> Result<(GameMode, GameTransport), CliError> {
    let mode = if args.reliable {
        GameMode::Stream
    } else {
        args.mode
    };
    let transport = match mode.delivery() {
        Some(delivery) => GameTransport::Lane {
            config: lane_config(delivery, args),
            deadline: args.deadline,
        },
        None if lane_config(DeliveryMode::default(), args) != LaneConfig::default() => {
            return Err(CliError::LaneOnly(mode.name()));
        }
        None if mode == GameMode::Stream => GameTransport::Stream { priority: 10 },
        None => GameTransport::Datagrams {
            ttl: args.deadline.unwrap_or(args.ttl),
        },
    };
    Ok((mode, transport))
}

/// The receiver's jitter buffer, if the command line asks for one: the buffer's defaults but
/// for the percentile and the smallest delay (which raises the initial delay with it).
pub fn jitter_config(args: &SimArgs) -> Result<Option<JitterConfig>, CliError> {
    if !args.jitter_buffer {
        return Ok(None);
    }
    let default = JitterConfig::default();
    let min_delay = args.jitter_min_delay.unwrap_or(default.min_delay);
    let config = JitterConfig {
        percentile: args.jitter_percentile.unwrap_or(default.percentile),
        min_delay,
        initial_delay: default.initial_delay.max(min_delay),
        ..default
    };
    config.validate()?;
    Ok(Some(config))
}

/// The game lane's settings from the command line: its delivery mode, loss repair and
/// compression.
fn lane_config(mode: DeliveryMode, args: &SimArgs) -> LaneConfig {
    let config = LaneConfig::new(mode)
        .with_redundancy(args.redundancy)
        .with_fec(args.fec);
    match args.compression {
        Some(c) => config.with_compression(c),
        None => config,
    }
}

fn game(scenario: Scenario, args: &SimArgs, epoch: Instant) -> Result<Outcome, CliError> {
    let (mode, transport) = game_transport(args)?;
    let spec = GameSpec {
        config: self::transport(args),
        deadline: args.deadline.or(transport.deadline()),
        jitter: jitter_config(args)?,
        ..GameSpec::new(transport, args.tick_rate, args.message_size, args.duration)
    };
    let run = run_game(epoch, &scenario, args.seed, &spec)?;
    Ok(Outcome {
        forward: run.forward.clone(),
        elapsed: run.elapsed,
        scenario,
        seed: args.seed,
        duration: args.duration,
        wall: Duration::ZERO,
        flow: FlowOutcome::Game {
            tick_rate: args.tick_rate,
            message_size: args.message_size,
            mode,
            transport,
            deadline: spec.deadline,
            run: Box::new(run),
        },
    })
}

#[cfg(test)]
#[path = "sim_cmd_tests.rs"]
mod tests;
