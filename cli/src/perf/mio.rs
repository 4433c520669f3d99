//! `weir perf --runtime mio`: the same measurements with weir-mio, the endpoint on a
//! `mio::Poll` in this thread and the measurement in the same loop, as an application with its
//! own event loop embeds weir. The wire protocol is the tokio client's and server's, so a mio
//! client measures against a tokio server and the other way round.
//!
//! What it runs: the bulk mode (`--bytes` or `--duration`, with the progress bar) and, on the
//! server, bulk counts and game echoes. Lanes, the QUIC path and interval lines are the async
//! adapters' (a typed error says so).

use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::Bytes;
use mio::{Events, Poll, Token};
use weir_core::StreamId;
use weir_core::connection::ConnectionStats;
use weir_core::streams::{ReadError, StreamEvent, WriteError};
use weir_mio::{Config, ConnectionHandle, Endpoint, Event, VarInt};

use super::client::{self, Outcome, SocketSummary};
use super::server::finished_line;
use super::{BULK_DEADLINE, ClientArgs, LiveError, MODE_BULK, MODE_GAME, Mode, ServerArgs};
use crate::scenario::fmt_duration;

const ENDPOINT: Token = Token(0);
/// What the client hands the stream per write (as the tokio client).
const CHUNK: usize = 256 * 1024;

/// weir-mio's configuration from the one the async adapters take (the same fields but the
/// socket's tuning, left at weir-mio's defaults).
fn mio_config(config: weir_tokio::Config) -> Config {
    Config {
        endpoint: config.endpoint,
        server: config.server,
        client: config.client,
        allow_insecure: config.allow_insecure,
        ..Config::default()
    }
}

/// One turn of the loop: wait for readiness or the endpoint's deadline (at most `cap`), hand
/// the readiness to the endpoint, and let it receive, fire timers and send.
fn turn(
    poll: &mut Poll,
    events: &mut Events,
    endpoint: &mut Endpoint,
    cap: Duration,
) -> std::io::Result<()> {
    let timeout = endpoint.timeout().map_or(cap, |t| t.min(cap));
    match poll.poll(events, Some(timeout)) {
        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
        Err(e) => return Err(e),
        Ok(()) => {}
    }
    for event in events.iter() {
        endpoint.handle_event(event);
    }
    endpoint.drive();
    Ok(())
}

/// `weir perf client --runtime mio`.
pub fn client(args: &ClientArgs) -> Result<(), LiveError> {
    let (outcome, stats, socket) = bulk(args)?;
    client::print_result(args, &outcome, stats.as_ref(), None, &socket);
    Ok(())
}

