//! The connection events a driver sees from an endpoint: `Incoming` for a connection a server
//! accepts, in order with the rest. Two endpoints in one process, datagrams handed over
//! directly, time stepped by hand (no simulator: the core alone).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::BytesMut;

use super::{ConnectionHandle, Endpoint};
use crate::config::{EndpointConfig, Seed, ServerConfig, TransportConfig};
use crate::connection::{ConnectionError, Event};
use crate::crypto::Security;
use crate::wire::VarInt;

const CLIENT: &str = "192.0.2.1:5000";
const SERVER: &str = "192.0.2.2:4433";

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("literal address")
}

fn endpoint(now: Instant, seed: u64, server: bool) -> Endpoint {
    let config = EndpointConfig {
        seed: Seed::Fixed(seed),
        security: Some(Security::InsecureIntegrityOnly),
        ..EndpointConfig::default()
    };
    let server = server.then(|| ServerConfig {
        handshake_timeout: Duration::from_secs(2),
        ..ServerConfig::default()
    });
    let mut endpoint = Endpoint::new(now, config, server).expect("valid config");
    endpoint
        .set_client_config(TransportConfig::default())
        .expect("valid config");
    endpoint
}

/// A client and a server endpoint, and what each reported.
struct Pair {
    now: Instant,
    client: Endpoint,
    server: Endpoint,
    client_events: Vec<(ConnectionHandle, Event)>,
    server_events: Vec<(ConnectionHandle, Event)>,
    /// Whether the client's datagrams still reach the server.
    client_reaches_server: bool,
    /// The server's application closes every connection at `Incoming`.
    refuse: bool,
}

impl Pair {
    fn new() -> Self {
        #[allow(clippy::disallowed_methods)] // a test needs some base instant
        let now = Instant::now();
        Self {
            now,
            client: endpoint(now, 1, false),
            server: endpoint(now, 2, true),
            client_events: Vec::new(),
            server_events: Vec::new(),
            client_reaches_server: true,
            refuse: false,
        }
    }

