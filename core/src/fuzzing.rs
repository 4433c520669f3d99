//! Fuzz bodies (feature `fuzzing`).
//!
//! The cargo-fuzz targets in `fuzz/` are one-line wrappers around these functions; keeping the
//! bodies in the library means every normal test build compiles them, and the property tests
//! below run them on random and mutated inputs, so they cannot rot between fuzzing campaigns.
//!
//! The bodies are oracles, not just "does not panic" checks: every frame that decodes is
//! encoded again and must decode to the same frame in exactly the advertised number of bytes;
//! every header that decodes is encoded again and must decode to the same header; sealing a
//! payload and opening it must give it back. They panic only when such a property fails — that
//! is, on a real bug.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use crate::config::{EndpointConfig, ServerConfig, TransportConfig};
use crate::connection::{Connection, ConnectionError, Event, TransportParameters};
use crate::endpoint::{ConnectionHandle, Endpoint};
use crate::protect::{Crc32cKey, IdentityHeaderKey, PacketKey};
use crate::streams::{ReadError, StreamEvent, StreamId};
use crate::wire::ConnectionId;
use crate::wire::frame::{self, Frame, HandshakeData};
use crate::wire::header::{
    Header, Packet, PacketType, PartialDecode, VERSION_1, VersionInvariants,
};
use crate::wire::packet::{PacketBuilder, open_packet};
use crate::wire::packet_number::PacketNumber;
use crate::wire::varint::VarInt;

/// Connection-ID lengths under which short headers are tried.
const LOCAL_CID_LENS: [usize; 4] = [0, 4, 8, 20];

/// What a fuzz body reached, so that tests can check that seeds go deep.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Reached {
    /// Packets whose unprotected header parsed.
    pub packets: usize,
    /// Packets that opened with integrity protection as received.
    pub opened: usize,
    /// Frames decoded (and round-tripped).
    pub frames: usize,
}

/// Decodes `data` as a datagram: every coalesced packet, under several local connection-ID
/// lengths, through header decode, integrity protection and frame decode, with round-trip
/// oracles at each layer.
pub fn decode_packet(data: &[u8]) {
    decode_packet_reached(data);
}

/// [`decode_packet`], reporting how far the input got.
pub fn decode_packet_reached(data: &[u8]) -> Reached {
    let mut reached = Reached::default();
    for cid_len in LOCAL_CID_LENS {
        let mut next = Some(BytesMut::from(data));
        while let Some(datagram) = next.take() {
            let len = datagram.len();
            let invariants = VersionInvariants::parse(&datagram)
                .map(|inv| (inv.version, inv.dcid.to_vec(), inv.scid.to_vec()));
            let (partial, rest) = match PartialDecode::new(datagram, cid_len) {
                Ok(ok) => ok,
                Err(e) => {
                    assert!(
                        e.offset <= len,
                        "error offset {} past {len} bytes: {e}",
                        e.offset
                    );
                    break;
                }
            };
            if let Some(rest) = &rest {
                assert!(
                    !rest.is_empty() && rest.len() < len,
                    "coalescing must make progress"
                );
            }
            reached.packets += 1;
            check_invariants(&partial, invariants);
            if let Ok(opened) =
                open_packet(partial.clone(), Some(&IdentityHeaderKey), &Crc32cKey, None)
            {
                reached.opened += 1;
                // Retry carries a token and Version Negotiation nothing: only packets with a
                // packet number carry frames.
                if opened.header.number().is_some() {
                    reached.frames += check_frames(opened.frames());
                }
            }
            if let Ok(packet) = partial.finish(Some(&IdentityHeaderKey)) {
                check_header_round_trip(&packet, cid_len);
                reached.frames += seal_then_open(packet);
            }
            next = rest;
        }
    }
    reached
}

/// Decodes `data` as a plaintext payload, with the round-trip oracle on every frame.
pub fn decode_frames(data: &[u8]) {
    decode_frames_reached(data);
}

/// [`decode_frames`], returning the number of frames decoded.
pub fn decode_frames_reached(data: &[u8]) -> usize {
    check_frames(frame::Iter::new(Bytes::copy_from_slice(data)))
}

/// The version-independent view of the packet's first bytes must agree with the full parse
/// (RFC 8999).
fn check_invariants(partial: &PartialDecode, invariants: Option<(u32, Vec<u8>, Vec<u8>)>) {
    if !partial.is_long() {
        assert!(
            invariants.is_none(),
            "a short header has no version invariants"
        );
        return;
    }
    let (version, dcid, scid) = invariants.expect("a parsed long header has version invariants");
    assert_eq!(Some(version), partial.version());
    assert_eq!(dcid, partial.dcid().as_slice());
    assert_eq!(Some(&scid[..]), partial.scid().map(|c| c.as_slice()));
}

/// Encodes the decoded header again, with the same payload, and decodes it: same header,
/// same payload.
fn check_header_round_trip(packet: &Packet, cid_len: usize) {
    let header = &packet.header;
    let mut buf = Vec::new();
    let partial = header.encode(&mut buf);
    assert_eq!(buf.len(), header.encoded_len(), "encoded_len of {header:?}");
    if matches!(header, Header::VersionNegotiation { .. }) {
        assert_eq!(partial.header_len(), buf.len());
    } else {
        buf.extend_from_slice(&packet.payload);
        if partial.set_length(&mut buf).is_err() {
            return; // longer than weir ever writes
        }
    }
    let (again, rest) = PartialDecode::new(BytesMut::from(&buf[..]), cid_len)
        .unwrap_or_else(|e| panic!("re-encoded {header:?} failed to decode: {e}"));
    assert!(rest.is_none(), "re-encoded {header:?} left bytes over");
    let again = again
        .finish(None)
        .unwrap_or_else(|e| panic!("re-encoded {header:?} failed to finish: {e}"));
    assert_eq!(&again.header, header);
    assert_eq!(again.payload, packet.payload);
}

