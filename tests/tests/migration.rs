//! Connection migration and NAT rebinding over the simulator (RFC 9000 §9), under TLS (a
//! connection follows only packets it can authenticate): a client whose
//! address changes mid-transfer keeps its connection, loses no byte, and its game flow keeps
//! flowing; a new address that does not answer its PATH_CHALLENGE is given up for the old one.
//! Each move also changes the connection IDs on the wire (RFC 9000 §9.5): the server addresses
//! the moved client with a spare ID, and a client whose driver moved it addresses the server
//! with one of the server's spares, so that an observer cannot link the paths.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::BytesMut;

use weir_core::config::{EndpointConfig, ServerConfig, TransportConfig};
use weir_core::connection::{ConnectionStats, Event, LocalPathChange};
use weir_core::crypto::{ClientTls, Identity, TlsConfig};
use weir_core::endpoint::{ConnectionHandle, Endpoint};
use weir_core::sim::flows::GameTransport;
use weir_core::sim::flows::{BulkAmount, BulkReceiver, BulkSender, GameReceiver, GameSender};
use weir_core::sim::{Bitrate, LinkConfig, LinkId, LossModel, Node, NodeId, Simulator};
use weir_core::wire::ConnectionId;
use weir_core::{EcnCodepoint, Transmit};
use weir_tests::{App, EndpointNode, addr, epoch};

const TOTAL: u64 = 6_000_000;
const GAME_BYTES: usize = 64;

/// Records the server's path changes and connection statistics around another application.
struct Watch<A> {
    inner: A,
    t0: Instant,
    paths: Vec<(Duration, SocketAddr)>,
    handle: Option<ConnectionHandle>,
    stats: Option<ConnectionStats>,
}

impl<A: App> App for Watch<A> {
    fn on_event(
        &mut self,
        now: Instant,
        ep: &mut Endpoint,
        handle: ConnectionHandle,
        event: Event,
    ) {
        self.handle.get_or_insert(handle);
        if let Event::PathChanged { remote } = event {
            self.paths.push((now - self.t0, remote));
        }
        self.stats = ep
            .connection(handle)
            .map(|c| c.stats())
            .or(self.stats.take());
        self.inner.on_event(now, ep, handle, event);
    }

    fn on_tick(&mut self, now: Instant, ep: &mut Endpoint) {
        self.inner.on_tick(now, ep);
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.inner.poll_timeout()
    }
}

type Client = EndpointNode<weir_core::sim::flows::Both<BulkSender, GameSender>>;
type Server = EndpointNode<Watch<weir_core::sim::flows::Both<BulkReceiver, GameReceiver>>>;

fn link() -> LinkConfig {
    LinkConfig {
        delay: Duration::from_millis(20),
        rate: Some(Bitrate::from_kbps(20_000)),
        queue_bytes: 100_000,
        ..LinkConfig::default()
    }
}

/// The two endpoints and their applications: a client sending `TOTAL` bytes and a 60 Hz game
/// flow (unreliable messages) to a server.
fn nodes(seed: u64) -> (Simulator, Client, Server) {
    let t0 = epoch();
    let sim = Simulator::new(seed, t0);
    let transport = TransportConfig::default();
    // Migration follows authenticated packets only: TLS, as every real endpoint has.
    let identity = Identity::self_signed(["localhost"]).expect("identity");
    let server_tls = TlsConfig::server(&identity).expect("server tls");
    let client_tls =
        TlsConfig::client(ClientTls::pinned(vec![identity.fingerprint()]).expect("pins"));
    let server_ep = Endpoint::new(
        t0,
        EndpointConfig::tls_fixed(seed + 1, server_tls),
        Some(ServerConfig::new(
            transport.clone(),
            weir_tests::retry_policy(false),
        )),
    )
    .expect("server");
    let mut client_ep =
        Endpoint::new(t0, EndpointConfig::tls_fixed(seed + 2, client_tls), None).expect("client");
    client_ep.set_client_config(transport).expect("config");
    client_ep.connect(t0, addr(2)).expect("connect");
    let sender = weir_core::sim::flows::Both(
        BulkSender::new(BulkAmount::Bytes(TOTAL), 0, false),
        GameSender::new(
            t0,
            60,
            GAME_BYTES,
            GameTransport::Datagrams {
                ttl: Duration::from_secs(1),
            },
            Duration::from_secs(8),
        ),
    );
    let receiver = Watch {
        inner: weir_core::sim::flows::Both(
            BulkReceiver::default(),
            GameReceiver::new(t0, GAME_BYTES),
        ),
        t0,
        paths: Vec::new(),
        handle: None,
        stats: None,
    };
    (
        sim,
        EndpointNode::new(client_ep, sender),
        EndpointNode::new(server_ep, receiver),
    )
}

