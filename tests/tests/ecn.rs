//! Explicit Congestion Notification end to end in the simulator (RFC 9000 §13.4, RFC 9002
//! §7.1): links carry the codepoint, a step-marking bottleneck marks CE instead of letting its
//! queue grow, and the sender's controller reacts to the marks before anything is lost; a path
//! that clears the bits, or a peer that does not report them, fails validation and the
//! connection carries on without ECN.

use std::net::SocketAddr;
use std::time::Duration;

use weir_core::config::{EndpointConfig, ServerConfig, TransportConfig};
use weir_core::congestion::{ControllerConfig, ControllerKind};
use weir_core::connection::{ConnectionStats, EcnFailure, EcnState};
use weir_core::endpoint::Endpoint;
use weir_core::sim::flows::{BulkAmount, BulkReceiver, BulkSender};
use weir_core::sim::{Bitrate, EndpointNode, LinkConfig, LinkEcn, LinkStats, Simulator};
use weir_tests::epoch;

const MS: Duration = Duration::from_millis(1);
/// 20 Mbit/s, 40 ms round trip: a BDP of 100 kB.
const RATE_BPS: u64 = 20_000_000;
const ONE_WAY: Duration = Duration::from_millis(20);
/// Four BDPs of drop-tail buffer: a loss-based controller alone keeps it full (bufferbloat).
const QUEUE_BYTES: usize = 400_000;
/// The step marker's threshold.
const MARK_ABOVE: Duration = Duration::from_millis(5);

struct Outcome {
    /// The sender's statistics at the end.
    sender: ConnectionStats,
    /// The receiver's statistics at the end.
    receiver: ConnectionStats,
    /// The bottleneck's.
    link: LinkStats,
    /// Bytes read by the receiver.
    received: u64,
    /// Whether the transfer completed (the whole stream acknowledged).
    completed: bool,
}

fn transport(kind: ControllerKind, ecn: bool) -> TransportConfig {
    TransportConfig {
        congestion: ControllerConfig::new(kind),
        ecn,
        ..TransportConfig::default()
    }
}

/// A CUBIC bulk transfer of `bytes` over the bottleneck with `marking`, the sender's and the
/// receiver's ECN switched by `sender_ecn` and `receiver_ecn`.
fn run(marking: LinkEcn, sender_ecn: bool, receiver_ecn: bool, bytes: u64) -> Outcome {
    let epoch = epoch();
    let mut sim = Simulator::new(5, epoch);
    let forward = sim
        .add_link(LinkConfig {
            ecn: marking,
            ..LinkConfig::bottleneck(Bitrate::from_bps(RATE_BPS), ONE_WAY, QUEUE_BYTES)
        })
        .expect("forward link");
    let reverse = sim
        .add_link(LinkConfig {
            delay: ONE_WAY,
            ..LinkConfig::default()
        })
        .expect("reverse link");
    let client_addr = SocketAddr::from(([10, 0, 0, 1], 4433));
    let server_addr = SocketAddr::from(([10, 0, 0, 2], 4433));
    let server = Endpoint::new(
        epoch,
        EndpointConfig::insecure_fixed(1),
        Some(ServerConfig {
            transport: transport(ControllerKind::Cubic, receiver_ecn),
            ..ServerConfig::default()
        }),
    )
    .expect("server");
    let mut client = Endpoint::new(epoch, EndpointConfig::insecure_fixed(2), None).expect("client");
    client
        .set_client_config(transport(ControllerKind::Cubic, sender_ecn))
        .expect("client config");
    client.connect(epoch, server_addr).expect("connect");
    let c = sim
        .add_node(
            client_addr,
            EndpointNode::new(client, BulkSender::new(BulkAmount::Bytes(bytes), 0, true)),
        )
        .expect("client node");
    let s = sim
        .add_node(
            server_addr,
            EndpointNode::new(server, BulkReceiver::default()),
        )
        .expect("server node");
    sim.route(c, s, &[forward]).expect("route");
    sim.route(s, c, &[reverse]).expect("route");
    // Bounded: the transfers below take a few seconds of virtual time.
    for _ in 0..600 {
        let done = sim
            .node::<EndpointNode<BulkSender>>(c)
            .is_some_and(|n| n.app.completed_at.is_some() || n.app.closed.is_some());
        if done {
            break;
        }
        sim.run_until(sim.elapsed() + 50 * MS).expect("simulation");
    }
    let sender_node = sim.node::<EndpointNode<BulkSender>>(c).expect("client");
    let sender = sender_node.app.stats.clone().expect("sender stats");
    let completed = sender_node.app.completed_at.is_some();
    let receiver_node = sim.node::<EndpointNode<BulkReceiver>>(s).expect("server");
    let received = receiver_node.app.received;
    let receiver = receiver_node
        .endpoint
        .connection_handles()
        .next()
        .and_then(|h| receiver_node.endpoint.connection_ref(h))
        .map(|conn| conn.stats())
        .unwrap_or_else(|| ConnectionStats::zeroed(sender.strategy));
    Outcome {
        sender,
        receiver,
        link: sim.link_stats(forward).cloned().expect("link stats"),
        received,
        completed,
    }
}

