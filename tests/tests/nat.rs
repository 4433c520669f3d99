//! NAT middleboxes in the simulator (`weir_core::sim::nat`): weir through every classic NAT
//! type, a NAT rebinding caused by a binding timeout in the middle of a transfer, and the
//! simultaneous-open matrix that UDP hole punching depends on.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use weir_core::config::{EndpointConfig, ServerConfig, TransportConfig};
use weir_core::connection::Event;
use weir_core::crypto::{ClientTls, Identity, TlsConfig};
use weir_core::endpoint::{ConnectionHandle, Endpoint};
use weir_core::rendezvous::{
    ClientConfig, ClientEvent, Handled, RendezvousClient, RendezvousServer, SessionId,
    is_rendezvous,
};
use weir_core::sim::{
    Bitrate, LinkConfig, NatConfig, NatId, NatKind, NatStats, Node, NodeId, Simulator,
};
use weir_core::streams::{StreamEvent, StreamId};
use weir_core::{EcnCodepoint, Transmit};
use weir_tests::{App, EndpointNode, addr, epoch};

fn nat_ip(host: u8) -> IpAddr {
    IpAddr::from([203, 0, 113, host])
}

/// The same private address behind every NAT: private address spaces overlap, as at home.
fn private() -> SocketAddr {
    SocketAddr::from(([192, 168, 1, 2], 4433))
}

fn link() -> LinkConfig {
    LinkConfig {
        delay: Duration::from_millis(20),
        rate: Some(Bitrate::from_kbps(20_000)),
        queue_bytes: 100_000,
        ..LinkConfig::default()
    }
}

/// Byte `i` of every transfer, so that the receiver can check each one it reads.
fn pattern(i: u64) -> u8 {
    (i % 251) as u8
}

/// Writes its bytes on one stream in phases, `(offset from the handshake, bytes)`, then
/// finishes the stream.
struct PhasedSender {
    phases: Vec<(Duration, u64)>,
    connected_at: Option<Instant>,
    handle: Option<ConnectionHandle>,
    stream: Option<StreamId>,
    /// Phases started.
    due: usize,
    written: u64,
    finished: bool,
}

impl PhasedSender {
    fn new(phases: Vec<(Duration, u64)>) -> Self {
        Self {
            phases,
            connected_at: None,
            handle: None,
            stream: None,
            due: 0,
            written: 0,
            finished: false,
        }
    }

    fn total(&self) -> u64 {
        self.phases.iter().map(|p| p.1).sum()
    }
}

impl App for PhasedSender {
    fn on_event(
        &mut self,
        now: Instant,
        ep: &mut Endpoint,
        handle: ConnectionHandle,
        event: Event,
    ) {
        self.handle = Some(handle);
        if let Event::Connected = event {
            self.connected_at = Some(now);
            self.stream = ep.connection(handle).and_then(|c| c.open_uni(0).ok());
        }
    }

