//! A server endpoint configured as the runtimes configure it, flooded with datagrams from many
//! addresses while a real client connects through it ([`endpoint_flood`]): the attacks of issue
//! 10 (colliding connection IDs, Initial floods from one address and from many, packets for
//! connections the server does not know), with the admission limits as invariants. The
//! two-endpoint harness, [`FloodPath`], is public so that scenario tests can script the same
//! attacks.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::BytesMut;

use super::endpoint::{client_hello, handshake_frame, seal_packet};
use super::{Input, MAX_TRANSMITS_PER_DRAIN, epoch};
use crate::config::{ConfigError, EndpointConfig, RetryPolicy, Seed, ServerConfig};
use crate::connection::{ConnectionError, Event};
use crate::endpoint::AdmissionSource;
use crate::endpoint::Endpoint;
use crate::wire::ConnectionId;
use crate::wire::frame::Frame;
use crate::wire::header::{Header, VERSION_1};
use crate::wire::packet_number::PacketNumber;

/// Datagrams in flight between the real client and the server: (arrival, order, to the
/// server?, bytes).
type InFlight = BinaryHeap<Reverse<(Instant, u64, bool, Vec<u8>)>>;

/// A real client and a server joined by a lossless path with a fixed one-way delay, and
/// datagrams from strangers injected straight into the server. Everything the server sends to
/// a stranger is counted, per address, against what that address sent.
pub struct FloodPath {
    /// Virtual time.
    pub now: Instant,
    /// The real client's endpoint.
    pub client: Endpoint,
    /// The server's endpoint.
    pub server: Endpoint,
    in_flight: InFlight,
    order: u64,
    /// When the real client's handshake completed.
    pub client_connected: Option<Instant>,
    /// Why the real client's connection closed, if it did.
    pub client_closed: Option<ConnectionError>,
    received: HashMap<SocketAddr, u64>,
    sent: HashMap<SocketAddr, u64>,
}

impl FloodPath {
    /// The real client's address (no stranger shares its IPv4 address).
    pub const CLIENT: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 4433);
    /// The server's address.
    pub const SERVER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 4433);
    /// One-way delay between the real client and the server.
    pub const ONE_WAY: Duration = Duration::from_millis(25);

    /// A server with `config` and a client, created at `now` with fixed seeds.
    pub fn new(now: Instant, config: ServerConfig, seed: u64) -> Result<Self, ConfigError> {
        Ok(Self {
            now,
            client: Endpoint::new(
                now,
                EndpointConfig::insecure_fixed(seed.wrapping_mul(2)),
                None,
            )?,
            server: Endpoint::new(
                now,
                EndpointConfig {
                    // What a runtime draws from the operating system.
                    seed: Seed::Secret([(seed as u8) | 1; 32]),
                    ..EndpointConfig::insecure_fixed(0)
                },
                Some(config),
            )?,
            in_flight: BinaryHeap::new(),
            order: 0,
            client_connected: None,
            client_closed: None,
            received: HashMap::new(),
            sent: HashMap::new(),
        })
    }

    /// The real client starts connecting now.
    pub fn dial(&mut self) {
        if self.client.connect(self.now, Self::SERVER).is_ok() {
            self.flush();
        }
    }

    /// A datagram from `from`, a stranger, straight into the server now.
    pub fn inject(&mut self, from: SocketAddr, datagram: &[u8]) {
        *self.received.entry(from).or_default() += datagram.len() as u64;
        self.server
            .handle_datagram(self.now, from, None, BytesMut::from(datagram));
        self.flush();
    }

    /// The real client's datagrams on their way to the server.
    pub fn client_datagrams_in_flight(&self) -> Vec<Vec<u8>> {
        self.in_flight
            .iter()
            .filter(|Reverse((_, _, to_server, _))| *to_server)
            .map(|Reverse((_, _, _, d))| d.clone())
            .collect()
    }

    /// Bytes the server sent to `to`, and bytes `to` sent the server (strangers only).
    pub fn exchanged_with(&self, to: SocketAddr) -> (u64, u64) {
        (
            self.sent.get(&to).copied().unwrap_or(0),
            self.received.get(&to).copied().unwrap_or(0),
        )
    }

    /// Every stranger address the server sent to.
    pub fn strangers_answered(&self) -> impl Iterator<Item = SocketAddr> + '_ {
        self.sent.keys().copied()
    }

    /// Sends what both endpoints have to send and takes their events (the driving rule).
    fn flush(&mut self) {
        let mut buf = Vec::new();
        let mut count = 0;
        while let Some(t) = self.client.poll_transmit(self.now, 1, &mut buf) {
            count += 1;
            assert!(
                count <= MAX_TRANSMITS_PER_DRAIN,
                "poll_transmit never ran dry"
            );
            self.order += 1;
            let d = buf[buf.len() - t.size..].to_vec();
            self.in_flight
                .push(Reverse((self.now + Self::ONE_WAY, self.order, true, d)));
            buf.clear();
        }
        while let Some(t) = self.server.poll_transmit(self.now, 1, &mut buf) {
            count += 1;
            assert!(
                count <= MAX_TRANSMITS_PER_DRAIN,
                "poll_transmit never ran dry"
            );
            if t.destination == Self::CLIENT {
                self.order += 1;
                let d = buf[buf.len() - t.size..].to_vec();
                self.in_flight
                    .push(Reverse((self.now + Self::ONE_WAY, self.order, false, d)));
            } else {
                *self.sent.entry(t.destination).or_default() += t.size as u64;
            }
            buf.clear();
        }
        while let Some((_, event)) = self.client.poll_event() {
            match event {
                Event::Connected => {
                    self.client_connected.get_or_insert(self.now);
                }
                Event::Closed(error) => {
                    self.client_closed.get_or_insert(error);
                }
                _ => {}
            }
        }
        while self.server.poll_event().is_some() {}
    }

    /// Runs the path until `until`: datagrams arrive and timers fire in time order.
    pub fn run_until(&mut self, until: Instant) {
        for _ in 0..1_000_000 {
            self.flush();
            let arrival = self.in_flight.peek().map(|Reverse((at, ..))| *at);
            let next = [
                arrival,
                self.client.poll_timeout(),
                self.server.poll_timeout(),
            ]
            .into_iter()
            .flatten()
            .min();
            let Some(at) = next.filter(|at| *at <= until) else {
                break;
            };
            self.now = self.now.max(at);
            match self.in_flight.peek() {
                Some(Reverse((when, ..))) if *when <= self.now => {
                    if let Some(Reverse((_, _, to_server, d))) = self.in_flight.pop() {
                        let d = BytesMut::from(&d[..]);
                        if to_server {
                            self.server.handle_datagram(self.now, Self::CLIENT, None, d);
                        } else {
                            self.client.handle_datagram(self.now, Self::SERVER, None, d);
                        }
                    }
                }
                _ => {
                    self.client.handle_timeout(self.now);
                    self.server.handle_timeout(self.now);
                }
            }
        }
        self.now = self.now.max(until);
        self.client.handle_timeout(self.now);
        self.server.handle_timeout(self.now);
        self.flush();
    }
}