/// Treats the received payload as plaintext with room for a tag: seals it, opens it (which
/// must succeed and give the plaintext back), then decodes its frames. This gets fuzz inputs
/// past the CRC to the frame decoder through the real packet path.
fn seal_then_open(packet: Packet) -> usize {
    let Packet {
        header,
        header_bytes,
        mut payload,
    } = packet;
    if matches!(header, Header::VersionNegotiation { .. }) || payload.len() < Crc32cKey.tag_len() {
        return 0;
    }
    let number = header.number().map_or(0, |pn| pn.expand(0));
    Crc32cKey
        .seal(number, &header_bytes, &mut payload)
        .unwrap_or_else(|e| panic!("seal failed with room for the tag: {e}"));
    let plain_len = payload.len() - Crc32cKey.tag_len();
    let plain = Bytes::copy_from_slice(payload.get(..plain_len).unwrap_or_default());
    Crc32cKey
        .open(number, &header_bytes, &mut payload)
        .unwrap_or_else(|e| panic!("sealed payload failed to open: {e}"));
    assert_eq!(payload, plain, "open must give back what was sealed");
    if matches!(header, Header::Retry { .. }) {
        return 0;
    }
    check_frames(frame::Iter::with_offset(
        payload.freeze(),
        header_bytes.len(),
    ))
}

/// Drains `frames`, checking every decoded frame; returns how many decoded.
fn check_frames(mut frames: frame::Iter) -> usize {
    let mut count = 0;
    for result in frames.by_ref() {
        match result {
            Ok(frame) => {
                check_frame(&frame);
                count += 1;
            }
            Err(_) => break,
        }
    }
    assert!(
        frames.next().is_none(),
        "frame iterator must stop after an error"
    );
    count
}

fn check_frame(frame: &Frame) {
    match frame {
        Frame::Ack(ack) => {
            let mut ranges = 0u64;
            let mut prev_start: Option<u64> = None;
            for r in ack.iter() {
                assert!(r.start < r.end, "empty ACK range {r:?}");
                if let Some(prev) = prev_start {
                    assert!(
                        r.end < prev,
                        "ACK ranges must descend with gaps: {r:?} then {prev}"
                    );
                }
                prev_start = Some(r.start);
                ranges += 1;
            }
            assert_eq!(
                ranges,
                ack.range_count(),
                "every validated range is yielded"
            );
        }
        Frame::Stream(f) => {
            let end = f.offset.into_inner() + f.data.len() as u64;
            assert!(end <= VarInt::MAX.into_inner());
        }
        _ => {}
    }
    let mut buf = Vec::with_capacity(frame.encoded_len());
    frame.encode(&mut buf);
    assert_eq!(buf.len(), frame.encoded_len(), "encoded_len of {frame:?}");
    let mut again = frame::Iter::new(Bytes::from(buf));
    match again.next() {
        Some(Ok(decoded)) => assert_eq!(&decoded, frame, "round trip"),
        other => panic!("re-encoded {frame:?} decoded as {other:?}"),
    }
    assert!(
        again.next().is_none(),
        "re-encoded {frame:?} decoded as more than one frame"
    );
}

// ===== Endpoints under fuzzed traffic =====

/// The origin of a fuzz run's virtual time. Only durations are ever added to it and compared,
/// so a run does not depend on its value (DESIGN.md §2).
#[allow(clippy::disallowed_methods)] // one base instant per run; the core itself never reads it
fn epoch() -> Instant {
    Instant::now()
}

/// The fuzz input, read front to back; a read past the end yields zeros or nothing, so every
/// byte string is a valid input.
struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn byte(&mut self) -> Option<u8> {
        let (&first, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(first)
    }

    fn u8(&mut self) -> u8 {
        self.byte().unwrap_or(0)
    }

    fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        head
    }
}

/// Connection-ID length of every endpoint in the bodies (the default).
const FUZZ_CID_LEN: usize = 8;
/// Most datagrams one [`endpoint_datagrams`] input delivers.
const MAX_DATAGRAMS: usize = 64;
/// Most timer firings while time advances by one step.
const MAX_TIMER_ROUNDS: usize = 1_000;
/// Timer firings in a row at one instant that send nothing before the bodies call it a livelock
/// (a driver following the contract would spin on such a timer).
const MAX_IDLE_FIRINGS: usize = 64;
/// How far the clock moves on past a livelocked timer when the oracle tolerates it.
const LIVELOCK_NUDGE: Duration = Duration::from_millis(100);
/// Most timer firings after the input ended, until every connection is gone.
const MAX_FINAL_TIMER_ROUNDS: usize = 100_000;
/// A drain of `poll_transmit` that yields more than this at one instant is a livelock.
const MAX_TRANSMITS_PER_DRAIN: usize = 10_000;
/// Source addresses the fuzzer picks from.
const FUZZ_ADDRESSES: u8 = 4;
/// Learned connection IDs and tokens kept per address.
const MAX_LEARNED: usize = 16;
/// RFC 9000 §8.1: at most three times the bytes received from an unvalidated address.
const AMPLIFICATION_FACTOR: u64 = 3;

