//! weir-mio over loopback: both endpoints on one `mio::Poll` in the test's thread. What every
//! adapter must do (integrity, close and drain, idle timeout, messages, a wrong pin...) is in
//! the conformance suite (`tests/tests/conformance`); here, what is weir-mio's own.

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{CLIENT, Pair, SERVER, Who, configs, loopback};
use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token};
use weir_mio::weir_core::config::EndpointConfig;
use weir_mio::weir_core::connection::ConnectionError;
use weir_mio::{
    BindError, Config, ConnectError, Endpoint, Event, SocketConfig, SocketConfigError, VarInt,
};

#[test]
fn close_all_shuts_down_and_refuses_new_connections() {
    let mut pair = Pair::new();
    let _ = pair.connect();
    let _ = pair.connect();
    assert_eq!(pair.server.connection_count(), 2);
    pair.server.close_all(VarInt::from(1u32), b"maintenance");
    assert!(pair.server.is_closing());
    let mut client_closed = 0;
    pair.run_until(Duration::from_secs(10), |pair, events| {
        for (who, _, event) in events {
            if let (Who::Client, Event::Closed(ConnectionError::ApplicationClosed { code, .. })) =
                (who, event)
            {
                assert_eq!(code, 1);
                client_closed += 1;
            }
        }
        pair.server.connection_count() == 0 && pair.client.connection_count() == 0
    });
    assert_eq!(client_closed, 2);
    assert_eq!(
        pair.server.connect(pair.client.local_addr()),
        Err(ConnectError::ShuttingDown)
    );
}

#[test]
fn keep_alive_holds_a_quiet_connection_open() {
    let idle = Duration::from_millis(300);
    let mut pair = Pair::with(configs(|t| {
        t.idle_timeout = idle;
        t.keep_alive_interval = Some(Duration::from_millis(50));
    }));
    let _ = pair.connect();
    let until = Instant::now() + idle * 4;
    pair.run_until(Duration::from_secs(10), |_, events| {
        for (who, _, event) in events {
            if let Event::Closed(reason) = event {
                panic!("{who:?} closed: {reason}");
            }
        }
        Instant::now() >= until
    });
}

#[test]
fn a_killed_peer_is_reported_as_an_idle_timeout() {
    let idle = Duration::from_millis(400);
    let mut pair = Pair::with(configs(|t| t.idle_timeout = idle));
    let (client, _) = pair.connect();
    // The server process "dies": its socket closes, nothing says goodbye.
    let server_addr = pair.server.local_addr();
    drop(std::mem::replace(
        &mut pair.server,
        Endpoint::bind(loopback(), configs(|_| {}).0).expect("bind"),
    ));
    // Keep the client talking so that its datagrams meet the closed port.
    let now = pair.client.now();
    let conn = pair.client.connection(client).expect("connection");
    conn.send_datagram(now, 0, Bytes::from_static(b"anyone?"), None)
        .expect("datagram");
    let mut lost = None;
    pair.run_until(Duration::from_secs(10), |_, events| {
        for (who, handle, event) in events {
            if let (Who::Client, Event::Closed(reason)) = (who, event) {
                assert_eq!(handle, client);
                lost = Some(reason);
            }
        }
        lost.is_some()
    });
    assert!(
        matches!(lost, Some(ConnectionError::TimedOut(_))),
        "typed idle timeout, got {lost:?}"
    );
    // Whatever the kernel reported about the closed port (an unconnected socket may hear of
    // ICMP port unreachable, or not) was counted and survived: the client kept running.
    let stats = pair.client.socket_stats();
    eprintln!("client socket after the peer at {server_addr} died: {stats:?}");
    assert_eq!(stats.other_recv_errors, 0);
}