/// The bulk run: what it measured, the connection's statistics, the socket's counters.
fn bulk(args: &ClientArgs) -> Result<(Outcome, Option<ConnectionStats>, SocketSummary), LiveError> {
    if args.mode != Mode::Bulk {
        return Err(LiveError::NotOnMio("the game mode"));
    }
    if args.transport.quic {
        return Err(LiveError::NotOnMio("the QUIC path"));
    }
    if args.interval.is_some() {
        return Err(LiveError::NotOnMio("interval lines"));
    }
    if args.transport.carrier == super::TransportKind::Tcp {
        return Err(LiveError::NotOnMio("the TCP transport"));
    }
    if args.transport.rendezvous.is_some() {
        return Err(LiveError::NotOnMio("--rendezvous"));
    }
    let target = args.connect.ok_or(LiveError::NoServer)?;
    let local: SocketAddr = match target {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let config = weir_tokio::Config {
        client: args.transport.transport(),
        ..args.security.config(None)?
    };
    let mut endpoint = Endpoint::bind(local, mio_config(config))?;
    let mut poll = Poll::new()?;
    endpoint.register(poll.registry(), ENDPOINT)?;
    let mut events = Events::with_capacity(256);
    let handle = endpoint.connect(target)?;

    let limit = if args.duration.is_some() {
        u64::MAX
    } else {
        args.bytes
    };
    let bar = match args.duration {
        Some(d) if !args.json => client::progress(
            d.as_secs().max(1),
            "{elapsed_precise} [{bar:40}] {pos}/{len} s",
        ),
        _ if args.json => indicatif::ProgressBar::hidden(),
        _ => client::progress(
            args.bytes,
            "{elapsed_precise} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec}",
        ),
    };
    let chunk = Bytes::from(vec![0x5a; CHUNK]);
    let mut pending = Bytes::new();
    let mut stream: Option<StreamId> = None;
    let mut started = None;
    let mut sent = 0u64;
    let mut ended = false;
    let mut timed_out = false;
    let mut answer = Vec::new();
    let mut samples = client::histogram();
    let mut last_sample = Instant::now();
    while answer.len() < 8 {
        turn(
            &mut poll,
            &mut events,
            &mut endpoint,
            Duration::from_millis(10),
        )?;
        let now = endpoint.now();
        while let Some((_, event)) = endpoint.poll_event() {
            match event {
                Event::Connected => {
                    let Some(conn) = endpoint.connection(handle) else {
                        continue;
                    };
                    let id = conn.open_bi(0)?;
                    pending = Bytes::from_static(&[MODE_BULK]);
                    stream = Some(id);
                    started = Some(Instant::now());
                }
                Event::Stream(StreamEvent::Readable { id }) if Some(id) == stream => {
                    if let Some(conn) = endpoint.connection(handle) {
                        while let Ok(Some(data)) = conn.read(now, id, 8) {
                            answer.extend_from_slice(&data);
                        }
                    }
                }
                Event::Closed(error) => return Err(LiveError::Closed(error)),
                _ => {}
            }
        }
        let (Some(id), Some(start)) = (stream, started) else {
            continue;
        };
        let Some(conn) = endpoint.connection(handle) else {
            // Gone without a Closed event cannot happen (Closed comes before Drained).
            continue;
        };
        let deadline_passed = args.duration.is_some_and(|d| start.elapsed() >= d);
        if !ended && deadline_passed {
            // iperf's contract, as the tokio client: the run ends at the deadline, what is
            // still buffered is dropped, the server answers with what it read.
            let _ = conn.reset(id, VarInt::from_u32(BULK_DEADLINE));
            ended = true;
            timed_out = true;
        }
        while !ended && (sent < limit || !pending.is_empty()) {
            if pending.is_empty() {
                let n = CHUNK.min(usize::try_from(limit - sent).unwrap_or(CHUNK));
                pending = chunk.slice(..n);
                sent += n as u64;
            }
            match conn.write_chunk(id, pending.clone()) {
                Ok(0) | Err(WriteError::Blocked) => break,
                Ok(n) => {
                    let _ = pending.split_to(n);
                }
                Err(e) => return Err(LiveError::MioWrite(e)),
            }
        }
        if !ended && sent >= limit && pending.is_empty() {
            let _ = conn.finish(id);
            ended = true;
        }
        // What was just written goes out now, not after the next wait.
        endpoint.drive();
        let Some(conn) = endpoint.connection(handle) else {
            continue;
        };
        if last_sample.elapsed() >= Duration::from_millis(10) {
            last_sample = Instant::now();
            let srtt = conn.stats().srtt;
            if !srtt.is_zero() {
                let _ = samples.record(u64::try_from(srtt.as_micros()).unwrap_or(u64::MAX));
            }
            bar.set_position(match args.duration {
                Some(_) => start.elapsed().as_secs(),
                None => conn.stats().bytes_sent.min(args.bytes),
            });
        }
    }
    bar.finish_and_clear();
    // A run shorter than the sampling period still reports the connection's estimate.
    if samples.is_empty()
        && let Some(conn) = endpoint.connection(handle)
    {
        let srtt = conn.stats().srtt;
        let _ = samples.record(u64::try_from(srtt.as_micros()).unwrap_or(u64::MAX).max(1));
    }
    let start = started.unwrap_or_else(Instant::now);
    let elapsed = match args.duration {
        Some(d) if timed_out => d,
        _ => start.elapsed(),
    };
    let bytes = u64::from_be_bytes(
        answer[..8]
            .try_into()
            .map_err(|_| LiveError::BadAnswer(answer.len()))?,
    );
    let stats = endpoint.connection(handle).map(|c| c.stats());
    let outcome = Outcome {
        mode: Mode::Bulk,
        bytes,
        elapsed,
        rtts: samples,
        sent: 0,
        echoed: 0,
        intervals: Vec::new(),
    };
    // A clean end: close, and drive until the connection drained (bounded).
    endpoint.close(handle, VarInt::ZERO, b"done");
    let bound = Instant::now() + Duration::from_secs(1);
    while endpoint.connection_count() > 0 && Instant::now() < bound {
        turn(
            &mut poll,
            &mut events,
            &mut endpoint,
            Duration::from_millis(50),
        )?;
        while endpoint.poll_event().is_some() {}
    }
    let socket = SocketSummary::from(&endpoint.socket_stats());
    Ok((outcome, stats, socket))
}

/// What the server keeps per stream until it knows its mode.
enum Serving {
    /// The mode byte has not arrived.
    Unknown,
    /// A bulk stream: bytes counted since `started`.
    Bulk { received: u64, started: Instant },
    /// Its answer, until the stream takes it.
    Answer(Bytes),
    /// A game: the connection's messages are echoed.
    Game,
}

/// `weir perf server --runtime mio`.
pub fn server(args: &ServerArgs) -> Result<(), LiveError> {
    if args.transport.quic {
        return Err(LiveError::NotOnMio("the QUIC path"));
    }
    let transport = args.transport.transport();
    let (security, pin) = args.security.config(None)?;
    let config = weir_tokio::Config {
        server: Some(super::server_config(transport.clone())),
        client: transport,
        ..security
    };
    let mut endpoint = Endpoint::bind(args.listen, mio_config(config))?;
    let mut poll = Poll::new()?;
    endpoint.register(poll.registry(), ENDPOINT)?;
    match pin {
        Some(pin) => println!("pin: {pin}"),
        None if args.security.insecure => {
            println!("INSECURE: no encryption, no authentication (--insecure)");
        }
        None => {}
    }
    let info = endpoint.socket_info();
    println!(
        "weir perf server (weir-mio) listening on {} (socket buffers {} / {} B, GSO {} \
         segments, GRO {})",
        endpoint.local_addr(),
        info.send_buffer,
        info.recv_buffer,
        info.max_gso_segments,
        info.gro_segments,
    );
    let mut events = Events::with_capacity(256);
    let mut streams: HashMap<(ConnectionHandle, StreamId), Serving> = HashMap::new();
    let mut games: HashSet<ConnectionHandle> = HashSet::new();
    let mut clients: HashMap<ConnectionHandle, (SocketAddr, Instant)> = HashMap::new();
    loop {
        turn(
            &mut poll,
            &mut events,
            &mut endpoint,
            Duration::from_secs(1),
        )?;
        let now = endpoint.now();
        while let Some((handle, event)) = endpoint.poll_event() {
            let Some(conn) = endpoint.connection(handle) else {
                continue;
            };
            match event {
                Event::Connected => {
                    clients.insert(handle, (conn.remote_address(), Instant::now()));
                }
                Event::Stream(StreamEvent::Opened { .. }) => {
                    while let Some(id) = conn.accept_bi() {
                        streams.insert((handle, id), Serving::Unknown);
                    }
                }
                Event::Stream(StreamEvent::Readable { id }) => {
                    let Some(serving) = streams.get_mut(&(handle, id)) else {
                        continue;
                    };
                    loop {
                        match conn.read(now, id, usize::MAX) {
                            Ok(Some(mut data)) => {
                                if let Serving::Unknown = serving {
                                    let mode = data.split_to(1);
                                    *serving = match mode.first() {
                                        Some(&MODE_BULK) => Serving::Bulk {
                                            received: 0,
                                            started: Instant::now(),
                                        },
                                        Some(&MODE_GAME) => {
                                            games.insert(handle);
                                            Serving::Game
                                        }
                                        // Lanes are the async adapters' (the client's lane
                                        // setup is not read here): the stream is refused.
                                        _ => {
                                            let _ = conn.stop(id, VarInt::ZERO);
                                            break;
                                        }
                                    };
                                }
                                if let Serving::Bulk { received, .. } = serving {
                                    *received += data.len() as u64;
                                }
                            }
                            Ok(None) | Err(ReadError::Reset(_)) => {
                                if let Serving::Bulk { received, started } = *serving {
                                    let elapsed = started.elapsed();
                                    println!(
                                        "bulk: {received} B in {} ({:.1} Mbit/s)",
                                        fmt_duration(elapsed),
                                        received as f64 * 8.0
                                            / elapsed.as_secs_f64().max(1e-9)
                                            / 1e6
                                    );
                                    *serving = Serving::Answer(Bytes::copy_from_slice(
                                        &received.to_be_bytes(),
                                    ));
                                }
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    answer(conn, id, serving);
                }
                Event::Stream(StreamEvent::Writable { id }) => {
                    if let Some(serving) = streams.get_mut(&(handle, id)) {
                        answer(conn, id, serving);
                    }
                }
                Event::DatagramReceived => {
                    while let Some(message) = conn.recv_datagram(now) {
                        if games.contains(&handle) {
                            let _ = conn.send_datagram(now, message.channel, message.data, None);
                        }
                    }
                }
                Event::Closed(error) => {
                    if let Some((peer, since)) = clients.remove(&handle) {
                        let stats = conn.stats();
                        println!(
                            "{}",
                            finished_line(peer, since.elapsed(), Some(&stats), &error)
                        );
                    }
                    streams.retain(|k, _| k.0 != handle);
                    games.remove(&handle);
                }
                _ => {}
            }
        }
    }
}

/// Writes a stream's answer once it has one, then finishes the stream.
fn answer(conn: &mut weir_mio::Connection, id: StreamId, serving: &mut Serving) {
    let Serving::Answer(answer) = serving else {
        return;
    };
    while !answer.is_empty() {
        match conn.write_chunk(id, answer.clone()) {
            Ok(0) | Err(WriteError::Blocked) => return,
            Ok(n) => {
                let _ = answer.split_to(n);
            }
            Err(_) => return,
        }
    }
    let _ = conn.finish(id);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::perf::client::tests::{client_args, perf_server};

    /// A weir-mio client measures against the tokio server (the same wire protocol): every
    /// byte counted, a table's worth of statistics.
    #[test]
    fn a_mio_client_measures_against_a_tokio_server() {
        let runtime = crate::perf::runtime().expect("runtime");
        // The server's accept loop runs on `runtime`, which lives to the end of the test.
        let (_server, addr) = runtime.block_on(perf_server());
        let addr = addr.to_string();
        let parse = |extra: &[&str]| {
            let argv = ["--connect", &addr, "--runtime", "mio"];
            client_args(
                &argv
                    .into_iter()
                    .chain(extra.iter().copied())
                    .collect::<Vec<_>>(),
            )
        };
        let (outcome, stats, socket) =
            bulk(&parse(&["--bytes", "3MB", "--json"])).expect("bulk run");
        assert_eq!(outcome.bytes, 3_000_000);
        let stats = stats.expect("statistics");
        assert!(stats.bytes_sent >= 3_000_000, "{stats:?}");
        assert!(!outcome.rtts.is_empty(), "RTT samples taken");
        assert!(socket.datagrams_sent > 0);
        // The mio path refuses what it does not run, with a typed error.
        let args = parse(&["--mode", "game"]);
        assert!(matches!(client(&args), Err(LiveError::NotOnMio(_))));
    }
}
