//! weir-async-std over real loopback sockets, every test under smol and under async-std:
//! bulk transfers checked byte by byte, unreliable messages, lanes, a clean close and drain, a
//! peer that vanishes, configurations refused.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use async_io::Async;
use bytes::Bytes;
use futures_lite::io::{AsyncReadExt, AsyncWriteExt};
use weir_async_std::weir_core::config::TransportConfig;
use weir_async_std::weir_core::connection::ConnectionError;
use weir_async_std::weir_core::crypto::Security;
use weir_async_std::{
    BindError, Config, ConnectError, ConnectionLost, DeliveryMode, Endpoint, LaneConfig, ReadError,
    VarInt,
};

use common::*;

/// Serves pattern streams: reads an 8-byte seed, checks every byte after it, answers with the
/// length it received.
fn spawn_pattern_server(exec: Exec, server: Endpoint) -> Joined<()> {
    exec.spawn(async move {
        let mut conns = Vec::new();
        while let Some(conn) = server.accept().await {
            conns.push(exec.spawn(async move {
                let mut streams = Vec::new();
                while let Ok((mut send, mut recv)) = conn.accept_bi().await {
                    streams.push(exec.spawn(async move {
                        let mut seed = [0u8; 8];
                        recv.read_exact(&mut seed).await.expect("seed");
                        let len = recv_pattern(&mut recv, u64::from_be_bytes(seed)).await;
                        send.write_all(&len.to_be_bytes()).await.expect("answer");
                        send.close().await.expect("finish");
                    }));
                }
                for stream in streams {
                    stream.await;
                }
            }));
        }
        for conn in conns {
            conn.await;
        }
    })
}

both_executors! {
    /// Four connections over two client endpoints (connections share a driver and a socket),
    /// 4 MiB each through futures-io's traits, every byte checked; then the counters.
    async fn connections_move_megabytes_intact(exec: Exec) {
        const LEN: u64 = 4 * 1024 * 1024;
        let server = server().await;
        let addr = server.local_addr();
        let _server = spawn_pattern_server(exec, server.clone());
        let clients = [client().await, client().await];
        let mut tasks = Vec::new();
        for seed in 0..4u64 {
            let client = clients[seed as usize % 2].clone();
            tasks.push(exec.spawn(async move {
                let conn = client.connect(addr).await.expect("connect");
                let (mut send, mut recv) = conn.open_bi(0).await.expect("open");
                send.write_all(&seed.to_be_bytes()).await.expect("seed");
                send_pattern(&mut send, seed, LEN).await;
                let answer = recv.read_to_end(8).await.expect("answer");
                let counted = u64::from_be_bytes(answer.try_into().expect("8 bytes"));
                let stats = conn.stats().expect("stats");
                conn.close(VarInt::ZERO, b"done");
                (counted, stats)
            }));
        }
        for task in tasks {
            let (counted, stats) = task.await;
            assert_eq!(counted, LEN);
            assert!(stats.bytes_sent >= LEN, "{stats:?}");
            assert!(stats.srtt > Duration::ZERO, "{stats:?}");
        }
        for client in &clients {
            let socket = client.socket_stats();
            assert!(socket.datagrams_sent > 0 && socket.datagrams_received > 0, "{socket:?}");
            assert!(client.shutdown(VarInt::ZERO, b"", Duration::from_secs(5)).await);
        }
        assert!(server.shutdown(VarInt::ZERO, b"", Duration::from_secs(5)).await);
    }
}

both_executors! {
    /// Unreliable messages, one at a time there and back (so none is dropped for want of
    /// queue room), then a stream beside them.
    async fn datagrams_go_there_and_back(exec: Exec) {
        let server = server().await;
        let addr = server.local_addr();
        let echo = exec.spawn(async move {
            let conn = server.accept().await.expect("client");
            for _ in 0..20 {
                let message = conn.read_datagram().await.expect("message");
                conn.send_datagram(message.data).expect("echo");
            }
            conn.closed().await
        });
        let client = client().await;
        let conn = client.connect(addr).await.expect("connect");
        assert!(conn.max_datagram_size().expect("size") >= 1000);
        for k in 0..20u32 {
            let data = Bytes::from(format!("tick {k}"));
            conn.send_datagram(data.clone()).expect("send");
            let echoed = conn.read_datagram().await.expect("echo");
            assert_eq!(echoed.data, data);
        }
        conn.close(VarInt::from_u32(3), b"enough");
        let why = echo.await;
        assert!(
            closed_with(&why, 3),
            "{why:?}"
        );
    }
}

