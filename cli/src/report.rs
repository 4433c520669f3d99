//! Text rendering of `weir sim` results.

use std::fmt::Write as _;
use std::time::Duration;

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{CellAlignment, ColumnConstraint, Table, Width};
use weir_core::sim::{Bitrate, DropCause};

use crate::scenario::{fmt_duration, fmt_percent};
use crate::sim_cmd::Outcome;

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

fn delays(values: [Duration; 5]) -> String {
    values.map(fmt_duration).join(" / ")
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
        "  seed {}, probe: {} of {}-byte datagrams for {} of virtual time (simulated {} in {} of wall time)\n",
        o.seed,
        o.probe_rate,
        o.packet_size,
        fmt_duration(o.duration),
        fmt_duration(o.elapsed),
        fmt_duration(o.wall),
    );

    let p = &o.probe;
    let lost = o.sent.saturating_sub(p.received.packets);
    let goodput =
        Bitrate::from_bytes_in(p.received.bytes, o.duration).unwrap_or(Bitrate::from_bps(0));
    let mut t = table(["probe flow", "value"]);
    t.add_row(["datagrams sent".to_owned(), o.sent.to_string()]);
    t.add_row([
        "delivered (distinct, intact)".to_owned(),
        format!(
            "{} ({})",
            p.received.packets,
            ratio(p.received.packets, o.sent)
        ),
    ]);
    t.add_row([
        "lost".to_owned(),
        format!("{lost} ({})", ratio(lost, o.sent)),
    ]);
    t.add_row(["duplicates".to_owned(), p.duplicates.to_string()]);
    t.add_row(["arrived out of order".to_owned(), p.reordered.to_string()]);
    t.add_row([
        "corrupted (failed checksum)".to_owned(),
        p.malformed.to_string(),
    ]);
    t.add_row(["goodput".to_owned(), goodput.to_string()]);
    t.add_row([
        "one-way delay min/p50/p95/p99/max".to_owned(),
        delays([
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
    let _ = writeln!(out, "{t}\n");

    let f = &o.forward;
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
    if s.forward.rate.is_some() {
        t.add_row([
            "queueing delay mean/p50/p95/p99".to_owned(),
            [
                f.mean_queue_delay(),
                f.queue_delay_quantile(0.5),
                f.queue_delay_quantile(0.95),
                f.queue_delay_quantile(0.99),
            ]
            .map(fmt_duration)
            .join(" / "),
        ]);
        t.add_row(["peak queue".to_owned(), format!("{} B", f.peak_queue_bytes)]);
        t.add_row([
            "utilisation".to_owned(),
            fmt_percent(f.utilisation(o.duration)),
        ]);
    }
    let _ = writeln!(out, "{t}");
    out
}
