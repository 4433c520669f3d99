//! Connection migration and NAT rebinding (RFC 9000 §9): a client whose address changed —
//! its NAT gave it another port, or the phone moved from Wi-Fi to LTE — keeps its connection.
//!
//! A server sees an authenticated (TLS) 1-RTT packet from another address, carrying more than
//! probing frames and numbered above every packet before it: it moves the connection there at
//! once (so that a game loses no more than the round trip the move takes), and validates the
//! new path with a PATH_CHALLENGE. Until the PATH_RESPONSE comes back it sends at most three
//! times what it received from the new address (RFC 9000 §9.3: an attacker must not use a
//! spoofed address to aim our traffic at a victim); if no response comes within three probe
//! timeouts it goes back to the old address. A change of IP address resets the congestion
//! controller and the RTT estimate, which describe the old path (RFC 9000 §9.4); a change of
//! port alone — NAT rebinding — keeps them, since the path is the same. A PATH_CHALLENGE is
//! answered on the path it came by; a packet of probing frames only never moves the connection.
//!
//! Connection IDs (RFC 9000 §9.5): each end hands the other spare connection IDs once the
//! handshake is confirmed (see `cids`). When the server follows its client to a new address
//! (or back to the old one) it addresses the client with a spare ID from then on and retires
//! the old one, so an observer on both paths cannot link them by the ID. A client that moves
//! on its own — its driver rebound it to another socket or network and said so with
//! [`Endpoint::local_path_changed`](crate::endpoint::Endpoint::local_path_changed) — does the
//! same with one of the server's spares, and sends a PING at once so that the server sees the
//! new address (and validates it) without waiting for data; a new network resets its
//! congestion controller and RTT estimate, as the server's do. Without a spare (a peer that
//! announced `active_connection_id_limit` and issued none) the move keeps the old ID, which
//! can then be linked.
//!
//! What weir does not do (yet): a client never follows a server to another address (servers
//! have no preferred address), a client does not validate its new path before moving to it
//! (it moves at once, like a NAT rebinding), and a NAT rebinding the client does not notice
//! keeps the client's ID (the server's side changes, the client's cannot).

use std::hash::Hasher;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use siphasher::sip::SipHasher13;

use super::send::BuiltPacket;
use super::space::SentFrames;
use super::{Connection, Event, Phase};
use crate::Transmit;
use crate::congestion::DeliveryRateEstimator;
use crate::recovery::RttEstimator;
use crate::recovery::SpaceId;
use crate::streams::Side;
use crate::wire::PacketBuilder;

/// PATH_RESPONSEs owed on the current path at most: a flood of challenges keeps the newest.
const RESPONSES_KEPT: usize = 4;
/// Datagrams that carry a PATH_CHALLENGE or PATH_RESPONSE are padded to this size where the
/// anti-amplification limit allows (RFC 9000 §8.2.1), which checks the new path's MTU too.
pub(super) const PATH_PROBE_DATAGRAM: usize = 1200;

/// What changed on this end of the path (see
/// [`Endpoint::local_path_changed`](crate::endpoint::Endpoint::local_path_changed)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalPathChange {
    /// Another local port on the same network (a new socket, a rebinding this end noticed):
    /// the path is the same, its congestion state and RTT estimate are kept.
    Port,
    /// Another network or local address (Wi-Fi to LTE): the congestion controller and the RTT
    /// estimate start afresh (RFC 9000 §9.4).
    Network,
}

/// Why [`Endpoint::local_path_changed`](crate::endpoint::Endpoint::local_path_changed) did not
/// move a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathChangeError {
    /// The handle names no live connection.
    #[error("no such connection")]
    UnknownConnection,
    /// Only a client moves on its own (RFC 9000 §9: a server follows its client).
    #[error("only a client connection moves on its own")]
    NotClient,
    /// The handshake is not confirmed yet (RFC 9000 §9: no migration before).
    #[error("the handshake is not confirmed yet")]
    NotConfirmed,
    /// The connection is closed.
    #[error("the connection is closed")]
    Closed,
}