both_executors! {
    /// A reliable ordered lane carries a 700 kB message whole and 100 small ones in order.
    async fn lanes_carry_large_and_ordered_messages(exec: Exec) {
        let server = server().await;
        let addr = server.local_addr();
        let client = client().await;
        let conn = client.connect(addr).await.expect("connect");
        let server_conn = server.accept().await.expect("accept");
        let level = conn
            .lane(1, LaneConfig::new(DeliveryMode::ReliableOrdered))
            .expect("lane 1");
        let big: Bytes = (0..700_000u32).map(|i| (i % 251) as u8).collect::<Vec<u8>>().into();
        let sender = {
            let big = big.clone();
            exec.spawn(async move {
                level.send(big).await.expect("send the level");
                for k in 0..100u32 {
                    level.send(Bytes::copy_from_slice(&k.to_be_bytes())).await.expect("send");
                }
                level
            })
        };
        let rx = server_conn
            .lane(1, LaneConfig::new(DeliveryMode::ReliableOrdered))
            .expect("lane 1");
        let first = rx.recv().await.expect("the level");
        assert_eq!(first.data, big, "the 700 kB message arrives whole");
        for k in 0..100u32 {
            let m = rx.recv().await.expect("message");
            assert_eq!(m.data.as_ref(), k.to_be_bytes(), "in order");
            assert_eq!(m.sequence, u64::from(k) + 1);
        }
        let _level = sender.await;
        assert_eq!(conn.lane_stats().expect("stats").messages_sent, 101);
        assert_eq!(server_conn.lane_stats().expect("stats").messages_received, 101);
    }
}

both_executors! {
    /// The client finishes its stream and closes with a code; the server reads everything,
    /// then sees that code; both endpoints drain and shut down in time, and refuse new work.
    async fn clean_close_and_drain(exec: Exec) {
        let server = server().await;
        let addr = server.local_addr();
        let serving = {
            let server = server.clone();
            exec.spawn(async move {
                let conn = server.accept().await.expect("client");
                let (mut send, mut recv) = conn.accept_bi().await.expect("stream");
                let mut all = Vec::new();
                AsyncReadExt::read_to_end(&mut recv, &mut all).await.expect("read to the end");
                // Tell the client it all arrived.
                send.write_all(b"ok").await.expect("answer");
                send.close().await.expect("finish");
                (all, conn.closed().await)
            })
        };
        let client = client().await;
        let conn = client.connect(addr).await.expect("connect");
        let (mut send, mut recv) = conn.open_bi(0).await.expect("open");
        send.write_all(&[7u8; 300_000]).await.expect("write");
        send.close().await.expect("finish");
        assert_eq!(recv.read_to_end(16).await.expect("the answer"), b"ok");
        conn.close(VarInt::from_u32(9), b"bye");
        let (all, why) = serving.await;
        assert_eq!(all.len(), 300_000);
        assert!(all.iter().all(|b| *b == 7));
        assert!(
            closed_with(&why, 9),
            "{why:?}"
        );
        assert!(matches!(
            conn.closed().await,
            ConnectionLost::Closed(ConnectionError::LocallyClosed)
        ));
        assert!(client.shutdown(VarInt::ZERO, b"", Duration::from_secs(5)).await, "client drained");
        assert!(server.shutdown(VarInt::ZERO, b"", Duration::from_secs(5)).await, "server drained");
        assert_eq!(client.connection_count(), 0);
        assert!(server.accept().await.is_none());
        assert!(matches!(client.connect(addr).await, Err(ConnectError::EndpointClosed)));
    }
}

/// A UDP relay between a client and a server, which can be made to drop everything from then
/// on: to the client, a server that died without a word.
struct Relay {
    addr: SocketAddr,
    killed: Arc<AtomicBool>,
    _tasks: [Joined<()>; 2],
}

