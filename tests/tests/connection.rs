//! Connection behaviour over the simulator: handshake under loss, idle timeout, keep-alive,
//! closing, back-pressure from a receiver that stops reading, unreliable messages.

use std::time::{Duration, Instant};

use bytes::Bytes;
use weir_core::config::{EndpointConfig, Seed, ServerConfig, TransportConfig};
use weir_core::connection::{ConnectionError, Event, SendDatagramError};
use weir_core::endpoint::{ConnectionHandle, Endpoint};
use weir_core::sim::{LinkConfig, LossModel, NodeId, Schedule, Simulator};
use weir_core::streams::{StreamEvent, WriteError};
use weir_core::wire::VarInt;
use weir_tests::{App, EndpointNode, addr, epoch};

const MS: Duration = Duration::from_millis(1);

/// Records what happened to the connections of one endpoint.
#[derive(Default)]
struct Log {
    events: Vec<(Duration, ConnectionHandle, Event)>,
    t0: Option<Instant>,
}

impl Log {
    fn connected_at(&self) -> Option<Duration> {
        self.events
            .iter()
            .find(|(_, _, e)| *e == Event::Connected)
            .map(|(t, _, _)| *t)
    }

    fn closed(&self) -> Option<(Duration, ConnectionError)> {
        self.events.iter().find_map(|(t, _, e)| match e {
            Event::Closed(err) => Some((*t, err.clone())),
            _ => None,
        })
    }

    fn drained(&self) -> bool {
        self.events.iter().any(|(_, _, e)| *e == Event::Drained)
    }

    fn handle(&self) -> Option<ConnectionHandle> {
        self.events.first().map(|(_, h, _)| *h)
    }
}

impl App for Log {
    fn on_event(&mut self, now: Instant, _: &mut Endpoint, handle: ConnectionHandle, event: Event) {
        let t0 = *self.t0.get_or_insert(now);
        let _ = t0;
        self.events
            .push((now - self.t0.unwrap_or(now), handle, event));
    }
}

struct Pair {
    sim: Simulator,
    client: NodeId,
    server: NodeId,
    handle: ConnectionHandle,
    links: (weir_core::sim::LinkId, weir_core::sim::LinkId),
    t0: Instant,
}

fn pair(
    seed: u64,
    transport: TransportConfig,
    retry: bool,
    forward: LinkConfig,
    reverse: LinkConfig,
) -> Pair {
    let t0 = epoch();
    let mut sim = Simulator::new(seed, t0);
    let server_ep = Endpoint::new(
        t0,
        EndpointConfig::insecure_fixed(seed.wrapping_add(1)),
        // These tests are about the protocol: a handshake may take as long as the idle timeout
        // (the half-open limit has its own tests, in `admission.rs`).
        Some(ServerConfig {
            handshake_timeout: transport.idle_timeout,
            ..ServerConfig::new(transport.clone(), weir_tests::retry_policy(retry))
        }),
    )
    .expect("server");
    let mut client_ep = Endpoint::new(
        t0,
        EndpointConfig {
            seed: Seed::Fixed(seed.wrapping_add(2)),
            ..EndpointConfig::insecure_fixed(0)
        },
        None,
    )
    .expect("client");
    client_ep.set_client_config(transport).expect("config");
    let handle = client_ep.connect(t0, addr(2)).expect("connect");
    let log = || Log {
        events: Vec::new(),
        t0: Some(t0),
    };
    let client = sim
        .add_node(addr(1), EndpointNode::new(client_ep, log()))
        .expect("node");
    let server = sim
        .add_node(addr(2), EndpointNode::new(server_ep, log()))
        .expect("node");
    let links = sim
        .connect(client, server, forward, reverse)
        .expect("links");
    Pair {
        sim,
        client,
        server,
        handle,
        links,
        t0,
    }
}

impl Pair {
    fn client(&mut self) -> &mut EndpointNode<Log> {
        self.sim
            .node_mut::<EndpointNode<Log>>(self.client)
            .expect("client node")
    }