    fn on_tick(&mut self, now: Instant, ep: &mut Endpoint) {
        let (Some(handle), Some(stream), Some(t0)) = (self.handle, self.stream, self.connected_at)
        else {
            return;
        };
        while self.phases.get(self.due).is_some_and(|p| t0 + p.0 <= now) {
            self.due += 1;
        }
        let target: u64 = self.phases[..self.due].iter().map(|p| p.1).sum();
        let Some(conn) = ep.connection(handle) else {
            return;
        };
        while self.written < target {
            let n = (target - self.written).min(16 * 1024);
            let chunk: Bytes = (self.written..self.written + n).map(pattern).collect();
            match conn.write_chunk(stream, chunk) {
                Ok(k) if k > 0 => self.written += k as u64,
                _ => break,
            }
        }
        if !self.finished && self.due == self.phases.len() && self.written == self.total() {
            self.finished = conn.finish(stream).is_ok();
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        Some(self.connected_at? + self.phases.get(self.due)?.0)
    }
}

/// Reads every stream, checks every byte against [`pattern`], and records the client's
/// address as the server sees it.
#[derive(Default)]
struct CheckingReceiver {
    received: u64,
    corrupt: u64,
    finished: bool,
    closed: bool,
    remotes: Vec<SocketAddr>,
    migrations: u64,
}

impl App for CheckingReceiver {
    fn on_event(
        &mut self,
        now: Instant,
        ep: &mut Endpoint,
        handle: ConnectionHandle,
        event: Event,
    ) {
        let Some(conn) = ep.connection(handle) else {
            return;
        };
        let remote = conn.remote_address();
        if self.remotes.last() != Some(&remote) {
            self.remotes.push(remote);
        }
        self.migrations = conn.stats().migrations;
        match event {
            Event::Stream(StreamEvent::Opened { .. } | StreamEvent::Readable { .. }) => {
                while conn.accept_uni().is_some() {}
                let Event::Stream(StreamEvent::Readable { id }) = event else {
                    return;
                };
                loop {
                    match conn.read(now, id, usize::MAX) {
                        Ok(Some(chunk)) => {
                            for (i, byte) in chunk.iter().enumerate() {
                                if *byte != pattern(self.received + i as u64) {
                                    self.corrupt += 1;
                                }
                            }
                            self.received += chunk.len() as u64;
                        }
                        Ok(None) => {
                            self.finished = true;
                            break;
                        }
                        Err(_) => break,
                    }
                }
            }
            Event::Closed(_) => self.closed = true,
            _ => {}
        }
    }
}

type Client = EndpointNode<PhasedSender>;
type Server = EndpointNode<CheckingReceiver>;

/// A weir client behind a NAT made by `nat`, connecting to a public server at `addr(2)` to
/// send `phases`.
fn setup(
    seed: u64,
    nat: NatConfig,
    transport: TransportConfig,
    phases: Vec<(Duration, u64)>,
) -> (Simulator, NatId, NodeId, NodeId) {
    let t0 = epoch();
    let mut sim = Simulator::new(seed, t0);
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
    let nat = sim.add_nat(nat).expect("nat");
    let client = sim
        .add_node_behind(
            nat,
            private(),
            EndpointNode::new(client_ep, PhasedSender::new(phases)),
        )
        .expect("client node");
    let server = sim
        .add_node(
            addr(2),
            EndpointNode::new(server_ep, CheckingReceiver::default()),
        )
        .expect("server node");
    sim.connect(client, server, link(), link()).expect("links");
    (sim, nat, client, server)
}

fn receiver(sim: &Simulator, server: NodeId) -> &CheckingReceiver {
    &sim.node::<Server>(server).expect("server node").app
}

fn check_whole(sim: &Simulator, server: NodeId, client: NodeId, total: u64) {
    let r = receiver(sim, server);
    assert_eq!(r.received, total, "every byte arrived, once");
    assert_eq!(r.corrupt, 0, "every byte is the one sent");
    assert!(r.finished, "the stream ended");
    assert!(!r.closed, "the server kept its connection");
    let c = &sim.node::<Client>(client).expect("client node").app;
    assert!(c.finished, "the client finished its stream");
}

/// (a) Behind every NAT type (with and without port preservation), a client connects to a
/// public server and sends 2 MB: the server sees the NAT's public mapping, one mapping is
/// made, nothing is filtered, and every byte arrives.
#[test]
fn a_client_behind_each_nat_type_connects_and_moves_data() {
    const TOTAL: u64 = 2_000_000;
    for (i, kind) in NatKind::ALL.into_iter().enumerate() {
        for port_preservation in [false, true] {
            let config = NatConfig {
                port_preservation,
                ..NatConfig::new(kind, nat_ip(1))
            };
            let (mut sim, nat, c, s) = setup(
                20 + i as u64,
                config,
                TransportConfig::default(),
                vec![(Duration::ZERO, TOTAL)],
            );
            sim.run_until(Duration::from_secs(10)).expect("sim");
            check_whole(&sim, s, c, TOTAL);
            let public = sim
                .public_address(c, addr(2))
                .expect("a mapping to the server");
            assert_eq!(public.ip(), nat_ip(1), "{kind}");
            if port_preservation {
                assert_eq!(public.port(), private().port(), "{kind}");
            }
            assert_eq!(receiver(&sim, s).remotes, vec![public], "{kind}");
            let stats = sim.nat_stats(nat).expect("stats");
            eprintln!("{kind} (port preservation {port_preservation}): {stats:?}");
            assert_eq!(stats.mappings_created, 1, "{kind}");
            assert_eq!(stats.active_mappings, 1, "{kind}");
            assert_eq!(stats.mappings_expired, 0, "{kind}");
            assert!(
                stats.outbound > 1000 && stats.inbound > 100,
                "{kind}: {stats:?}"
            );
            assert_eq!(
                stats.inbound_filtered + stats.inbound_expired + stats.inbound_no_mapping,
                0,
                "{kind}"
            );
            assert_eq!(sim.nat_dropped().packets, 0);
        }
    }
}

/// (b) The client goes quiet (no keep-alives) for longer than its NAT's binding timeout
/// between two halves of a transfer: the mapping expires, the client's next datagram leaves
/// from a new public port (a NAT rebinding), the server follows it (connection migration), and
/// the transfer completes with every byte intact. Checked with a short timeout and with the
/// default 30 s one (the connection's idle timeout raised above the quiet period).
#[test]
fn a_binding_that_expires_mid_transfer_rebinds_and_the_server_follows() {
    const HALF: u64 = 1_000_000;
    let cases = [
        (Duration::from_secs(3), Duration::from_secs(8)),
        (
            NatConfig::new(NatKind::PortRestricted, nat_ip(1)).binding_timeout,
            Duration::from_secs(40),
        ),
    ];
    for (seed, (binding_timeout, quiet)) in (40..).zip(cases) {
        for kind in NatKind::ALL {
            let config = NatConfig {
                binding_timeout,
                ..NatConfig::new(kind, nat_ip(1))
            };
            let transport = TransportConfig {
                idle_timeout: quiet * 2,
                keep_alive_interval: None,
                ..TransportConfig::default()
            };
            let (mut sim, nat, c, s) = setup(
                seed,
                config,
                transport,
                vec![(Duration::ZERO, HALF), (quiet, HALF)],
            );
            sim.run_until(quiet - Duration::from_secs(1)).expect("sim");
            assert_eq!(receiver(&sim, s).received, HALF, "{kind}: first half done");
            let first = sim.nat_stats(nat).expect("stats");
            assert_eq!(
                first.mappings_expired, 1,
                "{kind}: the mapping timed out while quiet"
            );
            assert_eq!(first.active_mappings, 0, "{kind}");
            sim.run_until(quiet + Duration::from_secs(2)).expect("sim");
            let rebound = sim.public_address(c, addr(2)).expect("a new mapping");
            sim.run_until(quiet + Duration::from_secs(10)).expect("sim");
            check_whole(&sim, s, c, 2 * HALF);
            let stats = sim.nat_stats(nat).expect("stats");
            let remotes = &receiver(&sim, s).remotes;
            eprintln!(
                "{kind}, timeout {binding_timeout:?}, quiet {quiet:?}: server saw {remotes:?}, {stats:?}"
            );
            assert_eq!(stats.mappings_created, 2, "{kind}: one rebinding");
            assert_eq!(remotes.len(), 2, "{kind}: {remotes:?}");
            assert_ne!(remotes[0], remotes[1], "{kind}");
            assert!(remotes.iter().all(|r| r.ip() == nat_ip(1)));
            assert_eq!(
                rebound, remotes[1],
                "{kind}: the server follows the new mapping"
            );
            assert_eq!(receiver(&sim, s).migrations, 1, "{kind}");
        }
    }
}

const PUNCH: &[u8] = b"punch";
const HELLO: &[u8] = b"hello";

/// A raw UDP peer for hole punching: says hello to a rendezvous server, then, when told,
/// sends `PUNCH` datagrams to its targets every `PROBE_INTERVAL`. With `learn`, the source of
/// any punch it receives becomes a target too (ICE's peer-reflexive candidates), so a peer
/// behind a symmetric NAT is answered at the port it really uses.
struct Peer {
    learn: bool,
    targets: Vec<SocketAddr>,
    probes_left: u32,
    next_probe: Option<Instant>,
    outbox: VecDeque<(SocketAddr, &'static [u8])>,
    /// Sources of the punches received.
    heard_from: Vec<SocketAddr>,
}

const PROBE_INTERVAL: Duration = Duration::from_millis(100);

impl Peer {
    fn new(rendezvous: SocketAddr, learn: bool) -> Self {
        Self {
            learn,
            targets: Vec::new(),
            probes_left: 0,
            next_probe: None,
            outbox: VecDeque::from([(rendezvous, HELLO)]),
            heard_from: Vec::new(),
        }
    }

