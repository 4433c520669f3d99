//! Loopback bulk throughput of weir-async-std (under smol) beside weir-tokio, in one run: the
//! same transfer (one connection, one stream, TLS 1.3 as by default, 1452-byte datagrams) on
//! each adapter in turn, several rounds alternating, the median reported with process CPU
//! seconds per GB. Both ends run in this process, so CPU covers sender and receiver.
//!
//! `cargo run --release -p weir-async-std --example throughput [-- MIB ROUNDS]`
//! (defaults: 1024 MiB, 3 rounds).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cpu_time::ProcessTime;
use weir_async_std::weir_core::config::{ServerConfig, TransportConfig};
use weir_async_std::weir_core::crypto::{ClientTls, Identity};
use weir_async_std::{Config, VarInt};

const CHUNK: usize = 256 * 1024;

/// One transfer's figures.
#[derive(Debug, Clone, Copy)]
struct Bulk {
    elapsed: Duration,
    cpu: Duration,
    bytes: u64,
}

impl Bulk {
    fn mbit_s(&self) -> f64 {
        self.bytes as f64 * 8.0 / self.elapsed.as_secs_f64() / 1e6
    }

    fn cpu_s_per_gb(&self) -> f64 {
        self.cpu.as_secs_f64() / (self.bytes as f64 / 1e9)
    }
}

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().expect("literal")
}

fn identity() -> &'static Identity {
    static IDENTITY: std::sync::OnceLock<Identity> = std::sync::OnceLock::new();
    IDENTITY.get_or_init(|| Identity::self_signed(["localhost"]).expect("identity"))
}

/// The same configurations for both adapters (they share the type).
fn configs() -> (Config, Config) {
    let transport = TransportConfig {
        max_datagram_size: 1452,
        ..TransportConfig::default()
    };
    let server = Config {
        server: Some(ServerConfig {
            transport: transport.clone(),
            ..ServerConfig::default()
        }),
        ..Config::server(identity()).expect("server")
    };
    let trust = ClientTls::pinned(vec![identity().fingerprint()]).expect("client");
    let client = Config {
        client: transport,
        ..Config::client(trust)
    };
    (server, client)
}

/// The transfer, written once over the adapters' shared connection type: the receiver counts
/// what arrives and answers with the count.
async fn receive(conn: weir_async_std::Connection) {
    let (mut send, mut recv) = conn.accept_bi().await.expect("stream");
    let mut n = 0u64;
    while let Some(chunk) = recv.read_chunk(usize::MAX).await.expect("read") {
        n += chunk.len() as u64;
    }
    send.write_all(&n.to_be_bytes()).await.expect("answer");
    send.finish().expect("finish");
    let _ = conn.closed().await;
}

async fn send(conn: &weir_async_std::Connection, bytes: u64) -> Bulk {
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
    Bulk {
        elapsed: wall.elapsed(),
        cpu: cpu.elapsed(),
        bytes: u64::from_be_bytes(answer.try_into().expect("8 bytes")),
    }
}

/// weir-async-std under smol: the receiver on smol's global executor, the sender in
/// `block_on`, each endpoint's driver on its thread.
fn smol_bulk(bytes: u64) -> Bulk {
    smol::block_on(async {
        let (server, client) = configs();
        let server = weir_async_std::Endpoint::bind(loopback(), server)
            .await
            .expect("server");
        let client = weir_async_std::Endpoint::bind(loopback(), client)
            .await
            .expect("client");
        let addr = server.local_addr();
        let receiver = smol::spawn(async move {
            receive(server.accept().await.expect("accept")).await;
        });
        let conn = client.connect(addr).await.expect("connect");
        let result = send(&conn, bytes).await;
        conn.close(VarInt::ZERO, b"done");
        receiver.await;
        result
    })
}

/// weir-tokio on a two-worker runtime: the receiver a task, the sender in `block_on`, each
/// endpoint's driver a task.
fn tokio_bulk(runtime: &tokio::runtime::Runtime, bytes: u64) -> Bulk {
    runtime.block_on(async {
        let (server, client) = configs();
        let server = weir_tokio::Endpoint::bind(loopback(), server)
            .await
            .expect("server");
        let client = weir_tokio::Endpoint::bind(loopback(), client)
            .await
            .expect("client");
        let addr = server.local_addr();
        let receiver = tokio::spawn(async move {
            receive(server.accept().await.expect("accept")).await;
        });
        let conn = client.connect(addr).await.expect("connect");
        let result = send(&conn, bytes).await;
        conn.close(VarInt::ZERO, b"done");
        receiver.await.expect("receiver");
        result
    })
}

fn median(mut runs: Vec<Bulk>) -> Bulk {
    runs.sort_by_key(|a| a.elapsed);
    runs[runs.len() / 2]
}

fn main() {
    let numbers: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let mib = numbers.first().copied().unwrap_or(1024);
    let rounds = numbers.get(1).copied().unwrap_or(3).max(1);
    let bytes = mib * 1024 * 1024;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "loopback, one connection, TLS 1.3, {mib} MiB x {rounds} rounds per adapter, \
         alternating; {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    // Warm each path once, unmeasured.
    let _ = smol_bulk(64 << 20);
    let _ = tokio_bulk(&runtime, 64 << 20);
    let (mut smol_runs, mut tokio_runs) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let s = smol_bulk(bytes);
        let t = tokio_bulk(&runtime, bytes);
        println!(
            "round {round}: weir-async-std (smol) {:.0} Mbit/s, weir-tokio {:.0} Mbit/s",
            s.mbit_s(),
            t.mbit_s()
        );
        assert_eq!(s.bytes, bytes.div_ceil(CHUNK as u64) * CHUNK as u64);
        assert_eq!(t.bytes, s.bytes);
        smol_runs.push(s);
        tokio_runs.push(t);
    }
    let (s, t) = (median(smol_runs), median(tokio_runs));
    println!("median:");
    println!(
        "  weir-async-std (smol)  {:>6.0} Mbit/s  {:.2} CPU s/GB",
        s.mbit_s(),
        s.cpu_s_per_gb()
    );
    println!(
        "  weir-tokio             {:>6.0} Mbit/s  {:.2} CPU s/GB",
        t.mbit_s(),
        t.cpu_s_per_gb()
    );
    println!(
        "  ratio async-std/tokio  x{:.3} throughput, x{:.3} CPU per GB",
        s.mbit_s() / t.mbit_s(),
        s.cpu_s_per_gb() / t.cpu_s_per_gb()
    );
}