fn fuzz_address(index: u8) -> SocketAddr {
    SocketAddr::from(([10, 9, 0, 1 + index % FUZZ_ADDRESSES], 5000))
}

/// One of a few fixed connection IDs the fuzzer's Initials use (so that it can address a
/// connection it opened again), or a short one that a server must refuse.
fn slot_cid(selector: u8) -> ConnectionId {
    let len = if selector & 0x08 != 0 {
        4
    } else {
        FUZZ_CID_LEN
    };
    ConnectionId::new(&[0xd0 | (selector & 0x07); FUZZ_CID_LEN][..len]).unwrap_or_default()
}

/// The byte at `offset` of a fuzzed stream or message `key`, so that a reader can check every
/// byte without keeping what was sent.
fn fuzz_pattern(key: u64, offset: u64) -> u8 {
    let x = key
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(offset.wrapping_mul(0xBF58_476D_1CE4_E5B9));
    (x ^ (x >> 29) ^ (x >> 47)) as u8
}

/// A HANDSHAKE frame carrying `data` at `offset`.
fn handshake_frame(offset: usize, data: &[u8], out: &mut Vec<u8>) {
    Frame::Handshake(HandshakeData {
        offset: VarInt::saturating_from_u64(offset as u64),
        data: Bytes::copy_from_slice(data),
    })
    .encode(out);
}

/// A ClientHello (message type 1, varint length, transport parameters) announcing `scid` and
/// generous limits.
fn client_hello(scid: ConnectionId) -> Vec<u8> {
    let params = TransportParameters {
        initial_source_connection_id: Some(scid),
        initial_max_data: 1 << 20,
        initial_max_stream_data_bidi_local: 1 << 16,
        initial_max_stream_data_bidi_remote: 1 << 16,
        initial_max_stream_data_uni: 1 << 16,
        initial_max_streams_bidi: 8,
        initial_max_streams_uni: 8,
        max_datagram_frame_size: Some(1200),
        ..TransportParameters::default()
    };
    let mut body = Vec::new();
    params.encode(&mut body);
    let mut message = vec![0x01];
    VarInt::saturating_from_u64(body.len() as u64).encode(&mut message);
    message.extend_from_slice(&body);
    message
}

/// Seals one packet: `header`, then `frames` (cut to what fits in `max_size`), padded to `pad`.
fn seal_packet(header: &Header, pn: u64, frames: &[u8], max_size: usize, pad: usize) -> Vec<u8> {
    let mut buf = Vec::new();
    let Ok(mut builder) = PacketBuilder::new(&mut buf, header, pn, max_size, Crc32cKey.tag_len())
    else {
        return buf;
    };
    let room = builder.frame_space();
    builder
        .buf()
        .extend_from_slice(frames.get(..room).unwrap_or(frames));
    builder.pad_to(pad);
    if builder.finish(&Crc32cKey, &IdentityHeaderKey).is_err() {
        buf.clear();
    }
    buf
}

/// What [`endpoint_datagrams`] reached, so that tests can check that inputs go deep.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct EndpointReached {
    /// Datagrams delivered to the server.
    pub datagrams: usize,
    /// Connections the server accepted.
    pub accepted: u64,
    /// Connections that completed the handshake.
    pub connected: usize,
    /// Connections that reported `Closed`.
    pub closed: usize,
    /// Datagrams the server sent.
    pub transmitted: usize,
    /// Stream bytes the server's application read.
    pub stream_bytes: u64,
    /// Timer livelocks seen (and tolerated, outside strict mode).
    pub livelocks: usize,
}

/// A server endpoint receives datagrams parsed from `data`, from a few source addresses at
/// fuzzer-chosen times; it is driven as the contract says (drain `poll_transmit`, drain
/// `poll_event`, fire timers as they come due), and its application reads every stream.
///
/// Input: a flags byte (bit 0: Retry; bit 1: at most 4 connections, else 64; high nibble: the
/// idle timeout), then records of `op, time step, length, payload`. The low two bits of `op`
/// pick how the payload becomes a packet: 0 raw bytes (bit 5: zero-padded to 1200), 1 an
/// Initial, 2 a short-header packet, 3 a Handshake packet, the last three sealed with a valid
/// integrity tag around the payload's frames so that the fuzzer reaches frame handling (the CRC
/// rejects random bytes). Bits 2–3 pick the source address; bit 4 coalesces the packet into
/// the previous record's datagram. For long headers, bit 5 prepends a ClientHello, bit 6 a
/// ClientFinished, and bit 7 reuses a connection ID and token the server sent to that address;
/// short headers go to connection IDs the server issued. The payload starts with selector bytes
/// (connection ID, packet number) before the frames.
///
/// Oracles: no panic; `poll_transmit` runs dry and reports the size it wrote; no timer keeps
/// coming due at the same instant without anything being sent (a livelock); the server never
/// holds more than `max_connections` connections; it never sends an address more than three
/// times what it received from it unless that address completed a handshake or echoed a
/// connection ID or token the server sent it (RFC 9000 §8.1); and once the input ends and time
/// runs on, every connection times out and is freed.
///
/// Bugs these bodies found (each pinned by a test in `tests/tests/adversarial.rs` or
/// `tests/tests/fuzz_bodies.rs`) that this oracle leaves out, so that fuzzing gets past any
/// that is still open or comes back:
/// - a datagram from one address credited to the anti-amplification budget of a connection
///   with another address, and a coalesced datagram credited once per switch between
///   connections: the addresses such traffic reaches are not checked;
/// - a probe timer that livelocks when the budget is a few bytes short of the limit (with the
///   default capped PTO backoff): the clock moves on, as a real driver's would, and the
///   livelock is counted in [`EndpointReached::livelocks`];
/// - a handshake completed without proof that the client received anything (a ClientFinished
///   or a short packet addressed to the client-chosen original destination connection ID): the
///   exemption of addresses that completed a handshake covers such spoofers.
///
/// [`endpoint_datagrams_reached`] with `strict` fails on all of them: it exempts only
/// addresses that echoed a connection ID or token the server sent them.
pub fn endpoint_datagrams(data: &[u8]) {
    endpoint_datagrams_reached(data, false);
}

