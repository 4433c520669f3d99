//! A connection: the protocol state machine between two endpoints.
//!
//! Connections live inside an [`Endpoint`](crate::endpoint::Endpoint), which routes datagrams
//! to them by connection ID and drives their timers; the application reaches one through
//! [`Endpoint::connection`](crate::endpoint::Endpoint::connection) to open streams, write,
//! read, send messages and close. Every method that can depend on time takes `now`.

mod ack_tracker;
mod adapt;
mod batch;
mod cids;
mod crypto;
mod datagrams;
mod ecn;
mod error;
mod handshake;
mod handshake_stream;
mod key_update;
mod lanes;
mod lifecycle;
mod migration;
mod pacing;
mod pmtu;
mod probe;
mod rate_limit;
mod recv;
mod send;
mod space;
mod stats;
mod timers;
mod transport_params;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use self::datagrams::Datagrams;
use self::handshake::Handshake;
use self::key_update::KeyUpdate;
use self::pacing::Pacer;
use self::rate_limit::TokenBucket;
use self::space::{PacketSpace, SentFrames};
use self::timers::TimerTable;
use crate::adapt::{Selector, Strategy, StrategyChange};
use crate::config::TransportConfig;
use crate::congestion::{Controller, DeliveryRateEstimator, UnsupportedController};
use crate::crypto::TlsError;
use crate::crypto::keys::SpaceKeys;
use crate::crypto::session::TlsSession;
use crate::estimate::{PathEstimates, PathEstimator, QualityScore};
use crate::lanes::{LaneEvent, Lanes};
use crate::pmtu::{MtuDiscovery, MtuStats};
use crate::recovery::{LossDetection, RttEstimator, SentPacket, SpaceId, SpuriousLossDetector};
use crate::streams::{
    ClosedStream, Dir, OpenError, ReadError, Side, StreamEvent, StreamId, StreamState,
    StreamsState, WriteError,
};
use crate::wire::{ConnectionId, ResetToken, VarInt};

pub use cids::CidStats;
pub use crypto::TlsInfo;
pub(crate) use crypto::{ConnectionSecurity, CreateError};
pub use datagrams::{Datagram, DatagramStats, MAX_CHANNELS, SendDatagramError};
pub use ecn::{EcnFailure, EcnState, EcnStats};
pub use error::{ConnectionError, Reason};
pub use migration::{LocalPathChange, PathChangeError};
pub use stats::ConnectionStats;
pub use timers::Timer;
pub use transport_params::TransportParameters;

/// Something the application should know about a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A client opened this connection to our server endpoint, from `remote`: the first event
    /// of every connection a server accepts, reported exactly once, while its handshake is
    /// still under way. A driver starts tracking the handle here (its state, its place in an
    /// accept queue); the connection is usable from [`Connected`](Self::Connected), which
    /// follows if the handshake completes, and [`Closed`](Self::Closed) then
    /// [`Drained`](Self::Drained) follow if it fails or times out. To refuse the connection,
    /// [`close`](Connection::close) it. Never reported for a connection this end opened with
    /// [`Endpoint::connect`](crate::Endpoint::connect), nor for a client an endpoint refuses
    /// outright (not accepting, at its connection limit, a Retry, an invalid Initial), which
    /// costs no state.
    Incoming {
        /// The client's address as its first Initial came from.
        remote: SocketAddr,
    },
    /// The handshake completed: streams and messages can flow both ways.
    Connected,
    /// Something happened on a stream.
    Stream(StreamEvent),
    /// Unreliable messages wait in [`Connection::recv_datagram`].
    DatagramReceived,
    /// Something happened on a lane.
    Lane(LaneEvent),
    /// The strategy selector changed the connection's strategy (see [`crate::adapt`]).
    StrategyChanged(StrategyChange),
    /// The peer's address changed (its NAT rebound it, or it moved to another network) and
    /// the connection follows it; or a new address failed validation and the connection went
    /// back to the old one. Only a server follows its client (RFC 9000 §9), and only under TLS
    /// (the integrity-only protection authenticates no packet to follow): a PATH_CHALLENGE
    /// checks the new address, to which at most three times what it sent is sent until it
    /// answers; a new IP address (not a new port alone) resets the congestion controller and
    /// the RTT estimate.
    PathChanged {
        /// The address packets go to from now on.
        remote: SocketAddr,
    },
    /// The connection is closed: no more data flows. Reported once.
    Closed(ConnectionError),
    /// The connection's state is gone; its handle is no longer valid. Always the last event.
    Drained,
}

