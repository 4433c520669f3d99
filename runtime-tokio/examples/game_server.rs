//! A game server: sends the world state to every connected player 60 times a second on an
//! unreliable lane with forward error correction (a lost update is rebuilt from the parity
//! that follows it, or replaced by the next one; it is never sent again), and reads each
//! player's inputs on a reliable-unordered lane (every input arrives exactly once, none waits
//! behind another).
//!
//! `cargo run -p weir-tokio --example game_server -- 127.0.0.1:4433`

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use weir_tokio::weir_core::crypto::Identity;
use weir_tokio::{Config, DeliveryMode, Endpoint, FecLevel, Lane, LaneConfig};

/// World-state lane; inputs come back on lane 1.
const STATE_LANE: u64 = 0;
const INPUT_LANE: u64 = 1;
const TICK: Duration = Duration::from_micros(16_667);

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:4433".to_owned())
        .parse()?;
    // A fresh self-signed identity: clients pin the fingerprint printed below.
    let identity = Identity::self_signed(["localhost"])?;
    let endpoint = Endpoint::bind(addr, Config::server(&identity)?).await?;
    println!("pin: {}", identity.fingerprint());
    println!("game server on {}", endpoint.local_addr());
    let players: Arc<Mutex<Vec<Lane>>> = Arc::default();

    // Accept players.
    {
        let players = players.clone();
        let endpoint = endpoint.clone();
        tokio::spawn(async move {
            while let Some(conn) = endpoint.accept().await {
                println!("player {} joined", conn.remote_address());
                let state = conn.lane(
                    STATE_LANE,
                    LaneConfig::new(DeliveryMode::Unreliable).with_fec(FecLevel::Medium),
                );
                let inputs =
                    conn.lane(INPUT_LANE, LaneConfig::new(DeliveryMode::ReliableUnordered));
                match (state, inputs) {
                    (Ok(state), Ok(inputs)) => {
                        tokio::spawn(read_inputs(inputs));
                        players.lock().expect("players").push(state);
                    }
                    (Err(e), _) | (_, Err(e)) => {
                        println!("player {} refused: {e}", conn.remote_address())
                    }
                }
            }
        });
    }

    // The game loop: one state update per tick to everyone, its tick inside (the players'
    // jitter buffers play the updates out at the pace of the ticks).
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    for frame in 0u64.. {
        tick.tick().await;
        let connected: Vec<Lane> = players.lock().expect("players").clone();
        let mut state = BytesMut::with_capacity(64);
        state.put_u64(frame);
        state.put_u32(connected.len() as u32);
        state.resize(64, 0);
        let state = state.freeze();
        let mut alive = Vec::with_capacity(connected.len());
        for lane in connected {
            // Stale after two ticks: better dropped than late.
            match lane.send_with_deadline(state.clone(), TICK * 2).await {
                Ok(_) => alive.push(lane),
                Err(e) => println!("a player left: {e}"),
            }
        }
        *players.lock().expect("players") = alive;
    }
    Ok(())
}

async fn read_inputs(inputs: Lane) {
    while let Ok(input) = inputs.recv().await {
        if input.sequence % 300 == 0 {
            println!("input #{} ({} bytes)", input.sequence, input.data.len());
        }
    }
}