/// The client and server of [`nodes`] over 20 ms, 20 Mbit/s links.
fn setup(seed: u64) -> (Simulator, NodeId, NodeId, (LinkId, LinkId)) {
    let (mut sim, client, server) = nodes(seed);
    let client = sim.add_node(addr(1), client).expect("client node");
    let server = sim.add_node(addr(2), server).expect("server node");
    let links = sim.connect(client, server, link(), link()).expect("links");
    (sim, client, server, links)
}

fn server(sim: &mut Simulator, node: NodeId) -> &mut Server {
    sim.node_mut::<Server>(node).expect("server node")
}

fn client(sim: &mut Simulator, node: NodeId) -> &mut Client {
    sim.node_mut::<Client>(node).expect("client node")
}

/// Runs the transfer with the client moved to `to` at 2 s; returns the server's view.
fn transfer_with_move(seed: u64, to: SocketAddr) -> (Simulator, NodeId, NodeId) {
    let (mut sim, c, s, _) = setup(seed);
    sim.run_until(Duration::from_secs(2)).expect("sim");
    assert!(
        server(&mut sim, s).app.inner.0.received > 0,
        "the transfer is under way when the client moves"
    );
    sim.rebind(c, to).expect("rebind");
    sim.run_until(Duration::from_secs(12)).expect("sim");
    (sim, c, s)
}

fn check_no_byte_lost(sim: &mut Simulator, c: NodeId, s: NodeId) {
    let receiver = &server(sim, s).app.inner.0;
    assert_eq!(receiver.received, TOTAL, "every byte arrived, once");
    assert!(receiver.finished_at.is_some(), "the stream ended");
    assert!(receiver.closed.is_none());
    assert!(
        client(sim, c).app.0.closed.is_none(),
        "the client kept its connection"
    );
}

/// A NAT gives the client another port mid-transfer: the server follows it at once, validates
/// the new path, keeps its congestion state (same path), and nothing is lost or repeated; the
/// game flow's messages keep arriving within a round trip of their usual delay.
#[test]
fn a_nat_rebinding_mid_transfer_loses_no_byte_and_costs_the_game_under_a_round_trip() {
    let new = SocketAddr::new(addr(1).ip(), addr(1).port() + 1000);
    let (mut sim, c, s) = transfer_with_move(7, new);
    check_no_byte_lost(&mut sim, c, s);
    let sent = client(&mut sim, c).app.1.sent;
    let watch = &server(&mut sim, s).app;
    assert_eq!(watch.paths.len(), 1, "{:?}", watch.paths);
    let (at, remote) = watch.paths[0];
    assert_eq!(remote, new);
    assert!(
        at >= Duration::from_secs(2) && at <= Duration::from_millis(2100),
        "followed at {at:?}"
    );
    let stats = watch.stats.clone().expect("stats");
    assert_eq!(stats.migrations, 1);
    assert_eq!(stats.path_validation_failures, 0);
    let game = &watch.inner.1;
    assert!(sent > 400, "{sent} game messages");
    // Unreliable messages: a queue drop at the 20 Mbit/s bottleneck may take one, the move
    // must not take a window of them.
    assert!(
        game.received + 5 >= sent,
        "{} of {sent} arrived",
        game.received
    );
    // One-way delay: 20 ms of propagation plus the queue the bulk transfer builds (at most
    // 100 kB at 20 Mbit/s, 40 ms); the move may add at most one round trip (40 ms).
    eprintln!(
        "rebinding: followed at {at:?}; game {} of {sent} received, worst one-way delay {:?}, p99 {:?}; bulk bytes lost {}",
        game.received,
        game.max_delay,
        game.delay_quantile(0.99),
        stats.bytes_lost
    );
    assert!(
        game.max_delay <= Duration::from_millis(20 + 40 + 40 + 10),
        "worst game message delay {:?}",
        game.max_delay
    );
}

