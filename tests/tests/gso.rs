//! GSO batches from the core in the simulator: an endpoint that hands out batches sends the
//! same datagrams at the same instants as one that hands them out one by one (each datagram
//! of a batch passed the pacer and the window as it would alone), and the simulator splits
//! every batch into its datagrams.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::BytesMut;

use weir_core::config::{EndpointConfig, ServerConfig, TransportConfig};
use weir_core::endpoint::Endpoint;
use weir_core::sim::flows::{BulkAmount, BulkReceiver, BulkSender};
use weir_core::sim::{Bitrate, EndpointNode, LinkConfig, Node, Simulator, TraceKind};
use weir_core::{EcnCodepoint, Transmit};
use weir_tests::epoch;

const MS: Duration = Duration::from_millis(1);

/// The sender's node, counting the datagrams of the largest batch it handed the simulator.
struct Counting {
    node: EndpointNode<BulkSender>,
    largest_batch: usize,
}

impl Node for Counting {
    fn handle_datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        ecn: Option<EcnCodepoint>,
        datagram: BytesMut,
    ) {
        self.node.handle_datagram(now, from, ecn, datagram);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.node.handle_timeout(now);
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        let transmit = self.node.poll_transmit(now, buf)?;
        self.largest_batch = self.largest_batch.max(transmit.datagram_count());
        Some(transmit)
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        self.node.poll_timeout()
    }
}

/// A 4 MB transfer over a 50 Mbit/s, 20 ms bottleneck, the sender asking for batches of
/// `max_datagrams`. Returns when each datagram was sent and its size (the first 100 000 of
/// them), the digest of the whole trace (every datagram's every step through the network),
/// when the transfer completed, and the largest batch the sender handed out.
fn run(max_datagrams: usize) -> (Vec<(Duration, usize)>, u64, Option<Duration>, usize) {
    let epoch = epoch();
    let mut sim = Simulator::new(9, epoch);
    sim.set_trace_capacity(100_000);
    let forward = sim
        .add_link(LinkConfig::bottleneck(
            Bitrate::from_mbps(50),
            10 * MS,
            250_000,
        ))
        .expect("link");
    let reverse = sim
        .add_link(LinkConfig {
            delay: 10 * MS,
            ..LinkConfig::default()
        })
        .expect("link");
    let client_addr = SocketAddr::from(([10, 0, 0, 1], 4433));
    let server_addr = SocketAddr::from(([10, 0, 0, 2], 4433));
    let server = Endpoint::new(
        epoch,
        EndpointConfig::insecure_fixed(1),
        Some(ServerConfig {
            transport: TransportConfig::default(),
            ..ServerConfig::default()
        }),
    )
    .expect("server");
    let mut client = Endpoint::new(epoch, EndpointConfig::insecure_fixed(2), None).expect("client");
    client.connect(epoch, server_addr).expect("connect");
    let mut sender = EndpointNode::new(
        client,
        BulkSender::new(BulkAmount::Bytes(4_000_000), 0, true),
    );
    sender.max_datagrams = max_datagrams;
    let c = sim
        .add_node(
            client_addr,
            Counting {
                node: sender,
                largest_batch: 0,
            },
        )
        .expect("node");
    let s = sim
        .add_node(
            server_addr,
            EndpointNode::new(server, BulkReceiver::default()),
        )
        .expect("node");
    sim.route(c, s, &[forward]).expect("route");
    sim.route(s, c, &[reverse]).expect("route");
    sim.run_until(Duration::from_secs(10)).expect("simulation");
    let sent = sim
        .trace()
        .events()
        .iter()
        .filter(|e| matches!(e.kind, TraceKind::Sent { from, .. } if from == client_addr))
        .map(|e| (e.at, e.size))
        .collect();
    let counting = sim.node::<Counting>(c).expect("sender");
    assert!(counting.largest_batch <= max_datagrams);
    let completed = counting
        .node
        .app
        .completed_at
        .map(|at| at.saturating_duration_since(epoch));
    let largest_batch = counting.largest_batch;
    (sent, sim.trace().digest(), completed, largest_batch)
}

#[test]
fn batches_send_what_single_datagrams_send_when_they_would() {
    let (single, single_digest, single_done, _) = run(1);
    let (batched, batched_digest, batched_done, largest_batch) = run(32);
    assert!(
        largest_batch > 8,
        "the sender handed out batches ({largest_batch})"
    );
    assert!(single_done.is_some(), "the transfer completes");
    assert!(single.len() > 2500, "{} datagrams", single.len());
    assert_eq!(single_done, batched_done);
    assert_eq!(single, batched);
    assert_eq!(single_digest, batched_digest, "identical traces");
}