    /// Starts punching towards `peer` (its address as the rendezvous server saw it).
    fn punch(&mut self, now: Instant, peer: SocketAddr, probes: u32) {
        self.targets = vec![peer];
        self.probes_left = probes;
        self.next_probe = Some(now);
    }
}

impl Node for Peer {
    fn handle_datagram(
        &mut self,
        _now: Instant,
        from: SocketAddr,
        _ecn: Option<EcnCodepoint>,
        datagram: BytesMut,
    ) {
        if &datagram[..] != PUNCH {
            return;
        }
        self.heard_from.push(from);
        if self.learn && !self.targets.contains(&from) {
            self.targets.push(from);
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        if self.next_probe.is_some_and(|t| t <= now) && self.probes_left > 0 {
            self.probes_left -= 1;
            for target in &self.targets {
                self.outbox.push_back((*target, PUNCH));
            }
            self.next_probe = (self.probes_left > 0).then(|| now + PROBE_INTERVAL);
        }
    }

    fn poll_transmit(&mut self, _now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        let (destination, payload) = self.outbox.pop_front()?;
        buf.extend_from_slice(payload);
        Some(Transmit {
            destination,
            ecn: None,
            size: payload.len(),
            segment_size: None,
        })
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        self.next_probe
    }
}

/// The rendezvous (STUN-like) server: records where each hello came from — the sender's
/// public mapping towards it, which the test passes to the other peer out of band.
#[derive(Default)]
struct Rendezvous {
    seen: Vec<SocketAddr>,
}

impl Node for Rendezvous {
    fn handle_datagram(
        &mut self,
        _: Instant,
        from: SocketAddr,
        _: Option<EcnCodepoint>,
        _: BytesMut,
    ) {
        self.seen.push(from);
    }

    fn handle_timeout(&mut self, _: Instant) {}