/// The client moves to another network (another IP address): the server follows, resets its
/// congestion controller and RTT estimate for the new path, and the transfer completes whole.
#[test]
fn a_move_to_another_network_mid_transfer_loses_no_byte() {
    let (mut sim, c, s) = transfer_with_move(8, addr(3));
    check_no_byte_lost(&mut sim, c, s);
    let watch = &server(&mut sim, s).app;
    assert_eq!(
        watch.paths.iter().map(|p| p.1).collect::<Vec<_>>(),
        vec![addr(3)]
    );
    let stats = watch.stats.clone().expect("stats");
    assert_eq!((stats.migrations, stats.path_validation_failures), (1, 0));
}

/// The server's way back to the client dies just as the client moves: the PATH_CHALLENGE goes
/// unanswered, so the server gives the new address up for the old (validated) one; when the
/// path returns, the client's next packets move it again, and the transfer completes.
#[test]
fn an_unanswered_challenge_sends_the_server_back_and_the_next_packet_moves_it_again() {
    let (mut sim, c, s, (_, reverse)) = setup(9);
    sim.run_until(Duration::from_secs(2)).expect("sim");
    let dead = LinkConfig {
        loss: LossModel::Outage,
        ..link()
    };
    sim.set_link_config(reverse, dead).expect("link down");
    sim.rebind(c, addr(4)).expect("rebind");
    sim.run_until(Duration::from_secs(5)).expect("sim");
    sim.set_link_config(reverse, link()).expect("link up");
    sim.run_until(Duration::from_secs(25)).expect("sim");
    check_no_byte_lost(&mut sim, c, s);
    let watch = &server(&mut sim, s).app;
    let stats = watch.stats.clone().expect("stats");
    assert!(stats.path_validation_failures >= 1, "{stats:?}");
    assert!(stats.migrations >= 2, "{:?}", watch.paths);
    assert_eq!(watch.paths.first().map(|p| p.1), Some(addr(4)));
    assert!(
        watch.paths.contains(&(watch.paths[1].0, addr(1))),
        "{:?}",
        watch.paths
    );
    assert_eq!(watch.paths.last().map(|p| p.1), Some(addr(4)));
}