impl Relay {
    fn start(exec: Exec, server: SocketAddr) -> Self {
        let front = Arc::new(Async::<std::net::UdpSocket>::bind(loopback()).expect("relay front"));
        let back = Arc::new(Async::<std::net::UdpSocket>::bind(loopback()).expect("relay back"));
        let addr = front.get_ref().local_addr().expect("relay address");
        let killed = Arc::new(AtomicBool::new(false));
        let client: Arc<std::sync::Mutex<Option<SocketAddr>>> = Arc::default();
        let upstream = {
            let (front, back, killed, client) =
                (front.clone(), back.clone(), killed.clone(), client.clone());
            exec.spawn(async move {
                let mut buf = vec![0u8; 65_536];
                while let Ok((n, from)) = front.recv_from(&mut buf).await {
                    *client.lock().expect("relay lock") = Some(from);
                    if !killed.load(Ordering::SeqCst) {
                        let _ = back.send_to(&buf[..n], server).await;
                    }
                }
            })
        };
        let downstream = {
            let killed = killed.clone();
            exec.spawn(async move {
                let mut buf = vec![0u8; 65_536];
                while let Ok((n, _)) = back.recv_from(&mut buf).await {
                    let to = *client.lock().expect("relay lock");
                    if let Some(to) = to
                        && !killed.load(Ordering::SeqCst)
                    {
                        let _ = front.send_to(&buf[..n], to).await;
                    }
                }
            })
        };
        Self {
            addr,
            killed,
            _tasks: [upstream, downstream],
        }
    }
}

both_executors! {
    /// The server vanishes mid-connection (the path drops everything): the client's pending
    /// read fails with the typed idle timeout, in time.
    async fn a_vanished_peer_gives_a_typed_idle_timeout(exec: Exec) {
        const IDLE: Duration = Duration::from_secs(2);
        let short_idle = TransportConfig { idle_timeout: IDLE, ..transport() };
        let mut config = server_config();
        if let Some(server) = &mut config.server {
            server.transport = short_idle.clone();
        }
        let server = Endpoint::bind(loopback(), config).await.expect("bind");
        let relay = Relay::start(exec, server.local_addr());
        let serving = {
            let server = server.clone();
            exec.spawn(async move {
                let conn = server.accept().await.expect("a client");
                let (mut send, mut recv) = conn.accept_bi().await.expect("a stream");
                let mut first = [0u8; 4];
                recv.read_exact(&mut first).await.expect("first bytes");
                send.write_all(b"pong").await.expect("answer");
                conn.closed().await
            })
        };
        let client = Endpoint::bind(loopback(), Config { client: short_idle, ..client_config() })
            .await
            .expect("bind");
        let conn = client.connect(relay.addr).await.expect("connect");
        let (mut send, mut recv) = conn.open_bi(0).await.expect("open");
        send.write_all(b"ping").await.expect("write");
        let mut pong = [0u8; 4];
        recv.read_exact(&mut pong).await.expect("the server answers");
        relay.killed.store(true, Ordering::SeqCst);
        let killed_at = Instant::now();
        // The client keeps writing into the void, and waits to read: both must fail in time.
        let _ = send.write_all(&[0u8; 100_000]).await;
        let result = recv.read_chunk(1024).await;
        let waited = killed_at.elapsed();
        match result {
            Err(ReadError::ConnectionLost(ConnectionLost::Closed(ConnectionError::TimedOut(
                t,
            )))) => assert_eq!(t, IDLE),
            other => panic!("expected an idle timeout, got {other:?}"),
        }
        assert!(waited < IDLE * 4, "took {waited:?}");
        assert!(matches!(
            conn.closed().await,
            ConnectionLost::Closed(ConnectionError::TimedOut(_))
        ));
        // The server's side times out the same way.
        assert!(matches!(serving.await, ConnectionLost::Closed(ConnectionError::TimedOut(_))));
    }
}

both_executors! {
    /// TLS by default: the integrity-only protection is refused unless asked for, and an
    /// endpoint without security does not bind.
    async fn insecure_configurations_are_refused(_exec: Exec) {
        let mut insecure = Config::insecure_server();
        insecure.allow_insecure = false;
        assert!(matches!(
            Endpoint::bind(loopback(), insecure).await,
            Err(BindError::InsecureRefused)
        ));
        let none = Config::default();
        assert_eq!(none.endpoint.security, None);
        assert!(matches!(
            Endpoint::bind(loopback(), none).await,
            Err(BindError::Config(_))
        ));
        // Asked for explicitly, it binds (for measurements of the transport alone).
        let allowed = Config::insecure_server();
        assert_eq!(allowed.endpoint.security, Some(Security::InsecureIntegrityOnly));
        let endpoint = Endpoint::bind(loopback(), allowed).await.expect("allowed");
        assert!(endpoint.shutdown(VarInt::ZERO, b"", Duration::from_secs(1)).await);
    }
}