    fn server(&mut self) -> &mut EndpointNode<Log> {
        self.sim
            .node_mut::<EndpointNode<Log>>(self.server)
            .expect("server node")
    }

    fn run_until(&mut self, t: Duration) {
        self.sim.run_until(t).expect("simulation");
    }
}

fn link(delay_ms: u64) -> LinkConfig {
    LinkConfig {
        delay: MS * delay_ms as u32,
        ..LinkConfig::default()
    }
}

#[test]
fn the_handshake_completes_under_fifty_percent_loss() {
    let lossy = LinkConfig {
        loss: LossModel::Random { p: 0.5 },
        ..link(25)
    };
    // Half of all packets lost both ways: a Retry handshake needs four lucky packets in a row
    // per attempt, so give the unlucky runs time rather than an idle timeout.
    let transport = TransportConfig {
        idle_timeout: Duration::from_secs(300),
        ..TransportConfig::default()
    };
    let mut connected = 0;
    let mut times = Vec::new();
    for seed in 0..40 {
        for retry in [false, true] {
            let mut p = pair(seed, transport.clone(), retry, lossy.clone(), lossy.clone());
            p.run_until(Duration::from_secs(300));
            let c = p.client().app.connected_at();
            let s = p.server().app.connected_at();
            assert!(
                c.is_some() && s.is_some(),
                "seed {seed} retry {retry}: client {c:?} server {s:?}"
            );
            connected += 1;
            times.push(c.unwrap_or_default().max(s.unwrap_or_default()));
        }
    }
    times.sort();
    assert_eq!(connected, 80);
    // Most handshakes still finish within a few probe timeouts; the probe-timeout cap keeps
    // even the unlucky ones from backing off into minutes.
    let median = times[times.len() / 2];
    let worst = times[times.len() - 1];
    assert!(
        median < Duration::from_secs(5),
        "median handshake {median:?}"
    );
    assert!(
        worst < Duration::from_secs(90),
        "slowest handshake {worst:?}"
    );
}

#[test]
fn a_clean_handshake_takes_one_round_trip_without_retry_and_two_with() {
    for (retry, rtts) in [(false, 1), (true, 2)] {
        let mut p = pair(1, TransportConfig::default(), retry, link(25), link(25));
        p.run_until(Duration::from_secs(1));
        let rtt = MS * 50;
        assert_eq!(
            p.client().app.connected_at(),
            Some(rtt * rtts),
            "retry {retry}"
        );
        // The server completes half a round trip later, with the ClientFinished.
        assert_eq!(
            p.server().app.connected_at(),
            Some(rtt * rtts + MS * 25),
            "retry {retry}"
        );
    }
}

#[test]
fn idle_timeout_fires_when_the_path_dies() {
    let transport = TransportConfig {
        idle_timeout: Duration::from_secs(5),
        ..TransportConfig::default()
    };
    let mut p = pair(3, transport, true, link(10), link(10));
    let outage = LinkConfig {
        loss: LossModel::Outage,
        ..link(10)
    };
    let schedule = Schedule::new().at(Duration::from_secs(1), outage);
    // Both directions die at t = 1 s.
    let (forward, reverse) = p.links;
    p.sim.schedule(forward, &schedule).expect("schedule");
    p.sim.schedule(reverse, &schedule).expect("schedule");
    p.run_until(Duration::from_secs(20));
    for side in [p.client().app.closed(), p.server().app.closed()] {
        let (at, error) = side.expect("closed");
        assert_eq!(error, ConnectionError::TimedOut(Duration::from_secs(5)));
        // Last packet heard shortly after connecting; timeout 5 s after that.
        assert!(
            at > Duration::from_secs(5) && at < Duration::from_secs(6),
            "closed at {at:?}"
        );
    }
    assert!(p.client().app.drained() && p.server().app.drained());
    assert_eq!(p.client().endpoint.connection_count(), 0);
    assert_eq!(p.server().endpoint.connection_count(), 0);
}

