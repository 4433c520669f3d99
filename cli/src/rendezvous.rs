//! `weir rendezvous`: the service two players behind NATs meet through — it tells each the
//! other's public address for hole punching, and relays their datagrams (within a rate per
//! pair) when punching fails. See `weir_core::rendezvous`.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;
use weir_core::rendezvous::ServerConfig;
use weir_core::sim::Bitrate;
use weir_tokio::rendezvous::{RendezvousService, RendezvousServiceError};

use crate::CliError;
use crate::perf::{LiveError, runtime};
use crate::units::{parse_duration, parse_rate};

/// Arguments of `weir rendezvous`.
#[derive(Debug, Args)]
pub struct RendezvousArgs {
    /// Address peers register with, e.g. `0.0.0.0:3478`.
    #[arg(long, value_name = "ADDR")]
    pub listen: SocketAddr,
    /// Relayed traffic each pair may use (both directions together), e.g. `256kbit`.
    #[arg(long, default_value = "256kbit", value_parser = parse_rate, value_name = "RATE")]
    pub relay_rate: Bitrate,
    /// Sessions held at most.
    #[arg(long, default_value_t = 10_000)]
    pub max_sessions: usize,
    /// A peer that has not registered again for this long leaves its session.
    #[arg(long, default_value = "30s", value_parser = parse_duration, value_name = "TIME")]
    pub registration_timeout: Duration,
    /// Print the counters this often, e.g. `10s`.
    #[arg(long, value_parser = parse_duration, value_name = "TIME")]
    pub status: Option<Duration>,
}

impl RendezvousArgs {
    fn config(&self) -> ServerConfig {
        let rate = self.relay_rate.bps().div_ceil(8).max(1);
        let defaults = ServerConfig::default();
        ServerConfig {
            max_sessions: self.max_sessions,
            registration_timeout: self.registration_timeout,
            relay_rate: rate,
            // Two seconds of the rate, and at least one datagram.
            relay_burst: (2 * rate).max(defaults.max_relay_payload as u64),
            ..defaults
        }
    }
}

pub fn run(args: &RendezvousArgs) -> Result<(), CliError> {
    let runtime = runtime().map_err(LiveError::from)?;
    let config = args.config();
    let stats = runtime.block_on(async move {
        let service = RendezvousService::bind(args.listen, config).await?;
        println!(
            "weir rendezvous on {} (relay {} per pair, {} sessions at most); Ctrl-C stops",
            service.local_addr()?,
            args.relay_rate,
            args.max_sessions
        );
        service
            .run_until(
                async {
                    let _ = tokio::signal::ctrl_c().await;
                },
                args.status,
                |s| {
                    println!(
                        "sessions {} registrations {} introductions {} relayed {} ({} B) \
                         relay dropped {} refused {} malformed {}",
                        s.sessions,
                        s.registrations,
                        s.introductions,
                        s.relayed,
                        s.relayed_bytes,
                        s.relay_dropped,
                        s.refused_full + s.refused_capacity,
                        s.malformed
                    );
                },
            )
            .await
    });
    let stats = stats.map_err(LiveError::from)?;
    println!(
        "served {} introductions, relayed {} datagrams ({} B)",
        stats.introductions, stats.relayed, stats.relayed_bytes
    );
    Ok(())
}

impl From<RendezvousServiceError> for LiveError {
    fn from(e: RendezvousServiceError) -> Self {
        LiveError::Rendezvous(e)
    }
}
