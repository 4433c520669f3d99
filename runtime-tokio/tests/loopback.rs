//! weir-tokio over real loopback sockets: bulk transfers checked byte by byte, a path impaired by
//! the proxy, a server that dies, bad configurations, IPv6.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use weir_tokio::weir_core::config::{ConfigError, RateLimit, TransportConfig};
use weir_tokio::weir_core::connection::ConnectionError;
use weir_tokio::{
    BindError, Config, ConnectError, ConnectionLost, Endpoint, ReadError, SocketConfig,
    SocketConfigError, VarInt,
};

use common::*;

/// Serves pattern streams: reads an 8-byte seed, checks every byte after it, answers with the
/// length it received.
fn spawn_pattern_server(server: Endpoint) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(conn) = server.accept().await {
            tokio::spawn(async move {
                while let Ok((mut send, mut recv)) = conn.accept_bi().await {
                    tokio::spawn(async move {
                        let mut seed = [0u8; 8];
                        recv.read_exact(&mut seed).await.expect("seed");
                        let len = recv_pattern(&mut recv, u64::from_be_bytes(seed)).await;
                        send.write_all(&len.to_be_bytes()).await.expect("answer");
                        send.shutdown().await.expect("finish");
                    });
                }
            });
        }
    })
}

/// Sends `len` pattern bytes on a new stream of `conn` and returns what the server counted.
async fn send_and_count(conn: &weir_tokio::Connection, seed: u64, len: u64) -> u64 {
    let (mut send, mut recv) = conn.open_bi(0).await.expect("open");
    send.write_all(&seed.to_be_bytes()).await.expect("seed");
    send_pattern(&mut send, seed, len).await;
    let answer = recv.read_to_end(8).await.expect("answer");
    u64::from_be_bytes(answer.try_into().expect("8 bytes"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_connections_move_ten_megabytes_each_intact() {
    const LEN: u64 = 10 * 1024 * 1024;
    let started = Instant::now();
    let server = server("127.0.0.1:0").await;
    let addr = server.local_addr();
    let _server_task = spawn_pattern_server(server.clone());
    // Two client endpoints, five connections each: connections share a driver and a socket.
    let clients = [client_for(addr).await, client_for(addr).await];
    let mut tasks = Vec::new();
    for seed in 0..10u64 {
        let client = clients[seed as usize % 2].clone();
        tasks.push(tokio::spawn(async move {
            let conn = client.connect(addr).await.expect("connect");
            let counted = send_and_count(&conn, seed, LEN).await;
            let stats = conn.stats().expect("stats");
            conn.close(VarInt::ZERO, b"done");
            (counted, stats)
        }));
    }
    let all = tokio::time::timeout(TEST_BOUND, async {
        let mut out = Vec::new();
        for task in tasks {
            out.push(task.await.expect("client task"));
        }
        out
    })
    .await
    .expect("the transfers finish in time");
    for (counted, stats) in &all {
        assert_eq!(*counted, LEN);
        assert!(stats.bytes_sent >= LEN, "{stats:?}");
    }
    for client in &clients {
        assert!(
            client
                .shutdown(VarInt::ZERO, b"bye", Duration::from_secs(5))
                .await
        );
    }
    assert!(
        server
            .shutdown(VarInt::ZERO, b"bye", Duration::from_secs(5))
            .await
    );
    eprintln!(
        "10 x 10 MiB in {:?}; socket: {:?}",
        started.elapsed(),
        clients[0].socket_stats()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv6_loopback_works() {
    let Ok(probe) = std::net::UdpSocket::bind("[::1]:0") else {
        eprintln!("SKIPPED: this machine has no IPv6 loopback (::1)");
        return;
    };
    drop(probe);
    let server = server("[::1]:0").await;
    let addr = server.local_addr();
    assert!(addr.is_ipv6());
    let _server_task = spawn_pattern_server(server.clone());
    let client = client_for(addr).await;
    let counted = tokio::time::timeout(TEST_BOUND, async {
        let conn = client.connect(addr).await.expect("connect over ::1");
        send_and_count(&conn, 7, 256 * 1024).await
    })
    .await
    .expect("in time");
    assert_eq!(counted, 256 * 1024);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dual_stack_socket_reaches_ipv4() {
    if std::net::UdpSocket::bind("[::]:0").is_err() {
        eprintln!("SKIPPED: this machine has no IPv6");
        return;
    }
    let server = server("127.0.0.1:0").await;
    let addr = server.local_addr();
    let _server_task = spawn_pattern_server(server.clone());
    let client = Endpoint::bind("[::]:0".parse().expect("literal"), client_config())
        .await
        .expect("bind [::]");
    assert!(client.socket_info().dual_stack);
    let counted = tokio::time::timeout(TEST_BOUND, async {
        let conn = client
            .connect(addr)
            .await
            .expect("connect to IPv4 from [::]");
        send_and_count(&conn, 9, 64 * 1024).await
    })
    .await
    .expect("in time");
    assert_eq!(counted, 64 * 1024);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_server_gives_the_client_a_timely_typed_error() {
    const IDLE: Duration = Duration::from_secs(2);
    let short_idle = TransportConfig {
        idle_timeout: IDLE,
        ..transport()
    };
    // The server runs on a runtime of its own, on its own thread, so that it can be killed:
    // dropping that runtime stops its driver and closes its socket without a word to the peer.
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (kill_tx, kill_rx) = tokio::sync::oneshot::channel::<()>();
    let server_transport = short_idle.clone();
    let server_thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("server runtime");
        rt.block_on(async move {
            let mut config = server_config();
            if let Some(server) = &mut config.server {
                server.transport = server_transport;
            }
            let server = Endpoint::bind("127.0.0.1:0".parse().expect("literal"), config)
                .await
                .expect("bind");
            addr_tx.send(server.local_addr()).expect("report address");
            let conn = server.accept().await.expect("a client");
            let (_send, mut recv) = conn.accept_bi().await.expect("a stream");
            let mut first = [0u8; 4];
            recv.read_exact(&mut first).await.expect("first bytes");
            let _ = kill_rx.await;
        });
        // `rt` is dropped here: every task of the server dies mid-connection.
    });
    let addr: SocketAddr = addr_rx.recv().expect("server address");
    let client = Endpoint::bind(
        "127.0.0.1:0".parse().expect("literal"),
        Config {
            client: short_idle,
            ..client_config()
        },
    )
    .await
    .expect("bind");
    let conn = client.connect(addr).await.expect("connect");
    let (mut send, mut recv) = conn.open_bi(0).await.expect("open");
    send.write_all(b"ping").await.expect("write");
    // Let the server read, then kill it.
    tokio::time::sleep(Duration::from_millis(200)).await;
    kill_tx.send(()).expect("kill");
    server_thread.join().expect("server thread");
    let killed_at = Instant::now();
    // The client keeps writing into the void, and waits to read: both must fail in time.
    let result = tokio::time::timeout(IDLE * 5, async {
        let _ = send.write_all(&[0u8; 100_000]).await;
        recv.read_chunk(1024).await
    })
    .await
    .expect("the client learns of the dead server instead of hanging");
    let waited = killed_at.elapsed();
    match result {
        Err(ReadError::ConnectionLost(ConnectionLost::Closed(ConnectionError::TimedOut(t)))) => {
            assert_eq!(t, IDLE);
        }
        other => panic!("expected an idle timeout, got {other:?}"),
    }
    assert!(waited < IDLE * 4, "took {waited:?}");
    assert!(matches!(
        conn.closed().await,
        ConnectionLost::Closed(ConnectionError::TimedOut(_))
    ));
}

#[tokio::test]
async fn bad_configurations_are_clear_errors() {
    let v4: SocketAddr = "127.0.0.1:0".parse().expect("literal");
    // Zero buffer.
    let zero = Config {
        socket: SocketConfig {
            recv_buffer: Some(0),
            ..SocketConfig::default()
        },
        ..client_config()
    };
    let err = Endpoint::bind(v4, zero).await.expect_err("zero buffer");
    assert!(matches!(
        err,
        BindError::Socket(SocketConfigError::Zero("recv_buffer"))
    ));
    assert!(
        err.to_string().contains("recv_buffer must not be zero"),
        "{err}"
    );
    // IPv6-only on an IPv4 address.
    let v6_only = Config {
        socket: SocketConfig {
            only_v6: Some(true),
            ..SocketConfig::default()
        },
        ..client_config()
    };
    let err = Endpoint::bind(v4, v6_only)
        .await
        .expect_err("v6-only on v4");
    assert!(matches!(
        err,
        BindError::Socket(SocketConfigError::OnlyV6OnIpv4(_))
    ));
    // Invalid transport configuration (datagrams below the protocol minimum).
    let tiny = Config {
        client: TransportConfig {
            max_datagram_size: 500,
            ..TransportConfig::default()
        },
        ..client_config()
    };
    let err = Endpoint::bind(v4, tiny)
        .await
        .expect_err("invalid transport");
    assert!(matches!(err, BindError::Config(_)));
    assert!(err.to_string().contains("1200"), "{err}");
    // No security chosen: no endpoint, rather than an unencrypted one.
    let err = Endpoint::bind(v4, Config::default())
        .await
        .expect_err("no security");
    assert!(
        matches!(err, BindError::Config(ConfigError::NoSecurity)),
        "{err}"
    );
    // The integrity-only protection, named but not allowed.
    let insecure = Config {
        allow_insecure: false,
        ..Config::insecure_client()
    };
    let err = Endpoint::bind(v4, insecure)
        .await
        .expect_err("insecure refused");
    assert!(matches!(err, BindError::InsecureRefused), "{err}");
    assert!(Endpoint::bind(v4, Config::insecure_client()).await.is_ok());
    // Zero shards.
    let err = Endpoint::bind_shards(v4, client_config(), 0)
        .await
        .expect_err("no shards");
    assert!(matches!(
        err,
        BindError::Socket(SocketConfigError::NoShards)
    ));
    // Address family mismatches.
    let client = Endpoint::bind(v4, client_config()).await.expect("bind");
    let err = client
        .connect("[::1]:4433".parse().expect("literal"))
        .await
        .expect_err("IPv6 from IPv4");
    assert!(matches!(err, ConnectError::AddressFamily { .. }), "{err}");
    if let Ok(only6) = Endpoint::bind(
        "[::1]:0".parse().expect("literal"),
        Config {
            socket: SocketConfig {
                only_v6: Some(true),
                ..SocketConfig::default()
            },
            ..client_config()
        },
    )
    .await
    {
        let err = only6
            .connect("127.0.0.1:4433".parse().expect("literal"))
            .await
            .expect_err("IPv4 from IPv6-only");
        assert!(matches!(err, ConnectError::AddressFamily { .. }), "{err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_buffers_follow_the_bdp() {
    let config = Config {
        socket: SocketConfig {
            expected_rate_bps: 20_000_000,
            expected_rtt: Duration::from_millis(40),
            ..SocketConfig::default()
        },
        ..client_config()
    };
    // 2 × BDP = 2 × 100 kB, under the floor of 256 KiB.
    assert_eq!(config.socket.bdp_buffer(), 256 * 1024);
    let endpoint = Endpoint::bind("127.0.0.1:0".parse().expect("literal"), config)
        .await
        .expect("bind");
    let info = endpoint.socket_info();
    // Linux doubles the request; elsewhere the kernel may round.
    assert!(info.send_buffer >= 256 * 1024, "{info:?}");
    assert!(info.recv_buffer >= 256 * 1024, "{info:?}");
    eprintln!("socket: {info:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reuse_port_shards_share_the_port() {
    let shards = Endpoint::bind_shards("127.0.0.1:0".parse().expect("literal"), server_config(), 2)
        .await
        .expect("two shards");
    let addr = shards[0].local_addr();
    assert_eq!(shards[1].local_addr(), addr);
    for shard in &shards {
        drop(spawn_pattern_server(shard.clone()));
    }
    let mut tasks = Vec::new();
    for seed in 0..4u64 {
        tasks.push(tokio::spawn(async move {
            let client = client_for(addr).await;
            let conn = client.connect(addr).await.expect("connect");
            send_and_count(&conn, seed, 100_000).await
        }));
    }
    for task in tasks {
        let counted = tokio::time::timeout(TEST_BOUND, task)
            .await
            .expect("in time")
            .expect("task");
        assert_eq!(counted, 100_000);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_and_stream_credit() {
    let mut config = server_config();
    if let Some(server) = &mut config.server {
        // One concurrent bidirectional stream: the client's second open waits for credit.
        server.transport.streams.max_concurrent_bidi = 1;
    }
    let server = Endpoint::bind("127.0.0.1:0".parse().expect("literal"), config)
        .await
        .expect("bind");
    let addr = server.local_addr();
    let server_task = tokio::spawn(async move {
        let conn = server.accept().await.expect("client");
        // Echo one message.
        let message = conn.read_datagram().await.expect("message");
        conn.send_datagram(message.data).expect("echo");
        // Read two streams one after the other.
        for _ in 0..2 {
            let (mut send, mut recv) = conn.accept_bi().await.expect("stream");
            let data = recv.read_to_end(1024).await.expect("read");
            send.write_all(&data).await.expect("echo");
            send.finish().expect("finish");
        }
        conn.closed().await
    });
    let client = client_for(addr).await;
    tokio::time::timeout(TEST_BOUND, async {
        let conn = client.connect(addr).await.expect("connect");
        conn.send_datagram(bytes::Bytes::from_static(b"tick 1"))
            .expect("send message");
        let echoed = conn.read_datagram().await.expect("echo");
        assert_eq!(&echoed.data[..], b"tick 1");
        let (mut s1, mut r1) = conn.open_bi(0).await.expect("first stream");
        // The second open only completes once the first stream is done and the server grants
        // more credit.
        let second = {
            let conn = conn.clone();
            tokio::spawn(async move { conn.open_bi(0).await.expect("second stream") })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!second.is_finished(), "the second stream waits for credit");
        s1.write_all(b"one").await.expect("write");
        s1.finish().expect("finish");
        assert_eq!(r1.read_to_end(16).await.expect("echo"), b"one");
        let (mut s2, mut r2) = second.await.expect("second open");
        s2.write_all(b"two").await.expect("write");
        s2.finish().expect("finish");
        assert_eq!(r2.read_to_end(16).await.expect("echo"), b"two");
        conn.close(VarInt::from_u32(7), b"done");
    })
    .await
    .expect("in time");
    let why = tokio::time::timeout(TEST_BOUND, server_task)
        .await
        .expect("in time")
        .expect("server task");
    assert!(
        matches!(
            why,
            ConnectionLost::Closed(ConnectionError::ApplicationClosed { code: 7, .. })
        ),
        "{why:?}"
    );
}

/// `Config::with_rate_limit` reaches the connections: 3 MB at 2 MB/s take about 1.5 s over a
/// loopback that moves them in a few tens of milliseconds without the limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_holds_a_transfer_to_its_rate() {
    let server = server("127.0.0.1:0").await;
    let addr = server.local_addr();
    let _server = spawn_pattern_server(server);
    let limit = RateLimit::new(2_000_000);
    let client = Endpoint::bind(
        "127.0.0.1:0".parse().expect("literal"),
        client_config().with_rate_limit(limit),
    )
    .await
    .expect("bind the client");
    let elapsed = tokio::time::timeout(TEST_BOUND, async {
        let conn = client.connect(addr).await.expect("connect");
        let start = Instant::now();
        assert_eq!(send_and_count(&conn, 3, 3_000_000).await, 3_000_000);
        start.elapsed()
    })
    .await
    .expect("in time");
    // At most the burst, then 2 MB/s of datagrams (a little more than the data): at least
    // (3 MB − 20 kB) / 2 MB/s ≈ 1.49 s.
    assert!(elapsed >= Duration::from_millis(1450), "{elapsed:?}");
}

/// A stream the peer stopped keeps answering with the peer's code, and a stream that ended
/// keeps reading as ended, after the core released its state (the core remembers how its
/// closed streams ended; the adapter keeps no record of its own).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_stream_keeps_its_code_after_its_state_is_gone() {
    let server = server("127.0.0.1:0").await;
    let addr = server.local_addr();
    let server_task = tokio::spawn(async move {
        let conn = server.accept().await.expect("client");
        let (mut send, mut recv) = conn.accept_bi().await.expect("stream");
        recv.stop(VarInt::from_u32(42)).expect("stop");
        send.finish().expect("finish");
        // Echo messages until the client closes: each round trip carries acknowledgements.
        while let Ok(message) = conn.read_datagram().await {
            let _ = conn.send_datagram(message.data);
        }
    });
    let client = client_for(addr).await;
    tokio::time::timeout(TEST_BOUND, async {
        let conn = client.connect(addr).await.expect("connect");
        let (mut send, mut recv) = conn.open_bi(0).await.expect("open");
        let stopped = loop {
            match send.write(&[7; 1000]).await {
                Ok(_) => tokio::task::yield_now().await,
                Err(e) => break e,
            }
        };
        assert_eq!(
            stopped,
            weir_tokio::WriteError::Stopped(VarInt::from_u32(42))
        );
        assert_eq!(recv.read_to_end(16).await.expect("the server's end"), b"");
        // Round trips: our RESET_STREAM and the server's FIN are acknowledged, both ends
        // release the stream.
        for tick in 0..5u8 {
            conn.send_datagram(bytes::Bytes::copy_from_slice(&[tick]))
                .expect("send message");
            conn.read_datagram().await.expect("echo");
        }
        let code = weir_tokio::WriteError::Stopped(VarInt::from_u32(42));
        assert_eq!(send.write(b"more").await, Err(code.clone()));
        assert_eq!(send.finish(), Err(code.clone()));
        assert_eq!(send.reset(VarInt::from_u32(1)), Err(code));
        assert_eq!(recv.read(&mut [0; 4]).await, Ok(None));
        conn.close(VarInt::ZERO, b"done");
    })
    .await
    .expect("in time");
    tokio::time::timeout(TEST_BOUND, server_task)
        .await
        .expect("in time")
        .expect("server task");
}

/// Path MTU discovery over real sockets: loopback carries far more than the 1452-byte ceiling,
/// so one probe validates it and the data goes in 1452-byte datagrams (the socket sets the
/// don't-fragment bit; where it could not, discovery would be off and the size 1200).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_mtu_discovery_finds_the_ceiling_on_loopback() {
    let server = server("127.0.0.1:0").await;
    let addr = server.local_addr();
    let _server_task = spawn_pattern_server(server.clone());
    let client = client_for(addr).await;
    let conn = tokio::time::timeout(TEST_BOUND, client.connect(addr))
        .await
        .expect("in time")
        .expect("connect");
    let counted = tokio::time::timeout(TEST_BOUND, send_and_count(&conn, 3, 2 * 1024 * 1024))
        .await
        .expect("in time");
    assert_eq!(counted, 2 * 1024 * 1024);
    let stats = conn.stats().expect("stats of a live connection");
    if client.socket_info().may_fragment {
        assert_eq!(
            stats.mtu.probes_sent, 0,
            "discovery is off where datagrams may fragment"
        );
        return;
    }
    assert_eq!(stats.mtu.current, 1452, "{:?}", stats.mtu);
    assert_eq!(stats.datagram_size, 1452);
    assert_eq!(stats.mtu.black_holes, 0);
}

/// ECN end to end over real sockets (RFC 9000 §13.4): quinn-udp reads the TOS byte of each
/// datagram (IP_RECVTOS) and sets it on each send, Linux loopback keeps it, so both ends see
/// each other's ECT(0) marks, report them in their ACK frames, and validate the path.
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ecn_is_validated_over_loopback() {
    use weir_tokio::weir_core::connection::EcnState;
    const LEN: u64 = 2 * 1024 * 1024;
    let server = server("127.0.0.1:0").await;
    let addr = server.local_addr();
    let _server_task = spawn_pattern_server(server.clone());
    let client = client_for(addr).await;
    let stats = tokio::time::timeout(TEST_BOUND, async {
        let conn = client.connect(addr).await.expect("connect");
        assert_eq!(send_and_count(&conn, 3, LEN).await, LEN);
        conn.stats().expect("stats")
    })
    .await
    .expect("the transfer finishes in time");
    let ecn = stats.ecn;
    assert_eq!(ecn.state, EcnState::Capable, "{ecn:?}");
    // Marked beyond the testing period: every packet once validated.
    assert!(ecn.packets_sent_ect0 > 100, "{ecn:?}");
    // The server marks its packets too, and the client read the marks.
    assert!(ecn.received.ect0 > 10, "{ecn:?}");
    assert_eq!(ecn.validation_failures, 0);
}