#[test]
fn keep_alive_holds_an_idle_connection_open() {
    let transport = TransportConfig {
        idle_timeout: Duration::from_secs(5),
        keep_alive_interval: Some(Duration::from_secs(2)),
        ..TransportConfig::default()
    };
    let mut p = pair(4, transport, false, link(10), link(10));
    p.run_until(Duration::from_secs(60));
    assert!(
        p.client().app.closed().is_none(),
        "{:?}",
        p.client().app.closed()
    );
    assert!(p.server().app.closed().is_none());
    // Without keep-alive the same connection times out.
    let transport = TransportConfig {
        idle_timeout: Duration::from_secs(5),
        ..TransportConfig::default()
    };
    let mut p = pair(4, transport, false, link(10), link(10));
    p.run_until(Duration::from_secs(60));
    assert!(matches!(
        p.client().app.closed(),
        Some((_, ConnectionError::TimedOut(_)))
    ));
}

#[test]
fn close_delivers_code_and_reason_and_both_ends_drain() {
    let mut p = pair(5, TransportConfig::default(), true, link(20), link(20));
    p.run_until(Duration::from_millis(500));
    let now = p.sim.now();
    let h = p.handle;
    p.client()
        .endpoint
        .connection(h)
        .expect("live")
        .close(now, VarInt::from_u32(42), b"game over");
    p.run_until(Duration::from_secs(10));
    let (_, server_err) = p.server().app.closed().expect("server closed");
    match server_err {
        ConnectionError::ApplicationClosed { code, reason } => {
            assert_eq!(code, 42);
            assert_eq!(reason.to_string(), "game over");
        }
        other => panic!("server saw {other:?}"),
    }
    assert_eq!(
        p.client().app.closed().map(|(_, e)| e),
        Some(ConnectionError::LocallyClosed)
    );
    assert!(p.client().app.drained() && p.server().app.drained());
    assert!(
        p.client().endpoint.connection(h).is_none(),
        "the handle is dead after Drained"
    );
}

#[test]
fn a_receiver_that_stops_reading_bounds_what_the_sender_buffers() {
    let mut transport = TransportConfig::default();
    transport.streams.stream_receive_window = 64 * 1024;
    transport.streams.max_stream_receive_window = 64 * 1024;
    transport.streams.stream_send_buffer = 256 * 1024;
    transport.streams.send_buffer = 256 * 1024;
    let mut p = pair(6, transport, false, link(10), link(10));
    p.run_until(Duration::from_millis(200));
    let h = p.handle;
    let stream = p
        .client()
        .endpoint
        .connection(h)
        .expect("live")
        .open_uni(0)
        .expect("open");
    let chunk = vec![7u8; 16 * 1024];
    let mut accepted = 0usize;
    let mut blocked_at = None;
    for round in 0..2000u32 {
        p.run_until(Duration::from_millis(200) + MS * round);
        let conn = p.client().endpoint.connection(h).expect("live");
        loop {
            match conn.write(stream, &chunk) {
                Ok(n) if n > 0 => accepted += n,
                Ok(_) | Err(WriteError::Blocked) => break,
                Err(e) => panic!("write failed: {e}"),
            }
        }
        if accepted >= 64 * 1024 + 256 * 1024 {
            blocked_at.get_or_insert(round);
        }
    }
    // The server never reads: the sender may hold at most its send buffer plus what the
    // receiver's window let through.
    assert!(
        accepted <= 64 * 1024 + 256 * 1024,
        "accepted {accepted} bytes"
    );
    assert!(
        accepted >= 64 * 1024,
        "the window's worth went out: {accepted}"
    );
    let stats = p.client().endpoint.connection(h).expect("live").stats();
    assert!(
        stats.bytes_in_flight == 0,
        "nothing stuck in flight: {}",
        stats.bytes_in_flight
    );
    // The receiver holds at most its window.
    let sh = p.server().app.handle().expect("server connection");
    let server_stats = p.server().endpoint.connection(sh).expect("live").stats();
    assert!(
        server_stats.bytes_received < 64 * 1024 + 64 * 1024,
        "{server_stats:?}"
    );
}

