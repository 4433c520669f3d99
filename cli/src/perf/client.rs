//! `weir perf client`: bulk throughput or game-tick round trips, then a table.

use std::io::IsTerminal;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{CellAlignment, Table};
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::oneshot;
use weir_core::connection::ConnectionStats;
use weir_core::lanes::LaneStats;
use weir_runtime::runtime::Runtime;
use weir_tokio::{Config, Connection, Lane, SocketStats, VarInt};

use super::{
    BULK_DEADLINE, ClientArgs, GAME_LANE, LaneSetup, LiveError, MODE_BULK, MODE_GAME, MODE_LANE,
    Mode, TransportKind,
};
use crate::scenario::{fmt_duration, fmt_percent};

/// Bytes handed to the stream per write (zero-copy: one buffer, sliced).
const CHUNK: usize = 256 * 1024;
/// How often the bulk run samples the connection's latest RTT.
const RTT_SAMPLE: Duration = Duration::from_millis(10);

/// What a run measured.
pub(super) struct Outcome {
    pub(super) mode: Mode,
    pub(super) bytes: u64,
    pub(super) elapsed: Duration,
    /// Round trips in microseconds (bulk: sampled estimates; game: echoed messages).
    pub(super) rtts: Histogram<u64>,
    pub(super) sent: u64,
    pub(super) echoed: u64,
    /// One line per `--interval` of a bulk run.
    pub(super) intervals: Vec<IntervalLine>,
}

/// What one `--interval` of a bulk run saw, from the sender's statistics.
#[derive(Debug, Clone, Copy)]
pub(super) struct IntervalLine {
    from: Duration,
    to: Duration,
    /// UDP payload bytes sent in the interval (retransmissions included).
    wire_bytes: u64,
    cwnd: u64,
    srtt: Duration,
    /// Packets declared lost in the interval.
    lost: u64,
}

impl IntervalLine {
    fn rate_bps(&self) -> f64 {
        self.wire_bytes as f64 * 8.0 / (self.to - self.from).as_secs_f64().max(1e-9)
    }
}

impl std::fmt::Display for IntervalLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "[{:6.2} – {:6.2} s] {:8.2} MB {:8.2} Mbit/s  cwnd {:8.1} kB  srtt {:7.1} ms  lost {}",
            self.from.as_secs_f64(),
            self.to.as_secs_f64(),
            self.wire_bytes as f64 / 1e6,
            self.rate_bps() / 1e6,
            self.cwnd as f64 / 1e3,
            self.srtt.as_secs_f64() * 1e3,
            self.lost
        )
    }
}

