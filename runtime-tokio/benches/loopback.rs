//! Loopback comparison of weir-tokio with quinn (defaults) and a plain tokio TCP stream:
//! single-connection bulk throughput with process CPU seconds per GB, game-tick (60 Hz)
//! small-message round trips, and handshakes (full and resumed: wall time and CPU each).
//! weir runs with TLS 1.3 as it does by default (AES-128-GCM, and ChaCha20-Poly1305 forced),
//! and once with the integrity-only protection for reference, and its QUIC path (quinn-proto
//! under weir-tokio's driver) beside quinn; both stacks use the same
//! self-signed Ed25519 certificate. Prints a table; asserts nothing.
//!
//! `cargo bench -p weir-tokio --bench loopback [-- BYTES_MB TICKS HANDSHAKES]`
//!
//! Both ends run in this process on one runtime, so CPU seconds cover sender and receiver.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cpu_time::ProcessTime;
use hdrhistogram::Histogram;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use weir_tokio::weir_core::config::{ServerConfig, TransportConfig};
use weir_tokio::weir_core::crypto::{ClientTls, Identity, TlsConfig};
use weir_tokio::{Config, Endpoint, QuicConfig, TcpConfig, TokioTcpConfig, VarInt};

const CHUNK: usize = 256 * 1024;
const MESSAGE: usize = 64;
const TICK: Duration = Duration::from_micros(16_667);

pub(crate) struct Bulk {
    pub(crate) elapsed: Duration,
    pub(crate) cpu: Duration,
    pub(crate) bytes: u64,
}

pub(crate) struct Latency {
    pub(crate) p50: Duration,
    pub(crate) p99: Duration,
}

pub(crate) fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().expect("literal")
}

pub(crate) fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds")
}

pub(crate) fn latency(h: &Histogram<u64>) -> Latency {
    Latency {
        p50: Duration::from_micros(h.value_at_quantile(0.5)),
        p99: Duration::from_micros(h.value_at_quantile(0.99)),
    }
}

// ----- weir -----

fn weir_transport() -> TransportConfig {
    TransportConfig {
        // Loopback and Ethernet paths carry 1452-byte payloads; quinn discovers as much.
        max_datagram_size: 1452,
        ..TransportConfig::default()
    }
}

/// How weir protects its packets in a run.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protection {
    /// TLS 1.3, the suite the handshake picks (AES-128-GCM where the CPU has AES).
    Tls,
    /// TLS 1.3 with ChaCha20-Poly1305 only.
    ChaCha20,
    /// The integrity-only tag (insecure; for reference).
    Integrity,
    /// Not weir at all: the QUIC path (`Config::quic`, quinn-proto under weir-tokio's driver,
    /// weir's BBR as its controller).
    Quic,
}

fn identity() -> &'static Identity {
    static IDENTITY: std::sync::OnceLock<Identity> = std::sync::OnceLock::new();
    IDENTITY.get_or_init(|| Identity::self_signed(["localhost"]).expect("identity"))
}

pub(crate) fn weir_configs(protection: Protection) -> (Config, Config) {
    let server_transport = ServerConfig {
        transport: weir_transport(),
        ..ServerConfig::default()
    };
    let (server, client) = match protection {
        Protection::Integrity => (Config::insecure_server(), Config::insecure_client()),
        Protection::Quic => {
            let alpn: &[&[u8]] = &[b"weir-bench"];
            return (
                Config::quic(QuicConfig::server(identity(), alpn).expect("quic server")),
                Config::quic(QuicConfig::client(&pinned_client(), alpn).expect("quic client")),
            );
        }
        Protection::Tls | Protection::ChaCha20 => {
            let server = if protection == Protection::ChaCha20 {
                use weir_tokio::weir_core::crypto::rustls;
                let mut provider = rustls::crypto::ring::default_provider();
                provider.cipher_suites =
                    vec![rustls::crypto::ring::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256];
                let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(provider))
                    .with_protocol_versions(&[&rustls::version::TLS13])
                    .expect("tls 1.3")
                    .with_no_client_auth()
                    .with_single_cert(
                        identity().cert_chain().to_vec(),
                        identity().key().clone_key(),
                    )
                    .expect("server");
                config.alpn_protocols = vec![weir_tokio::weir_core::crypto::ALPN.to_vec()];
                Config::with_tls(TlsConfig::server_from_rustls(Arc::new(config)).expect("tls"))
            } else {
                Config::server(identity()).expect("server")
            };
            (server, Config::client(pinned_client()))
        }
    };
    (
        Config {
            server: Some(server_transport),
            ..server
        },
        Config {
            client: weir_transport(),
            ..client
        },
    )
}