/// [`endpoint_datagrams`], reporting how far the input got; `strict` also fails on the known
/// bugs that [`endpoint_datagrams`] leaves out.
pub fn endpoint_datagrams_reached(data: &[u8], strict: bool) -> EndpointReached {
    let mut input = Input(data);
    let flags = input.u8();
    let Some(mut run) = ServerRun::new(flags, strict) else {
        return EndpointReached::default();
    };
    let mut pending: Option<(SocketAddr, Vec<u8>, Duration)> = None;
    while run.reached.datagrams < MAX_DATAGRAMS {
        let Some(op) = input.byte() else {
            break;
        };
        let step = time_step(input.u8());
        let len = usize::from(input.u8());
        let payload = input.take(len);
        let from = fuzz_address(op >> 2);
        if op & 0x10 == 0
            && let Some((from, datagram, step)) = pending.take()
        {
            // Deliver the previous datagram first: this packet may echo what it earns.
            run.deliver(from, datagram, step);
        }
        let packet = run.build(op, from, payload);
        match &mut pending {
            Some((_, datagram, _)) => datagram.extend_from_slice(&packet),
            None => pending = Some((from, packet, step)),
        }
    }
    if let Some((from, datagram, step)) = pending.take() {
        run.deliver(from, datagram, step);
    }
    run.finish();
    run.reached
}

/// The `sel`-th item the server sent to `from`, if `echo` asks for one and there is one.
fn learned<T: Clone>(
    map: &HashMap<SocketAddr, Vec<T>>,
    from: SocketAddr,
    echo: bool,
    sel: u8,
) -> Option<T> {
    let items = map.get(&from).filter(|v| echo && !v.is_empty())?;
    items.get(usize::from(sel) % items.len()).cloned()
}

/// A fuzzer-chosen pause before a datagram: 0–199 ms, then whole seconds up to a minute.
fn time_step(byte: u8) -> Duration {
    match byte {
        0..200 => Duration::from_millis(u64::from(byte)),
        _ => Duration::from_secs(u64::from(byte - 199)),
    }
}

/// The server, the traffic it saw, and what the fuzzer may know.
struct ServerRun {
    server: Endpoint,
    now: Instant,
    max_connections: usize,
    strict: bool,
    received: HashMap<SocketAddr, u64>,
    sent: HashMap<SocketAddr, u64>,
    /// Addresses that completed a handshake or proved they receive the server's packets.
    exempt: HashSet<SocketAddr>,
    /// Addresses whose budget the known accounting bugs may have inflated.
    tainted: HashSet<SocketAddr>,
    /// Source connection IDs and Retry tokens the server sent to each address.
    learned_cids: HashMap<SocketAddr, Vec<ConnectionId>>,
    learned_tokens: HashMap<SocketAddr, Vec<Bytes>>,
    /// The addresses each connection ID was used from or sent to.
    owners: HashMap<ConnectionId, HashSet<SocketAddr>>,
    /// The next packet number per destination connection ID (short headers).
    next_pn: HashMap<ConnectionId, u64>,
    spin: SpinGuard,
    reached: EndpointReached,
}

impl ServerRun {
    fn new(flags: u8, strict: bool) -> Option<Self> {
        let now = epoch();
        let max_connections = if flags & 0x02 != 0 { 4 } else { 64 };
        let config = EndpointConfig {
            seed: u64::from(flags),
            max_connections,
            max_stateless_responses: 8,
            ..EndpointConfig::default()
        };
        let transport = TransportConfig {
            idle_timeout: Duration::from_millis(500 + 500 * u64::from(flags >> 4)),
            ..TransportConfig::default()
        };
        let retry = flags & 0x01 != 0;
        let server = Endpoint::new(now, config, Some(ServerConfig { transport, retry })).ok()?;
        Some(Self {
            server,
            now,
            max_connections,
            strict,
            received: HashMap::new(),
            sent: HashMap::new(),
            exempt: HashSet::new(),
            tainted: HashSet::new(),
            learned_cids: HashMap::new(),
            learned_tokens: HashMap::new(),
            owners: HashMap::new(),
            next_pn: HashMap::new(),
            spin: SpinGuard::default(),
            reached: EndpointReached::default(),
        })
    }

