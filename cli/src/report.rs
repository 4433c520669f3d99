//! Text rendering of `weir sim` results.

use std::fmt::Write as _;
use std::time::Duration;

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{CellAlignment, ColumnConstraint, Table, Width};
use weir_core::connection::ConnectionStats;
use weir_core::sim::game::{GameRun, GameTransport};
use weir_core::sim::playout::Spread;
use weir_core::sim::{Bitrate, DropCause, LinkStats};

use crate::scenario::{fmt_duration, fmt_percent};
use crate::sim_cmd::{FlowOutcome, GameMode, Outcome};

fn table(header: [&str; 2]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED).set_header(header);
    t.set_constraints(vec![ColumnConstraint::LowerBoundary(Width::Fixed(28))]);
    if let Some(column) = t.column_mut(1) {
        column.set_cell_alignment(CellAlignment::Right);
    }
    t
}

fn ratio(part: u64, whole: u64) -> String {
    if whole == 0 {
        "–".to_owned()
    } else {
        fmt_percent(part as f64 / whole as f64)
    }
}

fn durations(values: &[Duration]) -> String {
    values
        .iter()
        .map(|d| fmt_duration(*d))
        .collect::<Vec<_>>()
        .join(" / ")
}

fn rate(bytes: u64, over: Duration) -> String {
    Bitrate::from_bytes_in(bytes, over).map_or_else(|| "–".to_owned(), |r| r.to_string())
}

fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 10_000_000 => format!("{:.2} MB", b as f64 / 1e6),
        b if b >= 10_000 => format!("{:.1} kB", b as f64 / 1e3),
        b => format!("{b} B"),
    }
}

/// The list printed by `weir sim --list-presets`.
pub fn presets(presets: &[(&str, &str)]) -> String {
    let mut t = table(["preset", "path"]);
    if let Some(column) = t.column_mut(1) {
        column.set_cell_alignment(CellAlignment::Left);
    }
    for (name, description) in presets {
        t.add_row([*name, *description]);
    }
    format!("{t}\n")
}

/// The full report of one run.
pub fn render(o: &Outcome) -> String {
    let mut out = String::new();
    let s = &o.scenario;
    let _ = writeln!(out, "weir sim — {}: {}", s.name, s.description);
    let changes = s.forward_schedule.changes().len();
    if changes > 0 {
        let _ = writeln!(
            out,
            "  the forward link changes {changes} times over the run (schedule)"
        );
    }
    let _ = writeln!(
        out,
        "  seed {}, {} of virtual time simulated in {} of wall time\n",
        o.seed,
        fmt_duration(o.elapsed),
        fmt_duration(o.wall),
    );
    let flow = match &o.flow {
        FlowOutcome::Probe {
            rate,
            packet_size,
            sent,
            report,
        } => {
            let _ = writeln!(
                out,
                "probe: {rate} of {packet_size}-byte datagrams for {}",
                fmt_duration(o.duration)
            );
            probe_table(o, *sent, report)
        }
        FlowOutcome::Bulk { .. } => bulk_table(o),
        FlowOutcome::Game { .. } => game_table(o),
    };
    let _ = writeln!(out, "{flow}\n");
    if let FlowOutcome::Game { run, .. } = &o.flow
        && let Some(block) = jitter_table(run)
    {
        let _ = writeln!(out, "{block}\n");
    }
    let stats = match &o.flow {
        FlowOutcome::Probe { .. } => None,
        FlowOutcome::Bulk { stats, .. } => stats.as_deref(),
        FlowOutcome::Game { run, .. } => run.sender_stats.as_ref(),
    };
    if let Some(stats) = stats {
        let _ = writeln!(out, "{}\n", connection_table(stats));
    }
    let changes = match &o.flow {
        FlowOutcome::Probe { .. } => &[][..],
        FlowOutcome::Bulk {
            strategy_changes, ..
        } => strategy_changes,
        FlowOutcome::Game { run, .. } => &run.strategy_changes,
    };
    if !changes.is_empty() {
        let _ = writeln!(out, "{}\n", crate::estimates::changes_table(changes));
    }
    let _ = writeln!(out, "{}", link_table(o, &o.forward));
    out
}