/// Where the connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The handshake is under way.
    Handshaking,
    /// Data flows.
    Established,
    /// We closed: CONNECTION_CLOSE is repeated in answer to the peer's packets until the
    /// closing period ends (RFC 9000 §10.2.1).
    Closing,
    /// The peer closed: nothing is sent until the draining period ends (RFC 9000 §10.2.2).
    Draining,
    /// Gone.
    Drained,
}

/// The CONNECTION_CLOSE frame this end sends while closing.
#[derive(Debug, Clone)]
enum CloseFrame {
    Transport {
        code: VarInt,
        frame_type: VarInt,
        reason: Bytes,
    },
    Application {
        code: VarInt,
        reason: Bytes,
    },
}

/// A connection's identities, fixed by the endpoint that creates it.
#[derive(Debug, Clone)]
pub(crate) struct ConnectionIds {
    /// Our connection ID: the destination of every packet the peer sends us after its first.
    pub(crate) local: ConnectionId,
    /// The peer's connection ID (client: a random one until the server's first packet).
    pub(crate) remote: ConnectionId,
    /// The destination connection ID of the client's first Initial.
    pub(crate) original_dcid: ConnectionId,
    /// The source connection ID of the server's Retry, if there was one.
    pub(crate) retry_scid: Option<ConnectionId>,
    /// The key of the connection's path challenges (a keyed hash of the endpoint's secret).
    pub(crate) path_key: [u8; 16],
}

/// What the endpoint fixes for a connection it accepts (server role).
#[derive(Debug, Clone)]
pub(crate) struct Accepted {
    /// Whether the client's address is already validated (a Retry token came back).
    pub(crate) address_validated: bool,
    /// The half-open connection is dropped once its handshake heard nothing from the client
    /// for this long.
    pub(crate) handshake_timeout: Duration,
    /// The token that lets this end reset the connection statelessly once it has forgotten it
    /// (RFC 9000 §10.3), announced to the client in the transport parameters.
    pub(crate) reset_token: ResetToken,
    /// The destination ID of the client's Initials (the Initial keys derive from it).
    pub(crate) initial_dcid: ConnectionId,
}