    /// The packet a record describes (see [`endpoint_datagrams`]).
    fn build(&mut self, op: u8, from: SocketAddr, payload: &[u8]) -> Vec<u8> {
        let mut p = Input(payload);
        match op & 0x03 {
            0 => {
                let mut raw = payload.to_vec();
                if op & 0x20 != 0 && raw.len() < 1200 {
                    raw.resize(1200, 0);
                }
                raw
            }
            1 | 3 => {
                let (dcid_sel, scid_sel, pn) = (p.u8(), p.u8(), u64::from(p.u8()));
                let echo = op & 0x80 != 0;
                let dcid = learned(&self.learned_cids, from, echo, dcid_sel)
                    .unwrap_or_else(|| slot_cid(dcid_sel));
                let token = learned(&self.learned_tokens, from, echo, dcid_sel).unwrap_or_default();
                let scid = if scid_sel & 0x08 != 0 {
                    ConnectionId::EMPTY
                } else {
                    ConnectionId::new(&[0xc0 | (scid_sel & 0x07); FUZZ_CID_LEN]).unwrap_or_default()
                };
                let hello = client_hello(scid);
                let mut frames = Vec::new();
                if op & 0x20 != 0 {
                    handshake_frame(0, &hello, &mut frames);
                }
                if op & 0x40 != 0 {
                    handshake_frame(hello.len(), &[0x03, 0x00], &mut frames);
                }
                frames.extend_from_slice(p.0);
                let number = PacketNumber::new(pn, None);
                let header = if op & 0x03 == 1 {
                    Header::Initial {
                        version: VERSION_1,
                        dcid,
                        scid,
                        token,
                        number,
                    }
                } else {
                    Header::Handshake {
                        version: VERSION_1,
                        dcid,
                        scid,
                        number,
                    }
                };
                let pad = if scid_sel & 0x10 != 0 { 0 } else { 1200 };
                seal_packet(&header, pn, &frames, 1500, pad)
            }
            _ => {
                let (dcid_sel, delta, bits) = (p.u8(), u64::from(p.u8()), p.u8());
                let all: Vec<ConnectionId> =
                    self.learned_cids.values().flatten().copied().collect();
                let dcid = all
                    .get(usize::from(dcid_sel) % all.len().max(1))
                    .copied()
                    .unwrap_or_else(|| slot_cid(dcid_sel));
                let next = self.next_pn.entry(dcid).or_insert(0);
                let pn = next.saturating_add(delta);
                *next = pn.saturating_add(1);
                let header = Header::Short {
                    spin: bits & 0x10 != 0,
                    key_phase: bits & 0x20 != 0,
                    dcid,
                    number: PacketNumber::with_len(pn, usize::from(bits & 0x03) + 1),
                };
                seal_packet(&header, pn, p.0, 1500, 0)
            }
        }
    }

    /// Lets `step` pass, then hands the server `datagram` from `from`.
    fn deliver(&mut self, from: SocketAddr, datagram: Vec<u8>, step: Duration) {
        self.advance(step);
        self.account(from, &datagram);
        *self.received.entry(from).or_default() += datagram.len() as u64;
        self.server
            .handle_datagram(self.now, from, BytesMut::from(&datagram[..]));
        self.reached.datagrams += 1;
        self.drain();
        self.check();
    }

    /// What a datagram from `from` tells the oracle: an address that echoes what the server
    /// sent it is validated; connection IDs used from another address, or mixed in one
    /// datagram, reach the known accounting bugs.
    fn account(&mut self, from: SocketAddr, datagram: &[u8]) {
        let mut dcids = Vec::new();
        let mut rest = Some(BytesMut::from(datagram));
        while let Some(data) = rest.take() {
            let Ok((partial, next)) = PartialDecode::new(data, FUZZ_CID_LEN) else {
                break;
            };
            rest = next;
            let dcid = *partial.dcid();
            let echoed_cid = self
                .learned_cids
                .get(&from)
                .is_some_and(|v| v.contains(&dcid));
            let echoed_token = !partial.token().is_empty()
                && self
                    .learned_tokens
                    .get(&from)
                    .is_some_and(|v| v.iter().any(|t| t[..] == *partial.token()));
            if echoed_cid || echoed_token {
                self.exempt.insert(from);
            }
            if partial.packet_type() == PacketType::Initial {
                self.owners.entry(dcid).or_default().insert(from);
            }
            if !dcids.contains(&dcid) {
                dcids.push(dcid);
            }
        }
        let mixed = dcids.len() > 1;
        for dcid in &dcids {
            if let Some(owners) = self.owners.get(dcid) {
                for owner in owners {
                    if mixed || *owner != from {
                        self.tainted.insert(*owner);
                    }
                }
            }
        }
        if mixed {
            self.tainted.insert(from);
        }
    }

    /// Fires the timers due within `step`, draining after each, then moves the clock.
    fn advance(&mut self, step: Duration) {
        let target = self.now + step;
        for _ in 0..MAX_TIMER_ROUNDS {
            match self.server.poll_timeout() {
                Some(at) if at <= target => self.fire(at),
                _ => break,
            }
        }
        self.now = self.now.max(target);
        self.server.handle_timeout(self.now);
        self.drain();
        self.check();
    }

    /// Fires the timers due at `at`, then drains.
    fn fire(&mut self, at: Instant) {
        self.now = self.now.max(at);
        let before = self.reached.transmitted;
        self.server.handle_timeout(self.now);
        self.drain();
        self.check();
        let next = self.server.poll_timeout();
        if self
            .spin
            .fired(self.now, next, self.reached.transmitted > before)
        {
            assert!(
                !self.strict,
                "livelock: a timer keeps coming due at the same instant and nothing is sent"
            );
            self.reached.livelocks += 1;
            self.now += LIVELOCK_NUDGE;
        }
    }

