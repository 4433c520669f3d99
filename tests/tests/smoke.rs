//! First light: two endpoints in memory complete a handshake and move data.

use std::time::{Duration, Instant};

use bytes::BytesMut;
use weir_core::config::{EndpointConfig, Seed, ServerConfig};
use weir_core::connection::Event;
use weir_core::endpoint::Endpoint;
use weir_core::streams::StreamEvent;
use weir_tests::{addr, epoch};

fn drive(
    now: Instant,
    from: &mut Endpoint,
    from_addr: std::net::SocketAddr,
    to: &mut Endpoint,
) -> usize {
    let mut n = 0;
    let mut buf = Vec::new();
    while let Some(t) = from.poll_transmit(now, 1, &mut buf) {
        to.handle_datagram(now, from_addr, None, BytesMut::from(&buf[..t.size]));
        buf.clear();
        n += 1;
    }
    n
}

#[test]
fn handshake_and_one_stream() {
    let t0 = epoch();
    let mut server = Endpoint::new(
        t0,
        EndpointConfig {
            seed: Seed::Fixed(1),
            ..EndpointConfig::insecure_fixed(0)
        },
        Some(ServerConfig::default()),
    )
    .expect("server");
    let mut client = Endpoint::new(
        t0,
        EndpointConfig {
            seed: Seed::Fixed(2),
            ..EndpointConfig::insecure_fixed(0)
        },
        None,
    )
    .expect("client");
    let (ca, sa) = (addr(1), addr(2));
    let h = client.connect(t0, sa).expect("connect");
    let mut now = t0;
    let mut connected = false;
    let mut server_conn = None;
    let mut received = Vec::new();
    let payload: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
    let mut written = 0;
    let mut stream = None;
    for _ in 0..10_000 {
        now += Duration::from_millis(1);
        client.handle_timeout(now);
        server.handle_timeout(now);
        let a = drive(now, &mut client, ca, &mut server);
        let b = drive(now, &mut server, sa, &mut client);
        while let Some((_, e)) = client.poll_event() {
            if e == Event::Connected {
                connected = true;
            }
        }
        while let Some((sh, e)) = server.poll_event() {
            server_conn = Some(sh);
            if let Event::Stream(StreamEvent::Readable { id }) = e {
                let conn = server.connection(sh).expect("server conn");
                while let Ok(Some(chunk)) = conn.read(now, id, usize::MAX) {
                    received.extend_from_slice(&chunk);
                }
            }
            if let Event::Stream(StreamEvent::Opened { .. }) = e {
                let conn = server.connection(sh).expect("server conn");
                while let Some(id) = conn.accept_uni() {
                    while let Ok(Some(chunk)) = conn.read(now, id, usize::MAX) {
                        received.extend_from_slice(&chunk);
                    }
                }
            }
        }
        if connected {
            let conn = client.connection(h).expect("client conn");
            let id = *stream.get_or_insert_with(|| conn.open_uni(0).expect("open"));
            if written < payload.len() {
                written += conn.write(id, &payload[written..]).unwrap_or(0);
                if written == payload.len() {
                    conn.finish(id).expect("finish");
                }
            }
        }
        if received.len() == payload.len() && a == 0 && b == 0 {
            break;
        }
    }
    assert!(connected, "client connected");
    assert!(server_conn.is_some());
    assert_eq!(received.len(), payload.len());
    assert_eq!(received, payload);
    println!(
        "done at {:?}; client stats {:?}",
        now - t0,
        client.connection(h).map(|c| c.stats())
    );
}
