//! A peer's side of the rendezvous: register, learn the other peer's public address, punch a
//! hole through both NATs, and fall back to the server's relay when punching fails.
//!
//! It runs on the same socket as the peer's weir endpoint — the NAT mapping punched must be
//! the one weir's packets use — and the driver tells its datagrams apart by their first byte
//! ([`is_rendezvous`](super::is_rendezvous)).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::message::{self, Message, RefusedReason, SessionId};

/// A peer's timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientConfig {
    /// Register again this often until the server answers.
    pub register_interval: Duration,
    /// Once answered, register again this often (it keeps the session and the NAT's mapping
    /// to the server alive, for the relay).
    pub refresh_interval: Duration,
    /// Give up when the server has not answered for this long.
    pub server_timeout: Duration,
    /// Send a Punch this often while punching.
    pub punch_interval: Duration,
    /// Punching that has not worked after this long falls back to the relay.
    pub punch_timeout: Duration,
    /// Skip punching and relay from the start: the peer never learns our address (a player
    /// who hides it), or a path known to defeat punching.
    pub relay_only: bool,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            register_interval: Duration::from_millis(250),
            refresh_interval: Duration::from_secs(10),
            server_timeout: Duration::from_secs(10),
            punch_interval: Duration::from_millis(50),
            punch_timeout: Duration::from_secs(3),
            relay_only: false,
        }
    }
}

/// What happened, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientEvent {
    /// The server answered: this is our address as it sees it (public, behind a NAT).
    Registered {
        /// Our public address.
        observed: SocketAddr,
    },
    /// The other peer registered too; punching starts.
    PeerFound {
        /// Its public address, as the server saw it.
        peer: SocketAddr,
    },
    /// The direct path works both ways: connect (or accept) weir over it.
    Punched {
        /// The address the peer's datagrams come from (it may differ from the one the server
        /// saw, behind a NAT that maps each destination to its own port).
        peer: SocketAddr,
    },
    /// Punching failed: the peer's datagrams go through the server from now on
    /// ([`RendezvousClient::wrap_relay`], and [`Handled::Relayed`] on the way in).
    Relaying {
        /// The peer's address as weir knows it (what relayed datagrams come "from").
        peer: SocketAddr,
    },
    /// The server refused us.
    Refused(RefusedReason),
    /// The server stopped answering (or never did).
    ServerTimedOut,
}

/// The connection's state with the other peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Registering,
    Waiting,
    Punching { peer: SocketAddr, until: Instant },
    Direct { peer: SocketAddr },
    Relayed { peer: SocketAddr },
    Failed,
}

/// What [`RendezvousClient::handle`] made of a datagram.
#[derive(Debug, PartialEq, Eq)]
pub enum Handled<'a> {
    /// A rendezvous message, consumed.
    Consumed,
    /// A datagram the server relayed from the peer: hand it to the weir endpoint as a datagram
    /// from the peer's address.
    Relayed {
        /// The address to give it (the peer's, as in [`ClientEvent::Relaying`]).
        from: SocketAddr,
        /// The datagram.
        datagram: &'a [u8],
    },
    /// Not for us (another session, a stranger, or malformed): dropped and counted.
    Dropped,
}

/// Counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// Registers sent.
    pub registers_sent: u64,
    /// Punches sent.
    pub punches_sent: u64,
    /// Datagrams relayed each way.
    pub relayed_out: u64,
    /// Datagrams relayed to us.
    pub relayed_in: u64,
    /// Datagrams dropped (malformed, another session, from a stranger).
    pub dropped: u64,
}

/// A peer's rendezvous state machine (sans-IO, time as an argument).
#[derive(Debug)]
pub struct RendezvousClient {
    config: ClientConfig,
    server: SocketAddr,
    session: SessionId,
    nonce: u64,
    phase: Phase,
    next_register: Instant,
    /// When the oldest Register the server has not answered yet went out.
    awaiting: Option<Instant>,
    next_punch: Instant,
    queue: VecDeque<(SocketAddr, Vec<u8>)>,
    events: VecDeque<ClientEvent>,
    stats: ClientStats,
}

/// Messages waiting to be sent at most: a handful per timer tick is all the protocol makes.
const MAX_QUEUED: usize = 64;

impl RendezvousClient {
    /// Starts registering with `server` for `session`. `nonce` is a random number of the
    /// caller's (the core draws no randomness): it tells our punches' answers from replays.
    pub fn new(
        now: Instant,
        server: SocketAddr,
        session: SessionId,
        nonce: u64,
        config: ClientConfig,
    ) -> Self {
        Self {
            config,
            server,
            session,
            nonce,
            phase: Phase::Registering,
            next_register: now,
            awaiting: None,
            next_punch: now,
            queue: VecDeque::new(),
            events: VecDeque::new(),
            stats: ClientStats::default(),
        }
    }

    /// The counters.
    pub fn stats(&self) -> ClientStats {
        self.stats
    }

    /// The other peer's address once the path to it is known, and whether it is relayed.
    pub fn peer(&self) -> Option<(SocketAddr, bool)> {
        match self.phase {
            Phase::Direct { peer } => Some((peer, false)),
            Phase::Relayed { peer } => Some((peer, true)),
            _ => None,
        }
    }

