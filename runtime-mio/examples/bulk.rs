//! Loopback bulk throughput of weir-mio on one thread: a server and a client endpoint on one
//! `mio::Poll`, one connection, one stream carrying `MIB` mebibytes (default 1024) with TLS 1.3
//! (or `--insecure`: the integrity-only protection), then the server's count of what it got.
//!
//! `cargo run --release -p weir-mio --example bulk [-- MIB] [--insecure]`
//!
//! Both ends run in this thread, so the CPU time covers sender and receiver.

use std::time::{Duration, Instant};

use bytes::Bytes;
use mio::{Events, Poll, Token};
use weir_mio::weir_core::StreamId;
use weir_mio::weir_core::config::{ServerConfig, TransportConfig};
use weir_mio::weir_core::crypto::{ClientTls, Identity};
use weir_mio::weir_core::streams::{ReadError, StreamEvent, WriteError};
use weir_mio::{Config, Endpoint, Event, VarInt};

const SERVER: Token = Token(0);
const CLIENT: Token = Token(1);
/// What the sender hands the stream per write (as weir-tokio's loopback bench).
const CHUNK: usize = 256 * 1024;

/// What one transfer measured.
pub struct Bulk {
    /// From the first write to the server's answer.
    pub elapsed: Duration,
    /// Process CPU time over the same span.
    pub cpu: Duration,
    /// Bytes the server counted.
    pub bytes: u64,
}

fn transport() -> TransportConfig {
    TransportConfig {
        // Loopback and Ethernet paths carry 1452-byte payloads (weir-tokio's bench uses the same).
        max_datagram_size: 1452,
        ..TransportConfig::default()
    }
}

/// Server and client configurations: TLS 1.3 with a self-signed identity pinned by the client,
/// or the integrity-only protection.
pub fn configs(insecure: bool) -> (Config, Config) {
    let (server, client) = if insecure {
        (Config::insecure_server(), Config::insecure_client())
    } else {
        let identity = Identity::self_signed(["localhost"]).expect("identity");
        let pinned = ClientTls::pinned(vec![identity.fingerprint()]).expect("pins");
        (
            Config::server(&identity).expect("server"),
            Config::client(pinned),
        )
    };
    (
        Config {
            server: Some(ServerConfig {
                transport: transport(),
                ..ServerConfig::default()
            }),
            ..server
        },
        Config {
            client: transport(),
            ..client
        },
    )
}