/// What [`endpoint_flood`] reached, so that tests can check that inputs go deep.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FloodReached {
    /// Datagrams strangers sent the server.
    pub datagrams: usize,
    /// Most handshakes in progress at once.
    pub half_open_peak: usize,
    /// Retry packets the server sent.
    pub retries: u64,
    /// Initials dropped by the per-address limit.
    pub over_address_limit: u64,
    /// Stateless resets the server sent.
    pub resets: u64,
    /// How long the real client took to connect.
    pub client_connect: Option<Duration>,
}

/// Most records one input holds.
const MAX_RECORDS: usize = 512;
/// Most datagrams one record sends.
const MAX_BURST: usize = 64;

/// A stranger's address from a selector: IPv4 hosts on 172.16/16 or IPv6 hosts in a few /64s,
/// each on many ports. Never the real client's address.
fn stranger(selector: u16, port: u8) -> SocketAddr {
    let port = 1024 + u16::from(port);
    if selector & 0x8000 == 0 {
        SocketAddr::new(
            IpAddr::V4(Ipv4Addr::new(
                172,
                16,
                (selector >> 8) as u8 & 0x7f,
                selector as u8,
            )),
            port,
        )
    } else {
        let prefix = (selector >> 8) & 0x07;
        let host = selector & 0xff;
        SocketAddr::new(
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, prefix, 0, 0, 0, 0, host)),
            port,
        )
    }
}

/// A new client's first Initial to `dcid` (a ClientHello, padded to 1200 bytes).
fn fresh_initial(dcid: ConnectionId, scid: ConnectionId) -> Vec<u8> {
    let mut frames = Vec::new();
    handshake_frame(0, &client_hello(scid), &mut frames);
    let header = Header::Initial {
        version: VERSION_1,
        dcid,
        scid,
        token: bytes::Bytes::new(),
        number: PacketNumber::new(0, None),
    };
    seal_packet(&header, 0, &frames, 1500, 1200)
}

/// A short-header packet with a PING to `dcid`.
fn short_ping(dcid: ConnectionId) -> Vec<u8> {
    let mut frames = Vec::new();
    Frame::Ping.encode(&mut frames);
    let header = Header::Short {
        spin: false,
        key_phase: false,
        dcid,
        number: PacketNumber::with_len(7, 2),
    };
    seal_packet(&header, 7, &frames, 1500, 40)
}