    /// Drains `poll_transmit` (learning connection IDs and tokens the fuzzer could see) and
    /// `poll_event` (an application that reads everything).
    fn drain(&mut self) {
        let mut buf = Vec::new();
        let mut count = 0;
        while let Some(t) = self.server.poll_transmit(self.now, &mut buf) {
            count += 1;
            assert!(
                count <= MAX_TRANSMITS_PER_DRAIN,
                "poll_transmit never ran dry"
            );
            assert_eq!(t.size, buf.len(), "Transmit::size is what was written");
            *self.sent.entry(t.destination).or_default() += t.size as u64;
            self.learn(t.destination, &buf);
            self.reached.transmitted += 1;
            buf.clear();
        }
        while let Some((handle, event)) = self.server.poll_event() {
            if let Event::Closed(_) = event {
                self.reached.closed += 1;
            }
            let Some(conn) = self.server.connection(handle) else {
                continue;
            };
            match event {
                Event::Connected => {
                    // The brief of the oracle exempts an address that completed a handshake; in
                    // strict mode only proof of receipt (an echoed connection ID or token)
                    // does, since weir completed handshakes without it (see above).
                    if !self.strict {
                        self.exempt.insert(conn.remote_address());
                    }
                    self.reached.connected += 1;
                }
                Event::Stream(_) => {
                    while let Some(id) = conn.accept_bi() {
                        self.reached.stream_bytes += drain_stream(self.now, conn, id);
                    }
                    while let Some(id) = conn.accept_uni() {
                        self.reached.stream_bytes += drain_stream(self.now, conn, id);
                    }
                    if let Event::Stream(StreamEvent::Readable { id }) = event {
                        self.reached.stream_bytes += drain_stream(self.now, conn, id);
                    }
                }
                Event::DatagramReceived => while conn.recv_datagram(self.now).is_some() {},
                Event::Closed(_) | Event::Drained => {}
            }
        }
        self.reached.accepted = self.server.stats().connections_accepted;
    }

    /// Connection IDs (from long headers) and Retry tokens in a datagram the server sent `to`.
    fn learn(&mut self, to: SocketAddr, datagram: &[u8]) {
        let mut rest = Some(BytesMut::from(datagram));
        while let Some(data) = rest.take() {
            let Ok((partial, next)) = PartialDecode::new(data, FUZZ_CID_LEN) else {
                break;
            };
            rest = next;
            let Some(scid) = partial.scid().copied() else {
                continue;
            };
            let cids = self.learned_cids.entry(to).or_default();
            if !cids.contains(&scid) && cids.len() < MAX_LEARNED {
                cids.push(scid);
            }
            self.owners.entry(scid).or_default().insert(to);
            if partial.packet_type() == PacketType::Retry
                && let Ok(packet) = open_packet(partial, None, &Crc32cKey, None)
            {
                let tokens = self.learned_tokens.entry(to).or_default();
                if tokens.len() < MAX_LEARNED {
                    tokens.push(packet.payload);
                }
            }
        }
    }

    fn check(&self) {
        assert!(
            self.server.connection_count() <= self.max_connections,
            "{} connections, limit {}",
            self.server.connection_count(),
            self.max_connections
        );
        for (address, &sent) in &self.sent {
            if self.exempt.contains(address) || (!self.strict && self.tainted.contains(address)) {
                continue;
            }
            let received = self.received.get(address).copied().unwrap_or(0);
            assert!(
                sent <= AMPLIFICATION_FACTOR * received,
                "anti-amplification: sent {sent} bytes to {address}, which sent {received} and \
                 never proved it receives"
            );
        }
    }

    /// Runs the clock on: every connection must time out, drain and be freed.
    fn finish(&mut self) {
        for _ in 0..MAX_FINAL_TIMER_ROUNDS {
            match self.server.poll_timeout() {
                Some(at) => self.fire(at),
                None => break,
            }
        }
        assert_eq!(
            self.server.poll_timeout(),
            None,
            "timers still fire after {MAX_FINAL_TIMER_ROUNDS} rounds"
        );
        assert_eq!(
            self.server.connection_count(),
            0,
            "a connection outlived its idle timeout"
        );
    }
}

/// Detects a timer that keeps coming due at the same instant while the endpoint sends nothing.
#[derive(Debug, Default)]
struct SpinGuard {
    count: usize,
}

impl SpinGuard {
    /// After the timers due at `now` fired: `next` is the endpoint's next deadline, `sent`
    /// whether it sent anything. Returns whether it is livelocked (and starts counting anew).
    fn fired(&mut self, now: Instant, next: Option<Instant>, sent: bool) -> bool {
        if !sent && next.is_some_and(|t| t <= now) {
            self.count += 1;
        } else {
            self.count = 0;
        }
        let livelocked = self.count >= MAX_IDLE_FIRINGS;
        if livelocked {
            self.count = 0;
        }
        livelocked
    }
}

/// Reads a stream until it blocks; returns the bytes read.
fn drain_stream(now: Instant, conn: &mut Connection, id: StreamId) -> u64 {
    let mut total = 0u64;
    while let Ok(Some(chunk)) = conn.read(now, id, usize::MAX) {
        if chunk.is_empty() {
            break;
        }
        total += chunk.len() as u64;
    }
    total
}

