//! `weir`: the weir command-line tool.
//!
//! `weir sim` runs a link scenario in the deterministic simulator and prints what the link did.
#![forbid(unsafe_code)]

mod report;
mod scenario;
mod sim_cmd;
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

#[derive(Debug, Subcommand)]
enum Command {
    /// Simulate a network path (deterministic, virtual time) and report what it did to a
    /// constant-bit-rate probe flow.
    Sim(sim_cmd::SimArgs),
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Sim(args) => sim_cmd::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
