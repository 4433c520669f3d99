//! Connection migration and NAT rebinding over the simulator (RFC 9000 §9), under TLS (a
//! connection follows only packets it can authenticate): a client whose
//! address changes mid-transfer keeps its connection, loses no byte, and its game flow keeps
//! flowing; a new address that does not answer its PATH_CHALLENGE is given up for the old one.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use weir_core::config::{EndpointConfig, ServerConfig, TransportConfig};
use weir_core::connection::{ConnectionStats, Event};
use weir_core::crypto::{ClientTls, Identity, TlsConfig};
use weir_core::endpoint::{ConnectionHandle, Endpoint};
use weir_core::sim::flows::GameTransport;
use weir_core::sim::flows::{BulkAmount, BulkReceiver, BulkSender, GameReceiver, GameSender};
use weir_core::sim::{Bitrate, LinkConfig, LinkId, LossModel, NodeId, Simulator};
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

/// A client sending `TOTAL` bytes and a 60 Hz game flow (unreliable messages) to a server.
fn setup(seed: u64) -> (Simulator, NodeId, NodeId, LinkId) {
    let t0 = epoch();
    let mut sim = Simulator::new(seed, t0);
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
    let client = sim
        .add_node(addr(1), EndpointNode::new(client_ep, sender))
        .expect("client node");
    let server = sim
        .add_node(addr(2), EndpointNode::new(server_ep, receiver))
        .expect("server node");
    let (_, reverse) = sim.connect(client, server, link(), link()).expect("links");
    (sim, client, server, reverse)
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
    let (mut sim, c, s, reverse) = setup(9);
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