/// One connection (see the [module docs](self)).
pub struct Connection {
    side: Side,
    config: Arc<TransportConfig>,
    phase: Phase,
    remote: SocketAddr,
    ids: ConnectionIds,
    /// Client: whether the server's first packet fixed the remote connection ID.
    remote_cid_confirmed: bool,
    /// Client: the token from a Retry, sent in every Initial after it.
    retry_token: Bytes,
    handshake: Handshake,
    handshake_confirmed: bool,
    handshake_done_pending: bool,
    spaces: [PacketSpace; 3],
    rtt: RttEstimator,
    loss: LossDetection,
    first_rtt_sample: Option<Instant>,
    congestion: Box<dyn Controller>,
    /// Capacity drops of the controllers this one replaced.
    replaced_capacity_drops: u64,
    delivery: DeliveryRateEstimator,
    /// Bandwidth statistics, jitter, loss rate and quality score of the path.
    estimates: PathEstimator,
    /// The strategy selector (`None`: adaptation off).
    selector: Option<Selector>,
    /// The strategy in force.
    strategy: Strategy,
    /// The size of the datagrams sent now: the base size during the handshake, then the
    /// strategy's within the validated path MTU.
    datagram_size: u16,
    /// Path MTU discovery.
    pmtu: MtuDiscovery,
    /// The queue guard's cap on bytes in flight, when the strategy sets the guard.
    queue_cap: Option<u64>,
    /// The measured delivery rate (not application-limited), as of the last evaluation of the
    /// strategy: the queue guard's bandwidth under a controller without a model of its own.
    measured_bandwidth: Option<u64>,
    /// The RTT jitter as of the last evaluation of the strategy (the queue guard leaves room
    /// for it).
    jitter_allowance: Duration,
    /// When the application last queued an unreliable message.
    last_datagram_queued: Option<Instant>,
    /// The wire rate of the real-time messages queued (lanes and datagrams), for the policy.
    realtime_demand: crate::estimate::RealtimeDemand,
    pacer: Pacer,
    /// The configured ceiling on the sending rate (`TransportConfig::rate_limit`), if any.
    rate_limit: Option<TokenBucket>,
    streams: StreamsState,
    lanes: Lanes,
    datagrams: Datagrams,
    peer_params: Option<TransportParameters>,
    timers: TimerTable,
    events: VecDeque<Event>,
    /// Server: whether the client's address is validated (RFC 9000 §8.1; again after it
    /// migrated).
    address_validated: bool,
    /// Migration: path validation, challenges owed, the address to go back to.
    paths: self::migration::Paths,
    /// Both ends' spare connection IDs (RFC 9000 §5.1).
    cids: self::cids::Cids,
    /// The destination connection ID of the packet being processed.
    packet_dcid: ConnectionId,
    /// Bytes received from and sent to an unvalidated address (the 3× limit).
    unvalidated_received: u64,
    unvalidated_sent: u64,
    /// Ack-eliciting probe packets owed after a PTO, and their space.
    probes: u8,
    probe_space: SpaceId,
    close_frame: Option<CloseFrame>,
    close_pending: bool,
    close_started: Instant,
    last_close_sent: Option<Instant>,
    closed_reported: bool,
    /// Idle timeout in force (the smaller of both ends' values), if any.
    idle_timeout: Option<Duration>,
    /// Server: how long the handshake may go without hearing from the client.
    handshake_timeout: Option<Duration>,
    last_activity: Instant,
    /// Whether an ack-eliciting packet was sent since the last packet was received.
    eliciting_since_receive: bool,
    /// Whether the packet being processed proves that the peer received one of ours (server:
    /// it is addressed to the connection ID we chose).
    packet_proves_receipt: bool,
    last_ack_eliciting_sent: Option<Instant>,
    /// Whether the sender ran out of data with window to spare (RFC 9002 §7.8).
    app_limited: bool,
    /// Each packet-number space's keys, once it has them (`None` again once discarded).
    keys: [Option<SpaceKeys>; 3],
    /// Bytes every packet's tag takes (the same for every key of a connection).
    tag_len: usize,
    /// The TLS session (`None`: integrity-only protection and weir's own handshake).
    tls: Option<Box<TlsSession>>,
    /// Whether the TLS handshake completed on this end.
    tls_complete: bool,
    /// Why the TLS handshake failed, for the close this end reports.
    tls_failure: Option<TlsError>,
    /// 1-RTT key updates (TLS only).
    key_update: Option<KeyUpdate>,
    stats: ConnectionStats,
    /// ECN: codepoints received and reported, validation of our marking (RFC 9000 §13.4).
    ecn: self::ecn::Ecn,
    /// The codepoint of the datagram being built: each packet in it records whether it was
    /// marked.
    datagram_ecn: Option<crate::EcnCodepoint>,
    scratch_acked: Vec<(u64, SentPacket<SentFrames>)>,
    scratch_lost: Vec<(u64, SentPacket<SentFrames>)>,
    /// The application space's recent losses, to tell which congestion events were spurious.
    spurious: SpuriousLossDetector,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("side", &self.side)
            .field("phase", &self.phase)
            .field("remote", &self.remote)
            .field("local_cid", &self.ids.local)
            .field("remote_cid", &self.ids.remote)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// A client connection to `remote`; its first flight (the ClientHello) is queued.
    pub(crate) fn client(
        now: Instant,
        config: Arc<TransportConfig>,
        remote: SocketAddr,
        ids: ConnectionIds,
        security: ConnectionSecurity,
    ) -> Result<Self, CreateError> {
        let mut conn = Self::new(now, Side::Client, config, remote, ids, None)?;
        let params = conn.local_parameters();
        let initial_dcid = conn.ids.original_dcid;
        if matches!(security, ConnectionSecurity::Integrity) {
            conn.handshake = Handshake::client(
                params.clone(),
                &mut conn.spaces[SpaceId::Initial.index()].handshake,
            );
        }
        conn.init_crypto(security, &params, &initial_dcid)?;
        // The client's own address needs no validation.
        conn.address_validated = true;
        Ok(conn)
    }

    /// A server connection for a client whose first Initial arrived from `remote`.
    pub(crate) fn server(
        now: Instant,
        config: Arc<TransportConfig>,
        remote: SocketAddr,
        ids: ConnectionIds,
        accepted: Accepted,
        security: ConnectionSecurity,
    ) -> Result<Self, CreateError> {
        let mut conn = Self::new(now, Side::Server, config, remote, ids, None)?;
        let mut params = conn.local_parameters();
        params.original_destination_connection_id = Some(conn.ids.original_dcid);
        params.retry_source_connection_id = conn.ids.retry_scid;
        params.stateless_reset_token = Some(accepted.reset_token);
        if matches!(security, ConnectionSecurity::Integrity) {
            conn.handshake = Handshake::server(params.clone());
        }
        conn.init_crypto(security, &params, &accepted.initial_dcid)?;
        conn.address_validated = accepted.address_validated;
        conn.handshake_timeout = Some(accepted.handshake_timeout);
        // First of its events: whatever its first packet causes comes after.
        conn.events.push_back(Event::Incoming { remote });
        Ok(conn)
    }

