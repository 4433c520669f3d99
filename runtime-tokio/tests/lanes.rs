//! Lanes over real loopback sockets: a large reliable message, ordered small ones, and a
//! sequenced unreliable lane protected by FEC, through `Connection::lane`.

mod common;

use std::time::Duration;

use bytes::Bytes;
use weir_tokio::{DeliveryMode, FecLevel, LaneConfig};

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lanes_carry_large_ordered_and_sequenced_messages() {
    let server = server("127.0.0.1:0").await;
    let addr = server.local_addr();
    let client = client_for(addr).await;
    let conn = client.connect(addr).await.expect("connect");
    let server_conn = server.accept().await.expect("accept");
    let level = conn
        .lane(1, LaneConfig::new(DeliveryMode::ReliableOrdered))
        .expect("lane 1");
    let state = conn
        .lane(
            2,
            LaneConfig::new(DeliveryMode::UnreliableSequenced)
                .with_priority(5)
                .with_fec(FecLevel::High),
        )
        .expect("lane 2");
    let big: Bytes = (0..700_000u32)
        .map(|i| (i % 251) as u8)
        .collect::<Vec<u8>>()
        .into();
    let work = async {
        level.send(big.clone()).await.expect("send the level");
        for k in 0..100u32 {
            level
                .send(Bytes::copy_from_slice(&k.to_be_bytes()))
                .await
                .expect("send");
        }
        let rx_level = server_conn
            .lane(1, LaneConfig::new(DeliveryMode::ReliableOrdered))
            .expect("lane 1");
        let first = rx_level.recv().await.expect("the level");
        assert_eq!(first.data, big, "the 700 kB message arrives whole");
        for k in 0..100u32 {
            let m = rx_level.recv().await.expect("message");
            assert_eq!(m.data.as_ref(), k.to_be_bytes(), "in order");
            assert_eq!(m.sequence, u64::from(k) + 1);
        }
        // State at a game's tick (every 2 ms): a message queued before the one ahead of it
        // left would supersede it, and a loaded machine could leave too few for FEC groups.
        for k in 0..100u32 {
            state
                .send_with_deadline(
                    Bytes::copy_from_slice(&k.to_be_bytes()),
                    Duration::from_secs(1),
                )
                .await
                .expect("send");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let rx_state = server_conn
            .lane(2, LaneConfig::new(DeliveryMode::UnreliableSequenced))
            .expect("lane 2");
        let mut last = None;
        while let Ok(Ok(m)) =
            tokio::time::timeout(Duration::from_millis(300), rx_state.recv()).await
        {
            assert!(last.is_none_or(|l| m.sequence > l), "sequenced");
            last = Some(m.sequence);
        }
        assert_eq!(last, Some(99), "the newest state arrives");
    };
    tokio::time::timeout(TEST_BOUND, work)
        .await
        .expect("in time");
    let stats = conn.lane_stats().expect("stats");
    assert_eq!(stats.messages_sent, 201);
    assert!(stats.fec_repairs_sent > 0, "{stats:?}");
    let received = server_conn.lane_stats().expect("stats");
    assert_eq!(received.fec_dropped, 0, "{received:?}");
}

/// The strategy selector runs inside every connection: a game's messages (an unreliable lane
/// with deadlines) turn the queue guard on within the selector's confirmation time, and the
/// change reaches the application through `take_strategy_changes` and the stats.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_game_lane_turns_the_queue_guard_on() {
    let server = server("127.0.0.1:0").await;
    let addr = server.local_addr();
    let client = client_for(addr).await;
    let conn = client.connect(addr).await.expect("connect");
    let server_conn = server.accept().await.expect("accept");
    let game = conn
        .lane(
            3,
            LaneConfig::new(DeliveryMode::Unreliable).with_priority(10),
        )
        .expect("lane 3");
    let rx = server_conn
        .lane(3, LaneConfig::new(DeliveryMode::Unreliable))
        .expect("lane 3");
    let work = async {
        let mut tick = tokio::time::interval(Duration::from_millis(16));
        let mut changes = Vec::new();
        for k in 0..400u32 {
            tick.tick().await;
            game.send_with_deadline(
                Bytes::copy_from_slice(&k.to_be_bytes()),
                Duration::from_millis(200),
            )
            .await
            .expect("send");
            changes.extend(conn.take_strategy_changes());
            if changes.iter().any(|c| c.new.queue_guard) {
                break;
            }
        }
        changes
    };
    let drain = async {
        while let Ok(Ok(_)) = tokio::time::timeout(Duration::from_millis(500), rx.recv()).await {}
    };
    let (changes, ()) = tokio::time::timeout(TEST_BOUND, async { tokio::join!(work, drain) })
        .await
        .expect("in time");
    let guard = changes
        .iter()
        .find(|c| c.new.queue_guard)
        .expect("the guard went on");
    assert!(!guard.old.queue_guard);
    assert!(guard.reason.contains("real-time"), "{}", guard.reason);
    let stats = conn.stats().expect("stats");
    assert!(stats.strategy.queue_guard, "{}", stats.strategy);
    assert!(stats.strategy_changes >= 1);
    assert!(conn.take_strategy_changes().is_empty(), "taken once");
}
