//! A TLS server under fuzzed handshakes ([`tls_handshake`]): forged Initials whose HANDSHAKE
//! frames carry fuzzed TLS bytes under the right Initial keys (rustls's ClientHello parser
//! behind weir's glue), a real TLS client's datagrams mutated, replayed and reordered on their
//! way, and forged short packets at the connection's ID (the encrypted receive path).
//!
//! Oracle: nothing panics; the server never sends a forging address more than three times what
//! that address sent it (RFC 9000 §8.1: no handshake from it can complete, so its address is
//! never validated); the server's connection table stays within its limit.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::BytesMut;

use super::endpoint::handshake_frame;
use super::pair::tls_configs;
use super::{FUZZ_CID_LEN, Input, MAX_TIMER_ROUNDS, epoch, fuzz_address};
use crate::config::{EndpointConfig, RetryPolicy, Seed, ServerConfig, TransportConfig};
use crate::crypto::Security;
use crate::crypto::keys::SpaceKeys;
use crate::endpoint::{ConnectionHandle, Endpoint};
use crate::streams::Side;
use crate::wire::ConnectionId;
use crate::wire::header::{Header, PartialDecode, VERSION_1};
use crate::wire::packet::PacketBuilder;
use crate::wire::packet_number::PacketNumber;

/// Most records one input runs.
const MAX_RECORDS: usize = 256;
/// Client datagrams kept for replays.
const MAX_REPLAYS: usize = 32;
/// Most connections the server holds.
const MAX_CONNECTIONS: usize = 16;

/// What [`tls_handshake`] reached, so that tests can check that seeds go deep.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TlsReached {
    /// Forged Initials delivered.
    pub forged: usize,
    /// Connections the server accepted.
    pub accepted: u64,
    /// Whether the real client completed its handshake.
    pub connected: bool,
    /// Packets the server dropped (failed to open, or unwanted).
    pub dropped: u64,
}

/// Runs one fuzz input (see the module docs).
pub fn tls_handshake(data: &[u8]) {
    tls_handshake_reached(data);
}

/// [`tls_handshake`], reporting how far the input got.
pub fn tls_handshake_reached(data: &[u8]) -> TlsReached {
    let mut input = Input(data);
    let flags = input.u8();
    let Some(mut run) = TlsRun::new(flags) else {
        return TlsReached::default();
    };
    for _ in 0..MAX_RECORDS {
        let Some(op) = input.byte() else {
            break;
        };
        run.step(op, &mut input);
    }
    run.advance(Duration::from_secs(1));
    run.reached.accepted = run.server.stats().connections_accepted;
    run.reached.dropped = run.server.stats().dropped_initials;
    run.reached
}

struct TlsRun {
    now: Instant,
    server: Endpoint,
    client: Endpoint,
    handle: ConnectionHandle,
    /// Client datagrams on their way to the server.
    to_server: Vec<Vec<u8>>,
    /// Server datagrams on their way to the client.
    to_client: Vec<Vec<u8>>,
    /// Client datagrams already delivered, for replays.
    delivered: Vec<Vec<u8>>,
    /// Bytes each forging address sent the server, and the server sent it.
    forgers: HashMap<SocketAddr, (u64, u64)>,
    /// The server's connection ID, once seen.
    server_cid: Option<ConnectionId>,
    reached: TlsReached,
}

impl TlsRun {
    fn new(flags: u8) -> Option<Self> {
        let now = epoch();
        let (server_tls, client_tls) = tls_configs();
        let transport = TransportConfig {
            key_update_interval: Some(8),
            ..TransportConfig::default()
        };
        let server = Endpoint::new(
            now,
            EndpointConfig {
                seed: Seed::Fixed(u64::from(flags) << 1),
                max_connections: MAX_CONNECTIONS,
                security: Some(Security::Tls(server_tls)),
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
                security: Some(Security::Tls(client_tls)),
                ..EndpointConfig::default()
            },
            None,
        )
        .ok()?;
        client.set_client_config(transport).ok()?;
        let handle = client.connect(now, fuzz_address(1)).ok()?;
        let mut run = Self {
            now,
            server,
            client,
            handle,
            to_server: Vec::new(),
            to_client: Vec::new(),
            delivered: Vec::new(),
            forgers: HashMap::new(),
            server_cid: None,
            reached: TlsReached::default(),
        };
        run.drain();
        Some(run)
    }

    /// The real client's address; the server's is `fuzz_address(1)`; forgers use the others.
    fn client_address() -> SocketAddr {
        fuzz_address(0)
    }

    fn step(&mut self, op: u8, input: &mut Input<'_>) {
        match op % 6 {
            0 => self.forged_initial(input),
            1 => {
                // The next client datagram, with one byte flipped if the input says so.
                if self.to_server.is_empty() {
                    return;
                }
                let mut datagram = self.to_server.remove(0);
                let flip = input.u8();
                if flip != 0 && !datagram.is_empty() {
                    let at = usize::from(input.u8()) * 7 % datagram.len();
                    datagram[at] ^= flip;
                }
                self.deliver_to_server(Self::client_address(), datagram);
            }
            2 => {
                for datagram in std::mem::take(&mut self.to_client) {
                    self.client.handle_datagram(
                        self.now,
                        fuzz_address(1),
                        None,
                        BytesMut::from(&datagram[..]),
                    );
                }
                self.drain();
            }
            3 => {
                let ms = u64::from(input.u8()) * 4;
                self.advance(Duration::from_millis(ms));
            }
            4 => self.forged_short(input),
            _ => {
                // A replay of a datagram the server already had.
                if self.delivered.is_empty() {
                    return;
                }
                let pick = usize::from(input.u8()) % self.delivered.len();
                let datagram = self.delivered[pick].clone();
                self.deliver_to_server(Self::client_address(), datagram);
            }
        }
    }