/// A Wi-Fi to LTE handover in the middle of the game: the client's address changes (another
/// network) and so does the path — 20 ms each way at 20 Mbit/s becomes 30 ms each way at
/// 12 Mbit/s. The server follows with a fresh controller and RTT estimate; the transfer ends
/// whole, the game loses nothing, and what the move costs is printed and bounded.
#[test]
fn a_wifi_to_lte_handover_mid_game_costs_the_game_little() {
    let (mut sim, c, s, (forward, reverse)) = setup(10);
    sim.run_until(Duration::from_secs(2)).expect("sim");
    let lte = LinkConfig {
        delay: Duration::from_millis(30),
        rate: Some(Bitrate::from_kbps(12_000)),
        queue_bytes: 100_000,
        ..LinkConfig::default()
    };
    sim.rebind(c, addr(5)).expect("rebind");
    sim.set_link_config(reverse, lte.clone())
        .expect("reverse to LTE");
    sim.set_link_config(forward, lte).expect("forward to LTE");
    sim.run_until(Duration::from_secs(14)).expect("sim");
    check_no_byte_lost(&mut sim, c, s);
    let sent = client(&mut sim, c).app.1.sent;
    let resent = client(&mut sim, c)
        .app
        .0
        .stats
        .clone()
        .map_or(0, |s| s.stream_bytes_retransmitted);
    let watch = &server(&mut sim, s).app;
    let game = &watch.inner.1;
    let stats = watch.stats.clone().expect("stats");
    eprintln!(
        "handover: followed at {:?}; game {} of {sent} received, worst one-way delay {:?}, p99 {:?}; stream bytes re-sent {resent}",
        watch.paths.first().map(|p| p.0),
        game.received,
        game.max_delay,
        game.delay_quantile(0.99),
    );
    assert_eq!(stats.migrations, 1);
    assert!(game.received + 5 >= sent, "{} of {sent}", game.received);
    // LTE's 30 ms, its queue (100 kB at 12 Mbit/s: 67 ms), and the round trip the move takes.
    assert!(
        game.max_delay <= Duration::from_millis(30 + 67 + 60 + 20),
        "worst game delay {:?}",
        game.max_delay
    );
    assert!(resent < TOTAL / 10, "{resent} bytes re-sent");
}

/// A node that records the destination connection IDs of the short-header packets it receives
/// (the IDs an observer of its incoming traffic sees), each with when it was first seen.
struct Tap<N> {
    node: N,
    seen: Vec<(Instant, ConnectionId)>,
}

impl<N: Node> Node for Tap<N> {
    fn handle_datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        ecn: Option<EcnCodepoint>,
        datagram: BytesMut,
    ) {
        // Short header: the form bit is clear; the destination ID follows the first byte.
        if datagram.first().is_some_and(|b| b & 0x80 == 0)
            && let Some(dcid) = datagram.get(1..1 + CID_LEN)
        {
            let dcid = ConnectionId::new(dcid).expect("8 bytes");
            if !self.seen.iter().any(|(_, seen)| *seen == dcid) {
                self.seen.push((now, dcid));
            }
        }
        self.node.handle_datagram(now, from, ecn, datagram);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.node.handle_timeout(now);
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        self.node.poll_transmit(now, buf)
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        self.node.poll_timeout()
    }
}

/// Both endpoints' default connection-ID length.
const CID_LEN: usize = 8;

/// [`setup`] with both nodes tapped.
fn setup_tapped(seed: u64) -> (Simulator, NodeId, NodeId) {
    let (sim, c, s, _) = setup_tapped_links(seed);
    (sim, c, s)
}

fn setup_tapped_links(seed: u64) -> (Simulator, NodeId, NodeId, (LinkId, LinkId)) {
    let (mut sim, client, server) = nodes(seed);
    fn tap<N>(node: N) -> Tap<N> {
        Tap {
            node,
            seen: Vec::new(),
        }
    }
    let client = sim.add_node(addr(1), tap(client)).expect("client node");
    let server = sim.add_node(addr(2), tap(server)).expect("server node");
    let links = sim.connect(client, server, link(), link()).expect("links");
    (sim, client, server, links)
}

fn tapped_client(sim: &mut Simulator, node: NodeId) -> &mut Tap<Client> {
    sim.node_mut::<Tap<Client>>(node).expect("client node")
}

fn tapped_server(sim: &mut Simulator, node: NodeId) -> &mut Tap<Server> {
    sim.node_mut::<Tap<Server>>(node).expect("server node")
}

/// The IDs a tap saw before `at`, and those it saw first from `at` on.
fn ids_around(
    seen: &[(Instant, ConnectionId)],
    at: Instant,
) -> (Vec<ConnectionId>, Vec<ConnectionId>) {
    let before = seen.iter().filter(|(t, _)| *t < at).map(|s| s.1).collect();
    let after = seen.iter().filter(|(t, _)| *t >= at).map(|s| s.1).collect();
    (before, after)
}

