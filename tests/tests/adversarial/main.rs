//! Adversarial peers (DESIGN.md §2: every limit is configurable and enforced; §3: the protocol's
//! rules). A real weir client completes the handshake with a real server, in memory; then the
//! test turns malicious: it learns the server's connection ID from the client's own short-header
//! packets (they are only integrity-protected, so anyone on the path can read them), builds its
//! own packets with packet numbers far above the client's, and feeds them to the server from the
//! client's address. Each test names the rule it checks and asserts the error code the server
//! closes with, the CONNECTION_CLOSE it sends (which the real client reports), and that the
//! server's state stays within its configured limits.
//!
//! The Initial floods need no handshake: spoofed Initials go straight to a server endpoint
//! (`initials`), and a property test checks the anti-amplification limit against a client whose
//! return path is dead (`amplification`). The garbage flood (`packets`) hits an established
//! connection.
//!
//! This file holds what every test module shares: the in-memory `Pair` with an attacker on the
//! client's path, the packet builders, and real clients' first Initials for the floods.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use weir_core::config::{EndpointConfig, Seed, ServerConfig, TransportConfig};
use weir_core::connection::{ConnectionError, ConnectionStats, Event};
use weir_core::endpoint::{ConnectionHandle, Endpoint};
use weir_core::protect::integrity::TAG_LEN;
use weir_core::protect::{Crc32cKey, IdentityHeaderKey};
use weir_core::streams::{Dir, ReadError, Side, StreamEvent, StreamId, StreamsConfig};
use weir_core::wire::frame::{ConnectionClose, StreamFrame};
use weir_core::wire::{
    ConnectionId, Frame, FrameType, Header, PacketBuilder, PacketNumber, PacketType, PartialDecode,
    VERSION_1, VarInt, open_packet,
};
use weir_core::{TransportError, TransportErrorCode};
use weir_tests::{addr, epoch, pattern};

mod amplification;
mod cids;
mod hardening;
mod initials;
mod migration;
mod packets;
mod streams;

/// Both endpoints issue connection IDs of the default length.
const CID_LEN: usize = 8;
/// The attacker's first packet number: above anything the real client used, and large enough
/// that `PacketNumber::new(pn, None)` writes it in 4 bytes.
const ATTACK_PN: u64 = 1 << 24;

fn client_addr() -> SocketAddr {
    addr(1)
}

fn server_addr() -> SocketAddr {
    addr(2)
}

/// A small deterministic generator (SplitMix64), for garbage.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

fn var(x: u64) -> VarInt {
    VarInt::from_u64(x).expect("test values are varints")
}

fn encode(frames: &[Frame]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in frames {
        f.encode(&mut out);
    }
    out
}

fn stream(id: u64, offset: u64, data: &[u8], fin: bool) -> Frame {
    Frame::Stream(StreamFrame {
        id: var(id),
        offset: var(offset),
        fin,
        data: Bytes::copy_from_slice(data),
    })
}

fn client_stream(dir: Dir, index: u64) -> u64 {
    StreamId::new(Side::Client, dir, index)
        .expect("small index")
        .into_inner()
}

/// A short-header packet to `dcid` with `payload` as its frames, sealed with the integrity tag.
fn short_packet(dcid: ConnectionId, pn: u64, number: PacketNumber, payload: &[u8]) -> Vec<u8> {
    let header = Header::Short {
        spin: false,
        key_phase: false,
        dcid,
        number,
    };
    let mut buf = Vec::new();
    let mut builder =
        PacketBuilder::new(&mut buf, &header, pn, usize::from(u16::MAX), TAG_LEN).expect("header");
    builder.buf().extend_from_slice(payload);
    builder
        .finish(&Crc32cKey, &IdentityHeaderKey)
        .expect("sealed");
    buf
}

/// An Initial packet padded to a 1200-byte datagram.
fn initial_packet(dcid: ConnectionId, scid: ConnectionId, token: Bytes, frames: &[u8]) -> Vec<u8> {
    let header = Header::Initial {
        version: VERSION_1,
        dcid,
        scid,
        token,
        number: PacketNumber::new(0, None),
    };
    let mut buf = Vec::new();
    let mut builder = PacketBuilder::new(&mut buf, &header, 0, 1200, TAG_LEN).expect("header");
    builder.buf().extend_from_slice(frames);
    builder.pad_to(1200);
    builder
        .finish(&Crc32cKey, &IdentityHeaderKey)
        .expect("sealed");
    buf
}