    fn poll_transmit(&mut self, _: Instant, _: &mut Vec<u8>) -> Option<Transmit> {
        None
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        None
    }
}

/// What one simultaneous open did.
#[derive(Debug)]
struct Punch {
    a_heard_b: bool,
    b_heard_a: bool,
    nat_a: NatStats,
    nat_b: NatStats,
}

/// Peers A and B behind NATs of kinds `a` and `b` (same private address), a rendezvous server
/// and a 20 ms link between every pair. At 0 both say hello to the rendezvous server; at 1 s
/// both start sending ten punches, 100 ms apart, to the address the server saw for the other.
fn simultaneous_open(seed: u64, a: NatKind, b: NatKind, learn: bool) -> Punch {
    let t0 = epoch();
    let mut sim = Simulator::new(seed, t0);
    let rendezvous_addr = addr(9);
    let rendezvous = sim
        .add_node(rendezvous_addr, Rendezvous::default())
        .expect("server");
    let nat_a = sim.add_nat(NatConfig::new(a, nat_ip(1))).expect("nat a");
    let nat_b = sim.add_nat(NatConfig::new(b, nat_ip(2))).expect("nat b");
    let peer_a = sim
        .add_node_behind(nat_a, private(), Peer::new(rendezvous_addr, learn))
        .expect("a");
    let peer_b = sim
        .add_node_behind(nat_b, private(), Peer::new(rendezvous_addr, learn))
        .expect("b");
    let short = LinkConfig {
        delay: Duration::from_millis(20),
        ..LinkConfig::default()
    };
    for (x, y) in [(peer_a, rendezvous), (peer_b, rendezvous), (peer_a, peer_b)] {
        sim.connect(x, y, short.clone(), short.clone())
            .expect("link");
    }
    sim.run_until(Duration::from_secs(1)).expect("sim");
    let seen = &sim.node::<Rendezvous>(rendezvous).expect("server").seen;
    assert_eq!(seen.len(), 2, "both hellos arrived");
    let (public_a, public_b) = (seen[0], seen[1]);
    assert_eq!((public_a.ip(), public_b.ip()), (nat_ip(1), nat_ip(2)));
    let now = sim.now();
    sim.node_mut::<Peer>(peer_a)
        .expect("a")
        .punch(now, public_b, 10);
    sim.node_mut::<Peer>(peer_b)
        .expect("b")
        .punch(now, public_a, 10);
    sim.run_until(Duration::from_secs(3)).expect("sim");
    Punch {
        a_heard_b: !sim.node::<Peer>(peer_a).expect("a").heard_from.is_empty(),
        b_heard_a: !sim.node::<Peer>(peer_b).expect("b").heard_from.is_empty(),
        nat_a: sim.nat_stats(nat_a).expect("stats"),
        nat_b: sim.nat_stats(nat_b).expect("stats"),
    }
}

/// Whether a punch from a peer behind `from` to the rendezvous-learned address of a peer
/// behind `to` gets in, when each side sends only there. The receiving mapping is the one
/// `to`'s peer made towards the rendezvous server; its filter admits the sender if:
/// - full-cone: always;
/// - address-restricted: `to`'s peer sent to the sender's NAT IP through that mapping (true
///   whenever `to` has endpoint-independent mapping, which every address-restricted NAT has);
/// - port-restricted: it sent to the sender's exact source, i.e. the sender's mapping does not
///   depend on the destination (the sender is not symmetric);
/// - symmetric: never, as the mapping admits the rendezvous server only (`to`'s punches
///   leave through new per-destination mappings).
fn strict_gets_through(from: NatKind, to: NatKind) -> bool {
    match to {
        NatKind::FullCone | NatKind::AddressRestricted => true,
        NatKind::PortRestricted => from != NatKind::Symmetric,
        NatKind::Symmetric => false,
    }
}

/// The textbook hole-punching matrix: punching works both ways unless one side is symmetric
/// and the other port-restricted or symmetric. With peer-reflexive learning, a one-way
/// success becomes two-way: the peer that got a punch answers its real source, which the
/// other side's (per-destination) mapping admits because it was made by sending to exactly
/// that peer.
fn punching_works(a: NatKind, b: NatKind) -> bool {
    let hard = |k| matches!(k, NatKind::PortRestricted | NatKind::Symmetric);
    !(a == NatKind::Symmetric && hard(b) || b == NatKind::Symmetric && hard(a))
}

fn matrix(learn: bool) -> Vec<(NatKind, NatKind, Punch)> {
    let mut results = Vec::new();
    for (i, a) in NatKind::ALL.into_iter().enumerate() {
        for (j, b) in NatKind::ALL.into_iter().enumerate() {
            let punch = simultaneous_open(60 + (i * 4 + j) as u64, a, b, learn);
            eprintln!(
                "learn={learn} {a:>18} <-> {b:<18}: A heard B {:5}, B heard A {:5}; filtered at A {}, at B {}",
                punch.a_heard_b,
                punch.b_heard_a,
                punch.nat_a.inbound_filtered,
                punch.nat_b.inbound_filtered
            );
            results.push((a, b, punch));
        }
    }
    results
}

/// (c) Simultaneous open for every pair of NAT types, each side sending only to the address
/// the rendezvous server saw: a direction gets through exactly as [`strict_gets_through`]
/// says, and a direction that fails was stopped by the receiving NAT's filter.
#[test]
fn simultaneous_open_to_rendezvous_addresses_follows_the_filtering_rules() {
    for (a, b, punch) in matrix(false) {
        assert_eq!(punch.b_heard_a, strict_gets_through(a, b), "{a} -> {b}");
        assert_eq!(punch.a_heard_b, strict_gets_through(b, a), "{b} -> {a}");
        if !punch.b_heard_a {
            assert!(
                punch.nat_b.inbound_filtered > 0,
                "{a} -> {b}: {:?}",
                punch.nat_b
            );
        }
        if !punch.a_heard_b {
            assert!(
                punch.nat_a.inbound_filtered > 0,
                "{b} -> {a}: {:?}",
                punch.nat_a
            );
        }
        for stats in [punch.nat_a, punch.nat_b] {
            assert_eq!(stats.inbound_no_mapping + stats.inbound_expired, 0);
        }
    }
}

/// (c) Hole punching with peer-reflexive learning: both directions work for every pair except
/// symmetric against port-restricted or symmetric, where neither does.
#[test]
fn hole_punching_matrix_matches_the_textbook() {
    for (a, b, punch) in matrix(true) {
        let works = punching_works(a, b);
        assert_eq!(
            (punch.a_heard_b, punch.b_heard_a),
            (works, works),
            "{a} <-> {b}"
        );
    }
}

/// Hairpinning: a node reaches another node behind the same NAT through the NAT's public
/// address only when the NAT hairpins; without it the datagram is dropped and counted. Nodes
/// behind a NAT cannot be reached at their private addresses from outside.
#[test]
fn hairpinning_is_optional_and_private_addresses_are_private() {
    for hairpinning in [false, true] {
        let t0 = epoch();
        let mut sim = Simulator::new(5, t0);
        let rendezvous_addr = addr(9);
        let rendezvous = sim
            .add_node(rendezvous_addr, Rendezvous::default())
            .expect("server");
        let config = NatConfig {
            hairpinning,
            ..NatConfig::new(NatKind::FullCone, nat_ip(1))
        };
        let nat = sim.add_nat(config).expect("nat");
        let second = SocketAddr::from(([192, 168, 1, 3], 4433));
        let a = sim
            .add_node_behind(nat, private(), Peer::new(rendezvous_addr, false))
            .expect("a");
        let b = sim
            .add_node_behind(nat, second, Peer::new(rendezvous_addr, false))
            .expect("b");
        let short = LinkConfig {
            delay: Duration::from_millis(5),
            ..LinkConfig::default()
        };
        for (x, y) in [(a, rendezvous), (b, rendezvous), (a, b)] {
            sim.connect(x, y, short.clone(), short.clone())
                .expect("link");
        }
        sim.run_until(Duration::from_secs(1)).expect("sim");
        let public_b = sim.public_address(b, rendezvous_addr).expect("b's mapping");
        let now = sim.now();
        sim.node_mut::<Peer>(a).expect("a").punch(now, public_b, 1);
        sim.run_until(Duration::from_secs(2)).expect("sim");
        let heard = sim.node::<Peer>(b).expect("b").heard_from.clone();
        let stats = sim.nat_stats(nat).expect("stats");
        if hairpinning {
            let public_a = sim.public_address(a, public_b).expect("a's mapping");
            assert_eq!(heard, vec![public_a], "the source is a's public mapping");
            assert_eq!(stats.hairpin_dropped, 0);
        } else {
            assert!(heard.is_empty());
            assert_eq!(stats.hairpin_dropped, 1);
            assert_eq!(sim.nat_dropped().packets, 1);
        }
        // On the same LAN the private address works, with no NAT involved.
        let now = sim.now();
        sim.node_mut::<Peer>(a).expect("a").punch(now, second, 1);
        sim.run_until(Duration::from_secs(3)).expect("sim");
        assert_eq!(
            sim.node::<Peer>(b).expect("b").heard_from.last(),
            Some(&private())
        );
        // From outside, a private address leads nowhere.
        let unroutable = sim.unroutable().packets;
        let outside = sim
            .add_node(addr(10), Peer::new(rendezvous_addr, false))
            .expect("outside");
        for x in [a, rendezvous] {
            sim.connect(outside, x, short.clone(), short.clone())
                .expect("link");
        }
        let now = sim.now();
        sim.node_mut::<Peer>(outside)
            .expect("outside")
            .punch(now, private(), 1);
        sim.run_until(Duration::from_secs(4)).expect("sim");
        assert!(sim.node::<Peer>(a).expect("a").heard_from.is_empty());
        assert_eq!(sim.unroutable().packets, unroutable + 1);
        assert_eq!(sim.packets_in_flight(), 0);
    }
}

/// The same seed gives the same NAT ports and the same trace.
#[test]
fn nat_runs_are_deterministic() {
    let run = |seed| {
        let (mut sim, nat, c, _) = setup(
            seed,
            NatConfig::new(NatKind::Symmetric, nat_ip(1)),
            TransportConfig::default(),
            vec![(Duration::ZERO, 100_000)],
        );
        sim.set_trace_capacity(0);
        sim.run_until(Duration::from_secs(2)).expect("sim");
        (
            sim.trace().digest(),
            sim.public_address(c, addr(2)),
            sim.nat_stats(nat),
        )
    };
    assert_eq!(run(3), run(3));
    assert_ne!(run(3).1, run(4).1);
}

/// Keep-alives more frequent than the binding timeout keep the mapping through the quiet
/// period: no rebinding, no migration.
#[test]
fn keep_alives_keep_the_binding() {
    const HALF: u64 = 500_000;
    let quiet = Duration::from_secs(8);
    let config = NatConfig {
        binding_timeout: Duration::from_secs(3),
        ..NatConfig::new(NatKind::Symmetric, nat_ip(1))
    };
    let transport = TransportConfig {
        keep_alive_interval: Some(Duration::from_secs(1)),
        ..TransportConfig::default()
    };
    let (mut sim, nat, c, s) = setup(
        50,
        config,
        transport,
        vec![(Duration::ZERO, HALF), (quiet, HALF)],
    );
    sim.run_until(quiet + Duration::from_secs(3)).expect("sim");
    check_whole(&sim, s, c, 2 * HALF);
    let stats = sim.nat_stats(nat).expect("stats");
    assert_eq!((stats.mappings_created, stats.mappings_expired), (1, 0));
    assert_eq!(receiver(&sim, s).remotes.len(), 1);
    assert_eq!(receiver(&sim, s).migrations, 0);
}

/// A datagram to a mapping that has timed out is dropped at the NAT and counted, and the trace
/// shows the mapping's creation and the drop.
#[test]
fn inbound_datagrams_to_an_expired_mapping_are_dropped() {
    use weir_core::sim::{NatDrop, TraceKind};
    let t0 = epoch();
    let mut sim = Simulator::new(11, t0);
    sim.set_trace_capacity(1000);
    let outside_addr = addr(9);
    let config = NatConfig {
        binding_timeout: Duration::from_secs(2),
        ..NatConfig::new(NatKind::FullCone, nat_ip(1))
    };
    let nat = sim.add_nat(config).expect("nat");
    // The inside peer says hello to the outside one, which punches back at 1 s and 3 s.
    let inside = sim
        .add_node_behind(nat, private(), Peer::new(outside_addr, false))
        .expect("inside");
    let outside = sim
        .add_node(outside_addr, Peer::new(addr(10), false))
        .expect("outside");
    let short = LinkConfig {
        delay: Duration::from_millis(10),
        ..LinkConfig::default()
    };
    sim.connect(inside, outside, short.clone(), short)
        .expect("link");
    sim.run_until(Duration::from_secs(1)).expect("sim");
    let public = sim.public_address(inside, outside_addr).expect("mapping");
    let now = sim.now();
    sim.node_mut::<Peer>(outside)
        .expect("outside")
        .punch(now, public, 1);
    sim.run_until(Duration::from_secs(3)).expect("sim");
    assert_eq!(
        sim.node::<Peer>(inside).expect("inside").heard_from.len(),
        1
    );
    assert_eq!(sim.public_address(inside, outside_addr), None, "expired");
    let now = sim.now();
    sim.node_mut::<Peer>(outside)
        .expect("outside")
        .punch(now, public, 1);
    sim.run_until(Duration::from_secs(4)).expect("sim");
    assert_eq!(
        sim.node::<Peer>(inside).expect("inside").heard_from.len(),
        1
    );
    let stats = sim.nat_stats(nat).expect("stats");
    assert_eq!((stats.mappings_expired, stats.inbound_expired), (1, 1));
    assert_eq!(sim.nat_dropped().packets, 1);
    let kinds: Vec<TraceKind> = sim
        .trace()
        .events()
        .iter()
        .map(|e| e.kind)
        .filter(|k| {
            matches!(
                k,
                TraceKind::NatMapped { .. } | TraceKind::NatDropped { .. }
            )
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            TraceKind::NatMapped {
                nat,
                private: private(),
                public
            },
            TraceKind::NatDropped {
                nat,
                cause: NatDrop::Expired
            }
        ]
    );
}

/// Misuse of the NAT API is reported, not panicked on.
#[test]
fn nat_topology_errors_are_typed() {
    use weir_core::sim::SimError;
    let mut sim = Simulator::new(1, epoch());
    sim.add_node(addr(1), Rendezvous::default()).expect("node");
    assert_eq!(
        sim.add_nat(NatConfig::new(NatKind::FullCone, addr(1).ip()))
            .err(),
        Some(SimError::NatAddressTaken(addr(1).ip()))
    );
    let nat = sim
        .add_nat(NatConfig::new(NatKind::FullCone, nat_ip(1)))
        .expect("nat");
    assert_eq!(
        sim.add_nat(NatConfig::new(NatKind::Symmetric, nat_ip(1)))
            .err(),
        Some(SimError::NatAddressTaken(nat_ip(1)))
    );
    let on_nat_ip = SocketAddr::new(nat_ip(1), 80);
    assert_eq!(
        sim.add_node(on_nat_ip, Rendezvous::default()).err(),
        Some(SimError::NatAddressTaken(nat_ip(1)))
    );
    let inside = sim
        .add_node_behind(nat, private(), Rendezvous::default())
        .expect("inside");
    assert_eq!(sim.nat_of(inside), Some(nat));
    assert_eq!(
        sim.add_node_behind(nat, private(), Rendezvous::default())
            .err(),
        Some(SimError::DuplicateAddress(private()))
    );
    let bad = NatConfig {
        max_mappings: 0,
        ..NatConfig::new(NatKind::FullCone, nat_ip(2))
    };
    assert!(matches!(sim.add_nat(bad), Err(SimError::InvalidNat(_))));
    // A node behind a NAT rebinds within its private network; the same private address may
    // be used again behind another NAT.
    let second = SocketAddr::from(([192, 168, 1, 3], 4433));
    sim.rebind(inside, second).expect("rebind");
    assert_eq!(sim.address(inside), Some(second));
    let nat2 = sim
        .add_nat(NatConfig::new(NatKind::FullCone, nat_ip(3)))
        .expect("nat");
    sim.add_node_behind(nat2, second, Rendezvous::default())
        .expect("same private address behind another NAT");
    sim.add_node_behind(nat, private(), Rendezvous::default())
        .expect("the old private address is free again");
}

/// A weir peer and its rendezvous client on one socket (one address behind its NAT), as a
/// driver runs them: rendezvous messages go to the client (a relayed datagram comes out of it
/// as the peer's), everything else to the endpoint; once the path to the other peer is known
/// (punched or relayed) the connecting side connects weir to it, and while relaying, weir's
/// datagrams to the peer are wrapped for the service.
struct PunchingPeer<A: App> {
    inner: EndpointNode<A>,
    rendezvous: RendezvousClient,
    connects: bool,
    connected_to: Option<SocketAddr>,
    /// The rendezvous client's events, when they came.
    events: Vec<(Instant, ClientEvent)>,
    scratch: Vec<u8>,
}

impl<A: App> PunchingPeer<A> {
    fn new(inner: EndpointNode<A>, rendezvous: RendezvousClient, connects: bool) -> Self {
        Self {
            inner,
            rendezvous,
            connects,
            connected_to: None,
            events: Vec::new(),
            scratch: Vec::new(),
        }
    }