/// The client moves to another network mid-transfer; the server follows it and, from then on,
/// addresses it with a spare connection ID the client issued after the handshake: an observer
/// of the server's packets sees one ID before the move and another after, never the old one
/// again, and every byte still arrives.
#[test]
fn after_a_move_the_servers_packets_carry_another_connection_id_and_every_byte_arrives() {
    let (mut sim, c, s) = setup_tapped(21);
    sim.run_until(Duration::from_secs(2)).expect("sim");
    let moved_at = sim.now();
    assert!(tapped_server(&mut sim, s).node.app.inner.0.received > 0);
    sim.rebind(c, addr(3)).expect("rebind");
    sim.run_until(Duration::from_secs(12)).expect("sim");
    let seen = tapped_client(&mut sim, c).seen.clone();
    let (before, after) = ids_around(&seen, moved_at);
    assert_eq!(before.len(), 1, "one ID before the move: {before:?}");
    assert_eq!(after.len(), 1, "one ID after the move: {after:?}");
    assert_ne!(before, after, "the server changed IDs with the path");
    let client_handle = tapped_client(&mut sim, c)
        .node
        .endpoint
        .connection_handles()
        .next();
    let client_stats = client_handle
        .and_then(|h| tapped_client(&mut sim, c).node.endpoint.connection_ref(h))
        .map(|conn| conn.stats())
        .expect("client alive");
    // The client issued three spares (the default limit of 4, less the ID in use); the server
    // used one and retired the handshake's, which the client replaced.
    assert_eq!(
        client_stats.cids.retired_by_peer, 1,
        "{:?}",
        client_stats.cids
    );
    assert_eq!(client_stats.cids.issued, 4, "{:?}", client_stats.cids);
    let server = &tapped_server(&mut sim, s).node.app;
    let stats = server.stats.clone().expect("stats");
    assert_eq!(
        (stats.migrations, stats.cids.switches),
        (1, 1),
        "{:?}",
        stats.cids
    );
    assert_eq!(
        server.paths.iter().map(|p| p.1).collect::<Vec<_>>(),
        vec![addr(3)]
    );
    let receiver = &server.inner.0;
    assert_eq!(receiver.received, TOTAL, "every byte arrived, once");
    assert!(receiver.closed.is_none());
    assert!(tapped_client(&mut sim, c).node.app.0.closed.is_none());
}

/// The client's driver moves it to another network mid-transfer and says so
/// (`Endpoint::local_path_changed`): the client addresses the server with one of the server's
/// spare IDs from then on, the server follows the new address and addresses the client with a
/// spare of its own, and the transfer completes whole. Neither direction's ID survives the move.
#[test]
fn a_client_that_changes_networks_takes_a_spare_id_and_the_transfer_completes() {
    let (mut sim, c, s) = setup_tapped(22);
    sim.run_until(Duration::from_secs(2)).expect("sim");
    let moved_at = sim.now();
    sim.rebind(c, addr(3)).expect("rebind");
    let ep = &mut tapped_client(&mut sim, c).node.endpoint;
    let handle = ep.connection_handles().next().expect("client connection");
    let old_remote = ep.connection_ref(handle).expect("alive").remote_cid();
    let switched = ep
        .local_path_changed(moved_at, handle, LocalPathChange::Network)
        .expect("an established client moves");
    assert!(switched, "the server issued spares");
    assert_ne!(
        ep.connection_ref(handle).expect("alive").remote_cid(),
        old_remote
    );
    sim.run_until(Duration::from_secs(12)).expect("sim");
    // What the server received: the handshake's ID before, one spare after.
    let (before, after) = ids_around(&tapped_server(&mut sim, s).seen, moved_at);
    assert_eq!(before, vec![old_remote]);
    assert_eq!(after.len(), 1, "{after:?}");
    assert_ne!(after[0], old_remote);
    // What the client received: the server followed and changed IDs too.
    let (before, after) = ids_around(&tapped_client(&mut sim, c).seen, moved_at);
    assert_eq!((before.len(), after.len()), (1, 1), "{before:?} {after:?}");
    assert_ne!(before, after);
    let client_stats = tapped_client(&mut sim, c)
        .node
        .endpoint
        .connection_ref(handle)
        .map(|conn| conn.stats())
        .expect("client alive");
    assert_eq!(client_stats.cids.switches, 1);
    assert_eq!(client_stats.migrations, 1);
    let server = &tapped_server(&mut sim, s).node.app;
    let stats = server.stats.clone().expect("stats");
    assert_eq!(stats.cids.retired_by_peer, 1, "{:?}", stats.cids);
    assert_eq!(stats.path_validation_failures, 0);
    assert_eq!(
        server.paths.iter().map(|p| p.1).collect::<Vec<_>>(),
        vec![addr(3)]
    );
    let receiver = &server.inner.0;
    assert_eq!(receiver.received, TOTAL, "every byte arrived, once");
    assert!(receiver.closed.is_none());
    assert!(tapped_client(&mut sim, c).node.app.0.closed.is_none());
}