/// What the connection knows about the paths to its peer beyond the current one.
#[derive(Debug)]
pub(super) struct Paths {
    /// The key of the challenges' data (a keyed hash of the endpoint's secret).
    key: [u8; 16],
    /// Challenges issued so far.
    issued: u64,
    /// The validation under way on the current path.
    challenge: Option<Challenge>,
    /// PATH_RESPONSE data owed on the current path.
    responses: Vec<[u8; 8]>,
    /// A PATH_RESPONSE owed on another address, and the bytes that address sent us (the
    /// response is padded to at most three times that).
    off_path: Option<(SocketAddr, [u8; 8], usize)>,
    /// The validated address to go back to if the current one fails validation.
    previous: Option<SocketAddr>,
    /// The last datagram from another address: credited to the new path if it moves there.
    other_datagram: Option<(SocketAddr, usize)>,
    /// While a packet from another address is processed: the address its PATH_CHALLENGE is
    /// answered on.
    answering: Option<SocketAddr>,
}

#[derive(Debug, Clone, Copy)]
struct Challenge {
    data: [u8; 8],
    /// Whether the PATH_CHALLENGE is still to be sent (first time, or again).
    unsent: bool,
    /// When to send it again if no response came.
    resend_at: Option<Instant>,
    /// When the validation fails.
    deadline: Instant,
}

impl Paths {
    pub(super) fn new(key: [u8; 16]) -> Self {
        Self {
            key,
            issued: 0,
            challenge: None,
            responses: Vec::new(),
            off_path: None,
            previous: None,
            other_datagram: None,
            answering: None,
        }
    }

    /// Eight bytes an attacker cannot predict: a keyed hash of a counter.
    fn next_challenge(&mut self) -> [u8; 8] {
        let (k0, k1) = self.key.split_at(8);
        let word = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
        let mut hasher = SipHasher13::new_with_keys(word(k0), word(k1));
        hasher.write_u64(self.issued);
        self.issued += 1;
        hasher.finish().to_le_bytes()
    }

    /// Whether a packet of the current path should carry path frames.
    pub(super) fn has_pending(&self) -> bool {
        !self.responses.is_empty() || self.challenge.is_some_and(|c| c.unsent)
    }

    /// Writes the owed PATH_RESPONSEs and PATH_CHALLENGE into `buf` within `room` bytes;
    /// returns whether it wrote any.
    pub(super) fn write_frames(&mut self, buf: &mut Vec<u8>, mut room: usize) -> bool {
        use crate::wire::frame::Frame;
        let mut wrote = false;
        while room >= 9 {
            let Some(data) = self.responses.pop() else {
                break;
            };
            Frame::PathResponse(data).encode(buf);
            room -= 9;
            wrote = true;
        }
        if room >= 9
            && let Some(challenge) = self.challenge.as_mut()
            && challenge.unsent
        {
            Frame::PathChallenge(challenge.data).encode(buf);
            challenge.unsent = false;
            wrote = true;
        }
        wrote
    }

    /// The next deadline of the validation (a resend or its end).
    pub(super) fn deadline(&self) -> Option<Instant> {
        let c = self.challenge.as_ref()?;
        Some(c.resend_at.map_or(c.deadline, |r| r.min(c.deadline)))
    }

    /// A PATH_RESPONSE owed on another address, taken.
    pub(super) fn take_off_path(&mut self) -> Option<(SocketAddr, [u8; 8], usize)> {
        self.off_path.take()
    }
}

impl Connection {
    /// Whether a packet from `remote`, which is not the peer's address, may be looked at: only
    /// a server's established connection follows a client, only once the handshake is
    /// confirmed (RFC 9000 §9: no migration before), and only under TLS: the integrity-only
    /// protection authenticates nothing, and following its packets would let anyone who saw one
    /// redirect the connection.
    pub(super) fn may_migrate(&self) -> bool {
        self.side == Side::Server
            && self.is_tls()
            && self.phase == Phase::Established
            && self.handshake_confirmed
            && self.data_space_usable()
    }