fn probe_table(o: &Outcome, sent: u64, p: &weir_core::sim::ProbeReport) -> Table {
    let lost = sent.saturating_sub(p.received.packets);
    let mut t = table(["probe flow", "value"]);
    t.add_row(["datagrams sent".to_owned(), sent.to_string()]);
    t.add_row([
        "delivered (distinct, intact)".to_owned(),
        format!(
            "{} ({})",
            p.received.packets,
            ratio(p.received.packets, sent)
        ),
    ]);
    t.add_row(["lost".to_owned(), format!("{lost} ({})", ratio(lost, sent))]);
    t.add_row(["duplicates".to_owned(), p.duplicates.to_string()]);
    t.add_row(["arrived out of order".to_owned(), p.reordered.to_string()]);
    t.add_row([
        "corrupted (failed checksum)".to_owned(),
        p.malformed.to_string(),
    ]);
    t.add_row(["goodput".to_owned(), rate(p.received.bytes, o.duration)]);
    t.add_row([
        "one-way delay min/p50/p95/p99/max".to_owned(),
        durations(&[
            p.one_way_min,
            p.one_way_p50,
            p.one_way_p95,
            p.one_way_p99,
            p.one_way_max,
        ]),
    ]);
    t.add_row([
        "one-way delay mean".to_owned(),
        fmt_duration(p.one_way_mean),
    ]);
    t
}

fn bulk_table(o: &Outcome) -> Table {
    let FlowOutcome::Bulk {
        written,
        received,
        connected,
        completed,
        receive_span,
        ..
    } = &o.flow
    else {
        return table(["bulk flow", "value"]);
    };
    let mut t = table(["bulk flow (one stream, client → server)", "value"]);
    t.add_row([
        "handshake completed at".to_owned(),
        connected.map_or("never".to_owned(), fmt_duration),
    ]);
    t.add_row([
        "bytes written / read".to_owned(),
        format!("{} / {}", size(*written), size(*received)),
    ]);
    match (connected, completed) {
        (Some(start), Some(end)) => {
            let took = end.saturating_sub(*start);
            t.add_row(["transfer completed in".to_owned(), fmt_duration(took)]);
            t.add_row([
                "goodput (connect → all acknowledged)".to_owned(),
                rate(*received, took),
            ]);
        }
        _ => {
            t.add_row(["transfer completed".to_owned(), "no".to_owned()]);
        }
    }
    if let Some(span) = receive_span {
        t.add_row([
            "goodput (first → last byte read)".to_owned(),
            rate(*received, *span),
        ]);
    }
    if let (Some(capacity), Some(span)) = (
        o.scenario.forward.rate,
        receive_span.filter(|s| !s.is_zero()),
    ) {
        let got = *received as f64 * 8.0 / span.as_secs_f64();
        t.add_row([
            "share of link capacity".to_owned(),
            fmt_percent(got / capacity.bps() as f64),
        ]);
    }
    t
}

/// What the game flow's header says about how it travelled.
fn game_how(mode: GameMode, transport: &GameTransport) -> String {
    match transport {
        GameTransport::Datagrams { ttl } => {
            format!("unreliable datagrams, ttl {}", fmt_duration(*ttl))
        }
        GameTransport::Stream { priority } => format!("reliable stream, priority {priority}"),
        GameTransport::Lane { config, deadline } => {
            let mut how = format!("{} lane", mode.name());
            if let Some(d) = deadline {
                let _ = write!(how, ", deadline {}", fmt_duration(*d));
            }
            if config.fec != weir_core::lanes::FecLevel::None {
                let _ = write!(how, ", FEC {}", config.fec);
            }
            if config.redundancy > 0 {
                let _ = write!(how, ", redundancy {}", config.redundancy);
            }
            if let weir_core::lanes::LaneCompression::Fixed(c) = config.compression {
                let _ = write!(how, ", compression {c}");
            }
            how
        }
    }
}