    /// A datagram that arrived on the socket: a rendezvous message, or a relayed datagram.
    /// Call it for every datagram [`is_rendezvous`](super::is_rendezvous) says is one.
    pub fn handle<'a>(
        &mut self,
        now: Instant,
        from: SocketAddr,
        datagram: &'a [u8],
    ) -> Handled<'a> {
        let Ok((session, message)) = message::decode(datagram) else {
            self.stats.dropped += 1;
            return Handled::Dropped;
        };
        if session != self.session {
            self.stats.dropped += 1;
            return Handled::Dropped;
        }
        let from_server = from == self.server;
        match message {
            Message::Registered { observed } if from_server => {
                self.answered(now);
                if self.phase == Phase::Registering {
                    self.phase = Phase::Waiting;
                    self.events.push_back(ClientEvent::Registered { observed });
                }
            }
            Message::Peer { peer, observed } if from_server => {
                self.answered(now);
                if matches!(self.phase, Phase::Registering | Phase::Waiting) {
                    if self.phase == Phase::Registering {
                        self.events.push_back(ClientEvent::Registered { observed });
                    }
                    self.events.push_back(ClientEvent::PeerFound { peer });
                    if self.config.relay_only {
                        self.phase = Phase::Relayed { peer };
                        self.events.push_back(ClientEvent::Relaying { peer });
                    } else {
                        self.phase = Phase::Punching {
                            peer,
                            until: now + self.config.punch_timeout,
                        };
                        self.next_punch = now;
                    }
                }
            }
            Message::Refused { reason } if from_server => {
                if matches!(self.phase, Phase::Registering | Phase::Waiting) {
                    self.phase = Phase::Failed;
                    self.events.push_back(ClientEvent::Refused(reason));
                }
            }
            Message::Relay { payload } if from_server => {
                if let Phase::Relayed { peer } = self.phase {
                    self.stats.relayed_in += 1;
                    return Handled::Relayed {
                        from: peer,
                        datagram: payload,
                    };
                }
                self.stats.dropped += 1;
                return Handled::Dropped;
            }
            // From the peer (only the session's secret proves it: a NAT may give it a port the
            // server never saw, so any source address counts).
            Message::Punch { nonce } if !from_server => {
                self.send(from, &Message::PunchAck { nonce });
                self.punched(from);
            }
            Message::PunchAck { nonce } if !from_server && nonce == self.nonce => {
                self.punched(from);
            }
            _ => {
                self.stats.dropped += 1;
                return Handled::Dropped;
            }
        }
        Handled::Consumed
    }

    /// The server answered a Register: it is alive; the next one refreshes the session.
    fn answered(&mut self, now: Instant) {
        if self.awaiting.take().is_some() || self.phase == Phase::Registering {
            self.next_register = now + self.config.refresh_interval;
        }
    }

    fn punched(&mut self, peer: SocketAddr) {
        // A late punch after we fell back to the relay still moves us to the direct path
        // (unless we relay on purpose).
        let relayed = matches!(self.phase, Phase::Relayed { .. }) && !self.config.relay_only;
        if matches!(self.phase, Phase::Punching { .. }) || relayed {
            self.phase = Phase::Direct { peer };
            self.events.push_back(ClientEvent::Punched { peer });
        }
    }

    /// Wraps a weir datagram for the peer in a Relay to the server, when relaying: the address
    /// to send `out` to, or `None` when the peer is reached directly (send `datagram` as it is).
    pub fn wrap_relay(&mut self, datagram: &[u8], out: &mut Vec<u8>) -> Option<SocketAddr> {
        if !matches!(self.phase, Phase::Relayed { .. }) {
            return None;
        }
        self.stats.relayed_out += 1;
        Message::Relay { payload: datagram }.encode(&self.session, out);
        Some(self.server)
    }

    /// Sends what is due and moves on: registrations, punches, the fall-back to the relay.
    pub fn handle_timeout(&mut self, now: Instant) {
        if matches!(self.phase, Phase::Failed | Phase::Direct { .. }) {
            // Nothing to keep alive: the peers talk directly.
            return;
        }
        if self
            .awaiting
            .is_some_and(|since| now >= since + self.config.server_timeout)
        {
            self.phase = Phase::Failed;
            self.events.push_back(ClientEvent::ServerTimedOut);
            return;
        }
        if now >= self.next_register {
            self.stats.registers_sent += 1;
            let server = self.server;
            self.send(server, &Message::Register);
            self.awaiting.get_or_insert(now);
            // Unanswered: again soon. The answer moves the next one to the refresh interval.
            self.next_register = now + self.config.register_interval;
        }
        if let Phase::Punching { peer, until } = self.phase {
            if now >= until {
                self.phase = Phase::Relayed { peer };
                self.events.push_back(ClientEvent::Relaying { peer });
            } else if now >= self.next_punch {
                self.stats.punches_sent += 1;
                let nonce = self.nonce;
                self.send(peer, &Message::Punch { nonce });
                self.next_punch = now + self.config.punch_interval;
            }
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) has work next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if matches!(self.phase, Phase::Failed | Phase::Direct { .. }) {
            return None;
        }
        let server = self
            .awaiting
            .map(|since| since + self.config.server_timeout);
        let punch = match self.phase {
            Phase::Punching { until, .. } => Some(self.next_punch.min(until)),
            _ => None,
        };
        [Some(self.next_register), server, punch]
            .into_iter()
            .flatten()
            .min()
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<(SocketAddr, Vec<u8>)> {
        self.queue.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    fn send(&mut self, to: SocketAddr, message: &Message<'_>) {
        if self.queue.len() >= MAX_QUEUED {
            return;
        }
        let mut out = Vec::new();
        message.encode(&self.session, &mut out);
        self.queue.push_back((to, out));
    }
}
