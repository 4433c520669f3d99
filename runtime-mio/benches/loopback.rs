//! weir-mio against weir-tokio over loopback: one connection, one stream of `MIB` mebibytes
//! (default 1024) with TLS 1.3, the same transport settings and chunking as weir-tokio's own
//! loopback bench. weir-mio runs both ends on one `mio::Poll` in one thread; weir-tokio runs
//! on a current-thread runtime (one thread, the like-for-like figure) and on the two-worker
//! runtime its own bench uses. Best of `RUNS` each (default 3, interleaved), after an
//! unmeasured warm-up. Prints a table and the ratios; asserts only that every byte arrived.
//!
//! `cargo bench -p weir-mio --bench loopback [-- MIB RUNS]`

#[path = "../examples/bulk.rs"]
#[allow(dead_code)]
mod bulk;

use std::time::Instant;

use bulk::{Bulk, mio_bulk, report};
use weir_tokio::weir_core::config::{ServerConfig, TransportConfig};
use weir_tokio::weir_core::crypto::{ClientTls, Identity};

const CHUNK: usize = 256 * 1024;

fn transport() -> TransportConfig {
    TransportConfig {
        max_datagram_size: 1452,
        ..TransportConfig::default()
    }
}

/// weir-tokio's bulk transfer, as its own loopback bench does it.
async fn tokio_bulk(bytes: u64) -> Bulk {
    let identity = Identity::self_signed(["localhost"]).expect("identity");
    let pinned = ClientTls::pinned(vec![identity.fingerprint()]).expect("pins");
    let server_config = weir_tokio::Config {
        server: Some(ServerConfig {
            transport: transport(),
            ..ServerConfig::default()
        }),
        ..weir_tokio::Config::server(&identity).expect("server")
    };
    let client_config = weir_tokio::Config {
        client: transport(),
        ..weir_tokio::Config::client(pinned)
    };
    let loopback = "127.0.0.1:0".parse().expect("literal");
    let server = weir_tokio::Endpoint::bind(loopback, server_config)
        .await
        .expect("server");
    let client = weir_tokio::Endpoint::bind(loopback, client_config)
        .await
        .expect("client");
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
    let chunk = bytes::Bytes::from(vec![0x5a; CHUNK]);
    let (cpu, wall) = (cpu_time::ProcessTime::now(), Instant::now());
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
    conn.close(weir_tokio::VarInt::ZERO, b"done");
    let _ = receiver.await;
    result
}

/// The fastest of `runs`.
fn best(runs: Vec<Bulk>) -> Bulk {
    runs.into_iter()
        .min_by_key(|b| b.elapsed)
        .expect("at least one run")
}

fn main() {
    // `cargo bench` passes `--bench`; skip flags.
    let numbers: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let mib = numbers.first().copied().unwrap_or(1024);
    let runs = numbers.get(1).copied().unwrap_or(3) as usize;
    let bytes = mib << 20;
    let current = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let two = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "loopback, one connection, {mib} MiB, TLS 1.3, best of {runs}; {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    // Warm the allocator and the page cache once, unmeasured.
    let _ = mio_bulk(64 << 20, false);
    let _ = current.block_on(tokio_bulk(64 << 20));
    // Interleaved, so that load from elsewhere on the machine falls on all three alike.
    let (mut mio, mut tokio_one, mut tokio_two) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs.max(1) {
        mio.push(mio_bulk(bytes, false));
        tokio_one.push(current.block_on(tokio_bulk(bytes)));
        tokio_two.push(two.block_on(tokio_bulk(bytes)));
    }
    let (mio, tokio_one, tokio_two) = (best(mio), best(tokio_one), best(tokio_two));
    for (name, b) in [
        ("weir-mio, one thread", &mio),
        ("weir-tokio, current-thread runtime", &tokio_one),
        ("weir-tokio, 2 worker threads", &tokio_two),
    ] {
        assert_eq!(b.bytes, bytes, "{name} delivered everything");
        report(name, b);
    }
    let ratio = |other: &Bulk| other.elapsed.as_secs_f64() / mio.elapsed.as_secs_f64();
    println!(
        "weir-mio / weir-tokio throughput: {:.2}x (one thread), {:.2}x (2 workers); CPU per GB {:.2}x (one thread)",
        ratio(&tokio_one),
        ratio(&tokio_two),
        mio.cpu.as_secs_f64() / tokio_one.cpu.as_secs_f64(),
    );
}
