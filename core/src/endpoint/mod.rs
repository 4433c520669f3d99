//! The endpoint: one UDP socket's worth of connections, and the sans-IO API every driver uses.
//!
//! # Driving an endpoint
//!
//! The endpoint never reads a clock or touches a socket; its driver does both and follows one
//! rule (DESIGN.md §2): **after any input, drain [`poll_transmit`](Endpoint::poll_transmit)
//! until it returns `None`, drain [`poll_event`](Endpoint::poll_event), then sleep until
//! [`poll_timeout`](Endpoint::poll_timeout)** (or the next datagram, or the next application
//! call). Inputs are [`handle_datagram`](Endpoint::handle_datagram),
//! [`handle_timeout`](Endpoint::handle_timeout) and application calls on a
//! [`Connection`] reached through [`connection`](Endpoint::connection). Calling
//! `handle_timeout` early or late is harmless; time must never go backwards.
//!
//! The [crate root](crate) walks through the loop step by step, with an example over a
//! blocking `std::net::UdpSocket`.

mod accept;
mod admission;
mod handle;
mod secrets;
mod stateless;
#[cfg(test)]
mod tests;
mod token;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;
use rand::Rng;
use rand::rngs::ChaCha20Rng;
use rustc_hash::FxHashMap;
use slab::Slab;

use self::accept::ServerRole;
use self::admission::{Abandoned, Admission, Source};
use self::secrets::{KeyedMap, ResetKey, Secrets};
use self::token::TokenKey;
use crate::config::{ConfigError, EndpointConfig, ServerConfig, TransportConfig};
use crate::connection::{
    Connection, ConnectionError, ConnectionIds, ConnectionSecurity, CreateError, Event,
};
use crate::crypto::{ClientTls, Security};
use crate::wire::header::{VersionInvariants, is_supported_version};
use crate::wire::{ConnectionId, PacketType, PartialDecode, ResetToken};
use crate::{EcnCodepoint, Transmit};

#[cfg(feature = "fuzzing")]
pub(crate) use self::admission::Source as AdmissionSource;
pub use handle::ConnectionHandle;

/// RFC 9000 §7.2: a client's first destination connection ID has at least 8 bytes.
const MIN_INITIAL_DCID_LEN: usize = 8;

/// What an endpoint saw that never reached a connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EndpointStats {
    /// Datagrams handed to the endpoint.
    pub datagrams_received: u64,
    /// Packets whose header could not be parsed.
    pub malformed_packets: u64,
    /// Packets for no known connection (and not a new client's Initial).
    pub unknown_connection_packets: u64,
    /// New clients' Initials dropped (too small, no server role, short connection ID, ...).
    pub dropped_initials: u64,
    /// Retry tokens that failed validation (forged, or expired: an expired but authentic token
    /// still opens a connection, with the address treated as unvalidated).
    pub invalid_tokens: u64,
    /// Retry packets sent.
    pub retries_sent: u64,
    /// Version Negotiation packets sent.
    pub version_negotiations_sent: u64,
    /// Connections accepted.
    pub connections_accepted: u64,
    /// Connections refused because the endpoint was full.
    pub connections_refused: u64,
    /// New clients' Initials dropped because their source (IPv4 address, IPv6 /64) had
    /// `max_handshakes_per_address` handshakes in progress.
    pub initials_over_address_limit: u64,
    /// Half-open connections dropped because their handshake did not complete within
    /// `handshake_timeout`.
    pub handshakes_timed_out: u64,
    /// Stateless resets sent in answer to packets for connections this endpoint does not know.
    pub stateless_resets_sent: u64,
    /// Stateless answers dropped because their queue was full.
    pub stateless_dropped: u64,
}

/// Why a connection could not be started.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    /// The endpoint holds `max_connections` already.
    #[error("the endpoint already holds its maximum of {0} connections")]
    TooManyConnections(usize),
    /// The transport configuration is invalid.
    #[error("invalid transport configuration: {0}")]
    Config(#[from] ConfigError),
    /// The endpoint's TLS configuration has no client side (or, for
    /// [`Endpoint::connect_tls`], the endpoint does not use TLS at all).
    #[error("the endpoint's TLS configuration has no client side (TlsConfig::client)")]
    NoClientTls,
    /// rustls refused to start a handshake with the client configuration.
    #[error("TLS: {0}")]
    Tls(crate::crypto::TlsError),
}