pub async fn run<R: Runtime>(args: &ClientArgs) -> Result<(), LiveError> {
    if args.lane.is_some() && args.mode != Mode::Game {
        return Err(LiveError::LaneNeedsGame);
    }
    if args.interval.is_some_and(|i| i.is_zero()) {
        return Err(LiveError::Interval);
    }
    if args.mode == Mode::Game {
        if args.message_size < 16 {
            return Err(LiveError::MessageSize);
        }
        if args.tick_rate == 0 {
            return Err(LiveError::TickRate);
        }
    }
    let target = args
        .connect
        .or(args.transport.rendezvous)
        .ok_or(LiveError::NoServer)?;
    let local: SocketAddr = match target {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let config = Config {
        client: args.transport.transport(),
        tcp: args.transport.tcp(),
        ..args.security.config(args.transport.quic())?
    };
    if args.transport.carrier == TransportKind::Tcp && config.tcp.is_none() {
        return Err(LiveError::TcpOff);
    }
    let endpoint = weir_runtime::Endpoint::<R>::bind(local, config).await?;
    let server = match args.transport.meet(&endpoint).await? {
        Some(path) => path.peer,
        None => target,
    };
    let conn = endpoint.connect(server).await?;
    let outcome = match args.mode {
        Mode::Bulk => bulk(&conn, args).await?,
        Mode::Game => game(&conn, args).await?,
    };
    let stats = conn.stats();
    let lanes = args.lane_setup().and(conn.lane_stats());
    conn.close(0u32.into(), b"done");
    endpoint
        .shutdown(0u32.into(), b"done", Duration::from_secs(1))
        .await;
    let mut socket = SocketSummary::from(&endpoint.socket_stats());
    socket.tcp_records_sent = endpoint.tcp_stats().records_sent;
    print_result(args, &outcome, stats.as_ref(), lanes.as_ref(), &socket);
    Ok(())
}

/// The run as one JSON object (`--json`).
fn json(
    outcome: &Outcome,
    stats: Option<&ConnectionStats>,
    lanes: Option<&LaneStats>,
    socket: &SocketSummary,
) -> serde_json::Value {
    let secs = outcome.elapsed.as_secs_f64().max(1e-9);
    let us = |q: f64| (!outcome.rtts.is_empty()).then(|| outcome.rtts.value_at_quantile(q));
    let micros = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
    serde_json::json!({
        "mode": match outcome.mode {
            Mode::Bulk => "bulk",
            Mode::Game => "game",
        },
        "seconds": secs,
        "bytes": outcome.bytes,
        "throughput_bps": outcome.bytes as f64 * 8.0 / secs,
        "rtt_us": { "p50": us(0.5), "p99": us(0.99), "max": us(1.0) },
        "messages": { "sent": outcome.sent, "echoed": outcome.echoed },
        "intervals": outcome.intervals.iter().map(|i| serde_json::json!({
            "from": i.from.as_secs_f64(),
            "to": i.to.as_secs_f64(),
            "wire_bytes": i.wire_bytes,
            "bps": i.rate_bps(),
            "cwnd": i.cwnd,
            "srtt_us": micros(i.srtt),
            "lost": i.lost,
        })).collect::<Vec<_>>(),
        "connection": stats.map(|s| serde_json::json!({
            "packets_sent": s.packets_sent,
            "packets_lost": s.packets_lost,
            "bytes_sent": s.bytes_sent,
            "stream_bytes_retransmitted": s.stream_bytes_retransmitted,
            "srtt_us": micros(s.srtt),
            "min_rtt_us": micros(s.min_rtt),
            "cwnd": s.cwnd,
            "congestion_events": s.congestion_events,
            "capacity_drops": s.capacity_drops,
            "spurious_losses": s.spurious_losses,
            "spurious_congestion_events": s.spurious_congestion_events,
            "controller": s.controller.to_string(),
            "strategy": s.strategy.to_string(),
            "strategy_changes": s.strategy_changes,
            "datagram_size": s.datagram_size,
            "mtu": {
                "validated": s.mtu.current,
                "ceiling": s.mtu.ceiling,
                "probes_sent": s.mtu.probes_sent,
                "probes_lost": s.mtu.probes_lost,
                "black_holes": s.mtu.black_holes,
            },
            "quality": s.path.quality.map(|q| q.total),
        })),
        "lanes": lanes.map(|l| serde_json::json!({
            "messages_sent": l.messages_sent,
            "messages_received": l.messages_received,
            "repaired_messages": l.repaired_messages,
            "fec_bytes_sent": l.fec_bytes_sent,
            "expired_sending": l.expired_sending,
            "given_up_in_transit": l.given_up_in_transit,
        })),
        "socket": {
            "datagrams_sent": socket.datagrams_sent,
            "send_errors": socket.send_errors,
            "tcp_records_sent": socket.tcp_records_sent,
        },
    })
}

/// What the result shows of the socket, from whichever adapter drove it.
pub(super) struct SocketSummary {
    pub(super) datagrams_sent: u64,
    gso_sends: u64,
    gro_receives: u64,
    send_errors: u64,
    errors: u64,
    /// Datagrams the TCP transport carried instead (a fallback or `--transport tcp`).
    pub(super) tcp_records_sent: u64,
}

/// Maps an adapter's socket counters (weir-runtime's and weir-mio's have the same fields).
macro_rules! socket_summary {
    ($($stats:ty),*) => {$(
        impl From<&$stats> for SocketSummary {
            fn from(s: &$stats) -> Self {
                Self {
                    datagrams_sent: s.datagrams_sent,
                    gso_sends: s.gso_sends,
                    gro_receives: s.gro_receives,
                    send_errors: s.message_too_large + s.other_send_errors,
                    errors: s.connection_refused
                        + s.message_too_large
                        + s.no_buffer_space
                        + s.other_send_errors
                        + s.other_recv_errors,
                    tcp_records_sent: 0,
                }
            }
        }
    )*};
}
socket_summary!(SocketStats, weir_mio::SocketStats);

/// Prints a run's result: a table (and the lanes' table), or one JSON object with `--json`.
pub(super) fn print_result(
    args: &ClientArgs,
    outcome: &Outcome,
    stats: Option<&ConnectionStats>,
    lanes: Option<&LaneStats>,
    socket: &SocketSummary,
) {
    if args.json {
        println!("{}", json(outcome, stats, lanes, socket));
        return;
    }
    println!("{}", render(outcome, stats, socket));
    if let (Some(setup), Some(lanes)) = (args.lane_setup(), lanes) {
        println!("{}", lane_table(&setup, lanes));
    }
}

pub(super) fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("constant histogram bounds are valid")
}

