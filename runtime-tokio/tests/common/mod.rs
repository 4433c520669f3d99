//! Helpers shared by the loopback tests.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use weir_tokio::weir_core::config::{ServerConfig, TransportConfig};
use weir_tokio::weir_core::crypto::{ClientTls, Identity};
use weir_tokio::{Config, Endpoint};

/// Every test ends by this bound, not by hope.
pub const TEST_BOUND: Duration = Duration::from_secs(50);

/// A transport config for loopback: larger datagrams, windows roomy enough for a fast path.
pub fn transport() -> TransportConfig {
    TransportConfig {
        max_datagram_size: 1452,
        ..TransportConfig::default()
    }
}

/// The servers' identity (one key generation for the whole test binary).
pub fn identity() -> &'static Identity {
    static IDENTITY: std::sync::OnceLock<Identity> = std::sync::OnceLock::new();
    IDENTITY.get_or_init(|| Identity::self_signed(["localhost"]).expect("identity"))
}

/// TLS, as every endpoint has by default: a server with [`identity`]…
pub fn server_config() -> Config {
    let tls = Config::server(identity()).expect("server tls");
    Config {
        server: Some(ServerConfig {
            transport: transport(),
            ..ServerConfig::default()
        }),
        client: transport(),
        ..tls
    }
}

/// …and a client that pins it.
pub fn client_config() -> Config {
    let trust = ClientTls::pinned(vec![identity().fingerprint()]).expect("client tls");
    Config {
        client: transport(),
        ..Config::client(trust)
    }
}

/// `127.0.0.1:0`: a loopback address with a port the kernel picks.
pub fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().expect("literal")
}

pub async fn server(addr: &str) -> Endpoint {
    Endpoint::bind(addr.parse().expect("literal address"), server_config())
        .await
        .expect("bind the server")
}

pub async fn client_for(server: SocketAddr) -> Endpoint {
    let any: SocketAddr = if server.is_ipv6() {
        "[::1]:0".parse().expect("literal")
    } else {
        "127.0.0.1:0".parse().expect("literal")
    };
    Endpoint::bind(any, client_config())
        .await
        .expect("bind the client")
}

/// The byte at `offset` of stream `seed`'s pattern: every byte depends on its position, so a
/// lost, duplicated or misplaced chunk shows.
pub fn pattern_byte(seed: u64, offset: u64) -> u8 {
    let x = offset
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(seed.wrapping_mul(0xD1B5_4A32_D192_ED03));
    (x >> 56) as u8 ^ (offset as u8)
}

pub fn fill_pattern(seed: u64, offset: u64, buf: &mut [u8]) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b = pattern_byte(seed, offset + i as u64);
    }
}

/// Checks `data` against the pattern from `offset`; returns the first bad offset.
pub fn check_pattern(seed: u64, offset: u64, data: &[u8]) -> Result<(), u64> {
    match data
        .iter()
        .enumerate()
        .find(|(i, b)| **b != pattern_byte(seed, offset + *i as u64))
    {
        Some((i, _)) => Err(offset + i as u64),
        None => Ok(()),
    }
}

/// Sends `len` pattern bytes of `seed` on `send`, then finishes.
pub async fn send_pattern(send: &mut weir_tokio::SendStream, seed: u64, len: u64) {
    let mut offset = 0u64;
    let mut chunk = vec![0u8; 64 * 1024];
    while offset < len {
        let n = chunk.len().min((len - offset) as usize);
        fill_pattern(seed, offset, &mut chunk[..n]);
        send.write_chunk(bytes::Bytes::copy_from_slice(&chunk[..n]))
            .await
            .expect("write");
        offset += n as u64;
    }
    send.finish().expect("finish");
}

/// Reads a stream to its end, checking every byte against the pattern of `seed`; returns the
/// length.
pub async fn recv_pattern(recv: &mut weir_tokio::RecvStream, seed: u64) -> u64 {
    let mut offset = 0u64;
    while let Some(chunk) = recv.read_chunk(usize::MAX).await.expect("read") {
        if let Err(at) = check_pattern(seed, offset, &chunk) {
            panic!("stream {seed}: wrong byte at offset {at}");
        }
        offset += chunk.len() as u64;
    }
    offset
}
