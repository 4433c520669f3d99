//! A client and a server endpoint over a fuzzed network ([`connection_pair`]): the script
//! runner that plays the network and both applications, and the bookkeeping each end keeps of
//! what it wrote, read and sent so that every delivered byte and message can be checked.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use super::{
    FUZZ_CID_LEN, Input, LIVELOCK_NUDGE, MAX_TIMER_ROUNDS, MAX_TRANSMITS_PER_DRAIN, SpinGuard,
    epoch, fuzz_address,
};
use crate::EcnCodepoint;
use crate::config::{EndpointConfig, RetryPolicy, Seed, ServerConfig, TransportConfig};
use crate::connection::{Connection, ConnectionError, Event};
use crate::crypto::Security;
use crate::endpoint::{ConnectionHandle, Endpoint};
use crate::protect::{Crc32cKey, IdentityHeaderKey};
use crate::streams::{ReadError, StreamEvent, StreamId};
use crate::wire::ConnectionId;
use crate::wire::header::{PacketType, PartialDecode};
use crate::wire::packet::open_packet;
use crate::wire::varint::VarInt;

/// The byte at `offset` of a fuzzed stream or message `key`, so that a reader can check every
/// byte without keeping what was sent.
fn fuzz_pattern(key: u64, offset: u64) -> u8 {
    let x = key
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(offset.wrapping_mul(0xBF58_476D_1CE4_E5B9));
    (x ^ (x >> 29) ^ (x >> 47)) as u8
}

/// Most script steps one [`connection_pair`] input runs.
const MAX_STEPS: usize = 512;
/// Stream bytes one input may write in total.
const MAX_WRITTEN: u64 = 256 * 1024;
/// Datagrams a direction of the network holds; beyond it the oldest is dropped.
const MAX_QUEUED: usize = 256;
/// Datagrams asked for per `poll_transmit`: the endpoints hand out GSO batches, which the
/// network splits.
const MAX_BATCH_DATAGRAMS: usize = 4;
/// RFC 9000 §17.1 / CRC-32C: up to three flipped bits in one datagram are always detected.
const MAX_FLIPS: u8 = 3;
/// Rounds of the lossless flush at the end of an input.
const FLUSH_ROUNDS: usize = 20_000;
/// Virtual time the flush may take.
const FLUSH_TIME: Duration = Duration::from_secs(600);

/// What [`connection_pair`] reached, so that tests can check that inputs go deep.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PairReached {
    /// Both ends reported `Connected`.
    pub connected: bool,
    /// Stream bytes read and checked, both ends together.
    pub stream_bytes: u64,
    /// Streams read to their end.
    pub streams_ended: usize,
    /// Unreliable messages received and checked.
    pub messages: usize,
    /// The final lossless flush ran and every finished stream was delivered in full.
    pub flushed: bool,
    /// Timer livelocks seen (and tolerated, outside strict mode).
    pub livelocks: usize,
}

/// One end's record of a stream it sends on.
#[derive(Debug, Default)]
struct Sending {
    written: u64,
    finished: bool,
    reset: Option<VarInt>,
    /// The peer's STOP_SENDING reset the stream.
    stopped: bool,
}

/// One end's record of a stream it receives on.
#[derive(Debug, Default)]
struct Receiving {
    read: u64,
    ended: bool,
    /// This end asked the peer to stop.
    stopped: bool,
}

/// One endpoint of the pair and its application's bookkeeping.
struct Peer {
    endpoint: Endpoint,
    address: SocketAddr,
    /// The connection to the other end (the server's: the one that completed the handshake).
    handle: Option<ConnectionHandle>,
    sending: BTreeMap<StreamId, Sending>,
    receiving: BTreeMap<StreamId, Receiving>,
    /// Channel of every message sent, by message number.
    messages: Vec<u64>,
    received: HashSet<u32>,
    connected: bool,
    closed: Option<ConnectionError>,
    closed_locally: bool,
}

impl Peer {
    fn new(endpoint: Endpoint, address: SocketAddr, handle: Option<ConnectionHandle>) -> Self {
        Self {
            endpoint,
            address,
            handle,
            sending: BTreeMap::new(),
            receiving: BTreeMap::new(),
            messages: Vec::new(),
            received: HashSet::new(),
            connected: false,
            closed: None,
            closed_locally: false,
        }
    }

