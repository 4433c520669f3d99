//! Attacks with Initial packets and no handshake: floods of Initials from spoofed addresses
//! (with and without Retry), corrupted first Initials, and a forged Initial carrying
//! CONNECTION_CLOSE "from the server".

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use weir_core::TransportErrorCode;
use weir_core::config::{EndpointConfig, RetryPolicy, Seed, ServerConfig, TransportConfig};
use weir_core::connection::{ConnectionError, Event};
use weir_core::endpoint::Endpoint;
use weir_core::protect::integrity::TAG_LEN;
use weir_core::protect::{Crc32cKey, IdentityHeaderKey};
use weir_core::wire::frame::{ConnectionClose, HandshakeData};
use weir_core::wire::{
    ConnectionId, Frame, Header, PacketBuilder, PacketNumber, PartialDecode, VERSION_1,
};
use weir_tests::epoch;

use crate::{
    CID_LEN, Rng, client_addr, client_initials, encode, initial_packet, server_addr, spoofed, var,
};

// ----- Initial floods -----

/// With Retry, a flood of Initials from spoofed addresses costs the server no connection state,
/// and the Retry answers wait in a queue bounded by `max_stateless_responses`; every answer is
/// smaller than the Initial that caused it. Initials with forged tokens are counted and dropped.
#[test]
fn a_spoofed_initial_flood_with_retry_keeps_no_state() {
    let t0 = epoch();
    let max_stateless = EndpointConfig::default().max_stateless_responses;
    let mut server = Endpoint::new(
        t0,
        EndpointConfig {
            seed: Seed::Fixed(5),
            ..EndpointConfig::insecure_fixed(0)
        },
        Some(ServerConfig {
            retry: RetryPolicy::Always,
            ..ServerConfig::default()
        }),
    )
    .expect("server");
    let initials = client_initials(1000);
    for (i, d) in initials.iter().enumerate() {
        server.handle_datagram(t0, spoofed(i), None, BytesMut::from(&d[..]));
    }
    assert_eq!(server.connection_count(), 0);
    let stats = server.stats();
    assert_eq!(stats.retries_sent, max_stateless as u64);
    assert_eq!(stats.stateless_dropped, (1000 - max_stateless) as u64);
    let mut buf = Vec::new();
    let mut answers = 0;
    while let Some(t) = server.poll_transmit(t0, 1, &mut buf) {
        assert!(t.size < 1200, "a Retry of {} bytes amplifies", t.size);
        assert_eq!(t.destination, spoofed(answers));
        buf.clear();
        answers += 1;
    }
    assert_eq!(
        answers, max_stateless,
        "the queue holds at most max_stateless_responses"
    );

    // Forged tokens: counted, no state, no answer.
    let mut rng = Rng(3);
    let hello = Frame::Handshake(HandshakeData {
        offset: var(0),
        data: Bytes::from_static(&[0x01, 0x00]),
    });
    for i in 0..500 {
        let dcid = ConnectionId::new(&rng.bytes(8)).expect("cid");
        let scid = ConnectionId::new(&rng.bytes(8)).expect("cid");
        let token_len = 1 + rng.below(64);
        let token = Bytes::from(rng.bytes(token_len));
        let d = initial_packet(dcid, scid, token, &encode(std::slice::from_ref(&hello)));
        server.handle_datagram(t0, spoofed(i), None, BytesMut::from(&d[..]));
    }
    assert_eq!(server.connection_count(), 0);
    assert_eq!(server.stats().invalid_tokens, 500);
    assert!(server.poll_transmit(t0, 1, &mut buf).is_none());
}

