//! The rendezvous service: pairs the two peers of a session, tells each the other's public
//! address, and relays their datagrams when hole punching fails.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::message::{self, Message, RefusedReason, SessionId};

/// The service's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerConfig {
    /// Sessions held at most; registrations for new sessions beyond it are refused.
    pub max_sessions: usize,
    /// A peer that has not registered again for this long leaves its session (peers refresh
    /// their registration, which also keeps their NAT's mapping to the server open).
    pub registration_timeout: Duration,
    /// Relayed bytes per second each session may use (both directions together).
    pub relay_rate: u64,
    /// Relayed bytes a session may send at once above its rate.
    pub relay_burst: u64,
    /// The largest relayed datagram.
    pub max_relay_payload: usize,
    /// Datagrams waiting to be sent at most (the rest are dropped and counted).
    pub max_queued: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_sessions: 10_000,
            registration_timeout: Duration::from_secs(30),
            // 256 kbit/s: a game's traffic with room for bursts, not a file transfer.
            relay_rate: 32_000,
            relay_burst: 64_000,
            // A relayed datagram gains the 21-byte header: 1400 + 21 fits a 1500-byte MTU
            // over IPv6 with room for a tunnel. A peer's path MTU discovery finds the bound.
            max_relay_payload: 1400,
            max_queued: 4096,
        }
    }
}

/// A [`ServerConfig`] the service cannot run with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ServerConfigError {
    /// A limit, rate or timeout of zero.
    #[error("rendezvous {0} must not be zero")]
    Zero(&'static str),
    /// A burst smaller than one relayed datagram: nothing could ever be relayed.
    #[error("relay_burst {burst} is below one datagram of max_relay_payload {payload}")]
    Burst {
        /// The burst.
        burst: u64,
        /// The largest payload.
        payload: usize,
    },
}

impl ServerConfig {
    /// Checks every value.
    pub fn validate(&self) -> Result<(), ServerConfigError> {
        let zero = [
            (self.max_sessions == 0, "max_sessions"),
            (self.registration_timeout.is_zero(), "registration_timeout"),
            (self.relay_rate == 0, "relay_rate"),
            (self.max_relay_payload == 0, "max_relay_payload"),
            (self.max_queued == 0, "max_queued"),
        ];
        if let Some((_, what)) = zero.iter().find(|(is_zero, _)| *is_zero) {
            return Err(ServerConfigError::Zero(what));
        }
        if self.relay_burst < self.max_relay_payload as u64 {
            return Err(ServerConfigError::Burst {
                burst: self.relay_burst,
                payload: self.max_relay_payload,
            });
        }
        Ok(())
    }
}

/// What the service did, including what it refused and dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Sessions now.
    pub sessions: u64,
    /// Registrations accepted (first ones and refreshes).
    pub registrations: u64,
    /// Pairs introduced (a Peer sent to both).
    pub introductions: u64,
    /// Registrations refused: the session was full.
    pub refused_full: u64,
    /// Registrations refused: too many sessions.
    pub refused_capacity: u64,
    /// Datagrams relayed.
    pub relayed: u64,
    /// Relayed bytes.
    pub relayed_bytes: u64,
    /// Relay datagrams dropped: over the session's rate, too large, or not from a peer of a
    /// paired session (a stranger's).
    pub relay_dropped: u64,
    /// Datagrams dropped as malformed, or of a kind a server does not take.
    pub malformed: u64,
    /// Peers that left by timeout.
    pub expired: u64,
    /// Datagrams dropped because the send queue was full.
    pub queue_dropped: u64,
}

#[derive(Debug, Clone, Copy)]
struct Member {
    addr: SocketAddr,
    seen: Instant,
}

#[derive(Debug)]
struct Session {
    members: [Option<Member>; 2],
    /// Relay budget in bytes, refilled at `relay_rate`.
    tokens: f64,
    refilled: Instant,
}