impl ConnectError {
    fn from_create(error: CreateError) -> Self {
        match error {
            CreateError::Controller(e) => Self::Config(ConfigError::Controller(e)),
            CreateError::Tls(e) => Self::Tls(e),
        }
    }
}

struct Slot {
    conn: Connection,
    generation: u32,
    /// Server: the source of a handshake in progress, counted in [`Admission`] until the
    /// handshake completes or fails.
    half_open: Option<Source>,
    /// The reset token of the peer's connection ID in use, once registered in `peer_resets`.
    peer_reset: Option<ResetToken>,
    /// Whether the slot is in the send queue.
    queued: bool,
    /// Whether the application touched it since the last flush.
    dirty: bool,
    /// The earliest of this connection's entries on the timer heap. Entries are only pushed
    /// when a deadline moves *earlier*; when it moves later the old entry stays and is
    /// corrected when it reaches the top, so each connection has O(1) entries however often
    /// its deadline changes (every packet sent moves the probe timeout).
    queued_deadline: Option<Instant>,
}

/// One UDP socket's worth of weir connections (see the [module docs](self)).
pub struct Endpoint {
    config: EndpointConfig,
    server: Option<ServerRole>,
    client_config: Arc<TransportConfig>,
    epoch: Instant,
    rng: ChaCha20Rng,
    token_key: TokenKey,
    reset_key: ResetKey,
    connections: Slab<Slot>,
    next_generation: u32,
    /// Routes by our connection IDs. Peers only *look up* keys (the IDs are ours, random), so a
    /// fast non-keyed hash cannot be flooded.
    by_cid: FxHashMap<ConnectionId, usize>,
    /// Routes a client's first Initials, addressed to an ID the client chose, by that ID *and*
    /// the client's address: an Initial from another address with the same ID (a collision, or
    /// a stranger who guessed it) starts a handshake of its own instead of reaching this one.
    by_initial: KeyedMap<(SocketAddr, ConnectionId), usize>,
    /// The peers' stateless reset tokens (of the connection ID each connection uses now), to
    /// the connections they reset.
    peer_resets: KeyedMap<ResetToken, usize>,
    admission: Admission,
    abandoned: Abandoned,
    timers: BinaryHeap<Reverse<(Instant, usize, u32)>>,
    send_queue: VecDeque<usize>,
    dirty: Vec<usize>,
    events: VecDeque<(ConnectionHandle, Event)>,
    stateless: VecDeque<(SocketAddr, Vec<u8>)>,
    stats: EndpointStats,
    /// Whether a server takes new connections (see [`Endpoint::set_accepting`]).
    accepting: bool,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("server", &self.server.is_some())
            .field("connections", &self.connections.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// An endpoint created at `now`; with a `server` configuration it accepts connections.
    pub fn new(
        now: Instant,
        config: EndpointConfig,
        server: Option<ServerConfig>,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        if let Some(server) = &server {
            server.validate()?;
            if let Some(Security::Tls(tls)) = &config.security
                && tls.server.is_none()
            {
                return Err(ConfigError::NoServerTls);
            }
        }
        let secrets = Secrets::new(&config.seed)?;
        Ok(Self {
            server: server.map(ServerRole::new),
            client_config: Arc::new(TransportConfig::default()),
            epoch: now,
            rng: secrets.rng,
            token_key: secrets.token_key,
            reset_key: secrets.reset_key,
            connections: Slab::new(),
            next_generation: 0,
            by_cid: FxHashMap::default(),
            by_initial: KeyedMap::with_hasher(secrets.hash),
            peer_resets: KeyedMap::with_hasher(secrets.hash),
            admission: Admission::new(secrets.hash),
            abandoned: Abandoned::new(secrets.hash),
            timers: BinaryHeap::new(),
            send_queue: VecDeque::new(),
            dirty: Vec::new(),
            events: VecDeque::new(),
            stateless: VecDeque::new(),
            stats: EndpointStats::default(),
            accepting: true,
            config,
        })
    }

    /// Sets the transport configuration of connections opened by [`connect`](Self::connect).
    pub fn set_client_config(&mut self, config: TransportConfig) -> Result<(), ConfigError> {
        config.validate()?;
        self.client_config = Arc::new(config);
        Ok(())
    }

    /// Switches path MTU discovery off for the connections opened or accepted from now on.
    ///
    /// For drivers that cannot keep the operating system from fragmenting their datagrams
    /// (no don't-fragment bit on the platform): discovery would then validate sizes the path
    /// carries only in fragments, each lost fragment losing the whole packet.
    pub fn disable_mtu_discovery(&mut self) {
        let off = |config: &Arc<TransportConfig>| {
            Arc::new(TransportConfig {
                mtu_discovery: None,
                ..(**config).clone()
            })
        };
        self.client_config = off(&self.client_config);
        if let Some(server) = &mut self.server {
            server.transport = off(&server.transport);
        }
    }

    /// What the endpoint dropped or answered on its own.
    pub fn stats(&self) -> EndpointStats {
        self.stats
    }

    /// Connections alive.
    pub fn connection_count(&self) -> usize {
        self.connections.len()
    }

    /// Server connections whose handshake is in progress (half-open): what admission control
    /// counts against [`RetryPolicy::WhenBusy`](crate::config::RetryPolicy::WhenBusy).
    pub fn handshakes_in_progress(&self) -> usize {
        self.admission.in_progress()
    }

    /// Starts a connection to `remote`; its first datagram is ready in
    /// [`poll_transmit`](Self::poll_transmit).
    pub fn connect(
        &mut self,
        now: Instant,
        remote: SocketAddr,
    ) -> Result<ConnectionHandle, ConnectError> {
        let config = self.client_config.clone();
        self.connect_with(now, remote, config)
    }

    /// Like [`connect`](Self::connect), with its own transport configuration.
    pub fn connect_with(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        config: Arc<TransportConfig>,
    ) -> Result<ConnectionHandle, ConnectError> {
        let security = match &self.config.security {
            Some(Security::Tls(tls)) => {
                ConnectionSecurity::TlsClient(tls.client.clone().ok_or(ConnectError::NoClientTls)?)
            }
            Some(Security::InsecureIntegrityOnly) | None => ConnectionSecurity::Integrity,
        };
        self.connect_secured(now, remote, config, security)
    }

    /// Like [`connect`](Self::connect), trusting the server as `tls` says (another server
    /// name, other pins or roots) instead of the endpoint's TLS client configuration. On an
    /// endpoint with the integrity-only protection this is an error: the server would not
    /// understand TLS.
    pub fn connect_tls(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        tls: ClientTls,
    ) -> Result<ConnectionHandle, ConnectError> {
        if !self.config.security.as_ref().is_some_and(Security::is_tls) {
            return Err(ConnectError::NoClientTls);
        }
        let config = self.client_config.clone();
        self.connect_secured(now, remote, config, ConnectionSecurity::TlsClient(tls))
    }

    fn connect_secured(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        config: Arc<TransportConfig>,
        security: ConnectionSecurity,
    ) -> Result<ConnectionHandle, ConnectError> {
        config.validate()?;
        if self.connections.len() >= self.config.max_connections {
            return Err(ConnectError::TooManyConnections(
                self.config.max_connections,
            ));
        }
        let local = self.new_cid();
        let original_dcid = self.random_cid(self.config.cid_len.max(MIN_INITIAL_DCID_LEN));
        let ids = ConnectionIds {
            local,
            remote: original_dcid,
            original_dcid,
            retry_scid: None,
            path_key: self.reset_key.path_key(&local),
        };
        let conn = Connection::client(now, config, remote, ids, security)
            .map_err(ConnectError::from_create)?;
        let index = self.insert(conn, local);
        self.after_input(index);
        Ok(self.handle_of(index))
    }

    /// Whether a server takes new connections. With `false` — a server shutting down, or
    /// draining before a restart — every new client's Initial is answered with
    /// CONNECTION_CLOSE (CONNECTION_REFUSED), so clients give up at once and can try another
    /// server; connections in progress carry on. Counted in `connections_refused`.
    pub fn set_accepting(&mut self, accepting: bool) {
        self.accepting = accepting;
    }

    /// Whether a server takes new connections (see [`set_accepting`](Self::set_accepting)).
    pub fn is_accepting(&self) -> bool {
        self.accepting
    }

    /// The connection behind `handle`, for application calls (open streams, write, read,
    /// send messages, close). `None` once the connection drained.
    pub fn connection(&mut self, handle: ConnectionHandle) -> Option<&mut Connection> {
        let index = handle.index as usize;
        let slot = self
            .connections
            .get_mut(index)
            .filter(|s| s.generation == handle.generation)?;
        if !slot.dirty {
            slot.dirty = true;
            self.dirty.push(index);
        }
        Some(&mut slot.conn)
    }

    /// The connection behind `handle`, read-only (statistics, state): unlike
    /// [`connection`](Self::connection) this does not make the endpoint look for work on it.
    pub fn connection_ref(&self, handle: ConnectionHandle) -> Option<&Connection> {
        self.connections
            .get(handle.index as usize)
            .filter(|s| s.generation == handle.generation)
            .map(|s| &s.conn)
    }

    /// Handles of every live connection.
    pub fn connection_handles(&self) -> impl Iterator<Item = ConnectionHandle> + '_ {
        self.connections
            .iter()
            .map(|(index, slot)| ConnectionHandle {
                index: index as u32,
                generation: slot.generation,
            })
    }