fn pinned_client() -> ClientTls {
    ClientTls::pinned(vec![identity().fingerprint()]).expect("client")
}

async fn weir_pair(protection: Protection) -> (Endpoint, Endpoint) {
    let (server, client) = weir_configs(protection);
    let server = Endpoint::bind(loopback(), server)
        .await
        .expect("weir server");
    let client = Endpoint::bind(loopback(), client)
        .await
        .expect("weir client");
    (server, client)
}

/// Handshakes one after the other: `(wall, CPU)` per handshake. With `resume` the client
/// keeps one TLS configuration (and its session tickets) across them.
async fn weir_handshakes(n: usize, resume: bool) -> (Duration, Duration) {
    let (server, _) = weir_pair(Protection::Tls).await;
    let addr = server.local_addr();
    tokio::spawn(async move {
        while let Some(conn) = server.accept().await {
            tokio::spawn(async move {
                let _ = conn.closed().await;
            });
        }
    });
    let client = Endpoint::bind(
        loopback(),
        Config {
            client: weir_transport(),
            ..Config::client(pinned_client())
        },
    )
    .await
    .expect("client");
    // One connection first, so that a resumed run has a ticket. Tickets come after the
    // handshake: each connection stays open a moment to receive its own (a handshake's time is
    // its connect alone; the CPU, counted over the whole loop, is not spent while waiting).
    let first = client.connect(addr).await.expect("connect");
    tokio::time::sleep(TICKET_WAIT).await;
    first.close(VarInt::ZERO, b"done");
    let (cpu, mut wall) = (ProcessTime::now(), Duration::ZERO);
    for _ in 0..n {
        let started = Instant::now();
        let conn = if resume {
            client.connect(addr).await
        } else {
            // A fresh client configuration: no ticket to resume with.
            client.connect_tls(addr, pinned_client()).await
        }
        .expect("connect");
        wall += started.elapsed();
        if resume {
            assert!(conn.stats().is_some_and(|s| s.tls_resumed), "resumed");
        }
        tokio::time::sleep(TICKET_WAIT).await;
        conn.close(VarInt::ZERO, b"done");
    }
    let per = |d: Duration| d / u32::try_from(n.max(1)).unwrap_or(u32::MAX);
    (per(wall), per(cpu.elapsed()))
}

/// How long a handshake bench keeps each connection open for its session tickets.
const TICKET_WAIT: Duration = Duration::from_millis(2);

pub(crate) async fn weir_bulk(bytes: u64, protection: Protection) -> Bulk {
    let (server, client) = weir_pair(protection).await;
    let addr = server.local_addr();
    let receiver = tokio::spawn(async move {
        let conn = server.accept().await.expect("accept");
        let (mut send, mut recv) = conn.accept_bi().await.expect("stream");
        let mut n = 0u64;
        while let Some(chunk) = recv.read_chunk(usize::MAX).await.expect("read") {
            n += chunk.len() as u64;
        }
        send.write_all(&n.to_be_bytes()).await.expect("answer");
        send.finish().expect("finish");
        let _ = conn.closed().await;
    });
    let conn = client.connect(addr).await.expect("connect");
    let (mut send, mut recv) = conn.open_bi(0).await.expect("open");
    let chunk = Bytes::from(vec![0x5a; CHUNK]);
    let (cpu, wall) = (ProcessTime::now(), Instant::now());
    let mut sent = 0;
    while sent < bytes {
        send.write_chunk(chunk.clone()).await.expect("write");
        sent += CHUNK as u64;
    }
    send.finish().expect("finish");
    let answer = recv.read_to_end(8).await.expect("answer");
    let result = Bulk {
        elapsed: wall.elapsed(),
        cpu: cpu.elapsed(),
        bytes: u64::from_be_bytes(answer.try_into().expect("8 bytes")),
    };
    conn.close(VarInt::ZERO, b"done");
    let _ = receiver.await;
    result
}

