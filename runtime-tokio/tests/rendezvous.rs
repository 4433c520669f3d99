//! Two weir-tokio peers meet through a rendezvous service over loopback: directly (the punch
//! goes through: loopback has no NAT), and through the service's relay (`relay_only`), a
//! stream checked byte by byte either way. NAT behaviour itself is the simulator's
//! (`tests/tests/nat.rs`).

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{TEST_BOUND, fill_pattern, identity, loopback, pattern_byte};
use tokio::sync::oneshot;
use weir_tokio::rendezvous::RendezvousService;
use weir_tokio::weir_core::config::{ServerConfig, TransportConfig};
use weir_tokio::weir_core::crypto::ClientTls;
use weir_tokio::weir_core::rendezvous::{self, ClientConfig, ServerStats, SessionId};
use weir_tokio::{Config, Endpoint, VarInt};

/// A player: accepts and connects on one socket. Its datagrams start at the safe 1200 bytes
/// (a relayed path carries the service's header too: path MTU discovery finds how far it goes).
async fn player() -> Endpoint {
    let trust = ClientTls::pinned(vec![identity().fingerprint()]).expect("pins");
    let config = Config {
        server: Some(ServerConfig {
            transport: TransportConfig::default(),
            ..ServerConfig::default()
        }),
        client: TransportConfig::default(),
        ..Config::peer(identity(), trust).expect("tls")
    };
    Endpoint::bind(loopback(), config).await.expect("bind")
}

async fn service() -> (
    SocketAddr,
    oneshot::Sender<()>,
    tokio::task::JoinHandle<ServerStats>,
) {
    let service = RendezvousService::bind(
        loopback(),
        rendezvous::ServerConfig {
            relay_rate: 50_000_000,
            relay_burst: 5_000_000,
            ..rendezvous::ServerConfig::default()
        },
    )
    .await
    .expect("service");
    let addr = service.local_addr().expect("addr");
    let (stop, stopped) = oneshot::channel();
    let task = tokio::spawn(async move {
        service
            .run_until(
                async {
                    let _ = stopped.await;
                },
                None,
                |_| {},
            )
            .await
            .expect("service ran")
    });
    (addr, stop, task)
}

const LEN: usize = 1 << 20;

/// Both players meet, A connects to B and sends `LEN` checked bytes; returns what the service
/// counted.
async fn meet_and_transfer(config: ClientConfig, relayed: bool) -> ServerStats {
    let (service_addr, stop, service) = service().await;
    let (a, b) = (player().await, player().await);
    let session = SessionId([0x42; 16]);
    let (path_a, path_b) = tokio::join!(
        a.rendezvous(service_addr, session, config),
        b.rendezvous(service_addr, session, config),
    );
    let (path_a, path_b) = (path_a.expect("a met b"), path_b.expect("b met a"));
    assert_eq!((path_a.relayed, path_b.relayed), (relayed, relayed));
    assert_eq!(path_a.peer, b.local_addr());
    assert_eq!(path_b.peer, a.local_addr());
    let receiving = tokio::spawn({
        let b = b.clone();
        async move {
            let conn = b.accept().await.expect("a connection");
            let mut recv = conn.accept_uni().await.expect("stream");
            recv.read_to_end(LEN).await.expect("read")
        }
    });
    let conn = a.connect(path_a.peer).await.expect("connect");
    let mut send = conn.open_uni(0).await.expect("stream");
    let mut data = vec![0; LEN];
    fill_pattern(7, 0, &mut data);
    send.write_all(&data).await.expect("write");
    send.finish().expect("finish");
    let got = receiving.await.expect("task");
    assert_eq!(got.len(), LEN);
    assert!(
        got.iter()
            .enumerate()
            .all(|(i, &b)| b == pattern_byte(7, i as u64))
    );
    conn.close(VarInt::ZERO, b"");
    assert!(a.leave_rendezvous(session));
    let _ = stop.send(());
    service.await.expect("service task")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_meet_and_talk_directly() {
    tokio::time::timeout(TEST_BOUND, async {
        let stats = meet_and_transfer(ClientConfig::default(), false).await;
        assert_eq!(stats.introductions, 1, "{stats:?}");
        assert_eq!(stats.relayed, 0, "{stats:?}");
    })
    .await
    .expect("bounded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_meet_and_talk_through_the_relay() {
    tokio::time::timeout(TEST_BOUND, async {
        let config = ClientConfig {
            relay_only: true,
            ..ClientConfig::default()
        };
        let stats = meet_and_transfer(config, true).await;
        assert!(stats.relayed_bytes as usize >= LEN, "{stats:?}");
        // Only path MTU probes above the service's payload bound (a few per size tried).
        assert!(stats.relay_dropped <= 20, "{stats:?}");
    })
    .await
    .expect("bounded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_service_is_a_typed_error() {
    tokio::time::timeout(TEST_BOUND, async {
        // A socket that never answers.
        let hole = std::net::UdpSocket::bind(loopback()).expect("bind");
        let a = player().await;
        let config = ClientConfig {
            server_timeout: Duration::from_millis(300),
            ..ClientConfig::default()
        };
        let met = a
            .rendezvous(hole.local_addr().expect("addr"), SessionId([1; 16]), config)
            .await;
        assert_eq!(met, Err(weir_tokio::RendezvousError::ServerTimedOut));
        assert!(
            !a.leave_rendezvous(SessionId([1; 16])),
            "a failed meeting is gone"
        );
    })
    .await
    .expect("bounded");
}