    fn new(
        now: Instant,
        side: Side,
        config: Arc<TransportConfig>,
        remote: SocketAddr,
        ids: ConnectionIds,
        _reserved: Option<()>,
    ) -> Result<Self, CreateError> {
        let max_datagram = u64::from(config.max_datagram_size);
        // Each connection's controller gets its own seed (from the endpoint's seeded randomness,
        // through the connection ID), so that flows sharing a path do not probe in lockstep.
        let path_key = ids.path_key;
        let ids_local = ids.local;
        let mut congestion_config = config.congestion.clone();
        congestion_config.bbr.seed ^= ids
            .local
            .iter()
            .fold(0u64, |acc, b| acc.rotate_left(8) ^ u64::from(*b));
        let initial = Strategy::plain(config.congestion.kind, config.datagram_ceiling());
        let selector = config
            .adapt
            .policy
            .build()
            .map(|policy| Selector::new(policy, config.adapt.clone(), initial));
        let strategy = selector.as_ref().map_or(initial, |s| *s.current());
        // A pinned controller replaces the configured one from the start.
        congestion_config.kind = strategy.controller;
        let congestion = congestion_config.build(now, max_datagram)?;
        let streams = StreamsState::new(side, &config.streams);
        let mut lanes = Lanes::new(&config.lanes);
        // A short-header packet (flags, the longest connection ID, a 4-byte packet number,
        // the tag) with room for an ACK frame.
        lanes.set_packet_space(Self::packet_space(
            config.max_datagram_size,
            crate::protect::integrity::TAG_LEN,
        ));
        let batch = strategy
            .batch_bytes
            .map(|b| usize::try_from(b).unwrap_or(usize::MAX));
        lanes.set_strategy(strategy.fec, batch, strategy.compression);
        let datagrams = Datagrams::new(
            config.datagram_send_buffer,
            config.datagram_receive_buffer.unwrap_or(0),
        );
        let spaces = SpaceId::ALL.map(|id| PacketSpace::new(id, config.max_ack_ranges));
        let controller = congestion.kind();
        Ok(Self {
            side,
            phase: Phase::Handshaking,
            remote,
            ids,
            remote_cid_confirmed: false,
            retry_token: Bytes::new(),
            handshake: Handshake::server(TransportParameters::default()),
            handshake_confirmed: false,
            handshake_done_pending: false,
            spaces,
            rtt: RttEstimator::new(config.initial_rtt),
            loss: LossDetection::new(),
            first_rtt_sample: None,
            congestion,
            replaced_capacity_drops: 0,
            delivery: DeliveryRateEstimator::new(),
            estimates: PathEstimator::new(&config.estimators),
            selector,
            // The strategy's datagram size applies once the handshake is confirmed.
            strategy,
            datagram_size: config.max_datagram_size,
            pmtu: MtuDiscovery::new(config.max_datagram_size, config.mtu_discovery),
            queue_cap: None,
            measured_bandwidth: None,
            jitter_allowance: Duration::ZERO,
            last_datagram_queued: None,
            realtime_demand: crate::estimate::RealtimeDemand::default(),
            pacer: Pacer::new(max_datagram),
            rate_limit: config
                .rate_limit
                .map(|limit| TokenBucket::new(limit.bytes_per_second, limit.burst, now)),
            streams,
            lanes,
            datagrams,
            peer_params: None,
            timers: TimerTable::default(),
            events: VecDeque::new(),
            address_validated: false,
            paths: self::migration::Paths::new(path_key),
            cids: self::cids::Cids::new(config.active_connection_id_limit, ids_local),
            packet_dcid: ids_local,
            unvalidated_received: 0,
            unvalidated_sent: 0,
            probes: 0,
            probe_space: SpaceId::Initial,
            close_frame: None,
            close_pending: false,
            close_started: now,
            last_close_sent: None,
            closed_reported: false,
            idle_timeout: (!config.idle_timeout.is_zero()).then_some(config.idle_timeout),
            handshake_timeout: None,
            last_activity: now,
            eliciting_since_receive: false,
            packet_proves_receipt: false,
            last_ack_eliciting_sent: None,
            app_limited: true,
            keys: [None, None, None],
            tag_len: crate::protect::integrity::TAG_LEN,
            tls: None,
            tls_complete: false,
            tls_failure: None,
            key_update: None,
            stats: ConnectionStats {
                packets_sent: 0,
                bytes_sent: 0,
                packets_received: 0,
                bytes_received: 0,
                packets_dropped: 0,
                packets_lost: 0,
                packets_evicted: 0,
                bytes_lost: 0,
                stream_bytes_retransmitted: 0,
                spurious_losses: 0,
                spurious_congestion_events: 0,
                congestion_events: 0,
                capacity_drops: 0,
                pto_count: 0,
                srtt: config.initial_rtt,
                rttvar: config.initial_rtt / 2,
                min_rtt: Duration::ZERO,
                latest_rtt: Duration::ZERO,
                cwnd: 0,
                pacing_rate: 0,
                ssthresh: None,
                bytes_in_flight: 0,
                packets_tracked: 0,
                controller,
                open_streams: 0,
                stream_send_buffered: 0,
                stream_recv_buffered: 0,
                datagrams: DatagramStats::default(),
                stateless_resets_received: 0,
                path: PathEstimates::default(),
                strategy: initial,
                strategy_changes: 0,
                queue_cap: None,
                mtu: MtuStats::default(),
                datagram_size: config.max_datagram_size,
                tls_resumed: false,
                key_updates: 0,
                migrations: 0,
                path_validation_failures: 0,
                ecn: self::ecn::EcnStats::default(),
                cids: CidStats::default(),
            },
            ecn: self::ecn::Ecn::new(config.ecn),
            datagram_ecn: None,
            scratch_acked: Vec::new(),
            scratch_lost: Vec::new(),
            spurious: SpuriousLossDetector::default(),
            config,
        })
    }

