//! quinn-proto over weir's simulator: handshake, transfers, limits, reproducibility.

use std::time::{Duration, Instant};

use weir_core::sim::flows::BulkAmount;
use weir_core::sim::{Bitrate, Scenario, Simulator, TraceKind};
use weir_peers::{
    BulkRun, PeerError, QuinnBulkReceiver, QuinnBulkSender, QuinnConfig, QuinnEndpointNode,
    SelfSigned, quinn_bulk, scenarios,
};

const RATE: Bitrate = Bitrate::from_mbps(10);

/// A clean 10 Mbit/s path with a 20 ms round trip and a one-BDP buffer.
fn clean() -> Scenario {
    scenarios::bottleneck(RATE, Duration::from_millis(20), 0.0, 1.0)
}

fn lossy() -> Scenario {
    Scenario::preset("lossy").expect("the lossy preset exists")
}

#[test]
fn handshake_and_one_megabyte_over_a_clean_path() -> Result<(), PeerError> {
    let report = BulkRun::sized(1, 1_000_000).quinn(&clean())?;
    let connected = report.connected_at.expect("the handshake completes");
    // One round trip plus serialisation: the client's Initial, the server's whole flight.
    assert!(connected < Duration::from_millis(40), "{connected:?}");
    assert_eq!(report.received_bytes, 1_000_000);
    assert_eq!(report.window_bytes, 1_000_000);
    assert!(
        report.finished_at.is_some(),
        "the end of the stream is read"
    );
    assert!(
        report.completed_at.is_some(),
        "the sender sees it all acknowledged"
    );
    assert_eq!(report.sender_error, None);
    // 1 MB at 10 Mbit/s takes 0.8 s at best; slow start and one overshoot cost a little more.
    let took = report.completed_at.expect("completed") - connected;
    assert!(took < Duration::from_secs(2), "{took:?}");
    assert!(
        report.goodput_bps > 0.5 * RATE.bps() as f64,
        "{}",
        report.goodput_bps
    );
    Ok(())
}

#[test]
fn makes_progress_over_the_lossy_preset() -> Result<(), PeerError> {
    let report = quinn_bulk(&lossy(), 3, Duration::from_secs(5))?;
    assert!(report.connected_at.is_some());
    assert_eq!(report.sender_error, None);
    assert!(
        report.forward_link.dropped.total().packets > 0,
        "the link did drop"
    );
    // 1 % loss at 50 ms RTT caps a loss-based controller near 2 Mbit/s (Mathis et al.); it
    // must still move data at a useful rate, and recover the losses to deliver it in order.
    assert!(report.goodput_bps > 500_000.0, "{}", report.goodput_bps);
    assert!(report.received_bytes > report.window_bytes);
    Ok(())
}

#[test]
fn goodput_never_exceeds_the_link_capacity() -> Result<(), PeerError> {
    for scenario in [clean(), lossy()] {
        let report = quinn_bulk(&scenario, 1, Duration::from_secs(3))?;
        let capacity = scenario.forward.rate.expect("a bottleneck").bps() as f64;
        assert!(report.goodput_bps > 0.0, "{}", scenario.name);
        assert!(
            report.goodput_bps <= capacity,
            "{}: {} > {capacity}",
            scenario.name,
            report.goodput_bps
        );
        // The link itself cannot have carried more than its rate since the start either.
        let carried = report.forward_link.delivered.bytes as f64 * 8.0;
        assert!(carried <= capacity * report.elapsed.as_secs_f64() + 1200.0 * 8.0);
        assert!(report.link_share(&scenario).is_some_and(|s| s <= 1.0));
    }
    Ok(())
}

#[test]
fn same_seed_same_run() -> Result<(), PeerError> {
    let duration = Duration::from_secs(2);
    let a = quinn_bulk(&lossy(), 7, duration)?;
    let b = quinn_bulk(&lossy(), 7, duration)?;
    let c = quinn_bulk(&lossy(), 8, duration)?;
    assert_eq!(a.received_bytes, b.received_bytes);
    assert_eq!(a.window_bytes, b.window_bytes);
    // rustls' randomness changes the bytes on the wire, not their sizes or times.
    assert_eq!(a.trace_digest, b.trace_digest);
    assert_eq!(a.trace_events, b.trace_events);
    assert_ne!(a.trace_digest, c.trace_digest, "the seed matters");
    Ok(())
}

#[test]
fn without_mtu_discovery_every_datagram_is_at_most_1200_bytes() -> Result<(), PeerError> {
    let config = QuinnConfig {
        mtu_upper_bound: None,
        ..QuinnConfig::default()
    };
    let identity = SelfSigned::generate(&config.server_name)?;
    let epoch = Instant::now();
    let client_addr = "10.0.0.1:1".parse().expect("literal address");
    let server_addr = "10.0.0.2:1".parse().expect("literal address");
    let sender = QuinnBulkSender::new(BulkAmount::Bytes(200_000));
    let client = QuinnEndpointNode::client(&config, &identity, 2, epoch, server_addr, sender)?;
    let server = QuinnEndpointNode::server(&config, &identity, 1, QuinnBulkReceiver::default())?;
    let mut sim = Simulator::new(1, epoch);
    sim.set_trace_capacity(100_000);
    let c = sim.add_node(client_addr, client)?;
    let s = sim.add_node(server_addr, server)?;
    clean().install(&mut sim, c, s)?;
    sim.run_for(Duration::from_secs(2))?;
    let rx = &sim
        .node::<QuinnEndpointNode<QuinnBulkReceiver>>(s)
        .expect("receiver")
        .app;
    assert_eq!(rx.received, 200_000);
    assert!(!sim.trace().truncated());
    let sizes: Vec<usize> = sim
        .trace()
        .events()
        .iter()
        .filter(|e| matches!(e.kind, TraceKind::Sent { .. }))
        .map(|e| e.size)
        .collect();
    assert!(sizes.iter().all(|&n| n <= 1200), "{:?}", sizes.iter().max());
    // Full-sized data packets are exactly 1200 bytes: no path-MTU probing beyond it.
    assert!(sizes.iter().filter(|&&n| n == 1200).count() > 150);
    // The connection closed after completion and both ends drained it.
    let client = sim
        .node::<QuinnEndpointNode<QuinnBulkSender>>(c)
        .expect("sender");
    assert!(client.app.completed_at.is_some());
    assert_eq!(
        client.connections().count(),
        0,
        "the client drained its connection"
    );
    Ok(())
}