#[test]
fn a_receiver_that_only_acknowledges_remembers_a_bounded_number_of_packets() {
    // The game client's case: 60 Hz state updates as unreliable messages, nothing sent back
    // but ACKs, which nobody acknowledges on their own.
    let mut p = pair(12, TransportConfig::default(), false, link(20), link(20));
    p.run_until(Duration::from_millis(300));
    let sh = p.server().app.handle().expect("server connection");
    let tick = Duration::from_micros(16_667);
    let mut at = Duration::from_millis(300);
    let mut most_tracked = 0;
    let ch = p.handle;
    for i in 0..3600u32 {
        let now = p.t0 + at;
        let conn = p.server().endpoint.connection(sh).expect("live");
        conn.send_datagram(now, 0, Bytes::from(vec![i as u8; 200]), None)
            .expect("fits");
        at += tick;
        p.run_until(at);
        let stats = p.client().endpoint.connection(ch).expect("live").stats();
        most_tracked = most_tracked.max(stats.packets_tracked);
    }
    let stats = p.client().endpoint.connection(ch).expect("live").stats();
    assert!(
        stats.packets_sent > 1000,
        "the client acknowledged: {} packets",
        stats.packets_sent
    );
    // The server acknowledges the client's ACK-only packets in its own packets, so they are
    // released a round trip after they left (weir-core's unit tests cover a peer that does
    // not, with the PING the client then owes).
    assert!(most_tracked <= 4, "tracked up to {most_tracked} packets");
}

/// Sends unreliable messages after connecting and counts what arrives.
#[derive(Default)]
struct Messages {
    sent: usize,
    received: Vec<(u64, u64, usize)>,
    too_large: Option<SendDatagramError>,
}

impl App for Messages {
    fn on_event(&mut self, now: Instant, ep: &mut Endpoint, h: ConnectionHandle, event: Event) {
        match event {
            Event::Connected => {
                let conn = ep.connection(h).expect("live");
                let max = conn.max_datagram_size().expect("messages negotiated");
                self.too_large = conn
                    .send_datagram(now, 0, Bytes::from(vec![0; max + 1]), None)
                    .err();
                for i in 0..20u8 {
                    conn.send_datagram(now, u64::from(i % 2), Bytes::from(vec![i; max]), None)
                        .expect("fits");
                    self.sent += 1;
                }
            }
            Event::DatagramReceived => {
                let conn = ep.connection(h).expect("live");
                while let Some(d) = conn.recv_datagram(now) {
                    self.received.push((d.channel, d.sequence, d.data.len()));
                }
            }
            _ => {}
        }
    }
}

#[test]
fn messages_are_size_checked_and_numbered_per_channel() {
    let t0 = epoch();
    let mut sim = Simulator::new(9, t0);
    let server_ep = Endpoint::new(
        t0,
        EndpointConfig {
            seed: Seed::Fixed(1),
            ..EndpointConfig::insecure_fixed(0)
        },
        Some(ServerConfig::default()),
    )
    .expect("server");
    let mut client_ep = Endpoint::new(
        t0,
        EndpointConfig {
            seed: Seed::Fixed(2),
            ..EndpointConfig::insecure_fixed(0)
        },
        None,
    )
    .expect("client");
    client_ep.connect(t0, addr(2)).expect("connect");
    let c = sim
        .add_node(addr(1), EndpointNode::new(client_ep, Messages::default()))
        .expect("node");
    let s = sim
        .add_node(addr(2), EndpointNode::new(server_ep, Messages::default()))
        .expect("node");
    sim.connect(c, s, link(10), link(10)).expect("links");
    sim.run_until(Duration::from_secs(2)).expect("run");
    let client = &sim.node::<EndpointNode<Messages>>(c).expect("client").app;
    let server = &sim.node::<EndpointNode<Messages>>(s).expect("server").app;
    assert!(
        matches!(client.too_large, Some(SendDatagramError::TooLarge { .. })),
        "{:?}",
        client.too_large
    );
    assert_eq!(server.received.len(), 20, "a clean path loses none");
    let channel_1: Vec<u64> = server
        .received
        .iter()
        .filter(|(c, _, _)| *c == 1)
        .map(|(_, s, _)| *s)
        .collect();
    assert_eq!(channel_1, (0..10).collect::<Vec<_>>());
    assert_eq!(
        client.received.len(),
        20,
        "the server's messages arrived too"
    );
}