    /// An Initial from a forging address: fuzzed TLS bytes in a HANDSHAKE frame, sealed with
    /// the Initial keys of the destination ID it names, padded to 1200 bytes.
    fn forged_initial(&mut self, input: &mut Input<'_>) {
        let address = fuzz_address(2 + input.u8() % 2);
        let slot = input.u8();
        let dcid = ConnectionId::new(&[0xa0 | (slot & 0x0f); FUZZ_CID_LEN]).unwrap_or_default();
        let scid = ConnectionId::new(&[0xb0 | (slot >> 4); FUZZ_CID_LEN]).unwrap_or_default();
        let offset = usize::from(input.u8()) * 16;
        let len = usize::from(input.u8()) * 4;
        let tls_bytes = input.take(len).to_vec();
        let mut frames = Vec::new();
        handshake_frame(offset, &tls_bytes, &mut frames);
        let header = Header::Initial {
            version: VERSION_1,
            dcid,
            scid,
            token: bytes::Bytes::new(),
            number: PacketNumber::new(0, None),
        };
        let keys = SpaceKeys::initial(&dcid, Side::Client);
        let mut buf = Vec::new();
        let Ok(mut builder) = PacketBuilder::new(&mut buf, &header, 0, 1200, keys.tag_len()) else {
            return;
        };
        let room = builder.frame_space();
        builder
            .buf()
            .extend_from_slice(frames.get(..room).unwrap_or(&frames));
        builder.pad_to(1200);
        if builder
            .finish(&*keys.local.packet, &*keys.local.header)
            .is_err()
        {
            return;
        }
        self.reached.forged += 1;
        self.deliver_to_server(address, buf);
    }

    /// A short packet to the server's connection ID with fuzzed bytes after its header: under
    /// AEAD it cannot open, and must be dropped.
    fn forged_short(&mut self, input: &mut Input<'_>) {
        let Some(dcid) = self.server_cid else {
            return;
        };
        let len = usize::from(input.u8()).max(24);
        let mut datagram = vec![0x40 | (input.u8() & 0x07)];
        datagram.extend_from_slice(&dcid);
        datagram.extend_from_slice(input.take(len));
        datagram.resize(1 + FUZZ_CID_LEN + len, 0);
        self.deliver_to_server(Self::client_address(), datagram);
    }

    fn deliver_to_server(&mut self, from: SocketAddr, datagram: Vec<u8>) {
        if from != Self::client_address() {
            self.forgers.entry(from).or_insert((0, 0)).0 += datagram.len() as u64;
        } else if self.delivered.len() < MAX_REPLAYS {
            self.delivered.push(datagram.clone());
        }
        self.server
            .handle_datagram(self.now, from, None, BytesMut::from(&datagram[..]));
        self.drain();
    }

    /// Moves time on by `by`, firing both ends' timers.
    fn advance(&mut self, by: Duration) {
        let end = self.now + by;
        for _ in 0..MAX_TIMER_ROUNDS {
            let next = [self.server.poll_timeout(), self.client.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    self.server.handle_timeout(self.now);
                    self.client.handle_timeout(self.now);
                    self.drain();
                }
                _ => break,
            }
        }
        self.now = end;
        self.server.handle_timeout(self.now);
        self.client.handle_timeout(self.now);
        self.drain();
    }

    /// Drains both endpoints' transmits and events, checking the amplification limit.
    fn drain(&mut self) {
        let mut buf = Vec::new();
        for _ in 0..10_000 {
            buf.clear();
            let Some(t) = self.server.poll_transmit(self.now, 1, &mut buf) else {
                break;
            };
            let datagram = buf[..t.size].to_vec();
            if t.destination == Self::client_address() {
                if self.server_cid.is_none()
                    && let Ok((partial, _)) =
                        PartialDecode::new(BytesMut::from(&datagram[..]), FUZZ_CID_LEN)
                {
                    self.server_cid = partial.scid().copied();
                }
                self.to_client.push(datagram);
            } else {
                let counts = self.forgers.entry(t.destination).or_insert((0, 0));
                counts.1 += datagram.len() as u64;
                assert!(
                    counts.1 <= 3 * counts.0,
                    "the server sent {} bytes to {} which sent it {}: amplification",
                    counts.1,
                    t.destination,
                    counts.0
                );
            }
        }
        for _ in 0..10_000 {
            buf.clear();
            let Some(t) = self.client.poll_transmit(self.now, 1, &mut buf) else {
                break;
            };
            self.to_server.push(buf[..t.size].to_vec());
        }
        while self.server.poll_event().is_some() {}
        while let Some((handle, event)) = self.client.poll_event() {
            if handle == self.handle && event == crate::connection::Event::Connected {
                self.reached.connected = true;
            }
        }
        assert!(self.server.connection_count() <= MAX_CONNECTIONS);
    }
}
