//! A game client: receives the server's 60 Hz state updates, sends an input per update, and
//! prints how many updates arrived and how stale they were.
//!
//! `cargo run -p weir-tokio --example game_client -- 127.0.0.1:4433 10`

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use weir_tokio::{Config, Endpoint, VarInt};

const INPUT_CHANNEL: u64 = 1;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let server: SocketAddr = args
        .next()
        .unwrap_or_else(|| "127.0.0.1:4433".to_owned())
        .parse()?;
    let seconds: u64 = args.next().map_or(Ok(10), |s| s.parse())?;
    let local: SocketAddr = if server.is_ipv6() {
        "[::]:0".parse()?
    } else {
        "0.0.0.0:0".parse()?
    };
    let endpoint = Endpoint::bind(local, Config::client()).await?;
    let conn = endpoint.connect(server).await?;
    println!("connected to {server}");
    let end = Instant::now() + Duration::from_secs(seconds);
    let (mut updates, mut gaps, mut last_frame) = (0u64, 0u64, None::<u64>);
    while let Ok(Ok(update)) = tokio::time::timeout_at(end.into(), conn.read_datagram()).await {
        updates += 1;
        let frame = update
            .data
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_be_bytes)
            .unwrap_or_default();
        if let Some(last) = last_frame {
            gaps += frame.saturating_sub(last + 1);
        }
        last_frame = Some(frame);
        conn.send_datagram_on(INPUT_CHANNEL, Bytes::from_static(b"move:+1,0"), None)?;
    }
    let stats = conn.stats();
    println!(
        "{updates} updates in {seconds} s, {gaps} skipped; srtt {:?}",
        stats.map(|s| s.srtt)
    );
    conn.close(VarInt::ZERO, b"bye");
    endpoint
        .shutdown(VarInt::ZERO, b"bye", Duration::from_secs(1))
        .await;
    Ok(())
}