/// Moves `bytes` over one stream and back a count, both ends in this thread.
pub fn mio_bulk(bytes: u64, insecure: bool) -> Bulk {
    let (server_config, client_config) = configs(insecure);
    let loopback = "127.0.0.1:0".parse().expect("literal");
    let mut poll = Poll::new().expect("poll");
    let mut server = Endpoint::bind(loopback, server_config).expect("bind server");
    let mut client = Endpoint::bind(loopback, client_config).expect("bind client");
    server.register(poll.registry(), SERVER).expect("register");
    client.register(poll.registry(), CLIENT).expect("register");
    let handle = client.connect(server.local_addr()).expect("connect");

    let chunk = Bytes::from(vec![0x5a; CHUNK]);
    let mut pending = Bytes::new();
    let mut queued = 0u64;
    let mut stream: Option<StreamId> = None;
    let mut received = 0u64;
    let mut answer = Vec::new();
    let mut started = None;
    let mut events = Events::with_capacity(64);
    loop {
        let timeout = [server.deadline(), client.deadline()]
            .into_iter()
            .flatten()
            .min()
            .map(|at| at.saturating_duration_since(Instant::now()));
        poll.poll(&mut events, timeout).expect("poll");
        for event in events.iter() {
            let _ = server.handle_event(event) || client.handle_event(event);
        }
        server.drive();
        client.drive();

        // The server counts what arrives; at the end it answers with the count.
        while let Some((h, event)) = server.poll_event() {
            let now = server.now();
            let Some(conn) = server.connection(h) else {
                continue;
            };
            match event {
                Event::Stream(StreamEvent::Opened { .. }) => while conn.accept_bi().is_some() {},
                Event::Stream(StreamEvent::Readable { id }) => loop {
                    match conn.read(now, id, usize::MAX) {
                        Ok(Some(data)) => received += data.len() as u64,
                        Ok(None) => {
                            let _ = conn.write(id, &received.to_be_bytes());
                            let _ = conn.finish(id);
                            break;
                        }
                        Err(ReadError::Blocked) => break,
                        Err(e) => panic!("server read: {e}"),
                    }
                },
                Event::Closed(reason) => panic!("server: {reason}"),
                _ => {}
            }
        }

        // The client writes until `bytes` are queued, then reads the answer.
        let mut writable = false;
        while let Some((h, event)) = client.poll_event() {
            let now = client.now();
            let Some(conn) = client.connection(h) else {
                continue;
            };
            match event {
                Event::Connected => {
                    stream = Some(conn.open_bi(0).expect("open"));
                    started = Some((Instant::now(), cpu_time::ProcessTime::now()));
                    writable = true;
                }
                Event::Stream(StreamEvent::Writable { .. }) => writable = true,
                Event::Stream(StreamEvent::Readable { id }) => {
                    while let Ok(Some(data)) = conn.read(now, id, usize::MAX) {
                        answer.extend_from_slice(&data);
                    }
                }
                Event::Closed(reason) => panic!("client: {reason}"),
                _ => {}
            }
        }
        if let (true, Some(id)) = (writable, stream) {
            let conn = client.connection(handle).expect("connection");
            while queued < bytes {
                if pending.is_empty() {
                    pending = chunk.clone();
                }
                match conn.write_chunk(id, pending.clone()) {
                    Ok(0) | Err(WriteError::Blocked) => break,
                    Ok(n) => {
                        let _ = pending.split_to(n);
                        queued += n as u64;
                    }
                    Err(e) => panic!("client write: {e}"),
                }
            }
            if queued >= bytes {
                let _ = conn.finish(id);
            }
        }
        if answer.len() == 8 {
            break;
        }
    }
    let (wall, cpu) = started.expect("connected");
    let bulk = Bulk {
        elapsed: wall.elapsed(),
        cpu: cpu.elapsed(),
        bytes: u64::from_be_bytes(answer.try_into().expect("8 bytes")),
    };
    // A clean end: close, and drive until both sides drained.
    client.close(handle, VarInt::ZERO, b"done");
    let bound = Instant::now() + Duration::from_secs(5);
    while (client.connection_count() > 0 || server.connection_count() > 0) && Instant::now() < bound
    {
        let timeout = [server.deadline(), client.deadline()]
            .into_iter()
            .flatten()
            .min()
            .map(|at| {
                at.saturating_duration_since(Instant::now())
                    .min(Duration::from_secs(1))
            });
        poll.poll(&mut events, timeout).expect("poll");
        for event in events.iter() {
            let _ = server.handle_event(event) || client.handle_event(event);
        }
        server.drive();
        client.drive();
        while server.poll_event().is_some() {}
        while client.poll_event().is_some() {}
    }
    bulk
}

/// Prints a transfer's rate and CPU cost.
pub fn report(name: &str, bulk: &Bulk) {
    let secs = bulk.elapsed.as_secs_f64();
    println!(
        "{name:<34} {:>7.0} Mbit/s {:>6.2} CPU s/GB  ({} MiB in {:.2?})",
        bulk.bytes as f64 * 8.0 / secs / 1e6,
        bulk.cpu.as_secs_f64() / (bulk.bytes as f64 / 1e9),
        bulk.bytes >> 20,
        bulk.elapsed
    );
}

#[allow(dead_code)] // The loopback bench includes this file for `mio_bulk`.
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let insecure = args.iter().any(|a| a == "--insecure");
    let mib: u64 = args.iter().find_map(|a| a.parse().ok()).unwrap_or(1024);
    let bulk = mio_bulk(mib << 20, insecure);
    assert_eq!(bulk.bytes, mib << 20, "the server counted every byte");
    let name = if insecure {
        "weir-mio, one thread (integrity)"
    } else {
        "weir-mio, one thread (TLS)"
    };
    report(name, &bulk);
}