/// The lane compression's counters, if it was tried: messages compressed, sent as they were
/// (no gain), bytes saved, and messages the receiver could not decompress.
pub fn compression_row(
    tx: &weir_core::lanes::LaneStats,
    rx: &weir_core::lanes::LaneStats,
) -> Option<[String; 2]> {
    let tried = tx.compressed_messages_sent + tx.compression_skipped;
    (tried > 0 || rx.decompression_failed > 0).then(|| {
        [
            "compressed / sent raw / saved / undecodable".to_owned(),
            format!(
                "{} / {} / {} ({} of payload) / {}",
                tx.compressed_messages_sent,
                tx.compression_skipped,
                size(tx.compression_saved_bytes),
                ratio(tx.compression_saved_bytes, tx.bytes_sent),
                rx.decompression_failed
            ),
        ]
    })
}

fn game_table(o: &Outcome) -> Table {
    let FlowOutcome::Game {
        tick_rate,
        message_size,
        mode,
        transport,
        deadline,
        run,
    } = &o.flow
    else {
        return table(["game flow", "value"]);
    };
    let rx = &run.receiver;
    let sent = run.sent;
    let mut t = table([
        &format!(
            "game flow ({tick_rate} Hz × {message_size} B, {})",
            game_how(*mode, transport)
        ),
        "value",
    ]);
    // Delivery.
    let refused = match run.refused {
        0 => String::new(),
        n => format!(" (+ {n} refused)"),
    };
    t.add_row(["messages sent".to_owned(), format!("{sent}{refused}")]);
    if let Some(error) = &run.lane_error {
        t.add_row(["lane refused".to_owned(), error.to_string()]);
    }
    t.add_row([
        "messages received".to_owned(),
        format!("{} ({})", rx.received, ratio(rx.received, sent)),
    ]);
    if let Some(d) = deadline {
        t.add_row([
            format!("received on time (≤ {})", fmt_duration(*d)),
            format!("{} ({})", rx.on_time(), ratio(rx.on_time(), sent)),
        ]);
    }
    t.add_row([
        "received after a newer one".to_owned(),
        rx.out_of_order.to_string(),
    ]);
    let (tx_lanes, rx_lanes) = (&run.sender_lanes, &run.receiver_lanes);
    match transport {
        GameTransport::Datagrams { .. } => {
            let expired = |s: Option<&ConnectionStats>| s.map_or(0, |s| s.datagrams.expired);
            t.add_row([
                "expired at the sender / the receiver".to_owned(),
                format!(
                    "{} / {}",
                    expired(run.sender_stats.as_ref()),
                    expired(run.receiver_stats.as_ref())
                ),
            ]);
        }
        GameTransport::Lane { .. } => {
            t.add_row([
                "expired at the sender / the receiver".to_owned(),
                format!(
                    "{} / {}",
                    tx_lanes.expired_sending, rx_lanes.expired_receiving
                ),
            ]);
            t.add_row([
                "superseded at the sender / stale at the receiver".to_owned(),
                format!(
                    "{} / {}",
                    tx_lanes.superseded_sending, rx_lanes.stale_receiving
                ),
            ]);
        }
        GameTransport::Stream { .. } => {}
    }
    // What the player sees: how old the newest state is, over time.
    let fresh = rx.freshness();
    t.add_row([
        "age of newest state p50/p99/max".to_owned(),
        fresh.map_or_else(
            || "–".to_owned(),
            |f| durations(&[f.age_quantile(0.5), f.age_quantile(0.99), f.max_age()]),
        ),
    ]);
    t.add_row([
        "age of newest state mean".to_owned(),
        fresh.map_or_else(|| "–".to_owned(), |f| fmt_duration(f.mean_age())),
    ]);
    t.add_row([
        "one-way delay min/p50/p95/p99/max".to_owned(),
        durations(&[
            rx.delay_quantile(0.0),
            rx.delay_quantile(0.5),
            rx.delay_quantile(0.95),
            rx.delay_quantile(0.99),
            rx.max_delay,
        ]),
    ]);
    t.add_row([
        "goodput".to_owned(),
        rate(rx.received * *message_size as u64, o.duration),
    ]);
    // What it cost.
    let payload = sent * *message_size as u64;
    t.add_row(["payload sent".to_owned(), size(payload)]);
    if let GameTransport::Lane { config, .. } = transport {
        if config.mode.is_reliable() {
            t.add_row([
                "fragments retransmitted".to_owned(),
                tx_lanes.fragments_retransmitted.to_string(),
            ]);
        }
        // Loss repair without a round trip.
        t.add_row([
            "repaired without a round trip".to_owned(),
            rx_lanes.repaired_messages.to_string(),
        ]);
        t.add_row([
            "redundant copies sent".to_owned(),
            format!(
                "{} ({} of payload)",
                size(tx_lanes.redundant_bytes_sent),
                ratio(tx_lanes.redundant_bytes_sent, payload)
            ),
        ]);
        if config.fec != weir_core::lanes::FecLevel::None {
            t.add_row([
                format!("FEC ({}) repairs sent", config.fec),
                format!(
                    "{} ({} with headers, {} of payload)",
                    tx_lanes.fec_repairs_sent,
                    size(tx_lanes.fec_bytes_sent),
                    ratio(tx_lanes.fec_bytes_sent, payload)
                ),
            ]);
            t.add_row([
                "packets rebuilt by FEC / dropped".to_owned(),
                format!("{} / {}", rx_lanes.fec_recovered, rx_lanes.fec_dropped),
            ]);
        }
        if let Some(row) = compression_row(tx_lanes, rx_lanes) {
            t.add_row(row);
        }
    }
    t.add_row([
        "bytes on the wire, forward".to_owned(),
        format!(
            "{} ({} of payload)",
            size(run.forward.offered.bytes),
            ratio(run.forward.offered.bytes, payload)
        ),
    ]);
    t.add_row([
        "bytes on the wire, reverse (acks)".to_owned(),
        size(run.reverse.offered.bytes),
    ]);
    t
}

