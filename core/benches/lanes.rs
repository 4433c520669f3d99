//! Message lanes between two endpoints in memory (no loss, no delay), sender and receiver
//! together on one core, driven exactly as `bulk.rs` drives streams:
//!
//! - `lanes/messages`: small messages per second through one lane. A reliable-ordered lane
//!   takes a batch at once (the messages share packets); an unreliable-sequenced lane takes one
//!   message per tick of the driving loop, because a message queued behind an unsent one
//!   supersedes it (only the newest matters). The reliable-ordered lane is measured that way
//!   too, for comparison.
//! - `lanes/fragmentation`: large messages on a reliable-ordered lane, fragmented by the core
//!   and put together at the receiver.
#![allow(missing_docs)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use weir_core::config::{EndpointConfig, Seed, ServerConfig, TransportConfig};
use weir_core::connection::Event;
use weir_core::endpoint::{ConnectionHandle, Endpoint};
use weir_core::lanes::{DeliveryMode, LaneConfig, LaneEvent, SendMessageError};

const LANE: u64 = 3;

const CLIENT: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1)),
    1,
);
const SERVER: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2)),
    1,
);

/// Exchanges without a message delivered before a run is declared stuck.
const STEP_BOUND: u32 = 100_000;

/// How a batch of messages is handed to the sender.
#[derive(Clone, Copy)]
enum Pace {
    /// All messages queued at once, then the pair is driven until they arrived.
    Batch,
    /// One message per exchange (a game's tick).
    PerTick,
}

struct Bench {
    client: Endpoint,
    server: Endpoint,
    handle: ConnectionHandle,
    server_handle: Option<ConnectionHandle>,
    now: Instant,
    buf: Vec<u8>,
    /// Messages and message bytes the server read.
    received: u64,
    received_bytes: u64,
    /// Datagrams the client sent.
    packets: u64,
}

impl Bench {
    #[allow(clippy::disallowed_methods)] // a base instant; the endpoints only see it advance
    fn new(mode: DeliveryMode) -> Self {
        let now = Instant::now();
        let mut transport = TransportConfig::default();
        // Windows and buffers well above a batch, so that flow control does not dominate.
        transport.lanes.lane_receive_window = 16 << 20;
        transport.lanes.receive_window = 32 << 20;
        transport.lanes.send_buffer = 32 << 20;
        transport.lanes.reassembly_buffer = 16 << 20;
        transport.lanes.unreliable_receive_buffer = 16 << 20;
        transport.congestion.initial_window = Some(64 << 20);
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
            now,
            buf: Vec::with_capacity(2048),
            received: 0,
            received_bytes: 0,
            packets: 0,
        };
        for _ in 0..10 {
            b.exchange();
        }
        b.client
            .connection(b.handle)
            .expect("connected")
            .configure_lane(LANE, LaneConfig::new(mode))
            .expect("lane");
        b
    }

    /// Moves every ready datagram both ways once, and lets the server read its messages.
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
        let mut readable = false;
        while let Some((h, event)) = self.server.poll_event() {
            self.server_handle = Some(h);
            readable |= matches!(event, Event::Lane(LaneEvent::Readable { lane: LANE }));
        }
        if readable && let Some(h) = self.server_handle {
            let conn = self.server.connection(h).expect("live");
            while let Some(message) = conn.recv_message_on(self.now, LANE) {
                self.received += 1;
                self.received_bytes += message.data.len() as u64;
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

    /// Queues `data` on the lane, driving the pair while the send buffer is full.
    fn send(&mut self, data: &Bytes) {
        for _ in 0..STEP_BOUND {
            let now = self.now;
            let conn = self.client.connection(self.handle).expect("live");
            match conn.send_message(now, LANE, data.clone(), None) {
                Ok(_) => return,
                Err(SendMessageError::Blocked) => self.exchange(),
                Err(e) => panic!("send_message: {e}"),
            }
        }
        panic!("send buffer still full after {STEP_BOUND} exchanges");
    }

    /// Drives the pair until the server has read `target` messages in all.
    fn wait_for(&mut self, target: u64) {
        let mut last = self.received;
        let mut idle = 0;
        while self.received < target {
            self.exchange();
            if self.received == last {
                idle += 1;
                assert!(
                    idle < STEP_BOUND,
                    "stuck at {} of {target} messages",
                    self.received
                );
            } else {
                (last, idle) = (self.received, 0);
            }
        }
    }

    /// One batch on a fresh pair: the messages read and the datagrams the client sent for them.
    fn once(mode: DeliveryMode, data: &Bytes, count: u64, pace: Pace) -> (u64, u64) {
        let mut bench = Self::new(mode);
        let before = bench.packets;
        bench.transfer(data, count, pace);
        assert_eq!(bench.received_bytes, count * data.len() as u64);
        (bench.received, bench.packets - before)
    }

    /// Sends `count` copies of `data` and returns when the server has read them all.
    fn transfer(&mut self, data: &Bytes, count: u64, pace: Pace) {
        let target = self.received + count;
        for _ in 0..count {
            self.send(data);
            if let Pace::PerTick = pace {
                self.exchange();
            }
        }
        self.wait_for(target);
    }
}

fn config(group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(3));
}

