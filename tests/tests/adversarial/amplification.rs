//! The anti-amplification limit (RFC 9000 §8.1) against spoofers: a property test with a client
//! whose return path is dead, budgets inflated by foreign or coalesced packets, blind
//! handshakes that must not validate an address, and a server short of a packet's budget.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use weir_core::config::{EndpointConfig, RetryPolicy, Seed, ServerConfig, TransportConfig};
use weir_core::connection::Event;
use weir_core::endpoint::{ConnectionHandle, Endpoint};
use weir_core::protect::integrity::TAG_LEN;
use weir_core::protect::{Crc32cKey, IdentityHeaderKey};
use weir_core::sim::{LinkConfig, LossModel, Simulator, TraceKind};
use weir_core::wire::{
    ConnectionId, Frame, FrameType, Header, PacketBuilder, PacketNumber, PartialDecode, VERSION_1,
};
use weir_tests::{App, EndpointNode, addr, epoch};

use crate::{
    CID_LEN, client_addr, client_initials, encode, initial_packet, server_addr, short_packet, var,
};

// ----- Anti-amplification -----

struct Quiet;

impl App for Quiet {
    fn on_event(&mut self, _: Instant, _: &mut Endpoint, _: ConnectionHandle, _: Event) {}
}

/// Checks the trace of `sim`: at every point, what `server` sent to `client` is at most three
/// times what reached `server` from `client`.
fn check_amplification(
    sim: &Simulator,
    client: SocketAddr,
    server: SocketAddr,
) -> Result<(), TestCaseError> {
    let trace = sim.trace();
    prop_assert!(!trace.truncated(), "trace capacity too small");
    let mut from_client: HashMap<u64, bool> = HashMap::new();
    let (mut sent, mut received) = (0u64, 0u64);
    for e in trace.events() {
        match e.kind {
            TraceKind::Sent { from, to } => {
                from_client.insert(e.packet, from == client && to == server);
                if from == server && to == client {
                    sent += e.size as u64;
                    prop_assert!(
                        sent <= 3 * received,
                        "at {:?} the server sent {} bytes for {} received",
                        e.at,
                        sent,
                        received
                    );
                }
            }
            TraceKind::Duplicated { copy, .. } => {
                let original = from_client.get(&e.packet).copied().unwrap_or(false);
                from_client.insert(copy, original);
            }
            TraceKind::Delivered { .. } if from_client.get(&e.packet) == Some(&true) => {
                received += e.size as u64;
            }
            _ => {}
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    /// RFC 9000 §8.1: before the client's address is validated the server sends at most three
    /// times what it received from it. The "client" is a spoofer: a real client endpoint whose
    /// datagrams reach the server (with random loss, duplication and corruption) but which
    /// never hears back, so it keeps retransmitting its Initials for a random while.
    #[test]
    fn an_unvalidated_address_gets_at_most_three_times_what_it_sent(
        seed in any::<u64>(),
        loss in 0.0..0.5f64,
        duplicate in 0.0..0.2f64,
        corrupt in 0.0..0.2f64,
        connections in 1usize..4,
        initial_rtt_ms in 5u64..1000,
        max_probe_ms in prop_oneof![Just(None), (10u64..5000).prop_map(Some)],
        idle_ms in 100u64..20_000,
        run_ms in 100u64..60_000,
    ) {
        let t0 = epoch();
        let mut sim = Simulator::new(seed, t0);
        sim.set_trace_capacity(1 << 20);
        let server = Endpoint::new(
            t0,
            EndpointConfig { seed: Seed::Fixed(seed ^ 1), ..EndpointConfig::insecure_fixed(0) },
            Some(ServerConfig {
                transport: TransportConfig {
                    idle_timeout: Duration::from_millis(idle_ms),
                    ..TransportConfig::default()
                },
                retry: RetryPolicy::Never,
                ..ServerConfig::default()
            }),
        )
        .expect("server");
        let mut client = Endpoint::new(
            t0,
            EndpointConfig { seed: Seed::Fixed(seed ^ 2), ..EndpointConfig::insecure_fixed(0) },
            None,
        )
        .expect("client");
        client
            .set_client_config(TransportConfig {
                initial_rtt: Duration::from_millis(initial_rtt_ms),
                max_probe_timeout: max_probe_ms.map(Duration::from_millis),
                idle_timeout: Duration::from_secs(600),
                ..TransportConfig::default()
            })
            .expect("config");
        for _ in 0..connections {
            client.connect(t0, server_addr()).expect("connect");
        }
        let c = sim.add_node(client_addr(), EndpointNode::new(client, Quiet)).expect("node");
        let s = sim.add_node(server_addr(), EndpointNode::new(server, Quiet)).expect("node");
        let forward = LinkConfig {
            delay: Duration::from_millis(10),
            loss: LossModel::Random { p: loss },
            duplicate,
            corrupt,
            ..LinkConfig::default()
        };
        let reverse = LinkConfig {
            delay: Duration::from_millis(10),
            loss: LossModel::Outage,
            ..LinkConfig::default()
        };
        sim.connect(c, s, forward, reverse).expect("links");
        sim.run_for(Duration::from_millis(run_ms)).map_err(|e| TestCaseError::fail(e.to_string()))?;
        check_amplification(&sim, client_addr(), server_addr())?;
    }
}

/// The anti-amplification budget counts each datagram once: a datagram from the victim's
/// address that coalesces packets for two of the server's connections (RFC 9000 §12.2: the
/// receiver should ignore packets whose destination connection ID differs from the first one's)
/// must not credit its full length to a connection once per switch between them.
#[test]
fn coalesced_packets_for_two_connections_do_not_inflate_the_amplification_budget() {
    amplification_via_foreign_packets(Extra::Coalesced);
}

/// The anti-amplification budget of a connection counts only datagrams from its peer's address:
/// packets with its connection ID from another address are dropped and must not raise what it
/// may send to its unvalidated peer.
#[test]
fn packets_from_another_address_do_not_inflate_the_amplification_budget() {
    amplification_via_foreign_packets(Extra::OtherAddress);
}

/// What the attacker sends after opening two connections in the victim's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Extra {
    /// Nothing: the baseline.
    Nothing,
    /// One datagram from the victim's address packed with minimal Initials alternating between
    /// the two connections.
    Coalesced,
    /// Every 200 ms, a datagram with the first connection's ID from the attacker's own address.
    OtherAddress,
}

/// The baseline of the two tests below: two connections opened in a victim's name, then
/// silence. The server's answers stay within three times what the victim's address sent.
#[test]
fn spoofed_connections_stay_within_the_amplification_limit() {
    amplification_via_foreign_packets(Extra::Nothing);
}

/// Two connections spoofing a victim's address (no Retry), then what `extra` says; the server
/// runs for 25 s, its answers lost. Checks what it sent to the victim against what came from it.
fn amplification_via_foreign_packets(extra: Extra) {
    let t0 = epoch();
    let mut server = Endpoint::new(
        t0,
        EndpointConfig {
            seed: Seed::Fixed(5),
            ..EndpointConfig::insecure_fixed(0)
        },
        Some(ServerConfig {
            transport: TransportConfig::default(),
            retry: RetryPolicy::Never,
            ..ServerConfig::default()
        }),
    )
    .expect("server");
    let victim = addr(50);
    let attacker = addr(51);
    let initials = client_initials(2);
    let dcids: Vec<ConnectionId> = initials
        .iter()
        .map(|d| {
            let (partial, _) =
                PartialDecode::new(BytesMut::from(&d[..]), CID_LEN).expect("decodes");
            *partial.dcid()
        })
        .collect();
    let mut from_victim = 0usize;
    for d in &initials {
        server.handle_datagram(t0, victim, None, BytesMut::from(&d[..]));
        from_victim += d.len();
    }
    assert_eq!(server.connection_count(), 2);
    // A minimal Initial for connection `k` (its tag need not be right: the budget is credited
    // before the packet is opened).
    let tiny =
        |k: usize| initial_packet_unpadded(dcids[k], ConnectionId::EMPTY, &encode(&[Frame::Ping]));
    let mut to_victim = 0usize;
    let mut buf = Vec::new();
    let mut now = t0;
    let end = t0 + Duration::from_secs(25);
    let mut next_injection = t0;
    loop {
        // From the attacker's own address: every 200 ms. From the victim's: once.
        if now >= next_injection {
            next_injection = match extra {
                Extra::OtherAddress => now + Duration::from_millis(200),
                Extra::Nothing | Extra::Coalesced => end + Duration::from_secs(1),
            };
            match extra {
                Extra::Nothing => {}
                Extra::OtherAddress => {
                    let d = initial_packet(dcids[0], ConnectionId::EMPTY, Bytes::new(), &[1]);
                    server.handle_datagram(now, attacker, None, BytesMut::from(&d[..]));
                }
                Extra::Coalesced => {
                    let mut d = Vec::new();
                    while d.len() + 2 * tiny(0).len() <= 1200 {
                        d.extend_from_slice(&tiny(0));
                        d.extend_from_slice(&tiny(1));
                    }
                    from_victim += d.len();
                    server.handle_datagram(now, victim, None, BytesMut::from(&d[..]));
                }
            }
        }
        while let Some(t) = server.poll_transmit(now, 1, &mut buf) {
            if t.destination == victim {
                to_victim += t.size;
            }
            buf.clear();
        }
        while server.poll_event().is_some() {}
        let next = server
            .poll_timeout()
            .map_or(next_injection, |t| t.min(next_injection));
        if next > end {
            break;
        }
        now = now.max(next);
        server.handle_timeout(now);
    }
    assert!(
        to_victim <= 3 * from_victim,
        "the server sent {to_victim} bytes to an unvalidated address that sent {from_victim}"
    );
}

/// An Initial packet without padding (the smallest packet that parses as one).
fn initial_packet_unpadded(dcid: ConnectionId, scid: ConnectionId, frames: &[u8]) -> Vec<u8> {
    let header = Header::Initial {
        version: VERSION_1,
        dcid,
        scid,
        token: Bytes::new(),
        number: PacketNumber::new(0, None),
    };
    let mut buf = Vec::new();
    let mut builder = PacketBuilder::new(&mut buf, &header, 0, 1200, TAG_LEN).expect("header");
    builder.buf().extend_from_slice(frames);
    builder
        .finish(&Crc32cKey, &IdentityHeaderKey)
        .expect("sealed");
    buf
}

/// How a blind spoofer (it never receives the server's packets) finishes the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Blind {
    /// A second Initial with the ClientFinished, to its own original destination ID.
    ClientFinished,
    /// A short packet to its own original destination ID, coalesced behind the ClientHello
    /// (the server takes any short packet as proof that the client finished).
    ShortPacket,
}

