//! Loopback comparison of weir-tokio with quinn (defaults, self-signed certificate) and a plain
//! tokio TCP stream: single-connection bulk throughput with process CPU seconds per GB, and
//! game-tick (60 Hz) small-message round trips. Prints a table; asserts nothing.
//!
//! `cargo bench -p weir-tokio --bench loopback [-- BYTES_MB TICKS]`
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
use weir_tokio::{Config, Endpoint, TcpConfig, VarInt};

const CHUNK: usize = 256 * 1024;
const MESSAGE: usize = 64;
const TICK: Duration = Duration::from_micros(16_667);

struct Bulk {
    elapsed: Duration,
    cpu: Duration,
    bytes: u64,
}

struct Latency {
    p50: Duration,
    p99: Duration,
}

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().expect("literal")
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds")
}

fn latency(h: &Histogram<u64>) -> Latency {
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

async fn weir_pair() -> (Endpoint, Endpoint) {
    let server = Endpoint::bind(
        loopback(),
        Config {
            server: Some(ServerConfig {
                transport: weir_transport(),
                ..ServerConfig::default()
            }),
            ..Config::default()
        },
    )
    .await
    .expect("weir server");
    let client = Endpoint::bind(
        loopback(),
        Config {
            client: weir_transport(),
            ..Config::default()
        },
    )
    .await
    .expect("weir client");
    (server, client)
}

async fn weir_bulk(bytes: u64) -> Bulk {
    let (server, client) = weir_pair().await;
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

async fn weir_latency(ticks: usize) -> Latency {
    let (server, client) = weir_pair().await;
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
    use quinn::rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer};
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("certificate");
    let der = CertificateDer::from(cert.cert);
    let key = PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der());
    let server_config =
        quinn::ServerConfig::with_single_cert(vec![der.clone()], key.into()).expect("server");
    let server = quinn::Endpoint::server(server_config, loopback()).expect("quinn server");
    let mut roots = quinn::rustls::RootCertStore::empty();
    roots.add(der).expect("root");
    let client_config =
        quinn::ClientConfig::with_root_certificates(Arc::new(roots)).expect("client");
    let mut client = quinn::Endpoint::client(loopback()).expect("quinn client");
    client.set_default_client_config(client_config);
    (server, client)
}

async fn quinn_bulk(bytes: u64) -> Bulk {
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

async fn quinn_latency(ticks: usize) -> Latency {
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
    let bytes = megabytes * 1024 * 1024;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "loopback, one connection, {megabytes} MiB bulk; {ticks} ticks of {MESSAGE}-byte echoes at 60 Hz; {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    // WEIR_BENCH_ONLY=weir runs weir alone (for profiling).
    if std::env::var("WEIR_BENCH_ONLY").is_ok_and(|v| v == "weir") {
        let bulk = runtime.block_on(weir_bulk(bytes));
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
        let _ = weir_bulk(64 << 20).await;
        let _ = quinn_bulk(64 << 20).await;
        let _ = tcp_bulk(64 << 20).await;
        vec![
            (
                "weir-tokio",
                weir_bulk(bytes).await,
                weir_latency(ticks).await,
            ),
            ("quinn", quinn_bulk(bytes).await, quinn_latency(ticks).await),
            ("tokio TCP", tcp_bulk(bytes).await, tcp_latency(ticks).await),
        ]
    });
    println!(
        "{:<12} {:>14} {:>12} {:>12} {:>12}",
        "stack", "throughput", "CPU s/GB", "RTT p50", "RTT p99"
    );
    for (name, bulk, lat) in &rows {
        assert_eq!(bulk.bytes, bytes, "{name} delivered everything");
        let secs = bulk.elapsed.as_secs_f64();
        let gb = bulk.bytes as f64 / 1e9;
        println!(
            "{name:<12} {:>9.0} Mbit/s {:>12.2} {:>12?} {:>12?}",
            bulk.bytes as f64 * 8.0 / secs / 1e6,
            bulk.cpu.as_secs_f64() / gb,
            lat.p50,
            lat.p99
        );
    }
    if let [(_, weir, _), (_, quinn, _), _] = &rows[..] {
        println!(
            "weir / quinn throughput: {:.2}x",
            quinn.elapsed.as_secs_f64() / weir.elapsed.as_secs_f64()
        );
    }
}