/// What a player saw through the receiver's jitter buffer, if it had one.
fn jitter_table(run: &GameRun) -> Option<Table> {
    let rx = &run.receiver;
    if let Some(error) = &rx.jitter_error {
        let mut t = table(["jitter buffer", "value"]);
        t.add_row(["not set up".to_owned(), error.to_string()]);
        return Some(t);
    }
    let p = rx.playout()?;
    let stats = p.stats();
    let mut t = table([
        &format!(
            "jitter buffer ({} of arrivals in time)",
            fmt_percent(p.config().percentile)
        ),
        "value",
    ]);
    t.add_row([
        "messages played".to_owned(),
        format!(
            "{} ({} of sent)",
            stats.played,
            ratio(stats.played, run.sent)
        ),
    ]);
    t.add_row([
        "late (dropped by the buffer)".to_owned(),
        format!(
            "{} ({} of arrivals)",
            stats.late,
            fmt_percent(p.late_share())
        ),
    ]);
    t.add_row([
        "skipped in the playout (lost or late)".to_owned(),
        stats.skipped.to_string(),
    ]);
    t.add_row([
        "duplicates / outliers / overflowed".to_owned(),
        format!(
            "{} / {} / {}",
            stats.duplicate, stats.outliers, stats.overflowed
        ),
    ]);
    t.add_row(["resyncs".to_owned(), stats.resyncs.to_string()]);
    t.add_row([
        "playout delay final / mean".to_owned(),
        durations(&[stats.playout_delay, p.mean_playout_delay()]),
    ]);
    t.add_row([
        "age at playout p50/p99/max".to_owned(),
        durations(&[p.age().quantile(0.5), p.age().quantile(0.99), p.age().max()]),
    ]);
    t.add_row([
        "age at playout mean".to_owned(),
        fmt_duration(p.age().mean()),
    ]);
    t.add_row([
        "|Δarrival − Δsend| p50/p99/max".to_owned(),
        spread(p.arrival_spacing()),
    ]);
    t.add_row([
        "|Δplayout − Δsend| p50/p99/max".to_owned(),
        spread(p.playout_spacing()),
    ]);
    Some(t)
}