    /// Moves datagrams both ways until neither endpoint sends, drains events, then jumps to
    /// the earlier deadline; `steps` times.
    fn run(&mut self, steps: usize) {
        for _ in 0..steps {
            self.exchange();
            let next = [self.client.poll_timeout(), self.server.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            let Some(next) = next else {
                return;
            };
            self.now = self.now.max(next);
            self.client.handle_timeout(self.now);
            self.server.handle_timeout(self.now);
        }
    }

    /// Moves datagrams both ways until neither endpoint sends, and drains events.
    fn exchange(&mut self) {
        let mut buf = Vec::new();
        loop {
            let mut moved = false;
            while let Some(t) = self.client.poll_transmit(self.now, 1, &mut buf) {
                if self.client_reaches_server {
                    for range in t.segments() {
                        let datagram = BytesMut::from(&buf[range]);
                        self.server
                            .handle_datagram(self.now, addr(CLIENT), None, datagram);
                    }
                }
                buf.clear();
                moved = true;
            }
            while let Some(t) = self.server.poll_transmit(self.now, 1, &mut buf) {
                for range in t.segments() {
                    let datagram = BytesMut::from(&buf[range]);
                    self.client
                        .handle_datagram(self.now, addr(SERVER), None, datagram);
                }
                buf.clear();
                moved = true;
            }
            while let Some((handle, event)) = self.client.poll_event() {
                self.client_events.push((handle, event));
            }
            while let Some((handle, event)) = self.server.poll_event() {
                if self.refuse && matches!(event, Event::Incoming { .. }) {
                    let now = self.now;
                    if let Some(conn) = self.server.connection(handle) {
                        conn.close(now, VarInt::from_u32(9), b"full");
                    }
                    moved = true;
                }
                self.server_events.push((handle, event));
            }
            if !moved {
                break;
            }
        }
    }

    fn server_events_of(&self, handle: ConnectionHandle) -> Vec<&Event> {
        self.server_events
            .iter()
            .filter(|(h, _)| *h == handle)
            .map(|(_, e)| e)
            .collect()
    }
}

#[test]
fn incoming_comes_first_and_once_and_only_on_the_server() {
    let mut pair = Pair::new();
    let handle = pair
        .client
        .connect(pair.now, addr(SERVER))
        .expect("connect");
    pair.run(20);
    assert!(
        pair.client_events.contains(&(handle, Event::Connected)),
        "{:?}",
        pair.client_events
    );
    assert!(
        !pair
            .client_events
            .iter()
            .any(|(_, e)| matches!(e, Event::Incoming { .. })),
        "a client's own connection is never incoming"
    );
    let (server_handle, first) = pair.server_events.first().expect("server events");
    assert_eq!(
        *first,
        Event::Incoming {
            remote: addr(CLIENT)
        }
    );
    let events = pair.server_events_of(*server_handle);
    let incoming = events
        .iter()
        .filter(|e| matches!(e, Event::Incoming { .. }))
        .count();
    assert_eq!(incoming, 1, "{events:?}");
    let connected = events.iter().position(|e| **e == Event::Connected);
    assert!(connected.is_some_and(|i| i > 0), "{events:?}");
}

#[test]
fn a_handshake_that_times_out_goes_from_incoming_to_closed_and_drained() {
    let mut pair = Pair::new();
    pair.client
        .connect(pair.now, addr(SERVER))
        .expect("connect");
    // The client's first flight arrives, then the client vanishes.
    let mut buf = Vec::new();
    while let Some(t) = pair.client.poll_transmit(pair.now, 1, &mut buf) {
        for range in t.segments() {
            let datagram = BytesMut::from(&buf[range]);
            pair.server
                .handle_datagram(pair.now, addr(CLIENT), None, datagram);
        }
        buf.clear();
    }
    pair.client_reaches_server = false;
    pair.run(200);
    let (handle, _) = pair.server_events.first().expect("server events");
    let events = pair.server_events_of(*handle);
    assert!(
        matches!(events.first(), Some(Event::Incoming { .. })),
        "{events:?}"
    );
    assert!(!events.contains(&&Event::Connected), "{events:?}");
    assert!(
        matches!(
            events.get(events.len().wrapping_sub(2)),
            Some(Event::Closed(ConnectionError::HandshakeTimedOut(_)))
        ),
        "{events:?}"
    );
    assert_eq!(events.last(), Some(&&Event::Drained));
}

#[test]
fn a_connection_refused_at_incoming_closes_and_drains_without_connecting() {
    let mut pair = Pair::new();
    pair.refuse = true;
    let handle = pair
        .client
        .connect(pair.now, addr(SERVER))
        .expect("connect");
    pair.run(200);
    let (server_handle, _) = pair.server_events.first().expect("server events");
    let events = pair.server_events_of(*server_handle);
    assert!(
        matches!(events.first(), Some(Event::Incoming { .. })),
        "{events:?}"
    );
    assert!(!events.contains(&&Event::Connected), "{events:?}");
    assert!(events.contains(&&Event::Closed(ConnectionError::LocallyClosed)));
    assert_eq!(events.last(), Some(&&Event::Drained));
    assert!(
        pair.client_events
            .iter()
            .any(|(h, e)| *h == handle && matches!(e, Event::Closed(_))),
        "the client learns: {:?}",
        pair.client_events
    );
}

#[test]
fn a_server_that_refuses_statelessly_reports_nothing() {
    let mut pair = Pair::new();
    pair.server.set_accepting(false);
    pair.client
        .connect(pair.now, addr(SERVER))
        .expect("connect");
    pair.run(50);
    assert_eq!(pair.server_events, [], "no state, no events");
    assert!(
        pair.client_events
            .iter()
            .any(|(_, e)| matches!(e, Event::Closed(_)))
    );
}

/// Once the handshake is confirmed each end issues `min(both limits) − 1` spare connection IDs,
/// every one routed to its connection; the peer stores them; and when the connection drains
/// every one of its IDs leaves the routing table.
#[test]
fn spare_ids_are_issued_routed_and_all_unrouted_when_the_connection_drains() {
    let mut pair = Pair::new();
    // The server takes at most 3 of the client's IDs; the client announces the default 4.
    pair.server = {
        let config = EndpointConfig {
            seed: Seed::Fixed(2),
            security: Some(Security::InsecureIntegrityOnly),
            ..EndpointConfig::default()
        };
        let transport = TransportConfig {
            active_connection_id_limit: 3,
            ..TransportConfig::default()
        };
        let server = ServerConfig {
            transport,
            ..ServerConfig::default()
        };
        Endpoint::new(pair.now, config, Some(server)).expect("valid config")
    };
    let handle = pair
        .client
        .connect(pair.now, addr(SERVER))
        .expect("connect");
    // Exchange by exchange: once everything is acknowledged the next deadline is the idle
    // timeout, which must not come.
    let received = |ep: &Endpoint| {
        ep.connection_handles()
            .filter_map(|h| ep.connection_ref(h))
            .map(|c| c.stats().cids.received)
            .sum::<u64>()
    };
    for _ in 0..10 {
        pair.exchange();
        if received(&pair.client) == 2 && received(&pair.server) == 2 {
            break;
        }
        pair.run(1);
    }
    let server_handle = pair.server_events.first().expect("server events").0;
    let client = pair
        .client
        .connection_ref(handle)
        .unwrap_or_else(|| panic!("client: {:?}", pair.client_events));
    let server = pair.server.connection_ref(server_handle).expect("server");
    // Client: the server's limit of 3 → two spares. Server: the client's limit of 4, its own of
    // 3 → two spares.
    assert_eq!(client.stats().cids.issued, 2);
    assert_eq!(server.stats().cids.issued, 2);
    assert_eq!(server.stats().cids.received, 2);
    assert_eq!(client.stats().cids.received, 2);
    let server_ids: Vec<_> = server.local_cids().collect();
    assert_eq!(server_ids.len(), 3);
    for id in &server_ids {
        assert_eq!(
            pair.server.by_cid.get(id),
            Some(&(server_handle.index as usize))
        );
    }
    assert_eq!(pair.server.by_cid.len(), 3);
    assert_eq!(pair.client.by_cid.len(), 3);
    pair.client
        .connection(handle)
        .expect("client")
        .close(pair.now, VarInt::ZERO, b"done");
    pair.run(10);
    assert_eq!(pair.client.connection_count(), 0);
    assert_eq!(pair.server.connection_count(), 0);
    assert!(pair.client.by_cid.is_empty(), "{:?}", pair.client.by_cid);
    assert!(pair.server.by_cid.is_empty(), "{:?}", pair.server.by_cid);
}
