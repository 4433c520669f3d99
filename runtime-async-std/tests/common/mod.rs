//! Helpers shared by the weir-async-std tests: the two executors every test runs under, the
//! bound every test ends by, TLS configurations and a checkable byte pattern.
#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use futures_lite::future;
use weir_async_std::weir_core::config::{ServerConfig, TransportConfig};
use weir_async_std::weir_core::connection::ConnectionError;
use weir_async_std::weir_core::crypto::{ClientTls, Identity};
use weir_async_std::{Config, ConnectionLost, Endpoint, RecvStream, SendStream};

/// Every test ends by this bound, not by hope.
pub const TEST_BOUND: Duration = Duration::from_secs(50);

/// The executor a test body runs under: smol's, or async-std's (discontinued, still
/// supported). Both drive async-io's reactor, which the adapter's sockets and timers use.
#[derive(Debug, Clone, Copy)]
pub enum Exec {
    /// `smol::block_on`, tasks on smol's global executor.
    Smol,
    /// `async_std::task::block_on`, tasks on async-std's executor.
    AsyncStd,
}

/// A spawned task's output, awaited.
pub type Joined<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl Exec {
    /// Runs `body` to its end on this executor, failing the test past [`TEST_BOUND`].
    pub fn run<F: Future>(self, body: F) {
        let bounded = future::or(async { Some(body.await) }, async {
            async_io::Timer::after(TEST_BOUND).await;
            None
        });
        let finished = match self {
            Self::Smol => smol::block_on(bounded),
            Self::AsyncStd => async_std::task::block_on(bounded),
        };
        assert!(
            finished.is_some(),
            "the test did not finish within {TEST_BOUND:?}"
        );
    }

    /// Spawns `task` on this executor. Keep the handle while the task must run: dropping it
    /// cancels the task under smol (and detaches it under async-std).
    pub fn spawn<T: Send + 'static>(
        self,
        task: impl Future<Output = T> + Send + 'static,
    ) -> Joined<T> {
        match self {
            Self::Smol => Box::pin(smol::spawn(task)),
            Self::AsyncStd => Box::pin(async_std::task::spawn(task)),
        }
    }
}

/// Declares a test body once and runs it under both executors, as `<name>::smol` and
/// `<name>::async_std`.
#[macro_export]
macro_rules! both_executors {
    ($(#[$meta:meta])* async fn $name:ident($exec:ident: Exec) $body:block) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn body($exec: Exec) $body

            #[test]
            fn smol() {
                Exec::Smol.run(body(Exec::Smol));
            }

            #[test]
            fn async_std() {
                Exec::AsyncStd.run(body(Exec::AsyncStd));
            }
        }
    };
}

/// A transport config for loopback: larger datagrams.
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

pub fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().expect("literal address")
}

pub async fn server() -> Endpoint {
    Endpoint::bind(loopback(), server_config())
        .await
        .expect("bind the server")
}

pub async fn client() -> Endpoint {
    Endpoint::bind(loopback(), client_config())
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

/// Writes `len` pattern bytes of `seed` through futures-io's `AsyncWrite`, then closes (which
/// finishes the stream).
pub async fn send_pattern(send: &mut SendStream, seed: u64, len: u64) {
    use futures_lite::io::AsyncWriteExt;
    let mut offset = 0u64;
    let mut chunk = vec![0u8; 64 * 1024];
    while offset < len {
        let n = chunk.len().min((len - offset) as usize);
        fill_pattern(seed, offset, &mut chunk[..n]);
        AsyncWriteExt::write_all(send, &chunk[..n])
            .await
            .expect("write");
        offset += n as u64;
    }
    send.close().await.expect("finish");
}

/// Reads a stream to its end through futures-io's `AsyncRead`, checking every byte against
/// the pattern of `seed`; returns the length.
pub async fn recv_pattern(recv: &mut RecvStream, seed: u64) -> u64 {
    use futures_lite::io::AsyncReadExt;
    let mut offset = 0u64;
    let mut buf = vec![0u8; 48 * 1024];
    loop {
        // futures-io's `read` (the inherent one is the typed-error method).
        let n = AsyncReadExt::read(recv, &mut buf).await.expect("read");
        if n == 0 {
            return offset;
        }
        for (i, b) in buf[..n].iter().enumerate() {
            let at = offset + i as u64;
            assert_eq!(
                *b,
                pattern_byte(seed, at),
                "stream {seed}: wrong byte at {at}"
            );
        }
        offset += n as u64;
    }
}

/// Whether the peer's application closed the connection with `code`.
pub fn closed_with(why: &ConnectionLost, code: u64) -> bool {
    matches!(
        why,
        ConnectionLost::Closed(ConnectionError::ApplicationClosed { code: c, .. }) if *c == code
    )
}