/// The short-header packets of a datagram, opened: (packet number, frames). `largest` is the
/// largest packet number seen so far in that direction; it is updated.
fn open_short(datagram: &[u8], largest: &mut Option<u64>) -> Vec<(u64, ConnectionId, Vec<Frame>)> {
    let mut out = Vec::new();
    let mut rest = Some(BytesMut::from(datagram));
    while let Some(data) = rest.take() {
        let Ok((partial, next)) = PartialDecode::new(data, CID_LEN) else {
            break;
        };
        rest = next;
        if partial.packet_type() != PacketType::Short {
            continue;
        }
        let dcid = *partial.dcid();
        let Ok(packet) = open_packet(partial, Some(&IdentityHeaderKey), &Crc32cKey, *largest)
        else {
            continue;
        };
        *largest = Some(largest.map_or(packet.number, |l| l.max(packet.number)));
        let frames = packet.frames().map_while(Result::ok).collect();
        out.push((packet.number, dcid, frames));
    }
    out
}

/// What the test lets through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// The two endpoints talk.
    Normal,
    /// The client is cut off: what the server sends is captured, what the client sends is lost.
    Attack,
}

/// A datagram the server sent while the client was cut off, with its short packets' frames.
struct Captured {
    datagram: Vec<u8>,
    frames: Vec<Frame>,
}

/// A client and a server in memory, and an attacker on the client's path.
struct Pair {
    now: Instant,
    client: Endpoint,
    server: Endpoint,
    client_handle: ConnectionHandle,
    server_handle: Option<ConnectionHandle>,
    client_events: Vec<Event>,
    server_events: Vec<Event>,
    /// Learned from the destination connection ID of the client's short packets.
    server_cid: Option<ConnectionId>,
    client_largest_pn: Option<u64>,
    server_largest_pn: Option<u64>,
    /// The client's last short-header datagram (already processed by the server).
    last_client_short: Option<Vec<u8>>,
    mode: Mode,
    captured: Vec<Captured>,
    next_attack_pn: u64,
    /// Whether the server application reads its streams (the attack tests keep it from reading,
    /// so that no flow-control credit moves).
    server_reads: bool,
    /// Bytes each application read, per stream, checked against [`pattern`].
    client_read: HashMap<StreamId, (u64, bool)>,
    server_read: HashMap<StreamId, (u64, bool)>,
}

impl Pair {
    /// Completes the handshake between a default client and a server with `transport`.
    fn new(transport: TransportConfig, retry: bool) -> Self {
        let t0 = epoch();
        let server = Endpoint::new(
            t0,
            EndpointConfig {
                seed: Seed::Fixed(11),
                ..EndpointConfig::insecure_fixed(0)
            },
            Some(ServerConfig::new(
                transport,
                weir_tests::retry_policy(retry),
            )),
        )
        .expect("server endpoint");
        let mut client = Endpoint::new(
            t0,
            EndpointConfig {
                seed: Seed::Fixed(12),
                ..EndpointConfig::insecure_fixed(0)
            },
            None,
        )
        .expect("client endpoint");
        let client_handle = client.connect(t0, server_addr()).expect("connect");
        let mut pair = Self {
            now: t0,
            client,
            server,
            client_handle,
            server_handle: None,
            client_events: Vec::new(),
            server_events: Vec::new(),
            server_cid: None,
            client_largest_pn: None,
            server_largest_pn: None,
            last_client_short: None,
            mode: Mode::Normal,
            captured: Vec::new(),
            next_attack_pn: ATTACK_PN,
            server_reads: false,
            client_read: HashMap::new(),
            server_read: HashMap::new(),
        };
        for _ in 0..1000 {
            if pair.client_events.contains(&Event::Connected)
                && pair.server_events.contains(&Event::Connected)
            {
                break;
            }
            pair.advance(Duration::from_millis(1));
        }
        assert!(
            pair.client_events.contains(&Event::Connected),
            "client connected"
        );
        assert!(
            pair.server_events.contains(&Event::Connected),
            "server connected"
        );
        // The client acknowledges HANDSHAKE_DONE in a short packet; delayed ACKs settle.
        pair.advance(Duration::from_millis(200));
        assert!(pair.server_cid.is_some(), "the client sent a short packet");
        assert_eq!(pair.server.connection_count(), 1);
        pair
    }

    fn observe_client(&mut self, datagram: &[u8]) {
        let packets = open_short(datagram, &mut self.client_largest_pn);
        if let Some((_, dcid, _)) = packets.first() {
            self.server_cid = Some(*dcid);
            self.last_client_short = Some(datagram.to_vec());
        }
    }

    fn observe_server(&mut self, datagram: &[u8]) -> Vec<Frame> {
        open_short(datagram, &mut self.server_largest_pn)
            .into_iter()
            .flat_map(|(_, _, frames)| frames)
            .collect()
    }