/// A server endpoint set up as weir-tokio sets it up (the default configuration, a secret seed)
/// with fuzzer-chosen admission limits, flooded by strangers while a real client connects
/// through a 50 ms round-trip path.
///
/// Input: a flags byte (low six bits + 1: the Retry threshold of `RetryPolicy::WhenBusy`; bit
/// 6: `RetryPolicy::Always` instead), a byte picking `max_handshakes_per_address` (1, 2, 4 or
/// 16), a byte giving the record after which the real client dials (255: after the last), then
/// records of `op, time step (ms), count, source (2 bytes), port`: op 0 sends `count` fresh
/// Initials (new connection IDs) from the source, op 1 replays the real client's datagrams in
/// flight from the source (colliding connection IDs), op 2 sends short packets to the
/// connection IDs the server issued and to unknown ones, op 3 sends `count` garbage bytes.
///
/// Invariants, after every datagram: no source (an IPv4 address, an IPv6 /64) holds more
/// half-open connections than the limit; the endpoint's count of handshakes in progress is the
/// number of half-open connections; no more half-open connections without a validated address
/// exist than the Retry threshold (none with `Always`); no stranger gets more than three times
/// what it sent. At the end: the real client connected within two round trips of dialling (one
/// for a Retry); once the strangers fall silent, every half-open connection expires within the
/// handshake timeout and the real client's connection lives on. (Op 2 reads the server's
/// connection IDs as an on-path observer could: while packets are only integrity-protected, a
/// short packet to the right ID completes a stranger's handshake, which then lives until its
/// idle timeout like any other connection.)
pub fn endpoint_flood(data: &[u8]) {
    endpoint_flood_reached(data);
}

/// [`endpoint_flood`], reporting how far the input got.
pub fn endpoint_flood_reached(data: &[u8]) -> FloodReached {
    let mut input = Input(data);
    let flags = input.u8();
    let retry = if flags & 0x40 != 0 {
        RetryPolicy::Always
    } else {
        RetryPolicy::WhenBusy(usize::from(flags & 0x3f) + 1)
    };
    let per_address = [1, 2, 4, 16][usize::from(input.u8() & 3)];
    let dial_after = usize::from(input.u8());
    let config = ServerConfig {
        retry,
        max_handshakes_per_address: per_address,
        ..ServerConfig::default()
    };
    let handshake_timeout = config.handshake_timeout;
    let Ok(mut path) = FloodPath::new(epoch(), config, u64::from(flags)) else {
        return FloodReached::default();
    };
    let mut reached = FloodReached::default();
    let mut dialed = None;
    let mut next_cid = 0u64;
    for record in 0..MAX_RECORDS {
        if record == dial_after {
            dialed = Some(path.now);
            path.dial();
        }
        let Some(op) = input.byte() else {
            break;
        };
        let step = Duration::from_millis(u64::from(input.u8()));
        let count = usize::from(input.u8()) % MAX_BURST + 1;
        let source = u16::from_be_bytes([input.u8(), input.u8()]);
        let port = input.u8();
        path.run_until(path.now + step);
        let from = stranger(source, port);
        let datagrams: Vec<Vec<u8>> = match op & 0x03 {
            0 => (0..count)
                .map(|_| {
                    next_cid += 1;
                    let dcid = ConnectionId::new(&next_cid.to_be_bytes()).unwrap_or_default();
                    let scid = ConnectionId::new(&(!next_cid).to_be_bytes()).unwrap_or_default();
                    fresh_initial(dcid, scid)
                })
                .collect(),
            1 => path.client_datagrams_in_flight(),
            2 => {
                let issued: Vec<ConnectionId> = path
                    .server
                    .connection_handles()
                    .filter_map(|h| path.server.connection_ref(h))
                    .map(|c| c.local_cid())
                    .collect();
                let mut targets = issued;
                targets.push(ConnectionId::new(&[0x5a; 8]).unwrap_or_default());
                targets.into_iter().take(count).map(short_ping).collect()
            }
            _ => vec![input.take(count).to_vec()],
        };
        for d in datagrams {
            path.inject(from, &d);
            reached.datagrams += 1;
            check(&path, retry, per_address, &mut reached);
        }
    }
    if dialed.is_none() {
        dialed = Some(path.now);
        path.dial();
    }
    let dialed = dialed.unwrap_or(path.now);
    let rtt = 2 * FloodPath::ONE_WAY;
    path.run_until(dialed.max(path.now) + 2 * rtt + Duration::from_millis(1));
    reached.client_connect = path.client_connected.map(|t| t - dialed);
    assert!(
        reached
            .client_connect
            .is_some_and(|t| t <= 2 * rtt + Duration::from_millis(1)),
        "the real client did not connect within two round trips: {reached:?}, closed {:?}",
        path.client_closed
    );
    // The strangers fall silent: their half-open connections expire.
    path.run_until(path.now + handshake_timeout + Duration::from_secs(1));
    assert_eq!(
        path.server.handshakes_in_progress(),
        0,
        "half-open connections outlived the handshake timeout"
    );
    assert_eq!(path.client_closed, None);
    let stats = path.server.stats();
    reached.retries = stats.retries_sent;
    reached.over_address_limit = stats.initials_over_address_limit;
    reached.resets = stats.stateless_resets_sent;
    reached
}

