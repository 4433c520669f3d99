//! Path MTU discovery (DPLPMTUD, RFC 8899) over simulated paths: it finds the path's MTU, never
//! sends above it, survives a black hole that appears mid-connection, and costs a transfer
//! nothing where discovery finds nothing.

use std::time::Duration;

use weir_core::config::TransportConfig;
use weir_core::connection::ConnectionStats;
use weir_core::sim::flows::BulkAmount;
use weir_core::sim::runs::{BulkRuns, BulkSpec, bottleneck, run_bulk};
use weir_core::sim::{Scenario, Schedule};
use weir_tests::epoch;

const MB: u64 = 1_000_000;

fn bulk(scenario: &Scenario, transport: TransportConfig, amount: BulkAmount) -> BulkRuns {
    let spec = BulkSpec {
        transport,
        start: Duration::ZERO,
        amount,
        sample_every: None,
        tls: false,
    };
    run_bulk(epoch(), scenario, 1, &[spec], Duration::from_secs(60)).expect("run")
}

fn sender_stats(runs: &BulkRuns) -> ConnectionStats {
    runs.flows[0].stats.clone().expect("sender stats")
}

/// A 10 Mbit/s, 40 ms path whose forward link carries datagrams of up to `mtu` bytes.
fn path(mtu: usize) -> Scenario {
    let mut scenario = bottleneck(10.0, Duration::from_millis(40), 0.0, 2.0);
    scenario.forward.mtu = mtu;
    scenario
}

#[test]
fn discovery_finds_the_mtu_of_the_path_and_never_sends_above_it() {
    for mtu in [1232, 1300, 1400, 1472, 9000] {
        let runs = bulk(
            &path(mtu),
            TransportConfig::default(),
            BulkAmount::Bytes(4 * MB),
        );
        let flow = &runs.flows[0];
        assert_eq!(flow.received, 4 * MB, "mtu {mtu}: the transfer completes");
        let stats = sender_stats(&runs);
        let expected = mtu.min(1452) as u16;
        assert!(
            stats.mtu.current <= expected && expected - stats.mtu.current < 16,
            "mtu {mtu}: validated {} ({:?})",
            stats.mtu.current,
            stats.mtu
        );
        assert_eq!(stats.datagram_size, stats.mtu.current, "mtu {mtu}");
        // Nothing but probes went above the path's MTU: only they were dropped for size, and
        // their loss is not the connection's loss.
        assert_eq!(
            runs.forward
                .dropped
                .get(weir_core::sim::DropCause::TooBig)
                .packets,
            stats.mtu.probes_lost,
            "mtu {mtu}"
        );
        assert_eq!(
            stats.packets_lost, 0,
            "mtu {mtu}: probe losses are not losses"
        );
        assert_eq!(stats.congestion_events, 0, "mtu {mtu}: nor congestion");
    }
}

#[test]
fn larger_datagrams_carry_more_of_the_link() {
    let amount = BulkAmount::For(Duration::from_secs(10));
    let off = TransportConfig {
        mtu_discovery: None,
        ..TransportConfig::default()
    };
    let base = bulk(&path(1472), off, amount);
    let found = bulk(&path(1472), TransportConfig::default(), amount);
    let (base_stats, found_stats) = (sender_stats(&base), sender_stats(&found));
    assert_eq!(base_stats.datagram_size, 1200);
    assert_eq!(found_stats.datagram_size, 1452);
    assert_eq!(base_stats.mtu.probes_sent, 0, "off means off");
    // Fewer packets for the same link: per-packet header and tag overhead shrinks.
    let per_packet = |r: &BulkRuns| {
        let s = sender_stats(r);
        s.bytes_sent as f64 / s.packets_sent as f64
    };
    assert!(per_packet(&found) > per_packet(&base) * 1.15);
    assert!(
        found.flows[0].received as f64 >= base.flows[0].received as f64 * 0.995,
        "{} vs {}",
        found.flows[0].received,
        base.flows[0].received
    );
}

#[test]
fn a_black_hole_mid_connection_falls_back_and_loses_no_byte() {
    // At 3 s a tunnel comes up on the path: datagrams above 1280 bytes vanish from then on.
    let mut scenario = path(1472);
    let mut shrunk = scenario.forward.clone();
    shrunk.mtu = 1280;
    scenario.forward_schedule = Schedule::new().at(Duration::from_secs(3), shrunk);
    let runs = bulk(
        &scenario,
        TransportConfig::default(),
        BulkAmount::Bytes(10 * MB),
    );
    let flow = &runs.flows[0];
    assert_eq!(flow.received, 10 * MB, "every byte arrives");
    let stats = sender_stats(&runs);
    assert!(stats.mtu.black_holes >= 1, "{:?}", stats.mtu);
    assert!(
        (1265..=1280).contains(&stats.mtu.current),
        "the next search lands below the new MTU: {:?}",
        stats.mtu
    );
    assert_eq!(stats.datagram_size, stats.mtu.current);
    // The transfer paid for the black hole with a stall of a few round trips, not seconds.
    let completed = flow.completed_at.expect("completed");
    let clean = bulk(
        &path(1280),
        TransportConfig::default(),
        BulkAmount::Bytes(10 * MB),
    );
    let clean_completed = clean.flows[0].completed_at.expect("completed");
    assert!(
        completed < clean_completed + Duration::from_secs(2),
        "{completed:?} vs {clean_completed:?} on a path that was always 1280"
    );
}

#[test]
fn a_peer_that_accepts_less_bounds_the_search() {
    // The receiver announces 1300 bytes as its max_udp_payload_size: no probe goes above it.
    let runs = {
        let transport = TransportConfig {
            mtu_discovery: Some(weir_core::pmtu::MtuDiscoveryConfig {
                upper_bound: 1300,
                ..Default::default()
            }),
            ..TransportConfig::default()
        };
        bulk(&path(1472), transport, BulkAmount::Bytes(2 * MB))
    };
    let stats = sender_stats(&runs);
    assert_eq!(stats.mtu.ceiling, 1300);
    assert_eq!(stats.mtu.current, 1300);
    assert_eq!(stats.mtu.probes_sent, 1);
}
