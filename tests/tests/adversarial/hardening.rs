//! The three cheap denials of service found by attacking a running server (issue 10), each
//! reproduced with crafted datagrams: an Initial that collides with a real client's connection
//! ID, floods of Initials from one address and from many, and a CONNECTION_CLOSE forged from a
//! client's address; and what the server does instead now.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use weir_core::TransportErrorCode;
use weir_core::config::{RetryPolicy, ServerConfig, TransportConfig};
use weir_core::connection::ConnectionError;
use weir_core::fuzzing::FloodPath;
use weir_core::wire::frame::ConnectionClose;
use weir_core::wire::{Frame, VarInt};
use weir_tests::epoch;

use crate::{Mode, Pair, client_initials, server_addr, spoofed};

const RTT: Duration = Duration::from_millis(50);

/// A real client and a server 50 ms apart, and strangers who inject datagrams into the server
/// (`weir_core::fuzzing::FloodPath`, the harness of the `endpoint_flood` fuzz target).
fn path(config: ServerConfig) -> FloodPath {
    FloodPath::new(epoch(), config, 7).expect("endpoints")
}

fn stranger() -> SocketAddr {
    SocketAddr::from(([192, 0, 2, 66], 40_000))
}

// ----- 1. Colliding connection IDs -----

/// The real client dials; its first Initial, as a stranger who predicted its destination
/// connection ID would forge it (here: an exact copy, so the ID certainly collides).
fn real_first_initial(path: &mut FloodPath) -> Vec<u8> {
    path.dial();
    path.client_datagrams_in_flight()
        .pop()
        .expect("the first Initial")
}

/// The attack as found: one Initial carrying the destination ID a real client is about to use,
/// sent first from another address, made that client's handshake fail for the whole idle
/// timeout. Initials now route by address as well as ID: the stranger gets a half-open
/// connection of its own, and the real client connects in one round trip.
#[test]
fn an_initial_that_collides_with_a_real_clients_id_does_not_block_its_handshake() {
    let mut path = path(ServerConfig::default());
    let t0 = path.now;
    let initial = real_first_initial(&mut path);
    path.inject(stranger(), &initial);
    assert_eq!(
        path.server.connection_count(),
        1,
        "the stranger's half-open"
    );
    path.run_until(t0 + Duration::from_secs(1));
    let took = path.client_connected.map(|t| t - t0);
    assert!(
        took.is_some_and(|t| t <= RTT + Duration::from_millis(1)),
        "client connected after {took:?}"
    );
    assert_eq!(path.server.connection_count(), 2);
}

/// The same collision arriving after the real client's Initial must not disturb the handshake
/// in progress either.
#[test]
fn a_colliding_initial_in_mid_handshake_does_not_disturb_it() {
    let mut path = path(ServerConfig::default());
    let t0 = path.now;
    let initial = real_first_initial(&mut path);
    path.run_until(t0 + FloodPath::ONE_WAY + Duration::from_millis(1));
    assert_eq!(path.server.handshakes_in_progress(), 1);
    path.inject(stranger(), &initial);
    path.run_until(t0 + Duration::from_secs(1));
    let took = path.client_connected.map(|t| t - t0);
    assert!(
        took.is_some_and(|t| t <= RTT + Duration::from_millis(1)),
        "client connected after {took:?}"
    );
}

// ----- 2. Floods of Initials -----

/// Initials of `n` distinct connections (1200 bytes each, as real clients send them).
fn flood(n: usize) -> Vec<Vec<u8>> {
    client_initials(n)
}

/// The attack as found: 10,000 Initials from one address filled the connection table, and
/// every real client was refused until the entries expired. The per-address limit now holds
/// that address to 16 half-open connections, below the threshold at which the server asks for
/// Retry, so a real client arriving mid-flood connects in one round trip.
#[test]
fn a_one_address_flood_of_ten_thousand_initials_leaves_room_for_a_real_client() {
    let mut path = path(ServerConfig::default());
    let t0 = path.now;
    let initials = flood(10_000);
    let per_address = ServerConfig::default().max_handshakes_per_address;
    // 12 MB in 2 s, as in the report; the real client dials half-way.
    let spacing = Duration::from_secs(2) / 10_000;
    let mut dialed = None;
    for (k, d) in initials.iter().enumerate() {
        path.run_until(t0 + spacing * k as u32);
        path.inject(stranger(), d);
        assert!(path.server.handshakes_in_progress() <= per_address + 1);
        if k == 5_000 {
            dialed = Some(path.now);
            path.dial();
        }
    }
    path.run_until(t0 + Duration::from_secs(3));
    let dialed = dialed.expect("dialed");
    let took = path.client_connected.map(|t| t - dialed);
    assert!(
        took.is_some_and(|t| t <= RTT + Duration::from_millis(1)),
        "client connected after {took:?}"
    );
    let stats = path.server.stats();
    assert_eq!(stats.connections_accepted, per_address as u64 + 1);
    assert_eq!(
        stats.initials_over_address_limit,
        (10_000 - per_address) as u64
    );
    assert!(path.server.connection_count() <= per_address + 1);
}