    /// The driver moved client connection `handle` to another local socket or network (a phone
    /// left Wi-Fi for LTE, a new socket after an error): the connection addresses the server
    /// with one of its spare connection IDs from now on, so that the old and new paths cannot
    /// be linked by an observer (RFC 9000 §9.5), retires the old ID, and sends a PING at once
    /// so that the server sees (and validates) the new address. With
    /// [`LocalPathChange::Network`] the congestion controller and RTT estimate start afresh.
    /// Returns whether a spare ID was there to take (`false`: the server issued none, and the
    /// old ID stays). Only a client moves on its own, and only once its handshake is confirmed.
    ///
    /// [`LocalPathChange::Network`]: crate::connection::LocalPathChange::Network
    pub fn local_path_changed(
        &mut self,
        now: Instant,
        handle: ConnectionHandle,
        change: crate::connection::LocalPathChange,
    ) -> Result<bool, crate::connection::PathChangeError> {
        let conn = self
            .connection(handle)
            .ok_or(crate::connection::PathChangeError::UnknownConnection)?;
        conn.on_local_path_changed(now, change)
    }

    /// Closes every connection (see [`Connection::close`]); each drains and reports
    /// [`Event::Drained`].
    pub fn close_all(&mut self, now: Instant, error_code: crate::wire::VarInt, reason: &[u8]) {
        let handles: Vec<ConnectionHandle> = self.connection_handles().collect();
        for handle in handles {
            if let Some(conn) = self.connection(handle) {
                conn.close(now, error_code, reason);
            }
        }
    }

