//! The QUIC path (`Config::quic`): weir-tokio speaking standard QUIC through quinn-proto,
//! tested against quinn (client and server, in this process) and against itself, over loopback.

mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::{TEST_BOUND, fill_pattern, identity, loopback, pattern_byte};
use tokio::io::AsyncWriteExt;
use weir_tokio::weir_core::connection::ConnectionError;
use weir_tokio::weir_core::crypto::{ClientTls, Identity};
use weir_tokio::weir_core::lanes::LaneConfig;
use weir_tokio::weir_core::wire::VarInt;
use weir_tokio::{
    Config, ConnectError, ConnectionLost, Endpoint, LaneSendError, QuicConfig, QuicConfigError,
    SendDatagramError, UnsupportedOnQuic,
};

const ALPN: &[u8] = b"weir-interop";
const BULK: u64 = 8 << 20;

fn trust() -> ClientTls {
    ClientTls::pinned(vec![identity().fingerprint()]).expect("pins")
}

async fn weir_quic_server() -> Endpoint {
    let config = QuicConfig::server(identity(), &[ALPN]).expect("quic server config");
    Endpoint::bind(loopback(), Config::quic(config))
        .await
        .expect("bind")
}

async fn weir_quic_client() -> Endpoint {
    let config = QuicConfig::client(&trust(), &[ALPN]).expect("quic client config");
    Endpoint::bind(loopback(), Config::quic(config))
        .await
        .expect("bind")
}

/// quinn with the same identity and application protocol (rustls with ring, as weir).
fn quinn_server() -> quinn::Endpoint {
    let id = identity();
    let mut tls = quinn::rustls::ServerConfig::builder_with_provider(Arc::new(
        quinn::rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&quinn::rustls::version::TLS13])
    .expect("tls 1.3")
    .with_no_client_auth()
    .with_single_cert(id.cert_chain().to_vec(), id.key().clone_key())
    .expect("certificate");
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls).expect("quic tls");
    let config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    quinn::Endpoint::server(config, loopback()).expect("quinn server")
}

/// A quinn client that pins the identity through weir's verifier.
fn quinn_client() -> quinn::Endpoint {
    let mut tls = (*trust().config).clone();
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls).expect("quic tls");
    let mut client = quinn::Endpoint::client(loopback()).expect("quinn client");
    client.set_default_client_config(quinn::ClientConfig::new(Arc::new(crypto)));
    client
}

/// `BULK` bytes of stream `seed`'s pattern.
fn payload(seed: u64) -> Vec<u8> {
    let mut data = vec![0; BULK as usize];
    fill_pattern(seed, 0, &mut data);
    data
}