/// The rendezvous service's state machine (sans-IO: datagrams in, datagrams out, time as an
/// argument). Runs on a socket of its own (`weir rendezvous --listen ADDR`).
#[derive(Debug)]
pub struct RendezvousServer {
    config: ServerConfig,
    sessions: HashMap<SessionId, Session>,
    queue: VecDeque<(SocketAddr, Vec<u8>)>,
    stats: ServerStats,
}

impl RendezvousServer {
    /// A service with `config`.
    pub fn new(config: ServerConfig) -> Result<Self, ServerConfigError> {
        config.validate()?;
        Ok(Self {
            config,
            sessions: HashMap::new(),
            queue: VecDeque::new(),
            stats: ServerStats::default(),
        })
    }

    /// What the service did.
    pub fn stats(&self) -> ServerStats {
        ServerStats {
            sessions: self.sessions.len() as u64,
            ..self.stats
        }
    }

    /// A datagram from `from`. Malformed datagrams and strangers' relays are dropped and
    /// counted; nothing is ever answered with more bytes than it carried.
    pub fn handle(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        let Ok((session, message)) = message::decode(datagram) else {
            self.stats.malformed += 1;
            return;
        };
        match message {
            Message::Register => self.register(now, session, from),
            Message::Relay { payload } => self.relay(now, session, from, payload),
            _ => self.stats.malformed += 1,
        }
    }

    fn register(&mut self, now: Instant, id: SessionId, from: SocketAddr) {
        if !self.sessions.contains_key(&id) && self.sessions.len() >= self.config.max_sessions {
            // Expired peers may have freed room.
            self.expire(now);
            if self.sessions.len() >= self.config.max_sessions {
                self.stats.refused_capacity += 1;
                self.send(
                    from,
                    id,
                    &Message::Refused {
                        reason: RefusedReason::TooManySessions,
                    },
                );
                return;
            }
        }
        let timeout = self.config.registration_timeout;
        let burst = self.config.relay_burst as f64;
        let session = self.sessions.entry(id).or_insert_with(|| Session {
            members: [None, None],
            // Full: a pair that just fell back to the relay gets its handshake through at once.
            tokens: burst,
            refilled: now,
        });
        // A member that timed out leaves room; a member registering again from another
        // address (its NAT rebound) is a new member only if there is room.
        for slot in &mut session.members {
            if slot.is_some_and(|m| m.seen + timeout <= now) {
                *slot = None;
                self.stats.expired += 1;
            }
        }
        let existing = session
            .members
            .iter_mut()
            .flatten()
            .find(|m| m.addr == from);
        match existing {
            Some(member) => member.seen = now,
            None => match session.members.iter_mut().find(|m| m.is_none()) {
                Some(slot) => {
                    *slot = Some(Member {
                        addr: from,
                        seen: now,
                    })
                }
                None => {
                    self.stats.refused_full += 1;
                    self.send(
                        from,
                        id,
                        &Message::Refused {
                            reason: RefusedReason::SessionFull,
                        },
                    );
                    return;
                }
            },
        }
        self.stats.registrations += 1;
        let members = session.members;
        match members {
            [Some(a), Some(b)] => {
                let other = if a.addr == from { b.addr } else { a.addr };
                // Both learn of each other at once, so that they punch at the same time.
                self.stats.introductions += 1;
                self.send(
                    from,
                    id,
                    &Message::Peer {
                        peer: other,
                        observed: from,
                    },
                );
                self.send(
                    other,
                    id,
                    &Message::Peer {
                        peer: from,
                        observed: other,
                    },
                );
            }
            _ => self.send(from, id, &Message::Registered { observed: from }),
        }
    }