    fn after_input(&mut self, now: Instant) {
        while let Some(event) = self.rendezvous.poll_event() {
            self.events.push((now, event));
            if let ClientEvent::Punched { peer } | ClientEvent::Relaying { peer } = event
                && self.connects
                && self.connected_to.is_none()
            {
                self.inner.endpoint.connect(now, peer).expect("connect");
                self.connected_to = Some(peer);
            }
        }
    }
}

impl<A: App> Node for PunchingPeer<A> {
    fn handle_datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        ecn: Option<EcnCodepoint>,
        datagram: BytesMut,
    ) {
        if !is_rendezvous(&datagram) {
            self.inner.handle_datagram(now, from, ecn, datagram);
            return;
        }
        if let Handled::Relayed { from, datagram } = self.rendezvous.handle(now, from, &datagram) {
            let datagram = BytesMut::from(datagram);
            self.inner.handle_datagram(now, from, None, datagram);
        }
        self.after_input(now);
    }

    fn handle_timeout(&mut self, now: Instant) {
        if self.rendezvous.poll_timeout().is_some_and(|t| t <= now) {
            self.rendezvous.handle_timeout(now);
            self.after_input(now);
        }
        if self.inner.poll_timeout().is_some_and(|t| t <= now) {
            self.inner.handle_timeout(now);
        }
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        if let Some((destination, bytes)) = self.rendezvous.poll_transmit() {
            buf.extend_from_slice(&bytes);
            return Some(Transmit {
                destination,
                ecn: None,
                size: bytes.len(),
                segment_size: None,
            });
        }
        let transmit = self.inner.poll_transmit(now, buf)?;
        let relayed = self.rendezvous.peer().filter(|&(_, relayed)| relayed);
        match relayed {
            Some((peer, _)) if transmit.destination == peer => {
                self.scratch.clear();
                let server = self.rendezvous.wrap_relay(buf, &mut self.scratch)?;
                buf.clear();
                buf.extend_from_slice(&self.scratch);
                Some(Transmit {
                    destination: server,
                    ecn: None,
                    size: buf.len(),
                    segment_size: None,
                })
            }
            _ => Some(transmit),
        }
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        [self.inner.poll_timeout(), self.rendezvous.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
    }
}

/// The rendezvous service as a simulator node.
struct RendezvousNode(RendezvousServer);

impl Node for RendezvousNode {
    fn handle_datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        _: Option<EcnCodepoint>,
        datagram: BytesMut,
    ) {
        self.0.handle(now, from, &datagram);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.0.handle_timeout(now);
    }