    fn conn(&mut self) -> Option<&mut Connection> {
        self.endpoint.connection(self.handle?)
    }
}

/// The key of the data `side` writes on stream `id` (the two directions of a bidirectional
/// stream carry different data).
fn stream_key(id: StreamId, writer: usize) -> u64 {
    (id.into_inner() << 1) | writer as u64
}

/// The key of message `number` sent by `side` (apart from every stream key).
fn message_key(number: u32, side: usize) -> u64 {
    (1 << 62) | (u64::from(number) << 1) | side as u64
}

/// A datagram in flight, its ECN codepoint and the bits flipped in it so far.
struct InFlight {
    data: Vec<u8>,
    ecn: Option<EcnCodepoint>,
    flips: u8,
}

/// A client and a server endpoint and the network between them.
struct PairRun {
    now: Instant,
    /// `peers[0]` is the client, `peers[1]` the server.
    peers: [Peer; 2],
    /// `queues[i]`: datagrams from `peers[i]` to the other.
    queues: [VecDeque<InFlight>; 2],
    written: u64,
    /// Datagrams the endpoints sent.
    transmitted: usize,
    spin: SpinGuard,
    strict: bool,
    /// The source connection ID of the first server Initial the client accepted.
    server_scid: Option<ConnectionId>,
    /// The client was handed a server packet with another source connection ID (from a second
    /// server connection that a stale client Initial opened).
    foreign_server_packet: bool,
    /// The server was handed a corrupted long-header datagram from the client.
    corrupted_client_long_header: bool,
    /// A Version Negotiation packet was corrupted on its way to the client.
    corrupted_version_negotiation: bool,
    /// A second server connection completed a handshake (see [`connection_pair`]); the
    /// client's data may go to it.
    ghost_connection: bool,
    /// A server connection timed out (its state is gone while the client may live on).
    server_timed_out: bool,
    /// Whether any server connection closed (only then may the server reset the client).
    server_closed_any: bool,
    reached: PairReached,
}

/// A client and a server endpoint talk in memory; `data` is a script of steps chosen by the
/// fuzzer: advance time; deliver, drop, duplicate, reorder or corrupt the next datagram in
/// either direction; and the applications' actions (open a stream with a priority, write n
/// bytes of a known pattern, finish, reset, stop, read, change a priority, send a message,
/// close). Then the network turns lossless and the endpoints run until everything finished is
/// delivered.
///
/// Oracles: no panic; every byte a reader gets is the pattern's byte at its offset, in order,
/// never more than was written; a stream read to its end was finished and delivered exactly
/// what was written; a reset reported to the reader was the writer's; `Finished` only follows
/// `finish`; every message arrives intact, on its channel, at most once; two weir endpoints never
/// close with a transport error (the network may corrupt, but at most three bits per datagram,
/// which the integrity tag always detects); no timer keeps coming due at the same instant
/// without anything being sent; and at the end, if the connection is up, every
/// stream that was finished, not reset and not stopped is delivered in full within a bounded
/// lossless flush.
///
/// This entry point (and so the `connection_pair` cargo-fuzz target) runs the strict oracle,
/// [`connection_pair_reached`] with `strict`: it excuses none of the bugs below.
///
/// Bugs these bodies found, each pinned by a test in `tests/tests/adversarial/` or
/// `tests/tests/fuzz_bodies.rs`; while they were open the fuzz target ran a lenient oracle
/// (`strict` false, still there to get past a new finding while it is open) that excused them:
/// - the client accepts packets from a server connection other than the one whose source
///   connection ID it fixed (RFC 9000 §7.2 requires discarding them), so a second server
///   connection, opened by a stale client Initial after the first timed out, can close it: a
///   the lenient oracle excuses a client transport error once such a packet reached the
///   client;
/// - the server acts on a client Initial before checking its integrity tag, so a corrupted one
///   opens a connection or earns a Retry under a corrupted connection ID, which later fails the
///   transport-parameter check: the lenient oracle excuses transport errors once the server
///   was handed a corrupted long-header datagram;
/// - with Retry, a stale Initial carrying the token of a server connection that timed out
///   reopens a connection under the same connection ID (the Retry's source ID becomes the
///   connection's own, and an expired but authentic token is accepted); the client cannot tell
///   it from the old one, and it closes on the client's acknowledgements of the old one's
///   packets: the lenient oracle excuses transport errors once a server connection timed out
///   and another was accepted;
/// - a server connection completes its handshake on a packet addressed to the client-chosen
///   original destination connection ID, which proves nothing, so those stale Initials also
///   open "connected" ghost connections: the lenient oracle then skips the final delivery
///   check;
/// - a probe timer livelock (see [`endpoint_datagrams`](super::endpoint_datagrams)): the
///   lenient oracle moves the clock on.
pub fn connection_pair(data: &[u8]) {
    connection_pair_reached(data, true);
}