/// The invariants that hold after every datagram (see [`endpoint_flood`]).
fn check(path: &FloodPath, retry: RetryPolicy, per_address: usize, reached: &mut FloodReached) {
    let server = &path.server;
    let mut per_source = HashMap::new();
    let mut half_open = 0;
    let mut unvalidated = 0;
    for handle in server.connection_handles() {
        let Some(conn) = server.connection_ref(handle) else {
            continue;
        };
        if conn.is_connected() || conn.is_closed() {
            continue;
        }
        half_open += 1;
        if !conn.is_address_validated() {
            unvalidated += 1;
        }
        *per_source
            .entry(AdmissionSource::of(conn.remote_address()))
            .or_insert(0usize) += 1;
    }
    reached.half_open_peak = reached.half_open_peak.max(half_open);
    assert_eq!(
        server.handshakes_in_progress(),
        half_open,
        "half-open accounting"
    );
    for (source, n) in per_source {
        assert!(
            n <= per_address,
            "{n} handshakes in progress from {source:?}"
        );
    }
    let threshold = match retry {
        RetryPolicy::Always => 0,
        RetryPolicy::WhenBusy(t) => t,
        RetryPolicy::Never => usize::MAX,
    };
    assert!(
        unvalidated <= threshold,
        "{unvalidated} unvalidated half-open connections, Retry threshold {threshold}"
    );
    for to in path.strangers_answered() {
        let (sent, received) = path.exchanged_with(to);
        assert!(
            sent <= 3 * received,
            "sent {sent} bytes to {to}, which sent {received}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A record: `op`, no pause, `count`, the source, port 0.
    fn record(op: u8, count: u8, source: u16) -> [u8; 6] {
        let [hi, lo] = source.to_be_bytes();
        [op, 0, count.wrapping_sub(1), hi, lo, 0]
    }

    fn input(flags: u8, per_address: u8, dial_after: u8, records: &[[u8; 6]]) -> Vec<u8> {
        let mut data = vec![flags, per_address, dial_after];
        for r in records {
            data.extend_from_slice(r);
        }
        data
    }

    #[test]
    fn a_one_address_flood_is_held_to_the_per_address_limit() {
        let records: Vec<[u8; 6]> = (0..20).map(|_| record(0, 64, 7)).collect();
        // Threshold 64 (flags 63), 16 per address, the client dials half-way.
        let reached = endpoint_flood_reached(&input(63, 3, 10, &records));
        assert_eq!(reached.datagrams, 20 * 64);
        assert!((16..=17).contains(&reached.half_open_peak), "{reached:?}");
        assert_eq!(reached.over_address_limit, 20 * 64 - 16);
        assert_eq!(reached.retries, 0, "{reached:?}");
        assert_eq!(reached.client_connect, Some(2 * FloodPath::ONE_WAY));
    }

    #[test]
    fn a_many_address_flood_makes_newcomers_prove_their_address() {
        let records: Vec<[u8; 6]> = (0..40).map(|k| record(0, 64, k)).collect();
        let reached = endpoint_flood_reached(&input(15, 3, 20, &records));
        assert!(reached.retries > 2000, "{reached:?}");
        assert!(reached.half_open_peak <= 16 + 1, "{reached:?}");
        assert_eq!(reached.client_connect, Some(4 * FloodPath::ONE_WAY));
    }

    #[test]
    fn collisions_and_strays_leave_the_real_client_alone() {
        // The client dials first; strangers replay its datagrams and poke at connection IDs.
        let mut records = Vec::new();
        for k in 0..30u16 {
            records.push(record(1, 1, 0x100 + k));
            records.push(record(2, 4, 0x8000 | k));
        }
        let reached = endpoint_flood_reached(&input(63, 3, 0, &records));
        assert!(reached.resets > 0, "{reached:?}");
        assert_eq!(reached.client_connect, Some(2 * FloodPath::ONE_WAY));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn arbitrary_floods_keep_the_invariants(data in proptest::collection::vec(any::<u8>(), 0..600)) {
            endpoint_flood(&data);
        }
    }
}