/// 10,000 Initials from 10,000 (spoofed) addresses: past the threshold of handshakes in
/// progress the server answers with Retry and keeps nothing, so the flood holds at most that
/// many half-open connections; a real client pays one extra round trip for the Retry.
/// Nothing the server sends to the spoofed addresses exceeds what they sent.
#[test]
fn a_many_address_flood_costs_no_state_beyond_the_retry_threshold() {
    let mut path = path(ServerConfig::default());
    let t0 = path.now;
    let RetryPolicy::WhenBusy(threshold) = ServerConfig::default().retry else {
        panic!("the default retries when busy");
    };
    let initials = flood(10_000);
    let spacing = Duration::from_secs(2) / 10_000;
    let mut dialed = None;
    for (k, d) in initials.iter().enumerate() {
        path.run_until(t0 + spacing * k as u32);
        path.inject(spoofed(k), d);
        // The spoofers' half-open connections, and the real client's once it proved its address.
        assert!(path.server.handshakes_in_progress() <= threshold + 1);
        if k == 5_000 {
            dialed = Some(path.now);
            path.dial();
        }
    }
    path.run_until(t0 + Duration::from_secs(3));
    let dialed = dialed.expect("dialed");
    let took = path.client_connected.map(|t| t - dialed);
    assert!(
        took.is_some_and(|t| t <= 2 * RTT + Duration::from_millis(1)),
        "client connected after {took:?}"
    );
    let stats = path.server.stats();
    assert_eq!(stats.connections_accepted, threshold as u64 + 1);
    assert!(stats.retries_sent >= (10_000 - threshold) as u64 - stats.stateless_dropped);
    for to in path.strangers_answered() {
        let (sent, received) = path.exchanged_with(to);
        assert!(
            sent <= 3 * received,
            "{sent} bytes to {to}, which sent {received}"
        );
    }
    // The half-open connections expire: 10 s without a word from their "clients".
    path.run_until(t0 + Duration::from_secs(15));
    assert_eq!(path.server.handshakes_in_progress(), 0);
    assert_eq!(path.server.stats().handshakes_timed_out, threshold as u64);
    assert_eq!(
        path.server.connection_count(),
        1,
        "only the real client is left"
    );
}

/// With Retry never asked for, a spoofed flood fills the server up to its limits, but its
/// half-open connections are gone 10 s after their single Initial.
#[test]
fn half_open_connections_expire_after_the_handshake_timeout() {
    let mut path = path(ServerConfig {
        retry: RetryPolicy::Never,
        ..ServerConfig::default()
    });
    let t0 = path.now;
    for (k, d) in flood(500).iter().enumerate() {
        path.inject(spoofed(k), d);
    }
    assert_eq!(path.server.handshakes_in_progress(), 500);
    path.run_until(t0 + Duration::from_millis(9_900));
    assert_eq!(path.server.handshakes_in_progress(), 500);
    path.run_until(t0 + Duration::from_millis(10_100));
    assert_eq!(path.server.handshakes_in_progress(), 0);
    assert_eq!(path.server.connection_count(), 0);
    assert_eq!(path.server.stats().handshakes_timed_out, 500);
}

// ----- 3. A close the client never heard of -----

/// The attack as found: a CONNECTION_CLOSE forged from the client's address stopped the
/// server's side, and the client sat until its idle timeout. The server now answers a peer's
/// close with one CONNECTION_CLOSE of its own (RFC 9000 §10.2.2), so the real client learns at
/// once.
#[test]
fn a_close_forged_from_the_clients_address_reaches_the_client_at_once() {
    let mut pair = Pair::new(TransportConfig::default(), false);
    pair.attack_frames(&[Frame::ConnectionClose(ConnectionClose::Application {
        error_code: VarInt::from_u32(7),
        reason: Bytes::from_static(b"forged"),
    })]);
    assert!(
        matches!(
            pair.server_closed(),
            Some(ConnectionError::ApplicationClosed { code: 7, .. })
        ),
        "{:?}",
        pair.server_closed()
    );
    let answers: Vec<Vec<u8>> = pair
        .captured
        .iter()
        .filter(|c| {
            c.frames
                .iter()
                .any(|f| matches!(f, Frame::ConnectionClose(_)))
        })
        .map(|c| c.datagram.clone())
        .collect();
    assert_eq!(answers.len(), 1, "one CONNECTION_CLOSE in answer, no more");
    for d in answers {
        pair.client
            .handle_datagram(pair.now, server_addr(), None, BytesMut::from(&d[..]));
    }
    pair.handle_events();
    assert!(
        matches!(
            pair.client_closed(),
            Some(ConnectionError::PeerTransportError { code, .. })
                if *code == TransportErrorCode::NO_ERROR
        ),
        "{:?}",
        pair.client_closed()
    );
}

/// A server that no longer knows a connection (it closed it while the client heard nothing,
/// then forgot it) answers the client's next packet with a stateless reset, and the client
/// ends the connection at once instead of waiting out its idle timeout.
#[test]
fn a_client_whose_server_forgot_the_connection_learns_it_from_a_stateless_reset() {
    let mut pair = Pair::new(TransportConfig::default(), false);
    let handle = pair.server_handle.expect("server connection");
    // The client hears nothing from here on: the server's close is lost.
    pair.mode = Mode::Attack;
    pair.server
        .connection(handle)
        .expect("server connection")
        .close(pair.now, VarInt::ZERO, b"going away");
    pair.advance(Duration::from_secs(5));
    assert_eq!(pair.server.connection_count(), 0, "the server forgot it");
    assert_eq!(pair.client_closed(), None);
    // The client speaks again.
    pair.mode = Mode::Normal;
    let id = pair
        .client
        .connection(pair.client_handle)
        .expect("client connection")
        .open_uni(0)
        .expect("stream");
    pair.client
        .connection(pair.client_handle)
        .expect("client connection")
        .write(id, b"anyone there?")
        .expect("write");
    let asked = pair.now;
    pair.advance(Duration::from_millis(1));
    assert_eq!(pair.server.stats().stateless_resets_sent, 1);
    assert_eq!(pair.client_closed(), Some(&ConnectionError::Reset));
    assert!(pair.now - asked <= Duration::from_millis(1));
}
