//! A single-threaded game server loop embedding weir on the application's own `mio::Poll`,
//! with its bots on the same `Poll` (in a real deployment they are players elsewhere).
//!
//! - Each bot sends its position every tick as an unreliable datagram (a stale position is
//!   worth nothing, so it is never retransmitted and carries a time to live).
//! - The server keeps the world (one position per player) and broadcasts a snapshot of it to
//!   every player every tick, also as unreliable datagrams; it welcomes each player with its id
//!   on a reliable lane (lane 1), which must arrive.
//! - One loop serves everything: the tick timer is just one more deadline next to the
//!   endpoints' own, and readiness events are routed by token (server `Token(0)`, bot `i`
//!   `Token(i + 1)`).
//!
//! `cargo run --release -p weir-mio --example mio_game_server [-- BOTS SECONDS]` (default 4 bots,
//! 3 seconds); it ends with a clean shutdown and prints what each player saw.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use mio::{Events, Poll, Token};
use weir_mio::weir_core::crypto::{ClientTls, Identity};
use weir_mio::weir_core::lanes::LaneEvent;
use weir_mio::{Config, ConnectionHandle, Endpoint, Event, VarInt};

/// 30 ticks per second.
const TICK: Duration = Duration::from_micros(33_333);
/// A position older than two ticks is not worth delivering.
const POSITION_TTL: Duration = Duration::from_millis(66);
/// The reliable lane of the welcome message.
const WELCOME_LANE: u64 = 1;

struct Bot {
    endpoint: Endpoint,
    conn: ConnectionHandle,
    connected: bool,
    /// The id the server gave it.
    id: Option<u32>,
    position: (f32, f32),
    snapshots: u64,
    /// Players in the newest snapshot.
    players_seen: usize,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let numbers: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let bots = numbers.first().copied().unwrap_or(4) as usize;
    let seconds = numbers.get(1).copied().unwrap_or(3);

    // TLS 1.3: the server's identity is self-signed here; the bots pin its fingerprint.
    let identity = Identity::self_signed(["localhost"])?;
    let trust = ClientTls::pinned(vec![identity.fingerprint()])?;
    let mut poll = Poll::new()?;
    let mut server = Endpoint::bind("127.0.0.1:0".parse()?, Config::server(&identity)?)?;
    server.register(poll.registry(), Token(0))?;
    let addr = server.local_addr();
    println!("game server on {addr}, {bots} bots, {seconds} s at 30 Hz");

    let mut players: Vec<Bot> = Vec::with_capacity(bots);
    for i in 0..bots {
        let mut endpoint = Endpoint::bind("127.0.0.1:0".parse()?, Config::client(trust.clone()))?;
        endpoint.register(poll.registry(), Token(i + 1))?;
        let conn = endpoint.connect(addr)?;
        players.push(Bot {
            endpoint,
            conn,
            connected: false,
            id: None,
            position: (i as f32, 0.0),
            snapshots: 0,
            players_seen: 0,
        });
    }

    // The server's world: player id by connection, and each player's position.
    let mut ids: HashMap<ConnectionHandle, u32> = HashMap::new();
    let mut world: HashMap<u32, (f32, f32)> = HashMap::new();
    let mut next_id = 0u32;

