//! The rendezvous service and a peer's client, fed datagrams from strangers, forged and
//! truncated messages, and time (see [`crate::rendezvous`]).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::rendezvous::message::{Message, RefusedReason};
use crate::rendezvous::{
    ClientConfig, Handled, RendezvousClient, RendezvousServer, ServerConfig, SessionId,
};

/// The sessions an input picks from: the client's, and a stranger's.
const SESSIONS: [SessionId; 2] = [SessionId([7; 16]), SessionId([9; 16])];
const MAX_SESSIONS: usize = 4;
const RELAY_RATE: u64 = 1_000;
const RELAY_BURST: u64 = 2_000;

/// What [`rendezvous_reached`] got to.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RendezvousReached {
    /// Registrations the service accepted.
    pub registrations: u64,
    /// Datagrams it relayed.
    pub relayed: u64,
    /// Datagrams the client handed on as relayed.
    pub client_relayed: u64,
    /// Datagrams the service or the client dropped as malformed or foreign.
    pub dropped: u64,
}

fn addr(index: u8) -> SocketAddr {
    SocketAddr::from(([192, 0, 2, index & 0x07], 5000 + u16::from(index & 0x07)))
}

/// Input: operations, each a byte whose low two bits pick it:
/// - 0: raw bytes to the service — a length byte, then that many bytes, from address
///   `op >> 2 & 7`;
/// - 1: raw bytes to the client, likewise (address 0 is the service);
/// - 2: time passes (`next byte` × 10 ms) and both run their timers;
/// - 3: a well-formed message — a kind byte (1 to 7), a session bit, a length byte for a
///   Relay's payload or a nonce byte — to the service (bit 7 of `op` clear) or the client,
///   from address `op >> 2 & 7`.
///
/// Oracles: no panic; the service never answers a datagram with more bytes than it carried,
/// except relays between members; it holds at most its configured sessions and relays within
/// its rate; the client only hands on relayed datagrams from the service.
pub fn rendezvous(data: &[u8]) {
    rendezvous_reached(data);
}

/// [`rendezvous()`], reporting how far the input got.
pub fn rendezvous_reached(data: &[u8]) -> RendezvousReached {
    let start = super::epoch();
    let mut now = start;
    let config = ServerConfig {
        max_sessions: MAX_SESSIONS,
        relay_rate: RELAY_RATE,
        relay_burst: RELAY_BURST,
        max_relay_payload: 1200,
        ..ServerConfig::default()
    };
    let Ok(mut server) = RendezvousServer::new(config) else {
        return RendezvousReached::default();
    };
    let server_addr = addr(0);
    let mut client =
        RendezvousClient::new(now, server_addr, SESSIONS[0], 42, ClientConfig::default());
    let mut reached = RendezvousReached::default();
    let mut input = data;
    let mut scratch = Vec::new();
    while let Some((&op, rest)) = input.split_first() {
        input = rest;
        let from = addr(op >> 2);
        match op & 0x03 {
            0 | 1 => {
                let Some((&len, rest)) = input.split_first() else {
                    break;
                };
                let len = usize::from(len).min(rest.len());
                let (bytes, rest) = rest.split_at(len);
                input = rest;
                if op & 0x03 == 0 {
                    to_server(&mut server, now, from, bytes);
                } else {
                    to_client(&mut client, now, from, bytes, server_addr, &mut reached);
                }
            }
            2 => {
                let Some((&step, rest)) = input.split_first() else {
                    break;
                };
                input = rest;
                now += Duration::from_millis(u64::from(step) * 10);
                server.handle_timeout(now);
                client.handle_timeout(now);
            }
            _ => {
                let Some((&[kind, bits, len], rest)) = input.split_first_chunk::<3>() else {
                    break;
                };
                let payload_len = usize::from(len).min(rest.len());
                let (payload, rest) = rest.split_at(payload_len);
                input = rest;
                let message = match kind % 7 {
                    0 => Message::Register,
                    1 => Message::Registered { observed: from },
                    2 => Message::Peer {
                        peer: addr(bits >> 1),
                        observed: from,
                    },
                    3 => Message::Punch {
                        nonce: u64::from(len),
                    },
                    4 => Message::PunchAck {
                        nonce: if len == 0 { 42 } else { u64::from(len) },
                    },
                    5 => Message::Relay { payload },
                    _ => Message::Refused {
                        reason: RefusedReason::SessionFull,
                    },
                };
                scratch.clear();
                message.encode(&SESSIONS[usize::from(bits & 1)], &mut scratch);
                if op & 0x80 == 0 {
                    to_server(&mut server, now, from, &scratch);
                } else {
                    to_client(&mut client, now, from, &scratch, server_addr, &mut reached);
                }
            }
        }
        while client.poll_transmit().is_some() {}
        while client.poll_event().is_some() {}
        let stats = server.stats();
        assert!(stats.sessions <= MAX_SESSIONS as u64, "{stats:?}");
        // Every session's bucket starts full and refills at the rate: a session relays at
        // most its burst plus the rate times its age (sessions come and go with expiry).
        let elapsed = now.duration_since(start).as_secs_f64();
        let sessions_ever = MAX_SESSIONS as f64 + stats.expired as f64;
        let most = sessions_ever * RELAY_BURST as f64 + sessions_ever * RELAY_RATE as f64 * elapsed;
        assert!(
            stats.relayed_bytes as f64 <= most + 1.0,
            "{stats:?} after {elapsed} s"
        );
    }
    let stats = server.stats();
    reached.registrations = stats.registrations;
    reached.relayed = stats.relayed;
    reached.dropped += stats.malformed + stats.relay_dropped;
    reached
}

fn to_server(server: &mut RendezvousServer, now: Instant, from: SocketAddr, bytes: &[u8]) {
    let relay = crate::rendezvous::message::decode(bytes)
        .is_ok_and(|(_, m)| matches!(m, Message::Relay { .. }));
    server.handle(now, from, bytes);
    let mut to_sender = 0;
    while let Some((to, datagram)) = server.poll_transmit() {
        assert!(crate::rendezvous::is_rendezvous(&datagram));
        if to == from {
            to_sender += datagram.len();
        }
    }
    if !relay {
        // No amplification: whatever a datagram makes the service say to its sender (the
        // Peer to the other member aside) is at most as long as the datagram.
        assert!(to_sender <= bytes.len(), "{to_sender} > {}", bytes.len());
    }
}

fn to_client(
    client: &mut RendezvousClient,
    now: Instant,
    from: SocketAddr,
    bytes: &[u8],
    server: SocketAddr,
    reached: &mut RendezvousReached,
) {
    match client.handle(now, from, bytes) {
        Handled::Relayed { datagram, .. } => {
            assert_eq!(from, server, "only the service relays");
            assert!(datagram.len() <= bytes.len());
            reached.client_relayed += 1;
        }
        Handled::Dropped => reached.dropped += 1,
        Handled::Consumed => {}
    }
}