/// [`connection_pair`], reporting how far the input got; with `strict` false (the lenient
/// oracle) it excuses the bugs listed there, so that fuzzing can get past one that is open.
pub fn connection_pair_reached(data: &[u8], strict: bool) -> PairReached {
    let mut input = Input(data);
    let flags = input.u8();
    let Some(mut run) = PairRun::new(flags, strict) else {
        return PairReached::default();
    };
    for _ in 0..MAX_STEPS {
        let Some(op) = input.byte() else {
            break;
        };
        run.step(op, &mut input);
        run.collect();
    }
    run.finish();
    run.reached
}

fn pair_config(flags: u8) -> TransportConfig {
    let small = flags & 0x02 != 0;
    let mut streams = crate::streams::StreamsConfig::default();
    if small {
        streams.max_concurrent_bidi = 4;
        streams.max_concurrent_uni = 4;
        streams.stream_receive_window = 4096;
        streams.receive_window = 8192;
        streams.max_fragments_per_stream = 64;
        streams.stream_send_buffer = 16 * 1024;
        streams.send_buffer = 32 * 1024;
    }
    TransportConfig {
        streams,
        max_ack_ranges: if flags & 0x04 != 0 { 4 } else { 256 },
        max_tracked_packets: if small {
            crate::config::MIN_TRACKED_PACKETS
        } else {
            TransportConfig::default().max_tracked_packets
        },
        datagram_receive_buffer: (flags & 0x08 == 0).then_some(16 * 1024),
        keep_alive_interval: (flags & 0x10 != 0).then_some(Duration::from_secs(5)),
        key_update_interval: (flags & 0x20 != 0).then_some(16),
        ..TransportConfig::default()
    }
}

/// The process's shared TLS configurations ([`crate::crypto`]'s test fixture). TLS draws its
/// own randomness (key shares, nonces), so an input's bytes on the wire vary from run to run;
/// their sizes and what the harness does with them do not.
pub(super) fn tls_configs() -> (crate::crypto::TlsConfig, crate::crypto::TlsConfig) {
    match crate::crypto::shared_test_tls() {
        Some(configs) => configs,
        None => unreachable!("a self-signed identity and its TLS configurations always build"),
    }
}

impl PairRun {
    fn new(flags: u8, strict: bool) -> Option<Self> {
        let now = epoch();
        let transport = pair_config(flags);
        // Flag 0x20: TLS 1.3 with a key update every 16 packets (the encrypted receive path),
        // else the integrity-only protection.
        let (server_security, client_security) = if flags & 0x20 != 0 {
            let (server, client) = tls_configs();
            (Some(Security::Tls(server)), Some(Security::Tls(client)))
        } else {
            (
                Some(Security::InsecureIntegrityOnly),
                Some(Security::InsecureIntegrityOnly),
            )
        };
        let server = Endpoint::new(
            now,
            EndpointConfig {
                seed: Seed::Fixed(u64::from(flags) << 1),
                security: server_security,
                ..EndpointConfig::default()
            },
            Some(ServerConfig::new(
                transport.clone(),
                if flags & 0x01 != 0 {
                    RetryPolicy::Always
                } else {
                    RetryPolicy::Never
                },
            )),
        )
        .ok()?;
        let mut client = Endpoint::new(
            now,
            EndpointConfig {
                seed: Seed::Fixed(u64::from(flags) << 1 | 1),
                security: client_security,
                ..EndpointConfig::default()
            },
            None,
        )
        .ok()?;
        client.set_client_config(transport).ok()?;
        let server_address = fuzz_address(1);
        let handle = client.connect(now, server_address).ok()?;
        let mut run = Self {
            now,
            peers: [
                Peer::new(client, fuzz_address(0), Some(handle)),
                Peer::new(server, server_address, None),
            ],
            queues: [VecDeque::new(), VecDeque::new()],
            written: 0,
            transmitted: 0,
            spin: SpinGuard::default(),
            strict,
            server_scid: None,
            foreign_server_packet: false,
            corrupted_client_long_header: false,
            corrupted_version_negotiation: false,
            ghost_connection: false,
            server_timed_out: false,
            server_closed_any: false,
            reached: PairReached::default(),
        };
        run.collect();
        Some(run)
    }