    fn relay(&mut self, now: Instant, id: SessionId, from: SocketAddr, payload: &[u8]) {
        let (rate, burst) = (self.config.relay_rate, self.config.relay_burst);
        let too_large = payload.len() > self.config.max_relay_payload;
        let Some(session) = self.sessions.get_mut(&id) else {
            self.stats.relay_dropped += 1;
            return;
        };
        let to = match session.members {
            [Some(a), Some(b)] if a.addr == from => b.addr,
            [Some(a), Some(b)] if b.addr == from => a.addr,
            // A stranger, or a session with one peer: nothing to relay to.
            _ => {
                self.stats.relay_dropped += 1;
                return;
            }
        };
        let elapsed = now
            .saturating_duration_since(session.refilled)
            .as_secs_f64();
        session.tokens = (session.tokens + elapsed * rate as f64).min(burst as f64);
        session.refilled = now;
        if too_large || session.tokens < payload.len() as f64 {
            self.stats.relay_dropped += 1;
            return;
        }
        session.tokens -= payload.len() as f64;
        // Relaying keeps the sender's registration alive.
        if let Some(member) = session
            .members
            .iter_mut()
            .flatten()
            .find(|m| m.addr == from)
        {
            member.seen = now;
        }
        self.stats.relayed += 1;
        self.stats.relayed_bytes += payload.len() as u64;
        self.send(to, id, &Message::Relay { payload });
    }

    fn send(&mut self, to: SocketAddr, session: SessionId, message: &Message<'_>) {
        if self.queue.len() >= self.config.max_queued {
            self.stats.queue_dropped += 1;
            return;
        }
        let mut out = Vec::new();
        message.encode(&session, &mut out);
        self.queue.push_back((to, out));
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<(SocketAddr, Vec<u8>)> {
        self.queue.pop_front()
    }

    /// Lets peers that stopped registering leave, and sessions without peers go.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.expire(now);
    }

