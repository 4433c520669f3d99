//! The TCP transport over real loopback sockets: a client whose UDP goes nowhere falls back to
//! TCP and moves data; a client whose UDP works never opens a link; a connection switched from
//! UDP to TCP and back mid-transfer loses and duplicates nothing; a server's listener survives
//! malformed records and a flood of streams beyond its limit.

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{TEST_BOUND, client_config, fill_pattern, loopback, pattern_byte, server_config};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use weir_tokio::{Config, Endpoint, TcpTransport, Transport, VarInt};

fn with_tcp(mut config: Config, tweak: impl FnOnce(&mut TcpTransport)) -> Config {
    let tcp = config.tcp.get_or_insert_with(TcpTransport::default);
    tweak(tcp);
    config
}

/// Reads every uni stream's bytes and checks them against the pattern of seed 1.
async fn receive_checked(conn: &weir_tokio::Connection, len: usize) -> usize {
    let mut recv = conn.accept_uni().await.expect("stream");
    let data = recv.read_to_end(len).await.expect("read");
    for (i, &b) in data.iter().enumerate() {
        assert_eq!(b, pattern_byte(1, i as u64), "byte {i}");
    }
    data.len()
}

fn pattern(len: usize) -> Vec<u8> {
    let mut data = vec![0; len];
    fill_pattern(1, 0, &mut data);
    data
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_whose_udp_goes_nowhere_falls_back_to_tcp() {
    tokio::time::timeout(TEST_BOUND, async {
        // UDP to this port reaches a socket that never answers (a network that drops UDP);
        // TCP to the same port number reaches the server's listener.
        let hole = std::net::UdpSocket::bind(loopback()).expect("black hole");
        let port_addr = hole.local_addr().expect("addr");
        let server = Endpoint::bind(
            loopback(),
            with_tcp(server_config(), |t| t.listen_addr = Some(port_addr)),
        )
        .await
        .expect("server");
        let client = Endpoint::bind(
            loopback(),
            with_tcp(client_config(), |t| {
                t.fallback_after = Some(Duration::from_millis(200));
            }),
        )
        .await
        .expect("client");
        const LEN: usize = 4 << 20;
        let serving = tokio::spawn({
            let server = server.clone();
            async move {
                let conn = server.accept().await.expect("a connection");
                let got = receive_checked(&conn, LEN).await;
                let echo = conn.read_datagram().await.expect("message");
                conn.send_datagram(echo.data).expect("echo");
                let _ = conn.closed().await;
                got
            }
        });
        let started = Instant::now();
        let conn = client.connect(port_addr).await.expect("connected over TCP");
        let connect_time = started.elapsed();
        let mut send = conn.open_uni(0).await.expect("stream");
        send.write_all(&pattern(LEN)).await.expect("write");
        send.finish().expect("finish");
        conn.send_datagram(Bytes::from_static(b"tick"))
            .expect("message");
        let echoed = conn.read_datagram().await.expect("echo");
        assert_eq!(&echoed.data[..], b"tick");
        conn.close(VarInt::ZERO, b"done");
        assert_eq!(serving.await.expect("server task"), LEN);
        eprintln!("connected over the TCP fallback in {connect_time:?}");
        let (c, s) = (client.tcp_stats(), server.tcp_stats());
        assert_eq!(c.links_opened, 1, "{c:?}");
        assert_eq!(s.links_accepted, 1, "{s:?}");
        assert!(
            c.records_sent > 1000 && s.records_received > 1000,
            "{c:?} {s:?}"
        );
        assert_eq!(
            c.records_dropped + s.malformed + c.malformed,
            0,
            "{c:?} {s:?}"
        );
        drop(hole);
    })
    .await
    .expect("bounded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_whose_udp_works_opens_no_link() {
    tokio::time::timeout(TEST_BOUND, async {
        let server = Endpoint::bind(loopback(), server_config())
            .await
            .expect("server");
        let client = Endpoint::bind(
            loopback(),
            with_tcp(client_config(), |t| {
                t.fallback_after = Some(Duration::from_millis(100));
            }),
        )
        .await
        .expect("client");
        let accepting = tokio::spawn({
            let server = server.clone();
            async move { server.accept().await }
        });
        let conn = client.connect(server.local_addr()).await.expect("connect");
        let _accepted = accepting.await.expect("task").expect("accepted");
        // Past the fallback's delay: the handshake that completed over UDP keeps UDP.
        tokio::time::sleep(Duration::from_millis(300)).await;
        conn.send_datagram(Bytes::from_static(b"x")).expect("send");
        assert_eq!(client.tcp_stats().links_opened, 0);
        assert_eq!(server.tcp_stats().links_accepted, 0);
    })
    .await
    .expect("bounded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_switched_to_tcp_and_back_mid_transfer_loses_nothing() {
    tokio::time::timeout(TEST_BOUND, async {
        const LEN: usize = 24 << 20;
        let server = Endpoint::bind(loopback(), server_config())
            .await
            .expect("server");
        let client = Endpoint::bind(loopback(), client_config())
            .await
            .expect("client");
        let receiving = tokio::spawn({
            let server = server.clone();
            async move {
                let conn = server.accept().await.expect("a connection");
                let first = conn.remote_address();
                let got = receive_checked(&conn, LEN).await;
                (got, first, conn.stats().expect("stats").migrations)
            }
        });
        let conn = client.connect(server.local_addr()).await.expect("connect");
        let mut send = conn.open_uni(0).await.expect("stream");
        let data = pattern(LEN);
        let third = LEN / 3;
        send.write_all(&data[..third]).await.expect("write");
        assert!(conn.set_transport(Transport::Tcp));
        send.write_all(&data[third..2 * third])
            .await
            .expect("write");
        assert!(conn.set_transport(Transport::Udp));
        send.write_all(&data[2 * third..]).await.expect("write");
        send.finish().expect("finish");
        let (got, first, migrations) = receiving.await.expect("server task");
        assert_eq!(got, LEN);
        assert_eq!(first.port(), client.local_addr().port());
        let (c, s) = (client.tcp_stats(), server.tcp_stats());
        assert_eq!((c.links_opened, c.links_closed), (1, 1), "{c:?}");
        assert_eq!(s.links_accepted, 1, "{s:?}");
        assert!(s.records_received > 100, "{s:?}");
        assert!(
            migrations >= 2,
            "the server followed both moves: {migrations}"
        );
    })
    .await
    .expect("bounded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_records_and_a_flood_of_streams_leave_the_listener_serving() {
    tokio::time::timeout(TEST_BOUND, async {
        let server = Endpoint::bind(loopback(), with_tcp(server_config(), |t| t.max_links = 4))
            .await
            .expect("server");
        let addr = server.local_addr();
        // A zero-length record breaks the stream; so does garbage that is not a weir packet
        // but well framed (the core drops it; the link stays).
        let mut broken = tokio::net::TcpStream::connect(addr).await.expect("tcp");
        broken.write_all(&[0, 0]).await.expect("write");
        let mut garbage = tokio::net::TcpStream::connect(addr).await.expect("tcp");
        garbage.write_all(&[0, 3, 1, 2, 3]).await.expect("write");
        let mut buf = [0u8; 1];
        // The server closes the broken stream.
        assert_eq!(broken.read(&mut buf).await.expect("read"), 0);
        // More streams than the limit: the extra ones are closed at once.
        let mut flood = Vec::new();
        for _ in 0..8 {
            flood.push(tokio::net::TcpStream::connect(addr).await.expect("tcp"));
        }
        let mut closed = 0;
        for stream in &mut flood {
            if let Ok(Ok(0)) =
                tokio::time::timeout(Duration::from_millis(500), stream.read(&mut buf)).await
            {
                closed += 1;
            }
        }
        let s = server.tcp_stats();
        assert_eq!(s.malformed, 1, "{s:?}");
        assert!(
            s.links_refused >= 4 && closed >= 4,
            "{s:?}, {closed} closed"
        );
        assert!(s.open_links <= 4, "{s:?}");
        // Still serving, over UDP and over TCP.
        drop(flood);
        drop(garbage);
        let client = Endpoint::bind(
            loopback(),
            with_tcp(client_config(), |t| t.fallback_after = Some(Duration::ZERO)),
        )
        .await
        .expect("client");
        let accepting = tokio::spawn({
            let server = server.clone();
            async move { server.accept().await }
        });
        let conn = client.connect(addr).await.expect("connect over TCP");
        let _accepted = accepting.await.expect("task").expect("accepted");
        assert_eq!(client.tcp_stats().links_opened, 1);
        conn.close(VarInt::ZERO, b"");
    })
    .await
    .expect("bounded");
}

/// A network that throttles UDP (40 % of datagrams lost each way, no queue) behind `weir proxy`'s
/// link model; TCP to the same port reaches the server. The client's strategy recommends TCP
/// and the endpoint follows it (`TcpTransport::follow_recommendation`, on by default): the
/// upload finishes over TCP, every byte checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_moves_to_tcp_when_its_strategy_recommends_it() {
    use weir_tokio::proxy::{Proxy, ProxyConfig};
    use weir_tokio::weir_core::sim::{LinkConfig, LossModel, Scenario};
    tokio::time::timeout(TEST_BOUND, async {
        let lossy = LinkConfig {
            delay: Duration::from_millis(5),
            loss: LossModel::Random { p: 0.4 },
            ..LinkConfig::default()
        };
        // The proxy's port number is where the server listens for TCP.
        let placeholder = std::net::UdpSocket::bind(loopback()).expect("bind");
        let proxy_addr = placeholder.local_addr().expect("addr");
        drop(placeholder);
        let server = Endpoint::bind(
            loopback(),
            with_tcp(server_config(), |t| t.listen_addr = Some(proxy_addr)),
        )
        .await
        .expect("server");
        let proxy = Proxy::spawn(ProxyConfig::new(
            proxy_addr,
            server.local_addr(),
            Scenario::symmetric("throttled", "40 % UDP loss", lossy),
        ))
        .expect("proxy");
        assert_eq!(proxy.local_addr(), proxy_addr);
        // No fallback: the move must come from the strategy.
        let client = Endpoint::bind(
            loopback(),
            with_tcp(client_config(), |t| t.fallback_after = None),
        )
        .await
        .expect("client");
        // Upload until the move, then 256 KiB more over TCP.
        const MAX: usize = 64 << 20;
        const CHUNK: usize = 64 << 10;
        let receiving = tokio::spawn({
            let server = server.clone();
            async move {
                let conn = server.accept().await.expect("a connection");
                receive_checked(&conn, MAX).await
            }
        });
        let conn = client.connect(proxy_addr).await.expect("connect");
        let mut send = conn.open_uni(0).await.expect("stream");
        let data = pattern(MAX);
        let mut sent = 0;
        let mut after_move = None;
        while sent < MAX && after_move.is_none_or(|at| sent < at + (256 << 10)) {
            send.write_all(&data[sent..sent + CHUNK])
                .await
                .expect("write");
            sent += CHUNK;
            if after_move.is_none() && client.tcp_stats().links_opened > 0 {
                after_move = Some(sent);
            }
        }
        send.finish().expect("finish");
        assert_eq!(receiving.await.expect("server task"), sent);
        let c = client.tcp_stats();
        assert_eq!(c.links_opened, 1, "{c:?}");
        assert!(c.records_sent > 100, "{c:?}");
        let changes = conn.take_strategy_changes();
        assert!(
            changes
                .iter()
                .any(|ch| ch.new.transport.to_string() == "tcp"),
            "{changes:?}"
        );
        let _ = proxy.stop().await;
    })
    .await
    .expect("bounded");
}

/// A server whose UDP port number is taken on TCP (an HTTPS server beside it on 443, say)
/// binds without the fallback listener and serves over UDP; a listener the configuration names
/// explicitly must work, or `bind` fails with a typed error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_taken_on_tcp_leaves_the_server_on_udp() {
    tokio::time::timeout(TEST_BOUND, async {
        let taken = std::net::TcpListener::bind(loopback()).expect("a TCP listener");
        let addr = taken.local_addr().expect("addr");
        let server = Endpoint::bind(addr, server_config())
            .await
            .expect("bound without the fallback");
        let client = Endpoint::bind(loopback(), client_config())
            .await
            .expect("client");
        let accepting = tokio::spawn({
            let server = server.clone();
            async move { server.accept().await }
        });
        let _conn = client.connect(addr).await.expect("over UDP");
        let _accepted = accepting.await.expect("task").expect("accepted");
        let named = Endpoint::bind(
            loopback(),
            with_tcp(server_config(), |t| t.listen_addr = Some(addr)),
        )
        .await;
        assert!(
            matches!(named, Err(weir_tokio::BindError::Tcp(_))),
            "{named:?}"
        );
    })
    .await
    .expect("bounded");
}

/// A stream that carries nothing is closed after the link's idle timeout: a stranger's silent
/// streams cannot hold the link slots for good.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_stream_is_closed_after_the_idle_timeout() {
    tokio::time::timeout(TEST_BOUND, async {
        let server = Endpoint::bind(
            loopback(),
            with_tcp(server_config(), |t| {
                t.idle_timeout = Duration::from_millis(300);
            }),
        )
        .await
        .expect("server");
        let mut silent = tokio::net::TcpStream::connect(server.local_addr())
            .await
            .expect("tcp");
        let mut buf = [0u8; 1];
        assert_eq!(silent.read(&mut buf).await.expect("read"), 0, "closed");
        let s = server.tcp_stats();
        assert_eq!((s.idle_closed, s.open_links), (1, 0), "{s:?}");
    })
    .await
    .expect("bounded");
}