    /// A datagram arrived from `remote` at `now`, with the ECN codepoint `ecn` of its IP header
    /// (`None` for Not-ECT, or when the driver cannot read it: then the connections' ECN
    /// validation fails and they simply do without; see
    /// [`TransportConfig::ecn`](crate::config::TransportConfig::ecn)).
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        ecn: Option<EcnCodepoint>,
        datagram: BytesMut,
    ) {
        self.flush_dirty();
        self.stats.datagrams_received += 1;
        let len = datagram.len();
        if let Some(inv) = VersionInvariants::parse(&datagram)
            && !is_supported_version(inv.version)
            && inv.version != 0
        {
            self.version_negotiation(remote, &inv, len);
            return;
        }
        // Only an endpoint that holds a peer's reset token looks for resets, and only in
        // datagrams no connection takes (RFC 9000 §10.3.1).
        let reset = if self.peer_resets.is_empty() {
            None
        } else {
            ResetToken::trailing(&datagram)
        };
        let mut rest = Some(datagram);
        let mut counted: Option<usize> = None;
        let mut first_dcid = None;
        while let Some(data) = rest.take() {
            let (partial, next) = match PartialDecode::new(data, self.config.cid_len) {
                Ok(decoded) => decoded,
                Err(_) => {
                    if first_dcid.is_none() && reset.is_some_and(|t| self.on_reset(t)) {
                        return;
                    }
                    self.stats.malformed_packets += 1;
                    break;
                }
            };
            rest = next;
            let dcid = *partial.dcid();
            let first = first_dcid.is_none();
            // RFC 9000 §12.2: coalesced packets share the first one's destination connection ID;
            // others are ignored (they would let one datagram count for several connections).
            if *first_dcid.get_or_insert(dcid) != dcid {
                self.stats.malformed_packets += 1;
                continue;
            }
            let ty = partial.packet_type();
            match self.route(remote, &dcid, ty) {
                Some(index) => {
                    if let Some(slot) = self.connections.get_mut(index) {
                        if counted != Some(index) {
                            slot.conn.on_datagram_received(remote, len);
                            counted = Some(index);
                        }
                        slot.conn.handle_packet(now, remote, ecn, partial);
                        self.after_input(index);
                    }
                }
                None if first && reset.is_some_and(|t| self.on_reset(t)) => return,
                None if counted.is_none()
                    && ty == PacketType::Initial
                    && self.abandoned.contains(&dcid) =>
                {
                    self.stats.dropped_initials += 1;
                    self.stateless_reset(remote, &dcid, len);
                }
                None if counted.is_none() && ty == PacketType::Initial => {
                    if let Some(index) = self.accept(now, remote, ecn, partial, len) {
                        counted = Some(index);
                    }
                }
                None => {
                    self.stats.unknown_connection_packets += 1;
                    // A packet for a connection this server no longer knows (it closed, timed
                    // out, or the server restarted with the same secret): the peer learns it at
                    // once instead of waiting out its idle timeout.
                    if first
                        && self.server.is_some()
                        && matches!(ty, PacketType::Short | PacketType::Handshake)
                    {
                        self.stateless_reset(remote, &dcid, len);
                    }
                }
            }
        }
    }

    /// Timers that expired by `now` fire; calling this early or late is harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.flush_dirty();
        let mut due = Vec::new();
        while let Some(Reverse((at, index, generation))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            if let Some(slot) = self.connections.get_mut(index)
                && slot.generation == generation
                && slot.queued_deadline == Some(at)
            {
                slot.queued_deadline = None;
                due.push(index);
            }
        }
        for index in due {
            if let Some(slot) = self.connections.get_mut(index) {
                // The deadline may have moved later since the entry was queued: then this is an
                // early call, which the connection ignores, and the real deadline is re-queued.
                slot.conn.handle_timeout(now);
                self.after_input(index);
            }
        }
    }

    /// The next datagram to send, or a batch of up to `max_datagrams` for one GSO send,
    /// appended to `buf`: the transmit is the last [`Transmit::size`] bytes of `buf`, so a
    /// driver may pass a buffer that already holds what it has not sent yet. `None` when nothing
    /// is ready. Connections take turns (a batch per turn), so one busy connection cannot
    /// starve the others.
    ///
    /// A batch is consecutive datagrams of one connection to one destination with one ECN
    /// codepoint, each [`Transmit::segment_size`] bytes long but the last, which may be
    /// shorter, at most [`Transmit::MAX_BATCH_BYTES`] in all; each datagram in it waited for
    /// the pacer and the congestion window as it would have alone. A driver without GSO
    /// passes 1 (the cheap path: one datagram, `segment_size` `None`; 0 counts as 1), or sends
    /// the batch's [`segments`](Transmit::segments) one by one.
    pub fn poll_transmit(
        &mut self,
        now: Instant,
        max_datagrams: usize,
        buf: &mut Vec<u8>,
    ) -> Option<Transmit> {
        self.flush_dirty();
        if let Some((destination, datagram)) = self.stateless.pop_front() {
            buf.extend_from_slice(&datagram);
            return Some(Transmit {
                destination,
                size: datagram.len(),
                segment_size: None,
                ecn: None,
            });
        }
        while let Some(index) = self.send_queue.pop_front() {
            let Some(slot) = self.connections.get_mut(index) else {
                continue;
            };
            slot.queued = false;
            let transmit = slot.conn.poll_transmit(now, max_datagrams, buf);
            if transmit.is_some() {
                slot.queued = true;
                self.send_queue.push_back(index);
            }
            self.after_output(index);
            if transmit.is_some() {
                return transmit;
            }
        }
        None
    }

    /// The next application event, with the connection it concerns.
    pub fn poll_event(&mut self) -> Option<(ConnectionHandle, Event)> {
        self.flush_dirty();
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next run, if ever.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        self.flush_dirty();
        while let Some(Reverse((at, index, generation))) = self.timers.peek().copied() {
            let Some(slot) = self
                .connections
                .get_mut(index)
                .filter(|s| s.generation == generation && s.queued_deadline == Some(at))
            else {
                self.timers.pop();
                continue;
            };
            // A deadline that moved later is corrected here rather than reported early.
            let actual = slot.conn.poll_timeout();
            if actual == Some(at) {
                return Some(at);
            }
            self.timers.pop();
            slot.queued_deadline = actual;
            if let Some(actual) = actual {
                self.timers.push(Reverse((actual, index, generation)));
            }
        }
        None
    }

    // ----- Internals -----

    fn handle_of(&self, index: usize) -> ConnectionHandle {
        let generation = self.connections.get(index).map_or(0, |s| s.generation);
        ConnectionHandle {
            index: index as u32,
            generation,
        }
    }

    fn insert(&mut self, conn: Connection, local: ConnectionId) -> usize {
        let generation = self.next_generation;
        self.next_generation = self.next_generation.wrapping_add(1);
        let index = self.connections.insert(Slot {
            conn,
            generation,
            half_open: None,
            peer_reset: None,
            queued: false,
            dirty: false,
            queued_deadline: None,
        });
        self.by_cid.insert(local, index);
        index
    }

    /// The connection a packet from `remote` to `dcid` belongs to: our connection IDs route by
    /// themselves; an ID a client chose routes only its Initials, and only from its address.
    fn route(&self, remote: SocketAddr, dcid: &ConnectionId, ty: PacketType) -> Option<usize> {
        if let Some(&index) = self.by_cid.get(dcid) {
            return Some(index);
        }
        match ty {
            PacketType::Initial => self.by_initial.get(&(remote, *dcid)).copied(),
            _ => None,
        }
    }

    /// A datagram no connection takes ends with `token`: if a server gave us that token, it
    /// lost the connection's state, and the connection ends at once. Returns whether it did.
    fn on_reset(&mut self, token: ResetToken) -> bool {
        let Some(index) = self.peer_resets.get(&token).copied() else {
            return false;
        };
        if let Some(slot) = self.connections.get_mut(index) {
            slot.conn.on_stateless_reset();
            self.after_input(index);
        }
        true
    }

    /// Application calls happened on these connections: they may want to send, their timers
    /// may have moved, they may have events.
    fn flush_dirty(&mut self) {
        while let Some(index) = self.dirty.pop() {
            if let Some(slot) = self.connections.get_mut(index) {
                slot.dirty = false;
                self.after_input(index);
            }
        }
    }

    /// After an input: the connection may have something to send.
    fn after_input(&mut self, index: usize) {
        if let Some(slot) = self.connections.get_mut(index)
            && !slot.queued
        {
            slot.queued = true;
            self.send_queue.push_back(index);
        }
        self.after_output(index);
    }

    /// Collects the connection's events, keeps the routing and admission tables in step with
    /// it, re-arms its timer, and frees it once drained.
    fn after_output(&mut self, index: usize) {
        self.service_cids(index);
        let Some(slot) = self.connections.get_mut(index) else {
            return;
        };
        let handle = ConnectionHandle {
            index: index as u32,
            generation: slot.generation,
        };
        let events = &mut self.events;
        let stats = &mut self.stats;
        slot.conn.drain_events(|event| {
            if let Event::Closed(ConnectionError::HandshakeTimedOut(_)) = event {
                stats.handshakes_timed_out += 1;
            }
            events.push_back((handle, event));
        });
        if let Some(source) = slot.half_open
            && (slot.conn.is_connected() || slot.conn.is_closed())
        {
            slot.half_open = None;
            self.admission.end(source);
            if slot.conn.is_closed() {
                // The handshake never completed: remember whom the client may still address.
                self.abandoned.insert(slot.conn.local_cid());
            }
        }
        let token = slot.conn.peer_reset_token();
        if token != slot.peer_reset {
            // The connection moved to another of the peer's IDs: only its token counts now.
            if let Some(old) = slot.peer_reset
                && self.peer_resets.get(&old) == Some(&index)
            {
                self.peer_resets.remove(&old);
            }
            if let Some(token) = token {
                self.peer_resets.insert(token, index);
            }
            slot.peer_reset = token;
        }
        let initial_route = (slot.conn.remote_address(), slot.conn.initial_dcid());
        if slot.conn.is_drained() {
            let peer_reset = slot.peer_reset;
            // Every ID of the connection's leaves, the handshake's whether or not the peer
            // retired it (a retired one left already, and is checked again harmlessly).
            let handshake = slot.conn.local_cid();
            for local in slot.conn.local_cids().chain(std::iter::once(handshake)) {
                if self.by_cid.get(&local) == Some(&index) {
                    self.by_cid.remove(&local);
                }
            }
            if self.by_initial.get(&initial_route) == Some(&index) {
                self.by_initial.remove(&initial_route);
            }
            if let Some(token) = peer_reset
                && self.peer_resets.get(&token) == Some(&index)
            {
                self.peer_resets.remove(&token);
            }
            self.connections.remove(index);
            return;
        }
        if slot.conn.is_handshake_confirmed() && self.by_initial.get(&initial_route) == Some(&index)
        {
            // The client's first destination ID only routes its early Initials.
            self.by_initial.remove(&initial_route);
        }
        if let Some(at) = slot.conn.poll_timeout()
            && slot.queued_deadline.is_none_or(|queued| at < queued)
        {
            slot.queued_deadline = Some(at);
            self.timers.push(Reverse((at, index, slot.generation)));
        }
    }

    /// Keeps the connection's spare connection IDs in step with the routing table: the IDs the
    /// peer retired stop routing, and the fresh ones the connection wants are created here,
    /// where the generator, the collision check and the routable encoding are, routed, and
    /// handed to the connection to announce. Their reset tokens derive from the ID like the
    /// handshake ID's, so the endpoint can still compute one after it forgot the connection.
    fn service_cids(&mut self, index: usize) {
        let Some(slot) = self.connections.get_mut(index) else {
            return;
        };
        let by_cid = &mut self.by_cid;
        slot.conn.take_retired_cids(|id| {
            if by_cid.get(&id) == Some(&index) {
                by_cid.remove(&id);
            }
        });
        let wanted = slot.conn.cids_wanted();
        if wanted == 0 {
            return;
        }
        for _ in 0..wanted {
            let id = self.new_cid();
            let token = self.reset_key.token(&id);
            self.by_cid.insert(id, index);
            if let Some(slot) = self.connections.get_mut(index) {
                slot.conn.issue_cid(id, token);
            }
        }
        // The NEW_CONNECTION_ID frames must leave even if nothing else does.
        if let Some(slot) = self.connections.get_mut(index)
            && !slot.queued
        {
            slot.queued = true;
            self.send_queue.push_back(index);
        }
    }

    fn random_cid(&mut self, len: usize) -> ConnectionId {
        let mut bytes = [0u8; ConnectionId::MAX_LEN];
        let len = len.min(ConnectionId::MAX_LEN);
        self.rng.fill_bytes(&mut bytes[..len]);
        ConnectionId::new(&bytes[..len]).unwrap_or(ConnectionId::EMPTY)
    }

    /// A fresh connection ID of the configured length that routes to nothing yet, carrying
    /// the server ID where the configuration asks for routable IDs.
    fn new_cid(&mut self) -> ConnectionId {
        loop {
            let mut cid = self.random_cid(self.config.cid_len);
            if let Some(routable) = &self.config.routable_cids {
                let mut bytes = [0u8; ConnectionId::MAX_LEN];
                let len = cid.len();
                bytes[..len].copy_from_slice(&cid);
                routable.encode(&mut bytes[..len]);
                cid = ConnectionId::new(&bytes[..len]).unwrap_or(cid);
            }
            if !self.by_cid.contains_key(&cid) {
                return cid;
            }
        }
    }
}