/// Only an established client moves on its own.
#[test]
fn a_server_connection_cannot_be_moved_by_its_driver() {
    let (mut sim, _, s) = setup_tapped(23);
    sim.run_until(Duration::from_secs(1)).expect("sim");
    let now = sim.now();
    let ep = &mut tapped_server(&mut sim, s).node.endpoint;
    let handle = ep.connection_handles().next().expect("server connection");
    assert_eq!(
        ep.local_path_changed(now, handle, LocalPathChange::Port),
        Err(weir_core::connection::PathChangeError::NotClient)
    );
}

/// A quarter of the packets both ways are lost while the handshake completes and the spare IDs
/// are handed over: the NEW_CONNECTION_ID frames lost are sent again, every spare arrives, and
/// the client's later move (with the RETIRE_CONNECTION_ID it sends) works as on a clean path.
/// (With this seed a packet of NEW_CONNECTION_ID frames is lost or probed, and its frames sent
/// again.)
#[test]
fn spare_ids_lost_in_flight_are_sent_again_and_a_later_move_works() {
    let (mut sim, c, s, (forward, reverse)) = setup_tapped_links(26);
    let lossy = LinkConfig {
        loss: LossModel::Random { p: 0.25 },
        ..link()
    };
    sim.set_link_config(forward, lossy.clone()).expect("lossy");
    sim.set_link_config(reverse, lossy).expect("lossy");
    sim.run_until(Duration::from_millis(1500)).expect("sim");
    sim.set_link_config(forward, link()).expect("clean");
    sim.set_link_config(reverse, link()).expect("clean");
    sim.run_until(Duration::from_secs(3)).expect("sim");
    let moved_at = sim.now();
    sim.rebind(c, addr(3)).expect("rebind");
    let ep = &mut tapped_client(&mut sim, c).node.endpoint;
    let handle = ep.connection_handles().next().expect("client connection");
    assert_eq!(
        ep.connection_ref(handle).map(|c| c.stats().cids.received),
        Some(3),
        "every spare of the server's arrived"
    );
    assert_eq!(
        ep.local_path_changed(moved_at, handle, LocalPathChange::Network),
        Ok(true)
    );
    sim.run_until(Duration::from_secs(20)).expect("sim");
    let server = &tapped_server(&mut sim, s).node.app;
    let stats = server.stats.clone().expect("stats");
    // The client's three spares, and the one that replaced the ID the server retired when it
    // followed the client.
    assert_eq!(
        stats.cids.received, 4,
        "every spare of the client's arrived"
    );
    assert_eq!(stats.cids.retired_by_peer, 1, "{:?}", stats.cids);
    assert!(stats.packets_lost > 0, "the path did lose packets");
    assert_eq!(server.inner.0.received, TOTAL, "every byte arrived, once");
    let (_, after) = ids_around(&tapped_server(&mut sim, s).seen, moved_at);
    assert_eq!(after.len(), 1, "{after:?}");
}