    /// The transport parameters this end announces.
    fn local_parameters(&self) -> TransportParameters {
        let limits = self.streams.local_limits();
        TransportParameters {
            original_destination_connection_id: None,
            max_idle_timeout: self.config.idle_timeout,
            max_udp_payload_size: u64::from(self.config.datagram_ceiling()).max(1200),
            initial_max_data: limits.max_data,
            initial_max_stream_data_bidi_local: limits.max_stream_data_bidi_local,
            initial_max_stream_data_bidi_remote: limits.max_stream_data_bidi_remote,
            initial_max_stream_data_uni: limits.max_stream_data_uni,
            initial_max_streams_bidi: limits.max_streams_bidi,
            initial_max_streams_uni: limits.max_streams_uni,
            ack_delay_exponent: self.config.ack_delay_exponent,
            max_ack_delay: self.config.max_ack_delay,
            active_connection_id_limit: self.config.active_connection_id_limit,
            initial_source_connection_id: Some(self.ids.local),
            retry_source_connection_id: None,
            max_datagram_frame_size: self
                .config
                .datagram_receive_buffer
                .map(|_| u64::from(u16::MAX)),
            stateless_reset_token: None,
            max_lanes: self.config.lanes.max_lanes,
            max_lane_message_size: self.config.lanes.max_message_size,
            initial_max_lane_data: self.config.lanes.lane_receive_window,
            initial_max_lanes_data: self.config.lanes.receive_window,
            lane_decompress: self.config.lanes.decompress,
            lane_zstd_dictionary: self
                .config
                .lanes
                .zstd_dictionary
                .as_ref()
                .map_or(0, |d| d.id()),
        }
    }

    // ----- Introspection -----

    /// Which end of the connection this is.
    pub fn side(&self) -> Side {
        self.side
    }

    /// The peer's address.
    pub fn remote_address(&self) -> SocketAddr {
        self.remote
    }

    /// Whether the handshake completed and the connection is not closed.
    pub fn is_connected(&self) -> bool {
        self.phase == Phase::Established
    }

    /// Whether the connection is closed (closing, draining or gone).
    pub fn is_closed(&self) -> bool {
        matches!(
            self.phase,
            Phase::Closing | Phase::Draining | Phase::Drained
        )
    }

    /// Whether the connection's state is gone.
    pub(crate) fn is_drained(&self) -> bool {
        self.phase == Phase::Drained
    }

    /// The connection ID this end chose in the handshake (with routable connection IDs, it
    /// carries this server's ID: see [`crate::lb`]). The peer may address this end with any of
    /// [`local_cids`](Self::local_cids).
    pub fn local_cid(&self) -> ConnectionId {
        self.ids.local
    }