/// A spoofer sends a ClientHello in the victim's name and finishes the handshake `how`; the
/// server's application then pushes 200 kB to the "connected" client for 10 s. Returns whether
/// the server reported `Connected`, the bytes it sent the victim, and the bytes the victim's
/// address sent.
fn blind_handshake(how: Blind) -> (bool, usize, usize) {
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
    let victim = addr(50);
    let dcid = ConnectionId::new(&[0xd0; 8]).expect("cid");
    let scid = ConnectionId::new(&[0x5c; 8]).expect("cid");
    let params = weir_core::connection::TransportParameters {
        initial_source_connection_id: Some(scid),
        initial_max_data: 1 << 24,
        initial_max_stream_data_bidi_local: 1 << 22,
        initial_max_stream_data_bidi_remote: 1 << 22,
        initial_max_stream_data_uni: 1 << 22,
        initial_max_streams_bidi: 100,
        initial_max_streams_uni: 100,
        max_idle_timeout: Duration::from_secs(30),
        ..weir_core::connection::TransportParameters::default()
    };
    let mut body = Vec::new();
    params.encode(&mut body);
    let mut hello = vec![0x01]; // ClientHello
    var(body.len() as u64).encode(&mut hello);
    hello.extend_from_slice(&body);
    let handshake = |offset: usize, data: &[u8]| {
        let mut out = vec![FrameType::HANDSHAKE.value() as u8];
        var(offset as u64).encode(&mut out);
        var(data.len() as u64).encode(&mut out);
        out.extend_from_slice(data);
        out
    };
    let datagrams = match how {
        Blind::ClientFinished => {
            let first = initial_packet(dcid, scid, Bytes::new(), &handshake(0, &hello));
            let header = Header::Initial {
                version: VERSION_1,
                dcid,
                scid,
                token: Bytes::new(),
                number: PacketNumber::new(1, Some(0)),
            };
            let mut finished = Vec::new();
            let mut b =
                PacketBuilder::new(&mut finished, &header, 1, 1200, TAG_LEN).expect("header");
            b.buf()
                .extend_from_slice(&handshake(hello.len(), &[0x03, 0x00]));
            b.pad_to(1200);
            b.finish(&Crc32cKey, &IdentityHeaderKey).expect("sealed");
            vec![first, finished]
        }
        Blind::ShortPacket => {
            let mut d = initial_packet(dcid, scid, Bytes::new(), &handshake(0, &hello));
            let ping = encode(&[Frame::Ping]);
            d.extend(short_packet(dcid, 0, PacketNumber::new(0, None), &ping));
            vec![d]
        }
    };
    let mut from_victim = 0;
    for d in &datagrams {
        server.handle_datagram(t0, victim, None, BytesMut::from(&d[..]));
        from_victim += d.len();
    }
    let mut connected = None;
    let mut to_victim = 0;
    let mut buf = Vec::new();
    let mut now = t0;
    let end = t0 + Duration::from_secs(10);
    let mut written = 0;
    loop {
        while let Some((handle, event)) = server.poll_event() {
            if event == Event::Connected {
                connected = Some(handle);
            }
        }
        // A game server pushes state to every connected client.
        if written == 0
            && let Some(conn) = connected.and_then(|h| server.connection(h))
        {
            let id = conn.open_uni(0).expect("open");
            written = conn.write(id, &[0u8; 200_000]).expect("write");
        }
        while let Some(t) = server.poll_transmit(now, 1, &mut buf) {
            if t.destination == victim {
                to_victim += t.size;
            }
            buf.clear();
        }
        match server.poll_timeout() {
            Some(at) if at <= end => {
                now = now.max(at);
                server.handle_timeout(now);
            }
            _ => break,
        }
    }
    (connected.is_some(), to_victim, from_victim)
}