const BYTES: u64 = 12_000_000;

#[test]
fn step_marking_keeps_the_queue_at_its_threshold_without_loss() {
    let marked = run(LinkEcn::MarkAbove(MARK_ABOVE), true, true, BYTES);
    assert!(marked.completed, "the transfer completes");
    assert_eq!(marked.received, BYTES);
    let ecn = marked.sender.ecn;
    assert_eq!(ecn.state, EcnState::Capable, "validated: {ecn:?}");
    assert!(marked.link.ce_marked > 0, "the bottleneck marked");
    assert!(
        ecn.ce_reported > 0,
        "the receiver reported the marks: {ecn:?}"
    );
    assert!(ecn.ce_congestion_events > 0, "CE reached the controller");
    assert!(ecn.packets_sent_ect0 > 1000);
    // The receiver counted what arrived marked, and reported it all.
    assert_eq!(marked.receiver.ecn.received.ce, marked.link.ce_marked);
    // The window came down on the marks, never on a loss: the queue stayed near the threshold
    // and nothing overflowed it.
    let queue_full = marked
        .link
        .dropped
        .get(weir_core::sim::DropCause::QueueFull);
    assert_eq!(queue_full.packets, 0, "no drop-tail loss");
    assert_eq!(marked.sender.packets_lost, 0, "no loss at all");
    let p95 = marked.link.queue_delay_quantile(0.95);
    assert!(p95 < 4 * MARK_ABOVE, "95th percentile queue delay {p95:?}");

    // The same transfer without marking fills the four-BDP buffer and overflows it.
    let plain = run(LinkEcn::Pass, true, true, BYTES);
    assert!(plain.completed);
    assert_eq!(plain.sender.ecn.state, EcnState::Capable);
    assert_eq!(plain.sender.ecn.ce_reported, 0);
    assert!(
        plain.sender.packets_lost > 0,
        "drop-tail losses without ECN"
    );
    let plain_p95 = plain.link.queue_delay_quantile(0.95);
    assert!(
        plain_p95 > 5 * p95,
        "queue delay with marking {p95:?}, without {plain_p95:?}"
    );
}

#[test]
fn a_path_that_clears_the_bits_fails_validation_and_the_connection_carries_on() {
    let bleached = run(LinkEcn::Bleach, true, true, 2_000_000);
    assert!(bleached.completed);
    assert_eq!(bleached.received, 2_000_000);
    let ecn = bleached.sender.ecn;
    // Nothing arrives marked, so the receiver's ACK frames carry no counts at all: the first
    // acknowledgement of a marked packet fails validation.
    assert_eq!(
        ecn.state,
        EcnState::Failed(EcnFailure::NotReported),
        "{ecn:?}"
    );
    assert_eq!(ecn.validation_failures, 1);
    // Marking stopped with the testing period: a handful of marked packets, not the transfer.
    assert!(ecn.packets_sent_ect0 <= 10, "{ecn:?}");
    assert_eq!(bleached.receiver.ecn.received.ect0, 0);
}

#[test]
fn a_peer_without_ecn_fails_validation_and_the_connection_carries_on() {
    let outcome = run(LinkEcn::MarkAbove(MARK_ABOVE), true, false, 2_000_000);
    assert!(outcome.completed);
    assert_eq!(outcome.received, 2_000_000);
    let ecn = outcome.sender.ecn;
    assert_eq!(
        ecn.state,
        EcnState::Failed(EcnFailure::NotReported),
        "{ecn:?}"
    );
    assert!(ecn.packets_sent_ect0 <= 10, "{ecn:?}");
    assert_eq!(outcome.receiver.ecn.state, EcnState::Off);
    assert_eq!(outcome.receiver.ecn.received, Default::default());
    // Without marks the queue is the drop-tail's again.
    assert!(outcome.link.ce_marked <= 10);
}

#[test]
fn ecn_off_marks_nothing() {
    let outcome = run(LinkEcn::MarkAbove(MARK_ABOVE), false, true, 1_000_000);
    assert!(outcome.completed);
    assert_eq!(outcome.sender.ecn.state, EcnState::Off);
    assert_eq!(outcome.sender.ecn.packets_sent_ect0, 0);
    assert_eq!(outcome.link.ce_marked, 0);
    // The receiver saw nothing marked, so it never switched to ACK frames with counts.
    assert_eq!(outcome.receiver.ecn.received, Default::default());
}
