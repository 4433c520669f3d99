//! A weir connection through the impairment proxy (the simulator's link model on real
//! loopback traffic), and an idle endpoint that must not spin.

mod common;

use std::time::{Duration, Instant};

use weir_tokio::VarInt;
use weir_tokio::proxy::{Proxy, ProxyConfig};
use weir_tokio::weir_core::sim::{LinkConfig, LossModel, Scenario};

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_megabytes_cross_a_lossy_delayed_path_intact() {
    const LEN: u64 = 5 * 1024 * 1024;
    let server = server("127.0.0.1:0").await;
    let upstream = server.local_addr();
    // 20 ms of round-trip delay (10 ms each way, what `weir proxy --rtt 20ms` sets) and 2 %
    // random loss each way.
    let link = LinkConfig {
        delay: Duration::from_millis(10),
        loss: LossModel::Random { p: 0.02 },
        ..LinkConfig::default()
    };
    let scenario = Scenario::symmetric("test", "20 ms, 2% loss", link);
    let proxy = Proxy::spawn(ProxyConfig::new(
        "127.0.0.1:0".parse().expect("literal"),
        upstream,
        scenario,
    ))
    .expect("proxy");
    let proxy_addr = proxy.local_addr();
    let server_task = tokio::spawn(async move {
        let conn = server.accept().await.expect("client");
        let (mut send, mut recv) = conn.accept_bi().await.expect("stream");
        let len = recv_pattern(&mut recv, 42).await;
        send.write_all(&len.to_be_bytes()).await.expect("answer");
        send.finish().expect("finish");
        let _ = conn.closed().await;
        len
    });
    let client = client_for(proxy_addr).await;
    let started = Instant::now();
    let stats = tokio::time::timeout(TEST_BOUND, async {
        let conn = client
            .connect(proxy_addr)
            .await
            .expect("connect via the proxy");
        let (mut send, mut recv) = conn.open_bi(0).await.expect("open");
        send_pattern(&mut send, 42, LEN).await;
        let answer = recv.read_to_end(8).await.expect("answer");
        assert_eq!(u64::from_be_bytes(answer.try_into().expect("8 bytes")), LEN);
        let stats = conn.stats().expect("stats");
        conn.close(VarInt::ZERO, b"done");
        stats
    })
    .await
    .expect("the transfer finishes in time");
    let received = tokio::time::timeout(TEST_BOUND, server_task)
        .await
        .expect("server in time")
        .expect("server task");
    assert_eq!(received, LEN);
    let report = proxy.stop().await.expect("proxy ran");
    // The path really was impaired.
    let dropped: u64 = report
        .forward
        .iter()
        .chain(&report.reverse)
        .map(|l| l.dropped.total().packets)
        .sum();
    assert!(dropped > 0, "{report:?}");
    assert!(stats.min_rtt >= Duration::from_millis(20), "{stats:?}");
    assert!(stats.packets_lost > 0, "{stats:?}");
    eprintln!(
        "5 MiB through the proxy in {:?}: srtt {:?}, lost {} of {} packets, {dropped} dropped by the links",
        started.elapsed(),
        stats.srtt,
        stats.packets_lost,
        stats.packets_sent
    );
}

/// An endpoint with an open, idle connection sleeps: the driver only wakes for its timers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_endpoints_do_not_spin() {
    let server = server("127.0.0.1:0").await;
    let addr = server.local_addr();
    let server_task = tokio::spawn(async move {
        let conn = server.accept().await.expect("client");
        conn.closed().await
    });
    let client = client_for(addr).await;
    let conn = client.connect(addr).await.expect("connect");
    // Let the handshake's last acknowledgements settle.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let cpu = cpu_time::ProcessTime::now();
    let wall = Instant::now();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let used = cpu.elapsed();
    let packets = conn.stats().expect("stats").packets_sent;
    eprintln!("idle second: {used:?} of CPU over {:?}", wall.elapsed());
    // A spinning driver would burn a whole core; a sleeping one uses next to nothing.
    assert!(
        used < Duration::from_millis(200),
        "{used:?} of CPU while idle"
    );
    conn.close(VarInt::ZERO, b"done");
    let _ = tokio::time::timeout(TEST_BOUND, server_task).await;
    assert!(packets < 50, "{packets} packets sent by an idle connection");
}