/// Why the simulator's quinn baseline collapsed on clean, fast, deep-buffer paths with
/// 1200-byte datagrams (1–10 % of the link at 100 Mbit/s × 100 ms in `weir sim --matrix
/// --peer-quinn`): quinn-proto 0.11 closes the connection itself (INTERNAL_ERROR, "too many gaps
/// in stream buffer") once one stream's receive buffer holds more than 1024 out-of-order chunks,
/// as its slow-start overshoot into the simulator's smooth tail-drop bottleneck leaves it (every
/// other packet dropped). Over real sockets the same 1200-byte quinn survived the overshoot
/// (93.7 Mbit/s through `weir proxy`), so the simulator's loss pattern at the overshoot still
/// differs from the kernel's in a way not found; with quinn's path MTU discovery on (its
/// default, and the baseline's since weir has its own) the overshoot leaves fewer, larger
/// chunks and the cell measures quinn (the next test). This pins the 1200-byte cause: a
/// quinn-proto that lifts the limit fails here.
#[test]
fn without_mtu_discovery_quinn_closes_itself_on_too_many_stream_gaps() -> Result<(), PeerError> {
    let mut run = BulkRun::timed(1, Duration::from_secs(5));
    run.quinn.mtu_upper_bound = None;
    let report = run.quinn(&clean_deep_buffer())?;
    let error = report
        .sender_error
        .expect("quinn's connection closes early");
    assert!(error.contains("too many gaps in stream buffer"), "{error}");
    Ok(())
}

/// The baseline as it now runs: quinn with path MTU discovery on (its default) fills the clean
/// deep-buffer cell, as quinn over real sockets through `weir proxy` did (94.19 Mbit/s).
#[test]
fn with_its_defaults_quinn_fills_a_clean_deep_buffer_path() -> Result<(), PeerError> {
    let report = quinn_bulk(&clean_deep_buffer(), 1, Duration::from_secs(20))?;
    assert_eq!(report.sender_error, None);
    let mbps = report.goodput_bps / 1e6;
    // The same quinn over real sockets through `weir proxy --rate 100mbit --rtt 100ms --buffer
    // 1bdp` for 20 s (`runtime-tokio/examples/quinn_bulk.rs`, 2026-12-07): 94.19 Mbit/s. The
    // simulator gives 94.6; within 3 % of the real figure.
    assert!(
        (94.19 * 0.97..=94.19 * 1.03).contains(&mbps),
        "{mbps} Mbit/s"
    );
    Ok(())
}

/// 100 Mbit/s, 100 ms, no loss, a one-BDP tail-drop buffer.
fn clean_deep_buffer() -> Scenario {
    scenarios::bottleneck(
        Bitrate::from_mbps(100),
        Duration::from_millis(100),
        0.0,
        1.0,
    )
}

/// weir's controllers inside quinn (weir-quinn-cc): quinn's connection with weir's BBR keeps a
/// 10 Mbit/s, 50 ms path with 1 % random loss nearly full, where quinn's CUBIC falls to a
/// third of it; weir's CUBIC and Vegas inside quinn connect and move data as quinn's own do.
#[test]
fn quinn_with_weir_bbr_keeps_a_lossy_path_full() -> Result<(), PeerError> {
    use weir_core::congestion::ControllerKind;
    use weir_peers::QuinnController;

    let lossy = scenarios::bottleneck(RATE, Duration::from_millis(50), 0.01, 1.0);
    let run = |controller| {
        let mut run = BulkRun::timed(1, Duration::from_secs(10));
        run.quinn.controller = controller;
        run.quinn(&lossy)
    };
    let share = |r: &weir_peers::BulkReport| r.goodput_bps / RATE.bps() as f64;
    let weir_bbr = run(QuinnController::Weir(ControllerKind::Bbr))?;
    let cubic = run(QuinnController::Cubic)?;
    assert_eq!(weir_bbr.sender_error, None);
    assert!(
        share(&weir_bbr) > 0.85,
        "quinn+weir-BBR: {:.2}",
        share(&weir_bbr)
    );
    assert!(share(&cubic) < 0.5, "quinn's CUBIC: {:.2}", share(&cubic));
    assert_eq!(weir_bbr.stack.to_string(), "quinn/weir-bbr");
    for kind in [ControllerKind::Cubic, ControllerKind::Vegas] {
        let report = run(QuinnController::Weir(kind))?;
        assert_eq!(report.sender_error, None, "{kind}");
        assert!(
            share(&report) > 0.15,
            "quinn+weir-{kind}: {:.2}",
            share(&report)
        );
    }
    Ok(())
}
