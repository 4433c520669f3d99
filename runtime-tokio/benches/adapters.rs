//! The three adapters against quinn over loopback, in one run: single-connection bulk
//! throughput with process CPU seconds per GB, and game-tick (60 Hz) 64-byte echo round trips.
//! weir runs with TLS 1.3 (AES-128-GCM) everywhere.
//!
//! - weir-tokio on a two-worker runtime (its driver a task on the workers);
//! - weir-async-std with the measurement under tokio's and under smol's `block_on` (its driver
//!   on async-io's reactor, a thread of its own), and under smol with the drivers as tasks of
//!   smol's executor (`bind_with_driver`);
//! - weir-mio, both ends on one `mio::Poll` in one thread (no other thread at all), and each
//!   end on a thread and `Poll` of its own (as two processes, or quinn's two workers, run);
//! - quinn with its defaults, as weir-tokio's loopback bench runs it.
//!
//! weir-tokio and quinn are measured by weir-tokio's loopback bench's own functions (the
//! receiver or echo a spawned task, the sender the measuring future); weir-async-std the same
//! way on each executor. Runs are interleaved and the median of `RUNS` is reported, with the
//! ratios against quinn and against weir-tokio. Asserts only that every byte arrived.
//!
//! `cargo bench -p weir-tokio --bench adapters [-- MIB TICKS RUNS]` (defaults 1024, 300, 3)

#[path = "loopback.rs"]
#[allow(dead_code)]
mod loopback;

use std::future::Future;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cpu_time::ProcessTime;
use loopback::{Bulk, Latency, Protection, histogram, latency, weir_configs};
use mio::{Events, Poll, Token};
use weir_runtime::runtime::Runtime;
use weir_tokio::VarInt;

const CHUNK: usize = 256 * 1024;
const MESSAGE: usize = 64;
const TICK: Duration = Duration::from_micros(16_667);

/// Two endpoints; with `drivers`, their drivers are tasks of the measurement's executor
/// ([`bind_with_driver`](weir_runtime::Endpoint::bind_with_driver)), otherwise where the
/// runtime puts them.
async fn pair<R: Runtime>(
    drivers: Option<Spawn>,
) -> (weir_runtime::Endpoint<R>, weir_runtime::Endpoint<R>) {
    let (server, client) = weir_configs(Protection::Tls);
    let bind = |config| async move {
        match drivers {
            None => weir_runtime::Endpoint::<R>::bind(loopback::loopback(), config)
                .await
                .expect("bind"),
            Some(spawn) => {
                let (endpoint, driver) =
                    weir_runtime::Endpoint::<R>::bind_with_driver(loopback::loopback(), config)
                        .await
                        .expect("bind");
                spawn(Box::pin(driver));
                endpoint
            }
        }
    };
    (bind(server).await, bind(client).await)
}

/// Runs the server's side of a measurement as a task of the executor the measurement runs on
/// (as the quinn and weir-tokio measurements do with `tokio::spawn`).
type Spawn = fn(std::pin::Pin<Box<dyn Future<Output = ()> + Send>>);

fn tokio_spawn(task: std::pin::Pin<Box<dyn Future<Output = ()> + Send>>) {
    drop(tokio::spawn(task));
}

fn smol_spawn(task: std::pin::Pin<Box<dyn Future<Output = ()> + Send>>) {
    smol::spawn(task).detach();
}

/// One stream of `bytes` and the server's count back: the receiver a spawned task, the
/// sender this future, as weir-tokio's loopback bench measures weir-tokio and quinn.
async fn runtime_bulk<R: Runtime>(bytes: u64, spawn: Spawn, drivers: Option<Spawn>) -> Bulk {
    let (server, client) = pair::<R>(drivers).await;
    let addr = server.local_addr();
    spawn(Box::pin(async move {
        let conn = server.accept().await.expect("accept");
        let (mut send, mut recv) = conn.accept_bi().await.expect("stream");
        let mut n = 0u64;
        while let Some(chunk) = recv.read_chunk(usize::MAX).await.expect("read") {
            n += chunk.len() as u64;
        }
        send.write_all(&n.to_be_bytes()).await.expect("answer");
        send.finish().expect("finish");
        let _ = conn.closed().await;
    }));
    let conn = client.connect(addr).await.expect("connect");
    let (mut send, mut recv) = conn.open_bi(0).await.expect("open");
    let chunk = Bytes::from(vec![0x5a; CHUNK]);
    let (cpu, wall) = (ProcessTime::now(), Instant::now());
    let mut sent = 0;
    while sent < bytes {
        send.write_chunk(chunk.clone()).await.expect("write");
        sent += CHUNK as u64;
    }
    send.finish().expect("finish");
    let answer = recv.read_to_end(8).await.expect("answer");
    let result = Bulk {
        elapsed: wall.elapsed(),
        cpu: cpu.elapsed(),
        bytes: u64::from_be_bytes(answer.try_into().expect("8 bytes")),
    };
    conn.close(VarInt::ZERO, b"done");
    result
}