    /// One script step.
    fn step(&mut self, op: u8, input: &mut Input<'_>) {
        let side = usize::from(op >> 7);
        match op & 0x0f {
            0 => {
                let a = u64::from(input.u8());
                self.advance(Duration::from_millis(a * a / 2));
            }
            1 => {
                // The op's spare bits re-mark the codepoint as a queue or a middlebox might
                // (ECT(1), ECT(0), CE), or leave it as sent.
                let mark = EcnCodepoint::from_bits(op >> 4);
                if let Some(front) = self.queues[side].front_mut()
                    && mark.is_some()
                {
                    front.ecn = mark;
                }
                self.deliver(side);
            }
            2 => {
                self.queues[side].pop_front();
            }
            3 => {
                // Duplicate: a copy arrives now, the original stays queued.
                if let Some(front) = self.queues[side].front() {
                    let (copy, ecn, flips) = (front.data.clone(), front.ecn, front.flips);
                    self.hand_over(side, copy, ecn, flips);
                }
            }
            4 => {
                if let Some(front) = self.queues[side].pop_front() {
                    self.queues[side].push_back(front);
                }
            }
            5 => {
                let bit = usize::from(input.u8()) << 8 | usize::from(input.u8());
                if let Some(front) = self.queues[side].front_mut()
                    && front.flips < MAX_FLIPS
                    && !front.data.is_empty()
                {
                    let bit = bit % (front.data.len() * 8);
                    if let Some(byte) = front.data.get_mut(bit / 8) {
                        *byte ^= 1 << (bit % 8);
                        front.flips += 1;
                    }
                }
            }
            6 => {
                for _ in 0..MAX_QUEUED {
                    if self.queues[0].is_empty() && self.queues[1].is_empty() {
                        break;
                    }
                    self.deliver(0);
                    self.deliver(1);
                }
            }
            7 => {
                let (bi, priority) = (input.u8() & 1 != 0, i32::from(input.u8() as i8));
                self.open(side, bi, priority);
            }
            8 => {
                let (sel, len) = (input.u8(), usize::from(input.u8()) * 64);
                self.write(side, sel, len);
            }
            9 => {
                let sel = input.u8();
                let peer = &mut self.peers[side];
                if let Some(id) = nth_key(&peer.sending, sel)
                    && let Some(conn) = peer.conn()
                    && conn.finish(id).is_ok()
                    && let Some(s) = peer.sending.get_mut(&id)
                {
                    s.finished = true;
                }
            }
            10 => {
                let (sel, code) = (input.u8(), VarInt::from_u32(u32::from(input.u8())));
                let peer = &mut self.peers[side];
                if let Some(id) = nth_key(&peer.sending, sel)
                    && let Some(conn) = peer.conn()
                    && conn.reset(id, code).is_ok()
                    && let Some(s) = peer.sending.get_mut(&id)
                {
                    s.reset.get_or_insert(code);
                }
            }
            11 => {
                let (sel, code) = (input.u8(), VarInt::from_u32(u32::from(input.u8())));
                let peer = &mut self.peers[side];
                if let Some(id) = nth_key(&peer.receiving, sel)
                    && let Some(conn) = peer.conn()
                    && conn.stop(id, code).is_ok()
                    && let Some(r) = peer.receiving.get_mut(&id)
                {
                    r.stopped = true;
                }
            }
            12 => {
                let (sel, max) = (input.u8(), usize::from(input.u8()) * 16);
                if let Some(id) = nth_key(&self.peers[side].receiving, sel) {
                    self.read(side, id, if max == 0 { usize::MAX } else { max });
                }
            }
            13 => {
                let (sel, priority) = (input.u8(), i32::from(input.u8() as i8));
                let peer = &mut self.peers[side];
                if let Some(id) = nth_key(&peer.sending, sel)
                    && let Some(conn) = peer.conn()
                {
                    let _ = conn.set_priority(id, priority);
                }
            }
            14 => {
                let (channel, len) = (u64::from(input.u8() & 0x07), usize::from(input.u8()) * 4);
                self.send_message(side, channel, len);
            }
            _ => {
                if input.u8() == 0xc1 {
                    let now = self.now;
                    let peer = &mut self.peers[side];
                    if let Some(conn) = peer.conn() {
                        conn.close(now, VarInt::from_u32(7), b"fuzz");
                        peer.closed_locally = true;
                    }
                }
            }
        }
    }