/// Without Retry, a flood of Initials from spoofed addresses fills the endpoint up to
/// `max_connections` and no further: the rest are refused (counted), the refusals queue within
/// `max_stateless_responses`, no answer amplifies, and the slots free up after the idle timeout.
#[test]
fn a_spoofed_initial_flood_without_retry_is_capped_by_max_connections() {
    let t0 = epoch();
    let max_connections = 16;
    let max_stateless = 64;
    // Long enough for the unanswered connections to probe until their budget is spent.
    let idle = Duration::from_secs(20);
    let mut server = Endpoint::new(
        t0,
        EndpointConfig {
            seed: Seed::Fixed(5),
            max_connections,
            max_stateless_responses: max_stateless,
            ..EndpointConfig::insecure_fixed(0)
        },
        Some(ServerConfig {
            transport: TransportConfig {
                idle_timeout: idle,
                ..TransportConfig::default()
            },
            retry: RetryPolicy::Never,
            ..ServerConfig::default()
        }),
    )
    .expect("server");
    let n = 200;
    let initials = client_initials(n);
    let mut received: HashMap<SocketAddr, usize> = HashMap::new();
    let mut sent: HashMap<SocketAddr, usize> = HashMap::new();
    let mut buf = Vec::new();
    for (i, d) in initials.iter().enumerate() {
        server.handle_datagram(t0, spoofed(i), None, BytesMut::from(&d[..]));
        *received.entry(spoofed(i)).or_default() += d.len();
        assert!(server.connection_count() <= max_connections);
    }
    let stats = server.stats();
    assert_eq!(server.connection_count(), max_connections);
    assert_eq!(stats.connections_accepted, max_connections as u64);
    assert_eq!(stats.connections_refused, (n - max_connections) as u64);
    assert_eq!(
        stats.stateless_dropped,
        (n - max_connections - max_stateless) as u64,
        "refusals beyond the queue are dropped"
    );
    // Run the server for a while, sending into the void.
    let mut now = t0;
    let end = t0 + idle * 3;
    loop {
        while let Some(t) = server.poll_transmit(now, 1, &mut buf) {
            *sent.entry(t.destination).or_default() += t.size;
            buf.clear();
        }
        while server.poll_event().is_some() {}
        match server.poll_timeout() {
            Some(at) if at <= end => {
                now = now.max(at);
                server.handle_timeout(now);
            }
            _ => break,
        }
    }
    for (to, bytes) in &sent {
        let got = received.get(to).copied().unwrap_or(0);
        assert!(*bytes <= 3 * got, "{bytes} bytes to {to}, which sent {got}");
    }
    assert_eq!(
        server.connection_count(),
        0,
        "unanswered connections time out"
    );
    // The slots are free again.
    let more = client_initials(1);
    server.handle_datagram(now, spoofed(5000), None, BytesMut::from(&more[0][..]));
    assert_eq!(server.connection_count(), 1);
}

/// DESIGN.md §3: a datagram corrupted in flight is dropped, never delivered. A client's first
/// Initial with a broken integrity tag must not make the server (without Retry) create a
/// connection.
#[test]
fn a_corrupted_initial_creates_no_connection() {
    let t0 = epoch();
    let mut server = Endpoint::new(
        t0,
        EndpointConfig::insecure_fixed(0),
        Some(ServerConfig {
            transport: TransportConfig::default(),
            retry: RetryPolicy::Never,
            ..ServerConfig::default()
        }),
    )
    .expect("server");
    let mut d = client_initials(1).remove(0);
    let last = d.len() - 1;
    d[last] ^= 1; // the tag
    server.handle_datagram(t0, client_addr(), None, BytesMut::from(&d[..]));
    assert_eq!(server.stats().connections_accepted, 0);
    assert_eq!(server.connection_count(), 0);
}

/// What happens to the client's first Initial datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Lost,
    /// One bit of its source connection ID flipped (the integrity tag then fails).
    Corrupted,
}

/// Virtual time until the client is connected, when its first Initial meets `fate` and every
/// other datagram arrives at once.
fn handshake_time(fate: Fate) -> Duration {
    let t0 = epoch();
    let mut server = Endpoint::new(
        t0,
        EndpointConfig {
            seed: Seed::Fixed(21),
            ..EndpointConfig::insecure_fixed(0)
        },
        Some(ServerConfig {
            transport: TransportConfig::default(),
            retry: RetryPolicy::Never,
            ..ServerConfig::default()
        }),
    )
    .expect("server");
    let mut client = Endpoint::new(
        t0,
        EndpointConfig {
            seed: Seed::Fixed(22),
            ..EndpointConfig::insecure_fixed(0)
        },
        None,
    )
    .expect("client");
    client.connect(t0, server_addr()).expect("connect");
    let mut buf = Vec::new();
    let mut first = true;
    let mut now = t0;
    while now < t0 + Duration::from_secs(60) {
        while let Some(t) = client.poll_transmit(now, 1, &mut buf) {
            let mut d = buf[..t.size].to_vec();
            buf.clear();
            if std::mem::take(&mut first) {
                match fate {
                    Fate::Lost => continue,
                    // first byte, version, dcid length, dcid, scid length: the scid follows.
                    Fate::Corrupted => d[1 + 4 + 1 + CID_LEN + 1] ^= 0x10,
                }
            }
            server.handle_datagram(now, client_addr(), None, BytesMut::from(&d[..]));
        }
        while let Some(t) = server.poll_transmit(now, 1, &mut buf) {
            client.handle_datagram(now, server_addr(), None, BytesMut::from(&buf[..t.size]));
            buf.clear();
        }
        while server.poll_event().is_some() {}
        while let Some((_, event)) = client.poll_event() {
            if event == Event::Connected {
                return now - t0;
            }
        }
        now += Duration::from_millis(1);
        client.handle_timeout(now);
        server.handle_timeout(now);
    }
    panic!("no handshake within 60 s ({fate:?})");
}