pub(super) fn progress(len: u64, template: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(
        Some(len),
        if std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        },
    );
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar
}

/// The sampler's result: the RTT samples and the interval lines.
type SamplerTask = tokio::task::JoinHandle<(Histogram<u64>, Vec<IntervalLine>)>;

/// Samples the connection's latest RTT until told to stop and, every `interval` if given,
/// takes an [`IntervalLine`] (printed above the progress bar unless `quiet`).
fn spawn_rtt_sampler(
    conn: Connection,
    interval: Option<Duration>,
    quiet: bool,
    bar: ProgressBar,
) -> (oneshot::Sender<()>, SamplerTask) {
    let (stop_tx, mut stop_rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let mut rtts = histogram();
        let mut lines = Vec::new();
        let started = Instant::now();
        let mut last = (Duration::ZERO, conn.stats());
        let mut tick = tokio::time::interval(RTT_SAMPLE);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    let stats = conn.stats();
                    if let Some(stats) = &stats
                        && !stats.latest_rtt.is_zero()
                    {
                        let _ = rtts.record(stats.latest_rtt.as_micros() as u64);
                    }
                    let now = started.elapsed();
                    if let (Some(every), Some(stats)) = (interval, &stats)
                        && now >= last.0 + every
                    {
                        let before = last.1.as_ref();
                        let line = IntervalLine {
                            from: last.0,
                            to: now,
                            wire_bytes: stats.bytes_sent - before.map_or(0, |b| b.bytes_sent),
                            cwnd: stats.cwnd,
                            srtt: stats.srtt,
                            lost: stats.packets_lost - before.map_or(0, |b| b.packets_lost),
                        };
                        if !quiet {
                            bar.suspend(|| println!("{line}"));
                        }
                        lines.push(line);
                        last = (now, Some(stats.clone()));
                    }
                }
                _ = &mut stop_rx => break,
            }
        }
        (rtts, lines)
    });
    (stop_tx, task)
}