both_executors! {
    /// Drivers run as tasks of the application's executor (`bind_with_driver`): a stream and
    /// messages go through; a driver that is dropped stops its endpoint, and calls on it fail
    /// with a typed error instead of waiting forever.
    async fn drivers_as_executor_tasks(exec: Exec) {
        const LEN: u64 = 1024 * 1024;
        let (server, server_driver) = Endpoint::bind_with_driver(loopback(), server_config())
            .await
            .expect("bind the server");
        let (client, client_driver) = Endpoint::bind_with_driver(loopback(), client_config())
            .await
            .expect("bind the client");
        let _server_driver = exec.spawn(server_driver);
        let client_driver = exec.spawn(client_driver);
        let addr = server.local_addr();
        let _server = spawn_pattern_server(exec, server.clone());
        let conn = client.connect(addr).await.expect("connect");
        let (mut send, mut recv) = conn.open_bi(0).await.expect("open");
        send.write_all(&9u64.to_be_bytes()).await.expect("seed");
        send_pattern(&mut send, 9, LEN).await;
        let answer = recv.read_to_end(8).await.expect("answer");
        assert_eq!(u64::from_be_bytes(answer.try_into().expect("8 bytes")), LEN);
        assert!(client.shutdown(VarInt::ZERO, b"", Duration::from_secs(5)).await);
        // The driver ends with the shutdown, as a spawned one does.
        client_driver.await;

        let (orphan, driver) = Endpoint::bind_with_driver(loopback(), client_config())
            .await
            .expect("bind");
        drop(driver);
        let refused = orphan.connect(addr).await;
        assert!(refused.is_err(), "an endpoint without its driver connected");
        assert!(server.shutdown(VarInt::ZERO, b"", Duration::from_secs(5)).await);
    }
}

both_executors! {
    /// The TCP transport on async-io: UDP to the server's port goes into a black hole, the
    /// client falls back to TCP after 100 ms and moves a checked stream; then it switches the
    /// connection to UDP (the server has UDP on another port here, so the switch goes to the
    /// black hole and back to TCP restores it) — nothing lost, nothing twice.
    async fn tcp_fallback_and_switch(exec: Exec) {
        const LEN: u64 = 2 * 1024 * 1024;
        let hole = std::net::UdpSocket::bind(loopback()).expect("black hole");
        let port_addr = hole.local_addr().expect("addr");
        let mut server_config = server_config();
        if let Some(tcp) = &mut server_config.tcp {
            tcp.listen_addr = Some(port_addr);
        }
        let server = Endpoint::bind(loopback(), server_config).await.expect("server");
        let mut client_config = client_config();
        if let Some(tcp) = &mut client_config.tcp {
            tcp.fallback_after = Some(Duration::from_millis(100));
        }
        let client = Endpoint::bind(loopback(), client_config).await.expect("client");
        let _server = spawn_pattern_server(exec, server.clone());
        let started = Instant::now();
        let conn = client.connect(port_addr).await.expect("connect over TCP");
        assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
        let upload = |seed: u64| {
            let conn = conn.clone();
            async move {
                let (mut send, mut recv) = conn.open_bi(0).await.expect("open");
                send.write_all(&seed.to_be_bytes()).await.expect("seed");
                send_pattern(&mut send, seed, LEN).await;
                let answer = recv.read_to_end(8).await.expect("answer");
                u64::from_be_bytes(answer.try_into().expect("8 bytes"))
            }
        };
        assert_eq!(upload(1).await, LEN);
        let first = exec.spawn(upload(2));
        assert!(conn.set_transport(weir_async_std::Transport::Udp));
        async_io::Timer::after(Duration::from_millis(50)).await;
        assert!(conn.set_transport(weir_async_std::Transport::Tcp));
        assert_eq!(first.await, LEN);
        let (c, s) = (client.tcp_stats(), server.tcp_stats());
        assert_eq!(c.links_opened, 2, "{c:?}");
        assert_eq!(s.links_accepted, 2, "{s:?}");
        drop(hole);
    }
}