    let mut events = Events::with_capacity(256);
    let started = Instant::now();
    let end = started + Duration::from_secs(seconds);
    let mut next_tick = started;
    let mut ticks = 0u64;
    let mut shutting_down = false;
    loop {
        // 1. Wait: for readiness, the earliest endpoint deadline, or the next tick.
        let mut deadline = server.deadline();
        for bot in &mut players {
            deadline = [deadline, bot.endpoint.deadline()]
                .into_iter()
                .flatten()
                .min();
        }
        if !shutting_down {
            deadline = Some(deadline.map_or(next_tick, |d| d.min(next_tick)));
        }
        let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        poll.poll(&mut events, timeout)?;

        // 2. Route readiness by token.
        for event in events.iter() {
            if server.handle_event(event) {
                continue;
            }
            if let Some(bot) = event
                .token()
                .0
                .checked_sub(1)
                .and_then(|i| players.get_mut(i))
            {
                bot.endpoint.handle_event(event);
            }
        }

        // 3. Drive every endpoint.
        server.drive();
        for bot in &mut players {
            bot.endpoint.drive();
        }

        // 4. Events. The server: new players, their positions, departures.
        while let Some((handle, event)) = server.poll_event() {
            let now = server.now();
            match event {
                Event::Connected => {
                    let id = next_id;
                    next_id += 1;
                    ids.insert(handle, id);
                    world.insert(id, (0.0, 0.0));
                    if let Some(conn) = server.connection(handle) {
                        let welcome = Bytes::copy_from_slice(&id.to_be_bytes());
                        conn.send_message(now, WELCOME_LANE, welcome, None)?;
                    }
                }
                Event::DatagramReceived => {
                    let Some(&id) = ids.get(&handle) else {
                        continue;
                    };
                    let Some(conn) = server.connection(handle) else {
                        continue;
                    };
                    // Only the newest position matters.
                    while let Some(d) = conn.recv_datagram(now) {
                        if let Some(position) = decode_position(&d.data) {
                            world.insert(id, position);
                        }
                    }
                }
                Event::Closed(reason) => {
                    if let Some(id) = ids.remove(&handle) {
                        world.remove(&id);
                        println!("player {id} left: {reason}");
                    }
                }
                _ => {}
            }
        }
        // The bots: their welcome, the snapshots.
        for bot in &mut players {
            while let Some((handle, event)) = bot.endpoint.poll_event() {
                let now = bot.endpoint.now();
                let Some(conn) = bot.endpoint.connection(handle) else {
                    continue;
                };
                match event {
                    Event::Connected => bot.connected = true,
                    Event::Lane(LaneEvent::Readable { lane }) => {
                        while let Some(m) = conn.recv_message_on(now, lane) {
                            if let Ok(id) = <[u8; 4]>::try_from(&m.data[..]) {
                                bot.id = Some(u32::from_be_bytes(id));
                            }
                        }
                    }
                    Event::DatagramReceived => {
                        while let Some(d) = conn.recv_datagram(now) {
                            bot.snapshots += 1;
                            bot.players_seen = d.data.len() / 12;
                        }
                    }
                    Event::Closed(reason) => println!("bot {:?}: {reason}", bot.id),
                    _ => {}
                }
            }
        }

        // 5. The tick: bots move and report, the server broadcasts the world.
        let now = Instant::now();
        if !shutting_down && now >= next_tick {
            ticks += 1;
            next_tick += TICK;
            if next_tick < now {
                next_tick = now + TICK; // a late tick is skipped, not caught up
            }
            for bot in &mut players {
                if !bot.connected {
                    continue;
                }
                let t = started.elapsed().as_secs_f32();
                bot.position = (
                    bot.position.0 + t.cos() * 0.1,
                    bot.position.1 + t.sin() * 0.1,
                );
                let now = bot.endpoint.now();
                if let Some(conn) = bot.endpoint.connection(bot.conn) {
                    let _ = conn.send_datagram(
                        now,
                        0,
                        encode_position(bot.position),
                        Some(POSITION_TTL),
                    );
                }
            }
            let snapshot = encode_world(&world);
            let now = server.now();
            for &handle in ids.keys() {
                if let Some(conn) = server.connection(handle) {
                    let _ = conn.send_datagram(now, 0, snapshot.clone(), Some(POSITION_TTL));
                }
            }
        }

        // Shutdown: the server closes every connection and waits until they drained.
        if !shutting_down && now >= end {
            shutting_down = true;
            server.close_all(VarInt::ZERO, b"server shutting down");
        }
        if shutting_down && server.connection_count() == 0 {
            break;
        }
    }

    println!("{ticks} ticks served");
    for bot in &players {
        println!(
            "bot with id {:?}: {} snapshots, {} players in the last one",
            bot.id, bot.snapshots, bot.players_seen
        );
    }
    Ok(())
}

fn encode_position((x, y): (f32, f32)) -> Bytes {
    let mut b = BytesMut::with_capacity(8);
    b.put_f32(x);
    b.put_f32(y);
    b.freeze()
}

fn decode_position(data: &[u8]) -> Option<(f32, f32)> {
    let x = f32::from_be_bytes(data.get(0..4)?.try_into().ok()?);
    let y = f32::from_be_bytes(data.get(4..8)?.try_into().ok()?);
    Some((x, y))
}

/// Twelve bytes per player: id, x, y.
fn encode_world(world: &HashMap<u32, (f32, f32)>) -> Bytes {
    let mut b = BytesMut::with_capacity(world.len() * 12);
    for (&id, &(x, y)) in world {
        b.put_u32(id);
        b.put_f32(x);
        b.put_f32(y);
    }
    b.freeze()
}