/// `ticks` echoes of a 64-byte message at 60 Hz: the echo a spawned task, the ticks this
/// future (async-io's timer, which runs beside any executor).
async fn runtime_latency<R: Runtime>(
    ticks: usize,
    spawn: Spawn,
    drivers: Option<Spawn>,
) -> Latency {
    let (server, client) = pair::<R>(drivers).await;
    let addr = server.local_addr();
    spawn(Box::pin(async move {
        let conn = server.accept().await.expect("accept");
        while let Ok(m) = conn.read_datagram().await {
            let _ = conn.send_datagram(m.data);
        }
    }));
    let conn = client.connect(addr).await.expect("connect");
    let mut h = histogram();
    let mut next = Instant::now();
    for _ in 0..ticks {
        next += TICK;
        async_io::Timer::at(next).await;
        let start = Instant::now();
        conn.send_datagram(Bytes::from_static(&[7; MESSAGE]))
            .expect("send");
        conn.read_datagram().await.expect("echo");
        let _ = h.record(start.elapsed().as_micros() as u64);
    }
    conn.close(VarInt::ZERO, b"done");
    latency(&h)
}

const SERVER: Token = Token(0);
const CLIENT: Token = Token(1);

/// Game ticks with weir-mio, both ends on one `Poll` in this thread.
fn mio_latency(ticks: usize) -> Latency {
    use weir_mio::{Endpoint, Event};
    let (server_config, client_config) = mio_configs();
    let mut poll = Poll::new().expect("poll");
    let mut server = Endpoint::bind(loopback::loopback(), server_config).expect("bind server");
    let mut client = Endpoint::bind(loopback::loopback(), client_config).expect("bind client");
    server.register(poll.registry(), SERVER).expect("register");
    client.register(poll.registry(), CLIENT).expect("register");
    let handle = client.connect(server.local_addr()).expect("connect");
    let mut events = Events::with_capacity(64);
    let mut h = histogram();
    let mut connected = false;
    let mut next = Instant::now();
    let mut in_flight: Option<Instant> = None;
    let mut done = 0;
    while done < ticks {
        let wake = [server.deadline(), client.deadline()]
            .into_iter()
            .flatten()
            .chain((connected && in_flight.is_none()).then_some(next))
            .min();
        let timeout = wake.map(|at| at.saturating_duration_since(Instant::now()));
        poll.poll(&mut events, timeout).expect("poll");
        for event in events.iter() {
            let _ = server.handle_event(event) || client.handle_event(event);
        }
        if connected && in_flight.is_none() && Instant::now() >= next {
            next += TICK;
            let now = client.now();
            let conn = client.connection(handle).expect("connection");
            conn.send_datagram(now, 0, Bytes::from_static(&[7; MESSAGE]), None)
                .expect("send");
            in_flight = Some(Instant::now());
        }
        server.drive();
        client.drive();
        while let Some((h, event)) = server.poll_event() {
            if let Event::DatagramReceived = event {
                let now = server.now();
                let conn = server.connection(h).expect("connection");
                while let Some(m) = conn.recv_datagram(now) {
                    let _ = conn.send_datagram(now, m.channel, m.data, None);
                }
            }
        }
        server.drive();
        while let Some((_, event)) = client.poll_event() {
            match event {
                Event::Connected => {
                    connected = true;
                    next = Instant::now();
                }
                Event::DatagramReceived => {
                    let now = client.now();
                    let conn = client.connection(handle).expect("connection");
                    while conn.recv_datagram(now).is_some() {
                        if let Some(start) = in_flight.take() {
                            let _ = h.record(start.elapsed().as_micros() as u64);
                            done += 1;
                        }
                    }
                }
                Event::Closed(reason) => panic!("client: {reason}"),
                _ => {}
            }
        }
    }
    latency(&h)
}

