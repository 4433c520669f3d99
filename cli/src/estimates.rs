//! The path estimates of a connection (`weir_core::estimate`) and the strategy chosen from
//! them (`weir_core::adapt`) as table rows, for `weir perf` and `weir sim`.

use std::time::Duration;

use comfy_table::Table;
use weir_core::adapt::StrategyChange;
use weir_core::connection::ConnectionStats;
use weir_core::estimate::{PathEstimates, QualityScore};

use crate::scenario::fmt_duration;

fn mbps(bytes_per_second: u64) -> String {
    format!("{:.2}", bytes_per_second as f64 * 8.0 / 1e6)
}

fn part(name: &str, score: Option<f64>) -> Option<String> {
    score.map(|s| format!("{name} {s:.0}"))
}

/// `72.4 (good): RTT 75 · jitter 60 · loss 65 · bandwidth 85`.
pub fn quality(q: &QualityScore) -> String {
    let parts: Vec<String> = [
        part("RTT", q.rtt),
        part("jitter", q.jitter),
        part("loss", q.loss),
        part("bandwidth", q.bandwidth),
    ]
    .into_iter()
    .flatten()
    .collect();
    format!("{:.1} ({}): {}", q.total, q.grade, parts.join(" · "))
}

/// One row per estimate that is known.
pub fn rows(p: &PathEstimates) -> Vec<[String; 2]> {
    let mut rows = Vec::new();
    if let Some(b) = &p.bandwidth {
        rows.push([
            "bandwidth EWMA / mean / median Mbit/s".to_owned(),
            format!("{} / {} / {}", mbps(b.ewma), mbps(b.mean), mbps(b.median)),
        ]);
        rows.push([
            "bandwidth min / max / σ Mbit/s".to_owned(),
            format!("{} / {} / {}", mbps(b.min), mbps(b.max), mbps(b.std_dev)),
        ]);
        let limited = if b.app_limited {
            ", application-limited"
        } else {
            ""
        };
        rows.push([
            "bandwidth confidence".to_owned(),
            format!("{:.2} ({} slots{limited})", b.confidence, b.samples),
        ]);
    }
    if let Some(j) = p.jitter {
        rows.push(["RTT jitter".to_owned(), fmt_duration(j)]);
    }
    if let Some(l) = p.loss_rate {
        rows.push([
            "loss rate (window)".to_owned(),
            format!("{:.2} %", l * 100.0),
        ]);
    }
    if let Some(q) = &p.quality {
        rows.push(["quality score".to_owned(), quality(q)]);
    }
    rows
}

/// The strategy in force and how many times it changed.
pub fn strategy(c: &ConnectionStats) -> [String; 2] {
    [
        "strategy (changes)".to_owned(),
        format!("{} ({})", c.strategy, c.strategy_changes),
    ]
}

/// The datagram size in force and what path MTU discovery found (see `weir_core::pmtu`).
pub fn mtu(c: &ConnectionStats) -> [String; 2] {
    let m = &c.mtu;
    let plural = |n: u64, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    [
        "datagram size (path MTU)".to_owned(),
        format!(
            "{} B (validated {} of at most {}; {}, {} lost, {})",
            c.datagram_size,
            m.current,
            m.ceiling,
            plural(m.probes_sent, "probe"),
            m.probes_lost,
            plural(m.black_holes, "black hole"),
        ),
    ]
}

/// The strategy changes of a run: when, from what, to what, why.
pub fn changes_table(changes: &[(Duration, StrategyChange)]) -> Table {
    let mut t = Table::new();
    t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED)
        .set_header(["strategy change at", "from", "to", "why"]);
    for (at, change) in changes {
        t.add_row([
            fmt_duration(*at),
            change.old.to_string(),
            change.new.to_string(),
            change.reason.to_string(),
        ]);
    }
    t
}
