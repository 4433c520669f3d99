//! GSO batches from the core: their shape (sizes, one destination, one codepoint, the byte
//! limit) and that pacing and the congestion window apply to every datagram in them.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::BytesMut;

use crate::Transmit;
use crate::adapt::AdaptConfig;
use crate::config::{EndpointConfig, ServerConfig, TransportConfig};
use crate::endpoint::{ConnectionHandle, Endpoint};

const CLIENT: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 1);
const SERVER: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 2);

#[allow(clippy::disallowed_methods)] // tests need a base instant
fn t0() -> Instant {
    Instant::now()
}

/// A client and a server, connected, with a fixed datagram size.
struct Pair {
    client: Endpoint,
    server: Endpoint,
    handle: ConnectionHandle,
    now: Instant,
}

fn config() -> TransportConfig {
    TransportConfig {
        mtu_discovery: None,
        adapt: AdaptConfig::off(),
        ..TransportConfig::default()
    }
}

impl Pair {
    fn new() -> Self {
        Self::with(config())
    }

    fn with(config: TransportConfig) -> Self {
        let now = t0();
        let server = Endpoint::new(
            now,
            EndpointConfig::insecure_fixed(1),
            Some(ServerConfig {
                transport: config.clone(),
                ..ServerConfig::default()
            }),
        )
        .expect("server");
        let mut client =
            Endpoint::new(now, EndpointConfig::insecure_fixed(2), None).expect("client");
        client.set_client_config(config).expect("config");
        let handle = client.connect(now, SERVER).expect("connect");
        let mut pair = Self {
            client,
            server,
            handle,
            now,
        };
        // Bounded: the handshake takes a few round trips.
        for _ in 0..50 {
            pair.exchange(1);
            pair.now += Duration::from_millis(5);
            pair.client.handle_timeout(pair.now);
            pair.server.handle_timeout(pair.now);
        }
        assert!(pair.conn().is_connected(), "connected");
        pair
    }

    fn conn(&mut self) -> &mut crate::Connection {
        self.client
            .connection(self.handle)
            .expect("client connection")
    }

    /// Delivers everything both ends have to send, in batches of `max`.
    fn exchange(&mut self, max: usize) {
        let mut buf = Vec::new();
        for _ in 0..10 {
            let mut any = false;
            while let Some(t) = self.client.poll_transmit(self.now, max, &mut buf) {
                any = true;
                for segment in t.segments() {
                    let datagram = BytesMut::from(&buf[segment]);
                    self.server
                        .handle_datagram(self.now, CLIENT, t.ecn, datagram);
                }
                buf.clear();
            }
            while let Some(t) = self.server.poll_transmit(self.now, max, &mut buf) {
                any = true;
                for segment in t.segments() {
                    let datagram = BytesMut::from(&buf[segment]);
                    self.client
                        .handle_datagram(self.now, SERVER, t.ecn, datagram);
                }
                buf.clear();
            }
            if !any {
                break;
            }
        }
    }

    /// Queues `len` bytes of stream data on the client.
    fn write(&mut self, len: usize) {
        let conn = self.conn();
        let id = conn.open_uni(0).expect("stream");
        let written = conn.write(id, &vec![7; len]).expect("write");
        assert_eq!(written, len);
    }

    /// What the client sends now, transmit by transmit, asking for `max` datagrams each; the
    /// server receives it all.
    fn drain(&mut self, max: usize) -> Vec<Transmit> {
        let mut buf = Vec::new();
        let mut out = Vec::new();
        while let Some(t) = self.client.poll_transmit(self.now, max, &mut buf) {
            for segment in t.segments() {
                let datagram = BytesMut::from(&buf[segment]);
                self.server
                    .handle_datagram(self.now, CLIENT, t.ecn, datagram);
            }
            buf.clear();
            out.push(t);
            assert!(out.len() < 10_000, "bounded");
        }
        out
    }
}

