//! An echo server: every bidirectional stream is sent back to its opener, every unreliable
//! message too.
//!
//! `cargo run -p weir-tokio --example echo_server -- 127.0.0.1:4433`

use std::net::SocketAddr;

use weir_tokio::weir_core::crypto::Identity;
use weir_tokio::{Config, Connection, Endpoint};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:4433".to_owned())
        .parse()?;
    // A fresh self-signed identity: clients pin the fingerprint printed below.
    let identity = Identity::self_signed(["localhost"])?;
    let endpoint = Endpoint::bind(addr, Config::server(&identity)?).await?;
    println!("pin: {}", identity.fingerprint());
    println!("echo server on {}", endpoint.local_addr());
    while let Some(conn) = endpoint.accept().await {
        println!("{} connected", conn.remote_address());
        tokio::spawn(echo_messages(conn.clone()));
        tokio::spawn(async move {
            while let Ok((mut send, mut recv)) = conn.accept_bi().await {
                tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut recv, &mut send).await;
                    let _ = send.finish();
                });
            }
            println!("{}: {}", conn.remote_address(), conn.closed().await);
        });
    }
    Ok(())
}

async fn echo_messages(conn: Connection) {
    while let Ok(message) = conn.read_datagram().await {
        let _ = conn.send_datagram(message.data);
    }
}