pub(crate) async fn weir_latency(ticks: usize, protection: Protection) -> Latency {
    let (server, client) = weir_pair(protection).await;
    let addr = server.local_addr();
    tokio::spawn(async move {
        let conn = server.accept().await.expect("accept");
        while let Ok(m) = conn.read_datagram().await {
            let _ = conn.send_datagram(m.data);
        }
    });
    let conn = client.connect(addr).await.expect("connect");
    let mut h = histogram();
    let mut tick = tokio::time::interval(TICK);
    for _ in 0..ticks {
        tick.tick().await;
        let start = Instant::now();
        conn.send_datagram(Bytes::from_static(&[7; MESSAGE]))
            .expect("send");
        conn.read_datagram().await.expect("echo");
        let _ = h.record(start.elapsed().as_micros() as u64);
    }
    conn.close(VarInt::ZERO, b"done");
    latency(&h)
}

// ----- quinn -----

fn quinn_pair() -> (quinn::Endpoint, quinn::Endpoint) {
    let der = identity().cert_chain()[0].clone();
    let server_config =
        quinn::ServerConfig::with_single_cert(vec![der.clone()], identity().key().clone_key())
            .expect("server");
    let server = quinn::Endpoint::server(server_config, loopback()).expect("quinn server");
    let mut client = quinn::Endpoint::client(loopback()).expect("quinn client");
    client.set_default_client_config(quinn_client_config(der));
    (server, client)
}

fn quinn_client_config(
    der: quinn::rustls::pki_types::CertificateDer<'static>,
) -> quinn::ClientConfig {
    let mut roots = quinn::rustls::RootCertStore::empty();
    roots.add(der).expect("root");
    quinn::ClientConfig::with_root_certificates(Arc::new(roots)).expect("client")
}

/// Like [`weir_handshakes`], for quinn.
async fn quinn_handshakes(n: usize, resume: bool) -> (Duration, Duration) {
    let (server, client) = quinn_pair();
    let addr = server.local_addr().expect("address");
    tokio::spawn(async move {
        while let Some(incoming) = server.accept().await {
            tokio::spawn(async move {
                if let Ok(conn) = incoming.await {
                    let _ = conn.closed().await;
                }
            });
        }
    });
    let first = client
        .connect(addr, "localhost")
        .expect("connect")
        .await
        .expect("handshake");
    tokio::time::sleep(TICKET_WAIT).await;
    first.close(0u32.into(), b"done");
    let (cpu, mut wall) = (ProcessTime::now(), Duration::ZERO);
    for _ in 0..n {
        let started = Instant::now();
        let conn = if resume {
            client.connect(addr, "localhost").expect("connect")
        } else {
            let fresh = quinn_client_config(identity().cert_chain()[0].clone());
            client
                .connect_with(fresh, addr, "localhost")
                .expect("connect")
        };
        let conn = conn.await.expect("handshake");
        wall += started.elapsed();
        tokio::time::sleep(TICKET_WAIT).await;
        conn.close(0u32.into(), b"done");
    }
    let per = |d: Duration| d / u32::try_from(n.max(1)).unwrap_or(u32::MAX);
    (per(wall), per(cpu.elapsed()))
}

pub(crate) async fn quinn_bulk(bytes: u64) -> Bulk {
    let (server, client) = quinn_pair();
    let addr = server.local_addr().expect("address");
    let receiver = tokio::spawn(async move {
        let conn = server
            .accept()
            .await
            .expect("incoming")
            .await
            .expect("accept");
        let (mut send, mut recv) = conn.accept_bi().await.expect("stream");
        let mut n = 0u64;
        while let Some(chunk) = recv.read_chunk(usize::MAX, true).await.expect("read") {
            n += chunk.bytes.len() as u64;
        }
        send.write_all(&n.to_be_bytes()).await.expect("answer");
        send.finish().expect("finish");
        let _ = conn.closed().await;
    });
    let conn = client
        .connect(addr, "localhost")
        .expect("connect")
        .await
        .expect("handshake");
    let (mut send, mut recv) = conn.open_bi().await.expect("open");
    let chunk = Bytes::from(vec![0x5a; CHUNK]);
    let (cpu, wall) = (ProcessTime::now(), Instant::now());
    let mut sent = 0;
    while sent < bytes {
        send.write_chunk(chunk.clone()).await.expect("write");
        sent += CHUNK as u64;
    }
    send.finish().expect("finish");
    let answer = recv.read_to_end(8).await.expect("answer");
    let result = Bulk {
        elapsed: wall.elapsed(),
        cpu: cpu.elapsed(),
        bytes: u64::from_be_bytes(answer.try_into().expect("8 bytes")),
    };
    conn.close(0u32.into(), b"done");
    let _ = receiver.await;
    result
}