#[test]
fn insecure_and_invalid_configurations_are_refused() {
    // The integrity-only protection must be asked for twice.
    let insecure = Config {
        allow_insecure: false,
        ..Config::insecure_server()
    };
    assert!(matches!(
        Endpoint::bind(loopback(), insecure),
        Err(BindError::InsecureRefused)
    ));
    assert!(Endpoint::bind(loopback(), Config::insecure_server()).is_ok());
    // No security at all is a configuration error.
    let none = Config {
        endpoint: EndpointConfig::default(),
        ..Config::default()
    };
    assert!(matches!(
        Endpoint::bind(loopback(), none),
        Err(BindError::Config(_))
    ));
    // Bad socket tuning.
    let mut zero = configs(|_| {}).1;
    zero.socket = SocketConfig {
        recv_buffer: Some(0),
        ..SocketConfig::default()
    };
    assert!(matches!(
        Endpoint::bind(loopback(), zero),
        Err(BindError::Socket(SocketConfigError::Zero("recv_buffer")))
    ));
    // An address of the other family.
    let mut client = Endpoint::bind(loopback(), configs(|_| {}).1).expect("bind");
    assert!(matches!(
        client.connect("[::1]:4433".parse().expect("literal")),
        Err(ConnectError::AddressFamily { .. })
    ));
    // A client cannot accept: a server-only endpoint cannot connect.
    let mut server = Endpoint::bind(loopback(), configs(|_| {}).0).expect("bind");
    assert!(matches!(
        server.connect(client.local_addr()),
        Err(ConnectError::Refused(_))
    ));
}

#[test]
fn foreign_tokens_are_left_alone() {
    let mut poll = Poll::new().expect("poll");
    let mut endpoint = Endpoint::bind(loopback(), configs(|_| {}).0).expect("bind");
    endpoint
        .register(poll.registry(), SERVER)
        .expect("register");
    // A socket of the application's own, under another token.
    const MINE: Token = Token(42);
    let mut mine = UdpSocket::bind(loopback()).expect("bind");
    poll.registry()
        .register(&mut mine, MINE, Interest::READABLE)
        .expect("register");
    let sender = std::net::UdpSocket::bind(loopback()).expect("bind");
    sender
        .send_to(b"not weir", mine.local_addr().expect("address"))
        .expect("send");
    // The endpoint's first drive reads its (empty) socket; then it has nothing to do.
    endpoint.drive();
    assert_eq!(endpoint.timeout(), None, "idle endpoint waits for events");
    let mut events = Events::with_capacity(8);
    let bound = Instant::now() + Duration::from_secs(5);
    let mut seen_mine = false;
    while !seen_mine {
        assert!(Instant::now() < bound, "the foreign event never came");
        poll.poll(&mut events, Some(Duration::from_millis(100)))
            .expect("poll");
        for event in events.iter() {
            assert_eq!(event.token(), MINE, "the endpoint's socket is quiet");
            assert!(!endpoint.handle_event(event), "not the endpoint's token");
            seen_mine = true;
        }
    }
    assert_eq!(endpoint.timeout(), None, "a foreign event gives it no work");
    let mut buf = [0u8; 64];
    assert_eq!(mine.recv_from(&mut buf).expect("recv").0, 8);
    assert_eq!(endpoint.stats().datagrams_received, 0);
    let _ = CLIENT;
}

/// ECN over real sockets (RFC 9000 §13.4): quinn-udp reads each datagram's TOS byte and sets
/// it on each send, Linux loopback keeps it, so the handshake's own acknowledgements already
/// validate the marks both ways.
#[cfg(target_os = "linux")]
#[test]
fn ecn_is_validated_over_loopback() {
    use weir_mio::weir_core::connection::EcnState;
    let mut pair = Pair::new();
    let (client, server) = pair.connect();
    // A few round trips more: both ends' acknowledgements settle.
    let until = Instant::now() + Duration::from_millis(100);
    pair.run_until(Duration::from_millis(300), |_, _| Instant::now() >= until);
    for (who, handle) in [(Who::Client, client), (Who::Server, server)] {
        let stats = pair
            .endpoint(who)
            .connection(handle)
            .expect("connection")
            .stats();
        let ecn = stats.ecn;
        assert_eq!(ecn.state, EcnState::Capable, "{who:?}: {ecn:?}");
        assert!(
            ecn.received.ect0 > 0,
            "{who:?} read the peer's marks: {ecn:?}"
        );
        assert_eq!(ecn.validation_failures, 0);
    }
}
