//! `weir sim`: run a path scenario with a constant-bit-rate probe flow.

use std::time::{Duration, Instant};

use clap::Args;
use weir_core::sim::presets::PRESETS;
use weir_core::sim::{Bitrate, CbrSource, LinkStats, ProbeReport, ProbeSink, Scenario, Simulator};

use crate::CliError;
use crate::report;
use crate::scenario::PathArgs;
use crate::units::{parse_duration, parse_rate};

/// Arguments of `weir sim`.
#[derive(Debug, Args)]
pub struct SimArgs {
    /// List the named scenarios and exit.
    #[arg(long)]
    pub list_presets: bool,
    #[command(flatten)]
    pub path: PathArgs,
    /// Virtual time the probe flow sends for, e.g. 10s.
    #[arg(long, value_parser = parse_duration, default_value = "10s", value_name = "TIME")]
    pub duration: std::time::Duration,
    /// Seed of every random decision: the same seed gives the same run.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Rate of the probe flow (default: 90% of the forward bottleneck, or 10mbit without one).
    #[arg(long, value_parser = parse_rate, value_name = "RATE")]
    pub probe_rate: Option<Bitrate>,
    /// Size of each probe datagram (UDP payload), in bytes.
    #[arg(long, default_value_t = 1200, value_name = "BYTES")]
    pub packet_size: usize,
}

/// Everything one probe run measured.
pub struct Outcome {
    pub scenario: Scenario,
    pub seed: u64,
    pub duration: Duration,
    pub probe_rate: Bitrate,
    pub packet_size: usize,
    pub sent: u64,
    pub probe: ProbeReport,
    pub forward: LinkStats,
    pub elapsed: Duration,
    pub wall: Duration,
}

pub fn run(args: &SimArgs) -> Result<(), CliError> {
    if args.list_presets {
        print!("{}", report::presets(PRESETS));
        return Ok(());
    }
    let scenario = args.path.scenario()?;
    let outcome = simulate(scenario, args)?;
    print!("{}", report::render(&outcome));
    Ok(())
}

fn simulate(scenario: Scenario, args: &SimArgs) -> Result<Outcome, CliError> {
    let wall_start = Instant::now();
    let epoch = wall_start;
    let probe_rate = args.probe_rate.unwrap_or_else(|| {
        scenario
            .forward
            .rate
            .map_or(Bitrate::from_mbps(10), |rate| rate.scaled(0.9))
    });
    let mut sim = Simulator::new(args.seed, epoch);
    let sender_addr = "10.0.0.1:4433".parse().expect("literal address");
    let receiver_addr = "10.0.0.2:4433".parse().expect("literal address");
    let source = CbrSource::new(
        receiver_addr,
        probe_rate,
        args.packet_size,
        epoch,
        args.duration,
    )?;
    let total = source.total();
    let sender = sim.add_node(sender_addr, source)?;
    let receiver = sim.add_node(receiver_addr, ProbeSink::new(epoch))?;
    let (forward, _) = scenario.install(&mut sim, sender, receiver)?;
    sim.run_until(args.duration)?;
    // Let the queues drain and the last datagrams land (schedules may go on far longer).
    while sim.packets_in_flight() > 0 && sim.step()? {}
    let probe = sim
        .node::<ProbeSink>(receiver)
        .map(ProbeSink::report)
        .expect("the receiver node is a ProbeSink");
    let forward = sim
        .link_stats(forward)
        .cloned()
        .expect("the forward link exists");
    Ok(Outcome {
        scenario,
        seed: args.seed,
        duration: args.duration,
        probe_rate,
        packet_size: args.packet_size,
        sent: total,
        probe,
        forward,
        elapsed: sim.elapsed(),
        wall: wall_start.elapsed(),
    })
}
