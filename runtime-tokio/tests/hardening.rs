//! Issue 10 over real loopback sockets: endpoints built from default configurations draw their
//! own randomness (different connection IDs, different token keys), and a connection the peer
//! closes wakes everything that waits on it with a typed error.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use weir_tokio::weir_core::config::{EndpointConfig, RetryPolicy, ServerConfig};
use weir_tokio::weir_core::connection::ConnectionError;
use weir_tokio::weir_core::crypto::{ClientTls, TlsConfig};
use weir_tokio::weir_core::endpoint::Endpoint as CoreEndpoint;
use weir_tokio::weir_core::wire::{ConnectionId, PartialDecode};
use weir_tokio::{Config, ConnectionLost, Endpoint, ReadError, VarInt, WriteError};

use common::*;

/// Waits at most this long for what must happen "at once" on loopback (a round trip is well
/// under a millisecond; an idle timeout is 30 s).
const AT_ONCE: Duration = Duration::from_secs(2);

/// A plain UDP socket standing in for a server: it only records what arrives.
fn listener() -> UdpSocket {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    socket
}

fn recv(socket: &UdpSocket) -> (Vec<u8>, SocketAddr) {
    let mut buf = vec![0u8; 2048];
    let (n, from) = socket.recv_from(&mut buf).expect("a datagram");
    buf.truncate(n);
    (buf, from)
}