pub(crate) async fn quinn_latency(ticks: usize) -> Latency {
    let (server, client) = quinn_pair();
    let addr = server.local_addr().expect("address");
    tokio::spawn(async move {
        let conn = server
            .accept()
            .await
            .expect("incoming")
            .await
            .expect("accept");
        while let Ok(m) = conn.read_datagram().await {
            let _ = conn.send_datagram(m);
        }
    });
    let conn = client
        .connect(addr, "localhost")
        .expect("connect")
        .await
        .expect("handshake");
    let mut h = histogram();
    let mut tick = tokio::time::interval(TICK);
    for _ in 0..ticks {
        tick.tick().await;
        let start = Instant::now();
        conn.send_datagram(Bytes::from_static(&[7; MESSAGE]))
            .expect("send");
        conn.read_datagram().await.expect("echo");
        let _ = h.record(start.elapsed().as_micros() as u64);
    }
    conn.close(0u32.into(), b"done");
    latency(&h)
}

// ----- TCP -----

async fn tcp_pair() -> (tokio::net::TcpStream, tokio::net::TcpStream) {
    let tcp = TcpConfig {
        // Loopback: a large BDP so that buffers never limit the stream.
        expected_rate_bps: 10_000_000_000,
        expected_rtt: Duration::from_millis(1),
        ..TcpConfig::default()
    };
    let listener = tcp.listen(loopback()).expect("listen");
    let addr = listener.local_addr().expect("address");
    let accept = tokio::spawn(async move { listener.accept().await.expect("accept").0 });
    let client = tcp.connect(addr).await.expect("connect");
    (client, accept.await.expect("accept task"))
}

async fn tcp_bulk(bytes: u64) -> Bulk {
    let (mut client, mut server) = tcp_pair().await;
    let receiver = tokio::spawn(async move {
        let mut buf = vec![0u8; CHUNK];
        let mut n = 0u64;
        loop {
            let got = server.read(&mut buf).await.expect("read");
            if got == 0 {
                break;
            }
            n += got as u64;
        }
        server.write_all(&n.to_be_bytes()).await.expect("answer");
        server.shutdown().await.expect("shutdown");
    });
    let chunk = vec![0x5a; CHUNK];
    let (cpu, wall) = (ProcessTime::now(), Instant::now());
    let mut sent = 0;
    while sent < bytes {
        client.write_all(&chunk).await.expect("write");
        sent += CHUNK as u64;
    }
    client.shutdown().await.expect("shutdown");
    let mut answer = [0u8; 8];
    client.read_exact(&mut answer).await.expect("answer");
    let result = Bulk {
        elapsed: wall.elapsed(),
        cpu: cpu.elapsed(),
        bytes: u64::from_be_bytes(answer),
    };
    let _ = receiver.await;
    result
}

async fn tcp_latency(ticks: usize) -> Latency {
    let (mut client, mut server) = tcp_pair().await;
    tokio::spawn(async move {
        let mut buf = [0u8; MESSAGE];
        while server.read_exact(&mut buf).await.is_ok() {
            if server.write_all(&buf).await.is_err() {
                break;
            }
        }
    });
    let mut h = histogram();
    let mut tick = tokio::time::interval(TICK);
    let mut buf = [0u8; MESSAGE];
    for _ in 0..ticks {
        tick.tick().await;
        let start = Instant::now();
        client.write_all(&[7; MESSAGE]).await.expect("send");
        client.read_exact(&mut buf).await.expect("echo");
        let _ = h.record(start.elapsed().as_micros() as u64);
    }
    latency(&h)
}