    /// Moves datagrams both ways (as the mode allows) and handles events, until quiet.
    fn pump(&mut self) {
        let mut buf = Vec::new();
        for _ in 0..100_000 {
            let mut moved = false;
            while let Some(t) = self.client.poll_transmit(self.now, 1, &mut buf) {
                let datagram = buf[..t.size].to_vec();
                buf.clear();
                moved = true;
                if self.mode == Mode::Normal {
                    self.observe_client(&datagram);
                    // The path carries the ECN codepoint, so both ends validate ECN.
                    self.server.handle_datagram(
                        self.now,
                        client_addr(),
                        t.ecn,
                        BytesMut::from(&datagram[..]),
                    );
                }
            }
            while let Some(t) = self.server.poll_transmit(self.now, 1, &mut buf) {
                let datagram = buf[..t.size].to_vec();
                buf.clear();
                moved = true;
                let frames = self.observe_server(&datagram);
                match self.mode {
                    Mode::Normal => self.client.handle_datagram(
                        self.now,
                        server_addr(),
                        t.ecn,
                        BytesMut::from(&datagram[..]),
                    ),
                    Mode::Attack => self.captured.push(Captured { datagram, frames }),
                }
            }
            moved |= self.handle_events();
            if !moved {
                return;
            }
        }
        panic!("the endpoints never went quiet");
    }

    fn handle_events(&mut self) -> bool {
        let mut any = false;
        while let Some((handle, event)) = self.client.poll_event() {
            any = true;
            if let Event::Stream(StreamEvent::Opened { .. } | StreamEvent::Readable { .. }) = event
                && let Some(conn) = self.client.connection(handle)
            {
                read_all(self.now, conn, &mut self.client_read);
            }
            self.client_events.push(event);
        }
        while let Some((handle, event)) = self.server.poll_event() {
            any = true;
            self.server_handle.get_or_insert(handle);
            if self.server_reads
                && let Event::Stream(StreamEvent::Opened { .. } | StreamEvent::Readable { .. }) =
                    event
                && let Some(conn) = self.server.connection(handle)
            {
                read_all(self.now, conn, &mut self.server_read);
            }
            self.server_events.push(event);
        }
        any
    }

    /// Lets `d` of virtual time pass, firing every timer on the way.
    fn advance(&mut self, d: Duration) {
        let target = self.now + d;
        for _ in 0..100_000 {
            self.pump();
            let next = [self.client.poll_timeout(), self.server.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(at) if at <= target => {
                    self.now = self.now.max(at);
                    self.client.handle_timeout(self.now);
                    self.server.handle_timeout(self.now);
                }
                _ => break,
            }
        }
        self.now = target;
        self.client.handle_timeout(self.now);
        self.server.handle_timeout(self.now);
        self.pump();
    }

    fn server_cid(&self) -> ConnectionId {
        self.server_cid
            .expect("learned from the client's short packets")
    }

    /// Sends `payload` (frames) to the server in a short packet from the client's address,
    /// with the attacker's next packet number. The client is cut off from here on.
    fn attack(&mut self, payload: &[u8]) {
        let pn = self.next_attack_pn;
        self.next_attack_pn += 1;
        let datagram = short_packet(self.server_cid(), pn, PacketNumber::new(pn, None), payload);
        self.attack_raw(client_addr(), datagram);
    }

    fn attack_raw(&mut self, from: SocketAddr, datagram: Vec<u8>) {
        self.mode = Mode::Attack;
        self.server
            .handle_datagram(self.now, from, None, BytesMut::from(&datagram[..]));
        self.pump();
    }

    fn attack_frames(&mut self, frames: &[Frame]) {
        self.attack(&encode(frames));
    }

    fn server_conn_stats(&mut self) -> ConnectionStats {
        let handle = self.server_handle.expect("server connection");
        self.server
            .connection(handle)
            .expect("server connection alive")
            .stats()
    }

    fn server_closed(&self) -> Option<&ConnectionError> {
        self.server_events.iter().find_map(|e| match e {
            Event::Closed(error) => Some(error),
            _ => None,
        })
    }

    fn client_closed(&self) -> Option<&ConnectionError> {
        self.client_events.iter().find_map(|e| match e {
            Event::Closed(error) => Some(error),
            _ => None,
        })
    }

    fn assert_open(&self, after: &str) {
        assert_eq!(
            self.server_closed(),
            None,
            "the server closed after {after}"
        );
    }