    /// Fires the timers due within `d`, collecting what the endpoints send, then moves the
    /// clock.
    fn advance(&mut self, d: Duration) {
        let target = self.now + d;
        for _ in 0..MAX_TIMER_ROUNDS {
            let next = self
                .peers
                .iter_mut()
                .filter_map(|p| p.endpoint.poll_timeout())
                .min();
            match next {
                Some(at) if at <= target => self.fire(at),
                _ => break,
            }
        }
        self.fire(target);
    }

    fn fire(&mut self, at: Instant) {
        self.now = self.now.max(at);
        let before = self.transmitted;
        for peer in &mut self.peers {
            peer.endpoint.handle_timeout(self.now);
        }
        self.collect();
        let next = self
            .peers
            .iter_mut()
            .filter_map(|p| p.endpoint.poll_timeout())
            .min();
        if self.spin.fired(self.now, next, self.transmitted > before) {
            assert!(
                !self.strict,
                "livelock: a timer keeps coming due at the same instant and nothing is sent"
            );
            self.reached.livelocks += 1;
            self.now += LIVELOCK_NUDGE;
        }
    }

    /// Delivers the next datagram from `peers[from]`.
    fn deliver(&mut self, from: usize) {
        if let Some(datagram) = self.queues[from].pop_front() {
            self.hand_over(from, datagram.data, datagram.ecn, datagram.flips);
        }
    }

    fn hand_over(&mut self, from: usize, datagram: Vec<u8>, ecn: Option<EcnCodepoint>, flips: u8) {
        if from == 1 {
            self.watch_server_scid(&datagram);
            // Version Negotiation carries no integrity tag (RFC 8999 fixes its form): corrupted
            // on the path, it can list versions the server never named.
            if flips > 0
                && datagram.first().is_some_and(|b| b & 0x80 != 0)
                && datagram.get(1..5) == Some(&[0; 4])
            {
                self.corrupted_version_negotiation = true;
            }
        } else if flips > 0 && datagram.first().is_some_and(|b| b & 0x80 != 0) {
            self.corrupted_client_long_header = true;
        }
        let source = self.peers[from].address;
        self.peers[1 - from].endpoint.handle_datagram(
            self.now,
            source,
            ecn,
            BytesMut::from(&datagram[..]),
        );
        self.collect();
    }

    /// Notes the source connection IDs of the server's long-header packets that the client
    /// will accept (they open).
    fn watch_server_scid(&mut self, datagram: &[u8]) {
        let mut rest = Some(BytesMut::from(datagram));
        while let Some(data) = rest.take() {
            let Ok((partial, next)) = PartialDecode::new(data, FUZZ_CID_LEN) else {
                break;
            };
            rest = next;
            let initial = partial.packet_type() == PacketType::Initial;
            let Some(scid) = partial.scid().copied() else {
                continue;
            };
            if open_packet(partial, Some(&IdentityHeaderKey), &Crc32cKey, None).is_err() {
                continue;
            }
            match self.server_scid {
                None if initial => self.server_scid = Some(scid),
                Some(first) if first != scid => self.foreign_server_packet = true,
                _ => {}
            }
        }
    }

    /// Drains both endpoints: datagrams into the network, events into the applications.
    fn collect(&mut self) {
        for i in 0..2 {
            let mut buf = Vec::new();
            let mut count = 0;
            // GSO batches, split into their datagrams as the network would.
            while let Some(t) =
                self.peers[i]
                    .endpoint
                    .poll_transmit(self.now, MAX_BATCH_DATAGRAMS, &mut buf)
            {
                count += 1;
                assert!(
                    count <= MAX_TRANSMITS_PER_DRAIN,
                    "poll_transmit never ran dry"
                );
                assert_eq!(t.size, buf.len(), "Transmit::size is what was written");
                assert_eq!(t.destination, self.peers[1 - i].address, "sent to the peer");
                assert!(
                    t.datagram_count() <= MAX_BATCH_DATAGRAMS,
                    "batch within its limit"
                );
                if let Some(segment) = t.segment_size {
                    assert!(t.datagram_count() > 1 && segment <= t.size, "a real batch");
                }
                for segment in t.segments() {
                    self.transmitted += 1;
                    let queue = &mut self.queues[i];
                    if queue.len() >= MAX_QUEUED {
                        queue.pop_front();
                    }
                    queue.push_back(InFlight {
                        data: buf[segment].to_vec(),
                        ecn: t.ecn,
                        flips: 0,
                    });
                }
                buf.clear();
            }
            self.events(i);
        }
    }

