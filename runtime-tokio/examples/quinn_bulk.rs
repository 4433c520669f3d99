//! The quinn baseline over real sockets: one quinn 0.11 connection moving a bulk stream for a
//! while, set up as `weir-peers` sets quinn up in the simulator (CUBIC, 1200-byte datagrams at
//! first and path MTU discovery up to 1452 bytes — `--no-mtu-discovery` keeps them at 1200 —,
//! 16 MiB stream, connection and send windows), so that a figure of the
//! simulator can be checked against the real stack through `weir proxy` and the same link model.
//!
//! ```sh
//! weir proxy --listen 127.0.0.1:5401 --upstream 127.0.0.1:5400 --rate 100mbit --rtt 100ms --buffer 1bdp &
//! cargo run --release -p weir-tokio --example quinn_bulk -- 127.0.0.1:5400 127.0.0.1:5401 20
//! ```
//!
//! Arguments: the server's address, the address the client connects to (the proxy's, or the
//! server's for a direct run), seconds of sending. For a real router between two network
//! namespaces, run the ends apart: `quinn_bulk recv LISTEN CERT_FILE SECONDS` in one and
//! `quinn_bulk send CONNECT CERT_FILE SECONDS` in the other. It prints the bytes the receiver read during
//! the sending window (as the simulator's matrix counts them), the goodput, the sender's path
//! statistics and how the connection ended.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use quinn::rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer};
use quinn::{IdleTimeout, MtuDiscoveryConfig, TransportConfig, VarInt};

const MIB: u32 = 1024 * 1024;
const CHUNK: usize = 64 * 1024;

/// quinn's settings in `weir-peers` (`QuinnConfig::default`): 1200-byte datagrams at first,
/// path MTU discovery up to 1452 bytes; `--no-mtu-discovery` as the first argument keeps
/// every datagram at 1200 bytes.
fn transport() -> Result<Arc<TransportConfig>, Box<dyn std::error::Error>> {
    let mut t = TransportConfig::default();
    let mtud = (!std::env::args().any(|a| a == "--no-mtu-discovery")).then(|| {
        let mut m = MtuDiscoveryConfig::default();
        m.upper_bound(1452);
        m
    });
    t.initial_mtu(1200)
        .min_mtu(1200)
        .mtu_discovery_config(mtud)
        .stream_receive_window(VarInt::from_u32(16 * MIB))
        .receive_window(VarInt::from_u32(16 * MIB))
        .send_window(u64::from(16 * MIB))
        .max_idle_timeout(Some(IdleTimeout::try_from(Duration::from_secs(120))?));
    Ok(Arc::new(t))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--no-mtu-discovery")
        .collect();
    match args.first().map(String::as_str) {
        Some("recv") => recv_only(&args[1..]).await,
        Some("send") => send_only(&args[1..]).await,
        _ => both(&args).await,
    }
}

/// A self-signed certificate for `localhost` and its key.
fn certificate()
-> Result<(CertificateDer<'static>, PrivatePkcs8KeyDer<'static>), Box<dyn std::error::Error>> {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()])?;
    let der = CertificateDer::from(cert.cert);
    let key = PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der());
    Ok((der, key))
}

/// A server endpoint on `listen` presenting `der`, with the simulator's quinn settings.
fn server_endpoint(
    der: CertificateDer<'static>,
    key: PrivatePkcs8KeyDer<'static>,
    listen: SocketAddr,
) -> Result<quinn::Endpoint, Box<dyn std::error::Error>> {
    let mut server_config = quinn::ServerConfig::with_single_cert(vec![der], key.into())?;
    server_config.transport_config(transport()?);
    Ok(quinn::Endpoint::server(server_config, listen)?)
}

/// The arguments of one end run alone: `ADDR CERT_FILE [SECONDS]` (`usage` when missing).
fn end_args<'a>(
    args: &'a [String],
    usage: &'static str,
) -> Result<(SocketAddr, &'a str, u64), Box<dyn std::error::Error>> {
    let addr = args.first().ok_or(usage)?.parse()?;
    let cert_file = args.get(1).ok_or(usage)?;
    let seconds = args.get(2).map_or(Ok(20), |s| s.parse())?;
    Ok((addr, cert_file, seconds))
}

fn client_endpoint(
    der: CertificateDer<'static>,
    local: SocketAddr,
) -> Result<quinn::Endpoint, Box<dyn std::error::Error>> {
    let mut roots = quinn::rustls::RootCertStore::empty();
    roots.add(der)?;
    let mut client_config = quinn::ClientConfig::with_root_certificates(Arc::new(roots))?;
    client_config.transport_config(transport()?);
    let mut client = quinn::Endpoint::client(local)?;
    client.set_default_client_config(client_config);
    Ok(client)
}