    /// A datagram from an address that is not the peer's.
    pub(super) fn note_other_datagram(&mut self, remote: SocketAddr, len: usize) {
        let bytes = match self.paths.other_datagram {
            Some((addr, bytes)) if addr == remote => bytes + len,
            _ => len,
        };
        self.paths.other_datagram = Some((remote, bytes));
    }

    /// Before the frames of an authenticated 1-RTT packet from another address: move there if
    /// the packet is not a probe and is the newest, else only answer its challenges there.
    pub(super) fn on_packet_from_other_address(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        probing_only: bool,
        newest: bool,
    ) {
        if probing_only || !newest {
            self.paths.answering = Some(remote);
            return;
        }
        self.migrate(now, remote);
    }

    /// After the frames of a packet: challenges go back on the current path again.
    pub(super) fn end_packet_from_other_address(&mut self) {
        self.paths.answering = None;
    }

    fn migrate(&mut self, now: Instant, remote: SocketAddr) {
        let old = self.remote;
        let received = match self.paths.other_datagram.take() {
            Some((addr, bytes)) if addr == remote => bytes,
            _ => 0,
        };
        self.remote = remote;
        self.stats.migrations += 1;
        // RFC 9000 §9.5: a new path, a new connection ID (when the client gave us a spare).
        self.cids.switch(&mut self.ids.remote);
        if old.ip() != remote.ip() {
            // Another network: nothing the old path taught holds.
            self.reset_path_state(now);
        }
        // Only a validated address is worth going back to.
        if self.address_validated {
            self.paths.previous = Some(old);
        }
        self.address_validated = false;
        self.unvalidated_received = received as u64;
        self.unvalidated_sent = 0;
        let data = self.paths.next_challenge();
        self.paths.challenge = Some(Challenge {
            data,
            unsent: true,
            resend_at: None,
            deadline: now + self.validation_period(),
        });
        // Responses owed to the old path are of no use on the new one.
        self.paths.responses.clear();
        self.events.push_back(Event::PathChanged { remote });
    }

    /// This client's driver moved it to another local socket or network: it addresses the
    /// server with a spare connection ID from now on (RFC 9000 §9.5) and retires the old one,
    /// and a PING goes out at once so that the server sees the new address. Returns whether a
    /// spare was there to take (without one the old ID stays, and the move can be linked).
    pub(crate) fn on_local_path_changed(
        &mut self,
        now: Instant,
        change: LocalPathChange,
    ) -> Result<bool, PathChangeError> {
        if self.side != Side::Client {
            return Err(PathChangeError::NotClient);
        }
        if self.is_closed() {
            return Err(PathChangeError::Closed);
        }
        if !self.handshake_confirmed || !self.data_space_usable() {
            return Err(PathChangeError::NotConfirmed);
        }
        let switched = self.cids.switch(&mut self.ids.remote);
        self.stats.migrations += 1;
        if change == LocalPathChange::Network {
            self.reset_path_state(now);
        }
        self.spaces[SpaceId::Data.index()].ping_pending = true;
        Ok(switched)
    }

    /// RFC 9000 §8.2.4: three probe timeouts, and at least six initial RTTs.
    fn validation_period(&self) -> Duration {
        (self.pto() * 3).max(self.config.initial_rtt * 6)
    }

    /// A new path: a fresh controller of the strategy's kind, a fresh RTT estimate and pacer.
    fn reset_path_state(&mut self, now: Instant) {
        let mut config = self.config.congestion.clone();
        config.kind = self.strategy.controller;
        config.bbr.seed ^= self.stats.migrations;
        if let Ok(controller) = config.build(now, u64::from(self.datagram_size)) {
            self.replace_controller(controller);
        }
        self.rtt = RttEstimator::new(self.config.initial_rtt);
        self.pacer = super::pacing::Pacer::new(u64::from(self.datagram_size));
        self.delivery = DeliveryRateEstimator::new();
    }