    fn events(&mut self, i: usize) {
        while let Some((handle, event)) = self.peers[i].endpoint.poll_event() {
            if i == 1 && matches!(event, Event::Closed(ConnectionError::TimedOut(_))) {
                self.server_timed_out = true;
            }
            if i == 1 && matches!(event, Event::Closed(_)) {
                self.server_closed_any = true;
            }
            let peer = &mut self.peers[i];
            if peer.handle.is_none() && event == Event::Connected {
                peer.handle = Some(handle);
            }
            if peer.handle != Some(handle) {
                // Another of the server's connections: only a stale Initial of the client can
                // open one (a late duplicate, one whose connection ID was corrupted, or one sent
                // after the first connection timed out), and it must never complete a
                // handshake: the client never saw its packets.
                if event == Event::Connected {
                    assert!(
                        !self.strict,
                        "a second server connection completed a handshake"
                    );
                    self.ghost_connection = true;
                }
                continue;
            }
            match event {
                Event::Connected => {
                    peer.connected = true;
                    self.reached.connected = self.peers.iter().all(|p| p.connected);
                }
                Event::Stream(StreamEvent::Opened { .. }) => self.accept(i),
                Event::Stream(StreamEvent::Stopped { id, .. }) => {
                    if let Some(s) = peer.sending.get_mut(&id) {
                        s.stopped = true;
                    }
                }
                Event::Stream(StreamEvent::Finished { id }) => {
                    let finished = peer.sending.get(&id).is_some_and(|s| s.finished);
                    assert!(finished, "Finished for {id}, which was never finished");
                }
                Event::DatagramReceived => self.receive_messages(i),
                // The pair's application does not use lanes (the `lanes` body does).
                Event::Lane(_) => {}
                // A client that moved (flag `MOVE`): the server follows it.
                Event::PathChanged { .. } => {}
                // Reported before the server's connection is known as the pair's (above).
                Event::Incoming { .. } => {}
                Event::Closed(error) => {
                    let benign = match &error {
                        ConnectionError::LocallyClosed => peer.closed_locally,
                        ConnectionError::ApplicationClosed { .. } => {
                            self.peers[1 - i].closed_locally
                        }
                        ConnectionError::TimedOut(_) => true,
                        ConnectionError::PeerTransportError { .. }
                        | ConnectionError::TransportError(_) => {
                            let resurrected = self.server_timed_out
                                && self.peers[1].endpoint.stats().connections_accepted > 1;
                            !self.strict
                                && ((i == 0 && self.foreign_server_packet)
                                    || self.corrupted_client_long_header
                                    || resurrected)
                        }
                        // The server forgets a connection only after it closed it (the client
                        // may still address one that never completed its handshake).
                        ConnectionError::Reset => i == 0 && self.server_closed_any,
                        // Over the fuzzed network a handshake may take longer than the limit.
                        ConnectionError::HandshakeTimedOut(_) => i == 1,
                        // Only a Version Negotiation packet corrupted on the path can name no
                        // version of the client's: the server speaks them all.
                        // The fuzzed pair runs without TLS.
                        ConnectionError::Tls(_) => false,
                        ConnectionError::VersionMismatch => {
                            i == 0 && self.corrupted_version_negotiation
                        }
                    };
                    assert!(benign, "side {i} closed with {error}");
                    self.peers[i].closed = Some(error);
                }
                Event::Stream(_) | Event::Drained | Event::StrategyChanged(_) => {}
            }
        }
    }

    fn accept(&mut self, i: usize) {
        let peer = &mut self.peers[i];
        let Some(handle) = peer.handle else {
            return;
        };
        let Some(conn) = peer.endpoint.connection(handle) else {
            return;
        };
        while let Some(id) = conn.accept_bi() {
            peer.receiving.entry(id).or_default();
            peer.sending.entry(id).or_default();
        }
        while let Some(id) = conn.accept_uni() {
            peer.receiving.entry(id).or_default();
        }
    }

