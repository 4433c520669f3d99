//! Bulk transfer between two endpoints in memory (no loss, no delay): how many packets per
//! second the core moves on one core, sender and receiver together.
#![allow(missing_docs)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use weir_core::config::{EndpointConfig, Seed, ServerConfig, TransportConfig};
use weir_core::connection::Event;
use weir_core::endpoint::{ConnectionHandle, Endpoint};
use weir_core::streams::{StreamEvent, StreamId};

const CHUNK: usize = 64 * 1024;

struct Bench {
    client: Endpoint,
    server: Endpoint,
    handle: ConnectionHandle,
    server_handle: Option<ConnectionHandle>,
    stream: StreamId,
    now: Instant,
    buf: Vec<u8>,
    data: Vec<u8>,
    received: usize,
    packets: u64,
}

const CLIENT: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1)),
    1,
);
const SERVER: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2)),
    1,
);

impl Bench {
    #[allow(clippy::disallowed_methods)] // a base instant; the endpoints only see it advance
    fn new(send_buffer: Option<u64>) -> Self {
        let now = Instant::now();
        let mut transport = TransportConfig::default();
        transport.streams.stream_receive_window = 16 << 20;
        transport.streams.max_stream_receive_window = 16 << 20;
        transport.streams.receive_window = 32 << 20;
        transport.streams.max_receive_window = 32 << 20;
        transport.congestion.initial_window = Some(64 << 20);
        if let Some(size) = send_buffer {
            // Send buffers small enough to stay warm in the cache.
            transport.streams.stream_send_buffer = size;
            transport.streams.send_buffer = 2 * size;
        }
        let server = Endpoint::new(
            now,
            EndpointConfig {
                seed: Seed::Fixed(1),
                ..EndpointConfig::insecure_fixed(0)
            },
            Some(ServerConfig {
                transport: transport.clone(),
                ..ServerConfig::default()
            }),
        )
        .expect("server");
        let mut client = Endpoint::new(
            now,
            EndpointConfig {
                seed: Seed::Fixed(2),
                ..EndpointConfig::insecure_fixed(0)
            },
            None,
        )
        .expect("client");
        client.set_client_config(transport).expect("config");
        let handle = client.connect(now, SERVER).expect("connect");
        let mut b = Self {
            client,
            server,
            handle,
            server_handle: None,
            stream: StreamId::new(weir_core::Side::Client, weir_core::Dir::Uni, 0).expect("id"),
            now,
            buf: Vec::with_capacity(2048),
            data: vec![0x5a; CHUNK],
            received: 0,
            packets: 0,
        };
        for _ in 0..10 {
            b.exchange();
        }
        b.stream = b
            .client
            .connection(b.handle)
            .expect("connected")
            .open_uni(0)
            .expect("stream");
        b
    }

    /// Moves every ready datagram both ways once, and lets the server read.
    fn exchange(&mut self) {
        self.now += Duration::from_micros(10);
        while let Some(t) = self.client.poll_transmit(self.now, 1, &mut self.buf) {
            self.server.handle_datagram(
                self.now,
                CLIENT,
                None,
                BytesMut::from(&self.buf[..t.size]),
            );
            self.buf.clear();
            self.packets += 1;
        }
        while let Some((h, event)) = self.server.poll_event() {
            self.server_handle = Some(h);
            if let Event::Stream(StreamEvent::Opened { .. }) = event {
                let conn = self.server.connection(h).expect("live");
                while conn.accept_uni().is_some() {}
            }
        }
        if let Some(h) = self.server_handle {
            let conn = self.server.connection(h).expect("live");
            while let Ok(Some(chunk)) = conn.read(self.now, self.stream, usize::MAX) {
                self.received += chunk.len();
            }
        }
        while let Some(t) = self.server.poll_transmit(self.now, 1, &mut self.buf) {
            self.client.handle_datagram(
                self.now,
                SERVER,
                None,
                BytesMut::from(&self.buf[..t.size]),
            );
            self.buf.clear();
        }
        while self.client.poll_event().is_some() {}
        self.client.handle_timeout(self.now);
        self.server.handle_timeout(self.now);
    }

    /// Sends `bytes` on the stream and returns when the server has read them.
    fn transfer(&mut self, bytes: usize) {
        let target = self.received + bytes;
        let mut written = 0;
        while self.received < target {
            let conn = self.client.connection(self.handle).expect("live");
            while written < bytes {
                let n = (bytes - written).min(CHUNK);
                match conn.write(self.stream, &self.data[..n]) {
                    Ok(0) | Err(_) => break,
                    Ok(k) => written += k,
                }
            }
            self.exchange();
        }
    }
}

fn bulk(c: &mut Criterion) {
    const BYTES: usize = 8 << 20;
    let mut group = c.benchmark_group("bulk");
    group.throughput(Throughput::Bytes(BYTES as u64));
    group.sample_size(20);
    for (name, send_buffer) in [
        ("in_memory_8MiB_1MiB_send_buffer", Some(1 << 20)),
        ("in_memory_8MiB_default_buffers", None),
    ] {
        group.bench_function(name, |b| {
            let mut bench = Bench::new(send_buffer);
            b.iter(|| bench.transfer(BYTES));
            // Criterion reports bytes per second; this converts to packets per second.
            eprintln!(
                "{name}: {:.0} stream bytes per data packet ({} packets)",
                bench.received as f64 / bench.packets.max(1) as f64,
                bench.packets
            );
        });
    }
    group.finish();
}

criterion_group!(benches, bulk);
criterion_main!(benches);