/// Destination and source connection IDs of a datagram's first (long-header) packet.
fn ids(datagram: &[u8]) -> (ConnectionId, ConnectionId) {
    let (partial, _) = PartialDecode::new(BytesMut::from(datagram), 8).expect("decodes");
    (*partial.dcid(), *partial.scid().expect("long header"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_with_default_configurations_pick_different_connection_ids() {
    let fake_server = listener();
    let target = fake_server.local_addr().expect("addr");
    let mut clients = Vec::new();
    for _ in 0..2 {
        let client = Endpoint::bind("127.0.0.1:0".parse().expect("addr"), client_config())
            .await
            .expect("bind");
        let port = client.local_addr().port();
        let attempt = tokio::spawn(async move { client.connect(target).await });
        clients.push((port, attempt));
    }
    // The first Initial from each client (retransmissions come later, with the same IDs).
    let first = tokio::task::spawn_blocking(move || {
        let mut first: Vec<(u16, (ConnectionId, ConnectionId))> = Vec::new();
        while first.len() < 2 {
            let (datagram, from) = recv(&fake_server);
            if !first.iter().any(|(port, _)| *port == from.port()) {
                first.push((from.port(), ids(&datagram)));
            }
        }
        first
    })
    .await
    .expect("listener");
    for (_, attempt) in clients {
        attempt.abort();
    }
    let (a, b) = (first[0].1, first[1].1);
    assert_ne!(a.0, b.0, "first destination IDs");
    assert_ne!(a.1, b.1, "first source IDs");
}

/// A Retry token from one default server is refused by another one, at the same address pair:
/// their token keys differ. The first server accepts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_with_default_configurations_have_different_token_keys() {
    let config = || Config {
        server: Some(ServerConfig {
            retry: RetryPolicy::Always,
            ..ServerConfig::default()
        }),
        ..server_config()
    };
    let a = Endpoint::bind("127.0.0.1:0".parse().expect("addr"), config())
        .await
        .expect("bind");
    let b = Endpoint::bind("127.0.0.1:0".parse().expect("addr"), config())
        .await
        .expect("bind");
    // A client of our own, driven by hand, from one UDP socket.
    let socket = listener();
    let now = Instant::now();
    let trust = ClientTls::pinned(vec![identity().fingerprint()]).expect("trust");
    let mut client = CoreEndpoint::new(
        now,
        EndpointConfig::tls_fixed(5, TlsConfig::client(trust)),
        None,
    )
    .expect("client");
    client.connect(now, a.local_addr()).expect("connect");
    let mut buf = Vec::new();
    let t = client.poll_transmit(now, 1, &mut buf).expect("Initial");
    socket
        .send_to(&buf[..t.size], a.local_addr())
        .expect("send");
    let (retry, _) = tokio::task::spawn_blocking({
        let socket = socket.try_clone().expect("clone");
        move || recv(&socket)
    })
    .await
    .expect("listener");
    client.handle_datagram(now, a.local_addr(), None, BytesMut::from(&retry[..]));
    buf.clear();
    let t = client
        .poll_transmit(now, 1, &mut buf)
        .expect("Initial with the token");
    let with_token = buf[..t.size].to_vec();
    socket.send_to(&with_token, b.local_addr()).expect("send");
    socket.send_to(&with_token, a.local_addr()).expect("send");
    let deadline = tokio::time::Instant::now() + AT_ONCE;
    while (b.stats().invalid_tokens == 0 || a.stats().connections_accepted == 0)
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(b.stats().invalid_tokens, 1, "{:?}", b.stats());
    assert_eq!(b.stats().connections_accepted, 0);
    assert_eq!(a.stats().invalid_tokens, 0, "{:?}", a.stats());
    assert_eq!(a.stats().connections_accepted, 1);
}

/// The server's application closes the connection while the client waits in every way it can:
/// reading a stream, writing one the server does not read (blocked on flow control), reading a
/// message, accepting a stream, and `closed()`. Every one of them ends at once with the
/// server's reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_close_wakes_every_pending_operation_with_an_error() {
    let server = server("127.0.0.1:0").await;
    let addr = server.local_addr();
    let client = client_for(addr).await;
    let conn = client.connect(addr).await.expect("connect");
    let server_conn = server.accept().await.expect("accept");
    let (mut send, mut recv) = conn.open_bi(0).await.expect("open");
    send.write_all(b"hello").await.expect("first bytes");
    let (_server_send, _server_recv) = server_conn.accept_bi().await.expect("server accepts");
    let reader = tokio::spawn(async move { recv.read_chunk(1024).await });
    let writer = tokio::spawn(async move {
        let chunk = Bytes::from(vec![7u8; 1 << 20]);
        loop {
            if let Err(e) = send.write_chunk(chunk.clone()).await {
                return e;
            }
        }
    });
    let messages = tokio::spawn({
        let conn = conn.clone();
        async move { conn.read_datagram().await }
    });
    let acceptor = tokio::spawn({
        let conn = conn.clone();
        async move { conn.accept_bi().await.map(|_| ()) }
    });
    let closed = tokio::spawn({
        let conn = conn.clone();
        async move { conn.closed().await }
    });
    // Let every one of them block (the writer fills the flow-control window).
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!reader.is_finished() && !writer.is_finished() && !messages.is_finished());
    server_conn.close(VarInt::from_u32(42), b"server says bye");
    let expected = ConnectionLost::Closed(ConnectionError::ApplicationClosed {
        code: 42,
        reason: weir_tokio::weir_core::connection::Reason(Bytes::from_static(b"server says bye")),
    });
    let read = settle("the reader", reader).await;
    assert_eq!(read, Err(ReadError::ConnectionLost(expected.clone())));
    let write = settle("the writer", writer).await;
    assert_eq!(write, WriteError::ConnectionLost(expected.clone()));
    let message = settle("the message reader", messages).await;
    assert_eq!(message.map(|_| ()), Err(expected.clone()));
    assert_eq!(settle("accept_bi", acceptor).await, Err(expected.clone()));
    assert_eq!(settle("closed()", closed).await, expected);
}

/// What the task returned, which it must within [`AT_ONCE`].
async fn settle<T>(what: &str, task: tokio::task::JoinHandle<T>) -> T {
    tokio::time::timeout(AT_ONCE, task)
        .await
        .unwrap_or_else(|_| panic!("{what} still waits"))
        .expect("the task ran")
}
