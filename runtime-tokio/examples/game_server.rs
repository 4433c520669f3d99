//! A game server: broadcasts the world state to every connected player 60 times a second as
//! unreliable messages (a lost update is replaced by the next one, never retransmitted), and
//! reads each player's inputs the same way.
//!
//! `cargo run -p weir-tokio --example game_server -- 127.0.0.1:4433`

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use weir_tokio::{Config, Connection, Endpoint};

/// World-state channel; inputs come back on channel 1.
const STATE_CHANNEL: u64 = 0;
const TICK: Duration = Duration::from_micros(16_667);

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:4433".to_owned())
        .parse()?;
    let endpoint = Endpoint::bind(addr, Config::server()).await?;
    println!("game server on {}", endpoint.local_addr());
    let players: Arc<Mutex<Vec<Connection>>> = Arc::default();

    // Accept players.
    {
        let players = players.clone();
        let endpoint = endpoint.clone();
        tokio::spawn(async move {
            while let Some(conn) = endpoint.accept().await {
                println!("player {} joined", conn.remote_address());
                tokio::spawn(read_inputs(conn.clone()));
                players.lock().expect("players").push(conn);
            }
        });
    }

    // The game loop: one state update per tick to everyone.
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    for frame in 0u64.. {
        tick.tick().await;
        let connected: Vec<Connection> = players.lock().expect("players").clone();
        let mut state = BytesMut::with_capacity(64);
        state.put_u64(frame);
        state.put_u32(connected.len() as u32);
        state.resize(64, 0);
        let state = state.freeze();
        let mut alive = Vec::with_capacity(connected.len());
        for conn in connected {
            // Stale after two ticks: better dropped than late.
            match conn.send_datagram_on(STATE_CHANNEL, state.clone(), Some(TICK * 2)) {
                Ok(()) => alive.push(conn),
                Err(e) => println!("player {} left: {e}", conn.remote_address()),
            }
        }
        *players.lock().expect("players") = alive;
    }
    Ok(())
}

async fn read_inputs(conn: Connection) {
    while let Ok(input) = conn.read_datagram().await {
        if input.sequence % 300 == 0 {
            println!(
                "{}: input #{} ({} bytes)",
                conn.remote_address(),
                input.sequence,
                input.data.len()
            );
        }
    }
}