#[test]
fn stream_events_reach_the_application() {
    let mut p = pair(10, TransportConfig::default(), false, link(10), link(10));
    p.run_until(Duration::from_millis(200));
    let h = p.handle;
    let conn = p.client().endpoint.connection(h).expect("live");
    let id = conn.open_bi(0).expect("open");
    conn.write(id, b"hello").expect("write");
    conn.finish(id).expect("finish");
    p.run_until(Duration::from_millis(400));
    let server_events: Vec<Event> = p
        .server()
        .app
        .events
        .iter()
        .map(|(_, _, e)| e.clone())
        .collect();
    assert!(server_events.contains(&Event::Stream(StreamEvent::Opened {
        dir: weir_core::streams::Dir::Bi
    })));
    let client_events: Vec<Event> = p
        .client()
        .app
        .events
        .iter()
        .map(|(_, _, e)| e.clone())
        .collect();
    assert!(
        client_events.contains(&Event::Stream(StreamEvent::Finished { id })),
        "{client_events:?}"
    );
    let _ = p.t0;
}

#[test]
#[ignore = "debugging aid"]
fn debug_handshake_seed() {
    let seed: u64 = std::env::var("SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(21);
    let lossy = LinkConfig {
        loss: LossModel::Random { p: 0.5 },
        ..link(25)
    };
    let mut p = pair(seed, TransportConfig::default(), true, lossy.clone(), lossy);
    p.sim.set_trace_capacity(100_000);
    p.run_until(Duration::from_secs(30));
    for e in p.sim.trace().events() {
        eprintln!("{:>14?} #{:<4} {:>5}B {:?}", e.at, e.packet, e.size, e.kind);
    }
    eprintln!("client {:?}", p.client().endpoint);
    eprintln!("server {:?}", p.server().endpoint);
}

/// A server that stops accepting (`Endpoint::set_accepting(false)`: shutting down, draining
/// before a restart) refuses a new client at once with CONNECTION_REFUSED, and takes new
/// clients again once it accepts again.
#[test]
fn a_server_that_stops_accepting_refuses_new_clients_at_once() {
    let mut p = pair(31, TransportConfig::default(), false, link(20), link(20));
    p.server().endpoint.set_accepting(false);
    assert!(!p.server().endpoint.is_accepting());
    p.run_until(Duration::from_secs(1));
    let (at, error) = p.client().app.closed().expect("refused");
    assert!(at <= MS * 45, "refused within a round trip: {at:?}");
    assert!(
        matches!(
            error,
            ConnectionError::PeerTransportError { code, .. }
                if code == weir_core::TransportErrorCode::CONNECTION_REFUSED
        ),
        "{error:?}"
    );
    assert_eq!(p.server().endpoint.stats().connections_refused, 1);
    assert_eq!(p.server().endpoint.connection_count(), 0);

    p.server().endpoint.set_accepting(true);
    let now = p.sim.now();
    let second = p.client().endpoint.connect(now, addr(2)).expect("connect");
    p.run_until(Duration::from_secs(2));
    assert!(
        p.client()
            .app
            .events
            .iter()
            .any(|(_, h, e)| *h == second && *e == Event::Connected),
        "a new client connects once the server accepts again"
    );
}