/// weir-mio's bulk transfer: its example's loop, both ends on one `Poll`.
#[path = "../../runtime-mio/examples/bulk.rs"]
#[allow(dead_code)]
mod mio_bulk;

fn mio_configs() -> (weir_mio::Config, weir_mio::Config) {
    let (server, client) = weir_configs(Protection::Tls);
    let convert = |c: weir_tokio::Config| weir_mio::Config {
        endpoint: c.endpoint,
        server: c.server,
        client: c.client,
        ..weir_mio::Config::default()
    };
    (convert(server), convert(client))
}

/// weir-mio's bulk transfer with each end on its own thread and `Poll`, as a server and a
/// client in two processes would run (and as quinn's two runtime workers do).
fn mio_bulk_two_threads(bytes: u64) -> Bulk {
    use weir_core::StreamId;
    use weir_core::streams::{ReadError, StreamEvent, WriteError};
    use weir_mio::{Endpoint, Event};
    let (server_config, client_config) = mio_configs();
    let mut server = Endpoint::bind(loopback::loopback(), server_config).expect("bind server");
    let addr = server.local_addr();
    let receiver = std::thread::spawn(move || {
        let mut poll = Poll::new().expect("poll");
        server.register(poll.registry(), SERVER).expect("register");
        let mut events = Events::with_capacity(64);
        let mut received = 0u64;
        loop {
            poll.poll(&mut events, server.timeout()).expect("poll");
            for event in events.iter() {
                server.handle_event(event);
            }
            server.drive();
            while let Some((h, event)) = server.poll_event() {
                let now = server.now();
                let Some(conn) = server.connection(h) else {
                    continue;
                };
                match event {
                    Event::Stream(StreamEvent::Opened { .. }) => {
                        while conn.accept_bi().is_some() {}
                    }
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
                    Event::Closed(_) => return,
                    _ => {}
                }
            }
            server.drive();
        }
    });
    let mut client = Endpoint::bind(loopback::loopback(), client_config).expect("bind client");
    let mut poll = Poll::new().expect("poll");
    client.register(poll.registry(), CLIENT).expect("register");
    let handle = client.connect(addr).expect("connect");
    let chunk = Bytes::from(vec![0x5a; CHUNK]);
    let mut pending = Bytes::new();
    let mut queued = 0u64;
    let mut stream: Option<StreamId> = None;
    let mut answer = Vec::new();
    let mut started = None;
    let mut events = Events::with_capacity(64);
    while answer.len() < 8 {
        poll.poll(&mut events, client.timeout()).expect("poll");
        for event in events.iter() {
            client.handle_event(event);
        }
        client.drive();
        while let Some((_, event)) = client.poll_event() {
            let now = client.now();
            let conn = client.connection(handle).expect("connection");
            match event {
                Event::Connected => {
                    stream = Some(conn.open_bi(0).expect("open"));
                    started = Some((Instant::now(), ProcessTime::now()));
                }
                Event::Stream(StreamEvent::Readable { id }) => {
                    while let Ok(Some(data)) = conn.read(now, id, usize::MAX) {
                        answer.extend_from_slice(&data);
                    }
                }
                Event::Closed(reason) => panic!("client: {reason}"),
                _ => {}
            }
        }
        if let Some(id) = stream {
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
            client.drive();
        }
    }
    let (wall, cpu) = started.expect("connected");
    let result = Bulk {
        elapsed: wall.elapsed(),
        cpu: cpu.elapsed(),
        bytes: u64::from_be_bytes(answer[..8].try_into().expect("8 bytes")),
    };
    client.close(handle, VarInt::ZERO, b"done");
    let bound = Instant::now() + Duration::from_secs(2);
    while client.connection_count() > 0 && Instant::now() < bound {
        let timeout = client.timeout().map(|t| t.min(Duration::from_millis(100)));
        poll.poll(&mut events, timeout).expect("poll");
        for event in events.iter() {
            client.handle_event(event);
        }
        client.drive();
        while client.poll_event().is_some() {}
    }
    receiver.join().expect("server thread");
    result
}

/// A row of the table: every run's bulk result and one latency run.
struct Row {
    name: &'static str,
    bulks: Vec<Bulk>,
    latency: Option<Latency>,
}

impl Row {
    fn median(&self) -> &Bulk {
        let mut order: Vec<&Bulk> = self.bulks.iter().collect();
        order.sort_by_key(|b| b.elapsed);
        order[order.len() / 2]
    }
}

