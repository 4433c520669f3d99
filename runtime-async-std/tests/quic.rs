//! The QUIC path (`Config::quic`) under async-io: quinn-proto's engine behind the same driver,
//! under smol and under async-std.

mod common;

use bytes::Bytes;
use futures_lite::io::AsyncWriteExt;
use weir_async_std::weir_core::crypto::ClientTls;
use weir_async_std::{
    Config, Endpoint, LaneConfig, LaneSendError, QuicConfig, SendDatagramError, UnsupportedOnQuic,
    VarInt,
};

use common::*;

const ALPN: &[u8] = b"weir-async-std-test";
const LEN: usize = 1024 * 1024;

both_executors! {
    /// Two weir-QUIC endpoints: streams echoed and checked byte for byte, a DATAGRAM frame
    /// there and back, lanes refused with their own error, a close code seen by the peer.
    async fn weir_quic_endpoints_talk_to_each_other(exec: Exec) {
        let server_config = QuicConfig::server(identity(), &[ALPN]).expect("quic server");
        let server = Endpoint::bind(loopback(), Config::quic(server_config)).await.expect("bind");
        let addr = server.local_addr();
        let serving = exec.spawn(async move {
            let conn = server.accept().await.expect("a connection");
            let message = conn.read_datagram().await.expect("datagram");
            conn.send_datagram(message.data).expect("echo");
            for _ in 0..2 {
                let (mut send, mut recv) = conn.accept_bi().await.expect("stream");
                let data = recv.read_to_end(LEN).await.expect("read");
                send.write_all(&data).await.expect("echo");
                send.close().await.expect("finish");
            }
            conn.closed().await
        });
        let trust = ClientTls::pinned(vec![identity().fingerprint()]).expect("pins");
        let client_config = QuicConfig::client(&trust, &[ALPN]).expect("quic client");
        let client = Endpoint::bind(loopback(), Config::quic(client_config)).await.expect("bind");
        let conn = client.connect(addr).await.expect("connect");
        assert_eq!(
            conn.lane(1, LaneConfig::default()).map(|_| ()),
            Err(LaneSendError::NotOnQuic)
        );
        assert_eq!(
            conn.send_datagram_on(3, Bytes::from_static(b"x"), None),
            Err(SendDatagramError::NotOnQuic(UnsupportedOnQuic::Channels))
        );
        conn.send_datagram(Bytes::from_static(b"over quic")).expect("datagram");
        assert_eq!(&conn.read_datagram().await.expect("echo").data[..], b"over quic");
        for seed in 0..2u64 {
            let (mut send, mut recv) = conn.open_bi(0).await.expect("open");
            let mut payload = vec![0u8; LEN];
            fill_pattern(seed, 0, &mut payload);
            let writer = exec.spawn(async move {
                send.write_all(&payload).await.expect("write");
                send.close().await.expect("finish");
            });
            let back = recv.read_to_end(LEN).await.expect("echo");
            writer.await;
            assert_eq!(back.len(), LEN);
            assert!(back.iter().enumerate().all(|(i, b)| *b == pattern_byte(seed, i as u64)));
        }
        conn.close(VarInt::from_u32(5), b"done");
        let why = serving.await;
        assert!(
            closed_with(&why, 5),
            "{why:?}"
        );
        assert!(client.shutdown(VarInt::ZERO, b"", TEST_BOUND).await);
    }
}