// ===== Two endpoints over a fuzzed network =====

/// Most script steps one [`connection_pair`] input runs.
const MAX_STEPS: usize = 512;
/// Stream bytes one input may write in total.
const MAX_WRITTEN: u64 = 256 * 1024;
/// Datagrams a direction of the network holds; beyond it the oldest is dropped.
const MAX_QUEUED: usize = 256;
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

/// A datagram in flight and the bits flipped in it so far.
struct InFlight {
    data: Vec<u8>,
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
    /// A second server connection completed a handshake (see [`connection_pair`]); the
    /// client's data may go to it.
    ghost_connection: bool,
    /// A server connection timed out (its state is gone while the client may live on).
    server_timed_out: bool,
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
/// Bugs these bodies found (each pinned by a test in `tests/tests/adversarial.rs` or
/// `tests/tests/fuzz_bodies.rs`) that this oracle excuses, so that fuzzing gets past any that
/// is still open or comes back:
/// - the client accepts packets from a server connection other than the one whose source
///   connection ID it fixed (RFC 9000 §7.2 requires discarding them), so a second server
///   connection, opened by a stale client Initial after the first timed out, can close it: a
///   client transport error is excused once such a packet reached the client;
/// - the server acts on a client Initial before checking its integrity tag, so a corrupted one
///   opens a connection or earns a Retry under a corrupted connection ID, which later fails the
///   transport-parameter check: transport errors are excused once the server was handed a
///   corrupted long-header datagram;
/// - with Retry, a stale Initial carrying the token of a server connection that timed out
///   reopens a connection under the same connection ID (the Retry's source ID becomes the
///   connection's own, and an expired but authentic token is accepted); the client cannot tell
///   it from the old one, and it closes on the client's acknowledgements of the old one's
///   packets: transport errors are excused once a server connection timed out and another was
///   accepted;
/// - a server connection completes its handshake on a packet addressed to the client-chosen
///   original destination connection ID, which proves nothing, so those stale Initials also
///   open "connected" ghost connections: the final delivery check is then skipped;
/// - a probe timer livelock (see [`endpoint_datagrams`]): the clock moves on.
///
/// [`connection_pair_reached`] with `strict` fails on all of them.
pub fn connection_pair(data: &[u8]) {
    connection_pair_reached(data, false);
}

/// [`connection_pair`], reporting how far the input got; `strict` also fails on the bugs that
/// [`connection_pair`] excuses.
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
        datagram_receive_buffer: (flags & 0x08 == 0).then_some(16 * 1024),
        keep_alive_interval: (flags & 0x10 != 0).then_some(Duration::from_secs(5)),
        ..TransportConfig::default()
    }
}