fn smol_block_on<F: Future>(f: F) -> F::Output {
    smol::block_on(f)
}

fn main() {
    let numbers: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let mib = numbers.first().copied().unwrap_or(1024);
    let ticks = numbers.get(1).copied().unwrap_or(300) as usize;
    let runs = numbers.get(2).copied().unwrap_or(3).max(1) as usize;
    let bytes = mib << 20;
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "loopback, one connection, {mib} MiB bulk x {runs} runs (median); {ticks} ticks of \
         {MESSAGE}-byte echoes at 60 Hz; {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let names = [
        "weir-tokio",
        "weir-async-std (tokio block_on)",
        "weir-async-std (smol)",
        "weir-async-std (smol, driver task)",
        "weir-mio (one thread)",
        "weir-mio (a thread per end)",
        "quinn",
    ];
    let bulk = |which: usize, bytes: u64| -> Bulk {
        match which {
            // weir-tokio exactly as its loopback bench measures it beside quinn.
            0 => tokio.block_on(loopback::weir_bulk(bytes, Protection::Tls)),
            1 => tokio.block_on(runtime_bulk::<weir_async_std::AsyncIo>(
                bytes,
                tokio_spawn,
                None,
            )),
            2 => smol_block_on(runtime_bulk::<weir_async_std::AsyncIo>(
                bytes, smol_spawn, None,
            )),
            3 => smol_block_on(runtime_bulk::<weir_async_std::AsyncIo>(
                bytes,
                smol_spawn,
                Some(smol_spawn),
            )),
            4 => {
                let b = mio_bulk::mio_bulk(bytes, false);
                Bulk {
                    elapsed: b.elapsed,
                    cpu: b.cpu,
                    bytes: b.bytes,
                }
            }
            5 => mio_bulk_two_threads(bytes),
            _ => tokio.block_on(loopback::quinn_bulk(bytes)),
        }
    };
    // Warm each path once, unmeasured.
    for which in 0..names.len() {
        let _ = bulk(which, 64 << 20);
    }
    let mut rows: Vec<Row> = names
        .iter()
        .map(|name| Row {
            name,
            bulks: Vec::new(),
            latency: None,
        })
        .collect();
    for _ in 0..runs {
        for (which, row) in rows.iter_mut().enumerate() {
            let b = bulk(which, bytes);
            assert_eq!(b.bytes, bytes, "{} delivered everything", row.name);
            row.bulks.push(b);
        }
    }
    rows[0].latency = Some(tokio.block_on(loopback::weir_latency(ticks, Protection::Tls)));
    rows[1].latency = Some(tokio.block_on(runtime_latency::<weir_async_std::AsyncIo>(
        ticks,
        tokio_spawn,
        None,
    )));
    rows[2].latency = Some(smol_block_on(runtime_latency::<weir_async_std::AsyncIo>(
        ticks, smol_spawn, None,
    )));
    rows[3].latency = Some(smol_block_on(runtime_latency::<weir_async_std::AsyncIo>(
        ticks,
        smol_spawn,
        Some(smol_spawn),
    )));
    rows[4].latency = Some(mio_latency(ticks));
    rows[6].latency = Some(tokio.block_on(loopback::quinn_latency(ticks)));

    let quinn = rows[6].median().elapsed.as_secs_f64();
    let tokio_secs = rows[0].median().elapsed.as_secs_f64();
    println!(
        "{:<32} {:>14} {:>9} {:>11} {:>11} {:>9} {:>11}",
        "adapter", "throughput", "CPU s/GB", "RTT p50", "RTT p99", "÷ quinn", "÷ weir-tokio"
    );
    for row in &rows {
        let b = row.median();
        let secs = b.elapsed.as_secs_f64();
        let (p50, p99) = row.latency.as_ref().map_or(("-".into(), "-".into()), |l| {
            (format!("{:?}", l.p50), format!("{:?}", l.p99))
        });
        println!(
            "{:<32} {:>7.0} Mbit/s {:>9.2} {:>11} {:>11} {:>8.2}x {:>10.2}x",
            row.name,
            b.bytes as f64 * 8.0 / secs / 1e6,
            b.cpu.as_secs_f64() / (b.bytes as f64 / 1e9),
            p50,
            p99,
            quinn / secs,
            tokio_secs / secs,
        );
    }
}