fn check_pattern(seed: u64, data: &[u8]) {
    assert_eq!(data.len() as u64, BULK, "every byte, once");
    if let Some(at) = (0..data.len()).find(|&i| data[i] != pattern_byte(seed, i as u64)) {
        panic!("byte {at} of stream {seed} is wrong");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weir_quic_client_talks_to_a_quinn_server() {
    tokio::time::timeout(TEST_BOUND, async {
        let server = quinn_server();
        let addr = server.local_addr().expect("addr");
        let serving = tokio::spawn(async move {
            let conn = server
                .accept()
                .await
                .expect("incoming")
                .await
                .expect("handshake");
            // Echo datagrams, then the stream.
            let datagram = conn.read_datagram().await.expect("datagram");
            conn.send_datagram(datagram).expect("echo datagram");
            let (mut send, mut recv) = conn.accept_bi().await.expect("stream");
            let data = recv.read_to_end(BULK as usize).await.expect("read");
            send.write_all(&data).await.expect("echo");
            send.finish().expect("finish");
            conn.closed().await
        });

        let client = weir_quic_client().await;
        let conn = client.connect(addr).await.expect("connect to quinn");
        assert!(conn.max_datagram_size().expect("datagrams") >= 1000);
        conn.send_datagram(Bytes::from_static(b"tick 1"))
            .expect("datagram");
        let echoed = conn.read_datagram().await.expect("echoed datagram");
        assert_eq!(&echoed.data[..], b"tick 1");

        let (mut send, mut recv) = conn.open_bi(0).await.expect("open");
        send.write_all(&payload(1)).await.expect("write");
        send.finish().expect("finish");
        let back = recv.read_to_end(BULK as usize).await.expect("echo");
        check_pattern(1, &back);
        let stats = conn.stats().expect("stats");
        assert!(stats.bytes_sent > BULK && stats.bytes_received > BULK);
        assert!(stats.srtt > Duration::ZERO);

        conn.close(VarInt::from_u32(7), b"done");
        match serving.await.expect("server task") {
            quinn::ConnectionError::ApplicationClosed(close) => {
                assert_eq!(close.error_code, quinn::VarInt::from_u32(7));
                assert_eq!(&close.reason[..], b"done");
            }
            other => panic!("quinn saw {other:?}"),
        }
        assert!(client.shutdown(VarInt::ZERO, b"", TEST_BOUND).await);
    })
    .await
    .expect("within the bound");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quinn_client_talks_to_a_weir_quic_server() {
    tokio::time::timeout(TEST_BOUND, async {
        let server = weir_quic_server().await;
        let addr = server.local_addr();
        let serving = tokio::spawn(async move {
            let conn = server.accept().await.expect("a connection");
            let datagram = conn.read_datagram().await.expect("datagram");
            conn.send_datagram(datagram.data).expect("echo datagram");
            let mut recv = conn.accept_uni().await.expect("uni stream");
            let data = recv.read_to_end(BULK as usize).await.expect("read");
            check_pattern(2, &data);
            let mut send = conn.open_uni(0).await.expect("open uni");
            send.write_all(&data).await.expect("write back");
            send.finish().expect("finish");
            let lost = conn.closed().await;
            drop(conn);
            server.shutdown(VarInt::ZERO, b"", TEST_BOUND).await;
            lost
        });

        let client = quinn_client();
        let conn = client
            .connect(addr, "localhost")
            .expect("connect")
            .await
            .expect("handshake with weir");
        conn.send_datagram(Bytes::from_static(b"tick 2"))
            .expect("datagram");
        assert_eq!(&conn.read_datagram().await.expect("echo")[..], b"tick 2");
        let mut send = conn.open_uni().await.expect("open");
        send.write_all(&payload(2)).await.expect("write");
        send.finish().expect("finish");
        let mut recv = conn.accept_uni().await.expect("the way back");
        let back = recv.read_to_end(BULK as usize).await.expect("read back");
        check_pattern(2, &back);
        conn.close(quinn::VarInt::from_u32(9), b"bye");
        match serving.await.expect("server task") {
            ConnectionLost::Closed(ConnectionError::ApplicationClosed { code, reason }) => {
                assert_eq!(code, 9);
                assert_eq!(&reason.0[..], b"bye");
            }
            other => panic!("weir saw {other:?}"),
        }
        client.wait_idle().await;
    })
    .await
    .expect("within the bound");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weir_quic_endpoints_talk_to_each_other() {
    tokio::time::timeout(TEST_BOUND, async {
        let server = weir_quic_server().await;
        let addr = server.local_addr();
        let serving = tokio::spawn(async move {
            let conn = server.accept().await.expect("a connection");
            for _ in 0..4 {
                let (mut send, mut recv) = conn.accept_bi().await.expect("stream");
                tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut recv, &mut send).await;
                    let _ = send.shutdown().await;
                });
            }
            let _ = conn.closed().await;
        });
        let client = weir_quic_client().await;
        let conn = client.connect(addr).await.expect("connect");

        // Lanes and weir's datagram extras are refused with their own errors.
        assert_eq!(
            conn.lane(1, LaneConfig::default()).map(|_| ()),
            Err(LaneSendError::NotOnQuic)
        );
        assert_eq!(
            conn.send_datagram_on(3, Bytes::from_static(b"x"), None),
            Err(SendDatagramError::NotOnQuic(UnsupportedOnQuic::Channels))
        );
        assert_eq!(
            conn.send_datagram_on(0, Bytes::from_static(b"x"), Some(Duration::from_millis(50))),
            Err(SendDatagramError::NotOnQuic(UnsupportedOnQuic::TimeToLive))
        );

        // Four concurrent echoed streams, each checked byte for byte.
        let mut echoes = Vec::new();
        for seed in 10..14u64 {
            let (mut send, mut recv) = conn.open_bi(seed as i32).await.expect("open");
            echoes.push(tokio::spawn(async move {
                let writer = tokio::spawn(async move {
                    send.write_all(&payload(seed)).await.expect("write");
                    send.finish().expect("finish");
                });
                let back = recv.read_to_end(BULK as usize).await.expect("echo");
                writer.await.expect("writer");
                check_pattern(seed, &back);
            }));
        }
        for echo in echoes {
            echo.await.expect("stream echoed");
        }
        drop(conn);
        assert!(client.shutdown(VarInt::ZERO, b"", TEST_BOUND).await);
        serving.await.expect("server task");
    })
    .await
    .expect("within the bound");
}

#[tokio::test]
async fn a_wrong_pin_fails_the_quic_handshake() {
    tokio::time::timeout(TEST_BOUND, async {
        let server = weir_quic_server().await;
        let other = Identity::self_signed(["localhost"]).expect("identity");
        let trust = ClientTls::pinned(vec![other.fingerprint()]).expect("pins");
        let config = QuicConfig::client(&trust, &[ALPN]).expect("config");
        let client = Endpoint::bind(loopback(), Config::quic(config))
            .await
            .expect("bind");
        match client.connect(server.local_addr()).await {
            // This end's verifier refused the certificate: a TLS alert closes the handshake.
            Err(ConnectError::Handshake(ConnectionLost::Closed(
                ConnectionError::TransportError(error),
            ))) => assert!(
                error.code.tls_alert().is_some(),
                "a TLS alert, not {error:?}"
            ),
            other => panic!("expected a handshake failure, got {other:?}"),
        }
    })
    .await
    .expect("within the bound");
}

#[tokio::test]
async fn quic_configurations_are_checked() {
    assert!(matches!(
        QuicConfig::client(&trust(), &[]),
        Err(QuicConfigError::NoAlpn)
    ));
    assert!(matches!(
        QuicConfig::server(identity(), &[b""]),
        Err(QuicConfigError::NoAlpn)
    ));
    // A server-only QUIC endpoint cannot connect.
    let server = weir_quic_server().await;
    assert_eq!(
        server.connect(server.local_addr()).await.map(|_| ()),
        Err(ConnectError::NoQuicClient)
    );
}