/// RFC 9000 §8.1: the server may treat the client's address as validated only on proof that
/// the client received its packets (weir's proof: a packet addressed to the server's own
/// connection ID). A spoofer that never hears the ServerHello can still send a ClientFinished
/// to the connection ID it chose itself (its original destination ID, which routes Initials):
/// that proves nothing, and the server must keep to the 3× limit even when its application
/// writes to the "connected" peer (or not complete the handshake at all).
#[test]
fn a_blind_client_finished_does_not_validate_a_spoofed_address() {
    let (_, to_victim, from_victim) = blind_handshake(Blind::ClientFinished);
    assert!(
        to_victim <= 3 * from_victim,
        "the server sent {to_victim} bytes to an address that sent {from_victim} and never \
         proved it received anything"
    );
}

/// The same with a short packet coalesced behind the ClientHello, to the spoofer's own original
/// destination ID: at commit ea81f9e one such datagram got a validated, connected peer (found
/// by `connection_pair`: after a server connection timed out, each of the client's stale
/// datagrams opened a new connection that completed its handshake).
#[test]
fn a_blind_short_packet_neither_completes_the_handshake_nor_validates() {
    let (connected, to_victim, from_victim) = blind_handshake(Blind::ShortPacket);
    assert!(
        !connected,
        "a handshake completed without the ServerHello being received"
    );
    assert!(
        to_victim <= 3 * from_victim,
        "the server sent {to_victim} bytes to an address that sent {from_victim}"
    );
}