#[test]
fn a_batch_is_full_size_datagrams_to_one_destination_with_one_codepoint() {
    let mut pair = Pair::new();
    let size = usize::from(pair.conn().stats().datagram_size);
    pair.write(100_000);
    let transmits = pair.drain(8);
    let batch = transmits
        .iter()
        .find(|t| t.segment_size.is_some())
        .expect("a batch");
    assert_eq!(batch.segment_size, Some(size));
    assert_eq!(batch.destination, SERVER);
    assert!(batch.ecn.is_some(), "ECN validated during the handshake");
    assert!((2..=8).contains(&batch.datagram_count()));
    let segments: Vec<_> = batch.segments().collect();
    let (last, full) = segments.split_last().expect("segments");
    assert!(full.iter().all(|s| s.len() == size));
    assert!(last.len() <= size && !last.is_empty());
    for t in &transmits {
        assert!(t.datagram_count() <= 8);
        assert_eq!(t.destination, SERVER);
    }
}

#[test]
fn asking_for_one_datagram_never_batches() {
    let mut pair = Pair::new();
    let size = usize::from(pair.conn().stats().datagram_size);
    pair.write(100_000);
    let transmits = pair.drain(1);
    assert!(transmits.len() > 1);
    for t in &transmits {
        assert_eq!(t.segment_size, None);
        assert!(t.size <= size);
    }
}

#[test]
fn a_batch_stays_within_one_udp_send() {
    // A window far larger than one UDP send.
    let mut pair = Pair::with(TransportConfig {
        congestion: crate::congestion::ControllerConfig {
            initial_window: Some(200_000),
            ..crate::congestion::ControllerConfig::new(crate::congestion::ControllerKind::NewReno)
        },
        ..config()
    });
    let size = usize::from(pair.conn().stats().datagram_size);
    pair.write(250_000);
    // The pacer lets the initial window's ten packets go first; its bucket fills up to its
    // full depth (256 packets) once time passes.
    let mut transmits = pair.drain(1000);
    pair.now += Duration::from_millis(5);
    pair.client.handle_timeout(pair.now);
    transmits.extend(pair.drain(1000));
    for t in &transmits {
        assert!(t.size <= Transmit::MAX_BATCH_BYTES, "{t:?}");
    }
    let largest = transmits.iter().map(Transmit::datagram_count).max();
    assert_eq!(
        largest,
        Some(Transmit::MAX_BATCH_BYTES / size),
        "the byte limit, not the window, bounded the batches"
    );
}

#[test]
fn batches_send_exactly_what_single_datagrams_would() {
    // Two identical connections: one drained a datagram at a time, one in batches of 16. The
    // pacer and the window judge every datagram of a batch as they would alone, so both send
    // the same datagrams, of the same sizes, at every instant.
    let run = |max: usize| {
        let mut pair = Pair::new();
        pair.write(250_000);
        let mut sent = Vec::new();
        let (mut paced, mut window_bound) = (0, 0);
        for round in 0..60 {
            let mut sizes = Vec::new();
            for t in pair.drain(max) {
                sizes.extend(t.segments().map(|s| s.len()));
            }
            sent.push((round, sizes));
            // What stopped the sender: the pacer (its timer is next) or the window.
            match pair.conn().next_timer() {
                Some((crate::connection::Timer::Pacing, _)) => paced += 1,
                _ => window_bound += 1,
            }
            // Acknowledgements open the window; time releases the pacer.
            pair.exchange(1);
            pair.now += Duration::from_millis(1);
            pair.client.handle_timeout(pair.now);
            pair.server.handle_timeout(pair.now);
        }
        (sent, paced, window_bound)
    };
    let (single, paced, window_bound) = run(1);
    let (batched, ..) = run(16);
    let datagrams: usize = single.iter().map(|(_, s)| s.len()).sum();
    assert!(datagrams > 100, "{datagrams} datagrams");
    // Both limits were met in the run, so both were applied to batches.
    assert!(
        paced > 0 && window_bound > 0,
        "paced {paced}, window {window_bound}"
    );
    assert_eq!(single, batched);
}

#[test]
fn handshake_datagrams_travel_alone() {
    let now = t0();
    let mut client = Endpoint::new(now, EndpointConfig::insecure_fixed(2), None).expect("client");
    client.set_client_config(config()).expect("config");
    client.connect(now, SERVER).expect("connect");
    let mut buf = Vec::new();
    let t = client.poll_transmit(now, 64, &mut buf).expect("Initial");
    assert_eq!(t.segment_size, None);
    assert!(t.size >= 1200);
}