    /// The server closed with a transport error of `code` (attributed to `frame`, when given),
    /// told the client in CONNECTION_CLOSE frames, and the client reports it; then the server
    /// drains and forgets the connection.
    fn expect_close(
        &mut self,
        code: TransportErrorCode,
        frame: Option<FrameType>,
    ) -> TransportError {
        let error = match self.server_closed() {
            Some(ConnectionError::TransportError(e)) => e.clone(),
            other => panic!("expected the server to close with {code}, got {other:?}"),
        };
        assert_eq!(error.code, code, "server closed with {error}");
        if let Some(frame) = frame {
            assert_eq!(error.frame, Some(frame), "blamed frame of {error}");
        }
        let closes: Vec<Vec<u8>> = self
            .captured
            .iter()
            .filter(|c| {
                c.frames.iter().any(|f| {
                    matches!(f, Frame::ConnectionClose(ConnectionClose::Transport { error_code, .. })
                        if error_code.into_inner() == code.into_inner())
                })
            })
            .map(|c| c.datagram.clone())
            .collect();
        assert!(
            !closes.is_empty(),
            "the server sent CONNECTION_CLOSE({code})"
        );
        for c in &self.captured {
            let only_close = c
                .frames
                .iter()
                .all(|f| matches!(f, Frame::ConnectionClose(_) | Frame::Padding(_)));
            let has_close = c
                .frames
                .iter()
                .any(|f| matches!(f, Frame::ConnectionClose(_)));
            assert!(
                !has_close || only_close,
                "a closing server sends nothing but CONNECTION_CLOSE: {:?}",
                c.frames
            );
        }
        for datagram in closes {
            self.client.handle_datagram(
                self.now,
                server_addr(),
                None,
                BytesMut::from(&datagram[..]),
            );
        }
        self.handle_events();
        match self.client_closed() {
            Some(ConnectionError::PeerTransportError {
                code: got,
                frame: f,
                ..
            }) => {
                assert_eq!(*got, code, "code the client reports");
                assert_eq!(*f, error.frame, "frame the client reports");
            }
            other => panic!("the client should report the server's close, got {other:?}"),
        }
        // The closing period ends and the server frees the connection.
        self.advance(Duration::from_secs(10));
        assert!(
            self.server_events.contains(&Event::Drained),
            "server drained"
        );
        assert_eq!(self.server.connection_count(), 0, "server state is gone");
        error
    }
}

/// Accepts the peer's streams and reads everything readable, checking each byte against
/// [`pattern`] at its offset.
fn read_all(
    now: Instant,
    conn: &mut weir_core::connection::Connection,
    read: &mut HashMap<StreamId, (u64, bool)>,
) {
    let mut ids: Vec<StreamId> = read
        .iter()
        .filter(|(_, (_, done))| !done)
        .map(|(id, _)| *id)
        .collect();
    while let Some(id) = conn.accept_uni() {
        ids.push(id);
    }
    while let Some(id) = conn.accept_bi() {
        ids.push(id);
    }
    for id in ids {
        let entry = read.entry(id).or_insert((0, false));
        while !entry.1 {
            match conn.read(now, id, usize::MAX) {
                Ok(Some(chunk)) => {
                    for (k, b) in chunk.iter().enumerate() {
                        let offset = entry.0 + k as u64;
                        assert_eq!(*b, pattern(id.into_inner(), offset), "{id} byte {offset}");
                    }
                    entry.0 += chunk.len() as u64;
                }
                Ok(None) => entry.1 = true,
                Err(ReadError::Blocked) => break,
                Err(e) => panic!("reading {id}: {e}"),
            }
        }
    }
}

fn transport(streams: StreamsConfig) -> TransportConfig {
    TransportConfig {
        streams,
        ..TransportConfig::default()
    }
}

/// `n` first Initial datagrams of real client connections (distinct connection IDs).
fn client_initials(n: usize) -> Vec<Vec<u8>> {
    let t0 = epoch();
    let mut client = Endpoint::new(
        t0,
        EndpointConfig {
            seed: Seed::Fixed(99),
            ..EndpointConfig::insecure_fixed(0)
        },
        None,
    )
    .expect("client endpoint");
    for _ in 0..n {
        client.connect(t0, server_addr()).expect("connect");
    }
    let mut out = Vec::new();
    let mut buf = Vec::new();
    while let Some(t) = client.poll_transmit(t0, 1, &mut buf) {
        out.push(buf[..t.size].to_vec());
        buf.clear();
    }
    assert_eq!(out.len(), n);
    out
}

fn spoofed(i: usize) -> SocketAddr {
    SocketAddr::from(([172, 16, (i >> 8) as u8, i as u8], 1000 + i as u16))
}