/// Reads one stream of one connection, counting into `read`.
async fn read_stream(server: quinn::Endpoint, read: Arc<AtomicU64>) -> Result<(), String> {
    let Some(incoming) = server.accept().await else {
        return Err("no connection".to_owned());
    };
    let conn = incoming.await.map_err(|e| e.to_string())?;
    let mut recv = conn.accept_uni().await.map_err(|e| e.to_string())?;
    loop {
        match recv.read_chunk(usize::MAX, true).await {
            Ok(Some(chunk)) => {
                read.fetch_add(chunk.bytes.len() as u64, Ordering::Relaxed);
            }
            Ok(None) => return Ok(()),
            Err(e) => return Err(format!("read: {e}")),
        }
    }
}

/// Writes 64 KiB chunks on one stream of `conn` for `seconds`; prints the sender's view.
async fn write_for(
    conn: &quinn::Connection,
    seconds: u64,
    read: Option<&AtomicU64>,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut send = conn.open_uni().await?;
    let chunk = Bytes::from(vec![0x42; CHUNK]);
    let start = Instant::now();
    let end = start + Duration::from_secs(seconds);
    let mut error = None;
    while Instant::now() < end {
        match tokio::time::timeout_at(end.into(), send.write_chunk(chunk.clone())).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                error = Some(e.to_string());
                break;
            }
            Err(_) => break,
        }
    }
    let window = start.elapsed();
    if let Some(read) = read {
        let bytes = read.load(Ordering::Relaxed);
        println!(
            "quinn bulk over {}: {bytes} B read in {:.3} s = {:.2} Mbit/s",
            conn.remote_address(),
            window.as_secs_f64(),
            bytes as f64 * 8.0 / window.as_secs_f64() / 1e6
        );
    }
    let stats = conn.stats();
    println!(
        "sender: {} packets sent, {} lost, {} congestion events, cwnd {} B, rtt {:?}",
        stats.path.sent_packets,
        stats.path.lost_packets,
        stats.path.congestion_events,
        stats.path.cwnd,
        stats.path.rtt
    );
    println!(
        "connection: {}",
        conn.close_reason()
            .map_or("open".to_owned(), |r| r.to_string())
    );
    if let Some(e) = error {
        println!("write failed: {e}");
    }
    conn.close(0u32.into(), b"done");
    Ok(())
}

/// Sender and receiver in this process (through a proxy between `server_addr` and `connect`).
async fn both(args: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    let server_addr: SocketAddr = args.first().map_or("127.0.0.1:5400", |a| a).parse()?;
    let connect: SocketAddr = args.get(1).map_or("127.0.0.1:5401", |a| a).parse()?;
    let seconds: u64 = args.get(2).map_or(Ok(20), |s| s.parse())?;
    let (der, key) = certificate()?;
    let server = server_endpoint(der.clone(), key, server_addr)?;
    let client = client_endpoint(der, "127.0.0.1:0".parse()?)?;
    // The receiver counts what it reads; the sender reads the count at the end of its window.
    let read = Arc::new(AtomicU64::new(0));
    let receiver = tokio::spawn(read_stream(server, read.clone()));
    let conn = client.connect(connect, "localhost")?.await?;
    write_for(&conn, seconds, Some(&read)).await?;
    receiver.abort();
    Ok(())
}

/// The receiving end alone (`recv LISTEN CERT_FILE SECONDS`), for a sender in another network
/// namespace: writes its certificate to `CERT_FILE`, reads one stream for `SECONDS` after the
/// first byte, prints the goodput.
async fn recv_only(args: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    let (listen, cert_file, seconds) = end_args(args, "recv LISTEN CERT_FILE SECONDS")?;
    let (der, key) = certificate()?;
    std::fs::write(cert_file, der.as_ref())?;
    let server = server_endpoint(der, key, listen)?;
    let read = Arc::new(AtomicU64::new(0));
    let reader = tokio::spawn(read_stream(server, read.clone()));
    while read.load(Ordering::Relaxed) == 0 && !reader.is_finished() {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let start = Instant::now();
    let outcome = tokio::time::timeout(Duration::from_secs(seconds), reader).await;
    let window = start.elapsed();
    let bytes = read.load(Ordering::Relaxed);
    println!(
        "receiver: {bytes} B read in {:.3} s = {:.2} Mbit/s; {}",
        window.as_secs_f64(),
        bytes as f64 * 8.0 / window.as_secs_f64() / 1e6,
        match outcome {
            Err(_) => "still open".to_owned(),
            Ok(Ok(Ok(()))) => "stream finished".to_owned(),
            Ok(Ok(Err(e))) => format!("ended: {e}"),
            Ok(Err(e)) => format!("reader failed: {e}"),
        }
    );
    Ok(())
}

/// The sending end alone (`send CONNECT CERT_FILE SECONDS`).
async fn send_only(args: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    let (connect, cert_file, seconds) = end_args(args, "send CONNECT CERT_FILE SECONDS")?;
    let der = CertificateDer::from(std::fs::read(cert_file)?);
    let local: SocketAddr = if connect.is_ipv4() {
        "0.0.0.0:0".parse()?
    } else {
        "[::]:0".parse()?
    };
    let client = client_endpoint(der, local)?;
    let conn = client.connect(connect, "localhost")?.await?;
    write_for(&conn, seconds, None).await
}
