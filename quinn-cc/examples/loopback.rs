//! quinn over real sockets with a controller of your choice — quinn's own or weir's through
//! this crate — moving one bulk stream for a while, set up as `weir-peers` sets quinn up in
//! the simulator (1200-byte datagrams at first, path MTU discovery up to 1452 bytes, 16 MiB
//! stream, connection and send windows), so that the simulator's figures can be checked
//! through `weir proxy`, which impairs real UDP with the simulator's link model:
//!
//! ```sh
//! weir proxy --listen 127.0.0.1:5401 --upstream 127.0.0.1:5400 --rate 10mbit --rtt 50ms --buffer 1bdp &
//! cargo run --release -p weir-quinn-cc --example loopback -- weir-bbr 127.0.0.1:5400 127.0.0.1:5401 20
//! ```
//!
//! Arguments: the controller (`cubic`, `newreno`, `bbr` for quinn's; `weir-bbr`, `weir-cubic`,
//! `weir-vegas`, `weir-newreno` for weir's), the server's address, the address the client
//! connects to (the proxy's, or the server's for a direct run), seconds of sending. The client
//! sends; it prints the bytes the server read during the sending window, the goodput, and the
//! sender's path statistics.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use quinn::congestion::{BbrConfig, ControllerFactory, CubicConfig, NewRenoConfig};
use quinn::rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer};
use quinn::{IdleTimeout, MtuDiscoveryConfig, TransportConfig, VarInt};
use weir_core::congestion::ControllerKind;
use weir_quinn_cc::WeirControllerFactory;

const MIB: u32 = 1024 * 1024;
const CHUNK: usize = 64 * 1024;

type Error = Box<dyn std::error::Error>;

/// The factory a controller name stands for.
fn factory(name: &str) -> Result<Arc<dyn ControllerFactory + Send + Sync>, Error> {
    Ok(match name {
        "cubic" => Arc::new(CubicConfig::default()),
        "newreno" => Arc::new(NewRenoConfig::default()),
        "bbr" => Arc::new(BbrConfig::default()),
        _ => {
            let kind: ControllerKind = name
                .strip_prefix("weir-")
                .ok_or_else(|| format!("unknown controller {name:?}"))?
                .parse()?;
            Arc::new(WeirControllerFactory::new(kind))
        }
    })
}

/// quinn's settings in `weir-peers` (`QuinnConfig::default`), with `controller`.
fn transport(controller: &str) -> Result<Arc<TransportConfig>, Error> {
    let mut mtud = MtuDiscoveryConfig::default();
    mtud.upper_bound(1452);
    let mut t = TransportConfig::default();
    t.initial_mtu(1200)
        .min_mtu(1200)
        .mtu_discovery_config(Some(mtud))
        .stream_receive_window(VarInt::from_u32(16 * MIB))
        .receive_window(VarInt::from_u32(16 * MIB))
        .send_window(u64::from(16 * MIB))
        .max_idle_timeout(Some(IdleTimeout::try_from(Duration::from_secs(120))?))
        .congestion_controller_factory(factory(controller)?);
    Ok(Arc::new(t))
}

#[tokio::main]
#[allow(clippy::disallowed_methods)] // a real run reads the wall clock; the crate never does
async fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let controller = args.first().map_or("weir-bbr", |a| a);
    let server_addr: SocketAddr = args.get(1).map_or("127.0.0.1:5400", |a| a).parse()?;
    let connect: SocketAddr = args.get(2).map_or("127.0.0.1:5401", |a| a).parse()?;
    let seconds: u64 = args.get(3).map_or(Ok(20), |s| s.parse())?;

    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()])?;
    let der = CertificateDer::from(cert.cert);
    let key = PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der());

    let mut server_config = quinn::ServerConfig::with_single_cert(vec![der.clone()], key.into())?;
    server_config.transport_config(transport(controller)?);
    let server = quinn::Endpoint::server(server_config, server_addr)?;

    let mut roots = quinn::rustls::RootCertStore::empty();
    roots.add(der)?;
    let mut client_config = quinn::ClientConfig::with_root_certificates(Arc::new(roots))?;
    client_config.transport_config(transport(controller)?);
    let mut client = quinn::Endpoint::client("127.0.0.1:0".parse()?)?;
    client.set_default_client_config(client_config);

    let read = Arc::new(AtomicU64::new(0));
    let receiver = tokio::spawn(read_stream(server, read.clone()));
    let conn = client.connect(connect, "localhost")?.await?;

    let mut send = conn.open_uni().await?;
    let chunk = Bytes::from(vec![0x42; CHUNK]);
    let start = Instant::now();
    let end = start + Duration::from_secs(seconds);
    while Instant::now() < end {
        match tokio::time::timeout_at(end.into(), send.write_chunk(chunk.clone())).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                println!("write failed: {e}");
                break;
            }
            Err(_) => break,
        }
    }
    let window = start.elapsed();
    let bytes = read.load(Ordering::Relaxed);
    let stats = conn.stats();
    println!(
        "quinn/{controller} over {connect}: {bytes} B read in {:.3} s = {:.2} Mbit/s; \
         {} packets sent, {} lost, {} congestion events, cwnd {} B, rtt {:?}",
        window.as_secs_f64(),
        bytes as f64 * 8.0 / window.as_secs_f64() / 1e6,
        stats.path.sent_packets,
        stats.path.lost_packets,
        stats.path.congestion_events,
        stats.path.cwnd,
        stats.path.rtt,
    );
    conn.close(0u32.into(), b"done");
    receiver.abort();
    Ok(())
}

/// Reads one stream of one connection, counting into `read`.
async fn read_stream(server: quinn::Endpoint, read: Arc<AtomicU64>) -> Result<(), String> {
    let incoming = server.accept().await.ok_or("no connection")?;
    let conn = incoming.await.map_err(|e| e.to_string())?;
    let mut recv = conn.accept_uni().await.map_err(|e| e.to_string())?;
    while let Some(chunk) = recv
        .read_chunk(usize::MAX, true)
        .await
        .map_err(|e| e.to_string())?
    {
        read.fetch_add(chunk.bytes.len() as u64, Ordering::Relaxed);
    }
    Ok(())
}