async fn bulk(conn: &Connection, args: &ClientArgs) -> Result<Outcome, LiveError> {
    let (mut send, mut recv) = conn.open_bi(0).await?;
    send.write_all(&[MODE_BULK]).await?;
    let chunk = Bytes::from(vec![0x5a; CHUNK]);
    let (bar, limit) = match args.duration {
        Some(d) => (
            progress(
                d.as_secs().max(1),
                "{elapsed_precise} [{bar:40}] {pos}/{len} s",
            ),
            u64::MAX,
        ),
        None => (
            progress(
                args.bytes,
                "{elapsed_precise} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec}",
            ),
            args.bytes,
        ),
    };
    let (stop_sampler, sampler) =
        spawn_rtt_sampler(conn.clone(), args.interval, args.json, bar.clone());
    let started = Instant::now();
    let deadline = args.duration.map(|d| started + d);
    let mut sent = 0u64;
    let mut timed_out = false;
    while sent < limit {
        let n = CHUNK.min(usize::try_from(limit - sent).unwrap_or(CHUNK));
        let write = send.write_chunk(chunk.slice(..n));
        match deadline {
            // A write waits for room in the send buffer: the deadline bounds the wait too.
            Some(d) => match tokio::time::timeout_at(d.into(), write).await {
                Ok(written) => written?,
                Err(_) => {
                    timed_out = true;
                    break;
                }
            },
            None => write.await?,
        }
        sent += n as u64;
        bar.set_position(match args.duration {
            Some(_) => started.elapsed().as_secs(),
            None => sent,
        });
        if deadline.is_some_and(|d| Instant::now() >= d) {
            timed_out = true;
            break;
        }
    }
    if timed_out {
        // iperf's contract: the run ends at the deadline. What is still buffered is dropped
        // rather than drained; the server answers with what it read.
        send.reset(VarInt::from_u32(BULK_DEADLINE))?;
    } else {
        send.finish()?;
    }
    let answer = recv.read_to_end(8).await?;
    let elapsed = match deadline {
        // The bytes the server read by the time the reset reached it, over the run's length.
        Some(d) if timed_out => d.saturating_duration_since(started),
        _ => started.elapsed(),
    };
    bar.finish_and_clear();
    let _ = stop_sampler.send(());
    let (rtts, intervals) = sampler.await.unwrap_or_else(|_| (histogram(), Vec::new()));
    let received = u64::from_be_bytes(
        answer
            .as_slice()
            .try_into()
            .map_err(|_| LiveError::BadAnswer(answer.len()))?,
    );
    Ok(Outcome {
        mode: Mode::Bulk,
        bytes: received,
        elapsed,
        rtts,
        sent: 0,
        echoed: 0,
        intervals,
    })
}

async fn game(conn: &Connection, args: &ClientArgs) -> Result<Outcome, LiveError> {
    let duration = args.duration.unwrap_or(Duration::from_secs(10));
    let (mut send, _recv) = conn.open_bi(0).await?;
    let carrier = match args.lane_setup() {
        Some(setup) => {
            let mut announce = vec![MODE_LANE];
            announce.extend_from_slice(&setup.encode());
            send.write_all(&announce).await?;
            Carrier::Lane(conn.lane(GAME_LANE, setup.config)?, setup.deadline)
        }
        None => {
            send.write_all(&[MODE_GAME]).await?;
            Carrier::Datagrams(conn.clone())
        }
    };
    // Warm up: the server echoes once it has read the mode; measure from the first echo on.
    carrier.send(Bytes::from_static(b"warm-up")).await?;
    let _ = tokio::time::timeout(Duration::from_secs(5), carrier.recv()).await;
    let epoch = Instant::now();
    // Echoes: sequence number and send time (ns since `epoch`) come back in the message.
    let (stop_tx, mut stop_rx) = oneshot::channel::<()>();
    let receiver = {
        let carrier = carrier.clone();
        tokio::spawn(async move {
            let mut rtts = histogram();
            let mut echoed = 0u64;
            loop {
                tokio::select! {
                    message = carrier.recv() => {
                        let Some(message) = message else { break };
                        let Some(sent_ns) = message.get(8..16) else { continue };
                        let sent_ns = u64::from_be_bytes(sent_ns.try_into().unwrap_or_default());
                        let now_ns = epoch.elapsed().as_nanos() as u64;
                        let _ = rtts.record(now_ns.saturating_sub(sent_ns) / 1000);
                        echoed += 1;
                    }
                    _ = &mut stop_rx => break,
                }
            }
            (rtts, echoed)
        })
    };
    let ticks = (duration.as_secs_f64() * f64::from(args.tick_rate)).ceil() as u64;
    let bar = progress(ticks, "{elapsed_precise} [{bar:40}] {pos}/{len} ticks");
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(args.tick_rate)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for seq in 0..ticks {
        tick.tick().await;
        let mut message = BytesMut::with_capacity(args.message_size);
        message.put_u64(seq);
        message.put_u64(epoch.elapsed().as_nanos() as u64);
        message.resize(args.message_size, 0);
        carrier.send(message.freeze()).await?;
        bar.set_position(seq + 1);
    }
    let elapsed = epoch.elapsed();
    bar.finish_and_clear();
    // Stragglers: a few round trips, at least half a second.
    let srtt = conn.stats().map_or(Duration::ZERO, |s| s.srtt);
    tokio::time::sleep((srtt * 4).max(Duration::from_millis(500))).await;
    let _ = stop_tx.send(());
    let (rtts, echoed) = receiver.await.unwrap_or_else(|_| (histogram(), 0));
    Ok(Outcome {
        mode: Mode::Game,
        bytes: ticks * args.message_size as u64,
        elapsed,
        rtts,
        sent: ticks,
        echoed,
        intervals: Vec::new(),
    })
}