    fn poll_transmit(&mut self, _: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        let (destination, bytes) = self.0.poll_transmit()?;
        buf.extend_from_slice(&bytes);
        Some(Transmit {
            destination,
            ecn: None,
            size: bytes.len(),
            segment_size: None,
        })
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        self.0.poll_timeout()
    }
}

/// What one hole-punching run did.
#[derive(Debug)]
struct PunchRun {
    punched: bool,
    relayed: bool,
    /// From the start to the connecting peer's handshake.
    connected_after: Option<Duration>,
    received: u64,
    corrupt: u64,
    relayed_bytes: u64,
}

const PUNCH_BYTES: u64 = 100_000;

/// Two weir peers behind NATs of kinds `a` (it connects and sends) and `b` (it accepts and
/// checks), the rendezvous service public at `addr(9)`; 20 ms links between every pair.
fn punch_and_transfer(seed: u64, a: NatKind, b: NatKind) -> PunchRun {
    let t0 = epoch();
    let mut sim = Simulator::new(seed, t0);
    let service_addr = addr(9);
    let service = RendezvousServer::new(weir_core::rendezvous::ServerConfig {
        // A whole test transfer through the relay, quickly.
        relay_rate: 1_000_000,
        relay_burst: 200_000,
        ..weir_core::rendezvous::ServerConfig::default()
    })
    .expect("service");
    let service = sim
        .add_node(service_addr, RendezvousNode(service))
        .expect("service node");
    let identity = Identity::self_signed(["localhost"]).expect("identity");
    let transport = TransportConfig::default();
    let mut a_ep = Endpoint::new(
        t0,
        EndpointConfig::tls_fixed(
            seed + 1,
            TlsConfig::client(ClientTls::pinned(vec![identity.fingerprint()]).expect("pins")),
        ),
        None,
    )
    .expect("a");
    a_ep.set_client_config(transport.clone()).expect("config");
    let b_ep = Endpoint::new(
        t0,
        EndpointConfig::tls_fixed(seed + 2, TlsConfig::server(&identity).expect("tls")),
        Some(ServerConfig::new(
            transport,
            weir_tests::retry_policy(false),
        )),
    )
    .expect("b");
    let session = SessionId([seed as u8; 16]);
    let client =
        |nonce| RendezvousClient::new(t0, service_addr, session, nonce, ClientConfig::default());
    let nat_a = sim.add_nat(NatConfig::new(a, nat_ip(1))).expect("nat a");
    let nat_b = sim.add_nat(NatConfig::new(b, nat_ip(2))).expect("nat b");
    let peer_a = sim
        .add_node_behind(
            nat_a,
            private(),
            PunchingPeer::new(
                EndpointNode::new(a_ep, PhasedSender::new(vec![(Duration::ZERO, PUNCH_BYTES)])),
                client(seed * 2 + 1),
                true,
            ),
        )
        .expect("a");
    let peer_b = sim
        .add_node_behind(
            nat_b,
            private(),
            PunchingPeer::new(
                EndpointNode::new(b_ep, CheckingReceiver::default()),
                client(seed * 2 + 2),
                false,
            ),
        )
        .expect("b");
    let short = LinkConfig {
        delay: Duration::from_millis(20),
        ..LinkConfig::default()
    };
    for (x, y) in [(peer_a, service), (peer_b, service), (peer_a, peer_b)] {
        sim.connect(x, y, short.clone(), short.clone())
            .expect("link");
    }
    sim.run_until(Duration::from_secs(15)).expect("sim");
    let a_node = sim.node::<PunchingPeer<PhasedSender>>(peer_a).expect("a");
    let b_node = sim
        .node::<PunchingPeer<CheckingReceiver>>(peer_b)
        .expect("b");
    let happened = |events: &[(Instant, ClientEvent)], punched: bool| {
        events.iter().any(|(_, e)| match e {
            ClientEvent::Punched { .. } => punched,
            ClientEvent::Relaying { .. } => !punched,
            _ => false,
        })
    };
    PunchRun {
        punched: happened(&a_node.events, true) && happened(&b_node.events, true),
        relayed: happened(&a_node.events, false) || happened(&b_node.events, false),
        connected_after: a_node.inner.app.connected_at.map(|t| t - t0),
        received: b_node.inner.app.received,
        corrupt: b_node.inner.app.corrupt,
        relayed_bytes: sim
            .node::<RendezvousNode>(service)
            .expect("service")
            .0
            .stats()
            .relayed_bytes,
    }
}

/// Hole punching with the rendezvous service, for every pair of NAT types: the peers punch
/// through wherever the NATs allow it (all pairs but symmetric with port-restricted or
/// symmetric) and connect weir directly; elsewhere they fall back to the service's relay and
/// weir runs through it. Every byte arrives either way.
#[test]
fn hole_punching_connects_every_nat_pair_directly_or_through_the_relay() {
    let mut rows = Vec::new();
    for (i, &a) in NatKind::ALL.iter().enumerate() {
        for (j, &b) in NatKind::ALL.iter().enumerate() {
            let run = punch_and_transfer(40 + (i * 4 + j) as u64, a, b);
            let direct = punching_works(a, b);
            assert_eq!(run.punched, direct, "{a} → {b}: {run:?}");
            assert_eq!(run.relayed, !direct, "{a} → {b}: {run:?}");
            assert_eq!(
                (run.received, run.corrupt),
                (PUNCH_BYTES, 0),
                "{a} → {b}: {run:?}"
            );
            if direct {
                assert_eq!(run.relayed_bytes, 0, "{a} → {b}: {run:?}");
            } else {
                assert!(run.relayed_bytes >= PUNCH_BYTES, "{a} → {b}: {run:?}");
            }
            let connected = run.connected_after.expect("connected");
            rows.push(format!(
                "{a:>20} → {b:<20} {:>8} connected after {connected:?}",
                if direct { "punched" } else { "relayed" }
            ));
        }
    }
    eprintln!("{}", rows.join("\n"));
}