/// DESIGN.md §3: a datagram corrupted in flight is dropped. A client's first Initial corrupted
/// in flight must cost no more than a lost one: the client's retransmission completes the
/// handshake.
#[test]
fn a_corrupted_first_initial_costs_no_more_than_a_lost_one() {
    let lost = handshake_time(Fate::Lost);
    let corrupted = handshake_time(Fate::Corrupted);
    assert!(
        corrupted <= lost + Duration::from_millis(5),
        "handshake after a lost first Initial: {lost:?}; after a corrupted one: {corrupted:?}"
    );
}

/// A client that has the server's first Initial (connected, handshake not yet confirmed), then
/// an Initial "from the server" carrying CONNECTION_CLOSE, with the server's source connection
/// ID or another one. Returns how the client closed, if it did.
fn client_after_forged_initial_close(same_scid: bool) -> Option<ConnectionError> {
    let t0 = epoch();
    let mut server = Endpoint::new(
        t0,
        EndpointConfig {
            seed: Seed::Fixed(31),
            ..EndpointConfig::insecure_fixed(0)
        },
        Some(ServerConfig {
            transport: TransportConfig::default(),
            retry: RetryPolicy::Never,
            ..ServerConfig::default()
        }),
    )
    .expect("server");
    let mut client = Endpoint::new(
        t0,
        EndpointConfig {
            seed: Seed::Fixed(32),
            ..EndpointConfig::insecure_fixed(0)
        },
        None,
    )
    .expect("client");
    let handle = client.connect(t0, server_addr()).expect("connect");
    let mut buf = Vec::new();
    let t = client
        .poll_transmit(t0, 1, &mut buf)
        .expect("client Initial");
    server.handle_datagram(t0, client_addr(), None, BytesMut::from(&buf[..t.size]));
    buf.clear();
    let t = server
        .poll_transmit(t0, 1, &mut buf)
        .expect("server Initial");
    let reply = buf[..t.size].to_vec();
    let (partial, _) = PartialDecode::new(BytesMut::from(&reply[..]), CID_LEN).expect("decodes");
    let (client_cid, server_cid) = (*partial.dcid(), *partial.scid().expect("long header"));
    client.handle_datagram(t0, server_addr(), None, BytesMut::from(&reply[..]));
    let mut events = Vec::new();
    while let Some((_, e)) = client.poll_event() {
        events.push(e);
    }
    assert!(events.contains(&Event::Connected));
    let scid = if same_scid {
        server_cid
    } else {
        ConnectionId::new(&[0x77; 8]).expect("cid")
    };
    let close = encode(&[Frame::ConnectionClose(ConnectionClose::Transport {
        error_code: var(TransportErrorCode::PROTOCOL_VIOLATION.into_inner()),
        frame_type: var(0),
        reason: Bytes::from_static(b"not your server"),
    })]);
    let header = Header::Initial {
        version: VERSION_1,
        dcid: client_cid,
        scid,
        token: Bytes::new(),
        number: PacketNumber::new(50, Some(0)),
    };
    let mut forged = Vec::new();
    let mut b = PacketBuilder::new(&mut forged, &header, 50, 1200, TAG_LEN).expect("header");
    b.buf().extend_from_slice(&close);
    b.finish(&Crc32cKey, &IdentityHeaderKey).expect("sealed");
    client.handle_datagram(t0, server_addr(), None, BytesMut::from(&forged[..]));
    let mut closed = None;
    while let Some((_, e)) = client.poll_event() {
        if let Event::Closed(error) = e {
            closed = Some(error);
        }
    }
    assert_eq!(
        client.connection(handle).map(|c| c.is_connected()),
        Some(closed.is_none())
    );
    closed
}

/// The control of the next test: the forged Initial is well-formed and reaches the client, so
/// with the server's own source connection ID it closes the connection.
#[test]
fn a_close_in_an_initial_from_the_server_closes_the_client() {
    let closed = client_after_forged_initial_close(true);
    assert!(
        matches!(
            closed,
            Some(ConnectionError::PeerTransportError { code, .. })
                if code == TransportErrorCode::PROTOCOL_VIOLATION
        ),
        "{closed:?}"
    );
}

/// RFC 9000 §7.2: once a client has received a valid Initial from the server, it discards
/// packets with another source connection ID. The fuzz target `connection_pair` found the
/// violation (commit ea81f9e) in the wild: a stale client Initial opened a second server
/// connection after the first one timed out, and that second connection's CONNECTION_CLOSE
/// closed the client (see `tests/tests/fuzz_bodies.rs`).
#[test]
fn the_client_discards_initials_with_another_source_connection_id() {
    assert_eq!(client_after_forged_initial_close(false), None);
}