/// A server (no Retry) gets a real client's first Initial from a spoofed address, padded with
/// `extra` bytes of junk, and never hears back. Returns how many times its timers fired until
/// the connection was gone (at most `cap`).
fn timer_firings_after_spoofed_initial(extra: usize, cap: usize) -> usize {
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
    d.resize(d.len() + extra, 0);
    server.handle_datagram(t0, addr(50), None, BytesMut::from(&d[..]));
    let mut buf = Vec::new();
    let mut now = t0;
    let mut firings = 0;
    loop {
        while server.poll_transmit(now, 1, &mut buf).is_some() {
            buf.clear();
        }
        while server.poll_event().is_some() {}
        let Some(at) = server.poll_timeout() else {
            break;
        };
        if firings == cap {
            break;
        }
        firings += 1;
        now = now.max(at);
        server.handle_timeout(now);
    }
    firings
}

/// The control of the next test: a 1200-byte spoofed Initial costs the server a handful of
/// timer firings (probes until its budget is spent, then the idle timeout).
#[test]
fn a_spoofed_initial_costs_the_server_a_few_timer_firings() {
    let firings = timer_firings_after_spoofed_initial(0, 10_000);
    assert!(firings < 20, "{firings} timer firings");
}

/// RFC 9002 §6.2.2.1: a server that cannot send arms no probe timer. A spoofed Initial of
/// 1201 to 1215 bytes leaves the server, after its ServerHello and two probes (3600 bytes),
/// fewer bytes of budget than a packet needs but more than zero. Found by the fuzz target
/// `endpoint_datagrams` at commit ea81f9e: the server armed its probe timer anyway, and with
/// the capped backoff (`max_probe_timeout`, 3 s by default) the deadline stopped at the last
/// probe + 3 s, in the past, so the timer came due at the same instant for ever and a driver
/// following the contract would spin until the idle timeout.
#[test]
fn a_server_short_of_a_packets_budget_does_not_spin_on_its_probe_timer() {
    let firings = timer_firings_after_spoofed_initial(15, 10_000);
    assert!(firings < 20, "{firings} timer firings");
}
