//! An echo client: sends a line on a stream and a message, prints what comes back.
//!
//! `cargo run -p weir-tokio --example echo_client -- 127.0.0.1:4433 PIN "hello"` (PIN: the
//! fingerprint the server printed)

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use weir_tokio::weir_core::crypto::{ClientTls, Fingerprint};
use weir_tokio::{Config, Endpoint, VarInt};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let server: SocketAddr = args
        .next()
        .unwrap_or_else(|| "127.0.0.1:4433".to_owned())
        .parse()?;
    let pin: Fingerprint = args.next().ok_or("the server's pin is missing")?.parse()?;
    let text = args.next().unwrap_or_else(|| "hello, weir".to_owned());
    let local: SocketAddr = if server.is_ipv6() {
        "[::]:0".parse()?
    } else {
        "0.0.0.0:0".parse()?
    };
    let endpoint = Endpoint::bind(local, Config::client(ClientTls::pinned(vec![pin])?)).await?;
    let conn = endpoint.connect(server).await?;

    let (mut send, mut recv) = conn.open_bi(0).await?;
    send.write_all(text.as_bytes()).await?;
    send.shutdown().await?;
    let mut echoed = String::new();
    recv.read_to_string(&mut echoed).await?;
    println!("stream echo: {echoed}");

    conn.send_datagram(bytes::Bytes::from(text.clone()))?;
    let message = tokio::time::timeout(Duration::from_secs(2), conn.read_datagram()).await??;
    println!("message echo: {}", String::from_utf8_lossy(&message.data));

    if let Some(stats) = conn.stats() {
        println!("srtt {:?}, {} packets sent", stats.srtt, stats.packets_sent);
    }
    conn.close(VarInt::ZERO, b"bye");
    endpoint
        .shutdown(VarInt::ZERO, b"bye", Duration::from_secs(1))
        .await;
    Ok(())
}