/// What the client's end of the game lane counted (its messages out, the echoes in).
fn lane_table(setup: &LaneSetup, s: &LaneStats) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_header(["game lane (client's end)", "value"]);
    if let Some(column) = t.column_mut(1) {
        column.set_cell_alignment(CellAlignment::Right);
    }
    let c = &setup.config;
    t.add_row([
        "mode / redundancy / FEC / deadline".to_owned(),
        format!(
            "{} / {} / {} / {}",
            c.mode,
            c.redundancy,
            c.fec,
            setup.deadline.map_or("none".to_owned(), fmt_duration)
        ),
    ]);
    t.add_row([
        "messages sent / received".to_owned(),
        format!("{} / {}", s.messages_sent, s.messages_received),
    ]);
    t.add_row([
        "fragments retransmitted".to_owned(),
        s.fragments_retransmitted.to_string(),
    ]);
    t.add_row([
        "redundant bytes sent / repairs used".to_owned(),
        format!("{} / {}", s.redundant_bytes_sent, s.repaired_messages),
    ]);
    t.add_row([
        "FEC bytes sent / packets rebuilt / repairs dropped".to_owned(),
        format!(
            "{} / {} / {}",
            s.fec_bytes_sent, s.fec_recovered, s.fec_dropped
        ),
    ]);
    if let Some(row) = crate::report::compression_row(s, s) {
        t.add_row(row);
    }
    t.add_row([
        "given up: sending / on arrival (deadline)".to_owned(),
        format!("{} / {}", s.expired_sending, s.expired_receiving),
    ]);
    t
}

/// How a game run's messages travel: datagrams, or a lane with its deadline.
#[derive(Clone)]
enum Carrier {
    Datagrams(Connection),
    Lane(Lane, Option<Duration>),
}

impl Carrier {
    async fn send(&self, message: Bytes) -> Result<(), LiveError> {
        match self {
            Self::Datagrams(conn) => conn.send_datagram(message)?,
            Self::Lane(lane, None) => {
                lane.send(message).await?;
            }
            Self::Lane(lane, Some(ttl)) => {
                lane.send_with_deadline(message, *ttl).await?;
            }
        }
        Ok(())
    }

    /// The next echo; `None` once the connection is gone.
    async fn recv(&self) -> Option<Bytes> {
        match self {
            Self::Datagrams(conn) => conn.read_datagram().await.ok().map(|d| d.data),
            Self::Lane(lane, _) => lane.recv().await.ok().map(|m| m.data),
        }
    }
}

fn micros(us: u64) -> String {
    fmt_duration(Duration::from_micros(us))
}