/// p50 / p99 / max of a spread.
fn spread(s: &Spread) -> String {
    durations(&[s.quantile(0.5), s.quantile(0.99), s.max()])
}

fn connection_table(c: &ConnectionStats) -> Table {
    let mut t = table(["sender's connection", "value"]);
    t.add_row(["congestion controller".to_owned(), c.controller.to_string()]);
    t.add_row([
        "packets sent / lost".to_owned(),
        format!(
            "{} / {} ({})",
            c.packets_sent,
            c.packets_lost,
            ratio(c.packets_lost, c.packets_sent)
        ),
    ]);
    t.add_row([
        "stream bytes retransmitted".to_owned(),
        size(c.stream_bytes_retransmitted),
    ]);
    t.add_row([
        "RTT min / smoothed / var".to_owned(),
        durations(&[c.min_rtt, c.srtt, c.rttvar]),
    ]);
    t.add_row(["congestion window".to_owned(), size(c.cwnd)]);
    t.add_row([
        "congestion events / capacity drops / probe timeouts".to_owned(),
        format!(
            "{} / {} / {}",
            c.congestion_events, c.capacity_drops, c.pto_count
        ),
    ]);
    t.add_row([
        "spurious losses: packets / congestion events".to_owned(),
        format!("{} / {}", c.spurious_losses, c.spurious_congestion_events),
    ]);
    for row in crate::estimates::rows(&c.path) {
        t.add_row(row);
    }
    t.add_row(crate::estimates::strategy(c));
    t.add_row(crate::estimates::mtu(c));
    t
}

fn link_table(o: &Outcome, f: &LinkStats) -> Table {
    let mut t = table(["forward link", "value"]);
    t.add_row([
        "datagrams offered".to_owned(),
        f.offered.packets.to_string(),
    ]);
    t.add_row([
        "datagrams delivered".to_owned(),
        f.delivered.packets.to_string(),
    ]);
    for cause in DropCause::ALL {
        let dropped = f.dropped.get(cause).packets;
        if dropped > 0 || matches!(cause, DropCause::QueueFull | DropCause::RandomLoss) {
            t.add_row([
                format!("dropped: {cause}"),
                format!("{dropped} ({})", ratio(dropped, f.offered.packets)),
            ]);
        }
    }
    t.add_row([
        "duplicated / reordered / corrupted".to_owned(),
        format!("{} / {} / {}", f.duplicated, f.reordered, f.corrupted),
    ]);
    if o.scenario.forward.rate.is_some() {
        t.add_row([
            "queueing delay mean/p50/p95/p99/max".to_owned(),
            durations(&[
                f.mean_queue_delay(),
                f.queue_delay_quantile(0.5),
                f.queue_delay_quantile(0.95),
                f.queue_delay_quantile(0.99),
                f.max_queue_delay(),
            ]),
        ]);
        t.add_row(["peak queue".to_owned(), format!("{} B", f.peak_queue_bytes)]);
        t.add_row([
            "utilisation".to_owned(),
            fmt_percent(f.utilisation(o.elapsed.min(o.duration.max(Duration::from_millis(1))))),
        ]);
    }
    t
}