fn main() {
    // `cargo bench` passes `--bench`; skip flags.
    let numbers: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let megabytes = numbers.first().copied().unwrap_or(1024);
    let ticks = numbers.get(1).copied().unwrap_or(300) as usize;
    let handshakes = numbers.get(2).copied().unwrap_or(200) as usize;
    let bytes = megabytes * 1024 * 1024;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "loopback, one connection, {megabytes} MiB bulk; {ticks} ticks of {MESSAGE}-byte echoes at 60 Hz; {handshakes} handshakes; {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    // WEIR_BENCH_ONLY=weir runs weir alone (for profiling).
    if std::env::var("WEIR_BENCH_ONLY").is_ok_and(|v| v == "weir") {
        let bulk = runtime.block_on(weir_bulk(bytes, Protection::Tls));
        let secs = bulk.elapsed.as_secs_f64();
        println!(
            "weir-tokio {:.0} Mbit/s, {:.2} CPU s/GB",
            bulk.bytes as f64 * 8.0 / secs / 1e6,
            bulk.cpu.as_secs_f64() / (bulk.bytes as f64 / 1e9)
        );
        return;
    }
    let rows = runtime.block_on(async {
        // Warm the allocator and the page cache of each path once, unmeasured.
        let _ = weir_bulk(64 << 20, Protection::Tls).await;
        let _ = quinn_bulk(64 << 20).await;
        let _ = tcp_bulk(64 << 20).await;
        vec![
            (
                "weir-tokio (TLS, AES-GCM)",
                weir_bulk(bytes, Protection::Tls).await,
                Some(weir_latency(ticks, Protection::Tls).await),
            ),
            (
                "weir-tokio (TLS, ChaCha20)",
                weir_bulk(bytes, Protection::ChaCha20).await,
                None,
            ),
            (
                "weir-tokio (integrity only)",
                weir_bulk(bytes, Protection::Integrity).await,
                None,
            ),
            (
                "quinn",
                quinn_bulk(bytes).await,
                Some(quinn_latency(ticks).await),
            ),
            (
                "weir-tokio QUIC path",
                weir_bulk(bytes, Protection::Quic).await,
                Some(weir_latency(ticks, Protection::Quic).await),
            ),
            (
                "tokio TCP",
                tcp_bulk(bytes).await,
                Some(tcp_latency(ticks).await),
            ),
        ]
    });
    println!(
        "{:<28} {:>14} {:>10} {:>12} {:>12}",
        "stack", "throughput", "CPU s/GB", "RTT p50", "RTT p99"
    );
    for (name, bulk, lat) in &rows {
        assert_eq!(bulk.bytes, bytes, "{name} delivered everything");
        let secs = bulk.elapsed.as_secs_f64();
        let gb = bulk.bytes as f64 / 1e9;
        let (p50, p99) = lat.as_ref().map_or(("-".to_owned(), "-".to_owned()), |l| {
            (format!("{:?}", l.p50), format!("{:?}", l.p99))
        });
        println!(
            "{name:<28} {:>9.0} Mbit/s {:>10.2} {:>12} {:>12}",
            bulk.bytes as f64 * 8.0 / secs / 1e6,
            bulk.cpu.as_secs_f64() / gb,
            p50,
            p99
        );
    }
    if let [
        (_, weir, _),
        (_, chacha, _),
        _,
        (_, quinn, _),
        (_, quic, _),
        _,
    ] = &rows[..]
    {
        println!(
            "weir (AES-GCM) / quinn throughput: {:.2}x; CPU per GB: {:.2}x; ChaCha20 / quinn: {:.2}x; QUIC path / quinn: {:.2}x (CPU per GB {:.2}x)",
            quinn.elapsed.as_secs_f64() / weir.elapsed.as_secs_f64(),
            weir.cpu.as_secs_f64() / quinn.cpu.as_secs_f64(),
            quinn.elapsed.as_secs_f64() / chacha.elapsed.as_secs_f64(),
            quinn.elapsed.as_secs_f64() / quic.elapsed.as_secs_f64(),
            quic.cpu.as_secs_f64() / quinn.cpu.as_secs_f64(),
        );
    }
    let shakes = runtime.block_on(async {
        [
            ("weir, full", weir_handshakes(handshakes, false).await),
            ("weir, resumed", weir_handshakes(handshakes, true).await),
            ("quinn, full", quinn_handshakes(handshakes, false).await),
            ("quinn, resumed", quinn_handshakes(handshakes, true).await),
        ]
    });
    println!("{:<16} {:>14} {:>14}", "handshake", "wall each", "CPU each");
    for (name, (wall, cpu)) in shakes {
        println!("{name:<16} {:>14?} {:>14?}", wall, cpu);
    }
}