    /// Every connection ID of this end the peer may use now: the handshake's, unless the peer
    /// retired it, and the spares issued with NEW_CONNECTION_ID (each routable like the
    /// handshake's).
    pub fn local_cids(&self) -> impl Iterator<Item = ConnectionId> + '_ {
        self.cids.local_ids()
    }

    /// The connection ID this end addresses the peer with now (it changes when the connection
    /// moves and the peer gave it a spare, RFC 9000 §9.5).
    pub fn remote_cid(&self) -> ConnectionId {
        self.ids.remote
    }

    /// How many fresh connection IDs the endpoint should issue this connection now: once the
    /// handshake is confirmed, up to the smaller of both ends' `active_connection_id_limit`.
    pub(crate) fn cids_wanted(&self) -> usize {
        if !self.handshake_confirmed || self.is_closed() {
            return 0;
        }
        self.peer_params
            .as_ref()
            .map_or(0, |p| self.cids.wanted(p.active_connection_id_limit))
    }

    /// A fresh connection ID from the endpoint, already routed here, with its reset token.
    pub(crate) fn issue_cid(&mut self, id: ConnectionId, token: ResetToken) {
        self.cids.issue(id, token);
    }

    /// Our connection IDs the peer retired since the last call (the endpoint stops routing
    /// them).
    pub(crate) fn take_retired_cids(&mut self, f: impl FnMut(ConnectionId)) {
        self.cids.take_retired_local(f);
    }

    /// The client's original destination connection ID (routes its early Initials).
    /// The destination ID of the client's Initials before it heard from the server: the
    /// Retry's source ID after a Retry, else the client's original choice.
    pub(crate) fn initial_dcid(&self) -> ConnectionId {
        self.ids.retry_scid.unwrap_or(self.ids.original_dcid)
    }

    /// The token with which the peer may reset this connection, once known: the one of the
    /// peer's connection ID in use (the server's handshake ID's comes in its transport
    /// parameters; the others in NEW_CONNECTION_ID).
    pub(crate) fn peer_reset_token(&self) -> Option<ResetToken> {
        self.cids.current_token()
    }

    /// Server: whether the client proved its address (a Retry token, or a packet addressed to
    /// our connection ID).
    #[cfg(feature = "fuzzing")]
    pub(crate) fn is_address_validated(&self) -> bool {
        self.address_validated
    }

    /// Whether the handshake is confirmed (both ends know it completed).
    pub(crate) fn is_handshake_confirmed(&self) -> bool {
        self.handshake_confirmed
    }

    /// A snapshot of the connection's counters and estimates.
    pub fn stats(&self) -> ConnectionStats {
        let mut stats = self.stats.clone();
        stats.srtt = self.rtt.smoothed();
        stats.rttvar = self.rtt.rttvar();
        stats.min_rtt = if self.rtt.has_samples() {
            self.rtt.min()
        } else {
            Duration::ZERO
        };
        stats.latest_rtt = if self.rtt.has_samples() {
            self.rtt.latest()
        } else {
            Duration::ZERO
        };
        stats.cwnd = self.congestion.window();
        stats.pacing_rate = Pacer::rate(
            self.congestion.pacing_rate(),
            stats.cwnd,
            self.rtt.smoothed(),
        );
        stats.ssthresh = self.congestion.ssthresh();
        stats.bytes_in_flight = self.bytes_in_flight();
        stats.packets_tracked = self.spaces.iter().map(|s| s.recovery.sent().len()).sum();
        stats.controller = self.congestion.kind();
        stats.capacity_drops = self
            .replaced_capacity_drops
            .saturating_add(self.congestion.capacity_drops());
        stats.open_streams = self.streams.open_streams();
        stats.stream_send_buffered = self.streams.send_buffered();
        stats.stream_recv_buffered = self.streams.recv_buffered();
        stats.datagrams = self.datagrams.stats();
        stats.path = self.estimates.snapshot();
        stats.strategy = self.strategy;
        stats.queue_cap = self.queue_cap;
        stats.mtu = self.pmtu.stats();
        stats.datagram_size = self.datagram_size;
        stats.ecn = self.ecn.stats();
        stats.cids = self.cids.stats();
        stats
    }

    /// The path's estimates at `now` (bandwidth statistics, jitter and loss rate over windows
    /// ending at `now`; [`stats`](Self::stats) reports them as of the last packet or timer).
    pub fn path_estimates(&self, now: Instant) -> PathEstimates {
        self.estimates.estimates(now)
    }

    /// The quality scores recorded so far (one per
    /// [`EstimatorConfig::quality_interval`](crate::estimate::EstimatorConfig::quality_interval)),
    /// oldest first.
    pub fn quality_history(&self) -> impl ExactSizeIterator<Item = &(Instant, QualityScore)> {
        self.estimates.quality_history()
    }

    /// The next deadline and why (for diagnostics; [`Endpoint::poll_timeout`] is what drivers
    /// use).
    ///
    /// [`Endpoint::poll_timeout`]: crate::endpoint::Endpoint::poll_timeout
    pub fn next_timer(&self) -> Option<(Timer, Instant)> {
        self.timer_deadlines()
            .into_iter()
            .flatten()
            .min_by_key(|(_, at)| *at)
    }

    /// The next time [`handle_timeout`](Self::handle_timeout) must run.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.next_timer().map(|(_, at)| at)
    }

    /// Moves pending events (the connection's own and its streams') into `out`.
    pub(crate) fn drain_events(&mut self, mut out: impl FnMut(Event)) {
        while let Some(event) = self.streams.poll_event() {
            self.events.push_back(Event::Stream(event));
        }
        while let Some(event) = self.lanes.poll_event() {
            self.events.push_back(Event::Lane(event));
        }
        while let Some(event) = self.events.pop_front() {
            out(event);
        }
    }

    fn bytes_in_flight(&self) -> u64 {
        self.spaces
            .iter()
            .map(|s| s.recovery.bytes_in_flight())
            .sum()
    }

    // ----- Streams -----

    fn check_open(&self, id: StreamId) -> Result<(), ClosedStream> {
        if self.is_closed() {
            Err(ClosedStream { id })
        } else {
            Ok(())
        }
    }

    /// Opens a bidirectional stream with `priority` (higher is served first).
    pub fn open_bi(&mut self, priority: i32) -> Result<StreamId, OpenError> {
        self.open(Dir::Bi, priority)
    }

    /// Opens a unidirectional stream with `priority` (higher is served first).
    pub fn open_uni(&mut self, priority: i32) -> Result<StreamId, OpenError> {
        self.open(Dir::Uni, priority)
    }

    fn open(&mut self, dir: Dir, priority: i32) -> Result<StreamId, OpenError> {
        if self.is_closed() {
            return Err(OpenError::ConnectionClosed);
        }
        self.streams.open(dir, priority)
    }

    /// The next bidirectional stream the peer opened, if any.
    pub fn accept_bi(&mut self) -> Option<StreamId> {
        self.streams.accept(Dir::Bi)
    }

    /// The next unidirectional stream the peer opened, if any.
    pub fn accept_uni(&mut self) -> Option<StreamId> {
        self.streams.accept(Dir::Uni)
    }

    /// Copies as much of `data` into the stream's send buffer as it accepts; returns how much.
    /// On a stream the peer stopped, [`WriteError::Stopped`] with the peer's code, also after
    /// the stream's state is released (see [`stopped`](Self::stopped)).
    pub fn write(&mut self, id: StreamId, data: &[u8]) -> Result<usize, WriteError> {
        self.check_open(id)?;
        self.streams.write(id, data)
    }

    /// Like [`write`](Self::write), without copying: the stream keeps (a prefix of) `data`.
    pub fn write_chunk(&mut self, id: StreamId, data: Bytes) -> Result<usize, WriteError> {
        self.check_open(id)?;
        self.streams.write_chunk(id, data)
    }

    /// Ends the stream after the data written so far.
    pub fn finish(&mut self, id: StreamId) -> Result<(), ClosedStream> {
        self.check_open(id)?;
        self.streams.finish(id)
    }

    /// Abandons the stream's sending half with an application error code; data not yet
    /// acknowledged is never retransmitted.
    pub fn reset(&mut self, id: StreamId, error_code: VarInt) -> Result<(), ClosedStream> {
        self.check_open(id)?;
        self.streams.reset(id, error_code)
    }

    /// Reads up to `max_len` bytes in order: `Ok(None)` at the end of the stream, and again on
    /// later calls; a reset keeps its code. Both outlive the stream's state (the connection
    /// remembers how its closed streams ended, within
    /// [`StreamsConfig::closed_stream_ranges`](crate::streams::StreamsConfig::closed_stream_ranges)).
    pub fn read(
        &mut self,
        now: Instant,
        id: StreamId,
        max_len: usize,
    ) -> Result<Option<Bytes>, ReadError> {
        self.streams.read(now, id, max_len)
    }

    /// Asks the peer to stop sending on the stream.
    pub fn stop(&mut self, id: StreamId, error_code: VarInt) -> Result<(), ClosedStream> {
        self.check_open(id)?;
        self.streams.stop(id, error_code)
    }

    /// Changes a stream's priority.
    pub fn set_priority(&mut self, id: StreamId, priority: i32) -> Result<(), ClosedStream> {
        self.streams.set_priority(id, priority)
    }

    /// A stream's state; `None` for a stream never opened. A released stream reads as
    /// [`StreamState::Reset`] if either half was abandoned and the record of closed streams
    /// still holds it, as [`StreamState::Closed`] otherwise.
    pub fn stream_state(&self, id: StreamId) -> Option<StreamState> {
        self.streams.state(id)
    }

    /// The error code of the peer's STOP_SENDING, if the peer stopped our sending on stream
    /// `id` (the application also got [`StreamEvent::Stopped`]). Answered while the stream's
    /// state is held and after it is released, as long as the connection's record of closed
    /// streams holds the stream (bounded by
    /// [`StreamsConfig::closed_stream_ranges`](crate::streams::StreamsConfig::closed_stream_ranges);
    /// streams stopped with one code share one entry). A driver uses it to explain why
    /// [`finish`](Self::finish) or [`reset`](Self::reset) failed.
    pub fn stopped(&self, id: StreamId) -> Option<VarInt> {
        self.streams.stopped(id)
    }

    // ----- Unreliable messages -----

    /// The largest message [`send_datagram`](Self::send_datagram) accepts now, or why none.
    pub fn max_datagram_size(&self) -> Result<usize, SendDatagramError> {
        if self.is_closed() {
            return Err(SendDatagramError::Closed);
        }
        let params = self
            .peer_params
            .as_ref()
            .ok_or(SendDatagramError::NotConnected)?;
        let peer_max = params
            .max_datagram_frame_size
            .ok_or(SendDatagramError::UnsupportedByPeer)?;
        // A short-header packet: flags, the peer's connection ID, a 4-byte packet number, the
        // tag; a MESSAGE frame with the largest channel, sequence, deadline and length fields.
        let packet_room = usize::from(self.datagram_size)
            .saturating_sub(1 + self.ids.remote.len() + 4 + self.tag_len);
        let frame_overhead = 1 + 8 + 8 + 8 + 2;
        let from_packet = packet_room.saturating_sub(frame_overhead);
        let from_peer =
            usize::try_from(peer_max.saturating_sub(frame_overhead as u64)).unwrap_or(usize::MAX);
        Ok(from_packet.min(from_peer))
    }

    /// Queues an unreliable message on `channel`, to be dropped if not sent within `ttl`.
    /// When the queue is full the oldest queued message is dropped.
    pub fn send_datagram(
        &mut self,
        now: Instant,
        channel: u64,
        data: Bytes,
        ttl: Option<Duration>,
    ) -> Result<(), SendDatagramError> {
        let max = self.max_datagram_size()?;
        if data.len() > max {
            return Err(SendDatagramError::TooLarge {
                size: data.len(),
                max,
            });
        }
        // An unreliable message is real-time traffic for the strategy (see `adapt`).
        self.last_datagram_queued = Some(now);
        self.realtime_demand.record(now, data.len() as u64);
        self.datagrams.send(now, channel, data, ttl)
    }

    /// The next unreliable message received that is still fresh.
    pub fn recv_datagram(&mut self, now: Instant) -> Option<Datagram> {
        self.datagrams.recv(now)
    }

    // ----- Congestion control -----

    /// Replaces the congestion controller while the connection runs (the strategy selector does
    /// this when the path changes). The new controller starts from the old one's state — its
    /// window, slow-start threshold, RTT and bandwidth estimates — rather than from scratch.
    pub fn set_congestion_controller(
        &mut self,
        now: Instant,
        config: &crate::congestion::ControllerConfig,
    ) -> Result<(), UnsupportedController> {
        let state = self.congestion.state();
        let controller = config.build_from_state(now, &state)?;
        self.replace_controller(controller);
        Ok(())
    }

    /// Puts `controller` in the old one's place, keeping its count of capacity drops.
    pub(super) fn replace_controller(&mut self, controller: Box<dyn Controller>) {
        self.replaced_capacity_drops = self
            .replaced_capacity_drops
            .saturating_add(self.congestion.capacity_drops());
        self.congestion = controller;
    }

    // ----- Closing -----

    /// Closes the connection with an application error code and reason. The peer is told with a
    /// CONNECTION_CLOSE frame, repeated at growing intervals (and in answer to the peer's
    /// packets) for three probe timeouts; then the connection reports [`Event::Drained`].
    /// Nothing acknowledges a CONNECTION_CLOSE: if every copy is lost the peer learns of the end
    /// from its idle timeout.
    pub fn close(&mut self, now: Instant, error_code: VarInt, reason: &[u8]) {
        if self.is_closed() {
            return;
        }
        let frame = CloseFrame::Application {
            code: error_code,
            reason: Bytes::copy_from_slice(reason),
        };
        self.start_closing(now, frame, ConnectionError::LocallyClosed);
    }
}