    /// A PATH_CHALLENGE: answered on the path it came by.
    pub(super) fn on_path_challenge(&mut self, data: [u8; 8]) {
        match self.paths.answering {
            Some(addr) if addr != self.remote => {
                let bytes = match self.paths.other_datagram {
                    Some((from, bytes)) if from == addr => bytes,
                    _ => 0,
                };
                self.paths.off_path = Some((addr, data, bytes));
            }
            _ => {
                if self.paths.responses.len() >= RESPONSES_KEPT {
                    self.paths.responses.remove(0);
                }
                self.paths.responses.push(data);
            }
        }
    }

    /// A PATH_RESPONSE: the current path is validated if it echoes the challenge under way.
    /// Others (late, or never asked for) are ignored (RFC 9000 §8.2.3).
    pub(super) fn on_path_response(&mut self, data: [u8; 8]) {
        if self.paths.challenge.is_some_and(|c| c.data == data) {
            self.paths.challenge = None;
            self.paths.previous = None;
            self.address_validated = true;
        }
    }

    /// The validation's timer: send the challenge again, or give the new path up.
    pub(super) fn on_path_timeout(&mut self, now: Instant) {
        let Some(challenge) = self.paths.challenge else {
            return;
        };
        if now >= challenge.deadline {
            self.paths.challenge = None;
            self.stats.path_validation_failures += 1;
            if let Some(previous) = self.paths.previous.take() {
                // The new address did not answer: it was spoofed, or a path that carries
                // nothing back. The old one was validated.
                self.remote = previous;
                self.address_validated = true;
                // The ID used on the abandoned path is not carried back to the old one.
                self.cids.switch(&mut self.ids.remote);
                self.events
                    .push_back(Event::PathChanged { remote: previous });
            }
            return;
        }
        if challenge.resend_at.is_some_and(|at| at <= now) {
            let pto = self.pto();
            if let Some(c) = self.paths.challenge.as_mut() {
                c.unsent = true;
                c.resend_at = Some(now + pto);
            }
        }
    }

    /// A datagram answering a PATH_CHALLENGE that came from another address (a peer probing a
    /// path before it moves), padded to at most three times what that address sent.
    pub(super) fn poll_off_path_response(
        &mut self,
        now: Instant,
        buf: &mut Vec<u8>,
    ) -> Option<Transmit> {
        let (destination, data, received) = self.paths.take_off_path()?;
        if !self.may_migrate() {
            return None;
        }
        let start = buf.len();
        let limit = received
            .saturating_mul(3)
            .min(PATH_PROBE_DATAGRAM)
            .min(usize::from(self.datagram_size));
        let (pn, header) = self.header_for(SpaceId::Data);
        let mut builder = PacketBuilder::new(buf, &header, pn, limit, self.tag_len).ok()?;
        if builder.frame_space() < 9 {
            buf.truncate(start);
            return None;
        }
        crate::wire::frame::Frame::PathResponse(data).encode(builder.buf());
        builder.pad_to(limit);
        let Some(size) = self.seal(SpaceId::Data, pn, builder) else {
            buf.truncate(start);
            return None;
        };
        // Tracked like any packet (the peer acknowledges it on whichever path), with nothing
        // to retransmit.
        self.on_packet_built(
            now,
            BuiltPacket {
                id: SpaceId::Data,
                pn,
                size,
                eliciting: true,
                in_flight: true,
                pto_probe: false,
                marked: false,
            },
            SentFrames::default(),
        );
        Some(Transmit {
            destination,
            size,
            segment_size: None,
            ecn: None,
        })
    }

    /// Arms the resend of a challenge just sent.
    pub(super) fn on_path_frames_sent(&mut self, now: Instant) {
        let pto = self.pto();
        if let Some(c) = self.paths.challenge.as_mut()
            && !c.unsent
            && c.resend_at.is_none_or(|at| at <= now)
        {
            c.resend_at = Some(now + pto);
        }
    }
}
