//! `weir proxy`: a userspace UDP impairment proxy with `weir sim`'s link model, in real time.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;
use weir_tokio::proxy::{Proxy, ProxyConfig};

use crate::CliError;
use crate::perf::{LiveError, runtime};
use crate::scenario::{PathArgs, fmt_duration};
use crate::units::parse_duration;

/// Arguments of `weir proxy`.
#[derive(Debug, Args)]
pub struct ProxyArgs {
    /// Address clients send to.
    #[arg(long, value_name = "ADDR")]
    pub listen: SocketAddr,
    /// Where their traffic goes.
    #[arg(long, value_name = "ADDR")]
    pub upstream: SocketAddr,
    /// The path between each client and the upstream (forward = upstream → client).
    #[command(flatten)]
    pub path: PathArgs,
    /// Seed of the link model's random decisions.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Most clients served at once.
    #[arg(long, default_value_t = 256)]
    pub max_clients: usize,
    /// Silence after which a client's place can go to a new client (e.g. 60s).
    #[arg(long, default_value = "60s", value_parser = parse_duration, value_name = "TIME")]
    pub client_idle: Duration,
}

pub fn run(args: &ProxyArgs) -> Result<(), CliError> {
    let scenario = args.path.scenario()?;
    println!(
        "weir proxy: {} -> {} over: {}",
        args.listen, args.upstream, scenario.description
    );
    let config = ProxyConfig {
        seed: args.seed,
        max_clients: args.max_clients,
        client_idle_timeout: args.client_idle,
        ..ProxyConfig::new(args.listen, args.upstream, scenario)
    };
    let runtime = runtime().map_err(LiveError::from)?;
    let report = runtime.block_on(async move {
        let proxy = Proxy::bind(config).await?;
        println!("listening on {}; Ctrl-C stops", proxy.local_addr()?);
        proxy
            .run_until(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
    });
    let report = report.map_err(LiveError::from)?;
    println!(
        "{} clients ({} in a silent client's place); {} datagrams from clients, {} from upstream, {} forwarded, {} send failures, {} refused",
        report.clients,
        report.expired,
        report.from_clients,
        report.from_upstream,
        report.forwarded,
        report.send_failures,
        report.refused
    );
    for (name, links) in [
        ("towards clients", &report.forward),
        ("towards upstream", &report.reverse),
    ] {
        let offered: u64 = links.iter().map(|l| l.offered.packets).sum();
        let dropped: u64 = links.iter().map(|l| l.dropped.total().packets).sum();
        let delay = links
            .iter()
            .map(|l| l.max_queue_delay())
            .max()
            .unwrap_or_default();
        println!(
            "{name}: {offered} datagrams offered, {dropped} dropped, max queueing delay {}",
            fmt_duration(delay)
        );
    }
    Ok(())
}