impl PairRun {
    fn new(flags: u8, strict: bool) -> Option<Self> {
        let now = epoch();
        let transport = pair_config(flags);
        let server = Endpoint::new(
            now,
            EndpointConfig {
                seed: u64::from(flags) << 1,
                ..EndpointConfig::default()
            },
            Some(ServerConfig {
                transport: transport.clone(),
                retry: flags & 0x01 != 0,
            }),
        )
        .ok()?;
        let mut client = Endpoint::new(
            now,
            EndpointConfig {
                seed: u64::from(flags) << 1 | 1,
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
            ghost_connection: false,
            server_timed_out: false,
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
            1 => self.deliver(side),
            2 => {
                self.queues[side].pop_front();
            }
            3 => {
                // Duplicate: a copy arrives now, the original stays queued.
                if let Some(front) = self.queues[side].front() {
                    let (copy, flips) = (front.data.clone(), front.flips);
                    self.hand_over(side, copy, flips);
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
            self.hand_over(from, datagram.data, datagram.flips);
        }
    }

    fn hand_over(&mut self, from: usize, datagram: Vec<u8>, flips: u8) {
        if from == 1 {
            self.watch_server_scid(&datagram);
        } else if flips > 0 && datagram.first().is_some_and(|b| b & 0x80 != 0) {
            self.corrupted_client_long_header = true;
        }
        let source = self.peers[from].address;
        self.peers[1 - from].endpoint.handle_datagram(
            self.now,
            source,
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
            while let Some(t) = self.peers[i].endpoint.poll_transmit(self.now, &mut buf) {
                count += 1;
                assert!(
                    count <= MAX_TRANSMITS_PER_DRAIN,
                    "poll_transmit never ran dry"
                );
                assert_eq!(t.size, buf.len(), "Transmit::size is what was written");
                assert_eq!(t.destination, self.peers[1 - i].address, "sent to the peer");
                self.transmitted += 1;
                let queue = &mut self.queues[i];
                if queue.len() >= MAX_QUEUED {
                    queue.pop_front();
                }
                queue.push_back(InFlight {
                    data: std::mem::take(&mut buf),
                    flips: 0,
                });
            }
            self.events(i);
        }
    }

    fn events(&mut self, i: usize) {
        while let Some((handle, event)) = self.peers[i].endpoint.poll_event() {
            if i == 1 && matches!(event, Event::Closed(ConnectionError::TimedOut(_))) {
                self.server_timed_out = true;
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
                        ConnectionError::VersionMismatch => false,
                    };
                    assert!(benign, "side {i} closed with {error}");
                    self.peers[i].closed = Some(error);
                }
                Event::Stream(_) | Event::Drained => {}
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
                    self.hand_over(from, datagram.data, datagram.flips);
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

#[cfg(all(test, feature = "fuzzing"))]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::wire::ConnectionId;
    use crate::wire::frame::tests::sample_frames;
    use crate::wire::header::{VERSION_1, VersionList};
    use crate::wire::packet::PacketBuilder;
    use crate::wire::packet_number::PacketNumber;

    fn cid(len: usize) -> ConnectionId {
        ConnectionId::new(&vec![0x5a; len]).unwrap()
    }

    fn build(buf: &mut Vec<u8>, header: &Header, pn: u64, frames: &[Frame]) {
        let mut b = PacketBuilder::new(buf, header, pn, 1200, Crc32cKey.tag_len()).unwrap();
        for f in frames {
            assert!(b.write_frame(f));
        }
        b.finish(&Crc32cKey, &IdentityHeaderKey).unwrap();
    }

    /// Valid datagrams of every packet type: the seeds the mutation tests start from.
    fn seed_datagrams() -> Vec<Vec<u8>> {
        let frames = sample_frames();
        let mut seeds = Vec::new();
        for cid_len in LOCAL_CID_LENS {
            let mut buf = Vec::new();
            let short = Header::Short {
                spin: true,
                key_phase: false,
                dcid: cid(cid_len),
                // The bodies open with nothing received yet (expected packet number 0).
                number: PacketNumber::new(100, None),
            };
            build(&mut buf, &short, 100, &frames[..12]);
            seeds.push(buf);
        }
        // Initial + Handshake + Short, coalesced.
        let mut buf = Vec::new();
        let initial = Header::Initial {
            version: VERSION_1,
            dcid: cid(8),
            scid: cid(4),
            token: Bytes::from_static(b"cookie"),
            number: PacketNumber::new(0, None),
        };
        build(&mut buf, &initial, 0, &frames[..4]);
        let handshake = Header::Handshake {
            version: VERSION_1,
            dcid: cid(8),
            scid: cid(4),
            number: PacketNumber::new(1, None),
        };
        build(&mut buf, &handshake, 1, &frames[4..10]);
        let short = Header::Short {
            spin: false,
            key_phase: true,
            dcid: cid(8),
            number: PacketNumber::new(2, None),
        };
        build(&mut buf, &short, 2, &frames[10..]);
        seeds.push(buf);
        // Retry and Version Negotiation.
        let mut buf = Vec::new();
        let retry = Header::Retry {
            version: VERSION_1,
            dcid: cid(4),
            scid: cid(8),
        };
        let mut b = PacketBuilder::new(&mut buf, &retry, 0, 1200, Crc32cKey.tag_len()).unwrap();
        b.buf().extend_from_slice(b"retry token");
        b.finish(&Crc32cKey, &IdentityHeaderKey).unwrap();
        seeds.push(buf);
        let mut buf = Vec::new();
        let _ = Header::VersionNegotiation {
            dcid: cid(4),
            scid: cid(8),
            versions: VersionList::new(&[VERSION_1, 0x1a2a_3a4a]),
        }
        .encode(&mut buf);
        seeds.push(buf);
        seeds
    }

    #[test]
    fn seeds_reach_every_layer() {
        let seeds = seed_datagrams();
        let frames = sample_frames().len();
        for (i, seed) in seeds.iter().enumerate() {
            let reached = decode_packet_reached(seed);
            assert!(reached.packets > 0, "seed {i}: {reached:?}");
            assert!(reached.opened > 0, "seed {i} did not open: {reached:?}");
        }
        // The coalesced seed: its two long-header packets open under every local cid length,
        // its short packet only under the right one (8).
        let reached = decode_packet_reached(&seeds[LOCAL_CID_LENS.len()]);
        assert_eq!(reached.opened, 2 * LOCAL_CID_LENS.len() + 1, "{reached:?}");
        assert!(reached.frames >= 2 * frames, "{reached:?}");
    }

    #[test]
    fn frame_seeds_decode_fully() {
        let mut payload = Vec::new();
        for f in sample_frames() {
            f.encode(&mut payload);
        }
        assert_eq!(decode_frames_reached(&payload), sample_frames().len());
    }

    /// A seed with a few random edits: flipped bits, overwritten bytes, a truncation, an
    /// insertion.
    fn mutated() -> impl Strategy<Value = Vec<u8>> {
        let edit = (any::<prop::sample::Index>(), any::<u8>(), 0u8..4);
        (
            0..seed_datagrams().len(),
            proptest::collection::vec(edit, 1..4),
        )
            .prop_map(|(seed, edits)| {
                let mut data = seed_datagrams().swap_remove(seed);
                for (at, byte, op) in edits {
                    if data.is_empty() {
                        break;
                    }
                    let i = at.index(data.len());
                    match op {
                        0 => data[i] ^= 1 << (byte % 8),
                        1 => data[i] = byte,
                        2 => data.truncate(i),
                        _ => data.insert(i, byte),
                    }
                }
                data
            })
    }

    proptest! {
        #[test]
        fn bodies_hold_on_arbitrary_bytes(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            decode_packet(&data);
            decode_frames(&data);
        }

        #[test]
        fn bodies_hold_on_mutated_seeds(data in mutated()) {
            decode_packet(&data);
            decode_frames(&data);
        }
    }
}