    fn open(&mut self, i: usize, bi: bool, priority: i32) {
        let peer = &mut self.peers[i];
        let Some(conn) = peer.conn() else {
            return;
        };
        let opened = if bi {
            conn.open_bi(priority)
        } else {
            conn.open_uni(priority)
        };
        if let Ok(id) = opened {
            peer.sending.entry(id).or_default();
            if bi {
                peer.receiving.entry(id).or_default();
            }
        }
    }

    fn write(&mut self, i: usize, sel: u8, len: usize) {
        let len = len.min(usize::try_from(MAX_WRITTEN - self.written).unwrap_or(0));
        let peer = &mut self.peers[i];
        let Some(id) = nth_key(&peer.sending, sel) else {
            return;
        };
        let Some(from) = peer.sending.get(&id).map(|s| s.written) else {
            return;
        };
        let data: Vec<u8> = (from..from + len as u64)
            .map(|offset| fuzz_pattern(stream_key(id, i), offset))
            .collect();
        let Some(conn) = peer.conn() else {
            return;
        };
        if let Ok(n) = conn.write(id, &data) {
            assert!(n <= len, "wrote {n} of {len} bytes");
            if let Some(s) = peer.sending.get_mut(&id) {
                s.written += n as u64;
            }
            self.written += n as u64;
        }
    }

    /// One read of stream `id` at `peers[i]`, checked against what the other end wrote.
    fn read(&mut self, i: usize, id: StreamId, max: usize) -> bool {
        let now = self.now;
        let [a, b] = &mut self.peers;
        let (reader, writer) = if i == 0 { (a, b) } else { (b, a) };
        let Some(handle) = reader.handle else {
            return false;
        };
        let Some(conn) = reader.endpoint.connection(handle) else {
            return false;
        };
        let Some(r) = reader.receiving.get_mut(&id) else {
            return false;
        };
        let w = writer.sending.get(&id);
        match conn.read(now, id, max) {
            Ok(Some(chunk)) => {
                let key = stream_key(id, 1 - i);
                for (k, byte) in chunk.iter().enumerate() {
                    let offset = r.read + k as u64;
                    assert_eq!(*byte, fuzz_pattern(key, offset), "{id} byte {offset}");
                }
                r.read += chunk.len() as u64;
                let written = w.map_or(0, |w| w.written);
                assert!(
                    r.read <= written,
                    "{id}: read {} of {written} written",
                    r.read
                );
                self.reached.stream_bytes += chunk.len() as u64;
                !chunk.is_empty()
            }
            Ok(None) => {
                if !r.ended {
                    let (finished, written) = w.map_or((false, 0), |w| (w.finished, w.written));
                    assert!(finished, "{id} ended but was never finished");
                    assert_eq!(r.read, written, "{id} ended after {} of {written}", r.read);
                    r.ended = true;
                    self.reached.streams_ended += 1;
                }
                false
            }
            Err(ReadError::Reset(code)) => {
                let by_writer = w.is_some_and(|w| w.reset == Some(code) || w.stopped);
                assert!(
                    by_writer,
                    "{id} reported reset {code} the writer never sent"
                );
                false
            }
            Err(ReadError::Blocked | ReadError::ClosedStream(_)) => false,
        }
    }

    fn send_message(&mut self, i: usize, channel: u64, len: usize) {
        let now = self.now;
        let peer = &mut self.peers[i];
        let number = peer.messages.len() as u32;
        let mut data = vec![i as u8];
        data.extend_from_slice(&number.to_be_bytes());
        let key = message_key(number, i);
        data.extend((0..len as u64).map(|k| fuzz_pattern(key, k)));
        let Some(conn) = peer.conn() else {
            return;
        };
        if conn
            .send_datagram(now, channel, Bytes::from(data), None)
            .is_ok()
        {
            peer.messages.push(channel);
        }
    }