fn render(outcome: &Outcome, stats: Option<&ConnectionStats>, socket: &SocketSummary) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_header(["weir perf", "result"]);
    if let Some(column) = t.column_mut(1) {
        column.set_cell_alignment(CellAlignment::Right);
    }
    let secs = outcome.elapsed.as_secs_f64().max(1e-9);
    let mode = match outcome.mode {
        Mode::Bulk => "bulk (one stream)",
        Mode::Game => "game (echoed messages)",
    };
    t.add_row(["mode", mode]);
    t.add_row(["time", &fmt_duration(outcome.elapsed)]);
    t.add_row(["bytes delivered", &outcome.bytes.to_string()]);
    t.add_row([
        "throughput",
        &format!("{:.1} Mbit/s", outcome.bytes as f64 * 8.0 / secs / 1e6),
    ]);
    let h = &outcome.rtts;
    let rtt_label = match outcome.mode {
        Mode::Bulk => "RTT samples p50 / p99 / max",
        Mode::Game => "round trip p50 / p99 / max",
    };
    if !h.is_empty() {
        t.add_row([
            rtt_label.to_owned(),
            format!(
                "{} / {} / {}",
                micros(h.value_at_quantile(0.5)),
                micros(h.value_at_quantile(0.99)),
                micros(h.max())
            ),
        ]);
    }
    if outcome.mode == Mode::Game {
        let lost = outcome.sent.saturating_sub(outcome.echoed);
        t.add_row([
            "messages sent / echoed".to_owned(),
            format!("{} / {}", outcome.sent, outcome.echoed),
        ]);
        let ratio = lost as f64 / outcome.sent.max(1) as f64;
        t.add_row(["round-trip message loss".to_owned(), fmt_percent(ratio)]);
    }
    if let Some(s) = stats {
        t.add_row([
            "RTT min / srtt".to_owned(),
            format!("{} / {}", fmt_duration(s.min_rtt), fmt_duration(s.srtt)),
        ]);
        t.add_row([
            "packets lost / sent".to_owned(),
            format!(
                "{} / {} ({})",
                s.packets_lost,
                s.packets_sent,
                fmt_percent(s.packets_lost as f64 / s.packets_sent.max(1) as f64)
            ),
        ]);
        t.add_row([
            "stream bytes retransmitted".to_owned(),
            s.stream_bytes_retransmitted.to_string(),
        ]);
        t.add_row(["congestion window".to_owned(), format!("{} B", s.cwnd)]);
        t.add_row(["controller".to_owned(), s.controller.to_string()]);
        for row in crate::estimates::rows(&s.path) {
            t.add_row(row);
        }
        t.add_row(crate::estimates::strategy(s));
        t.add_row(crate::estimates::mtu(s));
    }
    if socket.tcp_records_sent > 0 {
        t.add_row([
            "datagrams over TCP / UDP".to_owned(),
            format!("{} / {}", socket.tcp_records_sent, socket.datagrams_sent),
        ]);
    }
    t.add_row([
        "socket: GSO sends / GRO receives".to_owned(),
        format!("{} / {}", socket.gso_sends, socket.gro_receives),
    ]);
    t.add_row([
        "socket errors survived".to_owned(),
        socket.errors.to_string(),
    ]);
    t
}

#[cfg(test)]
pub(super) mod tests {
    use std::net::Ipv4Addr;

    use clap::Parser;
    use weir_tokio::{Config, Endpoint};

    use super::*;
    use crate::perf::{Role, server};