fn messages(c: &mut Criterion) {
    const COUNT: u64 = 1000;
    let mut group = c.benchmark_group("lanes/messages");
    config(&mut group);
    group.throughput(Throughput::Elements(COUNT));
    for (name, mode, size, pace) in [
        (
            "unreliable_sequenced_64B_per_tick",
            DeliveryMode::UnreliableSequenced,
            64,
            Pace::PerTick,
        ),
        (
            "unreliable_sequenced_200B_per_tick",
            DeliveryMode::UnreliableSequenced,
            200,
            Pace::PerTick,
        ),
        (
            "reliable_ordered_64B_per_tick",
            DeliveryMode::ReliableOrdered,
            64,
            Pace::PerTick,
        ),
        (
            "reliable_ordered_200B_per_tick",
            DeliveryMode::ReliableOrdered,
            200,
            Pace::PerTick,
        ),
        (
            "reliable_ordered_64B_batch",
            DeliveryMode::ReliableOrdered,
            64,
            Pace::Batch,
        ),
        (
            "reliable_ordered_200B_batch",
            DeliveryMode::ReliableOrdered,
            200,
            Pace::Batch,
        ),
    ] {
        let data = Bytes::from(vec![0x5a; size]);
        // Criterion reports messages per second; one batch outside the timing shows how
        // they were packed.
        let (messages, packets) = Bench::once(mode, &data, COUNT, pace);
        eprintln!(
            "{name}: {:.1} messages per client datagram",
            messages as f64 / packets as f64
        );
        group.bench_function(name, |b| {
            let mut bench = Bench::new(mode);
            b.iter(|| bench.transfer(&data, COUNT, pace));
        });
    }
    group.finish();
}

fn fragmentation(c: &mut Criterion) {
    const BYTES: u64 = 8 << 20;
    let mut group = c.benchmark_group("lanes/fragmentation");
    config(&mut group);
    group.throughput(Throughput::Bytes(BYTES));
    for (name, size) in [
        ("reliable_ordered_8MiB_in_64KiB_messages", 64 << 10),
        ("reliable_ordered_8MiB_in_1MiB_messages", 1 << 20),
    ] {
        let data = Bytes::from(vec![0x5a; size]);
        let count = BYTES / size as u64;
        let mode = DeliveryMode::ReliableOrdered;
        let (messages, packets) = Bench::once(mode, &data, count, Pace::Batch);
        eprintln!(
            "{name}: {:.0} message bytes per client datagram",
            (messages * size as u64) as f64 / packets as f64
        );
        group.bench_function(name, |b| {
            let mut bench = Bench::new(mode);
            b.iter(|| bench.transfer(&data, count, Pace::Batch));
        });
    }
    group.finish();
}

criterion_group!(benches, messages, fragmentation);
criterion_main!(benches);