    /// When [`handle_timeout`](Self::handle_timeout) has work: the earliest registration to
    /// expire.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let timeout = self.config.registration_timeout;
        self.sessions
            .values()
            .flat_map(|s| s.members.iter().flatten())
            .map(|m| m.seen + timeout)
            .min()
    }

    fn expire(&mut self, now: Instant) {
        let timeout = self.config.registration_timeout;
        let mut expired = 0;
        self.sessions.retain(|_, session| {
            for slot in &mut session.members {
                if slot.is_some_and(|m| m.seen + timeout <= now) {
                    *slot = None;
                    expired += 1;
                }
            }
            session.members.iter().any(Option::is_some)
        });
        self.stats.expired += expired;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([198, 51, 100, 7], port))
    }

    fn datagram(session: u8, message: &Message<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        message.encode(&SessionId([session; 16]), &mut out);
        out
    }

    fn drain(server: &mut RendezvousServer) -> Vec<(SocketAddr, Message<'static>)> {
        let mut got = Vec::new();
        while let Some((to, bytes)) = server.poll_transmit() {
            let (_, message) = message::decode(&bytes).expect("well formed");
            let owned = match message {
                Message::Relay { payload } => Message::Relay {
                    payload: Box::leak(payload.to_vec().into_boxed_slice()),
                },
                Message::Registered { observed } => Message::Registered { observed },
                Message::Peer { peer, observed } => Message::Peer { peer, observed },
                Message::Refused { reason } => Message::Refused { reason },
                _ => panic!("a server sends no {message:?}"),
            };
            got.push((to, owned));
        }
        got
    }

    #[test]
    fn two_peers_are_introduced_and_a_third_is_refused() {
        let now = crate::congestion::test_epoch();
        let mut server = RendezvousServer::new(ServerConfig::default()).expect("config");
        server.handle(now, addr(1), &datagram(9, &Message::Register));
        assert_eq!(
            drain(&mut server),
            vec![(addr(1), Message::Registered { observed: addr(1) })]
        );
        server.handle(now, addr(2), &datagram(9, &Message::Register));
        assert_eq!(
            drain(&mut server),
            vec![
                (
                    addr(2),
                    Message::Peer {
                        peer: addr(1),
                        observed: addr(2)
                    }
                ),
                (
                    addr(1),
                    Message::Peer {
                        peer: addr(2),
                        observed: addr(1)
                    }
                ),
            ]
        );
        server.handle(now, addr(3), &datagram(9, &Message::Register));
        assert_eq!(
            drain(&mut server),
            vec![(
                addr(3),
                Message::Refused {
                    reason: RefusedReason::SessionFull
                }
            )]
        );
        assert_eq!(server.stats().introductions, 1);
    }

    #[test]
    fn relays_only_between_members_and_within_the_rate() {
        let now = crate::congestion::test_epoch();
        let config = ServerConfig {
            relay_rate: 10_000,
            relay_burst: 3_000,
            ..ServerConfig::default()
        };
        let mut server = RendezvousServer::new(config).expect("config");
        server.handle(now, addr(1), &datagram(9, &Message::Register));
        server.handle(now, addr(2), &datagram(9, &Message::Register));
        drain(&mut server);
        // A stranger who knows nothing, and one who guessed the session but not an address.
        server.handle(
            now,
            addr(3),
            &datagram(9, &Message::Relay { payload: b"x" }),
        );
        server.handle(
            now,
            addr(3),
            &datagram(8, &Message::Relay { payload: b"x" }),
        );
        assert!(drain(&mut server).is_empty());
        assert_eq!(server.stats().relay_dropped, 2);
        // The bucket starts full (3 kB burst) and refills at 10 kB/s up to the burst.
        let later = now;
        let big = [7u8; 1000];
        for _ in 0..5 {
            server.handle(
                later,
                addr(1),
                &datagram(9, &Message::Relay { payload: &big }),
            );
        }
        let relayed = drain(&mut server);
        assert_eq!(relayed.len(), 3, "the burst holds three");
        assert!(relayed.iter().all(|(to, _)| *to == addr(2)));
        assert_eq!(server.stats().relayed_bytes, 3000);
        // Oversized payloads never pass.
        let huge = [0u8; 1401];
        let much_later = later + Duration::from_secs(10);
        server.handle(
            much_later,
            addr(2),
            &datagram(9, &Message::Relay { payload: &huge }),
        );
        assert!(drain(&mut server).is_empty());
    }

    #[test]
    fn sessions_are_bounded_and_expire() {
        let now = crate::congestion::test_epoch();
        let config = ServerConfig {
            max_sessions: 2,
            registration_timeout: Duration::from_secs(5),
            ..ServerConfig::default()
        };
        let mut server = RendezvousServer::new(config).expect("config");
        for session in 0..3u8 {
            server.handle(
                now,
                addr(u16::from(session)),
                &datagram(session, &Message::Register),
            );
        }
        assert_eq!(server.stats().refused_capacity, 1);
        assert_eq!(server.stats().sessions, 2);
        assert_eq!(server.poll_timeout(), Some(now + Duration::from_secs(5)));
        server.handle_timeout(now + Duration::from_secs(5));
        assert_eq!(server.stats().sessions, 0);
        assert_eq!(server.stats().expired, 2);
        // Room again.
        server.handle(
            now + Duration::from_secs(6),
            addr(2),
            &datagram(2, &Message::Register),
        );
        assert_eq!(server.stats().sessions, 1);
    }

    #[test]
    fn garbage_and_peer_messages_are_counted_not_answered() {
        let now = crate::congestion::test_epoch();
        let mut server = RendezvousServer::new(ServerConfig::default()).expect("config");
        server.handle(now, addr(1), b"");
        server.handle(now, addr(1), &[0x40; 60]);
        server.handle(now, addr(1), &datagram(1, &Message::Punch { nonce: 1 }));
        let mut short_register = datagram(1, &Message::Register);
        short_register.truncate(message::HEADER_SIZE);
        server.handle(now, addr(1), &short_register);
        assert!(drain(&mut server).is_empty());
        assert_eq!(server.stats().malformed, 4);
    }

    #[test]
    fn bad_configurations_are_refused() {
        let zero = ServerConfig {
            relay_rate: 0,
            ..ServerConfig::default()
        };
        assert_eq!(
            RendezvousServer::new(zero).err(),
            Some(ServerConfigError::Zero("relay_rate"))
        );
        let burst = ServerConfig {
            relay_burst: 10,
            ..ServerConfig::default()
        };
        assert!(matches!(
            RendezvousServer::new(burst).err(),
            Some(ServerConfigError::Burst { .. })
        ));
    }
}