    /// The test servers' identity.
    fn identity() -> &'static weir_core::crypto::Identity {
        static ID: std::sync::OnceLock<weir_core::crypto::Identity> = std::sync::OnceLock::new();
        ID.get_or_init(|| weir_core::crypto::Identity::self_signed(["localhost"]).expect("id"))
    }

    /// A server on loopback running the perf server's connection handler.
    pub(in crate::perf) async fn perf_server() -> (Endpoint, SocketAddr) {
        let transport = weir_core::config::TransportConfig::default();
        let endpoint = Endpoint::bind(
            (Ipv4Addr::LOCALHOST, 0).into(),
            Config {
                server: Some(crate::perf::server_config(transport.clone())),
                client: transport,
                ..Config::server(identity()).expect("tls")
            },
        )
        .await
        .expect("bind");
        let addr = endpoint.local_addr();
        tokio::spawn({
            let endpoint = endpoint.clone();
            async move {
                while let Some(conn) = endpoint.accept().await {
                    tokio::spawn(server::serve(conn));
                }
            }
        });
        (endpoint, addr)
    }

    /// The client's arguments, pinning [`identity`].
    pub(in crate::perf) fn client_args(argv: &[&str]) -> ClientArgs {
        let pin = identity().fingerprint().to_string();
        let argv = ["weir", "perf", "client", "--pin", &pin]
            .into_iter()
            .chain(argv.iter().copied());
        let cli = crate::Cli::try_parse_from(argv).expect("arguments");
        let crate::Command::Perf(perf) = cli.command else {
            panic!("not perf");
        };
        let Role::Client(args) = perf.role else {
            panic!("not a client");
        };
        args
    }

    /// A timed bulk run ends at its deadline, as iperf's does, however much is still buffered:
    /// through a 2 Mbit/s proxy the client's send buffer holds tens of seconds of data, which
    /// the run used to drain after the deadline (`--duration 20s` ran 56 s). It resets the
    /// stream instead, and the server answers with what it read by then.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_timed_bulk_run_ends_at_its_deadline_not_when_the_buffer_drains() {
        use weir_core::sim::{Bitrate, LinkConfig, Scenario};
        use weir_tokio::proxy::{Proxy, ProxyConfig};
        let (_server, upstream) = perf_server().await;
        let link = LinkConfig {
            delay: Duration::from_millis(10),
            rate: Some(Bitrate::from_kbps(2_000)),
            queue_bytes: 1_000_000,
            ..LinkConfig::default()
        };
        let proxy = Proxy::spawn(ProxyConfig::new(
            (Ipv4Addr::LOCALHOST, 0).into(),
            upstream,
            Scenario::symmetric("slow", "2 Mbit/s, deep queue", link),
        ))
        .expect("proxy");
        let args = client_args(&[
            "--connect",
            &proxy.local_addr().to_string(),
            "--duration",
            "2s",
        ]);
        let client = Endpoint::bind(
            (Ipv4Addr::LOCALHOST, 0).into(),
            args.security.config(None).expect("tls"),
        )
        .await
        .expect("bind");
        let conn = client.connect(proxy.local_addr()).await.expect("connect");
        let started = Instant::now();
        // Generous: draining the buffer would take far longer than this bound.
        let outcome = tokio::time::timeout(Duration::from_secs(20), bulk(&conn, &args))
            .await
            .expect("the run ended near its deadline")
            .expect("bulk run");
        let wall = started.elapsed();
        assert_eq!(outcome.elapsed, Duration::from_secs(2));
        let mbps = outcome.bytes as f64 * 8.0 / 2.0 / 1e6;
        // What crossed the 2 Mbit/s link in 2 s (and the queue it filled).
        assert!((0.5..=6.5).contains(&mbps), "{mbps} Mbit/s in {wall:?}");
        let stats = conn.stats().expect("stats");
        assert!(
            stats.stream_send_buffered == 0,
            "the buffered data was dropped: {}",
            stats.stream_send_buffered
        );
        let _ = proxy.stop().await;
    }

    /// `--transport tcp` carries the whole run over the TCP transport (the perf server
    /// listens for TCP on its port number by default), and `--no-tcp` with it is refused.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_bulk_run_over_the_tcp_transport() {
        let (server, addr) = perf_server().await;
        let addr = addr.to_string();
        let args = client_args(&["--connect", &addr, "--transport", "tcp", "--bytes", "4MB"]);
        run::<weir_tokio::Tokio>(&args).await.expect("run over TCP");
        let s = server.tcp_stats();
        assert_eq!(s.links_accepted, 1, "{s:?}");
        assert!(s.records_received > 2_000, "{s:?}");
        let refused = client_args(&["--connect", &addr, "--transport", "tcp", "--no-tcp"]);
        assert!(matches!(
            run::<weir_tokio::Tokio>(&refused).await,
            Err(LiveError::TcpOff)
        ));
    }

    /// `--interval` takes a line per interval of a bulk run, and `--json` turns the run into
    /// one JSON object holding them.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn intervals_and_json_describe_a_bulk_run() {
        let (_server, addr) = perf_server().await;
        let args = client_args(&[
            "--connect",
            &addr.to_string(),
            "--duration",
            "1500ms",
            "--interval",
            "500ms",
            "--json",
        ]);
        let client = Endpoint::bind(
            (Ipv4Addr::LOCALHOST, 0).into(),
            args.security.config(None).expect("tls"),
        )
        .await
        .expect("bind");
        let conn = client.connect(addr).await.expect("connect");
        let outcome = bulk(&conn, &args).await.expect("bulk run");
        assert!(
            (2..=3).contains(&outcome.intervals.len()),
            "{:?}",
            outcome.intervals
        );
        assert!(
            outcome
                .intervals
                .iter()
                .all(|i| i.wire_bytes > 0 && i.to > i.from)
        );
        let value = json(
            &outcome,
            conn.stats().as_ref(),
            None,
            &(&client.socket_stats()).into(),
        );
        let text = value.to_string();
        let parsed: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(parsed["mode"], "bulk");
        assert_eq!(parsed["bytes"], outcome.bytes);
        assert_eq!(
            parsed["intervals"].as_array().map(Vec::len),
            Some(outcome.intervals.len())
        );
        assert!(parsed["connection"]["datagram_size"].as_u64().is_some());
        let zero = client_args(&["--connect", &addr.to_string(), "--interval", "0s"]);
        assert!(matches!(
            run::<weir_tokio::Tokio>(&zero).await,
            Err(LiveError::Interval)
        ));
    }

    /// `weir perf client` over loopback against the server's own connection handler: a game
    /// run on an unreliable lane with FEC comes back whole and counted.
    #[tokio::test]
    async fn a_game_run_on_a_lane_is_echoed_on_the_same_lane() {
        let (_server, addr) = perf_server().await;
        let args = client_args(&[
            "--connect",
            &addr.to_string(),
            "--mode",
            "game",
            "--duration",
            "500ms",
            "--tick-rate",
            "100",
            "--lane",
            "unreliable",
            "--fec",
            "low",
            "--deadline",
            "1s",
        ]);
        let client = Endpoint::bind(
            (Ipv4Addr::LOCALHOST, 0).into(),
            args.security.config(None).expect("tls"),
        )
        .await
        .expect("bind");
        let conn = client.connect(addr).await.expect("connect");
        let outcome = game(&conn, &args).await.expect("game run");
        assert_eq!(outcome.sent, 50);
        // Loopback loses nothing: every message comes back, on the lane (the datagram path
        // would leave the lane's counters at zero).
        let lanes = conn.lane_stats().expect("lane stats");
        assert_eq!(outcome.echoed, 50, "{lanes:?}");
        assert_eq!(lanes.messages_sent, 51, "50 messages and the warm-up");
        assert_eq!(lanes.messages_received, 51);
        assert!(lanes.fec_repairs_sent > 0, "{lanes:?}");
        assert!(conn.stats().is_some_and(|s| s.datagrams.sent == 0));
    }

    /// `--quic` on both ends: the perf server's handler over the QUIC path, a bulk run and a
    /// game run on DATAGRAM frames, each whole; `--lane` is refused with its typed error.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn perf_runs_over_the_quic_path() {
        let alpn: &[&[u8]] = &[b"weir-perf"];
        let server = Endpoint::bind(
            (Ipv4Addr::LOCALHOST, 0).into(),
            Config::quic(weir_tokio::QuicConfig::server(identity(), alpn).expect("quic")),
        )
        .await
        .expect("bind");
        let addr = server.local_addr();
        tokio::spawn(async move {
            while let Some(conn) = server.accept().await {
                tokio::spawn(server::serve(conn));
            }
        });
        let bulk_args = client_args(&["--connect", &addr.to_string(), "--quic", "--bytes", "4MB"]);
        let quic = bulk_args.transport.quic();
        assert!(quic.is_some());
        let client = Endpoint::bind(
            (Ipv4Addr::LOCALHOST, 0).into(),
            bulk_args.security.config(quic).expect("quic client"),
        )
        .await
        .expect("bind");
        let conn = client.connect(addr).await.expect("connect over QUIC");
        let outcome = bulk(&conn, &bulk_args).await.expect("bulk run");
        assert_eq!(outcome.bytes, 4_000_000);
        let stats = conn.stats().expect("stats");
        assert_eq!(
            stats.strategy.transport,
            weir_core::adapt::TransportChoice::Quic
        );
        assert_eq!(stats.controller, weir_core::congestion::ControllerKind::Bbr);

        let game_args = client_args(&[
            "--connect",
            &addr.to_string(),
            "--quic",
            "--mode",
            "game",
            "--duration",
            "500ms",
            "--tick-rate",
            "100",
        ]);
        let outcome = game(&conn, &game_args).await.expect("game run");
        assert_eq!((outcome.sent, outcome.echoed), (50, 50));

        let insecure = client_args(&["--connect", &addr.to_string(), "--quic"]);
        let mut insecure_security = insecure.security;
        insecure_security.pins.clear();
        insecure_security.insecure = true;
        assert!(matches!(
            insecure_security.config(insecure.transport.quic()),
            Err(crate::perf::security::SecurityError::InsecureQuic)
        ));
    }
}
