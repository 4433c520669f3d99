//! Adversarial peers (DESIGN.md §2: every limit is configurable and enforced; §3: the protocol's
//! rules). A real weir client completes the handshake with a real server, in memory; then the
//! test turns malicious: it learns the server's connection ID from the client's own short-header
//! packets (they are only integrity-protected, so anyone on the path can read them), builds its
//! own packets with packet numbers far above the client's, and feeds them to the server from the
//! client's address. Each test names the rule it checks and asserts the error code the server
//! closes with, the CONNECTION_CLOSE it sends (which the real client reports), and that the
//! server's state stays within its configured limits.
//!
//! The floods at the end need no handshake: garbage and spoofed Initials go straight to a server
//! endpoint, and a property test checks the anti-amplification limit against a client whose
//! return path is dead.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use weir_core::config::{EndpointConfig, ServerConfig, TransportConfig};
use weir_core::connection::{ConnectionError, ConnectionStats, Event};
use weir_core::endpoint::{ConnectionHandle, Endpoint};
use weir_core::protect::integrity::TAG_LEN;
use weir_core::protect::{Crc32cKey, IdentityHeaderKey};
use weir_core::range_set::RangeSet;
use weir_core::sim::{LinkConfig, LossModel, Simulator, TraceKind};
use weir_core::streams::{Dir, ReadError, Side, StreamEvent, StreamId, StreamsConfig};
use weir_core::wire::frame::{ConnectionClose, ResetStream, StopSending, StreamFrame};
use weir_core::wire::{
    Ack, ConnectionId, Frame, FrameType, Header, PacketBuilder, PacketNumber, PacketType,
    PartialDecode, VERSION_1, VarInt, open_packet,
};
use weir_core::{TransportError, TransportErrorCode};
use weir_tests::{App, EndpointNode, addr, epoch, pattern};

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
                seed: 11,
                ..EndpointConfig::default()
            },
            Some(ServerConfig { transport, retry }),
        )
        .expect("server endpoint");
        let mut client = Endpoint::new(
            t0,
            EndpointConfig {
                seed: 12,
                ..EndpointConfig::default()
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
            while let Some(t) = self.client.poll_transmit(self.now, &mut buf) {
                let datagram = buf[..t.size].to_vec();
                buf.clear();
                moved = true;
                if self.mode == Mode::Normal {
                    self.observe_client(&datagram);
                    self.server.handle_datagram(
                        self.now,
                        client_addr(),
                        BytesMut::from(&datagram[..]),
                    );
                }
            }
            while let Some(t) = self.server.poll_transmit(self.now, &mut buf) {
                let datagram = buf[..t.size].to_vec();
                buf.clear();
                moved = true;
                let frames = self.observe_server(&datagram);
                match self.mode {
                    Mode::Normal => self.client.handle_datagram(
                        self.now,
                        server_addr(),
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
            .handle_datagram(self.now, from, BytesMut::from(&datagram[..]));
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
            self.client
                .handle_datagram(self.now, server_addr(), BytesMut::from(&datagram[..]));
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

// ----- Packet numbers -----

/// The attacker's first packet uses a 4-byte packet number far above the client's: the server
/// must expand it to exactly that number (the integrity tag covers the full number, so a wrong
/// expansion would drop the packet) and acknowledge it.
#[test]
fn a_forged_packet_number_far_ahead_is_expanded_and_acknowledged() {
    let mut p = Pair::new(TransportConfig::default(), false);
    assert!(p.client_largest_pn.is_some_and(|pn| pn < 100));
    assert_eq!(PacketNumber::new(ATTACK_PN, None).len(), 4);
    let before = p.server_conn_stats();
    p.attack_frames(&[Frame::Ping]);
    let after = p.server_conn_stats();
    assert_eq!(after.packets_received, before.packets_received + 1);
    assert_eq!(after.packets_dropped, before.packets_dropped);
    let acked: Vec<u64> = p
        .captured
        .iter()
        .flat_map(|c| &c.frames)
        .filter_map(|f| match f {
            Frame::Ack(ack) => Some(ack.largest()),
            _ => None,
        })
        .collect();
    assert_eq!(
        acked,
        vec![ATTACK_PN],
        "the server acknowledges the forged number"
    );
    p.assert_open("a PING");
}

// ----- Stream limits -----

fn stream_limit_case(dir: Dir) {
    let limit = 4;
    let mut p = Pair::new(
        transport(StreamsConfig {
            max_concurrent_bidi: limit,
            max_concurrent_uni: limit,
            ..StreamsConfig::default()
        }),
        false,
    );
    // The last stream allowed opens it and every lower-numbered one (RFC 9000 §3.2).
    p.attack_frames(&[stream(client_stream(dir, limit - 1), 0, b"x", false)]);
    p.assert_open("opening the last allowed stream");
    assert_eq!(p.server_conn_stats().open_streams, limit as usize);
    // RFC 9000 §4.6: a stream beyond MAX_STREAMS is a STREAM_LIMIT_ERROR.
    let beyond = stream(client_stream(dir, limit), 0, b"x", false);
    let ty = beyond.frame_type();
    p.attack_frames(&[beyond]);
    assert_eq!(
        p.server_conn_stats().open_streams,
        limit as usize,
        "nothing was opened"
    );
    p.expect_close(TransportErrorCode::STREAM_LIMIT_ERROR, Some(ty));
}

#[test]
fn a_bidirectional_stream_beyond_max_streams_is_a_stream_limit_error() {
    stream_limit_case(Dir::Bi);
}

#[test]
fn a_unidirectional_stream_beyond_max_streams_is_a_stream_limit_error() {
    stream_limit_case(Dir::Uni);
}

// ----- Flow control -----

/// RFC 9000 §4.1: data beyond the stream's advertised limit is a FLOW_CONTROL_ERROR, whether
/// one byte past it or far ahead.
#[test]
fn stream_data_beyond_the_stream_window_is_a_flow_control_error() {
    for offset in [1000, 1 << 40] {
        let mut p = Pair::new(
            transport(StreamsConfig {
                stream_receive_window: 1000,
                ..StreamsConfig::default()
            }),
            false,
        );
        let id = client_stream(Dir::Uni, 0);
        // The window's last byte is fine.
        p.attack_frames(&[stream(id, 999, b"x", false)]);
        p.assert_open("the last byte of the window");
        let frame = stream(id, offset, b"x", false);
        let ty = frame.frame_type();
        p.attack_frames(&[frame]);
        p.expect_close(TransportErrorCode::FLOW_CONTROL_ERROR, Some(ty));
    }
}

/// RFC 9000 §4.1: the sum of the highest offsets over all streams is bounded by the
/// connection's MAX_DATA, even when every stream stays within its own window.
#[test]
fn stream_data_beyond_the_connection_window_is_a_flow_control_error() {
    let mut p = Pair::new(
        transport(StreamsConfig {
            stream_receive_window: 1000,
            receive_window: 2500,
            ..StreamsConfig::default()
        }),
        false,
    );
    let s = |k| client_stream(Dir::Bi, k);
    // 1000 + 1000 + 500: exactly the connection window.
    p.attack_frames(&[
        stream(s(0), 999, b"x", false),
        stream(s(1), 999, b"x", false),
        stream(s(2), 499, b"x", false),
    ]);
    p.assert_open("filling the connection window exactly");
    let frame = stream(s(3), 0, b"x", false);
    let ty = frame.frame_type();
    p.attack_frames(&[frame]);
    p.expect_close(TransportErrorCode::FLOW_CONTROL_ERROR, Some(ty));
}

// ----- Acknowledgements -----

/// RFC 9000 §13.1: acknowledging a packet that was never sent is a PROTOCOL_VIOLATION.
#[test]
fn acknowledging_packets_never_sent_is_a_protocol_violation() {
    let mut p = Pair::new(TransportConfig::default(), false);
    let largest = p.server_largest_pn.expect("the server sent short packets");
    let ack = |largest: u64, first_range: u64| {
        let mut out = vec![FrameType::ACK.value() as u8];
        for x in [largest, 0, 0, first_range] {
            var(x).encode(&mut out);
        }
        out
    };
    // Everything the server sent: fine.
    p.attack(&ack(largest, largest));
    p.assert_open("a valid ACK");
    // One beyond, and far beyond with a huge range.
    let mut p2 = Pair::new(TransportConfig::default(), false);
    let largest2 = p2.server_largest_pn.expect("sent");
    p2.attack(&ack(largest2 + 1, 0));
    p2.expect_close(TransportErrorCode::PROTOCOL_VIOLATION, None);
    p.attack(&ack(1 << 40, 1 << 39));
    p.expect_close(TransportErrorCode::PROTOCOL_VIOLATION, None);
}

/// An ACK frame with thousands of valid ranges (in a large datagram) costs bounded work: after
/// a bulk transfer moved the server's packet numbers into the thousands, 10 000 such packets are
/// processed one by one. The first one acknowledges the server's outstanding stream exactly; the
/// rest acknowledge nothing new, elicit nothing, and leave the connection open.
#[test]
fn acks_with_thousands_of_ranges_are_processed_in_bounded_work() {
    let mut p = Pair::new(TransportConfig::default(), false);
    // A bulk transfer server → client moves the server's packet numbers past 4000.
    let h = p.server_handle.expect("server connection");
    let conn = p.server.connection(h).expect("live");
    let bulk = conn.open_uni(0).expect("open");
    let len = 5_000_000u64;
    let mut written = 0u64;
    for _ in 0..100_000 {
        let conn = p.server.connection(h).expect("live");
        while written < len {
            let data: Vec<u8> = (written..(written + 65536).min(len))
                .map(|o| pattern(bulk.into_inner(), o))
                .collect();
            match conn.write(bulk, &data) {
                Ok(n) => written += n as u64,
                Err(_) => break,
            }
        }
        if written == len {
            conn.finish(bulk).expect("finish");
            break;
        }
        p.advance(Duration::from_millis(1));
    }
    p.advance(Duration::from_secs(1));
    assert_eq!(
        p.client_read.get(&bulk),
        Some(&(len, true)),
        "bulk transfer delivered"
    );
    let before_bulk_done = p.server_largest_pn.expect("sent");
    assert!(
        before_bulk_done > 4000,
        "server packet numbers: {before_bulk_done}"
    );

    // A last stream, whose packets the client never sees.
    let conn = p.server.connection(h).expect("live");
    let last = conn.open_uni(0).expect("open");
    let data: Vec<u8> = (0..3000).map(|o| pattern(last.into_inner(), o)).collect();
    assert_eq!(conn.write(last, &data), Ok(3000));
    conn.finish(last).expect("finish");
    p.mode = Mode::Attack;
    p.pump();
    let largest = p.server_largest_pn.expect("sent");
    let first_unseen = before_bulk_done + 1;
    assert!(largest >= first_unseen, "the last stream went out");
    assert!(p.server_conn_stats().bytes_in_flight > 0);

    // Ranges: the unseen packets, then every other packet number down to 0.
    let mut ranges = RangeSet::new();
    ranges.insert(first_unseen..largest + 1);
    let mut pn = first_unseen.saturating_sub(2);
    while pn > 0 {
        ranges.insert(pn..pn + 1);
        pn = pn.saturating_sub(2);
    }
    let mut frame = Vec::new();
    let info = Ack::encode(&ranges, 0, None, usize::MAX, &mut frame).expect("encodes");
    assert!(info.ranges > 2000, "{} ranges", info.ranges);
    assert_eq!(info.ranges, ranges.len());

    let before = p.server_conn_stats();
    let captured = p.captured.len();
    for _ in 0..10_000 {
        p.attack(&frame);
    }
    let after = p.server_conn_stats();
    p.assert_open("10 000 ACKs");
    assert_eq!(after.packets_received, before.packets_received + 10_000);
    assert_eq!(after.packets_dropped, before.packets_dropped);
    assert_eq!(
        after.bytes_in_flight, 0,
        "every outstanding packet was acknowledged"
    );
    let finished: Vec<&Event> = p
        .server_events
        .iter()
        .filter(|e| **e == Event::Stream(StreamEvent::Finished { id: last }))
        .collect();
    assert_eq!(finished.len(), 1, "the last stream is acknowledged once");
    assert_eq!(
        p.captured.len(),
        captured,
        "ACK-only packets elicit nothing"
    );
}

// ----- Final size -----

/// RFC 9000 §4.5: once the final size is known, data beyond it, or a different final size, is
/// a FINAL_SIZE_ERROR; a repeated FIN with the same size is fine.
#[test]
fn data_beyond_the_final_size_is_a_final_size_error() {
    let id = client_stream(Dir::Uni, 0);
    for violation in [
        stream(id, 10, b"x", false),
        stream(id, 0, b"12345678", true),
    ] {
        let mut p = Pair::new(TransportConfig::default(), false);
        p.attack_frames(&[stream(id, 0, b"0123456789", true)]);
        p.attack_frames(&[stream(id, 5, b"56789", true)]);
        p.assert_open("a retransmitted FIN");
        let ty = violation.frame_type();
        p.attack_frames(&[violation]);
        p.expect_close(TransportErrorCode::FINAL_SIZE_ERROR, Some(ty));
    }
}

/// RFC 9000 §4.5: RESET_STREAM with a final size below the data received, or different from a
/// known final size, is a FINAL_SIZE_ERROR; one equal to the data received is fine.
#[test]
fn a_reset_below_the_data_received_is_a_final_size_error() {
    let reset = |id: u64, final_size: u64| {
        Frame::ResetStream(ResetStream {
            id: var(id),
            error_code: var(7),
            final_size: var(final_size),
        })
    };
    let a = client_stream(Dir::Bi, 0);
    let b = client_stream(Dir::Bi, 1);
    for (data_fin, violation) in [(false, 99), (true, 101)] {
        let mut p = Pair::new(TransportConfig::default(), false);
        p.attack_frames(&[stream(a, 0, &[1; 100], false), reset(a, 100)]);
        p.assert_open("a reset at the data received");
        p.attack_frames(&[stream(b, 0, &[1; 100], data_fin)]);
        p.attack_frames(&[reset(b, violation)]);
        p.expect_close(
            TransportErrorCode::FINAL_SIZE_ERROR,
            Some(FrameType::RESET_STREAM),
        );
    }
}

// ----- Frames the client may not send -----

/// RFC 9000 §19.20: a server receiving HANDSHAKE_DONE closes with PROTOCOL_VIOLATION.
#[test]
fn handshake_done_from_a_client_is_a_protocol_violation() {
    let mut p = Pair::new(TransportConfig::default(), false);
    p.attack_frames(&[Frame::HandshakeDone]);
    p.expect_close(
        TransportErrorCode::PROTOCOL_VIOLATION,
        Some(FrameType::HANDSHAKE_DONE),
    );
}

/// RFC 9000 §19.4, §19.5, §19.8, §19.10, §19.13: frames about a half of a stream that does not
/// exist for the receiver — the send side of a stream it only receives on, the receive side of
/// one it only sends on, or a stream of its own it never opened — are STREAM_STATE_ERRORs.
#[test]
fn frames_for_a_missing_stream_half_are_stream_state_errors() {
    let server_uni = StreamId::new(Side::Server, Dir::Uni, 0)
        .expect("id")
        .into_inner();
    let server_bi = StreamId::new(Side::Server, Dir::Bi, 0)
        .expect("id")
        .into_inner();
    let client_uni = client_stream(Dir::Uni, 0);
    // (what, whether the server first opens its unidirectional stream, the frame)
    let cases: Vec<(&str, bool, Frame)> = vec![
        (
            "STREAM on the server's send-only stream, not opened yet",
            false,
            stream(server_uni, 0, b"x", false),
        ),
        (
            "STREAM on the server's opened send-only stream",
            true,
            stream(server_uni, 0, b"x", false),
        ),
        (
            "STREAM on a server stream never opened",
            false,
            stream(server_bi, 0, b"x", false),
        ),
        (
            "RESET_STREAM on the server's send-only stream",
            true,
            Frame::ResetStream(ResetStream {
                id: var(server_uni),
                error_code: var(1),
                final_size: var(0),
            }),
        ),
        (
            "STREAM_DATA_BLOCKED on the server's send-only stream",
            true,
            Frame::StreamDataBlocked {
                id: var(server_uni),
                limit: var(0),
            },
        ),
        (
            "MAX_STREAM_DATA on the server's receive-only stream",
            false,
            Frame::MaxStreamData {
                id: var(client_uni),
                max: var(1 << 20),
            },
        ),
        (
            "STOP_SENDING on the server's receive-only stream",
            false,
            Frame::StopSending(StopSending {
                id: var(client_uni),
                error_code: var(1),
            }),
        ),
        (
            "MAX_STREAM_DATA on a server stream never opened",
            false,
            Frame::MaxStreamData {
                id: var(server_bi),
                max: var(1 << 20),
            },
        ),
    ];
    for (what, server_opens, frame) in cases {
        eprintln!("case: {what}");
        let mut p = Pair::new(TransportConfig::default(), false);
        if server_opens {
            let h = p.server_handle.expect("server connection");
            let conn = p.server.connection(h).expect("live");
            let id = conn.open_uni(0).expect("open");
            assert_eq!(id.into_inner(), server_uni);
        }
        let ty = frame.frame_type();
        p.attack_frames(&[frame]);
        let error = p.expect_close(TransportErrorCode::STREAM_STATE_ERROR, Some(ty));
        assert!(!error.reason.is_empty(), "{what}: a reason is given");
    }
}

// ----- Reassembly -----

/// 1-byte STREAM frames, every other byte: each opens a new gap. The server holds at most
/// `max_fragments_per_stream` disjoint ranges in a stream and closes the connection with
/// PROTOCOL_VIOLATION on the first frame beyond (StreamsConfig docs); below the limit it holds
/// them all, in several streams.
#[test]
fn one_byte_fragments_beyond_the_reassembly_limit_close_the_connection() {
    let limit = 64;
    let mut p = Pair::new(
        transport(StreamsConfig {
            max_fragments_per_stream: limit,
            ..StreamsConfig::default()
        }),
        false,
    );
    for k in 0..4 {
        let id = client_stream(Dir::Uni, k);
        let frames: Vec<Frame> = (0..limit as u64)
            .map(|i| stream(id, 2 * i + 1, &[pattern(id, 2 * i + 1)], false))
            .collect();
        p.attack_frames(&frames);
        p.assert_open("fragments up to the limit");
    }
    let id = client_stream(Dir::Uni, 4);
    let mut sent = 0;
    for i in 0..1000u64 {
        p.attack_frames(&[stream(id, 2 * i + 1, b"x", false)]);
        sent += 1;
        if p.server_closed().is_some() {
            break;
        }
    }
    assert_eq!(
        sent,
        limit + 1,
        "the connection closes on the first fragment beyond the limit"
    );
    p.expect_close(
        TransportErrorCode::PROTOCOL_VIOLATION,
        Some(stream(id, 1, b"x", false).frame_type()),
    );
}

/// Thousands of 1-byte STREAM frames, every other byte, spread over every stream the server
/// allows: whatever the policy (per stream, per connection), the fragments a peer can make the
/// server hold are bounded by its configuration, and beyond it the connection closes with
/// PROTOCOL_VIOLATION rather than growing.
#[test]
fn fragments_over_many_streams_are_bounded_by_the_configuration() {
    let config = StreamsConfig::default();
    let streams = config.max_concurrent_uni;
    let bound = streams * config.max_fragments_per_stream as u64;
    let mut p = Pair::new(transport(config), false);
    let mut sent = 0u64;
    'flood: for i in 0.. {
        let frames: Vec<Frame> = (0..streams)
            .map(|k| {
                let id = client_stream(Dir::Uni, k);
                stream(id, 2 * i + 1, &[pattern(id, 2 * i + 1)], false)
            })
            .collect();
        for chunk in frames.chunks(50) {
            p.attack_frames(chunk);
            sent += chunk.len() as u64;
            if p.server_closed().is_some() {
                break 'flood;
            }
        }
        assert!(sent <= bound, "{sent} fragments held, bound {bound}");
    }
    assert!(
        sent > 1000,
        "thousands of fragments before the bound: {sent}"
    );
    p.expect_close(
        TransportErrorCode::PROTOCOL_VIOLATION,
        Some(stream(2, 1, b"x", false).frame_type()),
    );
}

/// The reassembly limit counts gaps, not frames: thousands of 1-byte frames that arrive out of
/// order but keep filling their gaps never trip it, and the data arrives intact.
#[test]
fn one_byte_frames_that_fill_their_gaps_are_accepted() {
    let mut p = Pair::new(TransportConfig::default(), false);
    p.server_reads = true;
    let id = client_stream(Dir::Uni, 0);
    let n = 4000u64;
    for i in (0..n).step_by(2) {
        // Odd byte first (a gap), then the even byte below it (filled).
        p.attack_frames(&[stream(id, i + 1, &[pattern(id, i + 1)], i + 2 == n)]);
        p.attack_frames(&[stream(id, i, &[pattern(id, i)], false)]);
    }
    p.assert_open("gaps that are filled");
    let sid = StreamId::from_varint(var(id));
    assert_eq!(p.server_read.get(&sid), Some(&(n, true)));
}

// ----- Garbage -----

/// A flood of garbage — random datagrams, packets with the server's connection ID and a bad tag,
/// truncated and bit-flipped copies of the client's packets, replays, and packets from a
/// spoofed address — is dropped and counted, never closes the connection, and the connection
/// moves data afterwards.
#[test]
fn garbage_is_dropped_and_counted_and_the_connection_keeps_working() {
    let mut p = Pair::new(TransportConfig::default(), false);
    let real = p.last_client_short.clone().expect("a client short packet");
    let cid = p.server_cid();
    let ep_before = p.server.stats();
    let conn_before = p.server_conn_stats();
    let mut rng = Rng(7);
    let n = 500;
    // The client stays out of it (the odd random datagram earns a Version Negotiation).
    p.mode = Mode::Attack;
    let mut random_datagrams = 0u64;
    let mut conn_drops = 0u64;
    let mut sent = 0u64;
    for _ in 0..n {
        // Random bytes (the odd one is a long header with a random version).
        let len = rng.below(1500);
        p.server
            .handle_datagram(p.now, client_addr(), BytesMut::from(&rng.bytes(len)[..]));
        random_datagrams += 1;
        // Our connection ID, then random bytes: fails the integrity check.
        let mut forged = vec![0x40 | (rng.next() as u8 & 0x23)];
        forged.extend_from_slice(&cid);
        let tail = 1 + rng.below(1200);
        forged.extend_from_slice(&rng.bytes(tail));
        p.server
            .handle_datagram(p.now, client_addr(), BytesMut::from(&forged[..]));
        // A real packet, truncated after the connection ID.
        let cut = 1 + CID_LEN + rng.below(real.len() - 1 - CID_LEN);
        p.server
            .handle_datagram(p.now, client_addr(), BytesMut::from(&real[..cut]));
        // A real packet with one bit flipped after the connection ID.
        let mut flipped = real.clone();
        let bit = (1 + CID_LEN) * 8 + rng.below((real.len() - 1 - CID_LEN) * 8);
        flipped[bit / 8] ^= 1 << (bit % 8);
        p.server
            .handle_datagram(p.now, client_addr(), BytesMut::from(&flipped[..]));
        // A replay.
        p.server
            .handle_datagram(p.now, client_addr(), BytesMut::from(&real[..]));
        // The real packet from another address (weir does not migrate).
        p.server
            .handle_datagram(p.now, addr(66), BytesMut::from(&real[..]));
        conn_drops += 5;
        sent += 6;
        p.pump();
    }
    p.assert_open("garbage");
    assert_eq!(p.server.connection_count(), 1);
    let ep = p.server.stats();
    let conn = p.server_conn_stats();
    assert_eq!(ep.datagrams_received - ep_before.datagrams_received, sent);
    assert_eq!(
        conn.packets_dropped - conn_before.packets_dropped,
        conn_drops,
        "every packet with our connection ID is dropped and counted"
    );
    assert_eq!(
        conn.packets_received, conn_before.packets_received,
        "none was processed"
    );
    let endpoint_drops = (ep.malformed_packets - ep_before.malformed_packets)
        + (ep.unknown_connection_packets - ep_before.unknown_connection_packets)
        + (ep.dropped_initials - ep_before.dropped_initials)
        + (ep.version_negotiations_sent - ep_before.version_negotiations_sent)
        + (ep.stateless_dropped - ep_before.stateless_dropped);
    assert!(
        endpoint_drops >= random_datagrams,
        "every random datagram is counted: {endpoint_drops} < {random_datagrams}"
    );
    assert!(
        p.server_events
            .iter()
            .all(|e| !matches!(e, Event::Closed(_)))
    );

    // The real connection still moves data both ways.
    p.mode = Mode::Normal;
    p.server_reads = true;
    let conn = p.client.connection(p.client_handle).expect("client alive");
    let id = conn.open_uni(0).expect("open");
    let data: Vec<u8> = (0..20_000).map(|o| pattern(id.into_inner(), o)).collect();
    assert_eq!(conn.write(id, &data), Ok(20_000));
    conn.finish(id).expect("finish");
    p.advance(Duration::from_secs(2));
    assert_eq!(
        p.server_read.get(&id),
        Some(&(20_000, true)),
        "data after the flood"
    );
    assert_eq!(p.client_closed(), None);
}

// ----- Initial floods -----

/// `n` first Initial datagrams of real client connections (distinct connection IDs).
fn client_initials(n: usize) -> Vec<Vec<u8>> {
    let t0 = epoch();
    let mut client = Endpoint::new(
        t0,
        EndpointConfig {
            seed: 99,
            ..EndpointConfig::default()
        },
        None,
    )
    .expect("client endpoint");
    for _ in 0..n {
        client.connect(t0, server_addr()).expect("connect");
    }
    let mut out = Vec::new();
    let mut buf = Vec::new();
    while let Some(t) = client.poll_transmit(t0, &mut buf) {
        out.push(buf[..t.size].to_vec());
        buf.clear();
    }
    assert_eq!(out.len(), n);
    out
}

fn spoofed(i: usize) -> SocketAddr {
    SocketAddr::from(([172, 16, (i >> 8) as u8, i as u8], 1000 + i as u16))
}

/// With Retry, a flood of Initials from spoofed addresses costs the server no connection state,
/// and the Retry answers wait in a queue bounded by `max_stateless_responses`; every answer is
/// smaller than the Initial that caused it. Initials with forged tokens are counted and dropped.
#[test]
fn a_spoofed_initial_flood_with_retry_keeps_no_state() {
    let t0 = epoch();
    let max_stateless = EndpointConfig::default().max_stateless_responses;
    let mut server = Endpoint::new(
        t0,
        EndpointConfig {
            seed: 5,
            ..EndpointConfig::default()
        },
        Some(ServerConfig::default()),
    )
    .expect("server");
    let initials = client_initials(1000);
    for (i, d) in initials.iter().enumerate() {
        server.handle_datagram(t0, spoofed(i), BytesMut::from(&d[..]));
    }
    assert_eq!(server.connection_count(), 0);
    let stats = server.stats();
    assert_eq!(stats.retries_sent, max_stateless as u64);
    assert_eq!(stats.stateless_dropped, (1000 - max_stateless) as u64);
    let mut buf = Vec::new();
    let mut answers = 0;
    while let Some(t) = server.poll_transmit(t0, &mut buf) {
        assert!(t.size < 1200, "a Retry of {} bytes amplifies", t.size);
        assert_eq!(t.destination, spoofed(answers));
        buf.clear();
        answers += 1;
    }
    assert_eq!(
        answers, max_stateless,
        "the queue holds at most max_stateless_responses"
    );

    // Forged tokens: counted, no state, no answer.
    let mut rng = Rng(3);
    for i in 0..500 {
        let dcid = ConnectionId::new(&rng.bytes(8)).expect("cid");
        let scid = ConnectionId::new(&rng.bytes(8)).expect("cid");
        let token_len = 1 + rng.below(64);
        let token = Bytes::from(rng.bytes(token_len));
        let d = initial_packet(dcid, scid, token, &encode(&[Frame::Ping]));
        server.handle_datagram(t0, spoofed(i), BytesMut::from(&d[..]));
    }
    assert_eq!(server.connection_count(), 0);
    assert_eq!(server.stats().invalid_tokens, 500);
    assert!(server.poll_transmit(t0, &mut buf).is_none());
}

/// Without Retry, a flood of Initials from spoofed addresses fills the endpoint up to
/// `max_connections` and no further: the rest are refused (counted), the refusals queue within
/// `max_stateless_responses`, no answer amplifies, and the slots free up after the idle timeout.
#[test]
fn a_spoofed_initial_flood_without_retry_is_capped_by_max_connections() {
    let t0 = epoch();
    let max_connections = 16;
    let max_stateless = EndpointConfig::default().max_stateless_responses;
    // Long enough for the unanswered connections to probe until their budget is spent.
    let idle = Duration::from_secs(20);
    let mut server = Endpoint::new(
        t0,
        EndpointConfig {
            seed: 5,
            max_connections,
            ..EndpointConfig::default()
        },
        Some(ServerConfig {
            transport: TransportConfig {
                idle_timeout: idle,
                ..TransportConfig::default()
            },
            retry: false,
        }),
    )
    .expect("server");
    let n = 200;
    let initials = client_initials(n);
    let mut received: HashMap<SocketAddr, usize> = HashMap::new();
    let mut sent: HashMap<SocketAddr, usize> = HashMap::new();
    let mut buf = Vec::new();
    for (i, d) in initials.iter().enumerate() {
        server.handle_datagram(t0, spoofed(i), BytesMut::from(&d[..]));
        *received.entry(spoofed(i)).or_default() += d.len();
        assert!(server.connection_count() <= max_connections);
    }
    let stats = server.stats();
    assert_eq!(server.connection_count(), max_connections);
    assert_eq!(stats.connections_accepted, max_connections as u64);
    assert_eq!(stats.connections_refused, (n - max_connections) as u64);
    assert_eq!(
        stats.stateless_dropped,
        (n - max_connections - max_stateless) as u64,
        "refusals beyond the queue are dropped"
    );
    // Run the server for a while, sending into the void.
    let mut now = t0;
    let end = t0 + idle * 3;
    loop {
        while let Some(t) = server.poll_transmit(now, &mut buf) {
            *sent.entry(t.destination).or_default() += t.size;
            buf.clear();
        }
        while server.poll_event().is_some() {}
        match server.poll_timeout() {
            Some(at) if at <= end => {
                now = now.max(at);
                server.handle_timeout(now);
            }
            _ => break,
        }
    }
    for (to, bytes) in &sent {
        let got = received.get(to).copied().unwrap_or(0);
        assert!(*bytes <= 3 * got, "{bytes} bytes to {to}, which sent {got}");
    }
    assert_eq!(
        server.connection_count(),
        0,
        "unanswered connections time out"
    );
    // The slots are free again.
    let more = client_initials(1);
    server.handle_datagram(now, spoofed(5000), BytesMut::from(&more[0][..]));
    assert_eq!(server.connection_count(), 1);
}

// ----- Anti-amplification -----

struct Quiet;

impl App for Quiet {
    fn on_event(&mut self, _: Instant, _: &mut Endpoint, _: ConnectionHandle, _: Event) {}
}

/// Checks the trace of `sim`: at every point, what `server` sent to `client` is at most three
/// times what reached `server` from `client`.
fn check_amplification(
    sim: &Simulator,
    client: SocketAddr,
    server: SocketAddr,
) -> Result<(), TestCaseError> {
    let trace = sim.trace();
    prop_assert!(!trace.truncated(), "trace capacity too small");
    let mut from_client: HashMap<u64, bool> = HashMap::new();
    let (mut sent, mut received) = (0u64, 0u64);
    for e in trace.events() {
        match e.kind {
            TraceKind::Sent { from, to } => {
                from_client.insert(e.packet, from == client && to == server);
                if from == server && to == client {
                    sent += e.size as u64;
                    prop_assert!(
                        sent <= 3 * received,
                        "at {:?} the server sent {} bytes for {} received",
                        e.at,
                        sent,
                        received
                    );
                }
            }
            TraceKind::Duplicated { copy, .. } => {
                let original = from_client.get(&e.packet).copied().unwrap_or(false);
                from_client.insert(copy, original);
            }
            TraceKind::Delivered { .. } if from_client.get(&e.packet) == Some(&true) => {
                received += e.size as u64;
            }
            _ => {}
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    /// RFC 9000 §8.1: before the client's address is validated the server sends at most three
    /// times what it received from it. The "client" is a spoofer: a real client endpoint whose
    /// datagrams reach the server (with random loss, duplication and corruption) but which
    /// never hears back, so it keeps retransmitting its Initials for a random while.
    #[test]
    fn an_unvalidated_address_gets_at_most_three_times_what_it_sent(
        seed in any::<u64>(),
        loss in 0.0..0.5f64,
        duplicate in 0.0..0.2f64,
        corrupt in 0.0..0.2f64,
        connections in 1usize..4,
        initial_rtt_ms in 5u64..1000,
        max_probe_ms in prop_oneof![Just(None), (10u64..5000).prop_map(Some)],
        idle_ms in 100u64..20_000,
        run_ms in 100u64..60_000,
    ) {
        let t0 = epoch();
        let mut sim = Simulator::new(seed, t0);
        sim.set_trace_capacity(1 << 20);
        let server = Endpoint::new(
            t0,
            EndpointConfig { seed: seed ^ 1, ..EndpointConfig::default() },
            Some(ServerConfig {
                transport: TransportConfig {
                    idle_timeout: Duration::from_millis(idle_ms),
                    ..TransportConfig::default()
                },
                retry: false,
            }),
        )
        .expect("server");
        let mut client = Endpoint::new(
            t0,
            EndpointConfig { seed: seed ^ 2, ..EndpointConfig::default() },
            None,
        )
        .expect("client");
        client
            .set_client_config(TransportConfig {
                initial_rtt: Duration::from_millis(initial_rtt_ms),
                max_probe_timeout: max_probe_ms.map(Duration::from_millis),
                idle_timeout: Duration::from_secs(600),
                ..TransportConfig::default()
            })
            .expect("config");
        for _ in 0..connections {
            client.connect(t0, server_addr()).expect("connect");
        }
        let c = sim.add_node(client_addr(), EndpointNode::new(client, Quiet)).expect("node");
        let s = sim.add_node(server_addr(), EndpointNode::new(server, Quiet)).expect("node");
        let forward = LinkConfig {
            delay: Duration::from_millis(10),
            loss: LossModel::Random { p: loss },
            duplicate,
            corrupt,
            ..LinkConfig::default()
        };
        let reverse = LinkConfig {
            delay: Duration::from_millis(10),
            loss: LossModel::Outage,
            ..LinkConfig::default()
        };
        sim.connect(c, s, forward, reverse).expect("links");
        sim.run_for(Duration::from_millis(run_ms)).map_err(|e| TestCaseError::fail(e.to_string()))?;
        check_amplification(&sim, client_addr(), server_addr())?;
    }
}

/// The anti-amplification budget counts each datagram once: a datagram from the victim's
/// address that coalesces packets for two of the server's connections (RFC 9000 §12.2: the
/// receiver should ignore packets whose destination connection ID differs from the first one's)
/// must not credit its full length to a connection once per switch between them.
#[test]
fn coalesced_packets_for_two_connections_do_not_inflate_the_amplification_budget() {
    amplification_via_foreign_packets(Extra::Coalesced);
}

/// The anti-amplification budget of a connection counts only datagrams from its peer's address:
/// packets with its connection ID from another address are dropped and must not raise what it
/// may send to its unvalidated peer.
#[test]
fn packets_from_another_address_do_not_inflate_the_amplification_budget() {
    amplification_via_foreign_packets(Extra::OtherAddress);
}

/// What the attacker sends after opening two connections in the victim's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Extra {
    /// Nothing: the baseline.
    Nothing,
    /// One datagram from the victim's address packed with minimal Initials alternating between
    /// the two connections.
    Coalesced,
    /// Every 200 ms, a datagram with the first connection's ID from the attacker's own address.
    OtherAddress,
}

/// The baseline of the two tests below: two connections opened in a victim's name, then
/// silence. The server's answers stay within three times what the victim's address sent.
#[test]
fn spoofed_connections_stay_within_the_amplification_limit() {
    amplification_via_foreign_packets(Extra::Nothing);
}

/// Two connections spoofing a victim's address (no Retry), then what `extra` says; the server
/// runs for 25 s, its answers lost. Checks what it sent to the victim against what came from it.
fn amplification_via_foreign_packets(extra: Extra) {
    let t0 = epoch();
    let mut server = Endpoint::new(
        t0,
        EndpointConfig {
            seed: 5,
            ..EndpointConfig::default()
        },
        Some(ServerConfig {
            transport: TransportConfig::default(),
            retry: false,
        }),
    )
    .expect("server");
    let victim = addr(50);
    let attacker = addr(51);
    let initials = client_initials(2);
    let dcids: Vec<ConnectionId> = initials
        .iter()
        .map(|d| {
            let (partial, _) =
                PartialDecode::new(BytesMut::from(&d[..]), CID_LEN).expect("decodes");
            *partial.dcid()
        })
        .collect();
    let mut from_victim = 0usize;
    for d in &initials {
        server.handle_datagram(t0, victim, BytesMut::from(&d[..]));
        from_victim += d.len();
    }
    assert_eq!(server.connection_count(), 2);
    // A minimal Initial for connection `k` (its tag need not be right: the budget is credited
    // before the packet is opened).
    let tiny =
        |k: usize| initial_packet_unpadded(dcids[k], ConnectionId::EMPTY, &encode(&[Frame::Ping]));
    let mut to_victim = 0usize;
    let mut buf = Vec::new();
    let mut now = t0;
    let end = t0 + Duration::from_secs(25);
    let mut next_injection = t0;
    loop {
        // From the attacker's own address: every 200 ms. From the victim's: once.
        if now >= next_injection {
            next_injection = match extra {
                Extra::OtherAddress => now + Duration::from_millis(200),
                Extra::Nothing | Extra::Coalesced => end + Duration::from_secs(1),
            };
            match extra {
                Extra::Nothing => {}
                Extra::OtherAddress => {
                    let d = initial_packet(dcids[0], ConnectionId::EMPTY, Bytes::new(), &[1]);
                    server.handle_datagram(now, attacker, BytesMut::from(&d[..]));
                }
                Extra::Coalesced => {
                    let mut d = Vec::new();
                    while d.len() + 2 * tiny(0).len() <= 1200 {
                        d.extend_from_slice(&tiny(0));
                        d.extend_from_slice(&tiny(1));
                    }
                    from_victim += d.len();
                    server.handle_datagram(now, victim, BytesMut::from(&d[..]));
                }
            }
        }
        while let Some(t) = server.poll_transmit(now, &mut buf) {
            if t.destination == victim {
                to_victim += t.size;
            }
            buf.clear();
        }
        while server.poll_event().is_some() {}
        let next = server
            .poll_timeout()
            .map_or(next_injection, |t| t.min(next_injection));
        if next > end {
            break;
        }
        now = now.max(next);
        server.handle_timeout(now);
    }
    assert!(
        to_victim <= 3 * from_victim,
        "the server sent {to_victim} bytes to an unvalidated address that sent {from_victim}"
    );
}

/// An Initial packet without padding (the smallest packet that parses as one).
fn initial_packet_unpadded(dcid: ConnectionId, scid: ConnectionId, frames: &[u8]) -> Vec<u8> {
    let header = Header::Initial {
        version: VERSION_1,
        dcid,
        scid,
        token: Bytes::new(),
        number: PacketNumber::new(0, None),
    };
    let mut buf = Vec::new();
    let mut builder = PacketBuilder::new(&mut buf, &header, 0, 1200, TAG_LEN).expect("header");
    builder.buf().extend_from_slice(frames);
    builder
        .finish(&Crc32cKey, &IdentityHeaderKey)
        .expect("sealed");
    buf
}

/// DESIGN.md §3: a datagram corrupted in flight is dropped, never delivered. A client's first
/// Initial with a broken integrity tag must not make the server (without Retry) create a
/// connection.
#[test]
fn a_corrupted_initial_creates_no_connection() {
    let t0 = epoch();
    let mut server = Endpoint::new(
        t0,
        EndpointConfig::default(),
        Some(ServerConfig {
            transport: TransportConfig::default(),
            retry: false,
        }),
    )
    .expect("server");
    let mut d = client_initials(1).remove(0);
    let last = d.len() - 1;
    d[last] ^= 1; // the tag
    server.handle_datagram(t0, client_addr(), BytesMut::from(&d[..]));
    assert_eq!(server.stats().connections_accepted, 0);
    assert_eq!(server.connection_count(), 0);
}

/// What happens to the client's first Initial datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Lost,
    /// One bit of its source connection ID flipped (the integrity tag then fails).
    Corrupted,
}

/// Virtual time until the client is connected, when its first Initial meets `fate` and every
/// other datagram arrives at once.
fn handshake_time(fate: Fate) -> Duration {
    let t0 = epoch();
    let mut server = Endpoint::new(
        t0,
        EndpointConfig {
            seed: 21,
            ..EndpointConfig::default()
        },
        Some(ServerConfig {
            transport: TransportConfig::default(),
            retry: false,
        }),
    )
    .expect("server");
    let mut client = Endpoint::new(
        t0,
        EndpointConfig {
            seed: 22,
            ..EndpointConfig::default()
        },
        None,
    )
    .expect("client");
    client.connect(t0, server_addr()).expect("connect");
    let mut buf = Vec::new();
    let mut first = true;
    let mut now = t0;
    while now < t0 + Duration::from_secs(60) {
        while let Some(t) = client.poll_transmit(now, &mut buf) {
            let mut d = buf[..t.size].to_vec();
            buf.clear();
            if std::mem::take(&mut first) {
                match fate {
                    Fate::Lost => continue,
                    // first byte, version, dcid length, dcid, scid length: the scid follows.
                    Fate::Corrupted => d[1 + 4 + 1 + CID_LEN + 1] ^= 0x10,
                }
            }
            server.handle_datagram(now, client_addr(), BytesMut::from(&d[..]));
        }
        while let Some(t) = server.poll_transmit(now, &mut buf) {
            client.handle_datagram(now, server_addr(), BytesMut::from(&buf[..t.size]));
            buf.clear();
        }
        while server.poll_event().is_some() {}
        while let Some((_, event)) = client.poll_event() {
            if event == Event::Connected {
                return now - t0;
            }
        }
        now += Duration::from_millis(1);
        client.handle_timeout(now);
        server.handle_timeout(now);
    }
    panic!("no handshake within 60 s ({fate:?})");
}

/// DESIGN.md §3: a datagram corrupted in flight is dropped. A client's first Initial corrupted
/// in flight must cost no more than a lost one: the client's retransmission completes the
/// handshake.
#[test]
fn a_corrupted_first_initial_costs_no_more_than_a_lost_one() {
    let lost = handshake_time(Fate::Lost);
    let corrupted = handshake_time(Fate::Corrupted);
    assert!(
        corrupted <= lost + Duration::from_millis(5),
        "handshake after a lost first Initial: {lost:?}; after a corrupted one: {corrupted:?}"
    );
}

/// How a blind spoofer (it never receives the server's packets) finishes the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Blind {
    /// A second Initial with the ClientFinished, to its own original destination ID.
    ClientFinished,
    /// A short packet to its own original destination ID, coalesced behind the ClientHello
    /// (the server takes any short packet as proof that the client finished).
    ShortPacket,
}

/// A spoofer sends a ClientHello in the victim's name and finishes the handshake `how`; the
/// server's application then pushes 200 kB to the "connected" client for 10 s. Returns whether
/// the server reported `Connected`, the bytes it sent the victim, and the bytes the victim's
/// address sent.
fn blind_handshake(how: Blind) -> (bool, usize, usize) {
    let t0 = epoch();
    let mut server = Endpoint::new(
        t0,
        EndpointConfig::default(),
        Some(ServerConfig {
            transport: TransportConfig::default(),
            retry: false,
        }),
    )
    .expect("server");
    let victim = addr(50);
    let dcid = ConnectionId::new(&[0xd0; 8]).expect("cid");
    let scid = ConnectionId::new(&[0x5c; 8]).expect("cid");
    let params = weir_core::connection::TransportParameters {
        initial_source_connection_id: Some(scid),
        initial_max_data: 1 << 24,
        initial_max_stream_data_bidi_local: 1 << 22,
        initial_max_stream_data_bidi_remote: 1 << 22,
        initial_max_stream_data_uni: 1 << 22,
        initial_max_streams_bidi: 100,
        initial_max_streams_uni: 100,
        max_idle_timeout: Duration::from_secs(30),
        ..weir_core::connection::TransportParameters::default()
    };
    let mut body = Vec::new();
    params.encode(&mut body);
    let mut hello = vec![0x01]; // ClientHello
    var(body.len() as u64).encode(&mut hello);
    hello.extend_from_slice(&body);
    let handshake = |offset: usize, data: &[u8]| {
        let mut out = vec![FrameType::HANDSHAKE.value() as u8];
        var(offset as u64).encode(&mut out);
        var(data.len() as u64).encode(&mut out);
        out.extend_from_slice(data);
        out
    };
    let datagrams = match how {
        Blind::ClientFinished => {
            let first = initial_packet(dcid, scid, Bytes::new(), &handshake(0, &hello));
            let header = Header::Initial {
                version: VERSION_1,
                dcid,
                scid,
                token: Bytes::new(),
                number: PacketNumber::new(1, Some(0)),
            };
            let mut finished = Vec::new();
            let mut b =
                PacketBuilder::new(&mut finished, &header, 1, 1200, TAG_LEN).expect("header");
            b.buf()
                .extend_from_slice(&handshake(hello.len(), &[0x03, 0x00]));
            b.pad_to(1200);
            b.finish(&Crc32cKey, &IdentityHeaderKey).expect("sealed");
            vec![first, finished]
        }
        Blind::ShortPacket => {
            let mut d = initial_packet(dcid, scid, Bytes::new(), &handshake(0, &hello));
            let ping = encode(&[Frame::Ping]);
            d.extend(short_packet(dcid, 0, PacketNumber::new(0, None), &ping));
            vec![d]
        }
    };
    let mut from_victim = 0;
    for d in &datagrams {
        server.handle_datagram(t0, victim, BytesMut::from(&d[..]));
        from_victim += d.len();
    }
    let mut connected = None;
    let mut to_victim = 0;
    let mut buf = Vec::new();
    let mut now = t0;
    let end = t0 + Duration::from_secs(10);
    let mut written = 0;
    loop {
        while let Some((handle, event)) = server.poll_event() {
            if event == Event::Connected {
                connected = Some(handle);
            }
        }
        // A game server pushes state to every connected client.
        if written == 0
            && let Some(conn) = connected.and_then(|h| server.connection(h))
        {
            let id = conn.open_uni(0).expect("open");
            written = conn.write(id, &[0u8; 200_000]).expect("write");
        }
        while let Some(t) = server.poll_transmit(now, &mut buf) {
            if t.destination == victim {
                to_victim += t.size;
            }
            buf.clear();
        }
        match server.poll_timeout() {
            Some(at) if at <= end => {
                now = now.max(at);
                server.handle_timeout(now);
            }
            _ => break,
        }
    }
    (connected.is_some(), to_victim, from_victim)
}

/// RFC 9000 §8.1: the server may treat the client's address as validated only on proof that
/// the client received its packets (weir's proof: a packet addressed to the server's own
/// connection ID). A spoofer that never hears the ServerHello can still send a ClientFinished
/// to the connection ID it chose itself (its original destination ID, which routes Initials):
/// that proves nothing, and the server must keep to the 3× limit even when its application
/// writes to the "connected" peer (or not complete the handshake at all).
#[test]
fn a_blind_client_finished_does_not_validate_a_spoofed_address() {
    let (_, to_victim, from_victim) = blind_handshake(Blind::ClientFinished);
    assert!(
        to_victim <= 3 * from_victim,
        "the server sent {to_victim} bytes to an address that sent {from_victim} and never \
         proved it received anything"
    );
}

/// The same with a short packet coalesced behind the ClientHello, to the spoofer's own original
/// destination ID: at commit ea81f9e one such datagram got a validated, connected peer (found
/// by `connection_pair`: after a server connection timed out, each of the client's stale
/// datagrams opened a new connection that completed its handshake).
#[test]
fn a_blind_short_packet_neither_completes_the_handshake_nor_validates() {
    let (connected, to_victim, from_victim) = blind_handshake(Blind::ShortPacket);
    assert!(
        !connected,
        "a handshake completed without the ServerHello being received"
    );
    assert!(
        to_victim <= 3 * from_victim,
        "the server sent {to_victim} bytes to an address that sent {from_victim}"
    );
}

/// A client that has the server's first Initial (connected, handshake not yet confirmed), then
/// an Initial "from the server" carrying CONNECTION_CLOSE, with the server's source connection
/// ID or another one. Returns how the client closed, if it did.
fn client_after_forged_initial_close(same_scid: bool) -> Option<ConnectionError> {
    let t0 = epoch();
    let mut server = Endpoint::new(
        t0,
        EndpointConfig {
            seed: 31,
            ..EndpointConfig::default()
        },
        Some(ServerConfig {
            transport: TransportConfig::default(),
            retry: false,
        }),
    )
    .expect("server");
    let mut client = Endpoint::new(
        t0,
        EndpointConfig {
            seed: 32,
            ..EndpointConfig::default()
        },
        None,
    )
    .expect("client");
    let handle = client.connect(t0, server_addr()).expect("connect");
    let mut buf = Vec::new();
    let t = client.poll_transmit(t0, &mut buf).expect("client Initial");
    server.handle_datagram(t0, client_addr(), BytesMut::from(&buf[..t.size]));
    buf.clear();
    let t = server.poll_transmit(t0, &mut buf).expect("server Initial");
    let reply = buf[..t.size].to_vec();
    let (partial, _) = PartialDecode::new(BytesMut::from(&reply[..]), CID_LEN).expect("decodes");
    let (client_cid, server_cid) = (*partial.dcid(), *partial.scid().expect("long header"));
    client.handle_datagram(t0, server_addr(), BytesMut::from(&reply[..]));
    let mut events = Vec::new();
    while let Some((_, e)) = client.poll_event() {
        events.push(e);
    }
    assert!(events.contains(&Event::Connected));
    let scid = if same_scid {
        server_cid
    } else {
        ConnectionId::new(&[0x77; 8]).expect("cid")
    };
    let close = encode(&[Frame::ConnectionClose(ConnectionClose::Transport {
        error_code: var(TransportErrorCode::PROTOCOL_VIOLATION.into_inner()),
        frame_type: var(0),
        reason: Bytes::from_static(b"not your server"),
    })]);
    let header = Header::Initial {
        version: VERSION_1,
        dcid: client_cid,
        scid,
        token: Bytes::new(),
        number: PacketNumber::new(50, Some(0)),
    };
    let mut forged = Vec::new();
    let mut b = PacketBuilder::new(&mut forged, &header, 50, 1200, TAG_LEN).expect("header");
    b.buf().extend_from_slice(&close);
    b.finish(&Crc32cKey, &IdentityHeaderKey).expect("sealed");
    client.handle_datagram(t0, server_addr(), BytesMut::from(&forged[..]));
    let mut closed = None;
    while let Some((_, e)) = client.poll_event() {
        if let Event::Closed(error) = e {
            closed = Some(error);
        }
    }
    assert_eq!(
        client.connection(handle).map(|c| c.is_connected()),
        Some(closed.is_none())
    );
    closed
}

/// The control of the next test: the forged Initial is well-formed and reaches the client, so
/// with the server's own source connection ID it closes the connection.
#[test]
fn a_close_in_an_initial_from_the_server_closes_the_client() {
    let closed = client_after_forged_initial_close(true);
    assert!(
        matches!(
            closed,
            Some(ConnectionError::PeerTransportError { code, .. })
                if code == TransportErrorCode::PROTOCOL_VIOLATION
        ),
        "{closed:?}"
    );
}

/// RFC 9000 §7.2: once a client has received a valid Initial from the server, it discards
/// packets with another source connection ID. The fuzz target `connection_pair` found the
/// violation (commit ea81f9e) in the wild: a stale client Initial opened a second server
/// connection after the first one timed out, and that second connection's CONNECTION_CLOSE
/// closed the client (see `tests/tests/fuzz_bodies.rs`).
#[test]
fn the_client_discards_initials_with_another_source_connection_id() {
    assert_eq!(client_after_forged_initial_close(false), None);
}

/// A server (no Retry) gets a real client's first Initial from a spoofed address, padded with
/// `extra` bytes of junk, and never hears back. Returns how many times its timers fired until
/// the connection was gone (at most `cap`).
fn timer_firings_after_spoofed_initial(extra: usize, cap: usize) -> usize {
    let t0 = epoch();
    let mut server = Endpoint::new(
        t0,
        EndpointConfig::default(),
        Some(ServerConfig {
            transport: TransportConfig::default(),
            retry: false,
        }),
    )
    .expect("server");
    let mut d = client_initials(1).remove(0);
    d.resize(d.len() + extra, 0);
    server.handle_datagram(t0, addr(50), BytesMut::from(&d[..]));
    let mut buf = Vec::new();
    let mut now = t0;
    let mut firings = 0;
    loop {
        while server.poll_transmit(now, &mut buf).is_some() {
            buf.clear();
        }
        while server.poll_event().is_some() {}
        let Some(at) = server.poll_timeout() else {
            break;
        };
        if firings == cap {
            break;
        }
        firings += 1;
        now = now.max(at);
        server.handle_timeout(now);
    }
    firings
}

/// The control of the next test: a 1200-byte spoofed Initial costs the server a handful of
/// timer firings (probes until its budget is spent, then the idle timeout).
#[test]
fn a_spoofed_initial_costs_the_server_a_few_timer_firings() {
    let firings = timer_firings_after_spoofed_initial(0, 10_000);
    assert!(firings < 20, "{firings} timer firings");
}

/// RFC 9002 §6.2.2.1: a server that cannot send arms no probe timer. A spoofed Initial of
/// 1201 to 1215 bytes leaves the server, after its ServerHello and two probes (3600 bytes),
/// fewer bytes of budget than a packet needs but more than zero. Found by the fuzz target
/// `endpoint_datagrams` at commit ea81f9e: the server armed its probe timer anyway, and with
/// the capped backoff (`max_probe_timeout`, 3 s by default) the deadline stopped at the last
/// probe + 3 s, in the past, so the timer came due at the same instant for ever and a driver
/// following the contract would spin until the idle timeout.
#[test]
fn a_server_short_of_a_packets_budget_does_not_spin_on_its_probe_timer() {
    let firings = timer_firings_after_spoofed_initial(15, 10_000);
    assert!(firings < 20, "{firings} timer firings");
}