    fn receive_messages(&mut self, i: usize) {
        let now = self.now;
        let [a, b] = &mut self.peers;
        let (receiver, sender) = if i == 0 { (a, b) } else { (b, a) };
        let Some(handle) = receiver.handle else {
            return;
        };
        let Some(conn) = receiver.endpoint.connection(handle) else {
            return;
        };
        while let Some(message) = conn.recv_datagram(now) {
            let data = &message.data;
            assert!(data.len() >= 5, "message of {} bytes", data.len());
            assert_eq!(usize::from(data[0]), 1 - i, "message from the wrong side");
            let number = u32::from_be_bytes([data[1], data[2], data[3], data[4]]);
            let channel = sender.messages.get(number as usize).copied();
            assert_eq!(channel, Some(message.channel), "message {number}: channel");
            assert!(receiver.received.insert(number), "message {number} twice");
            let key = message_key(number, 1 - i);
            for (k, byte) in data[5..].iter().enumerate() {
                assert_eq!(
                    *byte,
                    fuzz_pattern(key, k as u64),
                    "message {number} byte {k}"
                );
            }
            self.reached.messages += 1;
        }
    }

    /// Reads everything readable at both ends.
    fn read_everything(&mut self) -> bool {
        let mut any = false;
        for i in 0..2 {
            self.accept(i);
            let ids: Vec<StreamId> = self.peers[i]
                .receiving
                .iter()
                .filter(|(_, r)| !r.ended && !r.stopped)
                .map(|(id, _)| *id)
                .collect();
            for id in ids {
                while self.read(i, id, usize::MAX) {
                    any = true;
                }
            }
            self.receive_messages(i);
        }
        any
    }

    /// Whether every stream that was finished, not reset and not stopped was read to its end.
    fn all_delivered(&self) -> bool {
        (0..2).all(|i| {
            let receiver = &self.peers[1 - i];
            self.peers[i].sending.iter().all(|(id, s)| {
                let r = receiver.receiving.get(id);
                let wanted =
                    s.finished && s.reset.is_none() && !s.stopped && !r.is_some_and(|r| r.stopped);
                !wanted || r.is_some_and(|r| r.ended && r.read == s.written)
            })
        })
    }

    fn usable(&self) -> bool {
        !self.ghost_connection
            && self
                .peers
                .iter()
                .all(|p| p.connected && p.closed.is_none() && !p.closed_locally)
    }

    /// The network turns lossless; the endpoints run (time jumping to their timers) until every
    /// finished stream is delivered, within a bound.
    fn finish(&mut self) {
        let deadline = self.now + FLUSH_TIME;
        for _ in 0..FLUSH_ROUNDS {
            if self.usable() && self.all_delivered() {
                break;
            }
            if self
                .peers
                .iter()
                .any(|p| p.closed.is_some() || p.closed_locally)
            {
                return;
            }
            let mut moved = false;
            for from in 0..2 {
                while let Some(datagram) = self.queues[from].pop_front() {
                    self.hand_over(from, datagram.data, datagram.ecn, datagram.flips);
                    moved = true;
                }
            }
            moved |= self.read_everything();
            self.collect();
            if moved || self.queues.iter().any(|q| !q.is_empty()) {
                continue;
            }
            let next = self
                .peers
                .iter_mut()
                .filter_map(|p| p.endpoint.poll_timeout())
                .min();
            match next {
                Some(at) if at <= deadline => self.fire(at),
                _ => break,
            }
        }
        if !self.usable() {
            return;
        }
        let undelivered: Vec<String> = (0..2)
            .flat_map(|i| {
                let receiver = &self.peers[1 - i];
                self.peers[i].sending.iter().filter_map(move |(id, s)| {
                    let r = receiver.receiving.get(id);
                    let wanted = s.finished
                        && s.reset.is_none()
                        && !s.stopped
                        && !r.is_some_and(|r| r.stopped);
                    let done = r.is_some_and(|r| r.ended && r.read == s.written);
                    (wanted && !done).then(|| {
                        format!(
                            "side {i} {id}: wrote {}, read {:?}",
                            s.written,
                            r.map(|r| r.read)
                        )
                    })
                })
            })
            .collect();
        assert!(
            undelivered.is_empty(),
            "finished streams not delivered after a lossless flush: {undelivered:?}"
        );
        self.reached.flushed = true;
    }
}

/// The `sel`-th key of `map` (modulo its size).
fn nth_key<V>(map: &BTreeMap<StreamId, V>, sel: u8) -> Option<StreamId> {
    if map.is_empty() {
        return None;
    }
    map.keys().nth(usize::from(sel) % map.len()).copied()
}
