//! weir-mio over loopback: both endpoints on one `mio::Poll` in the test's thread.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{CLIENT, Pair, SERVER, Who, configs, loopback};
use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token};
use weir_mio::weir_core::StreamId;
use weir_mio::weir_core::config::EndpointConfig;
use weir_mio::weir_core::connection::ConnectionError;
use weir_mio::weir_core::streams::{ReadError, StreamEvent, WriteError};
use weir_mio::{
    BindError, Config, ConnectError, Connection, ConnectionHandle, Endpoint, Event, SocketConfig,
    SocketConfigError, VarInt,
};

/// Connections and bytes per connection of the integrity test (the same in debug builds, which
/// take about a second for it).
const CONNECTIONS: usize = 10;
const STREAM_BYTES: usize = 10 << 20;

/// Bytes that differ at every offset and between connections: connection `k` sends
/// `PATTERN[k * STRIDE ..][.. STREAM_BYTES]`, after an 8-byte header naming `k`.
const STRIDE: usize = 7919;

fn pattern() -> Bytes {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    (0..STREAM_BYTES + CONNECTIONS * STRIDE)
        .map(|_| {
            // xorshift64
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect::<Vec<u8>>()
        .into()
}

/// A stream being written: what is left of it, then its FIN.
struct Upload {
    data: Bytes,
    finished: bool,
}

/// Writes as much of `upload` as the stream takes; finishes it once everything is in.
fn pump(conn: &mut Connection, id: StreamId, upload: &mut Upload) {
    while !upload.data.is_empty() {
        match conn.write_chunk(id, upload.data.clone()) {
            Ok(0) | Err(WriteError::Blocked) => return,
            Ok(n) => {
                let _ = upload.data.split_to(n);
            }
            Err(e) => panic!("write: {e}"),
        }
    }
    if !upload.finished {
        conn.finish(id).expect("finish");
        upload.finished = true;
    }
}

#[test]
fn ten_connections_deliver_every_byte_in_order() {
    let pattern = pattern();
    let mut pair = Pair::new();
    let server_addr = pair.server.local_addr();
    let mut clients: HashMap<ConnectionHandle, usize> = HashMap::new();
    for k in 0..CONNECTIONS {
        clients.insert(pair.client.connect(server_addr).expect("connect"), k);
    }
    let mut uploads: HashMap<(ConnectionHandle, StreamId), Upload> = HashMap::new();
    // Server side: per stream, the connection index once its header arrived, and how far it
    // has checked.
    struct Download {
        header: Vec<u8>,
        k: Option<usize>,
        checked: usize,
    }
    let mut downloads: HashMap<(ConnectionHandle, StreamId), Download> = HashMap::new();
    let mut complete = 0;
    let started = Instant::now();
    pair.run_until(Duration::from_secs(120), |pair, events| {
        for (who, handle, event) in events {
            let ep = pair.endpoint(who);
            let now = ep.now();
            let Some(conn) = ep.connection(handle) else {
                continue;
            };
            match (who, event) {
                (_, Event::Closed(reason)) => panic!("{who:?} {handle} closed: {reason}"),
                (Who::Client, Event::Connected) => {
                    let k = clients[&handle];
                    let id = conn.open_uni(0).expect("open");
                    let mut data = Vec::with_capacity(8 + STREAM_BYTES);
                    data.extend_from_slice(&(k as u64).to_be_bytes());
                    data.extend_from_slice(&pattern[k * STRIDE..][..STREAM_BYTES]);
                    let mut upload = Upload {
                        data: data.into(),
                        finished: false,
                    };
                    pump(conn, id, &mut upload);
                    uploads.insert((handle, id), upload);
                }
                (Who::Client, Event::Stream(StreamEvent::Writable { id })) => {
                    if let Some(upload) = uploads.get_mut(&(handle, id)) {
                        pump(conn, id, upload);
                    }
                }
                (Who::Server, Event::Stream(StreamEvent::Opened { .. })) => {
                    while let Some(id) = conn.accept_uni() {
                        downloads.insert(
                            (handle, id),
                            Download {
                                header: Vec::new(),
                                k: None,
                                checked: 0,
                            },
                        );
                    }
                }
                (Who::Server, Event::Stream(StreamEvent::Readable { id })) => {
                    let Some(d) = downloads.get_mut(&(handle, id)) else {
                        continue;
                    };
                    loop {
                        match conn.read(now, id, usize::MAX) {
                            Ok(Some(mut chunk)) => {
                                if d.k.is_none() {
                                    let take = (8 - d.header.len()).min(chunk.len());
                                    d.header.extend_from_slice(&chunk.split_to(take));
                                    if d.header.len() == 8 {
                                        let k = u64::from_be_bytes(
                                            d.header[..].try_into().expect("8 bytes"),
                                        );
                                        d.k = Some(usize::try_from(k).expect("index"));
                                    }
                                }
                                if let Some(k) = d.k {
                                    let expected =
                                        &pattern[k * STRIDE + d.checked..][..chunk.len()];
                                    assert!(
                                        chunk[..] == *expected,
                                        "connection {k}: bytes differ at {}",
                                        d.checked
                                    );
                                    d.checked += chunk.len();
                                    assert!(d.checked <= STREAM_BYTES, "too many bytes");
                                }
                            }
                            Ok(None) => {
                                assert_eq!(d.checked, STREAM_BYTES, "stream ended early");
                                complete += 1;
                                break;
                            }
                            Err(ReadError::Blocked) => break,
                            Err(e) => panic!("read: {e}"),
                        }
                    }
                }
                _ => {}
            }
        }
        complete == CONNECTIONS
    });
    let elapsed = started.elapsed();
    let total = (CONNECTIONS * STREAM_BYTES) as f64;
    eprintln!(
        "{CONNECTIONS} x {} MiB in {elapsed:?}: {:.0} Mbit/s",
        STREAM_BYTES >> 20,
        total * 8.0 / elapsed.as_secs_f64() / 1e6
    );
    let stats = pair.client.socket_stats();
    assert!(stats.datagrams_sent > 0 && pair.server.socket_stats().datagrams_received > 0);
}

#[test]
fn close_is_seen_by_the_peer_and_both_drain() {
    let mut pair = Pair::new();
    let (client, server) = pair.connect();
    pair.client.close(client, VarInt::from(7u32), b"bye");
    let (mut server_closed, mut drained) = (None, [false; 2]);
    pair.run_until(Duration::from_secs(10), |_, events| {
        for (who, handle, event) in events {
            match event {
                Event::Closed(reason) if who == Who::Server => {
                    assert_eq!(handle, server);
                    server_closed = Some(reason);
                }
                Event::Drained => drained[who as usize] = true,
                _ => {}
            }
        }
        drained == [true; 2]
    });
    match server_closed {
        Some(ConnectionError::ApplicationClosed { code, reason }) => {
            assert_eq!(code, 7);
            assert_eq!(&reason.0[..], b"bye");
        }
        other => panic!("server saw {other:?}"),
    }
    assert_eq!(pair.client.connection_count(), 0);
    assert_eq!(pair.server.connection_count(), 0);
    assert!(
        pair.client.connection(client).is_none(),
        "handle invalid once drained"
    );
}

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
fn quiet_connections_time_out_on_both_ends() {
    let idle = Duration::from_millis(300);
    let mut pair = Pair::with(configs(|t| {
        t.idle_timeout = idle;
        t.keep_alive_interval = None;
    }));
    let _ = pair.connect();
    let started = Instant::now();
    let mut timed_out = [false; 2];
    pair.run_until(Duration::from_secs(10), |_, events| {
        for (who, _, event) in events {
            match event {
                Event::Closed(ConnectionError::TimedOut(_)) => timed_out[who as usize] = true,
                Event::Closed(other) => panic!("{who:?}: {other}"),
                _ => {}
            }
        }
        timed_out == [true; 2]
    });
    assert!(started.elapsed() >= idle, "not before the idle timeout");
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
fn unreliable_datagrams_cross_and_echo() {
    let mut pair = Pair::new();
    let (client, _) = pair.connect();
    const N: usize = 200;
    let mut sent = 0;
    let mut echoed = Vec::new();
    pair.run_until(Duration::from_secs(10), |pair, events| {
        for (who, handle, event) in events {
            if !matches!(event, Event::DatagramReceived) {
                continue;
            }
            let ep = pair.endpoint(who);
            let now = ep.now();
            let conn = ep.connection(handle).expect("connection");
            while let Some(d) = conn.recv_datagram(now) {
                match who {
                    // The server echoes on the channel it came on.
                    Who::Server => conn
                        .send_datagram(now, d.channel, d.data, None)
                        .expect("echo"),
                    Who::Client => echoed.push(d.data),
                }
            }
        }
        // A few per turn, as a game would per tick.
        if sent < N {
            let now = pair.client.now();
            let conn = pair.client.connection(client).expect("connection");
            for _ in 0..5 {
                let message = Bytes::from(format!("update {sent}"));
                conn.send_datagram(now, 3, message, None).expect("send");
                sent += 1;
            }
        }
        echoed.len() == N
    });
    // Loopback loses nothing; every echo is one of ours.
    for data in &echoed {
        assert!(data.starts_with(b"update "));
    }
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
fn a_wrong_pin_fails_the_handshake_with_a_typed_error() {
    let mut pair = Pair::new();
    let other = weir_mio::weir_core::crypto::Identity::self_signed(["localhost"]).expect("id");
    let wrong =
        weir_mio::weir_core::crypto::ClientTls::pinned(vec![other.fingerprint()]).expect("pins");
    let handle = pair
        .client
        .connect_tls(pair.server.local_addr(), wrong)
        .expect("connect");
    let mut failed = None;
    pair.run_until(Duration::from_secs(10), |_, events| {
        for (who, h, event) in events {
            match (who, event) {
                (Who::Client, Event::Connected) => panic!("connected with the wrong pin"),
                (Who::Client, Event::Closed(reason)) if h == handle => failed = Some(reason),
                _ => {}
            }
        }
        failed.is_some()
    });
    assert!(
        matches!(failed, Some(ConnectionError::Tls(_))),
        "got {failed:?}"
    );
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
