//! The quinn baseline over real sockets: one quinn 0.11 connection moving a bulk stream for a
//! while, set up as `weir-peers` sets quinn up in the simulator (CUBIC, 1200-byte datagrams,
//! path-MTU discovery off, 16 MiB stream, connection and send windows), so that a figure of the
//! simulator can be checked against the real stack through `weir proxy` and the same link model.
//!
//! ```sh
//! weir proxy --listen 127.0.0.1:5401 --upstream 127.0.0.1:5400 --rate 100mbit --rtt 100ms --buffer 1bdp &
//! cargo run --release -p weir-tokio --example quinn_bulk -- 127.0.0.1:5400 127.0.0.1:5401 20
//! ```
//!
//! Arguments: the server's address, the address the client connects to (the proxy's, or the
//! server's for a direct run), seconds of sending. It prints the bytes the receiver read during
//! the sending window (as the simulator's matrix counts them), the goodput, the sender's path
//! statistics and how the connection ended.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use quinn::rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer};
use quinn::{IdleTimeout, TransportConfig, VarInt};

const MIB: u32 = 1024 * 1024;
const CHUNK: usize = 64 * 1024;

/// quinn's settings in `weir-peers` (`QuinnConfig::default`).
fn transport() -> Result<Arc<TransportConfig>, Box<dyn std::error::Error>> {
    let mut t = TransportConfig::default();
    t.initial_mtu(1200)
        .min_mtu(1200)
        .mtu_discovery_config(None)
        .stream_receive_window(VarInt::from_u32(16 * MIB))
        .receive_window(VarInt::from_u32(16 * MIB))
        .send_window(u64::from(16 * MIB))
        .max_idle_timeout(Some(IdleTimeout::try_from(Duration::from_secs(120))?));
    Ok(Arc::new(t))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let server_addr: SocketAddr = args.next().unwrap_or("127.0.0.1:5400".into()).parse()?;
    let connect: SocketAddr = args.next().unwrap_or("127.0.0.1:5401".into()).parse()?;
    let seconds: u64 = args.next().map_or(Ok(20), |s| s.parse())?;

    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()])?;
    let der = CertificateDer::from(cert.cert);
    let key = PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der());
    let mut server_config = quinn::ServerConfig::with_single_cert(vec![der.clone()], key.into())?;
    server_config.transport_config(transport()?);
    let server = quinn::Endpoint::server(server_config, server_addr)?;
    let mut roots = quinn::rustls::RootCertStore::empty();
    roots.add(der)?;
    let mut client_config = quinn::ClientConfig::with_root_certificates(Arc::new(roots))?;
    client_config.transport_config(transport()?);
    let local: SocketAddr = "127.0.0.1:0".parse()?;
    let mut client = quinn::Endpoint::client(local)?;
    client.set_default_client_config(client_config);

    // The receiver counts what it reads; the sender reads the count at the end of its window.
    let read = Arc::new(AtomicU64::new(0));
    let receiver = {
        let read = read.clone();
        tokio::spawn(async move {
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
        })
    };
    let conn = client.connect(connect, "localhost")?.await?;
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
    let bytes = read.load(Ordering::Relaxed);
    let stats = conn.stats();
    println!(
        "quinn bulk over {connect}: {bytes} B read in {:.3} s = {:.2} Mbit/s",
        window.as_secs_f64(),
        bytes as f64 * 8.0 / window.as_secs_f64() / 1e6
    );
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
    receiver.abort();
    Ok(())
}
