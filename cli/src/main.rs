//! `weir`: the weir command-line tool.
//!
//! `weir sim` runs a link scenario in the deterministic simulator and prints what the link did.
#![forbid(unsafe_code)]

mod adapt_args;
mod compare;
mod estimates;
mod matrix;
mod perf;
mod proxy;
mod rendezvous;
mod report;
mod scenario;
mod sim_cmd;
mod svg;
mod units;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// weir — a transport for latency-sensitive applications.
#[derive(Debug, Parser)]
#[command(name = "weir", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once per process: the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum Command {
    /// Simulate a network path (deterministic, virtual time) and report what it did to a
    /// constant-bit-rate probe flow.
    Sim(sim_cmd::SimArgs),
    /// Measure throughput or game-tick round trips over real sockets (weir-tokio).
    Perf(perf::PerfArgs),
    /// Forward UDP between clients and an upstream through the simulator's link model, in
    /// real time: real programs on a bad network, on one machine.
    Proxy(proxy::ProxyArgs),
    /// Serve peer-to-peer rendezvous: introduce two players behind NATs to each other for UDP
    /// hole punching, and relay their traffic (bounded per pair) when punching fails.
    Rendezvous(rendezvous::RendezvousArgs),
}

/// A failure of a command, reported on standard error with a non-zero exit status.
#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error(transparent)]
    Scenario(#[from] scenario::ScenarioError),
    #[error("simulation failed: {0}")]
    Sim(#[from] weir_core::sim::SimError),
    #[error("invalid probe flow: {0}")]
    Probe(#[from] weir_core::sim::ProbeError),
    #[error("invalid configuration: {0}")]
    Config(#[from] weir_core::config::ConfigError),
    #[error("cannot connect: {0}")]
    Connect(#[from] weir_core::endpoint::ConnectError),
    #[error(transparent)]
    Live(#[from] perf::LiveError),
    #[error("simulation run failed: {0}")]
    Run(#[from] weir_core::sim::runs::RunError),
    #[error("peer baseline failed: {0}")]
    Peer(#[from] weir_peers::PeerError),
    #[error(
        "loss repair (--redundancy, --fec) works on lanes only, not with --mode {0}: pick a lane mode \
         (reliable-ordered, reliable-unordered, reliable-sequenced, unreliable, \
         unreliable-sequenced)"
    )]
    LaneOnly(&'static str),
    #[error(transparent)]
    Jitter(#[from] weir_core::jitter::JitterConfigError),
    #[error("--low-latency tunes BBR; it does nothing for {0} (add --controller bbr)")]
    LowLatency(weir_core::congestion::ControllerKind),
    #[error("the simulation of {0} panicked")]
    Panicked(String),
    #[error("cannot write {path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

/// The controller configuration `--controller`/`--cc` and `--low-latency` ask for: `kind` with
/// its defaults, and BBR's low-latency setting when asked (the commands refuse the flag for
/// other controllers before they get here).
fn controller_config(
    kind: weir_core::congestion::ControllerKind,
    low_latency: bool,
) -> weir_core::congestion::ControllerConfig {
    let mut config = weir_core::congestion::ControllerConfig::new(kind);
    if low_latency {
        config.bbr = weir_core::congestion::BbrConfig::low_latency();
    }
    config
}

/// Path MTU discovery as `--no-mtu-discovery` and an upper bound ask for: the core's defaults
/// with that bound, or off.
fn mtu_discovery(off: bool, upper_bound: u16) -> Option<weir_core::pmtu::MtuDiscoveryConfig> {
    (!off).then(|| weir_core::pmtu::MtuDiscoveryConfig {
        upper_bound,
        ..Default::default()
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Sim(args) => sim_cmd::run(&args),
        Command::Perf(args) => perf::run(&args).map_err(CliError::from),
        Command::Proxy(args) => proxy::run(&args),
        Command::Rendezvous(args) => rendezvous::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<(), CliError> {
        let cli = Cli::try_parse_from(args).expect("arguments parse");
        match cli.command {
            Command::Sim(args) => sim_cmd::run(&args),
            Command::Perf(args) => perf::run(&args).map_err(CliError::from),
            Command::Proxy(args) => proxy::run(&args),
            Command::Rendezvous(args) => rendezvous::run(&args),
        }
    }

    #[test]
    fn perf_rate_limit_reaches_the_transport() {
        let parse = |extra: &[&str]| {
            let mut argv = vec!["weir", "perf", "client", "--connect", "127.0.0.1:4433"];
            argv.extend_from_slice(extra);
            Cli::try_parse_from(argv).map(|cli| match cli.command {
                Command::Perf(perf::PerfArgs {
                    role: perf::Role::Client(args),
                }) => args.transport.transport().rate_limit,
                _ => panic!("a perf client"),
            })
        };
        assert_eq!(parse(&[]).expect("parses"), None, "off by default");
        assert_eq!(
            parse(&["--rate-limit", "8mbit"]).expect("parses"),
            Some(weir_core::config::RateLimit::new(1_000_000))
        );
        assert!(parse(&["--rate-limit", "0mbit"]).is_err(), "zero refused");
        assert!(parse(&["--rate-limit", "8mbit", "--quic"]).is_err());
    }

    #[test]
    fn low_latency_without_bbr_is_a_clear_error() {
        let sim = run(&[
            "weir",
            "sim",
            "--flow",
            "game",
            "--controller",
            "newreno",
            "--low-latency",
        ]);
        assert!(
            matches!(sim, Err(CliError::LowLatency(k)) if k == weir_core::congestion::ControllerKind::NewReno),
            "{sim:?}"
        );
        let perf = run(&[
            "weir",
            "perf",
            "client",
            "--connect",
            "127.0.0.1:9",
            "--cc",
            "cubic",
            "--low-latency",
        ]);
        let message = perf.expect_err("refused").to_string();
        assert!(message.contains("--cc bbr"), "{message}");
    }
}
