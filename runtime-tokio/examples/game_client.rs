//! A game client: receives the server's 60 Hz state updates, plays them out through a jitter
//! buffer (at the pace of the server's ticks, in order, a little behind), sends an input per
//! update, and prints what it played, what came too late and how long an update waited.
//!
//! `cargo run -p weir-tokio --example game_client -- 127.0.0.1:4433 PIN 10` (PIN: the fingerprint
//! the server printed)

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use weir_tokio::weir_core::crypto::{ClientTls, Fingerprint};
use weir_tokio::{Config, DeliveryMode, Endpoint, JitterBuffer, JitterConfig, LaneConfig, VarInt};

const STATE_LANE: u64 = 0;
const INPUT_LANE: u64 = 1;
/// The server's tick: an update's tick number times this is its send time.
const TICK: Duration = Duration::from_micros(16_667);

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let server: SocketAddr = args
        .next()
        .unwrap_or_else(|| "127.0.0.1:4433".to_owned())
        .parse()?;
    let pin: Fingerprint = args.next().ok_or("the server's pin is missing")?.parse()?;
    let seconds: u64 = args.next().map_or(Ok(10), |s| s.parse())?;
    let local: SocketAddr = if server.is_ipv6() {
        "[::]:0".parse()?
    } else {
        "0.0.0.0:0".parse()?
    };
    let endpoint = Endpoint::bind(local, Config::client(ClientTls::pinned(vec![pin])?)).await?;
    let conn = endpoint.connect(server).await?;
    println!("connected to {server}");
    // Receiving follows the server's mode; these settings are for what this end sends.
    let state = conn.lane(STATE_LANE, LaneConfig::new(DeliveryMode::Unreliable))?;
    let inputs = conn.lane(INPUT_LANE, LaneConfig::new(DeliveryMode::ReliableUnordered))?;
    let mut buffer = JitterBuffer::new(JitterConfig::default())?;
    let end = Instant::now() + Duration::from_secs(seconds);
    let (mut played, mut skipped, mut last) = (0u64, 0u64, None::<u64>);
    loop {
        // Sleep until an update arrives, the buffer has one due, or the end.
        let due = buffer.poll_timeout().unwrap_or(end).min(end);
        tokio::select! {
            update = state.recv() => {
                let Ok(update) = update else { break };
                let frame = update
                    .data
                    .get(..8)
                    .and_then(|b| b.try_into().ok())
                    .map(u64::from_be_bytes)
                    .unwrap_or_default();
                let sent = TICK * u32::try_from(frame).unwrap_or(u32::MAX);
                let _ = buffer.push(Instant::now(), frame, sent, update.data);
                inputs.send(Bytes::from_static(b"move:+1,0")).await?;
            }
            () = tokio::time::sleep_until(due.into()) => {
                if Instant::now() >= end {
                    break;
                }
            }
        }
        // Play out whatever is due (a real game applies or interpolates the state here).
        while let Some(update) = buffer.pop(Instant::now()) {
            played += 1;
            if let Some(last) = last {
                skipped += update.sequence.saturating_sub(last + 1);
            }
            last = Some(update.sequence);
        }
    }
    let jitter = buffer.stats();
    println!(
        "{played} updates played in {seconds} s, {skipped} skipped, {} late, playout delay {:?}; \
         srtt {:?}",
        jitter.late,
        jitter.playout_delay,
        conn.stats().map(|s| s.srtt)
    );
    if let Some(lanes) = conn.lane_stats() {
        println!(
            "lost updates rebuilt by FEC: {}, repairs dropped: {}",
            lanes.fec_recovered, lanes.fec_dropped
        );
    }
    conn.close(VarInt::ZERO, b"bye");
    endpoint
        .shutdown(VarInt::ZERO, b"bye", Duration::from_secs(1))
        .await;
    Ok(())
}
